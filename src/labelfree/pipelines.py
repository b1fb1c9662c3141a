"""Registry of segmentation pipelines, and the built-in "threshold" pipeline.

The CLI, batch runs and the Fiji commands find pipelines here by name. Each entry names
a module exposing ``segment(image, /, *, config=None, progress=False, ...)`` and a config
dataclass; modules are imported only when a pipeline is asked for.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Literal

import numpy as np
import xarray as xr

from labelfree._config import PipelineConfig, provenance
from labelfree._progress import Progress
from labelfree.errors import InputError
from labelfree.image import labels_like, select_channel, validate_image

__all__ = ["PIPELINES", "Pipeline", "get_pipeline", "ThresholdConfig", "threshold_segment"]

#: name -> (module, config class name, one-line description)
PIPELINES: dict[str, tuple[str, str, str]] = {
    "threshold": ("labelfree.pipelines", "ThresholdConfig", "Global threshold + connected components (baseline)"),
    "motion": ("labelfree.motion", "MotionConfig", "Self-supervised time-lapse segmentation from optical flow"),
    "cutter": ("labelfree.cutter", "CutterConfig", "Unsupervised marker-controlled CNN (one patch per marker)"),
    "fusion": ("labelfree.fusion", "FusionConfig", "Cellpose per fluorescence channel, fused by flow averaging"),
}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """A pipeline found in the registry."""

    name: str
    segment: Callable[..., xr.DataArray]
    config_class: type[PipelineConfig]
    description: str


def get_pipeline(name: str, /) -> Pipeline:
    """Look a pipeline up by name (imports its module)."""
    key = str(name).lower()
    if key not in PIPELINES:
        raise InputError(f"Unknown pipeline {name!r}; choose one of: {', '.join(PIPELINES)}.")
    module_name, config_name, description = PIPELINES[key]
    module = importlib.import_module(module_name)
    segment = module.threshold_segment if key == "threshold" else module.segment
    return Pipeline(key, segment, getattr(module, config_name), description)


@dataclasses.dataclass
class ThresholdConfig(PipelineConfig):
    """Options of the built-in threshold pipeline.

    Attributes
    ----------
    method : {"otsu", "li", "triangle"}
        Automatic threshold, computed per plane (per frame of a time-lapse).
    channel : int
        Channel to segment when the image has a C axis (0-based).
    dark_objects : bool
        Objects are darker than the background (e.g. phase contrast).
    min_size : int
        Objects smaller than this many pixels are removed.
    fill_holes : bool
        Fill holes inside objects.
    split_touching : bool
        Split touching objects by distance-transform watershed.
    threshold : float or None
        Fixed intensity threshold for every plane; None: the automatic ``method``. Give the
        whole image's value when the image is segmented in tiles (one threshold for all).
    """

    method: Literal["otsu", "li", "triangle"] = "otsu"
    channel: int = 0
    dark_objects: bool = False
    min_size: int = 20
    fill_holes: bool = True
    split_touching: bool = False
    threshold: float | None = None

    def __post_init__(self) -> None:
        self._check_choices()
        if self.min_size < 0:
            raise InputError(f"min_size must be >= 0; got {self.min_size}.")


def _threshold_plane(plane: np.ndarray, cfg: ThresholdConfig) -> np.ndarray:
    from scipy import ndimage as ndi
    from skimage import filters

    from labelfree.labels import declump, fill_holes, relabel_sequential, remove_small_objects

    plane = plane.astype(np.float32, copy=False)
    if plane.min() == plane.max():
        return np.zeros(plane.shape, np.uint16)
    if cfg.threshold is not None:
        thr = float(cfg.threshold)
    else:
        thr = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "triangle": filters.threshold_triangle}[
            cfg.method
        ](plane)
    mask = plane < thr if cfg.dark_objects else plane > thr
    if cfg.fill_holes:
        mask = fill_holes(mask)
    mask = remove_small_objects(mask, min_size=cfg.min_size)
    labels = declump(mask) if cfg.split_touching else ndi.label(mask)[0]
    return relabel_sequential(labels)


def threshold_segment(
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
        Fluorescence-like image; planes (each T and Z) are thresholded separately.
    config : ThresholdConfig, dict, path or None
    progress : bool or tqdm-like or callable

    Returns
    -------
    labels : DataArray with the image's dims except C (uint16), ids unique per plane.
    """
    cfg = ThresholdConfig.coerce(config)
    da = validate_image(image, name="image")
    if "C" in da.dims:
        da = select_channel(da, cfg.channel)
    lead = [d for d in da.dims if d not in ("Y", "X")]
    values = np.asarray(da.transpose(*lead, "Y", "X").data)
    planes = values.reshape((-1,) + values.shape[-2:])
    out = np.zeros(planes.shape, np.uint32)
    with Progress(progress, total=len(planes), desc="threshold") as bar:
        for i, plane in enumerate(planes):
            out[i] = _threshold_plane(plane, cfg)
            bar.update(message=f"plane {i + 1}/{len(planes)}")
    labels = out.reshape(values.shape)
    return labels_like(labels, da, dims=tuple(lead) + ("Y", "X"), attrs={"labelfree": provenance("threshold", cfg)})
