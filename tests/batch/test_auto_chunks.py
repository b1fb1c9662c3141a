"""A movie whose labels would not fit the memory a task may use is split into chunks of frames with no setting:
unchunked, a Dask worker held the whole movie's labels in memory, passed its limit, was restarted, and the input
failed (a 400 x 1024 x 1024 movie on one worker with 600 MB); each chunk now holds its own frames' labels."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tifffile

from labelfree.batch import dispatch, run_batch
from labelfree.batch.chunks import AUTO_CHUNK_PART, auto_chunk_frames


@pytest.mark.parametrize("sizes, memory, overlap, expected", [
    ({"T": 400, "Y": 1024, "X": 1024}, 600 * 2**20, 1, 18),  # 800 MiB of labels: 37.5 MiB chunks of 2 MiB frames
    ({"T": 400, "Y": 1024, "X": 1024}, 2 * 2**30, 1, None),  # under half the memory: one task
    ({"T": 400, "C": 3, "Y": 1024, "X": 1024}, 600 * 2**20, 0, 18),  # the labels have no channel axis
    ({"T": 40, "Z": 8, "Y": 512, "X": 512}, 256 * 2**20, 0, 4),  # a frame's labels: every plane of its volume
    ({"T": 3, "Y": 4096, "X": 4096}, 2**20, 1, 2),  # frames larger than a chunk: at least the overlap + 1, 2
    ({"T": 2, "Y": 4096, "X": 4096}, 2**20, 1, None),  # ... which is the movie: one task
    ({"Y": 8192, "X": 8192}, 2**20, 0, None),  # no time axis
    ({"T": 400, "Y": 1024, "X": 1024}, None, 1, None),  # the memory is not known
])
def test_the_automatic_chunk_length_follows_the_labels_and_the_memory(sizes, memory, overlap, expected):
    assert auto_chunk_frames(sizes, memory, overlap=overlap) == expected
    if expected:  # a chunk's labels take AUTO_CHUNK_PART of the memory (or the least chunk there is)
        frame = 2 * np.prod([n for d, n in sizes.items() if d not in ("T", "C")])
        assert expected * frame <= memory * AUTO_CHUNK_PART or expected == max(overlap + 1, 2)


def _movie(path, n_frames=12, size=64):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size]
    frames = []
    for t in range(n_frames):
        frame = rng.normal(100, 5, (size, size))
        for cy, cx in ((16, 16 + t), (40, 44 - t), (48, 12)):
            frame += 800 * (((yy - cy) ** 2 + (xx - cx) ** 2) < 36)
        frames.append(frame)
    tifffile.imwrite(path, np.clip(frames, 0, 65535).astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    return path


def _labels_and_record(out, stem="movie"):
    return tifffile.imread(out / f"{stem}_labels.tif"), json.loads((out / f"{stem}_provenance.json").read_text())


@pytest.mark.parametrize("pipeline", ["threshold", "motion"])
def test_a_movie_too_large_for_the_memory_left_is_chunked_with_no_setting(tmp_path, monkeypatch, caplog, pipeline,
                                                                          labels_alone_in_memory_check):
    """Run in this process (``scheduler='sync'``): the memory this process has left decides; the outputs are those
    of the run given the same chunk length, and its provenance says the chunks."""
    movie = _movie(tmp_path / "movie.tif")
    frame = 2 * 64 * 64  # bytes of one frame's uint16 labels: half of 22 frames' holds fewer than 12, a sixteenth 1
    # the same memory for both runs: Motion too reads it (it segments small cells enlarged where that fits)
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 22 * frame)
    given = run_batch(movie, pipeline=pipeline, out_dir=tmp_path / "given", scheduler="sync", progress=False,
                      batch={"chunk_frames": 2})
    assert given["status"].tolist() == ["ok"]
    with caplog.at_level(logging.INFO, logger="labelfree.batch.dispatch"):
        auto = run_batch(movie, pipeline=pipeline, out_dir=tmp_path / "auto", scheduler="sync", progress=False)
    assert auto["status"].tolist() == ["ok"]
    labels, record = _labels_and_record(tmp_path / "auto")
    want, want_record = _labels_and_record(tmp_path / "given")
    np.testing.assert_array_equal(labels, want)
    assert record["batch"]["chunks"] == want_record["batch"]["chunks"] != []
    assert "movie: its 12 frames of labels (0 MiB) would take more than 50 % of the 0 MiB one task may use: " \
           "segmented in chunks of 2 frames" in caplog.text
    # with the memory of a machine: one task, as before
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 16 * 2**30)
    whole = run_batch(movie, pipeline=pipeline, out_dir=tmp_path / "whole", scheduler="sync", progress=False)
    assert whole["status"].tolist() == ["ok"]
    assert "chunks" not in _labels_and_record(tmp_path / "whole")[1]["batch"]



def test_a_movie_whose_labels_fit_but_not_beside_a_frames_work_is_chunked(tmp_path, monkeypatch, caplog):
    """Labels under half of the memory, but with Motion's work on one frame (measured: 80 MiB and 135 bytes a pixel)
    over all of it: chunked, each chunk's labels beside one frame's work (before: one task, refused)."""
    from labelfree.motion.spec import SPEC

    movie = _movie(tmp_path / "movie.tif")
    frame, work = 2 * 64 * 64, SPEC.work_bytes(64 * 64)
    # the same memory for both runs: Motion too reads it (it segments small cells enlarged where that fits)
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: work + 6 * frame)
    given = run_batch(movie, pipeline="motion", out_dir=tmp_path / "given", scheduler="sync", progress=False,
                      batch={"chunk_frames": 5})
    assert given["status"].tolist() == ["ok"], given["error"].tolist()
    with caplog.at_level(logging.INFO, logger="labelfree.batch.dispatch"):
        auto = run_batch(movie, pipeline="motion", out_dir=tmp_path / "auto", scheduler="sync", progress=False)
    assert auto["status"].tolist() == ["ok"], auto["error"].tolist()
    assert "movie: its 12 frames of labels (0 MiB) and its work on one frame (81 MiB) would take more than the " \
           "81 MiB one task may use: segmented in chunks of 5 frames" in caplog.text
    labels, record = _labels_and_record(tmp_path / "auto")
    want, want_record = _labels_and_record(tmp_path / "given")
    np.testing.assert_array_equal(labels, want)
    assert record["batch"]["chunks"] == want_record["batch"]["chunks"] != []

def test_on_dask_a_workers_memory_limit_over_its_threads_decides(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import dask

    movie = _movie(tmp_path / "movie.tif")
    frame = 2 * 64 * 64
    # the worker is a thread of this test process, whose memory (a JVM of other tests) may pass 1 GiB: Dask
    # would pause it and the run wait for ever; the limit is only read here, never enforced
    no_monitor = {"distributed.worker.memory." + k: False for k in ("target", "spill", "pause", "terminate")}
    with dask.config.set(no_monitor), distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None, memory_limit=2**30,
            silence_logs=logging.ERROR) as client:
        assert dispatch._task_memory(client) == 2**29  # 1 GiB over 2 threads
        monkeypatch.setattr(dispatch, "_task_memory", lambda c: 22 * frame)
        table = run_batch(movie, pipeline="threshold", out_dir=tmp_path / "dask", scheduler=client, progress=False)
    assert table["status"].tolist() == ["ok"]
    labels, record = _labels_and_record(tmp_path / "dask")
    assert record["batch"]["chunks"] == [[0, 2], [2, 4], [4, 6], [6, 8], [8, 10], [10, 12]]
    np.testing.assert_array_equal(labels > 0, tifffile.imread(movie) > 400)


class _Scheduler:
    def __init__(self, workers):
        self.workers = workers

    def scheduler_info(self):
        return {"workers": self.workers}


@pytest.mark.parametrize("workers, expected", [
    ({}, None),  # no worker yet (an adaptive cluster): one task per input
    ({"a": {"memory_limit": 0, "nthreads": 1}}, None),  # no limit
    ({"a": {"memory_limit": 4 * 2**30, "nthreads": 2}, "b": {"memory_limit": 2**30, "nthreads": 1}}, 2**30),
])
def test_the_memory_of_a_task_is_the_least_a_worker_gives_a_thread(workers, expected):
    assert dispatch._task_memory(_Scheduler(workers)) == expected


@pytest.mark.parametrize("batch", [{}, {"chunk_frames": 4}])
def test_a_cancel_inside_a_chunkable_input_stops_a_sequential_run(tmp_path, monkeypatch, batch):
    """Every movie of a pipeline that allows chunks now goes the chunked path of a sequential run (read, then
    chunked or not): a Cancelled raised while it is segmented stops the run, as for any other input (that path
    made it the input's failed row and went on)."""
    from labelfree.errors import Cancelled

    movie = _movie(tmp_path / "movie.tif")

    def cancelled(*args, **kwargs):
        raise Cancelled("stop")

    monkeypatch.setattr(dispatch, "_process_image", cancelled)
    monkeypatch.setattr(dispatch, "segment_chunk_packed", cancelled)
    with pytest.raises(Cancelled):
        run_batch(movie, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False,
                  batch=batch)


def test_the_merged_record_holds_every_chunk_s_own_planes_of_a_per_plane_value():
    """Threshold chooses a threshold per plane: the merged movie's provenance held the first chunk's alone (12 of
    400 planes, and "12 planes" in the summary); now every chunk's for its own frames (those a chunk shares with
    the one before left out), a single plane as the value itself."""
    from labelfree.batch.chunks import merged_record

    provenances = [(0, 2, {"auto": {"threshold": [1.0, 2.0], "method": "otsu"}, "warnings": ["a"]}),
                   (1, 3, {"auto": {"threshold": [2.5, 3.0, 4.0], "method": "otsu"}, "warnings": ["b"]}),
                   (3, 2, {"auto": {"threshold": [4.5, 5.0], "method": "otsu"}})]
    record, handed = merged_record(provenances, overlap=1, per_plane=("threshold",))
    assert record["auto"] == {"threshold": [1.0, 2.0, 3.0, 4.0, 5.0], "method": "otsu"}
    assert record["warnings"] == ["a", "b"] and handed is None
    volumes = [(0, 1, {"auto": {"threshold": [1.0, 1.5]}}), (1, 1, {"auto": {"threshold": [2.0, 2.5]}})]  # Z = 2
    assert merged_record(volumes, overlap=0, per_plane=("threshold",))[0]["auto"]["threshold"] == [1.0, 1.5, 2.0, 2.5]
    assert merged_record([(0, 1, {"auto": {"threshold": 7.0}})], overlap=0,
                         per_plane=("threshold",))[0]["auto"]["threshold"] == 7.0
    assert merged_record(provenances, overlap=1)[0]["auto"]["threshold"] == [1.0, 2.0]  # not per plane: the first's


def test_a_compressed_movie_in_chunks_is_read_chunk_by_chunk_in_a_sequential_run(tmp_path, monkeypatch):
    """A compressed TIFF cannot be memory-mapped: a sequential run read it whole into memory before its chunks; it
    is now read lazily, each chunk its own frames, with the labels of the uncompressed movie."""
    for name in ("plain", "zlib"):
        (tmp_path / name).mkdir()
    plain = _movie(tmp_path / "plain" / "movie.tif")
    packed = tmp_path / "zlib" / "movie.tif"
    tifffile.imwrite(packed, tifffile.imread(plain), imagej=True, metadata={"axes": "TYX"}, compression="zlib")
    seen = []
    segment_chunk_packed = dispatch.segment_chunk_packed

    def watched(image, *args, **kwargs):
        seen.append(type(image.data).__module__.split(".")[0])
        return segment_chunk_packed(image, *args, **kwargs)

    monkeypatch.setattr(dispatch, "segment_chunk_packed", watched)
    outputs = {}
    for name, movie in (("plain", plain), ("zlib", packed)):
        table = run_batch(movie, pipeline="motion", out_dir=tmp_path / f"out_{name}", scheduler="sync",
                          progress=False, batch={"chunk_frames": 4})
        assert table["status"].tolist() == ["ok"]
        outputs[name] = _labels_and_record(tmp_path / f"out_{name}")
    assert seen == ["numpy"] * 3 + ["dask"] * 3  # 12 frames, 3 chunks: the mapped movie's, the lazy one's
    np.testing.assert_array_equal(outputs["zlib"][0], outputs["plain"][0])
    assert outputs["zlib"][1]["batch"]["chunks"] == outputs["plain"][1]["batch"]["chunks"]
