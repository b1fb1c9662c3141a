"""Naive Bayes on the self-labelled pixels, and pixel classification of a frame.

Two class-density models are available, as in MATLAB ``fitcnb``:

* ``"gaussian"`` (the paper): one normal density per feature and class
  (``sklearn.naive_bayes.GaussianNB``);
* ``"kernel"``: :class:`KernelNB`, one smoothed-histogram (kernel) density per
  feature and class. It follows class distributions that are not Gaussian: the
  cell class of a fluorescence movie mixes bright bodies and dim protrusions.
"""

from __future__ import annotations

import numpy as np

from labelfree._jit import njit
from labelfree.errors import ConfigError, InputError

__all__ = ["KernelNB", "train_classifier", "classify_frame", "cell_probability", "log_odds"]


def _samples(features: np.ndarray, mask: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero(np.asarray(mask).ravel())
    if n_max and len(idx) > n_max:
        idx = rng.choice(idx, n_max, replace=False)
    return features.reshape(features.shape[0], -1)[:, idx].T


class KernelNB:
    """Naive Bayes with a kernel density per feature and class, on a grid of bins.

    Each feature's range (the 0.1-99.9 percentiles of the first training
    samples) is cut into ``bins`` bins; each class's normalised histogram is
    smoothed with a Gaussian kernel of ``bandwidth`` bins and floored at the same
    small density for both classes, so that a value neither class has seen
    is decided by the priors. Values outside the range fall into the end bins.

    Parameters
    ----------
    bins : int
        Bins per feature (2-256).
    bandwidth : float
        Kernel sigma in bins (0 = plain histogram).
    priors : (2,) sequence, optional
        Prior of background and cell; None: the training counts.

    Attributes
    ----------
    class_prior_ : (2,) array
    log_density_ : (2, F, bins) array
        Log density of each bin, background (0) and cell (1).
    """

    def __init__(self, bins: int = 64, bandwidth: float = 1.0, priors=None):
        if not 2 <= int(bins) <= 256:
            raise ConfigError(f"KernelNB needs 2-256 bins; got {bins}.")
        self.bins, self.bandwidth, self.priors = int(bins), float(bandwidth), priors
        self.counts_ = None

    def _bin(self, x: np.ndarray, feature: int | slice = slice(None)) -> np.ndarray:
        """Bin index (uint8) of values of ``feature`` (default: samples (N, F) of every feature)."""
        q = (np.asarray(x, np.float32) - self.low_[feature]) * self.scale_[feature]
        np.clip(q, 0, self.bins - 1, out=q)
        return q.astype(np.uint8)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "KernelNB":
        """Fit on samples ``x`` (N, F) with labels ``y`` (N,) in {0, 1}."""
        x = np.asarray(x, np.float32)
        lo, hi = np.percentile(x, [0.1, 99.9], axis=0).astype(np.float32)
        self.low_ = lo
        self.scale_ = (self.bins / np.maximum(hi - lo, 1e-6)).astype(np.float32)
        self.counts_ = np.zeros((2, x.shape[1], self.bins))
        return self.partial_fit(x, y)

    def partial_fit(self, x: np.ndarray, y: np.ndarray) -> "KernelNB":
        """Add samples on the grid of the first fit (the first call fits)."""
        if self.counts_ is None:
            return self.fit(x, y)
        from scipy.ndimage import gaussian_filter1d

        q, y = self._bin(x), np.asarray(y).astype(bool)
        for k, rows in ((0, ~y), (1, y)):
            for i in range(q.shape[1]):
                self.counts_[k, i] += np.bincount(q[rows, i], minlength=self.bins)
        n = self.counts_.sum(axis=2, keepdims=True)
        dens = self.counts_ / np.maximum(n, 1)
        if self.bandwidth > 0:
            dens = gaussian_filter1d(dens, self.bandwidth, axis=2, mode="constant")
        # the same small floor for both classes: a value that neither class has seen is a tie
        self.log_density_ = np.log(dens + 1e-4 / self.bins)
        n = self.counts_[:, 0].sum(axis=1)
        p = np.asarray(self.priors, float) if self.priors is not None else n / n.sum()
        self.class_prior_ = p
        return self

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """log P(cell | f) - log P(background | f) for an (F, Y, X) stack, (Y, X) float32."""
        import cv2

        f = np.asarray(features, np.float32)
        out = np.full(f.shape[1:], np.log(self.class_prior_[1] / self.class_prior_[0]), np.float32)
        table = np.zeros(256, np.float32)
        for i in range(f.shape[0]):
            table[: self.bins] = self.log_density_[1, i] - self.log_density_[0, i]
            out += cv2.LUT(self._bin(f[i], i), table)
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, 2) class probabilities of samples ``x`` (N, F), as scikit-learn."""
        lo = self.log_odds(np.asarray(x, np.float32).T[:, :, None])[:, 0]
        p = 1.0 / (1.0 + np.exp(-np.clip(lo, -80, 80)))
        return np.stack([1 - p, p], axis=1)


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
    kind: str = "gaussian",
):
    """Fit a Naive Bayes classifier (class 1 = cell, 0 = background) on self-labelled pixels.

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
    model : GaussianNB or KernelNB, optional
        Update this model (``partial_fit``) instead of training a new one.
    kind : {"gaussian", "kernel"}
        Class densities: normal (the paper, ``sklearn.naive_bayes.GaussianNB``)
        or :class:`KernelNB`.

    Returns
    -------
    GaussianNB or KernelNB, or None when a class has no pixel.
    """
    if kind not in ("gaussian", "kernel"):
        raise ConfigError(f"classifier kind must be 'gaussian' or 'kernel'; got {kind!r}.")

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
    if kind == "kernel":
        return KernelNB(priors=[1.0 - p, p]).fit(x, y)
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(priors=[1.0 - p, p]).fit(x, y)


def log_odds(features: np.ndarray, model, /) -> np.ndarray:
    """log P(cell | f) - log P(background | f) for every pixel of an (F, Y, X) stack, (Y, X) float32.

    Evaluates the fitted class densities directly on the stack (the same as the
    model's ``predict_proba``, without reshaping millions of rows).
    """
    f = np.asarray(features, np.float32)
    if isinstance(model, KernelNB):
        return model.log_odds(f)
    consts, mus, coefs = [], [], []  # cell class first, then background with the opposite sign
    for k, sign in ((1, 1.0), (0, -1.0)):
        mu = model.theta_[k].astype(np.float32)
        var = model.var_[k].astype(np.float32)
        const = np.log(model.class_prior_[k]) - 0.5 * np.sum(np.log(2 * np.pi * var))
        consts.append(np.float32(sign * const))
        mus.append(mu)
        coefs.append(np.array([np.float32(sign / (2 * var[i])) for i in range(f.shape[0])], np.float32))
    return _gaussian_log_odds(np.ascontiguousarray(f), np.array(consts, np.float32), np.stack(mus), np.stack(coefs))


@njit(nogil=True, boundscheck=False)  # no fastmath: float32 operations in this order
def _gaussian_log_odds(f, consts, mus, coefs):  # pragma: no cover - compiled
    """Per pixel: 0 + c1 - sum_i a1_i (f_i - m1_i)^2 + c0 - sum_i a0_i (f_i - m0_i)^2, in float32."""
    nf, h, w = f.shape
    out = np.zeros((h, w), np.float32)
    for y in range(h):  # row by row, each term over the whole row (the same order per pixel)
        acc = out[y]
        for k in range(2):
            c = consts[k]
            for x in range(w):
                acc[x] += c
            for i in range(nf):
                row = f[i, y]
                m = mus[k, i]
                a = coefs[k, i]
                for x in range(w):
                    d = row[x] - m
                    acc[x] -= a * (d * d)
    return out


def cell_probability(features: np.ndarray, model, /) -> np.ndarray:
    """Posterior probability of *cell* for every pixel, (Y, X) float32."""
    lo = np.clip(log_odds(features, model), -80, 80)
    return (1.0 / (1.0 + np.exp(-lo))).astype(np.float32)


def classify_frame(features: np.ndarray, model, /, *, smoothing: float = 0.0) -> np.ndarray:
    """Pixels of the frame that the classifier calls *cell* (posterior > 0.5), (Y, X) bool.

    Parameters
    ----------
    features : (F, Y, X) float array
    model : fitted GaussianNB or KernelNB, or None (then nothing is cell)
    smoothing : float
        Gaussian sigma (px) applied to the per-pixel log-odds before the decision
        (0 = per-pixel decisions, as the paper): neighbouring pixels vote together.
    """
    if model is None:
        return np.zeros(np.shape(features)[1:], bool)
    lo = log_odds(features, model)
    if smoothing > 0:
        import cv2

        np.clip(lo, -50, 50, out=lo)  # one extreme pixel must not outvote its neighbours
        lo = cv2.GaussianBlur(lo, (0, 0), smoothing)
    return lo > 0
