"""Screen foreground-mask rules for Cutter's MSC target (issue 16) with the watershed proxy, no training.

Each rule changes Cutter's default mask (``mask_signal="local"``, automatic smoothing
``s0 = R / 15`` within 1-4 px, R the automatic cell radius); the mask is then divided by
the watershed of ``cutter_defaults.py`` (smoothed intensity, the same marker blobs, inside
the mask), which partitions a mask as well as Cutter does. The automatic values are those
of the default mask (measured once per set), so only the final mask changes.

- **intensity hysteresis** (``fw``, ``tw``, ``d``): the default mask as strong seeds plus
  the connected pixels that pass the local test with a lower fraction ``fw`` and noise floor
  ``tw`` (same smoothing, 9 px window), within ``d x R`` of the strong mask;
- **graph cut pairwise** (``w``, ``sigma``): other ``mask_max_weight`` / ``mask_sigma``;
- **ridge hysteresis** (``c``, ``aniso``): the default mask plus the connected bright-line
  pixels: the most negative eigenvalue ``l1`` of the Hessian at ``s0`` lies more than ``c``
  robust noise units (1.4826 MAD of ``l1`` over the image) below its median and the
  smoothed intensity at least 0.5 noise units above the background; with ``aniso``, only
  line-like pixels (``|l2| < aniso |l1|``) count; with ``area``, only the added parts
  (8-connected, outside the default mask) of at least ``area x s0^2`` pixels (MSC's faint
  thin protrusions; noise ridges are short).

Usage: python3 benchmarks/cutter_mask_screen.py [--sets msc,gowt1,sim+,dsb2018,hela] [--rules ridge]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cutter_defaults as cd

from labelfree.cutter.graphcut import background_and_noise, local_contrast_probability


def _config(auto: dict, **changes):
    from labelfree.cutter import CutterConfig

    return CutterConfig(**{"downscale": auto["downscale"], "marker_sigma": auto["marker_sigma"],
                           "mask_smoothing": auto["mask_smoothing"],
                           "mask_peak_window": auto.get("mask_peak_window", 9),
                           "mask_ridges": auto.get("mask_ridges", False), **changes})


def _default_mask(image: np.ndarray, points: np.ndarray, auto: dict, **changes) -> np.ndarray:
    from labelfree.cutter.prepare import foreground_mask

    return foreground_mask(image[None], _config(auto, **changes), markers=points)


def _grow(strong: np.ndarray, weak: np.ndarray, *, min_area: float = 0.0) -> np.ndarray:
    """``strong`` plus the 8-connected parts of ``weak`` outside it (of ``min_area`` px at least) that touch it, holes filled."""
    parts, n = ndi.label(weak & ~strong, structure=np.ones((3, 3)))
    keep = np.zeros(n + 1, bool)
    keep[np.unique(parts[ndi.binary_dilation(strong, structure=np.ones((3, 3)))])] = True
    keep &= np.bincount(parts.ravel(), minlength=n + 1) >= min_area
    keep[0] = False
    return ndi.binary_fill_holes(strong | keep[parts])


def intensity_hysteresis(image, points, auto, *, fw: float, tw: float, d: float) -> np.ndarray:
    strong = _default_mask(image, points, auto)
    smooth = ndi.gaussian_filter(image.astype(np.float64), auto["mask_smoothing"])
    weak = local_contrast_probability(smooth, fraction=fw, window=9, threshold=tw) > 0.5
    near = ndi.distance_transform_edt(~strong) <= max(d * auto["cell_size"]["radius"], 1.0)
    return _grow(strong, weak & near)


def ridge_hysteresis(image, points, auto, *, c: float, aniso: float | None = None, area: float = 0.0) -> np.ndarray:
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals

    strong = _default_mask(image, points, auto)
    s0, x = auto["mask_smoothing"], image.astype(np.float64)
    l2, l1 = hessian_matrix_eigvals(hessian_matrix(x, sigma=s0, order="rc", use_gaussian_derivatives=True))
    med = np.median(l1)
    mad = 1.4826 * np.median(np.abs(l1 - med))
    smooth = ndi.gaussian_filter(x, s0)
    b, s = background_and_noise(smooth)
    weak = (l1 < med - c * mad) & (smooth > b + 0.5 * s)
    if aniso is not None:
        weak &= np.abs(l2) < aniso * np.abs(l1)
    return _grow(strong, weak, min_area=area * s0**2)


RULES = {
    "intensity hysteresis fw 0.4 tw 1.0 d 0.1R": partial(intensity_hysteresis, fw=0.4, tw=1.0, d=0.1),
    "intensity hysteresis fw 0.3 tw 1.5 d 0.1R": partial(intensity_hysteresis, fw=0.3, tw=1.5, d=0.1),
    "intensity hysteresis fw 0.3 tw 1.0 d 0.1R": partial(intensity_hysteresis, fw=0.3, tw=1.0, d=0.1),
    "graph cut pairwise w 1 sigma 0.1": partial(_default_mask, mask_max_weight=1.0),
    "graph cut pairwise w 2 sigma 0.05": partial(_default_mask, mask_sigma=0.05),
    "ridge hysteresis c 2.5": partial(ridge_hysteresis, c=2.5),
    "ridge hysteresis c 3": partial(ridge_hysteresis, c=3.0),
    "ridge hysteresis c 2.5, line-like 0.5": partial(ridge_hysteresis, c=2.5, aniso=0.5),
    "ridge hysteresis c 2.5, line-like 0.25": partial(ridge_hysteresis, c=2.5, aniso=0.25),
    "ridge hysteresis c 4": partial(ridge_hysteresis, c=4.0),
    "ridge hysteresis c 2.5, parts >= 8 s0^2": partial(ridge_hysteresis, c=2.5, area=8.0),
    "ridge hysteresis c 2.5, parts >= 16 s0^2": partial(ridge_hysteresis, c=2.5, area=16.0),
    "ridge hysteresis c 2.5, parts >= 32 s0^2": partial(ridge_hysteresis, c=2.5, area=32.0),
}


def watershed_on(images: np.ndarray, markers: np.ndarray, auto: dict, rule) -> np.ndarray:
    """The watershed of ``cutter_defaults.watershed_same_mask`` inside the mask that ``rule`` draws."""
    return cd.watershed_in_masks(images, markers, lambda image, points: rule(image, points, auto))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(cd.SETS))
    ap.add_argument("--rules", default="", help="only the rules whose name contains this")
    args = ap.parse_args(argv)
    print(f"{'set':8s} {'mask':42s} {'pixF1':>6s} {'F1@0.5':>7s} {'meanIoU':>8s} {'dIoU':>8s}")
    for name, images, truth, markers, auto in cd.sets_and_scale(args.sets):
        base = cd._scores(cd.watershed_same_mask(images, markers, auto), truth)
        print(f"{name:8s} {'default (local 0.4 within 9 px)':42s} {base['pixel_f1']:6.3f} {base['f1']:7.3f} "
              f"{base['mean_iou']:8.4f}", flush=True)
        for label, rule in RULES.items():
            if args.rules not in label:
                continue
            r = cd._scores(watershed_on(images, markers, auto, rule), truth)
            print(f"{name:8s} {label:42s} {r['pixel_f1']:6.3f} {r['f1']:7.3f} {r['mean_iou']:8.4f} "
                  f"{r['mean_iou'] - base['mean_iou']:+8.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
