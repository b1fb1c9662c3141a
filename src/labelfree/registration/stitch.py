"""Stitching of overlapping tiles: Fiji's "Grid/Collection stitching" or a Python equivalent.

Python steps (as in Fiji): pairwise phase correlation on the nominal overlaps
(best of several peaks by overlap NCC), links below the regression threshold
dropped, global least-squares positions with iterative worst-link removal,
linear-blending fusion.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import fft as sfft

from labelfree._config import PipelineConfig, setting
from labelfree._progress import Progress
from labelfree.errors import InputError
from labelfree.image import scale_of, select_channel, to_dataarray, validate_image
from labelfree.registration._backend import choose_backend, fiji_backend
from labelfree.registration._fuse import fuse_tiles
from labelfree.registration._optimize import Link, optimize_positions
from labelfree.registration._phase import (
    PairShift,
    bandpass_weights,
    climb_ncc,
    edge_taper,
    measure_shift,
    ncc_map,
    normalization_of,
    overlap_ncc,
    prepare,
    shift_limits,
    subpixel_shift,
)
from labelfree.registration.tiles import (
    _GIVE,
    _PLACE,
    GridChoice,
    GridNotFoundError,
    find_grid,
    grid_positions,
    unmatched_neighbours,
)

__all__ = ["StitchConfig", "stitch", "pairwise_links"]

log = logging.getLogger(__name__)



@dataclasses.dataclass
class StitchConfig(PipelineConfig):
    """Options of stitching.

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(StitchConfig)``, ``labelfree options stitch`` in a shell).
    """

    backend: Literal["auto", "fiji", "python"] = setting(
        "auto", basic=True,
        help="'auto' uses Fiji's Grid/Collection stitching when a running Fiji has it, else Python.")
    overlap: float = setting(0.2, basic=True, ge=0, lt=1,
                             help="Nominal overlap fraction of neighbouring tiles for grid layouts (0.2 = 20 %).")
    order: Literal["row-by-row", "column-by-column", "snake-by-rows", "snake-by-columns"] = setting(
        "row-by-row", basic=True,
        help="Grid acquisition order of the tiles; when the grid is found from the tiles (no grid given), tried "
             "first, and the order whose tiles match clearly best is used.")
    channel: int | str = setting(0, basic=True, help="Registration channel (index or name) of multi-channel tiles.")
    regression_threshold: float = setting(
        0.3, group="global optimisation", help="Links whose overlap NCC is below this are dropped (Fiji: 0.30).")
    max_avg_displacement_threshold: float = setting(
        2.5, group="global optimisation", ge=0,
        help="Worst-link removal: largest average displacement (px) of the global optimisation (Fiji: 2.5).")
    absolute_displacement_threshold: float = setting(
        3.5, group="global optimisation", ge=0,
        help="Worst-link removal: largest absolute displacement (px) of the global optimisation (Fiji: 3.5).")
    max_shift: float | None = setting(
        None, group="matching", gt=0,
        help="Largest deviation (px) from the nominal offset of a pair; automatic: a third of the overlap's extent.")
    subpixel: bool = setting(False, basic=True,
                             help="Sub-pixel positions and interpolated placement (else whole pixels, exact copies).")
    fusion: Literal["linear", "average", "max"] = setting(
        "linear", basic=True, help="How overlapping tiles are blended in the fused image.")
    min_overlap: int = setting(16, group="matching", ge=1,
                               help="Pairs whose nominal overlap is thinner than this (px) are not matched.")
    low_sigma: float = setting(1.0, group="matching", ge=0,
                               help="Band-pass before matching: noise-smoothing sigma (px).")
    high_sigma: float = setting(20.0, group="matching", gt=0,
                                help="Band-pass before matching: background-removal sigma (px).")
    normalization: Literal["none", "phase"] = setting(
        "none", group="matching", help="Plain cross-correlation or whitened phase correlation of the overlaps.")
    n_peaks: int = setting(5, group="matching", ge=1, help="Correlation peaks verified by overlap NCC.")
    upsample: int = setting(10, group="matching", ge=1, help="Sub-pixel precision is 1/upsample pixel.")
    taper: float = setting(0.1, group="matching", ge=0, lt=0.5,
                           help="Fraction of each overlap edge faded out before matching (0 = none).")


def _as_tiles(tiles: Any) -> list[xr.DataArray]:
    if isinstance(tiles, np.ndarray) and tiles.ndim == 3:
        tiles = list(tiles)
    if not isinstance(tiles, (list, tuple)) or len(tiles) < 2:
        raise InputError("stitch needs a list of at least 2 tiles (2-D YX or CYX arrays / DataArrays).")
    out = [validate_image(t, allowed=("C", "Y", "X"), name=f"tile {i}", allow_constant=True)
           for i, t in enumerate(tiles)]
    lead = {tuple(t.shape[:-2]) for t in out}
    if len(lead) > 1:
        raise InputError(f"All tiles need the same channels; got leading shapes {sorted(lead)}.")
    types = {}
    for i, t in enumerate(out):
        types.setdefault(str(t.dtype), i)
    if len(types) > 1:  # the mosaic has one pixel type: a wider tile would be clipped into a narrower one
        listed = ", ".join(f"{dtype} (tile {i} first)" for dtype, i in types.items())
        raise InputError(f"All tiles need the same pixel type; got {listed}. Convert them to one type first "
                         "(ImageJ: Image > Type; numpy: astype), with the same intensity scale.")
    return out


def _nominal(tiles: list[xr.DataArray], layout: Any, cfg: StitchConfig) -> np.ndarray:
    if isinstance(layout, pd.DataFrame):
        if not {"y", "x"} <= set(layout.columns):
            raise InputError(f"A layout table needs columns y and x (pixels); got {list(layout.columns)}.")
        layout = layout[["y", "x"]].to_numpy(dtype=float)
    if isinstance(layout, tuple) and len(layout) == 2 and all(isinstance(v, (int, np.integer)) for v in layout):
        rows, cols = layout
        if rows * cols != len(tiles):
            raise InputError(f"A {rows}x{cols} grid needs {rows * cols} tiles; got {len(tiles)}.")
        return grid_positions(tiles[0].shape[-2:], rows=rows, cols=cols, overlap=cfg.overlap, order=cfg.order)
    nominal = np.asarray(layout, dtype=float)
    if nominal.shape != (len(tiles), 2):
        raise InputError(
            f"layout must be (rows, cols), a table with y/x columns, or an array of shape ({len(tiles)}, 2) "
            f"of nominal (y, x) pixel positions; got {layout!r:.80}."
        )
    return nominal


def _overlap_boxes(pi, pj, si, sj, min_overlap):
    """Nominal overlap of tiles i and j in each tile's own pixel coordinates (or None)."""
    off = np.round(pj - pi).astype(int)
    box_i, box_j = [], []
    for a in range(2):
        lo, hi = max(0, off[a]), min(si[a], off[a] + sj[a])
        if hi - lo < min_overlap:
            return None
        box_i.append(slice(lo, hi))
        box_j.append(slice(lo - off[a], hi - off[a]))
    return off, tuple(box_i), tuple(box_j)


