"""What a Motion movie split into chunks (``labelfree batch -p motion --chunk-frames N``) gives on real data.

Run: ``OMP_NUM_THREADS=1 python benchmarks/motion_chunks.py [--frames 16] [--chunks 4 8] [--only TEXT] [--crop PX]``

For each time-lapse (the first ``--frames`` frames of MSC, GOWT1 and SIM+, sequence 01, written to one
TIFF), ``labelfree batch --scheduler sync`` runs Motion on the whole movie and once per chunk size,
each in its own process, exactly as a user runs it. Printed:

* accuracy: object F1 at IoU 0.5 and the foreground IoU (pixel F1 / (2 - pixel F1), both from
  ``labelfree.metrics.evaluate``) against the ground truth, on the annotated frames after
  frame 0 (MSC and GOWT1 have sparse masks: only annotated objects are scored), for the whole run
  and each chunked run; then the chunked run against the whole run on every frame (object F1 and
  foreground IoU, every object), the foreground IoU with the whole run on the first chunk's frames and
  on the later ones, and the label IDs (tracks) each run gives;
* settings: the automatic values of the whole run, those the first chunk chose and handed on
  (``min_size``, closing radius, split landscape: the provenance's ``auto``), the grey range measured
  once on the whole movie and handed to every chunk (``batch.whole_movie``: ``grey_range``, and
  ``frame_gains`` for frames of another exposure or bleaching), and, with each chunk segmented alone by
  ``labelfree.motion.segment`` on its frames (overlap included), the size and the grey range
  (``uint8_range``) each chunk would have measured itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import tifffile

from labelfree import datasets
from labelfree.batch.chunks import plan_chunks
from labelfree.metrics import evaluate

#: label, Cell Tracking Challenge name, sparse ground truth (score annotated objects only)
SETS = (("MSC", "Fluo-C2DL-MSC", True), ("GOWT1", "Fluo-N2DH-GOWT1", True), ("SIM+", "Fluo-N2DH-SIM+", False))


def batch_run(movie: Path, out: Path, chunk: int | None) -> tuple[np.ndarray, dict, float]:
    """``labelfree batch`` on ``movie`` (whole, or in chunks of ``chunk`` frames): labels, provenance, seconds."""
    cmd = [sys.executable, "-m", "labelfree", "batch", str(movie), "-p", "motion", "-o", str(out),
           "--scheduler", "sync", "--no-progress", "-q"] + (["--chunk-frames", str(chunk)] if chunk else [])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    secs = time.perf_counter() - t0
    labels = tifffile.imread(out / f"{movie.stem}_labels.tif")
    record = json.loads((out / f"{movie.stem}_provenance.json").read_text())
    return np.asarray(labels), record, secs


def alone(frames: np.ndarray, chunk: int) -> list[dict]:
    """Each chunk's frames segmented on their own by Motion (nothing handed on): its size and grey range."""
    from labelfree import motion

    rows = []
    for a, b in plan_chunks(len(frames), chunk_frames=chunk, overlap=1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = motion.segment(frames[a:b]).attrs["labelfree"]
        rows.append({"frames": f"{a}-{b - 1}", "min_size": rec.get("min_size"),
                     "uint8_range": [int(v) for v in rec["uint8_range"]]})
    return rows


def scores(pred: np.ndarray, ref: np.ndarray, *, annotated: bool) -> tuple[float, float]:
    """Foreground IoU and object F1 at IoU 0.5 of ``pred`` against ``ref``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = evaluate(pred, ref, only_annotated=annotated)
    pix = s["pixel_f1"]
    return pix / (2 - pix), s["f1"]


def fg_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Foreground IoU of two label images (1 when both are empty)."""
    union = np.count_nonzero((a > 0) | (b > 0))
    return np.count_nonzero((a > 0) & (b > 0)) / union if union else 1.0


def ids(labels: np.ndarray) -> int:
    return int(np.count_nonzero(np.unique(labels)))


def run_set(label: str, name: str, sparse: bool, *, n_frames: int, chunks: list[int], crop: int | None,
            work: Path) -> tuple[list[dict], list[str]]:
    data = datasets.load_ctc(name, "01")
    movie = np.asarray(data.movie.values[:n_frames])
    if crop:
        movie = np.ascontiguousarray(movie[:, :crop, :crop])
    path = work / f"{label.replace('+', 'p').lower()}.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TYX"})
    gt_frames = [t for t in sorted(int(k) for k in data.seg.keys()) if 0 < t < n_frames]
    gt = np.stack([np.asarray(data.seg[t]) for t in gt_frames])
    if crop:
        gt = gt[:, :crop, :crop]
    whole, whole_rec, whole_s = batch_run(path, work / f"{label}_whole", None)
    rows = [{"set": label, "run": "whole", "gt": scores(whole[gt_frames], gt, annotated=sparse),
             "ref": (1.0, 1.0), "ids": ids(whole), "s": whole_s, "split": (1.0, 1.0)}]
    notes = [f"{label}: {movie.shape[0]} x {movie.shape[1]} x {movie.shape[2]} {movie.dtype}, GT frames "
             f"{gt_frames} ({sum(ids(f) for f in gt)} objects); whole run auto {whole_rec.get('auto')}, uint8_range "
             f"{[int(v) for v in whole_rec['uint8_range']]}"]
    for chunk in chunks:
        lab, rec, secs = batch_run(path, work / f"{label}_c{chunk}", chunk)
        rows.append({"set": label, "run": f"chunks of {chunk}", "gt": scores(lab[gt_frames], gt, annotated=sparse),
                     "ref": scores(lab, whole, annotated=False), "ids": ids(lab), "s": secs,
                     "split": (fg_iou(lab[:chunk], whole[:chunk]), fg_iou(lab[chunk:], whole[chunk:]))})
        own = alone(movie, chunk)
        handed = rec["batch"].get("whole_movie") or {}
        notes.append(f"  chunks of {chunk}: handed on from the first chunk {rec.get('auto')}, grey range of the whole "
                     f"movie {[int(v) for v in handed.get('grey_range', [])]}"
                     f"{' with frame gains' if handed.get('frame_gains') else ''}; each chunk alone: "
                     + "; ".join(f"{r['frames']} min_size {r['min_size']} range {r['uint8_range']}" for r in own))
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16, help="first frames of each movie (default 16)")
    parser.add_argument("--chunks", type=int, nargs="+", default=[4, 8], help="chunk sizes (default 4 8)")
    parser.add_argument("--only", default="", help="only the sets whose label contains this text")
    parser.add_argument("--crop", type=int, default=None, help="top-left PX x PX of every frame (default whole)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="motion_chunks_") as tmp:
        for label, name, sparse in SETS:
            if args.only.lower() not in label.lower():
                continue
            r, n = run_set(label, name, sparse, n_frames=args.frames, chunks=args.chunks, crop=args.crop,
                           work=Path(tmp))
            rows += r
            notes += n
    print(f"Motion whole movie vs labelfree batch --chunk-frames N, first {args.frames} frames"
          + (f", {args.crop}^2 crop" if args.crop else ""))
    print(f"{'set':6s} {'run':13s} {'fgIoU GT':>9s} {'F1 GT':>6s} {'fgIoU whole':>12s} {'F1 whole':>9s} "
          f"{'1st chunk':>9s} {'later':>6s} {'IDs':>5s} {'s':>6s}")
    for r in rows:
        print(f"{r['set']:6s} {r['run']:13s} {r['gt'][0]:9.3f} {r['gt'][1]:6.3f} {r['ref'][0]:12.3f} "
              f"{r['ref'][1]:9.3f} {r['split'][0]:9.3f} {r['split'][1]:6.3f} {r['ids']:5d} {r['s']:6.1f}")
    print("(GT: annotated frames after frame 0; MSC, GOWT1: annotated objects only. whole: every frame, every object."
          " 1st chunk, later: fgIoU with the whole run on the first chunk's frames and on the later ones."
          " IDs: label IDs in the movie.)")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
