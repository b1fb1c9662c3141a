"""The axes of the label files ``labelfree eval`` scores: a z-stack as volumes of 3-D objects.

A label TIFF that records its axes (an ImageJ hyperstack, an OME-TIFF; an OME-Zarr label image) is scored by
them: with a Z axis, each time point is one volume and each 3-D id one object (:func:`with_recorded_axes`), as
:func:`labelfree.metrics.evaluate` scores DataArrays with dims (Z, Y, X) or (T, Z, Y, X). A plain TIFF records
no axes: 3 axes are (T, Y, X) frames, 4 are (T, Z, Y, X), as before. :func:`mismatch_message` says why two files
cannot be scored together.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError

__all__ = ["label_axes", "mismatch_message", "with_recorded_axes", "scoring_units", "units_text"]


class _HoldWarnings(logging.Filter):
    """Drops a logger's warnings (see :func:`_said_already`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


@contextlib.contextmanager
def _said_already(name: str, /) -> Iterator[None]:
    """Hold back the warnings of logger ``name`` while a file is read again that a warning was given for
    already (``eval`` reads a label file for its values, then again for the names of its axes)."""
    held = _HoldWarnings()
    logger = logging.getLogger(name)
    logger.addFilter(held)
    try:
        yield
    finally:
        logger.removeFilter(held)


def label_axes(path: Path, shape: tuple[int, ...]) -> dict[str, int] | None:
    """The axes of a label file, named as the file records them, with their sizes (length-one axes left out, as
    :func:`read_labels` leaves them out); None when the file records none (a plain TIFF of 3 or more axes)."""
    from labelfree.errors import LabelFreeError
    from labelfree.io import read_image
    from labelfree.io.cellpose_seg import is_npy_file

    if is_npy_file(path):  # a Cellpose annotation: read_cellpose_seg reads (Y, X) only
        return {"Y": shape[0], "X": shape[1]} if len(shape) == 2 else None
    try:
        with _said_already("labelfree.io.tiff"):  # read_labels read this file and gave its warnings
            da = read_image(path, memmap=True)
    except LabelFreeError:
        return None
    sizes = {str(d): int(n) for d, n in da.sizes.items() if n != 1}
    if da.attrs.get("planar_rgb") or sorted(sizes.values()) != sorted(shape):
        return None  # planes tifffile took for colours: the axes are not known
    return sizes


def mismatch_message(pred_path: Path, pred_shape: tuple[int, ...], gt_path: Path, gt_shape: tuple[int, ...]) -> str:
    """Why a prediction and its ground truth cannot be scored together (their axes and sizes), and what to do."""
    axes = {"p": label_axes(pred_path, pred_shape), "g": label_axes(gt_path, gt_shape)}

    def said(path: Path, shape: tuple[int, ...], named: dict[str, int] | None) -> str:
        if named is None:
            return (f"{path.name} has shape {shape} with no axes recorded (eval takes 3 axes as T, Y, X and 4 as "
                    "T, Z, Y, X)")
        return f"{path.name} has axes {', '.join(f'{d}={n}' for d, n in named.items())}"

    text = (f"The prediction and the ground truth must have the same axes of the same sizes: "
            f"{said(pred_path, pred_shape, axes['p'])}, but {said(gt_path, gt_shape, axes['g'])}.")
    p, g = axes["p"], axes["g"]
    if p is None or g is None:
        return text + (" Record the axes of the file without them (Fiji: Image > Properties, Slices or Frames; then "
                       "File > Save As > Tiff), or check that both files show the same image.")
    one_plane = ("save one plane (Fiji: Image > Duplicate... with one slice; Python: read_image(path).isel(Z=k)) or "
                 "a projection (Fiji: Image > Stacks > Z Project..., Max Intensity) of it as TIFF and score against "
                 "that file")
    if "Z" in g and "Z" not in p:
        hint = (f" The ground truth has Z planes and the prediction has none, as a segmentation of one plane or of a "
                f"projection has: {one_plane.replace('of it', 'of the ground truth')}; or segment every plane (a "
                "pipeline that takes Z, e.g. labelfree threshold; a plain TIFF read with --dims naming its Z axis, "
                "e.g. --dims ZYX).")
        if "T" in p and "T" not in g:
            hint += (" If the ground truth's planes are really time points, record them as frames (Fiji: Image > "
                     "Properties, Frames instead of Slices, then File > Save As > Tiff).")
        return text + hint
    if "Z" in p and "Z" not in g:
        hint = (f" The prediction has Z planes and the ground truth has none (one plane or a projection): "
                f"{one_plane.replace('of it', 'of the prediction')}.")
        if "T" in g and "T" not in p:
            hint += (" If the prediction's planes are really time points, segment the image again with them as "
                     "frames (--dims naming that axis T; Fiji: Image > Properties, Frames instead of Slices).")
        return text + hint
    if "T" in p and "T" not in g:
        return text + (" The ground truth is one frame: save the prediction's frame it annotates (Fiji: Image > "
                       "Duplicate... with one frame; Python: labels[t]) as TIFF and score that, or give a Cell "
                       "Tracking Challenge SEG folder (man_segTTT.tif for frame TTT) as the ground truth.")
    if "T" in g and "T" not in p:
        return text + (" The prediction is one frame: segment the whole time-lapse, or save the ground truth's "
                       "frame that it shows (Fiji: Image > Duplicate... with one frame) and score against that.")
    if set(p) != set(g):
        return text + " Save both with the same axes (Fiji: Image > Properties) and score again."
    differ = [d for d in p if p[d] != g[d]]
    if not differ:
        return text + (" The files store these axes in different orders: save both from Fiji (File > Save As > "
                       "Tiff stores T, Z, Y, X in that order) and score again.")
    if differ == ["T"]:
        return text + (f" They differ in their number of frames ({p['T']} and {g['T']}): save the frames both "
                       "cover (Fiji: Image > Duplicate..., a range of frames) and score those, or give a Cell "
                       "Tracking Challenge SEG folder, whose frames are matched by number.")
    return text + (f" They differ in {', '.join(differ)}: the prediction must be of the image the ground truth "
                   "annotates, uncropped and unscaled; check that the two files belong together.")


