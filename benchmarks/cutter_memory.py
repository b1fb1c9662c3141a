"""Cutter memory on large mosaics: peak resident memory per stage of ``labelfree.cutter.segment``.

Synthetic single-channel mosaic of about 1500 nuclei per 4096 x 4096 (ellipses of radius 9-15 px
on a jittered 105 px grid, brightness 0.5-1, Gaussian noise 0.1); markers detected automatically
(no ``markers=``), every other setting automatic; training is cut to ``--steps`` steps (memory, not
accuracy, is measured here). Each case runs in a fresh process, one at a time (OMP and torch
threads 1), so ``ru_maxrss`` is that case's own peak. Inside it a thread samples the resident
memory (psutil, every 2 ms) and each stage records the highest value seen while it ran:

- markers: automatic nucleus detection (``detect_markers``), every call;
- mask: the foreground masks (``foreground_mask``: smoothing, local-contrast signal, graph cut,
  ridges), every call, the automatic scale's included; graph cut: its ``graph_cut_mask`` part;
- patches: ``build_patch_set`` (z-scored, padded image); train: ``train_cutter``;
- inference: ``predict_patches``; integration: ``integrate_patches``; refine: ``refine_labels``.

``before training`` is the highest resident memory before ``train_cutter`` starts. With
``--baseline DIR`` (a folder holding another version of the ``labelfree`` package, e.g. the
previous commit's ``src`` exported there) every case runs with that version too and the labels
of both are compared (``identical``: numpy.array_equal). With ``--tiled`` every case runs a second
time with the foreground graph cut forced into tiles (``labelfree.cutter.graphcut.TILE_ABOVE_PIXELS``
set to 0; images above 2048 x 2048 are tiled anyway), and ``mask px differing`` counts the pixels where
its graph-cut masks (every call, the automatic scale's included) differ from the default run's.

Usage: python3 benchmarks/cutter_memory.py [--sizes 2048 4096] [--steps 5] [--baseline DIR] [--tiled]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("markers", "mask", "graph cut", "patches", "train", "inference", "integration", "refine")


def mosaic(size: int, seed: int = 0) -> np.ndarray:
    """A (size, size) float32 image of nuclei on a jittered grid (about 1500 per 4096 x 4096)."""
    from skimage.draw import ellipse

    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), np.int32)
    step, k = 105.0, 0
    n = int(size // step)
    for i in range(n):
        for j in range(n):
            cy, cx = (i + 0.5) * step + rng.uniform(-20, 20), (j + 0.5) * step + rng.uniform(-20, 20)
            rr, cc = ellipse(cy, cx, *rng.uniform(9, 15, 2), shape=truth.shape, rotation=rng.uniform(0, np.pi))
            k += 1
            truth[rr, cc] = k
    bright = np.concatenate([[0.0], rng.uniform(0.5, 1.0, k)])
    return (bright[truth] + rng.normal(0, 0.1, truth.shape)).astype(np.float32)


class _Sampler:
    """Resident memory sampled in a thread; the peak of each stage that is running."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.proc = psutil.Process()
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            self.sample()
            time.sleep(0.002)

    def sample(self) -> None:
        rss = self.proc.memory_info().rss
        for name in list(self.active):
            self.peak[name] = max(self.peak.get(name, 0), rss)

    def wrap(self, module, attr: str, name: str) -> None:
        import functools

        inner = getattr(module, attr)

        @functools.wraps(inner)
        def wrapped(*args, **kwargs):
            self.active[name] = self.active.get(name, 0) + 1
            self.sample()
            try:
                return inner(*args, **kwargs)
            finally:
                self.sample()
                self.active[name] -= 1
                if not self.active[name]:
                    del self.active[name]

        setattr(module, attr, wrapped)


