"""Cutter on small nuclei: how far to enlarge them (the ``downscale`` floor), time against accuracy.

The nuclei sets of ``benchmarks/defaults_invariance.py`` at half size (DSB2018 radius 7 px, HeLa 7 px,
SIM+ 13 px) are enlarged at most 2x by the automatic scale (``downscale`` >= 0.5), so they fill a
quarter of the patch area they were built for. Each is segmented with no config and with each
``--downscale`` given; ``--tiles N`` also runs DSB2018 at half size as N x N copies side by side
(a large field of small nuclei), once per ``--seeds``. One torch thread.

Usage: python3 benchmarks/cutter_small_nuclei.py [--sets dsb2018,hela,sim+] [--downscale 0.25]
       [--area-size 320] [--tiles 4] [--seeds 0,1,2]

``--area-size`` adds runs with that training area (the automatic one is 320 px for cells that fill
the patch and smaller in proportion for these).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cutter_defaults as cd  # noqa: E402
import defaults_invariance as di  # noqa: E402


def _run(images, markers, truth, config: dict) -> str:
    from labelfree.cutter import CutterConfig, segment
    from labelfree.image import to_dataarray

    t0 = time.perf_counter()
    lab = segment(to_dataarray(images, dims="TYX"), markers=markers, config=CutterConfig(**config))
    seconds = time.perf_counter() - t0
    prov = lab.attrs["labelfree"]
    s = cd._scores(lab.values, truth)
    ds = config.get("downscale", (prov.get("auto") or {}).get("downscale"))
    area = config.get("area_size", (prov.get("auto") or {}).get("area_size"))
    return (f"downscale {ds:<5} area {area!s:<4} {seconds:7.1f} s {prov['training_steps']:4d} steps  "
            f"pixF1 {s['pixel_f1']:.3f}  "
            f"F1 {s['f1']:.3f}  mIoU {s['mean_iou']:.3f}")


def _tiled(images, truth, markers, n: int):
    """``n`` x ``n`` copies of a one-frame set side by side (points as markers), labels kept apart."""
    h, w = images.shape[1:]
    big = np.tile(images, (1, n, n))
    gt = np.zeros((1, h * n, w * n), np.int32)
    pts, m = [], int(truth.max())
    for i in range(n):
        for j in range(n):
            gt[0, i * h:(i + 1) * h, j * w:(j + 1) * w] = np.where(truth[0] > 0, truth[0] + (i * n + j) * m, 0)
            p = markers.copy()
            p[:, 1] += i * h
            p[:, 2] += j * w
            pts.append(p)
    return big, gt, np.concatenate(pts)


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="dsb2018,hela,sim+")
    ap.add_argument("--downscale", default="0.25", help="comma-separated downscale values besides the automatic one")
    ap.add_argument("--area-size", default="", help="comma-separated area_size values besides the automatic one")
    ap.add_argument("--tiles", type=int, default=4, help="DSB2018 at half size as N x N copies (0: not run)")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the tiled runs")
    args = ap.parse_args(argv)
    values = [float(v) for v in args.downscale.split(",") if v]
    extra = [{"downscale": v} for v in values] + [{"area_size": int(v)} for v in args.area_size.split(",") if v]
    for name, images, truth, markers in di.cutter_sets(args.sets.split(",")):
        im, g, mk = di.transformed(images, truth, markers, lambda a: a, 0.5)
        print(f"{name} at half size, {im.shape[1]} x {im.shape[2]}", flush=True)
        for config in [{}] + extra:
            print("   ", _run(im, mk, g, config), flush=True)
        if name == "dsb2018" and args.tiles:
            big, gt, pts = _tiled(im, g, mk, args.tiles)
            print(f"{name} at half size, {args.tiles} x {args.tiles} copies: {big.shape[1]} x {big.shape[2]}, "
                  f"{len(pts)} nuclei", flush=True)
            for seed in [int(s) for s in args.seeds.split(",") if s]:
                for config in [{"seed": seed}] + [{**c, "seed": seed} for c in extra]:
                    print(f"    seed {seed}", _run(big, pts, gt, config), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
