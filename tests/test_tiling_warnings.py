"""The warnings of a tiled run as a user sees them: one per kind for the whole image, naming the tiles where
it arose by their pixels; a no-object warning only when the stitched result is empty (it came once per tile:
64 tiles, 64 lines, and a tile of background warned while the other tiles found the cells)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from labelfree.tiling import PipelineTileFunction, segment_tiled


class TileCheckWarning(UserWarning):
    """Raised by :func:`_warn_mean` on every tile (module level: Dask workers unpickle it)."""


def _warn_mean(region: np.ndarray) -> np.ndarray:
    """Warn with the region's mean (so each record can be traced to its tile), then give other threads a turn."""
    warnings.warn(TileCheckWarning(f"mean {float(region.mean()):.6f}"), stacklevel=2)
    time.sleep(0.005)
    return np.zeros(region.shape[-2:], np.uint8)


def _specks(cells: bool) -> np.ndarray:
    """512 x 512 px of noise with a 2 x 2 px speck in each of the 64 tiles of 64 px (smaller than the threshold
    pipeline's min_size), and two disks of 10 px radius (in 2 tiles) when ``cells``."""
    rng = np.random.default_rng(0)
    img = rng.normal(100, 2, (512, 512)).astype(np.float32)
    for y in range(16, 512, 64):
        for x in range(16, 512, 64):
            img[y:y + 2, x:x + 2] = 200
    if cells:
        yy, xx = np.mgrid[:512, :512]
        for cy, cx in ((40, 40), (300, 420)):
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < 100] = 220
    return img