def _case(size: int, steps: int, out: str, tiled: bool = False) -> None:
    """One case in this process: segment the mosaic, write the stage peaks, the labels and the graph-cut
    masks (``tiled``: the graph cut forced into tiles)."""
    import resource

    import torch

    torch.set_num_threads(1)
    import importlib

    integrate = importlib.import_module("labelfree.cutter.integrate")
    prepare = importlib.import_module("labelfree.cutter.prepare")
    seg = importlib.import_module("labelfree.cutter.segment")  # the module (the package exports a function)
    train = importlib.import_module("labelfree.cutter.train")

    graph_cut = "_graph_cut_taken" if hasattr(prepare, "_graph_cut_taken") else "graph_cut_mask"
    if tiled:
        importlib.import_module("labelfree.cutter.graphcut").TILE_ABOVE_PIXELS = 0
    masks = []
    cut = getattr(prepare, graph_cut)

    def kept(*args, **kwargs):
        mask = cut(*args, **kwargs)
        masks.append(np.packbits(mask))  # 1 bit per pixel
        return mask

    setattr(prepare, graph_cut, kept)
    image = mosaic(size)
    sampler = _Sampler()
    sampler.wrap(prepare, "detect_markers", "markers")
    sampler.wrap(prepare, "foreground_mask", "mask")
    sampler.wrap(seg, "foreground_mask", "mask")
    sampler.wrap(prepare, graph_cut, "graph cut")  # as foreground_mask calls it (older versions: graph_cut_mask)
    sampler.wrap(prepare, "build_patch_set", "patches")
    sampler.wrap(train, "train_cutter", "train")
    sampler.wrap(train, "predict_patches", "inference")
    sampler.wrap(seg, "integrate_patches", "integration")
    sampler.wrap(integrate, "integrate_patches", "integration")
    sampler.wrap(seg, "refine_labels", "refine")
    before_training = {}
    inner_train = train.train_cutter

    def marked(*args, **kwargs):
        before_training["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return inner_train(*args, **kwargs)

    train.train_cutter = marked
    start = time.perf_counter()
    labels = seg.segment(image, config={"n_steps": steps, "stop_at_plateau": False})
    seconds = time.perf_counter() - start
    sampler.stop = True
    np.save(out + ".npy", labels.values)
    np.savez(out + "_masks.npz", *masks)
    record = {"seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
              "before_training": before_training.get("rss"), "stages": sampler.peak,
              "markers": int(labels.attrs["labelfree"]["n_markers"][0]), "image_bytes": image.nbytes}
    Path(out + ".json").write_text(json.dumps(record))


def _run_case(size: int, steps: int, package: str | None, tmp: str, tag: str, tiled: bool = False) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if package:
        env["PYTHONPATH"] = package + os.pathsep + env.get("PYTHONPATH", "")
    out = os.path.join(tmp, f"{tag}_{size}")
    command = [sys.executable, __file__, "--case", str(size), "--steps", str(steps), "--out", out]
    subprocess.run(command + (["--force-tiles"] if tiled else []), env=env, check=True)
    record = json.loads(Path(out + ".json").read_text())
    record["labels"] = out + ".npy"
    record["masks"] = out + "_masks.npz"
    return record


def _masks_differing(a: str, b: str) -> int | None:
    """Pixels where the graph-cut masks of two runs differ, summed over the calls (None: not comparable)."""
    with np.load(a) as first, np.load(b) as second:
        if len(first.files) != len(second.files):
            return None
        return sum(int(np.unpackbits(first[k] ^ second[k]).sum()) for k in first.files)


def _gb(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    ap.add_argument("--steps", type=int, default=5, help="training steps (memory is measured, not accuracy)")
    ap.add_argument("--baseline", help="folder holding another labelfree package to compare with")
    ap.add_argument("--tiled", action="store_true", help="also run each case with the graph cut forced into tiles")
    ap.add_argument("--case", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--force-tiles", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case:
        _case(args.case, args.steps, args.out, args.force_tiles)
        return 0
    versions = [("baseline", args.baseline, False)] if args.baseline else []
    versions += [("this", None, False)] + ([("tiled", None, True)] if args.tiled else [])
    header = ["side", "markers", "version", "before training GB", "peak GB"] + [f"{s} GB" for s in STAGES]
    header += ["seconds", "identical", "mask px differing"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            results = {tag: _run_case(size, args.steps, pkg, tmp, tag, tiled) for tag, pkg, tiled in versions}
            this = np.load(results["this"]["labels"])
            for tag, _, _ in versions:
                r = results[tag]
                same = "-" if tag == "this" else str(bool(np.array_equal(np.load(r["labels"]), this)))
                differ = None if tag == "this" else _masks_differing(r["masks"], results["this"]["masks"])
                rows.append([str(size), str(r["markers"]), tag, _gb(r["before_training"]), _gb(r["peak"])]
                            + [_gb(r["stages"].get(s)) for s in STAGES]
                            + [f"{r['seconds']:.0f}", same, "-" if differ is None else str(differ)])
                print(" | ".join(rows[-1]), flush=True)
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
