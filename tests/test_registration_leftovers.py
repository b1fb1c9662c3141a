"""Left-overs of drift and stitching: a strip of tiles with one missing inside is refused (numbered files) or warned
of (overlaps with structure that match nowhere); the positions table of ``labelfree stitch`` counts tiles from 1, with
their files, as its warnings do; drift warnings name at most 10 frames, counted from 0 as LabelFree's other messages
count them, and ImageJ's Log says them from 1 once; ``labelfree stitch`` and ``labelfree drift`` record their command
line and working folder, as the other commands do."""

from __future__ import annotations

import logging
import os
import shlex

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi

from labelfree.cli import main
from labelfree.imagej.terms import in_imagej_terms
from labelfree.io.labels_tiff import read_provenance
from labelfree.registration import estimate_drift, stitch


def _textured(shape: tuple[int, int], seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (ndi.gaussian_filter(rng.random(shape), 3) * 1000).astype(np.float32)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- a strip with a tile missing inside --------------------------------------------------------------------------

def _strip(n: int = 6, seed: int = 2) -> list[np.ndarray]:
    """``n`` tiles of 200 x 200 px in one row, 150 px apart (25 % overlap), each with its own noise."""
    rng = np.random.default_rng(seed)
    scene = (ndi.gaussian_filter(rng.random((210, 150 * n + 200)), 1.5) * 1000).astype(np.float32)
    return [scene[5:205, 5 + 150 * k:205 + 150 * k] + rng.normal(0, 5, (200, 200)).astype(np.float32)
            for k in range(n)]


GAP_WARNING = ("stitch: the 1x5 grid row-by-row found from the tiles puts side by side tiles 3 and 4 (best NCC {}) "
               "(tiles counted from 1 in the order given), whose overlaps hold structure but match at no shift: a tile "
               "is likely missing between them, and the tiles after it are placed one cell early. Check that no tile "
               "is missing; to stitch tiles with a gap, give each tile's position (layout / TileConfiguration.txt).")


def test_a_strip_with_a_tile_missing_inside_is_warned_of_naming_the_gap(caplog):
    """Was: 5 of a row of 6 tiles (the 4th missing) laid out as a row of 5 with only the linked groups' warning, which
    blames overlaps without texture as much as a missing tile."""
    tiles = _strip()
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        fused, _ = stitch(tiles[:3] + tiles[4:], overlap=0.25, backend="python")
    assert fused.attrs["stitching"]["auto"]["grid"] == "1x5"
    named = [w for w in _warnings(caplog) if "found from the tiles puts side by side" in w]
    assert len(named) == 1, _warnings(caplog)
    best = named[0].split("(best NCC ")[1][:4]
    assert named[0] == GAP_WARNING.format(best) and float(best) < 0.3
    said = in_imagej_terms(named[0])
    assert "tiles 3 and 4 (best NCC" in said and "(tiles: the stack's planes, counted from 1)" in said


def test_a_real_strip_with_a_tile_missing_inside_is_warned_of(shared_data, caplog):
    """Five MSC tiles of a row less the middle one: the gap between tiles 2 and 3 is named; the whole row is quiet."""
    from registration.test_stitch_auto_grid import _cut, _frame

    tiles = _cut(_frame(shared_data, "Fluo-C2DL-MSC"), 1, 5, (300, 200), noise=60.0)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        stitch(tiles, backend="python")
    assert _warnings(caplog) == []
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        stitch(tiles[:2] + tiles[3:], backend="python")
    named = [w for w in _warnings(caplog) if "found from the tiles puts side by side" in w]
    assert len(named) == 1 and named[0].startswith("stitch: the 1x4 grid row-by-row found from the tiles puts side by "
                                                   "side tiles 2 and 3 (best NCC "), _warnings(caplog)


def test_a_whole_strip_is_not_warned_of():
    tiles = _strip()
    from labelfree.registration.stitch import StitchConfig, _smooth
    from labelfree.registration.tiles import find_grid, unmatched_neighbours

    smooth = [_smooth(t, StitchConfig()) for t in tiles]
    choice = find_grid(smooth, overlap=0.25)
    assert choice.grid == "1x6" and unmatched_neighbours(smooth, choice, overlap=0.25) == []
    gapped = smooth[:3] + smooth[4:]
    choice = find_grid(gapped, overlap=0.25)
    assert [(i, j) for i, j, _ in unmatched_neighbours(gapped, choice, overlap=0.25)] == [(2, 3)]


@pytest.mark.parametrize("names, skipped", [
    (["tile_1.tif", "tile_2.tif", "tile_4.tif", "tile_5.tif"], ["tile_3.tif"]),
    (["t001.tif", "t002.tif", "t005.tif", "t006.tif"], ["t003.tif", "t004.tif"]),
    (["r1_c1.tif", "r1_c2.tif", "r2_c2.tif"], ["r2_c1.tif"]),
    (["r1_c1.tif", "r1_c2.tif", "r2_c1.tif", "r2_c2.tif"], []),
    (["tile_0.tif", "tile_1.tif", "tile_2.tif"], []),
    (["s3_tile_1.tif", "s3_tile_2.tif", "s3_tile_3.tif"], []),  # a number that does not change is no tile's
    (["img_0930.tif", "img_1015.tif", "img_1102.tif"], []),  # times: more numbers skipped than tiles
    (["a1.tif", "b2.tif", "c4.tif"], []),  # no one pattern
    (["tile_1.tif", "tile_01.tif", "tile_3.tif"], []),  # a number twice
])
def test_the_names_a_numbering_of_tiles_skips(names, skipped):
    from labelfree.registration.cli import skipped_names

    assert skipped_names(names) == skipped


def _strip_folder(folder, gone: int = 3):
    """Tiles tile_1.tif ... tile_6.tif of a strip, tile ``gone + 1`` left out."""
    folder.mkdir()
    for k, tile in enumerate(_strip()):
        if k != gone:
            tifffile.imwrite(folder / f"tile_{k + 1}.tif", tile)
    return folder


def test_stitch_refuses_to_find_the_grid_of_numbered_tiles_with_a_gap(tmp_path, capsys):
    """Was: laid out as a 1x5 strip (the tiles after the gap one cell early), exit 0."""
    folder = _strip_folder(tmp_path / "tiles")
    out = tmp_path / "m.tif"
    assert main(["stitch", str(folder), "--overlap", "0.25", "--backend", "python", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert (f"Cannot find the grid from the tiles: the tile files in {folder} are numbered with a gap: tile_4.tif is "
            "missing among the 5 tiles, and a grid found from the tiles would put the tiles after the gap one cell "
            "early") in " ".join(err.split())
    assert "TileConfiguration.txt" in err and "--grid RxC" in err
    assert not out.exists()


def test_stitch_warns_of_a_gap_in_the_numbering_when_the_grid_is_given(tmp_path, caplog):
    folder = _strip_folder(tmp_path / "tiles")
    out = tmp_path / "m.tif"
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["stitch", str(folder), "--grid", "1x5", "--overlap", "0.25", "--backend", "python", "-o",
                     str(out), "-q"]) == 0
    said = [w for w in _warnings(caplog) if "numbered with a gap" in w]
    assert said == [(f"stitch: the tile files in {folder} are numbered with a gap: tile_4.tif is missing among the 5 "
                     "tiles; --grid 1x5 places the tiles after the gap one cell early. If a tile is missing, give each "
                     "tile's position in Fiji's TileConfiguration.txt as TILES instead.")]
    assert said[0] in read_provenance(out)["warnings"]


@pytest.mark.parametrize("grid", [[], ["--grid", "2x3"]])
def test_a_grid_whose_last_cell_is_missing_is_refused_as_incomplete(tmp_path, capsys, grid):
    """Was: "would put the tiles after the gap one cell early" (no tile comes after it) and the advice --grid RxC,
    which then failed ("A 2x3 grid needs 6 tiles; got 5")."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    for k, tile in enumerate(_strip(5)):
        tifffile.imwrite(folder / f"r{k // 3 + 1}_c{k % 3 + 1}.tif", tile)
    out = tmp_path / "m.tif"
    assert main(["stitch", str(folder), *grid, "--overlap", "0.25", "--backend", "python", "-o", str(out)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (f"Cannot stitch the tiles as a grid: the tile files in {folder} are numbered with a gap: r2_c3.tif is "
            "missing among the 5 tiles, the last cell(s) of their grid, which leaves it incomplete.") in err, err
    assert "TileConfiguration.txt" in err and "--grid RxC" not in err and "one cell early" not in err
    assert not out.exists()


def test_whole_numbered_tiles_are_stitched_without_a_word_of_gaps(tmp_path, caplog):
    folder = tmp_path / "tiles"
    folder.mkdir()
    for k, tile in enumerate(_strip(5)):
        tifffile.imwrite(folder / f"tile_{k + 1:02d}.tif", tile)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["stitch", str(folder), "--overlap", "0.25", "--backend", "python", "-o",
                     str(tmp_path / "m.tif"), "-q"]) == 0
    assert _warnings(caplog) == []


# --- the positions table counts tiles as the warnings do ---------------------------------------------------------

def _four_tiles() -> list[np.ndarray]:
    """2x2 tiles of 96 px 72 px apart (24 px overlap); the last without texture: it links to no neighbour."""
    big = _textured((168, 168))
    tiles = [big[y:y + 96, x:x + 96].copy() for y in (0, 72) for x in (0, 72)]
    tiles[3][:] = 500.0
    return tiles


def test_the_positions_table_written_counts_tiles_from_1_with_their_files_as_the_warnings(tmp_path, caplog):
    """Was: columns tile (0-3), y_nominal, ... while the warning named "tile 4": the table's row of tile 3."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    for k, tile in enumerate(_four_tiles()):
        tifffile.imwrite(folder / f"t{k + 1}.tif", tile)
    pos = tmp_path / "positions.csv"
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["stitch", str(folder), "--grid", "2x2", "--overlap", "0.25", "--backend", "python", "-o",
                     str(tmp_path / "m.tif"), "--positions", str(pos), "-q"]) == 0
    assert "keeps its nominal position: tile 4 (tiles counted from 1" in " ".join(_warnings(caplog))
    table = pd.read_csv(pos)
    assert list(table.columns) == ["file", "tile", "y_nominal", "x_nominal", "y", "x", "links"]
    assert table["file"].tolist() == ["t1.tif", "t2.tif", "t3.tif", "t4.tif"]
    assert table["tile"].tolist() == [1, 2, 3, 4]
    assert table.loc[table["links"] == 0, ["file", "tile"]].values.tolist() == [["t4.tif", 4]]
    _, positions = stitch(_four_tiles(), (2, 2), overlap=0.25, backend="python")
    assert positions["tile"].tolist() == [0, 1, 2, 3]  # Python's table: the index into the list of tiles
    np.testing.assert_array_equal(table[["y", "x"]].to_numpy(), positions[["y", "x"]].to_numpy())


# --- drift warnings name their frames as LabelFree's other messages -----------------------------------------------

def _movie_with_blank_frames(blank: range, n: int = 16) -> np.ndarray:
    big = _textured((120, 120), seed=4)
    movie = np.stack([big[10 + t % 3:90 + t % 3, 10:90] for t in range(n)])
    movie[list(blank)] = 500.0
    return movie


def test_drift_names_at_most_ten_frames_counted_from_0_and_imagej_says_them_from_1_once(caplog):
    """Was: "for frames [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] (0-based)", every frame, however many."""
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        estimate_drift(_movie_with_blank_frames(range(2, 14)), config={"backend": "python"})
    said = [w for w in _warnings(caplog) if "no usable match" in w]
    assert said == [("drift: no usable match (no content, or a correlation no better than chance) for 12 frames (the "
                     "first: frames [2, 3, 4, 5, 6, 7, 8, 9, 10, 11] (0-based)): they keep the drift of the frame "
                     "before and are not used as reference; check those frames.")]
    assert in_imagej_terms(said[0]) == (
        "drift: no usable match (no content, or a correlation no better than chance) for 12 frames (the first: frames "
        "3, 4, 5, 6, 7, 8, 9, 10, 11, 12 (the stack's frames, counted from 1)): they keep the drift of the frame "
        "before and are not used as reference; check those frames.")


def test_drift_names_a_few_frames_as_before(caplog):
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        estimate_drift(_movie_with_blank_frames(range(2, 4)), config={"backend": "python"})
    said = [w for w in _warnings(caplog) if "no usable match" in w]
    assert len(said) == 1 and "for frames [2, 3] (0-based): they keep" in said[0]
    assert "for frames 3, 4 (the stack's frames, counted from 1): they keep" in in_imagej_terms(said[0])


# --- the command line and working folder in the provenance -------------------------------------------------------

def test_labelfree_stitch_records_its_command_line_and_working_folder(tmp_path, monkeypatch):
    """Was: the mosaic's record held the tiles and the warnings, but no command and no cwd."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    big = _textured((168, 168))
    for k, (y, x) in enumerate(((0, 0), (0, 72), (72, 0), (72, 72)), 1):
        tifffile.imwrite(folder / f"t{k}.tif", big[y:y + 96, x:x + 96])
    monkeypatch.chdir(tmp_path)
    argv = ["stitch", "tiles", "--grid", "2x2", "--overlap", "0.25", "--backend", "python", "-o", "mosaic.tif", "-q"]
    assert main(argv) == 0
    record = read_provenance(tmp_path / "mosaic.tif")
    assert record["command"] == shlex.join(["labelfree", *argv])
    assert record["cwd"] == os.getcwd() == str(tmp_path)
    assert record["stitch"]["tiles"] == ["t1.tif", "t2.tif", "t3.tif", "t4.tif"] and "warnings" not in record


def test_labelfree_drift_records_its_command_line_and_working_folder(tmp_path, monkeypatch):
    """Was: no record at all without warnings; with --labels none even with warnings."""
    movie = _movie_with_blank_frames(range(0))[:6]
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    labels = (movie > 500).astype(np.uint16)
    tifffile.imwrite(tmp_path / "labels.tif", labels, imagej=True, metadata={"axes": "TYX"})
    monkeypatch.chdir(tmp_path)
    measured = ["drift", "movie.tif", "--backend", "python", "-o", "corrected.tif", "--shifts", "shifts.csv", "-q"]
    applied = ["drift", "labels.tif", "--apply", "shifts.csv", "--labels", "-o", "labels_corrected.tif", "-q"]
    for argv, out in ((measured, "corrected.tif"), (applied, "labels_corrected.tif")):
        assert main(argv) == 0
        record = read_provenance(tmp_path / out)
        assert record == {"command": shlex.join(["labelfree", *argv]), "cwd": str(tmp_path)}, out
