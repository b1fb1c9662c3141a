"""Motion on real time-lapses whose brightness changes over time: bleaching, flicker, one over-exposed frame.

Run: ``OMP_NUM_THREADS=1 python benchmarks/motion_brightness.py [--sets msc,gowt1,sim+,hela]``

Each movie of ``../shared/data`` (a clip of its first frames, stated in the table) is segmented with
no parameters, beside Otsu + Motion's clean-up (``motion_accuracy.baselines``), as given and in three
modified versions that keep its integer dtype. Only the signal above the camera offset (the movie's
0.5th percentile) changes; the background level stays:

* ``as given``;
* ``bleached``: frame t's signal x exp(-t / tau), tau such that the last frame keeps 35 %;
* ``flicker``: each frame's signal x a random factor in 0.9..1.1 (seeded);
* ``3x frame``: the middle frame's signal x 3, clipped to the dtype (one frame of another exposure).

Scores: pixel F1 and object F1 at IoU 0.5 over the clip's ground-truth frames, on annotated
objects (as ``benchmarks/defaults.py``: MSC and GOWT1 have sparse ground truth). About 4 minutes on one core.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from labelfree import datasets
from labelfree.metrics import evaluate

HERE = Path(__file__).resolve().parent
#: what the last frame of the bleached movie keeps of the first frame's signal
BLEACH_LEFT = 0.35
CONDITIONS = ("as given", "bleached", "flicker", "3x frame")


def _accuracy_module():
    spec = importlib.util.spec_from_file_location("motion_accuracy", HERE / "motion_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ctc(name: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Frames start..stop-1 of a CTC movie, the ground truth of those after the first, their clip indices."""
    data = datasets.load_ctc(name, "01", frames=range(start, stop))
    scored = sorted(int(t) for t in data.seg.keys() if start < int(t) < stop)
    return (np.asarray(data.movie.values), np.stack([np.asarray(data.seg[t]) for t in scored]),
            [t - start for t in scored])


def _sets() -> dict[str, tuple]:
    """name -> loader of (movie, ground truth of the scored frames, scored frames)."""
    def hela():
        movie, truth = datasets.load_timelapse("hela")
        scored = list(range(1, movie.shape[0]))
        return np.asarray(movie.values), np.asarray(truth.values)[scored], scored

    # GOWT1 frames 20-40: four frames with every nucleus annotated (21, 31, 33, 39) among sparse ones
    return {"msc": lambda: _ctc("Fluo-C2DL-MSC", 0, 48), "gowt1": lambda: _ctc("Fluo-N2DH-GOWT1", 20, 41),
            "sim+": lambda: _ctc("Fluo-N2DH-SIM+", 0, 16), "hela": hela}


def _scaled(movie: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``movie`` with each frame's signal above the camera offset multiplied by its gain, in its dtype."""
    offset = float(np.percentile(movie[:, ::4, ::4], 0.5))
    info = np.iinfo(movie.dtype)
    out = np.empty_like(movie)
    for t, gain in enumerate(gains):
        value = offset + (movie[t].astype(np.float64) - offset) * gain
        out[t] = np.clip(np.rint(value), info.min, info.max).astype(movie.dtype)
    return out


def modified(movie: np.ndarray, condition: str, *, seed: int = 0) -> np.ndarray:
    """``movie`` (T, Y, X) of an integer dtype under one of ``CONDITIONS``."""
    n = movie.shape[0]
    if condition == "as given":
        return movie
    if condition == "bleached":
        tau = (n - 1) / np.log(1 / BLEACH_LEFT)
        return _scaled(movie, np.exp(-np.arange(n) / tau))
    if condition == "flicker":
        return _scaled(movie, np.random.default_rng(seed).uniform(0.9, 1.1, n))
    if condition == "3x frame":
        gains = np.ones(n)
        gains[n // 2] = 3.0
        return _scaled(movie, gains)
    raise ValueError(f"condition {condition!r}: expected one of {CONDITIONS}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="msc,gowt1,sim+,hela")
    args = parser.parse_args(argv)
    accuracy = _accuracy_module()
    loaders = _sets()
    print("method 'motion' has no parameters; F1 on annotated objects; d = change against 'as given'")
    print(f"{'set':<6} {'frames':>6} {'condition':<9} {'method':<10} {'pixel F1':>8} {'d':>7} {'F1@0.5':>7} "
          f"{'d':>7} {'s':>6}")
    clips = {"msc": "0-47", "gowt1": "20-40", "sim+": "0-15", "hela": "0-19"}
    for name in (s.strip() for s in args.sets.split(",")):
        movie, truth, scored = loaders[name]()
        first: dict[str, tuple[float, float]] = {}
        for condition in CONDITIONS:
            t0 = time.perf_counter()
            preds, _ = accuracy.run_full(modified(movie, condition), scored, ("motion", "otsu+post"))
            seconds = time.perf_counter() - t0
            for method in ("motion", "otsu+post"):
                result = evaluate(preds[method], truth, only_annotated=True)
                pix, obj = result["pixel_f1"], result["f1"]
                first.setdefault(method, (pix, obj))
                print(f"{name:<6} {clips[name]:>6} {condition:<9} {method:<10} {pix:>8.3f} "
                      f"{pix - first[method][0]:>+7.3f} {obj:>7.3f} {obj - first[method][1]:>+7.3f} "
                      f"{seconds if method == 'motion' else 0.0:>6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
