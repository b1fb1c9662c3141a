"""The image data model: ``xarray.DataArray`` with dims from ``T, C, Z, Y, X``.

* dims are a subsequence of ``("T", "C", "Z", "Y", "X")`` in that order;
* every spatial/time dim has numeric coords ``origin + i * scale``; the coord's
  ``attrs`` hold ``"units"`` (e.g. ``"µm"``, ``"s"``) and ``"scale"`` (the step,
  kept even for length-1 axes);
* ``C`` coords are channel names (strings);
* ``attrs`` may hold ``"labelfree"`` (provenance), ``"source"`` (file path) and
  ``"planar_rgb"`` (True when the C axis came from the separate colour planes of a plain
  TIFF, which tifffile writes for any (3 or 4, Y, X) array unless told otherwise: the
  "colours" may be frames or z-planes).

Label images follow the same model: 0 is background, dtype uint16 (uint32
above 65535 objects), same spatial coords as the image they came from.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import os
import weakref
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from labelfree._coords import AGREE, attr_scale, coord_step, coord_values, even_step, time_stamp
from labelfree._pil import is_pil_image, pil_values
from labelfree.errors import (
    ConstantImageError,
    DimensionError,
    DTypeError,
    EmptyImageError,
    InputError,
)

__all__ = [
    "DIMS",
    "CHANNEL_LAST_MIN_SIDE",
    "looks_channel_last",
    "SUPPORTED_DTYPES",
    "to_dataarray",
    "validate_image",
    "constant_image_error",
    "scale_of",
    "units_of",
    "pixel_scales",
    "channel_names",
    "parse_channel_names",
    "labels_like",
    "value_range",
    "select_channel",
    "select_channels",
    "one_channel",
    "identical_channels",
    "merge_identical_channels",
    "channel_index",
    "channel_by_name",
    "refuse_path",
    "refuse_without_dims",
    "parse_channel",
    "parse_channels",
    "planar_rgb_hint",
]

DIMS: tuple[str, ...] = ("T", "C", "Z", "Y", "X")
SUPPORTED_DTYPES = tuple(
    np.dtype(t)
    for t in ("bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float32", "float64")
)
_DEFAULT_UNITS = {"T": "frame", "Z": "pixel", "Y": "pixel", "X": "pixel"}

log = logging.getLogger(__name__)


def _parse_dims(dims: str | Sequence[str], ndim: int) -> tuple[str, ...]:
    dims = tuple(d.upper() for d in dims)
    if len(dims) != ndim:
        raise DimensionError(
            f"dims {''.join(dims)!r} name {len(dims)} axes but the array has {ndim}. "
            "Give one letter per axis from T, C, Z, Y, X (e.g. dims='TYX')."
        )
    bad = [d for d in dims if d not in DIMS]
    if bad or len(set(dims)) != len(dims):
        raise DimensionError(
            f"dims {''.join(dims)!r} must use each of T, C, Z, Y, X at most once; got {bad or 'repeats'}."
        )
    return dims


def _coord(dim: str, n: int, scale: float, origin: float, units: str) -> xr.Variable:
    values = origin + scale * np.arange(n, dtype=np.float64)
    return xr.Variable(dim, values, attrs={"units": units, "scale": float(scale)})


def to_dataarray(
    data: Any,
    /,
    *,
    dims: str | Sequence[str] | None = None,
    scale: Mapping[str, float] | float | None = None,
    units: Mapping[str, str] | str | None = None,
    origin: Mapping[str, float] | float | None = None,
    channel_names: Sequence[str] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap an array in the LabelFree data model (or canonicalise a DataArray).

    Parameters
    ----------
    data : array_like, xarray.DataArray or PIL.Image.Image
        Pixel data. A DataArray keeps its coords; its dims are upper-cased and
        reordered to ``T, C, Z, Y, X``. Its coords are its calibration: the pixel size (frame
        interval) is their spacing, also where a ``scale`` attribute left by ``da[:, ::2, ::2]``
        or ``coarsen`` disagrees (logged); the attribute gives the step of a length-1 axis.
        Durations and time stamps (``timedelta64``, ``datetime64``) become seconds (unit ``"s"``;
        time stamps from the first one, kept as the coord's ``"start"`` attribute). A plain
        channel-last colour array (Y, X, 3) is ``dims="YXC"``. A Pillow image (``Image.open(path)``)
        is read as :func:`labelfree.io.read_image` reads its file: grey (``L``, ``I;16``, ``I``, ``F``,
        a grey palette ``P``, 1-bit as 0 / 255) is (Y, X), colour (``RGB``, ``RGBA``, a colour palette)
        has channels R, G, B (A; an alpha opaque everywhere is dropped), in pixels.
    dims : str or sequence of str, optional
        One letter per axis of a plain array, e.g. ``"TYX"``. Required for
        arrays with more than 2 axes; 2-D arrays default to ``"YX"`` (a colour Pillow image to ``"YXC"``).
        For a DataArray, not needed where each dim's name says which axis it is (any case: ``t``/``time``,
        ``c``/``channel``, ``z``, ``y``, ``x``; ``("time", "y", "x")`` is T, Y, X); else the letter of each
        dim: a dim whose name says which axis it is is matched by its name, wherever its letter
        stands in ``dims`` (``("y", "x", "c")`` with ``dims="CYX"`` is transposed to C, Y, X); the other
        dims (``("time", "row", "col")``) take the remaining letters in order. A letter that contradicts a
        dim's name (``dims="TYX"`` for ``("z", "y", "x")``) is a DimensionError: rename such a dim first.
    scale, units, origin : mapping, optional
        Pixel size / frame interval, unit and origin per dim (defaults 1, pixel, 0). One value
        instead of a mapping is that of the plane: ``units="µm"`` for Z, Y and X, ``scale=0.5``
        and ``origin`` for Y and X.
    channel_names : sequence of str, optional
        Names for the ``C`` axis (default ``"C0", "C1", ...``). An image without a C axis is
        one channel: one name names it (a scalar ``C`` coordinate, as ``isel(C=k)`` leaves).
    attrs : mapping, optional
        Extra attributes.

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    InputError
        ``channel_names`` of another length than the C axis (one name for an image without one);
        a ``scale`` that is not a positive, finite number, ``units`` that are not text;
        Z, Y or X coords that decrease or are not evenly spaced, and NaN / NaT coords.
    DimensionError
        A plain array of more than 2 axes without ``dims``; a DataArray with a dim whose name says nothing
        (``row``) without ``dims``; ``dims`` that contradict a DataArray's dim names.

    Examples
    --------
    >>> import numpy as np
    >>> da = to_dataarray(np.zeros((3, 4, 5), np.uint8), dims="TYX", scale={"X": 0.5, "Y": 0.5})
    >>> da.dims, float(da.X[1]), da.X.attrs["scale"]
    (('T', 'Y', 'X'), 0.5, 0.5)
    """
    scale = _check_scales(_per_axis(scale, "scale", ("Y", "X")))
    units = _per_axis(units, "units", ("Z", "Y", "X"))
    for dim, unit in units.items():
        if not isinstance(unit, str):
            raise InputError(f"units of {dim} must be a name such as 'µm' or 's'; got {unit!r} (a pixel size or "
                             "frame interval is scale=...).")
    origin = _per_axis(origin, "origin", ("Y", "X"))
    if isinstance(data, xr.DataArray):
        if dims is None:  # dims whose names all say which axis they are (time, y, x) need no dims=
            dims = _dims_from_names(data.dims)
        if dims is not None:  # the DataArray's dims named: by their names where known, else in order
            data = _named_dims(data, dims)
        _check_dataarray_dims(data.dims)
        da = data.rename({d: str(d).upper() for d in data.dims if str(d) != str(d).upper()})
        da = _native_byte_order(da)
        da = da.transpose(*[d for d in DIMS if d in da.dims])
        coords = {}
        disagree: list[str] = []
        for d in da.dims:
            n = da.sizes[d]
            if d == "C":
                names = channel_names or (
                    [str(v) for v in da.coords["C"].values] if "C" in da.coords else None
                )
                coords["C"] = _channel_coord(names, n)
                continue
            values = coord_values(da.coords[d]) if d in da.coords else None
            given = da.coords[d].attrs.get("units", _DEFAULT_UNITS[d]) if d in da.coords else _DEFAULT_UNITS[d]
            if values is not None and da.coords[d].dtype.kind in "mM":
                given = "s"  # time stamps and durations are read in seconds
            unit = units.get(d, given)  # a new scale or origin keeps the coords' unit
            if values is not None and d not in scale:
                step, stale = coord_step(d, values, da.coords[d])
                if stale:
                    disagree.append(stale)
                if d in origin:  # the given origin, the coords' step
                    coords[d] = _coord(d, n, step, origin[d], unit)
                    continue
                attrs_d = {"units": unit, "scale": step}
                if da.coords[d].dtype.kind == "M" and n:
                    attrs_d["start"] = time_stamp(da.indexes[d][0] if d in da.indexes else da.coords[d].values[0])
                coords[d] = xr.Variable(d, values, attrs=attrs_d)
            else:
                coords[d] = _coord(d, n, scale.get(d, 1.0), origin.get(d, 0.0), unit)
        if disagree and not _seen(_STALE_WARNED, da.data):
            log.warning("The coordinates' scale attribute disagrees with their spacing (%s): LabelFree uses the "
                        "spacing of the coordinates (after subsampling, e.g. da[:, ::2, ::2] or da.coarsen(...), "
                        "xarray keeps the old attribute).", "; ".join(disagree))
            _remember(_STALE_WARNED, da.data)
        if "C" not in da.dims and "C" in da.coords and da.coords["C"].ndim == 0 and channel_names is None:
            coords["C"] = da.coords["C"].values  # a channel picked with isel(C=k) keeps its name
        out = xr.DataArray(da.data, dims=da.dims, coords=coords, attrs={**da.attrs, **(attrs or {})}, name=da.name)
        out.name = da.name  # not the name of a dask array, which xarray gives an unnamed DataArray of one
        return _name_the_channel(out, channel_names)
    refuse_path(data)
    if is_pil_image(data):  # Image.open("cells.png"): as labelfree.io.read_image reads the file
        data, names = pil_values(data)
        dims = dims if dims is not None else ("YXC" if data.ndim == 3 else "YX")
        if channel_names is None and names and "".join(dims).upper().replace("S", "C").find("C") == 2:
            channel_names = names
        dims = "".join(dims).upper().replace("S", "C")
    if isinstance(data, np.ma.MaskedArray) and np.ma.getmask(data).any():
        raise InputError(f"The image is a masked array with {int(np.ma.getmask(data).sum())} masked pixel(s); "
                         "LabelFree does not use masks. Give the pixel values to use there: array.filled(value).")
    try:
        arr = _native_byte_order(np.asarray(data))
    except ValueError as exc:  # a list of planes of different sizes
        raise DimensionError(f"The {type(data).__name__} cannot be made into one image ({exc}): its planes must all "
                             "have one size; crop or pad them first.") from exc
    if dims is None:
        if arr.ndim == 2:
            dims = "YX"
        elif arr.ndim < 2:
            raise DimensionError(f"A {arr.ndim}-D array (shape {arr.shape}) is not an image: an image has Y and X "
                                 "axes at least.")
        else:
            raise DimensionError(_no_dims_message(arr.shape))
    dims_t = _parse_dims(dims, arr.ndim)
    if looks_channel_last(arr.shape) and dims_t[-1] in ("Y", "X"):
        log.warning("dims=%r name the last axis of the %s array %s, %d pixels wide; an array of this shape is "
                    "usually channel-last colour, as skimage.io.imread and PIL give: dims=%r.", "".join(dims_t),
                    "x".join(map(str, arr.shape)), dims_t[-1], arr.shape[-1], _channel_last_dims(arr.ndim))
    order = [dims_t.index(d) for d in DIMS if d in dims_t]
    arr = np.transpose(arr, order) if order != list(range(arr.ndim)) else arr
    dims_t = tuple(dims_t[i] for i in order)
    coords = {}
    for d, n in zip(dims_t, arr.shape):
        if d == "C":
            coords["C"] = _channel_coord(channel_names, n)
        else:
            coords[d] = _coord(d, n, scale.get(d, 1.0), origin.get(d, 0.0), units.get(d, _DEFAULT_UNITS[d]))
    return _name_the_channel(xr.DataArray(arr, dims=dims_t, coords=coords, attrs=dict(attrs or {})), channel_names)


