"""Inputs of one Cutter frame: cell channels, markers, foreground mask, downscaling."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from labelfree._warn_place import user_stacklevel
from labelfree.cutter.config import CutterConfig
from labelfree.cutter.dataset import PatchSet, build_patch_set
from labelfree.cutter.graphcut import (
    _graph_cut_taken, local_contrast_probability, normalize_intensity, snr_probability,
)
from labelfree.cutter.markers import (
    MarkerWarning, check_markers, detect_markers, is_dense_field, label_centroids, looks_swapped, marker_label_image,
    marker_pixels, on_foreground, points_array,
)
from labelfree.errors import ConfigError, DimensionError, InputError
from labelfree.image import channel_index, channel_names, select_channel
from labelfree.io.markers import is_table, points_from_table
from labelfree.labels import fill_holes
from labelfree.noise import lower_side_noise, without_edge_bands

__all__ = [
    "Frame", "MarkerWarning", "cell_channels", "chosen_cell_channels", "check_downscale", "check_marker_frames",
    "choose_peak_window", "downscaled_shape",
    "frame_markers",
    "foreground_mask", "keep_marked_regions", "frame_markers_and_mask", "marker_coverage", "peak_window_trial",
    "prepare_frame", "widest_covering_window",
    "one_warning_for_unmarked_frames", "recording_dense_fields",
    "warn_markers_on_background",
]


#: the frames whose foreground mask measured against the noise of the background's dark side
#: (:func:`recording_dense_fields`), and the frame whose mask is being made (:func:`frame_markers_and_mask`)
_DENSE_FRAMES: contextvars.ContextVar[set | None] = contextvars.ContextVar("labelfree_dense_fields", default=None)
_MASKING_FRAME: contextvars.ContextVar[int | None] = contextvars.ContextVar("labelfree_masking_frame", default=None)


@contextlib.contextmanager
def recording_dense_fields() -> Iterator[set]:
    """Note, while the block runs, the frames (0-based; None for an image) whose foreground mask was measured
    against the noise of the background's dark side (a dense field: :func:`_dense_levels`); a set, so that a frame
    masked again (the automatic scale's probe, then the run's) counts once."""
    frames: set = set()
    token = _DENSE_FRAMES.set(frames)
    try:
        yield frames
    finally:
        _DENSE_FRAMES.reset(token)


#: smoothing (px) of the masks on which the automatic smoothing is measured
_PROBE_SMOOTHING = 2.0
#: the windows (px) the automatic ``mask_peak_window`` tries, the default first
PEAK_WINDOWS = (9, 7, 5, 3)
#: automatic ``mask_ridges``: on when the median solidity of the marked cells lies below this (nuclei:
#: 0.95-0.98 on the benchmark sets; whole MSC cells with protrusions 0.79)
RIDGE_SOLIDITY = 0.9
#: a ridge pixel: the most negative Hessian eigenvalue at the mask smoothing lies this many robust noise
#: units (1.4826 MAD of that eigenvalue over the frame) below its median ...
RIDGE_DEPTH = 2.5
#: ... and the smoothed intensity this many noise units above the background
RIDGE_FLOOR = 0.5
#: the ridge test's scale is at most this fraction of the typical cell radius (:func:`ridge_sigma`), but not
#: under RIDGE_MIN_SIGMA px (finer, faint processes 3 noise units bright are lost in the noise of the test)
RIDGE_PER_RADIUS = 1.0 / 25.0
RIDGE_MIN_SIGMA = 2.0
#: the automatic window is the largest whose marker coverage is within this fraction of the best window's
PEAK_WINDOW_GAIN = 0.02
#: ... among the windows that call at most this many typical cells' worth of pixels more than the largest for each
#: marker they add (:func:`choose_peak_window`): GOWT1 and SIM+ at half size, where a smaller window is right,
#: 0.5-1.8 (3.9 for SIM+'s 3 px, not chosen); BBBC007, where it calls the glow of every nucleus, 8.8-108
PEAK_WINDOW_GROWTH = 4.0


@dataclasses.dataclass
class Frame:
    """One prepared frame: full-resolution shape, marker ids and the patch set.

    ``box``: the (Y, X) slices of the frame that the patch set covers when Cutter ran on the part
    of an input inside its constant canvas (:mod:`labelfree.cutter.canvas`; None: the whole
    frame); shape, mask, markers, signal and blobs are in the input's pixels either way. ``blobs``: the frame's
    marker label image (Y, X) when the markers were given as one (their blobs are pixels of the cells they mark;
    :func:`labelfree.cutter.refine.redraw_boundaries`), else None.
    """

    shape: tuple[int, int]
    ids: np.ndarray
    patch_set: PatchSet
    mask: np.ndarray
    downscale: float = 1
    markers: np.ndarray | None = None
    signal: np.ndarray | None = None
    scale: tuple[float, float] | None = None
    box: tuple[slice, slice] | None = None
    blobs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.scale is None:  # output pixels per patch pixel along (Y, X)
            self.scale = (float(self.downscale), float(self.downscale))


def chosen_cell_channels(image: xr.DataArray, config: CutterConfig, /) -> list[int | str]:
    """The channels (indices or names) of an image with a C axis that are fed to the network: the
    ``cell_channels``, else every channel but the nucleus channel (every one when it is the only one)."""
    chosen = list(config.cell_channels)
    if not chosen:
        names = channel_names(image)
        skip = None
        if config.nucleus_channel is not None:
            skip = channel_index(image, config.nucleus_channel)  # InputError naming the channels when absent
        chosen = [i for i in range(len(names)) if i != skip] or list(range(len(names)))
    return chosen


def cell_channels(frame: xr.DataArray, config: CutterConfig, /) -> np.ndarray:
    """The channels fed to the network, as (C, Y, X) float32.

    An image without a C axis is its own cell channel: ``cell_channels`` set to anything but
    that one channel (index 0 or its name) is an error naming what it has.
    """
    if "C" not in frame.dims:
        for c in config.cell_channels:
            select_channel(frame, c)  # DimensionError: the image has one channel only
        return np.asarray(frame.values, np.float32)[None]
    return np.stack([np.asarray(select_channel(frame, c).values, np.float32)
                     for c in chosen_cell_channels(frame, config)])


def _is_label_image(markers: Any, shape: tuple[int, ...]) -> bool:
    arr = np.asarray(markers)
    return arr.ndim >= 2 and arr.shape[-2:] == tuple(shape[-2:]) and arr.dtype.kind in "iubf"


def frame_markers(
    markers: Any, frame: xr.DataArray, config: CutterConfig, /, *, t: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Markers (N, 2) (y, x) and their ids for one frame.

    ``markers`` may be None (detect in ``config.nucleus_channel``, or in the image
    itself when it has one channel and no nucleus channel is set), an (N, 2)
    array of (y, x) points, an (N, 3) array of (t, y, x) points for stacks, a
    table (DataFrame or dict of columns, read by
    :func:`labelfree.io.markers.points_from_table`), or a (Y, X) or (T, Y, X)
    label image (per-frame lists are split by the caller).
    """
    pts, ids, _ = _frame_markers(markers, frame, config, t=t)
    return pts, ids


