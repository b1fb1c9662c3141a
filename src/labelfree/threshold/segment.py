"""Segment by an automatic global threshold per plane (per volume of a z-stack) and connected components."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import xarray as xr

from labelfree import errors
from labelfree._axes import z_stacks_note
from labelfree._config import provenance
from labelfree._label_memory import require_label_memory
from labelfree._progress import Progress
from labelfree._warn_place import user_stacklevel
from labelfree.canvas import content_box
from labelfree.errors import DimensionError
from labelfree.image import channel_names, constant_image_error, labels_like, validate_image
from labelfree.threshold.auto import finite_range, inside_box, inside_threshold
from labelfree.threshold.config import ThresholdConfig
from labelfree.threshold.spec import SPEC

__all__ = ["BackgroundObjectWarning", "NoObjectsWarning", "constant_region_labels", "content_box", "segment",
           "threshold_plane", "tile_box", "whole_image_config", "whole_plane_config"]


#: a plane left without objects, at most this fraction of whose pixels lie beyond its automatic threshold, which
#: lies further from the other pixels than they spread, was thresholded near a few extreme pixels
FEW_BEYOND = 0.01


class NoObjectsWarning(errors.NoObjectsWarning):
    """A plane gave no objects at its automatic threshold (the warning says why and what to change)."""


class BackgroundObjectWarning(errors.LabelFreeWarning):
    """An object of a plane is its background: it covers most of the plane and touches all four edges (objects
    darker than the background, e.g. brightfield or phase contrast, thresholded as bright ones)."""


#: the key under which :func:`whole_plane_config` hands its plane's tiles ``(method, threshold)``
#: (:func:`labelfree.tiling.hand_to_tiles`): a tile's config holds its plane's automatic threshold as a fixed one,
#: which the tile cannot tell from a threshold the user gave
AUTOMATIC_KEY = "threshold.automatic"

#: the key under which :func:`whole_plane_config` tells its plane's tiles that they are tiles of a checked image:
#: a tile whose pixels are all NaN/inf (missing; the background of a ratio image), or one value beside them, is
#: segmented (a fixed threshold decides, as on a constant tile), not refused as an image without values
TILE_KEY = "threshold.tile"


def _is_whole_plane_threshold(cfg: ThresholdConfig, /) -> bool:
    """Whether ``cfg`` is the config of a tile of a tiled run whose fixed threshold is its plane's automatic
    one (:func:`whole_plane_config` fixed it, and handed it to the plane's tiles)."""
    from labelfree.tiling import handed

    return cfg.threshold is not None and handed(AUTOMATIC_KEY) == (cfg.method, float(cfg.threshold))


#: an object covering more than this fraction of its plane, and touching its four edges, is the background (holes
#: filled: a bright field around dark cells covers all of it; an Otsu split of noise about 50-60 %)
BACKGROUND_FRACTION = 0.9


def _in_volume_tile(cfg: ThresholdConfig, /) -> ThresholdConfig:
    """``cfg`` for a tile of a plane of a z-stack that a tiled run segments as volumes
    (:data:`labelfree.tiling.VOLUME_PLANE` handed): without ``min_size``, which counts the voxels of
    3-D objects once the planes are assembled (:func:`labelfree.threshold.volume_tiles.finish_volume_tiles`);
    elsewhere ``cfg`` itself."""
    from labelfree.tiling import VOLUME_PLANE, handed

    return cfg if handed(VOLUME_PLANE) is None else cfg.replace(min_size=0)


def threshold_plane(plane: np.ndarray, config: ThresholdConfig, /) -> np.ndarray:
    """Labels (uint16) of one 2-D plane.

    A pixel is foreground when its value (as stored, for an integer image; float32 for a
    float one) is strictly above the threshold (below it with ``dark_objects``): the fixed
    one, or the method's (:func:`labelfree.threshold.auto.automatic_threshold`: the same value a
    tiled run uses, from a regular subsample of a plane above 16 Mpx; isolated hot pixels do not
    move it). The automatic threshold is taken inside the plane's padding (:func:`content_box`:
    constant edge rows and columns), which holds no objects: a crop in a larger canvas gives the
    crop's objects, shifted. A constant plane has no automatic threshold and no objects; a fixed
    threshold applies to it as to any plane (all foreground above it, none below). NaN/inf pixels
    are missing data (ImageJ's NaN): the automatic threshold is the other pixels', and they are never
    foreground (a hole they leave inside an object is filled with ``fill_holes``, as any hole); a plane
    without two values among the others is constant.
    """
    return _threshold_plane(plane, config)[0]


def _threshold_plane(plane: np.ndarray, config: ThresholdConfig, /) -> tuple[np.ndarray, float | None]:
    """:func:`threshold_plane` and the threshold it used (None: a constant plane without a fixed
    threshold, no objects)."""
    from labelfree.labels import declump, fill_holes, remove_small_objects

    values = np.asarray(plane)
    if values.dtype.kind == "f":
        values = values.astype(np.float32, copy=False)
    if config.threshold is not None and values.dtype.kind != "f":  # a fixed threshold decides, constant or not
        low = high = None
    else:
        low, high = values.min(), values.max()
    if values.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(high)):  # NaN/inf pixels: missing
        if np.isinf(values).any():  # made NaN, on neither side of a threshold
            values = np.where(np.isinf(values), np.float32(np.nan), values)
        low, high = finite_range(values)
    if config.threshold is None and (low is None or low == high):
        return np.zeros(values.shape, np.uint16), None
    box = (slice(None), slice(None))
    if config.threshold is not None:
        thr = float(config.threshold)
    else:
        thr, box = inside_threshold(values, config.method)
    mask = values < thr if config.dark_objects else values > thr
    if box != (slice(None), slice(None)):  # the padding around a crop in a canvas holds no objects
        inside = np.zeros(values.shape, bool)
        inside[box] = True
        mask &= inside
    if config.fill_holes:
        mask = fill_holes(mask)
    if not config.split_touching:
        return _components(mask, config.min_size), thr
    if config.min_size > 1:  # every object has a pixel: min_size 0 or 1 removes none
        mask = remove_small_objects(mask, min_size=config.min_size)
    return declump(mask), thr  # numbered 1..N (uint16; uint32 above 65535) as relabel_sequential numbers them


