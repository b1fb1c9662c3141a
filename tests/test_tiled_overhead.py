"""A tiled run without the work that changes nothing: the threshold pipeline labels a tile's objects once (no size
filter that keeps every object, no renumbering of labels already 1..N), a tile's own objects are found from their
boxes (only those on the core's border summed), and the labels stay those of before, bit for bit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from scipy import ndimage as ndi

import labelfree.labels as lab
from labelfree import tiling
from labelfree.run import run_pipeline
from labelfree.threshold import ThresholdConfig
from labelfree.threshold.segment import threshold_plane
from labelfree.tiling import Tile, plan_tiles


def _frames(shared_data: Path) -> dict[str, np.ndarray]:
    gowt1 = sorted((shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01").glob("t*.tif"))
    dsb = shared_data / "misc" / "stardist_dsb2018" / "img2d.tif"
    if not gowt1 or not dsb.exists():
        pytest.skip("Fluo-N2DH-GOWT1/01 or stardist_dsb2018/img2d.tif is absent")
    return {"gowt1": tifffile.imread(gowt1[0]), "dsb2018": tifffile.imread(dsb)}


def _mosaic(shared_data: Path, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Blocks of 480 px cut from random GOWT1 frames at random offsets (no tile repeats another)."""
    files = sorted((shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01").glob("t*.tif"))
    if not files:
        pytest.skip("Fluo-N2DH-GOWT1/01 is absent")
    rng = np.random.default_rng(seed)
    out = np.empty(shape, np.uint8)
    for y in range(0, shape[0], 480):
        for x in range(0, shape[1], 480):
            frame = tifffile.imread(files[rng.integers(len(files))])
            dy, dx = (int(v) for v in rng.integers(0, 64, 2))
            h, w = min(480, shape[0] - y), min(480, shape[1] - x)
            out[y:y + h, x:x + w] = frame[dy:dy + h, dx:dx + w]
    return out


def _labels_before(plane: np.ndarray, cfg: ThresholdConfig) -> np.ndarray:
    """The labels as the threshold pipeline made them before (a fixed threshold): size filter, labelling,
    renumbering, each whatever it changed."""
    mask = plane < cfg.threshold if cfg.dark_objects else plane > cfg.threshold
    if cfg.fill_holes:
        mask = lab.fill_holes(mask)
    mask = lab.remove_small_objects(mask, min_size=cfg.min_size)
    return lab.relabel_sequential(lab.declump(mask) if cfg.split_touching else ndi.label(mask)[0])


@pytest.mark.parametrize("name", ["gowt1", "dsb2018"])
@pytest.mark.parametrize("settings", [
    {}, {"min_size": 0}, {"min_size": 1}, {"min_size": 200, "fill_holes": False}, {"dark_objects": True},
    {"split_touching": True}, {"split_touching": True, "min_size": 0},
])
def test_threshold_labels_are_those_of_before_on_real_frames(shared_data, name, settings):
    plane = _frames(shared_data)[name]
    dark = settings.get("dark_objects", False)  # dark objects: the pieces of background between the nuclei
    cfg = ThresholdConfig(**settings, threshold=float(np.percentile(plane, 60 if dark else 85)))
    expected = _labels_before(plane, cfg)
    got = threshold_plane(plane, cfg)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert int(got.max()) > (0 if dark else 5)


@pytest.mark.parametrize("min_size", [0, 2, 3])
def test_more_than_65535_objects_are_numbered_as_before(min_size):
    """300 x 300 one-pixel dots (90000 objects: uint32 ids) and every 7th one three pixels long."""
    plane = np.zeros((600, 900), np.uint8)
    plane[::2, ::3] = 200
    plane[::14, 1::3] = 200
    cfg = ThresholdConfig(threshold=100.0, min_size=min_size, fill_holes=False)
    expected = _labels_before(plane, cfg)
    got = threshold_plane(plane, cfg)
    assert got.dtype == expected.dtype == (np.uint32 if min_size < 2 else np.uint16)
    np.testing.assert_array_equal(got, expected)


def _counting(monkeypatch, module, name: str) -> list:
    calls: list = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("min_size", [0, 1])
def test_a_size_filter_that_keeps_every_object_is_not_run(shared_data, monkeypatch, min_size):
    """min_size 0 (the tiles of a z-stack run, whose sizes count in 3-D) or 1 removes no object: no filter pass."""
    plane = _frames(shared_data)["gowt1"]
    cfg = ThresholdConfig(threshold=float(np.percentile(plane, 85)), min_size=min_size)
    expected = _labels_before(plane, cfg)
    filtered = _counting(monkeypatch, lab, "remove_small_objects")
    np.testing.assert_array_equal(threshold_plane(plane, cfg), expected)
    assert filtered == []


def test_a_tile_is_labelled_once_and_not_renumbered(shared_data, monkeypatch):
    """The size filter's labelling is the objects' labelling (one ndi.label, not two), and labels that ndi.label
    numbered 1..N are not sorted to renumber them."""
    plane = _frames(shared_data)["gowt1"]
    cfg = ThresholdConfig(threshold=float(np.percentile(plane, 85)), min_size=20, fill_holes=False)
    expected = _labels_before(plane, cfg)
    labelled = _counting(monkeypatch, ndi, "label")
    renumbered = _counting(monkeypatch, lab, "relabel_sequential")
    got = threshold_plane(plane, cfg)
    np.testing.assert_array_equal(got, expected)
    assert len(labelled) == 1
    assert renumbered == []
    assert len(np.unique(expected)) - 1 < int(ndi.label(plane > cfg.threshold)[1])  # the filter removed some


def _own_before(labels: np.ndarray, tile: Tile, shape: tuple[int, int]):
    """A tile's own objects as found before: every object's centroid from all its pixels, the owned ids written
    over the region, their box and the owned objects on a region edge that is not the image border."""
    from skimage.segmentation import relabel_sequential

    (ry0, ry1), (rx0, rx1) = tile.region
    (cy0, cy1), (cx0, cx1) = tile.core
    labels = relabel_sequential(labels.astype(np.int64))[0]
    n = int(labels.max())
    counts = np.bincount(labels.ravel(), minlength=n + 1).astype(np.float64)
    yy, xx = np.indices(labels.shape, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(labels.ravel(), weights=yy.ravel(), minlength=n + 1) / counts + ry0
        cx = np.bincount(labels.ravel(), weights=xx.ravel(), minlength=n + 1) / counts + rx0
    keep = (cy >= cy0) & (cy < cy1) & (cx >= cx0) & (cx < cx1)
    keep[0] = False
    lut = np.zeros(n + 1, np.uint32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    owned = lut[labels]
    if not keep.any():
        return owned[:0, :0], ((ry0, ry0), (rx0, rx0)), 0, 0
    edges = [e for e, cut in ((owned[0], ry0 > 0), (owned[-1], ry1 < shape[0]), (owned[:, 0], rx0 > 0),
                              (owned[:, -1], rx1 < shape[1])) if cut]
    n_cut = len(set(np.concatenate(edges).tolist()) - {0}) if edges else 0
    rows, cols = np.flatnonzero(owned.any(axis=1)), np.flatnonzero(owned.any(axis=0))
    box = ((ry0 + rows[0], ry0 + rows[-1] + 1), (rx0 + cols[0], rx0 + cols[-1] + 1))
    return owned[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], box, int(keep.sum()), n_cut


def _tile_labels(plane: np.ndarray, tile: Tile, **settings) -> np.ndarray:
    (ry0, ry1), (rx0, rx1) = tile.region
    region = plane[ry0:ry1, rx0:rx1]
    return threshold_plane(region, ThresholdConfig(threshold=float(np.percentile(plane, 85)), **settings))


@pytest.mark.parametrize("tile_size, overlap", [(256, 64), (100, 30), (512, 128)])
@pytest.mark.parametrize("settings", [{}, {"min_size": 0, "fill_holes": False}])
def test_own_objects_of_real_tiles_are_those_found_before(shared_data, tile_size, overlap, settings):
    """Ids, box, count and cut objects of every tile, with few objects (boxes read) and many (over 1024 specks
    with min_size 0: every centroid summed in one pass)."""
    plane = _mosaic(shared_data, (1100, 1300), 3)
    n_objects = []
    for t in plan_tiles(plane.shape, tile=tile_size, overlap=overlap):
        labels = _tile_labels(plane, t, **settings)
        part = tiling._own_objects(labels, t, plane.shape)
        owned, box, n, n_cut = _own_before(labels, t, plane.shape)
        assert (part.n, part.box, part.n_cut) == (n, box, n_cut)
        assert part.labels.dtype == np.uint32 and part.labels.flags.c_contiguous
        np.testing.assert_array_equal(part.labels, owned)
        n_objects.append(int(labels.max()))
    assert max(n_objects) > (tiling._BOXED_OBJECTS if settings and tile_size > 100 else 4)


def test_a_tile_sums_only_the_objects_on_its_core_border(shared_data, monkeypatch):
    """Objects whose box lies inside the core are owned and those whose box misses it are not, without summing
    their pixels: no tile of a real mosaic with its usual tens of objects sums every pixel's centroid."""
    plane = _mosaic(shared_data, (1100, 1300), 3)
    summed = _counting(monkeypatch, tiling, "_centroids")
    owned = 0
    for t in plan_tiles(plane.shape, tile=512, overlap=128):
        labels = _tile_labels(plane, t)
        part = tiling._own_objects(labels, t, plane.shape)
        expected, box, n, n_cut = _own_before(labels, t, plane.shape)
        assert (part.n, part.box, part.n_cut) == (n, box, n_cut)
        np.testing.assert_array_equal(part.labels, expected)
        owned += part.n
    assert summed == []
    assert owned > 20


def _stripes() -> np.ndarray:
    """350 one-pixel columns across a 700 px square, all crossing the core's top and bottom borders."""
    labels = np.zeros((700, 700), np.uint16)
    labels[:, ::2] = np.arange(1, 351)
    return labels


def _rings() -> np.ndarray:
    """Three nested square rings about the region's centre, their boxes together more pixels than the region."""
    labels = np.zeros((700, 700), np.uint16)
    for k, (a, b) in enumerate(((5, 695), (100, 600), (250, 450)), start=1):
        labels[a:b, a:b] = k
        labels[a + 3:b - 3, a + 3:b - 3] = 0
    return labels


@pytest.mark.parametrize("make, core_x", [(_stripes, (650, 1250)), (_rings, (940, 1300))])
def test_many_objects_on_a_core_border_are_summed_in_one_pass(monkeypatch, make, core_x):
    """More than 256 objects on the border, or border objects whose boxes hold more pixels than the region: their
    centroids come from one pass over the region (the same as summed one by one)."""
    shape = (2000, 2000)  # the core's top and bottom borders cross 300 stripes; its left border, every ring
    tile = Tile(0, 1, 1, ((700, 1300), core_x), ((650, 1350), (600, 1300)))
    labels = make()
    summed = _counting(monkeypatch, tiling, "_centroids")
    part = tiling._own_objects(labels, tile, shape)
    expected, box, n, n_cut = _own_before(labels, tile, shape)
    assert (part.n, part.box, part.n_cut) == (n, box, n_cut)
    np.testing.assert_array_equal(part.labels, expected)
    assert len(summed) == 1 and n > 1


# (dims, settings) -> (dtype, objects, sha256 of the labels' bytes, first 16 hex digits), as LabelFree 93e9f95 made
# them: tiles of 256 px, overlap 64
BEFORE = {
    ("YX", "{}"): ("uint16", 110, "9d9f025432cd3f3a"),
    ("YX", "{'split_touching': True}"): ("uint16", 172, "79f08a62957bd848"),
    ("YX", "{'min_size': 0, 'fill_holes': False}"): ("uint16", 4985, "bbb5b903002d22f2"),
    ("TYX", "{}"): ("uint16", 22, "6f7c2819089abacc"),
    ("TYX", "{'split_touching': True}"): ("uint16", 31, "7263623753d7151b"),
    ("TYX", "{'min_size': 0, 'fill_holes': False}"): ("uint16", 1799, "ad519914aff66c07"),
}


@pytest.mark.parametrize("dims", ["YX", "TYX"])
@pytest.mark.parametrize("settings", [{}, {"split_touching": True}, {"min_size": 0, "fill_holes": False}])
def test_tiled_runs_of_real_mosaics_give_the_labels_of_before(shared_data, dims, settings):
    if dims == "YX":
        image = _mosaic(shared_data, (1200, 1400), 0)
    else:
        image = np.stack([_mosaic(shared_data, (700, 800), seed) for seed in (1, 2)])
    labels = run_pipeline("threshold", xr.DataArray(image, dims=tuple(dims)), config=settings, tile=256,
                          tile_overlap=64).values
    digest = hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()[:16]
    assert (str(labels.dtype), int(labels.max()), digest) == BEFORE[(dims, str(settings))]
