"""The image as a Fiji user sees it: RGB brightness and the selection.

ImageJ's own commands work on what the window shows, and so do the LabelFree commands:

* an **RGB** image (ColorProcessor) whose colours differ is segmented on its brightness, the
  grey image of *Image > Type > 8-bit* (ImageJ's RGB weights, *Edit > Options > Conversions*),
  by the one-channel pipelines when no ``channel`` is given; ``channel=R|G|B`` picks a colour;
* an **inverting LUT** changes nothing: the pixel values are segmented, bright values being
  objects. That is ImageJ's own default for such images: *Image > Adjust > Threshold* with a
  light background (the *Blobs* sample, a binary mask made with *Black background* off) takes
  the objects shown dark, which are the high values;
* an **area selection** limits the command to it, as *Analyze Particles* does: the pipeline
  segments the selection's bounding box and objects are cut at the outline; the label image
  keeps the full size, so the labels and ROIs lie where the objects are in the image.

Shared by every command (segmentation, Drift, Stitch): the notes written to the Log
(:func:`log_notes`), the titles of reruns (:func:`unique_title`), an image's size as ImageJ counts it
(:func:`imagej_shape`), the refusal of a still image by a command that needs frames (:func:`require_frames`),
of a z-stack by a pipeline that segments 2-D planes (:func:`require_planes`) and of an image that is no stack of
2-D tiles by Stitch (:func:`require_tiles`), all before any dialog.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["seen_image", "rgb_brightness", "brightness_noted", "area_selection", "crop_to_selection", "paste_labels",
           "unique_title", "imagej_shape", "require_frames", "require_planes", "require_tiles", "log_notes",
           "MIN_SELECTION"]

log = logging.getLogger(__name__)

#: the smallest area selection (width and height, pixels) a command segments in, as Drift measures in
MIN_SELECTION = 8


def seen_image(spec: Any, imp: Any, values: dict[str, Any]) -> tuple[Any, Any, Any, list[str]]:
    """The image measured (RGB: its brightness when one channel is segmented and none was chosen),
    the image segmented (cropped to the selection), the selection and what
    was done, in words for the Log window (see the module notes)."""
    from labelfree.imagej.convert import imageplus_to_xarray

    notes = []
    raw = imageplus_to_xarray(imp)
    if int(imp.getBitDepth()) == 24 and spec.channels == "one" and values.get("channel") in (None, ""):
        raw = brightness_noted(raw, notes, done="segmented the RGB image's brightness",
                               choice="segment one colour")
    seen = raw
    selection = area_selection(imp)
    from_manager = any(i.roi_manager and values.get(i.macro_key) == "roi_manager" for i in spec.inputs)
    if selection is not None and from_manager and _in_roimanager(imp.getRoi()):
        selection = None  # the marker just added to the ROI Manager, still shown: an input, not a limit
        notes.append("the selection is one of the ROI Manager's markers, so the whole image was segmented")
    if selection is not None:
        (x, y, w, h), _ = selection
        _require_selection_size(imp, (x, y, w, h), what=spec.menu_title)
        seen = crop_to_selection(seen, (x, y, w, h))
        notes.append(f"segmented inside the selection (x={x}, y={y}, {w}x{h} pixels); "
                     "Edit > Selection > Select None segments the whole image")
    return raw, seen, selection, notes


def _require_selection_size(imp: Any, box: tuple[int, int, int, int], /, *, what: str) -> None:
    """Refuse a selection (its part inside the image) narrower or lower than :data:`MIN_SELECTION` pixels."""
    from labelfree.errors import InputError

    x, y, w, h = box
    if w < MIN_SELECTION or h < MIN_SELECTION:
        raise InputError(f"{what} segments inside the selection, and the selection on {imp.getTitle()} (x={x}, y={y}, "
                         f"{w}x{h} pixels inside the image) is too small to segment: it needs at least "
                         f"{MIN_SELECTION}x{MIN_SELECTION} pixels. Draw a larger selection, or remove it "
                         "(Edit > Selection > Select None) to segment the whole image.")


def _in_roimanager(roi: Any) -> bool:
    """True when the ROI Manager holds a ROI of the same kind and place as ``roi``."""
    from labelfree.imagej.rois import get_roimanager

    bounds = roi.getBounds()
    return any(int(r.getType()) == int(roi.getType()) and r.getBounds().equals(bounds)
               for r in get_roimanager().getRoisAsArray())


def rgb_brightness(da: xr.DataArray, /) -> xr.DataArray:
    """The 8-bit grey image ImageJ's *Image > Type > 8-bit* makes of an RGB image (C axis R, G, B)."""
    from scyjava import jimport

    weights = [float(w) for w in jimport("ij.process.ColorProcessor").getWeightingFactors()]
    rgb = da.transpose("C", ...).values.astype(np.float64)
    grey = sum(w * rgb[i] for i, w in enumerate(weights))
    values = np.clip(np.floor(grey + 0.5), 0, 255).astype(np.uint8)
    out = da.isel(C=0, drop=True).copy(data=values)
    out.attrs = dict(da.attrs)
    return out