def _components(mask: np.ndarray, min_size: int, /) -> np.ndarray:
    """The 4-connected objects of a 2-D mask, those of fewer than ``min_size`` pixels left out, numbered 1..N
    in the order of their first pixel (row by row): uint16, uint32 above 65535 objects.

    The labels that :func:`labelfree.labels.remove_small_objects` (connectivity 1), ``ndi.label`` and
    :func:`labelfree.labels.relabel_sequential` give one after the other, from one labelling and without a sort:
    removing whole objects joins and splits none, so the objects left keep their order, and ``ndi.label``
    numbers them 1..N already.
    """
    from scipy import ndimage as ndi

    labels, n = ndi.label(mask)
    if n and min_size > 1:  # every object has a pixel: min_size 0 or 1 removes none
        keep = np.bincount(labels[mask], minlength=n + 1) >= min_size  # counted over the objects' pixels only
        keep[0] = False
        if not keep[1:].all():
            n = int(np.count_nonzero(keep))
            lut = np.zeros(len(keep), np.uint16 if n <= 65535 else np.uint32)
            lut[keep] = np.arange(1, n + 1)
            return lut[labels]
    return labels.astype(np.uint16 if n <= 65535 else np.uint32)


def segment(
    image: Any,
    /,
    *,
    config: ThresholdConfig | dict[str, Any] | str | None = None,
    progress: Any = False,
) -> xr.DataArray:
    """Segment by an automatic global threshold and connected components.

    Parameters
    ----------
    image : DataArray or array, dims from T, C, Z, Y, X (2-D arrays are YX)
        One channel of a fluorescence-like image (select it with
        :func:`labelfree.image.select_channel`; a C axis of length 1 is that channel);
        planes (each T) are thresholded separately. A z-stack (Z of two or more planes) is
        segmented as a volume, one per time point
        (:func:`labelfree.threshold.volume.volume_labels`): one automatic threshold from the
        volume's histogram for all its planes, and objects connected in 3-D (objects of
        adjacent planes that overlap are one), ``min_size`` counted in voxels.
    config : ThresholdConfig, dict, path or None
    progress : bool or tqdm-like or callable

    Returns
    -------
    labels : DataArray with the image's dims but C (uint16; uint32 above 65535 objects)
        Ids 1..N per plane, or per volume of a z-stack (one id for an object in all its planes, in
        order of first appearance). The provenance's ``auto["threshold"]`` holds the automatic
        threshold of each plane, or of each volume of a z-stack (one value for a single plane or
        volume).
    """
    from labelfree.tiling import VOLUME_PLANE, handed

    cfg = _in_volume_tile(ThresholdConfig.coerce(config))
    # NaN/inf pixels are missing data (+/-inf made NaN, in a copy); a tile of a checked image (a plane's, or a
    # z-stack volume's) may hold no value or one value
    a_tile = bool(handed(TILE_KEY, False)) or handed(VOLUME_PLANE) is not None
    da = validate_image(image, allowed=("T", "C", "Z", "Y", "X"), name="image", no_dims_note=z_stacks_note,
                        non_finite="missing", allow_constant=a_tile)
    if not a_tile:  # before any work: labels that cannot fit are refused, saying how (a tiled run checked them)
        require_label_memory(dict(da.sizes), SPEC)
    if "C" in da.dims:
        if da.sizes["C"] > 1:
            raise DimensionError(
                f"image has {da.sizes['C']} channels ({', '.join(channel_names(da))}); the threshold pipeline "
                "segments one. Select one channel first (labelfree.image.select_channel; CLI --channel)."
            )
        da = da.isel(C=0)  # a length-1 C is the image itself; its name stays as a scalar coord
    lead = [d for d in da.dims if d not in ("Y", "X")]
    if "Z" in lead and da.sizes["Z"] > 1:  # a z-stack: one volume per time point, Z the fastest of the planes
        lead = [d for d in lead if d != "Z"] + ["Z"]
        ordered = da.transpose(*lead, "Y", "X")
        return _segment_volumes(da, ordered, lead, cfg, progress)
    ordered = da.transpose(*lead, "Y", "X")
    planes = _Planes(ordered, lead)
    # read plane by plane (a lazy dask or zarr movie stays lazy: one frame in memory at a time), written into
    # labels of the type they end in (uint16; uint32 from the first plane with more than 65535 objects); one plane
    # (a tile, a picture): its labels are the output, not copied into a second plane-sized array
    out = np.zeros((len(planes),) + planes.shape, np.uint16) if len(planes) > 1 else None
    used = []
    with Progress(progress, total=len(planes), desc="threshold") as bar:
        for i in range(len(planes)):
            labels, thr = _threshold_plane(planes[i], cfg)
            if out is None:
                out = labels[None]
            elif labels.dtype.itemsize > out.dtype.itemsize and int(labels.max()) > np.iinfo(out.dtype).max:
                out = out.astype(np.uint32)
            if len(planes) > 1:
                out[i] = labels
            used.append(thr)  # exact: a rounded value would not give these labels back (--set threshold=)
            bar.update(message=f"plane {i + 1}/{len(planes)}")
    if cfg.threshold is None:
        _warn_if_empty(planes, out, used, cfg)
        _warn_if_background(out, cfg)
    elif _is_whole_plane_threshold(cfg):  # a tile at its plane's automatic threshold: kept if no tile has objects
        _warn_if_empty_tile(planes, out, cfg)
    else:  # the user's fixed threshold: a word only when no plane has an object (a tiled run: no tile)
        _warn_if_empty_fixed(planes, out, cfg)
    labels = out.reshape(tuple(ordered.shape))
    extra = {"auto": {"threshold": used[0] if len(used) == 1 else used}} if cfg.threshold is None else {}
    return labels_like(labels, da, dims=tuple(lead) + ("Y", "X"),
                       attrs={"labelfree": provenance("threshold", cfg, extra=extra)})


