"""Label-fusion baselines made to work on instance segmentations: match objects first.

Pixel-level fusers (STAPLE, SIMPLE, voting) expect label values that mean the same thing in
every input, which instance IDs do not. So, for ``n`` instance segmentations of one image:

1. **match**: objects of every pair of inputs are matched one-to-one by IoU
   (``labelfree.metrics.match_objects``, IoU >= ``min_iou``); groups are the connected
   components of the match graph (unmatched objects are groups of one);
2. **fuse each group** on its bounding box, every input giving a binary crop (empty when it
   did not find the object), with one rule:

   * ``pixel_vote``: a pixel is kept when more than half of all ``n`` inputs cover it;
   * ``majority_vote``: the object is kept when more than half of the inputs found it, and
     its shape is the pixels covered by at least half of the inputs that found it;
   * ``staple``: SimpleITK's STAPLE (Warfield 2004) on the ``n`` crops, probability >= 0.5;
   * ``simple``: SIMPLE (Langerak 2010), :func:`simple_fusion`;
3. **insert** the fused objects: a pixel claimed by several objects goes to the one with the
   highest vote fraction (or STAPLE probability) there; each object then keeps its largest
   connected component, and objects under ``min_size`` pixels are dropped.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from labelfree.errors import InputError
from labelfree.metrics import match_objects

__all__ = ["BASELINES", "match_instances", "pixel_vote", "majority_vote", "staple", "simple_fusion", "fuse_instances"]

BASELINES = ("pixel_vote", "majority_vote", "staple", "simple")


def match_instances(segmentations: Sequence[np.ndarray], /, *, min_iou: float = 0.5) -> list[list[tuple[int, int]]]:
    """Group the objects of several instance segmentations that are the same object.

    Parameters
    ----------
    segmentations : sequence of (Y, X) integer label images of one image
    min_iou : float
        IoU at which two objects of different inputs match (one-to-one per pair of inputs).

    Returns
    -------
    list of groups, each a list of ``(input index, label)``, sorted.
    """
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(a: tuple[int, int]) -> tuple[int, int]:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, seg in enumerate(segmentations):
        for lab in np.unique(seg):
            if lab:
                parent[(i, int(lab))] = (i, int(lab))
    for i in range(len(segmentations)):
        for j in range(i + 1, len(segmentations)):
            for lab_i, lab_j, _ in match_objects(segmentations[j], segmentations[i], threshold=min_iou):
                ra, rb = find((i, lab_i)), find((j, lab_j))
                if ra != rb:
                    parent[rb] = ra
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    return sorted(sorted(g) for g in groups.values())


def pixel_vote(crops: np.ndarray, /) -> np.ndarray:
    """Fraction of the ``n`` inputs covering each pixel; kept where > 0.5. crops: (n, Y, X) bool."""
    frac = crops.mean(axis=0)
    return np.where(frac > 0.5, frac, 0.0)


def majority_vote(crops: np.ndarray, present: np.ndarray, /) -> np.ndarray:
    """Object-level majority: kept if > half the inputs found it; shape by >= half of those."""
    if present.sum() * 2 <= len(present):
        return np.zeros(crops.shape[1:])
    frac = crops[present].mean(axis=0)
    return np.where(frac >= 0.5, frac, 0.0)


def staple(crops: np.ndarray, /) -> np.ndarray:
    """STAPLE probability of each pixel (SimpleITK), kept where >= 0.5. crops: (n, Y, X) bool."""
    import SimpleITK as sitk

    if not crops.any():
        return np.zeros(crops.shape[1:])
    images = [sitk.GetImageFromArray(c.astype(np.uint8)) for c in crops]
    prob = sitk.GetArrayFromImage(sitk.STAPLE(images, 1.0))
    prob = np.nan_to_num(prob, nan=0.0)
    return np.where(prob >= 0.5, prob, 0.0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 2.0 * float(np.logical_and(a, b).sum()) / total if total else 1.0


def simple_fusion(crops: np.ndarray, /, *, alpha: float = 0.5, max_iter: int = 10) -> np.ndarray:
    """SIMPLE (Langerak et al. 2010): iterative performance-weighted voting with pruning.

    Start from the majority vote; score every input by its Dice with the estimate; drop the
    inputs scoring below ``mean - alpha * std`` of the scores; re-estimate as the
    Dice-weighted vote > 0.5 of the kept inputs; repeat until nothing changes.

    Parameters
    ----------
    crops : (n, Y, X) bool array
    alpha : float
        Pruning strictness: inputs more than ``alpha`` standard deviations below the
        mean Dice are dropped. Langerak's exact constant is not published in a form we
        could confirm; 0.5 is our choice (1.0 rarely prunes with few inputs).
    max_iter : int

    Returns
    -------
    (Y, X) float: weighted vote fraction where the fused mask is set, 0 elsewhere.
    """
    crops = np.asarray(crops, bool)
    active = np.ones(len(crops), bool)
    weights = np.ones(len(crops))
    vote = crops.mean(axis=0)
    estimate = vote > 0.5
    for _ in range(max_iter):
        if not estimate.any():
            break
        perf = np.array([_dice(c, estimate) for c in crops])
        cut = perf[active].mean() - alpha * perf[active].std()
        keep = active & (perf >= cut) & (perf > 0)
        if not keep.any():
            break
        weights = np.where(keep, perf, 0.0)
        vote = np.tensordot(weights, crops, axes=1) / weights.sum()
        new = vote > 0.5
        done = bool((keep == active).all() and (new == estimate).all())
        active, estimate = keep, new
        if done:
            break
    return np.where(estimate, vote, 0.0)


def _fuse_group(crops: np.ndarray, present: np.ndarray, method: str) -> np.ndarray:
    if method == "pixel_vote":
        return pixel_vote(crops)
    if method == "majority_vote":
        return majority_vote(crops, present)
    if method == "staple":
        return staple(crops)
    if method == "simple":
        return simple_fusion(crops)
    raise InputError(f"Unknown fusion baseline {method!r}; choose one of {', '.join(BASELINES)}.")


def fuse_instances(
    segmentations: Sequence[np.ndarray], /, *, method: str = "majority_vote", min_iou: float = 0.5, min_size: int = 15
) -> np.ndarray:
    """Fuse several instance segmentations of one image into one (see the module doc).

    Parameters
    ----------
    segmentations : sequence of (Y, X) integer label images (0 = background), same shape
    method : {"pixel_vote", "majority_vote", "staple", "simple"}
    min_iou : float
        IoU at which objects of two inputs are the same object.
    min_size : int
        Fused objects smaller than this many pixels are dropped.

    Returns
    -------
    (Y, X) uint16 instance labels numbered 1..N.
    """
    segs = [np.asarray(s) for s in segmentations]
    if not segs:
        raise InputError("fuse_instances needs at least one segmentation.")
    if len({s.shape for s in segs}) != 1 or segs[0].ndim != 2:
        raise InputError(f"Segmentations must be 2-D and of one shape; got {[s.shape for s in segs]}.")
    if method not in BASELINES:
        raise InputError(f"Unknown fusion baseline {method!r}; choose one of {', '.join(BASELINES)}.")
    shape = segs[0].shape
    out = np.zeros(shape, np.int32)
    best = np.zeros(shape, np.float64)
    slices = [ndi.find_objects(s.astype(np.int64)) for s in segs]
    next_id = 0
    for group in match_instances(segs, min_iou=min_iou):
        boxes = [slices[i][lab - 1] for i, lab in group]
        y0, y1 = min(b[0].start for b in boxes), max(b[0].stop for b in boxes)
        x0, x1 = min(b[1].start for b in boxes), max(b[1].stop for b in boxes)
        y0, x0, y1, x1 = max(0, y0 - 1), max(0, x0 - 1), min(shape[0], y1 + 1), min(shape[1], x1 + 1)
        crops = np.zeros((len(segs), y1 - y0, x1 - x0), bool)
        present = np.zeros(len(segs), bool)
        for i, lab in group:
            crops[i] |= segs[i][y0:y1, x0:x1] == lab
            present[i] = True
        score = _fuse_group(crops, present, method)
        win = score > best[y0:y1, x0:x1]
        if not win.any():
            continue
        next_id += 1
        out[y0:y1, x0:x1][win] = next_id
        best[y0:y1, x0:x1][win] = score[win]
    return _clean(out, min_size)


def _clean(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Keep each object's largest connected component, drop small ones, number 1..N."""
    result = np.zeros(labels.shape, np.uint16)
    n = 0
    for lab, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        obj = labels[box] == lab
        cc, k = ndi.label(obj)
        if k > 1:
            sizes = np.bincount(cc.ravel())[1:]
            obj = cc == (int(np.argmax(sizes)) + 1)
        if obj.sum() < max(1, min_size):
            continue
        n += 1
        result[box][obj] = n
    return result
