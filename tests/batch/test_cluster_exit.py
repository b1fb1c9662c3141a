"""The end of a good batch run on local worker processes is quiet: a worker process spent most of its exit in
Python's last garbage collection (over every object numba, scikit-image and the pipelines left), and on a busy
machine Dask's nanny killed it after 4 s with "Worker process still alive after 4.0 seconds, killing"
(distributed.nanny, WARNING): 2 such lines in 5 Motion runs of three tiny movies. A worker that really hangs
is still killed and said so."""

from __future__ import annotations

import asyncio
import gc
import logging

import numpy as np
import pytest
import tifffile

from labelfree.batch import BatchConfig, run_batch
from labelfree.batch.cluster import dask_client

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

#: run in the worker: an object that only the garbage collector frees (a reference cycle), kept to the end of the
#: process, whose finaliser takes 5 s: a worker heap whose last collection outlasts the nanny's 4 s
SLOW_LAST_COLLECTION = """
import sys, time, types

class SlowToCollect:
    def __init__(self):
        self.me = self

    def __del__(self, sleep=time.sleep):  # (module globals may be gone by then)
        sleep(5)

held = types.ModuleType("labelfree_test_held")
held.value = SlowToCollect()
sys.modules[held.__name__] = held
"""

#: run in the worker: a thread that Python waits for at exit, and that does not end (a real hang)
HANGING_THREAD = """
import threading, time

threading.Thread(target=time.sleep, args=(60,), daemon=False, name="labelfree-test-hang").start()
"""


class _Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def movies(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, value in enumerate((1000, 800)):
        img = np.full((2, 40, 40), 10, np.uint16)
        img[:, 5:15, 5:15] = value
        tifffile.imwrite(folder / f"m{i}.tif", img, imagej=True, metadata={"axes": "TYX"})
    return folder


def _run_and_close(movies, out, code: str, **batch):
    """A batch run on the local cluster :func:`dask_client` starts, with ``code`` run in its worker first; the
    rows' statuses and the nanny's WARNING lines, up to the cluster's close."""
    said = _Said()
    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    nanny.setLevel(logging.WARNING)  # whatever an earlier test (the CLI: "distributed" at ERROR) left its parent at
    nanny.addHandler(said)
    try:
        with dask_client(BatchConfig(n_workers=1, **batch)) as client:
            client.run(exec, code, {})
            summary = run_batch(movies, pipeline="threshold", out_dir=out, scheduler=client, progress=False)
    finally:
        nanny.removeHandler(said)
        nanny.setLevel(level)
    return list(summary["status"]), said.lines


def test_a_worker_process_whose_last_collection_is_slow_ends_without_being_killed(movies, tmp_path):
    statuses, said = _run_and_close(movies, tmp_path / "out", SLOW_LAST_COLLECTION)
    assert statuses == ["ok", "ok"]
    assert [line for line in said if "still alive" in line] == []  # was "... after 4.0 seconds, killing"


def test_a_worker_process_that_hangs_is_still_killed_and_said_so(movies, tmp_path):
    statuses, said = _run_and_close(movies, tmp_path / "out", HANGING_THREAD)
    assert statuses == ["ok", "ok"]
    assert [line for line in said if "still alive" in line] == ["Worker process still alive after 4.0 seconds, "
                                                                "killing"]


def test_an_in_process_cluster_leaves_this_process_collector_alone(movies, tmp_path):
    frozen = gc.get_freeze_count()
    summary = run_batch(movies, pipeline="threshold", out_dir=tmp_path / "out", progress=False,
                        batch=BatchConfig(processes=False, n_workers=1))
    assert list(summary["status"]) == ["ok", "ok"]
    assert gc.get_freeze_count() == frozen  # the workers were threads of this process: nothing frozen here



def _log_heartbeat_failure() -> None:
    """What a worker logs when a heartbeat fails while it runs (the scheduler's end of the stream closed)."""
    from distributed.comm.core import CommClosedError

    try:
        raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed (running)")
    except OSError:
        logging.getLogger("distributed.worker").exception("Failed to communicate with scheduler during heartbeat.")


async def _start_a_heartbeat(dask_worker) -> None:
    asyncio.ensure_future(dask_worker.heartbeat())


@pytest.mark.parametrize("processes", [True, False], ids=["worker processes", "in-process workers"])
def test_a_heartbeat_cut_by_its_workers_close_logs_no_traceback(capfd, caplog, processes):
    """A heartbeat still in flight as the cluster closes (the scheduler is made to answer it 3 s late; a busy
    machine did so at the end of a run): the worker's close shuts its connection, and the worker printed "Failed to
    communicate with scheduler during heartbeat." with the closed stream's traceback after the run's own result."""
    from labelfree.batch.cluster import _ClosingHeartbeat

    with dask_client(BatchConfig(n_workers=1, processes=processes)) as client:
        client.run(_log_heartbeat_failure)  # a heartbeat that fails while the worker runs is still said
        scheduler = client.cluster.scheduler
        answer = scheduler.handlers["heartbeat_worker"]

        async def late(*args, **kwargs):
            await asyncio.sleep(3)
            return answer(*args, **kwargs)

        scheduler.handlers["heartbeat_worker"] = late
        client.run(_start_a_heartbeat)
    said = capfd.readouterr().err + caplog.text  # a worker process's log, or this process's
    assert said.count("Failed to communicate with scheduler during heartbeat") == 1, said
    assert "Stream is closed (running)" in said, said
    assert not [f for f in logging.getLogger("distributed.worker").filters if isinstance(f, _ClosingHeartbeat)]
