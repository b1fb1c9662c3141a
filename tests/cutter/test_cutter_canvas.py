"""Cutter on an image inside a constant canvas (a crop pasted into a larger black or grey frame: a
stitched mosaic's empty corner, a padded export): the crop's labels, shifted, and nothing on the canvas.

Real data: the lower left 256 x 256 px of Fluo-C2DL-MSC t029 (2 marked cells) with its TRA markers. In
a black canvas twice its side the mask's background level was the canvas (the median) and the whole
crop passed the noise floor: 63,442 labelled pixels where the crop alone gives 4,666 (this crop, default
settings); in a canvas 4 times the side of the 416 x 496 px crop, 5 cells and 216,501 px against 18,433.
"""

from __future__ import annotations

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

from labelfree.cutter import segment  # noqa: E402
from labelfree.cutter.markers import markers_from_labels  # noqa: E402
from labelfree.cutter.prepare import MarkerWarning  # noqa: E402
from labelfree.cutter.segment import prepare  # noqa: E402
from labelfree.errors import InputError  # noqa: E402
from labelfree.image import to_dataarray  # noqa: E402

#: rows and columns of the crop in the frame, and where its top left corner goes in the canvas
CROP = (slice(416, 672), slice(0, 256))
AT = (37, 101)
#: few training steps: the crop and the padded image train the same network either way
QUICK = {"n_steps": 40}


def _msc(msc_dir, frame: str = "029"):
    image = tifffile.imread(msc_dir / "01" / f"t{frame}.tif")[CROP].astype(np.float32)
    markers = tifffile.imread(msc_dir / "01_GT" / "TRA" / f"man_track{frame}.tif")[CROP]
    return image, markers


def _in_canvas(array: np.ndarray, value: float = 0, factor: int = 2) -> np.ndarray:
    """``array`` (..., Y, X) at :data:`AT` in a canvas of ``value`` ``factor`` times its side."""
    h, w = array.shape[-2:]
    canvas = np.full(array.shape[:-2] + (factor * h, factor * w), value, array.dtype)
    canvas[..., AT[0]:AT[0] + h, AT[1]:AT[1] + w] = array
    return canvas


def _box(shape) -> tuple[slice, slice]:
    return slice(AT[0], AT[0] + shape[0]), slice(AT[1], AT[1] + shape[1])


def test_the_mask_of_a_crop_in_a_black_canvas_is_the_crops(msc_dir):
    """The foreground mask (and the measured scale) of the padded frame is the crop's, placed; the
    canvas is background. Before, the whole crop was foreground (the canvas was the background level)."""
    image, markers = _msc(msc_dir)
    crop = prepare(image, markers=markers)
    padded = prepare(_in_canvas(image), markers=_in_canvas(markers))
    box = _box(image.shape)
    mask = padded.frames[0].mask
    assert mask.shape == (2 * image.shape[0], 2 * image.shape[1])
    assert mask.sum() == crop.frames[0].mask.sum() < 0.3 * image.size  # not the whole crop
    assert np.array_equal(mask[box], crop.frames[0].mask)
    assert padded.auto == crop.auto
    np.testing.assert_allclose(padded.frames[0].markers, crop.frames[0].markers + AT)
    assert crop.box is None  # a real frame has no constant edge: used whole
    assert padded.box == box


def test_cutter_gives_the_crops_labels_shifted(msc_dir):
    image, markers = _msc(msc_dir)
    crop = segment(image, markers=markers, config=QUICK).values
    padded = segment(_in_canvas(image), markers=_in_canvas(markers), config=QUICK)
    box = _box(image.shape)
    assert len(np.unique(crop)) - 1 == len(np.unique(markers)) - 1 == 2
    assert np.array_equal(padded.values[box], crop)
    assert (padded.values > 0).sum() == (crop > 0).sum()  # nothing on the canvas
    assert padded.attrs["labelfree"]["canvas"] == {"rows": [AT[0], AT[0] + 256], "columns": [AT[1], AT[1] + 256]}


