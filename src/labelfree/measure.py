"""Per-object measurements of a label image: the table every entry point writes."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage as ndi

from labelfree.errors import DimensionError
from labelfree.image import channel_names, scale_of, to_dataarray, units_of

__all__ = ["measure_objects", "TABLE_COLUMNS"]

#: columns always present, in order (then one ``mean_<channel>`` column per channel)
TABLE_COLUMNS = (
    "label", "frame", "z", "area", "centroid_x", "centroid_y",
    "bbox_x", "bbox_y", "bbox_width", "bbox_height",
)

_INTEGER_COLUMNS = ("label", "frame", "z", "bbox_x", "bbox_y", "bbox_width", "bbox_height")


def _area_unit(da: xr.DataArray) -> str:
    ux, uy = units_of(da, "X"), units_of(da, "Y")
    return f"{ux}²" if ux == uy else f"{ux}·{uy}"


def _mean_columns(channels: list[str]) -> list[str]:
    """``mean_<channel>`` per channel; channels of the same name get their 0-based index too.

    >>> _mean_columns(["GFP", "GFP", "DAPI"])
    ['mean_GFP_c0', 'mean_GFP_c1', 'mean_DAPI']
    """
    return [f"mean_{c}_c{i}" if channels.count(c) > 1 else f"mean_{c}" for i, c in enumerate(channels)]


def _intensity_planes(image: Any, labels: xr.DataArray) -> tuple[Callable[[int, int], np.ndarray], list[str]] | None:
    """A function giving the (C, Y, X) intensities of frame t, plane z, aligned with the labels, plus column names.

    A lazy (dask, e.g. OME-Zarr) image stays lazy: each call reads that frame's plane only.
    """
    if image is None:
        return None
    if not isinstance(image, xr.DataArray):
        arr = image if _is_dask(image) else np.asarray(image)
        if arr.shape != labels.shape:
            raise DimensionError(
                f"image shape {arr.shape} differs from labels shape {labels.shape}; pass a DataArray "
                "with a C axis for several channels, or an array of the labels' shape."
            )
        image = xr.DataArray(arr, dims=labels.dims) if _is_dask(arr) else to_dataarray(arr, dims=labels.dims)
    img = to_dataarray(image)
    spatial = [d for d in img.dims if d != "C"]
    if tuple(spatial) != tuple(labels.dims) or any(img.sizes[d] != labels.sizes[d] for d in spatial):
        raise DimensionError(
            f"image dims {''.join(img.dims)} {dict(img.sizes)} do not match labels dims "
            f"{''.join(labels.dims)} {dict(labels.sizes)}; the image must have the labels' T/Z/Y/X "
            "axes (plus an optional C axis)."
        )
    names = _mean_columns([str(c) for c in channel_names(img)]) if "C" in img.dims else ["mean_intensity"]
    if "C" not in img.dims:
        img = img.expand_dims("C", axis=0)
    data = img.transpose(*[d for d in ("T", "Z", "C", "Y", "X") if d in img.dims]).data
    lead = [d in img.dims for d in ("T", "Z")]

    def plane(t: int, z: int) -> np.ndarray:
        index = tuple(i for i, present in zip((t, z), lead) if present)
        values = data[index] if index else data
        return np.asarray(values.compute() if _is_dask(values) else values)

    return plane, names


def _is_dask(data: Any, /) -> bool:
    """Whether ``data`` is a dask array (a lazy image), read by computing it."""
    return hasattr(data, "dask") and hasattr(data, "compute")


def _bboxes_sparse(index: np.ndarray, n: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    lo_x, lo_y = np.full(n, np.iinfo(np.int64).max), np.full(n, np.iinfo(np.int64).max)
    hi_x, hi_y = np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.minimum.at(lo_x, index, xs)
    np.minimum.at(lo_y, index, ys)
    np.maximum.at(hi_x, index, xs)
    np.maximum.at(hi_y, index, ys)
    return np.stack([lo_x, lo_y, hi_x - lo_x + 1, hi_y - lo_y + 1], axis=1)


def _plane_rows(lab: np.ndarray, planes: np.ndarray | None) -> dict[str, np.ndarray] | None:
    ys, xs = np.nonzero(lab)  # foreground pixels only: cells are usually a fraction of the frame
    if ys.size == 0:
        return None
    values = lab[ys, xs]
    top = int(values.max())
    dense = top <= 4 * lab.size
    if dense:  # label ids index the bins directly
        index, n = values.astype(np.intp, copy=False), top + 1
    else:  # a few huge ids: compress them first
        ids_all, index = np.unique(values, return_inverse=True)
        index, n = index.ravel(), ids_all.size
    counts = np.bincount(index, minlength=n)
    present = np.nonzero(counts)[0]
    c = counts[present]
    out = {
        "label": (present if dense else ids_all[present]).astype(np.int64),
        "count": c,
        "cx": np.bincount(index, weights=xs, minlength=n)[present] / c,
        "cy": np.bincount(index, weights=ys, minlength=n)[present] / c,
    }
    if dense:
        slices = ndi.find_objects(lab)
        out["bbox"] = np.array(
            [(s[1].start, s[0].start, s[1].stop - s[1].start, s[0].stop - s[0].start)
             for s in (slices[i - 1] for i in present)], dtype=np.int64,
        ).reshape(-1, 4)
    else:
        out["bbox"] = _bboxes_sparse(index, n, ys, xs)[present]
    if planes is not None:
        out["means"] = np.stack([_means(index, n, p[ys, xs], present, c) for p in planes], axis=1)
    return out


def _means(index: np.ndarray, n: int, values: np.ndarray, present: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of ``values`` per object; NaN pixels are left out, as ImageJ's Measure leaves them out."""
    values = values.astype(np.float64, copy=False)
    nan = np.isnan(values)
    if not nan.any():
        return np.bincount(index, weights=values, minlength=n)[present] / counts
    keep = ~nan
    sums = np.bincount(index[keep], weights=values[keep], minlength=n)[present]
    numbers = np.bincount(index[keep], minlength=n)[present]
    return np.where(numbers > 0, sums / np.maximum(numbers, 1), np.nan)


