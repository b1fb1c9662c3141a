"""ROIs back into label images: markers, scribbles or edited outlines drawn in the ROI Manager."""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from labelfree.errors import DimensionError, InputError

__all__ = ["roimanager_to_labels"]


def _roi_plane(roi: Any, dims: str, sizes: dict[str, int]) -> list[tuple[int, ...]]:
    """Plane indices (over the non-YX dims) that a ROI applies to; 0 position = all."""
    lead = [d for d in dims if d not in "YX"]
    if not lead:
        return [()]
    if roi.hasHyperStackPosition():
        pos = {"T": int(roi.getTPosition()), "Z": int(roi.getZPosition())}
    else:
        p = int(roi.getPosition())
        pos = {lead[0]: p} if len(lead) == 1 else {}
    ranges = [[pos[d] - 1] if pos.get(d, 0) > 0 else range(sizes[d]) for d in lead]
    out = list(itertools.product(*ranges))
    for idx in out:
        for d, i in zip(lead, idx):
            if not 0 <= i < sizes[d]:
                raise InputError(f"A ROI ({roi.getName()}) is placed at {d}={i + 1}, outside the image ({sizes[d]}).")
    return out


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _point_plane(roi: Any, index: int, dims: str, sizes: dict[str, int], channels: int) -> tuple[int, ...] | None:
    """The plane of point ``index`` of a multi-point ROI from its own position, or None when it has none.

    The multi-point tool stores, for each click, the stack index of the plane on show
    (``PointRoi.getPointPosition``); it becomes (channel, z, frame) as
    ``ImagePlus.convertIndexToPosition`` does (channel fastest, then z, then frame).
    """
    get = getattr(roi, "getPointPosition", None)
    n = int(get(index)) if get is not None else 0
    lead = [d for d in dims if d not in "YX"]
    if n <= 0 or not lead:
        return None
    n_z, n_t = sizes.get("Z", 1), sizes.get("T", 1)
    if n > channels * n_z * n_t:
        raise InputError(
            f"Point {index + 1} of the ROI {roi.getName() or '(unnamed)'} lies on stack position {n}, but the image "
            f"has {channels * n_z * n_t} planes ({_count(channels, 'channel')}, {_count(n_z, 'slice')}, "
            f"{_count(n_t, 'frame')}): the ROI belongs to another image. Draw the points on this image, or "
            "delete that ROI from the ROI Manager."
        )
    pos = {"Z": (n - 1) // channels % n_z, "T": (n - 1) // (channels * n_z)}
    return tuple(pos[d] for d in lead)


def _label_of(roi: Any, index: int) -> int:
    prop = roi.getProperty("label")
    return int(str(prop)) if prop is not None and str(prop).isdigit() else index


def _targets(roi: Any, dims: str, sizes: dict[str, int], lead_shape: tuple[int, ...]) -> list[int]:
    return [int(np.ravel_multi_index(idx, lead_shape)) if lead_shape else 0 for idx in _roi_plane(roi, dims, sizes)]


def roimanager_to_labels(
    rois: Any = None, /, *, shape: Sequence[int], dims: str | None = None, channels: int = 1
) -> np.ndarray:
    """Rasterise ROIs (e.g. markers or scribbles drawn by the user) into a label array.

    Parameters
    ----------
    rois : RoiManager, sequence of ij.gui.Roi, or None
        Default: every ROI of the ROI Manager.
    shape : sequence of int
        Output shape.
    dims : str, optional
        Letters for ``shape`` from T, Z, Y, X (default YX, TYX, TZYX by length).
    channels : int
        Channels of the ImageJ image the ROIs were drawn on (``imp.getNChannels()``): a point
        of a multi-point ROI that carries its own stack position (clicked with the multi-point
        tool on a stack) goes to that plane, the stack index read as ImageJ does.

    Returns
    -------
    numpy.ndarray (uint16 or uint32)
        Area ROIs are filled with their ``label`` property (else their 1-based index
        among the area ROIs); then each point of a point ROI becomes its own one-pixel
        object, numbered after the largest area label, on its own plane when it has one
        (``PointRoi.getPointPosition``), else on the ROI's. A ROI without position applies
        to every plane.
    """
    shape = tuple(int(s) for s in shape)
    dims = (dims or {2: "YX", 3: "TYX", 4: "TZYX"}.get(len(shape), "")).upper()
    if len(dims) != len(shape) or dims[-2:] != "YX" or any(d not in "TZYX" for d in dims):
        raise DimensionError(f"shape {shape} with dims {dims!r}: give dims from T, Z, Y, X ending in YX.")
    if rois is None:
        from labelfree.imagej.rois import get_roimanager

        rois = get_roimanager()
    if hasattr(rois, "getRoisAsArray"):
        rois = list(rois.getRoisAsArray())
    sizes = dict(zip(dims, shape))
    out = np.zeros(shape, np.uint32)
    lead_shape = tuple(sizes[d] for d in dims if d not in "YX")
    planes = out.reshape((-1,) + shape[-2:]) if lead_shape else out[None]
    from labelfree.imagej._pixels import read_planes

    is_point = [int(roi.getType()) == int(roi.POINT) for roi in rois]
    areas = [roi for roi, point in zip(rois, is_point) if not point]
    area_labels = [_label_of(roi, i) for i, roi in enumerate(areas, start=1)]
    for roi, label in zip(areas, area_labels):
        box = roi.getBounds()
        mask_ip = roi.getMask()
        x0, y0, bw, bh = int(box.x), int(box.y), int(box.width), int(box.height)
        if mask_ip is None:
            mask = np.ones((bh, bw), bool)
        else:
            from scyjava import jimport

            stack = jimport("ij.ImageStack")(bw, bh)
            stack.addSlice(None, mask_ip)
            mask = read_planes(stack, [1], bit_depth=8)[0] != 0
        ys, xs = np.nonzero(mask)
        ys, xs = ys + y0, xs + x0
        keep = (ys >= 0) & (ys < shape[-2]) & (xs >= 0) & (xs < shape[-1])
        for p in _targets(roi, dims, sizes, lead_shape):
            planes[p, ys[keep], xs[keep]] = label
    next_point = max(area_labels, default=0) + 1  # each point is its own object, after the areas
    channels = max(int(channels), 1)
    for roi in (roi for roi, point in zip(rois, is_point) if point):
        poly = roi.getFloatPolygon()
        whole = None  # the ROI's own planes, for points without a position of their own
        for i, (x, y) in enumerate(zip(poly.xpoints[: poly.npoints], poly.ypoints[: poly.npoints])):
            own = _point_plane(roi, i, dims, sizes, channels)
            if own is not None:
                targets = [int(np.ravel_multi_index(own, lead_shape))]
            else:
                whole = _targets(roi, dims, sizes, lead_shape) if whole is None else whole
                targets = whole
            xi, yi = int(x), int(y)
            if 0 <= yi < shape[-2] and 0 <= xi < shape[-1]:
                for p in targets:
                    planes[p, yi, xi] = next_point
                next_point += 1
    top = int(out.max()) if out.size else 0
    return out.astype(np.uint16) if top <= 65535 else out
