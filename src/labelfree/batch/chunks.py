"""Long time-lapses split into frame chunks, one Dask task each, merged afterwards (the chunks, their merge and
the rules they follow: :mod:`labelfree.frame_chunks`, whose names this module offers too).

The first chunk chooses the automatic settings every later chunk uses (:func:`shared_settings`; after a first chunk
of blank frames, the first chunk with cells: :func:`settings_for_later_chunks`). What a
pipeline measures on the whole movie at once is measured once, on the whole movie, by the first chunk's task
and handed to every chunk as keywords of its segment function (:func:`whole_movie_keywords`): Motion's grey
range (``grey_range``: the grey values mapped to 0 and 255) and, for a movie with frames of another exposure or
bleaching, each frame's gain (``frame_gains``, a chunk gets those of its frames), so that every chunk maps its
frames to 8 bits as the whole run does; the outputs' provenance records them once (``batch.whole_movie``).

On Dask, no task receives the movie: :func:`input_sizes` reads the file's metadata,
each :func:`segment_chunk_of_input` reads its own frames from the file (TIFF pages or
zarr chunks, through a lazy read) and hands its labels on packed (:class:`PackedLabels`), and
:func:`merge_and_write_input` reads the movie once more, one plane at a time, for the object
table's intensities while it writes the outputs. (With drift correction the corrected movie is
made once by a load task and shared instead.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import xarray as xr

from labelfree._mapped import page_out_while_mapped
from labelfree.errors import ConstantImageError
from labelfree.frame_chunks import (  # noqa: F401 - offered here too, as before they moved
    AUTO_CHUNK_PART,
    AUTO_CHUNK_SHARE,
    MERGE_IN_MEMORY_BYTES,
    RELINK_MIN_IOU,
    UNIFORM,
    WHOLE_MOVIE,
    PackedLabels,
    _merge,
    auto_chunk_frames,
    keywords_of_frames,
    measure_whole_movie,
    merge_chunks,
    merged_array,
    merged_record,
    plan_chunks,
    run_in_chunks,
    segment_in_order,
    segment_one_chunk,
    settings_after,
    uniform_chunk,
)
from labelfree.frame_chunks import shared_settings as _shared_settings

__all__ = [
    "plan_chunks", "segment_chunk", "segment_chunk_packed", "shared_settings", "shares_settings",
    "settings_for_later_chunks", "segmented_here", "segment_in_order",
    "whole_movie_keywords", "first_then_rest", "merge_chunks", "PackedLabels",
    "merge_and_write",
    "open_input", "input_sizes", "segment_chunk_of_input", "merge_and_write_input", "local_reads",
    "measure_whole_movie", "merged_record", "run_in_chunks", "auto_chunk_frames", "merged_array",
]

log = logging.getLogger(__name__)

#: the entry of the shared settings that holds the chunks the task that chose them segmented (by start frame), after
#: a first chunk of blank frames (:func:`settings_for_later_chunks`)
SEGMENTED = "segmented_here"

def shared_settings(part: tuple[int, Any, dict], /, *, job: Any) -> dict[str, Any]:
    """The automatic settings that the first chunk of ``job`` (its result ``part``) chose and every later chunk
    uses (:func:`labelfree.frame_chunks.shared_settings`)."""
    return _shared_settings(part, pipeline=job.pipeline)


def whole_movie_keywords(movie: xr.DataArray, /, *, job: Any) -> dict[str, Any]:
    """The segment keywords that every chunk of ``job`` takes, measured on the whole ``movie`` (lazy or
    memory-mapped: read as the measuring function reads it); empty for a pipeline without any (its spec's
    ``chunk_measure``).

    Motion: ``grey_range`` and ``frame_gains``, :func:`labelfree.motion.segment.movie_grey_mapping` of the
    channel it segments.
    """
    return measure_whole_movie(job.pipeline, movie, channel=job.item.channels, config=job.config,
                               name=job.item.stem)


def shares_settings(job: Any, /) -> bool:
    """Whether the later chunks of ``job`` wait for the first one's automatic settings."""
    from labelfree.pipelines import get_pipeline

    return bool(get_pipeline(job.pipeline).chunk_settings)


def settings_for_later_chunks(first: tuple[int, Any, dict], spans: Sequence[tuple[int, int]],
                              segment: Any, /, *, job: Any) -> dict[str, Any]:
    """The automatic settings that the chunks after ``first`` (the first chunk's result) take, as a task computes
    them while those chunks wait: those ``first`` chose; when it is a chunk of blank frames, the next chunks of
    ``spans`` (those after it) are segmented here, one after the other (``segment(start, stop, settings)``), until
    one is not, and that one chooses, as a sequential run does (:func:`labelfree.frame_chunks.segment_in_order`).
    The chunks segmented here travel with the settings (:data:`SEGMENTED`), and their own tasks hand them on
    as they are (:func:`segmented_here`)."""
    settings, chosen = settings_after(first, pipeline=job.pipeline)
    done: dict[int, tuple[int, Any, dict]] = {}
    for start, stop in spans:
        if chosen:
            break
        done[start] = segment(start, stop, settings)
        settings, chosen = settings_after(done[start], pipeline=job.pipeline)
    return {**settings, SEGMENTED: done} if done else settings


