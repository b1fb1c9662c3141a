"""Gaussian Naive Bayes on the self-labelled pixels, and pixel classification of a frame."""

from __future__ import annotations

import numpy as np

from labelfree.errors import InputError

__all__ = ["train_classifier", "classify_frame", "cell_probability"]


def _samples(features: np.ndarray, mask: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero(np.asarray(mask).ravel())
    if n_max and len(idx) > n_max:
        idx = rng.choice(idx, n_max, replace=False)
    return features.reshape(features.shape[0], -1)[:, idx].T


def train_classifier(
    features: np.ndarray,
    cell: np.ndarray,
    background: np.ndarray,
    /,
    *,
    max_pixels: int = 20000,
    seed: int = 0,
    prior: float | None = None,
    model=None,
):
    """Fit a Gaussian Naive Bayes (class 1 = cell, 0 = background) on self-labelled pixels.

    Parameters
    ----------
    features : (F, Y, X) float array
        Static features of the frame (see :func:`labelfree.motion.compute_features`).
    cell, background : (Y, X) bool arrays
        Self-labelled training pixels.
    max_pixels : int
        At most this many random pixels per class are used (0 = all).
    seed : int
        Seed of the subsampling.
    prior : float, optional
        Prior probability of *cell*; None: the label counts (MATLAB ``fitcnb``).
    model : sklearn.naive_bayes.GaussianNB, optional
        Update this model (``partial_fit``) instead of training a new one.

    Returns
    -------
    sklearn.naive_bayes.GaussianNB, or None when a class has no pixel.
    """
    from sklearn.naive_bayes import GaussianNB

    f = np.asarray(features, np.float32)
    if f.ndim != 3 or f.shape[1:] != np.shape(cell) or np.shape(cell) != np.shape(background):
        raise InputError(f"features (F, Y, X) and masks (Y, X) must agree; got {f.shape}, "
                         f"{np.shape(cell)}, {np.shape(background)}.")
    n_cell, n_bg = int(np.count_nonzero(cell)), int(np.count_nonzero(background))
    if n_cell == 0 or n_bg == 0:
        return None
    rng = np.random.default_rng(seed)
    x = np.concatenate([_samples(f, background, max_pixels, rng), _samples(f, cell, max_pixels, rng)])
    y = np.concatenate([np.zeros(min(n_bg, max_pixels or n_bg)), np.ones(min(n_cell, max_pixels or n_cell))])
    if model is not None:
        model.partial_fit(x, y)
        return model
    p = n_cell / (n_bg + n_cell) if prior is None else float(prior)
    model = GaussianNB(priors=[1.0 - p, p])
    return model.fit(x, y)


def cell_probability(features: np.ndarray, model, /) -> np.ndarray:
    """Posterior probability of *cell* for every pixel, (Y, X) float32.

    Evaluates the fitted Gaussian class densities directly on the (F, Y, X)
    feature stack (same result as ``model.predict_proba``, without reshaping
    millions of rows).
    """
    f = np.asarray(features, np.float32)
    log_post = []
    for k in range(2):
        mu = model.theta_[k].astype(np.float32)
        var = model.var_[k].astype(np.float32)
        ll = np.full(f.shape[1:], np.log(model.class_prior_[k]) - 0.5 * np.sum(np.log(2 * np.pi * var)), np.float32)
        for i in range(f.shape[0]):
            ll -= (f[i] - mu[i]) ** 2 / (2 * var[i])
        log_post.append(ll)
    diff = np.clip(log_post[0] - log_post[1], -80, 80)
    return (1.0 / (1.0 + np.exp(diff))).astype(np.float32)


def classify_frame(features: np.ndarray, model, /, *, smoothing: float = 0.0) -> np.ndarray:
    """Pixels of the frame that the classifier calls *cell* (posterior > 0.5), (Y, X) bool.

    Parameters
    ----------
    features : (F, Y, X) float array
    model : fitted GaussianNB or None (then nothing is cell)
    smoothing : float
        Gaussian sigma (px) applied to the per-pixel log-odds before the decision
        (0 = per-pixel decisions, as the paper): neighbouring pixels vote together.
    """
    if model is None:
        return np.zeros(np.shape(features)[1:], bool)
    f = np.asarray(features, np.float32)
    log_odds = np.zeros(f.shape[1:], np.float32)
    for k, sign in ((1, 1.0), (0, -1.0)):
        mu = model.theta_[k].astype(np.float32)
        var = model.var_[k].astype(np.float32)
        const = np.log(model.class_prior_[k]) - 0.5 * np.sum(np.log(2 * np.pi * var))
        log_odds += np.float32(sign * const)
        for i in range(f.shape[0]):
            log_odds -= np.float32(sign / (2 * var[i])) * (f[i] - mu[i]) ** 2
    if smoothing > 0:
        import cv2

        np.clip(log_odds, -50, 50, out=log_odds)  # one extreme pixel must not outvote its neighbours
        log_odds = cv2.GaussianBlur(log_odds, (0, 0), smoothing)
    return log_odds > 0
