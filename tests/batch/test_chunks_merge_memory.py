"""The merge of a chunked input writes into one array and lets each chunk go once copied: the merged movie
takes the chunks' place instead of adding to them (a chunked batch run held about two movies of labels at
its merge, 1.91 GB against 1.52 GB unchunked on an 8 x 24 x 1024 x 1024 movie)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
from traced_memory import traced_peak

from labelfree import frame_chunks as F
from labelfree.batch import chunks as C


def _old_merge(parts, overlap):
    """The former merge: concatenation, or a uint32 movie re-linked chunk by chunk."""
    from labelfree.metrics import match_objects

    parts = sorted(parts, key=lambda p: p[0])
    if overlap == 0:
        return np.concatenate([lab for _, lab in parts], axis=0)
    first = parts[0][1]
    out = np.zeros((max(s + lab.shape[0] for s, lab in parts),) + first.shape[1:], np.uint32)
    out[: first.shape[0]] = first
    next_id = int(first.max()) + 1
    for start, lab in parts[1:]:
        lut = np.zeros(int(lab.max()) + 1, np.uint32)
        for prev_id, cur_id, _ in match_objects(lab[overlap - 1], out[start + overlap - 1], threshold=0.5):
            lut[cur_id] = prev_id
        for cur_id in np.unique(lab[overlap:]):
            if cur_id and not lut[cur_id]:
                lut[cur_id] = next_id
                next_id += 1
        out[start + overlap: start + lab.shape[0]] = lut[lab[overlap:]]
    return out


def _movie(n_frames=8, n_z=6, size=96, seed=0):
    """Squares drifting one pixel a frame, each chunk numbering its objects on its own."""
    rng = np.random.default_rng(seed)
    movie = np.zeros((n_frames, n_z, size, size), np.uint16)
    corners = rng.integers(0, size - 20, (12, 2))
    for t in range(n_frames):
        for k, (y, x) in enumerate(corners, start=1):
            movie[t, :, y + t // 2: y + t // 2 + 12, x: x + 12] = k
    return movie


def _parts(movie, overlap, chunk_frames, seed):
    rng = np.random.default_rng(seed)
    parts = []
    for a, b in C.plan_chunks(len(movie), chunk_frames=chunk_frames, overlap=overlap):
        perm = np.concatenate([[0], rng.permutation(np.arange(1, 13)) + rng.integers(0, 3000)]).astype(np.uint16)
        parts.append((a, perm[movie[a:b]], {"warnings": [f"chunk {a}"]}))
    return parts


@pytest.mark.parametrize("overlap", [0, 1])
def test_merge_gives_the_former_labels(overlap):
    movie = _movie()
    for chunk_frames in (2, 3, 8):
        parts = _parts(movie, overlap, chunk_frames, seed=chunk_frames)
        want = _old_merge([(s, lab) for s, lab, _ in parts], overlap)
        got = C.merge_chunks([(s, lab) for s, lab, _ in parts[::-1]], overlap=overlap)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert all(lab is not None for _, lab, _ in parts)  # merge_chunks leaves its argument as it is


@pytest.mark.parametrize("overlap", [0, 1])
def test_packed_chunks_merge_as_their_arrays_do(overlap):
    """Dask tasks hand their chunks to the merge packed (PackedLabels, zlib frame by frame): the merged movie is
    the same, and what the merge holds of the chunks is a small part of their arrays."""
    movie = _movie()
    for chunk_frames in (2, 3, 8):
        parts = _parts(movie, overlap, chunk_frames, seed=chunk_frames)
        want = C.merge_chunks([(s, lab) for s, lab, _ in parts], overlap=overlap)
        packed = [(s, C.PackedLabels.pack(lab)) for s, lab, _ in parts]
        for (_, lab, _), (_, p) in zip(parts, packed):
            assert p.shape == lab.shape and p.dtype == lab.dtype and p.max() == lab.max() and p.size == lab.size
            assert all(np.array_equal(p.frame(k), lab[k]) for k in range(len(lab)))
        got = C.merge_chunks(packed[::-1], overlap=overlap)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert sum(len(b) for _, p in packed for b in p.frames) < movie.nbytes / 20
    empty = C.PackedLabels.pack(np.zeros((0, 4, 4), np.uint16))
    assert empty.max() == 0 and empty.frames == () and empty.size == 0


def _job(overlap):
    """A job's fields the merge reads (no output folder: the merged movie is made in memory)."""
    return SimpleNamespace(frame_overlap=overlap, item=SimpleNamespace(path="movie.tif", series=None), out_dir=None,
                           pipeline="motion" if overlap else "threshold")


