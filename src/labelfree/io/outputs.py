"""The output layer: where every entry point (API, CLI, batch, Fiji) puts its results.

Rules it enforces, whatever paths are given:

* an output is never an input: a target that is (or is a link to) an input file is
  refused, and so is an output folder that is an input file, and any output (folder or
  file) that lies inside a folder input (an OME-Zarr store, a CTC or tile folder);
* no output folder lies inside an OME-Zarr image or container, or is created with a name ending in ``.zarr``
  (TIFF, CSV, ZIP and JSON files make no OME-Zarr: labels go into an image with ``write_ngff_labels``, or
  beside the set's files as the OME-Zarr ``<stem>_labels.ome.zarr``, the ``ome_zarr`` output);
* the location is checked before any computation (:class:`OutputFolder` creates the
  folder, proves it writable and plans the file names up front);
* every path stays inside the output folder (stems are plain file names);
* an earlier result is never silently replaced: an existing target is an error unless
  ``overwrite=True`` (CLI ``--overwrite``);
* a set of files (labels, ROIs, table, provenance, extras) is written into a staging
  folder and published as a whole: the old manifest is withdrawn first, the files are
  moved in, and the manifest (``<stem>_provenance.json``, holding the SHA-256 of every
  other file; of a folder output, an OME-Zarr store, the SHA-256 of its files' names and
  SHA-256s, :func:`output_digest`) is written last. A set without a manifest that verifies is incomplete,
  and reruns redo it. A set replaces an earlier one whole: the earlier set's own files
  that the new one does not write (an overlay, a flow stack) go, too;
* a folder is written by one run at a time (:class:`OutputFolder` holds a lock whose
  refusal names the holder), and each run cleans the leftovers of interrupted runs.

Batch workers publish with :func:`publish_set` inside a folder their client holds.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from labelfree._config import file_sha256
from labelfree.errors import FolderInUseError, InputError, InputOverwriteError, OutputError, OutputExistsError
from labelfree.io.atomic import (atomic_path, check_file_path, cut_to_bytes, name_bytes, remove_quietly,
                                 write_text_atomic)
from labelfree.io.raster import PICTURE_SUFFIXES

__all__ = [
    "OUTPUT_SUFFIXES",
    "EXTRA_SUFFIXES",
    "FOLDER_KINDS",
    "output_digest",
    "STAGING_DIR",
    "staging_folders",
    "LOCK_FILE",
    "output_stem",
    "check_stem",
    "plain_stem",
    "check_not_input",
    "check_output_file",
    "write_output_file",
    "OutputFolder",
    "publish_set",
    "read_manifest",
    "recover_folder",
    "InputRecord",
    "InputIndex",
    "describe_inputs",
    "new_staging",
    "staging_folder",
]

log = logging.getLogger(__name__)

#: file name of each output of the standard set: ``<stem><suffix>``
OUTPUT_SUFFIXES = {
    "labels": "_labels.tif",
    "rois": "_rois.zip",
    "table": "_table.csv",
    "provenance": "_provenance.json",
}
#: optional outputs some entry points add to the set
EXTRA_SUFFIXES = {
    "overlay": "_overlay.png",
    "flow": "_flow.tif",
    "drift": "_drift.csv",
    "ome_zarr": "_labels.ome.zarr",
}
#: outputs that are folders, not files: written whole in the staging folder, moved in with one rename
FOLDER_KINDS = ("ome_zarr",)
#: file name suffixes of LabelFree inputs (stripped whole to make the output stem): TIFF, OME-Zarr, and the 2-D
#: pictures of :mod:`labelfree.io.raster` (PNG, JPEG, BMP, GIF, PGM/PPM)
IMAGE_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".btf", ".zarr", *PICTURE_SUFFIXES)
STAGING_DIR = ".labelfree-staging"
LOCK_FILE = ".labelfree.lock"
_JOURNAL = "publish.json"
_MAX_STEM = 200


# -- names ---------------------------------------------------------------------------------------------------------

def output_stem(path: str | os.PathLike[str], /) -> str:
    """The output stem of an input file: its whole name without the image suffix; of a folder of frames, its
    name (``.`` or ``..``: the name of the folder they stand for); of the array folder of one level of an
    OME-Zarr image, the image's stem and the level's folder (``big.ome.zarr/s1``: ``big_s1``); of a field of
    an HCS plate, the plate's stem, row, column and field (``plate.zarr/A/1/0``: ``plate_A_1_0``), in a batch
    as in a command.

    >>> output_stem("exp1.pos1.ome.tif"), output_stem("/data/movie.tif"), output_stem("a.b")
    ('exp1.pos1', 'movie', 'a.b')
    >>> output_stem("/data/Fluo-N2DH-SIM+/01/"), output_stem("/data/Fluo-N2DH-SIM+/01/..")
    ('01', 'Fluo-N2DH-SIM+')
    """
    name = Path(path).name.rstrip("/") or str(path)
    if name in (".", ".."):  # a folder named by where it is (labelfree motion . -o ../out)
        name = os.path.basename(os.path.abspath(path)) or name
    low = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return _level_stem(path) or name


def _level_stem(path: str | os.PathLike[str]) -> str | None:
    """``big_s1`` for the array folder of a level of the OME-Zarr image ``big.ome.zarr`` (``big.ome.zarr/s1``), and
    ``plate_A_1_0`` for the field ``plate.zarr/A/1/0`` of an HCS plate (its path in the plate, NGFF's
    row/column/field): a folder's name alone (``s1``, ``0``) says nothing of the image; None for any other path."""
    if not os.path.isdir(path):
        return None
    from labelfree.io.ngff.metadata import _is_zarr_array, _level_of, _plate_field

    folder = Path(os.path.abspath(path))
    if not _is_zarr_array(folder):
        field = _plate_field(folder)
        return None if field is None else f"{output_stem(field[0])}_{field[1].replace('/', '_')}"
    found = _level_of(folder)
    if found is None:
        return None
    image, _ = found
    return f"{output_stem(image)}_{folder.relative_to(image).as_posix().replace('/', '_')}"


def check_stem(stem: str, /) -> str:
    """Return ``stem`` when it is a plain file-name prefix; InputError otherwise.

    A stem may not be empty, ``.``/``..``, start with a dot, hold a path separator
    or a control character, or be longer than 200 characters (or 200 bytes in UTF-8):
    every output must stay inside its folder, be visible, and have a name the file
    system takes.
    """
    if not isinstance(stem, str) or not stem.strip():
        raise InputError(f"An output name (stem) must be a non-empty text; got {stem!r}.")
    bad = [ch for ch in stem if _outside_stem(ch)]
    if bad or stem in (".", "..") or stem.startswith(".") or len(stem) > _MAX_STEM or stem != stem.strip():
        raise InputError(
            f"The output name {stem!r} is not a plain file-name prefix (no '/', '\\', leading dot, control "
            f"characters or surrounding spaces; at most {_MAX_STEM} characters). Outputs stay inside the "
            "output folder: choose a plain name."
        )
    if name_bytes(stem) > _MAX_STEM:  # a file system takes 255 bytes per name: room for the suffixes
        raise InputError(
            f"The output name {stem[:40]}... is {name_bytes(stem)} bytes long in UTF-8 (each of its non-ASCII "
            f"letters takes 2 to 4); an output name holds at most {_MAX_STEM} bytes, so that its file names "
            "(<stem>_provenance.json, ...) fit the file system's 255. Choose a shorter name."
        )
    return stem


