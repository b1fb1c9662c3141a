"""The memory a pipeline's work on one plane takes, beside its labels, and a large plane under a memory limit.

Usage: python benchmarks/plane_memory.py [--sizes 1024,2048,4096] [--cgroup MiB --size PX --tile PX]

Part 1 (any machine): the peak of Python's allocations (``tracemalloc``: NumPy, SciPy and scikit-image allocate
through it) while ``labelfree.threshold.segment`` segments a synthetic uint16 image (round bright objects on
noise) of each size, one plane; a movie of 4 such planes; a z-stack of 16 slices (one volume). Printed per image:
the peak in bytes a pixel of the whole image, and the bytes a pixel of one plane (a volume, for the z-stack) beside
the whole image's labels (2 bytes a pixel): ``(peak - labels) / pixels of one plane``, the figure the threshold
spec's ``plane_bytes`` holds.

Part 2 (``--cgroup MiB``; Linux, root, a memory cgroup): ``labelfree threshold PLANE.tif -o OUT`` of one
``--size`` px plane (uncompressed, memory-mapped; an object every 128 px) in a memory cgroup of that limit, with no
option (the command line tiles a plane whose work cannot fit whole) and with ``--tile``; with ``--pipeline motion``,
``labelfree motion`` on a movie of ``--rss-frames`` frames of part 3's MSC mosaics, with no option (``--pipeline
cutter``: ``labelfree cutter`` on part 3's mosaic of an MSC frame with ``--markers``; ``--pipeline fusion``:
``labelfree fusion`` on part 3's mosaic of the Fusion demo's first channel with ``--model-file``, the demo zoo's
network); printed: the exit code (-9:
killed by the system), the cgroup's peak, the seconds and the first line the command printed on stderr. Run it with
``PYTHONPATH=<another checkout>/src`` to measure that code instead.

Part 3 (``--rss motion,cutter,fusion``; Motion and Cutter need ../shared/data or ``$LABELFREE_SHARED_DATA``): the work
whose OpenCV, PyMaxflow and torch allocations ``tracemalloc`` does not see: each pipeline's ``segment`` on a mosaic of
real MSC frames (Fluo-C2DL-MSC/01 tiled to ``--rss-sizes`` px; Motion: its first ``--rss-frames`` frames, Cutter:
frame 0 with its TRA markers, numbered apart in every tile), Fusion on a mosaic of its demo's first
``--rss-channels`` channels (of 3) with the demo's zoo (a tiny network, widths 8-64), or with ``--rss-widths
32,64,128,256`` (cellpose's own widths, LabelFree's default) a network of those widths trained here by the demo's
recipe (about 90 s), with ``--rss-zoom Z`` the diameter given that makes the network see the plane enlarged Z x Z
(``diam_mean / diameter``; else the diameter is measured, about 0.45 on the demo's cells), every case in a fresh
process with one thread. Printed: the resident
memory before ``segment`` (the imports, those the run would make too, as every memory check makes them first:
``labelfree._label_memory.load_libraries``, and the image), the process's own peak (``VmHWM``: getrusage's
``ru_maxrss`` after a fork and exec also holds the peak of the process that started it, this one's, 1048 MiB once it
had trained a network of cellpose's widths, which it then read for every case) and the bytes a pixel of
one plane beside the labels, ``(peak - before - labels) / pixels of one plane``: the figure of the pipeline's
``plane_bytes``, and, with the part that does not grow with the plane (``plane_bytes_fixed``), the line the spec
draws below those measures: its figure for each case is printed beside the measure.
"""

from __future__ import annotations

import argparse
import os
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


