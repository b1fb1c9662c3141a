"""Label images into the ROI Manager: one ROI per object per plane (the reverse: :mod:`.roi_labels`).

ROIs follow the ROI zips written by :func:`labelfree.io.write_rois`: names from
:func:`labelfree.io.roi_name` (``t0003-L00042``, ``t0003-z002-L00042``; appended to a ROI Manager that
holds one of these names already, every ROI of the run gets the suffix ``-1``, else ``-2``, ...: the
first one free for all of them, as ImageJ makes names of the same ROIs unique), the label id
in the ROI property ``label``, and the ROI group where ImageJ has groups (1.52t+; older versions get
none): ImageJ has 255 groups, so the group of label id *n* is *n* for ids 1..255 and cycles for larger ids
(256 -> 1, 300 -> 45: ``(n - 1) % 255 + 1``), so that objects of neighbouring ids keep differing in colour
(group *g* has the colour of label *g* in the label image); the ``label`` property keeps the id.

Positions: labels with several frames and several z planes get hyperstack positions ``(c, z, t)``, a z stack's
``(c, z, 0)`` when segmented from one ``channel`` of an image with channels, else the stack position
``setPosition(n)`` (the frame of a movie, the plane of a z stack). ``c`` is that ``channel`` (from 1), as
*Analyze Particles* gives its ROIs the channel it analysed: selecting a ROI in the ROI Manager shows (and
*Measure* measures) the segmented channel of a hyperstack, its plane and frame; on the label image (one channel)
it shows the plane and frame. Without ``channel`` ``c`` is 0 and the ROI Manager keeps the channel on show.
ImageJ 1.x treats a movie without Z or C as a plain stack, where the ROI Manager ignores hyperstack
positions (every ROI of a movie was shown and measured on frame 1), but follows a stack position on a
hyperstack too (a movie with channels, keeping the channel on show): the ROIs of a movie keep the stack
position, with or without ``channel``, so that they find their frame on the movie and on its label movie.
Objects with holes or several parts become ShapeRois whose even-odd fill is exactly the object.

Speed: outlines are traced in numpy (:func:`labelfree.labels.label_contours`) and
each ROI is made from Java int arrays in one constructor call; adding to the ROI
Manager is cheap (0.1 s for 5,000 ROIs with ImageJ 1.53), so the manager stays visible.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from labelfree.errors import InputError, JavaError

__all__ = ["labels_to_roimanager", "add_labels_to_roimanager", "labels_to_javarois", "get_roimanager",
           "roimanager_names", "run_suffix", "roi_channel", "roi_groups", "ensure_group_colours"]

log = logging.getLogger(__name__)


def rois_helper() -> Any:
    """LabelFree's compiled Java helper ``labelfree.LabelFreeRois`` (builds ROIs in one call, fills and opens into a
    shown ROI Manager on the event thread), or None where it is not on this JVM's class path (inside Fiji)."""
    from scyjava import jimport

    try:
        return jimport("labelfree.LabelFreeRois")
    except Exception:  # noqa: BLE001 - helper not compiled / not on this JVM's class path (e.g. inside Fiji)
        return None


def get_roimanager() -> Any:
    """The ROI Manager a macro sees: the open ROI Manager window; inside a batch-mode macro with no
    such window, that macro's hidden batch-mode ROI Manager (what ``roiManager("count")`` and
    ``roiManager("add")`` use); else a new ROI Manager window, opened as ImageJ opens it.

    ``RoiManager.getRoiManager()`` alone is not enough: in batch mode it makes a second hidden
    manager that the macro never sees (ImageJ 1.53t). ``Interpreter.getBatchModeRoiManager()``
    returns null when a ROI Manager window is open or no batch-mode macro runs.
    """
    from scyjava import jimport

    if jimport("java.awt.GraphicsEnvironment").isHeadless():
        raise JavaError(
            "The ROI Manager is a window and ImageJ runs headless. Run under xvfb-run (or with a display) "
            "and start(headless=False), or use the headless file outputs: labelfree.io.write_rois(...)."
        )
    RoiManager = jimport("ij.plugin.frame.RoiManager")
    raw = getattr(RoiManager, "getRawInstance", None)  # the window only; getInstance() may give the batch one
    window = raw() if raw is not None else RoiManager.getInstance()
    if window is not None:
        return window
    Interpreter = jimport("ij.macro.Interpreter")
    if Interpreter.isBatchMode() and hasattr(Interpreter, "getBatchModeRoiManager"):
        batch = Interpreter.getBatchModeRoiManager()
        if batch is not None:
            return batch
    return RoiManager.getRoiManager()


