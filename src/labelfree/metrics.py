"""Segmentation metrics against ground truth.

Pixel scores compare foreground masks; object scores match instances by IoU. Stacks
((T, Y, X) and (T, Z, Y, X) arrays, or DataArrays with a T axis) are evaluated frame by
frame and the counts are summed over frames (:func:`evaluate`, :func:`object_scores`,
:func:`average_precision`, :func:`aggregated_jaccard_index`, :func:`seg_score`); a DataArray
with dims Z, Y, X (no T) is one 3-D frame whose objects are volumes. :func:`iou_matrix` and
:func:`match_objects` take the whole array as one image.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from labelfree._coords import attr_scale, coord_values, even_step
from labelfree._warn_place import user_stacklevel
from labelfree.errors import DimensionError, DTypeError, EmptyTruthWarning, InputError

__all__ = [
    "pixel_scores",
    "iou_matrix",
    "match_objects",
    "object_scores",
    "average_precision",
    "aggregated_jaccard_index",
    "seg_score",
    "evaluate",
    "label_image_problems",
]


#: the largest label value: labels are 0 (background) and positive integers up to this
_LABEL_MAX = np.iinfo(np.int64).max


def _label_array(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` checked as a label image, in an unsigned dtype: bool, uint and (non-negative) int arrays are viewed
    as they are (no copy of a big stack); float arrays of whole numbers become uint32 (uint64 beyond 2**32)."""
    kind = a.dtype.kind
    if a.dtype == bool:
        return a.view(np.uint8)
    if kind not in "ui" and not (kind == "f" and _whole_numbers(a)):
        raise DTypeError(f"{name} must be an integer label image or a mask; got dtype {a.dtype}.")
    beyond = kind == "f" or (kind == "u" and a.dtype.itemsize == 8)  # dtypes that can hold values over _LABEL_MAX
    if a.size and ((kind in "if" and a.min() < 0) or (beyond and a.max() > _LABEL_MAX)):
        raise InputError(
            f"{name} holds label values from {a.min()} to {a.max()}; labels are 0 (background) and positive "
            f"integers up to {_LABEL_MAX}. Relabel it first: 0 for background, 1, 2, ... for the objects."
        )
    if kind == "f":
        return a.astype(np.uint32 if not a.size or a.max() < 2**32 else np.uint64)
    return a.view(a.dtype.str.replace("i", "u")) if kind == "i" else a


def _whole_numbers(a: np.ndarray) -> bool:
    """Whether every value of the float array ``a`` is a whole number (plane by plane: no temporary of its size)."""
    return all(np.all(np.mod(x, 1) == 0) for x in (a if a.ndim >= 3 else [a]))


def _pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and ground truth as arrays of one shape, checked as label images (:func:`_label_array`)."""
    p, g = np.asarray(pred), np.asarray(gt)
    if p.shape != g.shape:
        raise DimensionError(
            f"prediction shape {p.shape} differs from ground-truth shape {g.shape}. Score the same frames and field "
            "of view: select the ground truth's frames from the prediction (DataArrays with T coordinates: "
            "pred.sel(T=gt['T']); arrays: pred[frames]) and crop both alike."
        )
    return _label_array(p, "prediction"), _label_array(g, "ground truth")


def _scored_frames(pred: Any, gt: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (prediction, ground truth) frames the object scores sum over: a stack frame by frame (as
    :func:`evaluate` scores it), any other array whole."""
    pred, gt, dims = _aligned(pred, gt)
    p, g = _pair(pred, gt)
    if dims is None and p.ndim not in (3, 4):
        return [(p, g)]
    return _frames(p, g, dims)


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def pixel_scores(pred: Any, gt: Any, /) -> dict[str, float]:
    """Foreground precision, recall, F1 and Jaccard of ``pred > 0`` against ``gt > 0``.

    Examples
    --------
    >>> s = pixel_scores(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
    >>> s["precision"], s["recall"], s["f1"]
    (0.5, 0.5, 0.5)
    """
    p, g = _pair(pred, gt)
    return _pixel_from_counts(*_pixel_counts(p > 0, g > 0))


def _pixel_counts(p: np.ndarray, g: np.ndarray) -> tuple[int, int, int]:
    tp = int(np.count_nonzero(p & g))
    return tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(g)) - tp


def _pixel_from_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "jaccard": _ratio(tp, tp + fp + fn),
    }


