"""Motion: self-supervised segmentation of live-cell time-lapses from optical flow.

After Robitaille, Byers, Christodoulides and Raphael, "Self-supervised machine
learning for live cell imagery segmentation", Commun Biol 5:1162 (2022). Each
step of the paper is a function of this package; :func:`segment` runs them all.

Examples
--------
>>> from labelfree import motion
>>> from labelfree.datasets import movie_demo
>>> from labelfree.metrics import evaluate
>>> demo = movie_demo()                    # a 12-frame time-lapse shipped with LabelFree, and its truth
>>> labels = motion.segment(demo.image)
>>> labels.dims, labels.dtype.name
(('T', 'Y', 'X'), 'uint16')
>>> evaluate(labels, demo.truth)["f1"] > 0.9
True
"""

from labelfree.motion.classify import KernelNB, cell_probability, classify_frame, log_odds, train_classifier
from labelfree.motion.config import MotionConfig
from labelfree.motion.features import (
    FEATURES,
    compute_features,
    gradient_magnitude,
    local_entropy,
    register_feature,
    smoothed_log_intensity,
)
from labelfree.motion.flow import (
    blank_frames,
    farneback_flow,
    flow_magnitude,
    flow_magnitude_stack,
    frame_extremes,
    grey_step,
    integer_movie,
    integer_scale,
    plot_flow_field,
    repair_hot_pixels,
    repair_raw_hot_pixels,
    to_uint8,
    uint8_range,
    write_flow_stack,
)
from labelfree.motion.flow_record import FlowRecording
from labelfree.motion.instances import InstanceTracker, split_cells, warp_labels
from labelfree.motion.postprocess import (
    OverlapLinker,
    clear_border_objects,
    close_disk,
    fill_mask_holes,
    postprocess,
    remove_small,
    to_instances,
)
from labelfree.motion.refine import grey_contrast, refine_boundaries
from labelfree.motion.segment import BlankFrameWarning, NoMotionWarning, as_movie, movie_grey_mapping, segment
from labelfree.motion.selflabel import (
    SelfLabels,
    background_threshold,
    cell_scale,
    candidate_mask,
    cell_threshold,
    estimate_cell_size,
    motion_threshold,
    self_label,
    typical_object_area,
)

__all__ = [
    "MotionConfig", "segment", "as_movie", "movie_grey_mapping", "NoMotionWarning", "BlankFrameWarning",
    "uint8_range", "integer_scale", "integer_movie", "blank_frames", "frame_extremes", "to_uint8", "grey_step",
    "repair_hot_pixels",
    "repair_raw_hot_pixels",
    "farneback_flow", "flow_magnitude", "flow_magnitude_stack", "plot_flow_field", "write_flow_stack", "FlowRecording",
    "candidate_mask", "motion_threshold", "estimate_cell_size", "background_threshold", "cell_threshold",
    "self_label", "typical_object_area", "SelfLabels",
    "FEATURES", "register_feature", "local_entropy", "gradient_magnitude", "smoothed_log_intensity", "compute_features",
    "train_classifier", "classify_frame", "cell_probability", "log_odds", "KernelNB", "refine_boundaries", "grey_contrast",
    "remove_small", "close_disk", "fill_mask_holes", "clear_border_objects", "postprocess", "to_instances",
    "OverlapLinker", "InstanceTracker", "split_cells", "warp_labels", "cell_scale",
]
