"""A label image as a standalone OME-Zarr image: :func:`write_label_image` writes ``<stem>_labels.ome.zarr``, the
output of ``labelfree <pipeline> IMAGE -o OUT --ome-zarr`` (and of ``labelfree batch --ome-zarr``).

The store is an NGFF multiscale image whose group also holds ``image-label`` metadata, so OME-Zarr tools (napari's
ome-zarr reader, ome-zarr-py) open it as labels. Axes, scale, origin and units are those :func:`write_ngff` writes;
the ids keep their values (uint16, or uint32 when the largest id needs it, as the label TIFF); lower pyramid
levels keep every 2nd label in Y and X (nearest neighbour: never an interpolated id). Labels held in memory
(every pipeline's result, a tiled run's too) are written chunk by chunk from that array: no level is copied
whole.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree.errors import DimensionError, DTypeError, InputError
from labelfree.io.ngff.metadata import _zarr
from labelfree.io.ngff.write import (
    _check_chunks,
    _check_folder_name,
    _check_levels,
    _check_target,
    _check_version,
    _halving,
    _level,
    _multiscale,
    _set_attrs,
    _write_arrays,
    staged_store,
)

__all__ = ["write_label_image", "pyramid_levels", "PYRAMID_SIZE"]

log = logging.getLogger(__name__)

#: a label image whose Y or X is longer than this gets lower levels, halving both until both fit it
PYRAMID_SIZE = 1024
_MAX_LEVELS = 12


def pyramid_levels(labels: xr.DataArray, /, *, size: int = PYRAMID_SIZE) -> int:
    """The number of levels of the pyramid of ``labels``: 1, and one more for each halving of Y and X needed until
    both are at most ``size`` pixels (a 5000 × 3000 image and ``size=1024``: 4 levels, the last 625 × 375)."""
    longest = max(int(labels.sizes.get("Y", 1)), int(labels.sizes.get("X", 1)))
    if longest <= size:
        return 1
    return min(_MAX_LEVELS, 1 + math.ceil(math.log2(longest / size)))


def _as_labels(labels: Any) -> xr.DataArray:
    """``labels`` as a DataArray of a label image (dims from T, Z, Y, X with Y and X; integer ids >= 0; booleans as
    uint8), or DimensionError / DTypeError saying what it is instead."""
    from labelfree.image import to_dataarray

    if not isinstance(labels, xr.DataArray):
        arr = np.asarray(labels)
        if arr.ndim != 2:
            raise DimensionError(f"The labels are a {arr.ndim}-D array (shape {arr.shape}); say which axis is which "
                                 "with labelfree.image.to_dataarray(labels, dims='TYX') (or 'ZYX', 'TZYX').")
        labels = to_dataarray(arr, dims="YX")
    da = to_dataarray(labels)
    if any(d not in "TZYX" for d in da.dims) or "Y" not in da.dims or "X" not in da.dims or da.size == 0:
        raise DimensionError(f"The labels have dims {''.join(da.dims)} and shape {tuple(da.shape)}; a label image has "
                             "dims from TZYX with Y and X (no C axis: one label per pixel) and is not empty.")
    if da.dtype.kind == "b":
        return da.astype(np.uint8)
    if da.dtype.kind not in "ui" or (da.dtype.kind == "i" and int(da.data.min()) < 0):
        raise DTypeError(f"The labels are {da.dtype} with values from {da.data.min()}; a label image holds integer "
                         "ids >= 0 (0 = background). Convert them first, e.g. labels.astype('uint32').")
    return da


def _label_dtype(data: Any) -> np.dtype:
    """uint16, or uint32 / uint64 when the largest id needs it (as :func:`labelfree.labels.label_dtype`)."""
    from labelfree.labels import label_dtype

    top = data.max()
    return np.dtype(label_dtype(float(top.compute() if hasattr(top, "compute") else top) if data.size else 0.0))


def _blocks(shape: Sequence[int], chunks: Sequence[int]) -> Any:
    """The slices of every chunk of an array of ``shape`` cut in ``chunks``, in C order."""
    ranges = [range(0, n, c) for n, c in zip(shape, chunks)]
    for starts in np.ndindex(*(len(r) for r in ranges)):
        yield tuple(slice(r[i], min(r[i] + c, n)) for r, i, c, n in zip(ranges, starts, chunks, shape))


def _write_levels(group: Any, da: xr.DataArray, dtype: np.dtype, *, levels: int, chunks: tuple[int, ...],
                  version: str) -> None:
    """Write the pyramid of labels held in memory, one chunk at a time: each level is a strided view of the
    labels (nearest neighbour), and only the chunk being written is copied (and cast to ``dtype``)."""
    data = np.asarray(da.data)
    for k, factors in enumerate(_halving(levels)):
        view = _level(data, da.dims, factors)
        kwargs: dict[str, Any] = {}
        if version == "0.4":
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        else:
            kwargs["dimension_names"] = [d.lower() for d in da.dims]
        shape = tuple(view.shape)
        level_chunks = tuple(min(c, n) for c, n in zip(chunks, shape))
        arr = group.create_array(str(k), shape=shape, dtype=dtype, chunks=level_chunks, fill_value=0, **kwargs)
        for block in _blocks(shape, level_chunks):
            arr[block] = np.asarray(view[block], dtype=dtype)


def write_label_image(
    path: str | os.PathLike[str],
    labels: Any,
    /,
    *,
    version: str = "0.4",
    chunks: Sequence[int] | None = None,
    levels: int | None = None,
    pyramid_size: int = PYRAMID_SIZE,
    overwrite: bool = False,
) -> Path:
    """Write ``labels`` as a standalone OME-Zarr label image (a multiscale image with ``image-label`` metadata).

    Parameters
    ----------
    path : path
        The ``.ome.zarr`` folder to create; the store is built in a hidden sibling folder and renamed into place.
    labels : xarray.DataArray or 2-D array
        A label image (dims from T, Z, Y, X; 0 = background), with the coords (pixel sizes, origin, units) of
        the segmented image; its ``attrs["labelfree"]`` (the provenance) is stored as the group's ``labelfree``
        attribute.
    version : {"0.4", "0.5"}
        NGFF 0.4 (zarr v2) or 0.5 (zarr v3).
    chunks : sequence of int, optional
        Chunk shape, one size per axis (default 1 along T and Z, up to 1024 × 1024 in Y, X).
    levels : int, optional
        Multiscale levels (level k keeps every 2**k-th label in Y and X); default :func:`pyramid_levels`: one
        level for an image of at most ``pyramid_size`` pixels in Y and X, more for a bigger one.
    pyramid_size : int
        The largest Y or X of the lowest level when ``levels`` is not given (pixels).
    overwrite : bool
        Replace an earlier zarr store at ``path`` (never another folder or file).

    Returns
    -------
    pathlib.Path of the store.

    Raises
    ------
    DimensionError, DTypeError
        ``labels`` is not a label image: dims from T, Z, Y, X with Y and X, non-negative integers.
    OutputExistsError
        ``path`` exists and ``overwrite`` is off.
    """
    _zarr()  # zarr is installed: said before any work
    version = _check_version(version)
    da = _as_labels(labels)
    if levels is None:
        if isinstance(pyramid_size, bool) or not isinstance(pyramid_size, (int, np.integer)) or pyramid_size < 1:
            raise InputError(f"pyramid_size must be a whole number of pixels >= 1; got {pyramid_size!r}.")
        levels = pyramid_levels(da, size=int(pyramid_size))
    levels = _check_levels(levels)
    chunk_shape = _check_chunks(chunks, da)
    dtype = _label_dtype(da.data)
    final = Path(path)
    _check_target(final, overwrite)
    _check_folder_name(final)
    with staged_store(final, version, overwrite=overwrite) as (group, name):
        if hasattr(da.data, "dask"):  # lazy labels: dask writes them chunk by chunk
            _write_arrays(group, da.astype(dtype), factors=_halving(levels), chunks=chunk_shape, version=version)
        else:
            _write_levels(group, da, dtype, levels=levels, chunks=chunk_shape, version=version)
        attrs: dict[str, Any] = {"multiscales": [_multiscale(da, name, _halving(levels), version)],
                                 "image-label": {"version": "0.4"} if version == "0.4" else {}}
        if da.attrs.get("labelfree"):
            attrs["labelfree"] = json.loads(json.dumps(da.attrs["labelfree"], default=str))
        _set_attrs(group, attrs, version)
    log.debug("wrote the OME-Zarr label image %s (%s, %d level(s), %s)", final, "x".join(map(str, da.shape)), levels,
             dtype)
    return final
