"""A folder of frames given as input is read once when its provenance is written (``frames_sha256`` and the
listing of :func:`labelfree._input_digest.folder_record` from the same digests), with the record as before; and
the drift message about a shift larger than the frame says its frame in ImageJ's counting in Fiji."""

from __future__ import annotations

import builtins
import hashlib
import io
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree import _input_digest
from labelfree._input_digest import folder_record
from labelfree.errors import InputError
from labelfree.io.outputs import InputRecord
from labelfree.io.sequence import FRAME_SUFFIXES, frames_record

NAMES = ["t0.tif", "t1.tif", "t2.tif", "t10.tif"]  # natural order differs from the order of path


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "movie"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in NAMES:
        tifffile.imwrite(folder / name, rng.integers(0, 4000, (12, 16), dtype=np.uint16))
    (folder / "metadata.txt").write_text("not a frame")
    return folder


@pytest.fixture
def opens(monkeypatch) -> Counter:
    """How often each file was opened (by ``open`` or ``Path.open``) while the test ran."""
    counted: Counter = Counter()
    real = builtins.open

    def counting(file, *args, **kwargs):
        if isinstance(file, (str, Path)):
            counted[Path(file).name] += 1
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return counted


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected(folder: Path, names: list[str]) -> dict:
    """The record of a folder of frames as it has been written: the digests computed here, file by file."""
    by_path = sorted(names)
    frames_sha = hashlib.sha256("".join(f"{n}\0{_sha(folder / n)}\n" for n in names).encode()).hexdigest()
    rows = [(n, (folder / n).stat().st_size, _sha(folder / n)) for n in by_path]
    files_sha = hashlib.sha256("".join(f"{n}\0{size}\0{sha}\n" for n, size, sha in rows).encode()).hexdigest()
    return {"path": str(folder), "frames": len(names), "first": names[0], "last": names[-1],
            "frames_sha256": frames_sha, "files": len(rows), "bytes": sum(r[1] for r in rows), "hashed": True,
            "files_sha256": files_sha, "listing": {n: [size, sha[:16]] for n, size, sha in rows},
            "suffixes": sorted(FRAME_SUFFIXES)}


def test_a_folder_of_frames_is_recorded_as_before(frames):
    assert InputRecord(frames).describe() == _expected(frames, NAMES)
    # the same as frames_record and folder_record each reading the files themselves
    assert InputRecord(frames).describe() == {"path": str(frames), **frames_record(frames),
                                              **folder_record(frames, suffixes=FRAME_SUFFIXES)}


def test_each_frame_is_opened_once_for_the_record(frames, opens):
    record = InputRecord(frames).describe()
    assert record["frames"] == 4 and len(record["listing"]) == 4
    assert {name: opens[name] for name in NAMES} == {name: 1 for name in NAMES}
    assert opens["metadata.txt"] == 0


def test_a_folder_too_large_to_list_by_contents_still_reads_its_frames_once(frames, opens, monkeypatch):
    """Above HASH_LIMIT the listing holds names and sizes only; frames_sha256 still hashes every frame, once."""
    monkeypatch.setattr(_input_digest, "HASH_LIMIT", 100)
    record = InputRecord(frames).describe()
    assert {name: opens[name] for name in NAMES} == {name: 1 for name in NAMES}
    assert record["hashed"] is False and record["listing"]["t10.tif"] == [(frames / "t10.tif").stat().st_size]
    assert record["frames_sha256"] == _expected(frames, NAMES)["frames_sha256"]


def test_file_digests_reads_a_file_once_and_gives_its_sha256(frames, opens):
    path = frames / "t2.tif"
    expected = _sha(path)
    opens.clear()
    digests = _input_digest.FileDigests()
    assert digests(path) == digests(str(path)) == digests(frames / "." / "t2.tif") == expected
    assert digests.reads == 1 and opens["t2.tif"] == 1


def test_an_ome_zarr_image_is_recorded_as_before(tmp_path):
    """Not a folder of frames: folder_record alone, every file hashed once (as before)."""
    image = tmp_path / "cells.zarr"
    (image / "0").mkdir(parents=True)
    (image / ".zattrs").write_text('{"multiscales": []}')
    (image / "0" / "0.0").write_bytes(b"chunk")
    record = InputRecord(image).describe()
    assert record == {"path": str(image), **folder_record(image)}
    assert record["files"] == 2 and record["listing"]["0/0.0"] == [5, _sha(image / "0" / "0.0")[:16]]


def test_real_frames_record_is_unchanged_and_reads_each_frame_once(msc_dir, opens):
    folder = msc_dir / "01"
    names = sorted((p.name for p in folder.glob("t*.tif")), key=lambda n: int(re.sub(r"\D", "", n)))
    expected = _expected(folder, names)
    opens.clear()
    record = InputRecord(folder).describe()
    assert len(names) == 48 and {name: opens[name] for name in names} == {name: 1 for name in names}
    assert record == expected


def test_a_shift_larger_than_the_frame_says_its_frame_0_based_and_from_1_in_imagej():
    import xarray as xr

    from labelfree.imagej.terms import in_imagej_terms
    from labelfree.registration import apply_shifts

    movie = xr.DataArray(np.arange(600, dtype=np.uint16).reshape(3, 10, 20), dims=("T", "Y", "X"))
    with pytest.raises(InputError) as caught:
        apply_shifts(movie, np.array([[0, 0], [0, 0], [0, 21]]))
    said = str(caught.value)
    assert said.startswith("The shift of frame 2 (0-based) is dy, dx = 0, 21 px, larger than the frame (10 x 20 px)")
    in_imagej = in_imagej_terms(said)
    assert in_imagej.startswith("The shift of frame 3 (the stack's frames, counted from 1) is dy, dx = 0, 21 px, "
                                "larger than the frame (10 x 20 px);")
    assert "0-based" not in in_imagej and "frame 2" not in in_imagej
