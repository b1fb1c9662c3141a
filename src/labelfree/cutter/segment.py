"""``labelfree.cutter.segment``: the whole Cutter pipeline on one image or a time-lapse."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import xarray as xr

from labelfree._config import provenance
from labelfree.cutter.config import CutterConfig
from labelfree.cutter.integrate import integrate_patches
from labelfree.cutter.prepare import Frame, prepare_frame
from labelfree.cutter.refine import refine_labels
from labelfree.errors import InputError
from labelfree.image import labels_like, validate_image

__all__ = ["segment", "fit", "prepare_frames", "apply_model"]

log = logging.getLogger(__name__)

#: config fields fixed by a trained model (how its patches are built)
_MODEL_FIELDS = ("downscale", "crop_size", "marker_sigma", "width")


def _per_frame(value: Any, n: int, t: int, name: str, stacked: bool) -> Any:
    """Pick frame ``t`` of a per-frame input (list, or array with a leading T axis)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and stacked:
        if len(value) != n:
            raise InputError(f"{name} lists {len(value)} entries for {n} frames; give one per frame.")
        return value[t]
    if isinstance(value, xr.DataArray):
        value = value.values
    arr = np.asarray(value)
    if stacked and arr.ndim == 3:
        return arr[t]
    return arr


def prepare_frames(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | None = None,
    mask: Any = None,
    scribbles: Any = None,
) -> tuple[xr.DataArray, list[Frame]]:
    """Validate the image and prepare every frame (markers, mask, patches)."""
    cfg = CutterConfig.coerce(config)
    da = validate_image(image, required=("Y", "X"), allowed=("T", "C", "Y", "X"), name="Cutter input")
    stacked = "T" in da.dims
    n = da.sizes["T"] if stacked else 1
    frames = []
    for t in range(n):
        frame = da.isel(T=t) if stacked else da
        frames.append(
            prepare_frame(
                frame, cfg,
                markers=markers if not isinstance(markers, (list, tuple)) else _per_frame(markers, n, t, "markers", stacked),
                mask=_per_frame(mask, n, t, "mask", stacked),
                scribbles=_per_frame(scribbles, n, t, "scribbles", stacked),
                t=t if stacked else None,
            )
        )
    return da, frames


def fit(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | None = None,
    progress: Any = False,
    mask: Any = None,
    scribbles: Any = None,
):
    """Train a Cutter model on an image (YX, CYX, TYX or TCYX) and its markers.

    Every frame of a time-lapse is a training frame (each step draws one).
    See :func:`segment` for the inputs. Returns a
    :class:`labelfree.cutter.train.CutterModel` (save it with ``.save(path)``).
    """
    from labelfree.cutter.train import train_cutter

    cfg = CutterConfig.coerce(config)
    _, frames = prepare_frames(image, markers=markers, config=cfg, mask=mask, scribbles=scribbles)
    return train_cutter([f.patch_set for f in frames], config=cfg, progress=progress)


def apply_model(
    model, frames: list[Frame], /, *, threshold: float | None = None, config: CutterConfig | None = None
) -> np.ndarray:
    """Label images (T, Y, X) of prepared frames with a trained model.

    ``config`` (default: the model's) chooses the clean-up steps of
    :func:`labelfree.cutter.refine.refine_labels`.
    """
    from labelfree.cutter.train import predict_patches

    cfg = model.config if config is None else config
    thr = cfg.probability_threshold if threshold is None else threshold
    out = []
    for f in frames:
        probs = predict_patches(model, f.patch_set)
        labels = integrate_patches(probs, f.patch_set.corners, shape=f.shape, ids=f.ids, threshold=thr, upscale=f.downscale)
        keep = cfg.keep_marker_component and f.markers is not None
        out.append(refine_labels(
            labels, mask=f.mask if cfg.restrict_to_mask else None, markers=f.markers if keep else None,
            ids=f.ids if keep else None, fill=cfg.fill_cell_holes,
            grow_mask=f.mask if cfg.grow_into_mask != "none" else None,
            grow_intensity=f.signal if cfg.grow_into_mask == "intensity" else None,
        ))
    return np.stack(out)


