"""Missing pixels: NaN and +/-inf in a float image, read as missing data (ImageJ's "no data" in 32-bit images).

A ratio image keeps NaN where its denominator was zero (and +/-inf where only the denominator was), a masked
export keeps NaN outside its mask, a registered movie NaN in the corners it shifted in. LabelFree reads all of them
as pixels without a value: the threshold pipeline takes its threshold over the other pixels and never makes them
objects (as ImageJ's histograms and Auto Threshold skip NaN); pipelines that compute on every pixel (Motion's flow,
Cutter's and Fusion's filters) get them filled with the median of their plane's other pixels (:func:`fill_missing`),
the background level of most images (cells cover less than half a field). Measured with Motion on real movies
(256 x 256 crops, labels compared with those of the movie without NaN, foreground IoU): NaN corners of
Fluo-C2DL-MSC 0.916 (median) vs 0.608 (the lowest value, a dark wedge whose edge the flow and the features take
for texture), Fluo-N2DH-GOWT1 0.962 vs 0.958; a masked export (NaN where the smoothed frame is below its 50th /
85th percentile) MSC 0.285 / 0.612 vs 0.100 / 0.587, GOWT1 0.950 / 0.443 vs 0.972 / 0.456.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from typing import Any

import numpy as np
import xarray as xr

from labelfree._warn_place import user_stacklevel
from labelfree.errors import ConstantImageError, MissingPixelsWarning, NonFiniteError

__all__ = ["MissingPixels", "MissingPixelsWarning", "fill_missing", "find_missing", "missing_as_nan",
           "missing_refused", "refuse_no_value"]

#: frames named one by one in a message, at most (more: how many, and the first ones)
_NAMED = 10

#: a plane's median is taken over at most this many of its pixels (a regular subsample of a larger plane, as
#: :func:`labelfree.tiling.plane_sample` reads one for an automatic threshold)
_MEDIAN_PIXELS = 16_000_000


@dataclasses.dataclass(frozen=True)
class MissingPixels:
    """Where a float image's NaN/inf pixels are (:func:`find_missing`), per (Y, X) plane.

    Attributes
    ----------
    counts, lows, highs : ndarray, the shape of the image's axes other than Y and X
        Per plane its NaN/inf pixels, and its lowest and highest finite value (+inf and -inf: none).
    lead : tuple of str
        Those axes' names.
    axes : tuple of int
        The positions of Y and X among the image's axes.
    """

    counts: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    lead: tuple[str, ...]
    axes: tuple[int, ...]

    @property
    def total(self) -> int:
        """NaN/inf pixels in all."""
        return int(self.counts.sum())

    @property
    def low(self) -> float:
        """The image's lowest finite value (+inf: none)."""
        return float(np.min(self.lows))

    @property
    def high(self) -> float:
        """The image's highest finite value (-inf: none)."""
        return float(np.max(self.highs))

    def where(self) -> str:
        """Where they are, for a message: "" (one plane), " in frames [0, 2] (0-based)" (a time-lapse; more
        than 10 frames: how many, and the first 10), " in 3 of 8 planes" (other stacks)."""
        counts = np.atleast_1d(self.counts)
        if counts.size <= 1:
            return ""
        hit = np.flatnonzero(counts.ravel())
        sizes = dict(zip(self.lead, np.shape(self.counts)))
        if [d for d, n in sizes.items() if n > 1] != ["T"]:
            return f" in {len(hit)} of {counts.size} planes"
        if len(hit) == counts.size:
            return f" in all {counts.size} frames"
        named = ", ".join(str(int(t)) for t in hit[:_NAMED])
        if len(hit) == 1:
            return f" in frame {named} (0-based)"
        if len(hit) <= _NAMED:
            return f" in frames [{named}] (0-based)"
        return f" in {len(hit)} of {counts.size} frames (the first: frames [{named}] (0-based))"


def _is_dask(data: Any, /) -> bool:
    return hasattr(data, "dask") and hasattr(data, "compute")


def _plane_axes(da: xr.DataArray, /) -> tuple[int, ...]:
    axes = tuple(da.get_axis_num(d) for d in ("Y", "X") if d in da.dims)
    return axes or tuple(range(da.ndim))


def find_missing(da: xr.DataArray, /) -> MissingPixels | None:
    """Where the NaN/inf pixels of a float image are, per (Y, X) plane; None when it has none (or is not float).

    A NumPy (or memory-mapped) image is read one plane at a time; a dask one chunk by chunk, in the calling
    thread (as :func:`labelfree.image.validate_image` checks it).
    """
    if np.dtype(da.dtype).kind != "f":
        return None
    axes = _plane_axes(da)
    lead = tuple(str(d) for k, d in enumerate(da.dims) if k not in axes)
    data = da.data
    if _is_dask(data):
        import dask
        import dask.array as dsk

        bad = ~dsk.isfinite(data)
        counts, lows, highs = dask.compute(bad.sum(axis=axes), dsk.where(bad, np.inf, data).min(axis=axes),
                                           dsk.where(bad, -np.inf, data).max(axis=axes), scheduler="synchronous")
        counts, lows, highs = (np.asarray(v) for v in (counts, lows, highs))
    else:
        planes = np.moveaxis(data, axes, range(-len(axes), 0))
        shape = planes.shape[:planes.ndim - len(axes)]
        counts = np.zeros(shape, np.int64)
        lows, highs = np.full(shape, np.inf), np.full(shape, -np.inf)
        for index in np.ndindex(*shape):
            plane = np.asarray(planes[index])
            lows[index], highs[index] = plane.min(), plane.max()  # NaN or inf there: the plane holds some
            if np.isfinite(lows[index]) and np.isfinite(highs[index]):
                continue
            finite = np.isfinite(plane)
            counts[index] = plane.size - int(np.count_nonzero(finite))
            values = plane[finite]
            lows[index], highs[index] = (values.min(), values.max()) if values.size else (np.inf, -np.inf)
    if not counts.any():
        return None
    return MissingPixels(counts, lows, highs, lead, axes)


