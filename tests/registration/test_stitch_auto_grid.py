"""Stitching without a layout: the grid (rows, columns, order) found from real tiles' overlaps."""

import json
import re

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.registration import grid_positions, stitch
from labelfree.registration.stitch import StitchConfig, _smooth


def _frame(shared_data, dataset, name="t000.tif"):
    path = shared_data / "ctc" / dataset / "01" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


def _cut(frame, rows, cols, tile, *, order="row-by-row", overlap=0.2, seed=0, jitter=8, noise=3.0):
    """Tiles of ``frame`` on a jittered grid, with independent Gaussian noise each (as two exposures)."""
    rng = np.random.default_rng(seed)
    nominal = grid_positions(tile, rows=rows, cols=cols, overlap=overlap, order=order) + jitter
    true = (nominal + rng.integers(-jitter, jitter + 1, nominal.shape)).astype(int)
    top = np.iinfo(frame.dtype).max
    return [np.clip(frame[y:y + tile[0], x:x + tile[1]] + rng.normal(0, noise, tile), 0, top).astype(frame.dtype)
            for y, x in true]


# (dataset, rows, cols, tile, true order): GOWT1 nuclei (sparse, mostly dark) and MSC cells (uint16)
CASES = [("Fluo-N2DH-GOWT1", 3, 4, (256, 256), "row-by-row"),
         ("Fluo-C2DL-MSC", 2, 3, (300, 300), "row-by-row"),
         ("Fluo-C2DL-MSC", 3, 4, (220, 200), "snake-by-rows")]


@pytest.mark.parametrize("dataset, rows, cols, tile, order", CASES)
def test_the_grid_found_is_the_true_one_and_stitches_as_the_given_grid(shared_data, dataset, rows, cols, tile, order):
    """Was: stitch(tiles) a TypeError (no layout) and stitch(tiles, "auto") an InputError."""
    frame = _frame(shared_data, dataset)
    noise = 3.0 if frame.dtype == np.uint8 else 60.0
    tiles = _cut(frame, rows, cols, tile, order=order, noise=noise)
    fused, positions = stitch(tiles, backend="python")
    auto = fused.attrs["stitching"]["auto"]
    assert (auto["rows"], auto["cols"], auto["order"], auto["grid"]) == (rows, cols, order, f"{rows}x{cols}")
    assert auto["margin"] >= 0.1 and auto["score"] > auto["runner_up_score"]
    given, given_positions = stitch(tiles, (rows, cols), config={"order": order}, backend="python")
    np.testing.assert_array_equal(fused.values, given.values)
    assert positions.equals(given_positions)
    assert "auto" not in given.attrs["stitching"]
    again, _ = stitch(tiles, "auto", backend="python")
    np.testing.assert_array_equal(again.values, fused.values)


def test_the_chosen_grid_and_its_evidence_are_logged(shared_data, caplog):
    tiles = _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))
    with caplog.at_level("INFO", logger="labelfree.registration.stitch"):
        fused, _ = stitch(tiles, backend="python")
    auto = fused.attrs["stitching"]["auto"]
    line = next(r.getMessage() for r in caplog.records if "grid found" in r.getMessage())
    assert line.startswith("stitch: grid found from the 12 tiles: 3x4 row-by-row (mean overlap NCC ")
    assert f"next best {auto['runner_up']} ({auto['runner_up_score']:.2f})" in line
    assert f"where the two put different tiles side by side, 3x4's pairs match better by {auto['margin']:.2f}" in line


def _unrelated(shared_data, n):
    """``n`` tiles from far-apart places of different frames: no two of them overlap."""
    frame = _frame(shared_data, "Fluo-C2DL-MSC")
    return [frame[y:y + 180, x:x + 180] for y in (20, 420) for x in (0, 300, 600)][:n]


def test_tiles_whose_grid_cannot_be_told_get_one_clear_message(shared_data):
    tiles = _unrelated(shared_data, 6)
    with pytest.raises(InputError) as err:
        stitch(tiles, backend="python")
    text = str(err.value)
    assert text.startswith("Cannot tell the grid of 6 tiles from their overlaps: no layout matches clearly better "
                           "than all others. The best is ")
    assert "put different tiles side by side" in text and "(at least 0.1 is needed)." in text
    assert text.endswith("Check the overlap (0.2) and that the tiles overlap their neighbours, or give the grid: "
                         "stitch(tiles, (rows, cols)) (and the order: config={'order': ...}).")
    assert "--grid" not in text and "Fiji" not in text and "has match" not in text


def test_an_overlap_too_thin_to_match_is_refused_before_any_matching():
    from labelfree.registration.tiles import find_grid

    tiles = [np.zeros((60, 60), np.float32)] * 4
    with pytest.raises(InputError, match=r"Cannot find the grid of 4 tiles of 60x60 px: an overlap of 0.1 leaves "
                                         r"strips thinner than 16 px to match\. Give the true overlap, or give "
                                         r"the grid: stitch\(tiles, \(rows, cols\)\)"):
        find_grid(tiles, overlap=0.1)


