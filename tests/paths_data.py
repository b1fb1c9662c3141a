"""A small movie file for the tests of output paths (test_paths_*.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile


def three_disk_movie(path: Path) -> Path:
    """(T, Y, X) uint16 ImageJ TIFF at ``path``: three bright disks on noise, 3 frames, moving down."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    data = rng.integers(0, 50, (3, 64, 64)).astype(np.uint16)
    for t in range(3):
        for cy, cx in ((16, 16), (40, 20), (30, 48)):
            data[t][(yy - cy - 2 * t) ** 2 + (xx - cx) ** 2 < 49] += 1000
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX"})
    return path
