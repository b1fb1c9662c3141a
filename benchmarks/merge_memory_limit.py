"""A chunked batch run of a long movie under a memory limit: does it complete, and with the labels of a run
without a limit?

Usage: python benchmarks/merge_memory_limit.py [--frames T] [--size PX] [--chunk-frames N] [--limits MiB,...]
[--dask] [--pipeline threshold|motion] [--single]

Writes a synthetic T x PX x PX uint16 movie (blobs drifting across noise), runs ``labelfree batch MOVIE -p
threshold --scheduler sync --chunk-frames N`` once without a limit (the reference) and once in a memory cgroup
of each limit, and prints per limit: whether the run completed (or was killed), the cgroup's peak usage, the
seconds, and whether its label TIFF, table and ROIs are the reference's. A cgroup's limit counts the page cache
too but takes clean and written-back file pages back when it is reached, as the kernel does for a job under a
scheduler's memory limit (SLURM's cgroups); a process whose anonymous memory passes the limit is killed.
``--dask``: every run on a Dask cluster in the process (``--in-process --workers 1``) instead of ``--scheduler
sync``. ``--worker-limits MiB,...``: then runs on one Dask worker process under Dask's own memory limit
(``--workers 1 --memory-limit N MiB``; the nanny restarts a worker whose resident set passes 95 % of it, and an
input fails after four), and prints per limit whether the input completed, the workers restarted, the seconds and
whether the outputs are the reference's (no root needed). ``--single``: every run is one ``labelfree PIPELINE
MOVIE -o OUT`` command instead of a batch run; ``--pipeline``: the pipeline (default threshold); ``--compression
zlib``: the movie written compressed (it cannot be memory-mapped).

Needs Linux and the right to make a memory cgroup (root; cgroup v1 ``/sys/fs/cgroup/memory`` or v2
``/sys/fs/cgroup`` with the memory controller); without them it says so and measures only the reference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_movie(path: Path, n_frames: int, size: int, compression: str | None = None) -> None:
    """Blobs (sigma 12 px) drifting one pixel a frame over noise, written frame by frame (never all in memory)."""
    import tifffile

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    base = np.zeros((size, size), np.float32)
    for cy, cx in rng.uniform(20, size - 20, (max(4, size * size // 7000), 2)):
        base += 800 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 12.0**2))

    def frames():
        for t in range(n_frames):
            frame = np.roll(base, t % 50, axis=1) + rng.normal(100, 10, (size, size))
            yield np.clip(frame, 0, 65535).astype(np.uint16)

    tifffile.imwrite(path, frames(), shape=(n_frames, size, size), dtype=np.uint16, imagej=True,
                     metadata={"axes": "TYX"}, compression=compression)


class MemoryCgroup:
    """A memory cgroup (v1 or v2) of ``limit_mib`` that a child process joins; removed on exit."""

    def __init__(self, limit_mib: int):
        v1 = Path("/sys/fs/cgroup/memory")
        name = f"labelfree-bench-{os.getpid()}-{limit_mib}"
        if v1.is_dir():
            self.path, self.limit_file, self.peak_file = v1 / name, "memory.limit_in_bytes", "memory.max_usage_in_bytes"
        else:
            self.path, self.limit_file, self.peak_file = Path("/sys/fs/cgroup") / name, "memory.max", "memory.peak"
        self.limit = limit_mib * 2**20

    def __enter__(self) -> "MemoryCgroup":
        self.path.mkdir()
        (self.path / self.limit_file).write_text(str(self.limit))
        return self

    def peak_mib(self) -> float:
        try:
            return int((self.path / self.peak_file).read_text()) / 2**20
        except (OSError, ValueError):
            return float("nan")

    def join(self) -> None:  # run in the child before exec
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def __exit__(self, *exc) -> None:
        self.path.rmdir()


#: the pipeline every run segments with (``--pipeline``), and whether a run is one ``labelfree PIPELINE`` command
#: instead of ``labelfree batch`` (``--single``)
RUN = {"pipeline": "threshold", "single": False}


def run(movie: Path, out: Path, chunk_frames: int, scheduler: list[str],
        cgroup: MemoryCgroup | None = None) -> tuple[int, float]:
    rc, seconds, _ = run_logged(movie, out, chunk_frames, scheduler, cgroup)
    return rc, seconds


def run_logged(movie: Path, out: Path, chunk_frames: int, scheduler: list[str],
               cgroup: MemoryCgroup | None = None) -> tuple[int, float, str]:
    """``run``, with what the run printed on stderr."""
    chunks = ["--chunk-frames", str(chunk_frames)] if chunk_frames else []  # 0: none given (automatic)
    if RUN["single"]:
        cmd = [sys.executable, "-m", "labelfree", RUN["pipeline"], str(movie), "-o", str(out), *chunks, "-q",
               "--no-progress"]
    else:
        cmd = [sys.executable, "-m", "labelfree", "batch", str(movie), "-p", RUN["pipeline"], "-o", str(out),
               *scheduler, *chunks, "-q", "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cgroup.join if cgroup else None)
    return proc.returncode, time.perf_counter() - t0, proc.stderr


def same_outputs(a: Path, b: Path, stem: str) -> bool:
    import tifffile

    labels = np.array_equal(tifffile.imread(a / f"{stem}_labels.tif"), tifffile.imread(b / f"{stem}_labels.tif"))
    return labels and all((a / f"{stem}{s}").read_bytes() == (b / f"{stem}{s}").read_bytes()
                          for s in ("_table.csv", "_rois.zip"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--chunk-frames", type=int, default=40, help="0: none given (chunks where the labels "
                        "would not fit, chosen by LabelFree)")
    parser.add_argument("--limits", default="300,600,1000", help="memory limits to try, MiB, comma-separated")
    parser.add_argument("--dask", action="store_true", help="run on a Dask cluster in the process")
    parser.add_argument("--worker-limits", default="", help="Dask's own memory limits of one worker process to "
                        "try, MiB, comma-separated (after the cgroup limits; give --limits '' for these alone)")
    parser.add_argument("--folder", type=Path, help="where the temporary work folder is made (default: the "
                        "system's temporary folder; it needs room for the movie and its labels, each limit's too)")
    parser.add_argument("--pipeline", default="threshold", choices=("threshold", "motion"))
    parser.add_argument("--compression", help="the movie's TIFF compression (e.g. zlib; default: none)")
    parser.add_argument("--single", action="store_true", help="each run is one `labelfree PIPELINE MOVIE -o OUT` "
                        "command (with --chunk-frames N unless 0), not a batch run (--dask, --worker-limits do not "
                        "apply)")
    args = parser.parse_args()
    RUN.update(pipeline=args.pipeline, single=args.single)
    with tempfile.TemporaryDirectory(prefix="labelfree-bench-merge-limit-", dir=args.folder) as tmp:
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, work: Path) -> None:
    movie = work / "movie.tif"
    write_movie(movie, args.frames, args.size, args.compression)
    labels_mib = args.frames * args.size * args.size * 2 / 2**20
    scheduler = ["--in-process", "--workers", "1"] if args.dask else ["--scheduler", "sync"]
    rc, seconds = run(movie, work / "reference", args.chunk_frames, scheduler)
    if rc:
        sys.exit(f"the run without a limit failed (exit {rc})")
    chunks = f"--chunk-frames {args.chunk_frames}" if args.chunk_frames else "no --chunk-frames"
    command = (f"labelfree {args.pipeline}" if args.single
               else f"labelfree batch -p {args.pipeline} {' '.join(scheduler)}")
    print(f"{command} {chunks}, {args.frames} x "
          f"{args.size}^2 uint16 ({labels_mib:.0f} MiB of movie, as many of uint16 labels)")
    print(f"{'memory limit':>12s} {'completed':>10s} {'peak MiB':>9s} {'seconds':>8s}  same outputs")
    print(f"{'none':>12s} {'yes':>10s} {'':>9s} {seconds:8.1f}")
    for limit in (int(v) for v in args.limits.split(",") if v.strip()):
        try:
            with MemoryCgroup(limit) as cgroup:
                rc, seconds = run(movie, work / f"limit{limit}", args.chunk_frames, scheduler, cgroup)
                peak = cgroup.peak_mib()
        except OSError as exc:
            print(f"no memory cgroup here ({exc}): run as root on Linux to measure the limits")
            break
        done = "yes" if rc == 0 else ("killed" if rc in (-9, 137) else f"exit {rc}")
        same = str(same_outputs(work / "reference", work / f"limit{limit}", "movie")) if rc == 0 else ""
        print(f"{limit:>12d} {done:>10s} {peak:9.0f} {seconds:8.1f}  {same}")
        shutil.rmtree(work / f"limit{limit}", ignore_errors=True)
    worker_limits = [int(v) for v in args.worker_limits.split(",") if v.strip()]
    if worker_limits:
        print(f"one Dask worker process (--workers 1), Dask's memory limit; {args.frames} x {args.size}^2")
        print(f"{'worker limit':>12s} {'completed':>10s} {'restarts':>9s} {'seconds':>8s}  same outputs")
    for limit in worker_limits:
        out = work / f"worker{limit}"
        rc, seconds, err = run_logged(movie, out, args.chunk_frames,
                                      ["--workers", "1", "--memory-limit", f"{limit}MiB"])
        restarts = err.count("exceeded 95% memory budget")
        same = str(same_outputs(work / "reference", out, "movie")) if rc == 0 else ""
        print(f"{limit:>12d} {'yes' if rc == 0 else 'no':>10s} {restarts:>9d} {seconds:8.1f}  {same}")
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
