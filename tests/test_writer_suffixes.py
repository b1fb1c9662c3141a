"""The file writers write one format each, and refuse a file name whose suffix names another: a label TIFF
named ``x.png`` (or ``x.ome.tif``, which it is not), a ROI zip named ``x.roi``, a CSV named ``x.xls``, a PNG
named ``x.jpg``. The error comes before any work, names the file, the suffixes written and the name to use;
the right suffix is taken in any case, and the temporary files of atomic writes keep working. A write error
while an output set is staged names the output file, not the staged one."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

import labelfree.io as lio
from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.errors import OutputError
from labelfree.image import to_dataarray
from labelfree.io.atomic import atomic_path
from labelfree.io.outputs import staging_folder
from labelfree.io.tables import stage_outputs
from labelfree.overlay import overlay_png


def _labels() -> np.ndarray:
    lab = np.zeros((24, 32), np.uint16)
    lab[2:9, 3:12] = 1
    lab[12:20, 15:30] = 2
    return lab


_NOT_LABELS = np.zeros((2, 3, 4, 5))  # 4-D numpy: each writer refuses it, once it looks at the data


def _writers(data: bool = True) -> dict:
    """Writer name -> writer of a path; ``data=False`` hands each one data it refuses when it starts its work."""
    lab = _labels() if data else _NOT_LABELS
    table = {"label": [1, 2], "area": [63.0, 120.0]} if data else 5
    return {
        "write_labels": lambda p: lio.write_labels(p, lab),
        "write_rois": lambda p: lio.write_rois(p, lab),
        "write_table": lambda p: lio.write_table(p, table),
        "overlay_png": lambda p: overlay_png(None, lab, p),
    }


# writer, a name it must refuse, what the message calls the file, the suffix(es) named, the name to use
_REFUSED = [
    ("write_labels", "cells.png", "label image file", "ends with '.png'", ".tif or .tiff", "cells.tif"),
    ("write_labels", "cells.ome.tif", "label image file", "ends with '.ome.tif'", ".tif or .tiff (not .ome.tif)",
     "cells.tif"),
    ("write_labels", "cells.OME.TIFF", "label image file", "ends with '.OME.TIFF'",
     ".tif or .tiff (not .ome.tiff)", "cells.tif"),
    ("write_labels", "cells", "label image file", "has no suffix", ".tif or .tiff", "cells.tif"),
    ("write_labels", "run_t0.5", "label image file", "has no suffix", ".tif or .tiff", "run_t0.5.tif"),
    ("write_rois", "cells.roi", "ROI zip", "ends with '.roi'", ".zip", "cells.zip"),
    ("write_rois", "cells.tif", "ROI zip", "ends with '.tif'", ".zip", "cells.zip"),
    ("write_table", "cells.xls", "table file", "ends with '.xls'", ".csv", "cells.csv"),
    ("write_table", "cells.h5", "table file", "ends with '.h5'", ".csv", "cells.csv"),
    ("overlay_png", "cells.jpg", "overlay picture", "ends with '.jpg'", ".png", "cells.png"),
    ("overlay_png", "cells.tif", "overlay picture", "ends with '.tif'", ".png", "cells.png"),
]


@pytest.mark.parametrize(("writer", "name", "what", "ends", "suffixes", "use"), _REFUSED)
def test_a_name_with_a_suffix_the_writer_does_not_write_is_refused_before_any_work(tmp_path, writer, name, what,
                                                                                   ends, suffixes, use):
    """``write_labels("x.png", labels)`` wrote a TIFF named x.png, which Fiji opens with the wrong reader."""
    target = tmp_path / "out" / name
    target.parent.mkdir()
    with pytest.raises(OutputError) as caught:
        _writers(data=False)[writer](target)  # data it refuses: the name is judged first
    assert str(caught.value).startswith(f"The {what} {target} {ends}, but it is written as ")
    assert str(caught.value).endswith(f"Give a name ending with {suffixes}, e.g. {tmp_path / 'out' / use}.")
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize(("writer", "name"), [("write_labels", "a.TIF"), ("write_labels", "a.tiff"),
                                              ("write_labels", "a.Tiff"), ("write_rois", "a.ZIP"),
                                              ("write_table", "a.CSV"), ("overlay_png", "a.PNG")])
def test_the_suffixes_a_writer_writes_are_taken_in_any_case(tmp_path, writer, name):
    target = tmp_path / name
    assert _writers()[writer](target) == target
    assert [p.name for p in tmp_path.iterdir()] == [name]
    if writer == "write_labels":
        np.testing.assert_array_equal(lio.read_labels(target), _labels())
    elif writer == "write_rois":
        assert [r.name for r in lio.read_rois(target)] == ["t0001-L00001", "t0001-L00002"]
    elif writer == "write_table":
        assert target.read_text() == "label,area\n1,63\n2,120\n"
    else:
        with Image.open(target) as picture:
            assert picture.format == "PNG" and picture.size == (32, 24)


def test_an_existing_folder_with_a_file_suffix_is_refused_as_a_folder(tmp_path):
    (tmp_path / "a.tif").mkdir()
    with pytest.raises(OutputError, match=r"a\.tif is an existing folder; a file path is expected"):
        lio.write_labels(tmp_path / "a.tif", _labels())


@pytest.mark.parametrize("writer", ["write_labels", "write_rois", "write_table", "overlay_png"])
def test_a_writer_writes_into_the_temporary_file_of_an_atomic_write_of_its_own_format(tmp_path, writer):
    """The drift and stitch commands write their outputs together into ``.<target>.<random>.part`` files."""
    target = tmp_path / {"write_labels": "m.tif", "write_rois": "m.zip", "write_table": "m.csv",
                         "overlay_png": "m.png"}[writer]
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".part")
        _writers()[writer](tmp)
    assert [p.name for p in tmp_path.iterdir()] == [target.name] and target.stat().st_size > 0


def test_the_temporary_file_of_an_atomic_write_is_judged_by_its_target_and_the_error_names_the_target(tmp_path):
    target = tmp_path / "m.png"
    with pytest.raises(OutputError) as caught, atomic_path(target) as tmp:
        lio.write_labels(tmp, _labels())
    assert str(caught.value).startswith(f"The label image file {target} ends with '.png'")
    assert ".part" not in str(caught.value) and list(tmp_path.iterdir()) == []


def test_a_temporary_file_whose_target_name_was_cut_is_written(tmp_path):
    """A target name over 200 bytes is cut in the temporary name: its suffix is not there to judge."""
    target = tmp_path / ("é" * 117 + "_labels.tif")
    with atomic_path(target) as tmp:
        assert not tmp.name[:-len(".part")].rsplit(".", 1)[0].endswith(".tif")
        lio.write_labels(tmp, _labels())
    np.testing.assert_array_equal(lio.read_labels(target), _labels())


def test_drift_of_a_label_movie_into_a_png_name_writes_nothing_and_names_the_tif(tmp_path, capsys):
    """``labelfree drift --apply --labels -o out.png`` wrote a label TIFF named out.png; now refused before the
    work with the other outputs' checks."""
    labels = np.zeros((3, 40, 50), np.uint16)
    labels[:, 10:20, 10:20] = 3
    src, csv, out = tmp_path / "labels.tif", tmp_path / "shifts.csv", tmp_path / "out.png"
    lio.write_labels(src, to_dataarray(labels, dims="TYX"))
    pd.DataFrame({"frame": [0, 1, 2], "dy": [0, 1, 2], "dx": [0, 0, 1]}).to_csv(csv, index=False)
    assert main(["drift", str(src), "-o", str(out), "--apply", str(csv), "--labels", "-q"]) == 1
    err = capsys.readouterr().err
    assert f"The corrected movie {out} ends with '.png'" in err and f"e.g. {tmp_path / 'out.tif'}." in err
    assert ".part" not in err and sorted(os.listdir(tmp_path)) == ["labels.tif", "shifts.csv"]



