"""Mask clean-up (size filter, closing with a disk, hole filling, border) and instances.

These run once per frame on full-size masks, so they use OpenCV primitives; the
results equal :mod:`labelfree.labels`' reference versions (see the tests).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from labelfree.errors import DimensionError

__all__ = [
    "remove_small",
    "close_disk",
    "fill_mask_holes",
    "clear_border_objects",
    "postprocess",
    "to_instances",
    "OverlapLinker",
]


def _mask(mask: np.ndarray, what: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise DimensionError(f"{what} works on one (Y, X) mask; got shape {m.shape}.")
    return (m > 0).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def remove_small(mask: np.ndarray, /, *, min_size: int) -> np.ndarray:
    """Drop 8-connected components with fewer than ``min_size`` pixels (MATLAB ``bwareaopen``).

    Parameters
    ----------
    mask : (Y, X) bool array
    min_size : int
        Minimum object area in pixels.

    Returns
    -------
    (Y, X) bool array.
    """
    m = _mask(mask, "remove_small")
    if min_size <= 1:
        return m.astype(bool)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_size
    keep[0] = False
    return keep[lab]


def close_disk(mask: np.ndarray, /, *, radius: int = 5) -> np.ndarray:
    """Morphological closing with a disk of ``radius`` px (``skimage.morphology.disk``).

    Pixels outside the image count as background, so objects are not glued to
    the border.
    """
    m = _mask(mask, "close_disk")
    if radius <= 0:
        return m.astype(bool)
    pad = radius + 1
    p = cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    p = cv2.morphologyEx(p, cv2.MORPH_CLOSE, _disk(int(radius)))
    return p[pad:-pad, pad:-pad].astype(bool)


def fill_mask_holes(mask: np.ndarray, /) -> np.ndarray:
    """Fill background regions not connected (4-connectivity) to the image border (``imfill 'holes'``)."""
    m = _mask(mask, "fill_mask_holes")
    p = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    ff = np.zeros((p.shape[0] + 2, p.shape[1] + 2), np.uint8)
    cv2.floodFill(p, ff, (0, 0), 2, flags=4)
    return (p[1:-1, 1:-1] != 2)


def clear_border_objects(mask: np.ndarray, /) -> np.ndarray:
    """Remove 8-connected objects that touch the image border (MATLAB ``imclearborder``)."""
    m = _mask(mask, "clear_border_objects")
    n, lab = cv2.connectedComponents(m, connectivity=8)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    keep = np.ones(n, bool)
    keep[edge] = False
    keep[0] = False
    return keep[lab]


def postprocess(mask: np.ndarray, /, *, min_size: int, closing_radius: int = 5, clear_border: bool = False) -> np.ndarray:
    """The paper's clean-up of a classified frame: size filter, closing, fill holes, border.

    Parameters
    ----------
    mask : (Y, X) bool array
        Pixels classified as cell.
    min_size : int
        Objects below this area (px) are removed (before and after closing).
    closing_radius : int
        Disk radius (px) of the closing (paper: 5).
    clear_border : bool
        Remove objects touching the border (paper: yes; LabelFree default: no).

    Returns
    -------
    (Y, X) bool array.
    """
    m = remove_small(mask, min_size=min_size)
    m = fill_mask_holes(close_disk(m, radius=closing_radius))
    m = remove_small(m, min_size=min_size)
    return clear_border_objects(m) if clear_border else m


def to_instances(mask: np.ndarray, /, *, declump: bool = True, min_size: int = 0) -> np.ndarray:
    """Label a clean binary mask: connected components, or watershed-declumped cells.

    Parameters
    ----------
    mask : (Y, X) bool array
    declump : bool
        Split touching cells with :func:`labelfree.labels.declump`.
    min_size : int
        Fragments below this area (px) left by the split are merged away.

    Returns
    -------
    (Y, X) uint32 labels, 1..n.
    """
    m = _mask(mask, "to_instances")
    if not declump:
        return cv2.connectedComponents(m, connectivity=8)[1].astype(np.uint32)
    from labelfree.labels import declump as _declump

    lab = np.asarray(_declump(m.astype(bool)), np.uint32)
    if min_size > 1 and lab.max() > 0:
        areas = np.bincount(lab.ravel())
        small = np.flatnonzero(areas < min_size)
        small = small[small > 0]
        if len(small):  # give small pieces back to a neighbour or drop them
            from scipy import ndimage as ndi

            keep = lab.copy()
            keep[np.isin(lab, small)] = 0
            if keep.max() > 0:
                idx = ndi.distance_transform_edt(keep == 0, return_distances=False, return_indices=True)
                lab = np.where(m > 0, keep[tuple(idx)], 0).astype(np.uint32)
    return lab


class OverlapLinker:
    """Give the objects of consecutive frames the IDs of the best-overlapping previous object.

    Streaming version of :func:`labelfree.labels.track_by_overlap`: call
    :meth:`link` once per frame, in order; new objects get new IDs.
    """

    def __init__(self, *, min_iou: float = 0.3) -> None:
        self.min_iou = float(min_iou)
        self.prev: np.ndarray | None = None
        self.next_id = 1

    def link(self, labels: np.ndarray, /) -> np.ndarray:
        from labelfree.metrics import iou_matrix

        cur = np.asarray(labels)
        ids = np.unique(cur)
        ids = ids[ids != 0]
        lut = np.zeros(int(cur.max()) + 1 if cur.size else 1, np.uint32)
        if len(ids) and self.prev is not None and self.prev.any():
            iou, prev_ids, cur_ids = iou_matrix(cur, self.prev)  # rows: previous frame
            if iou.size:
                rows, cols = linear_sum_assignment(-iou)
                ok = iou[rows, cols] >= self.min_iou
                lut[np.asarray(cur_ids)[cols[ok]]] = np.asarray(prev_ids)[rows[ok]]
        for i in ids:
            if lut[i] == 0:
                lut[i] = self.next_id
                self.next_id += 1
        out = lut[cur]
        self.prev = out
        return out
