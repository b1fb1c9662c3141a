"""LabelFree Segment File: a pipeline run on an image on disk that ImageJ has not opened, its results opened.

An OME-Zarr folder (which plain ImageJ cannot open), an image bigger than ImageJ's memory, or a file a macro
names without opening it: the command runs the ``labelfree`` command line on the file in a process of its own
(it reads the file as that command does, in tiles when ``tile`` is given, memory-mapped where it can, and writes
the label image, ROI zip, table and provenance into the output folder, never over the input), says its
warnings in the Log, stops it when Esc is pressed (a stopped run leaves no outputs), and then opens what it
wrote: the label image (a virtual stack, read from disk plane by plane, when it would take more than half of
ImageJ's free memory), the ROIs in the ROI Manager and the table, as the other LabelFree commands show them.

In a macro: ``run("LabelFree Segment File", "input=[/data/cells.ome.zarr] pipeline=threshold")``; the options
of the pipeline's own command (its macro keys) go into ``options=[min_size=50 markers=[/data/nuclei.tif]]``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import math
import queue
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from labelfree.errors import Cancelled, ConfigError, FijiError, InputError, LabelFreeError
from labelfree.options import Field, parse_macro_options, resolve_macro_variables, value_text

__all__ = ["FILE_COMMAND", "FILE_TITLE", "FileRun", "file_fields", "file_command_line", "image_path",
           "segment_file", "run_file_command", "terminal_command"]

#: the command's key (as LabelFree's ImageJ command table and the Fiji script name it) and its menu title
FILE_COMMAND = "segment_file"
FILE_TITLE = "LabelFree Segment File"
#: the metadata files of a Zarr group or array: choosing one (a file chooser cannot choose a folder) means its folder
ZARR_METADATA = (".zattrs", ".zgroup", ".zarray", "zarr.json")
#: the keys of the pipeline commands that this command has itself (or that say where ImageJ's input is)
_OWN_KEYS = ("image", "channel", "rois", "table", "output")
#: the label image opens as a virtual stack when it would take more than this fraction of ImageJ's free memory
VIRTUAL_FRACTION = 0.5


def file_fields() -> list[Field]:
    """The command's macro keys and dialog fields, in the dialog's order."""
    from labelfree.pipelines import pipelines

    names = tuple(pipelines())
    return [
        Field("input", "str", "", help="The image to segment: a file (TIFF, OME-TIFF, ImageJ hyperstack, PNG, ...) "
              "or an OME-Zarr folder (type its path, or choose its .zattrs or zarr.json file). It is read from "
              "disk, not opened in ImageJ, and never changed.", cli="INPUT FILE"),
        Field("pipeline", "choice", "threshold", names, help="The LabelFree pipeline to run: "
              + "; ".join(f"{name}: {spec.summary}" for name, spec in pipelines().items()) + "."),
        Field("channel", "str", "auto", help="Channel to segment (a number or a name; several, comma-separated, "
              "for cutter and fusion); auto: needed only when the image has several different channels.",
              cli="--channel C"),
        Field("output", "str", "", help="Folder for the label image, ROI zip, table and provenance (empty: a "
              "folder <name>_labelfree beside the input). Earlier results there are never replaced unless "
              "options= gives overwrite=true.", cli="-o/--out DIR"),
        Field("tile", "int", 0, help="Segment in square tiles of this many pixels, for images bigger than "
              "memory (0: each plane whole, or in the largest tiles that fit where its work would not). Only "
              "pipelines that segment each region on its own can ("
              + ", ".join(name for name, spec in pipelines().items() if spec.tiles) + ").", range=">= 0",
              cli="--tile PX"),
        Field("options", "str", "", help="More options of the pipeline, as its own command takes them in a macro "
              "(e.g. min_size=50, or markers=[/data/nuclei.tif] for Cutter); docs/options.md lists them."),
        Field("rois", "choice", "append", ("append", "replace", "none"), help="Add the ROIs it wrote to the ROI "
              "Manager, replace its ROIs, or add none."),
        Field("open", "bool", True, help="Open the label image and the table it wrote (a label image too big for "
              "ImageJ's free memory opens as a virtual stack)."),
    ]


def image_path(text: Any, /) -> Path:
    """The image an ``input`` names: a file or an image folder; a Zarr metadata file names its folder.

    Raises
    ------
    InputError
        No path, or nothing there.
    """
    raw = "" if text is None else str(text).strip()
    if not raw:
        raise InputError(f"{FILE_TITLE} needs the image to segment: input=[path of an image file or OME-Zarr "
                         "folder] (in the dialog: the input field, or its Browse button).")
    path = Path(raw).expanduser()
    if path.name in ZARR_METADATA and path.is_file():
        path = path.parent
    if not path.exists():
        raise InputError(f"input=[{raw}]: there is no file or folder there; check the path.")
    return path.absolute()


def _default_output(path: Path, /) -> Path:
    from labelfree.io.outputs import output_stem, plain_stem

    return path.parent / f"{plain_stem(output_stem(path.name))}_labelfree"


def _command_prefix() -> list[str]:
    """How to start LabelFree's command line: this environment's Python with ``-m labelfree``, else its
    ``labelfree`` command, else the one on the PATH. Python embedded in another program (Fiji's launcher in
    Python mode may be one) has that program as ``sys.executable``: only an interpreter named python* is taken
    from there, else the one in ``sys.prefix``."""
    prefix = Path(sys.prefix)
    running = Path(sys.executable) if sys.executable else None
    pythons = [running] if running is not None and running.name.lower().startswith("python") else []
    pythons += [prefix / "bin" / "python3", prefix / "bin" / "python", prefix / "python.exe"]
    for python in pythons:
        if python.is_file():
            return [str(python), "-m", "labelfree"]
    found = next((str(p) for p in (prefix / "bin" / "labelfree", prefix / "Scripts" / "labelfree.exe") if p.is_file()),
                 None) or shutil.which("labelfree")
    if found:
        return [found]
    raise FijiError(f"{FILE_TITLE} runs LabelFree's command line, and neither this Python ({sys.executable!r}) "
                    "nor a 'labelfree' command on the PATH was found. Start Fiji from the environment LabelFree "
                    "is installed in (Edit > Options > Python...).")


def _image_channels(path: Path, /) -> tuple[list[str], bool]:
    """The channel names of the image at ``path`` (read lazily: its metadata) and whether they are its own."""
    from labelfree.errors import MissingDependencyError
    from labelfree.image import channel_names
    from labelfree.imagej.fields import own_channel_names
    from labelfree.io import read_image

    try:  # no pixel read (a compressed TIFF too), where zarr and dask are installed
        image = read_image(path, lazy=True)
    except MissingDependencyError:
        image = read_image(path, memmap=True)
    names = channel_names(image)
    return names, own_channel_names(names)


def _channel_argument(channels: Callable[[], tuple[list[str], bool]], value: Any, /) -> str | None:
    """``channel`` as ImageJ counts (from 1; ``C1``; a name; several comma-separated, for the pipelines that take
    several) -> the command line's ``--channel`` (from 0; the names); ``channels()`` gives the image's channels
    (:func:`_image_channels`)."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "auto"):
        return None
    from labelfree.imagej.fields import one_channel_from_imagej

    names, named = channels()
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    return ",".join(str(one_channel_from_imagej("channel", p, names, named)) for p in parts)


