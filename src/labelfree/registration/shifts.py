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


_WRITTEN_BY = "give the CSV written by `labelfree drift --shifts` (columns frame, dy, dx and optionally dz)"


def _read_csv(path: Path, /) -> pd.DataFrame:
    """The table of a shifts CSV; InputError for an empty, binary or malformed file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(f"Cannot read the shifts file {path}: {exc.strerror or exc}.") from exc
    if not head.strip():
        raise InputError(f"{path} is empty; {_WRITTEN_BY}.")
    if b"\0" in head:
        raise InputError(f"{path} is not a CSV shifts table (it holds binary data, e.g. an image); {_WRITTEN_BY}.")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a CSV shifts table ({exc}); {_WRITTEN_BY}.") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty; {_WRITTEN_BY}.") from None


def _numbers(table: pd.DataFrame, columns: list[str], /, *, name: str) -> np.ndarray:
    """The columns as floats; InputError naming the first cell that is not a number."""
    values = table[columns].apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & table[columns].notna()
    if bad.to_numpy().any():
        row, col = next((r, c) for r in range(len(table)) for c in columns if bad[c].iloc[r])
        raise InputError(f"{name}: row {row + 1} has a non-number {col} {table[col].iloc[row]!r}; every shift is a "
                         f"number of pixels. Correct that row or {_WRITTEN_BY}.")
    return values.to_numpy(dtype=float)


def _frame_numbers(column: pd.Series, /, *, name: str) -> np.ndarray:
    """The ``frame`` column as whole numbers 0..T-1 (as written) or 1..T (as ImageJ counts), each once;
    InputError otherwise: a repeated, missing or misspelt frame would move the wrong frames."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = int(np.argmax(bad))
        cell = "no frame" if pd.isna(column.iloc[row]) else f"frame {str(column.iloc[row])!r}"
        raise InputError(f"{name}: row {row + 1} has {cell}; frames are whole numbers counted from 0. "
                         f"Correct that row or {_WRITTEN_BY}.")
    frames = values.astype(np.int64)
    if len(frames) == 0:
        return frames
    counts = np.bincount(frames - frames.min())
    if frames.min() in (0, 1) and (counts == 1).all():
        return frames
    if (counts > 1).any():
        what = f"frame {int(frames.min()) + int(np.argmax(counts > 1))} is listed {int(counts.max())} times"
    elif frames.min() not in (0, 1):
        what = f"the frames start at {int(frames.min())}"
    else:
        what = f"frame {int(frames.min()) + int(np.argmax(counts == 0))} is missing"
    raise InputError(f"{name}: {what}; a shifts table has one row per frame, numbered 0, 1, 2, ... "
                     f"(or 1, 2, 3, ...). Correct the table or {_WRITTEN_BY}.")


def read_shifts(shifts: Any, /, *, n_frames: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Drift array (T, n_axes) and its axes from a shifts table, a CSV path or an array.

    A table (or CSV) needs columns ``dy``, ``dx`` (and ``dz``), rows in ``frame`` order when it has that
    column; an array is (T, 2) or (T, 3). With ``n_frames``, another number of rows is an
    :class:`~labelfree.errors.InputError`, as are a missing file, other columns and NaN/inf shifts.
    """
    name = "the shifts table"
    if isinstance(shifts, (str, Path)):
        path = Path(shifts)
        if not path.is_file():
            raise InputError(f"Shifts file {path} does not exist; give the CSV written by `labelfree drift --shifts`.")
        shifts, name = _read_csv(path), str(path)
    if isinstance(shifts, pd.DataFrame):
        axes = tuple(ax for ax in ("Z", "Y", "X") if f"d{ax.lower()}" in shifts.columns)
        if axes not in (("Y", "X"), ("Z", "Y", "X")):
            raise InputError(f"A shifts table needs columns dy and dx (and optionally dz); got {list(shifts.columns)}.")
        drift = _numbers(shifts, [f"d{ax.lower()}" for ax in axes], name=name)
        if "frame" in shifts.columns:
            drift = drift[np.argsort(_frame_numbers(shifts["frame"], name=name), kind="stable")]
    else:
        try:
            drift = np.asarray(shifts, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"shifts must be numbers (a table or an array of shape (T, 2) or (T, 3)): {exc}.") from None
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
    progress : bool, tqdm-like or callable
        Progress per frame; cancelling raises :class:`labelfree.errors.Cancelled`.

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
    _check_within_frame(drift, axes, [da.sizes[ax] for ax in axes])
    window = canvas_window(drift, [da.sizes[ax] for ax in axes], canvas)
    return _resample(da, drift, axes, window, subpixel=subpixel, progress=progress)


def _check_within_frame(drift: np.ndarray, axes: tuple[str, ...], sizes: list[int], /) -> None:
    """InputError for a shift larger than the frame: its corrected frame would not overlap the first one,
    and the canvas that holds both would be many frames wide (a table of another movie, or not of pixels)."""
    beyond = np.abs(drift) > np.asarray(sizes)
    if beyond.any():
        t = int(np.argmax(beyond.any(axis=1)))
        names = ", ".join(f"d{ax.lower()}" for ax in axes)
        values = ", ".join(f"{v:g}" for v in drift[t])
        raise InputError(f"The shift of frame {t} (0-based) is {names} = {values} px, larger than the frame "
                         f"({' x '.join(map(str, sizes))} px); a stage drift moves the field by less than its size. "
                         "Check that the shifts are of this movie and in pixels (not calibrated units).")


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
