"""Motion on several threads: the same labels as the serial run, frames in flight bounded,
one thread inside a Dask worker; the automatic flow binning."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

from labelfree import _threads, datasets, motion
from labelfree.motion import stream
from labelfree.motion.flow import auto_downsample, binned_flow_config
from labelfree.run import run_pipeline

segment_module = importlib.import_module("labelfree.motion.segment")  # the module, not the function

SYN = dict(cell_radius=20, shape=(224, 224), n_frames=7)


@pytest.fixture
def four_cores(monkeypatch):
    """The process may use 4 cores (this machine may have fewer), and no user cap."""
    monkeypatch.setattr(_threads, "available_cores", lambda: 4)
    monkeypatch.delenv("LABELFREE_THREADS", raising=False)


@pytest.fixture
def workers_used(monkeypatch) -> list[int]:
    """The ``workers`` of every frame stream ``segment`` opens, in order."""
    seen: list[int] = []
    real = segment_module.frame_stream

    def spy(*args, **kwargs):
        seen.append(kwargs["workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(segment_module, "frame_stream", spy)
    return seen


def _runs(movie, config=None):
    return {n: run_pipeline("motion", movie, config=config, threads=n) for n in (1, 2, 3)}


def _assert_same(runs):
    serial = runs[1]
    for n, labels in runs.items():
        np.testing.assert_array_equal(labels.values, serial.values, err_msg=f"{n} threads")
        for key in ("min_size", "scale", "thresholds", "refinement", "flow"):
            assert labels.attrs["labelfree"].get(key) == serial.attrs["labelfree"].get(key), (n, key)


@pytest.mark.parametrize("config", [None, {"flow_reference": "black"}, {"flow_downsample": None},
                                    {"classifier": "kernel", "classifier_mode": "cumulative"}])
def test_synthetic_movie_gives_the_serial_labels_on_every_thread_count(four_cores, workers_used, config):
    movie, _ = datasets.synthetic_movie(appearance="fluorescence", seed=3, **SYN)
    runs = _runs(movie, config)
    assert workers_used == [1, 2, 3]  # run_pipeline(threads=n) reaches Motion's pool
    _assert_same(runs)
    assert runs[1].values.max() >= 3  # cells were found, not an empty agreement


def test_real_crop_gives_the_serial_labels_on_every_thread_count(four_cores, workers_used, msc_dir):
    """Fluo-C2DL-MSC/01 frames 1-8, a 320 x 384 crop with cells moving."""
    data = datasets.load_ctc("Fluo-C2DL-MSC", "01", root=msc_dir.parents[1], frames=range(1, 9))
    movie = data.movie.isel(Y=slice(0, 320), X=slice(0, 384))
    runs = _runs(movie)
    assert workers_used == [1, 2, 3]
    _assert_same(runs)
    assert runs[1].values.max() >= 1


def test_motion_uses_the_cores_and_the_user_cap(four_cores, workers_used, monkeypatch):
    movie, _ = datasets.synthetic_movie(seed=1, **{**SYN, "n_frames": 3})
    motion.segment(movie)  # called directly: every core the process may use
    monkeypatch.setenv("LABELFREE_THREADS", "2")
    motion.segment(movie)
    run_pipeline("motion", movie, threads=1)  # the run layer's setting wins
    assert workers_used == [4, 2, 1]


def test_threads_are_capped_by_the_memory_left(four_cores, workers_used, monkeypatch, caplog):
    """Each thread holds up to about 208 bytes per pixel: a process with little memory left uses fewer threads."""
    from labelfree.motion.spec import SPEC

    movie, _ = datasets.synthetic_movie(seed=1, **{**SYN, "n_frames": 3})
    per_thread = segment_module._BYTES_PER_THREAD_PIXEL * 224 * 224
    stack = 3 * 224 * 224 * 2  # the uint16 labels still to be filled, and the work that does not grow with a frame
    monkeypatch.setattr(_threads, "available_memory", lambda: stack + SPEC.plane_bytes_fixed + int(2.5 * per_thread))
    with caplog.at_level("INFO", logger="labelfree._threads"):
        capped = motion.segment(movie)
    monkeypatch.setattr(_threads, "available_memory", lambda: None)  # unknown (not Linux): every core
    free = motion.segment(movie)
    assert workers_used == [2, 4]
    np.testing.assert_array_equal(capped.values, free.values)
    assert "Motion: 2 thread(s) instead of 4" in caplog.text


def test_frames_in_flight_are_bounded(monkeypatch):
    """With w workers, frame t + w + 1 is not read before frame t has been handed over."""
    movie, _ = datasets.synthetic_movie(seed=1, **{**SYN, "n_frames": 9})
    da = motion.as_movie(movie)
    read: list[int] = []
    real = stream._frame
    monkeypatch.setattr(stream, "_frame", lambda d, t: read.append(t) or real(d, t))
    cfg = motion.MotionConfig()
    for workers in (1, 2, 3):
        read.clear()
        with stream.frame_stream(da, cfg, low=0, high=255, workers=workers) as frames:
            for item in frames:
                assert max(read) <= item.t + (workers if workers > 1 else 0)
                assert item.flow is None if item.t == 0 else item.flow.shape == (*movie.shape[1:], 2)
        assert read == list(range(9))


def test_a_failing_frame_stops_the_threads_with_its_error(four_cores, monkeypatch):
    movie, _ = datasets.synthetic_movie(seed=1, **{**SYN, "n_frames": 8})
    real, lock, calls = stream.local_entropy, threading.Lock(), []

    def fifth_fails(frame, **kwargs):
        with lock:
            calls.append(1)
            if len(calls) == 5:
                raise RuntimeError("a frame cannot be read")
        return real(frame, **kwargs)

    monkeypatch.setattr(stream, "local_entropy", fifth_fails)
    with pytest.raises(RuntimeError, match="a frame cannot be read"):
        run_pipeline("motion", movie, threads=3)
    assert not [t for t in threading.enumerate() if t.name.startswith("labelfree-motion")]  # pool shut down


def test_inside_a_dask_worker_motion_runs_on_one_thread(workers_used, monkeypatch):
    """Batch defaults: one thread per worker, ``task_threads`` automatic: Motion's pool has one worker."""
    distributed = pytest.importorskip("distributed")
    from labelfree.batch import BatchConfig

    assert BatchConfig().threads_per_worker == 1 and BatchConfig().task_threads is None
    monkeypatch.delenv("LABELFREE_THREADS", raising=False)
    movie, _ = datasets.synthetic_movie(seed=1, **{**SYN, "n_frames": 3})
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        labels, inside = client.submit(lambda m: (run_pipeline("motion", m), _threads.thread_count()), movie).result()
    assert workers_used == [1] and inside == 1
    np.testing.assert_array_equal(labels.values, run_pipeline("motion", movie, threads=1).values)


