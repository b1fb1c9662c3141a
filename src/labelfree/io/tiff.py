"""Read TIFF, ImageJ hyperstack and OME-TIFF files into the LabelFree data model."""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree.errors import CorruptFileError, DimensionError, InputError, LabelFreeError
from labelfree.image import to_dataarray, usable_scales
from labelfree.io.units import normalise_unit

__all__ = ["read_image", "read_array", "normalise_unit"]

log = logging.getLogger(__name__)

_OME_TO_DIM = {"T": "T", "C": "C", "Z": "Z", "Y": "Y", "X": "X", "S": "C"}


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"Image file {path} does not exist; check the path.")
    if path.is_dir():
        if path.suffix.lower() == ".zarr":
            raise InputError(f"{path} is a Zarr folder, not a TIFF file; give a TIFF file here (OME-Zarr images are "
                             "read with labelfree.io.read_image or read_ngff).")
        raise InputError(f"{path} is a folder, not an image file; give a TIFF file or an OME-Zarr image folder "
                         "(a Cell Tracking Challenge folder is read in Python with labelfree.io.read_ctc).")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if magic[:2] not in (b"II", b"MM") or magic[2:4] not in (b"*\x00", b"\x00*", b"+\x00", b"\x00+"):
        raise InputError(f"{path} is not a TIFF file (it starts with {magic!r}); LabelFree reads TIFF/OME-TIFF.")


def _imagej_calibration(page: Any, meta: dict[str, Any]) -> dict[str, Any]:
    unit = normalise_unit(meta.get("unit"))
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    origin: dict[str, float] = {}
    xres = page.tags.get("XResolution")
    yres = page.tags.get("YResolution")
    if xres is not None and xres.value[0]:
        num, den = xres.value
        scale["X"] = den / num
    if yres is not None and yres.value[0]:
        num, den = yres.value
        scale["Y"] = den / num
    for d in "XY":
        units[d] = normalise_unit(meta.get(f"{d.lower()}unit"), default=unit)
    if "spacing" in meta:
        scale["Z"] = meta["spacing"]
        with contextlib.suppress(TypeError, ValueError):
            scale["Z"] = abs(float(meta["spacing"]))  # ImageJ opens a negative spacing as its absolute value
    units["Z"] = normalise_unit(meta.get("zunit"), default=unit)
    if meta.get("finterval"):
        scale["T"] = meta["finterval"]
        units["T"] = normalise_unit(meta.get("tunit"), default="s")
    elif meta.get("fps"):
        scale["T"] = meta["fps"]
        with contextlib.suppress(TypeError, ValueError, ZeroDivisionError):
            scale["T"] = 1.0 / float(meta["fps"])
        units["T"] = "s"
    for d in "XYZ":
        key = f"{d.lower()}origin"
        if key in meta:  # ImageJ stores origins in pixels: calibrated x = (i - origin) * scale (see read_image)
            origin[d] = -float(meta[key])
    return {"scale": scale, "units": units, "origin": {}, "origin_pixels": origin}


def _imagej_channel_names(meta: dict[str, Any], sizes: dict[str, int]) -> list[str] | None:
    n_c = sizes.get("C", 1)
    props = meta.get("Properties") or {}
    if isinstance(props, dict) and "channel_names" in props:
        names = [s.strip() for s in str(props["channel_names"]).split(",")]
        if len(names) == n_c:
            return names
    labels = meta.get("Labels")
    if n_c > 1 and isinstance(labels, (list, tuple)) and len(labels) >= n_c:
        names = [str(lbl).split("\n")[0].strip() for lbl in labels[:n_c]]  # plane order C fastest
        if all(names) and len(set(names)) == n_c:
            return names
    return None


def _ome_calibration(xml: str) -> dict[str, Any]:
    root = ET.fromstring(xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None)
    out: dict[str, Any] = {"scale": {}, "units": {}, "origin": {}, "channel_names": None}
    if pixels is None:
        return out
    for d in "XYZ":
        value = pixels.get(f"PhysicalSize{d}")
        if value is not None:
            out["scale"][d] = value
            out["units"][d] = normalise_unit(pixels.get(f"PhysicalSize{d}Unit", "µm"))
    if pixels.get("TimeIncrement") is not None:
        out["scale"]["T"] = pixels.get("TimeIncrement")
        out["units"]["T"] = normalise_unit(pixels.get("TimeIncrementUnit", "s"))
    names = [ch.get("Name") for ch in pixels if ch.tag.endswith("Channel")]
    if names and all(names):
        out["channel_names"] = names
    return out