def ensure_group_colours() -> None:
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


def roimanager_names(rm: Any, /) -> set[str]:
    """The names of the ROIs in the ROI Manager ``rm``."""
    return {str(roi.getName()) for roi in rm.getRoisAsArray() if roi is not None and roi.getName() is not None}


def run_suffix(names: Iterable[str], taken: Collection[str], /) -> str:
    """The suffix that makes the ROI names of one run unique in a ROI Manager holding ``taken``.

    ``""`` when no name is taken; else ``-n`` with the smallest n >= 1 for which no ``name-n`` is taken
    (ImageJ's ``-1``, ``-2``, ... for ROIs of the same name), one suffix for every ROI of the run, so that
    they stay together.

    >>> run_suffix(["t0001-L00001", "t0001-L00002"], {"t0001-L00002", "t0001-L00001-1"})
    '-2'
    >>> run_suffix(["t0001-L00001"], {"t0002-L00001"})
    ''
    """
    names = list(names)
    if not taken or not any(name in taken for name in names):
        return ""
    n = 1
    while any(f"{name}-{n}" in taken for name in names):
        n += 1
    return f"-{n}"


def roi_groups(ids: Any, group: int | str | None, /) -> np.ndarray:
    """The ImageJ ROI group of each label id in ``ids`` (0 = none).

    ``group="label"``: the id for ids 1..255, cycling through ImageJ's 255 groups for larger ids
    (``(id - 1) % 255 + 1``); an int 0..255: that group for all (0: none, as :func:`labelfree.io.write_rois`
    takes it); None: none.

    >>> roi_groups([1, 255, 256, 300, 511], "label").tolist()
    [1, 255, 1, 45, 1]

    Raises
    ------
    InputError
        ``group`` is neither "label", a group 0..255 nor None.
    """
    ids = np.asarray(ids, np.int64)
    if group is None:
        return np.zeros(ids.shape, np.int32)
    if group == "label":
        return ((ids - 1) % 255 + 1).astype(np.int32)
    if isinstance(group, (int, np.integer)) and not isinstance(group, bool) and 0 <= group <= 255:
        return np.full(ids.shape, int(group), np.int32)
    raise InputError(f"group must be 'label' (the label id, cycling through ImageJ's 255 groups), a group "
                     f"0..255 (0: none) or None; got {group!r}.")


def roi_channel(imp: Any, channel: Any, /) -> int | None:
    """ImageJ's number (from 1) of the channel ``channel`` of the ImagePlus ``imp``, for the ``channel`` of
    :func:`add_labels_to_roimanager`; None when ``imp`` has one channel (an RGB image too), or ``channel`` is None
    or several channels (a list).

    Parameters
    ----------
    imp : ij.ImagePlus
        The image the labels were segmented from.
    channel : int, str or None
        The channel as the pipeline was given it: a 0-based index (negative from the end) or a channel name.

    Raises
    ------
    InputError
        ``imp`` has no channel of that name or index.
    """
    from labelfree.image import channel_by_name, parse_channel
    from labelfree.imagej.convert import imageplus_channel_names

    n = int(imp.getNChannels())
    if channel is None or n < 2 or isinstance(channel, (list, tuple)):
        return None
    which = parse_channel(channel)
    if isinstance(which, str):
        return channel_by_name(imageplus_channel_names(imp), which) + 1
    if not -n <= which < n:
        raise InputError(f"Channel {which} (0-based) is not a channel of {imp.getTitle()}, which has {n} channels "
                         f"(0 to {n - 1}, or -{n} to -1 from the end): give one of these.")
    return which % n + 1


