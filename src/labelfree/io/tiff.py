"""Read TIFF, ImageJ hyperstack and OME-TIFF files into the LabelFree data model.

:func:`read_image` and :func:`read_array` also take an OME-Zarr folder (:mod:`labelfree.io.ngff`), a folder of
frame files (:mod:`labelfree.io.sequence`) and a 2-D PNG, JPEG, BMP, GIF or PGM picture (:mod:`labelfree.io.raster`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import threading
import weakref
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree.errors import CorruptFileError, DimensionError, InputError, LabelFreeError
from labelfree.image import series_index, to_dataarray, usable_scales
from labelfree.io.tiff_pixels import apply_palette, float16_as_float32, palette_colours
from labelfree.io.units import normalise_unit

__all__ = ["read_image", "read_array", "normalise_unit"]

log = logging.getLogger(__name__)

_OME_TO_DIM = {"T": "T", "C": "C", "Z": "Z", "Y": "Y", "X": "X", "S": "C"}
#: the ImageJ property (Image > Show Info) in which :func:`labelfree.io.labels_tiff.write_labels` records a label
#: image's dims when one of them has one plane (a 1-frame TYX result): ImageJ's metadata counts frames and slices
#: above one only; :func:`read_image` puts those axes back
DIMS_PROPERTY = "labelfree_dims"


def one_plane_dims(da: xr.DataArray, /) -> dict[str, str]:
    """The ImageJ property that records ``da``'s dims (``{DIMS_PROPERTY: "TYX"}``) when an axis other than Y and X
    has one plane, which ImageJ's metadata does not keep (:func:`read_image` puts it back); else none."""
    if any(da.sizes[d] == 1 for d in da.dims if d not in ("Y", "X")):
        return {DIMS_PROPERTY: "".join(da.dims)}
    return {}


def _check_file(path: Path) -> str:
    """``"TIFF"`` for a TIFF file, the format of a 2-D picture that :mod:`labelfree.io.raster` reads (``"PNG"``,
    ``"JPEG"``, ...); else an InputError that says what the file is and what to do."""
    if not path.exists():
        raise InputError(f"Image file {path} does not exist; check the path.")
    if path.is_dir():
        if path.suffix.lower() == ".zarr":
            raise InputError(f"{path} is a Zarr folder, not a TIFF file; give a TIFF file here (OME-Zarr images are "
                             "read with labelfree.io.read_image or read_ngff).")
        raise InputError(f"{path} is a folder, not an image file; give a TIFF file here (labelfree.io.read_image "
                         "reads a folder of TIFF frames as a movie, and an OME-Zarr image folder).")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(32)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if magic[:2] in (b"II", b"MM") and magic[2:4] in (b"*\x00", b"\x00*", b"+\x00", b"\x00+"):
        return "TIFF"
    if magic.startswith(b"\x93NUMPY"):  # labels only (a Cellpose annotation): labelfree.io.cellpose_seg
        raise InputError(f"{path} is a NumPy .npy file, not an image: LabelFree reads a .npy only as a label image "
                         "(a Cellpose annotation <stem>_seg.npy, as ground truth for labelfree eval, labels for "
                         "Fusion training or --markers). Give the image itself here (the .png or .tif beside it).")
    from labelfree.io.raster import picture_format, unknown_format_message

    kind = picture_format(magic)
    if kind is None:
        raise InputError(unknown_format_message(path, magic))
    return kind


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


#: a slice label that the Bio-Formats importer wrote: the plane's position ("c:1/2; z:3/10; t:1/5 - name")
_POSITION_LABEL = re.compile(r"^(c|ch|z|t):\s*\d+\s*/\s*\d+")


def _imagej_channel_names(meta: dict[str, Any], sizes: dict[str, int], *, samples: bool) -> list[str] | None:
    """Channel names of an ImageJ file: LabelFree's ``channel_names`` property, else the slice labels when
    each channel carries one name in every plane (ImageJ's plane order has C fastest).

    Slice labels that name planes are not channel names: those of an image sequence (a file name per
    plane), the Bio-Formats importer's plane positions, frame times, or the frames of an RGB movie
    (``samples``: the C axis is the colour samples of each plane).
    """
    n_c = sizes.get("C", 1)
    props = meta.get("Properties") or {}
    if isinstance(props, dict) and "channel_names" in props:
        names = [s.strip() for s in str(props["channel_names"]).split(",")]
        if len(names) == n_c:
            return names
    labels = meta.get("Labels")
    if samples or n_c < 2 or not isinstance(labels, (list, tuple)) or len(labels) < n_c:
        return None
    firsts = [str(lbl).split("\n")[0].strip() for lbl in labels]
    names = firsts[:n_c]
    in_every_plane = all(not lbl or lbl == names[k % n_c] for k, lbl in enumerate(firsts))
    if all(names) and len(set(names)) == n_c and in_every_plane and not any(_POSITION_LABEL.match(n) for n in names):
        return names
    if any(names):
        log.info("The slice labels of the file name its planes, not its %d channels (%s, ...); its channels are C0 "
                 "to C%d (give names with --channel-names; Python: channel_names=).", n_c,
                 ", ".join(map(repr, names[:2])), n_c - 1)
    return None


