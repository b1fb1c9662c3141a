"""Movies of small cells, which Motion segments enlarged (upsample): drift correction, 64-bit floats."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from labelfree import motion


@pytest.fixture(scope="module")
def c2c12(shared_data):
    """Real C2C12 phase contrast, 10 frames of 234 x 234 px, cell radius about 8 px."""
    path = shared_data / "misc" / "laptrack_c2c12" / "data_small.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return np.load(path)["images"]


@pytest.fixture(scope="module")
def drifting_c2c12(c2c12):
    """Real C2C12 phase contrast (cell radius about 8 px), a 180 px window moving 3 px down and
    2 px right per frame: the stage drift to undo is (-3t, -2t) px, besides the cells' own motion."""
    return np.stack([c2c12[t, 3 * t : 3 * t + 180, 2 * t : 2 * t + 180] for t in range(6)])


def _record(movie, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return motion.segment(movie, config={"drift_correction": "python", **config}).attrs["labelfree"]


def test_the_recorded_drift_is_in_the_input_pixels_when_segmented_enlarged(drifting_c2c12):
    """The enlarged pass corrected the drift of the enlarged frames and recorded those shifts: twice
    the drift in the input (frame 5: -33.7 instead of -16.6 px), which the provenance says to add to
    the labels' positions to find the objects in the input."""
    as_given = _record(drifting_c2c12, upsample=1)
    enlarged = _record(drifting_c2c12)
    assert enlarged["auto"]["upsample"] == 2
    shifts = np.array(enlarged["drift"]["shifts"])
    np.testing.assert_allclose(shifts, np.array(as_given["drift"]["shifts"]), atol=0.5)
    truth = -np.array([[3 * t, 2 * t] for t in range(6)], float)
    np.testing.assert_allclose(shifts, truth, atol=3.0)  # the cells move too: the registration is a px or two off


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_a_64_bit_float_movie_is_segmented_enlarged_at_any_scale(c2c12, scale):
    """The enlarged movie was cast to 32-bit floats: at 1e300 every pixel became inf and segment
    refused the movie ("frame 0 (0-based) contains NaN/inf pixels", which it does not); at 1e-300
    every pixel became 0 and the labels were empty."""
    movie = c2c12[:6].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_given = motion.segment(movie, config={"upsample": 2})
        scaled = motion.segment(movie * scale, config={"upsample": 2})
    # a float copy of 8-bit values is segmented as those values: its uint8 twin's labels
    assert [len(np.unique(f)) - 1 for f in as_given.values] == [12, 12, 10, 11, 12, 12]
    np.testing.assert_array_equal(scaled.values, as_given.values)
