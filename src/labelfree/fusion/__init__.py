"""Fusion: cellpose fine-tuned per fluorescence channel, fused by Flow Averaging (Zyss et al. 2023).

Fine-tune a cellpose model per channel (channel-wise) or on a channel subset (multi-channel),
keep the models in a zoo, pick the channel combination on validation images, and segment by
averaging the models' flows and cell probabilities before one flow integration. Baselines
(STAPLE, SIMPLE, pixel and majority voting) fuse instance segmentations after matching objects.
torch and cellpose are imported only when a model is built, trained or run.
"""

from labelfree.fusion.baselines import BASELINES, fuse_instances, match_instances, simple_fusion
from labelfree.fusion.config import FinetuneConfig, FusionConfig
from labelfree.fusion.evaluation import cross_validate, kfold_splits, metrics_table, score_predictions
from labelfree.fusion.finetune import FinetuneResult, finetune, finetune_channelwise, finetune_multichannel
from labelfree.fusion.flows import flow_average, integrate_flows, predict_flows
from labelfree.fusion.models import CellposeNet, load_model, new_model, resolve_starting_model, save_model
from labelfree.fusion.segment import BlankChannelWarning, NoObjectsWarning, fuse_channels, segment
from labelfree.fusion.selection import powerset, select_channels
from labelfree.fusion.zoo import ModelZoo

__all__ = [
    "BlankChannelWarning",
    "NoObjectsWarning",
    "FusionConfig",
    "FinetuneConfig",
    "segment",
    "fuse_channels",
    "finetune",
    "finetune_channelwise",
    "finetune_multichannel",
    "FinetuneResult",
    "predict_flows",
    "flow_average",
    "integrate_flows",
    "BASELINES",
    "fuse_instances",
    "match_instances",
    "simple_fusion",
    "ModelZoo",
    "CellposeNet",
    "new_model",
    "load_model",
    "save_model",
    "resolve_starting_model",
    "powerset",
    "select_channels",
    "metrics_table",
    "score_predictions",
    "kfold_splits",
    "cross_validate",
]
