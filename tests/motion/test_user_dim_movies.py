"""A dim camera: a 16-bit movie whose values span fewer grey levels than an 8-bit one."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import motion
from labelfree.motion.flow import uint8_range


@pytest.fixture(scope="module")
def dim_msc(msc_dir):
    """Real MSC frames 0-5 and their ground truth where annotated, binned 2 x 2, as photon counts 0..5."""
    import tifffile

    frames = np.stack([tifffile.imread(msc_dir / "01" / f"t{t:03d}.tif").astype(np.float64) for t in range(6)])
    h, w = (s // 2 * 2 for s in frames.shape[1:])
    binned = frames[:, :h, :w].reshape(6, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    lo, hi = np.percentile(binned, [1, 99.9])
    counts = np.clip(np.round((binned - lo) / (hi - lo) * 5), 0, 5)
    return counts


def test_a_16_bit_movie_of_few_grey_levels_is_spread_as_an_8_bit_one(dim_msc):
    """Its percentiles clipped the cells (the 99.8th of counts 0..5 is about 3): the same values gave other
    labels in 16 bits than in 8 bits."""
    as16, as8 = dim_msc.astype(np.uint16), dim_msc.astype(np.uint8)
    assert uint8_range(as16) == uint8_range(as8) == (0.0, 5.0)
    np.testing.assert_array_equal(motion.segment(as16).values, motion.segment(as8).values)
    # an offset camera (counts on a pedestal of 100) is the same movie
    assert uint8_range(as16 + 100) == (100.0, 105.0)
    # more levels than 8 bits hold: percentiles as before
    wide = (dim_msc * 100).astype(np.uint16)
    assert uint8_range(wide) == tuple(float(v) for v in np.percentile(wide[:, ::4, ::4], [0.5, 99.8]))
