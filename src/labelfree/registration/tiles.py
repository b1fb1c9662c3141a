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
from labelfree.registration._phase import ncc_map, shift_limits

__all__ = ["GRID_ORDERS", "GridChoice", "find_grid", "grid_positions", "read_tile_configuration",
           "write_tile_configuration"]

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
#: more cells whose last cells are empty (a tile or two missing) and whose own pairs match (mean overlap NCC of the
#: pairs only it has at least ``_SHORT_MATCH``). On 84 jittered grids (1-4 x 1-5 tiles, 10-30 % overlap) of 3 CTC data
#: sets this keeps all 80 grids found (all correct) and refuses 43 of the 47 same grids less their last tile that were
#: taken for a wrong full grid.
_SHORT = 2
_SHORT_MATCH = 0.2
#: the least width (pixels) of an overlap strip after binning for :func:`find_grid`
_STRIP = 32


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


def _pair_score(a: np.ndarray, b: np.ndarray, offset: Sequence[int], max_shift: float | None, binning: int) -> float:
    """Best overlap NCC of tile ``b`` placed at ``offset`` from tile ``a``, within the searched shifts; 0 when
    the best match lies beyond them (the overlap holds no match within reach), as the stitcher drops such a pair.
    The overlap strips are matched binned by ``binning`` (their content is smooth after the band-pass)."""
    box_a, box_b = [], []
    for off, n in zip(offset, a.shape):
        lo, hi = max(0, off), min(n, off + n)
        box_a.append(slice(lo, hi))
        box_b.append(slice(lo - off, hi - off))
    sa, sb = _binned(a[tuple(box_a)], binning), _binned(b[tuple(box_b)], binning)
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
    chosen beats every other layout by at least :data:`GRID_MARGIN`; it must also beat by as much the grids
    of one or two more cells whose last cells are empty, where the pairs only such a grid has match: tiles of
    a grid with a tile missing (11 of a 3x4 grid) fill only wrong full grids (1x11, 11x1), whose row breaks
    put tiles side by side that do not match.

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
    InputError
        The overlap is too thin to match, no layout beats every other one by :data:`GRID_MARGIN` (tiles
        without texture in their overlaps, tiles that do not overlap, a wrong overlap), or the best full grid
        does not beat a grid with its last tile or two missing (the message names the best grid's pairs of
        tiles, counted from 1, that the other lacks, with their scores).
    """
    n = len(images)
    shape = images[0].shape[-2:]
    steps = [int(s * (1.0 - overlap)) for s in shape]
    if min(s - step for s, step in zip(shape, steps)) < min_overlap:
        raise InputError(f"Cannot find the grid of {n} tiles of {shape[0]}x{shape[1]} px: an overlap of {overlap:g} "
                         f"leaves strips thinner than {min_overlap} px to match. Give the true overlap, or "
                         f"{_give_grid()}.")
    orders = [order] + [o for o in GRID_ORDERS if o != order]
    layouts = [(rows, cols, o, _neighbours(pos, steps), missing)
               for rows, cols, o, pos, missing in _grid_layouts(n, shape, overlap, orders, short=_SHORT)]
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
    if choice.margin < GRID_MARGIN:
        raise InputError(f"Cannot tell the grid of {n} tiles from their overlaps: no layout matches clearly better "
                         f"than all others. The best is {choice.evidence()} (at least {GRID_MARGIN} is needed). "
                         f"Check the overlap ({overlap:g}) and that the tiles overlap their neighbours, or "
                         f"{_give_grid()}.")
    # a tile missing from a grid can leave a number of tiles that fills only wrong grids (11 of 3x4: 1x11 and 11x1),
    # whose own row breaks do not match: the grid chosen must also beat the grids that lack a tile or two at their end
    short = [(_lead(scores, best[0], b), b) for b in layouts if b[4] and _mean(scores, b[3] - pairs) >= _SHORT_MATCH]
    if short and min(short, key=lambda c: c[0])[0] < GRID_MARGIN:
        lead, gapped = min(short, key=lambda c: c[0])
        raise InputError(_missing_tiles(n, best[0], gapped, lead, scores))
    return choice


def _lead(scores: dict, a: tuple, b: tuple) -> float:
    """How much better the pairs only layout ``a`` has match than those only layout ``b`` has (difference of means)."""
    return _mean(scores, a[3] - b[3]) - _mean(scores, b[3] - a[3])


def _give_grid() -> str:
    """How to give the grid, in the terms of the run: the command line's options, else Python's (LabelFree's
    ImageJ commands say it as their keys: :func:`labelfree.imagej.terms.in_imagej_terms`)."""
    from labelfree._reproduce import current_command

    if current_command():
        return "give the grid with --grid RxC (and the order with --order ORDER)"
    return "give the grid: stitch(tiles, (rows, cols)) (and the order: config={'order': ...})"


def _missing_tiles(n: int, chosen: tuple, gapped: tuple, lead: float, scores: dict) -> str:
    """The refusal of a full grid that matches no better than a grid with its last tiles missing: the chosen grid's
    pairs that the other lacks (tiles counted from 1) and what to do."""
    rows, cols, order, pairs, _ = chosen
    own = [f"tiles {i + 1} and {j + 1} ({scores[(i, j, dy, dx)]:.2f})" for i, j, dy, dx in sorted(pairs - gapped[3])]
    own[0] = own[0].replace(" (", " (overlap NCC ", 1)
    listed = ", ".join(own[:-1]) + " and " + own[-1] if len(own) > 1 else own[0]
    missing = "its last tile" if gapped[4] == 1 else f"its last {gapped[4]} tiles"
    return (f"Cannot tell the grid of {n} tiles from their overlaps: they match "
            f"{'better' if lead < 0 else 'about as well'} as a {gapped[0]}x{gapped[1]} grid {gapped[2]} with {missing} "
            f"missing than as the best full grid, {rows}x{cols} {order}: it puts side by side {listed}, counted from 1 "
            f"in the order given, while the pairs only the {gapped[0]}x{gapped[1]} grid has match with a mean NCC of "
            f"{_mean(scores, gapped[3] - pairs):.2f}. Check that no tile is missing, or {_give_grid()}.")


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
    InputError
        A file that is not a TileConfiguration (binary data, a malformed line, no tile) or that lists
        a tile twice. A byte-order mark at its start (Windows editors) is allowed.
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
        raise InputError(f"{path} is not a TileConfiguration file (it holds binary data, e.g. an image, not lines "
                         "'file; ; (x, y)'). Give a folder of tiles with --grid RxC (labelfree stitch TILES_DIR --grid "
                         "3x4), or Fiji's TileConfiguration.txt.") from None
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
