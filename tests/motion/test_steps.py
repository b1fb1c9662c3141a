"""Each step of the Motion pipeline on inputs with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree import motion
from labelfree.errors import ConfigError, DimensionError, DTypeError, InputError, MissingDependencyError
from labelfree.metrics import pixel_scores
from labelfree.motion import MotionConfig


def _textured(shape=(96, 128), seed=0):
    rng = np.random.default_rng(seed)
    return (ndi.gaussian_filter(rng.random(shape), 2) * 2000).astype(np.float32)


def test_farneback_flow_recovers_a_known_shift():
    base = _textured((128, 128))
    base = (255 * (base - base.min()) / np.ptp(base)).astype(np.uint8)
    moved = np.roll(base, (2, 3), axis=(0, 1))  # content moves +3 px in x, +2 px in y
    flow = motion.farneback_flow(base, moved, config=MotionConfig(flow_blur=0))
    inner = flow[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(2.0, abs=0.3)
    assert np.median(motion.flow_magnitude(flow)[20:-20, 20:-20]) == pytest.approx(np.hypot(2, 3), abs=0.3)


@pytest.mark.parametrize("config", [{"fine_iterations": 1}, {"fine_iterations": None}, {"fine_iterations": 2},
                                    {"flow_engine": "opencv", "fine_iterations": 1},
                                    {"flow_engine": "opencv", "fine_iterations": None},
                                    {"flow_engine": "opencv"}, {"flow_method": "dis"}])
def test_every_flow_setting_recovers_a_known_shift(config):
    base = _textured((160, 192))
    base = (255 * (base - base.min()) / np.ptp(base)).astype(np.uint8)
    moved = np.roll(base, (2, 3), axis=(0, 1))
    flow = motion.farneback_flow(base, moved, config=MotionConfig(flow_blur=0, **config))
    inner = flow[24:-24, 24:-24]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(2.0, abs=0.3)


def test_the_papers_farneback_call_is_kept_as_the_reference_setting():
    """flow_engine='opencv' with fine_iterations=None (or equal to iterations) is exactly the
    paper's single OpenCV call; the default (labelfree's engine, two finest iterations) is close."""
    a = (_textured((120, 150), seed=1) / 8).astype(np.uint8)
    b = np.roll(a, (1, 2), axis=(0, 1))
    paper = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.1, 0)
    for fine in (None, 3):
        cfg = MotionConfig(flow_blur=0, flow_engine="opencv", fine_iterations=fine)
        np.testing.assert_array_equal(motion.farneback_flow(a, b, config=cfg), paper)
    for cfg in (MotionConfig(flow_blur=0), MotionConfig(flow_blur=0, flow_engine="opencv"),
                MotionConfig(flow_blur=0, fine_iterations=None)):
        flow = motion.farneback_flow(a, b, config=cfg)
        assert not np.array_equal(flow, paper)
        assert np.median(np.abs(flow - paper)[20:-20, 20:-20]) < 0.2


def test_farneback_flow_rejects_float_and_mismatched_frames():
    a = np.zeros((10, 10), np.uint8)
    with pytest.raises(InputError, match="uint8"):
        motion.farneback_flow(a.astype(np.float32), a)
    with pytest.raises(DimensionError, match="differ in size"):
        motion.farneback_flow(a, np.zeros((10, 12), np.uint8))


def test_uint8_scaling_uses_percentiles_and_leaves_input_alone():
    movie = np.linspace(1000, 2000, 3 * 40 * 40).reshape(3, 40, 40).astype(np.uint16)
    before = movie.copy()
    lo, hi = motion.uint8_range(movie, low=0, high=100)
    assert lo == pytest.approx(1000, abs=30) and hi == pytest.approx(2000, abs=30)  # 1 px in 16 read
    u8 = motion.to_uint8(movie[1], low=lo, high=hi)
    assert u8.dtype == np.uint8
    assert u8.min() <= 90 and u8.max() >= 160 and u8[0, 0] < u8[-1, -1]
    assert motion.to_uint8(np.array([[500.0, 3000.0]]), low=lo, high=hi).tolist() == [[0, 255]]
    np.testing.assert_array_equal(movie, before)
    assert motion.uint8_range(np.zeros((2, 4, 4), np.uint8)) == (0.0, 255.0)


def test_an_8_bit_movie_is_spread_over_the_range_but_never_clipped():
    full = np.linspace(0, 255, 3 * 40 * 40).round().reshape(3, 40, 40).astype(np.uint8)
    assert motion.uint8_range(full) == (0.0, 255.0)  # already using the range: used as it is
    dim = (full // 6 + 3).astype(np.uint8)  # 3..45
    lo, hi = motion.uint8_range(dim)
    assert lo >= 3 and hi <= 45 and hi - lo >= 40
    spread = np.stack([motion.to_uint8(f, low=lo, high=hi) for f in dim])
    assert (spread.min(), spread.max()) == (0, 255)
    # no value above the sample's largest is lost: the percentiles are not used on 8 bits
    assert motion.uint8_range(dim, low=10, high=90) == (lo, hi)


def test_local_entropy_equals_skimage_rank_entropy_inside():
    from skimage.filters.rank import entropy

    rng = np.random.default_rng(1)
    img = rng.normal(100, 20, (60, 80)).clip(0, 255).astype(np.uint8)
    ours = motion.local_entropy(img, size=7, bins=256)
    ref = entropy(img, np.ones((7, 7), bool))
    np.testing.assert_allclose(ours[3:-3, 3:-3], ref[3:-3, 3:-3], atol=1e-4)
    # fewer bins = entropy of the image quantised to those levels
    q = (img >> 3) << 3
    np.testing.assert_allclose(motion.local_entropy(img, bins=32)[3:-3, 3:-3],
                               entropy(q, np.ones((7, 7), bool))[3:-3, 3:-3], atol=1e-4)
    assert np.all(motion.local_entropy(np.full((20, 20), 7, np.uint8)) == 0)
    # windows of more than 255 pixels: a grey level may fill one (the counts leave uint8)
    flat = img.copy()
    flat[10:50, 10:70] = 0
    for size in (17, 21):
        h = size // 2
        np.testing.assert_allclose(motion.local_entropy(flat, size=size, bins=256)[h:-h, h:-h],
                                   entropy(flat, np.ones((size, size), bool))[h:-h, h:-h], atol=1e-4)
    with pytest.raises(ConfigError, match="power of two"):
        motion.local_entropy(img, bins=30)
    with pytest.raises(DTypeError, match="uint8"):
        motion.local_entropy(img.astype(np.uint16))


@pytest.mark.parametrize("shape,size,bins", [((23, 31), 7, 16), ((9, 12), 5, 256), ((3, 5), 7, 8)])
def test_local_entropy_on_the_whole_frame_mirrors_the_border(shape, size, bins):
    """Every pixel, border included (mirrored as MATLAB: ...cba|abc...), against a direct count;
    a frame smaller than the window too."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, shape).astype(np.uint8)
    r = size // 2
    q = np.pad(img >> (8 - int(np.log2(bins))), r, mode="symmetric")
    ref = np.empty(shape)
    for y in range(shape[0]):
        for x in range(shape[1]):
            c = np.bincount(q[y : y + size, x : x + size].ravel()).astype(float)
            p = c[c > 0] / size**2
            ref[y, x] = -(p * np.log2(p)).sum()
    np.testing.assert_allclose(motion.local_entropy(img, size=size, bins=bins), ref, atol=1e-5)


