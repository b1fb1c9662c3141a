"""Arrays mapped from files, kept out of the process's resident set while they are used.

A page of a file mapping that a process has touched counts in its resident set (RSS) until the mapping goes or
the system takes the page back, and a Dask worker's memory limit is checked against the RSS (``psutil``'s), not
against the memory the system could not take back. A movie read through a mapping (a batch input), or labels
written into one (a merged movie's scratch file), thus counted in full against a worker's limit once read or
written, and a worker under that limit was restarted over and over (the input failed) although the system held
those pages on file.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
import time
import weakref
from typing import Any

#: how often (seconds) the pages of a mapped array that the process touched are let go
#: (:func:`page_out_while_mapped`)
PAGE_OUT_SECONDS = 0.01

#: the modes of :class:`numpy.memmap` whose pages can be let go without losing a value: read-only, or shared with
#: the file ("c", copy-on-write, keeps its written pages in memory only)
_SHARED_MODES = ("r", "readonly", "r+", "readwrite", "w+", "write")


def page_out_while_mapped(array: Any, /) -> bool:
    """Let the pages of the file mapping under ``array`` (a :class:`numpy.memmap` or a view of one) go from this
    process's resident set every :data:`PAGE_OUT_SECONDS` while the mapping lives, from a thread of its own
    (``madvise(MADV_DONTNEED)``). Whether a thread was started: not for an array in memory, a copy-on-write
    mapping, or where the system has no ``madvise`` (Windows).

    Let go, the pages stay in the file (written ones too: the mapping is shared, so the system writes them out)
    or in the system's file cache, and come back from there when read again: the values are never changed. The
    thread ends when the mapping has gone (no array or view holds it).
    """
    mapped = _memmap_under(array)
    raw = getattr(mapped, "_mmap", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    shared = getattr(mapped, "mode", None) in _SHARED_MODES
    if raw is None or advice is None or not hasattr(raw, "madvise") or not shared:
        return False
    mapping = weakref.ref(raw)

    def run() -> None:
        while True:
            time.sleep(PAGE_OUT_SECONDS)
            held = mapping()
            if held is None or held.closed:
                return
            with contextlib.suppress(OSError, ValueError):  # closed meanwhile
                held.madvise(advice)
            del held  # the mapping goes with the last array that holds it, not with this thread

    threading.Thread(target=run, name="labelfree-mapped-pages", daemon=True).start()
    return True


def _memmap_under(array: Any, /) -> Any:
    """The :class:`numpy.memmap` that ``array`` is, or is a view of (a plain ndarray view of one, as
    ``np.asarray`` and reshaping make, keeps it as its base); None for an array in memory."""
    import numpy as np

    seen = 0
    while array is not None and seen < 64:
        if isinstance(array, np.memmap) and getattr(array, "_mmap", None) is not None:
            return array
        array, seen = getattr(array, "base", None), seen + 1
    return None
