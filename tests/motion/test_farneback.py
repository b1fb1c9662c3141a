"""labelfree's Farnebaeck flow (each frame expanded once): the expansion's meaning, known
shifts, agreement with OpenCV's call, thread safety and its use by segment."""

from __future__ import annotations

import concurrent.futures

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree import motion
from labelfree.motion import MotionConfig
from labelfree.motion.farneback import (_border_weights, _iterate, expansion_pyramid, flow_from_expansions,
                                        polynomial_expansion, pyramid_sizes)


def _textured(shape, seed=0, sigma=2.0):
    rng = np.random.default_rng(seed)
    img = ndi.gaussian_filter(rng.random(shape), sigma)
    return (255 * (img - img.min()) / np.ptp(img)).astype(np.uint8)


def _shifted(img, dy, dx):
    """``img`` moved by (dy, dx) px (bilinear, content moves towards +y, +x)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, img.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _iteration_reference(r0, r1, flow, winsize):
    """One Farnebaeck iteration written plainly: every pixel's system from the old flow first
    (float64), then the box average (replicated border) and the 2 x 2 solve."""
    h, w = flow.shape[:2]
    a, b = r0.astype(np.float64), r1.astype(np.float64)
    dx, dy = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    fx, fy = xx + dx, yy + dy
    inside = (fx >= 0) & (fy >= 0) & (fx < w - 1) & (fy < h - 1)
    x1 = np.where(inside, np.floor(fx), 0).astype(int)
    y1 = np.where(inside, np.floor(fy), 0).astype(int)
    ax, ay = (fx - x1)[..., None], (fy - y1)[..., None]
    x2, y2 = np.minimum(x1 + 1, w - 1), np.minimum(y1 + 1, h - 1)
    bi = ((1 - ax) * (1 - ay) * b[y1, x1] + ax * (1 - ay) * b[y1, x2] + (1 - ax) * ay * b[y2, x1]
          + ax * ay * b[y2, x2])
    ly, lx = np.where(inside, bi[..., 0], 0), np.where(inside, bi[..., 1], 0)
    qyy = np.where(inside, (a[..., 2] + bi[..., 2]) / 2, a[..., 2])
    qxx = np.where(inside, (a[..., 3] + bi[..., 3]) / 2, a[..., 3])
    qxy = np.where(inside, (a[..., 4] + bi[..., 4]) / 4, a[..., 4] / 2)
    s = np.outer(_border_weights(h), _border_weights(w)).astype(np.float64)
    ey = ((a[..., 0] - ly) / 2 + qyy * dy + qxy * dx) * s
    ex = ((a[..., 1] - lx) / 2 + qxy * dy + qxx * dx) * s
    qyy, qxx, qxy = qyy * s, qxx * s, qxy * s
    m = np.stack([qyy * qyy + qxy * qxy, (qyy + qxx) * qxy, qxx * qxx + qxy * qxy,
                  qyy * ey + qxy * ex, qxy * ey + qxx * ex], axis=-1)
    r = winsize // 2
    padded = np.pad(m, ((r, r), (r, r), (0, 0)), mode="edge")
    box = sum(padded[i : i + h, j : j + w] for i in range(2 * r + 1) for j in range(2 * r + 1)) / winsize**2
    g11, g12, g22, h1, h2 = np.moveaxis(box, -1, 0)
    idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3)
    return np.stack([(g11 * h2 - g12 * h1) * idet, (g22 * h1 - g12 * h2) * idet], axis=-1)


@pytest.mark.parametrize("shape", [(37, 29), (6, 40), (3, 3), (64, 5)])
@pytest.mark.parametrize("winsize", [15, 5])
def test_one_iteration_in_place_equals_systems_first(shape, winsize):
    """The in-place iteration (systems of a ring of rows, each row's displacement overwritten
    as soon as it is solved) gives what computing every system from the old flow first gives,
    also on frames shorter than the window and with displacements that leave the frame."""
    rng = np.random.default_rng(sum(shape) + winsize)
    r0 = polynomial_expansion(_textured(shape, seed=1).astype(np.float32))
    r1 = polynomial_expansion(_textured(shape, seed=2).astype(np.float32))
    flow = rng.normal(0, 1.5, shape + (2,)).astype(np.float32)
    flow[0, 0] = (-3, 0)  # displaced outside the frame
    expected = _iteration_reference(r0, r1, flow, winsize)
    _iterate(r0, r1, flow, _border_weights(shape[1]), _border_weights(shape[0]), winsize)
    np.testing.assert_allclose(flow, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_expansion_of_a_quadratic_gives_its_local_coefficients():
    """On f = c + by y + bx x + ayy y^2 + axx x^2 + axy x y the weighted fit is exact: at (y0, x0)
    the local linear terms are by + 2 ayy y0 + axy x0 and bx + 2 axx x0 + axy y0."""
    y, x = np.mgrid[0:40, 0:50].astype(np.float64)
    c, by, bx, ayy, axx, axy = 3.0, 0.7, -1.2, 0.05, -0.03, 0.02
    f = c + by * y + bx * x + ayy * y**2 + axx * x**2 + axy * x * y
    for poly_n, poly_sigma in ((5, 1.1), (7, 1.5)):
        r = polynomial_expansion(f, poly_n=poly_n, poly_sigma=poly_sigma)
        inner = (slice(5, -5), slice(5, -5))
        np.testing.assert_allclose(r[..., 0][inner], (by + 2 * ayy * y + axy * x)[inner], atol=2e-3)
        np.testing.assert_allclose(r[..., 1][inner], (bx + 2 * axx * x + axy * y)[inner], atol=2e-3)
        np.testing.assert_allclose(r[..., 2][inner], ayy, atol=5e-5)  # float32 on values up to ~200
        np.testing.assert_allclose(r[..., 3][inner], axx, atol=5e-5)
        np.testing.assert_allclose(r[..., 4][inner], axy, atol=5e-5)


def test_expansion_matches_separable_gaussian_moments_with_replicated_border():
    """Every coefficient is a separable Gaussian-weighted moment (replicated border) times the
    inverse moment matrix: an independent float64 computation with OpenCV's filters."""
    img = _textured((37, 53), seed=3).astype(np.float32)
    n, sigma = 2, 1.1
    k = np.arange(-n, n + 1, dtype=np.float64)
    g = np.exp(-k**2 / (2 * sigma**2))
    g /= g.sum()

    def mom(ky, kx):
        return cv2.sepFilter2D(img.astype(np.float64), cv2.CV_64F, kx, ky, borderType=cv2.BORDER_REPLICATE)

    s2 = (g * k**2).sum()  # the moments of the 2D Gaussian weight
    s4 = (g * k**4).sum()
    moments = np.zeros((6, 6))
    moments[0, 0] = 1
    moments[1, 1] = moments[2, 2] = moments[0, 3] = moments[0, 4] = moments[3, 0] = moments[4, 0] = s2
    moments[3, 3] = moments[4, 4] = s4
    moments[5, 5] = moments[3, 4] = moments[4, 3] = s2 * s2
    stack = np.stack([mom(g, g), mom(g, k * g), mom(k * g, g), mom(g, k * k * g), mom(k * k * g, g), mom(k * g, k * g)])
    coef = np.einsum("ij,jyx->iyx", np.linalg.inv(moments), stack)  # 1, x, y, xx, yy, xy
    r = polynomial_expansion(img, poly_n=5, poly_sigma=sigma)
    for i, j in enumerate((2, 1, 4, 3, 5)):
        np.testing.assert_allclose(r[..., i], coef[j], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shift", [(1.5, -2.25), (0.3, 0.6), (-4.0, 3.5)])
def test_flow_from_expansions_recovers_subpixel_shifts(shift):
    a = _textured((160, 200), seed=1, sigma=3)
    b = _shifted(a, *shift)
    kw = dict(pyr_scale=0.5, levels=3, poly_n=5, poly_sigma=1.1)
    flow = flow_from_expansions(expansion_pyramid(a, **kw), expansion_pyramid(b, **kw), pyr_scale=0.5,
                                winsize=15, iterations=3)
    inner = flow[30:-30, 30:-30]
    assert np.median(inner[..., 1]) == pytest.approx(shift[0], abs=0.1)
    assert np.median(inner[..., 0]) == pytest.approx(shift[1], abs=0.1)
    # as close to the truth as OpenCV's own call on the same pair
    ref = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.1, 0)[30:-30, 30:-30]
    truth = np.array([shift[1], shift[0]], np.float32)
    ours_err = np.median(np.linalg.norm(inner - truth, axis=-1))
    cv_err = np.median(np.linalg.norm(ref - truth, axis=-1))
    assert ours_err <= cv_err + 0.05