def test_gradient_magnitude_is_forward_difference():
    img = np.array([[0, 3, 3], [4, 3, 3], [4, 3, 3]], np.uint8)
    g = motion.gradient_magnitude(img)
    assert g[0, 0] == pytest.approx(5.0)  # gx = 3, gy = 4
    assert g[0, 2] == 0 and g[2, 2] == 0  # last column/row: no forward neighbour


def test_feature_registry_accepts_new_features():
    name = "test_inverted"
    motion.register_feature(name, lambda frame, /, *, config: 255.0 - frame)
    try:
        img = np.arange(64, dtype=np.uint8).reshape(8, 8)
        f = motion.compute_features(img, config=MotionConfig(features=("gradient", name)))
        assert f.shape == (2, 8, 8)
        assert f[1, 0, 1] == 254.0
        assert np.all(f != 0)  # exact zeros become 0.001, as the paper
        cfg = MotionConfig(features=("gradient", name))
        motion.FEATURES.pop(name)
        with pytest.raises(ConfigError, match="Unknown"):  # unregistered after the config was made
            motion.compute_features(img, config=cfg)
        motion.FEATURES[name] = lambda frame, /, *, config: 255.0 - frame
    finally:
        motion.FEATURES.pop(name)


def test_config_rejects_unknown_features_listing_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown feature\(s\) \['entropi'\]; valid features are .*'entropy'"):
        MotionConfig(features=("entropi", "gradient"))
    with pytest.raises(ConfigError, match="no feature"):
        MotionConfig(features=())
    with pytest.raises(ConfigError, match="valid features"):
        MotionConfig.from_dict({"features": ["gradient", "texture"]})
    assert MotionConfig(features="gradient").features == ("gradient",)


