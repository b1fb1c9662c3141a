"""Executing jobs: one after another in this process, or as tasks on a Dask cluster.

On Dask, an input is one task (:func:`run_input`), or, when chunking applies, a
frame-count task, one task per frame chunk and a merge-and-write task; each of them
reads what it needs from the input file itself (see :mod:`labelfree.batch.chunks`), so
no task receives the movie. Results are collected with ``as_completed`` as they finish,
which drives the progress bar and the summary written as results arrive.

Failures are sorted into two kinds:

* errors of the input (corrupt file, bad options, the pipeline's own errors): the
  input is reported ``failed`` at once and never retried;
* I/O errors of one worker (the input the client read is missing or unreadable there,
  an ``OSError`` while reading or writing): the task raises :class:`WorkerIOError` and
  the input is sent again to a worker that has not failed it yet, up to ``io_retries``
  times. (Dask's own ``retries=`` may pick the same worker again, so the retry names
  the other workers explicitly.)

A task checks, once its staging folder exists and before it writes outputs, that the
scheduler still wants its result: after the run is cancelled (Ctrl-C, a progress sink
raising Cancelled) or its client died, a task that was already running writes nothing. The
client that stopped a run waits for the staging folders of its unfinished inputs to go
(tasks that passed the check are publishing) before it writes the summary, so the summary
agrees with the disk.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from labelfree.batch.chunks import (
    count_frames,
    first_then_rest,
    local_reads,
    merge_and_write,
    merge_and_write_input,
    plan_chunks,
    segment_chunk,
    segment_chunk_of_input,
    shared_settings,
    shares_settings,
)
from labelfree.batch.task import (
    Job,
    abort_if_cancelled,
    failed_row,
    finish_input,
    input_capture,
    load_input,
    n_frames_of,
    process_image,
    process_input,
    segment_image,
    with_warnings,
    write_result,
)
from labelfree.errors import Cancelled, InputError, LabelFreeError

__all__ = ["run_sequential", "run_on_dask", "wants_chunks", "run_input", "WorkerIOError", "is_worker_io_error",
           "abort_if_cancelled"]

log = logging.getLogger(__name__)

#: seconds to wait, after cancelling, for tasks that were running to stop
CANCEL_GRACE = 15.0


class WorkerIOError(OSError):
    """A worker could not read or write a file that the client could: retry elsewhere.

    ``args`` are ``(message, worker address)``.
    """

    @property
    def worker(self) -> str:
        return str(self.args[1]) if len(self.args) > 1 else ""

    def __str__(self) -> str:  # the message (an OSError of two args prints as "[Errno message] worker")
        return str(self.args[0]) if self.args else ""


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


def is_worker_io_error(exc: BaseException, job: Job, /) -> bool:
    """Whether ``exc`` is an I/O failure of this machine rather than an error of the input.

    An ``OSError`` that LabelFree did not raise on purpose, or an :class:`InputError`
    while the input file cannot be read here although the client read it (it hashed it).
    """
    if isinstance(exc, OSError) and not isinstance(exc, LabelFreeError):
        return True
    if isinstance(exc, InputError):
        path = Path(job.item.path)
        return not (path.exists() and os.access(path, os.R_OK))
    return False


def _as_worker_io_error(exc: BaseException, job: Job) -> WorkerIOError:
    worker = _worker_address()
    return WorkerIOError(f"worker {worker or '?'} could not read or write a file of the input {job.item.path} "
                         f"(the input or its outputs): {type(exc).__name__}: {exc}", worker)


def run_input(job: Job, /) -> dict[str, Any]:
    """Read, segment and write one input on a worker; failures of the input become a row.

    Raises :class:`WorkerIOError` for an I/O failure of this worker (retried elsewhere)
    and :class:`Cancelled` when the run was stopped before the outputs were published.
    """
    started = time.time()
    with input_capture(job):  # its warnings go back in the row, the client shows them
        try:
            with local_reads():
                image = load_input(job)
                labels = segment_image(image, job=job)
                names = write_result(labels, image, job=job)  # checks for a stopped run first
            return finish_input(job, names, labels=labels, seconds=time.time() - started)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is reported per input
            if is_worker_io_error(exc, job):
                raise _as_worker_io_error(exc, job) from exc
            return failed_row(job, exc, started=started)


def _count_frames(job: Job, /) -> tuple[int, list[str]]:
    """The frames of the job's input, and the warnings of reading its metadata (they go in its row)."""
    with input_capture(job) as messages:
        return count_frames(job), list(messages)


def _load(job: Job, /) -> tuple[Any, list[str]]:
    """The job's input (drift-corrected), and the warnings of reading and correcting it (they go in its row)."""
    with input_capture(job) as messages:
        return load_input(job), list(messages)


def _first(pair: tuple[Any, Any], /) -> Any:
    return pair[0]


def _second(pair: tuple[Any, Any], /) -> Any:
    return pair[1]


