"""OpenCV's and torch's thread counts are process-wide: limits that nest or overlap on several threads (two
pipeline calls from a notebook's threads, a napari plugin's worker) give the user's count back when the last
one ends, whatever order they end in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import pytest

from labelfree import _threads
from labelfree.motion import stream

USER = 3  # the count the user set before the calls


@pytest.fixture
def user_count():
    before = cv2.getNumThreads()
    cv2.setNumThreads(USER)
    yield USER
    cv2.setNumThreads(before)


def _overlapping(enter_a, enter_b, read):
    """Thread A enters its limit, then B enters its own, then A leaves (first), then B leaves.
    Returns the counts ``read()`` gave inside A, inside B after A left, and after both."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}
    errors = []

    def a():
        try:
            with enter_a():
                seen["a"] = read()
                a_in.set()
                b_in.wait(10)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            a_in.set()
            a_out.set()

    def b():
        try:
            a_in.wait(10)
            with enter_b():
                b_in.set()
                a_out.wait(10)
                seen["b_after_a"] = read()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            b_in.set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    seen["after"] = read()
    return seen


def test_two_motion_frame_pools_on_two_threads_give_the_users_opencv_count_back(user_count):
    seen = _overlapping(lambda: stream._opencv_threads(1), lambda: stream._opencv_threads(1), cv2.getNumThreads)
    assert seen["a"] == 1 and seen["b_after_a"] == 1
    assert seen["after"] == USER  # it was 1: B restored the count A had set


def test_two_runs_on_two_threads_give_the_users_opencv_count_back(user_count):
    seen = _overlapping(lambda: _threads.limited_threads(2), lambda: _threads.limited_threads(1), cv2.getNumThreads)
    assert seen["a"] == 2
    assert seen["b_after_a"] == 1  # B's own count while it still runs
    assert seen["after"] == USER  # it was 2: B restored the count A had set


def test_nested_limits_give_each_outer_count_back(user_count):
    with _threads.limited_threads(2) as n:
        assert n == 2 and cv2.getNumThreads() == 2
        with stream._opencv_threads(1):
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 2
    assert cv2.getNumThreads() == USER


def test_a_limit_that_fails_inside_still_gives_the_count_back(user_count):
    with pytest.raises(RuntimeError, match="boom"):
        with _threads.limited_threads(2):
            raise RuntimeError("boom")
    assert cv2.getNumThreads() == USER


def test_two_network_runs_on_two_threads_give_the_users_torch_count_back():
    """In a fresh process (torch's OpenMP count is partly per thread: the main thread of a pytest run may keep
    its own), as a notebook meets it: the count torch.set_num_threads gave comes back."""
    pytest.importorskip("torch")
    script = textwrap.dedent("""
        import sys, torch
        sys.path.insert(0, sys.argv[1])
        from labelfree import _threads
        from test_python_api_threads import _overlapping
        torch.set_num_threads(3)
        seen = _overlapping(lambda: _threads.limited_threads(2, torch=True),
                            lambda: _threads.limited_threads(1, torch=True), torch.get_num_threads)
        print(seen["a"], seen["b_after_a"], seen["after"])
        """)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2", "1", "3"]  # after both: 2 (the count A had set, restored by B)
