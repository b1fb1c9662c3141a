"""Reading cell markers (one per cell) from the files users have: points CSV, label TIFF, ROI zip."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["read_markers"]


def _shape_of(image: Any, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if shape is not None:
        return tuple(int(n) for n in shape)
    if image is None:
        raise InputError("read_markers needs the image (or its shape) to place the markers.")
    sizes = dict(image.sizes)
    return tuple(sizes[d] for d in ("T", "Y", "X") if d in sizes)


def _read_csv(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"Marker file {path} is not a readable CSV table ({exc}).") from exc
    cols = {str(c).strip().lower(): c for c in table.columns}
    if "y" not in cols or "x" not in cols:
        raise InputError(f"{path} needs columns named y and x (pixels); it has {list(table.columns)}.")
    tcol = cols.get("t", cols.get("frame"))
    keys = ([tcol] if tcol is not None and len(shape) == 3 else []) + [cols["y"], cols["x"]]
    values = table[keys].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 2  # 1-based, after the header line
        raise InputError(
            f"Marker file {path}: row {row} holds no number in column(s) {', '.join(map(str, keys))}; "
            "every row needs pixel coordinates."
        )
    if len(values) == 0:
        raise InputError(f"Marker file {path} lists no markers.")
    return values


def read_markers(path: str | os.PathLike[str], /, *, image: Any = None, shape: tuple[int, ...] | None = None) -> Any:
    """Read markers from a CSV of points, a label TIFF or an ImageJ ROI zip.

    Parameters
    ----------
    path : str or path-like
        CSV: a header with ``y`` and ``x`` columns (any case; ImageJ's ``X``/``Y`` work),
        optionally ``t`` / ``frame`` for time-lapses, in pixels. TIFF: a label image of
        nuclei. ROI zip / .roi: point ROIs (one marker per point) or area ROIs.
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
    if not path.is_file():
        raise InputError(f"Marker file {path} does not exist (give a points .csv, a label .tif or a ROI .zip).")
    shape = _shape_of(image, shape)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, shape)
    if suffix in (".zip", ".roi"):
        from labelfree.io.rois_raster import rois_to_labels

        return rois_to_labels(str(path), shape=shape).astype(np.int64)
    if suffix in (".tif", ".tiff"):
        from labelfree.io.tiff import read_image

        labels = np.asarray(read_image(path).values)
        if labels.size != int(np.prod(shape)):
            raise InputError(
                f"Marker image {path} has shape {labels.shape}; it must match the image, {shape} ((T,) Y, X)."
            )
        return labels.reshape(shape)
    raise InputError(f"Unknown marker file type {path.name!r}: give a .csv of points, a label .tif or a ROI .zip.")