def _is(element: Any, tag: str) -> bool:
    return element.tag == tag or element.tag.endswith("}" + tag)


def _tiffdata_places(pixels: Any, tif: Any) -> list[tuple[str, int]]:
    """(file name, image directory) of each OME ``TiffData`` block of ``pixels`` (no file: this one)."""
    places = []
    for data in pixels:
        if _is(data, "TiffData"):
            uuid = next((u for u in data if _is(u, "UUID")), None)
            name = uuid.get("FileName") if uuid is not None else None
            places.append((name or tif.filename, int(data.get("IFD", 0))))
    return places


def _ome_pixels(tif: Any, index: int) -> Any:
    """The OME ``Pixels`` element of the file's series ``index``, or None.

    tifffile makes one series per OME ``Image`` that has data, in order: it leaves out an Image
    whose planes are in files that are not there. An Image is matched to a series by where its
    planes are (file and image directory), else by its name and plane size, so that a left-out
    Image does not lend its calibration and channel names to the series after it.
    """
    root = ET.fromstring(tif.ome_metadata or "<OME/>")
    series = list(tif.series)
    found = []
    for image in (el for el in root if _is(el, "Image")):
        if len(found) > index:
            break
        pixels = next((el for el in image if _is(el, "Pixels")), None)
        if pixels is None:
            continue
        wanted = series[len(found)]
        pages = [p for p in wanted.pages if p is not None]
        held = {(Path(p.parent.filehandle.name).name.lower(), int(p.index)) for p in pages}
        places = _tiffdata_places(pixels, tif)
        if places:
            same = any((Path(name).name.lower(), ifd) in held for name, ifd in places)
        else:
            key = wanted.keyframe
            same = image.get("Name") == wanted.name and (pixels.get("SizeX"), pixels.get("SizeY")) == (
                str(key.imagewidth), str(key.imagelength))
        if same:
            found.append(pixels)
    return found[index] if index < len(found) else None


def _companion_file(tif: Any) -> str | None:
    """The metadata file that a binary-only OME-TIFF names (its OME-XML is kept there), or None."""
    only = next((el for el in ET.fromstring(tif.ome_metadata or "<OME/>") if _is(el, "BinaryOnly")), None)
    return None if only is None else only.get("MetadataFile") or "another file"


def _series_index(tif: Any, series: Any) -> int:
    """The position of ``series`` among the series of ``tif``."""
    return next(i for i, other in enumerate(tif.series) if other is series)


def _ome_calibration(pixels: Any) -> dict[str, Any]:
    """Pixel sizes, frame interval and channel names of an OME ``Pixels`` element (None: none known)."""
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
    file, is its channel axis C), else the file's own axes (the samples of a pixel, RGB or not,
    are channels, as Bio-Formats and an OME ``SizeC`` count them)."""
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
        elif a == "S" and (photometric_rgb or "C" not in axes):  # the samples of a pixel are its channels
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
    free = [d for d in "CZT" if d not in axes]
    channels = "".join(a if a in "TCZYXS" else (free.pop(0) if free else a) for a in axes)
    if movie == stack:  # only the samples (S) are unknown
        say = f"on the command line --dims {movie} (S: the samples, read as channels), in Python dims={movie!r}"
    else:
        few = channels not in (movie, stack) and len(shape) > axes.find("Q") >= 0 and shape[axes.find("Q")] <= 4
        also = f", --dims {channels} for channels (e.g. cells and nuclei)" if few else ""
        last = _channels_last_dims(shape) if axes.endswith("YX") else None  # an S axis is read as channels already
        if last and last not in (movie, stack, channels if few else None):
            also += (f", --dims {last} for {shape[-1]} channels stored last (images of {shape[-3]}x{shape[-2]} "
                     "pixels)")
        say = (f"on the command line --dims {movie} for a time-lapse or --dims {stack} for a z-stack{also}, in "
               f"Python read_image(path, dims={movie!r})")
    return (f"{path.name} holds an array of shape {tuple(shape)} whose axes {axes!r} are not recorded in the file; "
            f"say what they are, one letter per axis: {say}; or open it in Fiji, set Image > Properties "
            "(Channels, Slices, Frames) and save it as TIFF.")


def _channels_last_dims(shape: Sequence[int], /) -> str | None:
    """The dims of an array whose last axis may hold its channels (a few, at most 4, after two image-sized axes of
    at least 16 pixels: (512, 512, 2) is YXC, (5, 512, 512, 3) TYXC); None for any other shape."""
    if not 3 <= len(shape) <= 5 or not 1 < shape[-1] <= 4 or min(shape[-3], shape[-2]) < 16:
        return None
    return "TZ"[:len(shape) - 3] + "YXC"


def _invalid_ome(tif: Any) -> str | None:
    """What is wrong with a file's OME-XML (its first image description) that is not well-formed XML, or None
    (no OME-XML, or well-formed). tifffile reads such a file's pages as a plain TIFF."""
    try:
        text = tif.pages.first.description or ""
    except Exception:  # noqa: BLE001 - a damaged first page: its read says what is wrong
        return None
    head = text.lstrip()[:200]
    if not (head.startswith("<OME") or (head.startswith("<?xml") and "<OME" in text[:2000])):
        return None
    try:
        ET.fromstring(text)
    except ET.ParseError as exc:
        return f"its XML is not well-formed: {exc}"
    return None


