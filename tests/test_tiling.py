"""Tiled segmentation: tiled == untiled on real frames, one id per object across seams,
regions read lazily from memmap / zarr / dask sources, and a real Dask cluster."""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from labelfree.metrics import object_scores
from labelfree.threshold import segment as threshold_segment
from labelfree.tiling import PipelineTileFunction, auto_threshold, plan_tiles, segment_tiled, tiled_labels


def _frame(shared_data, rel):
    path = shared_data / rel
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to renumbering the objects (and each object is one id in both)."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[a > 0]]), axis=1)
    return len(set(pairs[0])) == len(set(pairs[1])) == pairs.shape[1]


def _seam_objects(labels: np.ndarray, tiles) -> list[int]:
    """Ids whose pixels lie in more than one tile core."""
    owner = np.zeros(labels.shape, np.int32)
    for t in tiles:
        owner[t.core_slices()] = t.index
    ids, out = labels.ravel(), []
    for obj in np.unique(ids[ids > 0]):
        if len(np.unique(owner.ravel()[ids == obj])) > 1:
            out.append(int(obj))
    return out


def test_plan_tiles_partitions_the_plane_and_clips_regions():
    tiles = plan_tiles((250, 300), tile=100, overlap=30)
    cover = np.zeros((250, 300), np.int32)
    for t in tiles:
        cover[t.core_slices()] += 1
        (y0, y1), (x0, x1) = t.region
        assert 0 <= y0 and y1 <= 250 and 0 <= x0 and x1 <= 300
    assert (cover == 1).all() and len(tiles) == 9
    assert tiles[4].region == ((70, 230), (70, 230))


def test_object_across_four_tiles_gets_one_id():
    img = np.zeros((80, 80), np.uint8)
    img[30:50, 30:50] = 1  # centred on the corner where 4 cores meet
    img[5:10, 5:75] = 1  # a long bar across two cores
    res = segment_tiled(img, _label_positive, tile=40, overlap=72)
    assert res.n_objects == 2 and res.n_cut == 0
    assert len(np.unique(res.labels[30:50, 30:50])) == 1 and len(np.unique(res.labels[5:10, 5:75])) == 1


def _label_positive(region: np.ndarray) -> np.ndarray:
    return ndi.label(region > 0)[0]


@pytest.mark.parametrize("rel, tile, overlap", [
    ("misc/stardist_dsb2018/img2d.tif", 128, 48),
    ("ctc/Fluo-N2DH-SIM+/01/t010.tif", 200, 100),
])
def test_tiled_threshold_equals_untiled_on_real_frames(shared_data, rel, tile, overlap):
    img = _frame(shared_data, rel)
    thr = auto_threshold(img)
    full = np.asarray(threshold_segment(img, config={"threshold": thr}).data)
    auto = np.asarray(threshold_segment(img).data)
    assert np.array_equal(full, auto)  # the whole-image value is the pipeline's own Otsu
    fn = PipelineTileFunction("threshold", {"threshold": thr})
    res = segment_tiled(img, fn, tile=tile, overlap=overlap)
    assert res.n_cut == 0 and res.n_objects == int(full.max())
    assert _same_partition(res.labels, full)
    scores = object_scores(res.labels, full)
    assert scores["f1"] == 1.0 and scores["mean_iou"] == 1.0
    seams = _seam_objects(res.labels, res.tiles)
    assert len(seams) >= 3  # real objects lie across seams, each with one id
    threads = segment_tiled(img, fn, tile=tile, overlap=overlap, client="threads")
    np.testing.assert_array_equal(threads.labels, res.labels)


def test_per_tile_auto_threshold_differs_and_too_small_overlap_is_reported(shared_data, caplog):
    img = _frame(shared_data, "ctc/Fluo-C2DL-MSC/01/t010.tif")
    thr = auto_threshold(img)
    full = np.asarray(threshold_segment(img).data)
    with caplog.at_level(logging.WARNING, logger="labelfree.tiling"):
        small = segment_tiled(img, PipelineTileFunction("threshold", {"threshold": thr}), tile=256, overlap=64)
    assert small.n_cut > 0 and "raise overlap" in caplog.text  # MSC cells are longer than 64 px
    big = segment_tiled(img, PipelineTileFunction("threshold", {"threshold": thr}), tile=416, overlap=420)
    assert big.n_cut == 0 and _same_partition(big.labels, full)
    # dithered float32 (off the 8-bit x 256 grid, whose levels agree more from tile to tile: F1 0.59): a 256-bin
    # histogram per tile
    dithered = img.astype(np.float32) + np.random.default_rng(0).random(img.shape, np.float32)
    per_tile = segment_tiled(dithered, PipelineTileFunction("threshold", {}), tile=256, overlap=160)
    assert object_scores(per_tile.labels, full)["f1"] < 0.5  # why auto_threshold exists