def _frame_markers(
    markers: Any, frame: xr.DataArray, config: CutterConfig, /, *, t: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`frame_markers`, and the frame's marker label image (Y, X) when the markers were given as one (its
    blobs, :func:`labelfree.cutter.markers.marker_label_image`; None for points and detected markers)."""
    shape = (frame.sizes["Y"], frame.sizes["X"])
    if is_table(markers):  # the frames of a movie's table are checked by check_marker_frames
        markers = points_from_table(markers, image=frame, shape=shape if t is None else (None, *shape))
    if markers is None:
        channels = frame.sizes.get("C", 1)
        if config.nucleus_channel is None and channels > 1:
            raise InputError(
                f"Cutter needs one marker per cell: give markers= (points or a nucleus label image), or set "
                f"nucleus_channel to the one of this image's {channels} channels ({channel_names(frame)}) that "
                "shows the nuclei."
            )
        if config.nucleus_channel is None:  # one channel: its own nuclei (or cells) give the markers
            nucleus = np.asarray(frame.values).reshape(shape)
        elif "C" not in frame.dims:
            raise DimensionError(
                f"nucleus_channel={config.nucleus_channel!r} was set but the image has no C axis; "
                "give a multi-channel image or markers=, or leave nucleus_channel empty to detect the markers in "
                "the image itself."
            )
        else:
            nucleus = np.asarray(select_channel(frame, config.nucleus_channel).values)
        from labelfree.cutter.marker_checks import DETECTING_FRAME

        token = DETECTING_FRAME.set(t)  # a warning of nuclei left out names the frame
        try:
            pts = detect_markers(
                nucleus, method=config.marker_method, min_sigma=config.marker_min_sigma,
                max_sigma=config.marker_max_sigma, threshold=config.marker_threshold, log_scale=config.marker_log,
                refuse_whole_cells=True,  # several markers per cell: refused before any training
            )
        finally:
            DETECTING_FRAME.reset(token)
        pts = check_markers(pts, shape=shape)
        return pts, np.arange(1, len(pts) + 1), None
    if isinstance(markers, xr.DataArray):
        markers = markers.values
    if _is_label_image(markers, shape):
        arr = np.asarray(markers)
        if arr.ndim == 3:
            if t is None:
                raise DimensionError("A (T, Y, X) marker image was given for a single frame.")
            if not np.any(arr[t]):
                _no_marker_in_frame(t, [k for k in range(len(arr)) if np.any(arr[k])], "marker image")
            arr = arr[t]
        lab, ids = marker_label_image(arr)
        return label_centroids(lab, ids), ids, lab
    pts = points_array(markers)
    if pts.ndim == 2 and pts.shape[1] == 3:
        if t is None:
            raise InputError("(t, y, x) markers were given for a single frame; give (N, 2) (y, x) points.")
        frames = np.rint(pts[:, 0])
        if not (frames == t).any():
            _no_marker_in_frame(t, sorted({int(k) for k in frames}), "(t, y, x) markers")
        pts = pts[frames == t, 1:]
    elif t is not None and pts.size == 0:
        _no_marker_in_frame(t, None, "markers")
    pts = check_markers(pts, shape=shape)
    return pts, np.arange(1, len(pts) + 1), None


def _no_marker_in_frame(t: int, marked: list[int] | None, what: str) -> None:
    """One error naming the movie frame that has no marker (the markers' emptiness alone does not say where)."""
    listed = "" if marked is None else (
        f"; in the {what}, the markers are on frame(s) {_frame_list(marked)} only" if marked
        else f"; there is no marker in the {what} at all")
    raise InputError(
        f"Frame {t} of the movie (0-based: the frame at position {t + 1}) has no marker{listed}. Cutter needs "
        "one marker per cell in every frame: add markers to that frame (in ImageJ, point selections whose "
        "position is that frame), or segment only the frames that have them."
    )


def _frame_list(frames: list[int]) -> str:
    return ", ".join(map(str, frames[:10])) + (f" and {len(frames) - 10} more" if len(frames) > 10 else "")


def check_marker_frames(markers: Any, n_frames: int, shape: tuple[int, int], /) -> None:
    """Refuse a (t, y, x) marker array or a (T, Y, X) marker image that does not fit a movie of
    ``n_frames`` frames of ``shape`` (Y, X); lists (one entry per frame) are checked as they are split.

    A marker in a frame the movie lacks (or at a fractional frame) would be dropped silently by
    the per-frame split; a label stack of another length would fail half-way. (N, 2) (y, x)
    points are used in every frame (a static field; a markers CSV without a ``t`` column gives
    them): for a movie of 2 or more frames that is said with a :class:`MarkerWarning`, as points
    of several frames given without their frame would cut each cell between the markers of other
    frames.
    """
    if is_table(markers):  # read as the frames will read it, with the movie's frame count
        markers = points_from_table(markers, shape=(n_frames, *shape))
    if not isinstance(markers, np.ndarray) or markers.dtype.kind not in "iuf":
        return
    if markers.ndim == 2 and markers.shape[1] == 2 and markers.shape != tuple(shape) and n_frames > 1:
        warnings.warn(MarkerWarning(
            f"{len(markers)} (y, x) marker point(s) were given for a movie of {n_frames} frames: the same points are "
            f"used in every frame. For markers of each frame, give (t, y, x) points (t the 0-based frame; in a "
            "markers CSV, a t column)."), stacklevel=user_stacklevel())
        return
    if markers.ndim == 3 and markers.shape[-2:] == tuple(shape):
        if markers.shape[0] != n_frames:
            raise DimensionError(f"The marker image has {markers.shape[0]} frame(s); the movie has {n_frames}. Give "
                                 "one label frame per movie frame.")
        return
    if markers.ndim == 2 and markers.shape[1] == 3 and markers.shape != tuple(shape):
        t = markers[:, 0].astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(t) | (t != np.rint(t)) | (t < 0) | (t > n_frames - 1))
        if len(bad):
            k = int(bad[0])
            raise InputError(
                f"{len(bad)} marker(s) are in frames the movie lacks: marker {k} (0-based) is in frame {t[k]:g}, but "
                f"the movie has {n_frames} frame(s) (0-{n_frames - 1}). The first column of (t, y, x) markers is the "
                "0-based frame."
            )


