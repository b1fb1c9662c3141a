"""LabelFree on a shared facility server: a read-only install and cache, no (writable) home folder, group folders.

Tests run as root, for whom permission bits mean nothing, so the conditions are made real where they can be: a
folder *under a regular file* can be neither made nor written (even by root), HOME is unset, the umask is changed
in-process, files are given to another uid with os.chown. Only what root cannot meet (EACCES on another user's
file, a missing passwd entry) is simulated, by replacing the one OS call that would fail.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from foreign_user import refuse_as_kernel

from labelfree import _cache, _deps
from labelfree.errors import FolderInUseError
from labelfree.io import outputs
from labelfree.io import atomic

OTHER_UID = 1001


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A regular file: any folder below it can be neither made nor written, by root too."""
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.fixture
def umask():
    """Set the process umask for one test, put back afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder (tempfile.gettempdir) of this test, so per-user fallbacks land in tmp_path."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "MPLCONFIGDIR", "XDG_CACHE_HOME",
                                                            "XDG_CONFIG_HOME", "LABELFREE_CACHE_DIR")}
    env.update({"OMP_NUM_THREADS": "1"})
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


# -- 1. numba's cache for cellpose ---------------------------------------------------------------------------------

def test_numba_cache_fallback_only_where_numba_has_no_place(tmp_path, blocked, monkeypatch, own_tmp):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(blocked / "home"))
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache"))
    assert _deps.numba_cache_fallback(blocked / "pkg") == tmp_path / "cache" / "numba"
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(blocked / "cache"))  # cache read-only too: the user's own
    assert _deps.numba_cache_fallback(blocked / "pkg") == own_tmp / f"labelfree-{os.getuid()}" / "numba"
    assert stat.S_IMODE(os.stat(own_tmp / f"labelfree-{os.getuid()}").st_mode) == 0o700
    assert _deps.numba_cache_fallback(tmp_path) is None  # numba caches beside the package
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _deps.numba_cache_fallback(blocked / "pkg") is None  # ... or in ~/.cache/numba
    monkeypatch.setenv("HOME", str(blocked / "home"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocked / "mine"))
    assert _deps.numba_cache_fallback(blocked / "pkg") is None  # the user's setting is never overridden


def test_a_read_only_package_with_cache_true_imports(tmp_path, blocked):
    """What cellpose.dynamics does (njit(cache=True) at import) in a package whose folder numba cannot write
    into (its __pycache__ is a file) with a home folder that cannot be written: "no locator available"."""
    site = tmp_path / "site"
    pkg = site / "lf_fake_cached"
    pkg.mkdir(parents=True)
    (pkg / "__pycache__").write_text("not a folder")
    (pkg / "__init__.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    env = _env(HOME=str(blocked / "home"), PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
               LABELFREE_CACHE_DIR=str(tmp_path / "cache"))
    plain = _python("import lf_fake_cached", env, tmp_path)
    assert "no locator available" in plain.stderr  # the condition is real
    prepared = _python("""
        import logging, os
        logging.basicConfig(level=logging.INFO)
        from labelfree._deps import prepare_numba_cache
        prepare_numba_cache("lf_fake_cached")
        import lf_fake_cached
        print(lf_fake_cached.twice(21), os.environ["NUMBA_CACHE_DIR"])
        """, env, tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    assert prepared.stdout.split() == ["42", str(tmp_path / "cache" / "numba")]
    assert "NUMBA_CACHE_DIR=" in prepared.stderr  # logged at INFO
    assert list((tmp_path / "cache" / "numba").rglob("*.nbi"))  # numba's cache index is there


def test_require_cellpose_prepares_numba_and_imports_without_home(tmp_path, own_tmp):
    """cellpose through require(): NUMBA_CACHE_DIR set first (where numba has no place; here forced), and its
    import-time Path.home() met with no HOME and no passwd entry (a container's arbitrary uid)."""
    pytest.importorskip("cellpose")
    env = _env(HOME=None, TMPDIR=str(own_tmp))
    done = _python(f"""
        import os, pwd
        from pathlib import Path
        def nobody(uid):
            raise KeyError(uid)
        pwd.getpwuid = nobody  # no passwd entry
        import labelfree._deps as d
        d.numba_cache_fallback = lambda package_dir: Path({str(tmp_path / 'nc')!r})
        models = d.require("cellpose.models")
        import numba
        from labelfree.fusion.models import cellpose_model_dir
        print(numba.config.CACHE_DIR, models.MODEL_DIR, cellpose_model_dir(), "HOME" in os.environ)
        """, env, tmp_path)
    assert done.returncode == 0, done.stderr
    own = own_tmp / f"labelfree-{os.getuid()}"
    assert done.stdout.split() == [str(tmp_path / "nc"), str(own / ".cellpose" / "models"),
                                   str(own / ".cellpose" / "models"), "False"]


# -- 2. no home folder ---------------------------------------------------------------------------------------------

@pytest.fixture
def no_home(monkeypatch: pytest.MonkeyPatch, own_tmp: Path) -> Path:
    """No HOME and no passwd entry (the one call that root cannot make fail: pwd.getpwuid)."""
    import pwd

    def nobody(uid: int):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for key in ("HOME", "LABELFREE_CACHE_DIR", "XDG_CACHE_HOME", "CELLPOSE_LOCAL_MODELS_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", nobody)
    with pytest.raises(RuntimeError):
        Path.home()
    return own_tmp / f"labelfree-{os.getuid()}"


def test_cache_and_cellpose_folder_without_home(no_home, caplog):
    from labelfree.fusion.models import cellpose_model_dir

    _cache._say_once.cache_clear()
    with caplog.at_level("INFO", logger="labelfree._cache"):
        assert _cache.cache_root() == no_home / "cache"
    assert "LABELFREE_CACHE_DIR" in caplog.text
    assert cellpose_model_dir() == no_home / ".cellpose" / "models"


def test_doctor_without_home(no_home):
    from labelfree.imagej.doctor import doctor

    text, _ = doctor()
    line = next(line for line in text.splitlines() if "] cache:" in line)
    assert line == f"[    ok ] cache: {no_home / 'cache'} (no home folder: a temporary one), writable"
    assert f"0 in {no_home / '.cellpose' / 'models'}" in text


def test_doctor_cache_check(tmp_path, blocked, monkeypatch):
    from labelfree.imagej.doctor import _cache_check

    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(blocked / "cache"))
    check = _cache_check()
    assert (check.ok, check.detail) == (False, f"{blocked / 'cache'} cannot be written and holds no model zoo")
    assert "LABELFREE_CACHE_DIR" in check.fix
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache"))
    assert (_cache_check().ok, _cache_check().detail) == (True, f"{tmp_path / 'cache'}, writable")


