"""``labelfree drift`` and ``labelfree stitch``."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelfree._input_digest import natural_key
from labelfree.cli import progress_from_args
from labelfree.errors import InputError
from labelfree.io.labels_tiff import LABELS_SUFFIXES
from labelfree.io.tables import TABLE_SUFFIXES

__all__ = ["positions_table", "register", "skipped_names", "write_image"]

log = logging.getLogger(__name__)

_IJ_TYPES = (np.uint8, np.uint16, np.float32)


def register(sub: argparse._SubParsersAction) -> None:
    from labelfree.cli import add_config_options, add_progress_options, file_argument, path_argument

    out_file = file_argument("the output file (-o)", "a file name, e.g. -o corrected.tif")
    csv_file = file_argument("the CSV path", "a file name, e.g. shifts.csv")
    p = sub.add_parser("drift", help="correct stage drift of a time-lapse (Fiji's Correct 3D drift or Python)")
    p.add_argument("input", type=path_argument("the input path", "a time-lapse TIFF"),
                   help="time-lapse TIFF (ImageJ hyperstack, OME-TIFF or plain stack)")
    p.add_argument("-o", "--out", "--output", dest="output", type=out_file, required=True,
                   help="corrected movie (ImageJ TIFF)")
    p.add_argument("--shifts", type=csv_file, help="also write the measured shifts to this CSV")
    p.add_argument("--apply", type=csv_file, metavar="CSV", help="apply shifts saved earlier instead of measuring")
    p.add_argument("--dims", help="axes of a plain stack, e.g. TYX (default: from the file)")
    p.add_argument("--channel", help="registration channel: index or name (default: 0)")
    _common(p)
    p.add_argument("--reference", choices=("previous", "first"), help="match to the previous or the first frame")
    p.add_argument("--canvas", choices=("grow", "crop", "same"), help="output field of view")
    p.add_argument("--max-shift", type=float, help="largest shift per measurement (pixels)")
    p.add_argument("--integer", action="store_true", help="whole-pixel shifts only (no interpolation)")
    p.add_argument("--labels", action="store_true",
                   help="with --apply: the movie is a label image; shifts are rounded to whole pixels (no label is "
                        "interpolated) and the output is a label image")
    add_config_options(p)
    add_progress_options(p)
    p.set_defaults(func=_drift)

    p = sub.add_parser("stitch", help="stitch overlapping tiles (Fiji's Grid/Collection stitching or Python)")
    p.add_argument("tiles",
                   type=path_argument("the input path (TILES)", "a folder of tiles or a TileConfiguration.txt"),
                   help="folder of tile TIFFs (a grid) or a TileConfiguration.txt")
    p.add_argument("-o", "--out", "--output", dest="output", type=out_file, required=True,
                   help="fused image (ImageJ TIFF)")
    p.add_argument("--grid", help="ROWSxCOLS of a regular grid, e.g. 3x4 (files in name order); default (or 'auto'): "
                                  "the grid and order whose neighbouring tiles match best in their overlaps")
    p.add_argument("--overlap", type=float, help="tile overlap fraction (default: 0.2)")
    p.add_argument("--order", choices=("row-by-row", "column-by-column", "snake-by-rows", "snake-by-columns"))
    p.add_argument("--positions", type=csv_file, help="also write the tile positions to this CSV")
    p.add_argument("--subpixel", action="store_true", help="sub-pixel positions and interpolated fusion")
    _common(p)
    add_config_options(p)
    add_progress_options(p)
    p.set_defaults(func=_stitch, explain_extra_words=_tiles_given_as_files)


def _tiles_given_as_files(args: argparse.Namespace, words: list[str]) -> str:
    """The usage error of ``labelfree stitch tiles/*.tif ...``: the shell gave several files as TILES."""
    return (f"TILES is one folder of tiles (with --grid RxC) or one TileConfiguration file, not a list of files; "
            f"got {len(words) + 1} paths ({args.tiles}, {words[0]}, ...), as a shell pattern such as tiles/*.tif "
            "gives. "
            f"Give the folder instead: labelfree stitch {args.tiles.parent} --grid RxC -o OUT.tif")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("auto", "fiji", "python"),
                   help="auto: Fiji when started with --fiji and it has the plugin, else Python")
    p.add_argument("--fiji", type=Path, metavar="DIR", help="Fiji.app folder to start for the Fiji backend")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")


def _config(config_class: Any, args: argparse.Namespace, **flags: Any) -> Any:
    from labelfree.cli import config_from_args

    cfg = config_from_args(config_class, args)
    changes = {k: v for k, v in flags.items() if v is not None}
    return cfg.replace(**changes) if changes else cfg


@contextlib.contextmanager
def _held_outputs(args: argparse.Namespace, inputs: dict[str, Any], outputs: dict[str, Path | None], *,
                  purpose: str) -> Iterator[dict[str, Path]]:
    """Check every output file before any work and hold its folder while the command runs.

    The folders are held as the segmenting commands hold theirs (:class:`labelfree.io.OutputFolder`):
    a missing folder is created with its parents (and removed again when the command ends before
    writing into it) and is locked against other LabelFree runs. No output is an input, and none
    replaces a file unless --overwrite.
    """
    from labelfree.io import OutputFolder
    from labelfree.io.atomic import check_file_suffix
    from labelfree.io.outputs import check_not_input

    checked: dict[str, Path] = {}
    folders: dict[Path, OutputFolder] = {}
    with contextlib.ExitStack() as stack:
        for what, path in outputs.items():
            if path is None:
                continue
            target = Path(path).expanduser().absolute()
            for other, earlier in checked.items():
                # the same file however spelt (d/../d/a.tif, a link to the other's name): one would replace the other
                if os.path.realpath(target) == os.path.realpath(earlier):
                    raise InputError(f"The {what} {path} and the {other} {earlier} are the same file; give two names.")
            check_not_input(target, inputs, what=what)  # named as given (-o z.ome.zarr/c.tif), not as its folder
            suffixes, writes, refused = _FORMATS[what]  # a TIFF named out.png: refused before any work
            check_file_suffix(Path(path), suffixes=suffixes, writes=writes, refused=refused, what=what)
            key = target.parent.resolve()
            if key not in folders:
                folders[key] = stack.enter_context(
                    OutputFolder(target.parent, inputs=inputs, overwrite=args.overwrite, purpose=purpose))
            checked.update(folders[key].check_files({what: path}))
        yield checked


@contextlib.contextmanager
def _written_together(targets: dict[str, Path]) -> Iterator[dict[str, Path]]:
    """Temporary paths for the command's output files, each moved onto its name when the block ends
    without error; an error or Ctrl-C removes them all, so a run leaves all its outputs or none (never a
    corrected movie without the shifts table it was asked for, nor the table of a movie that failed)."""
    from labelfree.io.atomic import atomic_path

    with contextlib.ExitStack() as stack:
        yield {what: stack.enter_context(atomic_path(path)) for what, path in targets.items()}


#: the file name suffixes each output of ``drift`` and ``stitch`` is written with (any case), the format
#: written, and suffixes refused although they end as allowed ones (an ImageJ TIFF is not an OME-TIFF)
_FORMATS = {
    "corrected movie": (LABELS_SUFFIXES, "an ImageJ hyperstack TIFF", (".ome.tif", ".ome.tiff")),
    "fused image": (LABELS_SUFFIXES, "an ImageJ hyperstack TIFF", (".ome.tif", ".ome.tiff")),
    "shifts table": (TABLE_SUFFIXES, "a CSV table (comma-separated)", ()),
    "positions table": (TABLE_SUFFIXES, "a CSV table (comma-separated)", ()),
}


def write_image(path: Path, image: Any, /, *, record: dict[str, Any] | None = None) -> Path:
    """Write an image DataArray as an ImageJ hyperstack TIFF (axes in ImageJ's TZCYX order) with its
    calibration and channel names (atomically); ``record`` is stored as its ``labelfree`` property, as label images
    store their provenance (:func:`labelfree.io.labels_tiff.read_provenance` reads it). ``path`` ends with
    ``.tif`` or ``.tiff`` (any case; not ``.ome.tif``), else an OutputError before any work. Axes of one plane
    (a 1-frame TYX movie, a 1-slice ZYX stack, one channel) are recorded in the ``labelfree_dims`` property, as
    :func:`labelfree.io.labels_tiff.write_labels` records them, so that :func:`labelfree.io.read_image` reads the
    image back with them; Fiji opens the file as without it."""
    import json

    import tifffile

    from labelfree.io.atomic import atomic_path, check_file_suffix
    from labelfree.io.labels_tiff import imagej_calibration, imagej_file_options
    from labelfree.io.tiff import one_plane_dims

    suffixes, writes, refused = _FORMATS["fused image"]
    check_file_suffix(Path(path), suffixes=suffixes, writes=writes, refused=refused, what="image file")
    image = image.transpose(*[d for d in "TZCYX" if d in image.dims])  # ImageJ's hyperstack order
    data = np.asarray(image.values)
    if data.dtype not in _IJ_TYPES:
        data = data.astype(np.uint8 if data.dtype == bool else np.float32)
    resolution, meta = imagej_calibration(image)
    properties: dict[str, str] = {}
    metadata = {"axes": "".join(image.dims), **meta}
    if "C" in image.dims:  # channel names: one slice label per plane (as Fiji shows them) and the property
        names = [str(c) for c in image.coords["C"].values]
        planes = int(np.prod([image.sizes[d] for d in image.dims if d in "TZ"]))
        metadata["Labels"] = names * planes
        properties["channel_names"] = ",".join(names)
    if record:
        properties["labelfree"] = json.dumps(record, default=str, sort_keys=True)
    properties.update(one_plane_dims(image))  # ImageJ files keep no axis of one plane: read_image puts it back
    if properties:
        metadata["Properties"] = properties
    with atomic_path(path) as tmp, imagej_file_options(path, data.shape, data.dtype) as large:
        tifffile.imwrite(tmp, data, imagej=True, resolution=resolution, metadata=metadata, **large)
    return path


def _start_fiji(args: argparse.Namespace) -> None:
    if args.fiji is not None:
        from labelfree.imagej import start

        start(args.fiji, headless=True)


#: ``labelfree drift`` options of the measurement (and its table): with --apply nothing is measured
_MEASURING = {"shifts": "--shifts", "reference": "--reference", "max_shift": "--max-shift", "channel": "--channel",
              "backend": "--backend", "fiji": "--fiji"}


def _check_drift_options(args: argparse.Namespace) -> None:
    """InputError for options this run would ignore: the measuring ones with --apply, --labels without it."""
    if args.apply is None:
        if args.labels:
            raise InputError("--labels applies saved shifts to a label image: give them with --apply SHIFTS.csv "
                             "(measure the drift on the movie the labels were made from).")
        return
    ignored = [flag for key, flag in _MEASURING.items() if getattr(args, key) is not None]
    if ignored:
        raise InputError(f"--apply {args.apply} applies shifts measured earlier and measures nothing, so "
                         f"{', '.join(ignored)} would be ignored. Leave out {', '.join(ignored)}, or leave out --apply "
                         "to measure the drift (and write it with --shifts).")


def _drift(args: argparse.Namespace) -> int:
    from labelfree.cli_core import run_record
    from labelfree.image import parse_channel
    from labelfree.io import read_image, write_labels, write_table
    from labelfree.registration import DriftConfig, apply_shifts, correct_drift

    _check_drift_options(args)
    cfg = _config(DriftConfig, args, backend=args.backend, reference=args.reference, canvas=args.canvas,
                  max_shift=args.max_shift, channel=None if args.channel is None else parse_channel(args.channel),
                  subpixel=False if args.integer else None)
    inputs = {"movie": args.input, "shifts to apply": args.apply, "config": args.config}
    outputs = {"corrected movie": args.output, "shifts table": args.shifts}
    with _held_outputs(args, inputs, outputs, purpose=f"labelfree drift {args.input}") as out:
        movie = read_image(args.input, dims=args.dims)
        if args.apply is not None:
            corrected = apply_shifts(movie, args.apply, canvas=cfg.canvas, subpixel=cfg.subpixel and not args.labels)
            shifts = None
        else:
            _start_fiji(args)
            corrected, shifts = correct_drift(movie, config=cfg, progress=progress_from_args(args))
        written = {k: v for k, v in out.items() if k == "corrected movie" or shifts is not None}
        with _written_together(written) as tmp:
            # the command and the warnings shown (weak or no matches at frames ...), as the segmenting commands
            # record theirs
            record = run_record(args) or None
            if args.labels:
                write_labels(tmp["corrected movie"], corrected, provenance=record)
            else:
                write_image(tmp["corrected movie"], corrected, record=record)
            if "shifts table" in tmp:
                write_table(tmp["shifts table"], shifts)
    if not args.quiet:
        print(f"wrote {args.output} ({'x'.join(map(str, corrected.shape))} {''.join(corrected.dims)})")
        if shifts is not None:
            cols = [c for c in ("dz", "dy", "dx") if c in shifts.columns]
            largest = float(np.abs(shifts[cols].to_numpy()).max())
            print(f"{len(shifts)} frames, largest drift {largest:.2f} px "
                  f"(backend {corrected.attrs['drift_correction']['backend']})")
            if "shifts table" in out:
                print(f"wrote {args.shifts}")
    return 0


def skipped_names(names: Sequence[str], /) -> list[str]:
    """The file names that the numbering of the tiles ``names`` skips (tiles missing between others).

    Tiles are numbered as Fiji's Grid/Collection stitching and microscopes name them: one number that differs from
    name to name (``tile_1.tif``, ``tile_2.tif``, ...), or two, a row and a column (``r1_c2.tif``). One number must run
    without a gap from its lowest to its highest; two must hold every pair of them. The names skipped are spelt as
    the others (``tile_004.tif`` among ``tile_003.tif`` and ``tile_005.tif``). Nothing when the names do not share one
    pattern, when more numbers differ, or when the numbering would leave more cells empty than there are tiles (not
    a numbering of tiles: times, dates).

    >>> skipped_names(["tile_1.tif", "tile_2.tif", "tile_4.tif", "tile_5.tif"])
    ['tile_3.tif']
    >>> skipped_names(["r1_c1.tif", "r1_c2.tif", "r2_c2.tif"])
    ['r2_c1.tif']
    """
    parts = [re.split(r"(\d+)", name) for name in names]
    if len(parts) < 2 or len({tuple(p[0::2]) for p in parts}) != 1:  # the text between the numbers differs
        return []
    fields = [k for k in range(1, len(parts[0]), 2) if len({int(p[k]) for p in parts}) > 1]
    if not 1 <= len(fields) <= 2:
        return []
    numbers = {tuple(int(p[k]) for k in fields) for p in parts}
    if len(numbers) != len(parts):  # a number repeated (tile_1.tif, tile_01.tif): not one tile each
        return []
    values = [sorted({number[axis] for number in numbers}) for axis in range(len(fields))]
    cells = (list(itertools.product(range(values[0][0], values[0][-1] + 1))) if len(fields) == 1
             else list(itertools.product(*values)))
    if len(cells) > 2 * len(parts):
        return []
    widths = {k: len(parts[0][k]) if len({len(p[k]) for p in parts}) == 1 else 0 for k in fields}
    skipped = []
    for cell in cells:
        if cell not in numbers:
            name = list(parts[0])
            for k, value in zip(fields, cell):
                name[k] = str(value).zfill(widths[k])
            skipped.append("".join(name))
    return skipped


def _check_numbering(args: argparse.Namespace, files: list[Path], layout: Any) -> None:
    """Refuse to find the grid of tiles whose file numbers skip some (a strip with a tile missing inside looks like
    a shorter strip to :func:`labelfree.registration.tiles.find_grid`); warn when the grid is given. Refuse either
    way when the cells skipped are the grid's last (no tile after them: the grid is incomplete)."""
    skipped = skipped_names([f.name for f in files]) if args.tiles.is_dir() else []
    if not skipped:
        return
    named = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    which = "it" if len(skipped) == 1 else "them"
    gap = (f"the tile files in {args.tiles} are numbered with a gap: {named} {'is' if len(skipped) == 1 else 'are'} "
           f"missing among the {len(files)} tiles")
    last = max(natural_key(f.name) for f in files)
    if all(natural_key(name) > last for name in skipped):  # the grid's last cells: no tile after the gap
        raise InputError(f"Cannot stitch the tiles as a grid: {gap}, the last cell(s) of their grid, which leaves it "
                         f"incomplete. Add {which}, or give each tile's position in Fiji's TileConfiguration.txt as "
                         f"TILES (labelfree stitch {args.tiles}/TileConfiguration.txt).")
    if layout == "auto":
        raise InputError(f"Cannot find the grid from the tiles: {gap}, and a grid found from the tiles would put the "
                         f"tiles after the gap one cell early (a row of tiles with one missing looks like a shorter "
                         f"row). Add {which}, or give each tile's position in Fiji's TileConfiguration.txt as TILES "
                         f"(labelfree stitch {args.tiles}/TileConfiguration.txt), or give the grid with --grid RxC to "
                         "stitch the tiles as they come, the gap closed.")
    log.warning("stitch: %s; --grid %s places the tiles after the gap one cell early. If a tile is missing, give each "
                "tile's position in Fiji's TileConfiguration.txt as TILES instead.", gap, args.grid)


def _mosaic_of(path: Path) -> set[str] | None:
    """The names of the tiles a mosaic written by ``labelfree stitch`` was made of; None for any other file."""
    from labelfree.io.labels_tiff import read_provenance

    try:
        record = read_provenance(path)
        return {str(name) for name in record["stitch"]["tiles"]}
    except Exception:  # noqa: BLE001 - no such record (or an unreadable file, reported when read as a tile)
        return None


def _tile_files(args: argparse.Namespace) -> tuple[list[Path], Any]:
    """The tile files and their layout: the files of a TileConfiguration, or the TIFFs of a folder
    in name order. A mosaic this command made of tiles of the folder (an earlier run's output
    written into it) is not a tile."""
    from labelfree.registration import read_tile_configuration
    from labelfree.registration.tiles import NotTileConfigurationError

    if args.tiles.is_file():
        try:
            table = read_tile_configuration(args.tiles)  # first: a TIFF given as TILES is told so
        except NotTileConfigurationError as exc:  # the advice in this command's terms
            raise InputError(exc.said(_TILES_INSTEAD)) from exc
        grid = [flag for flag, value in (("--grid", args.grid), ("--overlap", args.overlap), ("--order", args.order))
                if value is not None]
        if grid:
            raise InputError(f"{', '.join(grid)} {'describes' if len(grid) == 1 else 'describe'} a grid of tiles in "
                             f"a folder, but {args.tiles} gives each tile's position. Leave out {', '.join(grid)}, "
                             "or give the folder of tiles instead of the file.")
        if "z" in table.columns and table["z"].nunique() > 1:
            raise InputError(f"{args.tiles} places the tiles at {table['z'].nunique()} different z positions "
                             f"(dim = 3); stitching is 2-D: give each plane's tiles with their x and y (dim = 2), "
                             "or stitch the 3-D tiles in Fiji.")
        if len(table) < 2:
            raise InputError(f"{args.tiles} lists {len(table)} tile; stitching needs at least 2.")
        return [Path(p) for p in table["path"]], table[["y", "x"]].to_numpy()
    if not args.tiles.is_dir():
        raise InputError(f"{args.tiles} is neither a folder of tiles nor a TileConfiguration file.")
    grid = (args.grid or "auto").strip()
    m = re.fullmatch(r"(\d+)[xX](\d+)", grid)
    if not m and grid.lower() != "auto":
        raise InputError(f"--grid {args.grid} is not ROWSxCOLS: give e.g. --grid 3x4 (3 rows of 4 tiles), or --grid "
                         "auto (or no --grid) to find the grid from the tiles' overlaps.")
    if m and min(int(m.group(1)), int(m.group(2))) < 1:
        raise InputError(f"--grid {args.grid} has no tiles: give at least one row and one column, e.g. --grid 3x4, or "
                         "leave --grid out to find the grid from the tiles.")
    files = [f for f in args.tiles.iterdir() if f.suffix.lower() in (".tif", ".tiff")]
    names = {f.name for f in files}
    mosaics = {f for f in files if (made_of := _mosaic_of(f)) is not None and made_of <= names}
    tiles = sorted((f for f in files if f not in mosaics), key=lambda f: natural_key(f.name))  # as frames are read
    if len(tiles) < 2:
        raise InputError(f"{args.tiles} holds {len(tiles)} tile TIFF{'' if len(tiles) == 1 else 's'}; stitching needs "
                         "at least 2: a folder of tile TIFFs (in name order; --grid ROWSxCOLS, or without it the grid "
                         "is found from the tiles), or a TileConfiguration.txt.")
    return tiles, ((int(m.group(1)), int(m.group(2))) if m else "auto")


def _grid_in_words(auto: dict[str, Any]) -> str:
    """``3x4 row-by-row (mean overlap NCC 0.52; next best 1x12 row-by-row 0.41, margin 0.30)``."""
    words = f"{auto['grid']} {auto['order']} (mean overlap NCC {auto['score']:.2f}"
    if auto.get("runner_up"):
        words += f"; next best {auto['runner_up']} {auto['runner_up_score']:.2f}, margin {auto['margin']:.2f}"
    return words + ")"


#: how to give the grid on the command line: the advice of a refusal to find the grid from the tiles
_GIVE_GRID = "give the grid with --grid RxC (and the order with --order ORDER)"
#: how to give each tile's position on the command line (tiles of different sizes: no grid to find)
_GIVE_POSITIONS = ("give each tile's position in Fiji's TileConfiguration.txt as TILES (labelfree stitch "
                   "TILES_DIR/TileConfiguration.txt)")
#: what to give as TILES instead of an image
_TILES_INSTEAD = ("Give a folder of tiles with --grid RxC (labelfree stitch TILES_DIR --grid 3x4), or Fiji's "
                  "TileConfiguration.txt.")


def positions_table(positions: Any, files: list[str], /) -> Any:
    """The positions table as ``labelfree stitch --positions`` writes it: each tile's ``file`` first, its ``tile``
    number counted from 1 (as the stitch warnings, Fiji's LabelFree Stitch table and its Log count tiles), then the
    positions of :func:`labelfree.registration.stitch` (whose ``tile`` is the 0-based index into the list of tiles).

    >>> import pandas as pd
    >>> positions_table(pd.DataFrame({"tile": [0, 1], "y": [0.0, 0.0], "x": [0.0, 90.0]}), ["a.tif", "b.tif"])
        file  tile    y     x
    0  a.tif     1  0.0   0.0
    1  b.tif     2  0.0  90.0
    """
    table = positions.copy()
    table["tile"] = positions["tile"] + 1
    table.insert(0, "file", list(files))
    return table


def _stitch(args: argparse.Namespace) -> int:
    from labelfree.cli_core import run_record
    from labelfree.io import read_image, write_table
    from labelfree.registration import StitchConfig, stitch
    from labelfree.registration.tiles import GridNotFoundError

    cfg = _config(StitchConfig, args, backend=args.backend, overlap=args.overlap, order=args.order,
                  subpixel=True if args.subpixel else None)
    files, layout = _tile_files(args)
    _check_numbering(args, files, layout)
    inputs = {f"tile {f.name}": f for f in files}
    inputs.update({"tile configuration": args.tiles if args.tiles.is_file() else None, "config": args.config})
    outputs = {"fused image": args.output, "positions table": args.positions}
    with _held_outputs(args, inputs, outputs, purpose=f"labelfree stitch {args.tiles}") as out:
        tiles = [read_image(f) for f in files]
        _start_fiji(args)
        try:
            fused, positions = stitch(tiles, layout, config=cfg, progress=progress_from_args(args))
        except GridNotFoundError as exc:  # no grid found from the tiles: the advice in this command's options
            raise InputError(exc.said(_GIVE_GRID, _GIVE_POSITIONS)) from exc
        record = {"stitch": {"backend": fused.attrs["stitching"]["backend"], "tiles": [f.name for f in files]}}
        auto = fused.attrs["stitching"].get("auto")
        if auto is not None:  # the grid found from the tiles, with its evidence
            record["stitch"]["auto"] = auto
        record.update(run_record(args))  # the command and the warnings shown, as the segmenting commands record them
        with _written_together(out) as tmp:
            write_image(tmp["fused image"], fused, record=record)
            if "positions table" in tmp:
                write_table(tmp["positions table"], positions_table(positions, [f.name for f in files]))
    if not args.quiet:
        print(f"wrote {args.output} ({'x'.join(map(str, fused.shape))}) from {len(tiles)} tiles")
        if auto is not None:
            print(f"grid found from the tiles: {_grid_in_words(auto)} (give --grid RxC to set it)")
        if "positions table" in out:
            print(f"wrote {args.positions}")
    return 0
