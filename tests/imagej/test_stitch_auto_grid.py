"""LabelFree Stitch from an untouched dialog: rows=0 cols=0 (the defaults) find the grid from the tiles."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_imagej_robustness import _log, _show, _table, _untouched_dialog
from test_zstack_refusals import _macro_without_dialog

from labelfree.errors import InputError
from labelfree.registration import grid_positions, stitch

pytestmark = pytest.mark.jvm


def _frame(shared_data, dataset):
    path = shared_data / "ctc" / dataset / "01" / "t000.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


def _tiles(frame, rows, cols, tile, seed=0):
    """A jittered grid of noisy tiles of ``frame`` (row by row, 20 % overlap) as one (N, Y, X) stack."""
    rng = np.random.default_rng(seed)
    nominal = grid_positions(tile, rows=rows, cols=cols, overlap=0.2) + 8
    true = (nominal + rng.integers(-8, 9, nominal.shape)).astype(int)
    return np.stack([np.clip(frame[y:y + tile[0], x:x + tile[1]] + rng.normal(0, 3, tile), 0, 255).astype(np.uint8)
                     for y, x in true])


def _pixels(title: str) -> np.ndarray:
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return lij.imageplus_to_xarray(imp).values


def test_the_untouched_dialog_on_a_stack_of_tiles_gives_the_mosaic(clean, shared_data):
    """Was: 'rows=1 x cols=1 = 1 tiles, but the stack has 12 planes; give a grid that matches.'"""
    tiles = _tiles(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))
    _show(tiles, "tiles", dims="ZYX")
    _untouched_dialog("LabelFree Stitch", "tiles")
    expected, positions = stitch(list(tiles), (3, 4), backend="python")
    np.testing.assert_array_equal(_pixels("tiles-stitched"), expected.values)
    table = _table("tiles-positions")
    np.testing.assert_array_equal(table[["y", "x"]].to_numpy(), positions[["y", "x"]].to_numpy())
    log = _log()
    assert "LabelFree Stitch on tiles: grid found from the tiles: rows=3 cols=4 order=row-by-row (mean overlap NCC " \
           in log
    assert "give rows= and cols= to set it." in log


def test_one_of_rows_and_cols_is_enough(clean, shared_data):
    import labelfree.imagej as lij

    tiles = _tiles(_frame(shared_data, "Fluo-N2DH-GOWT1"), 2, 3, (300, 300), seed=1)
    _show(tiles, "six", dims="ZYX")
    lij.run_macro('run("LabelFree Stitch", "image=six rows=0 cols=3 backend=python");')
    expected, _ = stitch(list(tiles), (2, 3), backend="python")
    np.testing.assert_array_equal(_pixels("six-stitched"), expected.values)
    assert "grid found" not in _log()


def test_a_stack_whose_grid_cannot_be_told_gets_the_clear_message(clean, shared_data):
    frame = _frame(shared_data, "Fluo-N2DH-GOWT1")
    apart = np.stack([frame[y:y + 180, x:x + 180] for y in (100, 600) for x in (50, 400, 750)])
    _show(apart, "apart", dims="ZYX")
    outcome, dialogs = _macro_without_dialog('run("LabelFree Stitch", "image=apart rows=0 cols=0");',
                                             "LabelFree Stitch")
    assert dialogs == 0
    error = outcome.get("error")
    assert isinstance(error, InputError), outcome
    text = str(error)
    assert text.startswith("Cannot tell the grid of 6 tiles from their overlaps: no layout matches clearly better")
    assert text.endswith("Check the overlap (0.2) and that the tiles overlap their neighbours, or give the grid with "
                         "rows= and cols= (and the order with order=).")
    assert "--grid" not in text and "stitch(" not in text and "has match" not in text
    assert "LabelFree error: Cannot tell the grid of 6 tiles" in _log()


def test_a_stack_of_a_grid_with_a_tile_missing_is_refused_in_imagej_terms(clean, shared_data):
    """Was: 11 planes of a 3x4 grid became a 270x2291 strip ('rows=1 cols=11 ... margin 0.47')."""
    tiles = _tiles(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))[:11]
    _show(tiles, "eleven", dims="ZYX")
    outcome, dialogs = _macro_without_dialog('run("LabelFree Stitch", "image=eleven rows=0 cols=0");',
                                             "LabelFree Stitch")
    assert dialogs == 0
    error = outcome.get("error")
    assert isinstance(error, InputError), outcome
    text = str(error)
    assert text.startswith("Cannot tell the grid of 11 tiles from their overlaps: they match better as a 3x4 grid "
                           "row-by-row with its last tile missing than as the best full grid, 1x11 row-by-row: it puts "
                           "side by side tiles 4 and 5 (overlap NCC "), text
    assert ", the stack's planes counted from 1, while the pairs only the 3x4 grid has match" in text
    assert text.endswith("Check that no tile is missing, or give the grid with rows= and cols= (and the order with "
                         "order=).")
    assert "--grid" not in text and "stitch(" not in text and "config" not in text
    assert "LabelFree error: Cannot tell the grid of 11 tiles" in _log()
    from scyjava import jimport

    assert jimport("ij.WindowManager").getImage("eleven-stitched") is None
