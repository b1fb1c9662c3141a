"""The core commands: ``labelfree <pipeline> INPUT -o OUT`` for every registered pipeline, ``demo``, ``options``.

Every pipeline command has the same shape (see :func:`labelfree.cli.add_run_options`);
its extra inputs (``--markers``, ``--zoo``, ...) and extra outputs (``--flow``) come
from its spec. The output folder and file names are checked, and the folder held,
before the image is read. ``eval`` (scoring against ground truth) is :mod:`labelfree.evaluation.cli`.

A pipeline command holds its output folder (:class:`labelfree.io.OutputFolder`'s lock) only while it checks its
outputs and while it writes them, not while it reads and segments: several commands (a workflow's jobs, a shell
loop's ``&``) may write into one folder at once, each waiting for the others' brief holds
(:func:`_output_folder_held`); a folder that a batch run holds is refused at once, as before.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["register", "run_command", "add_pipeline_arguments", "options_markdown", "run_record"]

log = logging.getLogger(__name__)

#: what a pipeline command's lock on its output folder says it does (its purpose ends so): each hold is brief, and
#: another command that finds the folder held so waits for it (:func:`_output_folder_held`)
BRIEF_HOLDS = ("checking its outputs", "writing its outputs")
#: the longest a command waits for other commands' brief holds of its output folder (seconds), then it is refused
FOLDER_WAIT_S = 15 * 60

_CHANNEL_HELP = {
    "one": "channel to segment (0-based index or name); needed when the image has several",
    "many": "channels to use, comma-separated indices or names, or the option repeated (default: all)",
}


def _channel_help(spec: Any, /) -> str:
    """``--channel``'s help; for a many-channel pipeline, how it relates to the config's channel options."""
    if spec.channels == "one":
        return _CHANNEL_HELP["one"]
    from labelfree.options import config_fields

    keys = [f.key for f in config_fields(spec.config_class) if f.key.endswith(("channel", "channels"))]
    if not keys:
        return _CHANNEL_HELP["many"]
    options, verb = ("options", "choose") if len(keys) > 1 else ("option", "chooses")
    return (f"{_CHANNEL_HELP['many']}. Only these channels reach {spec.title}: its {options} {' and '.join(keys)} "
            f"(--set) then {verb} among them, by name or by index within this selection (with --channel 2,0, "
            "index 0 is the image's channel 2)")


def channel_names_argument(text: str, /) -> tuple[str, ...] | None:
    """``--channel-names DAPI,GFP``: one name per channel, in order."""
    from labelfree.errors import InputError
    from labelfree.image import parse_channel_names

    if not text.strip():
        raise argparse.ArgumentTypeError("the channel names are empty: give one name per channel, comma-separated "
                                         "in order, e.g. DAPI,GFP (an empty argument usually comes from an unset "
                                         "shell variable), or leave --channel-names out")
    try:
        return parse_channel_names(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def series_argument(text: str, /) -> int:
    """``--series N``: the index of an image series, a whole number from 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected the index of an image series, a whole number from 0 (the first "
                                         f"series is 0), got {text!r}")
    return value


