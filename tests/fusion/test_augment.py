import numpy as np
import pytest
from skimage.draw import disk

from labelfree.fusion.augment import (
    add_gaussian_noise,
    add_salt_and_pepper,
    augment_sample,
    random_crop,
    random_scale_rotate_flip,
    shift_brightness,
)


def _scene():
    lab = np.zeros((80, 100), np.int32)
    for i, (y, x, r) in enumerate([(20, 20, 9), (25, 60, 7), (55, 35, 10), (60, 80, 8)]):
        rr, cc = disk((y, x), r, shape=lab.shape)
        lab[rr, cc] = i + 1
    return (lab > 0).astype(np.float32) * np.linspace(0.5, 1, 100)[None], lab


@pytest.mark.parametrize("seed", range(6))
def test_geometry_keeps_image_and_labels_aligned(seed):
    img, lab = _scene()
    before = (img.copy(), lab.copy())
    out_img, out_lab = random_scale_rotate_flip(img, lab, rng=np.random.default_rng(seed), p=1.0)
    assert np.array_equal(before[0], img) and np.array_equal(before[1], lab)  # inputs untouched
    fg_img, fg_lab = out_img > 0.25, out_lab > 0
    iou = (fg_img & fg_lab).sum() / (fg_img | fg_lab).sum()
    assert iou > 0.85
    assert set(np.unique(out_lab)) <= set(range(5)) and len(np.unique(out_lab)) >= 4
    # each label's pixels carry the object's intensity, not background
    for k in np.unique(out_lab)[1:]:
        assert out_img[out_lab == k].mean() > 0.4


def test_scaling_follows_the_paper_range():
    img, lab = _scene()
    sizes = [random_scale_rotate_flip(img, lab, rng=np.random.default_rng(s), p=1.0)[0].shape for s in range(30)]
    ratios = np.array([s[1] / 100 for s in sizes])
    assert ratios.min() >= 0.49 and ratios.max() <= 1.0 and ratios.std() > 0.05


def test_no_augmentation_with_p0_is_identity():
    img, lab = _scene()
    out_img, out_lab = augment_sample(img, lab, rng=np.random.default_rng(0), p=0.0)
    assert np.allclose(out_img, img, atol=1e-6) and np.array_equal(out_lab, lab)


def test_photometric_augmentations_have_the_paper_distributions():
    rng = np.random.default_rng(1)
    flat = np.full((200, 200), 0.5, np.float32)
    stds = [add_gaussian_noise(flat, rng=rng).std() for _ in range(40)]
    assert 0 <= min(stds) and max(stds) <= 0.1 * 1.05 and np.ptp(stds) > 0.03
    shifts = [shift_brightness(flat, rng=rng)[0, 0] - 0.5 for _ in range(200)]
    assert -0.1 <= min(shifts) and max(shifts) <= 0.1
    sp = add_salt_and_pepper(flat, rng=rng)
    frac = np.isin(sp, (0.0, 1.0)).mean()
    assert frac == pytest.approx(0.05, abs=0.005)
    assert flat.max() == flat.min() == 0.5


def test_random_crop_pads_small_images_and_keeps_alignment():
    img, lab = _scene()
    c_img, c_lab = random_crop(img, lab, size=128, rng=np.random.default_rng(0))
    assert c_img.shape == c_lab.shape == (128, 128)
    assert np.array_equal(c_img > 0, c_lab > 0)
