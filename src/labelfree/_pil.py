"""A Pillow image (``PIL.Image.Image``) as the pixels LabelFree reads from the picture file it came from.

:func:`labelfree.image.to_dataarray` (and so every pipeline) takes an image opened with Pillow
(``Image.open("cells.png")``) as :func:`labelfree.io.read_image` reads that file
(:mod:`labelfree.io.raster`): grey is (Y, X), colour (Y, X, C) with channels R, G, B (A); a 1-bit
picture is 0 / 255; a palette whose colours are grey is its grey values, another palette its
R, G, B colours; 16-bit grey (``I;16``) is uint16; an alpha channel opaque everywhere is dropped.
Pillow is not imported here: an image of it exists only where Pillow was imported already.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["is_pil_image", "pil_values"]

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
    mode = image.mode
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        log.info("The Pillow image holds %d frames; its current one (%d, counted from 0) is used. For all of them, "
                 "stack them with dims='TYX': numpy.stack([numpy.asarray(f) for f in PIL.ImageSequence.Iterator(im)])"
                 ".", frames, int(image.tell()))
    if mode in _PLAIN:
        image, mode = image.convert(_PLAIN[mode]), _PLAIN[mode]
    elif mode in _AS_RGB:
        log.info("The Pillow image is %s; read as RGB.", mode)
        image, mode = image.convert("RGB"), "RGB"
    try:
        values = np.asarray(image)
    except Exception as exc:  # Pillow modes that NumPy has no layout for raise several types
        raise InputError(f"The Pillow image of mode {mode!r} cannot be read as pixels ({exc}); convert it first, "
                         "e.g. image.convert('L') for grey or image.convert('RGB') for colour.") from exc
    if not values.dtype.isnative:  # I;16B: big-endian 16-bit
        values = values.astype(values.dtype.newbyteorder("="))
    if mode == "1":  # a 1-bit picture opens in Fiji as 8-bit 0 / 255
        values = values.astype(np.uint8) * np.uint8(255)
    elif mode == "P":
        palette = np.asarray(image.getpalette("RGB") or [], np.uint8).reshape(-1, 3)
        if len(palette):
            colours = palette[np.minimum(values, len(palette) - 1)]
            if np.all(palette == palette[:, :1]):  # grey values coded in a palette
                values = colours[..., 0]
            else:
                log.info("The Pillow image is a palette (indexed colour) picture; read as its R, G, B colours.")
                values = colours
    elif mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535:
        values = values.astype(np.uint16)  # 16-bit grey that Pillow holds as 32-bit (a 16-bit PGM)
    if values.ndim == 2:
        return values, None
    names = ["grey", "A"] if values.shape[-1] == 2 else ["R", "G", "B", "A"][: values.shape[-1]]
    if names[-1] == "A":
        alpha = values[..., -1]
        if _OPAQUE.get(alpha.dtype) is not None and bool(np.all(alpha == _OPAQUE[alpha.dtype])):
            values, names = values[..., :-1], names[:-1]
        else:
            log.info("The Pillow image has a transparency (alpha) channel that is not opaque everywhere: it is "
                     "channel A (choose the image's channels with the channel option).")
    if values.shape[-1] == 1:
        return values[..., 0], None
    return np.ascontiguousarray(values), names
