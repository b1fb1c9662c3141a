"""The work done for one input, on a Dask worker or in the calling process.

Every function here is a plain top-level function so that Dask can ship it to
workers; a task receives a :class:`Job` (picklable, small) and reads its input from
the shared file system itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from labelfree._mapped import page_out_while_mapped
from labelfree._reproduce import current_command
from labelfree.batch.inputs import BatchInput
from labelfree.errors import Cancelled

__all__ = [
    "Job",
    "load_input",
    "segment_image",
    "write_result",
    "finish_input",
    "process_image",
    "process_input",
    "result_row",
    "failed_row",
    "count_objects",
    "warnings_of",
    "input_capture",
    "with_warnings",
    "n_frames_of",
    "abort_if_cancelled",
]

log = logging.getLogger(__name__)

OUTPUT_KINDS = ("labels", "rois", "table", "provenance", "drift", "ome_zarr")


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a worker needs to process one input (sent to the worker by Dask)."""

    item: BatchInput
    pipeline: str
    config: dict[str, Any]
    out_dir: str
    fingerprint: str
    input_sha256: str
    drift_correction: bool = False
    fiji_dir: str | None = None
    fiji_in_worker: bool = False
    frame_overlap: int | None = None
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)
    overwrite: bool = False
    tile: int | None = None
    tile_overlap: int = 128
    threads: int | None = None
    #: ``command`` and ``cwd`` of the ``labelfree batch`` command that made the job (none from Python),
    #: taken where the job is made and recorded in the provenance by the worker that writes it
    command: dict[str, str] = dataclasses.field(default_factory=current_command)
    #: the provenance record given as the config (its models, model file, threads are repeated), or None
    record: dict[str, Any] | None = None
    #: also write the labels as ``<stem>_labels.ome.zarr`` (``labelfree batch --ome-zarr``)
    ome_zarr: bool = False

    def input_files(self) -> dict[str, Any]:
        """The input files of this job by role (never written over; recorded in the provenance)."""
        from labelfree.io.outputs import InputRecord

        from labelfree.pipelines import get_pipeline
        from labelfree.run import input_files

        spec = get_pipeline(self.pipeline)
        files: dict[str, Any] = {"image": InputRecord(self.item.path, self.input_sha256)}
        files.update(input_files(spec, {k: v for k, v in self.inputs.items() if v}))  # each file of a value
        return files


def result_row(item: BatchInput, /, *, status: str, **fields: Any) -> dict[str, Any]:
    """One row of the run's summary table (``well``, ``field`` and ``image_name`` empty: the run fills them in,
    :func:`labelfree.batch.objects.input_places`)."""
    row: dict[str, Any] = {"input": str(item.path), "series": item.series, "stem": item.stem,
                           "well": "", "field": "", "image_name": "", "status": status, "n_objects": None,
                           "n_frames": None, "seconds": None, "error": "", "warnings": "", "worker": ""}
    row.update({kind: "" for kind in OUTPUT_KINDS})
    row.update(fields)
    return row


def load_input(job: Job, /, *, lazy_unmapped: bool = False) -> xr.DataArray:
    """Read one input image, its series ``job.item.series`` only when it names one (and correct drift when asked).
    ``lazy_unmapped``: a TIFF that cannot be memory-mapped (compressed) is read lazily (not with drift correction,
    which reads every frame), for a movie that may be segmented in chunks.

    Returns
    -------
    xarray.DataArray with dims from T, C, Z, Y, X and the file's calibration.
    """
    from labelfree.io import read_image

    item = job.item
    image = read_image(item.path, dims=item.dims, channel_names=item.channel_names, memmap=True, series=item.series,
                       lazy_unmapped=lazy_unmapped and not job.drift_correction)
    # its pages, once read, are let go from the worker: Dask counts them against the worker's memory limit
    page_out_while_mapped(image.data)
    if job.drift_correction:
        from labelfree.batch.fiji_step import correct_stage_drift

        image = correct_stage_drift(image, fiji_dir=job.fiji_dir, in_worker=job.fiji_in_worker)
    return image


