"""Atomic file writing: write to a temporary file next to the target, then rename.

A reader never sees a half-written output: either the old file (or none) or the
complete new one. :class:`AtomicGroup` commits several files together, so a
failure while writing the third output of a set leaves none of the set behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator

from labelfree.errors import InputError

__all__ = ["atomic_path", "AtomicGroup"]

log = logging.getLogger(__name__)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _temp_path(target: Path) -> Path:
    """Create an empty temporary file in the target's folder (same file system)."""
    folder = target.parent
    if not folder.is_dir():
        raise InputError(
            f"Cannot write {target}: the folder {folder} does not exist. Create it first "
            "(write_outputs creates its output folder itself)."
        )
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    os.close(fd)
    os.chmod(name, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual mode
    return Path(name)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
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
    tmp = _temp_path(target)
    try:
        yield tmp
    except BaseException:
        _remove_quietly(tmp)
        raise
    try:
        os.replace(tmp, target)
    except OSError:
        _remove_quietly(tmp)
        raise


class AtomicGroup:
    """Write several files and publish them together at the end.

    Use :meth:`path` to get a temporary path per target; leaving the ``with``
    block without an error renames every temporary file onto its target, an
    error removes them all.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def path(self, target: str | os.PathLike[str]) -> Path:
        """Temporary path standing in for ``target`` until the group commits."""
        tmp = _temp_path(Path(target))
        self._pending.append((tmp, Path(target)))
        return tmp

    def __enter__(self) -> "AtomicGroup":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            for tmp, target in self._pending:
                os.replace(tmp, target)
        except OSError:
            self.discard()
            raise
        self._pending.clear()

    def discard(self) -> None:
        """Remove every temporary file not yet committed."""
        for tmp, _ in self._pending:
            _remove_quietly(tmp)
        self._pending.clear()
