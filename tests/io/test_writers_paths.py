"""The paths the file writers take: a path spelt as a folder is refused, an error names the user's file
(never a temporary one), no write leaves a partial file, a zoo is never mixed into other files, and a
rerun with overwrite gives the same files as the first run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

import labelfree.io as lio
from labelfree.errors import OutputError
from labelfree.io.atomic import atomic_path, write_text_atomic
from labelfree.io.outputs import check_output_file, write_output_file


def _labels() -> np.ndarray:
    lab = np.zeros((24, 32), np.uint16)
    lab[2:9, 3:12] = 1
    lab[12:20, 15:30] = 2
    return lab


def _everything_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


_WRITERS = {
    "write_labels": lambda p: lio.write_labels(p, _labels()),
    "write_rois": lambda p: lio.write_rois(p, _labels()),
    "write_table": lambda p: lio.write_table(p, {"label": [1, 2], "area": [63.0, 120.0]}),
    "write_output_file": lambda p: write_output_file(p, lambda tmp: tmp.write_text("x")),
    "check_output_file": lambda p: check_output_file(p),
    "write_text_atomic": lambda p: write_text_atomic(p, "x"),
}


# -- a path spelt as a folder -----------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["out/", "out" + os.sep + ".", "out/.."])
@pytest.mark.parametrize("writer", sorted(_WRITERS))
def test_a_file_path_spelt_as_a_folder_is_refused_before_anything_is_written(tmp_path, monkeypatch, writer,
                                                                             spelling):
    """``write_labels("out/", labels)`` wrote a file named ``out``: ``Path`` drops the trailing slash."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="so it names a folder; a file path is expected") as caught:
        _WRITERS[writer](spelling)
    hint = f"for a file in that folder: {spelling.rstrip('/' + os.sep)}{os.sep}NAME"
    assert f"{spelling!r}" in str(caught.value) and hint in str(caught.value)
    assert _everything_in(tmp_path) == []


@pytest.mark.parametrize("writer", ["write_labels", "write_rois", "write_table", "write_text_atomic"])
def test_an_empty_path_is_refused_and_nothing_lands_in_the_current_folder(tmp_path, monkeypatch, writer):
    """``Path("")`` is the current folder: the writers wrote a temporary file there, then failed on ``.``."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="path is empty; give the path of a file"):
        _WRITERS[writer]("")
    assert _everything_in(tmp_path) == []


def test_an_existing_folder_as_the_file_is_refused_before_the_work(tmp_path, monkeypatch):
    """A path naming an existing folder was found out only when the finished file was moved onto it."""
    (tmp_path / "out").mkdir()
    made = []
    monkeypatch.setattr(tifffile, "imwrite", lambda path, *a, **k: made.append(path))
    with pytest.raises(OutputError, match=r"out is an existing folder; a file path is expected"):
        lio.write_labels(tmp_path / "out", _labels())
    assert made == [] and _everything_in(tmp_path) == ["out"]


# -- write errors name the user's file ---------------------------------------------------------------------------

def test_a_write_error_naming_the_temporary_file_names_the_whole_target(tmp_path, monkeypatch):
    """The temporary name is cut to 200 bytes (a 245-byte name here): the error named that cut ``.part`` file."""
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(tifffile, "imwrite", denied)
    target = tmp_path / ("é" * 117 + "_labels.tif")
    with pytest.raises(PermissionError) as caught:
        lio.write_labels(target, _labels())
    assert caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno 13] Permission denied: {str(target)!r}"
    assert _everything_in(tmp_path) == []


def test_a_write_error_of_an_output_set_names_the_published_file_not_the_staging_one(tmp_path, monkeypatch):
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(tifffile, "imwrite", denied)
    with pytest.raises(PermissionError) as caught:
        lio.write_outputs(tmp_path / "out", _labels(), stem="cells")
    assert caught.value.filename == str((tmp_path / "out" / "cells_labels.tif").absolute())
    assert _everything_in(tmp_path) == []  # the folder the write made is gone again


def test_a_short_write_without_a_file_name_gets_a_note_naming_the_target(tmp_path, monkeypatch):
    def short(path, *args, **kwargs):
        Path(path).write_bytes(b"II*\x00" + bytes(100))
        raise OSError("2000 requested and 104 written")

    monkeypatch.setattr(tifffile, "imwrite", short)
    with pytest.raises(OSError) as caught:
        lio.write_labels(tmp_path / "a_labels.tif", _labels())
    assert str(caught.value) == "2000 requested and 104 written"  # the command line's wording is kept
    assert caught.value.__notes__ == [f"while writing {tmp_path / 'a_labels.tif'}"]
    with pytest.raises(OSError) as caught:
        lio.write_outputs(tmp_path / "out", _labels(), stem="cells")
    assert caught.value.__notes__ == [f"while writing {(tmp_path / 'out' / 'cells_labels.tif').absolute()}"]
    assert _everything_in(tmp_path) == []


def test_an_error_within_several_open_writes_names_each_of_them_once(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.csv"
    with pytest.raises(OSError) as caught, atomic_path(a), atomic_path(b):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.__notes__ == [f"while writing one of {a}, {b}"]
    assert _everything_in(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="a file size limit (RLIMIT_FSIZE) is a POSIX setting")
def test_a_real_file_too_large_error_names_the_table_and_leaves_nothing(tmp_path):
    """A real EFBIG (a file size limit of 4 KiB in a child process) while pandas writes the table."""
    code = f"""
