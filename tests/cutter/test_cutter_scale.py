"""Automatic scale: cell size from markers and mask, the settings it implies, float rescaling."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from skimage.draw import ellipse

from labelfree.cutter import CutterConfig
from labelfree.cutter.integrate import integrate_patches
from labelfree.cutter.scale import (
    AREA_SIZE, FILL, MIN_DOWNSCALE, SIGMA_PER_RADIUS, SMOOTHING_PER_RADIUS, SMOOTHING_RANGE, CellSize, auto_settings,
    estimate_cell_size, max_downscale,
)
from labelfree.errors import ConfigError, InputError


def _cells(radius: float, n: int = 4, seed: int = 0):
    """A grid of n x n ellipses with mean radius ``radius`` px (mask, centres)."""
    rng = np.random.default_rng(seed)
    step = int(3 * radius)
    size = n * step
    mask = np.zeros((size, size), bool)
    centres = []
    for i in range(n):
        for j in range(n):
            cy, cx = (i + 0.5) * step + rng.uniform(-2, 2), (j + 0.5) * step + rng.uniform(-2, 2)
            ry, rx = radius * rng.uniform(0.8, 1.2, 2)
            rr, cc = ellipse(cy, cx, ry, rx, shape=mask.shape, rotation=rng.uniform(0, np.pi))
            mask[rr, cc] = True
            centres.append((cy, cx))
    return mask, np.array(centres)


def test_cell_size_from_mask_scales_with_the_cells():
    small = estimate_cell_size(_cells(12)[1], mask=_cells(12)[0])
    large = estimate_cell_size(_cells(48)[1], mask=_cells(48)[0])
    assert small.source == large.source == "mask" and small.n_cells == 16
    # the 95th-percentile radius of an ellipse of mean radius r is close to r
    assert 10 <= small.radius <= 15 and 40 <= large.radius <= 58
    assert large.radius / small.radius == pytest.approx(4.0, rel=0.05)
    assert large.diameter / small.diameter == pytest.approx(4.0, rel=0.05)
    # pooled over frames: the same answer as for the frames one by one
    mask, pts = _cells(12)
    assert estimate_cell_size([pts, pts], mask=[mask, mask]).radius == pytest.approx(small.radius)


def test_downscale_follows_the_cell_size():
    a = auto_settings(estimate_cell_size(_cells(30)[1], mask=_cells(30)[0]))
    b = auto_settings(estimate_cell_size(_cells(60)[1], mask=_cells(60)[0]))
    c = auto_settings(estimate_cell_size(_cells(120)[1], mask=_cells(120)[0]))
    assert b["downscale"] / a["downscale"] == pytest.approx(2.0, rel=0.05)
    assert c["downscale"] / a["downscale"] == pytest.approx(4.0, rel=0.05)
    # a typical cell then fills the patch the same way, and so does the marker channel
    for s in (a, b, c):
        assert s["marker_sigma"] == pytest.approx(SIGMA_PER_RADIUS * FILL * 32, rel=0.02)
    # tiny cells are enlarged at most 1 / MIN_DOWNSCALE times; a fixed downscale keeps the rule for sigma
    tiny = auto_settings(CellSize(5.0, 10.0, 15.0, 9, "mask"))
    assert tiny["downscale"] == MIN_DOWNSCALE and tiny["marker_sigma"] == pytest.approx(SIGMA_PER_RADIUS * 5 / MIN_DOWNSCALE)
    fixed = auto_settings(CellSize(40.0, 70.0, 90.0, 9, "mask"), downscale=2.0)
    assert fixed["downscale"] == 2.0 and fixed["marker_sigma"] == 10.0
    # mask smoothing grows with the cells, within SMOOTHING_RANGE
    assert fixed["mask_smoothing"] == pytest.approx(40.0 * SMOOTHING_PER_RADIUS, abs=0.01)
    assert tiny["mask_smoothing"] == SMOOTHING_RANGE[0] and c["mask_smoothing"] == SMOOTHING_RANGE[1]


def test_training_area_holds_about_as_many_cells_when_small_cells_stay_small():
    """Cells that fill the patch train on AREA_SIZE areas. Cells the downscale floor leaves smaller
    (radius 7 px: 14 px after enlarging, half the patch's 28.8) get areas smaller in proportion, so a
    step holds about as many cells. Was: 320 px for every size, up to four times the patches per step
    (half-size DSB2018 0.37 s a step against 0.17, 107-270 s a frame; now about 60 s)."""
    for radius in (15.0, 40.0, 100.0):
        assert auto_settings(CellSize(radius, 2 * radius, 3 * radius, 9, "mask"))["area_size"] == AREA_SIZE
    half = auto_settings(CellSize(7.1, 14.0, 21.0, 9, "mask"))
    assert half["downscale"] == MIN_DOWNSCALE and half["area_size"] == 160
    assert auto_settings(CellSize(13.0, 26.0, 39.0, 9, "mask"))["area_size"] == 288
    assert auto_settings(CellSize(2.0, 4.0, 6.0, 9, "mask"))["area_size"] == 128  # at least two patches
    assert auto_settings(CellSize(2.0, 4.0, 6.0, 9, "mask"), crop_size=256)["area_size"] == AREA_SIZE
    # an enlarging downscale given by the user: the cells fill the patch, the area stays
    assert auto_settings(CellSize(7.1, 14.0, 21.0, 9, "mask"), downscale=0.25)["area_size"] == AREA_SIZE
    assert CutterConfig().area_size is None and CutterConfig(area_size="auto").area_size is None
    assert CutterConfig(area_size=96).area_size == 96
    with pytest.raises(ConfigError, match=r"area_size \(48\) must be at least crop_size \(64\)"):
        CutterConfig(area_size=48)


def test_automatic_area_with_patches_larger_than_the_default_area():
    """crop_size 384 with area_size automatic. Was: 'area_size (320) must be at least crop_size (384)'
    from the probe config of the size measurement."""
    from labelfree.cutter.segment import resolve_scale
    from labelfree.image import to_dataarray

    mask, centres = _cells(60, n=4, seed=2)
    image = to_dataarray((mask * 1.0 + np.random.default_rng(0).normal(0, 0.05, mask.shape)).astype(np.float32),
                         dims="YX")
    cfg, record, _ = resolve_scale(image, CutterConfig(crop_size=384), markers=centres)
    assert cfg.area_size == record["area_size"] == 384


def test_one_cell_filling_a_small_image_keeps_one_patch_of_room():
    """One large cell in a small image: the automatic downscale would leave less than one 64 px
    patch (the run failed with "smaller than one 64 x 64 patch", an error the user had not caused);
    it is capped so that the reduced image still holds one patch, and the cell is found."""
    from labelfree.cutter import segment
    from labelfree.metrics import evaluate

    h, w = 132, 170
    truth = np.zeros((h, w), np.uint16)
    rr, cc = ellipse(66, 85, 58, 76, shape=truth.shape)
    truth[rr, cc] = 1
    rng = np.random.default_rng(3)
    image = (200 + 800 * truth + rng.normal(0, 20, truth.shape)).astype(np.float32)
    size = estimate_cell_size(np.array([[66.0, 85.0]]), mask=truth > 0)
    free = auto_settings(size)
    assert free["downscale"] > max_downscale((h, w)) == 2.06  # the uncapped choice: under 64 px left
    capped = auto_settings(size, image_shape=(h, w))
    assert capped["downscale"] == 2.06 and capped["marker_sigma"] == pytest.approx(SIGMA_PER_RADIUS * size.radius / 2.06, abs=0.01)
    labels = segment(image, markers=np.array([[66.0, 85.0]]), config={"n_steps": 30})
    assert labels.attrs["labelfree"]["auto"]["downscale"] == 2.06
    score = evaluate(labels.values, truth)
    assert score["tp"] == 1 and score["mean_iou"] > 0.9


def test_cell_size_without_mask_uses_marker_spacing():
    pts = np.array([[y, x] for y in range(20, 200, 40) for x in range(20, 200, 40)], float)
    size = estimate_cell_size(pts)
    assert size.source == "spacing" and size.spacing == pytest.approx(40.0) and size.radius == pytest.approx(20.0)
    with pytest.raises(InputError, match="single marker"):
        estimate_cell_size(np.array([[5.0, 5.0]]))
    with pytest.raises(InputError, match="without markers"):
        estimate_cell_size(np.zeros((0, 2)))


def test_config_auto_values():
    cfg = CutterConfig()
    assert cfg.downscale is None and cfg.marker_sigma is None
    assert CutterConfig(downscale="auto", marker_sigma="auto").downscale is None
    assert CutterConfig.from_dict({"downscale": 2.5}).downscale == 2.5
    with pytest.raises(ConfigError, match=r"downscale must be a finite number or null \(automatic\) > 0"):
        CutterConfig(downscale=0)
    with pytest.raises(ConfigError, match=r"marker_sigma must be a finite number or null \(automatic\) > 0"):
        CutterConfig(marker_sigma="wide")
    assert CutterConfig(mask_smoothing=0).mask_smoothing == 0  # no smoothing, as in the authors' code


def test_non_integer_rescaling_matches_the_integer_path():
    rng = np.random.default_rng(0)
    probs = rng.random((6, 16, 16)).astype(np.float32)
    corners = rng.integers(0, 40, (6, 2))
    whole = integrate_patches(probs, corners, shape=(90, 90), upscale=2)
    per_axis = integrate_patches(probs, corners, shape=(90, 90), upscale=(2.0, 2.0000001))
    assert (whole == per_axis).mean() > 0.999
    # a patch scaled by 1.5 covers 1.5 times its side
    one = integrate_patches(np.ones((1, 16, 16), np.float32), np.array([[20, 20]]), shape=(60, 60), upscale=1.5)
    rows = np.nonzero(one.any(axis=1))[0]
    assert (rows[0], rows[-1] + 1) == (18, 42)


def test_segment_records_the_automatic_scale(caplog):
    pytest.importorskip("torch")
    from labelfree.cutter import segment

    mask, centres = _cells(10, n=3, seed=1)
    rng = np.random.default_rng(0)
    image = mask * 1.0 + rng.normal(0, 0.1, mask.shape)
    with caplog.at_level(logging.INFO, logger="labelfree.cutter.segment"):
        labels = segment(image.astype(np.float32), markers=centres, config=CutterConfig(width=4, n_steps=2, crop_size=32))
    auto = labels.attrs["labelfree"]["auto"]
    assert auto["cell_size"]["source"] == "mask" and 8 <= auto["cell_size"]["radius"] <= 13
    assert auto["downscale"] == pytest.approx(auto["cell_size"]["radius"] / (FILL * 16), abs=0.01)
    assert auto["mask_smoothing"] == SMOOTHING_RANGE[0]  # small cells: the least smoothing
    assert auto["area_size"] == AREA_SIZE  # they fill the 32 px patch after downscaling
    assert labels.attrs["labelfree"]["config"]["downscale"] is None  # the config as given; the choice in "auto"
    assert "Cutter automatic scale" in caplog.text


@pytest.mark.slow
def test_saved_model_is_applied_at_the_scale_it_was_trained_for(tmp_path, caplog):
    pytest.importorskip("torch")
    from cutter_synth import two_channel_cells

    from labelfree.cutter import load_model, segment
    from labelfree.metrics import evaluate

    image, truth, nuclei, _ = two_channel_cells(seed=0, size=128)
    cfg = CutterConfig(width=8, crop_size=32, n_steps=80, cell_fraction=0.24, mask_signal="intensity")
    path = tmp_path / "m.pt"
    trained = segment(image[0], markers=nuclei, config=cfg, save_model=path)
    d_train = trained.attrs["labelfree"]["auto"]["downscale"]
    model = load_model(path)
    assert model.config.downscale == d_train and model.cell_radius == pytest.approx(
        trained.attrs["labelfree"]["auto"]["cell_size"]["radius"] / d_train, rel=1e-3)
    assert evaluate(trained.values, truth)["mean_iou"] > 0.8
    # the same kind of image at twice the magnification: rescaled by twice the factor, no retraining
    big, big_truth, big_nuclei = (np.kron(a, np.ones((2, 2), a.dtype)) for a in (image[0], truth, nuclei))
    applied = segment(big, markers=big_nuclei, config=cfg, model=path)
    auto = applied.attrs["labelfree"]["auto"]
    assert auto["downscale"] == pytest.approx(2 * d_train, rel=0.1)
    assert applied.attrs["labelfree"]["training_steps"] == 0
    assert evaluate(applied.values, big_truth)["mean_iou"] > 0.8
    # at half the size the image would have to be enlarged past the floor: said, not silent
    small, small_nuclei = image[0][::2, ::2], nuclei[::2, ::2]
    with caplog.at_level("WARNING", logger="labelfree"):
        shrunk = segment(small, markers=small_nuclei, config=cfg, model=path)
    assert shrunk.attrs["labelfree"]["auto"]["downscale"] == MIN_DOWNSCALE
    assert "images are enlarged at most 2 times, so using 0.5" in caplog.text, d_train


@pytest.mark.parametrize("n_cells, seed", [(20, 0), (30, 1)])
def test_dense_fields_keep_every_cell_with_the_default_mask(n_cells, seed):
    """Cells covering half the image or more: the background is not the median then (it was a cell level,
    and the default mask kept 7 of 20 cells)."""
    import torch

    from labelfree.datasets import synthetic_cells_and_nuclei
    from labelfree.metrics import evaluate
    from labelfree.run import run_pipeline

    torch.set_num_threads(1)
    image, truth = synthetic_cells_and_nuclei((192, 192), n_cells=n_cells, seed=seed)[:2]
    assert (np.asarray(truth) > 0).mean() > 0.5
    labels = run_pipeline("cutter", image, config={"nucleus_channel": "nuclei", "n_steps": 30})
    scores = evaluate(np.asarray(labels), np.asarray(truth))
    assert scores["f1"] >= 0.95 and scores["pixel_f1"] >= 0.93, scores


def test_background_of_sparse_fields_is_still_the_median():
    from scipy import ndimage as ndi

    from labelfree.cutter.graphcut import background_and_noise

    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 5.0, (128, 128))
    image[20:40, 20:40] += 400.0  # 2.4 % of the pixels are cells
    image = ndi.gaussian_filter(image, 1)
    med = float(np.median(image))
    assert background_and_noise(image) == (med, 1.4826 * float(np.median(np.abs(image - med))))


def _bright_and_dim_pairs(gap: int, radius: int = 3, seed: int = 0):
    """Four pairs of disks of ``radius`` px: a bright cell (1100) and a dim one (300) whose centres
    lie ``gap`` px apart, on a background of 100 with noise 5; the image and the centres."""
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    image = np.full((160, 160), 100.0)
    bright, dim = [], []
    for k in range(4):
        y, x = 20 + 40 * k, 60
        image[disk((y, x), radius, shape=image.shape)] = 1100.0
        image[disk((y, x + gap), radius, shape=image.shape)] = 300.0
        bright.append((y, x))
        dim.append((y, x + gap))
    return (image + rng.normal(0, 5, image.shape))[None], np.array(bright, float), np.array(dim, float)


def test_the_local_window_shrinks_only_where_9_px_leaves_marked_cells_out():
    from labelfree.cutter.prepare import PEAK_WINDOWS, choose_peak_window, foreground_mask

    cfg = CutterConfig(mask_smoothing=1.0)
    # touching cells 6 px across: from the dim cell's centre a 9 px square reaches into the bright
    # one, whose brightness sets the threshold; the dim cells (half the markers) fall out with 9 px,
    # not with 7
    image, bright, dim = _bright_and_dim_pairs(gap=6)
    markers = np.concatenate([bright, dim])
    window, coverage = choose_peak_window([(image, markers)], cfg)
    assert coverage[9] == 0.5 and coverage[7] == 1.0 and window == 7
    assert foreground_mask(image, cfg.replace(mask_peak_window=9, mask_keep_marked=False))[tuple(dim[0].astype(int))] == 0
    mask = foreground_mask(image, cfg, markers=markers)  # automatic window, chosen on this frame
    assert mask[tuple(dim.astype(int).T)].all() and mask[tuple(bright.astype(int).T)].all()
    # the same cells apart: every marker is in with 9 px, which stays
    image, bright, dim = _bright_and_dim_pairs(gap=20)
    window, coverage = choose_peak_window([(image, np.concatenate([bright, dim]))], cfg)
    assert coverage[9] == 1.0 and window == PEAK_WINDOWS[0] == 9
    # no marker at all: nothing to measure, 9 px
    assert choose_peak_window([(image, np.zeros((0, 2)))], cfg)[0] == 9


def _glowing_nuclei(seed: int = 0):
    """A 5 x 5 grid of bright nuclei (Gaussian, sigma 5 px, peak 200) whose light fades slowly into a dark
    background of 2 grey levels (integer values, noise 0.7), and a dim nucleus (peak 15) 11 px beside the
    middle one; the image (1, Y, X), the centres (bright ones first) and the disks of radius 9 px around the
    bright ones (about where the light falls to a fifth of the peak)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:300, :300]
    image, centres, cores = np.zeros((300, 300)), [], np.zeros((300, 300), bool)
    for y in (30, 90, 150, 210, 270):
        for x in (30, 90, 150, 210, 270):
            image += 200 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 5.0**2))
            centres.append((y, x))
            cores |= (yy - y) ** 2 + (xx - x) ** 2 <= 81
    image += 15 * np.exp(-((yy - 150) ** 2 + (xx - 161) ** 2) / (2 * 4.0**2))
    centres.append((150, 161))
    image = np.clip(np.round(2 + image + rng.normal(0, 0.7, image.shape)), 0, 255)
    return image[None], np.array(centres, float), cores


