"""ImageJ ROIs back to a label image (e.g. markers or scribbles drawn in Fiji)."""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Sequence

import numpy as np

from labelfree.errors import DimensionError, InputError

__all__ = ["rois_to_labels", "roi_mask"]

log = logging.getLogger(__name__)
_LABEL_IN_NAME = re.compile(r"L(\d+)$")
_DEFAULT_DIMS = {2: "YX", 3: "TYX", 4: "TZYX"}


def _fill_polygons(shape: tuple[int, int], polygons: list[np.ndarray]) -> tuple[tuple[slice, slice], np.ndarray]:
    """Even-odd scanline fill: pixels whose centre lies inside (ImageJ's rule).

    Returns the bounding box (row and column slices) and the filled mask inside it.

    Vertices are (x, y) in pixel-edge units (pixel ``(r, c)`` spans ``[c, c+1) x [r, r+1)``).
    Several polygons are filled together with the even-odd rule (holes, several parts).
    Cost is linear in vertices plus crossings, not in bounding-box area x vertices.
    """
    h, w = shape
    rows_all, xs_all = [], []
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64)
        if len(p) < 3:
            continue
        x0, y0 = p[:, 0], p[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        keep = y0 != y1  # horizontal edges never cross a row of pixel centres
        x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
        lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
        r_lo = np.clip(np.ceil(lo - 0.5), 0, h).astype(np.int64)  # first row centre >= lo
        r_hi = np.clip(np.ceil(hi - 0.5), 0, h).astype(np.int64)  # rows with centre < hi
        n = np.maximum(r_hi - r_lo, 0)
        if not n.any():
            continue
        edge = np.repeat(np.arange(len(n)), n)
        rows = r_lo[edge] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        t = (rows + 0.5 - y0[edge]) / (y1[edge] - y0[edge])
        rows_all.append(rows)
        xs_all.append(x0[edge] + t * (x1[edge] - x0[edge]))
    if not rows_all:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
    rows, xs = np.concatenate(rows_all), np.concatenate(xs_all)
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    starts = np.clip(np.ceil(xs[0::2] - 0.5), 0, w).astype(np.int64)  # centre c + 0.5 >= x_in
    stops = np.clip(np.ceil(xs[1::2] - 0.5), 0, w).astype(np.int64)  # centre c + 0.5 < x_out
    run_rows = rows[0::2]
    r0, r1 = int(run_rows.min()), int(run_rows.max()) + 1
    c0, c1 = int(starts.min()), max(int(stops.max()), int(starts.min()))
    diff = np.zeros((r1 - r0, c1 - c0 + 1), np.int32)
    np.add.at(diff, (run_rows - r0, starts - c0), 1)
    np.add.at(diff, (run_rows - r0, stops - c0), -1)
    return (slice(r0, r1), slice(c0, c1)), np.cumsum(diff[:, :-1], axis=1) > 0


#: java.awt.geom.PathIterator segment codes, as ImageJ stores composite (shape) ROIs
_MOVETO, _LINETO, _QUADTO, _CUBICTO, _CLOSE = 0, 1, 2, 3, 4
_SEGMENT_VALUES = {_MOVETO: 2, _LINETO: 2, _QUADTO: 4, _CUBICTO: 6, _CLOSE: 0}
_CURVE_STEP = 0.125  # pixels of control polygon per line segment of a flattened curve


def _bezier(ctrl: np.ndarray) -> np.ndarray:
    """Points along a quadratic (3 points) or cubic (4 points) Bezier curve, its start excluded."""
    length = float(np.hypot(*np.diff(ctrl, axis=0).T).sum())
    t = np.linspace(0.0, 1.0, int(np.clip(np.ceil(length / _CURVE_STEP), 2, 4096)) + 1)[1:, None]
    s = 1.0 - t
    if len(ctrl) == 3:
        return s * s * ctrl[0] + 2 * s * t * ctrl[1] + t * t * ctrl[2]
    return s**3 * ctrl[0] + 3 * s * s * t * ctrl[1] + 3 * s * t * t * ctrl[2] + t**3 * ctrl[3]


def _path_polygons(path: Any, name: str) -> list[np.ndarray]:
    """The closed outlines of a shape path (MOVETO, LINETO, QUADTO, CUBICTO, CLOSE), curves flattened.

    ImageJ writes composite ROIs as such a path; Java shapes (rounded rectangles, ellipses,
    combinations made in Fiji) hold curve segments.
    """
    values = np.asarray(path, np.float64).ravel()
    polygons: list[np.ndarray] = []
    current: list[np.ndarray] = []
    start = np.zeros(2)
    i = 0
    while i < len(values):
        op = int(values[i]) if np.isfinite(values[i]) and values[i] == int(values[i]) else -1
        if op not in _SEGMENT_VALUES or i + 1 + _SEGMENT_VALUES[op] > len(values):
            raise InputError(f"composite ROI {name!r} has a damaged shape path (segment code {values[i]:g} at "
                             f"{i} of {len(values)} values); draw or save the ROI again in Fiji.")
        points = values[i + 1:i + 1 + _SEGMENT_VALUES[op]].reshape(-1, 2)
        i += 1 + _SEGMENT_VALUES[op]
        if op == _MOVETO:
            if current:
                polygons.append(np.array(current))
            current, start = [points[0]], points[0]
            continue
        if op == _CLOSE:
            if current:
                polygons.append(np.array(current))
            current = []
            continue
        if not current:  # a segment after CLOSE starts where the closed outline started
            current = [start]
        if op == _LINETO:
            current.append(points[0])
        else:
            current.extend(_bezier(np.vstack([current[-1], points])))
    if current:
        polygons.append(np.array(current))
    return polygons


def _rounded_rect_path(roi: Any) -> list[np.ndarray]:
    """Outline of a rounded rectangle as ImageJ makes it (java.awt.geom.RoundRectangle2D)."""
    x, y = float(roi.left), float(roi.top)
    w, h = float(roi.right - roi.left), float(roi.bottom - roi.top)
    aw = ah = float(roi.rounded_rect_arc_size)
    aw, ah = min(w, aw), min(h, ah)
    k = (1.0 - 4.0 / 3.0 * (np.sqrt(2.0) - 1.0)) / 2.0  # Java's control-point fraction for a quarter arc
    rows = [  # (fraction of w, of aw, of h, of ah) per point, as RoundRectangle2D's path iterator
        [(0, 0, 0, 0.5)], [(0, 0, 1, -0.5)], [(0, 0, 1, -k), (0, k, 1, 0), (0, 0.5, 1, 0)], [(1, -0.5, 1, 0)],
        [(1, -k, 1, 0), (1, 0, 1, -k), (1, 0, 1, -0.5)], [(1, 0, 0, 0.5)],
        [(1, 0, 0, k), (1, -k, 0, 0), (1, -0.5, 0, 0)], [(0, 0.5, 0, 0)], [(0, k, 0, 0), (0, 0, 0, k), (0, 0, 0, 0.5)],
    ]
    path: list[float] = []
    for n, row in enumerate(rows):
        path.append(_MOVETO if n == 0 else (_LINETO, _LINETO, _CUBICTO)[len(row) - 1])
        for fw, faw, fh, fah in row:
            path += [x + fw * w + faw * aw, y + fh * h + fah * ah]
    return _path_polygons(path + [_CLOSE], roi.name or "")


def _area(roi: Any, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Bounding box and mask inside it of an area ROI; None for lines, points and text."""
    import roifile

    rt = roifile.ROI_TYPE
    h, w = shape
    if roi.composite and roi.multi_coordinates is not None:
        return _fill_polygons(shape, _path_polygons(roi.multi_coordinates, roi.name or ""))
    if roi.roitype == rt.RECT and roi.rounded_rect_arc_size > 0:
        return _fill_polygons(shape, _rounded_rect_path(roi))
    if roi.roitype == rt.RECT:
        r0, r1 = np.clip([roi.top, roi.bottom], 0, h)
        c0, c1 = np.clip([roi.left, roi.right], 0, w)
        return (slice(r0, r1), slice(c0, c1)), np.ones((max(r1 - r0, 0), max(c1 - c0, 0)), bool)
    if roi.roitype == rt.OVAL:  # pixels whose centre lies inside the ellipse of the bounds
        rx, ry = (roi.right - roi.left) / 2, (roi.bottom - roi.top) / 2
        if rx <= 0 or ry <= 0:
            return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
        r0, r1 = np.clip([roi.top, roi.bottom], 0, h)
        c0, c1 = np.clip([roi.left, roi.right], 0, w)
        yy, xx = np.ogrid[r0:r1, c0:c1]
        inside = ((xx + 0.5 - roi.left - rx) / rx) ** 2 + ((yy + 0.5 - roi.top - ry) / ry) ** 2 <= 1
        return (slice(r0, r1), slice(c0, c1)), inside
    if roi.roitype in (rt.POLYGON, rt.FREEHAND, rt.TRACED):
        return _fill_polygons(shape, [np.asarray(roi.coordinates(), float)])
    return None


def roi_mask(roi: Any, /, *, shape: tuple[int, int]) -> np.ndarray | None:
    """Boolean (Y, X) mask of an area ROI; None for lines, points and text.

    A pixel is inside when its centre is (ImageJ's rule); composite ROIs are filled
    with the even-odd rule, as ImageJ does.
    """
    area = _area(roi, tuple(shape))
    if area is None:
        return None
    mask = np.zeros(shape, bool)
    mask[area[0]] = area[1]
    return mask


def _explicit_label(roi: Any) -> int | None:
    props = roi.properties if roi.props else {}
    if isinstance(props.get("label"), int):
        return int(props["label"])
    m = _LABEL_IN_NAME.search(roi.name or "")
    return int(m.group(1)) if m else None


def _stack_position(position: int, dims: str, n_z: int) -> tuple[int, int]:
    """1-based (frame, z) of an ImageJ stack index (an image without channels; 0 = none)."""
    stacked = [d for d in dims if d in "TZ"]
    if len(stacked) == 2:
        t_pos, z_pos = divmod(position - 1, n_z)
        return t_pos + 1, z_pos + 1
    if stacked == ["T"]:
        return position, 0
    if stacked == ["Z"]:
        return 0, position
    return 0, 0


#: ImageJ's ROI Manager names a ROI of a stack "SSSS-YYYY-XXXX" (4 to 6 digits of slice): the slice it was added on
_SLICE_IN_NAME = (re.compile(r"^(\d{4})-\d{4}-"), re.compile(r"^(\d{5})-\d{5}-"), re.compile(r"^(\d{6})-\d{6}-"))


def _slice_in_name(name: str) -> int:
    """The stack slice in a ROI Manager name (``0002-0040-0040`` -> 2), as ImageJ reads it; 0 for none.

    ImageJ's ROI Manager stores the slice of a ROI of a plain stack in its name only (position 0) and
    restores and draws it on that slice (``RoiManager.getSliceNumber``).
    """
    for pattern in _SLICE_IN_NAME:
        m = pattern.match(name or "")
        if m:
            return int(m.group(1))
    return 0


def _planes(roi: Any, dims: str, sizes: dict[str, int], *, position: int = 0) -> tuple[list[int], list[int]]:
    """Frames and z planes a ROI belongs to (all of them for position 0 and no slice in its name).

    ``position``: the stack index of one point of a multi-point ROI, in place of the ROI's own.
    """
    n_t, n_z = sizes.get("T", 1), sizes.get("Z", 1)
    t_pos, z_pos = roi.t_position, roi.z_position
    if not (position or roi.c_position or t_pos or z_pos or roi.position) and ("T" in dims or "Z" in dims):
        position = _slice_in_name(roi.name)
    if position:
        t_pos, z_pos = _stack_position(position, dims, n_z)
    elif not (roi.c_position or t_pos or z_pos) and roi.position:
        t_pos, z_pos = _stack_position(roi.position, dims, n_z)
    ts = [t_pos - 1] if "T" in dims and t_pos else list(range(n_t))
    zs = [z_pos - 1] if "Z" in dims and z_pos else list(range(n_z))
    if any(not 0 <= t < n_t for t in ts) or any(not 0 <= z < n_z for z in zs):
        where = f" (its point at stack position {position})" if position else ""
        place = ", ".join(f"{name} {pos}" for name, pos, d in (("frame", t_pos, "T"), ("z plane", z_pos, "Z"))
                          if d in dims and pos)
        has = " and ".join(f"{n} {name}(s)" for name, n, d in (("frame", n_t, "T"), ("z plane", n_z, "Z"))
                           if d in dims)
        raise InputError(
            f"ROI {roi.name!r}{where} lies outside the image, on {place} (counted from 1), but the image has {has}. "
            "The ROIs belong to another (longer) image: give that image, or delete or move this ROI in Fiji's "
            "ROI Manager and save the zip again."
        )
    return ts, zs


def _point_xy(roi: Any) -> np.ndarray:
    xy = np.asarray(roi.coordinates(), float)
    return np.floor(xy).astype(int)  # pixel (x, y) containing the point


def rois_to_labels(
    rois: Sequence[Any] | str | os.PathLike[str],
    /,
    *,
    shape: Sequence[int],
    dims: str | None = None,
) -> np.ndarray:
    """Paint ImageJ ROIs into a label image.

    Parameters
    ----------
    rois : sequence of roifile.ImagejRoi, or a path to a ``.zip``/``.roi`` file
        Area ROIs (polygon, traced, freehand, rectangle, oval, composite) are filled
        (a pixel belongs to a ROI when its centre is inside, as in ImageJ); point ROIs
        become one-pixel markers, one label per point (for marker-controlled methods), each
        on its own plane when the points were clicked on several planes of a stack (a stack
        index of an image without channels). Composite ROIs may hold curves (rounded
        rectangles, ellipses combined in Fiji); they are flattened to line segments of at most
        1/8 pixel. Lines and text are skipped (logged).
    shape : sequence of int
        Output shape, e.g. ``(Y, X)`` or ``(T, Y, X)``.
    dims : str, optional
        Axis letters of ``shape``; default YX, TYX or TZYX by length.

    Returns
    -------
    numpy.ndarray
        uint32 labels. The label of an area ROI is its ``label`` property, else the number
        after ``L`` at the end of its name (as written by :func:`write_rois`), else the
        next unused number in ROI order. ROIs without a frame/z position are painted on every plane.
        Later ROIs overwrite earlier ones where they overlap.
    """
    shape = tuple(int(s) for s in shape)
    dims = (dims or _DEFAULT_DIMS.get(len(shape), "")).upper()
    if len(dims) != len(shape) or dims[-2:] != "YX" or any(d not in "TZYX" for d in dims):
        raise DimensionError(
            f"shape {shape} with dims {dims!r}: give dims from TZYX ending in YX, one letter per axis "
            "(e.g. shape=(T, Y, X), dims='TYX')."
        )
    items = _load(rois)
    sizes = dict(zip(dims, shape))
    out = np.zeros((sizes.get("T", 1), sizes.get("Z", 1), shape[-2], shape[-1]), np.uint32)
    explicit = [_explicit_label(r) for r in items]
    next_id = max([v for v in explicit if v] + [0]) + 1
    points = np.zeros(out.shape, bool)  # the pixels that hold a point marker
    repeated: list[str] = []  # the points on the pixel of an earlier point
    for roi, label in zip(items, explicit):
        ts, zs = _planes(roi, dims, sizes)
        if _is_point(roi):
            # points clicked on several planes of a stack: one ROI, each point with its own stack position
            positions = roi.counter_positions if roi.counter_positions is not None else np.zeros(0, int)
            for k, (x, y) in enumerate(_point_xy(roi)):
                where = _planes(roi, dims, sizes, position=int(positions[k])) if k < len(positions) and positions[k] \
                    else (ts, zs)
                if not (0 <= y < shape[-2] and 0 <= x < shape[-1]):
                    continue
                cells = np.ix_(where[0], where[1], [y], [x])
                if points[cells].all():  # one marker per pixel: a second point there would take its id
                    repeated.append(f"{roi.name or 'point'} at (x={x}, y={y})")
                    continue
                value = label if label and roi.n_coordinates == 1 else next_id
                next_id += value == next_id
                for t in where[0]:
                    fresh = ~points[t, where[1], y, x]
                    out[t, np.asarray(where[1])[fresh], y, x] = value
                    points[t, where[1], y, x] = True
            continue
        area = _area(roi, shape[-2:])
        if area is None:
            log.warning("ROI %r (%s) is not an area or point ROI; skipped.", roi.name, roi.roitype.name)
            continue
        value = label or next_id
        next_id += value == next_id
        box, inside = area
        for t in ts:
            for z in zs:
                out[t, z][box][inside] = value
    if repeated:
        log.warning("%d point(s) lie on the pixel of an earlier point (e.g. %s) and were left out: one marker per "
                    "pixel. Delete the repeated points in Fiji's ROI Manager (one point per cell).",
                    len(repeated), repeated[0])
    return out.reshape(shape)


def _is_point(roi: Any) -> bool:
    import roifile

    return roi.roitype == roifile.ROI_TYPE.POINT


def _load(rois: Any) -> list[Any]:
    from labelfree.io.rois import read_rois

    if isinstance(rois, (str, os.PathLike)):
        return read_rois(rois)
    items = list(rois)
    for r in items:
        if not hasattr(r, "roitype"):
            raise InputError(f"rois must be roifile.ImagejRoi objects or a ROI file path; got {type(r).__name__}.")
    return items
