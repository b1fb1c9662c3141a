"""Memory of Cutter's foreground mask (the graph cut) on large images, with masks and labels identical to
those of the reference graph cut (the one Cutter used before its memory was cut).

The graph itself (PyMaxflow, about 304 bytes per pixel) is not seen by tracemalloc; what is measured here
are the full-size numpy arrays Cutter keeps beside it (``benchmarks/cutter_memory.py`` measures the whole
resident memory).
"""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest
from scipy import ndimage as ndi

maxflow = pytest.importorskip("maxflow")

from labelfree.cutter import CutterConfig  # noqa: E402
from labelfree.cutter.graphcut import graph_cut_mask, local_contrast_probability, normalize_intensity  # noqa: E402
from labelfree.cutter.prepare import foreground_mask  # noqa: E402
from labelfree.errors import ConstantImageError  # noqa: E402

prepare_module = importlib.import_module("labelfree.cutter.prepare")
segment_module = importlib.import_module("labelfree.cutter.segment")


def _reference_graph_cut(image, *, prior=None, cell_fraction=None, max_weight=2.0, sigma=0.05):
    """The graph cut as Cutter computed it before (every term a whole float64 array, all alive at once)."""
    from labelfree.cutter.graphcut import estimate_cell_fraction, prior_from_fraction

    image = np.asarray(image)
    norm = normalize_intensity(image)
    if prior is None:
        frac = estimate_cell_fraction(image) if cell_fraction is None else cell_fraction
        prior = prior_from_fraction(norm, cell_fraction=frac)
    cost_cell = -np.log(np.maximum(norm, 1e-6)) - np.log(prior)
    cost_bg = -np.log(np.maximum(1.0 - norm, 1e-6)) - np.log(1.0 - prior)
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes(norm.shape)
    h, w = norm.shape
    padded = np.pad(norm, 1, mode="edge")
    for dy, dx in ((-1, 1), (0, 1), (1, 1), (1, 0)):
        neighbour = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        weights = max_weight * np.exp(-((norm - neighbour) ** 2) / (2.0 * sigma**2))
        if dy < 0:
            weights[:-dy, :] = 0.0
        elif dy > 0:
            weights[-dy:, :] = 0.0
        if dx > 0:
            weights[:, -dx:] = 0.0
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1.0
        graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    graph.add_grid_tedges(nodes, cost_cell, cost_bg)
    graph.maxflow()
    return np.asarray(graph.get_grid_segments(nodes), dtype=bool)


def _with_reference_graph_cut(monkeypatch) -> None:
    """Make Cutter's foreground mask use :func:`_reference_graph_cut`."""
    def reference(held, /, *, overwrite_input, **kwargs):
        return _reference_graph_cut(held.pop(), **kwargs)

    monkeypatch.setattr(prepare_module, "_graph_cut_taken", reference)


def _nuclei(size: int, seed: int = 0) -> np.ndarray:
    """(size, size) float32: blurred bright spots of several brightnesses on noise."""
    rng = np.random.default_rng(seed)
    spots = (rng.random((size, size)) > 0.9985) * rng.uniform(0.4, 1.0, (size, size))
    image = ndi.gaussian_filter(spots, 5.0) * 80.0 + rng.normal(0.0, 0.05, (size, size))
    return image.astype(np.float32)


def _local_signal(image: np.ndarray) -> np.ndarray:
    return local_contrast_probability(ndi.gaussian_filter(np.asarray(image, np.float32), 2.0), window=9)


def _mosaic(tile: np.ndarray) -> np.ndarray:
    """Four mirrored copies of ``tile`` in 2 x 2: a mosaic twice its side."""
    return np.block([[tile, tile[::-1]], [tile[:, ::-1], tile.T]])


def _real_frame(shared_data, dataset: str) -> np.ndarray:
    tifffile = pytest.importorskip("tifffile")
    path = shared_data / "ctc" / dataset / "01" / "t000.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path).astype(np.float32)


def test_graph_cut_allocates_at_most_40_bytes_per_pixel_beside_its_graph():
    """The old graph cut held 8 float64 arrays at once (64 bytes per pixel); now 4."""
    signal = _local_signal(_nuclei(1024))
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        mask = graph_cut_mask(signal, prior=0.5, max_weight=2.0, sigma=0.1)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert peak / signal.size <= 40, f"{peak / signal.size:.1f} bytes per pixel"
    assert np.array_equal(mask, _reference_graph_cut(signal, prior=0.5, max_weight=2.0, sigma=0.1))