#: names of DataArray dims that say which axis they are (any case), as xarray users name them
_DIM_NAMES = {"t": "T", "time": "T", "c": "C", "channel": "C", "channels": "C", "z": "Z", "y": "Y", "x": "X"}


def _dims_from_names(dims: Sequence[Any]) -> str | None:
    """The letters of DataArray ``dims`` whose names all say which axis they are, each another one
    (``("time", "y", "x")`` is ``"TYX"``, ``("c", "Y", "x")`` ``"CYX"``); None where one says nothing (``row``)
    or two name one axis (their message comes from :func:`_check_dataarray_dims`)."""
    letters = [_DIM_NAMES.get(str(d).lower(), "") for d in dims]
    if not letters or "" in letters or len(set(letters)) != len(letters):
        return None
    return "".join(letters)


def _named_dims(data: xr.DataArray, dims: str | Sequence[str]) -> xr.DataArray:
    """``data`` with its dims named by ``dims``: a dim whose name says which axis it is (``y``, ``time``,
    ``channel``, ...) is matched by that name, wherever ``dims`` has the letter; the others take the
    remaining letters in order. A letter that contradicts a dim's name is a DimensionError."""
    new = _parse_dims(dims, data.ndim)
    known = {old: _DIM_NAMES.get(str(old).lower()) for old in data.dims}
    own = [k for k in known.values() if k]
    twice = sorted({k for k in own if own.count(k) > 1})
    if twice:
        raise DimensionError(
            f"The DataArray's dims {tuple(str(d) for d in data.dims)} name the axis {', '.join(twice)} more than once; "
            "rename them first so that each names another axis (data.rename(...)), then give them to LabelFree.")
    given = "".join(new)
    against = [f"{str(old)!r} ({k})" for old, k in known.items() if k and k not in new]
    if against:
        first = next(str(old) for old, k in known.items() if k and k not in new)
        free = next(d for d in new if d not in own)
        raise DimensionError(
            f"dims={given!r} contradict the DataArray's dims {tuple(str(d) for d in data.dims)}: they do not name "
            f"{', '.join(against)}. LabelFree matches dims to the DataArray's dims by name (y is Y, time is T, "
            f"channel is C; others in order). Give dims that agree with its names, or rename a dim first to call "
            f"it another axis, e.g. data.rename({{{first!r}: {free!r}}}).")
    rest = iter(d for d in new if d not in own)  # letters of the dims whose names say nothing, in order
    names = {old: k or next(rest) for old, k in known.items()}
    if any(names[old] != d for old, d in zip(data.dims, new)):
        log.info("dims=%r matched to the DataArray's dims by name, not by position: %s. To give its dims other "
                 "names, rename them (data.rename(...)).", given,
                 ", ".join(f"{old} -> {d}" for old, d in names.items()))
    temporary = {old: f"_labelfree_dim{i}" for i, old in enumerate(data.dims)}  # ('row', 'Y') -> X, Y too
    return data.rename(temporary).rename({temporary[old]: d for old, d in names.items()})


