"""Read 2-D pictures: PNG, JPEG, BMP, GIF and PGM/PPM/PBM (with Pillow).

These are the one-plane formats ImageJ itself writes besides TIFF (File > Save As), and those of
common datasets (Cellpose's ``img001.png`` + ``img001_masks.png``, the Data Science Bowl's PNGs,
8-bit exports of microscope software). The format is known from the file's first bytes, as Fiji's
File > Open knows it, not from its name. Choices:

* grey is ``(Y, X)``; colour is the C axis named R, G, B (A), as an RGB TIFF is read; 16-bit colour
  PNGs are read exactly (with imagecodecs; Pillow would cut them to 8 bits);
* an alpha channel that is opaque everywhere is dropped (the user sees the picture, not a 4th
  channel); one that is not is kept as channel ``A`` (logged);
* a palette image (8-bit with a LUT, as every GIF) whose palette is grey is its grey values (a grey
  image or label image coded in a palette); one with colours reads as R, G, B, and
  :func:`read_picture_array` (what ``read_array`` and ``read_labels`` use) gives its indices, the
  pixel values Fiji shows for it (an index image of labels);
* no calibration: PNG ``pHYs`` and JPEG/BMP dots per inch are print resolutions, not pixel sizes,
  so the image is in pixels (set the pixel size in the pipeline options or save a calibrated TIFF);
* JPEG is lossy: its intensities were altered by the compression (logged), and it is no label image;
* one image per file: a multi-frame GIF or animated PNG is an error (save the stack as TIFF).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree._pil import picture_values, stored_values
from labelfree.errors import CorruptFileError, DimensionError, InputError

__all__ = ["picture_format", "read_picture", "read_picture_array", "label_values", "unknown_format_message",
           "microscope_format", "convert_advice", "PICTURE_SUFFIXES"]

log = logging.getLogger(__name__)

#: file name suffixes of the pictures read here
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm")
#: the name of each format (as said in messages) -> Pillow's names of it
_PILLOW = {"PNG": ("PNG",), "JPEG": ("JPEG", "MPO"), "BMP": ("BMP",), "GIF": ("GIF",), "PGM/PPM": ("PPM",)}
#: microscope and slide-scanner formats that Bio-Formats reads (TIFF-based ones, .lsm .svs .stk, are read as TIFF)
_BIOFORMATS = {
    ".czi": "Zeiss CZI", ".zvi": "Zeiss ZVI", ".nd2": "Nikon ND2", ".lif": "Leica LIF", ".lof": "Leica LOF",
    ".lei": "Leica LEI", ".oib": "Olympus OIB", ".oif": "Olympus OIF", ".oir": "Olympus OIR",
    ".vsi": "Olympus VSI", ".ims": "Imaris", ".ics": "ICS", ".ids": "ICS", ".dv": "DeltaVision",
    ".r3d": "DeltaVision", ".sld": "SlideBook", ".mvd2": "Volocity", ".mrxs": "MIRAX", ".nd": "MetaMorph ND",
    ".dm3": "Gatan DM3", ".dm4": "Gatan DM4", ".lsm5": "Zeiss LSM", ".ome": "OME-XML",
}


def picture_format(head: bytes, /) -> str | None:
    """The format of a file from its first 32 bytes: ``"PNG"``, ``"JPEG"``, ``"BMP"``, ``"GIF"``,
    ``"PGM/PPM"``, or None for any other file.

    >>> picture_format(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8)), picture_format(b"II*\\x00"), picture_format(b"P5\\n")
    ('PNG', None, 'PGM/PPM')
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    # BMP: "BM", then the size of the DIB header at byte 14 is one of the known ones (a text starting "BM" is not)
    if head.startswith(b"BM") and len(head) >= 18 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56,
                                                                                               64, 108, 124):
        return "BMP"
    if re.match(rb"P[1-6][ \t\r\n#]", head):
        return "PGM/PPM"
    return None


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def _article(word: str) -> str:
    """``"an"`` before a word said with a vowel first (Imaris, Olympus, ICS, OME-XML), else ``"a"``."""
    return "an" if word[:1].upper() in "AEIOU" else "a"