def _segment_volumes(da: xr.DataArray, ordered: xr.DataArray, lead: list[str], cfg: ThresholdConfig,
                     progress: Any, /) -> xr.DataArray:
    """:func:`segment` of a z-stack (``ordered``: dims ``(*lead, Z, Y, X)``): each volume (each time point)
    at one threshold, its objects connected in 3-D (:func:`labelfree.threshold.volume.volume_labels`)."""
    from labelfree.threshold.volume import VolumePlanes, volume_labels, warn_if_empty_volumes

    planes = _Planes(ordered, lead)
    nz = int(ordered.sizes["Z"])
    volumes = [VolumePlanes(planes, start, nz) for start in range(0, len(planes), nz)]
    out = np.zeros((len(planes),) + planes.shape, np.uint16)
    used = []
    with Progress(progress, total=len(planes), desc="threshold") as bar:
        for v, volume in enumerate(volumes):
            labels, thr = volume_labels(
                volume, cfg, step=lambda z, v=v: bar.update(message=f"plane {v * nz + z + 1}/{len(planes)}"))
            if labels.dtype.itemsize > out.dtype.itemsize:
                out = out.astype(labels.dtype)
            out[v * nz:(v + 1) * nz] = labels
            used.append(thr)  # exact, one per volume: a rounded value would not give these labels back
    if cfg.threshold is None:
        warn_if_empty_volumes(volumes, out, used, cfg, category=NoObjectsWarning, few_beyond=FEW_BEYOND)
        _warn_if_background(out, cfg)
    else:
        _warn_if_empty_fixed(planes, out, cfg)
    labels = out.reshape(tuple(ordered.shape))
    extra: dict[str, Any] = {"volumes": len(volumes)}  # of nz planes each: a threshold list is one per volume
    if cfg.threshold is None:
        extra["auto"] = {"threshold": used[0] if len(used) == 1 else used}
    return labels_like(labels, da, dims=tuple(lead) + ("Y", "X"),
                       attrs={"labelfree": provenance("threshold", cfg, extra=extra)})


