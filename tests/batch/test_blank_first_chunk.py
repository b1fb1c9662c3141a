"""A movie whose first chunk of frames is blank (a microscope's frames before the acquisition began): the first
chunk with cells chooses the automatic settings (Motion's cell size and what follows from it) that every later
chunk takes, in a sequential run, on Dask and in a single run (``labelfree motion``), as a run of the whole movie
takes one scale for every frame. Before, a batch run's blank first chunk chose nothing and every later chunk
measured its own cell size on its few frames (a single run already took the next chunk's; its loop is now the
batch's, :func:`labelfree.frame_chunks.segment_in_order`)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import numpy as np
import pytest
import tifffile

from labelfree.batch import chunks as batch_chunks
from labelfree.datasets import SAMPLE_MOVIE

# the blank chunk's warning, and Motion's for the blank frame the next chunk shares with it
pytestmark = [pytest.mark.filterwarnings("ignore:Frames 0-3"), pytest.mark.filterwarnings("ignore:1 of . frames has")]

SHARED = ("min_size", "closing_radius", "flow_downsample", "upsample", "declump_landscape")


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    """The sample movie after 4 blank frames (16 frames; chunks of 4 frames after the one shared with the chunk
    before: frames 0-3 blank, 3-7, 7-11, 11-15)."""
    frames = tifffile.imread(SAMPLE_MOVIE)
    blank = np.full((4, *frames.shape[1:]), int(np.median(frames)), frames.dtype)
    path = tmp_path_factory.mktemp("movie") / "late.tif"
    tifffile.imwrite(path, np.concatenate([blank, frames]), imagej=True, metadata={"axes": "TYX"})
    return path


def _spy(monkeypatch):
    calls = []
    segment_chunk = batch_chunks.segment_chunk

    def spy(image, start, stop, /, *, offset=0, settings=None, **kw):
        result = segment_chunk(image, start, stop, offset=offset, settings=settings, **kw)
        calls.append((offset + start, settings, result[2]))
        return result

    monkeypatch.setattr(batch_chunks, "segment_chunk", spy)
    return calls


def _check(calls):
    """Every chunk after the first with cells took the settings that one chose."""
    starts = sorted({start for start, *_ in calls})
    assert starts == [0, 3, 7, 11]
    first = next(record for start, settings, record in calls if start == 0)
    assert first.get("uniform_chunk")  # blank: it chooses nothing
    chooser = next(record for start, settings, record in calls if start == 3 and not (settings or {}).get("min_size"))
    chosen = {k: chooser["auto"][k] for k in SHARED if k in chooser["auto"]}
    assert "min_size" in chosen
    for start, settings, _ in calls:
        if start > 3:
            assert {k: v for k, v in settings.items() if k in SHARED} == chosen, start
    return chosen


def test_the_first_chunk_with_cells_chooses_the_settings_of_every_later_chunk(movie, tmp_path, monkeypatch):
    from labelfree.batch import run_batch
    from labelfree.io.labels_tiff import read_provenance

    calls = _spy(monkeypatch)
    table = run_batch(movie, pipeline="motion", out_dir=tmp_path / "sync", scheduler="sync", progress=False,
                      batch={"chunk_frames": 4})
    assert table["status"].tolist() == ["ok"], table["error"].tolist()
    assert "Frames 0-3 (0-based) hold one value in every pixel" in table["warnings"][0]
    chosen = _check(calls)
    record = read_provenance(tmp_path / "sync" / "late_labels.tif")
    assert {k: record["auto"][k] for k in chosen} == chosen
    labels = tifffile.imread(tmp_path / "sync" / "late_labels.tif")
    assert not labels[:4].any() and labels[4:].any(axis=(1, 2)).all()

    distributed = pytest.importorskip("distributed")
    calls.clear()
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None,
                            silence_logs=logging.ERROR) as client:
        table = run_batch(movie, pipeline="motion", out_dir=tmp_path / "dask", scheduler=client, progress=False,
                          batch={"chunk_frames": 4})
    assert table["status"].tolist() == ["ok"], table["error"].tolist()
    assert _check(calls) == chosen
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "dask" / "late_labels.tif"), labels)


def test_a_single_run_in_chunks_takes_the_settings_of_the_first_chunk_with_cells(movie, tmp_path, monkeypatch):
    import labelfree.run
    from labelfree.cli import main

    seen = []
    run_pipeline = labelfree.run.run_pipeline

    def spy(spec, image, /, *, config=None, **kw):
        seen.append(config)
        return run_pipeline(spec, image, config=config, **kw)

    monkeypatch.setattr(labelfree.run, "run_pipeline", spy)
    assert main(["motion", str(movie), "-o", str(tmp_path / "out"), "--chunk-frames", "4", "-q",
                 "--no-progress"]) == 0
    assert len(seen) == 4 and seen[0] == seen[1]  # the blank chunk, then the one that chooses: the config given
    changed = {f for f in SHARED if getattr(seen[2], f) != getattr(seen[1], f)}
    assert seen[3] == seen[2] != seen[1] and "min_size" in changed
    assert seen[2] == dataclasses.replace(seen[1], **{f: getattr(seen[2], f) for f in changed})
    labels = tifffile.imread(tmp_path / "out" / "late_labels.tif")
    assert not labels[:4].any() and labels[4:].any(axis=(1, 2)).all()


def test_chunks_of_a_drift_corrected_movie_on_dask_after_a_blank_first_chunk(movie, tmp_path, monkeypatch):
    """On Dask the drift-corrected movie is made once and its chunks are segmented from it: the task that waits
    for the settings segments the chunk that chooses from that movie too, and the labels are the sequential run's."""
    distributed = pytest.importorskip("distributed")
    from labelfree.batch import run_batch

    from labelfree.batch import dispatch

    calls, from_loaded = _spy(monkeypatch), []
    segment_loaded = dispatch._segment_loaded
    monkeypatch.setattr(dispatch, "_segment_loaded",
                        lambda *a, **k: from_loaded.append(a[1]) or segment_loaded(*a, **k))
    labels = {}
    for name, scheduler in (("sync", "sync"), ("dask", None)):
        calls.clear()
        if scheduler is None:
            client = distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None,
                                        silence_logs=logging.ERROR)
        with client if scheduler is None else contextlib.nullcontext():
            table = run_batch(movie, pipeline="motion", out_dir=tmp_path / name, progress=False,
                              scheduler=scheduler or client, batch={"chunk_frames": 4, "drift_correction": True})
        assert table["status"].tolist() == ["ok"], table["error"].tolist()
        _check(calls)
        labels[name] = tifffile.imread(tmp_path / name / "late_labels.tif")
    np.testing.assert_array_equal(labels["dask"], labels["sync"])
    assert from_loaded == [3]  # the chunk that chose, segmented by the settings task from the corrected movie