def test_the_default_engine_and_opencvs_agree_on_a_real_pair(msc_pair):
    """On two consecutive MSC frames the two engines' flows agree where cells move."""
    a, b = msc_pair
    ours = motion.farneback_flow(a, b)
    cv = motion.farneback_flow(a, b, config=MotionConfig(flow_engine="opencv"))
    speed_ours, speed_cv = motion.flow_magnitude(ours), motion.flow_magnitude(cv)
    assert np.corrcoef(speed_ours.ravel(), speed_cv.ravel())[0, 1] > 0.9
    moving = speed_cv > 0.5
    assert moving.mean() > 0.01
    assert np.median(np.linalg.norm(ours - cv, axis=-1)[moving]) < 0.25


@pytest.fixture(scope="module")
def msc_pair():
    from labelfree import datasets

    root = datasets.shared_data_root() / "ctc" / "Fluo-C2DL-MSC" / "01"
    if not (root / "t024.tif").is_file():
        pytest.skip("needs ../shared/data (Fluo-C2DL-MSC/01)")
    import tifffile

    raw = np.stack([tifffile.imread(root / f"t{t:03d}.tif") for t in (23, 24)])
    lo, hi = motion.uint8_range(raw)
    return tuple(motion.to_uint8(f, low=lo, high=hi) for f in raw)