def segmented_here(settings: dict[str, Any] | None, start: int, /) -> tuple[int, Any, dict] | None:
    """The result of the chunk that starts at frame ``start`` of the movie when the task that chose ``settings``
    segmented it already (:func:`settings_for_later_chunks`), else None."""
    return ((settings or {}).get(SEGMENTED) or {}).get(start)


def first_then_rest(spans: Sequence[tuple[int, int]], run: Any, settings_of: Any, /) -> tuple[list[Any], Any]:
    """Run the first chunk, then every later one with the automatic settings it chose.

    ``run(start, stop, settings)`` segments (or submits) one chunk (``settings`` None for the first);
    ``settings_of(first)`` gives what the later chunks take (a dict, a future of one, or None).
    Returns the chunks' results (or futures) in order and the settings.
    """
    first = run(*spans[0], None)
    settings = settings_of(first)
    return [first, *(run(a, b, settings) for a, b in spans[1:])], settings


def _with_settings(job: Any, settings: dict[str, Any] | None) -> Any:
    config = {k: v for k, v in (settings or {}).items() if k not in (WHOLE_MOVIE, SEGMENTED)}  # settings only
    return dataclasses.replace(job, config={**job.config, **config}) if config else job


def segment_chunk_packed(image: xr.DataArray, start: int, stop: int, /, *, job: Any,
                         settings: dict[str, Any] | None = None, movie: xr.DataArray | None = None,
                         offset: int = 0) -> tuple[int, PackedLabels, dict]:
    """:func:`segment_chunk` with its labels packed for the merge (:class:`PackedLabels`), as every chunk task
    hands them on (a run without Dask, :func:`segment_chunk_of_input`, a Dask task of a drift-corrected movie)."""
    done = segmented_here(settings, offset + start)
    if done is not None:
        return start, done[1], done[2]
    start, labels, record = segment_chunk(image, start, stop, job=job, settings=settings, movie=movie, offset=offset)
    return start, PackedLabels.pack(labels), record


def segment_chunk(image: xr.DataArray, start: int, stop: int, /, *, job: Any, settings: dict[str, Any] | None = None,
                  movie: xr.DataArray | None = None, offset: int = 0) -> tuple[int, np.ndarray, dict]:
    """Segment frames ``[start, stop)`` of ``image``; returns (start, labels T..., provenance).

    ``settings``: the first chunk's automatic settings and what it measured on the whole movie
    (:func:`shared_settings`), used as given; without them (the first chunk) that is measured on ``movie``
    (default ``image``: the whole movie, lazy or memory-mapped) and kept in the provenance returned
    (``whole_movie``) for the later chunks. ``offset``: the frame of the whole movie that is ``image``'s first.
    """
    from labelfree.batch.task import segment_image

    if settings is None:
        keywords = whole_movie_keywords(image if movie is None else movie, job=job)
    else:
        keywords = dict(settings.get(WHOLE_MOVIE) or {})
    chunk = image.isel(T=slice(start, stop)).load()

    def messages() -> Any:
        from labelfree.batch.messages import input_label, input_messages

        return input_messages(input_label(job.item))

    data, record, _ = segment_one_chunk(
        lambda: segment_image(chunk, job=_with_settings(job, settings),
                              keywords=keywords_of_frames(keywords, offset + start, offset + stop,
                                                          pipeline=job.pipeline)),
        chunk, offset + start, offset + stop, pipeline=job.pipeline, messages=messages)
    if keywords:
        record[WHOLE_MOVIE] = keywords
    return start, data, record


def merge_and_write(image: xr.DataArray, parts: Sequence[tuple[int, np.ndarray, dict]], /, *, job: Any,
                    started: float) -> dict:
    """Merge the chunks of one input, write its outputs and state; return its summary row (with the warnings of
    every chunk, and those of the writing).

    A list ``parts`` is handed over: it is emptied as its chunks are copied into the merged movie, so the
    chunks' labels are let go as it fills (a caller holding no other reference to them then needs the
    memory of one movie's labels, not two).
    """
    from labelfree.batch.task import input_capture

    with input_capture(job):
        return _merge_and_write(image, parts, job=job, started=started)


