"""The Threshold pipeline's automatic threshold on quantised data: 8-bit values stored times 256 in 16-bit files
(Fluo-C2DL-MSC), 12-bit values times 16, any integer grid of at most 256 levels, thresholded on its own levels."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from labelfree.threshold import segment
from labelfree.threshold.auto import _outliers_clipped, automatic_threshold, inside_threshold

METHODS = ("otsu", "li", "triangle")


@pytest.fixture(scope="module")
def msc_frames(msc_dir):
    """Every frame of Fluo-C2DL-MSC/01 (uint16, every value a multiple of 256)."""
    frames = [np.asarray(tifffile.imread(path)) for path in sorted((msc_dir / "01").glob("t*.tif"))]
    assert len(frames) == 48
    return frames


def _labels(image, method):
    return np.asarray(segment(image, config={"method": method}))


def _otsu_split(values):
    """The highest value of the background class by Otsu's rule, searched over the distinct values."""
    levels, counts = np.unique(values, return_counts=True)
    weights = np.cumsum(counts)[:-1].astype(float)
    sums = np.cumsum(counts * levels.astype(float))[:-1]
    total, total_sum = float(counts.sum()), float((counts * levels.astype(float)).sum())
    mean_low = sums / weights
    mean_high = (total_sum - sums) / (total - weights)
    between = weights * (total - weights) * (mean_low - mean_high) ** 2
    return levels[int(np.argmax(between))]


@pytest.mark.parametrize("index", [0, 1, 5, 20, 40])
def test_otsu_is_the_best_split_of_the_distinct_levels(msc_frames, index):
    frame = msc_frames[index]
    threshold, box = inside_threshold(frame, "otsu")
    assert box == (slice(0, frame.shape[0]), slice(0, frame.shape[1]))
    split = _otsu_split(frame)
    assert np.array_equal(frame > threshold, frame > split)
    # a 256-bin histogram of the range put frame 1's threshold 2 levels lower: 39 % foreground, not 25 %
    assert 0.1 < np.count_nonzero(frame > threshold) / frame.size < 0.4


@pytest.mark.parametrize("method", METHODS)
def test_stored_times_256_gives_the_labels_of_the_8bit_data(msc_frames, method):
    for index in (0, 1, 20):
        frame = msc_frames[index]
        eight_bit = (frame // 256).astype(np.uint8)
        assert np.array_equal(eight_bit.astype(np.uint16) * 256, frame)
        expected = _labels(eight_bit, method)
        assert expected.max() > 0
        assert np.array_equal(_labels(frame, method), expected), (method, index)
        # 12-bit style: times 16 with an offset; and signed values below zero
        twelve = eight_bit.astype(np.uint16) * 16 + 64
        assert np.array_equal(_labels(twelve, method), expected), (method, index)
        signed = eight_bit.astype(np.int32) * 4 - 300
        assert np.array_equal(_labels(signed, method), expected), (method, index)


def test_a_hot_pixel_on_the_grid_does_not_move_otsu(msc_frames):
    """A stuck pixel at 65280 (255 x 256) lies within the range's reach on 28 of the 48 frames, so it is not left
    out as an outlier: it widened the 256-bin histogram of the range and moved Otsu on 27 of them."""
    kept = 0
    for index, frame in enumerate(msc_frames):
        hot = frame.copy()
        hot[5, 5] = 65280
        threshold = automatic_threshold(frame)
        assert automatic_threshold(hot) == threshold, index
        kept += int(_outliers_clipped(hot).max()) == 65280  # counted in the histogram, not left out
    assert kept == 28


def test_level_grid():
    from labelfree.tiling import level_grid

    msc_like = np.array([[3584, 3840], [54016, 65280]], np.uint16)
    low, step, steps = level_grid(msc_like)
    assert (low, step) == (3584, 256)
    assert steps.dtype == np.uint8
    assert np.array_equal(low + step * steps.astype(np.int64), msc_like)
    low, step, steps = level_grid(np.array([-2**62, 2**62], np.int64))
    assert (low, step, steps.tolist()) == (-2**62, 2**63, [0, 1])
    dark_first = np.concatenate([np.zeros(5000, np.uint16), np.arange(1, 11, dtype=np.uint16) * 256])
    assert level_grid(dark_first)[:2] == (0, 256)  # the first pixels all at the lowest value
    big_endian = (np.arange(4, dtype=np.uint16) * 16 + 5).astype(">u2")
    assert level_grid(big_endian)[0:2] == (5, 16)
    assert level_grid(np.array([0, 1, 2, 4], np.uint16)) is None  # a step of 1
    assert level_grid(np.arange(257, dtype=np.uint16) * 16) is None  # 256 steps: too many for one bin each
    assert level_grid(np.full(5, 512, np.uint16)) is None  # one value
    assert level_grid(np.array([0.0, 2.0])) is None  # floats


def test_huge_integers_on_a_grid_are_exact():
    """int64 values times 2**40 (beyond float32's exact range) are thresholded on their levels."""
    rng = np.random.default_rng(0)
    eight_bit = np.where(rng.random((64, 64)) < 0.3, 200, 20).astype(np.uint8) + rng.integers(0, 10, (64, 64),
                                                                                                 dtype=np.uint8)
    huge = eight_bit.astype(np.int64) * 2**40
    for method in METHODS:
        assert automatic_threshold(huge, method=method) == pytest.approx(
            automatic_threshold(eight_bit, method=method) * 2**40, rel=1e-12)
        assert np.array_equal(_labels(huge, method), _labels(eight_bit, method))
