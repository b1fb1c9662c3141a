"""Small label images shared by the I/O tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import label as cc_label

from labelfree.image import to_dataarray


def random_labels(seed: int, shape=(64, 80), *, merge: bool = True) -> np.ndarray:
    """Random blobby objects, some with holes, some made of several parts (when ``merge``)."""
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal(shape), 2.5)
    lab = cc_label(noise > 0.05, connectivity=1).astype(np.uint16)
    if merge and lab.max() > 3:
        lab[lab == lab.max()] = 1  # a two-part object
    lab[rng.random(shape) < 0.01] = 0  # pinholes -> objects with holes
    return lab


@pytest.fixture
def make_labels():
    """The :func:`random_labels` generator."""
    return random_labels


@pytest.fixture
def calibrated_tzyx():
    """T=3, Z=2 labels with a hole, a two-part object, and full calibration."""
    lab = np.zeros((3, 2, 40, 50), np.uint16)
    lab[:, :, 5:15, 5:20] = 1
    lab[:, 1, 20:35, 10:30] = 7
    lab[:, 1, 25:30, 15:20] = 0  # hole in object 7
    lab[1, 0, 30:38, 40:48] = 300
    lab[2, 0, 2:4, 40:42] = 3
    lab[2, 0, 8:10, 40:42] = 3  # object 3 in two parts
    da = to_dataarray(
        lab, dims="TZYX",
        scale={"X": 0.65, "Y": 0.65, "Z": 2.0, "T": 5.0},
        units={"X": "µm", "Y": "µm", "Z": "µm", "T": "min"},
        origin={"X": 6.5, "Y": -1.3},
    )
    da.attrs["labelfree"] = {"pipeline": "threshold", "version": "0.1.0", "config": {"min_size": 20}}
    return da
