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


# -- a DataArray whose dim names all say their axes needs no dims= -------------------------------------------------


def _named_movie() -> tuple[np.ndarray, xr.DataArray]:
    rng = np.random.default_rng(3)
    movie = rng.normal(100, 5, (3, 40, 44)).astype(np.float32)
    for k in range(3):
        movie[k, 6 + k:18 + k, 6:18] += 80
        movie[k, 24:36, 28 - k:40 - k] += 80
    return movie, xr.DataArray(movie, dims=("time", "y", "x"), coords={"x": np.arange(44) * 0.25})


@pytest.mark.parametrize("names, letters", [
    (("time", "y", "x"), "TYX"), (("c", "y", "x"), "CYX"), (("T", "Y", "X"), "TYX"),
    (("x", "Y", "Channel"), "XYC"), (("Time", "z", "channels", "y", "x"), "TZCYX"),
])
def test_a_dataarray_whose_dim_names_say_their_axes_needs_no_dims(names, letters):
    """to_dataarray(xr.DataArray(a, dims=("time", "y", "x"))) was refused ("Name them with
    labelfree.to_dataarray(data, dims=...)"); now it is what dims="TYX" gives."""
    shape = (2, 16, 3, 17, 18)[: len(names)]
    da = xr.DataArray(np.arange(int(np.prod(shape)), dtype=np.uint16).reshape(shape), dims=names)
    out = to_dataarray(da)
    assert out.identical(to_dataarray(da, dims=letters))
    assert out.dims == tuple(d for d in "TCZYX" if d in letters)
    assert np.array_equal(out.values, da.transpose(*[names[letters.index(d)] for d in out.dims]).values)


def test_dims_whose_names_say_nothing_are_still_refused_without_dims():
    for names in (("time", "row", "col"), ("t", "time", "x")):
        with pytest.raises(DimensionError, match=r"The DataArray has dims .*Name them with "
                                                 r"labelfree\.to_dataarray\(data, dims=\.\.\.\)"):
            to_dataarray(xr.DataArray(np.zeros((2, 16, 16)), dims=names))


def test_pipelines_take_a_dataarray_named_time_y_x():
    """labelfree.threshold.segment(da), motion and run_pipeline refused ('time', 'y', 'x'); Fusion's channel
    reading refused ('channel', 'y', 'x')."""
    import labelfree.motion
    from labelfree.fusion.channels import with_channel_axis
    from labelfree.run import run_pipeline

    movie, named = _named_movie()
    plain = to_dataarray(movie, dims="TYX", scale={"X": 0.25})
    labels = labelfree.threshold.segment(named)
    assert labels.dims == ("T", "Y", "X") and int(labels.max()) == 2
    assert np.array_equal(labels.values, labelfree.threshold.segment(plain).values)
    assert labels.X.attrs["scale"] == 0.25
    assert np.array_equal(run_pipeline("threshold", named).values, labels.values)
    moving = labelfree.motion.segment(named)
    assert np.array_equal(moving.values, labelfree.motion.segment(plain).values)
    channels = xr.DataArray(movie[:2], dims=("channel", "y", "x"), coords={"channel": ["GFP", "RFP"]})
    got = with_channel_axis(channels)
    assert list(got["C"].values) == ["GFP", "RFP"] and np.array_equal(got.transpose("C", "Y", "X").values,
                                                                         movie[:2])


# -- read_image and a Pillow image share one reading of Pillow's modes ----------------------------------------------


def _notes(caplog, source) -> list[str]:
    """What reading ``source`` logs at INFO from LabelFree, the name of the picture put as <it>."""
    import logging

    caplog.clear()
    with caplog.at_level(logging.INFO):
        if isinstance(source, Image.Image):
            to_dataarray(source)
            subject = "The Pillow image"
        else:
            read_image(source)
            subject = source.name
    return [r.getMessage().replace(subject, "<it>") for r in caplog.records
            if r.name.startswith("labelfree") and r.levelname == "INFO" and "JPEG" not in r.getMessage()]