def _imagej_unread_pages(tif: Any, series: Any) -> tuple[int, int]:
    """(pages in the file, pages the image holds) of an ImageJ file whose metadata (``images=``) counts fewer
    images than it has pages, which tifffile and Fiji leave out; (0, 0) for any other file."""
    if not tif.is_imagej or len(tif.series) != 1:
        return 0, 0
    planes = int(np.prod([n for a, n in zip(series.axes, series.shape) if a not in "YXS"], dtype=np.int64))
    per_page = max(1, int(series.keyframe.shaped[0]))  # the separate samples of a page declared as channels
    pages, held = len(tif.pages), planes // per_page
    return (pages, held) if pages > held else (0, 0)


def _say_unread_pages(path: Path, pages: int, held: int, page: Any, *, dims_help: bool = True) -> None:
    """Warn of the pages an ImageJ file's metadata leaves out (:func:`_imagej_unread_pages`; none: nothing);
    ``dims_help``: say how ``dims`` reads them all (:func:`read_image`)."""
    if not pages:
        return
    example = "T" + page.axes
    todo = (f"If they belong to the image, give the axes of all its pages, one letter for the pages, e.g. --dims "
            f"{example} (Python: read_image(path, dims={example!r})); else check how the file was exported."
            if dims_help else "Check how the file was exported, and save it again from Fiji with all its images.")
    log.warning("%s: its ImageJ metadata says it holds %d images but the file has %d pages: LabelFree reads the %d "
                "images, as Fiji opens them, and leaves the last %d pages out. %s", path, held, pages, held,
                pages - held, todo)


def _expected_planes(tif: Any, index: int) -> int | None:
    """How many planes the file's own metadata announces for its series ``index`` (ImageJ ``images``,
    OME sizes), or None."""
    if tif.is_imagej:
        images = (tif.imagej_metadata or {}).get("images")
        return int(images) if images and len(tif.series) == 1 else None
    if tif.is_ome:
        try:
            pixels = _ome_pixels(tif, index)
        except ET.ParseError:
            return None
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
    index = _series_index(tif, series)
    planes = int(np.prod([n for a, n in zip(series.axes, series.shape) if a not in "YXS"], dtype=np.int64))
    expected = _expected_planes(tif, index)
    if expected is not None and planes < expected:
        raise CorruptFileError(
            f"{path} is truncated or damaged: its metadata announces {expected} planes but only {planes} can be "
            "read. Copy or export the file again."
        )
    absent = sum(page is None for page in series.pages)
    if absent:  # tifffile fills planes the OME metadata announces but no file holds with zeros
        raise CorruptFileError(_absent_planes_message(tif, index, path, absent, len(series.pages)))
    if expected is None and _chain_cut(tif):
        raise CorruptFileError(
            f"{path} is truncated or damaged: its list of images breaks off ({len(tif.pages)} image(s) readable). "
            "Copy or export the file again."
        )
    key = series.keyframe
    pieces = int(np.prod(getattr(key, "chunked", None) or (1,)))  # strips or tiles of one page
    raw = int(getattr(key, "compression", 0)) == 1 and int(getattr(key, "bitspersample", 0)) % 8 == 0
    sizes: dict[Path, int] = {}
    for page in series.pages:
        if page is None:
            continue
        where = path if page.parent is tif else path.parent / page.parent.filehandle.name  # multi-file OME
        if where not in sizes:
            sizes[where] = where.stat().st_size
        size = sizes[where]
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
                f"{where} is truncated: its image data runs past the end of the file ({size} bytes). Copy or "
                "export the file again."
            )