def test_postprocess_steps_match_reference_definitions():
    from skimage.morphology import closing, disk

    rng = np.random.default_rng(2)
    mask = ndi.gaussian_filter(rng.random((80, 90)), 3) > 0.52
    closed = motion.close_disk(mask, radius=5)
    padded = np.pad(mask, 6)
    np.testing.assert_array_equal(closed, closing(padded, disk(5))[6:-6, 6:-6])
    np.testing.assert_array_equal(motion.fill_mask_holes(mask), ndi.binary_fill_holes(mask))
    ring = np.zeros((20, 20), bool)
    ring[5:15, 5:15] = True
    ring[8:12, 8:12] = False
    assert motion.fill_mask_holes(ring).sum() == 100
    blobs = np.zeros((30, 30), bool)
    blobs[0:5, 0:5] = True  # touches the border, 25 px
    blobs[10:20, 10:20] = True  # 100 px
    blobs[25:27, 12:14] = True  # 4 px
    assert motion.remove_small(blobs, min_size=10).sum() == 125
    assert motion.clear_border_objects(blobs).sum() == 104
    out = motion.postprocess(blobs, min_size=10, closing_radius=2, clear_border=True)
    assert out.sum() == 100


def test_candidate_mask_and_cell_size_estimate():
    mag = np.zeros((200, 200), np.float32)
    mag[20:60, 20:60] = 2.0  # moving square, 1600 px
    mag[100:150, 100:150] = 2.0  # 2500 px
    mag[180:183, 180:183] = 2.0  # speck, removed
    mask = motion.candidate_mask(mag, threshold=1.0, min_size=50, radius=5)
    assert mask.sum() == 1600 + 2500
    # area-weighted median = 2500; 0.25 of it
    assert motion.estimate_cell_size(mag, threshold=1.0, fraction=0.25) == 625
    assert motion.estimate_cell_size(np.zeros((200, 200), np.float32), threshold=1.0) == 11


def test_threshold_rules_on_a_known_histogram():
    mag = np.repeat(np.arange(1, 101, dtype=np.float32) / 100, 100).reshape(100, 100)  # 0.01 .. 1.0
    ent = np.ones_like(mag)
    # background: smallest step (start/400) where the slower pixels hold > 250 bits
    th_bg = motion.background_threshold(mag, ent, start=0.4, target=250, max_factor=0.5)
    assert th_bg == pytest.approx(0.03, abs=1.5e-3)  # one 0.001 step of float32 rounding at bin edges
    # capped at max_factor * start
    assert motion.background_threshold(mag, ent, start=0.4, target=1e9, max_factor=0.05) == pytest.approx(0.02)
    # cell: lower from 0.5 in 0.05 steps until 1000 more bits are inside (10 speed levels)
    th_cell = motion.cell_threshold(mag, ent, start=0.5, step=0.05, extra=1000)
    assert th_cell == pytest.approx(0.35, abs=1e-6)
    assert motion.cell_threshold(mag, ent, start=0.5, step=0.05, extra=1e9) == pytest.approx(0.5 * 5e-4)


