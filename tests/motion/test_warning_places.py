"""Motion's warnings: one of each per run, each naming the line of the caller's ``segment(...)``.

The warnings were given with a fixed ``stacklevel`` from inside the run, which lies one to three functions deeper
than :func:`labelfree.motion.segment`: every one named ``labelfree/motion/segment.py`` (line 697; 801 from the
run again with the flat background as background labels, 806 from the pass enlarged), and the
MissingPixelsWarning of :func:`labelfree.motion.as_movie` called alone named the line above its caller. A crop
left empty because no pair's flow stood out of its noise gave two NoMotionWarnings where its first frames had
waited for a classifier, and the BlankFrameWarning came again from the pass enlarged and from the run again.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.errors import MissingPixelsWarning
from labelfree.motion import BlankFrameWarning, NoMotionWarning
from labelfree.motion.flow import flow_magnitude_stack


def _count(labels) -> list[int]:
    return [int(np.unique(frame[frame > 0]).size) for frame in np.asarray(labels)]


def _warned(call, movie, /, **kwargs):
    """What ``call(movie, **kwargs)`` returns, its warnings as (category, file, line), and the line of the call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        out = call(movie, **kwargs)
    return out, [(w.category, w.filename, w.lineno) for w in caught], line


def test_a_cell_free_crop_left_empty_as_noise_gives_one_no_motion_warning(shared_data):
    """GOWT1 frames 0-11, 128 px at (704, 128): no cell; frames 1-10 pair flows no faster than their noise with
    labels of noise, frame 11's pair passes (its specks would enlarge the run) and every frame is left empty.
    Before: a second NoMotionWarning, 'No cell motion found in 3 of 12 frames (the first ones or all)', for
    the frames that had waited for a classifier."""
    if not (shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01").is_dir():
        pytest.skip("Fluo-N2DH-GOWT1/01 is absent")
    ds = datasets.load_ctc("Fluo-N2DH-GOWT1", "01", frames=range(12), root=shared_data)
    box = (slice(None), slice(704, 832), slice(128, 256))
    assert _count(np.stack([np.asarray(ds.tra[t]) for t in range(12)])[box]) == [0] * 12  # no cell in it
    with pytest.warns(NoMotionWarning) as record:
        labels = motion.segment(np.asarray(ds.movie.values)[box])
    assert _count(labels.values) == [0] * 12
    said = [w for w in record if issubclass(w.category, NoMotionWarning)]
    assert len(said) == 1, [str(w.message) for w in said]
    text = str(said[0].message)
    assert text.startswith("No cell motion found in the 12 frames: the optical flow of every moving frame pair was "
                           "no faster than the movie's own noise, and in 10 of them a classifier trained on its "
                           "moving pixels called much of the still background cell")
    assert "every frame is left empty" in text
    assert "for still or cell-free fields use another pipeline" in text  # what the second one added
    assert "set start_threshold or cell_threshold (px/frame)" in text
    assert said[0].filename == __file__


@pytest.fixture(scope="module")
def hela_nucleus(hela):
    """HeLa frames 0-5, 32 px at (89, 558): a nucleus and the flow's halo fill the crop, no pixel is still enough
    for the background, also in the run again with the flat background as background labels."""
    return hela[0][:, 89:121, 558:590]


def _in_canvas(crop: np.ndarray) -> np.ndarray:
    canvas = np.full((crop.shape[0], 64, 64), np.median(crop), crop.dtype)
    canvas[:, 16:48, 16:48] = crop
    return canvas


def _dropped(movie: np.ndarray, t: int) -> np.ndarray:
    out = movie.copy()
    out[t] = 0
    return out


@pytest.fixture(scope="module")
def c2c12(shared_data):
    path = shared_data / "misc" / "laptrack_c2c12" / "data_small.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return np.load(path)["images"][:6]


@pytest.mark.parametrize(("case", "category", "says", "objects"), [
    # the run again with the flat background (before: segment.py line 801)
    ("nucleus", NoMotionWarning, "No self-labelled motion found in 6 of 6 frames", [0] * 6),
    # ... of the crop inside a constant canvas, segmented as that crop (a second segment() inside the run)
    ("nucleus in a canvas", NoMotionWarning, "No self-labelled motion found in 6 of 6 frames", [0] * 6),
    # the first frame of the HeLa crop four times: no frame classified (before: segment.py line 697)
    ("still", NoMotionWarning, "No cell motion found in 4 of 4 frames", [0] * 4),
    # a dropped frame in a crop of nuclei on a flat background, run again (before: two, lines 697 and 801)
    ("dropped frame, run again", BlankFrameWarning, "1 of 6 frames has one value", [3, 3, 3, 0, 3, 3]),
    # a dropped frame in C2C12, segmented enlarged 2 x 2 (before: two, lines 697 and 806)
    ("dropped frame, enlarged", BlankFrameWarning, "1 of 6 frames has one value", [12, 12, 10, 0, 13, 13]),
])
def test_each_warning_is_given_once_at_the_callers_line(hela, hela_nucleus, c2c12, case, category, says, objects):
    movie = {"nucleus": lambda: hela_nucleus, "nucleus in a canvas": lambda: _in_canvas(hela_nucleus),
             "still": lambda: np.repeat(hela[0][:1, 0:128, 770:898], 4, axis=0),
             "dropped frame, run again": lambda: _dropped(hela[0][:, 0:128, 770:898], 3),
             "dropped frame, enlarged": lambda: _dropped(c2c12, 3)}[case]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        labels = motion.segment(movie)
    assert _count(labels.values) == objects
    assert [w.category for w in caught] == [category], [str(w.message) for w in caught]
    assert str(caught[0].message).startswith(says)
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)


def test_the_warning_of_the_pass_enlarged_names_the_callers_line():
    """A still movie segmented enlarged 2 x 2 (before: segment.py line 806, in _segment_movie)."""
    movie, _ = datasets.synthetic_movie(n_frames=1, seed=0)
    labels, places, line = _warned(motion.segment, np.repeat(movie.values, 4, axis=0), config={"upsample": 2})
    assert not labels.values.any()
    assert places == [(NoMotionWarning, __file__, line)]


@pytest.mark.parametrize("call", [motion.as_movie, motion.segment, flow_magnitude_stack],
                         ids=["as_movie", "segment", "flow_magnitude_stack"])
def test_missing_pixels_are_warned_at_the_callers_line(hela, call):
    """HeLa frames 0-5 with NaN pixels in frame 2 (before: as_movie called alone named the line above its
    caller, here pytest's own)."""
    movie = hela[0][:, 0:128, 770:898].astype(np.float32)
    movie[2, :5, :5] = np.nan
    _, places, line = _warned(call, movie)
    assert places == [(MissingPixelsWarning, __file__, line)]
