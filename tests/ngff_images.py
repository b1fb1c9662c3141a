"""An image the OME-Zarr tests write as stores: bright squares on a dim, noisy background (imported by the test
files of tests/io that build zarr stores)."""

from __future__ import annotations

import numpy as np


def squares(h: int = 96, w: int = 120) -> np.ndarray:
    """Bright 12x12 squares every 24 pixels (20 in a 96 x 120 image) on a dim, slightly noisy background
    (uint16)."""
    img = np.random.default_rng(1).integers(90, 110, (h, w)).astype(np.uint16)
    for y in range(4, h - 12, 24):
        for x in range(4, w - 12, 24):
            img[y:y + 12, x:x + 12] = 1000
    return img
