"""SciJava script parameters (``#@`` lines): a validating parser and the LabelFree Fiji scripts.

SciJava reads parameter lines at the top of a script (``#@ type name``,
``#@ type (key=value, ...) name``, ``#@output type name``) until the first line with
a word character that is not a parameter. :func:`parse_script_parameters` follows
those rules and is stricter where a mistake would silently break a script in
Fiji: unknown type names, unknown attribute keys, unbalanced quotes or braces,
duplicate names and a ``value`` outside ``choices`` are errors.

The Fiji menu scripts are rendered from the pipelines' config dataclasses
(:func:`render_script`), so their parameter names are always the macro keys.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from labelfree.errors import InputError

__all__ = ["ScriptParameter", "ScriptSyntaxError", "parse_script_parameters", "render_script", "write_scripts", "script_files"]

KNOWN_TYPES = {
    "byte", "short", "int", "long", "float", "double", "boolean", "char",
    "Byte", "Short", "Integer", "Long", "Float", "Double", "Boolean", "Character", "Number",
    "String", "File", "File[]", "ColorRGB", "Object",
    "ImagePlus", "ImageJ", "Dataset", "ImgPlus", "Img", "ImageDisplay", "RoiManager", "ResultsTable",
    "Context", "LogService", "StatusService", "UIService", "CommandService", "ScriptService",
    "OpService", "DatasetService", "ConvertService", "PrefService",
}
KNOWN_ATTRS = {
    "callback", "choices", "columns", "description", "initializer", "validater", "type", "label", "max", "min",
    "name", "persist", "persistKey", "required", "softMax", "softMin", "stepSize", "style", "visibility", "value",
}
IO_TYPES = {"input", "output", "both"}
_ATTR = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*")
_BARE = re.compile(r"[^,}\s][^,}]*")

def script_files() -> dict[str, str]:
    """Command key -> file name under scripts/Plugins/LabelFree/ (menu label "LabelFree <Title>")."""
    from labelfree.pipelines import pipelines, tools

    from labelfree.imagej.files import FILE_COMMAND

    names = {s.name: f"LabelFree_{s.title}.py" for s in (*pipelines().values(), *tools().values())}
    return {**names, FILE_COMMAND: "LabelFree_Segment_File.py", "doctor": "LabelFree_Doctor.py"}


class ScriptSyntaxError(InputError):
    """A ``#@`` parameter line is not valid SciJava syntax."""


@dataclasses.dataclass(frozen=True)
class ScriptParameter:
    """One ``#@`` parameter: io is "input", "output" or "both"."""

    name: str
    type: str
    io: str
    attrs: dict[str, Any]
    line: int


def _parse_value(text: str, pos: int, where: str) -> tuple[Any, int]:
    if text[pos] in "\"'":
        end = text.find(text[pos], pos + 1)
        if end < 0:
            raise ScriptSyntaxError(f"{where}: unterminated string starting at {text[pos:pos + 20]!r}.")
        return text[pos + 1:end], end + 1
    if text[pos] == "{":
        items, pos = [], pos + 1
        while True:
            while pos < len(text) and text[pos] in " ,":
                pos += 1
            if pos >= len(text):
                raise ScriptSyntaxError(f"{where}: a choices list '{{' is not closed with '}}'.")
            if text[pos] == "}":
                return items, pos + 1
            value, pos = _parse_value(text, pos, where)
            items.append(value)
    m = _BARE.match(text, pos)
    if not m:
        raise ScriptSyntaxError(f"{where}: missing value at {text[pos:pos + 20]!r}.")
    raw = m.group(0).strip()
    for conv in (int, float):
        try:
            return conv(raw), m.end()
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.lower(), raw), m.end()


def _parse_attrs(text: str, where: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    pos = 0
    while pos < len(text.rstrip()):
        m = _ATTR.match(text, pos)
        if not m:
            raise ScriptSyntaxError(f"{where}: expected key=value at {text[pos:pos + 20]!r}.")
        key = m.group(1)
        if key not in KNOWN_ATTRS:
            raise ScriptSyntaxError(f"{where}: unknown attribute {key!r}; SciJava knows {', '.join(sorted(KNOWN_ATTRS))}.")
        value, pos = _parse_value(text, m.end(), where)
        attrs[key] = value
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text.rstrip()):
            raise ScriptSyntaxError(f"{where}: expected ',' between attributes at {text[pos:pos + 20]!r}.")
    return attrs


def parse_script_parameters(text: str, /) -> list[ScriptParameter]:
    """Parse and validate the ``#@`` header of a SciJava script.

    Raises
    ------
    ScriptSyntaxError
        With the line number and what is wrong.
    """
    params: list[ScriptParameter] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not re.match(r"^[^\w]*@", line):
            if re.search(r"\w", line):
                break
            continue
        where = f"line {number}"
        body = line[line.index("@") + 1:]
        attrs: dict[str, Any] = {}
        if "(" in body or ")" in body:
            left, right = body.find("("), body.rfind(")")
            if left < 0 or right < left:
                raise ScriptSyntaxError(f"{where}: unbalanced parentheses in {line.strip()!r}.")
            attrs = _parse_attrs(body[left + 1:right], where)
            body = body[:left] + " " + body[right + 1:]
        tokens = body.split()
        io = "input"
        if tokens and tokens[0].lower() in IO_TYPES:
            io = tokens.pop(0).lower()
        if len(tokens) != 2:
            raise ScriptSyntaxError(f"{where}: expected '#@ [io] Type name', got {line.strip()!r}.")
        type_name, name = tokens
        if type_name not in KNOWN_TYPES:
            raise ScriptSyntaxError(f"{where}: unknown parameter type {type_name!r}.")
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ScriptSyntaxError(f"{where}: {name!r} is not a valid variable name.")
        if any(p.name == name for p in params):
            raise ScriptSyntaxError(f"{where}: parameter {name!r} is declared twice.")
        if "choices" in attrs and "value" in attrs and attrs["value"] not in attrs["choices"]:
            raise ScriptSyntaxError(f"{where}: value {attrs['value']!r} is not one of the choices {attrs['choices']}.")
        params.append(ScriptParameter(name, type_name, io, attrs, number))
    return params


