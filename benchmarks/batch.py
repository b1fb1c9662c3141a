"""Batch throughput on this machine: sequential vs a LocalCluster of 1 and 2 workers vs a
real cluster (a `dask scheduler` process and 2 `dask worker` processes, connected by
address as on a cluster), and the Dask scheduler overhead per task (no-op tasks).

Usage::

    python benchmarks/batch.py [--pipeline threshold] [--inputs 16] [--frames 4] [--size 256]

Inputs are crops of the real CTC time-lapses in ../shared/data (SIM+, MSC, GOWT1),
written to a temporary folder. Clusters are started and warmed up (labelfree and the
pipeline imported on every worker) before timing, so the figures are per-input work,
not start-up. Each timed run redoes every input (``force=True``) into a fresh folder.
Prints a markdown table; ratios are against the sequential run of the same session.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

DATASETS = ("Fluo-N2DH-SIM+", "Fluo-C2DL-MSC", "Fluo-N2DH-GOWT1")


def make_inputs(folder: Path, *, n: int, frames: int, size: int, root: Path) -> None:
    """Write ``n`` real crops (frames x size x size) as ImageJ TIFFs."""
    rng = np.random.default_rng(0)
    cache: dict[str, np.ndarray] = {}
    for i in range(n):
        name = DATASETS[i % len(DATASETS)]
        if name not in cache:
            seq = root / "ctc" / name / "01"
            cache[name] = np.stack([tifffile.imread(seq / f"t{t:03d}.tif") for t in range(frames + 6)])
        movie = cache[name]
        t0 = int(rng.integers(0, 6))
        y0 = int(rng.integers(0, movie.shape[1] - size))
        x0 = int(rng.integers(0, movie.shape[2] - size))
        crop = movie[t0: t0 + frames, y0: y0 + size, x0: x0 + size]
        tifffile.imwrite(folder / f"in{i:03d}.tif", crop, imagej=True, metadata={"axes": "TYX"})


def _noop(x: int) -> int:
    return x


def scheduler_overhead(client, n_tasks: int) -> dict[str, float]:
    """Milliseconds per no-op task: map+gather and submit+as_completed (as run_batch does)."""
    from distributed import as_completed

    client.gather(client.map(_noop, range(50), pure=False))  # warm-up
    t = time.perf_counter()
    client.gather(client.map(_noop, range(n_tasks), pure=False))
    mapped = (time.perf_counter() - t) / n_tasks * 1e3
    t = time.perf_counter()
    futures = [client.submit(_noop, i, pure=False) for i in range(n_tasks)]
    for f in as_completed(futures):
        f.result()
    one_by_one = (time.perf_counter() - t) / n_tasks * 1e3
    return {"map_gather_ms": mapped, "submit_as_completed_ms": one_by_one}


def start_cluster(n_workers: int, logs: Path) -> tuple[str, list[subprocess.Popen]]:
    """A `dask scheduler` and ``n_workers`` `dask worker` processes on 127.0.0.1."""
    import socket

    from distributed import Client

    dask_cli = Path(sys.executable).with_name("dask")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = open(logs / "cluster.log", "w")
    procs = [subprocess.Popen([str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0", "--no-show"], stdout=out, stderr=out, env=env)]
    procs += [subprocess.Popen([str(dask_cli), "worker", address, "--nthreads", "1", "--memory-limit", "0",
                                "--host", "127.0.0.1", "--no-dashboard"], stdout=out, stderr=out, env=env)
              for _ in range(n_workers)]
    deadline = time.time() + 60
    while True:
        try:
            with Client(address, timeout="5s") as client:
                client.wait_for_workers(n_workers, timeout=60)
            return address, procs
        except (OSError, TimeoutError):
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def timed_run(inputs: Path, work: Path, *, pipeline: str, scheduler, repeats: int) -> float:
    from labelfree.batch import run_batch

    times = []
    for r in range(repeats):
        out = work / f"out-{time.monotonic_ns()}"
        t = time.perf_counter()
        summary = run_batch(inputs, pipeline=pipeline, out_dir=out, scheduler=scheduler, progress=False,
                            batch={"force": True})
        times.append(time.perf_counter() - t)
        bad = summary[summary["status"] != "ok"]
        if len(bad):
            raise SystemExit(f"benchmark inputs failed: {bad[['input', 'error']].to_string()}")
        shutil.rmtree(out)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="threshold")
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noop-tasks", type=int, default=1000)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()

    import distributed

    from labelfree.pipelines import get_pipeline

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # no shutdown chatter in the table

    get_pipeline(args.pipeline)
    work = Path(tempfile.mkdtemp(prefix="labelfree-bench-batch-"))
    inputs = work / "inputs"
    inputs.mkdir()
    make_inputs(inputs, n=args.inputs, frames=args.frames, size=args.size, root=Path(args.data))
    rows = []
    try:
        seq = timed_run(inputs, work, pipeline=args.pipeline, scheduler="sync", repeats=args.repeats)
        rows.append(("sequential (in process, no Dask)", seq, None))
        overhead = {}
        for n_workers in (1, 2):
            with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                          host="127.0.0.1", dashboard_address=None,
                                          scheduler_kwargs={"dashboard_address": ":0"},
                                          silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
                client.run(lambda name=args.pipeline: __import__("labelfree.pipelines").pipelines.get_pipeline(name))
                timed_run(inputs, work, pipeline=args.pipeline, scheduler=client, repeats=1)  # warm-up
                t = timed_run(inputs, work, pipeline=args.pipeline, scheduler=client, repeats=args.repeats)
                rows.append((f"LocalCluster, {n_workers} worker process(es)", t, n_workers))
                overhead[n_workers] = scheduler_overhead(client, args.noop_tasks)
        address, procs = start_cluster(2, work)
        try:
            with distributed.Client(address) as client:
                client.run(lambda name=args.pipeline: __import__("labelfree.pipelines").pipelines.get_pipeline(name))
                timed_run(inputs, work, pipeline=args.pipeline, scheduler=client, repeats=1)  # warm-up
                t = timed_run(inputs, work, pipeline=args.pipeline, scheduler=client, repeats=args.repeats)
                rows.append(("`dask scheduler` + 2 `dask worker` processes (tcp)", t, 2))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=20)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print(f"pipeline={args.pipeline} inputs={args.inputs} x {args.frames} frames x {args.size}x{args.size} px, "
          f"median of {args.repeats} runs; cores={os.cpu_count()}, load average {load[0]:.2f}/{load[1]:.2f}\n")
    print("| execution | wall s | inputs/s | speed-up vs sequential |")
    print("|---|---:|---:|---:|")
    for name, t, _ in rows:
        print(f"| {name} | {t:.2f} | {args.inputs / t:.2f} | {seq / t:.2f}x |")
    print("\n| scheduler overhead per no-op task | 1 worker | 2 workers |")
    print("|---|---:|---:|")
    for key, label in (("map_gather_ms", "client.map + gather (ms)"),
                       ("submit_as_completed_ms", "submit + as_completed, as run_batch (ms)")):
        print(f"| {label} | {overhead[1][key]:.2f} | {overhead[2][key]:.2f} |")
    per_input = seq / args.inputs * 1e3
    print(f"\nsequential work per input: {per_input:.0f} ms; overhead/work = "
          f"{overhead[2]['submit_as_completed_ms'] / per_input:.3%}")


if __name__ == "__main__":
    main()
