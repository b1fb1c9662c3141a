"""A shared install, continued: LabelFree's own compiled loops cached on a read-only install, other users' leftovers
in a group output folder, the umask read without changing it.

As in test_shared_install.py, tests run as root: a folder under a regular file can be written by nobody, and what
root cannot meet (EACCES on another user's folder) is simulated by replacing the OS calls that would fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from foreign_user import refuse_as_kernel

import labelfree
from labelfree.errors import FolderInUseError
from labelfree.io import outputs

OTHER_UID = 1001
SRC = Path(labelfree.__file__).parent  # the package under test


# -- 1. LabelFree's own numba functions on a read-only install -----------------------------------------------------

def _read_only_copy(site: Path) -> Path:
    """A copy of the package in which numba can cache nothing beside the files: every __pycache__ is a file."""
    package = site / "labelfree"
    shutil.copytree(SRC, package, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a folder")
    return package


_ENTROPY = """
import numba, numpy as np
from labelfree.motion import features
import labelfree
a = (np.random.default_rng(0).random((24, 30)) * 255).astype(np.uint8)
e = features.local_entropy(a)
print(labelfree.__file__, numba.config.CACHE_DIR or "-", type(features._entropy_rows._cache).__name__,
      sum(features._entropy_rows.stats.cache_hits.values()), e.shape)
