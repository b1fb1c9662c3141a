"""Thread counts a user can see and repeat: an explicit count is used as asked (even above the cores, said once),
torch's pool follows OMP_NUM_THREADS / MKL_NUM_THREADS on the command line as in Python, and a network run
from Python takes the command line's default unless the user set torch's count."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tifffile

from labelfree import _threads

torch = pytest.importorskip("torch")


def limited_threads(*args, **kwargs):
    return _threads.limited_threads(*args, **kwargs)


def thread_count(*args, **kwargs):
    return _threads.thread_count(*args, **kwargs)


def network_threads(*args):
    return _threads.network_threads(*args)


@pytest.fixture
def three_cores(monkeypatch):
    """The process may use 3 cores; no LABELFREE_, OMP_ or MKL_ setting; torch at the count it starts with."""
    monkeypatch.setattr(_threads, "available_cores", lambda: 3)
    for name in ("LABELFREE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    # torch keeps its own count (raising=False: the tests fail on their assertions on a version without these)
    monkeypatch.setattr(_threads, "_torch_default_threads", lambda: before, raising=False)
    monkeypatch.setattr(_threads, "_said", set(), raising=False)
    yield
    torch.set_num_threads(before)


def test_a_count_above_the_cores_is_used_as_asked_and_said_once(monkeypatch, caplog):
    """--threads 4 on a 2-core laptop repeats a 4-thread run: torch runs 4 threads (it was cut to the cores)."""
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(_threads, "_said", set(), raising=False)
    before = torch.get_num_threads()
    with caplog.at_level(logging.INFO, logger="labelfree._threads"):
        with limited_threads(4, torch=True) as n:
            assert n == 4 and torch.get_num_threads() == 4 and thread_count() == 4
        with limited_threads(4, torch=True) as again:
            assert again == 4
    assert torch.get_num_threads() == before
    said = [r.getMessage() for r in caplog.records if "as asked" in r.getMessage()]
    assert said == ["4 threads as asked, on 2 core(s): the same sums as a run on 4 threads elsewhere, but slower "
                    "than 2 thread(s) would be"]
    monkeypatch.setenv("LABELFREE_THREADS", "9")
    assert thread_count() == 2  # the automatic count stays capped at the cores


def test_the_command_line_records_a_count_above_the_cores(monkeypatch, tmp_path, shared_data):
    from labelfree.cli import main

    monkeypatch.setattr(_threads, "available_cores", lambda: 1)
    image = tifffile.imread(shared_data / "misc" / "stardist_dsb2018" / "img2d.tif")[:96, :96]
    tifffile.imwrite(tmp_path / "nuclei.tif", np.ascontiguousarray(image))
    assert main(["threshold", str(tmp_path / "nuclei.tif"), "-o", str(tmp_path / "out"), "-q", "--threads", "3"]) == 0
    record = json.loads((tmp_path / "out" / "nuclei_provenance.json").read_text(encoding="utf-8"))
    assert record["threads"] == 3


def test_python_default_is_the_command_line_default(three_cores):
    with limited_threads(None, torch=True) as cli:  # what run_pipeline (the CLI, batch) uses for Cutter and Fusion
        pass
    assert cli == 3
    assert network_threads() == (3, "the default")


def test_omp_and_mkl_num_threads_limit_torch_on_the_command_line_as_in_python(three_cores, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with limited_threads(None, torch=True) as cli:
        pass
    assert cli == 1 and network_threads() == (1, "the default")
    with limited_threads(None) as other:  # pipelines without a network (Motion's pool): the cores
        pass
    assert other == 3
    monkeypatch.setenv("MKL_NUM_THREADS", "2")  # torch lets MKL_NUM_THREADS replace OMP_NUM_THREADS
    assert thread_count(torch=True) == 2
    monkeypatch.setenv("LABELFREE_THREADS", "3")  # LabelFree's own setting wins
    assert thread_count(torch=True) == 3 and network_threads() == (3, "the default")


def test_torch_set_num_threads_and_a_record_are_respected(three_cores, monkeypatch):
    monkeypatch.setattr(_threads, "_torch_default_threads", lambda: 3, raising=False)
    torch.set_num_threads(1)  # as docs/cutter.md advises on a shared machine
    assert network_threads() == (1, "torch.set_num_threads")
    assert network_threads(5) == (5, "the provenance record")  # a rerun repeats the record, above the cores too
    with limited_threads(2, torch=True):
        assert network_threads(5) == (2, "the run")  # inside run_pipeline the run's count is used
    torch.set_num_threads(3)  # torch's own count: not a user setting
    assert network_threads() == (3, "the default")
