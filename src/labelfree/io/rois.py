"""Label images to ImageJ ROI zips (one ROI per object per plane) and back."""

from __future__ import annotations

import itertools
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError
from labelfree.io.atomic import atomic_path, check_file_suffix
from labelfree.io.labels_tiff import as_label_image

__all__ = ["roi_name", "roi_position", "labels_to_rois", "write_rois", "read_rois", "ROIS_SUFFIXES"]

log = logging.getLogger(__name__)
_MAX_GROUP = 255  # ImageJ ROI groups are 1..255 (0 = no group)
#: the file name suffix of the ROI zip :func:`write_rois` writes (any case); a ``.roi`` file holds one ROI
ROIS_SUFFIXES = (".zip",)


def roi_name(frame: int, label: int, /, *, z: int | None = None) -> str:
    """ROI name ``t0001-z001-L00005`` (1-based frame and z; z only for stacks with Z).

    >>> roi_name(0, 5), roi_name(9, 12, z=2)
    ('t0001-L00005', 't0010-z003-L00012')
    """
    zpart = f"-z{z + 1:03d}" if z is not None else ""
    return f"t{frame + 1:04d}{zpart}-L{label:05d}"


def roi_position(t: int, z: int, /, *, n_t: int, n_z: int) -> tuple[int, int, int]:
    """ImageJ's position of the ROI of plane (``t``, ``z``) of labels with ``n_t`` frames and ``n_z`` z planes:
    ``(stack position, z, t)``, 1-based, 0 = unset.

    Labels with several frames and several z planes are a hyperstack in ImageJ: (c=0 all, z, t). A movie or
    a z stack (one of them only) is a plain stack, where the ROI Manager finds a ROI's plane by its stack
    position only (hyperstack positions would leave every ROI on plane 1); ImageJ follows that position on
    a hyperstack with channels too. A single plane gets none.
    """
    if n_t > 1 and n_z > 1:
        return 0, z + 1, t + 1
    if n_t * n_z > 1:
        return t * n_z + z + 1, 0, 0
    return 0, 0, 0


#: the largest coordinate an ImageJ ROI's 16-bit header gives back: ImageJ's RoiDecoder reads a value below -5000 as
#: unsigned (32,768 to 60,535) and others as signed (-5000 to 32,767, for outlines partly outside the image), so
#: 60,536 to 65,535 come back negative (ImageJ 1.53t's own RoiEncoder writes them so) and 65,536 on wraps. An outline
#: that reaches past it goes in floats as well (sub-pixel resolution, as ImageJ writes one past 65,535), which the
#: RoiDecoder reads instead; a composite ROI's path is in floats already
_MAX_SHORT = 60535


def _outline_roi(polys: list[np.ndarray]) -> Any:
    """A traced ROI for one outline, a composite (shape) ROI for holes or several parts."""
    import roifile

    roi = roifile.ImagejRoi()
    allpts = np.concatenate(polys)
    left, top = (int(v) for v in allpts.min(axis=0))
    right, bottom = (int(v) for v in allpts.max(axis=0))
    roi.left, roi.top, roi.right, roi.bottom = left, top, right, bottom
    if len(polys) == 1:
        pts = polys[0]
        if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
            pts = pts[:-1]
        roi.roitype = roifile.ROI_TYPE.TRACED
        roi.integer_coordinates = (pts - (left, top)).astype(np.int32)
        roi.n_coordinates = len(pts)
        if max(right, bottom) > _MAX_SHORT:  # the header's 16 bits would come back wrong: the outline in floats
            roi.options |= roifile.ROI_OPTIONS.SUB_PIXEL_RESOLUTION
            roi.subpixel_coordinates = pts.astype(np.float32)
        return roi
    # Composite: MOVETO x y, LINETO x y ..., CLOSE per polygon (java.awt.geom path codes).
    # ImageJ fills shape ROIs with the even-odd rule, so holes come out as holes.
    parts = []
    for pts in polys:
        n = len(pts)
        ops = np.ones((n, 1), np.float32)
        ops[0] = 0
        parts.append(np.hstack([ops, pts.astype(np.float32)]).ravel())
        parts.append(np.array([4], np.float32))
    roi.roitype = roifile.ROI_TYPE.RECT
    roi.multi_coordinates = np.concatenate(parts)
    roi.shape_roi_size = roi.multi_coordinates.size
    return roi


def _group_of(label: int, group: int | str | None) -> int:
    if group is None:
        return 0
    if group == "label":
        return (label - 1) % _MAX_GROUP + 1  # ids above 255 cycle through the groups: 256 -> 1, 300 -> 45
    return int(group)


