"""Finding the grid of tiles from their overlaps (``stitch(tiles)`` without a layout): how often it is right.

Usage::

    python3 benchmarks/stitch_grid.py            # 28 random grids and 10 strips of each of 3 CTC sets, 8-12 minutes
    python3 benchmarks/stitch_grid.py --grids 4 --strips 2  # a quick look

Each grid is cut from the first frame of a real CTC set (../shared/data): 1-4 rows x 1-5 columns (not 1x1), an
overlap drawn from 10-30 %, one of the four acquisition orders, tile positions jittered by up to 8 px and fresh
noise on each tile; tiles under 160 px are cut from the frame scaled up twice. Each grid is given to
:func:`labelfree.registration.tiles.find_grid` (band-passed as ``stitch`` does) whole, less its last tile, less one
other tile and less two tiles (drawn at random, not both the last). A whole grid should be found, and so should a
single row or column (a strip) less its end tiles (a shorter strip); a grid of several rows and columns with a tile
or two missing should be refused, and so should a strip with a gap. "wrong" counts tiles laid out as a grid they do
not form without a word: the failure that matters. A strip with an inner tile missing has no pair that tells it
from a strip with one overlap without texture (its holed layout has no pair the shorter strip lacks).

Extra strips (``--strips``, drawn apart so that the grids stay those drawn without them): one row or column of 3-6
tiles, given whole, less its last tile, less an inner tile and less two tiles (an inner one and another). Each grid
found is then checked as ``stitch`` checks it: neighbours whose overlaps hold structure but match at no shift
(:func:`labelfree.registration.tiles.unmatched_neighbours`, "gap named"), and the warnings of stitching the tiles on
the grid found (tiles without a link, linked groups that no overlap joins: "stitch warns"). "no word before" counts
the grids laid out wrong that only the stitch warnings would speak of (the checks before the gap check), "no word"
those that nothing speaks of now.
"""

from __future__ import annotations

import argparse
import logging
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


