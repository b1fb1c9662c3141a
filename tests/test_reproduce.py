"""A run's provenance reproduces it: its recorded values are the ones used, and it gives its run back.

``<stem>_provenance.json`` holds the config as given, the values chosen for its automatic
settings (``auto``), the thread count and, from the command line, the command itself. Each
of these is checked here by running again from it and comparing the labels pixel for pixel.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.run import run_pipeline
from labelfree.tiling import auto_threshold


@pytest.fixture(scope="module")
def nuclei(shared_data: Path) -> np.ndarray:
    """A 192 x 192 crop of the DSB 2018 nuclei image (about 30 nuclei), uint8 values."""
    image = tifffile.imread(shared_data / "misc" / "stardist_dsb2018" / "img2d.tif")
    return np.ascontiguousarray(image[:192, :192])


def _labels(folder: Path, stem: str) -> np.ndarray:
    return tifffile.imread(folder / f"{stem}_labels.tif")


def _provenance(folder: Path, stem: str) -> dict:
    return json.loads((folder / f"{stem}_provenance.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("tile", [None, 64])
def test_automatic_threshold_is_recorded_as_used(nuclei, tile):
    # an image in small physical units (e.g. a calibrated concentration): values around 1e-7
    rng = np.random.default_rng(0)
    image = (nuclei / 255.0 * 1e-6 + rng.normal(0, 1e-8, nuclei.shape)).astype(np.float32)
    labels = run_pipeline("threshold", image, tile=tile, tile_overlap=64)
    used = labels.attrs["labelfree"]["auto"]["threshold"]
    assert used == auto_threshold(image)  # not rounded: 6 decimals made it 0.0, every pixel foreground
    assert used > 0
    again = run_pipeline("threshold", image, config={"threshold": used}, tile=tile, tile_overlap=64)
    n = int(np.asarray(labels).max())
    assert n > 10
    np.testing.assert_array_equal(np.asarray(again), np.asarray(labels))


def test_provenance_file_is_a_config_file(tmp_path, nuclei, capsys):
    image = tmp_path / "nuclei.tif"
    tifffile.imwrite(image, nuclei)
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["threshold", str(image), "-o", str(first), "-q", "--set", "method=li", "--set", "min_size=40",
                 "--set", "fill_holes=false"]) == 0
    record = _provenance(first, "nuclei")
    assert main(["threshold", str(image), "-o", str(second), "-q", "--config",
                 str(first / "nuclei_provenance.json")]) == 0
    again = _provenance(second, "nuclei")
    assert again["config"] == record["config"] and record["config"]["method"] == "li"
    assert again["auto"] == record["auto"]
    np.testing.assert_array_equal(_labels(second, "nuclei"), _labels(first, "nuclei"))
    # another pipeline's provenance: one error naming what it is
    capsys.readouterr()
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.stack([nuclei] * 3), imagej=True, metadata={"axes": "TYX"})
    assert main(["motion", str(movie), "-o", str(tmp_path / "third"), "-q", "--config",
                 str(first / "nuclei_provenance.json")]) == 1
    err = capsys.readouterr().err
    assert "provenance of a threshold run" in err and "Traceback" not in err
    assert not (tmp_path / "third" / "movie_provenance.json").exists()


def test_command_line_and_threads_are_recorded_and_rerun(tmp_path, nuclei, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    tifffile.imwrite(folder / "two.tif", np.stack([nuclei, nuclei[::-1, ::-1].copy()]))
    monkeypatch.chdir(folder)
    argv = ["threshold", "two.tif", "-o", "out one", "-q", "--dims", "CYX", "--channel-names", "DAPI,GFP",
            "--channel", "GFP", "--threads", "1", "--set", "min_size=25"]
    assert main(argv) == 0
    record = _provenance(folder / "out one", "two")
    assert record["threads"] == 1
    assert record["channels"] == ["GFP"]
    assert record["cwd"] == str(folder)
    words = shlex.split(record["command"])
    assert words == ["labelfree", *argv]
    # the recorded command, run again from the recorded folder into another one, gives the same labels
    monkeypatch.chdir(record["cwd"])
    words[words.index("-o") + 1] = "out two"
    assert main(words[1:]) == 0
    np.testing.assert_array_equal(_labels(folder / "out two", "two"), _labels(folder / "out one", "two"))
    assert _labels(folder / "out one", "two").max() > 10
