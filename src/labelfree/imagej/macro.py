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
    """Register the "LabelFree ..." commands, "LabelFree Segment File" (a pipeline on an image on disk,
    :mod:`labelfree.imagej.files`) and "LabelFree Doctor" (its report in the Log) in the running ImageJ 1.x
    (ij.Menus)."""
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

    from labelfree.imagej.files import FILE_COMMAND, FILE_TITLE

    titles = {**command_titles(), FILE_TITLE: FILE_COMMAND, DOCTOR_TITLE: "doctor"}
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
        from labelfree.imagej.files import FILE_COMMAND, run_file_command

        if str(command) == FILE_COMMAND:
            run_file_command(None if options is None else str(options), dialog=options is None)
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
    """Run ImageJ macro code with the real interpreter (as IJ.runMacro does).

    ``args`` is the macro's argument: what ``getArgument()`` returns inside it.

    Returns the macro's return value. A LabelFree command that failed inside the
    macro is re-raised here with its original type; any other abort raises
    :class:`MacroError` with the interpreter's own error text and line (``Number or numeric function expected
    in line 3``), as ImageJ's "Macro Error" dialog gives them, and what the Log holds. A command whose
    dialog was cancelled is no failure: the macro goes on (as after ImageJ's own commands) and its value is
    returned.
    """
    global _LAST_ERROR
    from scyjava import jimport

    IJ = jimport("ij.IJ")
    interp = jimport("ij.macro.Interpreter")()
    _LAST_ERROR = None
    try:  # what IJ.runMacro (Macro_Runner.runMacro) does, keeping the interpreter to ask for its error
        result = interp.run(code, args)
    except Exception as exc:  # noqa: BLE001 - a Java exception that ended the macro
        interp.abortMacro()
        IJ.showStatus("")
        IJ.showProgress(1.0)
        current = jimport("ij.WindowManager").getCurrentImage()
        if current is not None:
            current.unlock()
        result = "[aborted]"
        said = _interpreter_error(interp)
        if said and _LAST_ERROR is None:
            # headless: the interpreter's error dialog itself threw (HeadlessException); its error is the message
            _LAST_ERROR = MacroError(f"The macro was aborted: {said}.")
        elif str(getattr(exc, "getMessage", lambda: "")() or "") != str(jimport("ij.Macro").MACRO_CANCELED):
            _LAST_ERROR = _LAST_ERROR or MacroError(f"The macro failed: {exc}")
    error, _LAST_ERROR = _LAST_ERROR, None
    if error is not None:
        raise error
    text = None if result is None else str(result)
    if text == "[aborted]":
        said = _interpreter_error(interp)
        logged = str(IJ.getLog() or "").strip()
        raise MacroError(f"The macro was aborted{': ' + said if said else ''}"
                         f"{' (Log: ' + logged + ')' if logged else ''}.")
    return text or ""


def _interpreter_error(interp: Any, /) -> str:
    """The error of a macro interpreter that stopped, as the first line of ImageJ's "Macro Error" dialog says it
    (the message and ``in line N``, the line as the interpreter counts it); "" when it has none."""
    message = interp.getErrorMessage()
    if message is None or not str(message).strip():
        return ""
    line = int(interp.getLineNumber())
    return f"{str(message).strip()}{f' in line {line}' if line > 0 else ''}"
