"""Drift correction benchmarks: estimation speed on a 200-frame 1024x1024 movie, and the
Motion pipeline's F1 on a drifted movie with and without correction.

Usage::

    python3 benchmarks/drift.py speed      # 200 x 1024 x 1024 movie from real GOWT1 frames
    python3 benchmarks/drift.py accuracy   # sub-pixel drift recovered on real frames (still and live scenes)
    python3 benchmarks/drift.py motion     # Motion F1 on Fluo-C2DL-MSC: undrifted / drifted / corrected
    python3 benchmarks/drift.py motion --integer   # the same with whole-pixel drift and correction

Speed is compared with the obvious reference measured in the same run:
``skimage.registration.phase_cross_correlation`` (upsample_factor=20) on every frame pair.
The machine's CPU may be shared, so read the ratio rather than the absolute times.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import tifffile
from scipy import ndimage as ndi

from labelfree.datasets import shared_data_root

DATA = shared_data_root() / "ctc"


def _frames(name: str) -> np.ndarray:
    files = sorted((DATA / name / "01").glob("t*.tif"))
    if not files:
        sys.exit(f"{DATA / name} is absent: this benchmark needs ../shared/data")
    return np.stack([tifffile.imread(f) for f in files])


def _drift(n: int, seed: int, end=(27.0, -24.0), jitter=3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = np.linspace(0, 1, n)[:, None] * np.array(end) + rng.uniform(-jitter, jitter, (n, 2))
    return np.clip(d - d[0], -30, 30)


def _drifted(frames: np.ndarray, drift: np.ndarray, margin: int) -> np.ndarray:
    h, w = frames.shape[1:]
    out = [ndi.shift(f.astype(np.float32), d, order=1, mode="nearest")[margin:h - margin, margin:w - margin]
           for f, d in zip(frames, drift)]
    return np.stack(out).astype(frames.dtype)


def bench_speed() -> None:
    import cv2
    from skimage.registration import phase_cross_correlation

    from labelfree.image import to_dataarray
    from labelfree.registration import apply_shifts, estimate_drift

    cv2.setNumThreads(1)
    gowt1 = _frames("Fluo-N2DH-GOWT1")
    n = 200
    cycle = np.concatenate([np.arange(len(gowt1)), np.arange(len(gowt1) - 2, 0, -1)])  # 0..91..1: real neighbours
    base = np.stack([np.pad(gowt1[cycle[t % len(cycle)]], 32, mode="reflect") for t in range(n)])
    movie = _drifted(base, _drift(n, 0), 32)  # 200 x 1024 x 1024 uint8
    da = to_dataarray(movie, dims="TYX")
    t0 = time.perf_counter()
    shifts = estimate_drift(da)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    corrected = apply_shifts(da, shifts, canvas="grow")
    t_apply = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in range(1, n):
        phase_cross_correlation(movie[t - 1], movie[t], upsample_factor=20)
    t_ref = time.perf_counter() - t0
    print(f"movie {movie.shape} {movie.dtype}; corrected canvas {corrected.shape[1:]}")
    print("| step | seconds | per frame ms | ratio to reference |")
    print("|---|---:|---:|---:|")
    print(f"| estimate_drift (band-pass, 5-peak NCC check, 1/20 px) | {t_ours:.2f} | {1000 * t_ours / n:.1f} "
          f"| {t_ours / t_ref:.2f} |")
    print(f"| apply_shifts (sub-pixel, grown canvas) | {t_apply:.2f} | {1000 * t_apply / n:.1f} | "
          f"{t_apply / t_ref:.2f} |")
    print(f"| reference: skimage phase_cross_correlation x{n - 1} (upsample 20) | {t_ref:.2f} | "
          f"{1000 * t_ref / n:.1f} | 1.00 |")


def _gt_stack(t_index: list[int]) -> np.ndarray:
    seg = DATA / "Fluo-C2DL-MSC" / "01_GT" / "SEG"
    return np.stack([tifffile.imread(seg / f"man_seg{t:03d}.tif") for t in t_index])


def _f1(labels: np.ndarray, gt: np.ndarray) -> dict:
    from labelfree.metrics import evaluate

    return evaluate(labels, gt)


def bench_motion(integer: bool = False) -> None:
    from labelfree.image import to_dataarray
    from labelfree.motion import segment
    from labelfree.registration import apply_shifts, correct_drift

    frames = _frames("Fluo-C2DL-MSC")
    seg = sorted((DATA / "Fluo-C2DL-MSC" / "01_GT" / "SEG").glob("man_seg*.tif"))
    annotated = [int(p.stem[7:]) for p in seg]
    gt_full = np.zeros(frames.shape, np.uint16)
    gt_full[annotated] = _gt_stack(annotated)
    margin = 32
    drift = _drift(len(frames), 1)
    if integer:  # whole-pixel drift corrected by whole-pixel shifts: no interpolation anywhere
        drift = np.round(drift)
    undrifted = frames[:, margin:-margin, margin:-margin]
    drifted = _drifted(frames, drift, margin)
    # ground truth moved exactly like the pixels (nearest neighbour)
    gt_drifted = np.stack([ndi.shift(g, d, order=0, mode="constant")[margin:-margin, margin:-margin]
                           for g, d in zip(gt_full, drift)])
    gt_undrifted = gt_full[:, margin:-margin, margin:-margin]

    def corrected_pair(movie, gt):
        """Correct a movie; move its ground truth by the same shifts (whole pixels)."""
        out, shifts = correct_drift(to_dataarray(movie, dims="TYX"), backend="python", canvas="crop",
                                    subpixel=not integer)
        moved = apply_shifts(to_dataarray(gt, dims="TYX"), shifts, canvas="crop", subpixel=False)
        return out, moved.reindex(Y=out.Y.values, X=out.X.values, fill_value=0)

    t0 = time.perf_counter()
    corr_d, gt_corr_d = corrected_pair(drifted, gt_drifted)
    t_corr = time.perf_counter() - t0
    corr_u, gt_corr_u = corrected_pair(undrifted, gt_undrifted)
    # both corrected movies live in the first frame's pixel coordinates: compare on their common field
    ys = np.intersect1d(corr_d.Y.values, corr_u.Y.values)
    xs = np.intersect1d(corr_d.X.values, corr_u.X.values)

    def common(da):
        return np.asarray(da.sel(Y=ys, X=xs).values)

    rows = []
    for name, movie, gt in (("undrifted, not corrected", undrifted, gt_undrifted),
                            ("drifted, not corrected", drifted, gt_drifted),
                            ("undrifted, corrected (python, crop), common field", common(corr_u), common(gt_corr_u)),
                            ("drifted, corrected (python, crop), common field", common(corr_d), common(gt_corr_d))):
        t0 = time.perf_counter()
        labels = np.asarray(segment(movie).values)
        elapsed = time.perf_counter() - t0
        scores = _f1(labels[annotated], gt[annotated].astype(np.uint16))
        rows.append((name, movie.shape, scores, elapsed))
    kind = "whole-pixel" if integer else "sub-pixel"
    print(f"drift applied: up to {np.abs(drift).max():.1f} px ({kind}); correction took {t_corr:.1f} s")
    print("| movie | shape | object F1 | precision | recall | Motion s |")
    print("|---|---|---:|---:|---:|---:|")
    for name, shape, s, el in rows:
        print(f"| {name} | {'x'.join(map(str, shape))} | {s['f1']:.3f} | {s['precision']:.3f} | "
              f"{s['recall']:.3f} | {el:.0f} |")


def _whole_frame_drift(movie: np.ndarray, reference: str) -> np.ndarray:
    """The sub-pixel estimate before the overlap refinement: the upsampled peak of the whole frames'
    correlation (what ``estimate_drift`` did until it measured the remainder on the common part)."""
    from labelfree.registration import DriftConfig
    from labelfree.registration._phase import bandpass_weights, edge_taper, measure_shift, prepare

    cfg = DriftConfig()
    frames = movie.astype(np.float32)
    weights = bandpass_weights(frames[0].shape, low_sigma=cfg.low_sigma, high_sigma=cfg.high_sigma)
    taper = edge_taper(frames[0].shape, fraction=cfg.taper)
    prepared = [prepare(f, weights=weights, taper=taper) for f in frames]
    drift = np.zeros((len(frames), 2))
    for t in range(1, len(frames)):
        ref = prepared[t - 1] if reference == "previous" else prepared[0]
        pair = measure_shift(ref[0], prepared[t][0], spectra=(ref[1], prepared[t][1]), n_peaks=cfg.n_peaks,
                             upsample=cfg.upsample)
        drift[t] = np.array(pair.shift) + (drift[t - 1] if reference == "previous" else 0)
    return drift


def _skimage_drift(movie: np.ndarray) -> np.ndarray:
    from skimage.registration import phase_cross_correlation

    steps = [-phase_cross_correlation(movie[t - 1], movie[t], upsample_factor=20)[0] for t in range(1, len(movie))]
    return np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def bench_accuracy() -> None:
    """Known sub-pixel drift recovered on real frames: a still scene (one frame drifted, fresh noise per
    frame) and a live one (the movie's own frames; the added drift is what the estimate on the drifted
    movie adds to the estimate on the original). RMS and largest error of the drift (px), and the
    shift's scale error: the slope of measured against true frame-to-frame steps, minus 1."""
    from labelfree.image import to_dataarray
    from labelfree.registration import estimate_drift

    n, margin = 16, 32
    rows = []
    for name, crop in (("Fluo-C2DL-MSC", (slice(100, 600), slice(100, 700))),
                       ("Fluo-N2DH-GOWT1", (slice(150, 750), slice(150, 750))),
                       ("Fluo-N2DH-SIM+", (slice(0, 500), slice(0, 600)))):
        frames = _frames(name)[:, crop[0], crop[1]].astype(np.float32)
        drift = _drift(n, 1)
        rng = np.random.default_rng(0)
        still = _drifted(np.repeat(frames[:1], n, 0), drift, margin)
        spread = float(np.percentile(still, 99.9) - np.percentile(still, 0.1))
        scenes = {"still, no noise": still,
                  "still, noise 5 %": still + rng.normal(0, 0.05 * spread, still.shape).astype(np.float32)}
        live_base = _drifted(frames[:n], np.zeros_like(drift), margin)
        live = _drifted(frames[:n], drift, margin)
        for scene, movie in scenes.items():
            for method in ("estimate_drift", "whole-frame peak (before)", "skimage (upsample 20)"):
                t0 = time.perf_counter()
                if method == "estimate_drift":
                    est = estimate_drift(to_dataarray(movie, dims="TYX"))[["dy", "dx"]].to_numpy()
                elif method.startswith("whole"):
                    est = _whole_frame_drift(movie, "previous")
                else:
                    est = _skimage_drift(movie)
                rows.append((name, scene, method, est, drift, time.perf_counter() - t0))
        for method in ("estimate_drift", "whole-frame peak (before)"):
            t0 = time.perf_counter()
            if method == "estimate_drift":
                def run(m):
                    return estimate_drift(to_dataarray(m, dims="TYX"))[["dy", "dx"]].to_numpy()
            else:
                def run(m):
                    return _whole_frame_drift(m, "previous")
            est = run(live) - run(live_base)
            rows.append((name, "live (own frames)", method, est, drift, (time.perf_counter() - t0) / 2))
    print(f"{n} frames each, drift a slide to (27, -24) px with +-3 px jitter (sub-pixel), {margin} px margin cut")
    print("| set | scene | method | RMS error px | largest px | scale error | s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, scene, method, est, truth, sec in rows:
        err = np.sqrt(np.sum((est - truth) ** 2, axis=1))
        steps, measured = np.diff(truth, axis=0).ravel(), np.diff(est, axis=0).ravel()
        slope = float(np.dot(steps, measured) / np.dot(steps, steps))
        print(f"| {name} | {scene} | {method} | {np.sqrt(np.mean(err ** 2)):.3f} | {err.max():.3f} | "
              f"{100 * (slope - 1):+.1f} % | {sec:.1f} |")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "speed"
    if which == "accuracy":
        bench_accuracy()
    elif which == "motion":
        bench_motion(integer="--integer" in sys.argv)
    else:
        bench_speed()
