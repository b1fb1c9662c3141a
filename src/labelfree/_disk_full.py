"""A full disk, in each form an ``OSError`` takes for it, and the room left on a folder's disk.

A write that finds no room fails as ``ENOSPC`` (no space left), ``EDQUOT`` (the user's quota is used up),
``EFBIG`` (the file is larger than the file system or the process's limit allows, ``ulimit -f``), or with no
errno at all: numpy's ``ndarray.tofile`` says ``Not enough free space to write N bytes`` when the file system
cannot reserve the room, and numpy or tifffile say ``N requested and M written`` when the disk took only part
of the data. The command line (:func:`labelfree.cli.main`) and a batch run
(:mod:`labelfree.batch.dispatch`) recognise each of them here.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path
from typing import Any

__all__ = ["disk_full_reason", "free_space_text", "nearest_folder", "noted_paths"]

#: errno of a write that found no room, and what each means
FULL_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "your disk quota is used up",
    errno.EFBIG: "the file is larger than this disk or the file size limit allows",
}
#: numpy's ``tofile`` when the file system cannot reserve the room for the data (errno None)
_NO_ROOM = re.compile(r"Not enough free space to write \d+ bytes")
#: a write that stored only part of the data (numpy's ``tofile``, tifffile): errno None
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def disk_full_reason(exc: BaseException, /) -> str | None:
    """Why ``exc`` says that a disk had no room for a write (a phrase for a message), or None.

    ``exc`` itself and the errors it was raised from (``raise ... from``) are looked at, so that an error
    that wraps a full disk is one too.

    Examples
    --------
    >>> import errno
    >>> disk_full_reason(OSError(errno.ENOSPC, "No space left on device"))
    'the disk is full (No space left on device, errno 28)'
    >>> disk_full_reason(OSError("Not enough free space to write 8 bytes"))
    'the disk is full (Not enough free space to write 8 bytes)'
    >>> disk_full_reason(OSError(errno.ENOENT, "No such file or directory")) is None
    True
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen and len(seen) < 8:
        seen.add(id(cause))
        if isinstance(cause, OSError):
            if cause.errno in FULL_ERRNOS:
                limit = _size_limit() if cause.errno == errno.EFBIG else ""
                return f"{FULL_ERRNOS[cause.errno]} ({cause.strerror or cause}, errno {cause.errno}){limit}"
            text = str(cause.args[0]) if cause.errno is None and cause.args else ""
            if _NO_ROOM.search(text):
                return f"the disk is full ({text}){_size_limit()}"
            if _SHORT_WRITE.search(text):
                return f"the disk took only part of the data ({text}); it is probably full{_size_limit()}"
        cause = cause.__cause__
    return None


def _size_limit() -> str:
    """The file size limit of this process (``ulimit -f``, which makes a write fail as a full disk does), as
    ``"; or this process's file size limit (ulimit -f, N bytes) was reached"``; "" when there is none."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, AttributeError, OSError, ValueError):  # no such limit on this system
        return ""
    if soft == resource.RLIM_INFINITY:
        return ""
    return f"; or this process's file size limit (ulimit -f, {soft} bytes) was reached"


def noted_paths(exc: BaseException, /) -> list[Path]:
    """The files a failed write names: its ``filename``, else those of the note that
    :mod:`labelfree.io.atomic` adds to an error that names none (``while writing PATH``,
    ``while writing one of PATH, PATH``)."""
    name = getattr(exc, "filename", None)
    if name is not None:
        return [Path(os.fsdecode(name))]
    paths: list[Path] = []
    for note in getattr(exc, "__notes__", None) or []:
        text = str(note)
        for head in ("while writing one of ", "while writing "):
            if text.startswith(head):
                paths.extend(Path(p) for p in text[len(head):].split(", ") if p)
                break
    return paths


def nearest_folder(path: Any, /) -> Path:
    """The folder ``path`` (absolute, ``~`` expanded) or, while it is not made yet, the nearest folder above it that
    is: where a file can be put on the disk that ``path`` will be on."""
    folder = Path(path).expanduser().absolute()
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def free_space_text(folder: Any, /) -> str | None:
    """The room left on the disk of ``folder`` (its nearest existing parent when it is not there yet),
    as ``"1.5 MB free"``; None when it cannot be read."""
    try:
        free = shutil.disk_usage(nearest_folder(folder)).free
    except (OSError, ValueError, TypeError):
        return None
    value, unit = float(free), "bytes"
    for unit_name in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, unit_name
    return f"{int(value)} bytes free" if unit == "bytes" else f"{value:.1f} {unit} free"