class _Warnings(logging.Handler):
    """The warnings logged while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


def _stitch_warns(tiles: list[np.ndarray], rows: int, cols: int, order: str, overlap: float) -> bool:
    """Whether stitching ``tiles`` on the grid given warns (tiles without a link, groups no overlap joins)."""
    from labelfree.registration import stitch

    handler, logger = _Warnings(), logging.getLogger("labelfree")
    logger.addHandler(handler)
    try:
        stitch(tiles, (rows, cols), overlap=overlap, backend="python", config={"order": order})
    finally:
        logger.removeHandler(handler)
    return bool(handler.said)


def _outcome(tiles: list[np.ndarray], overlap: float, right: tuple[int, int, str] | None
             ) -> tuple[str, bool, bool, float]:
    """``found`` (the right grid), ``wrong`` (another grid) or ``refused`` (an InputError); whether a pair of the grid
    found is named as holding structure but matching nowhere; whether stitching on it warns; find_grid seconds."""
    from labelfree.errors import InputError
    from labelfree.registration.stitch import StitchConfig, _smooth
    from labelfree.registration.tiles import find_grid, grid_positions, unmatched_neighbours

    cfg = StitchConfig()
    smooth = [_smooth(t, cfg) for t in tiles]
    t0 = time.perf_counter()
    try:
        choice = find_grid(smooth, overlap=overlap)
    except InputError:
        return "refused", False, False, time.perf_counter() - t0
    named = bool(unmatched_neighbours(smooth, choice, overlap=overlap))
    seconds = time.perf_counter() - t0
    warns = len(tiles) > 1 and _stitch_warns(tiles, choice.rows, choice.cols, choice.order, overlap)
    if right is None:
        return "wrong", named, warns, seconds
    shape = tiles[0].shape
    found = grid_positions(shape, rows=choice.rows, cols=choice.cols, overlap=overlap, order=choice.order)
    same = np.array_equal(found, grid_positions(shape, rows=right[0], cols=right[1], overlap=overlap, order=right[2]))
    return ("found" if same else "wrong"), named, warns, seconds


KINDS = ("whole", "grid less its last tile", "grid less another tile", "grid less two tiles",
         "strip less an end tile", "strip less an inner tile", "strip less two tiles")


def _shape(rng: np.random.Generator, strip: bool) -> tuple[int, int]:
    """Rows and columns of a random grid (1-4 x 1-5, not 1x1), or of a random strip (one row or column of 3-6)."""
    if strip:
        n = int(rng.integers(3, 7))
        return (1, n) if rng.integers(2) else (n, 1)
    rows, cols = 1, 1
    while rows * cols == 1:
        rows, cols = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    return rows, cols


def cases(grids: int, strips: int, seed: int):
    """The cases of the benchmark: ``(set name, rows, cols, order, overlap, kind, tiles, right, gone)``; ``right``
    is the grid the tiles form (rows, cols, order), None where they form none (a tile missing inside)."""
    from labelfree.registration import GRID_ORDERS

    grid_rng, strip_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])  # the grids as without strips
    for name, noise in SETS:
        frame = tifffile.imread(DATA / name / "01" / "t000.tif")
        for number in range(grids + strips):
            strip = number >= grids
            rng = strip_rng if strip else grid_rng
            rows, cols = _shape(rng, strip)
            overlap = round(float(rng.uniform(0.1, 0.3)), 2)
            order = GRID_ORDERS[int(rng.integers(4))]
            tiles = _tiles(frame, rows, cols, overlap, order, rng, noise)
            n = len(tiles)
            other = int(rng.integers(n - 1)) if n > 2 else None
            two = sorted(rng.choice(n - 1, 1).tolist() + rng.choice(n, 1).tolist()) if n > 3 else None
            if strip:  # the extra strips: an inner tile missing, and two (not both at the ends)
                other = int(rng.integers(1, n - 1))
                two = sorted(rng.choice(np.arange(1, n - 1), 2 if n > 4 else 1, replace=False).tolist())
                two = two if len(two) == 2 else [0, two[0]]
            yield name, rows, cols, order, overlap, "whole", tiles, (rows, cols, order), []
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
                    strip_shape = (1, len(kept)) if rows == 1 else (len(kept), 1)
                    right = (*strip_shape, "row-by-row") if whole else None
                yield name, rows, cols, order, overlap, kind, [tiles[k] for k in kept], right, gone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=28, help="random grids per data set (default 28)")
    parser.add_argument("--strips", type=int, default=10,
                        help="extra random strips (one row or column of 3-6 tiles) per data set (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs ../shared/data")
    columns = ("n", "found", "found, gap named", "found, stitch warns", "refused", "wrong", "wrong, gap named",
               "wrong, no word before", "wrong, no word")
    counts = {k: dict.fromkeys(columns, 0) | {"s": 0.0} for k in KINDS}
    wrong = []
    for name, rows, cols, order, overlap, kind, part, right, gone in cases(args.grids, args.strips, args.seed):
        result, named, warns, seconds = _outcome(part, overlap, right)
        c = counts[kind]
        c["n"] += 1
        c[result] += 1
        c["s"] += seconds
        if result == "found":
            c["found, gap named"] += named
            c["found, stitch warns"] += warns
        if result == "wrong":
            c["wrong, gap named"] += named
            c["wrong, no word before"] += not warns
            c["wrong, no word"] += not (warns or named)
            wrong.append(f"{name} {rows}x{cols} {order} overlap {overlap} {kind}"
                         + (f" (tiles {', '.join(str(k + 1) for k in gone)} missing)" if gone else "")
                         + (" gap named" if named else "") + (" stitch warns" if warns else ""))
    print(f"{args.grids} random grids and {args.strips} strips of each of {len(SETS)} CTC sets (seed {args.seed})")
    print(f"| tiles given | {' | '.join(columns[1:])} | mean find_grid s |")
    print("|---|" + "---:|" * len(columns))
    for kind in KINDS:
        c = counts[kind]
        print(f"| {kind} (n = {c['n']}) | " + " | ".join(str(c[k]) for k in columns[1:])
              + f" | {c['s'] / max(c['n'], 1):.2f} |")
    for line in wrong:
        print("wrong:", line)


if __name__ == "__main__":
    main()
