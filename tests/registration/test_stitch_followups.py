"""Stitch follow-ups: a warning when linked tiles form groups that no matched overlap joins (a strip with a gap), and
the advice of the tiles-of-different-sizes and not-a-TileConfiguration errors in each caller's terms (Python, the
command line, ImageJ)."""

import logging
import pickle

import numpy as np
import pytest
import tifffile
from registration.test_stitch_auto_grid import _cut, _frame, _write_tiles

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.registration import read_tile_configuration, stitch
from labelfree.registration.tiles import GridNotFoundError

GROUPS = ("stitch: the linked tiles form 2 groups that no matched overlap links to each other: group 1: tiles 1-2; "
          "group 2: tiles 3-4 (tiles counted from 1 in the order given). Each group is placed by its overlaps, but "
          "where the groups lie relative to each other is the nominal grid's, not measured. A tile missing between "
          "them, overlaps without texture or a wrong layout do this; check the tile order (order= / --order), the "
          "overlap (overlap= / --overlap) and the grid size (--grid).")
IMAGEJ_GROUPS = ("stitch: the linked tiles form 2 groups that no matched overlap links to each other: group 1: tiles "
                 "1-2; group 2: tiles 3-4 (tiles: the stack's planes, counted from 1). Each group is placed by its "
                 "overlaps, but where the groups lie relative to each other is the nominal grid's, not measured. A "
                 "tile missing between them, overlaps without texture or a wrong layout do this; check the tile "
                 "order (order=), the overlap (overlap=) and the grid size (rows= and cols=).")


def _strip(shared_data):
    """Five MSC tiles of a row (300x200 px, 20 % overlap, jittered, noisy) and the four left without the middle one."""
    tiles = _cut(_frame(shared_data, "Fluo-C2DL-MSC"), 1, 5, (300, 200), noise=60.0)
    return tiles, tiles[:2] + tiles[3:]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("labelfree") and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("layout", [None, (1, 4)])
def test_a_strip_with_a_gap_warns_that_its_groups_keep_the_nominal_offset(shared_data, caplog, layout):
    """Was: no word; tiles 3-4 (after the gap) linked to each other only, placed 160 px from tile 2 as the nominal
    strip says, not where they lie (320 px on)."""
    _, gapped = _strip(shared_data)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        fused, positions = stitch(gapped, layout, backend="python")
    shown = _warnings(caplog)
    if layout is None:  # the grid found also names the pair placed side by side across the gap, first
        assert len(shown) == 2 and "found from the tiles puts side by side tiles 2 and 3" in shown[0], shown
        assert shown[1] == GROUPS
    else:
        assert shown == [GROUPS]
    assert list(positions["links"]) == [1, 1, 1, 1]
    if layout is None:
        assert fused.attrs["stitching"]["auto"]["grid"] == "1x4"


def test_the_whole_strip_and_a_single_unlinked_tile_give_no_groups_warning(shared_data, caplog):
    tiles, _ = _strip(shared_data)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        _, positions = stitch(tiles, (1, 5), backend="python")
    assert _warnings(caplog) == [] and list(positions["links"]) == [1, 2, 2, 2, 1]
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        stitch(tiles[:3] + [np.zeros_like(tiles[0])], (1, 4), backend="python")  # the last tile alone: one group
    assert [line[:140] for line in _warnings(caplog)] == [
        "stitch: 1 of 4 tiles has no trustworthy link to a neighbour and keeps its nominal position: tile 4 (tiles "
        "counted from 1 in the order given)"]


def test_the_groups_are_named_as_runs_of_tiles_counted_from_1():
    from labelfree.registration._optimize import Link
    from labelfree.registration.stitch import _linked_groups, _runs

    kept = [Link(0, 1, (0, 0), 1.0), Link(1, 2, (0, 0), 1.0), Link(5, 3, (0, 0), 1.0), Link(4, 6, (0, 0), 1.0),
            Link(2, 7, (0, 0), 1.0)]
    assert _linked_groups(9, kept) == [[0, 1, 2, 7], [3, 5], [4, 6]]
    assert [_runs(g) for g in _linked_groups(9, kept)] == ["1-3, 8", "4, 6", "5, 7"]


def test_the_cli_shows_the_groups_warning(shared_data, tmp_path, caplog):
    _, gapped = _strip(shared_data)
    _write_tiles(tmp_path / "tiles", gapped)
    out = tmp_path / "fused.tif"
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["stitch", str(tmp_path / "tiles"), "-o", str(out), "--grid", "1x4", "--backend", "python",
                     "-q"]) == 0
    assert _warnings(caplog) == [GROUPS] and out.exists()


