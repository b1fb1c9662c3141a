"""Configuration of the Fusion pipeline: inference/fusion options and fine-tuning options.

:class:`FusionConfig` drives :func:`labelfree.fusion.segment` (and the Fiji command
"LabelFree Fusion", whose dialog is generated from its fields: keep them snake_case and
of simple types). :class:`FinetuneConfig` drives :func:`labelfree.fusion.finetune`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from labelfree._config import PipelineConfig, setting
from labelfree.errors import ConfigError

__all__ = ["FusionConfig", "FinetuneConfig", "FUSION_METHODS", "OBJECTS"]

#: fusion rules understood by :func:`labelfree.fusion.segment`
FUSION_METHODS = ("flow_average", "staple", "simple", "pixel_vote", "majority_vote", "none")
#: object kinds a zoo model can be trained for
OBJECTS = ("nuclei", "cyto")


_MODELS = "models"
_FUSION = "fusion"
_FLOWS = "flow integration"
_TRAIN = "training"
_RUN = "run"


@dataclasses.dataclass
class FusionConfig(PipelineConfig):
    """Options of the Fusion pipeline at inference time (docs/options.md lists them).

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(FusionConfig)``, ``labelfree options fusion`` in a shell).
    """

    object: Literal["nuclei", "cyto"] = setting(
        "cyto", group=_MODELS, basic=True,
        help="What the zoo models were trained to segment; used to pick models from the zoo.")
    cell_line: str = setting("", group=_MODELS, basic=True, help="Cell line of the zoo models to use (empty = any).")
    channels: tuple[str, ...] = setting(
        (), group=_FUSION, basic=True,
        help="Channels of the image to fuse (names, or indices written as text); empty = every channel.")
    fusion: Literal["flow_average", "staple", "simple", "pixel_vote", "majority_vote", "none"] = setting(
        "flow_average", group=_FUSION, basic=True,
        help="How the per-channel results are combined: flow_average (average the flows and cell probabilities, "
             "integrate once: the paper's method) or a baseline that fuses per-channel segmentations; none needs "
             "exactly one channel.")
    average_space: Literal["logits", "probabilities"] = setting(
        "logits", group=_FUSION,
        help="Average the cell probability as network logits or as sigmoid probabilities.")
    diameter: float = setting(
        0.0, group=_FLOWS, basic=True, ge=0,
        help="Typical object diameter in pixels of the input image; 0 = automatic: measured on the image by running "
             "the models at several diameters (validation and channel selection use the models' training diameter). "
             "One value for every channel, so their flows align.")
    flow_threshold: float = setting(0.4, group=_FLOWS, ge=0,
                                    help="Cellpose flow-error threshold for discarding masks (0 keeps every mask).")
    cellprob_threshold: float = setting(0.0, group=_FLOWS,
                                        help="Cell-probability logit above which a pixel takes part in flow integration.")
    min_size: int = setting(15, group=_FLOWS, ge=0, help="Objects smaller than this many pixels are removed.")
    niter: int = setting(0, group=_FLOWS, ge=0,
                         help="Flow-integration steps; 0 = 200 x diameter / model diameter (cellpose's rule).")
    min_iou: float = setting(0.5, group=_FUSION, gt=0, le=1,
                             help="IoU at which objects of different channels count as the same object (baselines).")
    batch_size: int = setting(
        0, group=_RUN, ge=0,
        help="Tiles per network batch; 0 = automatic: 8 on a GPU, 1 on the CPU (faster there, and a quarter of the "
             "memory of 8 with cellpose's network widths).")

    #: former settings that are arguments of :func:`labelfree.fusion.segment` now
    moved_keys = {"device": "pass --device (CLI), device= (macro) or segment(device=...)"}

    def __post_init__(self) -> None:
        if isinstance(self.channels, (str, int)):
            self.channels = (self.channels,)
        self.channels = tuple(str(c) for c in self.channels) if isinstance(self.channels, (list, tuple)) else self.channels
        super().__post_init__()


@dataclasses.dataclass
class FinetuneConfig(PipelineConfig):
    """Options of fine-tuning (or training from scratch) one Cellpose model.

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(FinetuneConfig)``).
    """

    starting_model: str = setting(
        "scratch", group=_TRAIN,
        help="Weights to start from: a file path, a built-in cellpose name found in $CELLPOSE_LOCAL_MODELS_PATH "
             "or ~/.cellpose/models (never downloaded), or 'scratch' for random initialisation.")
    nbase: tuple[int, ...] = setting(
        (32, 64, 128, 256), group=_TRAIN, ge=1,
        help="Feature widths of the 4 network levels when training from scratch (ignored when starting from weights).")
    diam_mean: float = setting(
        30.0, group=_TRAIN, gt=0,
        help="Object diameter (px) the network works at; images are rescaled so the mean training diameter maps to it.")
    n_epochs: int = setting(500, group=_TRAIN, ge=1, help="Maximum number of epochs.")
    patience: int = setting(
        50, group=_TRAIN, ge=1,
        help="Early stopping: stop after this many epochs without a lower validation loss (the best weights are kept).")
    validation_fraction: float = setting(
        0.2, group=_TRAIN, ge=0, lt=1,
        help="Fraction of the training images held out for validation when no validation set is given.")
    learning_rate: float = setting(0.005, group=_TRAIN, gt=0,
                                   help="Learning rate (warmed up linearly over warmup_epochs).")
    weight_decay: float = setting(1e-5, group=_TRAIN, ge=0, help="Weight decay of the optimiser.")
    optimizer: Literal["adamw", "sgd"] = setting(
        "adamw", group=_TRAIN,
        help="adamw, or sgd (momentum 0.9, lr 0.1, weight decay 1e-4: cellpose's advice for retraining).")
    warmup_epochs: int = setting(10, group=_TRAIN, ge=0, help="Epochs over which the learning rate warms up.")
    batch_size: int = setting(8, group=_TRAIN, ge=1, help="Crops per optimisation step.")
    crop_size: int = setting(224, group=_TRAIN, ge=16, help="Side of the square training crops in px (multiple of 16).")
    samples_per_epoch: int = setting(
        0, group=_TRAIN, ge=0, help="Crops per epoch; 0 = the number of training images (at least one batch).")
    augment_p: float = setting(0.5, group=_TRAIN, ge=0, le=1,
                               help="Probability of each augmentation (the paper's 0.5).")
    seed: int = setting(0, group=_RUN, ge=0, help="Seed of crops, augmentations and initial weights.")

    #: former settings that are arguments of :func:`labelfree.fusion.finetune` now
    moved_keys = {"device": "pass --device (labelfree fusion train) or finetune(device=...)"}

    def check(self) -> None:
        if len(self.nbase) != 4:
            raise ConfigError(f"nbase must be 4 positive feature widths; got {self.nbase}.")
        if self.crop_size % 16:
            raise ConfigError(f"crop_size must be a multiple of 16; got {self.crop_size}.")