def _smoothed(channels: np.ndarray, config: CutterConfig) -> list[np.ndarray]:
    if config.mask_smoothing is None:
        raise InputError("The mask smoothing is automatic (None) and was not resolved; call "
                         "labelfree.cutter.segment.resolve_scale first or give mask_smoothing in px.")
    h, w = np.shape(channels)[-2:]
    if config.mask_smoothing > max(h, w):
        raise ConfigError(f"mask_smoothing {config.mask_smoothing:g} px is larger than the image ({h} x {w} pixels): "
                          "it would blur every cell away. Give a few px (the automatic value is 1 to 4 px) or "
                          "leave it automatic.")
    flat = [without_edge_bands(c) for c in channels]  # a bright band along an edge is background, not cells
    return [ndi.gaussian_filter(c, config.mask_smoothing) if config.mask_smoothing > 0 else c for c in flat]


def _dense_levels(channels: np.ndarray, smooth: list[np.ndarray]) -> list[tuple[float, float] | None]:
    """Per cell channel, the background level and noise the mask measures against: None (the whole smoothed
    image's, :func:`labelfree.cutter.graphcut.background_and_noise`), or where the channel is a dense field
    (:func:`labelfree.cutter.markers.is_dense_field`) those of the background's dark side
    (:func:`labelfree.noise.lower_side_noise`), which the cells do not widen: on laptrack's example
    movie (nuclei on 35-41 % of the pixels) the whole image's noise is 2.7-3.9 times the background's own and
    the mask left out the dim nuclei (frames 3-5: object F1 0.53-0.63 -> 0.80-0.83)."""
    levels: list[tuple[float, float] | None] = []
    for raw, c in zip(channels, smooth):
        dark = lower_side_noise(c) if is_dense_field(raw) else None
        levels.append(dark if dark is not None and dark[1] > 0 else None)
    noted = _DENSE_FRAMES.get()
    if noted is not None and any(v is not None for v in levels):
        noted.add(_MASKING_FRAME.get())
    return levels


def _local_signal(smooth: list[np.ndarray], config: CutterConfig, window: int,
                  levels: Sequence[tuple[float, float] | None] | None = None) -> np.ndarray:
    levels = [None] * len(smooth) if levels is None else levels
    return np.mean([local_contrast_probability(c, fraction=config.mask_peak_fraction, window=window,
                                               threshold=config.mask_snr_threshold, levels=v)
                    for c, v in zip(smooth, levels)], axis=0)


def marker_coverage(samples: Iterable[tuple[np.ndarray, np.ndarray]], config: CutterConfig, /,
                    windows: Sequence[int] = PEAK_WINDOWS) -> dict[int, float]:
    """For each local-peak window, the fraction of the markers whose own pixel the local test calls cell.

    Called cell: the test's probability is at least 0.5. Holes are not filled: a dim cell
    enclosed by bright neighbours is left out by the window even where the mask's hole
    filling would take it back whole.

    ``samples``: ``(channels (C, Y, X), markers (N, 2) (y, x))`` of some frames (any
    iterable: each frame is smoothed once, with ``config.mask_smoothing``, which must be a
    number); the test is the one of ``mask_signal="local"``. 1.0 when there is no marker.
    """
    hits, _, total = _window_trials(samples, config, windows)
    return {w: hits[w] / total if total else 1.0 for w in windows}


