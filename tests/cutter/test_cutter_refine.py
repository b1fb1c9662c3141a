"""Noise-normalised mask, marked mask regions, label clean-up and the loss-plateau rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree.cutter.config import CutterConfig
from labelfree.cutter.graphcut import snr_probability
from labelfree.cutter.prepare import foreground_mask, keep_marked_regions
from labelfree.cutter.refine import keep_marker_components, refine_labels
from labelfree.cutter.train import PlateauDetector, plateau_step
from labelfree.errors import ConfigError, ConstantImageError, InputError


def _dim_and_bright_squares(seed=0):
    rng = np.random.default_rng(seed)
    truth = np.zeros((80, 120), np.int32)
    truth[10:40, 10:40] = 1  # bright cell
    truth[45:70, 70:100] = 2  # dim cell: 1.5 noise units above the background
    image = 100.0 + np.array([0.0, 10.0, 1.5])[truth] + rng.normal(0, 1.0, truth.shape)
    return image, truth


def test_snr_probability_is_half_at_threshold_noise_units():
    image, truth = _dim_and_bright_squares()
    p = snr_probability(ndi.gaussian_filter(image, 2.0), threshold=2.0)
    assert p.min() > 0 and p.max() <= 1
    assert np.median(p[truth == 1]) > 0.99 and np.median(p[truth == 0]) < 0.2
    with pytest.raises(ConstantImageError, match="constant"):
        snr_probability(np.full((10, 10), 3.0))


def test_snr_mask_recovers_dim_and_bright_cells():
    image, truth = _dim_and_bright_squares()
    base = CutterConfig(mask_smoothing=2.0, mask_sigma=0.1, mask_signal="snr")
    masks = [foreground_mask(image[None], base.replace(mask_snr_threshold=k)) for k in (3.0, 15.0)]
    cells = truth > 0
    assert (masks[0] & cells).sum() / (masks[0] | cells).sum() > 0.78  # a 1-2 px halo from the smoothing
    assert masks[0][truth == 2].mean() > 0.95 and masks[0][truth == 0].mean() < 0.06
    # 15 noise units lie between the dim cell (about 8 after smoothing) and the bright one (about 50)
    assert masks[1][truth == 2].mean() < 0.05 and masks[1][truth == 1].mean() > 0.95


def test_keep_marked_regions_drops_unmarked_parts_and_fills_holes():
    mask = np.zeros((30, 30), bool)
    mask[2:12, 2:12] = True
    mask[6, 6] = False  # a hole
    mask[20:25, 20:25] = True  # debris without a marker
    kept = keep_marked_regions(mask, np.array([[3.2, 4.0]]))
    assert kept[2:12, 2:12].all() and not kept[20:25, 20:25].any()
    assert kept.sum() == 100
    cfg = CutterConfig(mask_keep_marked=True, mask_prior=0.5, mask_max_weight=0.0, mask_smoothing=0.0)
    mask2 = foreground_mask(mask[None].astype(float), cfg, markers=np.array([[22.0, 22.0]]))
    assert mask2[20:25, 20:25].all() and mask2.sum() == 25


def test_keep_marker_components_keeps_the_part_with_the_marker():
    lab = np.zeros((10, 20), np.uint16)
    lab[1:4, 1:4] = 3  # big part without the marker
    lab[1:4, 1:4][1, 1] = 3
    lab[6:8, 15:17] = 3  # small part with the marker
    lab[6:9, 2:5] = 4  # label 4: one part, marker outside it -> unchanged
    out = keep_marker_components(lab, np.array([[6.4, 15.6], [0.0, 0.0]]), np.array([3, 4]))
    assert (out == 3).sum() == 4 and out[6, 15] == 3 and not out[1:4, 1:4].any()
    assert (out == 4).sum() == 9 and out.dtype == lab.dtype
    assert (lab == 3).sum() == 13  # input untouched
    # marker of a multi-part label outside every part: the largest part stays
    out = keep_marker_components(lab, np.array([[0.0, 19.0]]), np.array([3]))
    assert (out == 3).sum() == 9
    with pytest.raises(InputError, match="ids"):
        keep_marker_components(lab, np.zeros((2, 2)), np.array([1]))


def test_refine_labels_mask_and_holes():
    lab = np.zeros((12, 12), np.int32)
    lab[2:9, 2:9] = 1
    lab[5, 5] = 0
    mask = np.ones((12, 12), bool)
    mask[:, 7:] = False
    out = refine_labels(lab, mask=mask, fill=True)
    assert out[2:9, 2:7].all() and not out[:, 7:].any() and out[5, 5] == 1
    assert lab[5, 5] == 0 and (lab == 1).sum() == 48


def test_plateau_rule_on_known_curves():
    steps = np.arange(400)
    decay = 1000.0 * np.exp(-steps / 40.0) + np.random.default_rng(0).normal(0, 2.0, steps.size)
    p = plateau_step(decay)
    # 1 % of the drop remains in the next 25 steps once exp(-s/40) * (1 - exp(-25/40)) < 0.01
    assert p is not None and 150 <= p <= 260
    assert plateau_step(decay[:60]) is None  # too short to tell
    assert plateau_step(np.linspace(0, 50, 200)) is None  # rising: never improved
    assert plateau_step(1000.0 - steps * 2.0) is None  # still falling steadily
    online = PlateauDetector(window=25, tol=0.01)
    stop = next(i for i, v in enumerate(decay) if online.update(v))
    assert p < stop + 1 <= p + 25 + 5  # stops within a window (+ check interval) of the plateau
    with pytest.raises(ConfigError, match="plateau_window"):
        CutterConfig(plateau_window=1)
    with pytest.raises(ConfigError, match="mask_signal"):
        CutterConfig(mask_signal="otsu")


def test_grow_into_mask_fills_unclaimed_mask_pixels_geodesically():
    lab = np.zeros((10, 30), np.uint16)
    lab[4:6, 2:4] = 1
    lab[4:6, 26:28] = 2
    mask = np.zeros((10, 30), bool)
    mask[3:7, 1:29] = True  # one bar joining both cells
    mask[0:2, 0:5] = True  # a separate region with no cell stays background
    mask[8:10, 14:16] = True
    grown = refine_labels(lab, grow_mask=mask)
    assert (grown[3:7, 1:14] == 1).all() and (grown[3:7, 16:29] == 2).all()
    assert not grown[0:2].any() and not grown[8:].any() and not grown[~mask].any()
    assert lab.sum() == 4 * 1 + 4 * 2  # input untouched


def test_grow_along_intensity_follows_the_bright_ridge():
    lab = np.zeros((10, 30), np.uint16)
    lab[4:6, 2:4] = 1
    lab[4:6, 26:28] = 2
    mask = np.zeros((10, 30), bool)
    mask[3:7, 1:29] = True
    intensity = np.ones((10, 30), np.float32)
    intensity[:, 6] = 0.2  # a dark gap next to cell 1: the bright part beyond it belongs to cell 2
    grown = refine_labels(lab, grow_mask=mask, grow_intensity=intensity)
    assert (grown[3:7, 1:6] == 1).all() and (grown[3:7, 7:29] == 2).all()
    assert (refine_labels(lab, grow_mask=mask)[3:7, 8:14] == 1).all()  # geodesic: nearest cell
    with pytest.raises(InputError, match="shape"):
        refine_labels(lab, grow_mask=mask, grow_intensity=intensity[:5])
    with pytest.raises(ConfigError, match="grow_into_mask"):
        CutterConfig(grow_into_mask="yes")


def test_training_stops_at_the_loss_plateau():
    import torch  # noqa: F401
    from labelfree.cutter.dataset import build_patch_set
    from labelfree.cutter.train import train_cutter

    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.1, (1, 48, 48)).astype(np.float32)
    image[0, 8:20, 8:20] += 1.0
    image[0, 28:40, 26:38] += 1.0
    background = image[0] < 0.5
    ps = build_patch_set(image, np.array([[14, 14], [34, 32]]), background=background, crop=16, sigma=4.0)
    cfg = CutterConfig(width=4, crop_size=16, area_size=48, n_steps=400, plateau_window=6, loss_preset="paper")
    model = train_cutter([ps], config=cfg)
    losses = [v for _, v in model.history]
    assert 18 <= len(losses) < 400
    assert plateau_step(losses, window=6, tol=0.01) is not None
    assert len(train_cutter([ps], config=cfg.replace(stop_at_plateau=False, n_steps=20)).history) == 20


def _two_touching_disks():
    """Two touching disks of radius 12 (centres x = 18 and 42) joined by a bridge, whose dark valley is at x = 30:
    the grid (yy, xx), the cells' pixels and their intensity."""
    yy, xx = np.mgrid[:40, :62]
    left = (yy - 20) ** 2 + (xx - 18) ** 2 <= 12**2
    right = (yy - 20) ** 2 + (xx - 42) ** 2 <= 12**2
    bridge = (abs(yy - 20) <= 5) & (xx >= 28) & (xx <= 32)
    cells = left | right | bridge
    intensity = np.where(cells, 1.0, 0.0).astype(np.float32)
    intensity[:, 30] *= 0.5
    return yy, xx, cells, intensity


