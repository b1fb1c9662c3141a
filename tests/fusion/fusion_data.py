"""Synthetic two-channel images for the Fusion tests (tests/fusion/conftest.py and the tests that
build their own zoos import them by module name: pyproject.toml puts this folder on the path)."""

from __future__ import annotations

import numpy as np
from skimage.draw import disk

#: a tiny network that trains in seconds on one CPU thread
TINY = dict(nbase=(8, 16, 32, 64), diam_mean=15.0, crop_size=64, batch_size=8, samples_per_epoch=16,
            learning_rate=0.01)


def synthetic_pair(seed: int, /, *, n_cells: int = 8, size: int = 96, noise: float = 0.3):
    """A (2, Y, X) image whose channels show the cells weakly and unevenly, and the labels.

    Cells are disks of radius 5-8 px that do not touch; each channel shows each cell at its
    own brightness ~ U(0.05, 1) (a dim cell in one channel is often bright in the other),
    plus independent Gaussian noise of sigma ``noise``.
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.int32)
    k = 0
    for _ in range(500):
        y, x = rng.integers(9, size - 9, 2)
        r = rng.uniform(5, 8)
        rr, cc = disk((y, x), r + 2, shape=labels.shape)
        if (labels[rr, cc] > 0).any():
            continue
        rr, cc = disk((y, x), r, shape=labels.shape)
        k += 1
        labels[rr, cc] = k
        if k == n_cells:
            break
    image = np.zeros((2, size, size), np.float32)
    for c in range(2):
        bright = rng.uniform(0.05, 1.0, k + 1)
        bright[0] = 0.0
        image[c] = bright[labels] + rng.normal(0, noise, labels.shape)
    return image, labels


def other_model(model):
    """The tiny network with other weights (each scaled by 0.8): another model, whose labels differ."""
    import copy

    import torch

    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.net.parameters():
            p.mul_(0.8)
    return other


def model_files(root, model):
    """In ``root``: the image img.tif (channels A and B) and the weights files a.pt (``model``) and b.pt (another
    model, :func:`other_model`); their paths, and the image as a DataArray (``"da"``)."""
    import tifffile

    from labelfree.fusion.models import save_model
    from labelfree.image import to_dataarray

    image, _ = synthetic_pair(100)
    tifffile.imwrite(root / "img.tif", image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "B"]})
    save_model(model, root / "a.pt")
    save_model(other_model(model), root / "b.pt")
    return {"root": root, "image": root / "img.tif", "a": root / "a.pt", "b": root / "b.pt",
            "da": to_dataarray(image, dims="CYX", channel_names=["A", "B"])}
