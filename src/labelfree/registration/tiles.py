"""Tile layouts: nominal grid positions, the grid found from the tiles, and Fiji's TileConfiguration.txt files.

Positions are ``(y, x)`` pixel offsets of each tile's top-left corner in the
mosaic. TileConfiguration files store ``(x, y)``, as Fiji writes them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from labelfree.errors import ConfigError, InputError
from labelfree.registration._phase import _range_sums, ncc_map, shift_limits

__all__ = ["GIVE_GRID", "GIVE_POSITIONS", "GRID_ORDERS", "GridChoice", "GridGap", "GridNotFoundError",
           "NotTileConfigurationError", "STITCH_IMAGES", "find_grid", "grid_positions", "read_tile_configuration",
           "unmatched_neighbours", "write_tile_configuration"]

#: grid orders (Fiji's "Grid: ..." types, first direction of each)
GRID_ORDERS = ("row-by-row", "column-by-column", "snake-by-rows", "snake-by-columns")


def grid_positions(
    tile_shape: Sequence[int], /, *, rows: int, cols: int, overlap: float = 0.2, order: str = "row-by-row"
) -> np.ndarray:
    """Nominal ``(y, x)`` positions (pixels) of tiles acquired on a regular grid.

    Parameters
    ----------
    tile_shape : (height, width)
        Tile size in pixels.
    rows, cols : int
        Grid size.
    overlap : float
        Fraction of a tile shared with its neighbour (0.2 = 20 %), as Fiji's
        ``tile_overlap`` / 100; offsets are ``int(size * (1 - overlap))`` like Fiji's.
    order : {"row-by-row", "column-by-column", "snake-by-rows", "snake-by-columns"}
        Acquisition order, starting at the top left and moving right (rows) or down (columns).

    Returns
    -------
    ndarray, shape (rows * cols, 2)
        Position of tile i (in acquisition order).
    """
    if order not in GRID_ORDERS:
        raise ConfigError(f"order must be one of {', '.join(GRID_ORDERS)}; got {order!r}.")
    if rows < 1 or cols < 1:
        raise ConfigError(f"A grid needs at least one row and one column; got {rows}x{cols}.")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"overlap is a fraction in [0, 1); got {overlap!r} (20 % is 0.2).")
    step_y = int(tile_shape[0] * (1.0 - overlap))
    step_x = int(tile_shape[1] * (1.0 - overlap))
    cells = []
    if order.endswith("rows") or order == "row-by-row":
        for r in range(rows):
            cs = range(cols) if order == "row-by-row" or r % 2 == 0 else range(cols - 1, -1, -1)
            cells.extend((r, c) for c in cs)
    else:
        for c in range(cols):
            rs = range(rows) if order == "column-by-column" or c % 2 == 0 else range(rows - 1, -1, -1)
            cells.extend((r, c) for r in rs)
    return np.array([(r * step_y, c * step_x) for r, c in cells], dtype=float)


#: how much better the pairs only the chosen grid has must match (mean overlap NCC) than those only another
#: layout has, for every other layout
GRID_MARGIN = 0.1
#: a grid found from the tiles must also match better by :data:`GRID_MARGIN` than each grid of up to ``_SHORT``
#: more cells whose last cells are empty and whose own pairs match (mean overlap NCC of the pairs only it has at
#: least ``_SHORT_MATCH``), and must not match worse than a grid of one more cell with another cell empty (a tile
#: missing in the middle; :func:`_blocks`). On 168 jittered grids (benchmarks/stitch_grid.py, seeds 0 and 1: 1-4 x
#: 1-5 tiles, 10-30 % overlap, 3 CTC data sets) this finds the 164 whole grids found before (3 refused, one 2x2
#: laid out wrong, as before) and refuses all 101 grids of several rows and columns less a tile other than their last
#: (before: 86, and 15 laid out as a wrong grid) and 100 of the 101 less their last tile (before: 99).
_SHORT = 2
_SHORT_MATCH = 0.2
#: the least width (pixels) of an overlap strip after binning for :func:`find_grid`
_STRIP = 32
#: how a Python caller gives the grid: the advice that ends :func:`find_grid`'s refusals (a caller with its own way,
#: the command line's ``--grid``, words it with :meth:`GridNotFoundError.said`)
GIVE_GRID = "give the grid: stitch(tiles, (rows, cols)) (and the order: config={'order': ...})"
#: where the advice goes in a refusal's template
_GIVE = "{give the grid}"
#: how a Python caller gives each tile's position: the other advice when tiles of different sizes leave no grid to
#: find (a caller with its own way, the command line's TileConfiguration.txt, words it with
#: :meth:`GridNotFoundError.said`)
GIVE_POSITIONS = ("give each tile's position: stitch(tiles, yx) (yx: a table with y and x columns, or an (N, 2) "
                  "array; pixels)")
#: where that advice goes in a refusal's template
_PLACE = "{give the positions}"


@dataclasses.dataclass(frozen=True)
class GridGap:
    """A grid that tiles match better with some of its cells empty (a tile or two missing).

    ``empty`` are the empty cells as ``(row, column)``, counted from 0, in acquisition order; ``before`` is
    the number of tiles (in the order given) that come before the first of them. ``or_at`` are other cells of the
    grid that the tiles match almost as well empty (by less than :data:`GRID_MARGIN`; overlaps with too little
    texture to tell), closest first.
    """

    rows: int
    cols: int
    order: str
    empty: tuple[tuple[int, int], ...]
    before: int
    or_at: tuple[tuple[int, int], ...] = ()

    @property
    def at_end(self) -> bool:
        """Whether the empty cells are the grid's last (in acquisition order)."""
        return self.before + len(self.empty) == self.rows * self.cols