def _io_guard(fn: Callable[..., Any], job: Job, *args: Any, **kwargs: Any) -> Any:
    """Run a chunk-stage function, turning this worker's I/O failures into WorkerIOError."""
    try:
        return fn(*args, **kwargs)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - sorted below
        if is_worker_io_error(exc, job):
            raise _as_worker_io_error(exc, job) from exc
        raise


def wants_chunks(job: Job, chunk_frames: int | None, /) -> bool:
    """Whether ``job`` may be split into frame chunks of ``chunk_frames``."""
    return bool(chunk_frames) and job.frame_overlap is not None


def _spans(n_frames: int, job: Job, chunk_frames: int) -> list[tuple[int, int]] | None:
    if n_frames <= chunk_frames:
        return None
    return plan_chunks(n_frames, chunk_frames=chunk_frames, overlap=int(job.frame_overlap or 0))


def run_sequential(jobs: list[Job], rows: dict[str, dict], /, *, bar: Any, chunk_frames: int | None,
                   on_row: Callable[[], None] | None = None) -> None:
    """Run every job in this process, in order (the reference for the Dask results).

    The warnings of an input are shown as they are raised, each as a line that names the input, and
    kept in its row (:func:`labelfree.batch.task.input_capture`)."""
    for job in jobs:
        if not wants_chunks(job, chunk_frames):
            row = process_input(job)
        else:
            started = time.time()
            with input_capture(job):
                try:
                    image = load_input(job)
                    spans = _spans(n_frames_of(image), job, chunk_frames) if "T" in image.dims else None
                    if spans is None:
                        row = process_image(image, job=job, started=started)
                    else:  # the first chunk chooses the automatic settings the others use
                        parts, _ = first_then_rest(
                            spans, lambda a, b, s: segment_chunk(image, a, b, job=job, settings=s),
                            lambda first: shared_settings(first, job=job))
                        row = merge_and_write(image, parts, job=job, started=started)
                except Exception as exc:  # noqa: BLE001 - every failure is reported per input
                    row = failed_row(job, exc, started=started)
        rows[job.item.stem] = row
        bar.update(message=f"{job.item.stem}: {row['status']}")
        if on_row is not None:
            on_row()


def _key(kind: str, job: Job) -> str:
    return f"labelfree-{kind}-{job.item.stem}-{uuid.uuid4().hex[:8]}"


def _placement(workers: list[str] | None) -> dict[str, Any]:
    """Submit arguments that keep a retried task off the workers that failed it."""
    return {} if workers is None else {"workers": workers, "allow_other_workers": False}


@dataclasses.dataclass
class _Task:
    """What was submitted, so that it can be submitted again on other workers."""

    kind: str  # "row" / "merge" (return the summary row), "frames" or "load" (drift path)
    job: Job
    started: float
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    failed_on: set = dataclasses.field(default_factory=set)
    n_frames: int | None = None  # a merge task: the chunks are sent again with it