def test_a_smaller_window_must_add_cells_not_the_glow_around_every_cell():
    """BBBC007-like nuclei (their light fades into a background of a few grey levels): 9 px leaves the dim
    nucleus beside a bright one out; smaller windows take it in, but also compare each pixel of every
    nucleus's glow with itself and call it cell down to the noise floor. With the cell area known, those
    windows call more than PEAK_WINDOW_GROWTH cells' worth of pixels for the marker they add and do not
    compete: 9 px stays, and the mask stays on the nuclei (measured on BBBC007: mask precision 0.44 with
    3 px, 0.89 with 9)."""
    from labelfree.cutter.prepare import (PEAK_WINDOW_GROWTH, _window_trials, choose_peak_window, foreground_mask,
                                          peak_window_trial)

    cfg = CutterConfig(mask_smoothing=1.0)
    image, centres, cores = _glowing_nuclei()
    hits, called, total = _window_trials([(image, centres)], cfg, (9, 7, 5, 3))
    assert total == 26 and hits[9] == 25 and hits[7] == hits[5] == hits[3] == 26
    assert called[7] - called[9] > 1.2 * PEAK_WINDOW_GROWTH * np.pi * 81  # the glow of 25 nuclei for one marker
    assert choose_peak_window([(image, centres)], cfg)[0] == 7  # coverage alone: the smaller window
    window, coverage = choose_peak_window([(image, centres)], cfg, cell_area=np.pi * 81)
    assert window == 9 and coverage[9] == 25 / 26
    growth = peak_window_trial([(image, centres)], cfg, cell_area=np.pi * 81)[2]  # the provenance's window_growth
    assert growth[7] > PEAK_WINDOW_GROWTH and growth[3] > growth[5] > growth[7]
    # no size measured (not finite): coverage alone, and no growth to record
    assert peak_window_trial([(image, centres)], cfg, cell_area=float("nan"))[::2] == (7, {7: None, 5: None, 3: None})
    precision = {}
    for w in (window, 3):
        mask = foreground_mask(image, cfg.replace(mask_peak_window=w), markers=centres)
        precision[w] = np.count_nonzero(mask & cores) / np.count_nonzero(mask)
    assert precision[9] > 0.9 and precision[3] < 0.5
    # where the smaller window adds the dim cells themselves (touching pairs), it is still chosen
    image, bright, dim = _bright_and_dim_pairs(gap=6)
    assert choose_peak_window([(image, np.concatenate([bright, dim]))], cfg, cell_area=np.pi * 9)[0] == 7


