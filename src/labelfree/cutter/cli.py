"""``labelfree cutter``: the Cutter pipeline from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["register", "read_markers", "run"]


def read_markers(path: str | Path, /, *, shape: tuple[int, ...]) -> Any:
    """Read markers from a CSV of points, a label TIFF or an ImageJ ROI zip.

    CSV: a header with ``y`` and ``x`` columns (any case; ImageJ's ``X``/``Y`` work),
    optionally ``t`` / ``frame`` for time-lapses, in pixels. TIFF: a nucleus label image.
    ROI zip / .roi: point ROIs (one marker per point) or area ROIs (their centroids).
    ``shape`` is (Y, X) or (T, Y, X) of the image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Marker file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pandas as pd

        table = pd.read_csv(path)
        cols = {c.strip().lower(): c for c in table.columns}
        if "y" not in cols or "x" not in cols:
            raise InputError(f"{path} needs columns named y and x (pixels); it has {list(table.columns)}.")
        tcol = cols.get("t", cols.get("frame"))
        keys = ([tcol] if tcol and len(shape) == 3 else []) + [cols["y"], cols["x"]]
        return table[keys].to_numpy(dtype=np.float64)
    if suffix in (".zip", ".roi"):
        from labelfree.io import rois_to_labels

        return rois_to_labels(str(path), shape=shape).astype(np.int64)
    if suffix in (".tif", ".tiff"):
        from labelfree.io import read_image

        labels = np.asarray(read_image(path).values)
        return labels.reshape(shape) if labels.size == int(np.prod(shape)) else labels
    raise InputError(f"Unknown marker file type {path.name!r}: give a .csv of points, a label .tif or a ROI .zip.")


def register(subparsers: Any) -> None:
    """Add the ``cutter`` sub-command."""
    p = subparsers.add_parser(
        "cutter",
        help="unsupervised marker-controlled CNN (one patch per cell marker)",
        description="Segment whole cells with the Cutter CNN trained on the image itself. Markers "
        "come from --markers or are detected in --nucleus-channel.",
    )
    p.add_argument("image", help="input image (TIFF / ImageJ hyperstack / OME-TIFF)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--markers", help="markers: points .csv (y, x[, t]), label .tif or ROI .zip")
    p.add_argument("--nucleus-channel", help="channel (index or name) showing nuclei, for marker detection")
    p.add_argument("--cell-channels", help="comma-separated channels fed to the network (default: all others)")
    p.add_argument("--config", help="CutterConfig as JSON/YAML file")
    p.add_argument("--steps", type=int, help="training steps (default from config)")
    p.add_argument("--downscale", type=float, help="reduce the image by this factor first (default: automatic, "
                   "from the cell size)")
    p.add_argument("--save-model", help="save the trained model to this .pt file")
    p.add_argument("--model", help="apply this trained model instead of training")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="torch device (default cpu)")
    p.add_argument("--dims", help="axis letters of a plain TIFF, e.g. CYX")
    p.add_argument("--stem", help="output file prefix (default: the image name)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run)


def _channel(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def run(args: argparse.Namespace) -> int:
    """Handler of ``labelfree cutter``."""
    from labelfree.cutter.config import CutterConfig
    from labelfree.cutter.segment import segment
    from labelfree.io import read_image, write_outputs

    cfg = CutterConfig.coerce(args.config)
    changes: dict[str, Any] = {}
    if args.nucleus_channel is not None:
        changes["nucleus_channel"] = _channel(args.nucleus_channel)
    if args.cell_channels:
        changes["cell_channels"] = [_channel(c) for c in args.cell_channels.split(",")]
    for key, value in (("n_steps", args.steps), ("downscale", args.downscale), ("device", args.device),
                       ("save_model_file", args.save_model), ("model_file", args.model)):
        if value is not None:
            changes[key] = value
    cfg = cfg.replace(**changes)
    image = read_image(args.image, dims=args.dims)
    markers = None
    if args.markers:
        shape = tuple(image.sizes[d] for d in ("T", "Y", "X") if d in image.dims)
        markers = read_markers(args.markers, shape=shape)
    labels = segment(image, markers=markers, config=cfg, progress=args.progress)
    stem = args.stem or Path(args.image).name.split(".")[0]
    paths = write_outputs(args.output, labels, image=image, stem=stem)
    n = int(len(np.unique(labels.values)) - 1)
    print(f"cutter: {n} cells; wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