def _merge_and_write(image: xr.DataArray, parts: Sequence[tuple[int, np.ndarray, dict]], /, *, job: Any,
                     started: float) -> dict:
    import time

    from labelfree.batch.task import finish_input, write_result
    from labelfree.image import labels_like
    from labelfree.pipelines import get_pipeline

    overlap = int(job.frame_overlap or 0)
    ordered = parts if isinstance(parts, list) else list(parts)  # a list is emptied by the merge below
    ordered.sort(key=lambda p: p[0])
    chunks = [[int(s), int(s + lab.shape[0])] for s, lab, _ in ordered]
    provenances = [(s, lab.shape[0], prov) for s, lab, prov in ordered]
    if all(prov.get(UNIFORM) for *_, prov in provenances):  # the whole movie is blank, as its run says
        raise ConstantImageError(f"Every frame of {Path(str(job.item.path)).name} holds one value in every pixel; "
                                 "there is nothing to segment. Check that the right file or channel was given.")
    dims = ("T",) + tuple(d for d in image.dims if d in ("Z", "Y", "X"))
    record, handed = merged_record(provenances, overlap=overlap,
                                   per_plane=get_pipeline(job.pipeline).chunk_auto_per_plane)
    # written into one array, each chunk let go once copied (labels_like keeps that array: uint16 unless its IDs
    # pass 65535); a large movie's array is a scratch file of the output folder, mapped into memory
    merged = _merge(ordered, overlap=overlap, folder=job.out_dir)
    labels = labels_like(merged, image, dims=dims, attrs={"labelfree": record})
    del merged
    extra = {"chunks": chunks, "frame_overlap": overlap, **({WHOLE_MOVIE: handed} if handed else {})}
    names = write_result(labels, image, job=job, extra=extra)
    return finish_input(job, names, labels=labels, seconds=time.time() - started)


def open_input(job: Any, /) -> xr.DataArray:
    """The job's input (its series ``job.item.series``, when it names one) as a lazy DataArray (nothing
    read until computed).

    TIFF pages are read on demand through tifffile's zarr view (needs zarr), OME-Zarr
    chunks through zarr; without zarr a TIFF is memory-mapped when uncompressed, read
    whole otherwise.
    """
    from labelfree.errors import MissingDependencyError
    from labelfree.io import read_image

    item = job.item  # a position of a multi-position file: that series only, by its index
    try:
        image = read_image(item.path, dims=item.dims, channel_names=item.channel_names, lazy=True, series=item.series)
    except MissingDependencyError:
        image = read_image(item.path, dims=item.dims, channel_names=item.channel_names, memmap=True,
                           series=item.series)
        page_out_while_mapped(image.data)  # a mapped movie's pages, once read, are let go (labelfree._mapped)
    return image


#: tasks of this process inside :func:`local_reads`, and the Dask setting the first of them replaced
_LOCAL_READS: dict[str, Any] = {"depth": 0, "restore": None}
_LOCAL_READS_LOCK = threading.Lock()


@contextlib.contextmanager
def local_reads() -> Iterator[None]:
    """Inside a task, compute lazy inputs in this thread (not as new tasks on the cluster).

    Dask's configuration is one per process, shared by the tasks that an in-process cluster or a
    worker with several threads runs at once: the synchronous scheduler is set by the first task
    that enters and put back by the last one that leaves (a task leaving early must not send the
    reads of another one to the cluster, nor leave the setting behind).
    """
    try:
        import dask
    except ImportError:
        yield
        return
    with _LOCAL_READS_LOCK:
        if _LOCAL_READS["depth"] == 0:
            setting = dask.config.set(scheduler="synchronous")
            _LOCAL_READS["restore"] = setting.__exit__
        _LOCAL_READS["depth"] += 1
    try:
        yield
    finally:
        with _LOCAL_READS_LOCK:
            _LOCAL_READS["depth"] -= 1
            if _LOCAL_READS["depth"] == 0:
                restore, _LOCAL_READS["restore"] = _LOCAL_READS["restore"], None
                restore(None, None, None)


def input_sizes(job: Any, /) -> dict[str, int]:
    """The sizes of the job's input (dims -> length), from its metadata."""
    return {str(d): int(n) for d, n in open_input(job).sizes.items()}


def segment_chunk_of_input(job: Any, start: int, stop: int, /,
                           settings: dict[str, Any] | None = None) -> tuple[int, PackedLabels, dict]:
    """Read frames ``[start, stop)`` of the job's input (only those) and segment them; returns (start, the labels
    packed for the merge (:class:`PackedLabels`), provenance). The warnings of the reading and the segmentation
    are in the chunk's provenance (``warnings``)."""
    from labelfree.batch.task import input_capture

    done = segmented_here(settings, start)
    if done is not None:  # by the task that chose the settings: not read again
        return done
    with local_reads(), input_capture(job):
        movie = open_input(job)  # lazy: the first chunk measures the whole movie's frames as it reads them
        image = movie.isel(T=slice(start, stop)).load()
        _, packed, record = segment_chunk_packed(image, 0, stop - start, job=job, settings=settings, movie=movie,
                                                 offset=start)
    return start, packed, record


def merge_and_write_input(job: Any, parts: Sequence[tuple[int, np.ndarray, dict]], /, *, started: float) -> dict:
    """Merge the chunks of one input and write its outputs, reading the input itself."""
    from labelfree.batch.task import abort_if_cancelled, input_capture

    with local_reads(), input_capture(job):
        image = open_input(job)  # lazy: the table reads the intensities one plane at a time
        abort_if_cancelled(job)  # before merging; writing checks again once its staging folder exists
        return merge_and_write(image, parts, job=job, started=started)
