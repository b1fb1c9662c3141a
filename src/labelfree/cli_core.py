"""The core commands: ``labelfree <pipeline> INPUT -o OUT`` for every registered pipeline, ``demo`` and ``eval``.

Every pipeline command has the same shape (see :func:`labelfree.cli.add_run_options`);
its extra inputs (``--markers``, ``--zoo``, ...) and extra outputs (``--flow``) come
from its spec. The output folder and file names are checked, and the folder held,
before the image is read. ``eval`` scores a label image against ground truth.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError
from labelfree.io import read_labels
from labelfree.io.ctc import seg_frame

__all__ = ["register", "format_metrics", "run_command", "add_pipeline_arguments", "options_markdown"]

_METRIC_ROWS = (
    ("pixel_precision", "pixel precision"),
    ("pixel_recall", "pixel recall"),
    ("pixel_f1", "pixel F1"),
    ("pixel_jaccard", "pixel Jaccard"),
    ("precision", "object precision"),
    ("recall", "object recall"),
    ("f1", "object F1"),
    ("mean_iou", "mean IoU (matched)"),
    ("average_precision", "average precision"),
    ("aji", "aggregated Jaccard"),
    ("seg", "CTC SEG"),
)


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
                   help="also write <stem>_overlay.png: the first plane with the object outlines drawn over it")
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
        p.set_defaults(func=run_command, pipeline=spec.name)
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
    _register_eval(sub)


def _input_files(spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    files: dict[str, Any] = {"image": args.input}
    if getattr(args, "config", None):
        files["config"] = args.config
    for inp in spec.inputs:
        value = getattr(args, f"input_{inp.name}", None)
        if value and inp.is_path:
            files[inp.name] = value
    return files


def _extra_writers(spec: Any, args: argparse.Namespace, image: Any, labels: Any, config: Any) -> dict[str, Any]:
    from labelfree.spec import load

    writers = {}
    if getattr(args, "overlay", False):
        from labelfree.overlay import overlay_png

        writers["overlay"] = lambda path: overlay_png(image, labels, path)
    for kind, (target, _) in spec.extra_outputs.items():
        if getattr(args, f"extra_{kind}", False):
            writer = load(target)
            writers[kind] = lambda path, w=writer: w(path, image, labels=labels, config=config)
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


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``labelfree <pipeline>``."""
    from labelfree._config import describe_automatic
    from labelfree.cli import config_from_args, progress_from_args
    from labelfree.image import parse_channels
    from labelfree.io import OutputFolder, output_stem, read_image, write_outputs
    from labelfree.io.outputs import check_stem, plain_stem
    from labelfree.pipelines import get_pipeline
    from labelfree.run import output_inputs, prepare_image, run_pipeline

    spec = get_pipeline(args.pipeline)
    overlap = getattr(args, "tile_overlap", None)
    if overlap is not None and getattr(args, "tile", None) is None:
        raise InputError("--tile-overlap sets the overlap of tiles: give --tile PX too (a tiled run), or leave it out.")
    config = config_from_args(spec.config_class, args)
    channel = parse_channels(args.channel)
    # a stem the user gives must be plain; one made from an odd file name (' lead.tif') is made plain
    series = getattr(args, "series", None)
    stem = check_stem(args.stem) if args.stem else plain_stem(output_stem(args.input))
    if series is not None and not args.stem:  # positions of one file, each to its own output set
        stem = f"{stem}_series{series}"
    extras = [k for k in spec.extra_outputs if getattr(args, f"extra_{k}", False)]
    if args.overlay:
        extras.append("overlay")
    inputs = {inp.name: getattr(args, f"input_{inp.name}", None) for inp in spec.inputs}
    _check_file_inputs(spec, inputs)  # before the output folder is checked against them
    with OutputFolder(args.out, inputs=_input_files(spec, args), overwrite=args.overwrite,
                      purpose=f"labelfree {spec.name} {args.input}") as out:
        out.plan(stem, extras=extras)
        out.check_files(output_inputs(spec, inputs))  # e.g. a model file to save
        image = read_image(args.input, dims=args.dims, channel_names=args.channel_names, memmap=True, series=series)
        started = time.perf_counter()
        labels = run_pipeline(spec, image, config=config, channel=channel, inputs=inputs,
                              progress=progress_from_args(args), tile=getattr(args, "tile", None),
                              tile_overlap=128 if overlap is None else overlap, threads=args.threads,
                              overwrite=args.overwrite)
        seconds = time.perf_counter() - started
        used = prepare_image(spec, image, channel=channel)
        paths = write_outputs(out, labels, image=used, stem=stem,
                              extras=_extra_writers(spec, args, used, labels, config), record=_command_record(args))
    if not args.quiet:
        print(f"labelfree {spec.name}: {_describe(labels)} in {seconds:.1f} s; outputs in {out.path}:")
        chosen = describe_automatic(labels.attrs.get("labelfree", {}))
        if chosen:
            print(f"  automatic settings: {chosen}")
        for kind, path in paths.items():
            print(f"  {kind:<11}{path.name}")
    return 0


