"""Time and peak memory of the output writers on a large movie, against a plain TIFF write of the same labels.

Usage: python benchmarks/outputs_scale.py [--frames 5 50] [--size 2048] [--per-side 55]

A synthetic label movie (``size`` x ``size`` pixels, ``per-side``**2 round cells per frame: 3,025 by default)
is written by each LabelFree writer at each frame count, each in a fresh process: the label TIFF
(``write_labels``), the ROI zip (``write_rois``), the overlay PNG (``overlay_png``) and the whole set
(``write_outputs``: labels, ROIs, table, provenance). The reference is ``tifffile.imwrite`` of the same
array, timed in the same run. Columns: seconds, the ratio to the reference, microseconds per object, and
the peak memory above the process's high-water mark once the labels are made and every module is loaded
(MB; the labels themselves are ``frames x size**2 x 2`` bytes). Time should grow with the frames (the
"per object" column stays flat) and the ROI zip's peak memory should stay near one frame's worth.
Default run: about 3 minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = ("reference", "labels", "rois", "overlay", "outputs")


def make_movie(n_frames: int, size: int, per_side: int) -> np.ndarray:
    """``per_side**2`` round cells per frame, ids 1..per_side**2, moving one pixel per frame."""
    step = size // per_side
    yy, xx = np.mgrid[:step, :step] - (step - 1) / 2
    disc = (yy**2 + xx**2 < (0.4 * step) ** 2).astype(np.uint16)
    cells = (np.arange(per_side * per_side, dtype=np.uint16) + 1).reshape(per_side, per_side)
    plane = np.zeros((size, size), np.uint16)
    plane[:per_side * step, :per_side * step] = np.kron(cells, disc)
    movie = np.empty((n_frames, size, size), np.uint16)  # filled in place: the high-water mark stays near its size
    for t in range(n_frames):
        movie[t] = np.roll(plane, t % 5, axis=1)
    return movie


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind: str, n_frames: int, size: int, per_side: int) -> dict:
    import warnings

    import tifffile

    from labelfree.image import to_dataarray
    from labelfree.io import write_labels, write_outputs, write_rois
    from labelfree.overlay import overlay_png

    warnings.simplefilter("ignore")
    movie = make_movie(n_frames, size, per_side)
    labels = to_dataarray(movie, dims="TYX", scale={"X": 0.65, "Y": 0.65}, units={"X": "µm", "Y": "µm"})
    folder = Path(tempfile.mkdtemp(prefix="lf-outputs-scale-"))
    writers = {
        "reference": lambda out: tifffile.imwrite(out / "plain.tif", movie),
        "labels": lambda out: write_labels(out / "l.tif", labels),
        "rois": lambda out: write_rois(out / "r.zip", labels),
        "overlay": lambda out: overlay_png(movie, movie, out / "o.png"),
        "outputs": lambda out: write_outputs(out / "set", labels, stem="movie"),
    }
    small = labels.isel(T=slice(0, 1), Y=slice(0, 64), X=slice(0, 64))
    try:
        (folder / "warm").mkdir()
        for warm in (lambda out: write_outputs(out, small, stem="warm"),
                     lambda out: overlay_png(movie[0], movie[0], out / "w.png")):
            warm(folder / "warm")  # imports and caches out of the figures
        base = _max_rss_mb()
        t0 = time.perf_counter()
        writers[kind](folder)
        seconds = time.perf_counter() - t0
    finally:  # each run writes up to 400 MB
        shutil.rmtree(folder, ignore_errors=True)
    n_objects = int(sum(len(np.unique(f)) - 1 for f in movie))
    return {"seconds": seconds, "peak_mb": max(_max_rss_mb() - base, 0.0), "objects": n_objects,
            "labels_mb": movie.nbytes / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[5, 50])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--per-side", type=int, default=55)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "FRAMES", "SIZE", "PER_SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *numbers = args.child
        print(json.dumps(child(kind, *(int(n) for n in numbers))))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print(f"{args.size}x{args.size} pixels, {args.per_side ** 2} objects per frame; reference: tifffile.imwrite")
    print(f"| {'frames':>6} | {'writer':<9} | {'seconds':>8} | {'x reference':>11} | {'us/object':>9} | "
          f"{'peak MB':>8} | {'labels MB':>9} |")
    print(f"|{'-' * 8}|{'-' * 11}|{'-' * 10}|{'-' * 13}|{'-' * 11}|{'-' * 10}|{'-' * 11}|")
    for n_frames in args.frames:
        reference = None
        for kind in KINDS:
            cmd = [sys.executable, __file__, "--child", kind, str(n_frames), str(args.size), str(args.per_side)]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
            reference = reference or row["seconds"]
            print(f"| {n_frames:>6} | {kind:<9} | {row['seconds']:>8.2f} | {row['seconds'] / reference:>11.1f} | "
                  f"{1e6 * row['seconds'] / row['objects']:>9.0f} | {row['peak_mb']:>8.0f} | "
                  f"{row['labels_mb']:>9.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
