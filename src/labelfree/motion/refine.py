"""Boundary refinement: re-decide the pixels near each object's outline at a finer scale.

The classifier of frame t decides every pixel from features measured in a 7x7
window (the local entropy), so its objects reach about three pixels past the cell
outline. This step, beyond the paper, is self-supervised like the rest: the
classified objects' cores (eroded by ``inner`` px) and everything farther than
``outer`` px from them are the training labels of a second Naive Bayes on the
lightly smoothed grey level alone, which then re-decides the band in between.

The grey level only helps where it separates cells from background, as in
fluorescence. In phase contrast cells and background share grey levels (halos,
dark and bright parts in one cell), and a grey-level classifier would cut the
objects apart; ``min_contrast`` skips the refinement on such frames.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from labelfree.errors import ConfigError, DimensionError
from labelfree.motion.classify import classify_frame, train_classifier

__all__ = ["refine_boundaries", "grey_contrast"]


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def grey_contrast(grey: np.ndarray, cell: np.ndarray, background: np.ndarray, /) -> float:
    """How far apart the grey levels of two pixel sets are: |mean difference| / pooled std.

    The sensitivity index d' of the two sets: about 2-3 for the cells and
    background of fluorescence movies, below 1 in phase contrast. 0 when either
    set is empty; when both are constant, 0 for equal and infinity for different
    grey levels.
    """
    g = np.asarray(grey, np.float32)
    stats = []
    for which in (cell, background):
        if not np.any(which):
            return 0.0
        mean, std = cv2.meanStdDev(g, mask=np.asarray(which, np.uint8))
        stats.append((float(mean[0, 0]), float(std[0, 0])))
    (ma, sa), (mb, sb) = stats
    spread = np.sqrt(0.5 * (sa * sa + sb * sb))
    if spread > 0:
        return abs(ma - mb) / spread
    return float("inf") if ma != mb else 0.0


def refine_boundaries(
    frame: np.ndarray,
    mask: np.ndarray,
    /,
    *,
    inner: int = 2,
    outer: int = 12,
    sigma: float = 2.0,
    prior: float | None = 0.5,
    kind: str = "kernel",
    max_pixels: int = 20000,
    seed: int = 0,
    min_contrast: float = 1.5,
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
        The defaults of this function are those of ``MotionConfig``
        (``refine_inner``, ``refine_outer``, ``refine_sigma``, ``class_prior``,
        ``refine_classifier``, ``max_training_pixels``, ``refine_min_contrast``).
    sigma : float
        Gaussian sigma (px) of the grey-level feature (0 = none).
    prior : float or None
        Prior probability of *cell*; None: the label counts.
    kind : {"kernel", "gaussian"}
        Class densities of the second classifier (:func:`train_classifier`).
    max_pixels, seed : int
        Training-pixel subsampling per class.
    min_contrast : float
        Leave the mask as it is when the smoothed grey levels of the cores and of
        the far background differ by less than this many pooled standard
        deviations (:func:`grey_contrast`); 0 = always refine. (``segment``
        holds the median over the movie's frames so far against it; this
        function, the one frame's contrast.)

    Returns
    -------
    (Y, X) bool array: the cores plus the band pixels called *cell*. The mask
    is returned unchanged (as a copy) when it has no core or no background, or
    when the grey level separates them by less than ``min_contrast``.
    """
    return _refine(frame, mask, inner=inner, outer=outer, sigma=sigma, prior=prior, kind=kind,
                   max_pixels=max_pixels, seed=seed, min_contrast=min_contrast)[0]


def _refine(frame, mask, *, inner, outer, sigma, prior, kind, max_pixels, seed, min_contrast, history=None):
    """:func:`refine_boundaries`, also returning the grey contrast (NaN without core or background)
    and whether the band was re-decided.

    With a ``history`` list (the contrasts of the movie's earlier frames, appended
    to here), the median of all of them is held against ``min_contrast``: one
    movie, one modality, and a single frame near the limit does not flip.
    """
    m, band = _band(frame, mask, inner=inner, outer=outer, sigma=sigma)
    if band is None:
        return m.copy(), float("nan"), False
    if history is not None:
        history.append(band.contrast)
    if (np.median(history) if history else band.contrast) < min_contrast:
        return m.copy(), band.contrast, False
    return _redecide(band, prior=prior, kind=kind, max_pixels=max_pixels, seed=seed), band.contrast, True


@dataclasses.dataclass
class _Band:
    """A mask's cores, the far background beyond its band, the smoothed grey level, and
    the grey contrast of cores against far background (:func:`grey_contrast`)."""

    core: np.ndarray
    near: np.ndarray
    far: np.ndarray
    grey: np.ndarray
    contrast: float


def _band(frame, mask, *, inner, outer, sigma) -> tuple[np.ndarray, _Band | None]:
    """The mask as bool and its :class:`_Band` (None when it has no core or no far background):
    everything the refinement needs before deciding whether to re-decide the band."""
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
    far = ~near
    if not core.any() or not far.any():
        return m, None
    return m, _Band(core, near, far, grey, grey_contrast(grey, core, far))


def _redecide(band: _Band, *, prior, kind, max_pixels, seed) -> np.ndarray:
    """The cores plus the band pixels a grey-level classifier, trained on cores and far
    background, calls cell."""
    model = train_classifier(band.grey[None], band.core, band.far, max_pixels=max_pixels, seed=seed, prior=prior,
                             kind=kind)
    return band.core | (band.near & classify_frame(band.grey[None], model))
