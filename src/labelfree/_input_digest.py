"""What a provenance record holds of an input folder (a folder of frames, an OME-Zarr image), and what differs from
it when a run is repeated from that record.

:func:`folder_record` gives the entries of a folder input's record: ``files`` (how many), ``bytes`` (their sizes
together), ``files_sha256`` (of every file's relative path, size and SHA-256, in order of path) and, so that a
rerun can name what differs, each file's size and the first 16 hex digits of its SHA-256 (``listing``); a folder of
more than :data:`LISTED` files (an OME-Zarr image's chunks) is listed as that many runs of files in order of path
instead (``ranges``: first and last file, count, bytes, digest). A folder of frames is its files of the frame
suffixes, beside each other (``suffixes``: as its reader takes them); an OME-Zarr image is every file under it less
its label images (its ``labels/`` group, where LabelFree and napari write labels) and desktop files
(``.DS_Store``, ``Thumbs.db``). Contents are hashed up to :data:`HASH_LIMIT` bytes in all; a larger folder is
recorded by its files' names and sizes (``hashed``: false). The record of a folder of frames also holds its
``frames_sha256`` (:func:`labelfree.io.sequence.frames_record`); one :class:`FileDigests` given to both reads each
frame once.

:func:`folder_changes` says what differs between such a record and a folder now (``files added: t048.tif;
changed: t010.tif``), names and sizes first: a folder whose names or sizes differ is not read again.
:func:`frames_changes` does so for a record written before (``frames``, ``first``, ``last`` and
``frames_sha256`` alone).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

__all__ = ["folder_record", "folder_changes", "frames_changes", "FileDigests", "LISTED", "HASH_LIMIT",
           "TIFF_SUFFIXES"]

#: a folder input of up to this many files is listed file by file in its record; a larger one by as many runs
LISTED = 256
#: the folder's files are hashed up to this many bytes together (about 4 s at 0.5 GB/s); a larger one is recorded
#: and compared by the names and sizes of its files
HASH_LIMIT = 2 << 30
#: the suffixes of the TIFF files a folder of frames is read from (:data:`labelfree.io.sequence.FRAME_SUFFIXES`)
TIFF_SUFFIXES = (".tif", ".tiff", ".btf")
#: names shown of each kind of difference (files added, missing, changed)
_SHOWN = 3
_DESKTOP_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})

Row = tuple[str, int, str]  # relative path, size in bytes, SHA-256 ("" when not hashed)


def _sha256(path: Path, /) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


class FileDigests:
    """The SHA-256 of files (hex digits), each file read once however often it is asked for.

    Call it with a file's path. A folder of frames' provenance record asks for every frame twice (its
    ``frames_sha256``, :func:`labelfree.io.sequence.frames_record`, and its listing, :func:`folder_record`): given
    one of these, both read each frame once. It remembers a file's digest for as long as it lives (one record):
    a file changed after it was read is not read again.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t000.tif"
    >>> _ = path.write_bytes(b"frame")
    >>> digests = FileDigests()
    >>> digests(path) == digests(str(path)), digests.reads
    (True, 1)
    """

    def __init__(self) -> None:
        self._known: dict[Path, str] = {}

    @property
    def reads(self) -> int:
        """How many files were read."""
        return len(self._known)

    def __call__(self, path: str | os.PathLike[str], /) -> str:
        key = Path(path)
        sha = self._known.get(key)
        if sha is None:
            sha = self._known[key] = _sha256(key)
        return sha


def natural_key(name: str, /) -> list[Any]:
    """Names in the order of their numbers (``t2`` before ``t10``, case ignored): the order in which a folder of
    frames is read (:func:`labelfree.io.sequence.read_sequence`) and its files are listed in a record."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def _image_group(folder: Path, /) -> bool:
    """Whether ``folder`` is an OME-Zarr image (its metadata holds ``multiscales``): its ``labels/`` are labels."""
    for name in (".zattrs", "zarr.json"):
        try:
            text = (folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        return '"multiscales"' in text
    return False


def _files(folder: Path, suffixes: Collection[str] | None, /) -> list[tuple[str, Path]]:
    """The files of a folder input that its record lists, by relative path (POSIX), in order of path."""
    if suffixes is not None:  # a folder of frames: its visible files of those suffixes, as its reader takes them
        wanted = tuple(str(s).lower() for s in suffixes)
        with os.scandir(folder) as entries:
            return sorted((e.name, Path(e.path)) for e in entries
                          if not e.name.startswith(".") and e.name.lower().endswith(wanted) and e.is_file())
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        if "labels" in dirnames and _image_group(Path(dirpath)):
            dirnames.remove("labels")
        for name in filenames:
            if name not in _DESKTOP_FILES and not name.startswith("._"):
                path = Path(dirpath) / name
                out.append((path.relative_to(folder).as_posix(), path))
    return sorted(out)


def _sized(files: Sequence[tuple[str, Path]], /) -> list[tuple[str, int]]:
    return [(rel, path.stat().st_size) for rel, path in files]


def _hashed(files: Sequence[tuple[str, Path]], sizes: Sequence[tuple[str, int]], /,
            sha256: Callable[[Path], str] = _sha256) -> list[Row]:
    return [(rel, size, sha256(path)) for (rel, path), (_, size) in zip(files, sizes)]


def _digest(rows: Sequence[Row], /) -> str:
    h = hashlib.sha256()
    for rel, size, sha in rows:
        h.update(f"{rel}\0{size}\0{sha}\n".encode())
    return h.hexdigest()


def _runs(n: int, /) -> list[slice]:
    step = -(-n // LISTED)
    return [slice(i, i + step) for i in range(0, n, step)]


def folder_record(folder: str | os.PathLike[str], /, *, suffixes: Collection[str] | None = None,
                  sha256: Callable[[Path], str] | None = None) -> dict[str, Any]:
    """The entries of a folder input's provenance record (the module's docstring says which files and how).

    Parameters
    ----------
    folder : path-like
        A folder of frames or an OME-Zarr image.
    suffixes : collection of str, optional
        The frame files' suffixes (``(".tif", ".tiff", ".btf")``): a folder of frames, its files of these
        suffixes beside each other; None: every file under the folder (an OME-Zarr image).
    sha256 : callable, optional
        A file's SHA-256 (hex digits) from its path: a :class:`FileDigests` that
        :func:`labelfree.io.sequence.frames_record` was given too, so that each frame is read once. By default
        each file is read here.

    Returns
    -------
    dict
        ``files``, ``bytes``, ``hashed``, ``files_sha256`` and ``listing`` (name -> ``[size, sha256 prefix]``) or
        ``ranges`` (``[first, last, count, bytes, digest prefix]``), and ``suffixes`` where given.
    """
    folder = Path(folder)
    files = _files(folder, suffixes)
    sizes = _sized(files)
    total = sum(size for _, size in sizes)
    hashed = total <= HASH_LIMIT
    rows = _hashed(files, sizes, sha256 or _sha256) if hashed else [(rel, size, "") for rel, size in sizes]
    out: dict[str, Any] = {"files": len(rows), "bytes": total, "hashed": hashed, "files_sha256": _digest(rows)}
    if len(rows) <= LISTED:
        out["listing"] = {rel: [size, sha[:16]] if sha else [size] for rel, size, sha in rows}
    else:
        out["ranges"] = [[part[0][0], part[-1][0], len(part), sum(r[1] for r in part), _digest(part)[:16]]
                         for part in (rows[s] for s in _runs(len(rows)))]
    if suffixes is not None:
        out["suffixes"] = sorted({str(s).lower() for s in suffixes})
    return out


def _names(kind: str, names: Sequence[str], /) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return f"{kind}: {', '.join(names[:_SHOWN])}{more}"


def _said(added: Sequence[str], missing: Sequence[str], changed: Sequence[str], /) -> str | None:
    parts = [_names(kind, names) for kind, names in (("files added", added), ("missing", missing),
                                                      ("changed", changed)) if names]
    return "; ".join(parts) or None


def _valid(recorded: dict[str, Any], /) -> bool:
    listing, ranges = recorded.get("listing"), recorded.get("ranges")
    if isinstance(listing, dict):
        return all(isinstance(v, list) and v and isinstance(v[0], int) for v in listing.values())
    return isinstance(ranges, list) and all(isinstance(r, list) and len(r) == 5 for r in ranges)


def folder_changes(recorded: dict[str, Any], folder: str | os.PathLike[str], /) -> str | None:
    """What differs between the folder input a record's entry describes (:func:`folder_record`) and ``folder``
    now, in a few words (``files added: t048.tif; changed: t010.tif``); None when its files are the same (names,
    sizes and, where the record hashed them, contents) or the entry holds no listing (then nothing is read).

    Names and sizes are compared first: the contents are hashed only when they are all the same.
    """
    if not _valid(recorded):
        return None
    suffixes = recorded.get("suffixes")
    suffixes = [str(s) for s in suffixes] if isinstance(suffixes, list) and suffixes else None
    files = _files(Path(folder), suffixes)
    sizes = _sized(files)
    listing = recorded.get("listing")
    if isinstance(listing, dict):
        then, now = {str(k): v for k, v in listing.items()}, dict(sizes)
        said = _said([n for n in now if n not in then], [n for n in then if n not in now],
                     [n for n, size in sizes if n in then and then[n][0] != size])
        if said or recorded.get("hashed") is False:
            return said
        rows = _hashed(files, sizes)
        if _digest(rows) == recorded.get("files_sha256"):
            return None
        changed = [rel for rel, _, sha in rows if len(then[rel]) < 2 or not sha.startswith(str(then[rel][1]))]
        return _said([], [], changed) or "files_sha256 differs"
    return _ranges_changes(recorded, files, sizes)


def _ranges_changes(recorded: dict[str, Any], files: Sequence[tuple[str, Path]],
                    sizes: Sequence[tuple[str, int]], /) -> str | None:
    """:func:`folder_changes` for a record that lists its files as runs (``ranges``)."""
    ranges = [(str(r[0]), str(r[1]), r[2], r[3], str(r[4])) for r in recorded["ranges"]]
    inside: list[list[int]] = [[] for _ in ranges]
    added = []
    for i, (rel, _) in enumerate(sizes):
        k = next((k for k, r in enumerate(ranges) if r[0] <= rel <= r[1]), None)
        if k is None:
            added.append(rel)
        else:
            inside[k].append(i)

    def run(k: int, /) -> str:
        first, last, count = ranges[k][:3]
        return f"{first} to {last} ({count} files then, {len(inside[k])} now)"

    differ = [k for k, r in enumerate(ranges) if len(inside[k]) != r[2] or sum(sizes[i][1] for i in inside[k]) != r[3]]
    if added or differ or recorded.get("hashed") is False:
        return _said(added, [], [run(k) for k in differ])
    rows = _hashed(files, sizes)
    if _digest(rows) == recorded.get("files_sha256"):
        return None
    differ = [k for k, r in enumerate(ranges) if not _digest([rows[i] for i in inside[k]]).startswith(r[4])]
    return _said([], [], [run(k) for k in differ]) or "files_sha256 differs"


def frames_changes(recorded: dict[str, Any], folder: str | os.PathLike[str], /) -> str | None:
    """What differs between a folder of frames as a record written before :func:`folder_record` describes it
    (``frames``, ``first``, ``last``, ``frames_sha256``: every frame's name and SHA-256, in frame order) and
    ``folder`` now; None when nothing does, or the record does not say.

    The number of frames and the first and last names are compared first; the frames are hashed only when those
    are the same, and not for files that number z planes (``axes``: their reading order is the reader's)."""
    first, last, count = recorded.get("first"), recorded.get("last"), recorded.get("frames")
    if not isinstance(first, str) or not isinstance(last, str) or not isinstance(count, int):
        return None
    suffix = Path(first).suffix.lower()
    names = sorted((rel for rel, _ in _files(Path(folder), TIFF_SUFFIXES if suffix in TIFF_SUFFIXES else (suffix,))),
                   key=natural_key)
    if not names:
        return f"{count} frames then ({first} to {last}), none now"
    if (len(names), names[0], names[-1]) != (count, first, last):
        return f"{count} frames then ({first} to {last}), {len(names)} now ({names[0]} to {names[-1]})"
    sha = recorded.get("frames_sha256")
    if not isinstance(sha, str) or "axes" in recorded:
        return None
    h = hashlib.sha256()
    for name in names:
        h.update(f"{name}\0{_sha256(Path(folder) / name)}\n".encode())
    return None if h.hexdigest() == sha else f"frames_sha256 then {sha[:12]}, now {h.hexdigest()[:12]}"