def label_of(da: xr.DataArray, name: str, /) -> str:
    """``name`` and, for an image read from a file, that file: "image (/data/ratio.tif)"."""
    source = da.attrs.get("source") if hasattr(da, "attrs") else None
    return f"{name} ({os.fspath(source)})" if source else name


def missing_refused(da: xr.DataArray, found: MissingPixels, /, *, name: str = "image") -> NonFiniteError:
    """The error for NaN/inf pixels where a command needs a value in every pixel: the input, how many and where,
    and a remedy for each entry point (the command line, Python; ImageJ's wording comes from
    :func:`labelfree.imagej.terms.in_imagej_terms`)."""
    return NonFiniteError(
        f"{label_of(da, name)} contains {found.total} NaN/inf pixel(s){found.where()}, and this command needs a value "
        "in every pixel (CLI: fix the file first, e.g. in Fiji with Process > Math > Remove NaNs... and File > Save); "
        "replace them (numpy.nan_to_num) first.")


def refuse_no_value(da: xr.DataArray, found: MissingPixels, /, *, name: str = "image") -> None:
    """Refuse an image none of whose pixels has a value (all NaN/inf), or whose pixels with one all hold the same.

    Raises
    ------
    NonFiniteError
        Every pixel is NaN/inf.
    ConstantImageError
        The finite pixels hold one value.
    """
    label = label_of(da, name)
    if not np.isfinite(found.low):
        raise NonFiniteError(f"{label} holds no value: all its {found.total} pixels are NaN/inf, so there is "
                             "nothing to segment. Check that the right file or channel was given.")
    if found.low == found.high:
        raise ConstantImageError(
            f"{label} is constant: every pixel that holds a value is {found.low:g} (the other {found.total} are "
            "NaN/inf, missing); there is nothing to segment. Check that the right file or channel was given.")


def _filled(da: xr.DataArray, found: MissingPixels, values: np.ndarray, /) -> xr.DataArray:
    """A copy of ``da`` with each plane's NaN/inf pixels set to that plane's value in ``values`` (a lazy image
    stays lazy)."""
    dtype = np.dtype(da.dtype)
    values = np.asarray(values).astype(dtype)
    data = da.data
    if _is_dask(data):
        import dask.array as dsk

        return da.copy(data=dsk.where(dsk.isfinite(data), data, np.expand_dims(values, found.axes)))
    out = np.empty(da.shape, dtype)
    lead = len(found.lead)
    planes = np.moveaxis(data, found.axes, range(-len(found.axes), 0))
    target = np.moveaxis(out, found.axes, range(-len(found.axes), 0))
    for index in np.ndindex(*planes.shape[:lead]):
        plane = np.asarray(planes[index])
        target[index] = np.where(np.isfinite(plane), plane, values[index]) if found.counts[index] else plane
    return da.copy(data=out)


def missing_as_nan(da: xr.DataArray, found: MissingPixels, /) -> xr.DataArray:
    """``da`` with its +/-inf pixels made NaN (a copy; ``da`` itself when it holds NaN only), so that a comparison
    with a threshold puts no missing pixel on either side."""
    data = da.data
    if not _is_dask(data) and not np.isinf(np.asarray(data)).any():
        return da
    return _filled(da, found, np.full(np.shape(found.counts), np.nan))


def fill_missing(da: xr.DataArray, found: MissingPixels, /, *, name: str = "image", what: str = "") -> xr.DataArray:
    """A copy of ``da`` with each NaN/inf pixel set to the median of the other pixels of its (Y, X) plane (a
    plane without one: the median of the other planes' medians; an image without one: 0), and one
    :class:`MissingPixelsWarning` saying so.

    ``what`` names who needs them filled ("Motion"). The median is the background level of most images (see
    the module's measurements); the filled region has no texture and no motion. The planes with missing
    pixels are read once more, one at a time (a plane above 16 Mpx on a regular subsample of that many).
    """
    medians = np.full(np.shape(found.counts), np.nan)
    planes = np.moveaxis(da.data, found.axes, range(-len(found.axes), 0))
    # the planes with missing pixels; every plane where one holds no value (its fill is the others' median)
    read = found.counts if np.isfinite(found.lows).all() else np.ones(np.shape(found.counts), bool)
    height, width = planes.shape[-2:]
    step = max(1, math.ceil(math.sqrt(height * width / _MEDIAN_PIXELS)))
    for index in zip(*np.nonzero(read)) if np.ndim(found.counts) else [()]:
        plane = planes[index][..., ::step, ::step]
        plane = np.asarray(plane.compute() if _is_dask(plane) else plane)
        kept = plane[np.isfinite(plane)]
        if kept.size:
            medians[index] = np.median(kept)
    known = medians[np.isfinite(medians)]
    values = np.where(np.isfinite(medians), medians, np.median(known) if known.size else 0.0)
    frame = "frame" if found.lead == ("T",) else "plane"
    warnings.warn(MissingPixelsWarning(
        f"{label_of(da, name)} contains {found.total} NaN/inf pixel(s){found.where()}: read as missing data, each "
        f"was set to the median of its {frame}'s other pixels (its background level) for {what or 'this command'}, "
        "which needs a value in every pixel (the input is unchanged). For another value, replace them "
        "(numpy.nan_to_num) first."), stacklevel=user_stacklevel())
    return _filled(da, found, values)
