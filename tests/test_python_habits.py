"""Python habits that failed: a named DataArray given dims= (renamed by position, e.g. y called C), a 1-frame
TYX label image written and read back (read as YX), and a Pillow image given to a pipeline (refused)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import xarray as xr
from PIL import Image

import labelfree
import labelfree.threshold
from labelfree.errors import DimensionError
from labelfree.image import to_dataarray
from labelfree.io import read_image
from labelfree.io.labels_tiff import read_labels, write_labels

# -- a DataArray's own dim names are matched, not overwritten by position ------------------------------------------


def _yxc() -> tuple[np.ndarray, xr.DataArray]:
    cyx = np.arange(3 * 20 * 24, dtype=np.uint16).reshape(3, 20, 24)
    da = xr.DataArray(cyx.transpose(1, 2, 0), dims=("y", "x", "c"),
                      coords={"x": np.arange(24) * 0.5, "c": ["DAPI", "GFP", "RFP"]})
    return cyx, da


def test_dims_given_for_a_named_dataarray_are_matched_by_name():
    """('y', 'x', 'c') with dims='CYX' had its y axis (20 rows) called C and its c axis (3 channels) called X."""
    cyx, da = _yxc()
    out = to_dataarray(da, dims="CYX")
    assert out.dims == ("C", "Y", "X") and out.shape == (3, 20, 24)
    assert np.array_equal(out.values, cyx)
    assert list(out.C.values) == ["DAPI", "GFP", "RFP"] and out.X.attrs["scale"] == 0.5
    assert out.identical(to_dataarray(da))  # the same image as its names alone give
    # any case, and the names xarray users give: time, channel
    movie = xr.DataArray(np.zeros((5, 16, 2, 4), np.uint8), dims=("Y", "X", "Channel", "time"))
    assert to_dataarray(movie, dims="TCYX").sizes == {"T": 4, "C": 2, "Y": 5, "X": 16}


def test_dims_that_contradict_a_dataarray_name_are_an_error_saying_how_to_rename():
    stack = xr.DataArray(np.zeros((4, 16, 16), np.uint8), dims=("z", "y", "x"))
    with pytest.raises(DimensionError, match=r"dims='TYX' contradict the DataArray's dims \('z', 'y', 'x'\): they "
                                             r"do not name 'z' \(Z\).*data\.rename\(\{'z': 'T'\}\)"):
        to_dataarray(stack, dims="TYX")
    assert to_dataarray(stack.rename(z="T"), dims="TYX").sizes == {"T": 4, "Y": 16, "X": 16}
    with pytest.raises(DimensionError, match=r"name the axis T more than once"):
        to_dataarray(xr.DataArray(np.zeros((2, 2, 16, 16)), dims=("t", "time", "y", "x")), dims="TCYX")


def test_dims_without_telling_names_take_the_letters_left_in_order():
    """Dims whose names say nothing (row, col, band) are named in order by the letters their named dims leave."""
    cyx, da = _yxc()
    partly = da.rename(y="row", x="col")  # c is C wherever it stands; row, col are Y, X in order
    out = to_dataarray(partly, dims="CYX")
    assert out.dims == ("C", "Y", "X") and np.array_equal(out.values, cyx)
    band = da.rename(c="band")
    assert np.array_equal(to_dataarray(band, dims="YXC").values, cyx)


# -- a label image with one frame (or one slice) reads back with that axis -----------------------------------------


def _one_frame_labels() -> xr.DataArray:
    labels = np.zeros((1, 20, 30), np.uint16)
    labels[0, 2:6, 3:9] = 1
    labels[0, 10:18, 12:20] = 2
    return to_dataarray(labels, dims="TYX", scale={"T": 2.5, "Y": 0.5, "X": 0.5},
                        units={"T": "s", "Y": "µm", "X": "µm"}, origin={"Y": 1.0, "X": 3.0})


@pytest.mark.parametrize("how", [{}, {"memmap": True}, {"lazy": True}])
def test_a_one_frame_label_image_round_trips_with_its_t_axis(tmp_path, how):
    """write_labels of a (1, Y, X) TYX label image read back as YX: the T axis and its coordinate were lost."""
    labels = _one_frame_labels()
    path = write_labels(tmp_path / "labels.tif", labels)
    back = read_image(path, **how)
    assert back.attrs == {"source": str(path)}
    xr.testing.assert_identical(back.drop_attrs(deep=False).compute(), labels)  # dims, values, coords and their attrs
    assert back["T"].attrs == {"units": "s", "scale": 2.5}
    assert read_labels(path).shape == (20, 30)  # read_labels leaves axes of length one out, as documented


def test_a_one_slice_tzyx_label_image_round_trips(tmp_path):
    labels = np.zeros((2, 1, 16, 16), np.uint16)
    labels[:, 0, 4:9, 4:9] = [[[1]], [[3]]]
    da = to_dataarray(labels, dims="TZYX", scale={"Z": 2.0, "Y": 0.25, "X": 0.25}, units="µm")
    back = read_image(write_labels(tmp_path / "stack.tif", da))
    xr.testing.assert_identical(back.drop_attrs(deep=False), da)


def test_fiji_opens_the_one_frame_file_as_before(tmp_path):
    """The axes are an image property: the ImageJ description (what Fiji reads for its frames and slices) and
    the pixels are those of the file written before; a file without an axis of one plane is unchanged."""
    path = write_labels(tmp_path / "labels.tif", _one_frame_labels())
    with tifffile.TiffFile(path) as tif:
        description = tif.pages[0].description
        assert tif.series[0].axes == "YX" and len(tif.pages) == 1
        assert tif.imagej_metadata["Properties"] == {"labelfree_dims": "TYX"}
    assert description.splitlines()[:4] == ["ImageJ=1.11a", "images=1", "hyperstack=true", "mode=grayscale"]
    assert "frames" not in description and "finterval=2.5" in description
    plane = write_labels(tmp_path / "plane.tif", _one_frame_labels().isel(T=0))
    with tifffile.TiffFile(plane) as tif:
        assert "Properties" not in tif.imagej_metadata
    assert read_image(plane).dims == ("Y", "X")


def test_a_recorded_dims_property_that_does_not_fit_the_axes_is_not_used(tmp_path):
    """A file edited and saved again (here: tifffile writing 3 frames with a stale property) is read by its axes."""
    path = tmp_path / "edited.tif"
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint16), imagej=True,
                     metadata={"axes": "ZYX", "Properties": {"labelfree_dims": "TYX"}})
    assert read_image(path).dims == ("Z", "Y", "X")


# -- a Pillow image is read as read_image reads its file -----------------------------------------------------------


def _cells() -> np.ndarray:
    grey = np.full((40, 48), 10, np.uint8)
    grey[5:15, 6:16] = 200
    grey[24:34, 20:40] = 150
    return grey


def _pictures() -> dict[str, Image.Image]:
    grey = _cells()
    rgb = np.stack([grey, grey // 2, 255 - grey], -1)
    alpha = np.full(grey.shape, 255, np.uint8)
    seen = alpha.copy()
    seen[0, 0] = 7
    return {
        "L": Image.fromarray(grey),
        "I;16": Image.fromarray(grey.astype(np.uint16) * 300),
        "RGB": Image.fromarray(rgb),
        "RGBA": Image.fromarray(np.dstack([rgb, alpha])),  # opaque: the alpha is dropped
        "RGBA seen-through": Image.fromarray(np.dstack([rgb, seen])),  # kept as channel A
        "LA": Image.fromarray(np.dstack([grey, alpha])),
        "P grey": Image.fromarray(grey).convert("P"),
        "P colour": Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8),
        "1": Image.fromarray(grey > 100),
    }


@pytest.mark.parametrize("mode", list(_pictures()))
def test_a_pillow_image_is_the_image_read_image_reads_from_its_file(tmp_path, mode):
    """labelfree.to_dataarray(Image.open(png)) refused colour (a 3-D array without dims) and every pipeline refused
    the PIL image ('must be a numpy array or xarray.DataArray'); now it is the file as read_image reads it."""
    picture = _pictures()[mode]
    path = tmp_path / "picture.png"
    picture.save(path)
    with Image.open(path) as opened:
        da = to_dataarray(opened)
    expected = read_image(path)
    assert da.dims == expected.dims and da.dtype == expected.dtype
    assert np.array_equal(da.values, expected.values)
    assert labelfree.image.channel_names(da) == labelfree.image.channel_names(expected)
    assert da.dims == {"L": ("Y", "X"), "I;16": ("Y", "X"), "LA": ("Y", "X"), "P grey": ("Y", "X"),
                       "1": ("Y", "X")}.get(mode, ("C", "Y", "X"))
    if mode == "RGBA seen-through":
        assert labelfree.image.channel_names(da) == ["R", "G", "B", "A"]


def test_pipelines_take_a_pillow_image(tmp_path):
    grey = _cells()
    Image.fromarray(grey).save(tmp_path / "cells.png")
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "cells_float.tif")  # Pillow's mode F
    with Image.open(tmp_path / "cells.png") as png, Image.open(tmp_path / "cells_float.tif") as floats:
        assert floats.mode == "F"
        labels = labelfree.threshold.segment(png)
        from_floats = labelfree.threshold.segment(floats)
    assert labels.dims == ("Y", "X") and int(labels.max()) == 2
    assert np.array_equal(labels.values, labelfree.threshold.segment(read_image(tmp_path / "cells.png")).values)
    assert np.array_equal(from_floats.values, labels.values)
    rgb = Image.fromarray(np.stack([grey, np.zeros_like(grey), np.zeros_like(grey)], -1))
    from labelfree.run import run_pipeline

    red = run_pipeline("threshold", rgb, channel="R")
    assert np.array_equal(red.values, labels.values)


def test_a_pillow_image_of_several_frames_gives_its_current_frame_as_numpy_does(tmp_path):
    frames = [Image.fromarray(_cells()), Image.fromarray(255 - _cells())]
    frames[0].save(tmp_path / "two.tif", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "two.tif") as im:
        im.seek(1)
        da = to_dataarray(im)
        assert np.array_equal(da.values, np.asarray(im)) and np.array_equal(da.values, 255 - _cells())


@pytest.mark.jvm
def test_imagej_opens_the_one_frame_label_image_as_one_calibrated_frame(tmp_path, ij):
    import jpype

    labels = _one_frame_labels()
    imp = jpype.JClass("ij.IJ").openImage(str(write_labels(tmp_path / "labels.tif", labels)))
    assert imp is not None
    try:
        assert (imp.getNChannels(), imp.getNSlices(), imp.getNFrames()) == (1, 1, 1)
        assert (imp.getWidth(), imp.getHeight(), imp.getBitDepth()) == (30, 20, 16)
        cal = imp.getCalibration()
        assert cal.pixelWidth == 0.5 and str(cal.getUnit()) == "µm" and cal.frameInterval == 2.5
        assert cal.getX(0) == pytest.approx(3.0) and cal.getY(0) == pytest.approx(1.0)
        assert str(imp.getProp("labelfree_dims")) == "TYX"  # Image > Show Info lists it
        pixels = np.asarray(imp.getProcessor().getPixels(), np.int16).view(np.uint16).reshape(20, 30)
        assert np.array_equal(pixels, labels.values[0])
    finally:
        imp.close()


def test_fusion_reads_a_pillow_colour_image_as_its_file_is_read(tmp_path):
    """Fusion's channel reading takes a Pillow image as read_image takes its PNG: channels R, G, B and a
    see-through alpha A (an RGBA image was "4 channel names given for 3 channels"), a palette as its colours."""
    from labelfree.fusion.channels import with_channel_axis

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (40, 48, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rgba[..., 3] > 128, 255, 0)  # transparent in places: A is kept
    Image.fromarray(rgba, "RGBA").save(tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as im:
        got = with_channel_axis(im)
    expected = with_channel_axis(read_image(tmp_path / "c.png"))
    assert list(got["C"].values) == ["R", "G", "B", "A"] == list(expected["C"].values)
    assert np.array_equal(got.transpose("C", "Y", "X").values, expected.transpose("C", "Y", "X").values)
    palette = Image.fromarray(rgba[..., :3], "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    got = with_channel_axis(palette)
    assert list(got["C"].values) == ["R", "G", "B"]
    assert np.array_equal(got.transpose("Y", "X", "C").values, np.asarray(palette.convert("RGB")))
