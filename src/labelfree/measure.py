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

__all__ = ["measure_objects", "TABLE_COLUMNS", "VOLUME_COLUMNS"]

#: columns always present, in order (then one ``mean_<channel>`` column per channel)
TABLE_COLUMNS = (
    "label", "frame", "z", "area", "centroid_x", "centroid_y",
    "bbox_x", "bbox_y", "bbox_width", "bbox_height",
)

#: columns of the table of a z-stack (labels with 2+ z planes), one row per 3-D object per frame, in order (then
#: one ``mean_<channel>`` column per channel)
VOLUME_COLUMNS = (
    "label", "frame", "volume", "voxels", "centroid_x", "centroid_y", "centroid_z",
    "bbox_x", "bbox_y", "bbox_width", "bbox_height", "z_first", "z_last",
)

_INTEGER_COLUMNS = ("label", "frame", "z", "voxels", "bbox_x", "bbox_y", "bbox_width", "bbox_height",
                    "z_first", "z_last")


def _area_unit(da: xr.DataArray) -> str:
    ux, uy = units_of(da, "X"), units_of(da, "Y")
    return f"{ux}²" if ux == uy else f"{ux}·{uy}"


def _volume_unit(da: xr.DataArray) -> str:
    """``µm³`` when X, Y and Z share a unit; else the units multiplied (``µm²·pixel``, ``µm·nm·pixel``)."""
    ux, uy, uz = units_of(da, "X"), units_of(da, "Y"), units_of(da, "Z")
    if ux == uy == uz:
        return f"{ux}³"
    return f"{ux}²·{uz}" if ux == uy else f"{ux}·{uy}·{uz}"


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


