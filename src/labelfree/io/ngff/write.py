"""Writing OME-Zarr images: :func:`write_ngff` (a DataArray as a standalone NGFF image) and the pieces every
writer shares: metadata, pyramid levels, chunked writing, and the checks that keep a writer out of an existing
image and publish a finished store in one rename."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import xarray as xr

from labelfree.errors import (
    InputError,
    InputOverwriteError,
    OutputError,
    OutputExistsError,
)
from labelfree.io.ngff.metadata import (
    _AXIS_TYPE,
    _TO_NGFF_UNIT,
    NGFF_VERSIONS,
    _is_zarr_store,
    _ngff_kind,
    _zarr,
)

__all__ = ["write_ngff"]

log = logging.getLogger(__name__)

#: display colours of written channels (``omero``), ImageJ's composite order; one channel is grey
_CHANNEL_COLORS = ("FF0000", "00FF00", "0000FF", "FFFFFF", "00FFFF", "FF00FF", "FFFF00")


def _axes_meta(da: xr.DataArray) -> list[dict[str, Any]]:
    from labelfree.image import units_of
    from labelfree.io.units import normalise_unit

    axes = []
    for d in da.dims:
        ax: dict[str, Any] = {"name": d.lower(), "type": _AXIS_TYPE[d]}
        if d != "C":  # any spelling the TIFF writer takes (um, micron, sec) is the same unit here
            given = normalise_unit(units_of(da, d))
            unit = _TO_NGFF_UNIT.get(given) or _TO_NGFF_UNIT.get(given.lower())
            if unit:
                ax["unit"] = unit
            elif given not in ("pixel", "frame"):
                log.warning("OME-Zarr: the unit %r of axis %s is not one of the units OME-Zarr names; the axis "
                            "is written with its scale but without a unit.", given, d)
        axes.append(ax)
    return axes


def _scale_shift(da: xr.DataArray) -> tuple[list[float], list[float]]:
    from labelfree.image import scale_of

    scale, shift = [], []
    for d in da.dims:
        if d == "C":
            scale.append(1.0)
            shift.append(0.0)
            continue
        scale.append(scale_of(da, d))
        c = da.coords.get(d)
        shift.append(float(c.values[0]) if c is not None and c.size and np.issubdtype(c.dtype, np.number) else 0.0)
    return scale, shift


def _halving(levels: int) -> list[dict[str, int]]:
    """Downscale factors of ``levels`` levels that halve Y and X from one level to the next."""
    return [{"Y": 2 ** k, "X": 2 ** k} for k in range(levels)]


def _multiscale(da: xr.DataArray, name: str, factors: Sequence[dict[str, int]], version: str) -> dict[str, Any]:
    """``multiscales`` metadata of the levels ``factors`` (each level's downscale factor per axis; 1 if absent)."""
    scale, shift = _scale_shift(da)
    datasets = []
    for k, level in enumerate(factors):
        f = [float(level.get(d, 1)) for d in da.dims]
        trs: list[dict[str, Any]] = [{"type": "scale", "scale": [s * fi for s, fi in zip(scale, f)]}]
        if any(shift):
            trs.append({"type": "translation", "translation": list(shift)})
        datasets.append({"path": str(k), "coordinateTransformations": trs})
    ms: dict[str, Any] = {"name": name, "axes": _axes_meta(da), "datasets": datasets}
    if version == "0.4":
        ms = {"version": "0.4", **ms}
    return ms


def _default_chunks(da: xr.DataArray) -> tuple[int, ...]:
    return tuple(min(n, 1024) if d in ("Y", "X") else 1 for d, n in zip(da.dims, da.shape))


def _level(data: Any, dims: Sequence[str], factors: dict[str, int], shape: Sequence[int] | None = None) -> Any:
    """Every ``factors[d]``-th pixel along each axis ``d`` (nearest neighbour), cut to ``shape`` if given."""
    index = tuple(slice(None, None, int(factors.get(d, 1))) for d in dims)
    data = data[index] if any(int(factors.get(d, 1)) != 1 for d in dims) else data
    if shape is not None and tuple(shape) != tuple(data.shape):
        data = data[tuple(slice(0, int(n)) for n in shape)]
    return data


def _check_chunks(chunks: Sequence[int] | None, da: xr.DataArray) -> tuple[int, ...]:
    if chunks is None:
        return _default_chunks(da)
    try:
        out = tuple(int(c) for c in chunks)
    except (TypeError, ValueError):
        out = ()
    if len(out) != da.ndim or min(out) < 1:
        raise InputError(f"chunks must give one size >= 1 per axis of the image (dims {''.join(da.dims)}, shape "
                         f"{tuple(da.shape)}); got {chunks!r}. E.g. chunks={_default_chunks(da)}.")
    return out


def _check_levels(levels: Any) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise InputError(f"levels must be a whole number >= 1 (1: full resolution only); got {levels!r}.")
    return int(levels)


def _channel_ranges(data: Any, dims: Sequence[str]) -> Any:
    """Smallest and largest value of each channel (lazy for a dask array), NaN left out."""
    axes = tuple(i for i, d in enumerate(dims) if d != "C")
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    if data.dtype.kind == "f":
        import dask.array as dsk

        lib = dsk if hasattr(data, "dask") else np
        return lib.nanmin(data, axis=axes), lib.nanmax(data, axis=axes)
    return data.min(axis=axes), data.max(axis=axes)


def _write_arrays(group: Any, da: xr.DataArray, *, factors: Sequence[dict[str, int]], chunks: tuple[int, ...],
                  version: str, ranges: bool = False,
                  shapes: Sequence[Sequence[int] | None] = ()) -> list[tuple[float, float]] | None:
    """Write the pyramid (level k: :func:`_level` with ``factors[k]``, cut to ``shapes[k]`` where given); with
    ``ranges``, also return each channel's (min, max), read in the same pass."""
    import dask
    import dask.array as dsk

    found = None
    for k, level in enumerate(factors):
        data = _level(da.data, da.dims, level, shapes[k] if k < len(shapes) else None)
        kwargs: dict[str, Any] = {}
        if version == "0.4":
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        else:
            kwargs["dimension_names"] = [d.lower() for d in da.dims]
        arr = group.create_array(str(k), shape=data.shape, dtype=data.dtype,
                                 chunks=tuple(min(c, n) for c, n in zip(chunks, data.shape)), **kwargs)
        want = ranges and k == 0
        if isinstance(data, dsk.Array):
            # each task writes whole chunks of the store: two tasks filling parts of one chunk would each
            # read, change and write it back, and one of them would lose its pixels
            data = data.rechunk(arr.chunks)
            stored = dsk.store(data, arr, lock=False, compute=False)
            if want:
                _, low, high = dask.compute(stored, *_channel_ranges(data, da.dims))
                found = (low, high)
            else:
                dask.compute(stored)
        else:
            data = np.asarray(data)
            arr[...] = data
            if want:
                found = _channel_ranges(data, da.dims)
    if found is None:
        return None
    low, high = (np.atleast_1d(np.asarray(v, np.float64)) for v in found)
    return [(float(a) if np.isfinite(a) else 0.0, float(b) if np.isfinite(b) else 0.0) for a, b in zip(low, high)]


def _omero(names: Sequence[Any], ranges: Sequence[tuple[float, float]], dtype: np.dtype) -> dict[str, Any]:
    """``omero`` display metadata: label, colour and window (the channel's range) of each channel."""
    colors = ("FFFFFF",) if len(names) == 1 else _CHANNEL_COLORS
    channels = []
    for i, (name, (low, high)) in enumerate(zip(names, ranges)):
        if dtype.kind in "iu":
            low, high = int(low), int(high)
        channels.append({"label": str(name), "active": True, "color": colors[i % len(colors)],
                         "window": {"min": low, "max": high, "start": low, "end": high}})
    return {"channels": channels}


def _check_version(version: str) -> str:
    version = str(version)
    if version not in NGFF_VERSIONS:
        raise InputError(f"NGFF version must be one of {NGFF_VERSIONS}; got {version!r}.")
    return version


def _set_attrs(group: Any, attrs: dict[str, Any], version: str) -> None:
    group.attrs.update({"ome": {"version": version, **attrs}} if version == "0.5" else attrs)


#: suffixes of file formats: an OME-Zarr folder named so (``cells.tif``) is taken for such a file by every
#: reader that goes by the name (Fiji's File > Open, a file browser, LabelFree's batch file lists)
_FILE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".csv", ".zip", ".roi", ".json", ".txt", ".npy", ".npz",
                  ".h5", ".hdf5", ".nd2", ".czi", ".lif")