def _plain_calibration(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"scale": {}, "units": {}, "origin": {}}
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    unit_tag = page.tags.get("ResolutionUnit")
    per_unit = {3: 1e4, 4: 1e3, 5: 1.0}.get(int(unit_tag.value) if unit_tag is not None else 2)
    if xres is None or per_unit is None:  # inch resolutions are screen/print DPI, not microscopy
        return out
    for d, tag in (("X", xres), ("Y", yres or xres)):
        num, den = tag.value
        if num:
            out["scale"][d] = per_unit * den / num
            out["units"][d] = "µm"
    return out


def _map_axes(axes: str, shape: Sequence[int], dims: str | None, path: Path, photometric_rgb: bool) -> str:
    """The dims letters of the stored array: ``dims`` when given (an ``S``, the samples of an RGB
    file, is its channel axis C), else the file's own axes (RGB samples are channels)."""
    if dims is not None:
        dims = "".join(dims).upper()
        if len(dims) != len(shape):
            raise DimensionError(
                f"dims={dims!r} names {len(dims)} axes but {path.name} holds an array of shape "
                f"{tuple(shape)} (axes {axes!r} per the file); give one letter per axis."
            )
        if "S" in dims:
            if "C" in dims:
                raise DimensionError(
                    f"dims={dims!r} names both C and S; S (the colour samples of an RGB file) is read as the "
                    "channel axis C, so give one of them."
                )
            dims = dims.replace("S", "C")
        return dims
    if "S" in axes and "C" in axes and photometric_rgb:  # e.g. an RGB stack saved with a channel count
        free = next(d for d in "TZ" if d not in axes)
        raise DimensionError(
            f"{path.name} holds RGB colour samples and also an axis recorded as channels (axes {axes!r}, shape "
            f"{tuple(shape)}); the colour samples are read as the channels C, so say what the other axis is: "
            f"e.g. --dims {axes.replace('C', free)} (Python: dims={axes.replace('C', free)!r}; S is the colour "
            "samples), or save the file as RGB frames or as a multi-channel stack."
        )
    mapped = ""
    for a in axes:
        if a in "TCZYX":
            mapped += a
        elif a == "S" and photometric_rgb:
            mapped += "C"
        else:
            raise DimensionError(_unknown_axes_message(path, shape, axes))
    return mapped


def _unknown_axes_message(path: Path, shape: Sequence[int], axes: str) -> str:
    """The error for a file whose axes are not all recorded: both ways to say what they are."""
    examples = []
    for order in ("TZC", "ZTC"):  # the unknown axes read as time first, then as z
        free = [d for d in order if d not in axes]
        examples.append("".join(a if a in "TCZYXS" else (free.pop(0) if free else a) for a in axes))
    movie, stack = examples
    if movie == stack:  # only the samples (S) are unknown
        say = f"on the command line --dims {movie} (S: the samples, read as channels), in Python dims={movie!r}"
    else:
        say = (f"on the command line --dims {movie} for a time-lapse or --dims {stack} for a z-stack, in Python "
               f"read_image(path, dims={movie!r})")
    return (f"{path.name} holds an array of shape {tuple(shape)} whose axes {axes!r} are not recorded in the file; "
            f"say what they are, one letter per axis: {say}; or open it in Fiji, set Image > Properties "
            "(Channels, Slices, Frames) and save it as TIFF.")