def _command_record(args: argparse.Namespace, /) -> dict[str, Any]:
    """The provenance entries of a command-line run: ``command`` (as typed, quoted for a POSIX shell) and
    ``cwd`` (the folder its relative paths start from); nothing when the arguments did not come from
    :func:`labelfree.cli.main`."""
    import os
    import shlex

    argv = getattr(args, "argv", None)
    if argv is None:
        return {}
    return {"command": shlex.join(["labelfree", *map(str, argv)]), "cwd": os.getcwd()}


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
        paths = write_outputs(out, labels, image=prepare_image(spec, demo.image), stem=stem)
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


def _register_eval(sub: argparse._SubParsersAction) -> None:
    from labelfree.cli import path_argument

    p = sub.add_parser("eval", help="score a label image against ground truth")
    p.add_argument("pred", type=path_argument("the prediction path", "a label TIFF"),
                   help="predicted label TIFF, grey PNG (8 or 16 bit) or OME-Zarr label image (2-D or a T stack)")
    p.add_argument(
        "gt", type=path_argument("the ground-truth path", "a label TIFF or a SEG folder"),
        help="ground-truth label TIFF, grey PNG (8 or 16 bit, e.g. Cellpose's _masks.png) or OME-Zarr label "
             "image, or a Cell Tracking Challenge SEG folder: "
             "man_segNNN.tif is scored against "
             "frame NNN of a T-stack prediction (the frames both have; a single-frame prediction takes the one file "
             "of its frame); (Z, Y, X) man_seg files are scored as volumes of 3-D objects"
    )
    p.add_argument("--threshold", type=_unit_interval, default=0.5, help="IoU threshold for object matching, in (0, 1]")
    p.add_argument("--only-annotated", action="store_true", help="score only objects that overlap ground truth")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_eval)


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"the IoU threshold must lie in (0, 1]; got {value}")
    return value


def _frames_text(frames: list[int], /, *, limit: int = 12) -> str:
    """``[0, 1, 2, 3, 5, 7]`` -> ``"0-3, 5, 7"`` (at most ``limit`` items, then the count)."""
    runs: list[list[int]] = []
    for t in frames:
        if runs and t == runs[-1][1] + 1:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    items = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if len(items) > limit:
        items = items[:limit] + [f"... ({len(frames)} frames)"]
    return ", ".join(items)


def _seg_files(seg_dir: Path) -> dict[int, Path]:
    files = {}
    for f in seg_dir.iterdir():
        t = seg_frame(f.name)
        if t is not None and f.is_file():
            files[t] = f
    if not files:
        slices = sorted(seg_dir.glob("man_seg*_*.tif*"))
        hint = (" It holds only annotated slices of 3-D data (man_seg_TTT_ZZZ.tif), which eval does not score."
                if slices else "")
        raise InputError(f"{seg_dir} holds no man_segNNN.tif files (Cell Tracking Challenge SEG layout).{hint}")
    return dict(sorted(files.items()))