def _pipeline_arguments(pipeline: str, text: Any, channels: Callable[[], tuple[list[str], bool]], /) -> list[str]:
    """``options`` (the pipeline command's macro keys) -> the command line's ``--set`` options and input flags;
    channel options read as ImageJ counts them. A key of this command itself, or none of the pipeline's, is a
    ConfigError naming the valid ones."""
    from labelfree.imagej.fields import channel_keys, command_fields, one_channel_from_imagej

    text = "" if text is None else str(text).strip()
    if not text:
        return []
    # an input the ROI Manager can give (Cutter's markers) takes a file here too, as on the command line
    fields = [dataclasses.replace(f, kind="str", choices=()) if "roi_manager" in f.choices else f
              for f in command_fields(pipeline) if f.key not in _OWN_KEYS]
    given = parse_macro_options(text, [*fields, *(Field(k, "str", "") for k in _OWN_KEYS)])
    clash = [k for k in _OWN_KEYS if k in given]
    if clash:
        raise ConfigError(f"options=[{text}] gives {', '.join(clash)}, which {FILE_TITLE} says with keys of its "
                          "own: input (the image), channel, output, rois, and open (the label image and the "
                          "table). Give them as such, outside options=[...].")
    keys = channel_keys(fields)
    out: list[str] = []
    for f in fields:
        if f.key not in given:
            continue
        value = given[f.key]
        if f.key in keys and value not in (None, "", (), []):
            names, named = channels()
            many = value if isinstance(value, (list, tuple)) else [value]
            value = [one_channel_from_imagej(f.key, v, names, named) for v in many]
            value = value if keys[f.key] else value[0]
        if not f.cli:  # a config option
            out += ["--set", f"{f.key}={value_text(f, value)}"]
        elif f.key == "overwrite":
            out += ["--overwrite"] if value else []
        elif f.key == "config_file":
            out += ["--config", str(value)] if value else []
        elif f.cli.startswith("--"):  # an extra input: its flag, unless left at its absent value
            if value in ("", None, f.default) or f.kind == "choice" and value == f.choices[0]:
                continue
            out += [f.cli.split()[0], value_text(f, value)]  # roi_manager: saved to a file when the run starts
    return out


