"""NaN/inf pixels (a ratio image's background, a masked export, a registered movie's corners) are missing data.

Before, every pipeline refused a float image holding one: "image contains 300 NaN/inf pixel(s); replace them
(e.g. numpy.nan_to_num) first.", naming neither the file nor a remedy for the command line. ImageJ reads NaN in a
32-bit image as no data (its histograms and Auto Threshold skip them); so does LabelFree now: Threshold takes its
threshold over the other pixels and never makes them objects, Motion fills them with its frame's median (one
warning), and validate_image(non_finite=...) says what a pipeline does with them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
import xarray as xr

from labelfree import motion
from labelfree.errors import ConstantImageError, MissingPixelsWarning, NonFiniteError
from labelfree.image import validate_image
from labelfree.imagej.terms import in_imagej_terms
from labelfree.threshold import segment as threshold
from labelfree.tiling import threshold_of


@pytest.fixture(scope="module")
def gowt1_frame(shared_data):
    path = shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01" / "t000.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


@pytest.fixture(scope="module")
def ratio(gowt1_frame):
    """A ratio-like float32 image of a real GOWT1 frame: NaN where the smoothed frame holds no signal (a ratio's
    zero denominator), the cells and a margin of background around them finite."""
    from scipy import ndimage as ndi

    frame = gowt1_frame.astype(np.float32)
    image = frame / np.float32(40)
    image[ndi.gaussian_filter(frame, 8) < 2] = np.nan
    return image


@pytest.fixture(scope="module")
def msc_movie(msc_dir):
    """Real MSC cells, frames 0-3, a 256 px crop holding two whole cells, as float32."""
    return np.stack([tifffile.imread(msc_dir / "01" / f"t{t:03d}.tif")[500:756, 100:356]
                     for t in range(4)]).astype(np.float32)


def _nan_corners(movie: np.ndarray) -> np.ndarray:
    """``movie`` with NaN in two opposite corners of every frame (as a rotated, registered movie has)."""
    yy, xx = np.mgrid[:movie.shape[1], :movie.shape[2]]
    corner = (yy + xx < 40) | ((movie.shape[1] - 1 - yy) + (movie.shape[2] - 1 - xx) < 40)
    out = movie.copy()
    out[:, corner] = np.nan
    return out


def _median_filled(movie: np.ndarray) -> np.ndarray:
    out = movie.copy()
    for frame in out:
        frame[~np.isfinite(frame)] = np.median(frame[np.isfinite(frame)])
    return out


def test_threshold_reads_nan_as_missing_on_a_real_ratio_image(ratio):
    """The threshold is the other pixels' (Otsu of the finite values), NaN is never foreground, and the labels are
    those of the same image with NaN replaced by a background value at that threshold; the input stays."""
    given = ratio.copy()
    finite = np.isfinite(ratio)
    assert 0.5 < 1 - finite.mean() < 0.95  # most of the frame is NaN background
    labels = threshold(ratio)
    assert np.array_equal(given, ratio, equal_nan=True)
    thr = labels.attrs["labelfree"]["auto"]["threshold"]
    assert thr == threshold_of(ratio[finite]) == pytest.approx(0.925)
    assert not labels.values[~finite].any()
    assert int(labels.values.max()) == 19
    background = np.where(finite, ratio, np.nanmin(ratio)).astype(np.float32)
    assert np.array_equal(threshold(background, config={"threshold": thr}).values, labels.values)
    # measured: the filled image has a threshold of its own (its background counted), 0.775 and 29 objects
    assert threshold(background).attrs["labelfree"]["auto"]["threshold"] == pytest.approx(0.775)


def test_threshold_reads_inf_as_nan(ratio):
    """A ratio's x/0 is +inf (or -inf) where x is not 0: missing as NaN is, on neither side of the threshold."""
    infinite = ratio.copy()
    nan = np.flatnonzero(np.isnan(ratio))
    infinite.flat[nan[::2]] = np.inf
    infinite.flat[nan[1::4]] = -np.inf
    labels = threshold(infinite)
    expected = threshold(ratio)
    assert np.array_equal(labels.values, expected.values)
    assert labels.attrs["labelfree"]["auto"] == expected.attrs["labelfree"]["auto"]
    assert np.isinf(infinite).sum() == len(nan[::2]) + len(nan[1::4])  # the input keeps its inf


