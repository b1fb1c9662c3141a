"""A time-lapse segmented in chunks of frames and their labels joined into one movie: the pieces that a batch run
(:mod:`labelfree.batch.chunks`: a chunk a task) and a single run of a movie too large for memory
(:func:`run_in_chunks`, ``labelfree motion MOVIE``) share.

A pipeline that treats every frame on its own (``overlap 0``) gives the same labels chunk by chunk as on the whole
movie, so the chunks are simply concatenated. A pipeline that works on frame pairs and carries label IDs across
frames (``overlap 1``) gets one extra leading frame per chunk: chunk *k* starts one frame before its own frames, and
its IDs are re-linked to the previous chunk's by optimal IoU matching on that shared frame. Pipelines that learn
from the whole movie at once are never chunked. Each pipeline's spec declares its overlap
(:attr:`labelfree.spec.PipelineSpec.frame_overlap`).

The first chunk chooses the automatic settings every later chunk uses (:func:`shared_settings`; a chunk of blank frames
chooses none, the next one does: :func:`segment_in_order`). What a pipeline
measures on the whole movie at once is measured once, on the whole movie (:func:`measure_whole_movie`), and handed
to every chunk as keywords of its segment function: Motion's grey range (``grey_range``: the grey values mapped to
0 and 255) and, for a movie with frames of another exposure or bleaching, each frame's gain (``frame_gains``, a
chunk gets those of its frames, :func:`keywords_of_frames`), so that every chunk maps its frames to 8 bits as the
whole run does. A chunk's labels wait for the merge packed (:class:`PackedLabels`); the merge (:func:`merge_chunks`)
writes the movie into one new array, a scratch file for a large one (:func:`merged_array`), and the merged
provenance is :func:`merged_record`'s. Without ``chunk_frames``, :func:`auto_chunk_frames` chooses chunks for a
movie whose labels would not fit the memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any, Callable, ContextManager, Sequence

import numpy as np
import xarray as xr

from labelfree._label_memory import AUTO_CHUNK_PART, AUTO_CHUNK_SHARE, auto_chunk_frames, label_bytes, memory_text
from labelfree._mapped import page_out_while_mapped
from labelfree.errors import ConstantImageError, InputError

__all__ = [
    "RELINK_MIN_IOU", "WHOLE_MOVIE", "UNIFORM", "MERGE_IN_MEMORY_BYTES", "uniform_chunk", "AUTO_CHUNK_SHARE",
    "AUTO_CHUNK_PART",
    "PackedLabels", "plan_chunks", "auto_chunk_frames", "shared_settings", "measure_whole_movie",
    "keywords_of_frames", "chunks_chosen_text", "read_whole", "merge_chunks", "merged_array", "merged_record",
    "run_in_chunks", "segment_in_order", "settings_after", "segment_one_chunk", "require_merge_room",
]

log = logging.getLogger(__name__)

#: minimal IoU for an object of a chunk's shared frame to keep the previous chunk's ID
RELINK_MIN_IOU = 0.5
#: the entry of the shared settings (and of a chunk's provenance) that holds what was measured on the whole movie
WHOLE_MOVIE = "whole_movie"
#: the provenance entry of a chunk whose every pixel holds one value (frames a microscope left blank): its labels
#: are empty, where the pipeline refuses such an image (there is nothing to segment in it alone)
UNIFORM = "uniform_chunk"
#: a merged label movie of more bytes than this is made in a scratch file (of the output folder; memory-mapped),
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


def shared_settings(part: tuple[int, Any, dict], /, *, pipeline: str) -> dict[str, Any]:
    """The automatic settings that the first chunk (its result ``part``: start, labels, provenance) chose and every
    later chunk uses: the pipeline's ``chunk_settings`` among its provenance's ``auto`` values, and what it measured
    on the whole movie (:data:`WHOLE_MOVIE`)."""
    from labelfree.pipelines import get_pipeline

    auto = part[2].get("auto") or {}
    spec = get_pipeline(pipeline)
    shared = {k: auto[k] for k in spec.chunk_settings if k in auto}
    if part[2].get(WHOLE_MOVIE):  # measured on the whole movie by the first chunk's task
        shared[WHOLE_MOVIE] = dict(part[2][WHOLE_MOVIE])
    return shared


def measure_whole_movie(pipeline: str, movie: xr.DataArray, /, *, channel: Any, config: Any,
                        name: str) -> dict[str, Any]:
    """The segment keywords that every chunk of a run of ``pipeline`` on the channels ``channel`` of ``movie``
    with ``config`` takes, measured on the whole ``movie`` (lazy or memory-mapped: read as the measuring function
    reads it); empty for a pipeline without any (its spec's ``chunk_measure``). ``name`` names the input in the log.

    Motion: ``grey_range`` and ``frame_gains``, :func:`labelfree.motion.segment.movie_grey_mapping` of the
    channel it segments.
    """
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


def keywords_of_frames(keywords: dict[str, Any], start: int, stop: int, /, *, pipeline: str) -> dict[str, Any]:
    """``keywords`` for frames ``[start, stop)`` of the movie: its per-frame ones (the spec's ``chunk_per_frame``)
    sliced."""
    from labelfree.pipelines import get_pipeline

    per_frame = get_pipeline(pipeline).chunk_per_frame
    return {k: (v[start:stop] if k in per_frame else v) for k, v in keywords.items()}


def chunks_chosen_text(name: str, sizes: dict[str, int], memory: int, frames: int, /, *, room: str,
                       choose: str, work: int = 0) -> str:
    """The log line of a chunk length that :func:`auto_chunk_frames` chose for the movie ``name`` of ``sizes`` and
    ``memory`` bytes (``room``: what that memory is, e.g. "one task may use"; ``choose``: how to choose another;
    ``work``: the pipeline's work on one frame that it was given)."""
    labels = label_bytes(sizes)
    said = f"{name}: its {sizes.get('T', 1)} frames of labels ({labels / 2**20:.0f} MiB) "
    if labels > memory * AUTO_CHUNK_SHARE:
        said += f"would take more than {round(100 * AUTO_CHUNK_SHARE)} % of the {memory / 2**20:.0f} MiB {room}"
    else:
        said += (f"and its work on one frame ({work / 2**20:.0f} MiB) would take more than the "
                 f"{memory / 2**20:.0f} MiB {room}")
    return said + f": segmented in chunks of {frames} frames ({choose})"


def read_whole(image: xr.DataArray, path: Any, /) -> xr.DataArray:
    """``image`` of the file ``path`` as a run of the whole movie reads it: a TIFF read lazily because it could not
    be memory-mapped (compressed: ``read_image(..., lazy_unmapped=True)``, for chunks that read their own frames)
    is read once, into memory, as before; an OME-Zarr image (a folder) stays lazy, as the pipelines read it."""
    import os

    if os.path.isfile(path) and not isinstance(image.data, np.ndarray):
        return image.load()
    return image


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


def merged_record(provenances: Sequence[tuple[int, int, dict]], /, *, overlap: int,
                  per_plane: Sequence[str] = ()) -> tuple[dict, dict | None]:
    """The provenance of a movie merged from chunks (start frame, frames, the chunk's provenance; sorted by start)
    and what every chunk took from the whole movie (None: nothing).

    The first chunk's record (the automatic settings every chunk used), with the per-frame records (Motion's
    thresholds) of every chunk's own frames, numbered in the whole movie, every chunk's automatic values of its
    own planes for the ``auto`` keys ``per_plane`` (the spec's ``chunk_auto_per_plane``: Threshold's
    thresholds), and the warnings of every chunk.
    """
    base = next((prov for *_, prov in provenances if not prov.get(UNIFORM)), provenances[0][2])
    record = {k: v for k, v in base.items() if k != UNIFORM}  # the first segmented chunk's, not a blank one's
    handed = record.pop(WHOLE_MOVIE, None)  # one for the run
    for key, value in record.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) and "frame" in v for v in value):
            record[key] = [{**v, "frame": int(v["frame"]) + s} for i, (s, _, prov) in enumerate(provenances)
                           for v in prov.get(key) or [] if i == 0 or int(v["frame"]) >= overlap]
    auto = dict(record.get("auto") or {})
    for key in [k for k in per_plane if k in auto]:
        planes: list[Any] = []
        for i, (_, n_frames, prov) in enumerate(provenances):
            own = (prov.get("auto") or {}).get(key)
            own = own if isinstance(own, list) else [None] * n_frames if prov.get(UNIFORM) else [own]
            shared = overlap * len(own) // max(1, n_frames) if i else 0  # the planes of the frames it shares
            planes.extend(own[shared:])
        auto[key] = planes[0] if len(planes) == 1 else planes
    if auto:
        record["auto"] = auto
    messages = sorted({m for *_, prov in provenances for m in prov.get("warnings", [])})
    if messages:
        record["warnings"] = messages
    return record, handed


def uniform_chunk(image: xr.DataArray, start: int, stop: int, error: Exception, /) -> tuple[np.ndarray, dict]:
    """The empty labels and the provenance of chunk ``[start, stop)`` of ``image`` that the pipeline refused because
    every pixel of it holds one value (``error``, a :class:`labelfree.errors.ConstantImageError`): blank frames in a
    movie that has cells elsewhere, which a run of the whole movie leaves empty. Said as a warning, and recorded
    (:data:`UNIFORM`)."""
    import warnings

    from labelfree._warn_place import user_stacklevel

    message = (f"Frames {start}-{stop - 1} (0-based) hold one value in every pixel: no objects there (the movie was "
               f"segmented in chunks of frames, and that chunk alone has nothing to segment: {type(error).__name__})")
    warnings.warn(message, UserWarning, stacklevel=user_stacklevel())
    shape = tuple(int(image.sizes[d]) for d in ("Z", "Y", "X") if d in image.dims)
    return np.zeros((stop - start, *shape), np.uint16), {UNIFORM: True, "warnings": [f"UserWarning: {message}"]}


def segment_one_chunk(labels_of: Callable[[], xr.DataArray], image: xr.DataArray, start: int, stop: int, /, *,
                      pipeline: str, messages: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                      ) -> tuple[np.ndarray, dict, Exception | None]:
    """The labels (T, ...) and the provenance of chunk ``[start, stop)`` of ``image`` (frames of the whole movie),
    which ``labels_of()`` segments, and the error of a chunk of blank frames (None otherwise): such a chunk, which
    the pipeline refuses (:class:`labelfree.errors.ConstantImageError`), gets the empty labels and the warning of
    :func:`uniform_chunk`, said inside ``messages()``."""
    try:
        labels = labels_of()
    except ConstantImageError as exc:  # blank frames: empty labels (every chunk blank: the caller refuses it)
        with messages():
            data, record = uniform_chunk(image, start, stop, exc)
        return data, record, exc
    if labels.dims[0] != "T":
        raise InputError(f"The {pipeline} pipeline returned dims {labels.dims} for a chunk; expected T first.")
    return np.asarray(labels.data), dict(labels.attrs.get("labelfree") or {}), None


def settings_after(part: tuple[int, Any, dict], /, *, pipeline: str) -> tuple[dict[str, Any], bool]:
    """The settings that the chunks after ``part`` (start, labels, provenance: the first chunk segmented so far)
    take (:func:`shared_settings`), and whether they are chosen: not when ``part`` is a chunk of blank frames
    (:data:`UNIFORM`), which chooses nothing (it hands on only what it measured on the whole movie, and the next
    chunk chooses)."""
    return shared_settings(part, pipeline=pipeline), not part[2].get(UNIFORM)


def segment_in_order(spans: Sequence[tuple[int, int]], segment: Callable[[int, int, Any], tuple[int, Any, dict]], /,
                     *, pipeline: str) -> list[tuple[int, Any, dict]]:
    """Segment the chunks ``spans`` one after the other: ``segment(start, stop, settings)`` -> (start, labels,
    provenance), ``settings`` None for the first chunk. The first chunk segmented chooses the automatic settings
    every later one takes (:func:`shared_settings`); chunks of blank frames before it choose none (the settings
    they hand on hold only what was measured on the whole movie), as a run of the whole movie takes its settings
    from the frames that have cells. Returns the chunks' results in order."""
    parts: list[tuple[int, Any, dict]] = []
    settings: dict[str, Any] | None = None
    chosen = False
    for start, stop in spans:
        parts.append(segment(start, stop, settings))
        if not chosen:
            settings, chosen = settings_after(parts[-1], pipeline=pipeline)
    return parts


def run_in_chunks(pipeline: str, image: Any, /, *, chunk_frames: int, folder: Any = None,
                  config: Any = None, channel: Any = None, inputs: dict[str, Any] | None = None,
                  progress: Any = False, threads: int | None = None, overwrite: bool = True,
                  name: str = "the movie") -> xr.DataArray:
    """Segment the movie ``image`` (a DataArray with a T axis, lazy or memory-mapped, or a (T, Y, X) array) in chunks
    of ``chunk_frames`` frames, one after the other in this process, as a batch run without Dask does, and merge
    their labels; for a single run (``labelfree motion``) whose movie's labels would not fit in memory.

    Every chunk is segmented by :func:`labelfree.run.run_pipeline` (``config``, ``channel``, ``inputs``,
    ``progress``, ``threads``, ``overwrite`` as there) on its frames and those it shares with the previous chunk
    (the pipeline's ``frame_overlap``); the first chunk chooses the automatic settings every later one uses, and
    what the pipeline measures on the whole movie is measured once (:func:`measure_whole_movie`). Each chunk's
    labels are held packed (:class:`PackedLabels`) until the merge, which re-links the IDs across chunks and
    writes the movie into a new array: a scratch file in ``folder`` (memory-mapped) when it is large
    (:func:`merged_array`). The provenance is the merged one (:func:`merged_record`) with ``chunks``: the frame
    ranges, the overlap and what every chunk took from the whole movie. ``name`` names the input in the log. A
    chunk whose every pixel holds one value (blank frames) gets empty labels and a warning
    (:func:`uniform_chunk`), as those frames get in a run of the whole movie; a movie whose every chunk is so is
    refused as the pipeline refuses it.
    """
    from labelfree.image import labels_like
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_pipeline

    spec = get_pipeline(pipeline)
    if spec.frame_overlap is None:
        raise InputError(f"The {spec.name} pipeline learns from the whole movie at once: it cannot be segmented in "
                         "chunks of frames; leave the chunks out.")
    if not isinstance(image, xr.DataArray):
        if getattr(image, "ndim", None) != 3:
            raise InputError(f"Chunks of frames need a time-lapse: a DataArray with a T axis, or a (T, Y, X) array; "
                             f"got {type(image).__name__} of shape {getattr(image, 'shape', '?')}. Give its axes with "
                             "labelfree.to_dataarray(array, dims=...).")
        from labelfree.image import to_dataarray

        image = to_dataarray(image, dims="TYX")
    if "T" not in image.dims:
        raise InputError(f"Chunks of frames need a time-lapse; this image has dims {''.join(image.dims)}.")
    overlap = int(spec.frame_overlap)
    spans = plan_chunks(int(image.sizes["T"]), chunk_frames=chunk_frames, overlap=overlap)
    require_merge_room(dict(image.sizes), folder, name=name)
    keywords = measure_whole_movie(pipeline, image, channel=channel, config=config, name=name)
    blank: list[Exception] = []  # the errors of chunks whose every pixel holds one value

    def segment(start: int, stop: int, settings: dict[str, Any] | None) -> tuple[int, PackedLabels, dict]:
        log.info("%s: chunk %d of %d, frames %d-%d", name, spans.index((start, stop)) + 1, len(spans), start,
                 stop - 1)
        chosen = {k: v for k, v in (settings or {}).items() if k != WHOLE_MOVIE}
        data, record, error = segment_one_chunk(
            lambda: run_pipeline(spec, image.isel(T=slice(start, stop)).load(),  # a lazy movie: this chunk's frames
                                 config=config if not chosen else _config_with(spec, config, chosen),
                                 channel=channel, inputs=inputs, progress=progress, threads=threads,
                                 overwrite=overwrite, tile=None,
                                 segment_keywords=keywords_of_frames(keywords, start, stop, pipeline=pipeline)),
            image, start, stop, pipeline=pipeline)
        if error is not None:
            blank.append(error)
        if keywords:
            record[WHOLE_MOVIE] = keywords
        return start, PackedLabels.pack(data), record

    parts = segment_in_order(spans, segment, pipeline=pipeline)
    if len(blank) == len(spans):  # the whole movie is blank: said as a run of the whole movie says it
        raise blank[0]
    record, handed = merged_record([(s, lab.shape[0], prov) for s, lab, prov in parts], overlap=overlap,
                                   per_plane=spec.chunk_auto_per_plane)
    record["chunks"] = {"frames": [[int(s), int(s + lab.shape[0])] for s, lab, _ in parts],
                        "frame_overlap": overlap, **({WHOLE_MOVIE: handed} if handed else {})}
    dims = ("T",) + tuple(d for d in image.dims if d in ("Z", "Y", "X"))
    merged = _merge(parts, overlap=overlap, folder=folder)
    return labels_like(merged, image, dims=dims, attrs={"labelfree": record})


def require_merge_room(sizes: dict[str, int], folder: Any, /, *, name: str = "the movie") -> None:
    """Refuse a chunked run of a movie of ``sizes`` before its first chunk when its joined labels (2 bytes a pixel at
    least) fit neither in ``folder`` (the scratch file :func:`merged_array` makes there: None, no folder) nor in the
    memory this process has left: found only at the merge, after every chunk's work, the run would end killed by
    the system. A movie whose labels take :data:`MERGE_IN_MEMORY_BYTES` or less is joined in memory: not checked.

    Raises
    ------
    InputError
    """
    import shutil

    from labelfree._threads import available_memory

    need = label_bytes(sizes)
    if need <= MERGE_IN_MEMORY_BYTES:
        return
    free = None
    if folder is not None:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:  # a folder that cannot be read: merged_array says why when it tries
            return
        if free >= need:
            return
    left = available_memory()
    if left is None or need <= left:
        return
    shape = " x ".join(f"{n} {d}" for d, n in sizes.items())
    where = (f"the folder {folder} has {memory_text(free)} free" if folder is not None
             else "no folder was given for them (folder=)")
    raise InputError(f"The labels of {name} ({shape}) take {memory_text(need)} once its chunks are joined, but "
                     f"only {memory_text(left)} of memory is left and {where}. Give a folder with room for them "
                     "(run_in_chunks(..., folder=); the command line joins them in its output folder, -o), or free "
                     "room there.")


def _config_with(spec: Any, config: Any, chosen: dict[str, Any], /) -> Any:
    """``config`` (an object, dict, file or None; a provenance record's config keeps its record) with the
    settings ``chosen`` by the first chunk."""
    return spec.config_class.coerce(config, applies_record=True).replace(**chosen)
