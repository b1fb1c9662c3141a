"""A tiled Threshold run of a time-lapse of z-stacks (T x Z x Y x X) against the untiled run of the same stack.

Usage::

    python benchmarks/threshold_tiled_volumes.py [--frames 8] [--planes 12] [--size 512] [--tile 256]
                                                 [--overlap 64] [--repeat 1]

The stack is synthetic (blurred ellipsoid nuclei on a noisy background, uint16), written once as a ``.npy``
file. Each run is a fresh Python process (``labelfree.run.run_pipeline("threshold", ...)``), so its peak
resident memory (``ru_maxrss``) and the peak of what NumPy allocated (tracemalloc) are its own; the table
gives them, the wall time of the run (imports and reading excluded) and each tiled run's ratio against the
untiled run measured in the same invocation, and whether its labels equal the untiled run's. Set
``PYTHONPATH`` to run another copy of the package (e.g. an older one) through the same script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np, xarray as xr
from labelfree.run import run_pipeline

path, tile, overlap, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
image = xr.DataArray(np.load(path), dims=("T", "Z", "Y", "X"))
run_pipeline("threshold", image[:1, :2, :64, :64], tile=32 if tile else None, tile_overlap=8)  # imports, warm-up
tracemalloc.start()
t0 = time.perf_counter()
labels = run_pipeline("threshold", image, tile=tile or None, tile_overlap=overlap)
seconds = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
np.save(out, labels.values)
print(json.dumps({"seconds": seconds, "traced_mb": peak / 2**20, "rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "dtype": str(labels.dtype)}))
"""


def make_stack(frames: int, planes: int, size: int, seed: int = 0) -> np.ndarray:
    """A (T, Z, Y, X) uint16 stack of blurred ellipsoid nuclei (about one per 40 x 40 px) on a noisy background."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    n = max(4, size * size // 1600)
    out = np.empty((frames, planes, size, size), np.uint16)
    for t in range(frames):
        vol = np.zeros((planes, size, size), np.float32)
        for cz, cy, cx, r in zip(rng.uniform(1, planes - 1, n), rng.uniform(0, size, n), rng.uniform(0, size, n),
                                 rng.uniform(5, 12, n)):
            z0, z1 = max(int(cz - 3), 0), min(int(cz + 4), planes)
            y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, size)
            x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, size)
            zz, yy, xx = np.ogrid[z0:z1, y0:y1, x0:x1]
            vol[z0:z1, y0:y1, x0:x1][((zz - cz) / 2.5) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2 <= 1] = 1
        vol = ndi.gaussian_filter(vol, (0.8, 1.5, 1.5))
        out[t] = np.clip(100 + 600 * vol + rng.normal(0, 15, vol.shape), 0, 65535).astype(np.uint16)
    return out


def _run(path: Path, tile: int, overlap: int, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(tile), str(overlap), str(out)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--planes", type=int, default=12)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, nargs="+", default=[256])
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.npy"
        stack = make_stack(args.frames, args.planes, args.size)
        np.save(path, stack)
        mb = stack.nbytes / 2**20
        del stack
        print(f"stack {args.frames} x {args.planes} x {args.size} x {args.size} uint16 ({mb:.0f} MiB), "
              f"overlap {args.overlap}, best of {args.repeat}")
        print(f"{'run':<12}{'time s':>9}{'x untiled':>11}{'peak RSS MiB':>14}{'x untiled':>11}"
              f"{'NumPy peak MiB':>16}{'x untiled':>11}  labels = untiled")
        rows = {}
        for tile in [0, *args.tile]:
            runs = [_run(path, tile, args.overlap, Path(tmp) / f"labels_{tile}.npy") for _ in range(args.repeat)]
            rows[tile] = {k: min(r[k] for r in runs) for k in ("seconds", "rss_mb", "traced_mb")}
        ref = rows[0]
        untiled = np.load(Path(tmp) / "labels_0.npy")
        for tile, row in rows.items():
            same = "-" if not tile else str(np.array_equal(np.load(Path(tmp) / f"labels_{tile}.npy"), untiled))
            name = "untiled" if not tile else f"tile {tile}"
            print(f"{name:<12}{row['seconds']:>9.2f}{row['seconds'] / ref['seconds']:>11.2f}{row['rss_mb']:>14.0f}"
                  f"{row['rss_mb'] / ref['rss_mb']:>11.2f}{row['traced_mb']:>16.0f}"
                  f"{row['traced_mb'] / ref['traced_mb']:>11.2f}  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
