"""Synthetic markers: a small UNet that predicts a nucleus image from the cell image.

This is the paper's option when no nucleus channel exists. The network is trained
on images that do have a nucleus channel: pairs of (cell channels, nucleus mask),
with binary cross-entropy on random crops. It then predicts a nucleus probability
map for images that have no nucleus channel. Markers are the centroids of the
de-clumped nuclei found in that map.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from labelfree._deps import require
from labelfree._progress import Progress
from labelfree.cutter.dataset import zscore_channels
from labelfree.cutter.unet import build_unet
from labelfree.errors import DimensionError, InputError

__all__ = ["train_nucleus_net", "predict_nucleus_image", "synthetic_markers"]


def _channels(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, np.float32)
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise DimensionError(f"Expected a (Y, X) or (C, Y, X) image; got shape {x.shape}.")
    return zscore_channels(x)


def train_nucleus_net(
    images: Sequence[np.ndarray],
    nuclei: Sequence[np.ndarray],
    /,
    *,
    width: int = 16,
    n_steps: int = 200,
    crop: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress: Any = False,
):
    """Train a UNet4 mapping cell channels to a nucleus probability.

    Parameters
    ----------
    images : sequence of ndarray, each (Y, X) or (C, Y, X)
        Cell channels (the same channels the network will see later).
    nuclei : sequence of ndarray, each (Y, X)
        Nucleus masks or label images (> 0 = nucleus), same size as the images.
    width, n_steps, crop, learning_rate, seed
        Network width, Adam steps, side of the random training crops (px, multiple of 16).

    Returns
    -------
    torch.nn.Module
        In eval mode; input (N, C, H, W) z-scored, output (N, 1, H, W) logits.
    """
    torch = require("torch", purpose="the nucleus network")
    pairs = [(_channels(i), np.asarray(n) > 0) for i, n in zip(images, nuclei)]
    if not pairs or len(pairs) != len(nuclei):
        raise InputError("train_nucleus_net needs one nucleus mask per image, and at least one pair.")
    for x, m in pairs:
        if x.shape[1:] != m.shape or min(m.shape) < crop:
            raise DimensionError(f"image {x.shape} and nuclei {m.shape} must match and be at least {crop} px.")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_unet(pairs[0][0].shape[0], width=width)
    optim = torch.optim.Adam(net.parameters(), lr=learning_rate)
    bce = torch.nn.BCEWithLogitsLoss()
    net.train()
    with Progress(progress, total=n_steps, desc="nucleus network") as bar:
        for _ in range(n_steps):
            x, m = pairs[int(rng.integers(len(pairs)))]
            r, c = (int(rng.integers(0, s - crop + 1)) for s in m.shape)
            xb = torch.from_numpy(np.ascontiguousarray(x[None, :, r : r + crop, c : c + crop]))
            yb = torch.from_numpy(m[None, None, r : r + crop, c : c + crop].astype(np.float32))
            loss = bce(net(xb), yb)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            bar.update(message=f"bce {loss.item():.3f}")
    return net.eval()


def predict_nucleus_image(net, image: np.ndarray, /) -> np.ndarray:
    """Nucleus probability (Y, X) float32 of a (Y, X) or (C, Y, X) image."""
    torch = require("torch", purpose="the nucleus network")
    x = _channels(image)
    h, w = x.shape[1:]
    ph, pw = (-h) % 16, (-w) % 16
    x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect")
    with torch.no_grad():
        prob = torch.sigmoid(net(torch.from_numpy(x[None]))[0, 0]).numpy()
    return prob[:h, :w].astype(np.float32)


def synthetic_markers(net, image: np.ndarray, /, *, min_size: int = 20, threshold: float = 0.5) -> np.ndarray:
    """Markers (N, 2) (y, x): centroids of the de-clumped nuclei predicted by ``net``."""
    from labelfree.cutter.markers import markers_from_labels
    from labelfree.labels import declump, remove_small_objects

    mask = remove_small_objects(predict_nucleus_image(net, image) > threshold, min_size=min_size)
    labels = declump(mask)
    if labels.max() == 0:
        return np.zeros((0, 2))
    return markers_from_labels(labels)[0]
