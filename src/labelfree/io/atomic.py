"""Atomic file writing, the one implementation every writer of LabelFree uses.

A file is written to a temporary file beside its target and renamed onto it, so a
reader sees either the old file (or none) or the complete new one, never a
half-written one. Temporary files get the mode a plain ``open`` would give (not
mkstemp's 0600), are named ``.<target>.<random>.part`` (a very long target name cut) and are removed on
any error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator

from labelfree.errors import OutputError

__all__ = ["atomic_path", "write_text_atomic", "write_bytes_atomic", "cut_to_bytes", "name_bytes", "PART_SUFFIX"]

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def temp_path(target: Path, /) -> Path:
    """Create an empty temporary file in the target's folder (same file system), mode 0666 & ~umask."""
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(
            f"Cannot write {target}: the folder {folder} does not exist. Create it first "
            "(write_outputs creates its output folder itself)."
        )
    try:
        # the temporary name adds 15 bytes to the target's: a target name near 255 bytes must still be writable
        fd, name = tempfile.mkstemp(prefix=f".{cut_to_bytes(target.name, 200)}.", suffix=PART_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(f"Cannot write into {folder}: {exc.strerror or exc}. Choose a folder you can write to.") from exc
    os.close(fd)
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def name_bytes(name: str, /) -> int:
    """The length of a file name on disk (UTF-8; names that are not text as the file system gave them)."""
    try:
        return len(os.fsencode(name))
    except UnicodeEncodeError:  # a lone surrogate that no file name holds: the file system refuses it anyway
        return len(name.encode("utf-8", "surrogatepass"))


def cut_to_bytes(name: str, limit: int, /) -> str:
    """``name`` cut at a whole letter to at most ``limit`` bytes on disk: a file system takes 255 bytes
    per name, and non-ASCII letters take 2 to 4 each."""
    while name_bytes(name) > limit:
        name = name[:-1]
    return name


def remove_quietly(path: Path, /) -> None:
    """Remove a file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], /) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    target = Path(path)
    tmp = temp_path(target)
    try:
        yield tmp
    except BaseException:
        remove_quietly(tmp)
        raise
    try:
        os.replace(tmp, target)
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"Cannot write {target}: {exc.strerror or exc}.") from exc


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, /, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str, /, *, fsync: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (newlines as given); return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"), fsync=fsync)
