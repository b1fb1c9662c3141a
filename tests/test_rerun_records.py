"""A run repeated from its record says what differs in a folder of frames or an OME-Zarr image it reads.

A record lists such an input's files (:func:`labelfree._input_digest.folder_record`: names, sizes, SHA-256); a rerun
(``labelfree PIPELINE FOLDER --config out/x_provenance.json``, a label TIFF as ``--config``, ``run_pipeline``)
warns once when they differ and names the files added, missing or changed. A record of a folder of frames written
before (``frames``, ``first``, ``last``, ``frames_sha256`` alone, as LabelFree wrote them until now) is compared
too; an OME-Zarr record of then (its path alone) and a file's record without ``size`` keep working as they did.
The records are written here as their JSON holds them: no older code runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree._reproduce import RecordedRun
from labelfree.cli import main
from labelfree.image import to_dataarray
from labelfree.io import read_image, write_labels
from labelfree.run import run_pipeline


def _frame(shift: int = 0) -> np.ndarray:
    plane = np.zeros((48, 48), np.uint16)
    plane[8 + shift:18 + shift, 8:18] = plane[30:40, 26:38] = 1000
    return plane


def _frames(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        tifffile.imwrite(folder / f"f_{i:03d}.tif", _frame(i))
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listed(folder: Path, files: list[Path]) -> dict:
    """What a record of this version holds of a folder input besides its path, computed here from its files."""
    rows = sorted((f.relative_to(folder).as_posix(), f.stat().st_size, _sha(f)) for f in files)
    digest = hashlib.sha256("".join(f"{r}\0{s}\0{h}\n" for r, s, h in rows).encode()).hexdigest()
    return {"files": len(rows), "bytes": sum(s for _, s, _ in rows), "hashed": True, "files_sha256": digest,
            "listing": {r: [s, h[:16]] for r, s, h in rows}}


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "labelfree._reproduce" and r.levelno == logging.WARNING]


def _record(tmp_path: Path, image: Path, **entries) -> Path:
    """The record of a threshold run of ``image`` (run here), its ``inputs.image`` completed with ``entries``."""
    assert main(["threshold", str(image), "-o", str(tmp_path / "one"), "-q"]) == 0
    path = tmp_path / "one" / f"{image.stem}_provenance.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["inputs"]["image"] = {"path": str(image), **entries}
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def _rerun(tmp_path: Path, image: Path, config: Path, out: str) -> list[str]:
    """The warnings a rerun recorded (none: [])."""
    assert main(["threshold", str(image), "--config", str(config), "-o", str(tmp_path / out), "-q"]) == 0
    record = json.loads((tmp_path / out / f"{image.stem}_provenance.json").read_text(encoding="utf-8"))
    return [w for w in record.get("warnings", []) if "is the provenance of a run of" in w]


def _changed(record: Path, folder: Path, what: str) -> str:
    return (f"Config file {record} is the provenance of a run of {folder}, which has changed since that run read it "
            f"({what}): its settings are applied to the image as it is now, so the labels may differ from that "
            "run's.")


def test_a_folder_of_frames_that_changed_names_the_files(tmp_path, caplog):
    frames = _frames(tmp_path / "frames")
    record = _record(tmp_path, frames, **_listed(frames, sorted(frames.glob("*.tif"))),
                     suffixes=[".btf", ".tif", ".tiff"])
    (frames / "notes.txt").write_text("not a frame", encoding="utf-8")  # not read: not compared
    caplog.set_level(logging.WARNING)
    assert _rerun(tmp_path, frames, record, "same") == []
    assert _said(caplog) == []
    kept = (frames / "f_001.tif").read_bytes()
    tifffile.imwrite(frames / "f_001.tif", _frame(9))  # the same size, other pixels
    assert _rerun(tmp_path, frames, record, "changed") == [_changed(record, frames, "changed: f_001.tif")]
    (frames / "f_001.tif").write_bytes(kept)
    tifffile.imwrite(frames / "f_003.tif", _frame(3))
    assert _rerun(tmp_path, frames, record, "added") == [_changed(record, frames, "files added: f_003.tif")]
    other = tmp_path / "other"
    shutil.copytree(frames, other)
    (other / "f_000.tif").unlink()
    said = _rerun(tmp_path, other, record, "out_other")
    assert said == [f"Config file {record} is the provenance of a run of another image: that run read {frames}, this "
                    f"run reads {other} (files added: f_003.tif; missing: f_000.tif). Its settings are applied to "
                    "this image, so the labels are not that run's; give that image to repeat them."]
    labels = write_labels(tmp_path / "frames_labels.tif",  # a label TIFF that stores the record
                          to_dataarray(tifffile.imread(tmp_path / "one" / "frames_labels.tif"), dims="TYX"),
                          provenance=json.loads(record.read_text(encoding="utf-8")))
    assert _rerun(tmp_path, frames, labels, "from_tiff") == [_changed(labels, frames, "files added: f_003.tif")]
    caplog.clear()
    run_pipeline("threshold", read_image(frames), config=json.loads(record.read_text(encoding="utf-8")))
    assert _said(caplog) == [_changed(record, frames, "files added: f_003.tif").replace(
        f"Config file {record}", "The provenance record given as config=")]


def test_an_older_record_of_a_folder_of_frames_is_compared_by_its_frames(tmp_path):
    """A record as LabelFree wrote it before (checkout cceada8): the frames, first and last names, frames_sha256."""
    frames = _frames(tmp_path / "frames")
    digest = hashlib.sha256("".join(f"{f.name}\0{_sha(f)}\n" for f in sorted(frames.glob("*.tif"))).encode())
    record = _record(tmp_path, frames, first="f_000.tif", frames=3, frames_sha256=digest.hexdigest(),
                     last="f_002.tif")
    assert _rerun(tmp_path, frames, record, "same") == []
    tifffile.imwrite(frames / "f_003.tif", _frame(3))
    assert _rerun(tmp_path, frames, record, "added") == [
        _changed(record, frames, "3 frames then (f_000.tif to f_002.tif), 4 now (f_000.tif to f_003.tif)")]
    (frames / "f_003.tif").unlink()
    tifffile.imwrite(frames / "f_002.tif", _frame(7))
    (said,) = _rerun(tmp_path, frames, record, "changed")
    now = hashlib.sha256("".join(f"{f.name}\0{_sha(f)}\n" for f in sorted(frames.glob("*.tif"))).encode())
    assert said == _changed(record, frames, f"frames_sha256 then {digest.hexdigest()[:12]}, now "
                                            f"{now.hexdigest()[:12]}")


def test_an_ome_zarr_image_is_compared_without_its_label_images(tmp_path):
    from labelfree.io.ngff import write_ngff, write_ngff_labels

    tifffile.imwrite(tmp_path / "a.tif", _frame())
    image = write_ngff(tmp_path / "img.zarr", read_image(tmp_path / "a.tif"), chunks=(24, 24))
    files = [f for f in image.rglob("*") if f.is_file()]
    record = _record(tmp_path, image, **_listed(image, files))
    old = _record(tmp_path / "old", image)  # an OME-Zarr record of then: its path alone, nothing to compare
    write_ngff_labels(image, run_pipeline("threshold", read_image(image)))  # labels/ beside the image: not it
    assert (image / "labels").is_dir()
    assert _rerun(tmp_path, image, record, "labelled") == []
    chunk = image / "0" / "0" / "0"  # a chunk of the blobs (chunks of zeros are not written)
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 1
    chunk.write_bytes(bytes(data))
    assert _rerun(tmp_path, image, record, "changed") == [_changed(record, image, "changed: 0/0/0")]
    assert _rerun(tmp_path, image, old, "old") == []


def test_a_folder_of_many_files_is_listed_as_runs(tmp_path, monkeypatch):
    from labelfree import _input_digest
    from labelfree._input_digest import folder_changes, folder_record

    monkeypatch.setattr(_input_digest, "LISTED", 4)
    frames = _frames(tmp_path / "frames", 10)
    entry = folder_record(frames, suffixes=(".tif",))
    size = (frames / "f_000.tif").stat().st_size  # every frame's
    assert [r[:4] for r in entry["ranges"]] == [
        ["f_000.tif", "f_002.tif", 3, 3 * size], ["f_003.tif", "f_005.tif", 3, 3 * size],
        ["f_006.tif", "f_008.tif", 3, 3 * size], ["f_009.tif", "f_009.tif", 1, size]]
    assert "listing" not in entry and entry["files"] == 10 and entry["suffixes"] == [".tif"]
    assert folder_changes(entry, frames) is None
    tifffile.imwrite(frames / "f_004.tif", _frame(8))
    assert folder_changes(entry, frames) == "changed: f_003.tif to f_005.tif (3 files then, 3 now)"
    tifffile.imwrite(frames / "f_004.tif", _frame(4))
    tifffile.imwrite(frames / "f_0025.tif", _frame(4))  # between two runs: named
    assert folder_changes(entry, frames) == "files added: f_0025.tif"
    (frames / "f_0025.tif").unlink()
    (frames / "f_007.tif").unlink()
    assert folder_changes(entry, frames) == "changed: f_006.tif to f_008.tif (3 files then, 2 now)"


def test_names_and_sizes_first_then_contents(tmp_path, monkeypatch):
    from labelfree import _input_digest
    from labelfree._input_digest import folder_changes, folder_record

    frames = _frames(tmp_path / "frames", 5)
    entry = folder_record(frames, suffixes=(".tif",))
    assert entry == {**_listed(frames, sorted(frames.glob("*.tif"))), "suffixes": [".tif"]}
    (frames / "f_004.tif").write_bytes(b"short")
    (frames / "f_000.tif").unlink()

    def no_hash(path):
        raise AssertionError(f"hashed {path} although the names and sizes differ")

    monkeypatch.setattr(_input_digest, "_sha256", no_hash)
    assert folder_changes(entry, frames) == "missing: f_000.tif; changed: f_004.tif"
    for i in range(6, 11):
        tifffile.imwrite(frames / f"f_{i:03d}.tif", _frame())
    assert folder_changes(entry, frames) == ("files added: f_006.tif, f_007.tif, f_008.tif and 2 more; missing: "
                                             "f_000.tif; changed: f_004.tif")
    monkeypatch.setattr(_input_digest, "HASH_LIMIT", 10)  # too large to hash: names and sizes alone
    unhashed = folder_record(frames, suffixes=(".tif",))
    assert unhashed["hashed"] is False and unhashed["listing"]["f_001.tif"] == [(frames / "f_001.tif").stat().st_size]
    tifffile.imwrite(frames / "f_001.tif", _frame(4))
    assert folder_changes(unhashed, frames) is None


@pytest.mark.parametrize("image, what", [
    ({"sha256": "ab" * 32}, "a file then, a folder now"),  # a record of a file, without size (as all before)
    ({"files_sha256": "ab" * 32, "listing": {"f_000.tif": [9, "ab" * 8]}}, "missing: f_000.tif"),
])
def test_a_file_recorded_and_a_folder_read_differ(tmp_path, image, what):
    folder = tmp_path / "frames"
    folder.mkdir()
    run = RecordedRun({"inputs": {"image": {"path": str(tmp_path / "a.tif"), **image}}})
    assert run.input_change(folder, sha256=lambda: pytest.fail("a folder is not hashed as a file")) == (
        f"The provenance record given as config= is the provenance of a run of another image: that run read "
        f"{tmp_path / 'a.tif'}, this run reads {folder} ({what}). Its settings are applied to this image, so the "
        "labels are not that run's; give that image to repeat them.")
    (tmp_path / "b.tif").write_bytes(b"12345")
    folder_run = RecordedRun({"inputs": {"image": {"path": str(folder), "files_sha256": "ab" * 32,
                                                   "listing": {}}}})
    assert folder_run.input_change(tmp_path / "b.tif").endswith(f"this run reads {tmp_path / 'b.tif'} (a folder "
                                                                "then, a file now). Its settings are applied to this "
                                                                "image, so the labels are not that run's; give that "
                                                                "image to repeat them.")
    broken = RecordedRun({"inputs": {"image": {"path": str(folder), "files_sha256": "ab" * 32, "listing": [1]}}})
    assert broken.input_change(folder) is None  # a listing it cannot read: nothing said


def _older_record(path: Path, image: Path, created: str) -> Path:
    """A threshold run's record as LabelFree wrote it before it recorded its software (checkout eade312)."""
    record = {"complete": True, "config": {"dark_objects": False, "fill_holes": True, "method": "otsu", "min_size": 20,
                                           "split_touching": False, "threshold": None},
              "created": created, "inputs": {"image": {"path": str(image), "sha256": _sha(image)}},
              "outputs": {}, "pipeline": "threshold", "table_units": {"area": "pixel\u00b2"}, "version": "0.1.0"}
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_a_record_written_before_software_was_recorded_says_it_cannot_tell_the_code(tmp_path, caplog):
    """Such a record of a Motion run of 5 GOWT1 frames (checkouts aaef5c8 and eade312) gave 3 objects then, 6 when
    repeated now, and the rerun said nothing."""
    tifffile.imwrite(tmp_path / "a.tif", _frame())
    old = _older_record(tmp_path / "a_provenance.json", tmp_path / "a.tif", "2026-12-01T23:00:20+00:00")
    caplog.set_level(logging.WARNING)
    assert main(["threshold", str(tmp_path / "a.tif"), "--config", str(old), "-o", str(tmp_path / "again"),
                 "-q"]) == 0
    said = (f"Config file {old} is the provenance of a run whose software was not recorded (created "
            "2026-12-01T23:00:20+00:00 by LabelFree 0.1.0, before LabelFree recorded a run's git commit and library "
            "versions, on 2026-12-05): this run cannot tell whether it runs that run's code, which changed under the "
            "same version number, so its labels may differ from that run's. To repeat them, run the LabelFree of "
            "that run's date (its commit: git log -1 --until=2026-12-01T23:00:20+00:00 in a LabelFree checkout); "
            "this run's own record holds its software.")
    assert _said(caplog) == [said]  # once, and no word of the image: it is the one recorded
    record = json.loads((tmp_path / "again" / "a_provenance.json").read_text(encoding="utf-8"))
    assert record["warnings"] == [said] and isinstance(record["software"], dict)
    caplog.clear()
    since = _older_record(tmp_path / "b_provenance.json", tmp_path / "a.tif", "2026-12-05T09:00:00+00:00")
    run_pipeline("threshold", read_image(tmp_path / "a.tif"), config=since)  # software left out since: nothing
    assert _said(caplog) == []


