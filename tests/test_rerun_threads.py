"""The thread count of a run repeated from its provenance record, and what run_pipeline records.

A record given as ``--config`` (or ``run_pipeline(config=...)``) repeats its ``threads`` when none are
given; a pipeline without networks (Threshold, Motion) counts its threads without torch's limits, whether
or not torch happens to be imported; a count the pipeline recorded itself is kept.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from labelfree import _threads
from labelfree.cli import main


@pytest.fixture
def four_cores(monkeypatch):
    """The process may use 4 cores; no LABELFREE_, OMP_ or MKL_ setting."""
    monkeypatch.setattr(_threads, "available_cores", lambda: 4)
    for name in ("LABELFREE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)


def _blobs() -> np.ndarray:
    image = np.zeros((64, 64), np.float32)
    image[10:20, 10:20] = 1.0
    image[40:52, 30:44] = 1.0
    return image


def test_the_command_line_repeats_the_threads_of_a_record_given_as_config(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELFREE_THREADS", "1")  # the default count here
    path = tmp_path / "blobs.tif"
    tifffile.imwrite(path, _blobs())
    assert main(["threshold", str(path), "-o", str(tmp_path / "a"), "--threads", "3", "-q"]) == 0
    record = tmp_path / "a" / "blobs_provenance.json"
    assert json.loads(record.read_text())["threads"] == 3
    # before: the default count (1); the record's count is the run's
    assert main(["threshold", str(path), "--config", str(record), "-o", str(tmp_path / "b"), "-q"]) == 0
    assert json.loads((tmp_path / "b" / "blobs_provenance.json").read_text())["threads"] == 3
    # --threads given wins over the record's
    assert main(["threshold", str(path), "--config", str(record), "--threads", "2", "-o", str(tmp_path / "c"),
                 "-q"]) == 0
    assert json.loads((tmp_path / "c" / "blobs_provenance.json").read_text())["threads"] == 2


def test_run_pipeline_repeats_the_threads_of_a_record(monkeypatch):
    from labelfree.run import run_pipeline

    monkeypatch.setenv("LABELFREE_THREADS", "1")
    first = run_pipeline("threshold", _blobs(), threads=3)
    assert run_pipeline("threshold", _blobs(), config=first.attrs["labelfree"]).attrs["labelfree"]["threads"] == 3


def test_a_pipeline_without_networks_ignores_torch_s_limits_though_torch_is_imported(four_cores, monkeypatch):
    """OMP_NUM_THREADS limits torch's pool; before, it also cut a Threshold run's count (4 -> 1) whenever
    torch happened to be imported, so the recorded count depended on what else the process had done."""
    pytest.importorskip("torch")
    from labelfree.run import run_pipeline

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert run_pipeline("threshold", _blobs()).attrs["labelfree"]["threads"] == 4


def test_a_count_the_pipeline_recorded_is_kept(monkeypatch):
    import importlib

    from labelfree.run import run_pipeline

    threshold = importlib.import_module("labelfree.threshold.segment")  # the module (the package names its function)

    real = threshold.segment

    def recording(*args, **kwargs):
        labels = real(*args, **kwargs)
        labels.attrs["labelfree"] = {**labels.attrs["labelfree"], "threads": 7}
        return labels

    monkeypatch.setattr(threshold, "segment", recording)
    # before: replaced by run_pipeline's count
    assert run_pipeline("threshold", _blobs(), threads=2).attrs["labelfree"]["threads"] == 7