def test_threshold_of_a_lazy_or_tiled_image_with_nan_gives_the_same_objects(ratio):
    import dask.array as dsk

    from labelfree.run import run_pipeline

    expected = threshold(ratio).values
    lazy = threshold(xr.DataArray(dsk.from_array(ratio, chunks=256), dims=("Y", "X"))).values
    assert np.array_equal(lazy, expected)
    # tiles of pure NaN background are segmented (none), not refused as images without a value
    tiled = np.asarray(run_pipeline("threshold", ratio, tile=256, tile_overlap=64).values)
    assert np.array_equal(tiled > 0, expected > 0)
    assert len(np.unique(tiled)) == len(np.unique(expected))


def test_threshold_refuses_an_image_without_values():
    image = np.full((32, 32), np.nan, np.float32)
    with pytest.raises(NonFiniteError, match=r"image holds no value: all its 1024 pixels are NaN/inf"):
        threshold(image)
    image[4:8, 4:8] = 3.0
    with pytest.raises(ConstantImageError, match=r"every pixel that holds a value is 3 \(the other 1008 are "
                                                 r"NaN/inf, missing\)"):
        threshold(image)


def test_a_stack_plane_of_nan_alone_has_no_objects_and_says_why():
    from labelfree.threshold.segment import NoObjectsWarning

    stack = np.zeros((2, 40, 40), np.float32)
    stack[0, 10:20, 10:20] = 5.0
    stack[0, 0, 0] = np.nan
    stack[1] = np.nan
    with pytest.warns(NoObjectsWarning, match=r"in 1 of 2 planes; in plane 1 \(0-based\): its 1600 NaN/inf pixel\(s\) "
                                              r"are missing data and no other pixel holds a value"):
        labels = threshold(xr.DataArray(stack, dims=("T", "Y", "X")))
    assert int(labels.values[0].max()) == 1 and (labels.values[0] > 0).sum() == 100
    assert not labels.values[1].any()


def test_motion_fills_nan_corners_with_the_frame_median_and_warns_once(msc_movie):
    movie = _nan_corners(msc_movie)
    given = movie.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = motion.segment(movie)
    missing = [w for w in caught if issubclass(w.category, MissingPixelsWarning)]
    assert len(missing) == 1, [str(w.message) for w in caught]
    assert str(missing[0].message).startswith(
        "The movie contains 6560 NaN/inf pixel(s) in all 4 frames: read as missing data, each was set to the "
        "median of its frame's other pixels")
    assert np.array_equal(given, movie, equal_nan=True)
    assert np.array_equal(labels.values, motion.segment(_median_filled(movie)).values)
    plain = motion.segment(msc_movie).values > 0
    found = labels.values > 0
    assert (plain & found).sum() / (plain | found).sum() > 0.9  # measured 0.916


def test_motion_names_the_frames_with_nan_and_refuses_a_movie_without_values():
    from labelfree.motion.movie import as_movie

    movie = np.random.default_rng(0).random((12, 32, 32)).astype(np.float32)
    movie[3, 0, 0] = np.nan
    movie[5] = np.nan
    with pytest.warns(MissingPixelsWarning, match=r"1025 NaN/inf pixel\(s\) in frames \[3, 5\] \(0-based\)") as rec:
        filled = as_movie(movie).values
    assert in_imagej_terms(str(rec[0].message)).count("in frames 4, 6 (the stack's frames, counted from 1)") == 1
    assert np.isfinite(filled).all() and np.isnan(movie[5]).all()
    assert filled[3, 0, 0] == np.median(movie[3][np.isfinite(movie[3])])
    assert np.all(filled[5] == np.median([np.median(f[np.isfinite(f)]) for k, f in enumerate(movie) if k != 5]))
    with pytest.raises(NonFiniteError, match="The movie holds no value: all its 12288 pixels are NaN/inf"):
        as_movie(np.full((12, 32, 32), np.inf, np.float32))


