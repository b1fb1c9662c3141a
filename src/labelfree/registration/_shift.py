"""Placing drift-corrected frames on an output canvas (grown, cropped or same size)."""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from labelfree.errors import ConfigError, ConstantImageError, DimensionError, InputError
from labelfree.image import validate_image

__all__ = ["CANVASES", "canvas_window", "shift_frame"]

CANVASES = ("grow", "crop", "same")


def canvas_window(drift: np.ndarray, sizes: Sequence[int], canvas: str) -> list[tuple[int, int]]:
    """Output window per axis in the reference frame's pixel coordinates.

    Parameters
    ----------
    drift : ndarray, shape (T, n_axes)
        Drift of each frame's content relative to the reference (pixels).
    sizes : sequence of int
        Frame size along those axes.
    canvas : {"grow", "crop", "same"}
        "grow" holds every pixel of every frame (zero-filled like Fiji's Correct 3D
        drift); "crop" keeps only the field seen in all frames; "same" keeps the
        reference frame's field of view.

    Returns
    -------
    list of (lo, hi)
        Half-open range of reference coordinates covered by the output, per axis.
    """
    if canvas not in CANVASES:
        raise ConfigError(f"canvas must be one of {', '.join(CANVASES)}; got {canvas!r}.")
    window = []
    for axis, n in enumerate(sizes):
        d = drift[:, axis]
        if canvas == "grow":
            lo, hi = math.floor(-d.max() + 1e-6), math.ceil(n - d.min() - 1e-6)
        elif canvas == "crop":
            lo, hi = math.ceil(-d.min() - 1e-6), math.floor(n - d.max() + 1e-6)
        else:
            lo, hi = 0, n
        if hi <= lo:
            raise InputError(
                f"The drift ({d.min():.1f} to {d.max():.1f} px) leaves no field of view common to all "
                "frames; use canvas='grow' or 'same' instead of 'crop'."
            )
        window.append((lo, hi))
    return window


def _planes(frame: np.ndarray, n_axes: int) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    lead = frame.shape[: frame.ndim - n_axes]
    for idx in np.ndindex(*lead):
        yield idx, frame[idx]


def shift_frame(
    frame: np.ndarray, drift: Sequence[float], window: Sequence[tuple[int, int]], /, *, subpixel: bool
) -> np.ndarray:
    """Resample one frame onto the output window, undoing its ``drift``.

    The last ``len(drift)`` axes of ``frame`` are shifted (leading axes such as C
    or Z are treated plane by plane). Output pixel ``j`` shows reference position
    ``lo + j``, taken from frame position ``lo + j + drift``. Uncovered pixels are 0.
    Integer offsets copy pixels exactly; others use linear interpolation.
    """
    n_axes = len(drift)
    offset = np.array([lo + float(d) for (lo, _), d in zip(window, drift)])
    if not subpixel:
        offset = np.round(offset)
    out_shape = tuple(hi - lo for lo, hi in window)
    out = np.zeros(frame.shape[: frame.ndim - n_axes] + out_shape, dtype=frame.dtype)
    integer = np.allclose(offset, np.round(offset), atol=1e-6)
    for idx, plane in _planes(frame, n_axes):
        if integer:
            src, dst = [], []
            for off, n_out, n_in in zip(np.round(offset).astype(int), out_shape, plane.shape):
                start, stop = max(0, -off), min(n_out, n_in - off)
                if stop <= start:
                    break
                dst.append(slice(start, stop))
                src.append(slice(start + off, stop + off))
            else:
                out[idx][tuple(dst)] = plane[tuple(src)]
            continue
        moved = ndi.affine_transform(
            plane.astype(np.float32, copy=False), np.ones(n_axes), offset=offset,
            output_shape=out_shape, order=1, mode="constant", cval=0.0,
        )
        if frame.dtype == bool:
            moved = moved > 0.5
        elif np.issubdtype(frame.dtype, np.integer):
            info = np.iinfo(frame.dtype)
            moved = np.clip(np.rint(moved), info.min, info.max)
        out[idx] = moved.astype(frame.dtype, copy=False)
    return out


def check_movie(movie: Any) -> xr.DataArray:
    """The movie as a DataArray with a T axis of at least 2 frames (DimensionError otherwise).

    A plain 3-D array is a ``TYX`` stack (a DataArray says its own dims; other arrays need one).
    """
    plain_stack = not isinstance(movie, xr.DataArray) and np.ndim(movie) == 3
    try:
        da = validate_image(movie, required=("Y", "X"), name="movie", dims="TYX" if plain_stack else None)
    except ConstantImageError:
        raise ConstantImageError(
            "movie is constant (every pixel of every frame is the same value); there is nothing to register. "
            "Check that the right file or channel was given."
        ) from None
    if da.sizes.get("T", 1) < 2:
        raise DimensionError(
            f"Drift correction needs a time-lapse with at least 2 frames along T; the movie has dims "
            f"{''.join(da.dims)} and shape {tuple(da.shape)}. If the frames are stored along Z or C, "
            "relabel that axis as T (in Fiji: Image > Properties or Image > Hyperstacks > Re-order)."
        )
    return da
