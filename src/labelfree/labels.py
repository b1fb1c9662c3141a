"""Tools for label images (0 = background, one positive integer per object).

All functions return new arrays; their inputs are never modified.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from labelfree.errors import DimensionError, DTypeError, InputError

__all__ = [
    "label_dtype",
    "relabel_sequential",
    "remove_small_objects",
    "fill_holes",
    "declump",
    "label_contours",
    "polygon_area",
    "track_by_overlap",
    "OverlapLinker",
    "to_imagej_labels",
    "weighted_median",
]


def weighted_median(values: np.ndarray, weights: np.ndarray, /) -> float:
    """The value below which half of the total weight lies (the lower weighted median).

    With each object's area as its weight, the typical size of the objects that hold most
    of the foreground: not pulled down by many tiny specks. ``values`` and ``weights``
    are 1-D, the same length, not empty.
    """
    v = np.asarray(values)
    order = np.argsort(v, kind="stable")
    cumulative = np.cumsum(np.asarray(weights)[order])
    return float(v[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def label_dtype(top: float, /) -> type:
    """The smallest unsigned integer type of a label image whose largest id is ``top``: uint16, uint32 or
    uint64 (``top`` below 2**64)."""
    return np.uint16 if top <= 65535 else np.uint32 if top <= 2**32 - 1 else np.uint64


def _as_labels(labels: object, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "ui":
        if arr.dtype.kind == "f" and arr.size and np.all(np.mod(arr, 1) == 0):  # whole numbers (no NaN/inf)
            if arr.min() < 0:
                raise DTypeError(f"{name} has negative values; labels must be >= 0 (0 = background).")
            return arr.astype(label_dtype(float(arr.max())))
        what = " with fractions, NaN or inf" if arr.dtype.kind == "f" else ""
        raise DTypeError(f"{name} must be an integer label image or a boolean mask; got dtype {arr.dtype}{what}.")
    if arr.size and arr.min() < 0:
        raise DTypeError(f"{name} has negative values; labels must be >= 0 (0 = background).")
    return arr


def relabel_sequential(labels: np.ndarray, /) -> np.ndarray:
    """Renumber objects 1..N keeping their order of label value; 0 stays 0.

    Examples
    --------
    >>> relabel_sequential(np.array([[0, 5, 5], [9, 0, 2]])).tolist()
    [[0, 2, 2], [3, 0, 1]]
    """
    arr = _as_labels(labels)
    if arr.dtype == bool:
        return arr.astype(np.uint16)
    return _sequential(arr)[1]


def _dense_ids(arr: np.ndarray, /, *, top: int | None = None) -> bool:
    """Whether a table as long as ``arr``'s largest id (``top`` when known) costs no more than a few passes
    over ``arr``."""
    if top is None:
        top = int(arr.max()) if arr.size else 0
    return top <= 4 * arr.size


def _sequential(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids of ``arr``'s objects (ascending, 0 left out) and ``arr`` with them numbered 1..N (0 stays 0;
    uint16, uint32 above 65535 objects).

    Dense ids go through a table as long as the largest id; a few huge ids (e.g. ``frame * 1_000_000 +
    cell`` from a tracker) through ``np.unique``'s inverse, so the cost follows the number of objects, not
    the largest id.
    """
    if _dense_ids(arr):
        ids = np.unique(arr)
        ids = ids[ids != 0]
        lut = np.zeros(int(arr.max()) + 1 if arr.size else 1, dtype=np.uint32 if len(ids) > 65535 else np.uint16)
        lut[ids] = np.arange(1, len(ids) + 1)
        return ids, lut[arr]
    ids, inverse = np.unique(arr, return_inverse=True)
    inverse = inverse.reshape(arr.shape)
    if ids[0] == 0:  # the background keeps 0
        ids = ids[1:]
    else:
        inverse = inverse + 1
    return ids, inverse.astype(np.uint32 if len(ids) > 65535 else np.uint16)


