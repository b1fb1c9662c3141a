"""Long time-lapses split into frame chunks, one Dask task each, merged afterwards.

A pipeline that treats every frame on its own (``overlap 0``) gives the same labels
chunk by chunk as on the whole movie, so the chunks are simply concatenated. A
pipeline that works on frame pairs and carries label IDs across frames (``overlap 1``)
gets one extra leading frame per chunk: chunk *k* starts one frame before its own
frames, and its IDs are re-linked to the previous chunk's by optimal IoU matching on
that shared frame. Pipelines that learn from the whole movie at once are never
chunked. Each pipeline's spec declares its overlap
(:attr:`labelfree.spec.PipelineSpec.frame_overlap`).

The first chunk chooses the automatic settings every later chunk uses (:func:`shared_settings`). What a
pipeline measures on the whole movie at once is measured once, on the whole movie, by the first chunk's task
and handed to every chunk as keywords of its segment function (:func:`whole_movie_keywords`): Motion's grey
range (``grey_range``: the grey values mapped to 0 and 255) and, for a movie with frames of another exposure or
bleaching, each frame's gain (``frame_gains``, a chunk gets those of its frames), so that every chunk maps its
frames to 8 bits as the whole run does; the outputs' provenance records them once (``batch.whole_movie``).

On Dask, no task receives the movie: :func:`count_frames` reads the file's metadata,
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
from typing import Any, Iterator, Sequence

import numpy as np
import xarray as xr

from labelfree._mapped import page_out_while_mapped
from labelfree.errors import InputError

__all__ = [
    "plan_chunks", "segment_chunk", "segment_chunk_packed", "shared_settings", "shares_settings",
    "whole_movie_keywords", "first_then_rest", "merge_chunks", "PackedLabels",
    "merge_and_write",
    "open_input", "count_frames", "segment_chunk_of_input", "merge_and_write_input", "local_reads",
    "measure_whole_movie", "merged_record", "run_in_chunks",
]

log = logging.getLogger(__name__)

#: minimal IoU for an object of a chunk's shared frame to keep the previous chunk's ID
RELINK_MIN_IOU = 0.5
#: the entry of the shared settings (and of a chunk's provenance) that holds those keywords
_KEYWORDS = "whole_movie"
#: a merged label movie of more bytes than this is made in a scratch file of the output folder (memory-mapped),
#: so that a movie chunked because it does not fit in memory is not held there whole once its chunks are merged
MERGE_IN_MEMORY_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class PackedLabels:
    """A chunk's labels (T, ...) as its task hands them to the merge: each frame compressed on its own (zlib).

    Label images compress many times over (large runs of one value), so the merge of a chunked input holds the
    chunks' bytes, not their arrays, beside the merged movie (Dask keeps every chunk's result until the merge
    has finished; a run without Dask keeps the list of chunks), and a chunk sent to another worker is that much
    smaller. Frames are unpacked one at a time.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    top: int  # the largest label (0 for none)
    frames: tuple[bytes, ...]

    @classmethod
    def pack(cls, labels: np.ndarray, /) -> "PackedLabels":
        import zlib

        labels = np.asarray(labels)
        frames = tuple(zlib.compress(np.ascontiguousarray(f).tobytes(), 1) for f in labels)
        return cls(tuple(labels.shape), labels.dtype, int(labels.max()) if labels.size else 0, frames)

    def frame(self, k: int, /) -> np.ndarray:
        """Frame ``k`` (0-based), a new array."""
        import zlib

        return np.frombuffer(zlib.decompress(self.frames[k]), self.dtype).reshape(self.shape[1:]).copy()

    def max(self) -> int:
        return self.top

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def _frame(labels: Any, k: int, /) -> np.ndarray:
    """Frame ``k`` of a chunk's labels, an array or :class:`PackedLabels`."""
    return labels.frame(k) if isinstance(labels, PackedLabels) else labels[k]


