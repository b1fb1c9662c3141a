"""Per-cell boundary steps on the watershed of Cutter's default mask (issue 16), no training.

Cutter's default foreground (``mask_signal="local"``) is partitioned by the watershed of
``cutter_defaults.py`` (smoothed intensity, seeded by the same markers, inside the mask).
Each step below then moves every cell's outline where the image says, inside a band of
``BAND`` times the cell's equivalent radius around its outline (at least 2 px), with
neighbours kept apart by the partition (only outlines that face the background move;
the lines between two cells stay, except in the last step):

- **iso-level, steepest**: per cell, among 33 iso-levels of the smoothed intensity between
  the noise floor (background + 1.5 noise units) and its peak, the one whose outer contour
  has the highest mean gradient magnitude (a blurred step is steepest at half height);
- **iso-level, LoG zero**: the highest such level whose outer contour has a mean Laplacian
  of Gaussian >= 0 (the contour crosses from the convex top to the concave foot);
- **LoG sign**: per pixel, inside where the Laplacian of Gaussian is negative (the
  Marr-Hildreth edge), above the noise floor, the part connected to the cell, holes filled;
- **closing**: each cell closed with a disk of ``BAND`` times its radius, added pixels
  unlabelled and above the noise floor (notches between the bright spots of a textured
  nucleus);
- **convex hull**: each cell filled to its convex hull, added pixels unlabelled and above the
  noise floor (the closing taken as far as it goes);
- **own-outline level, growth**: each cell grows into its outer band where the smoothed
  intensity reaches the median of its own outline (the pixels that face the background),
  connected to it, holes filled (the outline made an iso-line of the cell's own edge level);
- **own-outline level, gaps**: pixels of a cell within its band of a line it shares with
  another cell become background where the smoothed intensity is below the median of its
  own outline facing the background (a gap between two cells is as dark as their edges).

Smoothing, gradient and Laplacian use the automatic ``mask_smoothing`` (radius / 15, 1-4 px).
The diagnostic rows give, over annotated cells, the median signed distance (px, + outward)
from the ground-truth outline of: the watershed's outline (the centres of its inner pixels;
a perfect outline gives -0.5), the zero crossing of the mean LoG profile across the outline
and the maximum of the mean gradient profile.

``--masks``: instead, the watershed on Cutter's mask with other ``mask_peak_fraction`` /
``mask_peak_window`` pairs (the automatic smoothing of the default mask kept).

Usage: python3 benchmarks/cutter_boundary.py [--sets msc,gowt1,sim+,dsb2018,hela] [--masks]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cutter_defaults as cd

from labelfree.cutter.graphcut import background_and_noise

BAND = 0.2  # of the equivalent radius, as redraw_boundaries
FLOOR = 1.5  # noise units, as mask_snr_threshold
_CROSS = ndi.generate_binary_structure(2, 1)


def _bands(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cores (cell pixels deeper than the band from the background) and territories (cells + outer band)."""
    from skimage.segmentation import expand_labels

    radius = np.sqrt(np.bincount(labels.ravel()) / np.pi)
    width = np.maximum(BAND * radius, 2.0)
    width[0] = 0
    bg = labels == 0
    cores = np.where(ndi.distance_transform_edt(~bg) > width[labels], labels, 0)
    near = expand_labels(labels, distance=float(width.max()))
    territory = np.where(~bg | (ndi.distance_transform_edt(bg) <= width[near]), near, 0)
    return cores, territory


def _shared(territory: np.ndarray) -> np.ndarray:
    """Pixels of a label image (cells or territories) that touch another label."""
    big = np.iinfo(np.int64).max
    t = territory.astype(np.int64)
    hi = ndi.maximum_filter(t, 3)
    lo = ndi.minimum_filter(np.where(t > 0, t, big), 3)
    return (t > 0) & (((hi != t) & (hi > 0)) | ((lo != t) & (lo != big)))


