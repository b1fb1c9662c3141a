"""Coordinates as calibration: the pixel size (frame interval) of an axis from its coordinates' spacing, durations
and time stamps in seconds, and the checks that Z, Y and X coordinates form a regular grid
(:func:`labelfree.image.to_dataarray`, :func:`labelfree.image.scale_of`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["coord_values", "time_stamp", "even_step", "attr_scale", "coord_step", "AGREE"]

def coord_values(c: Any) -> np.ndarray | None:
    """A coordinate's values as float64 (durations in seconds, time stamps in seconds from the first);
    None for values that are no numbers (names, text)."""
    kind = c.dtype.kind
    if kind == "M" and getattr(c.dtype, "tz", None) is not None:  # pandas time stamps with a time zone: as UTC
        raw = c.to_index().tz_convert(None).to_numpy()
    else:
        raw = np.asarray(c.values)
    if kind in "mM":
        if not raw.size:
            return np.zeros(0)
        ns = raw.astype("datetime64[ns]" if kind == "M" else "timedelta64[ns]")
        span = (ns - ns[0]) if kind == "M" else ns
        return np.where(np.isnat(span), np.nan, span.astype(np.int64) / 1e9)  # NaT: NaN, refused below
    if kind in "iuf":
        return raw.astype(np.float64)
    return None


def time_stamp(value: Any) -> str:
    """A time stamp (numpy datetime64, or a pandas Timestamp with a time zone) as ISO 8601 text."""
    if getattr(value, "tzinfo", None) is not None:
        return str(value.isoformat())
    with contextlib.suppress(TypeError, ValueError):
        return str(np.datetime_as_string(np.datetime64(value), unit="s" if np.datetime64(value, "s") == value
                                         else "auto"))
    return str(value)


#: how far the steps of "evenly spaced" coordinates may differ from their mean step (rounding, float32 values)
_EVEN = 1e-2
#: how far a coordinate's ``scale`` attribute may differ from its spacing before the spacing is taken instead
AGREE = 1e-3


def even_step(values: np.ndarray) -> float | None:
    """The mean step of increasing, evenly spaced ``values`` (two or more); None otherwise."""
    if values.size < 2 or not np.isfinite(values).all():
        return None
    step = (float(values[-1]) - float(values[0])) / (values.size - 1)
    if not step > 0 or np.abs(np.diff(values) - step).max() > _EVEN * step:
        return None
    return step


def attr_scale(c: Any) -> float | None:
    """A coordinate's ``scale`` attribute when it is a positive, finite number."""
    try:
        value = float(c.attrs["scale"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def coord_step(dim: str, values: np.ndarray, c: Any) -> tuple[float, str]:
    """The pixel size (frame interval) of numeric coordinates, and a note when their ``scale`` attribute
    disagrees with their spacing (the spacing is used).

    Z, Y and X coordinates of two or more values must increase evenly (a segmentation needs a regular
    grid); T coordinates that do not (frames picked from a movie, the annotated frames of a data set)
    are kept as they are, with the attribute (else the smallest step) as the frame interval.
    """
    attr = attr_scale(c)
    if values.size < 2:
        return (attr or 1.0), ""
    step = even_step(values)
    if step is None:
        if dim != "T" or not np.isfinite(values).all():
            raise InputError(_uneven_message(dim, values))
        steps = np.abs(np.diff(values))
        steps = steps[np.isfinite(steps) & (steps > 0)]
        return (attr or (float(steps.min()) if steps.size else 1.0)), ""
    if attr is not None and abs(attr - step) <= AGREE * step:
        return attr, ""
    if attr is None:
        return step, ""
    return step, f"{dim}: scale {attr:g}, spacing {step:g}: using {step:g}"


def _uneven_message(dim: str, values: np.ndarray) -> str:
    """InputError text for coordinates that do not increase evenly (Z, Y, X) or hold NaN (any axis)."""
    pixels, size = ("frames", "frame interval") if dim == "T" else ("pixels", "pixel size")
    fix = (f"drop the coordinates to work in {pixels} (data.drop_vars({dim!r})), or give the {size} "
           f"(labelfree.to_dataarray(data, scale={{{dim!r}: ...}}), which numbers the {pixels} anew).")
    if not np.isfinite(values).all():
        return (f"The {dim} coordinates hold NaN, inf or NaT; LabelFree needs evenly increasing {dim} coordinates "
                f"(origin + i x pixel size). Give them numbers, " + fix)
    steps = np.diff(values)
    if (steps < 0).all():
        return (f"The {dim} coordinates decrease (from {values[0]:g} to {values[-1]:g}, steps of {steps[0]:g}); "
                f"LabelFree needs them increasing, so that the label image keeps the array's pixel order and a "
                f"positive pixel size. Flip the axis first: data.isel({dim}=slice(None, None, -1)) or "
                f"data.sortby({dim!r}) (flip the labels back the same way to match the original array).")
    if (steps <= 0).all():
        return (f"The {dim} coordinates do not increase (from {values[0]:g} to {values[-1]:g}); LabelFree needs "
                f"evenly increasing {dim} coordinates (origin + i x pixel size): " + fix)
    k = int(np.argmax(np.abs(steps - np.median(steps))))
    return (f"The {dim} coordinates are not evenly spaced (steps from {steps.min():g} to {steps.max():g}; e.g. "
            f"{values[k]:g} to {values[k + 1]:g} at index {k}); a segmentation needs a regular pixel grid, one "
            f"pixel size per axis. Resample the image onto an even grid first "
            f"(data.interp({dim}=np.linspace(first, last, n))), or " + fix)
