"""Graph cut, markers, patches, augmentation and integration of the Cutter pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from cutter_synth import two_channel_cells

from labelfree.cutter.dataset import augment_patches, build_patch_set, gaussian_marker, sample_area
from labelfree.cutter.graphcut import graph_cut_mask, normalize_intensity, prior_from_fraction
from labelfree.cutter.integrate import integrate_patches
from labelfree.cutter.markers import check_markers, detect_markers, guess_nucleus_channel, markers_from_labels
from labelfree.datasets import synthetic_cells_and_nuclei
from labelfree.errors import ConstantImageError, DimensionError, InputError
from labelfree.image import to_dataarray


def test_graph_cut_recovers_noisy_rectangle():
    rng = np.random.default_rng(0)
    truth = np.zeros((60, 80), bool)
    truth[10:30, 15:45] = True
    image = truth + rng.normal(0, 0.25, truth.shape)
    mask = graph_cut_mask(image, cell_fraction=truth.mean(), max_weight=2.0, sigma=0.3)
    assert (mask == truth).mean() > 0.995
    # without pairwise terms the same prior gives a noisy mask: the smoothness term matters
    noisy = graph_cut_mask(image, cell_fraction=truth.mean(), max_weight=0.0)
    assert (noisy == truth).mean() < (mask == truth).mean()


def test_graph_cut_does_not_wrap_around_the_border():
    image = np.zeros((40, 40))
    image[:, :3] = 1.0  # bright strip on the left edge only
    image[20, 20] = 0.5
    mask = graph_cut_mask(image, prior=0.5, max_weight=5.0, sigma=0.1)
    assert mask[:, :3].all() and not mask[:, -3:].any()


def test_prior_from_fraction_marks_that_fraction():
    x = normalize_intensity(np.arange(1000.0).reshape(20, 50))
    alpha = prior_from_fraction(x, cell_fraction=0.1)
    assert ((x > 1 - alpha).mean()) == pytest.approx(0.1, abs=0.002)


def test_graph_cut_constant_image_error():
    with pytest.raises(ConstantImageError, match="constant"):
        graph_cut_mask(np.ones((10, 10)))


@pytest.mark.parametrize("method", ["auto", "blob", "threshold"])
def test_detect_markers_finds_each_nucleus(method):
    image, truth, nuclei, centres = two_channel_cells(seed=3)
    pts = detect_markers(image[1], method=method, min_sigma=3.0, max_sigma=6.0, threshold=0.2)  # "auto" ignores them
    assert len(pts) == len(centres)
    d = np.linalg.norm(pts[:, None] - centres[None], axis=2)
    assert d.min(axis=1).max() < 2.5 and len(set(d.argmin(axis=1))) == len(centres)


@pytest.mark.parametrize(("seed", "photons", "n_cells"), [(3, 60.0, 15), (6, 60.0, 4), (2, 10.0, 60)])
def test_auto_markers_in_sparse_and_noisy_fields(seed, photons, n_cells):
    # a few nuclei in a large field, or few photons: Otsu alone splits the background itself (one
    # marker for 15 nuclei, 2789 for 60 before the noise floor); one marker per nucleus now
    image, truth = synthetic_cells_and_nuclei((512, 512), n_cells=n_cells, photons=photons, seed=seed)
    pts = detect_markers(image.values[1])
    hit = truth.values[tuple(np.round(pts).astype(int).T)]
    assert len(pts) == int(truth.max()) and (hit > 0).all() and len(set(hit.tolist())) == len(pts)


@pytest.mark.parametrize(("seed", "photons", "n_cells"), [(0, 60.0, 36), (1, 20.0, 100), (2, 10.0, 60), (3, 60.0, 15)])
def test_the_nucleus_channel_is_guessed_in_either_order(seed, photons, n_cells):
    image, _ = synthetic_cells_and_nuclei((512, 512), n_cells=n_cells, photons=photons, seed=seed)
    index, record = guess_nucleus_channel(image.values, names=["cells", "nuclei"])
    assert (index, record["name"], record["rule"]) == (1, "nuclei", "its objects lie inside a larger channel's")
    assert record["per_channel"][1]["inside"] > 0.9 and record["per_channel"][1]["foreground"] < 0.15
    assert guess_nucleus_channel(image.values[::-1], names=["nuclei", "cells"])[0] == 0
    # a blank third channel changes nothing
    blank = np.concatenate([image.values, np.zeros_like(image.values[:1])])
    assert guess_nucleus_channel(blank)[0] == 1


def test_without_containment_the_most_compact_channel_is_the_nucleus_channel():
    # the cells moved away from their nuclei (as a transmitted-light or unrelated channel would be):
    # the nuclei are no longer inside them, but their objects are still clearly the most compact
    image, _ = synthetic_cells_and_nuclei((512, 512), n_cells=100, photons=20.0, seed=1)
    moved = np.stack([np.roll(image.values[0], (37, 61), axis=(0, 1)), image.values[1]])
    index, record = guess_nucleus_channel(moved)
    assert (index, record["rule"]) == (1, "its objects are the most compact")
    solidity = [c["solidity"] for c in record["per_channel"]]
    assert solidity[1] >= solidity[0] + 0.1 and record["per_channel"][1]["inside"] < 0.8


def test_no_nucleus_channel_is_guessed_when_none_stands_out():
    image, _ = synthetic_cells_and_nuclei((256, 256), seed=0)
    nuclei = image.values[1]
    twins = np.stack([nuclei, np.roll(nuclei, 40, axis=1)])  # two channels of nuclei
    with pytest.raises(InputError, match=r"no channel of this image clearly shows nuclei .*a: foreground .*"
                                         r"Set nucleus_channel .*\['a', 'b'\]"):
        guess_nucleus_channel(twins, names=["a", "b"])
    with pytest.raises(DimensionError, match="2 or more channels"):
        guess_nucleus_channel(nuclei[None])


def test_markers_from_labels_are_centroids_with_ids():
    lab = np.zeros((20, 30), np.uint16)
    lab[2:5, 3:6] = 7
    lab[10:12, 20:30] = 2
    pts, ids = markers_from_labels(lab)
    assert ids.tolist() == [2, 7]
    np.testing.assert_allclose(pts, [[10.5, 24.5], [3.0, 4.0]])


def test_marker_errors():
    with pytest.raises(InputError, match="No markers"):
        check_markers(np.zeros((0, 2)), shape=(10, 10))
    with pytest.raises(InputError, match="outside the 10 x 20 image"):
        check_markers([[5, 5], [12, 3]], shape=(10, 20))
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        check_markers([[1, 2, 3]], shape=(10, 10))
    with pytest.raises(ConstantImageError, match="nucleus image is constant"):
        detect_markers(np.full((30, 30), 4.0))
    with pytest.raises(InputError, match="empty"):
        markers_from_labels(np.zeros((5, 5), int))
    with pytest.raises(InputError, match="labels >= 0"):
        markers_from_labels(-np.eye(5, dtype=np.int32))
    with pytest.raises(InputError, match="whole numbers"):
        markers_from_labels(np.eye(5) * 0.5)


def test_binary_and_float_marker_images_give_one_marker_per_nucleus(caplog):
    lab = np.zeros((20, 30), np.uint16)
    lab[2:5, 3:6] = 7
    lab[10:12, 20:30] = 2
    pts, ids = markers_from_labels(lab.astype(np.float32))  # ImageJ's 32-bit labels (ids above 65535)
    assert ids.tolist() == [2, 7]
    np.testing.assert_allclose(pts, [[10.5, 24.5], [3.0, 4.0]])
    pts, ids = markers_from_labels(lab > 0)  # a 0/1 nucleus mask: each blob is a marker (was one marker)
    assert ids.tolist() == [1, 2] and "2 separate blobs" in caplog.text
    np.testing.assert_allclose(pts, [[3.0, 4.0], [10.5, 24.5]])
    one = np.zeros((20, 30), bool)
    one[4:9, 4:9] = True
    assert markers_from_labels(one)[1].tolist() == [1]  # one blob stays one marker


def test_cutter_segment_takes_a_float_label_image_as_markers():
    from labelfree.cutter.prepare import frame_markers
    from labelfree.cutter import CutterConfig

    frame = to_dataarray(np.random.default_rng(0).random((20, 30)), dims="YX")
    lab = np.zeros((20, 30), np.float32)
    lab[2:5, 3:6] = 70000.0
    pts, ids = frame_markers(lab, frame, CutterConfig())
    assert ids.tolist() == [70000] and np.allclose(pts, [[3.0, 4.0]])


def test_patches_pad_border_markers_instead_of_dropping_them():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(2, 40, 50)).astype(np.float32)
    ps = build_patch_set(img, [[0, 0], [39, 49], [20, 25]], crop=16, sigma=4.0)
    assert len(ps.corners) == 3  # the authors' code would keep only the middle one
    x = ps.patches()
    assert x.shape == (3, 3, 16, 16)
    z = (img - img.mean(axis=(1, 2), keepdims=True)) / img.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(x[0, :2, 8:, 8:], z[:, :8, :8], rtol=1e-5)
    assert (x[0, :2, :8, :] == 0).all()  # padding = channel mean after z-scoring
    np.testing.assert_allclose(x[2, :2], z[:, 12:28, 17:33], rtol=1e-5)
    assert ps.background[:8].all() and not ps.background[8:48, 8:58].any()
    g = gaussian_marker(64, sigma=15.0)
    assert g[31, 31] == pytest.approx(np.exp(-0.5**2 / 225), rel=1e-6) and g[0, 0] == pytest.approx(0.0124, abs=1e-3)


def test_image_smaller_than_patch_error():
    with pytest.raises(InputError, match="smaller than one 64 x 64 patch"):
        build_patch_set(np.random.rand(1, 50, 100), [[10, 10]], crop=64)


def test_strip_enlarged_by_the_automatic_scale_is_named_at_the_patch_scale():
    """A 4 px strip of small bright cells is enlarged (automatic downscale 0.5), not reduced: the error
    gives the size the patches would be cut from and does not speak of downscaling."""
    import warnings

    from labelfree.cutter import segment

    img = np.random.default_rng(0).normal(100, 5, (4, 5000)).astype(np.float32)
    for c in range(100, 5000, 300):
        img[:, c - 10 : c + 10] += 80
    with warnings.catch_warnings(), pytest.raises(InputError) as err:
        warnings.simplefilter("ignore")
        segment(img)
    assert "(8 x 10000 px at the scale its patches are cut" in str(err.value)
    assert "after downscaling" not in str(err.value) and "below 1 enlarges it" in str(err.value)


def test_area_sampling_small_and_large_images():
    rng = np.random.default_rng(0)
    small = build_patch_set(rng.normal(size=(1, 100, 120)), [[10, 10], [90, 100]], crop=16)
    idx, corners, window = sample_area(small, rng, area_size=640)
    assert idx.tolist() == [0, 1] and window == (slice(0, 116), slice(0, 136))
    pts = rng.uniform(0, 1000, size=(200, 2))
    big = build_patch_set(rng.normal(size=(1, 1000, 1000)), pts, crop=64)
    for _ in range(5):
        idx, corners, window = sample_area(big, rng, area_size=640)
        assert 0 < len(idx) < 200
        assert (corners >= 0).all() and (corners < 640).all()
        assert window[0].stop - window[0].start == 704


@pytest.mark.parametrize("code", range(8))
def test_augmentation_is_inverted(code):
    x = np.arange(2 * 5 * 5).reshape(2, 5, 5)
    y = augment_patches(x, code)
    np.testing.assert_array_equal(augment_patches(y, code, inverse=True), x)
    if code:
        assert not np.array_equal(y, x)


def test_integration_argmax_threshold_and_upscale():
    probs = np.zeros((2, 4, 4), np.float32)
    probs[0] = 0.9
    probs[0, 2, 2] = 0.3  # unpadded (0, 0): below threshold, no other patch -> background
    probs[0, 3, 3] = 0.3  # unpadded (1, 1): patch 1 (0.6) wins the argmax
    probs[1] = 0.6
    # patch 0 covers unpadded rows/cols [-2, 2); patch 1 rows [0, 4), cols [1, 5)
    lab = integrate_patches(probs, [[0, 0], [2, 3]], shape=(6, 6), ids=[5, 9])
    expected = np.array(
        [[0, 5, 9, 9, 9, 0], [5, 9, 9, 9, 9, 0], [0, 9, 9, 9, 9, 0], [0, 9, 9, 9, 9, 0], [0] * 6, [0] * 6]
    )
    np.testing.assert_array_equal(lab, expected)
    # a 4x4 patch at half resolution, marker (2, 2) -> full-resolution rows/cols [0, 8) of a 8x8 image
    up = integrate_patches(np.full((1, 4, 4), 0.9, np.float32), [[2, 2]], shape=(8, 8), upscale=2)
    assert up.shape == (8, 8) and up.all()
    up = integrate_patches(np.full((1, 4, 4), 0.9, np.float32), [[1, 1]], shape=(8, 8), upscale=2)
    assert up[:6, :6].all() and not up[6:].any() and not up[:, 6:].any()


def test_time_lapse_markers_in_frames_the_movie_lacks_are_refused():
    """(t, y, x) markers of a frame the movie lacks, or at a fractional frame, were dropped by the
    per-frame split without a word; a marker stack of another length used its first frames."""
    from labelfree.cutter import segment

    frames = [two_channel_cells(seed=s) for s in (0, 1)]
    movie = to_dataarray(np.stack([f[0] for f in frames]), dims="TCYX", channel_names=["cell", "nucleus"])
    centres = [f[3] for f in frames]
    points = np.concatenate([np.c_[np.full(len(c), t), c] for t, c in enumerate(centres)])
    cfg = {"n_steps": 1, "cell_channels": ("cell",)}
    extra = np.concatenate([points, [[3, 40.0, 40.0]]])  # one marker in frame 3 of a 2-frame movie
    with pytest.raises(InputError, match=r"1 marker\(s\) are in frames the movie lacks: marker 18 \(0-based\) is in "
                                         r"frame 3, but the movie has 2 frame\(s\) \(0-1\)"):
        segment(movie, markers=extra, config=cfg)
    half = points.copy()
    half[0, 0] = 0.5
    with pytest.raises(InputError, match=r"marker 0 \(0-based\) is in frame 0.5"):
        segment(movie, markers=half, config=cfg)
    stack = np.stack([frames[0][2]] * 3)
    with pytest.raises(DimensionError, match=r"marker image has 3 frame\(s\); the movie has 2"):
        segment(movie, markers=stack, config=cfg)


def test_a_binary_nucleus_mask_is_split_and_said_once(caplog):
    """Cutter given a 0/1 nucleus mask (a movie's, here) warns once that its blobs are the markers
    (the frames were prepared twice, and the warning came twice), and uses one marker per blob."""
    from labelfree.cutter.segment import prepare

    frames = [two_channel_cells(seed=s) for s in (0, 1)]
    movie = to_dataarray(np.stack([f[0] for f in frames]), dims="TCYX", channel_names=["cell", "nucleus"])
    mask = np.stack([f[2] > 0 for f in frames])
    with caplog.at_level("WARNING", logger="labelfree.cutter.markers"):
        prepared = prepare(movie, markers=mask, config={"cell_channels": ("cell",)})
    assert caplog.text.count("holds one value (a binary mask)") == 1
    assert [len(f.ids) for f in prepared.frames] == [int(f[2].max()) for f in frames]


def test_a_marker_repeated_on_one_pixel_is_used_once_and_said(caplog):
    """Two markers on one pixel (a point clicked twice, a table row repeated) split that cell
    between two patches and one id vanished without a word; now the repeat is left out, logged."""
    from labelfree.cutter.segment import prepare

    image, _, _, centres = two_channel_cells(seed=0)
    da = to_dataarray(image, dims="CYX", channel_names=["cell", "nucleus"])
    points = np.concatenate([centres, centres[2:3] + 0.2])  # the third cell's marker again
    with caplog.at_level("WARNING", logger="labelfree.cutter.markers"):
        prepared = prepare(da, markers=points, config={"cell_channels": ("cell",)})
    assert len(prepared.frames[0].ids) == len(centres)
    assert caplog.text.count(f"1 marker(s) lie on the pixel of an earlier marker (e.g. marker {len(centres)}") == 1
