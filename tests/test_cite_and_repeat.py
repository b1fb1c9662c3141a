"""What a reviewer needs to cite and repeat a run: ``labelfree --version`` names the git commit (and local
changes) of a source checkout, the provenance records whether the source had uncommitted changes and a rerun
says so, a label TIFF given as ``--config`` repeats its run as its ``_provenance.json`` does, and a batch
report / summary says how the run was made and keeps the first run's timings when a rerun skips everything."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree import __version__, _reproduce
from labelfree._reproduce import RecordedRun
from labelfree.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHANGES = "ab" * 32


def _blobs() -> np.ndarray:
    plane = np.zeros((64, 64), np.uint16)
    plane[10:20, 10:20] = plane[40:52, 30:44] = 1000
    return plane


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


# -- 1. the version and the source's local changes -------------------------------------------------------------------

def test_version_names_the_commit_and_local_changes(capsys, monkeypatch):
    monkeypatch.setattr(_reproduce, "_fixed_software", lambda: (("git_commit", COMMIT), ("git_dirty", True)))
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"labelfree {__version__} (git commit {COMMIT} + local changes)\n"
    monkeypatch.setattr(_reproduce, "_fixed_software", lambda: (("git_commit", COMMIT), ("git_dirty", False)))
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"labelfree {__version__} (git commit {COMMIT})\n"
    monkeypatch.setattr(_reproduce, "_fixed_software", lambda: (("python", "3.11"),))  # installed: no checkout
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"labelfree {__version__}\n"


def test_version_and_provenance_of_this_checkout_say_its_commit_and_changes(capsys):
    from labelfree._config import provenance

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("LabelFree does not run from a git checkout here, or git is not installed")
    head = _git("rev-parse", "HEAD", cwd=ROOT).strip()
    dirty = bool(_git("diff", "HEAD", "--", "src", cwd=ROOT).strip())
    with pytest.raises(SystemExit):
        main(["--version"])
    said = capsys.readouterr().out
    assert said == f"labelfree {__version__} (git commit {head}{' + local changes' if dirty else ''})\n"
    recorded = provenance("threshold")["software"]
    assert recorded["git_commit"] == head and recorded["git_dirty"] is dirty
    assert ("git_changes_sha256" in recorded) is dirty


def test_git_changes_counts_tracked_source_files_only(tmp_path):
    from labelfree._reproduce import git_changes

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "src" / "pkg").mkdir(parents=True)
    (repo / "src" / "pkg" / "a.py").write_text("x = 1\n")
    (repo / "README.md").write_text("hi\n")
    _git("init", "-q", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=repo)
    assert git_changes(repo) == ""
    (repo / "README.md").write_text("changed, outside src\n")
    (repo / "src" / "pkg" / "new.py").write_text("untracked\n")
    assert git_changes(repo) == ""
    (repo / "src" / "pkg" / "a.py").write_text("x = 2\n")
    first = git_changes(repo)
    assert first is not None and len(first) == 64
    _git("add", "src/pkg/a.py", cwd=repo)  # staged: still uncommitted
    assert git_changes(repo) == first
    (repo / "src" / "pkg" / "a.py").write_text("x = 3\n")
    assert git_changes(repo) not in ("", first)
    assert git_changes(tmp_path / "nowhere") is None and git_changes(None) is None


def test_a_rerun_says_that_the_recorded_run_had_local_changes(caplog, monkeypatch):
    now = {"numpy": "2.0.2", "git_commit": COMMIT, "git_dirty": False}
    then = {**now, "git_dirty": True, "git_changes_sha256": CHANGES}
    record = {"pipeline": "threshold", "config": {}, "version": __version__, "software": then}
    run = RecordedRun(record)
    assert run.software_changes(torch=False, now=now, version=__version__) == [
        "local changes: yes (sha256 abababababab) -> no"]
    # the same changes on the same commit: the same code, nothing to say
    assert run.software_changes(torch=False, now=then, version=__version__) == []
    # other changes on the same commit, and changes made here to a clean recorded run, are said too
    assert run.software_changes(torch=False, now={**then, "git_changes_sha256": "cd" * 32}, version=__version__) == [
        "local changes: yes (sha256 abababababab) -> yes (sha256 cdcdcdcdcdcd)"]
    assert RecordedRun({**record, "software": now}).software_changes(torch=False, now=then, version=__version__) == [
        "local changes: no -> yes (sha256 abababababab)"]
    monkeypatch.setattr(_reproduce, "software", lambda: dict(now))
    caplog.set_level(logging.WARNING)
    run.warn_software(torch=False)
    (said,) = [r.getMessage() for r in caplog.records if r.name == "labelfree._reproduce"]
    assert "(recorded -> now): local changes: yes (sha256 abababababab) -> no." in said
    assert said.endswith("The recorded run's LabelFree had uncommitted changes to its source (its software's "
                         "git_dirty): no commit holds that code, so its commit alone does not repeat it; the changes "
                         "(git diff in its checkout) do, and their git_changes_sha256 tells them.")


# -- 3. a label TIFF given as --config --------------------------------------------------------------------------------

def test_a_label_tiff_given_as_config_repeats_its_run_as_its_provenance_does(tmp_path):
    from labelfree._config import provenance_of
    from labelfree.io import read_provenance
    from labelfree.threshold import ThresholdConfig

    image = tmp_path / "cells.tif"
    tifffile.imwrite(image, _blobs())
    first = tmp_path / "first"
    assert main(["threshold", str(image), "-o", str(first), "-q", "--set", "min_size=20", "--set",
                 "method=li"]) == 0
    labels_file, record_file = first / "cells_labels.tif", first / "cells_provenance.json"
    from_tiff, from_json = ThresholdConfig.from_file(labels_file), ThresholdConfig.from_file(record_file)
    assert from_tiff == from_json and from_tiff.min_size == 20 and from_tiff.method == "li"
    assert provenance_of(from_tiff).record == read_provenance(labels_file)
    assert provenance_of(labels_file).record == read_provenance(labels_file)
    record = json.loads(record_file.read_text(encoding="utf-8"))
    assert {k: v for k, v in record.items() if k not in ("complete", "outputs")} == provenance_of(from_tiff).record
    again = {}
    for name, config in (("tiff", labels_file), ("json", record_file)):
        assert main(["threshold", str(image), "--config", str(config), "-o", str(tmp_path / name), "-q"]) == 0
        again[name] = json.loads((tmp_path / name / "cells_provenance.json").read_text(encoding="utf-8"))
    assert again["tiff"]["config"] == again["json"]["config"] == record["config"]
    assert np.array_equal(tifffile.imread(tmp_path / "tiff" / "cells_labels.tif"),
                          tifffile.imread(tmp_path / "json" / "cells_labels.tif"))
    assert np.array_equal(tifffile.imread(tmp_path / "tiff" / "cells_labels.tif"), tifffile.imread(labels_file))


def test_a_tiff_without_a_record_or_a_binary_file_given_as_config_says_what_to_give(tmp_path, capsys):
    from labelfree.errors import ConfigError
    from labelfree.threshold import ThresholdConfig

    image = tmp_path / "cells.tif"
    tifffile.imwrite(image, _blobs())
    with pytest.raises(ConfigError) as e:
        ThresholdConfig.from_file(image)
    assert str(e.value) == (
        f"Config file {image} is a TIFF image that stores no LabelFree provenance record (a label image LabelFree "
        "wrote stores its run's; one saved again elsewhere, e.g. by Fiji, may not). Give the run's "
        "<stem>_provenance.json, or a JSON or YAML config file.")
    binary = tmp_path / "settings.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xe0\xff")
    with pytest.raises(ConfigError, match=r"it is no text file .* a run's <stem>_provenance.json and the label image "
                                          r"it wrote \(<stem>_labels.tif\) are read as its config too"):
        ThresholdConfig.from_file(binary)


# -- 2 and 4. a batch run's report and summary ------------------------------------------------------------------------

def _summary(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


ARGV = ["batch", "../in", "-p", "threshold", "-o", "../out", "--scheduler", "sync", "--no-progress", "-q",
        "--set", "min_size=5"]


def _first_run(tmp_path: Path, monkeypatch) -> tuple[Path, list[dict[str, str]]]:
    """A batch run of two images from ``tmp_path/bin`` into ``../out``: the output folder and its summary."""
    (tmp_path / "in").mkdir()
    (tmp_path / "bin").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", _blobs())
    tifffile.imwrite(tmp_path / "in" / "b.tif", _blobs()[::-1].copy())
    monkeypatch.chdir(tmp_path / "bin")
    assert main(ARGV) == 0
    out = (tmp_path / "out").resolve()
    first = _summary(out / "batch_summary.csv")
    assert [r["status"] for r in first] == ["ok", "ok"]
    return out, first


def test_a_batch_summary_writes_its_paths_without_dotdot(tmp_path, monkeypatch, capsys):
    out, first = _first_run(tmp_path, monkeypatch)
    for row in first:  # /tmp/x/out/a_labels.tif, not /tmp/x/bin/../out/a_labels.tif
        assert row["input"] == str((tmp_path / "in" / f"{row['stem']}.tif").resolve())
        assert row["labels"] == str(out / f"{row['stem']}_labels.tif")
        assert row["table"] == str(out / f"{row['stem']}_table.csv")
        assert row["provenance"] == str(out / f"{row['stem']}_provenance.json")
    assert main([a for a in ARGV if a != "-q"]) == 0
    said = capsys.readouterr().out
    assert f"summary: {out / 'batch_summary.csv'}\n" in said and f"report: {out / 'report.html'}" in said


def test_a_batch_rerun_that_skips_everything_keeps_the_first_runs_seconds(tmp_path, monkeypatch):
    out, first = _first_run(tmp_path, monkeypatch)
    assert main(ARGV) == 0  # everything skipped
    again = _summary(out / "batch_summary.csv")
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    assert [(r["seconds"], r["worker"]) for r in again] == [(r["seconds"], r["worker"]) for r in first]
    assert all(float(r["seconds"]) > 0 and r["worker"] for r in again)
    assert [(r["labels"], r["n_objects"]) for r in again] == [(r["labels"], r["n_objects"]) for r in first]
    assert main(ARGV) == 0  # and again: the seconds a skipped row kept are kept
    assert [r["seconds"] for r in _summary(out / "batch_summary.csv")] == [r["seconds"] for r in first]
    # a result made again since by a command of its own: the earlier row did not time it
    later = time.time() + 5
    os.utime(out / "a_provenance.json", (later, later))
    assert main(ARGV) == 0
    assert [r["seconds"] for r in _summary(out / "batch_summary.csv")] == ["", first[1]["seconds"]]


def test_a_batch_report_says_how_the_run_ran_also_when_it_skipped_everything(tmp_path, monkeypatch):
    import pandas as pd

    from labelfree.batch.report import write_report

    out, _ = _first_run(tmp_path, monkeypatch)
    assert main(ARGV) == 0  # everything skipped
    page = (out / "report.html").read_text(encoding="utf-8")
    run = page[page.index("<h2>Run</h2>"):]
    run = run[:run.index("</table>")]
    assert "<tr><th>pipeline</th><td>threshold</td></tr>" in run
    assert ("<code>labelfree batch ../in -p threshold -o ../out --scheduler sync --no-progress -q --set "
            f"min_size=5</code> <span class='note'>in {tmp_path / 'bin'}</span>") in run
    assert f"<tr><th>LabelFree</th><td>{__version__}" in run
    assert "&quot;min_size&quot;: 5" in run and "&quot;method&quot;: &quot;otsu&quot;" in run
    assert "<tr><th>automatic values</th><td>a: threshold=" in run and "<br>b: threshold=" in run
    assert "results made by another run" not in run  # the same command made them
    # a rerun by another command: its report names the run that made the results it skipped
    monkeypatch.chdir(tmp_path)
    assert main(["batch", "in", "-p", "threshold", "-o", "out", "--scheduler", "sync", "--no-progress", "-q",
                 "--set", "min_size=5"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert ("<tr><th>results made by another run</th><td>a, b: command labelfree batch ../in -p threshold -o ../out "
            f"--scheduler sync --no-progress -q --set min_size=5 (in {tmp_path / 'bin'})</td></tr>") in page
    # a report written again from the summary read back from its CSV: the run of its results
    page = write_report(pd.read_csv(out / "batch_summary.csv"), out).read_text(encoding="utf-8")
    assert "<h2>Run</h2>" in page and "<code>labelfree batch ../in -p threshold" in page
