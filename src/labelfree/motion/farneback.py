"""Farnebaeck optical flow whose polynomial expansions are computed once per frame.

Farnebaeck's method (G. Farnebaeck, "Two-frame motion estimation based on polynomial
expansion", SCIA 2003) fits a quadratic polynomial to every pixel's neighbourhood in both
frames (the *polynomial expansion*), then refines a displacement field from the two fits,
coarse to fine over an image pyramid. OpenCV's ``calcOpticalFlowFarneback`` computes both
frames' expansions on every call, so in a movie each frame is expanded twice, once for
each pair it belongs to. Here a frame's expansions (every pyramid level) are computed once
(:func:`expansion_pyramid`) and a pair's flow is refined from two frames' expansions
(:func:`flow_from_expansions`). The steps are those of OpenCV 4's CPU implementation of the
same method, with float32 arithmetic in the expansion (OpenCV: double):

* each level's image: the frame as float32, smoothed by a 3 x 3 Gaussian at the finest
  level; a coarser level is the previous level scaled by ``pyr_scale`` (area averaging;
  OpenCV smooths the full frame for every level and rescales it);
* the expansion: separable Gaussian-weighted moments (``poly_n``, ``poly_sigma``) turned
  into the polynomial's linear and quadratic coefficients (5 per pixel);
* per iteration: the mean of the two frames' quadratic terms and the difference of their
  linear terms at the displaced position (bilinear), box-averaged over ``winsize``, give
  a 2 x 2 system per pixel whose solution is the new displacement.

The loops are compiled with numba (``nogil``: pairs run in parallel on threads; the compiled
code is cached, see :mod:`labelfree._jit`).
"""

from __future__ import annotations

import functools
import threading

import cv2
import numpy as np

from labelfree._jit import njit
from labelfree.errors import DimensionError, InputError

__all__ = ["BufferPool", "pyramid_sizes", "polynomial_expansion", "expansion_pyramid", "flow_from_expansions"]

#: OpenCV's Farnebaeck stops adding pyramid levels below this side in pixels
_MIN_LEVEL_SIDE = 32
#: weights that fade the equations of the 5-pixel frame border (OpenCV's values)
_BORDER_WEIGHTS = np.array([0.14, 0.14, 0.4472, 0.4472, 0.4472], np.float32)
_jit = functools.partial(njit, nogil=True, fastmath=True, boundscheck=False)
_U = np.uint64  # index type in the compiled loops (see _update_row)


class BufferPool:
    """float32 arrays kept for reuse during one run (thread-safe).

    A frame's expansion is tens of MB (62 MB at 1216 x 1920, 46 MB of it the finest
    level): above glibc's largest mmap threshold, so every fresh one is mapped anew and
    page-faulted on first write, and the page faults of a process's threads wait for one
    another (measured: two threads each writing fresh 46 MB arrays took up to 6x as long
    as one; with reused buffers, as long). Taken buffers come back with :meth:`give`;
    at most ``keep`` of each shape are kept, the pool's memory goes with the pool.
    """

    def __init__(self, keep: int = 8) -> None:
        self._free: dict[tuple[int, ...], list[np.ndarray]] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised float32 array of ``shape``: a returned one when there is one."""
        with self._lock:
            free = self._free.get(tuple(shape))
            if free:
                return free.pop()
        return np.empty(shape, np.float32)

    def give(self, *arrays: np.ndarray) -> None:
        """Return arrays taken from :meth:`take` (nothing may use them afterwards)."""
        with self._lock:
            for a in arrays:
                free = self._free.setdefault(a.shape, [])
                if len(free) < self._keep:
                    free.append(a)


def pyramid_sizes(shape: tuple[int, int], /, *, pyr_scale: float, levels: int) -> list[tuple[int, int]]:
    """(Y, X) of every pyramid level, finest first, as OpenCV's Farnebaeck sizes them."""
    h, w = shape
    sizes = [(h, w)]
    scale = 1.0
    for _ in range(levels):
        scale *= pyr_scale
        if w * scale < _MIN_LEVEL_SIDE or h * scale < _MIN_LEVEL_SIDE:
            break
        sizes.append((int(round(h * scale)), int(round(w * scale))))
    return sizes