def _wanted_limits(cfg: StitchConfig) -> list[int] | None:
    return None if cfg.max_shift is None else [int(np.ceil(cfg.max_shift))] * 2


def _match_overlap(a: np.ndarray, b: np.ndarray, cfg: StitchConfig) -> tuple[PairShift, tuple[int, ...] | None]:
    """Whole-pixel shift of overlap ``b`` against overlap ``a`` (``b[p + s] ≈ a[p]``) and its overlap NCC.

    Candidates: the ``n_peaks`` highest correlation peaks of the band-passed overlaps (as Fiji) and the
    maximum of the overlap NCC over every shift within the limits (:func:`ncc_map` of the band-passed
    overlaps). The correlation of a narrow overlap strip counts less shared content the farther it looks,
    so on smooth content (nuclei) its peaks cluster near zero shift and the true offset, a few pixels
    away, is often none of them; the NCC map has no such bias. Each candidate is polished and scored
    by the NCC of the raw pixels; the best one wins.

    The second value is not None (the offending shift) when the best match lies beyond the limits
    (the NCC map, searched 2 px farther, still rises at the edge): the overlap holds no match within
    reach (tiles that do not overlap, a wrong order or grid) and the pair gives no link.
    """
    limits = shift_limits(a.shape, _wanted_limits(cfg))
    weights = bandpass_weights(a.shape, low_sigma=cfg.low_sigma, high_sigma=cfg.high_sigma)
    taper = edge_taper(a.shape, fraction=cfg.taper) if cfg.taper > 0 else None
    pa, pb = prepare(a, weights=weights, taper=taper), prepare(b, weights=weights, taper=taper)
    # peaks from the band-passed overlaps, checked and polished on the raw pixels
    pair = measure_shift(a, b, spectra=(pa[1], pb[1]), max_shift=limits, n_peaks=cfg.n_peaks, polish=True,
                         normalization=normalization_of(cfg))
    search = [min(lim + 2, n - 1) for lim, n in zip(limits, a.shape)]
    scores = ncc_map(_smooth(a, cfg), _smooth(b, cfg), search)
    top = np.unravel_index(int(np.argmax(scores)), scores.shape)
    shift = tuple(int(k) - s for k, s in zip(top, search))
    if any(abs(v) > lim for v, lim in zip(shift, limits)):
        return pair, shift
    if shift == tuple(round(v) for v in pair.shift):  # the usual case: both searches agree
        return pair, None
    score, shift = climb_ncc(a, b, shift, overlap_ncc(a, b, shift)[0], limits)
    if score > pair.ncc:
        pair = PairShift(tuple(float(v) for v in shift), score)
    return pair, None


