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

A full disk of the output folder (:func:`output_disk_full`: no space left, a used-up quota, a file
size limit, numpy's and tifffile's messages of a write that found no room) is the run's problem, not
one worker's nor one input's: the input is not retried (every worker writes to the same disk), the
task raises :class:`OutputDiskFullError` and the run stops as a cancelled one does (nothing more is
scheduled, finished inputs are kept, a rerun resumes); :func:`labelfree.batch.run_batch` then raises
it with what to do.

The errors that LabelFree reports itself (:data:`REPORTED_ERRORS`) are not logged again, with a
traceback, by the workers of a local cluster, whose log is this terminal (:func:`quiet_reported_plugin`);
the workers of a scheduler or of a jobqueue cluster keep them in their own logs.

A task checks, once its staging folder exists and before it writes outputs, that the
scheduler still wants its result: after the run is cancelled (Ctrl-C, a progress sink
raising Cancelled) or its client died, a task that was already running writes nothing. The
client that stopped a run waits for the staging folders of its unfinished inputs to go
(tasks that passed the check are publishing) before it writes the summary, so the summary
agrees with the disk.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from labelfree.batch.chunks import (
    auto_chunk_frames,
    first_then_rest,
    input_sizes,
    local_reads,
    merge_and_write,
    merge_and_write_input,
    open_input,
    plan_chunks,
    segment_chunk_packed,
    segment_chunk_of_input,
    segment_in_order,
    settings_for_later_chunks,
    shares_settings,
)
from labelfree.batch.task import (
    Job,
    abort_if_cancelled,
    failed_row,
    input_capture,
    load_input,
    n_frames_of,
    finish_input,
    process_image,
    process_input,
    segment_image,
    with_warnings,
    write_result,
)
from labelfree.errors import Cancelled, InputError, LabelFreeError, OutputDiskFullError
from labelfree.frame_chunks import chunks_chosen_text, read_whole, require_merge_room

__all__ = ["run_sequential", "run_on_dask", "wants_chunks", "run_input", "WorkerIOError", "is_worker_io_error",
           "abort_if_cancelled", "OutputDiskFullError", "output_disk_full", "REPORTED_ERRORS", "quiet_reported_plugin"]

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


#: errors a task raises that LabelFree reports itself (a retry, a stopped run): the "Compute Failed" line with a
#: traceback that a worker logs for them says nothing more
REPORTED_ERRORS = ("WorkerIOError", "OutputDiskFullError", "Cancelled")


def _stop_if_output_full(exc: BaseException, job: Job, /, *, started: float | None = None) -> None:
    """Raise :class:`OutputDiskFullError`, with the input's failed row, when ``exc`` is a full output disk."""
    full = output_disk_full(exc, job)
    if full is not None:  # the run's problem: no other worker has another disk to retry on
        if full.row is None:
            full.row = failed_row(job, full, started=started)
        raise full from exc


def _inside(path: Path, folder: Path) -> bool:
    path = path.absolute()
    return path == folder or folder in path.parents


def output_disk_full(exc: BaseException, job: Job, /) -> OutputDiskFullError | None:
    """``exc`` as an :class:`OutputDiskFullError` when it says that the disk of the job's output folder had no
    room (:func:`labelfree._disk_full.disk_full_reason`), else None.

    A write that names its file (``filename``, or the note of :mod:`labelfree.io.atomic`) counts only when that
    file is in the output folder: a full temporary folder of one worker is that worker's problem (retried
    elsewhere). A write that names none is taken for the outputs'.
    """
    from labelfree._disk_full import disk_full_reason, free_space_text, noted_paths

    if isinstance(exc, OutputDiskFullError):
        return exc
    reason = disk_full_reason(exc)
    if reason is None:
        return None
    out = Path(job.out_dir).absolute()
    paths = noted_paths(exc)
    if paths and not any(_inside(p, out) for p in paths):
        return None
    free = free_space_text(out)
    where = f"{out}" + (f", {free}" if free else "")
    return OutputDiskFullError(f"the disk of the output folder ({where}) has no room for the outputs of "
                               f"{job.item.stem}: {reason}", folder=str(out), stem=job.item.stem, reason=reason)


