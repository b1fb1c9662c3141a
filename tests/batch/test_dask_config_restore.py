"""A batch run's Client is Dask's default scheduler while it runs; afterwards the process's Dask setting is what it
was, also when the Client's close did not put it back (a run stopped while in-process workers were busy left
``scheduler: dask.distributed`` without a Client, and every later ``compute`` of the process failed)."""

from __future__ import annotations

import dask
import dask.array as da
import pytest

from labelfree.batch import BatchConfig
from labelfree.batch.cluster import dask_client

distributed = pytest.importorskip("distributed")


def test_the_dask_scheduler_setting_is_put_back_after_a_run():
    assert dask.config.get("scheduler", None) is None
    other = None
    try:
        with dask_client(BatchConfig(processes=False, n_workers=1, threads_per_worker=1)) as client:
            assert dask.config.get("scheduler", None) == "dask.distributed"
            # a second Client still open when the run's closes: the run's Client then leaves the setting as it is
            other = distributed.Client(client.scheduler.address, set_as_default=False)
            distributed.client._set_global_client(other)
        assert dask.config.get("scheduler", None) is None
    finally:
        if other is not None:
            distributed.client._del_global_client(other)
            other.close()
        dask.config.config.pop("scheduler", None)
    assert da.ones(4, chunks=2).sum().compute() == 4  # a compute of this process runs