def _axes_text(path: Path, named: dict[str, int]) -> str:
    return f"{path.name} has axes {', '.join(f'{d}={n}' for d, n in named.items())}"


def with_recorded_axes(pred: np.ndarray, gt: np.ndarray, pred_path: Path, gt_path: Path, /) -> tuple[Any, Any]:
    """A prediction and its ground truth (arrays of one shape, as :func:`labelfree.io.read_labels` reads them)
    with the axes their files record, when those axes hold Z: DataArrays with dims such as ``("Z", "Y", "X")`` or
    ``("T", "Z", "Y", "X")``, which :func:`labelfree.metrics.evaluate` scores as volumes (3-D objects, one per
    3-D id; one volume per time point). A file that records no axes (a plain TIFF) takes those of the other.
    Arrays of other shapes, of fewer than 3 axes, or without a recorded Z axis are returned as they are
    (a plain 3-D TIFF is a (T, Y, X) stack of frames, as before).

    Raises
    ------
    InputError
        The two files record their axes differently (Z planes in one, time points in the other): which one is
        right is unknown, and the scores of volumes and of frames differ.
    """
    if pred.shape != gt.shape or pred.ndim < 3:
        return pred, gt
    p, g = label_axes(pred_path, pred.shape), label_axes(gt_path, gt.shape)
    if not any(a is not None and "Z" in a for a in (p, g)):
        return pred, gt
    if p is not None and g is not None and list(p) != list(g):
        raise InputError(
            f"The prediction and the ground truth record different axes: {_axes_text(pred_path, p)}, but "
            f"{_axes_text(gt_path, g)}. eval scores a z-stack as volumes (each 3-D object once) and a time-lapse "
            "frame by frame, so the two files must agree. Record the right axes in the file that has them wrong "
            "(Fiji: Image > Properties, Slices (z) or Frames (t); then File > Save As > Tiff) and score again.")
    named = p if p is not None else g
    dims = list(named or {})
    if tuple((named or {}).values()) != pred.shape or not set(dims) <= set("TZYX") or not {"Y", "X"} <= set(dims):
        return pred, gt  # axes eval does not score by name (C, ...): as before
    import xarray as xr

    return xr.DataArray(pred, dims=dims), xr.DataArray(gt, dims=dims)


def scoring_units(pred: Any, /) -> dict[str, Any]:
    """What :func:`labelfree.metrics.evaluate` scores ``pred`` in (as :func:`with_recorded_axes` or a SEG folder
    gave it), for its result: ``{"scored_as": "volumes", "z_planes": n}`` for (Z, Y, X) volumes (a DataArray with
    a Z axis, a (T, Z, Y, X) array); empty for 2-D frames, whose result stays as it was."""
    dims = tuple(str(d) for d in getattr(pred, "dims", ()))
    if "Z" in dims:
        return {"scored_as": "volumes", "z_planes": int(pred.sizes["Z"])}
    if not dims and np.ndim(pred) == 4:
        return {"scored_as": "volumes", "z_planes": int(np.shape(pred)[1])}
    return {}


def units_text(n: int, units: dict[str, Any], /) -> str:
    """``n`` scored units in words: ``"3 frame(s)"`` or ``"2 volume(s) of 5 planes (objects in 3-D)"``."""
    if units.get("scored_as") == "volumes":
        return f"{n} volume(s) of {units['z_planes']} planes (objects in 3-D)"
    return f"{n} frame(s)"