def refuse_path(data: Any, /, *, what: str = "an image", hint: str = "") -> None:
    """InputError for a file path given where the image itself is wanted (``what``; ``hint`` added)."""
    if isinstance(data, (str, bytes, os.PathLike)):
        raise InputError(f"Got the path {os.fsdecode(data)!r}, not {what}: read it first with "
                         f"labelfree.io.read_image(path){hint}.")


#: a plain array whose last axis (1 to 4 long) follows two of at least this many pixels is channel-last colour
CHANNEL_LAST_MIN_SIDE = 16


def looks_channel_last(shape: Sequence[int], /, *, channels: Sequence[int] = (1, 2, 3, 4)) -> bool:
    """True for the shape of a channel-last colour image: (Y, X, C) or (T/Z, Y, X, C) with a last axis of one of
    ``channels`` lengths after two axes of at least :data:`CHANNEL_LAST_MIN_SIDE` pixels (as ``skimage.io.imread``
    and PIL give an RGB or RGBA image)."""
    return len(shape) in (3, 4) and shape[-1] in channels and min(shape[-3:-1]) >= CHANNEL_LAST_MIN_SIDE


def _channel_last_dims(ndim: int) -> str:
    return "YXC" if ndim == 3 else "TYXC"


def _no_dims_message(shape: tuple[int, ...], /, *, note: str = "") -> str:
    """What to do about an array of more than 2 axes given without dims (channel-last colour named first); ``note``
    (a caller's sentence, e.g. which pipelines take a z-stack) follows the suggested dims."""
    ndim = len(shape)
    where = (" Where a function has no dims= parameter, wrap it with labelfree.to_dataarray(array, dims=...) "
             "first.")
    if looks_channel_last(shape):
        suggest = _channel_last_dims(ndim)
        other = " (or 'ZYXC' for a z-stack)" if ndim == 4 else ""
        return (f"A {ndim}-D array needs dims=..., one letter per axis from T, C, Z, Y, X (shape {shape}). Its last "
                f"axis of {shape[-1]} looks like channel-last colour (RGB/RGBA, as skimage.io.imread and PIL give): "
                f"dims={suggest!r}{other}." + where.replace("dims=...", f"dims={suggest!r}"))
    stack = {3: "'ZYX' for a z-stack", 4: "'TZYX' for a time-lapse of z-stacks"}.get(
        ndim, "'TCZYX' for a time-lapse of z-stacks with channels")
    return (f"A {ndim}-D array needs dims=..., one letter per axis from T, C, Z, Y, X (shape {shape}; e.g. "
            f"dims='TYX' for a time-lapse, 'CYX' for channels, 'YXC' for channel-last colour, {stack})."
            + (f" {note}" if note else "") + where.replace("dims=...", "dims='TYX'"))


