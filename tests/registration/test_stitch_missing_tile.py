"""A grid of tiles with a tile missing in the middle, given without a layout: refused, naming the empty cell; the
advice of the grid search's refusals in the caller's terms (Python, the command line, ImageJ)."""

import pickle
import re

import numpy as np
import pytest
from registration.test_stitch_auto_grid import _cut, _frame, _write_tiles

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.registration import stitch
from labelfree.registration.tiles import GIVE_GRID, GridNotFoundError

PYTHON_WAY = "give the grid: stitch(tiles, (rows, cols)) (and the order: config={'order': ...})."
CLI_WAY = "give the grid with --grid RxC (and the order with --order ORDER)."


def _msc_3x4(shared_data):
    """12 MSC tiles of a 3x4 grid, row by row (uint16, 20 % overlap, jittered, noisy)."""
    return _cut(_frame(shared_data, "Fluo-C2DL-MSC"), 3, 4, (200, 220), noise=60.0)


def _refusal(tiles) -> GridNotFoundError:
    with pytest.raises(GridNotFoundError) as err:
        stitch(tiles, backend="python")
    return err.value


@pytest.mark.parametrize("missing", range(1, 12))
def test_a_tile_missing_anywhere_but_last_is_refused_naming_its_cell(shared_data, missing):
    """Was: a tile missing in the first row made a 1x11 strip without a word (margin 0.6-0.7 on these tiles); one
    missing further on was refused as a 3x4 grid 'with its last tile missing', naming the wrong place."""
    tiles = _msc_3x4(shared_data)
    refusal = _refusal(tiles[:missing - 1] + tiles[missing:])
    row, col = divmod(missing - 1, 4)
    where = "before tile 1" if missing == 1 else f"between tiles {missing - 1} and {missing}"
    text = str(refusal)
    assert re.match(rf"Cannot tell the grid of 11 tiles from their overlaps: they match better as a 3x4 grid "
                    rf"row-by-row with no tile at row {row + 1}, column {col + 1} \({where}(; or, almost as well, "
                    rf"at [^)]*)?\) than as the best full grid, ", text), text
    assert text.endswith(f"Check that no tile is missing, or {PYTHON_WAY}")
    gap = refusal.gap
    assert (gap.rows, gap.cols, gap.order, gap.empty, gap.before, gap.at_end) == \
        (3, 4, "row-by-row", ((row, col),), missing - 1, False)
    assert (refusal.tiles, refusal.best.rows * refusal.best.cols) == (11, 11)


def test_the_refusal_of_a_tile_missing_in_the_middle_word_for_word(shared_data):
    """Tile 6 of 3x4 missing: the 11 tiles fill only 1x11 and 11x1; the message names the empty cell, the pairs of
    the best full grid that do not match and the mean NCC of the pairs only the grid with the gap has."""
    tiles = _msc_3x4(shared_data)
    text = str(_refusal(tiles[:5] + tiles[6:]))
    pairs = r"(tiles \d+ and \d+ \((overlap NCC )?\d\.\d\d\)(, | and )?)+"
    m = re.fullmatch(r"Cannot tell the grid of 11 tiles from their overlaps: they match better as a 3x4 grid "
                     r"row-by-row with no tile at row 2, column 2 \(between tiles 5 and 6\) than as the best full "
                     rf"grid, 1x11 row-by-row: it puts side by side {pairs}, counted from 1 in the order given, while "
                     r"the pairs only the 3x4 grid has match with a mean NCC of (?P<gap>\d\.\d\d)\. Check that no "
                     r"tile is missing, or " + re.escape(PYTHON_WAY), text)
    assert m, text
    assert float(m.group("gap")) >= 0.3  # the stitcher's link threshold: the pairs around the gap match
    assert "tiles 4 and 5 (overlap NCC " in text  # 1x11's first row break: tile 4 ends row 1, tile 5 starts row 2


def test_a_grid_less_its_last_tile_is_still_named_so(shared_data):
    tiles = _msc_3x4(shared_data)
    refusal = _refusal(tiles[:11])
    assert str(refusal).startswith("Cannot tell the grid of 11 tiles from their overlaps: they match better as a 3x4 "
                                   "grid row-by-row with its last tile missing than as the best full grid, 1x11 ")
    assert refusal.gap.empty == ((2, 3),) and refusal.gap.at_end


