"""Self-labelling from flow: candidate masks, the cell-size estimate, adaptive thresholds.

The paper's MATLAB code searches its two thresholds by stepping them and
re-building a morphological mask at each step. Here the entropy sums over
``|v| > th`` for every step are read at once from an entropy-weighted histogram
of the flow magnitude (one pass over the pixels); the morphology runs once per
final threshold. The paper's constants were absolute speeds tuned for its
MATLAB flow; LabelFree expresses them relative to the typical flow magnitude
of the frame pair (its noise floor) so that they hold for any camera, pixel
size and frame interval, and scales the entropy sums by the frame's pixel count.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from labelfree.labels import weighted_median
from labelfree.motion.config import MotionConfig
from labelfree.motion.postprocess import (
    close_disk,
    components_with_stats,
    fill_mask_holes,
    remove_small,
    to_instances,
)

__all__ = [
    "PAPER_PIXELS",
    "candidate_mask",
    "motion_threshold",
    "NOISE_CONTRAST",
    "flow_noise_floor",
    "shows_cell_motion",
    "estimate_cell_size",
    "flow_only_min_size",
    "typical_object_area",
    "typical_cell_area",
    "FEW_OBJECTS",
    "size_floor",
    "cell_scale",
    "resolve_closing_radius",
    "background_threshold",
    "cell_threshold",
    "self_label",
    "SelfLabels",
]

#: frame size (pixels) the paper's entropy constants were tuned for ("2 Mpixel sensors")
PAPER_PIXELS = 2e6


def candidate_mask(magnitude: np.ndarray, /, *, threshold: float, min_size: int, radius: int = 5) -> np.ndarray:
    """Moving-pixel mask: ``|v| > threshold``, small objects removed, closed with a disk, holes filled.

    Parameters
    ----------
    magnitude : (Y, X) float array
        Flow speed (px/frame).
    threshold : float
        Speed threshold (px/frame).
    min_size : int
        Smallest kept 8-connected object (px).
    radius : int
        Closing disk radius (px).

    Returns
    -------
    (Y, X) bool array.
    """
    m = remove_small(np.asarray(magnitude) > threshold, min_size=min_size)
    return fill_mask_holes(close_disk(m, radius=radius))


def motion_threshold(magnitude: np.ndarray, /) -> float:
    """Otsu threshold of the flow speed (over 1 pixel in 64): where the automatic searches start.

    It splits the pair into still and clearly moving pixels whatever the camera,
    pixel size or frame interval (the paper instead started from a fixed 0.04 px,
    tuned for its MATLAB flow).
    """
    from skimage.filters import threshold_otsu

    sample = np.asarray(magnitude, np.float32)[::8, ::8]
    if sample.size == 0 or sample.max() == sample.min():
        return float(sample.max()) if sample.size else 0.0
    return float(threshold_otsu(sample))


#: a pair's motion stands out of its noise where its motion threshold is at least this many times
#: its flow's noise floor (:func:`shows_cell_motion`). The flow of a field without cells (camera
#: noise only) has no still background: Otsu splits its one mode at 3.3-9.7 x the noise floor
#: (noise movies of 64-1100 px, float, 8-bit and Poisson noise, empty crops of Fluo-C2DL-MSC).
#: The movies with cells of the benchmarks have 88-640 x (MSC), over 1000 x (SIM+, GOWT1), crops
#: of MSC where one cell enters 62-86 x, a 96 x 96 synthetic movie of four small cells 9-19 x: below
#: it, ``segment`` also asks whether the pair's labels are noise (its classifier floods).
NOISE_CONTRAST = 20.0


def flow_noise_floor(magnitude: np.ndarray, /, *, valid: np.ndarray | None = None) -> float:
    """The flow speed of a pair's slower quarter (its 25th percentile, over 1 pixel in 16, within
    ``valid`` when given): what the flow reads where nothing moves, the camera noise."""
    mag = np.asarray(magnitude, np.float32)
    if valid is not None:
        mag = np.where(valid, mag, np.nan)
    sample = mag[::4, ::4]
    sample = sample[np.isfinite(sample)]
    return float(np.percentile(sample, 25)) if sample.size else 0.0


def shows_cell_motion(magnitude: np.ndarray, /, *, threshold: float, valid: np.ndarray | None = None) -> bool:
    """Whether a pair's motion ``threshold`` (px/frame) stands out of its flow's noise: at least
    :data:`NOISE_CONTRAST` times :func:`flow_noise_floor`.

    Where it does not, the moving pixels are noise: a field without cells (or with cells that do
    not move) still gives a Farnebaeck flow of about 1 px/frame everywhere once its noise is
    stretched over the grey range, and the relative thresholds would call half of it moving.
    """
    floor = flow_noise_floor(magnitude, valid=valid)
    return bool(floor <= 0 or threshold >= NOISE_CONTRAST * floor)


def _pixel_scale(shape: tuple[int, ...]) -> float:
    return float(np.prod(shape[-2:])) / PAPER_PIXELS


def estimate_cell_size(magnitude: np.ndarray, /, *, threshold: float, radius: int = 5, fraction: float = 0.25) -> int:
    """Minimum object size from a flow-only pass: a fraction of the typical moving-object area.

    The paper thresholds the flow of frame 2, ignores objects below 600 px
    (2-Mpixel frames) and takes half the mean area. Here that floor is
    600 x (pixels / 2e6), kept between 20 and 600 px, and the size is
    ``fraction`` x the area-weighted median area (:func:`typical_object_area`): a flow object includes the halo of flow
    around a moving cell (about winsize / 2 px wide) and may join neighbours,
    so it overestimates a cell. Without any moving object, 550 x (pixels / 2e6)
    (at least 10 px) is returned, the paper's fallback scaled the same way.

    Parameters
    ----------
    magnitude : (Y, X) float array
        Flow speed (px/frame) of one frame pair.
    threshold : float
        Speed (px/frame) above which a pixel moves (:func:`candidate_mask`).
    radius : int
        Closing disk radius (px) of the moving-pixel mask.
    fraction : float
        Fraction of the typical moving-object area returned.

    Returns
    -------
    int
        Minimum object size in pixels.
    """
    scale = _pixel_scale(np.shape(magnitude))
    mask = candidate_mask(magnitude, threshold=threshold, min_size=size_floor(np.shape(magnitude)), radius=radius)
    area = typical_object_area(mask)
    if area == 0:
        return max(10, int(round(550 * scale)))
    return max(10, int(round(fraction * area)))


def flow_only_min_size(magnitude: np.ndarray, /, *, config: MotionConfig) -> int:
    """:func:`estimate_cell_size` of a pair's flow speed with ``config``'s settings: threshold
    ``size_estimate_threshold``, else ``start_threshold``, else :func:`motion_threshold`."""
    start = config.size_estimate_threshold
    if start is None:
        start = config.start_threshold if config.start_threshold is not None else motion_threshold(magnitude)
    return estimate_cell_size(magnitude, threshold=start, radius=resolve_closing_radius(config, min_size=None),
                              fraction=config.min_size_fraction)


def cell_scale(cell_area: float, /, *, entropy_size: int = 7) -> dict[str, float]:
    """Sizes derived from the typical cell area (px), for the settings left to "auto".

    Returns ``cell_area``; ``cell_radius``, that of a disk of the same area; the
    ``closing_radius`` of the clean-up, a fifth of the cell radius, at least 1 px
    and at most ``entropy_size // 2 + 1`` px (the classifier decides on windows of
    that half-width, so its masks have no noise holes wider; a wider closing glues
    neighbouring cells: measured in docs/motion.md); ``split_sigma``, the Gaussian
    sigma of the grey level split into cells (a quarter of the radius); and
    ``split_min_distance``, the smallest distance between two cells' peaks (half
    the radius).
    """
    area = max(float(cell_area), 1.0)
    radius = float(np.sqrt(area / np.pi))
    closing = int(np.clip(round(radius / 5), 1, entropy_size // 2 + 1))
    return {"cell_area": area, "cell_radius": radius, "closing_radius": closing,
            "split_sigma": max(0.5, 0.25 * radius), "split_min_distance": max(1.0, 0.5 * radius)}


#: closing radius (px) of the paper, used by the flow-only size pass when the radius is automatic
PAPER_CLOSING_RADIUS = 5


def resolve_closing_radius(config: MotionConfig, /, *, min_size: int | None) -> int:
    """The closing radius (px) to use: ``config.closing_radius``, or when None (automatic) the
    one of :func:`cell_scale` for a typical cell of ``min_size / min_size_fraction`` px
    (the paper's 5 px while ``min_size`` is not known yet)."""
    if config.closing_radius is not None:
        return int(config.closing_radius)
    if min_size is None:
        return PAPER_CLOSING_RADIUS
    return int(cell_scale(min_size / config.min_size_fraction, entropy_size=config.entropy_size)["closing_radius"])


def size_floor(shape: tuple[int, ...], /) -> int:
    """Smallest object (px) the size estimates look at: the paper's 600 px x (pixels / 2e6), within 20-600."""
    return int(np.clip(round(600 * _pixel_scale(shape)), 20, 600))


def typical_object_area(mask: np.ndarray, /, *, min_area: int = 1) -> float:
    """Area-weighted median object area (px) of a mask: half the foreground lies in larger objects.

    Unlike the plain mean or median it is not pulled down by many tiny specks.
    Objects below ``min_area`` px are ignored; 0.0 when there is none.
    """
    import cv2

    n, _, stats = components_with_stats(np.asarray(mask, np.uint8))
    areas = stats[1:, cv2.CC_STAT_AREA]
    areas = areas[areas >= min_area]
    if areas.size == 0:
        return 0.0
    return weighted_median(areas, areas)


#: a typical area held up by fewer objects than this (at least half of it each) rests on a few cells (a crop):
#: one clump of touching cells would be taken for one cell
FEW_OBJECTS = 3
#: ... and the pieces of its objects cut at their necks are taken for cells when their typical area is at most
#: this fraction of it (a clump of two cells: about 0.5; cutting off a protrusion of one cell: 0.75-0.9 on crops
#: of MSC and HeLa)
CLUMP_RATIO = 0.6


def typical_cell_area(mask: np.ndarray, /, *, min_area: int = 1, neck_ratio: float = 0.8,
                      min_cell_area: float = 0.0) -> tuple[float, int]:
    """:func:`typical_object_area`, with the objects cut at their necks when they are few.

    Where fewer than :data:`FEW_OBJECTS` objects are at least half the typical area (a crop
    of a few cells), that area is the area of one or two objects, maybe a clump of touching
    cells (measured on crops of MSC, SIM+: the clump's area made the declumping blur over
    the whole clump, and touching cells came out as one object). Each object is then cut
    at its necks (:func:`labelfree.motion.postprocess.to_instances`, distance landscape, at
    the scale of a disk as wide as the object) and the pieces are measured: their typical
    area is returned when it is at most :data:`CLUMP_RATIO` of the objects' (the typical
    object held several cells) and at least ``min_cell_area``. Masks of more objects are
    measured as they are.

    Parameters
    ----------
    mask : (Y, X) bool array
        Objects (8-connected components).
    min_area : int
        Objects and pieces below this many px are ignored.
    neck_ratio : float
        Pieces meet at a neck narrower than this fraction of the thinner one's width.
    min_cell_area : float
        Pieces whose typical area is below this (px) are not taken for cells.

    Returns
    -------
    area : float
        Typical cell area (px); 0.0 without any object.
    support : int
        The objects (or pieces) of at least half that area.
    """
    import cv2

    _, lab, stats = components_with_stats(np.asarray(mask, np.uint8))
    areas = stats[1:, cv2.CC_STAT_AREA]
    areas = areas[areas >= min_area]
    if areas.size == 0:
        return 0.0, 0
    area = float(weighted_median(areas, areas))
    support = int(np.count_nonzero(areas >= area / 2))
    if support >= FEW_OBJECTS:
        return area, support
    pieces = []
    for i in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area) + 1:
        x, y, w, h = stats[i, :4]
        obj = np.pad(lab[y : y + h, x : x + w] == i, 1)
        width = float(cv2.distanceTransform(obj.view(np.uint8), cv2.DIST_L2, 5).max())
        parts = to_instances(obj, min_size=min_area, cell_area=np.pi * width**2, neck_ratio=neck_ratio)
        pieces.append(np.bincount(parts.ravel())[1:])
    sizes = np.concatenate(pieces)
    sizes = sizes[sizes >= min_area]
    if sizes.size == 0:
        return area, support
    split = float(weighted_median(sizes, sizes))
    if split > CLUMP_RATIO * area or split < min_cell_area:  # a cut-off protrusion, or fragments
        return area, support
    return split, int(np.count_nonzero(sizes >= split / 2))