def _smooth(image: np.ndarray, cfg: StitchConfig) -> np.ndarray:
    """The band-pass of :func:`prepare` without its taper and wrap-around (the NCC map's input): the image,
    mirrored at its edges by twice ``high_sigma``, filtered by FFT and cut back (as fast as the correlation;
    Gaussian filters of sigma 20 in real space cost 3 times more)."""
    image = np.asarray(image, dtype=np.float32)
    pad = [min(int(np.ceil(2 * cfg.high_sigma)), n - 1) for n in image.shape]
    padded = np.pad(image - np.float32(image.mean()), [(m, m) for m in pad], mode="reflect")
    fast = tuple(sfft.next_fast_len(n, real=True) for n in padded.shape)
    weights = bandpass_weights(fast, low_sigma=cfg.low_sigma, high_sigma=cfg.high_sigma)
    out = sfft.irfftn(sfft.rfftn(padded, fast, workers=-1) * weights, fast, workers=-1)
    return out[tuple(slice(m, m + n) for m, n in zip(pad, image.shape))]


def pairwise_links(images: Sequence[np.ndarray], nominal: np.ndarray, /, *, config: Any = None,
                   progress: Any = False) -> list[Link]:
    """Measure the offset of every nominally overlapping tile pair (2-D float images).

    Returns the links whose overlap NCC reaches ``config.regression_threshold``;
    ``Link.offset`` is the measured position of tile j minus that of tile i (pixels).
    """
    cfg = StitchConfig.coerce(config)
    pairs = []
    for i, j in itertools.combinations(range(len(images)), 2):
        boxes = _overlap_boxes(nominal[i], nominal[j], images[i].shape, images[j].shape, cfg.min_overlap)
        if boxes is not None:
            pairs.append((i, j, boxes))
    links = []
    with Progress(progress, total=max(1, len(pairs)), desc="stitch: matching tiles") as bar:
        for i, j, (off, box_i, box_j) in pairs:
            a, b = images[i][box_i], images[j][box_j]
            pair, beyond = _match_overlap(a, b, cfg)
            if beyond is not None:
                log.info("stitch: tiles %d-%d dropped (best match at %s px from the nominal offset, beyond the %s px "
                         "searched: no overlap there, or raise max_shift)", i, j, beyond,
                         shift_limits(a.shape, _wanted_limits(cfg)))
                bar.update(message=f"tiles {i}-{j}")
                continue
            # in sub-pixel mode the remainder is measured on the part both overlaps share
            offset = off - np.array(subpixel_shift(a, b, pair.shift, cfg))
            log.debug("stitch: tiles %d-%d offset %s ncc %.3f", i, j, offset, pair.ncc)
            if pair.ncc >= cfg.regression_threshold:
                links.append(Link(i, j, tuple(float(v) for v in offset), pair.ncc))
            else:
                log.info("stitch: tiles %d-%d dropped (NCC %.2f < %.2f)", i, j, pair.ncc, cfg.regression_threshold)
            bar.update(message=f"tiles {i}-{j}")
    return links


