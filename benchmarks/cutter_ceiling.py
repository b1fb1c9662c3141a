"""How far any per-cell intensity outline can go (issue 16): an oracle ceiling, no training.

The issue's targets on clumped nuclei ask Cutter for the same-mask watershed + 0.03 in mean
matched IoU. With the TRA blobs as seeds the watershed already divides the mask as an oracle
would (docs/benchmarks.md), so only a better outline towards the background could gain. This
script measures the best such outline the image allows: for every annotated cell matched by
the watershed of Cutter's default mask, it tries 48 iso-levels of the smoothed intensity
inside that cell's territory (its watershed region and an outer band of ``BAND`` times its
equivalent radius, at least 3 px; the lines to its neighbours kept) and keeps the level whose
region (connected to the cell's core, holes filled, optionally its convex hull) has the
highest IoU with the annotation. The level is chosen with the ground truth, so no rule that
draws outlines along the image's intensity can score more. Each level is chosen per cell, so
the ceiling is the mean over matched cells of those best IoUs (cells the watershed misses are
left out, as in the mean matched IoU).

Usage: python3 benchmarks/cutter_ceiling.py [--sets gowt1,sim+,msc,dsb2018,hela]
       [--sigmas 0,1,auto] [--hull]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cutter_defaults as cd

from labelfree.metrics import match_objects

BAND = 0.3  # of the equivalent radius
LEVELS = 48


def best_levels(ws: np.ndarray, truth: np.ndarray, image: np.ndarray, sigma: float, *,
                hull: bool = False) -> tuple[list[float], list[float]]:
    """Per annotated cell matched by ``ws``: (its IoU in ``ws``, the best IoU of an iso-level outline)."""
    from skimage.morphology import convex_hull_image
    from skimage.segmentation import expand_labels

    smooth = image.astype(np.float64)
    if sigma > 0:
        smooth = ndi.gaussian_filter(smooth, sigma)
    radius = np.sqrt(np.bincount(ws.ravel()) / np.pi)
    territory = expand_labels(ws, distance=float(max(BAND * radius[1:].max(), 3)))
    areas = np.bincount(truth.ravel())
    slices = ndi.find_objects(territory)
    given, best = [], []
    for g, p, iou in match_objects(ws, truth):
        width = max(BAND * radius[p], 3.0)
        sl = tuple(slice(max(a.start - 2, 0), a.stop + 2) for a in slices[p - 1])
        mine = ws[sl] == p
        own = (territory[sl] == p) & (ndi.distance_transform_edt(~mine) <= width)
        core = ndi.distance_transform_edt(mine) > width
        s, cell = smooth[sl], truth[sl] == g
        if not core.any():
            core = mine & (s >= s[mine].max())
        top = min(s[mine].max(), s[core].min())
        found = iou
        for level in np.linspace(s[own].min(), top, LEVELS):
            lab, n = ndi.label(core | (own & (s >= level)), structure=np.ones((3, 3)))
            kept = np.unique(lab[core])
            region = ndi.binary_fill_holes(np.isin(lab, kept[kept > 0]))
            if hull:
                region = convex_hull_image(region)
            inter = np.count_nonzero(region & cell)
            found = max(found, inter / (np.count_nonzero(region) + areas[g] - inter))
        given.append(iou)
        best.append(found)
    return given, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="gowt1,sim+,msc,dsb2018,hela")
    ap.add_argument("--sigmas", default="0,1,auto", help="smoothing of the intensity, px; auto: mask_smoothing")
    ap.add_argument("--hull", action="store_true", help="each outline's convex hull")
    args = ap.parse_args(argv)
    print(f"{'set':8s} {'sigma':>6s} {'cells':>6s} {'watershed':>10s} {'ceiling':>8s} {'ceiling p10/p50/p90':>22s}")
    for name, images, truth, markers, auto in cd.sets_and_scale(args.sets):
        ws = cd.watershed_same_mask(images, markers, auto)
        for text in args.sigmas.split(","):
            sigma = float(auto["mask_smoothing"]) if text == "auto" else float(text)
            given, best = [], []
            for w, t, im in zip(ws, truth, images):
                a, b = best_levels(w, t, im, sigma, hull=args.hull)
                given += a
                best += b
            q = np.quantile(best, [0.1, 0.5, 0.9])
            print(f"{name:8s} {sigma:6.2f} {len(best):6d} {np.mean(given):10.3f} {np.mean(best):8.3f} "
                  f"{q[0]:8.3f}/{q[1]:.3f}/{q[2]:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
