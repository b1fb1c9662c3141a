"""Cutter's automatic local-peak window on every set: chosen by marker coverage alone, and with the growth rule.

What: ``labelfree.cutter.segment.resolve_scale`` (the automatic scale, no training) with no config on

- the five sets of ``benchmarks/cutter_defaults.py`` (msc, gowt1, sim+ with their TRA markers; dsb2018, hela with
  centroids as markers), as given and at half size (images resized linearly, markers with nearest neighbour);
- the PyPI sets of ``benchmarks/external_sets.py`` (bbbc007: each of its 14 images; laptrack: each of its 6 frames;
  cho: frames 0, 5, 10, 15, 19 of its projection), with no markers (Cutter detects them), as Cutter runs there.
  Skipped when the files cannot be fetched.

For each call: the markers' coverage of the local test with windows of 9, 7, 5, 3 px (``marker_coverage``), the
typical cells' worth of pixels each smaller window calls beyond 9 px for each marker it adds (``window_growth``),
the window that coverage alone chooses (the largest within 0.02 of the best: the rule before) and the window chosen
(only windows that add at most PEAK_WINDOW_GROWTH cells' worth per marker compete). Sets of several calls print
the windows of each call and the range of the growth.

Usage: OMP_NUM_THREADS=1 python3 benchmarks/cutter_peak_window.py [--sets msc,gowt1,...] [--no-external]
(about 2 minutes on one core.)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cutter_defaults as cd
import external_sets as ext

from labelfree.cutter.prepare import widest_covering_window


def _half(images: np.ndarray, markers):
    from skimage.transform import resize

    shape = tuple(int(round(s / 2)) for s in images.shape[1:])
    small = np.stack([resize(f, shape, order=1, preserve_range=True, anti_aliasing=True) for f in images])
    if markers.ndim == 3:
        markers = np.stack([resize(m, shape, order=0, preserve_range=True, anti_aliasing=False).astype(m.dtype)
                            for m in markers])
    else:
        markers = markers.astype(np.float64).copy()
        markers[:, 1:] = (markers[:, 1:] + 0.5) / 2 - 0.5
    return small.astype(np.float32), markers


def trial(images: np.ndarray, markers) -> dict:
    """The automatic window of one Cutter call on ``images`` (T, Y, X) with ``markers`` (None: detected)."""
    from labelfree.cutter import CutterConfig
    from labelfree.cutter.segment import resolve_scale
    from labelfree.image import to_dataarray

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, record, _ = resolve_scale(to_dataarray(images, dims="TYX"), CutterConfig(), markers=markers)
    coverage = {int(w): c for w, c in record["marker_coverage"].items()}
    alone = widest_covering_window(coverage)
    return {"coverage": coverage, "growth": {int(w): g for w, g in record["window_growth"].items()},
            "alone": alone, "chosen": record["mask_peak_window"], "diameter": record["cell_size"]["diameter"]}


def cases(names, external: bool):
    for name in names:
        if name in cd.SETS:
            images, _, markers = cd.load_set(name)
            yield name, [(images, markers)]
            yield f"{name} half size", [_half(images, markers)]
    if not external:
        return
    for name in ("bbbc007", "laptrack", "cho"):
        if names and name not in names:
            continue
        try:
            images, _, _ = ext.load(name, ext.default_cache())
        except Exception as exc:  # no PyPI access: the shared sets only
            print(f"{name}: skipped ({exc})", file=sys.stderr)
            continue
        frames = [images[t] for t in ext.CHO_FRAMES] if name == "cho" else list(images)
        yield name, [(np.asarray(f, np.float32)[None], None) for f in frames]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="", help="comma-separated: msc,gowt1,sim+,dsb2018,hela,bbbc007,laptrack,cho")
    ap.add_argument("--no-external", action="store_true", help="leave out the PyPI sets")
    args = ap.parse_args(argv)
    names = [s for s in args.sets.split(",") if s] or ["msc", "gowt1", "sim+", "dsb2018", "hela"]
    print(f"{'set':18s} {'calls':>5s} {'diam px':>8s} {'coverage 9/7/5/3':>24s} {'growth 7/5/3 (cells/marker)':>30s}"
          f" {'coverage alone':>15s} {'chosen':>8s}")
    for name, calls in cases(names if args.sets else names + ["bbbc007", "laptrack", "cho"], not args.no_external):
        rows = [trial(images, markers) for images, markers in calls]

        def fmt(values):
            return "/".join("-" if v is None else f"{v:.2f}" for v in values)

        if len(rows) == 1:
            r = rows[0]
            cov, growth = fmt(r["coverage"][w] for w in (9, 7, 5, 3)), fmt(r["growth"][w] for w in (7, 5, 3))
        else:
            low = [min(r["coverage"][w] for r in rows) for w in (9, 7, 5, 3)]
            cov = f"min {fmt(low)}"
            seen = [g for r in rows for g in r["growth"].values() if g is not None]
            growth = f"{min(seen):.1f}-{max(seen):.1f}" if seen else "-"
        alone = ",".join(str(r["alone"]) for r in rows)
        chosen = ",".join(str(r["chosen"]) for r in rows)
        diam = np.median([r["diameter"] for r in rows])
        print(f"{name:18s} {len(rows):5d} {diam:8.1f} {cov:>24s} {growth:>30s} {alone:>15s} {chosen:>8s}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
