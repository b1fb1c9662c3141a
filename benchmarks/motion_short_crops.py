"""Motion on short, cropped movies: objects found against the cells in the crop.

Run: ``OMP_NUM_THREADS=1 python benchmarks/motion_short_crops.py [--frames 6] [--sizes 128,256,384,512] [--step 0.5]``

Crops of ``size`` x ``size`` px on a grid (steps of ``step`` x the size) of the real movies
with ground truth, ``frames`` frames each from a start with annotated frames (MSC frames 28-33:
manual masks of 28, 29, 30, 31, 33; GOWT1 0-5; SIM+ 0-5; HeLa 0-5), segmented with no
parameters. Per set and size: ``crops``; ``cells``, the mean count of cells per crop-frame
(CTC: tracking markers, one per cell in every frame; HeLa: its labels); ``found``, Motion's
mean object count per crop-frame; ``few``: crops with at least 3 cells in every frame where
Motion finds at most half of them (mean over the frames); ``one``: of these, crops with at
most one object in every frame; ``F1``: object F1 at IoU 0.5 over the annotated frames (MSC
and GOWT1 on annotated objects only: their masks are partial; "-": no annotated object);
``min_size``: the median automatic ``min_size`` over the crops; ``warned``: crops whose run
logged that its cell size rests on few objects; ``flow``: crops whose size no classified frame
checked (every one over half cell: the flow-only size stays); ``resized``: crops whose declumping
started at a larger cell size (flooded first frames) and then took the size the run settled on (it logs
so; versions before that log nothing); ``frag``: crops whose size check found fragments beside a larger cell
and kept the size (it logs so; versions before that log nothing); ``free``: crops that hold no cell in any of
their frames, ``free+``: of these, crops where Motion finds an object, ``max``: the most objects it finds in a
frame of one of them. Set ``PYTHONPATH`` to compare another
version. About 3 minutes on one core.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings

import numpy as np

from labelfree import datasets
from labelfree.metrics import evaluate
from labelfree.motion import segment

#: set -> (CTC name or time-lapse, first frame, scored only on annotated objects)
SETS = {"msc": ("Fluo-C2DL-MSC", 28, True), "gowt1": ("Fluo-N2DH-GOWT1", 0, True),
        "sim+": ("Fluo-N2DH-SIM+", 0, False), "hela": ("hela", 0, False)}


def load(name: str, frames: int) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray], bool]:
    """(movie, cells per frame as labels, annotated frame index -> masks, only_annotated) of a set."""
    source, start, partial = SETS[name]
    if source in datasets.TIMELAPSES:
        movie, truth = datasets.load_timelapse(source)
        truth = np.asarray(truth.values)[start:start + frames]
        return (np.asarray(movie.values)[start:start + frames], truth, dict(enumerate(truth)), partial)
    ds = datasets.load_ctc(source, "01", frames=range(start, start + frames))
    cells = np.stack([np.asarray(ds.tra[t]) for t in range(start, start + frames)])
    seg = {t - start: np.asarray(ds.seg[t]) for t in ds.seg_frames if start <= t < start + frames}
    return np.asarray(ds.movie.values), cells, seg, partial


class _Count(logging.Handler):
    """Counts the log records that say the automatic cell size rests on few objects, and those that say
    a classified frame checked it (any version: "minimum object size N px, closing radius")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.n = self.checked = self.resized = self.fragments = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        self.n += "rests on" in text
        self.checked += "minimum object size" in text and "flow-only" not in text
        self.resized += "touching cells split at a typical cell area" in text
        self.fragments += "are fragments of larger cells" in text


def windows(shape: tuple[int, int], size: int, fraction: float) -> list[tuple[int, int]]:
    step = max(1, round(size * fraction))
    return [(y, x) for y in range(0, shape[0] - size + 1, step) for x in range(0, shape[1] - size + 1, step)]


def count(labels: np.ndarray) -> np.ndarray:
    """Objects per frame of a (T, Y, X) label stack."""
    return np.array([np.unique(frame[frame > 0]).size for frame in labels])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--sizes", default="128,256,384,512")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--step", type=float, default=0.5, help="grid step as a fraction of the crop size")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    counter = _Count()
    motion_log = logging.getLogger("labelfree.motion")
    motion_log.addHandler(counter)
    motion_log.propagate = False  # counted, not printed
    motion_log.setLevel(logging.INFO)
    print(f"{args.frames}-frame crops, no parameters")
    print(f"{'set':<6} {'size':>4} {'crops':>5} {'cells':>6} {'found':>6} {'few':>4} {'one':>4} {'F1@0.5':>6} "
          f"{'min_size':>8} {'warned':>6} {'flow':>4} {'resized':>7} {'frag':>4} {'free':>4} {'free+':>5} {'max':>4} "
          f"{'s':>6}")
    for name in args.sets.split(","):
        movie, cells, seg, partial = load(name, args.frames)
        for size in sizes:
            rows, t0 = [], time.perf_counter()
            for y, x in windows(movie.shape[1:], size, args.step):
                seen, checked, resized, fragments = counter.n, counter.checked, counter.resized, counter.fragments
                box = (slice(None), slice(y, y + size), slice(x, x + size))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = segment(movie[box])
                labels = np.asarray(out.values)
                n_true, n_found = count(cells[box]), count(labels)
                few = bool(n_true.min() >= 3 and n_found.mean() <= 0.5 * n_true.mean())
                pred = np.stack([labels[t] for t in seg])
                truth = np.stack([m[box[1:]] for m in seg.values()])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # crops without annotated object
                    f1 = evaluate(pred, truth, only_annotated=partial)["f1"]
                rows.append((n_true.mean(), n_found.mean(), few, few and n_found.max() <= 1, f1,
                             out.attrs["labelfree"].get("min_size") or 0, counter.n > seen,
                             out.attrs["labelfree"].get("min_size") is not None and counter.checked == checked,
                             counter.resized > resized, counter.fragments > fragments, n_true.max() == 0,
                             n_found.max() if n_true.max() == 0 else 0))
            n_true, n_found, few, one, f1, min_size, warned, flow, moved, frag, free, free_found = (
                np.array(v, float) for v in zip(*rows))
            score = f"{np.nanmean(f1):>6.3f}" if np.isfinite(f1).any() else f"{'-':>6}"
            print(f"{name:<6} {size:>4} {len(rows):>5} {n_true.mean():>6.2f} {n_found.mean():>6.2f} "
                  f"{int(few.sum()):>4} "
                  f"{int(one.sum()):>4} {score} {np.median(min_size):>8.0f} {int(warned.sum()):>6} "
                  f"{int(flow.sum()):>4} {int(moved.sum()):>7} {int(frag.sum()):>4} {int(free.sum()):>4} "
                  f"{int((free_found > 0).sum()):>5} {int(free_found.max()):>4} {time.perf_counter() - t0:>6.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
