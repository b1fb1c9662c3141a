"""The label-free Cutter loss (Din & Yu 2021), in the form the authors' code computes it.

For the N patches of one training area, with ``y_i = sigmoid(logit_i)`` placed at
its patch position in the area window (0 outside the patch),
``l_i = log(clip(1 - y_i, 1e-7, 1))`` and ``B`` the background mask of the window
(1 = background)::

    loss = (1/N) * [ - sum_i sum_p y_i
                     + lam * sum_i sum_p y_i * ( - sum_{j != i} l_j )
                     + b   * sum_i sum_p y_i * B ]

with ``b = lam * beta`` when ``beta_in_lambda`` (the code: ``_BETA = -20`` sits
inside the lambda term, ``S = sum_j l_j + _BETA * M``) and ``b = beta`` otherwise
(the paper's Eq. 1, where beta weighs its own term).
"""

from __future__ import annotations

import math

__all__ = ["cutter_loss", "LOG_EPS"]

#: log of the Keras epsilon used to clip 1 - y (``log(1e-7)``).
LOG_EPS = math.log(1e-7)


def _log_one_minus_sigmoid(logits):
    import torch

    return torch.clamp(-torch.nn.functional.softplus(logits), min=LOG_EPS)


def cutter_loss(
    logits,
    corners,
    background,
    /,
    *,
    lam: float = 1.0,
    beta: float = 20.0,
    beta_in_lambda: bool = True,
):
    """Loss of one training area.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, S, S)
        Network outputs (one logit per pixel) of the N patches of the area,
        already un-augmented (in image orientation).
    corners : torch.Tensor of int64, shape (N, 2)
        Top-left (row, col) of each patch in the area window, in pixels.
    background : torch.Tensor, shape (H, W)
        Background mask of the area window (1 = background, 0 = cell);
        every patch must lie inside it.
    lam, beta : float
        Weights of the overlap (cross) term and of the out-of-mask term.
    beta_in_lambda : bool
        ``True``: the out-of-mask weight is ``lam * beta`` (authors' code);
        ``False``: it is ``beta`` (paper's Eq. 1).

    Returns
    -------
    torch.Tensor
        Scalar loss (mean over patches).
    """
    import torch

    n, size, _ = logits.shape
    height, width = background.shape
    y = torch.sigmoid(logits)
    log_bg = _log_one_minus_sigmoid(logits)
    offs = torch.arange(size, device=logits.device)
    rows = corners[:, 0, None, None] + offs[None, :, None]
    cols = corners[:, 1, None, None] + offs[None, None, :]
    index = (rows * width + cols).reshape(n, -1)
    total = torch.zeros(height * width, dtype=logits.dtype, device=logits.device)
    total = total.index_add(0, index.reshape(-1), log_bg.reshape(-1))
    others = total[index].reshape(n, size, size) - log_bg  # sum_{j != i} l_j at patch i's pixels
    bg = background.reshape(-1).to(logits.dtype)[index].reshape(n, size, size)
    b = lam * beta if beta_in_lambda else beta
    per_pixel = -y + lam * y * (-others) + b * y * bg
    return per_pixel.sum() / n
