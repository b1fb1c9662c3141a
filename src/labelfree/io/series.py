"""The image series of a file, from its metadata only: what ``read_image(path, series=N)`` can read.

A multi-position OME-TIFF holds one series per position (OME ``Image``), a bioformats2raw OME-Zarr
container one per ``0``, ``1``, ... group; a TIFF may also hold reduced-resolution previews
(thumbnails), which are not images to segment and are not listed. No pixel data is read (but for a 2-D
picture, PNG or JPEG, which is one small image).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

from labelfree.errors import InputError

__all__ = ["SeriesInfo", "image_series", "describe_series"]


class SeriesInfo(NamedTuple):
    """One full-resolution image series of a file.

    Attributes
    ----------
    index : int
        The index ``read_image(path, series=index)`` takes (counted from 0, previews included).
    name : str
        The series' name (OME ``Image`` name, multiscales name), or ``""``.
    axes : str
        Axis letters as stored (tifffile's series axes; T, C, Z, Y, X for OME-Zarr).
    shape : tuple of int
        The full-resolution shape, one size per letter of ``axes``.
    """

    index: int
    name: str
    axes: str
    shape: tuple[int, ...]


def _tiff_series(path: Path, own: bool) -> list[SeriesInfo]:
    from labelfree.io.tiff import _check_file, _damage_reported, _open_tiff, _own_series, _tifffile_notes, read_image

    kind = _check_file(path)
    if kind not in (None, "TIFF"):  # a 2-D picture (PNG, JPEG, ...) is one small image: read to know its shape
        image = read_image(path)
        return [SeriesInfo(0, "", "".join(map(str, image.dims)), tuple(int(n) for n in image.shape))]
    with _tifffile_notes(path, say=False), _open_tiff(path) as tif, _damage_reported(path):
        held = set(_own_series(tif)) if own else set(range(len(tif.series)))
        return [SeriesInfo(i, str(s.name or ""), str(s.axes), tuple(int(n) for n in s.shape))
                for i, s in enumerate(tif.series) if i in held and not s.keyframe.is_reduced]


def _ngff_series(path: Path) -> list[SeriesInfo]:
    from labelfree.io.ngff import _ome_attrs, _series_of, _zarr, read_ngff
    from labelfree.io.ngff.metadata import _image_attrs, _is_zarr_array, _level_of

    if _is_zarr_array(path):  # one level of a multiscale image (image.zarr/s1): one series, that level
        image = read_ngff(path)  # lazy: metadata only; an array that is no image's level is an InputError
        found = _level_of(path)
        attrs = _image_attrs(found[0]) if found is not None else None
        title = str(((attrs or {}).get("multiscales") or [{}])[0].get("name") or "")
        return [SeriesInfo(0, title, "".join(image.dims), tuple(int(n) for n in image.shape))]

    try:
        group = _zarr().open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for non-groups
        raise InputError(f"{path} is not a zarr group ({type(exc).__name__}: {exc}); give the image's .zarr "
                         "folder.") from exc
    ome, _ = _ome_attrs(group)
    container = ome.get("bioformats2raw.layout", group.attrs.get("bioformats2raw.layout")) is not None
    names = _series_of(group) if container and not ome.get("multiscales") else [None]
    out = []
    for index, name in enumerate(names):
        where = path if name is None else path / name
        image = read_ngff(where)  # lazy: metadata only
        title = ""
        with contextlib.suppress(Exception):  # a name is a courtesy: unreadable metadata leaves it empty
            attrs, _ = _ome_attrs(group if name is None else group[name])
            title = str((attrs.get("multiscales") or [{}])[0].get("name") or "")
        out.append(SeriesInfo(index, title or (name or ""), "".join(image.dims), tuple(int(n) for n in image.shape)))
    return out


def _refuse_plate(path: Path, /) -> None:
    """InputError for an HCS plate or well, listing its fields on disk (each an image of its own, no series)."""
    from labelfree.io.ngff.metadata import _hcs_fields, _listing

    found = _hcs_fields(path)
    if found is None:
        return
    kind, fields, _, _ = found
    example = path / fields[0] if fields else path / ("<row>/<column>/<field>" if kind == "plate" else "<field>")
    held = f"{len(fields)} field(s) on disk ({_listing(fields)})" if fields else "no field on disk"
    what = "an HCS plate" if kind == "plate" else "a well of an HCS plate"
    raise InputError(f"{path} is {what} with {held}. Each field is an OME-Zarr image of its own, read by its "
                     f"folder, not an image series of the {kind}: give a field's folder to image_series or read_image "
                     f"(e.g. {example}); to segment every field, give the {kind} to labelfree batch (each field is an "
                     "input).")


def image_series(path: str | os.PathLike[str], /, *, own: bool = False) -> list[SeriesInfo]:
    """The full-resolution image series of a TIFF / OME-TIFF or an OME-Zarr folder, from its metadata.

    Parameters
    ----------
    path : str or path-like
        A TIFF, ImageJ hyperstack or OME-TIFF file, or an OME-Zarr folder (an image, a label
        image, a field of an HCS plate, a bioformats2raw container, or the array folder of one
        level of a multiscale image, ``image.zarr/s1``: one series, that level's shape).
    own : bool
        Only the series whose planes this file holds: one file of a multi-file OME-TIFF (a
        position saved in a file of its own) lists the positions of every file of the
        acquisition, and reads any of them; with ``own=True`` it lists its own. (OME-Zarr:
        no difference.)

    Returns
    -------
    list of SeriesInfo
        ``(index, name, axes, shape)`` of each series, in the file's order, reduced-resolution
        previews left out (their indices are skipped). A file of one image gives one entry of
        index 0; so does an OME-Zarr image (read it without ``series=``: only a bioformats2raw
        container takes one).

    Raises
    ------
    InputError
        A missing file, not a TIFF or OME-Zarr, a damaged file, or a ``labels/`` group (the error names an
        image path to give instead). An HCS plate or well (``plate.zarr``, ``plate.zarr/A/1``): its fields are
        OME-Zarr images of their own, each read by its folder, not series that ``read_image(path, series=N)``
        reads; the error lists the fields on disk (``A/1/0, A/1/1, ...``) and says to give a field's folder,
        or the plate to ``labelfree batch``, which makes each field an input.

    Examples
    --------
    >>> import tempfile, numpy as np, tifffile
    >>> path = Path(tempfile.mkdtemp()) / "plate.ome.tif"
    >>> with tifffile.TiffWriter(path, ome=True) as tw:
    ...     for k in range(2):
    ...         tw.write(np.zeros((3, 32, 32), np.uint16), metadata={"axes": "TYX", "Name": f"Pos{k}"})
    >>> [(s.index, s.name, s.axes, s.shape) for s in image_series(path)]
    [(0, 'Pos0', 'TYX', (3, 32, 32)), (1, 'Pos1', 'TYX', (3, 32, 32))]
    """
    p = Path(path)
    if p.is_dir():
        from labelfree.io.ngff import is_ngff

        if is_ngff(p):
            _refuse_plate(p)
            return _ngff_series(p)
    return _tiff_series(p, own)


def describe_series(items: list[SeriesInfo], /) -> str:
    """``0 'Pos0': TYX (3, 32, 32); 1 ...``: a listing for messages (index, name, axes, shape)."""
    return "; ".join(f"{s.index}{f' {s.name!r}' if s.name else ''}: {s.axes} {s.shape}" for s in items)
