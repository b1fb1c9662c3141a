"""Ctrl-C while report.html is written: the inputs are done, so the report is still written (a
second Ctrl-C keeps the earlier report) and the run ends with what its inputs did, not 130."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_data import tiny_movie

from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.errors import Cancelled


@pytest.fixture()
def movies(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        tiny_movie(folder / f"m{i}.tif", i)
    return folder


def ctrl_c_in_report(monkeypatch, times: int) -> list:
    """Make the next ``times`` reports raise KeyboardInterrupt halfway (after the thumbnails, at the plots)."""
    from labelfree.batch import report

    real, calls = report._plots, []

    def plots(tables):
        calls.append(1)
        if len(calls) <= times:
            raise KeyboardInterrupt
        return real(tables)

    monkeypatch.setattr(report, "_plots", plots)
    return calls


def without_ctrl_c(call, *args, **kwargs):
    """``call(...)``; a KeyboardInterrupt that gets out is a failure of the test (not the end of pytest)."""
    try:
        return call(*args, **kwargs)
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C in the report got out of the run")


def strays(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".labelfree"))


def test_ctrl_c_during_the_report_still_writes_it_and_exits_with_the_inputs_result(movies, tmp_path, monkeypatch,
                                                                                 capsys, caplog):
    calls = ctrl_c_in_report(monkeypatch, times=1)
    out = tmp_path / "out"
    code = without_ctrl_c(main, ["batch", str(movies), "-p", "threshold", "-o", str(out), "--scheduler", "sync",
                                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err  # every input finished: not 130
    assert "interrupted; no partial outputs" not in captured.err
    assert "Ctrl-C while writing report.html" in caplog.text  # says why the report took longer
    assert len(calls) == 2
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<b>m0</b>" in page and "<b>m1</b>" in page
    assert set(pd.read_csv(out / "batch_summary.csv")["status"]) == {"ok"}
    assert strays(out) == []


def test_a_second_ctrl_c_keeps_the_earlier_report_and_the_run_still_ends(movies, tmp_path, monkeypatch, caplog):
    out = tmp_path / "out"
    run_batch(movies, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    earlier = (out / "report.html").read_bytes()
    calls = ctrl_c_in_report(monkeypatch, times=2)
    summary = without_ctrl_c(run_batch, movies, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert len(calls) == 2 and list(summary["status"]) == ["skipped", "skipped"]
    assert "report" not in summary.attrs and "report.html not written (Ctrl-C)" in caplog.text
    assert (out / "report.html").read_bytes() == earlier  # the earlier complete report, not half a new one
    assert strays(out) == []


def test_ctrl_c_during_the_report_of_a_cancelled_run_still_writes_it(movies, tmp_path, monkeypatch):
    from labelfree.batch import runner

    def cancelled(jobs, rows, *, ready, **kwargs):
        ready()
        raise KeyboardInterrupt  # Ctrl-C before any input ran

    monkeypatch.setattr(runner, "_execute", cancelled)
    calls = ctrl_c_in_report(monkeypatch, times=1)
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        without_ctrl_c(run_batch, movies, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert len(calls) == 2
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<b>m0</b>" in page and "cancelled" in page
    assert set(pd.read_csv(out / "batch_summary.csv")["status"]) == {"cancelled"}
    assert strays(out) == []
