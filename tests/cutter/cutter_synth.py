"""Tiny synthetic two-channel images with known cells for the Cutter tests."""

from __future__ import annotations

import numpy as np
from skimage.draw import ellipse
from skimage.segmentation import expand_labels


def two_channel_cells(seed: int = 0, size: int = 128, n_cells: int = 9, noise: float = 0.15):
    """(image (2, Y, X) float32 [cells, nuclei], truth labels (Y, X), nucleus labels, centres (N, 2)).

    Cells are ellipses of radius 9-14 px on a jittered grid (some touch); each has a
    nucleus disk of radius 4 at its centre. The cell channel has per-cell brightness
    0.6-1.0 and Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), np.int32)
    nuclei = np.zeros((size, size), np.int32)
    k = int(np.ceil(np.sqrt(n_cells)))
    step = size / k
    centres = []
    label = 0
    for i in range(k):
        for j in range(k):
            if label == n_cells:
                break
            label += 1
            cy = (i + 0.5) * step + rng.uniform(-3, 3)
            cx = (j + 0.5) * step + rng.uniform(-3, 3)
            ry, rx = rng.uniform(9, 14, size=2)
            rr, cc = ellipse(cy, cx, ry, rx, shape=truth.shape, rotation=rng.uniform(0, np.pi))
            free = truth[rr, cc] == 0
            truth[rr[free], cc[free]] = label
            rr, cc = ellipse(cy, cx, 4, 4, shape=truth.shape)
            nuclei[rr, cc] = label
            centres.append((cy, cx))
    brightness = np.concatenate([[0.0], rng.uniform(0.6, 1.0, n_cells)])
    cell = brightness[truth] + rng.normal(0, noise, truth.shape)
    nucleus = (nuclei > 0) * 1.0 + rng.normal(0, noise, truth.shape)
    image = np.stack([cell, nucleus]).astype(np.float32)
    return image, truth, nuclei, np.array(centres)


def touching_cells(seed: int = 0, size: int = 128):
    """Variant where cells are grown until they touch (harder instance separation)."""
    image, truth, nuclei, centres = two_channel_cells(seed, size)
    grown = expand_labels(truth, 3)
    return image, grown, nuclei, centres