class _Planes:
    """The (Y, X) planes of an image with dims ``(*lead, Y, X)``, each read when it is asked for (a dask or
    zarr image: only that plane's chunks), as a sequence of NumPy arrays."""

    def __init__(self, image: xr.DataArray, lead: list[str], /) -> None:
        self._image = image
        self._lead = lead
        self._sizes = tuple(int(image.sizes[d]) for d in lead)
        self.shape = (int(image.sizes["Y"]), int(image.sizes["X"]))

    def __len__(self) -> int:
        return int(np.prod(self._sizes, dtype=np.int64))

    def __getitem__(self, i: int) -> np.ndarray:
        if not self._lead:
            return np.asarray(self._image.data)
        index = np.unravel_index(int(i), self._sizes)
        data = self._image.data[tuple(int(k) for k in index)]
        return np.asarray(data.compute() if hasattr(data, "dask") else data)


def _background_object(labels: np.ndarray, /) -> float:
    """The fraction of the plane that its largest object covers when that object touches all four edges, else 0."""
    if labels.size == 0 or not labels.any():
        return 0.0
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    big = int(np.argmax(counts))
    edges = (labels[0], labels[-1], labels[:, 0], labels[:, -1])
    if not all(np.any(edge == big) for edge in edges):
        return 0.0
    return float(counts[big]) / labels.size


def _warn_if_background(labels: np.ndarray, cfg: ThresholdConfig, /) -> None:
    """One :class:`BackgroundObjectWarning` for the planes whose largest object covers more than
    :data:`BACKGROUND_FRACTION` of the plane and touches its four edges: the background taken for an object."""
    covered = [(i, f) for i, f in enumerate(map(_background_object, labels)) if f > BACKGROUND_FRACTION]
    if not covered:
        return
    i, fraction = covered[0]
    where = "" if len(labels) == 1 else f"In {len(covered)} of {len(labels)} planes; in plane {i} (0-based),"
    side = "brighter" if cfg.dark_objects else "darker"
    fix = "dark_objects set to false (--set dark_objects=false)" if cfg.dark_objects else \
        "dark_objects set to true (--set dark_objects=true)"
    warnings.warn(BackgroundObjectWarning(
        f"{where or 'In the image,'} one object covers {fraction:.0%} of the plane and touches all four edges: "
        f"that is the background, not a cell. Are the objects {side} than the background (brightfield, phase "
        f"contrast: dark cells on a bright field)? Then segment with {fix}; or a strong illumination gradient may "
        "have lifted one side of the background above the threshold (correct it first, e.g. Fiji's Process > "
        "Subtract Background)."), stacklevel=user_stacklevel())


