"""The memory a run's labels take: the chunks of frames a movie whose labels would not fit in memory is cut into
when none is given (:func:`auto_chunk_frames`: the command line, batch runs, :mod:`labelfree.frame_chunks`), and
the refusal of an image whose labels, with the pipeline's work on one plane, cannot fit at all
(:func:`require_label_memory`: ``run_pipeline`` and every pipeline's ``segment``)."""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Mapping

from labelfree.errors import MemoryLeftError

__all__ = ["AUTO_CHUNK_SHARE", "AUTO_CHUNK_PART", "auto_chunk_frames", "auto_tile", "tiles_chosen_text", "tile_bytes",
           "require_label_memory", "memory_text", "label_bytes", "run_bytes", "load_libraries",
           "memory_left", "OFFERED_TILES"]

#: a movie whose labels would take more than this share of the memory one task may use is split into chunks of
#: frames when no ``chunk_frames`` is given (:func:`auto_chunk_frames`) ...
AUTO_CHUNK_SHARE = 0.5
#: ... whose labels take this share of it: the rest holds the imports (about 300 MiB) and the pipeline's work on
#: a frame (Motion on 1024 x 1024 frames: about 370 MiB beside a chunk of 53 frames, where an eighth of a 900 MB
#: worker's limit left too little and the worker was restarted once)
AUTO_CHUNK_PART = 1 / 16


def label_bytes(sizes: Mapping[str, int], /) -> int:
    """The bytes the labels of an image of ``sizes`` (dims -> length) take: 16 bits a pixel, one plane per frame and
    slice (C has none), as a run of fewer than 65536 objects a plane makes them.

    Examples
    --------
    >>> label_bytes({"T": 10, "C": 3, "Y": 100, "X": 200})
    400000
    """
    return 2 * math.prod(int(n) for d, n in sizes.items() if d != "C")


def run_bytes(sizes: Mapping[str, int], spec: Any, /, *, tiled: bool = False) -> tuple[int, int]:
    """The bytes a run of the pipeline ``spec`` holds at least on an image of ``sizes``: its labels
    (:func:`label_bytes`), and its work on one plane beside them (the spec's measured bytes a pixel of one plane,
    or of one volume where the pipeline segments z-stacks, and the part that does not grow with it:
    :meth:`labelfree.spec.PipelineSpec.work_bytes`; for a tiled run, whose tiles are small, that part alone; 0 for a
    pipeline whose work was not measured)."""
    return label_bytes(sizes), int(spec.plane_bytes_fixed) if tiled else spec.work_bytes(_plane_pixels(sizes, spec))


def _plane_pixels(sizes: Mapping[str, int], spec: Any, /) -> int:
    """The pixels of one plane of an image of ``sizes`` (one volume's where the pipeline ``spec`` segments z-stacks)."""
    return math.prod(int(n) for d, n in sizes.items() if d not in ("T", "C") and (d != "Z" or spec.takes_z))


