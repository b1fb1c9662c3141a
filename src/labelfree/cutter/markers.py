"""Markers (one point per cell) for the Cutter pipeline.

Markers are (N, 2) float arrays of (row, col) = (y, x) pixel positions. They come
from points given by the user, from a nucleus label image (centroids), or are
detected in a nucleus image: automatically (thresholding and de-clumping the nuclei
at the size they are found to have; checked, and an uneven background subtracted), by
determinant-of-Hessian blob detection (the authors' ``blob_detection``) or by thresholding
with given sizes. Detected markers are checked: nucleus-sized bright regions that hold none
(nuclei too dim to be found) get one marker each, or one per nucleus where a region is clearly several
touching nuclei (logged); any still unmarked after that are said with a :class:`MissedNucleiWarning`. The checks
and their warnings are in :mod:`labelfree.cutter.marker_checks`; their public names are importable from here too.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import hashlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator

import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from labelfree._warn_place import user_stacklevel
from labelfree.cutter.marker_checks import (
    CHECK_CONTRAST, CHECK_SOLIDITY, CHECK_UNEVEN, DENSE_MARKER_COUNT, DENSE_MARKER_SPACING, DETECTING_FRAME,
    MISSED_AREA, MISSED_FLOOR, MISSED_SMOOTHING, AutoMarkerWarning, MarkerWarning, MissedNucleiWarning, _check_objects,
    _compactness, _core_centres, _is_dense, _significant, _unmarked_cores, _unmarked_regions, _warn_unmarked,
    _whole_cells_refusal, in_input, looks_swapped, marker_pixels, on_foreground, warn_dense_markers,
)
from labelfree._log_notes import register_note
from labelfree.errors import ConstantImageError, DimensionError, InputError

__all__ = ["check_markers", "markers_from_points", "markers_from_labels", "marker_label_image", "label_centroids",
           "detect_markers", "markers_to_labels",
           "guess_nucleus_channel", "names_nuclei", "split_binary_mask", "drop_repeated_points", "marker_pixels",
           "on_foreground", "looks_swapped", "points_array", "warn_dense_markers", "unmarked_nuclei", "is_dense_field",
           "MarkerWarning", "AutoMarkerWarning", "MissedNucleiWarning",
           # the checks' figures (labelfree.cutter.marker_checks), importable from here as before
           "CHECK_CONTRAST", "CHECK_UNEVEN", "CHECK_SOLIDITY", "DENSE_MARKER_SPACING", "DENSE_MARKER_COUNT",
           "MISSED_SMOOTHING", "MISSED_FLOOR", "MISSED_AREA"]

log = logging.getLogger(__name__)
# a note of the run (ImageJ's Log shows it): markers added at dim nuclei, objects the result alone does not explain
register_note(__name__, r"^Cutter: marker detection \(marker_method '\w+'\) added \d+ marker")


def check_markers(markers: np.ndarray, /, *, shape: tuple[int, int]) -> np.ndarray:
    """Validate markers against an image of ``shape`` (Y, X) and return them as float (N, 2).

    Raises
    ------
    InputError
        No markers, a wrong array shape, non-finite values, or markers outside the image.
    DimensionError
        A marker image (3-D, or 2-D, at least 4 x 5, of whole numbers) whose Y, X size is
        not ``shape``.
    """
    pts = points_array(markers)
    if pts.size == 0:
        raise InputError(
            "No markers were given or found: Cutter needs one marker per cell. Give points, a "
            "nucleus label image, or a nucleus channel in which nuclei can be detected (bright nuclei on a dark "
            "background: invert an image of dark nuclei first, e.g. Fiji's Edit > Invert, and even out a strong "
            "illumination gradient, e.g. Process > Subtract Background)."
        )
    h, w = shape
    if _is_marker_image(pts) and pts.shape[-2:] != (h, w):
        raise DimensionError(
            f"The marker image is {' x '.join(map(str, pts.shape))} but the image is {h} x {w} (Y x X); give a "
            "label image of the image's Y, X size ((T, Y, X) for a time-lapse), or (N, 2) (y, x) points."
        )
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(f"Markers must be an (N, 2) array of (y, x) positions; got shape {pts.shape}.")
    if not np.isfinite(pts).all():
        raise InputError("Markers contain NaN or infinite coordinates.")
    outside = (pts[:, 0] < -0.5) | (pts[:, 0] > h - 0.5) | (pts[:, 1] < -0.5) | (pts[:, 1] > w - 0.5)
    if outside.any():
        first = pts[np.argmax(outside)]
        swapped = pts[:, ::-1]
        fits = ((swapped >= -0.5) & (swapped <= np.array([h, w]) - 0.5)).all()
        order = (" They would all lie inside in (x, y) order: the points may be (x, y); give them as (y, x) "
                 "(rows, columns), e.g. points[:, ::-1]." if fits else "")
        raise InputError(
            f"{int(outside.sum())} marker(s) lie outside the {h} x {w} image, e.g. (y={first[0]:g}, "
            f"x={first[1]:g}). Markers are (y, x) in pixels of this image; check the axis order and scaling.{order}"
        )
    return pts


#: what markers= takes, for the errors that refuse something else
_MARKER_FORMS = ("an (N, 2) array or list of (y, x) pixel points ((N, 3) (t, y, x) for a movie), a table "
                 "(pandas DataFrame or dict of columns: y and x, scikit-image's centroid-0 and centroid-1, "
                 "napari's axis-0 and axis-1), a label image of the image's size, or the path of a marker file")


def points_array(markers: object) -> np.ndarray:
    """``markers`` as a float array, or an :class:`InputError` naming what markers may be."""
    if isinstance(markers, (dict, str, bytes)) or hasattr(markers, "columns"):
        raise InputError(f"Markers given as a {type(markers).__name__} cannot be used here: give {_MARKER_FORMS}.")
    try:
        return np.asarray(markers, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Markers given as {type(markers).__name__} are not numbers in an (N, 2) array ({exc}): "
                         f"give {_MARKER_FORMS}.") from None


def _is_marker_image(markers: np.ndarray, /) -> bool:
    """Whether an array that is not (N, 2) / (N, 3) points is a marker (label) image: 3-D or more
    (points are 2-D), or 2-D, at least 4 x 5, of whole numbers. (N, 2) and (N, 3) arrays are points,
    and so are the near misses (N, 4) (a column too many) and (2, N) / (3, N) (transposed)."""
    if markers.ndim >= 3:
        return True
    if markers.ndim != 2 or markers.shape[1] <= 4 or markers.shape[0] <= 3:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.array_equal(markers, np.round(markers)))


def markers_from_points(points: np.ndarray, /, *, shape: tuple[int, int]) -> np.ndarray:
    """Markers from an (N, 2) array of (y, x) points (e.g. ImageJ point ROIs), checked."""
    return check_markers(points, shape=shape)


def drop_repeated_points(points: np.ndarray, /) -> np.ndarray:
    """(N, 2) (y, x) or (N, 3) (t, y, x) points without those on the pixel of an earlier one
    (logged): two markers of one cell would split it between two patches, and one of the two
    ids vanish from the result. Returns ``points`` itself when none repeats. Points denser
    than cells can be are warned of (:func:`warn_dense_markers`)."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3) or pts.dtype.kind not in "iuf" or not np.isfinite(pts).all():
        return points
    _, first = np.unique(np.rint(pts).astype(np.int64), axis=0, return_index=True)
    warn_dense_markers(pts[np.sort(first)])  # once, before any work: points denser than cells
    if len(first) == len(pts):
        return points
    keep = np.sort(first)
    repeated = np.setdiff1d(np.arange(len(pts)), keep)
    log.warning("%d marker(s) lie on the pixel of an earlier marker (e.g. marker %d at %s): each pixel is used "
                "once. Give one marker per cell.", len(repeated), int(repeated[0]),
                tuple(round(float(v), 2) for v in pts[repeated[0]]))
    return pts[keep]