class _Overlaps(NamedTuple):
    """The overlap table of one frame, from which every score of :func:`evaluate` comes: the objects of each
    image (label values ascending, int64; their areas in pixels) and the pairs that share pixels, sorted by
    ground-truth object, then predicted object (only pairs that overlap: no (n_gt, n_pred) table)."""

    gt_ids: np.ndarray
    gt_area: np.ndarray
    pr_ids: np.ndarray
    pr_area: np.ndarray
    row: np.ndarray  #: each pair's index into gt_ids
    col: np.ndarray  #: each pair's index into pr_ids
    inter: np.ndarray  #: each pair's pixels in common
    iou: np.ndarray  #: each pair's intersection over union


#: pixels of the blocks :func:`_overlap_table` reads a frame in (its temporaries are of this size)
_BLOCK = 1 << 20


def _blocks(p: np.ndarray, g: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``p`` and ``g`` as pairs of 1-D blocks of about :data:`_BLOCK` pixels (views of contiguous arrays; else
    copies of a block of rows at a time)."""
    if p.ndim < 2 or (p.flags.c_contiguous and g.flags.c_contiguous):
        pf, gf = p.reshape(-1), g.reshape(-1)
        for s in range(0, pf.size, _BLOCK):
            yield pf[s:s + _BLOCK], gf[s:s + _BLOCK]
        return
    step = max(1, _BLOCK // max(p.shape[-1], 1))
    for idx in np.ndindex(p.shape[:-2]):
        for r in range(0, p.shape[-2], step):
            yield p[idx][r:r + step].ravel(), g[idx][r:r + step].ravel()


def _runs(p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of equal (prediction, ground truth) value pairs along 1-D blocks ``p``, ``g``: their values and
    lengths, background runs (both 0) left out. A label image holds few runs per row, so the tables are small."""
    new = np.empty(p.size, bool)
    new[:1] = True
    np.not_equal(p[1:], p[:-1], out=new[1:])
    new[1:] |= g[1:] != g[:-1]
    starts = np.flatnonzero(new)
    del new
    lengths = np.diff(starts, append=p.size)
    pv, gv = p[starts], g[starts]
    keep = (pv != 0) | (gv != 0)
    return pv[keep], gv[keep], lengths[keep]


def _group(keys: tuple[np.ndarray, ...], counts: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct tuples of ``keys`` (sorted by the first key, then the next) and the sums of their ``counts``."""
    if not counts.size:
        return keys, counts
    order = np.lexsort(keys[::-1])
    sorted_keys = tuple(k[order] for k in keys)
    new = np.zeros(counts.size, bool)
    new[0] = True
    for k in sorted_keys:
        new[1:] |= k[1:] != k[:-1]
    first = np.flatnonzero(new)
    return tuple(k[first] for k in sorted_keys), np.add.reduceat(counts[order], first)


def _pair_counts(pv: np.ndarray, gv: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct value pairs of ``pv`` (prediction) and ``gv`` (ground truth), as int64 prediction values and
    ground-truth values sorted by ground truth, then prediction, and the sums of their ``counts``."""
    top = max(int(pv.max()), int(gv.max())) if pv.size else 0
    if top < 2**32:  # one 64-bit key per pair: a single sort
        (key,), sums = _group(((gv.astype(np.uint64) << np.uint64(32)) | pv.astype(np.uint64),), counts)
        g_of, p_of = (key >> np.uint64(32)).astype(np.int64), (key & np.uint64(2**32 - 1)).astype(np.int64)
    else:
        (g_of, p_of), sums = _group((gv.astype(np.int64), pv.astype(np.int64)), counts)
    return p_of, g_of, sums.astype(np.int64)


def _overlap_table(p: np.ndarray, g: np.ndarray) -> _Overlaps:
    """The :class:`_Overlaps` of a frame, from the runs of its rows counted block by block: no copy of the frame,
    no table the size of the largest label value, whatever the dtype (huge label values too)."""
    parts = [_pair_counts(*_runs(pb, gb)) for pb, gb in _blocks(p, g)]
    if len(parts) == 1:
        p_of, g_of, inter = parts[0]
    else:
        p_of, g_of, inter = _pair_counts(*(np.concatenate([c[i] for c in parts]) if parts else np.zeros(0, np.int64)
                                           for i in range(3)))
    (gt_ids,), gt_area = _group((g_of,), inter)
    (pr_ids,), pr_area = _group((p_of,), inter)
    gt_ids, gt_area, pr_ids, pr_area = gt_ids[gt_ids != 0], gt_area[gt_ids != 0], pr_ids[pr_ids != 0], \
        pr_area[pr_ids != 0]
    both = (g_of != 0) & (p_of != 0)
    row, col, inter = np.searchsorted(gt_ids, g_of[both]), np.searchsorted(pr_ids, p_of[both]), inter[both]
    iou = inter / (gt_area[row] + pr_area[col] - inter)
    return _Overlaps(gt_ids, gt_area, pr_ids, pr_area, row, col, inter, iou)


def _annotated(t: _Overlaps) -> _Overlaps:
    """The table with only the predicted objects that overlap a ground-truth object (``only_annotated``)."""
    hit = np.unique(t.col)
    return t._replace(pr_ids=t.pr_ids[hit], pr_area=t.pr_area[hit], col=np.searchsorted(hit, t.col))


def _table_pixel_counts(t: _Overlaps) -> tuple[int, int, int]:
    """Foreground pixel TP, FP and FN of a frame, from its table."""
    tp = int(t.inter.sum())
    return tp, int(t.pr_area.sum()) - tp, int(t.gt_area.sum()) - tp


def iou_matrix(pred: Any, gt: Any, /) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every ground-truth object (rows) with every predicted object (columns).

    The whole array is one image: in a stack, an id is one object over all its frames
    (pass one frame at a time to match frame by frame).

    Returns
    -------
    iou : (n_gt, n_pred) float array
    gt_ids, pred_ids : label values of the rows and columns
    """
    t = _overlap_table(*_pair(pred, gt))
    iou = np.zeros((len(t.gt_ids), len(t.pr_ids)))
    iou[t.row, t.col] = t.iou
    return iou, t.gt_ids, t.pr_ids


def match_objects(pred: Any, gt: Any, /, *, threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matching maximising total IoU; pairs with IoU >= ``threshold``.

    The whole array is one image, as for :func:`iou_matrix`. Returns a list of ``(gt_id, pred_id, iou)``.
    """
    iou, gt_ids, pr_ids = iou_matrix(pred, gt)
    return _match(iou, gt_ids, pr_ids, threshold)


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.number)) \
            or not 0 < float(threshold) <= 1:
        raise InputError(f"The IoU threshold of object matching must be a number in (0, 1]; got {threshold!r}.")
    return float(threshold)


