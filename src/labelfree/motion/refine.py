"""Boundary refinement: re-decide the pixels near each object's outline at a finer scale.

The classifier of frame t decides every pixel from features measured in a 7x7
window (the local entropy), so its objects reach about three pixels past the cell
outline. This step, beyond the paper, is self-supervised like the rest: the
classified objects' cores (eroded by ``inner`` px) and everything farther than
``outer`` px from them are the training labels of a second Naive Bayes on the
lightly smoothed grey level alone, which then re-decides the band in between.
"""

from __future__ import annotations

import cv2
import numpy as np

from labelfree.errors import ConfigError, DimensionError
from labelfree.motion.classify import classify_frame, train_classifier

__all__ = ["refine_boundaries"]


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def refine_boundaries(
    frame: np.ndarray,
    mask: np.ndarray,
    /,
    *,
    inner: int = 2,
    outer: int = 8,
    sigma: float = 2.0,
    prior: float | None = 0.5,
    kind: str = "kernel",
    max_pixels: int = 20000,
    seed: int = 0,
) -> np.ndarray:
    """Re-classify the pixels within ``outer`` px outside and ``inner`` px inside the mask's outline.

    Parameters
    ----------
    frame : (Y, X) array
        The frame the mask was classified from (uint8 in the pipeline).
    mask : (Y, X) bool array
        Cell pixels after the clean-up (size filter, closing, holes filled).
    inner, outer : int
        The band re-decided: pixels at most ``outer`` px outside the mask and
        less than ``inner`` px inside it. The pixels deeper inside train the
        *cell* class, the pixels beyond ``outer`` the *background* class.
    sigma : float
        Gaussian sigma (px) of the grey-level feature (0 = none).
    prior : float or None
        Prior probability of *cell*; None: the label counts.
    kind : {"kernel", "gaussian"}
        Class densities of the second classifier (:func:`train_classifier`).
    max_pixels, seed :
        Training-pixel subsampling per class.

    Returns
    -------
    (Y, X) bool array: the cores plus the band pixels called *cell*. The mask
    is returned unchanged (as a copy) when it has no core or no background.
    """
    m = np.asarray(mask, bool)
    f = np.asarray(frame)
    if m.ndim != 2 or f.shape != m.shape:
        raise DimensionError(f"refine_boundaries needs a (Y, X) frame and a mask of the same shape; "
                             f"got {f.shape} and {m.shape}.")
    if inner < 0 or outer < 1:
        raise ConfigError(f"refine_boundaries needs inner >= 0 and outer >= 1; got {inner}, {outer}.")
    u = m.astype(np.uint8)
    core = (cv2.erode(u, _disk(inner)) > 0) if inner else m.copy()
    near = cv2.dilate(u, _disk(outer)) > 0
    grey = f.astype(np.float32)
    if sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    model = train_classifier(grey[None], core, ~near, max_pixels=max_pixels, seed=seed, prior=prior, kind=kind)
    if model is None:
        return m.copy()
    return core | (near & classify_frame(grey[None], model))