def refuse_without_dims(data: Any, /, *, note: str | Callable[[], str] = "") -> None:
    """The DimensionError of :func:`to_dataarray` for a plain array of more than 2 axes given without dims, with
    ``note`` after the dims it suggests: a sentence, or a function giving it (called only then), saying what the
    caller takes (a pipeline: which pipelines segment z-stacks).

    A DataArray, a Pillow image, an array of at most 2 axes and a list that is no array pass (as does a
    channel-last colour array: its message names ``dims='YXC'``, from :func:`to_dataarray`).
    """
    if isinstance(data, xr.DataArray) or is_pil_image(data) or isinstance(data, (str, bytes, os.PathLike)):
        return
    if hasattr(data, "shape"):
        shape = tuple(int(n) for n in data.shape)
    else:
        try:
            shape = tuple(int(n) for n in np.shape(data))
        except ValueError:  # planes of different sizes: to_dataarray says so
            return
    if len(shape) > 2 and not looks_channel_last(shape):
        raise DimensionError(_no_dims_message(shape, note=note() if callable(note) else note))


def short_list(names: Sequence[Any], /, *, limit: int = 8) -> str:
    """A list of names for a message: all of them when at most ``limit``, else the first few, the last
    and how many in all (``['C0', 'C1', 'C2', 'C3', 'C4', 'C5', ..., 'C255'] (256 in all)``)."""
    names = [str(n) for n in names]
    if len(names) <= limit:
        return repr(names)
    shown = ", ".join(repr(n) for n in names[: limit - 2])
    return f"[{shown}, ..., {names[-1]!r}] ({len(names)} in all)"


def number_runs(numbers: Sequence[int], /, *, first: int = 0) -> list[str]:
    """Increasing whole numbers as runs for a message, each counted from ``first``: ``[0, 1, 2, 4]`` ->
    ``['0-2', '4']`` (``first=1``: ``['1-3', '5']``)."""
    runs: list[list[int]] = []
    for k in numbers:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return [f"{a + first}" if a == b else f"{a + first}-{b + first}" for a, b in runs]


def _native_byte_order(data: Any) -> Any:
    """``data`` with its pixels in this machine's byte order (a big-endian ``'>u2'`` array is uint16)."""
    dtype = getattr(data, "dtype", None)
    if dtype is None or dtype.isnative or not hasattr(data, "astype"):
        return data
    return data.astype(dtype.newbyteorder("="))


def _check_dataarray_dims(dims: Sequence[Any]) -> None:
    """DimensionError for a DataArray whose dims are not T, C, Z, Y, X (each at most once, any case)."""
    names = [str(d).upper() for d in dims]
    if all(d in DIMS for d in names) and len(set(names)) == len(names):
        return
    raise DimensionError(
        f"The DataArray has dims {tuple(str(d) for d in dims)}; LabelFree names its axes T, C, Z, Y, X (each at "
        f"most once). Name them with labelfree.to_dataarray(data, dims=...), one letter per dim in order (e.g. "
        "dims='TYX' for ('time', 'row', 'col')), or rename them first (data.rename(row='y', col='x'))."
    )


def _check_scales(scale: Mapping[str, Any]) -> dict[str, float]:
    """The pixel sizes / frame intervals as floats; InputError for one that is not a positive, finite number."""
    for dim, value in scale.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise InputError(f"scale of {dim} must be a number (the pixel size or frame interval); got {value!r}.")
        if not (np.isfinite(float(value)) and float(value) > 0):
            raise InputError(f"scale of {dim} must be a positive, finite number (the pixel size or frame interval); "
                             f"got {value!r}. Leave the axis out of scale= for pixels (or frames) as its unit.")
    return {dim: float(value) for dim, value in scale.items()}


def usable_scales(
    scale: Mapping[str, Any], units: Mapping[str, str], /, *, source: Any
) -> tuple[dict[str, float], dict[str, str]]:
    """The pixel sizes / frame intervals a file records that can be used, with their units.

    A value that is not a positive, finite number (0, negative, NaN, inf or not a number at
    all: a file written without a calibration, or a damaged one) is dropped: that axis is
    read in pixels (frames for T), with one warning naming ``source`` and the axes.
    """
    good: dict[str, float] = {}
    out_units = dict(units)
    bad = []
    for dim, value in scale.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if np.isfinite(number) and number > 0:
            good[dim] = number
        else:
            bad.append(f"{dim} {value!r}")
            out_units.pop(dim, None)
    if bad:
        log.warning("%s records a pixel size or frame interval that is not a positive number (%s); those axes are "
                    "read in pixels (frames for T). Set the calibration (Fiji: Image > Properties) and save the "
                    "file again to measure in physical units.", source, ", ".join(bad))
    return good, out_units


def _per_axis(value: Any, name: str, spatial: tuple[str, ...]) -> dict[str, Any]:
    """``scale`` / ``units`` / ``origin`` as a mapping of axis letters (upper case). One value
    (``units="µm"``, ``scale=0.5``) is that of the image plane's axes ``spatial``, as ImageJ keeps
    one unit and one pixel width for an image."""
    if value is None:
        return {}
    if isinstance(value, (str, int, float, np.number)):
        return dict.fromkeys(spatial, value)
    if not isinstance(value, Mapping):
        raise InputError(f"{name} must be a mapping of axis letters to values, e.g. {name}={{'Y': ..., 'X': ...}}, "
                         f"or one value for the {', '.join(spatial)} axes; got {type(value).__name__}.")
    out = {str(k).upper(): v for k, v in value.items()}
    unknown = [k for k in out if k not in DIMS]
    if unknown:
        raise InputError(f"{name} names the axes {unknown}; the axes are T, C, Z, Y, X.")
    return out


def _name_the_channel(da: xr.DataArray, names: Sequence[str] | None) -> xr.DataArray:
    """An image without a C axis given ``names``: one name becomes its scalar C coordinate."""
    if names is None or "C" in da.dims:
        return da
    names = [str(x) for x in names]
    if len(names) != 1:
        raise InputError(f"{len(names)} channel names given for an image of one channel (it has no C axis, dims "
                         f"{''.join(map(str, da.dims))}); give one name, or none.")
    return da.assign_coords(C=names[0])


