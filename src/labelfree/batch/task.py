"""The work done for one input, on a Dask worker or in the calling process.

Every function here is a plain top-level function so that Dask can ship it to
workers; a task receives a :class:`Job` (picklable, small) and reads its input from
the shared file system itself.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from labelfree.batch.inputs import BatchInput
from labelfree.batch.state import STATE_SUFFIX, new_staging_dir, publish_outputs, write_json_atomic
from labelfree.errors import InputError

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
    "n_frames_of",
]

log = logging.getLogger(__name__)

OUTPUT_KINDS = ("labels", "rois", "table", "provenance", "drift", "state")


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
    zoo: str | None = None


def result_row(item: BatchInput, /, *, status: str, **fields: Any) -> dict[str, Any]:
    """One row of the run's summary table."""
    row: dict[str, Any] = {"input": str(item.path), "stem": item.stem, "status": status, "n_objects": None,
                           "n_frames": None, "seconds": None, "error": "", "warnings": "", "worker": ""}
    row.update({kind: "" for kind in OUTPUT_KINDS})
    row.update(fields)
    return row


def _select_channels(image: xr.DataArray, channels: tuple[str | int, ...]) -> xr.DataArray:
    from labelfree.image import channel_names

    if "C" not in image.dims:
        if tuple(channels) in ((0,), ("C0",)):
            return image
        raise InputError(f"channels {list(channels)} were asked for but the image has no channel axis.")
    names = channel_names(image)
    index = []
    for ch in channels:
        if isinstance(ch, str) and ch in names:
            index.append(names.index(ch))
        elif isinstance(ch, int) and -len(names) <= ch < len(names):
            index.append(ch % len(names))
        else:
            raise InputError(f"Channel {ch!r} not found; the image has channels {names} (give names or 0-based indices).")
    return image.isel(C=index)


def load_input(job: Job, /) -> xr.DataArray:
    """Read one input image, keep the asked channels and correct drift when asked.

    Returns
    -------
    xarray.DataArray with dims from T, C, Z, Y, X and the file's calibration.
    """
    from labelfree.io import read_image

    item = job.item
    image = read_image(item.path, dims=item.dims)
    if item.channels is not None:
        image = _select_channels(image, item.channels)
    if job.drift_correction:
        from labelfree.batch.fiji_step import correct_stage_drift

        image = correct_stage_drift(image, fiji_dir=job.fiji_dir, in_worker=job.fiji_in_worker)
    return image


