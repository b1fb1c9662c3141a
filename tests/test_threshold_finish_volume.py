"""One finish step for a z-stack's volumes (labelfree.threshold.volume.finish_volume): ``min_size`` in voxels and
the planes linked, for the untiled run and the tiled run's finish alike, with the labels the two gave before."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi
from traced_memory import traced_peak
from volume_planes import Planes

from labelfree.labels import declump, link_planes, remove_small_objects
from labelfree.threshold import ThresholdConfig, volume_tiles
from labelfree.threshold import volume as volume_mod
from labelfree.threshold.volume import volume_labels


def _stack(z: int = 12, y: int = 128, x: int = 128, seed: int = 3) -> np.ndarray:
    """A (Z, Y, X) uint16 stack of touching blobs and a few single bright voxels (removed by min_size)."""
    rng = np.random.default_rng(seed)
    vol = np.zeros((z, y, x), np.uint16)
    zz, yy, xx = np.ogrid[-3:4, -6:7, -6:7]
    ball = ((yy ** 2 + xx ** 2) / 36 + zz ** 2 / 9 <= 1) * np.uint16(1000)
    for _ in range(z * y * x // 2000):
        c = rng.integers(3, z - 3), rng.integers(6, y - 6), rng.integers(6, x - 6)
        box = vol[c[0] - 3:c[0] + 4, c[1] - 6:c[1] + 7, c[2] - 6:c[2] + 7]
        np.maximum(box, ball, out=box)
    vol[rng.integers(0, z, 20), rng.integers(0, y, 20), rng.integers(0, x, 20)] = 1000
    return vol + rng.integers(80, 140, vol.shape, dtype=np.uint16)


def _reference(mask: np.ndarray, min_size: int, split: bool) -> np.ndarray:
    """The untiled run's labels as it made them before: small 3-D objects out of the mask, each plane labelled
    (or split), then the planes linked."""
    kept = remove_small_objects(mask, min_size=min_size)
    planes = np.zeros(kept.shape, np.int32)
    for z in range(len(kept)):
        if kept[z].any():
            planes[z] = declump(kept[z]) if split else ndi.label(kept[z])[0]
    return link_planes(planes)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("min_size", [0, 1, 10, 400, 10**9])
def test_untiled_and_tiled_runs_finish_through_one_function_with_the_labels_of_before(monkeypatch, split, min_size):
    vol = _stack()
    cfg = ThresholdConfig(threshold=500, min_size=min_size, split_touching=split, fill_holes=False)
    calls = []
    finish = volume_mod.finish_volume

    def counted(volume, **kwargs):
        calls.append((volume.dtype.kind, kwargs["min_size"]))
        return finish(volume, **kwargs)

    monkeypatch.setattr(volume_mod, "finish_volume", counted)
    monkeypatch.setattr(volume_tiles, "finish_volume", counted)
    labels, thr = volume_labels(Planes(vol), cfg)
    mask = vol > 500
    expected = _reference(mask, min_size, split)
    assert thr == 500 and labels.dtype == expected.dtype == np.uint16
    assert np.array_equal(labels, expected)
    assert (labels.max() == 0) == (min_size == 10**9)

    # the tiled run's finish: each plane's objects as the tiles assemble them (split, or the plane's components)
    planes = np.stack([declump(m) if split else ndi.label(m)[0] for m in mask]).astype(np.uint32)
    planes_before = planes.copy()
    tiled = volume_tiles.finish_volume_tiles(planes, cfg, xr.DataArray(vol, dims=("Z", "Y", "X")), [cfg])
    assert tiled is planes and tiled.dtype == np.uint32
    if not split:  # the planes' objects are the mask's: the untiled labels
        assert np.array_equal(tiled, expected)
    else:  # each plane's split objects kept, those of small 3-D objects (6-neighbours) left out, then linked
        objects = ndi.label(mask)[0]
        kept = np.where((np.bincount(objects.ravel()) >= min_size)[objects], planes_before, 0)
        assert np.array_equal(tiled, link_planes(kept))
    assert calls == [("b", min_size), ("u" if split else "b", min_size)]


def test_min_size_that_leaves_fewer_than_65536_of_more_objects_keeps_uint16():
    """130,000 objects of a noisy stack, most of them single voxels: min_size leaves a few thousand, labelled
    1..N in order of first appearance in uint16 (as before), not in the uint32 of all the objects."""
    rng = np.random.default_rng(0)
    vol = rng.random((4, 600, 600)).astype(np.float32)
    mask = vol > 0.75
    assert link_planes(mask).max() > 65535
    labels, _ = volume_labels(Planes(vol), ThresholdConfig(threshold=0.75, min_size=20, fill_holes=False))
    expected = _reference(mask, 20, False)
    assert labels.dtype == expected.dtype == np.uint16 and 0 < labels.max() < 65535
    assert np.array_equal(labels, expected)


def test_empty_volume():
    vol = np.full((3, 20, 30), 7, np.uint16)
    labels, thr = volume_labels(Planes(vol), ThresholdConfig(min_size=0))
    assert thr is None and labels.dtype == np.uint16 and labels.shape == vol.shape and not labels.any()


def test_untiled_run_without_split_holds_the_mask_and_its_3d_objects_only():
    """The untiled run's finish labels the 3-D objects once (uint16) and renumbers the kept ones in place: peak
    about 4 bytes a voxel (before: the mask, its int32 3-D labels and the kept mask, then int32 planes and the
    linked labels: about 6.4)."""
    vol = _stack(16, 256, 256)
    (labels, _), peak = traced_peak(volume_labels, Planes(vol),
                                    ThresholdConfig(threshold=500, min_size=10, fill_holes=False))
    assert np.array_equal(labels, _reference(vol > 500, 10, False))
    assert peak < 5 * vol.size, peak / vol.size