def _channel_coord(names: Sequence[str] | None, n: int) -> xr.Variable:
    if names is None:
        names = [f"C{i}" for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise InputError(f"{len(names)} channel names given for {n} channels; give one name per channel.")
    return xr.Variable("C", np.array(names, dtype=object))


def validate_image(
    image: Any,
    /,
    *,
    required: Iterable[str] = ("Y", "X"),
    allowed: Iterable[str] = DIMS,
    name: str = "image",
    allow_constant: bool = False,
    dims: str | Sequence[str] | None = None,
    no_dims_note: str | Callable[[], str] = "",
    non_finite: str = "refuse",
) -> xr.DataArray:
    """Check an image against the data model and return it as a DataArray.

    NaN/inf pixels of a float image are missing data (:mod:`labelfree._missing`); ``non_finite`` says what
    becomes of them: ``"refuse"`` (a :class:`NonFiniteError` naming the input, where and how to replace them),
    ``"missing"`` (kept, +/-inf made NaN in a copy: the checks below count the other pixels) or ``"fill"`` (a
    copy with each set to the median of its plane's other pixels, and one
    :class:`labelfree.errors.MissingPixelsWarning`). The input is never changed.

    ``no_dims_note`` is a sentence (or a function giving it, called only then) that the DimensionError for a
    plain array of more than 2 axes given without ``dims`` adds after the dims it suggests: what the caller
    takes (a pipeline: which pipelines segment z-stacks; :func:`refuse_without_dims`).

    Raises
    ------
    DimensionError
        Dims outside ``allowed`` or missing one of ``required``.
    DTypeError
        Pixel type other than bool, (u)int8/16/32, int64, float32/64.
    EmptyImageError
        A zero-length axis.
    NonFiniteError
        NaN or inf in a float image (``non_finite="refuse"``), or in every pixel.
    ConstantImageError
        Every pixel equal (unless ``allow_constant``); with NaN/inf, every other pixel.
    InputError
        A float64 image whose values do not fit 32-bit floats (overflow to inf), or whose
        distinct values become one value in them (unless ``allow_constant``).
    """
    if not isinstance(image, xr.DataArray) and not is_pil_image(image):
        if not hasattr(image, "shape") and not isinstance(image, (list, tuple)):
            path = " (a file: read it first with labelfree.io.read_image(path))" \
                if isinstance(image, (str, os.PathLike)) else ""
            raise InputError(
                f"{name} must be a numpy array, xarray.DataArray or PIL image; got {type(image).__name__}{path}."
            )
    if dims is None and no_dims_note:
        refuse_without_dims(image, note=no_dims_note)
    da = to_dataarray(image, dims=dims)
    required = tuple(required)
    allowed = tuple(allowed)
    missing = [d for d in required if d not in da.dims]
    extra = [d for d in da.dims if d not in allowed]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise DimensionError(
            f"{name} has dims {''.join(da.dims)} (shape {tuple(da.shape)}): {'; '.join(parts)}. "
            f"Expected dims containing {''.join(required)} drawn from {''.join(allowed)}."
            + _extra_dims_hint(extra, allowed, da.dims)
        )
    if np.dtype(da.dtype) == np.float16:  # every float16 value is a float32 value: the same image, exactly
        da = da.astype(np.float32)
    if np.dtype(da.dtype) not in SUPPORTED_DTYPES:
        kinds = ", ".join(str(t) for t in SUPPORTED_DTYPES)
        hint = (" (values below 2**32: image.astype(numpy.uint32); else scale them, e.g. to float64)"
                if np.dtype(da.dtype) == np.uint64 else " (RGB images: split channels or convert to grey)")
        raise DTypeError(
            f"{name} has pixel type {da.dtype}, which LabelFree cannot process. Convert it to one of {kinds} "
            f"first{hint}."
        )
    if da.size == 0:
        raise EmptyImageError(f"{name} is empty (shape {tuple(da.shape)}); give an image with pixels.")
    if non_finite not in ("refuse", "missing", "fill"):
        raise InputError(f"non_finite must be 'refuse', 'missing' or 'fill'; got {non_finite!r}.")
    if _is_dask(da.data):  # a lazy (dask, zarr) image: checked chunk by chunk, never read whole
        n_bad, lo, hi = _lazy_checks(da.data)
    else:
        values = np.asarray(da.data)
        n_bad = 0
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            n_bad = int((~np.isfinite(values)).sum())
        lo, hi = (values.min(), values.max()) if not n_bad else (None, None)
    if n_bad:
        da, lo, hi = _missing_pixels(da, name, non_finite, allow_constant)
    if not allow_constant and lo == hi:
        first = da.data[(0,) * da.ndim]
        first = np.asarray(first.compute() if _is_dask(first) else first)[()]
        raise constant_image_error(first, name=name)
    if np.dtype(da.dtype) == np.float64 and lo is not None:  # None: no finite value (NaN/inf, allow_constant)
        _check_fits_float32(float(lo), float(hi), name, allow_constant=allow_constant)
    return da


def _missing_pixels(da: xr.DataArray, name: str, non_finite: str, allow_constant: bool, /) -> tuple[Any, Any, Any]:
    """:func:`validate_image` of an image with NaN/inf pixels: refused, kept or filled (``non_finite``), and its
    finite range (None, None where it holds no finite value and ``allow_constant`` lets it pass)."""
    from labelfree._missing import fill_missing, find_missing, missing_as_nan, missing_refused, refuse_no_value

    found = find_missing(da)
    if non_finite == "refuse":
        raise missing_refused(da, found, name=name)
    if not allow_constant:
        refuse_no_value(da, found, name=name)
    log.info("%s: %d NaN/inf pixel(s)%s read as missing data", name, found.total, found.where())
    if non_finite == "fill":
        what = name[:-len(" input")] if name.endswith(" input") else ""  # "Cutter input": for Cutter
        da = fill_missing(da, found, name=name, what=what)
    else:
        da = missing_as_nan(da, found)
    if not np.isfinite(found.low):
        return da, None, None
    return da, da.dtype.type(found.low), da.dtype.type(found.high)


def constant_image_error(value: Any, /, *, name: str = "image") -> ConstantImageError:
    """The error for an image of one ``value`` in every pixel (:func:`validate_image`'s, and a tiled run's, which
    checks the whole image before cutting it)."""
    return ConstantImageError(f"{name} is constant (every pixel is {value!s}); there is nothing to segment. "
                              "Check that the right file or channel was given.")


def _is_dask(data: Any, /) -> bool:
    """Whether ``data`` is a dask array (a lazy image, e.g. from an OME-Zarr store), which is computed as it is read."""
    return hasattr(data, "dask") and hasattr(data, "compute")


def _lazy_checks(data: Any, /) -> tuple[int, Any, Any]:
    """The number of NaN/inf pixels (0 unless float), the minimum and the maximum of a dask array, in one
    pass over its chunks, one chunk at a time (min/max are NaN where NaNs are). The pass runs in the calling
    thread (dask's synchronous scheduler): a check starts no thread pool of its own in whatever thread calls
    it (a batch worker, a Fiji command's thread), and holds one chunk, not one per core."""
    import dask

    bad = (~dask.array.isfinite(data)).sum() if data.dtype.kind == "f" else 0
    n_bad, lo, hi = dask.compute(bad, data.min(), data.max(), scheduler="synchronous")
    return int(n_bad), np.asarray(lo)[()], np.asarray(hi)[()]


def _check_fits_float32(lo: float, hi: float, name: str, /, *, allow_constant: bool) -> None:
    """Refuse float64 values (from ``lo`` to ``hi``) that 32-bit floats, in which the pipelines compute,
    turn into inf (overflow) or into one value (underflow, or a range below their precision)."""
    top = float(np.finfo(np.float32).max)
    if max(abs(lo), abs(hi)) > top:
        raise InputError(
            f"{name} holds 64-bit float values from {lo:.3g} to {hi:.3g}, beyond the range of the 32-bit floats "
            f"LabelFree computes in (up to {top:.3g}): they would become infinite. Rescale it first, e.g. divide "
            "it by its maximum."
        )
    if not allow_constant and lo != hi and np.float32(lo) == np.float32(hi):
        raise InputError(
            f"{name}'s values ({lo:.3g} to {hi:.3g}) cannot be told apart in the 32-bit floats LabelFree computes "
            "in: every pixel would get the same value. Rescale it first, e.g. divide it by its maximum."
        )


def _extra_dims_hint(extra: Sequence[str], allowed: Sequence[str], dims: Sequence[str]) -> str:
    """What to do about an axis a function does not take (a sentence, or empty). Reading the Z planes
    as time points is offered only to an image without a T axis (a time-lapse of z-stacks has both)."""
    if "Z" in extra:
        time = ""
        if "T" in allowed and "T" not in dims:
            time = (" If the planes are really time points, read the file with --dims TYX (Python: dims='TYX')."
                    if tuple(dims) == ("Z", "Y", "X") else
                    " If the planes are really time points, read the file with --dims, naming that axis T instead of "
                    "Z (Fiji: Image > Properties, Frames instead of Slices).")
        channels = ""
        if "C" in allowed and "C" not in dims:
            channels = (" If the planes are channels (e.g. cells and nuclei stored as planes of one file), read the "
                        "file with --dims " + "".join("C" if d == "Z" else d for d in dims) + " (Python: dims='"
                        + "".join("C" if d == "Z" else d for d in dims) + "'; Fiji: Image > Properties, Channels "
                        "instead of Slices).")
        return (" Segment one plane or a projection: pick a plane (Python: image.isel(Z=k)) or make a projection "
                "(Python: image.max('Z'); Fiji: Image > Stacks > Z Project..., or Image > Duplicate... with one "
                "slice) and save it as TIFF first." + time + channels)
    if "C" in extra:
        return " Select one channel first (labelfree.image.select_channel; CLI --channel)."
    return ""


def scale_of(da: xr.DataArray, dim: str) -> float:
    """Pixel size (or frame interval) along ``dim``; 1.0 when unknown.

    The coordinates are the calibration: the spacing of evenly spaced numeric coordinates wins over a
    ``scale`` attribute that disagrees with it (``da[:, ::2, ::2]`` keeps the attribute of ``da``);
    the attribute gives the step of a length-1 axis. Durations and time stamps count in seconds.

    >>> da = to_dataarray(np.zeros((4, 6)), scale=0.5)
    >>> scale_of(da, "X"), scale_of(da[:, ::2], "X"), da[:, ::2].X.attrs["scale"]
    (0.5, 1.0, 0.5)
    """
    if dim not in da.dims:
        return 1.0
    c = da.coords.get(dim)
    if c is None:
        return 1.0
    attr = c.attrs.get("scale")
    values = coord_values(c) if c.size > 1 else None
    step = even_step(values) if values is not None else None
    if step is not None and (attr is None or attr_scale(c) is None or abs(attr_scale(c) - step) > AGREE * step):
        return step
    if attr is not None:
        return float(attr)
    if values is not None:
        return float(values[1] - values[0])
    return 1.0


def units_of(da: xr.DataArray, dim: str) -> str:
    """Unit of ``dim`` (``"pixel"`` / ``"frame"`` when unknown; ``"s"`` for durations and time stamps)."""
    c = da.coords.get(dim)
    if c is None:
        return _DEFAULT_UNITS.get(dim, "")
    default = "s" if c.dtype.kind in "mM" else _DEFAULT_UNITS.get(dim, "")
    return str(c.attrs.get("units", default))


def pixel_scales(da: xr.DataArray) -> dict[str, float]:
    """Scale of every non-channel dim of ``da``."""
    return {d: scale_of(da, d) for d in da.dims if d != "C"}


def channel_names(da: xr.DataArray) -> list[str]:
    """Channel names of ``da`` (empty list without a C axis)."""
    if "C" not in da.dims:
        return []
    return [str(v) for v in da.coords["C"].values]


def parse_channel(value: Any, /) -> int | str:
    """A channel as a user writes it: ``"2"`` or ``2`` is the index 2, anything else a name.

    Raises
    ------
    InputError
        An empty value, a float or a boolean.
    """
    if isinstance(value, bool) or isinstance(value, float) or value is None:
        raise InputError(f"A channel is a 0-based index or a channel name; got {value!r}.")
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value).strip()
    if not text:
        raise InputError("A channel is a 0-based index or a channel name; got an empty text.")
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def series_index(value: Any, /) -> int | None:
    """The index an image series is chosen by (``read_image(path, series=N)``): ``value`` when it is a whole
    number (an int or a NumPy integer, not a bool or a float), else None; the caller says what it holds.

    >>> series_index(2), series_index(np.int64(0)), series_index(True), series_index(1.0), series_index("1")
    (2, 0, None, None, None)
    """
    import operator

    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def parse_channels(value: Any, /) -> tuple[int | str, ...] | None:
    """Several channels: ``"0,2"``, ``"GFP;DAPI"``, ``[0, "DAPI"]``; None or empty text -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (str, int, np.integer)):
        parts = [p for p in str(value).replace(";", ",").replace("|", ",").split(",") if p.strip()]
        return tuple(parse_channel(p) for p in parts)
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        return tuple(parse_channel(v) for v in value)
    raise InputError(f"Channels are indices or names like '0,2' or ['GFP', 'DAPI']; got {value!r}.")


def parse_channel_names(value: Any, /) -> tuple[str, ...] | None:
    """Names for an image's channels, in order: ``"DAPI,GFP"``, ``"DAPI;GFP"`` or a list; None or empty -> None.

    Raises
    ------
    InputError
        An empty or repeated name.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        names = [n.strip() for n in value.replace(";", ",").split(",")]
    elif isinstance(value, (list, tuple)):
        names = [str(v).strip() for v in value]
    else:
        raise InputError(f"Channel names are one name per channel, like 'DAPI,GFP' or ['DAPI', 'GFP']; got {value!r}.")
    if not names or not all(names) or len(set(names)) != len(names):
        raise InputError(f"Channel names are one different, non-empty name per channel, in order, like 'DAPI,GFP'; "
                         f"got {value!r}.")
    return tuple(names)


