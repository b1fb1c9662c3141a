"""Drift correction and stitching given what users give: plain arrays, regions reaching past the frame,
label movies, saved shifts with options that would be ignored, hand-edited tile configurations, named
channels. Each input either works as documented or gives one clear error."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.io import read_image, write_labels
from labelfree.registration.shifts import read_shifts
from labelfree.registration import (
    apply_shifts,
    correct_drift,
    estimate_drift_in_region,
    grid_positions,
    read_tile_configuration,
    write_tile_configuration,
)

DRIFT = [(0, 0), (3, -2), (5, 4)]


def _scene(shape, seed=0):
    return (ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 2) * 4000).astype(np.uint16)


def _movie(drift=DRIFT, size=(100, 120), seed=0):
    """Frames of one still scene drifted by ``drift`` (whole pixels): a bead at p in frame 0 is at p + d."""
    scene = _scene((size[0] + 40, size[1] + 40), seed)
    return np.stack([np.roll(scene, d, axis=(0, 1))[20:20 + size[0], 20:20 + size[1]] for d in drift])


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("labelfree: error: ") and err.count("\n") == 1, err
    return err


def test_a_plain_3d_array_is_a_tyx_movie_as_documented():
    movie = _movie()
    corrected, shifts = correct_drift(movie, backend="python", subpixel=False, canvas="crop")
    np.testing.assert_array_equal(shifts[["dy", "dx"]].to_numpy(), DRIFT)
    assert corrected.dims == ("T", "Y", "X")
    np.testing.assert_array_equal(corrected.values[2], corrected.values[0])
    again = apply_shifts(movie, shifts, canvas="crop", subpixel=False)
    np.testing.assert_array_equal(again.values, corrected.values)


def test_a_region_reaching_past_the_frame_is_cut_to_it_and_a_tiny_one_is_refused():
    movie = to_dataarray(_movie(), dims="TYX")
    whole = estimate_drift_in_region(movie, (-10, -10, 500, 500), config={"subpixel": False})
    np.testing.assert_array_equal(whole[["dy", "dx"]].to_numpy(), DRIFT)
    corner = estimate_drift_in_region(_movie(), (70, 50, 80, 80), config={"subpixel": False})  # a plain array too
    np.testing.assert_array_equal(corner[["dy", "dx"]].to_numpy(), DRIFT)
    for box in [(10, 10, 0, 0), (10, 10, 3, 3), (115, 95, 40, 40), (200, 200, 30, 30)]:
        with pytest.raises(InputError, match=r"drift is measured in at least 8x8 px"):
            estimate_drift_in_region(movie, box, config={})


def test_drift_apply_refuses_the_options_it_would_ignore(tmp_path, capsys):
    src, csv = tmp_path / "movie.tif", tmp_path / "shifts.csv"
    tifffile.imwrite(src, _movie(), imagej=True, metadata={"axes": "TYX"})
    pd.DataFrame({"frame": [0, 1, 2], "dy": [0, 3, 5], "dx": [0, -2, 4]}).to_csv(csv, index=False)
    out, table = tmp_path / "out.tif", tmp_path / "measured.csv"
    assert main(["drift", str(src), "-o", str(out), "--apply", str(csv), "--shifts", str(table)]) == 1
    assert "measures nothing, so --shifts would be ignored" in _one_error(capsys)
    assert main(["drift", str(src), "-o", str(out), "--apply", str(csv), "--channel", "4", "--reference", "first",
                 "--max-shift", "3"]) == 1
    assert "--reference, --max-shift, --channel would be ignored" in _one_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.tif", "shifts.csv"]
    assert main(["drift", str(src), "-o", str(out), "--apply", str(csv), "-q"]) == 0


def test_drift_apply_to_a_label_movie_keeps_its_labels(tmp_path, capsys):
    labels = np.zeros((3, 40, 50), np.uint16)
    labels[:, 10:20, 10:20], labels[:, 10:20, 20:30], labels[:, 25:35, 5:45] = 3, 7, 12
    src, csv, out = tmp_path / "labels.tif", tmp_path / "shifts.csv", tmp_path / "corrected.tif"
    write_labels(src, to_dataarray(labels, dims="TYX", scale=0.5, units="µm"))
    pd.DataFrame({"frame": [0, 1, 2], "dy": [0, 0.5, 1.3], "dx": [0, 0.5, -0.4]}).to_csv(csv, index=False)
    assert main(["drift", str(src), "-o", str(out), "--apply", str(csv), "--labels", "-q"]) == 0
    corrected = read_image(out)
    assert set(np.unique(corrected.values)) == {0, 3, 7, 12}  # no label made up between two others
    # rounded to whole pixels: (0.5, 0.5) -> (0, 0) (half to even), (1.3, -0.4) -> (1, 0); the grown canvas
    # starts one row above frame 0, where frame 2's first row lands
    assert corrected.sizes["Y"] == 41 and corrected.sizes["X"] == 50
    np.testing.assert_array_equal(corrected.values[0][1:], labels[0])
    np.testing.assert_array_equal(corrected.values[1][1:], labels[1])
    np.testing.assert_array_equal(corrected.values[2][:40], labels[2])
    assert corrected.coords["X"].attrs["units"] == "µm" and corrected.coords["X"].attrs["scale"] == 0.5
    with tifffile.TiffFile(out) as tif:
        assert 320 in tif.pages[0].tags  # the label colour table Fiji shows
    assert main(["drift", str(src), "-o", str(tmp_path / "o.tif"), "--labels"]) == 1
    assert "give them with --apply SHIFTS.csv" in _one_error(capsys)


def test_drift_cli_keeps_the_channel_names(tmp_path):
    movie = _movie()
    noise = (np.random.default_rng(1).random(movie.shape) * 1000).astype(np.uint16)
    src, out = tmp_path / "two.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, np.stack([noise, movie], axis=1), imagej=True,
                     metadata={"axes": "TCYX", "Labels": ["noise", "cells"] * 3})
    assert main(["drift", str(src), "-o", str(out), "--channel", "cells", "--integer", "-q"]) == 0
    corrected = read_image(out)
    assert list(corrected.coords["C"].values) == ["noise", "cells"]
    with tifffile.TiffFile(out) as tif:
        assert tif.imagej_metadata["Labels"] == ["noise", "cells"] * 3  # each plane's label, as Fiji shows it


def _tiles(folder):
    scene = _scene((260, 300), seed=1)
    nominal = grid_positions((120, 140), rows=2, cols=2, overlap=0.25)
    folder.mkdir()
    names = [f"tile_{i + 1}.tif" for i in range(4)]
    for name, (y, x) in zip(names, nominal.astype(int)):
        tifffile.imwrite(folder / name, scene[y:y + 120, x:x + 140], imagej=True)
    return names, nominal, scene


def test_a_tile_configuration_saved_with_a_byte_order_mark_is_read(tmp_path):
    names, nominal, scene = _tiles(tmp_path / "tiles")
    path = tmp_path / "tiles" / "TileConfiguration.txt"
    write_tile_configuration(path, names, nominal)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_text().replace("\n", "\r\n").encode())  # as Windows Notepad saves
    table = read_tile_configuration(path)
    assert list(table["file"]) == names
    np.testing.assert_array_equal(table[["y", "x"]].to_numpy(), nominal)
    out = tmp_path / "fused.tif"
    assert main(["stitch", str(path), "-o", str(out), "--backend", "python", "-q"]) == 0
    fused = tifffile.imread(out)
    np.testing.assert_array_equal(fused, scene[:fused.shape[0], :fused.shape[1]])


def test_a_tile_listed_twice_is_refused(tmp_path, capsys):
    names, nominal, _ = _tiles(tmp_path / "tiles")
    path = tmp_path / "tiles" / "TileConfiguration.txt"
    write_tile_configuration(path, names + [names[1]], np.vstack([nominal, nominal[1:2] + 3]))
    with pytest.raises(InputError, match=r"line 9: the tile 'tile_2.tif' is listed again \(first on line 6\)"):
        read_tile_configuration(path)
    assert main(["stitch", str(path), "-o", str(tmp_path / "fused.tif")]) == 1
    assert "listed again" in _one_error(capsys)
    assert not (tmp_path / "fused.tif").exists()


def test_stitch_refuses_grid_options_and_3d_positions_it_would_ignore(tmp_path, capsys):
    names, nominal, _ = _tiles(tmp_path / "tiles")
    path = tmp_path / "tiles" / "TileConfiguration.txt"
    write_tile_configuration(path, names, nominal)
    out = tmp_path / "fused.tif"
    assert main(["stitch", str(path), "-o", str(out), "--grid", "2x2", "--overlap", "0.3"]) == 1
    assert "--grid, --overlap describe a grid of tiles in a folder" in _one_error(capsys)
    lines = ["dim = 3"] + [f"{n}; ; ({x}, {y}, {z})" for n, (y, x), z in zip(names, nominal, (0, 0, 5, 5))]
    path.write_text("\n".join(lines) + "\n")
    assert main(["stitch", str(path), "-o", str(out)]) == 1
    assert "at 2 different z positions (dim = 3); stitching is 2-D" in _one_error(capsys)
    assert not out.exists()


def test_shifts_numbered_from_one_as_imagej_counts_are_taken_in_order():
    drift, _ = read_shifts(pd.DataFrame({"frame": [2, 1, 3], "dy": [1.0, 0.0, 2.0], "dx": [0, 0, 0]}), n_frames=3)
    np.testing.assert_array_equal(drift[:, 0], [0, 1, 2])
