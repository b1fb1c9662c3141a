"""Synthetic markers: a small UNet trained on image/nucleus pairs finds nuclei in a new image."""

from __future__ import annotations

import numpy as np
import pytest
from cutter_synth import two_channel_cells

import torch  # noqa: F401 - a dev install has torch: its absence is an error, not a skip

from labelfree.cutter.nucleus_net import synthetic_markers, train_nucleus_net  # noqa: E402


@pytest.mark.slow
def test_synthetic_markers_one_per_cell_on_a_new_image():
    # training pairs: cell channel -> nucleus mask; the nucleus sits at the bright centre of the
    # cell with a darker ring in this variant, so the network must learn "centre of a cell"
    def cell_with_nucleus_hint(seed):
        image, truth, nuclei, centres = two_channel_cells(seed=seed)
        return image[0] + 0.8 * (nuclei > 0), nuclei, centres

    train = [cell_with_nucleus_hint(s) for s in (0, 1)]
    net = train_nucleus_net([t[0] for t in train], [t[1] for t in train], width=8, n_steps=150, crop=64)
    image, _, centres = cell_with_nucleus_hint(7)
    pts = synthetic_markers(net, image)
    d = np.linalg.norm(pts[:, None] - centres[None], axis=2)
    assert len(pts) == len(centres)
    assert d.min(axis=1).max() < 3.0 and len(set(d.argmin(axis=1))) == len(centres)