def _named_channels(da: xr.DataArray) -> list[str]:
    """:func:`channel_names`, or the name of an image without a C axis given one (its scalar C coordinate)."""
    if "C" not in da.dims and "C" in da.coords and da.coords["C"].ndim == 0:
        return [str(da.coords["C"].values)]
    return channel_names(da)


def channel_index(da: xr.DataArray, channel: int | str, /) -> int:
    """The 0-based index of ``channel`` (an index or a name) in ``da``'s C axis, with a clear error.

    A name is matched exactly first, else ignoring case when one channel matches that way (``gfp``
    picks ``GFP``); the error for an unknown name suggests a close one.

    An image without a C axis whose one channel has a name (:func:`to_dataarray`) has channel 0 of that name.
    """
    names = _named_channels(da)
    if not names:
        raise DimensionError(
            f"Channel {channel!r} was asked for, but the image has one channel only (no C axis); "
            "leave the channel option out."
        )
    channel = parse_channel(channel)
    if isinstance(channel, str):
        return channel_by_name(names, channel)
    if not -len(names) <= channel < len(names):
        raise InputError(
            f"Channel index {channel} is out of range; the image has {len(names)} channel(s) {short_list(names)} "
            f"(indices 0 to {len(names) - 1})."
        )
    return channel % len(names)


