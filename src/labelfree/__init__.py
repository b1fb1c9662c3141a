"""LabelFree: cell segmentation without hand-drawn labels, callable from Fiji/ImageJ.

Pipelines, each ``labelfree.<pipeline>.segment(image, /, *, config=None, progress=False)``, returning a
label image (an ``xarray.DataArray`` whose ``attrs["labelfree"]`` records how it was made):

* :mod:`labelfree.motion`: live-cell time-lapses, from optical flow (no labels, no network);
* :mod:`labelfree.cutter`: whole cells from nucleus markers, a small CNN trained on the image itself;
* :mod:`labelfree.fusion`: Cellpose models fine-tuned per fluorescence channel, fused;
* :mod:`labelfree.threshold`: an automatic global threshold and connected components (the baseline).

Around them:

* :func:`labelfree.run.run_pipeline`: any pipeline by name, with the checks and thread settings of the
  command line (``run_pipeline("motion", movie, config={"min_size": 50})``);
* :mod:`labelfree.io`: :func:`~labelfree.io.read_image` (TIFF, OME-TIFF, OME-Zarr, ...) and
  :func:`~labelfree.io.write_outputs` (labels TIFF, ROI zip, table, provenance for Fiji);
* :func:`labelfree.metrics.evaluate`: scores against ground truth; :mod:`labelfree.measure`: object tables;
* :mod:`labelfree.registration` (drift, stitching), :mod:`labelfree.batch` (many images, Dask),
  :mod:`labelfree.imagej` (the Fiji bridge).

These are imported when first used (``import labelfree`` stays fast, and imports no network library):
``labelfree.motion`` works after ``import labelfree``. The Python guide is docs/python.md.
"""

import importlib as _importlib
import typing as _typing

from labelfree.image import DIMS, labels_like, to_dataarray, validate_image

__version__ = "0.1.0"

#: the sub-packages and modules that ``labelfree.<name>`` imports when first used (not in ``__all__``: a
#: ``from labelfree import *`` imports none of them)
_LAZY = ("motion", "cutter", "fusion", "threshold", "io", "metrics", "measure", "imagej", "registration", "batch",
         "run")

__all__ = ["__version__", "DIMS", "to_dataarray", "validate_image", "labels_like"]


def __getattr__(name: str) -> _typing.Any:
    """``labelfree.motion`` and the other sub-packages of :data:`_LAZY`, imported when first asked for."""
    if name in _LAZY:
        return _importlib.import_module(f"labelfree.{name}")  # the import binds it here: asked once
    raise AttributeError(f"module 'labelfree' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*(n for n in globals() if not n.startswith("_") or n == "__version__"), *_LAZY})