def _absent_planes_message(tif: Any, index: int, path: Path, absent: int, planes: int) -> str:
    """The error for an OME image some of whose planes are in no file: which files are missing, what to do."""
    what = f"image {index + 1} of {len(tif.series)}" if len(tif.series) > 1 else "its image"
    try:
        pixels = _ome_pixels(tif, index)
    except ET.ParseError:
        pixels = None
    places = _tiffdata_places(pixels, tif) if pixels is not None else []
    gone = sorted({name for name, _ in places if not (path.parent / name).is_file()})
    if gone:
        shown = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
        return (f"{path} is one file of a multi-file OME-TIFF: {absent} of the {planes} planes of {what} are in "
                f"{shown}, which {'is' if len(gone) == 1 else 'are'} not in {path.parent}. Put all the files of the "
                "acquisition in one folder and give this file again, or save the planes you have as a TIFF of their "
                "own (Fiji: File > Import > Bio-Formats, then File > Save As > Tiff).")
    return (f"{path} is incomplete: its OME metadata announces {planes} planes for {what} but {absent} of them are "
            "in no file (an acquisition stopped early, or a file of the acquisition is missing). Save the planes it "
            "holds as a TIFF of their own (Fiji: File > Import > Bio-Formats, Image > Duplicate... the planes you "
            "have, then File > Save As > Tiff), or copy the acquisition again.")


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
def _tifffile_notes(path: Path, *, say: bool = True) -> Any:
    """tifffile's own warning lines while ``path`` is read: when LabelFree raises its error (which says
    what is wrong with the file; before, a Python user saw tifffile's lines on stderr above it) they
    are logged at INFO only (shown by ``labelfree -v``); when the read succeeds, at WARNING, but for
    the partner files it could not read and the planes it zeroed (the image read has all its planes,
    so those are another image's: INFO); once each, with the file's path. ``say=False``: held back
    (the file's metadata only was listed; its read says them)."""
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
        for message in dict.fromkeys(caught if say else []):
            # a read that succeeded checked that its image has all its planes (_check_complete): planes tifffile
            # zeroed belong to other images of the file, whose absent files LabelFree names itself (_absent_note)
            zeroed = "Missing data are zeroed" in message or "OME series failed to read" in message
            said = "OME series raised ParseError" in message  # read_image warns of invalid OME-XML (_invalid_ome)
            log.log(logging.INFO if zeroed or said else level, "%s: %s (tifffile)", path, message)


def _describe_series(tif: Any, index: int, *, first: int = 1) -> str:
    """One series of ``tif``: its number (``index + first``), name, axes and shape, and whether it is a
    reduced-resolution copy."""
    series = tif.series[index]
    name = f" {series.name!r}" if series.name else ""
    reduced = ", reduced resolution" if series.keyframe.is_reduced else ""
    return f"{index + first}{name}: {series.axes} {tuple(series.shape)}{reduced}"


def _own_series(tif: Any) -> list[int]:
    """The series of ``tif`` whose planes this file holds (not only another file of a multi-file OME-TIFF)."""
    return [i for i, s in enumerate(tif.series) if any(p is not None and p.parent is tif for p in s.pages)]


def _series_choice(tif: Any) -> int:
    """The index of the series :func:`_choose_series` reads, without its warning: the first whose planes
    this file holds that is not a reduced-resolution copy, else the first it holds, else 0."""
    own = _own_series(tif)
    full = [i for i in own if not tif.series[i].keyframe.is_reduced]
    return (full or own or [0])[0]


def _absent_partner_files(tif: Any, path: Path) -> list[str]:
    """The files of a multi-file OME-TIFF that hold whole OME Images (every plane of them) and are not in the
    folder of ``path``: tifffile leaves those Images out, so the series are numbered without them. (An
    Image some of whose planes are here is a series whose absent planes :func:`_check_complete` refuses.)"""
    if not tif.is_ome:
        return []
    try:
        root = ET.fromstring(tif.ome_metadata or "<OME/>")
    except ET.ParseError:
        return []
    gone: set[str] = set()
    for image in (el for el in root if _is(el, "Image")):
        for pixels in (el for el in image if _is(el, "Pixels")):
            names = {name for name, _ in _tiffdata_places(pixels, tif)}
            if names and not any((path.parent / name).is_file() for name in names):
                gone |= names
    return sorted(gone)


def _absent_note(tif: Any, path: Path) -> str:
    """What the OME metadata describes beyond the series that can be read: the files that are missing."""
    gone = _absent_partner_files(tif, path)
    if not gone:
        return ""
    shown = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
    return (f"its OME metadata also describes images stored in {shown}, which {'is' if len(gone) == 1 else 'are'} "
            f"not in {path.parent}: those images are not read, nor counted among its series")


def _series_listing(tif: Any, *, most: int = 12) -> str:
    """The series of ``tif`` numbered from 0 (as ``series=`` counts them), the first ``most`` of them."""
    shown = "; ".join(_describe_series(tif, i, first=0) for i in range(min(len(tif.series), most)))
    return shown + (f"; and {len(tif.series) - most} more" if len(tif.series) > most else "")


def _given_series(tif: Any, path: Path, series: Any, note: str) -> int:
    """The index ``series`` names, checked: a whole number of a series of ``tif`` that is not a reduced-resolution
    copy; else an InputError listing the file's series (and ``note``, :func:`_absent_note`)."""
    count = len(tif.series)
    holds = f"{count} image series, counted from 0 (index, name: axes, shape): {_series_listing(tif)}"
    holds += f"; {note}" if note else ""
    index = series_index(series)
    if index is None:
        raise InputError(f"series={series!r} is not the index of an image series: give a whole number from 0 to "
                         f"{count - 1}. {path} holds {holds}.")
    if not 0 <= index < count:
        raise InputError(f"{path} has no series {index}: it holds {holds}. Give a whole number from 0 to {count - 1}.")
    if tif.series[index].keyframe.is_reduced:
        full = [i for i in range(count) if not tif.series[i].keyframe.is_reduced]
        raise InputError(f"Series {index} of {path} is a reduced-resolution copy (a preview of another image), not an "
                         f"image to segment: give a full-resolution series ({', '.join(map(str, full)) or 'none'}). "
                         f"The file holds {holds}.")
    return index


