"""A folder of tiles is stitched in the order the folder reader and the records use (numbers as numbers, case
ignored: :func:`labelfree._input_digest.natural_key`)."""

import tifffile
from registration.test_stitch_auto_grid import _cut, _frame, _write_tiles

from labelfree.cli import main


def test_tiles_whose_names_differ_in_case_are_stitched_in_number_order(shared_data, tmp_path):
    """Was: the tiles were sorted with upper case first, so ``Tile_2.tif`` among ``tile_N.tif`` went to the first
    cell of the grid and the mosaic was scrambled."""
    tiles = _cut(_frame(shared_data, "Fluo-N2DH-GOWT1"), 2, 3, (256, 256))
    plain = tmp_path / "plain"
    _write_tiles(plain, tiles)
    mixed = tmp_path / "mixed"
    _write_tiles(mixed, tiles)
    (mixed / "tile_2.tif").rename(mixed / "Tile_2.tif")
    fused = {}
    for folder in (plain, mixed):
        out = tmp_path / f"{folder.name}.tif"
        assert main(["stitch", str(folder), "--grid", "2x3", "-o", str(out), "--backend", "python"]) == 0
        fused[folder.name] = tifffile.imread(out)
    assert fused["mixed"].shape == fused["plain"].shape
    assert (fused["mixed"] == fused["plain"]).all()