def microscope_format(name: str, /) -> str | None:
    """The microscope or slide-scanner format of a file named ``name``, one that Bio-Formats (Fiji) reads and
    LabelFree does not (``"Zeiss CZI"`` for ``scan.czi``), or None for any other name.

    >>> microscope_format("scan.CZI"), microscope_format("cells.tif")
    ('Zeiss CZI', None)
    """
    return _BIOFORMATS.get(os.path.splitext(name)[1].lower())


def convert_advice(names: Sequence[str], /) -> str:
    """How to export the microscope files ``names`` (:func:`microscope_format`, at least one) as files LabelFree
    reads: OME-TIFF with Fiji or Bio-Formats' ``bfconvert``, OME-Zarr with ``bioformats2raw``; for several files,
    a shell loop that converts each."""
    first = os.path.basename(names[0])
    stem = os.path.splitext(first)[0]
    src, tif, zarr = shlex.quote(first), shlex.quote(f"{stem}.ome.tif"), shlex.quote(f"{stem}.ome.zarr")  # for a shell
    text = (f"Export {'each' if len(names) > 1 else 'it'} as OME-TIFF: in Fiji, File > Import > Bio-Formats, then "
            f"File > Save As > OME-TIFF...; or with Bio-Formats' command-line tools, bfconvert {src} "
            f"{tif}; or as OME-Zarr, bioformats2raw {src} {zarr}")
    if len(names) > 1:
        globs = " ".join(dict.fromkeys("*" + os.path.splitext(os.path.basename(n))[1] for n in names))
        text += f' (every file of a folder: for f in {globs}; do bfconvert "$f" "${{f%.*}}.ome.tif"; done)'
    return text + "."


def unknown_format_message(path: Path, head: bytes, /) -> str:
    """Why a file is not read (not a TIFF, nor a picture read here), and what to do: what it seems to be from its
    name and first bytes, the formats LabelFree reads, and how to save the image as one of them."""
    reads = ("LabelFree reads TIFF, ImageJ hyperstack and OME-TIFF files, OME-Zarr folders, and 2-D PNG, JPEG, BMP, "
             "GIF and PGM/PPM pictures")
    name = path.name.lower()
    suffix = next((s for s in PICTURE_SUFFIXES + (".tif", ".tiff", ".btf") if name.endswith(s)), None)
    if suffix is None and path.suffix.lower() in _BIOFORMATS:
        kind = _BIOFORMATS[path.suffix.lower()]
        return (f"{path} is {_article(kind)} {kind} file ({path.suffix}), which LabelFree does not read; {reads}. "
                "Export it as "
                "OME-TIFF: in Fiji, File > Import > Bio-Formats, then File > Save As > OME-TIFF...; or with "
                f"Bio-Formats' command-line tools: bfconvert {shlex.quote(path.name)} "
                f"{shlex.quote(path.stem + '.ome.tif')}")
    start = f"it starts with {head[:8]!r}"
    if _is_text(head):
        start = f"it is a text file, starting {head[:16].decode('utf-8')!r}"
    if suffix is not None:
        named = "TIFF" if suffix in (".tif", ".tiff", ".btf") else suffix[1:].upper()
        return (f"{path} is not a {named} file, though named like one ({start}): the file is damaged, or another "
                f"file was given this name. {reads}; open the image in Fiji and save it as TIFF "
                "(File > Save As > Tiff...).")
    return (f"{path} is not an image file that LabelFree reads ({start}); {reads}. Open the image in Fiji "
            "(File > Open, or File > Import > Bio-Formats for a microscope format) and save it as TIFF "
            "(File > Save As > Tiff...).")


# -- decoding ------------------------------------------------------------------------------------------------------

