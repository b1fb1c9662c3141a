"""The "LabelFree <Pipeline>" commands: current image in; label image, ROIs and table out.

One generic machinery serves every pipeline of :data:`labelfree.pipelines.PIPELINES`:
the config dataclass gives the macro keys and the dialog, the pipeline's
``segment`` does the work. The same :func:`run_command` is called by

* the ImageJ 1.x menu commands registered by :func:`register_commands` (a
  compiled ``labelfree.LabelFreeCommand`` plug-in calls back into Python), so
  ``run("LabelFree Threshold", "min_size=30")`` works in real macros and is recorded;
* the Fiji SciJava scripts in ``fiji_scripts/``;
* Python code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from typing import Any, Iterator

from labelfree.errors import Cancelled, InputError
from labelfree.imagej.macro import MacroError, register_commands, run_macro  # noqa: F401 - re-exported
from labelfree.imagej.options import Field, config_fields, format_macro_options, parse_macro_options

__all__ = [
    "CommandResult",
    "MacroError",
    "OUTPUT_FIELDS",
    "command_titles",
    "command_fields",
    "register_commands",
    "run_command",
    "run_macro",
]

log = logging.getLogger(__name__)

#: options every command has besides its pipeline's config
OUTPUT_FIELDS: tuple[Field, ...] = (
    Field("image", "str", "", help="title of the input image (default: the current image)"),
    Field("rois", "choice", "append", ("append", "replace", "none"), help="ROI Manager output"),
    Field("table", "bool", True, help="show a results table of the objects"),
)
#: outputs of the image-to-image tools (drift correction, stitching)
TOOL_OUTPUT_FIELDS: tuple[Field, ...] = (OUTPUT_FIELDS[0], Field("table", "bool", True, help="show the shifts/positions table"))
#: extra inputs of some commands (beyond their config)
EXTRA_FIELDS: dict[str, tuple[Field, ...]] = {
    "cutter": (Field("markers", "choice", "detect", ("detect", "roi_manager"),
                     help="detect markers, or use the ROI Manager's points/areas"),),
    "fusion": (Field("zoo", "str", "", help="model zoo folder (empty: LabelFree's model cache)"),),
    "stitch": (Field("rows", "int", 1, help="tile rows"), Field("cols", "int", 1, help="tile columns")),
}
#: image -> image commands: key -> (module, function, config class, description)
TOOLS: dict[str, tuple[str, str, str, str]] = {
    "drift": ("labelfree.registration", "correct_drift", "DriftConfig", "Correct stage drift (a translation per frame)"),
    "stitch": ("labelfree.registration", "stitch", "StitchConfig", "Stitch the planes of a stack, taken as grid tiles"),
}

@dataclasses.dataclass
class CommandResult:
    """What a command produced (Python side)."""

    labels: Any  # xarray.DataArray
    label_image: Any  # ij.ImagePlus
    n_rois: int
    table: Any  # pandas.DataFrame or None
    options: str  # the full macro options string that reproduces this run


def command_titles() -> dict[str, str]:
    """Menu title -> command key, e.g. ``{"LabelFree Threshold": "threshold", ...}``."""
    from labelfree.pipelines import PIPELINES

    return {f"LabelFree {name.capitalize()}": name for name in (*PIPELINES, *TOOLS)}


def _command_key(command: str) -> str:
    titles = command_titles()
    if command in titles:
        return titles[command]
    key = command.lower().removeprefix("labelfree").strip()
    if key not in titles.values():
        raise InputError(f"Unknown LabelFree command {command!r}; available: {', '.join(titles)}.")
    return key


def command_fields(command: str, /) -> list[Field]:
    """Every macro key of a command: its pipeline's config, extra inputs, then the outputs."""
    key = _command_key(command)
    outputs = TOOL_OUTPUT_FIELDS if key in TOOLS else OUTPUT_FIELDS
    return [*config_fields(_find(key).config_class), *EXTRA_FIELDS.get(key, ()), *outputs]


def _find(key: str) -> Any:
    """The pipeline (or tool) behind a command: .name, .segment, .config_class, .description."""
    if key in TOOLS:
        import importlib

        from labelfree.pipelines import Pipeline

        module_name, function, config_name, description = TOOLS[key]
        module = importlib.import_module(module_name)
        return Pipeline(key, getattr(module, function), getattr(module, config_name), description)
    from labelfree.pipelines import get_pipeline

    return get_pipeline(key)


def _resolve_image(imp: Any, title: str) -> Any:
    from scyjava import jimport

    WindowManager = jimport("ij.WindowManager")
    if imp is not None:
        return imp
    if title:
        found = WindowManager.getImage(title)
        if found is None and WindowManager.getWindow(title) is not None:
            raise InputError(f"{title!r} is a {WindowManager.getWindow(title).getClass().getSimpleName()} window, "
                             "not an image: give the title of an image window.")
        if found is None:
            open_titles = [str(t) for t in (WindowManager.getImageTitles() or [])]
            raise InputError(f"No open image is titled {title!r}; open images: {open_titles or 'none'}.")
        return found
    current = WindowManager.getCurrentImage()
    if current is None:
        raise InputError("There is no image open: open or select an image, then run the command again.")
    return current


