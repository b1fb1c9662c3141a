"""A tiled threshold run of a z-stack: each volume's automatic threshold fixed before its planes are cut, and the
assembled planes completed as an untiled run completes a volume (the spec's ``tile_volume_config`` and
``tile_finish`` hooks, :func:`labelfree.run.run_tiled`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelfree.threshold.config import ThresholdConfig
from labelfree.threshold.volume import VolumePlanes, finish_volume, warn_if_empty_volumes

__all__ = ["finish_volume_tiles", "whole_volume_config"]


def _one_channel(image: Any, /) -> Any:
    """A DataArray without its C axis (of length 1: the threshold pipeline segments one channel)."""
    return image.isel(C=0) if "C" in getattr(image, "dims", ()) else image


def whole_volume_config(volume: Any, config: ThresholdConfig, inputs: Any = None, /) -> ThresholdConfig:
    """The config with the volume's automatic threshold fixed, for segmenting its planes in tiles.

    The spec's ``tile_volume_config`` hook (:func:`labelfree.run.run_tiled`): called once per volume (each
    time point) of a z-stack before its planes are cut, it fixes the threshold an untiled run takes from
    the volume's histogram (:func:`labelfree.threshold.auto.volume_threshold`), so every tile of every plane
    of the volume uses it; the run records it per volume. A fixed threshold, or a volume whose planes are
    all constant (no threshold, no objects), leaves the config as it is.

    Parameters
    ----------
    volume : DataArray (Z, Y, X), or (Z, C, Y, X) with one channel
        Read one plane at a time (a dask or zarr stack stays lazy).
    config : ThresholdConfig or dict
    inputs : mapping, optional
        The run's extra inputs (the threshold pipeline takes none).
    """
    from labelfree.threshold.auto import volume_threshold
    from labelfree.threshold.segment import _Planes

    cfg = ThresholdConfig.coerce(config)
    if cfg.threshold is not None:
        return cfg
    volume = _one_channel(volume).transpose("Z", "Y", "X")
    planes = VolumePlanes(_Planes(volume, ["Z"]), 0, int(volume.sizes["Z"]))
    thr = volume_threshold(planes, cfg.method)[0]
    return cfg if thr is None else cfg.replace(threshold=thr)


def finish_volume_tiles(labels: np.ndarray, config: ThresholdConfig, image: Any, volume_configs: list, /) -> np.ndarray:
    """The labels of a tiled z-stack run completed as an untiled run completes its volumes.

    The spec's ``tile_finish`` hook (:func:`labelfree.run.run_tiled`). The tiles of each plane were
    thresholded at their volume's threshold (:func:`whole_volume_config`), holes filled and, with
    ``split_touching``, split, but kept whatever their size (a tile cannot count a 3-D object's voxels).
    Here, volume by volume: a constant plane keeps no objects (an untiled run leaves it out of the
    threshold), ``min_size`` removes the 3-D objects of fewer voxels (6-neighbours), and objects of
    adjacent planes that overlap are one (:func:`labelfree.threshold.volume.finish_volume`, the untiled
    run's step: ids 1..N per volume in order of first appearance). Then one :class:`NoObjectsWarning` for the
    volumes without objects and one :class:`BackgroundObjectWarning` for the planes whose largest object
    is the background, as the untiled run says them (the tiles, at a fixed threshold, say neither).

    Memory: one volume at a time beside ``labels`` (its 3-D objects, a mask), so a tiled run of a time-lapse of
    z-stacks whose planes were assembled at 2 bytes a pixel (:func:`labelfree.tiling.plane_labels_out`) holds
    no more than its labels and one volume's working arrays.

    Parameters
    ----------
    labels : (*lead, Z, Y, X) uint16 or uint32 array
        The assembled labels of every plane: changed in place and returned, or, where a volume holds more
        3-D objects than uint16 ids, returned as a uint32 copy.
    config : ThresholdConfig
        The run's config (its ``threshold`` None: automatic).
    image : DataArray with the labels' leading dims, then (C,) Y, X
        Read plane by plane, only where a plane's labels cover most of it (a constant plane?) and for the
        warning's figures.
    volume_configs : list of ThresholdConfig
        Each volume's config (:func:`whole_volume_config`), volume after volume.
    """
    from labelfree.threshold.segment import FEW_BEYOND, NoObjectsWarning, _Planes, _warn_if_background

    cfg = ThresholdConfig.coerce(config)
    nz = int(labels.shape[-3])
    flat = labels.reshape((-1, nz) + labels.shape[-2:])
    in_place = np.may_share_memory(flat, labels)  # a view (labels in one piece): finished into labels
    image = _one_channel(image)
    planes = _Planes(image, [d for d in image.dims if d not in ("Y", "X")])
    volumes = [VolumePlanes(planes, v * nz, nz) for v in range(len(flat))]
    for v in range(len(flat)):
        volume = flat[v]
        if cfg.threshold is None:  # a constant plane has no automatic threshold: no objects (its tiles may have some)
            for z in range(nz):
                if np.count_nonzero(volume[z]) * 2 > volume[z].size:
                    values = volumes[v][z]
                    if values.min() == values.max():
                        volume[z] = 0
        # with split_touching each tile's split objects are kept apart (those of small 3-D objects left out), else
        # the planes' objects are the mask's
        finished = finish_volume(volume if cfg.split_touching else volume > 0, min_size=cfg.min_size)
        del volume
        if finished.dtype.itemsize > flat.dtype.itemsize:  # more 3-D objects than the planes' ids had room for
            flat, in_place = flat.astype(finished.dtype), False
        flat[v] = finished
        del finished
    if cfg.threshold is None:
        used = [c.threshold for c in volume_configs]
        warn_if_empty_volumes(volumes, flat.reshape((-1,) + labels.shape[-2:]), used, cfg,
                              category=NoObjectsWarning, few_beyond=FEW_BEYOND)
        _warn_if_background(flat.reshape((-1,) + labels.shape[-2:]), cfg)
    return labels if in_place else flat.reshape(labels.shape)