def _run(call, *args, **kw):
    """``call``'s result and the warnings of LabelFree's (and this file's) categories it raised: others, such as a
    ResourceWarning that garbage collection of an earlier test's file raises meanwhile, are not the tiling's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kw)
    return result, [w for w in caught if w.category.__module__.startswith(("labelfree", __name__))]


@pytest.mark.parametrize("client", [None, "threads"])
def test_tiles_without_objects_are_not_warned_of_when_other_tiles_found_some(client):
    """Threshold with each tile's own Otsu value: the 62 tiles of specks only warned NoObjectsWarning, one
    line each (54 lines: some of them reach a cell within their overlap), though the image has its 2 cells."""
    from labelfree.threshold.segment import NoObjectsWarning

    fn = PipelineTileFunction("threshold", {})
    result, caught = _run(segment_tiled, _specks(cells=True), fn, tile=64, overlap=32, client=client)
    assert result.n_objects == 2
    assert [w for w in caught if issubclass(w.category, NoObjectsWarning)] == []
    assert result.warnings == []


@pytest.mark.parametrize("client", [None, "threads"])
def test_no_object_anywhere_is_said_once_for_the_whole_image(client):
    from labelfree.threshold.segment import NoObjectsWarning

    fn = PipelineTileFunction("threshold", {})
    result, caught = _run(segment_tiled, _specks(cells=False), fn, tile=64, overlap=32, client=client)
    assert result.n_objects == 0 and len(result.tiles) == 64
    said = [(w.category.__name__, str(w.message)[:120]) for w in caught]
    assert len(caught) == 1 and caught[0].category is NoObjectsWarning, said  # was 64, one per tile
    text = str(caught[0].message)
    assert text.startswith("No objects found: ")  # the pipeline's own reason, as the first tile gave it
    assert "in objects smaller than min_size=20 px" in text
    assert text.endswith("(tiled run: no object in any of the 64 tiles; the figures are the first tile's)")
    # from the place the pipeline's warning named: filters on it apply as before; that is the line of the user's
    # call (here _run's) where the tiles run in the caller's thread, LabelFree's tile function in a worker thread
    where = __file__ if client is None else "labelfree/tiling.py"
    assert caught[0].filename.endswith(where) and caught[0].lineno > 0


def test_one_warning_per_kind_names_the_tiles_by_their_pixels():
    img = np.arange(120 * 120, dtype=np.float32).reshape(120, 120)
    result, caught = _run(segment_tiled, img, _warn_mean, tile=40, overlap=8)
    assert len(caught) == 1 and caught[0].category is TileCheckWarning  # was 9, one per tile
    assert str(caught[0].message) == (
        f"mean {img[0:48, 0:48].mean():.6f} (tiled run: in 9 of 9 tiles, the pixels y0:y1, x0:x1 0:48, 0:48; "
        "0:48, 32:88; 0:48, 72:120; ...; the figures are the first tile's)")
    assert len(result.warnings) == 9


def test_identical_messages_of_the_tiles_are_merged_without_a_note_on_figures():
    img = np.zeros((64, 96), np.float32)
    img[:, 50:] = 1.0

    def warn_right(region):
        if region.min() > 0:
            warnings.warn("flat on the right", TileCheckWarning, stacklevel=2)
        return np.zeros(region.shape, np.uint8)

    _, caught = _run(segment_tiled, img, warn_right, tile=32, overlap=4)
    assert [str(w.message) for w in caught] == [
        "flat on the right (tiled run: in 2 of 6 tiles, the pixels y0:y1, x0:x1 0:36, 60:96; 28:64, 60:96)"]


def test_a_warning_raised_in_a_loop_is_one_record_per_tile():
    def warn_often(region):
        for _ in range(500):
            warnings.warn("again", TileCheckWarning, stacklevel=2)
        return np.zeros(region.shape, np.uint8)

    result, caught = _run(segment_tiled, np.zeros((60, 60), np.float32), warn_often, tile=30, overlap=4, warn=False)
    assert caught == [] and len(result.warnings) == 4  # 4 tiles, one record each (not 2000)
    assert {(w.category, w.message) for w in result.warnings} == {(TileCheckWarning, "again")}


@pytest.mark.parametrize("client", ["threads", "sync", "processes"])
def test_tiles_run_as_dask_tasks_keep_their_own_warnings(client):
    """Tiles on Dask threads record at the same time; each record is its own tile's (catch_warnings would mix
    them up or lose them), and the warnings machinery is as it was after the run."""
    img = np.random.default_rng(1).random((160, 160)).astype(np.float32)
    filters, show = list(warnings.filters), warnings.showwarning
    result, caught = _run(segment_tiled, img, _warn_mean, tile=40, overlap=8, client=client, warn=False)
    assert caught == []  # left to the caller (warn=False)
    assert len(result.warnings) == 16
    for record in result.warnings:
        (y0, y1), (x0, x1) = record.region
        assert record.category is TileCheckWarning
        assert record.message == f"mean {float(img[y0:y1, x0:x1].mean()):.6f}"
    assert sorted(r.region for r in result.warnings) == sorted(t.region for t in result.tiles)
    assert warnings.filters == filters and warnings.showwarning is show


def test_a_warning_filter_applies_to_the_merged_warning():
    img = np.zeros((80, 80), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TileCheckWarning)
        with pytest.raises(TileCheckWarning, match=r"in 4 of 4 tiles"):  # once, after all tiles ran
            segment_tiled(img, _warn_mean, tile=40, overlap=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=TileCheckWarning)
        segment_tiled(img, _warn_mean, tile=40, overlap=8)
    assert caught == []


def test_tiled_fusion_says_once_which_tiles_had_a_blank_channel(tmp_path):
    """A real pipeline: Fusion leaves a channel out of a tile where it is blank and says so; each such tile
    said it, without saying where."""
    pytest.importorskip("torch")
    from fusion_data import synthetic_pair

    from labelfree.fusion import new_model
    from labelfree.fusion.segment import BlankChannelWarning
    from labelfree.fusion.zoo import ModelZoo
    from labelfree.image import to_dataarray
    from labelfree.run import run_pipeline

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    untrained = new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="cpu")
    for name in ("actin", "tubulin"):
        zoo.add(untrained, object="cyto", channels=[name])
    img, _ = synthetic_pair(0, size=128)
    img[1, :, 48:] = 0.0  # tubulin blank in the tiles of the right column (they read x from 48)
    image = to_dataarray(img, dims="CYX", channel_names=["actin", "tubulin"])
    labels, caught = _run(run_pipeline, "fusion", image, config={"diameter": 15},
                          inputs={"zoo": str(zoo.root), "device": "cpu"}, tile=64, tile_overlap=16)
    assert labels.attrs["labelfree"]["tiles"]["tile"] == 64
    blank = [str(w.message) for w in caught if issubclass(w.category, BlankChannelWarning)]
    assert blank == [("Channel(s) tubulin have one value in every pixel (blank) and are left out of the fusion; "
                      "fusing actin. (tiled run: in 2 of 4 tiles, the pixels y0:y1, x0:x1 0:80, 48:128; "
                      "48:128, 48:128)")]


def test_a_stack_names_the_plane_of_each_tile_and_its_place_in_the_plane(monkeypatch):
    """run_tiled merges the planes' warnings: one per kind for the stack; a tile is named by its plane and its
    pixels in the plane (a threshold run cuts tiles inside the plane's padding: their offset is added)."""
    import xarray as xr

    from labelfree.run import run_pipeline

    calls = []

    def warn_first(self, region):
        calls.append(region.shape)
        if len(calls) in (1, 5):  # the first tile of each plane
            warnings.warn(TileCheckWarning(f"tile {len(calls)}"), stacklevel=2)
        return np.zeros(region.shape[-2:], np.uint32)

    monkeypatch.setattr(PipelineTileFunction, "__call__", warn_first)
    plane = np.zeros((100, 100), np.uint8)
    plane[10:90, 20:90] = np.random.default_rng(2).integers(1, 200, (80, 70))  # padding: 10 rows, 20 columns
    stack = xr.DataArray(np.stack([plane, plane]), dims=("T", "Y", "X"))
    _, caught = _run(run_pipeline, "threshold", stack, tile=40, tile_overlap=4)
    assert len(calls) == 8  # 2 planes of 2 x 2 tiles
    assert [str(w.message) for w in caught] == [
        ("tile 1 (tiled run: in 2 of 8 tiles, the pixels y0:y1, x0:x1 T=0 10:54, 20:64; T=1 10:54, 20:64; "
         "the figures are the first tile's)")]



def test_a_hook_installed_while_tiles_record_and_passing_back_to_theirs_does_not_loop():
    """Another hook (a batch run's per-input capture) installed while tiles record keeps the tiles' hook as
    the one to pass warnings to; when tiles record again over it, the tiles' hook passes warnings on to it
    and it back: without a guard an endless loop (RecursionError) for the next warning."""
    from labelfree import _tile_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        original = warnings.showwarning

        def other(*args):  # passes on to the hook it found in place
            saved(*args)

        with _tile_warnings.recording():
            saved = warnings.showwarning  # the tiles' hook
            warnings.showwarning = other
        with _tile_warnings.recording():
            pass  # tiles record again over `other`: theirs passes on to it, and it passes back
        try:
            warnings.warn("outside any capture", TileCheckWarning, stacklevel=1)
        finally:
            warnings.showwarning = original
    assert [str(w.message) for w in caught] == ["outside any capture"]


def test_a_stack_names_the_planes_where_no_tile_found_an_object():
    from labelfree._tile_warnings import TileWarning, issue
    from labelfree.threshold.segment import NoObjectsWarning

    records = [TileWarning(NoObjectsWarning, f"No objects found: {n} pixel(s)", region=((0, 40), (0, 40)),
                           plane=plane) for n, plane in ((3, "T=0"), (4, "T=0"), (5, "T=2"))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        issue(records, n_tiles=12, n_planes=3)
    assert [(w.category, str(w.message)) for w in caught] == [
        (NoObjectsWarning, ("No objects found: 3 pixel(s) (tiled run: no object in any tile of 2 of 3 planes: "
                            "T=0, T=2; the figures are the first tile's)"))]
