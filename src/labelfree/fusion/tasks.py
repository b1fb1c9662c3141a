"""Evaluation tasks built on the pipeline: validation scores of a model, the fusion comparison table.

:func:`compare_fusions` produces the paper's Table 4 layout: F1 (and the other metrics) of
every single channel, of Flow Averaging and of every baseline, on images with ground truth.
Each channel's network runs once per image; every method reuses those outputs. The object
diameter is chosen as :func:`labelfree.fusion.segment` chooses it (measured on the images with
the models compared when the config gives none), one diameter for every row.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from labelfree._progress import Progress
from labelfree.errors import InputError
from labelfree.fusion.baselines import BASELINES, fuse_instances
from labelfree.fusion.config import FusionConfig
from labelfree.fusion.diameter import DiameterChoice, choose_diameter
from labelfree.fusion.evaluation import metrics_table, score_predictions
from labelfree.fusion.flows import common_diameter, default_niter, flow_average, integrate_flows, predict_flows

__all__ = ["validation_scores", "compare_fusions", "measure_diameter", "DIAMETER_SOURCES"]

log = logging.getLogger(__name__)

#: how each :attr:`DiameterChoice.source` reads in messages
DIAMETER_SOURCES = {"given": "given", "search": "measured on the images",
                    "training": "the models' training diameter: no objects found at any diameter tried"}


def measure_diameter(arrays: Sequence[np.ndarray], names: Sequence[str], models: Mapping[str, Any], /, *,
                     config: FusionConfig) -> DiameterChoice:
    """The one diameter of an evaluation on ``arrays`` (each (C, Y, X), channels ``names``), chosen as
    :func:`labelfree.fusion.segment` chooses it: ``config.diameter`` when > 0, else measured on the
    images with ``models`` (channel -> CellposeNet), their channels fused by Flow Averaging."""
    frames = [{c: np.asarray(a)[list(names).index(c)] for c in models} for a in arrays]
    choice = choose_diameter(frames, models, config=config)
    log.info("fusion: object diameter %.2f px (%s)", choice.diameter, DIAMETER_SOURCES[choice.source])
    return choice


def validation_scores(
    model: Any, images: Sequence[Any], labels: Sequence[np.ndarray], /, *, channels: Sequence[str],
    config: FusionConfig | None = None,
) -> dict[str, float]:
    """Scores of one model on validation images, each of its channels segmented alone.

    Parameters
    ----------
    model : CellposeNet
    images : sequence of (C, Y, X) arrays or DataArrays
    labels : sequence of (Y, X) instance labels
    channels : channel names (or indices) the model is run on; every (image, channel) is a sample

    Returns
    -------
    dict of the paper's metrics (see :func:`labelfree.fusion.evaluation.score_predictions`).
    """
    from labelfree.fusion.finetune import _channel_index, as_channel_images

    cfg = config or FusionConfig()
    arrays, names = as_channel_images(images)
    diameter = common_diameter([model], diameter=cfg.diameter)
    niter = cfg.niter or default_niter([model], diameter=diameter)
    preds, gts = [], []
    for img, lab in zip(arrays, labels):
        for c in channels:
            flows = predict_flows(model, img[_channel_index(names, c)], diameter=diameter, batch_size=cfg.batch_size)
            preds.append(integrate_flows(*flows, niter=niter, cellprob_threshold=cfg.cellprob_threshold,
                                         flow_threshold=cfg.flow_threshold, min_size=cfg.min_size,
                                         device=getattr(model, "device", None)))
            gts.append(np.asarray(lab))
    return {k: float(v) for k, v in score_predictions(preds, gts).items()}


def _check_labels(images: Sequence[Any], labels: Sequence[Any], /, *,
                  paths: Sequence[tuple[Any, Any]] | None = None) -> None:
    """One (Y, X) label image of its image's size per image; ``paths``: the (label file, image file) of each,
    named in the message."""
    if len(labels) != len(images):
        raise InputError(f"{len(images)} images but {len(labels)} label images; give one label image per image.")
    for k, (img, lab) in enumerate(zip(images, labels)):
        if tuple(np.shape(lab)) != tuple(np.shape(img)[-2:]):
            label, image = (f"The label image {paths[k][0]}", f"its image {paths[k][1]}") if paths else \
                (f"Label image {k}", f"image {k}")
            raise InputError(f"{label} has shape {tuple(np.shape(lab))}, but {image} is {np.shape(img)[-2]} x "
                             f"{np.shape(img)[-1]} pixels (Y, X); give each image a (Y, X) label image of its size"
                             f"{', in the order of the images' if paths else ''}.")


def compare_fusions(
    images: Sequence[Any],
    labels: Sequence[np.ndarray],
    /,
    *,
    models: Mapping[str, Any] | None = None,
    zoo: Any = None,
    channels: Sequence[str | int] | None = None,
    config: FusionConfig | dict[str, Any] | None = None,
    methods: Sequence[str] = ("flow_average", *BASELINES),
    device: str = "auto",
    progress: Any = False,
) -> Any:
    """Metrics of each single channel, of Flow Averaging and of each baseline (one table).

    Parameters
    ----------
    images : sequence of (C, Y, X) arrays or DataArrays
    labels : sequence of (Y, X) ground-truth instance labels
    models : mapping channel -> CellposeNet, optional (else picked from ``zoo``)
    zoo : ModelZoo or path, optional
    channels : channels to fuse (default ``config.channels`` or all)
    config : FusionConfig, dict or None
    methods : fusion rules to score besides the single channels
    device : {"auto", "cpu", "cuda"}
        Where the models picked from ``zoo`` run (given models run where they are).
    progress : bool, tqdm-like or callable
        One step per image scored (see :mod:`labelfree._progress`).

    Returns
    -------
    pandas.DataFrame indexed by method (``channel <name>``, ``flow_average``, baselines).
        Every row is scored at one diameter: ``config.diameter`` when > 0, else measured on
        the images with the models compared, as :func:`labelfree.fusion.segment` measures it;
        ``table.attrs["labelfree"]`` records it (``diameter``, ``diameter_source``: given,
        search or training).
    """
    from labelfree.fusion.channels import EVAL_COMMAND
    from labelfree.fusion.finetune import as_channel_images
    from labelfree.fusion.segment import _resolve_channels, choose_models

    cfg = FusionConfig.coerce(config)
    arrays, names = as_channel_images(images)
    chans = _resolve_channels(names, channels if channels else (cfg.channels or names))
    _check_labels(arrays, labels)  # before any network runs
    if models is None:
        models = {c: m for c, (m, _) in choose_models(zoo, chans, config=cfg, device=device, image_channels=names,
                                                      command=EVAL_COMMAND).items()}
    missing = [c for c in chans if c not in models]
    if missing:
        raise InputError(f"No model given for channel(s) {missing}; models were given for {sorted(models)}.")
    nets = [models[c] for c in chans]
    choice = measure_diameter(arrays, names, {c: models[c] for c in chans}, config=cfg)
    diameter = choice.diameter
    kw = dict(niter=cfg.niter or default_niter(nets, diameter=diameter), cellprob_threshold=cfg.cellprob_threshold,
              flow_threshold=cfg.flow_threshold, min_size=cfg.min_size, device=getattr(nets[0], "device", None))
    results: dict[str, list[np.ndarray]] = {f"channel {c}": [] for c in chans}
    results.update({m: [] for m in methods})
    with Progress(progress, total=len(arrays), desc="evaluation") as bar:
        for k, img in enumerate(arrays):
            known = choice.flows.get(k)  # the search's outputs at the chosen diameter, in the order of chans
            flows = {c: known[j] if known else predict_flows(models[c], img[names.index(c)], diameter=diameter,
                                                             batch_size=cfg.batch_size)
                     for j, c in enumerate(chans)}
            singles = {c: integrate_flows(*flows[c], **kw) for c in chans}
            for c in chans:
                results[f"channel {c}"].append(singles[c])
            for m in methods:
                if m == "flow_average":
                    fused = integrate_flows(*flow_average(list(flows.values()), space=cfg.average_space), **kw)
                else:
                    fused = fuse_instances(list(singles.values()), method=m, min_iou=cfg.min_iou, min_size=cfg.min_size)
                results[m].append(fused)
            bar.update(message=f"image {k + 1} of {len(arrays)}")
    table = metrics_table(results, [np.asarray(lab) for lab in labels])
    table.attrs["labelfree"] = {"diameter": round(float(diameter), 3), "diameter_source": choice.source}
    return table