def _warn_if_empty(planes: Any, labels: np.ndarray, used: list, cfg: ThresholdConfig, /) -> None:
    """One :class:`NoObjectsWarning` for the planes without objects at their automatic threshold:
    how many, and for the first one why (one value everywhere, or what lay beyond the threshold
    was all smaller than ``min_size``) and what to change."""
    empty = [i for i in range(len(planes)) if not labels[i].any()]
    if not empty:
        return
    i = empty[0]
    plane, thr = planes[i], used[i]
    where = "" if len(planes) == 1 else f" in {len(empty)} of {len(planes)} planes; in plane {i} (0-based)"
    values = plane.astype(np.float32) if plane.dtype.kind == "f" else plane
    missing = _missing_count(values)
    if missing:  # NaN/inf pixels: missing data, said apart; the figures are the other pixels'
        values = values[np.isfinite(values)]
    if thr is None:
        why = ("every pixel has the same value, so there is nothing to threshold." if not missing else
               f"its {missing} NaN/inf pixel(s) are missing data and " + (
                   "no other pixel holds a value" if not values.size else "every other pixel has the same value")
               + ", so there is nothing to threshold.")
    else:
        side, beyond = ("below", values < thr) if cfg.dark_objects else ("above", values > thr)
        n = int(np.count_nonzero(beyond))
        low, high = float(values.min()), float(values.max())
        why = (f"{n} pixel(s) lie {side} the automatic {cfg.method} threshold {thr:g} (values {low:g}..{high:g}), "
               f"in objects smaller than min_size={cfg.min_size} px. Lower min_size (--set min_size=N) to keep small "
               "objects.")
        rest = values[~beyond]
        if rest.size and n <= FEW_BEYOND * values.size:
            spread = float(rest.max()) - float(rest.min())
            facing = float(rest.min() if cfg.dark_objects else rest.max())  # the others' end nearest the threshold
            if abs(thr - facing) > spread:
                why += (f" The threshold lies further from the other pixels ({float(rest.min()):g}.."
                        f"{float(rest.max()):g}) than they spread: a few extreme pixels (a cluster of hot pixels, "
                        "debris; single hot pixels are left out) may have pulled it away from the cells. Give a fixed "
                        "threshold (--set threshold=VALUE).")
    warnings.warn(f"No objects found{where}: {why}", NoObjectsWarning, stacklevel=user_stacklevel())


def _missing_count(values: np.ndarray, /) -> int:
    """The NaN/inf pixels of an array (0 unless float)."""
    if values.dtype.kind != "f" or (np.isfinite(values.min()) and np.isfinite(values.max())):
        return 0
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def _warn_if_empty_fixed(planes: Any, labels: np.ndarray, cfg: ThresholdConfig, /) -> None:
    """One :class:`NoObjectsWarning` when the fixed threshold the user gave lies beyond every value of the image
    (a threshold of another scale: 1e9 for a 16-bit image, 0.5 for one of 0..255 with ``dark_objects``): the
    image's values and what to change. A threshold with pixels beyond it is the user's to judge (objects below
    ``min_size`` included): no word. A tiled run says it once, where the whole plane is empty."""
    from labelfree.tiling import IN_TILE, handed

    if labels.any() or handed(IN_TILE, False):  # a tile: an empty tile says nothing of the image
        return
    thr = float(cfg.threshold)
    low, high = math.inf, -math.inf
    for i in range(len(planes)):  # plane by plane: a lazy image stays lazy
        values = planes[i]
        values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if values.size:
            if np.count_nonzero(values < thr if cfg.dark_objects else values > thr):
                return
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    where = "its plane" if len(planes) == 1 else f"any of its {len(planes)} planes"
    seen = f"its values are {low:g}..{high:g}" if low <= high else "it holds no value but NaN/inf"
    side = "below" if cfg.dark_objects else "above"
    warnings.warn(
        f"No objects found in {where}: no pixel lies {side} the fixed threshold {thr:g} (ThresholdConfig.threshold); "
        f"{seen}. Give a threshold within the image's values (--set threshold=VALUE), or leave it automatic "
        f"(null: the {cfg.method} threshold of each plane).", NoObjectsWarning, stacklevel=user_stacklevel())


