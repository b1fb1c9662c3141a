"""``segment``: the Motion pipeline over a whole time-lapse, streamed frame by frame."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import warnings
from concurrent.futures import Future
from typing import Any, Callable, NamedTuple

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from labelfree import _threads
from labelfree._label_memory import memory_text, require_label_memory
from labelfree._log_notes import register_note
from labelfree._config import provenance
from labelfree._heap import retained_heap
from labelfree._progress import Progress, check_cancel
from labelfree._threads import thread_count, threads_for_memory
from labelfree._warn_place import user_stacklevel
from labelfree.canvas import stack_content_box
from labelfree.errors import ConfigError, LabelFreeWarning
from labelfree.image import labels_like
from labelfree.motion.classify import classify_frame, log_odds, train_classifier
from labelfree.motion.config import MotionConfig
from labelfree.motion.features import compute_features
from labelfree.motion.flow import (
    STILL,
    auto_upsample,
    blank_frames,
    bleaching_gains,
    exposure_gains,
    flow_settings,
    frame_extremes,
    frame_high,
    frame_means,
    grey_mapping,
    integer_movie,
    movie_frame,
    repair_raw_hot_pixels,
    uint8_range,
)
from labelfree.motion.flow_record import FlowRecording, claim_recording
from labelfree.motion.instances import InstanceTracker
from labelfree.motion.movie import _frame, as_movie, check_not_uniform
from labelfree.motion.postprocess import (
    OverlapLinker,
    components_with_stats,
    fill_mask_holes,
    merge_small_objects,
    postprocess,
    to_instances,
)
from labelfree.motion.refine import _band, _Band, _redecide, grey_contrast
from labelfree.motion.selflabel import (
    FEW_OBJECTS,
    NOISE_CONTRAST,
    cell_scale,
    flow_only_min_size,
    motion_threshold,
    resolve_closing_radius,
    self_label,
    shows_cell_motion,
    size_floor,
    typical_cell_area,
)
from labelfree.motion.spec import SPEC
from labelfree.motion.stream import FrameWork, frame_stream
from labelfree.noise import lower_side_noise

__all__ = ["segment", "movie_grey_mapping", "as_movie", "NoMotionWarning"]

log = logging.getLogger(__name__)
# notes of the run (ImageJ's Log shows them): frames split at another cell size, objects taken for fragments
register_note(__name__, r"^Motion: (?:touching cells split at a typical cell area of \d+ px from frame \d+ "
                        r"\(0-based\)|frame \d+ \(0-based\): its \d+ objects of a typical \d+ px are fragments"
                        r"|\d+ of the \d+ frames? called over half cell)")

#: frames kept (uint8 + entropy) while waiting for the first moving pair
_MAX_PENDING = 8
#: a classified frame with more cell than this fraction is flooded: not used to refine min_size
_FLOODED = 0.5
#: a flooded frame whose called pixels are brighter than the rest by at least this many pooled standard deviations
#: (Motion's fluorescence criterion, ``refine_min_contrast``'s default: phase contrast gives < 1) is floored: only
#: its pixels ``_FLOOD_FLOOR`` noise units of the background's dark side above the background stay cell. A dense
#: field of moving nuclei floods (laptrack's example movie, nuclei on 35-41 % of a frame: 61-88 % called cell,
#: contrast 1.65-1.86; the floor keeps 53-71 % of the called pixels); the flooded frames of the benchmarks' crops
#: range from -9.6 to 2.03, and the floor keeps 88-98 % of those over 1.5
_FLOOD_MIN_CONTRAST = 1.5
_FLOOD_FLOOR = 3.0
#: a kernel model calling more than this share of its own background labels cell is not trusted
_KERNEL_MAX_BACKGROUND_ERROR = 0.1
#: nor one calling more than this many times the cell area of the normal densities on the same pair
_KERNEL_MAX_GROWTH = 2.0
#: a pair whose fastest pixel moves less than this (px/frame) shows nothing the optical flow can
#: tell from its own error (about a tenth of a pixel): no cell motion. The benchmark movies' pairs
#: reach 1.5-41 px/frame; camera noise on a smooth bright vignette 0.02-0.05
_FLOW_PRECISION = 0.1
#: a pair whose flow barely stands out of its noise, and whose own classifier calls more than this
#: share of its background labels cell, has self-labelled noise: no cell motion
_NOISE_BACKGROUND_ERROR = 0.2
#: ... or more than this share while it floods (calls over half the frame cell): a dense field of
#: moving cells floods too, but keeps its background (synthetic movies of cells over half the frame:
#: 2-5 %; noise on a smooth background: 17.5 % and more)
_NOISE_FLOOD_BACKGROUND_ERROR = 0.12
#: memory per worker thread and frame pixel: its frames (with their flow expansions) and pairs in
#: flight and its flow's buffers (measured at 1024 x 1024, beside the label stack: 228 MiB on 1
#: thread, 408 on 2, 550 on 3, 1313 on 9; with 1 GiB left this gives 3 threads, with 2 GiB 7;
#: docs/benchmarks.md)
_BYTES_PER_THREAD_PIXEL = 208


#: neck ratio of the size measurement's split when declump_neck_ratio is null
_NECK_RATIO = 0.8


def _size_of(area: float, cfg: MotionConfig, /) -> int:
    """The automatic minimum object size (px) of a typical cell ``area`` (px)."""
    return max(10, int(round(cfg.min_size_fraction * area)))


def _largest_cell_area(mask: np.ndarray, /, *, min_area: int, neck_ratio: float) -> float:
    """The cell area (px) of a mask's largest object measured alone, as :func:`typical_cell_area` measures a
    frame of few objects (cut at its necks: its pieces' typical area where it is a clump, else its own area);
    0.0 without an object."""
    import cv2

    n, lab, stats = components_with_stats(np.asarray(mask, np.uint8))
    if n < 2:
        return 0.0
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[i, :4]
    return typical_cell_area(lab[y : y + h, x : x + w] == i, min_area=min_area, neck_ratio=neck_ratio)[0]


def _warn_flow_size(min_size: int, cfg: MotionConfig, /) -> None:
    """Log that the automatic cell size is the flow's alone: no classified frame could check it."""
    log.warning(
        "Motion: the automatic cell size is the optical flow's alone (min_size %d px, typical cell %d px): every "
        "classified frame was over half cell (cells dense in view, e.g. a crop, or background called cell), so the "
        "size was not checked on the cells found, and the flow's objects include a halo. If touching cells come out "
        "as one object or smaller cells are missing, set min_size: the 'min_size' in the provenance of a run on a "
        "larger field or more frames of the same movie, or about %.2f x the area (px) of one cell.",
        min_size, round(min_size / cfg.min_size_fraction), cfg.min_size_fraction)


def _warn_few_objects(t: int, support: int, min_size: int, cfg: MotionConfig, /) -> None:
    """Log that the automatic cell size rests on ``support`` (< FEW_OBJECTS) objects of frame ``t``."""
    log.warning(
        "Motion: the automatic cell size rests on %d object(s) of frame %d (0-based) (min_size %d px, typical cell "
        "%d px): few cells in view (a crop?) or cells joined into one object. If touching cells come out as one "
        "object or dim cells are missing, set min_size: the 'min_size' in the provenance of a run on a larger field "
        "of the same movie, or about %.2f x the area (px) of one cell.",
        support, t, min_size, round(min_size / cfg.min_size_fraction), cfg.min_size_fraction)


class NoMotionWarning(LabelFreeWarning):
    """The movie (or a frame pair) shows no cell motion, so nothing can be self-labelled."""


class BlankFrameWarning(LabelFreeWarning):
    """Frames of the movie have one value in every pixel (dropped, flat or saturated): they are left empty."""


def _low_contrast(magnitude: np.ndarray, cfg: MotionConfig, /, *, valid: np.ndarray | None = None) -> bool:
    """Whether a moving pair's flow may be noise only: its automatic start threshold (Otsu,
    :func:`labelfree.motion.selflabel.motion_threshold`) fails
    :func:`labelfree.motion.selflabel.shows_cell_motion`. Never with a ``start_threshold`` or
    ``cell_threshold`` given: those say which speed is motion."""
    if cfg.start_threshold is not None or cfg.cell_threshold is not None:
        return False
    return not shows_cell_motion(magnitude, threshold=motion_threshold(magnitude), valid=valid)


def _background_error(called: np.ndarray, background: np.ndarray) -> float:
    """The share of the ``background`` labels that a classification ``called`` cell (0 without labels)."""
    n_bg = np.count_nonzero(background)
    return np.count_nonzero(called & background) / n_bg if n_bg else 0.0


def _even_odds(features: np.ndarray, model: Any, called: np.ndarray | None) -> np.ndarray | None:
    """What ``model`` calls cell at equal class priors (``called``: its call at its own prior).

    The noise checks judge whether a pair's labels can be told apart, not how much cell the
    prior asks for: their limits were measured at ``class_prior`` 0.5. The label counts
    (``class_prior`` null, the paper's) give cell a prior of 0.78-0.92 in small fields of
    moving cells; at that prior the classifier called 15-19 % of the background labels and
    over half of the frame cell, and every pair was taken for noise.
    """
    if model is None or called is None:
        return called
    shift = float(np.log(model.class_prior_[1] / model.class_prior_[0]))
    return called if shift == 0 else log_odds(features, model) > shift


def _noise_labels(called: np.ndarray | None, background: np.ndarray) -> bool:
    """Whether a pair's self-labels are noise, from ``called``, the classification of the normal
    densities trained on them alone (None: no classifier): they call more than
    ``_NOISE_BACKGROUND_ERROR`` of their own background labels cell, or flood (more than half of
    the frame) and call more than ``_NOISE_FLOOD_BACKGROUND_ERROR`` of them cell. Fields without
    cells: 56-81 % of the frame and 17.5-53 % of the background labels (a bright vignette 80-90 %
    and 4-12 %: not caught here, but its flow is within ``_FLOW_PRECISION``); the benchmark
    movies with cells at most 24 % and 10 %, dense synthetic movies (cells over half the frame)
    45-57 % and 2-5 %."""
    if called is None:
        return False
    if not np.count_nonzero(background):
        return bool(np.count_nonzero(called) > _FLOODED * called.size)
    error = _background_error(called, background)
    return bool(error > _NOISE_BACKGROUND_ERROR
                or (np.count_nonzero(called) > _FLOODED * called.size and error > _NOISE_FLOOD_BACKGROUND_ERROR))


#: the settings that say which speeds and sizes the self-labels take, when given
_LABEL_SETTINGS = ("cell_threshold", "background_threshold", "start_threshold", "min_size")


def _no_motion_text(noisy: int, unlabelled: dict[str, list], cfg: MotionConfig, /, *,
                    min_size: int | None, pairs: int = 0, blank_pairs: int = 0) -> tuple[str, str]:
    """What the NoMotionWarning says was not found, and why: pairs whose motion was noise
    (``noisy`` of them), pairs that moved but whose self-labels held no cell or no background
    pixel (``unlabelled``: per empty class, the count and the first such pair's record), pairs
    left out because they hold a blank frame (``blank_pairs`` of the movie's ``pairs``), or no
    motion at all."""
    why = ""
    if noisy:
        why += (f" In {noisy} frame pair(s) the moving pixels were noise: the optical flow was no faster than the "
                f"movie's own noise (motion threshold under {NOISE_CONTRAST:g} x the flow's noise floor), or a "
                "classifier trained on them called much of the still background cell, as in a field without "
                "cells or with cells that do not move. Motion segments cells by their movement: check that the "
                "movie holds moving cells (a crop with cells in it, frames in time order, a frame interval short "
                "enough to follow them); for still or cell-free fields use another pipeline, or set "
                "start_threshold or cell_threshold (px/frame) to say which speed is motion.")
    for empty, (count, (t, cell, background, _, _)) in sorted(unlabelled.items()):
        rule = (f"no object of at least min_size = {min_size} px moved faster than the cell threshold"
                if empty == "cell" else "no pixel was left still enough for the background (slower than the "
                "background threshold and outside the cell labels)")
        why += (f" In {count} frame pair(s) the pixels moved, but {rule}, so no classifier could be trained "
                f"(frame {t}: cell threshold {cell:.3g} px/frame, background threshold {background:.3g} px/frame).")
    if unlabelled:
        given = [f"{key}={getattr(cfg, key)!r}" for key in _LABEL_SETTINGS if getattr(cfg, key) is not None]
        them = "them" if len(given) > 1 else "it"
        window = cfg.winsize * (cfg.flow_downsample or 1)  # a binned flow's window, in the frame's pixels
        why += (f" The given {', '.join(given)} decide{'' if len(given) > 1 else 's'} this: set {them} within the "
                "speeds (px/frame, labelfree.motion.flow_magnitude_stack) and sizes of the movie's cells, or leave "
                f"{them} automatic (null)." if given else
                f" The moving objects with the flow's halo around them (its window: {window} px) fill the frame, "
                "or they are smaller than min_size: give frames larger than the cells and that window, or set "
                "background_threshold, cell_threshold (px/frame) or min_size.")
    if not why and blank_pairs < pairs:
        why = " Motion segments cells by their movement; for still images use another pipeline."
    if blank_pairs:
        why += (f" {blank_pairs} of the {pairs} frame pair(s) hold a blank frame (one value in every pixel: "
                "BlankFrameWarning) and measure no motion; " + ("no pair was left to learn from. Remove the blank "
                "frames (the frames on either side then make a pair) and run again." if blank_pairs == pairs
                else "the pairs between the other frames were used."))
    return ("cell motion" if noisy else "self-labelled motion" if unlabelled else "motion"), why


def _drift_corrected(da: xr.DataArray, cfg: MotionConfig) -> tuple[xr.DataArray, np.ndarray, list]:
    """Register the movie first (labelfree.registration), keeping the input's field of view.

    Returns the corrected movie, per frame how many rows/columns at the (top, bottom, left,
    right) edges were shifted in from outside (zero-filled), and the provenance record of the
    correction: per frame the drift ``[dy, dx]`` (px) that was undone; the labels, drawn on
    the corrected frames, are put back with it (frame t's object at ``p`` lies at ``p + (dy, dx)``
    in the input's frame t: :func:`_on_input_frames`).
    """
    from labelfree.registration import correct_drift

    corrected, shifts = correct_drift(da, backend=cfg.drift_correction, canvas="same")
    log.info("Motion: drift corrected, largest shift %.1f px",
             float(np.abs(shifts[["dy", "dx"]].to_numpy()).max()) if len(shifts) else 0.0)
    bands = np.zeros((da.sizes["T"], 4), np.int64)  # rows/cols without data: top, bottom, left, right
    record = [[0.0, 0.0] for _ in range(da.sizes["T"])]
    for _, row in shifts.iterrows():
        dy, dx = float(row["dy"]), float(row["dx"])
        bands[int(row["frame"])] = [np.ceil(-dy), np.ceil(dy), np.ceil(-dx), np.ceil(dx)]
        record[int(row["frame"])] = [round(dy, 3), round(dx, 3)]
    return corrected, np.clip(bands, 0, None), record


def _speed_keeper(speeds: FlowRecording, da: xr.DataArray, cfg: MotionConfig, /, *, low: float, high: float,
                  highs: np.ndarray) -> Callable[[FrameWork], None] | None:
    """What keeps each pair's flow speed in ``speeds`` as the run computes it, or None when it keeps none.

    The speeds are those of :func:`labelfree.motion.flow.flow_magnitude_stack` while every frame is mapped to
    8 bits as that maps it (the movie's range ``low..high``). A run without exposure or bleaching gains has
    ``highs`` of ``low + (high - low) / 1``, which may differ from ``high`` in the last bit: such a frame is
    compared with that mapping, and one of other grey values stops the keeping (the flow output then
    computes the flow of the movie as given, as before).
    """
    if not speeds.start(da, cfg):
        return None

    def keep(item: FrameWork) -> None:
        if not speeds.keeping:
            return
        t = item.t
        if frame_high(highs, t) != high and not np.array_equal(item.frame, movie_frame(da, t, low=low, high=high)[0]):
            speeds.discard(f"frame {t} was mapped to other grey values than the movie's range gives")
            return
        if item.magnitude is not None:
            speeds.add(t, item.magnitude)

    return keep


def _on_input_frames(labels: np.ndarray, drift: list) -> np.ndarray:
    """Labels drawn on the drift-corrected frames, moved back onto the input's frames.

    Frame t's object at ``p`` lies at ``p + drift[t]`` in the input (to the nearest whole
    pixel: labels are not interpolated). Nothing is lost at the edges: no object is drawn on
    the rows and columns the correction shifted in from outside.
    """
    from labelfree.registration._shift import shift_frame

    window = [(0, labels.shape[1]), (0, labels.shape[2])]
    out = np.zeros_like(labels)
    for t, (dy, dx) in enumerate(drift):
        out[t] = shift_frame(labels[t], (-dy, -dx), window, subpixel=False)
    return out


def _leading(flags: np.ndarray) -> int:
    """How many of ``flags`` are True before the first False."""
    off = np.flatnonzero(~flags)
    return int(off[0]) if off.size else int(flags.size)


def _filled_edges(da: xr.DataArray) -> np.ndarray | None:
    """Per frame, how many whole rows/columns at the (top, bottom, left, right) edges are exactly 0.

    A movie registered or stitched elsewhere (Fiji's Correct 3D Drift, Grid/Collection
    stitching) carries zero-filled bands where a frame had no data. Their edge moves
    with the drift, or stands still as a flat field: the flow took the first for motion
    and the classifier the second for a cell (a border-wide object), or the moving
    edges alone set the self-label thresholds (no cell found). Only the outermost line
    of each edge is read unless it is all zero. None: no frame has such a band.
    """
    n, (h, w) = da.sizes["T"], (da.sizes["Y"], da.sizes["X"])
    data = da.data
    bands = np.zeros((n, 4), np.int64)
    for t in range(n):
        edges = (data[t, 0, :], data[t, h - 1, :], data[t, :, 0], data[t, :, w - 1])
        if all(np.any(np.asarray(e)) for e in edges):  # no edge line all zero: no band
            continue
        zero = np.asarray(data[t]) == 0
        rows, cols = zero.all(axis=1), zero.all(axis=0)
        if rows.all():  # an empty frame: nothing to protect, it is left to the no-motion checks
            continue
        bands[t] = [_leading(rows), _leading(rows[::-1]), _leading(cols), _leading(cols[::-1])]
    return bands if bands.any() else None


def _edge_filled(da: xr.DataArray, bands: np.ndarray) -> xr.DataArray:
    """A copy of the movie whose zero-filled ``bands`` hold the data mirrored at their edge instead.

    The step from the data down to 0 would otherwise be an edge for the entropy and
    gradient features (a strip of false cell along it) and, where the bands move with
    the drift, motion for the flow. The bands stay out of the labels and the training.
    """
    h, w = da.sizes["Y"], da.sizes["X"]
    out = np.array(da.data)
    for t, (top, bottom, left, right) in enumerate(bands):
        if top + bottom < h and left + right < w and (top or bottom or left or right):
            inner = out[t, top : h - bottom, left : w - right]
            out[t] = np.pad(inner, ((top, bottom), (left, right)), mode="symmetric")
    return da.copy(data=out)


def _check_upsample(da: xr.DataArray, cfg: MotionConfig, area: float) -> None:
    """Raise :class:`_Enlarge` when cells of typical area ``area`` want the movie enlarged
    (:func:`labelfree.motion.flow.auto_upsample`) and the enlarged movie fits in memory: its frames and labels in half
    the memory left, and with Motion's work on one enlarged frame (its spec's measure) in all of it.

    The area is the one that sets the automatic sizes, measured on the first classified frame
    that is not flooded (or, for now, on a flooded one that holds a field of cells); the
    flow-only estimate of the first pair is not used: its halo, a flow window wide, hides how
    small the cells are (SIM+ at half size: a radius of 81 px against 42 as given).
    """
    k = auto_upsample(area, radius=cfg.flow_downsample_radius)
    if k == 1:
        return
    need = da.size * k * k * (max(np.dtype(da.dtype).itemsize, 4) + 2)  # enlarged frames + labels
    work = SPEC.work_bytes(int(da.sizes["Y"]) * int(da.sizes["X"]) * k * k)  # on one enlarged frame
    left = _threads.available_memory()
    if left is not None and (need > left // 2 or need + work > left):
        log.warning("Motion: cells of radius %.1f px would be segmented enlarged %d x %d, but that needs %s for the "
                    "enlarged frames and labels and %s for the work on one enlarged frame, and %s are free; "
                    "segmenting at the input's size.",
                    np.sqrt(area / np.pi), k, k, memory_text(need), memory_text(work), memory_text(left))
        return
    raise _Enlarge(k, area)


def _segment_enlarged(da: xr.DataArray, cfg: MotionConfig, k: int, area: float | None, steps: _PassSteps, *,
                      grey_range: _Given | None = None, blank_said: bool = False) -> xr.DataArray:
    """Segment the movie enlarged ``k`` x ``k`` (linear) and reduce the labels back (every k-th pixel); ``steps``:
    the frames of this pass, reported to the run's progress; ``grey_range``: the range (and gains) given to
    :func:`segment`, used for both (linear enlarging keeps a frame's values within its own); ``blank_said``: the
    pass before it gave the run's BlankFrameWarning (an automatic ``upsample``: the same frames).

    Small cells are a few flow windows wide: the flow's halo, the entropy window and the
    clean-up, all in pixels, take up most of them. Measured (docs/benchmarks.md, Motion):
    C2C12 (radius 7.6 px) 0.692 / 0.551 -> 0.714 / 0.567 pixel / object F1; SIM+ and HeLa
    at half size 0.809 / 0.827 -> 0.919 / 0.977 and 0.754 / 0.815 -> 0.835 / 0.852.
    """
    import cv2

    h, w = da.sizes["Y"], da.sizes["X"]
    # a 64-bit float movie stays in 64 bits: cast to 32 bits, values beyond float32's range or precision
    # (1e300, 1e-300) became inf (refused as NaN/inf pixels the movie does not hold) or one value (no cell);
    # an integer movie stays integer (enlarged in 64-bit floats and rounded, as OpenCV rounds uint8 and uint16):
    # as float32 its enlarged pass had the range rule of a float movie, not its own
    kind = np.dtype(da.dtype)
    direct = kind in (np.uint8, np.uint16, np.float32, np.float64)
    if not direct and kind.kind not in "iu":
        kind, direct = np.dtype(np.float32), True
    big = np.empty((da.sizes["T"], h * k, w * k), kind)
    # hot and cold pixels are repaired before enlarging (enlarged, one is a blob no neighbour test finds),
    # judged on the grey range the movie's own pass uses
    extremes = frame_extremes(da.data)
    skip = sorted(blank_frames(da.data, extremes=extremes))
    lo, hi = grey_range[:2] if grey_range else uint8_range(da.data, low=cfg.scale_low_percentile,
                                                           high=cfg.scale_high_percentile, skip=skip,
                                                           extremes=extremes)
    hot = 0
    for t in range(da.sizes["T"]):
        frame, count = repair_raw_hot_pixels(np.asarray(_frame(da, t)), low=lo, high=hi)
        hot += count
        if direct:
            big[t] = cv2.resize(np.asarray(frame, dtype=kind), (w * k, h * k), interpolation=cv2.INTER_LINEAR)
        else:
            big[t] = np.rint(cv2.resize(np.asarray(frame, dtype=np.float64), (w * k, h * k),
                                        interpolation=cv2.INTER_LINEAR))
    if hot:
        log.info("Motion: %d isolated hot or cold pixels (stuck camera pixels, cosmic rays) replaced by the median "
                 "of their 3 x 3 window before enlarging", hot)
    radius = None if area is None else round(float(np.sqrt(area / np.pi)), 2)
    log.info("Motion: segmenting the movie enlarged %d x %d (typical cell radius %s px)", k, k,
             "given" if radius is None else f"{radius:g}")
    # the movie showed cell motion before it was enlarged (the cells were measured on a classified
    # frame); the enlarged frames' interpolated noise is no longer the camera's: it is not judged again
    labels = _segment(as_movie(big), cfg.replace(upsample=1), steps, noise_check=False, grey_range=grey_range,
                      blank_said=blank_said)
    record = dict(labels.attrs["labelfree"])
    record["hot_pixels"] = hot + int(record.get("hot_pixels", 0))
    record["config"] = {**record.get("config", {}), "upsample": cfg.upsample}
    if cfg.upsample is None:
        record["auto"] = {**record.get("auto", {}), "upsample": int(k)}
    record["working_scale"] = {"upsample": int(k), "cell_radius": radius,
                               "note": "sizes in 'scale', 'min_size' and 'thresholds' are in enlarged pixels"}
    if "drift" in record:  # measured on the enlarged frames: the labels are the input's size, and so are their shifts
        record["drift"] = {**record["drift"],
                           "shifts": [[round(dy / k, 3), round(dx / k, 3)] for dy, dx in record["drift"]["shifts"]]}
    small = np.ascontiguousarray(labels.values[:, ::k, ::k])
    return labels_like(small, da, dims=("T", "Y", "X"), attrs={"labelfree": record})


def _floods(cell: np.ndarray, background: np.ndarray, normal: np.ndarray) -> bool:
    """Whether a kernel classification floods: most of the frame called cell, too many of the
    self-labelled background pixels, or far more than the normal densities call cell."""
    n_bg = np.count_nonzero(background)
    n_cell = np.count_nonzero(cell)
    return bool(n_cell > _FLOODED * cell.size
                or (n_bg and np.count_nonzero(cell & background) > _KERNEL_MAX_BACKGROUND_ERROR * n_bg)
                or n_cell > _KERNEL_MAX_GROWTH * max(np.count_nonzero(normal), 1))


def _landscape(cfg: MotionConfig, contrasts: list[float]) -> str:
    """What clumps are split along: ``declump_landscape``, or for "auto" the grey level while the
    movie's median grey contrast so far reaches ``refine_min_contrast`` (fluorescence)."""
    if cfg.declump_landscape != "auto":
        return cfg.declump_landscape
    return "intensity" if contrasts and np.median(contrasts) >= cfg.refine_min_contrast else "distance"


def _valid_region(shape: tuple[int, int], bands: np.ndarray, margin: int) -> np.ndarray:
    """Pixels at least ``margin`` px inside the data of every frame whose fill bands are given."""
    top, bottom, left, right = (int(v) + margin for v in np.max(np.atleast_2d(bands), axis=0))
    valid = np.zeros(shape, bool)
    valid[top : max(top, shape[0] - bottom), left : max(left, shape[1] - right)] = True
    return valid


@dataclasses.dataclass
class _Pair:
    """What the pair (t-1, t) gave: its classifier, its self-label record, and frame t's
    classification when the kernel flooding check already made it (None: not made); ``noise``:
    the pair moved, but only as much as its noise (no classifier); ``empty``: the pair moved, but
    its self-labels held no "cell" or no "background" pixel (no classifier); ``low``: its flow stood no
    more out of its noise than noise does (:func:`_low_contrast`); ``quiet``: for that its labels were judged noise
    (or it moved within the flow's precision)."""

    model: Any = None
    stats: tuple | None = None
    decided: np.ndarray | None = None
    noise: bool = False
    empty: str | None = None
    low: bool = False
    quiet: bool = False


def _classify_pair(item: FrameWork, prev_entropy: np.ndarray, cfg: MotionConfig, /, *, min_size: int,
                   valid: np.ndarray | None, model: Any = None, noise_check: bool = True,
                   flat_fallback: bool = False, flat_background: bool = False) -> _Pair:
    """Self-label the pair ending at ``item`` and train its classifier (updating ``model`` in
    cumulative mode); an empty :class:`_Pair` when the pair shows no motion, or no cell motion: its
    flow barely stands out of its noise and a classifier of its own labels floods (a field without
    cells: it called 92-99 % of the frame cell), or, whatever its flow, its classifier calls more
    than ``_NOISE_BACKGROUND_ERROR`` of its own background labels cell (noise around a cell
    entering a cell-free field). With ``flat_fallback``, a pair left with no background label is
    labelled again with the still pixels without entropy as background too (``flat_background``: a
    crop of a few nuclei on a flat, dark background)."""
    t, feats = item.t, item.features
    # near filled edges the flow follows the edge, not a cell: it sets no threshold either
    magnitude = item.magnitude if valid is None else np.where(valid, item.magnitude, 0.0).astype(np.float32)
    if float(magnitude.max()) <= STILL:
        return _Pair()
    # a given start_threshold or cell_threshold says which speed is motion: no check overrules it
    checking = noise_check and cfg.start_threshold is None and cfg.cell_threshold is None
    if checking and float(magnitude.max()) < _FLOW_PRECISION:
        log.info("Motion: frame %d (0-based): no pixel moves %.2f px/frame, within the flow's precision: no cell "
                 "motion", t, _FLOW_PRECISION)
        return _Pair(noise=True, low=True, quiet=True)
    low = checking and _low_contrast(magnitude, cfg, valid=valid)
    sl = self_label(magnitude, prev_entropy, min_size=min_size, config=cfg, flat_background=flat_background)
    if valid is not None:
        sl.cell &= valid
        sl.background &= valid
    normal = normal_check = None  # the normal densities of the pair's own labels, made once when needed

    def normal_densities() -> None:
        nonlocal normal, normal_check
        normal = train_classifier(feats, sl.cell, sl.background, max_pixels=cfg.max_training_pixels,
                                  seed=cfg.seed + t, prior=cfg.class_prior, kind="gaussian")
        normal_check = None if normal is None else classify_frame(feats, normal)

    if low:
        normal_densities()
        if _noise_labels(_even_odds(feats, normal, normal_check), sl.background):
            log.info("Motion: frame %d (0-based): the flow is no faster than its noise, and its labels are noise: "
                     "no cell motion", t)
            return _Pair(noise=True, low=True, quiet=True)
    kind, decided = cfg.classifier, None
    if kind == "gaussian" and model is None and normal is not None:  # the same densities, trained above
        trained, check = normal, normal_check
    else:
        trained = train_classifier(feats, sl.cell, sl.background, max_pixels=cfg.max_training_pixels,
                                   seed=cfg.seed + t, prior=cfg.class_prior, model=model, kind=kind)
        check = None if trained is None else classify_frame(feats, trained)
    if (trained is None and flat_fallback and not flat_background and model is None and sl.cell.any()
            and not sl.background.any()):
        # the still background of a crop of a few nuclei can be one grey level (no entropy: no paper label;
        # 80-98 % of the pixels of 128 px HeLa crops): those still pixels are its background labels
        return _classify_pair(item, prev_entropy, cfg, min_size=min_size, valid=valid, noise_check=noise_check,
                              flat_background=True)
    if trained is None:
        return _Pair(None, (t, sl.cell_threshold, sl.background_threshold, int(sl.cell.sum()), kind),
                     empty="cell" if not sl.cell.any() else "background", low=low)
    if kind == "kernel" and model is None:
        # the kernel densities also follow background that the flow halo put into the
        # cell labels; when that wins, the frame floods: use the paper's normal densities
        if normal is None:
            normal_densities()
        if _floods(check, sl.background, normal_check):
            kind, trained, check = "gaussian", normal, normal_check
            log.info("Motion: frame %d (0-based): the kernel classifier floods; normal densities used", t)
    even = _even_odds(feats, trained, check) if checking else None
    error = _background_error(even, sl.background) if checking else 0.0
    n_bg = int(np.count_nonzero(sl.background))
    n_called = int(np.count_nonzero(even)) if checking else 0
    if checking and n_bg < min_size and n_called > _KERNEL_MAX_GROWTH * np.count_nonzero(sl.cell):
        # too few background labels to judge it by them (fewer than one cell's pixels), and it calls far
        # more than its cell labels cell: 1 and 3 background pixels in two HeLa crops, 96 % and 47 % of
        # the frame called cell against 19 % and 14 % labelled, frames then one object (dense synthetic
        # fields call 46-57 %, under their 51-72 % of cell labels): no classifier of its own
        log.info("Motion: frame %d (0-based): its classifier, trained on %d background pixels, calls %.0f %% of the "
                 "frame cell: not used", t, n_bg, 100 * n_called / even.size)
        return _Pair(noise=True, low=low)
    flooding = checking and n_called > _FLOODED * even.size
    if error > _NOISE_BACKGROUND_ERROR or (flooding and error > _NOISE_FLOOD_BACKGROUND_ERROR):
        # whatever its flow, a classifier that cannot tell its own background labels from its cell
        # labels has learnt noise (a few cells moving in a field of camera noise: 25-29 %); one that
        # also floods, at a lower share (a HeLa crop: 20 %, 86 % of the frame; dense fields 2-5 %)
        log.info("Motion: frame %d (0-based): its classifier calls %.0f %% of its background labels cell%s: no cell "
                 "motion", t, 100 * error, f" and {100 * n_called / even.size:.0f} % of the frame" if flooding else "")
        return _Pair(noise=True, low=low)
    if cfg.decision_smoothing == 0:  # the frame's classification, already made
        decided = check
    return _Pair(trained, (t, sl.cell_threshold, sl.background_threshold, int(sl.cell.sum()), kind), decided, low=low)


@dataclasses.dataclass
class _Cleaned:
    """A classified frame after the clean-up, and its boundary refinement's grey contrast (None
    when the contrast check does not run or finds no core or background) with either the
    refined mask or, while that was not computed, the band to compute it from."""

    clean: np.ndarray
    contrast: float | None = None
    band: _Band | None = None
    refined: np.ndarray | None = None
    floored: dict | None = None  # the classified frame was flooded and floored: its record (:func:`_floor_record`)


def _brighter(grey: np.ndarray, called: np.ndarray, /) -> bool:
    """Whether the ``called`` pixels of the frame ``grey`` are brighter than the rest by ``_FLOOD_MIN_CONTRAST``
    pooled standard deviations or more (fluorescence; phase contrast gives < 1)."""
    return bool(called.any() and not called.all() and grey[called].mean() > grey[~called].mean()
                and grey_contrast(grey, called, ~called) >= _FLOOD_MIN_CONTRAST)


def _dark_side_floor(grey: np.ndarray, /) -> tuple[np.ndarray, float, np.ndarray] | None:
    """The frame ``grey`` smoothed by 1 px, its background level, and its pixels ``_FLOOD_FLOOR`` noise units of
    the background's dark side above that level (:func:`labelfree.noise.lower_side_noise`, which cells covering
    much of the frame do not widen); None where the dark side has no noise."""
    smooth = ndi.gaussian_filter(grey, 1.0)
    level, noise = lower_side_noise(smooth)
    return (smooth, level, smooth > level + _FLOOD_FLOOR * noise) if noise > 0 else None


def _bright_cells(frame: np.ndarray, mask: np.ndarray, /) -> np.ndarray | None:
    """Of a fluorescence frame's called pixels (:func:`_brighter`), those above the floor of the background's dark
    side (:func:`_dark_side_floor`): the cells without the halo the classifier calls around them. None for a frame
    whose called pixels are not so much brighter, or whose background's dark side has no noise."""
    called = np.asarray(mask, bool)
    grey = np.asarray(frame, np.float64)
    floor = _dark_side_floor(grey) if _brighter(grey, called) else None
    return None if floor is None else called & floor[2]


def _floor_flooded(frame: np.ndarray, mask: np.ndarray, /) -> np.ndarray | None:
    """A flooded frame's cells: of a ``mask`` calling over half the ``frame`` cell, the pixels brighter than the
    background by ``_FLOOD_FLOOR`` times the noise of its dark side (the frame smoothed by 1 px;
    :func:`labelfree.noise.lower_side_noise`, which cells covering much of the frame do not widen). None (the mask
    stands) when the mask is not flooded, its cells are not brighter than the rest by ``_FLOOD_MIN_CONTRAST``
    pooled standard deviations (phase contrast: cells and background share grey levels), or the frame's mode is
    nearer the called pixels' grey level than the others' (cells, not background, fill most of it).

    Every cell of a dense field of moving nuclei moves, and the flow's self-labels spread between them: the
    classifier calls most of the frame cell, and the nuclei would come out as one object.
    """
    called = np.asarray(mask, bool)
    n_called = np.count_nonzero(called)
    if n_called <= _FLOODED * called.size:
        return None
    grey = np.asarray(frame, np.float64)
    floor = _dark_side_floor(grey) if _brighter(grey, called) else None
    if floor is None:
        return None
    smooth, level, above = floor
    if abs(level - np.median(smooth[~called])) >= abs(level - np.median(smooth[called])):
        return None
    return called & above


def _floor_record(t: int, called: np.ndarray, floor: np.ndarray, /) -> dict:
    """The provenance's record of frame ``t`` floored: the shares of the frame called cell and kept."""
    return {"frame": t, "called": round(float(np.count_nonzero(called)) / called.size, 3),
            "kept": round(float(np.count_nonzero(floor)) / floor.size, 3)}


def _refined(t: int, band: _Band, cfg: MotionConfig, /, *, min_size: int) -> np.ndarray:
    mask = _redecide(band, prior=cfg.class_prior, kind=cfg.refine_classifier, max_pixels=cfg.max_training_pixels,
                     seed=cfg.seed + t)
    return postprocess(mask, min_size=min_size, closing_radius=0, clear_border=cfg.clear_border)


def _clean_up(t: int, frame: np.ndarray, mask: np.ndarray, cfg: MotionConfig, /, *, min_size: int,
              redecide: Callable[[float], bool]) -> _Cleaned:
    """Size filter, closing and hole filling; then the refinement's band, re-decided when
    ``redecide(contrast)`` says so (whether the refinement applies is decided in frame order,
    on the movie's contrasts so far)."""
    clean = postprocess(mask, min_size=min_size, closing_radius=resolve_closing_radius(cfg, min_size=min_size),
                        clear_border=cfg.clear_border)
    if not (cfg.refine_boundary or (cfg.declump and cfg.declump_landscape == "auto")):
        return _Cleaned(clean)
    # without the refinement, its contrast check still runs (never refining): it chooses the split landscape
    clean, band = _band(frame, clean, inner=cfg.refine_inner, outer=cfg.refine_outer, sigma=cfg.refine_sigma)
    if band is None:
        return _Cleaned(clean)
    if redecide(band.contrast):  # the band's arrays are not kept
        return _Cleaned(clean, band.contrast, refined=_refined(t, band, cfg, min_size=min_size))
    return _Cleaned(clean, band.contrast, band=band)


def segment(movie: Any, /, *, config: MotionConfig | dict | str | None = None, progress: Any = False,
            grey_range: tuple[float, float] | None = None, frame_gains: Any = None) -> xr.DataArray:
    """Segment moving cells in a time-lapse without training labels (Robitaille et al. 2022).

    For each frame pair (t-1, t): Farnebaeck flow, self-labels from the flow
    magnitude, static features of frame t, a Gaussian Naive Bayes trained on the
    self-labels, classification of every pixel of frame t, then size filter,
    closing and hole filling; beyond the paper, touching cells are split
    (watershed) and label IDs are kept across frames. Frame 0 is classified by
    the model of the pair (0, 1). A frame the classifier calls over half cell, whose cells are
    clearly brighter than the rest (a dense field of moving fluorescent nuclei), keeps only its
    pixels 3 noise units above the background (provenance ``floored``; docs/motion.md).

    Parameters
    ----------
    movie : (T, Y, X) DataArray, array (memory-mapped is fine) or list of frames
        The time-lapse; non-uint8 movies are scaled to uint8 once per movie
        (percentiles ``scale_low_percentile`` / ``scale_high_percentile`` -> 0 / 255; a movie
        of no more grey levels than 8 bits hold is spread from its smallest to its largest value
        instead, never clipped: :func:`labelfree.motion.flow.uint8_range`). The values decide, not
        their type: a movie as uint8, as uint16, int32 or int64 of the same values, as float32 or
        float64 of them, or divided by 255 to 0..1 (skimage ``img_as_float``, a napari layer) gives
        the same labels (:func:`labelfree.motion.flow.integer_movie`; provenance ``integer_values``).
    config : MotionConfig, dict, JSON/YAML path or None
        Parameters; every threshold is found from the data when left None.
    progress : bool, tqdm-like or callable
        Progress per frame; cancelling raises :class:`labelfree.errors.Cancelled`.
    grey_range : (lo, hi), optional
        For chunked runs: the grey values that become 0 and 255, as :func:`movie_grey_mapping` measured them on
        the whole movie (in the values it is segmented as: provenance ``uint8_range``), instead of this movie's
        own. ``labelfree batch --chunk-frames`` hands every chunk of a movie the whole movie's range, so that
        its frames are mapped to 8 bits as the whole run maps them; an enlarged pass (``upsample``) uses it as
        it is. Not a setting: a run of the whole movie measures its own. Default: measured on this movie.
    frame_gains : (T,) sequence of float, optional
        With ``grey_range``: the whole movie's gains of these frames (exposure and bleaching in one,
        :func:`movie_grey_mapping`), instead of those measured on this movie (a chunk's bleaching trend is
        not the movie's); recorded as ``frame_gains`` (those other than 1). Default: measured on this movie.

    Returns
    -------
    xarray.DataArray
        TYX uint16 labels (0 = background) with the movie's coords and
        ``attrs["labelfree"]`` provenance.

    Notes
    -----
    The frames, their static features and the flows of the next pairs are computed ahead
    in :func:`labelfree._threads.thread_count` worker threads (``run_pipeline(threads=)``,
    ``LABELFREE_THREADS``, else the cores this process may use; one inside a Dask worker),
    at most one frame more than the threads at a time. Once the first moving pair has fixed
    the minimum size, the workers also self-label, classify and clean up each pair (with
    ``classifier_mode="per_pair"``), at most as many pairs ahead as there are threads; what
    depends on earlier frames (whether the boundary refinement applies, the instances over
    time, the IDs) runs in frame order. The labels are the same for every thread count.
    Each thread holds up to about 208 bytes per frame pixel; fewer threads are used when the
    memory this process may still use (``MemAvailable``, its cgroup's limit) would not hold
    them beside the label stack and the part of the work that does not grow with the frame
    (:func:`labelfree._threads.threads_for_memory`).

    Raises
    ------
    ConstantImageError
        Every frame is uniform: there is nothing to segment (as for the other pipelines).
    DimensionError, DTypeError
        Not a 2-D time-lapse of at least 2 frames, or a pixel type Motion cannot read (:func:`as_movie`).
    NonFiniteError
        The movie holds no finite pixel (NaN/inf pixels are otherwise missing data: each frame's are set to the
        median of its other pixels, with one :class:`labelfree.errors.MissingPixelsWarning`).

    Warns
    -----
    NoMotionWarning
        No frame pair shows motion: the labels are empty (the warning says why: no motion, motion
        no faster than noise, no self-labels, or pairs that hold a blank frame).
    BlankFrameWarning
        Frames with one value in every pixel: they are left empty and teach nothing.

    Each of these is given once per run, and names the line that called :func:`segment`.
    """
    cfg = MotionConfig.coerce(config)
    da = as_movie(movie)
    require_label_memory(dict(da.sizes), SPEC)  # before any work: labels that cannot fit are refused, saying how
    given = None if grey_range is None and frame_gains is None else _checked_range(grey_range, frame_gains,
                                                                                   n_frames=da.sizes["T"])
    check_not_uniform(da)
    # the same values give the same labels whatever their type: int32, int64, float copies and 0..1 floats
    # (img_as_float, napari) of an 8- or 16-bit movie are segmented as that movie
    da, converted = integer_movie(da)
    # a flow output asked for: the flow speeds this run computes are kept for it (labelfree.motion.flow_record)
    labels = _segment_movie(da, cfg, progress, speeds=claim_recording(), grey_range=given)
    if converted is not None:  # uint8_range and the sizes are in the values the movie was segmented as
        labels.attrs["labelfree"] = {**labels.attrs["labelfree"], "integer_values": converted}
    return labels


class _Given(NamedTuple):
    """A grey mapping given to :func:`segment`: the range, and the frames' gains (None: measured)."""

    lo: float
    hi: float
    gains: tuple[float, ...] | None


def _checked_range(grey_range: Any, frame_gains: Any, /, *, n_frames: int) -> _Given:
    """``grey_range`` as two floats, low below high, and ``frame_gains`` as ``n_frames`` positive floats (a
    ConfigError says what was given otherwise)."""
    try:
        lo, hi = (float(v) for v in grey_range)
    except (TypeError, ValueError):
        lo, hi = np.nan, np.nan
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigError(f"Motion's grey_range must be two finite grey values, the low one first (as "
                          f"movie_grey_mapping gives them); got {grey_range!r}. Leave it out to measure the movie's "
                          "own.")
    if frame_gains is None:
        return _Given(lo, hi, None)
    gains = np.asarray(frame_gains, np.float64).ravel()
    if gains.size != n_frames or not np.all(np.isfinite(gains) & (gains > 0)):
        raise ConfigError(f"Motion's frame_gains must be one positive gain per frame of the movie ({n_frames}); got "
                          f"{gains.size} ({np.round(gains[:5], 4).tolist()}...). Give the whole movie's gains of "
                          "these frames (movie_grey_mapping), or leave them out.")
    return _Given(lo, hi, tuple(float(g) for g in gains))


def movie_grey_mapping(movie: Any, /, *, config: MotionConfig | dict | str | None = None) -> dict[str, Any] | None:
    """How :func:`segment` maps this whole movie's frames to 8 bits: the grey values it maps to 0 and 255
    (provenance ``uint8_range``) and each frame's gain (frames of another exposure, bleaching).

    Measured as a run of the movie measures them (:func:`labelfree.motion.flow.uint8_range`): in the values it
    is segmented as (:func:`labelfree.motion.flow.integer_movie`), inside a constant canvas, its zero-filled
    edges filled, its blank frames and frames of another exposure left out; one frame in memory at a time
    (a memory-mapped or lazy movie is not loaded, but for a float movie of whole numbers or one with
    zero-filled edges, copied as the run copies it). Hand it to ``segment(chunk, grey_range=, frame_gains=)``
    (the gains of the chunk's frames) so that a chunk of the movie maps its frames as the whole run does
    (``labelfree batch --chunk-frames``).

    Parameters
    ----------
    movie : (T, Y, X) DataArray or array (memory-mapped or lazy is fine)
        The whole time-lapse (:func:`as_movie`).
    config : MotionConfig, dict, JSON/YAML path or None
        The run's settings (``scale_low_percentile``, ``scale_high_percentile``).

    Returns
    -------
    dict or None
        ``{"grey_range": [lo, hi]}``, with ``"frame_gains"`` (one per frame) when a gain is not 1. None with
        ``drift_correction``: the range of the corrected movie is the run's own (each chunk measures its own).
    """
    cfg = MotionConfig.coerce(config)
    if cfg.drift_correction:
        return None
    da, _ = integer_movie(as_movie(movie))
    box = _movie_box(da)
    if box is not None:  # segmented as its crop (segment)
        da = da.isel(Y=box[0], X=box[1])
    filled = _filled_edges(da)
    if filled is not None:
        da = _edge_filled(da, filled)
    extremes = frame_extremes(da.data)
    blank = set(blank_frames(da.data, extremes=extremes))
    means = frame_means(da.data, skip=sorted(blank))
    lo, hi, gains, *_ = _grey_range(da, cfg, blank=blank, extremes=extremes, means=means)
    gains = gains * bleaching_gains(da.data, low=lo, skip=sorted(blank), exposure=gains, means=means)
    mapping: dict[str, Any] = {"grey_range": [float(lo), float(hi)]}
    if np.any(gains != 1):
        mapping["frame_gains"] = [float(g) for g in gains]
    return mapping


def _segment_movie(da: xr.DataArray, cfg: MotionConfig, progress: Any, *,
                   speeds: FlowRecording | None = None, grey_range: _Given | None = None) -> xr.DataArray:
    """:func:`segment` of a checked movie: inside a constant canvas, enlarged or as given; ``speeds``: where the
    flow speeds of a run of the movie as given are kept (not those of a crop or of the movie enlarged);
    ``grey_range``: the range (and gains) given to :func:`segment`."""
    box = _movie_box(da)
    if speeds is not None and (box is not None or cfg.upsample not in (None, 1)):
        speeds.discard("the run segmented a crop of the movie or the movie enlarged")
    if box is not None:  # a crop in a constant canvas: segmented as that crop, the labels placed back
        ys, xs = box
        log.info("Motion: a constant canvas around rows %d-%d, columns %d-%d of every frame is left out",
                 ys.start, ys.stop - 1, xs.start, xs.stop - 1)
        given = {} if grey_range is None else {"grey_range": grey_range[:2], "frame_gains": grey_range.gains}
        inner = segment(da.isel(Y=ys, X=xs), config=cfg, progress=progress, **given)
        out = np.zeros((da.sizes["T"], da.sizes["Y"], da.sizes["X"]), inner.dtype)
        out[:, ys, xs] = inner.values
        record = {**inner.attrs["labelfree"], "canvas": {"rows": [ys.start, ys.stop], "columns": [xs.start, xs.stop]}}
        return labels_like(out, da, dims=("T", "Y", "X"), attrs={"labelfree": record})
    k, area = (1 if cfg.upsample is None else int(cfg.upsample)), None
    # one progress from 0 to the number of frames, also when the movie is segmented again enlarged
    with Progress(progress, total=da.sizes["T"], desc="Motion") as bar:
        if k == 1:
            try:
                return _segment(da, cfg, _PassSteps(bar, progress), speeds=speeds, grey_range=grey_range)
            except _Enlarge as small_cells:  # automatic upsample: measured on the first classified frame
                k, area = small_cells.k, small_cells.area
                if speeds is not None:
                    speeds.discard("the movie was segmented enlarged")
        # the pass as given, when it ran, gave the run's BlankFrameWarning: not given again
        return _segment_enlarged(da, cfg, k, area, _PassSteps(bar, progress, note=f" (enlarged {k} x {k})"),
                                 grey_range=grey_range, blank_said=area is not None)


class _PassSteps:
    """The frames of one pass of Motion over the movie, reported to the run's one :class:`Progress`.

    The automatic ``upsample`` restarts the run enlarged once the first classified frame has measured
    the cells: the frames the first pass reported are done again. That pass reports only the steps
    beyond them (cancelling is still polled), so the progress goes once from 0 to the number of frames
    (a callback sees each ``done`` once; a tqdm bar is not filled past its total, nor a second bar shown).
    """

    def __init__(self, bar: Progress, progress: Any, *, note: str = "") -> None:
        self.bar, self.progress, self.note = bar, progress, note
        self.done = 0  # the steps of this pass

    def update(self, n: int = 1, *, message: str = "") -> None:
        """Advance this pass by ``n`` steps; the run's progress by those beyond what it has reported."""
        self.done += n
        ahead = self.done - self.bar.done
        if ahead > 0:
            self.bar.update(ahead, message=f"{message}{self.note}")
        else:  # frames the first pass reported
            check_cancel(self.progress)


#: a canvas is left out when the data inside it is at least this many pixels along each side (a smaller
#: box is a few bright pixels on a constant frame, not an image in a canvas)
_MIN_BOX = 16


def _movie_box(da: xr.DataArray) -> tuple[slice, slice] | None:
    """The (Y, X) slices of the smallest box holding every frame's data inside a constant canvas
    (whole edge rows and columns of one value: a crop pasted into a larger frame, a stitched
    mosaic's empty margin, an export padded to a size); None when no side of the movie has one.

    In the canvas the flow is that of a flat field (it takes the cells' motion from afar), the
    features are those of no texture and the grey range and the self-label thresholds are
    shared with it: a 256 x 256 crop of the HeLa movie in a 512 x 512 frame of its median grey
    value gave no cell at all (15 a frame alone). Frames with one value in every pixel (blank)
    and edges that are all zero in some frames only (drift bands) are left to the rest of Motion.
    """
    height, width = da.sizes["Y"], da.sizes["X"]
    box = stack_content_box(da.transpose("T", "Y", "X"))
    if box is None:
        return None
    ys, xs = box
    top, bottom, left, right = ys.start, ys.stop, xs.start, xs.stop
    if bottom - top < _MIN_BOX or right - left < _MIN_BOX or (top, bottom, left, right) == (0, height, 0, width):
        return None
    return slice(top, bottom), slice(left, right)


class _Enlarge(Exception):
    """Raised by :func:`_segment` once the cells have been measured and an automatic ``upsample``
    asks for the movie enlarged ``k`` x ``k`` (cells of typical area ``area`` px)."""

    def __init__(self, k: int, area: float) -> None:
        super().__init__(f"enlarge {k} x {k}")
        self.k, self.area = k, area


def _grey_range(da: xr.DataArray, cfg: MotionConfig, /, *, blank: set[int], extremes: tuple[np.ndarray, np.ndarray],
                means: np.ndarray, given: _Given | None = None,
                ) -> tuple[float, float, np.ndarray, list[int], tuple[float, float] | None]:
    """The grey values that become 0 and 255 (:func:`grey_mapping`, ``given`` when given) and the exposure gains
    (:func:`exposure_gains`, measured above the low one; ``given.gains`` when given) of a movie whose ``blank``
    frames are left out.

    A frame of another exposure is mapped to the grey values of its neighbours (the classifier of the next pair,
    trained on theirs, would call all of it cell), nor does it stretch the measured range of the others.
    Returns ``(lo, hi, gains, exposed, percentiles)``: ``exposed``, the frames whose gain is not 1; ``percentiles``,
    those ``lo`` and ``hi`` are (None: given, or the movie's smallest and largest values).
    """
    percentiles = None
    if given is None:
        lo, hi, percentiles = grey_mapping(da.data, low=cfg.scale_low_percentile, high=cfg.scale_high_percentile,
                                           skip=sorted(blank), extremes=extremes)
    else:
        lo, hi = given.lo, given.hi
        if given.gains is not None:  # the whole movie's, exposure and bleaching in one
            return lo, hi, np.asarray(given.gains, np.float64), [], None
    gains = exposure_gains(da.data, low=lo, skip=sorted(blank), means=means)
    exposed = np.flatnonzero(gains != 1).tolist()
    if exposed and given is None:
        lo, hi, percentiles = grey_mapping(da.data, low=cfg.scale_low_percentile, high=cfg.scale_high_percentile,
                                           skip=sorted(blank | set(exposed)), extremes=extremes)
    return lo, hi, gains, exposed, percentiles


def _segment(da: xr.DataArray, cfg: MotionConfig, bar: _PassSteps, *, noise_check: bool = True,
             speeds: FlowRecording | None = None, grey_range: _Given | None = None,
             flat_fallback: bool = False, blank_said: bool = False) -> xr.DataArray:
    """:func:`segment` on the movie as given (raises :class:`_Enlarge` for an automatic ``upsample``);
    ``bar``: its frames' progress; ``noise_check``: pairs without cell motion (:func:`_classify_pair`) are left
    out (as still ones); ``speeds``: where each pair's flow speed is kept (:func:`_speed_keeper`);
    ``grey_range``: the grey values that become 0 and 255 (and the frames' gains), when measured elsewhere
    (:func:`segment`); ``flat_fallback``: pairs with no background label take the still pixels without entropy
    as background (:func:`_classify_pair`). A run that segmented no frame, and had a pair with no background
    label, runs again with it (a crop of a few nuclei on a flat, dark background: its still pixels have no
    entropy, the paper's background labels none of them). ``blank_said``: an earlier pass of the run (the pass
    before the enlarged one, the run before a run again) gave the BlankFrameWarning of these frames.

    Its warnings name the caller of :func:`segment` (:func:`labelfree._warn_place.user_stacklevel`), however
    deep in the run they are given, and the run gives one NoMotionWarning at most."""
    if speeds is not None and cfg.drift_correction:
        speeds.discard("the run corrected the movie's drift first")
        speeds = None
    given_movie = da  # for a run again with flat_fallback
    bands, drift = None, None
    if cfg.drift_correction:
        da, bands, drift = _drift_corrected(da, cfg)
    filled = _filled_edges(da)  # zero-filled before it came here (registered or stitched elsewhere)
    if filled is not None:
        log.info("Motion: zero-filled edges of up to %s rows/columns (top, bottom, left, right) left out",
                 ", ".join(str(int(v)) for v in filled.max(axis=0)))
        if speeds is not None:
            speeds.discard("the run filled the movie's zero-filled edges")
            speeds = None
        bands = filled if bands is None else np.maximum(bands, filled)
        da = _edge_filled(da, filled)
    n, shape = da.sizes["T"], (da.sizes["Y"], da.sizes["X"])
    # the zero-filled edges move with the drift: the flow sees their edge move, so no training
    # label is taken within the flow window of them, and no cell is reported on them
    margin = cfg.winsize // 2 + int(np.ceil(2 * cfg.flow_blur)) + 1
    # a frame with one value in every pixel (dropped, flat, saturated) holds no cell: it is left empty,
    # its pairs give no training labels, and it does not stretch the grey range of the others
    extremes = frame_extremes(da.data)  # one pass: blank frames, and an 8-bit movie's range
    blank = set(blank_frames(da.data, extremes=extremes))
    if blank and not blank_said:  # once per run: not again in its enlarged pass or its run again
        shown = sorted(blank)
        which = (f"frame {shown[0]} (0-based) is left empty, and the pairs with it" if len(shown) == 1 else
                 f"frames {shown[:20]}{' ...' if len(shown) > 20 else ''} (0-based) are left empty, and the pairs "
                 "with them")
        warnings.warn(BlankFrameWarning(
            f"{len(blank)} of {n} frames {'has' if len(blank) == 1 else 'have'} one value in every pixel (dropped, "
            f"flat or saturated frames): {which} teach the classifier nothing."), stacklevel=user_stacklevel())
    means = frame_means(da.data, skip=sorted(blank))  # the brightness both rules compare, read once
    lo, hi, gains, exposed, percentiles = _grey_range(da, cfg, blank=blank, extremes=extremes, means=means,
                                                      given=grey_range)
    handed = grey_range is not None and grey_range.gains is not None  # the whole movie's gains: not measured here
    if exposed:
        log.info("Motion: frames %s of another exposure brought to their neighbours' brightness (gains %s)",
                 exposed, np.round(gains[exposed], 3).tolist())
    # a bleaching movie (a trend of over 1.5 x in brightness) is brought back to its brightest frames' grey
    # values: its last frames would keep a third of the grey levels, and the flow thresholds and the area
    # found fall with them
    trend = np.ones(n) if handed else bleaching_gains(da.data, low=lo, skip=sorted(blank), exposure=gains,
                                                      means=means)
    bleaching = bool(np.any(trend != 1))
    if bleaching:
        log.info("Motion: brightness trend over the movie of %.2f x (bleaching): frames brought back to its "
                 "brightest (gains %.3f-%.3f)", np.max(trend) / np.min(trend), np.min(trend), np.max(trend))
    highs = lo + (hi - lo) / (gains * trend)
    keep = None
    if speeds is not None and (exposed or bleaching or (handed and np.any(gains != 1))):
        # frames mapped to other grey values than the movie's range
        speeds.discard("the run brought frames to other brightness (exposure, bleaching)")
    elif speeds is not None:
        keep = _speed_keeper(speeds, da, cfg, low=lo, high=hi, highs=highs)
    out = np.zeros((n, *shape), np.uint16)
    linker = OverlapLinker(min_iou=cfg.track_min_iou)
    model, min_size, pending, stats, still = None, cfg.min_size, [], [], 0
    noisy = 0  # pairs whose flow was no faster than its noise
    unlabelled: dict[str, list] = {}  # moving pairs whose self-labels held no cell / no background pixel
    refined, contrasts = [], []  # per-frame refinement records; the grey contrasts seen so far
    floored: list[dict] = []  # flooded frames kept to their pixels over the background's floor (_floor_flooded)
    refine_size = cfg.min_size is None and cfg.refine_min_size
    tracker, last, landscapes = None, -1, {}  # instances over time; the last finished frame
    provisional = False  # the size set by a flooded frame, till one that is not flooded checks it
    # a moving pair whose flow stood out of its noise: till one has, the cells measured may be noise called cell,
    # and the run enlarged for them (``deferred``) waits (its enlarged pass judges no pair's noise); ``quiet``: the
    # pairs whose flow did not, judged noise by their labels
    contrasted, quiet, deferred = False, 0, None

    def exact(contrast: float) -> bool:  # the refinement's decision for the next frame in order
        return bool(cfg.refine_boundary and np.median([*contrasts, contrast]) >= cfg.refine_min_contrast)

    def finish(t: int, frame: np.ndarray, mask: np.ndarray | None, flow: np.ndarray | None = None,
               done: _Cleaned | None = None) -> None:
        """Frame t's objects from its classified ``mask``, or from ``done``, its clean-up made ahead."""
        nonlocal out, min_size, refine_size, tracker, last, provisional
        if t in blank:  # no cell in it: empty; the instance tracker restarts after it, the label ids carry on
            return
        if done is None:
            floor = _floor_flooded(frame, mask)
            if floor is not None:  # a dense field of fluorescent cells that the classifier floods
                floored.append(_floor_record(t, mask, floor))
                mask = floor
            # flow objects include a halo: check the size on the first classified frame that is not
            # flooded (a frame classified mostly as cell, e.g. frame 0 of HeLa with log_intensity,
            # would keep the flow-only size, which removes most nuclei)
            if refine_size:
                flooded = np.count_nonzero(mask) > _FLOODED * mask.size
                # few objects (a crop): measured with clumps cut at their necks (typical_cell_area)
                # (pieces of cells small enough to restart the run enlarged are fragments: not cells)
                filled, neck = fill_mask_holes(mask), cfg.declump_neck_ratio or _NECK_RATIO
                sizing = dict(min_area=size_floor(shape), neck_ratio=neck,
                              min_cell_area=np.pi * cfg.flow_downsample_radius**2 / 2)
                area, support = typical_cell_area(filled, **sizing)
                # fluorescence: measured without the classifier's halo, which joins neighbouring cells in a
                # dense field (laptrack's frame 0: 793 px with it, 537 without; its nuclei 350)
                bright = _bright_cells(frame, filled)
                if bright is not None:
                    measured = typical_cell_area(bright, **sizing)
                    if measured[0] and measured[1] >= FEW_OBJECTS:
                        area, support = measured
                # ... but where every frame so far is flooded (a crop of dense cells, their halos over half of
                # it: SIM+ 128 px at (330, 0)), the first that holds FEW_OBJECTS cells or more and lowers the
                # flow-only size sets it for now (the declumping restarts at its scale); the first frame that
                # is not flooded still checks it
                if flooded and not provisional and support >= FEW_OBJECTS and _size_of(area, cfg) < min_size:
                    min_size, tracker, provisional = _size_of(area, cfg), None, True
                    log.info("Motion: frame %d (0-based) is over half cell; its %d cells set the minimum object "
                             "size %d px for now, closing radius %d px", t, support, min_size,
                             resolve_closing_radius(cfg, min_size=min_size))
                    if cfg.upsample is None and deferred is None:
                        enlarge(min_size / cfg.min_size_fraction)
                if not flooded:
                    # many objects beside one that, measured alone, is a cell of over FEW_OBJECTS of theirs: were
                    # they cells, it would be a clump of them and split at their necks; they are fragments (camera
                    # noise called cell around one cell: MSC 256 px crop at (256, 640)), and the flow's size stays
                    whole = _largest_cell_area(filled, min_area=size_floor(shape), neck_ratio=neck) if (
                        area and support >= FEW_OBJECTS) else 0.0
                    if whole > FEW_OBJECTS * area:
                        log.info("Motion: frame %d (0-based): its %d objects of a typical %.0f px are fragments of "
                                 "larger cells (its largest object is a cell of %.0f px): the size is not lowered",
                                 t, support, area, whole)
                        area = 0.0
                    if area:
                        min_size = min(min_size, _size_of(area, cfg))
                    if area and support < FEW_OBJECTS:
                        _warn_few_objects(t, support, min_size, cfg)
                    refine_size = False
                    if cfg.upsample is None and deferred is None:
                        enlarge(min_size / cfg.min_size_fraction)
                    log.info("Motion: minimum object size %d px, closing radius %d px", min_size,
                             resolve_closing_radius(cfg, min_size=min_size))
                    # flooded frames before it built the declumping at their (larger) size: it takes this one
                    if tracker is not None and tracker.cell_area != min_size / cfg.min_size_fraction:
                        log.info("Motion: touching cells split at a typical cell area of %.0f px from frame %d "
                                 "(0-based) on; the frames before it at %.0f px", min_size / cfg.min_size_fraction,
                                 t, tracker.cell_area)
                        tracker.rescale(cell_area=min_size / cfg.min_size_fraction, min_size=min_size // 2)
            done = _clean_up(t, frame, mask, cfg, min_size=min_size, redecide=exact)
        elif done.floored is not None:
            floored.append(done.floored)
        clean, applied = done.clean, False
        if done.contrast is not None:  # the grey-contrast check also chooses the split landscape
            applied = exact(done.contrast)
            contrasts.append(done.contrast)
            if applied:
                clean = done.refined if done.refined is not None else _refined(t, done.band, cfg, min_size=min_size)
        if cfg.refine_boundary:
            contrast = None if done.contrast is None or np.isnan(done.contrast) else round(done.contrast, 3)
            refined.append({"frame": t, "contrast": contrast, "refined": applied})
        if cfg.declump:
            if tracker is None:
                tracker = InstanceTracker(cell_area=min_size / cfg.min_size_fraction, dip_ratio=cfg.declump_dip_ratio,
                                          neck_ratio=cfg.declump_neck_ratio, min_size=min_size // 2,
                                          temporal=cfg.declump_temporal)
            tracker.landscape = _landscape(cfg, contrasts)
            landscapes[tracker.landscape] = landscapes.get(tracker.landscape, 0) + 1
            if t != last + 1:
                tracker.reset()  # frames in between were left empty
            lab = tracker.step(clean, frame, flow=flow)
        else:
            lab = to_instances(clean, declump=False)
        last = t
        if bands is not None:
            lab[~_valid_region(shape, bands[t], 0)] = 0
        # a piece of a split clump may be smaller (down to min_size / 2), and an object cut at the
        # data edge too: min_size holds for every object reported
        lab = merge_small_objects(lab, min_size=min_size)
        if cfg.track:
            lab = linker.link(lab)
        if lab.size and lab.max() > 65535 and out.dtype == np.uint16:
            out = out.astype(np.uint32)
        out[t] = lab

    def valid(t: int) -> np.ndarray | None:
        """Where pair (t-1, t) may take training labels: away from zero-filled drift edges; nowhere when
        either frame is blank (its flow against a blank frame is no motion)."""
        if t in blank or t - 1 in blank:
            return np.zeros(shape, bool)
        return None if bands is None else _valid_region(shape, bands[t - 1 : t + 1], margin)

    def ahead(item: FrameWork, prev_entropy: np.ndarray, size: int) -> tuple:
        """Pair t classified and cleaned up on a worker thread (nothing in it depends on an earlier
        frame's result); the refinement is re-decided ahead where the frame's own contrast asks for it.
        Keeps what the frame-order part needs: the features only for a frame left unclassified."""
        pair = _classify_pair(item, prev_entropy, cfg, min_size=size, valid=valid(item.t), noise_check=noise_check,
                              flat_fallback=flat_fallback)
        if pair.decided is None and pair.model is not None:
            pair.decided = classify_frame(item.features, pair.model, smoothing=cfg.decision_smoothing)
        if pair.decided is None:  # no model of its own: classified in order with the last pair's
            return item.t, item.frame, item.flow, item.features, pair, None
        floor = _floor_flooded(item.frame, pair.decided)
        done = _clean_up(item.t, item.frame, pair.decided if floor is None else floor, cfg, min_size=size,
                         redecide=lambda c: bool(cfg.refine_boundary and c >= cfg.refine_min_contrast))
        done.floored = None if floor is None else _floor_record(item.t, pair.decided, floor)
        pair.decided = None
        return item.t, item.frame, item.flow, None, pair, done

    def enlarge(area: float) -> None:
        """:func:`_check_upsample` for cells of ``area`` px; the restart it asks for waits while no pair's flow
        has stood out of its noise (``deferred``)."""
        nonlocal deferred
        try:
            _check_upsample(da, cfg, area)
        except _Enlarge as wanted:
            if contrasted:
                raise
            deferred = wanted

    def adopt(pair: _Pair) -> None:
        """Record a pair's self-labels, in frame order; its classifier becomes the current one."""
        nonlocal model, noisy, contrasted, quiet
        noisy += pair.noise
        contrasted |= (pair.noise or pair.stats is not None) and not pair.low
        quiet += pair.quiet
        if deferred is not None and contrasted:
            raise deferred  # the restart enlarged that waited
        if pair.empty is not None:  # the count, and the first such pair's thresholds
            unlabelled.setdefault(pair.empty, [0, pair.stats])[0] += 1
        if pair.stats is not None:
            stats.append(pair.stats)
        model = pair.model if pair.model is not None else model

    def decision(features: np.ndarray, pair: _Pair) -> np.ndarray:
        """Frame t's classification: the pair's own, or the current classifier's."""
        return pair.decided if pair.decided is not None else classify_frame(features, model,
                                                                            smoothing=cfg.decision_smoothing)

    def settle(t: int, frame: np.ndarray, flow: np.ndarray, features: np.ndarray | None, pair: _Pair,
               done: _Cleaned | None) -> None:
        adopt(pair)
        finish(t, frame, None if done is not None else decision(features, pair), flow, done=done)
        bar.update(message=f"frame {t + 1}/{n}")

    # the same large buffers (flow pyramids, feature maps) are needed for every pair: keep them;
    # frames, features and flows are computed ahead by the worker threads, the rest in order here,
    # and once the minimum size is settled, the pairs' classification and clean-up too
    # beside the labels, the part of the work that does not grow with the frame (measured once: the spec's)
    workers = threads_for_memory(thread_count(), per_thread=_BYTES_PER_THREAD_PIXEL * shape[0] * shape[1],
                                 reserve=out.nbytes + SPEC.plane_bytes_fixed, what="Motion")
    with retained_heap(), contextlib.ExitStack() as stack:
        # the binning of an automatic flow_downsample, never from a pair with a blank frame
        flow_cfg, flows = flow_settings(da, cfg, low=lo, high=highs, skip=sorted(blank))
        if cfg.flow_downsample is None:
            log.info("Motion: flow on %d x %d binned frames (window %d, %d pyramid levels)", flow_cfg.flow_downsample,
                     flow_cfg.flow_downsample, flow_cfg.winsize, flow_cfg.levels)
        frames = stack.enter_context(frame_stream(da, flow_cfg, low=lo, high=highs, workers=workers, flows=flows))
        first = next(frames)
        if keep is not None:
            keep(first)
        hot_pixels = first.hot_pixels
        prev_ent = first.entropy
        pending.append((0, first.frame, first.entropy))
        del first
        queue: collections.deque[Future] = collections.deque()  # pairs classified ahead, in order
        for item in frames:
            t, ent = item.t, item.entropy
            hot_pixels += item.hot_pixels
            if keep is not None:
                keep(item)
            if (frames.threaded and model is not None and not pending and not refine_size
                    and cfg.classifier_mode == "per_pair"):
                queue.append(frames.run(ahead, item, prev_ent, min_size))
                del item
                while len(queue) > workers:
                    settle(*queue.popleft().result())
                prev_ent = ent
                continue
            while queue:
                settle(*queue.popleft().result())
            # a pair with a blank frame measures no cell (its flow against the blank frame is no motion)
            if min_size is None and t not in blank and t - 1 not in blank and float(item.magnitude.max()) > STILL:
                min_size = flow_only_min_size(item.magnitude, config=cfg)
                log.info("Motion: minimum object size %d px from the flow-only pass (closing radius %d px)",
                         min_size, resolve_closing_radius(cfg, min_size=min_size))
            pair = _classify_pair(item, prev_ent, cfg, min_size=min_size, valid=valid(t),
                                  model=None if cfg.classifier_mode == "per_pair" else model, noise_check=noise_check,
                                  flat_fallback=flat_fallback)
            adopt(pair)
            if model is not None:
                for t0, f0, e0 in pending:  # frames seen before the first model (frame 0 at least)
                    finish(t0, f0, classify_frame(compute_features(f0, config=cfg, cache={"entropy": e0}), model,
                                              smoothing=cfg.decision_smoothing))
                    bar.update(message=f"frame {t0 + 1}/{n}")
                pending = []
                finish(t, item.frame, decision(item.features, pair), item.flow)
                bar.update(message=f"frame {t + 1}/{n}")
            else:
                pending.append((t, item.frame, ent))
                if len(pending) > _MAX_PENDING:  # bounded memory: older still frames stay empty
                    pending.pop(0)
                    still += 1
                    bar.update(message="no motion yet")
            del item, pair
            prev_ent = ent
        while queue:
            settle(*queue.popleft().result())
        if deferred is not None and not quiet:
            raise deferred  # no pair's labels were judged noise: the cells measured stand
        if deferred is not None:
            # objects small enough to enlarge the run for, but no pair's flow stood out of its noise, and the labels
            # of some were noise: those of the others, that passed, are noise of the same kind (a cell-free crop,
            # GOWT1 128 px: 11-20 % of their background labels called cell, under the limit), as are the objects
            log.info("Motion: objects of a typical %.0f px would enlarge the run %d x %d, but no pair's flow was "
                     "faster than its noise, and %d pair(s) had labels of noise: no frame holds cell motion, frames "
                     "%s (0-based) left empty", deferred.area, deferred.k, deferred.k, quiet,
                     [int(t) for t in np.flatnonzero(out.reshape(n, -1).any(axis=1))])
            # the one NoMotionWarning of the run: every frame is empty, also the first ones that waited for a
            # classifier (``still``), and the pairs it counts are those the other warning would count again
            warnings.warn(NoMotionWarning(
                f"No cell motion found in the {n} frames: the optical flow of every moving frame pair was no faster "
                f"than the movie's own noise, and in {quiet} of them a classifier trained on its moving pixels "
                "called much of the still background cell, as in a field without cells or with cells that do not "
                "move; every frame is left empty, also those the other pairs classified. Motion segments cells by "
                "their movement: check that the movie holds moving cells (a crop with cells in it, frames in time "
                "order, a frame interval short enough to follow them); for still or cell-free fields use another "
                "pipeline, or set start_threshold or cell_threshold (px/frame) to say which speed is motion."),
                stacklevel=user_stacklevel())
            out[:], last, pending, still = 0, -1, [], 0
            floored.clear()  # their frames are left empty too
        # nothing segmented, flat background? (not where a pair showed no motion at all: a still movie stays empty)
        again = last < 0 and not flat_fallback and "background" in unlabelled and not quiet
        if keep is not None and not again:
            speeds.finish()
        if (pending or still) and not again:
            blank_pairs = sum(1 for t in range(1, n) if t in blank or t - 1 in blank)
            what, why = _no_motion_text(noisy, unlabelled, cfg, min_size=min_size, pairs=n - 1,
                                        blank_pairs=blank_pairs)
            warnings.warn(NoMotionWarning(f"No {what} found in {len(pending) + still} of {n} frames (the first ones "
                                          f"or all); they are left empty.{why}"), stacklevel=user_stacklevel())
            bar.update(len(pending), message=f"no {what}")
    if again:
        log.info("Motion: no frame segmented, and %d pair(s) had no background label: run again with the still "
                 "pixels without entropy (a flat background) as background labels", unlabelled["background"][0])
        if speeds is not None:
            speeds.discard("the run labelled the movie's flat background again")
        return _segment(given_movie, cfg, _PassSteps(bar.bar, bar.progress, note=bar.note), noise_check=noise_check,
                        grey_range=grey_range, flat_fallback=True, blank_said=True)
    if floored:
        log.info("Motion: %d of the %d frames called over half cell (the first: frame %d (0-based)), their cells "
                 "brighter than the rest: a dense field of moving cells, whose flow spreads between them; only the "
                 "pixels %g noise units (of the background's dark side) above the background kept as cell",
                 len(floored), n, min(r["frame"] for r in floored), _FLOOD_FLOOR)
    if hot_pixels:
        log.info("Motion: %d isolated hot or cold pixels (stuck camera pixels, cosmic rays) replaced by the median "
                 "of their 3 x 3 window", hot_pixels)
    if drift is not None:  # drawn and tracked on the corrected frames: each frame's labels go back onto the input's
        out = _on_input_frames(out, drift)
    scale = None
    if last < 0 and cfg.min_size is None:  # no frame was segmented: a size measured on noise means nothing
        min_size = None
    elif refine_size and not provisional and min_size is not None:  # every frame flooded: nothing checked it
        _warn_flow_size(min_size, cfg)
    if min_size is not None:
        scale = {k: round(v, 2) for k, v in cell_scale(min_size / cfg.min_size_fraction,
                                                       entropy_size=cfg.entropy_size).items()}
        scale.update(min_size=min_size, closing_radius=resolve_closing_radius(cfg, min_size=min_size),
                     landscape=landscapes)
        log.info("Motion: typical cell area %.0f px (radius %.1f px); closing radius %d px; split landscape %s",
                 scale["cell_area"], scale["cell_radius"], scale["closing_radius"], landscapes)
    auto: dict[str, Any] = {}  # the value of each automatic setting (provenance convention "auto")
    if cfg.min_size is None and min_size is not None:
        auto["min_size"] = int(min_size)
    if cfg.closing_radius is None and scale:
        auto["closing_radius"] = int(scale["closing_radius"])
    if cfg.declump and cfg.declump_landscape == "auto" and landscapes:
        auto["declump_landscape"] = max(landscapes, key=landscapes.get)
    if cfg.flow_downsample is None:
        auto["flow_downsample"] = int(flow_cfg.flow_downsample)
    # the percentiles that became 0 and 255, those chosen from the movie's background
    if percentiles is not None and cfg.scale_low_percentile is None:
        auto["scale_low_percentile"] = percentiles[0]
    if percentiles is not None and cfg.scale_high_percentile is None:
        auto["scale_high_percentile"] = percentiles[1]
    record = provenance("motion", cfg, extra={
        "auto": auto,
        "uint8_range": [lo, hi],
        **({"exposure_gains": {str(t): round(float(gains[t]), 4) for t in exposed}} if exposed else {}),
        **({"bleaching_gains": [round(float(g), 4) for g in trend]} if bleaching else {}),
        # given (a chunk of a movie): the whole movie's gains of these frames, those other than 1
        **({"frame_gains": [{"frame": t, "gain": round(float(g), 4)} for t, g in enumerate(gains) if g != 1]}
           if handed else {}),
        "hot_pixels": hot_pixels,
        **({"floored": sorted(floored, key=lambda r: r["frame"])} if floored else {}),
        "min_size": min_size,
        "scale": scale,
        "flow": {"method": flow_cfg.flow_method, "downsample": int(flow_cfg.flow_downsample),
                 "winsize": flow_cfg.winsize, "levels": flow_cfg.levels},
        "thresholds": [{"frame": t, "cell": c, "background": b, "cell_pixels": k, "classifier": kind}
                       for t, c, b, k, kind in stats],
        **({"refinement": sorted(refined, key=lambda r: r["frame"])} if cfg.refine_boundary else {}),
        # the drift undone before the flow, and put back on the labels: they lie on the input's frames
        **({"drift": {"backend": cfg.drift_correction, "canvas": "same", "shifts": drift}}
           if drift is not None else {}),
    })
    return labels_like(out, da, dims=("T", "Y", "X"), attrs={"labelfree": record})