def split_binary_mask(labels: np.ndarray, /) -> np.ndarray:
    """A marker image that holds one value (a binary nucleus mask) as labels of its separate blobs.

    A (T, Y, X) stack is labelled frame by frame. The change is logged (once per call); any
    other image (several values, fractions, one blob only) is returned as it is. Labels far
    denser than cells are warned of (:func:`warn_dense_markers`, on their centroids).
    """
    lab = np.asarray(labels)
    if lab.ndim not in (2, 3) or lab.dtype.kind not in "iubf" or not np.isfinite(lab).all():
        return labels
    values = np.unique(lab)
    if values.size > DENSE_MARKER_COUNT and lab.dtype.kind in "iu" and not _scattered_pieces(
            lab.reshape(-1, lab.shape[-1]), values.size - 1):  # labels (an intensity image is refused later)
        warn_dense_markers(_label_centres(lab))  # markers far denser than cells: said once
    if values.size != 2 or values[0] != 0:
        return labels
    planes = [lab > 0] if lab.ndim == 2 else list(lab > 0)
    split = [ndi.label(p) for p in planes]
    n = [k for _, k in split]
    if max(n) < 2:
        return labels
    out = np.stack([b for b, _ in split]) if lab.ndim == 3 else split[0][0]
    log.warning("The marker image holds one value (a binary mask): its %d separate blobs are used as %d "
                "markers. Give a label image (one value per nucleus) where nuclei touch.", sum(n), sum(n))
    return out.astype(np.int64)


