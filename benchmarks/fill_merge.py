"""Hole filling (``labelfree.labels.fill_holes``) and the merge of a chunked batch input, each against a
reference measured in the same run.

Usage: python benchmarks/fill_merge.py [--repeat N] [--size PX] [--frames T] [--planes Z] [--skip-batch]

Table 1, speed: ``fill_holes`` against ``scipy.ndimage.binary_fill_holes`` (masks) and against the per-object
fill LabelFree used before (label images; kept below as the reference), on the same input; ratio
LabelFree / reference, and whether the outputs are identical. Inputs: a synthetic z-stack of nuclei
thresholded plane by plane (as ``labelfree threshold`` fills a z-stack), thresholded Fluo-C2DL-MSC frames
and their connected components, the MSC manual masks (../shared/data; left out when absent), and a
synthetic label image of 2,500 objects with one hole.

Table 2, memory: peak resident memory of ``labelfree batch MOVIE -p threshold --scheduler sync
--chunk-frames 2`` against the same run unchunked (the reference), and of both on a Dask cluster inside the
process (``--in-process --workers 1``: the chunk tasks and the merge-and-write task in that process), each in
a fresh process, on a synthetic T x Z x Y x X uint16 movie; ratio to the reference, and whether the label
movies are the reference's. Two peaks: all the process's resident pages (VmHWM) and its anonymous pages
(RssAnon, read every 5 ms), which leave out the pages of mapped files (the input as it is read, and the scratch
file a chunked run merges a label movie of more than 256 MiB in) that the system takes back under pressure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from io_speed import best_of  # benchmarks/ is on the path of a script run from it
from scipy import ndimage as ndi


def per_object_fill(arr):
    """The former fill, plane by plane: scipy's fill of a mask; each object's own holes for labels."""
    if arr.ndim > 2:
        return np.stack([per_object_fill(p) for p in arr])
    if arr.dtype == bool:
        return ndi.binary_fill_holes(arr)
    out = arr.copy()
    for idx, sl in enumerate(ndi.find_objects(arr), start=1):
        if sl is not None:
            filled = ndi.binary_fill_holes(arr[sl] == idx)
            out[sl][filled & (arr[sl] == 0)] = idx
    return out


def nuclei_movie(n_frames, n_planes, size, seed=0):
    """Ellipsoidal nuclei with textured (dim-centred) interiors and noise: uint16 (T, Z, Y, X)."""
    rng = np.random.default_rng(seed)
    n = max(4, size * size // 2500)
    centres = np.column_stack([rng.uniform(2, n_planes - 2, n), rng.uniform(0, size, n), rng.uniform(0, size, n)])
    radii = rng.uniform(6, 14, n)
    movie = np.empty((n_frames, n_planes, size, size), np.uint16)
    zz = np.arange(n_planes)[:, None, None]
    for t in range(n_frames):
        volume = np.zeros((n_planes, size, size), np.float32)
        for (cz, cy, cx), r in zip(centres + [0, 0.7 * t, 0.5 * t], radii):
            y0, y1 = int(max(cy - r - 1, 0)), int(min(cy + r + 2, size))
            x0, x1 = int(max(cx - r - 1, 0)), int(min(cx + r + 2, size))
            if y0 >= y1 or x0 >= x1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1]
            d = ((zz - cz) / (r / 4)) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2
            shell = np.where(d <= 1, 0.4 + 0.6 * np.clip(d, 0, 1), 0)  # bright rim, dimmer centre
            volume[:, y0:y1, x0:x1] = np.maximum(volume[:, y0:y1, x0:x1], shell)
        volume = ndi.gaussian_filter(volume, (0.5, 1, 1))
        movie[t] = np.clip(100 + 600 * volume + rng.normal(0, 40, volume.shape), 0, 65535)
    return movie


def fill_cases(size, planes):
    from skimage.filters import threshold_otsu

    stack = nuclei_movie(1, planes, size)[0].astype(np.float32)
    yield f"z-stack {planes} x {size}^2, mask", stack > threshold_otsu(stack)
    try:
        from labelfree.datasets import shared_data_root
        from labelfree.io import read_ctc

        ds = read_ctc(shared_data_root() / "ctc" / "Fluo-C2DL-MSC")
    except Exception as exc:  # noqa: BLE001 - real data is optional here
        print(f"(MSC rows left out: {exc})")
    else:
        frames = np.stack([ndi.gaussian_filter(ds.frame(t).astype(np.float32), 1) for t in ds.seg_frames])
        masks = np.stack([f > threshold_otsu(f) for f in frames])
        yield f"MSC {len(masks)} frames thresholded, mask", masks
        yield "MSC thresholded, components", np.stack([ndi.label(m)[0] for m in masks]).astype(np.uint16)
        yield "MSC manual masks", np.stack([ds.seg[t] for t in ds.seg_frames]).astype(np.uint16)
    grid = np.zeros((600, 600), np.uint16)
    for k, (y, x) in enumerate(((y, x) for y in range(2, 598, 12) for x in range(2, 598, 12)), start=1):
        grid[y:y + 8, x:x + 8] = k
    grid[5:7, 5:7] = 0
    yield "2,500 objects, one hole", grid


def speed_table(args):
    from labelfree.labels import fill_holes

    print(f"{'fill_holes input':40s} {'LabelFree s':>11s} {'reference s':>11s} {'ratio':>6s}  same")
    for name, arr in fill_cases(args.size, args.planes):
        ours = best_of(lambda: fill_holes(arr), args.repeat)
        ref = best_of(lambda: per_object_fill(arr), args.repeat)
        same = np.array_equal(fill_holes(arr), per_object_fill(arr))
        print(f"{name:40s} {ours:11.3f} {ref:11.3f} {ours / ref:6.2f}  {same}")


#: the child's own peak: VmHWM of its memory after exec (getrusage's ru_maxrss also counts the pages it shared with
#: this process between fork and exec, so it could not fall below this process's peak: the label movies it holds),
#: and the peak of its anonymous memory (RssAnon, read every 5 ms): VmHWM also counts the pages of files it maps
#: (the input TIFF as it is read; a large merged movie's scratch file), which the system takes back when it needs
#: them; the anonymous pages are what a run needs to keep
_RUN = """
import sys, threading, time
from labelfree.cli import main

