"""Pixel sizes and frame intervals that are not positive numbers: readers drop them, to_dataarray refuses them."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import tifffile

from labelfree.errors import InputError
from labelfree.image import scale_of, to_dataarray, units_of
from labelfree.io.tiff import read_image


def _zero_resolution(path) -> None:
    """Set the denominators of the file's resolution tags to 0 (tifffile refuses to write such a rational)."""
    import struct

    with tifffile.TiffFile(path) as tif:
        offsets = [tif.pages[0].tags[name].valueoffset for name in ("XResolution", "YResolution")]
    with open(path, "r+b") as fh:
        for offset in offsets:
            fh.seek(offset + 4)
            fh.write(struct.pack("<I", 0))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("labelfree")]


@pytest.mark.parametrize("bad", [0, -0.5, math.nan, math.inf])
@pytest.mark.parametrize("dim", ["X", "Z", "T"])
def test_to_dataarray_refuses_a_scale_that_is_not_positive(bad: float, dim: str) -> None:
    with pytest.raises(InputError, match=rf"scale of {dim} must be a positive, finite number .*got {bad!r}"):
        to_dataarray(np.zeros((2, 3, 4), np.uint8), dims=f"{dim}YX" if dim != "X" else "TYX",
                     scale={dim: bad, "Y": 0.5})


def test_to_dataarray_refuses_one_scale_of_zero_for_the_plane() -> None:
    with pytest.raises(InputError, match="scale of Y must be a positive, finite number"):
        to_dataarray(np.zeros((3, 4), np.uint8), scale=0)


def test_imagej_tiff_spacing_zero_is_read_in_pixels_with_one_warning(tmp_path, caplog) -> None:
    path = tmp_path / "zero_spacing.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "spacing": 0.0, "unit": "um", "zorigin": 1.0})
    with caplog.at_level(logging.WARNING):
        da = read_image(path)
    assert (scale_of(da, "Z"), units_of(da, "Z")) == (1.0, "pixel")
    assert da.coords["Z"].values.tolist() == [-1.0, 0.0, 1.0]  # the origin (in pixels) at pixel scale
    assert (scale_of(da, "X"), units_of(da, "X")) == (0.5, "µm")  # the good axes keep their calibration
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(path) in messages[0] and "Z 0.0" in messages[0]


def test_imagej_tiff_negative_spacing_is_its_absolute_value_as_in_imagej(tmp_path) -> None:
    path = tmp_path / "negative_spacing.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "spacing": -2.0, "unit": "um"})
    da = read_image(path)
    assert (scale_of(da, "Z"), units_of(da, "Z")) == (2.0, "µm")


def test_imagej_tiff_negative_frame_interval_is_read_in_frames(tmp_path, caplog) -> None:
    path = tmp_path / "negative_interval.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), imagej=True,
                     metadata={"axes": "TYX", "finterval": -1.0, "tunit": "sec"})
    with caplog.at_level(logging.WARNING):
        da = read_image(path)
    assert (scale_of(da, "T"), units_of(da, "T")) == (1.0, "frame")
    assert da.coords["T"].values.tolist() == [0.0, 1.0, 2.0]
    assert len(_warnings(caplog)) == 1 and "T -1.0" in _warnings(caplog)[0]


def test_imagej_tiff_resolution_with_zero_denominator_is_read_in_pixels(tmp_path, caplog) -> None:
    path = tmp_path / "zero_resolution.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"})
    _zero_resolution(path)
    with caplog.at_level(logging.WARNING):
        da = read_image(path)
    assert [(scale_of(da, d), units_of(da, d)) for d in "YX"] == [(1.0, "pixel"), (1.0, "pixel")]
    assert da.coords["X"].values.tolist() == list(range(8))
    assert len(_warnings(caplog)) == 1 and "X 0.0" in _warnings(caplog)[0]


def test_plain_tiff_resolution_with_zero_denominator_is_read_in_pixels(tmp_path) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), resolution=(2.0, 2.0), resolutionunit=3)
    _zero_resolution(path)
    da = read_image(path)
    assert [(scale_of(da, d), units_of(da, d)) for d in "YX"] == [(1.0, "pixel"), (1.0, "pixel")]


@pytest.mark.parametrize("bad", ["0", "-0.5", "NaN", "INF"])
def test_ome_tiff_sizes_and_interval_that_are_not_positive_are_dropped(tmp_path, caplog, bad: str) -> None:
    path = tmp_path / "bad.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), ome=True,
                     metadata={"axes": "TYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25, "TimeIncrement": 2.0})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    xml = xml.replace('PhysicalSizeX="0.25"', f'PhysicalSizeX="{bad}"').replace('TimeIncrement="2.0"',
                                                                                  f'TimeIncrement="{bad}"')
    assert f'PhysicalSizeX="{bad}"' in xml and f'TimeIncrement="{bad}"' in xml
    tifffile.tiffcomment(path, xml.encode())
    with caplog.at_level(logging.WARNING):
        da = read_image(path)
    assert (scale_of(da, "X"), units_of(da, "X")) == (1.0, "pixel")
    assert (scale_of(da, "Y"), units_of(da, "Y")) == (0.25, "µm")
    assert (scale_of(da, "T"), units_of(da, "T")) == (1.0, "frame")
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(path) in messages[0] and "X" in messages[0] and "T" in messages[0]


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_ngff_scale_that_is_not_positive_is_dropped(tmp_path, caplog, bad: float) -> None:
    pytest.importorskip("zarr")
    from labelfree.io.ngff import read_ngff, write_ngff

    path = write_ngff(tmp_path / "img.zarr", to_dataarray(np.zeros((3, 8, 8), np.uint8), dims="ZYX",
                                                          scale={"Z": 2.0, "Y": 0.5, "X": 0.5}, units="µm"))
    attrs_file = path / ".zattrs"
    attrs = json.loads(attrs_file.read_text())
    attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] = [bad, 0.5, 0.5]
    attrs_file.write_text(json.dumps(attrs))
    with caplog.at_level(logging.WARNING):
        da = read_ngff(path)
    assert (scale_of(da, "Z"), units_of(da, "Z")) == (1.0, "pixel")
    assert da.coords["Z"].values.tolist() == [0.0, 1.0, 2.0]
    assert (scale_of(da, "X"), units_of(da, "X")) == (0.5, "µm")
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(path) in messages[0] and f"Z {bad!r}" in messages[0]
