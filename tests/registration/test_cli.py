"""`labelfree drift` and `labelfree stitch` on files."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi

from labelfree.cli import main
from labelfree.io import read_image
from labelfree.registration import grid_positions, write_tile_configuration


def _scene(shape, seed=0):
    return (ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 2) * 4000).astype(np.uint16)


def test_drift_cli_writes_movie_and_shifts_and_reapplies_them(tmp_path, capsys):
    scene = _scene((140, 160))
    drift = [(0, 0), (4, -3), (-2, 6)]
    movie = np.stack([np.roll(scene, d, axis=(0, 1)) for d in drift])[:, 10:130, 10:150]
    src = tmp_path / "movie.tif"
    tifffile.imwrite(src, movie, imagej=True, metadata={"axes": "TYX"})
    out, csv = tmp_path / "out.tif", tmp_path / "shifts.csv"
    assert main(["drift", str(src), "-o", str(out), "--shifts", str(csv), "--canvas", "crop", "--integer"]) == 0
    assert "largest drift 6.00 px" in capsys.readouterr().out
    shifts = pd.read_csv(csv)
    np.testing.assert_array_equal(shifts[["dy", "dx"]].to_numpy(), drift)
    corrected = read_image(out)
    assert corrected.sizes["T"] == 3 and corrected.sizes["Y"] == 114 and corrected.sizes["X"] == 131
    np.testing.assert_array_equal(corrected.isel(T=2).values, corrected.isel(T=0).values)
    again = tmp_path / "again.tif"
    assert main(["drift", str(src), "-o", str(again), "--apply", str(csv), "--canvas", "crop"]) == 0
    np.testing.assert_array_equal(tifffile.imread(again), tifffile.imread(out))


def test_drift_cli_reports_a_single_frame_clearly(tmp_path, capsys):
    src = tmp_path / "one.tif"
    tifffile.imwrite(src, _scene((1, 30, 30)), imagej=True, metadata={"axes": "TYX"})
    assert main(["drift", str(src), "-o", str(tmp_path / "o.tif")]) == 1
    assert "at least 2 frames" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("use_layout_file", [False, True])
def test_stitch_cli_from_folder_or_tile_configuration(tmp_path, use_layout_file):
    scene = _scene((260, 300), seed=1)
    nominal = grid_positions((120, 140), rows=2, cols=2, overlap=0.25)
    true = nominal + np.array([[4, 4], [2, 7], [7, 1], [5, 5]])
    folder = tmp_path / "tiles"
    folder.mkdir()
    names = [f"tile_{i + 1}.tif" for i in range(4)]
    for name, (y, x) in zip(names, true.astype(int)):
        tifffile.imwrite(folder / name, scene[y:y + 120, x:x + 140], imagej=True)
    out, pos = tmp_path / "fused.tif", tmp_path / "positions.csv"
    if use_layout_file:
        write_tile_configuration(folder / "TileConfiguration.txt", names, nominal)
        args = ["stitch", str(folder / "TileConfiguration.txt")]
    else:
        args = ["stitch", str(folder), "--grid", "2x2", "--overlap", "0.25"]
    assert main(args + ["-o", str(out), "--positions", str(pos), "--backend", "python"]) == 0
    placed = pd.read_csv(pos)[["y", "x"]].to_numpy()
    np.testing.assert_array_equal(placed - placed[0], true - true[0])
    fused = tifffile.imread(out)
    y0, x0 = true.min(0).astype(int)
    np.testing.assert_array_equal(fused[10:110, 10:130], scene[y0 + 10:y0 + 110, x0 + 10:x0 + 130])


def test_stitch_cli_folder_needs_a_grid(tmp_path, capsys):
    (tmp_path / "t").mkdir()
    assert main(["stitch", str(tmp_path / "t"), "-o", str(tmp_path / "f.tif")]) == 1
    assert "--grid ROWSxCOLS" in capsys.readouterr().err


def _tile_folder(folder, scene):
    """A 2x2 grid of 120x140 tiles of ``scene`` with 25 % overlap; returns the tiles' positions."""
    true = grid_positions((120, 140), rows=2, cols=2, overlap=0.25) + np.array([[4, 4], [2, 7], [7, 1], [5, 5]])
    folder.mkdir(parents=True)
    for i, (y, x) in enumerate(true.astype(int)):
        tifffile.imwrite(folder / f"tile_{i + 1}.tif", scene[y:y + 120, x:x + 140], imagej=True)
    return true