def test_the_automatic_scale_says_why_it_kept_9_px_and_records_the_growth(caplog):
    """Cutter's automatic scale on the glowing nuclei with their centres as markers: the cell size it measures
    itself, 9 px kept, the growth in the provenance's record and the reason in the log (ImageJ's Log)."""
    import logging

    from labelfree.cutter.segment import resolve_scale
    from labelfree.image import to_dataarray

    image, centres, _ = _glowing_nuclei()
    points = np.column_stack([np.zeros(len(centres)), centres])
    with caplog.at_level(logging.INFO, logger="labelfree"):
        cfg, record, _ = resolve_scale(to_dataarray(image, dims="TYX"), CutterConfig(), markers=points)
    assert cfg.mask_peak_window == record["mask_peak_window"] == 9
    assert record["marker_coverage"]["7"] == 1.0 and record["window_growth"]["7"] > 4
    said = [r for r in caplog.records if "local window" in r.getMessage()]
    assert len(said) == 1 and "a 7 px local window" in said[0].getMessage()
    assert "mask_peak_window 9 px" in said[0].getMessage()
    from labelfree._log_notes import is_log_note

    assert is_log_note(said[0].name, said[0].getMessage())  # a note of the run: ImageJ's Log shows it


def _cells_with_protrusions(protrusions: bool, seed: int = 0, arms: bool = False):
    """Bright round cell bodies (radius 14 px) on a noisy background; with ``protrusions`` each has
    three thin faint processes (3 px wide, 40 px long, 3 noise units bright) that the local test misses;
    with ``arms`` their first 16 px are as bright and thick (7 px) as the body (a branched cell).
    Returns the image (1, Y, X), the centres, the faint processes and the bright bodies (with arms)."""
    from skimage.draw import disk, line

    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 2.0, (200, 200))
    centres = np.array([[50.0, 50.0], [50.0, 150.0], [150.0, 50.0], [150.0, 150.0]])
    processes, bodies = np.zeros(image.shape, bool), np.zeros(image.shape, bool)
    for cy, cx in centres:
        bodies[disk((cy, cx), 14, shape=image.shape)] = True
        if protrusions:
            for angle in rng.uniform(0, 2 * np.pi, 3):
                dy, dx = np.sin(angle), np.cos(angle)
                rr, cc = line(int(cy + 12 * dy), int(cx + 12 * dx), int(cy + 52 * dy), int(cx + 52 * dx))
                keep = (rr >= 0) & (rr < 200) & (cc >= 0) & (cc < 200)
                processes[rr[keep], cc[keep]] = True
                if arms:
                    ra, ca = line(int(cy), int(cx), int(cy + 30 * dy), int(cx + 30 * dx))
                    arm = np.zeros(image.shape, bool)
                    arm[ra, ca] = True
                    bodies |= ndi_dilate(arm, 3)
    processes = ndi_dilate(processes, 1) & ~bodies
    image[bodies] += 60.0
    image[processes] += 6.0
    return image.astype(np.float32)[None], centres, processes, bodies