def channel_by_name(names: Sequence[str], channel: str, /) -> int:
    """The index of the channel named ``channel``: the exact name first, else the one name equal to it
    ignoring case (``gfp`` for ``GFP``); an InputError that names a near miss otherwise."""
    if channel in names:
        return names.index(channel)
    folded = [k for k, name in enumerate(names) if name.casefold() == channel.casefold()]
    if len(folded) == 1:
        return folded[0]
    if folded:
        raise InputError(f"Channel {channel!r} not found; channels {[names[k] for k in folded]} differ from it only "
                         "in upper and lower case: give the name exactly as written.")
    import difflib

    near = difflib.get_close_matches(channel.casefold(), [name.casefold() for name in names], n=1, cutoff=0.6)
    hint = f" Did you mean {names[[n.casefold() for n in names].index(near[0])]!r}?" if near else ""
    raise InputError(f"Channel {channel!r} not found; the image has channels {short_list(names)} (names or 0-based "
                     "indices)." + hint)


def select_channel(da: xr.DataArray, channel: int | str, /) -> xr.DataArray:
    """Select one channel by index or name, with a clear error when absent.

    Without a C axis, channel 0 (or the name of its one channel) is the image itself.
    """
    if "C" not in da.dims:
        if channel not in (0, "0", None):
            channel_index(da, channel)  # raises unless it names the image's one channel
        return da
    return da.isel(C=channel_index(da, channel))


def select_channels(da: xr.DataArray, channels: Any, /) -> xr.DataArray:
    """Keep the listed channels (indices or names, see :func:`parse_channels`), in that order.

    ``None`` keeps every channel. Without a C axis only channel 0 (or its name) may be asked for.
    """
    wanted = parse_channels(channels)
    if wanted is None:
        return da
    if "C" not in da.dims and wanted in ((0,), ("0",)):
        return da
    index = [channel_index(da, c) for c in wanted]  # without a C axis: raises unless it names the one channel
    twice = sorted({k for k in index if index.count(k) > 1})
    if twice:
        names = _named_channels(da)
        raise InputError(f"Channel {', '.join(names[k] for k in twice)} is chosen more than once ({list(wanted)}); "
                         "list each channel once.")
    return da.isel(C=index) if "C" in da.dims else da


def one_channel(da: xr.DataArray, channel: Any = None, /, *, what: str = "This pipeline") -> xr.DataArray:
    """The single channel a one-channel pipeline segments.

    ``channel`` (index or name) picks it; without one, an image with one channel is
    used as it is, an image whose channels are all identical (a grey image saved as RGB)
    as that grey image (:func:`merge_identical_channels`), and an image with several
    different channels raises a DimensionError asking for a choice (and, for the RGB
    planes of a plain TIFF, saying how to read them as frames instead).
    """
    if channel is not None and channel != "":
        if da.attrs.get("planar_rgb") and "C" in da.dims and not _seen(_PLANAR_WARNED, da.data):
            log.warning("%s: using one colour plane of an RGB file.%s", what, planar_rgb_hint(da))
            _remember(_PLANAR_WARNED, da.data)
        return select_channel(da, parse_channel(channel))
    if "C" not in da.dims:
        return da
    if da.sizes["C"] == 1:
        return da.isel(C=0)
    grey = merge_identical_channels(da)
    if "C" not in grey.dims:
        return grey
    raise DimensionError(
        f"{what} segments one channel, but the image has {da.sizes['C']}: {short_list(channel_names(da))}. "
        "Choose one: channel=<index or name> (CLI --channel, Fiji: the channel field, batch: a manifest 'channels' "
        "column)."
        + planar_rgb_hint(da)
    )


