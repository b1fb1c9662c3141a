"""Fusion of placed tiles into one mosaic: linear blending, average or maximum."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from labelfree.errors import ConfigError

__all__ = ["FUSIONS", "blend_weights", "fuse_tiles"]

FUSIONS = ("linear", "average", "max")


def blend_weights(shape: Sequence[int], /, *, alpha: float = 1.5) -> np.ndarray:
    """Linear-blending weight of each tile pixel: product over axes of (distance to edge)^alpha."""
    weights = np.ones(tuple(shape), dtype=np.float32)
    for axis, n in enumerate(shape):
        pos = np.arange(n, dtype=np.float32)
        ramp = np.minimum(pos + 0.5, n - pos - 0.5) ** alpha
        view = [1] * len(shape)
        view[axis] = n
        weights *= ramp.reshape(view)
    return weights


def _place(tile: np.ndarray, frac: np.ndarray) -> np.ndarray:
    if not np.any(np.abs(frac) > 1e-3):
        return tile.astype(np.float32, copy=False)
    return ndi.shift(tile.astype(np.float32), frac, order=1, mode="nearest")


def fuse_tiles(
    tiles: Sequence[np.ndarray], positions: np.ndarray, /, *, method: str = "linear", alpha: float = 1.5,
    subpixel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse 2-D tiles (each ``(..., Y, X)``, same leading shape) placed at ``positions``.

    Parameters
    ----------
    tiles : sequence of ndarray
        Tile pixels; leading axes (e.g. channels) are fused plane by plane.
    positions : ndarray, shape (N, 2)
        Top-left corner of each tile (y, x) in pixels; any origin.
    method : {"linear", "average", "max"}
        Linear blending (Fiji's default), plain average or maximum in overlaps.
    subpixel : bool
        Place tiles at fractional positions (linear interpolation); else round.

    Returns
    -------
    fused : ndarray
        Mosaic with the tiles' dtype; pixels no tile covers are 0.
    origin : ndarray, shape (2,)
        Mosaic position of the fused image's pixel (0, 0).
    """
    if method not in FUSIONS:
        raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}; got {method!r}.")
    positions = np.asarray(positions, dtype=float)
    origin = np.floor(positions.min(0) + 1e-6)
    rel = positions - origin
    whole = np.floor(rel + 1e-6) if subpixel else np.round(rel)
    frac = rel - whole if subpixel else np.zeros_like(rel)
    whole = whole.astype(int)
    lead = tiles[0].shape[:-2]
    height = int(max(w[0] + t.shape[-2] for w, t in zip(whole, tiles)))
    width = int(max(w[1] + t.shape[-1] for w, t in zip(whole, tiles)))
    acc = np.zeros(lead + (height, width), dtype=np.float32)
    norm = np.zeros((height, width), dtype=np.float32)
    weights: dict[tuple[int, int], np.ndarray] = {}
    if method == "max":
        acc[...] = -np.inf
    for tile, (y0, x0), f in zip(tiles, whole, frac):
        h, w = tile.shape[-2:]
        region = (..., slice(y0, y0 + h), slice(x0, x0 + w))
        data = _place(tile, np.concatenate([np.zeros(len(lead)), f]))
        if method == "max":
            acc[region] = np.maximum(acc[region], data)
            norm[region[1:]] += 1.0
            continue
        if (h, w) not in weights:
            weights[(h, w)] = blend_weights((h, w), alpha=alpha) if method == "linear" else np.ones((h, w), np.float32)
        weight = weights[(h, w)]
        acc[region] += data * weight
        norm[region[1:]] += weight
    covered = norm > 0
    if method == "max":
        fused = np.where(covered, acc, np.float32(0))
    else:
        fused = np.divide(acc, norm, out=np.zeros_like(acc), where=covered)
    dtype = tiles[0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        fused = np.clip(np.rint(fused), info.min, info.max)
    return fused.astype(dtype), origin
