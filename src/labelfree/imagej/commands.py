"""The "LabelFree <Pipeline>" commands: current image in; label image, ROIs and table out.

One generic machinery serves every pipeline and tool of the registry
(:mod:`labelfree.pipelines`): the fields come from :mod:`labelfree.imagej.fields`,
the work from :func:`labelfree.run.run_pipeline`. The same :func:`run_command` is called by

* the ImageJ 1.x menu commands registered by :func:`labelfree.imagej.macro.register_commands`
  (a compiled ``labelfree.LabelFreeCommand`` plug-in calls back into Python), so
  ``run("LabelFree Threshold", "min_size=30")`` works in real macros and is recorded;
* the Fiji SciJava scripts in ``fiji_scripts/``;
* Python code.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import warnings
from typing import Any, Iterator

from labelfree.errors import Cancelled, ConfigError, InputError, LabelFreeError
from labelfree.imagej.fields import (ADVANCED_KEY, CommandResult, channel_keys, channels_from_config,
                                     channels_from_imagej, channels_to_imagej, command_fields, command_spec,
                                     command_titles, imagej_channel_label, own_channel_names, recordable)
from labelfree.imagej.terms import at_image_positions, in_imagej_terms, warning_line
from labelfree.options import (Field, coerce_value, config_fields, format_macro_options, parse_macro_options,
                               value_text)

__all__ = ["CommandResult", "command_titles", "command_fields", "run_command", "relay_warnings", "in_imagej_terms",
           "record_options"]

log = logging.getLogger(__name__)


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


def _given(fields: list[Field], options: str | dict[str, Any] | None) -> dict[str, Any]:
    """The typed values of the keys given in ``options`` (unknown keys are a ConfigError).

    A macro's ``key=&name`` is the value of the running macro's variable ``name``, as ImageJ's own dialogs read it
    (:func:`macro_variable`). ``advanced_options``, the dialog's checkbox that opens the other pages, is read over:
    a macro gives every key directly, and the Recorder never writes it.
    """
    if isinstance(options, dict):
        by_key = {f.key: f for f in fields}
        values = {}
        for key, value in options.items():
            if key == ADVANCED_KEY:
                continue
            if key not in by_key:
                raise ConfigError(f"Unknown option {key!r}; valid keys are: {', '.join(by_key)}.")
            values[key] = coerce_value(by_key[key], value)
        return values
    return parse_macro_options(options or "", fields, ignore=(ADVANCED_KEY,), variables=macro_variable)


def macro_variable(name: str, /) -> str | None:
    """The value of the running macro's variable ``name`` as text (a whole number without ``.0``), None when the
    macro has no variable of that name: what ``key=&name`` in a ``run("LabelFree ...", ...)`` line stands for.

    ImageJ's GenericDialog reads ``&name`` the same way, from the running ``ij.macro.Interpreter`` (its string
    variable, else its number).

    Raises
    ------
    ConfigError
        No macro is running (options given from Python or a script): there is no variable to read.
    """
    import math

    from scyjava import jimport

    interp = jimport("ij.macro.Interpreter").getInstance()
    if interp is None:
        raise ConfigError(f"&{name} names a macro variable, but no ImageJ macro is running; give the value itself.")
    text = interp.getStringVariable(name)
    if text is not None:
        return str(text)
    if name not in {str(n) for n in (interp.getVariableNames() or [])}:
        return None
    number = float(interp.getVariable2(name))
    return str(int(number)) if math.isfinite(number) and number.is_integer() else repr(number)


def _read_options(spec: Any, fields: list[Field], options: str | dict[str, Any] | None, /, *,
                  config_file: str | None = None) -> dict[str, Any]:
    """Defaults, then a ``config_file``'s values, then the given options.

    ``config_file`` (one typed in the dialog) is read instead of the options' own; a script's options (a dict)
    at their field's default then count as not given: a Fiji script passes every one of its parameters.
    """
    values = {f.key: f.default for f in fields}
    given = _given(fields, options)
    if config_file:
        if isinstance(options, dict):
            given = {k: v for k, v in given.items() if v != values.get(k)}
        given["config_file"] = config_file
    path = given.get("config_file") or values.get("config_file")
    if path:
        values.update(spec.config_class.from_file(path).to_dict())
    values.update(given)
    return values


def run_command(
    command: str,
    image: Any = None,
    /,
    *,
    options: str | dict[str, Any] | None = None,
    dialog: bool | str = False,
) -> CommandResult:
    """Run a LabelFree command on an ImagePlus and put its results into ImageJ.

    Parameters
    ----------
    command : str
        "threshold" or "LabelFree Threshold" (any key of :func:`command_titles`).
    image : ij.ImagePlus, optional
        Input; default the image named by the ``image`` option, else the current image. A LabelFree label
        image is refused as the current image (a second command without ``selectImage``); given here or
        named by ``image`` it is segmented, with a warning in the Log.
    options : str or dict, optional
        Macro options (``"min_size=30 rois=replace"``) or a dict of the same keys.
        Missing keys keep their defaults (or a ``config_file``'s values). Channel keys count from 1 as
        ImageJ does (``channel=1`` or ``C1`` is the first channel; ``channel=0`` is refused), a config file's
        from 0 as the command line's.
    dialog : bool or "advanced"
        Show the dialog (with ``options`` as initial values): the basic fields first,
        the others after "advanced options" (``"advanced"``: the advanced pages only, for
        a Fiji script whose own dialog asked the basic fields). Its channels count from 1, as
        a macro's; a ``config_file`` typed in it is read, its values taking the fields left as
        shown. When cancelled, :class:`~labelfree.errors.Cancelled` is raised.

    Returns
    -------
    CommandResult
        The labels (DataArray, dims of the image without C), the label ImagePlus
        (shown, titled ``"<title>-labels"``), the number of ROIs added, the table as shown in
        ImageJ (``<title>-objects``: a ``Label`` column with each row's ROI name, ``frame`` and ``z``
        from 1; :func:`labelfree.measure.measure_objects` of the labels gives the 0-based table of the
        command line and of ``output``), the options string that reproduces the run and the files
        written (``output``).
    """
    seen: list[Any] = []  # the ImagePlus the command runs on, once known: its title names it in the messages
    try:
        return _run_command(command, image, options=options, dialog=dialog, seen=seen)
    except LabelFreeError as exc:
        said = in_imagej_terms(str(exc))
        if seen:
            said = name_the_input(said, str(seen[0].getTitle()))
        if exc.args and said != str(exc):
            exc.args = (said, *exc.args[1:])
        raise


def _run_command(command: str, image: Any, /, *, options: str | dict[str, Any] | None,
                 dialog: bool | str, seen: list[Any]) -> CommandResult:
    from labelfree.imagej.convert import imageplus_channel_names

    spec = command_spec(command)
    title = spec.menu_title
    fields = command_fields(spec.name)
    values = _read_options(spec, fields, options)
    imp = _resolve_image(image, values["image"])
    seen.append(imp)
    if spec.kind != "tool":
        _refuse_label_image(title, imp, named=image is not None or bool(values["image"]))
    _check_frames(spec, imp)  # before the dialog, as Correct 3D Drift refuses a still image before asking
    if spec.kind != "tool":
        _check_memory(spec, imp)
    channels = imageplus_channel_names(imp)
    names, named = _imagej_channels(imp, channels)
    keys = channel_keys(fields)
    values = _with_channels(values, imp, fields, options, channels)
    if dialog:
        values = _from_dialog(spec, imp, fields, options, values, advanced_only=dialog == "advanced")
        record_options(title, _recorded_channels(spec, imp, values, keys, names, named=named), fields)
    _log_channel(title, imp, values.get("channel"), names, named=named)
    config_keys = {f.key for f in config_fields(spec.config_class)}
    config = spec.config_class.from_dict({k: v for k, v in values.items() if k in config_keys})
    replay = format_macro_options(recordable(_recorded_channels(spec, imp, values, keys, names, named=named)), fields)
    if spec.kind == "tool":
        from labelfree.imagej.tools import run_tool

        return run_tool(spec, imp, config, values, options=replay)
    return _execute(spec, imp, config, values, options=replay)


def _with_channels(values: dict[str, Any], imp: Any, fields: list[Field], options: str | dict[str, Any] | None,
                   channels: list[str], /) -> dict[str, Any]:
    """``values`` with the channels given in ``options`` counted from 0 (a macro's count from 1), an RGB image's
    colours by name, and the channel on show as the default ``channel`` of an image of several channels."""
    names, named = _imagej_channels(imp, channels)
    keys = channel_keys(fields)
    read = channels_from_imagej(_given_channels(fields, options, keys), keys, names, named=named)
    if int(imp.getBitDepth()) == 24:  # a colour by its name: Drift's channel 0 is the brightness, as unset
        read = _rgb_names(read)
    values = {**values, **read}
    if "channel" in values and values["channel"] is None and len(channels) > 1:
        values["channel"] = int(imp.getC()) - 1  # ImageJ's convention: the channel on show
    return values


def _from_dialog(spec: Any, imp: Any, fields: list[Field], options: str | dict[str, Any] | None,
                 values: dict[str, Any], /, *, advanced_only: bool) -> dict[str, Any]:
    """The values of the run after the dialog (shown with ``values``); Cancelled when it was cancelled.

    The dialog shows and reads channels as a macro gives them (from 1). A ``config_file`` typed in it is read:
    its values, then the options given (a macro's, a script's), then the fields the user changed in the dialog,
    as a macro line that gives those fields and the file would; the recorded line writes them all out.
    """
    from labelfree.imagej.convert import imageplus_channel_names
    from labelfree.imagej.dialog import show_dialog

    channels = imageplus_channel_names(imp)
    names, named = _imagej_channels(imp, channels)
    keys = channel_keys(fields)
    rgb = int(imp.getBitDepth()) == 24
    # Drift on an RGB movie's brightness (channel 0, which no colour says): shown as auto, left so for the default
    brightness = rgb and getattr(spec, "takes", None) == "movie" and str(values.get("channel")).strip() == "0"
    picked = show_dialog(spec.menu_title, fields, defaults={**values, "channel": None} if brightness else values,
                         channels=channels, names=names, named=named, help=spec.summary, advanced_only=advanced_only)
    if picked is None:
        raise Cancelled(f"{spec.menu_title} was cancelled; nothing was changed.")
    changed = {k: picked[k] for k in picked.changed}
    if rgb:  # colours typed as numbers are named, as a macro's are
        changed.update(_rgb_names({k: v for k, v in changed.items() if k in keys}))
    typed_file = str(changed.get("config_file") or "").strip()
    if typed_file:
        values = _read_options(spec, fields, options, config_file=typed_file)
        values = _with_channels(values, imp, fields, options, channels)
    else:
        values = {**values, **picked}
    values.update(changed)
    if brightness and values.get("channel") is None:
        values["channel"] = 0
    return values


def _recorded_channels(spec: Any, imp: Any, values: dict[str, Any], keys: dict[str, bool], names: list[str], /, *,
                       named: bool) -> dict[str, Any]:
    """``values`` with their channels as a macro gives them (from 1): the options string that replays the run.

    The channels of a ``config_file`` count from 0 as the command line's (``C1`` of an unnamed image is its
    second channel); they are read so first (:func:`channels_from_config`), so that ``channel=C1`` of a config
    file is recorded as ``channel=2``, not as ``channel=C1`` (which a macro reads as the first channel).
    The colours of an RGB image are recorded by name (``channel=G``); Drift's channel 0 of an RGB movie is its
    brightness, which no channel number says: it is left out, as the default it is.
    """
    read = channels_from_config(values, keys, names, named=named)
    if int(imp.getBitDepth()) == 24:  # R, G and B by name, as a macro's channel=2 is read
        if getattr(spec, "takes", None) == "movie" and str(values.get("channel")).strip() == "0":
            read.pop("channel")  # measured on the brightness (labelfree.imagej.registration): the default
        read.update(_rgb_names({k: read[k] for k in keys if k in read}))
    return channels_to_imagej(read, keys)


def _imagej_channels(imp: Any, channels: list[str], /) -> tuple[list[str], bool]:
    """The channels of ``imp`` as a Fiji user counts them: their names and whether they have names of their own
    (an RGB image: R, G and B; channels without names are ImageJ's C1..Cn, numbered from 1)."""
    if int(imp.getBitDepth()) == 24:
        return ["R", "G", "B"], True
    return list(channels), own_channel_names(channels)


def _given_channels(fields: list[Field], options: str | dict[str, Any] | None,
                    keys: dict[str, bool]) -> dict[str, Any]:
    """The channel options given in ``options`` (a macro's or a script's), as typed.

    A Fiji script passes every one of its parameters, untouched ones at their default: a channel left at
    its field's default (Drift's first channel, written 0 by the script) is the default, not a typed 0.
    """
    given = {k: v for k, v in _given(fields, options).items() if k in keys}
    if isinstance(options, dict):
        defaults = {f.key: f.default for f in fields}
        given = {k: v for k, v in given.items() if v != defaults.get(k)}
    return given


def _log_channel(title: str, imp: Any, channel: Any, names: list[str], /, *, named: bool) -> None:
    """Say in the Log which channel of a multi-channel image the command used (as ImageJ counts them)."""
    if channel is None or len(names) < 2 or int(imp.getBitDepth()) == 24:  # RGB: the notes say what was read
        return
    from scyjava import jimport

    from labelfree.image import channel_by_name

    text = str(channel).strip()
    if isinstance(channel, str) and not text.lstrip("-").isdigit():
        index = channel_by_name(names, text)
    else:
        index = int(text) % len(names)
    jimport("ij.IJ").log(f"{title} on {imp.getTitle()}: {imagej_channel_label(index, names, named=named)}")


def _rgb_names(values: dict[str, Any], /) -> dict[str, Any]:
    """The channel ``values`` of an RGB image with the 0-based indices of its colours as R, G or B."""
    return {k: tuple(_rgb_name(c) for c in v) if isinstance(v, tuple) else _rgb_name(v) for k, v in values.items()}


def _rgb_name(channel: Any) -> Any:
    """R, G or B for the 0-based index of a colour of an RGB image; a name stays."""
    return "RGB"[channel] if isinstance(channel, int) and 0 <= channel < 3 else channel


def _refuse_label_image(title: str, imp: Any, /, *, named: bool) -> None:
    """Refuse to segment a LabelFree label image (the output of an earlier command) that is merely the current
    image; an image named explicitly (``image=``, or passed from Python) is segmented, with a note in the Log."""
    if str(imp.getProperty("labelfree.labels") or "") != "true":
        return
    if named:
        from scyjava import jimport

        jimport("ij.IJ").log(f"{title} warning: {imp.getTitle()} is a LabelFree label image (object ids, not "
                             "intensities); it was named with image=, so it is segmented as asked.")
        return
    raise InputError(f"{title} was run on {imp.getTitle()!r}, a LabelFree label image (the output of an earlier "
                     "command: object ids, not intensities). Select the image to segment first "
                     "(selectImage(\"title\") in a macro, or click its window), or name it with image=[title]; "
                     f"to segment the label image itself, name it: image=[{imp.getTitle()}].")


def _check_frames(spec: Any, imp: Any) -> None:
    """A command that needs a time-lapse (Motion, Drift) refuses an image of one frame, a pipeline that
    segments 2-D planes (its spec's ``takes_z`` false) an image with Z slices, and Stitch an image that is no
    stack of 2-D tiles, before any dialog (with an empty option string in a macro, the dialog would wait for OK
    before the refusal)."""
    if getattr(spec, "needs_time", False) or getattr(spec, "takes", None) == "movie":
        from labelfree.imagej.seen import require_frames

        require_frames(imp, what=spec.menu_title)
    if getattr(spec, "takes", None) == "tiles":
        from labelfree.imagej.seen import require_tiles

        require_tiles(imp, what=spec.menu_title)
    if spec.kind == "pipeline" and not spec.takes_z:
        from labelfree.imagej.seen import require_planes
        from labelfree.pipelines import pipelines

        takes_z = " and ".join(other.menu_title for other in pipelines().values() if other.takes_z)
        require_planes(imp, what=spec.menu_title, takes_z=takes_z or "No LabelFree command")


def _check_memory(spec: Any, imp: Any) -> None:
    """A pipeline command refuses, before any dialog, an image whose pixels, labels and the pipeline's measured work
    on one plane (its spec's measured work, :func:`labelfree._label_memory.run_bytes`; of a tile, where the pipeline
    takes tiles and the whole plane's work would not fit: :func:`labelfree._label_memory.auto_tile`, as the run
    then chooses it) would take more memory than this
    process has left (:func:`labelfree.imagej.seen.require_memory`). ``LabelFree Segment File`` reads such a file as
    the command line does."""
    from labelfree._label_memory import auto_tile, run_bytes, tile_bytes
    from labelfree._threads import available_memory
    from labelfree.imagej.seen import image_bytes, require_memory

    sizes = {"T": int(imp.getNFrames()), "Z": int(imp.getNSlices()), "Y": int(imp.getHeight()),
             "X": int(imp.getWidth())}
    labels, work = run_bytes(sizes, spec)
    left = available_memory()  # beside the pixels, not read yet
    tile = auto_tile(sizes, spec, None if left is None else left - image_bytes(imp))
    if tile:  # a plane whose work cannot fit whole beside the pixels and labels is segmented in tiles
        work = tile_bytes(spec, tile)
    path = _source_path(imp)
    require_memory(imp, what=spec.menu_title, made="its labels" + " and its work on one plane" * bool(work),
                   more=labels + work,
                   advice=f"Run LabelFree Segment File on its file{f' ({path})' if path else ' (save it first)'} "
                          "instead: it reads the file as the command line does, a long Motion or Threshold movie in "
                          "chunks of frames and a large image in tiles (its tile option); or segment a part of it "
                          "(Image > Duplicate... a range of frames, or a selection).")


def record_options(title: str, values: dict[str, Any], fields: list[Field]) -> None:
    """Replace what GenericDialog recorded by the full, explicit option string."""
    from scyjava import jimport

    Recorder = jimport("ij.plugin.frame.Recorder")
    if not Recorder.class_.getField("record").getBoolean(None):  # the field, not the record() methods
        return
    Recorder.resetCommandOptions()
    Recorder.setCommand(title)
    keep = recordable(values)
    for f in fields:
        if f.key in keep:  # the value as typed: the Recorder adds the [brackets] a value with spaces needs
            Recorder.recordOption(f.key, value_text(f, values[f.key]))


def _stem_of(title: str) -> str:
    """A safe output stem from an image title (whole name without the image suffix)."""
    from labelfree.io.outputs import output_stem, plain_stem

    return plain_stem(output_stem(title.strip() or "image"))


def _source_path(imp: Any) -> str | None:
    info = imp.getOriginalFileInfo()
    if info is None or not info.directory or not info.fileName:
        return None
    import os

    return os.path.join(str(info.directory), str(info.fileName))


class _Source:
    """An image stand-in whose ``attrs["source"]`` is the file the ImagePlus was opened from."""

    def __init__(self, path: str | None) -> None:
        self.attrs = {"source": path}


def _input_values(spec: Any, values: dict[str, Any], da: Any,
                  box: tuple[int, int, int, int] | None = None, channels: int = 1) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for inp in spec.inputs:
        value = values.get(inp.macro_key)
        if inp.roi_manager and value == "roi_manager":
            inputs[inp.name] = _labels_from_roimanager(da, inp.name, box, channels)
        elif inp.given(value):
            inputs[inp.name] = value
    return inputs


def _channel_keys_from_imagej(spec: Any, inputs: dict[str, Any], imp: Any, /) -> dict[str, Any]:
    """``inputs`` with the channels that values name as keys (Fusion's ``model_file=[C1=a.pt,C2=b.pt]``,
    :attr:`labelfree.spec.Input.channel_keys`) read as ImageJ counts them, as the channel fields are: ``C1`` or
    ``1`` is the first channel of an image without channel names (``C0`` to the pipeline), a name of a named
    image stays; a channel 0 or one beyond the image's is a ConfigError in ImageJ's terms. The recorded macro
    line keeps the keys as typed."""
    from labelfree.imagej.convert import imageplus_channel_names
    from labelfree.imagej.fields import one_channel_from_imagej
    from labelfree.spec import load

    hooked = [inp for inp in spec.inputs if inp.channel_keys and inp.name in inputs]
    if not hooked:
        return inputs
    names, named = _imagej_channels(imp, imageplus_channel_names(imp))

    out = dict(inputs)
    for inp in hooked:
        def rename(key: str, what: str = f"{inp.macro_key} channel") -> str:
            channel = one_channel_from_imagej(what, key, names, named)
            return channel if isinstance(channel, str) else (names[channel] if named else f"C{channel}")

        out[inp.name] = load(inp.channel_keys)(inputs[inp.name], rename)
    return out


def _with_record(config: Any, config_file: Any, /) -> Any:
    """``config``, or, when the ``config_file`` is a run's provenance record, that record with ``config``'s
    settings: :func:`labelfree.run.run_pipeline` then repeats what the record names besides its settings (the
    thread count, a Cutter run's saved model, a Fusion run's models), as the command line's ``--config`` does."""
    from labelfree._config import decline_recorded, provenance_of
    from labelfree._reproduce import INPUT_ENTRIES

    recorded = provenance_of(config_file) if config_file else None
    if recorded is None:
        return config
    # how that run read its image (channels, names, tiles) is not taken: the image and channel are the dialog's
    return decline_recorded(type(config).coerce({**recorded.record, "config": config.to_dict()}, applies_record=True),
                            *INPUT_ENTRIES)


def _execute(spec: Any, imp: Any, config: Any, values: dict[str, Any], /, *, options: str) -> CommandResult:
    """Run the pipeline of ``spec`` on ``imp`` and put its results into ImageJ; ``options`` replays the run."""
    from labelfree._label_memory import auto_tile, memory_left
    from labelfree.imagej.dialog import ImageJProgress, relay_log_warnings
    from labelfree.imagej.labels import labels_to_imageplus, show_image
    from labelfree.imagej.rois import add_labels_to_roimanager, roi_channel
    from labelfree.imagej.seen import log_notes, paste_labels, seen_image, unique_title
    from labelfree.run import check_output_inputs, input_files, output_inputs, prepare_image, run_tiling_as_needed

    folder = None
    stem = _stem_of(str(imp.getTitle()))
    if values.get("output"):  # checked and held before any computation
        from labelfree.io import OutputFolder

        files = {"image": _source_path(imp), "config": values.get("config_file") or None}
        folder = OutputFolder(values["output"], inputs=files, overwrite=values.get("overwrite", False),
                              purpose=f"{spec.menu_title} on {imp.getTitle()}")
        folder.open()
    try:
        raw, seen, selection, notes = seen_image(spec, imp, values)
        inputs = _input_values(spec, values, raw, None if selection is None else selection[0],
                               channels=int(imp.getNChannels()))
        inputs = _channel_keys_from_imagej(spec, inputs, imp)
        if folder is not None:  # the files of the extra inputs (zoo, model files, markers) too, as on the CLI
            folder.add_inputs(input_files(spec, inputs))
            folder.plan(stem)
            folder.check_files(output_inputs(spec, inputs))
        overwrite = bool(values.get("overwrite", False))
        check_output_inputs(spec, inputs, image=_Source(_source_path(imp)), overwrite=overwrite)
        sink = ImageJProgress(spec.menu_title)
        # its pipeline's module registers the notes the Log shows (labelfree._log_notes): imported before the relay
        importlib.import_module(spec.segment.partition(":")[0])
        # the pixel positions of a run inside a selection are said in the image
        origin = (0, 0) if selection is None else (int(selection[0][0]), int(selection[0][1]))
        with relay_warnings(spec.menu_title, image=str(imp.getTitle()), origin=origin), \
                relay_log_warnings(spec.menu_title, image=str(imp.getTitle()), origin=origin):
            # a plane whose work cannot fit whole: in tiles (the pixels are read: the memory left holds them, and
            # the pipeline's libraries, loaded first, as the run's own check measures it)
            left, sizes = memory_left(spec), dict(seen.sizes)
            tile = auto_tile(sizes, spec, left)
            if tile:
                _log_tiles(spec, imp, sizes, int(left), tile)
            try:
                # smaller tiles where the run, once it has read what it runs, finds that the chosen ones cannot fit
                labels = run_tiling_as_needed(spec, seen, tile=tile, chosen=True, say=_log_line(spec, imp),
                                              choose="LabelFree Segment File with its tile option to choose",
                                              config=_with_record(config, values.get("config_file")),
                                              channel=values.get("channel"), inputs=inputs, progress=sink,
                                              overwrite=overwrite)
            except Cancelled:
                sink.finish("cancelled")
                raise
            if selection is not None:
                labels = paste_labels(labels, raw, *selection)
            if notes:  # how the window's image was read, in the provenance (Image > Show Info)
                labels.attrs["labelfree"] = {**labels.attrs.get("labelfree", {}), "imagej_input": notes}
            sink.finish(f"{int(labels.max()) if labels.size else 0} objects")
            log_notes(spec.menu_title, imp, notes)
            _log_automatic(spec, imp, labels)
            used = prepare_image(spec, raw, channel=values.get("channel"))
            written = None
            if folder is not None:
                from labelfree.io import write_outputs

                written = write_outputs(folder, labels, image=used, stem=stem)
            label_imp = labels_to_imageplus(labels, like=imp)
    finally:
        if folder is not None:
            folder.close()
    label_title = unique_title(f"{imp.getTitle()}-labels")
    suffix = label_title[len(f"{imp.getTitle()}-labels"):]
    label_imp.setTitle(label_title)
    show_image(label_imp)
    names = None  # the ROIs' names, unique in the ROI Manager (a suffix when an earlier run's are there)
    if values["rois"] != "none":
        names = add_labels_to_roimanager(labels, replace=values["rois"] == "replace",
                                         channel=roi_channel(imp, values.get("channel")))
    table = None
    if values["table"]:  # as ImageJ counts (frame and z from 1), each row labelled with its ROI's name
        from labelfree.imagej.tables import objects_table_for_imagej, table_to_resultstable
        from labelfree.measure import measure_objects

        table = objects_table_for_imagej(measure_objects(labels, image=used), has_z="Z" in labels.dims,
                                         names=names)
        # titled as its label image (<title>-labels-1: <title>-objects-1); an open table of that title, left by a
        # run whose label image was closed, is replaced, as ImageJ replaces a table shown under the same title
        table_to_resultstable(table, title=f"{imp.getTitle()}-objects{suffix}", show=True)
    n_rois = 0 if names is None else len(names)
    return CommandResult(labels, label_imp, n_rois, table, options, written)


def _log_tiles(spec: Any, imp: Any, sizes: dict[str, int], memory: int, tile: int, /) -> None:
    """Say in ImageJ's Log that the run segments every plane in tiles, and why (the ``memory`` left that
    :func:`labelfree._label_memory.auto_tile` chose ``tile`` for)."""
    from scyjava import jimport

    from labelfree._label_memory import tiles_chosen_text

    said = tiles_chosen_text(str(imp.getTitle()), sizes, spec, memory, tile, room="of memory left",
                             choose="LabelFree Segment File with its tile option to choose")
    jimport("ij.IJ").log(f"{spec.menu_title} on {said}")


def _log_line(spec: Any, imp: Any, /) -> Any:
    """A function that writes a line about the run of ``spec`` on ``imp`` to ImageJ's Log window."""
    from scyjava import jimport

    def say(line: str) -> None:
        jimport("ij.IJ").log(f"{spec.menu_title} on {imp.getTitle()}: {line}")

    return say


def _log_automatic(spec: Any, imp: Any, labels: Any) -> None:
    """Write the settings the run chose from the data (e.g. Cutter's downscale) to ImageJ's Log window."""
    from scyjava import jimport

    from labelfree._config import describe_automatic

    chosen = describe_automatic(labels.attrs.get("labelfree", {}))
    # a channel the run names by its index (Cutter's "markers ... detected in channel 1 (nuclei, ...)") is said as
    # ImageJ counts channels, from 1
    chosen = re.sub(r"\bin channel (\d+)\b", lambda m: f"in channel {int(m.group(1)) + 1}", chosen)
    if chosen:
        jimport("ij.IJ").log(f"{spec.menu_title} on {imp.getTitle()}: automatic settings {chosen}")
    if labels.attrs.get("labelfree", {}).get("volumes") and int(imp.getNFrames()) == 1:
        # an image sequence opens as slices: say what was done with them, and how to have frames instead
        slices = int(imp.getNSlices())
        jimport("ij.IJ").log(
            f"{spec.menu_title} on {imp.getTitle()}: segmented as one volume of {slices} slices (objects connected "
            "across slices, one threshold for the stack). If the slices are time points, set Image > Properties "
            f"(Slices 1, Frames {slices}) and run it again.")


#: how a pipeline or tool names its input at the start of a message (the ``name=`` of
#: :func:`labelfree.image.validate_image`, and of the missing-pixel messages of :mod:`labelfree._missing`)
_INPUT_NAME = re.compile(r"^(?:The movie|movie|image|Cutter input|Fusion input)(?= )")
#: Stitch's name of one of its tiles (counted from 0, in the order given: the planes of the stack)
_TILE_NAME = re.compile(r"^tile (\d+)(?= )")


def name_the_input(message: str, title: str, /) -> str:
    """``message`` with the input it starts with named by the title of the ImagePlus, as ImageJ names an image.

    ``"image holds no value: ..."`` -> ``"tnan holds no value: ..."``; Stitch's ``"tile 0 contains ..."`` ->
    ``"tile 1 (plane 1 of tnan) contains ..."`` (tiles counted from 1, as the positions table counts them). A
    message that starts with anything else is returned as it is.
    """
    if not title:
        return message
    tile = _TILE_NAME.match(message)
    if tile:
        n = int(tile.group(1)) + 1
        return f"tile {n} (plane {n} of {title}){message[tile.end():]}"
    return _INPUT_NAME.sub(lambda _: title, message, count=1)


@contextlib.contextmanager
def relay_warnings(title: str, /, *, image: str = "", origin: tuple[int, int] = (0, 0)) -> Iterator[None]:
    """Show warnings raised inside a command in ImageJ's Log window, then re-issue them for Python.

    ``title`` is the command's (the Log's lines start with it, :func:`labelfree.imagej.terms.warning_line`);
    ``image``, the title of the image it runs on, names the input where a warning names it (:func:`name_the_input`);
    ``origin`` (x, y), that of the selection it segmented inside, makes the pixel positions a warning names the
    image's (:func:`labelfree.imagej.terms.at_image_positions`).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if caught:
        from scyjava import jimport

        IJ = jimport("ij.IJ")
        for w in caught:
            said = at_image_positions(name_the_input(in_imagej_terms(str(w.message)), image), origin)
            IJ.log(warning_line(title, said))
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _labels_from_roimanager(da: Any, what: str, box: tuple[int, int, int, int] | None = None,
                            channels: int = 1) -> Any:
    from labelfree.imagej.roi_labels import roimanager_to_labels

    dims = "".join(d for d in da.dims if d != "C")
    labels = roimanager_to_labels(None, shape=tuple(da.sizes[d] for d in dims), dims=dims, channels=channels)
    where = "the image"
    if box is not None:
        x, y, w, h = box
        labels, where = labels[..., y:y + h, x:x + w], "the selection"
    if not labels.any():
        raise InputError(
            f"{what}=roi_manager but the ROI Manager holds no ROI inside {where}: add one point "
            f"(or area) per cell, or choose another {what} option."
        )
    return labels