def test_redraw_boundaries_moves_the_line_between_touching_cells_to_the_valley():
    # the network put the line at x = 34
    yy, xx, cells, intensity = _two_touching_disks()
    labels = np.where(cells, np.where(xx < 34, 1, 2), 0).astype(np.uint16)
    markers, ids = np.array([[20.0, 18.0], [20.0, 42.0]]), np.array([1, 2])
    out = refine_labels(labels, markers=markers, ids=ids, grow_mask=cells, grow_intensity=intensity, redraw=0.3)
    assert set(np.unique(out[:, 31:34][cells[:, 31:34]])) == {2} and set(np.unique(out[:, :30][cells[:, :30]])) == {1}
    assert ((out > 0) == cells).all()
    # a cell smaller than the band keeps at least its marker pixel and so survives
    tiny = labels.copy()
    tiny[tiny == 2] = 0
    tiny[19:22, 41:44] = 2
    kept = refine_labels(tiny, markers=markers, ids=ids, grow_intensity=intensity, redraw=0.9)
    assert kept[20, 42] == 2
    # redraw 0 keeps the network's line
    assert (refine_labels(labels, grow_mask=cells, grow_intensity=intensity)[:, 31:34][cells[:, 31:34]] == 1).all()
    with pytest.raises(ConfigError, match="redraw_boundaries"):
        CutterConfig(redraw_boundaries=1.0)