def _window_trials(samples: Iterable[tuple[np.ndarray, np.ndarray]], config: CutterConfig,
                   windows: Sequence[int]) -> tuple[dict[int, int], dict[int, int], int]:
    """Per window, the markers whose pixel the local test calls cell and the pixels it calls cell (over the
    frames of ``samples`` that hold markers); and the number of markers (:func:`marker_coverage`)."""
    hit, called, total = dict.fromkeys(windows, 0), dict.fromkeys(windows, 0), 0
    for channels, markers in samples:
        pts = np.asarray(markers, np.float64).reshape(-1, 2)
        if not len(pts):
            continue
        smooth = _smoothed(channels, config)
        levels = _dense_levels(channels, smooth)
        idx = marker_pixels(pts, smooth[0].shape)
        for w in windows:
            cell = _local_signal(smooth, config, w, levels) >= 0.5
            hit[w] += int(np.count_nonzero(cell[idx[:, 0], idx[:, 1]]))
            called[w] += int(np.count_nonzero(cell))
        total += len(pts)
    return hit, called, total


def choose_peak_window(samples: Iterable[tuple[np.ndarray, np.ndarray]], config: CutterConfig, /, *,
                       cell_area: float | None = None) -> tuple[int, dict[int, float]]:
    """The automatic ``mask_peak_window``: 9 px, or a smaller one where 9 px leaves marked cells out.

    The local test compares each pixel with the brightest pixel of its window. Where cells
    are small in pixels (a low magnification, a binned camera), a 9 px window reaches from
    a dim cell into a bright neighbour, and the dim cell, marker and all, falls below the
    threshold. Each window of :data:`PEAK_WINDOWS` is tried on ``samples`` (see
    :func:`marker_coverage`); the largest one is kept whose coverage of the markers is within
    :data:`PEAK_WINDOW_GAIN` of the best. (GOWT1 t021 at half size: 79 % of the markers called
    cell with 9 px, 96 % with 5 px, which is chosen; every set of the benchmarks at its own size
    keeps 9.)

    With ``cell_area`` (px, a typical cell), a smaller window competes only where it calls no more
    than :data:`PEAK_WINDOW_GROWTH` cells' worth of pixels more than 9 px does for each marker it adds:
    it then adds the dim cells it covers (and a rim around the others). A window that is small beside
    cells whose light fades slowly into a dark background compares each pixel of that glow with itself,
    and calls all of it cell down to the noise floor (BBBC007: 8.8-108 cells' worth for each marker
    added, and mask precision 0.44 with 3 px against 0.89 with 9; GOWT1 and SIM+ at half size, where the
    smaller window is right: 0.5-1.8; ``benchmarks/cutter_peak_window.py``).

    Returns
    -------
    window : int
    coverage : dict
        Window -> fraction of the markers called cell.
    """
    return peak_window_trial(samples, config, cell_area=cell_area)[:2]


def peak_window_trial(samples: Iterable[tuple[np.ndarray, np.ndarray]], config: CutterConfig, /, *,
                      cell_area: float | None = None) -> tuple[int, dict[int, float], dict[int, float | None]]:
    """:func:`choose_peak_window`, and per smaller window the typical cells' worth of pixels it calls cell beyond
    the largest window for each marker it adds (None: it adds none; all None without ``cell_area``): the
    window, the coverage and that growth (provenance ``window_growth``)."""
    if cell_area is not None and not (np.isfinite(cell_area) and cell_area > 0):  # no size measured: as without
        cell_area = None
    hits, called, total = _window_trials(samples, config, PEAK_WINDOWS)
    coverage = {w: hits[w] / total if total else 1.0 for w in PEAK_WINDOWS}
    first = PEAK_WINDOWS[0]
    growth: dict[int, float | None] = {}
    competing = [first]
    for w in PEAK_WINDOWS[1:]:
        added, extra = hits[w] - hits[first], called[w] - called[first]
        growth[w] = extra / (cell_area * added) if cell_area and added > 0 else None
        if cell_area is None or extra <= PEAK_WINDOW_GROWTH * cell_area * max(added, 0):
            competing.append(w)
    return widest_covering_window(coverage, competing), coverage, growth


def widest_covering_window(coverage: dict[int, float], windows: Sequence[int] = PEAK_WINDOWS, /) -> int:
    """Of ``windows`` (largest first), the largest whose marker ``coverage`` is within :data:`PEAK_WINDOW_GAIN`
    of the best of them: the automatic window by coverage alone (:func:`choose_peak_window`)."""
    best = max(coverage[w] for w in windows)
    return next(w for w in windows if coverage[w] >= best - PEAK_WINDOW_GAIN)


