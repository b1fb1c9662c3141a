"""The Fiji backends of drift correction and stitching (Correct 3D Drift, Grid/Collection stitching).

:func:`register_backends` registers them with :mod:`labelfree.registration` when
ImageJ/Fiji starts in this process (:func:`labelfree.imagej.start`); from then on
``backend="auto"`` uses them when the running Fiji has the plugins. The drift
backend takes a DataArray; :func:`correct_drift_imageplus` runs the plugin on an
ImagePlus directly, with no conversion of the movie. :func:`correct_drift_window` is the
"LabelFree Drift" command's work on the image as the user sees it (selection, RGB).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
import xarray as xr

from labelfree.errors import InputError
from labelfree.image import channel_names, scale_of

__all__ = ["correct_drift_fiji", "correct_drift_imageplus", "correct_drift_window", "stitch_fiji",
           "window_from_grown", "register_backends"]

log = logging.getLogger(__name__)


def _to_dims(image: xr.DataArray, dims: tuple[str, ...]) -> np.ndarray:
    extra = [d for d in image.dims if d not in dims]
    return np.asarray(image.isel({d: 0 for d in extra}).transpose(*dims).values)


def window_from_grown(pixels: np.ndarray, drift: np.ndarray, sizes: list[int], canvas: str) -> np.ndarray:
    """Cut a Fiji-style grown canvas (trailing axes = the drift axes) to another canvas.

    Fiji pastes every frame into a zero-filled canvas that starts at reference position
    ``-max(drift)``; "crop" and "same" are windows of it (zero-padded where Fiji's
    sub-pixel canvas is a pixel short).
    """
    from labelfree.registration._shift import canvas_window

    grow = canvas_window(drift, sizes, "grow")
    target = canvas_window(drift, sizes, canvas)
    n_axes = len(sizes)
    out = np.zeros(pixels.shape[: pixels.ndim - n_axes] + tuple(hi - lo for lo, hi in target), dtype=pixels.dtype)
    src, dst = [], []
    for (glo, _), (tlo, thi), n in zip(grow, target, pixels.shape[pixels.ndim - n_axes:]):
        start, stop = max(0, tlo - glo), min(n, thi - glo)
        src.append(slice(start, stop))
        dst.append(slice(start - (tlo - glo), stop - (tlo - glo)))
    out[(...,) + tuple(dst)] = pixels[(...,) + tuple(src)]
    return out


def _drift_options(cfg: Any, names: list[str], sizes: dict[str, int], n_axes: int) -> str:
    """The macro options of Correct 3D drift for a DriftConfig and an image's channels and sizes."""
    from labelfree.image import channel_by_name, parse_channel
    from labelfree.imagej.plugins import correct_3d_drift_options
    from labelfree.registration.drift import _limits

    channel = parse_channel(cfg.channel)
    if isinstance(channel, str):
        channel = channel_by_name(names, channel)
    if not 0 <= channel < max(1, len(names)):
        raise InputError(f"Channel index {channel} is out of range; the image has {max(1, len(names))} channel(s).")
    index = channel
    axes = ("Z", "Y", "X")[3 - n_axes:]
    limits = _limits(cfg.max_shift, n_axes)
    by_axis = dict(zip(axes, limits)) if limits else {ax: max(1, n // 3) for ax, n in sizes.items()}
    if cfg.reference == "first":
        log.info("drift (fiji): Correct 3D drift has no first-frame reference; using multi_time_scale.")
    nz = sizes.get("Z", 1)
    return correct_3d_drift_options(
        channel=index + 1, xy_only=bool(cfg.xy_only and nz > 1), multi_time_scale=cfg.reference == "first",
        sub_pixel=cfg.subpixel, z_range=(1, nz), max_shift=[by_axis.get(ax, 0) or 0 for ax in ("X", "Y", "Z")],
    )


def correct_drift_fiji(da: xr.DataArray, cfg) -> tuple[xr.DataArray, pd.DataFrame]:
    """Run "Correct 3D drift" on ``da`` and return (corrected, shifts) like the Python backend."""
    from labelfree.imagej.convert import imageplus_to_xarray, xarray_to_imageplus
    from labelfree.imagej.plugins import run_correct_3d_drift
    from labelfree.registration._shift import canvas_window
    from labelfree.registration.drift import _axes, _shift_table

    axes = _axes(da, cfg)
    sizes = {ax: da.sizes.get(ax, 1) for ax in ("X", "Y", "Z")}
    options = _drift_options(cfg, channel_names(da), sizes, len(axes))
    registered, drift_xyz = run_correct_3d_drift(xarray_to_imageplus(da), options)
    grown = imageplus_to_xarray(registered)
    registered.changes = False
    registered.close()
    order = {"X": 0, "Y": 1, "Z": 2}
    drift = np.stack([drift_xyz[:, order[ax]] for ax in axes], axis=1)
    target = canvas_window(drift, [da.sizes[ax] for ax in axes], cfg.canvas)
    out = window_from_grown(_to_dims(grown, tuple(da.dims)), drift, [da.sizes[ax] for ax in axes], cfg.canvas)
    coords = {d: da.coords[d] for d in da.dims if d not in axes}
    for ax, (lo, hi) in zip(axes, target):
        old = da.coords[ax]
        values = float(old.values[0]) + scale_of(da, ax) * np.arange(lo, hi, dtype=np.float64)
        coords[ax] = xr.Variable(ax, values, attrs=dict(old.attrs))
    corrected = xr.DataArray(out, dims=da.dims, coords=coords, attrs=dict(da.attrs), name=da.name)
    corrected.attrs["drift_correction"] = {**cfg.to_dict(), "backend": "fiji", "macro_options": options}
    return corrected, _shift_table(drift, np.full(len(drift), np.nan), da, axes)


def stitch_fiji(das: list[xr.DataArray], nominal: np.ndarray, cfg) -> tuple[xr.DataArray, pd.DataFrame]:
    """Write the tiles and a TileConfiguration to a temp folder, stitch in Fiji, read back."""
    from labelfree.imagej.convert import imageplus_to_xarray
    from labelfree.imagej.plugins import positions_stitching_options, run_grid_stitching
    from labelfree.registration.stitch import _outputs
    from labelfree.registration.tiles import read_tile_configuration, write_tile_configuration

    with tempfile.TemporaryDirectory(prefix="labelfree_stitch_") as tmp:
        folder = Path(tmp)
        names = [f"tile_{i:03d}.tif" for i in range(len(das))]
        for name, tile in zip(names, das):
            tifffile.imwrite(folder / name, np.asarray(tile.values), imagej=True,
                             metadata={"axes": "".join(tile.dims)})
        write_tile_configuration(folder / "TileConfiguration.txt", names, nominal)
        options = positions_stitching_options(
            folder, fusion=cfg.fusion, subpixel=cfg.subpixel,
            thresholds=(cfg.regression_threshold, cfg.max_avg_displacement_threshold,
                        cfg.absolute_displacement_threshold),
        )
        fused_imp, registered = run_grid_stitching(options, directory=folder, layout_file="TileConfiguration.txt")
        fused = _to_dims(imageplus_to_xarray(fused_imp), tuple(das[0].dims))
        fused_imp.changes = False
        fused_imp.close()
        table = read_tile_configuration(registered).set_index("file").loc[names]
    placed = table[["y", "x"]].to_numpy(dtype=float)
    placed = placed - np.floor(placed.min(0))
    return _outputs(das, fused, placed, nominal, None, backend="fiji")


def correct_drift_imageplus(imp: Any, cfg: Any, /) -> tuple[Any, pd.DataFrame]:
    """Run Correct 3D drift on an ImagePlus as it is; return the corrected ImagePlus and the shifts table.

    Only the grown canvas (Fiji's own output) is returned as it comes; "crop" and
    "same" are cut from it with ImageJ's Duplicator, in X and Y and, when the drift is measured in 3-D (a
    z-stack per frame, ``xy_only`` off), in Z too. The movie is never converted.
    """
    from labelfree.imagej.convert import imageplus_channel_names
    from labelfree.imagej.plugins import run_correct_3d_drift
    from labelfree.registration._shift import canvas_window

    sizes = {"X": int(imp.getWidth()), "Y": int(imp.getHeight()), "Z": int(imp.getNSlices())}
    axes = ("Z", "Y", "X") if sizes["Z"] > 1 and not cfg.xy_only else ("Y", "X")
    options = _drift_options(cfg, imageplus_channel_names(imp), sizes, len(axes))
    registered, drift_xyz = run_correct_3d_drift(imp, options)
    order = {"X": 0, "Y": 1, "Z": 2}
    drift = np.stack([drift_xyz[:, order[ax]] for ax in axes], axis=1)
    if cfg.canvas != "grow":
        from scyjava import jimport

        grow = canvas_window(drift, [sizes[ax] for ax in axes], "grow")
        target = canvas_window(drift, [sizes[ax] for ax in axes], cfg.canvas)
        inside = {ax: (lo - g[0], hi - g[0]) for ax, (lo, hi), g in zip(axes, target, grow)}
        (y0, y1), (x0, x1) = inside["Y"], inside["X"]
        depth = int(registered.getNSlices())
        z0, z1 = inside.get("Z", (0, depth))  # Fiji grows Z too when it corrects the drift in 3-D
        registered.setRoi(jimport("ij.gui.Roi")(x0, y0, x1 - x0, y1 - y0))
        cropped = jimport("ij.plugin.Duplicator")().run(
            registered, 1, int(registered.getNChannels()), z0 + 1, min(z1, depth), 1, int(registered.getNFrames()))
        registered.changes = False
        registered.close()
        registered = cropped
    cal = imp.getCalibration()
    table = pd.DataFrame({"frame": np.arange(len(drift))})
    for i, ax in enumerate(axes):
        table[f"d{ax.lower()}"] = drift[:, i]
    table["ncc"] = np.nan
    scale = {"X": float(cal.pixelWidth), "Y": float(cal.pixelHeight), "Z": float(cal.pixelDepth)}
    for i, ax in enumerate(axes):
        table[f"d{ax.lower()}_cal"] = drift[:, i] * scale[ax]
    table["unit"] = str(cal.getUnit())
    return registered, table


def correct_drift_window(imp: Any, cfg: Any, /, *, progress: Any = False) -> tuple[Any, Any, pd.DataFrame, list[str]]:
    """The "LabelFree Drift" command on an image window: (corrected DataArray or None, corrected
    ImagePlus, shifts table, notes for the Log window).

    As Fiji's Correct 3D Drift: an **area selection** is the region the drift is measured in (a
    still structure, away from moving cells); the box moves along with the drift, so the structure
    stays inside it, and the whole movie is corrected; the channel
    ``cfg.channel`` drives the estimate and every channel is shifted. An **RGB** movie (one
    channel for ImageJ) is measured on its brightness (*Image > Type > 8-bit*) unless
    ``channel`` names a colour (R, G, B) and keeps its colours.
    """
    from labelfree.imagej.convert import imageplus_to_xarray, xarray_to_imageplus
    from labelfree.imagej.seen import area_selection, image_bytes, require_frames, require_memory
    from labelfree.registration._backend import choose_backend

    require_frames(imp, what="LabelFree Drift")
    selection = area_selection(imp)
    if choose_backend(cfg.backend, "drift", task_name="drift correction") == "fiji":
        notes = ["Correct 3D Drift measured the drift inside the selection (moving it along with the drift) "
                 "and corrected the whole movie"] if selection is not None else []
        result_imp, table = correct_drift_imageplus(imp, cfg)
        return None, result_imp, table, notes
    from labelfree.registration.drift import correct_drift, estimate_drift, estimate_drift_in_region
    from labelfree.registration.shifts import apply_shifts

    cfg = cfg.replace(backend="python")
    require_memory(imp, what="LabelFree Drift (backend python)",
                   made="the corrected movie and ImageJ's copy of it at least",
                   more=2 * image_bytes(imp),  # the corrected movie, then ImageJ's copy of it
                   advice="Correct a part of it (Image > Duplicate... a range of frames), or use the backend fiji "
                          "(Fiji's Correct 3D Drift, in ImageJ's own memory).")
    raw = imageplus_to_xarray(imp)
    measured, cfg_measured, notes = _measured_movie(imp, raw, cfg)
    if measured is raw and selection is None:
        corrected, table = correct_drift(raw, config=cfg, progress=progress)
    else:
        if selection is None:
            table = estimate_drift(measured, config=cfg_measured, progress=progress)
        else:
            (x, y, w, h), _ = selection
            table = estimate_drift_in_region(measured, (x, y, w, h), config=cfg_measured)
            notes.append(f"measured the drift inside the selection (x={x}, y={y}, {w}x{h} pixels, moved along "
                         "with the drift) and corrected the whole movie; Edit > Selection > Select None "
                         "measures it on the whole image")
        corrected = apply_shifts(raw, table, canvas=cfg.canvas, subpixel=cfg.subpixel, progress=progress)
        corrected.attrs["drift_correction"] = {**cfg.to_dict(), "backend": "python", "imagej_input": notes}
    return corrected, xarray_to_imageplus(corrected), table, notes


def _measured_movie(imp: Any, raw: xr.DataArray, cfg: Any) -> tuple[xr.DataArray, Any, list[str]]:
    """The movie the drift is measured on (an RGB movie's brightness), its config, and notes."""
    from labelfree.imagej.seen import brightness_noted

    measured, notes = raw, []
    if int(imp.getBitDepth()) == 24 and str(cfg.channel).strip() in ("0", ""):
        measured = brightness_noted(raw, notes, done="measured the drift on the RGB image's brightness",
                                    choice="measure it on one colour; every colour is shifted")
        cfg = cfg.replace(channel=0)
    return measured, cfg, notes


def register_backends() -> None:
    """Register the Fiji backends with :mod:`labelfree.registration` (called when ImageJ starts)."""
    from labelfree.imagej.plugins import CORRECT_3D_DRIFT, GRID_STITCHING, plugin_installed, require_plugin
    from labelfree.registration._backend import FijiBackend, register_fiji_backend

    for task, command, run in (("drift", CORRECT_3D_DRIFT, correct_drift_fiji), ("stitch", GRID_STITCHING, stitch_fiji)):
        register_fiji_backend(task, FijiBackend(
            command, run, lambda c=command: plugin_installed(c), lambda c=command: require_plugin(c)))