def test_self_label_separates_moving_and_still_regions():
    mag = np.tile(np.linspace(0.01, 0.05, 120, dtype=np.float32), (120, 1))  # slow drift left->right
    block = np.zeros_like(mag)
    block[30:70, 30:70] = 3.0
    mag += ndi.gaussian_filter(block, 3)  # a moving cell with a soft flow edge
    ent = np.full(mag.shape, 3.0, np.float32)
    sl = motion.self_label(mag, ent, min_size=50, config=MotionConfig())
    assert sl.cell[35:65, 35:65].all() and not sl.cell[:20].any()
    assert sl.background[:, :2].all() and not sl.background[30:70, 25:75].any()
    assert 240 <= sl.background.sum() <= 1200  # paper target 1e5 bits x (14400 px / 2e6) = 240 px of 3 bits
    assert not (sl.cell & sl.background).any()


def test_binned_self_labels_match_full_resolution():
    mag = np.tile(np.linspace(0.01, 0.05, 240, dtype=np.float32), (240, 1))
    block = np.zeros_like(mag)
    block[60:140, 60:140] = 3.0
    mag += ndi.gaussian_filter(block, 6)
    ent = np.full(mag.shape, 3.0, np.float32)
    full = motion.self_label(mag, ent, min_size=200, config=MotionConfig(), binning=1)
    binned = motion.self_label(mag, ent, min_size=200, config=MotionConfig(), binning=2)
    assert binned.cell.shape == full.cell.shape == mag.shape
    assert binned.cell_threshold == pytest.approx(full.cell_threshold, rel=0.15)
    assert binned.background_threshold == pytest.approx(full.background_threshold, rel=0.1)
    assert pixel_scores(binned.cell, full.cell)["f1"] > 0.97
    assert pixel_scores(binned.background, full.background)["f1"] > 0.9
    assert not (binned.cell & binned.background).any()


def test_smoothed_log_intensity_is_log_of_blurred_grey_level():
    img = np.zeros((21, 21), np.uint8)
    img[10, 10] = 255
    f = motion.smoothed_log_intensity(img, sigma=0)
    assert f[10, 10] == pytest.approx(np.log(256.0)) and f[0, 0] == 0
    g = motion.smoothed_log_intensity(img, sigma=1.0)
    assert 0 < g[10, 10] < np.log(256.0) and g[10, 12] > 0 and g[0, 0] == 0
    cfg = MotionConfig(features=("entropy", "log_intensity"))
    assert motion.compute_features(img, config=cfg).shape == (2, 21, 21)


def test_classifier_learns_from_self_labels():
    rng = np.random.default_rng(0)
    truth = np.zeros((60, 60), bool)
    truth[10:40, 10:40] = True
    f = np.stack([np.where(truth, 4.0, 1.0) + rng.normal(0, 0.3, truth.shape),
                  np.where(truth, 20.0, 5.0) + rng.normal(0, 3, truth.shape)]).astype(np.float32)
    cell = np.zeros_like(truth)
    cell[20:30, 20:30] = True  # a few sure pixels of each class
    bg = np.zeros_like(truth)
    bg[50:, 50:] = True
    model = motion.train_classifier(f, cell, bg, max_pixels=50)
    pred = motion.classify_frame(f, model)
    assert (pred == truth).mean() > 0.99
    prob = motion.cell_probability(f, model)
    np.testing.assert_allclose(prob.ravel(), model.predict_proba(f.reshape(2, -1).T)[:, 1], atol=1e-4)
    assert motion.train_classifier(f, cell, np.zeros_like(bg)) is None


