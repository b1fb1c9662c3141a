"""Running a registered pipeline as every entry point does (CLI, batch, Fiji, Python).

:func:`run_pipeline` takes a pipeline name or spec, an image, the pipeline's config,
the channel choice and the extra inputs (markers, zoo, ...), checks them all before
the work starts, runs the segmentation and records the choices in the provenance.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import xarray as xr

from labelfree.errors import InputError
from labelfree.image import channel_names, one_channel, select_channels, to_dataarray
from labelfree.spec import PipelineSpec

__all__ = ["prepare_image", "prepare_inputs", "coerce_config", "run_pipeline", "resolve"]

log = logging.getLogger(__name__)


def resolve(pipeline: str | PipelineSpec, /) -> PipelineSpec:
    """The spec of a pipeline given by name or spec."""
    if isinstance(pipeline, PipelineSpec):
        return pipeline
    from labelfree.pipelines import get_pipeline

    return get_pipeline(pipeline)


def prepare_image(pipeline: str | PipelineSpec, image: Any, /, *, channel: Any = None) -> xr.DataArray:
    """The image as the pipeline takes it: one channel, or the chosen channels.

    Parameters
    ----------
    pipeline : name or PipelineSpec
    image : DataArray or array
    channel : index, name, list of them, or None
        One-channel pipelines: the channel to segment (needed when the image has several).
        Many-channel pipelines: the channels to hand over (None: all).
    """
    spec = resolve(pipeline)
    da = to_dataarray(image)
    if spec.channels == "one":
        if isinstance(channel, (list, tuple)):
            if len(channel) != 1:
                raise InputError(f"{spec.title} segments one channel; got {len(channel)} channels {list(channel)}.")
            channel = channel[0]
        return one_channel(da, channel, what=spec.title)
    return select_channels(da, channel)


def prepare_inputs(pipeline: str | PipelineSpec, inputs: Mapping[str, Any] | None, /, *, image: Any = None) -> dict[str, Any]:
    """Read the extra inputs (files are read by the spec's readers); unknown names are an InputError."""
    spec = resolve(pipeline)
    given = {k: v for k, v in (inputs or {}).items() if v is not None and not (isinstance(v, str) and not v)}
    unknown = sorted(k for k in given if spec.input(k) is None)
    if unknown:
        known = ", ".join(i.name for i in spec.inputs) or "none"
        raise InputError(f"The {spec.name} pipeline takes no {' or '.join(unknown)} (its extra inputs: {known}).")
    out = {}
    for name, value in given.items():
        inp = spec.input(name)
        read = inp.read(value, image=image)
        if read is not None:
            out[inp.name] = read
    return out


def coerce_config(pipeline: str | PipelineSpec, config: Any = None, /, *, changes: Mapping[str, Any] | None = None) -> Any:
    """The pipeline's config from an object, dict, file or None, with ``changes`` applied (all validated)."""
    spec = resolve(pipeline)
    cfg = spec.config_class.coerce(config)
    return cfg.replace(**dict(changes)) if changes else cfg


def run_pipeline(
    pipeline: str | PipelineSpec,
    image: Any,
    /,
    *,
    config: Any = None,
    channel: Any = None,
    inputs: Mapping[str, Any] | None = None,
    progress: Any = False,
) -> xr.DataArray:
    """Run a registered pipeline on ``image`` with every check an entry point makes.

    Parameters
    ----------
    pipeline : name or PipelineSpec
    image : DataArray or array
        Dims from T, C, Z, Y, X (see :func:`labelfree.io.read_image`).
    config : config object, dict, JSON/YAML path or None
    channel : see :func:`prepare_image`
    inputs : mapping
        Extra inputs by name (``markers``, ``zoo``, ...): values or files to read.
    progress : bool, tqdm-like or callable

    Returns
    -------
    labels : DataArray; ``attrs["labelfree"]`` holds the provenance, with ``channels``
        (the channels segmented) added.
    """
    spec = resolve(pipeline)
    cfg = coerce_config(spec, config)
    full = to_dataarray(image)
    da = prepare_image(spec, full, channel=channel)
    kwargs = prepare_inputs(spec, inputs, image=da)
    labels = spec.segment_function(da, config=cfg, progress=progress, **kwargs)
    used = channel_names(da) or ([str(da.coords["C"].values)] if "C" in da.coords else [])
    record = dict(labels.attrs.get("labelfree") or {})
    if channel_names(full):
        record["channels"] = used
    labels.attrs["labelfree"] = record
    return labels
