"""What a pipeline or a tool declares about itself: one object per pipeline package.

Every pipeline package holds a ``spec`` module with ``SPEC = PipelineSpec(...)``; the
registry (:mod:`labelfree.pipelines`) lists those modules, one line each. The CLI,
batch runs, the Fiji commands, the shipped Fiji scripts and the option tables of the
documentation are all generated from these objects, so adding a pipeline is one
package plus one registry line, and adding a config field touches only its config.

Functions and classes are named as ``"module:attribute"`` strings and imported when
first used, so that reading the registry stays cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any, Callable, Literal

__all__ = ["Input", "PipelineSpec", "ToolSpec", "Demo", "Check", "load"]


def load(target: str, /) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


@dataclasses.dataclass(frozen=True)
class Input:
    """An input of a pipeline besides its image and config (markers, a model zoo, a model file).

    Attributes
    ----------
    name : str
        Keyword argument of the segment function.
    help : str
        One sentence for ``--help``, the Fiji dialog and the option tables.
    kind : {"file", "folder", "choice", "output"}
        A file or folder to read, a fixed choice, or a file the pipeline writes (every
        entry point checks it before any work: never an input, in a writable folder,
        an existing file only with overwrite; :meth:`labelfree.io.OutputFolder.check_files`).
    key : str
        Macro key, dialog label and CLI flag (``--key-with-dashes``; default: ``name``);
        kept stable for recorded macros.
    reader : str
        ``"module:function"`` that reads a file into the value handed to the pipeline
        (``reader(path, image=image)``); empty: the path itself is handed over.
    choices : tuple of str
        For ``kind="choice"``, the values (the first is the default).
    absent : str
        The macro/dialog word meaning "not given" (e.g. ``"detect"`` for markers).
    roi_manager : bool
        In Fiji, the value may come from the ROI Manager (``key=roi_manager``).
    basic : bool
        Shown in the first Fiji dialog.
    batch : bool
        May be given per input in a batch manifest (a column named ``name``).
    fiji_help : str
        The sentence of the Fiji dialog and macro help when its values there differ from the
        command line's (a ROI Manager input takes ``absent`` or ``roi_manager``, not a file);
        empty: ``help``.
    companions : tuple of str
        For ``kind="output"``, the suffixes of the files written beside it (``".json"``: a model's
        sidecar ``<file>.json``); they are checked with it before any work.
    folders : bool
        For ``kind="file"``, a folder is taken too (its reader reads it: markers from a Cell
        Tracking Challenge ``TRA`` folder).
    tiles : bool or None
        A tiled run (``--tile``) hands the value to every tile as it is (:attr:`in_tiles`). None: folders
        and choices only (a model folder, a device); files may be per pixel (markers) and are refused.
        True for a file that is not per pixel (Fusion's model files: weights, bound to no pixel).
    files : str
        ``"module:function"``: ``f(value, change) -> value``, the value with each file it names replaced
        by ``change(file, label)`` (``label``: ``""`` for a value that is one file, else what the file is
        for, e.g. a channel), for a value naming several files (Fusion's ``CHANNEL=FILE`` pairs). The
        entry points list the files with it (:meth:`paths`: recorded with their sha256, never written
        over, fingerprinted by batch runs) and resolve a manifest's relative paths file by file.
        Empty: a path value is one file.
    channel_keys : str
        ``"module:function"``: ``f(value, rename) -> value``, the value with each channel it names as a key
        replaced by ``rename(channel)`` (Fusion's ``CHANNEL=FILE`` pairs); the Fiji commands read those keys
        as they read channels (``C1``..``Cn`` or a number from 1 for an image without channel names).
        Empty: the value names no channel.
    """

    name: str
    help: str
    kind: Literal["file", "folder", "choice", "output"] = "file"
    key: str = ""
    reader: str = ""
    choices: tuple[str, ...] = ()
    absent: str = ""
    roi_manager: bool = False
    basic: bool = True
    batch: bool = True
    fiji_help: str = ""
    companions: tuple[str, ...] = ()
    folders: bool = False
    tiles: bool | None = None
    files: str = ""
    channel_keys: str = ""

    @property
    def macro_key(self) -> str:
        return self.key or self.name

    @property
    def flag(self) -> str:
        return "--" + self.macro_key.replace("_", "-")

    @property
    def is_path(self) -> bool:
        """A file or folder the run reads (an input the outputs may never replace)."""
        return self.kind in ("file", "folder")

    @property
    def in_tiles(self) -> bool:
        """A tiled run hands the value to every tile as it is (:attr:`tiles`; by default folders and choices)."""
        return self.kind in ("folder", "choice") if self.tiles is None else bool(self.tiles)

    def map_files(self, value: Any, change: Callable[[str, str], Any], /) -> Any:
        """``value`` with each file it names replaced by ``change(file, label)`` (see :attr:`files`); a value
        of an input that is no path, or not given, is returned as it is."""
        if not self.is_path or not self.given(value):
            return value
        if self.files:
            return load(self.files)(value, change)
        if isinstance(value, str) or hasattr(value, "__fspath__"):
            return change(os.fspath(value), "")
        return value

    def paths(self, value: Any, /) -> dict[str, str]:
        """The files a user's ``value`` names, as ``{label: path}`` (``""``: the value is one file); empty for an
        input that is no path, a value not given, or one naming no file (an object handed over in Python)."""
        found: dict[str, str] = {}

        def note(file: str, label: str) -> str:
            found[label] = file
            return file

        self.map_files(value, note)
        return found

    def given(self, value: Any, /) -> bool:
        """Whether a user's ``value`` gives this input (not None, empty or the word for "not given")."""
        return value is not None and not (isinstance(value, str) and value in ("", self.absent))

    def read(self, value: Any, /, *, image: Any = None) -> Any:
        """The value handed to the pipeline for a user's ``value`` (a path is read by ``reader``)."""
        if not self.given(value):
            return None
        if self.reader and (isinstance(value, str) or hasattr(value, "__fspath__")):
            return load(self.reader)(value, image=image)
        return value


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of ``labelfree doctor``'s report: ``needed`` checks make the exit code non-zero when not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True


@dataclasses.dataclass(frozen=True)
class Demo:
    """A small sample a newcomer can run: the image, its ground truth and extra inputs."""

    image: Any
    truth: Any
    name: str
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    note: str = ""


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """One segmentation pipeline, as the rest of the package sees it.

    Attributes
    ----------
    name : str
        Command key: ``labelfree <name>``, ``run("LabelFree <Title>", ...)``, ``--pipeline <name>``.
    title : str
        Menu title word ("Motion" -> "LabelFree Motion").
    summary : str
        One line for menus, ``--help`` and the documentation.
    segment : str
        ``"module:function"``: ``segment(image, /, *, config=None, progress=False, **inputs)``.
    config : str
        ``"module:Class"`` of the config dataclass.
    channels : {"one", "many"}
        "one": the pipeline segments a single channel, picked by the common
        ``channel`` option of every entry point; "many": it gets every channel (or the
        ones listed with ``channel``) and chooses among them through its config.
    needs_time : bool
        The image must be a time-lapse (a T axis with at least two frames).
    takes_z : bool
        The pipeline segments z-stacks (a Z axis of two or more planes); the others segment 2-D planes and
        refuse one. The Fiji commands refuse a z-stack for the others before their dialog, and the errors and
        documentation that say which pipelines take z-stacks are generated from it.
    inputs : tuple of Input
        Extra inputs (markers, zoo, model files).
    frame_overlap : int or None
        Frames a time chunk shares with the previous one when a batch run splits a long
        movie (0: frames are independent); None: never split in time.
    chunk_settings : tuple of str
        Automatic settings (keys of the provenance's ``auto``) that the first frame chunk of
        a split movie chooses and every later chunk then uses, so that all chunks share one
        scale (Motion's cell size: measured on a short chunk alone it can be far off).
    chunk_measure : str
        ``"module:function"``: ``f(movie, config=)`` -> keywords of the segment function (or None) measured
        once on the whole movie of a split run and given to every chunk (Motion's grey range and frame gains:
        :func:`labelfree.motion.segment.movie_grey_mapping`); empty: none.
    chunk_per_frame : tuple of str
        Those keywords that hold one value per frame of the movie (a chunk gets those of its frames).
    chunk_auto_per_plane : tuple of str
        Automatic values (keys of the provenance's ``auto``) chosen for every plane on its own, one value per
        plane in the frames' order (one plane: the value itself): the provenance of a movie merged from chunks
        holds every chunk's for its own frames (Threshold's ``threshold``), not the first chunk's alone.
    tiles : bool
        Frames may be cut into overlapping spatial tiles for large images.
    plane_bytes : float
        Bytes a pixel that the pipeline's work on one plane (a volume, for a z-stack it segments as one) takes at
        its peak besides the labels, as measured (``benchmarks/plane_memory.py``): a run whose labels and work on
        one plane cannot fit in the memory left is refused before any work, and told to use tiles where the
        pipeline takes them (:func:`labelfree._label_memory.require_label_memory`); 0: not measured (the labels
        alone are checked).
    plane_bytes_up_to : tuple of (int, float)
        ``(pixels, bytes)`` pairs, fewest pixels first: a plane of at most ``pixels`` pixels takes ``bytes`` a pixel
        of work instead of ``plane_bytes`` (Cutter's foreground graph is one graph up to 2048 x 2048 px and in
        tiles above: :meth:`work_bytes`).
    plane_bytes_fixed : int
        Bytes of that work that do not grow with the plane, added to its bytes a pixel (a network's pass over a
        batch of its tiles, which holds about the same memory for a plane of 512 px as for one of 8192 px, or for each
        tile of a tiled run); measured with the bytes a pixel as the line below every measure, so that no run that
        fits is refused. A tiled run is counted this part alone for its work
        (:func:`labelfree._label_memory.run_bytes`): its tiles are small.
    libraries : tuple of str
        Modules the run imports once it starts (torch, cellpose): imported before the memory left is measured
        (:func:`labelfree._label_memory.load_libraries`), so that every check, and the tiles or chunks chosen for
        a run, see the memory the run will have; the measured work does not hold them.
    torch : bool
        The pipeline runs torch networks: ``threads`` caps torch's CPU pool too.
    tile_config : str
        ``"module:function"``: ``f(plane, config, inputs) -> config`` fixing, before a plane is
        cut into tiles, what the pipeline would otherwise compute from the whole plane (e.g. an
        automatic threshold), so every tile uses the same value.
    tile_run_config : str
        ``"module:function"``: ``f(image, config, inputs) -> config``, called once for the whole
        image before any plane is cut, fixing what a whole-image run computes once for all its
        frames (e.g. Fusion's diameter), so every tile of every frame uses the same value.
    tile_box : str
        ``"module:function"``: ``f(plane, config, inputs) -> (slice_y, slice_x)``, the part of a
        plane that a tiled run cuts into tiles (the rest gets no objects), called with
        the config ``tile_config`` receives: the threshold pipeline's inside of the plane's
        padding, which its whole-plane run keeps no object outside of (a tile of canvas cannot
        tell itself from a tile inside a large object).
    tile_constant : str
        ``"module:function"``: ``f(region, config) -> labels or None``, the labels of a tile whose
        pixels all have one value (the pipeline's ``segment`` refuses a constant image); empty, or
        None returned: no objects (an empty stretch of a scan). The threshold pipeline's fixed
        threshold decides, as it does on the whole plane (a tile inside a large bright object).
    tile_volume_config : str
        ``"module:function"``: ``f(volume, config, inputs) -> config``, for a pipeline that segments a
        z-stack as volumes (one per time point): called once per volume (a DataArray ``(Z, ..., Y, X)``)
        before its planes are cut, with ``tile_run_config``'s config, fixing what the pipeline computes
        once for the volume (the threshold pipeline's automatic threshold of the stack's histogram); the
        result is the config of every plane of that volume (``tile_config`` is not called for them). Each
        plane's tiles are then handed :data:`labelfree.tiling.VOLUME_PLANE` (its Z index in the volume),
        and ``auto`` records one value per volume. Empty: every plane of a z-stack is one image.
    tile_finish : str
        ``"module:function"``: ``f(labels, config, image, volume_configs) -> labels``, called with the
        assembled labels of a z-stack segmented as volumes (``tile_volume_config``): ``labels`` (uint16; uint32
        where a plane has more than 65535 objects; dims ``(*lead, Z, Y, X)``, in memory), the run's ``config``,
        the ``image`` with the same leading dims and ``volume_configs`` (one per volume, time point after time
        point). It does what needs the whole volume (the threshold pipeline: ``min_size`` in voxels, one id per
        3-D object, the no-object warning) and returns the labels finished, in place or as a new array of a
        larger type (the run goes on with what it returns).
    tile_record : str
        ``"module:function"``: ``f(image, config, inputs) -> dict``, what a tiled run's
        provenance records beside its tiles that a whole-image run records from its own work
        (e.g. Fusion's models and their hashes); ``config`` is the run's, as
        ``tile_run_config`` fixed it.
    record_models : str
        ``"module:function"``: ``f(recorded, inputs, given) -> (inputs, context)``, how a run given
        a provenance record as its config (:class:`labelfree._reproduce.RecordedRun`) uses the
        models its run used (Fusion: pins its zoo models, from the record's zoo when none is given);
        ``given(input)`` says whether the user gave that input; the run takes place in ``context``.
    demo : str
        ``"module:function"`` returning a :class:`Demo` (``labelfree demo --pipeline``).
    checks : str
        ``"module:function"`` returning :class:`Check` lines for ``labelfree doctor`` (what
        the pipeline needs installed besides the common packages).
    verbs : str
        Module with area-specific CLI verbs: ``VERBS`` (names), ``register_verbs(subparsers)``
        (``labelfree <name> <verb>``) and ``register(subparsers)`` (further top-level commands).
    extra_outputs : dict
        Output kind -> (``"module:function"``, help): optional files of the set, written by
        ``function(path, image, labels=..., config=...)`` (CLI ``--<kind>``). A function with a ``recording``
        attribute (a context manager class) has one entered around the run and is handed it as ``recorded=``:
        what the run kept for it (Motion's flow speeds, :class:`labelfree.motion.flow_record.FlowRecording`).
    """

    name: str
    title: str
    summary: str
    segment: str
    config: str
    channels: Literal["one", "many"] = "one"
    needs_time: bool = False
    takes_z: bool = False
    inputs: tuple[Input, ...] = ()
    frame_overlap: int | None = None
    chunk_settings: tuple[str, ...] = ()
    chunk_measure: str = ""
    chunk_per_frame: tuple[str, ...] = ()
    chunk_auto_per_plane: tuple[str, ...] = ()
    tiles: bool = False
    plane_bytes: float = 0.0
    plane_bytes_up_to: tuple[tuple[int, float], ...] = ()
    plane_bytes_fixed: int = 0
    libraries: tuple[str, ...] = ()
    torch: bool = False
    tile_config: str = ""
    tile_run_config: str = ""
    tile_box: str = ""
    tile_constant: str = ""
    tile_volume_config: str = ""
    tile_finish: str = ""
    tile_record: str = ""
    record_models: str = ""
    checks: str = ""
    demo: str = ""
    verbs: str = ""
    extra_outputs: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    kind: Literal["pipeline"] = "pipeline"

    @property
    def segment_function(self) -> Callable[..., Any]:
        return load(self.segment)

    @property
    def config_class(self) -> type:
        return load(self.config)

    @property
    def menu_title(self) -> str:
        return f"LabelFree {self.title}"

    def input(self, name: str, /) -> Input | None:
        """The extra input called ``name`` (or with that macro key), or None."""
        return next((i for i in self.inputs if name in (i.name, i.macro_key)), None)

    def work_bytes(self, pixels: int, /) -> int:
        """The bytes the pipeline's work on one plane (a volume) of ``pixels`` pixels takes beside the labels, as
        measured: ``plane_bytes_fixed`` and ``plane_bytes`` a pixel, or those of the first of ``plane_bytes_up_to``
        that holds the plane."""
        per_pixel = next((b for most, b in self.plane_bytes_up_to if pixels <= most), self.plane_bytes)
        return int(self.plane_bytes_fixed) + int(float(per_pixel) * pixels)


@dataclasses.dataclass(frozen=True)
class ToolSpec:
    """An image -> image tool (drift correction, stitching): a Fiji command and a CLI verb of its own.

    ``function`` returns ``(image, table)``; ``takes`` says what it is given: a movie,
    or the planes of a stack as tiles with a ``rows`` x ``cols`` layout.
    """

    name: str
    title: str
    summary: str
    function: str
    config: str
    takes: Literal["movie", "tiles"] = "movie"
    result_suffix: str = ""
    table_name: str = ""
    kind: Literal["tool"] = "tool"

    @property
    def config_class(self) -> type:
        return load(self.config)

    @property
    def tool_function(self) -> Callable[..., Any]:
        return load(self.function)

    @property
    def menu_title(self) -> str:
        return f"LabelFree {self.title}"