@pytest.mark.parametrize("redraw", [0.0, 0.2])
def test_a_marked_cell_the_network_left_empty_grows_from_its_marker(redraw):
    # three blobs in the mask; the network drew only cell 1 (a small cell's patch at the border can stay
    # under the threshold everywhere); cell 2's marker lies in the mask, unclaimed: it is drawn from it
    yy, xx = np.mgrid[:40, :60]
    blob = lambda y, x, r: (yy - y) ** 2 + (xx - x) ** 2 <= r**2  # noqa: E731
    one, two = blob(20, 12, 8), blob(20, 36, 5)
    mask = one | two
    mask[5, 55] = True  # a marker pixel alone in the mask (keep_marked_regions adds every marker's pixel)
    intensity = mask.astype(np.float32)
    labels = np.where(one, 1, 0).astype(np.uint16)
    markers, ids = np.array([[20.0, 12.0], [20.0, 36.0], [5.0, 55.0], [20.0, 14.0]]), np.array([1, 2, 3, 4])
    out = refine_labels(labels, markers=markers, ids=ids, grow_mask=mask, grow_intensity=intensity, redraw=redraw)
    assert ((out == 2) == two).all()  # before: cell 2 had no pixel and vanished
    assert ((out == 1) == one).all()  # marker 4 lies on cell 1: it takes nothing from it
    assert not (out == 3).any() and not (out == 4).any()  # a marker pixel alone is no cell
    assert (labels == np.where(one, 1, 0)).all()  # the input is not modified


def test_a_marker_blob_stays_in_its_cell_when_the_network_gave_part_of_it_to_a_neighbour():
    # the network drew the line at x = 14, deep inside cell 1, so cell 2's core holds most of cell 1's marker blob
    # (x 10-26). The blob says those pixels are cell 1.
    yy, xx, cells, intensity = _two_touching_disks()
    labels = np.where(cells, np.where(xx < 14, 1, 2), 0).astype(np.uint16)
    blobs = np.zeros(labels.shape, np.uint16)
    blobs[(yy - 20) ** 2 + (xx - 18) ** 2 <= 8**2] = 1
    blobs[(yy - 20) ** 2 + (xx - 42) ** 2 <= 8**2] = 2
    blobs[2, 2] = 7  # a blob of no given marker (not in ids): ignored
    markers, ids = np.array([[20.0, 18.0], [20.0, 42.0]]), np.array([1, 2])
    before = blobs.copy()
    plain = refine_labels(labels, markers=markers, ids=ids, grow_mask=cells, grow_intensity=intensity, redraw=0.2)
    assert (plain[blobs == 1] == 2).mean() > 0.5  # without the blobs the network's line stands
    out = refine_labels(labels, markers=markers, ids=ids, grow_mask=cells, grow_intensity=intensity, redraw=0.2,
                        blobs=blobs)
    assert (out[blobs == 1] == 1).all() and (out[blobs == 2] == 2).all()
    assert ndi.label(out == 1)[1] == 1 and set(np.unique(out[:, :10][cells[:, :10]])) == {1}  # one piece
    assert (out[:, 34:] == plain[:, 34:]).all()  # cell 2's far side as before
    assert ((out > 0) == cells).all() and out[2, 2] == 0
    assert (blobs == before).all() and (labels == np.where(cells, np.where(xx < 14, 1, 2), 0)).all()
    # a cell the network gave no pixel (it merged it into its neighbour) is not drawn from its blob
    merged = np.where(cells, 1, 0).astype(np.uint16)
    alone = refine_labels(merged, markers=markers, ids=ids, grow_mask=cells, grow_intensity=intensity, redraw=0.2,
                          blobs=blobs)
    assert set(np.unique(alone)) == {0, 1}
    with pytest.raises(InputError, match="blobs has shape"):
        refine_labels(labels, markers=markers, ids=ids, grow_intensity=intensity, redraw=0.2, blobs=blobs[:, :30])
