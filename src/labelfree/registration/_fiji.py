"""Fiji backends: DataArray in, Fiji plugin through the bridge, DataArray and tables out.

Imported only when the Fiji backend was chosen; the bridge (``labelfree.imagej``)
is imported inside the functions.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import xarray as xr

from labelfree.image import channel_names, scale_of

__all__ = ["correct_drift_fiji", "stitch_fiji", "window_from_grown"]

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


def correct_drift_fiji(da: xr.DataArray, cfg) -> tuple[xr.DataArray, pd.DataFrame]:
    """Run "Correct 3D drift" on ``da`` and return (corrected, shifts) like the Python backend."""
    from labelfree.imagej import imageplus_to_xarray, xarray_to_imageplus
    from labelfree.imagej.plugins import correct_3d_drift_options, run_correct_3d_drift
    from labelfree.registration._shift import canvas_window
    from labelfree.registration.drift import _axes, _limits, _shift_table

    axes = _axes(da, cfg)
    names = channel_names(da)
    channel = names.index(cfg.channel) + 1 if isinstance(cfg.channel, str) else int(cfg.channel) + 1
    nz = da.sizes.get("Z", 1)
    sizes = {ax: da.sizes.get(ax, 1) for ax in ("X", "Y", "Z")}
    limits = _limits(cfg.max_shift, len(axes))
    by_axis = dict(zip(axes, limits)) if limits else {ax: max(1, n // 3) for ax, n in sizes.items()}
    if cfg.reference == "first":
        log.info("drift (fiji): Correct 3D drift has no first-frame reference; using multi_time_scale.")
    options = correct_3d_drift_options(
        channel=channel, xy_only=bool(cfg.xy_only and nz > 1), multi_time_scale=cfg.reference == "first",
        sub_pixel=cfg.subpixel, z_range=(1, nz),
        max_shift=[by_axis.get(ax, 0) or 0 for ax in ("X", "Y", "Z")],
    )
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
    from labelfree.imagej import imageplus_to_xarray
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
