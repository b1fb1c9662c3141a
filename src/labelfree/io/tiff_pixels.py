"""What the stored pixels of a TIFF mean: palettes, MinIsWhite, float16 (used by :func:`labelfree.io.read_image`).

Fiji (ImageJ 1.x, checked with ``ij.jar``: ``IJ.openImage``, ``getPixel``, ``isInvertedLut``) opens a palette
(PhotometricInterpretation 3) TIFF as 8-bit with the palette as its LUT, and a MinIsWhite (0) TIFF with an inverting
LUT: the pixel values it shows and measures are the stored ones. ImageJ saves every 8-bit image whose LUT is not
plain grey (a channel colour, an inverting LUT, glasbey for labels) as a palette TIFF. :func:`read_image` therefore
reads the stored values where the palette is such a display LUT, and the palette's colours only where the indices
are not intensities (an indexed-colour picture, e.g. a quantized export):

* a file ImageJ wrote (ImageJ metadata): the stored values, as Fiji shows them;
* a display LUT (the brightness, R + G + B, never falls with the index and rises overall: grey, Green, Fire,
  ...): the stored values, which the LUT only colours;
* a falling ramp (an inverting LUT) and MinIsWhite: the stored values, with a warning that objects that look
  bright are dark in them;
* any other palette: its grey values (a grey palette) or its R, G, B colours, with a warning.

Label images are read by :func:`labelfree.io.labels_tiff.read_labels` (:func:`labelfree.io.tiff.read_array`), which
keeps the stored values of every TIFF: the indices of a palette are the labels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["palette_colours", "inverted_note", "apply_palette", "float16_as_float32"]

#: the logger of labelfree.io.tiff, whose warnings a caller that reads a file twice holds back (labelfree eval)
log = logging.getLogger("labelfree.io.tiff")

_MIN_IS_WHITE, _PALETTE = 0, 3


def _ramp(colormap: np.ndarray) -> int:
    """+1 when the brightness (R + G + B) of an (3, N) colormap never falls with the index and rises at nearly
    every step (a display LUT: grey, Green, Fire, whose channels need not each rise), -1 for such a falling ramp
    (an inverting LUT), 0 otherwise: the palette of an indexed-colour picture (unordered, or sorted with its
    unused entries left flat at the end)."""
    steps = np.diff(colormap.astype(np.int64).sum(axis=0))
    if not steps.size:
        return 0
    most = 0.9 * steps.size  # a display LUT may repeat a few brightness values where a channel saturates
    if bool(np.all(steps >= 0) and np.count_nonzero(steps) >= most):
        return 1
    if bool(np.all(steps <= 0) and np.count_nonzero(steps) >= most):
        return -1
    return 0


def _is_grey(colormap: np.ndarray) -> bool:
    return bool(np.all(colormap == colormap[:1]))


def inverted_note(name: str, how: str) -> str:
    """The warning for an image stored inverted (MinIsWhite, an inverting LUT): what Fiji shows and what to do."""
    return (f"{name} is stored inverted ({how}): Fiji shows it with an inverting LUT, and LabelFree reads its values "
            "as stored, the values Fiji measures, so objects that look bright in Fiji are dark in them. If yours "
            "look bright, segment dark objects (threshold pipeline: --set dark_objects=true) or invert the image "
            "first (Fiji: Edit > Invert, then Image > Lookup Tables > Invert LUT, and save it); if they look dark "
            "(as in ImageJ's Blobs sample), they are bright in the values and the defaults apply.")


def palette_colours(tif: Any, page: Any, path: Path) -> np.ndarray | None:
    """The values a palette TIFF's indices are read as by :func:`labelfree.io.read_image`, or None to read the
    stored values (see the module's notes; what is decided is logged). A MinIsWhite page: None, with its warning.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file.
    page : tifffile.TiffPage
        The key page of the series read.
    path : Path
        The file, named in what is logged.

    Returns
    -------
    numpy.ndarray or None
        (N,) grey values or (N, 3) R, G, B colours, indexed by the stored values: uint8 where the palette holds
        8-bit values (each 16-bit entry v * 256 or v * 257, as ImageJ and Pillow write them), else uint16.
    """
    photometric = int(getattr(page, "photometric", -1))
    if photometric == _MIN_IS_WHITE:
        log.warning("%s", inverted_note(path.name, "PhotometricInterpretation MinIsWhite: 0 is white"))
        return None
    colormap = getattr(page, "colormap", None) if photometric == _PALETTE else None
    if colormap is None or np.asarray(colormap).ndim != 2 or np.asarray(colormap).shape[0] != 3:
        return None
    colormap = np.asarray(colormap, np.uint16)
    ramp, grey = _ramp(colormap), _is_grey(colormap)
    if ramp < 0:
        log.warning("%s", inverted_note(path.name, "a palette TIFF whose LUT falls from bright to black"))
        return None
    if tif.is_imagej or ramp:
        log.info("%s is 8-bit with a LUT (a palette TIFF%s): read as its stored values, the pixel values Fiji shows "
                 "(the LUT only colours them).", path.name, " saved by ImageJ" if tif.is_imagej else "")
        return None
    low, high = colormap & 0xFF, colormap >> 8
    eight_bit = bool(np.all(low == 0) or np.all(low == high))
    values = high.astype(np.uint8) if eight_bit else colormap
    lut = values[0] if grey else np.ascontiguousarray(values.T)
    log.warning("%s is an indexed-colour (palette) TIFF whose palette is no display LUT (its brightness does not "
                "rise with the index): its pixels are indices into the palette, so LabelFree reads the palette's %s "
                "(%s), what the picture shows; Fiji shows the indices as its pixel values. %s To segment the "
                "indices instead, save them as a plain 8-bit TIFF (Fiji: Image > Lookup Tables > Grays, then File > "
                "Save As > Tiff...); label images keep their indices (labelfree.io.read_labels).", path.name,
                "grey values" if grey else "colours as channels R, G, B", "uint8" if eight_bit else "uint16",
                "" if grey else "Segment one of them (--channel R, G or B), or convert the picture to grey (Fiji: "
                "Image > Type > 8-bit).")
    return lut


def apply_palette(data: Any, lut: np.ndarray) -> Any:
    """``lut`` (from :func:`palette_colours`) looked up at each stored index of ``data`` (NumPy or dask): the
    same shape for grey, with a last axis of 3 (R, G, B) for colours."""
    def look_up(block: Any) -> np.ndarray:
        block = np.asarray(block)
        return lut[block.astype(np.uint8) if block.dtype == bool else block]  # a 1-bit palette: indices 0 and 1

    if hasattr(data, "map_blocks") and not isinstance(data, np.ndarray):  # dask: looked up chunk by chunk
        if lut.ndim == 1:
            return data.map_blocks(look_up, dtype=lut.dtype)
        return data.map_blocks(look_up, dtype=lut.dtype, new_axis=data.ndim, chunks=(*data.chunks, (lut.shape[1],)))
    return look_up(data)


def float16_as_float32(data: Any, path: Path, *, memmap: bool) -> Any:
    """float16 pixels as float32 (every float16 value is a float32 value: exact), logged; other data unchanged."""
    if np.dtype(data.dtype) != np.float16:
        return data
    log.info("%s holds float16 pixels: read as float32 (the same values)%s.", path.name,
             "; memory-mapped pixels are copied into memory" if memmap else "")
    return data.astype(np.float32)