def labels_to_rois(labels: Any, /, *, group: int | str | None = "label") -> list[Any]:
    """One ImageJ ROI per object per frame (and z plane) of a label image.

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X (0 = background).
    group : "label", int or None
        ImageJ ROI group: ``"label"`` puts each object in the group of its label id
        (ids above 255 cycle through ImageJ's 255 groups: 300 -> 45), an int puts every ROI in that group,
        None sets none. The label id is also stored as the ROI property ``label``.

    Returns
    -------
    list of roifile.ImagejRoi
        Named by :func:`roi_name`, ordered by frame, z, label. Objects of one outline are
        traced polygon ROIs; objects with holes or several parts are composite ROIs whose
        even-odd fill equals the object's pixels. Positions: stacks with several frames and several z
        planes get hyperstack positions (c=0 "all", z, t; 1-based); a movie or a z stack (one of them only)
        gets ImageJ's stack position (the frame or z plane, 1-based), as ImageJ gives ROIs added on such a
        stack: ImageJ opens its label image as a plain stack, where the ROI Manager finds a ROI's plane by
        that position only. A single plane gets none.
    """
    return list(_iter_rois(labels, group=group))


def _iter_rois(labels: Any, /, *, group: int | str | None) -> Iterator[Any]:
    """The ROIs of :func:`labels_to_rois`, made one plane at a time as they are consumed (memory follows one
    plane, not the movie); bad input is refused at the call."""
    da = as_label_image(labels)  # dims in T, Z, Y, X order
    if isinstance(group, str) and group != "label":
        raise InputError(f"group must be 'label', an int 0..255 or None; got {group!r}.")
    if isinstance(group, (int, np.integer)) and not 0 <= int(group) <= _MAX_GROUP:
        raise InputError(f"group must be in 0..{_MAX_GROUP} (ImageJ ROI groups); got {group}.")
    return _plane_rois(da, group)


def _plane_rois(da: Any, group: int | str | None) -> Iterator[Any]:
    from labelfree.labels import label_contours

    has_t, has_z = "T" in da.dims, "Z" in da.dims
    n_t, n_z = da.sizes.get("T", 1), da.sizes.get("Z", 1)
    data = da.data
    for t, z in itertools.product(range(n_t), range(n_z)):
        index = (t,) * has_t + (z,) * has_z
        contours = label_contours(np.asarray(data[index]))  # one plane read (or computed, for dask) at a time
        for label in sorted(contours):
            roi = _outline_roi(contours[label])
            roi.name = roi_name(t, label, z=z if has_z else None)
            roi.position, roi.z_position, roi.t_position = roi_position(t, z, n_t=n_t, n_z=n_z)
            roi.group = _group_of(label, group)
            roi.props = f"label: {label}\n"
            yield roi


def write_rois(path: str | os.PathLike[str], labels: Any, /, *, group: int | str | None = "label") -> Path:
    """Write the ROIs of :func:`labels_to_rois` as a ROI zip for ImageJ's ROI Manager.

    Parameters
    ----------
    path : str or path-like
        Output ``.zip`` file (any case); replaced atomically. A path spelt as a folder (``out/``), or a name
        with another suffix (``.roi`` names a single ROI, not a zip) is refused before any work
        (:class:`~labelfree.errors.OutputError`).
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X.
    group : "label", int or None
        See :func:`labels_to_rois`.

    Returns
    -------
    pathlib.Path
    """
    path = check_file_suffix(path, suffixes=ROIS_SUFFIXES, what="ROI zip",
                             writes="an ImageJ ROI zip (ROI Manager)")
    rois = _iter_rois(labels, group=group)  # written as made: a long movie's ROIs are never all in memory
    count = 0
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for roi in rois:  # a fixed entry date: the same ROIs give the same file (and SHA-256) on every run
            zf.writestr(zipfile.ZipInfo(roi.name + ".roi", date_time=_ZIP_DATE), roi.tobytes())
            count += 1
    log.info("wrote %d ROIs to %s", count, path)
    return path


#: the date of every entry of a written ROI zip (the earliest a zip holds), not the time of writing
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def read_rois(path: str | os.PathLike[str], /) -> list[Any]:
    """Read ImageJ ROIs from a ``.zip`` (ROI Manager) or a single ``.roi`` file.

    Returns
    -------
    list of roifile.ImagejRoi
    """
    import roifile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"ROI file {path} does not exist; check the path.")
    try:
        if path.suffix.lower() == ".zip":
            if not zipfile.is_zipfile(path):
                raise InputError(f"{path} is not a zip file; expected an ImageJ ROI zip (ROI Manager > Save).")
            rois = roifile.ImagejRoi.fromfile(path)
        elif path.suffix.lower() == ".roi":
            rois = [roifile.ImagejRoi.fromfile(path)]
        else:
            raise InputError(f"{path} is neither a .zip nor a .roi file; expected ImageJ ROIs.")
    except InputError:
        raise
    except Exception as exc:  # roifile raises ValueError/struct.error on bad data
        raise InputError(f"{path} does not hold valid ImageJ ROIs ({exc}).") from exc
    return list(rois)