def test_validate_image_fills_refuses_or_keeps_and_names_the_file(tmp_path):
    from labelfree.io import read_image

    image = np.arange(2 * 20 * 30, dtype=np.float32).reshape(2, 20, 30)
    image[1, :5, :5] = np.nan
    image[1, 19, 29] = np.inf
    path = tmp_path / "ratio.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "TYX"})
    da = read_image(path)
    given = da.values.copy()

    with pytest.raises(NonFiniteError) as refused:
        validate_image(da, name="movie")
    said = str(refused.value)
    assert said == (f"movie ({path}) contains 26 NaN/inf pixel(s) in frame 1 (0-based), and this command needs a "
                    "value in every pixel (CLI: fix the file first, e.g. in Fiji with Process > Math > Remove NaNs... "
                    "and File > Save); replace them (numpy.nan_to_num) first.")
    assert in_imagej_terms(said) == (
        f"movie ({path}) contains 26 NaN/inf pixel(s) in frame 2 (the stack's frames, counted from 1), and this "
        "command needs a value in every pixel; replace them first (Process > Math > Remove NaNs..., or select them "
        "and Edit > Fill).")

    with pytest.warns(MissingPixelsWarning, match=rf"Cutter input \({path}\) contains 26 NaN/inf pixel\(s\) in "
                                                  r"frame 1 \(0-based\)") as rec:
        filled = validate_image(da, name="Cutter input", non_finite="fill")
    assert len(rec) == 1
    assert filled.attrs["source"] == str(path) and filled.dims == da.dims
    median = np.median(given[1][np.isfinite(given[1])])
    assert np.all(filled.values[1, :5, :5] == median) and filled.values[1, 19, 29] == median
    assert np.array_equal(filled.values[0], given[0])
    assert np.array_equal(da.values, given, equal_nan=True)  # the input is unchanged

    kept = validate_image(da, non_finite="missing").values
    assert np.isnan(kept[1, 19, 29]) and np.isnan(kept[1, :5, :5]).all() and np.isinf(da.values[1, 19, 29])


def test_a_lazy_image_is_filled_lazily_as_a_numpy_one():
    import dask.array as dsk

    image = np.random.default_rng(1).random((3, 64, 64)).astype(np.float32)
    image[0, 10:20, 10:20] = np.nan
    image[2, :, :3] = -np.inf
    with pytest.warns(MissingPixelsWarning):
        eager = validate_image(xr.DataArray(image, dims=("T", "Y", "X")), non_finite="fill")
    lazy_in = xr.DataArray(dsk.from_array(image, chunks=(1, 32, 32)), dims=("T", "Y", "X"))
    with pytest.warns(MissingPixelsWarning, match=r"292 NaN/inf pixel\(s\) in frames \[0, 2\]"):
        lazy = validate_image(lazy_in, non_finite="fill")
    assert hasattr(lazy.data, "dask")
    assert np.array_equal(lazy.values, eager.values)


def test_a_lazy_movie_is_filled_lazily_as_a_numpy_one():
    import dask.array as dsk

    from labelfree.motion.movie import as_movie

    movie = np.random.default_rng(2).random((3, 64, 64)).astype(np.float32)
    movie[:, :8, :8] = np.nan
    with pytest.warns(MissingPixelsWarning, match=r"192 NaN/inf pixel\(s\) in all 3 frames"):
        eager = as_movie(movie)
    with pytest.warns(MissingPixelsWarning):
        lazy = as_movie(xr.DataArray(dsk.from_array(movie, chunks=(1, 32, 32)), dims=("T", "Y", "X")))
    assert hasattr(lazy.data, "dask") and np.array_equal(lazy.values, eager.values)
    assert np.isnan(movie[:, :8, :8]).all()


