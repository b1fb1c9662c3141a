"""Motion on a drift-corrected movie with zero-filled edges (as Fiji's Correct 3D Drift leaves them).

Fluo-C2DL-MSC/01 (48 frames) is registered with ``correct_drift(backend="python", canvas="same")``
(largest shift 26 px): every frame keeps the first frame's field of view, and the rows and columns
shifted in from outside are 0. Motion then runs with no parameters (a) on the movie as given,
undrifted and uncorrected (the reference), (b) with ``drift_correction="python"`` (the correction
made inside Motion) and (c) on the corrected movie given as input, as after a correction made
elsewhere. (b) gives labels on the input's frames, scored against the ground truth as given; for (c)
the 18 ground-truth frames are moved by the same shifts (rounded).
Pixel F1 and object F1@0.5 on annotated cells (*) and on all.

Usage: python3 benchmarks/motion_filled_edges.py   (about 1 minute on one core)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage as ndi


def main() -> int:
    from labelfree import datasets, motion
    from labelfree.metrics import evaluate
    from labelfree.registration import correct_drift

    data = datasets.load_ctc("Fluo-C2DL-MSC", "01")
    corrected, shifts = correct_drift(data.movie, backend="python", canvas="same")
    frames = sorted(int(k) for k in data.seg.keys() if int(k) > 0)
    truth = np.stack([np.asarray(data.seg[t]) for t in frames])
    moved = []
    for t, g in zip(frames, truth):
        row = shifts[shifts["frame"] == t].iloc[0]
        moved.append(ndi.shift(g, (-round(float(row["dy"])), -round(float(row["dx"]))), order=0))
    runs = (
        ("as given, no correction (reference)", lambda: motion.segment(data.movie), truth),
        ('drift_correction="python"', lambda: motion.segment(data.movie, config={"drift_correction": "python"}),
         truth),
        ("corrected elsewhere, zero-filled edges", lambda: motion.segment(np.asarray(corrected.values)),
         np.stack(moved)),
    )
    print(f"largest shift {float(np.abs(shifts[['dy', 'dx']].to_numpy()).max()):.1f} px")
    print(f"{'movie':42s} {'pixF1*':>7s} {'objF1*':>7s} {'pixF1':>7s} {'objF1':>7s}")
    for name, run, gt in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = run().values[frames]
        a, f = evaluate(labels, gt, only_annotated=True), evaluate(labels, gt)
        print(f"{name:42s} {a['pixel_f1']:7.3f} {a['f1']:7.3f} {f['pixel_f1']:7.3f} {f['f1']:7.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