def foreground_mask(
    channels: np.ndarray,
    config: CutterConfig,
    /,
    *,
    scribbles: np.ndarray | None = None,
    markers: np.ndarray | None = None,
) -> np.ndarray:
    """Foreground (cell) mask of a frame by graph cut (Y, X) bool.

    Fluorescence: graph cut on the mean of the cell channels, each smoothed by
    ``mask_smoothing`` px and turned into a cell probability against a threshold
    that follows the local peak (``mask_signal="local"``, prior 0.5), normalised to
    [0, 1] (``"intensity"``) or turned into a signal-to-noise cell probability
    (``"snr"``, prior 0.5). With
    ``scribbles`` (bright-field: label image, 1 = background, 2 = cell) a
    random-forest pixel classifier gives a cell-probability map that replaces the
    intensity. A cell channel that is a dense field (:func:`labelfree.cutter.markers.is_dense_field`) is
    measured against the noise of its background's dark side (:func:`_dense_levels`). ``markers`` (N, 2)
    (y, x) with ``config.mask_keep_marked``: keep only the connected parts holding a marker, holes filled.
    ``mask_smoothing`` None (automatic): measured on this frame (a 2 px probe mask, then
    :func:`labelfree.cutter.scale.auto_settings`; 2 px without markers); the
    pipeline resolves it once for all frames instead.
    """
    if config.mask_smoothing is None:
        config = config.replace(mask_smoothing=_auto_smoothing(channels, config, scribbles, markers))
    if config.mask_peak_window is None:
        config = config.replace(mask_peak_window=_auto_window(channels, config, scribbles, markers))
    prior = config.mask_prior
    if scribbles is not None:
        from labelfree.cutter.pixel_classifier import predict_cell_probability, train_pixel_classifier

        clf = train_pixel_classifier(channels, scribbles, seed=config.seed)
        signal = predict_cell_probability(clf, channels)
    else:
        smooth = _smoothed(channels, config)
        levels = _dense_levels(channels, smooth) if config.mask_signal in ("local", "snr") else None
        if config.mask_signal == "local":
            signal = _local_signal(smooth, config, config.mask_peak_window, levels)
            prior = 0.5 if prior is None else prior
        elif config.mask_signal == "snr":
            signal = np.mean([snr_probability(c, threshold=config.mask_snr_threshold, levels=v)
                              for c, v in zip(smooth, levels)], axis=0)
            prior = 0.5 if prior is None else prior
        else:
            signal = np.mean([normalize_intensity(c) for c in smooth], axis=0)
        del smooth  # not needed by the graph cut, whose graph is the largest allocation of Cutter
    probability = scribbles is not None or config.mask_signal != "intensity"  # else an intensity
    if probability and np.ptp(signal) == 0:  # every pixel equally (un)likely: e.g. no pixel passes the noise floor
        mask = np.full(signal.shape, bool(signal.flat[0] > 0.5))
    else:  # the signal is this function's own: handed over, normalised in place and freed before the flow
        held = [signal]
        del signal
        mask = _graph_cut_taken(held, prior=prior, cell_fraction=config.cell_fraction,
                                max_weight=config.mask_max_weight, sigma=config.mask_sigma, overwrite_input=True)
    if config.mask_keep_marked and markers is not None and len(markers):
        mask = keep_marked_regions(mask, markers)
    ridges = config.mask_ridges
    if ridges is None and scribbles is None and markers is not None and len(markers):
        ridges = cell_solidity(channels, mask, markers, config) < RIDGE_SOLIDITY
    if ridges and scribbles is None:
        mask = grow_along_ridges(channels, mask, config)
    return mask


def cell_solidities(channels: np.ndarray, mask: np.ndarray, markers: np.ndarray, config: CutterConfig, /) -> list[float]:
    """Solidity (area / convex hull area) of each marked cell of ``mask`` of 20 px or more: the mask
    divided among the markers (N, 2) by a watershed of the smoothed intensity."""
    from skimage.measure import regionprops
    from skimage.segmentation import watershed

    from labelfree.cutter.markers import markers_to_labels

    if not mask.any() or markers is None or not len(markers):
        return []
    seeds = markers_to_labels(np.asarray(markers, np.float64), shape=mask.shape, radius=2)
    landscape = -np.mean(_smoothed(channels, config), axis=0)
    cells = watershed(landscape, np.where(mask, seeds, 0), mask=mask)
    return [float(r.solidity) for r in regionprops(cells) if r.area >= 20]


def cell_solidity(channels: np.ndarray, mask: np.ndarray, markers: np.ndarray, config: CutterConfig, /) -> float:
    """Median of :func:`cell_solidities`; 1.0 when there is no cell to measure.

    Nuclei are compact (0.95-0.98 on the benchmark sets); whole cells with protrusions are not (MSC 0.79).
    """
    values = cell_solidities(channels, mask, markers, config)
    return float(np.median(values)) if values else 1.0


def ridge_sigma(config: CutterConfig, /) -> float:
    """The scale (px) of the ridge test of :func:`grow_along_ridges`: the mask smoothing, at most
    :data:`RIDGE_PER_RADIUS` of the typical cell radius the patches are made for (``downscale`` x the
    :data:`~labelfree.cutter.scale.FILL` of half a patch, as the automatic scale chooses ``downscale``) but not
    under :data:`RIDGE_MIN_SIGMA`. The smoothing (R / 15 within 1-4 px) is coarser than the protrusions of
    cells of radius 30-100 px: at MSC's half size (R 49 px, smoothing 3.3 px) the ridges found at it joined
    the processes and the background beside them (mean IoU -0.001 with the ridges), at 2 px they gain 0.015
    (docs/benchmarks.md). Cells smaller or larger keep the smoothing.

    >>> ridge_sigma(CutterConfig(mask_smoothing=4.0, downscale=3.49)), ridge_sigma(CutterConfig(mask_smoothing=3.29,
    ...     downscale=1.715)), ridge_sigma(CutterConfig(mask_smoothing=1.5, downscale=0.8))
    (4.0, 2.0, 1.5)
    """
    from labelfree.cutter.scale import FILL

    sigma = float(config.mask_smoothing) if config.mask_smoothing else _PROBE_SMOOTHING
    if config.downscale:
        radius = float(config.downscale) * FILL * config.crop_size / 2
        sigma = min(sigma, max(RIDGE_MIN_SIGMA, round(RIDGE_PER_RADIUS * radius, 2)))
    return sigma