def test_no_full_size_array_is_kept_while_the_flow_runs(monkeypatch):
    """While the max-flow runs (the graph at its largest), the foreground mask keeps none of its float64
    arrays (signal, normalised image, costs, weights, node ids: 60 bytes per pixel before)."""
    alive = {}

    class Recording(maxflow.GraphFloat):
        def maxflow(self):
            alive["bytes"] = tracemalloc.get_traced_memory()[0]
            return super().maxflow()

    monkeypatch.setitem(maxflow.Graph, float, Recording)
    image = _nuclei(1024)[None]
    config = CutterConfig(mask_smoothing=2.0, mask_peak_window=9, mask_ridges=False)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        mask = foreground_mask(image, config)
    finally:
        tracemalloc.stop()
    assert 0.005 < mask.mean() < 0.5  # cells and background
    kept = (alive["bytes"] - start) / mask.size
    assert kept <= 2, f"{kept:.1f} bytes per pixel kept during the flow"
    monkeypatch.undo()
    _with_reference_graph_cut(monkeypatch)
    assert np.array_equal(mask, foreground_mask(image, config))


@pytest.mark.parametrize("kwargs", [
    {"prior": 0.5, "max_weight": 2.0, "sigma": 0.1},
    {"cell_fraction": 0.05, "max_weight": 2.0, "sigma": 0.1},
    {"max_weight": 5.0, "sigma": 0.05},  # prior from the triangle threshold's cell fraction
])
@pytest.mark.parametrize("source", ["synthetic", pytest.param("Fluo-C2DL-MSC", marks=pytest.mark.slow),
                                    pytest.param("Fluo-N2DH-GOWT1", marks=pytest.mark.slow)])
def test_graph_cut_equals_the_reference_on_synthetic_and_real_frames(request, source, kwargs):
    if source == "synthetic":
        frame = _nuclei(600, seed=3)
    else:
        frame = _real_frame(request.getfixturevalue("shared_data"), source)
    signal = _local_signal(frame)
    assert 0.001 < _reference_graph_cut(signal, **kwargs).mean() < 0.9  # a mask with cells and background
    for image in (signal, frame):  # a probability (float64) and a raw intensity (float32)
        expected = _reference_graph_cut(image, **kwargs)
        for overwrite in (False, True):
            given = image.astype(np.float64) if overwrite else image
            mask = graph_cut_mask(given, overwrite_input=overwrite, **kwargs)
            assert np.array_equal(mask, expected), (kwargs, overwrite)


def test_overwrite_input_leaves_the_normalised_image_in_a_float64_input_only():
    signal = _local_signal(_nuclei(200))
    given = signal.copy()
    graph_cut_mask(given, prior=0.5, overwrite_input=True)
    assert np.array_equal(given, normalize_intensity(signal))
    single = signal.astype(np.float32)
    kept = single.copy()
    graph_cut_mask(single, prior=0.5, overwrite_input=True)  # not float64: a copy is normalised
    assert np.array_equal(single, kept)
    untouched = signal.copy()
    graph_cut_mask(untouched, prior=0.5)
    assert np.array_equal(untouched, signal)


@pytest.mark.parametrize("kwargs", [{"prior": 0.5}, {}])
def test_a_constant_image_is_the_same_error_with_overwrite_input(kwargs):
    for overwrite in (False, True):
        with pytest.raises(ConstantImageError, match="is constant; it has no cells to find"):
            graph_cut_mask(np.full((30, 30), 0.25), overwrite_input=overwrite, **kwargs)