def test_small_and_blank_frames():
    """Frames below the pyramid's 32 px get one level; blank frames give zero flow."""
    assert pyramid_sizes((40, 30), pyr_scale=0.5, levels=3) == [(40, 30)]
    assert pyramid_sizes((130, 257), pyr_scale=0.5, levels=3) == [(130, 257), (65, 128), (32, 64)]
    a = _textured((40, 30), seed=2, sigma=2)
    b = _shifted(a, 1.0, 0.0)
    flow = motion.farneback_flow(a, b, config=MotionConfig(flow_blur=0))
    assert flow.shape == (40, 30, 2) and np.isfinite(flow).all()
    assert np.median(flow[10:-10, 8:-8, 1]) == pytest.approx(1.0, abs=0.25)
    blank = np.zeros((64, 64), np.uint8)
    np.testing.assert_array_equal(motion.farneback_flow(blank, blank), 0)


def test_pyramids_of_different_frames_are_refused():
    kw = dict(pyr_scale=0.5, levels=3, poly_n=5, poly_sigma=1.1)
    with pytest.raises(ValueError, match="differ in size"):
        flow_from_expansions(expansion_pyramid(np.zeros((64, 64), np.uint8), **kw),
                             expansion_pyramid(np.zeros((64, 80), np.uint8), **kw), pyr_scale=0.5, winsize=15,
                             iterations=3)


def test_flows_on_threads_equal_serial_flows():
    """The compiled loops release the GIL and share nothing: pairs on threads give the serial arrays."""
    frames = [_textured((180, 220), seed=s, sigma=3) for s in range(6)]
    serial = [motion.farneback_flow(a, b) for a, b in zip(frames, frames[1:])]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(lambda ab: motion.farneback_flow(*ab), zip(frames, frames[1:])))
    for s, t in zip(serial, threaded):
        np.testing.assert_array_equal(s, t)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_segment_expands_each_frame_once(monkeypatch, threads):
    """A movie of T frames costs T expansions, not 2 (T - 1) as pairwise calls would."""
    from labelfree import datasets
    from labelfree.motion import flow as flow_module

    calls = []
    real = flow_module.expansion_pyramid

    def counted(frame, **kw):
        calls.append(frame.shape)
        return real(frame, **kw)

    monkeypatch.setattr(flow_module, "expansion_pyramid", counted)
    monkeypatch.setenv("LABELFREE_THREADS", threads)
    movie, _ = datasets.synthetic_movie(n_frames=5, shape=(96, 96), n_cells=4, cell_radius=9, seed=0)
    motion.segment(movie, config={"min_size": 50})
    assert calls == [(96, 96)] * 5


def test_buffer_pool_reuses_returned_arrays_and_keeps_a_bounded_number():
    from labelfree.motion.farneback import BufferPool

    pool = BufferPool(keep=2)
    a = pool.take((4, 5, 5))
    assert a.shape == (4, 5, 5) and a.dtype == np.float32
    pool.give(a)
    assert pool.take((4, 5, 5)) is a  # the same memory again
    assert pool.take((4, 5, 5)) is not a  # nothing left: a fresh one
    arrays = [np.empty((3, 3), np.float32) for _ in range(3)]
    pool.give(*arrays)
    kept = [pool.take((3, 3)) for _ in range(3)]
    assert sum(any(k is x for x in arrays) for k in kept) == 2


def test_a_dropped_frame_gives_its_expansion_back_to_the_pool():
    """segment's frames take their expansions from the run's pool and return them when no
    pair needs them any more; the next frame reuses the same arrays."""
    import gc

    from labelfree.motion.farneback import BufferPool
    from labelfree.motion.flow import _flow_input

    pool = BufferPool()
    cfg = MotionConfig()
    frame = _textured((96, 128), seed=4)
    first = _flow_input(frame, cfg, pool)
    ids = {id(a) for a in first.expansion}
    del first
    gc.collect()
    second = _flow_input(frame, cfg, pool)
    assert {id(a) for a in second.expansion} == ids
    plain = _flow_input(frame, cfg)  # no pool: arrays of its own, the same values
    for a, b in zip(second.expansion, plain.expansion):
        np.testing.assert_array_equal(a, b)
