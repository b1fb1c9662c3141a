"""Drift correction inside batch runs: the Python backend in the worker, the Fiji backend
in a subprocess that reports its errors per input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from labelfree.batch import run_batch
from labelfree.errors import OutputExistsError
from labelfree.io import read_image
from labelfree.overlay import overlay_rgb
from labelfree.registration import correct_drift

#: content shift (dy, dx) of each frame relative to frame 0, in pixels
SHIFTS = [(0, 0), (3, -2), (6, -5), (9, -7)]


@pytest.fixture(scope="module")
def drifting_movie(shared_data, tmp_path_factory):
    """One real MSC frame seen through a window that moves: a movie with known stage drift."""
    frame = tifffile.imread(shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t005.tif")
    y0, x0, n = 200, 200, 192
    movie = np.stack([frame[y0 - dy: y0 - dy + n, x0 - dx: x0 - dx + n] for dy, dx in SHIFTS])
    folder = tmp_path_factory.mktemp("drift")
    tifffile.imwrite(folder / "drifting.tif", movie, imagej=True, metadata={"axes": "TYX"})
    return folder


def _mask_jaccard(labels: np.ndarray) -> list[float]:
    """Jaccard of each frame's foreground with frame 0's."""
    ref = labels[0] > 0
    return [float((ref & (f > 0)).sum() / (ref | (f > 0)).sum()) for f in labels[1:]]


def test_python_drift_correction_before_segmentation(drifting_movie, tmp_path):
    plain = run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "plain", scheduler="sync",
                      progress=False)
    fixed = run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "fixed", scheduler="sync",
                      batch={"drift_correction": True}, progress=False)
    assert list(fixed["status"]) == ["ok"] and plain["drift"][0] == ""
    shifts = pd.read_csv(fixed["drift"][0])
    numbers = re.findall(r"-?\d+\.\d+", Path(fixed["drift"][0]).read_text())
    assert numbers and max(len(n.split(".")[1]) for n in numbers) <= 6  # as labelfree drift writes it: no 12.1499999
    measured = shifts[["dy", "dx"]].to_numpy()
    np.testing.assert_allclose(measured, np.array(SHIFTS), atol=0.25)
    before = _mask_jaccard(tifffile.imread(plain["labels"][0])[:, 9:, :-7])  # same window, not registered
    after = _mask_jaccard(tifffile.imread(fixed["labels"][0]))
    assert min(after) > 0.9 and max(before) < 0.8, (before, after)
    assert tifffile.imread(fixed["labels"][0]).shape == (4, 192 - 9, 192 - 7)  # the field all frames see
    # drift correction is part of the fingerprint: the plain result is not reused, and not
    # replaced either unless the user allows it
    with pytest.raises(OutputExistsError, match="earlier results"):
        run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "plain", scheduler="sync",
                  batch={"drift_correction": True}, progress=False)
    again = run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "plain", scheduler="sync",
                      batch={"drift_correction": True, "overwrite": True}, progress=False)
    assert list(again["status"]) == ["ok"]


def test_report_shows_the_drift_corrected_image_under_its_labels(drifting_movie, tmp_path):
    out = tmp_path / "out"
    summary = run_batch(drifting_movie, pipeline="threshold", out_dir=out, scheduler="sync",
                        batch={"drift_correction": True}, progress=False)
    assert list(summary["status"]) == ["ok"]
    labels = tifffile.imread(summary["labels"][0])[0]
    movie = tifffile.imread(drifting_movie / "drifting.tif")
    corrected = correct_drift(read_image(drifting_movie / "drifting.tif"), backend="python",
                              canvas="crop")[0].values[0]  # the movie the batch segmented
    assert labels.shape == corrected.shape != movie.shape[1:]  # the drift correction cropped the movie
    pic = np.asarray(Image.open(out / "report_files" / "drifting.png").convert("RGB"))
    np.testing.assert_array_equal(pic, overlay_rgb(corrected, labels))
    # not outlines on black: the grey between the outlines is the corrected frame
    grey = (pic[..., 0] == pic[..., 1]) & (pic[..., 1] == pic[..., 2])
    assert (pic.sum(axis=-1) == 0).mean() < 0.1
    assert np.corrcoef(pic[..., 0][grey].astype(float), corrected[grey].astype(float))[0, 1] > 0.9


@pytest.mark.slow
def test_fiji_step_failure_is_reported_per_input(drifting_movie, tmp_path):
    summary = run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync",
                        batch={"drift_correction": True, "fiji_dir": str(tmp_path / "no" / "Fiji.app")},
                        progress=False)
    assert list(summary["status"]) == ["failed"]
    error = summary["error"][0]
    assert "FijiError" in error and "subprocess" in error and "Fiji.app does not exist" in error
    assert not list((tmp_path / "out").glob("drifting_*"))


def test_chunks_of_a_drift_corrected_movie_on_dask_give_the_whole_runs_labels(drifting_movie, tmp_path):
    """With drift correction on Dask the corrected movie is made once and its chunks are segmented from it (their
    labels packed for the merge, labelfree.batch.chunks.PackedLabels): the labels and table of the whole run."""
    from labelfree.batch import BatchConfig

    whole = run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "whole", scheduler="sync",
                      batch={"drift_correction": True}, progress=False)
    chunked = run_batch(drifting_movie, pipeline="threshold", out_dir=tmp_path / "chunks", progress=False,
                        batch=BatchConfig(processes=False, n_workers=1, drift_correction=True, chunk_frames=2))
    assert list(chunked["status"]) == ["ok"] == list(whole["status"])
    assert np.array_equal(tifffile.imread(chunked["labels"][0]), tifffile.imread(whole["labels"][0]))
    assert chunked["n_objects"][0] == whole["n_objects"][0] > 0
    assert pd.read_csv(chunked["table"][0]).equals(pd.read_csv(whole["table"][0]))
    assert json.loads(Path(chunked["provenance"][0]).read_text())["batch"]["chunks"] == [[0, 2], [2, 4]]