"""


def test_motion_loops_are_cached_on_a_read_only_install_without_home(tmp_path):
    """The package's folder and the home folder cannot be written: numba's "no locator available". The loops
    are cached in LabelFree's cache (NUMBA_CACHE_DIR set before the first njit), so the second process loads
    them instead of compiling (7.5 s -> 3.0 s for `labelfree demo --pipeline motion`)."""
    package = _read_only_copy(tmp_path / "site")
    (tmp_path / "a-file").write_text("x")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env.update(OMP_NUM_THREADS="1", HOME=str(tmp_path / "a-file" / "home"), PYTHONPATH=str(tmp_path / "site"),
               LABELFREE_CACHE_DIR=str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(_ENTROPY)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(done.stdout.split())
    cache = tmp_path / "cache" / "numba"
    assert runs[0] == [str(package / "__init__.py"), str(cache), "FunctionCache", "0", "(24,", "30)"]
    assert runs[1] == [str(package / "__init__.py"), str(cache), "FunctionCache", "1", "(24,", "30)"]  # loaded
    assert list(cache.rglob("features._entropy_rows-*.nbi"))


# -- 2. other users' leftovers in a group output folder -----------------------------------------------------------

@pytest.fixture
def as_member(monkeypatch: pytest.MonkeyPatch):
    """Permission checks as a member of OTHER_UID's group meets them: a file or folder of OTHER_UID without group
    write access cannot be opened for writing, nor a file made in it or removed from it (root is never refused,
    so os.open, os.mkdir, os.rmdir, os.unlink and os.access refuse as the kernel would)."""
    refuse_as_kernel(monkeypatch, OTHER_UID, 0o020)
    monkeypatch.setattr(outputs, "_LEFT_ALONE", set(), raising=False)


def _other_user() -> str:
    import pwd

    try:
        return f"user {pwd.getpwuid(OTHER_UID).pw_name} (uid {OTHER_UID})"
    except KeyError:
        return f"uid {OTHER_UID}"


NAMES = ["cell_labels.tif", "cell_rois.zip", "cell_table.csv", "cell_provenance.json"]


def _interrupted(folder: Path, root_name: str = outputs.STAGING_DIR, *, mode: int = 0o755,
                 journal: bool = True) -> Path:
    """What a run of OTHER_UID killed while publishing the set ``cell`` left (made under umask 022 for mode 0755):
    its new labels moved in, the earlier table still there, the earlier manifest put aside (gone)."""
    staging = folder / root_name / "cell-node7-4242-abcdef12"
    staging.mkdir(parents=True)
    if journal:
        (staging / "publish.json").write_text(json.dumps({"stem": "cell", "targets": NAMES}))
        (folder / "cell_labels.tif").write_bytes(b"new")
        (folder / "cell_table.csv").write_text("old")
    for path in [*staging.parent.rglob("*"), staging.parent, *folder.glob("cell_*")]:
        os.chmod(path, mode if path.is_dir() else mode & 0o666)
        os.chown(path, OTHER_UID, OTHER_UID)
    return staging


def test_another_users_interrupted_publication_is_undone_where_their_staging_cannot_be_removed(tmp_path, as_member,
                                                                                                caplog):
    staging = _interrupted(tmp_path)
    with caplog.at_level("INFO", logger="labelfree.io.outputs"):
        assert outputs.recover_folder(tmp_path) == ["cell"]
    assert not list(tmp_path.glob("cell_*"))  # no half-new, half-old set
    assert (staging / "publish.json").is_file()  # theirs: stays
    assert "removed the outputs of cell, whose publication was interrupted" in caplog.text
    assert (f"{tmp_path}: .labelfree-staging/cell-node7-4242-abcdef12 was left by an ended LabelFree run of "
            f"{_other_user()} (the journal of its interrupted publication of cell; that set's files "
            "were removed now); you cannot remove it, so it stays.") in caplog.text
    caplog.clear()
    # a later complete set, edited since, is never taken for the interrupted one, and the leftover is named once
    for name in ("cell_labels.tif", "cell_provenance.json"):
        (tmp_path / name).write_text("later run")
    with caplog.at_level("INFO", logger="labelfree.io.outputs"):
        assert outputs.recover_folder(tmp_path) == []
    assert sorted(p.name for p in tmp_path.glob("cell_*")) == ["cell_labels.tif", "cell_provenance.json"]
    assert caplog.text == ""


def test_a_group_members_leftovers_are_cleaned_where_they_can_be_written(tmp_path, as_member):
    """Another user's run staged in its own .labelfree-staging-<uid> (group-writable: umask 002) and was killed:
    a colleague's run undoes the publication and removes the leftover; an empty .labelfree-staging of another
    user goes too."""
    staging = _interrupted(tmp_path, f"{outputs.STAGING_DIR}-{OTHER_UID}", mode=0o775)
    (tmp_path / outputs.STAGING_DIR).mkdir()
    os.chmod(tmp_path / outputs.STAGING_DIR, 0o755)
    os.chown(tmp_path / outputs.STAGING_DIR, OTHER_UID, OTHER_UID)
    with outputs.OutputFolder(tmp_path) as out:
        assert not staging.parent.exists() and not (tmp_path / outputs.STAGING_DIR).exists()
        assert not list(tmp_path.glob("cell_*"))
        with out.staging("cell") as mine:
            assert mine.parent == tmp_path / outputs.STAGING_DIR  # the shared one again
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_live_runs_staging_is_never_touched(tmp_path, as_member):
    staging = _interrupted(tmp_path, mode=0o775)
    lock = tmp_path / outputs.LOCK_FILE
    lock.write_text(json.dumps({"pid": 4242, "host": "node7", "user": "anna", "purpose": "labelfree motion",
                                "started": "2026-12-05T03:00:00+00:00"}))
    os.chmod(lock, 0o644)
    os.chown(lock, OTHER_UID, OTHER_UID)
    fd = os.open(lock, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # their run is still at work
    try:
        with pytest.raises(FolderInUseError):
            outputs.OutputFolder(tmp_path).open()
    finally:
        os.close(fd)
    assert (staging / "publish.json").is_file() and (tmp_path / "cell_labels.tif").read_bytes() == b"new"


def test_an_unremovable_output_keeps_the_journal(tmp_path, monkeypatch, caplog):
    """A file of the interrupted set that cannot be removed (a folder with the sticky bit): the journal stays for
    the next run, and the warning names the file; the set is not reported undone."""
    staging = tmp_path / outputs.STAGING_DIR / "cell-node7-4242-abcdef12"
    staging.mkdir(parents=True)
    (staging / "publish.json").write_text(json.dumps({"stem": "cell", "targets": NAMES}))
    (tmp_path / "cell_labels.tif").write_bytes(b"new")
    real = outputs._remove_output
    monkeypatch.setattr(outputs, "_remove_output", lambda p: None if p.name == "cell_labels.tif" else real(p))
    monkeypatch.setattr(outputs, "_LEFT_ALONE", set(), raising=False)
    with caplog.at_level("WARNING", logger="labelfree.io.outputs"):
        assert outputs.recover_folder(tmp_path) == []
    assert (staging / "publish.json").is_file()
    assert "the publication of cell was interrupted, but cell_labels.tif could not be removed" in caplog.text
    assert outputs.staging_folders(tmp_path, ["cell"]) == []  # a leftover, not a writer at work


def test_staging_folders_sees_writers_in_every_staging_folder(tmp_path, as_member):
    """A task of a batch run that stages as another user (a Dask worker of another account) in its own
    .labelfree-staging-<uid> is at work: the run waits for it. Leftovers recovery had to leave are not."""
    theirs = tmp_path / f"{outputs.STAGING_DIR}-{OTHER_UID}" / "exp1-node7-99-0badcafe"
    theirs.mkdir(parents=True)
    assert outputs.staging_folders(tmp_path, ["exp1", "exp2"]) == [theirs]
    left = _interrupted(tmp_path, journal=False)  # an ended run's, which this user cannot remove
    outputs.recover_folder(tmp_path)
    assert outputs.staging_folders(tmp_path, ["cell"]) == [] and left.is_dir()


# -- 3. the umask, read without changing it ------------------------------------------------------------------------

def test_fusion_demo_zoo_mode_without_touching_the_umask(tmp_path, monkeypatch):
    from labelfree.fusion import demo

    before = os.umask(0o027)
    try:
        calls = []
        real = os.umask
        monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
        folder = tmp_path / "zoo"
        folder.mkdir(mode=0o700)
        demo._as_made_by_mkdir(folder)
        assert (os.stat(folder).st_mode & 0o777, calls) == (0o750, [])  # never set, not even for a moment
    finally:
        os.umask(before)