def segment_image(image: xr.DataArray, /, *, job: Job, keywords: dict[str, Any] | None = None) -> xr.DataArray:
    """Run the job's pipeline on ``image`` (dims T, C, Z, Y, X) and return its labels.

    Warnings the pipeline raises (e.g. "no motion found") are shown as lines that name the input
    (:func:`labelfree.batch.messages.input_messages`; inside a Dask task the client shows them) and
    recorded in the provenance (``attrs["labelfree"]["warnings"]``), so a headless run reports them.
    ``keywords``: more keywords of the pipeline's segment function, none of them a setting (a chunk of a movie
    gets what was measured on the whole movie: Motion's ``grey_range``, :func:`labelfree.batch.chunks.segment_chunk`).
    """
    from labelfree.batch.messages import input_label, input_messages
    from labelfree.run import run_tiling_as_needed

    with input_messages(input_label(job.item)) as messages:
        config = job.config if job.record is None else {**job.record, "config": job.config}
        tile, overlap = job.tile, job.tile_overlap
        chosen = tile is None and not keywords
        if chosen:  # a plane whose work cannot fit whole: in tiles
            tile = _auto_tile(job, image)
            overlap = 128 if tile else overlap
        # smaller tiles where the run, once it has read what it runs, finds that the chosen ones cannot fit
        labels = run_tiling_as_needed(job.pipeline, image, tile=tile, chosen=chosen,
                                      choose="set tile in the batch config to choose",
                                      say=lambda said: log.info("%s: %s", job.item.stem, said), config=config,
                                      channel=job.item.channels, inputs=job.inputs, progress=False,
                                      tile_overlap=overlap, threads=job.threads, segment_keywords=keywords)
    if messages:
        labels = labels.copy(deep=False)
        labels.attrs = {**labels.attrs, "labelfree": {**dict(labels.attrs.get("labelfree") or {}),
                                                      "warnings": sorted(set(messages))}}
    return labels


def task_memory(spec: Any = None, /) -> int | None:
    """The bytes this task may still use: the memory this process has left (with the libraries of the pipeline
    ``spec`` loaded first, as the run's own check measures it: :func:`labelfree._label_memory.memory_left`; without
    a spec, as it is now), and, in a Dask worker with a memory limit, at most that limit over
    the worker's threads (a worker past its limit is restarted by its nanny); where the worker is a process of its
    own (it has a nanny), what that process holds already (its imports, the pipeline's libraries: about 590 MiB with
    torch and cellpose, and the work of tasks on its other threads) is not the task's, so the limit less it."""
    from labelfree._label_memory import memory_left
    from labelfree._threads import available_memory, in_dask_worker

    left = memory_left(spec) if spec is not None else available_memory()  # the libraries first: then the resident
    if in_dask_worker():
        from distributed import get_worker

        worker = get_worker()
        limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        if limit:
            room = int(limit) - (_resident_bytes() if getattr(worker, "nanny", None) else 0)
            share = max(0, room) // max(1, int(getattr(getattr(worker, "state", None), "nthreads", 1) or 1))
            left = share if left is None else min(left, share)
    return left


