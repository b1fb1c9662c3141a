"""The run's tables by name: ``--no-objects-table`` leaves ``batch_objects.csv`` out, and neither the summary nor
the objects table may be written over an input of the run."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.errors import InputOverwriteError


def _movie(path) -> None:
    img = np.full((2, 40, 40), 10, np.uint16)
    img[:, 5:15, 5:15] = 1000
    img[:, 22:34, 20:36] = 1000
    tifffile.imwrite(path, img, imagej=True, metadata={"axes": "TYX"})


def test_no_objects_table_flag_leaves_the_objects_table_out(tmp_path, capsys):
    """Was: "unrecognized arguments: --no-objects-table" (only a batch config file's objects_name: null did it)."""
    src = tmp_path / "in"
    src.mkdir()
    _movie(src / "a.tif")
    out = tmp_path / "out"
    code = main(["batch", str(src), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress",
                 "--no-objects-table"])
    assert code == 0, capsys.readouterr()
    assert (out / "batch_summary.csv").is_file() and (out / "a_labels.tif").is_file()
    assert not (out / "batch_objects.csv").exists()
    # without the flag, the same run writes it (a rerun: the input is skipped, the table covers it)
    assert main(["batch", str(src), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress"]) == 0
    assert (out / "batch_objects.csv").read_text(encoding="utf-8").count("\n") == 1 + 4  # header + 2 objects x 2 frames


@pytest.mark.parametrize("objects_name", [None, "objects.csv"])
def test_a_summary_named_as_an_input_is_refused_before_any_work(tmp_path, objects_name):
    """Was: the summary table replaced the run's markers file (summary_name: points.csv beside the outputs), and
    the run went on; only the objects table's name was checked against the inputs."""
    src = tmp_path / "in"
    src.mkdir()
    _movie(src / "a.tif")
    out = tmp_path / "out"
    out.mkdir()
    markers = out / "points.csv"
    markers.write_text("y,x\n10,10\n", encoding="utf-8")
    with pytest.raises(InputOverwriteError) as caught:
        run_batch([str(src)], pipeline="cutter", out_dir=out, scheduler="sync", progress=False,
                  batch={"inputs": {"markers": str(markers)}, "summary_name": "points.csv",
                         "objects_name": objects_name})
    assert str(caught.value) == (f"The summary table {markers} is the markers (every input) of this run ({markers}); "
                                 "LabelFree never writes over its inputs. Choose another output path.")
    assert markers.read_text(encoding="utf-8") == "y,x\n10,10\n"
    assert sorted(p.name for p in out.iterdir()) == ["points.csv"]  # nothing run, nothing written


def test_an_objects_table_named_as_an_input_is_refused(tmp_path):
    """The objects table's check as before (the summary's name is another)."""
    src = tmp_path / "in"
    src.mkdir()
    _movie(src / "a.tif")
    out = tmp_path / "out"
    out.mkdir()
    markers = out / "points.csv"
    markers.write_text("y,x\n10,10\n", encoding="utf-8")
    with pytest.raises(InputOverwriteError, match=r"^The objects table .*points\.csv is the markers \(every input\)"):
        run_batch([str(src)], pipeline="cutter", out_dir=out, scheduler="sync", progress=False,
                  batch={"inputs": {"markers": str(markers)}, "objects_name": "points.csv"})
    assert markers.read_text(encoding="utf-8") == "y,x\n10,10\n"