def ndi_dilate(mask, r):
    from scipy import ndimage as ndi

    return ndi.binary_dilation(mask, iterations=r)


def test_ridge_growth_takes_faint_thin_processes_into_the_mask_of_cells_that_have_them():
    from labelfree.cutter.prepare import RIDGE_SOLIDITY, cell_solidity, foreground_mask, grow_along_ridges

    cfg = CutterConfig(mask_smoothing=2.0, mask_peak_window=9, mask_ridges="auto")
    assert cfg.mask_ridges is None and CutterConfig().mask_ridges is None  # automatic by default
    image, centres, processes, bodies = _cells_with_protrusions(True)
    plain = foreground_mask(image, cfg.replace(mask_ridges=False), markers=centres)
    assert plain[processes].mean() < 0.5  # the local test leaves most of the processes out
    grown = grow_along_ridges(image, plain, cfg)
    assert grown[processes].mean() > 0.8 and (grown & ~plain).sum() > 0.5 * processes.sum()
    added = grown & ~plain
    assert added[ndi_dilate(processes | bodies, 2)].sum() >= 0.8 * added.sum()  # mostly the cells' own pixels
    # automatic, per frame: the plain mask of round bodies is compact, so nothing is grown ...
    assert cell_solidity(image, plain, centres, cfg) > RIDGE_SOLIDITY
    np.testing.assert_array_equal(foreground_mask(image, cfg, markers=centres), plain)
    # ... while branched cells (bright arms, faint processes beyond them) are grown along their processes
    image, centres, processes, bodies = _cells_with_protrusions(True, arms=True)
    plain = foreground_mask(image, cfg.replace(mask_ridges=False), markers=centres)
    assert cell_solidity(image, plain, centres, cfg) < RIDGE_SOLIDITY and plain[processes].mean() < 0.5
    assert foreground_mask(image, cfg, markers=centres)[processes].mean() > 0.8
    round_image, round_centres, _, _ = _cells_with_protrusions(False)
    round_mask = foreground_mask(round_image, cfg, markers=round_centres)
    assert cell_solidity(round_image, round_mask, round_centres, cfg) > 0.95
    np.testing.assert_array_equal(round_mask, foreground_mask(round_image, cfg.replace(mask_ridges=False),
                                                              markers=round_centres))


