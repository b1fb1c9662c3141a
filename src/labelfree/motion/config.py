"""Configuration of the Motion pipeline (every threshold of the paper, overridable)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from labelfree._config import PipelineConfig
from labelfree.errors import ConfigError

__all__ = ["MotionConfig"]


@dataclasses.dataclass
class MotionConfig(PipelineConfig):
    """Parameters of :func:`labelfree.motion.segment`. ``None`` means "chosen from the data".

    Field names are stable: they are the keys of the Fiji command "LabelFree Motion"
    and of JSON config files.

    Attributes
    ----------
    flow_reference : {"previous", "black"}
        What frame t is compared with. "previous" (default): frame t-1, optical flow
        as the paper describes it. "black": an all-zero frame, as the authors' MATLAB
        code does in effect (see docs/motion.md); the flow then measures structure.
    pyr_scale, levels, winsize, iterations, poly_n, poly_sigma :
        Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window,
        3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.
    flow_blur : float
        Gaussian sigma (px) applied to both frames before the flow (0 = none). It
        keeps camera noise from producing flow in the background.
    flow_downsample : int
        Compute the flow on frames binned ``k`` x ``k`` (after the blur) and scale
        it back to full-size pixels; 1 = full resolution (the paper). 2 makes the
        flow ~4x cheaper; the flow only picks the training pixels, the cell
        outlines come from the full-resolution classifier.
    scale_low_percentile, scale_high_percentile : float
        Non-uint8 movies are mapped to uint8 once per movie: these percentiles
        (of a frame subsample) become 0 and 255.
    cell_threshold, background_threshold : float or None
        Flow-magnitude thresholds (px/frame) for the cell and background training
        labels. None: found per frame pair by the paper's entropy rules.
    start_threshold : float or None
        Speed (px/frame) where the automatic threshold searches start; None: the
        Otsu threshold of the pair's flow magnitude (the paper used a fixed 0.04).
    cell_step_factor : float
        The cell threshold is lowered by this x the start per step (paper: 0.002 / 0.04).
    background_max_factor : float
        Auto background threshold never exceeds this x the cell start (paper: 0.002/0.04).
    cell_extra_entropy, background_entropy : float or None
        Entropy sums (bits) that stop the threshold searches. None: the paper's
        4e3 and 1e5, which were tuned for 2-Mpixel frames, times (pixels / 2e6).
    min_size : int or None
        Objects smaller than this (px) are removed; None: from a flow-only pass.
        ``min_size_fraction`` x the area-weighted median area of the moving
        objects (550 x pixels / 2e6 if none), as the paper's size filter.
    min_size_fraction : float
        Automatic min_size as a fraction of the typical moving-object area (paper: 0.5 x mean).
    refine_min_size : bool
        Lower the automatic min_size to fit the objects of the first classified frame.
    size_estimate_threshold : float or None
        Flow threshold of the flow-only size pass; None: the start threshold.
    closing_radius : int or None
        Radius (px) of the disk used to close masks before filling holes (paper: 5); None:
        a fifth of the typical cell radius, from 1 to entropy_size // 2 + 1 px. The
        flow-only size pass, which runs before the size is known, uses 5
        (:func:`labelfree.motion.selflabel.cell_scale`).
    clear_border : bool
        Remove objects touching the image border, as the paper does (default off).
    entropy_size, entropy_bins : int
        Local-entropy window (7, as the paper) and grey-level bins (power of two; 256
        reproduces MATLAB exactly; the default 16 is ~10x faster and less saturated by noise).
    features : tuple of str
        Static features of frame t for the classifier (see ``labelfree.motion.FEATURES``).
        The paper used ("entropy", "gradient"); the grey level ("intensity") is
        added by default (pixel F1 on Fluo-C2DL-MSC +0.01, see docs/motion.md).
        ("entropy", "log_intensity") is better on dim, thin protrusions
        (Fluo-C2DL-MSC, GOWT1) and worse on HeLa and C2C12 (docs/benchmarks/motion.md).
    class_prior : float or None
        Prior probability of *cell* in the classifier (default 0.5). None: the
        self-label counts, as the paper (MATLAB ``fitcnb``); those reflect the
        threshold rules rather than how much of the field the cells cover.
    decision_smoothing : float
        Gaussian sigma (px) of the smoothing of the classifier's log-odds before
        the cell/background decision (0 = per pixel, as the paper).
    max_training_pixels : int
        Training pixels per class subsampled for the classifier (0 = all).
    classifier : {"gaussian", "kernel"}
        Class densities of the Naive Bayes: normal per feature (the paper, MATLAB
        ``fitcnb`` default) or kernel densities (``fitcnb`` 'kernel'; smoothed
        histograms, :class:`labelfree.motion.KernelNB`), which follow a cell class
        that mixes bright bodies and dim protrusions. A kernel model that calls more
        than half the frame, or more than 10 % of its own background labels, cell is
        replaced by normal densities for that pair (per_pair mode; recorded in the
        provenance's ``thresholds``).
    classifier_mode : {"per_pair", "cumulative"}
        Train a fresh classifier per frame pair (paper), or keep updating one.
    refine_boundary : bool
        Re-decide the pixels near each object's outline with a second classifier on
        the smoothed grey level, trained on the objects' cores and the far
        background (:func:`labelfree.motion.refine_boundaries`). Removes the halo
        of about 3 px that the 7x7 entropy window leaves.
    refine_classifier : {"kernel", "gaussian"}
        Class densities of the refinement's classifier (see ``classifier``).
    refine_min_contrast : float
        The refinement is skipped while the object cores and the far background
        differ in smoothed grey level by less than this many pooled standard
        deviations (:func:`labelfree.motion.grey_contrast`), as the median over the
        movie's frames so far (fluorescence gives 2-3; phase contrast below 1, where
        the grey level would cut cells apart). 0 = refine every frame. The
        provenance's ``refinement`` list records each frame's contrast.
    refine_inner, refine_outer : int
        The band re-decided: ``refine_inner`` px inside to ``refine_outer`` px
        outside the outline.
    refine_sigma : float
        Gaussian sigma (px) of the grey level used by the refinement.
    declump : bool
        Split touching cells into instances (:class:`labelfree.motion.InstanceTracker`).
    declump_neck_ratio : float or None
        Distance landscape (see declump_landscape): pieces of a split clump are merged
        again unless they meet at a neck narrower than this fraction of the thinner
        piece's width (:func:`labelfree.labels.declump`), so that long, thin cells are
        not cut into slices (default 0.8: object F1 on Fluo-C2DL-MSC 0.30 -> 0.44,
        unchanged on SIM+ and GOWT1). None: keep every watershed piece.
    track : bool
        Keep label IDs across frames by overlap matching.
    track_min_iou : float
        Smallest IoU that links an object to one of the previous frame.
    drift_correction : {False, "python", "fiji", "auto"}
        Correct stage drift before the flow (labelfree.registration.correct_drift).
    seed : int
        Seed of the training-pixel subsampling.
    declump_landscape : {"auto", "intensity", "distance"}
        What a clump is split along when the movie gives no other evidence: the
        smoothed grey level ("intensity": touching cells are two bright bodies with a
        dimmer contact) or the distance to the background ("distance": the shape,
        pieces merged with ``declump_neck_ratio``). "auto": intensity while the
        movie's median grey contrast is at least ``refine_min_contrast``
        (fluorescence), else distance (phase contrast).
    declump_dip_ratio : float
        Intensity landscape: two pieces stay apart only where the grey level
        between them falls below this fraction of the dimmer one's peak (above
        the background).
    declump_temporal : bool
        Use the previous frame's objects, moved with the flow: cells seen apart are
        split along them when they touch, a cell seen whole stays whole
        (:class:`labelfree.motion.InstanceTracker`). False: every frame on its own.
    """

    flow_reference: Literal["previous", "black"] = "previous"
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.1
    flow_blur: float = 3.0
    flow_downsample: int = 1
    scale_low_percentile: float = 0.5
    scale_high_percentile: float = 99.8
    cell_threshold: float | None = None
    background_threshold: float | None = None
    start_threshold: float | None = None
    cell_step_factor: float = 0.05
    background_max_factor: float = 0.05
    cell_extra_entropy: float | None = None
    background_entropy: float | None = None
    min_size: int | None = None
    min_size_fraction: float = 0.25
    refine_min_size: bool = True
    size_estimate_threshold: float | None = None
    closing_radius: int | None = None
    clear_border: bool = False
    entropy_size: int = 7
    entropy_bins: int = 16
    features: tuple[str, ...] = ("entropy", "gradient", "intensity")
    class_prior: float | None = 0.5
    decision_smoothing: float = 0.0
    max_training_pixels: int = 20000
    classifier: Literal["gaussian", "kernel"] = "gaussian"
    classifier_mode: Literal["per_pair", "cumulative"] = "per_pair"
    refine_boundary: bool = True
    refine_classifier: Literal["kernel", "gaussian"] = "kernel"
    refine_min_contrast: float = 1.5
    refine_inner: int = 2
    refine_outer: int = 12
    refine_sigma: float = 2.0
    declump: bool = True
    declump_neck_ratio: float | None = 0.8
    track: bool = True
    track_min_iou: float = 0.3
    drift_correction: Literal[False, "python", "fiji", "auto"] = False
    seed: int = 0
    declump_landscape: Literal["auto", "intensity", "distance"] = "auto"
    declump_dip_ratio: float = 0.7
    declump_temporal: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.features, str):
            self.features = (self.features,)
        self.features = tuple(self.features)
        from labelfree.motion.features import FEATURES

        unknown = [name for name in self.features if name not in FEATURES]
        if unknown or not self.features:
            what = f"unknown feature(s) {unknown}" if unknown else "no feature"
            raise ConfigError(
                f"MotionConfig.features: {what}; valid features are {sorted(FEATURES)} "
                "(add your own with labelfree.motion.register_feature)."
            )
        self._check_choices()
        if self.declump_neck_ratio is not None and not 0 < self.declump_neck_ratio <= 1:
            raise ConfigError(f"declump_neck_ratio must be in (0, 1] or null; got {self.declump_neck_ratio}.")
        if self.refine_inner < 0 or self.refine_outer < 1 or self.refine_sigma < 0:
            raise ConfigError("need refine_inner >= 0, refine_outer >= 1 and refine_sigma >= 0 (px).")
        if not self.refine_min_contrast >= 0:
            raise ConfigError(f"refine_min_contrast must be >= 0 (0 = always refine); got {self.refine_min_contrast}.")
        if not 0 <= self.scale_low_percentile < self.scale_high_percentile <= 100:
            raise ConfigError("need 0 <= scale_low_percentile < scale_high_percentile <= 100.")
        if self.flow_downsample < 1:
            raise ConfigError(f"flow_downsample must be an integer >= 1; got {self.flow_downsample}.")
        if self.winsize < 3 or self.levels < 0 or self.iterations < 1 or self.poly_n not in (5, 7):
            raise ConfigError("Farneback needs winsize >= 3, levels >= 0, iterations >= 1, poly_n 5 or 7.")
        for name in ("cell_threshold", "background_threshold", "size_estimate_threshold", "start_threshold"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0 (px/frame) or null for automatic; got {value}.")
        if self.class_prior is not None and not 0 < self.class_prior < 1:
            raise ConfigError(f"class_prior must be between 0 and 1 (exclusive) or null; got {self.class_prior}.")
        if (self.closing_radius is not None and self.closing_radius < 0) or (self.min_size is not None and self.min_size < 0):
            raise ConfigError("closing_radius and min_size must be >= 0 (or null for automatic).")
        if not 0 < self.declump_dip_ratio <= 1:
            raise ConfigError(f"declump_dip_ratio must be in (0, 1]; got {self.declump_dip_ratio}.")
