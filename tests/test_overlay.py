"""Overlay pictures: outlines in the label LUT's colours on the scaled image, as PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelfree.io.lut import glasbey_lut
from labelfree.overlay import first_plane, overlay_png, overlay_png_bytes, overlay_rgb


def test_outlines_have_the_label_colours_and_the_inside_shows_the_image():
    img = np.zeros((60, 80), np.uint16)
    img[10:30, 10:30] = 1000
    labels = np.zeros((60, 80), np.int32)
    labels[10:30, 10:30] = 1
    labels[35:55, 40:70] = 7
    rgb = overlay_rgb(img, labels)
    lut = glasbey_lut().T
    assert rgb.shape == (60, 80, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[10, 15]) == tuple(lut[1]) and tuple(rgb[45, 40]) == tuple(lut[7])  # outlines
    assert tuple(rgb[20, 20]) == (255, 255, 255) and tuple(rgb[5, 5]) == (0, 0, 0)  # image inside / outside


def test_large_images_are_reduced_and_first_planes_taken(shared_data):
    path = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01_GT" / "SEG" / "man_seg005.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    labels = tifffile.imread(path)
    image = tifffile.imread(shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t005.tif")
    png = overlay_png_bytes(np.stack([image, image]), np.stack([labels, labels]), max_size=256)
    pic = Image.open(io.BytesIO(png))
    assert pic.format == "PNG" and max(pic.size) <= 256 and pic.size == (992 // 4, 832 // 4)
    colours = {tuple(c) for c in np.asarray(pic).reshape(-1, 3)}
    lut = {tuple(c) for c in glasbey_lut().T[1:]}
    assert len(colours & lut) >= len(np.unique(labels)) // 2  # many objects, many outline colours


def test_overlay_png_writes_a_file(tmp_path):
    out = overlay_png(None, np.eye(20, dtype=int), tmp_path / "o.png")
    assert Image.open(out).size == (20, 20)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_first_plane_of_a_dataarray_picks_channel_and_frame():
    from labelfree.image import to_dataarray

    da = to_dataarray(np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5), dims="TCYX")
    np.testing.assert_array_equal(first_plane(da, channel=1), da.values[0, 1])


@pytest.mark.parametrize(("option", "value"), [("max_size", 0), ("max_size", -5), ("thickness", 0), ("max_size", 2.5)])
def test_bad_sizes_are_one_clear_error(option, value):
    """max_size=0 raised ZeroDivisionError from inside; thickness 0 or less was silently taken as 1."""
    from labelfree.errors import InputError

    with pytest.raises(InputError, match=f"{option} must be a whole number of picture pixels, 1 or more"):
        overlay_rgb(None, np.eye(20, dtype=int), **{option: value})