def brightness_noted(da: xr.DataArray, notes: list[str], /, *, done: str, choice: str) -> xr.DataArray:
    """:func:`rgb_brightness` of an RGB image; when its colours differ, a note for the Log is added to
    ``notes``: ``done`` (what was done with the brightness) and how ``channel=`` would ``choice`` instead."""
    from labelfree.image import identical_channels

    if not identical_channels(da.values, axis=da.dims.index("C")):
        notes.append(f"{done} (as Image > Type > 8-bit); give channel=R, G or B to {choice}")
    return rgb_brightness(da)


def area_selection(imp: Any, /) -> tuple[tuple[int, int, int, int], np.ndarray | None] | None:
    """The area selection of ``imp`` clipped to the image: ``(x, y, width, height)`` and its mask
    within that box (None for a rectangle); None without an area selection (points and lines
    select no area)."""
    roi = imp.getRoi()
    if roi is None or not roi.isArea():
        return None
    from scyjava import jimport

    box = roi.getBounds().intersection(jimport("java.awt.Rectangle")(0, 0, int(imp.getWidth()), int(imp.getHeight())))
    x, y, w, h = int(box.x), int(box.y), int(box.width), int(box.height)
    if w <= 0 or h <= 0:
        return None
    mask = None
    jmask = roi.getMask()
    if jmask is not None:  # non-rectangular: one byte per pixel of the ROI's bounds, 255 inside
        bounds = roi.getBounds()
        full = np.asarray(jmask.getPixels()).reshape(int(bounds.height), int(bounds.width)) != 0
        mask = full[y - int(bounds.y):y - int(bounds.y) + h, x - int(bounds.x):x - int(bounds.x) + w]
    if w == int(imp.getWidth()) and h == int(imp.getHeight()) and (mask is None or mask.all()):
        return None  # the whole image (e.g. Edit > Selection > Select All)
    return (x, y, w, h), mask


def crop_to_selection(da: xr.DataArray, box: tuple[int, int, int, int], /) -> xr.DataArray:
    """The part of ``da`` inside the selection's bounding box (coords kept)."""
    x, y, w, h = box
    return da.isel(Y=slice(y, y + h), X=slice(x, x + w))


def paste_labels(labels: xr.DataArray, full: xr.DataArray, box: tuple[int, int, int, int],
                 mask: np.ndarray | None, /) -> xr.DataArray:
    """Labels of the selection's box put back into a label image of ``full``'s size.

    Pixels outside the selection become background and the ids are renumbered 1..N over the
    whole image (a Motion track keeps one id in every frame).
    """
    from labelfree.image import labels_like
    from labelfree.labels import relabel_sequential

    x, y, w, h = box
    dims = tuple(labels.dims)
    out = np.zeros(tuple(full.sizes[d] for d in dims), dtype=labels.dtype)
    inside = np.asarray(labels.values)
    if mask is not None:
        inside = np.where(mask, inside, 0)
    out[..., y:y + h, x:x + w] = inside
    return labels_like(relabel_sequential(out), full, dims=dims, attrs=dict(labels.attrs))


def unique_title(title: str, /) -> str:
    """``title``, or ``title-1``, ``title-2``, ... when an open image already has it (as Image > Duplicate names
    copies), so that each run's output is its own window and ``selectImage`` finds the newest one."""
    from scyjava import jimport

    WindowManager = jimport("ij.WindowManager")
    taken = {str(t) for t in (WindowManager.getImageTitles() or [])}
    if WindowManager.getImage(title) is None and title not in taken:
        return title
    n = 1
    while WindowManager.getImage(f"{title}-{n}") is not None or f"{title}-{n}" in taken:
        n += 1
    return f"{title}-{n}"


def require_frames(imp: Any, /, *, what: str) -> None:
    """Refuse an image of one frame for a command that needs a time-lapse (``what`` names it), saying
    how to make frames of planes stored as slices."""
    from labelfree.errors import DimensionError

    frames, slices = int(imp.getNFrames()), int(imp.getNSlices())
    if frames >= 2:
        return
    stored = (f" Its {slices} planes are stored as slices (Z): if they are time points, set Image > Properties "
              f"(Slices 1, Frames {slices}) or use Image > Hyperstacks > Re-order Hyperstack." if slices > 1 else "")
    raise DimensionError(f"{what} needs a time-lapse (two frames or more); {imp.getTitle()} has {frames} "
                         f"frame(s).{stored}")


