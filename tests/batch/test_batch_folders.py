"""What a folder contributes to a batch run: the folders of frames of a dataset (one movie each), and the image
files of a folder without the annotations saved beside them (Cellpose's ``img001_masks.png``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelfree.batch import collect_inputs, run_batch
from labelfree.cli import main
from labelfree.errors import InputError, InputOverwriteError

#: two 6-frame 128 x 128 crops of Fluo-N2DH-SIM+ 01, three moving nuclei in each (y0, x0)
CROPS = {"pos01": (100, 0), "pos02": (400, 100)}


def _frames(folder: Path, n: int = 3, name: str = "t{:03d}.tif") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        tifffile.imwrite(folder / name.format(t), np.full((4, 4), t, np.uint8))
    return folder


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def dataset(shared_data: Path, tmp_path: Path) -> Path:
    """``experiment/pos01``, ``pos02`` (frames ``t000.tif`` ... ``t005.tif``), ``01_GT/SEG/man_seg000.tif`` and an
    empty folder: the layout of a Fiji image-sequence export or of the Cell Tracking Challenge."""
    seq = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01"
    if not seq.is_dir():
        pytest.skip(f"{seq} is absent")
    exp = tmp_path / "experiment"
    for name, (y0, x0) in CROPS.items():
        (exp / name).mkdir(parents=True)
        for t in range(6):
            plane = tifffile.imread(seq / f"t{t:03d}.tif")[y0:y0 + 128, x0:x0 + 128]
            tifffile.imwrite(exp / name / f"t{t:03d}.tif", plane)
    (exp / "01_GT" / "SEG").mkdir(parents=True)
    tifffile.imwrite(exp / "01_GT" / "SEG" / "man_seg000.tif", np.zeros((128, 128), np.uint16))
    (exp / "empty").mkdir()
    return exp


def test_dataset_folder_runs_each_folder_of_frames_as_one_movie(dataset, tmp_path, caplog):
    """Each folder of frames is one movie input (stem: its name), segmented as ``labelfree motion FOLDER`` segments
    it alone; the other folders are noted; a changed frame redoes that movie only; nothing is written into the
    inputs (the run was refused: "holds no image files")."""
    before = _listing(dataset)
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):
        items = collect_inputs(dataset)
    assert [(it.path, it.stem) for it in items] == [(dataset / "pos01", "pos01"), (dataset / "pos02", "pos02")]
    assert "2 folder(s) of" in caplog.text and "hold no image files and are not inputs: 01_GT, empty" in caplog.text
    out = tmp_path / "out"
    summary = run_batch(dataset, pipeline="motion", out_dir=out, scheduler="sync", progress=False)
    assert list(summary["stem"]) == ["pos01", "pos02"] and list(summary["status"]) == ["ok", "ok"]
    assert list(summary["n_frames"]) == [6, 6] and list(summary["input"]) == [str(dataset / "pos01"),
                                                                              str(dataset / "pos02")]
    labels = {}
    for name in CROPS:
        alone = tmp_path / f"alone_{name}"
        assert main(["motion", str(dataset / name), "-o", str(alone), "-q", "--no-progress"]) == 0
        labels[name] = tifffile.imread(out / f"{name}_labels.tif")
        assert labels[name].shape == (6, 128, 128)
        np.testing.assert_array_equal(labels[name], tifffile.imread(alone / f"{name}_labels.tif"))
        assert all(len(np.unique(frame)) - 1 == 3 for frame in labels[name])  # three nuclei in every frame
    assert not np.array_equal(labels["pos01"], labels["pos02"])
    # the report shows each movie's first frame
    from labelfree.batch.report import _input_plane

    np.testing.assert_array_equal(_input_plane(dataset / "pos02"), tifffile.imread(dataset / "pos02" / "t000.tif"))
    assert {p.name for p in (out / "report_files").glob("*.png")} == {"pos01.png", "pos02.png"}
    assert _listing(dataset) == before  # no output, no staging file in an input folder

    def statuses(**kw):
        return list(run_batch(dataset, pipeline="motion", out_dir=out, scheduler="sync", progress=False,
                              **kw)["status"])

    assert statuses() == ["skipped", "skipped"]
    frame = dataset / "pos02" / "t003.tif"
    tifffile.imwrite(frame, np.flip(tifffile.imread(frame), axis=1))  # one frame of one movie changed
    assert statuses(batch={"overwrite": True}) == ["skipped", "ok"]
    assert statuses() == ["skipped", "skipped"]
    # an output folder inside a movie's folder is refused; the dataset folder itself may hold the outputs
    with pytest.raises(InputOverwriteError, match="inside"):
        run_batch(dataset, pipeline="motion", out_dir=dataset / "pos01" / "out", scheduler="sync", progress=False)
    assert not (dataset / "pos01" / "out").exists()
    assert statuses() == ["skipped", "skipped"]
    here = run_batch(dataset, pipeline="motion", out_dir=dataset, scheduler="sync", progress=False)
    assert list(here["status"]) == ["ok", "ok"] and (dataset / "report_files" / "pos01.png").is_file()
    # its outputs and report thumbnails beside the movies are no inputs of the next run
    assert [it.stem for it in collect_inputs(dataset)] == ["pos01", "pos02"]
    again = run_batch(dataset, pipeline="motion", out_dir=dataset, scheduler="sync", progress=False)
    assert list(again["status"]) == ["skipped", "skipped"]


def test_cell_tracking_challenge_layouts_and_clashing_folder_names(tmp_path):
    """``Fluo-N2DH-SIM+/01``, ``02`` with ``01_GT/SEG`` beside: the sequences ``01`` and ``02``; two datasets given
    together get their folder names in the stems, as files of one name in two folders do."""
    for data in ("Fluo-N2DH-SIM+", "Fluo-C2DL-MSC"):
        for seq in ("01", "02"):
            _frames(tmp_path / data / seq)
            _frames(tmp_path / data / f"{seq}_GT" / "SEG", name="man_seg{:03d}.tif")
            _frames(tmp_path / data / f"{seq}_GT" / "TRA", name="man_track{:03d}.tif")
    one = collect_inputs(tmp_path / "Fluo-N2DH-SIM+")
    assert [(it.path.name, it.stem) for it in one] == [("01", "01"), ("02", "02")]
    both = collect_inputs([tmp_path / "Fluo-N2DH-SIM+", tmp_path / "Fluo-C2DL-MSC"])
    assert [it.stem for it in both] == ["Fluo-N2DH-SIM+_01", "Fluo-N2DH-SIM+_02", "Fluo-C2DL-MSC_01",
                                        "Fluo-C2DL-MSC_02"]
    # a pattern that matches folders takes those of frames
    glob_items = collect_inputs(str(tmp_path / "*" / "0?"))
    assert sorted(it.stem for it in glob_items) == ["Fluo-C2DL-MSC_01", "Fluo-C2DL-MSC_02", "Fluo-N2DH-SIM+_01",
                                                    "Fluo-N2DH-SIM+_02"]
    assert all(it.path.is_dir() for it in glob_items)
    # a manifest entry that is a folder of frames is one input too
    (tmp_path / "m.csv").write_text("path,name\nFluo-C2DL-MSC/02,msc2\n")
    [entry] = collect_inputs(tmp_path / "m.csv")
    assert entry.path == tmp_path / "Fluo-C2DL-MSC" / "02" and entry.stem == "msc2"


def test_folders_beside_image_files_and_folders_that_are_no_movie(tmp_path, caplog):
    """A folder that holds image files keeps them as its inputs (its folders of frames are noted, not taken); only
    folders of two frames or more of one name pattern, one level down, are movies."""
    _frames(tmp_path / "plate")
    tifffile.imwrite(tmp_path / "plate" / "overview.tif", np.zeros((4, 4), np.uint8))
    _frames(tmp_path / "plate" / "pos01")
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):
        items = collect_inputs(tmp_path / "plate")
    assert [it.path.name for it in items] == ["overview.tif", "t000.tif", "t001.tif", "t002.tif"]
    assert "its folder(s) of frames pos01 are not" in caplog.text
    # a folder of frames given itself: its files (as before)
    assert [it.path.name for it in collect_inputs(tmp_path / "plate" / "pos01")] == ["t000.tif", "t001.tif",
                                                                                      "t002.tif"]
    data = tmp_path / "data"
    _frames(data / "single", n=1)  # one file: not a movie of frames
    _frames(data / "mixed")  # two name patterns
    tifffile.imwrite(data / "mixed" / "movie_labels.tif", np.zeros((4, 4), np.uint8))
    _frames(data / "deeper" / "pos01")  # two levels down
    (data / "notes.txt").write_text("x")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):
        with pytest.raises(InputError, match="no image files .* and no folders of frames"):
            collect_inputs(data)
    assert "single is not an input: one image file, t000.tif" in caplog.text
    assert "mixed is not an input" in caplog.text and "2 name patterns" in caplog.text
    assert "hold no image files and are not inputs: deeper" in caplog.text
    assert [it.stem for it in collect_inputs(str(data / "*" / "pos*"))] == ["pos01"]  # deeper: a pattern
    # a pattern that matches a folder and its files (dir/**) takes the files, not the folder as well
    rec = collect_inputs(str(data / "deeper" / "**"))
    assert [it.path.name for it in rec] == ["t000.tif", "t001.tif", "t002.tif"]


def _png(path: Path, value: int = 1) -> Path:
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    return path


def test_annotations_beside_their_images_are_not_inputs(tmp_path, caplog):
    """A Cellpose training folder: img001.png with img001_masks.png, img002.png with Cellpose's own
    img002_cp_masks.png and img002_flows.tif; the masks were segmented as images of their own."""
    train = tmp_path / "train"
    train.mkdir()
    for name in ("img001.png", "img001_masks.png", "img002.png", "img002_cp_masks.png", "img003.tif",
                 "IMG003_Mask.PNG", "cells_mask.png", "other_labels.tif"):
        _png(train / name) if name.lower().endswith(".png") else tifffile.imwrite(train / name, np.ones((8, 8)))
    flows = np.ones((3, 8, 8), np.float32)
    tifffile.imwrite(train / "img002_flows.tif", flows, photometric="minisblack")
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):
        items = collect_inputs(train)
    # cells_mask.png and other_labels.tif have no image beside them: they are images
    assert [it.path.name for it in items] == ["cells_mask.png", "img001.png", "img002.png", "img003.tif",
                                              "other_labels.tif"]
    assert "4 file(s) of" in caplog.text and "are annotations beside their images" in caplog.text
    # a pattern that names the masks takes them; one that matches images and masks leaves the masks out
    named = collect_inputs(str(train / "*_masks.png"))
    assert [it.path.name for it in named] == ["img001_masks.png", "img002_cp_masks.png"]
    assert [it.path.name for it in collect_inputs(str(train / "img00[12]*.png"))] == ["img001.png", "img002.png"]
    # a mask named as a file is an input
    assert [it.stem for it in collect_inputs(train / "img001_masks.png")] == ["img001_masks"]
    # a folder of masks alone: every mask is an input
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):
        tifffile.imwrite(masks / f"c{i}_mask.tif", np.full((8, 8), i, np.uint16))
    assert [it.stem for it in collect_inputs(masks)] == ["c0_mask", "c1_mask", "c2_mask"]


def test_a_run_on_a_training_folder_segments_the_images_only(tmp_path):
    """LabelFree's own outputs are left out by their provenance, as before; a run on the training folder writes
    results for the images only."""
    train = tmp_path / "train"
    train.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        plane = rng.integers(0, 50, (48, 48)).astype(np.uint8)
        plane[10:30, 10:30] = 200
        Image.fromarray(plane).save(train / f"img{i}.png")
        Image.fromarray((plane > 100).astype(np.uint8)).save(train / f"img{i}_masks.png")
    out = tmp_path / "out"
    summary = run_batch(train, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(summary["stem"]) == ["img0", "img1"] and list(summary["status"]) == ["ok", "ok"]
    assert list(summary["n_objects"]) == [1, 1]
    assert not list(out.glob("*_masks_*"))
    # outputs written into the training folder: neither they nor the masks are inputs of a rerun
    here = run_batch(train, pipeline="threshold", out_dir=train, scheduler="sync", progress=False)
    assert list(here["stem"]) == ["img0", "img1"]
    assert [it.stem for it in collect_inputs(train)] == ["img0", "img1"]
    assert os.path.isfile(train / "img0_labels.tif")
