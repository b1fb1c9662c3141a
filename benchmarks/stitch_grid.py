"""Finding the grid of tiles from their overlaps (``stitch(tiles)`` without a layout): how often it is right.

Usage::

    python3 benchmarks/stitch_grid.py            # 28 random grids of each of 3 CTC sets (84), 3-5 minutes
    python3 benchmarks/stitch_grid.py --grids 4  # a quick look

Each grid is cut from the first frame of a real CTC set (../shared/data): 1-4 rows x 1-5 columns (not 1x1), an
overlap drawn from 10-30 %, one of the four acquisition orders, tile positions jittered by up to 8 px and fresh
noise on each tile; tiles under 160 px are cut from the frame scaled up twice. Each grid is given to
:func:`labelfree.registration.tiles.find_grid` (band-passed as ``stitch`` does) whole, less its last tile, less one
other tile and less two tiles (drawn at random, not both the last). A whole grid should be found, and so should a
single row or column (a strip) less its end tiles (a shorter strip); a grid of several rows and columns with a tile
or two missing should be refused, and so should a strip with a gap. "wrong" counts tiles laid out as a grid they do
not form without a word: the failure that matters. A strip with an inner tile missing has no pair that tells it
from a strip with one overlap without texture (its holed layout has no pair the shorter strip lacks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctc"
SETS = (("Fluo-N2DH-GOWT1", 3.0), ("Fluo-C2DL-MSC", 60.0), ("Fluo-N2DH-SIM+", 3.0))


def _tiles(frame: np.ndarray, rows: int, cols: int, overlap: float, order: str, rng: np.random.Generator,
           noise: float) -> list[np.ndarray]:
    from scipy import ndimage as ndi

    from labelfree.registration import grid_positions

    jitter = 8
    fit = [int((n - 2 * jitter - 2) / (1 + (k - 1) * (1 - overlap))) for n, k in zip(frame.shape, (rows, cols))]
    if min(fit) < 160:
        frame = ndi.zoom(frame.astype(np.float32), 2, order=1)
        fit = [int((n - 2 * jitter - 2) / (1 + (k - 1) * (1 - overlap))) for n, k in zip(frame.shape, (rows, cols))]
    tile = (min(fit[0], 320), min(fit[1], 320))
    nominal = grid_positions(tile, rows=rows, cols=cols, overlap=overlap, order=order) + jitter
    true = (nominal + rng.integers(-jitter, jitter + 1, nominal.shape)).astype(int)
    return [frame[y:y + tile[0], x:x + tile[1]].astype(np.float32) + rng.normal(0, noise, tile).astype(np.float32)
            for y, x in true]


def _outcome(tiles: list[np.ndarray], overlap: float, right: tuple[int, int, str] | None) -> tuple[str, float]:
    """``found`` (the right grid), ``wrong`` (another grid, no word), ``refused`` (an InputError); seconds."""
    from labelfree.errors import InputError
    from labelfree.registration.stitch import StitchConfig, _smooth
    from labelfree.registration.tiles import find_grid, grid_positions

    cfg = StitchConfig()
    smooth = [_smooth(t, cfg) for t in tiles]
    t0 = time.perf_counter()
    try:
        choice = find_grid(smooth, overlap=overlap)
    except InputError:
        return "refused", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    if right is None:
        return "wrong", seconds
    shape = tiles[0].shape
    found = grid_positions(shape, rows=choice.rows, cols=choice.cols, overlap=overlap, order=choice.order)
    same = np.array_equal(found, grid_positions(shape, rows=right[0], cols=right[1], overlap=overlap, order=right[2]))
    return ("found" if same else "wrong"), seconds


def main() -> None:
    from labelfree.registration import GRID_ORDERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=28, help="random grids per data set (default 28)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs ../shared/data")
    rng = np.random.default_rng(args.seed)
    kinds = ("whole", "grid less its last tile", "grid less another tile", "grid less two tiles",
             "strip less an end tile", "strip less an inner tile", "strip less two tiles")
    counts = {k: {"found": 0, "refused": 0, "wrong": 0, "n": 0, "s": 0.0} for k in kinds}
    wrong = []
    for name, noise in SETS:
        frame = tifffile.imread(DATA / name / "01" / "t000.tif")
        for _ in range(args.grids):
            rows, cols = 1, 1
            while rows * cols == 1:
                rows, cols = int(rng.integers(1, 5)), int(rng.integers(1, 6))
            overlap = round(float(rng.uniform(0.1, 0.3)), 2)
            order = GRID_ORDERS[int(rng.integers(4))]
            tiles = _tiles(frame, rows, cols, overlap, order, rng, noise)
            n = len(tiles)
            other = int(rng.integers(n - 1)) if n > 2 else None
            two = sorted(rng.choice(n - 1, 1).tolist() + rng.choice(n, 1).tolist()) if n > 3 else None
            cases = [("whole", tiles, (rows, cols, order), [])]
            # a single row or column less its end tiles is a shorter one (right); less an inner tile, a strip with a gap
            removals = ([[n - 1], [other]] if n > 2 else []) + ([two] if two is not None and two[0] != two[1] else [])
            for gone in removals:
                kept = [k for k in range(n) if k not in gone]
                if rows > 1 and cols > 1:
                    kind = ("grid less its last tile" if gone == [n - 1] else "grid less another tile" if len(gone) == 1
                            else "grid less two tiles")
                    right = None
                else:
                    whole = kept == list(range(kept[0], kept[-1] + 1))
                    kind = ("strip less two tiles" if len(gone) == 2 else "strip less an end tile" if whole
                            else "strip less an inner tile")
                    strip = (1, len(kept)) if rows == 1 else (len(kept), 1)
                    right = (*strip, "row-by-row") if whole else None
                cases.append((kind, [tiles[k] for k in kept], right, gone))
            for kind, part, right, gone in cases:
                result, seconds = _outcome(part, overlap, right)
                counts[kind][result] += 1
                counts[kind]["n"] += 1
                counts[kind]["s"] += seconds
                if result == "wrong":
                    wrong.append(f"{name} {rows}x{cols} {order} overlap {overlap} {kind}"
                                 + (f" (tiles {', '.join(str(k + 1) for k in gone)} missing)" if gone else ""))
    print(f"{args.grids} random grids of each of {len(SETS)} CTC sets (seed {args.seed})")
    print("| tiles given | grids | found (right) | refused | wrong grid, no word | mean find_grid s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in kinds:
        c = counts[kind]
        print(f"| {kind} | {c['n']} | {c['found']} | {c['refused']} | {c['wrong']} | {c['s'] / max(c['n'], 1):.2f} |")
    for line in wrong:
        print("wrong:", line)


if __name__ == "__main__":
    main()