def _choose_series(tif: Any, path: Path, series: int | None = None) -> Any:
    """The image series of ``tif`` that LabelFree reads: series ``series`` when given (checked by
    :func:`_given_series`), else the default one, said as a warning when the file holds several.

    The default is the first series whose planes this file holds (a file of a multi-file OME-TIFF,
    such as one position of a multi-position acquisition, holds its own position; the OME metadata
    lists the others) that is not a reduced-resolution copy (a thumbnail stored before the image);
    else the first series. A file that holds one series, its own, of several that the OME metadata lists
    (one position per file, as Micro-Manager saves them) is read without a warning: its position is
    no choice (INFO says which it is). A pyramid's sub-resolutions are levels of one series: level 0, the full
    resolution, is read.
    """
    if not tif.series:
        raise InputError(f"{path} holds no image data.")
    note = _absent_note(tif, path)
    if series is not None:
        index = _given_series(tif, path, series, note)
        log.info("%s: reading series %d of %d (%s)%s.", path, index, len(tif.series),
                 _describe_series(tif, index, first=0), f"; {note}" if note else "")
    else:
        own = _own_series(tif)
        index = _series_choice(tif)
        if len(tif.series) > 1 and own == [index]:  # one file of a multi-file OME-TIFF: its own image, no choice
            log.info("%s: reading image %d of the %d its OME metadata lists (%s), the one stored in this file; the "
                     "others are stored in other files of the acquisition (read each file, or choose one with "
                     "series=N, --series N)%s.", path, index + 1, len(tif.series), _describe_series(tif, index),
                     f"; {note}" if note else "")
        elif len(tif.series) > 1:
            shown = "; ".join(_describe_series(tif, i) for i in range(min(len(tif.series), 4)))
            shown += "; ..." if len(tif.series) > 4 else ""
            which = "only the first one"
            if index != 0:
                which = f"only image {index + 1}" + (
                    " (the images before it are reduced-resolution copies)" if 0 in own else
                    " (the one stored in this file; the file's OME metadata describes the others, stored in other "
                    "files)")
            others = [i for i in range(len(tif.series)) if i != index and not tif.series[i].keyframe.is_reduced]
            choose = (f"give its index counted from 0 (image {others[0] + 1}: Python read_image(path, series="
                      f"{others[0]}), command line --series {others[0]}), or " if others else "")
            log.warning("%s holds %d images (series: %s)%s; LabelFree reads %s and ignores the others. To segment "
                        "another, %ssave it as a file of its own (Fiji: File > Import > Bio-Formats, then File > "
                        "Save As > Tiff).", path, len(tif.series), shown, f"; {note}" if note else "", which, choose)
        elif note:  # tifffile's "Missing data are zeroed" line is about these images, not the one read
            log.info("%s: %s.", path, note)
    chosen = tif.series[index]
    if len(chosen.levels) > 1:
        sizes = ", ".join(f"{level.keyframe.imagewidth}x{level.keyframe.imagelength}" for level in chosen.levels)
        log.info("%s is a pyramid of %d resolutions (%s); LabelFree reads the full resolution.", path,
                 len(chosen.levels), sizes)
    return chosen


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
    series: int | None = None,
    lazy_unmapped: bool = False,
) -> xr.DataArray:
    """Read a TIFF, ImageJ hyperstack or OME-TIFF with its calibration (or an OME-Zarr folder, a folder of frames,
    a PNG, JPEG, BMP, GIF or PGM picture).

    Parameters
    ----------
    path : str or path-like
        The file. ImageJ hyperstacks give axes (TZCYX), pixel size (resolution tags +
        ``unit``), Z spacing, frame interval, origin and channel names (slice labels), and the
        axes of one plane that :func:`labelfree.io.labels_tiff.write_labels` records (a 1-frame
        TYX label image is read as TYX, not YX); OME-TIFFs give PhysicalSizeX/Y/Z with units,
        TimeIncrement and channel names.
        A size or interval that is not a positive number (0, NaN, inf; ImageJ's negative
        spacing is read as its absolute value, as ImageJ does) leaves that axis in pixels
        (frames for T), with a warning.
        Plain TIFFs: 2-D is YX; RGB samples (photometric RGB in the file's tags) are the
        C axis (R, G, B); other shapes need ``dims``. tifffile writes any (3 or 4, Y, X)
        array as RGB planes unless told otherwise: such an image gets
        ``attrs["planar_rgb"] = True``, and the one-channel pipelines' errors say to read
        it with ``dims="TYX"`` when the planes are frames. A ``.zarr`` folder is read
        with :func:`labelfree.io.ngff.read_ngff` (level 0, dask-backed); another folder is a
        movie of one file per frame (:func:`labelfree.io.sequence.read_sequence`: natural order of
        names, T the frame index); a picture is read by :func:`labelfree.io.raster.read_picture`
        (in pixels; colour as channels R, G, B).
        A file of several images (a multi-position OME-TIFF) gives the one ``series`` names,
        else one named in a warning: the first whose planes the file holds (one file of a
        multi-file OME-TIFF holds its own position) that is not a reduced-resolution preview.
        A pyramid gives its full resolution. OME planes that no file holds (a partner file
        missing, an acquisition stopped early) are a CorruptFileError, not black planes; the
        samples of a pixel (RGB or not) are the C axis.
        What the pixels mean (:mod:`labelfree.io.tiff_pixels`): a palette TIFF whose palette is no LUT
        ramp (an indexed-colour picture) is read as the palette's grey values or as channels R, G, B
        (warned); one saved by ImageJ or with a LUT ramp keeps its stored values, as Fiji shows them
        (label images always keep them: :func:`labelfree.io.read_labels`). MinIsWhite and an inverting
        LUT keep the stored values, with a warning that objects that look bright are dark in them.
        float16 is read as float32 (exact). OME-XML that is not well-formed is warned of and the file
        read as a plain TIFF. ImageJ metadata counting fewer images than the file has pages is warned
        of; ``dims`` with one letter for the pages (``"TYX"``) reads all of them.
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
    lazy_unmapped : bool
        With ``memmap``: a TIFF that cannot be memory-mapped (compressed, or its planes in other files of a
        multi-file OME-TIFF) is read as with ``lazy`` instead of into memory, where zarr and dask are installed
        (a long compressed movie segmented in chunks of frames reads each chunk's frames only).
    series : int, optional
        The image series to read, counted from 0 as tifffile numbers them
        (``tifffile.TiffFile(path).series``): a multi-position OME-TIFF has one per position
        (OME ``Image``), in the order of its OME metadata; an Image whose planes are only in
        files absent from the folder is not counted. The series is read with its own
        calibration and channel names, and without the warning that the file holds several
        images. Any series of a multi-file OME-TIFF can be read from any of its files
        (the others in the same folder). An index out of range, or a reduced-resolution copy
        (a preview stored beside the image), is an :class:`InputError` listing the file's
        series (index, name, axes, shape). For an OME-Zarr folder: the series of a bioformats2raw
        container (:func:`labelfree.io.ngff.read_ngff`; an OME-Zarr image holds one image).
        ``attrs["series"]`` records the index read.

    Returns
    -------
    xarray.DataArray
        Dims from T, C, Z, Y, X; coords in physical units (``coord.attrs["units"]``);
        ``attrs["source"]`` is the path.

    Raises
    ------
    InputError
        Missing file, not a TIFF, a corrupt file, or a ``series`` the file does not hold.
    DimensionError
        Axes that cannot be known without ``dims=``, or ``dims`` of the wrong length.

    Examples
    --------
    >>> from labelfree.datasets import SAMPLE_MOVIE        # an ImageJ hyperstack shipped with LabelFree
    >>> from labelfree.image import scale_of, units_of
    >>> movie = read_image(SAMPLE_MOVIE)
    >>> movie.dims, movie.shape, movie.dtype.name
    (('T', 'Y', 'X'), (12, 192, 192), 'uint8')
    >>> scale_of(movie, "X"), units_of(movie, "X"), scale_of(movie, "T"), units_of(movie, "T")
    (0.65, 'µm', 300.0, 's')
    """
    path = Path(path)
    if path.is_dir():  # an OME-Zarr image folder (read lazily, labelfree.io.ngff) or a folder of TIFF frames
        from labelfree.io.ngff import is_ngff, read_ngff

        if is_ngff(path):
            return read_ngff(path, channel_names=channel_names, series=series)
        if path.suffix.lower() != ".zarr":
            from labelfree.io.sequence import read_sequence

            return read_sequence(path, read_image, dims=dims, channel_names=channel_names, memmap=memmap,
                                 lazy=lazy, series=series)
    kind = _check_file(path)
    if kind != "TIFF":  # a 2-D picture (PNG, JPEG, ...)
        from labelfree.io.raster import read_picture

        return read_picture(path, kind, dims=dims, channel_names=channel_names, memmap=memmap, lazy=lazy,
                            series=series)
    with _tifffile_notes(path), _open_tiff(path) as tif, _damage_reported(path):
        chosen = _choose_series(tif, path, series)
        index = _series_index(tif, chosen)
        page = chosen.keyframe
        axes, shape = chosen.axes, tuple(chosen.shape)
        broken_ome = _invalid_ome(tif)
        kind = "imagej" if tif.is_imagej else "ome" if tif.is_ome and broken_ome is None else "plain"
        if broken_ome is not None:
            log.warning("%s: its OME metadata is invalid (%s); its axes, pixel size and channel names are not known, "
                        "so its pixels are read as a plain TIFF. To keep them, export the image again, or open it in "
                        "Fiji (File > Import > Bio-Formats), set Image > Properties and save it as TIFF.", path,
                        broken_ome)
        meta: dict[str, Any] = {}
        companion = None
        if kind == "imagej":
            meta = tif.imagej_metadata or {}
            cal = _imagej_calibration(page, meta)
        elif kind == "ome":
            pixels = _ome_pixels(tif, index)
            cal = _ome_calibration(pixels)
            companion = _companion_file(tif) if pixels is None else None
        else:
            cal = _plain_calibration(page)
        rgb = int(getattr(page, "photometric", 0)) == 2
        # tifffile writes any (3 or 4, Y, X) array as RGB planes unless told otherwise: colours or frames?
        planar_rgb = rgb and kind == "plain" and axes == "SYX" and int(getattr(page, "planarconfig", 1)) == 2
        _check_complete(tif, chosen, path)
        pages, held = _imagej_unread_pages(tif, chosen)
        all_pages = bool(pages) and dims is not None and len("".join(dims)) == 1 + len(page.shape)
        if all_pages:  # --dims names the axes of all the file's pages: read them all, as a plain TIFF's
            log.info("%s: reading all %d pages of the file (its ImageJ metadata counts %d), with dims %r.", path.name,
                     pages, held, "".join(dims))
            axes, shape = "I" + page.axes, (pages, *page.shape)
            data = _lazy_data(path, index, all_pages=True) if lazy else tif.asarray(key=slice(None)).reshape(shape)
        else:
            _say_unread_pages(path, pages, held, page)
            if memmap and lazy_unmapped and not lazy and not _mappable(tif, chosen) and _lazy_reads():
                log.info("%s cannot be memory-mapped (compressed, or planes in other files): read page by page as "
                         "needed.", path.name)
                lazy = True
            data = _lazy_data(path, index) if lazy else _read_data(tif, chosen, path, memmap)
        data = float16_as_float32(data, path, memmap=memmap and not lazy)
        lut = palette_colours(tif, page, path)
        if lut is not None:  # an indexed-colour picture: the palette's grey values or R, G, B colours
            data = apply_palette(data, lut)
            if lut.ndim == 2:
                axes, shape = axes + "S", (*shape, lut.shape[1])
                dims = None if dims is None else "".join(dims) + "S"
        if kind == "imagej" and _signed_16_bit(meta, page):  # the values ImageJ shows: int16
            log.info("%s is ImageJ's signed 16-bit: read as int16 (stored value - 32768)%s", path.name,
                     "; memory-mapped pixels are copied into memory" if memmap and not lazy else "")
            data = data.map_blocks(signed_from_imagej, dtype=np.int16) if lazy else signed_from_imagej(data)
    rgb = rgb or (lut is not None and lut.ndim == 2)  # a colour palette's R, G, B: read as an RGB file's samples
    try:
        letters = _map_axes(axes, shape, dims, path, rgb)
    except DimensionError as exc:
        if broken_ome is not None:
            raise DimensionError(f"{exc} (Its OME metadata, which would record them, is invalid: {broken_ome}.)"
                                 ) from exc
        if companion is None:
            raise
        raise DimensionError(f"{exc} The file's OME metadata (axes, pixel size, channel names) is kept in {companion}, "
                             "which LabelFree does not read: open that file in Fiji (File > Import > Bio-Formats) and "
                             "save the image as TIFF.") from exc
    if kind == "imagej" and dims is None:
        letters, shape, data = _one_plane_axes(meta, letters, shape, data, path)
    sizes = dict(zip(letters, shape))
    # sizes / intervals of 0, negative, NaN or inf (of the image's axes): those axes in pixels (frames), warned
    scale, units = usable_scales({d: v for d, v in cal["scale"].items() if d in sizes}, cal["units"], source=path)
    origin = {**cal["origin"], **{d: px * scale.get(d, 1.0) for d, px in cal.get("origin_pixels", {}).items()}}
    names = channel_names
    if names is None and "C" in sizes:
        if kind == "imagej":
            names = _imagej_channel_names(meta, sizes, samples=rgb and "S" in axes and "C" not in axes)
        elif kind == "ome":
            names = cal.get("channel_names")
        if names is not None and len(names) != sizes["C"]:
            names = None
        # the colour samples of an RGB file (plain, ImageJ or OME) are R, G, B unless the file names them
        samples_are_c = dims is None or "".join(dims).upper().find("S") == axes.find("S")
        if names is None and rgb and "S" in axes and samples_are_c and sizes["C"] <= 4:
            names = ["R", "G", "B", "A"][: sizes["C"]]
    if lazy:
        data = xr.DataArray(data, dims=tuple(letters))
        data.name = None  # xarray names it after the dask array
    da = to_dataarray(
        data, dims=None if lazy else letters, scale=scale,
        units={d: u for d, u in units.items() if d in sizes}, origin=origin, channel_names=names,
        attrs={"source": str(path), **({"planar_rgb": True} if planar_rgb and dims is None else {}),
               **({"series": index} if series is not None else {})},
    )
    if "T" in da.dims and "T" not in units:
        da.coords["T"].attrs["units"] = "frame"
    return da