def _quote(text: Any) -> str:
    return '"' + str(text).replace('"', "'") + '"'


def _parameter_line(field: Any) -> str:
    from labelfree.options import format_macro_options

    from labelfree.imagej.fields import channel_keys

    attrs = []
    value = field.default
    description = field.help
    if channel_keys([field]):  # Fiji counts channels from 1: the script shows and passes them so
        if isinstance(value, int) and not isinstance(value, bool):
            value = value + 1
        description = f"{description} Channels count from 1, as in ImageJ."
    if field.kind == "bool":
        type_name, attrs = "boolean", [f"value={'true' if value else 'false'}"]
    elif field.kind == "int" and value is not None:
        type_name, attrs = "int", [f"value={int(value)}"]
    elif field.kind == "float" and value is not None:
        type_name, attrs = "double", [f"value={float(value)!r}"]
    else:
        type_name = "String"
        if field.kind == "choice":
            attrs.append("choices={" + ", ".join(_quote(c) for c in field.choices) + "}")
        text = format_macro_options({field.key: value}, [field]).split("=", 1)[1].strip("[]")
        attrs.append(f"value={_quote(text)}")
    if description:
        attrs.append(f"description={_quote(description)}")
    return f"#@ {type_name} ({', '.join(attrs)}) {field.key}"


def render_script(command: str, /) -> str:
    """The Fiji Python-mode script of a LabelFree command.

    Its parameters are the command's basic fields (the macro keys), plus an "advanced
    options" checkbox that opens the advanced pages; a macro may give every key of the
    command (the script reads the macro's options itself).
    """
    from labelfree.imagej.files import FILE_COMMAND

    if command == FILE_COMMAND:
        return _file_script()
    if command == "doctor":
        return (
            "#@ LogService log\n\n"
            "# LabelFree Doctor: checks Java, ImageJ/Fiji, pyimagej, torch, GPU and cellpose models.\n"
            "from labelfree.imagej.fiji import run_doctor\n\n"
            "run_doctor()\n"
        )
    from labelfree.imagej.fields import ADVANCED_KEY, command_fields, command_spec, split_fields

    spec = command_spec(command)
    basic, groups = split_fields(command_fields(command))
    lines = ["#@ ImagePlus imp"]
    lines += [_parameter_line(f) for f in basic]
    if groups:
        lines.append(f'#@ boolean (value=false, description="Show the other options ({", ".join(groups)}) in '
                     f'further pages; macros may give them directly.") {ADVANCED_KEY}')
    lines += [
        "",
        f"# {spec.menu_title}: Plugins > LabelFree. {spec.summary}.",
        "# Generated by labelfree.imagej.scripts from the pipeline's spec and config; every option key also",
        f'# works in a macro: run("{spec.menu_title}", "key=value ..."). docs/options.md lists them all.',
        "from labelfree.imagej.fiji import run_script",
        "",
        f'result = run_script("{spec.name}", imp, globals())',
        "",
    ]
    return "\n".join(lines)


def _file_script() -> str:
    """The script of "LabelFree Segment File": its fields, the image a file chooser. The output folder stays a
    text box, as Fusion's ``zoo`` does: a SciJava file parameter left empty is not recorded, and its replay asks
    for a file."""
    from labelfree.imagej.files import FILE_TITLE, file_fields

    lines = []
    for f in file_fields():
        if f.key == "input":
            lines.append(f'#@ File (style="open", description={_quote(f.help)}) {f.key}')
        elif f.kind == "str" and f.default == "":
            lines.append(_parameter_line(f).replace("#@ String (", "#@ String (required=false, ", 1))
        else:
            lines.append(_parameter_line(f))
    lines += [
        "",
        f"# {FILE_TITLE}: Plugins > LabelFree. A pipeline run on an image file or OME-Zarr folder that is not open",
        "# (read from disk, in tiles when asked), its label image, ROIs and table then opened. Generated by",
        "# labelfree.imagej.scripts; every key also works in a macro:",
        f'# run("{FILE_TITLE}", "input=[/data/cells.ome.zarr] pipeline=threshold options=[min_size=50]").',
        "from labelfree.imagej.fiji import run_file_script",
        "",
        "result = run_file_script(globals())",
        "",
    ]
    return "\n".join(lines)


def write_scripts(folder: str | Path, /) -> list[Path]:
    """Render every LabelFree script into ``folder`` (atomic writes); return the paths.

    ``python -m labelfree.imagej.scripts fiji_scripts`` refreshes the repository copies.
    """
    from labelfree.io.atomic import write_text_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for command, name in script_files().items():
        write_text_atomic(folder / name, render_script(command))
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m labelfree.imagej.scripts [FOLDER]``: render the scripts into FOLDER (default fiji_scripts)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m labelfree.imagej.scripts",
        description="Render LabelFree's Fiji scripts into a folder (the repository's copies: fiji_scripts). "
                    "To install them into a Fiji, use: labelfree fiji install FIJI_DIR.")
    parser.add_argument("folder", nargs="?", default="fiji_scripts", help="where to write them (default: fiji_scripts)")
    args = parser.parse_args(argv)
    for path in write_scripts(args.folder):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":  # refresh the repository copies: python -m labelfree.imagej.scripts fiji_scripts
    raise SystemExit(main())
