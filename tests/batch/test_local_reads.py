"""``local_reads`` (lazy inputs computed in the task's own thread) with several tasks per process.

An in-process cluster (``--in-process``) or a worker with several threads runs tasks of the run in
threads of one process, which share Dask's configuration. A task that leaves its ``local_reads``
block must not take the synchronous scheduler away from a task still inside (its lazy read would go
to the cluster as a new graph: "Could not serialize object of type _HLGExprSequence", the input
failed), and the last one out must restore what was configured before.
"""

from __future__ import annotations

import threading

import dask

from labelfree.batch.chunks import local_reads


def _scheduler() -> object:
    return dask.config.get("scheduler", None)


def test_local_reads_of_overlapping_tasks_keep_and_restore_the_scheduler():
    before = _scheduler()
    a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}
    errors: list[BaseException] = []

    def task_a() -> None:  # enters first, leaves first
        try:
            with local_reads():
                a_inside.set()
                assert b_inside.wait(10)
            a_left.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
            a_left.set()

    def task_b() -> None:  # enters second, still reads after task_a left
        try:
            assert a_inside.wait(10)
            with local_reads():
                b_inside.set()
                assert a_left.wait(10)
                seen["b after a left"] = _scheduler()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
            b_inside.set()

    threads = [threading.Thread(target=task_a), threading.Thread(target=task_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert seen == {"b after a left": "synchronous"}
    assert _scheduler() == before  # not left "synchronous" for the rest of the process


def test_local_reads_nested_in_one_thread_restore_the_scheduler():
    before = _scheduler()
    with local_reads():
        with local_reads():
            assert _scheduler() == "synchronous"
        assert _scheduler() == "synchronous"
    assert _scheduler() == before
