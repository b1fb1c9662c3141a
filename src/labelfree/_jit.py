"""numba compilation of the package's loops, cached where the cache can be written.

``numba.njit(cache=True)`` keeps the compiled code next to the package (or, where that
folder is read-only, in the user's cache folder), so only the first process compiles. Where
numba finds no writable place at all (a read-only install with no writable home, some
containers) it refuses ``cache=True`` when the module is imported; :func:`njit` then compiles
without the cache in every process instead (a few seconds on first use) rather than fail.
"""

from __future__ import annotations

from typing import Any, Callable

import numba

__all__ = ["njit"]


def njit(fn: Callable | None = None, /, **options: Any):
    """``numba.njit(cache=True, **options)``, or without the cache where numba cannot keep one.

    Used as ``@njit`` or ``@njit(nogil=True, ...)``.
    """

    def wrap(f: Callable):
        try:
            return numba.njit(cache=True, **options)(f)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(f)

    return wrap if fn is None else wrap(fn)
