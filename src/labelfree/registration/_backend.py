"""Choice between the Fiji plugin and the pure-Python implementation."""

from __future__ import annotations

import logging
import sys

from labelfree.errors import ConfigError

__all__ = ["BACKENDS", "fiji_plugin_running", "choose_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "fiji", "python")


def fiji_plugin_running(command: str) -> bool:
    """True when a JVM runs in this process and its ImageJ has the menu ``command``.

    Never starts Java: without a running JVM the answer is False.
    """
    jpype = sys.modules.get("jpype")
    if jpype is None or not jpype.isJVMStarted():
        return False
    from labelfree.imagej.plugins import plugin_installed

    return plugin_installed(command)


def choose_backend(backend: str, command: str, *, task: str) -> str:
    """Resolve ``backend`` to ``"fiji"`` or ``"python"`` and log the choice.

    ``"fiji"`` without the plugin raises :class:`labelfree.errors.FijiPluginMissingError`
    (from :func:`labelfree.imagej.plugins.require_plugin`).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}.")
    if backend == "python":
        log.info("%s: using the Python implementation (backend='python').", task)
        return "python"
    if backend == "fiji":
        from labelfree.imagej.plugins import require_plugin

        require_plugin(command)
        log.info("%s: using Fiji's %r plugin.", task, command)
        return "fiji"
    if fiji_plugin_running(command):
        log.info("%s: a running Fiji has %r; using it (backend='auto').", task, command)
        return "fiji"
    log.info("%s: no running Fiji with %r; using the Python implementation (backend='auto').", task, command)
    return "python"
