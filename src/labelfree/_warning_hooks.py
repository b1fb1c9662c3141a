"""One hook on Python's warnings for the parts of LabelFree that record them: per thread, the innermost open sink.

A *sink* is a callable ``receive(message, category, filename, lineno)`` opened in one thread with
:func:`sink` (a tile of a tiled run records the warnings of its segment function; a batch input
collects those of its reading, segmentation and writing). Sinks of one thread nest; each thread
has its own stack of them. While any sink is open this module holds ``warnings.showwarning`` and
puts one filter per category that a sink records *always* (:func:`sink`'s ``always``) first in
``warnings.filters``; the last sink to close puts both back.

* A warning raised in a thread with an open sink goes to that thread's innermost sink, whatever
  the filters say about the categories it records always: the filter it put first matches in that
  thread only (Python asks a filter's message pattern ``match(text)``; this one answers by the
  thread), so every such warning reaches the hook, not only the first one of each place.
* A thread with no sink sees its warnings exactly as without LabelFree: LabelFree's filters do not
  match there, so the other filters, the once-per-place registry of the module that warned and
  ``"error"`` apply as before, and what they let through goes to the ``showwarning`` that was in
  place (a hook installed over this one and passing back to it does not loop).
* A sink opened with ``adopts=True`` (a batch input) also gets the warnings of the threads with no
  sink but the main one (a pipeline's own worker threads) while it is the only thread with such a
  sink open; with several open, those threads show theirs as without LabelFree.

Python checks a module's once-per-place registry before any filter: a warning that a thread with
no sink showed already (same text, category and line) is not seen again by a sink until the
registries are cleared (:func:`forget_shown`, as any change of the filters does). Sinks never add
to the registries. A warning raised in the instant its thread's last sink closes may pass the filters
as the sink's and then be shown, as no sink takes it.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["adopting", "forget_shown", "sink", "sinks_in", "warning_text"]

Receive = Callable[[Any, type, str, int], None]


class _Sink:
    """One open sink: what receives the warnings, the categories it records always, whether it adopts threads."""

    __slots__ = ("receive", "always", "adopts")

    def __init__(self, receive: Receive, always: type[Warning], adopts: bool) -> None:
        self.receive, self.always, self.adopts = receive, always, adopts


class _InSinkThreads:
    """The message pattern of LabelFree's filter for ``category``: it matches any text, in a thread whose warnings
    go to a sink that records that category always, and in no other thread."""

    def __init__(self, category: type[Warning]) -> None:
        self.category = category

    def match(self, text: str) -> bool:  # what warnings calls on a filter's message pattern
        target = _target(threading.get_ident(), threading.current_thread() is threading.main_thread())
        return target is not None and target.always is self.category

    def __repr__(self) -> str:
        return f"<labelfree: threads recording {self.category.__name__} into a sink>"


_LOCK = threading.Lock()
#: thread id -> the sinks open in that thread, innermost last (changed under the lock)
_STACKS: dict[int, list[_Sink]] = {}
#: what the hook reads without the lock, replaced whole on each change: thread id -> its stack, and the adopting sink
_VIEW: tuple[dict[int, tuple[_Sink, ...]], _Sink | None] = ({}, None)
#: the showwarning found in place by the first sink (kept once the last one closed: a hook that saved this
#: module's may call it later) and the filters put first, one per category recorded always
_STATE: dict[str, Any] = {"previous": None, "filters": {}}
_LOCAL = threading.local()


def _target(thread: int, main: bool) -> _Sink | None:
    """The sink a warning of ``thread`` goes to: its innermost one; for a thread of none but the main one, the
    adopting sink of the only thread with one open."""
    stacks, adopter = _VIEW
    stack = stacks.get(thread)
    if stack:
        return stack[-1]
    return None if main else adopter


def _publish() -> None:
    """Renew the view the hook reads (under the lock)."""
    global _VIEW
    stacks = {thread: tuple(stack) for thread, stack in _STACKS.items()}
    adopting = [[s for s in stack if s.adopts][-1] for stack in stacks.values() if any(s.adopts for s in stack)]
    _VIEW = (stacks, adopting[0] if len(adopting) == 1 else None)


def _show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """``warnings.showwarning`` while sinks are open: a warning of a thread with a sink goes to it."""
    target = _target(threading.get_ident(), threading.current_thread() is threading.main_thread())
    if target is not None:
        target.receive(message, category, filename, lineno)
        return
    original = warnings._showwarning_orig  # type: ignore[attr-defined]
    if getattr(_LOCAL, "passing", False):  # a hook installed over this one that passes back to it: no loop
        original(message, category, filename, lineno, file, line)
        return
    _LOCAL.passing = True
    try:
        (_STATE["previous"] or original)(message, category, filename, lineno, file, line)
    finally:
        _LOCAL.passing = False


def _put_filters(categories: set[type[Warning]]) -> None:
    """One filter first in ``warnings.filters`` for each of ``categories`` (again where a ``catch_warnings`` of
    another thread put back a list without it), and none for another category (under the lock)."""
    placed = _STATE["filters"]
    for category in list(placed):
        if category not in categories:
            with contextlib.suppress(ValueError):
                warnings.filters.remove(placed.pop(category))
    for category in categories:
        entry = placed.setdefault(category, ("always", _InSinkThreads(category), category, None, 0))
        if entry not in warnings.filters:
            warnings.filters.insert(0, entry)


@contextlib.contextmanager
def sink(receive: Receive, /, *, always: type[Warning] = Warning, adopts: bool = False) -> Iterator[None]:
    """Send the warnings this thread raises inside the block to ``receive`` (none is shown).

    Parameters
    ----------
    receive : callable
        ``receive(message, category, filename, lineno)``: the warning (a ``Warning`` or its text), its class and
        where it was raised. Called in the thread that warned.
    always : type
        Warnings of this category reach ``receive`` whatever the filters say (each time, not once per place in
        the code); others only where the filters let them through. ``Warning``: all of them.
    adopts : bool
        Also receive the warnings of threads with no sink, but the main one, while this is the only thread
        with an adopting sink open (the worker threads of what this thread runs).

    Notes
    -----
    Safe with sinks of other threads open at the same time (``warnings.catch_warnings`` is not);
    the threads without one keep their filters, their once-per-place registries and their display.
    """
    entry = _Sink(receive, always, adopts)
    thread = threading.get_ident()
    with _LOCK:
        if not _STACKS:  # the first sink: this module's hook in place of the one found
            if warnings.showwarning is not _show:  # (left in place by a hook that put it back late: kept)
                _STATE["previous"] = warnings.showwarning
            warnings.showwarning = _show
        _STACKS.setdefault(thread, []).append(entry)
        _put_filters({s.always for stack in _STACKS.values() for s in stack})
        _publish()
    try:
        yield
    finally:
        with _LOCK:
            stack = _STACKS[thread]
            stack.remove(entry)
            if not stack:
                del _STACKS[thread]
            _put_filters({s.always for stack in _STACKS.values() for s in stack})
            _publish()
            if not _STACKS and warnings.showwarning is _show:
                warnings.showwarning = _STATE["previous"]


def sinks_in(thread: int | None = None, /) -> tuple[Receive, ...]:
    """The ``receive`` of each sink open in ``thread`` (this one by default), outermost first."""
    stack = _VIEW[0].get(threading.get_ident() if thread is None else thread, ())
    return tuple(s.receive for s in stack)


def adopting(*, main: bool) -> Receive | None:
    """The ``receive`` that gets the warnings of a thread with no sink (``main``: the main thread, which none
    adopts): the adopting sink of the only thread with one open, or None."""
    adopter = None if main else _VIEW[1]
    return None if adopter is None else adopter.receive


def forget_shown() -> None:
    """Make Python's once-per-place registries forget the warnings they showed (as a change of the filters does):
    a warning shown before a sink opened reaches the sink when raised again."""
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()


def warning_text(message: Any, category: type, /) -> str:
    """A Python warning as a run records it (a batch input's summary and provenance, a command's provenance):
    ``Category: message``."""
    return f"{category.__name__}: {message}"