@functools.lru_cache(maxsize=32)
def _border_weights(n: int) -> np.ndarray:
    """Weight of each of ``n`` rows (or columns): the border weights at both ends (a row
    near both ends of a short side gets both)."""
    out = np.ones(n, np.float32)
    for i, v in enumerate(_BORDER_WEIGHTS[:n]):
        out[i] *= v
        out[n - 1 - i] *= v
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def _expansion_kernels(poly_n: int, poly_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 1D kernels g, x g, x^2 g (float32, 2n+1 taps) and the four entries of the
    inverse moment matrix that turn the moments into polynomial coefficients."""
    n = poly_n // 2
    x = np.arange(-n, n + 1, dtype=np.float64)
    g = np.exp(-x * x / (2.0 * poly_sigma * poly_sigma))
    g = (g / g.sum()).astype(np.float32)
    xg = (x * g).astype(np.float32)
    xxg = (x * x * g).astype(np.float32)
    gy, gx = np.meshgrid(g.astype(np.float64), g.astype(np.float64), indexing="ij")
    xx = np.broadcast_to(x, gx.shape)
    yy = xx.T
    w = gy * gx
    moments = np.zeros((6, 6))  # basis 1, x, y, x^2, y^2, xy under the Gaussian weight
    moments[0, 0] = w.sum()
    moments[1, 1] = moments[2, 2] = moments[0, 3] = moments[0, 4] = moments[3, 0] = moments[4, 0] = (w * xx**2).sum()
    moments[3, 3] = moments[4, 4] = (w * xx**4).sum()
    moments[5, 5] = moments[3, 4] = moments[4, 3] = (w * xx**2 * yy**2).sum()
    inv = np.linalg.inv(moments)
    return g, xg, xxg, np.array([inv[1, 1], inv[0, 3], inv[3, 3], inv[5, 5]], np.float32)


@_jit
def _poly_exp(src, g, xg, xxg, ig, out):  # pragma: no cover - compiled
    h, w = src.shape
    n = (g.shape[0] - 1) // 2
    # vertical moments of one row (order 0, 1, 2 in y), padded by n on each side
    v0 = np.empty(w + 2 * n, np.float32)
    v1 = np.empty(w + 2 * n, np.float32)
    v2 = np.empty(w + 2 * n, np.float32)
    g0 = g[n]
    un = _U(n)
    for y in range(h):
        row = src[y]
        for xi in range(w):
            x = _U(xi)
            v0[x + un] = row[x] * g0
            v1[x + un] = 0.0
            v2[x + un] = 0.0
        for k in range(1, n + 1):
            above = src[max(y - k, 0)]
            below = src[min(y + k, h - 1)]
            gk = g[n + k]
            xgk = xg[n + k]
            xxgk = xxg[n + k]
            for xi in range(w):
                x = _U(xi)
                s = above[x] + below[x]
                v0[x + un] += gk * s
                v1[x + un] += xgk * (below[x] - above[x])
                v2[x + un] += xxgk * s
        for k in range(n):  # the row's ends repeated (replicated border)
            v0[k] = v0[n]
            v1[k] = v1[n]
            v2[k] = v2[n]
            v0[w + n + k] = v0[w + n - 1]
            v1[w + n + k] = v1[w + n - 1]
            v2[w + n + k] = v2[w + n - 1]
        dst = out[y]
        for xi in range(w):
            x = _U(xi)
            c = x + un
            m1 = v0[c] * g0  # moments: 1, x, y, x^2, y^2, xy
            mx = np.float32(0.0)
            my = v1[c] * g0
            mxx = np.float32(0.0)
            myy = v2[c] * g0
            mxy = np.float32(0.0)
            for ti in range(1, n + 1):
                t = _U(ti)
                gt = g[un + t]
                xgt = xg[un + t]
                s0 = v0[c + t] + v0[c - t]
                m1 += s0 * gt
                mxx += s0 * xxg[un + t]
                mx += (v0[c + t] - v0[c - t]) * xgt
                my += (v1[c + t] + v1[c - t]) * gt
                mxy += (v1[c + t] - v1[c - t]) * xgt
                myy += (v2[c + t] + v2[c - t]) * gt
            dst[x, 0] = my * ig[0]  # linear: y, x
            dst[x, 1] = mx * ig[0]
            dst[x, 2] = m1 * ig[1] + myy * ig[2]  # quadratic: yy, xx, xy
            dst[x, 3] = m1 * ig[1] + mxx * ig[2]
            dst[x, 4] = mxy * ig[3]


@_jit
def _update_row(a, b, f, m, y, w, h, wx, wyy):  # pragma: no cover - compiled
    """Row ``y``'s 2 x 2 systems (G11, G12, G22, h1, h2 per pixel) of the displacement update,
    written to ``m`` (5 w floats); ``a``, ``b``, ``f``: the two expansions and the flow,
    flattened; ``wx``: the border weight of each column, ``wyy``: the row's.

    Indices are unsigned: numba then skips its negative-index handling on every access
    (the same arithmetic, 14 % faster; also in :func:`_iterate`).
    """
    u1, u2, u3, u4, u5 = _U(1), _U(2), _U(3), _U(4), _U(5)
    row5 = _U(w * 5)
    one = np.float32(1.0)
    half = np.float32(0.5)
    xmax = np.float32(w - 1)
    ymax = np.float32(h - 1)
    fy0 = np.float32(y)
    start = _U(y * w)
    for xi in range(w):
        x = _U(xi)
        i = start + x
        dx = f[u2 * i]
        dy = f[u2 * i + u1]
        fx = np.float32(xi) + dx
        fy = fy0 + dy
        j = u5 * i
        if fx >= 0 and fy >= 0 and fx < xmax and fy < ymax:  # all four neighbours inside
            x1 = _U(fx)
            y1 = _U(fy)
            ax = fx - np.float32(x1)
            ay = fy - np.float32(y1)
            w00 = (one - ax) * (one - ay)
            w01 = ax * (one - ay)
            w10 = (one - ax) * ay
            w11 = ax * ay
            p = y1 * row5 + x1 * u5  # the neighbour above left; + 5: right, + row5: below
            q = p + row5
            p5 = p + u5
            q5 = q + u5
            ly = w00 * b[p] + w01 * b[p5] + w10 * b[q] + w11 * b[q5]
            lx = w00 * b[p + u1] + w01 * b[p5 + u1] + w10 * b[q + u1] + w11 * b[q5 + u1]
            qyy = (a[j + u2] + w00 * b[p + u2] + w01 * b[p5 + u2] + w10 * b[q + u2] + w11 * b[q5 + u2]) * half
            qxx = (a[j + u3] + w00 * b[p + u3] + w01 * b[p5 + u3] + w10 * b[q + u3] + w11 * b[q5 + u3]) * half
            qxy = (a[j + u4] + w00 * b[p + u4] + w01 * b[p5 + u4] + w10 * b[q + u4]
                   + w11 * b[q5 + u4]) * np.float32(0.25)
        else:  # displaced outside the frame: the first frame's fit alone
            ly = np.float32(0.0)
            lx = np.float32(0.0)
            qyy = a[j + u2]
            qxx = a[j + u3]
            qxy = a[j + u4] * half
        s = wyy * wx[x]
        ey = ((a[j] - ly) * half + qyy * dy + qxy * dx) * s
        ex = ((a[j + u1] - lx) * half + qxy * dy + qxx * dx) * s
        qyy *= s
        qxx *= s
        qxy *= s
        o = u5 * x
        m[o] = qyy * qyy + qxy * qxy
        m[o + u1] = (qyy + qxx) * qxy
        m[o + u2] = qxx * qxx + qxy * qxy
        m[o + u3] = qyy * ey + qxy * ex
        m[o + u4] = qxy * ey + qxx * ex


@_jit
def _iterate(r0, r1, flow, wx, wy, winsize):  # pragma: no cover - compiled
    """One Farnebaeck iteration in place: every pixel's system at its current displacement,
    box-averaged over ``winsize`` x ``winsize`` (replicated border; running sums in float64,
    as OpenCV, of the float32 row differences), solved for the new displacement.

    The systems are computed one row at a time, just before the box first needs them, into
    a ring of the 2 (winsize // 2) + 2 rows y - r - 1 .. y + r, so the frame's systems are
    never held at once. Row y's new displacement is written after the systems of rows up to
    y + winsize // 2 were computed from the old ones, so the result is that of computing
    all systems first.
    """
    u1, u2, u3, u4, u5 = _U(1), _U(2), _U(3), _U(4), _U(5)
    h, w = flow.shape[:2]
    r = winsize // 2
    n_ring = 2 * r + 2
    scale = 1.0 / (winsize * winsize)
    row5 = w * 5
    ring = np.empty((n_ring, row5), np.float32)
    a = r0.reshape(-1)
    b = r1.reshape(-1)
    f = flow.reshape(-1)
    pad = (r + 1) * 5
    span = _U(5 * (2 * r + 1))
    done = min(r, h)  # the systems of rows 0 .. done - 1 first: the window of row -1 uses them
    for y in range(done):
        _update_row(a, b, f, ring[y % n_ring], y, w, h, wx, wy[y])
    col = np.zeros(row5 + 2 * pad, np.float64)  # vertical sums of rows y-r..y, padded
    for y in range(-r, r + 1):  # the window of row -1 (the first step moves it to row 0)
        src = ring[min(max(y - 1, 0), h - 1) % n_ring]
        for x in range(row5):
            col[pad + x] += src[x]
    for y in range(h):
        add = min(y + r, h - 1)
        if add >= done:  # its flow row is still the old one: rows below y + r are not written yet
            _update_row(a, b, f, ring[add % n_ring], add, w, h, wx, wy[add])
            done = add + 1
        new = ring[add % n_ring]
        old = ring[max(y - r - 1, 0) % n_ring]
        inner = col[pad : pad + row5]
        for x in range(row5):
            inner[x] += new[x] - old[x]
        for k in range(r + 1):
            for c in range(5):
                col[pad - 5 * (k + 1) + c] = col[pad + c]
                col[pad + row5 + 5 * k + c] = col[pad + row5 - 5 + c]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        for k in range(-r - 1, r):  # the window of column -1
            j = pad + 5 * k
            s0 += col[j]
            s1 += col[j + 1]
            s2 += col[j + 2]
            s3 += col[j + 3]
            s4 += col[j + 4]
        out = _U(y * w * 2)
        for xi in range(w):
            o = u5 * _U(xi)  # pad + 5 (x - r - 1): leaves the window of column x
            e = o + span  # pad + 5 (x + r): enters it
            s0 += col[e] - col[o]
            s1 += col[e + u1] - col[o + u1]
            s2 += col[e + u2] - col[o + u2]
            s3 += col[e + u3] - col[o + u3]
            s4 += col[e + u4] - col[o + u4]
            g11 = s0 * scale
            g12 = s1 * scale
            g22 = s2 * scale
            h1 = s3 * scale
            h2 = s4 * scale
            idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3)
            at = out + u2 * _U(xi)
            f[at] = (g11 * h2 - g12 * h1) * idet
            f[at + u1] = (g22 * h1 - g12 * h2) * idet


def polynomial_expansion(image: np.ndarray, /, *, poly_n: int = 5, poly_sigma: float = 1.1,
                         out: np.ndarray | None = None) -> np.ndarray:
    """Farnebaeck's quadratic fit of every pixel's neighbourhood.

    Parameters
    ----------
    image : (Y, X) array
        One image (any real dtype; used as float32, as it is: no smoothing).
    poly_n : int
        Neighbourhood side (odd, e.g. 5 or 7).
    poly_sigma : float
        Sigma of the Gaussian weight of the fit.
    out : (Y, X, 5) float32 array, optional
        Where to write the result.

    Returns
    -------
    (Y, X, 5) float32 array: the linear coefficients in y and x, then the quadratic ones in
    yy, xx and xy (the image border replicated).
    """
    src = np.ascontiguousarray(image, dtype=np.float32)
    if src.ndim != 2:
        raise DimensionError(f"polynomial_expansion needs one (Y, X) image; got shape {src.shape}.")
    if out is None:
        out = np.empty(src.shape + (5,), np.float32)
    elif out.shape != src.shape + (5,) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise InputError(f"out must be a C-contiguous float32 array of shape {src.shape + (5,)}.")
    g, xg, xxg, ig = _expansion_kernels(int(poly_n), float(poly_sigma))
    _poly_exp(src, g, xg, xxg, ig, out)
    return out


def expansion_pyramid(frame: np.ndarray, /, *, pyr_scale: float, levels: int, poly_n: int,
                      poly_sigma: float, pool: BufferPool | None = None) -> tuple[np.ndarray, ...]:
    """The polynomial expansion of ``frame`` at every pyramid level, finest first.

    The finest level is the frame smoothed by a 3 x 3 Gaussian; each coarser level is the
    previous one scaled by ``pyr_scale`` (area averaging), while both sides stay >= 32 px.
    Memory: 5 float32 per pixel at the finest level, about 27 bytes per pixel in all.
    With a ``pool``, the arrays are taken from it (give them back when done).
    """
    image = cv2.GaussianBlur(np.asarray(frame, dtype=np.float32), (3, 3), 0)
    out = []
    for k, (h, w) in enumerate(pyramid_sizes(image.shape, pyr_scale=pyr_scale, levels=levels)):
        if k:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        buf = pool.take((h, w, 5)) if pool is not None else None
        out.append(polynomial_expansion(image, poly_n=poly_n, poly_sigma=poly_sigma, out=buf))
    return tuple(out)


def flow_from_expansions(first: tuple[np.ndarray, ...], second: tuple[np.ndarray, ...], /, *, pyr_scale: float,
                         winsize: int, iterations: int, fine_iterations: int | None = None) -> np.ndarray:
    """Farnebaeck flow from ``first`` to ``second`` (their :func:`expansion_pyramid`).

    Parameters
    ----------
    first, second : tuple of (Y, X, 5) arrays
        Expansion pyramids of the same size and depth.
    pyr_scale, winsize, iterations : as ``cv2.calcOpticalFlowFarneback``
    fine_iterations : int, optional
        Iterations at the finest level (default: ``iterations``).

    Returns
    -------
    (Y, X, 2) float32 array of (dx, dy): ``first``'s pixel (y, x) is found at
    (y + dy, x + dx) in ``second``.
    """
    if len(first) != len(second) or any(a.shape != b.shape for a, b in zip(first, second)):
        raise DimensionError("flow_from_expansions: the two pyramids differ in size; expand both frames alike.")
    flow = None
    for k in range(len(first) - 1, -1, -1):
        r0, r1 = first[k], second[k]
        h, w = r0.shape[:2]
        if flow is None:
            flow = np.zeros((h, w, 2), np.float32)
        else:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
            flow *= np.float32(1.0 / pyr_scale)
        wx, wy = _border_weights(w), _border_weights(h)
        for _ in range(iterations if k or fine_iterations is None else fine_iterations):
            _iterate(r0, r1, flow, wx, wy, winsize)
    return flow
