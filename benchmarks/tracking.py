"""How well label ids follow cells across frames, on the real time-lapses with tracking ground truth.

Run: ``OMP_NUM_THREADS=1 python benchmarks/tracking.py [--quick] [--no-motion]``

The Cell Tracking Challenge sets of ``../shared/data/ctc`` give one marker per cell in every frame
(``TRA/man_trackNNN.tif``, label = track id; for SIM+ the marker is the whole cell). For each
ground-truth track and each pair of consecutive frames where it exists, the id under its marker (the
most common non-zero id, when non-zero ids cover at least half the marker; else 0: missed) is
compared between the two frames:

* ``found``: pairs where the cell is found in both frames;
* ``kept``: pairs where it keeps the same id (``kept|found``: of the found pairs, the linker's share);
* ``kept|gap``: of the cells found in two frames with only misses between (a gap), the share that keep
  their id (gap closing; equal to ``kept|found`` when nothing is missed);
* ``switch``: found in both frames under different ids;
* ``merged``: marker-frames whose id covers another marker of that frame too;
* ``whole``: tracks (two frames or more) found and kept in every pair.

Inputs, each linked by :func:`labelfree.labels.track_by_overlap` with each linker variant:

* ``gt``: the markers themselves, their ids shuffled in every frame (the linker alone);
* ``gt/3``: every third frame (cells move three times as far between frames);
* ``gt-20%``: a fifth of the cells of every frame removed at random (missed cells; ``found`` falls);
* ``gt+blank``: the middle frame left empty (a dropped frame); scored without that frame;
* ``gt+split``: every cell of the middle frame cut in two across its centre; scored without that frame;
* ``motion``: ``labelfree.motion.segment`` (default config, ``track=False``) on the first 30 frames
  (``--quick``: 6), then linked; ``motion(own)`` is Motion's default output, linked inside ``segment``.

About 2 minutes on one core (``--no-motion``: 1 minute).

``misc/laptrack_c2c12`` has instance labels but no track ids: it is listed with ``linked``, the share
of objects of frames 1.. that take an id of an earlier frame (with its frames 50 min apart, most
cells move more than their own width).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from labelfree import datasets
from labelfree.labels import track_by_overlap

#: linker variants compared in every row: name -> OverlapLinker keywords ("iou-only": frame-to-frame IoU
#: matching alone, step 1 of OverlapLinker, as before gap closing and centre links)
VARIANTS: dict[str, dict] = {
    "iou-only": {"max_gap": 0, "max_shift": 0},
    "default": {},
}
#: (set, frames of the gt rows, crop (y0, y1, x0, x1) and frames of the motion rows)
SETS = {
    "sim+": ("Fluo-N2DH-SIM+", 65, (0, 690, 0, 628), 30),
    "msc": ("Fluo-C2DL-MSC", 48, (0, 832, 0, 992), 30),
    "gowt1": ("Fluo-N2DH-GOWT1", 92, (0, 1024, 0, 1024), 30),
}


def marker_ids(pred: np.ndarray, markers: np.ndarray) -> dict[int, int]:
    """Track id -> the id of ``pred`` under its marker (0: missed) in one frame."""
    fg = markers > 0
    m, p = markers[fg].astype(np.int64), pred[fg].astype(np.int64)
    if not len(m):
        return {}
    size = np.bincount(m)
    top = int(p.max()) + 1
    pairs, counts = np.unique(m * top + p, return_counts=True)
    out: dict[int, tuple[int, int]] = {}
    covered = np.zeros(len(size), np.int64)
    for key, c in zip(pairs.tolist(), counts.tolist()):
        mid, pid = divmod(key, top)
        if pid:
            covered[mid] += c
            if c > out.get(mid, (0, 0))[1]:
                out[mid] = (pid, c)
    return {int(mid): (out[mid][0] if mid in out and 2 * covered[mid] >= size[mid] else 0)
            for mid in np.flatnonzero(size)}


def identity_scores(pred: np.ndarray, markers: np.ndarray) -> dict[str, float]:
    """The scores of the module docstring for a (T, Y, X) label stack against its (T, Y, X) markers."""
    per_frame = [marker_ids(p, m) for p, m in zip(pred, markers)]
    pairs = found = kept = switch = merged = cells = 0
    broken: set[int] = set()
    seen: dict[int, int] = {}
    last: dict[int, int] = {}  # track -> the id it was last found under
    gaps = gap_kept = 0
    for t, ids in enumerate(per_frame):
        cells += len(ids)
        taken = np.array([v for v in ids.values() if v])
        counts = np.unique(taken, return_counts=True)[1]
        merged += int(counts[counts > 1].sum())
        for track, pid in ids.items():
            seen[track] = seen.get(track, 0) + 1
            if pid:
                if track in last:
                    gaps += 1
                    gap_kept += last[track] == pid
                last[track] = pid
            if t == 0 or track not in per_frame[t - 1]:
                continue
            before = per_frame[t - 1][track]
            pairs += 1
            if before and pid:
                found += 1
                kept += before == pid
                switch += before != pid
            if not (before and pid and before == pid):
                broken.add(track)
    tracks = [k for k, n in seen.items() if n > 1]
    return {"pairs": pairs, "found": found / max(pairs, 1), "kept": kept / max(pairs, 1),
            "kept|found": kept / max(found, 1), "kept|gap": gap_kept / max(gaps, 1), "switch": switch,
            "merged": merged / max(cells, 1),
            "whole": sum(k not in broken for k in tracks) / max(len(tracks), 1)}


def shuffled(stack: np.ndarray, seed: int = 0) -> np.ndarray:
    """Every frame's ids replaced by a random permutation (the linker must find the identities)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(stack.shape, np.uint16)
    for t, frame in enumerate(stack):
        top = int(frame.max())
        lut = np.zeros(top + 1, np.uint16)
        lut[1:] = rng.permutation(top) + 1
        out[t] = lut[frame]
    return out


