"""Inputs as a new user gives them: odd file names in a folder, one file reached twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.batch import collect_inputs, run_batch
from labelfree.errors import InputError


def _two_cells(path: Path) -> Path:
    img = np.zeros((48, 48), np.uint16)
    img[4:16, 4:16] = 900
    img[28:42, 26:40] = 700
    tifffile.imwrite(path, img)
    return path


def test_odd_file_names_get_plain_stems_and_run(tmp_path):
    """One file named 'scan .tif' (space before the suffix), ' lead.tif' or with a 230-character name
    refused the whole run ("The output name 'scan ' is not a plain file-name prefix", no file named);
    a hidden file given by name too. Their outputs get plain stems and every input runs."""
    folder = tmp_path / "in"
    folder.mkdir()
    long_name = "x" * 230
    for name in ("scan .tif", " lead.tif", f"{long_name}.tif", "plain.tif", ".hidden.tif"):
        _two_cells(folder / name)
    items = collect_inputs([folder, folder / ".hidden.tif"])
    stems = {it.path.name: it.stem for it in items}
    assert stems == {"scan .tif": "scan", " lead.tif": "lead", f"{long_name}.tif": "x" * 200,
                     "plain.tif": "plain", ".hidden.tif": "hidden"}
    summary = run_batch([folder, folder / ".hidden.tif"], pipeline="threshold", out_dir=tmp_path / "out",
                        scheduler="sync", progress=False)
    assert list(summary["status"]) == ["ok"] * 5
    assert list(summary["n_objects"]) == [2] * 5
    for stem in stems.values():
        assert (tmp_path / "out" / f"{stem}_labels.tif").is_file()


def test_a_file_reached_twice_runs_once(tmp_path):
    """A folder and a pattern (or the file itself) that both hold one file: the run was refused with
    "Two inputs would write the same outputs '_tmp_..._a'" (a stem made of the whole path)."""
    folder = tmp_path / "in"
    folder.mkdir()
    a, b = _two_cells(folder / "a.tif"), _two_cells(folder / "b.tif")
    items = collect_inputs([folder, a, str(folder / "*.tif"), folder / ".." / "in" / "b.tif"])
    assert [(it.path.name, it.stem) for it in items] == [("a.tif", "a"), ("b.tif", "b")]
    summary = run_batch([folder, a], pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync",
                        progress=False)
    assert list(summary["stem"]) == ["a", "b"] and list(summary["status"]) == ["ok", "ok"]
    assert b.is_file()


def test_one_file_with_two_settings_needs_names(tmp_path):
    _two_cells(tmp_path / "a.tif")
    (tmp_path / "m.csv").write_text("path,min_size\na.tif,10\na.tif,50\n")
    with pytest.raises(InputError, match="listed twice with different settings.*own 'name'"):
        collect_inputs(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("path,name,min_size\na.tif,small,10\na.tif,large,50\n")
    assert [it.stem for it in collect_inputs(tmp_path / "n.csv")] == ["small", "large"]


def test_report_of_long_file_names_draws_its_plots_without_warnings(tmp_path):
    """Two inputs with long names: their names in the plot's legend squeezed the plots away and
    matplotlib warned on the terminal ("Tight layout not applied ...") after every such run."""
    import warnings

    from labelfree.batch.report import write_report

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        _two_cells(folder / f"{i}{'x' * 198}.tif")
    summary = run_batch(folder, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False)
    assert list(summary["n_objects"]) == [2, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = write_report(summary, tmp_path / "out")
    text = report.read_text(encoding="utf-8")
    assert "alt='objects per frame and object sizes'" in text
    assert text.count(summary["stem"][0]) >= 1  # the table still names each input whole