def status_kb(key):
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith(key + ":")))

top = [0]

def watch():
    while True:
        top[0] = max(top[0], status_kb("RssAnon"))
        time.sleep(0.005)

threading.Thread(target=watch, daemon=True).start()
rc = main(sys.argv[1:])
top[0] = max(top[0], status_kb("RssAnon"))
print("PEAK_KB", status_kb("VmHWM"))
print("ANON_KB", top[0])
sys.exit(rc)
"""


def batch_peak(movie_path, out, extra):
    cmd = [sys.executable, "-c", _RUN, "batch", str(movie_path), "-p", "threshold", "-o", str(out),
           "--no-progress", "-q", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t0
    said = dict(line.split() for line in proc.stdout.splitlines() if line.startswith(("PEAK_KB", "ANON_KB")))
    return int(said["PEAK_KB"]) / 1024, int(said["ANON_KB"]) / 1024, seconds


def memory_table(args):
    import tifffile

    movie = nuclei_movie(args.frames, args.planes, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "movie_tzyx.tif"
        tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TZYX"})
        size_mb = movie.nbytes / 2**20
        del movie
        runs = {}
        sync, dask, chunked = ["--scheduler", "sync"], ["--in-process", "--workers", "1"], ["--chunk-frames", "2"]
        for name, extra in (("unchunked", sync), ("chunked", sync + chunked), ("unchunked, Dask in-process", dask),
                            ("chunked, Dask in-process", dask + chunked)):
            peak, anon, seconds = batch_peak(path, Path(tmp) / str(len(runs)), extra)
            labels = tifffile.imread(Path(tmp) / str(len(runs)) / "movie_tzyx_labels.tif")
            runs[name] = (peak, anon, seconds, labels)
    print(f"\nbatch -p threshold, {args.frames} x {args.planes} x {args.size}^2 uint16 ({size_mb:.0f} MiB; its "
          f"labels {runs['unchunked'][3].nbytes / 2**20:.0f} MiB); --scheduler sync unless said; peak MiB: all the "
          f"process's pages (VmHWM), anon: its anonymous ones (RssAnon)")
    print(f"{'run':28s} {'peak MiB':>9s} {'anon MiB':>9s} {'seconds':>8s} {'ratio':>6s} {'anon ratio':>10s}"
          "  same labels")
    ref, ref_anon, ref_labels = runs["unchunked"][0], runs["unchunked"][1], runs["unchunked"][3]
    for name, (peak, anon, seconds, labels) in runs.items():
        same = "" if name == "unchunked" else str(np.array_equal(labels, ref_labels))
        print(f"{name:28s} {peak:9.0f} {anon:9.0f} {seconds:8.1f} {peak / ref:6.2f} {anon / ref_anon:10.2f}  {same}")
    return json.dumps({k: round(v[0]) for k, v in runs.items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="frame size (px) of the synthetic stack and movie")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--planes", type=int, default=24)
    parser.add_argument("--skip-batch", action="store_true", help="only the fill_holes table")
    args = parser.parse_args()
    speed_table(args)
    if not args.skip_batch:
        memory_table(args)


if __name__ == "__main__":
    main()
