"""The automatic cell size is not taken from fragments: camera noise called cell around one cell.

On a short crop of Fluo-C2DL-MSC holding one cell in noisy background, the first classified frame that is
not flooded held many small objects (noise called cell) beside the cell: over FEW_OBJECTS of them, so the
few-objects rule did not look at them, and their typical area (89 px) set ``min_size`` (22 px), enlarged
the movie 2 x 2 and left hundreds of objects a frame (benchmarks/motion_short_crops.py, docs/benchmarks.md).
Now a frame whose largest object, measured alone (cut at its necks), is a cell of over FEW_OBJECTS times
their typical area does not lower the flow's size: were the small objects cells, it would be a clump of
them and split at their necks.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.metrics import evaluate
from labelfree.motion.segment import _largest_cell_area

#: Fluo-C2DL-MSC/01 frames 28-33, 256 px at (256, 640): one cell in every frame (its tracking markers)
FRAMES = range(28, 34)
BOX = (slice(256, 512), slice(640, 896))


def _count(labels: np.ndarray) -> list[int]:
    return [int(np.unique(frame[frame > 0]).size) for frame in np.asarray(labels)]


@pytest.fixture(scope="module")
def msc_crop(msc_dir):
    data = datasets.load_ctc("Fluo-C2DL-MSC", "01", root=msc_dir.parent.parent, frames=FRAMES)
    movie = np.asarray(data.movie.values)[(slice(None), *BOX)]
    cells = [np.asarray(data.tra[t])[BOX] for t in FRAMES]
    truth = {t - FRAMES[0]: np.asarray(data.seg[t])[BOX] for t in data.seg_frames if t in FRAMES}
    return movie, cells, truth


def test_msc_crop_of_one_cell_keeps_the_flow_size(msc_crop, caplog):
    """Before: min_size 48 px (enlarged 2 x 2), 1, 1, 349, 328, 61, 408 objects, object F1 0.4 on the annotated
    frames. Now: the flow's 360 px stays, at the input's size, and one object a frame from frame 1 on."""
    movie, cells, truth = msc_crop
    assert [int(np.unique(c[c > 0]).size) for c in cells] == [1] * 6
    with caplog.at_level(logging.INFO, logger="labelfree.motion"):
        out = motion.segment(movie)
    record = out.attrs["labelfree"]
    assert record["min_size"] == 360
    assert "upsample" not in record.get("auto", {})  # fragments of 89 px no longer enlarge the movie
    labels = np.asarray(out.values)
    assert _count(labels) == [0, 1, 1, 1, 1, 1]
    f1 = evaluate(np.stack([labels[t] for t in truth]), np.stack(list(truth.values())), only_annotated=True)["f1"]
    assert f1 == pytest.approx(0.5)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert ("frame 0 (0-based): its 81 objects of a typical 89 px are fragments of larger cells (its largest object "
            "is a cell of 331 px): the size is not lowered") in text
    assert "minimum object size 360 px, closing radius 4 px" in text


def _disk(mask: np.ndarray, cy: int, cx: int, r: int) -> None:
    yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
    mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_largest_cell_area_of_one_cell_and_of_a_clump():
    """One cell alone is its own area, whatever specks lie beside it; a clump of three cells joined at narrow
    necks is measured by its pieces: about one cell."""
    cell = np.zeros((200, 200), bool)
    _disk(cell, 100, 100, 30)
    area = int(cell.sum())
    for y, x in ((10, 10), (10, 190), (190, 10), (190, 190), (20, 100)):
        _disk(cell, y, x, 3)
    assert _largest_cell_area(cell, min_area=20, neck_ratio=0.8) == area
    clump = np.zeros((120, 240), bool)
    for x in (40, 120, 200):
        _disk(clump, 60, x, 30)
    one = int(np.count_nonzero(np.hypot(*np.mgrid[-30:31, -30:31]) <= 30))
    clump[57:64, 40:200] = True  # necks 7 px wide between disks 60 px wide
    measured = _largest_cell_area(clump, min_area=20, neck_ratio=0.8)
    assert 0.9 * one <= measured <= 1.3 * one
    assert _largest_cell_area(np.zeros((50, 50), bool), min_area=20, neck_ratio=0.8) == 0.0