@pytest.mark.parametrize("flags, named", [
    (["-o", "corrected.png"], "corrected movie"),
    (["-o", "corrected.ome.tif"], "corrected movie"),
    (["-o", "corrected.tif", "--shifts", "shifts.txt"], "shifts table"),
])
def test_drift_refuses_an_output_name_of_another_format_before_any_work(tmp_path, capsys, flags, named):
    """The drift command's outputs are checked with the others before the movie is read: a corrected movie
    named .png or .ome.tif (an ImageJ TIFF is written) or a shifts table named .txt (a CSV is written) was
    written under that name after the work."""
    movie = np.zeros((3, 40, 50), np.uint16)
    movie[:, 10:20, 10:20] = 300
    src = tmp_path / "movie.tif"
    tifffile.imwrite(src, movie, imagej=True, metadata={"axes": "TYX"})
    args = [(str(tmp_path / a) if a.endswith((".png", ".tif", ".txt")) else a) for a in flags]
    assert main(["drift", str(src), *args, "--backend", "python", "-q"]) == 1
    err = capsys.readouterr().err
    assert f"The {named} " in err and "but it is written as" in err, err
    assert sorted(os.listdir(tmp_path)) == ["movie.tif"]

def test_the_output_set_names_are_written_by_their_writers(tmp_path):
    """The standard set's names (``_labels.tif``, ``_rois.zip``, ``_table.csv``, ``_overlay.png``) pass
    the checks of the writers that write them."""
    image = np.zeros((24, 32), np.float32)
    done = lio.write_outputs(tmp_path / "res", _labels(), image=image, stem="cells",
                             extras={"overlay": lambda p: overlay_png(image, _labels(), p)})
    assert {k: Path(v).name for k, v in done.items()} == {
        "labels": "cells_labels.tif", "rois": "cells_rois.zip", "table": "cells_table.csv",
        "overlay": "cells_overlay.png", "provenance": "cells_provenance.json"}


