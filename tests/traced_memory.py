"""The peak of the memory a call allocates, as the memory tests measure it: a peak, not a time, so their bounds
hold on any machine."""

from __future__ import annotations

import tracemalloc
from typing import Any, Callable


def traced_peak(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """``fn(*args, **kwargs)`` and the most memory it held at once while it ran, in bytes.

    Measured with tracemalloc: NumPy reports its buffers to it; what C libraries allocate on their own (a
    PyMaxflow graph) and the pages of memory-mapped files are not counted, nor anything allocated before the
    call.
    """
    tracemalloc.start()
    try:
        result = fn(*args, **kwargs)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
