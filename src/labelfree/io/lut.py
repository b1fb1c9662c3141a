"""A glasbey-style label LUT: 256 colours, each as distinct as possible from the others.

Generated here algorithmically (greedy farthest-point sampling in CIELAB), not copied
from any other software: index 0 is black (background) and every following colour is
the candidate farthest, in perceptual distance, from all colours already chosen.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["glasbey_lut", "srgb_to_lab"]


def srgb_to_lab(rgb: np.ndarray, /) -> np.ndarray:
    """Convert sRGB colours to CIELAB (D65 white).

    Parameters
    ----------
    rgb : (N, 3) array
        sRGB values in 0..1.

    Returns
    -------
    (N, 3) float64 array of L*, a*, b*.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[:, 0] = 116 * f[:, 1] - 16
    lab[:, 1] = 500 * (f[:, 0] - f[:, 1])
    lab[:, 2] = 200 * (f[:, 1] - f[:, 2])
    return lab


@functools.lru_cache(maxsize=4)
def _glasbey(n: int, levels: int) -> bytes:
    grid = np.linspace(0, 255, levels).round().astype(np.uint8)
    cand = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = srgb_to_lab(cand / 255.0)
    chosen = [0]  # black (the grid's first candidate) is the background colour
    dist = np.sum((lab - lab[0]) ** 2, axis=1)
    for _ in range(n - 1):
        idx = int(np.argmax(dist))
        chosen.append(idx)
        dist = np.minimum(dist, np.sum((lab - lab[idx]) ** 2, axis=1))
    return cand[chosen].tobytes()


def glasbey_lut(n: int = 256, /, *, levels: int = 16) -> np.ndarray:
    """Maximally distinct label colours, index 0 black.

    Parameters
    ----------
    n : int
        Number of colours (ImageJ LUTs have 256).
    levels : int
        Candidate colours are a ``levels**3`` grid of the sRGB cube.

    Returns
    -------
    (3, n) uint8 array, rows R, G, B: the layout of ImageJ's ``LUTs`` metadata.

    Examples
    --------
    >>> lut = glasbey_lut()
    >>> lut.shape, lut[:, 0].tolist()
    ((3, 256), [0, 0, 0])
    >>> len({tuple(c) for c in lut.T})  # all distinct
    256
    """
    if not 1 <= n <= levels**3:
        raise ValueError(f"n must be between 1 and {levels ** 3}; got {n}.")
    colours = np.frombuffer(_glasbey(int(n), int(levels)), dtype=np.uint8).reshape(n, 3)
    return np.ascontiguousarray(colours.T)