def plan_chunks(n_frames: int, /, *, chunk_frames: int, overlap: int) -> list[tuple[int, int]]:
    """Frame ranges ``[start, stop)`` of the chunks, each including its shared frames.

    Parameters
    ----------
    n_frames : int
        Frames of the movie.
    chunk_frames : int
        Frames each chunk contributes (the last one may contribute fewer).
    overlap : int
        Leading frames a chunk shares with the previous one.

    Examples
    --------
    >>> plan_chunks(10, chunk_frames=4, overlap=1)
    [(0, 4), (3, 8), (7, 10)]
    """
    if chunk_frames < 1 or overlap < 0 or overlap >= chunk_frames:
        raise InputError(f"chunk_frames ({chunk_frames}) must exceed the frame overlap ({overlap}).")
    cores = [(a, min(a + chunk_frames, n_frames)) for a in range(0, n_frames, chunk_frames)]
    return [(max(0, a - overlap) if i else a, b) for i, (a, b) in enumerate(cores)]


#: a movie whose labels would take more than this share of the memory one task may use is split into chunks of
#: frames when no ``chunk_frames`` is given (:func:`auto_chunk_frames`) ...
AUTO_CHUNK_SHARE = 0.5
#: ... whose labels take this share of it: the rest holds the imports (about 300 MiB) and the pipeline's work on
#: a frame (Motion on 1024 x 1024 frames: about 370 MiB beside a chunk of 53 frames, where an eighth of a 900 MB
#: worker's limit left too little and the worker was restarted once)
AUTO_CHUNK_PART = 1 / 16