def segment_image(image: xr.DataArray, /, *, job: Job) -> xr.DataArray:
    """Run the job's pipeline on ``image`` (dims T, C, Z, Y, X) and return its labels.

    Warnings the pipeline raises (e.g. "no motion found") are logged and recorded in
    the provenance (``attrs["labelfree"]["warnings"]``), so a headless run reports them.
    Python's warning filters are per process: with several threads per worker a warning
    may be recorded for a concurrent input too.
    """
    import warnings

    from labelfree.pipelines import get_pipeline

    pipe = get_pipeline(job.pipeline)
    extra: dict[str, Any] = {}
    if job.item.markers is not None:
        from labelfree.io import read_image

        extra["markers"] = np.asarray(read_image(job.item.markers).data)
    zoo = job.item.zoo or job.zoo
    if zoo is not None:
        extra["zoo"] = str(zoo)
    accepted = inspect.signature(pipe.segment).parameters
    unused = sorted(k for k in extra if k not in accepted)
    if unused:
        raise InputError(f"The {pipe.name} pipeline takes no {' or '.join(unused)}; remove it from the manifest/options.")
    config = pipe.config_class.from_dict(job.config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        labels = pipe.segment(image, config=config, progress=False, **extra)
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    for message in messages:
        log.warning("%s: %s", job.item.path, message)
    if messages:
        labels = labels.copy(deep=False)
        labels.attrs = {**labels.attrs, "labelfree": {**dict(labels.attrs.get("labelfree") or {}), "warnings": messages}}
    return labels


def warnings_of(labels: Any, /) -> str:
    """The recorded pipeline warnings of ``labels``, joined for the summary table."""
    return " | ".join((getattr(labels, "attrs", {}).get("labelfree") or {}).get("warnings") or [])


def count_objects(labels: Any, /) -> int:
    """Objects summed over frames (the number of rows of the object table).

    A DataArray with a ``T`` axis is counted frame by frame; anything else as one volume.
    """
    arr = np.asarray(labels)
    dims = tuple(getattr(labels, "dims", ()))
    frames = [arr.take(t, axis=dims.index("T")) for t in range(arr.shape[dims.index("T")])] if "T" in dims else [arr]
    return int(sum(np.count_nonzero(np.unique(f)) for f in frames))


def write_result(labels: xr.DataArray, image: xr.DataArray, /, *, job: Job, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write label TIFF, ROI zip, table and provenance (and drift shifts) of one input.

    The files are written into a private staging folder and moved into the output
    folder; :func:`finish_input` then writes the state file that marks the input done.

    Returns
    -------
    dict of kind -> output file name inside ``job.out_dir``.
    """
    from labelfree.io import write_outputs

    item = job.item
    record = {"input": str(item.path), "input_sha256": job.input_sha256, "fingerprint": job.fingerprint,
              "input_options": item.describe(), **(extra or {})}
    labels = labels.copy(deep=False)
    labels.attrs = {**labels.attrs, "labelfree": {**dict(labels.attrs.get("labelfree") or {}), "batch": record}}
    staging = new_staging_dir(job.out_dir, item.stem)
    try:
        staged = write_outputs(staging, labels, image=image, stem=item.stem)
        if "drift_shifts" in image.attrs:  # the shifts of drift correction, as a table
            import pandas as pd

            staged["drift"] = staging / f"{item.stem}_drift.csv"
            pd.DataFrame(image.attrs["drift_shifts"]).to_csv(staged["drift"], index=False)
        names = publish_outputs({k: v for k, v in staged.items() if v}, job.out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return names


def finish_input(job: Job, names: dict[str, str], /, *, labels: xr.DataArray, seconds: float) -> dict[str, Any]:
    """Write the state file that marks ``job``'s input finished; return its summary row."""
    n_objects, n_frames = count_objects(labels), n_frames_of(labels)
    state_name = f"{job.item.stem}{STATE_SUFFIX}"
    state = {"status": "ok", "fingerprint": job.fingerprint, "input": str(job.item.path),
             "input_sha256": job.input_sha256, "pipeline": job.pipeline, "config": job.config,
             "outputs": names, "n_objects": n_objects, "n_frames": n_frames, "seconds": round(seconds, 3)}
    write_json_atomic(Path(job.out_dir) / state_name, state)
    paths = {k: str(Path(job.out_dir) / v) for k, v in {**names, "state": state_name}.items()}
    return result_row(job.item, status="ok", n_objects=n_objects, n_frames=n_frames, seconds=round(seconds, 3),
                      warnings=warnings_of(labels), worker=worker_name(), **paths)


def worker_name() -> str:
    """``host:pid`` of the process doing the work."""
    return f"{socket.gethostname()}:{os.getpid()}"


def n_frames_of(image: xr.DataArray, /) -> int:
    """Number of time points (1 without a T axis)."""
    return int(image.sizes.get("T", 1))


def process_image(image: xr.DataArray, /, *, job: Job, started: float) -> dict[str, Any]:
    """Segment an already loaded input and write its outputs; failures become a row.

    ``started`` is the ``time.time()`` at which work on this input began.
    """
    try:
        labels = segment_image(image, job=job)
        names = write_result(labels, image, job=job)
        return finish_input(job, names, labels=labels, seconds=time.time() - started)
    except Exception as exc:  # noqa: BLE001 - every failure is reported per input
        return failed_row(job, exc, started=started)


def failed_row(job: Job, exc: BaseException, /, *, started: float | None = None) -> dict[str, Any]:
    """Summary row of an input that failed with ``exc``."""
    log.warning("batch input %s failed: %s: %s", job.item.path, type(exc).__name__, exc)
    seconds = round(time.time() - started, 3) if started is not None else None
    return result_row(job.item, status="failed", error=f"{type(exc).__name__}: {exc}", seconds=seconds,
                      worker=worker_name())


def process_input(job: Job, /) -> dict[str, Any]:
    """Read, segment and write one input; failures become a ``failed`` summary row.

    Only :class:`Exception` is caught: a KeyboardInterrupt stops the run.
    """
    started = time.time()
    try:
        image = load_input(job)
    except Exception as exc:  # noqa: BLE001 - every failure is reported per input
        return failed_row(job, exc, started=started)
    return process_image(image, job=job, started=started)