def _outside_stem(ch: str) -> bool:
    """A character no output stem holds: a path separator or a control character."""
    return ch in "/\\" or ord(ch) < 32 or ch == "\x7f"


def plain_stem(text: str, /) -> str:
    """An output stem made from file and folder names that :func:`check_stem` accepts: path separators
    and control characters become ``_``, surrounding spaces and a leading dot (a hidden file named on
    purpose) are taken out, and a very long name is cut (``"image"`` when nothing is left)."""
    stem = "".join("_" if _outside_stem(ch) else ch for ch in text)
    stem = cut_to_bytes(stem.strip().lstrip(".").strip()[:_MAX_STEM], _MAX_STEM).rstrip()
    return stem or "image"


# -- inputs --------------------------------------------------------------------------------------------------------

class InputRecord:
    """An input file of a run: its path and (computed once, on demand) its SHA-256.

    A folder of frames (:mod:`labelfree.io.sequence`, a movie of one file per time point) is recorded with
    its number of frames, the first and last frame's names and ``frames_sha256``: the SHA-256 of every frame
    file's name and SHA-256, in frame order (any frame replaced, added or removed changes it); it and an OME-Zarr
    image also by their files (:func:`labelfree._input_digest.folder_record`: names, sizes, contents), so that a
    run repeated from the record names the files that differ. A file is recorded with its ``size`` and SHA-256.
    Other folders (a model zoo) are recorded by path only.
    """

    def __init__(self, path: str | os.PathLike[str], sha256: str | None = None) -> None:
        self.path = Path(path).expanduser().absolute()
        self._sha = sha256

    @property
    def sha256(self) -> str | None:
        if self._sha is None and self.path.is_file():
            self._sha = file_sha256(self.path)
        return self._sha

    def describe(self) -> dict[str, Any]:
        if self.path.is_file():
            return {"path": str(self.path), "size": self.path.stat().st_size, "sha256": self.sha256}
        from labelfree._input_digest import FileDigests, folder_record
        from labelfree.io.ngff import is_ngff
        from labelfree.io.raster import PICTURE_SUFFIXES
        from labelfree.io.sequence import FRAME_SUFFIXES, frames_record

        digests = FileDigests()  # frames_sha256 and the listing of a folder of frames: each frame read once
        frames = frames_record(self.path, sha256=digests)
        if frames:  # the files its reader takes: its TIFF files, else its pictures
            suffixes = FRAME_SUFFIXES if frames["first"].lower().endswith(FRAME_SUFFIXES) else PICTURE_SUFFIXES
            return {"path": str(self.path), **frames,
                    **folder_record(self.path, suffixes=suffixes, sha256=digests)}
        if self.path.is_dir() and (self.path.suffix.lower() == ".zarr" or is_ngff(self.path)):
            return {"path": str(self.path), **folder_record(self.path)}
        return {"path": str(self.path)}


def _as_records(inputs: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, InputRecord]:
    if not inputs:
        return {}
    if isinstance(inputs, Mapping):
        items = inputs.items()
    else:
        items = ((f"input{i}", p) for i, p in enumerate(inputs))
    out = {}
    for role, value in items:
        if value is None or value == "":
            continue
        out[str(role)] = value if isinstance(value, InputRecord) else InputRecord(value)
    return out


def describe_inputs(inputs: Mapping[str, Any] | Iterable[Any] | None, /) -> dict[str, dict[str, Any]]:
    """``{role: {"path", "sha256"}}`` for the provenance; a folder of frames by its frames (:class:`InputRecord`),
    other folders by path only."""
    return {role: rec.describe() for role, rec in _as_records(inputs).items()}


def _first(found: Mapping[Any, list[int]], key: Any) -> int | None:
    hits = found.get(key)
    return hits[0] if hits else None


class InputIndex:
    """The inputs of a run looked at once, so that checking a target against all of them is a few dictionary
    look-ups (:func:`check_not_input` with an index instead of the inputs).

    Each input is looked at (its file identity, whether it is a folder, where its links lead) when the index is
    made, each target when it is checked: make it once every input is listed and exists as it will be read (an
    :class:`OutputFolder` makes its own at its first check, after creating the folder, and again when inputs are
    added). An input that another program replaces or relinks later is still known by what it was then;
    LabelFree's own writes (its output sets, never an input) change no input.

    Parameters
    ----------
    inputs : mapping role -> path (or InputRecord), or iterable of paths, optional
        The run's inputs, as :func:`check_not_input` takes them.
    """

    def __init__(self, inputs: Mapping[str, Any] | Iterable[Any] | None, /) -> None:
        self.records = _as_records(inputs)
        self._roles = list(self.records)
        self._paths = [rec.path for rec in self.records.values()]
        self._by_id: dict[tuple[int, int], list[int]] = {}  # (st_dev, st_ino) of the inputs that exist
        self._folders: dict[Path, list[int]] = {}  # where the folder inputs' links lead
        self._unseen: list[int] = []  # inputs that cannot be looked at (missing): compared by path
        for i, path in enumerate(self._paths):
            try:
                st = os.stat(path)
            except (OSError, ValueError):
                self._unseen.append(i)
                continue
            self._by_id.setdefault((st.st_dev, st.st_ino), []).append(i)
            if stat.S_ISDIR(st.st_mode):
                self._folders.setdefault(Path(os.path.realpath(path)), []).append(i)
        self._spelt: dict[bool, tuple[dict[str, list[int]], dict[Path, list[int]], dict[int, Exception]]] = {}

    def outdated(self) -> bool:
        """Whether an input that could not be looked at when the index was made (missing) exists now: an index
        made again looks at it as the file or folder it has become (a few look-ups: one per missing input)."""
        return any(os.path.exists(self._paths[i]) for i in self._unseen)

    def _by_path(self, every: bool) -> tuple[dict[str, list[int]], dict[Path, list[int]], dict[int, Exception]]:
        """The absolute and the resolved path of every input (``every``) or of those that cannot be looked at,
        with the errors of resolving them (raised when the check reaches that input, as comparing them does)."""
        if every not in self._spelt:
            absolute: dict[str, list[int]] = {}
            resolved: dict[Path, list[int]] = {}
            errors: dict[int, Exception] = {}
            for i in range(len(self._paths)) if every else self._unseen:
                absolute.setdefault(os.path.abspath(self._paths[i]), []).append(i)
                try:
                    resolved.setdefault(self._paths[i].resolve(), []).append(i)
                except Exception as exc:  # a link loop: raised when reached, as it was before the index
                    errors[i] = exc
            self._spelt[every] = absolute, resolved, errors
        return self._spelt[every]

    def check(self, target: str | os.PathLike[str], /, *, what: str = "output") -> None:
        """Raise :class:`InputOverwriteError` when ``target`` is one of the inputs or lies inside a folder input
        (see :func:`check_not_input`); the first input (in the order given) that it is or lies in is named."""
        target = Path(target).expanduser()
        n = len(self._paths)
        if not n:
            return
        try:
            st = os.stat(target)
        except OSError:
            st = None
        same = None if st is None else _first(self._by_id, (st.st_dev, st.st_ino))
        inside = None
        if self._folders:
            real = Path(os.path.realpath(target))
            inside = min((i for p in (real, *real.parents) for i in self._folders.get(p, ())), default=None)
        best = min((i for i in (same, inside) if i is not None), default=n)
        compared = range(n) if st is None else self._unseen  # inputs compared by their paths, not their identity
        if compared and compared[0] < best:
            absolute, resolved, errors = self._by_path(st is None)
            spelt = _first(absolute, os.path.abspath(target))
            if spelt is not None and spelt < best:
                best = same = spelt
            if compared[0] < best:  # an input before it is compared by where the links lead
                ends = _first(resolved, target.resolve())
                if ends is not None and ends < best:
                    best = same = ends
                error = min((i for i in errors if i < best), default=None)
                if error is not None:
                    raise errors[error]
        if best == n:
            return
        role, path = self._roles[best], self._paths[best]
        if best == same:
            raise InputOverwriteError(
                f"The {what} {target} is the {role} of this run ({path}); LabelFree never writes over its "
                "inputs. Choose another output path."
            )
        raise InputOverwriteError(
            f"The {what} {target} lies inside the {role} of this run ({path}, a folder); LabelFree never "
            "writes into its inputs. Choose an output path outside it."
        )


