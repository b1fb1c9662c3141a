"""Foreground mask by graph cut (PyMaxflow), as in the Cutter method.

Unary terms from the intensity ``I`` normalised to [0, 1] and the prior alpha::

    cost(cell)       = -log(max(I, eps))     - log(alpha)
    cost(background) = -log(max(1 - I, eps)) - log(1 - alpha)

so without pairwise terms a pixel is a cell where ``I > 1 - alpha``: alpha is set
from the expected cell-area fraction f as ``alpha = 1 - quantile(I, 1 - f)``.
Pairwise terms on the 8-neighbourhood: ``max_weight * exp(-(I_p - I_q)^2 / (2 sigma^2))``.

The input may also be a cell probability instead of an intensity:
:func:`local_contrast_probability` (``mask_signal="local"``, the default: a
threshold that follows the local peak brightness, with a noise floor),
:func:`snr_probability` (noise-normalised signal, ``mask_signal="snr"``), both
used with prior 0.5, or the bright-field pixel classifier's map.

Two decisions differ from the authors' code, on purpose: neighbours are never
wrapped around the image border (the code's ``np.roll`` links the left column to
the right one), and the pairwise edges are symmetric (the code adds each of the
4 half-offsets as a directed edge only, so a cut costs in one direction only).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from labelfree.errors import ConstantImageError, InputError

__all__ = [
    "normalize_intensity", "background_and_noise", "snr_probability",
    "local_contrast_probability", "prior_from_fraction", "estimate_cell_fraction", "graph_cut_mask",
]

log = logging.getLogger(__name__)
_EPS = 1e-6
_OFFSETS = ((-1, 1), (0, 1), (1, 1), (1, 0))
#: images with more pixels than this (2048 x 2048) are cut in tiles; up to it, the whole image is one graph (the
#: tiled cut is the whole image's, pixel for pixel: a 4096 x 4096 Cutter run took 5.5 GiB whole, 2.0 GiB tiled)
TILE_ABOVE_PIXELS = 2048 * 2048
#: side of a tile's core (px): the part of the mask each tile decides (its graph: about 30 MiB with the margin)
TILE_SIZE = 256
#: margin (px) around a tile's core that its graph also holds
TILE_MARGIN = 32
#: most pixels cut at once when the pixels the tiles leave undecided are cut again (about 0.4 GiB with the graph)
UNDECIDED_PIXELS = 1024 * 1024


def normalize_intensity(image: np.ndarray, /, *, percentiles: tuple[float, float] = (0.0, 100.0)) -> np.ndarray:
    """Map ``image`` (Y, X) linearly to [0, 1] between two percentiles (default min, max)."""
    x = np.asarray(image, dtype=np.float64)
    lo, hi = np.percentile(x, percentiles)
    if hi <= lo:
        raise ConstantImageError("The image used for the foreground mask is constant; it has no cells to find.")
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def background_and_noise(image: np.ndarray, /) -> tuple[float, float]:
    """Background level and robust noise (1.4826 MAD, else the std) of ``image``.

    The background is the median of the image while cells cover a minority of it. In a
    dense field (cells on more than about 40 % of the pixels) the median is a cell
    level: then the statistics of the pixels at or below the Otsu threshold are used
    (their median is the background, their MAD its noise). The switch happens only when
    the overall median lies more than two of those noise units above the below-threshold
    median, so sparse fields keep the plain median.
    """
    x = np.asarray(image, dtype=np.float64)
    med = float(np.median(x))
    mad = 1.4826 * float(np.median(np.abs(x - med)))
    if x.size > 16 and np.ptp(x) > 0:
        from skimage.filters import threshold_otsu

        low = x[x <= threshold_otsu(x)]
        if low.size > 16:
            low_med = float(np.median(low))
            low_mad = 1.4826 * float(np.median(np.abs(low - low_med)))
            if low_mad > 0 and med - low_med > 2.0 * low_mad:
                med, mad = low_med, low_mad
    if mad <= 0:
        mad = float(x.std())
    if mad <= 0:
        raise ConstantImageError("The image used for the foreground mask is constant; it has no cells to find.")
    return med, mad


def snr_probability(image: np.ndarray, /, *, threshold: float = 2.0,
                    levels: tuple[float, float] | None = None) -> np.ndarray:
    """Cell probability (Y, X) in (0, 1) from the signal-to-noise ratio of each pixel.

    ``z = (I - b) / s`` measures a pixel against the background level ``b`` (the
    median, or in a dense field that of the pixels below the Otsu threshold: see
    :func:`background_and_noise`) in units of
    the robust background noise; ``p = 1 / (1 + exp(-(z - threshold)))`` is 0.5 at
    ``threshold`` noise units above the background. Give it a smoothed image.
    ``levels``: ``(b, s)`` to measure against instead (e.g. :func:`labelfree.noise.lower_side_noise`'s).
    """
    med, mad = background_and_noise(image) if levels is None else levels
    z = (np.asarray(image, dtype=np.float64) - med) / mad
    return 1.0 / (1.0 + np.exp(-np.clip(z - threshold, -50.0, 50.0)))


def local_contrast_probability(
    image: np.ndarray, /, *, fraction: float = 0.4, window: int = 7, threshold: float = 1.5,
    levels: tuple[float, float] | None = None,
) -> np.ndarray:
    """Cell probability (Y, X) in (0, 1) against a threshold that follows the local peak.

    Each pixel is compared with ``fraction`` of the way from the background
    (median ``b``) up to the brightest pixel of its ``window`` x ``window``
    neighbourhood ``P``, but never less than ``threshold`` noise units ``s``
    (1.4826 MAD) above the background::

        T = b + max(fraction * (P - b), threshold * s)
        p = 1 / (1 + exp(-(I - T) / s))

    A bright cell's edge is where its intensity falls to that fraction of the
    brightness next to it, a dim cell's (or a dim protrusion's) edge to that
    fraction of its own, so cells of very different brightness get outlines of the
    same kind (the half-maximum rule of a blurred object for ``fraction = 0.5``);
    the noise floor keeps the background out. ``fraction = 0`` is
    :func:`snr_probability`. Give it a smoothed image. ``levels``: ``(b, s)`` to measure against
    instead of :func:`background_and_noise`'s (e.g. :func:`labelfree.noise.lower_side_noise`'s).
    """
    x = np.asarray(image, dtype=np.float64)
    med, mad = background_and_noise(x) if levels is None else levels
    # a window more than twice the image's side holds the whole image from every pixel: no larger one is needed
    size = int(min(max(1, int(window)), 2 * max(x.shape) + 1))
    peak = ndi.maximum_filter(x, size=size)
    cut = med + np.maximum(fraction * (peak - med), threshold * mad)
    return 1.0 / (1.0 + np.exp(-np.clip((x - cut) / mad, -50.0, 50.0)))


def estimate_cell_fraction(image: np.ndarray, /) -> float:
    """Fraction of pixels above the triangle threshold of ``image`` (Y, X).

    The triangle method suits the skewed histograms of sparse fluorescent cells
    (on Fluo-C2DL-MSC it gives 0.056-0.070 against true 0.050-0.069; Otsu 0.015-0.043).
    """
    from skimage.filters import threshold_triangle

    x = np.asarray(image, dtype=np.float64)
    return float(np.clip((x > threshold_triangle(x)).mean(), 0.001, 0.999))


def prior_from_fraction(normalized: np.ndarray, /, *, cell_fraction: float) -> float:
    """Prior alpha such that the unary terms alone mark ``cell_fraction`` of the pixels as cells."""
    if not 0.0 < cell_fraction < 1.0:
        raise InputError(f"cell_fraction must lie in (0, 1); got {cell_fraction}.")
    cut = float(np.quantile(normalized, 1.0 - cell_fraction))
    return float(np.clip(1.0 - cut, 1e-4, 1.0 - 1e-4))


def graph_cut_mask(
    image: np.ndarray,
    /,
    *,
    prior: float | None = None,
    cell_fraction: float | None = None,
    max_weight: float = 2.0,
    sigma: float = 0.05,
    overwrite_input: bool = False,
) -> np.ndarray:
    """Binary cell mask of a fluorescence image (or a cell-probability map) by graph cut.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        Intensities (bright = cell) or a probability map in [0, 1].
    prior : float, optional
        Prior alpha in (0, 1). ``None``: from ``cell_fraction``.
    cell_fraction : float, optional
        Expected fraction of the image covered by cells; ``None``: triangle-threshold estimate.
    max_weight : float
        Largest pairwise (smoothness) capacity.
    sigma : float
        Intensity scale of the pairwise term, in normalised units.
    overwrite_input : bool
        ``image`` may be overwritten by its normalised values when it is a float64 array (saves one
        full-size float64 copy; the mask is the same).

    Returns
    -------
    ndarray of bool, shape (Y, X)
        True = cell.

    Notes
    -----
    The graph (PyMaxflow, double capacities) takes about 304 bytes per pixel: 48 per node and
    32 per arc, 8 arcs per pixel. While it is built, at most four full-size float64 or int64
    arrays are alive beside it (the normalised image, the node ids and two cost maps, one of
    which is then reused for the edge weights: 32 bytes per pixel); while the flow is computed,
    none (``image`` itself stays as long as the caller keeps it).

    Images of more than ``TILE_ABOVE_PIXELS`` (2048 x 2048) pixels are cut in tiles of ``TILE_SIZE``
    (256) px, each graph holding its tile and a ``TILE_MARGIN`` (32) px margin: at most 320² nodes,
    about 30 MiB. The normalisation and the prior stay the whole image's, and the mask is the
    whole-image cut's (each tile's cuts with its outside held at background and at cell bracket it;
    the pixels they leave undecided are cut again with the rest held, up to ``UNDECIDED_PIXELS`` at
    once). Beside the normalised image, the tiled cut keeps 2 bytes per pixel (mask and undecided).
    """
    return _graph_cut_taken([np.asarray(image)], prior=prior, cell_fraction=cell_fraction, max_weight=max_weight,
                            sigma=sigma, overwrite_input=overwrite_input)


def _graph_cut_taken(held: list[np.ndarray], /, *, prior: float | None, cell_fraction: float | None,
                     max_weight: float, sigma: float, overwrite_input: bool) -> np.ndarray:
    """:func:`graph_cut_mask` of the one image in ``held``, which it takes out of the list: when the list held
    the only reference, the image (overwritten by its normalised values, with ``overwrite_input``) is freed
    before the flow is computed (an argument passed directly stays referenced by the caller until the call
    returns)."""
    image = held.pop()
    if image.ndim != 2:
        raise InputError(f"graph_cut_mask needs a 2-D (Y, X) image; got shape {image.shape}.")
    in_place = overwrite_input and image.dtype == np.float64 and image.flags.writeable
    frac = cell_fraction
    if prior is None and cell_fraction is None and in_place:  # measured before the image is overwritten
        if not np.ptp(image) > 0:
            normalize_intensity(image)  # the error of a constant image, as below
        frac = estimate_cell_fraction(image)
    norm = _normalized(image, in_place)
    if prior is None:
        frac = estimate_cell_fraction(image) if frac is None else frac
        prior = prior_from_fraction(norm, cell_fraction=frac)
        log.debug("graph cut prior %.4f from cell fraction %.4f", prior, frac)
    if not 0.0 < prior < 1.0:
        raise InputError(f"prior must lie in (0, 1); got {prior}.")
    held.append(norm)
    del image, norm
    return _min_cut(held, prior, max_weight, sigma)


def _normalized(image: np.ndarray, in_place: bool) -> np.ndarray:
    """:func:`normalize_intensity` of ``image``, written into ``image`` itself when ``in_place``."""
    if not in_place:
        return normalize_intensity(image)
    lo, hi = np.percentile(image, (0.0, 100.0))
    if hi <= lo:
        raise ConstantImageError("The image used for the foreground mask is constant; it has no cells to find.")
    image -= lo
    image /= hi - lo
    return np.clip(image, 0.0, 1.0, out=image)


def _min_cut(held: list[np.ndarray], prior: float, max_weight: float, sigma: float) -> np.ndarray:
    """The graph cut of :func:`graph_cut_mask` on the normalised image held in ``held`` (taken out of the
    list): one graph (:func:`_whole_cut`) up to ``TILE_ABOVE_PIXELS`` pixels, in tiles above
    (:func:`_tiled_min_cut`)."""
    if held[-1].size > TILE_ABOVE_PIXELS:
        return _tiled_min_cut(held.pop(), prior, max_weight, sigma)
    return _whole_cut(held, prior, max_weight, sigma)


def _whole_cut(held: list[np.ndarray], prior: float, max_weight: float, sigma: float, *,
               extra_cell: np.ndarray | None = None, extra_background: np.ndarray | None = None) -> np.ndarray:
    """The graph cut on the normalised image held in ``held`` as one graph (the image is taken out of the
    list and released before the flow). ``extra_cell`` / ``extra_background`` (Y, X) are added to the cost
    of a pixel being cell / background (the edges to pixels outside a window, held at one label)."""
    import maxflow

    norm = held.pop()
    h, w = norm.shape
    n_edges = len(_OFFSETS) * h * w
    # sized once for every node and edge (no growth by copies); the library counts arcs in a C int
    graph = maxflow.Graph[float](h * w, n_edges) if 2 * n_edges < 2**31 else maxflow.Graph[float]()
    nodes = graph.add_grid_nodes(norm.shape)
    # a node ends in the sink segment when its source edge is cut: source capacity = cost(cell);
    # the terminal edges only set each node's residual, so adding them before the pairwise ones is the same graph
    cost, other = _unary_costs(norm, prior)
    if extra_cell is not None:
        cost += extra_cell
    if extra_background is not None:
        other += extra_background
    graph.add_grid_tedges(nodes, cost, other)
    del cost
    weights = other  # reused: one weight array for the four offsets
    for k, (dy, dx) in enumerate(_OFFSETS):
        _edge_weights(norm, dy, dx, max_weight, sigma, out=weights)
        if k == len(_OFFSETS) - 1:
            del norm  # the last weights are computed: free it before the graph takes its last arcs
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1.0
        graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    del weights, other, nodes  # the node ids are the consecutive 0 .. h*w-1 (add_grid_nodes), made again below
    graph.maxflow()
    nodes = np.arange(h * w, dtype=np.int64).reshape(h, w)
    return np.asarray(graph.get_grid_segments(nodes), dtype=bool)


def _unary_costs(norm: np.ndarray, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """The costs of each pixel of ``norm`` (normalised values) being cell and being background: ``-log(p)`` of
    its value (and of 1 - its value) with the ``prior``, computed in place in two new arrays."""
    cost = np.maximum(norm, _EPS)
    np.log(cost, out=cost)
    np.negative(cost, out=cost)
    cost -= np.log(prior)
    other = np.subtract(1.0, norm)
    np.maximum(other, _EPS, out=other)
    np.log(other, out=other)
    np.negative(other, out=other)
    other -= np.log(1.0 - prior)
    return cost, other


def _edge_weights(norm: np.ndarray, dy: int, dx: int, max_weight: float, sigma: float, *,
                  out: np.ndarray) -> np.ndarray:
    """Pairwise capacities ``max_weight * exp(-(I_p - I_q)^2 / (2 sigma^2))`` between each pixel p and its
    neighbour q at (+dy, +dx), written into ``out``; 0 where q falls outside the image (no wrap-around)."""
    h, w = norm.shape
    ys, yq = (slice(-dy, h), slice(0, h + dy)) if dy < 0 else (slice(0, h - dy), slice(dy, h))
    xs, xq = slice(0, w - dx), slice(dx, w)  # dx is 0 or 1
    out[...] = 0.0
    inner = out[ys, xs]
    np.subtract(norm[ys, xs], norm[yq, xq], out=inner)
    np.square(inner, out=inner)
    np.negative(inner, out=inner)
    inner /= 2.0 * sigma**2
    np.exp(inner, out=inner)
    inner *= max_weight
    return out


def _tiled_min_cut(norm: np.ndarray, prior: float, max_weight: float, sigma: float) -> np.ndarray:
    """The graph cut of :func:`_whole_cut` on a large image, solved in overlapping windows, none larger than
    (``TILE_SIZE`` + 2 ``TILE_MARGIN``)²: the same energy (normalisation and prior are the whole image's).

    Each tile's window (its core and a margin) is cut twice, with the pixels outside the window held at
    background and held at cell (each edge leaving the window then costs a pixel of the other label).
    The energy is submodular, so these two cuts bracket the whole-image cut: a core pixel on which both
    agree has the whole image's label. The pixels on which they differ are then cut again, each
    8-connected group as a graph of its own pixels, every edge to a decided pixel turned into a cost:
    that is the whole image's cut there too. A group larger than ``UNDECIDED_PIXELS`` keeps the first
    bracket (outside held at background); a warning gives their number of pixels.
    """
    h, w = norm.shape
    tile, margin = int(TILE_SIZE), int(TILE_MARGIN)
    mask = np.zeros((h, w), dtype=bool)
    undecided = np.zeros((h, w), dtype=bool)
    n_tiles = 0
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            core = (y, min(h, y + tile), x, min(w, x + tile))
            win = (max(0, y - margin), min(h, core[1] + margin), max(0, x - margin), min(w, core[3] + margin))
            inner = (slice(core[0] - win[0], core[1] - win[0]), slice(core[2] - win[2], core[3] - win[2]))
            window = np.array(norm[win[0]:win[1], win[2]:win[3]])
            crossing = _crossing_weights(norm, win, max_weight, sigma)
            if crossing.any():
                low = _whole_cut([window.copy()], prior, max_weight, sigma, extra_cell=crossing)[inner]
                high = _whole_cut([window], prior, max_weight, sigma, extra_background=crossing)[inner]
            else:  # the window is the whole image
                low = high = _whole_cut([window], prior, max_weight, sigma)[inner]
            mask[core[0]:core[1], core[2]:core[3]] = low
            undecided[core[0]:core[1], core[2]:core[3]] = low != high
            n_tiles += 1
    n_open = int(undecided.sum())
    solved, left = _solve_undecided(norm, mask, undecided, prior, max_weight, sigma, int(UNDECIDED_PIXELS))
    log.info("graph cut of a %d x %d image ran in %d tiles of %d px (margin %d px); %d px undecided by the "
             "tiles' brackets, %d of them then solved exactly", h, w, n_tiles, tile, margin, n_open, solved)
    if left:
        log.warning("graph cut in tiles: %d px lie in groups of undecided pixels larger than %d px, too large to "
                    "cut again; they keep the tile's cut with the outside held at background (raise "
                    "labelfree.cutter.graphcut.TILE_SIZE or UNDECIDED_PIXELS to decide them)", left,
                    int(UNDECIDED_PIXELS))
    return mask


def _crossing_weights(norm: np.ndarray, win: tuple[int, int, int, int], max_weight: float,
                      sigma: float) -> np.ndarray:
    """Sum, for each pixel of the window ``win`` = (y0, y1, x0, x1) of ``norm``, of its pairwise capacities
    to its neighbours outside the window (and inside the image)."""
    h, w = norm.shape
    y0, y1, x0, x1 = win
    ey0, ey1, ex0, ex1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
    ring = norm[ey0:ey1, ex0:ex1]
    inside = np.zeros(ring.shape, dtype=bool)
    inside[y0 - ey0:y1 - ey0, x0 - ex0:x1 - ex0] = True
    total = np.zeros(ring.shape)
    weights = np.empty(ring.shape)
    eh, ew = ring.shape
    for dy, dx in _OFFSETS:
        _edge_weights(ring, dy, dx, max_weight, sigma, out=weights)  # between p and q = p + (dy, dx)
        ps, qs = (slice(-dy, eh), slice(0, eh + dy)) if dy < 0 else (slice(0, eh - dy), slice(dy, eh))
        p, q = (ps, slice(0, ew - dx)), (qs, slice(dx, ew))
        cross = inside[p] != inside[q]
        edge = np.where(cross, weights[p], 0.0)
        total[p] += np.where(inside[p], edge, 0.0)
        total[q] += np.where(inside[q], edge, 0.0)
    return total[y0 - ey0:y1 - ey0, x0 - ex0:x1 - ex0]


def _solve_undecided(norm: np.ndarray, mask: np.ndarray, undecided: np.ndarray, prior: float,
                     max_weight: float, sigma: float, max_pixels: int) -> tuple[int, int]:
    """Cut the ``undecided`` pixels again, with every other pixel held at its label in ``mask`` (written
    into ``mask``). The graph holds the undecided pixels only, at most ``max_pixels`` at once: the
    8-connected groups are independent of each other given the rest, so they are cut in batches; a
    group larger than ``max_pixels`` is left as it is. Returns the numbers of pixels solved and left."""
    n_open = int(undecided.sum())
    if not n_open:
        return 0, 0
    if n_open <= max_pixels:
        _cut_pixels(norm, mask, undecided, prior, max_weight, sigma)
        return n_open, 0
    groups, _ = ndi.label(undecided, structure=np.ones((3, 3), dtype=int))
    sizes = np.bincount(groups.ravel())
    sizes[0] = 0
    batch: list[int] = []
    total = solved = 0
    for k in [int(k) for k in np.flatnonzero(sizes)] + [0]:  # 0: the end, flush the last batch
        if batch and (k == 0 or total + sizes[k] > max_pixels):
            _cut_pixels(norm, mask, np.isin(groups, batch), prior, max_weight, sigma)
            solved += total
            batch, total = [], 0
        if k and sizes[k] <= max_pixels:
            batch.append(k)
            total += int(sizes[k])
    return solved, n_open - solved


def _cut_pixels(norm: np.ndarray, mask: np.ndarray, chosen: np.ndarray, prior: float, max_weight: float,
                sigma: float) -> None:
    """Graph cut of the ``chosen`` pixels only (the same unary and pairwise terms as :func:`_whole_cut`), each
    edge to a pixel not chosen turned into a cost of the other label; the result is written into ``mask``."""
    import maxflow

    h, w = norm.shape
    ys, xs = np.nonzero(chosen)
    index = ys * w + xs  # sorted (row-major order)
    values = norm[ys, xs]
    cost, other = _unary_costs(values, prior)
    graph = maxflow.Graph[float](len(index), 4 * len(index))
    graph.add_nodes(len(index))
    for dy, dx in _OFFSETS + tuple((-dy, -dx) for dy, dx in _OFFSETS):
        qy, qx = ys + dy, xs + dx
        valid = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        p, qy, qx = np.flatnonzero(valid), qy[valid], qx[valid]
        weights = np.subtract(values[p], norm[qy, qx])  # as _edge_weights computes them
        np.square(weights, out=weights)
        np.negative(weights, out=weights)
        weights /= 2.0 * sigma**2
        np.exp(weights, out=weights)
        weights *= max_weight
        q = np.searchsorted(index, qy * w + qx)
        q[q == len(index)] = 0
        inner = index[q] == qy * w + qx
        if (dy, dx) in _OFFSETS:  # each edge between two chosen pixels once
            graph.add_edges(p[inner], q[inner], weights[inner], weights[inner])
        held_cell = mask[qy, qx] & ~inner
        np.add.at(other, p[held_cell], weights[held_cell])  # background next to a held cell pays the edge
        held_background = ~mask[qy, qx] & ~inner
        np.add.at(cost, p[held_background], weights[held_background])
    graph.add_grid_tedges(np.arange(len(index)), cost, other)
    graph.maxflow()
    mask[ys, xs] = np.asarray(graph.get_grid_segments(np.arange(len(index))), dtype=bool)