def _resident_bytes() -> int:
    """The resident memory of this process (what a nanny compares with its worker's memory limit)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _auto_tile(job: Job, image: xr.DataArray, /) -> int | None:
    """The tile size of ``job``'s input when the batch gives none (None: its planes whole): where the pipeline takes
    tiles and the labels and its work on one whole plane would not fit in :func:`task_memory`,
    :func:`labelfree._label_memory.auto_tile`'s (logged, and said in the input's provenance as its ``tiles``)."""
    from labelfree._label_memory import auto_tile, tiles_chosen_text
    from labelfree.pipelines import get_pipeline

    spec = get_pipeline(job.pipeline)
    memory, sizes = task_memory(spec), dict(image.sizes)
    tile = auto_tile(sizes, spec, memory)
    if tile:
        log.info("%s", tiles_chosen_text(job.item.stem, sizes, spec, memory, tile, room="one task may use",
                                         choose="set tile in the batch config to choose"))
    return tile


def warnings_of(labels: Any, /) -> str:
    """The recorded pipeline warnings of ``labels``, joined for the summary table."""
    from labelfree.batch.messages import join_messages

    return join_messages((getattr(labels, "attrs", {}).get("labelfree") or {}).get("warnings") or [])


def input_capture(job: Job, /) -> Any:
    """The context in which ``job``'s input is processed: its warnings are collected and the lines shown name it
    (:func:`labelfree.batch.messages.input_messages`); the steps inside it share it."""
    from labelfree.batch.messages import input_label, input_messages

    return input_messages(input_label(job.item))


def with_warnings(row: dict[str, Any], messages: Any, /) -> dict[str, Any]:
    """``row`` with ``messages`` (texts) added to its ``warnings`` (each once, sorted)."""
    from labelfree.batch.messages import join_messages, split_messages

    merged = sorted({*split_messages(row.get("warnings")), *(m for m in messages if m)})
    return {**row, "warnings": join_messages(merged)}


def count_objects(labels: Any, /) -> int:
    """Objects summed over frames.

    A DataArray with a ``T`` axis is counted frame by frame; anything else as one volume, so a
    Z-stack's object counts once (its object table has a row for each Z plane the object lies in).
    """
    arr = np.asarray(labels)
    dims = tuple(getattr(labels, "dims", ()))
    frames = np.moveaxis(arr, dims.index("T"), 0) if "T" in dims else arr[None]  # views: no frame is copied
    return int(sum(np.count_nonzero(_ids(f)) for f in frames))


def _ids(volume: np.ndarray, /) -> np.ndarray:
    """The values of ``volume``, read one plane at a time (np.unique sorts a copy of what it is given)."""
    if volume.ndim <= 2:
        return np.unique(volume)
    return np.unique(np.concatenate([_ids(plane) for plane in volume]))


def write_result(labels: xr.DataArray, image: xr.DataArray, /, *, job: Job, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write label TIFF, ROI zip, table, (drift shifts, the OME-Zarr labels) and the manifest of one input.

    The files are written into a private staging folder and published as one set, the
    manifest (provenance with the input's fingerprint) last; see
    :func:`labelfree.io.outputs.publish_set`. Raises :class:`Cancelled` (nothing written)
    when run as a Dask task of a run that was stopped.

    Returns
    -------
    dict of kind -> output file name inside ``job.out_dir``.
    """
    from labelfree.batch.messages import current_messages
    from labelfree.io.outputs import publish_set, staging_folder
    from labelfree.io.tables import stage_outputs
    from labelfree.run import prepare_image

    item = job.item
    series = {"series": item.series} if item.series is not None else {}
    record = {"batch": {"input": str(item.path), **series, "input_sha256": job.input_sha256,
                        "fingerprint": job.fingerprint,
                        "input_options": item.describe(), "n_objects": count_objects(labels),
                        "n_frames": n_frames_of(labels), **(extra or {})},
              **job.command}  # "run its command again", as for a single run
    extras = {}
    if "drift_shifts" in image.attrs:  # the shifts of drift correction, as a table written as labelfree drift writes it
        import pandas as pd

        from labelfree.io.tables import write_table

        extras["drift"] = lambda path: write_table(path, pd.DataFrame(image.attrs["drift_shifts"]))
    if job.ome_zarr:
        from labelfree.io.ngff.label_image import write_label_image

        extras["ome_zarr"] = lambda path: write_label_image(path, labels)
    out = Path(job.out_dir)
    with staging_folder(out, item.stem) as staging:
        # checked once the staging folder exists: a client that stopped the run waits for the
        # staging folders of its inputs to go, so what is published after it returned is nothing
        abort_if_cancelled(job)
        used = prepare_image(job.pipeline, image, channel=item.channels)
        staged, prov = stage_outputs(staging, item.stem, labels, image=used, inputs=job.input_files(),
                                     extras=extras, record=record)
        # the warnings of the whole input (its reading and the writing so far too), as the summary has them
        noted = sorted({*(prov.get("warnings") or []), *current_messages()})
        if noted:
            prov = {**prov, "warnings": noted}
        paths = publish_set(out, item.stem, staged, prov, overwrite=job.overwrite, inputs=job.input_files())
    return {kind: path.name for kind, path in paths.items()}


