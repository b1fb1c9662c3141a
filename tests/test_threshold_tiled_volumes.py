"""A tiled Threshold run of a time-lapse of z-stacks (TZYX): its labels held at 2 bytes a pixel and finished volume
by volume, the untiled run's labels, and the tiles' own objects found as before (only faster)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi

from labelfree.labels import link_planes
from labelfree.run import run_pipeline
from labelfree.threshold import ThresholdConfig
from labelfree.threshold.volume_tiles import finish_volume_tiles
from labelfree.tiling import Tile, TiledResult, _own_objects, plan_tiles


def _tzyx(t: int = 3, z: int = 6, y: int = 96, x: int = 96, seed: int = 5) -> np.ndarray:
    """A (T, Z, Y, X) uint16 time-lapse of blurred ellipsoid nuclei, some touching, on a noisy background."""
    rng = np.random.default_rng(seed)
    out = np.empty((t, z, y, x), np.uint16)
    zz, yy, xx = np.ogrid[:z, :y, :x]
    for ti in range(t):
        vol = np.zeros((z, y, x), np.float32)
        for _ in range(y * x // 500):
            cz, cy, cx, r = rng.uniform(1, z - 1), rng.uniform(0, y), rng.uniform(0, x), rng.uniform(3, 8)
            vol[((zz - cz) / 2) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2 <= 1] = 1
        vol = ndi.gaussian_filter(vol, (0.7, 1.2, 1.2))
        out[ti] = np.clip(100 + 600 * vol + rng.normal(0, 12, vol.shape), 0, 65535).astype(np.uint16)
    return out


@pytest.mark.parametrize("settings", [{}, {"min_size": 40}, {"method": "li"}, {"threshold": 400}])
def test_tiled_tzyx_run_gives_the_untiled_labels(settings):
    image = xr.DataArray(_tzyx(), dims=("T", "Z", "Y", "X"))
    image[1, 2] = 150  # a constant plane: no threshold of its own, no objects
    untiled = run_pipeline("threshold", image, config=settings)
    tiled = run_pipeline("threshold", image, config=settings, tile=32, tile_overlap=24)
    assert tiled.dims == untiled.dims == ("T", "Z", "Y", "X")
    assert tiled.dtype == untiled.dtype == np.uint16
    assert int(untiled.max()) > 10 and not untiled[1, 2].any()
    np.testing.assert_array_equal(tiled.values, untiled.values)
    assert tiled.attrs["labelfree"]["volumes"] == 3
    assert tiled.attrs["labelfree"].get("auto") == untiled.attrs["labelfree"].get("auto")


def test_finish_volume_tiles_gives_uint32_when_a_volume_has_more_objects_than_uint16_ids():
    """Planes assembled at 2 bytes a pixel whose volume links into more than 65535 3-D objects: uint32 labels, not
    ids wrapped around 65536 (36,864 one-pixel objects per plane, those of plane 1 beside those of plane 0)."""
    mask = np.zeros((2, 384, 384), bool)
    mask[0, ::2, ::2] = True
    mask[1, ::2, 1::2] = True
    planes = np.stack([ndi.label(p)[0] for p in mask]).astype(np.uint16)
    assert planes.max() == 36864
    cfg = ThresholdConfig(threshold=500, min_size=1)
    image = xr.DataArray(np.where(mask, 1000, 100).astype(np.uint16), dims=("Z", "Y", "X"))
    labels = finish_volume_tiles(planes, cfg, image, [cfg])
    expected = link_planes(mask)
    assert expected.dtype == np.uint32 and int(expected.max()) == 73728
    assert labels.dtype == np.uint32
    np.testing.assert_array_equal(labels, expected)


def test_finish_volume_tiles_finishes_uint16_planes_in_place():
    vol = _tzyx(t=2, z=5, y=64, x=64)
    cfg = ThresholdConfig(threshold=400, min_size=20)
    planes = np.stack([np.stack([ndi.label(p > 400)[0] for p in v]) for v in vol]).astype(np.uint16)
    image = xr.DataArray(vol, dims=("T", "Z", "Y", "X"))
    as_uint32 = finish_volume_tiles(planes.astype(np.uint32), cfg, image, [cfg, cfg])
    labels = finish_volume_tiles(planes, cfg, image, [cfg, cfg])
    assert labels is planes
    np.testing.assert_array_equal(labels, as_uint32)
    assert int(labels.max()) > 5


def test_store_plane_keeps_uint16_until_a_plane_has_more_objects():
    from labelfree.tiling import plane_labels_out, store_plane

    out = plane_labels_out((2, 4, 5))
    assert out.dtype == np.uint16 and out.shape == (2, 4, 5)
    tiles = plan_tiles((4, 5), tile=16, overlap=0)
    plane = np.arange(20, dtype=np.uint32).reshape(4, 5)
    out = store_plane(out, (0,), TiledResult(plane, tiles, 19, 0))
    assert out.dtype == np.uint16
    big = plane + np.uint32(70000)
    grown = store_plane(out, (1, slice(0, 4), slice(0, 5)), TiledResult(big, tiles, 70019, 0))
    assert grown.dtype == np.uint32
    np.testing.assert_array_equal(grown[0], plane)
    np.testing.assert_array_equal(grown[1], big)


def _own_objects_reference(labels: np.ndarray, tile: Tile, shape: tuple[int, int]):
    """The tile's own objects as LabelFree found them before (skimage's relabel_sequential, centroids of every
    pixel from np.indices): the faster code must keep exactly these."""
    from skimage.segmentation import relabel_sequential

    (ry0, _), (rx0, _) = tile.region
    (cy0, cy1), (cx0, cx1) = tile.core
    labels, _, _ = relabel_sequential(labels.astype(np.int64))
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return np.zeros((0, 0), np.uint32), 0
    idx = labels.ravel()
    counts = np.bincount(idx, minlength=n + 1).astype(np.float64)
    yy, xx = np.indices(labels.shape, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(idx, weights=yy.ravel(), minlength=n + 1) / counts + ry0
        cx = np.bincount(idx, weights=xx.ravel(), minlength=n + 1) / counts + rx0
    keep = (cy >= cy0) & (cy < cy1) & (cx >= cx0) & (cx < cx1)
    keep[0] = False
    lut = np.zeros(n + 1, np.uint32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.uint32)
    return lut[labels], int(keep.sum())


@pytest.mark.parametrize("ids", ["1..n", "gaps", "huge"])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.int32])
def test_own_objects_are_those_found_before(ids, dtype):
    """Objects whose centroid lies on a core border (x.5 and whole values) are kept by one tile only, as before."""
    rng = np.random.default_rng(1)
    shape = (120, 120)
    labels = ndi.label(ndi.gaussian_filter(rng.normal(size=shape), 2) > 0.05)[0]
    labels[40:44, 58:62] = labels.max() + 1  # centroid (41.5, 59.5)
    labels[70:73, 59:62] = labels.max() + 1  # centroid (71, 60): on the border of the cores at 60
    if ids != "1..n":  # ids with gaps (a pipeline's labels need not be 1..n), or above the pixel count: 1..n by id
        labels = np.where(labels > 0, labels * (7 if ids == "gaps" else 100_003) + 3, 0)
    labels = labels.astype(dtype)
    n_total = 0
    for tile in plan_tiles(shape, tile=60, overlap=20):
        (ry0, ry1), (rx0, rx1) = tile.region
        region = labels[ry0:ry1, rx0:rx1]
        part = _own_objects(region, tile, shape)
        expected, n = _own_objects_reference(region, tile, shape)
        assert part.n == n
        if n:
            (by0, by1), (bx0, bx1) = part.box
            full = np.zeros(region.shape, np.uint32)
            full[by0 - ry0:by1 - ry0, bx0 - rx0:bx1 - rx0] = part.labels
            np.testing.assert_array_equal(full, expected)
        n_total += n
    assert n_total == len(np.unique(labels)) - 1  # every object owned once