def test_the_ridge_scale_follows_the_cell_size_below_the_smoothing_s_4_px_cap():
    """Was: the ridges were found at the mask smoothing, which stops at 4 px: for cells of radius 50 px (MSC at half
    size) that is 0.08 R, and 3 px wide processes were found in pieces, blurred into the background beside them."""
    from labelfree.cutter.prepare import foreground_mask, grow_along_ridges, ridge_sigma

    image, centres, processes, bodies = _cells_with_protrusions(True, arms=True)
    near = ndi_dilate(processes | bodies, 2)
    cfg = CutterConfig(mask_smoothing=4.0, mask_peak_window=9, mask_ridges=False, downscale=50 / 28.8)
    assert ridge_sigma(cfg) == 2.0 and ridge_sigma(cfg.replace(downscale=None)) == 4.0  # R / 25; none known: 4
    assert ridge_sigma(cfg.replace(downscale=0.5)) == 2.0 and ridge_sigma(cfg.replace(downscale=4.0)) == 4.0
    assert ridge_sigma(cfg.replace(downscale=0.5, mask_smoothing=1.0)) == 1.0  # small cells: their smoothing
    plain = foreground_mask(image, cfg, markers=centres)
    grown = grow_along_ridges(image, plain, cfg)
    added = grown & ~plain
    assert grown[processes].mean() > 0.9 and (added & ~near).sum() < 0.35 * added.sum()
    coarse = grow_along_ridges(image, plain, cfg.replace(downscale=None))  # the smoothing's 4 px
    assert coarse[processes].mean() < 0.6 and (coarse & ~plain & ~near).sum() > 0.5 * (coarse & ~plain).sum()