def _png_sixteen_bit_colour(path: Path) -> bool:
    """Whether a PNG holds 16-bit grey+alpha or colour samples (IHDR bit depth 16, colour type 2, 4 or 6)."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    return len(head) == 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)


def _named_as(path: Path, kind: str) -> str:
    """' (not a TIFF, though named like one)' for a picture given a TIFF name; '' otherwise."""
    if path.name.lower().endswith((".tif", ".tiff", ".btf")):
        return f" (not a TIFF, though named like one: it holds a {kind} picture)"
    return ""


def _damaged(path: Path, kind: str, exc: BaseException) -> CorruptFileError:
    return CorruptFileError(
        f"{path}{_named_as(path, kind)} could not be read as a {kind} picture ({type(exc).__name__}: {exc}); the "
        "file is damaged or truncated. Copy or export it again."
    )


def _decode(path: Path, kind: str) -> tuple[np.ndarray, str, np.ndarray | None]:
    """The stored pixels, (Y, X) or (Y, X, samples), Pillow's mode, and the (N, 3) palette of a palette image."""
    from PIL import Image

    if kind == "PNG" and _png_sixteen_bit_colour(path):
        import imagecodecs

        try:
            return np.asarray(imagecodecs.png_decode(path.read_bytes())), "16-bit colour", None
        except Exception as exc:  # noqa: BLE001 - libpng reports damage as several types
            raise _damaged(path, kind, exc) from exc
    try:
        with Image.open(path, formats=list(_PILLOW[kind])) as im:
            frames = int(getattr(im, "n_frames", 1))
            if frames > 1 and kind in ("GIF", "PNG"):
                raise InputError(
                    f"{path} holds {frames} frames (an animated {kind}); LabelFree reads one image from a {kind}. "
                    "Open it in Fiji (File > Open) and save the stack as TIFF (File > Save As > Tiff...), or save "
                    "each frame on its own."
                )
            im.load()
            values, mode, palette = stored_values(im, subject=path.name, logger=log)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's guard against pictures made to fill the memory
        top = 2 * int(Image.MAX_IMAGE_PIXELS or 0)
        raise InputError(f"{path} holds more than {top:,} pixels, more than LabelFree reads from a {kind} picture; "
                         "open it in Fiji and save it as TIFF (File > Save As > Tiff...), which is read at any "
                         "size.") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow reports damage as OSError, SyntaxError, ValueError, ...
        raise _damaged(path, kind, exc) from exc
    return values, mode, palette


def _check_series(path: Path, series: Any) -> None:
    from labelfree.image import series_index

    if series is not None and series_index(series) != 0:
        raise InputError(f"{path} holds one image (series 0); series={series!r} is not in it. Give no series, "
                         "or 0.")


def read_picture_array(path: str | os.PathLike[str], kind: str, /, *, series: int | None = None) -> np.ndarray:
    """The stored values of a picture: (Y, X) grey (the values of a grey palette), the indices of a colour
    palette, or 1-bit (bool); or (Y, X, samples) colour with its alpha channel, if any.

    Parameters
    ----------
    path : path-like
        The file.
    kind : str
        Its format, from :func:`picture_format`.
    series : int, optional
        None or 0 (a picture holds one image); any other is an InputError.
    """
    path = Path(path)
    _check_series(path, series)
    return _decode(path, kind)[0]


def _image_values(path: Path, kind: str) -> tuple[np.ndarray, list[str] | None]:
    """The pixels an image is read as, (Y, X) or (Y, X, C), and the names of its channels."""
    return picture_values(*_decode(path, kind), subject=path.name, logger=log)