def test_lazy_sources_read_only_their_regions(shared_data, tmp_path):
    da = pytest.importorskip("dask.array")
    zarr = pytest.importorskip("zarr")
    img = _frame(shared_data, "ctc/Fluo-N2DH-SIM+/01/t010.tif")
    fn = PipelineTileFunction("threshold", {"threshold": auto_threshold(img)})
    ref = segment_tiled(img, fn, tile=200, overlap=100).labels
    mm = np.lib.format.open_memmap(tmp_path / "img.npy", mode="w+", dtype=img.dtype, shape=img.shape)
    mm[:] = img
    mm.flush()
    z = zarr.open_array(tmp_path / "img.zarr", mode="w", shape=img.shape, chunks=(128, 128), dtype=img.dtype)
    z[:] = img
    for source in (np.load(tmp_path / "img.npy", mmap_mode="r"), z, da.from_zarr(z)):
        lazy = tiled_labels(source, fn, tile=200, overlap=100)
        graph_bytes = len(pickle.dumps(dict(lazy.__dask_graph__())))
        assert graph_bytes < img.nbytes / 4, type(source)  # no task carries the image
        np.testing.assert_array_equal(lazy.compute(scheduler="sync"), ref)
    in_memory = tiled_labels(img, fn, tile=200, overlap=100)
    biggest = max(len(pickle.dumps(v)) for v in in_memory.__dask_graph__().values())
    assert biggest < 400 * 400 * img.itemsize + 10_000 < img.nbytes  # each task gets its region only


def test_constant_stretches_of_a_scan_give_no_objects(shared_data):
    img = _frame(shared_data, "misc/stardist_dsb2018/img2d.tif")
    padded = np.zeros((512, 1024), img.dtype)
    padded[:, :512] = img  # the right half is empty, as at the edge of a slide scan
    fn = PipelineTileFunction("threshold", {"threshold": auto_threshold(img)})
    res = segment_tiled(padded, fn, tile=256, overlap=48)
    assert res.n_objects == segment_tiled(img, fn, tile=256, overlap=48).n_objects and not res.labels[:, 600:].any()


def test_segment_function_errors_are_clear():
    img = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    with pytest.raises(ValueError, match="one \\(Y, X\\) label plane"):
        segment_tiled(img, lambda r: np.zeros((3, 3), int), tile=50, overlap=10)
    with pytest.raises(TypeError, match="expected integers"):
        segment_tiled(img, lambda r: r, tile=50, overlap=10)


def test_tiles_on_a_real_dask_cluster(shared_data, dask_cluster):
    from distributed import Client

    img = _frame(shared_data, "misc/stardist_dsb2018/img2d.tif")
    fn = PipelineTileFunction("threshold", {"threshold": auto_threshold(img)})
    ref = segment_tiled(img, fn, tile=128, overlap=48).labels
    with Client(dask_cluster["address"], timeout="20s") as client:
        res = segment_tiled(img, fn, tile=128, overlap=48, client=client)
    np.testing.assert_array_equal(res.labels, ref)