@pytest.mark.parametrize("overlap", [0, 1])
def test_merge_and_write_holds_one_movie_of_labels(overlap, monkeypatch):
    """The labels handed to the writing equal the former merge's, and the writing starts holding one movie of
    labels: formerly every chunk plus the merged movie (2 x; with overlap 4 x: the chunks, a uint32 movie and
    its uint16 copy)."""
    import labelfree.batch.task as task
    from labelfree.pipelines import get_pipeline

    movie = _movie(n_frames=16, n_z=8, size=128, seed=1)
    image = xr.DataArray(movie, dims=("T", "Z", "Y", "X"))
    seen = {}

    def write_result(labels, image, *, job, extra=None):
        seen["labels"], seen["extra"] = labels, extra
        seen["held"] = tracemalloc.get_traced_memory()[0]
        return {}

    monkeypatch.setattr(task, "write_result", write_result)
    monkeypatch.setattr(task, "finish_input", lambda job, names, *, labels, seconds: {"status": "ok"})
    want = _old_merge([(s, lab) for s, lab, _ in _parts(movie, overlap, 4, seed=2)], overlap)
    get_pipeline(_job(overlap).pipeline)  # the registry, loaded (imported) by the run before any merge
    tracemalloc.start()
    try:
        parts = _parts(movie, overlap, 4, seed=2)  # the chunks' labels, made (and traced) before the merge
        parts.reverse()  # handed over in any order
        chunk_bytes = sum(lab.nbytes for _, lab, _ in parts)
        tracemalloc.reset_peak()
        assert C.merge_and_write(image, parts, job=_job(overlap), started=0.0) == {"status": "ok"}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    labels = seen["labels"]
    assert labels.dtype == np.uint16 and np.array_equal(labels.values, want)
    assert seen["extra"]["chunks"] == [[a, b] for a, b in C.plan_chunks(16, chunk_frames=4, overlap=overlap)]
    assert labels.attrs["labelfree"]["warnings"] == sorted(f"chunk {a}" for a, _ in seen["extra"]["chunks"])
    # what the writing starts from (its own arrays come on top): one movie of labels, formerly two (four with
    # overlap); the merge adds one movie to the chunks (its pages filled as they go), formerly three with overlap
    assert seen["held"] < 1.25 * movie.nbytes, (seen["held"], movie.nbytes)
    assert peak < chunk_bytes + 1.25 * movie.nbytes, (peak, chunk_bytes, movie.nbytes)
    assert parts == []  # handed over: emptied as merged


def test_relinked_ids_that_fit_16_bits_give_a_16_bit_movie():
    """The merged movie's type follows from the IDs the re-linking gives, worked out before it is made: 30 chunks
    each numbering its 12 objects from up to 5,000 (their largest IDs add up past 65535, which made a uint32 movie,
    twice the bytes) re-link to the first chunk's IDs: uint16. IDs past 65535 still make a uint32 movie."""
    movie = _movie(n_frames=60, n_z=1, size=96, seed=6)
    parts = []
    for a, b in C.plan_chunks(len(movie), chunk_frames=3, overlap=1):
        perm = np.concatenate([[0], np.arange(1, 13) + 4990]).astype(np.uint16)
        parts.append((a, C.PackedLabels.pack(perm[movie[a:b]])))
    assert sum(int(p.max()) for _, p in parts) > 65535
    arrays = [(s, np.stack([p.frame(k) for k in range(p.shape[0])])) for s, p in parts]
    got = C._merge(list(parts), overlap=1)
    assert got.dtype == np.uint16 and np.array_equal(got, _old_merge(arrays, 1)) and int(got.max()) == 5002
    # the first chunk numbers its objects past 65535: the movie is uint32, its IDs as before
    wide = [(s, np.where(lab > 0, lab.astype(np.uint32) + (70000 if s == 0 else 0), 0)) for s, lab in arrays]
    got = C._merge([(s, C.PackedLabels.pack(lab)) for s, lab in wide], overlap=1)
    assert got.dtype == np.uint32 and np.array_equal(got, _old_merge(wide, 1)) and int(got.max()) == 75002


