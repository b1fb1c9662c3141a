"""Images of extreme geometry and content: padding, a single bright pixel, hot pixels, one-pixel-high images."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from labelfree import datasets, to_dataarray
from labelfree.threshold import ThresholdConfig, segment
from labelfree.threshold.segment import whole_plane_config

#: the module (``labelfree.threshold.segment`` the attribute is the function)
threshold_module = importlib.import_module("labelfree.threshold.segment")


@pytest.fixture(scope="module")
def nuclei_crop():
    """A 128 x 128 crop of the DSB2018 fluorescence nuclei (7 nuclei at Otsu's threshold 35)."""
    import tifffile

    path = datasets.shared_data_root() / "misc" / "stardist_dsb2018" / "img2d.tif"
    if not path.exists():
        pytest.skip("needs ../shared/data (misc/stardist_dsb2018/img2d.tif)")
    return np.asarray(tifffile.imread(path))[100:228, 100:228]


def _one_no_objects_warning(record):
    assert [type(w.message) for w in record] == [threshold_module.NoObjectsWarning]


def _quiet(image, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return segment(image, config=config or None)


@pytest.mark.parametrize("canvas", [0, 65535])
def test_crop_in_a_larger_canvas_gives_the_crops_objects(nuclei_crop, canvas):
    """A crop placed in a 4x larger canvas (black, or white) gives the crop's objects, shifted.

    Before, the black canvas (15/16 of the pixels) pulled Otsu's threshold from 35 to 13: one object
    covering the whole crop; the white canvas became one object around it.
    """
    crop = _quiet(nuclei_crop)
    assert crop.values.max() == 7 and crop.attrs["labelfree"]["auto"]["threshold"] == 35.0
    padded = np.full((512, 512), canvas, nuclei_crop.dtype)
    padded[192:320, 192:320] = nuclei_crop
    labels = _quiet(padded)
    assert labels.attrs["labelfree"]["auto"]["threshold"] == 35.0
    assert not labels.values[:192].any() and not labels.values[320:].any()
    np.testing.assert_array_equal(labels.values[192:320, 192:320], crop.values)
    # a tiled run fixes the same threshold for every tile
    assert whole_plane_config(padded, ThresholdConfig()).threshold == 35.0


def test_content_box_peels_constant_edge_lines_only():
    content_box = threshold_module.content_box
    image = np.arange(1, 13, dtype=np.uint16).reshape(3, 4)
    padded = np.zeros((40, 9), np.uint16)
    padded[30:33, 2:6] = image
    assert content_box(padded) == (slice(30, 33), slice(2, 6))
    assert content_box(image) == (slice(0, 3), slice(0, 4))
    # edge lines of another value than the padding's stay: a bright top row of the image is image
    padded[30, 2:6] = 99
    assert content_box(padded) == (slice(30, 33), slice(2, 6))



def test_stack_content_box_is_the_union_of_the_planes_that_are_not_blank():
    """Every (T, C) plane's box, united; a blank plane (a dropped frame, an empty channel) has none, and a
    lazy stack is read plane by plane."""
    da = pytest.importorskip("dask.array")
    from labelfree.canvas import stack_content_box

    stack = np.zeros((2, 3, 40, 50), np.uint16)  # T, C, Y, X
    stack[0, 0, 5:30, 6:20] = np.arange(25 * 14).reshape(25, 14) + 1
    stack[1, 2, 10:35, 3:10] = np.arange(25 * 7).reshape(25, 7) + 1
    stack[1, 1] = 7  # blank, of another value than the canvas
    box = (slice(5, 35), slice(3, 20))
    assert stack_content_box(stack) == box
    assert stack_content_box(da.from_array(stack, chunks=(1, 1, 40, 50))) == box
    assert stack_content_box(stack[0, 0]) == (slice(5, 30), slice(6, 20))
    assert stack_content_box(np.zeros((2, 10, 10))) is None

def test_bright_rectangle_on_a_canvas_stays_one_object():
    """What is inside the padding holds one value: the whole plane is thresholded."""
    image = np.full((64, 64), 10, np.uint16)
    image[2:62, 2:62] = 500
    labels = _quiet(image)
    assert labels.values.max() == 1 and (labels.values > 0).sum() == 60 * 60


@pytest.mark.parametrize("bright, why", [(1000, "values 0..1000"), (65535, "values 0..65535")])
def test_a_lone_bright_pixel_warns_instead_of_an_empty_result(bright, why):
    """One bright pixel on black (or a hot pixel over dim cells): no object, and a warning saying why."""
    image = np.zeros((64, 64), np.uint16)
    image[30, 30] = bright
    with pytest.warns(UserWarning, match=rf"1 pixel\(s\) lie above .*{why}.*min_size=20") as record:
        labels = segment(image)
    _one_no_objects_warning(record)
    assert not labels.values.any()
    assert labels.values.shape == (64, 64)


def test_one_pixel_high_image_warns_about_min_size(nuclei_crop):
    row = nuclei_crop[60:61]
    with pytest.warns(UserWarning, match=r"17 pixel\(s\) .*min_size=20 px. Lower min_size") as record:
        segment(row)
    _one_no_objects_warning(record)
    assert _quiet(row, min_size=1).values.max() == 2


def test_empty_planes_of_a_stack_are_counted():
    stack = np.zeros((3, 32, 32), np.uint16)
    stack[0, 5:15, 5:15] = 100
    stack[1, 20, 20] = 100  # one pixel: smaller than min_size
    with pytest.warns(UserWarning, match=r"in 2 of 3 planes; in plane 1 \(0-based\)") as record:
        labels = segment(to_dataarray(stack, dims="TYX"))  # frames (a z-stack is one volume: one warning for it)
    _one_no_objects_warning(record)
    assert [int(p.max()) for p in labels.values] == [1, 0, 0]


def test_a_fixed_threshold_warns_only_beyond_every_value():
    """A fixed threshold is the caller's: an empty result with pixels above it (objects below min_size) is not
    warned about; a threshold above every value of the image (another scale) is, naming the image's values."""
    image = np.zeros((32, 32), np.uint16)
    image[3, 3] = 7
    assert not _quiet(image, threshold=5, min_size=4).values.any()
    from labelfree.threshold.segment import NoObjectsWarning

    with pytest.warns(NoObjectsWarning, match=r"no pixel lies above the fixed threshold 100 .*its values are 0\.\.7"):
        assert not segment(image, config={"threshold": 100}).values.any()
