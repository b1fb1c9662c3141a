"""Tile layouts: nominal grid positions and Fiji's TileConfiguration.txt files.

Positions are ``(y, x)`` pixel offsets of each tile's top-left corner in the
mosaic. TileConfiguration files store ``(x, y)``, as Fiji writes them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from labelfree.errors import ConfigError, InputError

__all__ = ["GRID_ORDERS", "grid_positions", "read_tile_configuration", "write_tile_configuration"]

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
