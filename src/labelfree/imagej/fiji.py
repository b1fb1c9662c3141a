"""Entry points of the Fiji scripts in ``fiji_scripts/`` (Fiji's Python mode, JVM already running)."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from labelfree.errors import LabelFreeError

__all__ = ["run_script", "run_file_script", "run_doctor"]

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Java strings/boxed numbers from SciJava -> Python values."""
    if value is None or isinstance(value, (bool, int, float, str, list, tuple)):
        return value
    text = str(value)
    if text in ("true", "false") and type(value).__name__ in ("java.lang.Boolean", "JBoolean"):
        return text == "true"
    return text


def _macro_options() -> str:
    """The options of the macro call running this script ("" when run from the menu)."""
    from scyjava import jimport

    text = jimport("ij.Macro").getOptions()
    return "" if text is None else str(text)


def run_script(command: str, imp: Any, namespace: Mapping[str, Any], /) -> Any:
    """Run a LabelFree command from a SciJava script whose ``#@`` parameters sit in ``namespace``.

    Parameters
    ----------
    command : str
        Command key ("threshold", "motion", ...).
    imp : ij.ImagePlus
        The script's ``#@ ImagePlus imp`` input (the active image); a macro call's
        ``image=[title]`` names another input instead, as it does in ImageJ.
    namespace : mapping
        The script's globals: the basic fields' values, and the "advanced options"
        checkbox, which opens the advanced pages. Keys of the macro call that are not
        script parameters (every option of the command is a macro key) are read from
        the macro's own options.

    Returns
    -------
    labelfree.imagej.fields.CommandResult
    """
    from scyjava import jimport

    from labelfree.imagej.commands import macro_variable, run_command
    from labelfree.imagej.fields import ADVANCED_KEY, command_fields
    from labelfree.imagej.jvm import start
    from labelfree.options import parse_macro_options

    start()  # attaches to Fiji's running JVM
    fields = command_fields(command)
    options = {f.key: _plain(namespace[f.key]) for f in fields if f.key != "image" and f.key in namespace}
    raw = _macro_options()
    if raw:  # every key of the macro call, also those that are no script parameter
        options.update(parse_macro_options(raw, fields, ignore=(ADVANCED_KEY,), variables=macro_variable))
    if options.get("image"):  # the macro's image=[title] names the input; SciJava's imp is just the active image
        imp = None
    advanced = bool(_plain(namespace.get(ADVANCED_KEY, False))) and not raw
    try:
        return run_command(command, imp, options=options, dialog="advanced" if advanced else False)
    except LabelFreeError as exc:
        jimport("ij.IJ").log(f"LabelFree error: {exc}")
        raise


def run_file_script(namespace: Mapping[str, Any], /) -> Any:
    """Run "LabelFree Segment File" from its SciJava script, whose ``#@`` parameters sit in ``namespace`` (the
    keys a macro call gives win; an optional file left empty is None, read as empty).

    Returns
    -------
    labelfree.imagej.files.FileRun
    """
    from scyjava import jimport

    from labelfree.imagej.commands import macro_variable
    from labelfree.imagej.files import file_fields, run_file_command
    from labelfree.imagej.jvm import start
    from labelfree.options import parse_macro_options

    start()  # attaches to Fiji's running JVM
    fields = file_fields()
    values = {f.key: _plain(namespace[f.key]) for f in fields if f.key in namespace}
    values = {k: "" if v is None else v for k, v in values.items()}
    raw = _macro_options()
    if raw:
        values.update(parse_macro_options(raw, fields, variables=macro_variable))
    try:
        return run_file_command(values)
    except LabelFreeError as exc:
        jimport("ij.IJ").log(f"LabelFree error: {exc}")
        raise


def run_doctor() -> int:
    """Print the doctor's report to ImageJ's Log window; return the number of problems."""
    from scyjava import jimport

    from labelfree.imagej.doctor import checkup, format_report

    checks = checkup()
    IJ = jimport("ij.IJ")
    for line in format_report(checks).splitlines():
        IJ.log(line)
    return sum(1 for c in checks if not c.ok and c.needed)
