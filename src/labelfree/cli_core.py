"""The core commands: ``labelfree <pipeline> INPUT -o OUT`` for every registered pipeline, ``demo`` and ``eval``.

Every pipeline command has the same shape (see :func:`labelfree.cli.add_run_options`);
its extra inputs (``--markers``, ``--zoo``, ...) and extra outputs (``--flow``) come
from its spec. The output folder and file names are checked, and the folder held,
before the image is read. ``eval`` scores a label image against ground truth.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError
from labelfree.io import read_labels

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
    "many": "channels to use, comma-separated indices or names (default: all)",
}


def add_pipeline_arguments(p: argparse.ArgumentParser, spec: Any, /) -> None:
    """The arguments of ``labelfree <pipeline>``: input, run options, extra inputs and outputs."""
    from labelfree.cli import add_run_options

    p.add_argument("input", type=Path, help="image file (TIFF, ImageJ hyperstack, OME-TIFF)")
    add_run_options(p, channel_help=_CHANNEL_HELP[spec.channels])
    p.add_argument("--dims", help="axis letters of a plain TIFF without axis metadata, e.g. TYX or CYX (also a 3- or "
                                  "4-frame movie that tifffile stored as RGB planes: TYX); S names the colour samples "
                                  "of an RGB file, read as channels (e.g. TYXS)")
    p.add_argument("--stem", help="output file prefix (default: the input's whole name without its suffix)")
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
                       help="segment each plane in overlapping tiles of this size (large images; memory per tile)")
        p.add_argument("--tile-overlap", type=int, default=128, metavar="PX",
                       help="pixels each tile reads beyond its core, at least the largest object diameter "
                            "(default: %(default)s)")


def register(sub: argparse._SubParsersAction) -> None:
    """``labelfree <pipeline>`` for every registered pipeline, ``demo`` and ``eval``."""
    import importlib

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
    p.add_argument("-o", "--out", type=Path, default=Path("labelfree-demo"), help="output folder (default: %(default)s)")
    from labelfree.pipelines import DEFAULT_DEMO

    p.add_argument("--pipeline", default=DEFAULT_DEMO,
                   choices=[s.name for s in pipelines().values() if s.demo], help="pipeline to run (default: %(default)s)")
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


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``labelfree <pipeline>``."""
    from labelfree._config import describe_automatic
    from labelfree.cli import config_from_args, progress_from_args
    from labelfree.image import parse_channels
    from labelfree.io import OutputFolder, output_stem, read_image, write_outputs
    from labelfree.io.outputs import check_stem
    from labelfree.pipelines import get_pipeline
    from labelfree.run import output_inputs, prepare_image, run_pipeline

    spec = get_pipeline(args.pipeline)
    config = config_from_args(spec.config_class, args)
    channel = parse_channels(args.channel)
    stem = check_stem(args.stem) if args.stem else output_stem(args.input)
    extras = [k for k in spec.extra_outputs if getattr(args, f"extra_{k}", False)]
    if args.overlay:
        extras.append("overlay")
    inputs = {inp.name: getattr(args, f"input_{inp.name}", None) for inp in spec.inputs}
    with OutputFolder(args.out, inputs=_input_files(spec, args), overwrite=args.overwrite,
                      purpose=f"labelfree {spec.name} {args.input}") as out:
        out.plan(stem, extras=extras)
        out.check_files(output_inputs(spec, inputs))  # e.g. a model file to save
        image = read_image(args.input, dims=args.dims, memmap=True)
        started = time.perf_counter()
        labels = run_pipeline(spec, image, config=config, channel=channel, inputs=inputs,
                              progress=progress_from_args(args), tile=getattr(args, "tile", None),
                              tile_overlap=getattr(args, "tile_overlap", 128), threads=args.threads,
                              overwrite=args.overwrite)
        seconds = time.perf_counter() - started
        used = prepare_image(spec, image, channel=channel)
        paths = write_outputs(out, labels, image=used, stem=stem, extras=_extra_writers(spec, args, used, labels, config))
    if not args.quiet:
        print(f"labelfree {spec.name}: {_describe(labels)} in {seconds:.1f} s; outputs in {out.path}:")
        chosen = describe_automatic(labels.attrs.get("labelfree", {}))
        if chosen:
            print(f"  automatic settings: {chosen}")
        for kind, path in paths.items():
            print(f"  {kind:<11}{path.name}")
    return 0


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
    earlier = read_manifest(args.out, demo.name, verify=False)
    replace = bool(earlier and earlier.get("demo"))  # only an earlier demo result is replaced
    if not args.quiet:
        print(f"{spec.title} demo: {demo.name}, dims {''.join(demo.image.dims)}, shape {tuple(demo.image.shape)}")
        if demo.note:
            print(f"  {demo.note}")
    with OutputFolder(args.out, overwrite=replace, purpose=f"labelfree demo --pipeline {spec.name}") as out:
        out.plan(demo.name)
        started = time.perf_counter()
        labels = run_pipeline(spec, demo.image, config=demo.config, inputs=demo.inputs, progress=False)
        seconds = time.perf_counter() - started
        labels.attrs["labelfree"] = {**labels.attrs["labelfree"], "demo": True}
        paths = write_outputs(out, labels, image=prepare_image(spec, demo.image), stem=demo.name)
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


