"""Cutter training speed: time to converge (loss plateau) on a 1024 x 1024 image with ~100 cells.

Synthetic fluorescence image: 100 cells (ellipses, radius 14-24 px) on a jittered 10 x 10
grid, brightness 0.6-1, Gaussian noise 0.15; markers = the true centres. Training uses the
paper's network (UNet4 width 32, 64 px patches, 640 px areas) on the CPU with the given
number of torch threads. Reports steps/s, the step and time at which the smoothed loss
stops improving (``labelfree.cutter.train.plateau_step``: running mean over 25 steps,
drop over the next 25 steps < 1 % of the drop so far), the peak resident memory, and the
mean IoU of the result against the true cells (so "converged" means segmented).

Usage: python3 benchmarks/cutter_speed.py [--steps 150] [--threads 2] [--preset paper] [--device cpu]
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
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args(argv)
    import torch

    from labelfree.cutter import CutterConfig
    from labelfree.cutter.prepare import foreground_mask
    from labelfree.cutter.segment import apply_model, prepare_frames
    from labelfree.cutter.train import plateau_step, train_cutter
    from labelfree.metrics import evaluate

    torch.set_num_threads(args.threads)
    image, truth, centres = synthetic(args.size)
    cfg = CutterConfig(n_steps=args.steps, loss_preset=args.preset, device=args.device)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    mask = foreground_mask(image[None], cfg)
    _, frames = prepare_frames(image, markers=centres, config=cfg, mask=mask)
    t_prep = time.perf_counter() - t0
    model = train_cutter([f.patch_set for f in frames], config=cfg)
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
    print(f"Cutter speed, {args.size}x{args.size}, {len(centres)} markers, device {args.device}, "
          f"torch threads {args.threads}, preset {args.preset} (CPU shared with other jobs)")
    print(f"{'quantity':36s} value")
    print(f"{'mask + patches (s)':36s} {t_prep:.1f}")
    print(f"{'training steps':36s} {len(losses)}")
    print(f"{'training time (s)':36s} {times[-1]:.1f}")
    print(f"{'steps per second':36s} {len(losses) / times[-1]:.3f}")
    if plateau is None:
        print(f"{'loss plateau':36s} not reached in {len(losses)} steps")
    else:
        print(f"{'loss plateau at step':36s} {plateau}")
        print(f"{'time to plateau (s)':36s} {times[plateau]:.1f}")
    print(f"{'apply (inference + integration) (s)':36s} {t_apply:.1f}")
    print(f"{'peak RSS (MiB)':36s} {rss:.0f} (before: {rss0:.0f})")
    if args.device.startswith("cuda"):
        print(f"{'peak GPU memory (MiB)':36s} {torch.cuda.max_memory_allocated() / 2**20:.0f}")
    print(f"{'mean IoU / F1@0.5 vs truth':36s} {scores['mean_iou']:.3f} / {scores['f1']:.3f}")
    print("loss every 10 steps:", " ".join(f"{v:.0f}" for v in losses[::10]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