def auto_chunk_frames(sizes: dict[str, int], memory: int | None, /, *, overlap: int) -> int | None:
    """The ``chunk_frames`` for a movie of ``sizes`` (dims -> length) when none is given: None (one task) unless
    its labels (16 bits a pixel, as a movie of fewer than 65536 objects has) would take more than
    :data:`AUTO_CHUNK_SHARE` of ``memory`` (the bytes one task may use: a Dask worker's memory limit, or the
    memory this process has left); then the frames whose labels take :data:`AUTO_CHUNK_PART` of it, at least
    ``overlap + 1`` and 2.

    Unchunked, a task holds the whole movie's labels in memory (a Dask worker over its limit is restarted, and the
    input fails after a few); chunked, each task holds its chunk's, and the merge writes the movie on a scratch
    file (:func:`merged_array`).

    Examples
    --------
    >>> auto_chunk_frames({"T": 400, "Y": 1024, "X": 1024}, 600 * 2**20, overlap=1)  # 800 MiB of labels
    18
    >>> auto_chunk_frames({"T": 400, "Y": 1024, "X": 1024}, 2 * 2**30, overlap=1) is None  # half is 1 GiB
    True
    """
    import math

    n_frames = int(sizes.get("T", 1))
    if not memory or memory <= 0 or n_frames < 2:
        return None
    frame = 2 * math.prod(int(n) for d, n in sizes.items() if d not in ("T", "C"))  # bytes of one frame's labels
    share = memory * AUTO_CHUNK_SHARE
    if n_frames * frame <= share:
        return None
    chosen = max(int(memory * AUTO_CHUNK_PART // frame), overlap + 1, 2)
    return chosen if chosen < n_frames else None


def shared_settings(part: tuple[int, np.ndarray, dict], /, *, job: Any = None,
                    pipeline: str | None = None) -> dict[str, Any]:
    """The automatic settings that the first chunk (its result ``part``) chose and every later chunk
    uses: the pipeline's (``job``'s, or ``pipeline``) ``chunk_settings`` among its provenance's ``auto`` values."""
    from labelfree.pipelines import get_pipeline

    auto = part[2].get("auto") or {}
    spec = get_pipeline(job.pipeline if pipeline is None else pipeline)
    shared = {k: auto[k] for k in spec.chunk_settings if k in auto}
    if part[2].get(_KEYWORDS):  # measured on the whole movie by the first chunk's task
        shared[_KEYWORDS] = dict(part[2][_KEYWORDS])
    return shared


def whole_movie_keywords(movie: xr.DataArray, /, *, job: Any) -> dict[str, Any]:
    """The segment keywords that every chunk of ``job`` takes, measured on the whole ``movie`` (lazy or
    memory-mapped: read as the measuring function reads it); empty for a pipeline without any (its spec's
    ``chunk_measure``).

    Motion: ``grey_range`` and ``frame_gains``, :func:`labelfree.motion.segment.movie_grey_mapping` of the
    channel it segments.
    """
    return measure_whole_movie(job.pipeline, movie, channel=job.item.channels, config=job.config,
                               name=job.item.stem)


def measure_whole_movie(pipeline: str, movie: xr.DataArray, /, *, channel: Any, config: Any,
                        name: str) -> dict[str, Any]:
    """:func:`whole_movie_keywords` of a run of ``pipeline`` on the channels ``channel`` of ``movie`` with
    ``config``; ``name`` names the input in the log."""
    from labelfree.pipelines import get_pipeline

    spec = get_pipeline(pipeline)
    if not spec.chunk_measure:
        return {}
    from labelfree.run import prepare_image
    from labelfree.spec import load

    keywords = load(spec.chunk_measure)(prepare_image(pipeline, movie, channel=channel), config=config)
    if keywords:
        log.info("%s: measured on the whole movie for every chunk: %s", name,
                 ", ".join(f"{k} {v if k not in spec.chunk_per_frame else f'({len(v)} frames)'}"
                           for k, v in keywords.items()))
    return dict(keywords or {})


def _of_frames(keywords: dict[str, Any], start: int, stop: int, *, job: Any = None,
               pipeline: str | None = None) -> dict[str, Any]:
    """``keywords`` for frames ``[start, stop)`` of the movie: its per-frame ones (the spec's ``chunk_per_frame``)
    sliced (the pipeline ``job``'s, or ``pipeline``)."""
    from labelfree.pipelines import get_pipeline

    per_frame = get_pipeline(job.pipeline if pipeline is None else pipeline).chunk_per_frame
    return {k: (v[start:stop] if k in per_frame else v) for k, v in keywords.items()}


def shares_settings(job: Any, /) -> bool:
    """Whether the later chunks of ``job`` wait for the first one's automatic settings."""
    from labelfree.pipelines import get_pipeline

    return bool(get_pipeline(job.pipeline).chunk_settings)


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
    import dataclasses

    config = {k: v for k, v in (settings or {}).items() if k != _KEYWORDS}  # settings only
    return dataclasses.replace(job, config={**job.config, **config}) if config else job


def segment_chunk_packed(image: xr.DataArray, start: int, stop: int, /, *, job: Any,
                         settings: dict[str, Any] | None = None, movie: xr.DataArray | None = None,
                         offset: int = 0) -> tuple[int, PackedLabels, dict]:
    """:func:`segment_chunk` with its labels packed for the merge (:class:`PackedLabels`), as every chunk task
    hands them on (a run without Dask, :func:`segment_chunk_of_input`, a Dask task of a drift-corrected movie)."""
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
        keywords = dict(settings.get(_KEYWORDS) or {})
    labels = segment_image(image.isel(T=slice(start, stop)), job=_with_settings(job, settings),
                           keywords=_of_frames(keywords, offset + start, offset + stop, job=job))
    if labels.dims[0] != "T":
        raise InputError(f"The {job.pipeline} pipeline returned dims {labels.dims} for a chunk; expected T first.")
    record = dict(labels.attrs.get("labelfree") or {})
    if keywords:
        record[_KEYWORDS] = keywords
    return start, np.asarray(labels.data), record


def merge_chunks(parts: Sequence[tuple[int, np.ndarray]], /, *, overlap: int) -> np.ndarray:
    """Join chunk labels (start frame, labels T...) into one movie.

    With ``overlap == 0`` the chunks are concatenated. Otherwise the IDs of each chunk
    are mapped to the previous chunk's IDs by one-to-one IoU matching on their last
    shared frame (IoU >= 0.5); unmatched objects get new IDs, so IDs stay unique (uint32).
    ``parts`` is left as it is; the chunks are copied into one array made at the start.
    """
    chunks = sorted(parts, key=lambda p: p[0])
    dtype = np.result_type(*(lab.dtype for _, lab in chunks)) if overlap == 0 else np.uint32
    return _merge(chunks, overlap=overlap, dtype=dtype)


def merged_array(shape: tuple[int, ...], dtype: Any, /, *, folder: Any = None) -> np.ndarray:
    """A new array of zeros for a merged label movie: in memory, or, when it is larger than
    :data:`MERGE_IN_MEMORY_BYTES` and ``folder`` is given, memory-mapped onto a scratch file made there.

    The scratch file has no name in the folder (``tempfile.TemporaryFile``: on Linux and macOS it is unlinked at
    once, on Windows deleted when closed), so it goes when the array does, even if the process is killed; its
    space is reserved before the array is returned (``os.posix_fallocate`` where there is one), so a full disk is
    an ``OSError`` here, not a crash while the movie is merged. Where the file cannot be made (no space, a
    read-only folder), the array is made in memory, as for a small movie.
    """
    import math
    import os
    import tempfile

    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if folder is None or nbytes <= MERGE_IN_MEMORY_BYTES:
        return np.zeros(shape, dtype)
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".labelfree-merge-") as scratch:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(scratch.fileno(), 0, nbytes)
            else:
                scratch.truncate(nbytes)
            # the map keeps the file open after the with block closes this handle
            out = np.memmap(scratch, dtype=dtype, mode="r+", shape=shape)
    except OSError as exc:
        log.info("the merged labels (%d MiB) are kept in memory: no scratch file in %s (%s)", nbytes >> 20,
                 folder, exc)
        return np.zeros(shape, dtype)
    page_out_while_mapped(out)
    return out


def _relinked(chunks: Sequence[tuple[Any, ...]], overlap: int) -> tuple[list[np.ndarray | None], int]:
    """The ID table of each chunk (sorted by start; None: the first keeps its IDs) and the largest ID of the
    merged movie, for chunks that overlap by ``overlap`` frames.

    A chunk's objects take the IDs of the objects they match (IoU >= :data:`RELINK_MIN_IOU`) in the merged movie's
    frame it shares with the chunks before it (the frame of the last chunk that wrote it, through that chunk's
    table); the others new IDs, in ascending order of their own. Only that shared frame of the merged movie is
    made here, so the merged movie's type can follow from the IDs it will hold before it is made.
    """
    from labelfree.metrics import match_objects

    tables: list[np.ndarray | None] = [None]
    next_id = (int(chunks[0][1].max()) if chunks[0][1].size else 0) + 1
    for i in range(1, len(chunks)):
        start, lab = chunks[i][0], chunks[i][1]
        shared = start + overlap - 1
        lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, np.uint32)
        merged_frame = _written_frame(chunks, tables, shared, overlap)
        if merged_frame is not None:
            for prev_id, cur_id, _ in match_objects(_frame(lab, overlap - 1), merged_frame, threshold=RELINK_MIN_IOU):
                lut[cur_id] = prev_id
        present = np.zeros(len(lut), bool)  # the IDs of the chunk's own frames, ascending (np.unique's order)
        for k in range(overlap, lab.shape[0]):  # frame by frame: an index array is cast to intp (8 bytes a pixel)
            present[_frame(lab, k)] = True
        for cur_id in np.flatnonzero(present):
            if cur_id and not lut[cur_id]:
                lut[cur_id] = next_id
                next_id += 1
        tables.append(lut)
    return tables, next_id - 1


