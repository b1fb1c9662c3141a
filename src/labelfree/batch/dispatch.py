"""Executing jobs: one after another in this process, or as tasks on a Dask cluster.

On Dask, an input is one task (:func:`labelfree.batch.task.process_input`), or, when
chunking applies, a load task, one task per frame chunk and a merge-and-write task;
Dask moves the loaded movie and the chunk labels between workers itself. Results are
collected with ``as_completed`` as they finish, which drives the progress bar.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from labelfree.batch.chunks import merge_and_write, plan_chunks, segment_chunk
from labelfree.batch.task import Job, failed_row, load_input, n_frames_of, process_image, process_input

__all__ = ["run_sequential", "run_on_dask", "wants_chunks"]

log = logging.getLogger(__name__)


def wants_chunks(job: Job, chunk_frames: int | None, /) -> bool:
    """Whether ``job`` may be split into frame chunks of ``chunk_frames``."""
    return bool(chunk_frames) and job.frame_overlap is not None


def _chunks_of(image: Any, job: Job, chunk_frames: int) -> list[tuple[int, int]] | None:
    if "T" not in image.dims or n_frames_of(image) <= chunk_frames:
        return None
    return plan_chunks(n_frames_of(image), chunk_frames=chunk_frames, overlap=int(job.frame_overlap or 0))


def run_sequential(jobs: list[Job], rows: dict[str, dict], /, *, bar: Any, chunk_frames: int | None) -> None:
    """Run every job in this process, in order (the reference for the Dask results)."""
    for job in jobs:
        if not wants_chunks(job, chunk_frames):
            row = process_input(job)
        else:
            started = time.time()
            try:
                image = load_input(job)
                spans = _chunks_of(image, job, chunk_frames)
                if spans is None:
                    row = process_image(image, job=job, started=started)
                else:
                    parts = [segment_chunk(image, a, b, job=job) for a, b in spans]
                    row = merge_and_write(image, parts, job=job, started=started)
            except Exception as exc:  # noqa: BLE001 - every failure is reported per input
                row = failed_row(job, exc, started=started)
        rows[job.item.stem] = row
        bar.update(message=f"{job.item.stem}: {row['status']}")


def _key(kind: str, job: Job) -> str:
    return f"labelfree-{kind}-{job.item.stem}-{uuid.uuid4().hex[:8]}"


def run_on_dask(jobs: list[Job], rows: dict[str, dict], /, *, bar: Any, client: Any, chunk_frames: int | None) -> None:
    """Submit every job to ``client`` and collect the rows as tasks finish.

    On KeyboardInterrupt (or a progress sink raising Cancelled) every task of this run
    is cancelled before the exception goes on.
    """
    from distributed import as_completed

    pending: dict[Any, tuple[str, Job, float]] = {}  # future -> (kind, job, submit time)
    held: dict[str, list[Any]] = {}  # stem -> futures kept alive until the input is done
    for job in jobs:
        now = time.time()
        if wants_chunks(job, chunk_frames):
            loaded = client.submit(load_input, job, key=_key("load", job), pure=False)
            count = client.submit(n_frames_of, loaded, key=_key("frames", job), pure=False)
            held[job.item.stem] = [loaded]
            pending[count] = ("frames", job, now)
        else:
            pending[client.submit(process_input, job, key=_key("run", job), pure=False)] = ("row", job, now)
    queue = as_completed(list(pending))
    try:
        for future in queue:
            kind, job, started = pending.pop(future)
            stem = job.item.stem
            if future.status != "finished":
                rows[stem] = failed_row(job, future.exception(), started=started)
            elif kind == "frames":
                loaded = held[stem][0]
                n_frames = int(future.result())
                spans = None if n_frames <= chunk_frames else plan_chunks(
                    n_frames, chunk_frames=chunk_frames, overlap=int(job.frame_overlap or 0))
                if spans is None:
                    nxt = client.submit(process_image, loaded, job=job, started=started, key=_key("run", job), pure=False)
                else:
                    parts = [client.submit(segment_chunk, loaded, a, b, job=job, key=_key(f"chunk{a}", job), pure=False)
                             for a, b in spans]
                    nxt = client.submit(merge_and_write, loaded, parts, job=job, started=started,
                                        key=_key("merge", job), pure=False)
                    held[stem].extend(parts)
                pending[nxt] = ("row", job, started)
                queue.add(nxt)
                continue
            else:
                rows[stem] = future.result()
            held.pop(stem, None)
            bar.update(message=f"{stem}: {rows[stem]['status']}")
    except BaseException:
        client.cancel(list(pending) + [f for fs in held.values() for f in fs], force=True)
        raise

