"""The threshold pipeline: an automatic global threshold and connected components (the classical baseline)."""

from labelfree.threshold.config import ThresholdConfig
from labelfree.threshold.segment import segment

__all__ = ["ThresholdConfig", "segment"]
