"""Fusion speed: Flow Averaging of k channels vs k network passes + one flow integration.

The reference is measured in the same run: for each k, ``k x`` the time of one network pass
(``predict_flows``) plus the time of one flow integration (``integrate_flows``) on the
averaged flows; the fused call (``fuse_channels``, fusion="flow_average") should cost at most
1.1x that. Also prints fine-tuning time per epoch (8 crops of 224 px, batch 8) for cellpose's
network widths (32-64-128-256) and for the tiny test widths, on this machine's device.
Models are trained briefly from scratch on synthetic disks so that the flows are realistic.
Run: ``python3 benchmarks/fusion_speed.py`` (one torch thread).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _disks(seed: int, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    lab = np.zeros((size, size), np.int32)
    k = 0
    for _ in range(20 * n):
        y, x = rng.integers(12, size - 12, 2)
        rr, cc = disk((y, x), 11, shape=lab.shape)
        if (lab[rr, cc] > 0).any():
            continue
        rr, cc = disk((y, x), 9, shape=lab.shape)
        k += 1
        lab[rr, cc] = k
        if k == n:
            break
    img = np.stack([(lab > 0) * rng.uniform(0.3, 1) + rng.normal(0, 0.2, lab.shape) for _ in range(3)])
    return img.astype(np.float32), lab


def _best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    import torch

    from labelfree.fusion import FusionConfig, finetune, flow_average, fuse_channels, integrate_flows, predict_flows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = [_disks(s, 192, 30) for s in range(6)]
    images, labels = [d[0] for d in data], [d[1] for d in data]
    tiny = dict(nbase=(8, 16, 32, 64), diam_mean=18.0, crop_size=96, batch_size=8, n_epochs=15, patience=50,
                learning_rate=0.01)
    model = finetune(images, labels, channels=[0], config=tiny, device=args.device).model
    big_img, _ = _disks(99, args.size, 200)
    planes = {f"c{i}": big_img[i] for i in range(3)}
    cfg = FusionConfig(diameter=float(model.diam_labels))
    niter = int(round(200 * cfg.diameter / model.diam_mean))
    print(f"image {args.size}x{args.size}, tiny network 8-16-32-64, device {args.device}, 1 torch thread\n")
    print("k | network pass s | integration s | reference k*net+int s | flow averaging s | ratio")
    for k in (1, 2, 3):
        chans = list(planes)[:k]
        net_s = _best(lambda: predict_flows(model, planes["c0"], diameter=cfg.diameter), args.reps)
        flows = [predict_flows(model, planes[c], diameter=cfg.diameter) for c in chans]
        avg = flow_average(flows)
        int_s = _best(lambda: integrate_flows(*avg, niter=niter), args.reps)
        fa_s = _best(lambda: fuse_channels({c: planes[c] for c in chans}, {c: model for c in chans}, config=cfg),
                     args.reps)
        ref = k * net_s + int_s
        print(f"{k} | {net_s:.3f} | {int_s:.3f} | {ref:.3f} | {fa_s:.3f} | {fa_s / ref:.2f}")
    print("\nfine-tuning, 8 crops of 224 px per epoch, batch 8:")
    for widths in ((8, 16, 32, 64), (32, 64, 128, 256)):
        cfg_t = dict(tiny, nbase=widths, crop_size=224, n_epochs=2, samples_per_epoch=8)
        res = finetune(images, labels, channels=[0], config=cfg_t, device=args.device)
        print(f"  widths {'-'.join(map(str, widths))}: {res.history.seconds_per_epoch:.1f} s/epoch "
              f"(incl. validation) on {args.device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
