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
