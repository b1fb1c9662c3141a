"""Reading OME-Zarr images: :func:`read_ngff` (one level of a multiscale image, lazily, with its calibration),
the image series of a bioformats2raw container, and dask arrays whose damaged chunks name their file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree.errors import (
    CorruptFileError,
    DimensionError,
    InputError,
    LabelFreeError,
)
from labelfree.io.ngff.metadata import (
    _FROM_NGFF_UNIT,
    _dims_of,
    _is_zarr_array,
    _level_of,
    _listing,
    _names,
    _ome_attrs,
    _series_of,
    _transforms,
    _zarr,
)

__all__ = ["read_ngff", "checked_dask_array"]


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


def _hcs_group(group: Any, ome: dict[str, Any], p: Path) -> tuple[str, str, Path] | None:
    """For an HCS plate or well (NGFF ``plate`` / ``well`` metadata): ``"plate"`` or ``"well"``, what it holds
    (``an HCS plate of 2 well(s) (A/1, A/2)``) and a field to give instead (``plate.zarr/A/1/0``); else None."""
    if isinstance(ome.get("plate"), dict):
        wells = _names(ome["plate"].get("wells"), "path")
        if not wells:
            return "plate", "an HCS plate that lists no wells", p / "<row>" / "<column>" / "<field>"
        try:
            fields = _names((_ome_attrs(group[wells[0]])[0].get("well") or {}).get("images"), "path")
        except Exception:  # noqa: BLE001 - an unreadable well: the message names the well only
            fields = []
        example = p / wells[0] / fields[0] if fields else p / wells[0] / "<field>"
        return "plate", f"an HCS plate of {len(wells)} well(s) ({_listing(wells)})", example
    if isinstance(ome.get("well"), dict):
        fields = _names(ome["well"].get("images"), "path")
        example = p / fields[0] if fields else p / "<field>"
        return "well", f"a well of an HCS plate with {len(fields)} field(s) ({_listing(fields)})", example
    return None


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
    hcs = _hcs_group(group, ome, p)
    if hcs is not None:
        kind, what, example = hcs
        raise InputError(f"{p} is {what}; LabelFree reads one image at a time: give one field, e.g. {example}. "
                         f"To segment every field, give the {kind} to labelfree batch (each field is an input).")
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
        hcs = _hcs_group(group, ome, p)
        if hcs is not None:  # series does not choose a field: no index is accepted
            kind, what, example = hcs
            raise InputError(f"series={series!r} chooses an image series of a bioformats2raw container, but {p} is "
                             f"{what}: series does not choose among its fields. Give one field's folder without "
                             f"series, e.g. {example}; or give the {kind} to labelfree batch, which segments every "
                             "field (each is an input).")
        if not ome.get("multiscales"):
            raise InputError(f"series={series!r} chooses an image series of a bioformats2raw container, but {p} is "
                             "neither one nor an OME-Zarr image (it has no 'multiscales' metadata); give the folder of "
                             "the image you want.")
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
        its ``OME/`` group lists them (``attrs["series"]`` records it); any other image is one
        image, series 0 (as a TIFF of one image), and another ``series`` is an :class:`InputError` there.
        An HCS plate or well takes no ``series`` (an :class:`InputError` naming a field's folder to give;
        ``labelfree batch`` makes each field of a plate an input).

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
            raise InputError(
                f"{p} has no NGFF 'multiscales' metadata: it is a Zarr store without OME-Zarr metadata, so the "
                "axes and pixel size of its arrays are unknown, and LabelFree reads OME-Zarr images only. Convert "
                "the original file with bioformats2raw (bioformats2raw <file> <out>.zarr), or write the image as "
                "OME-Zarr (Python: ome-zarr-py, ome_zarr.writer.write_image; Fiji: File > Save As > "
                "HDF5/N5/Zarr/OME-NGFF..., format OME-NGFF); or give the image as a TIFF.")
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
