"""Bright-field foreground: pixel classifier on scribbles, then graph cut."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.cutter.graphcut import graph_cut_mask
from labelfree.cutter.pixel_classifier import pixel_features, predict_cell_probability, train_pixel_classifier
from labelfree.errors import InputError


def _textured_cells(seed=0):
    """Cells = textured (high local variance) disks, same mean as the flat background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    truth = np.zeros((96, 96), bool)
    for cy, cx, r in [(25, 25, 12), (30, 70, 14), (70, 40, 16)]:
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    image = 0.5 + rng.normal(0, 0.02, truth.shape) + truth * rng.normal(0, 0.3, truth.shape)
    return image, truth


def test_pixel_classifier_then_graph_cut_finds_textured_cells():
    image, truth = _textured_cells()
    scribbles = np.zeros(truth.shape, np.uint8)
    scribbles[90:93, 5:90] = 1  # a background stroke
    scribbles[3:6, 40:55] = 1
    scribbles[25, 18:32] = 2  # one stroke in each of two cells
    scribbles[66:74, 40] = 2
    clf = train_pixel_classifier(image, scribbles)
    prob = predict_cell_probability(clf, image)
    assert prob.shape == truth.shape and 0 <= prob.min() and prob.max() <= 1
    mask = graph_cut_mask(prob, prior=0.5, max_weight=2.0, sigma=0.2)
    jaccard = (mask & truth).sum() / (mask | truth).sum()
    assert jaccard > 0.85  # intensity alone cannot separate them: same mean inside and out
    assert (mask[30, 70]) and not mask[60, 85]


def test_features_and_scribble_errors():
    image, truth = _textured_cells()
    assert pixel_features(image).shape == (96, 96, 13)
    with pytest.raises(InputError, match="both background"):
        train_pixel_classifier(image, (truth * 2).astype(np.uint8))