def test_stitch_cli_rerun_into_the_tile_folder_leaves_its_mosaic_out(tmp_path, capsys):
    folder = tmp_path / "tiles"
    _tile_folder(folder, _scene((260, 300), seed=2))
    out = folder / "fused.tif"
    args = ["stitch", str(folder), "--grid", "2x2", "--overlap", "0.25", "-o", str(out), "--backend", "python"]
    assert main(args) == 0
    first = tifffile.imread(out)
    capsys.readouterr()
    # the mosaic beside the tiles is this command's output, not a fifth tile
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "fused.tif exists" in err and "is the tile" not in err
    np.testing.assert_array_equal(tifffile.imread(out), first)
    assert main(args + ["--overwrite"]) == 0
    assert "from 4 tiles" in capsys.readouterr().out
    np.testing.assert_array_equal(tifffile.imread(out), first)
    # nor is it a tile of a later run that writes its mosaic under another name
    assert main(args[:-3] + [str(folder / "again.tif"), "--backend", "python"]) == 0
    assert "from 4 tiles" in capsys.readouterr().out
    np.testing.assert_array_equal(tifffile.imread(folder / "again.tif"), first)
    assert sorted(p.name for p in folder.iterdir()) == ["again.tif", "fused.tif"] + [f"tile_{i}.tif" for i in range(1, 5)]
    # a mosaic made of other tiles is a tile like any other (a mosaic of mosaics)
    rows = tmp_path / "rows"
    rows.mkdir()
    for name in ("fused.tif", "again.tif"):
        (folder / name).rename(rows / name)
    assert main(["stitch", str(rows), "--grid", "1x2", "-o", str(tmp_path / "both.tif"), "--overlap", "0.9",
                 "--backend", "python"]) == 0
    assert "from 2 tiles" in capsys.readouterr().out


def test_drift_cli_creates_missing_output_folders(tmp_path):
    scene = _scene((100, 110))
    movie = np.stack([np.roll(scene, d, axis=(0, 1)) for d in [(0, 0), (3, -2), (5, 1)]])
    src = tmp_path / "movie.tif"
    tifffile.imwrite(src, movie, imagej=True, metadata={"axes": "TYX"})
    out, csv = tmp_path / "new" / "deeper" / "out.tif", tmp_path / "tables" / "shifts.csv"
    assert main(["drift", str(src), "-o", str(out), "--shifts", str(csv), "--integer", "-q"]) == 0
    assert read_image(out).sizes["T"] == 3
    assert len(pd.read_csv(csv)) == 3
    np.testing.assert_array_equal(tifffile.imread(src), movie)  # the input is untouched


def test_drift_cli_failure_leaves_no_created_folder(tmp_path, capsys):
    src = tmp_path / "one.tif"
    tifffile.imwrite(src, _scene((1, 30, 30)), imagej=True, metadata={"axes": "TYX"})
    assert main(["drift", str(src), "-o", str(tmp_path / "new" / "o.tif")]) == 1
    assert "at least 2 frames" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.tif"]


def test_stitch_cli_creates_missing_output_folders(tmp_path):
    scene = _scene((260, 300), seed=3)
    _tile_folder(tmp_path / "tiles", scene)
    out, pos = tmp_path / "new" / "mosaic" / "fused.tif", tmp_path / "new" / "tables" / "positions.csv"
    assert main(["stitch", str(tmp_path / "tiles"), "--grid", "2x2", "--overlap", "0.25", "-o", str(out),
                 "--positions", str(pos), "--backend", "python", "-q"]) == 0
    assert tifffile.imread(out).shape[0] > 120 and len(pd.read_csv(pos)) == 4
