"""Segment by an automatic global threshold per plane and connected components."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from labelfree._config import provenance
from labelfree._progress import Progress
from labelfree.errors import DimensionError
from labelfree.image import channel_names, labels_like, validate_image
from labelfree.threshold.config import ThresholdConfig

__all__ = ["constant_region_labels", "segment", "threshold_plane", "whole_plane_config"]


def threshold_plane(plane: np.ndarray, config: ThresholdConfig, /) -> np.ndarray:
    """Labels (uint16) of one 2-D plane.

    A pixel is foreground when its value (as stored, for an integer image; float32 for a
    float one) is strictly above the threshold (below it with ``dark_objects``): the fixed
    one, or the method's (:func:`labelfree.tiling.auto_threshold`: the same value a tiled
    run uses, from a regular subsample of a plane above 16 Mpx). A constant plane has no
    automatic threshold and no objects; a fixed threshold applies to it as to any plane
    (all foreground above it, none below).
    """
    return _threshold_plane(plane, config)[0]


def _threshold_plane(plane: np.ndarray, config: ThresholdConfig, /) -> tuple[np.ndarray, float | None]:
    """:func:`threshold_plane` and the threshold it used (None: a constant plane without a fixed
    threshold, no objects)."""
    from scipy import ndimage as ndi

    from labelfree.labels import declump, fill_holes, relabel_sequential, remove_small_objects
    from labelfree.tiling import auto_threshold

    values = np.asarray(plane)
    if values.dtype.kind == "f":
        values = values.astype(np.float32, copy=False)
    if config.threshold is None and values.min() == values.max():
        return np.zeros(values.shape, np.uint16), None
    thr = float(config.threshold) if config.threshold is not None else auto_threshold(values, method=config.method)
    mask = values < thr if config.dark_objects else values > thr
    if config.fill_holes:
        mask = fill_holes(mask)
    mask = remove_small_objects(mask, min_size=config.min_size)
    labels = declump(mask) if config.split_touching else ndi.label(mask)[0]
    return relabel_sequential(labels), thr


def segment(
    image: Any,
    /,
    *,
    config: ThresholdConfig | dict[str, Any] | str | None = None,
    progress: Any = False,
) -> xr.DataArray:
    """Segment by an automatic global threshold and connected components.

    Parameters
    ----------
    image : DataArray or array, dims from T, C, Z, Y, X (2-D arrays are YX)
        One channel of a fluorescence-like image (select it with
        :func:`labelfree.image.select_channel`; a C axis of length 1 is that channel);
        planes (each T and Z) are thresholded separately.
    config : ThresholdConfig, dict, path or None
    progress : bool or tqdm-like or callable

    Returns
    -------
    labels : DataArray with the image's dims but C (uint16), ids unique per plane.
    """
    cfg = ThresholdConfig.coerce(config)
    da = validate_image(image, allowed=("T", "C", "Z", "Y", "X"), name="image")
    if "C" in da.dims:
        if da.sizes["C"] > 1:
            raise DimensionError(
                f"image has {da.sizes['C']} channels ({', '.join(channel_names(da))}); the threshold pipeline "
                "segments one. Select one channel first (labelfree.image.select_channel; CLI --channel)."
            )
        da = da.isel(C=0)  # a length-1 C is the image itself; its name stays as a scalar coord
    lead = [d for d in da.dims if d not in ("Y", "X")]
    values = np.asarray(da.transpose(*lead, "Y", "X").data)
    planes = values.reshape((-1,) + values.shape[-2:])
    out = np.zeros(planes.shape, np.uint32)
    used = []
    with Progress(progress, total=len(planes), desc="threshold") as bar:
        for i, plane in enumerate(planes):
            out[i], thr = _threshold_plane(plane, cfg)
            used.append(thr)  # exact: a rounded value would not give these labels back (--set threshold=)
            bar.update(message=f"plane {i + 1}/{len(planes)}")
    labels = out.reshape(values.shape)
    extra = {"auto": {"threshold": used[0] if len(used) == 1 else used}} if cfg.threshold is None else {}
    return labels_like(labels, da, dims=tuple(lead) + ("Y", "X"),
                       attrs={"labelfree": provenance("threshold", cfg, extra=extra)})


def whole_plane_config(plane: Any, config: ThresholdConfig, inputs: Any = None, /) -> ThresholdConfig:
    """The config with the whole plane's automatic threshold fixed, for segmenting it in tiles.

    Each tile alone would find its own threshold; the plane's (computed on a subsample,
    read lazily) is the one a whole-plane run uses.
    """
    from labelfree.tiling import auto_threshold

    cfg = ThresholdConfig.coerce(config)
    if cfg.threshold is not None:
        return cfg
    return cfg.replace(threshold=auto_threshold(plane, method=cfg.method))


def constant_region_labels(region: np.ndarray, config: Any, /) -> np.ndarray | None:
    """Labels of a tile whose pixels all have one value, or None (no objects).

    A tiled run hands such a tile here instead of to :func:`segment`, which refuses a constant
    image. A fixed threshold (a tiled run fixes the plane's automatic one) segments it as it
    segments that stretch of the whole plane: all foreground above it (below it with
    ``dark_objects``), none otherwise. Without one the tile has no objects.

    Parameters
    ----------
    region : array (..., Y, X)
        The tile; leading axes (a channel axis of length 1) hold the same value.
    config : ThresholdConfig or dict
    """
    cfg = ThresholdConfig.coerce(config)
    if cfg.threshold is None:
        return None
    values = np.asarray(region)
    return threshold_plane(values.reshape((-1,) + values.shape[-2:])[0], cfg)
