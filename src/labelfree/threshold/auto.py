"""The threshold pipeline's automatic threshold: inside a plane's padding, unmoved by isolated hot pixels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labelfree.canvas import content_box
from labelfree.errors import NonFiniteError

__all__ = ["OUTLIER_REACH", "automatic_threshold", "finite_range", "inside_box", "inside_threshold",
           "range_without_spikes", "volume_threshold"]

#: isolated pixels (each beyond all 8 of its neighbours, e.g. an sCMOS hot pixel) lying further than this many
#: times the range of the other pixels beyond that range are outliers for the automatic threshold. On every frame
#: of Fluo-N2DH-GOWT1, Fluo-N2DH-SIM+ and Fluo-C2DL-MSC the isolated pixels lie at most 0.37 times it beyond
#: (every threshold as before); a hot pixel at 65535 over SIM+ cells below 800 lies over 100 times it beyond
OUTLIER_REACH = 1.0

#: values whose magnitude lies outside [2**-32, 2**32] are thresholded scaled by a power of two (exact): the
#: histogram methods square their class means in 32-bit floats, which overflow above (1e30) or vanish below
_SCALE_LIMIT = 32


def range_without_spikes(values: np.ndarray, /) -> tuple[Any, Any]:
    """The lowest and highest value of a (Y, X) array leaving out isolated extremes.

    A pixel above all 8 of its neighbours (below all of them) is an isolated extreme, such as a
    camera's hot (dead) pixel; the range of the others is returned. Every pixel of an object of two
    or more pixels has a neighbour at least as bright as itself but the brightest, so an object's
    pixels stay in the range up to its second-brightest. Pixels beyond the image's border are not
    neighbours, nor are NaN/inf pixels (missing data), which are left out (-inf and +inf: no pixel
    is left).
    """
    from scipy import ndimage as ndi

    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    below = above = values
    if values.dtype.kind == "f":
        lowest, highest = -np.inf, np.inf
        missing = ~np.isfinite(values)
        if missing.any():  # as the lowest value for the brightest, the highest for the darkest: never counted
            below, above = np.where(missing, lowest, values), np.where(missing, highest, values)
    else:
        info = np.iinfo(values.dtype)
        lowest, highest = info.min, info.max
    around = ndi.maximum_filter(below, footprint=ring, mode="constant", cval=lowest)
    high = np.minimum(below, around, out=around).max()
    around = ndi.minimum_filter(above, footprint=ring, mode="constant", cval=highest)
    low = np.maximum(above, around, out=around).min()
    return low, high


def finite_range(values: Any, /) -> tuple[Any, Any]:
    """The lowest and highest value of an array leaving out NaN/inf (missing) pixels; (None, None) when no
    pixel is left. An array without them gives its ``min()`` and ``max()`` themselves."""
    x = np.asarray(values)
    if not x.size:
        return None, None
    low, high = x.min(), x.max()
    if x.dtype.kind != "f" or (np.isfinite(low) and np.isfinite(high)):
        return low, high
    x = x[np.isfinite(x)]
    return (x.min(), x.max()) if x.size else (None, None)


def automatic_threshold(values: Any, /, *, method: str = "otsu") -> float:
    """The automatic threshold (``"otsu"``, ``"li"`` or ``"triangle"``) of a (Y, X) array of values.

    :func:`labelfree.tiling.threshold_of`'s value (skimage's method; integer images spanning at
    most 255 levels, or at most 255 steps of a grid such as 8-bit values stored times 256, on
    their own levels, and float copies of such images as those integer images; others on a 256-bin
    histogram of their range), with two exceptions.
    Outliers, isolated extreme pixels (:func:`range_without_spikes`) lying further than
    :data:`OUTLIER_REACH` times the other pixels' range beyond it, are counted as the
    highest (lowest) value of the others: a hot pixel at 65535 would squeeze cells below 200 into
    the histogram's first bin (no objects); counted so, the histogram spans the values it spans
    without the hot pixel (the mask still compares each pixel's own value with the threshold). And
    values of a magnitude above 2**32 or below 2**-32 are thresholded scaled by a power of two,
    where skimage's 32-bit computation would overflow or vanish. NaN and +/-inf values are missing
    data (ImageJ's NaN in 32-bit images): the threshold is the one of the other values.

    Raises
    ------
    NonFiniteError
        No value but NaN or inf.
    """
    return _threshold_of_values(_without_outliers(values), method)


def _without_outliers(values: Any, /) -> np.ndarray:
    """A (Y, X) array's values as :func:`automatic_threshold` thresholds them: float16 as float32, outliers
    clipped (:func:`_outliers_clipped`); NaN/inf values left out (then a 1-D array of the others)."""
    x = np.asarray(values)
    if x.dtype.kind == "f" and x.dtype.itemsize < 4:  # float16: computed as float32, as threshold_of does
        x = x.astype(np.float32)
    finite = None
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        finite = np.isfinite(x)
        if not finite.any():
            raise NonFiniteError(f"The image holds no value among the {x.size} pixel(s) its automatic threshold "
                                 "reads: all are NaN/inf (missing data); there is nothing to threshold.")
    if x.dtype.kind in "iuf" and x.ndim == 2 and x.size > 1:
        x = _outliers_clipped(x, finite)
    return x if finite is None else x[finite]


def _threshold_of_values(x: np.ndarray, method: str, /) -> float:
    """:func:`labelfree.tiling.threshold_of` of values whose outliers are clipped, scaled by a power of two where
    their magnitude lies outside [2**-32, 2**32] (see :func:`automatic_threshold`)."""
    from labelfree.tiling import MAX_INTEGER_LEVELS, level_grid, threshold_of

    binned = x.dtype.kind == "f" or (x.dtype.kind in "iu" and int(x.max()) - int(x.min()) > MAX_INTEGER_LEVELS)
    if binned:
        top = max(abs(float(x.min())), abs(float(x.max())))
        exponent = math.frexp(top)[1]
        huge = top and abs(exponent) > _SCALE_LIMIT
        if huge and (x.dtype.kind == "f" or level_grid(x) is None):  # as 32-bit floats, scaled into their safe range
            scaled = np.ldexp(x.astype(np.float64), -exponent).astype(np.float32)
            return math.ldexp(threshold_of(scaled, method=method), exponent)
    return threshold_of(x, method=method)


def _outliers_clipped(x: np.ndarray, finite: np.ndarray | None = None, /) -> np.ndarray:
    """``x`` with its outliers (see :func:`automatic_threshold`) set to the nearest value of the others;
    ``finite``: where ``x`` holds a value (None: everywhere), the others are missing data and stay as they are."""
    if finite is not None:
        return _outliers_clipped_among(x, x[finite])
    lowest, highest = float(x.min()), float(x.max())
    if x.shape[1] > 1:  # a quick bound first: a pixel with a row neighbour at least as bright is not isolated
        high = float(np.minimum(x[:, :-1], x[:, 1:]).max())
        low = float(np.maximum(x[:, :-1], x[:, 1:]).min())
        reach = OUTLIER_REACH * (high - low)
        if reach > 0 and lowest >= low - reach and highest <= high + reach:
            return x  # the range without isolated pixels is at least [low, high]: nothing lies far beyond
    low, high = range_without_spikes(x)
    reach = OUTLIER_REACH * (float(high) - float(low))
    if not reach or (lowest >= float(low) - reach and highest <= float(high) + reach):
        return x  # no outliers, or nothing but outliers beside one value (a lone bright pixel on black)
    others = x[(x >= float(low) - reach) & (x <= float(high) + reach)]  # every pixel but the outliers
    return np.clip(x, others.min(), others.max())


def _outliers_clipped_among(x: np.ndarray, kept: np.ndarray, /) -> np.ndarray:
    """:func:`_outliers_clipped` of ``x`` with NaN/inf (missing) pixels, ``kept`` its other values: missing
    pixels are no one's neighbours (:func:`range_without_spikes`)."""
    lowest, highest = float(kept.min()), float(kept.max())
    low, high = (float(v) for v in range_without_spikes(x))
    reach = OUTLIER_REACH * (high - low)
    if not np.isfinite(reach) or reach <= 0 or (lowest >= low - reach and highest <= high + reach):
        return x  # no outliers, every value isolated (single pixels among missing ones), or one value beside them
    others = kept[(kept >= low - reach) & (kept <= high + reach)]
    return np.clip(x, others.min(), others.max())


def inside_threshold(data: Any, method: str, /) -> tuple[float, tuple[slice, slice]]:
    """The automatic threshold of a (Y, X) plane inside its padding, and that box (:func:`inside_box`)."""
    box, sample = _inside(data)
    return automatic_threshold(sample, method=method), box


def inside_box(data: Any, /) -> tuple[slice, slice]:
    """The (Y, X) slices of a plane that its automatic threshold reads and its objects lie in: inside
    its padding (:func:`content_box`), or the whole plane when the inside holds one value (a single
    bright pixel, or one bright rectangle, on a canvas). Reads the edge lines, and a padded plane's
    inside (on a regular subsample above :data:`labelfree.tiling.AUTO_THRESHOLD_MAX_PIXELS`)."""
    box = content_box(data)
    if box == (slice(0, int(data.shape[-2])), slice(0, int(data.shape[-1]))):
        return box
    return _inside(data, box)[0]


def _inside(data: Any, box: tuple[slice, slice] | None = None, /, *,
            max_pixels: int | None = None) -> tuple[tuple[slice, slice], np.ndarray]:
    """:func:`inside_box` (``box``: the plane's :func:`content_box`, when known) and its pixels, read on a
    regular subsample above ``max_pixels`` (default :data:`labelfree.tiling.AUTO_THRESHOLD_MAX_PIXELS`), as
    :func:`labelfree.tiling.auto_threshold` reads a plane."""
    from labelfree import tiling

    limit = tiling.AUTO_THRESHOLD_MAX_PIXELS if max_pixels is None else max_pixels
    height, width = (int(n) for n in data.shape[-2:])
    box = content_box(data) if box is None else box
    sample = tiling.plane_sample(data[box], limit)
    low, high = finite_range(sample)  # NaN/inf pixels are missing: they hold no value of the inside
    if low is None or low == high:
        box = (slice(0, height), slice(0, width))
        sample = tiling.plane_sample(data, limit)
    return box, sample


def volume_threshold(planes: Any, method: str, /) -> tuple[float | None, list[tuple[slice, slice] | None]]:
    """One automatic threshold for a volume (a z-stack), and the box of each plane that it applies in.

    Every plane but a constant one (the stack's padding, no objects) gives its pixels inside its
    padding (:func:`inside_box`), its isolated hot pixels clipped as :func:`automatic_threshold` clips
    a plane's; the method runs once on all of them, as on one histogram of the stack (Fiji's "Use
    stack histogram"). A volume of more than :data:`labelfree.tiling.AUTO_THRESHOLD_MAX_PIXELS` pixels
    gives a regular subsample of each plane, about that many in all; the planes are read one at a
    time.

    Parameters
    ----------
    planes : sequence of (Y, X) arrays
        The volume's planes in Z order, each read when indexed (float ones as float32).
    method : {"otsu", "li", "triangle"}

    Returns
    -------
    threshold : float or None
        None when every plane is constant (nothing to threshold).
    boxes : list
        Per plane its (Y, X) slices, or None for a constant plane.

    NaN/inf pixels are missing data: left out of the histogram; a plane without two values among
    the others is constant.
    """
    from labelfree import tiling

    budget = max(1, tiling.AUTO_THRESHOLD_MAX_PIXELS // max(1, len(planes)))
    samples, boxes = [], []
    for z in range(len(planes)):
        values = planes[z]
        low, high = finite_range(values)
        if low is None or low == high:
            boxes.append(None)
            continue
        box = inside_box(values)  # as a tiled run's plane finds it (labelfree.threshold.segment.tile_box)
        sample = tiling.plane_sample(values[box], budget)
        boxes.append(box)
        samples.append(_without_outliers(sample).ravel())
    if not samples:
        return None, boxes
    return _threshold_of_values(np.concatenate(samples), method), boxes