def _one_plane_axes(meta: dict[str, Any], letters: str, shape: tuple[int, ...], data: Any,
                    path: Path) -> tuple[str, tuple[int, ...], Any]:
    """The axes of one plane that a LabelFree label image records (``labelfree_dims``, written by
    :func:`labelfree.io.labels_tiff.write_labels`: a 1-frame TYX result) put back as axes of length 1,
    which ImageJ's metadata does not count; ``letters``, ``shape`` and ``data`` unchanged otherwise (the
    property does not agree with the axes read, e.g. after the file was edited in Fiji)."""
    props = meta.get("Properties")
    recorded = props.get(DIMS_PROPERTY) if isinstance(props, dict) else None
    if not isinstance(recorded, str) or recorded.upper() == letters:
        return letters, shape, data
    recorded = recorded.upper()
    if (len(set(recorded)) != len(recorded) or any(d not in "TCZYX" for d in recorded)
            or [d for d in recorded if d in letters] != list(letters) or not set(letters) <= set(recorded)):
        log.info("%s records the dims %r, which do not agree with its axes %r; read as %r.", path.name, recorded,
                 letters, letters)
        return letters, shape, data
    sizes = dict(zip(letters, shape))
    full = tuple(sizes.get(d, 1) for d in recorded)
    return recorded, full, data.reshape(full)