def test_automatic_ridges_are_decided_once_for_the_movie_and_recorded():
    from labelfree.cutter.prepare import foreground_mask
    from labelfree.cutter.segment import resolve_scale
    from labelfree.image import to_dataarray

    for arms, expected in ((True, True), (False, False)):
        image, centres, processes, _ = _cells_with_protrusions(True, arms=arms)
        movie = to_dataarray(np.repeat(image, 3, axis=0), dims="TYX")
        markers = np.array([[t, y, x] for t in range(3) for y, x in centres])
        cfg, auto, masks = resolve_scale(movie, CutterConfig(mask_ridges="auto"), markers=markers)
        assert bool(cfg.mask_ridges) is expected and bool(auto["mask_ridges"]) is expected
        assert bool(auto["cell_solidity"] < 0.9) is expected
        assert sorted(masks) == [0, 1, 2]  # the masks drawn for the decision are the run's masks
        np.testing.assert_array_equal(masks[1], foreground_mask(image, cfg, markers=centres))
        assert bool(masks[1][processes].mean() > 0.8) is expected
    _, auto, _ = resolve_scale(movie, CutterConfig(), markers=markers)
    assert auto["mask_ridges"] is False and auto["cell_solidity"] > 0.9  # automatic by default: measured
    # ridges asked for: the cells are measured on the plain mask all the same, as where they are automatic (they
    # were measured on the grown mask: MSC's radius 100 -> 124 px, another downscale)
    image, centres, processes, _ = _cells_with_protrusions(True, arms=True)
    movie = to_dataarray(np.repeat(image, 3, axis=0), dims="TYX")
    markers = np.array([[t, y, x] for t in range(3) for y, x in centres])
    on, on_auto, _ = resolve_scale(movie, CutterConfig(mask_ridges=None), markers=markers)
    given, given_auto, given_masks = resolve_scale(movie, CutterConfig(mask_ridges=True), markers=markers)
    assert on.mask_ridges is True and given_auto["cell_size"] == on_auto["cell_size"]
    assert (given.downscale, given.mask_smoothing) == (on.downscale, on.mask_smoothing)
    assert given_masks == {}  # drawn without ridges: the run draws its own
    _, auto, _ = resolve_scale(movie, CutterConfig(mask_ridges=False), markers=markers)
    assert "mask_ridges" not in auto and "cell_solidity" not in auto  # set: nothing measured
