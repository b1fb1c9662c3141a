"""Global translation optimisation of a tile mosaic with iterative worst-link removal.

Each link says "tile j sits at offset o from tile i". Positions are solved by
least squares; while the largest link error exceeds ``relative`` times the mean
error (and 0.95 px) or the mean error exceeds ``absolute``, the worst link is
dropped and the solve repeated (the rule of Fiji's stitching GlobalOptimization).
Tiles left without links keep their nominal positions; each connected group of
tiles keeps its mean nominal position (to the nearest pixel).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.sparse import coo_matrix

__all__ = ["Link", "Solution", "optimize_positions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Link:
    """Measured offset ``offset`` (dy, dx) of tile ``j`` relative to tile ``i``, with its NCC."""

    i: int
    j: int
    offset: tuple[float, ...]
    ncc: float


@dataclass
class Solution:
    """Optimised positions (N, 2) plus the links kept and removed, and their final errors."""

    positions: np.ndarray
    kept: list[Link]
    removed: list[Link] = field(default_factory=list)
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _solve(nominal: np.ndarray, links: list[Link]) -> np.ndarray:
    n = len(nominal)
    if not links:
        return nominal.copy()
    a = np.zeros((len(links), n))
    b = np.array([l.offset for l in links], dtype=float)
    for row, l in enumerate(links):
        a[row, l.i] -= 1.0
        a[row, l.j] += 1.0
    solved, *_ = np.linalg.lstsq(a, b, rcond=None)  # minimum norm: each group has mean 0
    graph = coo_matrix((np.ones(len(links)), ([l.i for l in links], [l.j for l in links])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    positions = nominal.copy()
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        if members.size < 2:
            continue
        relative = solved[members] - solved[members[0]]
        # whole-pixel gauge: integer links give integer positions
        gauge = np.round((nominal[members] - relative).mean(0))
        positions[members] = relative + gauge
    return positions


def _errors(positions: np.ndarray, links: list[Link]) -> np.ndarray:
    if not links:
        return np.zeros(0)
    return np.array([np.linalg.norm(positions[l.j] - positions[l.i] - np.asarray(l.offset)) for l in links])


def optimize_positions(
    nominal: np.ndarray, links: list[Link], /, *, relative: float = 2.5, absolute: float = 3.5
) -> Solution:
    """Least-squares tile positions from pairwise links, dropping inconsistent links.

    Parameters
    ----------
    nominal : ndarray, shape (N, 2)
        Starting (nominal) positions in pixels.
    links : list of Link
        Pairwise measurements that passed the correlation threshold.
    relative : float
        Fiji's ``max/avg_displacement_threshold``.
    absolute : float
        Fiji's ``absolute_displacement_threshold`` (pixels).

    Returns
    -------
    Solution
    """
    nominal = np.asarray(nominal, dtype=float)
    kept = list(links)
    removed: list[Link] = []
    while True:
        positions = _solve(nominal, kept)
        errors = _errors(positions, kept)
        if errors.size == 0:
            break
        worst, mean = float(errors.max()), float(errors.mean())
        if not ((worst > relative * mean and worst > 0.95) or mean > absolute):
            break
        bad = kept.pop(int(np.argmax(errors)))
        removed.append(bad)
        log.info("stitch: removed link %d-%d (error %.2f px, mean %.2f px)", bad.i, bad.j, worst, mean)
    return Solution(positions=positions, kept=kept, removed=removed, errors=errors)
