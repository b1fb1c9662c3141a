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

from labelfree.errors import ConfigError, DimensionError
from labelfree.motion.postprocess import (
    DECLUMP_BIN_AREA,
    _declump_binned,
    _merge_small,
    components_with_stats,
    to_instances,
)
from labelfree.motion.selflabel import cell_scale

__all__ = ["warp_labels", "split_cells", "InstanceTracker"]

#: a previous cell counts in a clump when at least this fraction of it lies there
_OVERLAP = 0.3
#: ... and when it was at least this fraction of the typical cell area (not a fragment)
_CELL_FRACTION = 0.35
#: an object that was one cell is looked at again when it grew by more than this factor
_GROWTH = 1.5
#: an object over this many typical cell areas that the grey level leaves whole is split by its shape (at its
#: necks) when every piece is convex (solidity at least ``_CONVEX``): round nuclei touching at a narrow contact,
#: which the smoothed grey level fills (Fluo-N3DH-CHO, projected: two nuclei 80 px across meeting over 8 px,
#: smoothed at 9.6 px, their pieces' solidity 0.95-0.98; the candidates of MSC, whose cells spread, 0.53-0.74)
_SHAPE_SPLIT_AREA = 2.0
_CONVEX = 0.9


def warp_labels(labels: np.ndarray, flow: np.ndarray | None, /) -> np.ndarray:
    """Labels of frame t-1 moved onto frame t's grid with the flow of the pair (nearest neighbour).

    ``flow`` is the pair's flow on frame t's grid, pointing to frame t-1 (as
    ``segment`` computes it): the object at pixel ``p`` of frame t is the one at
    ``p + flow[p]`` of frame t-1. None: the labels as they are. Returns int32 labels
    (ids must be below 2**31).
    """
    lab = np.asarray(labels)
    lab = lab.view(np.int32) if lab.dtype == np.uint32 and lab.flags.c_contiguous else lab.astype(np.int32)
    if flow is None:
        return lab
    h, w = lab.shape
    mapx = flow[..., 0] + np.arange(w, dtype=np.float32)
    mapy = flow[..., 1] + np.arange(h, dtype=np.float32)[:, None]
    return cv2.remap(lab, mapx, mapy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class _Height:
    """The grey level above the background (median outside the mask), smoothed at ``sigma``,
    >= 0: computed per box (with a margin of 3 sigma) when a box needs it."""

    def __init__(self, frame: np.ndarray, mask: np.ndarray, sigma: float) -> None:
        self.frame, self.mask, self.sigma, self.bg = frame, mask, float(sigma), None
        self.boxes: dict[tuple[int, int, int, int], np.ndarray] = {}

    def __getitem__(self, box: tuple[slice, slice]) -> np.ndarray:
        key = (box[0].start, box[0].stop, box[1].start, box[1].stop)
        if key not in self.boxes:
            self.boxes[key] = self._compute(box)
        return self.boxes[key]

    def _compute(self, box: tuple[slice, slice]) -> np.ndarray:
        if self.bg is None:
            outside = np.asarray(self.frame[::4, ::4])[~self.mask[::4, ::4]]
            self.bg = float(np.median(outside)) if outside.size else 0.0
        pad = int(np.ceil(3 * self.sigma))
        h, w = self.mask.shape
        y0, y1 = max(0, box[0].start - pad), min(h, box[0].stop + pad)
        x0, x1 = max(0, box[1].start - pad), min(w, box[1].stop + pad)
        sub = np.asarray(self.frame[y0:y1, x0:x1], np.float32)
        if self.sigma >= 4 and min(sub.shape) >= 4:  # wide blur: on the 2 x 2-binned box, 4x cheaper
            size = sub.shape[::-1]
            small = cv2.resize(sub, (size[0] // 2, size[1] // 2), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), self.sigma / 2, borderType=cv2.BORDER_REFLECT)
            sub = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
        else:
            sub = cv2.GaussianBlur(sub, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)
        sub -= np.float32(self.bg)
        sub = sub[box[0].start - y0 : box[0].stop - y0, box[1].start - x0 : box[1].stop - x0]
        return np.maximum(sub, 0)


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
        ``dip_ratio`` x the dimmer peak. An object over twice ``cell_area`` that this leaves whole is split
        by its shape, as with None below, when every piece of that split is convex (solidity 0.9 or more:
        round nuclei touching at a contact narrower than the smoothing). None: the distance-transform split of
        :func:`labelfree.motion.to_instances` (objects above 1.5 x ``cell_area``,
        pieces merged unless they meet at a neck, ``neck_ratio``).
    cell_area : float
        Typical cell area (px).
    dip_ratio : float
        With ``height``: pieces stay apart where the grey level between them falls below this
        fraction of the dimmer peak (:class:`InstanceTracker` uses 0.7).
    neck_ratio : float or None
        The neck rule of the distance split (:func:`labelfree.labels.declump`; :class:`InstanceTracker` uses
        0.8); with ``height``, None leaves out the split by shape.
    min_size : int
        Pieces below this area (px) are given to a neighbour.

    Returns
    -------
    (Y, X) uint32 labels 1..k (0 outside ``obj``).
    """
    if height is None:
        return to_instances(obj, min_size=min_size, cell_area=cell_area, neck_ratio=neck_ratio)
    parts = _grey_split(obj, height, cell_area=cell_area, dip_ratio=dip_ratio, min_size=min_size)
    if parts.max() > 1 or neck_ratio is None or np.count_nonzero(obj) <= _SHAPE_SPLIT_AREA * cell_area:
        return parts
    shape = np.asarray(to_instances(obj, min_size=min_size, cell_area=cell_area, neck_ratio=neck_ratio))
    ids = np.unique(shape[shape > 0])
    if len(ids) > 1 and all(_solidity(shape == k) >= _CONVEX for k in ids):
        return shape.astype(np.uint32)
    return parts


def _solidity(piece: np.ndarray, /) -> float:
    """The share of its convex hull's pixels that ``piece`` (a bool mask) covers; 1 for a convex piece, 0 for
    an empty one."""
    points = cv2.findNonZero(piece.astype(np.uint8))
    if points is None:
        return 0.0
    hull = cv2.convexHull(points)
    filled = np.zeros(piece.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return np.count_nonzero(piece) / max(np.count_nonzero(filled), 1)


def _grey_split(obj: np.ndarray, height: np.ndarray, /, *, cell_area: float, dip_ratio: float,
                min_size: int) -> np.ndarray:
    """:func:`split_cells` along the intensity landscape ``height``."""
    from labelfree.labels import declump

    scale = cell_scale(cell_area)
    dist = round(scale["split_min_distance"])
    h = np.where(obj, height, 0).astype(np.float32)
    # two peaks (local maxima over the spacing) are needed for a split: test that first, cheaply
    peaks = (h > 0) & (h >= cv2.dilate(h, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * dist + 1,) * 2)))
    if cv2.connectedComponents(peaks.view(np.uint8), connectivity=8)[0] <= 2:
        return obj.astype(np.uint32)
    if cell_area >= DECLUMP_BIN_AREA:  # large cells: split the 2 x 2-binned object (to_instances does the same)
        parts = _declump_binned(obj, 2, neck_ratio=dip_ratio, min_size=min_size, height=h, min_distance=dist)
        return parts if parts.max() > 1 else obj.astype(np.uint32)  # (one piece comes back binned)
    parts = np.asarray(declump(obj, height=h, min_distance=dist, neck_ratio=dip_ratio), np.uint32)
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
        self._unit_area = np.zeros(1, np.int64)  # per unit: its pixels in the previous frame
        self._unit_whole = np.zeros(1, bool)  # per unit: one whole cell

    def reset(self) -> None:
        """Forget the previous frame (the next frame is decided on its own)."""
        self.prev = None

    def rescale(self, *, cell_area: float, min_size: int) -> None:
        """Split and merge at another cell scale from the next frame on (the run settled its cell size).

        The previous frame's objects stay (cells seen apart are still split along them), but none of
        them counts as one whole cell any more: a clump kept whole at a larger cell area is looked at
        again, at the new one, by :func:`split_cells`.

        Parameters
        ----------
        cell_area : float
            The new typical cell area (px).
        min_size : int
            Pieces below this area (px) are given to a neighbour.
        """
        if not cell_area > 0:
            raise ConfigError(f"InstanceTracker.rescale needs a positive cell_area (px); got {cell_area!r}. Pass the "
                              "typical cell area, e.g. min_size / min_size_fraction.")
        self.cell_area = float(cell_area)
        self.min_size = int(min_size)
        self.whole = np.zeros_like(self.whole)
        self._unit_whole = np.zeros_like(self._unit_whole)

    def step(self, mask: np.ndarray, frame: np.ndarray, /, *, flow: np.ndarray | None = None) -> np.ndarray:
        """Instances of the next frame: (Y, X) uint32 labels 1..n of the clean ``mask``.

        ``frame`` is the frame (any grey levels; only the intensity landscape reads it);
        ``flow`` the (Y, X, 2) flow from it to the previous frame given to :meth:`step`
        (x, y displacements in px, as :func:`warp_labels` reads them; None: no motion).
        """
        m = np.ascontiguousarray(mask, bool)
        if m.ndim != 2 or np.shape(frame) != m.shape:
            raise DimensionError(f"InstanceTracker.step needs a (Y, X) mask and a frame of the same shape; "
                                 f"got {m.shape} and {np.shape(frame)}.")
        if flow is not None and np.shape(flow) != (*m.shape, 2):
            raise DimensionError(f"flow must be (Y, X, 2) on the mask's grid {m.shape}; got {np.shape(flow)}.")
        if self.prev is not None and self.prev.shape != m.shape:
            raise DimensionError(f"frame size changed from {self.prev.shape} to {m.shape}; call reset() first.")
        n, lab, stats = components_with_stats(m.view(np.uint8))
        scale = cell_scale(self.cell_area)
        height = _Height(frame, m, scale["split_sigma"]) if self.landscape == "intensity" else None
        pixels = np.flatnonzero(m)  # the work below is on object pixels only
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
                emit(box, region, None, not sticky)
                return
            first = None
            for j in ids:
                i = emit(box, region & (parts == j), first, False)
                first = i if first is None else first

        overlaps = self._overlaps(lab, pixels, flow) if (self.temporal and self.prev is not None) else {}
        for c in range(1, n):
            x, y, w, h = stats[c, :4]
            box = (slice(y, y + h), slice(x, x + w))
            obj = lab[box] == c
            cells = overlaps.get(c, [])
            if len(cells) >= 2:  # cells seen apart (or split) in the previous frame: split along them
                flat = np.ravel_multi_index(np.mgrid[box], m.shape).ravel()
                moved = self.unit[self._moved(flat, flow)].reshape(obj.shape)
                pieces = self._split_along(obj, moved, cells, None if height is None else height[box])
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
        area = np.bincount(out.ravel()[pixels], minlength=len(units))  # pixels per new id
        self._unit_area = np.bincount(self.unit, weights=area, minlength=len(units)).astype(np.int64)
        self._unit_area[0] = 0
        self._unit_whole = np.zeros(len(units), bool)
        self._unit_whole[self.unit[self.whole]] = True
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _is_whole(self, unit: int) -> bool:
        return bool(self._unit_whole[unit])

    def _moved(self, flat: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        """The previous frame's ids at the pixels ``flat`` (flat indices) of this frame, moved with
        the flow (as :func:`warp_labels`, but only where needed)."""
        prev = self.prev
        if flow is None:
            return prev.ravel()[flat]
        h, w = prev.shape
        y, x = np.divmod(flat, w)
        f = flow.reshape(-1, 2)[flat]
        ys = np.rint(y + f[:, 1]).astype(np.intp)
        xs = np.rint(x + f[:, 0]).astype(np.intp)
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        out = np.zeros(len(flat), prev.dtype)
        out[inside] = prev[ys[inside], xs[inside]]
        return out

    def _overlaps(self, lab: np.ndarray, pixels: np.ndarray, flow: np.ndarray | None):
        """Per object of this frame, the previous cells (units) it holds: at least ``_OVERLAP`` of a
        unit of at least ``_CELL_FRACTION`` cell."""
        units = self.unit[self._moved(pixels, flow)]
        objs = lab.ravel()[pixels]
        keep = units > 0
        nu = len(self.unit)
        key = objs[keep].astype(np.int64) * nu + units[keep]
        span = (int(objs.max()) + 1 if len(objs) else 1) * nu
        if span <= 4 * len(key):  # few objects and units: counting beats sorting the pixels
            counts = np.bincount(key, minlength=span)
            pairs = np.flatnonzero(counts)
            counts = counts[pairs]
        else:
            pairs, counts = np.unique(key, return_counts=True)
        objs, cells = pairs // nu, pairs % nu
        area = self._unit_area[cells]
        keep = (counts >= _OVERLAP * area) & (area >= _CELL_FRACTION * self.cell_area)
        table: dict[int, list[int]] = {}
        for o, k in zip(objs[keep], cells[keep]):
            table.setdefault(int(o), []).append(int(k))
        return table

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