def _warn_if_empty_tile(planes: Any, labels: np.ndarray, cfg: ThresholdConfig, /) -> None:
    """One :class:`NoObjectsWarning` for a tile without objects at its plane's automatic threshold
    (:func:`_is_whole_plane_threshold`), which the tiled run says once, and only when no tile of the
    plane found an object (:mod:`labelfree._tile_warnings`). Its words are the same in every tile,
    a constant one included (the figures differ): one warning for the run, not one per wording."""
    empty = [i for i in range(len(planes)) if not labels[i].any()]
    if not empty:
        return
    i = empty[0]
    values = planes[i]
    values = values.astype(np.float32) if values.dtype.kind == "f" else values
    if _missing_count(values):  # NaN/inf pixels are missing: the figures are the other pixels' (if any)
        values = values[np.isfinite(values)]
        if not values.size:
            values = np.zeros(1, np.float32)  # no value at all: said as 0..0 (the words stay the same)
    thr = float(cfg.threshold)
    side, beyond = ("below", values < thr) if cfg.dark_objects else ("above", values > thr)
    where = "" if len(planes) == 1 else f" in {len(empty)} of {len(planes)} planes of the tile; in plane {i},"
    warnings.warn(
        f"No objects found:{where} at the plane's automatic {cfg.method} threshold {thr:g}, which all its tiles "
        f"use, {int(np.count_nonzero(beyond))} pixel(s) of the tile lie {side} it (values "
        f"{float(values.min()):g}..{float(values.max()):g}), none of them in an object of min_size={cfg.min_size} px "
        "or more. Lower min_size (--set min_size=N) to keep small objects, or give a fixed threshold "
        "(--set threshold=VALUE).", NoObjectsWarning, stacklevel=user_stacklevel())


def whole_plane_config(plane: Any, config: ThresholdConfig, inputs: Any = None, /) -> ThresholdConfig:
    """The config with the whole plane's automatic threshold fixed, for segmenting it in tiles.

    Each tile alone would find its own threshold; the plane's (computed on a subsample,
    read lazily) is the one a whole-plane run uses. It is handed to the tiles of the next
    :func:`labelfree.tiling.segment_tiled` call of this thread (:func:`labelfree.tiling.hand_to_tiles`):
    a tile that finds no object at it warns with a :class:`NoObjectsWarning`, which the run says
    once when no tile found an object, as an untiled run warns at its automatic threshold.
    """
    from labelfree.tiling import auto_threshold, hand_to_tiles

    cfg = ThresholdConfig.coerce(config)
    hand_to_tiles(TILE_KEY, True)
    if cfg.threshold is not None:
        return cfg
    data = plane.data if type(plane).__name__ == "DataArray" else plane
    if len(data.shape) != 2:  # auto_threshold says what it takes
        fixed = cfg.replace(threshold=auto_threshold(plane, method=cfg.method))
    else:
        try:
            fixed = cfg.replace(threshold=inside_threshold(data, cfg.method)[0])
        except errors.NonFiniteError:  # a plane of NaN/inf (missing) pixels alone: no threshold, no objects
            return cfg
    hand_to_tiles(AUTOMATIC_KEY, (fixed.method, float(fixed.threshold)))
    return fixed


