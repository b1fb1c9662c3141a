"""An image whose labels fit the memory a task may use but not beside the pipeline's work on one whole plane is
segmented in tiles with no setting, where a batch input failed before (refused by ``run_pipeline``: "Segment its
planes in tiles"); its provenance records the tiles, as a tiled run's does."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tifffile

from labelfree.batch import run_batch
from labelfree.batch.task import task_memory
from labelfree.run import run_pipeline

SIDE = 1200  # Threshold's work on a plane (8 bytes a pixel) does not fit; with 512 px tiles it does


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    rng = np.random.default_rng(3)
    pixels = rng.normal(100, 5, (SIDE, SIDE)).astype(np.uint16)
    yy, xx = np.ogrid[:SIDE, :SIDE]
    pixels[((yy % 40) - 20) ** 2 + ((xx % 40) - 20) ** 2 < 80] += 300
    path = tmp_path_factory.mktemp("plane") / "plane.tif"
    tifffile.imwrite(path, pixels)
    return path, run_pipeline("threshold", pixels, tile=512).values


def _outputs(out):
    return tifffile.imread(out / "plane_labels.tif"), json.loads((out / "plane_provenance.json").read_text())


LABELS, WORK = 2 * SIDE * SIDE, 8 * SIDE * SIDE


def test_a_plane_whose_work_cannot_fit_is_tiled_with_no_setting(plane, tmp_path, monkeypatch, caplog):
    path, tiled = plane
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: LABELS + WORK - 1)
    with caplog.at_level(logging.INFO, logger="labelfree.batch.task"):
        table = run_batch(path, pipeline="threshold", out_dir=tmp_path / "auto", scheduler="sync", progress=False)
    assert table["status"].tolist() == ["ok"], table["error"].tolist()
    labels, record = _outputs(tmp_path / "auto")
    np.testing.assert_array_equal(labels, tiled)
    assert record["tiles"]["tile"] == 512 and record["tiles"]["overlap"] == 128, record.get("tiles")
    assert ("plane: its labels (2.7 MiB) and Threshold's work on one whole plane (11 MiB) would take more than the "
            "14 MiB one task may use: each plane segmented in tiles of 512 px, 128 px of overlap (set tile in the "
            "batch config to choose)") in caplog.text, caplog.text
    # a tile given in the batch config is the one used
    given = run_batch(path, pipeline="threshold", out_dir=tmp_path / "given", scheduler="sync", progress=False,
                      batch={"tile": 1024})
    assert given["status"].tolist() == ["ok"], given["error"].tolist()
    assert _outputs(tmp_path / "given")[1]["tiles"]["tile"] == 1024
    # with the memory both take: whole, as before
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: LABELS + WORK)
    whole = run_batch(path, pipeline="threshold", out_dir=tmp_path / "whole", scheduler="sync", progress=False)
    assert whole["status"].tolist() == ["ok"]
    assert "tiles" not in _outputs(tmp_path / "whole")[1]


def test_on_dask_the_workers_memory_limit_over_its_threads_decides(plane, tmp_path):
    """The memory this process has left is a machine's; the worker's limit over its threads is what a task may use
    (a worker past it is restarted): tiled."""
    distributed = pytest.importorskip("distributed")
    import dask

    path, tiled = plane
    # the worker is a thread of this test process, whose memory passes the limit: Dask would pause it and the run
    # wait for ever; the limit is only read here, never enforced
    no_monitor = {"distributed.worker.memory." + k: False for k in ("target", "spill", "pause", "terminate")}
    with dask.config.set(no_monitor), distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None, memory_limit=2 * 10 * 2**20,
            silence_logs=logging.ERROR) as client:
        assert client.submit(task_memory, pure=False).result() <= 10 * 2**20  # 20 MiB over 2 threads
        table = run_batch(path, pipeline="threshold", out_dir=tmp_path / "dask", scheduler=client, progress=False)
    assert table["status"].tolist() == ["ok"], table["error"].tolist()
    labels, record = _outputs(tmp_path / "dask")
    assert record["tiles"]["tile"] == 512, record.get("tiles")
    np.testing.assert_array_equal(labels, tiled)


def test_outside_a_worker_a_task_may_use_the_memory_left(monkeypatch):
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 12345)
    assert task_memory() == 12345


def _task_memory_and_resident():
    import psutil

    held = psutil.Process().memory_info().rss
    return task_memory(), held


def test_a_worker_process_s_own_memory_is_not_the_task_s():
    """A worker that is a process of its own is restarted by its nanny once its resident memory passes its limit:
    what it holds already (its imports; with torch and cellpose about 590 MiB) is not room for the task's labels and
    work (before: the whole limit over its threads, and a Fusion task could choose no tiles where it had no room)."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("psutil")

    limit = 2**31
    with distributed.Client(processes=True, n_workers=1, threads_per_worker=1, dashboard_address=None,
                            memory_limit=limit, silence_logs=logging.ERROR) as client:
        got, held = client.submit(_task_memory_and_resident, pure=False).result()
    assert held > 30 * 2**20  # a Python process with distributed and LabelFree imported
    assert got <= limit - held + 8 * 2**20, (got, held)  # (its memory may move a little between the two reads)
