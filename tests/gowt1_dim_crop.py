"""A GOWT1 frame (Fluo-N2DH-GOWT1/01, complete SEG on t021) and its crops with dim nuclei, read from the shared data
(the test is skipped where a file is absent): the tests of Cutter's detected markers share them."""

from __future__ import annotations

import numpy as np
import pytest

GOWT1 = ("ctc", "Fluo-N2DH-GOWT1")
#: a crop of GOWT1 t021 with 12 nuclei (complete SEG): the detection itself finds 8; SEG 15 and 17, dim and apart
#: from the others, were left without a marker (and without an object); SEG 15 touches SEG 16, as dim: their bright
#: region is two nuclei
DIM_CROP = (slice(512, 1024), slice(384, 1024))
#: a crop of the same frame whose nuclei detection finds (14 of 15; the 15th touches the crop's edge)
GOOD_CROP = (slice(256, 768), slice(256, 768))


def read_shared(shared_data, *parts) -> np.ndarray:
    """The TIFF ``shared_data / parts...``; the test is skipped where it is absent."""
    import tifffile

    path = shared_data.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


def gowt1(shared_data, t: int, truth: bool = False) -> np.ndarray:
    """Frame ``t`` of GOWT1/01, or (``truth``) its SEG annotation."""
    if truth:
        return read_shared(shared_data, *GOWT1, "01_GT", "SEG", f"man_seg{t:03d}.tif")
    return read_shared(shared_data, *GOWT1, "01", f"t{t:03d}.tif")
