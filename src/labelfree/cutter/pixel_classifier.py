"""Bright-field foreground: a random-forest pixel classifier trained on scribbles.

Features per channel at several scales: Gaussian smoothing, local variance
(Gaussian of the square minus the square of the Gaussian) and Laplacian of
Gaussian, plus the raw intensity. Scribbles are a label image: 0 = not
annotated, 1 = background, 2 = cell (in Fiji: ROIs drawn on background and on
cells, rasterised into such an image).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from labelfree.errors import DimensionError, InputError

__all__ = ["pixel_features", "train_pixel_classifier", "predict_cell_probability", "SIGMAS"]

SIGMAS = (1.0, 2.0, 4.0, 8.0)
BACKGROUND, CELL = 1, 2


def _as_channels(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise DimensionError(f"The pixel classifier needs (Y, X) or (C, Y, X) images; got shape {x.shape}.")
    return x


def pixel_features(image: np.ndarray, /, *, sigmas: tuple[float, ...] = SIGMAS) -> np.ndarray:
    """Per-pixel features of a (Y, X) or (C, Y, X) image.

    Returns
    -------
    ndarray, float32, shape (Y, X, F)
        F = C * (1 + 3 * len(sigmas)); each channel is z-scored first.
    """
    feats = []
    for ch in _as_channels(image):
        std = ch.std()
        ch = (ch - ch.mean()) / (std if std > 0 else 1.0)
        feats.append(ch)
        for s in sigmas:
            g = ndi.gaussian_filter(ch, s)
            feats.append(g)
            feats.append(np.maximum(ndi.gaussian_filter(ch * ch, s) - g * g, 0.0))
            feats.append(ndi.gaussian_laplace(ch, s))
    return np.stack(feats, axis=-1).astype(np.float32)


def train_pixel_classifier(
    image: np.ndarray,
    scribbles: np.ndarray,
    /,
    *,
    sigmas: tuple[float, ...] = SIGMAS,
    n_estimators: int = 50,
    seed: int = 0,
):
    """Fit a random forest on the scribbled pixels.

    Parameters
    ----------
    image : ndarray, shape (Y, X) or (C, Y, X)
    scribbles : ndarray of int, shape (Y, X)
        1 = background, 2 = cell, 0 = unlabelled.

    Returns
    -------
    sklearn.ensemble.RandomForestClassifier
        With ``sigmas`` stored as ``labelfree_sigmas``.
    """
    from sklearn.ensemble import RandomForestClassifier

    img = _as_channels(image)
    scr = np.asarray(scribbles)
    if scr.shape != img.shape[1:]:
        raise DimensionError(f"scribbles have shape {scr.shape}; the image is {img.shape[1:]}.")
    present = set(np.unique(scr).tolist())
    if not {BACKGROUND, CELL} <= present:
        raise InputError(
            "Scribbles must mark both background (label 1) and cells (label 2); "
            f"found labels {sorted(present)}. Draw at least one stroke of each."
        )
    feats = pixel_features(img, sigmas=sigmas)
    picked = (scr == BACKGROUND) | (scr == CELL)
    clf = RandomForestClassifier(n_estimators=n_estimators, max_depth=12, random_state=seed, n_jobs=1)
    clf.fit(feats[picked], scr[picked] == CELL)
    clf.labelfree_sigmas = tuple(sigmas)
    return clf


def predict_cell_probability(classifier, image: np.ndarray, /) -> np.ndarray:
    """Cell probability map (Y, X), float32 in [0, 1]."""
    feats = pixel_features(image, sigmas=getattr(classifier, "labelfree_sigmas", SIGMAS))
    h, w, f = feats.shape
    prob = classifier.predict_proba(feats.reshape(-1, f))
    col = list(classifier.classes_).index(True)
    return prob[:, col].reshape(h, w).astype(np.float32)
