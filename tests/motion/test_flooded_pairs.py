"""A pair whose classifier floods the frame while it has almost no background labels to judge it by."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.metrics import evaluate


def test_a_pair_with_almost_no_background_labels_does_not_flood_its_frames(shared_data):
    """A 256 x 256 crop of the HeLa movie (11-12 nuclei a frame). The pair (3, 4) self-labelled one
    background pixel; its classifier called 96 % of frame 4 cell, and the pair (4, 5), with none,
    classified frame 5 with it: both frames were one object over the whole frame (pixel F1 0.19
    and 0.16, the crop's 0.36). That pair's classifier is not used now: the last one is."""
    try:
        movie, gt = datasets.load_timelapse("hela")
    except Exception as exc:  # noqa: BLE001 - dataset not in this copy of the shared data
        pytest.skip(f"HeLa time-lapse unavailable: {exc}")
    window = (slice(0, 6), slice(440, 696), slice(560, 816))
    crop, truth = np.asarray(movie.values)[window], np.asarray(gt.values)[window]
    labels = motion.segment(crop).values
    for t in range(6):
        assert (labels[t] > 0).mean() < 0.3, t  # measured 0.08-0.14 (ground truth 0.08-0.10)
        assert evaluate(labels[t], truth[t], only_annotated=True)["pixel_f1"] > 0.75, t
    assert evaluate(labels, truth, only_annotated=True)["pixel_f1"] > 0.8