def grow_along_ridges(channels: np.ndarray, mask: np.ndarray, config: CutterConfig, /) -> np.ndarray:
    """``mask`` plus the 8-connected ridge pixels outside it that touch it, holes filled.

    A ridge pixel lies on a bright line at the scale s of :func:`ridge_sigma` (the mask smoothing, at most
    1/25 of the cell radius, not under 2 px): the most negative eigenvalue of the Hessian (Gaussian
    derivatives at s) of the mean cell channel is :data:`RIDGE_DEPTH` robust noise units below its median over
    the frame, and the smoothed intensity :data:`RIDGE_FLOOR` noise units above the background. Thin faint
    protrusions of whole cells are such lines.
    """
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals

    from labelfree.cutter.graphcut import background_and_noise

    sigma = ridge_sigma(config)
    x = without_edge_bands(np.mean(np.asarray(channels, np.float64), axis=0))
    lowest = hessian_matrix_eigvals(hessian_matrix(x, sigma=sigma, order="rc", use_gaussian_derivatives=True))[1]
    centre = np.median(lowest)
    spread = 1.4826 * np.median(np.abs(lowest - centre))
    smooth = ndi.gaussian_filter(x, sigma)
    background, noise = background_and_noise(smooth)
    ridge = (lowest < centre - RIDGE_DEPTH * spread) & (smooth > background + RIDGE_FLOOR * noise) & ~mask
    parts, n = ndi.label(ridge, structure=np.ones((3, 3)))
    if n == 0:
        return mask
    touching = np.unique(parts[ndi.binary_dilation(mask, structure=np.ones((3, 3)))])
    keep = np.zeros(n + 1, bool)
    keep[touching] = True
    keep[0] = False
    return fill_holes(np.logical_or(mask, keep[parts]))


def _auto_window(channels: np.ndarray, config: CutterConfig, scribbles: Any, markers: Any) -> int:
    """The automatic local-peak window of one frame (:func:`choose_peak_window`; 9 px without markers)."""
    if scribbles is not None or markers is None or not len(markers) or config.mask_signal != "local":
        return PEAK_WINDOWS[0]
    return choose_peak_window([(channels, markers)], config)[0]


def _auto_smoothing(channels: np.ndarray, config: CutterConfig, scribbles: Any, markers: Any) -> float:
    """The automatic mask smoothing of one frame: from the cell size measured on a 2 px probe mask."""
    from labelfree.cutter.scale import auto_settings, estimate_cell_size

    probe = config.replace(mask_smoothing=_PROBE_SMOOTHING,
                           mask_peak_window=config.mask_peak_window or PEAK_WINDOWS[0])
    if scribbles is not None or markers is None or not len(markers):
        return _PROBE_SMOOTHING
    try:
        size = estimate_cell_size(markers, mask=foreground_mask(channels, probe, markers=markers))
    except InputError:
        return _PROBE_SMOOTHING
    return auto_settings(size, crop_size=config.crop_size)["mask_smoothing"]


def keep_marked_regions(mask: np.ndarray, markers: np.ndarray, /) -> np.ndarray:
    """The 8-connected parts of ``mask`` (Y, X) that hold a marker (N, 2) (y, x), holes filled."""
    parts, _ = ndi.label(mask, structure=np.ones((3, 3)))
    pts = marker_pixels(markers, mask.shape)
    hit = np.unique(parts[pts[:, 0], pts[:, 1]])
    kept = np.isin(parts, hit[hit > 0])
    kept[pts[:, 0], pts[:, 1]] = True
    return fill_holes(kept)


#: the frames of a movie found with no marker on their foreground, while :func:`one_warning_for_unmarked_frames`
#: gathers them: (t, why, swapped) each
_UNMARKED: contextvars.ContextVar[list[tuple[int, str, bool]] | None] = contextvars.ContextVar("unmarked",
                                                                                                default=None)
_CHECK_MARKERS = (" Check that the markers are on the cells ((y, x) pixels of this image; the X, Y of an ImageJ "
                  "Results table are calibrated positions, turned into pixels with the image's pixel size and origin: "
                  "name the columns x, y for pixels), that nucleus_channel shows the nuclei, and the mask (the mask "
                  "given, or mask_signal, mask_snr_threshold, cell_fraction and mask_smoothing).")


def _warn_if_nothing_marked(mask: np.ndarray, markers: np.ndarray, t: int | None) -> None:
    """A :class:`MarkerWarning` when no marker of a frame lies on its foreground: nothing can be cut (gathered into
    one warning for a movie's frames inside :func:`one_warning_for_unmarked_frames`)."""
    if len(markers) and on_foreground(mask, markers).any():
        return
    why = ("the foreground mask is empty" if not mask.any() else
           f"{'its one marker lies' if len(markers) == 1 else f'all its {len(markers)} markers lie'} on the "
           "background")
    swapped = bool(len(markers)) and looks_swapped(mask, markers)
    gathered = _UNMARKED.get()
    if gathered is not None and t is not None:
        gathered.append((t, why, swapped))
        return
    where = "" if t is None else f" of frame {t} (0-based)"
    warnings.warn(MarkerWarning(
        f"Cutter: no marker lies in the foreground mask{where} ({why}), so no cell can be cut there and its labels "
        f"are empty.{_SWAPPED if swapped else ''}{_CHECK_MARKERS}"), stacklevel=user_stacklevel())