class _Dispatcher:
    def __init__(self, client: Any, rows: dict[str, dict], bar: Any, chunk_frames: int | None, io_retries: int,
                 on_row: Callable[[], None] | None) -> None:
        from distributed import as_completed

        self.client, self.rows, self.bar = client, rows, bar
        self.chunk_frames, self.io_retries, self.on_row = chunk_frames, int(io_retries), on_row
        self.pending: dict[Any, _Task] = {}
        self.held: dict[str, list[Any]] = {}  # stem -> futures kept alive until the input is done
        self.noted: dict[str, list[str]] = {}  # stem -> warnings of its frame-count or load task
        self.queue = as_completed()

    def submit(self, task: _Task, *, workers: list[str] | None = None) -> Any:
        future = self.client.submit(task.fn, *task.args, key=_key(task.kind, task.job), pure=False,
                                    **_placement(workers), **task.kwargs)
        self.pending[future] = task
        self.queue.add(future)
        return future

    def start(self, job: Job) -> None:
        now = time.time()
        if not wants_chunks(job, self.chunk_frames):
            self.submit(_Task("row", job, now, run_input, (job,)))
        elif job.drift_correction:  # the corrected movie is made once, then shared by the chunks
            self.submit(_Task("load", job, now, _io_guard, (_load, job, job)))
        else:
            self.submit(_Task("frames", job, now, _io_guard, (_count_frames, job, job)))

    def _finish(self, job: Job, row: dict) -> None:
        """Keep the row of a finished input and show its warnings (the task collected them without showing them),
        each as a line that names the input."""
        from labelfree.batch.messages import relay_messages

        row = with_warnings(row, self.noted.pop(job.item.stem, []))
        relay_messages(job.item, row)
        self.rows[job.item.stem] = row
        self.held.pop(job.item.stem, None)
        self.bar.update(message=f"{job.item.stem}: {row['status']}")
        if self.on_row is not None:
            self.on_row()

    def _retry(self, task: _Task, exc: WorkerIOError) -> bool:
        task.failed_on.add(exc.worker)
        alive = set(self.client.scheduler_info().get("workers", {}))
        others = sorted(alive - task.failed_on)
        if len(task.failed_on) > self.io_retries or not others:
            return False
        log.warning("%s: %s; trying again on another worker", task.job.item.stem, exc.args[0])
        if task.kind == "merge":  # its chunks are sent again too, to the other workers
            self._chunks(task, int(task.n_frames or 0), workers=others)
        else:
            self.submit(task, workers=others)
        return True

    def _chunks(self, task: _Task, n_frames: int, loaded: Any = None, workers: list[str] | None = None) -> None:
        job, spans = task.job, _spans(n_frames, task.job, self.chunk_frames or 0)
        if loaded is not None:  # drift path: the chunks share the corrected movie
            if spans is None:
                self.submit(_Task("row", job, task.started, process_image, (loaded,),
                                  {"job": job, "started": task.started}))
                return
            parts, settings = first_then_rest(
                spans, lambda a, b, s: self.client.submit(segment_chunk, loaded, a, b, job=job, settings=s,
                                                          key=_key(f"chunk{a}", job), pure=False),
                lambda first: self._settings(first, job))
            self.held.setdefault(job.item.stem, []).extend([*parts, *([settings] if settings is not None else [])])
            self.submit(_Task("row", job, task.started, merge_and_write, (loaded, parts),
                              {"job": job, "started": task.started}))
            return
        if spans is None:
            self.submit(_Task("row", job, task.started, run_input, (job,), failed_on=task.failed_on), workers=workers)
            return
        parts, settings = first_then_rest(
            spans, lambda a, b, s: self.client.submit(_io_guard, segment_chunk_of_input, job, job, a, b, s,
                                                      key=_key(f"chunk{a}", job), pure=False, **_placement(workers)),
            lambda first: self._settings(first, job))
        self.held[job.item.stem] = [*parts, *([settings] if settings is not None else [])]
        self.submit(_Task("merge", job, task.started, _io_guard, (merge_and_write_input, job, job, parts),
                          {"started": task.started}, failed_on=task.failed_on, n_frames=n_frames), workers=workers)

    def _settings(self, first: Any, job: Job) -> Any:
        """A future of the automatic settings the first chunk chose (None: the pipeline shares none,
        and the chunks run at once); the later chunks take it as an argument, so they start once
        the first chunk is done."""
        if not shares_settings(job):
            return None
        return self.client.submit(shared_settings, first, job=job, key=_key("settings", job), pure=False)

    def collect(self) -> None:
        for future in self.queue:
            task = self.pending.pop(future)
            job = task.job
            if future.status != "finished":
                exc = future.exception()
                if isinstance(exc, WorkerIOError) and self._retry(task, exc):
                    continue
                self._finish(job, failed_row(job, exc, started=task.started))
            elif task.kind == "frames":
                n_frames, messages = future.result()
                self._note(job, messages)
                self._chunks(task, int(n_frames))
            elif task.kind == "load":
                loaded = self.client.submit(_first, future, key=_key("loaded", job), pure=False)
                self.held.setdefault(job.item.stem, []).extend([future, loaded])
                self._note(job, self.client.submit(_second, future, pure=False).result())
                self._chunks(task, int(self.client.submit(n_frames_of, loaded, pure=False).result()), loaded=loaded)
            else:
                self._finish(job, future.result())

    def _note(self, job: Job, messages: list[str]) -> None:
        """Keep the warnings of a task of ``job`` that returns no row, for the row of the input."""
        if messages:
            self.noted.setdefault(job.item.stem, []).extend(messages)

    def cancel(self) -> None:
        """Cancel every outstanding task and wait (a little) until none of them runs."""
        futures = list(self.pending) + [f for fs in self.held.values() for f in fs]
        if not futures:
            return
        keys = {f.key for f in futures}
        try:
            self.client.cancel(futures, force=True)
            deadline = time.time() + CANCEL_GRACE
            while time.time() < deadline:
                running = {k for ks in self.client.processing().values() for k in ks}
                if not running & keys:
                    break
                time.sleep(0.2)
        except Exception as exc:  # noqa: BLE001 - the scheduler may already be gone
            log.info("batch: could not confirm the cancellation with the scheduler (%s)", exc)


def run_on_dask(jobs: list[Job], rows: dict[str, dict], /, *, bar: Any, client: Any, chunk_frames: int | None,
                io_retries: int = 2, on_row: Callable[[], None] | None = None) -> None:
    """Submit every job to ``client`` and collect the rows as tasks finish.

    On KeyboardInterrupt (or a progress sink raising Cancelled) every task of this run
    is cancelled, and running ones are given a moment to stop, before the exception
    goes on; tasks check before publishing, so none writes outputs after that.
    """
    dispatcher = _Dispatcher(client, rows, bar, chunk_frames, io_retries, on_row)
    try:
        for job in jobs:
            dispatcher.start(job)
        dispatcher.collect()
    except BaseException:
        dispatcher.cancel()
        raise