def _written_frame(chunks: Sequence[tuple[Any, ...]], tables: list[np.ndarray | None], t: int,
                   overlap: int) -> np.ndarray | None:
    """Frame ``t`` of the merged movie as the chunks with a table in ``tables`` write it (the last one that writes
    it: the first chunk writes all its frames, a later one those after its first ``overlap``); None: none does."""
    for j in range(len(tables) - 1, -1, -1):
        start, lab = chunks[j][0], chunks[j][1]
        if start + (overlap if j else 0) <= t < start + lab.shape[0]:
            frame = _frame(lab, t - start)
            return frame if tables[j] is None else tables[j][frame]
    return None


def _merge(chunks: list, /, *, overlap: int, dtype: Any = None, folder: Any = None) -> np.ndarray:
    """Merge ``chunks`` (start frame, labels T... or :class:`PackedLabels`, ...), sorted by start, into one new
    array of ``dtype`` (:func:`merged_array`: a large movie is memory-mapped onto a scratch file in ``folder``).

    ``dtype`` None: the chunks' own without overlap (a concatenation); with overlap uint16 when the merged movie's
    IDs fit (the re-linking is worked out first, :func:`_relinked`), uint32 otherwise. The list is emptied as the
    chunks are copied, so each chunk's labels are let go once merged (when nothing else holds them): the merged
    movie takes the chunks' place instead of adding to them.
    """
    shape = chunks[0][1].shape[1:]
    for start, lab, *_ in chunks:
        if lab.shape[1:] != shape:
            raise InputError(f"The chunk from frame {start} has labels of shape {lab.shape[1:]}, the first chunk "
                             f"{shape}; every chunk of a movie must have the same frame shape.")
    if overlap == 0:
        n_frames, tables = sum(c[1].shape[0] for c in chunks), [None] * len(chunks)
        if dtype is None:
            dtype = np.result_type(*(c[1].dtype for c in chunks))
    else:
        n_frames = max(c[0] + c[1].shape[0] for c in chunks)
        tables, top = _relinked(chunks, overlap)
        if dtype is None:
            dtype = np.uint16 if top <= 65535 else np.uint32
    out = merged_array((n_frames,) + shape, dtype, folder=folder)
    position = 0
    for lut in tables:
        start, lab = chunks[0][0], chunks[0][1]
        del chunks[0]
        n = lab.shape[0]
        if lut is None:  # copied as it is: concatenated, or the first chunk keeps its IDs
            for k in range(n):
                out[position + k] = _frame(lab, k)
            position += n
        else:
            lut = lut.astype(dtype)
            for k in range(overlap, n):
                out[start + k] = lut[_frame(lab, k)]
        del lab
    return out


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
    dims = ("T",) + tuple(d for d in image.dims if d in ("Z", "Y", "X"))
    record, handed = merged_record(provenances, overlap=overlap,
                                   per_plane=get_pipeline(job.pipeline).chunk_auto_per_plane)
    # written into one array, each chunk let go once copied (labels_like keeps that array: uint16 unless its IDs
    # pass 65535); a large movie's array is a scratch file of the output folder, mapped into memory
    merged = _merge(ordered, overlap=overlap, folder=job.out_dir)
    labels = labels_like(merged, image, dims=dims, attrs={"labelfree": record})
    del merged
    extra = {"chunks": chunks, "frame_overlap": overlap, **({_KEYWORDS: handed} if handed else {})}
    names = write_result(labels, image, job=job, extra=extra)
    return finish_input(job, names, labels=labels, seconds=time.time() - started)