def _letters(shape: tuple[int, ...], dims: str | None, path: Path, kind: str) -> str:
    """The dims letters of a picture's pixels: ``dims`` when given (``S``, the colour samples, is the channel axis
    C), else YX for grey and YXC for colour."""
    if dims is None:
        return "YXC" if len(shape) == 3 else "YX"
    letters = "".join(dims).upper()
    if len(letters) != len(shape):
        raise DimensionError(
            f"dims={letters!r} names {len(letters)} axes but {path.name}, a 2-D {kind} picture, holds an array of "
            f"shape {tuple(shape)} (axes {'YXS' if len(shape) == 3 else 'YX'}, S the colour samples); give one "
            "letter per axis, or no dims."
        )
    if "S" in letters and "C" in letters:
        raise DimensionError(f"dims={letters!r} names both C and S; S (the colour samples) is read as the channel "
                             "axis C, so give one of them.")
    return letters.replace("S", "C")


def read_picture(
    path: str | os.PathLike[str],
    kind: str,
    /,
    *,
    dims: str | None = None,
    channel_names: Sequence[str] | None = None,
    memmap: bool = False,
    lazy: bool = False,
    series: int | None = None,
) -> xr.DataArray:
    """A 2-D picture (see the module's notes) in the LabelFree data model, in pixels.

    Parameters are those of :func:`labelfree.io.read_image`, ``kind`` the file's format from
    :func:`picture_format`. ``dims`` names the axes of the array read, ``"YX"`` for grey and ``"YXS"`` (or
    ``"YXC"``) for colour. ``memmap`` and ``lazy`` read the picture into memory (a compressed picture is
    decoded whole; logged). ``series`` is None or 0.
    """
    from labelfree.image import to_dataarray

    path = Path(path)
    _check_series(path, series)
    values, names = _image_values(path, kind)
    if memmap or lazy:
        log.info("%s is a %s picture: it is decoded into memory (%s applies to TIFF and OME-Zarr).", path.name, kind,
                 "lazy" if lazy else "memmap")
    if kind == "JPEG":
        log.info("%s is a JPEG: its intensities were altered by lossy compression (blocks of 8 x 8 pixels); "
                 "measurements of intensity are approximate. Save images as TIFF or PNG to keep them exact.",
                 path.name)
    letters = _letters(values.shape, dims, path, kind)
    samples_are_c = dims is None or "".join(dims).upper().replace("S", "C").find("C") == 2
    if channel_names is None and samples_are_c:
        channel_names = names
    return to_dataarray(values, dims=letters, channel_names=channel_names,
                        attrs={"source": str(path), "format": kind, **({"series": 0} if series is not None else {})})


def label_values(path: str | os.PathLike[str], values: np.ndarray, /) -> np.ndarray:
    """The labels of a picture read with :func:`read_picture_array`: its values when they are labels, or an
    InputError (a JPEG, a colour picture); any other file's ``values`` unchanged.

    A label picture is grey (8 or 16 bit, e.g. Cellpose's ``_masks.png``), 1-bit, or a palette image (its
    indices). Colour samples that are all equal (a grey mask saved as RGB) are its grey values; an alpha
    channel is left out.
    """
    path = Path(path)
    if not path.is_file():
        return values
    with open(path, "rb") as fh:
        kind = picture_format(fh.read(32))
    if kind is None:
        return values
    if kind == "JPEG":
        raise InputError(f"{path} is a JPEG: lossy compression altered its values, so it holds no exact labels (the "
                         "edges of objects get new values). Save label images as PNG (16-bit grey) or TIFF.")
    if values.ndim == 3:
        colour = values[..., :3] if values.shape[-1] >= 3 else values[..., :1]
        if not np.all(colour == colour[..., :1]):
            raise InputError(
                f"{path} is a colour ({'RGB' if colour.shape[-1] == 3 else 'grey+alpha'}) picture, not a label "
                "image: labels are one whole number per pixel (0 = background), stored as grey (8- or 16-bit PNG, "
                "e.g. Cellpose's _masks.png) or as TIFF. A picture of labels in colours cannot be turned back into "
                "them; save the label image itself (in Fiji: the 16-bit label image, File > Save As > Tiff...)."
            )
        log.info("%s stores its labels in %d equal colour samples; read as one grey label image.", path.name,
                 values.shape[-1])
        values = values[..., 0]
    return values
