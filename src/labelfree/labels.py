"""Tools for label images (0 = background, one positive integer per object).

All functions return new arrays; their inputs are never modified.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from labelfree._warn_place import user_stacklevel
from labelfree.errors import DimensionError, DTypeError, FloatLabelsWarning, InputError

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
    "imagej_label_dtype",
    "link_planes",
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
    small = _object_sizes(index) < min_size
    small[0] = False
    if lab.ndim < 3:
        out = lab.copy() if not is_mask else lab
        out[small[index]] = 0
        return out > 0 if is_mask else out
    out = np.empty(lab.shape, bool) if is_mask else lab.copy()
    for k in range(len(lab)):  # plane by plane: no full-size boolean index, no second full-size copy
        if is_mask:
            np.logical_and(lab[k] != 0, ~small[index[k]], out=out[k])
        else:
            out[k][small[index[k]]] = 0
    return out


def _object_sizes(index: np.ndarray, /) -> np.ndarray:
    """The voxel count of each id 0..max of a non-negative integer label array (int64).

    Counted plane by plane along the first axis: ``np.bincount`` casts its input to intp, a full-size int64
    copy of a whole (Z, Y, X) stack otherwise.
    """
    if index.ndim < 3:
        return np.bincount(index.ravel())
    counts = np.zeros(int(index.max()) + 1 if index.size else 1, np.int64)
    for plane in index:
        counts += np.bincount(plane.ravel(), minlength=len(counts))
    return counts


def _object_slices(arr: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """(label, bounding-box slices) of every object, in label order; the cost follows the number of
    objects, not the largest id (huge sparse ids are numbered 1..N first, see :func:`_sequential`)."""
    if _dense_ids(arr):  # they index find_objects' list directly
        return [(idx, sl) for idx, sl in enumerate(ndi.find_objects(arr), start=1) if sl is not None]
    ids, compact = _sequential(arr)
    return [(int(ids[k]), sl) for k, sl in enumerate(ndi.find_objects(compact)) if sl is not None]


#: 4-neighbours in a plane: the background connectivity of ``ndi.binary_fill_holes``' default structure
_CROSS = ndi.generate_binary_structure(2, 1)


def _holes_of_mask(mask: np.ndarray, /) -> np.ndarray | None:
    """The holes of a 2-D boolean mask (background not 4-connected to the image border), or None when it has none.

    The background is labelled once (its 4-connected components), and the components that touch
    the border are left out: the same pixels that ``ndi.binary_fill_holes`` fills, at the cost of one
    labelling pass instead of repeated dilations. Only the foreground's bounding box, grown by one pixel,
    is labelled: background outside it reaches the border in a straight line.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) < 3 or len(cols) < 3:  # a hole needs foreground on three rows and three columns
        return None
    box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    background, n = ndi.label(~mask[box], _CROSS)
    edge = np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]]))
    if n == len(edge) - (edge[0] == 0):  # every background component touches the border
        return None
    hole = np.ones(n + 1, bool)
    hole[edge] = False
    hole[0] = False  # the foreground
    holes = np.zeros(mask.shape, bool)
    holes[box] = hole[background]
    return holes


