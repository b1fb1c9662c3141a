"""Configuration of the Fusion pipeline: inference/fusion options and fine-tuning options.

:class:`FusionConfig` drives :func:`labelfree.fusion.segment` (and the Fiji command
"LabelFree Fusion", whose dialog is generated from its fields: keep them snake_case and
of simple types). :class:`FinetuneConfig` drives :func:`labelfree.fusion.finetune`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from labelfree._config import PipelineConfig
from labelfree.errors import ConfigError

__all__ = ["FusionConfig", "FinetuneConfig", "FUSION_METHODS", "OBJECTS"]

#: fusion rules understood by :func:`labelfree.fusion.segment`
FUSION_METHODS = ("flow_average", "staple", "simple", "pixel_vote", "majority_vote", "none")
#: object kinds a zoo model can be trained for
OBJECTS = ("nuclei", "cyto")


@dataclasses.dataclass
class FusionConfig(PipelineConfig):
    """Options of the Fusion pipeline at inference time.

    Attributes
    ----------
    object : {"nuclei", "cyto"}
        What the zoo models were trained to segment; used to pick models from the zoo.
    cell_line : str
        Cell line of the zoo models to use ("" = any).
    channels : tuple of str
        Channels of the image to fuse (names, or indices written as strings);
        empty = every channel.
    fusion : {"flow_average", "staple", "simple", "pixel_vote", "majority_vote", "none"}
        How the per-channel results are combined. ``flow_average`` averages the flows
        and cell-probability maps and integrates them once (the paper's method); the
        others segment each channel and fuse the instance segmentations (baselines);
        ``none`` requires exactly one channel.
    average_space : {"logits", "probabilities"}
        Average cell probability as network logits (default) or as sigmoid
        probabilities (converted back to a logit before thresholding).
    diameter : float
        Typical object diameter in pixels of the input image; 0 = the mean of the
        chosen models' training diameters. The same value is used for every channel
        so that their flows align.
    flow_threshold : float
        Cellpose flow-error threshold for discarding masks (0.4; 0 keeps every mask).
    cellprob_threshold : float
        Cell-probability logit above which a pixel takes part in flow integration.
    min_size : int
        Objects smaller than this many pixels are removed.
    niter : int
        Flow-integration steps; 0 = 200 x diameter / model diameter (cellpose's rule).
    min_iou : float
        IoU at which objects of different channels count as the same object (baselines).
    batch_size : int
        Tiles per network batch.
    device : {"auto", "cpu", "cuda"}
        Where the networks run; ``auto`` uses a CUDA GPU when one is present.
    """

    object: Literal["nuclei", "cyto"] = "cyto"
    cell_line: str = ""
    channels: tuple[str, ...] = ()
    fusion: Literal["flow_average", "staple", "simple", "pixel_vote", "majority_vote", "none"] = "flow_average"
    average_space: Literal["logits", "probabilities"] = "logits"
    diameter: float = 0.0
    flow_threshold: float = 0.4
    cellprob_threshold: float = 0.0
    min_size: int = 15
    niter: int = 0
    min_iou: float = 0.5
    batch_size: int = 8
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        self.channels = tuple(str(c) for c in self.channels)
        self._check_choices()
        if self.diameter < 0:
            raise ConfigError(f"diameter must be >= 0 pixels (0 = from the models); got {self.diameter}.")
        if not 0 < self.min_iou <= 1:
            raise ConfigError(f"min_iou must be in (0, 1]; got {self.min_iou}.")
        if self.min_size < 0 or self.niter < 0 or self.batch_size < 1:
            raise ConfigError("min_size and niter must be >= 0 and batch_size >= 1.")


@dataclasses.dataclass
class FinetuneConfig(PipelineConfig):
    """Options of fine-tuning (or training from scratch) one Cellpose model.

    Attributes
    ----------
    starting_model : str
        Weights to start from: a file path, a built-in cellpose name found in
        ``$CELLPOSE_LOCAL_MODELS_PATH`` / ``~/.cellpose/models`` (never downloaded), or
        ``"scratch"`` for random initialisation.
    nbase : tuple of int
        Feature widths of the 4 network levels when training from scratch (cellpose's
        are 32, 64, 128, 256); ignored when starting from weights.
    diam_mean : float
        Object diameter (pixels) the network works at; images are rescaled so that the
        mean training diameter maps to it (cellpose uses 30, 17 for nuclei).
    n_epochs : int
        Maximum number of epochs.
    patience : int
        Early stopping: stop after this many epochs without a lower validation loss
        (the paper uses 50); the best weights are kept.
    validation_fraction : float
        Fraction of the training images held out for validation when no validation
        set is given.
    learning_rate, weight_decay : float
        AdamW (or SGD) parameters; the rate warms up linearly over ``warmup_epochs``.
    optimizer : {"adamw", "sgd"}
        ``sgd`` (momentum 0.9, lr 0.1, weight decay 1e-4) is cellpose's advice for retraining.
    batch_size : int
        Crops per optimisation step.
    crop_size : int
        Side of the square training crops in pixels (multiple of 16).
    samples_per_epoch : int
        Crops per epoch; 0 = the number of training images (at least one batch).
    augment_p : float
        Probability of each augmentation (the paper's 0.5).
    seed : int
        Seed of crops, augmentations and initial weights.
    device : {"auto", "cpu", "cuda"}
    """

    starting_model: str = "scratch"
    nbase: tuple[int, ...] = (32, 64, 128, 256)
    diam_mean: float = 30.0
    n_epochs: int = 500
    patience: int = 50
    validation_fraction: float = 0.2
    learning_rate: float = 0.005
    weight_decay: float = 1e-5
    optimizer: Literal["adamw", "sgd"] = "adamw"
    warmup_epochs: int = 10
    batch_size: int = 8
    crop_size: int = 224
    samples_per_epoch: int = 0
    augment_p: float = 0.5
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        self.nbase = tuple(int(n) for n in self.nbase)
        self._check_choices()
        if len(self.nbase) != 4 or min(self.nbase) < 1:
            raise ConfigError(f"nbase must be 4 positive feature widths; got {self.nbase}.")
        if self.crop_size < 16 or self.crop_size % 16:
            raise ConfigError(f"crop_size must be a multiple of 16 and >= 16; got {self.crop_size}.")
        if not 0 <= self.augment_p <= 1:
            raise ConfigError(f"augment_p must be a probability in [0, 1]; got {self.augment_p}.")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must be in [0, 1); got {self.validation_fraction}.")
        if self.n_epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.diam_mean <= 0:
            raise ConfigError("n_epochs, patience, batch_size must be >= 1 and diam_mean > 0.")