def file_command_line(values: Mapping[str, Any], /) -> tuple[list[str], Path]:
    """The ``labelfree`` command line that a run of the command with ``values`` starts (``--print-paths``, no
    progress bar), and its output folder; every value is checked first (one clear error, nothing started)."""
    from labelfree.pipelines import get_pipeline
    from labelfree.run import check_tiles

    path = image_path(values.get("input"))
    spec = get_pipeline(values.get("pipeline") or "threshold")
    out_text = str(values.get("output") or "").strip()
    out = Path(out_text).expanduser().absolute() if out_text else _default_output(path)
    argv = [*_command_prefix(), spec.name, str(path), "-o", str(out), "--print-paths", "--no-progress"]
    channels = functools.cache(lambda: _image_channels(path))  # read once, and only when a channel is given
    channel = _channel_argument(channels, values.get("channel"))
    if channel is not None:
        argv += ["--channel", channel]
    tile = int(values.get("tile") or 0)
    if tile < 0:
        raise ConfigError(f"tile={tile}: give the side of the tiles in pixels, or 0 for the whole image at once.")
    if tile:
        check_tiles(spec)
        argv += ["--tile", str(tile)]
    argv += _pipeline_arguments(spec.name, values.get("options"), channels)
    return argv, out


@dataclasses.dataclass
class FileRun:
    """What a run of the command did: the command line it ran, the files it wrote (``labels``, ``rois``,
    ``table``, ``provenance``, ...), and what it opened in ImageJ (``labels``: the ImagePlus, None when not
    opened; ``rois``: the ROIs added to the ROI Manager; ``table``: the ResultsTable, None when not opened)."""

    command: list[str]
    output: Path
    paths: dict[str, Path]
    seconds: float
    labels: Any = None
    rois: int = 0
    table: Any = None
    virtual: bool = False


def _kind_of(path: Path, /) -> str:
    """The kind of an output file by its name: ``cells_labels.tif`` -> ``labels``, ``cells_rois.zip`` -> ``rois``;
    the OME-Zarr copy of the labels (``cells_labels.ome.zarr``) -> ``ome_zarr``."""
    if path.name.endswith(".ome.zarr"):
        return "ome_zarr"
    stem = path.name.split(".")[0]
    return stem.rsplit("_", 1)[-1] if "_" in stem else stem


def _pump(stream: Any, into: queue.Queue, tag: str) -> None:
    for line in iter(stream.readline, ""):
        into.put((tag, line.rstrip("\n")))
    into.put((tag, None))