def _connected_filled(region: np.ndarray, core: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(region, structure=np.ones((3, 3)))
    if n > 1:
        keep = np.unique(lab[core])
        region = np.isin(lab, keep[keep > 0])
    return ndi.binary_fill_holes(region)


def iso_level(labels: np.ndarray, image: np.ndarray, sigma: float, *, rule: str) -> np.ndarray:
    """Per cell, the iso-level of the smoothed intensity chosen by ``rule`` ("steepest" or "log_zero")."""
    image = image.astype(np.float64)
    smooth = ndi.gaussian_filter(image, sigma)
    feature = (ndi.gaussian_gradient_magnitude(image, sigma) if rule == "steepest"
               else ndi.gaussian_laplace(image, sigma))
    b, s = background_and_noise(smooth)
    cores, territory = _bands(labels)
    shared = _shared(territory)
    out = labels.copy()
    for k, sl in enumerate(ndi.find_objects(territory), start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(a.start - 1, 0), a.stop + 1) for a in sl)
        own, mine, core, i_k = territory[sl] == k, labels[sl] == k, cores[sl] == k, smooth[sl]
        if not core.any():
            continue
        top, bottom = min(i_k[mine].max(), i_k[core].min()), b + FLOOR * s
        scores, regions = [], []
        for level in np.linspace(top, bottom, 33):
            region = _connected_filled(core | (own & (i_k >= level)), core)
            edge = region & ~ndi.binary_erosion(region, _CROSS) & ~shared[sl]
            if edge.sum() >= 8:
                scores.append(feature[sl][edge].mean())
                regions.append(region)
        if not scores:
            continue
        scores = np.array(scores)
        if rule == "steepest":
            j = int(np.argmax(scores))
        else:
            hit = np.nonzero(scores >= 0)[0]
            j = int(hit[0]) if len(hit) else len(scores) - 1
        o = out[sl]
        o[mine & ~regions[j]] = 0
        o[regions[j] & own] = k
    return out


def log_sign(labels: np.ndarray, image: np.ndarray, sigma: float) -> np.ndarray:
    """Per pixel in the band: inside where the Laplacian of Gaussian is negative (above the noise floor)."""
    image = image.astype(np.float64)
    smooth = ndi.gaussian_filter(image, sigma)
    b, s = background_and_noise(smooth)
    inside = (ndi.gaussian_laplace(image, sigma) < 0) & (smooth > b + FLOOR * s)
    cores, territory = _bands(labels)
    candidate = np.where((cores > 0) | ((territory > 0) & inside), territory, 0)
    out = np.zeros_like(labels)
    for k, sl in enumerate(ndi.find_objects(territory), start=1):
        if sl is None:
            continue
        core = cores[sl] == k
        if not core.any():
            out[sl][labels[sl] == k] = k
            continue
        out[sl][_connected_filled(candidate[sl] == k, core) & (territory[sl] == k)] = k
    return out


def _fill_free(labels: np.ndarray, image: np.ndarray, sigma: float, fill) -> np.ndarray:
    """Each cell k grown to ``fill(labels, k, box)`` -> (box, mask in it); added pixels unlabelled and above the
    noise floor."""
    smooth = ndi.gaussian_filter(image.astype(np.float64), sigma)
    b, s = background_and_noise(smooth)
    free = (smooth > b + FLOOR * s) & (labels == 0)
    out = labels.copy()
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        sl, filled = fill(labels, k, sl)
        o = out[sl]
        o[filled & free[sl] & (o == 0)] = k
    return out


def closing(labels: np.ndarray, image: np.ndarray, sigma: float) -> np.ndarray:
    """Each cell closed with a disk of BAND x its radius; added pixels unlabelled and above the noise floor."""
    from skimage.morphology import disk

    def closed(labels: np.ndarray, k: int, sl: tuple) -> tuple[tuple, np.ndarray]:
        r = max(round(BAND * np.sqrt((labels[sl] == k).sum() / np.pi)), 1)
        sl = tuple(slice(max(a.start - r - 1, 0), a.stop + r + 1) for a in sl)
        mine = np.pad(labels[sl] == k, r + 1)
        return sl, ndi.binary_fill_holes(ndi.binary_closing(mine, structure=disk(r)))[r + 1:-r - 1, r + 1:-r - 1]

    return _fill_free(labels, image, sigma, closed)


