"""Foreground masks for Cutter on Fluo-C2DL-MSC/01, scored through the marker-controlled watershed.

Run: ``python benchmarks/cutter_masks.py``

Every mask variant is scored as in ``cutter_accuracy.py``: pixel Jaccard against the
ground-truth foreground on the complete frames, and the watershed seeded by the TRA
markers inside the mask (mean IoU of matched cells, F1@0.5 on annotated cells). The
watershed partitions the mask as Cutter does, so it is the cheap proxy for what a mask
allows. Variants:

* the graph cut on the noise-normalised signal (``mask_signal="snr"``, the benchmark's mask);
* the same graph cut on each frame averaged with its neighbours in time (t +- k), plain or
  after warping the neighbours onto frame t with Farnebaeck flow;
* a random forest on multi-scale pixel features (``labelfree.cutter.pixel_features``),
  trained on each frame's own graph-cut mask (cores as cell, pixels far outside as
  background), re-deciding the band in between.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import tifffile
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cutter_accuracy as ca  # noqa: E402

from labelfree.cutter import CutterConfig, markers_from_labels  # noqa: E402
from labelfree.cutter.pixel_classifier import pixel_features  # noqa: E402
from labelfree.cutter.prepare import foreground_mask  # noqa: E402

CONFIG = CutterConfig(mask_signal="snr", mask_snr_threshold=1.5, mask_keep_marked=True, mask_sigma=0.1, mask_smoothing=2.0)


def graph_cut(images, tra):
    return np.stack([foreground_mask(im[None], CONFIG, markers=markers_from_labels(t)[0]) for im, t in zip(images, tra)])


def time_averaged(movie, at, k, *, warp):
    """Frames ``at`` of ``movie`` averaged with their k neighbours on each side (warped onto them)."""
    out = []
    for i in at:
        lo, hi = max(0, i - k), min(len(movie), i + k + 1)
        if not warp:
            out.append(movie[lo:hi].mean(axis=0))
            continue
        ref = movie[i]
        acc, n = ref.copy(), 1
        ref8 = cv2.normalize(ref, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        gy, gx = np.mgrid[0 : ref.shape[0], 0 : ref.shape[1]].astype(np.float32)
        for j in range(lo, hi):
            if j != i:
                other8 = cv2.normalize(movie[j], None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
                flow = cv2.calcOpticalFlowFarneback(ref8, other8, None, 0.5, 3, 15, 3, 5, 1.1, 0)
                acc += cv2.remap(movie[j], gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
                n += 1
        out.append(acc / n)
    return np.stack(out)


def forest_refined(images, masks, tra, *, inner, outer, sigmas, threshold=0.5, per_class=20000, seed=0):
    """Re-decide the band around each mask with a random forest trained on the mask's core and far background."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    out = []
    for im, m, t in zip(images, masks, tra):
        x = (im - np.median(im)) / (np.percentile(im, 99.5) - np.median(im) + 1e-6)
        feats = pixel_features(x, sigmas=sigmas).reshape(-1, len(sigmas) * 3 + 1)
        u = m.astype(np.uint8)
        disk = lambda r: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))  # noqa: E731
        core = cv2.erode(u, disk(inner)) > 0
        far = cv2.dilate(u, disk(outer)) == 0
        picks = [rng.choice(np.flatnonzero(c.ravel()), min(per_class, int(c.sum())), replace=False) for c in (core, far)]
        forest = RandomForestClassifier(n_estimators=40, max_depth=12, random_state=seed, n_jobs=1)
        forest.fit(np.concatenate([feats[p] for p in picks]), np.r_[np.ones(len(picks[0])), np.zeros(len(picks[1]))])
        new = ((forest.predict_proba(feats)[:, 1].reshape(m.shape) > threshold) & ~far) | core
        lab, _ = ndi.label(new)
        marked = np.unique(lab[(t > 0) & new])
        out.append(ndi.binary_fill_holes(np.isin(lab, marked[marked > 0])))
    return np.stack(out)


def main() -> int:
    frames, images, seg, tra = ca.load_msc()
    complete = np.array([len(np.unique(s)) >= len(np.unique(t)) for s, t in zip(seg, tra)])
    root = ca.DATA / "ctc" / "Fluo-C2DL-MSC" / "01"
    paths = sorted(root.glob("t*.tif"))
    movie = np.stack([tifffile.imread(p) for p in paths]).astype(np.float32)
    at = [[p.stem[1:] for p in paths].index(n) for n in frames]
    cv2.setNumThreads(1)

    def row(name, masks):
        jac = np.mean([(m & (g > 0)).sum() / (m | (g > 0)).sum() for m, g in zip(masks[complete], seg[complete])])
        ws = np.stack([ca.watershed_baseline(im, t, m) for im, t, m in zip(images, tra, masks)])
        s = ca.scores(ws, seg, complete)
        print(f"{name:58s} {jac:7.3f} {s['mean_iou']:8.3f} {s['f1']:7.3f}", flush=True)

    print(f"Fluo-C2DL-MSC/01, {len(frames)} GT frames, TRA markers; watershed inside each mask")
    print(f"{'mask':58s} {'Jaccard':>7s} {'meanIoU':>8s} {'F1@0.5':>7s}")
    gc = graph_cut(images, tra)
    row("graph cut (snr)", gc)
    for k in (1, 2):
        for warp in (False, True):
            how = "flow-warped mean" if warp else "mean"
            row(f"graph cut (snr) of the {how} of t-{k}..t+{k}", graph_cut(time_averaged(movie, at, k, warp=warp), tra))
    for inner, outer, sigmas in ((3, 10, (1.0, 2.0, 4.0)), (2, 6, (0.7, 1.0, 2.0, 4.0))):
        row(f"random forest on the band, core -{inner} px, background +{outer} px",
            forest_refined(images, gc, tra, inner=inner, outer=outer, sigmas=sigmas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
