"""Cutter with no parameters on crops of real data (../shared/data), beside the same-mask watershed.

The markers are the Cell Tracking Challenge TRA marker label images; the baseline is a
watershed of the smoothed intensity seeded by those marker blobs inside the mask Cutter
itself computed (``benchmarks/cutter_defaults.py`` does the same on the whole sets).
Scores count annotated cells only. The bounds leave about 0.04 below the values measured
when the tests were written (noted per test), for other machines' floating point.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tifffile = pytest.importorskip("tifffile")

from labelfree.cutter import CutterConfig, segment  # noqa: E402
from labelfree.image import to_dataarray  # noqa: E402
from labelfree.metrics import evaluate  # noqa: E402


def _crop(shared_data, dataset, frames, box):
    root = shared_data / "ctc" / dataset
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    sl = (slice(box[0], box[1]), slice(box[2], box[3]))
    read = lambda path: np.stack([tifffile.imread(str(path).format(n))[sl] for n in frames])  # noqa: E731
    images = read(root / "01" / "t{}.tif").astype(np.float32)
    truth = read(root / "01_GT" / "SEG" / "man_seg{}.tif")
    markers = read(root / "01_GT" / "TRA" / "man_track{}.tif")
    return images, truth, markers


def _watershed_same_mask(images, markers, auto):
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    from labelfree.cutter.markers import markers_from_labels
    from labelfree.cutter.prepare import foreground_mask

    cfg = CutterConfig(mask_smoothing=auto["mask_smoothing"], mask_peak_window=auto.get("mask_peak_window"),
                       mask_ridges=auto.get("mask_ridges"), downscale=auto.get("downscale"))  # its ridge scale
    out = []
    for image, seeds in zip(images, markers):
        mask = foreground_mask(image[None], cfg, markers=markers_from_labels(seeds)[0])
        out.append(watershed(-ndi.gaussian_filter(image, 2.0), np.where(mask, seeds, 0), mask=mask))
    return np.stack(out)


def _run(images, truth, markers):
    labels = segment(to_dataarray(images, dims="TYX"), markers=markers)
    auto = labels.attrs["labelfree"]["auto"]
    cutter = evaluate(labels.values, truth, only_annotated=True)
    ws = evaluate(_watershed_same_mask(images, markers, auto), truth, only_annotated=True)
    return cutter, ws, auto


@pytest.mark.slow
def test_msc_whole_cells_with_no_parameters(shared_data):
    # Fluo-C2DL-MSC t029, the lower left 416 x 496 px (5 annotated cells, up to 400 px long).
    # Measured: downscale 2.38, Cutter mean IoU 0.717 (F1 1.0), watershed 0.718 (F1 1.0); 0.714 before the
    # marker blobs were part of their cells' cores, 0.677 (F1 0.8) with older defaults. On all 18 annotated
    # frames: 0.726 against 0.727 (benchmarks/cutter_defaults.py).
    images, truth, markers = _crop(shared_data, "Fluo-C2DL-MSC", ["029"], (416, 832, 0, 496))
    cutter, ws, auto = _run(images, truth, markers)
    assert 1.5 <= auto["downscale"] <= 6.0  # cells of ~100 px radius fill a 64 px patch only reduced
    assert auto["mask_smoothing"] > 2.0  # large, noisy cells: more smoothing than the 2 px of old
    assert cutter["f1"] >= 0.6 and cutter["mean_iou"] >= 0.63
    assert cutter["mean_iou"] >= ws["mean_iou"] - 0.02


@pytest.mark.slow
def test_gowt1_clumped_nuclei_with_no_parameters(shared_data):
    # Fluo-N2DH-GOWT1 t021 (fully annotated), a 384 x 384 px crop of the colony (11 nuclei).
    # Measured: downscale 1.02, Cutter 0.929 (F1 0.909), watershed 0.929 (F1 0.909).
    images, truth, markers = _crop(shared_data, "Fluo-N2DH-GOWT1", ["021"], (300, 684, 380, 764))
    cutter, ws, auto = _run(images, truth, markers)
    assert 0.7 <= auto["downscale"] <= 1.5  # nuclei of ~30 px radius already fill the patch
    assert cutter["f1"] >= 0.9 and cutter["mean_iou"] >= 0.89
    assert cutter["mean_iou"] >= ws["mean_iou"] - 0.02


@pytest.mark.slow
def test_sim_nuclei_with_no_parameters(shared_data):
    # Fluo-N2DH-SIM+ t032, a 352 x 352 px crop (15 nuclei).
    # Measured: downscale 0.80, Cutter 0.845 (F1 0.867), watershed 0.845 (F1 0.867); Cutter 0.843 before the
    # marker blobs were part of their cells' cores.
    images, truth, markers = _crop(shared_data, "Fluo-N2DH-SIM+", ["032"], (150, 502, 100, 452))
    cutter, ws, auto = _run(images, truth, markers)
    assert 0.6 <= auto["downscale"] <= 1.3
    assert cutter["f1"] >= 0.85 and cutter["mean_iou"] >= 0.80
    assert cutter["mean_iou"] >= ws["mean_iou"] - 0.02


def _detection(points, truth):
    """Precision and recall: a detection counts once inside a nucleus no other detection claimed."""
    p = np.rint(points).astype(int)
    hit = truth[p[:, 0], p[:, 1]]
    found = len(np.unique(hit[hit > 0]))
    return found / len(points), found / (len(np.unique(truth)) - 1)


def test_markers_are_detected_with_no_parameters_on_real_nuclei(shared_data):
    # Measured (benchmarks/cutter_markers.py): DSB2018 precision 0.972, recall 0.848 (0.950, 0.768
    # before the noise floor; the authors' blob detection with its defaults, the previous default:
    # 0.855, 0.472); GOWT1 t021, every nucleus annotated, nuclei from dim to saturated: 1.000,
    # 0.917 (0.833 before the nucleus-sized regions left unmarked got a marker; blob: 0.174, 0.875).
    from labelfree.cutter import detect_markers

    dsb = shared_data / "misc" / "stardist_dsb2018"
    gowt = shared_data / "ctc" / "Fluo-N2DH-GOWT1"
    if not (dsb / "img2d.tif").is_file() or not (gowt / "01" / "t021.tif").is_file():
        pytest.skip("DSB2018 or GOWT1 is absent")
    precision, recall = _detection(detect_markers(tifffile.imread(dsb / "img2d.tif")),
                                   tifffile.imread(dsb / "mask2d.tif"))
    assert precision >= 0.95 and recall >= 0.82
    precision, recall = _detection(detect_markers(tifffile.imread(gowt / "01" / "t021.tif")),
                                   tifffile.imread(gowt / "01_GT" / "SEG" / "man_seg021.tif"))
    assert precision >= 0.9 and recall >= 0.9


@pytest.mark.slow
def test_a_nucleus_image_alone_is_segmented_from_the_command_line(shared_data, tmp_path):
    """``labelfree cutter nuclei.tif -o out/`` with no flag: the one channel is its own nucleus image."""
    from labelfree.cli import main

    dsb = shared_data / "misc" / "stardist_dsb2018"
    if not (dsb / "img2d.tif").is_file():
        pytest.skip("DSB2018 is absent")
    # the whole 512 x 512 image, 125 nuclei (109 markers found); measured: F1 0.843, mean IoU 0.826
    # (0.779 / 0.831 before the noise floor of the automatic detection), 21 s on one core
    image = tifffile.imread(dsb / "img2d.tif")
    truth = tifffile.imread(dsb / "mask2d.tif")
    tifffile.imwrite(tmp_path / "nuclei.tif", image)
    assert main(["cutter", str(tmp_path / "nuclei.tif"), "-o", str(tmp_path / "out"), "-q"]) == 0
    labels = tifffile.imread(tmp_path / "out" / "nuclei_labels.tif")
    scores = evaluate(labels, truth)
    assert scores["f1"] >= 0.8 and scores["mean_iou"] >= 0.8
    record = json.loads((tmp_path / "out" / "nuclei_provenance.json").read_text())
    assert record["markers"] == {"detected_in": "the image", "method": "auto"}


def test_the_local_window_follows_nuclei_small_in_pixels(shared_data):
    # Fluo-N2DH-GOWT1 t021 (every nucleus annotated, 24 nuclei) as it is and at half size (as a
    # 2x binned camera or half the magnification gives it). A fixed 9 px window reaches from dim
    # nuclei into bright neighbours at half size and leaves them out (watershed in that mask:
    # F1 0.83); the automatic window keeps 9 px at full size and takes 5 px at half size
    # (F1 1.0, mean IoU 0.928, as at full size: 0.931).
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed
    from skimage.transform import resize

    from labelfree.cutter.markers import markers_from_labels
    from labelfree.cutter.prepare import foreground_mask
    from labelfree.cutter.segment import resolve_scale

    image, truth, markers = (a[0] for a in _crop(shared_data, "Fluo-N2DH-GOWT1", ["021"], (0, 1024, 0, 1024)))

    def scores(im, gt, mk, window=None):
        cfg, record, _ = resolve_scale(to_dataarray(im[None], dims="TYX"), CutterConfig(), markers=mk[None])
        cfg = cfg if window is None else cfg.replace(mask_peak_window=window)
        mask = foreground_mask(im[None], cfg, markers=markers_from_labels(mk)[0])
        e = evaluate(watershed(-ndi.gaussian_filter(im, 2.0), np.where(mask, mk, 0), mask=mask), gt)
        return cfg.mask_peak_window, e

    window, full = scores(image, truth, markers)
    assert window == 9 and full["f1"] >= 0.95
    half = lambda a, order: resize(a, (512, 512), order=order, preserve_range=True,  # noqa: E731
                                   anti_aliasing=order > 0).astype(a.dtype)
    small = (half(image, 1), half(truth, 0), half(markers, 0))
    window, auto = scores(*small)
    assert window < 9 and auto["f1"] >= 0.95 and auto["mean_iou"] >= full["mean_iou"] - 0.02
    assert scores(*small, window=9)[1]["f1"] <= 0.9  # what the fixed window gave


def test_every_marked_nucleus_on_the_foreground_gets_a_cell_even_at_the_border(shared_data):
    """A 256 x 256 corner of DSB2018 with its 35 annotated nuclei as the markers (label image)."""
    import warnings

    from labelfree.cutter import MarkerWarning

    dsb = shared_data / "misc" / "stardist_dsb2018"
    if not (dsb / "img2d.tif").is_file():
        pytest.skip("DSB2018 is absent")
    image = tifffile.imread(dsb / "img2d.tif")[:256, :256]
    truth = tifffile.imread(dsb / "mask2d.tif")[:256, :256].astype(np.uint16)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        labels = np.asarray(segment(image, markers=truth))
    # nuclei 26 and 98 (at x = 253-254) had no pixel in the network's argmax and vanished; now they grow
    # from their markers. Measured: 34 objects, F1 0.90 (was 32 objects, F1 0.86 before)
    for nucleus in (26, 98):
        cell = np.bincount(labels[truth == nucleus]).argmax()
        own, drawn = truth == nucleus, labels == cell
        assert cell == nucleus and (own & drawn).sum() / (own | drawn).sum() > 0.5
    assert len(np.unique(labels)) - 1 == 34
    # nucleus 113 (dim, at the bottom edge) is not in the mask: said, with where its marker is
    off = [str(w.message) for w in said if issubclass(w.category, MarkerWarning)]
    assert len(off) == 1 and "1 of 35 markers lie on the background" in off[0] and "(y=254, x=209)" in off[0]


def test_the_bright_first_rows_of_msc_are_not_cells(shared_data):
    # Every Fluo-C2DL-MSC frame has brighter first rows (up to 2,500 grey levels, ~30 % above the background,
    # fading over 15-20 rows). They were foreground in every frame (97 % of the first 15 rows of t009) and
    # joined the cells touching the top edge to one another (benchmarks/cutter_defaults.py: mean IoU 0.717 ->
    # 0.725, F1@0.5 0.786 -> 0.897 with the band left out).
    from labelfree.cutter.markers import markers_from_labels
    from labelfree.cutter.prepare import foreground_mask
    from labelfree.noise import edge_band_excess

    images, truth, markers = _crop(shared_data, "Fluo-C2DL-MSC", ["009"], (0, 832, 0, 992))
    excess = edge_band_excess(images[0])
    rows = np.nonzero(excess.any(axis=1))[0]
    assert rows[0] == 0 and 10 <= len(rows) <= 25 and excess[:, 0].max() > 1500
    assert not excess[len(rows):].any()
    cfg = CutterConfig(mask_smoothing=4.0, mask_peak_window=9, mask_ridges=True, downscale=2.6)
    mask = foreground_mask(images[0][None], cfg, markers=markers_from_labels(markers[0])[0])
    assert mask[:15].mean() < 0.05 and (truth[0][:15] > 0).mean() < 0.05
