"""OME-Zarr (NGFF) images in and out: 0.4 on zarr v2, 0.5 on zarr v3.

* :func:`read_ngff`: level 0 of a multiscale image (or the level a path to its array names,
  ``image.zarr/1``) as a lazy, dask-backed DataArray with dims from ``T C Z Y X``, physical
  coords (``coordinateTransformations`` scale and translation, axis units) and channel names
  (``omero``);
* :func:`write_ngff`: a DataArray (image or labels) as a standalone NGFF image;
* :func:`write_ngff_labels`: labels as ``<image>.zarr/labels/<name>/`` beside the image,
  with ``multiscales`` and ``image-label`` metadata, listed in ``labels/``, its pyramid and chunks
  following the image's;
* :func:`ngff_fingerprint`: what a batch rerun compares, the image without its label images.

Writers build the store in a hidden sibling folder and rename it into place, so a
reader never sees a half-written image; they never write inside an existing OME-Zarr
image (labels go beside it with :func:`write_ngff_labels`) and ``overwrite`` replaces
only a zarr store. Lower pyramid levels (``levels > 1``) of :func:`write_ngff` take every 2nd
pixel in Y and X (nearest neighbour: label ids stay ids); label images take the image's factors.
A dask-backed image is written chunk by chunk, each task writing whole chunks of the store.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree.errors import (
    CorruptFileError,
    DimensionError,
    InputError,
    InputOverwriteError,
    LabelFreeError,
    OutputError,
    OutputExistsError,
)

__all__ = ["read_ngff", "write_ngff", "write_ngff_labels", "is_ngff", "ngff_fingerprint", "NGFF_VERSIONS"]

log = logging.getLogger(__name__)

NGFF_VERSIONS = ("0.4", "0.5")
_TO_NGFF_UNIT = {
    "µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter", "m": "meter",
    "Å": "angstrom", "pm": "picometer", "s": "second", "ms": "millisecond", "µs": "microsecond",
    "min": "minute", "h": "hour", "ns": "nanosecond", "km": "kilometer", "inch": "inch", "ft": "foot",
    "day": "day", "ks": "kilosecond",
}
_FROM_NGFF_UNIT = {v: k for k, v in _TO_NGFF_UNIT.items()}
_AXIS_TYPE = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
#: display colours of written channels (``omero``), ImageJ's composite order; one channel is grey
_CHANNEL_COLORS = ("FF0000", "00FF00", "0000FF", "FFFFFF", "00FFFF", "FF00FF", "FFFF00")
_ZARR_METADATA = ("zarr.json", ".zgroup", ".zattrs", ".zarray")


def _zarr() -> Any:
    from labelfree._deps import require

    return require("zarr", purpose="OME-Zarr images")


def is_ngff(path: str | os.PathLike[str], /) -> bool:
    """Whether ``path`` is a zarr group or array (``.zattrs``/``.zgroup``/``.zarray`` or ``zarr.json``: e.g. one
    level of a multiscale image, ``image.zarr/1``) or a folder whose name ends in ``.zarr``."""
    p = Path(path)
    return p.is_dir() and (p.suffix.lower() == ".zarr" or any((p / name).is_file() for name in _ZARR_METADATA))


def _ome_attrs(group: Any) -> tuple[dict[str, Any], str]:
    """The NGFF attributes of a group and their version (0.5 nests them under ``ome``)."""
    attrs = dict(group.attrs)
    if "ome" in attrs:
        ome = dict(attrs["ome"])
        return ome, str(ome.get("version", "0.5"))
    ms = attrs.get("multiscales") or [{}]
    return attrs, str(ms[0].get("version", "0.4"))


def _transforms(items: Sequence[dict[str, Any]] | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    scale, shift = np.ones(n), np.zeros(n)
    for tr in items or ():
        kind = tr.get("type")
        if kind == "scale" and "scale" in tr:
            scale = scale * np.asarray(tr["scale"], float)
            shift = shift * np.asarray(tr["scale"], float)
        elif kind == "translation" and "translation" in tr:
            shift = shift + np.asarray(tr["translation"], float)
        elif kind not in (None, "identity") and ("path" in tr or kind not in ("scale", "translation")):
            raise InputError(f"NGFF coordinate transformation {tr!r} is not supported (only scale and translation "
                             "given inline).")
    return scale, shift


def _dims_of(axes: Sequence[Any], path: Path) -> list[str]:
    dims = []
    for ax in axes:
        name, kind = (ax.get("name", ""), ax.get("type")) if isinstance(ax, dict) else (str(ax), None)
        letter = {"time": "T", "channel": "C"}.get(kind or "", str(name).upper())
        if letter not in _AXIS_TYPE:
            raise DimensionError(f"{path}: NGFF axis {name!r} (type {kind!r}) is not one of t, c, z, y, x.")
        dims.append(letter)
    return dims


class _CheckedChunks:
    """A zarr array for ``dask.array.from_array`` whose reads turn a chunk that cannot be decoded (garbage in a
    chunk file: a codec error) into :class:`CorruptFileError` naming the file and the chunk, wherever the read
    happens (``compute()`` in this process or a task on a Dask worker). I/O errors (``OSError``: a missing
    mount, no permission) pass unchanged; a missing chunk file reads as the array's fill value (zarr's rule)."""

    def __init__(self, array: Any, store: Path, path: str | None) -> None:
        self.array, self.store, self.path = array, store, path
        self.shape, self.dtype, self.ndim = tuple(array.shape), array.dtype, len(array.shape)

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.array[key]
        except (LabelFreeError, OSError, MemoryError):
            raise
        except Exception as exc:  # codecs (blosc, zstd, deflate, ...) raise many kinds for damaged data
            raise CorruptFileError(
                f"{self.store} is truncated or damaged: {self._chunk(key)} could not be decoded "
                f"({type(exc).__name__}: {exc}). Copy or export the file again."
            ) from exc

    def _chunk(self, key: Any) -> str:
        """The chunk that ``key`` (dask's slices, one chunk per task) reads, as far as known."""
        try:
            starts = tuple((k.start or 0) if isinstance(k, slice) else int(k) for k in key)
            index = tuple(int(s // c) for s, c in zip(starts, self.array.chunks))
        except Exception:  # noqa: BLE001 - only the message's detail
            return "a chunk of its data"
        if self.path is None:
            return f"its data chunk {index} (chunk index per axis)"
        try:
            return f"chunk {self.path}/{self.array.metadata.encode_chunk_key(index)} of its array {self.path!r}"
        except Exception:  # noqa: BLE001 - only the message's detail
            return f"chunk {index} of its array {self.path!r}"

    def __dask_tokenize__(self) -> Any:
        from dask.base import tokenize

        return ("labelfree-checked-chunks", str(self.store), self.path, tokenize(self.array))


def checked_dask_array(array: Any, store: str | os.PathLike[str], /, *, path: str | None = None) -> Any:
    """``dask.array.from_zarr(array)`` whose chunks that cannot be decoded raise :class:`CorruptFileError`
    naming ``store`` (the file or OME-Zarr folder) and the chunk (of the array at ``path`` in it, if given)."""
    import dask.array as da

    return da.from_array(_CheckedChunks(array, Path(store), path), chunks=array.chunks)


def _dataset_array(group: Any, root: Path, dataset: dict[str, Any], level: int) -> Any:
    """The array of one multiscale level, or :class:`CorruptFileError` when the store lacks it."""
    path = str(dataset.get("path", ""))
    try:
        node = group[path]
    except Exception as exc:  # KeyError, or zarr's errors for unreadable metadata
        raise CorruptFileError(f"{root} is incomplete: its multiscales metadata names the array {path!r} for level "
                               f"{level}, but the store has no such array ({type(exc).__name__}: {exc}). Copy or "
                               "export the image again.") from exc
    if not hasattr(node, "shape"):
        raise CorruptFileError(f"{root} is damaged: its level-{level} dataset {path!r} is a group, not an array. "
                               "Copy or export the image again.")
    return node


def _names(items: Any, key: str) -> list[str]:
    """The ``key`` entries (paths, names) of a list of NGFF metadata items, in order."""
    out = []
    for item in items if isinstance(items, list) else []:
        value = item.get(key) if isinstance(item, dict) else item
        if isinstance(value, (str, int)) and str(value):
            out.append(str(value))
    return out


def _listing(names: Sequence[str], most: int = 6) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _series_of(group: Any) -> list[str]:
    """Image series of a bioformats2raw container: ``OME/`` lists them (``series``), else ``0, 1, ...``."""
    try:
        listed, _ = _ome_attrs(group["OME"])
        series = _names(listed.get("series"), "path")
    except Exception:  # noqa: BLE001 - no OME/ group or unreadable metadata: fall back to the numbered groups
        series = []
    if series:
        return series
    while True:
        try:
            group[str(len(series))]
        except Exception:  # noqa: BLE001 - zarr raises KeyError or its own error for a missing member
            return series
        series.append(str(len(series)))


def _single_series(group: Any, ome: dict[str, Any], p: Path) -> str | None:
    """For a group without ``multiscales``: the one image series of a bioformats2raw container, or an
    :class:`InputError` naming an image path to give instead (a plate's field, a well's field, a series, a
    label image); ``None`` for a group that is none of these."""
    if ome.get("bioformats2raw.layout", group.attrs.get("bioformats2raw.layout")) is not None:
        series = _series_of(group)
        if len(series) == 1:
            return series[0]
        if not series:
            raise InputError(f"{p} is a bioformats2raw container without image series (no {p / '0'}); convert the "
                             "image again.")
        raise InputError(f"{p} is a bioformats2raw container of {len(series)} image series ({_listing(series)}); "
                         f"LabelFree reads one image at a time: give one series, e.g. {p / series[0]} (or "
                         f"read_image(path, series=0); on the command line --series 0).")
    if isinstance(ome.get("plate"), dict):
        wells = _names(ome["plate"].get("wells"), "path")
        if not wells:
            raise InputError(f"{p} is an HCS plate that lists no wells; give one field of a well, "
                             f"<plate>.zarr/<row>/<column>/<field>.")
        try:
            fields = _names((_ome_attrs(group[wells[0]])[0].get("well") or {}).get("images"), "path")
        except Exception:  # noqa: BLE001 - an unreadable well: the message names the well only
            fields = []
        example = p / wells[0] / fields[0] if fields else p / wells[0] / "<field>"
        raise InputError(f"{p} is an HCS plate of {len(wells)} well(s) ({_listing(wells)}); LabelFree reads one "
                         f"image at a time: give one field of a well, e.g. {example}.")
    if isinstance(ome.get("well"), dict):
        fields = _names(ome["well"].get("images"), "path")
        example = p / fields[0] if fields else p / "<field>"
        raise InputError(f"{p} is a well of an HCS plate with {len(fields)} field(s) ({_listing(fields)}); give "
                         f"one field, e.g. {example}.")
    if "labels" in ome:
        names = _names(ome["labels"], "name")
        example = p / names[0] if names else p / "<name>"
        raise InputError(f"{p} is the labels group of an OME-Zarr image ({_listing(names) or 'no label images'}); "
                         f"give one label image, e.g. {example}, or the image, {p.parent}.")
    return None


def _chosen_series(group: Any, ome: dict[str, Any], p: Path, series: Any, *, level: int,
                   channel_names: Sequence[str] | None) -> xr.DataArray:
    """Series ``series`` of the bioformats2raw container ``p``, read; an InputError for any other group or
    an index the container does not hold."""
    from labelfree.image import series_index

    index = series_index(series)
    if ome.get("bioformats2raw.layout", group.attrs.get("bioformats2raw.layout")) is None:
        if index == 0 and ome.get("multiscales"):  # an OME-Zarr image holds one image: series 0, as a TIFF's
            da = read_ngff(p, level=level, channel_names=channel_names)
            da.attrs["series"] = 0
            return da
        raise InputError(f"series={series!r} chooses an image series of a bioformats2raw container, but {p} is not "
                         "one (an OME-Zarr image holds one image, series 0): leave series out or give 0, or give the "
                         "folder of the image you want.")
    names = _series_of(group)
    if index is None or not 0 <= index < len(names):
        raise InputError(f"{p} has no series {series!r}: it holds {len(names)} image series ({_listing(names)}), "
                         f"counted from 0; give a whole number from 0 to {len(names) - 1}.")
    da = read_ngff(p / names[index], level=level, channel_names=channel_names)
    da.attrs["series"] = index
    return da


def _is_zarr_array(path: Path) -> bool:
    """Whether ``path`` is a zarr array (v2 ``.zarray``, v3 ``zarr.json`` of node type ``array``)."""
    if (path / ".zarray").is_file():
        return True
    try:
        return json.loads((path / "zarr.json").read_text()).get("node_type") == "array"
    except (OSError, ValueError, AttributeError):
        return False


def _image_attrs(path: Path) -> dict[str, Any] | None:
    """The NGFF attributes (``ome`` of 0.5 unnested) of the group at ``path``, read from its metadata file; None
    when it has none."""
    for name in (".zattrs", "zarr.json"):
        try:
            meta = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        attrs = meta.get("attributes", meta) if name == "zarr.json" and isinstance(meta, dict) else meta
        if isinstance(attrs, dict):
            return {**attrs, **attrs["ome"]} if isinstance(attrs.get("ome"), dict) else attrs
    return None


def _dataset_paths(attrs: dict[str, Any] | None) -> list[str]:
    """The array paths of the first ``multiscales`` entry (level 0 first)."""
    ms = (attrs or {}).get("multiscales")
    first = ms[0] if isinstance(ms, list) and ms and isinstance(ms[0], dict) else {}
    return [str(d.get("path", "")).strip("/") for d in first.get("datasets") or [] if isinstance(d, dict)]


def _level_of(path: Path) -> tuple[Path, int] | None:
    """For the array of one level of a multiscale image (``image.zarr/1``, ``image.zarr/labels/cells/0``): the
    image's folder and the level; else None."""
    for image in list(path.absolute().parents)[:8]:
        paths = _dataset_paths(_image_attrs(image))
        rel = path.absolute().relative_to(image).as_posix()
        if rel in paths:
            return image, paths.index(rel)
    return None


def _read_level_path(p: Path, *, level: int, channel_names: Sequence[str] | None, series: Any) -> xr.DataArray:
    """Read the level array ``p`` of a multiscale image as that level (its own scale, the image's metadata)."""
    found = _level_of(p)
    if found is None:
        raise InputError(f"{p} is a zarr array that no OME-Zarr image above it lists as one of its multiscale "
                         "levels, so its axes and calibration are unknown; give the image's .zarr folder (the "
                         "folder with the 'multiscales' metadata).")
    image, index = found
    if level not in (0, index):
        raise InputError(f"{p} is level {index} of the OME-Zarr image {image}, but level={level!r} asks for another; "
                         f"give the image's folder with level={level!r}, or this path without level.")
    da = read_ngff(image, level=index, channel_names=channel_names, series=series)
    da.attrs["source"] = str(p)
    return da


def read_ngff(
    path: str | os.PathLike[str], /, *, level: int = 0, channel_names: Sequence[str] | None = None,
    series: int | None = None,
) -> xr.DataArray:
    """Read one level of an OME-Zarr (NGFF 0.4 / 0.5) multiscale image, lazily.

    Parameters
    ----------
    path : path
        The image group (``image.zarr``), a label image (``image.zarr/labels/cells``), a
        field of an HCS plate (``plate.zarr/A/1/0``), a bioformats2raw container of one
        image series (its series ``0`` is read; give ``image.zarr/1`` for another series), or
        the array of one multiscale level (``image.zarr/s1``: that level is read, with its
        scale and the image's axes, units and channel names).
    level : int
        Multiscale level; 0 is the full resolution. A path to one level's array reads that
        level (``level`` left out, or that level's number).
    channel_names : sequence of str, optional
        Names for the C axis (default: ``omero`` channel labels, else ``C0, C1, ...``).
    series : int, optional
        For a bioformats2raw container: the image series to read, counted from 0 in the order
        its ``OME/`` group lists them (``attrs["series"]`` records it); any other path is one
        image, series 0 (as a TIFF of one image), and another ``series`` is an :class:`InputError` there.

    Returns
    -------
    xarray.DataArray
        Dask-backed (read chunk by chunk when computed), dims from T, C, Z, Y, X in that
        order, coords ``origin + i * scale`` with ``attrs["units"]``; ``attrs["source"]``
        is the path and ``attrs["ngff"]`` records the version, level and array path.
    """
    from labelfree.image import DIMS, to_dataarray, usable_scales
    from labelfree.io.units import normalise_unit

    zarr = _zarr()
    p = Path(path)
    if not p.exists():
        raise InputError(f"OME-Zarr image {p} does not exist; check the path.")
    if _is_zarr_array(p):
        return _read_level_path(p, level=level, channel_names=channel_names, series=series)
    try:
        group = zarr.open_group(str(p), mode="r")
    except Exception as exc:  # zarr raises several types for non-groups
        raise InputError(f"{p} is not a zarr group ({type(exc).__name__}: {exc}); "
                         "give the image's .zarr folder.") from exc
    ome, version = _ome_attrs(group)
    if series is not None:
        return _chosen_series(group, ome, p, series, level=level, channel_names=channel_names)
    if not ome.get("multiscales"):
        series = _single_series(group, ome, p)
        if series is None:
            raise InputError(f"{p} has no NGFF 'multiscales' metadata; LabelFree reads OME-Zarr images.")
        return read_ngff(p / series, level=level, channel_names=channel_names)
    ms = ome["multiscales"][0]
    datasets = ms.get("datasets") or []
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= level < len(datasets):
        raise InputError(f"{p} has {len(datasets)} multiscale level(s), 0 to {len(datasets) - 1} (0: full "
                         f"resolution); level {level!r} does not exist.")
    arr = _dataset_array(group, p, datasets[level], level)
    axes = ms.get("axes") or ["t", "c", "z", "y", "x"][-len(arr.shape):]
    dims = _dims_of(axes, p)
    if len(arr.shape) != len(dims):
        raise DimensionError(f"{p}: the level-{level} array has {len(arr.shape)} axes but 'axes' names {len(dims)}.")
    scale, shift = _transforms(datasets[level].get("coordinateTransformations"), len(dims))
    s2, t2 = _transforms(ms.get("coordinateTransformations"), len(dims))
    scale, shift = scale * s2, shift * s2 + t2
    units = {}
    for d, ax in zip(dims, axes):
        unit = ax.get("unit") if isinstance(ax, dict) else None
        if d != "C" and unit:
            units[d] = normalise_unit(_FROM_NGFF_UNIT.get(unit, unit))
    scales, units = usable_scales({d: float(scale[i]) for i, d in enumerate(dims) if d != "C"}, units, source=p)
    data = checked_dask_array(arr, p, path=datasets[level]["path"])
    names = channel_names
    if names is None and "C" in dims:
        labels = [ch.get("label") for ch in ((ome.get("omero") or {}).get("channels") or [])]
        if len(labels) == arr.shape[dims.index("C")] and all(labels):
            names = [str(x) for x in labels]
    order = [dims.index(d) for d in DIMS if d in dims]
    raw = xr.DataArray(data.transpose(order), dims=[dims[i] for i in order])
    out = to_dataarray(
        raw, scale=scales, units=units,
        origin={d: float(shift[i]) for i, d in enumerate(dims) if d != "C"}, channel_names=names,
        attrs={"source": str(p), "ngff": {"version": version, "level": level, "path": datasets[level]["path"]}},
    )
    for d in out.dims:
        if d == "T" and d not in units:
            out.coords["T"].attrs["units"] = "frame"
    return out


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


def _is_zarr_store(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in _ZARR_METADATA)


def _ngff_kind(path: Path) -> str | None:
    """What ``path`` holds: ``"image"`` (a multiscale image; NGFF 0.4 ``.zattrs`` or 0.5 ``zarr.json``),
    ``"container"`` (an HCS plate or well, a bioformats2raw container of series) or ``None``."""
    for name in (".zattrs", "zarr.json"):
        try:
            meta = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        attrs = meta.get("attributes", meta) if name == "zarr.json" else meta
        if not isinstance(attrs, dict):
            continue
        keys = set(attrs) | set(attrs.get("ome") or {})
        if "multiscales" in keys:
            return "image"
        if keys & {"plate", "well", "bioformats2raw.layout"}:
            return "container"
    return None


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
    zarr = _zarr()
    version = _check_version(version)
    levels = _check_levels(levels)
    da = _as_image(image)
    chunk_shape = _check_chunks(chunks, da)
    final = Path(path)
    _check_target(final, overwrite)
    _check_folder_name(final)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2 if version == "0.4" else 3)
        name = final.name[:-len(".zarr")] if final.name.lower().endswith(".zarr") else final.name
        name = name[:-len(".ome")] if name.lower().endswith(".ome") else name
        attrs: dict[str, Any] = {"multiscales": [_multiscale(da, name, _halving(levels), version)]}
        ranges = _write_arrays(group, da, factors=_halving(levels), chunks=chunk_shape, version=version,
                               ranges="C" in da.dims)
        if ranges is not None:
            attrs["omero"] = _omero(list(da.coords["C"].values), ranges, da.dtype)
        if da.attrs.get("labelfree"):
            attrs["labelfree"] = json.loads(json.dumps(da.attrs["labelfree"], default=str))
        _set_attrs(group, attrs, version)
        _check_target(final, overwrite)  # nothing took the place while the arrays were written
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _check_labels_fit(
    image: Any, root: Path, labels: xr.DataArray,
) -> tuple[list[dict[str, int]], list[tuple[int, ...]], dict[str, int]]:
    """Refuse labels whose axes or sizes are not the image's (C left out), as NGFF requires of a label image; return
    the image's pyramid for the labels to follow: each level's downscale factor and shape per label axis (the
    levels whose factors are whole numbers, growing from level to level) and its level-0 chunk size per axis."""
    ome, _ = _ome_attrs(image)
    ms = (ome.get("multiscales") or [{}])[0]
    datasets = ms.get("datasets") or []
    if not datasets:
        series = _single_series(image, ome, root)  # a plate, a well, several series: names the image to give
        if series is not None:
            raise InputError(f"{root} is a bioformats2raw container; its image is the series {root / series}: add "
                             f"the labels there, write_ngff_labels({str(root / series)!r}, labels, name=...).")
        raise InputError(f"{root} has no NGFF 'multiscales' metadata, so labels cannot be matched to its image; "
                         "write the image with write_ngff first.")
    level0 = image[datasets[0]["path"]]
    shape = tuple(level0.shape)
    dims = _dims_of(ms.get("axes") or ["t", "c", "z", "y", "x"][-len(shape):], root)
    want = {d: n for d, n in zip(dims, shape) if d != "C"}
    if tuple(labels.dims) != tuple(want) or tuple(labels.shape) != tuple(want.values()):
        raise DimensionError(
            f"The labels (dims {''.join(labels.dims)}, shape {tuple(labels.shape)}) do not fit the image {root} "
            f"(dims {''.join(dims)}, shape {shape}): an OME-Zarr label image has the image's axes except C, each "
            f"of the same size. Give labels with dims {''.join(want)} and shape {tuple(want.values())}."
        )
    factors: list[dict[str, int]] = []
    shapes: list[tuple[int, ...]] = []
    base, _ = _transforms(datasets[0].get("coordinateTransformations"), len(dims))
    for k, dataset in enumerate(datasets):
        try:
            level_shape = tuple(image[dataset["path"]].shape)
            scale, _ = _transforms(dataset.get("coordinateTransformations"), len(dims))
        except Exception:  # noqa: BLE001 - a level the labels cannot follow: they follow the levels before it
            break
        ratios = {d: float(scale[i] / base[i]) if base[i] else 1.0 for i, d in enumerate(dims) if d != "C"}
        level = {d: max(1, round(r)) for d, r in ratios.items()}
        if (len(level_shape) != len(dims) or any(abs(r - level[d]) > 1e-6 * r for d, r in ratios.items())
                or (factors and any(level[d] < factors[-1][d] for d in level))):
            log.info("write_ngff_labels: level %d of %s is not a whole-number downscale of the level before "
                     "(factors %s); the labels follow its first %d level(s).", k, root, ratios, len(factors))
            break
        factors.append(level)
        shapes.append(tuple(n for d, n in zip(dims, level_shape) if d != "C"))
    chunks = {d: int(c) for d, c in zip(dims, level0.chunks) if d != "C"}
    return factors, shapes, chunks


def write_ngff_labels(
    image_path: str | os.PathLike[str],
    labels: xr.DataArray,
    /,
    *,
    name: str = "labels",
    levels: int | None = None,
    chunks: Sequence[int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``labels`` as an NGFF label image beside the image: ``<image>/labels/<name>``.

    The label group gets ``multiscales`` (the labels' own axes and calibration) and
    ``image-label`` metadata (``source`` pointing back to the image); ``labels/`` lists
    ``name``. The NGFF version and zarr format follow the image's, and so does the pyramid:
    by default the labels get the image's levels, each the image's downscale factors (every
    n-th label, nearest neighbour: ids stay ids) and shape, chunked like the image's level 0 in Y
    and X. The labels are written with their own integer dtype.

    Parameters
    ----------
    image_path : path
        The OME-Zarr image (``image.zarr``) to add the labels to.
    labels : xarray.DataArray
        Integer labels with the image's dims (C left out) and level-0 sizes.
    name : str
        The label image's folder name in ``labels/``.
    levels : int, optional
        Multiscale levels, at least 1 (default: as many as the image has). The first ones
        follow the image's levels; each level beyond the image's halves Y and X again.
    chunks : sequence of int, optional
        Chunk shape, one size per axis of ``labels`` (default: the image's level-0 chunks in
        Y and X, 1 along T and Z).
    overwrite : bool
        Replace an earlier label image of this name.

    Returns
    -------
    pathlib.Path of the label image group.

    Raises
    ------
    DimensionError
        ``labels`` do not have the image's axes (C left out) and sizes; nothing is written.
    """
    zarr = _zarr()
    root = Path(image_path)
    try:
        image = zarr.open_group(str(root), mode="r+")
    except Exception as exc:  # zarr raises several types for non-groups
        raise InputError(f"{root} is not an OME-Zarr image to add labels to ({type(exc).__name__}: {exc}).") from exc
    _, version = _ome_attrs(image)
    if "/" in name or name.startswith(".") or not name:
        raise InputError(f"A label image name must be a plain folder name; got {name!r}.")
    da = _as_image(labels)
    if "C" in da.dims or da.dtype.kind not in "iu":
        raise InputError(f"Label images are integer arrays without a C axis; got dims {da.dims}, dtype {da.dtype}.")
    factors, shapes, image_chunks = _check_labels_fit(image, root, da)
    if levels is not None:
        levels = _check_levels(levels)
        last = factors[-1]  # levels beyond the image's halve Y and X again
        more = [{d: f * 2 ** j if d in ("Y", "X") else f for d, f in last.items()}
                for j in range(1, levels - len(factors) + 1)]
        factors = factors[:levels] + more
    if chunks is None:
        chunk_shape = tuple(min(image_chunks[d], n) if d in ("Y", "X") else c
                            for d, n, c in zip(da.dims, da.shape, _default_chunks(da)))
    else:
        chunk_shape = _check_chunks(chunks, da)
    fmt = 2 if version == "0.4" else 3
    final = root / "labels" / name
    _check_existing(final, overwrite)  # before the work, not after it
    new_holder = not (root / "labels").exists()
    holder = zarr.open_group(str(root / "labels"), mode="a", zarr_format=fmt)
    tmp = root / "labels" / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=fmt)
        label_meta: dict[str, Any] = {"source": {"image": "../../"}}
        if version == "0.4":
            label_meta = {"version": "0.4", **label_meta}
        attrs: dict[str, Any] = {"multiscales": [_multiscale(da, name, factors, version)], "image-label": label_meta}
        if da.attrs.get("labelfree"):
            attrs["labelfree"] = json.loads(json.dumps(da.attrs["labelfree"], default=str))
        _set_attrs(group, attrs, version)
        _write_arrays(group, da, factors=factors, chunks=chunk_shape, version=version, shapes=shapes)
        _check_existing(final, overwrite)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if new_holder:  # the image is left as it was: no empty labels/ group
            shutil.rmtree(root / "labels", ignore_errors=True)
        raise
    listed, _ = _ome_attrs(holder)
    names = [n for n in listed.get("labels", []) if n != name] + [name]
    _set_attrs(holder, {"labels": names}, version)
    return final


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
