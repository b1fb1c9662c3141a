"""The object diameter Fusion runs its models at, measured on the image when none is given.

A cellpose network segments well only near the object size it was trained at: every
image is rescaled by ``diam_mean / diameter`` before the network, so a wrong
``diameter`` shows the network objects larger or smaller than it knows, and it cuts
them into fragments or misses them. cellpose estimates the diameter with a
``SizeModel``: a linear regression from the network's style vector, trained for each
built-in model, followed by one segmentation at that diameter whose median mask
diameter is the answer. Models trained by LabelFree (from scratch or fine-tuned) have
no such regression, and the second step alone (segment at the training diameter, take
the median diameter of the masks) stays near where it started when it starts far off:
at half the object size the network returns a few fragments about its own expected
size (docs/benchmarks.md, "Fusion: automatic diameter", compares both).

So LabelFree **searches**: it runs the chosen models at diameters on a geometric grid
(steps of sqrt 2) starting at their mean training diameter, fuses the channels by Flow
Averaging, integrates the flows and scores each diameter ``D`` by its **coverage**: the
fraction of the cell-probability foreground covered by masks that pass cellpose's
flow-error check (``flow_threshold``, 0.4 when the config turns the check off) and the
minimum size. Too large a ``D`` shrinks the objects below what the network knows: they
vanish or merge into masks the flow check rejects. Too small a ``D`` shows the network
objects larger than it knows: it cuts them into pieces, and the pieces' masks fail the
flow check or leave parts of the foreground uncovered. The search climbs from the
training diameter in the better direction while the coverage grows (within 1/4 to 8
times it), then tries a half step (2^(1/4)) on each side of the best.

Two other scores were measured and dropped (docs/benchmarks.md, "Fusion: automatic
diameter"): the number of masks times their coverage counts the pieces of cells cut by a
too small diameter as objects, and chose such a diameter on touching cells; the median
mask diameter (cellpose's second step) is biased towards the size the network expects
(+13 % for the benchmark's networks) and lowered F1 as a refinement.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np

from labelfree._label_memory import memory_left, memory_text
from labelfree.fusion.config import FusionConfig
from labelfree.fusion.flows import (
    common_diameter,
    default_niter,
    flow_average,
    integrate_flows,
    network_zoom,
    predict_flows,
    zoomed_bytes,
)
from labelfree.fusion.spec import SPEC

__all__ = ["DiameterChoice", "coverage", "median_diameter", "estimate_diameter", "choose_diameter"]

log = logging.getLogger(__name__)

#: grid step of the search (the half step of the refinement is its square root)
STEP = math.sqrt(2.0)
#: the search stays within these factors of the models' training diameter
LOWEST, HIGHEST = 0.25, 8.0
#: frames larger than this (px per side) are searched on a central crop of it
SEARCH_SIDE = 1024


@dataclasses.dataclass
class DiameterChoice:
    """The diameter chosen for a run and how it was found.

    Attributes
    ----------
    diameter : float
        Object diameter in pixels of the image.
    source : str
        ``"given"`` (the config's value), ``"search"`` (measured) or ``"training"``
        (the models' mean training diameter, when the search found no object at all).
    scores : dict
        Diameter tried -> its coverage (empty unless searched).
    flows : dict
        Position in the measured frames -> per-channel ``(dP, cellprob)`` at ``diameter``,
        when the search ran on whole frames (so the run does not compute them again).
    """

    diameter: float
    source: str
    scores: dict[float, float] = dataclasses.field(default_factory=dict)
    flows: dict[int, list[tuple[np.ndarray, np.ndarray]]] = dataclasses.field(default_factory=dict, repr=False)

    def record(self) -> dict[str, Any]:
        """What the provenance keeps: the diameter, its source and the coverage of each diameter tried."""
        out: dict[str, Any] = {"diameter": round(self.diameter, 3), "diameter_source": self.source}
        if self.scores:
            out["diameter_coverage"] = {f"{d:.2f}": round(s, 3) for d, s in sorted(self.scores.items())}
        return out


def median_diameter(labels: np.ndarray, /) -> float:
    """Median equivalent-circle diameter (pixels) of the objects of a label image (0 when empty)."""
    ids, counts = np.unique(np.asarray(labels), return_counts=True)
    counts = counts[ids > 0]
    return float(np.median(2.0 * np.sqrt(counts / np.pi))) if counts.size else 0.0


def coverage(labels: np.ndarray, cellprob: np.ndarray, /, *, cellprob_threshold: float = 0.0) -> float:
    """Fraction of the cell-probability foreground that the masks cover (0 when there is no foreground).

    Parameters
    ----------
    labels : (Y, X) instance labels of a flow integration (after the flow check)
    cellprob : (Y, X) cell-probability logit the labels were integrated from
    cellprob_threshold : float
        Logit above which a pixel is foreground.
    """
    foreground = np.asarray(cellprob) > cellprob_threshold
    total = int(np.count_nonzero(foreground))
    if total == 0:
        return 0.0
    return float(np.count_nonzero(foreground & (np.asarray(labels) > 0))) / total


def _central_crop(plane: np.ndarray, side: int) -> np.ndarray:
    h, w = plane.shape
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return plane[y0:y0 + side, x0:x0 + side]


def estimate_diameter(
    frames: Sequence[Mapping[str, np.ndarray]],
    models: Mapping[str, Any],
    /,
    *,
    config: FusionConfig | None = None,
    progress: Any = None,
) -> DiameterChoice:
    """Measure the object diameter of an image with the models that will segment it.

    Parameters
    ----------
    frames : sequence of mappings channel -> (Y, X) plane
        The frames to measure on (e.g. the first, middle and last of a movie); the
        score of a diameter is its mean coverage over them. Planes larger than 1024 px are
        searched on a central 1024 x 1024 crop.
    models : mapping channel -> CellposeNet
        The models of the run (same keys as each frame).
    config : FusionConfig, optional
        Thresholds, ``average_space``, ``niter`` and ``batch_size`` of the run (flow
        integration runs where the models are).
    progress : labelfree._progress.Progress, optional
        Told about each diameter tried (and asked whether to cancel).

    Returns
    -------
    DiameterChoice
        ``source="search"``, or ``"training"`` when no diameter gave any object.
    """
    cfg = config or FusionConfig()
    chans = list(models)
    nets = [models[c] for c in chans]
    start = common_diameter(nets)
    whole = all(max(np.shape(f[c])) <= SEARCH_SIDE for f in frames for c in chans)
    planes = [{c: _central_crop(np.asarray(f[c]), SEARCH_SIDE) for c in chans} for f in frames]
    device = getattr(nets[0], "device", None) if nets else None
    flow_threshold = cfg.flow_threshold if cfg.flow_threshold > 0 else 0.4
    scores: dict[float, float] = {}
    kept: dict[float, list[list[tuple[np.ndarray, np.ndarray]]]] = {}

    pixels = max((int(np.prod(np.shape(p[c]))) for p in planes for c in chans), default=0)
    skipped: dict[float, tuple[float, int, int]] = {}  # diameters whose enlarged planes' work did not fit

    def affordable(d: float) -> bool:
        zoom = network_zoom(nets, d)
        need = zoomed_bytes(pixels, zoom)  # 0 at a scale of 1 or less, which the spec counts
        left = memory_left(SPEC) if need else None
        if left is None or need <= left:
            return True
        skipped[d] = (zoom, need, left)
        return False

    def score(d: float) -> float:
        key = round(d, 3)
        if key in scores:
            return scores[key]
        if not affordable(key):  # a diameter the search cannot afford is no better than the best so far
            return -1.0
        total, flows_here = 0.0, []
        for plane in planes:
            flows = [predict_flows(models[c], plane[c], diameter=key, batch_size=cfg.batch_size) for c in chans]
            dP, cellprob = flow_average(flows, space=cfg.average_space)
            labels = integrate_flows(dP, cellprob, niter=cfg.niter or default_niter(nets, diameter=key),
                                     cellprob_threshold=cfg.cellprob_threshold, flow_threshold=flow_threshold,
                                     min_size=cfg.min_size, device=device)
            total += coverage(labels, cellprob, cellprob_threshold=cfg.cellprob_threshold)
            flows_here.append(flows)
        total /= len(planes)
        scores[key] = total
        if whole:
            kept[key] = flows_here
        log.debug("diameter %.2f px: coverage %.3f", key, total)
        if progress is not None:
            progress.update(0, message=f"diameter {key:.1f} px: coverage {total:.2f}")
        return total

    def inside(d: float) -> bool:
        return LOWEST * start * 0.99 <= d <= HIGHEST * start * 1.01

    best, best_score = start, score(start)
    up, down = score(start * STEP), score(start / STEP)
    direction = STEP if up >= down else 1 / STEP
    if max(up, down) > best_score:
        best, best_score = start * direction, max(up, down)
        while inside(best * direction):
            nxt = score(best * direction)
            if nxt <= best_score:
                break
            best, best_score = best * direction, nxt
    for d in (best / math.sqrt(STEP), best * math.sqrt(STEP)):
        s = score(d)
        if s > best_score:
            best, best_score = d, s
    if skipped:
        d = max(skipped)
        zoom, need, left = skipped[d]
        log.warning("Fusion: the diameter search did not try %.1f px%s: the networks would see the plane enlarged "
                    "%.1f x %.1f, %s of work, and %s of memory is left; the diameter chosen, %.1f px, may be too "
                    "large for the objects. Give the diameter (diameter=, px), or run where more memory is free.",
                    d, " or smaller" if len(skipped) > 1 else "", zoom, zoom, memory_text(need), memory_text(left),
                    best if best_score > 0 else start)
    if best_score <= 0:
        log.info("no objects at any diameter tried (%s px); using the models' training diameter %.1f px",
                 ", ".join(f"{d:.1f}" for d in sorted(scores)), start)
        return DiameterChoice(start, "training", scores, {})
    key = round(best, 3)
    flows = {i: f for i, f in enumerate(kept.get(key, []))}
    return DiameterChoice(key, "search", scores, flows)


def choose_diameter(
    frames: Sequence[Mapping[str, np.ndarray]],
    models: Mapping[str, Any],
    /,
    *,
    config: FusionConfig,
    progress: Any = None,
) -> DiameterChoice:
    """The config's diameter when it gives one (> 0), else :func:`estimate_diameter` on ``frames``."""
    if config.diameter and config.diameter > 0:
        return DiameterChoice(float(config.diameter), "given")
    return estimate_diameter(frames, models, config=config, progress=progress)
