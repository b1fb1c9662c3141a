"""Tiled vs untiled segmentation of a large image: peak memory and wall time.

Usage::

    python benchmarks/tiling.py [--size 8192] [--tile 2048] [--overlap 128]

The image is a mosaic of real frames (Fluo-N2DH-SIM+ from ../shared/data, 690 x 628 each)
cut to ``size`` x ``size`` px, written once as a ``.npy`` file (memory-mapped by the tiled
runs) and as OME-Zarr (chunks 1024 x 1024). Each variant runs in a fresh Python process,
so its peak resident memory (``ru_maxrss``) is its own:

* untiled: the threshold pipeline on the whole image in memory;
* tiled, serial: :func:`labelfree.tiling.segment_tiled` tile after tile from the memmap
  (the full-size label array is part of its memory);
* tiled on Dask: :func:`labelfree.tiling.tiled_labels` on a LocalCluster of 2 worker
  processes, reading the OME-Zarr and writing the labels to zarr chunk by chunk (no
  full-size array anywhere); peak memory of the busiest worker and of the client (which
  also hosts the scheduler), measured before the check reads the labels back; in
  brackets the worker's peak after imports and a warm-up, before any tile.

All variants use one threshold for the whole image (:func:`labelfree.tiling.auto_threshold`,
equal to the pipeline's own Otsu value here), so the labels are identical; the script checks it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_mosaic(work: Path, size: int, data: Path) -> None:
    import tifffile

    from labelfree.image import to_dataarray
    from labelfree.io import write_ngff

    seq = data / "ctc" / "Fluo-N2DH-SIM+" / "01"
    frames = [tifffile.imread(seq / f"t{t:03d}.tif") for t in range(16)]
    fy, fx = frames[0].shape
    mosaic = np.lib.format.open_memmap(work / "mosaic.npy", mode="w+", dtype=frames[0].dtype, shape=(size, size))
    k = 0
    for y in range(0, size, fy):
        for x in range(0, size, fx):
            tile = frames[k % len(frames)]
            k += 1
            mosaic[y:y + fy, x:x + fx] = tile[: size - y, : size - x]
    mosaic.flush()
    write_ngff(work / "mosaic.zarr", to_dataarray(np.load(work / "mosaic.npy", mmap_mode="r")), chunks=(1024, 1024))


def run_variant(variant: str, work: Path, tile: int, overlap: int) -> dict:
    from labelfree.threshold import segment as threshold_segment
    from labelfree.tiling import PipelineTileFunction, auto_threshold, segment_tiled, tiled_labels

    source = np.load(work / "mosaic.npy", mmap_mode="r")
    thr = auto_threshold(source)
    out: dict = {"variant": variant}
    t = time.perf_counter()
    if variant == "untiled":
        labels = np.asarray(threshold_segment(np.array(source), config={"threshold": thr}).data)
    elif variant == "tiled-serial":
        labels = segment_tiled(source, PipelineTileFunction("threshold", {"threshold": thr}), tile=tile,
                               overlap=overlap).labels
    else:
        import logging

        import dask.array as da
        import distributed
        import zarr

        from labelfree.io import read_ngff

        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        image = read_ngff(work / "mosaic.zarr")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0, host="127.0.0.1",
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            fn = PipelineTileFunction("threshold", {"threshold": thr})
            client.run(lambda: fn(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)))  # imports, warm-up
            out["worker_base_mb"] = max(client.run(_rss_mb).values())
            t = time.perf_counter()
            lazy = tiled_labels(image, PipelineTileFunction("threshold", {"threshold": thr}), tile=tile,
                                overlap=overlap)
            target = zarr.open_array(str(work / "labels.zarr"), mode="w", shape=lazy.shape, chunks=(tile, tile),
                                     dtype=lazy.dtype)
            da.store(lazy, target, lock=False, compute=True)
            out["worker_peak_mb"] = max(client.run(_rss_mb).values())
        out["seconds"], out["peak_mb"] = time.perf_counter() - t, _rss_mb()  # before the check reads them back
        labels = zarr.open_array(str(work / "labels.zarr"), mode="r")[...]
    out.setdefault("seconds", time.perf_counter() - t)
    out.setdefault("peak_mb", _rss_mb())
    out["n_objects"] = int(labels.max())
    np.save(work / f"labels-{variant}.npy", labels)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--tile", type=int, default=2048)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, Path(args.work), args.tile, args.overlap)))
        return
    work = Path(tempfile.mkdtemp(prefix="labelfree-bench-tiling-"))
    make_mosaic(work, args.size, Path(args.data))
    results = []
    for variant in ("untiled", "tiled-serial", "tiled-dask"):
        proc = subprocess.run([sys.executable, __file__, "--variant", variant, "--work", str(work), "--tile",
                               str(args.tile), "--overlap", str(args.overlap)], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    ref = np.load(work / "labels-untiled.npy")
    load = os.getloadavg()
    print(f"image {args.size} x {args.size} px uint16 ({args.size ** 2 * 2 / 2 ** 20:.0f} MiB), tiles {args.tile} px, "
          f"overlap {args.overlap} px, threshold pipeline; cores={os.cpu_count()}, load {load[0]:.2f}\n")
    print("| variant | wall s | peak memory, process (MiB) | peak per worker (MiB; after imports) | objects | same labels |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        lab = np.load(work / f"labels-{r['variant']}.npy")
        same = bool(np.array_equal(lab > 0, ref > 0)) and r["n_objects"] == int(ref.max())
        worker = f"{r['worker_peak_mb']:.0f} ({r['worker_base_mb']:.0f})" if "worker_peak_mb" in r else ""
        print(f"| {r['variant']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {worker} | {r['n_objects']} | {same} |")
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
