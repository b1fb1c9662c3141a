"""ImagePlus <-> DataArray: exact round trips for every type and shape, calibration, channel names."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from labelfree.errors import DimensionError, InputError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

_TYPES = {"8-bit": (np.uint8, "JByte"), "16-bit": (np.uint16, "JShort"), "32-bit": (np.float32, "JFloat"),
          "RGB": (np.uint32, "JInt")}
_SHAPES = {"2d": (1, 1, 1), "z-stack": (1, 4, 1), "time-lapse": (1, 1, 3), "5d": (2, 3, 2)}


def _native_imageplus(kind: str, c: int, z: int, t: int, seed: int = 0):
    """An ImagePlus made by ImageJ itself, filled with random pixels through plain Java arrays."""
    import jpype
    from scyjava import jimport

    IJ = jimport("ij.IJ")
    imp = IJ.createImage("native", f"{kind} black", 13, 11, c, z, t)
    dtype, jname = _TYPES[kind]
    rng = np.random.default_rng(seed)
    stack = imp.getStack()
    planes = []
    for i in range(1, stack.getSize() + 1):
        if dtype == np.float32:
            plane = rng.normal(size=13 * 11).astype(np.float32)
        else:
            plane = rng.integers(0, np.iinfo(dtype).max if dtype != np.uint32 else 2**24, 13 * 11).astype(dtype)
        planes.append(plane)
        view = plane.view({1: np.int8, 2: np.int16, 4: np.int32}[plane.itemsize]) if dtype != np.float32 else plane
        stack.setPixels(jpype.JArray(getattr(jpype, jname))(view), i)
    cal = imp.getCalibration()
    cal.pixelWidth, cal.pixelHeight, cal.pixelDepth = 0.325, 0.5, 2.0
    cal.setUnit("micron")
    cal.xOrigin, cal.yOrigin, cal.zOrigin = 3.0, -2.0, 1.0
    if t > 1:
        cal.frameInterval = 15.0
        cal.setTimeUnit("sec")
    if c > 1:
        for i in range(1, stack.getSize() + 1):
            stack.setSliceLabel(f"ch{(i - 1) % c}", i)
    return imp, planes


def _java_planes(imp):
    stack = imp.getStack()
    out = []
    for i in range(1, stack.getSize() + 1):
        arr = np.array(stack.getPixels(i))
        out.append(arr.view({1: np.uint8, 2: np.uint16}.get(arr.itemsize, arr.dtype)) if arr.dtype.kind == "i" and arr.itemsize < 4 else arr)
    return out


@pytest.mark.parametrize("shape", list(_SHAPES))
@pytest.mark.parametrize("kind", list(_TYPES))
def test_imageplus_to_xarray_to_imageplus_is_exact(ij, kind, shape):
    import labelfree.imagej as lij

    c, z, t = _SHAPES[shape]
    if kind == "RGB" and c > 1:
        c = 1  # RGB images carry their colour as the C axis
    imp, planes = _native_imageplus(kind, c, z, t)
    da = lij.imageplus_to_xarray(imp)
    expected_dims = "".join(d for d, n in zip("TCZ", (t, 3 if kind == "RGB" else c, z)) if n > 1) + "YX"
    assert "".join(da.dims) == expected_dims
    assert da.sizes["X"] == 13 and da.sizes["Y"] == 11
    assert float(da.X[0]) == pytest.approx(-3.0 * 0.325) and da.X.attrs == {"units": "µm", "scale": 0.325}
    assert da.Y.attrs["scale"] == 0.5
    if t > 1:
        assert da.coords["T"].attrs == {"units": "s", "scale": 15.0}
    if c > 1:
        assert list(da.C.values) == [f"ch{i}" for i in range(c)]
    if kind == "RGB":
        assert list(da.C.values) == ["R", "G", "B"] and da.dtype == np.uint8
    back = lij.xarray_to_imageplus(da, title="back")
    assert back.getBitDepth() == imp.getBitDepth()
    assert (back.getNChannels(), back.getNSlices(), back.getNFrames()) == (c, z, t)
    for a, b in zip(_java_planes(back), planes):
        if kind == "RGB":
            a, b = a & 0xFFFFFF, b & 0xFFFFFF
        np.testing.assert_array_equal(a.view(b.dtype) if a.dtype != b.dtype else a, b)
    cal, cal0 = back.getCalibration(), imp.getCalibration()
    for name in ("pixelWidth", "pixelHeight", "xOrigin", "yOrigin", "frameInterval"):
        assert getattr(cal, name) == getattr(cal0, name), name
    if z > 1:
        assert (cal.pixelDepth, cal.zOrigin) == (cal0.pixelDepth, cal0.zOrigin)
    assert str(cal.getUnit()) == "µm"
    if c > 1:
        assert [str(back.getStack().getSliceLabel(i + 1)) for i in range(c)] == [f"ch{i}" for i in range(c)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_xarray_to_imageplus_to_xarray_is_identical(ij, dtype):
    import labelfree.imagej as lij

    rng = np.random.default_rng(1)
    values = (rng.random((2, 3, 4, 5, 6)) * 250).astype(dtype)
    da = to_dataarray(
        values, dims="TCZYX", scale={"X": 0.65, "Y": 0.65, "Z": 1.5, "T": 120.0},
        units={"X": "µm", "Y": "µm", "Z": "µm", "T": "s"}, origin={"X": -6.5, "Y": 1.3, "Z": 3.0},
        channel_names=["DAPI", "GFP", "phase contrast"],
    )
    back = lij.imageplus_to_xarray(lij.xarray_to_imageplus(da, title="x"))
    assert back.attrs.pop("imagej_title") == "x"
    xr.testing.assert_identical(back, da)


def test_singleton_axes_survive_the_round_trip(ij):
    import labelfree.imagej as lij

    da = to_dataarray(np.arange(2 * 3 * 4, dtype=np.uint16).reshape(1, 1, 2, 3, 4), dims="TCZYX")
    back = lij.imageplus_to_xarray(lij.xarray_to_imageplus(da))
    assert back.dims == ("T", "C", "Z", "Y", "X")
    np.testing.assert_array_equal(back.values, da.values)


def test_rgb_dataarray_becomes_a_colorprocessor_and_back(ij):
    import labelfree.imagej as lij

    rgb = to_dataarray(np.random.default_rng(2).integers(0, 256, (3, 9, 7), dtype=np.uint8), dims="CYX",
                       channel_names=["R", "G", "B"])
    imp = lij.xarray_to_imageplus(rgb)
    assert imp.getBitDepth() == 24
    assert int(imp.getProcessor().getPixel(2, 3)) & 0xFFFFFF == (
        (int(rgb.values[0, 3, 2]) << 16) | (int(rgb.values[1, 3, 2]) << 8) | int(rgb.values[2, 3, 2]))
    np.testing.assert_array_equal(lij.imageplus_to_xarray(imp).values, rgb.values)


def test_virtual_stack_is_read_plane_by_plane(ij, tmp_path):
    import tifffile
    from scyjava import jimport

    import labelfree.imagej as lij

    values = np.random.default_rng(3).integers(0, 4000, (5, 16, 12), dtype=np.uint16)
    path = tmp_path / "virtual.tif"
    tifffile.imwrite(path, values, imagej=True, metadata={"axes": "ZYX"})
    imp = jimport("ij.IJ").openVirtual(str(path))
    assert imp.getStack().isVirtual()
    np.testing.assert_array_equal(lij.imageplus_to_xarray(imp).values, values)


def test_other_integer_types_are_converted_exactly_or_with_a_warning(ij):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(np.array([[0, 70000], [3, 4]], dtype=np.int32))
    assert imp.getBitDepth() == 32 and imp.getProcessor().getPixelValue(1, 0) == 70000.0
    assert lij.xarray_to_imageplus(np.array([[0, 7], [3, 4]], dtype=np.int64)).getBitDepth() == 16
    with pytest.warns(UserWarning, match="32-bit float"):
        lij.xarray_to_imageplus(np.array([[0.1, 2.0], [3, 4]], dtype=np.float64))


def test_bad_inputs_give_clear_errors(ij):
    from scyjava import jimport

    import labelfree.imagej as lij

    with pytest.raises(InputError, match="Expected an ImageJ ImagePlus"):
        lij.imageplus_to_xarray(jimport("ij.measure.ResultsTable")())
    with pytest.raises(DimensionError, match="needs Y and X"):
        lij.xarray_to_imageplus(xr.DataArray(np.zeros((3, 4)), dims=("T", "X")))