def _check_folder_name(final: Path) -> None:
    """Refuse an OME-Zarr folder named as a file of another format, before any work."""
    suffix = final.suffix.lower()
    if suffix in _FILE_SUFFIXES:
        raise OutputError(f"{final} ends with {final.suffix!r}, but write_ngff writes an OME-Zarr folder: a folder "
                          f"named so is taken for a {final.suffix} file. Give a name ending with .zarr or .ome.zarr, "
                          f"e.g. {final.with_suffix('.ome.zarr')}.")


def _check_target(final: Path, overwrite: bool) -> None:
    """Refuse a target inside an OME-Zarr image, plate or bioformats2raw container, an existing one without
    ``overwrite``, and any other thing."""
    for parent in final.resolve().parents:
        kind = _ngff_kind(parent)
        if kind == "image":
            raise InputOverwriteError(
                f"{final} lies inside the OME-Zarr image {parent}: writing there would change that image. Write "
                f"beside it (e.g. {parent.parent / ('labels_' + parent.name)}), or add labels to it with "
                f"write_ngff_labels({str(parent)!r}, labels, name=...)."
            )
        if kind == "container":
            raise InputOverwriteError(
                f"{final} lies inside the OME-Zarr plate or bioformats2raw container {parent}: writing there would "
                f"change it. Write beside it (e.g. {parent.parent / (parent.name.split('.')[0] + '_' + final.name)}), "
                "or add labels to one of its images with write_ngff_labels(<image path>, labels, name=...)."
            )
    _check_existing(final, overwrite)