def image_bytes(imp: Any, /) -> int:
    """The bytes the pixels of ``imp`` take once read into Python (every plane; RGB 3 a pixel)."""
    width, height, planes = int(imp.getWidth()), int(imp.getHeight()), int(imp.getStackSize())
    return width * height * planes * {8: 1, 16: 2, 24: 3}.get(int(imp.getBitDepth()), 4)


def require_memory(imp: Any, /, *, what: str, made: str, more: int, advice: str) -> None:
    """Refuse ``imp`` for a command (``what`` names it) that reads it whole into Python's memory and makes ``made``
    (in words: "its labels") of ``more`` bytes or more besides, when both exceed the memory this process has left
    (:func:`labelfree._threads.available_memory`): a virtual stack of a movie larger than memory would otherwise end
    with ImageJ killed by the system part way through. ``advice``: what to do instead."""
    from labelfree._label_memory import memory_text
    from labelfree._threads import available_memory
    from labelfree.errors import InputError

    left = available_memory()
    pixels = image_bytes(imp)
    if left is None or pixels + more <= left:
        return
    virtual = ", a virtual stack" if bool(imp.getStack().isVirtual()) else ""
    raise InputError(
        f"{what} reads the whole image into memory: {imp.getTitle()} ({int(imp.getStackSize())} planes of "
        f"{int(imp.getWidth())}x{int(imp.getHeight())}{virtual}) takes {memory_text(pixels)} there and {made} "
        f"{memory_text(more)}, but only {memory_text(left)} of memory is left. {advice}")


def require_planes(imp: Any, /, *, what: str, takes_z: str) -> None:
    """Refuse an image with Z slices for a pipeline that segments 2-D planes (``what`` names it; ``takes_z``: the
    commands that take a z-stack, in words), saying how to make planes of it: the message of the pipeline's own
    refusal (:func:`labelfree.image.validate_image`'s), which the command translates into ImageJ's menus."""
    from labelfree.errors import DimensionError
    from labelfree.image import _extra_dims_hint

    slices, frames = int(imp.getNSlices()), int(imp.getNFrames())
    if slices < 2:
        return
    dims = tuple(d for d, n in (("T", frames), ("C", int(imp.getNChannels())), ("Z", slices)) if n > 1) + ("Y", "X")
    raise DimensionError(f"{what} segments 2-D planes (one per frame); {imp.getTitle()} is a z-stack of "
                         f"{imagej_shape(imp)}. {takes_z} {'segment' if ' and ' in takes_z else 'segments'} z-stacks."
                         + _extra_dims_hint(["Z"], ("T", "C", "Y", "X"), dims))


def require_tiles(imp: Any, /, *, what: str) -> None:
    """Refuse an image that is no stack of 2-D tiles for a command that stitches the planes of a stack (``what``
    names it): a single plane, or tiles that are z-stacks (slices and frames), which the stitching, as
    ``labelfree stitch``, does not take; the message says how to make a stack of 2-D tiles in ImageJ's menus."""
    from labelfree.errors import DimensionError

    slices, frames = int(imp.getNSlices()), int(imp.getNFrames())
    if slices > 1 and frames > 1:
        raise DimensionError(
            f"{what} stitches 2-D tiles, the slices or the frames of a stack; {imp.getTitle()} has "
            f"{imagej_shape(imp)}: tiles that are z-stacks, which it does not stitch. Make each tile one plane first: "
            "when the frames are the tiles, project each one (Image > Stacks > Z Project..., all time frames); when "
            "the slices are the tiles, pick one frame (Image > Duplicate... with one frame). Then run the command on "
            "that stack.")
    if slices < 2 and frames < 2:
        raise DimensionError(
            f"{what} stitches the planes of a stack (its slices or its frames) as the tiles of a grid; "
            f"{imp.getTitle()} has no slices or frames ({imagej_shape(imp)}). Make a stack of the tiles first "
            "(Image > Stacks > Images to Stack), then run the command on that stack.")


def imagej_shape(imp: Any, /) -> str:
    """The size of ``imp`` as ImageJ counts it (*Image > Properties*): ``"2 channels x 12 slices x 5 frames"``,
    the counts above 1 in ImageJ's order, or ``"one plane"``."""
    counts = ((int(imp.getNChannels()), "channels"), (int(imp.getNSlices()), "slices"),
              (int(imp.getNFrames()), "frames"))
    said = [f"{n} {word}" for n, word in counts if n > 1]
    return " x ".join(said) if said else "one plane"


def log_notes(title: str, imp: Any, notes: list[str], /) -> None:
    """Say in ImageJ's Log window what a command did with the image as seen (RGB, selection), if anything."""
    if notes:
        from scyjava import jimport

        jimport("ij.IJ").log(f"{title} on {imp.getTitle()}: " + "; ".join(notes) + ".")
