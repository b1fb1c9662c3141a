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
warns. A capture is a sink of :mod:`labelfree._warning_hooks` that records every ``UserWarning``
(each time, not once per place in the code: the next input raises it too) and the other categories
the filters let through; a tiled run inside the input records its tiles' warnings in sinks of its
own and says them once, merged, to the input. A warning from a thread of no input (a pipeline's
own worker threads) goes to the one input running, or, while several run, is shown as it would be
without a batch run; the main thread's, when it runs no input, always is. When an input begins,
Python's once-per-place registries forget what they showed (as a change of the filters makes
them), so that a warning shown before the input is the input's too when it raises it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from labelfree import _warning_hooks

__all__ = ["input_messages", "current_messages", "input_label", "relay_messages", "join_messages",
           "split_messages", "SEPARATOR"]

log = logging.getLogger(__name__)

#: between two warnings of one input in the summary's ``warnings`` column
SEPARATOR = " | "
#: attribute of a log record that already names its input (not collected again)
_NAMED = "labelfree_input"
#: the logger whose warnings are collected (every LabelFree module logs below it)
_PACKAGE = "labelfree"


class _Capture:
    """The warnings of one input: its name, whether they are shown at once, their texts in order; it receives
    the Python warnings of its thread (a sink of :mod:`labelfree._warning_hooks`)."""

    def __init__(self, name: str, show: bool) -> None:
        self.name, self.show = name, show
        self.messages: list[str] = []

    def add(self, text: str) -> bool:
        """Keep ``text``; False when this input had it already (e.g. from another frame chunk)."""
        if text in self.messages:
            return False
        self.messages.append(text)
        return True

    def __call__(self, message: Any, category: type, filename: str, lineno: int) -> None:
        """A Python warning of this input: kept, and shown as a line that names the input."""
        text = _warning_hooks.warning_text(message, category)
        if self.add(text) and self.show:
            log.warning("%s: %s", self.name, text, extra={_NAMED: self.name})


def _captures_in(thread: int | None) -> list[_Capture]:
    """The captures open in ``thread``, outermost first (a tile's sink among them is not one)."""
    return [s for s in _warning_hooks.sinks_in(thread) if isinstance(s, _Capture)] if thread is not None else []


def _capture_of(thread: int | None, main: bool) -> _Capture | None:
    """The innermost capture of ``thread``; for a thread of none but the main one, the only input running."""
    own = _captures_in(thread)
    if own:
        return own[-1]
    adopted = _warning_hooks.adopting(main=main)
    return adopted if isinstance(adopted, _Capture) else None


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


_LOCK = threading.Lock()
#: the captures open in all threads, and the router with what it replaced while one is
_ROUTER: dict[str, Any] = {"open": 0}


@contextlib.contextmanager
def _routed_log() -> Iterator[None]:
    """The ``labelfree`` logger's records through the router while the block runs (the first block of all
    threads puts it in place, the last one takes it away)."""
    logger = logging.getLogger(_PACKAGE)
    with _LOCK:
        if _ROUTER["open"] == 0:
            router = _Router(logger.propagate)
            _ROUTER.update(router=router, propagate=logger.propagate)
            logger.handlers = [router, *logger.handlers]  # first: the handlers of this logger see the named line too
            logger.propagate = False  # the router passes the records on
        _ROUTER["open"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _ROUTER["open"] -= 1
            if _ROUTER["open"] == 0:
                router = _ROUTER.pop("router")
                logger.handlers = [h for h in logger.handlers if h is not router]
                logger.propagate = _ROUTER.pop("propagate")


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
    own = _captures_in(thread)
    if own and own[-1].name == name:  # a step of the input being processed: its capture goes on
        yield own[-1].messages
        return
    if show is None:
        show = own[-1].show if own else not _in_dask_task()
    capture = _Capture(name, bool(show))
    # what was shown before the input is shown again for it: Python's once-per-place registries forget it
    _warning_hooks.forget_shown()
    try:
        with _routed_log(), _warning_hooks.sink(capture, always=UserWarning, adopts=True):
            yield capture.messages
    finally:
        outer = _captures_in(thread)
        if outer:
            for text in capture.messages:
                outer[-1].add(text)


def current_messages() -> list[str]:
    """The warnings collected so far by the innermost capture of this thread (none open: empty)."""
    own = _captures_in(threading.get_ident())
    return list(own[-1].messages) if own else []


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
