"""Static per-pixel features of one frame, and a registry so users can add their own.

The paper classifies pixels of frame t from two static features computed on
frame t alone: the local entropy in a 7x7 window and the gradient magnitude
(MATLAB ``entropyfilt`` and ``imgradient(..., 'intermediate')``). They are
implemented here as compiled (numba) loops, bit-identical to the OpenCV/NumPy
versions they replaced, so that they cost a small fraction of one optical-flow
call (see ``benchmarks/motion_speed.py``).

A feature is a function ``f(frame_u8, /, *, config) -> float32 (Y, X)``;
:func:`register_feature` adds one under a name that ``MotionConfig.features``
can then list.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from labelfree._jit import njit
from labelfree.errors import ConfigError, DimensionError, DTypeError

__all__ = [
    "FEATURES",
    "register_feature",
    "local_entropy",
    "gradient_magnitude",
    "smoothed_log_intensity",
    "compute_features",
]

FeatureFunc = Callable[..., np.ndarray]

#: name -> feature function; ``MotionConfig.features`` lists names from here
FEATURES: dict[str, FeatureFunc] = {}


def register_feature(name: str, func: FeatureFunc | None = None, /):
    """Add a static feature under ``name`` (usable as a decorator).

    ``func(frame_u8, /, *, config)`` receives a (Y, X) uint8 frame and the
    :class:`~labelfree.motion.MotionConfig`, and returns a (Y, X) float array.
    """

    def _add(f: FeatureFunc) -> FeatureFunc:
        FEATURES[name] = f
        return f

    return _add(func) if func is not None else _add


def _check_u8(frame: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.ndim != 2:
        raise DimensionError(f"{what} needs one (Y, X) frame; got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        raise DTypeError(f"{what} needs a uint8 frame (as the paper); got {arr.dtype}. "
                         "Scale it first with labelfree.motion.to_uint8.")
    return arr


def local_entropy(frame: np.ndarray, /, *, size: int = 7, bins: int = 256) -> np.ndarray:
    """Shannon entropy (bits) of the grey levels in a ``size`` x ``size`` window around each pixel.

    Parameters
    ----------
    frame : (Y, X) uint8 array
        One frame.
    size : int
        Window side in pixels (odd). The paper uses 7.
    bins : int
        Number of grey-level bins over 0-255 (a power of two <= 256). 256
        reproduces MATLAB ``entropyfilt`` / ``skimage.filters.rank.entropy``
        (except at the border, which is mirrored here as in MATLAB); fewer bins
        are faster.

    Returns
    -------
    (Y, X) float32 array of entropies in bits, between 0 and log2(size**2).

    Notes
    -----
    The entropy is ``log2(n) - sum_v c_v log2(c_v) / n`` with ``n = size**2`` and ``c_v``
    the count of bin ``v`` in the window, the ``c log c`` terms read from a table and
    summed in float32 in bin order. The window's histogram slides along each row as the
    sum of per-column histograms, which slide down the frame; cost per pixel: two updates
    of ``bins`` counts and ``bins`` table reads.
    """
    arr = _check_u8(frame, "local_entropy")
    if size < 1 or size % 2 == 0 or size > 255:
        raise ConfigError(f"entropy window size must be a positive odd number up to 255; got {size}.")
    if bins < 2 or bins > 256 or bins & (bins - 1):
        raise ConfigError(f"entropy bins must be a power of two between 2 and 256; got {bins}.")
    n = size * size
    counts = np.arange(1, n + 1)
    lut = np.zeros(n + 1, np.float32)
    lut[1:] = counts * np.log2(counts)
    r = size // 2
    binned = cv2.copyMakeBorder(arr, r, r, r, r, cv2.BORDER_REFLECT)  # MATLAB's mirrored border
    binned >>= 8 - int(np.log2(bins))
    return _entropy_rows(binned, size, bins, lut, np.float32(np.log2(n)), np.float32(n))


@njit(nogil=True, boundscheck=False)  # no fastmath: the float32 sum keeps bin order
def _entropy_rows(binned, size, nbins, lut, log2n, n):  # pragma: no cover - compiled
    hp, wp = binned.shape
    h = hp - size + 1
    w = wp - size + 1
    out = np.empty((h, w), np.float32)
    column = np.zeros((wp, nbins), np.uint16)  # histogram of each padded column over the window's rows
    for y in range(size):
        for x in range(wp):
            column[x, binned[y, x]] += 1
    hist = np.zeros(nbins, np.uint16)
    for y in range(h):
        if y:
            for x in range(wp):
                column[x, binned[y - 1, x]] -= 1
                column[x, binned[y + size - 1, x]] += 1
        hist[:] = 0
        for x in range(size):
            for b in range(nbins):
                hist[b] += column[x, b]
        for x in range(w):
            if x:
                for b in range(nbins):
                    hist[b] += column[x + size - 1, b] - column[x - 1, b]
            acc = np.float32(0.0)
            for b in range(nbins):
                acc += lut[hist[b]]
            out[y, x] = log2n - acc / n
    return out


def gradient_magnitude(frame: np.ndarray, /) -> np.ndarray:
    """Forward-difference gradient magnitude ``sqrt(Gx**2 + Gy**2)`` (grey levels per pixel).

    Matches MATLAB ``imgradient(I, 'intermediate')``: ``Gx(y, x) = I(y, x+1) - I(y, x)``,
    zero in the last column (and likewise for ``Gy`` in the last row).

    Parameters
    ----------
    frame : (Y, X) array
        One frame (any real dtype).

    Returns
    -------
    (Y, X) float32 array.
    """
    arr = np.asarray(frame)
    if arr.ndim != 2:
        raise DimensionError(f"gradient_magnitude needs one (Y, X) frame; got shape {arr.shape}.")
    # Gx^2 + Gy^2 is exact in float32 for 8- and 16-bit frames, and the square root is
    # correctly rounded: the same value on every run (cv2.magnitude's SIMD path is
    # off by one unit in the last place at about a third of the pixels, depending on
    # the arrays' memory alignment)
    return _forward_gradient(np.ascontiguousarray(arr, dtype=np.float32))


@njit(nogil=True, boundscheck=False)  # no fastmath: IEEE float32 as written
def _forward_gradient(a):  # pragma: no cover - compiled
    h, w = a.shape
    out = np.empty((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            gx = a[y, x + 1] - a[y, x] if x + 1 < w else np.float32(0.0)
            gy = a[y + 1, x] - a[y, x] if y + 1 < h else np.float32(0.0)
            out[y, x] = np.sqrt(gx * gx + gy * gy)
    return out


@register_feature("entropy")
def _entropy_feature(frame: np.ndarray, /, *, config) -> np.ndarray:
    return local_entropy(frame, size=config.entropy_size, bins=config.entropy_bins)


@register_feature("gradient")
def _gradient_feature(frame: np.ndarray, /, *, config) -> np.ndarray:
    return gradient_magnitude(frame)


@register_feature("intensity")
def _intensity_feature(frame: np.ndarray, /, *, config) -> np.ndarray:
    return np.asarray(frame, np.float32)


@register_feature("log_intensity")
def _log_intensity_feature(frame: np.ndarray, /, *, config) -> np.ndarray:
    return smoothed_log_intensity(frame)


def smoothed_log_intensity(frame: np.ndarray, /, *, sigma: float = 1.0) -> np.ndarray:
    """``log(1 + G_sigma * I)``: the grey level smoothed by a Gaussian and put on a log scale.

    The smoothing (``sigma`` px) averages out camera noise so that dim, thin
    protrusions stand out from the background; the log makes the broad range of
    cell brightness (dim protrusions to bright nuclei) closer to the Gaussian
    that the Naive Bayes classifier assumes for each class.

    Parameters
    ----------
    frame : (Y, X) array
        One frame (uint8 in the pipeline).
    sigma : float
        Gaussian sigma in pixels (0 = no smoothing).

    Returns
    -------
    (Y, X) float32 array (natural log of grey levels).
    """
    arr = np.asarray(frame)
    if arr.ndim != 2:
        raise DimensionError(f"smoothed_log_intensity needs one (Y, X) frame; got shape {arr.shape}.")
    f = arr.astype(np.float32)
    if sigma > 0:
        f = cv2.GaussianBlur(f, (0, 0), sigma)
    np.maximum(f, 0, out=f)
    f += 1.0
    return cv2.log(f)


def compute_features(frame: np.ndarray, /, *, config, cache: dict | None = None) -> np.ndarray:
    """Stack the features named in ``config.features`` for one uint8 frame.

    Parameters
    ----------
    frame : (Y, X) uint8 array
    config : MotionConfig
    cache : dict, optional
        Already computed features by name (e.g. the entropy needed by self-labelling).

    Returns
    -------
    (F, Y, X) float32 array. Exact zeros become 0.001, as in the paper.
    """
    _check_u8(frame, "compute_features")
    unknown = [n for n in config.features if n not in FEATURES]
    if unknown or not config.features:
        raise ConfigError(f"Unknown or no feature(s) {unknown}; registered features are {sorted(FEATURES)}.")
    cache = cache if cache is not None else {}
    out = np.empty((len(config.features),) + frame.shape, np.float32)
    for i, name in enumerate(config.features):
        f = cache[name] if name in cache else FEATURES[name](frame, config=config)
        _copy_zeros_raised(np.ascontiguousarray(f, dtype=np.float32).reshape(frame.shape), out[i])
    return out


@njit(nogil=True, boundscheck=False)
def _copy_zeros_raised(src, dst):  # pragma: no cover - compiled
    """``dst = src``, with exact zeros (either sign) replaced by float32(0.001)."""
    h, w = src.shape
    raised = np.float32(0.001)
    for y in range(h):
        for x in range(w):
            v = src[y, x]
            dst[y, x] = raised if v == 0 else v
