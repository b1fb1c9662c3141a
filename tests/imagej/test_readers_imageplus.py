"""ImagePlus calibrations that are not positive numbers: the axis in pixels (frames), one warning."""

from __future__ import annotations

import logging
import math

import pytest

from labelfree.image import scale_of, units_of

pytestmark = pytest.mark.jvm


def _imageplus(title: str, slices: int = 3, frames: int = 1):
    from scyjava import jimport

    imp = jimport("ij.IJ").createImage(title, "8-bit black", 6, 5, 1, slices, frames)
    cal = imp.getCalibration()
    cal.pixelWidth, cal.pixelHeight, cal.pixelDepth = 0.5, 0.5, 2.0
    cal.setUnit("micron")
    return imp, cal


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_pixel_width_and_depth_that_are_not_positive_are_read_in_pixels(ij, caplog, bad: float) -> None:
    from labelfree.imagej.convert import imageplus_to_xarray

    imp, cal = _imageplus("bad calibration")
    cal.pixelWidth, cal.pixelDepth, cal.xOrigin = bad, bad, 2.0
    imp.setCalibration(cal)
    assert float(imp.getCalibration().pixelDepth) == bad or math.isnan(bad)  # ImageJ keeps what it is given
    with caplog.at_level(logging.WARNING):
        da = imageplus_to_xarray(imp)
    assert [(scale_of(da, d), units_of(da, d)) for d in "ZYX"] == [(1.0, "pixel"), (0.5, "µm"), (1.0, "pixel")]
    assert da.coords["X"].values.tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and "'bad calibration'" in messages[0]
    assert f"X {bad!r}" in messages[0] and f"Z {bad!r}" in messages[0]


def test_an_infinite_frame_interval_is_read_in_frames(ij, caplog) -> None:
    from labelfree.imagej.convert import imageplus_to_xarray

    imp, cal = _imageplus("movie", slices=1, frames=3)
    cal.frameInterval = math.inf
    cal.setTimeUnit("sec")
    imp.setCalibration(cal)
    with caplog.at_level(logging.WARNING):
        da = imageplus_to_xarray(imp)
    assert (scale_of(da, "T"), units_of(da, "T")) == (1.0, "frame")
    assert da.coords["T"].values.tolist() == [0.0, 1.0, 2.0]


def test_a_zero_depth_of_a_single_plane_is_not_warned_about(ij, caplog) -> None:
    from labelfree.imagej.convert import imageplus_to_xarray

    imp, cal = _imageplus("plane", slices=1)
    cal.pixelDepth = 0.0
    imp.setCalibration(cal)
    with caplog.at_level(logging.WARNING):
        da = imageplus_to_xarray(imp)
    assert da.dims == ("Y", "X") and scale_of(da, "X") == 0.5
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_signed_16_bit_images_are_read_with_the_values_imagej_shows(ij, tmp_path) -> None:
    """ImageJ's signed 16-bit stores value + 32768 and shows the value through its calibration. The raw
    numbers were read (100 and 40000 where ImageJ shows -32668 and 7232): the table's means were 20050 where
    ImageJ's Measure gave -12718. Read from the ImagePlus and from the TIFF ImageJ saves, and written back."""
    import numpy as np
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.io import read_image
    from labelfree.measure import measure_objects

    IJ = jimport("ij.IJ")
    imp = IJ.createImage("signed", "16-bit black", 8, 6, 1)
    imp.getProcessor().putPixel(1, 1, 100)
    imp.getProcessor().putPixel(2, 1, 40000)
    imp.getCalibration().setSigned16BitCalibration()
    shown = [float(imp.getCalibration().getCValue(v)) for v in (100, 40000, 0)]
    assert shown == [-32668.0, 7232.0, -32768.0]
    IJ.saveAsTiff(imp, str(tmp_path / "signed.tif"))
    for da in (lij.imageplus_to_xarray(imp), read_image(tmp_path / "signed.tif"),
               read_image(tmp_path / "signed.tif", lazy=True)):
        assert da.dtype == np.int16
        assert [int(v) for v in np.asarray(da.values)[1, 1:4]] == [-32668, 7232, -32768]
    labels = np.zeros((6, 8), np.uint16)
    labels[1, 1:3] = 1
    table = measure_objects(labels, image=lij.imageplus_to_xarray(imp))
    imp.setRoi(jimport("ij.gui.Roi")(1, 1, 2, 1))
    assert float(table["mean_intensity"].iloc[0]) == float(IJ.getValue(imp, "Mean")) == (-32668 + 7232) / 2
    back = lij.xarray_to_imageplus(lij.imageplus_to_xarray(imp))  # int16 -> ImageJ's signed 16-bit again
    assert back.getBitDepth() == 16 and back.getCalibration().isSigned16Bit()
    assert [int(back.getProcessor().get(x, 1)) for x in (1, 2, 3)] == [100, 40000, 0]
