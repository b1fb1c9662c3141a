"""20 real crops through a 2-worker LocalCluster: same labels as the sequential run,
bad inputs reported without stopping the run, frame chunks on real workers."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import roifile
import tifffile

from labelfree.batch import exit_code, format_report, run_batch

PIPELINE = "threshold"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    """A real dask.distributed LocalCluster: scheduler + 2 worker processes."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def inputs_with_bad_files(real_crops, tmp_path_factory) -> Path:
    """The 20 crops plus a truncated TIFF and an unreadable file (dangling link / no permission)."""
    folder = tmp_path_factory.mktemp("mixed")
    for path in sorted(real_crops["dir"].glob("*.tif")):
        shutil.copy(path, folder / path.name)
    good = sorted(folder.glob("*.tif"))[0].read_bytes()
    (folder / "corrupt.tif").write_bytes(good[:400])
    os.symlink(folder / "gone.tif", folder / "unreadable.tif")
    return folder


def _labels(out: Path, stem: str) -> np.ndarray:
    return tifffile.imread(out / f"{stem}_labels.tif")


def test_dask_batch_matches_sequential_and_reports_bad_inputs(inputs_with_bad_files, client, tmp_path):
    from labelfree.io import read_image
    from labelfree.pipelines import get_pipeline

    dask_out, seq_out = tmp_path / "dask", tmp_path / "seq"
    summary = run_batch(inputs_with_bad_files, pipeline=PIPELINE, out_dir=dask_out, scheduler=client, progress=False)
    assert len(summary) == 22
    by_stem = summary.set_index("stem")
    assert (summary["status"] == "ok").sum() == 20
    assert by_stem.loc["corrupt", "status"] == "failed" and "corrupt.tif" in by_stem.loc["corrupt", "error"]
    assert by_stem.loc["unreadable", "status"] == "failed"
    assert "cannot read the input file" in by_stem.loc["unreadable", "error"]
    assert exit_code(summary) == 1
    report = format_report(summary)
    assert "20 ok, 2 failed" in report and "FAILED" in report and "corrupt.tif" in report
    assert summary["worker"][summary["status"] == "ok"].nunique() == 2  # both workers did work
    on_disk = pd.read_csv(dask_out / "batch_summary.csv")
    assert list(on_disk["status"]) == list(summary["status"])

    seq = run_batch(inputs_with_bad_files, pipeline=PIPELINE, out_dir=seq_out, scheduler="sync", progress=False)
    assert list(seq["status"]) == list(summary["status"])
    segment = get_pipeline(PIPELINE).segment
    for row in summary[summary["status"] == "ok"].itertuples():
        dask_labels = _labels(dask_out, row.stem)
        np.testing.assert_array_equal(dask_labels, _labels(seq_out, row.stem))
        direct = np.asarray(segment(read_image(row.input)).data)
        np.testing.assert_array_equal(dask_labels, direct)
        table = pd.read_csv(row.table)
        assert len(table) == row.n_objects == len(roifile.roiread(row.rois)) > 0
        assert row.n_frames == 3
    assert not (dask_out / ".labelfree-staging").exists()
    assert not list(dask_out.glob("corrupt_*")) and not list(dask_out.glob(".*.part"))


def test_chunked_movies_on_workers_equal_whole_movies(real_crops, client, tmp_path):
    whole = run_batch(real_crops["dir"], pipeline=PIPELINE, out_dir=tmp_path / "whole", scheduler="sync",
                      progress=False)
    chunked = run_batch(real_crops["dir"], pipeline=PIPELINE, out_dir=tmp_path / "chunked", scheduler=client,
                        batch={"chunk_frames": 2}, progress=False)
    assert (chunked["status"] == "ok").all() and (whole["status"] == "ok").all()
    for stem in whole["stem"]:
        np.testing.assert_array_equal(_labels(tmp_path / "chunked", stem), _labels(tmp_path / "whole", stem))
    import json

    prov = json.loads((tmp_path / "chunked" / f"{whole['stem'][0]}_provenance.json").read_text())
    assert prov["batch"]["chunks"] == [[0, 2], [2, 3]] and prov["pipeline"] == PIPELINE