def read_array(path: str | os.PathLike[str], /, *, series: int | None = None) -> np.ndarray:
    """The image series of a TIFF that :func:`read_image` reads (``series``: the same index, counted from 0 as
    tifffile numbers them) as a plain array, with the same checks.

    An OME-Zarr folder (an image or a label image such as ``image.zarr/labels/cells``) gives its level 0,
    in the order T, C, Z, Y, X.
    """
    path = Path(path)
    if path.is_dir():
        from labelfree.io.ngff import is_ngff, read_ngff

        if is_ngff(path):
            return np.asarray(read_ngff(path, series=series).values)
        if path.suffix.lower() != ".zarr":  # a folder of TIFF frames: their arrays along a new first axis
            from labelfree.io.sequence import read_sequence_array

            return read_sequence_array(path, read_array, series=series)
    kind = _check_file(path)
    if kind != "TIFF":  # a 2-D picture (PNG, JPEG, ...): its stored values
        from labelfree.io.raster import read_picture_array

        return read_picture_array(path, kind, series=series)
    with _tifffile_notes(path), _open_tiff(path) as tif, _damage_reported(path):
        chosen = _choose_series(tif, path, series)
        _check_complete(tif, chosen, path)
        _say_unread_pages(path, *_imagej_unread_pages(tif, chosen), chosen.keyframe, dims_help=False)
        return _read_data(tif, chosen, path, memmap=False)


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


