"""Choice between a Fiji plugin and the pure-Python implementation.

The Fiji backends live in the bridge (:mod:`labelfree.imagej.registration`), which
registers them here when ImageJ/Fiji starts in this process; this package never
imports the bridge. Without a registered backend, "auto" means Python and "fiji"
is an error that says how to start Fiji.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

from labelfree.errors import ConfigError, FijiError

__all__ = ["BACKENDS", "FijiBackend", "register_fiji_backend", "fiji_backend", "fiji_plugin_running", "choose_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "fiji", "python")


@dataclasses.dataclass(frozen=True)
class FijiBackend:
    """A Fiji implementation of a registration task, registered by the bridge.

    Attributes
    ----------
    command : str
        The Fiji menu command it runs (e.g. "Correct 3D drift").
    run : callable
        The function, with the signature of the task's Fiji backend.
    installed : callable
        ``installed()`` -> whether the running ImageJ has the command.
    require : callable
        ``require()`` raises :class:`~labelfree.errors.FijiPluginMissingError` saying
        how to install the command.
    """

    command: str
    run: Callable[..., Any]
    installed: Callable[[], bool]
    require: Callable[[], None]


_BACKENDS: dict[str, FijiBackend] = {}


def register_fiji_backend(task: str, backend: FijiBackend, /) -> None:
    """Make ``backend`` the Fiji implementation of ``task`` ("drift", "stitch")."""
    _BACKENDS[task] = backend


def fiji_backend(task: str, /) -> Callable[..., Any]:
    """The registered Fiji function of ``task`` (FijiError when none is)."""
    found = _BACKENDS.get(task)
    if found is None:
        raise FijiError(_no_fiji(task))
    return found.run


def _no_fiji(task: str) -> str:
    return (
        f"The Fiji backend of {task} needs a running Fiji: start one in this process first "
        "(Python: labelfree.imagej.start('/path/to/Fiji.app'); the commands drift, stitch and batch: --fiji DIR), "
        "or use the Python backend (backend='python'; a pipeline's drift_correction=python)."
    )


def fiji_plugin_running(task: str) -> bool:
    """True when a Fiji with the task's plugin runs in this process (never starts Java)."""
    found = _BACKENDS.get(task)
    return bool(found is not None and found.installed())


def choose_backend(backend: str, task: str, *, task_name: str = "") -> str:
    """Resolve ``backend`` to ``"fiji"`` or ``"python"`` for ``task`` and log the choice.

    ``"fiji"`` without a running Fiji raises :class:`~labelfree.errors.FijiError`, and
    without the plugin :class:`~labelfree.errors.FijiPluginMissingError`.
    """
    what = task_name or task
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}.")
    if backend == "python":
        log.info("%s: using the Python implementation (backend='python').", what)
        return "python"
    found = _BACKENDS.get(task)
    if backend == "fiji":
        if found is None:
            raise FijiError(_no_fiji(what))
        found.require()
        log.info("%s: using Fiji's %r plugin.", what, found.command)
        return "fiji"
    if found is not None and found.installed():
        log.info("%s: a running Fiji has %r; using it (backend='auto').", what, found.command)
        return "fiji"
    log.info("%s: no running Fiji with the plugin; using the Python implementation (backend='auto').", what)
    return "python"
