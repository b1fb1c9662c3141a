"""Cell instances over time: touching cells split, single cells kept whole, by what the movie shows.

Beyond the paper (which gives one binary mask per frame). A connected object of a
frame's clean mask may be one cell, several touching cells, or a part of a cell.
:class:`InstanceTracker` decides frame by frame, in order, with two kinds of evidence:

* **the previous frame's objects**, moved onto frame t with the pair's optical flow
  (:func:`warp_labels`). A clump that covers two cells that were apart before is
  split along them; an object that covers one cell that was whole before stays whole
  (unless it grew by more than half: then it may have met a cell that was missed).
* **one frame** (:func:`split_cells`), where the movie gives no such evidence (the
  first frame, new objects, objects that were split by this rule before). It splits a
  clump along the valleys of a landscape: the smoothed grey level where the grey level
  separates cells from the background (fluorescence: two touching cells are two
  bright bodies with a dimmer contact), else the distance to the background (phase
  contrast), as :func:`labelfree.motion.to_instances`.

Cells that were once apart therefore stay apart while they touch, and a cell whose
brightness is uneven (a bright body, dim protrusions) is not cut into pieces once it
has been seen whole. All sizes derive from the typical cell area
(:func:`labelfree.motion.selflabel.cell_scale`).
"""

from __future__ import annotations

import cv2
import numpy as np

from labelfree.motion.postprocess import _merge_small, components_with_stats, to_instances
from labelfree.motion.selflabel import cell_scale

__all__ = ["warp_labels", "split_cells", "InstanceTracker"]

#: a previous cell counts in a clump when at least this fraction of it lies there
_OVERLAP = 0.3
#: ... and when it was at least this fraction of the typical cell area (not a fragment)
_CELL_FRACTION = 0.35
#: an object that was one cell is looked at again when it grew by more than this factor
_GROWTH = 1.5