def _expected_planes(tif: Any) -> int | None:
    """How many planes the file's own metadata announces (ImageJ ``images``, OME sizes), or None."""
    if tif.is_imagej:
        images = (tif.imagej_metadata or {}).get("images")
        return int(images) if images else None
    if tif.is_ome:
        try:
            root = ET.fromstring(tif.ome_metadata or "<OME/>")
        except ET.ParseError:
            return None
        pixels = next((el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None)
        if pixels is None:
            return None
        sizes = [int(pixels.get(f"Size{d}", 1)) for d in "TCZ"]
        samples = max(1, int(next((c.get("SamplesPerPixel", 1) for c in pixels if c.tag.endswith("Channel")), 1)))
        return sizes[0] * sizes[1] * sizes[2] // samples
    return None


def _chain_cut(tif: Any) -> bool:
    """True when the file's chain of image directories does not end (it points past the file's end
    or into damaged bytes): images are missing, although the pages before the cut read well."""
    pages = tif.pages
    n = len(pages)  # walks the whole chain
    if n == 0:
        return True
    fmt, fh = tif.tiff, tif.filehandle
    offset = pages[n - 1].offset
    fh.seek(offset)
    head = fh.read(fmt.tagnosize)
    if len(head) < fmt.tagnosize:
        return True
    tagno = struct.unpack(fmt.tagnoformat, head)[0]
    fh.seek(offset + fmt.tagnosize + tagno * fmt.tagsize)
    tail = fh.read(fmt.offsetsize)
    return len(tail) < fmt.offsetsize or struct.unpack(fmt.offsetformat, tail)[0] != 0


def _check_complete(tif: Any, series: Any, path: Path) -> None:
    """Raise CorruptFileError when the file is shorter than its own structure says.

    ImageJ and OME files announce their number of planes; for other files the chain of
    image directories must end properly (a truncated file's chain points past its end).
    """
    size = path.stat().st_size
    planes = int(np.prod([n for a, n in zip(series.axes, series.shape) if a not in "YXS"], dtype=np.int64))
    expected = _expected_planes(tif)
    if expected is not None and len(tif.series) == 1 and planes < expected:
        raise CorruptFileError(
            f"{path} is truncated or damaged: its metadata announces {expected} planes but only {planes} can be "
            "read. Copy or export the file again."
        )
    if expected is None and _chain_cut(tif):
        raise CorruptFileError(
            f"{path} is truncated or damaged: its list of images breaks off ({len(tif.pages)} image(s) readable). "
            "Copy or export the file again."
        )
    key = series.keyframe
    pieces = int(np.prod(getattr(key, "chunked", None) or (1,)))  # strips or tiles of one page
    raw = int(getattr(key, "compression", 0)) == 1 and int(getattr(key, "bitspersample", 0)) % 8 == 0
    for page in series.pages:
        if page is None:
            continue
        offsets, counts = getattr(page, "dataoffsets", ()), getattr(page, "databytecounts", ())
        if len(offsets) < pieces:
            raise CorruptFileError(
                f"{path} is damaged: an image in it has {len(offsets)} of its {pieces} pieces of data (strips or "
                "tiles); its size tags are wrong. Copy or export the file again."
            )
        if raw and sum(int(c) for c in counts) < int(key.nbytes):  # uncompressed data smaller than its size tags
            raise CorruptFileError(
                f"{path} is damaged: an image in it holds {sum(int(c) for c in counts)} bytes but its size tags "
                f"announce {int(key.nbytes)}. Copy or export the file again."
            )
        if any(int(o) + int(c) > size for o, c in zip(offsets, counts)):
            raise CorruptFileError(
                f"{path} is truncated: its image data runs past the end of the file ({size} bytes). Copy or "
                "export the file again."
            )


@contextlib.contextmanager
def _damage_reported(path: Path) -> Any:
    """Turn the errors a damaged file raises while its structure and metadata are read into CorruptFileError."""
    try:
        yield
    except (LabelFreeError, MemoryError):
        raise
    except Exception as exc:  # tifffile, struct, XML and number parsing raise many kinds for broken files
        raise CorruptFileError(
            f"{path} could not be read ({type(exc).__name__}: {exc}); the file is damaged or truncated. Copy or "
            "export it again."
        ) from exc


class _TifffileNotes(logging.Filter):
    """Holds back tifffile's warnings while this thread reads a file (see :func:`_tifffile_notes`)."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        notes = getattr(self.local, "notes", None)
        if notes is None or record.levelno < logging.WARNING:
            return True
        notes.append(record.getMessage())
        return False


_NOTES = _TifffileNotes()


@contextlib.contextmanager
def _tifffile_notes(path: Path) -> Any:
    """tifffile's own warning lines while ``path`` is read: when LabelFree raises its error (which says
    what is wrong with the file; before, a Python user saw tifffile's lines on stderr above it) they
    are logged at INFO only (shown by ``labelfree -v``); when the read succeeds, at WARNING; once each,
    with the file's path."""
    logger = logging.getLogger("tifffile")
    if _NOTES not in logger.filters:
        logger.addFilter(_NOTES)
    outer = getattr(_NOTES.local, "notes", None)
    _NOTES.local.notes = caught = []
    level = logging.INFO
    try:
        yield
        level = logging.WARNING
    finally:
        _NOTES.local.notes = outer
        for message in dict.fromkeys(caught):
            log.log(level, "%s: %s (tifffile)", path, message)


def _first_series(tif: Any, path: Path) -> Any:
    """The first image series of ``tif``; a file with several (the positions of a multi-position OME-TIFF,
    pages of different sizes) says, as a warning, that only this one is read."""
    if not tif.series:
        raise InputError(f"{path} holds no image data.")
    series = tif.series[0]
    if len(tif.series) > 1:
        shapes = ", ".join(f"{s.axes} {tuple(s.shape)}" for s in tif.series[:4])
        shapes += ", ..." if len(tif.series) > 4 else ""
        log.warning("%s holds %d images (series: %s); LabelFree reads only the first one and ignores the others. "
                    "To segment another, save it as a file of its own (Fiji: File > Import > Bio-Formats, then "
                    "File > Save As > Tiff).", path, len(tif.series), shapes)
    return series


def _open_tiff(path: Path) -> Any:
    import tifffile

    try:
        return tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises several types for broken files
        raise CorruptFileError(
            f"{path} could not be read as a TIFF ({type(exc).__name__}: {exc}); the file is damaged or truncated."
        ) from exc


def read_image(
    path: str | os.PathLike[str],
    /,
    *,
    dims: str | None = None,
    channel_names: Sequence[str] | None = None,
    memmap: bool = False,
    lazy: bool = False,
) -> xr.DataArray:
    """Read a TIFF, ImageJ hyperstack or OME-TIFF (or an OME-Zarr folder) with its calibration.

    Parameters
    ----------
    path : str or path-like
        The file. ImageJ hyperstacks give axes (TZCYX), pixel size (resolution tags +
        ``unit``), Z spacing, frame interval, origin and channel names (slice labels);
        OME-TIFFs give PhysicalSizeX/Y/Z with units, TimeIncrement and channel names.
        A size or interval that is not a positive number (0, NaN, inf; ImageJ's negative
        spacing is read as its absolute value, as ImageJ does) leaves that axis in pixels
        (frames for T), with a warning.
        Plain TIFFs: 2-D is YX; RGB samples (photometric RGB in the file's tags) are the
        C axis (R, G, B); other shapes need ``dims``. tifffile writes any (3 or 4, Y, X)
        array as RGB planes unless told otherwise: such an image gets
        ``attrs["planar_rgb"] = True``, and the one-channel pipelines' errors say to read
        it with ``dims="TYX"`` when the planes are frames. A ``.zarr`` folder is read
        with :func:`labelfree.io.ngff.read_ngff` (level 0, dask-backed).
    dims : str, optional
        One letter per axis of the stored array (e.g. ``"TYX"``); overrides the file's axes.
        ``S`` names the colour samples of an RGB file (``"TYXS"``, ``"YXS"``), read as the
        channel axis C.
    channel_names : sequence of str, optional
        Names for the C axis (overrides names from the file).
    memmap : bool
        Memory-map uncompressed files instead of reading them (for long movies);
        compressed files are read into memory (logged).
    lazy : bool
        Return a dask-backed DataArray that reads pages (strips/tiles) only when they are
        computed: a task that needs a few frames of a long movie reads only those. Needs
        zarr and dask (``pip install "labelfree[zarr]"``). OME-Zarr folders are always lazy.

    Returns
    -------
    xarray.DataArray
        Dims from T, C, Z, Y, X; coords in physical units (``coord.attrs["units"]``);
        ``attrs["source"]`` is the path.

    Raises
    ------
    InputError
        Missing file, not a TIFF, or a corrupt file.
    DimensionError
        Axes that cannot be known without ``dims=``, or ``dims`` of the wrong length.
    """
    path = Path(path)
    if path.is_dir():  # an OME-Zarr image folder: read lazily (labelfree.io.ngff)
        from labelfree.io.ngff import is_ngff, read_ngff

        if is_ngff(path):
            return read_ngff(path, channel_names=channel_names)
    _check_file(path)
    with _tifffile_notes(path), _open_tiff(path) as tif, _damage_reported(path):
        series = _first_series(tif, path)
        page = series.keyframe
        axes, shape = series.axes, tuple(series.shape)
        kind = "imagej" if tif.is_imagej else "ome" if tif.is_ome else "plain"
        meta: dict[str, Any] = {}
        if kind == "imagej":
            meta = tif.imagej_metadata or {}
            cal = _imagej_calibration(page, meta)
        elif kind == "ome":
            cal = _ome_calibration(tif.ome_metadata or "<OME/>")
        else:
            cal = _plain_calibration(page)
        rgb = int(getattr(page, "photometric", 0)) == 2
        # tifffile writes any (3 or 4, Y, X) array as RGB planes unless told otherwise: colours or frames?
        planar_rgb = rgb and kind == "plain" and axes == "SYX" and int(getattr(page, "planarconfig", 1)) == 2
        _check_complete(tif, series, path)
        data = _lazy_data(path) if lazy else _read_data(tif, series, path, memmap)
        if kind == "imagej" and _signed_16_bit(meta, page):  # the values ImageJ shows: int16
            log.info("%s is ImageJ's signed 16-bit: read as int16 (stored value - 32768)%s", path.name,
                     "; memory-mapped pixels are copied into memory" if memmap and not lazy else "")
            data = data.map_blocks(signed_from_imagej, dtype=np.int16) if lazy else signed_from_imagej(data)
    letters = _map_axes(axes, shape, dims, path, rgb)
    sizes = dict(zip(letters, shape))
    # sizes / intervals of 0, negative, NaN or inf (of the image's axes): those axes in pixels (frames), warned
    scale, units = usable_scales({d: v for d, v in cal["scale"].items() if d in sizes}, cal["units"], source=path)
    origin = {**cal["origin"], **{d: px * scale.get(d, 1.0) for d, px in cal.get("origin_pixels", {}).items()}}
    names = channel_names
    if names is None and "C" in sizes:
        if kind == "imagej":
            names = _imagej_channel_names(meta, sizes)
        elif kind == "ome":
            names = cal.get("channel_names")
        if names is not None and len(names) != sizes["C"]:
            names = None
        # the colour samples of an RGB file (plain, ImageJ or OME) are R, G, B unless the file names them
        samples_are_c = dims is None or "".join(dims).upper().find("S") == axes.find("S")
        if names is None and rgb and "S" in axes and samples_are_c and sizes["C"] <= 4:
            names = ["R", "G", "B", "A"][: sizes["C"]]
    da = to_dataarray(
        xr.DataArray(data, dims=tuple(letters)) if lazy else data, dims=None if lazy else letters, scale=scale,
        units={d: u for d, u in units.items() if d in sizes}, origin=origin, channel_names=names,
        attrs={"source": str(path), **({"planar_rgb": True} if planar_rgb and dims is None else {})},
    )
    if "T" in da.dims and "T" not in units:
        da.coords["T"].attrs["units"] = "frame"
    return da


def read_array(path: str | os.PathLike[str], /) -> np.ndarray:
    """The first image series of a TIFF as a plain array, with the same checks as :func:`read_image`.

    An OME-Zarr folder (an image or a label image such as ``image.zarr/labels/cells``) gives its level 0,
    in the order T, C, Z, Y, X.
    """
    path = Path(path)
    if path.is_dir():
        from labelfree.io.ngff import is_ngff, read_ngff

        if is_ngff(path):
            return np.asarray(read_ngff(path).values)
    _check_file(path)
    with _tifffile_notes(path), _open_tiff(path) as tif, _damage_reported(path):
        series = _first_series(tif, path)
        _check_complete(tif, series, path)
        return _read_data(tif, series, path, memmap=False)


def _signed_16_bit(meta: dict[str, Any], page: Any) -> bool:
    """Whether an ImageJ TIFF holds signed 16-bit pixels: unsigned, with the calibration value = raw - 32768."""
    try:
        line = int(meta.get("cf", -1)) == 0 and float(meta.get("c0")) == -32768 and float(meta.get("c1")) == 1
    except (TypeError, ValueError):
        return False
    return bool(line) and np.dtype(page.dtype) == np.uint16


def signed_from_imagej(raw: Any, /) -> np.ndarray:
    """int16 values of ImageJ's signed 16-bit pixels (stored as unsigned, value + 32768)."""
    return (np.asarray(raw, np.uint16) ^ np.uint16(0x8000)).view(np.int16)


def _lazy_data(path: Path) -> Any:
    """Series 0 as a dask array over tifffile's zarr view (reads pages on demand)."""
    import tifffile

    from labelfree._deps import require
    from labelfree.io.ngff import checked_dask_array

    zarr = require("zarr", purpose="lazy TIFF reads")
    require("dask.array", purpose="lazy TIFF reads")
    # a page that cannot be decoded is a CorruptFileError when it is read (also in a chunk task on a worker)
    return checked_dask_array(zarr.open_array(tifffile.imread(path, aszarr=True, series=0, level=0), mode="r"), path)


def _read_data(tif: Any, series: Any, path: Path, memmap: bool) -> np.ndarray:
    import tifffile

    if memmap:
        try:
            return tifffile.memmap(path, series=0, mode="r")
        except ValueError as exc:
            log.info("%s cannot be memory-mapped (%s); reading it into memory instead.", path.name, exc)
    try:
        return series.asarray()
    except Exception as exc:  # codec and truncation errors vary
        if "imagecodecs" in str(exc):
            raise InputError(f"{path} is compressed with a codec that needs imagecodecs: pip install imagecodecs") from exc
        raise CorruptFileError(
            f"{path} could not be decoded ({type(exc).__name__}: {exc}); the file is damaged or truncated. "
            "Copy or export it again."
        ) from exc

