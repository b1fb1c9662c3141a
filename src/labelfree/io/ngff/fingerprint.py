"""The rerun fingerprint of an OME-Zarr store: :func:`ngff_fingerprint`, from its file listing and metadata."""

from __future__ import annotations

import os
from pathlib import Path

from labelfree.io.ngff.metadata import _ZARR_METADATA, _dataset_paths, _image_attrs, _is_zarr_array, _level_of

__all__ = ["ngff_fingerprint"]


def ngff_fingerprint(path: str | os.PathLike[str], /, *, labels: bool = False) -> str:
    """SHA-256 of what an OME-Zarr image is: its metadata files and its chunk files' names, sizes and mtimes.

    Reading every chunk of a large store to hash it is what OME-Zarr users avoid; this
    changes whenever a chunk is rewritten or the metadata changes. The label images stored
    beside an image (its ``labels/`` group, e.g. written by :func:`write_ngff_labels`) are not
    part of it, so adding one leaves the fingerprint as it was; a store without them has the
    fingerprint it had before they were left out. For the array of one level
    (``image.zarr/1``) the image's own metadata files count too (they hold the level's scale).

    Parameters
    ----------
    path : path
        An OME-Zarr store: an image, a label image, a container of images, or one level's array.
    labels : bool
        Count the ``labels/`` groups too (how LabelFree fingerprinted a store before; for
        comparing with records of earlier runs).

    Returns
    -------
    str
        Hex digest.
    """
    import hashlib

    root = Path(path)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if not labels and "labels" in dirnames and _holds_labels(Path(dirpath)):
            dirnames.remove("labels")
        for fname in sorted(filenames):
            f = Path(dirpath) / fname
            rel = f.relative_to(root).as_posix()
            st = f.stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            if fname in _ZARR_METADATA:
                h.update(f.read_bytes())
    level = _level_of(root) if _is_zarr_array(root) else None
    if level is not None:  # the level's scale, axes and units are in the image's metadata
        for name in _ZARR_METADATA:
            f = level[0] / name
            if f.is_file():
                h.update(f"../{name}\0".encode() + f.read_bytes())
    return h.hexdigest()


def _holds_labels(folder: Path) -> bool:
    """Whether ``folder/labels`` is the labels group of the image ``folder`` (not one of its levels' arrays)."""
    attrs = _image_attrs(folder)
    if not attrs or "multiscales" not in attrs:
        return False
    return not any(p == "labels" or p.startswith("labels/") for p in _dataset_paths(attrs))
