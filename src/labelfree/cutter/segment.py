"""``labelfree.cutter.segment``: the whole Cutter pipeline on one image or a time-lapse."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import numpy as np
import xarray as xr

from labelfree._axes import z_stacks_note
from labelfree._config import provenance, recorded_threads
from labelfree._label_memory import require_label_memory
from labelfree._log_notes import register_note
from labelfree._threads import limited_threads, network_threads
from labelfree.cutter.canvas import content_box, crop_inputs, frame_in_input, positions_in_input
from labelfree.cutter.config import CutterConfig
from labelfree.cutter.integrate import integrate_patches
from labelfree.cutter.model_io import training_inputs
from labelfree.cutter.markers import drop_repeated_points, guess_nucleus_channel, recording_added, split_binary_mask
from labelfree.cutter.prepare import (
    _PROBE_SMOOTHING,
    PEAK_WINDOW_GROWTH,
    PEAK_WINDOWS,
    RIDGE_SOLIDITY,
    Frame,
    cell_channels,
    cell_solidities,
    check_downscale,
    check_marker_frames,
    chosen_cell_channels,
    foreground_mask,
    frame_markers_and_mask,
    grow_along_ridges,
    one_warning_for_unmarked_frames,
    peak_window_trial,
    prepare_frame,
    recording_dense_fields,
    warn_markers_on_background,
    widest_covering_window,
)
from labelfree.cutter.refine import refine_labels
from labelfree.cutter.scale import default_area_size
from labelfree.cutter.spec import SPEC
from labelfree.errors import ConfigError, DimensionError, InputError
from labelfree.image import (channel_index, channel_names, labels_like, parse_channel, planar_rgb_hint,
                             validate_image)

__all__ = ["segment", "fit", "prepare", "prepare_frames", "resolve_scale", "apply_model", "Prepared"]

log = logging.getLogger(__name__)
#: a dense field's mask is a note of the run (ImageJ's Log shows it)
register_note(__name__, r"^Cutter: a dense field")
#: ... and so is a smaller local window refused for the glow it would call cell (:func:`_say_refused_window`)
register_note(__name__, r"^Cutter automatic scale: a \d+ px local window would call")

#: config fields fixed by a trained model (how its patches are built)
_MODEL_FIELDS = ("downscale", "crop_size", "marker_sigma", "width")
#: the channels a model was trained on: used when the config leaves them unset
_MODEL_CHANNELS = ("cell_channels", "nucleus_channel")
#: frames on which the automatic scale is measured (evenly spaced)
_SCALE_FRAMES = 8
#: the automatic config fields (None = measured from the data, labelfree.cutter.scale)
_AUTO_FIELDS = ("downscale", "marker_sigma", "mask_smoothing", "mask_peak_window", "mask_ridges", "area_size")
#: their values when the cell size cannot be measured (the paper's geometry, 2 px smoothing, 9 px
#: local-peak window; the training area: :func:`_fallback`); the smoothing and window are also those of
#: the masks on which the size is measured
_FALLBACK = {"downscale": 1.0, "marker_sigma": 15.0, "mask_smoothing": _PROBE_SMOOTHING,
             "mask_peak_window": PEAK_WINDOWS[0], "mask_ridges": False}


def _fallback(config: CutterConfig) -> dict[str, Any]:
    """:data:`_FALLBACK` and the training area for ``config``'s patch size."""
    return {**_FALLBACK, "area_size": default_area_size(config.crop_size)}