def test_instances_of_large_cells_split_on_binned_masks():
    """Cells of >= DECLUMP_BIN_AREA px are split on the 2x2-binned clump: the same cells, connected pieces."""
    from labelfree.motion.postprocess import DECLUMP_BIN_AREA

    yy, xx = np.mgrid[0:140, 0:290]
    centres = [(70, 40), (70, 108), (70, 176), (72, 244)]  # a chain of touching disks, r = 35
    disks = [np.hypot(yy - cy, xx - cx) < 35 for cy, cx in centres]
    clump = np.any(disks, axis=0)
    area = np.pi * 35**2
    assert area >= DECLUMP_BIN_AREA
    binned = motion.to_instances(clump, cell_area=area, neck_ratio=0.8)
    full = motion.to_instances(clump, cell_area=area, neck_ratio=0.8, binning=1)
    assert binned.max() == full.max() == 4
    assert np.array_equal(binned > 0, clump)  # every pixel labelled, none added
    for d in disks:  # each disk is one piece (the cuts differ from the full-size ones by a pixel or so)
        ids, counts = np.unique(binned[d], return_counts=True)
        assert counts.max() / d.sum() > 0.9
    for i in range(1, 5):  # every piece is one 8-connected region
        assert cv2.connectedComponents((binned == i).astype(np.uint8), connectivity=8)[0] == 2
    agree = [(binned == i) & (full == j) for i in range(1, 5) for j in range(1, 5)]
    assert sum(int(a.sum()) for a in agree if a.sum() > 0.5 * area) > 0.97 * clump.sum()


def test_binned_split_reconnects_cut_off_parts():
    from labelfree.motion.postprocess import _connect_pieces

    parts = np.zeros((6, 10), np.uint32)
    parts[1:5, 1:5] = 1
    parts[1:5, 5:9] = 2
    parts[2:4, 7] = 1  # a part of piece 1 inside piece 2, cut off from piece 1's body
    fixed = _connect_pieces(parts)
    assert np.array_equal(fixed[2:4, 7], [2, 2]) and (fixed == 1).sum() == 16
    assert fixed is not parts and parts[2, 7] == 1  # the input is left alone


def test_instances_split_touching_disks_and_link_ids():
    yy, xx = np.mgrid[0:60, 0:100]
    two = (np.hypot(yy - 30, xx - 30) < 15) | (np.hypot(yy - 30, xx - 56) < 15)
    lab = motion.to_instances(two, declump=True, cell_area=np.pi * 15**2)
    assert motion.to_instances(two, declump=True).max() == 1  # alone, a clump looks like one cell
    assert lab.max() == 2
    assert motion.to_instances(two, declump=False).max() == 1
    linker = motion.OverlapLinker(min_iou=0.3)
    first = linker.link(lab)
    shifted = np.roll(lab, 2, axis=1)
    swapped = np.where(shifted == 1, 2, np.where(shifted == 2, 1, 0))  # other ids, same objects
    second = linker.link(swapped)
    assert second[30, 32] == first[30, 30] and second[30, 58] == first[30, 56]
    third = linker.link(np.zeros_like(lab))
    fourth = linker.link(lab)
    assert third.max() == 0 and set(np.unique(fourth)) == {0, 1, 2}  # an empty frame between: ids kept
    strict = motion.OverlapLinker(min_iou=0.3, max_gap=0)  # no gap closing: new objects, new ids
    strict.link(lab)
    strict.link(np.zeros_like(lab))
    assert set(np.unique(strict.link(lab))) == {0, 3, 4}


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="flow_reference"):
        MotionConfig(flow_reference="zero")
    with pytest.raises(ConfigError, match="drift_correction"):
        MotionConfig(drift_correction="yes")
    with pytest.raises(ConfigError, match="Unknown MotionConfig"):
        MotionConfig.from_dict({"window": 3})
    cfg = MotionConfig.from_dict({"features": ["entropy"], "cell_threshold": 0.5})
    assert cfg.features == ("entropy",) and MotionConfig.from_dict(cfg.to_dict()) == cfg


