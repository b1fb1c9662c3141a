"""Every warning raised while a batch input is processed names that input: in the line shown (also when the
input ran on a Dask worker process), in its row of the summary, its provenance, the text report and a rerun's
summary. Real pipelines on small synthetic images that really raise the warnings."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelfree.batch import BatchConfig, format_report, run_batch

GREY = ("The image's 3 channels ['R', 'G', 'B'] are identical (a grey image saved as colour); they are used as one "
        "grey channel.")
BACKGROUND = "BackgroundObjectWarning: In the image, one object covers 100% of the plane and touches all four edges"


def _cells(seed: int = 0) -> np.ndarray:
    """A 64 x 64 uint16 plane: two bright rectangles on a dim, noisy background."""
    rng = np.random.default_rng(seed)
    img = np.full((64, 64), 100, np.uint16)
    img[10:24, 10:24] = 1000
    img[36:52, 30:50] = 900
    return img + rng.integers(0, 30, img.shape, dtype=np.uint16)


def _inputs(folder: Path, /, *, inverted: int = 1, good: int = 1) -> Path:
    """``good*.tif`` (no warning), ``inverted*.tif`` (dark cells on a bright field: Threshold takes the background
    for one object) and ``grey_rgb.tif`` (RGB of three identical planes: a logged warning, not a Python one)."""
    folder.mkdir()
    for i in range(good):
        tifffile.imwrite(folder / f"good{i}.tif", _cells(i))
    for i in range(inverted):
        tifffile.imwrite(folder / f"inverted{i}.tif", (2000 - _cells(100 + i)).astype(np.uint16))
    plane = (_cells(7) // 8).astype(np.uint8)
    tifffile.imwrite(folder / "grey_rgb.tif", np.stack([plane] * 3, axis=-1), photometric="rgb")
    return folder


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warning lines LabelFree logged."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("labelfree") and r.levelno >= logging.WARNING]


def test_sequential_run_names_each_warning_and_keeps_it_with_its_input(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the lines name an input as the folder given names it: in/<file>
    _inputs(tmp_path / "in")
    with caplog.at_level(logging.WARNING):
        summary = run_batch("in", pipeline="threshold", out_dir="out", scheduler="sync", progress=False)
    rows = summary.set_index("stem")
    assert list(rows["status"]) == ["ok"] * 3
    assert rows.loc["good0", "warnings"] == ""
    assert rows.loc["grey_rgb", "warnings"] == GREY  # a logged warning is the input's too
    assert rows.loc["inverted0", "warnings"].startswith(BACKGROUND)
    assert " | " not in rows.loc["inverted0", "warnings"]
    lines = _lines(caplog)
    # each warning is shown once, as a line that names its input; no line without one
    assert sorted(lines) == sorted([f"in/grey_rgb.tif: {GREY}",
                                    f"in/inverted0.tif: {rows.loc['inverted0', 'warnings']}"])
    for stem in ("grey_rgb", "inverted0"):
        prov = json.loads(Path(rows.loc[stem, "provenance"]).read_text())
        assert prov["warnings"] == [rows.loc[stem, "warnings"]]
    on_disk = pd.read_csv(tmp_path / "out" / "batch_summary.csv", keep_default_na=False).set_index("stem")
    assert on_disk["warnings"].to_dict() == rows["warnings"].to_dict()
    report = format_report(summary).splitlines()
    warned = [line for line in report if line.startswith("WARNING ")]
    assert warned == [f"WARNING {tmp_path / 'in' / 'grey_rgb.tif'}: {GREY}",
                      f"WARNING {tmp_path / 'in' / 'inverted0.tif'}: {rows.loc['inverted0', 'warnings']}"]
    assert "are identical (a grey image saved as colour)" in (tmp_path / "out" / "report.html").read_text()

    # a rerun skips the inputs and still says what their results were warned about
    caplog.clear()
    again = run_batch("in", pipeline="threshold", out_dir="out", scheduler="sync", progress=False)
    assert list(again["status"]) == ["skipped"] * 3
    assert again.set_index("stem")["warnings"].to_dict() == rows["warnings"].to_dict()
    assert [line for line in format_report(again).splitlines() if line.startswith("WARNING ")] == warned
    assert _lines(caplog) == []  # nothing was run: nothing new to show


def test_report_lists_at_most_max_warnings_inputs():
    summary = pd.DataFrame({"input": [f"/d/{i}.tif" for i in range(5)], "series": [pd.NA] * 5,
                            "stem": [str(i) for i in range(5)], "status": ["ok"] * 5, "n_objects": [1] * 5,
                            "seconds": [1.0] * 5, "error": [""] * 5,
                            "warnings": ["W: a | W: b", "", "W: c", "W: d", "W: e"]})
    lines = format_report(summary, max_warnings=2).splitlines()
    assert [line for line in lines if "W: " in line or "more input" in line] == [
        "WARNING /d/0.tif: W: a | W: b", "WARNING /d/2.tif: W: c",
        "... and 2 more input(s) with warnings; see the summary table (its warnings column)"]


@pytest.fixture(scope="module")
def worker_process():
    """A Dask client of one worker process (what it prints is not this process's log)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                       silence_logs=logging.ERROR)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.mark.slow
def test_warnings_of_worker_processes_reach_the_client_named(tmp_path, caplog, monkeypatch, worker_process):
    monkeypatch.chdir(tmp_path)
    _inputs(tmp_path / "in")
    seq = run_batch("in", pipeline="threshold", out_dir="seq", scheduler="sync", progress=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary = run_batch("in", pipeline="threshold", out_dir="dask", scheduler=worker_process, progress=False)
    assert summary["worker"].iloc[0] != seq["worker"].iloc[0]  # another process did the work
    assert summary["warnings"].tolist() == seq["warnings"].tolist()
    rows = summary.set_index("stem")
    assert rows.loc["grey_rgb", "warnings"] == GREY and rows.loc["inverted0", "warnings"].startswith(BACKGROUND)
    # shown here (the worker's own output is not this terminal's, on a cluster), once, named
    assert sorted(_lines(caplog)) == sorted([f"in/grey_rgb.tif: {GREY}",
                                             f"in/inverted0.tif: {rows.loc['inverted0', 'warnings']}"])


@pytest.mark.slow
def test_warnings_of_frame_chunks_on_workers_reach_the_client_named(tmp_path, caplog, monkeypatch, worker_process):
    """Motion on a movie without motion, cut into frame chunks (a frame-count task, a task per chunk, a
    merge task on the worker): the NoMotionWarning of its chunks is its row's and shown here, named."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(3)
    still = np.full((5, 48, 48), 100, np.uint16)
    still[:, 10:22, 10:22] = 1000
    tifffile.imwrite(tmp_path / "in" / "still.tif", still + rng.integers(0, 20, still.shape, dtype=np.uint16),
                     imagej=True, metadata={"axes": "TYX"})
    with caplog.at_level(logging.WARNING):
        summary = run_batch("in", pipeline="motion", out_dir="out", scheduler=worker_process, progress=False,
                            batch=BatchConfig(chunk_frames=2))
    row = summary.iloc[0]
    assert row["status"] == "ok" and row["n_frames"] == 5
    prov = json.loads(Path(row["provenance"]).read_text())
    assert prov["batch"]["chunks"] == [[0, 2], [1, 4], [3, 5]]  # it ran in chunks
    texts = row["warnings"].split(" | ")
    assert texts and all(t.startswith("NoMotionWarning: No cell motion found") for t in texts)
    assert prov["warnings"] == texts
    assert sorted(_lines(caplog)) == sorted(f"in/still.tif: {t}" for t in texts)


@pytest.mark.slow
def test_inputs_run_at_once_in_threads_keep_their_own_warnings(tmp_path, caplog, monkeypatch):
    """Dask workers that are threads of this process: Python's warning hooks are one per process, yet each
    input gets its own warnings, and every line shown names the right input."""
    monkeypatch.chdir(tmp_path)
    _inputs(tmp_path / "in", inverted=6, good=6)
    with caplog.at_level(logging.WARNING):
        summary = run_batch("in", pipeline="threshold", out_dir="out", progress=False,
                            batch=BatchConfig(processes=False, n_workers=3))
    rows = summary.set_index("stem")
    assert (rows["status"] == "ok").all()
    for i in range(6):
        assert rows.loc[f"good{i}", "warnings"] == ""
        assert rows.loc[f"inverted{i}", "warnings"].startswith(BACKGROUND)
    assert rows.loc["grey_rgb", "warnings"] == GREY
    expected = [f"in/{stem}.tif: {text}" for stem, text in rows["warnings"].items() if text]
    assert sorted(_lines(caplog)) == sorted(expected)


@pytest.mark.slow
def test_a_warning_of_writing_the_outputs_is_the_inputs(tmp_path, caplog, monkeypatch):
    """67,600 objects do not fit 16-bit ImageJ labels: the warning that they are written as 32-bit float is
    raised while the outputs are written, after the segmentation, and is the input's all the same."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    dots = np.zeros((520, 520), np.uint8)
    dots[::2, ::2] = 255  # 260 x 260 objects of one pixel each
    tifffile.imwrite(tmp_path / "in" / "dots.tif", dots)
    with caplog.at_level(logging.WARNING):
        summary = run_batch("in", pipeline="threshold", out_dir="out", scheduler="sync", progress=False,
                            config={"min_size": 0})
    row = summary.iloc[0]
    text = ("FloatLabelsWarning: The largest label id, 67600, exceeds 16-bit; the ImageJ label image is written as "
            "32-bit float (ids exact up to 16,777,216).")
    assert row["status"] == "ok" and row["n_objects"] == 67600
    assert row["warnings"] == text
    assert _lines(caplog) == [f"in/dots.tif: {text}"]
    assert json.loads(Path(row["provenance"]).read_text())["warnings"] == [text]


def test_captures_of_two_threads_keep_apart_and_leave_nothing_behind():
    from labelfree.batch.messages import input_messages

    logger = logging.getLogger("labelfree")
    before = (warnings.showwarning, list(logger.handlers), logger.propagate, list(warnings.filters))
    both_open, warned = threading.Barrier(2), threading.Barrier(2)
    found: dict[str, list[str]] = {}

    def work(name: str) -> None:
        with input_messages(name, show=False) as messages:
            both_open.wait(timeout=10)
            warnings.warn(f"raised for {name}", UserWarning, stacklevel=1)
            logging.getLogger("labelfree.image").warning("logged for %s", name)
            warned.wait(timeout=10)
            with input_messages(name) as same:  # a step of the same input: the same capture
                assert same is messages
        found[name] = messages

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a.tif", "b.tif")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert found == {name: [f"UserWarning: raised for {name}", f"logged for {name}"] for name in ("a.tif", "b.tif")}
    assert (warnings.showwarning, list(logger.handlers), logger.propagate, list(warnings.filters)) == before
