"""Overlay pictures: an image plane with the outlines of its objects, as a PNG.

The picture users look at first: the intensities scaled to their 1–99.8 percentiles in
grey, each object's outline in the colour of its id in the glasbey LUT of the label image
(entry ``id`` for ids 1..255, ``1 + (id - 1) % 255`` above; Fiji shows a label image of at most 255 objects in the
same colours: its display range is written as 0–255). Large images are reduced to ``max_size``
pixels on the long side before the outlines are drawn, so outlines stay visible.
The plane shown is the first frame's; of a z-stack, its Z plane with the most labelled pixels
(:func:`shown_plane`), which the PNG names in its text (key ``plane``).
Pictures are encoded with Pillow.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from labelfree.errors import DimensionError, InputError

__all__ = ["overlay_rgb", "overlay_png", "overlay_png_bytes", "first_plane", "shown_plane", "OVERLAY_SUFFIXES"]

#: the file name suffix of the picture :func:`overlay_png` writes (any case)
OVERLAY_SUFFIXES = (".png",)


def first_plane(array: Any, /, *, dims: tuple[str, ...] | None = None, channel: int = 0, z: int = 0) -> np.ndarray:
    """The (Y, X) plane of an array or DataArray at frame 0, Z plane ``z`` and ``channel``.

    Parameters
    ----------
    array : array-like or DataArray
        The image or label image. RGB(A) arrays of shape (Y, X, 3|4) become grey; a plain array of more
        axes (no dims) gives its first plane.
    dims : tuple of str, optional
        The axes of a plain array (default: the DataArray's).
    channel, z : int
        The channel and Z plane taken (0-based); one beyond its axis takes the axis' last.

    Returns
    -------
    numpy.ndarray
        The (Y, X) plane, read (a lazy array is computed).
    """
    dims = tuple(dims or getattr(array, "dims", ()) or ())
    data = array.data if type(array).__name__ == "DataArray" else array
    if dims and len(dims) == len(data.shape):
        at = {"C": channel, "Z": z, "T": 0}
        index = tuple(min(int(at[d]), n - 1) if d in at else slice(None) for d, n in zip(dims, data.shape))
        data = data[index]
    elif len(data.shape) == 3 and data.shape[-1] in (3, 4):
        data = np.asarray(data)[..., :3].mean(axis=-1)
    while len(data.shape) > 2:
        data = data[0]
    plane = data.compute(scheduler="sync") if hasattr(data, "compute") else np.asarray(data)  # read here
    if plane.ndim != 2:
        raise DimensionError(f"Expected an image with Y and X axes; got shape {tuple(np.shape(array))}.")
    return np.asarray(plane)


def shown_plane(labels: Any, /) -> dict[str, int]:
    """The plane an overlay of ``labels`` shows: ``{"T": 0, "Z": z}`` for the T and Z axes the labels have.

    Of a z-stack, the Z plane of the first frame with the most labelled (non-zero) pixels, the first of
    equals; the middle plane (``(n - 1) // 2`` of ``n``) when no plane holds a label. Plane 0 of a
    stack is often out of focus, empty of objects. The labels are read one plane at a time.

    Parameters
    ----------
    labels : DataArray or array-like
        Label image (0 = background) with dims from T, Z, Y, X; a plain array (no dims) gives ``{}``:
        its first plane is shown.

    Returns
    -------
    dict of str to int
        The 0-based index of the plane shown along each of the T and Z axes the labels have.

    Examples
    --------
    >>> from labelfree.image import to_dataarray
    >>> lab = np.zeros((5, 8, 8), int); lab[3, 2:6, 2:6] = 1; lab[1, 4, 4] = 2
    >>> shown_plane(to_dataarray(lab, dims="ZYX"))
    {'Z': 3}
    """
    dims = tuple(getattr(labels, "dims", ()) or ())
    where = {d: 0 for d in ("T", "Z") if d in dims}
    if "Z" not in dims:
        return where
    data = labels.data
    index = tuple(0 if d == "T" else slice(None) for d in dims)
    frame = data[index]
    z_axis = [d for d in dims if d != "T"].index("Z")
    counts = []
    for k in range(frame.shape[z_axis]):
        plane = frame[(slice(None),) * z_axis + (k,)]
        plane = plane.compute(scheduler="sync") if hasattr(plane, "compute") else np.asarray(plane)
        counts.append(int(np.count_nonzero(plane)))
    where["Z"] = int(np.argmax(counts)) if max(counts) > 0 else (len(counts) - 1) // 2
    return where


def _plane_text(labels: Any, where: Mapping[str, int], /, *, labelled: bool) -> str:
    """Which plane the picture shows, in words (empty for a single plane); ``labelled``: the plane has labels."""
    sizes = dict(zip(getattr(labels, "dims", ()) or (), np.shape(labels)))
    parts = [f"frame {where['T']} of {sizes['T']}"] if "T" in where else []
    if "Z" in where:
        how = "the plane with the most labelled pixels" if labelled else "the middle plane: no plane has labels"
        parts.append(f"Z plane {where['Z']} of {sizes['Z']} ({how})")
    return ", ".join(parts) + "; counted from 0" if parts else ""
def _reduce(plane: np.ndarray, step: int, *, nearest: bool) -> np.ndarray:
    if step == 1:
        return plane
    sy, sx = min(step, plane.shape[0]), min(step, plane.shape[1])  # a narrow side keeps one pixel at least
    if nearest:
        return plane[sy // 2::sy, sx // 2::sx]
    ny, nx = (plane.shape[0] // sy) * sy, (plane.shape[1] // sx) * sx
    cut = plane[:ny, :nx].astype(np.float32)
    return cut.reshape(ny // sy, sy, nx // sx, sx).mean(axis=(1, 3))


def _grey(plane: np.ndarray) -> np.ndarray:
    plane = plane.astype(np.float32, copy=False)
    finite = plane[np.isfinite(plane)]
    if finite.size == 0:
        return np.zeros(plane.shape, np.uint8)
    lo, hi = np.percentile(finite, [1.0, 99.8])
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((np.nan_to_num(plane) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def _inner_edges(labels: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour of another value (another object or background; past the image edge,
    the mirrored pixel): ``skimage.segmentation.find_boundaries(labels, mode="inner")``."""
    from scipy import ndimage as ndi

    cross = ndi.generate_binary_structure(2, 1)
    return (ndi.grey_dilation(labels, footprint=cross) != ndi.grey_erosion(labels, footprint=cross)) & (labels != 0)


def _thicken(coloured: np.ndarray, thickness: int) -> np.ndarray:
    """Grey dilation by a ``thickness`` x ``thickness`` square (an even square reaches one more pixel up and
    left), as ``skimage.morphology.dilation`` with ``square(thickness)`` drew it."""
    from scipy import ndimage as ndi

    return ndi.grey_dilation(coloured, size=(thickness, thickness))


def overlay_rgb(image: Any, labels: Any, /, *, max_size: int = 512, thickness: int = 1) -> np.ndarray:
    """An RGB picture (uint8, Y × X × 3) of a plane of ``image`` with ``labels``' outlines.

    Parameters
    ----------
    image : array-like or DataArray, or None
        Intensities; the plane the labels show is shown (see :func:`first_plane`: its first frame
        and channel). None: outlines on black. A plane of another size than the labels is not shown.
    labels : array-like or DataArray
        Label image (0 = background); its first frame is drawn, of a z-stack the Z plane with the most
        labelled pixels (:func:`shown_plane`), and that plane of ``image`` is shown.
    max_size : int
        Longest side of the picture in pixels (images are reduced by an integer factor), 1 or more.
    thickness : int
        Outline width in picture pixels, 1 or more.

    Raises
    ------
    InputError
        ``max_size`` or ``thickness`` is not a whole number of 1 or more.
    DTypeError
        ``labels`` holds negative, fractional or NaN values (not a label image).
    """
    return _picture(image, labels, max_size=max_size, thickness=thickness)[0]


def _picture(image: Any, labels: Any, /, *, max_size: int, thickness: int) -> tuple[np.ndarray, str]:
    """:func:`overlay_rgb`'s picture and which plane it shows, in words (empty for a single plane)."""
    from labelfree.io.lut import glasbey_lut

    for name, value in (("max_size", max_size), ("thickness", thickness)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a whole number of picture pixels, 1 or more; got {value!r}.")
    from labelfree.labels import _as_labels

    where = shown_plane(labels)
    z = where.get("Z", 0)
    lab = _as_labels(first_plane(labels, z=z)).astype(np.int64, copy=False)  # whole numbers >= 0, else DTypeError
    step = max(1, int(np.ceil(max(lab.shape) / float(max_size))))
    small = _reduce(lab, step, nearest=True)
    grey = np.zeros(small.shape, np.uint8)
    if image is not None:
        plane = first_plane(image, z=z)
        if plane.shape == lab.shape:
            grey = _grey(_reduce(plane, step, nearest=False))[: small.shape[0], : small.shape[1]]
            small = small[: grey.shape[0], : grey.shape[1]]
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    coloured = np.where(_inner_edges(small), small, 0)
    if thickness > 1:
        coloured = _thicken(coloured, int(thickness))
    lut = glasbey_lut().T  # (256, 3)
    mask = coloured > 0
    rgb[mask] = lut[1 + (coloured[mask] - 1) % 255]
    return rgb, _plane_text(labels, where, labelled=bool(np.any(lab)))


def overlay_png_bytes(image: Any, labels: Any, /, *, max_size: int = 512, thickness: int = 1,
                      text: Mapping[str, str] | None = None) -> bytes:
    """PNG file content of :func:`overlay_rgb`; ``text``: key -> value stored in the PNG (tEXt; numbers and
    other values as their text). Of a time-lapse or z-stack, the text ``plane`` says which plane is shown
    (``"frame 0 of 5, Z plane 6 of 12 (the plane with the most labelled pixels); counted from 0"``) unless
    ``text`` gives one."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    rgb, shown = _picture(image, labels, max_size=max_size, thickness=thickness)
    info = PngInfo()
    texts = {"plane": shown} if shown else {}
    texts.update({str(key): value for key, value in (text or {}).items()})
    for key, value in texts.items():
        info.add_text(key, str(value))
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(
        buf, format="PNG", compress_level=3, pnginfo=info)  # level 3: a third of the default's time, a few % larger
    return buf.getvalue()


def overlay_png(
    image: Any, labels: Any, path: str | os.PathLike[str], /, *, max_size: int = 1024, thickness: int = 1,
    text: Mapping[str, str] | None = None,
) -> Path:
    """Write the outline overlay of ``labels`` on ``image`` as a PNG (atomically).

    Parameters
    ----------
    image, labels, max_size, thickness
        As for :func:`overlay_rgb`.
    path : path
        The ``.png`` file to write (any case); a path spelt as a folder (``out/``) or a name with another
        suffix (``.jpg``, ``.tif``) is refused before any work (:class:`~labelfree.errors.OutputError`).
    text : mapping of str to str, optional
        Text stored in the PNG (read back with ``PIL.Image.open(path).text``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> img = np.zeros((40, 60)); img[10:30, 10:30] = 1
    >>> out = overlay_png(img, (img > 0).astype(int), pathlib.Path(tempfile.mkdtemp()) / "o.png")
    >>> from PIL import Image; Image.open(out).size
    (60, 40)
    """
    from labelfree.io.atomic import atomic_path, check_file_suffix

    path = check_file_suffix(path, suffixes=OVERLAY_SUFFIXES, what="overlay picture", writes="a PNG picture")
    data = overlay_png_bytes(image, labels, max_size=max_size, thickness=thickness, text=text)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
