"""A Pillow image (``PIL.Image.Image``) as the pixels LabelFree reads from the picture file it came from.

:func:`labelfree.image.to_dataarray` (and so every pipeline) takes an image opened with Pillow
(``Image.open("cells.png")``) as :func:`labelfree.io.read_image` reads that file
(:mod:`labelfree.io.raster`): grey is (Y, X), colour (Y, X, C) with channels R, G, B (A); a 1-bit
picture is 0 / 255; a palette whose colours are grey is its grey values, another palette its
R, G, B colours; 16-bit grey (``I;16``) is uint16; an alpha channel opaque everywhere is dropped.
Pillow is not imported here: an image of it exists only where Pillow was imported already.

:func:`stored_values` and :func:`picture_values` are the two steps of that reading, shared with
:mod:`labelfree.io.raster`, which opens the file (and reads 16-bit colour PNGs with imagecodecs) and names
the file in what it logs.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["is_pil_image", "pil_values", "stored_values", "picture_values"]

log = logging.getLogger(__name__)

#: Pillow's other layouts of the samples of these modes (premultiplied alpha, padding)
_PLAIN = {"PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}
#: colour spaces read as their RGB colours
_AS_RGB = ("CMYK", "YCbCr", "LAB", "HSV")
_OPAQUE = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def is_pil_image(data: Any, /) -> bool:
    """True for a ``PIL.Image.Image`` (False, without importing Pillow, where it was never imported)."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(data, pil.Image)


def pil_values(image: Any, /) -> tuple[np.ndarray, list[str] | None]:
    """The pixels of a Pillow image, (Y, X) or (Y, X, C), and the names of its channels (None for grey).

    Of a picture of several frames (an animated GIF, a multi-page TIFF) the current one is read, as
    ``numpy.asarray(image)`` reads it (logged).

    Raises
    ------
    InputError
        A mode whose pixels NumPy cannot take (the message names it and how to convert it).
    """
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        log.info("The Pillow image holds %d frames; its current one (%d, counted from 0) is used. For all of them, "
                 "stack them with dims='TYX': numpy.stack([numpy.asarray(f) for f in PIL.ImageSequence.Iterator(im)])"
                 ".", frames, int(image.tell()))
    values, mode, palette = stored_values(image, subject="The Pillow image")
    return picture_values(values, mode, palette, subject="The Pillow image")


def stored_values(
    image: Any, /, *, subject: str, logger: logging.Logger = log
) -> tuple[np.ndarray, str, np.ndarray | None]:
    """The values a Pillow image stores, its mode, and the (N, 3) palette of a colour palette image.

    Parameters
    ----------
    image : PIL.Image.Image
        The image (of a file: opened and loaded).
    subject : str
        What the image is called in what is logged (``"cells.png"``, ``"The Pillow image"``).
    logger : logging.Logger, optional
        The logger of the module that reads it.

    Returns
    -------
    values : numpy.ndarray
        (Y, X) or (Y, X, samples) in this machine's byte order: grey (the values of a grey palette, mode
        ``"L"`` then), 1-bit as bool, the indices of a colour palette, 16-bit grey (``I;16``, and ``I``
        within 0 to 65535, e.g. a 16-bit PGM) as uint16; colour spaces (CMYK, YCbCr, LAB, HSV) as RGB.
    mode : str
        Pillow's mode of ``values`` (``"L"`` for a grey palette, ``"RGBA"`` for ``"PA"``, ...).
    palette : numpy.ndarray or None
        The palette of a colour palette image (its values are indices), else None.

    Raises
    ------
    InputError
        A mode whose pixels NumPy cannot take (the message names it and how to convert it).
    """
    mode = image.mode
    palette = None
    if mode == "P":
        palette = np.asarray(image.getpalette("RGB") or [], np.uint8).reshape(-1, 3)
    elif mode in _PLAIN:  # Pillow's other layouts of these samples
        image, mode = image.convert(_PLAIN[mode]), _PLAIN[mode]
    elif mode in _AS_RGB:
        logger.info("%s is stored as %s; read as RGB.", subject, mode)
        image = image.convert("RGB")
    try:
        values = np.asarray(image)
    except Exception as exc:  # Pillow modes that NumPy has no layout for raise several types
        raise InputError(f"The Pillow image of mode {mode!r} cannot be read as pixels ({exc}); convert it first, "
                         "e.g. image.convert('L') for grey or image.convert('RGB') for colour.") from exc
    if palette is not None and len(palette) and bool(np.all(palette == palette[:, :1])):  # grey values coded in a
        values, mode, palette = palette[np.minimum(values, len(palette) - 1), 0], "L", None  # palette (GIF)
    # 16-bit grey (Pillow's I;16 in either byte order; a 16-bit PGM is Pillow's 32-bit I)
    if mode.startswith("I;16") or (mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535):
        values = values.astype(np.uint16)
    elif not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    return np.ascontiguousarray(values), mode, palette


def picture_values(
    values: np.ndarray, mode: str, palette: np.ndarray | None, /, *, subject: str, logger: logging.Logger = log
) -> tuple[np.ndarray, list[str] | None]:
    """The pixels a picture is read as, (Y, X) or (Y, X, C), and the names of its channels (None for grey).

    A 1-bit picture is 0 / 255 (as Fiji opens it), a colour palette its R, G, B colours (logged); colour
    channels are R, G, B (A), grey with alpha ``grey``, ``A``; an alpha channel opaque everywhere is dropped,
    another is kept (logged).

    Parameters
    ----------
    values, mode, palette
        What :func:`stored_values` gives (or the samples of a 16-bit colour PNG, with no palette).
    subject : str
        What the picture is called in what is logged.
    logger : logging.Logger, optional
        The logger of the module that reads it.
    """
    if mode == "1":  # a 1-bit picture opens in Fiji as 8-bit 0 / 255
        values = values.astype(np.uint8) * np.uint8(255)
    if palette is not None and len(palette):  # a colour palette (a grey one is read as its values)
        logger.info("%s is a palette (indexed colour) picture; read as its R, G, B colours.", subject)
        values = palette[np.minimum(values, len(palette) - 1)]
    if values.ndim == 2:
        return values, None
    names = ["grey", "A"] if values.shape[-1] == 2 else ["R", "G", "B", "A"][: values.shape[-1]]
    if names[-1] == "A":
        alpha = values[..., -1]
        if _OPAQUE.get(alpha.dtype) is not None and bool(np.all(alpha == _OPAQUE[alpha.dtype])):
            values, names = values[..., :-1], names[:-1]
        else:
            logger.info("%s has a transparency (alpha) channel that is not opaque everywhere: it is read as channel "
                        "A (choose the image's channels with the channel option).", subject)
    if values.shape[-1] == 1:
        return values[..., 0], None
    return np.ascontiguousarray(values), names
