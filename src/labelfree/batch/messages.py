"""The warnings of one input of a batch run, named by that input.

While an input is read, segmented and written, :func:`input_messages` collects what LabelFree
warns about (Python warnings such as Threshold's ``BackgroundObjectWarning`` or Cutter's
``AutoMarkerWarning``, and the warnings LabelFree logs, such as "the image's channels are
identical"). Each one is

* shown at once (once for the input), as one log line that names the input (``in/x.tif: BackgroundObjectWarning: ...``),
  when the input runs in this process; inside a Dask task it is only collected, and the client
  shows it, named, when the input's row arrives (:func:`relay_messages`), so that the warnings of
  worker processes and remote workers reach the person who started the run;
* kept for the input's row of the summary (its ``warnings`` column) and its provenance.

Python's warning hooks and LabelFree's logger are one per process: the captures of inputs run
at once in several threads (Dask workers that are threads) are told apart by the thread that
warns; a warning from a thread of no input (a pipeline's own worker threads) goes to the one input
running, or, while several run, is shown as it would be without a batch run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

__all__ = ["input_messages", "current_messages", "input_label", "relay_messages", "join_messages",
           "split_messages", "SEPARATOR"]

log = logging.getLogger(__name__)

#: between two warnings of one input in the summary's ``warnings`` column
SEPARATOR = " | "
#: attribute of a log record that already names its input (not collected again)
_NAMED = "labelfree_input"
#: the logger whose warnings are collected (every LabelFree module logs below it)
_PACKAGE = "labelfree"
#: the filter that shows every UserWarning while an input is processed (not once per place in the code)
_ALWAYS = ("always", None, UserWarning, None, 0)


class _Capture:
    """The warnings of one input: its name, whether they are shown at once, their texts in order."""

    def __init__(self, name: str, show: bool) -> None:
        self.name, self.show = name, show
        self.messages: list[str] = []

    def add(self, text: str) -> bool:
        """Keep ``text``; False when this input had it already (e.g. from another frame chunk)."""
        if text in self.messages:
            return False
        self.messages.append(text)
        return True


_LOCK = threading.RLock()
#: thread id -> the captures open in that thread, innermost last
_STACKS: dict[int, list[_Capture]] = {}
#: what the first open capture replaced, put back when the last one closes
_SAVED: dict[str, Any] = {}


def _capture_of(thread: int | None, main: bool) -> _Capture | None:
    """The innermost capture of ``thread``; for a thread of none but the main one, the only input running."""
    with _LOCK:
        stack = _STACKS.get(thread) if thread is not None else None
        if stack:
            return stack[-1]
        if not main and len(_STACKS) == 1:
            return next(iter(_STACKS.values()))[-1]
    return None


class _Router(logging.Handler):
    """On the ``labelfree`` logger while inputs are processed: its warnings go to their input's capture,
    named when shown; everything else goes on to the root logger's handlers, as it would have."""

    def __init__(self, propagate: bool) -> None:
        super().__init__()
        self.propagate = propagate

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override] - no lock: the root's handlers lock
        capture = None
        if record.levelno >= logging.WARNING and not hasattr(record, _NAMED):
            capture = _capture_of(record.thread, record.threadName == threading.main_thread().name)
        if capture is not None:
            text = record.getMessage()
            if not capture.add(text) or not capture.show:  # said already; or a Dask task: the client shows it
                return True
            record.msg, record.args = f"{capture.name}: {text}", None
            setattr(record, _NAMED, capture.name)
        if self.propagate:
            logging.getLogger().handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """``warnings.showwarning`` while inputs are processed: a warning of an input goes to its capture."""
    capture = _capture_of(threading.get_ident(), threading.current_thread() is threading.main_thread())
    if capture is None:
        _SAVED["showwarning"](message, category, filename, lineno, file, line)
        return
    text = f"{category.__name__}: {message}"
    if capture.add(text) and capture.show:
        log.warning("%s: %s", capture.name, text, extra={_NAMED: capture.name})


