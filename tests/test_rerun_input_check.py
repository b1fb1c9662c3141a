"""A run repeated from its provenance record says when its image is not the file that run read.

``labelfree PIPELINE OTHER.tif --config out/x_provenance.json`` and ``run_pipeline(config=record)`` with an image
read from a file compare the file's SHA-256 with the one the record's ``inputs`` hold and warn once, naming both
files (:meth:`labelfree._reproduce.RecordedRun.input_change`); the same file, or the same bytes under another
name, say nothing. Before, only other software was said. A record written before ``git_dirty`` existed, of this
checkout's commit, adds that it cannot tell local edits to the software warning.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import tifffile

from labelfree import _reproduce
from labelfree._reproduce import RecordedRun
from labelfree.cli import main
from labelfree.io import read_image
from labelfree.run import run_pipeline


def _blobs(shift: int = 0) -> np.ndarray:
    plane = np.zeros((64, 64), np.uint16)
    plane[10 + shift:20 + shift, 10:20] = plane[40:52, 30:44] = 1000
    return plane


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "labelfree._reproduce" and r.levelno == logging.WARNING]


def _input_warnings(caplog) -> list[str]:
    return [m for m in _said(caplog) if "image" in m or "has changed since" in m]


@pytest.fixture
def first(tmp_path):
    """``a.tif`` segmented into ``one/``: its record (path) and that record's sha256 of ``a.tif``."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _blobs())
    assert main(["threshold", str(path), "-o", str(tmp_path / "one"), "-q"]) == 0
    record = tmp_path / "one" / "a_provenance.json"
    inputs = json.loads(record.read_text(encoding="utf-8"))["inputs"]
    assert inputs["image"]["path"] == str(path)
    return record


def _rerun(tmp_path, image, record, out: str) -> dict:
    assert main(["threshold", str(image), "--config", str(record), "-o", str(tmp_path / out), "-q"]) == 0
    return json.loads((tmp_path / out / f"{image.stem}_provenance.json").read_text(encoding="utf-8"))


def test_the_command_line_warns_once_of_another_image_and_records_it(tmp_path, first, caplog):
    other = tmp_path / "b.tif"
    tifffile.imwrite(other, _blobs(shift=5))
    then = json.loads(first.read_text(encoding="utf-8"))["inputs"]["image"]["sha256"]
    caplog.set_level(logging.WARNING)
    again = _rerun(tmp_path, other, first, "two")
    now = again["inputs"]["image"]["sha256"]
    said = (f"Config file {first} is the provenance of a run of another image: that run read {tmp_path / 'a.tif'}, "
            f"this run reads {other} (sha256 then {then[:12]}, now {now[:12]}). Its settings are applied to this "
            "image, so the labels are not that run's; give that image to repeat them.")
    assert _said(caplog) == [said]  # once: run_pipeline does not say it again
    assert again["warnings"] == [said]


def test_the_same_file_or_the_same_bytes_under_another_name_say_nothing(tmp_path, first, caplog):
    copy = tmp_path / "copy" / "renamed.tif"
    copy.parent.mkdir()
    shutil.copyfile(tmp_path / "a.tif", copy)
    caplog.set_level(logging.WARNING)
    assert "warnings" not in _rerun(tmp_path, tmp_path / "a.tif", first, "same")
    assert "warnings" not in _rerun(tmp_path, copy, first, "copied")
    assert _said(caplog) == []


def test_a_file_changed_since_the_run_is_said_as_changed(tmp_path, first, caplog):
    tifffile.imwrite(tmp_path / "a.tif", _blobs(shift=3))
    caplog.set_level(logging.WARNING)
    again = _rerun(tmp_path, tmp_path / "a.tif", first, "changed")
    (said,) = _said(caplog)
    assert said.startswith(f"Config file {first} is the provenance of a run of {tmp_path / 'a.tif'}, which has "
                           "changed since that run read it (sha256 then ")
    assert said.endswith("its settings are applied to the image as it is now, so the labels may differ from that "
                         "run's.")
    assert again["warnings"] == [said]