def _segment_twice(monkeypatch, image, **kwargs):
    """Labels of ``segment`` with this graph cut and with the reference one (same seeds)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = {"n_steps": 10, "stop_at_plateau": False, **kwargs.pop("config", {})}
        labels = segment_module.segment(image, config=config, **kwargs)
        _with_reference_graph_cut(monkeypatch)
        reference = segment_module.segment(image, config=config, **kwargs)
    finally:
        torch.set_num_threads(threads)
    return labels.values, reference.values


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["Fluo-C2DL-MSC", "Fluo-N2DH-GOWT1"])
def test_segment_labels_are_identical_on_real_frames(shared_data, monkeypatch, dataset):
    tifffile = pytest.importorskip("tifffile")
    frame = _real_frame(shared_data, dataset)
    markers = tifffile.imread(shared_data / "ctc" / dataset / "01_GT" / "TRA" / "man_track000.tif")
    labels, reference = _segment_twice(monkeypatch, frame, markers=markers)
    assert len(np.unique(labels)) > 5  # MSC t000 has 9 marked cells, GOWT1 t000 23
    assert np.array_equal(labels, reference)


@pytest.mark.slow
def test_segment_labels_are_identical_on_a_synthetic_mosaic_with_detected_markers(monkeypatch):
    tile = _nuclei(256, seed=1)
    mosaic = _mosaic(tile)  # 512 x 512, markers detected
    labels, reference = _segment_twice(monkeypatch, mosaic)
    assert len(np.unique(labels)) > 50
    assert np.array_equal(labels, reference)


graphcut_module = importlib.import_module("labelfree.cutter.graphcut")


def _count_graph_nodes(monkeypatch) -> list[int]:
    """From now on, the number of nodes of every graph whose max-flow is computed, in order."""
    nodes: list[int] = []

    class Counting(maxflow.GraphFloat):
        def maxflow(self):
            nodes.append(self.get_node_num())
            return super().maxflow()

    monkeypatch.setitem(maxflow.Graph, float, Counting)
    return nodes


def _force_tiles(monkeypatch, size: int, margin: int, *, undecided: int | None = None, raising: bool = True) -> None:
    """Make every graph cut run in tiles of ``size`` px with ``margin`` px around each, the undecided pixels
    cut again at most ``undecided`` (default: a window's worth) at once (the module's constants: images
    above 2048 x 2048 are tiled, in tiles of 256 px with 32 px around, undecided pixels cut again up to
    1024² at once)."""
    monkeypatch.setattr(graphcut_module, "TILE_ABOVE_PIXELS", 0, raising=raising)
    monkeypatch.setattr(graphcut_module, "TILE_SIZE", size, raising=raising)
    monkeypatch.setattr(graphcut_module, "TILE_MARGIN", margin, raising=raising)
    undecided = (size + 2 * margin) ** 2 if undecided is None else undecided
    monkeypatch.setattr(graphcut_module, "UNDECIDED_PIXELS", undecided, raising=raising)


def _tile_log(caplog) -> str:
    return " ".join(r.getMessage() for r in caplog.records if r.name == "labelfree.cutter.graphcut")


@pytest.mark.parametrize("kwargs", [
    {"prior": 0.5, "max_weight": 2.0, "sigma": 0.1},
    {"max_weight": 5.0, "sigma": 0.05},  # prior from the whole image's triangle-threshold cell fraction
])
@pytest.mark.parametrize("source", ["mosaic", "Fluo-N2DH-GOWT1", pytest.param("Fluo-C2DL-MSC", marks=pytest.mark.slow)])
def test_graph_cut_in_tiles_equals_the_whole_image_cut(request, monkeypatch, caplog, source, kwargs):
    """Tiles of 128 px with 8 px around leave thousands of pixels undecided by the brackets of each tile
    (GOWT1's signal: 9137; MSC's raw intensity with max_weight 5: 775121 of 825344, as the weak unary terms
    of its background let the smoothing term reach far); cut again with their neighbours held, the mask is
    the whole image's, pixel for pixel."""
    if source == "mosaic":
        tile = _nuclei(300, seed=5)
        frame = _mosaic(tile)  # 600 x 600
    else:
        frame = _real_frame(request.getfixturevalue("shared_data"), source)
    signal = _local_signal(frame)
    for image in (signal, frame):  # a probability and a raw intensity
        expected = _reference_graph_cut(image, **kwargs)
        assert 100 < expected.sum() < 0.9 * expected.size  # cells and background (MSC's raw frame, prior 0.5: 412 px)
        _force_tiles(monkeypatch, 128, 8, undecided=1024 * 1024)
        caplog.clear()
        with caplog.at_level("INFO", logger="labelfree.cutter.graphcut"):
            mask = graph_cut_mask(image, **kwargs)
        monkeypatch.undo()
        n_tiles = -(-frame.shape[0] // 128) * -(-frame.shape[1] // 128)
        assert f"ran in {n_tiles} tiles of 128 px (margin 8 px)" in _tile_log(caplog)
        assert "too large" not in _tile_log(caplog)  # every undecided pixel cut again
        assert int((mask != expected).sum()) == 0


def test_tiled_graph_cut_keeps_the_prior_of_the_whole_image(monkeypatch):
    """Left half empty, right half crowded: a prior estimated per tile would differ from the whole image's."""
    image = _nuclei(256, seed=2)
    image[:, :128] = np.random.default_rng(0).normal(0.0, 0.05, (256, 128))
    expected = _reference_graph_cut(image, max_weight=2.0, sigma=0.05)
    _force_tiles(monkeypatch, 64, 16)
    assert np.array_equal(graph_cut_mask(image, max_weight=2.0, sigma=0.05), expected)


def test_each_graph_of_a_tiled_cut_is_bounded(monkeypatch, caplog):
    """Every max-flow of a tiled cut holds at most (tile + 2 margin)² nodes: 144² here, where the whole
    600 x 600 image (the only graph before) holds 360000. Through foreground_mask, as Cutter calls it."""
    tile = _nuclei(300, seed=5)
    image = _mosaic(tile)[None]
    config = CutterConfig(mask_smoothing=2.0, mask_peak_window=9, mask_ridges=False)
    expected = foreground_mask(image, config)  # 600 x 600: below the threshold, one whole-image graph
    nodes = _count_graph_nodes(monkeypatch)
    _force_tiles(monkeypatch, 128, 8, raising=False)
    with caplog.at_level("INFO", logger="labelfree.cutter.graphcut"):
        mask = foreground_mask(image, config)
    assert len(nodes) >= 25  # 25 tiles, most cut twice, then the undecided pixels
    assert max(nodes) <= 144**2, max(nodes)
    assert "ran in 25 tiles" in _tile_log(caplog)
    assert np.array_equal(mask, expected)


def test_images_up_to_the_threshold_are_cut_whole(monkeypatch, caplog):
    assert graphcut_module.TILE_ABOVE_PIXELS == 2048 * 2048  # every dev image and test up to 2048²
    nodes = _count_graph_nodes(monkeypatch)
    signal = _local_signal(_nuclei(200))
    monkeypatch.setattr(graphcut_module, "TILE_ABOVE_PIXELS", signal.size)
    monkeypatch.setattr(graphcut_module, "TILE_SIZE", 64)
    monkeypatch.setattr(graphcut_module, "UNDECIDED_PIXELS", (64 + 2 * graphcut_module.TILE_MARGIN) ** 2)
    with caplog.at_level("INFO", logger="labelfree.cutter.graphcut"):
        graph_cut_mask(signal, prior=0.5)
        assert nodes == [signal.size] and "tiles" not in _tile_log(caplog)
        monkeypatch.setattr(graphcut_module, "TILE_ABOVE_PIXELS", signal.size - 1)
        graph_cut_mask(signal, prior=0.5)
    assert max(nodes[1:]) <= (64 + 2 * graphcut_module.TILE_MARGIN) ** 2
    assert "ran in 16 tiles" in _tile_log(caplog)


def test_too_small_tiles_leave_pixels_undecided_with_a_warning(monkeypatch, caplog):
    """Tiles far smaller than the cells: groups of undecided pixels larger than a window are not solved; the
    warning names how many pixels keep the bracket's lower cut."""
    signal = _local_signal(_nuclei(300, seed=5))
    _force_tiles(monkeypatch, 16, 1)
    with caplog.at_level("INFO", logger="labelfree.cutter.graphcut"):
        graph_cut_mask(signal, prior=0.5, max_weight=2.0, sigma=0.1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "larger than 324 px, too large to cut again" in warnings[0]
    assert "raise labelfree.cutter.graphcut.TILE_SIZE or UNDECIDED_PIXELS" in warnings[0]


def test_undecided_pixels_are_cut_again_in_batches_of_whole_groups(monkeypatch, caplog):
    """64 px tiles with 4 px around leave 5802 pixels of a 600 x 600 mosaic undecided, in 214 groups of at
    most 360: cut again at most 400 at once (whole groups per batch), the mask is still the whole image's."""
    tile = _nuclei(300, seed=5)
    signal = _local_signal(_mosaic(tile))
    expected = _reference_graph_cut(signal, prior=0.5, max_weight=2.0, sigma=0.1)
    nodes = _count_graph_nodes(monkeypatch)
    _force_tiles(monkeypatch, 64, 4, undecided=400)
    with caplog.at_level("INFO", logger="labelfree.cutter.graphcut"):
        mask = graph_cut_mask(signal, prior=0.5, max_weight=2.0, sigma=0.1)
    assert "5802 px undecided by the tiles' brackets, 5802 of them then solved exactly" in _tile_log(caplog)
    assert "too large" not in _tile_log(caplog)
    batches = [n for n in nodes if n <= 400]  # the smallest tile window (the corner's) holds 28² = 784
    assert len(batches) >= 15 and sum(batches) == 5802
    assert np.array_equal(mask, expected)