def warp_labels(labels: np.ndarray, flow: np.ndarray | None, /) -> np.ndarray:
    """Labels of frame t-1 moved onto frame t's grid with the flow of the pair (nearest neighbour).

    ``flow`` is the pair's flow on frame t's grid, pointing to frame t-1 (as
    ``segment`` computes it): the object at pixel ``p`` of frame t is the one at
    ``p + flow[p]`` of frame t-1. None: the labels as they are.
    """
    lab = np.asarray(labels)
    if flow is None:
        return lab.astype(np.int64)
    h, w = lab.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx += flow[..., 0]
    gy += flow[..., 1]
    # labels above 2**24 are not exact in float32: remap int32 labels directly
    out = cv2.remap(lab.astype(np.int32), gx, gy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.astype(np.int64)


def _height(frame: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Grey level above the background (median outside the mask), smoothed, >= 0."""
    f = np.asarray(frame, np.float32)
    outside = f[::4, ::4][~mask[::4, ::4]]
    bg = float(np.median(outside)) if outside.size else 0.0
    h = cv2.GaussianBlur(f, (0, 0), sigma) - np.float32(bg)
    return np.maximum(h, 0, out=h)


def split_cells(
    obj: np.ndarray,
    /,
    *,
    height: np.ndarray | None,
    cell_area: float,
    dip_ratio: float,
    neck_ratio: float | None,
    min_size: int,
) -> np.ndarray:
    """Split one connected object (a box of the frame) into cells from this frame alone.

    Parameters
    ----------
    obj : (Y, X) bool array
        The object (one 8-connected component).
    height : (Y, X) float array or None
        Smoothed grey level above the background (the intensity landscape): peaks at
        least ``split_min_distance`` (:func:`labelfree.motion.selflabel.cell_scale`) apart seed a watershed, and
        two pieces stay apart only where the grey level between them falls below
        ``dip_ratio`` x the dimmer peak. None: the distance-transform split of
        :func:`labelfree.motion.to_instances` (objects above 1.5 x ``cell_area``,
        pieces merged unless they meet at a neck, ``neck_ratio``).
    cell_area : float
        Typical cell area (px).
    min_size : int
        Pieces below this area (px) are given to a neighbour.

    Returns
    -------
    (Y, X) uint32 labels 1..k (0 outside ``obj``).
    """
    if height is None:
        return to_instances(obj, min_size=min_size, cell_area=cell_area, neck_ratio=neck_ratio)
    from labelfree.labels import declump

    scale = cell_scale(cell_area)
    dist = int(round(scale["split_min_distance"]))
    h = np.where(obj, height, 0).astype(np.float32)
    # two peaks (local maxima over the spacing) are needed for a split: test that first, cheaply
    peaks = (h > 0) & (h >= cv2.dilate(h, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * dist + 1,) * 2)))
    if cv2.connectedComponents(peaks.view(np.uint8), connectivity=8)[0] > 2:
        parts = np.asarray(declump(obj, height=h, min_distance=dist, neck_ratio=dip_ratio), np.uint32)
    else:
        parts = obj.astype(np.uint32)
    if parts.max() > 1 and min_size > 1:
        parts = _merge_small(parts, obj, min_size)
    return parts


class InstanceTracker:
    """Instances of a movie's clean masks, frame by frame in order (see the module docstring).

    Parameters
    ----------
    cell_area : float
        Typical cell area (px).
    landscape : {"intensity", "distance"}
        What :func:`split_cells` splits along (per call of :meth:`step` it may change).
    dip_ratio : float
        Intensity landscape: pieces stay apart where the grey level between them falls
        below this fraction of the dimmer peak.
    neck_ratio : float or None
        Distance landscape: see :func:`labelfree.labels.declump`.
    min_size : int
        Pieces below this area (px) are given to a neighbour.
    temporal : bool
        Use the previous frame's objects (False: every frame on its own).
    """

    def __init__(self, *, cell_area: float, landscape: str = "intensity", dip_ratio: float = 0.7,
                 neck_ratio: float | None = 0.8, min_size: int = 0, temporal: bool = True) -> None:
        self.cell_area = float(cell_area)
        self.landscape = landscape
        self.dip_ratio = float(dip_ratio)
        self.neck_ratio = neck_ratio
        self.min_size = int(min_size)
        self.temporal = temporal
        self.prev: np.ndarray | None = None  # the last frame's objects (this class's ids)
        self.unit = np.zeros(1, np.int64)  # per id: its cell (its own id) or its unresolved group
        self.whole = np.zeros(1, bool)  # per id: seen as one whole cell

    def reset(self) -> None:
        """Forget the previous frame (the next frame is decided on its own)."""
        self.prev = None

    def step(self, mask: np.ndarray, frame: np.ndarray, /, *, flow: np.ndarray | None = None) -> np.ndarray:
        """Instances of the next frame: (Y, X) uint32 labels 1..n of the clean ``mask``.

        ``frame`` is the frame (any grey levels; only the intensity landscape reads it);
        ``flow`` the flow from it to the previous frame given to :meth:`step` (None: no
        motion assumed).
        """
        m = np.asarray(mask, bool)
        n, lab, stats = components_with_stats(m.view(np.uint8) if m.flags.c_contiguous else m.astype(np.uint8))
        scale = cell_scale(self.cell_area)
        height = _height(frame, m, scale["split_sigma"]) if self.landscape == "intensity" else None
        out = np.zeros(m.shape, np.uint32)
        units: list[int] = [0]  # per new id: unit (id of the cell, or of the first piece of a group)
        whole: list[bool] = [False]

        def emit(box, region, unit, is_whole):
            i = len(units)
            out[box][region] = i
            units.append(i if unit is None else unit)
            whole.append(is_whole)
            return i

        def single(box, region, sticky):
            """Decide from this frame; ``sticky``: an unresolved group stays one even when whole."""
            parts = split_cells(region, height=None if height is None else height[box], cell_area=self.cell_area,
                                dip_ratio=self.dip_ratio, neck_ratio=self.neck_ratio, min_size=self.min_size)
            ids = np.unique(parts[region])
            if len(ids) <= 1:
                i = emit(box, region, None, not sticky)
                if sticky:
                    units[i] = i
                return
            first = None
            for j in ids:
                i = emit(box, region & (parts == j), first, False)
                first = i if first is None else first

        prev_units, overlaps = self._overlaps(lab, m, flow) if (self.temporal and self.prev is not None) else (None, None)
        for c in range(1, n):
            x, y, w, h = stats[c, :4]
            box = (slice(y, y + h), slice(x, x + w))
            obj = lab[box] == c
            cells = overlaps.get(c, []) if overlaps is not None else []
            if len(cells) >= 2:  # cells seen apart (or split) in the previous frame: split along them
                pieces = self._split_along(obj, prev_units[box], cells, None if height is None else height[box])
                for k, piece in zip(cells, pieces):
                    if not piece.any():
                        continue
                    if self._is_whole(k):
                        emit(box, piece, None, True)
                    else:
                        single(box, piece, sticky=True)
                continue
            if len(cells) == 1 and self._is_whole(cells[0]) and obj.sum() <= _GROWTH * self._unit_area[cells[0]]:
                emit(box, obj, None, True)
                continue
            single(box, obj, sticky=False)
        self.prev = out
        self.unit = np.asarray(units, np.int64)
        self.whole = np.asarray(whole, bool)
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _is_whole(self, unit: int) -> bool:
        return bool(self._unit_whole[unit])

    def _overlaps(self, lab: np.ndarray, mask: np.ndarray, flow: np.ndarray | None):
        """The previous cells (units) moved onto this frame, and per object the cells it holds."""
        unit_of = self.unit
        prev_units = unit_of[self.prev]
        self._unit_area = np.bincount(prev_units.ravel(), minlength=len(unit_of))
        self._unit_area[0] = 0
        self._unit_whole = np.zeros(len(unit_of), bool)
        self._unit_whole[unit_of[self.whole]] = True
        moved = warp_labels(prev_units, flow)
        moved[~mask] = 0
        both = (moved > 0) & (lab > 0)
        nu = len(unit_of)
        key = lab[both].astype(np.int64) * nu + moved[both]
        pairs, counts = np.unique(key, return_counts=True)
        objs, cells = pairs // nu, pairs % nu
        keep = (counts >= _OVERLAP * self._unit_area[cells]) & (self._unit_area[cells] >= _CELL_FRACTION * self.cell_area)
        table: dict[int, list[int]] = {}
        for o, k in zip(objs[keep], cells[keep]):
            table.setdefault(int(o), []).append(int(k))
        return moved, table

    @staticmethod
    def _split_along(obj: np.ndarray, moved: np.ndarray, cells: list[int], height: np.ndarray | None) -> list[np.ndarray]:
        """Watershed of ``obj`` from the cores of the moved previous cells (grey level or distance)."""
        from skimage.segmentation import watershed

        seeds = np.zeros(obj.shape, np.int32)
        kernel = np.ones((5, 5), np.uint8)
        for j, k in enumerate(cells, start=1):
            part = (moved == k) & obj
            core = cv2.erode(part.view(np.uint8), kernel).view(bool)
            seeds[core if core.any() else part] = j
        if height is None:
            land = cv2.distanceTransform(obj.view(np.uint8), cv2.DIST_L2, 5)
        else:
            land = height
        parts = watershed(-land, seeds, mask=obj)
        return [parts == j for j in range(1, len(cells) + 1)]
