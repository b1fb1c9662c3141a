"""Patches around markers and the 640 x 640 area batching of the Cutter method.

Each marker gives one ``crop x crop`` patch of every (z-scored) image channel plus a
fixed Gaussian channel that says "the cell of interest is at the centre". The
authors' code drops markers closer than half a patch to the border; here the
image is **padded** by half a patch (zeros = the channel mean after z-scoring,
background in the mask) so that border cells are segmented too. In the padded
frame a marker at (y, x) has its patch's top-left corner at (y, x).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from labelfree.errors import ConstantImageError, InputError

__all__ = ["PatchSet", "zscore_channels", "gaussian_marker", "build_patch_set", "sample_area", "augment_patches"]


@dataclasses.dataclass
class PatchSet:
    """Padded, normalised image of one frame with its marker patches.

    Attributes
    ----------
    image : ndarray, float32, shape (C, H + crop, W + crop)
        z-scored channels, padded by ``crop // 2`` with zeros.
    background : ndarray, float32, shape (H + crop, W + crop)
        1 = background (outside the foreground mask, and the padding).
    corners : ndarray, int64, shape (N, 2)
        Top-left (row, col) of each patch in the padded frame.
    crop : int
        Patch side in pixels.
    marker : ndarray, float32, shape (crop, crop)
        The Gaussian marker channel.
    """

    image: np.ndarray
    background: np.ndarray
    corners: np.ndarray
    crop: int
    marker: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """Unpadded (H, W)."""
        return (self.image.shape[1] - self.crop, self.image.shape[2] - self.crop)

    def patches(self, index: np.ndarray | None = None) -> np.ndarray:
        """Network inputs (n, C + 1, crop, crop) of the patches ``index`` (default all)."""
        corners = self.corners if index is None else self.corners[index]
        c = self.crop
        out = np.empty((len(corners), self.image.shape[0] + 1, c, c), np.float32)
        for k, (r, q) in enumerate(corners):
            out[k, :-1] = self.image[:, r : r + c, q : q + c]
        out[:, -1] = self.marker
        return out


def zscore_channels(channels: np.ndarray, /, *, name: str = "cell channel") -> np.ndarray:
    """Subtract the mean and divide by the standard deviation of each channel.

    Parameters
    ----------
    channels : ndarray, shape (C, H, W)

    Returns
    -------
    ndarray, float32, shape (C, H, W)
    """
    x = np.asarray(channels, dtype=np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    if np.any(std == 0):
        bad = [int(i) for i in np.nonzero(std.ravel() == 0)[0]]
        raise ConstantImageError(f"{name} {bad} is constant; Cutter needs image contrast to segment cells.")
    return (x - mean) / std


def gaussian_marker(crop: int, /, *, sigma: float = 15.0) -> np.ndarray:
    """Gaussian ``exp(-(x^2 + y^2) / (2 sigma^2))`` on a centred ``crop x crop`` grid (px)."""
    half = (crop - 1) / 2.0
    t = np.linspace(-half, half, crop)
    return np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2.0 * sigma**2)).astype(np.float32)


def build_patch_set(
    channels: np.ndarray,
    markers: np.ndarray,
    /,
    *,
    background: np.ndarray | None = None,
    crop: int = 64,
    sigma: float = 15.0,
) -> PatchSet:
    """Normalise and pad a frame and place one patch per marker.

    Parameters
    ----------
    channels : ndarray, shape (C, H, W)
        Image channels (any number); each is z-scored over the whole frame.
    markers : ndarray, shape (N, 2)
        Marker positions (row, col) in pixels; rounded to integers.
    background : ndarray of bool, shape (H, W), optional
        1 / True = background. ``None``: no out-of-mask penalty inside the image.
    crop : int
        Patch side (px). sigma : float: Gaussian marker sigma (px).
    """
    channels = np.asarray(channels)
    h, w = channels.shape[1:]
    if h < crop or w < crop:
        raise InputError(
            f"The image ({h} x {w} px at the scale its patches are cut from) is smaller than one {crop} x {crop} "
            "patch; use a smaller crop_size or a smaller downscale factor (below 1 enlarges it)."
        )
    pad = crop // 2
    image = np.pad(zscore_channels(channels), ((0, 0), (pad, pad), (pad, pad)))
    bg = np.ones((h + crop, w + crop), np.float32)
    bg[pad : pad + h, pad : pad + w] = 0.0 if background is None else np.asarray(background, np.float32)
    corners = np.rint(np.asarray(markers, np.float64)).astype(np.int64).reshape(-1, 2)
    corners = np.clip(corners, 0, [h - 1, w - 1])
    return PatchSet(image, bg, corners, crop, gaussian_marker(crop, sigma=sigma))


def sample_area(
    patch_set: PatchSet, rng: np.random.Generator, /, *, area_size: int = 640, tries: int = 20
) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """Draw one training area: the patches whose corner lies in a random square.

    Per axis a corner ``c0`` is drawn uniformly so that the window
    ``[c0, c0 + area_size + crop)`` lies in the padded image; a frame smaller than
    that along an axis is one area along that axis.

    Returns
    -------
    index : ndarray of int
        Patches of the area (may be empty after ``tries`` empty draws).
    corners : ndarray, shape (n, 2)
        Their corners relative to the window.
    window : tuple of slice
        The (rows, cols) window in the padded frame.
    """
    full = patch_set.image.shape[1:]
    span = area_size + patch_set.crop
    for _ in range(tries):
        c0 = [int(rng.integers(0, n - span + 1)) if n > span else 0 for n in full]
        lo = np.array(c0)
        hi = np.array([c + area_size if n > span else n for c, n in zip(c0, full)])
        inside = np.all((patch_set.corners >= lo) & (patch_set.corners < hi), axis=1)
        if inside.any():
            break
    window = tuple(slice(c, min(c + span, n)) for c, n in zip(c0, full))
    index = np.nonzero(inside)[0]
    return index, patch_set.corners[index] - lo, window


def augment_patches(x, code: int, /, *, inverse: bool = False):
    """Flip / transpose a batch (..., S, S) about the patch centre.

    ``code`` bit 0: left-right flip, bit 1: up-down flip, bit 2: transpose.
    ``inverse=True`` undoes the transform (transpose first). Works on numpy arrays
    and torch tensors.
    """
    def flip(a, axis):
        return a.flip(axis) if hasattr(a, "flip") and not isinstance(a, np.ndarray) else np.flip(a, axis)

    def transpose(a):
        return a.transpose(-1, -2) if not isinstance(a, np.ndarray) else np.swapaxes(a, -1, -2)

    if inverse and code & 4:
        x = transpose(x)
    if code & 1:
        x = flip(x, -1)
    if code & 2:
        x = flip(x, -2)
    if not inverse and code & 4:
        x = transpose(x)
    return x
