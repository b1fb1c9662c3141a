"""The threshold pipeline on dim integer images: thresholds of the integer values, not of a float copy.

A uint16 image with values 0..12 used to be cast to float32 before Otsu: skimage bins a
float image in 256 bins whose centres fall between the levels (Otsu 0.996 instead of 1),
so every pixel of value 1 became foreground (69 % foreground where the truth has 20 %).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from skimage import filters

from labelfree.cli import main
from labelfree.errors import DimensionError
from labelfree.image import to_dataarray
from labelfree.metrics import object_scores
from labelfree.threshold import ThresholdConfig
from labelfree.threshold import segment as threshold_segment
from labelfree.threshold.segment import threshold_plane, whole_plane_config

RAW = {"fill_holes": False, "min_size": 0}  # the bare threshold, no clean-up
METHODS = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "triangle": filters.threshold_triangle}
#: pixel counts of the levels 0..10 of the DSB 2018 crop below divided by 20 (a dim 16-bit image)
DIM_COUNTS = (22705, 28528, 8027, 3674, 1170, 504, 354, 189, 171, 130, 84)


def _dim_levels(dtype=np.uint16, offset: int = 0) -> np.ndarray:
    """A 256 x 256 image whose levels have the dim DSB crop's counts, in random places."""
    values = np.repeat(np.arange(len(DIM_COUNTS)), DIM_COUNTS)
    np.random.default_rng(0).shuffle(values)
    return (values.reshape(256, 256) + offset).astype(dtype)


def _dsb_crop(shared_data):
    folder = shared_data / "misc" / "stardist_dsb2018"
    if not (folder / "img2d.tif").is_file():
        pytest.skip(f"{folder}/img2d.tif is absent")
    return tifffile.imread(folder / "img2d.tif")[:256, :256], tifffile.imread(folder / "mask2d.tif")[:256, :256]


def test_dim_levels_are_split_where_otsu_splits_the_integers():
    img = _dim_levels()
    assert filters.threshold_otsu(img) == 1 and filters.threshold_otsu(img.astype(np.float32)) < 1
    fg = np.asarray(threshold_segment(img, config=RAW).data) > 0
    np.testing.assert_array_equal(fg, img > 1)  # before: img > 0.996, i.e. the 43 % of value 1 too
    assert fg.mean() == pytest.approx(sum(DIM_COUNTS[2:]) / img.size)


@pytest.mark.parametrize("dtype, offset", [(np.uint8, 0), (np.uint16, 0), (np.int16, -5), (np.int32, 1000)])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_integer_planes_are_foreground_strictly_above_skimages_threshold_of_their_values(method, dtype, offset):
    img = _dim_levels(dtype, offset)
    img[100:140, 60:200] += 6  # a bright band, so that every method has something to find
    labels = threshold_plane(img, ThresholdConfig(method=method, **RAW))
    np.testing.assert_array_equal(labels > 0, img > METHODS[method](img))
    dark = threshold_plane(img, ThresholdConfig(method=method, dark_objects=True, **RAW))
    np.testing.assert_array_equal(dark > 0, img < METHODS[method](img))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_planes_are_thresholded_as_before(dtype):
    img = _dim_levels().astype(dtype) + np.random.default_rng(1).normal(0, 0.01, (256, 256)).astype(dtype)
    labels = threshold_plane(img, ThresholdConfig(**RAW))
    as_float32 = img.astype(np.float32)
    np.testing.assert_array_equal(labels > 0, as_float32 > filters.threshold_otsu(as_float32))


def test_tiles_share_the_integer_threshold():
    img = _dim_levels()
    plane = to_dataarray(img)
    assert whole_plane_config(plane, ThresholdConfig()).threshold == 1.0  # before: 0.996
    as_float = whole_plane_config(to_dataarray(img.astype(np.float32)), ThresholdConfig()).threshold
    assert as_float == 1.0  # a float copy of whole numbers: the integer image's threshold (before: 0.996)
    assert whole_plane_config(plane, ThresholdConfig(threshold=3.5)).threshold == 3.5


def test_dim_real_image_from_the_command_line(shared_data, tmp_path):
    img, truth = _dsb_crop(shared_data)
    dim = (img // 20).astype(np.uint16)  # values 0..11
    tifffile.imwrite(tmp_path / "dim.tif", dim)
    assert main(["threshold", str(tmp_path / "dim.tif"), "-o", str(tmp_path / "o"), "-q", "--no-progress"]) == 0
    labels = tifffile.imread(tmp_path / "o" / "dim_labels.tif")
    assert abs((labels > 0).mean() - (truth > 0).mean()) < 0.05  # before: 69 % foreground, the truth 20 %
    assert object_scores(labels, truth)["f1"] > 0.5  # before: 0.0
    raw = np.asarray(threshold_segment(dim, config=RAW).data)
    np.testing.assert_array_equal(raw > 0, dim > filters.threshold_otsu(dim))


def test_normal_real_image_is_unchanged(shared_data):
    img, _ = _dsb_crop(shared_data)
    labels = np.asarray(threshold_segment(img, config=RAW).data)
    np.testing.assert_array_equal(labels > 0, img > filters.threshold_otsu(img.astype(np.float32)))


def test_a_length_1_channel_axis_is_the_image_itself():
    """A CYX or TCYX image with one channel was refused ("unexpected C ... Select one channel first")
    while Motion, Cutter and Fusion take it; the labels keep the image's Y, X and T coords, no C."""
    import xarray as xr

    img = _dim_levels()
    plain = threshold_segment(img, config=RAW)
    one = to_dataarray(img[None], dims="CYX", channel_names=["DAPI"], scale={"X": 0.5, "Y": 0.5})
    labels = threshold_segment(one, config=RAW)
    assert labels.dims == ("Y", "X")
    np.testing.assert_array_equal(labels.values, plain.values)
    xr.testing.assert_equal(labels.coords["X"], one.coords["X"])
    movie = to_dataarray(np.stack([img, img[::-1]])[:, None], dims="TCYX", channel_names=["DAPI"],
                         scale={"T": 30.0})
    labels = threshold_segment(movie, config=RAW)
    assert labels.dims == ("T", "Y", "X") and "C" not in labels.dims
    np.testing.assert_array_equal(labels.coords["T"].values, movie.coords["T"].values)
    np.testing.assert_array_equal(labels.values[0], plain.values)
    np.testing.assert_array_equal(labels.values[1] > 0, plain.values[::-1] > 0)
    two = to_dataarray(np.stack([img, img[::-1]]), dims="CYX", channel_names=["DAPI", "GFP"])
    with pytest.raises(DimensionError, match=r"2 channels \(DAPI, GFP\).*Select one channel first"):
        threshold_segment(two)