def _register_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a label image against ground truth")
    p.add_argument("pred", type=Path, help="predicted label TIFF (2-D or a T stack)")
    p.add_argument(
        "gt", type=Path, help="ground-truth label TIFF, or a Cell Tracking Challenge SEG folder (man_segNNN.tif)"
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


def _pairs_from_ctc(pred: np.ndarray, seg_dir: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    files = sorted(seg_dir.glob("man_seg*.tif"))
    if not files:
        raise InputError(f"{seg_dir} holds no man_segNNN.tif files (Cell Tracking Challenge SEG layout).")
    frames, preds, gts = [], [], []
    for f in files:
        m = re.fullmatch(r"man_seg(\d+)\.tif", f.name)
        if not m:
            continue
        t = int(m.group(1))
        if pred.ndim == 2:
            if len(files) != 1:
                raise InputError("A 2-D prediction can only be scored against a single ground-truth frame.")
            p = pred
        elif t < pred.shape[0]:
            p = pred[t]
        else:
            raise InputError(f"Ground truth has frame {t} but the prediction has only {pred.shape[0]} frames.")
        frames.append(t)
        preds.append(p)
        gts.append(read_labels(f))
    return np.stack(preds), np.stack(gts), frames


def format_metrics(result: dict, /) -> str:
    """The metrics of :func:`labelfree.metrics.evaluate` as an aligned text table."""
    lines = [f"{'metric':<22}{'value':>10}", "-" * 32]
    for key, label in _METRIC_ROWS:
        lines.append(f"{label:<22}{result[key]:>10.4f}")
    lines.append(f"{'TP / FP / FN':<22}{result['tp']:>4d} /{result['fp']:>4d} /{result['fn']:>4d}")
    lines.append(f"(IoU threshold {result['threshold']}, {result['n_frames']} frame(s))")
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from labelfree.metrics import evaluate

    pred = read_labels(args.pred)
    if args.gt.is_dir():
        pred, gt, _ = _pairs_from_ctc(pred, args.gt)
    else:
        gt = read_labels(args.gt)
    if pred.shape != gt.shape:
        raise InputError(f"The prediction has shape {pred.shape} but the ground truth {gt.shape}; they must match.")
    result = evaluate(pred, gt, threshold=args.threshold, only_annotated=args.only_annotated)
    print(json.dumps(result, indent=2) if args.json else format_metrics(result))
    return 0


def options_markdown(names: list[str] | None = None, /) -> str:
    """docs/options.md: a table of the pipelines and tools, then every option of each (generated)."""
    from labelfree.imagej.fields import command_fields, command_spec
    from labelfree.pipelines import pipelines, tools

    specs = [command_spec(n) for n in names] if names else [*pipelines().values(), *tools().values()]
    lines = ["# Options of every pipeline and tool", "",
             "Generated by `labelfree options --markdown` from the pipelines' specs and configs; do not edit.",
             "Every key works as `--set KEY=VALUE` on the command line, in a JSON/YAML config file, in the Fiji",
             "dialog (basic options on the first page, the others under *advanced_options*) and in a macro:",
             '`run("LabelFree Motion", "key=value ...")`. *auto* means the value is chosen from the data.',
             "The keys after a pipeline's own options (`image`, `channel`, `rois`, `table`, `output`, `overwrite`,",
             "`config_file`) belong to the Fiji command; on the command line they are `--channel`, `-o/--out`,",
             "`--overwrite` and `--config`.", "",
             "| command | menu | what it does | extra inputs |", "|---|---|---|---|"]
    for spec in specs:
        extra = ", ".join(f"`{i.flag}`" for i in getattr(spec, "inputs", ())) or "-"
        lines.append(f"| `{spec.name}` | {spec.menu_title} | {spec.summary} | {extra} |")
    for spec in specs:
        lines += ["", f"## {spec.menu_title} (`labelfree {spec.name}`)", "", spec.summary + ".", "",
                  "| key | default | allowed | first dialog | group | meaning |", "|---|---|---|---|---|---|"]
        for f in command_fields(spec.name):
            default = "auto" if f.default is None else ("empty" if f.default in ("", ()) else f.default)
            if isinstance(default, tuple):
                default = ",".join(map(str, default))
            allowed = ", ".join(f.choices) if f.choices else f.range or f.kind
            lines.append(f"| `{f.key}` | `{default}` | {allowed} | {'yes' if f.basic else ''} | {f.group} | "
                         f"{f.help.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _options(args: argparse.Namespace) -> int:
    from labelfree.imagej.fields import command_fields, command_spec
    from labelfree.pipelines import pipelines, tools

    names = [args.command] if args.command else [*pipelines(), *tools()]
    if args.markdown:
        print(options_markdown(names if args.command else None), end="")
        return 0
    for name in names:
        spec = command_spec(name)
        print(f"{spec.menu_title} (labelfree {spec.name}): {spec.summary}")
        for f in command_fields(spec.name):
            default = "auto" if f.default is None else f.default
            allowed = "|".join(f.choices) if f.choices else f.range
            print(f"  {f.key:<30} {str(default):<14} {allowed:<18} {f.help}")
        print()
    return 0
