"""Typical cell size from the markers and the foreground, and the Cutter settings it implies.

Cutter cuts one ``crop_size`` patch around every marker, so the cells must have
about the size the patch was built for. Nothing else in the image says how large
a cell is, but the markers and the foreground mask do: every mask pixel belongs to
the nearest marker (a Voronoi partition of the mask), and the distance from a
marker to the far side of its share, taken over many cells, is the typical cell
radius. Without a mask, half the spacing of neighbouring markers stands in.

:func:`auto_settings` turns that radius into the size-dependent settings: the
``downscale`` that makes a typical cell fill the patch (its radius, after
scaling, is :data:`FILL` of the half patch) and the ``marker_sigma`` of the
Gaussian marker channel (a fixed fraction of that radius, :data:`SIGMA_PER_RADIUS`,
which gives the paper's 15 px for a cell that fills a 64 px patch), and the smoothing
before the mask's graph cut (:data:`SMOOTHING_PER_RADIUS`), and the side of the training
areas (:data:`AREA_SIZE` for cells that fill the patch; smaller in proportion for cells that
:data:`MIN_DOWNSCALE` leaves smaller, so that a step holds about as many cells). On Fluo-C2DL-MSC the result
hardly depends on the fill (downscale 3, 3.49 and 5: mean IoU 0.683-0.688); the
smoothing rule gave each of MSC, GOWT1, SIM+ and DSB2018 its best measured smoothing or
the one next to it (``docs/benchmarks.md``, section Cutter).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from labelfree.errors import InputError

__all__ = [
    "CellSize", "estimate_cell_size", "auto_settings", "max_downscale",
    "FILL", "SIGMA_PER_RADIUS", "MIN_DOWNSCALE", "SMOOTHING_PER_RADIUS", "SMOOTHING_RANGE", "AREA_SIZE",
    "default_area_size",
]

log = logging.getLogger(__name__)

#: a typical cell's radius, after downscaling, as a fraction of half the patch side
FILL = 0.9
#: sigma of the Gaussian marker channel as a fraction of the typical radius (after downscaling)
SIGMA_PER_RADIUS = 0.5
#: the smallest scale factor: cells smaller than the patch is built for are enlarged at most this much
MIN_DOWNSCALE = 0.5
#: Gaussian smoothing before the mask's graph cut, as a fraction of the typical radius, and its range (px)
SMOOTHING_PER_RADIUS = 1.0 / 15.0
SMOOTHING_RANGE = (1.0, 4.0)
#: side (px, after downscaling) of a training area for cells that fill the patch: about a dozen cells per step
AREA_SIZE = 320
#: quantile of the distances from a marker to the pixels of its share that counts as its radius
_RADIUS_QUANTILE = 95.0
#: shares of the mask smaller than this (px) are markers whose cell the mask missed: not counted
_MIN_AREA = 12


@dataclasses.dataclass(frozen=True)
class CellSize:
    """Typical size of the cells of an image, in pixels of that image.

    Attributes
    ----------
    radius : float
        Median over the cells of the distance from the marker within which 95 % of
        the cell's share of the mask lies (half the marker spacing without a mask).
    diameter : float
        Diameter of a disk with the median area per marker (the marker spacing
        without a mask).
    spacing : float
        Median distance from a marker to its nearest neighbour (NaN for one marker).
    n_cells : int
        Number of markers that the estimate is based on.
    source : str
        ``"mask"`` or ``"spacing"``: what the radius was measured from.
    """

    radius: float
    diameter: float
    spacing: float
    n_cells: int
    source: str

    def to_dict(self) -> dict[str, float | int | str]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def _spacing(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    if len(points) < 2:
        return np.zeros(0)
    dist, _ = cKDTree(points).query(points, k=2)
    return dist[:, 1]


def _shares(points: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Area and 95th-percentile distance of each marker's Voronoi share of ``mask``."""
    h, w = mask.shape
    pix = np.clip(np.rint(points).astype(np.int64), 0, [h - 1, w - 1])
    seeds = np.zeros(mask.shape, np.int32)
    seeds[pix[:, 0], pix[:, 1]] = np.arange(1, len(pix) + 1)
    dist, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    owner = np.where(mask, seeds[iy, ix], 0)
    n = len(pix)
    areas = np.bincount(owner.ravel(), minlength=n + 1)[1:]
    order = np.argsort(owner.ravel(), kind="stable")
    sorted_owner = owner.ravel()[order]
    sorted_dist = dist.ravel()[order]
    bounds = np.searchsorted(sorted_owner, np.arange(1, n + 2))
    keep = areas >= _MIN_AREA  # a marker whose cell the mask missed has (almost) no share
    radii = [float(np.percentile(sorted_dist[a:b], _RADIUS_QUANTILE))
             for a, b, k in zip(bounds[:-1], bounds[1:], keep) if k]
    return areas[keep], radii