def _entropy_histogram(magnitude, entropy, step, n_bins):
    """Sum of entropy per speed bin of width ``step`` (pixels with |v| = 0 or E = 0 excluded).

    Pixels with E = 0 add nothing anyway; pixels with |v| = 0 are given weight 0.
    """
    mag = np.asarray(magnitude, np.float32)
    weights = np.where(mag != 0, np.asarray(entropy, np.float32), np.float32(0))
    k = mag * np.float32(1.0 / step)
    np.minimum(k, np.float32(n_bins - 1), out=k)
    return np.bincount(k.astype(np.int32).ravel(), weights=weights.ravel(), minlength=n_bins)


def background_threshold(magnitude, entropy, /, *, start: float, target: float, max_factor: float) -> float:
    """Paper's background rule: the smallest speed whose slower pixels hold ``target`` bits of entropy.

    Steps of ``start / 400`` from ``start / 400`` up to ``max_factor * start``
    (paper: 1e-4 steps up to 0.002 for a start of 0.04).
    """
    if start <= 0:
        return 0.0
    step = start / 400.0
    n_max = max(1, int(round(max_factor * 400.0)))
    # bins above the fastest pixel hold nothing: a large max_factor must not size the histogram
    fastest = float(np.max(magnitude)) if np.size(magnitude) else 0.0
    hist = _entropy_histogram(magnitude, entropy, step, int(min(n_max, fastest / step)) + 2)
    below = np.cumsum(hist)  # below[j] = entropy of pixels with |v| < (j + 1) * step (all of them past the end)
    hit = np.flatnonzero(below[:n_max] > target)
    j = hit[0] + 1 if len(hit) else n_max
    return float(j * step)


