"""Channel selection: the powerset search over training x evaluation channel subsets.

For every training subset ``T`` with a model (trained on the channels of ``T``; ``"CW"``
stands for the channel-wise models, each channel with its own) and every non-empty
evaluation subset ``E``, segment the validation images by fusing the channels of ``E``
and score them. The best pair by F1 at IoU 0.5 is returned with the whole table.
Each (model, channel, image) network pass is run once and reused across subsets.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from labelfree._progress import Progress
from labelfree.errors import InputError
from labelfree.fusion.config import FusionConfig
from labelfree.fusion.evaluation import METRICS, score_predictions
from labelfree.fusion.flows import common_diameter, default_niter, flow_average, integrate_flows, predict_flows

__all__ = ["CHANNELWISE", "powerset", "select_channels"]

log = logging.getLogger(__name__)

#: training-subset key of the channel-wise models (one per channel)
CHANNELWISE = "CW"


def powerset(items: Iterable[str], /) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``items``, smallest first, in the items' order."""
    items = list(items)
    return [c for r in range(1, len(items) + 1) for c in itertools.combinations(items, r)]


def _model_for(models: Mapping[Any, Any], train: Any, channel: str) -> Any:
    if train == CHANNELWISE:
        return models[(channel,)]
    return models[train]


def select_channels(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    /,
    *,
    models: Mapping[tuple[str, ...], Any],
    channels: Sequence[str],
    config: FusionConfig | dict[str, Any] | None = None,
    progress: Any = False,
) -> tuple[dict[str, Any], Any]:
    """Search training subset x evaluation subset for the best validation F1.

    Parameters
    ----------
    images : sequence of (C, Y, X) arrays
        Validation images; channel ``k`` is named ``channels[k]``.
    labels : sequence of (Y, X) instance labels
    models : mapping training-channel tuple -> CellposeNet
        The trained models (keys are tuples of channel names). When every single channel
        has a model, the channel-wise combination ``"CW"`` is searched too.
    channels : sequence of str
        Names of the image channels, in order.
    config : FusionConfig, dict or None
        Diameter and thresholds (the fusion rule is Flow Averaging).
    progress : bool, tqdm-like or callable

    Returns
    -------
    best : dict (``train``, ``evaluate`` and the metrics of the best row)
    table : pandas.DataFrame, one row per (train, evaluate) pair, best F1 first
    """
    import pandas as pd

    cfg = FusionConfig.coerce(config)
    channels = [str(c) for c in channels]
    models = {tuple(str(c) for c in k): m for k, m in models.items()}
    if not models:
        raise InputError("select_channels needs at least one trained model.")
    if any(np.asarray(img).shape[0] != len(channels) for img in images):
        raise InputError(f"Every image must have {len(channels)} channels first ({channels}).")
    trains: list[Any] = list(models)
    if all((c,) in models for c in channels) and len(channels) > 1:
        trains.append(CHANNELWISE)
    evals = powerset(channels)
    all_models = list(models.values())
    diameter = common_diameter(all_models, diameter=cfg.diameter)
    niter = cfg.niter or default_niter(all_models, diameter=diameter)
    device = getattr(all_models[0], "device", None)  # flow integration runs where the models are
    cache: dict[tuple[int, int, str], tuple[np.ndarray, np.ndarray]] = {}

    def flows(model: Any, k: int, c: str) -> tuple[np.ndarray, np.ndarray]:
        key = (id(model), k, c)
        if key not in cache:
            cache[key] = predict_flows(model, np.asarray(images[k])[channels.index(c)], diameter=diameter,
                                       batch_size=cfg.batch_size)
        return cache[key]

    rows = []
    with Progress(progress, total=len(trains) * len(evals), desc="selection") as bar:
        for train in trains:
            for ev in evals:
                preds = [
                    integrate_flows(*flow_average([flows(_model_for(models, train, c), k, c) for c in ev],
                                                  space=cfg.average_space),
                                    niter=niter, cellprob_threshold=cfg.cellprob_threshold,
                                    flow_threshold=cfg.flow_threshold, min_size=cfg.min_size, device=device)
                    for k in range(len(images))
                ]
                name = train if train == CHANNELWISE else "+".join(train)
                rows.append({"train": name, "evaluate": "+".join(ev), **score_predictions(preds, list(labels))})
                bar.update(message=f"train {name}, evaluate {'+'.join(ev)}")
    table = pd.DataFrame(rows).sort_values(["f1", "average_precision"], ascending=False, kind="stable")
    table = table[["train", "evaluate", *METRICS, "tp", "fp", "fn"]].reset_index(drop=True)
    best = table.iloc[0].to_dict()
    log.info("best: train %s, evaluate %s, F1 %.3f", best["train"], best["evaluate"], best["f1"])
    return best, table