def check_not_input(target: str | os.PathLike[str], inputs: Mapping[str, Any] | Iterable[Any] | InputIndex | None,
                    /, *, what: str = "output") -> None:
    """Raise :class:`InputOverwriteError` when ``target`` is one of ``inputs`` or lies inside a folder input.

    Symbolic and hard links are followed: a target that is the same file as an input is refused, and so
    is one inside an input that is a folder (an OME-Zarr store, a CTC or tile folder, a model zoo).
    ``inputs`` may be an :class:`InputIndex` made once for many targets (each check is then a few look-ups
    instead of a look at every input).
    """
    index = inputs if isinstance(inputs, InputIndex) else InputIndex(inputs)
    index.check(target, what=what)


def _check_name_lengths(path: Path, what: str) -> None:
    """OutputError for an output path with a name longer than its file system takes (255 bytes on most):
    otherwise every look at it (does it exist?) fails with a bare OSError."""
    existing = next((p for p in (path, *path.parents) if _exists_quietly(p)), Path("."))
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    for part in path.parts:
        if name_bytes(part) > limit:
            raise OutputError(
                f"The {what} {path} holds a name of {name_bytes(part)} bytes ({part[:40]}...); the file system "
                f"takes at most {limit} bytes per file or folder name. Choose a shorter name."
            )


