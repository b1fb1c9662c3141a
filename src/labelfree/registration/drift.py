"""Drift correction of time-lapse movies: Fiji's "Correct 3D drift" or a Python equivalent.

Shifts follow Fiji's log convention: ``dy, dx (, dz)`` is the drift of frame t's
content relative to the first frame, in pixels (a bead at ``p`` in frame 0 is at
``p + d`` in frame t); the correction moves frame t by ``-d``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from labelfree._config import PipelineConfig, setting
from labelfree._progress import Progress
from labelfree.errors import ConfigError, InputError
from labelfree.image import scale_of, select_channel, units_of
from labelfree.registration._backend import choose_backend, fiji_backend
from labelfree.registration._phase import (
    bandpass_weights,
    chance_ncc,
    edge_taper,
    measure_shift,
    normalization_of,
    prepare,
    subpixel_shift,
)
from labelfree.registration._shift import canvas_window, check_movie as _check_movie
from labelfree.registration.shifts import _resample, apply_shifts, read_shifts

__all__ = ["DriftConfig", "correct_drift", "estimate_drift", "estimate_drift_in_region", "apply_shifts", "read_shifts"]

log = logging.getLogger(__name__)

#: A match counts only if its NCC is at least this many times the NCC the same search reaches by chance
#: (:func:`chance_ncc`: the frame turned by 180°). Real scenes score 2.2-10 times chance (GOWT1, MSC),
#: pure noise 0.9-1.3 times.
CHANCE_RATIO = 1.5
#: A match at least this good needs no chance check (it costs one more search per frame): over the shifts
#: searched, frames of pure noise reach at most 0.43 at 32 x 32 px, 0.27 at 64 x 64, 0.04 at 512 x 512
#: (measured, 11 pairs each); real scenes' matches score 0.2-0.99.
SURE_NCC = 0.6


@dataclasses.dataclass
class DriftConfig(PipelineConfig):
    """Options of drift correction (usable as an optional first step of any pipeline).

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(DriftConfig)``, ``labelfree options drift`` in a shell).
    """

    backend: Literal["auto", "fiji", "python"] = setting(
        "auto", basic=True,
        help="'auto' uses Fiji's Correct 3D Drift when a running Fiji has it, else the Python implementation.")
    reference: Literal["previous", "first"] = setting(
        "previous", basic=True,
        help="Match each frame to the previous one (shifts accumulated; robust to slow change) or to the first "
             "frame (no accumulation of errors).")
    channel: int | str = setting(
        0, basic=True, help="Registration channel (index or name); the shifts are applied to every channel.")
    subpixel: bool = setting(True, basic=True,
                             help="Measure to 1/upsample pixel and apply with linear interpolation.")
    canvas: Literal["grow", "crop", "same"] = setting(
        "grow", basic=True,
        help="Output field of view: every pixel of every frame (zero-filled, as Fiji), the field seen in all "
             "frames, or the first frame's.")
    max_shift: float | tuple[float, ...] | None = setting(
        None, basic=True, gt=0,
        help="Largest shift per measurement in pixels (one value, or one per axis); automatic: a third of the frame.")
    xy_only: bool = setting(False, basic=True,
                            help="For Z stacks: measure on the Z-average and correct X and Y only.")
    upsample: int = setting(20, group="matching", ge=1, le=1000, help="Sub-pixel precision is 1/upsample pixel.")
    low_sigma: float = setting(1.5, group="matching", ge=0,
                               help="Band-pass before matching: noise-smoothing sigma (px).")
    high_sigma: float = setting(20.0, group="matching", gt=0,
                                help="Band-pass before matching: background-removal sigma (px).")
    normalization: Literal["none", "phase"] = setting(
        "none", group="matching",
        help="Plain cross-correlation of the band-passed frames (more robust on noisy fluorescence) or whitened "
             "phase correlation.")
    n_peaks: int = setting(5, group="matching", ge=1, help="Correlation peaks verified by overlap NCC (Fiji checks 5).")
    taper: float = setting(0.1, group="matching", ge=0, lt=0.5,
                           help="Fraction of each frame edge faded out before matching (0 = none).")


def _axes(da: xr.DataArray, cfg: DriftConfig) -> tuple[str, ...]:
    return ("Z", "Y", "X") if "Z" in da.dims and not cfg.xy_only else ("Y", "X")


def _limits(max_shift: Any, n_axes: int) -> list[int] | None:
    if max_shift is None:
        return None
    values = np.atleast_1d(np.asarray(max_shift, dtype=float))
    if values.size == 1:
        values = np.repeat(values, n_axes)
    if values.size != n_axes or (values <= 0).any():
        raise ConfigError(f"max_shift must be one positive number or {n_axes} (one per axis); got {max_shift!r}.")
    return [int(np.ceil(v)) for v in values]


def _registration_frame(da: xr.DataArray, t: int, cfg: DriftConfig, axes: Sequence[str]) -> np.ndarray:
    frame = select_channel(da.isel(T=t), cfg.channel)
    if "Z" in frame.dims and "Z" not in axes:
        frame = frame.mean("Z")
    return np.asarray(frame.transpose(*axes).values, dtype=np.float32)


def _blank(frame: np.ndarray) -> bool:
    """Whether a registration frame holds no content (every pixel equal, e.g. a dropped frame)."""
    return bool(frame.size == 0 or frame.min() == frame.max())


def _by_chance(pair: Any, reference: tuple, current: tuple, /, **search: Any) -> bool:
    """Whether the match ``pair`` of two prepared frames (image, spectrum) is no measurement: under
    :data:`SURE_NCC` and no better than :data:`CHANCE_RATIO` times :func:`chance_ncc` of the same search."""
    return pair.ncc < SURE_NCC and pair.ncc <= CHANCE_RATIO * max(0.0, chance_ncc(
        reference[0], current[0], spectra=(reference[1], current[1]), **search))


#: the most frames a drift warning names; of more it says how many and names the first (as the warnings of NaN/inf
#: pixels name frames)
_NAMED = 10


def _frames_said(frames: Sequence[int], /) -> str:
    """Frames for a message, counted from 0 as the shifts table (its ``frame`` column) and LabelFree's other
    messages count them, and said so: ``frames [3, 5] (0-based)``, one frame ``frame 3 (0-based)``; more than
    :data:`_NAMED`: ``12 frames (the first: frames [0, 1, ..., 9] (0-based))``. ImageJ's Log says them counted from 1
    (:func:`labelfree.imagej.terms.in_imagej_terms`: ``frames 4, 6 (the stack's frames, counted from 1)``).

    >>> _frames_said([3, 5])
    'frames [3, 5] (0-based)'
    >>> _frames_said([3])
    'frame 3 (0-based)'
    >>> _frames_said(range(12))
    '12 frames (the first: frames [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (0-based))'
    """
    frames = [int(t) for t in frames]
    if len(frames) == 1:
        return f"frame {frames[0]} (0-based)"
    named = f"frames [{', '.join(map(str, frames[:_NAMED]))}] (0-based)"
    return named if len(frames) <= _NAMED else f"{len(frames)} frames (the first: {named})"


def _warn_unmatched(unmatched: list[int], ncc: np.ndarray, where: str, reference: bool) -> None:
    """The warnings of a drift estimate: frames without a usable match (``reference``: they are said to be no
    reference either), and weak matches among the others; one frame is said in the singular."""
    if unmatched:
        one = len(unmatched) == 1
        log.warning("drift: no usable match%s (no content, or a correlation no better than chance) for %s: %s the "
                    "drift of the frame before%s; check %s.", where, _frames_said(unmatched),
                    "it keeps" if one else "they keep",
                    (" and is not used as reference" if one else " and are not used as reference") if reference else "",
                    "that frame" if one else "those frames")
    low = np.flatnonzero(ncc < 0.2)
    low = low[~np.isin(low, unmatched)]
    if low.size:
        log.warning("drift: %s (NCC < 0.2)%s at %s; check %s.", "a weak match" if low.size == 1 else "weak matches",
                    where, _frames_said(low), "that shift" if low.size == 1 else "those shifts")


def _shift_table(drift: np.ndarray, ncc: np.ndarray, da: xr.DataArray, axes: Sequence[str]) -> pd.DataFrame:
    table = pd.DataFrame({"frame": np.arange(len(drift))})
    for i, ax in enumerate(axes):
        table[f"d{ax.lower()}"] = drift[:, i]
    table["ncc"] = ncc
    for i, ax in enumerate(axes):
        table[f"d{ax.lower()}_cal"] = drift[:, i] * scale_of(da, ax)
    table["unit"] = units_of(da, "X")
    return table


def estimate_drift(movie: Any, /, *, config: Any = None, progress: Any = False) -> pd.DataFrame:
    """Measure the drift of every frame with the Python backend (nothing is resampled).

    Parameters
    ----------
    movie : xarray.DataArray or ndarray
        Time-lapse with dims ``T(C)(Z)YX``; at least two frames.
    config : DriftConfig, dict or path, optional
    progress : bool, callable or tqdm-like

    Returns
    -------
    pandas.DataFrame
        ``frame, (dz,) dy, dx`` in pixels, ``ncc`` (match quality of the measurement
        that placed the frame), the same shifts in calibrated units (``*_cal``) and ``unit``.
    """
    cfg = DriftConfig.coerce(config)
    da = _check_movie(movie)
    axes = _axes(da, cfg)
    n = da.sizes["T"]
    limits = _limits(cfg.max_shift, len(axes))
    first = _registration_frame(da, 0, cfg, axes)
    weights = bandpass_weights(first.shape, low_sigma=cfg.low_sigma, high_sigma=cfg.high_sigma)
    taper = edge_taper(first.shape, fraction=cfg.taper) if cfg.taper > 0 else None
    reference, reference_raw = prepare(first, weights=weights, taper=taper), first
    reference_blank, reference_frame = _blank(first), 0
    drift = np.zeros((n, len(axes)))
    ncc = np.ones(n)
    unmatched: list[int] = []
    with Progress(progress, total=n - 1, desc="drift: measuring") as bar:
        for t in range(1, n):
            raw = _registration_frame(da, t, cfg, axes)
            current = prepare(raw, weights=weights, taper=taper)
            pair = measure_shift(
                reference[0], current[0], spectra=(reference[1], current[1]), max_shift=limits,
                n_peaks=cfg.n_peaks, normalization=normalization_of(cfg),
            )
            ncc[t] = pair.ncc
            blank = _blank(raw)
            if blank or reference_blank or _by_chance(pair, reference, current, max_shift=limits,
                                                      n_peaks=cfg.n_peaks, normalization=normalization_of(cfg)):
                # no content or no better than chance: no measurement; the frame keeps the previous frame's
                # drift and, unless the reference itself is blank, does not become the next reference
                drift[t] = drift[t - 1]
                unmatched.append(t)
                if cfg.reference == "previous" and reference_blank and not blank:
                    reference, reference_raw, reference_blank, reference_frame = current, raw, False, t
                bar.update(message=f"frame {t + 1}/{n}")
                continue
            step = np.array(subpixel_shift(reference_raw, raw, pair.shift, cfg))
            drift[t] = drift[reference_frame] + step if cfg.reference == "previous" else step
            if cfg.reference == "previous":
                reference, reference_raw, reference_frame = current, raw, t
            bar.update(message=f"frame {t + 1}/{n}")
    _warn_unmatched(unmatched, ncc, "", reference=True)
    return _shift_table(drift, ncc, da, axes)


#: The smallest region (px per side) :func:`estimate_drift_in_region` measures in (as the sub-pixel step's overlap).
MIN_REGION = 8


def _box_inside(box: Any, height: int, width: int) -> tuple[int, int, int, int]:
    """The part of ``box`` (x, y, width, height) inside a ``height`` x ``width`` frame, as ImageJ clips a
    selection to its image; InputError when that part is smaller than :data:`MIN_REGION` px per side."""
    try:
        x, y, w, h = (round(float(v)) for v in box)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"box must be four numbers (x, y, width, height) in pixels; got {box!r}.") from None
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 - x0 < MIN_REGION or y1 - y0 < MIN_REGION:
        raise InputError(
            f"The region (x={x}, y={y}, {w}x{h} px) holds {max(x1 - x0, 0)}x{max(y1 - y0, 0)} px of the "
            f"{width}x{height} px frame; drift is measured in at least {MIN_REGION}x{MIN_REGION} px. Give a larger "
            "region inside the frame (in Fiji: a larger selection), or none to measure on the whole frame.")
    return x0, y0, x1 - x0, y1 - y0


def estimate_drift_in_region(movie: Any, box: tuple[int, int, int, int], /, *, config: Any) -> pd.DataFrame:
    """Drift measured inside ``box`` (x, y, width, height) that moves along with it, as Correct 3D Drift
    moves its ROI: each frame's box is placed where the previous frame's drift puts the structure
    (kept inside the image, size unchanged), then once more where the structure was found, so the
    structure does not leave the box and the edge taper does not pull the shift towards 0.
    Same table as :func:`estimate_drift` (the "LabelFree Drift" command with an area selection).
    A box reaching beyond the frame is cut to the frame, as ImageJ cuts a selection; InputError when
    less than :data:`MIN_REGION` px per side of it lies inside. ``movie`` is a time-lapse as
    :func:`estimate_drift` takes it; ``config`` a :class:`DriftConfig`, dict, JSON/YAML path or None.
    """
    config = DriftConfig.coerce(config)
    movie = _check_movie(movie)
    n, height, width = movie.sizes["T"], movie.sizes["Y"], movie.sizes["X"]
    x, y, w, h = _box_inside(box, height, width)
    axes = _axes(movie, config)
    frames = [_registration_frame(movie, t, config, axes) for t in range(n)]

    def cut(t: int, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame t's box moved by ``offset`` (its (dy, dx) from its drawn place), and where it landed."""
        y0 = int(np.clip(y + round(offset[-2]), 0, height - h))
        x0 = int(np.clip(x + round(offset[-1]), 0, width - w))
        return frames[t][..., y0:y0 + h, x0:x0 + w], np.array([y0 - y, x0 - x])

    shape = frames[0][..., :h, :w].shape
    weights = bandpass_weights(shape, low_sigma=config.low_sigma, high_sigma=config.high_sigma)
    taper = edge_taper(shape, fraction=config.taper) if config.taper > 0 else None

    def measure(ref_img: np.ndarray, cur_img: np.ndarray) -> tuple[Any, bool]:
        """The pair's shift and NCC, and whether it is a measurement (content, better than chance)."""
        ref, cur = prepare(ref_img, weights=weights, taper=taper), prepare(cur_img, weights=weights, taper=taper)
        search = dict(max_shift=limits, n_peaks=config.n_peaks, normalization=normalization_of(config))
        pair = measure_shift(ref[0], cur[0], spectra=(ref[1], cur[1]), **search)
        usable = not (_blank(ref_img) or _blank(cur_img) or _by_chance(pair, ref, cur, **search))
        return dataclasses.replace(pair, shift=subpixel_shift(ref_img, cur_img, pair.shift, config)), usable

    limits = _limits(config.max_shift, len(axes))
    drift, ncc = np.zeros((n, len(axes))), np.ones(n)
    last, unmatched = 0, []  # the last frame measured: the next reference with reference="previous"
    for t in range(1, n):
        ref_t = last if config.reference == "previous" else 0
        ref_img, ref_at = cut(ref_t, drift[ref_t])
        guess = drift[t - 1]
        for _ in range(2):  # measure, then once more with the box where the structure was found
            cur_img, cur_at = cut(t, guess)
            pair, usable = measure(ref_img, cur_img)
            if not usable:
                break
            step = np.array(pair.shift)
            step[-2:] += cur_at - ref_at  # the boxes' own offset
            guess = drift[ref_t] + step
        ncc[t] = pair.ncc
        if usable:
            drift[t], last = guess, t
        else:  # as estimate_drift: the frame keeps the drift before it and is no reference
            drift[t] = drift[t - 1]
            unmatched.append(t)
    _warn_unmatched(unmatched, ncc, " inside the selection", reference=False)
    return _shift_table(drift, ncc, movie, axes)


def correct_drift(
    movie: Any,
    /,
    *,
    backend: str | None = None,
    reference: str | None = None,
    channel: int | str | None = None,
    subpixel: bool | None = None,
    canvas: str | None = None,
    max_shift: Any = None,
    config: Any = None,
    progress: Any = False,
) -> tuple[xr.DataArray, pd.DataFrame]:
    """Correct stage drift: measure a translation per frame and undo it for all channels.

    Parameters
    ----------
    movie : xarray.DataArray or ndarray
        Time-lapse with dims ``T(C)(Z)YX`` (a plain array needs to be a TYX stack).
    backend, reference, channel, subpixel, canvas, max_shift
        Override the matching :class:`DriftConfig` fields (None: take the config's).
    config : DriftConfig, dict or path, optional
    progress : bool, callable or tqdm-like

    Returns
    -------
    corrected : xarray.DataArray
        The registered movie (dtype kept); its spatial coords are positions in the first
        frame's calibrated space, so a grown canvas starts at negative coordinates.
    shifts : pandas.DataFrame
        ``frame, (dz,) dy, dx`` (pixels, drift of each frame relative to the first),
        ``ncc``, calibrated ``*_cal`` and ``unit``; re-apply with :func:`apply_shifts`.

    Raises
    ------
    DimensionError
        No T axis or a single frame.
    FijiError
        ``backend="fiji"`` without a Fiji started in this process (:func:`labelfree.imagej.start`);
        :class:`~labelfree.errors.FijiPluginMissingError`, a ``FijiError``, when the Fiji that runs lacks
        "Correct 3D drift".
    """
    overrides = dict(backend=backend, reference=reference, channel=channel, subpixel=subpixel,
                     canvas=canvas, max_shift=max_shift)
    cfg = DriftConfig.coerce(config).replace(**{k: v for k, v in overrides.items() if v is not None})
    da = _check_movie(movie)
    used = choose_backend(cfg.backend, "drift", task_name="drift correction")
    if used == "fiji":
        return fiji_backend("drift")(da, cfg)
    shifts = estimate_drift(da, config=cfg, progress=progress)
    drift, axes = read_shifts(shifts)
    window = canvas_window(drift, [da.sizes[ax] for ax in axes], cfg.canvas)
    corrected = _resample(da, drift, axes, window, subpixel=cfg.subpixel, progress=progress)
    corrected.attrs["drift_correction"] = {**cfg.to_dict(), "backend": "python"}
    return corrected, shifts
