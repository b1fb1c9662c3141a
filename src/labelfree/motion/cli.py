"""``labelfree motion IN.tif -o OUT/``: the Motion pipeline from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "motion",
        help="segment moving cells in a time-lapse (self-supervised, optical flow)",
        description="Self-supervised segmentation of a live-cell time-lapse from optical flow "
        "(Robitaille et al. 2022). Writes <stem>_labels.tif, _rois.zip, _table.csv and "
        "_provenance.json into OUT.",
    )
    p.add_argument("input", type=Path, help="time-lapse TIFF (ImageJ hyperstack, OME-TIFF or T×Y×X TIFF)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--config", help="MotionConfig as a JSON/YAML file")
    p.add_argument("--dims", help="axes of a plain TIFF, e.g. TYX (needed when a Z-stack is really time)")
    p.add_argument("--channel", default=None, help="channel (index or name) of a multi-channel movie")
    p.add_argument("--flow-out", action="store_true", help="also write <stem>_flow.tif (flow speed per frame)")
    p.add_argument("--stem", default=None, help="file name prefix (default: the input's name)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from labelfree.image import select_channel
    from labelfree.io import read_image, write_outputs
    from labelfree.motion.config import MotionConfig
    from labelfree.motion.segment import segment

    cfg = MotionConfig.coerce(args.config)
    movie = read_image(args.input, dims=args.dims, memmap=True)
    if "C" in movie.dims:
        channel = args.channel if args.channel is not None else 0
        movie = select_channel(movie, int(channel) if str(channel).isdigit() else channel)
    stem = args.stem or args.input.name.split(".")[0]
    labels = segment(movie, config=cfg, progress=not args.quiet and sys.stderr.isatty())
    paths = write_outputs(args.out, labels, image=movie, stem=stem)
    if args.flow_out:
        paths["flow"] = _write_flow(args.out / f"{stem}_flow.tif", movie, cfg)
    if not args.quiet:
        n = int(labels.max()) if labels.size else 0
        print(f"labelfree motion: {labels.sizes['T']} frames, {n} label id(s)")
        for kind, path in paths.items():
            print(f"  {kind}: {path}")
    return 0


def _write_flow(path: Path, movie, cfg) -> Path:
    """Write the flow-speed stack as a float32 ImageJ TIFF, atomically."""
    import tifffile

    from labelfree.motion.flow import flow_magnitude_stack

    flow = flow_magnitude_stack(movie, config=cfg)
    tmp = path.with_name(path.name + ".part")
    tifffile.imwrite(tmp, flow.values[:, None, None], imagej=True, metadata={"axes": "TZCYX", "unit": "pixel/frame"})
    tmp.replace(path)
    return path