def _pairs_from_ctc(pred: np.ndarray, seg_dir: Path, *, pred_name: str = "the prediction"
                    ) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """The prediction's frames and the ground truth of a CTC SEG folder, paired by frame number.

    Frame t of a (T, Y, X) prediction is scored against ``man_segTTT.tif``; annotated
    frames beyond the prediction's last are left out. A single-frame prediction needs a
    folder with one annotated frame (else: pass that frame's file). Shapes are checked
    first, so a prediction of another dataset is a shape error, not a frame-count one.

    Returns
    -------
    pred, gt : (N, Y, X) stacks of the scored frames
    scored, left_out : the ground-truth frame numbers scored, and those beyond the prediction
    """
    files = _seg_files(seg_dir)
    numbers = list(files)
    first = read_labels(files[numbers[0]])
    single = pred.ndim == first.ndim
    frame_shape = pred.shape if single else pred.shape[1:]
    if pred.ndim not in (first.ndim, first.ndim + 1) or frame_shape != first.shape:
        raise InputError(
            f"The prediction has {'shape' if single else 'frames of shape'} {frame_shape} but the ground truth "
            f"{files[numbers[0]].name} in {seg_dir} has shape {first.shape}; they must match. Is it the same "
            "dataset and sequence?"
        )
    if single:
        if len(files) != 1:
            raise InputError(
                f"{pred_name} is a single frame, but {seg_dir} holds {len(files)} annotated frames "
                f"({_frames_text(numbers)}), so which one it shows is unknown. Pass that frame's file, e.g. "
                f"labelfree eval {pred_name} {files[numbers[0]]}, or give the prediction of the whole sequence as "
                "a T stack (its frame t is scored against man_segTTT.tif)."
            )
        return pred[None], first[None], numbers, []
    n = pred.shape[0]
    scored = [t for t in numbers if t < n]
    left_out = [t for t in numbers if t >= n]
    if not scored:
        raise InputError(
            f"None of the annotated frames of {seg_dir} ({_frames_text(numbers)}) lies within the {n} frames of "
            f"{pred_name} (0-{n - 1}; a stack's frame t is scored against man_segTTT.tif). Give the prediction of "
            f"the whole sequence (at least {numbers[0] + 1} frames), or score one frame: save it alone and pass its "
            f"file, e.g. {files[numbers[0]]}."
        )
    gts = []
    for t in scored:
        gt = first if t == numbers[0] else read_labels(files[t])
        if gt.shape != first.shape:
            raise InputError(f"{files[t]} has shape {gt.shape} but {files[numbers[0]].name} {first.shape}; the "
                             "frames of one SEG folder must have one shape.")
        gts.append(gt)
    return pred[scored], np.stack(gts), scored, left_out


