"""20 real crops through a 2-worker LocalCluster: same labels as the sequential run,
bad inputs reported without stopping the run, frame chunks on real workers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import roifile
import tifffile

from labelfree.batch import exit_code, format_report, run_batch

PIPELINE = "motion"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    """A real dask.distributed LocalCluster: scheduler + 2 worker processes."""
    import distributed
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


def test_dask_batch_matches_sequential_and_reports_bad_inputs(inputs_with_bad_files, real_crops, client, tmp_path,
                                                               caplog):
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
    segment = get_pipeline(PIPELINE).segment_function
    for row in summary[summary["status"] == "ok"].itertuples():
        dask_labels = _labels(dask_out, row.stem)
        np.testing.assert_array_equal(dask_labels, _labels(seq_out, row.stem))
        caplog.clear()
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, logger="labelfree"):
            warnings.simplefilter("always", UserWarning)
            direct = np.asarray(segment(read_image(row.input)).data)
        np.testing.assert_array_equal(dask_labels, direct)
        logged = {r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING}  # e.g. a size on few cells
        assert row.warnings == " | ".join(sorted({f"{w.category.__name__}: {w.message}" for w in caught} | logged))
        table = pd.read_csv(row.table)
        assert len(table) == row.n_objects
        if row.n_objects:
            assert len(roifile.roiread(row.rois)) == row.n_objects
        else:  # an empty result is explained in the summary
            assert "NoMotionWarning" in row.warnings
        assert row.n_frames == 3
    assert summary["n_objects"].sum() > 50
    # the outputs on disk belong to their inputs: SIM+ crops against their ground truth
    from labelfree.metrics import evaluate

    stems = sorted(real_crops["truth"])
    scores = evaluate(np.concatenate([_labels(dask_out, s) for s in stems]),
                      np.concatenate([real_crops["truth"][s] for s in stems]))
    assert scores["f1"] > 0.5, scores
    assert not (dask_out / ".labelfree-staging").exists()
    assert not list(dask_out.glob("corrupt_*")) and not list(dask_out.glob(".*.part"))


def test_chunked_movies_on_workers_equal_whole_movies(real_crops, client, tmp_path):
    """threshold works frame by frame: chunks give exactly the whole-movie labels."""
    whole = run_batch(real_crops["dir"], pipeline="threshold", out_dir=tmp_path / "whole", scheduler="sync",
                      progress=False)
    chunked = run_batch(real_crops["dir"], pipeline="threshold", out_dir=tmp_path / "chunked", scheduler=client,
                        batch={"chunk_frames": 2}, progress=False)
    assert (chunked["status"] == "ok").all() and (whole["status"] == "ok").all()
    for stem in whole["stem"]:
        np.testing.assert_array_equal(_labels(tmp_path / "chunked", stem), _labels(tmp_path / "whole", stem))
    prov = json.loads((tmp_path / "chunked" / f"{whole['stem'][0]}_provenance.json").read_text())
    assert prov["batch"]["chunks"] == [[0, 2], [2, 3]] and prov["pipeline"] == "threshold"


def test_motion_chunks_relink_ids_across_the_shared_frame(real_crops, client, tmp_path):
    """Motion chunks share one frame; IDs continue across chunks like in the whole-movie run."""
    from labelfree.metrics import match_objects

    pattern = str(real_crops["dir"] / "SIMplus_*.tif")
    whole = run_batch(pattern, pipeline="motion", out_dir=tmp_path / "whole", scheduler=client, progress=False)
    chunked = run_batch(pattern, pipeline="motion", out_dir=tmp_path / "chunked", scheduler=client,
                        batch={"chunk_frames": 2}, progress=False)
    assert (chunked["status"] == "ok").all() and len(chunked) == 8
    n_linked = 0
    for stem in whole["stem"]:
        prov = json.loads((tmp_path / "chunked" / f"{stem}_provenance.json").read_text())
        assert prov["batch"]["chunks"] == [[0, 2], [1, 3]] and prov["batch"]["frame_overlap"] == 1
        a, b = _labels(tmp_path / "whole", stem), _labels(tmp_path / "chunked", stem)
        # an object matched in frame 1 (first chunk) keeps its ID in frame 2 (second chunk)
        for whole_id, chunk_id, _ in match_objects(b[1], a[1], threshold=0.5):
            later = [c for w, c, _ in match_objects(b[2], a[2], threshold=0.5) if w == whole_id]
            if later:
                assert later == [chunk_id], stem
                n_linked += 1
    assert n_linked >= 10, n_linked