def cell_threshold(magnitude, entropy, /, *, start: float, step: float, extra: float) -> float:
    """Paper's cell rule: lower the speed threshold from ``start`` by ``step`` until the
    entropy inside the moving mask exceeds its value at ``start`` plus ``extra`` bits.

    If the threshold reaches 0, ``start * 5e-4`` is used (paper: 2e-5 for 0.04).
    """
    if start <= 0 or step <= 0:
        return 0.0
    j0 = int(round(start / step))
    hist = _entropy_histogram(magnitude, entropy, step, j0 + 1)
    above = np.cumsum(hist[::-1])[::-1]  # above[j] = entropy of pixels with |v| >= j * step
    target = above[j0] + extra
    hit = np.flatnonzero(above[1:j0] > target)  # the highest such step below the start
    return float((hit[-1] + 1) * step) if hit.size else float(start * 5e-4)


@dataclasses.dataclass
class SelfLabels:
    """Training labels of one frame pair and the thresholds that produced them."""

    cell: np.ndarray
    background: np.ndarray
    cell_threshold: float
    background_threshold: float
    start_threshold: float
    moving_fraction: float


#: frames with at least this many pixels are self-labelled on 2 x 2-binned maps
BIN_PIXELS = 1_000_000


def self_label(
    magnitude: np.ndarray,
    entropy: np.ndarray,
    /,
    *,
    min_size: int,
    config: MotionConfig | None = None,
    binning: int | None = None,
    flat_background: bool = False,
) -> SelfLabels:
    """Label the surest moving pixels *cell* and the surest still pixels *background*.

    Parameters
    ----------
    magnitude : (Y, X) float array
        Flow speed (px/frame) of the frame pair.
    entropy : (Y, X) float array
        Local entropy (bits) of the pair's earlier frame (the paper's stopping rule).
    min_size : int
        Minimum object size (px) of the candidate masks.
    config : MotionConfig, optional
    binning : int, optional
        Build the labels on ``k`` x ``k``-binned speed and entropy maps (sizes
        and radius scaled to match, entropy averaged) and
        enlarge the masks back. None: 2 for frames of at least ``BIN_PIXELS``
        pixels, else 1. The flow is smooth on that scale (window 15 px, blur
        3 px) and the labels only pick training pixels, so the thresholds and
        the classifier barely change while the morphology costs 4x less.
    flat_background : bool
        Also label the still pixels without entropy background (one grey level after the uint8
        mapping: the dark, flat background of a crop of a few nuclei). False: the paper's labels,
        still pixels with entropy only.

    Returns
    -------
    SelfLabels
        ``cell`` and ``background`` (Y, X) bool masks (disjoint; the rest is
        unlabelled) and the thresholds used.
    """
    cfg = config or MotionConfig()
    full = np.shape(magnitude)
    k = binning if binning is not None else (2 if np.prod(full) >= BIN_PIXELS else 1)
    if k > 1:
        import cv2

        small = (max(1, full[1] // k), max(1, full[0] // k))
        mag_s = cv2.resize(np.asarray(magnitude, np.float32), small, interpolation=cv2.INTER_AREA)
        ent_s = cv2.resize(np.asarray(entropy, np.float32), small, interpolation=cv2.INTER_AREA)
        weight = full[0] * full[1] / (small[0] * small[1])
        cfg_s = cfg.replace(  # the same physical sizes; entropy sums are over k*k times fewer pixels
            closing_radius=int(round(resolve_closing_radius(cfg, min_size=min_size) / k)),
            start_threshold=cfg.start_threshold if cfg.start_threshold is not None else motion_threshold(magnitude),
            cell_extra_entropy=None if cfg.cell_extra_entropy is None else cfg.cell_extra_entropy / weight,
            background_entropy=None if cfg.background_entropy is None else cfg.background_entropy / weight,
        )
        sl = self_label(mag_s, ent_s, min_size=max(1, int(round(min_size / weight))), config=cfg_s, binning=1,
                        flat_background=flat_background)
        cell = cv2.resize(sl.cell.view(np.uint8), full[::-1], interpolation=cv2.INTER_NEAREST).view(bool)
        bg = cv2.resize(sl.background.view(np.uint8), full[::-1], interpolation=cv2.INTER_NEAREST).view(bool)
        bg &= (np.asarray(magnitude) != 0) & (flat_background | (np.asarray(entropy) != 0))
        return SelfLabels(cell, bg, sl.cell_threshold, sl.background_threshold, sl.start_threshold,
                          sl.moving_fraction)
    scale = _pixel_scale(np.shape(magnitude))
    start = cfg.start_threshold if cfg.start_threshold is not None else motion_threshold(magnitude)
    if cfg.cell_threshold is not None:
        th_cell = float(cfg.cell_threshold)
    else:
        extra = cfg.cell_extra_entropy if cfg.cell_extra_entropy is not None else 4e3 * scale
        th_cell = cell_threshold(magnitude, entropy, start=start, step=cfg.cell_step_factor * start, extra=extra)
    if cfg.background_threshold is not None:
        th_bg = float(cfg.background_threshold)
    else:
        target = cfg.background_entropy if cfg.background_entropy is not None else 1e5 * scale
        th_bg = background_threshold(magnitude, entropy, start=start, target=target,
                                     max_factor=cfg.background_max_factor)
    r = resolve_closing_radius(cfg, min_size=min_size)
    cell = candidate_mask(magnitude, threshold=th_cell, min_size=min_size, radius=r)
    moving = candidate_mask(magnitude, threshold=th_bg, min_size=min_size, radius=r)
    background = ~moving & (np.asarray(magnitude) != 0) & (flat_background | (np.asarray(entropy) != 0)) & ~cell
    moving_fraction = float(np.count_nonzero(np.asarray(magnitude) > start)) / max(1, np.size(magnitude))
    return SelfLabels(cell, background, th_cell, th_bg, start, moving_fraction)
