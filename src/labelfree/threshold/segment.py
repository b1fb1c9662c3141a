"""Segment by an automatic global threshold per plane and connected components."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from labelfree._config import provenance
from labelfree._progress import Progress
from labelfree.image import labels_like, validate_image
from labelfree.threshold.config import ThresholdConfig

__all__ = ["segment", "threshold_plane", "plane_threshold", "whole_plane_config"]


#: integer images whose range spans more levels than this are thresholded on skimage's 256-bin
#: histogram of their values as float32, as before: with that many levels a bin holds one level
#: or more, and the thresholds of wide-range images (and every figure measured on them) stay
MAX_INTEGER_LEVELS = 255


def _values(plane: Any) -> np.ndarray:
    """A plane's values as thresholded: integers as stored, booleans as 0/1, floats as float32."""
    values = np.asarray(plane)
    if values.dtype.kind == "b":
        return values.astype(np.uint8)
    if values.dtype.kind in "iu":
        return values
    return values.astype(np.float32, copy=False)


def plane_threshold(plane: Any, /, *, method: str = "otsu") -> float:
    """The automatic threshold (``"otsu"``, ``"li"`` or ``"triangle"``) of an image's values.

    Integer images are thresholded on their integer values, as skimage does (one
    histogram bin per integer level): a float copy would be binned in 256 bins whose
    centres fall between the levels of a dim image (values 0..12: Otsu 0.996 instead of
    1, so every pixel of value 1 would be foreground). Integer images spanning more than
    :data:`MAX_INTEGER_LEVELS` levels, and float images, use skimage's 256-bin histogram
    of their values as float32.
    """
    from skimage import filters

    funcs = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "triangle": filters.threshold_triangle}
    values = _values(plane)
    if values.dtype.kind in "iu" and int(values.max()) - int(values.min()) > MAX_INTEGER_LEVELS:
        values = values.astype(np.float32)
    return float(funcs[method](values))


def threshold_plane(plane: np.ndarray, config: ThresholdConfig, /) -> np.ndarray:
    """Labels (uint16) of one 2-D plane.

    A pixel is foreground when its value (as stored, for an integer image) is strictly
    above the threshold (below it with ``dark_objects``): the fixed one, or the method's
    (:func:`plane_threshold`).
    """
    from scipy import ndimage as ndi

    from labelfree.labels import declump, fill_holes, relabel_sequential, remove_small_objects

    values = _values(plane)
    if values.min() == values.max():
        return np.zeros(values.shape, np.uint16)
    thr = float(config.threshold) if config.threshold is not None else plane_threshold(values, method=config.method)
    mask = values < thr if config.dark_objects else values > thr
    if config.fill_holes:
        mask = fill_holes(mask)
    mask = remove_small_objects(mask, min_size=config.min_size)
    labels = declump(mask) if config.split_touching else ndi.label(mask)[0]
    return relabel_sequential(labels)


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
    image : DataArray or array, dims from T, Z, Y, X (2-D arrays are YX)
        One channel of a fluorescence-like image (select it with
        :func:`labelfree.image.select_channel`); planes (each T and Z) are thresholded
        separately.
    config : ThresholdConfig, dict, path or None
    progress : bool or tqdm-like or callable

    Returns
    -------
    labels : DataArray with the image's dims (uint16), ids unique per plane.
    """
    cfg = ThresholdConfig.coerce(config)
    da = validate_image(image, allowed=("T", "Z", "Y", "X"), name="image")
    lead = [d for d in da.dims if d not in ("Y", "X")]
    values = np.asarray(da.transpose(*lead, "Y", "X").data)
    planes = values.reshape((-1,) + values.shape[-2:])
    out = np.zeros(planes.shape, np.uint32)
    with Progress(progress, total=len(planes), desc="threshold") as bar:
        for i, plane in enumerate(planes):
            out[i] = threshold_plane(plane, cfg)
            bar.update(message=f"plane {i + 1}/{len(planes)}")
    labels = out.reshape(values.shape)
    return labels_like(labels, da, dims=tuple(lead) + ("Y", "X"), attrs={"labelfree": provenance("threshold", cfg)})


def whole_plane_config(plane: Any, config: ThresholdConfig, /) -> ThresholdConfig:
    """The config with the whole plane's automatic threshold fixed, for segmenting it in tiles.

    Each tile alone would find its own threshold; the plane's is the one a whole-plane
    run uses: float planes through :func:`labelfree.tiling.auto_threshold`, integer
    planes on their integer values as :func:`plane_threshold` takes them, both from a
    regular subsample of at most 16 Mpx (read lazily).
    """
    from labelfree.tiling import auto_threshold

    cfg = ThresholdConfig.coerce(config)
    if cfg.threshold is not None:
        return cfg
    data = plane.data if isinstance(plane, xr.DataArray) else plane
    if np.dtype(data.dtype).kind not in "biu" or len(data.shape) != 2:
        return cfg.replace(threshold=auto_threshold(plane, method=cfg.method))
    step = max(1, math.ceil(math.sqrt(data.shape[0] * data.shape[1] / 16_000_000)))
    sample = data[::step, ::step]
    sample = sample.compute() if hasattr(sample, "compute") else np.asarray(sample)
    return cfg.replace(threshold=plane_threshold(sample, method=cfg.method))
