"""Motion on crops of the real time-lapses: what a user who crops a region of interest gets.

Run: ``OMP_NUM_THREADS=1 python benchmarks/motion_crops.py [--size 256] [--frames 6]``

Every movie of ``../shared/data`` with complete ground truth in its first frames (HeLa's
pseudo ground truth, SIM+'s gold segmentation) is cut into ``size`` x ``size`` crops on a grid
(steps of about 0.86 x the size), and each crop's first ``frames`` frames are segmented with no
parameters, beside Otsu + Motion's clean-up (``motion_accuracy.baselines``). Per set and method: the
crops, the mean and the worst pixel F1 and object F1 at IoU 0.5 over the crops (all frames of a
crop scored together), and ``flooded``: crop-frames more than 60 % foreground (ground truth at
most 30 % in every crop). About 3 minutes on one core.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from labelfree import datasets
from labelfree.metrics import evaluate

HERE = Path(__file__).resolve().parent


def _accuracy_module():
    spec = importlib.util.spec_from_file_location("motion_accuracy", HERE / "motion_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sets(frames: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    movie, truth = datasets.load_timelapse("hela")
    sim = datasets.load_ctc("Fluo-N2DH-SIM+", "01", frames=range(frames))
    sim_truth = np.stack([np.asarray(sim.seg[t]) for t in range(frames)])
    return {"hela": (np.asarray(movie.values)[:frames], np.asarray(truth.values)[:frames]),
            "sim+": (np.asarray(sim.movie.values), sim_truth)}


def _windows(shape: tuple[int, int], size: int) -> list[tuple[int, int]]:
    step = max(1, round(size * 0.86))
    return [(y, x) for y in range(0, shape[0] - size + 1, step) for x in range(0, shape[1] - size + 1, step)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args(argv)
    accuracy = _accuracy_module()
    print(f"crops of {args.size} x {args.size} px, first {args.frames} frames; method 'motion' has no parameters")
    print(f"{'set':<6} {'method':<10} {'crops':>5} {'pixel F1 mean':>13} {'worst':>6} {'F1@0.5 mean':>11} "
          f"{'worst':>6} {'flooded':>7} {'s':>6}")
    for name, (movie, truth) in _sets(args.frames).items():
        scores: dict[str, list[tuple[float, float, int]]] = {"motion": [], "otsu+post": []}
        seconds = dict.fromkeys(scores, 0.0)
        empty = 0
        for y, x in _windows(movie.shape[1:], args.size):
            crop = movie[:, y:y + args.size, x:x + args.size]
            gt = truth[:, y:y + args.size, x:x + args.size]
            if not gt[:args.frames].any():  # no cell to score (both methods would get nan or 0): left out, said below
                empty += 1
                continue
            preds, secs = accuracy.run_full(crop, list(range(args.frames)), ("motion", "otsu+post"))
            for method in scores:
                pred = preds[method]
                result = evaluate(pred, gt)
                flooded = int(sum((frame > 0).mean() > 0.6 for frame in pred))
                scores[method].append((result["pixel_f1"], result["f1"], flooded))
                seconds[method] += secs[method]
        for method, rows in scores.items():
            pix, obj, flooded = (np.array(v) for v in zip(*rows))
            print(f"{name:<6} {method:<10} {len(rows):>5} {pix.mean():>13.3f} {pix.min():>6.3f} {obj.mean():>11.3f} "
                  f"{obj.min():>6.3f} {int(flooded.sum()):>7} {seconds[method]:>6.1f}", flush=True)
        if empty:
            print(f"{name:<6} {empty} crop(s) without a ground-truth object in their frames left out", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