def stitch(
    tiles: Any,
    layout: Any = None,
    /,
    *,
    backend: str | None = None,
    overlap: float | None = None,
    config: Any = None,
    progress: Any = False,
) -> tuple[xr.DataArray, pd.DataFrame]:
    """Stitch overlapping 2-D tiles into one image.

    Parameters
    ----------
    tiles : sequence of (C)YX arrays or DataArrays, or an (N, Y, X) array
        The tiles, in acquisition order; calibration is taken from the first tile.
    layout : (rows, cols), DataFrame with y/x columns, array (N, 2), "auto" or None (default)
        A grid (with ``overlap`` and ``config.order``) or nominal (y, x) pixel positions. None or ``"auto"``:
        the grid (rows, columns and order) whose neighbouring tiles match best in their nominal overlaps
        (:func:`labelfree.registration.tiles.find_grid`; ``config.order`` is tried first); an InputError when
        no layout matches clearly better than all others. The choice and its evidence are logged and
        recorded in ``fused.attrs["stitching"]["auto"]``.
    backend, overlap
        Override the matching :class:`StitchConfig` fields.
    config : StitchConfig, dict or path, optional
    progress : bool, callable or tqdm-like

    Returns
    -------
    fused : xarray.DataArray
        (C)YX mosaic with the tiles' dtype and pixel size.
    positions : pandas.DataFrame
        Per tile: ``tile, y_nominal, x_nominal, y, x`` (pixels; ``y, x`` is the tile's
        top-left corner in ``fused``), ``links`` (links kept for that tile). ``tile`` is the tile's index in
        ``tiles`` (from 0); the warnings count tiles from 1, as the table that ``labelfree stitch --positions``
        writes (with each tile's ``file``) and Fiji's LabelFree Stitch shows count them.
    """
    overrides = {k: v for k, v in dict(backend=backend, overlap=overlap).items() if v is not None}
    cfg = StitchConfig.coerce(config).replace(**overrides)
    das = _as_tiles(tiles)
    images, auto = None, None
    if layout is None or (isinstance(layout, str) and layout.strip().lower() == "auto"):
        images = _registration_images(das, cfg)
        auto = _auto_grid(images, cfg)
        layout, cfg = (auto.rows, auto.cols), cfg.replace(order=auto.order)
    nominal = _nominal(das, layout, cfg)
    used = choose_backend(cfg.backend, "stitch", task_name="stitching")
    if used == "fiji":
        return _with_auto(fiji_backend("stitch")(das, nominal, cfg), auto)
    images = _registration_images(das, cfg) if images is None else images
    links = pairwise_links(images, nominal, config=cfg, progress=progress)
    solution = optimize_positions(nominal, links, relative=cfg.max_avg_displacement_threshold,
                                  absolute=cfg.absolute_displacement_threshold)
    _warn_unlinked(len(das), solution.kept, layout)
    positions = solution.positions if cfg.subpixel else np.round(solution.positions)
    fused, origin = fuse_tiles([np.asarray(t.values) for t in das], positions, method=cfg.fusion,
                               subpixel=cfg.subpixel)
    return _with_auto(_outputs(das, fused, positions - origin, nominal, solution, backend="python"), auto)


def _registration_images(das: list[xr.DataArray], cfg: StitchConfig) -> list[np.ndarray]:
    """The registration channel of each tile (float32 YX)."""
    return [np.asarray(select_channel(t, cfg.channel).values, dtype=np.float32) for t in das]


def _auto_grid(images: list[np.ndarray], cfg: StitchConfig) -> GridChoice:
    """The grid of tiles given without a layout, found from their overlaps (logged)."""
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1:
        # the advice in Python's terms; each caller words its own (GridNotFoundError.said)
        raise GridNotFoundError(f"Finding the grid of the tiles needs tiles of one size; got sizes {shapes}. Give the "
                                f"layout instead: {_GIVE}, or {_PLACE}.", tiles=len(images))
    smooth = [_smooth(im, cfg) for im in images]
    choice = find_grid(smooth, overlap=cfg.overlap, order=cfg.order, min_overlap=cfg.min_overlap,
                       max_shift=cfg.max_shift)
    log.info("stitch: grid found from the %d tiles: %s", len(images), choice.evidence())
    _warn_gaps(unmatched_neighbours(smooth, choice, overlap=cfg.overlap, max_shift=cfg.max_shift), choice)
    return choice


def _warn_gaps(pairs: Sequence[tuple[int, int, float]], choice: GridChoice) -> None:
    """Warn about neighbours of the grid found whose overlaps hold structure but match at no shift (a tile missing
    between them, :func:`~labelfree.registration.tiles.unmatched_neighbours`), tiles counted from 1."""
    if not pairs:
        return
    named = [f"tiles {i + 1} and {j + 1} (best NCC {ncc:.2f})" for i, j, ncc in pairs]
    listed = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]
    log.warning("stitch: the %s grid %s found from the tiles puts side by side %s (tiles counted from 1 in the order "
                "given), whose overlaps hold structure but match at no shift: a tile is likely missing between them, "
                "and the tiles after it are placed one cell early. Check that no tile is missing; to stitch tiles "
                "with a gap, give each tile's position (layout / TileConfiguration.txt).", choice.grid, choice.order,
                listed)