def part2(limit_mib: int, size: int, tile: int, pipeline: str = "threshold", frames: int = 6, zoom: float = 0.0,
          tile_too: bool = False) -> None:
    import subprocess

    import tifffile
    from merge_memory_limit import MemoryCgroup

    with tempfile.TemporaryDirectory() as work:
        plane = Path(work) / "plane.tif"
        if pipeline == "motion":  # a movie of MSC mosaics (part 3's), which Motion cannot cut in tiles
            from labelfree.datasets import load_ctc

            movie = np.asarray(load_ctc("Fluo-C2DL-MSC", "01", frames=range(frames)).movie.values)
            tifffile.imwrite(plane, np.stack([_mosaic(f, size) for f in movie]), imagej=True, metadata={"axes": "TYX"})
            what, runs = f"a movie of {frames} frames of {size} x {size} (MSC mosaics)", [("no --tile", [])]
        elif pipeline == "cutter":  # a mosaic of MSC frame 0 and its TRA markers (part 3's), which Cutter cannot tile
            from labelfree.datasets import load_ctc

            data = load_ctc("Fluo-C2DL-MSC", "01", frames=[0])
            tifffile.imwrite(plane, _mosaic(np.asarray(data.movie.values[0]), size))
            markers = Path(work) / "markers.tif"
            tifffile.imwrite(markers, _mosaic(np.asarray(data.tra[0]), size, number_apart=True).astype(np.uint32))
            what, runs = f"one {size} x {size} mosaic of MSC frame 0", [("no option", ["--markers", str(markers)])]
        elif pipeline == "fusion":  # a mosaic of the demo's first channel (part 3's), through the demo zoo's network
            from labelfree.fusion.demo import demo_zoo, fusion_demo

            network = next(Path(demo_zoo()[0]).glob("*.pt"))
            tifffile.imwrite(plane, _mosaic(np.asarray(fusion_demo().image.transpose("C", "Y", "X").values[0]), size))
            what = f"one {size} x {size} mosaic of the Fusion demo's first channel"
            given = []
            if zoom:  # the diameter that makes the network see the plane enlarged zoom x zoom
                from labelfree.fusion.demo import FINETUNE

                given = ["--set", f"diameter={FINETUNE['diam_mean'] / zoom:g}"]
                what += f", diameter given: seen {zoom:g} x {zoom:g}"
            runs = [("no option", ["--model-file", str(network), *given])]
            if tile_too:
                runs.append((f"--tile {tile}", ["--model-file", str(network), *given, "--tile", str(tile)]))
        else:
            tifffile.imwrite(plane, synthetic((size, size), every=128))  # 4096 objects in 8192 x 8192
            what = f"one {size} x {size} uint16 plane"
            runs = [("no --tile", []), (f"--tile {tile}", ["--tile", str(tile)])]
        print(f"\nlabelfree {pipeline} on {what} in a memory cgroup of {limit_mib} MiB")
        print(f"{'run':14s} {'rc':>4s} {'peak MiB':>9s} {'s':>6s}  stderr (first line)")
        for name, extra in runs:
            out = Path(work) / name.replace(" ", "")
            cmd = [sys.executable, "-m", "labelfree", pipeline, str(plane), "-o", str(out), "-q", "--no-progress",
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


def _resident(field: str = "VmRSS") -> int:
    """This process's resident memory (``VmRSS``) or its peak (``VmHWM``) in bytes."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(f"{field}:"))


def _mosaic(plane: np.ndarray, size: int, *, number_apart: bool = False) -> np.ndarray:
    """``plane`` repeated to ``size`` x ``size``; with ``number_apart`` (markers) each copy's ids are its own."""
    reps = (-(-size // plane.shape[0]), -(-size // plane.shape[1]))
    rows = [np.concatenate([np.where(plane > 0, plane.astype(np.int32) + 100_000 * (i * reps[1] + j), 0)
                            if number_apart else plane for j in range(reps[1])], axis=1) for i in range(reps[0])]
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:size, :size])


def child(pipeline: str, size: int, frames: int) -> None:
    """One case of part 3, in this (fresh) process: prints its figures as one JSON line."""
    import gc
    import json

    from labelfree.datasets import load_ctc
    from labelfree.image import to_dataarray

    if pipeline == "motion":
        from labelfree.motion import segment

        movie = np.asarray(load_ctc("Fluo-C2DL-MSC", "01", frames=range(frames)).movie.values)
        image = to_dataarray(np.stack([_mosaic(f, size) for f in movie]), dims="TYX")
        extra = {}
    elif pipeline == "fusion":  # the demo's three channels and its zoo (trained by the parent, found in the cache)
        from labelfree.fusion import segment
        from labelfree.fusion.demo import fusion_demo

        demo, frames = fusion_demo(), 1
        channels = demo.image.transpose("C", "Y", "X")[: int(os.environ.get("PLANE_MEMORY_CHANNELS", 3))]
        image = to_dataarray(np.stack([_mosaic(np.asarray(c), size) for c in channels.values]), dims="CYX",
                             channel_names=[str(c) for c in channels.coords["C"].values])  # as the zoo files them
        extra = {"zoo": os.environ.get("PLANE_MEMORY_ZOO") or demo.inputs["zoo"]}
        if os.environ.get("PLANE_MEMORY_ZOOM"):  # the network's scale given: the diameter that makes it
            from labelfree.fusion.demo import FINETUNE

            extra["config"] = {"diameter": FINETUNE["diam_mean"] / float(os.environ["PLANE_MEMORY_ZOOM"])}
    else:
        from labelfree.cutter import segment

        data = load_ctc("Fluo-C2DL-MSC", "01", frames=[0])
        frames = 1
        image = to_dataarray(_mosaic(np.asarray(data.movie.values[0]), size), dims="YX")
        extra = {"markers": to_dataarray(_mosaic(np.asarray(data.tra[0]), size, number_apart=True), dims="YX")}
    from labelfree._label_memory import load_libraries
    from labelfree.pipelines import get_pipeline

    load_libraries(get_pipeline(pipeline))  # as every check does before it measures the memory left: not work
    gc.collect()
    before, t0 = _resident(), time.perf_counter()
    segment(image, **extra)
    peak = _resident("VmHWM")  # this process's own peak (ru_maxrss after exec holds the parent's too)
    print(json.dumps({"before": before, "peak": peak, "seconds": time.perf_counter() - t0, "frames": frames}))


def train_zoo(widths: tuple[int, ...], folder: str) -> str:
    """A model zoo in ``folder`` with one network of ``widths`` trained by the Fusion demo's recipe."""
    from labelfree.fusion.demo import _train_into

    done = _train_into(Path(folder), nbase=widths)
    print(f"a network of widths {list(widths)} trained in {done['seconds']:.0f} s ({done['epochs']} epochs; a "
          "temporary zoo)")
    return folder


def part3(pipelines: list[str], sizes: list[int], frames: int, widths: tuple[int, ...] = ()) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LABELFREE_THREADS": "1"}
    if "fusion" in pipelines:  # the demo's zoo, trained here when the cache holds none: not in a case's peak
        from labelfree.fusion.demo import demo_zoo

        demo_zoo()
    if "fusion" in pipelines and widths:
        with tempfile.TemporaryDirectory(prefix="plane-memory-zoo-") as folder:
            env["PLANE_MEMORY_ZOO"] = train_zoo(widths, folder)
            _cases(pipelines, sizes, frames, env)
    else:
        _cases(pipelines, sizes, frames, env)


def _cases(pipelines: list[str], sizes: list[int], frames: int, env: dict) -> None:
    import json
    import subprocess

    from labelfree.pipelines import get_pipeline

    print("\nresident memory of one segment() call on a mosaic (of MSC frames; Fusion: of its demo's channels), "
          "a fresh process each, one thread")
    print(f"{'pipeline':9s} {'size':>5s} {'frames':>6s} {'before MiB':>10s} {'peak MiB':>9s} {'s':>6s} "
          f"{'B/px of a plane beside the labels':>34s} {'work MiB':>9s} {'spec MiB':>9s}")
    for pipeline in pipelines:
        for size in sizes:
            cmd = [sys.executable, __file__, "--child", pipeline, str(size), str(frames)]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode:
                print(f"{pipeline:9s} {size:5d} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
                continue
            got = json.loads(done.stdout.strip().splitlines()[-1])
            plane, n = size * size, got["frames"]
            work = got["peak"] - got["before"] - 2 * plane * n  # beside the labels
            counted = get_pipeline(pipeline).work_bytes(plane)  # what the spec counts: below the measure
            print(f"{pipeline:9s} {size:5d} {n:6d} {got['before'] / 2**20:10.0f} {got['peak'] / 2**20:9.0f} "
                  f"{got['seconds']:6.1f} {work / plane:34.1f} {work / 2**20:9.0f} {counted / 2**20:9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,2048,4096", help="plane sizes of part 1, comma-separated")
    parser.add_argument("--cgroup", type=int, default=0, metavar="MiB", help="part 2's memory limit (0: no part 2)")
    parser.add_argument("--size", type=int, default=8192, help="part 2's plane size (px)")
    parser.add_argument("--tile", type=int, default=2048, help="part 2's tile size (px)")
    parser.add_argument("--pipeline", default="threshold", choices=("threshold", "motion", "cutter", "fusion"),
                        help="part 2's pipeline (motion: a movie of --rss-frames MSC mosaics; cutter: a mosaic of "
                             "an MSC frame with its markers; fusion: a mosaic of its demo's first channel; none of "
                             "them with --tile)")
    parser.add_argument("--rss", default="", help="part 3's pipelines, comma-separated: motion, cutter, fusion")
    parser.add_argument("--rss-sizes", default="2048,3072,4096", help="part 3's mosaic sizes (px), comma-separated")
    parser.add_argument("--rss-frames", type=int, default=6, help="part 3's Motion frames")
    parser.add_argument("--rss-channels", type=int, default=3, help="part 3's Fusion channels (the demo's first N)")
    parser.add_argument("--rss-widths", default="", help="part 3's Fusion network widths, e.g. 32,64,128,256 "
                                                         "(trained here; empty: the demo's zoo)")
    parser.add_argument("--rss-zoom", type=float, default=0.0,
                        help="part 3's (and part 2's) Fusion network scale, diam_mean / diameter (the diameter "
                             "given that makes it: 2 enlarges the plane 2 x 2 for the network); 0: the diameter "
                             "measured (the demo's cells: about 0.45)")
    parser.add_argument("--tile-too", action="store_true", help="part 2 with --pipeline fusion: a run with --tile too")
    parser.add_argument("--skip-part1", action="store_true", help="run part 2 and 3 only")
    parser.add_argument("--child", nargs=3, metavar=("PIPELINE", "SIZE", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    if not args.skip_part1:
        part1([int(s) for s in args.sizes.split(",")])
    if args.cgroup:
        part2(args.cgroup, args.size, args.tile, args.pipeline, args.rss_frames, args.rss_zoom, args.tile_too)
    if args.rss:
        os.environ["PLANE_MEMORY_CHANNELS"] = str(args.rss_channels)  # read by the cases' processes
        if args.rss_zoom:
            os.environ["PLANE_MEMORY_ZOOM"] = str(args.rss_zoom)
        widths = tuple(int(w) for w in args.rss_widths.split(",")) if args.rss_widths else ()
        part3(args.rss.split(","), [int(s) for s in args.rss_sizes.split(",")], args.rss_frames, widths)


if __name__ == "__main__":
    main()
