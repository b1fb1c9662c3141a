"""Cutter: unsupervised marker-controlled CNN for whole-cell segmentation (Din & Yu 2021).

One 64 x 64 patch per marker (a nucleus, a point), a UNet trained from scratch on the
image itself with a loss that needs no labels (grow each cell, avoid overlaps with
neighbouring cells and the background of a graph-cut mask), and an argmax over
patches. torch is imported only when a network is built.
"""

from labelfree.cutter.config import LOSS_PRESETS, CutterConfig
from labelfree.cutter.graphcut import graph_cut_mask
from labelfree.cutter.markers import (AutoMarkerWarning, MarkerWarning, MissedNucleiWarning, detect_markers,
                                     markers_from_labels, markers_from_points, unmarked_nuclei)
from labelfree.cutter.segment import fit, segment

__all__ = [
    "CutterConfig",
    "LOSS_PRESETS",
    "segment",
    "fit",
    "detect_markers",
    "markers_from_labels",
    "markers_from_points",
    "graph_cut_mask",
    "load_model",
    "MarkerWarning",
    "AutoMarkerWarning",
    "MissedNucleiWarning",
    "unmarked_nuclei",
]


def load_model(path, /, *, device: str = "cpu"):
    """Load a trained Cutter model (a ``.pt`` file written by ``CutterModel.save`` or ``save_model=``).

    ``device`` is ``"cpu"``, ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. Returns the
    :class:`~labelfree.cutter.train.CutterModel` in eval mode, to pass as ``segment(image, model=...)``;
    a missing or damaged file, or one whose sha256 differs from its sidecar's, raises
    :class:`~labelfree.errors.ModelFileError` (:func:`labelfree.cutter.model_io.load_model`).
    """
    from labelfree.cutter.model_io import load_model as _load

    return _load(path, device=device)