def convex_hull(labels: np.ndarray, image: np.ndarray, sigma: float) -> np.ndarray:
    """Each cell filled to its convex hull; added pixels unlabelled and above the noise floor."""
    from skimage.morphology import convex_hull_image

    def hull(labels: np.ndarray, k: int, sl: tuple) -> tuple[tuple, np.ndarray]:
        mine = labels[sl] == k
        return sl, convex_hull_image(mine) if mine.sum() >= 5 else mine

    return _fill_free(labels, image, sigma, hull)


def own_level_growth(labels: np.ndarray, image: np.ndarray, sigma: float) -> np.ndarray:
    """Each cell grows into its outer band where the smoothed intensity reaches the median of its own outline."""
    smooth = ndi.gaussian_filter(image.astype(np.float64), sigma)
    _, territory = _bands(labels)
    outline = (labels > 0) & ndi.binary_dilation(labels == 0, _CROSS)
    out = labels.copy()
    for k, sl in enumerate(ndi.find_objects(territory), start=1):
        if sl is None:
            continue
        mine, own = labels[sl] == k, territory[sl] == k
        edge = outline[sl] & mine
        if edge.sum() < 8:
            continue
        grown = _connected_filled(mine | (own & (smooth[sl] >= np.median(smooth[sl][edge]))), mine) & own
        out[sl][grown] = k
    return out


def own_level_gaps(labels: np.ndarray, image: np.ndarray, sigma: float) -> np.ndarray:
    """Pixels near a line shared with another cell, darker than the median of the cell's own outline, become background."""
    smooth = ndi.gaussian_filter(image.astype(np.float64), sigma)
    radius = np.sqrt(np.bincount(labels.ravel()) / np.pi)
    width = np.maximum(BAND * radius, 2.0)
    line = _shared(labels)
    near = ndi.distance_transform_edt(~line) <= width[labels]
    outline = (labels > 0) & ndi.binary_dilation(labels == 0, _CROSS) & ~line
    out = labels.copy()
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        mine = labels[sl] == k
        edge = outline[sl] & mine
        if edge.sum() < 8:
            continue
        keep = mine & ~(near[sl] & (smooth[sl] < np.median(smooth[sl][edge])))
        lab, n = ndi.label(keep, structure=np.ones((3, 3)))
        if n > 1:
            keep = lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1
        out[sl][mine & ~ndi.binary_fill_holes(keep)] = 0
    return out


STEPS = {"iso-level, steepest": lambda *a: iso_level(*a, rule="steepest"),
         "iso-level, LoG zero": lambda *a: iso_level(*a, rule="log_zero"),
         "LoG sign": log_sign, "closing": closing, "convex hull": convex_hull,
         "own-outline level, growth": own_level_growth,
         "own-outline level, gaps": own_level_gaps}

#: (mask_peak_fraction, mask_peak_window) pairs of ``--masks`` (the default is 0.4, 9)
MASKS = ((0.3, 9), (0.5, 9), (0.4, 7), (0.4, 13))


