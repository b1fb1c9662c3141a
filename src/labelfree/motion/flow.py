"""Optical flow between frames: uint8 conversion, Farnebaeck flow, magnitudes, vector plots."""

from __future__ import annotations

import dataclasses
import logging
import weakref
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import xarray as xr

from labelfree import _threads
from labelfree._heap import retained_heap
from labelfree._jit import njit
from labelfree._label_memory import memory_text
from labelfree.errors import ConfigError, DimensionError, InputError
from labelfree.motion.config import MotionConfig
from labelfree.motion.farneback import BufferPool, expansion_pyramid, flow_from_expansions, pyramid_sizes
from labelfree.motion.flow_record import FlowRecording
from labelfree.motion.movie import _frame
from labelfree.motion.selflabel import flow_only_min_size

__all__ = [
    "blank_frames",
    "frame_extremes",
    "uint8_range",
    "grey_mapping",
    "grey_background",
    "integer_scale",
    "integer_movie",
    "exposure_gains",
    "bleaching_gains",
    "frame_means",
    "to_uint8",
    "repair_hot_pixels",
    "repair_raw_hot_pixels",
    "grey_step",
    "farneback_flow",
    "flow_magnitude",
    "flow_magnitude_stack",
    "flow_settings",
    "plot_flow_field",
    "write_flow_stack",
]

log = logging.getLogger(__name__)