def _read_options(fields: list[Field], options: str | dict[str, Any] | None) -> dict[str, Any]:
    values = {f.key: f.default for f in fields}
    if isinstance(options, dict):
        by_key = {f.key: f for f in fields}
        from labelfree.imagej.options import coerce_value

        for key, value in options.items():
            if key not in by_key:
                parse_macro_options(f"{key}=x", fields)  # raises the unknown-key error
            values[key] = coerce_value(by_key[key], value)
    elif options:
        values.update(parse_macro_options(options, fields))
    return values


def run_command(
    command: str,
    image: Any = None,
    /,
    *,
    options: str | dict[str, Any] | None = None,
    dialog: bool = False,
) -> CommandResult:
    """Run a LabelFree command on an ImagePlus and put its results into ImageJ.

    Parameters
    ----------
    command : str
        "threshold" or "LabelFree Threshold" (any key of :func:`command_titles`).
    image : ij.ImagePlus, optional
        Input; default the image named by the ``image`` option, else the current image.
    options : str or dict, optional
        Macro options (``"min_size=30 rois=replace"``) or a dict of the same keys.
        Missing keys keep their defaults.
    dialog : bool
        Show the dialog (with ``options`` as initial values). When cancelled,
        :class:`~labelfree.errors.Cancelled` is raised.

    Returns
    -------
    CommandResult
        The labels (DataArray, dims of the image without C), the label ImagePlus
        (shown, titled ``"<title>-labels"``), the number of ROIs added, the table,
        and the options string that reproduces the run.
    """
    key = _command_key(command)
    title = next(t for t, k in command_titles().items() if k == key)
    pipeline = _find(key)
    fields = command_fields(key)
    values = _read_options(fields, options)
    imp = _resolve_image(image, values["image"])
    from labelfree.imagej.convert import imageplus_to_xarray

    da = imageplus_to_xarray(imp)
    if dialog:
        from labelfree.imagej.dialog import show_dialog
        from labelfree.image import channel_names

        picked = show_dialog(title, [f for f in fields if f.key != "image"], defaults=values,
                             channels=channel_names(da), help=pipeline.description)
        if picked is None:
            raise Cancelled(f"{title} was cancelled; nothing was changed.")
        values.update(picked)
        _record(title, values, fields)
    n_config = len(config_fields(pipeline.config_class))
    config = pipeline.config_class.from_dict({f.key: values[f.key] for f in fields[:n_config]})
    if key in TOOLS:
        from labelfree.imagej.tools import run_tool

        return run_tool(key, title, pipeline, imp, da, config, values, fields)
    return _execute(key, title, pipeline, imp, da, config, values, fields)


def _record(title: str, values: dict[str, Any], fields: list[Field]) -> None:
    """Replace what GenericDialog recorded by the full, explicit option string."""
    from scyjava import jimport

    Recorder = jimport("ij.plugin.frame.Recorder")
    if not Recorder.class_.getField("record").getBoolean(None):  # the field, not the record() methods
        return
    Recorder.resetCommandOptions()
    Recorder.setCommand(title)
    for f in fields:
        if f.key == "image" and not values.get("image"):
            continue
        text = format_macro_options({f.key: values[f.key]}, [f])
        Recorder.recordOption(f.key, text.split("=", 1)[1].strip("[]"))


def _execute(key, title, pipeline, imp, da, config, values, fields) -> CommandResult:
    from labelfree.imagej.dialog import ImageJProgress
    from labelfree.imagej.labels import labels_to_imageplus, show_image
    from labelfree.imagej.rois import labels_to_roimanager

    inputs: dict[str, Any] = {}
    if key == "cutter" and values.get("markers") == "roi_manager":
        inputs["markers"] = _markers_from_roimanager(da)
    if key == "fusion" and values.get("zoo"):
        inputs["zoo"] = values["zoo"]
    sink = ImageJProgress(title)
    with relay_warnings(title):
        try:
            labels = pipeline.segment(da, config=config, progress=sink, **inputs)
        except Cancelled:
            sink.finish("cancelled")
            raise
        sink.finish(f"{int(labels.max()) if labels.size else 0} objects")
        label_imp = labels_to_imageplus(labels, like=imp)
    label_imp.setTitle(f"{imp.getTitle()}-labels")
    show_image(label_imp)
    n_rois = 0
    if values["rois"] != "none":
        n_rois = labels_to_roimanager(labels, replace=values["rois"] == "replace")
    table = None
    if values["table"]:
        from labelfree.imagej.tables import table_to_resultstable
        from labelfree.measure import measure_objects

        table = measure_objects(labels, image=da)
        table_to_resultstable(table, title=f"{imp.getTitle()}-objects", show=True)
    recorded = {k: v for k, v in values.items() if k != "image"}
    return CommandResult(labels, label_imp, n_rois, table, format_macro_options(recorded, fields))


@contextlib.contextmanager
def relay_warnings(title: str) -> Iterator[None]:
    """Show warnings raised inside a command in ImageJ's Log window, then re-issue them for Python."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if caught:
        from scyjava import jimport

        IJ = jimport("ij.IJ")
        for w in caught:
            IJ.log(f"{title} warning: {w.message}")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _markers_from_roimanager(da: Any) -> Any:
    from labelfree.imagej.roi_labels import roimanager_to_labels

    dims = "".join(d for d in da.dims if d != "C")
    markers = roimanager_to_labels(None, shape=tuple(da.sizes[d] for d in dims), dims=dims)
    if not markers.any():
        raise InputError(
            "markers=roi_manager but the ROI Manager holds no ROI inside the image: add one point "
            "(or area) per cell, or use markers=detect."
        )
    return markers
