"""Progress reporting and cancellation shared by every long-running step.

Every pipeline takes ``progress=`` which may be

* ``False`` / ``None``: silent;
* ``True``: a tqdm bar when tqdm is installed, else one log line per step;
* an object with ``update(n)`` (tqdm-like); if it has ``set_description`` or
  ``total`` they are used too;
* a callable ``f(done, total, message)``.

Cancellation: the callable (or ``update``) may raise
:class:`labelfree.errors.Cancelled`, or the object may expose ``cancelled``
(a bool attribute or a zero-argument callable) that is polled at every step.
The Fiji bridge uses this to connect ImageJ's Esc key / Cancel button.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from labelfree.errors import Cancelled

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
        if progress is True:
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
            self._callback = progress
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
