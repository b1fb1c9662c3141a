"""Speed of the Motion pipeline per frame pair, against one bare Farnebaeck call.

Run: ``python benchmarks/motion_speed.py [--repeats 3]``

A 1216 x 1920 uint8 pair (the paper's frame size): two consecutive frames of
Fluo-C2DL-MSC/01 resized to that size (a synthetic pair when the shared data is
absent). One thread (OpenCV and BLAS). The reference is one bare
``cv2.calcOpticalFlowFarneback`` call with the same parameters on the same pair,
measured in the same run; the whole per-pair work of ``labelfree.motion.segment``
(everything but reading the frames) is timed step by step. The default config is timed
twice: with the memory allocator as the process found it, then inside
``labelfree._heap.retained_heap()`` as ``segment`` runs it (freed large buffers kept for
reuse; the bare call is timed in the same state). Also measures peak
memory of ``segment`` on a memory-mapped 200-frame 1024 x 1024 uint16 movie
(``--memory``; takes a few minutes; ``--memory-capped 16 1024``: only that, and once more as
if the process had 16 cores and 1 GiB of memory left, so that Motion caps its threads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2
import numpy as np

from labelfree import datasets, motion
from labelfree._heap import retained_heap
from labelfree.motion import MotionConfig
from labelfree.motion.flow import _flow, _flow_input, auto_downsample, binned_flow_config
from labelfree.motion.refine import _refine
from labelfree.motion.segment import _floods, _landscape
from labelfree.motion.selflabel import flow_only_min_size, resolve_closing_radius

cv2.setNumThreads(1)
SIZE = (1216, 1920)
#: the paper's Farnebaeck call: pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags
PAPER = (0.5, 3, 15, 3, 5, 1.1, 0)


def load_pair() -> tuple[np.ndarray, np.ndarray, str]:
    root = datasets.shared_data_root() / "ctc" / "Fluo-C2DL-MSC" / "01"
    if (root / "t024.tif").is_file():
        import tifffile

        raw = [tifffile.imread(root / f"t{k:03d}.tif") for k in (23, 24)]
        lo, hi = motion.uint8_range(np.stack(raw))
        frames = [cv2.resize(motion.to_uint8(f, low=lo, high=hi), SIZE[::-1]) for f in raw]
        return frames[0], frames[1], "Fluo-C2DL-MSC/01 t023-t024 resized"
    movie, _ = datasets.synthetic_movie(n_frames=2, shape=SIZE, n_cells=40, cell_radius=40, seed=0)
    return movie.values[0], movie.values[1], "synthetic"


def per_pair(prev_in: np.ndarray, cur: np.ndarray, prev_ent: np.ndarray, cfg: MotionConfig, min_size: int, linker,
             tracker):
    """The work ``segment`` does for one frame pair, timed by step.

    ``prev_in`` is frame t-1 as prepared for the flow (blurred; with labelfree's Farnebaeck,
    expanded), which ``segment`` keeps from the previous pair, as it keeps ``prev_ent``: the
    flow row counts frame t's preparation and the pair's flow.
    """
    times: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        times[name] = now - t
        t = now

    flow = _flow(_flow_input(cur, cfg), prev_in, cur.shape, cfg)
    mag = motion.flow_magnitude(flow)
    lap("flow (blur + Farneback + magnitude)")
    ent = motion.local_entropy(cur, size=cfg.entropy_size, bins=cfg.entropy_bins)
    lap("local entropy")
    feats = motion.compute_features(cur, config=cfg, cache={"entropy": ent})
    lap("other features")
    sl = motion.self_label(mag, prev_ent, min_size=min_size, config=cfg)
    lap("self-label (thresholds + 2 masks)")
    model = motion.train_classifier(feats, sl.cell, sl.background, max_pixels=cfg.max_training_pixels,
                                    prior=cfg.class_prior, kind=cfg.classifier)
    lap("train Naive Bayes")
    mask = motion.classify_frame(feats, model, smoothing=cfg.decision_smoothing)
    if cfg.classifier == "kernel":  # segment's check: against the normal densities of the same labels
        normal = motion.train_classifier(feats, sl.cell, sl.background, max_pixels=cfg.max_training_pixels,
                                         prior=cfg.class_prior, kind="gaussian")
        if _floods(mask, sl.background, motion.classify_frame(feats, normal)):
            raise RuntimeError("the benchmark pair floods with the kernel classifier; pick another pair")
    lap("classify (+ flood check)")
    clean = motion.postprocess(mask, min_size=min_size, closing_radius=resolve_closing_radius(cfg, min_size=min_size))
    lap("postprocess")
    contrasts: list[float] = []
    if cfg.refine_boundary:
        clean, _, applied = _refine(cur, clean, inner=cfg.refine_inner, outer=cfg.refine_outer,
                                    sigma=cfg.refine_sigma, prior=cfg.class_prior, kind=cfg.refine_classifier,
                                    max_pixels=cfg.max_training_pixels, seed=cfg.seed,
                                    min_contrast=cfg.refine_min_contrast, history=contrasts)
        if applied:
            clean = motion.postprocess(clean, min_size=min_size, closing_radius=0)
        lap("refine boundaries")
    if cfg.declump:  # the previous frame's objects are the last repeat's (the same pair): mostly kept whole
        tracker.landscape = _landscape(cfg, contrasts)
        lab = tracker.step(clean, cur, flow=flow)
        lap(f"instances ({tracker.landscape}, previous objects)")
    else:
        lab = motion.to_instances(clean, declump=False)
        lap("instances (components)")
    linker.link(lab)
    lap("link IDs")
    return times


#: the binned-flow preset: flow on 2x2-binned frames with the same physical window
FAST = {"flow_downsample": 2, "winsize": 9, "levels": 2}


def speed(repeats: int, cfg: MotionConfig, label: str, heap: bool = True) -> None:
    """Time the bare call and the per-pair steps, alternating, ``repeats`` times.

    ``heap``: inside :func:`labelfree._heap.retained_heap`, as ``segment`` runs
    (freed large buffers are reused instead of being faulted in again); both the
    bare call and the pipeline are timed in that same state.
    """
    prev, cur, what = load_pair()
    args = PAPER
    with retained_heap() if heap else contextlib.nullcontext() as acting:
        cv2.calcOpticalFlowFarneback(prev, cur, None, *args)  # warm-up
        prev_ent = motion.local_entropy(prev, bins=cfg.entropy_bins)
        mag = motion.flow_magnitude(motion.farneback_flow(cur, prev, config=cfg.replace(flow_downsample=1)))
        min_size = flow_only_min_size(mag, config=cfg)
        if cfg.flow_downsample is None:  # automatic: from this (full-resolution) size estimate, as segment
            cfg = binned_flow_config(cfg, auto_downsample(min_size / cfg.min_size_fraction,
                                                          min_radius=cfg.flow_downsample_radius))
            label += f" (automatic flow_downsample: {cfg.flow_downsample}, winsize {cfg.winsize}, levels {cfg.levels})"
        linker = motion.OverlapLinker()
        tracker = motion.InstanceTracker(cell_area=min_size / cfg.min_size_fraction, dip_ratio=cfg.declump_dip_ratio,
                                         neck_ratio=cfg.declump_neck_ratio, min_size=min_size // 2,
                                         temporal=cfg.declump_temporal)
        prev_in = _flow_input(prev, cfg)
        per_pair(prev_in, cur, prev_ent, cfg, min_size, linker, tracker)  # warm-up (imports, previous objects)
        first = motion.InstanceTracker(cell_area=tracker.cell_area, landscape=tracker.landscape,
                                       dip_ratio=cfg.declump_dip_ratio, neck_ratio=cfg.declump_neck_ratio,
                                       min_size=min_size // 2)
        bare, steps, alone = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            cv2.calcOpticalFlowFarneback(prev, cur, None, *args)
            bare.append(time.perf_counter() - t)
            steps.append(per_pair(prev_in, cur, prev_ent, cfg, min_size, linker, tracker))
            if tracker.prev is not None:  # the same objects without a previous frame (a movie's first frame)
                t = time.perf_counter()
                first.reset()
                first.step(tracker.prev > 0, cur)
                alone.append(time.perf_counter() - t)
    b = float(np.median(bare))
    how = "freed buffers kept for reuse, as in segment()" if acting else "allocator as the process found it"
    print(f"\n{label}\npair: {what}, {SIZE[0]}x{SIZE[1]} uint8, 1 thread, median of {repeats}; {how}")
    print(f"{'step':40s} {'s':>7s} {'x bare':>7s}")
    print(f"{'bare cv2.calcOpticalFlowFarneback (paper)':40s} {b:7.3f} {1.0:7.2f}")
    total = 0.0
    for name in steps[0]:
        v = float(np.median([s[name] for s in steps]))
        total += v
        print(f"{name:40s} {v:7.3f} {v / b:7.2f}")
    print(f"{'whole per-pair pipeline':40s} {total:7.3f} {total / b:7.2f}")
    if alone:
        v = float(np.median(alone))
        print(f"{'(instances without previous objects)':40s} {v:7.3f} {v / b:7.2f}")


def load_movie(n_frames: int = 6) -> tuple[np.ndarray, str]:
    """``n_frames`` consecutive frames of Fluo-C2DL-MSC/01 ending at t024, resized to 1216 x 1920 uint8."""
    root = datasets.shared_data_root() / "ctc" / "Fluo-C2DL-MSC" / "01"
    first = 25 - n_frames
    if (root / "t024.tif").is_file() and first >= 0:
        import tifffile

        raw = np.stack([tifffile.imread(root / f"t{k:03d}.tif") for k in range(first, 25)])
        lo, hi = motion.uint8_range(raw)
        movie = np.stack([cv2.resize(motion.to_uint8(f, low=lo, high=hi), SIZE[::-1]) for f in raw])
        return movie, f"Fluo-C2DL-MSC/01 t{first:03d}-t024 resized"
    movie, _ = datasets.synthetic_movie(n_frames=n_frames, shape=SIZE, n_cells=40, cell_radius=40, seed=0)
    return movie.values, "synthetic"


def time_movie(cores: int, repeats: int, config: str, frames: int = 6) -> dict:
    """In this process, pinned to ``cores`` cores (0: as started): the bare call and ``segment``.

    Returns the median seconds of one bare Farnebaeck call (paper parameters, inside
    ``retained_heap`` as ``segment``) and of ``segment`` on the movie of :func:`load_movie`,
    with the default thread count (the cores this process may use).
    """
    import warnings

    from labelfree._threads import thread_count

    if cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    movie, what = load_movie(frames)
    cfg = MotionConfig(**json.loads(config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion.segment(movie[:2], config=cfg)  # warm-up: imports, first calls
    bare, whole, cpu, main = [], [], [], []
    for _ in range(repeats):
        with retained_heap():
            cv2.calcOpticalFlowFarneback(movie[-2], movie[-1], None, *PAPER)
            t = time.perf_counter()
            cv2.calcOpticalFlowFarneback(movie[-2], movie[-1], None, *PAPER)
            bare.append(time.perf_counter() - t)
        t, c, m = time.perf_counter(), time.process_time(), time.thread_time()
        motion.segment(movie, config=cfg)
        whole.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # every thread's CPU time
        main.append(time.thread_time() - m)  # the calling thread's: the work done in frame order
    return {"threads": thread_count(), "bare": float(np.median(bare)), "movie": float(np.median(whole)),
            "cpu": float(np.median(cpu)), "main": float(np.median(main)), "pairs": movie.shape[0] - 1, "what": what}


def scaling(repeats: int, config: dict | None = None, rounds: int = 2, frames: int = 6) -> None:
    """Per-pair time of ``segment`` on one core and on all cores, against the bare call.

    Each setting runs in a fresh process (pinned to one core, or with every core this
    process has), ``rounds`` times alternately; medians over the rounds.
    """
    import subprocess
    import sys

    text = json.dumps(config or {})
    code = ("import sys, json; sys.path.insert(0, {here!r}); import motion_speed; "
            "print(json.dumps(motion_speed.time_movie({cores}, {repeats}, {text!r}, {frames})))")
    runs: dict[int, list[dict]] = {1: [], 0: []}
    for _ in range(rounds):
        for cores in runs:
            out = subprocess.run([sys.executable, "-c", code.format(here=os.path.dirname(os.path.abspath(__file__)),
                                                                    cores=cores, repeats=repeats, text=text,
                                                                    frames=frames)],
                                 check=True, capture_output=True, text=True).stdout
            runs[cores].append(json.loads(out.strip().splitlines()[-1]))
    one = runs[1][0]
    bare = float(np.median([r["bare"] for r in runs[1]]))
    pair1 = float(np.median([r["movie"] for r in runs[1]])) / one["pairs"]
    print(f"\nMotionConfig(**{config or {}}); movie: {one['what']}, {one['pairs'] + 1} x {SIZE[0]}x{SIZE[1]} uint8; "
          f"median of {repeats} x {rounds} runs; load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'':34s} {'threads':>7s} {'s/pair':>7s} {'x bare':>7s} {'x 1 core':>8s}")
    print(f"{'bare Farneback call (paper), 1 core':34s} {1:7d} {bare:7.3f} {1.0:7.2f} {'':>8s}")
    for cores, label in ((1, "segment, 1 core"), (0, "segment, all cores")):
        rs = runs[cores]
        per = float(np.median([r["movie"] for r in rs])) / rs[0]["pairs"]
        print(f"{label:34s} {rs[0]['threads']:7d} {per:7.3f} {per / bare:7.2f} {per / pair1:8.2f}")
    # CPU seconds per pair of the run on every core: all threads, and the calling thread alone
    # (what runs in frame order). A pair cannot cost less than the in-order part on any number
    # of cores, nor less than the total divided by the cores: the projection is that bound.
    rs = runs[0]
    cpu = float(np.median([r["cpu"] for r in rs])) / rs[0]["pairs"]
    main = float(np.median([r["main"] for r in rs])) / rs[0]["pairs"]
    print(f"\nCPU per pair with {rs[0]['threads']} threads: {cpu:.3f} s in all threads, {main:.3f} s in the calling "
          f"thread (in frame order, {main / bare:.2f} x bare)")
    print("projected s/pair on c cores, max(in order, all / c): " + ", ".join(
        f"c={c}: {max(main, cpu / c):.3f} ({max(main, cpu / c) / bare:.2f} x bare)" for c in (4, 8, 16)))


def _rss_anon_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_memory(path: str) -> None:
    """Segment the memory-mapped movie at ``path``, sampling the process's anonymous memory.

    Anonymous memory (RssAnon) is what the pipeline allocates; pages of the memory-mapped
    input are file-backed, shared with the page cache and reclaimable, so they are
    reported apart (VmHWM includes them).
    """
    import threading

    movie = np.load(path, mmap_mode="r")
    peak = [_rss_anon_mib()]
    start = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_anon_mib())
            done.wait(0.02)

    from labelfree._threads import thread_count

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t = time.perf_counter()
    labels = motion.segment(movie)
    dt = time.perf_counter() - t
    done.set()
    th.join()
    with open("/proc/self/status") as fh:
        hwm = next(int(x.split()[1]) / 1024 for x in fh if x.startswith("VmHWM:"))
    print(f"memory, {thread_count()} thread(s): {movie.shape[0]} x {movie.shape[1]} x {movie.shape[2]} {movie.dtype} "
          "memory-mapped movie: "
          f"peak anonymous memory {peak[0]:.0f} MiB (at start {start:.0f} MiB; the label stack is "
          f"{labels.nbytes / 2**20:.0f} MiB), peak RSS incl. mapped input pages {hwm:.0f} MiB; {dt:.0f} s")


def measure_memory_capped(path: str, cores: int, left_mib: float) -> None:
    """:func:`measure_memory` as if the process had ``cores`` cores and ``left_mib`` MiB of memory
    left (``labelfree._threads`` told so): Motion's threads are capped by that memory."""
    import logging

    from labelfree import _threads

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("labelfree.motion").setLevel(logging.WARNING)
    _threads.available_cores = lambda: cores
    _threads.available_memory = lambda: int(left_mib * 2**20)
    print(f"{cores} cores and {left_mib:.0f} MiB of memory left, reported to labelfree._threads:")
    measure_memory(path)