def _install() -> None:
    logger = logging.getLogger(_PACKAGE)
    router = _Router(logger.propagate)
    if warnings.showwarning is not _show_warning:  # (left in place by a hook that put it back late: kept)
        _SAVED["showwarning"] = warnings.showwarning
    _SAVED.update(router=router, propagate=logger.propagate, always=_ALWAYS in warnings.filters)
    logger.handlers = [router, *logger.handlers]  # first: the handlers of this logger see the named line too
    logger.propagate = False  # the router passes the records on
    warnings.showwarning = _show_warning


def _uninstall() -> None:
    logger = logging.getLogger(_PACKAGE)
    logger.handlers = [h for h in logger.handlers if h is not _SAVED["router"]]
    logger.propagate = _SAVED["propagate"]
    if warnings.showwarning is _show_warning:
        warnings.showwarning = _SAVED["showwarning"]
    if not _SAVED["always"]:
        with contextlib.suppress(ValueError):
            warnings.filters.remove(_ALWAYS)
    # the hook put back stays known: a warning of another thread may be on its way through _show_warning
    for key in ("router", "propagate", "always"):
        del _SAVED[key]


@contextlib.contextmanager
def input_messages(name: str, /, *, show: bool | None = None) -> Iterator[list[str]]:
    """Collect the warnings raised while one input is processed, and name the input in the lines shown.

    Parameters
    ----------
    name : str
        The input as the lines name it (:func:`input_label`).
    show : bool or None
        Log each warning at once as ``name: text``. None: when not inside a Dask task (there the
        client shows them, :func:`relay_messages`), or as the enclosing capture of this thread does.

    Yields
    ------
    list of str
        The texts of the warnings in the order raised, each once: ``Category: message`` for a Python
        warning, the message for a logged one. Inside a capture of the same name (of this thread: one step
        of the input, e.g. its segmentation, inside the whole of its work) that capture's list, which goes
        on; inside one of another name, a list of its own, passed on to the enclosing one when it closes.
    """
    thread = threading.get_ident()
    with _LOCK:
        stack = _STACKS.get(thread, [])
        if stack and stack[-1].name == name:  # a step of the input being processed: its capture goes on
            reuse = stack[-1]
        else:
            reuse = None
    if reuse is not None:
        yield reuse.messages
        return
    with _LOCK:
        if show is None:
            show = stack[-1].show if stack else not _in_dask_task()
        capture = _Capture(name, bool(show))
        if not _STACKS:
            _install()
        _STACKS.setdefault(thread, []).append(capture)
        # every UserWarning is shown (not once per place in the code: the next input raises it too); adding the
        # filter again also forgets which warnings were shown before
        warnings.simplefilter(*_ALWAYS[:1], category=UserWarning)
    try:
        yield capture.messages
    finally:
        with _LOCK:
            stack = _STACKS[thread]
            stack.remove(capture)
            if stack:
                for text in capture.messages:
                    stack[-1].add(text)
            else:
                del _STACKS[thread]
            if not _STACKS:
                _uninstall()


def current_messages() -> list[str]:
    """The warnings collected so far by the innermost capture of this thread (none open: empty)."""
    with _LOCK:
        stack = _STACKS.get(threading.get_ident())
        return list(stack[-1].messages) if stack else []


def _in_dask_task() -> bool:
    from labelfree._threads import in_dask_worker

    return in_dask_worker()


def input_label(item: Any, /) -> str:
    """An input as warnings name it: its path relative to the working folder (as a folder given on the command
    line names it; absolute outside it), with the image series read when the input names one."""
    path = Path(item.path)
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        relative = str(path)
    shown = str(path) if relative.startswith("..") else relative
    return shown + (f" (series {item.series})" if getattr(item, "series", None) is not None else "")


def join_messages(messages: Any, /) -> str:
    """Warning texts as one summary cell (each once, in order)."""
    return SEPARATOR.join(dict.fromkeys(m for m in messages if m))


def split_messages(cell: Any, /) -> list[str]:
    """The warning texts of a summary cell (:func:`join_messages`); empty for an empty or missing cell."""
    return [m for m in cell.split(SEPARATOR) if m] if isinstance(cell, str) else []


def relay_messages(item: Any, row: dict[str, Any], /) -> None:
    """Log the warnings of ``row`` (an input that ran in a Dask task), each as one line naming ``item``."""
    for text in split_messages(row.get("warnings")):
        log.warning("%s: %s", input_label(item), text, extra={_NAMED: input_label(item)})