def _with_auto(result: tuple[xr.DataArray, pd.DataFrame], auto: GridChoice | None) -> tuple[xr.DataArray, pd.DataFrame]:
    """Record the grid found from the tiles (if any) in the mosaic's ``attrs["stitching"]["auto"]``."""
    if auto is not None:
        fused = result[0]
        fused.attrs["stitching"] = {**fused.attrs.get("stitching", {}), "auto": auto.record()}
    return result


def _warn_unlinked(n: int, kept: Sequence[Link], layout: Any) -> None:
    """Warn about tiles left without a trustworthy link (they are placed at their nominal positions), and about
    linked tiles that form groups no link joins (each group is placed by its links, the groups by the layout)."""
    linked = {link.i for link in kept} | {link.j for link in kept}
    alone = [k for k in range(n) if k not in linked]
    grid = isinstance(layout, tuple) and len(layout) == 2
    check = ("the tile order (order= / --order), the overlap (overlap= / --overlap) and the grid size (--grid)"
             if grid else "the nominal positions (layout / TileConfiguration.txt)")
    if alone:  # counted from 1, as the groups below count them
        one = len(alone) == 1
        log.warning("stitch: %d of %d tiles %s no trustworthy link to a neighbour and %s: %s %s (tiles counted from 1 "
                    "in the order given). Check %s; overlaps without texture cannot be matched.", len(alone), n,
                    "has" if one else "have", "keeps its nominal position" if one else "keep their nominal positions",
                    "tile" if one else "tiles", _runs(alone), check)
    groups = _linked_groups(n, kept)
    if len(groups) > 1:
        named = "; ".join(f"group {g}: tiles {_runs(members)}" for g, members in enumerate(groups, 1))
        log.warning("stitch: the linked tiles form %d groups that no matched overlap links to each other: %s (tiles "
                    "counted from 1 in the order given). Each group is placed by its overlaps, but where the groups "
                    "lie relative to each other is %s, not measured. A tile missing between them, overlaps without "
                    "texture or a wrong layout do this; check %s.", len(groups), named,
                    "the nominal grid's" if grid else "the nominal positions'", check)


def _linked_groups(n: int, kept: Sequence[Link]) -> list[list[int]]:
    """The groups of two or more tiles (0-based, each in order, by their first tile) that ``kept`` links join."""
    parent = list(range(n))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for link in kept:
        parent[root(link.i)] = root(link.j)
    groups: dict[int, list[int]] = {}
    for k in range(n):
        groups.setdefault(root(k), []).append(k)
    return sorted((members for members in groups.values() if len(members) > 1), key=lambda m: m[0])


def _runs(tiles: Sequence[int]) -> str:
    """0-based tile numbers as runs counted from 1: ``[0, 1, 2, 4]`` -> ``"1-3, 5"``."""
    from labelfree.image import number_runs

    return ", ".join(number_runs(tiles, first=1))


def _outputs(das, fused, placed, nominal, solution, *, backend: str) -> tuple[xr.DataArray, pd.DataFrame]:
    first = das[0]
    dims = first.dims
    scale = {d: scale_of(first, d) for d in ("Y", "X")}
    units = {d: first.coords[d].attrs.get("units", "pixel") for d in ("Y", "X") if d in first.coords}
    names = [str(c) for c in first.coords["C"].values] if "C" in dims else None
    out = to_dataarray(fused, dims="".join(dims), scale=scale, units=units, channel_names=names)
    out.attrs["stitching"] = {"backend": backend}
    counts = np.zeros(len(das), dtype=int)
    for link in (solution.kept if solution is not None else []):
        counts[link.i] += 1
        counts[link.j] += 1
    placed = placed + 0.0  # -0.0 (a tile at the origin, shifted by -0.0) is written as 0
    table = pd.DataFrame({
        "tile": np.arange(len(das)),
        "y_nominal": nominal[:, 0], "x_nominal": nominal[:, 1],
        "y": placed[:, 0], "x": placed[:, 1],
        "links": counts,
    })
    return out, table