class _HoldWarnings(logging.Filter):
    """Drops a logger's warnings (see :func:`_said_already`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


@contextlib.contextmanager
def _said_already(name: str, /) -> Iterator[None]:
    """Hold back the warnings of logger ``name`` while a file is read again that a warning was given for
    already (``eval`` reads a label file for its values, then again for the names of its axes)."""
    held = _HoldWarnings()
    logger = logging.getLogger(name)
    logger.addFilter(held)
    try:
        yield
    finally:
        logger.removeFilter(held)


def _label_axes(path: Path, shape: tuple[int, ...]) -> dict[str, int] | None:
    """The axes of a label file, named as the file records them, with their sizes (length-one axes left out, as
    :func:`read_labels` leaves them out); None when the file records none (a plain TIFF of 3 or more axes)."""
    from labelfree.errors import LabelFreeError
    from labelfree.io import read_image

    try:
        with _said_already("labelfree.io.tiff"):  # read_labels read this file and gave its warnings
            da = read_image(path, memmap=True)
    except LabelFreeError:
        return None
    sizes = {str(d): int(n) for d, n in da.sizes.items() if n != 1}
    if da.attrs.get("planar_rgb") or sorted(sizes.values()) != sorted(shape):
        return None  # planes tifffile took for colours: the axes are not known
    return sizes


def _mismatch_message(pred_path: Path, pred_shape: tuple[int, ...], gt_path: Path, gt_shape: tuple[int, ...]) -> str:
    """Why a prediction and its ground truth cannot be scored together (their axes and sizes), and what to do."""
    axes = {"p": _label_axes(pred_path, pred_shape), "g": _label_axes(gt_path, gt_shape)}

    def said(path: Path, shape: tuple[int, ...], named: dict[str, int] | None) -> str:
        if named is None:
            return (f"{path.name} has shape {shape} with no axes recorded (eval takes 3 axes as T, Y, X and 4 as "
                    "T, Z, Y, X)")
        return f"{path.name} has axes {', '.join(f'{d}={n}' for d, n in named.items())}"

    text = (f"The prediction and the ground truth must have the same axes of the same sizes: "
            f"{said(pred_path, pred_shape, axes['p'])}, but {said(gt_path, gt_shape, axes['g'])}.")
    p, g = axes["p"], axes["g"]
    if p is None or g is None:
        return text + (" Record the axes of the file without them (Fiji: Image > Properties, Slices or Frames; then "
                       "File > Save As > Tiff), or check that both files show the same image.")
    one_plane = ("save one plane (Fiji: Image > Duplicate... with one slice; Python: read_image(path).isel(Z=k)) or "
                 "a projection (Fiji: Image > Stacks > Z Project..., Max Intensity) of it as TIFF and score against "
                 "that file")
    if "Z" in g and "Z" not in p:
        hint = (f" The ground truth has Z planes and the prediction has none, as a segmentation of one plane or of a "
                f"projection has: {one_plane.replace('of it', 'of the ground truth')}; or segment every plane (a "
                "pipeline that takes Z, e.g. labelfree threshold; a plain TIFF read with --dims naming its Z axis, "
                "e.g. --dims ZYX).")
        if "T" in p and "T" not in g:
            hint += (" If the ground truth's planes are really time points, record them as frames (Fiji: Image > "
                     "Properties, Frames instead of Slices, then File > Save As > Tiff).")
        return text + hint
    if "Z" in p and "Z" not in g:
        hint = (f" The prediction has Z planes and the ground truth has none (one plane or a projection): "
                f"{one_plane.replace('of it', 'of the prediction')}.")
        if "T" in g and "T" not in p:
            hint += (" If the prediction's planes are really time points, segment the image again with them as "
                     "frames (--dims naming that axis T; Fiji: Image > Properties, Frames instead of Slices).")
        return text + hint
    if "T" in p and "T" not in g:
        return text + (" The ground truth is one frame: save the prediction's frame it annotates (Fiji: Image > "
                       "Duplicate... with one frame; Python: labels[t]) as TIFF and score that, or give a Cell "
                       "Tracking Challenge SEG folder (man_segTTT.tif for frame TTT) as the ground truth.")
    if "T" in g and "T" not in p:
        return text + (" The prediction is one frame: segment the whole time-lapse, or save the ground truth's "
                       "frame that it shows (Fiji: Image > Duplicate... with one frame) and score against that.")
    if set(p) != set(g):
        return text + " Save both with the same axes (Fiji: Image > Properties) and score again."
    differ = [d for d in p if p[d] != g[d]]
    if not differ:
        return text + (" The files store these axes in different orders: save both from Fiji (File > Save As > "
                       "Tiff stores T, Z, Y, X in that order) and score again.")
    if differ == ["T"]:
        return text + (f" They differ in their number of frames ({p['T']} and {g['T']}): save the frames both "
                       "cover (Fiji: Image > Duplicate..., a range of frames) and score those, or give a Cell "
                       "Tracking Challenge SEG folder, whose frames are matched by number.")
    return text + (f" They differ in {', '.join(differ)}: the prediction must be of the image the ground truth "
                   "annotates, uncropped and unscaled; check that the two files belong together.")


def format_metrics(result: dict, /) -> str:
    """The metrics of :func:`labelfree.metrics.evaluate` as an aligned text table."""
    lines = [f"{'metric':<22}{'value':>10}", "-" * 32]
    for key, label in _METRIC_ROWS:
        lines.append(f"{label:<22}{result[key]:>10.4f}")
    lines.append(f"{'TP / FP / FN':<22}{result['tp']:>4d} /{result['fp']:>4d} /{result['fn']:>4d}")
    lines.append(f"(IoU threshold {result['threshold']}, {result['n_frames']} frame(s))")
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from labelfree.io.ngff import is_ngff
    from labelfree.metrics import evaluate, label_image_problems

    pred = read_labels(args.pred)
    scored: list[int] | None = None
    left_out: list[int] = []
    n_pred = pred.shape[0] if pred.ndim == 3 else 1
    if args.gt.is_dir() and not is_ngff(args.gt):  # an OME-Zarr label image is a folder too
        pred, gt, scored, left_out = _pairs_from_ctc(pred, args.gt, pred_name=str(args.pred))
    else:
        gt = read_labels(args.gt)
    if pred.shape != gt.shape:  # (the frames of a SEG folder are checked against the prediction's when paired)
        raise InputError(_mismatch_message(args.pred, pred.shape, args.gt, gt.shape))
    for name, labels in ((args.pred.name, pred), (args.gt.name, gt)):
        for problem in label_image_problems(labels, name=name):
            print(f"labelfree: warning: {problem}", file=sys.stderr)
    if scored is None and gt.ndim == 3 and seg_frame(args.gt.name) is not None:
        # a CTC man_segNNN.tif holds one frame: a 3-D one is a (Z, Y, X) volume of 3-D objects, not a T stack
        import xarray as xr

        pred, gt = xr.DataArray(pred, dims=("Z", "Y", "X")), xr.DataArray(gt, dims=("Z", "Y", "X"))
    result = evaluate(pred, gt, threshold=args.threshold, only_annotated=args.only_annotated)
    if scored is not None:
        result["frames"] = scored
        result["frames_not_scored"] = left_out
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_metrics(result))
    if scored is not None:
        note = (f"ground-truth frames scored: {_frames_text(scored)} ({len(scored)} of the "
                f"{len(scored) + len(left_out)} annotated in {args.gt})")
        if left_out:
            note += f"; not scored, beyond the prediction's {n_pred} frames: {_frames_text(left_out)}"
        print(note)
    return 0


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
