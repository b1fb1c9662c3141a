"""Label images into the ROI Manager (one ROI per object per plane) and ROIs back into labels.

ROIs follow the ROI zips written by :func:`labelfree.io.write_rois`: names from
:func:`labelfree.io.roi_name` (``t0003-L00042``, ``t0003-z002-L00042``), the label id
in the ROI property ``label``, group = label id (1..255) where ImageJ has groups
(1.52t+; older versions get no group), hyperstack positions ``(c=0, z, t)`` for
images with T, ``setPosition(z)`` for plain Z stacks. Objects with holes or
several parts become ShapeRois whose even-odd fill is exactly the object.

Speed: outlines are traced in numpy (:func:`labelfree.labels.label_contours`) and
each ROI is made from Java int arrays in one constructor call; adding to the ROI
Manager is cheap (0.1 s for 5,000 ROIs with ImageJ 1.53), so the manager stays visible.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Sequence

import numpy as np

from labelfree.errors import DimensionError, InputError, JavaError

__all__ = ["labels_to_roimanager", "labels_to_javarois", "roimanager_to_labels", "get_roimanager"]

log = logging.getLogger(__name__)


def get_roimanager() -> Any:
    """The ROI Manager of the running ImageJ (the batch-mode one inside batch macros)."""
    from scyjava import jimport

    if jimport("java.awt.GraphicsEnvironment").isHeadless():
        raise JavaError(
            "The ROI Manager is a window and ImageJ runs headless. Run under xvfb-run (or with a display) "
            "and start(headless=False), or use the headless file outputs: labelfree.io.write_rois(...)."
        )
    return jimport("ij.plugin.frame.RoiManager").getRoiManager()


def _ensure_group_colours() -> None:
    """Give ImageJ's ROI groups LabelFree's glasbey colours when ImageJ has none.

    ImageJ 1.53 colours group *g* from ``luts/Glasbey.lut``; a bare ij.jar has no such
    file and then retries (and logs "LUT not found") for every ROI. Installing our
    LUT makes ROI group *i* the colour of label *i* in the label image.
    """
    from scyjava import jimport

    from labelfree.imagej.labels import glasbey_imagej_lut

    try:
        field = jimport("ij.gui.Roi").class_.getDeclaredField("glasbeyLut")
        field.setAccessible(True)
        if field.get(None) is None:
            field.set(None, glasbey_imagej_lut())
    except Exception:  # noqa: BLE001 - ImageJ versions without group colours
        log.debug("ImageJ has no ROI group LUT to set")


def _packed_outline(polys: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """One object's outline as floats for LabelFreeRois.build: polygon x,y pairs (0) or path segments (1)."""
    if len(polys) == 1:
        pts = polys[0]
        if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
            pts = pts[:-1]
        return np.ascontiguousarray(pts, dtype=np.float32).ravel(), 0
    parts = []  # java.awt.geom path segments: MOVETO=0, LINETO=1, CLOSE=4
    for pts in polys:
        ops = np.ones((len(pts), 1), np.float32)
        ops[0] = 0
        parts.append(np.hstack([ops, pts.astype(np.float32)]).ravel())
        parts.append(np.array([4], np.float32))
    return np.concatenate(parts), 1


