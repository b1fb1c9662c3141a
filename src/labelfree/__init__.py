"""LabelFree: cell segmentation without hand-drawn labels, callable from Fiji/ImageJ."""

from labelfree.image import DIMS, labels_like, to_dataarray, validate_image

__version__ = "0.1.0"

__all__ = ["__version__", "DIMS", "to_dataarray", "validate_image", "labels_like"]