# -- 3. shared group folders: lock and staging ---------------------------------------------------------------------

@pytest.fixture
def other_users_files(monkeypatch: pytest.MonkeyPatch):
    """Permission checks as a user other than OTHER_UID and outside its group meets them: a file or folder of
    OTHER_UID without write access for others cannot be opened for writing, nor a file made in it or removed from
    it. Root is never refused, so os.open, os.mkdir, os.rmdir, os.unlink and os.access refuse as the kernel would
    for another user."""
    refuse_as_kernel(monkeypatch, OTHER_UID, 0o002)


def _left_lock(folder: Path) -> Path:
    """The lock file a run of user OTHER_UID made under umask 022 (0644)."""
    path = folder / outputs.LOCK_FILE
    path.write_text(json.dumps({"pid": 4242, "host": "node7", "user": "anna", "purpose": "labelfree threshold",
                                "started": "2026-12-05T03:00:00+00:00"}))
    os.chmod(path, 0o644)
    os.chown(path, OTHER_UID, OTHER_UID)
    return path


def test_lock_and_staging_follow_the_umask(tmp_path, umask):
    umask(0o002)
    lock = outputs._Lock(tmp_path, "test")
    lock.acquire()
    try:
        assert stat.S_IMODE(os.stat(tmp_path / outputs.LOCK_FILE).st_mode) == 0o664
        staging = outputs.new_staging(tmp_path, "cell")
        assert stat.S_IMODE(os.stat(staging.parent).st_mode) == 0o775
        assert stat.S_IMODE(os.stat(staging).st_mode) == 0o775
    finally:
        lock.release()