def labels_to_javarois(labels: Any, /, *, group: int | str | None = "label", channel: int | None = None) -> list[Any]:
    """Java ``ij.gui.Roi`` objects for every object of every plane (see the module notes).

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X.
    group : "label", int or None
        ROI group: the label id (cycling through ImageJ's 255 groups: :func:`roi_groups`), one group 0..255 for
        all, or none.
    channel : int, optional
        The channel (from 1, as ImageJ counts) of the image with channels the labels were segmented from: the
        ROIs of labels with a Z axis take it in their hyperstack position (see the module notes;
        :func:`roi_channel` gives it for an ImagePlus). Default: no channel (the channel on show stays).

    Returns
    -------
    list of ij.gui.Roi
        Ordered by frame, z and label, as the rows of :func:`labelfree.measure.measure_objects`.
    """
    import jpype

    from labelfree.io.labels_tiff import as_label_image
    from labelfree.io.rois import roi_name, roi_position
    from labelfree.labels import label_contours

    da = as_label_image(labels)
    roi_groups([], group)  # checked before any work
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, (int, np.integer))
                                or channel < 1):
        raise InputError(f"channel must be ImageJ's number of a channel (1 is the first) or None; got {channel!r}. "
                         "roi_channel(imp, channel) gives it from a 0-based index or a channel name.")
    has_z = "Z" in da.dims
    c_pos = int(channel) if channel is not None and has_z else 0
    n_t, n_z = da.sizes.get("T", 1), da.sizes.get("Z", 1)
    arr = np.asarray(da.data).reshape(n_t, n_z, da.sizes["Y"], da.sizes["X"])
    chunks, kinds, names, ids, cs, zs, ts = [], [], [], [], [], [], []
    for t, z in itertools.product(range(n_t), range(n_z)):
        contours = label_contours(arr[t, z])
        for label in sorted(contours):
            packed, kind = _packed_outline(contours[label])
            chunks.append(packed)
            kinds.append(kind)
            names.append(roi_name(t, int(label), z=z if has_z else None))
            ids.append(int(label))
            position, z_pos, t_pos = roi_position(t, z, n_t=n_t, n_z=n_z)
            cs.append(c_pos)  # LabelFreeRois: c > 0 or t > 0 -> (c, z, t), else setPosition(z)
            zs.append(z + 1 if c_pos else z_pos if t_pos else position)
            ts.append(t_pos)
    if not chunks:
        return []
    if group is not None:
        ensure_group_colours()
    lengths = np.array([len(c) for c in chunks], np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    ids_arr = np.array(ids, np.int32)
    groups = roi_groups(ids_arr, group)
    columns = (chunks, kinds, names, ids_arr, cs, zs, ts, groups)
    helper = rois_helper()
    if helper is None:
        return _build_in_python(*columns)
    build = helper.build
    ints = lambda a: jpype.JArray(jpype.JInt)(np.ascontiguousarray(a, dtype=np.int32))  # noqa: E731
    rois = build(jpype.JArray(jpype.JFloat)(np.concatenate(chunks)), ints(offsets), ints(lengths), ints(kinds),
                 jpype.JArray(jpype.JString)(names), ints(ids_arr), ints(cs), ints(zs), ints(ts), ints(groups))
    return list(rois)


def _build_in_python(chunks, kinds, names, ids, cs, zs, ts, groups) -> list[Any]:
    """The same ROIs as LabelFreeRois.build, one JPype call per property (slower)."""
    import jpype
    from scyjava import jimport

    Roi, PolygonRoi, ShapeRoi = jimport("ij.gui.Roi"), jimport("ij.gui.PolygonRoi"), jimport("ij.gui.ShapeRoi")
    has_groups = hasattr(Roi, "setGroup")
    rois = []
    for packed, kind, name, label, c, z, t, g in zip(chunks, kinds, names, ids, cs, zs, ts, groups):
        if kind == 0:
            xy = packed.reshape(-1, 2).astype(np.int32)
            roi = PolygonRoi(jpype.JArray(jpype.JInt)(np.ascontiguousarray(xy[:, 0])),
                             jpype.JArray(jpype.JInt)(np.ascontiguousarray(xy[:, 1])), len(xy), Roi.TRACED_ROI)
        else:
            roi = ShapeRoi(jpype.JArray(jpype.JFloat)(packed))
        roi.setName(name)
        if c > 0 or t > 0:
            roi.setPosition(int(c), int(z), int(t))
        elif z > 0:
            roi.setPosition(int(z))
        roi.setProperty("label", str(int(label)))
        if has_groups and g > 0:
            roi.setGroup(int(g))
        rois.append(roi)
    return rois


def labels_to_roimanager(
    labels: Any, /, *, rm: Any = None, replace: bool = False, group: int | str | None = "label",
    channel: int | None = None,
) -> int:
    """Add one ROI per object per frame to the ROI Manager: :func:`add_labels_to_roimanager` (the same
    parameters; by default the user's ROIs are kept and the new ones appended under names made unique),
    returning how many were added.

    Returns
    -------
    int
        Number of ROIs added.
    """
    return len(add_labels_to_roimanager(labels, rm=rm, replace=replace, group=group, channel=channel))


def add_labels_to_roimanager(
    labels: Any, /, *, rm: Any = None, replace: bool = False, group: int | str | None = "label",
    channel: int | None = None,
) -> list[str]:
    """Add one ROI per object per frame to the ROI Manager and say which names they got.

    The names are those of :func:`labelfree.io.roi_name` (``t0003-L00042``, ``t0003-z002-L00042``). When
    the ROI Manager already holds one of them (an earlier run appended there, on this image or another),
    every ROI of this run gets the suffix ``-1`` (``-2``, ...: see :func:`run_suffix`), so each name
    selects one ROI: ``roiManager("select", RoiManager.getIndex(name))``.

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X.
    rm : ij.plugin.frame.RoiManager, optional
        Default: the open ROI Manager (opened if needed; the batch-mode one in batch macros).
    replace : bool
        Clear the ROI Manager first (the names then get no suffix).
    group : "label", int or None
        ROI groups (see :func:`labels_to_javarois`).
    channel : int, optional
        The channel (from 1) the labels were segmented from, of an image with channels
        (:func:`roi_channel`): selecting a ROI of a z stack then shows that channel (see
        :func:`labels_to_javarois`).

    Returns
    -------
    list of str
        The names given, ordered by frame, z and label as the rows of
        :func:`labelfree.measure.measure_objects`.
    """
    from scyjava import jimport

    rois = labels_to_javarois(labels, group=group, channel=channel)
    rm = get_roimanager() if rm is None else rm
    names = [str(roi.getName()) for roi in rois]
    suffix = "" if replace else run_suffix(names, roimanager_names(rm))
    if suffix:
        names = [name + suffix for name in names]
        for roi, name in zip(rois, names):
            roi.setName(name)
    helper = rois_helper()
    if helper is not None:
        import jpype

        # emptied and filled on the event thread when the manager is shown
        helper.addAll(rm, jpype.JArray(jimport("ij.gui.Roi"))(rois), bool(replace))
    else:
        if replace:
            rm.reset()
        for roi in rois:
            rm.add(roi, -1)  # -1: keep our name (no index prefix)
    log.info("added %d ROIs to the ROI Manager%s", len(rois), f" (names ending {suffix})" if suffix else "")
    return names
