"""Fusion's network pass in batches of tiles on the CPU: seconds and memory of one tile at a time against cellpose's 8.

``labelfree.fusion.flows.run_network`` cuts a plane into cellpose's 224 px tiles and runs the network on
``batch_size`` of them at a time; ``batch_size`` 0 (the default) takes 1 on the CPU and 8 (cellpose's) on a GPU. For
each network width and batch size, in a fresh process (so that its peak, ``VmHWM``, is its own): the seconds of
the pass over one plane (the best of ``--repeats``), the memory it took beyond what the process held before (torch
and cellpose imported, the network built), what ``labelfree.fusion.flows.pass_bytes`` counts for that batch, and
the largest difference of its output from the batch of 8 (float rounding: the flows and the cell-probability logit).
The ratio column is each row's seconds over the batch of 8's, measured in the same run. The networks have random
weights: the time and the memory of a pass do not depend on them.

Run: ``python3 benchmarks/fusion_batch.py [--size 1024] [--threads 1] [--widths 8,16,32,64 32,64,128,256]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

BATCHES = (8, 4, 2, 1)


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(f"{field}:"))


def child(widths: str, batch: int, size: int, repeats: int, out: str) -> None:
    """One case, in this fresh process: one JSON line, and the output saved to ``out``."""
    import gc

    import torch

    from labelfree._label_memory import load_libraries
    from labelfree.fusion.flows import pass_bytes, run_network
    from labelfree.fusion.models import new_model
    from labelfree.pipelines import get_pipeline

    load_libraries(get_pipeline("fusion"))
    torch.set_num_threads(int(os.environ.get("FUSION_BATCH_THREADS", "1")))
    model = new_model(nbase=tuple(int(w) for w in widths.split(",")), diam_mean=30.0, device="cpu")
    image = np.random.default_rng(0).normal(size=(size, size)).astype(np.float32)
    gc.collect()
    before = _status("VmRSS")
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        y = run_network(model, image, batch_size=batch)
        seconds.append(time.perf_counter() - t0)
    np.save(out, y)
    print(json.dumps({"seconds": min(seconds), "work": _status("VmHWM") - before,
                      "counted": pass_bytes(model, batch, plane=(size, size))}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="the plane's side (px)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each case")
    parser.add_argument("--repeats", type=int, default=2, help="passes timed in each case (the best is kept)")
    parser.add_argument("--widths", nargs="+", default=["8,16,32,64", "32,64,128,256"],
                        help="network widths (the demo's, cellpose's), comma-separated each")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        widths, batch, size, repeats, out = args.child
        child(widths, int(batch), int(size), int(repeats), out)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "FUSION_BATCH_THREADS": str(args.threads)}
    print(f"one {args.size} x {args.size} px plane through a network of random weights, {args.threads} torch "
          f"thread(s), a fresh process each")
    print(f"{'widths':>14s} {'batch':>5s} {'s':>6s} {'x batch 8':>9s} {'work MiB':>8s} {'counted MiB':>11s} "
          f"{'max |diff| from batch 8':>23s}")
    with tempfile.TemporaryDirectory(prefix="fusion-batch-") as folder:
        for widths in args.widths:
            reference = None
            for batch in BATCHES:
                out = os.path.join(folder, f"{widths}-{batch}.npy")
                cmd = [sys.executable, __file__, "--child", widths, str(batch), str(args.size), str(args.repeats), out]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode:
                    print(f"{widths:>14s} {batch:5d} failed: {done.stderr.strip()[-300:]}")
                    continue
                got = json.loads(done.stdout.strip().splitlines()[-1])
                y = np.load(out)
                if reference is None:
                    reference = (got["seconds"], y)
                diff = float(np.abs(y - reference[1]).max())
                print(f"{widths:>14s} {batch:5d} {got['seconds']:6.2f} {got['seconds'] / reference[0]:9.2f} "
                      f"{got['work'] / 2**20:8.0f} {got['counted'] / 2**20:11.0f} {diff:23.2e}")


if __name__ == "__main__":
    main()
