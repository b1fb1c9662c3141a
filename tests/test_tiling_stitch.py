"""Stitching when tiles disagree: every id 1..n present once, serial and Dask runs alike, and
the objects cut by a region border counted on Dask as in the serial run."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile

from labelfree.tiling import (
    PipelineTileFunction,
    plan_tiles,
    segment_tile,
    segment_tiled,
)


@pytest.fixture(scope="module")
def msc_crop(shared_data):
    path = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t010.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    # dithered float32 (off the stored 8-bit x 256 grid): each tile's Otsu on a 256-bin histogram of its range, so
    # that tiles disagree at their seams
    return (tifffile.imread(path)[:512, :512] + np.random.default_rng(0).random((512, 512))).astype(np.float32)


def _ids(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    return ids[ids > 0]


def test_objects_that_earlier_tiles_cover_whole_get_no_id(msc_crop):
    """With a per-tile threshold, tiles disagree about objects at their seams; an owned object whose
    every pixel an earlier tile's objects had claimed kept its id in n_objects but had no pixel: 296
    objects reported, 279 ids present, ids with gaps (the same in a Dask run)."""
    fn = PipelineTileFunction("threshold", {})  # each tile its own Otsu: tiles disagree
    serial = segment_tiled(msc_crop, fn, tile=128, overlap=64)
    ids = _ids(serial.labels)
    assert serial.n_objects == len(ids) > 200
    np.testing.assert_array_equal(ids, np.arange(1, serial.n_objects + 1))  # 1..n, each present
    lazy = segment_tiled(msc_crop, fn, tile=128, overlap=64, client="sync")
    assert lazy.n_objects == serial.n_objects
    np.testing.assert_array_equal(lazy.labels, serial.labels)
    # a dropped object's pixels all belong to objects of earlier tiles; only the small pieces that those
    # objects cut off another one are lost (each id is one connected object)
    from skimage.measure import label

    covered = np.zeros(msc_crop.shape, bool)
    for t in plan_tiles(msc_crop.shape, tile=128, overlap=64):
        part = segment_tile(msc_crop, t, fn, shape=msc_crop.shape)
        (y0, y1), (x0, x1) = part.box
        covered[y0:y1, x0:x1] |= part.labels > 0
    assert not (serial.labels > 0)[~covered].any()
    assert 0 < (covered & (serial.labels == 0)).sum() < 0.01 * covered.sum()  # 359 of 61,959 px
    assert all(label(serial.labels == i, connectivity=2).max() == 1 for i in ids)


def test_dask_runs_count_the_objects_cut_by_a_region_border(shared_data, caplog):
    """On Dask n_cut was -1 and nothing was logged, though the serial run warned ("raise overlap")."""
    path = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t010.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    img = tifffile.imread(path)
    from labelfree.tiling import auto_threshold

    fn = PipelineTileFunction("threshold", {"threshold": auto_threshold(img)})
    serial = segment_tiled(img, fn, tile=256, overlap=64)
    assert serial.n_cut > 0  # MSC cells are longer than 64 px
    with caplog.at_level(logging.WARNING, logger="labelfree.tiling"):
        lazy = segment_tiled(img, fn, tile=256, overlap=64, client="sync")
    assert lazy.n_cut == serial.n_cut
    assert f"{serial.n_cut} object(s) larger than the overlap" in caplog.text
    np.testing.assert_array_equal(lazy.labels, serial.labels)
    big = segment_tiled(img, fn, tile=416, overlap=420, client="sync")
    assert big.n_cut == 0


@pytest.mark.parametrize("tile, overlap", [(1, 40), (3, 40), (1000, 40), (16, 40)])
def test_any_tile_size_gives_the_untiled_objects(tile, overlap):
    """Tiles larger than the image, of one pixel, or smaller than a cell: the same objects, ids 1..n."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(3)
    img = np.zeros((37, 53), np.uint8)  # odd sizes
    for y, x in zip(rng.integers(0, 37, 25), rng.integers(0, 53, 25)):
        img[max(0, y - 3):y + 3, max(0, x - 3):x + 3] = 1
    untiled = ndi.label(img)[0]
    res = segment_tiled(img, lambda r: ndi.label(r)[0], tile=tile, overlap=overlap)
    assert res.n_cut == 0 and res.n_objects == untiled.max()
    np.testing.assert_array_equal(_ids(res.labels), np.arange(1, untiled.max() + 1))
    pairs = np.unique(np.stack([untiled[img > 0], res.labels[img > 0]]), axis=1)
    assert pairs.shape[1] == untiled.max() and (res.labels[img == 0] == 0).all()


def _two_opinions(region: np.ndarray) -> np.ndarray:
    """Labels of a region of the 60 x 60 position image below: the first tile sees a vertical bar, the others a
    horizontal bar that crosses it (two tiles that disagree where the objects lie)."""
    y0, x0 = divmod(int(region[0, 0]), 60)
    ys, xs = np.mgrid[y0:y0 + region.shape[0], x0:x0 + region.shape[1]]
    if (y0, x0) == (0, 0):
        return ((xs >= 25) & (xs < 33) & (ys < 40)).astype(np.int64)
    return ((ys >= 10) & (ys < 14) & (xs >= 20) & (xs < 52)).astype(np.int64)


@pytest.mark.parametrize("client", [None, "sync", "threads"])
def test_an_object_cut_in_pieces_by_an_earlier_tile_keeps_its_largest_piece(client):
    """The horizontal bar, owned by the second tile, is crossed by the first tile's bar, which keeps the contested
    pixels: its id was on two separate pieces (x 20-24 and 33-51; 13 of 701 objects of a real MSC frame in 128 px
    tiles). It keeps the larger piece, alike in the serial run and on Dask."""
    from skimage.measure import label

    image = np.arange(60 * 60, dtype=np.float64).reshape(60, 60)  # each pixel says where it is
    res = segment_tiled(image, _two_opinions, tile=30, overlap=10, client=client)
    assert res.n_objects == 2 and set(np.unique(res.labels)) == {0, 1, 2}
    assert (res.labels == 1).sum() == 8 * 40 and label(res.labels == 2, connectivity=2).max() == 1
    ys, xs = np.nonzero(res.labels == 2)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (10, 13, 33, 51)
    serial = segment_tiled(image, _two_opinions, tile=30, overlap=10)
    np.testing.assert_array_equal(res.labels, serial.labels)