def estimate_cell_size(
    markers: np.ndarray | Sequence[np.ndarray],
    /,
    *,
    mask: np.ndarray | Sequence[np.ndarray] | None = None,
) -> CellSize:
    """Estimate the typical cell size from markers and, when given, the foreground mask.

    Parameters
    ----------
    markers : ndarray, shape (N, 2), or a sequence of them (one per frame)
        Marker (y, x) positions in pixels, one per cell.
    mask : ndarray of bool, shape (Y, X), or a sequence of them (one per frame), optional
        Foreground (cells = True). Each mask pixel is given to the nearest marker of
        its frame; each marker's share gives an area and a radius (95th percentile of
        the distances from the marker); shares under 12 px are not counted. Without
        a mask (or without a share of 12 px) the radius is half the median distance
        between nearest markers.

    Returns
    -------
    CellSize
        Pooled over all frames (medians over the cells).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:200, :200]
    >>> centres = np.array([[50.0, 50.0], [50.0, 150.0], [150.0, 100.0]])
    >>> disks = np.zeros((200, 200), bool)
    >>> for cy, cx in centres:
    ...     disks |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 20 ** 2
    >>> size = estimate_cell_size(centres, mask=disks)
    >>> round(size.radius), round(size.diameter)
    (19, 40)
    """
    frames = [markers] if isinstance(markers, np.ndarray) and np.ndim(markers) == 2 else list(markers)
    masks = [None] * len(frames) if mask is None else ([mask] if np.ndim(mask) == 2 else list(mask))
    if len(masks) != len(frames):
        raise InputError(f"estimate_cell_size got {len(frames)} marker sets but {len(masks)} masks.")
    spacing: list[np.ndarray] = []
    areas: list[np.ndarray] = []
    radii: list[float] = []
    n_cells = 0
    for pts, m in zip(frames, masks):
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        n_cells += len(pts)
        spacing.append(_spacing(pts))
        if m is not None and len(pts):
            a, r = _shares(pts, np.asarray(m, bool))
            areas.append(a)
            radii += r
    if n_cells == 0:
        raise InputError("The cell size cannot be estimated without markers.")
    gaps = np.concatenate(spacing)
    median_gap = float(np.median(gaps)) if gaps.size else float("nan")
    if radii:
        area = float(np.median(np.concatenate(areas)))
        return CellSize(float(np.median(radii)), float(2.0 * np.sqrt(area / np.pi)), median_gap, n_cells, "mask")
    if not gaps.size:
        raise InputError("The cell size cannot be estimated from a single marker without a foreground mask.")
    return CellSize(median_gap / 2.0, median_gap, median_gap, n_cells, "spacing")


def default_area_size(crop_size: int, /) -> int:
    """The training area when the cell size is not known: ``AREA_SIZE``, and at least one patch."""
    return max(AREA_SIZE, int(crop_size))


def max_downscale(image_shape: Sequence[int], /, *, crop_size: int = 64) -> float:
    """The largest scale factor that leaves one ``crop_size`` patch of room in an image of ``image_shape`` (Y, X)."""
    return float(np.floor(100.0 * min(image_shape[-2:]) / crop_size) / 100.0)


def auto_settings(
    size: CellSize,
    /,
    *,
    crop_size: int = 64,
    downscale: float | None = None,
    image_shape: Sequence[int] | None = None,
) -> dict[str, float]:
    """The size-dependent Cutter settings for cells of ``size``.

    ``downscale`` given: only the marker sigma is derived, for that factor.
    ``image_shape`` (Y, X) given: the automatic ``downscale`` is at most
    :func:`max_downscale` (an image holding one cell that fills most of it would
    otherwise be reduced below the size of one patch).

    Returns
    -------
    dict
        ``downscale``: the factor by which the image is reduced so that a typical
        radius is ``FILL * crop_size / 2`` patch pixels (not below ``MIN_DOWNSCALE``,
        two decimals);
        ``marker_sigma``: ``SIGMA_PER_RADIUS`` times the typical radius in patch pixels;
        ``mask_smoothing``: ``SMOOTHING_PER_RADIUS`` times the typical radius, within
        ``SMOOTHING_RANGE`` (px): large cells in noisy images get more smoothing,
        small nuclei less;
        ``area_size``: ``AREA_SIZE`` times the typical radius in patch pixels over the radius
        of a cell that fills the patch (at most 1), to a multiple of 16 px, and at least two
        patches (or ``AREA_SIZE``) and one patch: cells that stay smaller than the patch (below the ``downscale`` floor)
        would otherwise put up to four times as many patches into each training step
        (half-size DSB2018: 0.37 s a step against 0.17, 107-270 s a frame).
    """
    if not np.isfinite(size.radius) or size.radius <= 0:
        raise InputError(f"The typical cell radius must be a positive number of pixels; got {size.radius}.")
    if downscale is None:
        downscale = round(max(size.radius / (FILL * crop_size / 2.0), MIN_DOWNSCALE), 2)
        if image_shape is not None and downscale > max_downscale(image_shape, crop_size=crop_size):
            limit = max(max_downscale(image_shape, crop_size=crop_size), MIN_DOWNSCALE)
            log.info("Cutter automatic scale: downscale %g would leave less than one %d px patch of the "
                     "%d x %d image; using %g", downscale, crop_size, *image_shape[-2:], limit)
            downscale = limit
    sigma = SIGMA_PER_RADIUS * size.radius / downscale
    smoothing = float(np.clip(SMOOTHING_PER_RADIUS * size.radius, *SMOOTHING_RANGE))
    fill = min(1.0, size.radius / downscale / (FILL * crop_size / 2.0))
    area = max(16 * int(round(AREA_SIZE * fill / 16.0)), min(2 * crop_size, AREA_SIZE), crop_size)
    return {"downscale": downscale, "marker_sigma": round(float(sigma), 2), "mask_smoothing": round(smoothing, 2),
            "area_size": area}
