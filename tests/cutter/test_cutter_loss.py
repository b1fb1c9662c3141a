"""The Cutter loss against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import torch

from labelfree.cutter.config import CutterConfig, loss_parameters  # noqa: E402
from labelfree.cutter.loss import cutter_loss  # noqa: E402


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _hand_loss(logits, corners, background, lam, beta, inside):
    """Direct transcription of the formula, pixel by pixel."""
    n, s, _ = logits.shape
    h, w = background.shape
    y = np.zeros((n, h, w))
    for i in range(n):
        r, c = corners[i]
        for a in range(s):
            for b in range(s):
                y[i, r + a, c + b] = _sig(logits[i, a, b])
    l = np.log(np.clip(1.0 - y, 1e-7, 1.0))
    b_eff = lam * beta if inside else beta
    total = 0.0
    for i in range(n):
        for p in np.ndindex(h, w):
            others = sum(l[j][p] for j in range(n) if j != i)
            total += -y[i][p] + lam * y[i][p] * (-others) + b_eff * y[i][p] * background[p]
    return total / n


def test_two_overlapping_patches_by_hand():
    # two 2x2 patches in a 2x3 window, overlapping in the middle column
    logits = np.array([[[0.0, 1.0], [2.0, -1.0]], [[0.5, 0.0], [-2.0, 3.0]]])
    corners = np.array([[0, 0], [0, 1]])
    background = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    # explicit arithmetic for the code preset (lam 1, beta 20 inside lambda):
    y = lambda z: _sig(z)  # noqa: E731
    l = lambda z: math.log(1 - _sig(z))  # noqa: E731
    area = -(y(0) + y(1) + y(2) + y(-1) + y(0.5) + y(0) + y(-2) + y(3))
    # overlap pixels: (0,1) = patch0[0,1] & patch1[0,0]; (1,1) = patch0[1,1] & patch1[1,0]
    cross = y(1) * -l(0.5) + y(-1) * -l(-2) + y(0.5) * -l(1) + y(-2) * -l(-1)
    outside = y(-1) + y(0) + y(-2) + y(3)  # background pixels (1,1), (0,2), (1,1), (1,2)
    expected = (area + 1.0 * cross + 20.0 * outside) / 2
    got = cutter_loss(torch.tensor(logits), torch.tensor(corners), torch.tensor(background), lam=1.0, beta=20.0)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(got) == pytest.approx(_hand_loss(logits, corners, background, 1.0, 20.0, True), rel=1e-12)


@pytest.mark.parametrize("preset", ["code", "paper"])
def test_presets_match_hand_formula(preset):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (3, 4, 4))
    corners = np.array([[0, 0], [1, 2], [3, 1]])
    background = (rng.random((7, 6)) > 0.6).astype(float)
    p = loss_parameters(CutterConfig(loss_preset=preset))
    got = cutter_loss(torch.tensor(logits), torch.tensor(corners), torch.tensor(background),
                      lam=p["lam"], beta=p["beta"], beta_in_lambda=p["beta_in_lambda"])
    want = _hand_loss(logits, corners, background, p["lam"], p["beta"], p["beta_in_lambda"])
    assert float(got) == pytest.approx(want, rel=1e-10)


def test_presets_and_overrides():
    assert loss_parameters(CutterConfig()) == {"lam": 1.0, "beta": 20.0, "beta_in_lambda": True, "lr": 1e-3}
    assert loss_parameters(CutterConfig(loss_preset="paper")) == {"lam": 3.32, "beta": 15.0, "beta_in_lambda": False, "lr": 5e-3}
    assert loss_parameters(CutterConfig(lam=2.0, learning_rate=0.01))["lam"] == 2.0


def test_clipping_keeps_gradients_finite():
    logits = torch.tensor([[[40.0, -40.0], [0.0, 30.0]]] * 2, requires_grad=True)
    loss = cutter_loss(logits, torch.tensor([[0, 0], [0, 0]]), torch.zeros(2, 2))
    loss.backward()
    # log(1 - y) is clipped at log(1e-7): the cross term is finite for saturated pixels
    assert math.isfinite(loss.item()) and torch.isfinite(logits.grad).all()
    assert loss.item() == pytest.approx(_hand_loss(logits.detach().numpy(), np.zeros((2, 2), int), np.zeros((2, 2)), 1.0, 20.0, True), rel=1e-6)