def _lazy_data(path: Path, index: int, *, all_pages: bool = False) -> Any:
    """Series ``index`` (level 0) as a dask array over tifffile's zarr view (reads pages on demand); ``all_pages``:
    every page of an ImageJ file, along a first axis (its ImageJ metadata not read)."""
    import tifffile

    from labelfree._deps import require
    from labelfree.io.ngff import checked_dask_array

    zarr = require("zarr", purpose="lazy TIFF reads")
    require("dask.array", purpose="lazy TIFF reads")
    # a page that cannot be decoded is a CorruptFileError when it is read (also in a chunk task on a worker)
    flags = {"is_imagej": False} if all_pages else {}
    store = tifffile.imread(path, aszarr=True, series=index, level=0, **flags)
    array = zarr.open_array(store, mode="r")
    # the store keeps the files it reads open (tifffile's file cache): closed when the array goes, not left to
    # the garbage collector (an unclosed-file ResourceWarning then, in whatever code it happens to run)
    weakref.finalize(array, store.close)
    return checked_dask_array(array, path)


def _mappable(tif: Any, series: Any) -> bool:
    """Whether tifffile can memory-map ``series``: its planes in this file, stored whole and uncompressed in one
    piece (tifffile's ``dataoffset``)."""
    if not all(page is not None and page.parent is tif for page in series.pages):
        return False
    return getattr(series, "dataoffset", None) is not None


def _lazy_reads() -> bool:
    """Whether lazy TIFF reads are available (zarr and dask installed)."""
    try:
        import dask.array  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        return False
    return True


def _read_data(tif: Any, series: Any, path: Path, memmap: bool) -> np.ndarray:
    import tifffile

    # the planes of a series of a multi-file OME-TIFF may be in other files: tifffile's whole-series reads
    # (memmap, and asarray of a series stored in one piece) take their offsets in this file, and so read this
    # file's pixels; page by page, each plane is read from its own file
    elsewhere = not all(page is not None and page.parent is tif for page in series.pages)
    if memmap and elsewhere:
        log.info("%s: the planes of the image read are in other files of the multi-file OME-TIFF; reading them "
                 "into memory instead of memory-mapping.", path.name)
    elif memmap:
        try:
            return tifffile.memmap(path, series=_series_index(tif, series), mode="r")
        except ValueError as exc:
            log.info("%s cannot be memory-mapped (%s); reading it into memory instead.", path.name, exc)
    try:
        if elsewhere:
            return tif.asarray(key=slice(None), series=series).reshape(series.shape)
        return series.asarray()
    except Exception as exc:  # codec and truncation errors vary
        if "imagecodecs" in str(exc):
            raise InputError(f"{path} is compressed with a codec that needs imagecodecs: pip install imagecodecs"
                             ) from exc
        raise CorruptFileError(
            f"{path} could not be decoded ({type(exc).__name__}: {exc}); the file is damaged or truncated. "
            "Copy or export it again."
        ) from exc

