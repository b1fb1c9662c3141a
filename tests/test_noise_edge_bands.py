"""Bands along an image's edges (brighter first rows or columns of a camera or scan) are background.

``labelfree.noise.edge_band_excess`` finds them; Cutter's foreground mask measures against a background
without them, so a band no longer joins the cells that touch that edge.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree.errors import InputError
from labelfree.noise import edge_band_excess, without_edge_bands

BACKGROUND, NOISE, CELL = 100.0, 5.0, 160.0


def _cells(shape=(256, 320), centres=((60, 80), (150, 200), (200, 60), (90, 260)), radius=14, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    truth = np.zeros(shape, np.int32)
    for k, (y, x) in enumerate(centres, 1):
        truth[(yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2] = k
    image = BACKGROUND + (CELL - BACKGROUND) * (truth > 0) + rng.normal(0, NOISE, shape)
    return image.astype(np.float32), truth


def _top_band(shape, depth=12, height=40.0):
    """A band along the top edge that fades over ``depth`` rows (as Fluo-C2DL-MSC's first rows)."""
    rows = height * np.clip(1 - np.arange(shape[0]) / depth, 0, None)
    return np.repeat(rows[:, None], shape[1], axis=1).astype(np.float32)


def test_a_band_along_the_top_edge_is_found_and_brought_down_to_the_background():
    image, _ = _cells()
    band = _top_band(image.shape)
    excess = edge_band_excess(image + band)
    rows = np.nonzero(excess.any(axis=1))[0]
    assert rows[0] == 0 and 8 <= len(rows) <= 14 and np.array_equal(rows, np.arange(len(rows)))
    assert excess[20:].max() == 0  # rows below the band untouched
    flat = without_edge_bands(image + band)
    assert abs(np.median(flat[:6]) - BACKGROUND) < 2 * NOISE  # was 30-40 above
    assert np.median((image + band)[:6]) - BACKGROUND > 25


@pytest.mark.parametrize("side", ["bottom", "left", "right"])
def test_bands_along_the_other_edges_are_found(side):
    image, _ = _cells()
    band = _top_band(image.shape) if side == "bottom" else _top_band(image.shape[::-1]).T
    band = {"bottom": band[::-1], "left": band, "right": band[:, ::-1]}[side]
    excess = edge_band_excess(image + band)
    where = {"bottom": excess[-1], "left": excess[:, 0], "right": excess[:, -1]}[side]
    assert (where > 20).all()
    assert excess[100:150, 100:200].max() == 0


def test_an_image_without_a_band_is_left_as_it_is():
    image, _ = _cells()
    assert not edge_band_excess(image).any()
    assert without_edge_bands(image) is image or np.shares_memory(without_edge_bands(image), image)


def test_cells_along_an_edge_are_not_a_band():
    # a row of touching cells along the top edge covers most of the top rows, but not every part of the edge
    centres = tuple((10, x) for x in range(20, 230, 26))
    image, _ = _cells(centres=centres, radius=13)
    assert not edge_band_excess(image).any()


def test_a_gradient_across_the_whole_image_is_not_a_band():
    image, _ = _cells()
    ramp = np.linspace(60, 0, image.shape[0], dtype=np.float32)[:, None]
    assert not edge_band_excess(image + ramp).any()


def test_odd_inputs_are_refused_or_left():
    with pytest.raises(InputError, match=r"\(Y, X\)"):
        edge_band_excess(np.zeros((2, 64, 64)))
    assert not edge_band_excess(np.zeros((16, 16))).any()  # too small to tell a band from cells
    assert not edge_band_excess(np.full((64, 64), 7.0)).any()


@pytest.mark.parametrize("ridges", [False, True])
def test_cutter_mask_leaves_the_band_out_and_keeps_the_cell_that_touches_it(ridges):
    from labelfree.cutter import CutterConfig
    from labelfree.cutter.prepare import foreground_mask

    centres = ((8, 100), (120, 200), (200, 60))  # the first cell is cut by the top edge
    image, truth = _cells(centres=centres, radius=16)
    image = image + _top_band(image.shape, depth=12, height=45.0)
    cfg = CutterConfig(mask_smoothing=2.0, mask_peak_window=9, mask_ridges=ridges)
    points = np.array(centres, float)
    mask = foreground_mask(image[None], cfg, markers=points)
    band = np.zeros_like(mask)
    band[:10] = True
    outside = band & (ndi.binary_dilation(truth > 0, iterations=3) == 0)
    assert mask[outside].mean() < 0.02  # the whole band was foreground, joined to the first cell
    cell = truth == 1
    assert mask[cell].mean() > 0.9 and mask[0, 100]
    assert ndi.label(mask)[1] == 3
