"""Motion on crops that hold no cell: a pair that narrowly passes the noise check does not fill the frames.

In a 128 px crop of GOWT1 with no cell in it, every frame pair's flow is no faster than its noise. Most pairs
are then judged noise by their labels (their classifier calls over 20 % of their own background labels cell),
but one may pass (11-20 %), and its classifier calls noise specks cell; their small size restarted the run
enlarged 2 x 2, where no pair is judged for noise: 33-339 objects per frame. Now the restart enlarged waits till
a pair's flow stands out of its noise; where none does and some pair's labels were noise, the specks are noise
of the same kind and every frame is left empty (a NoMotionWarning); otherwise the run restarts enlarged as
before (benchmarks/motion_short_crops.py, columns free / free+).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.metrics import evaluate
from labelfree.motion import NoMotionWarning


def _count(labels: np.ndarray) -> list[int]:
    return [int(np.unique(frame[frame > 0]).size) for frame in np.asarray(labels)]


def _ctc(shared_data, name: str, start: int):
    """Frames start..start+5 of a CTC movie (sequence 01): movie, tracking markers, scored frames -> masks."""
    if not (shared_data / "ctc" / name / "01").is_dir():
        pytest.skip(f"{name}/01 is absent")
    ds = datasets.load_ctc(name, "01", frames=range(start, start + 6), root=shared_data)
    markers = np.stack([np.asarray(ds.tra[t]) for t in range(start, start + 6)])
    seg = {t - start: np.asarray(ds.seg[t]) for t in ds.seg_frames if start <= t < start + 6}
    return np.asarray(ds.movie.values), markers, seg


@pytest.fixture(scope="module")
def gowt1(shared_data):
    return _ctc(shared_data, "Fluo-N2DH-GOWT1", 0)


@pytest.mark.parametrize(("y", "x", "before"), [
    (384, 896, [164, 226, 339, 286, 277, 288]),  # restarted enlarged 2 x 2 (min_size 11 px)
    (576, 704, [87, 100, 71, 96, 100, 84]),  # restarted enlarged
    (256, 768, [2, 2, 2, 2, 2, 2]),  # restarted enlarged (not enlarged, its first pair's model: 36-44 a frame)
])
def test_gowt1_crop_without_cells_is_left_empty(gowt1, caplog, y, x, before):
    movie, markers, _ = gowt1
    box = (slice(None), slice(y, y + 128), slice(x, x + 128))
    assert _count(markers[box]) == [0] * 6  # no cell in the crop
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, logger="labelfree.motion"):
        warnings.simplefilter("always")
        out = motion.segment(movie[box])
    assert _count(out.values) == [0] * 6, f"before: {before}"
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "segmenting the movie enlarged" not in text
    assert "no frame holds cell motion" in text
    said = [str(w.message) for w in caught if issubclass(w.category, NoMotionWarning)]
    assert any(s.startswith("No cell motion found in the 6 frames: the optical flow of every moving frame pair "
                            "was no faster than the movie's own noise") for s in said), said
    assert out.attrs["labelfree"]["min_size"] is None  # a size measured on noise means nothing


def test_msc_crop_of_one_slow_cell_keeps_it(shared_data):
    """A crop of one slow MSC cell: no pair's flow stands out of its noise either, but its cell (min_size 672 px)
    asks for no enlarged run, and its refused pairs were refused for too few background labels, not for labels
    of noise: the cell stays (object F1 1.0)."""
    movie, markers, seg = _ctc(shared_data, "Fluo-C2DL-MSC", 28)
    box = (slice(None), slice(448, 576), slice(64, 192))
    assert _count(markers[box]) == [1] * 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = np.asarray(motion.segment(movie[box]).values)
    assert _count(labels) == [1] * 6
    pred = np.stack([labels[t] for t in seg])
    truth = np.stack([m[box[1:]] for m in seg.values()])
    assert evaluate(pred, truth, only_annotated=True)["f1"] == 1.0