def test_a_file_and_its_pillow_image_are_read_by_one_code_with_the_same_notes(tmp_path, caplog):
    """labelfree.io.raster and labelfree._pil decoded Pillow's modes twice (their notes said "is CMYK" / "is stored
    as CMYK", "it is channel A" / "it is read as channel A"); now the file reader calls the shared code."""
    grey = _cells()
    rgb = np.stack([grey, grey // 2, 255 - grey], -1)
    seen = np.full(grey.shape, 255, np.uint8)
    seen[0, 0] = 7
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(np.dstack([rgb, seen])).save(tmp_path / "seen.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(tmp_path / "palette.gif")
    expected = {"cmyk.jpg": ["<it> is stored as CMYK; read as RGB."],
                "seen.png": ["<it> has a transparency (alpha) channel that is not opaque everywhere: it is read as "
                             "channel A (choose the image's channels with the channel option)."],
                "palette.gif": ["<it> is a palette (indexed colour) picture; read as its R, G, B colours."]}
    for name, notes in expected.items():
        assert _notes(caplog, tmp_path / name) == notes
        with Image.open(tmp_path / name) as opened:
            assert _notes(caplog, opened) == notes
            assert np.array_equal(to_dataarray(opened).values, read_image(tmp_path / name).values)


# -- images written by labelfree drift / stitch (write_image) keep axes of one plane --------------------------------


def _one_plane_images() -> dict[str, xr.DataArray]:
    rng = np.random.default_rng(5)
    calibration = {"scale": {"T": 2.5, "Z": 2.0, "Y": 0.5, "X": 0.5}, "units": {"T": "s", "Z": "µm", "Y": "µm",
                                                                                 "X": "µm"}}
    return {
        "1-frame TYX": to_dataarray(rng.integers(0, 4000, (1, 20, 30), dtype=np.uint16), dims="TYX",
                                    origin={"Y": 1.0, "X": 3.0}, **calibration),
        "1-slice TZYX": to_dataarray(rng.random((3, 1, 16, 18), dtype=np.float32), dims="TZYX", **calibration),
        "1-channel CYX": to_dataarray(rng.integers(0, 255, (1, 16, 18), dtype=np.uint8), dims="CYX",
                                      channel_names=["GFP"], **calibration),
    }


@pytest.mark.parametrize("what", list(_one_plane_images()))
def test_an_image_written_by_write_image_reads_back_with_its_axes_of_one_plane(tmp_path, what):
    """A 1-frame drift-corrected movie or 1-slice fused stack (registration.cli.write_image) read back as YX."""
    from labelfree.registration.cli import write_image

    image = _one_plane_images()[what]
    path = write_image(tmp_path / "out.tif", image, record={"pipeline": "drift"})
    back = read_image(path)
    xr.testing.assert_identical(back.drop_attrs(deep=False), image)
    with tifffile.TiffFile(path) as tif:  # Fiji's view of the file: the axes of more than one plane, as before
        assert tif.series[0].axes == "".join(d for d in image.dims if image.sizes[d] > 1)
        assert tif.imagej_metadata["Properties"]["labelfree_dims"] == "".join(image.dims)
        assert "labelfree" in tif.imagej_metadata["Properties"]


def test_write_image_records_no_dims_without_an_axis_of_one_plane(tmp_path):
    from labelfree.registration.cli import write_image

    image = to_dataarray(np.zeros((2, 16, 16), np.uint16), dims="TYX")
    with tifffile.TiffFile(write_image(tmp_path / "two.tif", image)) as tif:
        assert tif.series[0].axes == "TYX" and "Properties" not in tif.imagej_metadata


@pytest.mark.jvm
def test_imagej_opens_a_one_frame_written_image_as_one_calibrated_frame(tmp_path, ij):
    import jpype

    from labelfree.registration.cli import write_image

    image = _one_plane_images()["1-frame TYX"]
    imp = jpype.JClass("ij.IJ").openImage(str(write_image(tmp_path / "corrected.tif", image)))
    assert imp is not None
    try:
        assert (imp.getNChannels(), imp.getNSlices(), imp.getNFrames()) == (1, 1, 1)
        assert (imp.getWidth(), imp.getHeight(), imp.getBitDepth()) == (30, 20, 16)
        assert imp.getCalibration().frameInterval == 2.5 and imp.getCalibration().pixelWidth == 0.5
        assert str(imp.getProp("labelfree_dims")) == "TYX"
        pixels = np.asarray(imp.getProcessor().getPixels(), np.int16).view(np.uint16).reshape(20, 30)
        assert np.array_equal(pixels, image.values[0])
    finally:
        imp.close()
