"""Tiny inputs the batch tests share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile


def tiny_movie(path: Path, seed: int) -> None:
    """A 2-frame 48 x 48 uint16 ImageJ movie: two bright rectangles on noise (``seed`` sets the noise)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((2, 48, 48), np.uint16)
    img[:, 8:20, 8:20] = 1000
    img[:, 28:40, 24:44] = 800
    tifffile.imwrite(path, img + rng.integers(0, 50, img.shape, dtype=np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
