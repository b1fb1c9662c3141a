"""The batch summary's counts are whole numbers, also when some inputs have none."""

from __future__ import annotations

import csv

import pandas as pd

from batch_data import tiny_movie

from labelfree.batch import run_batch


def test_counts_stay_integers_when_an_input_failed(tmp_path):
    for i in range(2):
        tiny_movie(tmp_path / f"m{i}.tif", i)
    (tmp_path / "plan.csv").write_text("path,method\nm0.tif,\nm1.tif,nonsense\n")
    out = tmp_path / "out"
    summary = run_batch(tmp_path / "plan.csv", pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(summary["status"]) == ["ok", "failed"]
    for column in ("n_objects", "n_frames"):
        assert summary[column].dtype == pd.Int64Dtype(), summary.dtypes
        assert summary[column].iloc[0] > 0 and pd.isna(summary[column].iloc[1])
    with open(out / "batch_summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["n_objects"] == str(summary["n_objects"].iloc[0]) and rows[0]["n_frames"] == "2"  # was 2.0
    assert rows[1]["n_objects"] == rows[1]["n_frames"] == ""
    page = (out / "report.html").read_text()
    assert "<td>failed</td><td></td><td></td>" in page  # no count: empty cells, not NA or nan
    assert f"<td>ok</td><td>{summary['n_objects'].iloc[0]}</td><td>2</td>" in page
    # a rerun reads its earlier result back: the finished input is skipped, its counts integers again
    again = run_batch(tmp_path / "plan.csv", pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(again["status"]) == ["skipped", "failed"]
    assert again["n_frames"].dtype == pd.Int64Dtype() and again["n_frames"].iloc[0] == 2


def test_the_report_of_a_run_with_a_damaged_input_shows_no_na(tmp_path):
    """A run whose input failed to read: its counts are pandas' NA, which the report showed as '<NA>'."""
    tiny_movie(tmp_path / "m0.tif", 0)
    good = (tmp_path / "m0.tif").read_bytes()
    (tmp_path / "damaged.tif").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    summary = run_batch(tmp_path, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert sorted(summary["status"]) == ["failed", "ok"]
    page = (out / "report.html").read_text()
    assert "&lt;NA&gt;" not in page and "<td>failed</td><td></td><td></td>" in page
