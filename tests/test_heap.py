"""labelfree._heap.retained_heap: freed large blocks stay in the process for reuse while it is active."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labelfree import _heap

pytestmark = pytest.mark.skipif(_heap._glibc() is None, reason="glibc only")

BLOCK = 256 << 20  # far above glibc's largest dynamic mmap threshold (32 MiB)


def _anon_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("RssAnon:"))


def _touch_and_free() -> float:
    """Allocate and fill a BLOCK, free it, and return the anonymous memory left afterwards."""
    a = np.ones(BLOCK, np.uint8)
    del a
    return _anon_mib()


def _fresh(check: str) -> None:
    """Run ``check``, a function of this file, in a new Python process: what a process's memory does with
    a freed block depends on all it ran before (after the whole suite a 256 MiB block added nothing to the
    memory measured), so the measurement starts from a fresh heap."""
    code = f"import runpy; runpy.run_path({str(Path(__file__))!r})[{check!r}]()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr


def test_freed_block_is_kept_inside_and_given_back_after():
    _fresh("_check_kept_inside_and_given_back_after")


def test_nested_uses_keep_the_setting_until_the_last_leaves():
    _fresh("_check_nested_uses_keep_the_setting")


def _check_kept_inside_and_given_back_after() -> None:
    base = _anon_mib()
    with _heap.retained_heap() as acting:
        assert acting
        kept = _touch_and_free()
        assert kept - base > 0.8 * BLOCK / 2**20  # still resident: the next frame reuses it
        again = _touch_and_free()
        assert again - kept < 0.2 * BLOCK / 2**20  # reused, not taken a second time
    assert _anon_mib() - base < 0.2 * BLOCK / 2**20  # malloc_trim gave it back


def _check_nested_uses_keep_the_setting() -> None:
    base = _anon_mib()
    with _heap.retained_heap():
        with _heap.retained_heap():
            pass
        assert _touch_and_free() - base > 0.8 * BLOCK / 2**20
    assert _anon_mib() - base < 0.2 * BLOCK / 2**20


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv("LABELFREE_RETAIN_HEAP", "0")
    assert not _heap.enabled()
    base = _anon_mib()
    with _heap.retained_heap() as acting:
        assert not acting
        # the thresholds left by earlier tests (32 MiB) still send a 256 MiB block back at once
        assert _touch_and_free() - base < 0.2 * BLOCK / 2**20


def _numpy_hugepage() -> bool:
    switch = _heap._numpy_hugepage_switch()
    before = switch(True)
    switch(before)
    return bool(before)


@pytest.mark.parametrize("before", [True, False])
def test_numpy_huge_pages_are_off_inside_and_restored_after(before):
    switch = _heap._numpy_hugepage_switch()
    if switch is None:
        pytest.skip("this NumPy has no huge-page switch")
    saved = switch(before)
    try:
        with _heap.retained_heap():
            with _heap.retained_heap():
                assert _numpy_hugepage() is False
            assert _numpy_hugepage() is False  # the outer run still holds the setting
        assert _numpy_hugepage() is before
    finally:
        switch(saved)
