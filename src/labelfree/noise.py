"""Background level and noise of an image, measured where objects brighter than the background do not reach.

Core helpers shared by the pipelines: Cutter's automatic marker detection and foreground mask on a dense
field of nuclei, Motion's floor for a frame its classifier floods.
"""

from __future__ import annotations

import numpy as np

from labelfree.errors import InputError

__all__ = ["edge_band_excess", "half_sample_mode", "lower_side_noise", "neighbour_noise", "without_edge_bands"]


def half_sample_mode(values: np.ndarray, /) -> float:
    """The mode of ``values`` by the half-sample method (Bickel and Fruhwirth 2006): of the sorted values,
    the shortest run holding half of them, again and again, until three or fewer are left (their
    median). Robust to a heavy tail on either side: up to half the values may lie anywhere."""
    y = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if y.size == 0:
        raise InputError("half_sample_mode needs at least one value.")
    while y.size > 3:
        half = (y.size + 1) // 2
        start = int(np.argmin(y[half - 1:] - y[:y.size - half + 1]))
        y = y[start:start + half]
    return float(np.median(y))


def lower_side_noise(image: np.ndarray, /) -> tuple[float, float]:
    """Background level and noise of ``image`` measured on the dark side of its background only.

    The level is the mode of the pixels (:func:`half_sample_mode`), the noise 1.4826 times the median
    distance below it of the pixels under it (for Gaussian noise, its standard deviation). Objects
    brighter than the background do not reach the dark side, so however much of the image they
    cover (a dense field of nuclei: 35-41 %), they do not inflate this noise as they inflate the
    whole image's MAD (:func:`labelfree.cutter.graphcut.background_and_noise`: 2.7-3.9 times this on such a
    field, about 1 on pure noise). Noise 0 when the pixels under the mode are all equal to it.
    """
    x = np.asarray(image, dtype=np.float64).ravel()
    mode = half_sample_mode(x)
    below = mode - x[x <= mode]
    return mode, 1.4826 * float(np.median(below))


def neighbour_noise(values: np.ndarray, /) -> float:
    """The pixel noise of ``values`` (..., X): 1.4826 times the median absolute difference of neighbouring values
    along the last axis, over the square root of 2 (for Gaussian noise, its standard deviation; cells, nuclei and
    gradients, which change slowly from pixel to pixel, barely move it). Non-finite differences are left out; 0 when
    none is left."""
    steps = np.abs(np.diff(np.asarray(values, dtype=np.float64), axis=-1)).ravel()
    steps = steps[np.isfinite(steps)]
    return 1.4826 * float(np.median(steps)) / np.sqrt(2.0) if steps.size else 0.0


#: an edge band is at most this fraction of the image's side deep (deeper: a gradient, not a band)
EDGE_BAND_MAX_DEPTH = 1 / 8
#: a band starts at the edge with rows (columns) whose median, averaged over 3 rows, lies this many robust
#: spreads of the rows' medians above their typical level; it goes on while they lie one spread above
EDGE_BAND_SPREADS = 3.0
#: ... and so does each of this many equal segments of the band along the edge (cells do not cover them all)
EDGE_BAND_SEGMENTS = 8


def edge_band_excess(image: np.ndarray, /) -> np.ndarray:
    """The brightness that bands along the image's edges add to its background (Y, X) float32, 0 elsewhere.

    Some cameras and scans light the first or last rows or columns of every frame more than the rest (on
    Fluo-C2DL-MSC the first 17-19 rows, up to 2,500 grey levels, about 30 %, above the background at the edge).
    Such a band is taken for cells by a threshold or graph cut and joins the cells that touch that edge. Per
    edge, a band starts with the rows (columns) next to it whose median, averaged over 3 rows, lies more than
    :data:`EDGE_BAND_SPREADS` robust spreads (1.4826 MAD) of all rows' medians above their median, in each of
    :data:`EDGE_BAND_SEGMENTS` segments along the edge (cells touching an edge, even a row of them, do not
    cover all of them), and goes on into its fading edge while the rows lie one spread above; a band deeper
    than :data:`EDGE_BAND_MAX_DEPTH` of the side is a gradient of the whole image, not a band, and is left.
    The excess of a band row is its averaged median above the typical level; where a row band and a column
    band meet, the larger. All zero for an image smaller than 32 px on a side or with non-finite values.
    """
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 2:
        raise InputError(f"edge_band_excess needs one (Y, X) image; got shape {x.shape}.")
    excess = np.zeros(x.shape, np.float32)
    if min(x.shape) < 4 * EDGE_BAND_SEGMENTS or not np.isfinite(x).all():
        return excess
    for axis in (0, 1):  # 0: bands of rows (top, bottom), 1: bands of columns (left, right)
        block = x if axis == 0 else x.T
        profile = np.median(block, axis=1)
        level = float(np.median(profile))
        spread = 1.4826 * float(np.median(np.abs(profile - level)))
        floor = level + EDGE_BAND_SPREADS * max(spread, 1e-6 * max(abs(level), 1.0))
        deepest = int(len(profile) * EDGE_BAND_MAX_DEPTH)
        for side in (1, -1):
            p = profile[::side]
            averaged = np.convolve(np.pad(p, 1, mode="edge"), np.ones(3) / 3, mode="valid")
            if averaged[0] <= floor:
                continue
            core = int(np.argmin(averaged > floor))  # the rows clearly above, then their fading edge
            above = averaged > level + spread
            depth = len(p) if above.all() else int(np.argmin(above))
            if depth > deepest:
                continue
            rows = block[::side][:core]
            segments = np.array_split(rows, EDGE_BAND_SEGMENTS, axis=1)
            if min(float(np.median(s)) for s in segments) <= floor:
                continue
            band = (averaged[:depth] - level).astype(np.float32)
            target = excess if axis == 0 else excess.T
            index = slice(0, depth) if side == 1 else slice(len(p) - depth, len(p))
            values = band if side == 1 else band[::-1]
            target[index] = np.maximum(target[index], values[:, None])
    return excess


def without_edge_bands(image: np.ndarray, /) -> np.ndarray:
    """``image`` (Y, X) with the bands along its edges brought down to the background
    (:func:`edge_band_excess`); the image itself when it has none."""
    x = np.asarray(image)
    excess = edge_band_excess(x)
    return x if not excess.any() else x.astype(np.result_type(x.dtype, np.float32)) - excess
