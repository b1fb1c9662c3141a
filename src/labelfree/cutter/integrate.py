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


def _resample(prob: np.ndarray, origin: tuple[float, float], scale: tuple[float, float]) -> tuple[np.ndarray, int, int]:
    """Bilinear image of one patch in output pixels for a non-integer scale.

    ``origin`` is the (row, col) of the patch's first pixel in unpadded scaled
    pixels; output pixel y sits at scaled coordinate ``(y + 0.5) / scale - 0.5``.
    Returns the resampled patch (edge values repeated up to the footprint edge) and its
    top-left output pixel.
    """
    import cv2

    size = prob.shape[0]
    (oy, ox), (sy, sx) = origin, scale
    # the output pixels whose centres fall inside the patch's footprint [o, o + size) * scale
    y0, x0 = int(np.ceil(oy * sy - 0.5)), int(np.ceil(ox * sx - 0.5))
    y1, x1 = int(np.floor((oy + size) * sy - 0.5)) + 1, int(np.floor((ox + size) * sx - 0.5)) + 1
    # dst(x, y) = src(M @ (x, y, 1)): patch coordinate of each output pixel
    m = np.array([[1.0 / sx, 0.0, (x0 + 0.5) / sx - 0.5 - ox], [0.0, 1.0 / sy, (y0 + 0.5) / sy - 0.5 - oy]])
    out = cv2.warpAffine(prob, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return out, y0, x0


def integrate_patches(
    probabilities: np.ndarray,
    corners: np.ndarray,
    /,
    *,
    shape: tuple[int, int],
    ids: np.ndarray | None = None,
    threshold: float = 0.5,
    upscale: float | tuple[float, float] = 1,
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
    upscale : float or (float, float)
        Output pixels per patch pixel, one value or (rows, cols): each patch map is
        bilinearly resampled onto the output grid (for images rescaled before
        Cutter; output pixel y lies at patch-grid coordinate ``(y + 0.5) / upscale - 0.5``).

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
    scale = (float(upscale), float(upscale)) if np.ndim(upscale) == 0 else tuple(float(u) for u in upscale)
    if min(scale) <= 0:
        raise InputError(f"upscale must be positive; got {upscale}.")
    if scale[0] != scale[1] or scale[0] != int(scale[0]):
        return _integrate_resampled(probs, corners, shape, ids, threshold, scale)
    upscale = int(scale[0])
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


def _integrate_resampled(probs, corners, shape, ids, threshold, scale) -> np.ndarray:
    """:func:`integrate_patches` for a non-integer (or per-axis) scale."""
    h, w = shape
    n = len(probs)
    size = probs.shape[1] if n else 0
    pad = size // 2
    margin = int(np.ceil((pad + 1) * max(scale))) + 1
    top = [margin, margin]
    if n:  # the canvas must hold every patch's footprint
        far = (corners.max(axis=0) - pad + size + 1) * np.array(scale)
        bottom = np.maximum(np.ceil(far).astype(int) - np.array([h, w]), 0) + margin
    else:
        bottom = np.array([margin, margin])
    best = np.zeros((h + top[0] + bottom[0], w + top[1] + bottom[1]), np.float32)
    label = np.zeros(best.shape, np.uint32)
    for k in range(n):
        p, y0, x0 = _resample(probs[k], (corners[k, 0] - pad, corners[k, 1] - pad), scale)
        r, c = y0 + top[0], x0 + top[1]
        region = best[r : r + p.shape[0], c : c + p.shape[1]]
        take = p >= region
        region[take] = p[take]
        label[r : r + p.shape[0], c : c + p.shape[1]][take] = ids[k]
    label[best <= threshold] = 0
    return label[top[0] : top[0] + h, top[1] : top[1] + w]