def merged_record(provenances: Sequence[tuple[int, int, dict]], /, *, overlap: int,
                  per_plane: Sequence[str] = ()) -> tuple[dict, dict | None]:
    """The provenance of a movie merged from chunks (start frame, frames, the chunk's provenance; sorted by start)
    and what every chunk took from the whole movie (None: nothing).

    The first chunk's record (the automatic settings every chunk used), with the per-frame records (Motion's
    thresholds) of every chunk's own frames, numbered in the whole movie, every chunk's automatic values of its
    own planes for the ``auto`` keys ``per_plane`` (the spec's ``chunk_auto_per_plane``: Threshold's
    thresholds), and the warnings of every chunk.
    """
    record = dict(provenances[0][2])
    handed = record.pop(_KEYWORDS, None)  # one for the run
    for key, value in record.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) and "frame" in v for v in value):
            record[key] = [{**v, "frame": int(v["frame"]) + s} for i, (s, _, prov) in enumerate(provenances)
                           for v in prov.get(key) or [] if i == 0 or int(v["frame"]) >= overlap]
    auto = dict(record.get("auto") or {})
    for key in [k for k in per_plane if k in auto]:
        planes: list[Any] = []
        for i, (_, n_frames, prov) in enumerate(provenances):
            own = (prov.get("auto") or {}).get(key)
            own = own if isinstance(own, list) else [own]
            shared = overlap * len(own) // max(1, n_frames) if i else 0  # the planes of the frames it shares
            planes.extend(own[shared:])
        auto[key] = planes[0] if len(planes) == 1 else planes
    if auto:
        record["auto"] = auto
    messages = sorted({m for *_, prov in provenances for m in prov.get("warnings", [])})
    if messages:
        record["warnings"] = messages
    return record, handed


