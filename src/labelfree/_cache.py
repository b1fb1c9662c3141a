"""LabelFree's cache folder (compiled Fiji command classes, demo and default model zoos), and writable folders for
caches where the cache or the home folder cannot be written (shared installs, containers without HOME)."""

from __future__ import annotations

import functools
import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["cache_root", "home_folder", "user_temp_dir", "can_write", "writable_cache"]

log = logging.getLogger(__name__)


def home_folder() -> Path | None:
    """The user's home folder, or None where none can be determined (no ``HOME`` and no passwd entry: containers
    run under an arbitrary user id)."""
    try:
        return Path.home()
    except (RuntimeError, KeyError, OSError):
        return None


def _user_id() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else (os.environ.get("USERNAME") or "user")


def user_temp_dir() -> Path:
    """A folder of this user's own in the temporary folder: ``<tmp>/labelfree-<uid>``, made 0700.

    One that exists but is a link or another user's (someone made it first) is never used: a new private
    folder is made instead (``<tmp>/labelfree-<uid>-<random>``, for this process only).
    """
    base = Path(tempfile.gettempdir()) / f"labelfree-{_user_id()}"
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix=f"labelfree-{_user_id()}-"))
    try:
        info = os.lstat(base)
    except OSError:
        info = None
    ours = info is not None and stat.S_ISDIR(info.st_mode) and (
        not hasattr(os, "getuid") or (info.st_uid == os.getuid() and not info.st_mode & 0o022))
    return base if ours else Path(tempfile.mkdtemp(prefix=f"labelfree-{_user_id()}-"))


@functools.lru_cache(maxsize=None)
def _say_once(message: str) -> None:
    log.info(message)


def cache_root() -> Path:
    """LabelFree's cache folder: ``$LABELFREE_CACHE_DIR``, else ``$XDG_CACHE_HOME/labelfree`` or
    ``~/.cache/labelfree``; without a home folder (no ``HOME``, no passwd entry) ``<tmp>/labelfree-<uid>/cache``
    (logged once), which holds no model zoo: set ``LABELFREE_CACHE_DIR`` there to use a shared one."""
    env = os.environ.get("LABELFREE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "labelfree"
    home = home_folder()
    if home is not None:
        return home / ".cache" / "labelfree"
    folder = user_temp_dir() / "cache"
    _say_once(f"No home folder (HOME is not set and user {_user_id()} has no passwd entry): LabelFree's cache is "
              f"{folder}; set LABELFREE_CACHE_DIR to keep one (or to use a shared one with a model zoo).")
    return folder


def can_write(folder: str | os.PathLike[str], /) -> bool:
    """Whether a file can be created in ``folder`` (made with its parents when missing), tried for real as numba
    does: permission bits say nothing on a read-only mount, and nothing at all for root."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def writable_cache(name: str, /) -> Path:
    """``<cache_root()>/<name>`` when it can be written, else ``<user_temp_dir()>/<name>`` (logged at INFO once):
    for what each user may keep for themselves (compiled code, settings) when the cache is a read-only shared one
    or the home folder cannot be written."""
    root = cache_root()
    if can_write(root / name):
        return root / name
    folder = user_temp_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    _say_once(f"LabelFree's cache {root} cannot be written: keeping {name} in {folder} instead.")
    return folder