_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def frame_extremes(movie, /) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and the largest value of each frame of a (T, Y, X) movie (may be memory-mapped),
    as float64 arrays of length T. Reads every frame once."""
    n = movie.shape[0]
    lows, highs = np.zeros(n, np.float64), np.zeros(n, np.float64)
    for t in range(n):  # one frame in memory at a time
        frame = np.asarray(movie[t])
        if frame.size:
            lows[t], highs[t] = frame.min(), frame.max()
    return lows, highs


def blank_frames(movie, /, *, extremes: tuple[np.ndarray, np.ndarray] | None = None) -> list[int]:
    """The frames of a (T, Y, X) movie whose pixels all have one value: a dropped (black), flat or
    saturated frame. ``extremes``: :func:`frame_extremes` of the movie when already read."""
    lows, highs = frame_extremes(movie) if extremes is None else extremes
    return np.flatnonzero(lows == highs).tolist()


#: the factors that bring the values of a float movie made from an integer one back to its whole numbers: as it
#: was converted (numpy's ``astype``, ImageJ's 32-bit type), and 8 and 16 bits mapped to 0..1 (skimage's
#: ``img_as_float``, a napari layer, ``movie / 255``)
INTEGER_SCALES = (1.0, 255.0, 65535.0)
#: an 8-bit movie mapped to the whole 16-bit range (skimage's ``img_as_uint``: 0..255 -> 0..65535) holds
#: multiples of this only. A movie shifted by 8 bits (multiples of 256) is not taken back: the MSC movie
#: of the benchmarks is one, and its percentiles are its measured results (docs/benchmarks.md)
EIGHT_TO_SIXTEEN_BITS = 257


def integer_scale(movie, /, *, extremes: tuple[np.ndarray, np.ndarray] | None = None) -> float | None:
    """The factor that makes every value of a (T, Y, X) movie a whole number from 0 to 65535, or None.

    An integer movie whose values lie from 0 to 65535 gives 1, or 1 / 257 when every value is a
    multiple of 257 (:data:`EIGHT_TO_SIXTEEN_BITS`: an 8-bit movie mapped to 16 bits). A float movie gives the first of
    :data:`INTEGER_SCALES` (1, 255, 65535) by which every value of every frame is a whole number (within
    the rounding of the float type; 255 and 65535 only for values from 0 to 1): a movie converted from
    8 or 16 bits to float, as it was or to 0..1, is found, and :func:`integer_movie` gives back its
    integers. Otherwise a float movie of at most 256 values that are whole multiples of one step, at
    most 255 steps apart (8-bit values at any scale), gives 1 / step. Frames are read until no factor
    is left (one frame for a movie of measured floats).

    Parameters
    ----------
    movie : (T, Y, X) array-like (may be memory-mapped)
    extremes : (lows, highs), optional
        :func:`frame_extremes` of the movie, when already read.

    Returns
    -------
    float or None
    """
    dtype = np.dtype(movie.dtype)
    if dtype.kind not in "iuf" or movie.shape[0] == 0:
        return None
    lows, highs = frame_extremes(movie) if extremes is None else extremes
    lo, hi = float(np.min(lows)), float(np.max(highs))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0):
        return None
    if dtype.kind in "iu":
        if hi > 65535:
            return None
        step = EIGHT_TO_SIXTEEN_BITS
        for t in range(movie.shape[0] if hi > 0 else 0):  # read until a value is no multiple of 257
            if np.any(np.asarray(movie[t]) % step):
                return 1.0
        return 1.0 / step if hi > 0 else 1.0
    scales = [s for s in INTEGER_SCALES if hi <= (65535.0 if s == 1 else 1.0)]
    # a float holds whole numbers up to its precision: the rounding of a conversion stays within a few units
    # of its last place
    tolerance = {s: 4 * float(np.finfo(dtype).eps) * s * hi for s in scales}
    for t in range(movie.shape[0]):
        if not scales:
            break
        frame = np.asarray(movie[t], dtype=np.float64)
        scales = [s for s in scales if np.all(np.abs(frame * s - np.rint(frame * s)) <= tolerance[s])]
    return scales[0] if scales else _eight_bit_scale(movie, lo, hi)


def _eight_bit_scale(movie, lo: float, hi: float) -> float | None:
    """1 / q for a float movie whose values are whole multiples of one step q, at most 255 steps from its
    smallest to its largest value and at most 65535 steps from 0 (8-bit values at any scale: times 1e300,
    times 0.37); else None. Reads the frames until more than 256 values are seen."""
    seen = np.zeros(0, np.float64)
    for t in range(movie.shape[0]):
        seen = np.union1d(seen, np.asarray(movie[t], dtype=np.float64))
        if seen.size > 256:
            return None
    positive = seen[seen > 0]
    if not positive.size:
        return None
    # the step: the greatest common divisor of the values, within the rounding of their float type
    tolerance = 64 * float(np.finfo(np.dtype(movie.dtype)).eps) * hi
    step = float(positive[0])
    for value in positive[1:]:
        a, b = float(value), step
        while b > tolerance:
            a, b = b, a % b
            if a - b <= tolerance:  # a remainder of one step less its rounding
                b = 0.0
        step = a
    if step <= tolerance or hi / step > 65535 or (hi - lo) / step > 255.5:
        return None
    levels = positive / step
    if np.any(np.abs(levels - np.rint(levels)) > 1e-3):
        return None
    return 1.0 / step


def integer_movie(da: xr.DataArray, /, *, extremes: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> tuple[xr.DataArray, dict[str, Any] | None]:
    """A TYX movie whose values are whole numbers (:func:`integer_scale`) as uint8 (values up to 255) or uint16.

    Motion decides how to spread a movie over 8 bits by its values, not by how they were stored: a
    movie as uint8, as uint16, int32 or int64 of the same values, as float32 or float64 of them, or
    divided by 255 (or 65535 for 16 bits) to 0..1 gives the same movie here, so the same labels. A
    uint8 movie, a uint16 one (also a dim one with values up to 255: 16-bit camera data keeps the 16-bit
    range of :func:`uint8_range`; only one whose values are all multiples of 257, an 8-bit movie mapped to 16
    bits, becomes uint8) and a movie of other values (measured floats, negative or larger integers) are
    returned as they are; so is a movie whose copy would take more than half of the memory left (a warning
    says so).

    Parameters
    ----------
    da : (T, Y, X) DataArray
        The movie (:func:`labelfree.motion.as_movie`).
    extremes : (lows, highs), optional
        :func:`frame_extremes` of the movie, when already read.

    Returns
    -------
    (DataArray, dict or None)
        The movie (its coords and attributes kept), and what was done for the provenance:
        ``{"from": dtype, "times": factor, "to": dtype}``, or None when it is returned as it is.
    """
    dtype = np.dtype(da.dtype)
    if dtype == np.uint8:
        return da, None
    lows, highs = frame_extremes(da.data) if extremes is None else extremes
    scale = integer_scale(da.data, extremes=(lows, highs))
    if scale is None:
        return da, None
    if dtype == np.uint16 and scale == 1:  # 16-bit data stays 16-bit, dim or not (its percentile range, as measured)
        return da, None
    top = round(float(np.max(highs)) * scale) if highs.size else 0
    target = np.dtype(np.uint8 if top <= 255 else np.uint16)
    if target == dtype:
        return da, None
    need, left = int(np.prod(da.shape)) * target.itemsize, _threads.available_memory()
    if left is not None and need > left // 2:  # a memory-mapped movie larger than memory stays streamed
        log.warning("Motion: the %s movie holds whole numbers (times %g), but its %s copy needs %s and "
                    "%s are free: segmented as given (convert it to %s first for the labels of its values "
                    "as integers).", dtype, scale, target, memory_text(need), memory_text(left), target)
        return da, None
    out = np.empty(da.shape, target)
    for t in range(da.shape[0]):  # one frame at a time: a memory-mapped movie is not read whole
        frame = np.asarray(da.data[t])
        out[t] = frame if scale == 1 and dtype.kind in "iu" else np.rint(np.asarray(frame, np.float64) * scale)
    log.info("Motion: the %s movie holds whole numbers (times %g): segmented as %s", dtype, scale, target)
    return da.copy(data=out), {"from": str(dtype), "times": scale, "to": str(target)}


#: the percentiles (low, high) of a movie's pixels mapped to 0 and 255 when its background is dark (fluorescence) ...
DARK_BACKGROUND_PERCENTILES = (0.5, 99.8)
#: ... and when it is grey, with darker and brighter parts of cells on it (phase contrast, brightfield): their bright
#: halos are kept. C2C12 (phase contrast) as 16-bit values (times 256, or a 12-bit camera's gain, bias and dither):
#: object F1 0.094 / 0.133 with the dark background's percentiles, 0.493 / 0.505 with these, 0.524 as 8 bits
GREY_BACKGROUND_PERCENTILES = (0.01, 99.99)
#: a background (the mode of the pixels, :func:`labelfree.noise.half_sample_mode`) is grey when it lies above this
#: fraction of the way from the dark background's low percentile to its high one (fluorescence 0.00-0.10: GOWT1, HeLa,
#: SIM+, laptrack, cho, MSC 0.10; phase contrast 0.34-0.46: C2C12 in 16 bits, trpL) ...
GREY_BACKGROUND_POSITION = 0.2
#: ... and that low percentile lies more than this many noise units under it: darker parts of cells, not the noise
#: of the background (a field of noise alone lies 0.47 of the way, 2.6 units over its low percentile; fluorescence
#: 0-3.8 units; phase contrast 14-24)
GREY_BACKGROUND_DEPTH = 8.0


def grey_background(sample: np.ndarray, /) -> bool:
    """Whether the frames ``sample`` (N, Y, X; every 4th pixel of some frames, as :func:`grey_mapping` reads them)
    show cells on a grey background, with parts darker and brighter than it (phase contrast, brightfield), rather
    than bright cells on a dark one (fluorescence): the background (the mode of the values) lies more than
    :data:`GREY_BACKGROUND_POSITION` of the way from their low percentile to their high one
    (:data:`DARK_BACKGROUND_PERCENTILES`), and that low percentile lies :data:`GREY_BACKGROUND_DEPTH` noise units
    (:func:`labelfree.noise.neighbour_noise`) or more under it."""
    from labelfree.noise import half_sample_mode, neighbour_noise

    values = np.asarray(sample, np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return False
    lo, hi = (float(v) for v in np.percentile(finite, DARK_BACKGROUND_PERCENTILES))
    if hi <= lo:
        return False
    mode = half_sample_mode(finite)
    noise = neighbour_noise(values)
    return bool((mode - lo) / (hi - lo) > GREY_BACKGROUND_POSITION and mode - lo > GREY_BACKGROUND_DEPTH * noise)


def uint8_range(movie, /, *, low: float | None = None, high: float | None = None, max_frames: int = 8,
                skip: Sequence[int] = (), extremes: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
    """Grey values that :func:`to_uint8` maps to 0 and 255, from a subsample of the movie (:func:`grey_mapping`)."""
    lo, hi, _ = grey_mapping(movie, low=low, high=high, max_frames=max_frames, skip=skip, extremes=extremes)
    return lo, hi


def grey_mapping(movie, /, *, low: float | None = None, high: float | None = None, max_frames: int = 8,
                 skip: Sequence[int] = (), extremes: tuple[np.ndarray, np.ndarray] | None = None,
                 ) -> tuple[float, float, tuple[float, float] | None]:
    """Grey values that :func:`to_uint8` maps to 0 and 255, from a subsample of the movie, and the percentiles
    they are (None: the movie's smallest and largest value, not percentiles).

    Parameters
    ----------
    movie : (T, Y, X) array-like (may be memory-mapped)
        The time-lapse.
    low, high : float or None
        Percentiles (0-100) of the pixel values. None (automatic): those of :data:`DARK_BACKGROUND_PERCENTILES`,
        or of :data:`GREY_BACKGROUND_PERCENTILES` when the sample shows cells on a grey background
        (:func:`grey_background`: phase contrast and brightfield, whose bright halos the first would clip).
    max_frames : int
        At most this many evenly spaced frames are read (each subsampled 1 in 4
        along Y and X), so a long memory-mapped movie is not loaded. An 8-bit movie is
        read whole (its smallest and largest value).
    skip : sequence of int
        Frames left out (:func:`blank_frames`: a black or saturated frame would stretch the
        range and squeeze the others into a few grey levels).
    extremes : (lows, highs), optional
        :func:`frame_extremes` of the movie when already read: an 8-bit movie is not read again.

    Returns
    -------
    (lo, hi, percentiles) : float, float, (float, float) or None
        For uint8 input the smallest and largest value of every frame: an 8-bit movie
        is only spread over the whole range, never clipped, so one that already uses
        it (from 0 to 255) is used as it is (as the paper). A dim 8-bit movie (values
        up to 40, say) would otherwise give the flow and the entropy features a few
        grey levels only: Motion found no cell in one that it segments as 16 bits. An
        integer movie of more bits whose values span fewer than 256 levels (a dim camera:
        photon counts 0..5 in 16 bits) is spread as an 8-bit one: its percentiles would clip
        the cells (the 99.8th percentile of such counts is 3), and the same values gave other
        labels in 16 bits than in 8. A float movie of whole numbers, as it was converted or
        divided by 255 or 65535, or of 8-bit values at any scale (:func:`integer_scale`), is judged
        in those whole numbers: float32, float64 and ``img_as_float`` copies of an 8-bit movie get
        its range (in their own values), and so does its ``img_as_uint`` copy (multiples of 257).
    """
    left_out = set(int(t) for t in skip)
    kept = [t for t in range(movie.shape[0]) if t not in left_out] or list(range(movie.shape[0]))
    if np.dtype(movie.dtype) == np.uint8:  # every pixel of every frame: the extremes are not sampled away
        lows, highs = frame_extremes(movie) if extremes is None else extremes
        lo, hi = float(np.min(lows[kept])), float(np.max(highs[kept]))
        return (0.0, 255.0, None) if hi <= lo else (lo, hi, None)
    n = len(kept)
    idx = np.asarray(kept)[np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))]
    # 64-bit floats are sampled as they are: values beyond float32's range or precision (1e300, 1e-300) stay apart
    kind = np.float64 if np.dtype(movie.dtype) == np.float64 else np.float32
    sample = np.stack([np.asarray(movie[i][::4, ::4], dtype=kind) for i in idx])
    # a float movie of whole numbers (as it was converted, or times 255 or 65535: from 8 or 16 bits to 0..1, or
    # 8-bit values at any scale) is judged in those numbers: the same values give the same range whatever their
    # type (integer_scale)
    whole = np.dtype(movie.dtype).kind in "iu"
    step = 1.0 if whole else None  # the value of one grey level
    if not whole or float(sample.max()) - float(sample.min()) < 256 * EIGHT_TO_SIXTEEN_BITS:
        extremes = frame_extremes(movie) if extremes is None else extremes
        scale = integer_scale(movie, extremes=extremes)
        step = step if scale is None else 1.0 / scale
    if step is not None and float(sample.max()) - float(sample.min()) < 256 * step:
        lows, highs = frame_extremes(movie) if extremes is None else extremes
        lo, hi = float(np.min(lows[kept])), float(np.max(highs[kept]))
        if hi - lo < 256 * step:  # no more grey levels than an 8-bit movie: spread as one is, never clipped
            return ((lo, hi) if hi > lo else (lo, lo + step)) + (None,)
    if low is None or high is None:
        auto = GREY_BACKGROUND_PERCENTILES if grey_background(sample) else DARK_BACKGROUND_PERCENTILES
        low, high = auto[0] if low is None else low, auto[1] if high is None else high
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if hi <= lo:
        hi = float(sample.max())
        lo = float(sample.min())
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi, (float(low), float(high))


#: a frame whose mean signal is more than this many times (or less than its inverse) the median of its
#: neighbours' is a frame of another exposure (or lamp power): brought to their brightness. Measured on the
#: benchmark movies as given (docs/motion.md): frames differ from that median by 4 % at most (HeLa's dim
#: first frame: 1.4 x); a frame of 3 x the exposure flooded whole on MSC (pixel F1 0.802 -> 0.512)
EXPOSURE_RATIO = 1.5
#: the neighbourhood of a frame in :func:`exposure_gains`: this many frames before it and after it
_EXPOSURE_REACH = 2


def exposure_gains(movie, /, *, low: float, skip: Sequence[int] = (),
                   means: np.ndarray | None = None) -> np.ndarray:
    """Per frame of a (T, Y, X) movie, the factor that brings a frame of another exposure to its neighbours'.

    A frame's brightness is the mean of its grey values above ``low`` (each frame subsampled 1 in 4 along
    Y and X); its neighbours' is the median over it and the ``2`` frames before and after it (fewer at the
    movie's ends; at least 3 frames). Where the two differ by more than ``EXPOSURE_RATIO`` x, the gain is
    their ratio, else 1: slow bleaching and small flicker are left as they are (Motion's flow and classifier
    bear them), while a frame of another exposure would be classified with the next pair's classifier,
    trained on other grey values, and flood. The gains divide the span ``high - low`` of
    :func:`to_uint8` for that frame (:func:`movie_frame`).

    Parameters
    ----------
    movie : (T, Y, X) array-like (may be memory-mapped)
    low : float
        The grey value that :func:`to_uint8` maps to 0 (:func:`uint8_range`).
    skip : sequence of int
        Frames left out (:func:`blank_frames`): gain 1, and not a neighbour of another.
    means : (T,) array, optional
        :func:`frame_means` of the movie, when already read.

    Returns
    -------
    (T,) float64 array of gains (all 1 for a movie of fewer than 3 usable frames).
    """
    gains, kept = _unit_gains(movie, skip)
    if len(kept) < 3:
        return gains
    levels = _frame_levels(movie, low, kept, means)
    for i, (t, ref) in enumerate(zip(kept, _running_median(levels, _EXPOSURE_REACH))):
        if levels[i] > 0 and ref > 0 and max(ref / levels[i], levels[i] / ref) > EXPOSURE_RATIO:
            gains[t] = ref / levels[i]
    return gains


#: a movie whose brightness trend (:func:`bleaching_gains`) spans more than this factor, brightest against
#: dimmest, is bleaching: its frames are brought to its brightest. Measured on the benchmark movies as given,
#: whole (docs/motion.md): 1.00-1.17 (MSC 1.16, GOWT1 1.10, SIM+ 1.17, HeLa 1.15, trpL 1.00, C2C12 1.00),
#: their clips under +-10 % flicker 1.15-1.29; bleached to 35 % by the last frame 1.84-2.45
BLEACHING_SPAN = 1.5


def _unit_gains(movie, skip: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """Gains of 1 for every frame of ``movie``, and the frames not in ``skip``."""
    left_out = set(int(t) for t in skip)
    return np.ones(movie.shape[0], np.float64), [t for t in range(movie.shape[0]) if t not in left_out]


def _running_median(levels: np.ndarray, reach: int) -> np.ndarray:
    """The median of each value of ``levels`` with the ``reach`` values before and after it; the window of
    ``2 * reach + 1`` values is shifted inwards at the ends (all values when there are fewer)."""
    width = 2 * reach + 1
    starts = [min(max(0, i - reach), max(0, len(levels) - width)) for i in range(len(levels))]
    return np.array([float(np.median(levels[start:start + width])) for start in starts])


def frame_means(movie, /, *, skip: Sequence[int] = ()) -> np.ndarray:
    """The mean grey value of each frame of a (T, Y, X) movie (may be memory-mapped), each subsampled 1 in 4
    along Y and X: the brightness :func:`exposure_gains` and :func:`bleaching_gains` compare. Frames in
    ``skip`` are not read (NaN). Reads those frames once."""
    left_out = set(int(t) for t in skip)
    return np.array([np.nan if t in left_out else float(np.mean(np.asarray(movie[t][::4, ::4], dtype=np.float64)))
                     for t in range(movie.shape[0])])


def _frame_levels(movie, low: float, frames: Sequence[int], means: np.ndarray | None) -> np.ndarray:
    """The mean grey value above ``low`` of each of ``frames`` (:func:`frame_means`, read unless given)."""
    if means is None:
        means = frame_means(movie, skip=sorted(set(range(movie.shape[0])) - set(frames)))
    return np.asarray(means, np.float64)[list(frames)] - low


def bleaching_gains(movie, /, *, low: float, skip: Sequence[int] = (),
                    exposure: np.ndarray | None = None, means: np.ndarray | None = None) -> np.ndarray:
    """Per frame of a (T, Y, X) movie, the factor that brings a bleaching movie back to its brightest.

    A frame's brightness is as in :func:`exposure_gains` (times its gain there: a frame of another exposure
    is not a trend); the movie's trend is their running median over ``2 * reach + 1`` frames (``reach`` =
    an eighth of the movie, at least 2; the window shifted inwards at the movie's ends). Where that trend's
    brightest value is more than ``BLEACHING_SPAN`` x its dimmest (bleaching, a lamp fading), each frame's
    gain is the trend's largest value over its own (1 or more), else every gain is 1: the movies as given,
    their slow drifts and flicker, are left as they are. Bleached, the last frames of an 8-bit movie held a
    third of its grey levels: the flow's thresholds and the area found fell with them. The gains divide the
    span ``high - low`` of :func:`to_uint8` for that frame, as those of :func:`exposure_gains`; the grey
    range (:func:`uint8_range`) stays the movie's.

    Parameters
    ----------
    movie : (T, Y, X) array-like (may be memory-mapped)
    low : float
        The grey value that :func:`to_uint8` maps to 0 (:func:`uint8_range`).
    skip : sequence of int
        Frames left out (:func:`blank_frames`): gain 1, and not part of the trend.
    exposure : (T,) array, optional
        :func:`exposure_gains` of the movie, when taken.
    means : (T,) array, optional
        :func:`frame_means` of the movie, when already read.

    Returns
    -------
    (T,) float64 array of gains (all 1 for a movie of fewer than 5 usable frames).
    """
    gains, kept = _unit_gains(movie, skip)
    reach = max(2, len(kept) // 8)
    width = 2 * reach + 1
    if len(kept) < width:
        return gains
    levels = _frame_levels(movie, low, kept, means)
    if exposure is not None:
        levels = levels * np.asarray(exposure, np.float64)[kept]
    trend = _running_median(levels, reach)
    if np.min(trend) <= 0 or np.max(trend) <= BLEACHING_SPAN * np.min(trend):
        return gains
    gains[kept] = np.max(trend) / trend
    return gains


def frame_high(high: float | Sequence[float], t: int, /) -> float:
    """The grey value mapped to 255 in frame ``t``: ``high`` itself, or its ``t``-th value when per frame."""
    return float(high) if np.ndim(high) == 0 else float(high[t])


def to_uint8(frame: np.ndarray, /, *, low: float, high: float) -> np.ndarray:
    """Map grey values ``low..high`` linearly to 0..255 (clipped), as uint8.

    Parameters
    ----------
    frame : (Y, X) array
        One frame of any real dtype.
    low, high : float
        Grey values that become 0 and 255 (from :func:`uint8_range`).

    Returns
    -------
    (Y, X) uint8 array (a new array; ``frame`` is not modified).
    """
    arr = np.asarray(frame)
    if arr.dtype == np.uint8 and low == 0 and high == 255:
        return arr.copy()
    scale = 255.0 / (high - low)
    if arr.dtype == np.float64:  # mapped in 64 bits: a float32 cast first would overflow 1e300 or merge 1e-300
        return np.rint(np.clip((arr - low) * scale, 0, 255)).astype(np.uint8)
    out = cv2.convertScaleAbs(arr.astype(np.float32, copy=False), alpha=scale, beta=-low * scale)
    if low > 0 or arr.dtype.kind == "f":  # convertScaleAbs takes |x|: values below low must be 0
        out[arr < low] = 0
    return out


#: the eight neighbours of a pixel
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8)
#: a pixel is a hot (cold) pixel when it stands above (below) all eight neighbours by more than
#: this many times their own spread, and by more than ``_SPIKE_MIN_LEVELS`` grey levels. Measured
#: on 10 frames of each benchmark movie: such pixels come one at a time, never twice in a place
#: (MSC 0-5 per frame, GOWT1 1-5, HeLa, SIM+, C2C12, trpL and the synthetic movie 0-1); a stuck
#: camera pixel stands 100 x and more above a dark background
_SPIKE_RATIO = 6
_SPIKE_MIN_LEVELS = 16


def repair_hot_pixels(frame: np.ndarray, /, *, step: float = 1.0) -> tuple[np.ndarray, int]:
    """Replace isolated hot and cold pixels of a uint8 frame by the median of their 3 x 3 window.

    A hot pixel (a stuck sCMOS or CCD pixel, a cosmic ray) stands far above all eight of its
    neighbours; a cold (dead) one far below. No cell of a time-lapse is one pixel, but such a
    pixel is the sharpest edge of its frame: it changes the entropy and gradient features of its
    window and, among the few still background pixels of a sparse field, it can teach the
    classifier that background looks like cell. A pixel is repaired when it lies above (below)
    every neighbour by more than ``6 x`` their spread (largest minus smallest, plus two levels of
    the movie) and by more than 16 grey levels; the frame's edges are mirrored.

    Parameters
    ----------
    frame : (Y, X) uint8 array
    step : float
        Grey levels of the uint8 frame per level of the movie it came from (:func:`grey_step`): a
        dim integer movie spread over the uint8 range (values 0-23: 11 grey levels each) has
        single photons of 11 levels and more on a black background, which are its noise, not hot
        pixels (a GOWT1 crop: 4349 such pixels in 6 frames with a step of 1, none with its own).

    Returns
    -------
    (Y, X) uint8 array and the number of pixels repaired (``frame`` itself when none was; else a new
    array; ``frame`` is never modified).
    """
    if frame.dtype != np.uint8 or frame.ndim != 2:
        raise InputError(f"repair_hot_pixels needs a (Y, X) uint8 frame, not {frame.dtype} {frame.shape}; "
                         "scale it first with labelfree.motion.to_uint8.")
    if min(frame.shape) < 3:
        return frame, 0
    bad = _spikes(frame.astype(np.float32), floor=2 * max(float(step), 1.0))
    count = int(np.count_nonzero(bad))
    if not count:
        return frame, 0
    out = frame.copy()
    out[bad] = cv2.medianBlur(frame, 3)[bad]
    return out, count


def _spikes(value: np.ndarray, *, floor: float) -> np.ndarray:
    """The pixels of a float frame in uint8 grey levels (not clipped) that stand above (below) all eight
    neighbours by more than ``_SPIKE_RATIO`` x (their spread + ``floor``) and ``_SPIKE_MIN_LEVELS``."""
    high = cv2.dilate(value, _RING, borderType=cv2.BORDER_REFLECT_101)
    low = cv2.erode(value, _RING, borderType=cv2.BORDER_REFLECT_101)
    spread = _SPIKE_RATIO * (high - low + floor)
    above, below = value - high, low - value
    return ((above > spread) & (above > _SPIKE_MIN_LEVELS)) | ((below > spread) & (below > _SPIKE_MIN_LEVELS))


def grey_step(dtype: Any, /, *, low: float, high: float) -> float:
    """Grey levels of a :func:`to_uint8` frame per level of an integer movie of range ``low..high``
    (at least 1; 1 for a float movie, which has no levels)."""
    if np.dtype(dtype).kind not in "iub" or high <= low:
        return 1.0
    return max(1.0, 255.0 / (high - low))


def motion_uint8(raw: np.ndarray, /, *, low: float, high: float) -> tuple[np.ndarray, int]:
    """A frame of a movie as every step of Motion sees it: hot and cold pixels repaired
    (:func:`repair_raw_hot_pixels`), then :func:`to_uint8` with the movie's range ``low..high``; and how
    many pixels were repaired."""
    fixed, count = repair_raw_hot_pixels(raw, low=low, high=high)
    return to_uint8(fixed, low=low, high=high), count


def repair_raw_hot_pixels(raw: np.ndarray, /, *, low: float, high: float) -> tuple[np.ndarray, int]:
    """Replace isolated hot and cold pixels of a frame of any dtype by the median of their 3 x 3 window.

    The rule of :func:`repair_hot_pixels`, in the grey levels of :func:`to_uint8` with the movie's range
    ``low..high`` but not clipped to 0..255: a stuck pixel far beyond the range keeps its height
    (clipped at 255 beside a dim cell it stood less than 6 x its neighbours' spread above them, and a
    HeLa frame kept it). ``raw`` is never modified; it is returned itself when no pixel is repaired.
    Also used before a movie is enlarged (the automatic ``upsample``): enlarged, a hot pixel is a 2 x 2
    blob that no neighbour test finds.
    """
    frame = np.asarray(raw)
    if frame.ndim != 2 or min(frame.shape) < 3 or not high > low:
        return frame, 0
    exact = frame.dtype.itemsize <= 2 and frame.dtype.kind in "iub"  # float32 holds every value exactly
    value = frame.astype(np.float32 if exact else np.float64)
    value -= low
    value *= 255.0 / (high - low)
    bad = _spikes(value, floor=2 * grey_step(frame.dtype, low=low, high=high))
    count = int(np.count_nonzero(bad))
    if not count:
        return frame, 0
    ys, xs = np.nonzero(bad)
    padded = np.pad(frame, 1, mode="reflect")
    windows = np.stack([padded[ys + dy, xs + dx] for dy in range(3) for dx in range(3)])
    out = frame.copy()
    out[ys, xs] = np.median(windows, axis=0).astype(frame.dtype)
    return out, count


def movie_frame(da: xr.DataArray, t: int, /, *, low: float,
                high: float | Sequence[float]) -> tuple[np.ndarray, int]:
    """Frame ``t`` of a movie as :func:`motion_uint8` makes it; ``high`` may be per frame (:func:`exposure_gains`)."""
    return motion_uint8(_frame(da, t), low=low, high=frame_high(high, t))


def _check_pair(prev: np.ndarray, nxt: np.ndarray) -> None:
    for name, a in (("prev", prev), ("next", nxt)):
        if a.ndim != 2 or a.dtype != np.uint8:
            raise InputError(f"farneback_flow needs (Y, X) uint8 frames; {name} is {a.dtype} {a.shape}. "
                             "OpenCV's Farnebaeck flow is ~0 on float images in [0, 1]; use to_uint8.")
    if prev.shape != nxt.shape:
        raise DimensionError(f"Frames of a pair differ in size: {prev.shape} vs {nxt.shape}.")


def farneback_flow(prev: np.ndarray, next: np.ndarray, /, *, config: MotionConfig | None = None) -> np.ndarray:
    """Dense multi-resolution Farnebaeck optical flow from ``prev`` to ``next``.

    Parameters
    ----------
    prev, next : (Y, X) uint8 arrays
        Two frames of the same size.
    config : MotionConfig, optional
        Flow parameters (``flow_method``, ``flow_engine``, ``pyr_scale``, ``levels``,
        ``winsize``, ``iterations``, ``fine_iterations``, ``poly_n``, ``poly_sigma``,
        ``flow_blur``, ``flow_downsample``); the Farnebaeck parameters are the paper's.

    Returns
    -------
    (Y, X, 2) float32 array of (dx, dy) displacements in pixels per frame, on the
    grid of ``prev``: ``prev[y, x]`` is found at ``next[y + dy, x + dx]``.
    """
    cfg = config or MotionConfig()
    prev, nxt = np.asarray(prev), np.asarray(next)
    _check_pair(prev, nxt)
    check_binning(nxt.shape, cfg)
    return _flow(_flow_input(prev, cfg), _flow_input(nxt, cfg), nxt.shape, cfg)


#: most binning of the automatic flow_downsample
MAX_DOWNSAMPLE = 4
#: the shorter side (px) a binned frame keeps at least: the flow of 128 px frames binned to 16 px
#: still found the cells' motion (2.4 px/frame), binned to 8 px it fell to 0.5, to 4 px to nothing
MIN_BINNED_SIDE = 16


def check_binning(shape: tuple[int, ...], cfg: MotionConfig, /) -> None:
    """Refuse a given ``flow_downsample`` that bins frames of ``shape`` (Y, X) below
    :data:`MIN_BINNED_SIDE` px a side: no motion could be measured on them (before, every pair
    was taken for a still one and the labels were empty, "No motion found")."""
    k = int(cfg.flow_downsample or 1)
    h, w = shape[-2:]
    if k > 1 and min(h, w) // k < MIN_BINNED_SIDE:
        most = max(1, min(h, w) // MIN_BINNED_SIDE)
        raise ConfigError(
            f"MotionConfig.flow_downsample={k} bins the {h} x {w} px frames to {max(1, h // k)} x {max(1, w // k)} "
            f"px, too small for the optical flow (at least {MIN_BINNED_SIDE} px a side); use at most {most} "
            "for these frames (1 = full resolution), or null (automatic)."
        )


def auto_downsample(cell_area: float, /, *, min_radius: float) -> int:
    """Binning k (1, 2 or 4) of the flow for cells of typical area ``cell_area`` (px).

    The largest power of two that keeps the cells' radius at least ``min_radius`` px on
    the binned frame (at most :data:`MAX_DOWNSAMPLE`).
    """
    radius = float(np.sqrt(max(float(cell_area), 0.0) / np.pi))
    k = 1
    while 2 * k <= MAX_DOWNSAMPLE and radius / (2 * k) >= min_radius:
        k *= 2
    return k


def binned_flow_config(cfg: MotionConfig, k: int, /) -> MotionConfig:
    """The flow settings of a flow on ``k`` x ``k`` binned frames that covers the same area of the
    full frame as ``cfg``'s: the window divided by k, one pyramid level less per halving."""
    if k <= 1:
        return cfg.replace(flow_downsample=1)
    drop = int(round(np.log(k) / np.log(1 / cfg.pyr_scale)))
    return cfg.replace(flow_downsample=k, winsize=max(5, int(round(cfg.winsize / k))),
                       levels=max(0, cfg.levels - drop))


