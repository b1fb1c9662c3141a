import doctest

import numpy as np
import pytest
import xarray as xr

import labelfree
from labelfree import image as I
from labelfree.errors import (
    ConstantImageError,
    DimensionError,
    DTypeError,
    EmptyImageError,
    InputError,
    NonFiniteError,
)


@pytest.mark.parametrize("module", ["labelfree.image", "labelfree.labels", "labelfree.metrics"])
def test_doctests(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_to_dataarray_orders_dims_and_keeps_calibration():
    arr = np.arange(2 * 3 * 4 * 5).reshape(4, 5, 2, 3)  # Y X T C
    da = I.to_dataarray(
        arr, dims="YXTC", scale={"X": 0.25, "T": 30}, units={"X": "µm", "T": "s"}, channel_names=["a", "b", "c"]
    )
    assert da.dims == ("T", "C", "Y", "X")
    assert da.shape == (2, 3, 4, 5)
    assert np.array_equal(da.isel(T=1, C=2).values, arr[:, :, 1, 2])
    assert I.scale_of(da, "X") == 0.25 and I.units_of(da, "X") == "µm"
    assert I.scale_of(da, "T") == 30 and I.units_of(da, "T") == "s"
    assert I.channel_names(da) == ["a", "b", "c"]
    assert float(da.X[4]) == 1.0


def test_one_unit_or_scale_is_the_plane_s_and_axis_keys_are_checked():
    """units="µm" failed with a Python ValueError; lower-case keys were ignored without a word."""
    da = I.to_dataarray(np.zeros((2, 3, 4, 5)), dims="TZYX", units="µm", scale=0.5)
    assert [I.units_of(da, d) for d in "TZYX"] == ["frame", "µm", "µm", "µm"]
    assert [I.scale_of(da, d) for d in "TZYX"] == [1.0, 1.0, 0.5, 0.5]
    assert I.units_of(I.to_dataarray(np.zeros((4, 5)), units={"x": "nm"}), "X") == "nm"
    with pytest.raises(InputError, match=r"units names the axes \['Q'\]; the axes are T, C, Z, Y, X"):
        I.to_dataarray(np.zeros((4, 5)), units={"Q": "nm"})
    with pytest.raises(InputError, match=r"scale must be a mapping of axis letters.*got list"):
        I.to_dataarray(np.zeros((4, 5)), scale=[0.5, 0.5])


def test_to_dataarray_canonicalises_existing_dataarray():
    src = xr.DataArray(np.zeros((4, 3)), dims=("x", "y"), coords={"x": [0, 2, 4, 6], "y": [0.0, 0.5, 1.0]})
    da = I.to_dataarray(src)
    assert da.dims == ("Y", "X")
    assert I.scale_of(da, "X") == 2 and I.scale_of(da, "Y") == 0.5


def test_one_channel_name_names_an_image_without_a_c_axis_and_survives_canonicalising(tmp_path):
    import tifffile

    from labelfree.io import read_image

    da = I.to_dataarray(np.zeros((4, 5)), channel_names=["DAPI"])
    assert da.dims == ("Y", "X") and str(da.coords["C"].values) == "DAPI"
    assert str(I.to_dataarray(da).coords["C"].values) == "DAPI"
    picked = I.to_dataarray(np.zeros((2, 4, 5)), dims="CYX", channel_names=["a", "b"]).isel(C=1)
    assert str(I.to_dataarray(picked).coords["C"].values) == "b"
    with pytest.raises(InputError, match="2 channel names given for an image of one channel"):
        I.to_dataarray(np.zeros((4, 5)), channel_names=["a", "b"])
    tifffile.imwrite(tmp_path / "plane.tif", np.zeros((4, 5), np.uint16))
    assert str(read_image(tmp_path / "plane.tif", channel_names=["GFP"]).coords["C"].values) == "GFP"
    tifffile.imwrite(tmp_path / "two.tif", np.zeros((2, 4, 5), np.uint16), imagej=True, metadata={"axes": "CYX"})
    assert I.channel_names(read_image(tmp_path / "two.tif", channel_names=("x", "y"))) == ["x", "y"]
    with pytest.raises(InputError, match="3 channel names given for 2 channels"):
        read_image(tmp_path / "two.tif", channel_names=["x", "y", "z"])


@pytest.mark.parametrize(("value", "names"), [("DAPI,GFP", ("DAPI", "GFP")), ("DAPI; GFP", ("DAPI", "GFP")),
                                               (["a", 1], ("a", "1")), ("", None), (None, None)])
def test_parse_channel_names(value, names):
    assert I.parse_channel_names(value) == names


@pytest.mark.parametrize("value", ["a,a", "a,,b", ",", 3])
def test_parse_channel_names_refuses_repeated_empty_or_odd_names(value):
    with pytest.raises(InputError, match="Channel names are one"):
        I.parse_channel_names(value)


def test_scale_survives_length_one_axis():
    da = I.to_dataarray(np.zeros((1, 4, 4)), dims="ZYX", scale={"Z": 2.5})
    assert I.scale_of(da.isel(Z=slice(0, 1)), "Z") == 2.5


def test_labels_like_copies_coords_and_picks_dtype():
    img = I.to_dataarray(np.random.rand(2, 3, 6, 7), dims="TCYX", scale={"X": 0.5, "Y": 0.5})
    lab = I.labels_like(np.ones((2, 6, 7), np.int64), img)
    assert lab.dims == ("T", "Y", "X") and lab.dtype == np.uint16
    assert lab.X.attrs["scale"] == 0.5
    big = I.labels_like(np.full((2, 6, 7), 70000), img)
    assert big.dtype == np.uint32
    with pytest.raises(DimensionError, match="pixels along X"):
        I.labels_like(np.ones((2, 6, 8), int), img)


def test_select_channel():
    img = I.to_dataarray(np.random.rand(2, 5, 5), dims="CYX", channel_names=["dapi", "gfp"])
    assert I.select_channel(img, "gfp").equals(img.isel(C=1))
    with pytest.raises(InputError, match="channels \\['dapi', 'gfp'\\]"):
        I.select_channel(img, "rfp")
    with pytest.raises(InputError, match="out of range"):
        I.select_channel(img, 5)


@pytest.mark.parametrize(
    "data, kwargs, error, match",
    [
        (np.zeros((3, 4, 5)), {}, DimensionError, "needs dims"),
        (np.zeros((3, 4)), {"dims": "TYX"}, DimensionError, "name 3 axes"),
        (np.zeros((3, 4)), {"dims": "YY"}, DimensionError, "at most once"),
        (np.zeros((3, 4), np.complex64), {}, DTypeError, "complex64"),
        (np.zeros((0, 4)), {}, EmptyImageError, "empty"),
        (np.array([[1.0, np.nan]]), {}, NonFiniteError, "NaN"),
        (np.ones((3, 4)), {}, ConstantImageError, "constant"),
        (np.random.rand(3, 4), {"required": ("T", "Y", "X")}, DimensionError, "missing T"),
        (np.random.rand(2, 3, 4), {"dims": "ZYX", "allowed": "TYX"}, DimensionError, "unexpected Z"),
        ("not an image", {}, InputError, "numpy array"),
    ],
)
def test_validate_image_errors(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        I.validate_image(data, **kwargs)


def test_validate_image_refuses_float64_values_that_float32_cannot_hold():
    """float64 images beyond float32's range (inf after the cast) or below its resolution (one value
    after the cast) were segmented as empty without a word: the NaN/inf and constant checks passed."""
    a = np.full((64, 64), 1.0)
    a[20:40, 20:40] = 5.0
    with pytest.raises(InputError, match=r"values from 1e\+300 to 5e\+300, beyond the range of the 32-bit floats"
                                         r".*divide it by its maximum"):
        I.validate_image(a * 1e300)
    with pytest.raises(InputError, match=r"image's values \(1e-300 to 5e-300\) cannot be told apart in the 32-bit "
                                         r"floats.*divide it by its maximum"):
        I.validate_image(a * 1e-300)
    with pytest.raises(InputError, match="beyond the range"):
        I.validate_image(-a * 1e300, allow_constant=True)
    assert I.validate_image(a * 1e-300, allow_constant=True).dtype == np.float64  # constant is fine there
    for fine in (a, a * 1e30, a * 1e-30, a.astype(np.float32) * np.float32(1e-40)):
        I.validate_image(fine)  # in range and distinct in float32; float32 data as it is given
    from labelfree.threshold import segment

    np.testing.assert_array_equal(segment(a / a.max()).values > 0, a > 1)


def test_validate_image_does_not_modify_input():
    arr = np.random.rand(4, 4).astype(np.float32)
    before = arr.copy()
    I.validate_image(arr)
    np.testing.assert_array_equal(arr, before)
    assert labelfree.__version__


def test_float16_is_read_as_float32_and_uint64_gets_a_conversion_hint():
    """A float16 array (every value a float32 value) is the same image in float32, not refused; a uint64 one is
    refused with the types LabelFree takes and how to convert it."""
    half = np.arange(12, dtype=np.float16).reshape(3, 4) / np.float16(3)
    da = I.validate_image(half)
    assert da.dtype == np.float32 and np.array_equal(da.values, half.astype(np.float32))
    with pytest.raises(DTypeError, match=r"uint64, which LabelFree cannot process\. Convert it to one of bool, "
                                         r"uint8, .*int64, float32, float64 first \(values below 2\*\*32: "
                                         r"image\.astype\(numpy\.uint32\)"):
        I.validate_image(np.arange(12, dtype=np.uint64).reshape(3, 4))


def test_a_float16_movie_is_a_motion_movie_in_float32():
    from labelfree.motion.movie import as_movie

    movie = (np.random.default_rng(0).random((3, 16, 16)) * 100).astype(np.float16)
    da = as_movie(movie)
    assert da.dtype == np.float32 and np.array_equal(da.values, movie.astype(np.float32))