def _fill_plane(arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """One 2-D plane of :func:`fill_holes`, written into ``out`` (a new array when None)."""
    out = np.empty(arr.shape, arr.dtype) if out is None else out
    holes = _holes_of_mask(arr if arr.dtype == bool else arr != 0)
    if holes is not None and arr.dtype == bool:
        return np.logical_or(arr, holes, out=out)
    np.copyto(out, arr)
    if holes is None:
        return out
    for idx, sl in _enclosing_candidates(arr, holes):  # in label order: a pixel enclosed twice takes the later id
        mine = _holes_of_mask(arr[sl] == idx)
        if mine is not None:
            out[sl][mine & holes[sl]] = idx
    return out


def _enclosing_candidates(arr: np.ndarray, holes: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """(id, bounding box) of the objects of a 2-D label plane that may enclose background, in label order.

    A pixel that an object encloses lies in a hole of all objects together (``holes``), and the object
    crosses the pixel's row and its column (a straight line to the border meets it). So only the objects
    found in both a row and a column with holes are tried: few, however many objects the plane has.
    """
    rows, cols = np.flatnonzero(holes.any(axis=1)), np.flatnonzero(holes.any(axis=0))
    in_rows, in_cols = arr[rows].ravel(), arr[:, cols].ravel()
    top = int(arr.max())
    if _dense_ids(arr, top=top):
        in_row, in_col = np.zeros(top + 1, bool), np.zeros(top + 1, bool)
        in_row[in_rows] = True
        in_col[in_cols] = True
        ids = np.flatnonzero(in_row[1:] & in_col[1:]) + 1
        boxes = ndi.find_objects(arr)
        return [(int(idx), boxes[idx - 1]) for idx in ids]
    ids = set(np.intersect1d(in_rows, in_cols).tolist()) - {0}
    return [(idx, sl) for idx, sl in _object_slices(arr) if idx in ids]


def fill_holes(labels: np.ndarray, /) -> np.ndarray:
    """Fill holes inside each object; arrays of more than 2 axes are filled plane by plane.

    A hole is background (0 or False) not 4-connected to the image border, as in
    ``scipy.ndimage.binary_fill_holes``. In a label image each object fills the holes it makes on its
    own, background pixels only: an object inside another keeps its id (the background around it takes
    the outer one's), and background inside nested objects takes the largest of their ids. A boolean mask
    gives a boolean mask; labels keep their dtype. The cost is about one labelling of the background per
    plane, however many objects it has.
    """
    arr = _as_labels(labels)
    if arr.ndim < 2:
        raise DimensionError(f"fill_holes needs a 2-D image or a stack of them; got shape {arr.shape}.")
    if arr.ndim == 2:
        return _fill_plane(arr)
    out = np.empty(arr.shape, arr.dtype)  # written plane by plane: no list of planes and stacked copy
    planes = (int(np.prod(arr.shape[:-2])),) + arr.shape[-2:]
    flat, flat_out = arr.reshape(planes), out.reshape(planes)
    for k in range(len(flat)):
        _fill_plane(flat[k], flat_out[k])
    return out


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


#: a cell linked by its centre (OverlapLinker step 3) has between 1/x and x times the area it had (a nucleus
#: shrinks about 4x when it condenses for mitosis: benchmarks/tracking.py, SIM+)
_SHIFT_AREA_RATIO = 4.0


class _Seen:
    """One linked frame as the linker remembers it: its index, its linked ids, and per id its area and
    centre (pixels)."""

    def __init__(self, t: int, out: np.ndarray, area: np.ndarray, centre: np.ndarray) -> None:
        self.t, self.out, self.area, self.centre = t, out, area, centre


def _overlaps(before: np.ndarray, vals: np.ndarray, n_cur: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(earlier id, current id, pixels in common) of every overlapping pair of two frames' object pixels."""
    both = before > 0
    if not both.any():
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    key = before[both] * n_cur + vals[both]
    span = (int(before.max()) + 1) * n_cur
    if span <= 4 * len(key):  # few ids: counting beats sorting the object pixels
        inter = np.bincount(key, minlength=span)
        pairs = np.flatnonzero(inter)
        inter = inter[pairs]
    else:
        pairs, inter = np.unique(key, return_counts=True)
    return pairs // n_cur, pairs % n_cur, inter


def _assign(rows: np.ndarray, cols: np.ndarray, score: np.ndarray, *, minimum: float,
            maximise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The optimal one-to-one choice among the candidate pairs (rows[i], cols[i]) of ``score``; only pairs
    given, and scoring at least (``maximise``) or at most ``minimum``, are chosen."""
    if not len(rows):
        return rows, cols
    r_ids, r = np.unique(rows, return_inverse=True)
    c_ids, c = np.unique(cols, return_inverse=True)
    worst = -1.0 if maximise else float(score.max()) * 2 + 1
    table = np.full((len(r_ids), len(c_ids)), worst)
    table[r, c] = score
    rr, cc = linear_sum_assignment(-table if maximise else table)
    ok = table[rr, cc] >= minimum if maximise else table[rr, cc] <= minimum
    ok &= table[rr, cc] != worst
    return r_ids[rr[ok]], c_ids[cc[ok]]


class OverlapLinker:
    """Give the objects of consecutive frames the ids of the same cells in the frames before.

    Streaming form of :func:`track_by_overlap`: call :meth:`link` once per frame, in order.
    An object takes, in this order:

    1. the id of the previous frame's object it matches (Hungarian matching on IoU, IoU >= ``min_iou``).
       When it also covers most of a piece that split off that object (a new id that was born
       overlapping it most), the two are one cell again and it takes the older id;
    2. the id of an object that was last seen up to ``max_gap`` frames before the previous one (a cell
       missed in a frame, or an empty frame), by the same IoU matching against its last outline;
    3. the id of a previous-frame object left without a match whose centre lies within ``max_shift``
       times its diameter (of a disk of its area) and whose area is a quarter to four times its own: a cell
       that moved too far for its outlines to overlap enough (nearest first, one-to-one);
    4. else a new id.
    ``max_gap=0`` and ``max_shift=0`` leave step 1 alone: frame-to-frame IoU matching.
    """

    def __init__(self, *, min_iou: float = 0.3, max_gap: int = 2, max_shift: float = 2.0) -> None:
        if isinstance(min_iou, (bool, np.bool_)) or not isinstance(min_iou, (int, float, np.integer, np.floating)) \
                or not 0 <= float(min_iou) <= 1:
            raise InputError(f"min_iou is an IoU from 0 to 1 (0: any overlap links); got {min_iou!r}.")
        if isinstance(max_gap, (bool, np.bool_)) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
            raise InputError(f"max_gap is a number of frames, 0 or more (0: no gap closing); got {max_gap!r}.")
        if isinstance(max_shift, (bool, np.bool_)) or not isinstance(max_shift, (int, float, np.integer, np.floating)) \
                or not 0 <= float(max_shift) < np.inf:
            raise InputError(f"max_shift is a distance in object diameters, 0 or more (0: overlap only); "
                             f"got {max_shift!r}.")
        self.min_iou, self.max_gap, self.max_shift = float(min_iou), int(max_gap), float(max_shift)
        self.next_id = 1
        self._t = -1  # index of the last linked frame
        self._history: list[_Seen] = []  # the last max_gap + 1 linked frames, oldest first
        self._last_seen = np.zeros(1, np.int64)  # per id: the frame it was last seen in
        self._origin = np.zeros(1, np.int64)  # per id: the previous-frame id it overlapped most when born

    @property
    def prev(self) -> np.ndarray | None:
        """The ids of the last linked frame (None before the first)."""
        return self._history[-1].out if self._history else None

    def link(self, labels: np.ndarray, /) -> np.ndarray:
        """Return ``labels`` (one frame) with the ids of the same cells in the frames before."""
        cur = _as_labels(labels)
        if self._history and cur.shape != self._history[-1].out.shape:
            raise DimensionError(f"Every frame must have the shape of the first, {self._history[-1].out.shape}; "
                                 f"got {cur.shape}.")
        self._t += 1
        flat = cur.ravel()
        fg = np.flatnonzero(flat)  # the work below is on object pixels only
        vals = flat[fg].astype(np.int64)
        if len(vals) and not _dense_ids(cur, top=int(vals.max())):  # a few huge ids: numbered 1..N first
            vals = np.unique(vals, return_inverse=True)[1].ravel().astype(np.int64) + 1
        area = np.bincount(vals) if len(vals) else np.zeros(1, np.int64)
        ids = np.flatnonzero(area)
        centre = np.stack([np.bincount(vals, weights=c, minlength=len(area)) for c in np.unravel_index(fg, cur.shape)],
                          axis=-1) / np.maximum(area, 1)[:, None] if len(vals) else np.zeros((1, cur.ndim))
        lut = np.zeros(len(area), np.int64)
        parent = np.zeros(len(area), np.int64)  # per new object: the previous-frame id it overlaps most
        for k, seen in enumerate(reversed(self._history)):
            if not len(ids) or lut[ids].all():
                break
            if k == 0:
                p_id, c_id, inter = _overlaps(seen.out.ravel()[fg].astype(np.int64), vals, len(area))
            else:  # only the pixels of objects still without an id
                sel = lut[vals] == 0
                p_id, c_id, inter = _overlaps(seen.out.ravel()[fg[sel]].astype(np.int64), vals[sel], len(area))
            if k == 0 and len(p_id):
                order = np.argsort(inter, kind="stable")  # the largest overlap written last wins
                parent[c_id[order]] = p_id[order]
            # candidates: objects of that frame not seen since, for objects that have no id yet
            ok = (lut[c_id] == 0) & (self._last_seen[p_id] == seen.t)
            p, c, n = p_id[ok], c_id[ok], inter[ok]
            iou = n / (seen.area[p] + area[c] - n)
            rows, cols = _assign(p, c, iou, minimum=max(self.min_iou, 1e-12))  # no overlap never links
            lut[cols] = rows
            if k == 0 and len(rows):
                self._rejoin(lut, rows, cols, p, c, n, seen.area)
        free = ids[lut[ids] == 0]
        if self.max_shift > 0 and len(free) and self._history:
            self._link_shifted(lut, free, area, centre)
        new = ids[lut[ids] == 0]
        lut[new] = np.arange(self.next_id, self.next_id + len(new))
        self.next_id += len(new)
        top = self.next_id
        if len(self._last_seen) < top:
            grow = max(top, 2 * len(self._last_seen))
            self._last_seen = np.concatenate([self._last_seen, np.full(grow - len(self._last_seen), -1)])
            self._origin = np.concatenate([self._origin, np.zeros(grow - len(self._origin), np.int64)])
        self._origin[lut[new]] = parent[new]
        self._last_seen[lut[ids]] = self._t
        out = np.zeros(cur.shape, np.uint32)
        out.ravel()[fg] = lut[vals]
        size = int(lut.max()) + 1 if len(lut) else 1
        new_area = np.zeros(size, np.int64)
        new_area[lut[ids]] = area[ids]
        new_centre = np.zeros((size, cur.ndim))
        new_centre[lut[ids]] = centre[ids]
        self._history.append(_Seen(self._t, out, new_area, new_centre))
        del self._history[: -(self.max_gap + 1)]
        return out

    def _rejoin(self, lut: np.ndarray, rows: np.ndarray, cols: np.ndarray, p: np.ndarray, c: np.ndarray,
                n: np.ndarray, prev_area: np.ndarray) -> None:
        """An object matched to a piece that split off an earlier object, and covering most of both, takes the
        earlier object's id when that object found no match of its own."""
        taken = set(rows.tolist())
        most = 2 * n >= prev_area[p]  # the object covers most of that previous object
        covers: dict[int, set[int]] = {}
        for pi, ci in zip(p[most].tolist(), c[most].tolist()):
            covers.setdefault(ci, set()).add(pi)
        for pi, ci in zip(rows.tolist(), cols.tolist()):
            whole = int(self._origin[pi])
            if whole and whole not in taken and whole in covers.get(ci, ()) and pi in covers[ci]:
                lut[ci] = whole
                taken.add(whole)

    def _link_shifted(self, lut: np.ndarray, free: np.ndarray, area: np.ndarray, centre: np.ndarray) -> None:
        """Objects without an id take the id of a previous-frame object left without a match, nearby and of
        a similar size (step 3 of the class docstring)."""
        seen = self._history[-1]
        taken = np.zeros(len(seen.area), bool)
        used = lut[lut > 0]
        taken[used[used < len(seen.area)]] = True
        lost = np.flatnonzero((seen.area > 0) & ~taken)
        if not len(lost):
            return
        reach = self.max_shift * np.sqrt(4 * seen.area[lost] / np.pi)
        dist = np.linalg.norm(centre[free][:, None, :] - seen.centre[lost][None, :, :], axis=-1)
        ratio = area[free][:, None] / seen.area[lost][None, :]
        near = (dist <= reach[None, :]) & (ratio >= 1 / _SHIFT_AREA_RATIO) & (ratio <= _SHIFT_AREA_RATIO)
        fi, li = np.nonzero(near)
        rows, cols = _assign(lost[li], free[fi], dist[fi, li], minimum=np.inf, maximise=False)
        lut[cols] = rows


def track_by_overlap(labels: np.ndarray, /, *, min_iou: float = 0.3, max_gap: int = 2,
                     max_shift: float = 2.0) -> np.ndarray:
    """Carry object ids across the first axis (time): each cell keeps its id from frame to frame.

    An object of frame t takes the id of the object of frame t-1 it overlaps best (Hungarian
    matching, IoU >= ``min_iou``); an object left without one takes the id of a cell missed in up to
    ``max_gap`` frames before (or lost in empty frames), else of a near unmatched cell of frame t-1
    (centres at most ``max_shift`` of its diameters apart), else a new id. A cell cut in two in a frame
    takes its own id again when it is whole. Details: :class:`OverlapLinker`.

    Per-frame segmentations (Threshold numbers each time point's objects 1..N afresh) give ids that are no
    tracks; this links them.

    Parameters
    ----------
    labels : (T, Y, X) or (T, Z, Y, X) array
        Label images of consecutive time points (any ids, 0 = background), e.g. a Threshold result or
        ``labelfree.io.read_labels("out/movie_labels.tif")``.
    min_iou, max_gap, max_shift
        As :class:`OverlapLinker`.

    Returns
    -------
    array of the shape of ``labels``, uint16 (uint32 above 65535 ids): one id per cell over time.

    Examples
    --------
    >>> movie = np.zeros((3, 1, 8), np.uint16)     # a 1-pixel-high strip over 3 frames
    >>> movie[0, 0] = [1, 1, 1, 1, 0, 2, 2, 0]     # cells A and B
    >>> movie[1, 0] = [1, 1, 0, 2, 2, 0, 3, 3]     # A divided: B is 3 now
    >>> movie[2, 0] = [1, 1, 0, 2, 2, 0, 3, 3]
    >>> track_by_overlap(movie)[:, 0].tolist()
    [[1, 1, 1, 1, 0, 2, 2, 0], [1, 1, 0, 3, 3, 0, 2, 2], [1, 1, 0, 3, 3, 0, 2, 2]]
    """
    arr = _as_labels(labels)
    if arr.ndim < 3:
        raise DimensionError(f"track_by_overlap needs a stack (T, ...); got shape {arr.shape}.")
    linker = OverlapLinker(min_iou=min_iou, max_gap=max_gap, max_shift=max_shift)
    out = np.stack([linker.link(frame) for frame in arr])
    return out.astype(np.uint16) if linker.next_id <= 65536 else out


def link_planes(labels: np.ndarray, /) -> np.ndarray:
    """One id per 3-D object of a z-stack of per-plane labels: objects of adjacent planes that overlap are one.

    Objects of planes ``z`` and ``z + 1`` sharing a pixel position (y, x) get one id, and so on
    through the stack: the 3-D connected components of the planes' objects (a plane's object is
    never split, two of one plane are joined only through the planes beside it). A boolean mask
    is labelled plane by plane first (4-neighbours), so the result is its 6-connected components.
    Unlike :func:`track_by_overlap` (cells moving between frames), any overlap links.

    Parameters
    ----------
    labels : (Z, Y, X) array
        Per-plane label images (any ids, 0 = background) or a boolean mask.

    Returns
    -------
    (Z, Y, X) uint16 label image (uint32 above 65535 objects), ids 1..N in order of first
    appearance: by the first plane an object is in, then by its id in that plane.

    Examples
    --------
    >>> planes = np.array([[[1, 0, 2]], [[3, 3, 0]], [[0, 4, 4]]])
    >>> link_planes(planes)[:, 0].tolist()
    [[1, 0, 2], [1, 1, 0], [0, 1, 1]]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    arr = _as_labels(labels)
    if arr.ndim != 3:
        raise DimensionError(f"link_planes needs a (Z, Y, X) stack of planes; got shape {arr.shape}.")
    if arr.dtype == bool:  # each plane labelled when needed (twice): no labelled copy of the whole stack
        mask = arr

        def plane_of(z: int) -> np.ndarray:
            return ndi.label(mask[z])[0]
    else:
        def plane_of(z: int) -> np.ndarray:
            return arr[z]
    ids = []  # per plane its object ids, ascending; node k of plane z is offsets[z] + k
    offsets = [0]
    heads, tails = [], []  # the overlapping objects of adjacent planes, as node pairs
    before = None
    for z in range(len(arr)):
        b = plane_of(z)
        found = np.unique(b)
        ids.append(found[found != 0])
        offsets.append(offsets[-1] + len(ids[z]))
        if before is not None:
            both = (before != 0) & (b != 0)
            if both.any():
                width = np.int64(len(ids[z]))
                key = np.unique(np.searchsorted(ids[z - 1], before[both]).astype(np.int64) * width
                                + np.searchsorted(ids[z], b[both]))
                heads.append(key // width + offsets[z - 1])
                tails.append(key % width + offsets[z])
        before = b
    del before
    offsets = np.asarray(offsets, np.int64)
    n_nodes = int(offsets[-1])
    head = np.concatenate(heads) if heads else np.zeros(0, np.int64)
    tail = np.concatenate(tails) if tails else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(head), np.int8), (head, tail)), shape=(n_nodes, n_nodes))
    n_objects, component = connected_components(graph, directed=False)
    first = np.full(n_objects, n_nodes, np.int64)  # each object's first node: nodes run in order of appearance
    np.minimum.at(first, component, np.arange(n_nodes))
    rank = np.empty(n_objects, np.int64)
    rank[np.argsort(first)] = np.arange(1, n_objects + 1)
    node_id = rank[component]
    out = np.zeros(arr.shape, label_dtype(n_objects))
    for z in range(len(arr)):
        if len(ids[z]):
            plane = plane_of(z)
            found = plane != 0
            out[z][found] = node_id[np.searchsorted(ids[z], plane[found]) + offsets[z]]
    return out


def to_imagej_labels(labels: np.ndarray, /) -> np.ndarray:
    """Labels in a type ImageJ displays: uint16, or float32 (with a warning) above 65535."""
    arr = _as_labels(labels)
    return arr.astype(imagej_label_dtype(int(arr.max()) if arr.size else 0), copy=False)


def imagej_label_dtype(top: int, /) -> np.dtype:
    """The type :func:`to_imagej_labels` gives labels whose largest id is ``top``: uint16, or float32 above 65535
    (with a :class:`FloatLabelsWarning`); above 2**24 an :class:`InputError` (float32 holds ids exactly up to
    there)."""
    if top <= 65535:
        return np.dtype(np.uint16)
    if top > 2**24:
        raise InputError(f"The largest label id, {top}, does not fit an ImageJ label image: its 32-bit float pixels "
                         "hold ids up to 16,777,216 (2**24) exactly. Renumber the labels (ids 1..N, "
                         "labelfree.labels.relabel_sequential) to write them.")
    warnings.warn(
        f"The largest label id, {top}, exceeds 16-bit; the ImageJ label image is written as 32-bit float "
        "(ids exact up to 16,777,216).",
        FloatLabelsWarning,
        stacklevel=user_stacklevel(),
    )
    return np.dtype(np.float32)
