"""A folder of image files, one per time point, read as one movie (Fiji's *File › Import › Image Sequence*).

Microscopes and Fiji (*File › Save As › Image Sequence*) save a time-lapse as one file per frame:
``t000.tif, t001.tif, ...`` (the Cell Tracking Challenge), ``img_0001.tif``, Micro-Manager's
``img_channel000_position000_time000000000_z000.tif``. The frames are the folder's TIFF files in the
natural order of their names (``t2`` before ``t10``); in a folder without TIFF files, its 2-D pictures
(PNG, JPEG, ...: :mod:`labelfree.io.raster`). Hidden files, other files (``metadata.txt``, ``.json``
sidecars, ``.png`` overlays beside TIFF frames) and sub-folders (``01_GT``) are not frames.
Files of one plane per time point and z plane (``t005_z011.tif``, Micro-Manager's
``img_channel000_position000_time000000005_z011.tif``: :mod:`labelfree.io.sequence_names`) are read as
T, Z, Y, X; files of one z plane each (``cells_z011.tif``) as Z, Y, X.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr

from labelfree._input_digest import natural_key
from labelfree.errors import CorruptFileError, DimensionError, InputError
from labelfree.image import to_dataarray
from labelfree.io.sequence_names import CHANNEL_TOKEN, NUMBER, frame_grid

__all__ = ["read_sequence", "read_sequence_array", "sequence_files", "sequence_grid", "stack_frames", "frames_record"]

log = logging.getLogger(__name__)

#: name endings of the files that are frames
FRAME_SUFFIXES = (".tif", ".tiff", ".btf")
_OME_SIZE = re.compile(r'PhysicalSize[XYZ](?:Unit)?="[^"]*"')
_OME_Z = re.compile(r'PhysicalSizeZ="([^"]*)"')
_OME_Z_UNIT = re.compile(r'PhysicalSizeZUnit="([^"]*)"')


def _other_files_advice(folder: Path, names: Sequence[str], /) -> str:
    """What to do with a folder whose files ``names`` hold no frame: for microscope files (a Zeiss CZI, a Nikon
    ND2, ...: :func:`labelfree.io.raster.microscope_format`), how to export each with Bio-Formats, each file
    one image (a movie, a z-stack) of its own; else how to save frames of another format as one movie."""
    from labelfree.io.raster import convert_advice, microscope_format

    scopes = [n for n in names if microscope_format(n)]
    if not scopes:
        return ("Frames in another format: open them in Fiji (File > Import > Image Sequence) and save the movie "
                "with File > Save As > Tiff.")
    kinds = ", ".join(sorted({str(microscope_format(n)) for n in scopes}))
    shown = ", ".join(scopes[:5]) + (f" and {len(scopes) - 5} more" if len(scopes) > 5 else "")
    if len(scopes) == 1:
        said = "It is a microscope file" if len(names) == 1 else "1 of them is a microscope file"
    else:
        said = f"{'All' if len(scopes) == len(names) else len(scopes)} of them are microscope files"
    return (f"{said} ({kinds}: {shown}), which LabelFree does not read, each an image of its own, not a frame. "
            f"{convert_advice(scopes)} Give one converted file to segment it, or "
            f"their folder to labelfree batch (labelfree batch {folder} --pipeline NAME -o OUT) to segment each.")


def _frame_names(folder: Path, /) -> list[str]:
    """The names of the frame files of ``folder`` (one name pattern), in natural order."""
    try:
        visible = [e for e in os.scandir(folder) if not e.name.startswith(".")]
        entries = sorted((e.name for e in visible if e.is_file()), key=natural_key)
        folders = sorted((e.name for e in visible if e.is_dir()), key=natural_key)
    except OSError as exc:
        raise InputError(f"Cannot list the folder {folder}: {exc.strerror or exc}.") from exc
    from labelfree.io.raster import PICTURE_SUFFIXES

    names = [n for n in entries if n.lower().endswith(FRAME_SUFFIXES)] or \
        [n for n in entries if n.lower().endswith(PICTURE_SUFFIXES)]
    if not names:
        kinds = sorted({Path(n).suffix.lower() or n for n in entries})
        held = f"{len(entries)} other file(s) ({', '.join(kinds[:6])})" if entries else "no files"
        if folders:  # a dataset folder: the frames are in one of its folders
            held += f" and the folder(s) {', '.join(folders[:6])}{', ...' if len(folders) > 6 else ''}"
        raise InputError(
            f"{folder} is a folder, not an image file; give a TIFF file or an OME-Zarr image folder, or a folder "
            f"of TIFF files (or PNG, JPEG, ...) that are the frames of one movie, one file per time point. {folder} "
            f"holds {held}. {_other_files_advice(folder, entries)}")
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(NUMBER.sub("#", name.lower()), []).append(name)
    if len(groups) > 1:
        shown = "; ".join(f"{len(g)} like {g[0]}" for g in sorted(groups.values(), key=len, reverse=True)[:5])
        raise InputError(
            f"{folder} holds image files of {len(groups)} name patterns ({shown}); a folder is read as one movie "
            "whose file names differ only in the frame number (and the z plane: t005_z011). Move the frames of the "
            "movie (of one channel and position) into a folder of their own, or give a single file. To segment each "
            f"image of the folder on its own, run labelfree batch {folder} --pipeline NAME -o OUT.")
    skipped = len(entries) - len(names)
    if skipped:
        log.info("%s: %d frames (%s to %s); %d other file(s) are not frames.", folder, len(names), names[0],
                 names[-1], skipped)
    return names


def sequence_grid(folder: str | os.PathLike[str], /) -> tuple[list[Path], str, tuple[int, ...]]:
    """The frame files of ``folder`` (:func:`sequence_files`) in reading order, the axes that their names number
    (``"T"``, ``"Z"`` or ``"TZ"``: :func:`labelfree.io.sequence_names.frame_grid`) and the sizes of those axes.

    Raises
    ------
    InputError
        As :func:`sequence_files`.
    """
    folder = Path(folder)
    grid = frame_grid(folder, _frame_names(folder))
    return [folder / name for name in grid.names], grid.axes, grid.shape


def sequence_files(folder: str | os.PathLike[str], /) -> list[Path]:
    """The frame files of ``folder``: its TIFF files (none: its pictures, PNG, JPEG, ...), whose names differ in
    one number (the time point, in natural order), or in a time point and a z plane (``t005_z011.tif``,
    Micro-Manager's ``img_channel000_position000_time000000005_z011.tif``: by time point, then z plane).

    Raises
    ------
    InputError
        No frame file in the folder; image files of several name patterns (``t000.tif`` and
        ``movie_labels.tif``), or names that differ in more than one number and are not the time points and z
        planes of one image (the channels or positions of a Micro-Manager folder beside its time points), or time
        points and z planes of which some are missing: the message lists them.
    """
    return sequence_grid(folder)[0]


def _channel_token(names: Sequence[str], /) -> tuple[str, str] | None:
    """When the file names ``names`` differ only in a number after a channel-like token (``A01_f00_w1.tif``,
    ``A01_f00_w2.tif``; ``C1-cells.tif``, ``C2-cells.tif``, :data:`labelfree.io.sequence_names.CHANNEL_TOKEN`):
    that token with the first and the last file's number (``("_w1", "_w2")``); else None."""
    if len(names) < 2:
        return None
    pieces = NUMBER.split(names[0])
    numbers = [NUMBER.findall(name) for name in names]
    if any(len(row) != len(pieces) - 1 for row in numbers):  # not one name pattern (sequence_files refuses it)
        return None
    varying = [i for i in range(len(numbers[0])) if len({int(row[i]) for row in numbers}) > 1]
    if len(varying) != 1:
        return None
    found = CHANNEL_TOKEN.search(pieces[varying[0]])
    if found is None:
        return None
    token = found.group(0)
    return token + numbers[0][varying[0]], token + numbers[-1][varying[0]]


def _note_channel_files(folder: Path, files: Sequence[Path], /) -> None:
    """Warn when the frame files of ``folder`` look like the channels of one image saved as files of their own
    (:func:`_channel_token`): they are read as frames (T), as every folder of files is."""
    token = _channel_token([f.name for f in files])
    if token is None:
        return
    log.warning(
        "The %d image files of %s differ only in a channel-like part of their names (%s to %s: %r to %r), but a "
        "folder of files is read as the frames (T) of one movie: they are read as %d time points, not as channels. "
        "To read them as the channels of one image, stack them into one file: in Fiji, open them and use Image > "
        "Color > Merge Channels, then File > Save As > Tiff; or in Python, tifffile.imwrite('image.tif', "
        "numpy.stack([tifffile.imread(f) for f in files]), imagej=True, metadata={'axes': 'CYX'}) with the files in "
        "channel order. Then give that file (with --channel to choose one).", len(files), folder, files[0].name,
        files[-1].name, token[0], token[1], len(files))


def stack_frames(files: Sequence[Path], read: Callable[[Path], np.ndarray], /, *,
                 first: np.ndarray | None = None) -> np.ndarray:
    """The arrays that ``read`` gives for ``files`` stacked along a new first axis, in one array allocated once.

    ``first``: the array of ``files[0]`` when already read. An array of another shape or pixel type than the
    first file's is an :class:`InputError` naming its file.
    """
    first = read(files[0]) if first is None else first
    out = np.empty((len(files), *first.shape), first.dtype)
    out[0] = first
    for k, path in enumerate(files[1:], 1):
        plane = read(path)
        if plane.shape != first.shape or plane.dtype != first.dtype:
            raise InputError(_differs(path, plane.shape, plane.dtype, files[0], first.shape, first.dtype))
        out[k] = plane
    return out


def _differs(path: Path, shape: Sequence[int], dtype: Any, first: Path, shape0: Sequence[int], dtype0: Any) -> str:
    return (f"{path} is {' x '.join(map(str, shape))} {np.dtype(dtype)}, but {first.name}, the first frame of the "
            f"folder, is {' x '.join(map(str, shape0))} {np.dtype(dtype0)}: the frames of a folder must all have one "
            "size and pixel type. Crop or convert that file, or move it out of the folder.")


def _frame_dims(dims: str | None) -> str | None:
    """The axes of each file from the ``dims`` of the folder: a leading T names the sequence itself."""
    if dims is None:
        return None
    dims = "".join(dims).upper()
    if "T" in dims[1:]:
        raise DimensionError(f"dims={dims!r} for a folder of frames: T is the folder's sequence of files and comes "
                             "first (e.g. 'TYX', 'TCYX'), or is left out ('YX', 'CYX': the axes of each file).")
    return dims[1:] if dims.startswith("T") else dims


def _one_time_point(da: xr.DataArray, path: Path) -> xr.DataArray:
    if "T" not in da.dims:
        return da
    if da.sizes["T"] == 1:
        return da.isel(T=0, drop=True)
    raise DimensionError(f"{path} holds {da.sizes['T']} frames (a T axis), but the files of a folder are read as one "
                         "time point each. Give that file itself, or save one file per time point.")


def _read_frame(path: str | os.PathLike[str], read: Callable[..., xr.DataArray], dims: str | None,
                series: int | None, channel_names: Sequence[str] | None = None) -> xr.DataArray:
    path = Path(path)
    try:
        return _one_time_point(read(path, dims=dims, channel_names=channel_names, series=series), path)
    except DimensionError as exc:
        raise DimensionError(f"{exc} (In a folder of frames, dims names the axes of each file, after an optional "
                             "leading T for the sequence.)") from exc


def _frame_values(path: str, read: Callable[..., xr.DataArray], dims: str | None, series: int | None,
                  shape: tuple[int, ...], dtype: str, first: str) -> np.ndarray:
    values = _read_frame(path, read, dims, series).values
    if values.shape != shape or values.dtype != np.dtype(dtype):
        raise InputError(_differs(Path(path), values.shape, values.dtype, Path(first), shape, dtype))
    return values


def _header(path: Path, series: int | None) -> tuple[tuple[int, ...], np.dtype, tuple[Any, ...]]:
    """Stored shape, pixel type and calibration tags of a frame file, read without its pixels."""
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises several types for broken files
        raise CorruptFileError(f"{path} could not be read as a TIFF ({type(exc).__name__}: {exc}); the file is "
                               "damaged or truncated. Copy or export it again, or move it out of the folder.") from exc
    with tif:
        chosen = tif.series[series or 0] if len(tif.series) > (series or 0) else tif.series[0]
        page = chosen.keyframe
        tags = tuple(str(page.tags[t].value) for t in ("XResolution", "YResolution", "ResolutionUnit")
                     if t in page.tags)
        meta = tif.imagej_metadata or {}
        calibration = tags + tuple(str(meta.get(k)) for k in ("unit", "spacing"))
        calibration += tuple(_OME_SIZE.findall(tif.ome_metadata or ""))
        return tuple(chosen.shape), np.dtype(chosen.dtype), calibration


def _check_headers(files: Sequence[Path], series: int | None) -> None:
    """InputError naming the first file of another stored size or pixel type than the first; a warning
    when the files' calibrations disagree (the first one's is used). Pictures (PNG, ...) are checked as read."""
    if not files[0].name.lower().endswith(FRAME_SUFFIXES):
        return
    shape0, dtype0, cal0 = _header(files[0], series)
    other_calibration = None
    for path in files[1:]:
        shape, dtype, cal = _header(path, series)
        if shape != shape0 or dtype != dtype0:
            raise InputError(_differs(path, shape, dtype, files[0], shape0, dtype0))
        if cal != cal0 and other_calibration is None:
            other_calibration = path
    if other_calibration is not None:
        log.warning("The frames of %s do not all have one calibration (%s differs from %s, the first frame): the "
                    "movie takes the first frame's pixel size and units.", files[0].parent, other_calibration.name,
                    files[0].name)


def _z_step(first: Path, /) -> tuple[float, str] | None:
    """The z step (and its unit) of a folder of one file per z plane, from its first file's metadata: ImageJ's
    ``spacing``, OME's ``PhysicalSizeZ``, Micro-Manager's ``z-step_um``; else from Micro-Manager's
    ``metadata.txt`` beside the files (its ``Summary``). None when none of them gives a positive size."""
    import json

    import tifffile

    from labelfree.io.units import normalise_unit

    found: list[tuple[Any, str]] = []
    if first.name.lower().endswith(FRAME_SUFFIXES):
        try:
            with tifffile.TiffFile(first) as tif:
                meta = tif.imagej_metadata or {}
                if "spacing" in meta:
                    found.append((meta["spacing"], normalise_unit(meta.get("zunit") or meta.get("unit"))))
                ome = tif.ome_metadata or ""
                size, unit = _OME_Z.search(ome), _OME_Z_UNIT.search(ome)
                if size is not None:
                    found.append((size.group(1), normalise_unit(unit and unit.group(1), default="µm")))
                tag = tif.pages.first.tags.get(51123)  # MicroManagerMetadata
                mm = tag.value if tag is not None and isinstance(tag.value, dict) else {}
                summary = mm.get("Summary") if isinstance(mm.get("Summary"), dict) else {}
                for where in (mm, summary):
                    if "z-step_um" in where:
                        found.append((where["z-step_um"], "µm"))
        except Exception as exc:  # noqa: BLE001 - the pixels' read reports a damaged file
            log.debug("%s: no z step read (%s: %s).", first, type(exc).__name__, exc)
    sidecar = first.parent / "metadata.txt"
    if not found and sidecar.is_file():
        try:
            summary = json.loads(sidecar.read_text(encoding="utf-8", errors="replace")).get("Summary") or {}
            if "z-step_um" in summary:
                found.append((summary["z-step_um"], "µm"))
                log.info("%s: the z step (%s µm) is Micro-Manager's, from %s.", first.parent, summary["z-step_um"],
                         sidecar.name)
        except (OSError, ValueError, AttributeError) as exc:
            log.debug("%s: no z step read (%s: %s).", sidecar, type(exc).__name__, exc)
    for value, unit in found:
        try:
            step = abs(float(value))  # ImageJ opens a negative spacing as its absolute value
        except (TypeError, ValueError):
            continue
        if np.isfinite(step) and step > 0:
            return step, unit
    return None


def _plane_dims(dims: str | None, axes: str) -> str | None:
    """The axes of each file of a folder of z planes (``axes`` ``"Z"`` or ``"TZ"``) from the ``dims`` of the
    folder: a leading T and Z name the folder's files themselves."""
    frame = _frame_dims(dims) if "T" in axes else dims
    if frame is None:
        return None
    frame = "".join(frame).upper()
    if "Z" in frame[1:]:
        raise DimensionError(f"dims={dims!r} for a folder of one file per z plane: Z is the folder's planes and "
                             "comes first after T (e.g. 'TZYX', 'TZCYX'), or is left out ('YX', 'CYX': the axes of "
                             "each file).")
    return frame[1:] if frame.startswith("Z") else frame


def read_sequence(folder: str | os.PathLike[str], read: Callable[..., xr.DataArray], /, *, dims: str | None = None,
                  channel_names: Sequence[str] | None = None, memmap: bool = False, lazy: bool = False,
                  series: int | None = None) -> xr.DataArray:
    """Read a folder of frames (:func:`sequence_files`) as a movie, each file with ``read``
    (:func:`labelfree.io.read_image`, which reads a folder with this function).

    Each file is one time point: a plane (T, Y, X), channels (T, C, Y, X) or a z-stack (T, Z, Y, X).
    ``dims`` names the axes of each file, after an optional leading ``T`` (the sequence); ``channel_names``
    and ``series`` apply to each file. The calibration and channel names are the first frame's (a warning
    when the files' calibrations disagree); T is counted in frames from 0. Files whose names differ only in a
    channel-like token (``_w1``/``_w2``, ``_c0``/``_c1``, ``_ch1``, Fiji's ``C1-``/``C2-``) are read as frames
    too, with a warning that says how to stack them as channels. ``lazy``: a dask array that reads
    each file when its frame is computed; otherwise (``memmap`` too) the frames are read into one array.

    Files whose names number a time point and a z plane (``t005_z011.tif``, Micro-Manager's
    ``img_channel000_position000_time000000005_z011.tif`` or ``img_000000005_DAPI_011.tif``:
    :mod:`labelfree.io.sequence_names`) are each one plane (or channels) of a T, Z, Y, X image, sized by the
    numbers; names that number only a z plane (``cells_z011.tif``) give Z, Y, X. The z step is the first
    file's (ImageJ ``spacing``, OME ``PhysicalSizeZ``, Micro-Manager ``z-step_um``, else Micro-Manager's
    ``metadata.txt``); without one, Z is in pixels. ``dims`` may then start with ``TZ`` (or ``Z``).
    """
    folder = Path(folder)
    files, axes, sizes = sequence_grid(folder)
    if axes == "T":
        _note_channel_files(folder, files)
    frame_dims = _frame_dims(dims) if axes == "T" else _plane_dims(dims, axes)
    first = _read_frame(files[0], read, frame_dims, series, channel_names)
    if axes != "T" and "Z" in first.dims:
        raise DimensionError(f"{files[0]} holds {first.sizes['Z']} z planes, but the names of the files of {folder} "
                             "number z planes (one plane per file). Give that file itself, or save one plane per "
                             "file.")
    _check_headers(files, series)
    shape, dtype = tuple(first.shape), first.dtype
    if lazy:
        from labelfree._deps import require

        dask = require("dask", purpose="lazy reads of a folder of frames")
        darray = require("dask.array", purpose="lazy reads of a folder of frames")
        delayed = dask.delayed(_frame_values, pure=True)
        reads = [darray.from_delayed(delayed(str(p), read, frame_dims, series, shape, dtype.str, str(files[0])),
                                     shape, dtype) for p in files]
        if axes == "TZ":
            data: Any = darray.stack([darray.stack(reads[k:k + sizes[1]]) for k in range(0, len(reads), sizes[1])])
        else:
            data = darray.stack(reads)
    else:
        if memmap:
            log.info("%s: the frames of a folder are read into memory (lazy=True reads each when it is used).", folder)
        data = stack_frames(files, lambda p: _frame_values(str(p), read, frame_dims, series, shape, dtype.str,
                                                           str(files[0])), first=first.values)
        data = data.reshape(*sizes, *shape)
    movie = xr.DataArray(data, dims=(*axes, *first.dims), coords=dict(first.coords))
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    if "Z" in axes:
        step = _z_step(files[0])
        if step is not None:
            scale["Z"], units["Z"] = step
        log.info("%s: %d files read as %s %s (%s), z step %s.", folder, len(files), " x ".join(map(str, sizes)),
                 " x ".join(axes), f"{files[0].name} to {files[-1].name}",
                 "not known (pixels)" if step is None else f"{step[0]:g} {step[1]}")
    return to_dataarray(movie, scale=scale or None, units=units or None,
                        attrs={"source": str(folder), **({"series": series} if series is not None else {})})


def read_sequence_array(folder: str | os.PathLike[str], read_array: Callable[..., np.ndarray], /, *,
                        series: int | None = None) -> np.ndarray:
    """The arrays of a folder's frames (``read_array``, :func:`labelfree.io.tiff.read_array`, of each) stacked
    along a new first axis; for files that number time points and z planes (:func:`sequence_grid`), along new
    T and Z axes (or Z alone)."""
    files, _, sizes = sequence_grid(folder)
    stacked = stack_frames(files, lambda p: read_array(p, series=series))
    return stacked.reshape(*sizes, *stacked.shape[1:])


def frames_record(folder: Path, /, *, sha256: Callable[[Path], str] | None = None) -> dict[str, Any]:
    """``{"frames", "first", "last", "frames_sha256"}`` of a folder of frames (the provenance of a movie read from
    it: the SHA-256 of every frame file's name and SHA-256, in frame order); ``{}`` for any other folder. For files
    that number z planes (:func:`sequence_grid`), ``"frames"`` counts the files, and ``"axes"`` (``"TZ"`` or
    ``"Z"``) and ``"shape"`` (their sizes) say how they were read.

    ``sha256`` gives a frame file's SHA-256 (hex digits) from its path: a
    :class:`labelfree._input_digest.FileDigests` that :func:`labelfree._input_digest.folder_record` is given too
    reads each frame once for both; by default each frame is read here."""
    import hashlib

    from labelfree._config import file_sha256
    from labelfree.io.ngff import is_ngff

    if not folder.is_dir() or folder.suffix.lower() == ".zarr" or is_ngff(folder):
        return {}
    try:
        files, axes, sizes = sequence_grid(folder)
    except InputError:  # not a folder of frames (a model zoo): its path says what it was
        return {}
    digest, hash_file = hashlib.sha256(), sha256 or file_sha256
    for f in files:
        digest.update(f"{f.name}\0{hash_file(f)}\n".encode())
    grid = {} if axes == "T" else {"axes": axes, "shape": list(sizes)}
    return {"frames": len(files), **grid, "first": files[0].name, "last": files[-1].name,
            "frames_sha256": digest.hexdigest()}
