"""A dropped (black) or saturated frame in a real movie: it teaches Motion nothing, not even sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from labelfree import motion
from labelfree.motion.flow import flow_settings, uint8_range


@pytest.fixture(scope="module")
def msc_crop(msc_dir):
    """Real MSC cells, frames 0-3, a 256 px crop holding two whole cells (full resolution)."""
    import tifffile

    return np.stack([tifffile.imread(msc_dir / "01" / f"t{t:03d}.tif")[500:756, 100:356] for t in range(4)])


def _segment(movie, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", motion.BlankFrameWarning)
        return motion.segment(movie, config={"max_training_pixels": 0, **config})


@pytest.mark.parametrize("value", [0, 65535])
def test_a_blank_first_frame_does_not_set_the_minimum_size(msc_crop, value):
    """The flow of the pair (blank frame, first real frame) set the flow-only minimum size: 514 px
    instead of the 693 px of the movie without it, and 3451 pixels of the labels changed."""
    alone = _segment(msc_crop)
    blank = np.full_like(msc_crop[:1], value)
    with_blank = _segment(np.concatenate([blank, msc_crop]))
    assert with_blank.attrs["labelfree"]["auto"]["min_size"] == alone.attrs["labelfree"]["auto"]["min_size"] == 693
    assert not with_blank.values[0].any()
    np.testing.assert_array_equal(with_blank.values[1:], alone.values)


def test_the_automatic_flow_binning_skips_pairs_with_a_blank_frame(msc_crop):
    """The automatic flow_downsample was chosen from the first moving pair, a blank frame's too."""
    import xarray as xr

    movie = xr.DataArray(np.concatenate([np.zeros_like(msc_crop[:1]), msc_crop]), dims=("T", "Y", "X"))
    cfg = motion.MotionConfig(flow_downsample=None)
    lo, hi = uint8_range(movie.data, skip=[0])
    chosen, flows = flow_settings(movie, cfg, low=lo, high=hi, skip=[0])
    assert sorted(flows) == [2]  # the pair (1, 2): the first without the blank frame
    alone, first = flow_settings(movie.isel(T=slice(1, None)), cfg, low=lo, high=hi)
    assert chosen == alone
    np.testing.assert_array_equal(flows[2], first[1])


def test_the_flow_stack_maps_grey_levels_as_segment_does(msc_crop):
    """A saturated frame stretched the grey range of the written flow (--flow), unlike the range
    segment uses: the other frames' speeds fell (pair 0-1: at most 0.88 instead of 11.3 px/frame)."""
    movie = np.concatenate([msc_crop, msc_crop[2:3]])
    saturated = movie.copy()
    saturated[2] = 65535
    clean = motion.flow_magnitude_stack(movie).values
    with_saturated = motion.flow_magnitude_stack(saturated).values
    # pair 0-1 does not hold the saturated frame 2: its speeds stay (the grey range, sampled from
    # the frames left, moves a little)
    assert clean[1].max() == pytest.approx(11.26, abs=0.01)
    assert with_saturated[1].max() == pytest.approx(clean[1].max(), rel=0.01)
    assert np.percentile(with_saturated[1], 99) == pytest.approx(np.percentile(clean[1], 99), rel=0.01)


def test_the_flow_stack_says_it_filled_nan_frames(msc_crop):
    """A frame of NaN gave a flow of zeros everywhere, silently (then it was refused). NaN is missing data: the
    frame is filled with the other frames' median, and a warning says so."""
    from labelfree._missing import MissingPixelsWarning

    movie = msc_crop.astype(np.float32)
    movie[2] = np.nan
    with pytest.warns(MissingPixelsWarning, match=r"NaN/inf pixel\(s\) in frame 2 \(0-based\)"):
        motion.flow_magnitude_stack(movie)


def test_a_nan_frame_is_named_as_the_user_counts_frames(msc_crop):
    """The error named frame 2 without saying it counts from 0; in Fiji (frames counted from 1) that
    is the wrong frame. It says "(0-based)", which ImageJ's wording turns into Fiji's count."""
    from labelfree.imagej.terms import in_imagej_terms

    from labelfree._missing import MissingPixelsWarning
    from labelfree.motion.movie import as_movie

    movie = msc_crop.astype(np.float32)
    movie[2, 10:20, 10:20] = np.nan
    with pytest.warns(MissingPixelsWarning) as said:
        as_movie(movie)
    assert str(said[0].message) == (
        "The movie contains 100 NaN/inf pixel(s) in frame 2 (0-based): read as missing data, each was set to the "
        "median of its frame's other pixels (its background level) for Motion, which needs a value in every pixel "
        "(the input is unchanged). For another value, replace them (numpy.nan_to_num) first.")
    assert in_imagej_terms(str(said[0].message)) == (
        "The movie contains 100 NaN/inf pixel(s) in frame 3 (the stack's frames, counted from 1): read as missing "
        "data, each was set to the median of its frame's other pixels (its background level) for Motion, which "
        "needs a value in every pixel (the input is unchanged). For another value, replace them first "
        "(Process > Math > Remove NaNs..., or select them and Edit > Fill).")


def test_a_movie_whose_every_pair_holds_a_blank_frame_says_so(msc_crop):
    """Frames 0 and 2 hold cells, frame 1 was dropped: every pair holds the blank frame. The warning
    said "Motion segments cells by their movement; for still images use another pipeline"."""
    movie = msc_crop[:3].copy()
    movie[1] = 0
    with pytest.warns((motion.BlankFrameWarning, motion.NoMotionWarning)) as record:
        labels = motion.segment(movie)
    assert not labels.values.any()
    assert [w.category for w in record] == [motion.BlankFrameWarning, motion.NoMotionWarning]
    text = str(record[1].message)
    assert "2 of the 2 frame pair(s) hold a blank frame" in text
    assert "Remove the blank frames (the frames on either side then make a pair)" in text
    assert "still images" not in text


def test_a_path_given_for_the_movie_says_to_read_it_first(tmp_path):
    """motion.segment("movie.tif") said "Motion needs a (T, Y, X) array; got shape ()"."""
    from labelfree.errors import InputError

    with pytest.raises(InputError, match=r"Got the path 'movie.tif', not a movie: read it first with "
                                         r"labelfree.io.read_image\(path\)"):
        motion.segment("movie.tif")
    with pytest.raises(InputError, match="not a movie"):
        motion.segment(tmp_path / "movie.tif")
