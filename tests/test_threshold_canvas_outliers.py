"""Threshold on images a camera or a stitcher really gives: a crop in a black or white canvas segmented in
tiles, hot pixels, NaN, values of extreme magnitude."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from labelfree.run import run_pipeline
from labelfree.threshold import ThresholdConfig, segment
from labelfree.threshold.segment import NoObjectsWarning, tile_box, whole_plane_config
from labelfree.tiling import PipelineTileFunction, auto_threshold, segment_tiled

CTC_FRAMES = [("Fluo-N2DH-GOWT1", 0), ("Fluo-N2DH-GOWT1", 60), ("Fluo-N2DH-SIM+", 0), ("Fluo-N2DH-SIM+", 40),
              ("Fluo-C2DL-MSC", 0), ("Fluo-C2DL-MSC", 30)]


@pytest.fixture(scope="module")
def nuclei(shared_data):
    """A 128 x 128 crop of the DSB2018 fluorescence nuclei (uint16, values 0..106, 7 nuclei at Otsu's 35)."""
    path = shared_data / "misc" / "stardist_dsb2018" / "img2d.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return np.asarray(tifffile.imread(path))[100:228, 100:228]


def _quiet(image, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return segment(image, config=config or None)


def _padded(crop, canvas):
    padded = np.full((512, 512), canvas, crop.dtype)
    padded[192:320, 192:320] = crop
    return padded


#: (the crop as the canvas holds it, canvas value, config): objects on the canvas's side of the threshold
CANVAS_CASES = {
    "dark nuclei in black": (lambda c: (120 - c).astype(np.uint16), 0, {"dark_objects": True}),
    "bright nuclei in white": (lambda c: c, 65535, {}),
}


@pytest.mark.parametrize("case", sorted(CANVAS_CASES))
def test_tile_box_gives_the_whole_plane_runs_objects(nuclei, case):
    """Tiles cut from the inside of the padding only, with the plane's threshold, give the objects of the
    untiled run. Before, every tile of canvas held objects (the canvas lies beyond the threshold): 65 objects
    instead of the crop's 7 (tile 64, overlap 32), all 245760 canvas pixels labelled."""
    make, canvas, config = CANVAS_CASES[case]
    crop = make(nuclei)
    padded = _padded(crop, canvas)
    whole = np.asarray(_quiet(padded, **config).data)
    assert whole.max() == 7 and not whole[:192].any() and not whole[320:].any()
    ys, xs = tile_box(padded, ThresholdConfig(**config))
    cfg = whole_plane_config(padded, ThresholdConfig(**config))
    tiled = segment_tiled(padded[ys, xs], PipelineTileFunction("threshold", cfg.to_dict()), tile=64, overlap=32)
    assert tiled.n_objects == 7 and tiled.n_cut == 0
    assert (ys, xs) == (slice(192, 320), slice(192, 320))
    np.testing.assert_array_equal(tiled.labels > 0, whole[ys, xs] > 0)
    # a fixed threshold keeps the canvas, tiled or not; a plane without padding is tiled whole
    assert tile_box(padded, ThresholdConfig(threshold=50.0, **config)) == (slice(0, 512), slice(0, 512))
    assert tile_box(crop, ThresholdConfig(**config)) == (slice(0, 128), slice(0, 128))


@pytest.mark.parametrize("case", sorted(CANVAS_CASES))
def test_tiled_run_of_a_crop_in_a_canvas_equals_the_untiled_run(nuclei, case):
    """The whole run (labelfree.run_pipeline with tile=): 65 objects before, as above."""
    make, canvas, config = CANVAS_CASES[case]
    padded = _padded(make(nuclei), canvas)
    whole = run_pipeline("threshold", padded, config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiled = run_pipeline("threshold", padded, config=config, tile=64, tile_overlap=32)
    assert int(tiled.max()) == int(whole.max()) == 7
    np.testing.assert_array_equal(np.asarray(tiled) > 0, np.asarray(whole) > 0)
    assert tiled.attrs["labelfree"]["auto"]["threshold"] == whole.attrs["labelfree"]["auto"]["threshold"]


@pytest.mark.parametrize("method", ["otsu", "li", "triangle"])
def test_a_hot_pixel_leaves_the_nuclei_as_they_were(nuclei, method):
    """Nuclei under 40 in a 16-bit image with one hot pixel at 65535 (on a nucleus or on the background):
    the nuclei as without it. Before, the 256-bin histogram put every nucleus in its first bin: no objects."""
    dim = (nuclei // 3).astype(np.uint16)
    clean = _quiet(dim, method=method)
    assert int(clean.max()) >= 5
    for y, x in [(5, 5), (int(np.argmax(dim)) // 128, int(np.argmax(dim)) % 128)]:
        hot = dim.copy()
        hot[y, x] = 65535
        labels = _quiet(hot, method=method)
        assert labels.attrs["labelfree"]["auto"]["threshold"] == pytest.approx(
            clean.attrs["labelfree"]["auto"]["threshold"], abs=0.01)
        np.testing.assert_array_equal(np.asarray(labels) > 0, np.asarray(clean) > 0)


def test_a_dead_pixel_far_below_leaves_dark_objects_as_they_were(nuclei):
    """The same at the low end: a float image with one pixel at -1e6 (dark objects: the nuclei' gaps)."""
    img = nuclei.astype(np.float32)
    clean = _quiet(img, dark_objects=True, min_size=5)
    cold = img.copy()
    cold[0, 0] = -1e6
    labels = _quiet(cold, dark_objects=True, min_size=5)
    assert labels.attrs["labelfree"]["auto"]["threshold"] == clean.attrs["labelfree"]["auto"]["threshold"]
    assert int(labels.max()) == int(clean.max()) > 0
    np.testing.assert_array_equal(np.asarray(labels) > 0, np.asarray(clean) > 0)


def test_hot_pixel_on_real_frames_of_a_simulated_sequence(shared_data):
    """Fluo-N2DH-SIM+ frames with a hot pixel: Otsu's threshold 200.9 instead of 130 before (frame 0)."""
    from labelfree.datasets import load_ctc

    if not (shared_data / "ctc" / "Fluo-N2DH-SIM+").is_dir():
        pytest.skip("needs ctc/Fluo-N2DH-SIM+")
    movie = load_ctc("Fluo-N2DH-SIM+").movie
    for t in (0, 40):
        frame = np.asarray(movie[t].values)
        hot = frame.copy()
        hot[7, 9] = 65535
        for method in ("otsu", "triangle"):
            assert whole_plane_config(hot, ThresholdConfig(method=method)).threshold == \
                whole_plane_config(frame, ThresholdConfig(method=method)).threshold
        np.testing.assert_array_equal(np.asarray(segment(hot)) > 0, np.asarray(segment(frame)) > 0)


@pytest.mark.parametrize("name, t", CTC_FRAMES)
def test_ordinary_frames_keep_their_threshold(shared_data, name, t):
    """Frames without outliers keep the threshold of the whole-plane histogram, for every method."""
    from labelfree.datasets import load_ctc

    if not (shared_data / "ctc" / name).is_dir():
        pytest.skip(f"needs ctc/{name}")
    frame = np.asarray(load_ctc(name).movie[t].values)
    for method in ("otsu", "li", "triangle"):
        assert whole_plane_config(frame, ThresholdConfig(method=method)).threshold == \
            auto_threshold(frame, method=method)


def test_a_cluster_of_hot_pixels_still_warns_and_names_the_fix(nuclei):
    """A 2 x 2 block of hot pixels is no isolated pixel: it can still pull the threshold, and the warning says
    so; a plane whose small objects are simply small is not told about extreme pixels."""
    dim = (nuclei // 3).astype(np.uint16)
    dim[5:7, 5:7] = 65535
    with pytest.warns(NoObjectsWarning, match=r"further from the other pixels \(0\.\.35\).*--set threshold=VALUE"):
        segment(dim)
    row = nuclei[60:61]
    with pytest.warns(NoObjectsWarning) as record:
        segment(row)
    assert "min_size=20" in str(record[0].message) and "extreme" not in str(record[0].message)


def test_tiled_run_of_an_image_with_nan_reads_it_as_missing():
    """Before, a tiled run failed in skimage: "autodetected range of [nan, nan] is not finite"; then NaN was
    refused. NaN is missing data (as in ImageJ): tiled and untiled runs give the one object, NaN outside it."""
    img = np.full((64, 64), 10.0, np.float32)
    img[20:40, 20:40] = 100.0
    img[3, 3] = np.nan
    for tile in (None, 32):
        labels = np.asarray(run_pipeline("threshold", img, tile=tile, tile_overlap=16).values)
        assert labels.max() == 1 and (labels > 0).sum() == 400 and labels[3, 3] == 0


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_values_of_extreme_magnitude_give_the_same_objects(nuclei, scale):
    """Before, Otsu squared 1e30-sized values in 32-bit floats (overflow: one object) and lost 1e-30-sized
    ones (a threshold among the background)."""
    plain = _quiet(nuclei.astype(np.float64))
    scaled = _quiet(nuclei.astype(np.float64) * scale)
    assert int(plain.max()) == int(scaled.max()) == 7
    np.testing.assert_array_equal(np.asarray(scaled), np.asarray(plain))
    assert scaled.attrs["labelfree"]["auto"]["threshold"] == pytest.approx(
        plain.attrs["labelfree"]["auto"]["threshold"] * scale, rel=1e-6)
    big = (nuclei.astype(np.int64) * 10**15)
    np.testing.assert_array_equal(np.asarray(_quiet(big)), np.asarray(plain))