def test_plot_flow_field_needs_matplotlib_or_writes_png(tmp_path):
    flow = np.zeros((32, 32, 2), np.float32)
    flow[..., 0] = 1.0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="pip install"):
            motion.plot_flow_field(flow, tmp_path / "f.png")
        return
    out = motion.plot_flow_field(flow, tmp_path / "f.png", step=8)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_flow_field_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    """Before, it called matplotlib.use("Agg"): a notebook's or a GUI's backend was switched for the whole
    process. A separate process, so that this one's backend is not touched."""
    import subprocess
    import sys

    pytest.importorskip("matplotlib")
    code = ("import matplotlib, numpy as np, sys; matplotlib.use('svg'); from labelfree import motion; "
            "f = np.ones((32, 32, 2), np.float32); motion.plot_flow_field(f, sys.argv[1], image=f[..., 0]); "
            "print(matplotlib.get_backend())")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.png")], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "svg"
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kernel_naive_bayes_learns_a_two_mode_cell_class():
    # cell grey levels 1 or 9, background 5 or 13: no pair of normal densities (a
    # quadratic boundary) separates that, the kernel densities can
    rng = np.random.default_rng(1)
    truth = np.zeros((80, 80), bool)
    truth[10:30, 10:70] = truth[50:70, 10:70] = True
    level = np.full(truth.shape, 5.0)
    level[:, 40:] = 13.0
    level[10:30, 10:70], level[50:70, 10:70] = 1.0, 9.0
    f = (level + rng.normal(0, 0.4, truth.shape)).astype(np.float32)[None]
    cell = np.zeros_like(truth)
    cell[15:25, 20:60] = cell[55:65, 20:60] = True
    bg = ~truth & (rng.random(truth.shape) < 0.5)
    kernel = motion.train_classifier(f, cell, bg, kind="kernel")
    gauss = motion.train_classifier(f, cell, bg, kind="gaussian")
    assert isinstance(kernel, motion.KernelNB)
    assert (motion.classify_frame(f, kernel) == truth).mean() > 0.99
    assert (motion.classify_frame(f, gauss) == truth).mean() < 0.9
    # the posterior on the stack equals the one on sample rows
    prob = motion.cell_probability(f, kernel)
    np.testing.assert_allclose(prob.ravel(), kernel.predict_proba(f.reshape(1, -1).T)[:, 1], atol=1e-5)
    # partial_fit adds counts on the first grid
    before = kernel.counts_.sum()
    kernel.partial_fit(f.reshape(1, -1).T[:100], np.ones(100))
    assert kernel.counts_.sum() == before + 100
    with pytest.raises(ConfigError, match="'gaussian' or 'kernel'"):
        motion.train_classifier(f, cell, bg, kind="forest")


def test_boundary_refinement_removes_a_halo():
    yy, xx = np.mgrid[0:120, 0:120]
    truth = np.hypot(yy - 60, xx - 60) < 25
    rng = np.random.default_rng(2)
    frame = np.clip(np.where(truth, 150.0, 40.0) + rng.normal(0, 12, truth.shape), 0, 255).astype(np.uint8)
    halo = np.hypot(yy - 60, xx - 60) < 28  # 3 px too wide, as after a 7x7 entropy window
    assert (halo & truth).sum() / (halo | truth).sum() < 0.8
    for kind in ("kernel", "gaussian"):
        refined = motion.refine_boundaries(frame, halo, inner=4, outer=8, sigma=1.0, kind=kind)
        assert (refined & truth).sum() / (refined | truth).sum() > 0.95
    shrunk = np.hypot(yy - 60, xx - 60) < 22  # and a mask 3 px too small grows back
    grown = motion.refine_boundaries(frame, shrunk, inner=2, outer=8, sigma=1.0, kind="gaussian")
    assert (grown & truth).sum() / (grown | truth).sum() > 0.95
    np.testing.assert_array_equal(motion.refine_boundaries(frame, np.zeros_like(truth)), np.zeros_like(truth))
    with pytest.raises(DimensionError, match="same shape"):
        motion.refine_boundaries(frame, halo[:-1])


