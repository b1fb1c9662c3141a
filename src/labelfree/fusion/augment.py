"""The paper's training augmentations, applied on the fly to (image, labels) pairs.

Each augmentation is applied independently with probability ``p`` (0.5 in the paper):

========================  ==============================================================
scaling                   factor ~ U(0.5, 1) (on top of the diameter normalisation)
rotation                  angle ~ U(-pi/2, pi/2) about the image centre
flips                     left-right and up-down, each with probability p
Gaussian noise            sigma ~ U(0, 0.1), added to the [0, 1]-normalised image
Poisson noise             counts ~ Poisson(image x 255) / 255 (an 8-bit photon budget)
salt and pepper           a fraction beta = 0.05 of the pixels set to 0 or 1 (half each)
brightness shift          offset ~ U(-0.1, 0.1) added to every pixel
========================  ==============================================================

Images are expected already normalised to about [0, 1] (cellpose's 1-99 percentile
normalisation). Geometric steps move image (bilinear) and labels (nearest) with one and the
same affine transform, so masks stay on their cells.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "random_scale_rotate_flip",
    "add_gaussian_noise",
    "add_poisson_noise",
    "add_salt_and_pepper",
    "shift_brightness",
    "augment_sample",
    "random_crop",
]

SCALE_RANGE = (0.5, 1.0)
ANGLE_RANGE = (-math.pi / 2, math.pi / 2)
NOISE_SIGMA_RANGE = (0.0, 0.1)
POISSON_PEAK = 255.0
SALT_PEPPER_BETA = 0.05
BRIGHTNESS_RANGE = (-0.1, 0.1)


def random_scale_rotate_flip(
    image: np.ndarray, labels: np.ndarray, /, *, rng: np.random.Generator, p: float = 0.5, base_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Scale, rotate and flip an image and its labels with one affine transform.

    Parameters
    ----------
    image : (Y, X) float array
    labels : (Y, X) integer array, 0 = background
    rng : numpy.random.Generator
    p : float
        Probability of each of scaling, rotation, left-right flip, up-down flip.
    base_scale : float
        Scale always applied (diameter normalisation), multiplied by the random one.

    Returns
    -------
    image, labels : arrays of shape round((Y, X) x scale), float32 and int32
    """
    scale = float(base_scale) * (rng.uniform(*SCALE_RANGE) if rng.random() < p else 1.0)
    angle = rng.uniform(*ANGLE_RANGE) if rng.random() < p else 0.0
    flip_x = -1.0 if rng.random() < p else 1.0
    flip_y = -1.0 if rng.random() < p else 1.0
    ly, lx = image.shape
    out_y, out_x = max(1, round(ly * scale)), max(1, round(lx * scale))
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    # forward map: centred input coords -> rotate/scale -> flip -> centred output coords
    linear = np.array([[flip_x * cos, -flip_x * sin], [flip_y * sin, flip_y * cos]])
    centre_in = np.array([(lx - 1) / 2, (ly - 1) / 2])
    centre_out = np.array([(out_x - 1) / 2, (out_y - 1) / 2])
    matrix = np.hstack([linear, (centre_out - linear @ centre_in)[:, None]]).astype(np.float64)
    img = cv2.warpAffine(np.asarray(image, np.float32), matrix, (out_x, out_y), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    lab = cv2.warpAffine(np.asarray(labels, np.float32), matrix, (out_x, out_y), flags=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return img, np.rint(lab).astype(np.int32)


def add_gaussian_noise(image: np.ndarray, /, *, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise with sigma ~ U(0, 0.1) (image in [0, 1] units)."""
    sigma = rng.uniform(*NOISE_SIGMA_RANGE)
    return (image + rng.normal(0.0, sigma, image.shape)).astype(np.float32)


def add_poisson_noise(image: np.ndarray, /, *, rng: np.random.Generator) -> np.ndarray:
    """Replace intensities by Poisson counts of an 8-bit photon budget (shot noise)."""
    lam = np.clip(image, 0, None) * POISSON_PEAK
    return (rng.poisson(lam) / POISSON_PEAK).astype(np.float32)


def add_salt_and_pepper(image: np.ndarray, /, *, rng: np.random.Generator) -> np.ndarray:
    """Set a fraction 0.05 of the pixels to 0 (pepper) or 1 (salt), half each."""
    out = np.array(image, np.float32, copy=True)
    hit = rng.random(image.shape) < SALT_PEPPER_BETA
    salt = rng.random(image.shape) < 0.5
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


def shift_brightness(image: np.ndarray, /, *, rng: np.random.Generator) -> np.ndarray:
    """Add one offset ~ U(-0.1, 0.1) to every pixel."""
    return (image + rng.uniform(*BRIGHTNESS_RANGE)).astype(np.float32)


def augment_sample(
    image: np.ndarray, labels: np.ndarray, /, *, rng: np.random.Generator, p: float = 0.5, base_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Apply every augmentation of the paper, each with probability ``p``.

    Parameters
    ----------
    image : (Y, X) float array normalised to about [0, 1]
    labels : (Y, X) integer instance labels
    rng : numpy.random.Generator
    p : float
        Probability of each augmentation.
    base_scale : float
        Diameter-normalising scale applied before the random one.

    Returns
    -------
    image, labels : float32 and int32 arrays (new; the inputs are not modified)
    """
    img, lab = random_scale_rotate_flip(image, labels, rng=rng, p=p, base_scale=base_scale)
    for step in (add_gaussian_noise, add_poisson_noise, add_salt_and_pepper, shift_brightness):
        if rng.random() < p:
            img = step(img, rng=rng)
    return img, lab


def random_crop(
    image: np.ndarray, labels: np.ndarray, /, *, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` x ``size`` crop; smaller images are zero-padded first."""
    pad_y, pad_x = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    if pad_y or pad_x:
        widths = ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2))
        image = np.pad(image, widths)
        labels = np.pad(labels, widths)
    y0 = int(rng.integers(0, image.shape[0] - size + 1))
    x0 = int(rng.integers(0, image.shape[1] - size + 1))
    return image[y0:y0 + size, x0:x0 + size], labels[y0:y0 + size, x0:x0 + size]
