"""A float copy of a quantised image (``m.astype(float)``, ``m / m.max()``, ``skimage.img_as_float``) is thresholded
on one bin per level, as the integer image is: the same labels; float images of many levels keep the 256-bin
histogram."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from labelfree.threshold import segment
from labelfree.tiling import threshold_of

METHODS = ("otsu", "li", "triangle")


def _labels(image, method="otsu"):
    return np.asarray(segment(image, config={"method": method}))


def _float_copies(frame):
    lo, hi = float(frame.min()), float(frame.max())
    return {
        "astype(float64)": frame.astype(np.float64),
        "astype(float32)": frame.astype(np.float32),
        "/ max": frame / hi,
        "(m - min) / (max - min), float32": ((frame - lo) / (hi - lo)).astype(np.float32),
        "img_as_float": frame / float(np.iinfo(frame.dtype).max),
    }


@pytest.fixture(scope="module")
def msc_frame(msc_dir):
    """Fluo-C2DL-MSC/01 t000 (uint16, 8-bit values times 256)."""
    return np.asarray(tifffile.imread(msc_dir / "01" / "t000.tif"))[:512, :512]


@pytest.mark.parametrize("method", METHODS)
def test_float_copies_of_msc_give_the_integer_labels(msc_frame, method):
    expected = _labels(msc_frame, method)
    assert expected.max() > 0
    for name, copy in _float_copies(msc_frame).items():
        assert np.array_equal(_labels(copy, method), expected), (method, name)


def test_msc_float_copy_objects(msc_frame):
    # before: 10 objects for the uint16 frame, 123 for its float copies (skimage's 256-bin histogram)
    assert _labels(msc_frame).max() == 10
    assert _labels(msc_frame.astype(np.float64)).max() == 10
    assert _labels(msc_frame / msc_frame.max()).max() == 10


def test_threshold_of_a_scaled_grid_is_the_levels_value():
    rng = np.random.default_rng(3)
    steps = np.concatenate([rng.integers(0, 40, 3000), rng.integers(120, 200, 1000)]).astype(np.uint16)
    image = (steps * 256 + 512).reshape(50, 80)
    level = threshold_of(image)
    assert level % 256 == 0  # on a level of the grid
    scaled = (image / 65535.0).astype(np.float32)
    value = threshold_of(scaled)
    assert np.array_equal(scaled > value, image > level)
    assert value == float(scaled[image == level].max())
    assert threshold_of(image.astype(np.float64)) == level  # whole numbers: the integer image's threshold


def test_dim_float_copy_keeps_its_one_pixel_levels():
    # values 0, 1, 5 and 12: the integer image's Otsu is 5 (200 pixels above); its float copies were binned in 256
    # bins, Otsu 4.99, and the 100 pixels of value 5 became foreground too
    image = np.repeat(np.array([0, 1, 5, 12], np.uint8), [500, 300, 100, 200]).reshape(11, 100)
    assert threshold_of(image) == 5.0
    for copy in (image.astype(np.float32), image / 12.0, image / 255.0):
        assert np.count_nonzero(copy > threshold_of(copy)) == 200
    assert threshold_of(image.astype(np.float64)) == 5.0


def test_float_level_grid():
    from labelfree.tiling import float_level_grid

    low, step, steps = float_level_grid(np.array([[0.2, 0.6], [1.0, 0.2]], np.float32))
    assert low == pytest.approx(0.2) and step == pytest.approx(0.4) and steps.tolist() == [[0, 1], [2, 0]]
    assert float_level_grid(np.linspace(0, 1, 1000)) is None  # 1000 levels
    assert float_level_grid(np.array([0.0, 0.1, 0.35])) is None  # not evenly stepped
    assert float_level_grid(np.array([0.5, 0.5])) is None
    assert float_level_grid(np.array([0.0, np.nan, 1.0])) is None
    # levels 0 and 2 only in the first 65536 pixels, level 1 further on: found on all the values
    values = np.zeros(70000)
    values[::2] = 0.5
    values[-1] = 0.25
    low, step, steps = float_level_grid(values)
    assert (low, step, int(steps.max())) == (0.0, 0.25, 2)


def test_many_level_floats_keep_the_256_bin_histogram():
    from skimage.filters import threshold_li, threshold_otsu, threshold_triangle

    rng = np.random.default_rng(0)
    image = np.concatenate([rng.normal(100, 10, 3000), rng.normal(300, 30, 1000)]).reshape(40, 100)
    for method, func in (("otsu", threshold_otsu), ("li", threshold_li), ("triangle", threshold_triangle)):
        assert threshold_of(image, method=method) == float(func(image.astype(np.float32)))


@pytest.mark.parametrize("name", ["Fluo-N2DH-GOWT1", "Fluo-N2DH-SIM+"])
def test_float_copies_of_other_sets_give_the_integer_labels(shared_data, name):
    path = shared_data / "ctc" / name / "01" / "t000.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    frame = np.asarray(tifffile.imread(path))
    expected = _labels(frame)
    for copy_name, copy in _float_copies(frame).items():
        assert np.array_equal(_labels(copy), expected), copy_name
