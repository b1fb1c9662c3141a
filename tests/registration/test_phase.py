"""Pairwise shift measurement: sign convention, sub-pixel accuracy, peak checking, limits."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.registration import phase_cross_correlation

from labelfree.registration._phase import (
    bandpass_weights,
    edge_taper,
    measure_shift,
    overlap_ncc,
    prepare,
    refine_on_overlap,
)


def _texture(shape, seed=0):
    return ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 2.0)


@pytest.mark.parametrize("true", [(3.4, -5.7), (-12.25, 7.5), (0.0, 0.0)])
def test_shift_matches_skimage_with_opposite_sign(true):
    ref = _texture((160, 200))
    moving = ndi.shift(ref, true, order=3, mode="grid-wrap")
    ours = measure_shift(ref, moving, upsample=20, normalization=None).shift
    theirs = phase_cross_correlation(ref, moving, upsample_factor=20, normalization=None)[0]
    np.testing.assert_allclose(ours, -theirs, atol=1e-9)
    np.testing.assert_allclose(ours, true, atol=0.06)


def test_integer_shift_is_exact_and_ncc_is_one_on_the_overlap():
    ref = _texture((128, 128), seed=1)
    big = _texture((160, 160), seed=1)
    ref, moving = big[10:138, 12:140], big[17:145, 3:131]  # content moves by (-7, +9)
    pair = measure_shift(ref, moving)
    assert pair.shift == (-7.0, 9.0)
    assert pair.ncc == pytest.approx(1.0)
    assert overlap_ncc(ref, moving, (0, 0))[0] < 0.5


def test_max_shift_limits_the_search():
    big = _texture((200, 200), seed=2)
    ref, moving = big[40:168, 40:168], big[20:148, 40:168]  # true shift (+20, 0)
    assert measure_shift(ref, moving).shift == (20.0, 0.0)
    limited = measure_shift(ref, moving, max_shift=(5, 5)).shift
    assert max(abs(v) for v in limited) <= 5


def test_three_d_shift():
    big = _texture((40, 70, 70), seed=3)
    ref, moving = big[5:35, 10:60, 10:60], big[3:33, 14:64, 7:57]
    assert measure_shift(ref, moving).shift == (2.0, -4.0, 3.0)


def test_bandpass_prepare_keeps_shape_and_removes_mean():
    img = _texture((64, 80)) + 100.0
    w = bandpass_weights(img.shape, low_sigma=1.0, high_sigma=10.0)
    filtered, spec = prepare(img, weights=w)
    assert filtered.shape == img.shape and spec.shape == w.shape
    assert abs(float(filtered.mean())) < 1e-3


@pytest.mark.parametrize("seed", [1, 3])
def test_the_remainder_measured_on_the_common_part_is_not_pulled_towards_zero(seed):
    """Two 96 px views of one smooth texture, the second moved by (5.3, -4.6) px. The whole views'
    correlation counts less overlap the farther it looks: its upsampled peak fell 0.15-0.3 px short
    (what estimate_drift returned before). Measured again on the pixels both share, it is exact."""
    true = np.array([5.3, -4.6])
    big = ndi.gaussian_filter(np.random.default_rng(seed).random((160, 160)), 3.0)
    ref, moving = big[30:126, 30:126], ndi.shift(big, true, order=3, mode="nearest")[30:126, 30:126]
    weights, taper = bandpass_weights(ref.shape, low_sigma=1.5, high_sigma=20.0), edge_taper(ref.shape)
    pa, pb = prepare(ref, weights=weights, taper=taper), prepare(moving, weights=weights, taper=taper)
    whole = measure_shift(pa[0], pb[0], spectra=(pa[1], pb[1]), upsample=20).shift
    assert np.abs(np.array(whole) - true).max() > 0.14  # the pull this removes
    integer = measure_shift(pa[0], pb[0], spectra=(pa[1], pb[1])).shift
    assert integer == (5.0, -4.0)  # the remainder is more than half a pixel: the cut moves once more
    refined = refine_on_overlap(ref, moving, integer, upsample=20, low_sigma=1.5, high_sigma=20.0, taper=0.1)
    np.testing.assert_allclose(refined, true, atol=0.03)


def test_refinement_keeps_a_shift_whose_common_part_is_too_small():
    ref = _texture((40, 40))
    assert refine_on_overlap(ref, ref, (35.0, 0.0), upsample=20, low_sigma=1.5, high_sigma=20.0,
                             taper=0.1) == (35.0, 0.0)


def test_ncc_map_is_the_overlap_ncc_at_every_shift():
    from labelfree.registration._phase import ncc_map

    rng = np.random.default_rng(2)
    ref, moving = _texture((40, 23), seed=2), rng.random((40, 23))
    moving[:30, :20] = ref[10:, 3:]  # content moves by (-10, -3)
    scores = ncc_map(ref, moving, (13, 7))
    assert scores.shape == (27, 15)
    for sy in range(-13, 14):
        for sx in range(-7, 8):
            assert scores[sy + 13, sx + 7] == pytest.approx(overlap_ncc(ref, moving, (sy, sx))[0], abs=1e-9)
    assert np.unravel_index(np.argmax(scores), scores.shape) == (13 - 10, 7 - 3)
    assert (ncc_map(np.zeros((20, 20)), moving[:20, :20], (5, 5)) == 0).all()  # flat overlaps score 0


@pytest.mark.parametrize("upsample", [1, 20])
def test_a_direction_without_features_gets_no_shift(upsample):
    """Stripes say nothing about a shift along them: the shift there is 0, not the most negative one
    of the search (the first of the equal maxima)."""
    rows = _texture((96, 1), seed=3)
    ref = np.repeat(rows, 80, axis=1)
    moving = np.roll(ref, 4, axis=0)
    assert measure_shift(ref, moving, upsample=upsample).shift == (4.0, 0.0)