def measure_objects(labels: Any, /, *, image: Any = None) -> pd.DataFrame:
    """Measure every object in every frame and z plane.

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Label image with dims from T, Z, Y, X (0 = background).
    image : xarray.DataArray or array, optional
        Intensities with the labels' T/Z/Y/X axes and optionally C; one mean-intensity
        column per channel (``mean_<channel name>``, ``mean_<channel name>_c<index>`` for
        channels that share a name; ``mean_intensity`` without C).

    Returns
    -------
    pandas.DataFrame
        One row per object per frame per z plane, ordered by frame, z, label:
        ``label``, ``frame`` and ``z`` (0-based indices; 0 without that axis), ``area``
        (pixel count x pixel area, calibrated), ``centroid_x``/``centroid_y`` (calibrated
        coordinates, origin included), ``bbox_x``/``bbox_y``/``bbox_width``/``bbox_height``
        (pixels), mean intensities (NaN pixels left out, as in ImageJ's Measure; NaN when
        all of an object's pixels are NaN). ``df.attrs["units"]`` gives each column's unit.
        ImageJ's Measure puts pixel centres at +0.5: its X/Y are ``centroid_x``/``centroid_y``
        plus half a pixel, and its frames and slices count from 1.

    Examples
    --------
    >>> import numpy as np
    >>> from labelfree.image import to_dataarray
    >>> lab = to_dataarray(np.array([[0, 1, 1], [2, 2, 0]]), scale={"X": 0.5, "Y": 0.5}, units={"X": "µm", "Y": "µm"})
    >>> df = measure_objects(lab)
    >>> df[["label", "area", "centroid_x"]].values.tolist()
    [[1.0, 0.5, 0.75], [2.0, 0.5, 0.25]]
    """
    from labelfree.io.labels_tiff import as_label_image

    da = as_label_image(labels)
    planes_all = _intensity_planes(image, da)
    arr = np.asarray(da.data)
    n_t, n_z = da.sizes.get("T", 1), da.sizes.get("Z", 1)
    arr = arr.reshape(n_t, n_z, arr.shape[-2], arr.shape[-1])
    sx, sy = scale_of(da, "X"), scale_of(da, "Y")
    x0 = float(da.coords["X"].values[0]) if "X" in da.coords else 0.0
    y0 = float(da.coords["Y"].values[0]) if "Y" in da.coords else 0.0
    mean_names = planes_all[1] if planes_all is not None else []
    parts = []
    for t, z in itertools.product(range(n_t), range(n_z)):
        planes = planes_all[0](t, z) if planes_all is not None else None  # read frame by frame (a lazy image)
        lab = arr[t, z]
        if lab.dtype.kind == "f":  # whole-number float labels (as_label_image checked them): their integer ids
            lab = lab.astype(np.int64)
        rows = _plane_rows(lab, planes)
        if rows is None:
            continue
        part = {
            "label": rows["label"], "frame": np.full(len(rows["label"]), t), "z": np.full(len(rows["label"]), z),
            "area": rows["count"] * sx * sy, "centroid_x": x0 + sx * rows["cx"], "centroid_y": y0 + sy * rows["cy"],
            "bbox_x": rows["bbox"][:, 0], "bbox_y": rows["bbox"][:, 1],
            "bbox_width": rows["bbox"][:, 2], "bbox_height": rows["bbox"][:, 3],
        }
        for i, name in enumerate(mean_names):
            part[name] = rows["means"][:, i]
        parts.append(pd.DataFrame(part))
    columns = list(TABLE_COLUMNS) + mean_names
    if parts:
        df = pd.concat(parts, ignore_index=True)
    else:  # no object: the columns keep their types (integers for ids, indices and boxes)
        df = pd.DataFrame({c: np.array([], np.int64 if c in _INTEGER_COLUMNS else np.float64) for c in columns})
    df = df[columns]
    ux, uy = units_of(da, "X"), units_of(da, "Y")
    df.attrs["units"] = {"area": _area_unit(da), "centroid_x": ux, "centroid_y": uy,
                         **{c: "pixel" for c in ("bbox_x", "bbox_y", "bbox_width", "bbox_height")}}
    return df
