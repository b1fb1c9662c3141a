"""Motion on short, cropped movies of the real data: touching cells are not taken for one cell.

In a crop that holds a few cells, the automatic cell size rested on one or two objects; a clump
of touching cells then set it, the declumping blurred over the whole clump, and the cells came
out as one object (benchmarks/motion_short_crops.py, docs/benchmarks.md).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile

from labelfree import datasets, motion
from labelfree.cli import main
from labelfree.metrics import evaluate

#: MSC frames 28-33, a 384 px crop holding two crossing, touching cells (manual masks on 28, 29, 30, 31, 33)
MSC_FRAMES, MSC_BOX = range(28, 34), (slice(336, 720), slice(224, 608))


def _count(labels: np.ndarray) -> list[int]:
    return [int(np.unique(frame[frame > 0]).size) for frame in np.asarray(labels)]


@pytest.fixture(scope="module")
def msc_crop(msc_dir):
    data = datasets.load_ctc("Fluo-C2DL-MSC", "01", root=msc_dir.parents[1], frames=MSC_FRAMES)
    movie = np.asarray(data.movie.values)[(slice(None), *MSC_BOX)]
    truth = {t - MSC_FRAMES[0]: np.asarray(data.seg[t])[MSC_BOX] for t in data.seg_frames if t in MSC_FRAMES}
    return movie, truth


def _disk(shape, centre, radius):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_typical_cell_area_cuts_a_lone_clump_at_its_neck():
    """Two touching disks of radius 20 (1,257 px each) alone: the typical cell is one disk, not the clump."""
    from labelfree.motion.selflabel import typical_cell_area, typical_object_area

    clump = _disk((80, 120), (40, 40), 20) | _disk((80, 120), (40, 76), 20)
    assert typical_object_area(clump) == clump.sum()  # the plain measure: the clump
    area, support = typical_cell_area(clump, min_area=20)
    assert 1100 <= area <= 1400 and support == 2


def test_typical_cell_area_keeps_single_cells_and_many_objects():
    from labelfree.motion.selflabel import FEW_OBJECTS, typical_cell_area, typical_object_area

    one = _disk((80, 80), (40, 40), 20)
    assert typical_cell_area(one, min_area=20) == (float(one.sum()), 1)
    # a clump among FEW_OBJECTS or more cells: measured as before (full movies keep their sizes)
    many = _disk((80, 400), (40, 40), 20) | _disk((80, 400), (40, 76), 20)
    for k in range(FEW_OBJECTS):
        many |= _disk((80, 400), (40, 150 + 80 * k), 24)
    area, support = typical_cell_area(many, min_area=20)
    assert area == typical_object_area(many, min_area=20) and support >= FEW_OBJECTS
    # pieces below min_cell_area are fragments, not cells
    clump = _disk((80, 120), (40, 40), 20) | _disk((80, 120), (40, 76), 20)
    assert typical_cell_area(clump, min_area=20, min_cell_area=2000) == (float(clump.sum()), 1)


def test_msc_crop_of_touching_cells_gives_both(msc_crop, caplog):
    """Before: one object in every frame (object F1 0.0); the whole movie splits them (F1 1.0)."""
    movie, truth = msc_crop
    with caplog.at_level(logging.WARNING, logger="labelfree.motion"):
        labels = np.asarray(motion.segment(movie).values)
    assert _count(labels) == [2, 2, 2, 2, 2, 2]
    frames = [0, 1, 2, 3]  # frames 28-31: two annotated cells each
    score = evaluate(labels[frames], np.stack([truth[t] for t in frames]), only_annotated=True)
    assert score["f1"] == 1.0
    assert score["pixel_f1"] >= 0.8  # measured 0.84
    # the run says its size rests on few objects, and what to do
    text = " ".join(r.getMessage() for r in caplog.records if "rests on" in r.getMessage())
    assert "rests on 2 object(s) of frame 0 (0-based)" in text and "set min_size" in text


def test_msc_crop_through_the_cli(msc_crop, tmp_path, caplog):
    movie, _ = msc_crop
    tifffile.imwrite(tmp_path / "crop.tif", movie, imagej=True, metadata={"axes": "TYX"})
    assert main(["motion", str(tmp_path / "crop.tif"), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    labels = tifffile.imread(tmp_path / "out" / "crop_labels.tif")
    assert _count(labels) == [2, 2, 2, 2, 2, 2]
    assert any("the automatic cell size rests on 2 object(s)" in r.getMessage() for r in caplog.records)


def test_sim_crop_of_a_clump(shared_data):
    """SIM+ frames 0-5, a 128 px crop of three nuclei, two of them touching: 3 objects (before 1-2)."""
    if not (shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01").is_dir():
        pytest.skip("Fluo-N2DH-SIM+/01 is absent")
    data = datasets.load_ctc("Fluo-N2DH-SIM+", "01", root=shared_data, frames=range(6))
    box = (slice(110, 238), slice(220, 348))
    movie = np.asarray(data.movie.values)[(slice(None), *box)]
    truth = np.stack([np.asarray(data.seg[t])[box] for t in range(6)])
    labels = np.asarray(motion.segment(movie).values)
    assert _count(labels) == _count(truth) == [3, 3, 3, 3, 3, 3]
    assert evaluate(labels, truth)["f1"] >= 0.9


def test_a_given_min_size_is_kept(msc_crop):
    """The size measurement is automatic only: a given min_size is used as it is."""
    movie, _ = msc_crop
    out = motion.segment(movie[:3], config={"min_size": 1664})
    assert out.attrs["labelfree"]["min_size"] == 1664


# -- a crop whose classified frames are all flooded (over half cell): the size check still runs --------------------


def _sim_crop(shared_data, frames: int, y: int, x: int):
    if not (shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01").is_dir():
        pytest.skip("Fluo-N2DH-SIM+/01 is absent")
    data = datasets.load_ctc("Fluo-N2DH-SIM+", "01", root=shared_data, frames=range(frames))
    box = (slice(y, y + 128), slice(x, x + 128))
    movie = np.asarray(data.movie.values)[(slice(None), *box)]
    return movie, np.stack([np.asarray(data.seg[t])[box] for t in range(frames)])


def test_sim_crop_of_dense_nuclei_all_frames_flooded(shared_data, caplog):
    """SIM+ frames 0-2, 128 px at (330, 0): 4 touching nuclei whose halos cover 54-57 % of every classified
    frame. Before: no frame checked the size, the flow-only min_size 2441 stayed, 2, 2, 1 objects (object F1 0.24);
    now frame 0's nuclei, cut at their necks, set it, and all 4 are found in every frame. The frames are floored
    (their nuclei brighter than the rest): the size is measured on the floored frame 0 (630 px; 640 unfloored)."""
    movie, truth = _sim_crop(shared_data, 3, 330, 0)
    with caplog.at_level(logging.INFO, logger="labelfree.motion"):
        out = motion.segment(movie)
    labels = np.asarray(out.values)
    assert out.attrs["labelfree"]["min_size"] == 630
    assert [r["frame"] for r in out.attrs["labelfree"]["floored"]] == [0, 1, 2]
    assert _count(labels) == _count(truth) == [4, 4, 4]
    assert evaluate(labels, truth)["f1"] == 1.0
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "frame 0 (0-based) is over half cell; its 4 cells set the minimum object size 630 px for now" in text
    assert "optical flow's alone" not in text


def test_sim_crop_flooded_first_then_checked_by_a_later_frame(shared_data):
    """SIM+ frames 0-5, 128 px at (320, 0): frame 0 is flooded and sets the size for now; a later frame that is
    not flooded still checks it, but the nuclei are no longer joined (before: 2, 2, 2, 1, 1, 2 objects of 4, object
    F1 0.24). Frames 0-3 are floored (min_size 640; unfloored 632, objects 4, 4, 3, 3, 3, 3 and F1 0.909; floored 4,
    4, 4, 4, 3, 3 and 0.957)."""
    movie, truth = _sim_crop(shared_data, 6, 320, 0)
    out = motion.segment(movie)
    labels = np.asarray(out.values)
    assert out.attrs["labelfree"]["min_size"] == 640
    assert _count(truth) == [4] * 6 and min(_count(labels)) >= 3
    assert evaluate(labels, truth)["f1"] >= 0.95


def test_msc_crop_of_one_flooding_cell_warns_that_the_size_is_the_flows(msc_dir, caplog):
    """MSC frames 28-30, 256 px at (0, 0): one cell over half of every frame, no field of cells to measure. The
    flow-only size stays, and a warning says so and how to set min_size (before: nothing said)."""
    data = datasets.load_ctc("Fluo-C2DL-MSC", "01", root=msc_dir.parents[1], frames=MSC_FRAMES[:3])
    movie = np.asarray(data.movie.values)[:3, :256, :256]
    with caplog.at_level(logging.WARNING, logger="labelfree.motion"):
        out = motion.segment(movie)
    min_size = out.attrs["labelfree"]["min_size"]
    assert _count(out.values) == [1, 1, 1]
    text = " ".join(r.getMessage() for r in caplog.records if "optical flow's alone" in r.getMessage())
    assert f"the automatic cell size is the optical flow's alone (min_size {min_size} px, typical cell" in text
    assert "every classified frame was over half cell" in text and "set min_size" in text
    assert "rests on" not in " ".join(r.getMessage() for r in caplog.records)
