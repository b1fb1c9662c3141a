"""A plain array with colour channels last (skimage.io.imread, PIL) is refused by Motion with a clear
error, instead of being read as a movie of frames 3 or 4 pixels wide."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import to_dataarray
from labelfree.errors import DimensionError
from labelfree.motion import as_movie, segment


def _colour(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("shape", [(64, 64, 3), (64, 64, 4), (512, 512, 3), (5, 64, 3)])
def test_a_colour_image_is_refused_not_read_as_narrow_frames(shape):
    rgb = _colour(shape)
    # before: 64 (or 512) "frames" 3 pixels wide, empty labels of the image's shape and a NoMotionWarning
    with pytest.raises(DimensionError) as err:
        segment(rgb)
    text = str(err.value)
    assert f"array of shape {shape}" in text and f"would be {shape[-1]} pixels wide" in text
    assert "looks like one colour image (Y, X, C)" in text
    assert "give a (T, Y, X) movie" in text and "movie[..., k]" in text
    assert "labelfree.to_dataarray(movie, dims='TYX')" in text
    with pytest.raises(DimensionError, match=r"looks like one colour image \(Y, X, C\)"):
        as_movie(rgb)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_a_colour_time_lapse_with_channels_last_says_how_to_give_one_channel(channels):
    movie = _colour((4, 48, 40, channels))
    with pytest.raises(DimensionError) as err:
        segment(movie)
    text = str(err.value)
    assert f"the array of shape {(4, 48, 40, channels)} looks like a time-lapse" in text
    assert "last (T, Y, X, C)" in text and f"movie[..., k] (k from 0 to {channels - 1})" in text
    assert "select_channel(labelfree.to_dataarray(movie, dims='TYXC'), k)" in text
    # following the hint gives the (T, Y, X) movie of that channel, the pixels untouched
    from labelfree.image import select_channel

    for k in range(channels):
        one = as_movie(movie[..., k])
        assert one.dims == ("T", "Y", "X") and np.array_equal(one.values, movie[..., k])
        hinted = as_movie(select_channel(to_dataarray(movie, dims="TYXC"), k))
        assert np.array_equal(hinted.values, movie[..., k])


def test_a_list_of_colour_frames_says_how_to_give_one_channel():
    frames = [_colour((32, 32, 3), seed=s) for s in range(3)]
    with pytest.raises(DimensionError, match=r"got frames of shape \(32, 32, 3\)\. For colour frames \(Y, X, C\) give "
                                             r"one channel of each: \[frame\[\.\.\., k\] for frame in frames\]"):
        as_movie(frames)
    assert as_movie([f[..., 1] for f in frames]).shape == (3, 32, 32)


@pytest.mark.parametrize("shape", [(8, 4, 4), (2, 4, 3), (3, 64, 64), (4, 64, 64), (2, 15, 3), (2, 64, 5)])
def test_grey_movies_that_are_not_colour_are_taken_as_before(shape):
    """Tiny frames, and movies of 3 or 4 frames, are movies: only frames 3-4 pixels wide and 16 or more
    tall are refused."""
    movie = _colour(shape)
    da = as_movie(movie)
    assert da.dims == ("T", "Y", "X") and da.shape == shape and np.array_equal(da.values, movie)


def test_a_movie_of_narrow_frames_is_taken_when_named_so():
    """The way out the error names: a DataArray with dims TYX is taken as it is."""
    strip = _colour((6, 64, 3))
    da = as_movie(to_dataarray(strip, dims="TYX"))
    assert da.shape == (6, 64, 3) and np.array_equal(da.values, strip)
