"""numba compilation of the package's loops, cached where the cache can be written.

``numba.njit(cache=True)`` keeps the compiled code next to the package (or, where that
folder is read-only, in the user's cache folder), so only the first process compiles. A
shared read-only install whose users have no writable home folder leaves numba no place: before
the first function is compiled here, :func:`labelfree._deps.prepare_numba_cache` then points
``NUMBA_CACHE_DIR`` at LabelFree's cache (or the user's own temporary folder), so each user
compiles once, not in every run (a value the user set is kept). Where numba still finds no
place it refuses ``cache=True`` when the module is imported; :func:`njit` then compiles
without the cache in every process instead (a few seconds on first use) rather than fail.
"""

from __future__ import annotations

from typing import Any, Callable

import numba

from labelfree._deps import prepare_numba_cache

__all__ = ["njit"]

prepare_numba_cache("labelfree")  # before the first njit (numba picks its cache folder when it decorates)


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