class GridNotFoundError(InputError):
    """:func:`find_grid` could not tell the grid of the tiles (or ``stitch`` could not look for it: tiles of
    different sizes); the message says why and how to give the grid.

    The message ends with the way to give the grid from Python (:data:`GIVE_GRID`, and for tiles of different
    sizes :data:`GIVE_POSITIONS`); a caller with its own way (the command line's ``--grid``) words it with
    :meth:`said`. The facts: ``tiles`` (how many were given),
    ``best`` (the best full grid, a :class:`GridChoice`; None when the overlap is too thin to match) and ``gap``
    (a :class:`GridGap`, the grid the tiles match better with a tile missing; None when there is none).
    """

    def __init__(self, template: str, /, *, tiles: int = 0, best: GridChoice | None = None,
                 gap: GridGap | None = None) -> None:
        self.template, self.tiles, self.best, self.gap = template, tiles, best, gap
        super().__init__(self.said(GIVE_GRID))

    def said(self, give: str, /, positions: str = GIVE_POSITIONS) -> str:
        """The message with ``give`` as the way to give the grid, e.g. ``"give the grid with --grid RxC"``, and
        ``positions`` as the way to give each tile's position (said only where a grid cannot be found at all: tiles
        of different sizes)."""
        return self.template.replace(_GIVE, give).replace(_PLACE, positions)


@dataclasses.dataclass(frozen=True)
class GridChoice:
    """The grid :func:`find_grid` chose and its evidence.

    ``score`` is the mean, over the grid's neighbour pairs, of the best overlap NCC within the searched
    shifts (band-passed pixels; 0 for a pair whose best match lies beyond them). ``runner_up`` is the layout
    that came closest, ``runner_up_score`` the same mean over its pairs, and ``margin`` how much better
    the pairs only the chosen grid has match than the pairs only the runner-up has (difference of means).
    """

    rows: int
    cols: int
    order: str
    score: float
    runner_up: tuple[int, int, str] | None
    runner_up_score: float
    margin: float

    @property
    def grid(self) -> str:
        """``"3x4"``: rows x columns."""
        return f"{self.rows}x{self.cols}"

    def record(self) -> dict[str, object]:
        """The choice as a provenance entry (JSON types)."""
        runner = None if self.runner_up is None else f"{self.runner_up[0]}x{self.runner_up[1]} {self.runner_up[2]}"
        return {"grid": self.grid, "rows": self.rows, "cols": self.cols, "order": self.order,
                "score": round(self.score, 4), "runner_up": runner, "runner_up_score": round(self.runner_up_score, 4),
                "margin": round(self.margin, 4)}

    def evidence(self) -> str:
        """The choice in words, for the log."""
        if self.runner_up is None:
            return f"{self.grid} {self.order} (mean overlap NCC {self.score:.2f}; the only layout)"
        rows, cols, order = self.runner_up
        return (f"{self.grid} {self.order} (mean overlap NCC {self.score:.2f}); next best {rows}x{cols} {order} "
                f"({self.runner_up_score:.2f}); where the two put different tiles side by side, {self.grid}'s pairs "
                f"match {'better' if self.margin >= 0 else 'worse'} by {abs(self.margin):.2f}")