def _check_existing(final: Path, overwrite: bool) -> None:
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise OutputExistsError(f"{final} already exists; remove it or pass overwrite=True.")
        if final.is_symlink() or not _is_zarr_store(final):
            raise OutputError(f"{final} exists and is not a zarr store; overwrite=True replaces only an earlier "
                              "OME-Zarr image, never another folder or file. Choose another path.")


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished store ``tmp`` to ``final``, replacing an earlier store there; the caller has just
    checked that ``final`` may be replaced (:func:`_check_existing`)."""
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _as_image(image: Any) -> xr.DataArray:
    from labelfree.image import to_dataarray

    if isinstance(image, xr.DataArray):
        return to_dataarray(image)
    raise InputError("write_ngff takes an xarray.DataArray in the LabelFree data model "
                     "(see labelfree.image.to_dataarray).")


def write_ngff(
    path: str | os.PathLike[str],
    image: xr.DataArray,
    /,
    *,
    version: str = "0.4",
    chunks: Sequence[int] | None = None,
    levels: int = 1,
    overwrite: bool = False,
) -> Path:
    """Write ``image`` (an image or a label DataArray) as a standalone OME-Zarr image.

    Parameters
    ----------
    path : path
        The ``.zarr`` folder to create (a name ending as a file of another format, ``cells.tif``,
        is refused before any work).
    image : xarray.DataArray
        Dims from T, C, Z, Y, X with coords (scale, origin, units) and channel names; a
        dask-backed array is written chunk by chunk.
    version : {"0.4", "0.5"}
        NGFF 0.4 (zarr v2, ``.zattrs``) or 0.5 (zarr v3, ``zarr.json`` with ``ome``).
    chunks : sequence of int, optional
        Chunk shape, one size per axis of ``image`` (default 1 along T, C, Z and up to
        1024 × 1024 in Y, X). Sizes need not divide the shape.
    levels : int
        Multiscale levels, at least 1 (level k keeps every 2**k-th pixel in Y and X).
    overwrite : bool
        Replace an existing zarr store (otherwise an existing one is an error); a folder or
        file that is not a zarr store is never replaced.

    Returns
    -------
    pathlib.Path of the store.

    Raises
    ------
    InputOverwriteError
        ``path`` lies inside an OME-Zarr image (use :func:`write_ngff_labels` for labels).
    OutputError
        ``path`` exists and is not a zarr store, or is named as a file of another format.

    Notes
    -----
    An image with a C axis gets ``omero`` display metadata: each channel's name, a
    colour and a window spanning its values.
    """
    _zarr()  # zarr is installed: said before any work
    version = _check_version(version)
    levels = _check_levels(levels)
    da = _as_image(image)
    chunk_shape = _check_chunks(chunks, da)
    final = Path(path)
    _check_target(final, overwrite)
    _check_folder_name(final)
    with staged_store(final, version, overwrite=overwrite) as (group, name):
        attrs: dict[str, Any] = {"multiscales": [_multiscale(da, name, _halving(levels), version)]}
        ranges = _write_arrays(group, da, factors=_halving(levels), chunks=chunk_shape, version=version,
                               ranges="C" in da.dims)
        if ranges is not None:
            attrs["omero"] = _omero(list(da.coords["C"].values), ranges, da.dtype)
        if da.attrs.get("labelfree"):
            attrs["labelfree"] = json.loads(json.dumps(da.attrs["labelfree"], default=str))
        _set_attrs(group, attrs, version)
    return final


@contextlib.contextmanager
def staged_store(final: Path, version: str, /, *, overwrite: bool) -> Iterator[tuple[Any, str]]:
    """A new zarr group in a hidden sibling of ``final`` and the image's name (the folder's, less ``.zarr`` and
    ``.ome``), published as ``final`` when the block ends (checked again first: nothing took the place while the
    arrays were written), removed when it fails: a reader never sees a half-written store."""
    zarr = _zarr()
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2 if version == "0.4" else 3)
        name = final.name[:-len(".zarr")] if final.name.lower().endswith(".zarr") else final.name
        name = name[:-len(".ome")] if name.lower().endswith(".ome") else name
        yield group, name
        _check_target(final, overwrite)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