def _run_command_line(argv: list[str], what: str, /) -> tuple[list[str], float]:
    """Run the command line (``what`` says it: ``threshold on cells.ome.zarr``), its stderr lines said in the Log
    as they come, Esc stopping it; return the paths it printed and the seconds it took. A failure is an error
    with its message, in ImageJ's terms."""
    from scyjava import jimport

    from labelfree.imagej.terms import in_imagej_terms, warning_line

    IJ = jimport("ij.IJ")
    IJ.resetEscape()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, encoding="utf-8", errors="replace", bufsize=1)
    lines: queue.Queue = queue.Queue()
    readers = [threading.Thread(target=_pump, args=(s, lines, tag), daemon=True)
               for s, tag in ((proc.stdout, "out"), (proc.stderr, "err"))]
    for reader in readers:
        reader.start()
    printed: list[str] = []
    errors: list[str] = []
    last: collections.deque = collections.deque(maxlen=3)  # what a run that ended otherwise said last
    open_streams, stopped = 2, False
    while open_streams:
        try:
            tag, line = lines.get(timeout=0.25)
        except queue.Empty:
            tag, line = None, ""
        if tag is not None and line is None:
            open_streams -= 1
        elif tag == "out" and line.strip():
            printed.append(line.strip())
        elif tag == "err" and line.strip():
            text = line.strip()
            last.append(text)
            if text.startswith("labelfree: error: "):
                errors.append(in_imagej_terms(text[len("labelfree: error: "):]))
            elif text.startswith("labelfree: interrupted"):
                pass
            else:
                text = text[len("labelfree: "):] if text.startswith("labelfree: ") else text
                text = text[len("warning: "):] if text.startswith("warning: ") else text
                IJ.log(warning_line(FILE_TITLE, in_imagej_terms(text)))
        if not stopped and IJ.escapePressed():
            stopped = True
            proc.terminate()  # the command line takes SIGTERM as Ctrl-C: it cleans up and leaves no outputs
        IJ.showStatus(f"{FILE_TITLE}: {what}, {time.perf_counter() - started:.0f} s"
                      f"{' (stopping)' if stopped else '; Esc stops it'}")
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    seconds = time.perf_counter() - started
    IJ.showStatus("")
    if stopped:
        raise Cancelled(f"{FILE_TITLE} stopped (Esc) after {seconds:.0f} s: {what} wrote no outputs.")
    if code != 0:
        said = " ".join(errors) or f"the command line ended with exit code {code} ({' / '.join(last) or 'no message'})"
        raise LabelFreeError(f"{FILE_TITLE} ({what}) failed: {said}")
    return printed, seconds