class _ReportedFailures(logging.Filter):
    """Leaves out a worker's "Compute Failed" record of an error in :data:`REPORTED_ERRORS`, and the warning of a
    LabelFree task that was still running when a stopped run closed its worker ("Async instruction for <Task
    cancelled name="execute('labelfree-...')" ...> ended with CancelledError")."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith("Async instruction for") and text.endswith("ended with CancelledError"):
            return "execute('labelfree-" not in text
        if not text.startswith("Compute Failed"):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        shown = str(args[3]) if len(args) > 3 else ""  # the exception's repr: "WorkerIOError('...', '...')"
        return not shown.startswith(tuple(f"{name}(" for name in REPORTED_ERRORS))


#: the loggers of a Dask worker's "Compute Failed" lines and of its instructions cancelled as it closes
_WORKER_LOGGERS = ("distributed.worker", "distributed.worker.state_machine")


def quiet_reported_plugin() -> Any:
    """A Dask worker plugin that leaves out the "Compute Failed" lines (with a traceback) that a worker logs for
    the errors LabelFree reports itself (:data:`REPORTED_ERRORS`), and the warning of a LabelFree task still running
    when a stopped run closes the worker (see :class:`_ReportedFailures`); every other failure is still logged.
    Removed again when the plugin is (``client.unregister_worker_plugin``) or its worker closes."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class QuietReported(WorkerPlugin):
        name = "labelfree-quiet-reported-failures"

        def setup(self, worker: Any) -> None:
            for name in _WORKER_LOGGERS:
                logger = logging.getLogger(name)
                if not any(isinstance(f, _ReportedFailures) for f in logger.filters):
                    logger.addFilter(_ReportedFailures())

        def teardown(self, worker: Any) -> None:
            for name in _WORKER_LOGGERS:
                logger = logging.getLogger(name)
                for f in [f for f in logger.filters if isinstance(f, _ReportedFailures)]:
                    logger.removeFilter(f)

    return QuietReported()


def _quiet_reported(client: Any) -> None:
    """:func:`quiet_reported_plugin` on the workers of a local cluster (their log is this terminal).

    It stays on them after the run: a task of a stopped run may still be running when the cluster closes (the
    one :func:`labelfree.batch.cluster.dask_client` started), and on a cluster that lives on (a Client the caller
    gave) it leaves out only lines of LabelFree's own tasks and errors."""
    try:
        from distributed import LocalCluster
    except ImportError:
        LocalCluster = None  # noqa: N806
    if LocalCluster is None or not isinstance(getattr(client, "cluster", None), LocalCluster):
        return
    try:
        client.register_plugin(quiet_reported_plugin())
    except Exception as exc:  # noqa: BLE001 - the lines are noise, not a reason to fail the run
        log.info("batch: could not quieten the workers' logs of reported errors (%s)", exc)


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
            _stop_if_output_full(exc, job, started=started)
            if is_worker_io_error(exc, job):
                raise _as_worker_io_error(exc, job) from exc
            return failed_row(job, exc, started=started)