def run_in_chunks(pipeline: str, image: xr.DataArray, /, *, chunk_frames: int, folder: Any = None,
                  config: Any = None, channel: Any = None, inputs: dict[str, Any] | None = None,
                  progress: Any = False, threads: int | None = None, overwrite: bool = True,
                  name: str = "the movie") -> xr.DataArray:
    """Segment the movie ``image`` (a T axis; lazy or memory-mapped) in chunks of ``chunk_frames`` frames, one
    after the other in this process, as a batch run without Dask does, and merge their labels; for a single run
    (``labelfree motion``) whose movie's labels would not fit in memory.

    Every chunk is segmented by :func:`labelfree.run.run_pipeline` (``config``, ``channel``, ``inputs``,
    ``progress``, ``threads``, ``overwrite`` as there) on its frames and those it shares with the previous chunk
    (the pipeline's ``frame_overlap``); the first chunk chooses the automatic settings every later one uses, and
    what the pipeline measures on the whole movie is measured once (:func:`measure_whole_movie`). Each chunk's
    labels are held packed (:class:`PackedLabels`) until the merge, which re-links the IDs across chunks and
    writes the movie into a new array: a scratch file in ``folder`` (memory-mapped) when it is large
    (:func:`merged_array`). The provenance is the merged one (:func:`merged_record`) with ``chunks``: the frame
    ranges, the overlap and what every chunk took from the whole movie. ``name`` names the input in the log.
    """
    from labelfree.image import labels_like
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_pipeline

    spec = get_pipeline(pipeline)
    if spec.frame_overlap is None:
        raise InputError(f"The {spec.name} pipeline learns from the whole movie at once: it cannot be segmented in "
                         "chunks of frames; leave the chunks out.")
    if "T" not in image.dims:
        raise InputError(f"Chunks of frames need a time-lapse; this image has dims {''.join(image.dims)}.")
    overlap = int(spec.frame_overlap)
    spans = plan_chunks(int(image.sizes["T"]), chunk_frames=chunk_frames, overlap=overlap)
    keywords = measure_whole_movie(pipeline, image, channel=channel, config=config, name=name)
    settings: dict[str, Any] | None = None
    parts: list[tuple[int, PackedLabels, dict]] = []
    for i, (start, stop) in enumerate(spans):
        log.info("%s: chunk %d of %d, frames %d-%d", name, i + 1, len(spans), start, stop - 1)
        chosen = {k: v for k, v in (settings or {}).items() if k != _KEYWORDS}
        labels = run_pipeline(spec, image.isel(T=slice(start, stop)),
                              config=config if not chosen else _config_with(spec, config, chosen),
                              channel=channel, inputs=inputs, progress=progress, threads=threads,
                              overwrite=overwrite, segment_keywords=_of_frames(keywords, start, stop, pipeline=pipeline))
        if labels.dims[0] != "T":
            raise InputError(f"The {pipeline} pipeline returned dims {labels.dims} for a chunk; expected T first.")
        record = dict(labels.attrs.get("labelfree") or {})
        if keywords:
            record[_KEYWORDS] = keywords
        parts.append((start, PackedLabels.pack(np.asarray(labels.data)), record))
        del labels
        if settings is None:
            settings = shared_settings(parts[0], pipeline=pipeline)
    record, handed = merged_record([(s, lab.shape[0], prov) for s, lab, prov in parts], overlap=overlap,
                                   per_plane=spec.chunk_auto_per_plane)
    record["chunks"] = {"frames": [[int(s), int(s + lab.shape[0])] for s, lab, _ in parts],
                        "frame_overlap": overlap, **({_KEYWORDS: handed} if handed else {})}
    dims = ("T",) + tuple(d for d in image.dims if d in ("Z", "Y", "X"))
    merged = _merge(parts, overlap=overlap, folder=folder)
    return labels_like(merged, image, dims=dims, attrs={"labelfree": record})


def _config_with(spec: Any, config: Any, chosen: dict[str, Any], /) -> Any:
    """``config`` (an object, dict, file or None; a provenance record's config keeps its record) with the
    settings ``chosen`` by the first chunk."""
    return spec.config_class.coerce(config, applies_record=True).replace(**chosen)


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


def count_frames(job: Any, /) -> int:
    """Frames of the job's input, from its metadata (1 without a T axis)."""
    return int(open_input(job).sizes.get("T", 1))


def segment_chunk_of_input(job: Any, start: int, stop: int, /,
                           settings: dict[str, Any] | None = None) -> tuple[int, PackedLabels, dict]:
    """Read frames ``[start, stop)`` of the job's input (only those) and segment them; returns (start, the labels
    packed for the merge (:class:`PackedLabels`), provenance). The warnings of the reading and the segmentation
    are in the chunk's provenance (``warnings``)."""
    from labelfree.batch.task import input_capture

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
