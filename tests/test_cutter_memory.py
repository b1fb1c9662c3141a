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
    mosaic = np.block([[tile, tile[::-1]], [tile[:, ::-1], tile.T]])  # 512 x 512, markers detected
    labels, reference = _segment_twice(monkeypatch, mosaic)
    assert len(np.unique(labels)) > 50
    assert np.array_equal(labels, reference)
