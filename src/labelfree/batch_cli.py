"""``labelfree batch``: segment folders, glob patterns or manifests headless, on Dask."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["register", "handle_batch"]

EPILOG = """\
examples:
  labelfree batch movies/ --pipeline motion --out results/
  labelfree batch "plate/**/*.tif" --pipeline threshold --config opts.yaml --out res/ --workers 4
  labelfree batch manifest.csv --pipeline cutter --out res/ --scheduler tcp://head:8786
  labelfree batch plates/ --pipeline threshold --out res/ --series 2
  labelfree batch movies/ --pipeline motion --out res/ --drift --fiji ~/Fiji.app
  labelfree batch imgs/ --pipeline threshold --out res/ --truth truth/
  labelfree batch Fluo-N2DH-GOWT1/ --pipeline motion --out res/ --truth Fluo-N2DH-GOWT1/ --only-annotated

A file of several images (a multi-position OME-TIFF, a bioformats2raw OME-Zarr container)
is one input per full-resolution image, with outputs <stem>_seriesN_*; --series N reads
position N of every input instead (a manifest 'series' column chooses per file).
A rerun with the same inputs, config and version skips finished inputs (--force redoes
them); earlier results made differently are replaced only with --overwrite. One run at a
time writes into an output folder. --truth DIR scores each input's labels against its ground
truth in DIR (<stem>.tif, <stem>_masks.png, _mask, _labels, _gt, _seg; TIFF or PNG; a Cell
Tracking Challenge <stem>_GT/SEG/ or <stem>/ of man_segNNN.tif, a movie scored on its annotated
frames) as labelfree eval does (--truth-threshold and --only-annotated are its threshold and
only-annotated options): scores in the summary CSV, a pooled total in the report. Exit code: 0 all
inputs ok or skipped, 1 some failed or could not be scored against their ground truth (see the
report and the summary CSV), 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (finished inputs are
kept; rerun to finish).
"""


def _named_path(text: str) -> tuple[str, str]:
    if "=" not in text or not text.split("=", 1)[0].strip() or not text.split("=", 1)[1].strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (e.g. zoo=models/), got {text!r}")
    name, path = text.split("=", 1)
    return name.strip(), path.strip()


def register(sub: Any) -> None:
    """Add the ``batch`` sub-command to the ``labelfree`` parser."""
    from labelfree.cli import add_run_options, path_argument
    from labelfree.cli_core import channel_names_argument, series_argument
    from labelfree.evaluation.cli import iou_threshold
    from labelfree.pipelines import pipelines

    p = sub.add_parser(
        "batch", help="segment many images headless (local cores or a Dask cluster)",
        description="Segment every input with one pipeline and write label TIFF, ROI zip, CSV table and "
        "provenance per input, plus a summary table of the run.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="folder (its image files; without any: its folders of frames, one movie each; for motion a "
                        "folder of frames itself is one movie), glob pattern (quoted), CSV/YAML manifest or image "
                        "file")
    p.add_argument("--pipeline", "-p", required=True, choices=list(pipelines()), help="pipeline to run")
    add_run_options(p, channel_help="channel(s) to segment in every input (a manifest 'channels' column "
                                    "overrides it per file)")
    p.add_argument("--dims", help="axis letters of every input without axis metadata, e.g. TYX (a manifest 'dims' "
                                  "column overrides it per file)")
    p.add_argument("--channel-names", metavar="NAMES", type=channel_names_argument,
                   help="names for every input's channels, comma-separated in their order, e.g. DAPI,GFP (a manifest "
                        "'channel_names' column overrides it per file)")
    p.add_argument("--series", type=series_argument, metavar="N",
                   help="the image series to read of every input, counted from 0 (a multi-position OME-TIFF: one "
                        "per position); outputs <stem>_seriesN_*; an input without it fails (a manifest 'series' "
                        "column overrides it per file). Default: every full-resolution series of a file of several, "
                        "each an input of its own")
    p.add_argument("--input", dest="extra_inputs", action="append", type=_named_path, default=[],
                   metavar="NAME=PATH", help="an extra input of the pipeline for every file, e.g. zoo=models/ "
                   "(a manifest column NAME overrides it per file)")
    p.add_argument("--zoo", metavar="DIR", help="the same as --input zoo=DIR")
    p.add_argument("--truth", metavar="DIR", type=path_argument("--truth", "the folder of ground truth"),
                   help="folder of ground truth: each input's labels are scored against the label image of its stem "
                        "(<stem>.tif, <stem>_masks.tif or .png, _mask, _labels, _gt, _seg) or its Cell Tracking "
                        "Challenge SEG folder (DIR/<stem>_GT/SEG/, so DIR may be the dataset folder; DIR/<stem>/ of "
                        "man_segNNN.tif; a movie is scored on the annotated frames) as labelfree eval scores them; "
                        "scores in the summary, a pooled total in the report")
    p.add_argument("--truth-threshold", metavar="IOU", type=iou_threshold, default=0.5,
                   help="IoU threshold of an object match in the scores against the ground truth, in (0, 1] (as "
                        "labelfree eval's threshold; default 0.5)")
    p.add_argument("--only-annotated", action="store_true",
                   help="score only the predicted objects that overlap ground truth, as labelfree eval does with "
                        "this option: for ground truth of some cells only, e.g. the Cell Tracking Challenge's GOWT1 "
                        "and MSC SEG")
    p.add_argument("--ome-zarr", action="store_true",
                   help="also write each input's labels as <stem>_labels.ome.zarr, an OME-Zarr label image for "
                        "napari and OME-Zarr tools; a rerun makes it for the inputs finished without it")
    p.add_argument("--no-objects-table", action="store_true",
                   help="write no objects table (batch_objects.csv: every input's objects in one CSV); the same as "
                        "objects_name: null in --batch-config")
    p.add_argument("--batch-config", help="batch options file (JSON/YAML with BatchConfig fields)")
    run = p.add_argument_group("execution")
    run.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786; default: Dask's "
                     "configured scheduler-address unless --cluster is slurm or pbs, else a new cluster), or 'sync' "
                     "to run one input after another without Dask")
    run.add_argument("--cluster", choices=("local", "slurm", "pbs"),
                     help="cluster to start when no scheduler is given: local workers, or SLURM/PBS jobs through "
                          "dask-jobqueue (job settings from Dask's jobqueue config), scaled adaptively")
    run.add_argument("--min-workers", type=int, help="workers a SLURM/PBS cluster keeps while idle (default 0)")
    run.add_argument("--io-retries", type=int, help="send an input a worker cannot read to another worker up to "
                     "N times (default 2)")
    run.add_argument("--workers", type=int, help="local Dask workers (default 2)")
    run.add_argument("--threads-per-worker", type=int, help="threads per local worker (default 1)")
    run.add_argument("--in-process", action="store_true",
                     help="local workers as threads of this process instead of separate processes")
    run.add_argument("--memory-limit", help="memory limit per local worker, e.g. 4GB ('auto' shares RAM; 'none')")
    run.add_argument("--chunk-frames", type=int, help="split long time-lapses into tasks of N frames "
                     "(pipelines that allow it; default: only a movie whose labels would not fit a task's memory, "
                     "in chunks chosen from it)")
    run.add_argument("--force", action="store_true", help="redo inputs a previous run already finished")
    run.add_argument("--tile", type=int, metavar="PX", help="segment each plane in overlapping tiles of PX pixels "
                     "(large images; pipelines that allow it)")
    run.add_argument("--tile-overlap", type=int, metavar="PX", help="pixels each tile reads beyond its core "
                     "(default 128; at least the largest object diameter)")
    fiji = p.add_argument_group("drift correction / Fiji")
    fiji.add_argument("--drift", action="store_true", help="correct stage drift before segmentation")
    fiji.add_argument("--fiji", metavar="DIR", help="Fiji installation: run the Fiji steps through pyimagej headless")
    fiji.add_argument("--fiji-in-worker", action="store_true",
                      help="start the JVM inside the Dask worker (default: a subprocess per Fiji step)")
    p.set_defaults(func=handle_batch)


def _batch_config(args: argparse.Namespace) -> Any:
    from labelfree.batch import BatchConfig

    cfg = BatchConfig.coerce(args.batch_config)
    changes: dict[str, Any] = {
        "scheduler": args.scheduler, "n_workers": args.workers, "threads_per_worker": args.threads_per_worker,
        "chunk_frames": args.chunk_frames, "cluster": args.cluster,
        # relative to the current folder, where the command was typed (a worker or a Fiji subprocess may run elsewhere)
        "fiji_dir": os.path.abspath(os.path.expanduser(args.fiji)) if args.fiji else None,
        "min_workers": args.min_workers, "io_retries": args.io_retries, "tile": args.tile,
        "tile_overlap": args.tile_overlap,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if args.tile_overlap is not None and not changes.get("tile", cfg.tile):
        from labelfree.errors import ConfigError

        raise ConfigError("--tile-overlap sets the overlap of tiles, but this batch is not tiled: give --tile PX too "
                          "(or tile: in the batch config), or leave it out.")
    inputs = dict(cfg.inputs)
    if args.zoo:
        inputs["zoo"] = args.zoo
    inputs.update(dict(args.extra_inputs))
    if inputs != cfg.inputs:
        changes["inputs"], changes["zoo"] = inputs, None
    if args.memory_limit is not None:
        changes["memory_limit"] = None if args.memory_limit.lower() == "none" else args.memory_limit
    if args.in_process:
        changes["processes"] = False
    if args.threads is not None:
        changes["task_threads"] = args.threads
    if args.no_objects_table:
        changes["objects_name"] = None
    for flag, field in (("force", "force"), ("overwrite", "overwrite"), ("drift", "drift_correction"),
                        ("fiji_in_worker", "fiji_in_worker"), ("ome_zarr", "ome_zarr")):
        if getattr(args, flag):
            changes[field] = True
    return cfg.replace(**changes)


def handle_batch(args: argparse.Namespace) -> int:
    """Run ``labelfree batch``; print the report; return 0 / 1 (failures) / 130 (cancelled; the command exits 143
    when SIGTERM cancelled it)."""
    from labelfree.batch import exit_code, format_report, run_batch
    from labelfree.cli import config_from_args, progress_from_args
    from labelfree.errors import Cancelled
    from labelfree.image import parse_channels
    from labelfree.pipelines import get_pipeline

    spec = get_pipeline(args.pipeline)
    batch = _batch_config(args)
    from labelfree.cli_core import read_config_option

    config = config_from_args(spec.config_class, read_config_option(spec, args))  # a record: its models, threads
    try:
        summary = run_batch(args.inputs, pipeline=spec.name, out_dir=args.out, config=config, batch=batch,
                            progress=progress_from_args(args), channels=parse_channels(args.channel),
                            channel_names=args.channel_names, dims=args.dims, config_file=args.config,
                            series=args.series, truth=args.truth, truth_threshold=args.truth_threshold,
                            only_annotated=args.only_annotated)
    except Cancelled as exc:
        print(f"labelfree batch: {exc}", file=sys.stderr)
        return 130
    code = exit_code(summary)
    if not args.quiet:
        print(format_report(summary))
    elif code:  # -q prints nothing but errors: the failed inputs are errors
        print(format_report(summary), file=sys.stderr)
    return code