def add_pipeline_arguments(p: argparse.ArgumentParser, spec: Any, /) -> None:
    """The arguments of ``labelfree <pipeline>``: input, run options, extra inputs and outputs."""
    from labelfree.cli import add_run_options, path_argument

    p.add_argument("input", type=path_argument("the input path", "an image file"),
                   help="image file (TIFF, ImageJ hyperstack, OME-TIFF; or a 2-D PNG, JPEG, BMP, GIF or PGM picture), "
                        "OME-Zarr image folder, or a folder of "
                        "TIFF frames, one file per time point (a movie named after the folder)")
    add_run_options(p, channel_help=_channel_help(spec))
    p.add_argument("--dims", help="axis letters of a plain TIFF without axis metadata, e.g. TYX or CYX (also a 3- or "
                                  "4-frame movie that tifffile stored as RGB planes: TYX); S names the colour samples "
                                  "of an RGB file, read as channels (e.g. TYXS)")
    p.add_argument("--channel-names", metavar="NAMES", type=channel_names_argument,
                   help="names for the image's channels, comma-separated in their order (e.g. DAPI,GFP): they replace "
                        "the file's names (or C0, C1, ...) for --channel, the channel options and a zoo's models")
    p.add_argument("--series", type=series_argument, metavar="N",
                   help="the image series to read from a file of several (a multi-position OME-TIFF: one per "
                        "position), counted from 0 in the file's order; without it the file's first full-resolution "
                        "image (a position's own file: its position) is read, with a warning listing the others. The "
                        "default --stem ends in _seriesN")
    p.add_argument("--stem", help="output file prefix (default: the input's whole name without its suffix; with "
                                  "--series N, followed by _seriesN)")
    p.add_argument("--print-paths", action="store_true",
                   help="print the absolute path of every output written, one per line, on stdout and nothing else "
                        "(labels, rois, table, the extras asked for, provenance last); for scripts and workflows")
    for inp in spec.inputs:
        if inp.kind == "choice":
            p.add_argument(inp.flag, dest=f"input_{inp.name}", choices=inp.choices,
                           help=f"{inp.help} (default: {inp.choices[0]})")
        else:
            p.add_argument(inp.flag, dest=f"input_{inp.name}", metavar="FILE" if inp.kind == "output" else inp.kind.upper(),
                           help=inp.help)
    for kind, (_, help_text) in spec.extra_outputs.items():
        p.add_argument(f"--{kind}", f"--{kind}-out", dest=f"extra_{kind}", action="store_true", help=help_text)
    p.add_argument("--overlay", action="store_true",
                   help="also write <stem>_overlay.png: the first frame (of a z-stack, its plane with the most "
                        "labelled pixels) with the object outlines drawn over it")
    p.add_argument("--ome-zarr", action="store_true",
                   help="also write <stem>_labels.ome.zarr: the labels as an OME-Zarr label image (NGFF 0.4, the "
                        "image's axes and pixel sizes, a pyramid above 1024 px) for napari and OME-Zarr tools")
    if spec.frame_overlap is not None:
        p.add_argument("--chunk-frames", type=int, metavar="N",
                       help="segment a time-lapse in chunks of N frames, one after the other, their labels joined "
                            "(object IDs carried across chunks) on a scratch file of the output folder (default: "
                            "only a movie whose labels would take more than half the memory left, in chunks whose "
                            "labels take a sixteenth of it)")
    if spec.tiles:
        p.add_argument("--tile", type=int, metavar="PX",
                       help="segment each plane in overlapping tiles of this size (large images: the image is "
                            "read and segmented tile by tile, the labels of the image are held whole; `labelfree "
                            "batch --tile` on Dask holds neither)")
        p.add_argument("--tile-overlap", type=int, metavar="PX",
                       help="pixels each tile reads beyond its core, at least the largest object diameter "
                            "(with --tile; default: 128)")