def _label_bytes(path: Path, /) -> tuple[int, int, bool]:
    """(bytes of the whole label image as ImageJ holds it, bytes of one plane, whether it has a Z axis)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        shape, axes, itemsize = series.shape, series.axes, series.dtype.itemsize
        has_z = "Z" in axes and shape[axes.index("Z")] > 1 or bool((tif.imagej_metadata or {}).get("slices", 1) > 1)
    per_pixel = 2 if itemsize <= 2 else 4  # ImageJ: 16-bit labels, 32-bit float above 65535
    plane = int(shape[axes.index("Y")]) * int(shape[axes.index("X")]) * per_pixel
    return int(math.prod(int(s) for s in shape)) * per_pixel, plane, has_z


def _free_memory() -> int:
    """The bytes ImageJ can still take (its maximum heap less what it holds)."""
    from scyjava import jimport

    IJ = jimport("ij.IJ")
    return int(IJ.maxMemory()) - int(IJ.currentMemory())


def _open_labels(path: Path, whole: int, plane: int, /) -> tuple[Any, bool]:
    """The label image opened (shown), and whether as a virtual stack; None when not even a plane fits (``whole``
    and ``plane``: its bytes as ImageJ holds them, :func:`_label_bytes`)."""
    from scyjava import jimport

    from labelfree.imagej.labels import glasbey_imagej_lut, show_image

    IJ = jimport("ij.IJ")
    free = _free_memory()
    if plane > VIRTUAL_FRACTION * free:
        IJ.log(f"{FILE_TITLE}: the label image ({plane / 2**20:.0f} MB a plane) is larger than ImageJ's free memory "
               f"({free / 2**20:.0f} MB); it was written to {path} but not opened (Edit > Options > Memory & "
               "Threads gives ImageJ more).")
        return None, False
    virtual = whole > VIRTUAL_FRACTION * free
    if virtual:
        imp = jimport("ij.plugin.FileInfoVirtualStack").openVirtual(str(path))
        IJ.log(f"{FILE_TITLE}: the label image ({whole / 2**20:.0f} MB) opened as a virtual stack (read from "
               f"{path} as its planes are shown): ImageJ has {free / 2**20:.0f} MB free.")
    else:
        imp = IJ.openImage(str(path))
    if imp is None:
        raise FijiError(f"ImageJ could not open the label image {path}.")
    if int(imp.getBitDepth()) != 24 and not imp.isComposite():
        lut = glasbey_imagej_lut()
        imp.getProcessor().setLut(lut)
        if not virtual:
            imp.getStack().setColorModel(lut)
    imp.setProperty("labelfree.labels", "true")
    show_image(imp)
    return imp, virtual


def _open_rois(path: Path, mode: str, /) -> int:
    from labelfree.imagej.rois import ensure_group_colours, get_roimanager

    ensure_group_colours()  # the ROIs' groups take LabelFree's colours (a bare ImageJ has no Glasbey LUT file)
    rm = get_roimanager()
    replace = mode == "replace"
    with zipfile.ZipFile(path) as archive:
        # no object found: ImageJ refuses a .zip without .roi files (a macro error); the manager is still emptied
        name = str(path) if archive.namelist() else None
    before = 0 if replace else int(rm.getCount())
    with _not_recorded():  # the Recorder keeps the command's own line, not a roiManager("Open", ...) of its own
        opened = _open_in_manager(rm, name, replace)
    if not opened:
        raise FijiError(f"The ROI Manager could not open {path}.")
    return int(rm.getCount()) - before


def _open_in_manager(rm: Any, path: str | None, replace: bool, /) -> bool:
    """Empty the ROI Manager (``replace``) and open ``path`` into it (None: none), on the event thread while it is
    shown (LabelFree's Java helper), so that Swing does not paint its list while it changes; where the helper is not
    on the class path (inside Fiji), from this thread, as a macro's roiManager("Open", ...) does."""
    from labelfree.imagej.rois import rois_helper

    helper = rois_helper()
    if helper is not None:
        return bool(helper.open(rm, path, replace))
    if replace:
        rm.reset()
    return path is None or bool(rm.open(path))


@contextlib.contextmanager
def _not_recorded() -> Iterator[None]:
    """ImageJ's Recorder paused while the block runs (what the command does is recorded as its one line)."""
    from scyjava import jimport

    field = jimport("ij.plugin.frame.Recorder").class_.getField("record")
    was = bool(field.getBoolean(None))
    field.setBoolean(None, False)
    try:
        yield
    finally:
        field.setBoolean(None, was)


def _open_table(path: Path, has_z: bool, title: str, /) -> Any:
    import pandas as pd

    from labelfree.imagej.tables import objects_table_for_imagej, table_to_resultstable

    table = pd.read_csv(path)
    shown = objects_table_for_imagej(table, has_z=has_z) if "label" in table and "frame" in table else table
    return table_to_resultstable(shown, title=title, show=True)


def _roi_manager_files(argv: list[str], scratch: Path, /) -> list[str]:
    """``argv`` with an input given as ``roi_manager`` (Cutter's ``--markers roi_manager``) replaced by the ROI
    Manager's ROIs saved as an ImageJ ROI zip in ``scratch`` (the command line reads those as its markers)."""
    out = list(argv)
    for k in range(1, len(out)):
        if out[k] == "roi_manager" and out[k - 1].startswith("--"):
            from labelfree.imagej.rois import get_roimanager

            rm = get_roimanager()
            if int(rm.getCount()) == 0:
                raise InputError(f"{out[k - 1][2:]}=roi_manager: the ROI Manager is empty. Add one point or outline "
                                 "per cell first, or give a file.")
            path = scratch / "roi_manager.zip"
            with _not_recorded():
                rm.runCommand("Deselect")
                saved = rm.runCommand("Save", str(path))
            if not saved or not path.is_file():
                raise FijiError(f"The ROI Manager's ROIs could not be saved to {path}.")
            out[k] = str(path)
    return out


def segment_file(values: Mapping[str, Any], /) -> FileRun:
    """Run the command with ``values`` (its fields' keys; defaults for those not given): segment the file with
    the ``labelfree`` command line, then open what it wrote.

    Returns
    -------
    FileRun

    Raises
    ------
    InputError, ConfigError
        A bad value, found before anything runs.
    Cancelled
        Esc was pressed: the run was stopped, and left no outputs.
    LabelFreeError
        The run failed (its message).
    """
    from scyjava import jimport

    fields = file_fields()
    values = {**{f.key: f.default for f in fields}, **values}
    mode = str(values.get("rois") or "append")
    if mode not in ("append", "replace", "none"):
        raise ConfigError(f"rois={mode}: choose append, replace or none.")
    if mode != "none" and jimport("java.awt.GraphicsEnvironment").isHeadless():
        raise FijiError(f"{FILE_TITLE}: the ROI Manager is a window and ImageJ runs headless; give rois=none "
                        "(the ROIs are written to the output folder's _rois.zip all the same).")
    given, out = file_command_line(values)
    at = given.index("-o")  # ... PIPELINE INPUT -o OUT ...
    what = f"{given[at - 2]} on {Path(given[at - 1]).name}"
    IJ = jimport("ij.IJ")
    with tempfile.TemporaryDirectory(prefix="labelfree-rois-") as scratch:
        argv = _roi_manager_files(given, Path(scratch))
        printed, seconds = _run_command_line(argv, what)
    paths = {_kind_of(Path(p)): Path(p) for p in printed}
    run = FileRun(argv, out, paths, seconds)
    if "labels" not in paths:
        raise LabelFreeError(f"{FILE_TITLE}: the command line wrote no label image (it printed: "
                             f"{'; '.join(printed) or 'nothing'}).")
    whole, plane, has_z = _label_bytes(paths["labels"])
    if values.get("open"):
        run.labels, run.virtual = _open_labels(paths["labels"], whole, plane)
    if mode != "none" and "rois" in paths:
        run.rois = _open_rois(paths["rois"], mode)
    if values.get("open") and "table" in paths:
        run.table = _open_table(paths["table"], has_z, paths["table"].stem)
    same = terminal_command(given)
    if argv != given:  # the ROI Manager's ROIs were saved for the run, and are gone with it
        same += " (roi_manager: the ROI Manager's ROIs saved as a .zip, its path given instead)"
    IJ.log(f"{FILE_TITLE}: {what} in {seconds:.1f} s; outputs in {out}. The same from a terminal: {same}")
    return run


def run_file_command(options: str | Mapping[str, Any] | None, /, *, dialog: bool = False) -> FileRun:
    """The command as ImageJ runs it: ``options`` a macro's option string (or values by key); with ``dialog``,
    its dialog first (:class:`~labelfree.errors.Cancelled` when cancelled), and the Recorder given the options
    typed."""
    from labelfree.imagej.commands import macro_variable

    fields = file_fields()
    if isinstance(options, str):  # key=&name: the macro's variable, as for the other commands
        values = parse_macro_options(options, fields, variables=macro_variable)
    else:
        values = dict(options or {})
    if isinstance(values.get("options"), str):  # options=[min_size=&n]: read now, while the macro runs
        values["options"] = resolve_macro_variables(values["options"], macro_variable)
    if dialog:
        from labelfree.imagej.commands import record_options
        from labelfree.imagej.dialog import show_dialog

        defaults = {**{f.key: f.default for f in fields}, **values}
        shown = show_dialog(FILE_TITLE, fields, defaults=defaults, help="Segment an image file or OME-Zarr folder "
                            "that is not open, and open its results.", plain=("channel",))
        if shown is None:
            raise Cancelled(f"{FILE_TITLE} cancelled.")
        values = dict(shown)
        record_options(FILE_TITLE, {k: v for k, v in values.items() if v not in ("",) or k == "input"}, fields)
    return segment_file(values)


def terminal_command(argv: list[str], /) -> str:
    """The command line a run started, as typed in a terminal: ``labelfree threshold /data/a.tif -o /data/out``
    (POSIX quoting; without the options that only serve this command: ``--print-paths``, ``--no-progress``)."""
    start = argv.index("labelfree") + 1 if "labelfree" in argv else 1
    rest = [a for a in argv[start:] if a not in ("--print-paths", "--no-progress")]
    return " ".join(shlex.quote(a) for a in ["labelfree", *rest])
