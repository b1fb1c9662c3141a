"""Memory of the z-stack threshold steps: no full-size int64 or second labelled copies of the stack.

Measured with tracemalloc (numpy reports its buffers to it): a peak, not a time, so the bounds hold on any machine.
Each bound lies between the new code's peak and the old code's (which held an int64 copy of the labels, or a list of
labelled planes plus their stack).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from traced_memory import traced_peak
from volume_planes import Planes

from labelfree.labels import link_planes, remove_small_objects
from labelfree.threshold import ThresholdConfig
from labelfree.threshold.volume import volume_labels

Z, Y, X = 16, 256, 256


def _stack() -> np.ndarray:
    """A (Z, Y, X) uint16 stack of blobs, a few of them a single voxel (removed by min_size)."""
    rng = np.random.default_rng(3)
    vol = np.zeros((Z, Y, X), np.uint16)
    zz, yy, xx = np.ogrid[-3:4, -6:7, -6:7]
    ball = (yy ** 2 + xx ** 2) / 36 + zz ** 2 / 9 <= 1
    for _ in range(60):
        z, y, x = rng.integers(3, Z - 3), rng.integers(6, Y - 6), rng.integers(6, X - 6)
        np.maximum(vol[z - 3:z + 4, y - 6:y + 7, x - 6:x + 7], ball * np.uint16(1000),
                   out=vol[z - 3:z + 4, y - 6:y + 7, x - 6:x + 7])
    vol[rng.integers(0, Z, 20), rng.integers(0, Y, 20), rng.integers(0, X, 20)] = 1000
    return vol + rng.integers(80, 140, vol.shape, dtype=np.uint16)


def test_remove_small_objects_3d_mask_peak_and_result():
    mask = _stack() > 500
    kept, peak = traced_peak(remove_small_objects, mask, min_size=10)
    lab, _ = ndi.label(mask)
    sizes = np.bincount(lab.ravel())
    expected = (lab != 0) & (sizes[lab] >= 10)
    assert kept.dtype == bool and np.array_equal(kept, expected)
    assert np.count_nonzero(mask) - np.count_nonzero(kept) >= 15  # the single voxels went
    # the int32 labels (4 bytes a voxel) and the kept mask (1): old 4 + 8 (int64 counts' input) + 1 + ...
    assert peak < 6.5 * mask.size, peak / mask.size


def test_remove_small_objects_3d_labels_keep_ids():
    lab = ndi.label(_stack() > 500)[0].astype(np.uint32) * 7
    out = remove_small_objects(lab, min_size=10)
    sizes = np.bincount(lab.ravel())
    assert out.dtype == np.uint32 and np.array_equal(out, np.where(sizes[lab] >= 10, lab, 0))


def test_link_planes_mask_peak_and_result():
    mask = _stack() > 500
    objects, peak = traced_peak(link_planes, mask)
    assert np.array_equal(objects, link_planes(np.stack([ndi.label(p)[0] for p in mask])))
    assert np.array_equal(objects > 0, mask) and objects.dtype == np.uint16
    # the uint16 output (2 bytes a voxel) and a few planes; old: + int32 planes listed, then stacked (8)
    assert peak < 3.5 * mask.size, peak / mask.size


def test_volume_labelstraced_peak():
    vol = _stack()
    # a fixed threshold: the automatic one's sample of the whole volume (capped, small for a real stack) left out
    (labels, thr), peak = traced_peak(volume_labels, Planes(vol), ThresholdConfig(threshold=500, min_size=10))
    assert thr == 500 and labels.max() > 30 and labels.dtype == np.uint16
    assert np.array_equal(labels > 0, remove_small_objects(vol > 500, min_size=10))
    # mask (1) + int32 3-D labels (4) + kept (1); then int32 planes (4) + the uint16 labels (2).
    # old: mask (1) + int32 3-D labels (4) + their int64 copy (8) + ...
    assert peak < 7 * vol.size, peak / vol.size


def test_finish_volume_tiles_peak_and_result():
    import xarray as xr

    from labelfree.threshold.volume_tiles import finish_volume_tiles

    vol = _stack()
    cfg = ThresholdConfig(threshold=500, min_size=10)
    mask = vol > 500
    planes = np.stack([ndi.label(p)[0] for p in mask]).astype(np.uint32)  # as the tiles assemble them
    image = xr.DataArray(vol, dims=("Z", "Y", "X"))
    labels, peak = traced_peak(finish_volume_tiles, planes, cfg, image, [cfg])
    assert labels is planes and labels.dtype == np.uint32
    assert np.array_equal(labels, link_planes(remove_small_objects(mask, min_size=10)))
    # the mask (1), its linked objects (uint16: 2) and a few planes; old: + int32 planes listed and stacked (8),
    # an int64 copy of the objects for their sizes (8)
    assert peak < 4 * vol.size, peak / vol.size