def finish_input(job: Job, names: dict[str, str], /, *, labels: xr.DataArray, seconds: float) -> dict[str, Any]:
    """The summary row of ``job``'s published input; its warnings are those of its labels and those collected
    while it was processed (:func:`input_capture`)."""
    from labelfree.batch.messages import current_messages

    n_objects, n_frames = count_objects(labels), n_frames_of(labels)
    paths = {k: str(Path(job.out_dir) / v) for k, v in names.items()}
    row = result_row(job.item, status="ok", n_objects=n_objects, n_frames=n_frames, seconds=round(seconds, 3),
                     warnings=warnings_of(labels), worker=worker_name(), **paths)
    return with_warnings(row, current_messages())


def worker_name() -> str:
    """``host:pid`` of the process doing the work."""
    return f"{socket.gethostname()}:{os.getpid()}"


def n_frames_of(image: xr.DataArray, /) -> int:
    """Number of time points (1 without a T axis)."""
    return int(image.sizes.get("T", 1))


def process_image(image: xr.DataArray, /, *, job: Job, started: float,
                  stop: Any = None) -> dict[str, Any]:
    """Segment an already loaded input and write its outputs; failures become a row.

    ``started`` is the ``time.time()`` at which work on this input began. ``stop``, if given, is called with a
    failure before it becomes a row and may raise instead (a run's dispatcher: a cancel, a full output disk).
    """
    with input_capture(job):
        try:
            labels = segment_image(image, job=job)
            names = write_result(labels, image, job=job)
            return finish_input(job, names, labels=labels, seconds=time.time() - started)
        except Exception as exc:  # noqa: BLE001 - every failure is reported per input
            if stop is not None:
                stop(exc)
            return failed_row(job, exc, started=started)


def failed_row(job: Job, exc: BaseException, /, *, started: float | None = None) -> dict[str, Any]:
    """Summary row of an input that failed with ``exc``, with the warnings collected before it failed."""
    from labelfree.batch.messages import current_messages

    # info: the report lists every failed input with its error (a warning here said it twice)
    log.info("batch input %s failed: %s: %s", job.item.path, type(exc).__name__, exc)
    seconds = round(time.time() - started, 3) if started is not None else None
    error = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "KilledWorker":  # Dask gave up after the workers died on it, usually out of memory
        chunks = (", or segment a long movie in chunks of frames (--chunk-frames N, e.g. 50, or a smaller N)"
                  if job.frame_overlap is not None else "")  # a pipeline that allows chunks
        error += (" (the workers running this input died, most often from running out of memory: give each worker "
                  f"more memory (--memory-limit, e.g. 8GB) or run fewer workers (--workers){chunks})")
    row = result_row(job.item, status="failed", error=error, seconds=seconds, worker=worker_name())
    return with_warnings(row, current_messages())


def process_input(job: Job, /, *, process: Any = None) -> dict[str, Any]:
    """Read, segment and write one input; failures become a ``failed`` summary row.

    Only :class:`Exception` is caught: a KeyboardInterrupt stops the run. ``process`` segments and writes the
    image read (default :func:`process_image`; the same keywords).
    """
    started = time.time()
    with input_capture(job):  # the warnings of reading the input too
        try:
            image = load_input(job)
        except Exception as exc:  # noqa: BLE001 - every failure is reported per input
            return failed_row(job, exc, started=started)
        return (process or process_image)(image, job=job, started=started)


def abort_if_cancelled(job: Job | None = None, /) -> None:
    """Raise :class:`Cancelled` when run as a Dask task that the scheduler no longer wants.

    The scheduler drops a task's result when its run is cancelled or its client is gone;
    the worker then marks the running task cancelled. Outside a Dask worker: no-op.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    try:
        key = worker.get_current_task()
        state = worker.state.tasks.get(key)
    except (AttributeError, KeyError):
        return
    if state is None or state.state in ("cancelled", "released", "forgotten"):
        what = job.item.stem if job is not None else "this input"
        raise Cancelled(f"The batch run was stopped; {what} was not written.")
