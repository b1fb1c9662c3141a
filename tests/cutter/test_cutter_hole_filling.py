"""Cutter's masks are hole-filled with :func:`labelfree.labels.fill_holes`: the masks of ``ndi.binary_fill_holes``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree.cutter import prepare
from labelfree.cutter.config import CutterConfig


def _blobs_with_holes(seed: int, shape=(160, 200)) -> np.ndarray:
    """Random blobs (thresholded smooth noise): rings, pockets of background closed only diagonally, parts at the
    border."""
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.normal(size=shape), 3.0)
    return np.abs(smooth) > 0.35 * smooth.std()  # bands around the zero crossings: many enclosed pockets


def _as_before(monkeypatch, run):
    """``run()`` with ``ndi.binary_fill_holes`` in place of fill_holes (the code before), and with no filling."""
    monkeypatch.setattr(prepare, "fill_holes", ndi.binary_fill_holes)
    before = run()
    monkeypatch.setattr(prepare, "fill_holes", lambda mask: mask)
    unfilled = run()
    monkeypatch.undo()
    return before, unfilled


@pytest.mark.parametrize("seed", range(4))
def test_keep_marked_regions_gives_the_mask_it_gave_with_binary_fill_holes(monkeypatch, seed):
    mask = _blobs_with_holes(seed)
    rng = np.random.default_rng(100 + seed)
    markers = np.column_stack([rng.uniform(0, 159, 12), rng.uniform(0, 199, 12)])
    run = lambda: prepare.keep_marked_regions(mask, markers)  # noqa: E731
    before, unfilled = _as_before(monkeypatch, run)
    now = run()
    assert now.dtype == bool and now.shape == mask.shape
    assert now.sum() > unfilled.sum()  # holes were filled: the filling was exercised
    np.testing.assert_array_equal(now, before)


@pytest.mark.parametrize("seed", range(3))
def test_grow_along_ridges_gives_the_mask_it_gave_with_binary_fill_holes(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    channels = (100 + 20 * ndi.gaussian_filter(rng.normal(size=(160, 200)), 1.5))[None]
    mask = _blobs_with_holes(10 + seed) & (ndi.gaussian_filter(channels[0], 2.0) > 100)
    run = lambda: prepare.grow_along_ridges(channels, mask, CutterConfig(mask_smoothing=1.5))  # noqa: E731
    before, unfilled = _as_before(monkeypatch, run)
    now = run()
    assert now.dtype == bool and (now & ~mask).any()  # ridge pixels were added
    assert now.sum() > unfilled.sum()  # and holes filled
    np.testing.assert_array_equal(now, before)
