"""Cutter accuracy on Fluo-C2DL-MSC (whole cells) and marker detection on nuclei.

Part 1: the 18 ground-truth frames of ../shared/data/ctc/Fluo-C2DL-MSC/01 (832 x 992),
markers = the TRA marker blobs of each frame (their centroids, ids = track ids), one
graph-cut foreground mask per frame shared by all methods (``--mask-signal snr``: the
noise-normalised signal, parts without a marker dropped; ``intensity``: the authors'
input). Cutter trains ONE model per loss preset on the 18 frames (each step draws a
frame, as the authors' code does with several images; training stops at the loss
plateau) and applies it to every frame with three integrations: the authors' argmax;
+ clean-up (restricted to the mask, each cell's marker component, holes filled);
+ growth of the cells into unclaimed mask pixels (geodesic, or along the smoothed
intensity: a watershed seeded by the Cutter cells). The baseline is a marker-controlled
watershed of the smoothed intensity seeded by the same marker blobs inside the same mask.
SEG ground truth is sparse in 7 of the frames (2 cells annotated): every frame is
evaluated on annotated cells only (predicted objects that overlap no annotated cell
are ignored); "complete frames" repeats the scores on the 10 fully annotated frames.

``--mask-source motion`` replaces the graph cut by the Motion pipeline's foreground
(labelfree.motion.segment on the whole 48-frame movie, default config, labels > 0 on each
GT frame); ``--mask-source both`` uses the pixels in both masks. The mask is shared by
Cutter and the watershed baseline alike.

Part 2: markers detected from nucleus images against ground-truth centroids
(GOWT1: TRA markers of every nucleus; DSB2018: the 125 annotated nuclei); a detection
matches a centroid within 20 px (GOWT1, nucleus radius ~28 px) or 8 px (DSB2018,
radius ~10 px), one-to-one (Hungarian).

Usage: python3 benchmarks/cutter_accuracy.py [--steps 600] [--presets code,paper] [--width 16] [--threads 1]
       [--mask-source graphcut|motion|both] [--mask-signal snr|intensity] [--crop 64] [--marker-sigma 15] [--no-plateau-stop]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from labelfree.cutter import CutterConfig, detect_markers, markers_from_labels
from labelfree.cutter.prepare import foreground_mask
from labelfree.cutter.segment import apply_model, prepare_frames
from labelfree.cutter.train import train_cutter
from labelfree.metrics import evaluate

DATA = Path(os.environ.get("LABELFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_msc():
    root = DATA / "ctc" / "Fluo-C2DL-MSC"
    seg_files = sorted(glob.glob(str(root / "01_GT" / "SEG" / "man_seg*.tif")))
    frames = [Path(f).stem[len("man_seg"):] for f in seg_files]
    images = np.stack([tifffile.imread(root / "01" / f"t{n}.tif") for n in frames]).astype(np.float32)
    seg = np.stack([tifffile.imread(f) for f in seg_files])
    tra = np.stack([tifffile.imread(root / "01_GT" / "TRA" / f"man_track{n}.tif") for n in frames])
    return frames, images, seg, tra


def motion_masks(frames, config=None):
    """Motion pipeline foreground (labels > 0) of the whole movie at the GT frames, (T, Y, X) bool."""
    from labelfree.motion import segment as motion_segment

    root = DATA / "ctc" / "Fluo-C2DL-MSC" / "01"
    paths = sorted(root.glob("t*.tif"))
    movie = np.stack([tifffile.imread(p) for p in paths])
    index = {p.stem[1:]: i for i, p in enumerate(paths)}
    labels = np.asarray(motion_segment(movie, config=config))
    return labels[[index[n] for n in frames]] > 0


def watershed_baseline(image, markers, mask, *, smoothing=2.0):
    from skimage.segmentation import watershed

    seeds = np.where(mask | (markers > 0), markers, 0)
    return watershed(-ndi.gaussian_filter(image, smoothing), seeds, mask=mask | (markers > 0))


def scores(pred, gt, complete):
    allf = evaluate(pred, gt, only_annotated=True)
    comp = evaluate(pred[complete], gt[complete], only_annotated=False)
    return {"f1": allf["f1"], "mean_iou": allf["mean_iou"], "precision": allf["precision"], "recall": allf["recall"],
            "f1_complete": comp["f1"], "mean_iou_complete": comp["mean_iou"]}


def detection_scores(found, truth, match_px):
    if len(found) == 0:
        return 0.0, 0.0
    d = np.linalg.norm(found[:, None] - truth[None], axis=2)
    r, c = linear_sum_assignment(d)
    tp = int((d[r, c] <= match_px).sum())
    return tp / len(found), tp / len(truth)


def marker_detection():
    rows = []
    gowt = DATA / "ctc" / "Fluo-N2DH-GOWT1"
    for n in ("000", "030", "060", "091"):
        img = tifffile.imread(gowt / "01" / f"t{n}.tif")
        truth = markers_from_labels(tifffile.imread(gowt / "01_GT" / "TRA" / f"man_track{n}.tif"))[0]
        for method, kw in (("blob", dict(min_sigma=14, max_sigma=28, threshold=0.005)),
                           ("threshold", dict(min_sigma=12)), ("threshold", dict(min_sigma=12, log_scale=True))):
            found = detect_markers(img, method=method, **kw)
            method += " log" if kw.get("log_scale") else ""
            p, r = detection_scores(found, truth, 20)
            rows.append(("GOWT1 t" + n, method, len(truth), len(found), p, r))
    dsb = DATA / "misc" / "stardist_dsb2018"
    img = tifffile.imread(dsb / "img2d.tif")
    truth = markers_from_labels(tifffile.imread(dsb / "mask2d.tif"))[0]
    for method, kw in (("blob", dict(min_sigma=3, max_sigma=8, threshold=0.02)), ("threshold", dict(min_sigma=3)),
                       ("threshold", dict(min_sigma=3, log_scale=True))):
        found = detect_markers(img, method=method, **kw)
        method += " log" if kw.get("log_scale") else ""
        p, r = detection_scores(found, truth, 8)
        rows.append(("DSB2018", method, len(truth), len(found), p, r))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--presets", default="code,paper")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--downscale", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="write the results here as JSON")
    ap.add_argument("--skip-markers", action="store_true")
    ap.add_argument("--mask-source", default="graphcut", choices=("graphcut", "motion", "both"),
                    help="foreground mask shared by all methods: the graph cut, the Motion pipeline's labels > 0, "
                         "or their intersection")
    ap.add_argument("--motion-config", default="{}", help="JSON of MotionConfig fields for --mask-source motion|both")
    ap.add_argument("--mask-signal", default="snr", help="'snr' (default) or 'intensity' (the authors' graph cut input)")
    ap.add_argument("--snr-threshold", type=float, default=1.5)
    ap.add_argument("--mask-sigma", type=float, default=0.1, help="pairwise sigma of the graph cut (0.05 for intensity)")
    ap.add_argument("--crop", type=int, default=64, help="patch side after downscaling (px)")
    ap.add_argument("--marker-sigma", type=float, default=15.0)
    ap.add_argument("--no-plateau-stop", action="store_true", help="run all --steps")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    frames, images, seg, tra = load_msc()
    complete = np.array([len(np.unique(s)) >= len(np.unique(t)) for s, t in zip(seg, tra)])
    print(f"MSC: {len(frames)} GT frames {images.shape[1:]}, {complete.sum()} fully annotated, "
          f"{sum(len(np.unique(t)) - 1 for t in tra)} markers; torch threads {args.threads}", flush=True)
    t0 = time.perf_counter()
    snr = args.mask_signal == "snr"
    base_cfg = CutterConfig(
        mask_signal=args.mask_signal, mask_snr_threshold=args.snr_threshold, mask_keep_marked=snr,
        mask_sigma=args.mask_sigma if snr else 0.05, stop_at_plateau=not args.no_plateau_stop,
        mask_smoothing=2.0, redraw_boundaries=0.0,  # the settings of its tables (before the no-parameter defaults)
    )
    masks = np.ones(images.shape, bool)
    mask_name = {"graphcut": "graph cut {}", "motion": "motion", "both": "motion & graph cut {}"}[args.mask_source]
    mask_name = mask_name.format(args.mask_signal)
    if args.mask_source != "graphcut" and json.loads(args.motion_config):
        mask_name = mask_name.replace("motion", f"motion {args.motion_config}")
    if args.mask_source in ("motion", "both"):
        import cv2

        cv2.setNumThreads(args.threads)
        masks &= motion_masks(frames, json.loads(args.motion_config))
    if args.mask_source in ("graphcut", "both"):
        masks &= np.stack([foreground_mask(im[None], base_cfg, markers=markers_from_labels(t)[0])
                           for im, t in zip(images, tra)])
    t_mask = time.perf_counter() - t0
    jac = [float((m & (g > 0)).sum() / (m | (g > 0)).sum()) for m, g in zip(masks[complete], seg[complete])]
    print(f"mask ({mask_name}, {t_mask:.0f} s) pixel Jaccard on complete frames: mean {np.mean(jac):.3f}, "
          f"range {min(jac):.3f}-{max(jac):.3f}", flush=True)
    results = {}
    t0 = time.perf_counter()
    ws = np.stack([watershed_baseline(im, t, m) for im, t, m in zip(images, tra, masks)])
    results["watershed (same markers, same mask)"] = {**scores(ws, seg, complete), "seconds": time.perf_counter() - t0}
    clean = dict(restrict_to_mask=True, keep_marker_component=True, fill_cell_holes=True)
    integrations = {
        "argmax": dict(restrict_to_mask=False, keep_marker_component=False, fill_cell_holes=False, grow_into_mask="none"),
        "+clean-up": dict(clean, grow_into_mask="none"),
        "+clean-up+grow geodesic": dict(clean, grow_into_mask="geodesic"),
        "+clean-up+grow intensity": dict(clean, grow_into_mask="intensity"),
    }
    for preset in args.presets.split(","):
        cfg = base_cfg.replace(loss_preset=preset, n_steps=args.steps, width=args.width, downscale=args.downscale,
                               crop_size=args.crop, marker_sigma=args.marker_sigma,
                               grow_into_mask="intensity")  # frames keep the smoothed intensity
        t0 = time.perf_counter()
        _, prepared = prepare_frames(_movie(images), markers=tra, mask=masks, config=cfg)
        model = train_cutter([f.patch_set for f in prepared], config=cfg, progress=_report, device=args.device)
        t_train = time.perf_counter() - t0
        print(f"{preset}: {len(model.history)} steps in {t_train:.0f} s", flush=True)
        for name, fields in integrations.items():
            t0 = time.perf_counter()
            labels = apply_model(model, prepared, config=cfg.replace(**fields))
            row = f"cutter {preset} {len(model.history)} st, {name}"
            results[row] = {**scores(labels, seg, complete), "seconds": t_train + time.perf_counter() - t0}
            print(row, {k: round(v, 3) for k, v in results[row].items()}, flush=True)
    print(f"\nFluo-C2DL-MSC/01, 18 GT frames; masks ({mask_name}) {t_mask:.1f} s, "
          f"mask Jaccard {np.mean(jac):.3f}; CPU shared with other jobs")
    print(f"{'method':50s} {'meanIoU':>8s} {'F1@0.5':>7s} {'prec':>6s} {'rec':>6s} {'IoU cmpl':>9s} {'F1 cmpl':>8s} {'sec':>7s}")
    for name, r in results.items():
        print(f"{name:50s} {r['mean_iou']:8.3f} {r['f1']:7.3f} {r['precision']:6.3f} {r['recall']:6.3f} "
              f"{r['mean_iou_complete']:9.3f} {r['f1_complete']:8.3f} {r['seconds']:7.1f}")
    det = [] if args.skip_markers else marker_detection()
    if det:
        print(f"\n{'marker detection':16s} {'method':10s} {'truth':>6s} {'found':>6s} {'prec':>6s} {'recall':>7s}")
        for name, method, nt, nf, p, r in det:
            print(f"{name:16s} {method:10s} {nt:6d} {nf:6d} {p:6.3f} {r:7.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"msc": results, "markers": det}, indent=2, default=float))
    return 0


def _report(done, total, message):
    if done % 25 == 0:
        print(f"  step {done}/{total} {message}", flush=True)


def _movie(images):
    from labelfree.image import to_dataarray

    return to_dataarray(images, dims="TYX")


if __name__ == "__main__":
    sys.exit(main())
