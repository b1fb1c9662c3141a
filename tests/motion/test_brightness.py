"""Real movies whose brightness changes over time: a frame of another exposure (lamp, laser or camera setting)."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.metrics import evaluate
from labelfree.motion.flow import uint8_range

#: the frame of MSC given 3 x the exposure: one with ground truth
BRIGHT = 7


@pytest.fixture(scope="module")
def msc(msc_dir):
    """Real MSC frames 0-11 (uint16) and the ground truth of frames 5, 7, 9 and 11."""
    data = datasets.load_ctc("Fluo-C2DL-MSC", "01", frames=range(12))
    return np.asarray(data.movie.values), {t: np.asarray(data.seg[t]) for t in (5, 7, 9, 11)}


def _exposed(movie: np.ndarray, t: int, factor: float) -> np.ndarray:
    """``movie`` with frame t's signal above the camera offset (its 0.5th percentile) x ``factor``, in its dtype."""
    offset = float(np.percentile(movie[:, ::4, ::4], 0.5))
    out = movie.copy()
    value = offset + (movie[t].astype(np.float64) - offset) * factor
    out[t] = np.clip(np.rint(value), 0, np.iinfo(movie.dtype).max).astype(movie.dtype)
    return out


def test_gains_leave_a_real_movie_slow_bleaching_and_flicker_alone_and_find_another_exposure(msc):
    from labelfree.motion.flow import EXPOSURE_RATIO, exposure_gains

    movie, _ = msc
    lo, _ = uint8_range(movie)
    np.testing.assert_array_equal(exposure_gains(movie, low=lo), np.ones(12))
    n, signal = movie.shape[0], movie.astype(np.float64)
    offset = float(np.percentile(movie[:, ::4, ::4], 0.5))
    bleached = (offset + (signal - offset) * np.exp(-np.arange(n) / ((n - 1) / np.log(1 / 0.35)))[:, None, None])
    np.testing.assert_array_equal(exposure_gains(np.rint(bleached).astype(np.uint16), low=lo), np.ones(n))
    flicker = offset + (signal - offset) * np.random.default_rng(0).uniform(0.9, 1.1, n)[:, None, None]
    np.testing.assert_array_equal(exposure_gains(np.rint(flicker).astype(np.uint16), low=lo), np.ones(n))
    gains = exposure_gains(_exposed(movie, BRIGHT, 3.0), low=lo)
    assert np.flatnonzero(gains != 1).tolist() == [BRIGHT]
    assert 0.3 < gains[BRIGHT] < 0.4  # about 1/3: the frame's mean signal, cells and background, was tripled
    # a dim frame (a third of the exposure) at the movie's start, and a left-out (blank) frame
    gains = exposure_gains(_exposed(movie, 0, 1 / 3), low=lo, skip=[3])
    assert np.flatnonzero(gains != 1).tolist() == [0] and 2.5 < gains[0] < 3.5
    # two frames: which one is of another exposure cannot be told
    np.testing.assert_array_equal(exposure_gains(_exposed(movie[:2], 1, 3.0), low=lo), np.ones(2))
    assert EXPOSURE_RATIO == 1.5


@pytest.mark.parametrize(("frames", "bright"), [(12, 7), (8, 5)], ids=["outside the range sample", "inside it"])
def test_a_frame_of_three_times_the_exposure_is_segmented_as_its_neighbours(msc, frames, bright):
    """The bright frame was classified with the next pair's classifier, trained on grey values a third of its
    own (it flooded whole in the 48-frame movie: pixel F1 0.12 on it), or, read for the grey range, it
    squeezed every other frame into a third of the grey levels (frame 7: pixel F1 0.82 -> 0.78)."""
    movie, truth = msc
    movie = movie[:frames]
    given = motion.segment(movie)
    labels = motion.segment(_exposed(movie, bright, 3.0))
    for t in (t for t in truth if t < frames):
        score = evaluate(labels.values[t], truth[t], only_annotated=True)
        score_given = evaluate(given.values[t], truth[t], only_annotated=True)
        assert score_given["pixel_f1"] > 0.8
        assert score["pixel_f1"] > score_given["pixel_f1"] - 0.02, t
        assert score["f1"] >= score_given["f1"], t
    assert np.count_nonzero(labels.values[bright]) < 1.2 * np.count_nonzero(given.values[bright])
    assert list(labels.attrs["labelfree"]["exposure_gains"]) == [str(bright)]
    assert "exposure_gains" not in given.attrs["labelfree"]  # the movie as given: no frame changed
