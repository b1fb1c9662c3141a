"""Where LabelFree's warnings point: the line of the user's call, however deep in the package they are given.

A fixed ``stacklevel`` names one function a fixed number of calls up, which is a line of LabelFree itself
whenever the warning is given one call deeper than its author counted (a pipeline run inside a canvas, through
:func:`labelfree.run.run_pipeline`, a reader called by another reader). :func:`user_stacklevel` counts the
frames instead. ``warnings.warn(skip_file_prefixes=)`` does this from Python 3.12; LabelFree runs on 3.11 too.

Core module: it imports nothing of LabelFree, so every layer may use it.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig

__all__ = ["user_stacklevel"]

#: the folder of the installed package: the frames of its functions are skipped
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _library_folders() -> tuple[str, ...]:
    """The folders of Python's own modules, of installed packages and of their scripts (contextlib, xarray, dask,
    pytest, a console script)."""
    paths = sysconfig.get_paths()
    found = {os.path.abspath(paths[k]) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
             if k in paths}
    return tuple(sorted(found))


_LIBRARY = _library_folders()


@functools.lru_cache(maxsize=512)
def _kind(filename: str) -> str:
    """``"labelfree"``, ``"library"`` (Python's modules, installed packages, frozen importlib) or ``"user"``."""
    if filename.startswith("<frozen "):
        return "library"
    if filename.startswith("<"):  # <stdin>, <string>, <doctest ...>, an IPython cell: the user's code
        return "user"
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE):
        return "labelfree"
    return "library" if path.startswith(_LIBRARY) else "user"


def user_stacklevel() -> int:
    """The ``stacklevel`` of a warning, given by the function that calls this, that names the line of the user's
    code that called LabelFree: where :func:`labelfree.threshold.segment`, :func:`labelfree.run.run_pipeline`,
    :func:`labelfree.io.write_labels` ... were called from, however deep in the package the warning is given.

    Frames of LabelFree are skipped, and so are those of Python's own modules and of installed packages (a
    ``contextlib`` context manager's exit, an ``xarray`` or Dask function calling back, pytest); the first frame
    of other code is named: a script, a notebook cell, a test, or the user's function that LabelFree called (a
    tiled run's ``segment_fn`` that calls a pipeline). A stack without such a frame (a tile segmented in a
    worker thread, a Fiji command run from Java, the ``labelfree`` command) names its outermost LabelFree frame:
    the function that the thread, Java or the command started.
    """
    frame = sys._getframe(1)
    level, outermost = 1, 1
    while frame is not None:
        kind = _kind(frame.f_code.co_filename)
        if kind == "user":
            return level
        if kind == "labelfree":
            outermost = level
        frame, level = frame.f_back, level + 1
    return outermost