def _match(iou: np.ndarray, gt_ids: np.ndarray, pr_ids: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    threshold = _check_threshold(threshold)  # every object score goes through here
    if iou.size == 0:
        return []
    # only pairs above threshold may match; others get a cost that never wins
    score = np.where(iou >= threshold, iou, -1.0)
    rows, cols = linear_sum_assignment(-score)
    return [
        (int(gt_ids[r]), int(pr_ids[c]), float(iou[r, c]))
        for r, c in zip(rows, cols)
        if iou[r, c] >= threshold and iou[r, c] > 0
    ]


def _matched(t: _Overlaps, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The matched pairs of a frame (as :func:`_match` matches its whole IoU table): their ground-truth rows
    (ascending) and IoUs.

    Pairs below ``threshold`` never match, so the matching is that of each connected group of the pairs at or
    above it; a group of one pair (every group when ``threshold`` > 0.5) matches as it is, larger groups are
    assigned as :func:`_match` assigns the whole table.
    """
    threshold = _check_threshold(threshold)
    good = np.flatnonzero(t.iou >= threshold)
    rows, cols = t.row[good], t.col[good]
    if len(np.unique(rows)) == len(rows) and len(np.unique(cols)) == len(cols):
        return rows, t.iou[good]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ur, ri = np.unique(rows, return_inverse=True)
    uc, ci = np.unique(cols, return_inverse=True)
    n = len(ur) + len(uc)
    _, node_group = connected_components(coo_matrix((np.ones(len(good)), (ri, len(ur) + ci)), shape=(n, n)),
                                         directed=False)
    group = node_group[ri]
    keep = np.bincount(group)[group] == 1
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for edges in np.split(order, bounds):
        if len(edges) < 2:
            continue
        r_k, r_at = np.unique(ri[edges], return_inverse=True)
        c_k, c_at = np.unique(ci[edges], return_inverse=True)
        score = np.full((len(r_k), len(c_k)), -1.0)
        score[r_at, c_at] = t.iou[good[edges]]
        which = np.full(score.shape, -1)
        which[r_at, c_at] = edges
        ar, ac = linear_sum_assignment(-score)
        keep[which[ar, ac][score[ar, ac] >= threshold]] = True
    return rows[keep], t.iou[good[keep]]


def _object_counts(t: _Overlaps, threshold: float) -> tuple[int, int, int, list[float]]:
    rows, ious = _matched(t, threshold)
    tp = len(rows)
    return tp, len(t.pr_ids) - tp, len(t.gt_ids) - tp, ious.tolist()


def _object_from_counts(tp: int, fp: int, fn: int, ious: list[float]) -> dict[str, float]:
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
    }


def object_scores(pred: Any, gt: Any, /, *, threshold: float = 0.5) -> dict[str, float]:
    """Object precision/recall/F1 at an IoU threshold and the mean IoU of matched pairs.

    A stack is scored frame by frame, the counts summed (as :func:`evaluate` does).
    """
    tp = fp = fn = 0
    ious: list[float] = []
    for p, g in _scored_frames(pred, gt):
        counts = _object_counts(_overlap_table(p, g), threshold)
        tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
        ious += counts[3]
    return _object_from_counts(tp, fp, fn, ious)


def average_precision(pred: Any, gt: Any, /, *, threshold: float = 0.5) -> float:
    """Average precision as used for cell segmentation: TP / (TP + FP + FN) at ``threshold``."""
    s = object_scores(pred, gt, threshold=threshold)
    return _ratio(s["tp"], s["tp"] + s["fp"] + s["fn"])


def _aji_counts(t: _Overlaps) -> tuple[int, int]:
    """AJI intersection and union of a frame: each ground-truth object with its predicted object of the highest
    IoU (the first by label value on ties), plus the areas of unmatched objects."""
    if len(t.gt_ids) == 0:
        return 0, int(t.pr_area.sum())
    order = np.lexsort((t.col, -t.iou, t.row))
    best = order[np.r_[True, t.row[order][1:] != t.row[order][:-1]]] if order.size else order
    rows, cols = t.row[best], t.col[best]
    used = np.zeros(len(t.pr_ids), bool)
    used[cols] = True
    c = int(t.inter[best].sum())
    u = int((t.gt_area[rows] + t.pr_area[cols] - t.inter[best]).sum())
    u += int(t.gt_area.sum()) - int(t.gt_area[rows].sum()) + int(t.pr_area[~used].sum())
    return c, u


def aggregated_jaccard_index(pred: Any, gt: Any, /) -> float:
    """Aggregated Jaccard Index (Kumar et al. 2017); a stack's intersections and unions are summed over
    its frames."""
    c = u = 0
    for p, g in _scored_frames(pred, gt):
        fc, fu = _aji_counts(_overlap_table(p, g))
        c, u = c + fc, u + fu
    return _ratio(c, u)


def _seg_values(t: _Overlaps) -> np.ndarray:
    """Each ground-truth object's IoU with the predicted object covering more than half of it (0 without one)."""
    out = np.zeros(len(t.gt_ids))
    big = t.inter > 0.5 * t.gt_area[t.row]
    out[t.row[big]] = t.iou[big]
    return out


def seg_score(pred: Any, gt: Any, /) -> float:
    """Cell Tracking Challenge SEG: mean Jaccard of each ground-truth object with the
    predicted object covering more than half of it (0 when there is none); in a stack, over the
    objects of every frame."""
    vals = [_seg_values(_overlap_table(p, g)) for p, g in _scored_frames(pred, gt)]
    return float(np.mean(np.concatenate(vals))) if sum(map(len, vals)) else float("nan")


#: a binary mask's regions smaller than this (pixels) are not counted as separate objects (noise, specks)
MASK_REGION_MIN_PIXELS = 10


def _planes(a: np.ndarray) -> np.ndarray:
    """``a`` as a stack of 2-D planes (a single plane gets a leading axis)."""
    if a.ndim < 2:
        return a.reshape(1, 1, -1)
    return a.reshape(-1, *a.shape[-2:])


def _values(planes: np.ndarray) -> np.ndarray:
    """The distinct values of a stack of planes, ascending (as ``np.unique``): those of each plane's runs of equal
    values, so no sorted copy of the stack."""
    found = []
    for plane in planes:
        flat = plane.ravel()  # (a view of a contiguous plane)
        for block in (flat[s:s + _BLOCK] for s in range(0, flat.size, _BLOCK)):
            new = np.empty(block.size, bool)
            new[:1] = True
            np.not_equal(block[1:], block[:-1], out=new[1:])
            found.append(np.unique(block[new]))
    return np.unique(np.concatenate(found)) if found else np.zeros(0, planes.dtype)


def _which(indices: list[int], n: int) -> str:
    if n == 1:
        return ""
    if len(indices) == n:
        return f" in all {n} frames"
    shown = ", ".join(map(str, indices[:10])) + (", ..." if len(indices) > 10 else "")
    return f" in frame(s) {shown}"


#: an image whose horizontally neighbouring object pixels differ in more than this fraction of the pairs is an
#: intensity image (a label image's differ only where two objects touch: a few percent)
INTENSITY_MIXED = 0.5


def _mixed_neighbours(plane: np.ndarray, /) -> float:
    """The fraction of horizontally neighbouring pairs of object pixels (both non-zero) that hold different values
    (0 when there are fewer than 100 such pairs)."""
    n = differ = 0
    step = max(1, _BLOCK // max(plane.shape[-1], 1))
    for r in range(0, plane.shape[0], step):  # blocks of rows: temporaries of a block's size
        left, right = plane[r:r + step, :-1], plane[r:r + step, 1:]
        both = (left != 0) & (right != 0)
        n += int(np.count_nonzero(both))
        both &= left != right
        differ += int(np.count_nonzero(both))
    return float(differ) / n if n >= 100 else 0.0


def label_image_problems(labels: Any, /, *, name: str = "the label image") -> list[str]:
    """Signs that ``labels`` is not an instance label image, as sentences (empty: none found).

    Three mistakes score without an error but give numbers that mean nothing:

    * no background: not one pixel is 0, as in a raw intensity image (every grey
      level then counts as an object);
    * an intensity image with some zeros: most neighbouring object pixels differ
      (more than :data:`INTENSITY_MIXED` of the pairs);
    * a binary mask: every object pixel holds the same value, spread over several
      separate regions (each of at least :data:`MASK_REGION_MIN_PIXELS` pixels), which
      is scored as one object per frame.

    The metrics themselves never depend on these checks.

    Parameters
    ----------
    labels : (Y, X) or (T, Y, X) array
    name : str
        How the sentences name the image (e.g. its file name).

    Examples
    --------
    >>> mask = np.zeros((20, 20), np.uint8)
    >>> mask[2:8, 2:8] = mask[12:18, 12:18] = 1
    >>> label_image_problems(mask, name="gt.tif")[0][:52]
    'gt.tif looks like a binary mask: every object pixel '
    >>> label_image_problems(mask * 0 + 7)[0][:38]
    'the label image has no background (0) '
    """
    from scipy import ndimage as ndi

    a = np.asarray(labels)
    if a.size == 0:
        return []
    planes = _planes(a)
    problems = []
    present = _values(planes)
    full = [t for t in range(len(planes)) if planes[t].min() > 0]
    if full:
        problems.append(
            f"{name} has no background (0) pixels{_which(full, len(planes))} (values "
            f"{int(present[0])}..{int(present[-1])}, {len(present)} different): is it a label image? Labels are 0 "
            f"for background and 1, 2, ... for the objects; a raw intensity image is scored as if every grey level "
            f"were an object ({len(present)} here)."
        )
    objects = present[present != 0]
    if len(objects) > 1 and not full:
        mixed = [t for t, plane in enumerate(planes) if _mixed_neighbours(plane) > INTENSITY_MIXED]
        if mixed:
            problems.append(
                f"{name} looks like an intensity image, not a label image: side by side, most object pixels hold "
                f"different values{_which(mixed, len(planes))} ({len(present)} different values), where a label "
                "image holds one value per object. It is scored as if every grey level were an object; give the "
                "label image (e.g. the _labels.tif a LabelFree command writes), not the image it segmented."
            )
    if len(objects) == 1:
        structure = np.ones((3, 3), bool)
        split = []
        most = 0
        for t, plane in enumerate(planes):
            regions, n = ndi.label(plane == objects[0], structure=structure)
            big = int(np.count_nonzero(np.bincount(regions.ravel())[1:] >= MASK_REGION_MIN_PIXELS)) if n else 0
            if big > 1:
                split.append(t)
                most = max(most, big)
        if split:
            problems.append(
                f"{name} looks like a binary mask: every object pixel holds the value {int(objects[0])}, spread over "
                f"up to {most} separate regions{_which(split, len(planes))}, and it is scored as ONE object per "
                "frame. If each region is a cell, label the connected components first (Python: "
                "skimage.measure.label(mask); Fiji: Analyze > Analyze Particles with Show: Count Masks) and "
                "score that label image."
            )
    return problems


#: the axes evaluate knows, in the order it scores them
_AXES = "TZYX"


def _aligned(pred: Any, gt: Any) -> tuple[Any, Any, str | None]:
    """``pred`` and ``gt`` with the axes of the DataArray among them in ``TZYX`` order (length-1 other
    axes dropped), and those axes; ``None`` when neither is a DataArray with Y and X axes."""
    named = next((a for a in (pred, gt) if hasattr(a, "dims") and {"Y", "X"} <= set(map(str, a.dims))), None)
    if named is None:  # no DataArray with named image axes: scored as an array
        return pred, gt, None
    dims = tuple(str(d) for d in named.dims)
    order = [d for d in _AXES if d in dims]

    def arrange(a: Any) -> Any:
        if not hasattr(a, "dims"):  # an array beside a DataArray takes its dims
            if tuple(np.shape(a)) != tuple(named.shape):
                return a  # the shape error follows
            a = named.copy(data=np.asarray(a))
        a_dims = tuple(str(d) for d in a.dims)
        if any(a.sizes[d] != 1 for d in a_dims if d not in _AXES) or "Y" not in a_dims or "X" not in a_dims:
            raise DimensionError(f"evaluate scores label images with axes from T, Z, Y, X (Y and X required); got "
                                 f"dims {a_dims} and shape {tuple(a.shape)}.")
        if sorted(d for d in a_dims if d in _AXES) != sorted(order):
            raise DimensionError(f"the prediction's dims {tuple(pred.dims) if hasattr(pred, 'dims') else '?'} "
                                 f"and the ground truth's {tuple(gt.dims) if hasattr(gt, 'dims') else '?'} differ.")
        return a.squeeze([d for d in a_dims if d not in _AXES]).transpose(*order)

    pred_a, gt_a = arrange(pred), arrange(gt)
    if hasattr(pred, "dims") and hasattr(gt, "dims"):  # two DataArrays: frames and pixels paired by coordinate
        pred_a = _on_truth_coords(pred_a, gt_a, order)
    return pred_a, gt_a, "".join(order)


def _coord_text(values: np.ndarray) -> str:
    """A coordinate's values in words: first to last, how many, the step."""
    if len(values) == 0:
        return "none"
    if len(values) == 1:
        return f"{values[0]:g}: 1 value"
    steps = np.diff(values.astype(np.float64))
    step = f"step {steps[0]:g}" if np.allclose(steps, steps[0]) else "uneven steps"
    return f"{values[0]:g} to {values[-1]:g}: {len(values)} values, {step}"


def _spacing(coord: Any) -> float | None:
    """The spacing of a coordinate: the step of evenly spaced values (they are the calibration: ``da[:, ::2]``
    keeps the ``scale`` attribute of ``da``), else its ``scale`` attribute, as :func:`labelfree.image.scale_of`
    reads it."""
    values = coord_values(coord) if coord.size > 1 else None
    step = even_step(values) if values is not None else None
    return step if step is not None else attr_scale(coord)


def _on_truth_coords(pred: Any, gt: Any, dims: list[str]) -> Any:
    """``pred`` at the ground truth's coordinates: each axis both DataArrays label with numeric coordinates in
    the same units is selected at the ground truth's values (frames T = 5, 7, 9 of a prediction of frames 0-9);
    axes without coordinates, or in other units, are paired by position.

    Raises
    ------
    DimensionError
        Coordinates of another spacing, or ground-truth values that the prediction does not hold.
    """
    for d in dims:
        if d not in pred.coords or d not in gt.coords:
            continue
        pc, gc = pred.coords[d], gt.coords[d]
        pv, gv = np.asarray(pc.values), np.asarray(gc.values)
        if pv.ndim != 1 or gv.ndim != 1 or pv.dtype.kind not in "iuf" or gv.dtype.kind not in "iuf":
            continue
        if pv.shape == gv.shape and np.array_equal(pv, gv):
            continue
        p_units, g_units = str(pc.attrs.get("units", "")), str(gc.attrs.get("units", ""))
        if p_units != g_units:  # (pixels against micrometres, say): not comparable, paired by position
            continue
        what = "frames" if d == "T" else "planes" if d == "Z" else "pixels"
        p_text, g_text = _coord_text(pv), _coord_text(gv)
        how = (f"select the ground truth's {what} from the prediction (pred.sel({d}=gt[{d!r}]))" if d == "T" else
               f"crop both from images of the same field of view alike (the same isel({d}=slice(start, stop)))")
        positional = "or pass NumPy arrays (np.asarray) to pair them by position"
        p_step, g_step = _spacing(pc), _spacing(gc)
        if p_step is not None and g_step is not None and len(pv) > 1 and len(gv) > 1 and d != "T" \
                and not np.isclose(p_step, g_step, rtol=1e-6, atol=0):
            raise DimensionError(
                f"the prediction's {d} coordinates ({p_text}) and the ground truth's ({g_text}) differ in spacing: "
                f"they sample the image at other pixel sizes, and evaluate pairs DataArrays by coordinate. Score "
                f"label images of the same pixel size (resample one, or read both with the same calibration), "
                f"{positional}."
            )
        # each ground-truth value's nearest prediction value, within a millionth of a step
        tol = 1e-6 * abs(g_step or p_step or 1.0)
        pf, gf = pv.astype(np.float64), gv.astype(np.float64)
        order = np.argsort(pf, kind="stable")
        ranked = pf[order]
        at = np.clip(np.searchsorted(ranked, gf), 1, max(len(ranked) - 1, 1)) if len(ranked) > 1 \
            else np.zeros(len(gf), np.intp)
        if len(ranked) > 1:
            at = np.where(np.abs(ranked[at - 1] - gf) <= np.abs(ranked[at] - gf), at - 1, at)
        found = np.abs(ranked[at] - gf) <= tol if len(ranked) else np.zeros(len(gf), bool)
        if found.all():
            pred = pred.isel({d: order[at]})
            continue
        if not found.any():
            overlap = "do not overlap"
        else:
            overlap = f"overlap in {int(found.sum())} of the ground truth's {len(gv)} values only"
        raise DimensionError(
            f"the prediction's {d} coordinates ({p_text}) and the ground truth's ({g_text}) {overlap}: evaluate "
            f"pairs DataArrays by coordinate and scores the ground truth's {what}, which the prediction must "
            f"hold. Is it the prediction of these {what}? To score them, {how}; to score only the {what} both "
            f"hold, select them from both (common = np.intersect1d(pred[{d!r}], gt[{d!r}]); pred.sel({d}=common), "
            f"gt.sel({d}=common)); {positional}."
        )
    return pred


def _frames(p: np.ndarray, g: np.ndarray, dims: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (prediction, ground truth) pairs of the frames of ``p`` and ``g`` (axes ``dims``, in ``TZYX`` order;
    ``None``: (Y, X), (T, Y, X) or (T, Z, Y, X) by the number of axes)."""
    if dims is None:
        if p.ndim not in (2, 3, 4):
            raise DimensionError(f"evaluate takes (Y, X) images or (T, Y, X) or (T, Z, Y, X) stacks; got shape "
                                 f"{p.shape}. For one 3-D volume pass DataArrays with dims ('Z', 'Y', 'X').")
        dims = {2: "YX", 3: "TYX", 4: "TZYX"}[p.ndim]
    if dims.startswith("T"):
        return list(zip(p, g))
    return [(p, g)]


def evaluate(pred: Any, gt: Any, /, *, threshold: float = 0.5, only_annotated: bool = False) -> dict[str, Any]:
    """Every metric at once; 3-D input is a stack of frames (counts summed over frames).

    Each frame's overlaps are counted once, in blocks of its rows, and every score comes from them: the memory
    needed beyond the two label images is a few tables of their objects.

    Parameters
    ----------
    pred, gt : (Y, X), (T, Y, X) or (T, Z, Y, X) label images; 3-D arrays are stacks of 2-D
        frames. DataArrays are scored by their dims: without a T axis, (Z, Y, X) is one
        volume whose objects are 3-D (as the Cell Tracking Challenge scores 3-D data). Two
        DataArrays are paired by their coordinates, as xarray pairs them: the ground truth's
        frames (T) and field of view (Z, Y, X) are selected from the prediction, so
        ``evaluate(labels, ds.seg_labels())`` scores a movie's labels on the annotated frames.
        Axes without coordinates, or with coordinates in other units, and NumPy arrays are
        paired by position.
    threshold : float
        IoU threshold of the object scores.
    only_annotated : bool
        Score only predicted objects that overlap a ground-truth object, and pixels
        inside annotated objects or such predictions (for sparse ground truth).

    Returns
    -------
    dict
        ``pixel_precision``, ``pixel_recall``, ``pixel_f1``, ``pixel_jaccard`` (foreground pixels);
        ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1`` and ``mean_iou`` (of the matched pairs) of the
        objects matched at ``threshold`` (:func:`object_scores`); ``average_precision`` (tp / (tp + fp + fn)),
        ``aji`` (:func:`aggregated_jaccard_index`), ``seg`` (:func:`seg_score`), ``threshold`` and
        ``n_frames`` (frames scored). A ratio without anything to count is nan.

    Raises
    ------
    DimensionError
        Shapes that differ; two DataArrays whose coordinates differ in spacing, or whose
        ground-truth coordinates the prediction does not hold (both ranges named).

    Warns
    -----
    EmptyTruthWarning
        The ground truth has no object in any scored frame: every prediction then counts as a
        false positive (with ``only_annotated``, none is scored and every metric is nan), so the
        scores say nothing about the segmentation.
    """
    return _evaluate_counts(pred, gt, threshold=threshold, only_annotated=only_annotated)[0]


def _evaluate_counts(pred: Any, gt: Any, /, *, threshold: float, only_annotated: bool
                     ) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """:func:`evaluate`'s result and the foreground pixel TP, FP and FN it comes from, in one pass over the
    frames."""
    pred, gt, dims = _aligned(pred, gt)
    p, g = _pair(pred, gt)
    frames = _frames(p, g, dims)
    if g.size and not np.any(g):
        n = len(frames)
        warnings.warn(
            f"the ground truth has no objects in the {n} scored frame{'s' if n != 1 else ''} (every pixel is 0): "
            + ("no prediction overlaps an annotation, so every metric is nan"
               if only_annotated else "every predicted object counts as a false positive")
            + "; these scores say nothing about the segmentation. Check that the ground truth is the right "
            "file or folder and covers the prediction's frames and field of view.",
            EmptyTruthWarning,
            stacklevel=user_stacklevel(),
        )
    px = [0, 0, 0]
    ob = [0, 0, 0]
    ious: list[float] = []
    aji = [0, 0]
    seg: list[np.ndarray] = []
    for pf, gf in frames:
        t = _overlap_table(pf, gf)
        if only_annotated:
            t = _annotated(t)
        for i, v in enumerate(_table_pixel_counts(t)):
            px[i] += v
        tp, fp, fn, mi = _object_counts(t, threshold)
        ob[0] += tp
        ob[1] += fp
        ob[2] += fn
        ious += mi
        c, u = _aji_counts(t)
        aji[0] += c
        aji[1] += u
        seg.append(_seg_values(t))
    out: dict[str, Any] = {f"pixel_{k}": v for k, v in _pixel_from_counts(*px).items()}
    out.update(_object_from_counts(ob[0], ob[1], ob[2], ious))
    out["threshold"] = threshold
    out["average_precision"] = _ratio(ob[0], sum(ob))
    out["aji"] = _ratio(*aji)
    all_seg = np.concatenate(seg) if seg else np.zeros(0)
    out["seg"] = float(np.mean(all_seg)) if all_seg.size else float("nan")
    out["n_frames"] = len(frames)
    return out, (px[0], px[1], px[2])


def _pixel_totals(pred: Any, gt: Any, /, *, only_annotated: bool = False) -> tuple[int, int, int]:
    """Foreground pixel TP, FP and FN summed over the frames :func:`evaluate` scores (``only_annotated``: as it
    counts them)."""
    pred, gt, dims = _aligned(pred, gt)
    total = [0, 0, 0]
    for pf, gf in _frames(*_pair(pred, gt), dims):
        t = _overlap_table(pf, gf)
        for i, v in enumerate(_table_pixel_counts(_annotated(t) if only_annotated else t)):
            total[i] += v
    return total[0], total[1], total[2]