def _exists_quietly(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, a loop of links
        return False


# -- single output files -------------------------------------------------------------------------------------------

def check_output_file(path: str | os.PathLike[str], /, *, inputs: Any = None, overwrite: bool = False,
                      what: str = "output") -> Path:
    """Check a single output file before any computation; return its absolute path.

    Refuses a path that is an input, a folder (or spelt as one: ``out/``), in a missing or unwritable
    folder, or an existing file unless ``overwrite``.
    """
    path = check_file_path(path, what=what).expanduser()
    _check_name_lengths(path, what)
    check_not_input(path, inputs, what=what)
    if path.is_dir():
        raise OutputError(f"The {what} {path} is a folder; give a file name.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise OutputError(f"The folder of the {what} {path} does not exist; create {folder} first.")
    if not folder.is_dir():
        raise OutputError(f"The {what} {path} is below {folder}, which is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write the {what} {path}: the folder {folder} is not writable.")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExistsError(
            f"The {what} {path} exists; LabelFree does not replace earlier results silently. "
            "Choose another name, or allow it (CLI --overwrite, API overwrite=True)."
        )
    return path.absolute()


def write_output_file(path: str | os.PathLike[str], writer: Callable[[Path], Any], /, *, inputs: Any = None,
                      overwrite: bool = False, what: str = "output") -> Path:
    """Write one output file atomically after :func:`check_output_file`; ``writer(tmp_path)`` writes it."""
    path = check_output_file(path, inputs=inputs, overwrite=overwrite, what=what)
    with atomic_path(path) as tmp:
        writer(tmp)
    return path


# -- manifests -----------------------------------------------------------------------------------------------------

def _manifest_path(folder: Path, stem: str) -> Path:
    return folder / f"{stem}{OUTPUT_SUFFIXES['provenance']}"


def read_manifest(folder: str | os.PathLike[str], stem: str, /, *, verify: bool = True) -> dict[str, Any] | None:
    """The manifest (provenance JSON) of a complete output set, or None.

    A set is complete when ``<stem>_provenance.json`` parses, says ``complete``, and
    every file it lists exists with the recorded size (and, with ``verify``, SHA-256).
    """
    folder = Path(folder)
    try:
        record = json.loads(_manifest_path(folder, stem).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    outputs = record.get("outputs") if isinstance(record, dict) else None
    if not record.get("complete") or not isinstance(outputs, dict) or not outputs:
        return None
    for entry in outputs.values():
        name = entry.get("file") if isinstance(entry, dict) else None
        if not name or Path(name).name != name:
            return None
        path = folder / name
        try:
            if output_digest(path, verify=False)[0] != entry.get("bytes"):
                return None
            if verify and output_digest(path)[1] != entry.get("sha256"):
                return None
        except OSError:
            return None
    return record


def _fs_path(path: str | os.PathLike[str]) -> Path:
    """``path``, with a name the file system encoding cannot encode (``µ`` under an ASCII locale) turned into the
    name of the same UTF-8 bytes (``os.fsdecode`` of them: surrogate escapes), so that no UnicodeEncodeError
    comes from a system call."""
    text = os.fspath(path)
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return Path(os.fsdecode(text.encode("utf-8", "surrogateescape")))
    return Path(text)


def output_digest(path: str | os.PathLike[str], /, *, verify: bool = True) -> tuple[int, str | None]:
    """The size in bytes and SHA-256 of an output, as its set's manifest records them (SHA-256 None without
    ``verify``).

    A file: its size and SHA-256. A folder (an OME-Zarr store, :data:`FOLDER_KINDS`): the sum of its files'
    sizes, and the SHA-256 of the list of its files (relative name, size, SHA-256; in name order; a link by
    where it points, never followed), so a file added, removed, renamed or changed in it changes the digest.

    A name the file system's encoding cannot spell (a manifest's UTF-8 name read under ``LC_ALL=C`` without
    UTF-8 mode) is taken as its UTF-8 bytes, as the run that wrote the file named it.
    """
    path = _fs_path(path)
    if path.is_symlink() or not path.is_dir():
        return path.stat().st_size, file_sha256(path) if verify else None
    digest = hashlib.sha256()
    total = 0
    for top, folders, files in os.walk(path):
        folders.sort()
        here = Path(top)
        for name in sorted(files + [f for f in folders if (here / f).is_symlink()]):
            item = here / name
            rel = item.relative_to(path).as_posix()
            if item.is_symlink():
                line = f"{rel}\0link\0{os.readlink(item)}"
            else:
                size = item.stat().st_size
                total += size
                line = f"{rel}\0{size}\0{file_sha256(item) if verify else ''}"
            digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return total, digest.hexdigest() if verify else None


def _remove_output(path: Path) -> None:
    """Remove an output file, or an output folder (an OME-Zarr store) with what it holds; a link itself only."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        remove_quietly(path)


# -- publication ---------------------------------------------------------------------------------------------------

def _staging_root(folder: Path) -> Path:
    """``<folder>/.labelfree-staging``; OutputError when something else than a folder has that name: a link
    would lead the staging (and the removal of leftovers in it) into another folder.

    Where that folder is another user's that this user may not write into (a group folder: what a killed run of
    theirs left, made under umask 022), this user's own ``.labelfree-staging-<uid>`` instead."""
    root = folder / STAGING_DIR
    if hasattr(os, "getuid") and root.is_dir() and not root.is_symlink() and not os.access(root, os.W_OK | os.X_OK):
        root = folder / f"{STAGING_DIR}-{os.getuid()}"
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise OutputError(
            f"{root} is {'a link' if root.is_symlink() else 'a file'}, not the folder LabelFree stages its outputs "
            "in (it writes there and removes what interrupted runs left there, so it never follows a link). "
            f"Remove {root} and run again."
        )
    return root


def _staging_path(folder: Path, stem: str) -> Path:
    return _staging_root(folder) / f"{stem}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _make_staging(path: Path, folder: Path) -> Path:
    try:  # 0777 & ~umask, its parent too: group members may clean what a killed run left under umask 002
        path.mkdir(mode=0o777, parents=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot write into {folder}: {exc.strerror or exc}. Choose a folder you can write to."
        ) from exc
    return path


def new_staging(folder: Path, stem: str) -> Path:
    """A new private folder inside ``folder`` for writing the files of the set ``stem``; the caller removes it."""
    return _make_staging(_staging_path(folder, stem), folder)


@contextlib.contextmanager
def staging_folder(folder: Path, stem: str, /) -> Iterator[Path]:
    """:func:`new_staging` as a context: the folder is removed on leaving, whatever ends it. Its name is
    known before it is made, so an interrupt (Ctrl-C, SIGTERM) that lands between its creation and the
    caller's ``try`` cannot leave it behind."""
    path = _staging_path(folder, stem)
    try:
        yield _make_staging(path, folder)
    finally:
        _remove_through_interrupts(path)


def _remove_through_interrupts(path: Path) -> None:
    """Remove the folder ``path`` even when an interrupt (Ctrl-C, SIGTERM, both raised as KeyboardInterrupt)
    lands while it is being removed, then raise that interrupt: a SIGTERM that landed inside the removal of a
    published set's staging folder left it half removed, and the run's staging folder with it."""
    interrupted: BaseException | None = None
    while True:
        try:
            shutil.rmtree(path, ignore_errors=True)
            break
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def staging_folders(folder: str | os.PathLike, stems: Iterable[str], /) -> list[Path]:
    """The staging folders (:func:`new_staging`) of sets of ``stems`` now in ``folder``: their
    writers are still at work. A stem that another stem extends (``a`` and ``a-b``) may match both.

    Every staging folder of ``folder`` is looked at (:func:`_staging_roots`: a writer of another user, such as a
    Dask worker started by another account, stages in its own), except the leftovers of ended runs that
    :func:`recover_folder` had to leave (another user's, which this user cannot remove).
    """
    prefixes = tuple(f"{stem}-" for stem in stems)
    found: list[Path] = []
    if not prefixes:
        return found
    for root in _staging_roots(Path(folder)):
        try:
            found += [p for p in root.iterdir() if p.name.startswith(prefixes) and str(p) not in _LEFT_ALONE]
        except OSError:  # gone meanwhile, or not readable
            continue
    return found


def _targets(folder: Path, stem: str, kinds: Iterable[str]) -> dict[str, Path]:
    suffixes = {**OUTPUT_SUFFIXES, **EXTRA_SUFFIXES}
    out = {}
    for kind in kinds:
        if kind not in suffixes:
            raise InputError(f"Unknown output kind {kind!r}; known: {', '.join(suffixes)}.")
        out[kind] = folder / f"{stem}{suffixes[kind]}"
    return out


def _existing(targets: Mapping[str, Path]) -> list[Path]:
    return [p for p in targets.values() if p.exists() or p.is_symlink()]


def _check_folder_targets(targets: Mapping[str, Path]) -> None:
    """Refuse, even with ``overwrite``, a folder output (:data:`FOLDER_KINDS`) whose place holds something else than
    a zarr store: overwriting replaces an earlier OME-Zarr output, never another folder or file."""
    from labelfree.io.ngff.metadata import _is_zarr_store

    for kind in FOLDER_KINDS:
        target = targets.get(kind)
        if target is not None and (target.exists() or target.is_symlink()) \
                and (target.is_symlink() or not _is_zarr_store(target)):
            what = ("a link" if target.is_symlink() else "a folder that is no zarr store" if target.is_dir()
                    else "a file")
            raise OutputError(
                f"{target} is {what}; the OME-Zarr output would replace it, and LabelFree replaces only an earlier "
                "OME-Zarr store there (--overwrite too). Move it away, or choose another output folder or --stem."
            )


def _earlier_files(folder: Path, stem: str, keep: Iterable[Path], inputs: Any) -> list[Path]:
    """The files of the earlier set ``stem`` in ``folder`` that a new set writing ``keep`` leaves out.

    Only what the earlier set's manifest lists as its own: a plain name of that set
    (``<stem>_overlay.png``, ``<stem>_flow.tif``, ...), still the file LabelFree wrote (same size
    and SHA-256: a file changed since is the user's and stays, with a warning), and no input
    of this run.
    """
    try:
        record = json.loads(_manifest_path(folder, stem).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    outputs = record.get("outputs") if isinstance(record, dict) else None
    if not isinstance(outputs, dict):
        return []
    own = {f"{stem}{suffix}" for kind, suffix in {**OUTPUT_SUFFIXES, **EXTRA_SUFFIXES}.items() if kind != "provenance"}
    keep = {p.name for p in keep}
    found = []
    for entry in outputs.values():
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or name not in own or name in keep:
            continue
        path = folder / name
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue
        try:
            check_not_input(path, inputs)
        except InputOverwriteError:
            continue
        try:
            unchanged = output_digest(path, verify=False)[0] == entry.get("bytes") \
                and output_digest(path)[1] == entry.get("sha256")
        except OSError:
            unchanged = False
        if not unchanged:
            log.warning("%s: kept %s of the earlier set of %s: it changed after LabelFree wrote it.", folder, name,
                        stem)
            continue
        found.append(path)
    return found


_REPLACED = ".replaced"  # in a staging folder: the files of the earlier set while a new one is moved in


def publish_set(folder: str | os.PathLike[str], stem: str, staged: Mapping[str, Path], record: dict[str, Any], /,
                *, overwrite: bool = False, inputs: Any = None) -> dict[str, Path]:
    """Publish staged files as the output set ``stem`` of ``folder``, manifest last.

    Replacing an earlier set (``overwrite``) replaces it whole: the files its manifest lists
    that the new set does not write (an overlay or flow stack of an earlier run) are removed,
    if LabelFree wrote them as they are (see :func:`_earlier_files`). While the new files move
    in, the earlier ones wait in the staging folder: an error or Ctrl-C puts the earlier set
    back as it was; after a hard kill the next run removes both (:func:`recover_folder`).

    Parameters
    ----------
    folder : path
        The output folder (it must exist).
    stem : str
        Output stem (checked).
    staged : mapping kind -> path
        Files written in a staging folder inside ``folder`` (same file system); kinds from
        :data:`OUTPUT_SUFFIXES` / :data:`EXTRA_SUFFIXES`, without ``provenance``.
    record : dict
        The provenance; the manifest is this record plus ``outputs`` (name, size,
        SHA-256 of every file) and ``complete: true``.
    overwrite : bool
        Replace an existing set (else :class:`OutputExistsError`).
    inputs : mapping or list of paths, or InputIndex
        Inputs of the run: no target may be one of them (an :class:`InputIndex` made once for many sets, as
        :meth:`OutputFolder.publish` passes its own; else one is made for this call).

    Returns
    -------
    dict of kind -> published path (``provenance`` included).
    """
    folder = Path(folder).absolute()
    check_stem(stem)
    targets = _targets(folder, stem, [*staged, "provenance"])
    index = inputs if isinstance(inputs, InputIndex) else InputIndex(inputs)  # each input looked at once
    for target in targets.values():
        check_not_input(target, index)
    existing = _existing(targets)
    if existing and not overwrite:
        raise OutputExistsError(
            f"{existing[0]} exists; LabelFree does not replace earlier results silently. Use another output "
            "folder or name, or allow it (CLI --overwrite, API overwrite=True)."
        )
    _check_folder_targets(targets)
    stale = _earlier_files(folder, stem, targets.values(), index) if overwrite else []
    outputs = {}
    for kind, src in staged.items():
        size, sha = output_digest(src)
        outputs[kind] = {"file": targets[kind].name, "bytes": size, "sha256": sha}
    manifest = {**record, "outputs": outputs, "complete": True}
    staging = Path(next(iter(staged.values()))).parent if staged else new_staging(folder, stem)
    journal = staging / _JOURNAL
    # every name of the old and the new set: a kill before the manifest is written leaves the journal,
    # and the next run removes them all (recover_folder), so no half-new, half-old set remains
    names = [p.name for p in targets.values()] + [p.name for p in stale]
    write_text_atomic(journal, json.dumps({"stem": stem, "targets": names}))
    replaced = staging / _REPLACED
    kept: list[tuple[Path, Path]] = []  # (file in the folder, where the earlier one waits)
    moved: list[Path] = []

    def put_aside(path: Path) -> None:
        if path.exists() or path.is_symlink():
            replaced.mkdir(exist_ok=True)
            os.replace(path, replaced / path.name)
            kept.append((path, replaced / path.name))

    try:
        put_aside(targets["provenance"])  # from here on the old set is incomplete
        for path in stale:
            put_aside(path)
        for kind, src in staged.items():
            put_aside(targets[kind])
            os.replace(src, targets[kind])
            moved.append(targets[kind])
        write_text_atomic(targets["provenance"], json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    except BaseException as exc:  # undo; only a hard kill leaves the journal to recover_folder
        for path in moved:
            _remove_output(path)
        _put_back(kept)
        remove_quietly(journal)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"Cannot publish the outputs of {stem} in {folder}: {exc.strerror or exc}.") from exc
        raise
    remove_quietly(journal)
    shutil.rmtree(replaced, ignore_errors=True)
    for path in stale:
        log.info("removed %s of the earlier set of %s", path.name, stem)
    log.info("wrote %s", ", ".join(str(p) for p in targets.values()))
    return targets


def _put_back(kept: list[tuple[Path, Path]]) -> None:
    """Move the files of an earlier set back into place, its manifest last (it was put aside first)."""
    for path, aside in reversed(kept):
        try:
            os.replace(aside, path)
        except OSError as exc:  # the earlier set stays incomplete (no manifest): reruns redo it
            log.warning("could not restore %s: %s", path, exc.strerror or exc)
            return


def recover_folder(folder: str | os.PathLike[str], /) -> list[str]:
    """Clean the leftovers of interrupted runs in ``folder``; return the stems whose sets were undone.

    Call it only while holding the folder (no other run may be writing): every leftover is then one of an
    ended run. A staging folder whose publication had started (it holds a journal) means a set was only
    partly moved in: unless its manifest verifies, every file of that set is removed, so no half-new, half-old
    set looks complete. Staging folders and the temporary ``.<name>.<random>.part`` files of atomic writes are
    removed.

    Every staging folder is looked at, other users' too (``.labelfree-staging`` and each user's
    ``.labelfree-staging-<uid>``, :func:`_staging_roots`). What this user cannot remove (another user's,
    made under umask 022) stays, and is named with its owner once at INFO; the publication it journals is still
    undone where this user may remove the set's files, but only while the set has no manifest at all (the
    journal stays, so a later complete set, even one edited since, is never taken for the interrupted one).
    Empty staging folders are removed, other users' too, where the output folder can be written.
    """
    folder = Path(folder)
    undone: list[str] = []
    _staging_root(folder)  # refuses a link or a file of that name
    for root in _staging_roots(folder):
        try:
            leftovers = sorted(root.iterdir())
        except OSError:  # not readable: another user's, made under a strict umask
            leftovers = []
            _leave_alone(folder, root, "a staging folder that you cannot read")
        for staging in leftovers:
            removable = _can_remove(root, staging)
            stem, cleared = _undo_publication(folder, staging, removable=removable)
            if stem is not None and cleared:
                undone.append(stem)
            if removable and cleared:
                shutil.rmtree(staging, ignore_errors=True)
            elif removable:  # its journal stays for the next run (the warning named what is left)
                _LEFT_ALONE.add(str(staging))
            else:
                _leave_alone(folder, staging, _what_is_left(staging, stem if cleared else None))
        with contextlib.suppress(OSError):
            root.rmdir()
    for part in folder.glob(".*.part"):
        if _TEMP_NAME.fullmatch(part.name):  # only LabelFree's own: a user's ".draft.part" stays
            remove_quietly(part)
    return undone


#: ``.labelfree-staging-<uid>``: where a user stages when ``.labelfree-staging`` is another user's (_staging_root)
_USER_STAGING = re.compile(re.escape(STAGING_DIR) + r"-[0-9]+")

#: the leftovers (staging folders of ended runs of other users) that recover_folder could not remove, named once
_LEFT_ALONE: set[str] = set()


def _staging_roots(folder: Path) -> list[Path]:
    """Every staging folder that runs may have made in ``folder``: ``.labelfree-staging`` and the
    ``.labelfree-staging-<uid>`` of each user who could not write into it; folders only, never a link."""
    roots = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if (entry.name == STAGING_DIR or _USER_STAGING.fullmatch(entry.name)) and entry.is_dir(
                        follow_symlinks=False):
                    roots.append(Path(entry.path))
    except OSError:
        return []
    return sorted(roots)


def _can_remove(root: Path, staging: Path) -> bool:
    """Whether this user may remove ``staging`` from ``root`` with all it holds: write access to ``root`` and to
    every folder inside (a file goes with write access to its folder), and a readable journal."""
    if not os.access(root, os.W_OK | os.X_OK):
        return False
    if staging.is_symlink() or not staging.is_dir():
        return True

    def refuse(exc: OSError) -> None:
        raise exc

    try:
        for here, _, _ in os.walk(staging, onerror=refuse):  # never into a link
            if not os.access(here, os.R_OK | os.W_OK | os.X_OK):
                return False
    except OSError:
        return False
    journal = staging / _JOURNAL
    return not journal.is_file() or os.access(journal, os.R_OK)


def _journal_plan(staging: Path) -> tuple[str, list[str]] | None:
    """The stem and file names that the journal of ``staging`` lists; None without a (readable, valid) journal."""
    if staging.is_symlink() or not (staging / _JOURNAL).is_file():
        return None
    try:
        plan = json.loads((staging / _JOURNAL).read_text(encoding="utf-8"))
        return check_stem(plan["stem"]), [Path(n).name for n in plan["targets"]]
    except (OSError, ValueError, KeyError, TypeError, InputError):
        return None


def _undo_publication(folder: Path, staging: Path, *, removable: bool) -> tuple[str | None, bool]:
    """Remove the files of the set whose publication from ``staging`` was interrupted: ``(stem, True)``, or
    ``(stem, False)`` where some of them could not be removed (a folder with the sticky bit: another user's
    files); ``(None, True)`` when ``staging`` journals no publication or nothing is to be undone.

    With a journal that stays (``removable`` False: another user's), only a set without any manifest is
    undone: the next recovery finds the same journal, and by then a later run may have published that set.
    """
    plan = _journal_plan(staging)
    if plan is None:
        return None, True
    stem, names = plan

    def present(name: str) -> bool:
        return _exists_quietly(folder / name) or (folder / name).is_symlink()

    if removable:
        if read_manifest(folder, stem) is not None:
            return None, True
    elif _exists_quietly(_manifest_path(folder, stem)) or not any(map(present, names)):
        return None, True
    for name in names:
        _remove_output(folder / name)
    left = [name for name in names if present(name)]
    if left:
        log.warning("%s: the publication of %s was interrupted, but %s could not be removed (%s's): remove them, or "
                    "run %s again with --overwrite (overwrite=True).", folder, stem, ", ".join(left),
                    _owner_of(folder / left[0]), stem)
        return stem, False
    log.warning("%s: removed the outputs of %s, whose publication was interrupted.", folder, stem)
    return stem, True


def _owner_of(path: Path) -> str:
    """Whose ``path`` is: ``user NAME (uid N)``, or ``uid N`` for a user without a name."""
    try:
        uid = os.lstat(path).st_uid
    except OSError:
        return "owner unknown"
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _what_is_left(staging: Path, undone: str | None) -> str:
    """What an ended run's staging folder holds, for :func:`_leave_alone`."""
    plan = _journal_plan(staging)
    if plan is not None:
        return (f"the journal of its interrupted publication of {plan[0]}"
                + ("; that set's files were removed now" if undone else ", whose set has a manifest or is gone"))
    if (staging / _JOURNAL).exists():
        return "a publication journal that cannot be read"
    return "files it had not begun to publish"


def _leave_alone(folder: Path, leftover: Path, what: str) -> None:
    """Say once (INFO) that ``leftover``, an ended run's staging folder that this user cannot remove, stays."""
    if str(leftover) in _LEFT_ALONE:
        return
    _LEFT_ALONE.add(str(leftover))
    log.info("%s: %s was left by an ended LabelFree run of %s (%s); you cannot remove it, so it stays. It does not "
             "stop your runs; ask that user to remove it.", folder, leftover.relative_to(folder).as_posix(),
             _owner_of(leftover), what)


#: the name of a temporary file of :func:`labelfree.io.atomic.atomic_path`: ``.<target>.<random>.part``
_TEMP_NAME = re.compile(r"\..+\.[^.]+\.part", re.DOTALL)


# -- the folder of a run -------------------------------------------------------------------------------------------

def _user_name() -> str:
    """This process's user, for the lock file (``uid N`` where the user has no name: containers)."""
    name = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not name and hasattr(os, "getuid"):
        try:
            import pwd

            name = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            name = f"uid {os.getuid()}"
    return name or "unknown user"


def _owner_text(purpose: str) -> str:
    return json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(), "user": _user_name(),
        "purpose": purpose or " ".join(sys.argv[:4]),
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    })


class _Lock:
    """An exclusive, non-blocking lock on ``<folder>/.labelfree.lock`` (flock; msvcrt on Windows).

    The lock file holds the holder's description and is removed on release, so no file
    stays behind. A process that locked a file another one had just removed notices it
    (the path no longer names the file it holds) and tries again.

    In a shared group folder the lock file is made ``0666 & ~umask`` (group-writable under umask 002). One that
    another user's run made and this user may not write is opened read-only (flock needs no write access): while
    its holder runs, the folder is "in use by" it; once it has ended (killed: the file stayed, but the kernel
    dropped its lock), the file is stale and is removed (while locked, so no other run can be taking it at the
    same time) and a new one made: never two writers, as a run writes only while it holds the lock on the file
    that the path names.
    """

    def __init__(self, folder: Path, purpose: str) -> None:
        self.path = folder / LOCK_FILE
        self.purpose = purpose
        self._fd: int | None = None

    def _open(self) -> tuple[int, bool] | None:
        """The lock file, opened for writing (made when missing) or, when it is another user's, read-only:
        ``(fd, writable)``; None when it vanished meanwhile."""
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        try:  # never through a link: the holder's description would be written into the linked file
            return os.open(self.path, os.O_RDWR | os.O_CREAT | nofollow, 0o666), True
        except OSError as exc:
            if exc.errno == errno.ELOOP or self.path.is_symlink():
                raise self._not_ours("a link") from None
            first = exc
        if first.errno in (errno.EACCES, errno.EPERM) and _exists_quietly(self.path):
            try:
                return os.open(self.path, os.O_RDONLY | nofollow), False
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise OutputError(
                    f"Cannot open the lock file {self.path} ({exc.strerror or exc}): it belongs to {self._owner()}, "
                    "and LabelFree can neither write nor read it, so it cannot tell whether that user's run still "
                    f"writes into {self.path.parent}. If none does, ask them to remove {self.path} (or do so "
                    "yourself), then run again."
                ) from exc
        raise OutputError(f"Cannot write into {self.path.parent}: {first.strerror or first}.") from first

    def acquire(self) -> None:
        for _ in range(20):
            opened = self._open()
            if opened is None:
                continue
            fd, writable = opened
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:  # a hard link: another file's content
                os.close(fd)
                raise self._not_ours("a hard link of another file" if stat.S_ISREG(info.st_mode) else "not a file")
            try:
                _lock_fd(fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise OutputError(f"Cannot lock {self.path}: {exc.strerror or exc}.") from exc
                holder = self._holder()
                raise FolderInUseError(
                    f"The output folder {self.path.parent} is in use by another LabelFree run ({holder}). Wait for "
                    "it to finish, or choose another output folder."
                ) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same and writable:
                os.ftruncate(fd, 0)
                os.write(fd, _owner_text(self.purpose).encode("utf-8"))
                self._fd = fd
                return
            if same:  # another user's lock file whose run has ended: remove it while holding it, then make ours
                self._remove_stale(fd)
            _unlock_fd(fd)  # the file was removed by its last holder meanwhile: lock the new one
            os.close(fd)
        raise OutputError(f"Cannot lock {self.path}: it keeps changing.")

    def _remove_stale(self, fd: int) -> None:
        """Remove the lock file (locked by us through ``fd``, read-only) that another user's ended run left."""
        holder = self._holder()
        try:
            os.unlink(self.path)
        except OSError as exc:
            _unlock_fd(fd)
            os.close(fd)
            raise OutputError(
                f"{self.path} was left by a LabelFree run that has ended ({holder}); it belongs to {self._owner()}, "
                f"and this folder does not let you remove it ({exc.strerror or exc}: a folder with the sticky bit, "
                f"like /tmp). Ask that user or the folder's owner to remove {self.path}, then run again."
            ) from exc
        log.info("%s: removed the lock file left by a LabelFree run that has ended (%s).", self.path.parent, holder)

    def _owner(self) -> str:
        """Whose the lock file is (:func:`_owner_of`); ``another user`` when that cannot be read."""
        owner = _owner_of(self.path)
        return "another user" if owner == "owner unknown" else owner

    def _not_ours(self, what: str) -> OutputError:
        return OutputError(
            f"{self.path} is {what}, not the lock file LabelFree makes there (it writes into its lock file, so it "
            f"never opens a link). Remove {self.path} and run again."
        )

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            user = f" of {info['user']}" if info.get("user") else ""
            return f"pid {info['pid']}{user} on {info['host']}, '{info['purpose']}', started {info['started']}"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"holder unknown; the lock file belongs to {self._owner()}"

    def release(self) -> None:
        if self._fd is None:
            return
        remove_quietly(self.path)  # before unlocking: a waiting process then sees a new file
        _unlock_fd(self._fd)
        os.close(self._fd)
        self._fd = None


if os.name == "nt":  # pragma: no cover - Windows
    import msvcrt

    def _lock_fd(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise OSError(errno.EACCES, str(exc)) from exc

    def _unlock_fd(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)


def _check_not_zarr(folder: Path) -> None:
    """Refuse an output folder inside (or being) an OME-Zarr image, plate or bioformats2raw container, and one that
    would be created with a name ending in ``.zarr``: TIFF, CSV, ZIP and JSON files there make no OME-Zarr."""
    from labelfree.io.ngff import _ngff_kind

    real = Path(os.path.realpath(folder))
    for parent in (real, *real.parents):
        kind = _ngff_kind(parent)
        if kind is not None:
            what = "OME-Zarr image" if kind == "image" else "OME-Zarr plate or bioformats2raw container"
            raise InputOverwriteError(
                f"The output folder {folder} lies inside the {what} {parent}: the TIFF, CSV, ZIP and JSON outputs "
                f"would change it. Choose a folder outside it (e.g. {parent.parent / (_bare(parent.name) + '_out')}); "
                "to store labels in an OME-Zarr image, add them with labelfree.io.write_ngff_labels(image.zarr, "
                "labels, name=...) (see docs/outputs.md)."
            )
    for part in (folder, *folder.parents):
        if part.name.lower().endswith(".zarr") and not _exists_quietly(part):
            raise OutputError(
                f"The output folder {folder} would create a folder named {part.name!r}, but an output folder (CLI "
                "-o, Python write_outputs(folder), Fiji output=) holds TIFF, CSV, ZIP and JSON files, not an OME-Zarr "
                f"image, and a folder named .zarr is taken for one; nothing was created. Give a name without .zarr "
                f"(e.g. {part.with_name(_bare(part.name)) / folder.relative_to(part)}); to get the labels as "
                "OME-Zarr, ask for that output (CLI and batch --ome-zarr: <stem>_labels.ome.zarr in the output "
                "folder), add them to the image with "
                "labelfree.io.write_ngff_labels(image.zarr, labels, name=...) or write them with "
                "labelfree.io.write_ngff(path, labels) (see docs/outputs.md)."
            )


def _bare(name: str) -> str:
    """``name`` without ``.zarr`` / ``.ome.zarr``."""
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


class _Inputs(dict):
    """The inputs of an :class:`OutputFolder` (role -> :class:`InputRecord`): a dict that counts its changes, so that
    the folder's :class:`InputIndex` is made again after one."""

    changes = 0


def _counting(name: str) -> Callable[..., Any]:
    method = getattr(dict, name)

    def changing(self: _Inputs, *args: Any, **kwargs: Any) -> Any:
        self.changes += 1
        return method(self, *args, **kwargs)

    changing.__name__ = name
    return changing


for _name in ("__setitem__", "__delitem__", "__ior__", "update", "pop", "popitem", "clear", "setdefault"):
    setattr(_Inputs, _name, _counting(_name))
del _name


class OutputFolder:
    """The output folder of one run: checked and held before any computation.

    Use it as a context manager::

        with OutputFolder("out", inputs={"image": path}) as out:
            out.plan("movie")                  # refuses existing results, input paths
            labels = segment(...)
            write_outputs(out, labels, image=image, stem="movie")

    A folder inside (or being) an OME-Zarr image or container is an
    :class:`~labelfree.errors.InputOverwriteError`, and a new folder named ``*.zarr`` an
    :class:`~labelfree.errors.OutputError`, both before anything is created.
    On entry the folder is created (with its parents), proven writable, locked against
    other LabelFree runs (:class:`~labelfree.errors.FolderInUseError` names the holder)
    and cleaned of leftovers of interrupted runs. Nothing else is written until
    :func:`labelfree.io.write_outputs` or :meth:`publish`.

    Parameters
    ----------
    path : path
        The output folder.
    inputs : mapping role -> path (or InputRecord), optional
        The run's inputs: never written over; recorded with their SHA-256 in the provenance.
    overwrite : bool
        Allow replacing earlier results.
    purpose : str
        What the run is (shown to a second run that finds the folder held).
    """

    def __init__(self, path: str | os.PathLike[str], /, *, inputs: Any = None, overwrite: bool = False,
                 purpose: str = "") -> None:
        self.path = Path(path).expanduser().absolute()
        self._index: tuple[Any, int, InputIndex] | None = None  # (inputs, their changes, index of them)
        self.inputs = _as_records(inputs)
        self.overwrite = bool(overwrite)
        self.purpose = purpose
        self._lock = _Lock(self.path, purpose)
        self._planned: dict[str, tuple[str, ...]] = {}
        self._created: list[Path] = []  # folders open() made, innermost first

    @property
    def inputs(self) -> dict[str, InputRecord]:
        """The run's inputs, role -> :class:`InputRecord` (a dict: changes to it are seen by the next check)."""
        return self._inputs

    @inputs.setter
    def inputs(self, inputs: Any) -> None:
        self._inputs = _Inputs(_as_records(inputs))

    def input_index(self) -> InputIndex:
        """The :class:`InputIndex` of :attr:`inputs`, made at the first check and again after they change (or one
        missing then exists now): every target of every set is checked with a few look-ups, not against each
        input again (a run of thousands of inputs stays linear)."""
        inputs = self._inputs
        if self._index is None or self._index[0] is not inputs or self._index[1] != inputs.changes \
                or self._index[2].outdated():
            self._index = (inputs, inputs.changes, InputIndex(inputs))
        return self._index[2]

    # context -------------------------------------------------------------------
    def __enter__(self) -> "OutputFolder":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Check, create, lock and clean the folder (see the class)."""
        _check_name_lengths(self.path, "output folder")
        check_not_input(self.path, self.inputs, what="output folder")
        _check_not_zarr(self.path)
        for parent in (self.path, *self.path.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"The output folder {self.path} cannot be made: {parent} is a file, "
                                      "not a folder.")
                break
        try:
            self._created = [p for p in (self.path, *self.path.parents) if not p.exists()]
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the output folder {self.path}: {exc.strerror or exc}.") from exc
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise OutputError(f"The output folder {self.path} is not writable; choose a folder you can write to.")
        self._lock.acquire()
        try:
            recover_folder(self.path)
        except BaseException:
            self._lock.release()
            raise

    def close(self) -> None:
        """Remove this run's staging leftovers and release the folder.

        Folders this run created and left empty (the work failed before any output)
        are removed again, parents included.
        """
        with contextlib.suppress(OSError):
            _staging_root(self.path).rmdir()
        self._lock.release()
        for folder in self._created:
            try:
                folder.rmdir()  # only when empty: the work failed before any output
            except OSError:
                break

    # planning --------------------------------------------------------------------
    def plan(self, stem: str, /, *, extras: Iterable[str] = ()) -> dict[str, Path]:
        """Check that the output set ``stem`` (plus ``extras`` kinds) may be written; return its paths.

        Raises
        ------
        InputError
            ``stem`` is not a plain name, or was planned twice in this run.
        InputOverwriteError
            A target is an input.
        OutputExistsError
            A target exists and ``overwrite`` is off.
        """
        check_stem(stem)
        kinds = (*OUTPUT_SUFFIXES, *extras)
        targets = _targets(self.path, stem, kinds)
        if stem in self._planned:
            raise InputError(f"Two inputs of this run would write the same outputs {stem!r}; give them distinct names.")
        index = self.input_index()
        for target in targets.values():
            check_not_input(target, index)
        existing = _existing(targets)
        if existing and not self.overwrite:
            complete = read_manifest(self.path, stem, verify=False) is not None
            raise OutputExistsError(
                f"{existing[0]} exists{' (a complete earlier result)' if complete else ''}; LabelFree does not "
                "replace earlier results silently. Use another output folder or name, or allow it "
                "(CLI --overwrite, API overwrite=True)."
            )
        _check_folder_targets(targets)
        self._planned[stem] = tuple(kinds)
        return targets

    def add_inputs(self, inputs: Mapping[str, Any] | Iterable[Any] | None, /) -> None:
        """Add inputs found after the folder was held (e.g. a batch run's files, listed once the
        leftovers of an interrupted run are gone); none may be the output folder."""
        more = _as_records(inputs)
        check_not_input(self.path, more, what="output folder")
        self.inputs.update(more)  # the index is made again at the next check

    def check_files(self, files: Mapping[str, Any], /) -> dict[str, Path]:
        """Check single output files a run writes besides its sets (``{what: path}``, e.g. a trained
        model named by the config) before any work, as :func:`check_output_file` does, with this
        run's inputs and overwrite setting; return their absolute paths."""
        planned = {os.path.realpath(p) for stem, kinds in self._planned.items()
                   for p in _targets(self.path, stem, kinds).values()}
        checked = {}
        for what, path in files.items():
            if not path:
                continue
            checked[what] = check_output_file(path, inputs=self.input_index(), overwrite=self.overwrite, what=what)
            if os.path.realpath(checked[what]) in planned:  # however spelt: out/../out/x_labels.tif, a link
                raise InputError(f"The {what} {path} is also an output of the set written into {self.path}; give "
                                 "it another name.")
        return checked

    @property
    def planned(self) -> tuple[str, ...]:
        """The stems planned so far in this run."""
        return tuple(self._planned)

    def staging(self, stem: str, /) -> contextlib.AbstractContextManager[Path]:
        """A fresh private folder inside the output folder for writing the files of ``stem``, removed on
        leaving the context (:func:`staging_folder`)."""
        return staging_folder(self.path, check_stem(stem))

    # writing ---------------------------------------------------------------------
    def publish(self, stem: str, staged: Mapping[str, Path], record: dict[str, Any], /) -> dict[str, Path]:
        """Publish staged files as the set ``stem`` (see :func:`publish_set`)."""
        return publish_set(self.path, stem, staged, record, overwrite=self.overwrite, inputs=self.input_index())

    def existing_result(self, stem: str, /, *, verify: bool = True) -> dict[str, Any] | None:
        """The manifest of a complete earlier set ``stem`` in this folder, or None."""
        return read_manifest(self.path, stem, verify=verify)


@contextlib.contextmanager
def held_folder(path: str | os.PathLike[str], /, **kwargs: Any) -> Iterator[OutputFolder]:
    """``with held_folder(path, inputs=..., overwrite=...) as out:`` (the same as ``with OutputFolder(...)``)."""
    folder = OutputFolder(path, **kwargs)
    with folder:
        yield folder
