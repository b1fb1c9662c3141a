"""The "LabelFree ..." commands as real ImageJ 1.x commands, and macros run from Python.

:func:`register_commands` puts every command into ImageJ's command table as
``labelfree.LabelFreeCommand("<key>")``; that compiled plug-in calls back into
:func:`labelfree.imagej.commands.run_command` through a JPype proxy, on the macro
(or menu) thread, so ``Macro.getOptions()``, the Recorder and batch mode behave as
for any ImageJ command.
"""

from __future__ import annotations

import logging
from typing import Any

from labelfree.errors import Cancelled, LabelFreeError

__all__ = ["DOCTOR_TITLE", "MacroError", "register_commands", "run_macro"]

log = logging.getLogger(__name__)

_PROXY: Any = None
_LAST_ERROR: BaseException | None = None

#: the command that writes :func:`labelfree.imagej.doctor.doctor`'s report to the Log (no image, no options)
DOCTOR_TITLE = "LabelFree Doctor"


class MacroError(LabelFreeError, RuntimeError):
    """An ImageJ macro run from Python failed or was aborted."""


def register_commands() -> list[str]:
    """Register the "LabelFree ..." commands, and "LabelFree Doctor" (its report in the Log), in the running
    ImageJ 1.x (ij.Menus)."""
    global _PROXY
    import jpype
    from scyjava import jimport

    LabelFreeCommand = jimport("labelfree.LabelFreeCommand")
    handler = jpype.JClass("labelfree.LabelFreeCommand$Handler")
    _PROXY = jpype.JProxy(handler, dict={"run": _handle})
    LabelFreeCommand.setHandler(_PROXY)
    Menus = jimport("ij.Menus")
    table = Menus.getCommands()
    if table is None:
        # Headless ImageJ 1.x cannot build its AWT menus, so it has no command table and
        # run("...") fails; give it one holding the LabelFree commands.
        table = jimport("java.util.Hashtable")()
        field = Menus.class_.getDeclaredField("pluginsTable")
        field.setAccessible(True)
        field.set(None, table)
    from labelfree.imagej.fields import command_titles

    titles = {**command_titles(), DOCTOR_TITLE: "doctor"}
    instance = jimport("ij.IJ").getInstance()
    for title, key in titles.items():
        plugin = f'labelfree.LabelFreeCommand("{key}")'
        if instance is not None and table.get(title) is None:  # a menu item under Plugins as well
            Menus.installPlugin(plugin, Menus.PLUGINS_MENU, title, "", instance)
        table.put(title, plugin)
    return list(titles)


def _handle(command: Any, options: Any) -> str | None:
    """Called by LabelFreeCommand (Java) on the macro/menu thread; returns an error or None."""
    global _LAST_ERROR
    from labelfree.imagej.commands import run_command

    try:
        if str(command) == "doctor":
            from labelfree.spec import load

            # bound late, as the pipelines' checks are: the doctor looks for Java through jvm, which imports this
            load("labelfree.imagej.fiji:run_doctor")()  # the report goes to the Log; what is missing is no error
            return None
        run_command(str(command), None, options=None if options is None else str(options), dialog=options is None)
        return None
    except Cancelled as exc:
        if options is None:  # the user cancelled the dialog or pressed Esc: no error dialog
            from scyjava import jimport

            IJ = jimport("ij.IJ")
            IJ.showStatus(str(exc))
            if IJ.escapePressed():  # Esc stops a running macro, as it does ImageJ's own
                _LAST_ERROR = exc
            # else a cancelled dialog: the macro goes on, as after ImageJ's own commands, and is no error
            return None
        _LAST_ERROR = exc
        return str(exc)  # inside a macro: stop the macro, say why in the Log
    except LabelFreeError as exc:
        _LAST_ERROR = exc
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any pipeline failure goes to the log/dialog
        _LAST_ERROR = exc
        log.exception("LabelFree %s failed", command)
        return f"{type(exc).__name__}: {exc}"


def run_macro(code: str, /, *, args: str = "") -> str:
    """Run ImageJ macro code with the real interpreter (IJ.runMacro).

    Returns the macro's return value. A LabelFree command that failed inside the
    macro is re-raised here with its original type; any other abort raises
    :class:`MacroError`. A command whose dialog was cancelled is no failure: the
    macro goes on (as after ImageJ's own commands) and its value is returned.
    """
    global _LAST_ERROR
    from scyjava import jimport

    IJ = jimport("ij.IJ")
    _LAST_ERROR = None
    result = IJ.runMacro(code, args)
    error, _LAST_ERROR = _LAST_ERROR, None
    if error is not None:
        raise error
    text = None if result is None else str(result)
    if text == "[aborted]":
        raise MacroError(f"The macro was aborted (see the Log window): {IJ.getLog() or ''}".strip())
    return text or ""
