"""Reading cell markers (one per cell) from the files users have: points CSV, label TIFF, ROI zip, CTC TRA folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["as_table", "is_table", "points_from_table", "read_markers"]

log = logging.getLogger(__name__)


def _shape_of(image: Any, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if shape is not None:
        return tuple(None if n is None else int(n) for n in shape)
    if image is None:
        raise InputError("read_markers needs the image (or its shape) to place the markers.")
    sizes = dict(image.sizes)
    return tuple(sizes[d] for d in ("T", "Y", "X") if d in sizes)


#: pictures that hold label images (grey PNG, e.g. Cellpose's ``_masks.png``; BMP, GIF, PGM), and the Cellpose
#: GUI's annotation ``<stem>_seg.npy`` (:mod:`labelfree.io.cellpose_seg`): one plane of labels, read exactly
_LABEL_PICTURES = (".png", ".bmp", ".gif", ".pgm", ".npy")

#: columns only ImageJ's Results table has beside X and Y (Analyze > Measure on a point selection)
_IMAGEJ_COLUMNS = ("label", "area", "mean", "slice", "frame", "ch", "min", "max", "intden", "rawintden")


#: the name pandas gives a first column saved without a name (a DataFrame's index written by ``to_csv``)
_PANDAS_INDEX = "Unnamed: 0"


def _table_kind(columns: list[str]) -> str:
    """``"labelfree"`` (a ``_table.csv`` of LabelFree), ``"imagej"`` (ImageJ's Results table), ``"imagej?"``
    (``X`` and ``Y`` that may be ImageJ's or pixels) or ``"points"``.

    ImageJ's Results table names its coordinates ``X`` and ``Y`` (upper case) and has a first column
    named `` `` (the row number) or measurement columns beside them; its X and Y are calibrated. ``X``
    and ``Y`` alone (ImageJ's table saved without row numbers) or beside pandas' index column (ImageJ's
    table saved by pandas) may be ImageJ's or a user's pixels: :func:`_imagej_or_pixels` decides.
    """
    lower = [c.strip().lower() for c in columns]
    if "centroid_x" in lower and "centroid_y" in lower and "x" not in lower:
        return "labelfree"
    stripped = [c.strip() for c in columns]
    if "X" in stripped and "Y" in stripped:
        if (columns and not columns[0].strip()) or any(c in lower for c in _IMAGEJ_COLUMNS):
            return "imagej"
        if set(stripped) <= {"X", "Y", _PANDAS_INDEX}:
            return "imagej?"
    return "points"


def _imagej_or_pixels(xy: np.ndarray, image: Any, path: str) -> str:
    """Whether the ``X``, ``Y`` columns (``xy``, (N, 2)) of a table that may be ImageJ's Results (saved without
    row numbers, or by pandas) are read as ImageJ's calibrated positions (``"imagej"``) or as pixels
    (``"points"``): ImageJ's, unless they are all whole numbers (ImageJ writes calibrated positions with
    decimals; a table of whole numbers is pixels). Said (logged as a warning) when the two readings differ
    for this image."""
    pixels = _to_pixels(xy, image, "XY")
    kind = "points" if np.array_equal(xy, np.round(xy)) else "imagej"
    if not np.allclose(pixels, xy):
        used = ("pixels of the image (all whole numbers)" if kind == "points" else
                "ImageJ's Results table: X and Y calibrated, turned into pixels with the image's pixel size and origin")
        log.warning("%s: its X and Y columns may be ImageJ's calibrated positions (a Results table saved without row "
                    "numbers, or by pandas) or pixels; read as %s. To choose, name the columns x and y (lower case) "
                    "for pixels, or save ImageJ's table with its row numbers (Fiji: Edit > Options > Input/Output..., "
                    "Save row numbers) or with its measurement columns (Area, Mean, ...) for calibrated positions.",
                    path, used)
    return kind


def _to_pixels(values: np.ndarray, image: Any, dims: str) -> np.ndarray:
    """Calibrated positions (as the image's coordinates: origin + index x pixel size) -> pixel positions."""
    from labelfree.image import scale_of

    out = values.copy()
    for k, d in enumerate(dims):
        if image is None or d not in getattr(image, "coords", {}):
            continue
        coord = np.asarray(image.coords[d].values, dtype=np.float64)
        step = scale_of(image, d) if hasattr(image, "dims") else float(
            image.coords[d].attrs.get("scale", coord[1] - coord[0] if coord.size > 1 else 1.0))
        out[:, k] = (values[:, k] - coord[0]) / step
    return out


def _read_csv(path: Path, shape: tuple[int, ...], image: Any = None) -> np.ndarray:
    import pandas as pd

    try:
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline()
        # a header without commas: a table saved with tabs (ImageJ's Results as .xls/.txt) or with semicolons
        # (spreadsheets of locales that write decimal commas)
        sep = next((c for c in ("\t", ";") if c in header), ",") if "," not in header else ","
        table = pd.read_csv(path, sep=sep, decimal="," if sep == ";" else ".")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"Marker file {path} is not a readable CSV table ({exc}).") from exc
    return _table_points(table, shape, image, f"Marker file {path}", str(path))


def points_from_table(table: Any, /, *, image: Any = None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Markers from a table (a pandas DataFrame, or a dict of columns) read by its column names, as
    :func:`read_markers` reads a CSV.

    ``y`` and ``x`` (pixels, any case) and optionally ``t`` / ``frame`` (0-based); ImageJ's Results table
    (``X``, ``Y`` calibrated, ``Frame`` or ``Slice`` from 1) and LabelFree's ``_table.csv`` (``centroid_y``,
    ``centroid_x``, ``frame``) in their own terms; scikit-image's ``regionprops_table`` (``centroid-0`` = y,
    ``centroid-1`` = x) and napari's points layer saved as CSV (``axis-0`` = y, ``axis-1`` = x; of a 3-D layer
    ``axis-0`` = t, ``axis-1`` = y, ``axis-2`` = x), in pixels. The column order does not matter: a table with
    ``x`` before ``y`` gives (y, x) points. A dict of columns (``{"y": [...], "x": [...]}``, or
    ``regionprops_table``'s output) is read as the DataFrame it makes.

    Parameters
    ----------
    table : pandas.DataFrame or dict of columns
        One row per marker.
    image : DataArray, optional
        The image the markers belong to (gives the shape and, for calibrated tables, the pixel size).
    shape : tuple of int, optional
        (Y, X) or (T, Y, X), instead of ``image``; T may be None to keep the markers of every frame
        (the caller checks them).

    Returns
    -------
    ndarray
        (N, 2) (y, x) or, for a time-lapse ``image`` (or a 3-long ``shape``), (N, 3) (t, y, x) float points.
    """
    return _table_points(as_table(table), _shape_of(image, shape), image, "The marker table", "the marker table")


def is_table(value: Any, /) -> bool:
    """Whether ``value`` is a table of markers: a pandas DataFrame (or alike) or a dict of columns."""
    return isinstance(value, Mapping) or (hasattr(value, "columns") and hasattr(value, "to_numpy"))


def as_table(table: Any, /) -> Any:
    """``table`` as a pandas DataFrame: a dict of columns (e.g. ``{"y": [...], "x": [...]}`` or the output of
    ``skimage.measure.regionprops_table``) becomes the DataFrame it makes; a DataFrame is returned as it is."""
    if hasattr(table, "columns") and hasattr(table, "to_numpy"):
        return table
    if not isinstance(table, Mapping):
        raise InputError(f"A marker table must be a pandas DataFrame or a dict of columns (e.g. {{'y': [...], "
                         f"'x': [...]}}); got {type(table).__name__}.")
    import pandas as pd

    try:
        return pd.DataFrame({k: np.ravel(np.asarray(v)) for k, v in table.items()})
    except ValueError as exc:  # columns of different lengths
        lengths = {str(k): int(np.size(v)) for k, v in table.items()}
        raise InputError(f"The marker table given as a dict has columns of different lengths ({lengths}): give one "
                         "value per marker in every column, e.g. {'y': [10, 20], 'x': [30, 40]}.") from exc


def _axis_columns(cols: dict[str, Any], prefix: str) -> list[Any] | None:
    """The columns ``<prefix>-0``, ``<prefix>-1``, ... of a table (skimage's ``centroid-0``, napari's ``axis-0``),
    in order, or None when it has none."""
    found = []
    while f"{prefix}-{len(found)}" in cols:
        found.append(cols[f"{prefix}-{len(found)}"])
    return found or None


def _table_points(table: Any, shape: tuple[Any, ...], image: Any, source: str, path: str) -> np.ndarray:
    """(N, 2) / (N, 3) pixel points of a marker table; ``source`` starts its error messages, ``path`` names it.
    A ``shape`` (None, Y, X) keeps every frame from 0 on (the caller checks them against its movie)."""
    import pandas as pd

    columns = [str(c) for c in table.columns]
    kind = _table_kind(columns)
    if kind == "imagej?":
        xy = table[[next(c for c in table.columns if str(c).strip() == a) for a in "XY"]]
        xy = np.array(xy.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64))
        kind = _imagej_or_pixels(xy, image, path) if np.isfinite(xy).all() and len(xy) else "imagej"
    cols = {str(c).strip().lower(): c for c in table.columns}
    time = len(shape) == 3
    first = 0  # the first frame's number in the file
    if kind == "labelfree":
        ycol, xcol, tcol = cols["centroid_y"], cols["centroid_x"], cols.get("frame")
    elif kind == "imagej":
        ycol, xcol = next(c for c in table.columns if str(c).strip() == "Y"), next(
            c for c in table.columns if str(c).strip() == "X")
        tcol, first = cols.get("frame"), 1  # ImageJ counts frames and slices from 1
        if tcol is None and time and "slice" in cols:
            others = [d for d in ("C", "Z") if image is not None and d in getattr(image, "dims", ())]
            if others:
                raise InputError(
                    f"{path} is an ImageJ Results table whose Slice column counts the planes of a hyperstack with "
                    f"{' and '.join(others)}, so it does not say the frame. Measure again with Analyze > Set "
                    "Measurements > Stack position checked (it adds a Frame column), or give a CSV with y, x and t "
                    "(0-based frame) in pixels.")
            tcol = cols["slice"]  # a plain stack: its slices are the frames
    elif "y" in cols and "x" in cols:
        ycol, xcol, tcol = cols["y"], cols["x"], cols.get("t", cols.get("frame"))
    else:
        axes = _axis_columns(cols, "centroid") or _axis_columns(cols, "axis")
        if axes is None or len(axes) not in (2, 3):
            raise InputError(f"{path} needs columns named y and x (pixels), optionally t (0-based frame); it has "
                             f"{columns}. ImageJ's Results table (X, Y), LabelFree's _table.csv (centroid_x, "
                             "centroid_y), scikit-image's regionprops_table (centroid-0 = y, centroid-1 = x) and "
                             "napari's points CSV (axis-0 = y, axis-1 = x; with axis-2: t, y, x) are read as they "
                             "are.")
        tcol, ycol, xcol = ([None] + axes)[-3:]  # rows, columns: the last two axes; before them, the frame
    if time and tcol is None and kind != "points":
        column = "Frame or Slice" if kind == "imagej" else "frame"
        raise InputError(f"{path} gives no frame for its markers (no {column} column), but the image is a time-lapse; "
                         "give one marker table with the frame of each marker.")
    keys = ([tcol] if tcol is not None else []) + [ycol, xcol]
    values = np.array(table[keys].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64))  # writable
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 2  # 1-based, after the header line
        raise InputError(
            f"{source}: row {row} holds no number in column(s) {', '.join(map(str, keys))}; "
            "every row needs pixel coordinates."
        )
    if len(values) == 0:
        raise InputError(f"{source} lists no markers.")
    if kind != "points":  # calibrated positions
        if image is None:
            log.warning("%s holds calibrated positions, but no image was given to convert them: they are taken "
                        "as pixels (pass image= to read_markers).", path)
        values[:, -2:] = _to_pixels(values[:, -2:], image, "YX")
    if tcol is not None:  # every marker in a frame the image has (the y, x range is checked by the pipeline)
        values[:, 0] -= first
        n_frames = shape[0] if time else 1
        frames = values[:, 0]
        wrong = ~((frames == np.round(frames)) & (frames >= 0) & (n_frames is None or frames < n_frames))
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            has = ("frames are counted from " + str(first) if n_frames is None else f"the image has {n_frames} frame(s)"
                   + (f" ({first}-{n_frames - 1 + first})" if time else ""))
            raise InputError(
                f"{source}: row {row + 2} is in frame {frames[row] + first:g} "
                f"({'counted from 1' if first else '0-based'}), but {has}; every marker needs a whole frame number "
                "of the image."
            )
        if not time:  # a single frame: its markers are (y, x)
            values = values[:, 1:]
    return values


#: marker tables: CSV, and the tab-separated text ImageJ saves its Results table as (.xls, .txt)
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xls")


def _check_points_inside(rois: list[Any], shape: tuple[int, ...], path: Path) -> None:
    """Refuse point ROIs outside the image: painted into a label image they would vanish, and their cells with them."""
    import roifile

    points = [np.asarray(r.coordinates(), np.float64).reshape(-1, 2) for r in rois
              if r.roitype == roifile.ROI_TYPE.POINT]
    if not points:
        return
    given = np.concatenate(points)
    xy = np.floor(given)  # the pixel (x, y) that holds each point, as ImageJ places it
    h, w = shape[-2:]
    outside = (xy[:, 0] < 0) | (xy[:, 0] >= w) | (xy[:, 1] < 0) | (xy[:, 1] >= h)
    if outside.any():
        x, y = given[np.argmax(outside)]
        raise InputError(
            f"Marker file {path}: {int(outside.sum())} of {len(xy)} point(s) lie outside the {h} x {w} image, e.g. "
            f"(x={x:g}, y={y:g}) (ImageJ pixels). The points belong to another image (or a larger one this image was "
            "cropped from); mark the cells of this image."
        )


def _fit_label_image(labels: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """A marker label image in the image's (T,) Y, X shape: axes of one plane (a C or Z of 1) drop out; the rest
    must be the image's own."""
    planes = tuple(n for n in labels.shape if n != 1)
    if planes != tuple(n for n in shape if n != 1):
        hint = ""
        if len(shape) == 2 and len(planes) == 3 and planes[1:] == tuple(shape):
            hint = (f" It holds {planes[0]} planes of the image's size (a Z-stack or time-lapse of markers) for a "
                    "single-plane image: project them or pick the plane of this image, and save that as the marker "
                    "file (Fiji: Image > Stacks > Z Project... with Max Intensity, or Image > Duplicate... with one "
                    "slice; Python: labels.max(axis=0) or labels[k]).")
        raise InputError(f"Marker image {path} has shape {labels.shape}; it must match the image, {shape} ((T,) Y, "
                         f"X).{hint}")
    return labels.reshape(shape)


def _refuse_empty_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    """``labels`` of a marker file, refused when all zero (no marker at all); returned as they are otherwise."""
    if np.asarray(labels).any():
        return labels
    raise InputError(
        f"Marker file {path} holds no marker: its label image is all zero (0 = background). Cutter needs one marker "
        "per cell: save the nucleus labels (one value per nucleus, e.g. Fiji's Analyze > Analyze Particles with "
        "Show: Count Masks) or point selections (a points CSV or ROI zip) as the marker file, or run without "
        "markers (no --markers; Python: markers=None) to have them detected in the nucleus channel.")


def read_markers(path: str | os.PathLike[str], /, *, image: Any = None, shape: tuple[int, ...] | None = None) -> Any:
    """Read markers from a CSV of points, a label TIFF (or a grey label PNG) or an ImageJ ROI zip.

    Parameters
    ----------
    path : str or path-like
        CSV (commas; tabs or semicolons are recognised from the header line, and ImageJ's
        tab-separated ``.xls`` / ``.txt`` Results tables are read alike): a header with ``y`` and
        ``x`` columns in pixels (any case), optionally ``t`` / ``frame`` (0-based) for time-lapses.
        ImageJ's Results table (Analyze > Measure on a point selection: a nameless first column
        or measurement columns beside ``X`` and ``Y``) is read in its own terms: X and Y
        calibrated, ``Frame`` (or, for a plain stack, ``Slice``) counted from 1; ``X`` and ``Y``
        alone (saved without row numbers) or beside pandas' index column are read as ImageJ's
        unless they are all whole numbers (pixels), with a warning where the readings differ.
        LabelFree's ``_table.csv`` gives its ``centroid_x`` / ``centroid_y`` (calibrated) and ``frame``.
        Calibrated positions become pixels with the image's pixel size and origin. TIFF: a label image of
        nuclei (one all zero is refused, naming the file); a grey PNG (BMP, GIF, PGM) of labels is one plane
        of them, read exactly, and so is a Cellpose GUI annotation ``<stem>_seg.npy`` (its masks; read
        without running code from the file). ROI zip / .roi: point ROIs (one marker per point; a point
        outside the image is an error) or area ROIs; a ROI of a stack saved by ImageJ's ROI Manager with
        its slice in its name only (``0002-0040-0040``) is on that slice, as ImageJ reads it. A folder: a
        Cell Tracking Challenge ``TRA`` folder (``man_trackNNN.tif``, one per frame of the image, label =
        track id), or an OME-Zarr label image (a run's ``<stem>_labels.ome.zarr``, written with
        ``--ome-zarr``; its level 0, exactly).
    image : DataArray, optional
        The image the markers belong to (gives the shape).
    shape : tuple of int, optional
        (Y, X) or (T, Y, X), instead of ``image``.

    Returns
    -------
    ndarray
        (N, 2) / (N, 3) float points, or a label image of the image's (T,) Y, X shape.
    """
    path = Path(path)
    from labelfree.io.ngff import is_ngff

    if path.is_dir() and is_ngff(path):  # a label image written as OME-Zarr (``--ome-zarr``): its ids, exactly
        from labelfree.io.ngff import read_ngff

        return _refuse_empty_labels(_fit_label_image(np.asarray(read_ngff(path).values), _shape_of(image, shape),
                                                     path), path)
    if path.is_dir():
        from labelfree.io.ctc import read_tra_markers

        return read_tra_markers(path, shape=_shape_of(image, shape)).astype(np.int64)
    if not path.is_file():
        raise InputError(f"Marker file {path} does not exist (give a points .csv, a label .tif or .ome.zarr, or a "
                         "ROI .zip).")
    shape = _shape_of(image, shape)
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        return _read_csv(path, shape, image)
    if suffix in (".zip", ".roi"):
        from labelfree.io.rois import read_rois
        from labelfree.io.rois_raster import rois_to_labels

        rois = read_rois(path)
        _check_points_inside(rois, shape, path)
        return rois_to_labels(rois, shape=shape).astype(np.int64)
    if suffix in _LABEL_PICTURES:  # a label picture (Cellpose's _masks.png, _seg.npy): its exact values, one plane
        from labelfree.io.labels_tiff import read_labels

        labels = read_labels(path)
        if labels.shape != tuple(shape[-2:]) or (len(shape) == 3 and shape[0] != 1):
            raise InputError(f"Marker image {path} is one {labels.shape[0]} x {labels.shape[1]} plane; it must match "
                             f"the image, {shape} ((T,) Y, X): give a label TIFF of the image's frames.")
        return _refuse_empty_labels(labels.reshape(shape), path)
    if suffix in (".tif", ".tiff"):
        from labelfree.io.tiff import read_array

        # the stored values, as every label reader takes them: a label TIFF with a colour palette (glasbey) keeps
        # its ids, where read_image would give the palette's colours; axes of length one drop out below, and a
        # stack saved without axis names has the image's frames as its planes
        labels = read_array(path)
        return _refuse_empty_labels(_fit_label_image(labels, shape, path), path)
    raise InputError(f"Unknown marker file type {path.name!r}: give a .csv of points (or ImageJ's Results saved as "
                     ".xls or .txt), a label .tif (or a grey label .png, or Cellpose's _seg.npy) or a ROI .zip.")
