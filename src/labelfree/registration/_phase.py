"""Translation measurement by phase correlation, with peak checking and sub-pixel refinement.

The steps follow what Fiji's stitching library does (phase correlation, several
peaks each verified by normalised cross-correlation of the overlapping pixels)
and add sub-pixel refinement by an upsampled matrix DFT around the chosen peak
(Guizar-Sicairos et al., Opt. Lett. 2008), the method behind
``skimage.registration.phase_cross_correlation``.

Sign convention used everywhere in :mod:`labelfree.registration`: the shift of
``moving`` relative to ``reference`` is the displacement ``s`` of its content,
``moving[p + s] ≈ reference[p]``. scikit-image returns ``-s`` (the shift to
apply to ``moving``).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import fft as sfft

__all__ = ["PairShift", "spectrum", "prepare", "edge_taper", "bandpass_weights", "measure_shift", "overlap_ncc",
           "ncc_map", "shift_limits", "chance_ncc", "climb_ncc", "refine_on_overlap", "normalization_of",
           "subpixel_shift"]


@dataclass(frozen=True)
class PairShift:
    """Result of one pairwise measurement: ``shift`` (pixels, per axis) and its NCC."""

    shift: tuple[float, ...]
    ncc: float


def spectrum(image: np.ndarray, /) -> np.ndarray:
    """Real FFT (``scipy.fft.rfftn``) of an n-D image after removing its mean (complex64)."""
    data = np.asarray(image, dtype=np.float32)
    return sfft.rfftn(data - np.float32(data.mean()), workers=-1)


def edge_taper(shape: Sequence[int], /, *, fraction: float = 0.1) -> np.ndarray:
    """Separable Tukey window: 1 inside, cosine roll-off over ``fraction`` of each axis at both ends.

    Tapering the frame edges removes the edge discontinuity of the periodic FFT,
    a feature that sits still in every frame and pulls shifts towards zero.
    """
    taper = np.ones(tuple(shape), dtype=np.float32)
    for axis, n in enumerate(shape):
        width = int(round(fraction * n))
        ramp = np.ones(n, dtype=np.float32)
        if width > 0:
            edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(width) + 0.5) / width)
            ramp[:width] = edge
            ramp[n - width:] = edge[::-1]
        view = [1] * len(shape)
        view[axis] = n
        taper *= ramp.reshape(view)
    return taper


def prepare(
    image: np.ndarray, /, *, weights: np.ndarray | None = None, taper: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass an image once for repeated matching: ``(filtered image, its spectrum)``.

    The image is mean-subtracted, multiplied by ``taper`` (see :func:`edge_taper`) and
    filtered with the Fourier ``weights``; without either it is only mean-subtracted.
    """
    data = np.asarray(image, dtype=np.float32)
    data = data - np.float32(data.mean())
    if taper is not None:
        data = data * taper
    spec = sfft.rfftn(data, workers=-1)
    if weights is None:
        return data, spec
    spec = spec * weights
    return sfft.irfftn(spec, s=data.shape, workers=-1), spec


def bandpass_weights(shape: Sequence[int], /, *, low_sigma: float, high_sigma: float | None) -> np.ndarray:
    """Fourier weights of a band-pass (Gaussian smoothing minus Gaussian background).

    ``low_sigma`` suppresses pixel noise, ``high_sigma`` (pixels) removes the
    background and the slow shading that otherwise pulls phase correlation to
    zero shift. Shape is that of :func:`spectrum`'s output.
    """
    freqs = [sfft.fftfreq(n) for n in shape[:-1]] + [sfft.rfftfreq(shape[-1])]
    grids = np.meshgrid(*freqs, indexing="ij", sparse=True)
    f2 = sum(g.astype(np.float32) ** 2 for g in grids)
    weights = np.exp(-2.0 * math.pi**2 * low_sigma**2 * f2) if low_sigma > 0 else np.ones_like(f2)
    if high_sigma:
        weights = weights * (1.0 - np.exp(-2.0 * math.pi**2 * high_sigma**2 * f2))
    return weights.astype(np.float32)