def planar_rgb_hint(da: xr.DataArray) -> str:
    """For an image whose channels are a plain TIFF's RGB planes: how to read them as frames instead."""
    if not da.attrs.get("planar_rgb") or "C" not in da.dims:
        return ""
    n = da.sizes["C"]
    return (
        f" If the file's {n} planes are not colours but time points (tifffile writes any ({n}, Y, X) array as RGB "
        f"planes unless told otherwise), read it as a time-lapse: CLI --dims TYX, Python read_image(path, "
        f"dims='TYX'), or in Fiji set Image > Properties (Channels 1, Slices 1, Frames {n}) and save it as TIFF; "
        "for z-planes use ZYX."
    )


def identical_channels(values: Any, /, *, axis: int = 0) -> bool:
    """True when an image has two or more channels along ``axis`` and all hold the same pixels.

    Such an image is a grey image saved as colour (an RGB export of a grey image). A
    coarse grid of pixels is compared first, so images whose channels differ return at
    once; dask arrays are compared chunk by chunk.
    """
    n = values.shape[axis] if values.ndim > axis else 0
    if n < 2:
        return False

    def plane(k: int, step: int = 1) -> Any:
        index = (slice(None),) * axis + (k,)
        sub = values[index]
        return sub[(Ellipsis, slice(None, None, step), slice(None, None, step))] if sub.ndim >= 2 else sub

    for step in (16, 1):
        first = plane(0, step)
        for k in range(1, n):
            other = plane(k, step)
            if hasattr(first, "compute"):  # dask
                if bool((first != other).any().compute()):
                    return False
            elif not np.array_equal(np.asarray(first), np.asarray(other)):
                return False
    return True


def merge_identical_channels(image: Any, /) -> xr.DataArray:
    """The image with its C axis dropped when every channel holds the same pixels; else unchanged.

    A grey image saved as colour (three identical R, G, B channels) is one channel: the
    pipelines that pick or guess a channel take it as the grey image (logged once).
    """
    da = to_dataarray(image)
    if "C" not in da.dims:
        return da
    if not _seen(_GREY, da.data):  # an image seen before is neither compared nor logged again
        if not identical_channels(da.data, axis=da.dims.index("C")):
            return da
        log.warning("The image's %d channels %s are identical (a grey image saved as colour); they are used as one "
                    "grey channel.", da.sizes["C"], short_list(channel_names(da)))
        _remember(_GREY, da.data)
    return da.isel(C=0)


#: pixel arrays (by id, while they live) found to hold identical channels, and those warned about
#: as RGB planes: each entry point prepares its image more than once, the log says it once
_GREY: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_PLANAR_WARNED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_STALE_WARNED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def _seen(store: weakref.WeakValueDictionary[int, Any], data: Any) -> bool:
    return store.get(id(data)) is data


def _remember(store: weakref.WeakValueDictionary[int, Any], data: Any) -> None:
    with contextlib.suppress(TypeError):  # arrays that cannot be weakly referenced are not remembered
        store[id(data)] = data


def value_range(values: np.ndarray, /) -> tuple[Any, Any]:
    """The smallest and the largest value of ``values`` (not empty; Python numbers), read one plane at a time
    along the first axis of an array of 3 or more axes.

    Plane by plane, a label movie mapped from a file (a merged movie's scratch file,
    :func:`labelfree.frame_chunks.merged_array`) has a plane's pages in memory at a time, where a whole-array
    ``min()`` makes every page resident at once (a Dask worker counts them against its memory limit).

    Examples
    --------
    >>> value_range(np.arange(24).reshape(2, 3, 4))
    (0, 23)
    """
    if values.ndim < 3 or values.shape[0] == 1:
        return values.min().item(), values.max().item()
    lows, highs = zip(*(value_range(plane) for plane in values))
    return min(lows), max(highs)


def labels_like(
    labels: np.ndarray,
    like: xr.DataArray,
    /,
    *,
    dims: Sequence[str] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a label array with the spatial/time coords of the image it came from.

    ``labels`` holds non-negative integers (0 = background); ``dims`` names its axes, by default ``like``'s dims
    without ``C``; ``attrs`` become the result's attrs (none by default: ``like``'s are not copied). The dtype
    becomes uint16, or uint32 when the largest label exceeds 65535. A DimensionError for axes or sizes that do
    not match ``like``; a DTypeError for floats, negative values or a label above 2**32 - 1.
    """
    dims = tuple(dims) if dims is not None else tuple(d for d in like.dims if d != "C")
    labels = np.asarray(labels)
    if labels.ndim != len(dims):
        raise DimensionError(f"labels have {labels.ndim} axes but dims {''.join(dims)} name {len(dims)}.")
    for d, n in zip(dims, labels.shape):
        if d in like.dims and like.sizes[d] != n:
            raise DimensionError(f"labels have {n} pixels along {d} but the image has {like.sizes[d]}.")
    low, top = value_range(labels) if labels.size else (0, 0)
    if labels.dtype.kind == "f" or low < 0:
        raise DTypeError("labels must be non-negative integers (0 = background).")
    top = int(top)
    if top > np.iinfo(np.uint32).max:
        raise DTypeError(f"The largest label id, {top}, does not fit the 32-bit label images of LabelFree; number "
                         "the objects 1..N first (labelfree.labels.relabel_sequential).")
    dtype = np.uint16 if top <= 65535 else np.uint32
    coords = {d: like.coords[d] for d in dims if d in like.coords}
    return xr.DataArray(labels.astype(dtype, copy=False), dims=dims, coords=coords, attrs=dict(attrs or {}),
                        name="labels")