def test_tiles_of_different_sizes_need_a_layout():
    tiles = [np.zeros((60, 60), np.uint8), np.zeros((60, 70), np.uint8)]
    with pytest.raises(InputError, match=r"Finding the grid of the tiles needs tiles of one size; got sizes "
                                         r"\[\(60, 60\), \(60, 70\)\]\. Give the layout"):
        stitch(tiles, backend="python")


def test_find_grid_on_a_single_row_tells_it_from_a_single_column(shared_data):
    """Five tiles (a prime number): 1x5 and 5x1 are told apart by which sides of the tiles match."""
    from labelfree.registration.tiles import find_grid

    frame = _frame(shared_data, "Fluo-C2DL-MSC")
    cfg = StitchConfig()
    row = [_smooth(t.astype(np.float32), cfg) for t in _cut(frame, 1, 5, (300, 200), noise=60.0)]
    choice = find_grid(row, overlap=0.2)
    assert (choice.rows, choice.cols, choice.runner_up) == (1, 5, (5, 1, "row-by-row"))
    # the same tiles turned by 90 degrees lie in one column
    column = [_smooth(np.ascontiguousarray(t.T).astype(np.float32), cfg) for t in
              _cut(frame, 1, 5, (300, 200), noise=60.0)]
    choice = find_grid(column, overlap=0.2)
    assert (choice.rows, choice.cols, choice.runner_up) == (5, 1, (1, 5, "row-by-row"))


def _write_tiles(folder, tiles):
    folder.mkdir()
    for i, t in enumerate(tiles):
        tifffile.imwrite(folder / f"tile_{i + 1}.tif", t, imagej=True)


def test_cli_without_grid_finds_it_and_records_it(shared_data, tmp_path, capsys):
    """Was: `labelfree stitch FOLDER -o out.tif` refused with 'A folder of tiles needs --grid ROWSxCOLS'."""
    folder = tmp_path / "tiles"
    _write_tiles(folder, _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256)))
    auto, auto2, given = tmp_path / "auto.tif", tmp_path / "auto2.tif", tmp_path / "given.tif"
    assert main(["stitch", str(folder), "-o", str(auto), "--backend", "python"]) == 0
    out = capsys.readouterr().out
    assert "from 12 tiles" in out
    assert "grid found from the tiles: 3x4 row-by-row (mean overlap NCC " in out
    assert "(give --grid RxC to set it)" in out
    assert main(["stitch", str(folder), "--grid", "auto", "-o", str(auto2), "--backend", "python"]) == 0
    assert main(["stitch", str(folder), "--grid", "3x4", "-o", str(given), "--backend", "python", "-q"]) == 0
    np.testing.assert_array_equal(tifffile.imread(auto), tifffile.imread(given))
    np.testing.assert_array_equal(tifffile.imread(auto2), tifffile.imread(given))
    with tifffile.TiffFile(auto) as tif:
        record = json.loads(tif.imagej_metadata["Properties"]["labelfree"])
    assert record["stitch"]["auto"]["grid"] == "3x4" and record["stitch"]["auto"]["order"] == "row-by-row"
    with tifffile.TiffFile(given) as tif:
        assert "auto" not in json.loads(tif.imagej_metadata["Properties"]["labelfree"])["stitch"]


def test_cli_refuses_an_undecidable_folder_and_a_bad_grid(shared_data, tmp_path, capsys):
    folder = tmp_path / "tiles"
    _write_tiles(folder, _unrelated(shared_data, 6))
    out = tmp_path / "o.tif"
    assert main(["stitch", str(folder), "-o", str(out), "--backend", "python"]) == 1
    err = capsys.readouterr().err
    assert "Cannot tell the grid of 6 tiles from their overlaps" in err
    assert err.rstrip().endswith("or give the grid with --grid RxC (and the order with --order ORDER).")
    assert "stitch(tiles" not in err and "rows=" not in err and "Fiji" not in err
    assert not out.exists()
    assert main(["stitch", str(folder), "--grid", "3by2", "-o", str(out)]) == 1
    assert "--grid 3by2 is not ROWSxCOLS: give e.g. --grid 3x4" in capsys.readouterr().err
    assert main(["stitch", str(folder), "--grid", "0x6", "-o", str(out)]) == 1
    assert "--grid 0x6 has no tiles" in capsys.readouterr().err


def test_stitch_fields_default_to_a_grid_found_from_the_tiles():
    from labelfree.imagej.fields import command_fields

    fields = {f.key: f for f in command_fields("stitch")}
    assert (fields["rows"].default, fields["cols"].default) == (0, 0)
    assert fields["rows"].range == fields["cols"].range == ">= 0"


