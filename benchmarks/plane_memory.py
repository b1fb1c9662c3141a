"""The memory a pipeline's work on one plane takes, beside its labels, and a large plane under a memory limit.

Usage: python benchmarks/plane_memory.py [--sizes 1024,2048,4096] [--cgroup MiB --size PX --tile PX]

Part 1 (any machine): the peak of Python's allocations (``tracemalloc``: NumPy, SciPy and scikit-image allocate
through it) while ``labelfree.threshold.segment`` segments a synthetic uint16 image (round bright objects on
noise) of each size, one plane; a movie of 4 such planes; a z-stack of 16 slices (one volume). Printed per image:
the peak in bytes a pixel of the whole image, and the bytes a pixel of one plane (a volume, for the z-stack) beside
the whole image's labels (2 bytes a pixel): ``(peak - labels) / pixels of one plane``, the figure the threshold
spec's ``plane_bytes`` holds.

Part 2 (``--cgroup MiB``; Linux, root, a memory cgroup): ``labelfree threshold PLANE.tif -o OUT`` of one
``--size`` px plane (uncompressed, memory-mapped; an object every 128 px) in a memory cgroup of that limit, whole
and with ``--tile``; printed: the exit code (-9: killed by the system), the cgroup's peak, the seconds and the
first line the command printed on stderr. Run it with ``PYTHONPATH=<another checkout>/src`` to measure that code
instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def synthetic(shape: tuple[int, ...], seed: int = 0, every: int = 32) -> np.ndarray:
    """uint16 noise (mean 100, sd 5) with round objects (radius 8 px, one every ``every`` px) 300 above it."""
    rng = np.random.default_rng(seed)
    image = rng.normal(100, 5, shape).astype(np.uint16)
    yy, xx = np.ogrid[: shape[-2], : shape[-1]]
    image[..., ((yy % every) - every // 2) ** 2 + ((xx % every) - every // 2) ** 2 < 64] += 300
    return image


def traced_peak(image: np.ndarray, dims: str) -> int:
    from labelfree.image import to_dataarray
    from labelfree.threshold import segment

    da = to_dataarray(image, dims=dims)
    tracemalloc.start()
    try:
        segment(da)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def part1(sizes: list[int]) -> None:
    cases = [(f"{n} x {n} plane", (n, n), "YX", n * n) for n in sizes]
    n = sizes[len(sizes) // 2]
    cases += [(f"4 x {n} x {n} movie", (4, n, n), "TYX", n * n),
              (f"16 x {n // 4} x {n // 4} z-stack", (16, n // 4, n // 4), "ZYX", 16 * (n // 4) ** 2)]
    print("threshold: peak of Python's allocations (tracemalloc)")
    print(f"{'image':28s} {'peak MiB':>9s} {'B/px image':>11s} {'B/px of a plane beside the labels':>34s}")
    for name, shape, dims, plane in cases:
        image = synthetic(shape)
        peak = traced_peak(image, dims)
        labels = 2 * image.size
        print(f"{name:28s} {peak / 2**20:9.1f} {peak / image.size:11.2f} {(peak - labels) / plane:34.2f}")


def part2(limit_mib: int, size: int, tile: int) -> None:
    import subprocess

    import tifffile
    from merge_memory_limit import MemoryCgroup

    with tempfile.TemporaryDirectory() as work:
        plane = Path(work) / "plane.tif"
        tifffile.imwrite(plane, synthetic((size, size), every=128))  # 4096 objects in 8192 x 8192
        print(f"\nlabelfree threshold on one {size} x {size} uint16 plane in a memory cgroup of {limit_mib} MiB")
        print(f"{'run':14s} {'rc':>4s} {'peak MiB':>9s} {'s':>6s}  stderr (first line)")
        for name, extra in (("whole", []), (f"--tile {tile}", ["--tile", str(tile)])):
            out = Path(work) / name.replace(" ", "")
            cmd = [sys.executable, "-m", "labelfree", "threshold", str(plane), "-o", str(out), "-q", "--no-progress",
                   *extra]
            try:
                with MemoryCgroup(limit_mib) as cgroup:
                    t0 = time.perf_counter()
                    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cgroup.join)
                    seconds, peak = time.perf_counter() - t0, cgroup.peak_mib()
            except OSError as exc:
                print(f"no memory cgroup can be made here ({exc}): part 2 needs Linux and root")
                return
            said = (proc.stderr.strip().splitlines() or [""])[0]
            print(f"{name:14s} {proc.returncode:4d} {peak:9.0f} {seconds:6.1f}  {said[:400]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,2048,4096", help="plane sizes of part 1, comma-separated")
    parser.add_argument("--cgroup", type=int, default=0, metavar="MiB", help="part 2's memory limit (0: no part 2)")
    parser.add_argument("--size", type=int, default=8192, help="part 2's plane size (px)")
    parser.add_argument("--tile", type=int, default=2048, help="part 2's tile size (px)")
    args = parser.parse_args()
    part1([int(s) for s in args.sizes.split(",")])
    if args.cgroup:
        part2(args.cgroup, args.size, args.tile)


if __name__ == "__main__":
    main()