def register(sub: argparse._SubParsersAction) -> None:
    """``labelfree <pipeline>`` for every registered pipeline, ``demo`` and ``eval``."""
    import importlib

    from labelfree.cli import path_argument
    from labelfree.pipelines import pipelines

    for spec in pipelines().values():
        verbs = ""
        if spec.verbs:
            names = ",".join(importlib.import_module(spec.verbs).VERBS)
            verbs = f"\n\nMore: labelfree {spec.name} {{{names}}} --help"
        p = sub.add_parser(
            spec.name, help=spec.summary, formatter_class=argparse.RawDescriptionHelpFormatter,
            description=f"{spec.summary}. Writes <stem>_labels.tif, _rois.zip, _table.csv and _provenance.json "
                        f"into OUT.{verbs}",
        )
        add_pipeline_arguments(p, spec)
        p.set_defaults(func=run_command, pipeline=spec.name, explain_extra_words=_inputs_given_as_files)
        if spec.verbs and hasattr(importlib.import_module(spec.verbs), "register"):
            importlib.import_module(spec.verbs).register(sub)

    p = sub.add_parser("demo", help="run a pipeline on its bundled sample and score it against the sample's truth")
    p.add_argument("-o", "--out", type=path_argument("the output folder (-o)", "a folder"),
                   default=Path("labelfree-demo"),
                   help="output folder (default: %(default)s)")
    from labelfree.pipelines import DEFAULT_DEMO

    p.add_argument("--pipeline", default=DEFAULT_DEMO,
                   choices=[s.name for s in pipelines().values() if s.demo], help="pipeline to run (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another earlier result of the same name (a demo replaces its own earlier output "
                        "without it)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_demo)
    p = sub.add_parser("options", help="list every option of a pipeline or tool: key, default, range, help",
                       description="The keys work everywhere: --set KEY=VALUE, config files, Fiji dialogs and macros.")
    p.add_argument("command", nargs="?", help="pipeline or tool (default: all)")
    p.add_argument("--markdown", action="store_true", help="print the tables of docs/options.md")
    p.set_defaults(func=_options)


def _several_inputs_advice(pipeline: str, files: list[Path], /, pattern: str | None = None) -> str:
    """What to do with several image files given where a pipeline takes one: their folder read as one movie, or
    each file segmented on its own by ``labelfree batch`` (with ``pattern``, the one the user gave, else one of
    their folder and suffix)."""
    folders = {f.parent for f in files}
    suffixes = {f.suffix for f in files}
    folder = next(iter(folders)) if len(folders) == 1 else None
    if pattern is None:
        pattern = f"{folder / '*'}{next(iter(suffixes))}" if folder is not None and len(suffixes) == 1 else "PATTERN"
    movie = (f"Frames of one movie: give the folder that holds only them (read as one movie, in the order of their "
             f"frame numbers): labelfree {pipeline} {shlex.quote(str(folder))} -o OUT. " if folder is not None else "")
    return (f"{movie}Each image on its own: labelfree batch {shlex.quote(pattern)} --pipeline {pipeline} -o OUT (the "
            "pattern in quotes, so that the shell leaves it to LabelFree).")


def _inputs_given_as_files(args: argparse.Namespace, words: list[str]) -> str:
    """The usage error of ``labelfree <pipeline> frames/*.tif ...``: the shell gave several files as INPUT (an
    unquoted pattern), or words were left over."""
    files = [Path(w) for w in words if Path(w).is_file()]
    if len(files) == len(words) and args.input.is_file():
        second = (f" A second input of the pipeline (markers, a model) goes with its option: see labelfree "
                  f"{args.pipeline} --help." if len(words) == 1 else "")
        return (f"INPUT is one image, not a list of files; got {len(words) + 1} files ({args.input}, {words[0]}"
                f"{', ...' if len(words) > 1 else ''}), as a shell pattern such as frames/*.tif gives. "
                + _several_inputs_advice(args.pipeline, [args.input, *files]) + second)
    return (f"unrecognized argument{'s' if len(words) > 1 else ''}: {' '.join(words)} (INPUT is the one image "
            f"{args.input}, and the outputs go to -o {args.out}; options start with '-')")


def _check_pattern(pipeline: str, path: Path, /) -> None:
    """Refuse a quoted shell pattern given as the input (``labelfree motion 'frames/t*.tif'``) that names files: it
    is no file itself, and the message says what to give instead (else: 'does not exist')."""
    import glob

    if path.exists() or not glob.has_magic(str(path)):
        return
    files = sorted(Path(f) for f in glob.glob(str(path)))
    if not files:
        return
    shown = ", ".join(str(f) for f in files[:2]) + (", ..." if len(files) > 2 else "")
    raise InputError(f"{path} is a pattern that names {len(files)} file{'s' if len(files) > 1 else ''} ({shown}); "
                     f"labelfree {pipeline} reads one image. "
                     + (f"Give that file: labelfree {pipeline} {files[0]} -o OUT." if len(files) == 1 else
                        _several_inputs_advice(pipeline, files, str(path))))


def _input_files(spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The run's input files by role (never written over; recorded with their sha256): each file a value names
    on its own (``--model-file GFP=a.pt,Cy5=b.pt``: ``models GFP`` and ``models Cy5``)."""
    from labelfree.run import input_files

    files: dict[str, Any] = {"image": args.input}
    if getattr(args, "config", None):
        files["config"] = args.config
    files.update(input_files(spec, {inp.name: getattr(args, f"input_{inp.name}", None) for inp in spec.inputs}))
    return files


def _extra_recordings(spec: Any, args: argparse.Namespace, stack: contextlib.ExitStack, /) -> dict[str, Any]:
    """The recordings entered (on ``stack``) around the run for the extra outputs asked for, by kind: a writer with a
    ``recording`` attribute (a context manager class) keeps there what the run computes for it (Motion's ``--flow``:
    the flow speeds), and is handed it as ``recorded`` instead of computing it again."""
    from labelfree.spec import load

    kept = {}
    for kind, (target, _) in spec.extra_outputs.items():
        recording = getattr(load(target), "recording", None) if getattr(args, f"extra_{kind}", False) else None
        if recording is not None:
            kept[kind] = stack.enter_context(recording())
    return kept


def _extra_writers(spec: Any, args: argparse.Namespace, image: Any, labels: Any, config: Any,
                   recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    from labelfree.spec import load

    recorded = recorded or {}
    writers = {}
    if getattr(args, "overlay", False):
        from labelfree.overlay import overlay_png

        writers["overlay"] = lambda path: overlay_png(image, labels, path)
    if getattr(args, "ome_zarr", False):
        from labelfree.io.ngff.label_image import write_label_image

        writers["ome_zarr"] = lambda path: write_label_image(path, labels)
    for kind, (target, _) in spec.extra_outputs.items():
        if getattr(args, f"extra_{kind}", False):
            writer = load(target)
            handed = {"recorded": recorded[kind]} if kind in recorded else {}
            writers[kind] = lambda path, w=writer, h=handed: w(path, image, labels=labels, config=config, **h)
    return writers


def _check_file_inputs(spec: Any, inputs: dict[str, Any], /) -> None:
    """An input file given as a folder (``--model-file models/``) is said as such (an OME-Zarr image is a folder
    that is a file input); else the output checks would speak of an output inside the "folder input"."""
    from labelfree.io.ngff import is_ngff

    for inp in spec.inputs:
        value = inputs.get(inp.name)
        if inp.kind == "file" and not inp.folders and isinstance(value, str) and inp.given(value) \
                and Path(value).is_dir() and not is_ngff(Path(value)):
            raise InputError(f"{inp.flag} {value} is a folder, not a file; give the file itself. "
                             f"{inp.flag}: {inp.help}")


def read_config_option(spec: Any, args: argparse.Namespace, /) -> argparse.Namespace:
    """``args`` with ``--config`` read: a run's provenance record is repeated by :func:`labelfree.run.run_pipeline`
    (its models, model file, threads), less what the command's options decline (``record_declined``:
    ``labelfree fusion --zoo-best`` declines the recorded models)."""
    from labelfree._config import decline_recorded

    if not getattr(args, "config", None):
        return args
    config = spec.config_class.coerce(args.config, applies_record=True)
    config = decline_recorded(config, *(getattr(args, "record_declined", None) or ()))
    return argparse.Namespace(**{**vars(args), "config": config})


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``labelfree <pipeline>``: given a run's provenance record as ``--config``, it repeats that
    run (:func:`labelfree.run.run_pipeline`): its settings, threads and models, and reads the image as it did
    (its ``input_options`` and tiles, where this command line gives none: :func:`_input_choices`), and warns when
    the image is not the file that run read (:meth:`labelfree._reproduce.RecordedRun.warn_input`). Every run
    records its ``input_options``."""
    from labelfree._config import decline_recorded, describe_automatic, provenance_of
    from labelfree._reproduce import INPUT_ENTRIES, INPUT_OPTIONS, input_options
    from labelfree.cli import config_from_args, progress_from_args
    from labelfree.image import channel_names
    from labelfree.io import output_stem, read_image, write_outputs
    from labelfree.io.outputs import check_stem, plain_stem
    from labelfree.pipelines import get_pipeline
    from labelfree.run import output_inputs, prepare_image, run_tiling_as_needed

    spec = get_pipeline(args.pipeline)
    _check_pattern(spec.name, args.input)
    config = config_from_args(spec.config_class, read_config_option(spec, args))
    chosen = _input_choices(spec, args, config)  # given; a record given as --config fills in those not given
    given_record = provenance_of(config)
    config = decline_recorded(config, *INPUT_ENTRIES)  # taken here: run_pipeline takes them no more
    tile, overlap, channel = chosen["tile"], chosen["tile_overlap"], chosen["channels"]
    if overlap is not None and tile is None:
        raise InputError("--tile-overlap sets the overlap of tiles: give --tile PX too (a tiled run), or leave it out.")
    # a stem the user gives must be plain; one made from an odd file name (' lead.tif') is made plain
    series = chosen["series"]
    stem = check_stem(args.stem) if args.stem else plain_stem(output_stem(args.input))
    if series is not None and not args.stem:  # positions of one file, each to its own output set
        stem = f"{stem}_series{series}"
    extras = [k for k in spec.extra_outputs if getattr(args, f"extra_{k}", False)]
    if args.overlay:
        extras.append("overlay")
    if getattr(args, "ome_zarr", False):
        extras.append("ome_zarr")
    inputs = {inp.name: getattr(args, f"input_{inp.name}", None) for inp in spec.inputs}
    _check_file_inputs(spec, inputs)  # before the output folder is checked against them
    purpose = f"labelfree {spec.name} {args.input}"
    # the folder is held while the outputs are checked, and again while they are written (checked again then: a
    # run of the same stem may have written them meanwhile), not while the image is read and segmented
    with _output_folder_held(args.out, purpose, BRIEF_HOLDS[0], inputs=_input_files(spec, args),
                             overwrite=args.overwrite) as out:
        out.plan(stem, extras=extras)
        out.check_files(output_inputs(spec, inputs))  # e.g. a model file to save
    # a movie that may be segmented in chunks: a compressed TIFF is read as its chunks need it, not whole
    chunkable = spec.frame_overlap is not None and tile is None
    image = read_image(args.input, dims=chosen["dims"], channel_names=chosen["channel_names"], memmap=True,
                       series=series, lazy_unmapped=chunkable)
    if channel is None and given_record is not None:  # an older record: the channels it segmented
        channel = chosen["channels"] = given_record.older_channels(channel_names(image))
    if given_record is not None:  # by the sha256 the provenance records (computed once, here)
        given_record.warn_input(args.input, sha256=lambda: out.inputs["image"].sha256)
    recorded: dict[str, Any] = {}  # a chunked run keeps nothing for an extra output: the writer computes it
    with contextlib.ExitStack() as kept:  # what the run computes for an extra output, kept until written
        started = time.perf_counter()
        frames = _chunk_frames(spec, args, image, tile=tile, record=given_record)
        if frames:  # no tiles here: the chunks' labels are joined on a scratch file of the output folder
            from labelfree._disk_full import nearest_folder
            from labelfree.frame_chunks import run_in_chunks

            # the scratch file goes in the output folder, or above it while it is not made: no folder is left
            labels = run_in_chunks(spec.name, image, chunk_frames=frames, folder=nearest_folder(out.path),
                                   config=config, channel=channel, inputs=inputs, progress=progress_from_args(args),
                                   threads=args.threads, overwrite=args.overwrite, name=str(args.input))
        else:
            from labelfree.frame_chunks import read_whole

            if chunkable:  # a compressed TIFF segmented whole: read once, as before
                image = read_whole(image, args.input)
            chosen_tile = tile is None
            if chosen_tile:  # a plane whose work cannot fit whole: in tiles (recorded: a repeated run takes them)
                tile = _auto_tile(spec, args, image)
            recorded = _extra_recordings(spec, args, kept)
            # smaller tiles where the run, once it has read what it runs, finds that the chosen ones cannot fit
            labels = run_tiling_as_needed(spec, image, tile=tile, chosen=chosen_tile, choose="--tile PX to choose",
                                          say=lambda said: log.info("%s: %s", args.input, said), config=config,
                                          channel=channel, inputs=inputs, progress=progress_from_args(args),
                                          tile_overlap=128 if overlap is None else overlap, threads=args.threads,
                                          overwrite=args.overwrite)
        seconds = time.perf_counter() - started
        used = prepare_image(spec, image, channel=channel)
        with _output_folder_held(args.out, purpose, BRIEF_HOLDS[1], inputs=out.inputs,
                                 overwrite=args.overwrite) as out:
            out.plan(stem, extras=extras)
            paths = write_outputs(out, labels, image=used, stem=stem,
                                  extras=_extra_writers(spec, args, used, labels, config, recorded),
                                  record={**run_record(args),
                                          "input_options": input_options(**{k: chosen[k] for k in INPUT_OPTIONS})})
    if getattr(args, "print_paths", False):  # stdout: the paths alone, for a script to read
        for path in paths.values():
            print(Path(out.path, path))
        return 0
    if not args.quiet:
        made = labels.attrs.get("labelfree") or {}
        chunks, tiles = made.get("chunks"), made.get("tiles")
        how = (f" (in {len(chunks['frames'])} chunks of frames)" if chunks else
               f" (in tiles of {tiles['tile']} px)" if isinstance(tiles, dict) and tiles.get("tile") else "")
        print(f"labelfree {spec.name}: {_describe(labels)} in {seconds:.1f} s{how}; outputs in {out.path}:")
        chosen = describe_automatic(labels.attrs.get("labelfree", {}))
        if chosen:
            print(f"  automatic settings: {chosen}")
        for kind, path in paths.items():
            print(f"  {kind:<11}{path.name}")
    return 0


def _chunk_frames(spec: Any, args: argparse.Namespace, image: Any, /, *, tile: int | None,
                  record: Any = None) -> int | None:
    """The chunk length of a single run's movie (None: segmented whole): ``--chunk-frames`` when given; else the
    chunks of the run repeated from its provenance record (``--config``), so that it gives the same labels; else
    :func:`labelfree.frame_chunks.auto_chunk_frames` of the movie and the memory this process has left. A tiled
    run, a pipeline that learns from the whole movie and an image without a T axis are never chunked; a movie of
    no more frames than a chunk is segmented whole."""
    given = getattr(args, "chunk_frames", None)
    if spec.frame_overlap is None or "T" not in image.dims:
        if given is not None:
            raise InputError(f"--chunk-frames {given}: this image has no time axis (dims {''.join(image.dims)}); "
                             "leave --chunk-frames out, or give --dims if its frames were read as another axis.")
        return None
    overlap = int(spec.frame_overlap)
    if given is not None:
        if tile is not None:
            raise InputError("--chunk-frames and --tile together: a tiled run segments each plane in tiles and "
                             "cannot also split the movie into chunks; give one of them.")
        if given <= overlap:
            raise InputError(f"--chunk-frames {given}: a chunk needs more frames than the {overlap} it shares with "
                             f"the previous one; give {overlap + 1} or more.")
        return given if given < image.sizes["T"] else None
    if tile is not None:
        return None
    chunks = (record.record.get("chunks") if record is not None else None) or {}
    spans = chunks.get("frames") if isinstance(chunks, dict) else None
    if spans and isinstance(spans, list) and isinstance(spans[0], list) and len(spans[0]) == 2:
        frames = int(spans[0][1]) - int(spans[0][0])
        log.info("%s: its run was segmented in chunks of %d frames; so is this one (--chunk-frames N to choose)",
                 record.source, frames)
        return frames if frames < image.sizes["T"] else None
    from labelfree._label_memory import memory_left, run_bytes
    from labelfree.frame_chunks import auto_chunk_frames, chunks_chosen_text

    memory, sizes = memory_left(spec), dict(image.sizes)
    work = run_bytes(sizes, spec)[1]  # the pipeline's work on one frame, beside a chunk's labels
    frames = auto_chunk_frames(sizes, memory, overlap=overlap, work=work)
    if frames:
        log.info("%s", chunks_chosen_text(str(args.input), sizes, memory, frames, room="of memory left",
                                          choose="--chunk-frames N to choose", work=work))
    return frames


def _auto_tile(spec: Any, args: argparse.Namespace, image: Any, /) -> int | None:
    """The tile size of a single run that gives none (None: its planes whole): where the pipeline takes tiles and
    the labels and its work on one whole plane would not fit in the memory this process has left,
    :func:`labelfree._label_memory.auto_tile`'s (logged)."""
    from labelfree._label_memory import auto_tile, memory_left, tiles_chosen_text

    memory, sizes = memory_left(spec), dict(image.sizes)
    tile = auto_tile(sizes, spec, memory)
    if tile:
        log.info("%s", tiles_chosen_text(str(args.input), sizes, spec, memory, tile, room="of memory left",
                                         choose="--tile PX to choose"))
    return tile


@contextlib.contextmanager
def _output_folder_held(path: Any, purpose: str, doing: str, /, **kwargs: Any) -> Any:
    """``with OutputFolder(path, purpose=f"{purpose}: {doing}", **kwargs) as out``, waiting while another pipeline
    command holds the folder for one of its brief holds (:data:`BRIEF_HOLDS`; at most :data:`FOLDER_WAIT_S`);
    a folder held otherwise (a batch run, for its whole run) is refused at once (FolderInUseError). A folder that
    another command made and removed again (its run failed, or it had only checked) while this one was taking
    it is taken again."""
    from labelfree.errors import FolderInUseError, OutputError
    from labelfree.io import OutputFolder

    started, delay, unknown, vanished = time.monotonic(), 0.02, 0, 0
    while True:
        folder = OutputFolder(path, purpose=f"{purpose}: {doing}", **kwargs)
        try:
            folder.open()
            break
        except FolderInUseError:
            holder = _holder_purpose(folder.path)
            unknown = unknown + 1 if holder is None else 0  # just taken, its purpose not yet written
            brief = holder.endswith(BRIEF_HOLDS) if holder is not None else unknown <= 50
            if not brief or time.monotonic() - started > FOLDER_WAIT_S:
                raise
            if delay == 0.02:
                log.info("waiting for the output folder %s, held briefly by another LabelFree run (%r)", folder.path,
                         holder or "taking it")
        except OutputError as exc:  # its lock file's folder gone as it was made: another run removed it, empty
            vanished += 1
            if not isinstance(exc.__cause__, FileNotFoundError) or folder.path.is_dir() or vanished > 20:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    try:
        yield folder
    finally:
        folder.close()


def _holder_purpose(folder: Path, /) -> str | None:
    """What the holder of ``folder``'s lock says it does (its ``purpose``); None when that cannot be read."""
    from labelfree.io.outputs import LOCK_FILE

    try:
        purpose = json.loads((folder / LOCK_FILE).read_text(encoding="utf-8"))["purpose"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return purpose if isinstance(purpose, str) else None


def _input_choices(spec: Any, args: argparse.Namespace, config: Any, /) -> dict[str, Any]:
    """How the command reads its image and hands it over (``channels``, ``channel_names``, ``dims``, ``series``,
    ``tile``, ``tile_overlap``; None: not given): as given, and for a run repeated from its provenance record
    (``--config X_provenance.json``) what that run chose where this command line gives nothing
    (:meth:`labelfree._reproduce.RecordedRun.input_choices`: a choice given that differs is said)."""
    from labelfree._config import provenance_of
    from labelfree.image import parse_channels

    given = {"channels": parse_channels(args.channel), "channel_names": getattr(args, "channel_names", None),
             "dims": getattr(args, "dims", None), "series": getattr(args, "series", None),
             "tile": getattr(args, "tile", None), "tile_overlap": getattr(args, "tile_overlap", None)}
    recorded = provenance_of(config)
    return given if recorded is None else recorded.input_choices(given, tiles=bool(spec.tiles))


def run_record(args: argparse.Namespace, /) -> dict[str, Any]:
    """The provenance entries of a command-line run (any command that writes a record: the pipelines, ``stitch``,
    ``drift``): ``command`` and ``cwd`` (:func:`_command_record`) and the ``warnings`` it showed
    (:func:`_warnings_record`); nothing when the arguments did not come from :func:`labelfree.cli.main`."""
    return {**_command_record(args), **_warnings_record(args)}


def _command_record(args: argparse.Namespace, /) -> dict[str, Any]:
    """The provenance entries of a command-line run: ``command`` (as typed, quoted for a POSIX shell) and
    ``cwd`` (the folder its relative paths start from); nothing when the arguments did not come from
    :func:`labelfree.cli.main`."""
    from labelfree._reproduce import command_entries

    argv = getattr(args, "argv", None)
    return {} if argv is None else command_entries(argv)


def _warnings_record(args: argparse.Namespace, /) -> dict[str, Any]:
    """The provenance entry ``warnings`` of a command-line run: the warnings shown while it read, segmented and
    began writing (sorted, each once, as a batch run records an input's); nothing when there were none or the
    arguments did not come from :func:`labelfree.cli.main`."""
    shown = getattr(args, "warnings_shown", None)
    return {"warnings": sorted(shown)} if shown else {}


def _describe(labels: Any) -> str:
    values = np.asarray(labels)
    if "T" in labels.dims:
        n = sum(int(np.count_nonzero(np.unique(values[t]))) for t in range(values.shape[0]))
        return f"{n} objects over {labels.sizes['T']} frames"
    return f"{int(np.count_nonzero(np.unique(values)))} objects"


def _demo(args: argparse.Namespace) -> int:
    from labelfree._config import describe_automatic
    from labelfree.io import OutputFolder, read_manifest, write_outputs
    from labelfree.metrics import evaluate
    from labelfree.pipelines import get_pipeline
    from labelfree.run import prepare_image, run_pipeline
    from labelfree.spec import load

    spec = get_pipeline(args.pipeline)
    demo = load(spec.demo)()
    stem = _demo_stem(spec, demo.name)
    earlier = read_manifest(args.out, stem, verify=False)
    # a demo replaces its own earlier output (the same pipeline's demo), nothing else unless --overwrite
    replace = args.overwrite or bool(earlier and earlier.get("demo") and earlier.get("pipeline") == spec.name)
    if not args.quiet:
        print(f"{spec.title} demo: {demo.name}, dims {''.join(demo.image.dims)}, shape {tuple(demo.image.shape)}")
        if demo.note:
            print(f"  {demo.note}")
    with OutputFolder(args.out, overwrite=replace, purpose=f"labelfree demo --pipeline {spec.name}") as out:
        out.plan(stem)
        started = time.perf_counter()
        labels = run_pipeline(spec, demo.image, config=demo.config, inputs=demo.inputs, progress=False)
        seconds = time.perf_counter() - started
        labels.attrs["labelfree"] = {**labels.attrs["labelfree"], "demo": True}
        paths = write_outputs(out, labels, image=prepare_image(spec, demo.image), stem=stem,
                              record={**_command_record(args), **_warnings_record(args)})
    score = evaluate(np.asarray(labels), np.asarray(demo.truth))
    if not args.quiet:
        print(f"{spec.name}: {_describe(labels)} in {seconds:.1f} s")
        chosen = describe_automatic(labels.attrs["labelfree"])
        if chosen:
            print(f"automatic settings: {chosen}")
        print(f"against the sample's ground truth: pixel F1 {score['pixel_f1']:.3f}, object F1 {score['f1']:.3f}, "
              f"mean matched IoU {score['mean_iou']:.3f}")
        print(f"Outputs written to {out.path}:")
        for kind, path in paths.items():
            print(f"  {kind:<11}{path}")
    return 0


def _demo_stem(spec: Any, name: str, /) -> str:
    """The output name of ``spec``'s demo: the sample's name, or ``<sample>_<pipeline>`` when another pipeline's
    demo runs the same sample and owns that name (the default demo, else the one registered first): threshold
    runs Motion's movie and writes sample_movie_threshold_*, so the demos of several pipelines in one folder keep
    their own outputs."""
    from labelfree.pipelines import DEFAULT_DEMO, pipelines

    sharing = [s.name for s in pipelines().values() if s.demo == spec.demo]
    owner = DEFAULT_DEMO if DEFAULT_DEMO in sharing else sharing[0]
    return name if owner == spec.name else f"{name}_{spec.name}"



def _fiji_key_note(f: Any, /, *, markdown: bool = False) -> str:
    """The mark of a Fiji/macro-only key: not a --set option, and what the command line uses instead."""
    if not f.cli:
        return ""
    if markdown:
        shown = f"`{f.cli}`" if f.cli.startswith("-") else re.sub(r"<stem>\S+", lambda m: f"`{m.group(0)}`", f.cli)
        return f"**Fiji/macro key**; command line: {shown}. "
    return f"[Fiji/macro key; CLI: {f.cli}] "


def options_markdown(names: list[str] | None = None, /) -> str:
    """docs/options.md: a table of the pipelines and tools, then every option of each (generated)."""
    from labelfree.imagej.fields import command_fields, command_spec
    from labelfree.options import value_text
    from labelfree.pipelines import pipelines, tools

    specs = [command_spec(n) for n in names] if names else [*pipelines().values(), *tools().values()]
    lines = ["# Options of every pipeline and tool", "",
             "Generated by `labelfree options --markdown` from the pipelines' specs and configs; do not edit.",
             "Every pipeline option works as `--set KEY=VALUE` on the command line, in a JSON/YAML config file, in",
             "the Fiji dialog (basic options on the first page, the others under *advanced_options*) and in a macro:",
             '`run("LabelFree Motion", "key=value ...")`. *auto* means the value is chosen from the data; values are',
             "written as you type them (`true`/`false`, lists comma-separated).",
             "The keys marked **Fiji/macro key** (the extra inputs, `image`, `channel`, `rois`, `table`, `output`,",
             "`overwrite`, `config_file`) belong to the Fiji command and its macros; `--set` refuses them, and each",
             "says what the command line uses instead (`--channel`, `-o/--out`, `--overwrite`, `--config`, ...).", "",
             "| command | menu | what it does | extra inputs |", "|---|---|---|---|"]
    for spec in specs:
        extra = ", ".join(f"`{i.flag}`" for i in getattr(spec, "inputs", ())) or "-"
        lines.append(f"| `{spec.name}` | {spec.menu_title} | {spec.summary} | {extra} |")
    for spec in specs:
        lines += ["", f"## {spec.menu_title} (`labelfree {spec.name}`)", "", spec.summary + ".", "",
                  "| key | default | allowed | first dialog | group | meaning |", "|---|---|---|---|---|---|"]
        for f in command_fields(spec.name):
            default = "empty" if f.default in ("", ()) else value_text(f, f.default)
            allowed = ", ".join(f.choices) if f.choices else f.range or f.kind
            lines.append(f"| `{f.key}` | `{default}` | {allowed} | {'yes' if f.basic else ''} | {f.group} | "
                         f"{(_fiji_key_note(f, markdown=True) + f.help).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _options(args: argparse.Namespace) -> int:
    from labelfree.imagej.fields import command_fields, command_spec
    from labelfree.options import value_text
    from labelfree.pipelines import pipelines, tools

    names = [args.command] if args.command else [*pipelines(), *tools()]
    if args.markdown:
        print(options_markdown(names if args.command else None), end="")
        return 0
    for name in names:
        spec = command_spec(name)
        print(f"{spec.menu_title} (labelfree {spec.name}): {spec.summary}")
        fields = command_fields(spec.name)
        first_fiji_key = next((f for f in fields if f.cli), None)
        for f in fields:
            if f is first_fiji_key:
                print("  Fiji dialog and macro keys: --set refuses them; [CLI: ...] says what the command line uses instead")
            allowed = "|".join(f.choices) if f.choices else f.range
            print(f"  {f.key:<30} {value_text(f, f.default):<14} {allowed:<18} {_fiji_key_note(f)}{f.help}")
        print()
    return 0
