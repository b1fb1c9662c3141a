"""The macro keys and dialog fields of the "LabelFree ..." commands, generated from the registry.

A command's fields are its pipeline's (or tool's) config fields, its extra inputs
(markers, zoo, ...), and the fields every command shares: the input image, the
channel (one-channel pipelines), the outputs (ROI Manager, results table, an optional
output folder) and a config file. Each field knows whether it is *basic* (shown in the
first dialog) or advanced (its group's page of the advanced step); macros accept every
key. Pure Python: no JVM is needed to list them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from labelfree.options import Field, config_fields

__all__ = ["CommandResult", "command_titles", "command_spec", "command_fields", "split_fields", "recordable",
           "ADVANCED_KEY", "channel_keys", "channels_from_config", "channels_from_imagej", "channels_to_imagej",
           "imagej_channel_label", "path_kind", "own_channel_names"]

#: the dialog's checkbox that opens the advanced pages (a dialog control, not a macro key)
ADVANCED_KEY = "advanced_options"

_IMAGE = Field("image", "str", "", help="Title of the input image (default: the current image).", basic=False,
               group="input", cli="the INPUT argument")
_CHANNEL = Field("channel", "scalar", None, optional=True, basic=True, group="input", cli="--channel C",
                 help="Channel to segment (index or name). Fiji: default the channel shown in the image window. "
                      "Command line (--channel) and batch: needed only when the image has several different "
                      "channels; a one-channel image needs none.")
_ROIS = Field("rois", "choice", "append", ("append", "replace", "none"), basic=True, group="outputs",
              cli="none, it always writes <stem>_rois.zip",
              help="Add one ROI per object and frame to the ROI Manager, replace its ROIs, or add none.")
_TABLE = Field("table", "bool", True, basic=True, group="outputs",
               cli="none, it always writes <stem>_table.csv",
               help="Show a results table with one row per object and frame.")
_TOOL_TABLE = Field("table", "bool", True, basic=True, group="outputs", help="Show the shifts or tile positions table.",
                    cli="--shifts CSV")
_OUTPUT = Field("output", "str", "", basic=False, group="outputs", cli="-o/--out DIR",
                help="Also save the label image, ROI zip, table and provenance into this folder (empty: don't).")
_OVERWRITE = Field("overwrite", "bool", False, basic=False, group="outputs", cli="--overwrite",
                   help="Allow replacing earlier results in the output folder (and an existing saved model).")
_CONFIG_FILE = Field("config_file", "str", "", basic=False, group="outputs", cli="--config FILE",
                     help="Read option values from this JSON/YAML config file; options given here win.")


@dataclasses.dataclass
class CommandResult:
    """What a command produced (Python side)."""

    labels: Any  # xarray.DataArray
    label_image: Any  # ij.ImagePlus
    n_rois: int
    table: Any  # pandas.DataFrame or None
    options: str  # the full macro options string that reproduces this run
    files: dict | None = None  # output files written (the ``output`` option)


def command_titles() -> dict[str, str]:
    """Menu title -> command key, e.g. ``{"LabelFree Threshold": "threshold", ...}``."""
    from labelfree.pipelines import pipelines, tools

    return {s.menu_title: s.name for s in (*pipelines().values(), *tools().values())}


def command_spec(command: str, /) -> Any:
    """The PipelineSpec or ToolSpec of a command key or menu title."""
    from labelfree.pipelines import get_command

    return get_command(command)


#: the word the command line writes for a path option's value -> what that option holds
_PATH_WORDS = {"FILE": "file", "FOLDER": "folder", "DIR": "folder"}


def path_kind(field: Field, /) -> str:
    """What a text field holds: ``"file"``, ``"folder"``, or ``""`` when it holds no path.

    The command line's placeholder of the same option says it: the shared fields' (``-o/--out DIR``,
    ``--config FILE``) and each extra input's, which :func:`_input_flag` writes from the input's kind
    (``--zoo FOLDER``; ``--model-file FILE``; a file the command writes, ``--save-model-file FILE``). A Fiji
    dialog gives such a field ImageJ's Browse button (a file or a folder chooser).

    Examples
    --------
    >>> [path_kind(f) for f in command_fields("threshold") if f.key in ("image", "output", "config_file")]
    ['', 'folder', 'file']
    """
    if field.kind != "str" or not field.cli:
        return ""
    return _PATH_WORDS.get(field.cli.split()[-1], "")


def _input_field(inp: Any) -> Field:
    if inp.kind == "choice" or inp.roi_manager:
        choices = inp.choices or (inp.absent, "roi_manager")
        return Field(inp.macro_key, "choice", choices[0], tuple(choices), help=inp.fiji_help or inp.help,
                     basic=inp.basic, group="inputs", cli=_input_flag(inp))
    return Field(inp.macro_key, "str", inp.absent, help=inp.help, basic=inp.basic, group="inputs",
                 cli=_input_flag(inp))


def _input_flag(inp: Any) -> str:
    if inp.kind == "choice":
        return f"{inp.flag} {{{','.join(inp.choices)}}}"
    return f"{inp.flag} {'FILE' if inp.kind == 'output' else inp.kind.upper()}"


def command_fields(command: str, /) -> list[Field]:
    """Every macro key of a command: config, extra inputs, then the shared fields."""
    spec = command_spec(command)
    fields = list(config_fields(spec.config_class))
    if spec.kind == "tool":
        if spec.takes == "tiles":
            auto = "rows=0 cols=0: the grid and its order found from the overlaps of the tiles"
            fields += [Field("rows", "int", 0, help=f"Tile rows of the grid (0: from cols and the number of tiles; "
                             f"{auto}).", basic=True, group="inputs", range=">= 0", cli="--grid ROWSxCOLS"),
                       Field("cols", "int", 0, help=f"Tile columns of the grid (0: from rows and the number of "
                             f"tiles; {auto}).", basic=True, group="inputs", range=">= 0", cli="--grid ROWSxCOLS")]
        table = dataclasses.replace(_TOOL_TABLE, cli="--positions CSV") if spec.takes == "tiles" else _TOOL_TABLE
        return [*fields, _IMAGE, table, _CONFIG_FILE]
    fields += [_input_field(inp) for inp in spec.inputs]
    shared = [_IMAGE] + ([_CHANNEL] if spec.channels == "one" else [])
    return [*fields, *shared, _ROIS, _TABLE, _OUTPUT, _OVERWRITE, _CONFIG_FILE]


def split_fields(fields: list[Field], /) -> tuple[list[Field], dict[str, list[Field]]]:
    """(basic fields, advanced fields by group) in declaration order; ``image`` is in neither."""
    basic = [f for f in fields if f.basic and f.key != "image"]
    groups: dict[str, list[Field]] = {}
    for f in fields:
        if not f.basic and f.key != "image":
            groups.setdefault(f.group or "other", []).append(f)
    return basic, groups


def recordable(values: dict[str, Any], /) -> dict[str, Any]:
    """The values a recorded macro line gives: every option, but no empty file options and no config
    file (its values are written out one by one), no automatic channel and no image title unless set."""
    skip = {"config_file"}
    skip.update(k for k in ("image", "output", "channel") if values.get(k) in (None, ""))
    if not values.get("output"):
        skip.add("overwrite")
    return {k: v for k, v in values.items() if k not in skip}


def own_channel_names(names: list[str], /) -> bool:
    """Whether an image's channel names are its own, not the ``C0``..``Cn-1`` LabelFree gives channels without
    names (which a Fiji user counts as C1..Cn)."""
    return len(names) > 1 and list(names) != [f"C{i}" for i in range(len(names))]


def channel_keys(fields: list[Field], /) -> dict[str, bool]:
    """The channel options among ``fields``: key -> True when it lists several channels (``cell_channels``,
    Fusion's ``channels``), False for one (``channel``, ``nucleus_channel``)."""
    return {f.key: f.kind == "list" for f in fields
            if f.key in ("channel", "channels") or f.key.endswith(("_channel", "_channels"))}


def one_channel_from_imagej(key: str, value: Any, names: list[str], named: bool) -> int | str:
    """One channel as a Fiji user writes it (a number from 1, ``C1``..``Cn`` or a name) -> the 0-based index,
    or the name of a named channel (kept, so that the provenance names it); ``key`` names it in the ConfigError
    (in ImageJ's terms) of a channel the image does not have. Used for the channel fields
    (:func:`channels_from_imagej`) and for channels a value names as keys (Fusion's ``model_file=[C1=a.pt]``)."""
    from labelfree.errors import ConfigError
    from labelfree.image import channel_by_name, parse_channel

    n = max(1, len(names))
    listed = ", ".join(f"{k + 1} ({name})" if named else str(k + 1) for k, name in enumerate(names)) or "1"
    channel = parse_channel(value)
    if isinstance(channel, str):
        if named and (channel in names or any(name.casefold() == channel.casefold() for name in names)):
            channel_by_name(names, channel)  # an error for names differing only in case
            return channel
        number = channel[1:] if channel[:1] in ("C", "c") else ""
        if not number.isdigit():
            if named:
                channel_by_name(names, channel)  # the error, with a near name
            raise ConfigError(f"{key}={channel!r} is no channel of this image: its {n} channel(s) have no names; "
                              f"give a number from 1 to {n} or C1 to C{n} (ImageJ counts channels from 1).")
        channel, written = int(number), f"{key}={channel}"
    else:
        written = f"{key}={channel}"
    if channel == 0:
        raise ConfigError(f"{written} is no channel: ImageJ counts channels from 1 (the C slider, "
                          f"Stack.setChannel(1), Split Channels' C1-), so the first channel is {key}=1; "
                          f"this image has {n} channel(s): {listed}. Recorded macros of older LabelFree versions "
                          "counted from 0: add 1 to their channel numbers.")
    if not 1 <= channel <= n:
        raise ConfigError(f"{written} is out of range: this image has {n} channel(s), numbered from 1 as "
                          f"ImageJ does: {listed}.")
    return channel - 1


def channels_from_imagej(values: dict[str, Any], keys: dict[str, bool], names: list[str], /, *,
                         named: bool) -> dict[str, Any]:
    """``values`` with the channel options (``keys``, :func:`channel_keys`) read as ImageJ counts: numbers
    from 1 and ``C1``..``Cn`` become the 0-based indices the pipelines take; names of a named image stay.

    Parameters
    ----------
    values : dict
        Option values as typed in a macro or a Fiji dialog (auto/None and empty lists stay).
    keys : dict
        The channel keys to read.
    names : list of str
        The image's channel names, in order (any, when ``named`` is False: only their number counts).
    named : bool
        The channels have names of their own (not ImageJ's C1..Cn).

    Raises
    ------
    ConfigError
        A channel 0 (ImageJ counts from 1), a number beyond the image's channels or an unknown name.
    """
    out = dict(values)
    for key, many in keys.items():
        value = out.get(key)
        if value is None or value == "" or value == ():
            continue
        if many:
            items = value if isinstance(value, (list, tuple)) else (value,)
            out[key] = tuple(one_channel_from_imagej(key, v, names, named) for v in items)
        else:
            out[key] = one_channel_from_imagej(key, value, names, named)
    return out


def _one_from_config(value: Any, names: list[str], named: bool) -> Any:
    """One channel as a config file (or the command line) writes it -> the 0-based index, or the name of a
    named channel; a value that is no channel of the image stays as it is (the run says what is wrong)."""
    from labelfree.errors import LabelFreeError
    from labelfree.image import channel_by_name, parse_channel

    try:
        channel = parse_channel(value)
    except LabelFreeError:
        return value
    n = len(names)
    if isinstance(channel, int):
        return channel % n if -n <= channel < n else channel
    if named:
        return channel
    try:  # the pipelines' names of unnamed channels count from 0: C1 is the second channel
        return channel_by_name(names, channel)
    except LabelFreeError:
        return channel


def channels_from_config(values: dict[str, Any], keys: dict[str, bool], names: list[str], /, *,
                         named: bool) -> dict[str, Any]:
    """``values`` with the channel options read as a config file and the command line write them (from 0):
    indices, negative ones from the end, and ``C0``..``Cn-1``, the pipelines' names of unnamed channels,
    become 0-based indices; names of a named image stay.

    :func:`channels_to_imagej` of the result says the same channels as ImageJ counts them (from 1), so that
    the options string of a run whose channels came from a ``config_file`` replays those channels.
    Values already read by :func:`channels_from_imagej` are unchanged.

    Parameters
    ----------
    values : dict
        Option values (auto/None and empty lists stay).
    keys : dict
        The channel keys to read (:func:`channel_keys`).
    names : list of str
        The image's channel names, in order (``C0``..``Cn-1`` when it has none).
    named : bool
        The channels have names of their own (not the default ones).

    Examples
    --------
    >>> channels_from_config({"channel": "C1", "cell_channels": (-1, "C0")},
    ...                      {"channel": False, "cell_channels": True}, ["C0", "C1", "C2"], named=False)
    {'channel': 1, 'cell_channels': (2, 0)}
    """
    out = dict(values)
    for key, many in keys.items():
        value = out.get(key)
        if value is None or value == "" or value == ():
            continue
        if many and isinstance(value, (list, tuple)):
            out[key] = tuple(_one_from_config(v, names, named) for v in value)
        else:
            out[key] = _one_from_config(value, names, named)
    return out


def channels_to_imagej(values: dict[str, Any], keys: dict[str, bool], /) -> dict[str, Any]:
    """The inverse of :func:`channels_from_imagej`: 0-based indices become ImageJ's numbers from 1 (for the
    recorded macro line and the options string of a run); names, auto and empty lists stay."""
    def number(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            text = str(v).strip()
            return int(text) + 1 if text.isdigit() else v
        return v + 1

    out = dict(values)
    for key, many in keys.items():
        value = out.get(key)
        if value is None or value == "" or value == ():
            continue
        out[key] = tuple(number(v) for v in value) if many and isinstance(value, (list, tuple)) else number(value)
    return out


def imagej_channel_label(index: int, names: list[str], /, *, named: bool) -> str:
    """``channel 2 (GFP) of 3``: a 0-based index said as ImageJ counts, with its name when it has one."""
    name = f" ({names[index]})" if named else ""
    return f"channel {index + 1}{name} of {len(names)}"