@pytest.mark.parametrize("dims", ["TYX", "YXT", "ZYX"])
def test_counting_the_objects_copies_no_frame_of_the_labels(dims):
    """count_objects (the summary's and the provenance's n_objects, twice per input) made a copy of every frame
    at once: a second movie of labels at the end of every batch input (a 120 x 1024 x 1024 threshold run
    peaked at 980 MB, 755 MB without the copies)."""
    from labelfree.batch.task import count_objects

    movie = _movie(n_frames=24, n_z=1, size=256)[:, 0]  # 24 frames, 12 squares each (3 MB)
    order = {"TYX": (0, 1, 2), "YXT": (1, 2, 0), "ZYX": (0, 1, 2)}[dims]
    labels = xr.DataArray(np.transpose(movie, order), dims=tuple(dims))
    counted, peak = traced_peak(count_objects, labels)
    assert counted == (24 * 12 if "T" in dims else 12)  # a Z-stack's object counts once
    assert peak < movie.nbytes / 4, f"{peak} bytes for a {movie.nbytes}-byte label movie"


@pytest.mark.parametrize("overlap", [0, 1])
def test_a_large_merged_movie_is_mapped_onto_a_scratch_file_that_leaves_no_trace(overlap, tmp_path, monkeypatch):
    """A merged movie larger than MERGE_IN_MEMORY_BYTES is made in a scratch file of the output folder, mapped
    into memory: the same labels, none of its bytes on the Python heap, and no file left in the folder (a
    chunked 400 x 1024 x 1024 movie held its 800 MB of merged labels in memory to the end of the writing)."""
    movie = _movie(n_frames=16, n_z=4, size=128, seed=3)
    want = C.merge_chunks([(s, lab) for s, lab, _ in _parts(movie, overlap, 4, seed=4)], overlap=overlap)
    monkeypatch.setattr(F, "MERGE_IN_MEMORY_BYTES", want.nbytes - 1)
    parts = [(s, C.PackedLabels.pack(lab)) for s, lab, _ in _parts(movie, overlap, 4, seed=4)]
    got, peak = traced_peak(C._merge, parts, overlap=overlap, dtype=want.dtype, folder=tmp_path)
    assert isinstance(got, np.memmap) and got.dtype == want.dtype and np.array_equal(got, want)
    assert peak < want.nbytes / 4, (peak, want.nbytes)
    assert list(tmp_path.iterdir()) == []  # the scratch file has no name there, and goes with the array
    del got
    # at the limit, or with no folder to put it in (a missing one): in memory, as before
    monkeypatch.setattr(F, "MERGE_IN_MEMORY_BYTES", want.nbytes)
    for folder in (tmp_path, None, tmp_path / "missing"):
        kept = C.merged_array(want.shape, want.dtype, folder=folder)
        assert type(kept) is np.ndarray and kept.shape == want.shape and not kept.any()
    monkeypatch.setattr(F, "MERGE_IN_MEMORY_BYTES", 0)
    kept = C.merged_array(want.shape, want.dtype, folder=tmp_path / "missing")
    assert type(kept) is np.ndarray and not (tmp_path / "missing").exists()


