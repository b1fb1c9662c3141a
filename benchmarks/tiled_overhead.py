"""What a tiled Threshold run spends besides segmenting: this package against an earlier one, in the same run.

Usage::

    python benchmarks/tiled_overhead.py --before REV [--size 8192] [--frames 4] [--frame-size 4096]
                                        [--tile 1024] [--overlap 128] [--repeat 2]
    python benchmarks/tiled_overhead.py --before-src DIR ...   # DIR holds an earlier copy of labelfree/

The images are mosaics of real frames (Fluo-N2DH-GOWT1 from ../shared/data, 1024 x 1024 uint8): blocks of
960 x 960 px cut from randomly chosen frames at random offsets (0..63 px, seeded), so that no tile repeats
another: a 2-D plane of ``size``^2 px and a time-lapse of ``frames`` x ``frame-size``^2 px (TYX), each written
once as a ``.npy`` file. Each run is a fresh Python process that runs ``labelfree.run.run_pipeline("threshold",
image, tile=..., tile_overlap=...)`` (the route of ``labelfree threshold IMAGE --tile N``; the threshold is the
plane's automatic one), once on a small crop first (imports, warm-up); the earlier package runs the same script
with ``PYTHONPATH`` set to its copy (``--before REV``: ``git archive REV src/labelfree``, read only). Runs of the
two packages alternate, ``--repeat`` times each; the table gives the least CPU time and the least wall time of the
tiled run alone (reading excluded; CPU time varies less on a busy machine), the largest peak resident memory of
the whole process (``/usr/bin/time -v``'s maximum resident set size where that tool exists, else ``ru_maxrss``),
their ratios (after / before) and whether the labels are the same bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, resource, sys, time
import numpy as np, xarray as xr
from labelfree.run import run_pipeline

path, tile, overlap, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = np.load(path)
image = xr.DataArray(data, dims=("Y", "X") if data.ndim == 2 else ("T", "Y", "X"))
run_pipeline("threshold", image[..., :256, :256], tile=128, tile_overlap=32)  # imports, warm-up
t0, c0 = time.perf_counter(), time.process_time()
labels = run_pipeline("threshold", image, tile=tile, tile_overlap=overlap)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
np.save(out, labels.values)
print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "objects": int(labels.values.max())}))
"""


def mosaic(shape: tuple[int, int], seed: int, data: Path, /, *, block: int = 960, jitter: int = 64) -> np.ndarray:
    """A (Y, X) uint8 mosaic of ``block``-px squares cut from random GOWT1 frames at random offsets."""
    import tifffile

    files = sorted((data / "ctc" / "Fluo-N2DH-GOWT1" / "01").glob("t*.tif"))
    if not files:
        raise SystemExit(f"no Fluo-N2DH-GOWT1 frames under {data}; give --data")
    rng = np.random.default_rng(seed)
    out = np.empty(shape, np.uint8)
    for y in range(0, shape[0], block):
        for x in range(0, shape[1], block):
            frame = tifffile.imread(files[rng.integers(len(files))])
            dy, dx = (int(v) for v in rng.integers(0, jitter, 2))
            h, w = min(block, shape[0] - y), min(block, shape[1] - x)
            out[y:y + h, x:x + w] = frame[dy:dy + h, dx:dx + w]
    return out


def _before_src(args: argparse.Namespace, work: Path) -> Path:
    """The folder holding the earlier package (``labelfree/``)."""
    if args.before_src:
        return Path(args.before_src)
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", args.before, "src/labelfree"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    return work / "src"


def _run(src: Path, image: Path, tile: int, overlap: int, out: Path) -> dict:
    """One tiled run in a fresh process with ``src`` first on the path; its figures."""
    cmd = [sys.executable, "-c", _CHILD, str(image), str(tile), str(overlap), str(out)]
    timed = Path("/usr/bin/time").exists()
    if timed:
        cmd = ["/usr/bin/time", "-v"] + cmd
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr) if timed else None
    result["peak_mb"] = int(peak.group(1)) / 1024 if peak else result["rss_mb"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--before", help="git revision of the earlier package (read with git archive)")
    which.add_argument("--before-src", help="folder holding an earlier copy of the labelfree package")
    parser.add_argument("--size", type=int, default=8192, help="side of the 2-D mosaic (px)")
    parser.add_argument("--frames", type=int, default=4, help="frames of the TYX mosaic")
    parser.add_argument("--frame-size", type=int, default=4096, help="side of each TYX frame (px)")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labelfree-bench-tiled-overhead-"))
    try:
        before = _before_src(args, work)
        after = Path(__file__).resolve().parents[1] / "src"
        data = Path(args.data)
        images = {
            f"YX {args.size}^2": mosaic((args.size, args.size), 0, data),
            f"TYX {args.frames} x {args.frame_size}^2": np.stack(
                [mosaic((args.frame_size, args.frame_size), 1 + t, data) for t in range(args.frames)]),
        }
        rows = []
        for k, (name, image) in enumerate(images.items()):
            path = work / f"image{k}.npy"
            np.save(path, image)
            del image
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for r in range(args.repeat):
                for label, src in (("before", before), ("after", after)):
                    runs[label].append(_run(src, path, args.tile, args.overlap, work / f"labels-{label}.npy"))
            same = bool(np.array_equal(np.load(work / "labels-before.npy"), np.load(work / "labels-after.npy")))
            (old_cpu, new_cpu), (old_wall, new_wall), (old_peak, new_peak) = (
                [(max if key == "peak_mb" else min)(x[key] for x in runs[v]) for v in ("before", "after")]
                for key in ("cpu", "seconds", "peak_mb"))
            rows.append(f"| {name} | {old_cpu:.2f} / {new_cpu:.2f} ({new_cpu / old_cpu:.2f}) | {old_wall:.2f} / "
                        f"{new_wall:.2f} ({new_wall / old_wall:.2f}) | {old_peak:.0f} / {new_peak:.0f} "
                        f"({new_peak / old_peak:.2f}) | {runs['after'][0]['objects']} | {same} |")
        load = os.getloadavg()
        print(f"tiles {args.tile} px, overlap {args.overlap} px, threshold pipeline (automatic Otsu), best of "
              f"{args.repeat}; cores={os.cpu_count()}, load {load[0]:.2f}\n")
        print("| image | CPU s, before / after | wall s, before / after | peak MiB, before / after | objects "
              "| same labels |")
        print("|---|---|---|---|---:|---|")
        print("\n".join(rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