def test_boundary_refinement_defaults_are_the_pipeline_s():
    """Called alone, refine_boundaries does what segment does to one frame with MotionConfig()."""
    import inspect

    cfg = motion.MotionConfig()
    defaults = {k: p.default for k, p in inspect.signature(motion.refine_boundaries).parameters.items()}
    assert defaults["inner"] == cfg.refine_inner and defaults["outer"] == cfg.refine_outer
    assert defaults["sigma"] == cfg.refine_sigma and defaults["kind"] == cfg.refine_classifier
    assert defaults["prior"] == cfg.class_prior and defaults["max_pixels"] == cfg.max_training_pixels
    assert defaults["min_contrast"] == cfg.refine_min_contrast


def test_classifier_refinement_and_neck_settings_are_checked():
    with pytest.raises(ConfigError, match="classifier must be"):
        MotionConfig(classifier="forest")
    with pytest.raises(ConfigError, match=r"refine_outer must be a whole number in \[1, 100\]"):
        MotionConfig(refine_outer=0)
    with pytest.raises(ConfigError, match="declump_neck_ratio"):
        MotionConfig(declump_neck_ratio=1.5)
    cfg = MotionConfig(classifier="kernel", refine_boundary=True, declump_neck_ratio=0.6)
    assert MotionConfig.from_dict(cfg.to_dict()) == cfg


def test_grey_contrast_is_the_sensitivity_index_of_two_pixel_sets():
    grey = np.array([[10.0, 12.0, 0.0, 2.0]], np.float32)
    cell = np.array([[True, True, False, False]])
    # means 11 and 1, standard deviations 1 and 1: d' = 10 / 1
    assert motion.grey_contrast(grey, cell, ~cell) == pytest.approx(10.0)
    assert motion.grey_contrast(grey, ~cell, cell) == pytest.approx(10.0)  # either polarity
    assert motion.grey_contrast(grey, cell, np.zeros_like(cell)) == 0.0
    flat = np.full((1, 4), 5.0, np.float32)
    assert motion.grey_contrast(flat, cell, ~cell) == 0.0


def test_refinement_leaves_the_mask_where_the_contrast_is_too_low():
    truth = np.zeros((80, 80), bool)
    truth[20:60, 20:60] = True
    halo = ndi.binary_dilation(truth, iterations=3)
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 10, truth.shape)
    kw = dict(inner=2, outer=8, sigma=1.0)
    for step, trims in ((40, True), (3, False)):  # d' about 5 and 0.4 after the smoothing
        frame = (100 + step * truth + noise).clip(0, 255).astype(np.uint8)
        out = motion.refine_boundaries(frame, halo, **kw, min_contrast=1.5)
        assert (out.sum() < halo.sum() - 100) == trims
        if not trims:
            np.testing.assert_array_equal(out, halo)
            assert out is not halo
            forced = motion.refine_boundaries(frame, halo, **kw, min_contrast=0)
            assert not np.array_equal(forced, halo)


@pytest.mark.parametrize("bad", [{"refine_min_contrast": -1.0}, {"refine_min_contrast": float("nan")},
                                 {"refine_classifier": "forest"}])
def test_bad_refinement_settings_are_refused(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        MotionConfig(**bad)


def test_grey_contrast_of_constant_sets():
    cell = np.array([[True, True, False, False]])
    assert motion.grey_contrast(np.array([[3.0, 3.0, 1.0, 1.0]]), cell, ~cell) == float("inf")


def test_an_8_bit_movie_is_never_clipped_by_a_frame_the_sample_skips():
    # 20 frames with values 0-39, one bright region in frame 15 (the 8-frame sample read 0, 3, 5, 8, ...,
    # 19 and gave (0, 39): 200 and 39 both became 255)
    movie = (np.arange(20 * 16 * 16) % 40).reshape(20, 16, 16).astype(np.uint8)
    movie[15, 4:8, 4:8] = 200
    assert motion.uint8_range(movie) == (0.0, 200.0)
    # blank frames are left out of the range
    movie[7] = 255
    assert motion.uint8_range(movie, skip=motion.blank_frames(movie)) == (0.0, 200.0)
