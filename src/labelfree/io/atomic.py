"""Atomic file writing, the one implementation every writer of LabelFree uses.

A file is written to a temporary file beside its target and renamed onto it, so a
reader sees either the old file (or none) or the complete new one, never a
half-written one. Temporary files get the mode a plain ``open`` would give (not
mkstemp's 0600), are named ``.<target>.<random>.part`` (a very long target name cut) and are removed on
any error. An error met while writing names the target, never the temporary file: an OSError that names
the temporary file names the target instead, and one that names no file gets a note naming the target.
A target spelt as a folder (``out/``) is refused before anything is written, and so is a name whose suffix
the writer does not write (:func:`check_file_suffix`: ``x.png`` for a TIFF).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from labelfree.errors import OutputError

__all__ = ["atomic_path", "write_text_atomic", "write_bytes_atomic", "check_file_path", "check_file_suffix",
           "cut_to_bytes", "name_bytes", "PART_SUFFIX", "current_umask"]

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"


#: whether /proc/self/status gives the umask (Linux 4.7 and later); None until first tried
_PROC_UMASK: bool | None = None
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask now (a long session may change it with ``os.umask``), read without changing it.

    Linux tells it in ``/proc/self/status`` (``Umask:``; about 20 µs). Elsewhere it can only be read by setting
    it and setting it back, which another thread creating a file at that moment would see: that is done under
    a lock, so at least LabelFree's own writers never meet the temporary value.
    """
    global _PROC_UMASK
    if _PROC_UMASK is not False:
        try:
            with open("/proc/self/status", "rb") as status:
                for line in status:
                    if line.startswith(b"Umask:"):
                        _PROC_UMASK = True
                        return int(line.split()[1], 8)
        except (OSError, ValueError, IndexError):
            pass
        _PROC_UMASK = False
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask

#: the targets of the atomic writes now open in this thread or task, outermost first (for error notes)
_OPEN_TARGETS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("labelfree_atomic_targets",
                                                                                  default=())


