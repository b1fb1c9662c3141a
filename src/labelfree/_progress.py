"""Progress reporting and cancellation shared by every long-running step.

Every pipeline takes ``progress=`` which may be

* ``False`` / ``None``: silent;
* ``True``: a tqdm bar when tqdm is installed, else one log line per step
  (numpy bools and the integers 0 and 1 count as bools);
* an object with ``update(n)`` (tqdm-like); if it has ``set_description`` or
  ``total`` they are used too;
* a tqdm-like class (``tqdm``, ``tqdm.notebook.tqdm``, ...): a bar of that class
  is made with ``total=`` and ``desc=`` and closed at the end;
* a callable ``f(done, total, message)``.

Anything else is refused with :class:`labelfree.errors.InputError` when the
:class:`Progress` is made, before the step's work starts.

Cancellation: the callable (or ``update``) may raise
:class:`labelfree.errors.Cancelled`, or the object may expose ``cancelled``
(a bool attribute or a zero-argument callable) that is polled at every step.
The Fiji bridge uses this to connect ImageJ's Esc key / Cancel button.
"""

from __future__ import annotations

import inspect
import logging
import numbers
import reprlib
from typing import Any, Callable

import numpy as np

from labelfree.errors import Cancelled, InputError

__all__ = ["Progress", "ProgressLike", "check_cancel"]

log = logging.getLogger(__name__)

ProgressLike = Any  # bool | None | tqdm-like | Callable[[int, int, str], object]


def _is_cancelled(obj: Any) -> bool:
    flag = getattr(obj, "cancelled", False)
    return bool(flag() if callable(flag) else flag)


def check_cancel(progress: ProgressLike) -> None:
    """Raise :class:`Cancelled` if the progress object asks for it."""
    if progress is not None and progress is not False and progress is not True and _is_cancelled(progress):
        raise Cancelled("Cancelled by the user; no output was written.")


_TAKES = ("progress= takes True or False (or None), an object with an update(n) method such as a tqdm bar, "
          "a tqdm-like class such as tqdm.auto.tqdm, or a function f(done, total, message)")


def _as_bool(progress: Any) -> bool | None:
    """``progress`` as a bool when it is one (numpy bools and the integers 0 and 1 included), else None."""
    if progress is None:
        return False
    if isinstance(progress, (bool, np.bool_)):
        return bool(progress)
    if isinstance(progress, numbers.Integral):
        if int(progress) in (0, 1):
            return bool(progress)
        raise InputError(f"progress={reprlib.repr(progress)} is not understood: {_TAKES}. "
                         "Use progress=True for a bar.")
    return None


def _check_callback(progress: Callable[..., object]) -> None:
    """Refuse a callable that cannot be called as ``f(done, total, message)``."""
    try:
        signature = inspect.signature(progress)
    except (TypeError, ValueError):  # some built-ins have no signature: trust them
        return
    try:
        signature.bind(0, 1, "")
    except TypeError:
        name = getattr(progress, "__name__", type(progress).__name__)
        raise InputError(f"progress={name} cannot be called as f(done, total, message): its signature is "
                         f"{name}{signature}. {_TAKES}; give it three parameters, e.g. "
                         "lambda done, total, message: ...") from None


class Progress:
    """Counts steps of one job and forwards them to the user's progress sink.

    Use as a context manager::

        with Progress(progress, total=n, desc="Motion") as bar:
            for ...:
                bar.update(message=f"frame {t}")
    """

    def __init__(self, progress: ProgressLike, *, total: int, desc: str = "") -> None:
        self.total = int(total)
        self.desc = desc
        self.done = 0
        self._sink = progress
        self._own_bar = None
        self._callback: Callable[[int, int, str], object] | None = None
        as_bool = _as_bool(progress)
        if as_bool is not None:
            progress = self._sink = as_bool
        if isinstance(progress, type):
            progress = self._sink = self._own_bar = _make_bar(progress, total=self.total, desc=desc)
        elif progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self._sink = None
            else:
                self._own_bar = tqdm(total=self.total, desc=desc, leave=False)
                self._sink = self._own_bar
        elif progress is None or progress is False:
            self._sink = None
        elif not hasattr(progress, "update") and callable(progress):
            _check_callback(progress)
            self._callback = progress
        elif not hasattr(progress, "update"):
            raise InputError(f"progress={reprlib.repr(progress)} ({type(progress).__name__}) is not understood: "
                             f"{_TAKES}.")
        elif hasattr(progress, "total") and not getattr(progress, "total", None):
            try:
                progress.total = self.total
            except AttributeError:
                pass
        self._log_each = progress is True and self._own_bar is None

    def __enter__(self) -> "Progress":
        check_cancel(self._sink)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, *, message: str = "") -> None:
        """Advance by ``n`` steps; raise :class:`Cancelled` when cancel was asked."""
        self.done += n
        if self._callback is not None:
            self._callback(self.done, self.total, message or self.desc)
        elif self._sink is not None:
            if message and hasattr(self._sink, "set_postfix_str"):
                self._sink.set_postfix_str(message, refresh=False)
            self._sink.update(n)
        if self._log_each:
            log.info("%s %d/%d %s", self.desc, self.done, self.total, message)
        check_cancel(self._sink if self._callback is None else self._callback)

    def close(self) -> None:
        if self._own_bar is not None:
            self._own_bar.close()
            self._own_bar = None


def _make_bar(cls: type, *, total: int, desc: str) -> Any:
    """A bar of the tqdm-like class ``cls`` (given as ``progress=tqdm``), made with ``total=`` and ``desc=``."""
    if not callable(getattr(cls, "update", None)):
        raise InputError(f"progress={cls.__name__} is a class without an update(n) method: {_TAKES}.")
    try:
        return cls(total=total, desc=desc, leave=False)
    except TypeError:
        try:
            return cls(total=total, desc=desc)
        except TypeError as exc:
            raise InputError(f"progress={cls.__name__}: a bar could not be made as {cls.__name__}(total=..., "
                             f"desc=...) ({exc}). Pass a bar you made yourself, e.g. progress={cls.__name__}(...)"
                             ) from exc