def _check_model_target(cfg: CutterConfig, image: Any, markers: Any) -> None:
    """Refuse a ``save_model_file`` that is one of the inputs seen here, or cannot be written."""
    from labelfree.io import check_output_file

    inputs = {"image": getattr(image, "attrs", {}).get("source"), "model": cfg.model_file or None}
    if isinstance(markers, (str, os.PathLike)):
        inputs["markers"] = markers
    for what, path in cfg.output_files().items():
        check_output_file(path, inputs=inputs, overwrite=True, what=what)


def segment(
    image: Any,
    /,
    *,
    markers: Any = None,
    config: CutterConfig | dict | str | None = None,
    progress: Any = False,
    mask: Any = None,
    scribbles: Any = None,
    model: Any = None,
) -> xr.DataArray:
    """Segment whole cells with the unsupervised marker-controlled Cutter CNN.

    Parameters
    ----------
    image : xarray.DataArray or ndarray
        Dims YX, CYX, TYX or TCYX (plain arrays: YX only). Cell channels and the
        nucleus channel are chosen by ``config``.
    markers : optional
        One marker per cell: (N, 2) array of (y, x) pixels; (N, 3) (t, y, x) for a
        time-lapse; a (Y, X) / (T, Y, X) label image (centroids; output labels keep
        its ids); a list with one entry per frame; or None to detect nuclei in
        ``config.nucleus_channel``.
    config : CutterConfig, dict, JSON/YAML path or None
    progress : bool, tqdm-like or callable
        Training progress; cancelling raises :class:`labelfree.errors.Cancelled`.
    mask : ndarray of bool, (Y, X) or (T, Y, X), optional
        Foreground mask to use instead of the graph cut.
    scribbles : ndarray of int, (Y, X) or (T, Y, X), optional
        Bright-field: 1 = background, 2 = cell strokes for the pixel classifier.
    model : CutterModel or path, optional
        Apply this trained model (no training); also ``config.model_file``.

    Returns
    -------
    xarray.DataArray
        Labels (Y, X) or (T, Y, X), uint16, 0 = background, same coords as the image,
        provenance in ``attrs["labelfree"]``.
    """
    from labelfree.cutter.model_io import load_model
    from labelfree.cutter.train import CutterModel, train_cutter

    cfg = CutterConfig.coerce(config)
    model_file = None
    if model is None and cfg.model_file:
        model = cfg.model_file
    if model is None and cfg.save_model_file:  # checked before training: never an input, in a writable folder
        _check_model_target(cfg, image, markers)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        model_file = os.fsdecode(model)
        model = load_model(model_file, device=cfg.device)
    if model is not None and not isinstance(model, CutterModel):
        raise InputError(
            f"model must be a trained Cutter model (from labelfree.cutter.fit) or the path of a saved one; got "
            f"{type(model).__name__}."
        )
    if model is not None:  # patches must be cut as the model was trained
        cfg = cfg.replace(**{k: getattr(model.config, k) for k in _MODEL_FIELDS})
    da, frames = prepare_frames(image, markers=markers, config=cfg, mask=mask, scribbles=scribbles)
    if model is None:
        model = train_cutter([f.patch_set for f in frames], config=cfg, progress=progress)
        if cfg.save_model_file:
            model.save(cfg.save_model_file)
            model_file = cfg.save_model_file
    labels = apply_model(model, frames, threshold=cfg.probability_threshold, config=cfg)
    dims = ("T", "Y", "X") if "T" in da.dims else ("Y", "X")
    labels = labels if "T" in da.dims else labels[0]
    extra = {"n_markers": [int(len(f.ids)) for f in frames], "training_steps": len(model.history)}
    return labels_like(labels, da, dims=dims, attrs={"labelfree": provenance("cutter", cfg, model_file=model_file, extra=extra)})