def check_file_path(path: str | os.PathLike[str], /, *, what: str = "output file") -> Path:
    """``path`` as a Path, refused (OutputError) when its spelling names a folder rather than a file.

    ``Path("out/")`` is ``Path("out")``: a path that ends with a separator (or with ``.`` or ``..`` as its
    last name) would silently become a file named after the folder. An empty path is refused, too (it
    usually comes from an unset variable). ``what`` names the file in the message.

    >>> check_file_path("out/a.tif").name
    'a.tif'
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise OutputError(f"The {what} path is empty; give the path of a file (an empty path usually comes from an "
                          "unset variable).")
    seps = (os.sep, "/") + ((os.altsep,) if os.altsep else ())
    last = text
    for sep in seps:
        last = last.rsplit(sep, 1)[-1]
    if last in ("", ".", ".."):
        folder = text.rstrip("".join(seps)) or text  # "out/" -> out/NAME; "out/.." -> out/../NAME
        raise OutputError(
            f"The {what} {text!r} ends with {text[-1] if last == '' else last!r}, so it names a folder; a file path "
            f"is expected. Give a file name (for a file in that folder: {folder}{os.sep}NAME)."
        )
    return Path(text)


def check_file_suffix(path: str | os.PathLike[str], /, *, suffixes: tuple[str, ...], writes: str,
                      what: str = "output file", refused: tuple[str, ...] = ()) -> Path:
    """``path`` checked by :func:`check_file_path` (a folder spelling is refused), then refused (OutputError)
    when its name does not end with one of ``suffixes`` (any case) or ends with one of ``refused``: a writer
    writes one format, and a name that promises another (a TIFF named ``x.png``) is opened by Fiji with the
    wrong reader, or not at all.

    ``writes`` names the format in the message (``"an ImageJ hyperstack TIFF"``), which also gives the name
    to use (``x.tif``). An existing folder is refused as one. The temporary ``.<target>.<random>.part`` of
    :func:`atomic_path` is judged by its target's name (unchecked when that name was cut), so a writer may
    write into a temporary file its caller holds.

    >>> check_file_suffix(Path("out/a.TIF"), suffixes=(".tif", ".tiff"), writes="a TIFF").name
    'a.TIF'
    """
    path = check_file_path(path, what=what)
    if _is_folder(path):
        _refuse_folder(path)
    name = path.name
    if name.startswith(".") and name.endswith(PART_SUFFIX) and name.count(".") >= 3:
        name = name[1:].rsplit(".", 2)[0]
        if name_bytes(name) > _CUT_NAME - 4:  # cut to make the temporary name: its suffix is unknown
            return path
    low = name.lower()
    if low.endswith(tuple(s.lower() for s in suffixes)) and not low.endswith(tuple(r.lower() for r in refused)):
        return path
    names = " or ".join(suffixes)
    other = next((r for r in refused if low.endswith(r.lower())), None)
    if other is not None:
        given, stem = name[-len(other):], name[: -len(other)]
        names = f"{names} (not {other})"
    else:
        given = Path(name).suffix
        if not (given[1:].isalnum() and not given[1:].isdigit()):  # "t0.5": a number, not a suffix
            given = ""
        stem = name[: len(name) - len(given)]
    ends = f"ends with {given!r}" if given else "has no suffix"
    raise OutputError(f"The {what} {path.with_name(name)} {ends}, but it is written as {writes}: a file named so "
                      f"is opened with the wrong reader, or not at all. Give a name ending with {names}, e.g. "
                      f"{path.with_name(stem + suffixes[0])}.")


def _refuse_folder(target: Path) -> None:
    raise OutputError(f"The output file {target} is an existing folder; a file path is expected. Give a file "
                      f"name (for a file in that folder: {target}{os.sep}NAME).")


#: the bytes of the target's name kept in a temporary file's name (a file system takes 255 per name)
_CUT_NAME = 200


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
        fd, name = tempfile.mkstemp(prefix=f".{cut_to_bytes(target.name, _CUT_NAME)}.", suffix=PART_SUFFIX,
                                    dir=folder)
    except OSError as exc:
        raise OutputError(f"Cannot write {target}: {exc.strerror or exc}. Choose a folder you can write to.") from exc
    os.close(fd)
    with contextlib.suppress(OSError):  # a file system without Unix modes (FAT, SMB) refuses chmod: keep its mode
        os.chmod(name, 0o666 & ~current_umask())
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

    On any exception the temporary file is removed and ``path`` is left as it was; an OSError names ``path``,
    not the temporary file (see the module). A path spelt as a folder (``out/``) or naming an existing
    folder is refused (:class:`~labelfree.errors.OutputError`) before anything is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    target = check_file_path(path)
    if _is_folder(target):
        _refuse_folder(target)
    tmp = temp_path(target)
    token = _OPEN_TARGETS.set((*_OPEN_TARGETS.get(), target))
    try:
        yield tmp
    except BaseException as exc:
        remove_quietly(tmp)
        if isinstance(exc, OSError):
            _name_target(exc, tmp, target)
        raise
    finally:
        _OPEN_TARGETS.reset(token)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"Cannot write {target}: {exc.strerror or exc}. Check that {target.parent} is writable "
                          "and has free space, or choose another folder.") from exc


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system: refused, with its reason, when written
        return False


def _name_target(exc: OSError, tmp: Path, target: Path) -> None:
    """Make an OSError met while writing ``tmp`` name ``target``, the file the user asked for.

    The temporary file named as the error's file (a cut ``.<target>.<random>.part``) becomes the target. An
    error that names no file (a full disk, tifffile's short write) gets a note naming the target, or, within
    several atomic writes open together, all of their targets; the innermost write adds it, once.
    """
    for attr in ("filename", "filename2"):
        name = getattr(exc, attr, None)
        if name is not None and os.fsdecode(name) == str(tmp):
            setattr(exc, attr, str(target))
    if exc.filename is not None or getattr(exc, "_labelfree_noted", False):
        return
    open_targets = _OPEN_TARGETS.get()
    if len(open_targets) > 1:
        note = f"while writing one of {', '.join(map(str, open_targets))}"
    else:
        note = f"while writing {target}"
    with contextlib.suppress(AttributeError, TypeError):
        exc.add_note(note)
        exc._labelfree_noted = True  # type: ignore[attr-defined]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, /, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    path = check_file_path(path)
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
