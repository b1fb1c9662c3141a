"""OME-Zarr (NGFF) images in and out: 0.4 on zarr v2, 0.5 on zarr v3.

* :func:`read_ngff`: level 0 of a multiscale image (or the level a path to its array names,
  ``image.zarr/1``) as a lazy, dask-backed DataArray with dims from ``T C Z Y X``, physical
  coords (``coordinateTransformations`` scale and translation, axis units) and channel names
  (``omero``);
* :func:`write_ngff`: a DataArray (image or labels) as a standalone NGFF image;
* :func:`write_label_image`: a label image as a standalone NGFF image with ``image-label`` metadata
  (a run's ``<stem>_labels.ome.zarr``, ``--ome-zarr``);
* :func:`write_ngff_labels`: labels as ``<image>.zarr/labels/<name>/`` beside the image,
  with ``multiscales`` and ``image-label`` metadata, listed in ``labels/``, its pyramid and chunks
  following the image's;
* :func:`ngff_fingerprint`: what a batch rerun compares, the image without its label images.

Writers build the store in a hidden sibling folder and rename it into place, so a
reader never sees a half-written image; they never write inside an existing OME-Zarr
image (labels go beside it with :func:`write_ngff_labels`) and ``overwrite`` replaces
only a zarr store. Lower pyramid levels (``levels > 1``) of :func:`write_ngff` take every 2nd
pixel in Y and X (nearest neighbour: label ids stay ids); label images take the image's factors.
A dask-backed image is written chunk by chunk, each task writing whole chunks of the store.

Modules: :mod:`~labelfree.io.ngff.metadata` (what a store holds, from its metadata),
:mod:`~labelfree.io.ngff.read`, :mod:`~labelfree.io.ngff.write`, :mod:`~labelfree.io.ngff.labels`,
:mod:`~labelfree.io.ngff.label_image` and
:mod:`~labelfree.io.ngff.fingerprint`; every name is importable from ``labelfree.io.ngff``.
"""

from labelfree.io.ngff.fingerprint import ngff_fingerprint
from labelfree.io.ngff.label_image import write_label_image
from labelfree.io.ngff.labels import write_ngff_labels

# the private helpers are re-exported for the LabelFree modules that import them from here
# (labelfree.io.outputs, labelfree.io.series, labelfree.io.tiff)
from labelfree.io.ngff.metadata import (
    NGFF_VERSIONS,
    _ngff_kind as _ngff_kind,
    _ome_attrs as _ome_attrs,
    _series_of as _series_of,
    _zarr as _zarr,
    is_ngff,
)
from labelfree.io.ngff.read import checked_dask_array as checked_dask_array, read_ngff
from labelfree.io.ngff.write import write_ngff

__all__ = ["read_ngff", "write_ngff", "write_ngff_labels", "write_label_image", "is_ngff", "ngff_fingerprint",
           "NGFF_VERSIONS"]