def memory(n_frames: int = 200, size: int = 1024, capped: tuple[int, float] | None = None) -> None:
    """Peak memory of ``segment`` on a memory-mapped movie, on one thread and on every core; with
    ``capped`` = (cores, MiB left), once more as :func:`measure_memory_capped`."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "movie.npy")
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(n_frames, size, size))
        base, _ = datasets.synthetic_movie(n_frames=2, shape=(size, size), n_cells=30, cell_radius=30,
                                           dtype="uint16", seed=0)
        for t in range(n_frames):
            mm[t] = np.roll(base.values[t % 2], 3 * t, axis=1)
        mm.flush()
        del mm
        head = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); import motion_speed; "
        runs = [(f"motion_speed.measure_memory({path!r})", threads) for threads in ("1", "")]  # one thread, every core
        if capped is not None:
            runs.append((f"motion_speed.measure_memory_capped({path!r}, {capped[0]}, {capped[1]})", ""))
        for call, threads in runs:  # LABELFREE_THREADS empty: every core the process may use
            subprocess.run([sys.executable, "-c", head + call], check=True, env={**os.environ, "LABELFREE_THREADS": threads})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="also measure peak memory (200 x 1024^2 movie)")
    ap.add_argument("--memory-capped", nargs=2, type=float, metavar=("CORES", "MIB"),
                    help="only the peak memory, once more as if CORES cores and MIB MiB of memory were left")
    ap.add_argument("--config", action="append", default=[], help="JSON of MotionConfig fields: one more table")
    ap.add_argument("--scaling", action="store_true", help="only the per-pair times on 1 and on all cores")
    ap.add_argument("--frames", type=int, default=6, help="--scaling: frames of the movie (at most 25)")
    a = ap.parse_args()
    if a.memory_capped:
        memory(capped=(int(a.memory_capped[0]), a.memory_capped[1]))
        raise SystemExit(0)
    configs = [json.loads(extra) for extra in a.config]
    for extra in [{}, *configs]:
        scaling(a.repeats, extra, frames=a.frames)
    if a.scaling:
        raise SystemExit(0)
    # first with the allocator untouched: leaving retained_heap() fixes glibc's thresholds
    speed(a.repeats, MotionConfig(), "default MotionConfig()", heap=False)
    speed(a.repeats, MotionConfig(), "default MotionConfig()")
    speed(a.repeats, MotionConfig(**FAST), f"MotionConfig(**{FAST})")
    for extra in configs:
        speed(a.repeats, MotionConfig(**extra), f"MotionConfig(**{extra})")
    if a.memory:
        memory()