def test_the_imagej_log_gets_the_groups_warning_in_imagej_terms(shared_data, monkeypatch):
    """The route of LabelFree Stitch's logged warnings (labelfree.imagej.tools.run_tool): relay_log_warnings."""
    import scyjava

    from labelfree.imagej.dialog import relay_log_warnings

    logged = []

    class IJ:
        @staticmethod
        def log(line):
            logged.append(line)

    monkeypatch.setattr(scyjava, "jimport", lambda name: IJ if name == "ij.IJ" else None)
    _, gapped = _strip(shared_data)
    with relay_log_warnings("LabelFree Stitch"):
        stitch(gapped, (1, 4), backend="python")
    assert logged == [f"LabelFree Stitch warning: {IMAGEJ_GROUPS.removeprefix('stitch: ')}"]  # the name once


SIZES = ("Finding the grid of the tiles needs tiles of one size; got sizes [(60, 60), (60, 70)]. Give the layout "
         "instead: ")
PYTHON_SIZES = (SIZES + "give the grid: stitch(tiles, (rows, cols)) (and the order: config={'order': ...}), or give "
                "each tile's position: stitch(tiles, yx) (yx: a table with y and x columns, or an (N, 2) array; "
                "pixels).")
CLI_SIZES = (SIZES + "give the grid with --grid RxC (and the order with --order ORDER), or give each tile's position "
             "in Fiji's TileConfiguration.txt as TILES (labelfree stitch TILES_DIR/TileConfiguration.txt).")
IMAGEJ_SIZES = (SIZES + "give the grid with rows= and cols= (and the order with order=), or give each tile's position "
                "in a TileConfiguration.txt (Plugins > Stitching > Grid/Collection stitching, Type: Positions from "
                "file).")


def _two_sizes():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (60, 60), dtype=np.uint8), rng.integers(0, 255, (60, 70), dtype=np.uint8)]


def test_tiles_of_different_sizes_are_refused_in_python_terms():
    """Was: one message with the advice of all three routes (--grid RxC; Fiji rows= and cols=; Python ...)."""
    with pytest.raises(GridNotFoundError) as err:
        stitch(_two_sizes(), backend="python")
    assert str(err.value) == PYTHON_SIZES and err.value.tiles == 2
    python_grid = "give the grid: stitch(tiles, (rows, cols)) (and the order: config={'order': ...})"
    assert err.value.said("give the grid with --grid RxC") == PYTHON_SIZES.replace(python_grid, "give the grid with "
                                                                                   "--grid RxC")
    from labelfree.registration.tiles import GIVE_POSITIONS

    assert GIVE_POSITIONS in str(err.value)
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == PYTHON_SIZES and again.tiles == 2


def test_tiles_of_different_sizes_are_refused_in_the_cli_terms(tmp_path, capsys):
    _write_tiles(tmp_path / "tiles", _two_sizes())
    assert main(["stitch", str(tmp_path / "tiles"), "-o", str(tmp_path / "o.tif"), "--backend", "python"]) == 1
    err = capsys.readouterr().err
    assert err.rstrip() == f"labelfree: error: {CLI_SIZES}"
    assert not (tmp_path / "o.tif").exists()


def test_tiles_of_different_sizes_are_refused_in_imagej_terms():
    from labelfree.imagej.terms import in_imagej_terms

    with pytest.raises(InputError) as err:
        stitch(_two_sizes(), backend="python")
    assert in_imagej_terms(str(err.value)) == IMAGEJ_SIZES


BINARY = "movie.tif is not a TileConfiguration file (it holds binary data, e.g. an image, not lines 'file; ; (x, y)'). "


def test_an_image_read_as_tile_configuration_is_refused_in_python_terms(tmp_path):
    """Was: the advice named the command line (labelfree stitch TILES_DIR --grid 3x4) to a Python caller."""
    from labelfree.registration.tiles import NotTileConfigurationError

    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.zeros((3, 20, 20), np.uint16), photometric="minisblack")
    with pytest.raises(NotTileConfigurationError) as err:
        read_tile_configuration(path)
    text = str(err.value)
    assert text == (f"{tmp_path}/{BINARY}Give Fiji's TileConfiguration.txt, or stitch the images as a grid: "
                    "stitch([labelfree.io.read_image(f) for f in files], (rows, cols)).")
    assert "--grid" not in text and "labelfree stitch" not in text and err.value.path == path
    assert isinstance(err.value, InputError) and str(pickle.loads(pickle.dumps(err.value))) == text


def test_an_image_given_as_tiles_keeps_the_cli_advice(tmp_path, capsys):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.zeros((3, 20, 20), np.uint16), photometric="minisblack")
    assert main(["stitch", str(path), "-o", str(tmp_path / "fused.tif")]) == 1
    err = capsys.readouterr().err
    assert err.rstrip() == (f"labelfree: error: {tmp_path}/{BINARY}Give a folder of tiles with --grid RxC (labelfree "
                            "stitch TILES_DIR --grid 3x4), or Fiji's TileConfiguration.txt.")