def test_a_record_holds_the_size_and_files_of_its_input(tmp_path):
    from labelfree.io.ngff import write_ngff

    tifffile.imwrite(tmp_path / "a.tif", _frame())
    assert main(["threshold", str(tmp_path / "a.tif"), "-o", str(tmp_path / "one"), "-q"]) == 0
    record = tmp_path / "one" / "a_provenance.json"
    entry = json.loads(record.read_text(encoding="utf-8"))["inputs"]["image"]
    assert entry == {"path": str(tmp_path / "a.tif"), "size": (tmp_path / "a.tif").stat().st_size,
                     "sha256": _sha(tmp_path / "a.tif")}
    tifffile.imwrite(tmp_path / "a.tif", np.pad(_frame(), 8))  # the size tells (RecordedRun.input_change)
    assert _rerun(tmp_path, tmp_path / "a.tif", record, "grown") == [_changed(
        record, tmp_path / "a.tif", f"size then {entry['size']} bytes, now {(tmp_path / 'a.tif').stat().st_size}")]
    frames = _frames(tmp_path / "frames")
    assert main(["threshold", str(frames), "-o", str(tmp_path / "two"), "-q"]) == 0
    entry = json.loads((tmp_path / "two" / "frames_provenance.json").read_text(encoding="utf-8"))["inputs"]["image"]
    assert {k: entry[k] for k in ("files", "bytes", "hashed", "files_sha256", "listing")} == _listed(
        frames, sorted(frames.glob("*.tif")))
    image = write_ngff(tmp_path / "img.zarr", read_image(tmp_path / "a.tif"), chunks=(32, 32))
    assert main(["threshold", str(image), "-o", str(tmp_path / "three"), "-q"]) == 0
    entry = json.loads((tmp_path / "three" / "img_provenance.json").read_text(encoding="utf-8"))["inputs"]["image"]
    listed = _listed(image, [f for f in image.rglob("*") if f.is_file()])
    assert {k: entry[k] for k in ("files", "listing")} == {k: listed[k] for k in ("files", "listing")}
