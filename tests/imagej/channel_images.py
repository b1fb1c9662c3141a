"""Images with channels that the ImageJ channel tests segment: disks per channel and a movie whose channels move
differently (imported by the test files of this folder)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def disks(centres, seed: int = 0, *, radius: int = 8) -> np.ndarray:
    """A 96 x 96 uint8 image: bright disks (``radius`` px) at ``centres`` on a dark, noisy background."""
    img = np.random.default_rng(seed).normal(10, 2, (96, 96)).clip(0)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in centres:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] += 100
    return img.astype(np.uint8)


def drift_movie(dtype=np.float32) -> np.ndarray:
    """A T C Y X movie of 3 frames: channel 0 stands still, channel 1 moves 3 px down a frame (channel 2 of three,
    when ``dtype`` is uint8, moves 2 px right)."""
    texture = ndi.gaussian_filter(np.random.default_rng(0).random((80, 80)), 2)
    texture = texture / texture.max() * 250
    still = np.stack([texture[8:72, 8:72]] * 3)
    down = np.stack([texture[8 + 3 * t:72 + 3 * t, 8:72] for t in range(3)])
    right = np.stack([texture[8:72, 8 + 2 * t:72 + 2 * t] for t in range(3)])
    return np.stack([still, down] + ([right] if dtype == np.uint8 else []), axis=1).astype(dtype)
