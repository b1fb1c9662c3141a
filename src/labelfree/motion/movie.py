"""The time-lapse Motion takes: checked and wrapped as a TYX DataArray."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from labelfree._missing import fill_missing, find_missing, refuse_no_value
from labelfree.errors import ConstantImageError, DimensionError, DTypeError, EmptyImageError, NonFiniteError
from labelfree.image import CHANNEL_LAST_MIN_SIDE, SUPPORTED_DTYPES, looks_channel_last, refuse_path, to_dataarray

__all__ = ["as_movie", "check_not_uniform"]


def as_movie(movie: Any, /) -> xr.DataArray:
    """Check a time-lapse for Motion and return it as a TYX DataArray (data not copied).

    Accepts a TYX (or TCYX / TZYX with one channel / plane) DataArray, a 3-D
    array taken as TYX (numpy or memory-mapped), or a list of equal-size 2-D frames.
    A plain array with colour channels last is refused: a (Y, X, 3|4) image, whose frames
    read as TYX would be 3 or 4 pixels wide, and a (T, Y, X, C) time-lapse with C <= 4
    (the error says how to give one channel).

    NaN/inf pixels of a float movie (a ratio movie's background, a registered movie's corners) are
    missing data: the movie returned is a copy (a lazy one stays lazy; a memory-mapped one is read
    into memory) with each set to the median of its frame's other pixels, the background level of
    most movies (:func:`labelfree._missing.fill_missing`: NaN corners of a real MSC movie gave labels
    of foreground IoU 0.92 with those of the movie without them, 0.61 filled with the frame's lowest
    value); a frame without one gets the other frames' median. One
    :class:`labelfree.errors.MissingPixelsWarning` says how many and in which frames. The movie
    given is not changed.

    Raises
    ------
    DimensionError
        One frame, a Z-stack without T, several channels, frames of different sizes, a plain
        array with colour channels last.
    EmptyImageError
        Frames of no pixels (a Y or X of length 0).
    DTypeError
        A pixel type other than (u)int8/16/32 or float.
    InputError
        A file path instead of the movie.
    NonFiniteError
        Every pixel is NaN/inf.
    ConstantImageError
        A float movie with NaN/inf pixels whose other pixels all hold one value. A uniform movie
        without NaN/inf is returned as it is: :func:`segment` refuses it (the same error).
    """
    refuse_path(movie, what="a movie", hint=" (or run `labelfree motion PATH -o OUT`)")
    if isinstance(movie, (list, tuple)):
        shapes = {np.shape(f) for f in movie}
        if len(shapes) > 1:
            raise DimensionError(f"Frames of the time-lapse have different sizes {sorted(shapes)}; "
                                 "crop or pad them to one size first.")
        if not movie or len(next(iter(shapes))) != 2:
            shape = next(iter(shapes), ())
            colour = (" For colour frames (Y, X, C) give one channel of each: [frame[..., k] for frame in frames]."
                      if len(shape) == 3 and shape[-1] in (3, 4) else "")
            raise DimensionError(f"A list input must hold 2-D (Y, X) frames; got frames of shape {shape}.{colour}")
        movie = np.stack([np.asarray(f) for f in movie])
    if isinstance(movie, xr.DataArray):
        da = to_dataarray(movie)
    else:
        arr = movie if hasattr(movie, "shape") and hasattr(movie, "dtype") else np.asarray(movie)
        if arr.ndim == 2:
            raise DimensionError("Motion needs a time-lapse (T, Y, X) with at least 2 frames; got one 2-D frame.")
        _refuse_channel_last(tuple(arr.shape))
        if arr.ndim != 3:
            raise DimensionError(f"Motion needs a (T, Y, X) array; got shape {tuple(arr.shape)}. Wrap other layouts in "
                                 "a DataArray with dims, e.g. labelfree.to_dataarray(movie, dims='TZYX') for a "
                                 "time-lapse of z-stacks, then pick or project the planes.")
        da = to_dataarray(arr, dims="TYX")
    if "T" not in da.dims:
        if "Z" in da.dims:
            raise DimensionError("Motion needs a time-lapse: got a Z-stack" + _z_as_time_hint(da))
        planes = ("" if not da.attrs.get("planar_rgb") else
                  " The file's colour planes were read as channels: if they are time points, read it with "
                  "dims='TYX' (CLI --dims TYX) instead of choosing one.")
        raise DimensionError("Motion needs a time-lapse (T, Y, X) with at least 2 frames; got one frame." + planes)
    for dim in ("C", "Z"):
        if dim in da.dims:
            if da.sizes[dim] != 1:
                what = ("channels: select one (CLI --channel; Python labelfree.image.select_channel)" if dim == "C"
                        else "Z planes: project them or pick one first (Fiji: Image > Stacks > Z Project..., all "
                        "time frames, or Image > Duplicate... with one slice; Python: image.max('Z') or "
                        "image.isel(Z=k) on the DataArray of labelfree.io.read_image), then segment that movie")
                raise DimensionError(f"Motion segments one 2-D time-lapse; the movie has {da.sizes[dim]} {what}.")
            da = da.isel({dim: 0})
    if da.sizes["T"] < 2:
        raise DimensionError(f"Motion needs at least 2 frames to measure motion; got {da.sizes['T']}.")
    if da.sizes["Y"] == 0 or da.sizes["X"] == 0:
        raise EmptyImageError(f"The frames of the movie are empty (shape {tuple(da.shape)}); give frames with pixels.")
    if da.sizes["Y"] * da.sizes["X"] < 2:
        raise DimensionError(f"The frames of the movie hold one pixel (shape {tuple(da.shape)}): there is no motion "
                             "to measure in them. Give frames of at least a few pixels.")
    if np.dtype(da.dtype) == np.float16:  # every float16 value is a float32 value: the same movie, exactly
        da = da.astype(np.float32)
    if np.dtype(da.dtype) not in SUPPORTED_DTYPES or da.dtype == bool:
        raise DTypeError(f"Motion cannot read pixel type {da.dtype}; convert the movie to uint8, uint16 or float32.")
    found = find_missing(da)  # float movies: read once, a frame at a time (a lazy one chunk by chunk)
    if found is not None:
        refuse_no_value(da, found, name="The movie")
        da = fill_missing(da, found, name="The movie", what="Motion")
    return da


def _refuse_channel_last(shape: tuple[int, ...]) -> None:
    """DimensionError for a plain colour image (Y, X, C) or colour time-lapse (T, Y, X, C) given to Motion,
    which would otherwise read Y as time and take frames 3 or 4 pixels wide."""
    if len(shape) == 3 and shape[-1] in (3, 4) and shape[-2] >= CHANNEL_LAST_MIN_SIDE:  # whatever the frame count
        raise DimensionError(
            f"Motion got an array of shape {shape}: read as (T, Y, X) its frames would be {shape[-1]} pixels wide, "
            "so it looks like one colour image (Y, X, C), as skimage.io.imread and PIL give them. Motion needs a "
            "time-lapse: give a (T, Y, X) movie of grey frames (or a list of 2-D frames); for one channel of a "
            "colour movie (T, Y, X, C) give movie[..., k]. A movie whose frames really are that narrow: "
            "labelfree.to_dataarray(movie, dims='TYX')."
        )
    if len(shape) == 4 and looks_channel_last(shape):
        what = "one channel" if shape[-1] == 1 else f"{shape[-1]} colour channels"
        raise DimensionError(
            f"Motion segments a grey (T, Y, X) time-lapse; the array of shape {shape} looks like a time-lapse with "
            f"{what} last (T, Y, X, C). Give one channel: movie[..., k] (k from 0 to {shape[-1] - 1}), or "
            "labelfree.image.select_channel(labelfree.to_dataarray(movie, dims='TYXC'), k)."
        )


def _z_as_time_hint(da: xr.DataArray) -> str:
    """How to read the Z planes of a movie without T as time points. The three letters TYX fit a plain
    (Z, Y, X) image only: a hyperstack with channels (a C axis, or the scalar C coordinate a channel chosen
    from it leaves) has more axes, so it is told to rename the axis (the rule of image._extra_dims_hint)."""
    dims = tuple(str(d) for d in da.dims)
    if "C" not in dims and "C" in da.coords and da.coords["C"].ndim == 0:
        dims = ("C", *dims)
    if dims == ("Z", "Y", "X"):
        return ("; if Z is really time, read it with dims='TYX' (CLI --dims TYX; Fiji: Image > Properties, "
                "Frames instead of Slices).")
    return (f" of axes {''.join(dims)}; if the planes are really time points, read the file with --dims, naming that "
            "axis T instead of Z (Python: read_image(path, dims=...); Fiji: Image > Properties, Frames instead of "
            "Slices).")


def _frame(da: xr.DataArray, t: int) -> np.ndarray:
    """Frame ``t`` of a movie as NumPy; NaN/inf refused (a movie from :func:`as_movie` has them filled)."""
    f = np.asarray(da.data[t])
    if f.dtype.kind == "f" and not np.isfinite(f).all():
        raise NonFiniteError(f"The movie's frame {t} (0-based) contains NaN/inf pixels; "
                             "replace them (numpy.nan_to_num) first.")
    return f


def check_not_uniform(da: xr.DataArray, /) -> None:
    """Refuse a movie whose every frame is one value: it holds no cell to segment.

    Frames are read in order until one holds two values, so a movie with content costs one
    frame read (memory-mapped and lazy movies stay unread beyond it).

    Raises
    ------
    ConstantImageError
        Every frame is uniform (the same value everywhere, or a value of its own per frame).
    """
    values = set()
    for t in range(da.sizes["T"]):
        f = _frame(da, t)
        lo, hi = f.min(), f.max()
        if lo != hi:
            return
        values.add(lo.item())
    what = (f"every pixel of every frame is {values.pop()!s}" if len(values) == 1
            else f"each frame is one value, {len(values)} values in all")
    raise ConstantImageError(f"The movie is uniform ({what}); there is nothing to segment. Check that the right "
                             "file or channel was given.")
