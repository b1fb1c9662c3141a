"""Optional clean-up of the Cutter label image after the argmax integration.

The authors' code stops at the argmax (``integrate.integrate_patches``). Three
steps, each behind a :class:`~labelfree.cutter.config.CutterConfig` field, make the
labels consistent with the inputs the network was trained on:

- ``restrict_to_mask``: cell pixels outside the foreground mask become background
  (the loss only penalises them; the bilinear upsampling of downscaled patches
  also spills over the mask edge);
- ``keep_marker_component``: each cell keeps only the connected part that holds
  its marker (a patch may claim a detached piece of a neighbour);
- ``fill_cell_holes``: holes inside a cell are filled (per label);
- ``grow_into_mask``: foreground pixels that no patch claimed (a cell larger than
  its patch, a probability below the threshold) go to a cell inside the mask:
  ``"geodesic"`` to the nearest one (flooding of a flat image from the cells),
  ``"intensity"`` by a watershed of the inverted smoothed intensity seeded by the
  cells (unclaimed pixels follow the bright ridges into the cell they belong to).
  Pixels the network assigned keep their label. A marked cell the network left with no
  pixel at all (a small cell at the border whose patch stays under the threshold) grows
  from its marker pixel when that lies in the mask, unclaimed;
- ``redraw_boundaries``: the outer part of every cell (a fraction of its
  equivalent radius) is re-decided with that growth, so the line between two
  touching cells follows the intensity valley between their cores; the network
  decides which cell a pixel belongs to, the intensity where exactly the line runs.
  Markers given as a label image (nucleus or tracking blobs) are pixels of the cells
  they mark: every blob pixel inside the region is part of its cell's core (of a cell the
  network drew: one it gave no pixel, having merged it into a neighbour, is not forced back).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from labelfree.cutter.markers import marker_pixels, on_foreground
from labelfree.errors import InputError

__all__ = ["keep_marker_components", "grow_into_mask", "redraw_boundaries", "refine_labels", "seed_missing_cells"]


def keep_marker_components(labels: np.ndarray, markers: np.ndarray, ids: np.ndarray, /) -> np.ndarray:
    """Keep, for each label, the 8-connected part that contains its marker.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        Instance labels (0 = background).
    markers : ndarray, shape (N, 2)
        Marker (y, x) of each id, in pixels.
    ids : ndarray of int, shape (N,)
        Label of each marker.

    Returns
    -------
    ndarray, same shape and dtype: a label whose marker pixel is not part of it
    keeps its largest part.
    """
    labels = np.asarray(labels)
    markers = np.asarray(markers, dtype=np.float64).reshape(-1, 2)
    if len(markers) != len(ids):
        raise InputError(f"{len(markers)} markers given for {len(ids)} ids.")
    out = labels.copy()
    points = marker_pixels(markers, labels.shape)
    where = dict(zip((int(i) for i in ids), map(tuple, points)))
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        own = labels[sl] == k
        parts, n = ndi.label(own, structure=np.ones((3, 3)))
        if n <= 1:
            continue
        keep = 0
        if k in where:
            r, c = where[k]
            if sl[0].start <= r < sl[0].stop and sl[1].start <= c < sl[1].stop:
                keep = parts[r - sl[0].start, c - sl[1].start]
        if keep == 0:
            keep = int(np.argmax(np.bincount(parts.ravel())[1:])) + 1
        out[sl][own & (parts != keep)] = 0
    return out


def seed_missing_cells(labels: np.ndarray, markers: np.ndarray, ids: np.ndarray, region: np.ndarray, /) -> np.ndarray:
    """Give each marked cell that has no pixel in ``labels`` its marker pixel, so that growth into
    ``region`` (Y, X) bool can draw it: where its marker lies in ``region`` on an unlabelled pixel.

    The network's patch of a small cell at the image border can stay under the probability
    threshold everywhere; its marker still says there is a cell. A marker on another cell's
    pixels, outside ``region`` or on a pixel of ``region`` with no other ``region`` pixel next to
    it (the mask holds every marker's pixel) seeds nothing. The input is not modified.
    """
    ids = np.asarray(ids)
    if not len(ids):
        return labels
    pts = marker_pixels(markers, labels.shape)
    seed = ~np.isin(ids, labels) & (labels[pts[:, 0], pts[:, 1]] == 0)
    if seed.any():  # on the foreground, not a marker pixel alone (the mask holds every marker's pixel)
        seed &= on_foreground(region, markers)
    if not seed.any():
        return labels
    out = labels.copy()
    out[pts[seed, 0], pts[seed, 1]] = ids[seed]
    return out


def grow_into_mask(labels: np.ndarray, mask: np.ndarray, /, *, intensity: np.ndarray | None = None) -> np.ndarray:
    """Give every unlabelled pixel of ``mask`` (Y, X) to a label.

    ``intensity`` None: the geodesically nearest label; given (Y, X), bright = cell:
    watershed of ``-intensity`` from the labels. Pixels of mask components that
    hold no label stay background.
    """
    from skimage.segmentation import watershed

    labels = np.asarray(labels)
    mask = np.asarray(mask, bool) | (labels > 0)
    if intensity is None:
        landscape = np.zeros(labels.shape, np.uint8)
    else:
        landscape = -np.asarray(intensity, np.float32)
        if landscape.shape != labels.shape:
            raise InputError(f"intensity has shape {landscape.shape}; the labels have {labels.shape}.")
    grown = watershed(landscape, markers=labels.astype(np.int64), mask=mask)
    return grown.astype(labels.dtype, copy=False)


def redraw_boundaries(
    labels: np.ndarray,
    intensity: np.ndarray,
    /,
    *,
    fraction: float = 0.2,
    markers: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    within: np.ndarray | None = None,
    blobs: np.ndarray | None = None,
) -> np.ndarray:
    """Re-decide the outer part of every cell by a watershed of the intensity.

    Each cell keeps its core, the pixels farther than ``fraction`` times its
    equivalent radius ``sqrt(area / pi)`` from its outline (and its marker pixel,
    so no cell vanishes; and, with ``blobs``, its marker blob's pixels in the region,
    even where the network gave them to a neighbour, for every cell the network drew); the rest of the cells,
    and the unlabelled pixels of
    ``within`` (Y, X) bool when given, go to the cores by a watershed of
    ``-intensity``. Where two cells touch, the line between them then follows
    the darkest path between their cores instead of the network's patch
    competition.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
    intensity : ndarray, shape (Y, X)
        Bright = cell (the smoothed, normalised cell channels).
    fraction : float
        Depth of the re-decided band, as a fraction of each cell's equivalent radius.
    markers, ids : optional
        Marker (y, x) of each id (kept in its cell).
    within : ndarray of bool, optional
        Pixels that may be labelled besides the cells (default: the cells only).
    blobs : ndarray of int, shape (Y, X), optional
        The marker label image the markers came from (0 = background; a blob whose value is not one of ``ids``,
        or is the id of a cell ``labels`` does not hold, is ignored).
    """
    from skimage.segmentation import find_boundaries, watershed

    labels = np.asarray(labels)
    intensity = np.asarray(intensity, np.float32)
    if intensity.shape != labels.shape:
        raise InputError(f"intensity has shape {intensity.shape}; the labels have {labels.shape}.")
    edge = find_boundaries(labels, mode="inner") | (labels == 0)
    depth = ndi.distance_transform_edt(~edge)
    area = np.bincount(labels.ravel())
    radius = np.sqrt(area / np.pi)
    cores = np.where(depth > fraction * radius[labels], labels, 0)
    region = labels > 0 if within is None else (np.asarray(within, bool) | (labels > 0))
    if markers is not None and ids is not None and len(ids):
        pts = marker_pixels(markers, labels.shape)
        ids = np.asarray(ids)
        own = labels[pts[:, 0], pts[:, 1]] == ids
        cores[pts[own, 0], pts[own, 1]] = ids[own]
        if blobs is not None:
            blobs = np.asarray(blobs)
            if blobs.shape != labels.shape:
                raise InputError(f"blobs has shape {blobs.shape}; the labels have {labels.shape}.")
            # a cell the network merged into another (it drew none of its pixels) stays merged: its blob is no core
            drawn = ids[(ids > 0) & (ids < len(area))]
            given = region & np.isin(blobs, drawn[area[drawn] > 0])
            cores[given] = blobs[given]
        cores = seed_missing_cells(cores, markers, ids, region)
    out = watershed(-intensity, markers=cores.astype(np.int64), mask=region)
    return out.astype(labels.dtype, copy=False)


def refine_labels(
    labels: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    markers: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    fill: bool = False,
    grow_mask: np.ndarray | None = None,
    grow_intensity: np.ndarray | None = None,
    redraw: float = 0.0,
    blobs: np.ndarray | None = None,
) -> np.ndarray:
    """Apply the enabled clean-up steps to one label image (Y, X).

    ``mask`` given: restrict to it; ``markers`` and ``ids`` given: keep each
    marker's component; ``fill``: fill holes per label; ``grow_mask`` given: grow
    the cells into its unclaimed pixels (last; along ``grow_intensity`` when given,
    see :func:`grow_into_mask`); ``redraw`` > 0 with ``grow_intensity``: the outer
    ``redraw`` of every cell is re-decided together with that growth
    (:func:`redraw_boundaries`; ``blobs``, the marker label image, keeps every marker blob in its cell's core).
    The input is not modified.
    """
    out = np.array(labels, copy=True)
    if mask is not None:
        out[~np.asarray(mask, bool)] = 0
    if markers is not None and ids is not None:
        out = keep_marker_components(out, markers, ids)
    if fill:
        from labelfree.labels import fill_holes

        out = np.asarray(fill_holes(out)).astype(out.dtype, copy=False)
    if redraw > 0 and grow_intensity is not None:
        return redraw_boundaries(out, grow_intensity, fraction=redraw, markers=markers, ids=ids, within=grow_mask,
                                 blobs=blobs)
    if grow_mask is not None:
        if markers is not None and ids is not None:
            out = seed_missing_cells(out, markers, ids, np.asarray(grow_mask, bool))
        out = grow_into_mask(out, grow_mask, intensity=grow_intensity)
    return out