def test_imagej_rows_and_cols_become_a_layout():
    from labelfree.errors import DimensionError
    from labelfree.imagej.tools import _grid

    assert _grid(0, 0, 12) == "auto"
    assert _grid(0, 4, 12) == (3, 4) and _grid(3, 0, 12) == (3, 4) and _grid(3, 4, 12) == (3, 4)
    with pytest.raises(DimensionError, match=r"cols=5, but the stack's 12 planes do not fill whole cols"):
        _grid(0, 5, 12)
    with pytest.raises(DimensionError, match=r"rows=1 x cols=1 = 1 tiles, but the stack has 12 planes; give a grid "
                                             r"that matches, or rows=0 cols=0 to find the grid from the tiles\."):
        _grid(1, 1, 12)


ELEVEN = ("Cannot tell the grid of 11 tiles from their overlaps: they match better as a 3x4 grid row-by-row with its "
          "last tile missing than as the best full grid, 1x11 row-by-row: it puts side by side tiles 4 and 5 (overlap "
          "NCC {}) and tiles 8 and 9 ({}), counted from 1 in the order given, while the pairs only the 3x4 grid "
          "has match with a mean NCC of {}. ")
_NUMBER = r"(\d\.\d\d)"


def _scores_in(text: str, form: str = ELEVEN) -> list[float]:
    """The three scores of the refusal of the 11 tiles, ``text`` checked word for word otherwise."""
    m = re.match(re.escape(form).replace(re.escape("{}"), _NUMBER), text)
    assert m, text
    return [float(v) for v in m.groups()]


def test_a_grid_with_a_tile_missing_is_refused_naming_the_pairs_that_do_not_match(shared_data):
    """Was: 11 tiles of a 3x4 grid stitched as a 1x11 strip ('margin 0.44'): with a prime number of tiles only 1x11
    and 11x1 exist, and the row breaks of 1x11 put tiles 4 and 5, 8 and 9 side by side, which do not match."""
    tiles = _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))[:11]
    with pytest.raises(InputError) as err:
        stitch(tiles, backend="python")
    text = str(err.value)
    first, second, true_pairs = _scores_in(text)
    assert first < 0.3 and second < 0.3 <= true_pairs  # the stitcher's regression threshold: only the 3x4 pairs match
    assert text.endswith("Check that no tile is missing, or give the grid: stitch(tiles, (rows, cols)) (and the "
                         "order: config={'order': ...}).")
    # the same tiles acquired as a snake: the grid they match is the 3x4 snake
    snake = _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256), order="snake-by-rows")[:11]
    with pytest.raises(InputError, match=r"they match better as a 3x4 grid snake-by-rows with its last tile missing"):
        stitch(snake, backend="python")


def test_a_grid_with_two_tiles_missing_is_refused(shared_data):
    """10 tiles of a 3x4 grid also fill 2x5 and 5x2: the grid lacking its last two tiles matches better."""
    tiles = _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))[:10]
    with pytest.raises(InputError, match=r"^Cannot tell the grid of 10 tiles from their overlaps: they match better as "
                                         r"a 3x4 grid row-by-row with its last 2 tiles missing than as the best full "
                                         r"grid, "):
        stitch(tiles, backend="python")


def test_the_refusal_of_a_grid_with_a_tile_missing_in_imagej_terms(shared_data):
    from labelfree.imagej.terms import in_imagej_terms

    tiles = _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))[:11]
    with pytest.raises(InputError) as err:
        stitch(tiles, backend="python")
    said = in_imagej_terms(str(err.value))
    assert _scores_in(said, ELEVEN.replace("counted from 1 in the order given", "the stack's planes counted from 1")) \
        == _scores_in(str(err.value))
    assert said.endswith("Check that no tile is missing, or give the grid with rows= and cols= (and the order with "
                         "order=).")
    assert "stitch(" not in said and "--grid" not in said and "config" not in said


def test_the_cli_refuses_a_folder_with_a_tile_missing_in_its_own_terms(shared_data, tmp_path, capsys):
    folder = tmp_path / "tiles"
    _write_tiles(folder, _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 3, 4, (256, 256))[:11])
    out = tmp_path / "o.tif"
    assert main(["stitch", str(folder), "-o", str(out), "--backend", "python"]) == 1
    err = capsys.readouterr().err
    assert _scores_in(err.split("labelfree: error: ", 1)[1])[2] >= 0.3
    assert err.rstrip().endswith("Check that no tile is missing, or give the grid with --grid RxC (and the order with "
                                 "--order ORDER).")
    assert "stitch(tiles" not in err and "rows=" not in err and not out.exists()
    # the grid given: the 11 tiles are still refused (a 3x4 grid needs 12), as before
    assert main(["stitch", str(folder), "--grid", "3x4", "-o", str(out), "--backend", "python"]) == 1
    assert "A 3x4 grid needs 12 tiles; got 11." in capsys.readouterr().err