def _plane_index(lab: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """Foreground pixels of a plane and their object bins: (ys, xs, bin per pixel, bins, present bins, label ids
    of the present bins, pixel counts of the present bins, whether label ids are the bins); None without objects."""
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
    ids = (present if dense else ids_all[present]).astype(np.int64)
    return ys, xs, index, n, present, ids, counts[present], dense


def _plane_bboxes(lab: np.ndarray, found: tuple[np.ndarray, ...]) -> np.ndarray:
    """(N, 4) boxes ``x, y, width, height`` (pixels) of the present objects of :func:`_plane_index`."""
    ys, xs, index, n, present, _, _, dense = found
    if dense:
        slices = ndi.find_objects(lab)
        return np.array(
            [(s[1].start, s[0].start, s[1].stop - s[1].start, s[0].stop - s[0].start)
             for s in (slices[i - 1] for i in present)], dtype=np.int64,
        ).reshape(-1, 4)
    return _bboxes_sparse(index, n, ys, xs)[present]


def _plane_rows(lab: np.ndarray, planes: np.ndarray | None) -> dict[str, np.ndarray] | None:
    found = _plane_index(lab)
    if found is None:
        return None
    ys, xs, index, n, present, ids, c, _ = found
    out = {
        "label": ids,
        "count": c,
        "cx": np.bincount(index, weights=xs, minlength=n)[present] / c,
        "cy": np.bincount(index, weights=ys, minlength=n)[present] / c,
        "bbox": _plane_bboxes(lab, found),
    }
    if planes is not None:
        out["means"] = np.stack([_means(index, n, p[ys, xs], present, c) for p in planes], axis=1)
    return out


def _plane_sums(lab: np.ndarray, planes: np.ndarray | None, z: int) -> pd.DataFrame | None:
    """Per object of one z plane: label, pixel count, sums of x, y and z, box corners, and per channel the sum
    and the number of its non-NaN intensities (``sum<i>``, ``n<i>``), to add up over the planes of a volume."""
    found = _plane_index(lab)
    if found is None:
        return None
    ys, xs, index, n, present, ids, c, _ = found
    box = _plane_bboxes(lab, found)
    out = {
        "label": ids, "count": c, "sx": np.bincount(index, weights=xs, minlength=n)[present],
        "sy": np.bincount(index, weights=ys, minlength=n)[present], "sz": c * float(z),
        "x0": box[:, 0], "y0": box[:, 1], "x1": box[:, 0] + box[:, 2], "y1": box[:, 1] + box[:, 3],
        "z0": np.full(ids.size, z, np.int64), "z1": np.full(ids.size, z, np.int64),
    }
    for k, p in enumerate(planes if planes is not None else []):
        values = p[ys, xs].astype(np.float64, copy=False)
        keep = ~np.isnan(values)
        out[f"sum{k}"] = np.bincount(index[keep], weights=values[keep], minlength=n)[present]
        out[f"n{k}"] = np.bincount(index[keep], minlength=n)[present]
    return pd.DataFrame(out)


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


def measure_objects(labels: Any, /, *, image: Any = None, per_plane: bool = False) -> pd.DataFrame:
    """Measure every object in every frame: in each plane, or as a volume in a z-stack.

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Label image with dims from T, Z, Y, X (0 = background).
    image : xarray.DataArray or array, optional
        Intensities with the labels' T/Z/Y/X axes and optionally C; one mean-intensity
        column per channel (``mean_<channel name>``, ``mean_<channel name>_c<index>`` for
        channels that share a name; ``mean_intensity`` without C).
    per_plane : bool
        Measure the objects of labels with 2+ z planes plane by plane (the table of labels without Z, one
        row per object per plane) instead of as volumes.

    Returns
    -------
    pandas.DataFrame
        Labels with 2+ z planes (and ``per_plane`` False): one row per 3-D object per frame, ordered by
        frame, label, with the columns :data:`VOLUME_COLUMNS`: ``label``, ``frame`` (0-based; 0 without T),
        ``volume`` (voxel count x voxel volume, calibrated), ``voxels`` (the count), ``centroid_x``,
        ``centroid_y``, ``centroid_z`` (calibrated coordinates, origin included, Z by the z spacing),
        ``bbox_x``/``bbox_y``/``bbox_width``/``bbox_height`` (pixels, the box of all its planes),
        ``z_first``/``z_last`` (the 0-based planes it spans), then the mean intensities over its voxels.

        Otherwise one row per object per frame per z plane, ordered by frame, z, label:
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
    n_t, n_z = da.sizes.get("T", 1), da.sizes.get("Z", 1)
    sx, sy = scale_of(da, "X"), scale_of(da, "Y")
    x0 = float(da.coords["X"].values[0]) if "X" in da.coords else 0.0
    y0 = float(da.coords["Y"].values[0]) if "Y" in da.coords else 0.0
    mean_names = planes_all[1] if planes_all is not None else []
    if n_z > 1 and not per_plane:
        return _measure_volumes(da, planes_all[0] if planes_all is not None else None, mean_names)
    parts = []
    arr = np.asarray(da.data)
    arr = arr.reshape(n_t, n_z, arr.shape[-2], arr.shape[-1])
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


def _measure_volumes(da: xr.DataArray, planes_of: Callable[[int, int], np.ndarray] | None,
                     mean_names: list[str]) -> pd.DataFrame:
    """The table of :data:`VOLUME_COLUMNS` of labels with a Z axis: one row per 3-D object per frame.

    The labels and the intensities are read one z plane at a time (a lazy image stays lazy); each plane's sums
    per object are added up per label over the planes of a frame.
    """
    n_t, n_z = da.sizes.get("T", 1), da.sizes["Z"]
    data = da.transpose(*[d for d in ("T", "Z", "Y", "X") if d in da.dims]).data
    sx, sy, sz = scale_of(da, "X"), scale_of(da, "Y"), scale_of(da, "Z")
    x0, y0, z0 = (float(da.coords[d].values[0]) if d in da.coords else 0.0 for d in ("X", "Y", "Z"))
    channels = range(len(mean_names))
    parts = []
    for t in range(n_t):
        sums = []
        for z in range(n_z):
            lab = np.asarray(data[t, z] if "T" in da.dims else data[z])  # one plane in memory at a time
            if lab.dtype.kind == "f":  # whole-number float labels (as_label_image checked them): their integer ids
                lab = lab.astype(np.int64)
            if not lab.any():
                continue
            planes = planes_of(t, z) if planes_of is not None else None
            found = _plane_sums(lab, planes, z)
            if found is not None:
                sums.append(found)
        if not sums:
            continue
        per = pd.concat(sums, ignore_index=True).groupby("label", sort=True)
        added = per[["count", "sx", "sy", "sz", *(f"{k}{i}" for i in channels for k in ("sum", "n"))]].sum()
        lo, hi = per[["x0", "y0", "z0"]].min(), per[["x1", "y1", "z1"]].max()
        count = added["count"].to_numpy()
        part = {
            "label": added.index.to_numpy(np.int64), "frame": np.full(len(added), t, np.int64),
            "volume": count * sx * sy * sz, "voxels": count.astype(np.int64),
            "centroid_x": x0 + sx * (added["sx"].to_numpy() / count),
            "centroid_y": y0 + sy * (added["sy"].to_numpy() / count),
            "centroid_z": z0 + sz * (added["sz"].to_numpy() / count),
            "bbox_x": lo["x0"].to_numpy(np.int64), "bbox_y": lo["y0"].to_numpy(np.int64),
            "bbox_width": (hi["x1"] - lo["x0"]).to_numpy(np.int64),
            "bbox_height": (hi["y1"] - lo["y0"]).to_numpy(np.int64),
            "z_first": lo["z0"].to_numpy(np.int64), "z_last": hi["z1"].to_numpy(np.int64),
        }
        for i, name in enumerate(mean_names):  # NaN voxels left out; NaN when all of an object's voxels are NaN
            numbers = added[f"n{i}"].to_numpy()
            part[name] = np.where(numbers > 0, added[f"sum{i}"].to_numpy() / np.maximum(numbers, 1), np.nan)
        parts.append(pd.DataFrame(part))
    columns = list(VOLUME_COLUMNS) + mean_names
    if parts:
        df = pd.concat(parts, ignore_index=True)[columns]
    else:  # no object: the columns keep their types (integers for ids, indices, counts and boxes)
        df = pd.DataFrame({c: np.array([], np.int64 if c in _INTEGER_COLUMNS else np.float64) for c in columns})
    ux, uy, uz = units_of(da, "X"), units_of(da, "Y"), units_of(da, "Z")
    df.attrs["units"] = {"volume": _volume_unit(da), "voxels": "voxel", "centroid_x": ux, "centroid_y": uy,
                         "centroid_z": uz, **{c: "pixel" for c in ("bbox_x", "bbox_y", "bbox_width", "bbox_height")},
                         "z_first": "plane", "z_last": "plane"}
    return df
