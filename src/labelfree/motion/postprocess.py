"""Mask clean-up (size filter, closing with a disk, hole filling, border) and instances.

These run once per frame on full-size masks, so they use OpenCV primitives; the
results equal :mod:`labelfree.labels`' reference versions (see the tests).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from labelfree.errors import DimensionError
from labelfree.labels import OverlapLinker, weighted_median  # noqa: F401 - OverlapLinker is part of this module's API

__all__ = [
    "remove_small",
    "close_disk",
    "fill_mask_holes",
    "clear_border_objects",
    "postprocess",
    "to_instances",
    "merge_small_objects",
    "OverlapLinker",
]


def _mask(mask: np.ndarray, what: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise DimensionError(f"{what} works on one (Y, X) mask; got shape {m.shape}.")
    if m.dtype == bool and m.flags.c_contiguous:
        return m.view(np.uint8)  # OpenCV reads it as 0/1 without a copy; callers never write to it
    return (m > 0).astype(np.uint8)


def components_with_stats(mask: np.ndarray, /) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a (Y, X) uint8 0/1 mask: count (with background), int32 labels, stats.

    The same labels and statistics as ``cv2.connectedComponentsWithStats``;
    its block-based algorithm (BBDT) gathers the statistics about 3x faster
    than the default one on one thread.
    """
    n, lab, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_BBDT)
    return n, lab, stats


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
    n, lab, stats = components_with_stats(m)
    small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_size) + 1
    if len(small) <= 64:  # few to drop (a cleaned mask): clear them inside their boxes
        out = m.astype(bool)
        for i in small:
            x, y, w, h = stats[i, :4]
            box = out[y : y + h, x : x + w]
            box[lab[y : y + h, x : x + w] == i] = False
        return out
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
        Objects below this area (px) are removed (before the closing).
    closing_radius : int
        Disk radius (px) of the closing (paper: 5).
    clear_border : bool
        Remove objects touching the border (paper: yes; LabelFree default: no).

    Returns
    -------
    (Y, X) bool array; no 8-connected object is smaller than ``min_size``.
    """
    m = remove_small(mask, min_size=min_size)
    m = fill_mask_holes(close_disk(m, radius=closing_radius))
    # the closing only adds pixels, but not all of them touch an object: where the dilation
    # bridges a gap narrower than the disk, the erosion can leave a pixel on its own (1-px objects
    # in frames classified mostly cell); every earlier object is still at least min_size
    m = remove_small(m, min_size=min_size)
    return clear_border_objects(m) if clear_border else m


def merge_small_objects(labels: np.ndarray, /, *, min_size: int) -> np.ndarray:
    """Labels in which every object has at least ``min_size`` pixels: a smaller one goes to the
    touching object it shares the longest border with (a piece of a split clump, an object cut at
    a frame's data edge), or to the background when it touches none. Smallest first; ``labels``
    itself is returned when nothing is smaller, else a changed copy.
    """
    from scipy import ndimage as ndi

    lab = np.asarray(labels)
    if min_size <= 1 or not lab.any():
        return lab
    area = np.bincount(lab.ravel())
    small = np.flatnonzero((area > 0) & (area < min_size))
    small = small[small > 0]
    if not len(small):
        return lab
    lab = lab.copy()
    boxes = ndi.find_objects(lab)
    h, w = lab.shape
    for i in small[np.argsort(area[small], kind="stable")]:
        if area[i] >= min_size or boxes[i - 1] is None:  # grown by a merge before it
            continue
        ys, xs = boxes[i - 1]
        y0, y1, x0, x1 = max(0, ys.start - 1), min(h, ys.stop + 1), max(0, xs.start - 1), min(w, xs.stop + 1)
        box = lab[y0:y1, x0:x1]
        obj = box == i
        ring = cv2.dilate(obj.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) & ~obj
        around = box[ring]
        around = around[(around > 0) & (around != i)]
        to = int(np.bincount(around).argmax()) if len(around) else 0
        box[obj] = to
        if to:
            area[to] += area[i]
            bt = boxes[to - 1]
            boxes[to - 1] = (slice(min(bt[0].start, ys.start), max(bt[0].stop, ys.stop)),
                             slice(min(bt[1].start, xs.start), max(bt[1].stop, xs.stop)))
        area[i] = 0
    return lab


#: clumps of cells at least this large (px, typical cell area) are split on 2 x 2-binned masks
DECLUMP_BIN_AREA = 2000


def to_instances(
    mask: np.ndarray,
    /,
    *,
    declump: bool = True,
    min_size: int = 0,
    cell_area: float | None = None,
    neck_ratio: float | None = None,
    binning: int | None = None,
) -> np.ndarray:
    """Label a clean binary mask: connected components, with clumps split into cells.

    Parameters
    ----------
    mask : (Y, X) bool array
    declump : bool
        Split clumps with :func:`labelfree.labels.declump` (distance-transform
        watershed). Only components larger than 1.5x ``cell_area`` are
        candidates (a single cell is left whole, however elongated), and each
        is split inside its bounding box.
    min_size : int
        Pieces below this area (px) produced by a split are merged into a neighbour.
    cell_area : float, optional
        Typical area (px) of one cell; None: the area-weighted median component area.
    neck_ratio : float, optional
        Pieces of a split that do not meet at a neck are merged again
        (:func:`labelfree.labels.declump`); None: keep every piece.
    binning : int, optional
        Split each clump on its ``k`` x ``k``-binned mask (a binned pixel is set
        when any of its pixels is) and give every pixel the piece of its bin;
        pieces are then made connected again. None: 2 when the typical cell
        area is at least ``DECLUMP_BIN_AREA`` px (a binned cell still has a
        radius of 12 px or more), else 1. The watershed runs on 4x fewer
        pixels; the cuts fall on the bin grid, and a clump whose neck is near
        ``neck_ratio`` may be cut differently than at full size (object scores
        of both in docs/benchmarks.md).

    Returns
    -------
    (Y, X) uint32 labels, 1..n.
    """
    m = _mask(mask, "to_instances")
    n, lab, stats = components_with_stats(m)
    lab = lab.view(np.uint32)  # labels are >= 0: the same values, no copy
    if not declump or n <= 1:
        return lab
    from labelfree.labels import declump as _declump

    areas = stats[1:, cv2.CC_STAT_AREA]
    if cell_area is None:
        cell_area = weighted_median(areas, areas)
    typical = float(cell_area)
    k = int(binning) if binning is not None else (2 if typical >= DECLUMP_BIN_AREA else 1)
    next_id = n
    for i in np.flatnonzero(areas > 1.5 * typical) + 1:
        x, y, w, h = stats[i, :4]
        box = (slice(y, y + h), slice(x, x + w))
        obj = lab[box] == i
        if k > 1:
            parts = _declump_binned(obj, k, neck_ratio=neck_ratio, min_size=min_size)
        else:
            parts = np.asarray(_declump(obj, neck_ratio=neck_ratio), np.uint32)
            if parts.max() > 1 and min_size > 1:
                parts = _merge_small(parts, obj, min_size)
        if parts.max() <= 1:
            continue
        ids = np.unique(parts[obj])
        if len(ids) <= 1:
            continue
        lut = np.zeros(int(parts.max()) + 1, np.uint32)
        lut[ids[0]] = i
        lut[ids[1:]] = np.arange(next_id, next_id + len(ids) - 1)
        next_id += len(ids) - 1
        lab[box][obj] = lut[parts[obj]]
    return lab


def _declump_binned(obj: np.ndarray, k: int, *, neck_ratio: float | None, min_size: int,
                    height: np.ndarray | None = None, min_distance: int | None = None) -> np.ndarray:
    """:func:`labelfree.labels.declump` of one connected object on its ``k`` x ``k``-binned mask.

    Every pixel of ``obj`` takes the piece of its bin; a piece that falls apart
    at full size keeps its largest part, and the other parts go to the piece
    they touch most. ``height`` (a landscape, binned by its mean) and
    ``min_distance`` (full-size px) are passed on to ``declump``.
    """
    from labelfree.labels import declump as _declump

    h, w = obj.shape
    hb, wb = -(-h // k), -(-w // k)
    padded = np.zeros((hb * k, wb * k), np.uint8)
    padded[:h, :w] = obj
    padded *= 255
    # a bin is set when any of its pixels is (its mean is > 0): the binned object stays connected
    small = cv2.resize(padded, (wb, hb), interpolation=cv2.INTER_AREA) > 0
    small_height = None
    if height is not None:
        grid = np.zeros((hb * k, wb * k), np.float32)
        grid[:h, :w] = height
        small_height = cv2.resize(grid, (wb, hb), interpolation=cv2.INTER_AREA)
    dist = None if min_distance is None else max(1, int(round(min_distance / k)))
    parts = np.asarray(_declump(small, neck_ratio=neck_ratio, height=small_height, min_distance=dist), np.uint32)
    if parts.max() <= 1:
        return parts
    if min_size > 1:
        parts = _merge_small(parts, small, max(1, min_size // (k * k)))
    full = np.repeat(np.repeat(parts, k, axis=0), k, axis=1)[:h, :w]
    full[~obj] = 0
    return _connect_pieces(full)


def _connect_pieces(parts: np.ndarray) -> np.ndarray:
    """Give every part of a piece that is cut off from the piece's largest part to the
    neighbouring piece it shares the longest border with (8-connected parts)."""
    from scipy import ndimage as ndi

    out = parts.copy()
    for _ in range(4):  # a moved part can itself cut another piece only rarely; a few rounds settle it
        moved = False
        for pid, sl in enumerate(ndi.find_objects(out), start=1):
            if sl is None:
                continue
            one = (out[sl] == pid).view(np.uint8)
            n, lab, stats = components_with_stats(one)
            if n <= 2:
                continue
            keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            for j in range(1, n):
                if j == keep:
                    continue
                frag = np.zeros(out.shape, bool)
                frag[sl] = lab == j
                ring = cv2.dilate(frag.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) & ~frag
                around = out[ring]
                around = around[(around > 0) & (around != pid)]
                if len(around):
                    out[frag] = np.bincount(around).argmax()
                    moved = True
        if not moved:
            break
    return out


def _merge_small(parts: np.ndarray, obj: np.ndarray, min_size: int) -> np.ndarray:
    """Give pieces smaller than ``min_size`` to the nearest larger piece of the same object."""
    from scipy import ndimage as ndi

    areas = np.bincount(parts.ravel())
    small = np.flatnonzero(areas < min_size)
    small = small[small > 0]
    if not len(small) or len(small) == len(areas) - 1:
        return parts
    keep = np.where(np.isin(parts, small), 0, parts)
    idx = ndi.distance_transform_edt(keep == 0, return_distances=False, return_indices=True)
    return np.where(obj, keep[tuple(idx)], 0).astype(np.uint32)
