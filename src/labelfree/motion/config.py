"""Configuration of the Motion pipeline (every threshold of the paper, overridable).

Each field is declared with :func:`labelfree._config.setting`: its help text, dialog
group, level (basic fields are in the first Fiji dialog) and range travel with it.
``None`` means "chosen from the data".
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from labelfree._config import PipelineConfig, setting
from labelfree.errors import ConfigError

__all__ = ["MotionConfig"]

_FLOW = "optical flow"
_LABELS = "self-labelling"
_SIZE = "size and clean-up"
_CLASSIFIER = "classifier and features"
_REFINE = "boundary refinement"
_OBJECTS = "objects"

#: below this Gaussian sigma (px) the Farnebaeck polynomial fit is singular (labelfree's engine fails
#: under 0.11 px, OpenCV's gives zero flow under 0.17 px)
MIN_POLY_SIGMA = 0.2
#: the cell-threshold search holds one histogram bin per step: at most 10,000
MIN_CELL_STEP_FACTOR = 1e-4


@dataclasses.dataclass
class MotionConfig(PipelineConfig):
    """Parameters of :func:`labelfree.motion.segment`.

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(MotionConfig)``, ``labelfree options motion`` in a shell).

    Field names are stable: they are the keys of the Fiji command "LabelFree Motion",
    of macros and of JSON/YAML config files. docs/options.md lists every field.
    """

    flow_reference: Literal["previous", "black"] = setting(
        "previous", group=_FLOW,
        help="What frame t is compared with: 'previous' (frame t-1, optical flow as the paper describes it) or "
             "'black' (an all-zero frame, as the authors' MATLAB code does in effect; the flow then measures structure).")
    flow_method: Literal["farneback", "dis"] = setting(
        "farneback", group=_FLOW,
        help="Optical flow: 'farneback' (the paper's, with the parameters below) or 'dis' (OpenCV's DIS flow with "
             "dis_preset: 7-15x cheaper, but it finds several pixels of flow in a still, untextured background; "
             "measured far worse on the benchmark sets, docs/benchmarks.md).")
    flow_engine: Literal["labelfree", "opencv"] = setting(
        "labelfree", group=_FLOW,
        help="Farneback: whose implementation. 'labelfree' expands each frame's polynomials once for both pairs "
             "it belongs to (about half the cost of the paper's call; pixel F1 within 0.006 of 'opencv' on every "
             "benchmark set); 'opencv' is OpenCV's calcOpticalFlowFarneback, the paper's, which expands both "
             "frames on every call.")
    dis_preset: Literal["ultrafast", "fast", "medium"] = setting(
        "fast", group=_FLOW, help="DIS flow: OpenCV's preset (speed against detail).")
    pyr_scale: float = setting(0.5, group=_FLOW, gt=0, lt=1,
                               help="Farneback: image scale between pyramid levels (paper 0.5).")
    levels: int = setting(3, group=_FLOW, ge=0, help="Farneback: pyramid levels above the full image (paper 3).")
    winsize: int = setting(15, group=_FLOW, ge=3, le=1001, help="Farneback: averaging window in pixels (paper 15).")
    iterations: int = setting(3, group=_FLOW, ge=1, le=1000, help="Farneback: iterations per pyramid level (paper 3).")
    fine_iterations: int | None = setting(
        2, group=_FLOW, ge=1, le=1000,
        help="Farneback: iterations at the finest level (null: iterations, as the paper; with flow_engine "
             "'opencv', its single call). Fewer cost less: the finest level holds most of the pixels (pixel F1 "
             "within 0.01 of the paper's call on every benchmark set with 2 or 1; MSC 0.801 with 2, 0.798 with 1).")
    poly_n: Literal[5, 7] = setting(5, group=_FLOW, help="Farneback: neighbourhood of the polynomial fit, 5 or 7 px (paper 5).")
    poly_sigma: float = setting(1.1, group=_FLOW, gt=0,
                                help="Farneback: Gaussian sigma of the polynomial fit (paper 1.1).")
    flow_blur: float = setting(
        3.0, group=_FLOW, ge=0, le=100,
        help="Gaussian sigma (px) applied to both frames before the flow (0 = none); keeps camera noise from "
             "producing flow in the background.")
    flow_downsample: int | None = setting(
        1, group=_FLOW, ge=1,
        help="Compute the flow on frames binned k x k and scale it back (1 = full resolution, as the paper; "
             "2 makes the flow about 4x cheaper). Automatic (null): k from the typical cell radius of the first "
             "moving pair's full-resolution flow (flow_downsample_radius), with the window and pyramid scaled to "
             "keep their size on the full frame.")
    flow_downsample_radius: float = setting(
        16.0, group=_FLOW, gt=0,
        help="Automatic flow_downsample: the flow is binned k x k (k a power of two) while the typical cell "
             "radius stays at least this many pixels on the binned frame.")
    upsample: int | None = setting(
        None, group=_FLOW, ge=1, le=2,
        help="Segment the movie enlarged k x k (linear) and reduce the labels back (1 = as given). Automatic "
             "(null): 2 when the typical cell radius, measured on the first classified frame, is under "
             "flow_downsample_radius / sqrt(2) px (small cells: the flow, entropy and clean-up windows then see "
             "them at the size they were made for; the run restarts enlarged), else 1; 1 when min_size is given.")
    scale_low_percentile: float | None = setting(
        None, group=_FLOW, ge=0, le=100,
        help="Non-8-bit movies are mapped to 8 bits once per movie: this percentile of its pixels becomes 0 (8-bit "
             "movies are only spread from their smallest to their largest value, never clipped). Automatic (null): "
             "0.5 for a dark background (fluorescence), 0.01 for a grey one with darker and brighter cells (phase "
             "contrast, brightfield: their halos are not clipped).")
    scale_high_percentile: float | None = setting(
        None, group=_FLOW, ge=0, le=100,
        help="Percentile that becomes 255 when mapping a movie to 8 bits. Automatic (null): 99.8 for a dark "
             "background (fluorescence), 99.99 for a grey one (phase contrast, brightfield).")
    cell_threshold: float | None = setting(
        None, group=_LABELS, ge=0,
        help="Flow speed (px/frame) above which pixels are self-labelled cell; automatic: the paper's entropy rules.")
    background_threshold: float | None = setting(
        None, group=_LABELS, ge=0,
        help="Flow speed (px/frame) below which pixels are self-labelled background; automatic: the paper's rules.")
    start_threshold: float | None = setting(
        None, group=_LABELS, ge=0,
        help="Speed (px/frame) where the automatic threshold searches start; automatic: Otsu of the pair's flow "
             "speed (the paper used a fixed 0.04).")
    cell_step_factor: float = setting(
        0.05, group=_LABELS, gt=0, le=1,
        help="The cell threshold is lowered by this fraction of the start value per step (paper 0.002 / 0.04).")
    background_max_factor: float = setting(
        0.05, group=_LABELS, gt=0,
        help="The automatic background threshold never exceeds this fraction of the cell start value.")
    cell_extra_entropy: float | None = setting(
        None, group=_LABELS, gt=0,
        help="Entropy sum (bits) that stops the cell-threshold search; automatic: the paper's 4e3 scaled to the "
             "frame size (it was tuned for 2-Mpixel frames).")
    background_entropy: float | None = setting(
        None, group=_LABELS, gt=0,
        help="Entropy sum (bits) that stops the background-threshold search; automatic: the paper's 1e5 scaled "
             "to the frame size.")
    min_size: int | None = setting(
        None, group=_SIZE, basic=True, ge=0,
        help="Objects smaller than this many pixels are removed; automatic: a fraction (min_size_fraction) of the "
             "typical moving-object area found by a flow-only pass, as the paper's size filter.")
    min_size_fraction: float = setting(
        0.25, group=_SIZE, ge=0.01, le=1,
        help="Automatic min_size as a fraction of the typical moving-object area (paper 0.5 x mean; at least 0.01: "
             "the typical area is measured back from min_size with it).")
    refine_min_size: bool = setting(
        True, group=_SIZE, help="Lower the automatic min_size to fit the objects of the first classified frame.")
    size_estimate_threshold: float | None = setting(
        None, group=_SIZE, ge=0,
        help="Flow threshold of the flow-only size pass (px/frame); automatic: the start threshold.")
    closing_radius: int | None = setting(
        None, group=_SIZE, ge=0, le=100,
        help="Radius (px) of the disk that closes masks before holes are filled (paper 5); automatic: a fifth "
             "of the typical cell radius, from 1 to entropy_size // 2 + 1 px.")
    clear_border: bool = setting(
        False, group=_SIZE, basic=True, help="Remove objects touching the image border, as the paper does.")
    entropy_size: int = setting(7, group=_CLASSIFIER, ge=3, le=101,
                                help="Side (px) of the local-entropy window, an odd number (paper 7).")
    entropy_bins: int = setting(
        16, group=_CLASSIFIER, ge=2, le=256,
        help="Grey-level bins of the local entropy (a power of two; 256 reproduces MATLAB exactly, 16 is about "
             "10x faster and less saturated by noise).")
    features: tuple[str, ...] = setting(
        ("entropy", "gradient", "intensity"), group=_CLASSIFIER,
        help="Static features of frame t for the classifier (labelfree.motion.FEATURES); the paper used entropy "
             "and gradient, the grey level (intensity) is added by default.")
    class_prior: float | None = setting(
        0.5, group=_CLASSIFIER, gt=0, lt=1,
        help="Prior probability of cell in the classifier; automatic (null): the self-label counts, as the paper.")
    decision_smoothing: float = setting(
        0.0, group=_CLASSIFIER, ge=0, le=100,
        help="Gaussian sigma (px) applied to the classifier's log-odds before the decision (0 = per pixel).")
    max_training_pixels: int = setting(
        20000, group=_CLASSIFIER, ge=0, help="Training pixels per class drawn for the classifier (0 = all).")
    classifier: Literal["gaussian", "kernel"] = setting(
        "gaussian", group=_CLASSIFIER,
        help="Class densities of the Naive Bayes: normal per feature (the paper) or kernel densities (smoothed "
             "histograms), with a fallback to normal densities for a pair where a kernel model floods the frame.")
    classifier_mode: Literal["per_pair", "cumulative"] = setting(
        "per_pair", group=_CLASSIFIER,
        help="Train a fresh classifier per frame pair (the paper), or keep updating one over the movie.")
    refine_boundary: bool = setting(
        True, group=_REFINE, basic=True,
        help="Re-decide the pixels near each outline with a second classifier on the smoothed grey level, "
             "trained on object cores and far background (removes the entropy window's halo).")
    refine_classifier: Literal["kernel", "gaussian"] = setting(
        "kernel", group=_REFINE, help="Class densities of the refinement's classifier (see classifier).")
    refine_min_contrast: float = setting(
        1.5, group=_REFINE, ge=0,
        help="Skip the refinement while cores and background differ in grey level by less than this many pooled "
             "standard deviations (median over the frames so far; phase contrast gives < 1). 0 = always refine.")
    refine_inner: int = setting(2, group=_REFINE, ge=0, le=100,
                                help="The refined band starts this many px inside each outline.")
    refine_outer: int = setting(12, group=_REFINE, ge=1, le=100,
                                help="The refined band ends this many px outside each outline.")
    refine_sigma: float = setting(2.0, group=_REFINE, ge=0, le=100,
                                  help="Gaussian sigma (px) of the grey level used by the refinement.")
    declump: bool = setting(True, group=_OBJECTS, basic=True,
                            help="Split touching cells into separate objects, using the previous frame's objects and "
                                 "the grey level or the shape (labelfree.motion.InstanceTracker).")
    declump_neck_ratio: float | None = setting(
        0.8, group=_OBJECTS, gt=0, le=1,
        help="Distance landscape: pieces of a split clump are merged again unless they meet at a neck narrower than "
             "this fraction of the thinner piece's width, so long thin cells are not cut into slices; null keeps "
             "every piece.")
    track: bool = setting(True, group=_OBJECTS, basic=True,
                          help="Keep each cell's label id across frames by overlap matching.")
    track_min_iou: float = setting(0.3, group=_OBJECTS, gt=0, le=1,
                                   help="Smallest IoU that links an object to one of the previous frame.")
    drift_correction: Literal[False, "python", "fiji", "auto"] = setting(
        False, group=_OBJECTS, basic=True,
        help="Correct stage drift before the flow: false, 'python', 'fiji' (Correct 3D Drift) or 'auto' (Fiji "
             "when it runs, else Python).")
    seed: int = setting(0, group=_CLASSIFIER, ge=0, help="Seed of the training-pixel subsampling.")
    declump_landscape: Literal["auto", "intensity", "distance"] = setting(
        "auto", group=_OBJECTS,
        help="What a clump is split along when the movie gives no other evidence: the smoothed grey level "
             "('intensity'), the distance to the background ('distance', the shape), or 'auto': intensity while "
             "the movie's grey contrast is at least refine_min_contrast (fluorescence), else distance.")
    declump_dip_ratio: float = setting(
        0.7, group=_OBJECTS, gt=0, le=1,
        help="Intensity landscape: two pieces stay apart only where the grey level between them falls below this "
             "fraction of the dimmer one's peak (above the background).")
    declump_temporal: bool = setting(
        True, group=_OBJECTS,
        help="Use the previous frame's objects moved with the flow: cells seen apart are split along them when "
             "they touch, a cell seen whole stays whole. False: every frame on its own.")

    def __post_init__(self) -> None:
        if isinstance(self.features, str):
            self.features = (self.features,)
        super().__post_init__()

    def check(self) -> None:
        from labelfree.motion.features import FEATURES

        unknown = [name for name in self.features if name not in FEATURES]
        if unknown or not self.features:
            what = f"unknown feature(s) {unknown}" if unknown else "no feature"
            raise ConfigError(
                f"MotionConfig.features: {what}; valid features are {sorted(FEATURES)} "
                "(add your own with labelfree.motion.register_feature)."
            )
        if self.poly_sigma < MIN_POLY_SIGMA:
            raise ConfigError(
                f"MotionConfig.poly_sigma must be at least {MIN_POLY_SIGMA:g} px; got {self.poly_sigma:g}. A narrower "
                "Gaussian puts no weight beyond the centre pixel: the polynomial fit is singular (OpenCV's flow is "
                "then zero everywhere). The paper uses 1.1 with poly_n 5, OpenCV suggests 1.5 with poly_n 7."
            )
        if self.cell_step_factor < MIN_CELL_STEP_FACTOR:
            raise ConfigError(
                f"MotionConfig.cell_step_factor must be at least {MIN_CELL_STEP_FACTOR:g} (the threshold search "
                f"takes 1 / cell_step_factor steps, one histogram bin each); got {self.cell_step_factor:g}. "
                "The paper's is 0.05."
            )
        if (self.scale_low_percentile is not None and self.scale_high_percentile is not None
                and not self.scale_low_percentile < self.scale_high_percentile):
            raise ConfigError("need scale_low_percentile < scale_high_percentile.")
        if self.entropy_size % 2 == 0:
            raise ConfigError(
                f"MotionConfig.entropy_size must be an odd number in [3, 101] (the window is centred on its pixel); "
                f"got {self.entropy_size}. Use {self.entropy_size - 1} or {self.entropy_size + 1}."
            )
        if self.entropy_bins & (self.entropy_bins - 1):
            raise ConfigError(f"MotionConfig.entropy_bins must be a power of two; got {self.entropy_bins}.")
