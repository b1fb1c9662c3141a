"""Label images beside an OME-Zarr image: :func:`write_ngff_labels` writes ``<image>.zarr/labels/<name>/``,
its pyramid and chunks following the image's."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Sequence

import xarray as xr

from labelfree.errors import DimensionError, InputError
from labelfree.io.ngff.metadata import _dims_of, _ome_attrs, _transforms, _zarr
from labelfree.io.ngff.read import _single_series
from labelfree.io.ngff.write import (
    _as_image,
    _check_chunks,
    _check_existing,
    _check_levels,
    _default_chunks,
    _multiscale,
    _publish,
    _set_attrs,
    _write_arrays,
)

__all__ = ["write_ngff_labels"]

log = logging.getLogger(__name__)


def _check_labels_fit(
    image: Any, root: Path, labels: xr.DataArray,
) -> tuple[list[dict[str, int]], list[tuple[int, ...]], dict[str, int]]:
    """Refuse labels whose axes or sizes are not the image's (C left out), as NGFF requires of a label image; return
    the image's pyramid for the labels to follow: each level's downscale factor and shape per label axis (the
    levels whose factors are whole numbers, growing from level to level) and its level-0 chunk size per axis."""
    ome, _ = _ome_attrs(image)
    ms = (ome.get("multiscales") or [{}])[0]
    datasets = ms.get("datasets") or []
    if not datasets:
        series = _single_series(image, ome, root)  # a plate, a well, several series: names the image to give
        if series is not None:
            raise InputError(f"{root} is a bioformats2raw container; its image is the series {root / series}: add "
                             f"the labels there, write_ngff_labels({str(root / series)!r}, labels, name=...).")
        raise InputError(f"{root} has no NGFF 'multiscales' metadata, so labels cannot be matched to its image; "
                         "write the image with write_ngff first.")
    level0 = image[datasets[0]["path"]]
    shape = tuple(level0.shape)
    dims = _dims_of(ms.get("axes") or ["t", "c", "z", "y", "x"][-len(shape):], root)
    want = {d: n for d, n in zip(dims, shape) if d != "C"}
    if tuple(labels.dims) != tuple(want) or tuple(labels.shape) != tuple(want.values()):
        raise DimensionError(
            f"The labels (dims {''.join(labels.dims)}, shape {tuple(labels.shape)}) do not fit the image {root} "
            f"(dims {''.join(dims)}, shape {shape}): an OME-Zarr label image has the image's axes except C, each "
            f"of the same size. Give labels with dims {''.join(want)} and shape {tuple(want.values())}."
        )
    factors: list[dict[str, int]] = []
    shapes: list[tuple[int, ...]] = []
    base, _ = _transforms(datasets[0].get("coordinateTransformations"), len(dims))
    for k, dataset in enumerate(datasets):
        try:
            level_shape = tuple(image[dataset["path"]].shape)
            scale, _ = _transforms(dataset.get("coordinateTransformations"), len(dims))
        except Exception:  # noqa: BLE001 - a level the labels cannot follow: they follow the levels before it
            break
        ratios = {d: float(scale[i] / base[i]) if base[i] else 1.0 for i, d in enumerate(dims) if d != "C"}
        level = {d: max(1, round(r)) for d, r in ratios.items()}
        if (len(level_shape) != len(dims) or any(abs(r - level[d]) > 1e-6 * r for d, r in ratios.items())
                or (factors and any(level[d] < factors[-1][d] for d in level))):
            log.info("write_ngff_labels: level %d of %s is not a whole-number downscale of the level before "
                     "(factors %s); the labels follow its first %d level(s).", k, root, ratios, len(factors))
            break
        factors.append(level)
        shapes.append(tuple(n for d, n in zip(dims, level_shape) if d != "C"))
    chunks = {d: int(c) for d, c in zip(dims, level0.chunks) if d != "C"}
    return factors, shapes, chunks


def write_ngff_labels(
    image_path: str | os.PathLike[str],
    labels: xr.DataArray,
    /,
    *,
    name: str = "labels",
    levels: int | None = None,
    chunks: Sequence[int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``labels`` as an NGFF label image beside the image: ``<image>/labels/<name>``.

    The label group gets ``multiscales`` (the labels' own axes and calibration) and
    ``image-label`` metadata (``source`` pointing back to the image); ``labels/`` lists
    ``name``. The NGFF version and zarr format follow the image's, and so does the pyramid:
    by default the labels get the image's levels, each the image's downscale factors (every
    n-th label, nearest neighbour: ids stay ids) and shape, chunked like the image's level 0 in Y
    and X. The labels are written with their own integer dtype.

    Parameters
    ----------
    image_path : path
        The OME-Zarr image (``image.zarr``) to add the labels to.
    labels : xarray.DataArray
        Integer labels with the image's dims (C left out) and level-0 sizes.
    name : str
        The label image's folder name in ``labels/``.
    levels : int, optional
        Multiscale levels, at least 1 (default: as many as the image has). The first ones
        follow the image's levels; each level beyond the image's halves Y and X again.
    chunks : sequence of int, optional
        Chunk shape, one size per axis of ``labels`` (default: the image's level-0 chunks in
        Y and X, 1 along T and Z).
    overwrite : bool
        Replace an earlier label image of this name.

    Returns
    -------
    pathlib.Path of the label image group.

    Raises
    ------
    DimensionError
        ``labels`` do not have the image's axes (C left out) and sizes; nothing is written.
    """
    zarr = _zarr()
    root = Path(image_path)
    try:
        image = zarr.open_group(str(root), mode="r+")
    except Exception as exc:  # zarr raises several types for non-groups
        raise InputError(f"{root} is not an OME-Zarr image to add labels to ({type(exc).__name__}: {exc}).") from exc
    _, version = _ome_attrs(image)
    if "/" in name or name.startswith(".") or not name:
        raise InputError(f"A label image name must be a plain folder name; got {name!r}.")
    da = _as_image(labels)
    if "C" in da.dims or da.dtype.kind not in "iu":
        raise InputError(f"Label images are integer arrays without a C axis; got dims {da.dims}, dtype {da.dtype}.")
    factors, shapes, image_chunks = _check_labels_fit(image, root, da)
    if levels is not None:
        levels = _check_levels(levels)
        last = factors[-1]  # levels beyond the image's halve Y and X again
        more = [{d: f * 2 ** j if d in ("Y", "X") else f for d, f in last.items()}
                for j in range(1, levels - len(factors) + 1)]
        factors = factors[:levels] + more
    if chunks is None:
        chunk_shape = tuple(min(image_chunks[d], n) if d in ("Y", "X") else c
                            for d, n, c in zip(da.dims, da.shape, _default_chunks(da)))
    else:
        chunk_shape = _check_chunks(chunks, da)
    fmt = 2 if version == "0.4" else 3
    final = root / "labels" / name
    _check_existing(final, overwrite)  # before the work, not after it
    new_holder = not (root / "labels").exists()
    holder = zarr.open_group(str(root / "labels"), mode="a", zarr_format=fmt)
    tmp = root / "labels" / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=fmt)
        label_meta: dict[str, Any] = {"source": {"image": "../../"}}
        if version == "0.4":
            label_meta = {"version": "0.4", **label_meta}
        attrs: dict[str, Any] = {"multiscales": [_multiscale(da, name, factors, version)], "image-label": label_meta}
        if da.attrs.get("labelfree"):
            attrs["labelfree"] = json.loads(json.dumps(da.attrs["labelfree"], default=str))
        _set_attrs(group, attrs, version)
        _write_arrays(group, da, factors=factors, chunks=chunk_shape, version=version, shapes=shapes)
        _check_existing(final, overwrite)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if new_holder:  # the image is left as it was: no empty labels/ group
            shutil.rmtree(root / "labels", ignore_errors=True)
        raise
    listed, _ = _ome_attrs(holder)
    names = [n for n in listed.get("labels", []) if n != name] + [name]
    _set_attrs(holder, {"labels": names}, version)
    return final
