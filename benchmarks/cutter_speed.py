"""Cutter training speed: time to converge (loss plateau) on a 1024 x 1024 image with ~100 cells.

Synthetic fluorescence image: 100 cells (ellipses, radius 14-24 px) on a jittered 10 x 10
grid, brightness 0.6-1, Gaussian noise 0.15; markers = the true centres. 64 px patches.

1. Reference: the paper's network and batching (UNet4 width 32, 640 px areas, ~40 patches
   per step) for ``--ref-steps`` steps before and after step 2, only to measure its
   seconds per step in this run (mean of both).
2. The fast setting (``--width``, ``--area``; default width 16, 320 px areas, ~12 patches
   per step) trained until the loss plateau stops it (``stop_at_plateau``: running mean
   over 25 steps, drop over the next 25 steps <= 1 % of the drop so far; at most
   ``--steps``).

Reports seconds per step of both (and their ratio), time and step of the plateau, peak
resident memory, apply time and the mean IoU / F1 of the result against the true cells
(so "converged" means segmented).

``--no-parameters`` times instead the whole ``labelfree.cutter.segment(image, markers=centres)``
call with no config (mask, automatic scale, training to the plateau, integration).

Usage: python3 benchmarks/cutter_speed.py [--steps 800] [--threads 1] [--width 16] [--area 320]
       [--preset code] [--ref-steps 4] [--device cpu] [--no-parameters]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
from skimage.draw import ellipse


def synthetic(size=1024, n=10, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), np.int32)
    centres = []
    step = size / n
    for i in range(n):
        for j in range(n):
            cy, cx = (i + 0.5) * step + rng.uniform(-8, 8), (j + 0.5) * step + rng.uniform(-8, 8)
            rr, cc = ellipse(cy, cx, *rng.uniform(14, 24, 2), shape=truth.shape, rotation=rng.uniform(0, np.pi))
            truth[rr, cc] = len(centres) + 1
            centres.append((cy, cx))
    image = np.concatenate([[0.0], rng.uniform(0.6, 1.0, len(centres))])[truth] + rng.normal(0, 0.15, truth.shape)
    return image.astype(np.float32), truth, np.array(centres)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=800, help="most training steps of the fast setting")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--preset", default="code")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--area", type=int, default=320)
    ap.add_argument("--ref-steps", type=int, default=4, help="steps of the paper setting (0 = skip)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--no-parameters", action="store_true",
                    help="time labelfree.cutter.segment(image, markers=centres) with no config instead")
    args = ap.parse_args(argv)
    import torch

    from labelfree.cutter import CutterConfig
    from labelfree.cutter.prepare import foreground_mask
    from labelfree.cutter.segment import apply_model, prepare_frames
    from labelfree.cutter.train import plateau_step, train_cutter
    from labelfree.metrics import evaluate

    torch.set_num_threads(args.threads)
    image, truth, centres = synthetic(args.size)
    if args.no_parameters:
        return _no_parameters(image, truth, centres, args.threads)
    cfg = CutterConfig(n_steps=args.steps, loss_preset=args.preset, width=args.width,
                       area_size=args.area, stop_at_plateau=True)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    mask = foreground_mask(image[None], cfg)
    _, frames = prepare_frames(image, markers=centres, config=cfg, mask=mask)
    t_prep = time.perf_counter() - t0
    patch_sets = [f.patch_set for f in frames]
    paper = cfg.replace(width=32, area_size=640, n_steps=args.ref_steps + 1, stop_at_plateau=False)

    def paper_seconds_per_step():
        hist = train_cutter(patch_sets, config=paper, device=args.device).history
        return (hist[-1][0] - hist[0][0]) / (len(hist) - 1)  # first step excluded (warm-up)

    # the reference is timed before and after the fast training (the machine's load drifts)
    ref = [paper_seconds_per_step()] if args.ref_steps else []
    model = train_cutter(patch_sets, config=cfg, device=args.device)
    ref = float(np.mean(ref + [paper_seconds_per_step()])) if ref else None
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    times = np.array([t for t, _ in model.history])
    losses = [v for _, v in model.history]
    t0 = time.perf_counter()
    labels = apply_model(model, frames)[0]
    t_apply = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    plateau = plateau_step(losses)
    scores = evaluate(labels, truth)
    fast = times[-1] / len(losses)
    print(f"Cutter speed, {args.size}x{args.size}, {len(centres)} markers, device {args.device}, "
          f"torch threads {args.threads}, preset {args.preset} (CPU shared with other jobs)")
    print(f"{'quantity':40s} value")
    print(f"{'mask + patches (s)':40s} {t_prep:.1f}")
    if ref is not None:
        print(f"{'paper setting (w32, 640 px areas) s/step':40s} {ref:.2f}")
    print(f"{f'trained setting (w{args.width}, {args.area} px areas) s/step':40s} {fast:.2f}")
    if ref is not None:
        print(f"{'speed-up per step':40s} {ref / fast:.1f}x")
    print(f"{'training steps run':40s} {len(losses)}")
    print(f"{'training time (s)':40s} {times[-1]:.1f}")
    print(f"{'steps per second':40s} {len(losses) / times[-1]:.3f}")
    if plateau is None:
        print(f"{'loss plateau':40s} not reached in {len(losses)} steps")
    else:
        print(f"{'loss plateau at step':40s} {plateau}")
        print(f"{'time to plateau (s)':40s} {times[plateau]:.1f}")
    print(f"{'apply (inference + integration) (s)':40s} {t_apply:.1f}")
    print(f"{'peak RSS (MiB)':40s} {rss:.0f} (before: {rss0:.0f})")
    if args.device.startswith("cuda"):
        print(f"{'peak GPU memory (MiB)':40s} {torch.cuda.max_memory_allocated() / 2**20:.0f}")
    print(f"{'mean IoU / F1@0.5 vs truth':40s} {scores['mean_iou']:.3f} / {scores['f1']:.3f}")
    print("loss every 25 steps:", " ".join(f"{v:.0f}" for v in losses[::25]))
    return 0


def _no_parameters(image, truth, centres, threads) -> int:
    """The whole pipeline as a user calls it: mask, automatic scale, training, integration."""
    import os

    from labelfree.cutter import segment
    from labelfree.metrics import evaluate

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    labels = segment(image, markers=centres)
    seconds = time.perf_counter() - t0
    prov = labels.attrs["labelfree"]
    scores = evaluate(labels.values, truth)
    print(f"Cutter, no parameters, {image.shape[0]}x{image.shape[1]}, {len(centres)} markers, torch threads "
          f"{threads}, load average {load:.1f} at the start (CPU shared with other jobs)")
    print(f"{'seconds (whole segment call)':40s} {seconds:.1f}")
    print(f"{'training steps':40s} {prov['training_steps']}")
    print(f"{'automatic scale':40s} {prov['auto']}")
    print(f"{'mean IoU / F1@0.5 vs truth':40s} {scores['mean_iou']:.3f} / {scores['f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