def test_the_whole_grid_is_still_found(shared_data):
    fused, _ = stitch(_msc_3x4(shared_data), backend="python")
    auto = fused.attrs["stitching"]["auto"]
    assert (auto["grid"], auto["order"]) == ("3x4", "row-by-row") and auto["margin"] >= 0.1


def test_a_snake_with_a_tile_missing_names_the_cell_in_the_snake(shared_data):
    """Snake by rows: row 2 runs right to left (tiles 5-8 in columns 4-1), so tile 7 lies in column 2 (row by row:
    column 3)."""
    tiles = _cut(_frame(shared_data, "Fluo-C2DL-MSC"), 3, 4, (200, 220), order="snake-by-rows", noise=60.0)
    refusal = _refusal(tiles[:6] + tiles[7:])
    assert "as a 3x4 grid snake-by-rows with no tile at row 2, column 2 (between tiles 6 and 7) than " in str(refusal)
    assert refusal.gap.empty == ((1, 1),) and refusal.gap.before == 6


def test_the_error_carries_the_facts_and_is_worded_by_the_caller(shared_data):
    tiles = _msc_3x4(shared_data)
    refusal = _refusal(tiles[:5] + tiles[6:])
    assert isinstance(refusal, InputError)
    assert str(refusal) == refusal.said(GIVE_GRID) and str(refusal).endswith(PYTHON_WAY)
    said = refusal.said("give the grid with --grid RxC (and the order with --order ORDER)")
    assert said == str(refusal).replace(PYTHON_WAY, CLI_WAY)
    again = pickle.loads(pickle.dumps(refusal))  # worker processes hand errors back pickled
    assert str(again) == str(refusal) and again.gap == refusal.gap and again.best == refusal.best


def test_the_library_words_its_advice_for_python_also_inside_a_command(shared_data):
    """Was: tiles.py asked whether a command line ran and then said --grid, even to Python code called by it."""
    from labelfree._reproduce import command_line

    tiles = _msc_3x4(shared_data)
    with command_line(["stitch", "tiles", "-o", "out.tif"]):
        text = str(_refusal(tiles[:5] + tiles[6:]))
    assert text.endswith(f"Check that no tile is missing, or {PYTHON_WAY}") and "--grid" not in text


def test_the_cli_names_the_empty_cell_and_gives_its_own_advice(shared_data, tmp_path, capsys):
    """Was: 'they match about as well as a 3x4 grid row-by-row with its last tile missing' for tile 6 missing."""
    folder = tmp_path / "tiles"
    tiles = _msc_3x4(shared_data)
    _write_tiles(folder, tiles[:5] + tiles[6:])
    out = tmp_path / "o.tif"
    assert main(["stitch", str(folder), "-o", str(out), "--backend", "python"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labelfree: error: Cannot tell the grid of 11 tiles from their overlaps: they match better "
                          "as a 3x4 grid row-by-row with no tile at row 2, column 2 (between tiles 5 and 6) than as ")
    assert err.rstrip().endswith(f"Check that no tile is missing, or {CLI_WAY}")
    assert "stitch(tiles" not in err and "config=" not in err and not out.exists()


def test_the_cli_words_the_too_thin_overlap_in_its_options(tmp_path, capsys):
    folder = tmp_path / "tiles"
    rng = np.random.default_rng(0)
    _write_tiles(folder, [rng.integers(0, 255, (60, 60), dtype=np.uint8) for _ in range(4)])
    assert main(["stitch", str(folder), "-o", str(tmp_path / "o.tif"), "--overlap", "0.1", "--backend", "python"]) == 1
    err = capsys.readouterr().err
    assert err.rstrip() == ("labelfree: error: Cannot find the grid of 4 tiles of 60x60 px: an overlap of 0.1 leaves "
                            f"strips thinner than 16 px to match. Give the true overlap, or {CLI_WAY}")


def test_the_refusal_in_imagej_terms_names_the_cell_and_the_keys(shared_data):
    from labelfree.imagej.terms import in_imagej_terms

    tiles = _msc_3x4(shared_data)
    said = in_imagej_terms(str(_refusal(tiles[:5] + tiles[6:])))
    assert "with no tile at row 2, column 2 (between tiles 5 and 6) than as the best full grid" in said
    assert ", the stack's planes counted from 1, while the pairs only the 3x4 grid has match" in said
    assert said.endswith("Check that no tile is missing, or give the grid with rows= and cols= (and the order with "
                         "order=).")
    assert "stitch(" not in said and "--grid" not in said and "config" not in said