import json, resource, signal
import numpy as np
import labelfree.io as lio
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
try:
    lio.write_table({str(tmp_path / "t.csv")!r}, {{"x": np.linspace(0, 1, 5000)}})
except OSError as exc:
    print(json.dumps([exc.errno, exc.filename, getattr(exc, "__notes__", [])]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [errno.EFBIG, None, [f"while writing {tmp_path / 't.csv'}"]]
    assert _everything_in(tmp_path) == []


def test_a_folder_that_refuses_file_modes_still_takes_the_file(tmp_path, monkeypatch):
    """chmod fails on file systems without Unix modes (FAT, SMB): every write failed, leaving its ``.part``."""
    def no_modes(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(args[0]))

    monkeypatch.setattr(os, "chmod", no_modes)
    lio.write_table(tmp_path / "t.csv", {"label": [1, 2]})
    assert (tmp_path / "t.csv").read_text() == "label\n1\n2\n"
    assert _everything_in(tmp_path) == ["t.csv"]


# -- reruns ------------------------------------------------------------------------------------------------------

def test_a_rerun_with_overwrite_gives_the_files_of_a_first_run(tmp_path):
    """Byte for byte, and the table holds the new run's objects only (never the earlier rows as well)."""
    image = np.random.default_rng(0).random((24, 32)).astype(np.float32)
    first = lio.write_outputs(tmp_path / "first", _labels(), image=image, stem="s")
    fewer = _labels()
    fewer[fewer == 2] = 0
    lio.write_outputs(tmp_path / "rerun", fewer, stem="s", extras={"overlay": lambda p: p.write_bytes(b"png")})
    again = lio.write_outputs(tmp_path / "rerun", _labels(), image=image, stem="s", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "rerun").iterdir()) == sorted(p.name for p in first.values())
    for kind, path in first.items():
        assert again[kind].read_bytes() == path.read_bytes(), kind
    table = pd.read_csv(again["table"])
    assert table["label"].tolist() == [1, 2] and table["area"].tolist() == [63, 120]


# -- the model zoo -----------------------------------------------------------------------------------------------

def test_a_zoo_is_not_made_in_a_folder_of_other_files(tmp_path):
    from labelfree.fusion import ModelZoo

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "cells.tif").write_bytes(b"II*\x00")
    with pytest.raises(OutputError, match=r"holds other files \(cells.tif, notes.txt\) and no index.json: it is not "
                                          "a LabelFree model zoo"):
        ModelZoo(folder, create=True)
    assert _everything_in(folder) == ["cells.tif", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"")  # system litter: the folder counts as empty
    assert ModelZoo(tmp_path / "empty", create=True).entries() == []
    assert ModelZoo(tmp_path / "new" / "zoo", create=True).entries() == []


def test_a_model_is_not_filed_into_a_zoo_whose_index_is_damaged(tmp_path):
    """The weights file was written, then the damaged index refused: an orphan weights file stayed."""
    pytest.importorskip("cellpose")
    from labelfree.errors import ModelFileError
    from labelfree.fusion import ModelZoo, new_model

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    zoo.index_path.write_text("{damaged")
    with pytest.raises(ModelFileError, match="is unreadable"):
        zoo.add(new_model(nbase=(2, 4, 4, 4), device="cpu", seed=0), object="cyto", channels=["GFP"])
    assert _everything_in(tmp_path / "zoo") == ["index.json"]


def test_an_interrupt_right_after_the_staging_folder_is_made_leaves_no_folder(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM landing between the staging folder's creation and the writer's ``try`` left
    the folder (and so ``.labelfree-staging``) behind: a batch run's SIGTERM test failed now and then."""
    import pathlib

    from labelfree.io import write_outputs
    from labelfree.io.outputs import STAGING_DIR

    real_mkdir = pathlib.Path.mkdir

    def mkdir_then_interrupt(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if self.parent.name == STAGING_DIR:
            raise KeyboardInterrupt

    labels = np.zeros((8, 8), np.uint16)
    labels[2:5, 2:5] = 1
    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(tmp_path / "out", labels, stem="cells")
    monkeypatch.undo()
    assert not list((tmp_path / "out").glob(f"{STAGING_DIR}/*"))
    assert not (tmp_path / "out" / STAGING_DIR).exists()


def test_an_interrupt_while_the_staging_folder_is_removed_still_removes_it(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM landing inside the removal of a batch input's staging folder (its set published) left it
    half removed, and so ``.labelfree-staging``: the batch run's SIGTERM test still failed about once in 15 runs."""
    import shutil

    from labelfree.io.outputs import STAGING_DIR, staging_folder

    real_rmtree, calls = shutil.rmtree, []

    def rmtree_interrupted_once(path, *args, **kwargs):
        calls.append(Path(path))
        if len(calls) == 1:
            next(Path(path).iterdir()).unlink()  # part of the folder is gone
            raise KeyboardInterrupt
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree_interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        with staging_folder(tmp_path, "cells") as staging:
            for name in ("cells_labels.tif", "cells_table.csv"):
                (staging / name).write_bytes(b"staged")
    monkeypatch.undo()
    assert len(calls) == 2 and calls[0] == calls[1] == staging  # interrupted once, then removed
    assert list((tmp_path / STAGING_DIR).iterdir()) == []
