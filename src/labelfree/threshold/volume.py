"""The threshold pipeline on a z-stack: one automatic threshold for the volume, objects connected in 3-D."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from labelfree._warn_place import user_stacklevel
from labelfree.threshold.auto import volume_threshold
from labelfree.threshold.config import ThresholdConfig

__all__ = ["VolumePlanes", "finish_volume", "volume_labels", "warn_if_empty_volumes"]


class VolumePlanes:
    """The ``size`` planes of one volume among a sequence of planes (each read when indexed), from ``start``."""

    def __init__(self, planes: Any, start: int, size: int, /) -> None:
        self._planes, self._start, self._size = planes, int(start), int(size)
        self.shape = planes.shape

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, z: int) -> np.ndarray:
        if not 0 <= z < self._size:
            raise IndexError(z)
        values = self._planes[self._start + z]
        return values.astype(np.float32, copy=False) if values.dtype.kind == "f" else values


def volume_labels(planes: Any, config: ThresholdConfig, /, *,
                  step: Callable[[int], None] | None = None) -> tuple[np.ndarray, float | None]:
    """Labels (Z, Y, X) of one volume, and the threshold it used (None: every plane constant, no objects).

    The threshold is the fixed one, or the method's on the whole volume
    (:func:`labelfree.threshold.auto.volume_threshold`: inside each plane's padding; constant planes
    left out, and given no objects), applied to every plane. Holes are filled plane by plane;
    ``min_size`` counts the voxels of a 3-D object (pixels connected in a plane, or at one (y, x)
    in adjacent planes); ``split_touching`` splits each plane's objects; then objects of adjacent
    planes that overlap are one (:func:`finish_volume`, the tiled run's last step too): ids 1..N for
    the volume, in order of first appearance.

    Parameters
    ----------
    planes : sequence of (Y, X) arrays with a ``shape`` (Y, X)
        Read twice, one plane at a time (once for the threshold, once for the objects).
    config : ThresholdConfig
    step : callable, optional
        Called with the plane's index once each plane is thresholded (progress).
    """
    from labelfree.labels import declump

    if config.threshold is None:
        thr, boxes = volume_threshold(planes, config.method)
    else:
        thr, boxes = float(config.threshold), [(slice(None), slice(None))] * len(planes)
    # the mask is handed over, not held here: finish_volume lets it go once the planes are split
    labels = finish_volume(_volume_mask(planes, config, thr, boxes, step), min_size=config.min_size,
                           split=declump if config.split_touching else None)
    return labels, thr


def _volume_mask(planes: Any, config: ThresholdConfig, thr: float | None, boxes: list, /,
                 step: Callable[[int], None] | None) -> np.ndarray:
    """The (Z, Y, X) mask of what lies beyond ``thr`` inside each plane's box (None: a constant plane, empty),
    holes filled plane by plane with ``config.fill_holes``."""
    from labelfree.labels import fill_holes

    n = len(planes)
    mask = np.zeros((n,) + tuple(planes.shape), bool)
    for z in range(n):
        if thr is not None and boxes[z] is not None:
            values = planes[z][boxes[z]]
            mask[z][boxes[z]] = values < thr if config.dark_objects else values > thr
            if config.fill_holes:
                mask[z] = fill_holes(mask[z])
        if step is not None:
            step(z)
    return mask


def finish_volume(volume: np.ndarray, /, *, min_size: int,
                  split: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The labels of a volume's objects: the 3-D objects of fewer than ``min_size`` voxels removed, and the
    objects of adjacent planes that overlap made one; ids 1..N in order of first appearance.

    The last step of a z-stack Threshold run, untiled (:func:`volume_labels`) and tiled
    (:func:`labelfree.threshold.volume_tiles.finish_volume_tiles`) alike. A 3-D object is a connected
    component of the voxels with objects (pixels connected in a plane, or at one (y, x) in adjacent planes:
    6-neighbours); its voxels are counted plane by plane (no full-size int64 copy).

    Parameters
    ----------
    volume : (Z, Y, X) bool or integer array
        A mask (each plane's objects its connected pixels, 4-neighbours, or what ``split`` makes of them),
        or labels of each plane's objects (0: background; any ids, e.g. split objects of tiles). Its small
        objects are removed in place. A mask its caller hands over (holding no other reference to it) is let
        go before the planes are linked.
    min_size : int
        The fewest voxels of a 3-D object kept (0: every object).
    split : callable, optional
        For a mask: the labels of one plane's kept pixels (:func:`labelfree.labels.declump`), called for each
        plane with any; the split objects are then linked (:func:`labelfree.labels.link_planes`).

    Returns
    -------
    (Z, Y, X) uint16 array (uint32 above 65535 objects)
        Ids 1..N of the objects kept.

    Examples
    --------
    >>> mask = np.array([[[1, 0, 0, 1]], [[1, 0, 0, 0]]], bool)
    >>> finish_volume(mask, min_size=2)[:, 0].tolist()
    [[1, 0, 0, 0], [1, 0, 0, 0]]
    """
    from labelfree.labels import _object_sizes, label_dtype, link_planes

    is_mask = volume.dtype == bool
    objects = link_planes(volume if is_mask else volume > 0)  # the 3-D objects, in order of first appearance
    small = _object_sizes(objects) < min_size  # counted plane by plane
    small[0] = False
    if is_mask and split is None:  # the planes' objects are the mask's: ids 1..N of the objects kept, in order
        if not small.any():
            return objects
        kept = ~small
        kept[0] = False
        n_kept = int(kept.sum())
        lut = np.zeros(len(kept), label_dtype(n_kept))
        lut[kept] = np.arange(1, n_kept + 1, dtype=lut.dtype)
        out = objects if lut.dtype == objects.dtype else np.empty(objects.shape, lut.dtype)
        for z in range(len(objects)):  # in place, plane by plane
            out[z] = lut[objects[z]]
        return out
    for z in range(len(volume)):  # each plane's objects, those of small 3-D objects left out
        volume[z][small[objects[z]]] = 0
    del objects
    if split is None:
        return link_planes(volume)
    per_plane = np.zeros(volume.shape, np.int32)
    for z in range(len(volume)):
        if volume[z].any():
            per_plane[z] = split(volume[z])
    del volume  # not held while the planes are linked (when the caller handed it over)
    return link_planes(per_plane)


def warn_if_empty_volumes(volumes: list[Any], labels: np.ndarray, used: list, config: ThresholdConfig, /, *,
                          category: type[Warning], few_beyond: float) -> None:
    """One ``category`` warning for the volumes without objects at their automatic threshold: how many, and for
    the first one why (every plane constant, or what lay beyond the threshold was all in 3-D objects smaller
    than ``min_size`` voxels) and what to change. Empty planes in a volume with objects say nothing (the
    ends of a z-stack hold none).

    Parameters
    ----------
    volumes : list of plane sequences (:class:`VolumePlanes`)
    labels : (n_volumes * Z, Y, X) array
        The labels of every plane, volume after volume.
    used : list
        Per volume its threshold (None: every plane constant).
    few_beyond : float
        At most this fraction of the voxels beyond the threshold, lying further from the others than they
        spread: the threshold may sit near a few extreme pixels (the warning says so).
    """
    nz = len(volumes[0]) if volumes else 0
    empty = [v for v in range(len(volumes)) if not labels[v * nz:(v + 1) * nz].any()]
    if not empty:
        return
    v = empty[0]
    thr = used[v]
    where = (f" in the volume ({nz} planes)" if len(volumes) == 1
             else f" in {len(empty)} of {len(volumes)} volumes ({nz} planes each); in volume {v} (0-based)")
    if thr is None:
        warnings.warn(f"No objects found{where}: every plane has one value throughout, so there is nothing to "
                      "threshold.", category, stacklevel=user_stacklevel())
        return
    n_beyond, low, high, rest_low, rest_high, size = 0, np.inf, -np.inf, np.inf, -np.inf, 0
    for values in (volumes[v][z] for z in range(nz)):  # plane by plane: a lazy volume stays lazy
        beyond = values < thr if config.dark_objects else values > thr
        n_beyond += int(np.count_nonzero(beyond))
        low, high = min(low, float(values.min())), max(high, float(values.max()))
        size += values.size
        rest = values[~beyond]
        if rest.size:
            rest_low, rest_high = min(rest_low, float(rest.min())), max(rest_high, float(rest.max()))
    side = "below" if config.dark_objects else "above"
    why = (f"{n_beyond} voxel(s) lie {side} the volume's automatic {config.method} threshold {thr:g} (values "
           f"{low:g}..{high:g}), in 3-D objects smaller than min_size={config.min_size} voxels. Lower min_size "
           "(--set min_size=N) to keep small objects.")
    if rest_low <= rest_high and n_beyond <= few_beyond * size:
        facing = rest_low if config.dark_objects else rest_high  # the others' end nearest the threshold
        if abs(thr - facing) > rest_high - rest_low:
            why += (f" The threshold lies further from the other voxels ({rest_low:g}..{rest_high:g}) than they "
                    "spread: a few extreme pixels (a cluster of hot pixels, debris; single hot pixels are left out) "
                    "may have pulled it away from the cells. Give a fixed threshold (--set threshold=VALUE).")
    warnings.warn(f"No objects found{where}: {why}", category, stacklevel=user_stacklevel())
