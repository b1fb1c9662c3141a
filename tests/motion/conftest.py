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