def auto_chunk_frames(sizes: dict[str, int], memory: int | None, /, *, overlap: int, work: int = 0) -> int | None:
    """The ``chunk_frames`` for a movie of ``sizes`` (dims -> length) when none is given: None (one task) unless
    its labels (16 bits a pixel, as a movie of fewer than 65536 objects has) would take more than
    :data:`AUTO_CHUNK_SHARE` of ``memory`` (the bytes one task may use: a Dask worker's memory limit, or the
    memory this process has left), or they and ``work`` (the pipeline's work on one frame beside them:
    :func:`run_bytes`) more than all of it; then the frames whose labels take :data:`AUTO_CHUNK_PART` of it, at
    least ``overlap + 1`` and 2, or fewer where such a chunk (with the ``overlap`` frames it shares with the one
    before) would not fit beside ``work``. None, too, where the labels fit that share and no chunk fits beside
    ``work`` (the run is then refused: :func:`require_label_memory`).

    Unchunked, a task holds the whole movie's labels in memory (a Dask worker over its limit is restarted, and the
    input fails after a few); chunked, each task holds its chunk's, and the merge writes the movie on a scratch
    file (:func:`labelfree.frame_chunks.merged_array`).

    Examples
    --------
    >>> auto_chunk_frames({"T": 400, "Y": 1024, "X": 1024}, 600 * 2**20, overlap=1)  # 800 MiB of labels
    18
    >>> auto_chunk_frames({"T": 400, "Y": 1024, "X": 1024}, 2 * 2**30, overlap=1) is None  # half is 1 GiB
    True
    >>> auto_chunk_frames({"T": 400, "Y": 1024, "X": 1024}, 2 * 2**30, overlap=1, work=1300 * 2**20)  # 800 + 1300
    64
    """
    n_frames = int(sizes.get("T", 1))
    if not memory or memory <= 0 or n_frames < 2:
        return None
    frame = label_bytes({d: n for d, n in sizes.items() if d != "T"})  # one frame's labels
    labels_fit = n_frames * frame <= memory * AUTO_CHUNK_SHARE
    if labels_fit and n_frames * frame + work <= memory:
        return None
    least = max(overlap + 1, 2)
    chosen = max(int(memory * AUTO_CHUNK_PART // frame), least)
    if work:
        fits = int((memory - work) // frame) - overlap  # a chunk's own frames whose labels fit beside the work
        if fits < least and labels_fit:
            return None
        if least <= fits < chosen:
            chosen = fits
    return chosen if chosen < n_frames else None


def memory_text(n_bytes: float, /) -> str:
    """``n_bytes`` for a message: in GiB from 1 GiB, else in MiB.

    Examples
    --------
    >>> memory_text(640 * 2**20), memory_text(2.5 * 2**20), memory_text(3 * 2**30)
    ('640 MiB', '2.5 MiB', '3.0 GiB')
    """
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.1f} GiB"
    return f"{n_bytes / 2**20:.{1 if n_bytes < 10 * 2**20 else 0}f} MiB"


def require_label_memory(sizes: Mapping[str, int], spec: Any, /, *, tiled: bool = False,
                         work: Callable[[int], int] | None = None, note: str = "") -> None:
    """Refuse an image of ``sizes`` (dims -> length) before any work when its labels (16 bits a pixel, one plane
    per frame and slice; C has none) and the pipeline's work on one plane beside them (its spec's measured bytes a
    pixel of one plane, or of one volume where it segments z-stacks, :func:`run_bytes`; for a tiled run, whose
    tiles are small, the part of it that does not grow with the plane) exceed the memory this process has left
    (:func:`memory_left`: measured with the pipeline's libraries loaded): such a run would be killed by the system
    part way through. ``spec``: the pipeline's :class:`labelfree.spec.PipelineSpec` (its title, name,
    ``frame_overlap``, None for a pipeline that learns from the whole movie and cannot be chunked, ``tiles`` and its
    measured work); ``tiled``: the run was to cut its planes into tiles (it holds the labels of every plane too;
    chunks of frames are segmented without tiles); ``work``: the work on a plane (or tile) of that many pixels where
    the run knows it better than its spec, once it has read what it runs (Fusion's networks, their pass and the
    scale they see the plane at), for the plane and for the tile a refusal offers; ``note``: why, said in a refusal.

    It refuses only what cannot fit: a pipeline whose work was not measured is checked for its labels alone, and
    the measure is the least one seen. The message says what to do: a plane whose work is what does not fit, in
    tiles of a size whose work fits (the pipelines that take tiles); a movie that the pipeline can segment in chunks
    of frames, with the chunk length :func:`auto_chunk_frames` chooses (the command line and batch runs chunk such a
    movie themselves), when such chunks fit; else a part of the image at a time.

    Raises
    ------
    MemoryLeftError
        An :class:`~labelfree.errors.InputError` that holds what was counted and the largest tile that fits
        (also where the run was tiled: a tiled run's refusal of one of its tiles offers it,
        :func:`labelfree.tiling.segment_tile`).
    """
    left = memory_left(spec)
    if left is None:
        return
    sizes = {str(d): int(n) for d, n in sizes.items()}
    labels, plane_work = run_bytes(sizes, spec, tiled=tiled)
    if work is not None and not tiled:  # the run's own count (a tiled run's check counts no plane's work)
        plane_work = max(plane_work, int(work(_plane_pixels(sizes, spec))))
    if labels + plane_work <= left:
        return
    shape = " x ".join(f"{n} {d}" for d, n in sizes.items())
    part = "each tile" if tiled else "one plane"
    needs = f"{memory_text(labels)} for them" + (f" and {memory_text(plane_work)} for its work on {part}"
                                                 * bool(plane_work))
    holds = "holds the labels of the whole image in memory" + (", also in tiles" if tiled else "")
    said = (f"{spec.title} {holds}: the image ({shape}) needs {needs}, but only {memory_text(left)} of memory is "
            f"left{f' ({note})' if note else ''}. ")
    tile = _tile_that_fits(spec, sizes, labels, left, work=work) if plane_work and labels <= left else None
    refused = {"title": spec.title, "labels": labels, "work": plane_work, "left": left, "tile": tile, "note": note}
    if tile and not tiled:
        raise MemoryLeftError(said + f"Segment its planes in tiles: run_pipeline({spec.name!r}, image, tile={tile}) "
                                     "(run_pipeline with its default tile='auto', the command line, "
                                     f"labelfree {spec.name}, a batch run and the Fiji command tile such an image "
                                     f"themselves; --tile {tile} to choose).", **refused)
    frames = (auto_chunk_frames(sizes, left, overlap=int(spec.frame_overlap), work=plane_work)
              if spec.frame_overlap is not None and "T" in sizes else None)
    chunk = (frames + int(spec.frame_overlap)) * (labels // sizes["T"]) + plane_work if frames else 0
    if frames and chunk <= left:  # chunks (with the frames they share with the chunk before) that fit
        untiled = ", without tiles" if tiled else ""
        raise MemoryLeftError(said + f"Segment it in chunks of frames{untiled}: labelfree.frame_chunks.run_in_chunks("
                                     f"{spec.name!r}, image, chunk_frames={frames}, folder=...) writes the labels into "
                                     f"a scratch file of that folder, one chunk after the other (the command line, "
                                     f"labelfree {spec.name}{' without --tile' * tiled}, chunks such a movie itself).",
                              **refused)
    raise MemoryLeftError(said + "Segment a part of it at a time (a crop, or fewer frames or slices: image.isel(...)), "
                                 "or a binned copy, or run where more memory is free.", **refused)


def load_libraries(spec: Any, /) -> None:
    """Import the module of the pipeline ``spec``'s segment function and the libraries its run imports once it
    starts (its ``libraries``: torch takes about 180 MiB, cellpose 200 more), so that the memory left measured next
    is the run's: measured before them, a check or a choice of tiles allowed a run that the pipeline's own check,
    after them, then refused (a Fusion run of the command line was told to use tiles that the command line had not
    chosen). A library that is not installed is left to the run, which says how to install it."""
    from labelfree._deps import require
    from labelfree.errors import MissingDependencyError

    importlib.import_module(spec.segment.partition(":")[0])
    for module in spec.libraries:
        try:
            require(module)
        except MissingDependencyError:
            pass


def memory_left(spec: Any, /) -> int | None:
    """The memory this process has left for a run of the pipeline ``spec``
    (:func:`labelfree._threads.available_memory`; None: not known), with its libraries loaded first
    (:func:`load_libraries`): what every check and every choice of tiles or chunks for a run measures."""
    from labelfree._threads import available_memory

    load_libraries(spec)
    return available_memory()


def auto_tile(sizes: Mapping[str, int], spec: Any, memory: int | None, /) -> int | None:
    """The tile size (px, with the default overlap of 128 px) for a run of the pipeline ``spec`` on an image of
    ``sizes`` (dims -> length) when none is given: None (the planes whole) unless the pipeline takes tiles and its
    labels and its work on one plane (:func:`run_bytes`) exceed ``memory`` (the bytes the run may use; None:
    unknown) while the labels alone fit; then the largest tile whose work fits beside the labels, as
    :func:`require_label_memory` offers it (None where none fits: the run is refused there). ``run_pipeline`` (its
    default ``tile="auto"``), the command line, a batch run and the Fiji commands tile such an image themselves.

    Examples
    --------
    >>> from labelfree.pipelines import get_pipeline
    >>> fusion = get_pipeline("fusion")  # 48 MiB and 70 bytes a pixel of a plane over 2048 px
    >>> auto_tile({"C": 3, "Y": 20000, "X": 20000}, fusion, 8 * 2**30)  # 0.7 GiB of labels, 26 GiB of work
    4096
    >>> auto_tile({"C": 3, "Y": 4000, "X": 4000}, fusion, 8 * 2**30) is None  # 1.2 GiB of work: fits
    True
    """
    if not memory or memory <= 0 or not spec.tiles:
        return None
    sizes = {str(d): int(n) for d, n in sizes.items()}
    labels, work = run_bytes(sizes, spec)
    if not work or labels + work <= memory or labels > memory:
        return None
    return _tile_that_fits(spec, sizes, labels, memory)


def tiles_chosen_text(name: str, sizes: Mapping[str, int], spec: Any, memory: int, tile: int, /, *, room: str,
                      choose: str) -> str:
    """The log line of a tile size that :func:`auto_tile` chose for the image ``name`` of ``sizes`` and ``memory``
    bytes (``room``: what that memory is, e.g. "of memory left"; ``choose``: how to choose another)."""
    labels, work = run_bytes(sizes, spec)
    return (f"{name}: its labels ({memory_text(labels)}) and {spec.title}'s work on one whole plane "
            f"({memory_text(work)}) would take more than the {memory_text(memory)} {room}: each plane segmented in "
            f"tiles of {tile} px, 128 px of overlap ({choose})")


def tile_bytes(spec: Any, tile: int, /, *, work: Callable[[int], int] | None = None) -> int:
    """The bytes the pipeline ``spec``'s work on one tile of ``tile`` px takes, with the default overlap (128 px) on
    every side (:meth:`labelfree.spec.PipelineSpec.work_bytes`; ``work``: the run's own count where larger, as
    :func:`require_label_memory` takes it)."""
    pixels = (int(tile) + 256) ** 2
    return max(spec.work_bytes(pixels), int(work(pixels)) if work is not None else 0)


#: the tile sizes a refusal offers, largest first, each with the default overlap (128 px) on every side
OFFERED_TILES = (4096, 2048, 1024, 512)


def _tile_that_fits(spec: Any, sizes: dict[str, int], labels: int, left: int, /, *,
                    work: Callable[[int], int] | None = None) -> int | None:
    """The largest tile of :data:`OFFERED_TILES` smaller than the plane whose work (:func:`tile_bytes`: the tile with
    its overlap; a tiled run cuts every plane, also of a z-stack, into 2-D tiles) fits beside the labels; None: the
    pipeline takes no tiles, or none fits."""
    if not spec.tiles:
        return None
    for tile in OFFERED_TILES:
        if tile < max(sizes["Y"], sizes["X"]) and labels + tile_bytes(spec, tile, work=work) <= left:
            return tile
    return None
