"""Applying drift shifts to movies: saved tables, CSV files or arrays, any canvas.

Shifts are the drift of each frame's content relative to the first frame in pixels
(see :mod:`labelfree.registration.drift`); applying them moves frame t by ``-d``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from labelfree._progress import Progress
from labelfree.errors import InputError
from labelfree.image import scale_of
from labelfree.registration._shift import canvas_window, check_movie, shift_frame

__all__ = ["read_shifts", "apply_shifts"]


def read_shifts(shifts: Any, /, *, n_frames: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Drift array (T, n_axes) and its axes from a shifts table, a CSV path or an array."""
    if isinstance(shifts, (str, Path)):
        path = Path(shifts)
        if not path.is_file():
            raise InputError(f"Shifts file {path} does not exist; give the CSV written by `labelfree drift --shifts`.")
        shifts = pd.read_csv(path)
    if isinstance(shifts, pd.DataFrame):
        axes = tuple(ax for ax in ("Z", "Y", "X") if f"d{ax.lower()}" in shifts.columns)
        if axes not in (("Y", "X"), ("Z", "Y", "X")):
            raise InputError(f"A shifts table needs columns dy and dx (and optionally dz); got {list(shifts.columns)}.")
        if "frame" in shifts.columns:
            shifts = shifts.sort_values("frame")
        drift = shifts[[f"d{ax.lower()}" for ax in axes]].to_numpy(dtype=float)
    else:
        drift = np.asarray(shifts, dtype=float)
        if drift.ndim != 2 or drift.shape[1] not in (2, 3):
            raise InputError(f"shifts must be a table or an array of shape (T, 2) or (T, 3); got shape {drift.shape}.")
        axes = ("Y", "X") if drift.shape[1] == 2 else ("Z", "Y", "X")
    if n_frames is not None and len(drift) != n_frames:
        raise InputError(f"{len(drift)} shifts were given for a movie of {n_frames} frames; give one row per frame.")
    if not np.isfinite(drift).all():
        raise InputError("The shifts contain NaN or infinite values.")
    return drift, axes


def apply_shifts(
    movie: Any, shifts: Any, /, *, canvas: str = "grow", subpixel: bool = True, progress: Any = False
) -> xr.DataArray:
    """Apply per-frame drift shifts (measured or saved earlier) to every channel.

    Parameters
    ----------
    movie : xarray.DataArray or ndarray
        Time-lapse ``T(C)(Z)YX``.
    shifts : pandas.DataFrame, path to CSV, or ndarray (T, 2|3)
        Drift in pixels, columns ``(dz,) dy, dx`` (see module docstring for the sign).
    canvas : {"grow", "crop", "same"}
        Output field of view (see :class:`DriftConfig`).
    subpixel : bool
        Apply fractional shifts by linear interpolation; else round them first.

    Returns
    -------
    xarray.DataArray
        Same dims, dtype, T/C coords; spatial coords give each pixel's position in
        the first frame's calibrated coordinates.
    """
    da = check_movie(movie)
    drift, axes = read_shifts(shifts, n_frames=da.sizes["T"])
    if "Z" in axes and "Z" not in da.dims:
        raise InputError("The shifts have a dz column but the movie has no Z axis.")
    if not subpixel:
        drift = np.round(drift)
    window = canvas_window(drift, [da.sizes[ax] for ax in axes], canvas)
    return _resample(da, drift, axes, window, subpixel=subpixel, progress=progress)


def _resample(da, drift, axes, window, *, subpixel, progress) -> xr.DataArray:
    order = [d for d in da.dims if d not in axes] + list(axes)
    out_shape = tuple(da.sizes[d] for d in order if d not in axes) + tuple(hi - lo for lo, hi in window)
    out = np.zeros(out_shape, dtype=da.dtype)
    with Progress(progress, total=da.sizes["T"], desc="drift: resampling") as bar:
        for t in range(da.sizes["T"]):
            frame = np.asarray(da.isel(T=t).transpose(*order[1:]).values)
            out[t] = shift_frame(frame, drift[t], window, subpixel=subpixel)
            bar.update(message=f"frame {t + 1}")
    coords = {d: da.coords[d] for d in order if d not in axes and d in da.coords}
    for ax, (lo, hi) in zip(axes, window):
        old = da.coords[ax]
        step = scale_of(da, ax)
        values = float(old.values[0]) + step * np.arange(lo, hi, dtype=np.float64)
        coords[ax] = xr.Variable(ax, values, attrs=dict(old.attrs))
    result = xr.DataArray(out, dims=order, coords=coords, attrs=dict(da.attrs), name=da.name)
    return result.transpose(*da.dims)
