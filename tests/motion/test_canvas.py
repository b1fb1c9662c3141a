"""A time-lapse pasted into a larger constant canvas is segmented as the crop it holds."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import motion


@pytest.fixture(scope="module")
def hela_crop(hela):
    crop = hela[0][:, 200:456, 300:556].copy()
    return crop, motion.segment(crop).values


@pytest.mark.parametrize("canvas", ["black", "median", "white"])
def test_a_crop_in_a_constant_canvas_gives_the_crops_labels(hela_crop, canvas):
    """A 256 x 256 crop of the HeLa movie (13-15 nuclei a frame) in a 512 x 400 frame. Before: in a
    black canvas 18-20 objects a frame (foreground IoU with the crop's 0.51); in one of the median
    grey value or a white one no cell at all (the flat canvas's flow and features looked like noise)."""
    crop, alone = hela_crop
    value = {"black": 0, "median": int(np.median(crop)), "white": 65535}[canvas]
    padded = np.full((6, 512, 400), value, crop.dtype)
    padded[:, 100:356, 60:316] = crop
    labels = motion.segment(padded)
    assert labels.shape == padded.shape
    np.testing.assert_array_equal(labels.values[:, 100:356, 60:316], alone)
    assert not labels.values[:, :100].any() and not labels.values[:, 356:].any()
    assert not labels.values[:, :, :60].any() and not labels.values[:, :, 316:].any()
    assert labels.attrs["labelfree"]["canvas"] == {"rows": [100, 356], "columns": [60, 316]}


def test_a_movie_without_canvas_is_segmented_whole(hela_crop):
    crop, alone = hela_crop
    labels = motion.segment(crop)
    assert "canvas" not in labels.attrs["labelfree"]
    np.testing.assert_array_equal(labels.values, alone)


def test_the_box_holds_every_frames_data_and_ignores_blank_frames():
    from labelfree.motion.segment import _movie_box

    rng = np.random.default_rng(0)
    movie = np.zeros((4, 80, 90), np.uint16)
    movie[0, 10:50, 20:60] = rng.integers(100, 200, (40, 40))
    movie[1, 12:60, 25:70] = rng.integers(100, 200, (48, 45))  # the content moves: the box holds both
    movie[2] = 7  # blank: no box of its own
    movie[3, 10:50, 20:60] = rng.integers(100, 200, (40, 40))
    assert _movie_box(motion.as_movie(movie)) == (slice(10, 60), slice(20, 70))
    movie[1, 0, 0] = 3  # data reaches two edges: the box is the whole top-left corner on
    assert _movie_box(motion.as_movie(movie)) == (slice(0, 60), slice(0, 70))
    tiny = np.zeros((3, 40, 40), np.uint16)
    tiny[:, 5:9, 5:30] = 50  # under 16 px along Y: a few bright pixels, not an image in a canvas
    tiny[:, 6, 6] = 60
    assert _movie_box(motion.as_movie(tiny)) is None