def remove_small_objects(labels: np.ndarray, /, *, min_size: int, connectivity: int = 1) -> np.ndarray:
    """Remove objects with fewer than ``min_size`` pixels.

    A boolean mask is split into connected components (``connectivity`` 1 = 4/6-neighbours,
    ``ndim`` = 8/26) and a mask is returned; a label image keeps its ids.
    """
    arr = _as_labels(labels)
    if min_size < 0:
        raise InputError(f"min_size must be >= 0; got {min_size}.")
    is_mask = arr.dtype == bool
    lab = ndi.label(arr, structure=ndi.generate_binary_structure(arr.ndim, connectivity))[0] if is_mask else arr
    if lab.size == 0:
        return arr.copy()
    index = lab if _dense_ids(lab) else _sequential(lab)[1]  # a few huge ids: counted as 1..N
    counts = np.bincount(index.ravel())
    small = counts < min_size
    small[0] = False
    out = lab.copy() if not is_mask else lab
    out[small[index]] = 0
    return out > 0 if is_mask else out


def _object_slices(arr: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """(label, bounding-box slices) of every object, in label order; the cost follows the number of
    objects, not the largest id (huge sparse ids are numbered 1..N first, see :func:`_sequential`)."""
    if _dense_ids(arr):  # they index find_objects' list directly
        return [(idx, sl) for idx, sl in enumerate(ndi.find_objects(arr), start=1) if sl is not None]
    ids, compact = _sequential(arr)
    return [(int(ids[k]), sl) for k, sl in enumerate(ndi.find_objects(compact)) if sl is not None]


def _fill_plane(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool:
        return ndi.binary_fill_holes(arr)
    out = arr.copy()
    for idx, sl in _object_slices(arr):
        obj = arr[sl] == idx
        filled = ndi.binary_fill_holes(obj)
        out[sl][filled & (arr[sl] == 0)] = idx
    return out


def fill_holes(labels: np.ndarray, /) -> np.ndarray:
    """Fill holes inside each object; arrays of more than 2 axes are filled plane by plane.

    Only background pixels enclosed by one object are filled, so an object enclosing
    another keeps it.
    """
    arr = _as_labels(labels)
    if arr.ndim < 2:
        raise DimensionError(f"fill_holes needs a 2-D image or a stack of them; got shape {arr.shape}.")
    if arr.ndim == 2:
        return _fill_plane(arr)
    flat = arr.reshape((-1,) + arr.shape[-2:])
    return np.stack([_fill_plane(p) for p in flat]).reshape(arr.shape)


def declump(
    mask: np.ndarray,
    /,
    *,
    min_distance: int | None = None,
    markers: np.ndarray | None = None,
    neck_ratio: float | None = None,
    height: np.ndarray | None = None,
) -> np.ndarray:
    """Split touching objects of a 2-D binary mask into instances (watershed of a landscape).

    Parameters
    ----------
    mask : (Y, X) bool array
        Foreground mask (a label image is treated as ``labels > 0``).
    min_distance : int, optional
        Minimum distance in pixels between two object centres. Default: half the radius
        of the median connected component, at least 3.
    markers : (Y, X) int array, optional
        Seed labels (e.g. nuclei); when given they define the objects.
    neck_ratio : float, optional
        Merge two touching pieces again unless they meet at a neck: where the
        largest distance-to-background on their shared border is at least
        ``neck_ratio`` x the smaller of their largest distances (their half-widths),
        nothing narrows between them. An elongated cell then stays whole
        while two round cells that touch stay apart (0.7 is a good value;
        None: no merging). Not applied with ``markers``.
    height : (Y, X) float array, optional
        The landscape to split: each object grows from a peak of ``height``
        down to its valleys, and ``neck_ratio`` compares the height at the
        shared border with the lower peak. None: the distance to the background
        (peaks smoothed with a 1 px Gaussian), which splits by shape. A smoothed
        fluorescence image splits by brightness: two touching cells are two
        bright bodies with a dimmer contact. Values outside the mask are ignored.

    Returns
    -------
    (Y, X) uint16/uint32 label image; every connected component holds at least one object.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    m = np.asarray(mask)
    if m.ndim != 2:
        raise DimensionError(f"declump works on one 2-D plane; got shape {m.shape}. Loop over frames.")
    m = m > 0
    comps, n = ndi.label(m)
    if n == 0:
        return np.zeros(m.shape, np.uint16)
    import cv2

    # exact Euclidean distance transform, ~20x faster than scipy's distance_transform_edt. OpenCV's
    # float32 result varies in the last bit with its thread count; squared distances are integers,
    # so rounding them gives scipy's values exactly, whatever the threads
    if height is None:
        dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)
        dist = np.sqrt(np.rint(dist * dist))
    else:
        dist = np.asarray(height, np.float64)
        if dist.shape != m.shape:
            raise DimensionError(f"height shape {dist.shape} differs from mask shape {m.shape}.")
        dist = np.where(m, dist, 0.0)
    if markers is None:
        if min_distance is None:
            areas = np.bincount(comps.ravel())[1:]
            radius = np.sqrt(np.median(areas) / np.pi)
            min_distance = max(3, int(round(radius / 2)))
        smooth = dist if height is not None else cv2.GaussianBlur(dist, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
        peaks = peak_local_max(smooth, min_distance=int(min_distance), labels=comps, exclude_border=False)
        seeds = np.zeros(m.shape, np.int32)
        seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        # every component needs a seed, or watershed would leave it empty
        seeded = np.zeros(n + 1, bool)
        seeded[comps[seeds > 0]] = True
        lonely = np.flatnonzero(~seeded[1:]) + 1
        if len(lonely):
            centres = ndi.maximum_position(dist, comps, lonely)
            for k, (y, x) in enumerate(centres, start=len(peaks) + 1):
                seeds[y, x] = k
    else:
        seeds = _as_labels(markers, "markers")
        if seeds.shape != m.shape:
            raise DimensionError(f"markers shape {seeds.shape} differs from mask shape {m.shape}.")
        if seeds.dtype != bool and seeds.size and int(seeds.max()) > np.iinfo(np.int32).max:
            seeds = _sequential(seeds)[1]  # ids beyond 32 bits numbered 1..N in their order
        seeds = seeds.astype(np.int32)
    out = watershed(-dist, seeds, mask=m)
    if neck_ratio is not None and markers is None:
        out = _merge_without_neck(out, dist, float(neck_ratio))
    return relabel_sequential(out)


def _merge_without_neck(labels: np.ndarray, dist: np.ndarray, ratio: float) -> np.ndarray:
    """Merge adjacent pieces whose shared border is not a neck (see :func:`declump`)."""
    peak = np.zeros(int(labels.max()) + 1)
    np.maximum.at(peak, labels.ravel(), dist.ravel())
    pairs, heights = [], []
    for a, b, da, db in ((labels[:, :-1], labels[:, 1:], dist[:, :-1], dist[:, 1:]),
                         (labels[:-1, :], labels[1:, :], dist[:-1, :], dist[1:, :])):
        edge = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[edge], b[edge]), np.maximum(a[edge], b[edge])
        pairs.append(np.stack([lo, hi], axis=1))
        heights.append(np.minimum(da[edge], db[edge]))
    pairs, heights = np.concatenate(pairs), np.concatenate(heights)
    if not len(pairs):
        return labels
    key = pairs[:, 0].astype(np.int64) * (len(peak) + 1) + pairs[:, 1]
    uniq, inv = np.unique(key, return_inverse=True)
    saddle = np.zeros(len(uniq))
    np.maximum.at(saddle, inv, heights)
    a_ids, b_ids = uniq // (len(peak) + 1), uniq % (len(peak) + 1)
    parent = np.arange(len(peak))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    top = peak.copy()  # half-width of each merged set
    for k in np.argsort(-saddle / np.maximum(np.minimum(peak[a_ids], peak[b_ids]), 1e-9)):
        ra, rb = root(int(a_ids[k])), root(int(b_ids[k]))
        if ra != rb and saddle[k] >= ratio * min(top[ra], top[rb]):
            parent[rb] = ra
            top[ra] = max(top[ra], top[rb])
    lut = np.array([root(i) for i in range(len(peak))])
    return lut[labels]


def polygon_area(poly: np.ndarray, /) -> float:
    """Signed area of a polygon of (x, y) vertices (shoelace); holes from
    :func:`label_contours` have the opposite sign of outer boundaries."""
    p = np.asarray(poly, float)
    x, y = p[:, 0], p[:, 1]
    xn, yn = np.append(x[1:], x[0]), np.append(y[1:], y[0])
    return 0.5 * float(np.dot(x, yn) - np.dot(y, xn))


def _trace(obj: np.ndarray, x0: int, y0: int) -> list[np.ndarray]:
    import cv2

    # Upsampling x2 makes cv2's boundary-pixel contours sit 1/4 pixel inside the pixel
    # edges; rounding maps every vertex exactly onto the pixel corners (ImageJ "traced" ROIs).
    h, w = obj.shape
    up = cv2.resize(obj.astype(np.uint8), (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    up = cv2.copyMakeBorder(up, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outers, holes = [], []
    for c, h in zip(contours, hierarchy[0]):
        pts = np.rint((c[:, 0, :] - 0.5) / 2)
        prev = np.concatenate((pts[-1:], pts[:-1]))
        pts = pts[np.any(pts != prev, axis=1)]  # drop repeated vertices
        if len(pts) > 2:  # drop collinear vertices
            prev = np.concatenate((pts[-1:], pts[:-1]))
            nxt = np.concatenate((pts[1:], pts[:1]))
            cross = (pts[:, 0] - prev[:, 0]) * (nxt[:, 1] - pts[:, 1]) - (pts[:, 1] - prev[:, 1]) * (
                nxt[:, 0] - pts[:, 0]
            )
            pts = pts[cross != 0]
        if len(pts) < 3:
            continue
        pts += (x0, y0)
        (holes if h[3] >= 0 else outers).append(pts)
    if len(outers) > 1:
        outers.sort(key=lambda p: -abs(polygon_area(p)))
    return outers + holes


def label_contours(labels: np.ndarray, /) -> dict[int, list[np.ndarray]]:
    """Pixel-edge outlines of every object of a 2-D label image.

    Returns
    -------
    dict
        label -> list of (N, 2) float arrays of (x, y) vertices on pixel corners. Outer
        boundaries come first (largest first), then holes. Filling the outer polygons and
        removing the holes, with ImageJ's rule (a pixel is inside when its centre is),
        gives back exactly the object's pixels.
    """
    arr = _as_labels(labels)
    if arr.ndim != 2:
        raise DimensionError(f"label_contours works on one 2-D plane; got shape {arr.shape}.")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    out: dict[int, list[np.ndarray]] = {}
    for idx, sl in _object_slices(arr):
        polys = _trace(arr[sl] == idx, sl[1].start, sl[0].start)
        if polys:
            out[idx] = polys
    return out


class OverlapLinker:
    """Give the objects of consecutive frames the ids of the best-overlapping previous object.

    Streaming form of :func:`track_by_overlap`: call :meth:`link` once per frame, in order.
    An object takes the id of the previous frame's object it matches (Hungarian matching
    on IoU, IoU >= ``min_iou``); unmatched objects get new ids.
    """

    def __init__(self, *, min_iou: float = 0.3) -> None:
        if isinstance(min_iou, (bool, np.bool_)) or not isinstance(min_iou, (int, float, np.integer, np.floating)) \
                or not 0 <= float(min_iou) <= 1:
            raise InputError(f"min_iou is an IoU from 0 to 1 (0: any overlap links); got {min_iou!r}.")
        self.min_iou = float(min_iou)
        self.prev: np.ndarray | None = None
        self.prev_area: np.ndarray | None = None  # pixels per id of the previous frame
        self.next_id = 1

    def link(self, labels: np.ndarray, /) -> np.ndarray:
        """Return ``labels`` (one frame) with the ids of the previous frame's matching objects."""
        cur = _as_labels(labels)
        flat = cur.ravel()
        fg = np.flatnonzero(flat)  # the work below is on object pixels only
        vals = flat[fg].astype(np.int64)
        if len(vals) and not _dense_ids(cur, top=int(vals.max())):  # a few huge ids: numbered 1..N first
            vals = np.unique(vals, return_inverse=True)[1].ravel().astype(np.int64) + 1
        area = np.bincount(vals) if len(vals) else np.zeros(1, np.int64)
        ids = np.flatnonzero(area)
        lut = np.zeros(len(area), np.uint32)
        if len(ids) and self.prev is not None and self.prev_area is not None and len(self.prev_area) > 1:
            before = self.prev.ravel()[fg].astype(np.int64)
            both = before > 0
            prev_ids = np.flatnonzero(self.prev_area)
            if both.any():
                # IoU of every overlapping (previous, current) pair
                key = before[both] * len(area) + vals[both]
                span = len(self.prev_area) * len(area)
                if span <= 4 * len(key):  # few ids: counting beats sorting the object pixels
                    inter = np.bincount(key, minlength=span)
                    pairs = np.flatnonzero(inter)
                    inter = inter[pairs]
                else:
                    pairs, inter = np.unique(key, return_counts=True)
                p_id, c_id = pairs // len(area), pairs % len(area)
                iou = inter / (self.prev_area[p_id] + area[c_id] - inter)
                rows = np.searchsorted(prev_ids, p_id)
                cols = np.searchsorted(ids, c_id)
                table = np.zeros((len(prev_ids), len(ids)))
                table[rows, cols] = iou
                r, c = linear_sum_assignment(-table)
                ok = (table[r, c] >= self.min_iou) & (table[r, c] > 0)  # objects that do not overlap never link
                lut[ids[c[ok]]] = prev_ids[r[ok]]
        new = ids[lut[ids] == 0]
        lut[new] = np.arange(self.next_id, self.next_id + len(new), dtype=np.uint32)
        self.next_id += len(new)
        out = np.zeros(cur.shape, np.uint32)
        out.ravel()[fg] = lut[vals]
        self.prev = out
        new_area = np.zeros(int(lut.max()) + 1 if len(lut) else 1, np.int64)
        new_area[lut[ids]] = area[ids]
        self.prev_area = new_area
        return out


def track_by_overlap(labels: np.ndarray, /, *, min_iou: float = 0.3) -> np.ndarray:
    """Carry object ids across the first axis (time) by optimal IoU matching.

    An object of frame t takes the id of the object of frame t-1 it overlaps best
    (Hungarian matching, IoU >= ``min_iou``); unmatched objects get new ids.
    """
    arr = _as_labels(labels)
    if arr.ndim < 3:
        raise DimensionError(f"track_by_overlap needs a stack (T, ...); got shape {arr.shape}.")
    linker = OverlapLinker(min_iou=min_iou)
    out = np.stack([linker.link(frame) for frame in arr])
    return out.astype(np.uint16) if linker.next_id <= 65536 else out


def to_imagej_labels(labels: np.ndarray, /) -> np.ndarray:
    """Labels in a type ImageJ displays: uint16, or float32 (with a warning) above 65535."""
    arr = _as_labels(labels)
    top = int(arr.max()) if arr.size else 0
    if top <= 65535:
        return arr.astype(np.uint16, copy=False)
    if top > 2**24:
        raise InputError(f"The largest label id, {top}, does not fit an ImageJ label image: its 32-bit float pixels "
                         "hold ids up to 16,777,216 (2**24) exactly. Renumber the labels (ids 1..N, "
                         "labelfree.labels.relabel_sequential) to write them.")
    warnings.warn(
        f"The largest label id, {top}, exceeds 16-bit; the ImageJ label image is written as 32-bit float "
        "(ids exact up to 16,777,216).",
        UserWarning,
        stacklevel=2,
    )
    return arr.astype(np.float32)
