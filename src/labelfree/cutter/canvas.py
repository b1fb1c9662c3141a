"""The image inside its canvas: a crop pasted into a larger constant frame is segmented as that crop.

A stitched mosaic's empty corner, a padded export or a registered image with a black border
places the cells inside whole edge rows and columns of one value. Every statistic Cutter takes
over a frame counts them: in a black canvas 4 times the crop's side the median (the mask's
background level) is the canvas value and the noise its standard deviation, so the whole crop,
background and all, passes the mask's noise floor; the z-scoring of the network's input and the
training areas are drawn over the canvas too. The padding is found as every pipeline finds it
(:func:`labelfree.canvas.content_box`, on every plane of every frame and channel but blank ones),
Cutter runs on the box inside it and the labels are placed back: a padded image gives the crop's labels,
shifted. An image without a constant edge is left whole. The positions the run's notes and warnings name (markers
added at dim nuclei, nuclei still missed) are the input's pixels (:func:`positions_in_input`).

The box always holds every marker, every foreground pixel of a given mask and every scribble
(whatever the user pointed at is part of the image). The image is used whole, as it always was,
when the box is smaller than one patch (``crop_size`` x ``downscale``) along a side (a box widened
to a patch would hold canvas again, and a smaller image is refused), and when an input has a
form that cannot follow the box (markers outside the image, an array of another shape), so that
it meets the checks of the whole image.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from labelfree.canvas import stack_content_box
from labelfree.cutter.config import CutterConfig
from labelfree.cutter.marker_checks import DETECTING_ORIGIN
from labelfree.cutter.prepare import Frame

__all__ = ["Box", "content_box", "crop_inputs", "frame_in_input", "positions_in_input"]

#: (Y, X) slices of the part of the input that Cutter segments
Box = tuple[slice, slice]


def _image_box(da: xr.DataArray) -> list[int]:
    """[top, bottom, left, right] of the smallest box holding the :func:`labelfree.canvas.content_box` of every
    (T, C) plane that is not blank (:func:`labelfree.canvas.stack_content_box`); the whole image when all are."""
    lead = [d for d in da.dims if d not in ("Y", "X")]
    box = stack_content_box(da.transpose(*lead, "Y", "X"))
    if box is None:
        return [0, int(da.sizes["Y"]), 0, int(da.sizes["X"])]
    ys, xs = box
    return [ys.start, ys.stop, xs.start, xs.stop]


def _array_extent(value: Any, shape: tuple[int, int]) -> tuple[int, int, int, int] | None | bool:
    """[top, bottom, left, right] of the non-zero pixels of a (Y, X) or (T, Y, X) array; None when it has
    none; False when it is no such array."""
    arr = np.asarray(value.values if isinstance(value, xr.DataArray) else value)
    if arr.ndim not in (2, 3) or arr.shape[-2:] != shape or arr.dtype.kind not in "biuf":
        return False
    hit = (arr != 0).reshape((-1,) + shape).any(axis=0)  # NaN counts: the whole image's checks must meet it
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _points_extent(value: Any, shape: tuple[int, int]) -> tuple[int, int, int, int] | None | bool:
    """The extent of the pixels of (N, 2) (y, x) or (N, 3) (t, y, x) points inside the image; None for no
    point; False for anything else (points outside the image, non-finite ones)."""
    pts = np.asarray(value)
    if pts.dtype.kind not in "iuf" or pts.ndim != 2 or pts.shape[1] not in (2, 3):
        return False
    if not len(pts):
        return None
    yx = pts[:, -2:].astype(np.float64)
    h, w = shape
    if not np.isfinite(yx).all() or (yx < -0.5).any() or (yx[:, 0] > h - 0.5).any() or (yx[:, 1] > w - 0.5).any():
        return False
    pixels = np.clip(np.rint(yx).astype(np.int64), 0, [h - 1, w - 1])
    return int(pixels[:, 0].min()), int(pixels[:, 0].max()) + 1, int(pixels[:, 1].min()), int(pixels[:, 1].max()) + 1


def _markers_extent(markers: Any, shape: tuple[int, int]) -> Any:
    """The extent of the markers: points, a marker image, or a list with one of them per frame."""
    if markers is None:
        return None
    extents = []
    for entry in markers if isinstance(markers, (list, tuple)) else [markers]:
        entry = np.asarray(entry.values if isinstance(entry, xr.DataArray) else entry)
        image = entry.ndim in (2, 3) and entry.shape[-2:] == shape
        extents.append(_array_extent(entry, shape) if image else _points_extent(entry, shape))
    return _union(extents)


def _given_extent(value: Any, shape: tuple[int, int]) -> Any:
    """The extent of a given mask or scribbles: one array, or a list with one per frame."""
    if value is None:
        return None
    entries = value if isinstance(value, (list, tuple)) else [value]
    return _union([_array_extent(e, shape) for e in entries])


def _union(extents: list) -> Any:
    if any(e is False for e in extents):
        return False
    found = [e for e in extents if e is not None]
    if not found:
        return None
    return min(e[0] for e in found), max(e[1] for e in found), min(e[2] for e in found), max(e[3] for e in found)


def content_box(da: xr.DataArray, config: CutterConfig, /, *, markers: Any = None, mask: Any = None,
                scribbles: Any = None) -> Box | None:
    """The part of a Cutter input (a validated (T)(C)YX DataArray) inside its constant canvas, or None
    when that is the whole image.

    The box holds the padding box (:func:`labelfree.canvas.content_box`) of every plane, every marker
    (points or the blobs of a marker image) and the non-zero pixels of a given ``mask`` and
    ``scribbles``. A box smaller than one patch (``crop_size`` x ``downscale``, 1 when automatic
    or smaller) along a side gives None, as do markers, masks and scribbles of a form that cannot
    follow the box (points outside the image, an array of another size): the image is used whole.
    """
    shape = (int(da.sizes["Y"]), int(da.sizes["X"]))
    edges = _image_box(da)
    if edges == [0, shape[0], 0, shape[1]]:
        return None
    extent = _union([_markers_extent(markers, shape), _given_extent(mask, shape),
                     _given_extent(scribbles, shape)])
    if extent is False:
        return None
    if extent is not None:
        edges = [min(edges[0], extent[0]), max(edges[1], extent[1]), min(edges[2], extent[2]),
                 max(edges[3], extent[3])]
    need = config.crop_size * max(1.0, float(config.downscale or 1.0))
    top, bottom, left, right = edges
    if min(bottom - top, right - left) < need or (top, bottom, left, right) == (0, shape[0], 0, shape[1]):
        return None
    return slice(top, bottom), slice(left, right)


def _crop_array(value: Any, box: Box) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_crop_array(v, box) for v in value]
    arr = np.asarray(value.values if isinstance(value, xr.DataArray) else value)
    return arr[(..., *box)]


def _crop_markers(markers: Any, box: Box, shape: tuple[int, int]) -> Any:
    if markers is None:
        return None
    if isinstance(markers, (list, tuple)):
        return [_crop_markers(np.asarray(m.values if isinstance(m, xr.DataArray) else m), box, shape)
                for m in markers]
    arr = np.asarray(markers.values if isinstance(markers, xr.DataArray) else markers)
    if arr.ndim in (2, 3) and arr.shape[-2:] == shape:  # a marker image
        return arr[(..., *box)]
    if not len(arr):
        return arr
    shifted = arr.astype(np.float64)
    shifted[:, -2] -= box[0].start
    shifted[:, -1] -= box[1].start
    return shifted


def crop_inputs(box: Box, shape: tuple[int, int], /, *, markers: Any, mask: Any, scribbles: Any
                ) -> tuple[Any, Any, Any]:
    """``markers``, ``mask`` and ``scribbles`` of an input of ``shape`` (Y, X) as they are in ``box``
    (points shifted, marker images, masks and scribbles cut)."""
    return _crop_markers(markers, box, shape), _crop_array(mask, box), _crop_array(scribbles, box)


def frame_in_input(frame: Frame, box: Box, shape: tuple[int, int], /) -> Frame:
    """A frame prepared on ``box`` of an input of ``shape`` (Y, X), in the input's pixels: its mask
    (the canvas is background), intensity, markers and marker blobs placed there, its patches kept on the box."""
    offset = np.array([box[0].start, box[1].start], np.float64)
    mask = np.zeros(shape, bool)
    mask[box] = frame.mask
    signal = None
    if frame.signal is not None:
        signal = np.zeros(shape, frame.signal.dtype)
        signal[box] = frame.signal
    blobs = None
    if frame.blobs is not None:
        blobs = np.zeros(shape, frame.blobs.dtype)
        blobs[box] = frame.blobs
    markers = None if frame.markers is None else frame.markers + offset
    return dataclasses.replace(frame, shape=tuple(shape), mask=mask, signal=signal, markers=markers, box=box,
                               blobs=blobs)


@contextlib.contextmanager
def positions_in_input(box: Box | None, /) -> Iterator[None]:
    """While the block runs, markers detected on ``box`` of the input (None: the whole input) are said in the
    input's pixels: the note of the markers added at dim nuclei and a
    :class:`labelfree.cutter.markers.MissedNucleiWarning` (its text and its ``regions``) name positions with the
    box's origin added (:data:`labelfree.cutter.marker_checks.DETECTING_ORIGIN`), as the provenance's ``added_at``
    does."""
    token = DETECTING_ORIGIN.set((0, 0) if box is None else (int(box[0].start), int(box[1].start)))
    try:
        yield
    finally:
        DETECTING_ORIGIN.reset(token)
