"""Real movies whose brightness changes over time: a frame of another exposure (lamp, laser or camera setting),
bleaching."""

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


def _bleached(movie: np.ndarray, left: float = 0.35) -> np.ndarray:
    """``movie`` with frame t's signal above the camera offset x exp(-t / tau), the last frame keeping ``left``."""
    n = movie.shape[0]
    offset = float(np.percentile(movie[:, ::4, ::4], 0.5))
    gains = np.exp(-np.arange(n) / ((n - 1) / np.log(1 / left)))[:, None, None]
    value = offset + (movie.astype(np.float64) - offset) * gains
    return np.clip(np.rint(value), 0, np.iinfo(movie.dtype).max).astype(movie.dtype)


def test_bleaching_gains_leave_real_movies_and_flicker_alone_and_undo_a_bleaching_trend(msc):
    from labelfree.motion.flow import BLEACHING_SPAN, bleaching_gains, exposure_gains

    movie, _ = msc
    lo, _ = uint8_range(movie)
    n = movie.shape[0]
    np.testing.assert_array_equal(bleaching_gains(movie, low=lo), np.ones(n))
    offset = float(np.percentile(movie[:, ::4, ::4], 0.5))
    flicker = offset + (movie - offset) * np.random.default_rng(0).uniform(0.9, 1.1, n)[:, None, None]
    np.testing.assert_array_equal(bleaching_gains(np.rint(flicker).astype(np.uint16), low=lo), np.ones(n))
    # one frame of 3 x the exposure is no trend once its exposure gain is taken into account
    bright = _exposed(movie, BRIGHT, 3.0)
    gains = bleaching_gains(bright, low=lo, exposure=exposure_gains(bright, low=lo))
    np.testing.assert_array_equal(gains, np.ones(n))
    bleached = _bleached(movie)
    gains = bleaching_gains(bleached, low=lo, skip=[4])
    assert gains[4] == 1  # a left-out (blank) frame keeps its grey values
    kept = np.delete(np.arange(n), 4)
    # the signal bleached to 35 % over 11 frames: the gains rise with time, from 1 (the first, brightest
    # frames keep their grey values) to about 2 (the trend's last value is that of frame 9)
    assert np.all(np.diff(gains[kept]) >= 0) and gains[0] == 1 and gains[-1] > 1.7
    # levels brought back: the frames' mean signal spans 2.8 x bleached; x their gains, the middle ones (the
    # trend's window centred on them) have one level, the first and last 2 (the window shifted inwards) 1.5 x
    levels = np.array([np.mean(f[::4, ::4].astype(np.float64)) - lo for f in bleached])[kept]
    assert np.max(levels) / np.min(levels) > 2.5
    brought = levels * gains[kept]
    assert np.max(brought[2:-2]) / np.min(brought[2:-2]) < 1.02
    assert np.max(brought) / np.min(brought) < 1.6
    # too short for a trend: fewer than 5 frames
    np.testing.assert_array_equal(bleaching_gains(bleached[:4], low=lo), np.ones(4))
    assert BLEACHING_SPAN == 1.5


@pytest.fixture(scope="module")
def gowt1(shared_data):
    """Real 8-bit GOWT1 frames 20-40 and the ground truth of the frames after 20 (four of them fully annotated)."""
    if not (shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01").is_dir():
        pytest.skip("Fluo-N2DH-GOWT1/01 is absent")
    data = datasets.load_ctc("Fluo-N2DH-GOWT1", "01", frames=range(20, 41))
    scored = sorted(int(t) for t in data.seg.keys() if 20 < int(t) < 41)
    return (np.asarray(data.movie.values), np.stack([np.asarray(data.seg[t]) for t in scored]),
            [t - 20 for t in scored])


def test_a_bleached_8_bit_movie_is_segmented_as_the_movie_as_given(gowt1):
    """Bleached to 35 % by its last frame, an 8-bit movie keeps a third of its grey levels at the end: the flow
    thresholds and the area found fell with them (pixel / object F1 0.707 / 0.683 as given, 0.509 / 0.462
    bleached). Brought to its median brightness, it scores as the movie as given."""
    movie, truth, scored = gowt1
    assert movie.dtype == np.uint8
    given = evaluate(motion.segment(movie).values[scored], truth, only_annotated=True)
    labels = motion.segment(_bleached(movie))
    bleached = evaluate(labels.values[scored], truth, only_annotated=True)
    assert given["pixel_f1"] > 0.68 and given["f1"] > 0.65
    assert bleached["pixel_f1"] > given["pixel_f1"] - 0.03
    assert bleached["f1"] > given["f1"] - 0.03
    gains = labels.attrs["labelfree"]["bleaching_gains"]
    assert len(gains) == movie.shape[0] and gains[0] == 1 < 2 < gains[-1]