@dataclasses.dataclass(frozen=True)
class _FlowFrame:
    """One frame as the flow sees it (:func:`_flow_input`)."""

    image: np.ndarray  #: uint8, blurred and binned
    expansion: tuple[np.ndarray, ...] | None  #: its polynomial expansions (flow_engine 'labelfree')


def _flow_input(frame: np.ndarray, cfg: MotionConfig, pool: BufferPool | None = None) -> _FlowFrame:
    """One uint8 frame as the flow of :func:`farneback_flow` sees it: blurred, binned and,
    for labelfree's Farnebaeck, expanded into polynomials at every pyramid level.

    A movie's frames each take part in two pairs; ``segment`` prepares each once. With a
    ``pool``, the expansion's arrays come from it and go back when the frame is dropped.
    """
    if cfg.flow_blur > 0 and frame.any():  # a blank frame stays blank
        frame = cv2.GaussianBlur(frame, (0, 0), cfg.flow_blur)
    k = int(cfg.flow_downsample or 1)
    if k > 1:  # bin k x k (the blur already removed the finer detail)
        h, w = frame.shape
        frame = cv2.resize(frame, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    if cfg.flow_method != "farneback" or cfg.flow_engine != "labelfree":
        return _FlowFrame(frame, None)
    expansion = expansion_pyramid(frame, pyr_scale=cfg.pyr_scale, levels=cfg.levels, poly_n=cfg.poly_n,
                                  poly_sigma=cfg.poly_sigma, pool=pool)
    prepared = _FlowFrame(frame, expansion)
    if pool is not None:  # the arrays go back once no pair can use this frame any more
        weakref.finalize(prepared, pool.give, *expansion)
    return prepared


def _flow(prev: _FlowFrame, nxt: _FlowFrame, shape: tuple[int, int], cfg: MotionConfig) -> np.ndarray:
    """The flow between two prepared frames (:func:`_flow_input`), on the full ``shape`` grid."""
    if cfg.flow_method == "dis":
        flow = cv2.DISOpticalFlow_create(_DIS_PRESETS[cfg.dis_preset]).calc(prev.image, nxt.image, None)
    elif prev.expansion is not None and nxt.expansion is not None:
        flow = flow_from_expansions(prev.expansion, nxt.expansion, pyr_scale=cfg.pyr_scale, winsize=cfg.winsize,
                                    iterations=cfg.iterations, fine_iterations=cfg.fine_iterations)
    else:
        flow = _farneback(prev.image, nxt.image, cfg)
    h, w = shape
    if flow.shape[:2] != (h, w):  # binned: back to full size, displacements in full-size pixels
        sy, sx = h / flow.shape[0], w / flow.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow *= np.float32(sx), np.float32(sy)
    return flow


def _farneback(prev: np.ndarray, nxt: np.ndarray, cfg: MotionConfig) -> np.ndarray:
    """OpenCV's Farnebaeck flow with ``cfg``'s parameters; ``fine_iterations`` at the finest level.

    With ``fine_iterations`` equal to ``iterations`` (or None) this is the single OpenCV call
    of the paper. Otherwise the coarser levels are one call on the frames scaled by
    ``pyr_scale`` (area averaging, the size OpenCV's own pyramid gives that level), and
    their flow, scaled up, starts the finest level, which runs ``fine_iterations``
    iterations: OpenCV's pyramid, but with fewer iterations where they cost most.
    """
    args = (cfg.winsize, cfg.iterations, cfg.poly_n, cfg.poly_sigma)
    fine = cfg.iterations if cfg.fine_iterations is None else cfg.fine_iterations
    if fine == cfg.iterations or cfg.levels == 0:
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, cfg.pyr_scale, cfg.levels, cfg.winsize, fine,
                                            cfg.poly_n, cfg.poly_sigma, 0)
    h, w = prev.shape
    sizes = pyramid_sizes((h, w), pyr_scale=cfg.pyr_scale, levels=1)
    if len(sizes) == 1:  # no coarser level: OpenCV's pyramid stops below 32 px
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, cfg.pyr_scale, 0, cfg.winsize, fine,
                                            cfg.poly_n, cfg.poly_sigma, 0)
    size = sizes[1][::-1]  # (X, Y) of the next level
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in (prev, nxt)]
    coarse = cv2.calcOpticalFlowFarneback(*small, None, cfg.pyr_scale, cfg.levels - 1, *args, 0)
    flow = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    flow *= np.float32(w / size[0]), np.float32(h / size[1])
    return cv2.calcOpticalFlowFarneback(prev, nxt, flow, cfg.pyr_scale, 0, cfg.winsize, fine, cfg.poly_n,
                                        cfg.poly_sigma, cv2.OPTFLOW_USE_INITIAL_FLOW)