def split_in_two(frame: np.ndarray) -> np.ndarray:
    """Every object cut across its centre (rows above / below its mean row), the lower half a new id."""
    out = frame.astype(np.uint32).copy()
    top = int(frame.max())
    ys = np.nonzero(frame)[0]
    ids = frame[frame > 0].astype(np.int64)
    centre = np.bincount(ids, weights=ys, minlength=top + 1) / np.maximum(np.bincount(ids, minlength=top + 1), 1)
    yy = np.broadcast_to(np.arange(frame.shape[0])[:, None], frame.shape)
    lower = (frame > 0) & (yy > centre[frame])
    out[lower] += top
    return out


def miss(stack: np.ndarray, share: float = 0.2, seed: int = 0) -> np.ndarray:
    """Each object of each frame removed with probability ``share`` (cells a segmentation misses)."""
    rng = np.random.default_rng(seed)
    out = stack.copy()
    for frame in out:
        gone = np.flatnonzero(rng.random(int(frame.max()) + 1) < share)
        frame[np.isin(frame, gone[gone > 0])] = 0
    return out


def link(stack: np.ndarray, variant: dict) -> np.ndarray:
    return track_by_overlap(stack, **variant)


def gt_rows(name: str, markers: np.ndarray) -> list[dict]:
    rows = []
    mid = len(markers) // 2
    keep = [t for t in range(len(markers)) if t != mid]
    inputs = {
        "gt": (shuffled(markers), markers, None),
        "gt/3": (shuffled(markers[::3]), markers[::3], None),
        "gt-20%": (miss(shuffled(markers)), markers, None),
        "gt+blank": (np.concatenate([shuffled(markers)[:mid], np.zeros_like(markers[:1]),
                                     shuffled(markers)[mid + 1:]]), markers, keep),
        "gt+split": (np.concatenate([shuffled(markers)[:mid], split_in_two(markers[mid])[None].astype(np.uint16),
                                     shuffled(markers)[mid + 1:]]), markers, keep),
    }
    for what, (stack, truth, frames) in inputs.items():
        for vname, variant in VARIANTS.items():
            t0 = time.perf_counter()
            out = link(stack, variant)
            secs = time.perf_counter() - t0
            if frames is not None:
                out, truth_k = out[frames], truth[frames]
            else:
                truth_k = truth
            rows.append({"set": name, "input": what, "linker": vname, **identity_scores(out, truth_k), "s": secs})
    return rows


def motion_rows(name: str, movie: np.ndarray, markers: np.ndarray) -> list[dict]:
    from labelfree.motion import MotionConfig, segment

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        own = np.asarray(segment(movie))
        plain = np.asarray(segment(movie, config=MotionConfig(track=False)))
        secs = time.perf_counter() - t0
    rows.append({"set": name, "input": "motion(own)", "linker": "default", **identity_scores(own, markers),
                 "s": secs / 2})
    for vname, variant in VARIANTS.items():
        t0 = time.perf_counter()
        out = link(plain, variant)
        rows.append({"set": name, "input": "motion", "linker": vname, **identity_scores(out, markers),
                     "s": time.perf_counter() - t0})
    return rows


def c2c12_rows() -> list[dict]:
    _, labels = datasets.load_timelapse("c2c12")
    labels = np.asarray(labels)
    rows = []
    for vname, variant in VARIANTS.items():
        out = link(shuffled(labels), variant)
        first = {}
        for t, frame in enumerate(out):
            for i in np.unique(frame[frame > 0]).tolist():
                first.setdefault(i, t)
        later = [(t, i) for t, frame in enumerate(out) if t for i in np.unique(frame[frame > 0]).tolist()]
        linked = sum(first[i] < t for t, i in later) / max(len(later), 1)
        rows.append({"set": "c2c12", "input": "gt", "linker": vname, "linked": linked})
    return rows


def table(rows: list[dict]) -> str:
    cols = ["set", "input", "linker", "pairs", "found", "kept", "kept|found", "kept|gap", "switch", "merged", "whole",
            "linked", "s"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(*, quick: bool = False, with_motion: bool = True) -> list[dict]:
    rows = []
    for key, (name, n, box, n_motion) in SETS.items():
        ds = datasets.load_ctc(name)
        n = min(n, 24) if quick else n
        markers = np.stack([np.asarray(ds.tra[t]) for t in range(n)])
        rows += gt_rows(key, markers)
        if with_motion:
            y0, y1, x0, x1 = box
            m = n_motion if not quick else 6
            movie = np.asarray(ds.movie[:m, y0:y1, x0:x1])
            crop = np.stack([np.asarray(ds.tra[t])[y0:y1, x0:x1] for t in range(m)])
            rows += motion_rows(key, movie, crop)
    rows += c2c12_rows()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames")
    parser.add_argument("--no-motion", action="store_true", help="only the ground-truth inputs")
    args = parser.parse_args()
    print(table(run(quick=args.quick, with_motion=not args.no_motion)))


if __name__ == "__main__":
    main()