def _overlap_slices(shape: Sequence[int], shift: Sequence[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Slices of ``reference`` and ``moving`` that hold the same content at integer ``shift``; None if empty."""
    ref_sl, mov_sl = [], []
    for s, n in zip(shift, shape):
        s = int(s)
        if abs(s) >= n:
            return None
        ref_sl.append(slice(max(0, -s), n - max(0, s)))
        mov_sl.append(slice(max(0, s), n + min(0, s)))
    return tuple(ref_sl), tuple(mov_sl)


def overlap_ncc(reference: np.ndarray, moving: np.ndarray, shift: Sequence[int], /) -> tuple[float, int]:
    """Normalised cross-correlation of the pixels that overlap at integer ``shift``.

    Returns ``(ncc, n_pixels)``; ncc is 0 when the overlap is empty or flat.
    """
    slices = _overlap_slices(reference.shape, shift)
    if slices is None:
        return 0.0, 0
    a = np.asarray(reference[slices[0]], dtype=np.float64)
    b = np.asarray(moving[slices[1]], dtype=np.float64)
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return (float((a * b).sum()) / den if den > 0 else 0.0), int(a.size)


def shift_limits(shape: Sequence[int], max_shift: Sequence[int] | None = None, /) -> list[int]:
    """Largest shift searched per axis: ``max_shift`` (at most half the axis less one), else a third of it."""
    wanted = list(max_shift) if max_shift is not None else [None] * len(shape)
    return [max(0, n // 3 if m is None else min(int(m), n // 2 - 1)) for m, n in zip(wanted, shape)]


def _range_sums(image: np.ndarray, limits: Sequence[int], *, moving: bool) -> np.ndarray:
    """Sum of ``image`` over its part of the overlap at every integer shift within ``±limits``.

    The overlap of ``reference`` at shift ``s`` is ``[max(0, -s), n - max(0, s))`` per axis and that of
    ``moving`` is ``[max(0, s), n + min(0, s))`` (see :func:`_overlap_slices`); the rectangle is a product
    of ranges, so the sums are differences of cumulative sums, one axis after the other.
    """
    out = np.asarray(image, dtype=np.float64)
    for axis, (n, lim) in enumerate(zip(image.shape, limits)):
        s = np.arange(-lim, lim + 1)
        lo = np.maximum(0, s) if moving else np.maximum(0, -s)
        hi = n + np.minimum(0, s) if moving else n - np.maximum(0, s)
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 0)
        c = np.pad(np.cumsum(out, axis=axis), pad)
        out = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
    return out


def ncc_map(reference: np.ndarray, moving: np.ndarray, limits: Sequence[int], /) -> np.ndarray:
    """:func:`overlap_ncc` at every integer shift within ``±limits`` (same-shape images), computed with FFTs.

    Element ``[s + limits]`` is the normalised cross-correlation of the pixels that overlap at shift ``s``
    (``moving[p + s]`` against ``reference[p]``, no wrap-around); 0 where the overlap is flat. The sums over
    each overlap come from cumulative sums, the cross term from one zero-padded correlation (masked NCC,
    Padfield, IEEE TIP 2012, for rectangular masks).
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()  # NCC is blind to offsets; centring keeps the sums well conditioned
    limits = [int(v) for v in limits]
    fast = [sfft.next_fast_len(n + lim, real=True) for n, lim in zip(a.shape, limits)]
    sab = sfft.irfftn(np.conj(sfft.rfftn(a, fast, workers=-1)) * sfft.rfftn(b, fast, workers=-1), fast, workers=-1)
    sab = sab[np.ix_(*[np.arange(-lim, lim + 1) % f for lim, f in zip(limits, fast)])]
    count = functools.reduce(np.multiply.outer, [n - np.abs(np.arange(-lim, lim + 1)) for n, lim in
                                                 zip(a.shape, limits)]).astype(np.float64)
    sa, sb = _range_sums(a, limits, moving=False), _range_sums(b, limits, moving=True)
    var_a = _range_sums(a * a, limits, moving=False) - sa * sa / count
    var_b = _range_sums(b * b, limits, moving=True) - sb * sb / count
    den = np.sqrt(np.maximum(var_a, 0.0) * np.maximum(var_b, 0.0))
    flat = den <= 1e-9 * math.sqrt(float((a * a).sum()) * float((b * b).sum()))  # rounding noise of a flat overlap
    return np.where(flat, 0.0, (sab - sa * sb / count) / np.where(flat, 1.0, den))


_TIE = 1e-9  # overlap NCCs closer than this are equal: their rounding differs, not the images


def _norm(shift: Sequence[float]) -> float:
    return float(sum(v * v for v in shift))


def argmax_nearest(values: np.ndarray, zero: Sequence[float], /) -> tuple[int, ...]:
    """Index of the largest finite value of ``values``; of the values equal to it within rounding (a
    millionth of the map's range), the one nearest the index ``zero`` (where the shift is 0).

    A correlation flat along an axis (identical Z slices, a featureless direction) says nothing about
    the shift there: taking the first maximum would report the most negative shift, and a drift
    accumulated from it would walk one step per frame."""
    finite = np.isfinite(values)
    top = float(values[finite].max())
    tol = 1e-6 * (top - float(values[finite].min()))
    near = np.argwhere(finite & (values >= top - tol))
    dist = ((near - np.asarray(zero, dtype=np.float64)) ** 2).sum(axis=1)
    return tuple(int(i) for i in near[int(np.argmin(dist))])


def _top_peaks(corr: np.ndarray, limits: Sequence[int], n_peaks: int) -> list[tuple[int, ...]]:
    """Integer shifts of the ``n_peaks`` highest local maxima within ``±limits``."""
    shifted = np.fft.fftshift(corr)
    centre = [n // 2 for n in corr.shape]
    window = tuple(slice(c - lim, c + lim + 1) for c, lim in zip(centre, limits))
    region = shifted[window].astype(np.float64, copy=True)
    origin = [c - lim for c, lim in zip(centre, limits)]
    peaks = []
    for _ in range(n_peaks):
        if not np.isfinite(region).any():
            break
        idx = argmax_nearest(region, limits)
        peaks.append(tuple(int(i + o - c) for i, o, c in zip(idx, origin, centre)))
        region[tuple(slice(max(0, i - 2), i + 3) for i in idx)] = -np.inf
    return peaks


def _upsampled_peak(cross: np.ndarray, shape: Sequence[int], shift: Sequence[int], upsample: int) -> np.ndarray:
    """Refine an integer correlation peak to 1/upsample pixel with a matrix DFT."""
    size = int(math.ceil(1.5 * upsample))
    centre = size // 2
    steps = (np.arange(size) - centre) / upsample
    out = cross
    ndim = len(shape)
    for axis in range(ndim - 1, -1, -1):
        n = shape[axis]
        k = np.arange(out.shape[axis]) if axis == ndim - 1 else sfft.fftfreq(n, 1.0 / n)
        x = shift[axis] + steps
        kernel = np.exp(2j * math.pi * np.outer(x, k) / n)
        if axis == ndim - 1:  # half spectrum: count the mirrored frequencies twice
            w = np.full(k.shape, 2.0)
            w[0] = 1.0
            if n % 2 == 0:
                w[-1] = 1.0
            kernel = kernel * w
        out = np.moveaxis(np.tensordot(out, kernel, axes=([axis], [1])), -1, axis)
    values = out.real
    idx = argmax_nearest(values, [centre - s * upsample for s in shift])
    return np.array([s + (i - centre) / upsample for s, i in zip(shift, idx)])


def climb_ncc(reference, moving, peak, score, limits, max_steps: int = 8):
    """Hill-climb the overlap NCC over integer neighbours of ``peak`` (within ``limits``)."""
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=len(peak)) if any(o)]
    seen = {peak: score}
    for _ in range(max_steps):
        best = (score, peak)
        for o in offsets:
            cand = tuple(p + d for p, d in zip(peak, o))
            if cand in seen or any(abs(c) > lim for c, lim in zip(cand, limits)):
                continue
            value = seen[cand] = overlap_ncc(reference, moving, cand)[0]
            if value > best[0] + 1e-12:
                best = (value, cand)
        if best[1] == peak:
            break
        score, peak = best
    return score, peak


def measure_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    /,
    *,
    spectra: tuple[np.ndarray, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
    max_shift: Sequence[int] | None = None,
    n_peaks: int = 5,
    upsample: int = 1,
    normalization: str | None = None,
    polish: bool = False,
) -> PairShift:
    """Shift of ``moving``'s content relative to ``reference`` (same shape, n-D).

    Parameters
    ----------
    reference, moving : ndarray
        Images of identical shape (any dims; pixels).
    spectra : (ndarray, ndarray), optional
        Their :func:`spectrum` outputs when already computed (streaming reuse).
    weights : ndarray, optional
        :func:`bandpass_weights` applied to the cross-power spectrum.
    max_shift : sequence of int, optional
        Largest shift considered per axis (pixels); default a third of each axis.
    n_peaks : int
        Correlation peaks checked by overlap NCC; the best one wins (Fiji: 5).
    upsample : int
        Sub-pixel precision 1/upsample (1 = integer shifts).
    normalization : {"phase", None}
        Phase correlation (whitened spectrum) or plain cross-correlation.
    polish : bool
        Move the chosen integer peak to the neighbouring shift of highest overlap NCC
        (hill climbing on the pixels of ``reference`` and ``moving``).

    Returns
    -------
    PairShift
        ``shift`` per axis in pixels (``moving[p + shift] ≈ reference[p]``) and its NCC.
    """
    shape = reference.shape
    fa, fb = spectra if spectra is not None else (spectrum(reference), spectrum(moving))
    cross = np.conj(fa) * fb
    if normalization == "phase":
        cross /= np.maximum(np.abs(cross), np.float32(1e-20))
    if weights is not None:
        cross *= weights
    corr = sfft.irfftn(cross, s=shape, workers=-1)
    limits = shift_limits(shape, max_shift)
    best: tuple[float, tuple[int, ...]] | None = None
    for peak in _top_peaks(corr, limits, n_peaks):
        score, _ = overlap_ncc(reference, moving, peak)
        if best is None or score > best[0] + _TIE or (score >= best[0] - _TIE and _norm(peak) < _norm(best[1])):
            best = (score, peak)
    if best is None:
        return PairShift(tuple(0.0 for _ in shape), 0.0)
    score, peak = best
    if polish:
        score, peak = climb_ncc(reference, moving, peak, score, limits)
    if upsample > 1:
        refined = _upsampled_peak(cross, shape, peak, upsample)
        return PairShift(tuple(float(v) for v in refined), score)
    return PairShift(tuple(float(v) for v in peak), score)


def chance_ncc(
    reference: np.ndarray,
    moving: np.ndarray,
    /,
    *,
    spectra: tuple[np.ndarray, np.ndarray] | None = None,
    max_shift: Sequence[int] | None = None,
    n_peaks: int = 5,
    normalization: str | None = None,
) -> float:
    """The NCC :func:`measure_shift` finds between ``reference`` and ``moving`` turned by 180°.

    The turned image has the same intensities, texture and noise but no true match, so this is the
    score a search over the same shifts reaches by chance; a match that is not clearly better is no
    measurement. Costs one inverse FFT and the peak checks: the turned image's spectrum is the
    complex conjugate of ``moving``'s (the turn is the circular reflection ``p -> -p``).
    """
    fa, fb = spectra if spectra is not None else (spectrum(reference), spectrum(moving))
    turned = np.roll(np.flip(np.asarray(moving)), 1, axis=tuple(range(moving.ndim)))
    return measure_shift(reference, turned, spectra=(fa, np.conj(fb)), max_shift=max_shift, n_peaks=n_peaks,
                         normalization=normalization).ncc


@functools.lru_cache(maxsize=4)
def _filters(shape: tuple[int, ...], low_sigma: float, high_sigma: float | None,
             taper: float) -> tuple[tuple[int, ...], np.ndarray, np.ndarray | None]:
    """For images of ``shape``: the FFT size (padded to a fast length: an overlap of 1021 px costs
    three times one of 1024), its band-pass weights and the edge taper. Cached: the overlaps of a
    steady drift share their shape."""
    fast = tuple(sfft.next_fast_len(int(n), real=True) for n in shape)
    weights = bandpass_weights(fast, low_sigma=low_sigma, high_sigma=high_sigma)
    return fast, weights, (edge_taper(shape, fraction=taper) if taper > 0 else None)


def _padded_spectrum(image: np.ndarray, fast: tuple[int, ...], weights: np.ndarray,
                     taper: np.ndarray | None) -> np.ndarray:
    """:func:`prepare`'s spectrum, zero-padded to ``fast`` after the taper."""
    data = np.asarray(image, dtype=np.float32)
    data = data - np.float32(data.mean())
    if taper is not None:
        data = data * taper
    return sfft.rfftn(data, s=fast, workers=-1) * weights


def refine_on_overlap(
    reference: np.ndarray,
    moving: np.ndarray,
    shift: Sequence[float],
    /,
    *,
    upsample: int,
    low_sigma: float,
    high_sigma: float | None,
    taper: float,
    normalization: str | None = None,
) -> tuple[float, ...]:
    """Sub-pixel ``shift`` measured again on the part both images share at its rounded value.

    A correlation of two whole frames counts, at each trial shift, only the content that
    overlaps there (and an edge taper that stays still while the content moves): its
    peak sits short of the true shift by a few per cent of it (0.25 px at 5 px on a
    smooth texture). Cut to the pixels they share at the rounded shift, the two images
    hold the same content within a pixel, each with its own taper and band-pass, so only
    the sub-pixel remainder is measured and the pull towards zero shrinks with it. A
    remainder of more than half a pixel moves the cut once more.

    ``reference`` and ``moving`` are the unfiltered images (same shape);
    ``low_sigma``, ``high_sigma``, ``taper`` and ``normalization`` as for the first
    measurement. Returns the refined shift (``moving[p + shift] ≈ reference[p]``).
    """
    whole = tuple(int(v) for v in np.round(np.asarray(shift, dtype=float)))
    refined = np.asarray(shift, dtype=float)
    for _ in range(2):
        slices = _overlap_slices(reference.shape, whole)
        if slices is None or min(sl.stop - sl.start for sl in slices[0]) < 8:
            return tuple(float(v) for v in refined)
        a, b = reference[slices[0]], moving[slices[1]]
        fast, weights, window = _filters(a.shape, float(low_sigma), high_sigma, float(taper))
        fa, fb = (_padded_spectrum(img, fast, weights, window) for img in (a, b))
        cross = np.conj(fa) * fb
        if normalization == "phase":
            cross /= np.maximum(np.abs(cross), np.float32(1e-20))
        refined = np.asarray(whole, dtype=float) + _upsampled_peak(cross, fast, [0] * a.ndim, upsample)
        rounded = tuple(int(v) for v in np.round(refined))
        if rounded == whole:
            break
        whole = rounded
    return tuple(float(v) for v in refined)


def normalization_of(config: Any, /) -> str | None:
    """``measure_shift``'s ``normalization`` for a drift or stitch config (``"none"`` -> None)."""
    return None if config.normalization == "none" else "phase"


def subpixel_shift(reference: np.ndarray, moving: np.ndarray, shift: Sequence[float], config: Any, /
                   ) -> tuple[float, ...]:
    """The whole-pixel ``shift`` refined by :func:`refine_on_overlap` with a drift or stitch config's
    matching settings when its ``subpixel`` is on (and ``upsample`` above 1); else as it is."""
    if not config.subpixel or config.upsample <= 1:
        return tuple(float(v) for v in shift)
    return refine_on_overlap(reference, moving, shift, upsample=int(config.upsample), low_sigma=config.low_sigma,
                             high_sigma=config.high_sigma, taper=config.taper, normalization=normalization_of(config))
