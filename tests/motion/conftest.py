"""Fixtures of the Motion tests."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import datasets


@pytest.fixture(scope="session")
def hela(shared_data):
    """The first 6 frames of the HeLa time-lapse and its (pseudo) ground truth, as (T, Y, X) arrays."""
    try:
        movie, gt = datasets.load_timelapse("hela")
    except Exception as exc:  # noqa: BLE001 - dataset not in this copy of the shared data
        pytest.skip(f"HeLa time-lapse unavailable: {exc}")
    return np.asarray(movie.values)[:6], np.asarray(gt.values)[:6]


@pytest.fixture(scope="session")
def c2c12_movie(shared_data):
    """The real C2C12 phase-contrast movie (10 x 234 x 234 uint8) and its hand-painted labels (laptrack)."""
    path = shared_data / "misc" / "laptrack_c2c12" / "data_small.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with np.load(path) as data:
        return np.asarray(data["images"]), np.asarray(data["labels"])