def test_another_users_live_run_is_in_use_not_permission_denied(tmp_path, other_users_files):
    path = _left_lock(tmp_path)
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other user's run still holds it
    try:
        with pytest.raises(FolderInUseError) as info:
            outputs._Lock(tmp_path, "test").acquire()
    finally:
        os.close(fd)
    assert str(info.value) == (
        f"The output folder {tmp_path} is in use by another LabelFree run (pid 4242 of anna on node7, 'labelfree "
        "threshold', started 2026-12-05T03:00:00+00:00). Wait for it to finish, or choose another output folder.")
    assert os.stat(path).st_uid == OTHER_UID  # left alone


def test_another_users_stale_lock_is_taken_over(tmp_path, other_users_files, caplog):
    path = _left_lock(tmp_path)
    lock = outputs._Lock(tmp_path, "mine")
    with caplog.at_level("INFO", logger="labelfree.io.outputs"):
        lock.acquire()
    try:
        assert os.stat(path).st_uid == os.getuid()
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert "removed the lock file left by a LabelFree run that has ended (pid 4242 of anna" in caplog.text
        with pytest.raises(FolderInUseError):  # never two writers
            outputs._Lock(tmp_path, "second").acquire()
    finally:
        lock.release()
    assert not path.exists()


def test_another_users_staging_leftover_does_not_block(tmp_path, other_users_files):
    root = tmp_path / outputs.STAGING_DIR
    (root / "cell-node7-4242-abcdef12").mkdir(parents=True)
    for folder in (root / "cell-node7-4242-abcdef12", root):
        os.chmod(folder, 0o755)
        os.chown(folder, OTHER_UID, OTHER_UID)
    with outputs.OutputFolder(tmp_path) as out:
        with out.staging("cell") as staging:
            (staging / "x.txt").write_text("x")
            assert staging.parent == tmp_path / f"{outputs.STAGING_DIR}-{os.getuid()}"
    assert (root / "cell-node7-4242-abcdef12").is_dir()  # the other user's, which this user cannot remove


# -- 5. the umask when each file is written ------------------------------------------------------------------------

