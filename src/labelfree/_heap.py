"""Keep large freed buffers in the process heap while a frame-by-frame pipeline runs.

Every frame pair allocates the same large temporaries again: OpenCV's Farnebaeck
flow alone builds about 150 MB of pyramids and matrices per call on a
1216 x 1920 frame. glibc hands blocks above its mmap threshold (at most 32 MiB,
raised dynamically) straight back to the kernel on free, so each frame pays for
faulting in and zeroing fresh pages again: about a fifth of the Farnebaeck call's
time on this project's benchmark machine (``benchmarks/motion_speed.py``).

:func:`retained_heap` raises glibc's mmap and trim thresholds for the duration
of a run, so freed blocks stay in the heap and the next frame reuses them; on
leaving, the retained memory is given back (``malloc_trim``) and the thresholds
are set to the values glibc's own dynamic rule reaches after the first large
free (32 MiB / 64 MiB). Elsewhere than on glibc, or with the environment
variable ``LABELFREE_RETAIN_HEAP=0``, it does nothing.

For the same duration NumPy stops asking the kernel for transparent huge pages for its
large arrays (``madvise(MADV_HUGEPAGE)``, which NumPy does on Linux for arrays of 4 MiB and
more): within the retained heap those requests cover the reused blocks, and fresh huge
pages were the unpredictable part of a run. On the benchmark machine (a VM, THP mode
``madvise``) one ``segment`` call on a 6-frame 1216 x 1920 movie spent 0.07-0.57 s in
the kernel with them (the same 120-150 huge pages faulted in every time, no compaction
counted), 0.12-0.14 s without, and its user time was the same.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from typing import Iterator

__all__ = ["retained_heap"]

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
_RUN_MMAP, _RUN_TRIM = 1 << 30, 1 << 30  # C int arguments: at most 2**31 - 1
_AFTER_MMAP, _AFTER_TRIM = 32 << 20, 64 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX and twice it

_lock = threading.Lock()
_depth = 0
_acting = False  # whether glibc took the settings of the active run
_hugepage_before: bool | None = None  # NumPy's huge-page setting before the active run (None: not changed)


@functools.lru_cache(maxsize=None)
def _glibc():
    """The process's glibc (``mallopt`` and ``malloc_trim``), or None; looked up once."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl also has a mallopt, which does nothing
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def _numpy_hugepage_switch():
    """NumPy's switch for ``madvise(MADV_HUGEPAGE)`` on its large arrays (it returns the
    previous setting), or None where this NumPy has none."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    return getattr(multiarray, "_set_madvise_hugepage", None)


def enabled() -> bool:
    """Whether :func:`retained_heap` acts in this process (glibc, and not switched off)."""
    return os.environ.get("LABELFREE_RETAIN_HEAP", "1") != "0" and _glibc() is not None


@contextlib.contextmanager
def retained_heap() -> Iterator[bool]:
    """Context in which freed large blocks stay in the heap for reuse; yields whether it acts
    (False elsewhere than on glibc, when switched off, or when glibc refuses the thresholds).

    NumPy's large arrays get no transparent huge pages meanwhile (see the module's note).
    Nested and concurrent uses share one setting, undone when the last one leaves.
    """
    global _depth, _acting, _hugepage_before
    libc = _glibc() if enabled() else None
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:  # mallopt returns 0 where a value is refused (older glibc caps the threshold)
            _acting = bool(libc.mallopt(_M_MMAP_THRESHOLD, _RUN_MMAP)) & bool(libc.mallopt(_M_TRIM_THRESHOLD, _RUN_TRIM))
            switch = _numpy_hugepage_switch()
            _hugepage_before = bool(switch(False)) if switch is not None else None
        acting = _acting
    try:
        yield acting
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _AFTER_MMAP)
                libc.mallopt(_M_TRIM_THRESHOLD, _AFTER_TRIM)
                libc.malloc_trim(0)
                if _hugepage_before is not None:
                    _numpy_hugepage_switch()(_hugepage_before)
                    _hugepage_before = None
