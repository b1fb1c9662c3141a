"""A folder of frames given itself to a batch run of a pipeline that segments time-lapses only (Motion): one
movie, as the same folder one level down in a dataset folder is and as ``labelfree motion FOLDER`` reads it;
for the single-image pipelines it stays a folder of image files, one input each."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from batch_data import tiny_movie
from labelfree.batch import collect_inputs, run_batch
from labelfree.cli import main

FRAMES = 6


def _frames(folder: Path, n: int = 3, name: str = "t{:03d}.tif", size: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        tifffile.imwrite(folder / name.format(t), np.full((size, size), t, np.uint8))
    return folder


@pytest.fixture
def sim_frames(shared_data: Path, tmp_path: Path) -> Path:
    """``experiment/frames/t000.tif`` ... ``t005.tif``: the first six frames of Fluo-N2DH-SIM+ 01 as they are,
    one file per frame (Fiji's File > Save As > Image Sequence, the Cell Tracking Challenge layout)."""
    seq = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01"
    if not seq.is_dir():
        pytest.skip(f"{seq} is absent")
    frames = tmp_path / "experiment" / "frames"
    frames.mkdir(parents=True)
    for t in range(FRAMES):
        (frames / f"t{t:03d}.tif").write_bytes((seq / f"t{t:03d}.tif").read_bytes())
    return frames


def _batch(inputs: str | Path, out: Path, pipeline: str = "motion") -> pd.DataFrame:
    code = main(["batch", str(inputs), "-p", pipeline, "-o", str(out), "--scheduler", "sync", "--no-progress", "-q"])
    assert code == 0
    return pd.read_csv(out / "batch_summary.csv", dtype={"stem": str})


def _provenance(path: Path) -> dict:
    """The record less what differs between two runs of one movie: when they ran, where they wrote and the
    command that started each."""
    record = json.loads(path.read_text())
    return {k: v for k, v in record.items() if k not in ("created", "outputs", "command", "cwd")}


def test_frame_folder_given_itself_is_the_movie_motion_reads(sim_frames, tmp_path):
    """``labelfree batch frames/ --pipeline motion`` segments the six frames as one movie (it ran six inputs of
    one frame before, each failing): labels pixel for pixel those of ``labelfree motion frames/``; stem, summary
    row, provenance, report thumbnail and rerun state those of the dataset-folder run of the same folder."""
    out = tmp_path / "direct"
    summary = _batch(sim_frames, out)
    assert list(summary["stem"]) == ["frames"] and list(summary["status"]) == ["ok"]
    assert list(summary["input"]) == [str(sim_frames)] and list(summary["n_frames"]) == [FRAMES]
    alone = tmp_path / "alone"
    assert main(["motion", str(sim_frames), "-o", str(alone), "-q", "--no-progress"]) == 0
    labels = tifffile.imread(out / "frames_labels.tif")
    assert labels.shape == (FRAMES, 690, 628)
    np.testing.assert_array_equal(labels, tifffile.imread(alone / "frames_labels.tif"))
    assert all(len(np.unique(frame)) > 10 for frame in labels)  # the nuclei of every frame
    assert int(summary["n_objects"][0]) == len(pd.read_csv(alone / "frames_table.csv"))

    # the dataset folder that holds it: the same movie, the same results
    parent = tmp_path / "parent"
    by_parent = _batch(sim_frames.parent, parent)
    same = ["input", "series", "stem", "status", "n_objects", "n_frames", "error", "warnings"]
    assert by_parent[same].equals(summary[same])
    np.testing.assert_array_equal(tifffile.imread(parent / "frames_labels.tif"), labels)
    assert _provenance(parent / "frames_provenance.json") == _provenance(out / "frames_provenance.json")
    thumbs = [np.asarray(Image.open(folder / "report_files" / "frames.png")) for folder in (out, parent)]
    np.testing.assert_array_equal(*thumbs)
    assert "frames.png" in (out / "report.html").read_text(encoding="utf-8")

    # one rerun state: the parent, a pattern that matches the folder and a manifest row find the result done
    for inputs in (sim_frames.parent, str(tmp_path / "experiment" / "fr*"), sim_frames):
        assert list(_batch(inputs, out)["status"]) == ["skipped"], inputs
    manifest = tmp_path / "movies.csv"
    manifest.write_text("path\nexperiment/frames\n")
    assert list(_batch(manifest, out)["status"]) == ["skipped"]
    assert [(it.path, it.stem) for it in collect_inputs(manifest)] == [(sim_frames, "frames")]
    # a changed frame redoes it
    frame = sim_frames / "t003.tif"
    tifffile.imwrite(frame, np.flip(tifffile.imread(frame), axis=1))
    code = main(["batch", str(sim_frames), "-p", "motion", "-o", str(out), "--scheduler", "sync", "--no-progress",
                 "-q", "--overwrite"])
    assert code == 0 and list(pd.read_csv(out / "batch_summary.csv")["status"]) == ["ok"]
    assert not np.array_equal(tifffile.imread(out / "frames_labels.tif"), labels)


def test_which_folders_are_one_movie(tmp_path, caplog):
    """The pipeline's ``needs_time`` decides: frames are one movie for Motion only; a folder of movies, of plain
    3-D stacks or of images that are no frames of one movie keeps its files, with io.sequence's reason."""
    frames = _frames(tmp_path / "01", n=4)
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):
        [movie] = collect_inputs(frames, needs_time=True)
    assert (movie.path, movie.stem, movie.series) == (frames, "01", None)
    assert "are the frames of one movie, one input" in caplog.text
    # the same movie as its dataset folder gives, and as a pattern that matches the folder
    assert collect_inputs(tmp_path, needs_time=True) == [movie] == collect_inputs(tmp_path, needs_time=False)
    assert collect_inputs(str(tmp_path / "0*"), needs_time=True) == [movie]
    # single-image pipelines: one input per file, as before (a plate of well_001.tif ... is no movie for them)
    assert [it.stem for it in collect_inputs(frames)] == ["t000", "t001", "t002", "t003"]
    plate = _frames(tmp_path / "plate", name="well_{:03d}.tif")
    assert [it.stem for it in collect_inputs(plate, needs_time=False)] == ["well_000", "well_001", "well_002"]
    assert [it.path for it in collect_inputs(plate, needs_time=True)] == [plate]

    movies = tmp_path / "movies"  # movie1.tif, movie2.tif: one name pattern, but each a time-lapse
    movies.mkdir()
    for i in (1, 2):
        tiny_movie(movies / f"movie{i}.tif", seed=i)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(movies / "a_preview.png")  # a picture beside them
    assert [it.stem for it in collect_inputs(movies, needs_time=True)] == ["a_preview", "movie1", "movie2"]
    for planes in (5, 3):  # plain 3-D TIFFs: planes of no known axis, or stored as RGB (dims tells), not frames
        stacks = tmp_path / f"stacks{planes}"
        stacks.mkdir()
        for i in range(2):
            rgb = {"photometric": "rgb", "planarconfig": "separate"} if planes == 3 else {}
            tifffile.imwrite(stacks / f"s{i}.tif", np.zeros((planes, 16, 16), np.uint8), **rgb)
        assert [it.stem for it in collect_inputs(stacks, needs_time=True)] == ["s0", "s1"]
    rgb = tmp_path / "rgb"  # colour frames (Y, X, RGB samples) are frames
    rgb.mkdir()
    for t in range(2):
        tifffile.imwrite(rgb / f"t{t}.tif", np.zeros((16, 16, 3), np.uint8))
    assert [it.path for it in collect_inputs(rgb, needs_time=True)] == [rgb]

    mixed = _frames(tmp_path / "mixed")
    tifffile.imwrite(mixed / "overview.tif", np.zeros((4, 4), np.uint8))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):
        items = collect_inputs(mixed, needs_time=True)
    assert [it.stem for it in items] == ["overview", "t000", "t001", "t002"]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "are not the frames of one movie, so each is an input of its own" in warning.getMessage()
    assert "holds image files of 2 name patterns (3 like t000.tif; 1 like overview.tif)" in warning.getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelfree.batch.inputs"):  # one frame: Motion's own error says it
        assert [it.stem for it in collect_inputs(_frames(tmp_path / "one", n=1), needs_time=True)] == ["t000"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_frames_of_two_sizes_fail_once_with_the_reason(tmp_path):
    """Frames of one name pattern but two sizes: one failed input whose error is io.sequence's (which file, which
    size), not one "got one frame" failure per file."""
    frames = _frames(tmp_path / "frames", n=2)
    tifffile.imwrite(frames / "t002.tif", np.zeros((8, 8), np.uint8))
    summary = run_batch(frames, pipeline="motion", out_dir=tmp_path / "out", scheduler="sync", progress=False)
    assert list(summary["stem"]) == ["frames"] and list(summary["status"]) == ["failed"]
    error = summary["error"][0]
    assert "t002.tif is 8 x 8 uint8, but t000.tif, the first frame of the folder, is 4 x 4 uint8" in error
    assert "got one frame" not in error


def test_threshold_batch_of_a_frame_folder_keeps_one_input_per_file(tmp_path):
    """A single-image pipeline given the same folder runs each file (the runner passes the pipeline's needs)."""
    frames = _frames(tmp_path / "frames", n=3, size=16)
    summary = run_batch(frames, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False)
    assert list(summary["stem"]) == ["t000", "t001", "t002"]
    assert list(summary["input"]) == [str(frames / f"t{t:03d}.tif") for t in range(3)]