def test_atomic_writes_follow_a_changed_umask(tmp_path, umask, monkeypatch):
    umask(0o077)
    assert atomic.current_umask() == 0o077
    atomic.write_text_atomic(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o600
    umask(0o002)
    monkeypatch.setattr(atomic, "_PROC_UMASK", False)  # no /proc: set and set back
    assert atomic.current_umask() == 0o002
    atomic.write_text_atomic(tmp_path / "b.txt", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o664
    assert atomic.current_umask() == 0o002


# -- 4. the Java class cache ---------------------------------------------------------------------------------------

@pytest.fixture
def ij_jar() -> Path:
    from labelfree.imagej import _java
    from labelfree.imagej.java_env import find_ij_jar
    from labelfree.errors import JavaError

    if _java.find_javac() is None:
        pytest.skip("no javac")
    try:
        return find_ij_jar()
    except JavaError as exc:
        pytest.skip(str(exc))


def test_java_classes_readable_as_the_umask_allows(tmp_path, ij_jar, umask, monkeypatch):
    from labelfree.imagej import _java

    umask(0o022)
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache"))
    folder = _java.command_classes(ij_jar)
    assert folder.parent == tmp_path / "cache" / "java"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
    assert (folder / "labelfree" / "LabelFreeCommand.class").is_file()


def test_java_classes_without_a_writable_cache(tmp_path, blocked, ij_jar, own_tmp, monkeypatch):
    from labelfree.imagej import _java

    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(blocked / "cache"))
    folder = _java.command_classes(ij_jar)
    assert folder.parent == own_tmp / f"labelfree-{os.getuid()}" / "java"
    assert (folder / "labelfree" / "LabelFreeRois.class").is_file()
    assert _java.command_classes(ij_jar) == folder  # compiled once


# -- 6. which path a write error names -----------------------------------------------------------------------------

def test_write_errors_blame_the_path_they_name(tmp_path, monkeypatch):
    from labelfree.cli import _write_error_message

    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache"))
    tmp = Path(tempfile.gettempdir())
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp / ".big.tif.x1y2z3.part"))
    assert _write_error_message(full, output=str(tmp_path / "out")) == (
        f"cannot write {tmp / 'big.tif'} (the temporary folder, TMPDIR): No space left on device (errno 28). Free "
        "space on that disk (or raise your quota) or set TMPDIR to a folder on another disk, then run the command "
        "again.")
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "cache" / "java" / "x"))
    assert _write_error_message(denied, output=str(tmp_path / "out")) == (
        f"cannot write {tmp_path / 'cache' / 'java' / 'x'} (LabelFree's cache, LABELFREE_CACHE_DIR): Permission "
        "denied (errno 13). Set LABELFREE_CACHE_DIR to a folder you may write to, then run the command again.")
    inside = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out" / "a.tif"))
    assert _write_error_message(inside, output=str(tmp_path / "out")).endswith(
        "Choose an output (-o) in a folder you may write to, then run the command again.")


# -- 7. non-ASCII names under LC_ALL=C -----------------------------------------------------------------------------

def test_manifest_names_under_an_ascii_locale(tmp_path):
    """A result written under a UTF-8 locale, checked again by a run under LC_ALL=C without UTF-8 mode."""
    from labelfree._config import file_sha256

    name = "Zelle \u00b5m 1_labels.tif"
    (tmp_path / name).write_bytes(b"labels")
    record = {"complete": True, "outputs": {"labels": {"file": name, "bytes": 6,
                                                       "sha256": file_sha256(tmp_path / name)}}}
    (tmp_path / "Zelle \u00b5m 1_provenance.json").write_text(json.dumps(record), encoding="utf-8")
    env = _env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    done = _python(f"""
        import os, sys
        from labelfree.io.outputs import read_manifest
        assert sys.getfilesystemencoding() == "ascii", sys.getfilesystemencoding()
        stem = os.fsdecode(b"Zelle \\xc2\\xb5m 1")
        print(read_manifest({str(tmp_path)!r}, stem, verify=True) is not None)
        """, env, tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr


# -- 8. matplotlib's settings folder -------------------------------------------------------------------------------

def test_batch_report_plots_without_matplotlib_warnings(tmp_path, blocked):
    pytest.importorskip("matplotlib")
    code = """
        import os, warnings
        warnings.simplefilter("error")
        import pandas as pd
        from labelfree.batch.report import _plots
        html = _plots({"a": pd.DataFrame({"frame": [0, 0, 1], "area": [10.0, 12.0, 11.0]})})
        import matplotlib
        print("<img" in html, matplotlib.get_configdir())
        """
    done = _python(code, _env(HOME=str(blocked / "home"), LABELFREE_CACHE_DIR=str(tmp_path / "cache")), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", str(tmp_path / "cache" / "matplotlib")]
    assert "MPLCONFIGDIR" not in done.stderr and "writable" not in done.stderr
    mine = _python(code, _env(HOME=str(blocked / "home"), MPLCONFIGDIR=str(tmp_path / "mine")), tmp_path)
    assert mine.stdout.split() == ["True", str(tmp_path / "mine")]  # the user's own is kept