def test_automatic_flow_binning_follows_the_cell_radius():
    area = lambda r: np.pi * r * r
    assert auto_downsample(area(10), min_radius=16) == 1
    assert auto_downsample(area(32), min_radius=16) == 2
    assert auto_downsample(area(64), min_radius=16) == 4
    assert auto_downsample(area(500), min_radius=16) == 4  # at most 4
    cfg = motion.MotionConfig()
    half = binned_flow_config(cfg, 2)
    assert (half.flow_downsample, half.winsize, half.levels) == (2, 8, 2)  # same window and top level on the frame
    quarter = binned_flow_config(cfg, 4)
    assert (quarter.flow_downsample, quarter.winsize, quarter.levels) == (4, 5, 1)
    assert binned_flow_config(cfg, 1) == cfg


def test_automatic_flow_binning_in_segment_is_recorded():
    movie, truth = datasets.synthetic_movie(appearance="fluorescence", seed=0, cell_radius=40, shape=(320, 320),
                                            n_frames=4)
    labels = motion.segment(movie, config={"flow_downsample": None})
    flow = labels.attrs["labelfree"]["flow"]
    assert flow["downsample"] == 2 and flow["winsize"] == 8
    full = motion.segment(movie, config={"flow_downsample": 1})
    assert full.attrs["labelfree"]["flow"]["downsample"] == 1
    from labelfree.metrics import evaluate

    assert evaluate(labels.values, truth.values)["pixel_f1"] >= evaluate(full.values, truth.values)["pixel_f1"] - 0.03


def test_pairs_are_classified_and_cleaned_up_on_the_worker_threads(four_cores, monkeypatch):
    """Once the minimum size is settled, self-labels, classification and clean-up of a pair run on
    the pool, ahead of the frame-order work; the labels stay those of the serial run."""
    movie, _ = datasets.synthetic_movie(appearance="fluorescence", seed=3, **SYN)
    where: dict[str, list[str]] = {"classify": [], "clean": []}
    real_classify, real_clean = segment_module._classify_pair, segment_module._clean_up

    def classify(*args, **kwargs):
        where["classify"].append(threading.current_thread().name)
        return real_classify(*args, **kwargs)

    def clean(*args, **kwargs):
        where["clean"].append(threading.current_thread().name)
        return real_clean(*args, **kwargs)

    monkeypatch.setattr(segment_module, "_classify_pair", classify)
    monkeypatch.setattr(segment_module, "_clean_up", clean)
    serial = run_pipeline("motion", movie, threads=1)
    assert not [n for names in where.values() for n in names if n.startswith("labelfree-motion")]
    where["classify"].clear(), where["clean"].clear()
    threaded = run_pipeline("motion", movie, threads=3)
    np.testing.assert_array_equal(threaded.values, serial.values)
    assert threaded.attrs["labelfree"]["refinement"] == serial.attrs["labelfree"]["refinement"]
    # the first moving pair fixes the minimum size in order; the 5 pairs after it go to the pool
    assert len(where["classify"]) == 6 and where["classify"][0] == threading.current_thread().name
    assert all(n.startswith("labelfree-motion") for n in where["classify"][1:])
    assert sum(n.startswith("labelfree-motion") for n in where["clean"]) == 5