def test_an_unknown_non_finite_choice_is_refused_for_any_image():
    from labelfree.errors import InputError

    with pytest.raises(InputError, match=r"non_finite must be 'refuse', 'missing' or 'fill'; got 'fil'"):
        validate_image(np.arange(4.0).reshape(2, 2), non_finite="fil")


def test_a_hot_pixel_among_nan_does_not_move_the_threshold(ratio):
    """Isolated hot pixels are left out of the automatic threshold; NaN neighbours are no one's neighbours, so a
    hot pixel beside the NaN background (or alone in it) is still isolated."""
    from labelfree.threshold.auto import automatic_threshold

    hot = ratio.copy()
    nan = np.argwhere(np.isnan(ratio))
    y, x = nan[len(nan) // 2]
    hot[y, x] = 1e4  # alone among NaN
    edge = np.argwhere(np.isfinite(ratio) & (np.roll(np.isnan(ratio), 1, axis=0)))[0]
    hot[tuple(edge)] = 1e4  # beside the NaN background
    assert automatic_threshold(hot) == automatic_threshold(ratio) == pytest.approx(0.925)


def test_cutter_fills_nan_corners_with_the_median_and_warns_once():
    """Cutter (and Fusion) need a value in every pixel: NaN corners are filled with the frame's median, with one
    warning, and the labels are those of the median-filled image (they were refused)."""
    pytest.importorskip("torch")
    from labelfree.cutter import CutterConfig
    from labelfree.cutter import segment as cutter

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    centres = np.array([[30.0, 30.0], [62.0, 64.0]])
    image = sum(((yy - y) ** 2 + (xx - x) ** 2 < 12 ** 2) * 1.0 for y, x in centres) + rng.normal(0, 0.05, (96, 96))
    given = _nan_corners(image[None].astype(np.float32))[0]
    config = CutterConfig(width=4, n_steps=2, crop_size=32)
    with pytest.warns(MissingPixelsWarning) as rec:
        labels = cutter(given, markers=centres, config=config)
    assert len([w for w in rec if issubclass(w.category, MissingPixelsWarning)]) == 1
    expected = cutter(_median_filled(given[None])[0], markers=centres, config=config)
    assert np.array_equal(labels.values, expected.values) and len(np.unique(labels.values)) == 3


def test_the_flow_output_of_a_run_does_not_say_the_filled_pixels_twice(tmp_path, msc_movie):
    """--flow-out writes the flow of the movie the run segmented: the run's one MissingPixelsWarning is enough."""
    from labelfree.motion.flow import write_flow_stack

    movie = _nan_corners(msc_movie[:3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_flow_stack(tmp_path / "flow.tif", movie, labels=np.zeros(movie.shape, np.uint16))
    assert not [w for w in caught if issubclass(w.category, MissingPixelsWarning)]
    with pytest.warns(MissingPixelsWarning):  # called on its own, it says so
        write_flow_stack(tmp_path / "flow2.tif", movie)


def test_a_tiled_z_stack_with_tiles_of_nan_alone_gives_the_untiled_labels():
    """Tiles of a z-stack's planes that hold only NaN (or one value beside NaN) were refused as images without
    values; they are tiles of a checked image, as a plane's tiles are."""
    import labelfree
    from labelfree.run import run_pipeline

    stack = np.full((4, 128, 128), 10, np.float32)
    stack[:, 20:40, 20:40] = 200
    stack[:, :, 64:] = np.nan
    da = labelfree.to_dataarray(stack, dims="ZYX")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tiled = run_pipeline("threshold", da, tile=32, tile_overlap=8)
        whole = run_pipeline("threshold", da)
    labels = np.asarray(getattr(tiled, "labels", tiled))
    assert np.array_equal(labels, np.asarray(getattr(whole, "labels", whole))) and labels.max() == 1
