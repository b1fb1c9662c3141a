"""From per-patch cell probabilities to one label image (argmax over patches).

Each pixel goes to the patch (cell) with the highest probability among the
patches covering it (exact ties: the later patch, as in the authors' code);
pixels whose best probability is not above the threshold are background.
"""

from __future__ import annotations

import numpy as np

from labelfree.errors import InputError

__all__ = ["integrate_patches"]


def _upsample(prob: np.ndarray, factor: int) -> np.ndarray:
    import cv2

    size = prob.shape[0] * factor
    return cv2.resize(prob, (size, size), interpolation=cv2.INTER_LINEAR)


def integrate_patches(
    probabilities: np.ndarray,
    corners: np.ndarray,
    /,
    *,
    shape: tuple[int, int],
    ids: np.ndarray | None = None,
    threshold: float = 0.5,
    upscale: int = 1,
) -> np.ndarray:
    """Combine patch probabilities into an instance label image.

    Parameters
    ----------
    probabilities : ndarray, shape (N, S, S)
        Cell probability of each patch, in [0, 1].
    corners : ndarray of int, shape (N, 2)
        Top-left (row, col) of each patch in the frame padded by ``S // 2`` (which is
        the marker position in the unpadded frame), in patch pixels.
    shape : (int, int)
        (Y, X) of the output, in output pixels.
    ids : ndarray of int, shape (N,), optional
        Label of each patch (default 1..N).
    threshold : float
        Minimum probability of a cell pixel.
    upscale : int
        Output pixels per patch pixel: each patch map is bilinearly upsampled and
        its corner multiplied by this factor (for images downscaled before Cutter).

    Returns
    -------
    ndarray of uint32, shape ``shape``
    """
    probs = np.asarray(probabilities, dtype=np.float32)
    corners = np.asarray(corners, dtype=np.int64).reshape(-1, 2)
    if probs.ndim != 3 or probs.shape[1] != probs.shape[2] or len(probs) != len(corners):
        raise InputError(
            f"probabilities must be (N, S, S) with one corner per patch; got {probs.shape} and {len(corners)} corners."
        )
    n = len(probs)
    ids = np.arange(1, n + 1) if ids is None else np.asarray(ids)
    if len(ids) != n:
        raise InputError(f"{len(ids)} ids given for {n} patches.")
    size = probs.shape[1] * upscale if n else 0
    pad = size // 2
    h, w = shape
    # canvas padded by half a patch on every side, large enough for every corner
    ch = max(h, int(corners[:, 0].max() * upscale) + 1 if n else 0) + size
    cw = max(w, int(corners[:, 1].max() * upscale) + 1 if n else 0) + size
    best = np.zeros((ch, cw), np.float32)
    label = np.zeros((ch, cw), np.uint32)
    for k in range(n):
        p = _upsample(probs[k], upscale) if upscale > 1 else probs[k]
        r, c = corners[k] * upscale
        region = best[r : r + size, c : c + size]
        take = p >= region
        region[take] = p[take]
        label[r : r + size, c : c + size][take] = ids[k]
    label[best <= threshold] = 0
    return label[pad : pad + h, pad : pad + w]
