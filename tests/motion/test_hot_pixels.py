"""Hot and cold camera pixels: repaired before Motion computes its flow and features."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.metrics import evaluate
from labelfree.motion.flow import motion_uint8


def test_isolated_hot_and_cold_pixels_are_repaired_and_nothing_else():
    rng = np.random.default_rng(0)
    frame = rng.integers(20, 30, (40, 50)).astype(np.uint8)
    frame[10:20, 10:20] = rng.integers(150, 170, (10, 10))  # a bright object with its own noise
    spikes = [(0, 0), (0, 49), (39, 0), (39, 49), (5, 30), (25, 25)]  # corners and edges too
    for y, x in spikes:
        frame[y, x] = 255
    frame[15, 15] = 0  # a dead pixel inside the object
    frame[30:32, 40] = 250  # a two-pixel streak is an object, not a hot pixel
    original = frame.copy()
    repaired, count = motion.repair_hot_pixels(frame)
    assert count == len(spikes) + 1
    assert np.array_equal(frame, original)  # the input is not changed
    for y, x in spikes:
        assert 20 <= repaired[y, x] < 30
    assert 150 <= repaired[15, 15] < 170
    changed = repaired != original
    assert changed.sum() == count and (repaired[30:32, 40] == 250).all()


def test_a_frame_without_hot_pixels_is_returned_as_it_is():
    frame = np.full((16, 16), 40, np.uint8)
    frame[4:8, 4:8] = 200
    repaired, count = motion.repair_hot_pixels(frame)
    assert count == 0 and repaired is frame
    assert motion.repair_hot_pixels(np.zeros((2, 9), np.uint8))[1] == 0  # too small to judge


def test_only_uint8_frames_are_taken():
    with pytest.raises(Exception, match=r"uint8 frame.*to_uint8"):
        motion.repair_hot_pixels(np.zeros((8, 8), np.uint16))


@pytest.mark.parametrize("position", [(5, 5), (250, 250)])
def test_a_stuck_hot_pixel_does_not_change_a_real_movie(hela, position):
    """A 256 x 256 crop of the HeLa movie holds 13-15 nuclei a frame. One pixel stuck at 65535
    in every frame (a hot sCMOS pixel) in a dark corner: before, every pair was taken for noise
    (its classifier called 33-82 % of its background labels cell) and no cell was found."""
    window = (slice(None), slice(200, 456), slice(300, 556))
    movie, gt = hela[0][window].copy(), hela[1][window]
    clean = motion.segment(movie)
    spoilt = movie.copy()
    spoilt[:, position[0], position[1]] = 65535
    labels = motion.segment(spoilt)
    assert labels.attrs["labelfree"]["hot_pixels"] == 6  # one a frame
    assert clean.attrs["labelfree"]["hot_pixels"] == 0
    assert np.array_equal(labels.values, clean.values)
    assert evaluate(labels.values, gt, only_annotated=True)["pixel_f1"] > 0.65  # measured 0.715


def test_the_photons_of_a_dim_movie_are_its_noise_not_hot_pixels(shared_data):
    """A 256 x 256 corner of GOWT1 without nuclei: values 0-23, spread over the uint8 range (11 grey
    levels each), single photons on black. Before, 4349 of them in 6 frames were taken for hot
    pixels; the spread's floor is now two levels of the movie."""
    if not (shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01").is_dir():
        pytest.skip("Fluo-N2DH-GOWT1/01 is absent")
    data = datasets.load_ctc("Fluo-N2DH-GOWT1", "01", frames=range(6), root=shared_data)
    crop = np.asarray(data.movie.values)[:, 768:1024, 0:256]
    low, high = motion.uint8_range(crop)
    step = motion.grey_step(crop.dtype, low=low, high=high)
    assert (low, high) == (0.0, 23.0) and step == pytest.approx(255 / 23)
    counts = [motion.repair_hot_pixels(motion.to_uint8(f, low=low, high=high), step=step)[1] for f in crop]
    assert sum(counts) < 50  # measured 16
    stuck = crop.copy()
    stuck[:, 100, 100] = 255  # a stuck pixel in it is still one
    assert all(motion.repair_hot_pixels(motion.to_uint8(f, low=low, high=high), step=step)[1] >= 1 for f in stuck)


def test_a_stuck_pixel_beside_a_dim_cell_is_repaired(hela):
    """The rule reads the movie's values on the uint8 grey scale without clipping: frame 5 of the HeLa
    movie at half size has a dim cell's edge beside pixel (5, 5). A pixel stuck at 65535 there was
    clipped to 255, less than 6 x its neighbours' spread above them (30-125 of 255), and stayed."""
    frame = hela[0][5, ::2, ::2].copy()
    low, high = motion.uint8_range(hela[0][:, ::2, ::2])
    clean, _ = motion_uint8(frame, low=low, high=high)
    frame[5, 5] = 65535
    seen, count = motion_uint8(frame, low=low, high=high)
    assert count == 1 and seen[5, 5] < 128 and frame[5, 5] == 65535  # the input is not touched
    assert np.abs(seen.astype(int) - clean.astype(int)).max() <= 60  # the median of its window
    assert np.array_equal(np.delete(seen.ravel(), 5 * seen.shape[1] + 5),
                          np.delete(clean.ravel(), 5 * clean.shape[1] + 5))


def test_a_movie_enlarged_for_small_cells_is_repaired_before_enlarging(hela):
    """The HeLa movie at half size is enlarged 2 x 2 (automatic ``upsample``). Enlarged, a stuck pixel was
    a 2 x 2 blob that no neighbour test finds: none was repaired and 6.5 % of the labels' pixels changed."""
    movie = hela[0][:, ::2, ::2].copy()
    clean = motion.segment(movie)
    spoilt = movie.copy()
    spoilt[:, 5, 5] = 65535
    labels = motion.segment(spoilt)
    assert labels.attrs["labelfree"]["auto"]["upsample"] == 2
    assert labels.attrs["labelfree"]["hot_pixels"] == 6  # one a frame
    assert clean.attrs["labelfree"]["hot_pixels"] == 0
    assert np.mean(labels.values != clean.values) < 1e-4  # measured 1.2e-5 (the repaired pixel's features)