def _grid_layouts(n: int, tile_shape: Sequence[int], overlap: float, orders: Sequence[str],
                  short: int = 0) -> list[tuple[int, int, str, np.ndarray, int]]:
    """Every distinct grid layout of ``n`` tiles: (rows, cols, order, positions, missing); a layout that places the
    tiles as an earlier one does (a single row in any order) is listed once, under the first order. With ``short``,
    also the grids of ``n + 1`` to ``n + short`` cells whose last cells (in acquisition order) are empty."""
    seen, out = set(), []
    for missing in range(short + 1):
        cells = n + missing
        for order in orders:
            for rows in (r for r in range(1, cells + 1) if cells % r == 0):
                positions = grid_positions(tile_shape, rows=rows, cols=cells // rows, overlap=overlap,
                                           order=order)[:n]
                key = positions.tobytes()
                if key not in seen:
                    seen.add(key)
                    out.append((rows, cells // rows, order, positions, missing))
    return out


def _holed_layouts(n: int, tile_shape: Sequence[int], overlap: float, orders: Sequence[str], steps: Sequence[int],
                   seen: set) -> list[tuple[int, int, str, frozenset, tuple[int, ...]]]:
    """The grids of ``n + 1`` cells with one cell before the last empty (a tile missing in the middle): (rows, cols,
    order, neighbour pairs, (empty cell,)); a layout whose pairs are in ``seen`` (an earlier layout's) is left out."""
    out = []
    for order in orders:
        for rows in (r for r in range(1, n + 2) if (n + 1) % r == 0):
            cells = _neighbours(grid_positions(tile_shape, rows=rows, cols=(n + 1) // rows, overlap=overlap,
                                               order=order), steps)
            for hole in range(n):  # the tiles after the empty cell take the next cells
                pairs = frozenset((a - (a > hole), b - (b > hole), dy, dx) for a, b, dy, dx in cells
                                  if hole not in (a, b))
                if pairs not in seen:
                    seen.add(pairs)
                    out.append((rows, (n + 1) // rows, order, pairs, (hole,)))
    return out


def _cell(rows: int, cols: int, order: str, index: int) -> tuple[int, int]:
    """(row, column) of the ``index``-th cell of a grid acquired in ``order`` (as :func:`grid_positions` places it)."""
    if order in ("row-by-row", "snake-by-rows"):
        row, col = divmod(index, cols)
        return row, (cols - 1 - col if order == "snake-by-rows" and row % 2 else col)
    col, row = divmod(index, rows)
    return (rows - 1 - row if order == "snake-by-columns" and col % 2 else row), col


def _neighbours(positions: np.ndarray, steps: Sequence[int]) -> frozenset[tuple[int, int, int, int]]:
    """``(i, j, dy, dx)`` of the tiles side by side in a grid layout: j is one step from i along one axis."""
    offsets = np.round(positions[None, :, :] - positions[:, None, :]).astype(int)  # [i, j] = position j - i
    dy, dx = offsets[..., 0], offsets[..., 1]
    side = ((np.abs(dy) == steps[0]) & (dx == 0)) | ((np.abs(dx) == steps[1]) & (dy == 0))
    return frozenset((int(i), int(j), int(dy[i, j]), int(dx[i, j])) for i, j in zip(*np.nonzero(np.triu(side, 1))))


def _binned(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each ``factor`` x ``factor`` block (the last partial blocks dropped)."""
    if factor == 1:
        return image
    h, w = (n // factor * factor for n in image.shape)
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def _strips(a: np.ndarray, b: np.ndarray, offset: Sequence[int], binning: int) -> tuple[np.ndarray, np.ndarray]:
    """The nominal overlap strips of tile ``b`` placed at ``offset`` from tile ``a``, binned by ``binning``."""
    box_a, box_b = [], []
    for off, n in zip(offset, a.shape):
        lo, hi = max(0, off), min(n, off + n)
        box_a.append(slice(lo, hi))
        box_b.append(slice(lo - off, hi - off))
    return _binned(a[tuple(box_a)], binning), _binned(b[tuple(box_b)], binning)


def _pair_score(a: np.ndarray, b: np.ndarray, offset: Sequence[int], max_shift: float | None, binning: int) -> float:
    """Best overlap NCC of tile ``b`` placed at ``offset`` from tile ``a``, within the searched shifts; 0 when
    the best match lies beyond them (the overlap holds no match within reach), as the stitcher drops such a pair.
    The overlap strips are matched binned by ``binning`` (their content is smooth after the band-pass)."""
    sa, sb = _strips(a, b, offset, binning)
    wanted = None if max_shift is None else [max(1, int(np.ceil(max_shift / binning)))] * 2
    limits = shift_limits(sa.shape, wanted)
    search = [min(lim + 2, n - 1) for lim, n in zip(limits, sa.shape)]
    scores = ncc_map(sa, sb, search)
    top = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if any(abs(int(k) - s) > lim for k, s, lim in zip(top, search, limits)):
        return 0.0
    return max(0.0, float(scores[top]))


def _mean(scores: dict, pairs: frozenset) -> float:
    return float(np.mean([scores[k] for k in pairs])) if pairs else 0.0


def find_grid(images: Sequence[np.ndarray], /, *, overlap: float, order: str = "row-by-row",
              min_overlap: int = 16, max_shift: float | None = None) -> GridChoice:
    """The grid (rows, columns and acquisition order) whose neighbouring tiles match best in their overlaps.

    Every layout of the ``n`` tiles (``rows * cols == n``, each of :data:`GRID_ORDERS`, ``order`` first)
    implies which tiles lie side by side. Each such pair is scored once by the best normalised
    cross-correlation of its nominal overlap strips (``overlap``) within the shifts the stitcher searches.
    Two layouts share most pairs; what tells them apart are the pairs only one of them has, so layout A
    beats layout B by the mean score of the pairs only A has less that of the pairs only B has. The grid
    chosen beats every other layout by at least :data:`GRID_MARGIN`; it must also beat by as much each grid
    with a tile missing whose own pairs match: a grid of one or two more cells whose last cells are empty, or
    of one more cell with any other cell empty. Tiles of a grid with a tile missing (11 of a 3x4 grid) fill
    only wrong full grids (1x11, 11x1), whose row breaks put tiles side by side that do not match.

    Parameters
    ----------
    images : sequence of 2-D arrays (Y, X)
        The tiles in acquisition order, all of one shape, band-passed for matching (a smooth background
        makes unrelated overlaps correlate).
    overlap : float
        Nominal overlap fraction of neighbouring tiles (0.2 = 20 %).
    order : str
        The order tried first; of layouts that place the tiles alike it is the one reported.
    min_overlap : int
        Overlaps thinner than this (pixels) cannot be matched.
    max_shift : float, optional
        Largest deviation (pixels) from the nominal offset searched; default a third of the overlap's extent.

    Returns
    -------
    GridChoice

    Raises
    ------
    GridNotFoundError
        An :class:`~labelfree.errors.InputError`: the overlap is too thin to match, no layout beats every other
        one by :data:`GRID_MARGIN` (tiles without texture in their overlaps, tiles that do not overlap, a wrong
        overlap), or the tiles match a grid with a tile missing (its last tile or two, or one at a row and column
        that the message names) as well as or better than every full grid (the message names the best full
        grid's pairs of tiles, counted from 1, that the other lacks, with their scores). Its message ends with
        the way to give the grid from Python; :meth:`GridNotFoundError.said` words it for another caller.
    """
    n = len(images)
    shape = images[0].shape[-2:]
    steps = [int(s * (1.0 - overlap)) for s in shape]
    if min(s - step for s, step in zip(shape, steps)) < min_overlap:
        raise GridNotFoundError(f"Cannot find the grid of {n} tiles of {shape[0]}x{shape[1]} px: an overlap of "
                                f"{overlap:g} leaves strips thinner than {min_overlap} px to match. Give the true "
                                f"overlap, or {_GIVE}.", tiles=n)
    orders = [order] + [o for o in GRID_ORDERS if o != order]
    layouts = [(rows, cols, o, _neighbours(pos, steps), tuple(range(n, n + missing)))
               for rows, cols, o, pos, missing in _grid_layouts(n, shape, overlap, orders, short=_SHORT)]
    layouts += _holed_layouts(n, shape, overlap, orders, steps, {layout[3] for layout in layouts})
    # strips binned to about _STRIP px across: the scores tell neighbours apart as well, 5-10 times faster
    binning = max(1, min(s - step for s, step in zip(shape, steps)) // _STRIP)
    scores: dict[tuple[int, int, int, int], float] = {}
    for key in sorted(set().union(*(layout[3] for layout in layouts))):
        scores[key] = _pair_score(images[key[0]], images[key[1]], key[2:], max_shift, binning)
    full = [layout for layout in layouts if not layout[4]]
    best = None
    for a in full:  # each layout's worst contest; the first of equal ones wins (``order`` first, fewer rows)
        contests = [(_lead(scores, a, b), b) for b in full if b is not a]
        worst = min(contests, key=lambda c: c[0]) if contests else (float("inf"), None)
        if best is None or worst[0] > best[1][0]:
            best = (a, worst)
    (rows, cols, chosen, pairs, _), (margin, rival) = best
    choice = GridChoice(rows, cols, chosen, _mean(scores, pairs), None if rival is None else rival[:3],
                        0.0 if rival is None else _mean(scores, rival[3]), margin if rival is not None else 1.0)
    # a tile missing from a grid can leave a number of tiles that fills only wrong grids (11 of 3x4: 1x11 and 11x1),
    # whose own row breaks do not match: the grid chosen must also beat the grids with a tile or two missing
    gapped = [b for b in layouts if b[4] and _blocks(scores, best[0], b, n)]
    if gapped:
        gap, clear = _likeliest_gap(scores, gapped, full)
        if choice.margin >= GRID_MARGIN or clear >= GRID_MARGIN:
            close = sorted((_lead(scores, gap, b), b[4][0]) for b in gapped if b is not gap and b[:3] == gap[:3]
                           and len(b[4]) == 1 == len(gap[4]) and _lead(scores, gap, b) < GRID_MARGIN)
            facts = GridGap(*gap[:3], tuple(_cell(*gap[:3], k) for k in gap[4]), gap[4][0],
                            tuple(_cell(*gap[:3], k) for _, k in close[:3]))
            raise GridNotFoundError(_missing_tiles(n, best[0], gap, facts, scores), tiles=n, best=choice, gap=facts)
    if choice.margin < GRID_MARGIN:
        raise GridNotFoundError(f"Cannot tell the grid of {n} tiles from their overlaps: no layout matches clearly "
                                f"better than all others. The best is {choice.evidence()} (at least {GRID_MARGIN} is "
                                f"needed). Check the overlap ({overlap:g}) and that the tiles overlap their "
                                f"neighbours, or {_GIVE}.", tiles=n, best=choice)
    return choice


def _blocks(scores: dict, full: tuple, gapped: tuple, n: int) -> bool:
    """Whether a grid with empty cells casts doubt on the full grid chosen. Its last cells empty: the pairs only it
    has match (mean at least :data:`_SHORT_MATCH`) and the full grid does not beat it by :data:`GRID_MARGIN`. Another
    cell empty (a tile missing in the middle): it matches better than the full grid, also when of two tiles that the
    two grids put side by side in different ways only the way that matches better counts (two tiles lie side by side
    one way only; without this, the one pair of 3 tiles that 4x1-less-one has beside 1x3 decides, and strips of
    13 cells rival 4x3 snakes), and those pairs only it has match as above."""
    if gapped[4][0] == n:
        return _mean(scores, gapped[3] - full[3]) >= _SHORT_MATCH and _lead(scores, full, gapped) < GRID_MARGIN
    mine, theirs = full[3] - gapped[3], gapped[3] - full[3]
    best: dict[tuple[int, int], float] = {}
    for key in mine | theirs:
        best[key[:2]] = max(best.get(key[:2], 0.0), scores[key])
    mine, theirs = (frozenset(k for k in side if scores[k] >= best[k[:2]]) for side in (mine, theirs))
    return (_lead(scores, full, gapped) < 0 and _mean(scores, theirs) >= _SHORT_MATCH
            and _mean(scores, mine) < _mean(scores, theirs))


def _lead(scores: dict, a: tuple, b: tuple) -> float:
    """How much better the pairs only layout ``a`` has match than those only layout ``b`` has (difference of means)."""
    return _mean(scores, a[3] - b[3]) - _mean(scores, b[3] - a[3])


def _likeliest_gap(scores: dict, gapped: list, full: list) -> tuple[tuple, float]:
    """Of the grids with a tile missing that the best full grid does not beat, the one that beats the others and
    every full grid by the most (its worst contest), and how much it beats the full grids by (the worst of those)."""
    best = None
    for a in gapped:
        worst = min([_lead(scores, a, b) for b in gapped if b is not a] + [float("inf")])
        clear = min([_lead(scores, a, b) for b in full] + [float("inf")])
        if best is None or min(worst, clear) > best[1]:
            best = (a, min(worst, clear), clear)
    return best[0], best[2]


def _missing_tiles(n: int, chosen: tuple, gapped: tuple, gap: GridGap, scores: dict) -> str:
    """The refusal of tiles that match a grid with a tile or two missing as well as or better than the best full
    grid: where the tiles are missing, the full grid's pairs that the other lacks (tiles counted from 1) and what to
    do."""
    rows, cols, order, pairs, _ = chosen
    lead = _lead(scores, chosen, gapped)
    own = [f"tiles {i + 1} and {j + 1} ({scores[(i, j, dy, dx)]:.2f})" for i, j, dy, dx in sorted(pairs - gapped[3])]
    if own:
        own[0] = own[0].replace(" (", " (overlap NCC ", 1)
        listed = ", ".join(own[:-1]) + " and " + own[-1] if len(own) > 1 else own[0]
        told = f": it puts side by side {listed}, counted from 1 in the order given, while"
    else:
        told = f", which puts no tiles side by side that the {gap.rows}x{gap.cols} grid does not, while"
    also = " or ".join(f"row {row + 1}, column {col + 1}" for row, col in gap.or_at)
    if gap.at_end:
        missing = f"with its last {'tile' if len(gap.empty) == 1 else f'{len(gap.empty)} tiles'} missing"
        missing += f" (or, almost as well, no tile at {also})" if also else ""
    else:
        where = "before tile 1" if gap.before == 0 else f"between tiles {gap.before} and {gap.before + 1}"
        missing = (f"with no tile at row {gap.empty[0][0] + 1}, column {gap.empty[0][1] + 1} ({where}"
                   + (f"; or, almost as well, at {also})" if also else ")"))
    return (f"Cannot tell the grid of {n} tiles from their overlaps: they match "
            f"{'better' if lead < 0 else 'about as well'} as a {gap.rows}x{gap.cols} grid {gap.order} {missing} "
            f"than as the best full grid, {rows}x{cols} {order}{told} the pairs only the {gap.rows}x{gap.cols} grid "
            f"has match with a mean NCC of {_mean(scores, gapped[3] - pairs):.2f}. Check that no tile is missing, or "
            f"{_GIVE}.")


#: :func:`unmatched_neighbours`: neighbours whose overlaps match at no shift with this NCC do not overlap ...
_GAP_NCC = 0.3
#: ... when at every shift the part of one of them holds this many times the noise variance (structure) ...
_GAP_STRUCTURE = 5.0
#: ... the noise variance measured on the pairs that match with at least this NCC. Of the grids and strips of
#: benchmarks/stitch_grid.py (seeds 0 and 1) that find_grid lays out, this names a pair in 37 of the 115 with tiles
#: missing inside and in none of the 368 complete ones (structure 3 or 10 times the noise: 38 and 36, no complete
#: one; an NCC of 0.4: 39 and 2 complete ones).
_CREDIBLE = 0.5


def unmatched_neighbours(images: Sequence[np.ndarray], choice: GridChoice, /, *, overlap: float,
                         max_shift: float | None = None) -> list[tuple[int, int, float]]:
    """The tiles that a grid puts side by side whose overlaps hold structure but match at no shift: a tile is likely
    missing between them (a row of tiles with one missing inside looks like a shorter row to :func:`find_grid`).

    Two tiles that overlap show the same content there, with their own noise: at their true shift the parts of the
    overlap they share match (NCC ``S / (S + N)`` for structure of variance ``S`` and noise of variance ``N``) or hold
    no structure, both. Tiles that do not overlap show unrelated content. A pair is named when at no shift that
    leaves a quarter of the overlap's width (across the seam) and half its length shared its parts match with an NCC
    of :data:`_GAP_NCC` and at every such shift the part of one of them holds :data:`_GAP_STRUCTURE` times the noise
    variance. ``N`` is measured on the grid's pairs that match within the searched shifts (``max_shift``; NCC at
    least :data:`_CREDIBLE`; without such a pair nothing is named): at most ``(1 - NCC)`` times their overlaps'
    variance. A gap one of whose sides holds no structure cannot be told from an overlap without texture.

    Parameters
    ----------
    images : sequence of 2-D arrays (Y, X)
        The tiles as :func:`find_grid` takes them (band-passed), in the order given.
    choice : GridChoice
        The grid, e.g. the one :func:`find_grid` chose.
    overlap : float
        Nominal overlap fraction of neighbouring tiles.
    max_shift : float, optional
        Largest deviation (pixels) from the nominal offset searched, as for :func:`find_grid`.

    Returns
    -------
    list of (int, int, float)
        The pairs ``(i, j, ncc)`` (0-based tiles in the order given, ``i < j``; the best NCC at any shift), in order.
    """
    shape = images[0].shape[-2:]
    steps = [int(s * (1.0 - overlap)) for s in shape]
    binning = max(1, min(s - step for s, step in zip(shape, steps)) // _STRIP)
    positions = grid_positions(shape, rows=choice.rows, cols=choice.cols, overlap=overlap, order=choice.order)
    pairs = []
    for i, j, dy, dx in sorted(_neighbours(positions, steps)):
        sa, sb = _strips(images[i], images[j], (dy, dx), binning)
        pairs.append((i, j, int(dx != 0), sa, sb, _pair_score(images[i], images[j], (dy, dx), max_shift, binning)))
    noise = [float(np.sqrt(sa.var() * sb.var())) * (1.0 - score) for *_, sa, sb, score in pairs if score >= _CREDIBLE]
    if not noise:
        return []
    floor = _GAP_STRUCTURE * min(noise)
    named = []
    for i, j, across, sa, sb, score in pairs:
        if score >= _GAP_NCC:
            continue
        # shifts that leave a quarter of the overlap's width (across the seam) and half its length shared
        wide = [max(1, n - max(4, n // 4)) if axis == across else max(1, n // 2) for axis, n in enumerate(sa.shape)]
        best = float(ncc_map(sa, sb, wide).max())
        if best < _GAP_NCC and float(_structure(sa, sb, wide).min()) >= floor:
            named.append((i, j, best))
    return named


def _structure(a: np.ndarray, b: np.ndarray, limits: Sequence[int]) -> np.ndarray:
    """At every shift within ``±limits`` (as :func:`~labelfree.registration._phase.ncc_map` indexes them), the larger
    variance of the parts of ``a`` and ``b`` that overlap there."""
    a = np.asarray(a, dtype=np.float64) - float(np.mean(a))
    b = np.asarray(b, dtype=np.float64) - float(np.mean(b))
    count = np.multiply.outer(*[n - np.abs(np.arange(-lim, lim + 1)) for n, lim in zip(a.shape, limits)])
    out = []
    for image, moving in ((a, False), (b, True)):
        sums = _range_sums(image, limits, moving=moving)
        out.append((_range_sums(image * image, limits, moving=moving) - sums * sums / count) / count)
    return np.maximum(*out)


#: what a Python caller who gave a binary file (an image) to :func:`read_tile_configuration` can do instead (a caller
#: with its own way, the command line's folder of tiles, words it with :meth:`NotTileConfigurationError.said`)
STITCH_IMAGES = ("Give Fiji's TileConfiguration.txt, or stitch the images as a grid: "
                 "stitch([labelfree.io.read_image(f) for f in files], (rows, cols)).")
#: where that advice goes in the error's template
_INSTEAD = "{instead}"


class NotTileConfigurationError(InputError):
    """:func:`read_tile_configuration` was given a file of binary data (an image), not a TileConfiguration.

    The message ends with what to do instead from Python (:data:`STITCH_IMAGES`); a caller with its own way (the
    command line's folder of tiles) words it with :meth:`said`. ``path`` is the file given.
    """

    def __init__(self, template: str, /, *, path: str | Path | None = None) -> None:
        self.template, self.path = template, path
        super().__init__(self.said(STITCH_IMAGES))

    def said(self, instead: str, /) -> str:
        """The message with ``instead`` as what to do instead, e.g. ``"Give a folder of tiles with --grid RxC."``."""
        return self.template.replace(_INSTEAD, instead)


_LINE = re.compile(r"^\s*(?P<name>[^;]+?)\s*;\s*[^;]*;\s*\((?P<coords>[^)]*)\)\s*$")


def read_tile_configuration(path: str | Path, /) -> pd.DataFrame:
    """Read a Fiji ``TileConfiguration(.registered).txt``.

    Returns
    -------
    pandas.DataFrame
        Columns ``file`` (as written), ``path`` (resolved next to the file), ``y``, ``x``
        (and ``z`` for 3-D) in pixels.

    Raises
    ------
    NotTileConfigurationError
        An :class:`~labelfree.errors.InputError`: the file holds binary data (an image); the message says what to
        do instead, from Python (:meth:`NotTileConfigurationError.said` words it for another caller).
    InputError
        A file that is not a TileConfiguration (a malformed line, no tile) or that lists a tile twice. A
        byte-order mark at its start (Windows editors) is allowed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:  # the start tells an image (NUL bytes) without reading all of it
            if b"\0" in fh.read(4096):
                raise ValueError("binary data")
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is no part of line 1
    except OSError as exc:
        raise InputError(f"Cannot read tile configuration {path}: {exc}") from exc
    except ValueError:  # UnicodeDecodeError too: an image or another binary file
        raise NotTileConfigurationError(f"{path} is not a TileConfiguration file (it holds binary data, e.g. an image, "
                                        f"not lines 'file; ; (x, y)'). {_INSTEAD}", path=path) from None
    dim, rows, listed = 2, [], {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.replace(" ", "").lower().startswith("dim="):
            dim = line.split("=", 1)[1].strip()
            if dim not in ("2", "3"):
                raise InputError(f"{path}, line {lineno}: dim must be 2 or 3; got {dim!r}.")
            dim = int(dim)
            continue
        m = _LINE.match(line)
        if not m:
            raise InputError(f"{path}, line {lineno}: expected 'file; ; (x, y)'; got {raw!r}.")
        try:
            values = [float(v) for v in m.group("coords").split(",")]
        except ValueError:
            values = []
        if not values or not np.isfinite(values).all():
            raise InputError(f"{path}, line {lineno}: the position {m.group('coords')!r} is not {dim} numbers.")
        if len(values) != dim:
            raise InputError(f"{path}, line {lineno}: {len(values)} coordinates for dim = {dim}.")
        first = listed.setdefault(m.group("name"), lineno)
        if first != lineno:
            raise InputError(f"{path}, line {lineno}: the tile {m.group('name')!r} is listed again (first on line "
                             f"{first}); each tile is one line. Remove the repeated line.")
        row = {"file": m.group("name"), "path": str(path.parent / m.group("name")), "x": values[0], "y": values[1]}
        if dim == 3:
            row["z"] = values[2]
        rows.append(row)
    if not rows:
        raise InputError(f"{path} lists no tiles.")
    columns = ["file", "path", "y", "x"] + (["z"] if dim == 3 else [])
    return pd.DataFrame(rows)[columns]


def write_tile_configuration(path: str | Path, files: Sequence[str], positions: np.ndarray, /) -> Path:
    """Write a 2-D TileConfiguration file (``positions`` as (y, x) pixels), atomically."""
    path = Path(path)
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(files), 2):
        raise InputError(f"positions must have shape ({len(files)}, 2); got {positions.shape}.")
    lines = ["# Define the number of dimensions we are working on", "dim = 2", "",
             "# Define the image coordinates"]
    lines += [f"{name}; ; ({x:.4f}, {y:.4f})" for name, (y, x) in zip(files, positions)]
    from labelfree.io.atomic import write_text_atomic

    return write_text_atomic(path, "\n".join(lines) + "\n")
