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


def _label_of(roi: Any, index: int) -> int:
    prop = roi.getProperty("label")
    return int(str(prop)) if prop is not None and str(prop).isdigit() else index


def _targets(roi: Any, dims: str, sizes: dict[str, int], lead_shape: tuple[int, ...]) -> list[int]:
    return [int(np.ravel_multi_index(idx, lead_shape)) if lead_shape else 0 for idx in _roi_plane(roi, dims, sizes)]


def roimanager_to_labels(
    rois: Any = None, /, *, shape: Sequence[int], dims: str | None = None
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

    Returns
    -------
    numpy.ndarray (uint16 or uint32)
        Area ROIs are filled with their ``label`` property (else their 1-based index
        among the area ROIs); then each point of a point ROI becomes its own one-pixel
        object, numbered after the largest area label. A ROI without position applies
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
    for roi in (roi for roi, point in zip(rois, is_point) if point):
        poly = roi.getFloatPolygon()
        targets = _targets(roi, dims, sizes, lead_shape)
        for x, y in zip(poly.xpoints[: poly.npoints], poly.ypoints[: poly.npoints]):
            xi, yi = int(x), int(y)
            if 0 <= yi < shape[-2] and 0 <= xi < shape[-1]:
                for p in targets:
                    planes[p, yi, xi] = next_point
                next_point += 1
    top = int(out.max()) if out.size else 0
    return out.astype(np.uint16) if top <= 65535 else out