def test_a_grey_canvas_movie_with_point_markers_and_a_given_mask(msc_dir):
    """A canvas of another constant value, a movie, (t, y, x) points and a given mask follow the box too."""
    frames = [_msc(msc_dir, f) for f in ("029", "030")]
    movie = np.stack([f[0] for f in frames])
    points = [markers_from_labels(f[1])[0] for f in frames]
    rows = np.concatenate([np.column_stack([np.full(len(p), t), p]) for t, p in enumerate(points)])
    given = np.stack([f.mask for f in prepare(to_dataarray(movie, dims="TYX"), markers=rows).frames])
    crop = prepare(to_dataarray(movie, dims="TYX"), markers=rows, mask=given)  # given masks are kept as they are
    padded = prepare(to_dataarray(_in_canvas(movie, value=3840), dims="TYX"), markers=rows + (0, *AT),
                     mask=_in_canvas(given, value=False))
    box = _box(movie.shape[-2:])
    for f, g, mine in zip(padded.frames, crop.frames, given):
        assert np.array_equal(f.patch_set.image, g.patch_set.image)  # the network's input: the crop's
        assert np.array_equal(f.mask[box], mine) and f.mask.sum() == mine.sum()
        np.testing.assert_allclose(f.markers, g.markers + AT)
    assert padded.box == box


def test_a_marker_on_the_canvas_stays_in_the_box(msc_dir):
    """What the user pointed at is part of the image: a marker on the canvas widens the box (and is
    said to lie on the background, as on any image)."""
    image, markers = _msc(msc_dir)
    points = np.concatenate([markers_from_labels(markers)[0] + AT, [[450.0, 20.0]]])
    with pytest.warns(MarkerWarning, match=r"1 of 3 markers lie on the background.*\(y=450, x=20\)"):
        padded = prepare(_in_canvas(image), markers=points)
    assert padded.box == (slice(AT[0], 451), slice(20, AT[1] + 256))
    np.testing.assert_allclose(padded.frames[0].markers, points)


def test_markers_outside_the_image_are_refused_in_its_pixels(msc_dir):
    image, markers = _msc(msc_dir)
    points = np.concatenate([markers_from_labels(markers)[0] + AT, [[600.0, 20.0]]])
    with pytest.raises(InputError, match=r"outside the 512 x 512 image, e\.g\. \(y=600, x=20\)"):
        prepare(_in_canvas(image), markers=points)


def test_a_crop_smaller_than_a_patch_leaves_the_image_whole(msc_dir):
    """Content smaller than one patch (64 px at downscale 1) along a side: the image is used whole, as
    before (the crop alone is refused as smaller than a patch; a box widened to a patch holds canvas)."""
    image, markers = _msc(msc_dir)
    small = image[70:110, 10:250]  # 40 rows across one cell
    blobs = markers_from_labels(markers[70:110, 10:250])[0]
    padded = prepare(_in_canvas(small, factor=3), markers=blobs + AT, config={"downscale": 1.0})
    assert padded.box is None and padded.frames[0].box is None
    assert padded.frames[0].mask.shape == (120, 720)
    with pytest.raises(InputError, match="smaller than one 64 x 64 patch"):
        prepare(small, markers=blobs, config={"downscale": 1.0})



def test_a_blank_channel_does_not_make_a_padded_image_whole(msc_dir):
    """An image with a blank channel (one value everywhere: an unused channel of an export) in the same
    canvas: the other channel's box is used, as Motion skips blank frames
    (:func:`labelfree.canvas.stack_content_box`). Before, the blank channel's box was a single line, and
    the union with it took the whole image."""
    image, markers = _msc(msc_dir)
    two = np.stack([_in_canvas(image), np.zeros((512, 512), np.float32)])
    crop = prepare(to_dataarray(np.stack([image, np.zeros_like(image)]), dims="CYX"), markers=markers,
                   config={"cell_channels": [0]})
    padded = prepare(to_dataarray(two, dims="CYX"), markers=_in_canvas(markers), config={"cell_channels": [0]})
    box = _box(image.shape)
    assert padded.box == box
    assert np.array_equal(padded.frames[0].mask[box], crop.frames[0].mask)
    assert padded.frames[0].mask.sum() == crop.frames[0].mask.sum()