def edge_offsets(labels: np.ndarray, truth: np.ndarray, image: np.ndarray, sigma: float) -> dict[str, list[float]]:
    """Per annotated cell: signed distances (px) from its outline of the watershed outline, the LoG zero, the steepest gradient."""
    image = image.astype(np.float64)
    lap, grad = ndi.gaussian_laplace(image, sigma), ndi.gaussian_gradient_magnitude(image, sigma)
    edges = np.arange(-4.0, 4.01, 0.5)
    centres = (edges[:-1] + edges[1:]) / 2
    found: dict[str, list[float]] = {"watershed outline": [], "LoG zero": [], "steepest gradient": []}
    for k, sl in enumerate(ndi.find_objects(truth), start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(a.start - 10, 0), a.stop + 10) for a in sl)
        cell = truth[sl] == k
        if cell.sum() < 30:
            continue
        sd = np.where(cell, 0.5 - ndi.distance_transform_edt(cell), ndi.distance_transform_edt(~cell) - 0.5)
        alone = ~ndi.binary_dilation((truth[sl] > 0) & ~cell, iterations=8)  # away from other cells
        bins = np.digitize(sd, edges) - 1
        ok = alone & (bins >= 0) & (bins < len(centres))
        count = np.bincount(bins[ok], minlength=len(centres))
        if (count == 0).sum() > 2:
            continue
        has = count > 0
        p_lap = (np.bincount(bins[ok], weights=lap[sl][ok], minlength=len(centres)) / np.maximum(count, 1))[has]
        p_grad = (np.bincount(bins[ok], weights=grad[sl][ok], minlength=len(centres)) / np.maximum(count, 1))[has]
        c = centres[has]
        i = int(np.argmin(p_lap))
        j = i + int(np.argmax(p_lap[i:] >= 0))
        if p_lap[j] >= 0 and j > 0:
            found["LoG zero"].append(c[j - 1] + (c[j] - c[j - 1]) * -p_lap[j - 1] / (p_lap[j] - p_lap[j - 1]))
        found["steepest gradient"].append(float(c[np.argmax(p_grad)]))
        ids = np.bincount(labels[sl][cell])
        ids[0] = 0
        if ids.max():
            mine = labels[sl] == ids.argmax()
            outline = mine & ~ndi.binary_erosion(mine, _CROSS) & alone
            if outline.any():
                found["watershed outline"].append(float(sd[outline].mean()))
    return found


def _watershed_on_mask(images: np.ndarray, markers: np.ndarray, config) -> np.ndarray:
    """``cutter_defaults.watershed_same_mask`` on the mask of another config."""
    from labelfree.cutter.prepare import foreground_mask

    return cd.watershed_in_masks(images, markers, lambda image, points: foreground_mask(image[None], config,
                                                                                      markers=points))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(cd.SETS))
    ap.add_argument("--masks", action="store_true", help="score other local-peak masks instead of the steps")
    args = ap.parse_args(argv)
    print(f"{'set':8s} {'method':38s} {'pixF1':>6s} {'F1@0.5':>7s} {'meanIoU':>8s} {'dIoU':>7s} {'sec':>6s}")
    for name, images, truth, markers, auto in cd.sets_and_scale(args.sets):
        sigma = float(auto["mask_smoothing"])
        ws = cd.watershed_same_mask(images, markers, auto)
        base = cd._scores(ws, truth)
        print(f"{name:8s} {'watershed (same markers, same mask)':38s} {base['pixel_f1']:6.3f} {base['f1']:7.3f} "
              f"{base['mean_iou']:8.3f}", flush=True)
        if args.masks:
            from labelfree.cutter import CutterConfig

            for fraction, window in MASKS:
                cfg = CutterConfig(downscale=auto["downscale"], marker_sigma=auto["marker_sigma"], mask_smoothing=sigma,
                                   mask_peak_fraction=fraction, mask_peak_window=window,
                                   mask_ridges=auto.get("mask_ridges"))
                r = cd._scores(_watershed_on_mask(images, markers, cfg), truth)
                print(f"{name:8s} {f'  mask {fraction:g} of the peak within {window} px':38s} {r['pixel_f1']:6.3f} "
                      f"{r['f1']:7.3f} {r['mean_iou']:8.3f} {r['mean_iou'] - base['mean_iou']:+7.3f}", flush=True)
            continue
        for step, fn in STEPS.items():
            t0 = time.perf_counter()
            out = np.stack([fn(w, im, sigma) for w, im in zip(ws, images)])
            r = cd._scores(out, truth)
            print(f"{name:8s} {'  + ' + step:38s} {r['pixel_f1']:6.3f} {r['f1']:7.3f} {r['mean_iou']:8.3f} "
                  f"{r['mean_iou'] - base['mean_iou']:+7.3f} {time.perf_counter() - t0:6.1f}", flush=True)
        offsets: dict[str, list[float]] = {}
        for w, g, im in zip(ws, truth, images):
            for key, values in edge_offsets(w, g, im, sigma).items():
                offsets.setdefault(key, []).extend(values)
        print(f"{name:8s} offsets from the GT outline (median px, + outward; sigma {sigma:g} px): "
              + ", ".join(f"{k} {np.median(v):+.2f}" for k, v in offsets.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
