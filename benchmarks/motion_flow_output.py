"""Motion with its flow output (``labelfree motion MOVIE --flow``): the flow computed once against twice.

Run: ``python benchmarks/motion_flow_output.py [--frames 12] [--repeats 2] [--threads 1]``

Both routes in one run, on the same movies: the former one (``run_pipeline`` then ``write_flow_stack`` on
the movie, which reads it again and computes every pair's flow a second time: still the route of a run without
a recording, and of ``write_flow_stack`` called on its own) and the new one (the run inside a
``FlowRecording``, whose speeds ``write_flow_stack`` writes: what ``--flow`` does). Movies: the first
``--frames`` frames of Fluo-C2DL-MSC/01 (832 x 992, uint16) and Fluo-N2DH-GOWT1/01 (1024 x 1024, uint8)
from ../shared/data (a synthetic movie when absent). Times are the best of ``--repeats``, in seconds: the
run, the flow output, and both; ``same`` says whether the flow files are byte for byte the same and the
labels identical.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import tifffile

from labelfree import datasets
from labelfree.motion.flow import write_flow_stack
from labelfree.motion.flow_record import FlowRecording
from labelfree.run import run_pipeline

SHARED = Path(os.environ.get("LABELFREE_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def movies(n_frames: int) -> dict[str, np.ndarray]:
    """The benchmark movies by name."""
    out = {}
    for name in ("Fluo-C2DL-MSC", "Fluo-N2DH-GOWT1"):
        folder = SHARED / "ctc" / name / "01"
        if (folder / "t000.tif").is_file():
            out[name] = np.stack([tifffile.imread(folder / f"t{t:03d}.tif") for t in range(n_frames)])
    if not out:
        movie, _ = datasets.synthetic_movie(n_frames=n_frames, cell_radius=20, shape=(512, 512), seed=0)
        out["synthetic"] = np.asarray(movie.values)
    return out


def route(movie: np.ndarray, folder: Path, *, keep: bool, threads: int) -> tuple[float, float, Path, np.ndarray]:
    """Seconds of the run and of the flow output, the flow file and the labels; ``keep``: the new route."""
    path = folder / ("new.tif" if keep else "old.tif")
    with FlowRecording() if keep else contextlib.nullcontext() as kept:
        start = time.perf_counter()
        labels = run_pipeline("motion", movie, threads=threads)
        ran = time.perf_counter()
        write_flow_stack(path, movie, labels=labels, recorded=kept)
        wrote = time.perf_counter()
    return ran - start, wrote - ran, path, labels.values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, movie in movies(args.frames).items():
            best = {}
            for _ in range(args.repeats):
                for keep in (False, True):  # alternated: both routes see the same machine load
                    ran, wrote, path, labels = route(movie, folder, keep=keep, threads=args.threads)
                    old = best.get(keep)
                    best[keep] = (min(ran, old[0]) if old else ran, min(wrote, old[1]) if old else wrote, path, labels)
            same = (best[False][2].read_bytes() == best[True][2].read_bytes()
                    and np.array_equal(best[False][3], best[True][3]))
            rows.append((name, movie.shape, best[False][:2], best[True][:2], same))
    print(f"Motion --flow, {args.frames} frames, {args.threads} thread(s), best of {args.repeats} (s)")
    print(f"{'movie':<18} {'T x Y x X':<16} {'run old':>8} {'flow old':>9} {'total old':>10} "
          f"{'run new':>8} {'flow new':>9} {'total new':>10} {'new/old':>8}  same")
    for name, shape, (r0, w0), (r1, w1), same in rows:
        print(f"{name:<18} {' x '.join(map(str, shape)):<16} {r0:8.2f} {w0:9.2f} {r0 + w0:10.2f} "
              f"{r1:8.2f} {w1:9.2f} {r1 + w1:10.2f} {(r1 + w1) / (r0 + w0):8.2f}  {same}")


if __name__ == "__main__":
    main()