def _mapped_resident_mib(array: np.memmap) -> float:
    """MiB of ``array``'s mapping resident in this process (its lines of /proc/self/smaps)."""
    import re

    start = np.asarray(array).__array_interface__["data"][0]
    resident, inside = 0, False
    for line in open("/proc/self/smaps").read().splitlines():
        span = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
        if span:
            inside = int(span.group(1), 16) <= start < int(span.group(2), 16)
        elif inside and line.startswith("Rss:"):
            resident += int(line.split()[1])
    return resident / 1024


@pytest.mark.skipif(not Path("/proc/self/smaps").exists() or not hasattr(__import__("mmap"), "MADV_DONTNEED"),
                    reason="reads the resident pages of a mapping from Linux's /proc/self/smaps")
def test_the_pages_of_a_scratch_file_movie_leave_the_resident_set_while_it_is_written_and_read(tmp_path,
                                                                                              monkeypatch):
    """Its pages, once written or read, counted in the process's resident set (RSS), against which a Dask worker's
    memory limit is checked: a 400 x 1024 x 1024 merge on one worker with 900 MB was restarted four times and the
    input failed, with the labels' pages on file. They are let go as the movie is used, and the values stay."""
    import threading
    import time

    monkeypatch.setattr(F, "MERGE_IN_MEMORY_BYTES", 0)
    shape = (64, 512, 1024)  # 64 MiB of uint16
    before = set(threading.enumerate())
    movie = C.merged_array(shape, np.uint16, folder=tmp_path)
    assert isinstance(movie, np.memmap)
    pager = [t for t in set(threading.enumerate()) - before if t.name == "labelfree-mapped-pages"]
    assert len(pager) == 1

    def settled(array: np.memmap) -> float:  # what stays resident once the thread has had its turn
        deadline = time.monotonic() + 10
        while _mapped_resident_mib(array) > 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        return _mapped_resident_mib(array)

    for t in range(shape[0]):
        movie[t] = t + 1
    assert settled(movie) <= 8
    # a whole-movie reading: the largest label, read as the label writers read it (plane by plane)
    from labelfree.image import value_range

    assert value_range(movie) == (1, shape[0])
    assert settled(movie) <= 8
    assert [int(movie[t, 100, 200]) for t in (0, 31, 63)] == [1, 32, 64]  # the values came back from the file
    assert int(np.asarray(movie[5]).sum()) == 6 * 512 * 1024
    del movie
    pager[0].join(timeout=10)  # the thread ends with the mapping
    assert not pager[0].is_alive()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/smaps").exists() or not hasattr(__import__("mmap"), "MADV_DONTNEED"),
                    reason="reads the resident pages of a mapping from Linux's /proc/self/smaps")
def test_a_batch_inputs_mapped_pages_leave_the_resident_set_once_read(tmp_path):
    """A batch input is read through a file mapping: every page read counted in the worker's resident set, which
    Dask checks against its memory limit (a 400 x 1024 x 1024 movie, unchunked on one worker: 900 MiB of the
    movie's pages resident at the end; now 161, the shared libraries included)."""
    import threading
    import time

    import tifffile

    from labelfree._mapped import _memmap_under, page_out_while_mapped
    from labelfree.batch.inputs import BatchInput
    from labelfree.batch.task import Job, load_input

    movie = np.arange(32 * 512 * 1024, dtype=np.uint32).astype(np.uint16).reshape(32, 512, 1024)  # 32 MiB
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    job = Job(item=BatchInput(path=tmp_path / "movie.tif", stem="movie"), pipeline="threshold", config={},
              out_dir=str(tmp_path / "out"), fingerprint="", input_sha256="")
    before = set(threading.enumerate())
    image = load_input(job)
    mapped = _memmap_under(image.data)
    assert mapped is not None and mapped.mode == "r"
    assert [t.name for t in set(threading.enumerate()) - before] == ["labelfree-mapped-pages"]
    total = sum(int(frame.sum(dtype=np.uint64)) for frame in image.data)  # every page read, frame by frame
    assert total == int(movie.sum(dtype=np.uint64))
    deadline = time.monotonic() + 10
    while _mapped_resident_mib(mapped) > 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _mapped_resident_mib(mapped) <= 4
    np.testing.assert_array_equal(image.data[17], movie[17])  # read again from the file
    # nothing to let go: an array in memory; a copy-on-write mapping would lose what was written into it
    assert not page_out_while_mapped(np.array(movie[0]))
    assert not page_out_while_mapped(np.memmap(tmp_path / "movie.tif", dtype=np.uint8, mode="c"))


