"""The files of a batch's folders that LabelFree does not read (a ``.czi`` beside the TIFFs) reach the run's record.

They were named in one log warning only: the summary's attrs, the printed report (``format_report``) and
``report.html`` said nothing of them, so a person who read only the report missed them. Now the note is in
``summary.attrs["notes"]`` (also of a cancelled run, and of one stopped by a full disk), a ``note: ...`` line of the
printed report before its ``summary:`` line, and an escaped paragraph of report.html.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelfree.batch import format_report, run_batch
from labelfree.batch.unread import unread_files_note
from labelfree.cli import main
from labelfree.errors import Cancelled, OutputDiskFullError

#: the first bytes of a Zeiss CZI file (its segment header)
CZI_HEAD = b"ZISRAWFILE" + bytes(22)


def _cells(k: int = 0, n: int = 64) -> np.ndarray:
    img = np.full((n, n), 10, np.uint8)
    img[8:20, 8:20] = 200
    img[30:50, 34:52 - k] = 200
    return img


def _folder(root, *, czi=("scan<1>&.czi",), n_images: int = 2):
    """Images ``img0.tif`` ... and empty CZI files; the default CZI's name needs escaping in HTML."""
    folder = root / "scans"
    folder.mkdir()
    for k in range(n_images):
        tifffile.imwrite(folder / f"img{k}.tif", _cells(k))
    for name in czi:
        (folder / name).write_bytes(CZI_HEAD)
    return folder


def _expected(folder) -> str:
    note = unread_files_note(folder)
    assert note is not None and note.startswith("batch: ")
    return note[len("batch: "):]


def test_the_summary_report_and_html_name_the_czi_files_left_out(tmp_path):
    folder = _folder(tmp_path)
    note = _expected(folder)
    assert note.startswith(f"the folder {folder} holds 1 file(s) in a microscope format that LabelFree does not read "
                           "(Zeiss CZI: scan<1>&.czi), which are not inputs of this run.")
    out = tmp_path / "out"
    summary = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(summary["status"]) == ["ok", "ok"]
    assert summary.attrs["notes"] == [note]
    lines = format_report(summary).splitlines()
    assert f"note: {note}" in lines
    assert lines.index(f"note: {note}") == lines.index(f"summary: {out / 'batch_summary.csv'}") - 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"<p class='runnote'>Note: {html.escape(note)}</p>" in page
    assert "scan&lt;1&gt;&amp;.czi" in page and "scan<1>" not in page  # escaped
    assert page.index("runnote'>Note:") < page.index("<table>")  # above the rows


def test_a_run_without_such_files_has_no_notes(tmp_path):
    folder = _folder(tmp_path, czi=())
    out = tmp_path / "out"
    summary = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert summary.attrs["notes"] == []
    assert "note:" not in format_report(summary)
    assert "runnote'>" not in (out / "report.html").read_text(encoding="utf-8")


def test_inputs_given_as_a_generator_are_listed_and_noted(tmp_path):
    folder = _folder(tmp_path, czi=("a.czi", "b.czi"))
    summary = run_batch((p for p in [folder]), pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync",
                        progress=False)
    assert len(summary) == 2 and summary.attrs["notes"] == [_expected(folder)]
    assert "2 file(s) in a microscope format that LabelFree does not read (Zeiss CZI: a.czi, b.czi)" in \
        summary.attrs["notes"][0]


def test_the_cli_prints_the_note_before_the_summary_line(tmp_path, capsys):
    folder = _folder(tmp_path)
    out = tmp_path / "out"
    code = main(["batch", str(folder), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0 and printed[0] == "2 input(s): 2 ok"
    notes = [line for line in printed if line.startswith("note: ")]
    assert notes == [f"note: {_expected(folder)}"]
    assert printed[printed.index(notes[0]) + 1] == f"summary: {out / 'batch_summary.csv'}"
    assert "bfconvert" in notes[0]


def test_a_cancelled_run_keeps_the_note_in_its_summary_and_report(tmp_path, monkeypatch):
    from labelfree.batch import runner

    folder = _folder(tmp_path, n_images=3)
    seen = []
    real = runner._write_report

    def keep(summary, out):
        seen.append(summary)
        real(summary, out)

    monkeypatch.setattr(runner, "_write_report", keep)

    def stop_after_one(done, total, message):
        if done >= 1:
            raise Cancelled("stop")

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=stop_after_one)
    statuses = list(pd.read_csv(out / "batch_summary.csv")["status"])
    assert statuses.count("cancelled") == 2
    assert len(seen) == 1 and seen[0].attrs["notes"] == [_expected(folder)]
    assert f"Note: {html.escape(_expected(folder))}" in (out / "report.html").read_text(encoding="utf-8")


def test_a_run_stopped_by_a_full_disk_keeps_the_note(tmp_path, monkeypatch):
    from labelfree.batch import runner

    def full(jobs, rows, *, ready, **kwargs):
        ready()
        raise OutputDiskFullError("No space left on device", folder=str(tmp_path / "out"), stem="img0")

    monkeypatch.setattr(runner, "_execute", full)
    folder = _folder(tmp_path)
    with pytest.raises(OutputDiskFullError) as err:
        run_batch(folder, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False)
    assert err.value.summary.attrs["notes"] == [_expected(folder)]
    assert "runnote'>Note: the folder" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_format_report_prints_each_note_of_a_summary(tmp_path):
    summary = pd.DataFrame({"status": ["ok"], "n_objects": [3], "seconds": [0.5], "input": ["a.tif"],
                            "stem": ["a"], "error": [""], "warnings": [""]})
    summary.attrs.update(path="/out/batch_summary.csv", notes=["first thing", "second thing"])
    assert format_report(summary).splitlines()[-3:] == ["note: first thing", "note: second thing",
                                                        "summary: /out/batch_summary.csv"]
    summary.attrs["notes"] = []
    assert "note:" not in format_report(summary)