# -- a write error while staging an output set names the output file, not the staged one -------------------------

def _denied(path, *args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied", str(path))


def test_a_write_error_of_a_staged_set_names_the_output_file(tmp_path, monkeypatch):
    """A batch task stages its set with stage_outputs in ``<out>/.labelfree-staging/<stem>-<host>-...``: a
    write error there named that private file."""
    monkeypatch.setattr(tifffile, "imwrite", _denied)
    with pytest.raises(PermissionError) as caught, staging_folder(tmp_path / "out", "cells") as staging:
        stage_outputs(staging, "cells", _labels())
    assert caught.value.filename == str(tmp_path / "out" / "cells_labels.tif")
    assert sorted(os.listdir(tmp_path / "out")) == [".labelfree-staging"]


def test_a_failed_batch_input_names_the_output_file_it_could_not_write(tmp_path, monkeypatch):
    movie = np.zeros((2, 48, 48), np.uint16)
    movie[:, 8:20, 8:20] = 1000
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", movie, imagej=True, metadata={"axes": "TYX"})
    monkeypatch.setattr(tifffile, "imwrite", _denied)
    summary = run_batch(tmp_path / "in", pipeline="threshold", out_dir=tmp_path / "out",
                        batch={"processes": False, "n_workers": 1}, progress=False)
    error = summary.loc[0, "error"]
    assert summary.loc[0, "status"] == "failed" and ".labelfree-staging" not in error
    assert f"Permission denied: '{tmp_path / 'out' / 'a_labels.tif'}'" in error


@pytest.mark.parametrize("name", ["cells.tif", "cells.ome.TIFF", "cells.png"])
def test_an_ome_zarr_folder_named_as_a_file_is_refused_before_any_work(tmp_path, name):
    """write_ngff("cells.tif", ...) wrote an OME-Zarr folder named cells.tif, which Fiji and file lists take for
    a TIFF file."""
    from labelfree.io.ngff import write_ngff

    with pytest.raises(OutputError, match=r"writes an OME-Zarr folder.*Give a name ending with \.zarr or \.ome\.zarr"):
        write_ngff(tmp_path / name, to_dataarray(_labels()))
    assert list(tmp_path.iterdir()) == []
    assert write_ngff(tmp_path / "cells.ome.zarr", to_dataarray(_labels())).is_dir()  # the NGFF names
    assert write_ngff(tmp_path / "results", to_dataarray(_labels())).is_dir()  # a folder without a suffix


def test_a_worker_io_error_prints_its_message():
    """A batch summary printed a worker's I/O error as an OSError of two arguments: "[Errno <message>] <worker>"."""
    from labelfree.batch.dispatch import WorkerIOError

    message = "worker tcp://10.0.0.2:4100 could not read or write a file of the input in/a.tif"
    exc = WorkerIOError(message, "tcp://10.0.0.2:4100")
    assert str(exc) == message
    assert exc.worker == "tcp://10.0.0.2:4100"


def test_motion_flow_outputs_are_named_as_their_formats(tmp_path):
    """write_flow_stack wrote an ImageJ TIFF under any name, after computing the flow of the whole movie;
    plot_flow_field a PNG under any name."""
    from labelfree import motion
    from labelfree.motion.flow import write_flow_stack

    movie = np.zeros((3, 32, 32), np.uint8)
    movie[:, 8:16, 8:16] = 200
    with pytest.raises(OutputError, match=r"flow speed file .*flow\.png ends with '\.png'.*e\.g\. .*flow\.tif"):
        write_flow_stack(tmp_path / "flow.png", to_dataarray(movie, dims="TYX"))
    pytest.importorskip("matplotlib")
    with pytest.raises(OutputError, match=r"flow plot .*f\.tif ends with '\.tif'.*e\.g\. .*f\.png"):
        motion.plot_flow_field(np.zeros((32, 32, 2), np.float32), tmp_path / "f.tif")
    assert list(tmp_path.iterdir()) == []
    written = write_flow_stack(tmp_path / "flow.TIF", to_dataarray(movie, dims="TYX"))
    assert tifffile.imread(written).shape == (3, 32, 32)