def test_a_chunked_batch_run_merging_on_a_scratch_file_writes_the_whole_runs_outputs(tmp_path, monkeypatch):
    """End to end (labelfree batch, chunks of 3 frames, the merged movie on a scratch file): the label TIFF,
    table and ROIs of the unchunked run, and the output folder holds only what the run publishes."""
    import tifffile

    from labelfree.batch import run_batch

    rng = np.random.default_rng(5)
    movie = (rng.normal(100, 8, (10, 96, 96)) + 600 * (_movie(10, 1, 96)[:, 0] > 0)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    whole = run_batch(tmp_path / "movie.tif", pipeline="threshold", out_dir=tmp_path / "whole", scheduler="sync",
                      progress=False)
    made = []
    merged_array = C.merged_array

    def watched(*args, **kwargs):
        made.append(merged_array(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(F, "MERGE_IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(F, "merged_array", watched)
    chunked = run_batch(tmp_path / "movie.tif", pipeline="threshold", out_dir=tmp_path / "chunked",
                        scheduler="sync", batch={"chunk_frames": 3}, progress=False)
    assert (whole["status"] == "ok").all() and (chunked["status"] == "ok").all()
    assert len(made) == 1 and isinstance(made[0], np.memmap)
    del made[:]
    assert int(chunked["n_objects"][0]) == int(whole["n_objects"][0]) >= 10 * 6  # squares that touch are one
    want, got = tifffile.imread(tmp_path / "whole" / "movie_labels.tif"), tmp_path / "chunked" / "movie_labels.tif"
    np.testing.assert_array_equal(tifffile.imread(got), want)
    for name in ("movie_table.csv", "movie_rois.zip"):
        assert (tmp_path / "chunked" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "chunked").iterdir()) == sorted(
        p.name for p in (tmp_path / "whole").iterdir())


_SCRATCH_WHERE_NO_ROOM = """
import logging, resource, sys
import numpy as np
from labelfree import frame_chunks as C
logging.basicConfig(level=logging.INFO, format="%(message)s")
C.MERGE_IN_MEMORY_BYTES = 0
if sys.argv[2] == "file size limit":
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))  # ulimit -f: a file may not pass 1 MB
kept = C.merged_array((8, 512, 512), np.uint16, folder=sys.argv[1])  # 4 MiB
kept[:] = 7  # every page written: a sparse file on a full disk would crash here (SIGBUS)
print(type(kept).__name__, int(kept.sum()))
"""


@pytest.mark.parametrize("disk", ["file size limit", "tmpfs"])
def test_a_scratch_file_that_finds_no_room_leaves_the_merged_movie_in_memory(tmp_path, disk):
    """A scratch file whose space cannot be reserved (a file size limit: EFBIG; a full disk, a 3 MB tmpfs: ENOSPC,
    where a file merely made long enough would have let the movie's pages be written until a SIGBUS) is no crash:
    the merged movie is made in memory, and that is logged, naming the folder."""
    import os
    import shutil
    import subprocess
    import sys

    folder, prefix = tmp_path, []
    if disk == "tmpfs":
        if shutil.which("unshare") is None or os.geteuid() != 0:
            pytest.skip("needs unshare and root to mount a small tmpfs")
        folder = tmp_path / "tiny"
        folder.mkdir()
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                  f'mount -t tmpfs -o size=3m none "{folder}" && exec "$0" "$@"']
    done = subprocess.run(prefix + [sys.executable, "-c", _SCRATCH_WHERE_NO_ROOM, str(folder), disk],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ndarray", str(7 * 8 * 512 * 512)], done.stdout
    assert "the merged labels (4 MiB) are kept in memory: no scratch file in " + str(folder) in done.stderr
    assert list(folder.iterdir()) == []
