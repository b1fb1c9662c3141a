"""Session 42's left-overs: a z-stack's labels against a SEG folder of 2-D frames are refused (eval and batch
--truth took its Z planes as time points), a relative ``--input`` of a batch run is made absolute before jobs are
built (workers may run in another folder), and a tiled threshold z-stack run says the background is its object
as the untiled run says it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr

from labelfree.batch import runner
from labelfree.batch.truth import TruthOptions, _score_one
from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.io import write_labels
from labelfree.run import run_pipeline
from labelfree.threshold.segment import BackgroundObjectWarning

# -- 1. a z-stack against a SEG folder of 2-D frames -----------------------------------------------------------

def _seg_folder(tmp_path: Path) -> tuple[np.ndarray, Path]:
    """A (4, 16, 16) label stack of one 6x6 box in every plane, and a SEG folder annotating frames 0 and 2 (2-D)."""
    stack = np.zeros((4, 16, 16), np.uint16)
    stack[:, 4:10, 4:10] = 1
    seg = tmp_path / "SEG"
    seg.mkdir()
    for t in (0, 2):
        tifffile.imwrite(seg / f"man_seg{t:03d}.tif", stack[t])
    return stack, seg


def test_eval_refuses_a_z_stack_against_a_folder_of_2d_frames(tmp_path, capsys):
    stack, seg = _seg_folder(tmp_path)
    write_labels(tmp_path / "pred_zyx.tif", xr.DataArray(stack, dims=("Z", "Y", "X")))
    assert main(["eval", str(tmp_path / "pred_zyx.tif"), str(seg)]) == 1  # was 0: planes 0, 2 scored as frames
    err = capsys.readouterr().err
    assert "pred_zyx.tif is a z-stack (its file records the axes Z=4, Y=16, X=16)" in err
    assert f"but {seg} holds 2 2-D annotated frame(s) (0, 2; man_seg000.tif has shape (16, 16))" in err
    assert "the prediction's Z planes would be scored as time points" in err
    assert "Give a SEG folder of (Z, Y, X) volumes" in err and "or a 2-D prediction of the annotated plane" in err


@pytest.mark.parametrize("recorded", [True, False])
def test_eval_still_scores_a_time_stack_against_the_folder(tmp_path, capsys, recorded):
    stack, seg = _seg_folder(tmp_path)
    if recorded:  # a hyperstack of frames, or a plain TIFF recording no axes: T, Y, X
        write_labels(tmp_path / "pred.tif", xr.DataArray(stack, dims=("T", "Y", "X")))
    else:
        tifffile.imwrite(tmp_path / "pred.tif", stack, photometric="minisblack")
    assert main(["eval", str(tmp_path / "pred.tif"), str(seg)]) == 0
    out = capsys.readouterr().out
    assert "ground-truth frames scored: 0, 2 (2 of the 2 annotated" in out


def test_batch_truth_refuses_a_z_stack_against_a_folder_of_2d_frames(tmp_path):
    stack, seg = _seg_folder(tmp_path)
    write_labels(tmp_path / "z_labels.tif", xr.DataArray(stack, dims=("Z", "Y", "X")))
    with pytest.raises(InputError, match=r"z_labels\.tif is a z-stack \(its file records the axes Z=4, Y=16, X=16\)"):
        _score_one(str(tmp_path / "z_labels.tif"), seg, TruthOptions())
    # the same labels as frames are scored on frames 0 and 2
    write_labels(tmp_path / "t_labels.tif", xr.DataArray(stack, dims=("T", "Y", "X")))
    result, _, _, frames = _score_one(str(tmp_path / "t_labels.tif"), seg, TruthOptions())
    assert frames == [0, 2] and (result["tp"], result["fp"], result["fn"]) == (2, 0, 0)


# -- 2. a relative --input of a batch run ---------------------------------------------------------------------

class _Planned(Exception):
    """Stops the run once its jobs are planned."""


def test_a_relative_batch_input_is_absolute_in_the_jobs(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "rel").mkdir(parents=True)
    (work / "rel" / "cells.pt").write_bytes(b"weights")
    (work / "in").mkdir()
    tifffile.imwrite(work / "in" / "a.tif", np.zeros((32, 32), np.uint16))
    planned = []
    plan = runner.plan_jobs

    def plan_and_stop(*args, **kwargs):
        planned.extend(plan(*args, **kwargs)[0])
        raise _Planned

    monkeypatch.setattr(runner, "plan_jobs", plan_and_stop)
    monkeypatch.chdir(work)
    with pytest.raises(_Planned):
        main(["batch", "in", "--pipeline", "cutter", "--out", "out", "--input", "model_file=rel/cells.pt",
              "--input", "markers=rel/cells.pt", "--scheduler", "sync", "-q"])
    (job,) = planned
    assert job.inputs["model"] == str(work / "rel" / "cells.pt")  # was "rel/cells.pt"
    assert job.inputs["markers"] == str(work / "rel" / "cells.pt")
    assert Path(job.input_files()["model"]) == work / "rel" / "cells.pt"  # what the provenance records


# -- 4. a tiled threshold z-stack whose background is its object ----------------------------------------------

def _said(image, **kwargs):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        labels = run_pipeline("threshold", image, **kwargs)
    return labels, [(w.category, str(w.message)) for w in said]


def test_a_tiled_z_stack_says_its_object_is_the_background_as_the_untiled_run():
    z, y, x = np.mgrid[:5, :96, :96]
    stack = np.random.default_rng(1).normal(300, 3, z.shape)  # dark cells on a bright field
    for cy, cx in ((20, 20), (50, 70), (75, 30)):
        stack[(y - cy) ** 2 + (x - cx) ** 2 < 64] = 100
    image = to_dataarray(np.rint(stack).astype(np.uint16), dims="ZYX")
    whole, said_whole = _said(image)
    tiled, said_tiled = _said(image, tile=48, tile_overlap=16)
    np.testing.assert_array_equal(tiled.values, whole.values)
    background = [m for c, m in said_whole if c is BackgroundObjectWarning]
    assert len(background) == 1 and "In 5 of 5 planes; in plane 0 (0-based), one object covers" in background[0]
    assert said_tiled == said_whole  # the tiled run said nothing of it
