"""``labelfree drift`` and ``labelfree stitch``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["register", "write_image"]

_IJ_TYPES = (np.uint8, np.uint16, np.float32)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drift", help="correct stage drift of a time-lapse (Fiji's Correct 3D drift or Python)")
    p.add_argument("input", type=Path, help="time-lapse TIFF (ImageJ hyperstack, OME-TIFF or plain stack)")
    p.add_argument("-o", "--output", type=Path, required=True, help="corrected movie (ImageJ TIFF)")
    p.add_argument("--shifts", type=Path, help="also write the measured shifts to this CSV")
    p.add_argument("--apply", type=Path, metavar="CSV", help="apply shifts saved earlier instead of measuring")
    p.add_argument("--dims", help="axes of a plain stack, e.g. TYX (default: from the file)")
    _common(p)
    p.add_argument("--reference", choices=("previous", "first"), default="previous")
    p.add_argument("--channel", default="0", help="registration channel: index or name (default: 0)")
    p.add_argument("--canvas", choices=("grow", "crop", "same"), default="grow")
    p.add_argument("--max-shift", type=float, help="largest shift per measurement (pixels)")
    p.add_argument("--integer", action="store_true", help="whole-pixel shifts only (no interpolation)")
    p.set_defaults(func=_drift)

    p = sub.add_parser("stitch", help="stitch overlapping tiles (Fiji's Grid/Collection stitching or Python)")
    p.add_argument("tiles", type=Path, help="folder of tile TIFFs (with --grid) or a TileConfiguration.txt")
    p.add_argument("-o", "--output", type=Path, required=True, help="fused image (ImageJ TIFF)")
    p.add_argument("--grid", help="ROWSxCOLS of a regular grid, e.g. 3x4 (files in name order)")
    p.add_argument("--overlap", type=float, default=0.2, help="tile overlap fraction (default: 0.2)")
    p.add_argument("--order", default="row-by-row",
                   choices=("row-by-row", "column-by-column", "snake-by-rows", "snake-by-columns"))
    p.add_argument("--positions", type=Path, help="also write the tile positions to this CSV")
    p.add_argument("--subpixel", action="store_true", help="sub-pixel positions and interpolated fusion")
    _common(p)
    p.set_defaults(func=_stitch)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("auto", "fiji", "python"), default="auto",
                   help="auto: Fiji when started with --fiji and it has the plugin, else Python")
    p.add_argument("--fiji", type=Path, metavar="DIR", help="Fiji.app folder to start for the Fiji backend")


def write_image(path: Path, image: Any, /) -> Path:
    """Write an image DataArray as an ImageJ hyperstack TIFF with its calibration (atomically)."""
    import tifffile

    from labelfree.io._atomic import atomic_path
    from labelfree.io.labels_tiff import imagej_calibration

    data = np.asarray(image.values)
    if data.dtype not in _IJ_TYPES:
        data = data.astype(np.uint8 if data.dtype == bool else np.float32)
    resolution, meta = imagej_calibration(image)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, imagej=True, resolution=resolution, metadata={"axes": "".join(image.dims), **meta})
    return path


def _start_fiji(args: argparse.Namespace) -> None:
    if args.fiji is not None:
        from labelfree.imagej import start

        start(args.fiji, headless=True)


def _drift(args: argparse.Namespace) -> int:
    from labelfree.io import read_image
    from labelfree.registration import apply_shifts, correct_drift

    movie = read_image(args.input, dims=args.dims)
    channel: int | str = int(args.channel) if args.channel.lstrip("-").isdigit() else args.channel
    if args.apply is not None:
        corrected = apply_shifts(movie, args.apply, canvas=args.canvas, subpixel=not args.integer)
        shifts = None
    else:
        _start_fiji(args)
        corrected, shifts = correct_drift(
            movie, backend=args.backend, reference=args.reference, channel=channel,
            subpixel=not args.integer, canvas=args.canvas, max_shift=args.max_shift,
        )
    write_image(args.output, corrected)
    print(f"wrote {args.output} ({'x'.join(map(str, corrected.shape))} {''.join(corrected.dims)})")
    if shifts is not None:
        cols = [c for c in ("dz", "dy", "dx") if c in shifts.columns]
        largest = float(np.abs(shifts[cols].to_numpy()).max())
        print(f"{len(shifts)} frames, largest drift {largest:.2f} px "
              f"(backend {corrected.attrs['drift_correction']['backend']})")
        if args.shifts is not None:
            from labelfree.io import write_table

            write_table(args.shifts, shifts)
            print(f"wrote {args.shifts}")
    return 0


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _load_tiles(args: argparse.Namespace) -> tuple[list[Any], Any]:
    from labelfree.io import read_image
    from labelfree.registration import read_tile_configuration

    if args.tiles.is_file():
        table = read_tile_configuration(args.tiles)
        return [read_image(p) for p in table["path"]], table[["y", "x"]].to_numpy()
    if not args.tiles.is_dir():
        raise InputError(f"{args.tiles} is neither a folder of tiles nor a TileConfiguration file.")
    files = sorted((f for f in args.tiles.iterdir() if f.suffix.lower() in (".tif", ".tiff")), key=_natural_key)
    m = re.fullmatch(r"(\d+)[xX](\d+)", args.grid or "")
    if not m:
        raise InputError("A folder of tiles needs --grid ROWSxCOLS (e.g. --grid 3x3), or give a TileConfiguration.txt.")
    return [read_image(f) for f in files], (int(m.group(1)), int(m.group(2)))


def _stitch(args: argparse.Namespace) -> int:
    from labelfree.registration import stitch

    tiles, layout = _load_tiles(args)
    _start_fiji(args)
    fused, positions = stitch(
        tiles, layout, backend=args.backend, overlap=args.overlap,
        config={"order": args.order, "subpixel": args.subpixel},
    )
    write_image(args.output, fused)
    print(f"wrote {args.output} ({'x'.join(map(str, fused.shape))}) from {len(tiles)} tiles")
    if args.positions is not None:
        from labelfree.io import write_table

        write_table(args.positions, positions)
        print(f"wrote {args.positions}")
    return 0
