"""Fixtures of the Fusion tests: synthetic two-channel images and one tiny trained model."""

from __future__ import annotations

import pytest
from fusion_data import TINY, synthetic_pair


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine has 2 shared cores
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_set():
    pairs = [synthetic_pair(s) for s in range(12)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.fixture(scope="session")
def trained(synthetic_set):
    """A tiny multi-channel model trained from scratch on 8 synthetic images (about 30 s)."""
    from labelfree.fusion import finetune

    images, labels = synthetic_set
    return finetune(images[:8], labels[:8], channels=[0, 1], config=dict(TINY, n_epochs=30, patience=50))


@pytest.fixture
def tiny():
    """Options of a tiny network that trains in seconds on one CPU thread."""
    return dict(TINY)


@pytest.fixture(scope="module")
def model(trained):
    """The tiny two-channel model of :func:`trained` (trained once per session)."""
    return trained.model


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """LabelFree's cache folder, empty: the user's cache takes no part (modules that run the CLI use it
    for every test: ``pytestmark = pytest.mark.usefixtures("empty_cache")``)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(folder))
    return folder