@contextlib.contextmanager
def one_warning_for_unmarked_frames(n_frames: int, /) -> Iterator[None]:
    """Frames of a movie (of ``n_frames``) prepared inside it that have no marker on their foreground are said in
    one :class:`MarkerWarning` at its end, naming the frames (one warning per frame flooded the ImageJ Log); so are
    the checks of automatic marker detection (:class:`labelfree.cutter.markers.AutoMarkerWarning`), the first
    frame's said with how many frames gave one, and the nuclei detection missed
    (:class:`labelfree.cutter.markers.MissedNucleiWarning`), the first frame's said with how many frames have them."""
    from labelfree.cutter.markers import AutoMarkerWarning, MissedNucleiWarning

    gathered: list[tuple[int, str, bool]] = []
    token = _UNMARKED.set(gathered)
    try:
        with warnings.catch_warnings(record=True) as caught:  # automatic detection's checks, frame by frame
            warnings.simplefilter("always")
            yield
    finally:
        _UNMARKED.reset(token)
    autos = [w for w in caught if issubclass(w.category, AutoMarkerWarning)]
    missed = {str(w.message): w.message for w in caught if issubclass(w.category, MissedNucleiWarning)}
    for w in caught:  # the others as they were given
        if not issubclass(w.category, (AutoMarkerWarning, MissedNucleiWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if autos:
        text = str(autos[0].message)
        if n_frames > 1:  # (a frame may be looked at twice: for the cell size, then for its markers)
            text = f"In the {n_frames}-frame movie (said once, for the first frame it concerns): {text}"
        warnings.warn(AutoMarkerWarning(text), stacklevel=user_stacklevel())
    if missed:  # one text per frame (a frame looked at twice gives the same text twice)
        framed = [m for m in missed.values() if m.frame is not None]
        first = min(framed, key=lambda m: m.frame) if framed else next(iter(missed.values()))
        if n_frames > 1:
            which = "" if first.frame is None else f", frame {first.frame} (0-based)"
            said = MissedNucleiWarning(f"In {len(missed)} of the {n_frames} frames of the movie the detected markers "
                                       f"leave nuclei out; the first such frame{which}: {first}")
            said.regions, said.n_markers, said.frame = first.regions, first.n_markers, first.frame
            first = said
        warnings.warn(first, stacklevel=user_stacklevel())
    if not gathered:
        return
    if len(gathered) == 1:
        t, why, swapped = gathered[0]
        where, whys = f" of frame {t} (0-based)", why
    else:
        shown = ", ".join(str(t) for t, _, _ in gathered[:12]) + (", ..." if len(gathered) > 12 else "")
        where = f" of {len(gathered)} of the {n_frames} frames ({shown}; 0-based)"
        kinds = sorted({"mask empty" if w.startswith("the foreground mask is empty") else "markers on the background"
                        for _, w, _ in gathered})
        whys = " or ".join(kinds)
    swapped = any(s for _, _, s in gathered)
    warnings.warn(MarkerWarning(
        f"Cutter: no marker lies in the foreground mask{where} ({whys}), so no cell can be cut there and "
        f"{'its labels are' if len(gathered) == 1 else 'their labels are'} empty.{_SWAPPED if swapped else ''}"
        f"{_CHECK_MARKERS}"), stacklevel=user_stacklevel())


#: said when markers on the background would lie on cells read the other way round
_SWAPPED = (" The markers may be in (x, y) order: read as (x, y) more of them lie on cells. Give them as (y, x) "
            "(rows, columns), e.g. points[:, ::-1], or as a table with y and x columns.")


def warn_markers_on_background(frames: Sequence[Frame], /, *, stacked: bool) -> None:
    """One :class:`MarkerWarning` for the markers that lie on the background of their frame's mask
    (no cell is cut there), when their frame has markers on the foreground too (a frame with
    none is warned about by itself)."""
    off, total, where, swapped = 0, 0, [], False
    for t, f in enumerate(frames):
        if f.markers is None or not len(f.markers):
            continue
        on = on_foreground(f.mask, f.markers)
        total += len(on)
        if on.all() or not on.any():
            continue
        off += int((~on).sum())
        where += [(t, *np.rint(p).astype(int)) for p in np.asarray(f.markers)[~on]]
        swapped = swapped or looks_swapped(f.mask, f.markers)
    if not off:
        return
    shown = ", ".join(f"({'t=%d, ' % t if stacked else ''}y={y}, x={x})" for t, y, x in where[:5])
    more = f" and {len(where) - 5} more" if len(where) > 5 else ""
    warnings.warn(MarkerWarning(
        f"Cutter: {off} of {total} markers lie on the background of the foreground mask, so no cell is cut there: "
        f"{shown}{more}{' (t: the 0-based frame)' if stacked else ''}.{_SWAPPED if swapped else ''} If they mark "
        "cells, the mask misses them: give a mask, or change mask_signal, cell_fraction or mask_smoothing."),
        stacklevel=user_stacklevel())


def downscaled_shape(shape: Sequence[int], d: float, /) -> tuple[int, int]:
    """The (Y, X) size of an image of ``shape`` reduced by ``d`` (as :func:`_downscale` makes it)."""
    h, w = (int(n) for n in shape[-2:])
    if d == 1:
        return h, w
    if float(d) == int(d):  # blocks of d x d, the last one partial
        return -(-h // int(d)), -(-w // int(d))
    return max(1, round(h / d)), max(1, round(w / d))


def check_downscale(shape: Sequence[int], config: CutterConfig, /) -> None:
    """Refuse a ``downscale`` that leaves an image of ``shape`` (Y, X) smaller than one ``crop_size`` patch."""
    from labelfree.cutter.scale import max_downscale

    d, crop = float(config.downscale), int(config.crop_size)
    small = downscaled_shape(shape, d)
    if min(small) >= crop:
        return
    most = max_downscale(shape, crop_size=crop)
    advice = (f"choose downscale {most:g} or less, or leave it automatic" if most > 0 else
              "the image is too small for any downscale")
    raise ConfigError(f"downscale {d:g} reduces the {shape[0]} x {shape[1]} image to {small[0]} x {small[1]} px, "
                      f"smaller than one {crop} x {crop} patch (crop_size {crop}): {advice}, or use a smaller "
                      "crop_size.")


def _downscale(x: np.ndarray, d: float) -> tuple[np.ndarray, tuple[float, float]]:
    """Reduce the last two axes of ``x`` by ``d`` (enlarge for ``d < 1``).

    Returns the result and the exact factors (Y, X) between the two grids:
    integer ``d`` averages d x d blocks (the grid factor is d); other values
    resample to ``round(size / d)`` pixels (area averaging when reducing,
    bilinear when enlarging).
    """
    if d == 1:
        return x, (1.0, 1.0)
    if float(d) == int(d):
        from skimage.transform import downscale_local_mean

        d = int(d)
        factors = (1,) * (x.ndim - 2) + (d, d)
        return downscale_local_mean(x, factors).astype(np.float32), (float(d), float(d))
    import cv2

    h, w = x.shape[-2:]
    size = downscaled_shape(x.shape, d)[::-1]  # (X, Y), as cv2.resize takes it
    mode = cv2.INTER_AREA if d > 1 else cv2.INTER_LINEAR
    flat = np.asarray(x, np.float32).reshape(-1, h, w)
    out = np.stack([cv2.resize(c, size, interpolation=mode) for c in flat])
    return out.reshape(x.shape[:-2] + out.shape[-2:]), (h / size[1], w / size[0])


def _as_mask(mask: Any, /) -> np.ndarray:
    """A given foreground mask as bool: True, or a non-zero whole number, is foreground.

    Fractions (a probability map) and NaN / inf are an :class:`InputError`: read as bool, every
    one of them would be foreground.
    """
    arr = np.asarray(mask)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind not in "iuf":
        raise InputError(f"The mask must be a boolean (or 0 / 1) image, True = cell; got values of type {arr.dtype}.")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            raise InputError(f"The mask holds {int((~finite).sum())} NaN or infinite value(s); give a boolean mask "
                             "(True = cell), e.g. numpy.isfinite(x) & (x > 0).")
        if not np.array_equal(arr, np.round(arr)):
            raise InputError("The mask holds fractions (a probability map?); give a boolean mask (True = cell), "
                             "e.g. probability > 0.5.")
    return arr != 0


def frame_markers_and_mask(
    frame: xr.DataArray,
    config: CutterConfig,
    /,
    *,
    markers: Any = None,
    mask: np.ndarray | None = None,
    scribbles: np.ndarray | None = None,
    t: int | None = None,
    channels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Markers (N, 2), their ids and the foreground mask (Y, X) bool of one (C)YX frame.

    ``mask`` given: checked and used as it is; otherwise :func:`foreground_mask`
    of the cell channels (``channels``, computed when not given).
    """
    pts, ids, mask, _ = _markers_and_mask(frame, config, markers=markers, mask=mask, scribbles=scribbles, t=t,
                                          channels=channels)
    return pts, ids, mask


def _markers_and_mask(
    frame: xr.DataArray,
    config: CutterConfig,
    /,
    *,
    markers: Any,
    mask: np.ndarray | None,
    scribbles: np.ndarray | None,
    t: int | None,
    channels: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`frame_markers_and_mask`, and the frame's marker label image when the markers were given as one
    (None otherwise)."""
    shape = (frame.sizes["Y"], frame.sizes["X"])
    pts, ids, blobs = _frame_markers(markers, frame, config, t=t)
    if mask is None:
        channels = cell_channels(frame, config) if channels is None else channels
        token = _MASKING_FRAME.set(t)  # a dense field's mask is noted for this frame (recording_dense_fields)
        try:
            mask = foreground_mask(channels, config, scribbles=scribbles, markers=pts)
        finally:
            _MASKING_FRAME.reset(token)
    mask = _as_mask(mask)
    if mask.shape != shape:
        raise DimensionError(f"The mask has shape {mask.shape}; the image frame is {shape}.")
    return pts, ids, mask, blobs


def prepare_frame(
    frame: xr.DataArray,
    config: CutterConfig,
    /,
    *,
    markers: Any = None,
    mask: np.ndarray | None = None,
    scribbles: np.ndarray | None = None,
    t: int | None = None,
) -> Frame:
    """Channels, markers, mask and patch set of one (C)YX frame."""
    channels = cell_channels(frame, config)
    pts, ids, mask, blobs = _markers_and_mask(frame, config, markers=markers, mask=mask, scribbles=scribbles,
                                              t=t, channels=channels)
    _warn_if_nothing_marked(mask, pts, t)
    shape = mask.shape
    if config.downscale is None or config.marker_sigma is None:
        raise InputError("prepare_frame needs a config whose downscale and marker_sigma are numbers; "
                         "resolve the automatic ones first (labelfree.cutter.segment.prepare).")
    d = float(config.downscale)
    if d > min(shape):
        raise ConfigError(f"downscale {d:g} is larger than the image ({shape[0]} x {shape[1]} pixels); choose a factor "
                          "well below its size (typically 1 to 4), or automatic.")
    small, scale = _downscale(channels, d)
    background = _downscale((~mask).astype(np.float32), d)[0] > 0.5
    small_pts = (pts + 0.5) / np.array(scale) - 0.5
    ps = build_patch_set(small, small_pts, background=background, crop=config.crop_size, sigma=config.marker_sigma)
    signal = None
    if config.grow_into_mask == "intensity" or config.redraw_boundaries > 0:  # what cells grow along
        signal = np.mean([normalize_intensity(c) for c in _smoothed(channels, config)], axis=0).astype(np.float32)
    return Frame(shape, ids, ps, mask, d, pts, signal, scale, blobs=blobs)