def labels_to_javarois(labels: Any, /, *, group: int | str | None = "label") -> list[Any]:
    """Java ``ij.gui.Roi`` objects for every object of every plane (see the module notes).

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X.
    group : "label", int or None
        ROI group: the label id (ids above 255 get none), one group for all, or none.
    """
    import jpype
    from scyjava import jimport

    from labelfree.io.labels_tiff import as_label_image
    from labelfree.io.rois import roi_name
    from labelfree.labels import label_contours

    da = as_label_image(labels)
    if isinstance(group, str) and group != "label":
        raise InputError(f"group must be 'label', an int 1..255 or None; got {group!r}.")
    has_t, has_z = "T" in da.dims, "Z" in da.dims
    n_t, n_z = da.sizes.get("T", 1), da.sizes.get("Z", 1)
    arr = np.asarray(da.data).reshape(n_t, n_z, da.sizes["Y"], da.sizes["X"])
    chunks, kinds, names, ids, zs, ts = [], [], [], [], [], []
    for t, z in itertools.product(range(n_t), range(n_z)):
        contours = label_contours(arr[t, z])
        for label in sorted(contours):
            packed, kind = _packed_outline(contours[label])
            chunks.append(packed)
            kinds.append(kind)
            names.append(roi_name(t, int(label), z=z if has_z else None))
            ids.append(int(label))
            zs.append(z + 1 if has_z else 0)
            ts.append(t + 1 if has_t else 0)
    if not chunks:
        return []
    if group is not None:
        _ensure_group_colours()
    lengths = np.array([len(c) for c in chunks], np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    ids_arr = np.array(ids, np.int32)
    if group is None:
        groups = np.zeros_like(ids_arr)
    elif group == "label":
        groups = np.where(ids_arr <= 255, ids_arr, 0).astype(np.int32)
    else:
        groups = np.full_like(ids_arr, int(group))
    columns = (chunks, kinds, names, ids_arr, zs, ts, groups)
    try:
        build = jimport("labelfree.LabelFreeRois").build
    except Exception:  # noqa: BLE001 - helper not compiled / not on this JVM's class path (e.g. inside Fiji)
        return _build_in_python(*columns)
    ints = lambda a: jpype.JArray(jpype.JInt)(np.ascontiguousarray(a, dtype=np.int32))  # noqa: E731
    rois = build(jpype.JArray(jpype.JFloat)(np.concatenate(chunks)), ints(offsets), ints(lengths), ints(kinds),
                 jpype.JArray(jpype.JString)(names), ints(ids_arr), ints(zs), ints(ts), ints(groups))
    return list(rois)


def _build_in_python(chunks, kinds, names, ids, zs, ts, groups) -> list[Any]:
    """The same ROIs as LabelFreeRois.build, one JPype call per property (slower)."""
    import jpype
    from scyjava import jimport

    Roi, PolygonRoi, ShapeRoi = jimport("ij.gui.Roi"), jimport("ij.gui.PolygonRoi"), jimport("ij.gui.ShapeRoi")
    has_groups = hasattr(Roi, "setGroup")
    rois = []
    for packed, kind, name, label, z, t, g in zip(chunks, kinds, names, ids, zs, ts, groups):
        if kind == 0:
            xy = packed.reshape(-1, 2).astype(np.int32)
            roi = PolygonRoi(jpype.JArray(jpype.JInt)(np.ascontiguousarray(xy[:, 0])),
                             jpype.JArray(jpype.JInt)(np.ascontiguousarray(xy[:, 1])), len(xy), Roi.TRACED_ROI)
        else:
            roi = ShapeRoi(jpype.JArray(jpype.JFloat)(packed))
        roi.setName(name)
        if t > 0:
            roi.setPosition(0, int(z), int(t))
        elif z > 0:
            roi.setPosition(int(z))
        roi.setProperty("label", str(int(label)))
        if has_groups and g > 0:
            roi.setGroup(int(g))
        rois.append(roi)
    return rois


def labels_to_roimanager(
    labels: Any, /, *, rm: Any = None, replace: bool = False, group: int | str | None = "label"
) -> int:
    """Add one ROI per object per frame to the ROI Manager.

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X.
    rm : ij.plugin.frame.RoiManager, optional
        Default: the open ROI Manager (opened if needed; the batch-mode one in batch macros).
    replace : bool
        Clear the ROI Manager first. Default False: the user's ROIs are kept and the
        new ones appended.
    group : "label", int or None
        ROI groups (see :func:`labels_to_javarois`).

    Returns
    -------
    int
        Number of ROIs added.
    """
    rois = labels_to_javarois(labels, group=group)
    rm = get_roimanager() if rm is None else rm
    if replace:
        rm.reset()
    for roi in rois:
        rm.add(roi, -1)  # -1: keep our name (no index prefix)
    log.info("added %d ROIs to the ROI Manager", len(rois))
    return len(rois)


def _roi_plane(roi: Any, dims: str, sizes: dict[str, int]) -> list[tuple[int, ...]]:
    """Plane indices (over the non-YX dims) that a ROI applies to; 0 position = all."""
    lead = [d for d in dims if d not in "YX"]
    if not lead:
        return [()]
    if roi.hasHyperStackPosition():
        pos = {"T": int(roi.getTPosition()), "Z": int(roi.getZPosition())}
    else:
        p = int(roi.getPosition())
        pos = {lead[0]: p} if len(lead) == 1 else {}
    ranges = [[pos[d] - 1] if pos.get(d, 0) > 0 else range(sizes[d]) for d in lead]
    out = list(itertools.product(*ranges))
    for idx in out:
        for d, i in zip(lead, idx):
            if not 0 <= i < sizes[d]:
                raise InputError(f"A ROI ({roi.getName()}) is placed at {d}={i + 1}, outside the image ({sizes[d]}).")
    return out


def roimanager_to_labels(
    rois: Any = None, /, *, shape: Sequence[int], dims: str | None = None
) -> np.ndarray:
    """Rasterise ROIs (e.g. markers or scribbles drawn by the user) into a label array.

    Parameters
    ----------
    rois : RoiManager, sequence of ij.gui.Roi, or None
        Default: every ROI of the ROI Manager.
    shape : sequence of int
        Output shape.
    dims : str, optional
        Letters for ``shape`` from T, Z, Y, X (default YX, TYX, TZYX by length).

    Returns
    -------
    numpy.ndarray (uint16 or uint32)
        Area ROIs are filled with their ``label`` property (else their 1-based index in
        the list); each point of a point ROI becomes its own one-pixel object. A ROI
        without position applies to every plane.
    """
    shape = tuple(int(s) for s in shape)
    dims = (dims or {2: "YX", 3: "TYX", 4: "TZYX"}.get(len(shape), "")).upper()
    if len(dims) != len(shape) or dims[-2:] != "YX" or any(d not in "TZYX" for d in dims):
        raise DimensionError(f"shape {shape} with dims {dims!r}: give dims from T, Z, Y, X ending in YX.")
    if rois is None:
        rois = get_roimanager()
    if hasattr(rois, "getRoisAsArray"):
        rois = list(rois.getRoisAsArray())
    sizes = dict(zip(dims, shape))
    out = np.zeros(shape, np.uint32)
    lead_shape = tuple(sizes[d] for d in dims if d not in "YX")
    planes = out.reshape((-1,) + shape[-2:]) if lead_shape else out[None]
    next_point = len(rois) + 1
    from labelfree.imagej._pixels import read_planes

    for i, roi in enumerate(rois, start=1):
        prop = roi.getProperty("label")
        label = int(str(prop)) if prop is not None and str(prop).isdigit() else i
        targets = [int(np.ravel_multi_index(idx, lead_shape)) if lead_shape else 0 for idx in _roi_plane(roi, dims, sizes)]
        if int(roi.getType()) == int(roi.POINT):
            poly = roi.getFloatPolygon()
            for x, y in zip(poly.xpoints[: poly.npoints], poly.ypoints[: poly.npoints]):
                xi, yi = int(x), int(y)
                if 0 <= yi < shape[-2] and 0 <= xi < shape[-1]:
                    for p in targets:
                        planes[p, yi, xi] = next_point
                    next_point += 1
            continue
        box = roi.getBounds()
        mask_ip = roi.getMask()
        x0, y0, bw, bh = int(box.x), int(box.y), int(box.width), int(box.height)
        if mask_ip is None:
            mask = np.ones((bh, bw), bool)
        else:
            from scyjava import jimport

            stack = jimport("ij.ImageStack")(bw, bh)
            stack.addSlice(None, mask_ip)
            mask = read_planes(stack, [1], bit_depth=8)[0] != 0
        ys, xs = np.nonzero(mask)
        ys, xs = ys + y0, xs + x0
        keep = (ys >= 0) & (ys < shape[-2]) & (xs >= 0) & (xs < shape[-1])
        for p in targets:
            planes[p, ys[keep], xs[keep]] = label
    top = int(out.max()) if out.size else 0
    return out.astype(np.uint16) if top <= 65535 else out
