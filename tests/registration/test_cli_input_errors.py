"""`labelfree drift --apply` and `labelfree stitch` with inputs that are not what they should be: one
``labelfree: error:`` line (exit 1) or the command's usage error (exit 2), never a traceback."""

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.registration import apply_shifts, read_shifts


@pytest.fixture
def movie(tmp_path):
    path = tmp_path / "movie.tif"
    data = (np.random.default_rng(0).random((4, 64, 64)) * 1000).astype(np.uint16)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX"})
    return path


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("labelfree: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("content, expected", [
    ("frame,dy,dx\n0,0,0\n1,abc,0\n2,0,0\n3,0,0\n", "shifts.csv: row 2 has a non-number dy 'abc'"),
    ("", "shifts.csv is empty"),
    ("\n\n", "shifts.csv is empty"),
    (b"II*\x00" + bytes(range(256)), "shifts.csv is not a CSV shifts table"),
    ("frame,dy,dx\n0,0,0\n1,1e9,0\n2,0,0\n3,0,0\n",
     "The shift of frame 1 (0-based) is dy, dx = 1e+09, 0 px, larger than the frame (64 x 64 px)"),
    ("frame,dy,dx\n0,0,0\n1,0,-65\n2,0,0\n3,0,0\n", "The shift of frame 1 (0-based) is dy, dx = 0, -65 px, larger"),
    # hand-edited frame numbers: a repeated or missing frame moved the wrong frames, names sorted as text
    ("frame,dy,dx\n0,0,0\n1,5,0\n1,9,0\n3,0,0\n", "shifts.csv: frame 1 is listed 2 times"),
    ("frame,dy,dx\n0,0,0\n1,5,0\n3,9,0\n4,0,0\n", "shifts.csv: frame 2 is missing"),
    ("frame,dy,dx\n5,0,0\n6,5,0\n7,9,0\n8,0,0\n", "shifts.csv: the frames start at 5"),
    ("frame,dy,dx\nt1,0,0\nt2,5,0\nt10,9,0\nt3,0,0\n", "shifts.csv: row 1 has frame 't1'; frames are whole"),
])
def test_drift_apply_of_a_bad_shifts_file_is_one_clear_error(tmp_path, capsys, movie, content, expected):
    csv = tmp_path / "shifts.csv"
    csv.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "corrected.tif"
    assert main(["drift", str(movie), "-o", str(out), "--apply", str(csv)]) == 1
    assert expected in _one_error(capsys)
    assert not out.exists()


def test_drift_apply_of_the_movie_itself_says_it_is_not_a_shifts_table(tmp_path, capsys, movie):
    assert main(["drift", str(movie), "-o", str(tmp_path / "c.tif"), "--apply", str(movie)]) == 1
    assert "movie.tif is not a CSV shifts table" in _one_error(capsys)


@pytest.mark.parametrize("canvas, shape", [("grow", (4, 192, 128)), ("same", (4, 64, 64))])
def test_shifts_up_to_the_frame_size_are_still_applied(tmp_path, movie, canvas, shape):
    """A shift of a whole frame is plausible (the canvas grows to hold it); only a larger one is refused."""
    csv = tmp_path / "edge.csv"
    csv.write_text("frame,dy,dx\n0,0,0\n1,64,0\n2,-64,0\n3,0,64\n")
    out = tmp_path / "c.tif"
    assert main(["drift", str(movie), "-o", str(out), "--apply", str(csv), "--canvas", canvas, "-q"]) == 0
    assert tifffile.imread(out).shape == shape


def test_read_shifts_names_the_cell_that_is_not_a_number(tmp_path):
    import pandas as pd

    table = pd.DataFrame({"frame": [1, 0], "dy": [2.0, 0.0], "dx": ["x", 0]})
    with pytest.raises(InputError, match=r"the shifts table: row 1 has a non-number dx 'x'"):
        read_shifts(table)
    with pytest.raises(InputError, match="shifts must be numbers"):
        read_shifts([["a", "b"], ["c", "d"]])
    # rows are taken in frame order
    drift, axes = read_shifts(pd.DataFrame({"frame": [1, 0], "dy": [2.0, 0.0], "dx": [3, 0]}))
    np.testing.assert_array_equal(drift, [[0, 0], [2, 3]])
    assert axes == ("Y", "X")


def test_apply_shifts_refuses_a_shift_larger_than_the_frame():
    import xarray as xr

    movie = xr.DataArray(np.arange(400, dtype=np.uint16).reshape(2, 10, 20), dims=("T", "Y", "X"))
    with pytest.raises(InputError, match=r"frame 1 \(0-based\) is dy, dx = 0, 21 px, larger than the frame \(10 x 20"):
        apply_shifts(movie, np.array([[0, 0], [0, 21]]))
    assert apply_shifts(movie, np.array([[0, 0], [10, -20]])).shape == (2, 20, 40)


def test_stitch_of_a_tiff_given_as_tiles_is_one_clear_error(tmp_path, capsys, movie):
    assert main(["stitch", str(movie), "-o", str(tmp_path / "fused.tif"), "--grid", "2x2"]) == 1
    err = _one_error(capsys)
    assert "movie.tif is not a TileConfiguration file" in err and "--grid RxC" in err
    assert "TileConfiguration.txt" in err


def test_stitch_of_a_shell_glob_of_tiles_says_tiles_is_one_folder(tmp_path, capsys, movie):
    folder = tmp_path / "tiles"
    folder.mkdir()
    files = [folder / f"t{i}.tif" for i in range(4)]
    for f in files:
        f.write_bytes(movie.read_bytes())
    with pytest.raises(SystemExit) as exit_:
        main(["stitch", *map(str, files), "-o", str(tmp_path / "f.tif"), "--grid", "2x2"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: labelfree stitch ") and "Traceback" not in err
    assert "TILES is one folder of tiles" in err and "not a list of files; got 4 paths" in err
    assert f"labelfree stitch {folder} --grid RxC" in err
    assert not (tmp_path / "f.tif").exists()