def _process_image(image: Any, /, *, job: Job, started: float) -> dict[str, Any]:
    """Segment an already loaded input and write its outputs (:func:`labelfree.batch.task.process_image`); failures
    become a row, except a cancel and a full output disk (:class:`OutputDiskFullError`), which stop the run."""
    def stop(exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            raise exc
        _stop_if_output_full(exc, job, started=started)

    return process_image(image, job=job, started=started, stop=stop)


def _process_input(job: Job, /) -> dict[str, Any]:
    """Read, segment and write one input in this process (:func:`_process_image`)."""
    return process_input(job, process=_process_image)


def _count_frames(job: Job, frames: int | None = None, /) -> tuple[int, list[str]]:
    """The frames of the job's input, and the warnings of reading its metadata (they go in its row); an input of
    more than ``frames`` frames (its chunk length) whose joined labels have room neither in the output folder nor
    in this worker's memory is refused here, before any chunk (:func:`labelfree.frame_chunks.require_merge_room`)."""
    with input_capture(job) as messages:
        sizes = input_sizes(job)
        _require_merge_room(job, sizes, frames)
        return int(sizes.get("T", 1)), list(messages)  # 1 without a T axis


def _load(job: Job, frames: int | None = None, /) -> tuple[Any, list[str]]:
    """The job's input (drift-corrected), and the warnings of reading and correcting it (they go in its row); with
    ``frames``, refused as :func:`_count_frames` refuses it."""
    with input_capture(job) as messages:
        image = load_input(job)
        _require_merge_room(job, dict(image.sizes), frames)
        return image, list(messages)


def _require_merge_room(job: Job, sizes: dict[str, int], frames: int | None, /) -> None:
    """Refuse ``job``'s input of ``sizes``, to be segmented in chunks of ``frames`` frames (None: whole), whose joined
    labels have room neither in its output folder nor in memory (:func:`labelfree.frame_chunks.require_merge_room`);
    an input of no more frames than a chunk is segmented whole, not joined."""
    if frames and int(sizes.get("T", 1)) > frames:
        require_merge_room(sizes, job.out_dir, name=job.item.stem)


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
        _stop_if_output_full(exc, job)
        if is_worker_io_error(exc, job):
            raise _as_worker_io_error(exc, job) from exc
        raise


def _later_settings(first: Any, rest: list[tuple[int, int]], loaded: Any, /, *, job: Job) -> dict[str, Any]:
    """The settings task of a chunked input on Dask (:func:`labelfree.batch.chunks.settings_for_later_chunks`):
    the chunks it may segment after a first chunk of blank frames are read from the input as their own tasks
    read them, or taken from the drift-corrected movie ``loaded``."""
    if loaded is None:
        segment = functools.partial(_io_guard, segment_chunk_of_input, job, job)
    else:
        segment = functools.partial(_segment_loaded, loaded, job=job)
    return settings_for_later_chunks(first, rest, segment, job=job)


def _segment_loaded(loaded: Any, start: int, stop: int, settings: Any, /, *, job: Job) -> Any:
    return segment_chunk_packed(loaded, start, stop, job=job, settings=settings)


def wants_chunks(job: Job, chunk_frames: int | None, /) -> bool:
    """Whether ``job`` may be split into frame chunks of ``chunk_frames``."""
    return bool(chunk_frames) and job.frame_overlap is not None


def chunk_frames_for(job: Job, chunk_frames: int | None, memory: Callable[[], int | None], /, *,
                     sizes: dict[str, int] | None = None) -> int | None:
    """The chunk length of ``job``'s input: ``chunk_frames`` when given, else :func:`auto_chunk_frames` of its
    ``sizes`` (None: read from its metadata here) and ``memory()``, the bytes one task may use (None: one task)."""
    if chunk_frames or job.frame_overlap is None:
        return chunk_frames
    available = memory()
    if not available:  # no limit known (no worker yet): the input is not read here
        return None
    if sizes is None:
        from labelfree.batch.messages import input_label, input_messages

        try:  # its warnings are not shown here: the task that reads it says them, in the input's row
            with input_messages(input_label(job.item), show=False):
                sizes = dict(open_input(job).sizes)
        except Exception as exc:  # noqa: BLE001 - the task that reads it reports what is wrong
            log.debug("batch: %s: no automatic chunks (%s)", job.item.stem, exc)
            return None
    from labelfree._label_memory import run_bytes
    from labelfree.pipelines import get_pipeline

    work = run_bytes(sizes, get_pipeline(job.pipeline), tiled=job.tile is not None)[1]  # one frame's, beside a chunk
    chosen = auto_chunk_frames(sizes, available, overlap=int(job.frame_overlap), work=work)
    if chosen:
        log.info("%s", chunks_chosen_text(job.item.stem, sizes, available, chosen, room="one task may use",
                                          choose="set batch.chunk_frames to choose", work=work))
    return chosen


def _task_memory(client: Any, /) -> int | None:
    """The least memory one task may use on ``client``'s workers: a worker's memory limit over its threads (None:
    no worker yet, as an adaptive cluster starts, or none has a limit)."""
    try:
        workers = client.scheduler_info().get("workers", {}).values()
    except Exception:  # noqa: BLE001 - a scheduler that does not answer: one task per input
        return None
    shares = [int(w["memory_limit"]) // max(1, int(w.get("nthreads") or 1)) for w in workers
              if w.get("memory_limit")]
    return min(shares) if shares else None


def _spans(n_frames: int, job: Job, chunk_frames: int) -> list[tuple[int, int]] | None:
    if n_frames <= chunk_frames:
        return None
    return plan_chunks(n_frames, chunk_frames=chunk_frames, overlap=int(job.frame_overlap or 0))


def run_sequential(jobs: list[Job], rows: dict[str, dict], /, *, bar: Any, chunk_frames: int | None,
                   on_row: Callable[[], None] | None = None) -> None:
    """Run every job in this process, in order (the reference for the Dask results).

    The warnings of an input are shown as they are raised, each as a line that names the input, and
    kept in its row (:func:`labelfree.batch.task.input_capture`). A full output disk stops the run: the input's
    failed row is kept and :class:`OutputDiskFullError` raised (:func:`output_disk_full`)."""
    from labelfree._threads import available_memory

    for job in jobs:
        if job.frame_overlap is None:  # a pipeline that does not allow chunks
            try:
                row = _process_input(job)
            except OutputDiskFullError as full:
                rows[job.item.stem] = full.row or failed_row(job, full)
                raise
        else:
            started = time.time()
            with input_capture(job):
                try:
                    image = load_input(job, lazy_unmapped=job.tile is None)  # compressed: read as chunks need it
                    frames = chunk_frames_for(job, chunk_frames, available_memory, sizes=dict(image.sizes))
                    spans = _spans(n_frames_of(image), job, frames) if frames and "T" in image.dims else None
                    if spans is None:
                        row = _process_image(read_whole(image, job.item.path), job=job, started=started)
                    else:  # the first chunk segmented chooses the automatic settings the others use
                        _require_merge_room(job, dict(image.sizes), frames)
                        parts = segment_in_order(
                            spans, lambda a, b, s: segment_chunk_packed(image, a, b, job=job, settings=s),
                            pipeline=job.pipeline)
                        row = merge_and_write(image, parts, job=job, started=started)
                except Cancelled:  # the run stops, as an input that is not chunked does
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is reported per input
                    full = output_disk_full(exc, job)
                    if full is not None:
                        rows[job.item.stem] = full.row or failed_row(job, full, started=started)
                        raise full from exc
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
        self.frames: dict[str, int | None] = {}  # stem -> its chunk length (given, or automatic)
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
        frames = self.frames[job.item.stem] = chunk_frames_for(job, self.chunk_frames,
                                                               lambda: _task_memory(self.client))
        if not wants_chunks(job, frames):
            self.submit(_Task("row", job, now, run_input, (job,)))
        elif job.drift_correction:  # the corrected movie is made once, then shared by the chunks
            self.submit(_Task("load", job, now, _io_guard, (_load, job, job, frames)))
        else:
            self.submit(_Task("frames", job, now, _io_guard, (_count_frames, job, job, frames)))

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
        job, spans = task.job, _spans(n_frames, task.job, self.frames.get(task.job.item.stem) or 0)
        if loaded is not None:  # drift path: the chunks share the corrected movie
            if spans is None:
                self.submit(_Task("row", job, task.started, _process_image, (loaded,),
                                  {"job": job, "started": task.started}))
                return
            parts, settings = first_then_rest(
                spans, lambda a, b, s: self.client.submit(segment_chunk_packed, loaded, a, b, job=job, settings=s,
                                                          key=_key(f"chunk{a}", job), pure=False),
                lambda first: self._settings(first, job, spans[1:], loaded))
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
            lambda first: self._settings(first, job, spans[1:]))
        self.held[job.item.stem] = [*parts, *([settings] if settings is not None else [])]
        self.submit(_Task("merge", job, task.started, _io_guard, (merge_and_write_input, job, job, parts),
                          {"started": task.started}, failed_on=task.failed_on, n_frames=n_frames), workers=workers)

    def _settings(self, first: Any, job: Job, rest: list[tuple[int, int]], loaded: Any = None) -> Any:
        """A future of the automatic settings the first chunk chose (None: the pipeline shares none,
        and the chunks run at once); the later chunks (``rest``; of the drift-corrected movie
        ``loaded``, when given) take it as an argument, so they start once the first chunk is done
        (a first chunk of blank frames: once the first one that is not, :func:`_later_settings`)."""
        if not shares_settings(job):
            return None
        return self.client.submit(_later_settings, first, rest, loaded, job=job, key=_key("settings", job),
                                  pure=False)

    def collect(self) -> None:
        for future in self.queue:
            task = self.pending.pop(future)
            job = task.job
            if future.status != "finished":
                exc = future.exception()
                full = output_disk_full(exc, job)  # raised so by a task, or an error no task sorted
                if full is not None:  # the run stops: nothing more is scheduled, nothing retried
                    self._finish(job, full.row or failed_row(job, full, started=task.started))
                    raise full
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

    On KeyboardInterrupt (or a progress sink raising Cancelled), and on a full output disk
    (:class:`OutputDiskFullError`, the input's failed row kept), every task of this run
    is cancelled, and running ones are given a moment to stop, before the exception
    goes on; tasks check before publishing, so none writes outputs after that.
    """
    dispatcher = _Dispatcher(client, rows, bar, chunk_frames, io_retries, on_row)
    _quiet_reported(client)
    try:
        for job in jobs:
            dispatcher.start(job)
        dispatcher.collect()
    except BaseException:
        dispatcher.cancel()
        raise