def whole_image_config(image: Any, config: ThresholdConfig, inputs: Any = None, /) -> ThresholdConfig:
    """The run's config, unchanged, once the whole image is checked before a tiled run cuts its planes.

    An image of one value everywhere is refused, as an untiled run refuses it (its tiles would all
    be constant, and the run would end without objects and without a word). A regular subsample
    of each plane is read first (lazily); only when it holds one value is every pixel compared.

    A z-stack is segmented as volumes, as an untiled run segments it: each volume's threshold is
    fixed before its planes are cut (:func:`labelfree.threshold.volume_tiles.whole_volume_config`), and the
    assembled planes' objects are counted and linked in 3-D
    (:func:`labelfree.threshold.volume_tiles.finish_volume_tiles`).

    Raises
    ------
    ConstantImageError
        Every pixel has the same value.
    """
    from labelfree.tiling import AUTO_THRESHOLD_MAX_PIXELS

    cfg = ThresholdConfig.coerce(config)
    height, width = (int(n) for n in image.shape[-2:])
    step = max(1, int(np.ceil(np.sqrt(height * width / float(AUTO_THRESHOLD_MAX_PIXELS)))))
    every = slice(None, None, step)
    if type(image).__name__ == "DataArray":  # read through xarray: a dask or zarr image stays lazy
        sample = np.asarray(image.isel(Y=every, X=every).values)
    else:
        sample = np.asarray(image[(Ellipsis, every, every)])
    low, high = finite_range(sample)
    if sample.size == 0 or (low is not None and low != high):
        return cfg
    if sample.dtype.kind == "f" and (low is None or _missing_count(sample)):  # NaN/inf: the pixels with a value
        validate_image(image, name="image", non_finite="missing")  # decide (refused: none, or one value)
        return cfg
    low, high = (np.asarray(getattr(v, "values", v)) for v in (image.min(), image.max()))
    if low == high:  # as labelfree.image.validate_image refuses it in an untiled run
        raise constant_image_error(sample.flat[0])
    return cfg


def tile_box(plane: Any, config: ThresholdConfig, inputs: Any = None, /) -> tuple[slice, slice]:
    """The (Y, X) part of a plane that a tiled run cuts into tiles; the rest holds no objects.

    With an automatic threshold a whole-plane run keeps no object in the plane's padding
    (:func:`content_box`: a crop in a larger black or white canvas), whatever side of the
    threshold the canvas lies on. A tile cannot tell the canvas from the image (a tile of black
    canvas and a tile inside a large dark object look alike), so a tiled run segments the part
    inside the padding only, with the threshold :func:`whole_plane_config` fixes: the same
    objects as the whole-plane run. A fixed threshold, or a plane whose inside holds one
    value, gives the whole plane, as in a whole-plane run (:func:`labelfree.threshold.auto.inside_box`
    says what it reads).

    Parameters
    ----------
    plane : array or DataArray (Y, X)
    config : ThresholdConfig or dict
        The run's config, before :func:`whole_plane_config` fixes its threshold.
    inputs : mapping, optional
        The run's extra inputs (the threshold pipeline takes none).
    """
    cfg = ThresholdConfig.coerce(config)
    data = plane.data if type(plane).__name__ == "DataArray" else plane
    if cfg.threshold is not None or len(data.shape) != 2:
        return slice(0, int(data.shape[-2])), slice(0, int(data.shape[-1]))
    return inside_box(data)


def constant_region_labels(region: np.ndarray, config: Any, /) -> np.ndarray | None:
    """Labels of a tile whose pixels all have one value, or None (no objects).

    A tiled run hands such a tile here instead of to :func:`segment`, which refuses a constant
    image. A fixed threshold (a tiled run fixes the plane's automatic one) segments it as it
    segments that stretch of the whole plane: all foreground above it (below it with
    ``dark_objects``), none otherwise. Without one the tile has no objects.

    Parameters
    ----------
    region : array (..., Y, X)
        The tile; leading axes (a channel axis of length 1) hold the same value.
    config : ThresholdConfig or dict
    """
    cfg = _in_volume_tile(ThresholdConfig.coerce(config))
    if cfg.threshold is None:
        return None
    values = np.asarray(region)
    plane = values.reshape((-1,) + values.shape[-2:])[0]
    labels = threshold_plane(plane, cfg)
    if _is_whole_plane_threshold(cfg):  # from the tiling's call, as a tile that segment() thresholds warns
        _warn_if_empty_tile(plane[None], labels[None], cfg)
    return labels