def test_tile_zero_is_refused_not_taken_as_no_tiles(tmp_path, capsys):
    import tifffile

    from labelfree.cli import main

    img = np.full((60, 60), 10, np.uint16)
    img[10:20, 10:20] = 1000
    tifffile.imwrite(tmp_path / "a.tif", img)
    assert main(["threshold", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--tile", "0", "-q"]) == 1
    assert "tile must be at least 16 pixels" in capsys.readouterr().err  # was: an untiled run, exit 0
    assert not (tmp_path / "out").exists()
    # an overlap without tiles was ignored: the run was untiled, exit 0
    assert main(["threshold", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--tile-overlap", "32", "-q"]) == 1
    assert "--tile-overlap sets the overlap of tiles: give --tile PX too" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["batch", str(tmp_path / "a.tif"), "-p", "threshold", "-o", str(tmp_path / "out"), "--scheduler",
                 "sync", "--no-progress", "--tile-overlap", "32"]) == 1
    assert "this batch is not tiled: give --tile PX too" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # --tile-overlap 0 is an overlap of 0, not the default
    assert main(["threshold", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--tile", "32",
                 "--tile-overlap", "0", "-q"]) == 0
    assert json.loads((tmp_path / "out" / "a_provenance.json").read_text())["tiles"]["overlap"] == 0


def test_the_threshold_used_is_recorded_tiled_or_not():
    """The provenance said threshold: null; a user could not tell which value each plane used."""
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_pipeline

    rng = np.random.default_rng(5)
    movie = rng.normal(100, 5, (2, 96, 96)).astype(np.float32)
    movie[0, 20:40, 20:40] += 200
    movie[1, 50:70, 30:60] += 100
    from labelfree.image import to_dataarray

    movie = to_dataarray(movie.astype(np.uint16), dims="TYX")
    whole = run_pipeline(get_pipeline("threshold"), movie, config={"min_size": 10})
    tiled = run_pipeline(get_pipeline("threshold"), movie, config={"min_size": 10}, tile=48, tile_overlap=16)
    used = whole.attrs["labelfree"]["auto"]["threshold"]
    assert len(used) == 2 and all(100 < u < 200 for u in used)  # one per plane, between background and cells
    assert tiled.attrs["labelfree"]["auto"]["threshold"] == used
    assert whole.attrs["labelfree"]["config"]["threshold"] is None
    fixed = run_pipeline(get_pipeline("threshold"), movie, config={"threshold": 150})
    assert "auto" not in fixed.attrs["labelfree"]


def test_untiled_and_tiled_runs_share_the_subsampled_threshold_above_16_mpx():
    """Above 16 Mpx the tiled run's threshold came from a ::2 subsample, the untiled one's from
    every pixel: --tile changed the threshold and the objects (SIM+ mosaic: 118.1 vs 116.7)."""
    from labelfree.threshold import ThresholdConfig
    from labelfree.threshold.segment import whole_plane_config

    n = 4001  # just above 16 M pixels: the automatic threshold uses every 2nd row and column
    img = np.full((n, n), 200, np.uint8)
    sample = img[::2, ::2]  # the subsample's pixels: 10 and 100; the others 200
    sample[:] = 10
    sample[:, : sample.shape[1] // 2] = 100
    cfg = {"min_size": 0, "fill_holes": False}
    tiled_thr = whole_plane_config(img, ThresholdConfig.coerce(cfg)).threshold
    assert tiled_thr == auto_threshold(img) == 10.0
    labels = threshold_segment(img, config=cfg)
    assert labels.attrs["labelfree"]["auto"]["threshold"] == tiled_thr
    assert int((np.asarray(labels) > 0).sum()) == int((img > 10).sum())  # the 100s are objects too


def test_untiled_threshold_follows_the_one_subsampling_rule(monkeypatch):
    """The subsampling limit lives in one place: lowering it changes tiled and untiled runs alike."""
    from labelfree import tiling
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_pipeline

    monkeypatch.setattr(tiling, "AUTO_THRESHOLD_MAX_PIXELS", 2000)
    rng = np.random.default_rng(1)
    img = rng.normal(100, 10, (96, 96))
    img[::2, ::2] += 60  # the ::3 subsample sees another distribution than the whole plane
    img[20:40, 20:40] += 120
    img = np.clip(img, 0, 255).astype(np.uint8)
    whole = run_pipeline(get_pipeline("threshold"), img, config={"min_size": 10})
    tiled = run_pipeline(get_pipeline("threshold"), img, config={"min_size": 10}, tile=48, tile_overlap=24)
    used = whole.attrs["labelfree"]["auto"]["threshold"]
    assert used == tiling.auto_threshold(img) != tiling.threshold_of(img)
    assert tiled.attrs["labelfree"]["auto"]["threshold"] == used
    np.testing.assert_array_equal(np.asarray(whole) > 0, np.asarray(tiled) > 0)