def flow_magnitude(flow: np.ndarray, /) -> np.ndarray:
    """Speed ``sqrt(dx**2 + dy**2)`` of a (Y, X, 2) flow, in pixels per frame, float32 (Y, X)."""
    f = np.asarray(flow, np.float32)
    if f.ndim != 3 or f.shape[-1] != 2:
        raise DimensionError(f"flow must have shape (Y, X, 2); got {f.shape}.")
    # squares, sum and square root each correctly rounded: the same value on every run
    # (cv2.magnitude's SIMD path differs in the last bit with memory alignment), and faster
    return _speed(np.ascontiguousarray(f))


@njit(nogil=True, boundscheck=False)  # no fastmath: IEEE float32 as written
def _speed(f):  # pragma: no cover - compiled
    h, w = f.shape[:2]
    out = np.empty((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            dx = f[y, x, 0]
            dy = f[y, x, 1]
            out[y, x] = np.sqrt(dx * dx + dy * dy)
    return out


#: below this speed (px/frame) everywhere, a frame pair counts as motionless
STILL = 0.01


def flow_settings(da: xr.DataArray, cfg: MotionConfig, /, *, low: float, high: float | Sequence[float],
                  skip: Sequence[int] = ()
                  ) -> tuple[MotionConfig, dict[int, np.ndarray]]:
    """The flow settings of every pair of the movie, and the flows computed to choose them.

    A given ``flow_downsample`` is used as it is. Automatic (None): the binning comes from
    the typical cell area (:func:`labelfree.motion.flow.auto_downsample`), which is
    ``min_size / min_size_fraction`` when ``min_size`` is given, else the flow-only size
    estimate of the first moving pair, computed here at full resolution; that flow is
    returned (by its frame t) for the pipeline to use as it is. The window and pyramid of
    a binned flow are scaled to the binning (:func:`labelfree.motion.flow.binned_flow_config`).
    A pair with a frame of ``skip`` (:func:`blank_frames`) measures nothing: its flow against a
    blank frame is no cell's motion.
    """
    if cfg.flow_downsample is not None:
        check_binning((da.sizes["Y"], da.sizes["X"]), cfg)
        return cfg, {}
    if cfg.min_size is not None:
        k = auto_downsample(cfg.min_size / cfg.min_size_fraction, min_radius=cfg.flow_downsample_radius)
        return binned_flow_config(cfg, k), {}
    full = cfg.replace(flow_downsample=1)
    shape = (da.sizes["Y"], da.sizes["X"])
    first, _ = movie_frame(da, 0, low=low, high=high)
    ref = _flow_input(first if cfg.flow_reference == "previous" else np.zeros_like(first), full)
    left_out = set(int(t) for t in skip)
    for t in range(1, da.sizes["T"]):
        cur = _flow_input(movie_frame(da, t, low=low, high=high)[0], full)
        if t in left_out or t - 1 in left_out:
            if cfg.flow_reference == "previous":
                ref = cur
            continue
        flow = _flow(cur, ref, shape, full)
        mag = flow_magnitude(flow)
        if float(mag.max()) > STILL:
            area = flow_only_min_size(mag, config=full) / cfg.min_size_fraction
            return binned_flow_config(cfg, auto_downsample(area, min_radius=cfg.flow_downsample_radius)), {t: flow}
        if cfg.flow_reference == "previous":
            ref = cur
    return full, {}


#: most enlargement of the automatic upsample
MAX_UPSAMPLE = 2


def auto_upsample(cell_area: float, /, *, radius: float) -> int:
    """Enlargement k (1 or 2) for cells of typical area ``cell_area`` (px): the power of two that
    brings their radius nearest (as a ratio) to ``radius`` px without shrinking them; 2 below
    ``radius / sqrt(2)``. The mirror of :func:`auto_downsample` for small cells."""
    r = float(np.sqrt(max(float(cell_area), 0.0) / np.pi))
    k = 1
    while 2 * k <= MAX_UPSAMPLE and 0.0 < r * k < radius / np.sqrt(2.0):
        k *= 2
    return k


def flow_magnitude_stack(movie, /, *, config: MotionConfig | dict | None = None, out: Any = None) -> xr.DataArray:
    """Flow magnitude of every frame t against frame t-1, as a TYX float32 DataArray.

    Parameters
    ----------
    movie : (T, Y, X) array or DataArray
        Time-lapse with T >= 2.
    config : MotionConfig, dict or None
    out : (T, Y, X) float32 array, optional
        Where the speeds are written, frame by frame (e.g. a memory-mapped TIFF, so that a long movie's are never
        all in memory); default: a new array.

    Returns
    -------
    xarray.DataArray
        TYX float32 speeds in pixels per frame, with the movie's coords. Frame 0
        has no predecessor and repeats frame 1's magnitude. The frames are mapped to
        8 bits as :func:`labelfree.motion.segment` maps them: a blank frame
        (:func:`blank_frames`) does not stretch the grey range of the others.

    Raises
    ------
    NonFiniteError
        The movie holds no finite pixel (NaN/inf pixels are filled as :func:`labelfree.motion.segment` fills them).
    """
    from labelfree.motion.movie import as_movie

    cfg = MotionConfig.coerce(config)
    da = as_movie(movie)
    extremes = frame_extremes(da.data)
    da, converted = integer_movie(da, extremes=extremes)  # the same values, whatever their type: as segment
    if converted is not None:
        extremes = frame_extremes(da.data)
    blank = blank_frames(da.data, extremes=extremes)
    lo, hi = uint8_range(da.data, low=cfg.scale_low_percentile, high=cfg.scale_high_percentile, skip=blank,
                         extremes=extremes)
    if out is None:
        out = np.empty(da.shape, np.float32)
    elif tuple(out.shape) != tuple(da.shape) or np.dtype(out.dtype) != np.float32:
        raise ValueError(f"out has shape {tuple(out.shape)} and type {out.dtype}; expected {tuple(da.shape)} float32")
    buffers = BufferPool()  # the frames' expansions, reused as in segment
    with retained_heap():  # the same large buffers for every pair (see labelfree._heap)
        cfg, flows = flow_settings(da, cfg, low=lo, high=hi, skip=blank)  # as segment: automatic flow_downsample
        prev, _ = movie_frame(da, 0, low=lo, high=hi)
        ref = _flow_input(prev if cfg.flow_reference == "previous" else np.zeros_like(prev), cfg, buffers)
        for t in range(1, da.shape[0]):
            cur = _flow_input(movie_frame(da, t, low=lo, high=hi)[0], cfg, buffers)
            out[t] = flow_magnitude(flows.pop(t) if t in flows else _flow(cur, ref, da.shape[1:], cfg))
            if cfg.flow_reference == "previous":
                ref = cur
    out[0] = out[1]
    res = xr.DataArray(out, dims=da.dims, coords=da.coords, name="flow_magnitude")
    res.attrs["units"] = "pixel/frame"
    return res


def write_flow_stack(path: str | Path, movie: Any, /, *, labels: Any = None, config: MotionConfig | dict | None = None,
                     recorded: FlowRecording | None = None) -> Path:
    """Write the flow speed of every frame (:func:`flow_magnitude_stack`) as a float32 ImageJ TIFF.

    The movie's calibration is kept; the values are pixels per frame. ``labels`` is
    accepted so the function can serve as an extra output of the pipeline: given, the run that made them
    has said already what it filled of the movie's NaN/inf pixels (:class:`labelfree.errors.MissingPixelsWarning`
    is not given twice). ``path`` ends with ``.tif`` or ``.tiff`` (any case), else an OutputError before any work.

    ``recorded``: a :class:`labelfree.motion.flow_record.FlowRecording` entered around the run that segmented
    ``movie`` with ``config`` (``labelfree motion --flow`` enters one): the speeds that run computed are
    written, the same file without reading the movie or computing its flow again. Where the run kept none
    (drift corrected, enlarged, frames of other brightness, another movie or config) they are computed here.
    """
    import warnings

    import tifffile

    from labelfree.errors import MissingPixelsWarning

    from labelfree.io.atomic import atomic_path, check_file_suffix
    from labelfree.io.labels_tiff import LABELS_SUFFIXES, imagej_calibration, imagej_file_options

    path = check_file_suffix(path, suffixes=LABELS_SUFFIXES, refused=(".ome.tif", ".ome.tiff"),
                             what="flow speed file", writes="an ImageJ hyperstack TIFF")
    flow = None if recorded is None else recorded.speeds(movie, config=config)
    with warnings.catch_warnings():
        if labels is not None:  # the extra output of a run, which gave this warning for the same movie
            warnings.simplefilter("ignore", MissingPixelsWarning)
        if flow is None and _flow_bytes(movie) > FLOW_IN_MEMORY_BYTES:
            return _write_flow_in_place(path, movie, config=config)
        if flow is None:
            flow = flow_magnitude_stack(movie, config=config)
    resolution, meta = imagej_calibration(flow)
    with atomic_path(path) as tmp, imagej_file_options(path, flow.shape, np.float32) as large:
        tifffile.imwrite(tmp, flow.values, imagej=True, resolution=resolution,
                         metadata={**meta, "axes": "TYX", "Info": "flow speed in pixel/frame"}, **large)
    return Path(path)


#: a flow speed stack of more bytes than this that the writer computes is written into its file frame by frame
#: (the file memory-mapped), not made in memory first: a long movie's speeds (4 bytes a pixel) need not fit
FLOW_IN_MEMORY_BYTES = 256 * 2**20


def _flow_bytes(movie: Any, /) -> int:
    """Bytes of the float32 speeds of ``movie``."""
    import math

    sizes = movie.sizes if isinstance(movie, xr.DataArray) else dict(zip("TYX", np.shape(movie)))
    return 4 * math.prod(int(n) for d, n in sizes.items() if d in ("T", "Y", "X"))


def _write_flow_in_place(path: str | Path, movie: Any, /, *, config: Any) -> Path:
    """:func:`write_flow_stack` of speeds computed into the file itself: an ImageJ TIFF made at its full size and
    memory-mapped, filled frame by frame (its written pages go to the file), then put in place whole."""
    import tifffile

    from labelfree.io.atomic import atomic_path
    from labelfree.io.labels_tiff import imagej_calibration, imagej_file_options
    from labelfree.motion.movie import as_movie

    da = as_movie(movie)
    resolution, meta = imagej_calibration(da)
    with atomic_path(path) as tmp, imagej_file_options(path, tuple(da.shape), np.float32) as large:
        speeds = tifffile.memmap(tmp, shape=tuple(da.shape), dtype=np.float32, imagej=True, resolution=resolution,
                                 metadata={**meta, "axes": "TYX", "Info": "flow speed in pixel/frame"}, **large)
        try:
            flow_magnitude_stack(da, config=config, out=speeds)
            speeds.flush()
        finally:
            del speeds
    return Path(path)


#: as an extra output of the pipeline (``labelfree motion --flow``), entered around the run: what it keeps of
#: the run is handed to the writer as ``recorded`` (labelfree.cli_core)
write_flow_stack.recording = FlowRecording  # type: ignore[attr-defined]


def plot_flow_field(
    flow: np.ndarray,
    path: str | Path,
    /,
    *,
    image: np.ndarray | None = None,
    step: int = 16,
    scale: float | None = None,
) -> Path:
    """Write a PNG of the flow vectors (arrows every ``step`` px) over ``image``.

    Needs matplotlib (``pip install matplotlib``); raises
    :class:`~labelfree.errors.MissingDependencyError` naming that command otherwise.

    Parameters
    ----------
    flow : (Y, X, 2) array
        (dx, dy) in pixels per frame, e.g. from :func:`farneback_flow`.
    path : str or Path
        Output PNG file (written atomically).
    image : (Y, X) array, optional
        Background shown in grey.
    step : int
        Arrow spacing in pixels.
    scale : float, optional
        matplotlib ``quiver`` scale (None: automatic).
    """
    from labelfree._deps import require

    require("matplotlib", purpose="flow vector plots")
    # a Figure of its own, without pyplot: the caller's backend (a notebook's, a GUI's) is left as it is
    from matplotlib.figure import Figure

    from labelfree.io.atomic import atomic_path, check_file_suffix

    path = check_file_suffix(path, suffixes=(".png",), what="flow plot", writes="a PNG picture")
    f = np.asarray(flow, np.float32)
    if f.ndim != 3 or f.shape[-1] != 2:
        raise DimensionError(f"flow must have shape (Y, X, 2); got {f.shape}.")
    ys, xs = np.mgrid[step // 2 : f.shape[0] : step, step // 2 : f.shape[1] : step]
    fig = Figure(figsize=(8, 8 * f.shape[0] / f.shape[1]))
    ax = fig.subplots()
    if image is not None:
        ax.imshow(np.asarray(image), cmap="gray")
    ax.quiver(xs, ys, f[ys, xs, 0], f[ys, xs, 1], flow_magnitude(f)[ys, xs], angles="xy", scale=scale,
              cmap="viridis")
    ax.set_xlim(0, f.shape[1]), ax.set_ylim(f.shape[0], 0), ax.set_axis_off()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    return path