def test_run_pipeline_warns_for_an_image_read_from_another_file(tmp_path, first, caplog):
    other = tmp_path / "b.tif"
    tifffile.imwrite(other, _blobs(shift=5))
    shutil.copyfile(tmp_path / "a.tif", tmp_path / "c.tif")
    record = json.loads(first.read_text(encoding="utf-8"))
    caplog.set_level(logging.WARNING)
    run_pipeline("threshold", read_image(tmp_path / "a.tif"), config=first)
    run_pipeline("threshold", read_image(tmp_path / "c.tif"), config=record)
    run_pipeline("threshold", _blobs(shift=5), config=record)  # no file: nothing to compare
    assert _said(caplog) == []
    run_pipeline("threshold", read_image(other), config=record)
    (said,) = _input_warnings(caplog)
    assert said.startswith(f"The provenance record given as config= is the provenance of a run of another image: "
                           f"that run read {tmp_path / 'a.tif'}, this run reads {other} (sha256 then "
                           f"{record['inputs']['image']['sha256'][:12]}, now ")


def test_a_recorded_size_that_differs_says_it_without_hashing(tmp_path):
    path = tmp_path / "b.tif"
    path.write_bytes(b"12345")

    def no_hash():
        raise AssertionError("hashed although the sizes differ")

    run = RecordedRun({"inputs": {"image": {"path": str(tmp_path / "a.tif"), "sha256": "ab" * 32, "size": 9}}})
    assert run.input_change(path, sha256=no_hash).endswith(
        f"that run read {tmp_path / 'a.tif'}, this run reads {path} (size then 9 bytes, now 5). Its settings are "
        "applied to this image, so the labels are not that run's; give that image to repeat them.")
    assert run.input_change(path, sha256="ab" * 32) is not None  # the size differs: not the same bytes
    same = RecordedRun({"inputs": {"image": {"path": str(tmp_path / "a.tif"), "sha256": "ab" * 32, "size": 5}}})
    assert same.input_change(path, sha256="ab" * 32) is None
    assert same.without("input_options").input_change(path, sha256="cd" * 32) is None  # a caller checked it
    assert RecordedRun({"inputs": {"image": {"path": str(tmp_path)}}}).input_change(path, sha256="cd" * 32) is None


COMMIT = "0123456789abcdef0123456789abcdef01234567"
HINT = (" The record was written before git_dirty was recorded, so it cannot tell whether its run's checkout of "
        "this git commit had local edits to its source.")


@pytest.mark.parametrize("recorded, now, hint", [
    ({"git_commit": COMMIT}, {"git_commit": COMMIT, "git_dirty": False}, True),
    ({"git_commit": COMMIT}, {"git_commit": COMMIT}, True),
    ({"git_commit": COMMIT, "git_dirty": False}, {"git_commit": COMMIT, "git_dirty": False}, False),
    ({"git_commit": "f" * 40}, {"git_commit": COMMIT, "git_dirty": False}, False),
    ({}, {}, False),
])
def test_a_record_without_git_dirty_of_this_commit_says_it_cannot_tell_local_edits(monkeypatch, caplog, recorded,
                                                                                   now, hint):
    monkeypatch.setattr(_reproduce, "software", lambda: {"numpy": "2.0.0", **now})
    run = RecordedRun({"version": "0.1.0", "software": {"numpy": "1.0.0", **recorded}})
    caplog.set_level(logging.WARNING)
    from labelfree import __version__

    run.record["version"] = __version__
    run.warn_software(torch=False)
    (said,) = _said(caplog)
    assert "numpy: 1.0.0 -> 2.0.0" in said
    assert said.endswith(HINT) is hint
    assert said.endswith("the same versions and settings repeat them." + (HINT if hint else ""))