def _per_frame(value: Any, n: int, t: int, name: str, stacked: bool) -> Any:
    """Pick frame ``t`` of a per-frame input (list, or array with a leading T axis)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and stacked:
        if len(value) != n:
            raise InputError(f"{name} lists {len(value)} entries for {n} frames; give one per frame.")
        return value[t]
    if isinstance(value, xr.DataArray):
        value = value.values
    arr = np.asarray(value)
    if stacked and arr.ndim == 3:
        if arr.shape[0] != n:
            raise DimensionError(f"The {name} has {arr.shape[0]} frame(s); the movie has {n}. Give one {name} frame "
                                 f"per movie frame, or one (Y, X) {name} for every frame.")
        return arr[t]
    return arr


def _given_markers(markers: Any, da: xr.DataArray, /) -> Any:
    """The markers as the frames take them.

    A path is read by :func:`labelfree.io.read_markers`; a table (pandas DataFrame, dict of columns) by its column
    names (:func:`labelfree.io.markers.points_from_table`: ``x`` before ``y`` is no swap); a DataArray
    becomes its values, its Y and X (and T) in the image's order; a list or tuple of points (one
    (y, x) or (t, y, x) row each) becomes an array, as it is one set of points, not one entry per frame.
    """
    if isinstance(markers, (str, os.PathLike)):
        from labelfree.io.markers import read_markers

        return read_markers(markers, image=da)
    from labelfree.io.markers import is_table, points_from_table

    if is_table(markers):  # a DataFrame or a dict of columns
        return points_from_table(markers, image=da)
    if isinstance(markers, xr.DataArray):
        if {"Y", "X"} <= set(markers.dims):
            markers = markers.transpose(*(d for d in ("T", "Y", "X") if d in markers.dims), ...)
        return np.asarray(markers.values)
    if isinstance(markers, (list, tuple)) and markers:
        try:
            arr = np.asarray(markers)
        except ValueError:  # ragged: one entry per frame
            return markers
        if arr.ndim == 2 and arr.shape[1] in (2, 3) and arr.dtype.kind in "iuf":
            return arr
    return markers


@dataclasses.dataclass
class Prepared:
    """Everything :func:`segment` needs before training: the validated image, the
    prepared frames, the config with its automatic values resolved and the record of
    those values (``{}`` when nothing was automatic); ``nucleus_guess`` is the record of
    :func:`labelfree.cutter.markers.guess_nucleus_channel` when the nucleus channel was
    guessed (the config then names it); ``box`` the (Y, X) slices of the image inside its
    constant canvas, on which the frames were prepared (:func:`labelfree.cutter.canvas.content_box`;
    None: the whole image)."""

    image: xr.DataArray
    frames: list[Frame]
    config: CutterConfig
    auto: dict
    nucleus_guess: dict | None = None
    box: tuple[slice, slice] | None = None


def _sample_frames(n: int, most: int = _SCALE_FRAMES) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, min(n, most))})


def resolve_scale(
    image: xr.DataArray,
    config: CutterConfig,
    /,
    *,
    markers: Any = None,
    mask: Any = None,
    scribbles: Any = None,
    cell_radius: float | None = None,
) -> tuple[CutterConfig, dict, dict[int, np.ndarray]]:
    """Fill in the automatic (``None``) ``downscale``, ``marker_sigma``, ``mask_smoothing`` and ``mask_peak_window``.

    The typical cell size is measured on up to 8 evenly spaced frames (markers and
    foreground mask with 2 px smoothing, :func:`labelfree.cutter.scale.estimate_cell_size`)
    and turned into settings by :func:`labelfree.cutter.scale.auto_settings`; the local-peak
    window is then chosen on the same frames at the chosen smoothing
    (:func:`labelfree.cutter.prepare.choose_peak_window`) when Cutter draws the mask itself.
    ``cell_radius`` (patch pixels): a trained model's typical cell radius; the
    image is then rescaled so that its cells have that radius in the patches
    (``downscale`` is replaced; it stays when the size cannot be measured).

    Returns
    -------
    config : CutterConfig
        With numbers in place of the automatic values.
    record : dict
        The measured cell size and the chosen values (``{}`` when none was automatic).
    masks : dict
        Frame index -> foreground mask computed on the way (reused by the caller).
    """
    from labelfree.cutter.scale import MIN_DOWNSCALE, auto_settings, estimate_cell_size, max_downscale

    auto = [k for k in _AUTO_FIELDS if getattr(config, k) is None]
    if not auto and cell_radius is None:
        return config, {}, {}
    stacked = "T" in image.dims
    n = image.sizes["T"] if stacked else 1
    fallback = _fallback(config)
    probe = config.replace(**{k: v for k, v in fallback.items() if getattr(config, k) is None})
    # the cells are measured on the plain mask, also where the ridges are asked for (as where they are automatic)
    grown = bool(probe.mask_ridges)
    probe = probe.replace(mask_ridges=False)
    points, masks = [], {}
    for t in _sample_frames(n):
        frame = image.isel(T=t) if stacked else image
        pts, _, m = frame_markers_and_mask(
            frame, probe, markers=markers if not isinstance(markers, (list, tuple)) else _per_frame(markers, n, t, "markers", stacked),
            mask=_per_frame(mask, n, t, "mask", stacked), scribbles=_per_frame(scribbles, n, t, "scribbles", stacked),
            t=t if stacked else None,
        )
        points.append(pts)
        masks[t] = m
    try:
        size = estimate_cell_size(points, mask=list(masks.values()))
    except InputError as exc:  # e.g. one marker whose cell the mask missed
        changes = {k: fallback[k] for k in auto}
        log.warning("Cutter automatic scale: %s Using %s.", exc,
                    ", ".join(f"{k} {v:g}" for k, v in changes.items()) or "the model's scale")
        return config.replace(**changes), {**changes, "cell_size": None, "frames_measured": len(masks)}, masks
    shape = (image.sizes["Y"], image.sizes["X"])
    chosen = auto_settings(size, crop_size=config.crop_size, downscale=config.downscale, image_shape=shape)
    if cell_radius is not None:  # apply a model at the scale it was trained for
        wanted = size.radius / float(cell_radius)
        chosen["downscale"] = round(max(wanted, MIN_DOWNSCALE), 2)
        if wanted < MIN_DOWNSCALE:
            log.warning("The model's scale asks for downscale %.2f (this image's cells, radius %.1f px, are %.1f times "
                        "smaller than the model's, %.1f px); images are enlarged at most %g times, so using %g: its "
                        "cells stay smaller than the model's.", wanted, size.radius, 1.0 / wanted, float(cell_radius),
                        1.0 / MIN_DOWNSCALE, MIN_DOWNSCALE)
        limit = max_downscale(shape, crop_size=config.crop_size)
        if chosen["downscale"] > limit:
            log.warning("The model's scale asks for downscale %g, which leaves less than one %d px patch of the "
                        "%d x %d image; using %g: its cells are larger than the model's.",
                        chosen["downscale"], config.crop_size, *shape, limit)
            chosen["downscale"] = max(limit, MIN_DOWNSCALE)
        auto.append("downscale")
    changes = {k: v for k, v in chosen.items() if k in auto}
    coverage = growth = None
    if "mask_peak_window" in auto:
        changes["mask_peak_window"] = PEAK_WINDOWS[0]
        if mask is None and scribbles is None and config.mask_signal == "local":
            frames = ((image.isel(T=t) if stacked else image) for t in masks)
            samples = ((cell_channels(frame, probe), pts) for frame, pts in zip(frames, points))
            window, coverage, growth = peak_window_trial(samples, probe.replace(**changes),
                                                         cell_area=np.pi * (size.diameter / 2) ** 2)
            changes["mask_peak_window"] = window
            _say_refused_window(window, coverage, growth)
    solidity = None
    if "mask_ridges" in auto:
        changes["mask_ridges"] = False
        if mask is None and scribbles is None:
            masks, solidity = _ridge_decision(image, probe.replace(**changes), masks, points)
            changes["mask_ridges"] = solidity < RIDGE_SOLIDITY
    record = {"cell_size": size.to_dict(), **changes, "frames_measured": len(masks)}
    if coverage is not None:
        record["marker_coverage"] = {str(w): round(c, 3) for w, c in coverage.items()}
        record["window_growth"] = {str(w): None if g is None else round(g, 2) for w, g in growth.items()}
    if solidity is not None:
        record["cell_solidity"] = round(solidity, 3)
    elif mask is None and (grown or any(changes.get(k, getattr(probe, k)) != getattr(probe, k)
                                        for k in ("mask_smoothing", "mask_peak_window"))):
        masks = {}  # measured on the probe's smoothing and window, without ridges: recomputed with the chosen ones
    log.info("Cutter automatic scale: typical cell radius %.1f px (from the %s, %d cells) -> %s",
             size.radius, size.source, size.n_cells, ", ".join(f"{k} {v:g}" for k, v in changes.items()))
    return config.replace(**changes), record, masks


def _say_refused_window(window: int, coverage: dict[int, float], growth: dict[int, float | None]) -> None:
    """Log why the automatic local window is not the smaller one the markers' coverage alone would choose: that
    window calls more than ``PEAK_WINDOW_GROWTH`` cells' worth of pixels per marker it adds (the glow around every
    cell, :func:`labelfree.cutter.prepare.choose_peak_window`)."""
    alone = widest_covering_window(coverage)
    if alone == window or growth.get(alone) is None:
        return
    log.info("Cutter automatic scale: a %d px local window would call %.0f %% of the markers' pixels cell (%d px: "
             "%.0f %%), but with %.1f typical cells' worth of pixels more for each marker it adds (the glow around "
             "every cell; over %g is refused): mask_peak_window %d px", alone, 100 * coverage[alone], window,
             100 * coverage[window], growth[alone], PEAK_WINDOW_GROWTH, window)


def _ridge_decision(image: xr.DataArray, config: CutterConfig, masks: dict[int, np.ndarray],
                    points: list[np.ndarray]) -> tuple[dict[int, np.ndarray], float]:
    """The automatic ``mask_ridges``: the masks of the measured frames drawn with ``config`` (its chosen
    smoothing and window, no ridges), the median solidity of their marked cells; the masks returned are
    those the chosen setting draws (grown along the ridges when the cells are not compact)."""
    stacked = "T" in image.dims
    drawn, channels, values = {}, {}, []
    for t, pts in zip(masks, points):
        channels[t] = cell_channels(image.isel(T=t) if stacked else image, config)
        drawn[t] = foreground_mask(channels[t], config, markers=pts)
        values += cell_solidities(channels[t], drawn[t], pts, config)
    solidity = float(np.median(values)) if values else 1.0
    if solidity < RIDGE_SOLIDITY:
        drawn = {t: grow_along_ridges(channels[t], m, config) for t, m in drawn.items()}
    log.info("Cutter: median solidity of the marked cells %.2f -> mask_ridges %s", solidity,
             solidity < RIDGE_SOLIDITY)
    return drawn, solidity


def _without_blank_channels(da: xr.DataArray, cfg: CutterConfig) -> CutterConfig:
    """``cfg`` with automatic cell channels that leave out blank ones (e.g. the empty plane of an RGB file).

    Cell channels left unset are every channel but the nucleus channel; a channel that is constant
    over the whole image shows no cell and would make the foreground mask fail, so it is left out
    (logged). Cell channels that were set are checked: a constant one is an error naming it.
    """
    if "C" not in da.dims or da.sizes["C"] < 2:
        return cfg
    from labelfree.errors import ConstantImageError
    from labelfree.image import channel_index

    names = channel_names(da)
    given = bool(cfg.cell_channels)
    if given:
        chosen = [channel_index(da, c) for c in cfg.cell_channels]
    else:
        skip = None if cfg.nucleus_channel is None else channel_index(da, cfg.nucleus_channel)
        chosen = [k for k in range(len(names)) if k != skip] or list(range(len(names)))
    values = da.transpose("C", ...).values
    blank = [k for k in chosen if values[k].min() == values[k].max()]
    if not blank:
        return cfg
    said = ", ".join(f"{names[k]} (every pixel {values[k].flat[0]!s})" for k in blank)
    others = [names[k] for k in range(len(names)) if k not in blank]
    if given or len(blank) == len(chosen):
        raise ConstantImageError(
            f"Cutter's cell channel {said} is constant: it shows no cells. "
            + (f"Choose cell_channels among the channels with contrast ({', '.join(others)})." if others
               else "Every channel of the image is constant; there is nothing to segment.")
        )
    kept = tuple(k for k in chosen if k not in blank)
    log.info("Cutter: channel %s is blank and left out of the cell channels (cell channels: %s)", said,
             ", ".join(names[k] for k in kept))
    return cfg.replace(cell_channels=tuple(_channel_key(names, k) for k in kept))


def _channel_key(names: list[str], index: int) -> int | str:
    """Channel ``index`` as a config (and a model trained with it) should record it: by name when the image's
    channels have names of their own, so that a model finds its channel in an image whose channels come in another
    order; by index when they are the default ``C0``, ``C1``, ..., repeated, or a name would read as an index."""
    name = names[index]
    default = names == [f"C{k}" for k in range(len(names))]
    return index if default or names.count(name) > 1 or parse_channel(name) != name else name


def prepare(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | None = None,
    mask: Any = None,
    scribbles: Any = None,
    cell_radius: float | None = None,
) -> Prepared:
    """Validate the image, resolve the automatic settings and prepare every frame.

    See :func:`resolve_scale` for ``cell_radius``. A multi-channel image given no markers
    and no ``nucleus_channel`` has its nucleus channel guessed on its first frame
    (:func:`labelfree.cutter.markers.guess_nucleus_channel`).
    """
    return _prepare_valid(_valid_input(image), markers=markers, config=config, mask=mask, scribbles=scribbles,
                          cell_radius=cell_radius)


def _valid_input(image: Any, /) -> xr.DataArray:
    """The Cutter input checked against the data model (one pass over its pixels). A Z axis of length
    1 is the plane itself (kept as a scalar coordinate); a longer one is refused."""
    if isinstance(image, xr.DataArray) and image.sizes.get("Z") == 1:
        image = image.isel(Z=0)
    return validate_image(image, required=("Y", "X"), allowed=("T", "C", "Y", "X"), name="Cutter input",
                          no_dims_note=z_stacks_note, non_finite="fill")


def _check_model_channels(da: xr.DataArray, cfg: CutterConfig, n_channels: int, /) -> None:
    """A model fed another number of channels than it was trained on is an error before any frame is prepared."""
    fed = [channel_names(da)[channel_index(da, c)] for c in chosen_cell_channels(da, cfg)] if "C" in da.dims else None
    if (1 if fed is None else len(fed)) == n_channels:
        return
    said = "its one channel" if fed is None else f"{len(fed)} of its channels {channel_names(da)}: {fed}"
    raise InputError(
        f"The model was trained on {n_channels} image channel(s), but this image would give it {said}. Set "
        f"cell_channels to the {n_channels} channel(s) that show what the model's did (names or 0-based "
        "indices; the nucleus channel is left out of the cell channels when none are set)."
    )


def _prepare_valid(da: xr.DataArray, /, *, markers: Any, config: Any, mask: Any, scribbles: Any,
                   cell_radius: float | None, n_channels: int | None = None) -> Prepared:
    """:func:`prepare` for an image :func:`_valid_input` has checked; ``n_channels``: those of the model
    that will be applied (checked before any frame is prepared)."""
    cfg = CutterConfig.coerce(config)
    markers = _given_markers(markers, da)
    if cfg.downscale is not None and n_channels is None:  # set: the image must hold one patch at that scale
        check_downscale((da.sizes["Y"], da.sizes["X"]), cfg)
    if "T" in da.dims:
        check_marker_frames(markers, da.sizes["T"], (da.sizes["Y"], da.sizes["X"]))
    if isinstance(markers, np.ndarray) and markers.shape[-2:] == (da.sizes["Y"], da.sizes["X"]):
        markers = split_binary_mask(markers)  # once, so that its warning is given once
    elif isinstance(markers, np.ndarray):
        markers = drop_repeated_points(markers)
    full, shape = da, (da.sizes["Y"], da.sizes["X"])
    box = content_box(da, cfg, markers=markers, mask=mask, scribbles=scribbles)
    if box is not None:  # a crop in a constant canvas: segmented as the crop (labelfree.cutter.canvas)
        log.info("Cutter: the image lies in a constant canvas; segmenting its rows %d-%d and columns %d-%d of %d x %d",
                 box[0].start, box[0].stop - 1, box[1].start, box[1].stop - 1, *shape)
        da = da.isel(Y=box[0], X=box[1])
        markers, mask, scribbles = crop_inputs(box, shape, markers=markers, mask=mask, scribbles=scribbles)
    guess = None
    if markers is None and cfg.nucleus_channel is None and da.sizes.get("C", 1) > 1:
        first = da.isel(T=0) if "T" in da.dims else da
        try:
            index, guess = guess_nucleus_channel(np.asarray(first.transpose("C", "Y", "X").values),
                                                 names=channel_names(da))
        except InputError as exc:  # a plain TIFF movie read as RGB: say how to read its planes as frames
            hint = planar_rgb_hint(da)
            if not hint:
                raise
            raise type(exc)(f"{exc}{hint}") from None
        cfg = cfg.replace(nucleus_channel=_channel_key(channel_names(da), index))
    cfg = _without_blank_channels(da, cfg)
    if n_channels is not None:
        _check_model_channels(da, cfg, n_channels)
    stacked = "T" in da.dims
    n = da.sizes["T"] if stacked else 1
    frames = []
    # the scale's detections and the frames' alike; the positions they name are the input's
    with one_warning_for_unmarked_frames(n), positions_in_input(box):
        cfg, record, masks = resolve_scale(da, cfg, markers=markers, mask=mask, scribbles=scribbles,
                                           cell_radius=cell_radius)
        for t in range(n):
            frame = da.isel(T=t) if stacked else da
            frame_mask = masks[t] if t in masks else _per_frame(mask, n, t, "mask", stacked)
            per_frame = isinstance(markers, (list, tuple))
            frames.append(
                prepare_frame(
                    frame, cfg,
                    markers=_per_frame(markers, n, t, "markers", stacked) if per_frame else markers,
                    mask=frame_mask,
                    scribbles=_per_frame(scribbles, n, t, "scribbles", stacked),
                    t=t if stacked else None,
                )
            )
    if box is not None:
        frames = [frame_in_input(f, box, shape) for f in frames]
    if markers is not None:  # given markers (a detected nucleus off the cell mask is a false detection)
        warn_markers_on_background(frames, stacked=stacked)
    return Prepared(full, frames, cfg, record, guess, box)


def prepare_frames(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | None = None,
    mask: Any = None,
    scribbles: Any = None,
) -> tuple[xr.DataArray, list[Frame]]:
    """Validate the image and prepare every frame (markers, mask, patches).

    Automatic settings are resolved on the way; use :func:`prepare` to see them.
    """
    prepared = prepare(image, markers=markers, config=config, mask=mask, scribbles=scribbles)
    return prepared.image, prepared.frames


def fit(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | None = None,
    progress: Any = False,
    mask: Any = None,
    scribbles: Any = None,
    device: str = "cpu",
):
    """Train a Cutter model on an image (YX, CYX, TYX or TCYX) and its markers.

    Every frame of a time-lapse is a training frame (each step draws one).
    See :func:`segment` for the inputs. Returns a
    :class:`labelfree.cutter.train.CutterModel` (save it with ``.save(path)``).
    """
    from labelfree.cutter.train import resolve_device, train_cutter

    device = resolve_device(device)  # a wrong name is said before any work
    prepared = prepare(image, markers=markers, config=config, mask=mask, scribbles=scribbles)
    model = train_cutter([f.patch_set for f in prepared.frames], config=prepared.config, progress=progress,
                         device=device)
    model.cell_radius = _cell_radius(prepared)
    model.training = training_inputs(image, markers)  # what it was trained on, for its sidecar
    return model


def _cell_radius(prepared: Prepared) -> float | None:
    """Typical cell radius in patch pixels, when it was measured."""
    size = prepared.auto.get("cell_size")
    return None if size is None else round(float(size["radius"]) / float(prepared.config.downscale), 3)


def apply_model(
    model, frames: list[Frame], /, *, threshold: float | None = None, config: CutterConfig | None = None
) -> np.ndarray:
    """Label images (T, Y, X) of prepared frames with a trained model.

    ``config`` (default: the model's) chooses the clean-up steps of
    :func:`labelfree.cutter.refine.refine_labels`.
    """
    from labelfree.cutter.train import predict_patches

    cfg = model.config if config is None else config
    thr = cfg.probability_threshold if threshold is None else threshold
    out = []
    for f in frames:
        probs = predict_patches(model, f.patch_set)
        box = f.box or (slice(0, f.shape[0]), slice(0, f.shape[1]))  # the part the patches cover
        mask, signal = f.mask[box], None if f.signal is None else f.signal[box]
        markers = None if f.markers is None else f.markers - [box[0].start, box[1].start]
        labels = integrate_patches(probs, f.patch_set.corners, shape=mask.shape, ids=f.ids, threshold=thr,
                                   upscale=f.scale)
        keep = cfg.keep_marker_component and markers is not None
        labels = refine_labels(
            labels, mask=mask if cfg.restrict_to_mask else None, markers=markers if keep else None,
            ids=f.ids if keep else None, fill=cfg.fill_cell_holes,
            grow_mask=mask if cfg.grow_into_mask != "none" else None,
            grow_intensity=signal if cfg.grow_into_mask == "intensity" or cfg.redraw_boundaries > 0 else None,
            redraw=cfg.redraw_boundaries, blobs=None if f.blobs is None or not keep else f.blobs[box],
        )
        if f.box is not None:  # the canvas around the box is background
            placed = np.zeros(f.shape, labels.dtype)
            placed[box] = labels
            labels = placed
        out.append(labels)
    return np.stack(out)


def _check_model_target(path: Any, image: Any, markers: Any, model_file: str | None, *, overwrite: bool) -> None:
    """Refuse a ``save_model`` file that is one of the inputs seen here, cannot be written, or exists (unless
    ``overwrite``)."""
    from labelfree.io import check_output_file

    inputs = {"image": getattr(image, "attrs", {}).get("source"), "model": model_file}
    if isinstance(markers, (str, os.PathLike)):
        inputs["markers"] = markers
    path = os.fsdecode(path)
    for what, target in (("model file", path), ("model sidecar", f"{path}.json")):
        check_output_file(target, inputs=inputs, overwrite=overwrite, what=what)


def _model_bound(cfg: CutterConfig, model: Any, source: str, channels: list[str] | None = None, *,
                 markers: bool = False) -> CutterConfig:
    """``cfg`` with the fields a trained model fixes taken from the model.

    A field left at its default takes the model's value silently; one set to another
    value than the model's is a ConfigError (the model cannot follow it). The cell and
    nucleus channels left unset are those the model was trained on; set, they are used
    as given. ``channels`` are the image's channel names (None: it has no C axis, so the
    model's channels do not apply: the image is its own cell and nucleus image); a model's
    channel the image lacks is a ConfigError, except the nucleus channel when ``markers``
    are given (it is not needed).
    """
    defaults = CutterConfig()
    conflicts = [(k, getattr(cfg, k), getattr(model.config, k)) for k in _MODEL_FIELDS
                 if getattr(cfg, k) != getattr(defaults, k) and getattr(cfg, k) != getattr(model.config, k)]
    if conflicts:
        said = "; ".join(f"{k}={mine!r}, but the model was trained with {k}={theirs!r}" for k, mine, theirs in conflicts)
        names = ", ".join(k for k, _, _ in conflicts)
        raise ConfigError(
            f"The config sets {said} ({source}). A trained model fixes {', '.join(_MODEL_FIELDS)}: drop the "
            f"setting of {names} (the model's value is used) or train a new model with it."
        )
    bound = {k: getattr(model.config, k) for k in _MODEL_FIELDS}
    for k in _MODEL_CHANNELS:  # channels left unset are the model's (those it was trained on)
        theirs = getattr(model.config, k, None)
        if getattr(cfg, k) != getattr(defaults, k) or theirs == getattr(defaults, k):
            continue
        if channels is None:
            log.info("Cutter: the model was trained with %s %s; this image has one channel, which is used "
                     "itself (%s)", k, theirs, source)
            continue
        wanted = list(map(parse_channel, theirs if isinstance(theirs, (list, tuple)) else (theirs,)))
        missing = [c for c in wanted if not (c in channels or (isinstance(c, int) and 0 <= c < len(channels)))]
        if missing and k == "nucleus_channel" and markers:
            continue
        if missing:
            what = ("one of them (names or 0-based indices; CLI --set nucleus_channel=NAME), or give markers= (points "
                    "or a nucleus label image) (CLI --markers FILE)" if k == "nucleus_channel" else
                    f"{len(wanted)} of them (names or 0-based indices; CLI --set "
                    f"{k}={','.join(['NAME'] * len(wanted))}), the channels that show what the model's showed")
            raise ConfigError(f"The model was trained with {k}={theirs!r} ({source}), which this image lacks: it has "
                              f"the channels {channels}. Set {k} to {what}.")
        bound[k] = theirs
        log.info("Cutter: %s %s as the model was trained (%s)", k, theirs, source)
    return cfg.replace(**bound)


def segment(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | str | None = None,
    progress: Any = False,
    mask: Any = None,
    scribbles: Any = None,
    model: Any = None,
    save_model: Any = None,
    device: str = "cpu",
    overwrite: bool = False,
) -> xr.DataArray:
    """Segment whole cells with the unsupervised marker-controlled Cutter CNN.

    Parameters
    ----------
    image : xarray.DataArray or ndarray
        Dims YX, CYX, TYX or TCYX (plain arrays: YX only). Cell channels and the
        nucleus channel are chosen by ``config``.
    markers : optional
        One marker per cell: (N, 2) array (or list) of (y, x) pixels; (N, 3) (t, y, x)
        for a time-lapse; a table (pandas DataFrame) read by its column names (``y``,
        ``x``, ``t``, or ImageJ's ``X``, ``Y``, ``Frame``: see
        :func:`labelfree.io.markers.points_from_table`); a (Y, X) / (T, Y, X) label
        image (centroids; output labels keep its ids); the path of a marker file
        (:func:`labelfree.io.read_markers`); a list with one entry per frame; or None to detect nuclei
        (``config.marker_method``) in ``config.nucleus_channel``; without one, in the
        image itself when it has one channel, else in the channel guessed to show nuclei
        (:func:`labelfree.cutter.markers.guess_nucleus_channel`).
    config : CutterConfig, dict, JSON/YAML path or None
    progress : bool, tqdm-like or callable
        Training progress; cancelling raises :class:`labelfree.errors.Cancelled`.
    mask : ndarray of bool, (Y, X) or (T, Y, X), optional
        Foreground mask to use instead of the graph cut (whole numbers: non-zero is
        foreground; fractions or NaN are an error). A (Y, X) mask serves every frame.
    scribbles : ndarray of int, (Y, X) or (T, Y, X), optional
        Bright-field: 1 = background, 2 = cell strokes for the pixel classifier.
    model : CutterModel or path, optional
        Apply this trained model (no training). The fields a model fixes (``downscale``,
        ``crop_size``, ``marker_sigma``, ``width``) are taken from it; a config that sets
        one of them to another value is a :class:`~labelfree.errors.ConfigError`.
    save_model : path, optional
        Save the trained model to this file (and ``<file>.json``), checked before
        training: never an input, in a writable folder, and not an existing file unless
        ``overwrite`` (:class:`~labelfree.errors.OutputExistsError`).
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where the network runs ("auto": a CUDA GPU when there is one).
    overwrite : bool
        ``save_model`` may replace an existing model file (and its sidecar).

    Returns
    -------
    xarray.DataArray
        Labels (Y, X) or (T, Y, X), uint16 (uint32 for ids above 65535), 0 = background, same coords as the image,
        provenance in ``attrs["labelfree"]``. In a movie each cell keeps its id over time: the markers' ids when
        they carry them (a label image), else the objects are linked by overlap as Motion's are (recorded as
        ``attrs["labelfree"]["ids_over_time"]``).

    Notes
    -----
    torch's sums, so the labels, depend on its thread count, recorded as ``threads``. Inside
    :func:`labelfree.run.run_pipeline` (the command line, batch) the run's count is used; called directly,
    the ``threads`` of a provenance record given as ``config`` (to repeat that run), else a count set with
    ``torch.set_num_threads``, else the command line's default (:func:`labelfree._threads.network_threads`).
    """
    from labelfree.cutter.model_io import load_model, resolve_device
    from labelfree.cutter.train import CutterModel, train_cutter

    cfg = CutterConfig.coerce(config)
    device = resolve_device(device)  # a wrong name is said before any work
    model_file = None
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        model_file = os.fsdecode(model)
    if save_model is not None and model is not None:
        raise InputError("A model file to save (CLI --save-model-file; macros and batch: save_model_file=; Python: "
                         "save_model=) holds a model trained on this image, but with a model to apply (CLI "
                         "--model-file; macros and batch: model_file=; Python: model=) nothing is trained. Give one "
                         "of them.")
    if save_model is not None:  # checked before training: never an input, in a writable folder
        _check_model_target(save_model, image, markers, model_file, overwrite=overwrite)
    if model_file is not None:
        model = load_model(model_file, device=device)
    if model is not None and not isinstance(model, CutterModel):
        raise InputError(
            f"model must be a trained Cutter model (from labelfree.cutter.fit) or the path of a saved one; got "
            f"{type(model).__name__}."
        )
    image = _valid_input(image)  # once, for the model's channels and for the frames
    require_label_memory(dict(image.sizes), SPEC)  # before any training: labels that cannot fit are refused
    cell_radius = None
    if model is not None:  # patches are cut as the model was trained, at the scale it was trained for
        if cfg.downscale is None:  # automatic: the image is rescaled to the model's cell size (when it has one)
            cell_radius = getattr(model, "cell_radius", None)
        names = channel_names(image) if "C" in image.dims else None
        cfg = _model_bound(cfg, model, f"model {model_file}" if model_file else "the model given", names,
                           markers=markers is not None)
    # the provenance's config runs again as this run did: a downscale set to the model's would skip the rescaling
    recorded = cfg if cell_radius is None else cfg.replace(downscale=None)
    # torch's sums, so the labels, depend on its thread count: that of the run (CLI, batch), a provenance
    # record's given as config, torch.set_num_threads, or the command line's default; recorded below
    threads, chosen_by = network_threads(recorded_threads(config))
    log.info("Cutter: %d torch thread(s) (%s)", threads, chosen_by)
    with limited_threads(threads, torch=True):
        given = _given_markers(markers, image)  # read once: the frames take them, and the ids over time follow them
        # markers detection added at dim nuclei, and the frames masked as dense fields, per frame, for the record
        with recording_added() as added, recording_dense_fields() as dense:
            prepared = _prepare_valid(image, markers=given, config=cfg, mask=mask, scribbles=scribbles,
                                      cell_radius=cell_radius, n_channels=None if model is None else model.n_channels)
        da, frames = prepared.image, prepared.frames
        if model is None:
            model = train_cutter([f.patch_set for f in frames], config=prepared.config, progress=progress,
                                 device=device)
            model.cell_radius = _cell_radius(prepared)
            if save_model is not None:
                model.training = training_inputs(image, markers)  # what it was trained on, for its sidecar
                model_file = os.fsdecode(save_model)
                model.save(model_file, overwrite=True)  # checked above, before the training
        labels = apply_model(model, frames, threshold=cfg.probability_threshold, config=prepared.config)
    dims = ("T", "Y", "X") if "T" in da.dims else ("Y", "X")
    labels = labels if "T" in da.dims else labels[0]
    extra = {"n_markers": [int(len(f.ids)) for f in frames], "training_steps": len(model.history), "device": device,
             "threads": threads}
    if markers is None:  # where the markers came from
        guess = prepared.nucleus_guess
        if guess is not None:
            source = f"channel {guess['channel']} ({guess['name']}, guessed: {guess['rule']})"
        else:
            source = "the image" if cfg.nucleus_channel is None else f"channel {cfg.nucleus_channel}"
        extra["markers"] = {"detected_in": source, "method": cfg.marker_method}
        extra["markers"].update(_added_entry(frames, added, movie="T" in da.dims))
        if guess is not None:
            extra["markers"]["nucleus_channel_guessed"] = guess
        n_added = extra["markers"].get("added_per_frame", [extra["markers"].get("added", 0)])
        log.info("Cutter: no markers given: %s marker(s) detected in %s (%s)%s", "/".join(map(str, extra["n_markers"])),
                 source, cfg.marker_method, f"; {'/'.join(map(str, n_added))} of them were not detected but added at "
                 "dim nuclei" if any(n_added) else "")
    extra.update(_dense_entry(dense, len(frames), movie="T" in da.dims))
    if prepared.auto:
        extra["auto"] = prepared.auto
    if "T" in da.dims and labels.shape[0] > 1:  # a movie: each cell keeps its id over time
        labels, extra["ids_over_time"] = _ids_over_time(labels, given, (da.sizes["Y"], da.sizes["X"]))
    if prepared.box is not None:  # the part of the image inside its constant canvas, [start, stop) per axis
        extra["canvas"] = {"rows": [prepared.box[0].start, prepared.box[0].stop],
                           "columns": [prepared.box[1].start, prepared.box[1].stop]}
    record = provenance("cutter", recorded, model_file=model_file, extra=extra)
    return labels_like(labels, da, dims=dims, attrs={"labelfree": record})


def _dense_entry(dense: set, n_frames: int, /, *, movie: bool) -> dict:
    """The provenance's words on the frames whose foreground mask was measured against the noise of the
    background's dark side (:func:`labelfree.cutter.prepare.recording_dense_fields`; a dense field), logged as a
    note of the run: ``{}`` when none was; else ``{"mask": {"dense_field": True}}`` for an image, and for a movie
    ``{"mask": {"dense_field_frames": [...]}}`` (0-based)."""
    frames = sorted(t for t in dense if t is not None and 0 <= t < n_frames) if movie else []
    if not (frames if movie else dense):
        return {}
    said = (f"in {len(frames)} of the {n_frames} frames (the first: frame {frames[0]} (0-based))" if movie else
            "in the image")
    log.info("Cutter: a dense field %s: the foreground mask was measured against the noise of the background's dark "
             "side, which the cells do not widen", said)
    return {"mask": {"dense_field_frames": frames}} if movie else {"mask": {"dense_field": True}}


#: how many of the markers added at dim nuclei the provenance names (as a warning names its first regions)
_ADDED_LISTED = 5


def _added_entry(frames: list, added: dict, /, *, movie: bool) -> dict:
    """The provenance's words on the markers detection added at bright regions of nucleus size that held none
    (:func:`labelfree.cutter.markers.recording_added`: ``added``, frame -> count; they are the last markers of
    their frame): ``{}`` when none was added; else their number ``added`` (a movie: ``added_per_frame`` too), the
    number the detection itself found (``found``, likewise), where (``added_at``, the first :data:`_ADDED_LISTED`
    as (y, x) in the image's pixels, (t, y, x) in a movie's, t 0-based) and how many more (``added_not_listed``)."""
    counts = [min(int(added.get(t if movie else None, 0)), len(f.ids)) for t, f in enumerate(frames)]
    if not any(counts):
        return {}
    at = [[*([t] if movie else []), *(int(round(v)) for v in p)]
          for t, (f, k) in enumerate(zip(frames, counts)) if k for p in np.asarray(f.markers)[len(f.ids) - k:]]
    entry = {"added": sum(counts), "found": sum(len(f.ids) for f in frames) - sum(counts),
             "added_where": "bright regions of nucleus size that held no marker (nuclei too dim to be found)",
             "added_at": at[:_ADDED_LISTED], "added_not_listed": max(len(at) - _ADDED_LISTED, 0)}
    if movie:
        entry["added_per_frame"] = counts
        entry["found_per_frame"] = [len(f.ids) - k for f, k in zip(frames, counts)]
    return entry


#: how the objects of a movie whose markers carry no ids are linked over time: the rule and defaults of Motion's
#: objects (labelfree.labels.OverlapLinker; MotionConfig.track_min_iou 0.3)
_LINKING = {"min_iou": 0.3, "max_gap": 2, "max_shift": 2.0}


def _marker_ids_given(markers: Any, shape: tuple[int, int], /) -> bool:
    """Whether the markers (as :func:`_given_markers` gives them) carry ids of their own: a label image (a TRA
    folder, a label TIFF, an OME-Zarr, ROIs) does, unless it holds one value (a binary mask, whose blobs are
    numbered); points (arrays, tables, CSV files) and detected markers (None) do not. In a list of per-frame
    markers, one label image is enough."""
    from labelfree.cutter.prepare import _is_label_image

    if isinstance(markers, (list, tuple)):
        return any(_marker_ids_given(m, shape) for m in markers)
    if markers is None or not _is_label_image(markers, shape):
        return False
    values = np.unique(np.asarray(markers))
    return not (values.size == 2 and values[0] == 0)


def _ids_over_time(labels: np.ndarray, markers: Any, shape: tuple[int, int], /) -> tuple[np.ndarray, dict]:
    """A movie's labels (T, Y, X) with one id per cell over time, and the provenance entry that says how.

    The ids of markers that carry ids (:func:`_marker_ids_given`) are kept as they are. Otherwise each frame's
    objects, numbered by their markers' order in that frame, take the ids of the same cells in the frames before
    by overlap, as Motion's objects do (:func:`labelfree.labels.track_by_overlap` with :data:`_LINKING`): only
    the ids change, one for one in each frame, never an object's pixels.
    """
    if _marker_ids_given(markers, shape):
        return labels, {"from": "markers", "rule": "the given markers' ids, kept"}
    from labelfree.labels import track_by_overlap

    linked = track_by_overlap(labels, **_LINKING)
    log.info("Cutter: the objects of the %d frames linked by overlap: %d cell id(s) over time", len(labels),
             int(linked.max()))
    return linked, {"from": "overlap", "rule": "labelfree.labels.track_by_overlap", **_LINKING}