def _label_centres(lab: np.ndarray) -> np.ndarray:
    """The centroids of the labels (> 0) of a (Y, X) label image as (N, 2) (y, x), of a (T, Y, X) one as
    (N, 3) (t, y, x), frame by frame (from its labelled pixels alone: marker images are mostly background)."""
    where = np.nonzero(lab > 0)
    if not where[0].size:
        return np.zeros((0, lab.ndim))
    ids = lab[where].astype(np.int64)
    span = int(ids.max()) + 1
    keys = ids if lab.ndim == 2 else where[0].astype(np.int64) * span + ids  # one key per (frame, label)
    groups, which = np.unique(keys, return_inverse=True)
    counts = np.bincount(which, minlength=len(groups)).astype(np.float64)
    yx = np.stack([np.bincount(which, weights=where[k], minlength=len(groups)) / counts
                   for k in range(lab.ndim - 2, lab.ndim)], axis=1)
    return yx if lab.ndim == 2 else np.c_[groups // span, yx]


def _scattered_pieces(lab: np.ndarray, n_ids: int, /) -> int:
    """How many separate pieces the ``n_ids`` values of a (Y, X) image lie in when it looks like an intensity
    image rather than labels (neighbouring object pixels mostly differ, and there are more than 4 pieces per
    value: a label is one piece, or a few); 0 when it looks like labels."""
    pairs = [(lab[:, 1:], lab[:, :-1]), (lab[1:], lab[:-1])]
    inside = sum(int(((a != 0) & (b != 0)).sum()) for a, b in pairs)
    differ = sum(int(((a != b) & (a != 0) & (b != 0)).sum()) for a, b in pairs)
    if differ <= 0.25 * max(inside, 1):
        return 0
    pieces = int(measure.label(lab, background=0, connectivity=2).max())
    return pieces if pieces > 4 * n_ids else 0


def _refuse_intensities(lab: np.ndarray, n_ids: int, /) -> None:
    """InputError for an intensity image given as a marker label image (:func:`_scattered_pieces`)."""
    pieces = _scattered_pieces(lab, n_ids)
    if not pieces:
        return
    raise InputError(
        f"The marker image does not look like a label image: its {n_ids} values lie in {pieces} separate pieces, "
        "and most neighbouring pixels differ (an intensity image, e.g. the nucleus channel itself). Give a label "
        "image (0 = background, one value per nucleus) or points; or leave the markers out to have them detected "
        "in the nucleus channel."
    )


def markers_from_labels(labels: np.ndarray, /) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of the objects of a nucleus label image.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        0 = background, one label per nucleus (or any marker blob).

    Returns
    -------
    markers : ndarray, shape (N, 2)
        (y, x) centroids in pixels.
    ids : ndarray of int, shape (N,)
        The label of each marker.
    """
    lab, ids = marker_label_image(labels)
    return label_centroids(lab, ids), ids


def label_centroids(labels: np.ndarray, ids: np.ndarray, /) -> np.ndarray:
    """The (y, x) centroids (N, 2) of the objects ``ids`` of a (Y, X) label image."""
    return np.array(ndi.center_of_mass(np.ones(labels.shape), labels, ids), dtype=np.float64).reshape(-1, 2)


def marker_label_image(labels: np.ndarray, /) -> tuple[np.ndarray, np.ndarray]:
    """A nucleus (marker) label image checked and read as :func:`markers_from_labels` reads it: the labels
    (Y, X) of integer type (ImageJ's whole-number float labels converted; a binary mask split into its blobs)
    and their ids, ascending. The input is not modified."""
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise DimensionError(f"A marker label image must be 2-D (Y, X); got shape {lab.shape}.")
    if lab.dtype.kind == "f":  # ImageJ keeps labels above 65535 as 32-bit float: whole numbers are labels
        finite = np.isfinite(lab)
        if not finite.all() or not np.array_equal(lab, np.round(lab)):
            raise InputError("A marker label image must hold whole numbers (0 = background, one label per "
                             "nucleus); this one holds fractions or NaN/inf.")
        lab = lab.astype(np.int64)
    elif lab.dtype.kind not in "iub":
        raise InputError(f"A marker label image must hold integer labels; got {lab.dtype}.")
    if lab.dtype.kind == "i" and lab.size and lab.min() < 0:
        raise InputError(f"A marker label image must hold labels >= 0 (0 = background); this one has "
                         f"{lab.min()}.")
    ids = np.unique(lab)
    ids = ids[ids > 0]
    if ids.size == 0:
        raise InputError("The marker label image is empty (all zero): Cutter needs one marker per cell. Give a "
                         "label image with one value per nucleus (0 = background) or points, or leave the markers "
                         "out to have them detected in the nucleus channel.")
    if ids.size > 1:
        _refuse_intensities(lab, ids.size)
    if ids.size == 1:  # one value: a binary nucleus mask, whose separate blobs are the markers
        lab = split_binary_mask(lab)
        ids = np.unique(lab)
        ids = ids[ids > 0]
    return lab, ids.astype(np.int64)


def _zscore(image: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2:
        raise DimensionError(f"The {name} must be 2-D (Y, X); got shape {x.shape}.")
    std = x.std()
    if std == 0:
        raise ConstantImageError(
            f"The {name} is constant, so no nuclei can be detected in it. Choose the channel that "
            "shows the nuclei, or give markers."
        )
    return (x - x.mean()) / std


def detect_markers(
    nucleus_image: np.ndarray,
    /,
    *,
    method: str = "auto",
    min_sigma: float = 5.0,
    max_sigma: float = 10.0,
    threshold: float = 0.1,
    log_scale: bool = False,
    refuse_whole_cells: bool = False,
) -> np.ndarray:
    """Detect one marker per nucleus in a nucleus image.

    Parameters
    ----------
    nucleus_image : ndarray, shape (Y, X)
        Bright nuclei on a dark background.
    method : {"auto", "blob", "threshold"}
        ``"auto"`` (no parameters): the logarithm of the image (nuclei of very
        different brightness), Otsu mask, holes filled; the typical nucleus
        half-width R is the area-weighted median of each object's largest distance to
        the background (touching nuclei do not inflate it); objects smaller than
        ``0.2 pi R^2`` are removed and touching nuclei split by distance-transform
        watershed with centres at least ``R / 2`` apart; one marker per centroid.
        An :class:`AutoMarkerWarning` says when the objects found are probably not
        nuclei: their peaks less than :data:`CHECK_CONTRAST` noise units above the
        background (an image of noise, or an uneven background), or their solidity
        below :data:`CHECK_SOLIDITY` (whole cells). ``min_sigma``, ``max_sigma``,
        ``threshold`` and ``log_scale`` are not used.
        ``"blob"``: z-score, determinant-of-Hessian blobs between ``min_sigma`` and
        ``max_sigma`` (px) with response ``threshold``, kept where the smoothed
        image is above its mean (the authors' method). ``"threshold"``: Otsu mask,
        holes filled, objects smaller than ``pi * min_sigma^2`` removed, touching
        nuclei split by distance-transform watershed; one marker per centroid.
    min_sigma, max_sigma, threshold : float
        See ``method``.
    log_scale : bool
        Work on ``log(1 + image - min)``: nuclei of very different brightness
        (e.g. GOWT1) are then found by one threshold.
    refuse_whole_cells : bool
        ``"auto"``: raise an :class:`InputError` instead of warning when the objects
        found are whole cells (the pipeline's choice: several markers per cell cut
        each cell into pieces; nothing is trained).

    Returns
    -------
    ndarray, shape (N, 2)
        (y, x) marker positions in pixels (may be empty: callers check). Any method: each bright
        region of nucleus size that holds no marker (:func:`unmarked_nuclei`: a nucleus too dim to be
        found, which would get no object) gets one more marker, after the detected ones (logged); a region
        that is clearly several touching nuclei gets one per nucleus, split as ``"auto"`` splits them.

    Warns
    -----
    MissedNucleiWarning
        Bright regions of nucleus size that still hold no marker after those were added.
    """
    x = np.asarray(nucleus_image, dtype=np.float64)
    if method == "auto":
        pts, parts, dense = _auto_markers(x, refuse_whole_cells=refuse_whole_cells)
    else:
        pts = _detect_with(x, method, min_sigma=min_sigma, max_sigma=max_sigma, threshold=threshold,
                           log_scale=log_scale)
        parts = _object_parts(x)
        problem = _check_objects(x, parts)
        dense = _is_dense(problem)
        parts = parts if problem is None or dense else None  # noise, whole cells: said by "auto" alone
    if parts is not None:
        found = len(pts)
        pts = _add_unmarked(parts, pts, method, dark_side=dense)
        _record_added(len(pts) - found)
    return pts


#: where :func:`detect_markers` notes how many markers it added at unmarked nuclei (:func:`recording_added`)
_ADDED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("labelfree_added_markers", default=None)


@contextlib.contextmanager
def recording_added() -> Iterator[dict]:
    """Note, while the block runs, how many markers :func:`detect_markers` added at bright regions of nucleus size
    that held none (after the detected ones, the last of the markers it returned): a dict, movie frame (0-based;
    None for an image, :data:`labelfree.cutter.marker_checks.DETECTING_FRAME`) -> count; a frame detected again
    (the automatic scale's detection, then the run's) keeps the last count."""
    added: dict = {}
    token = _ADDED.set(added)
    try:
        yield added
    finally:
        _ADDED.reset(token)


def _record_added(n: int) -> None:
    """Note ``n`` markers added at unmarked nuclei for the frame being detected (:func:`recording_added`)."""
    added = _ADDED.get()
    if added is not None:
        added[DETECTING_FRAME.get()] = int(n)


def _add_unmarked(parts: tuple, pts: np.ndarray, method: str, *, dark_side: bool = False) -> np.ndarray:
    """Detected markers ``pts`` with one more marker at each bright region of nucleus size that holds none
    (:func:`unmarked_nuclei`, from the ``parts`` of the image they were detected in), or one per nucleus where the
    region is clearly several touching nuclei (:func:`_unmarked_nuclei`), after them, in the form the detection
    gives (``"blob"``: whole pixels; else the centroid of the region's part above half its peak, or of each of its
    nuclei). The additions are logged; regions still unmarked after them are warned of
    (:class:`MissedNucleiWarning`); both name positions in the input image's pixels (:func:`in_input`).
    ``dark_side``: the regions are measured in the noise units of the background's dark side (a dense field;
    :func:`labelfree.cutter.marker_checks._unmarked_cores`)."""
    nuclei, n_split = _unmarked_nuclei(parts, pts, dark_side=dark_side)
    if not len(nuclei):
        return pts
    added = np.rint(nuclei) if method == "blob" else nuclei
    pts = np.concatenate([np.asarray(pts, np.float64).reshape(-1, 2), added])
    split = (f"; {n_split} region(s) held touching nuclei, one marker each" if n_split else "") + (
        "; a dense field: regions measured in the noise of the background's dark side" if dark_side else "")
    frame = DETECTING_FRAME.get()
    log.info("Cutter: marker detection (marker_method %r) added %d marker(s)%s at bright regions of nucleus size that "
             "held none (nuclei too dim to be found%s): %s", method, len(added),
             "" if frame is None else f" in frame {frame} (0-based)", split,
             ", ".join(f"(y={y:.0f}, x={x:.0f})" for y, x in in_input(added[:5])) + (
                 f" and {len(added) - 5} more" if len(added) > 5 else ""))
    _warn_unmarked(_unmarked_regions(parts, pts, dark_side=dark_side), pts, method, added=len(added))
    return pts


def _unmarked_nuclei(parts: tuple, pts: np.ndarray, *, dark_side: bool = False) -> tuple[np.ndarray, int]:
    """(M, 2) (y, x) points, one per nucleus of each region :func:`unmarked_nuclei` finds (regions brightest first),
    and the number of regions that were clearly more than one nucleus.

    A region's point is its centroid (:func:`unmarked_nuclei`'s), unless its part above half its peak splits as
    ``"auto"`` splits touching nuclei (distance-transform peaks at least :data:`_AUTO_MIN_DISTANCE` R apart, R the
    half-width of the nuclei the markers found) into two or more pieces of nucleus size (:data:`MISSED_AREA`
    pi R^2, the size a region needs): then the centroid of each such piece (smaller pieces get none; their pixels
    go to a neighbour's object)."""
    from labelfree.labels import declump

    core, found, r = _unmarked_cores(parts, pts, dark_side=dark_side)
    if not len(found):
        return np.zeros((0, 2)), 0
    centres = _core_centres(core, found)  # a region's point where it is one nucleus, as unmarked_nuclei's
    boxes = ndi.find_objects(core)
    nucleus, apart = MISSED_AREA * np.pi * r * r, max(1, int(round(_AUTO_MIN_DISTANCE * r)))
    out, n_split = [], 0
    for k, centre in zip(found, centres):
        box = boxes[k - 1]
        pieces = declump(np.pad(core[box] == k, 1), min_distance=apart)  # padded: the box's edge is background
        ids = np.flatnonzero(np.bincount(pieces.ravel())[1:] >= nucleus) + 1
        if len(ids) < 2:
            out.append(centre[None])
            continue
        n_split += 1
        at = np.array([box[0].start - 1, box[1].start - 1], np.float64)
        out.append(np.array(ndi.center_of_mass(pieces > 0, pieces, ids), np.float64).reshape(-1, 2) + at)
    return np.concatenate(out), n_split


def _detect_with(x: np.ndarray, method: str, *, min_sigma: float, max_sigma: float, threshold: float,
                 log_scale: bool) -> np.ndarray:
    """:func:`detect_markers` by ``"blob"`` or ``"threshold"``."""
    if method not in ("blob", "threshold"):
        raise InputError(f"Unknown marker detection method {method!r}; use 'auto', 'blob' or 'threshold'.")
    if log_scale:
        x = np.log1p(x - x.min())
    z = _zscore(x, "nucleus image")
    if method == "blob":
        from skimage.feature import blob_doh
        from skimage.filters import gaussian

        blobs = blob_doh(z, min_sigma=min_sigma, max_sigma=max_sigma, threshold=threshold)
        smooth = gaussian(z, sigma=1.0)
        pts = blobs[:, :2].astype(np.int64)
        keep = smooth[pts[:, 0], pts[:, 1]] > 0
        return pts[keep].astype(np.float64)
    from skimage.filters import threshold_otsu

    from labelfree.labels import declump, fill_holes, remove_small_objects

    smooth = ndi.gaussian_filter(z, 1.0)
    mask = fill_holes(smooth > threshold_otsu(smooth))
    mask = remove_small_objects(mask, min_size=max(1, int(np.pi * min_sigma**2)))
    labels = declump(mask, min_distance=max(1, int(round(min_sigma))))
    if labels.max() == 0:
        return np.zeros((0, 2))
    return markers_from_labels(labels)[0]


#: automatic detection: objects below this fraction of a typical nucleus's area are noise
_AUTO_MIN_AREA = 0.2
#: automatic detection: centres of touching nuclei at least this fraction of the typical half-width apart
_AUTO_MIN_DISTANCE = 0.5
#: automatic detection: objects are at least this many noise units above the background
_AUTO_NOISE_FLOOR = 3.0


def _objects(image: np.ndarray, name: str = "nucleus image") -> np.ndarray:
    """The bright objects of an image as automatic detection sees them: its logarithm (nuclei
    of very different brightness), z-scored and smoothed by 1 px, above its Otsu threshold;
    and the image itself, smoothed alike, at least :data:`_AUTO_NOISE_FLOOR` noise units above
    its background (:func:`labelfree.cutter.graphcut.background_and_noise`); holes filled.
    The floor matters where objects are few or the noise strong: Otsu then splits the
    background itself. (It is measured on the image, not its logarithm, which spreads the
    low counts of the background.)"""
    return _object_parts(image, name)[0]


def _object_parts(image: np.ndarray, name: str = "nucleus image") -> tuple[np.ndarray, float, np.ndarray, float,
                                                                           float]:
    """:func:`_objects`'s mask, with what its checks need: (mask, the fraction of the image above Otsu's
    threshold, the image smoothed by 1 px, its background and noise)."""
    from skimage.filters import threshold_otsu

    from labelfree.cutter.graphcut import background_and_noise
    from labelfree.labels import fill_holes

    x = np.asarray(image, dtype=np.float64)
    smooth = ndi.gaussian_filter(_zscore(np.log1p(x - x.min()), name), 1.0)
    linear = ndi.gaussian_filter(x, 1.0)
    background, noise = background_and_noise(linear)
    otsu = smooth > threshold_otsu(smooth)
    mask = fill_holes(otsu & (linear > background + _AUTO_NOISE_FLOOR * noise))
    return mask, float(otsu.mean()), linear, background, noise


#: an uneven background is estimated as this percentile of each tile of a grid of this many x this many tiles
_FLAT_PERCENTILE = 10.0
_FLAT_GRID = 8


def _flatten_background(image: np.ndarray) -> np.ndarray:
    """``image`` less its smooth background: the :data:`_FLAT_PERCENTILE` th percentile of each tile of a
    :data:`_FLAT_GRID` x :data:`_FLAT_GRID` grid (background where nuclei cover less of a tile than that),
    interpolated linearly between the tiles' centres; the median of the tiles' values added back."""
    x = np.asarray(image, dtype=np.float64)
    h, w = x.shape
    g = _FLAT_GRID
    tiles = np.array([[np.percentile(x[i * h // g:(i + 1) * h // g, j * w // g:(j + 1) * w // g], _FLAT_PERCENTILE)
                       for j in range(g)] for i in range(g)])
    background = ndi.zoom(tiles, (h / g, w / g), order=1, mode="nearest", grid_mode=True)
    return x - background[:h, :w] + float(np.median(tiles))


def _auto_markers(image: np.ndarray, *, refuse_whole_cells: bool = False) -> tuple[np.ndarray, tuple | None, bool]:
    """``detect_markers(method="auto")``: one centroid per nucleus, scaled to the nuclei found; with the
    parts (:func:`_object_parts`) of the image it found them in (None when its checks found no nuclei: noise,
    whole cells), for :func:`unmarked_nuclei`, and whether they are the nuclei of a dense field (the checks' kind
    "dense": nuclei left unmarked are searched in the noise units of the background's dark side)."""
    from labelfree.labels import declump, remove_small_objects, weighted_median

    parts = image_parts = _object_parts(image)
    problem = _check_objects(image, parts)
    if problem and problem[0] == "cells" and refuse_whole_cells:
        raise InputError(_whole_cells_refusal(problem[1]))
    if problem and problem[0] == "uneven" and min(image.shape) >= 4 * _FLAT_GRID:  # again without the background
        flat = _flatten_background(image)
        flat_parts = _object_parts(flat)
        if _check_objects(flat, flat_parts) is None:
            parts = flat_parts
            problem = (problem[0], problem[1].split(" Check the illumination")[0] + (
                " The markers were detected after subtracting a smooth background (the "
                f"{_FLAT_PERCENTILE:g}th percentile of each of {_FLAT_GRID} x {_FLAT_GRID} tiles, interpolated): "
                "check them, and correct the illumination (flat-field correct the image or subtract its background, "
                "e.g. Fiji's Process > Subtract Background) or give markers= (points or a nucleus label image) "
                "(CLI --markers FILE)."))
    dense = _is_dense(problem)  # nuclei of a dense field: searched in the background's own noise
    checked = parts if problem is None or dense or parts[0] is not image_parts[0] else None  # passed, or flattened
    if problem and problem[1]:
        warnings.warn(AutoMarkerWarning(problem[1]), stacklevel=user_stacklevel())
    mask = parts[0]
    labels, n = ndi.label(mask)
    if n == 0:
        return np.zeros((0, 2)), checked, dense
    half_width = ndi.maximum(ndi.distance_transform_edt(mask), labels, np.arange(1, n + 1))
    r = weighted_median(half_width, np.bincount(labels.ravel(), minlength=n + 1)[1:])  # weighted by area
    log.info("Cutter: markers detected automatically, typical nucleus half-width %.1f px", r)
    mask = remove_small_objects(mask, min_size=max(1, int(_AUTO_MIN_AREA * np.pi * r * r)))
    found = declump(mask, min_distance=max(1, int(round(_AUTO_MIN_DISTANCE * r))))
    if found.max() == 0:
        return np.zeros((0, 2)), checked, dense
    return markers_from_labels(found)[0], checked, dense


#: the verdicts of :func:`is_dense_field` on the last images it was asked about, by their content: each mask of a
#: frame asks again (the automatic scale's probe, the choice of the local window, the run's own mask), and the
#: check takes about 0.27 s on a 1024 x 1024 image where hashing it takes 0.016 s
_DENSE_VERDICTS: collections.OrderedDict[bytes, bool] = collections.OrderedDict()
_DENSE_VERDICTS_KEPT = 8
_DENSE_LOCK = threading.Lock()


def is_dense_field(image: np.ndarray, /) -> bool:
    """Whether ``image`` (Y, X) is a dense field of bright objects as automatic detection's check sees it: the
    objects it finds stand less than :data:`CHECK_CONTRAST` units of the whole image's noise out of the
    background, but that many units of the noise of the background's dark side
    (:func:`labelfree.noise.lower_side_noise`), and are compact (the check's kind "dense": frames 3-5
    of laptrack's example movie, nuclei on 35-41 % of the pixels)."""
    x = np.ascontiguousarray(image, dtype=np.float64)
    key = repr(x.shape).encode() + hashlib.blake2b(x.view(np.uint8), digest_size=16).digest()
    with _DENSE_LOCK:
        if key in _DENSE_VERDICTS:
            _DENSE_VERDICTS.move_to_end(key)
            return _DENSE_VERDICTS[key]
    # constant (or not finite): no objects, so no field of them
    verdict = bool(np.ptp(x) > 0) and _is_dense(_check_objects(x, _object_parts(x)))
    with _DENSE_LOCK:
        _DENSE_VERDICTS[key] = verdict
        while len(_DENSE_VERDICTS) > _DENSE_VERDICTS_KEPT:
            _DENSE_VERDICTS.popitem(last=False)
    return verdict


def unmarked_nuclei(nucleus_image: np.ndarray, markers: np.ndarray, /) -> np.ndarray:
    """Centroids of the bright regions of nucleus size in a nucleus image that hold no marker.

    The typical nucleus half-width R is measured as automatic detection measures it, on the
    objects (:func:`_objects`) that hold a marker (on all of them when none does). The image is
    smoothed by :data:`MISSED_SMOOTHING` R, so that a dim nucleus (GOWT1's dimmest: 2 grey levels
    above the background, in a pixel noise of 1) stands out as a whole; its regions
    :data:`MISSED_FLOOR` noise units above the background that hold no marker and whose part
    above half their peak covers :data:`MISSED_AREA` pi R^2 or more are nuclei no marker found.
    Nuclei that touch a marked one (under-split clumps) are not seen. In a dense field (nuclei that
    stand out of the background's own noise, but not of the whole image's, which they widen) the
    noise is that of the background's dark side
    (:func:`labelfree.noise.lower_side_noise`), as automatic detection measures there.

    Parameters
    ----------
    nucleus_image : ndarray, shape (Y, X)
        Bright nuclei on a dark background.
    markers : ndarray, shape (N, 2)
        (y, x) markers in pixels.

    Returns
    -------
    ndarray, shape (M, 2)
        (y, x) centroids of the unmarked regions, in pixels, brightest first.
    """
    x = np.asarray(nucleus_image, dtype=np.float64)
    parts = _object_parts(x)  # once: the check and the search both read it
    return _unmarked_regions(parts, np.asarray(markers, np.float64).reshape(-1, 2),
                             dark_side=_is_dense(_check_objects(x, parts)))


#: a nucleus channel's objects are centred inside another channel's foreground (this fraction of its area) ...
NUCLEUS_INSIDE = 0.8
#: ... and covers at most this fraction of it (nuclei are smaller than their cells)
NUCLEUS_AREA_RATIO = 0.6
#: without that relation, its objects are at least this much more solid than any other channel's
NUCLEUS_SOLIDITY_MARGIN = 0.1
#: objects this much more solid than any other channel's are the nuclei, whatever the areas say: Otsu on a dim
#: whole-cell channel keeps only the cells' bright centres, which then lie inside the nuclei's (larger) foreground
#: (measured: nuclei 0.74-0.98 beside whole MSC cells 0.49-0.67, gaps 0.21-0.34)
NUCLEUS_SOLIDITY_GAP = 0.2
#: channel names that say nuclei (whole words, any case): ImageJ/OME channel names and common nuclear stains
NUCLEUS_NAMES = ("nuclei", "nucleus", "nuclear", "nuc", "dapi", "hoechst", "h2b", "draq5", "sirdna", "sir-dna")
_NUCLEUS_NAME = re.compile(r"(?<![a-z])(?:" + "|".join(map(re.escape, NUCLEUS_NAMES)) + r")(?![a-z])", re.IGNORECASE)


def names_nuclei(name: str, /) -> bool:
    """Whether a channel name says the channel shows nuclei (one of :data:`NUCLEUS_NAMES` as a whole word:
    ``DAPI``, ``C1-Hoechst 33342``, ``H2B-GFP``, ``nuclei``; not ``nucleoli`` or ``C0``)."""
    return bool(_NUCLEUS_NAME.search(str(name)))


def _guess_from_figures(area: np.ndarray, inside: np.ndarray, solid: np.ndarray) -> tuple[int | None, str]:
    """:func:`guess_nucleus_channel`'s answer from each channel's foreground ``area``, fraction ``inside`` a
    larger channel and ``solid`` ity, with its rule; (None, "") when no channel stands out."""
    order = np.argsort(-solid, kind="stable")
    top = int(order[0])
    far = len(solid) > 1 and area[top] > 0 and solid[top] >= solid[order[1]] + NUCLEUS_SOLIDITY_GAP
    candidates = [k for k in range(len(solid)) if inside[k] >= NUCLEUS_INSIDE]
    if len(candidates) == 1 and (not far or candidates[0] == top):
        return candidates[0], "its objects lie inside a larger channel's"
    if far:  # a large solidity gap outranks the areas (a dim cell channel's bright centres inside the nuclei)
        return top, (f"its objects are far more compact than any other channel's (solidity {solid[top]:.2f} vs "
                     f"{solid[order[1]]:.2f} at most)")
    pool = candidates or list(range(len(solid)))
    ranked = sorted(pool, key=lambda k: -solid[k])
    top = ranked[0]
    margin_ok = len(ranked) == 1 or solid[top] >= solid[ranked[1]] + NUCLEUS_SOLIDITY_MARGIN
    if margin_ok and 0 < area[top] < area.max():
        return top, "its objects are the most compact"
    return None, ""


def _guess_advice(names: list[str]) -> str:
    """What to do when no nucleus channel can be guessed, in Python's and the command line's terms."""
    return (f"Set nucleus_channel to the channel that shows the nuclei (an index or one of {names}; CLI --set "
            f"nucleus_channel=NAME), or give markers= (points or a nucleus label image) (CLI --markers FILE).")


def guess_nucleus_channel(channels: np.ndarray, /, *, names: list[str] | None = None) -> tuple[int, dict]:
    """The channel of a (C, Y, X) image that shows the nuclei, for a run given no markers.

    Each channel is thresholded as automatic marker detection does (log image, Otsu, noise
    floor, holes filled); objects under 20 px or 1 % of the largest are noise. Nuclei lie
    inside their cells and are smaller: a channel is a candidate when its objects whose
    centre lies in another channel's foreground hold at least :data:`NUCLEUS_INSIDE` of
    its objects' area, and it covers at most :data:`NUCLEUS_AREA_RATIO` of that channel's
    area. One candidate is the answer, unless another channel's objects are far more compact:
    area-weighted solidity (area / convex hull area) :data:`NUCLEUS_SOLIDITY_GAP` or more above
    every other one's, which outranks the areas (Otsu on a dim cell channel keeps only the
    cells' bright centres, which lie inside the nuclei). Among several candidates (or when
    there is none, e.g. beside a transmitted-light channel) the answer is the channel whose
    objects are clearly the most compact: solidity :data:`NUCLEUS_SOLIDITY_MARGIN` or more
    above every other one's, covering less of the image than another channel (or
    :data:`NUCLEUS_SOLIDITY_GAP` above, whatever it covers). Solidity measured on real images:
    nuclei 0.79 (dense DSB2018) to 0.97 (GOWT1, SIM+), whole MSC cells 0.46-0.61. When exactly
    one channel's name says nuclei (:func:`names_nuclei`: ``DAPI``, ``Hoechst``, ``H2B-GFP``,
    ``nuclei``, ...) and has objects covering less of the image than another channel's (their
    cells), it is the answer (the rule says so when the figures point elsewhere or nowhere: e.g.
    nuclei that fill most of round cells, neither inside nor clearly more compact). A channel
    whose objects are below :data:`CHECK_SOLIDITY` (the whole-cell check of automatic
    detection) is never the answer. Channels that are all
    identical (a grey image saved as RGB) are one grey image
    (:func:`labelfree.image.merge_identical_channels`, logged): the answer is channel 0,
    whose objects give the markers as a one-channel image's do.

    Returns
    -------
    index : int
        The nucleus channel.
    record : dict
        ``{"channel", "name", "rule", "per_channel": [{"name", "foreground", "inside", "solidity"}, ...]}``;
        ``"inside"`` is the largest fraction of the channel's foreground in objects centred inside a
        larger channel's foreground.

    Raises
    ------
    InputError
        When no channel stands out (two channels of nuclei, nothing compact), or the one that does
        shows whole cells (solidity below :data:`CHECK_SOLIDITY`): the message gives every channel's
        figures and says to set ``nucleus_channel`` or give markers (and how on the command line).
    """
    from labelfree.image import merge_identical_channels, to_dataarray

    x = np.asarray(channels)
    if x.ndim != 3 or x.shape[0] < 2:
        raise DimensionError(f"guess_nucleus_channel needs a (C, Y, X) image of 2 or more channels; got {x.shape}.")
    c = x.shape[0]
    names = [str(n) for n in (names or range(c))]
    if "C" not in merge_identical_channels(to_dataarray(x, dims="CYX", channel_names=names)).dims:
        return 0, {"channel": 0, "name": names[0], "rule": "the channels are identical: one grey image, its own "
                   "nuclei give the markers", "per_channel": []}
    masks = []
    for k in range(c):
        try:
            masks.append(_objects(x[k], f"channel {names[k]}"))
        except ConstantImageError:
            masks.append(np.zeros(x.shape[1:], bool))  # a blank channel shows no nuclei
    area = np.array([m.sum() for m in masks], np.float64)
    objects = [_significant(m) for m in masks]
    solid = np.array([_compactness(*obj) for obj in objects])
    inside = np.zeros(c)
    for k in range(c):
        larger = [o for o in range(c) if o != k and 0 < area[k] <= NUCLEUS_AREA_RATIO * area[o]]
        if not larger:
            continue
        labels, ids, sizes = objects[k]
        centres = np.rint(np.array(ndi.center_of_mass(masks[k], labels, ids))).astype(int).reshape(-1, 2)
        for o in larger:  # the objects' centres, not their outlines: halos differ between stains
            inside[k] = max(inside[k], float(sizes[masks[o][centres[:, 0], centres[:, 1]]].sum() / sizes.sum()))
    table = [{"name": names[k], "foreground": round(float(area[k] / masks[k].size), 3),
              "inside": round(float(inside[k]), 3), "solidity": round(float(solid[k]), 3)} for k in range(c)]
    best, rule = _guess_from_figures(area, inside, solid)
    named = [k for k in range(c) if names_nuclei(names[k]) and area[k] > 0]
    if len(named) == 1 and named[0] != best and area[named[0]] < area.max():  # the file's channel names say which
        # one shows nuclei, and another channel covers more of the image (the cells around them)
        why = ("no channel stands out by its objects" if best is None else
               f"its objects alone would point to {names[best]}")
        best, rule = named[0], f"its name, {names[named[0]]}, says nuclei; {why}"
    figures = "; ".join(f"{t['name']}: foreground {t['foreground']:.0%}, {t['inside']:.0%} inside a larger "
                        f"channel, solidity {t['solidity']:.2f}" for t in table)
    if best is None:
        raise InputError(
            f"Cutter needs one marker per cell, and no channel of this image clearly shows nuclei (objects inside "
            f"larger cells, or clearly the most compact: {figures}). {_guess_advice(names)}"
        )
    if 0 < solid[best] < CHECK_SOLIDITY:  # the check of automatic detection would call them whole cells
        raise InputError(
            f"Cutter needs one marker per cell, and the channel that looks most like nuclei, {names[best]} ({rule}), "
            f"shows objects of solidity {solid[best]:.2f} (area / convex hull area; nuclei 0.8-0.97, whole cells "
            f"about 0.5-0.6): whole cells, which would get several markers each ({figures}). {_guess_advice(names)}"
        )
    log.info("Cutter: nucleus channel guessed: %s (%s%s; %s)", names[best], rule,
             ", and its name says nuclei" if named == [best] and not rule.startswith("its name") else "",
             ", ".join(f"{t['name']} {t['foreground']:.0%} of the image, {t['inside']:.0%} inside, solidity "
                       f"{t['solidity']:.2f}" for t in table))
    return best, {"channel": best, "name": names[best], "rule": rule, "per_channel": table}


def markers_to_labels(markers: np.ndarray, /, *, shape: tuple[int, int], radius: int = 2) -> np.ndarray:
    """Paint markers as small disks (label k for marker k-1) into a (Y, X) label image."""
    pts = check_markers(markers, shape=shape)
    out = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = yy**2 + xx**2 <= radius**2
    for k, (y, x) in enumerate(np.rint(pts).astype(int), start=1):
        ys, xs = y + yy[disk], x + xx[disk]
        ok = (ys >= 0) & (ys < shape[0]) & (xs >= 0) & (xs < shape[1])
        out[ys[ok], xs[ok]] = k
    return out
