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
* A sink opened with ``passes_on=True`` and ``always=None`` (:func:`recording`: a run of
  :func:`labelfree.run.run_pipeline`) changes nothing about what is shown: it receives what the filters
  let through in its thread and passes each warning on to where it would have gone without it (the next
  sink out, whose ``always`` then applies as before; else the display in place, so the caller's filters
  and ``catch_warnings`` still see it).

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

__all__ = ["adopting", "forget_shown", "recording", "sink", "sinks_in", "warning_text"]

Receive = Callable[[Any, type, str, int], None]


class _Sink:
    """One open sink: what receives the warnings, the category it records always (None: as the filters say),
    whether it adopts threads, whether it passes each warning on."""

    __slots__ = ("receive", "always", "adopts", "passes_on")

    def __init__(self, receive: Receive, always: type[Warning] | None, adopts: bool, passes_on: bool) -> None:
        self.receive, self.always, self.adopts, self.passes_on = receive, always, adopts, passes_on


class _InSinkThreads:
    """The message pattern of LabelFree's filter for ``category``: it matches any text, in a thread whose warnings
    go to a sink that records that category always (directly, or passed on to it), and in no other thread."""

    def __init__(self, category: type[Warning]) -> None:
        self.category = category

    def match(self, text: str) -> bool:  # what warnings calls on a filter's message pattern
        route = _route(threading.get_ident(), threading.current_thread() is threading.main_thread())
        return any(entry.always is self.category for entry in route)

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


def _route(thread: int, main: bool) -> tuple[_Sink, ...]:
    """The sinks a warning of ``thread`` goes to, in order: its innermost one, and the next ones out while each
    passes it on; for a thread of none (or of sinks that all pass it on) but the main one, then the adopting sink
    of the only thread with one open. Empty, or ending with a sink that passes it on: it is shown too."""
    stacks, adopter = _VIEW
    route: list[_Sink] = []
    for entry in reversed(stacks.get(thread, ())):
        route.append(entry)
        if not entry.passes_on:
            return tuple(route)
    if not main and adopter is not None and adopter not in route:
        route.append(adopter)
    return tuple(route)


def _publish() -> None:
    """Renew the view the hook reads (under the lock)."""
    global _VIEW
    stacks = {thread: tuple(stack) for thread, stack in _STACKS.items()}
    adopting = [[s for s in stack if s.adopts][-1] for stack in stacks.values() if any(s.adopts for s in stack)]
    _VIEW = (stacks, adopting[0] if len(adopting) == 1 else None)


def _show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """``warnings.showwarning`` while sinks are open: a warning of a thread with a sink goes to it (and on, while
    the sinks pass it on)."""
    route = _route(threading.get_ident(), threading.current_thread() is threading.main_thread())
    for entry in route:
        entry.receive(message, category, filename, lineno)
    if route and not route[-1].passes_on:
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


def _put_filters(categories: set[type[Warning] | None]) -> None:
    """One filter first in ``warnings.filters`` for each of ``categories`` (again where a ``catch_warnings`` of
    another thread put back a list without it), and none for another category (under the lock); None: no filter."""
    categories = {category for category in categories if category is not None}
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
def sink(receive: Receive, /, *, always: type[Warning] | None = Warning, adopts: bool = False,
         passes_on: bool = False) -> Iterator[None]:
    """Send the warnings this thread raises inside the block to ``receive`` (none is shown, unless passed on).

    Parameters
    ----------
    receive : callable
        ``receive(message, category, filename, lineno)``: the warning (a ``Warning`` or its text), its class and
        where it was raised. Called in the thread that warned.
    always : type
        Warnings of this category reach ``receive`` whatever the filters say (each time, not once per place in
        the code); others only where the filters let them through. ``Warning``: all of them; None: none (the
        filters decide, or the ``always`` of the sink a warning is passed on to).
    adopts : bool
        Also receive the warnings of threads with no sink, but the main one, while this is the only thread
        with an adopting sink open (the worker threads of what this thread runs).
    passes_on : bool
        After ``receive``, the warning goes where it would have gone without this sink: to the next sink out
        in this thread (or the adopting one, as for a thread without sinks), else to the display in place.

    Notes
    -----
    Safe with sinks of other threads open at the same time (``warnings.catch_warnings`` is not);
    the threads without one keep their filters, their once-per-place registries and their display.
    """
    entry = _Sink(receive, always, adopts, passes_on)
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


@contextlib.contextmanager
def recording() -> Iterator[dict[str, None]]:
    """Record the warnings this thread shows inside the block, and show them as without it.

    Yields
    ------
    dict
        An ordered set (its keys): the :func:`warning_text` of each warning shown, each once, in the order first
        shown. Filled as they are shown; a run's provenance records it sorted (``warnings``).

    Notes
    -----
    A sink that passes every warning on (``passes_on=True``, ``always=None``): the filters decide as without it
    (``"error"`` raises, and nothing is recorded; ``"ignore"`` hides it, and it is not recorded), Python's display,
    a ``showwarning`` or ``catch_warnings`` in place, and an enclosing sink (a batch input's, which records its
    categories always, so then they are recorded here too) get it as they would have. Only this thread's
    warnings are recorded. The once-per-place registries forget what they showed when the block begins
    (:func:`forget_shown`): a warning shown before (an earlier run) is shown and recorded again when raised in
    the block; inside the block, once per place, as Python shows it.
    """
    shown: dict[str, None] = {}

    def receive(message: Any, category: type, filename: str, lineno: int) -> None:
        shown.setdefault(warning_text(message, category), None)

    forget_shown()
    with sink(receive, always=None, passes_on=True):
        yield shown


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
