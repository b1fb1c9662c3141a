"""Write label images as ImageJ hyperstack TIFFs that Fiji opens with the right calibration."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import xarray as xr

from labelfree.errors import DimensionError, DTypeError, InputError
from labelfree.image import scale_of, to_dataarray, units_of, value_range
from labelfree.io.atomic import atomic_path, check_file_suffix
from labelfree.io.lut import glasbey_lut
from labelfree.io.tiff import one_plane_dims

__all__ = ["write_labels", "read_labels", "read_provenance", "as_label_image", "imagej_calibration",
           "imagej_file_options", "LABELS_SUFFIXES"]

log = logging.getLogger(__name__)

_LABEL_DIMS = ("T", "Z", "Y", "X")
_IJ_TIME_UNITS = {"s": "sec", "min": "min", "h": "hour", "ms": "ms"}
#: the file name suffixes of the ImageJ TIFF :func:`write_labels` writes (any case); not an OME-TIFF's
LABELS_SUFFIXES = (".tif", ".tiff")
_OME_SUFFIXES = (".ome.tif", ".ome.tiff")
#: the bytes a classic TIFF addresses (32-bit offsets and byte counts), less tifffile's margin for its header and tags:
#: a plane or a file above it needs the layouts of :func:`imagej_file_options`
CLASSIC_TIFF_BYTES = 2**32 - 2**25


@contextlib.contextmanager
def imagej_file_options(path: str | os.PathLike[str], shape: tuple[int, ...], dtype: Any, /
                        ) -> Iterator[dict[str, Any]]:
    """``with imagej_file_options(path, shape, dtype) as options: tifffile.imwrite(..., imagej=True, **options)``
    (or ``tifffile.memmap``): what an ImageJ hyperstack TIFF of ``shape`` and ``dtype`` past a classic TIFF's 4 GiB
    needs, said in the log.

    * A file over 4 GiB whose planes (the last two axes) fit: ImageJ's own layout for such a file, as ImageJ writes
      one (the planes one after another, described by the first plane's tags: ImageJ, Fiji and tifffile read every
      plane, other TIFF readers the first alone; tifffile's ``truncate``). Without it, tifffile wrote the tags of
      the planes up to 4 GiB and warned that it truncated the file.
    * One plane over 4 GiB (a mosaic of about 46000 x 46000 px of 16-bit labels): a BigTIFF with ImageJ's
      metadata. ImageJ 1.x's own opener reads no BigTIFF; Fiji opens it through Bio-Formats (File > Import >
      Bio-Formats), as do tifffile, napari and QuPath. A classic TIFF cannot hold such a plane: tifffile failed
      with a struct error, after the run's work.
    """
    itemsize = np.dtype(dtype).itemsize
    plane = int(np.prod(shape[-2:], dtype=np.int64)) * itemsize
    total = int(np.prod(shape, dtype=np.int64)) * itemsize
    if plane > CLASSIC_TIFF_BYTES:
        log.warning("%s: one plane takes %.1f GiB, more than a classic TIFF holds (4 GiB): written as a BigTIFF, "
                    "which Fiji opens with File > Import > Bio-Formats (ImageJ 1.x's File > Open reads none), as "
                    "tifffile, napari and QuPath do; or ask for the OME-Zarr output too (--ome-zarr)",
                    Path(path).name, plane / 2**30)
        with warnings.catch_warnings():  # tifffile's own note of the same choice
            warnings.filterwarnings("ignore", message=".*writing nonconformant BigTIFF ImageJ", category=UserWarning)
            yield {"bigtiff": True}
        return
    if total > CLASSIC_TIFF_BYTES:
        log.info("%s: %.1f GiB, more than a classic TIFF's 4 GiB: written in ImageJ's layout for such a file (the "
                 "planes one after another, described by the first plane's tags), which ImageJ, Fiji and tifffile "
                 "read whole; other TIFF readers see its first plane only", Path(path).name, total / 2**30)
        yield {"truncate": True}
        return
    yield {}


def as_label_image(labels: Any, /, *, name: str = "labels") -> xr.DataArray:
    """Check that ``labels`` is a label image and return it as a DataArray.

    A label image has dims from T, Z, Y, X (Y and X required), non-negative
    integer values (0 = background; booleans are accepted as uint8, whole-number floats
    as uint16, or uint32 / uint64 when the largest id needs it).
    A plain numpy array must be 2-D (YX); wrap stacks with
    :func:`labelfree.image.to_dataarray` to say which axis is which.
    """
    if not isinstance(labels, xr.DataArray):
        arr = np.asarray(labels)
        if arr.ndim != 2:
            raise DimensionError(
                f"{name} is a {arr.ndim}-D numpy array (shape {arr.shape}); say which axis is which with "
                "labelfree.image.to_dataarray(labels, dims='TYX') (or 'ZYX', 'TZYX')."
            )
        labels = to_dataarray(arr, dims="YX")
    da = to_dataarray(labels)
    extra = [d for d in da.dims if d not in _LABEL_DIMS]
    if extra or "Y" not in da.dims or "X" not in da.dims:
        raise DimensionError(
            f"{name} has dims {''.join(da.dims)}; a label image has dims drawn from TZYX with Y and X "
            f"(one label per pixel{', no C axis: select one channel first' if 'C' in extra else ''})."
        )
    if da.size == 0:
        raise DimensionError(f"{name} is empty (shape {tuple(da.shape)}).")
    kind = da.dtype.kind
    if kind == "b":
        return da.astype(np.uint8)
    if kind == "f":
        values = np.asarray(da.data)
        if not np.all(np.isfinite(values)) or np.any(np.mod(values, 1) != 0):
            raise DTypeError(
                f"{name} is not a label image: it holds non-integer values (dtype {da.dtype}). "
                "Pass integer labels (0 = background), e.g. from skimage.measure.label of a mask."
            )
    elif kind not in "ui":
        raise DTypeError(f"{name} is not a label image: dtype {da.dtype}; expected integer labels (0 = background).")
    if kind in "if" and float(np.min(da.data)) < 0:
        raise DTypeError(f"{name} is not a label image: it has negative values; labels are >= 0 (0 = background).")
    if kind == "f":  # whole-number floats: the label ids as integers, in the smallest type that holds the largest
        top = float(np.max(da.data))
        if top >= 2.0**64:
            raise DTypeError(f"{name} holds the label id {top:.6g}, beyond 64-bit integers; number the objects "
                             "1..N first (labelfree.labels.relabel_sequential).")
        from labelfree.labels import label_dtype

        return da.astype(label_dtype(top))
    return da


def _ascii_unit(unit: str) -> str:
    if unit == "µm":
        return "um"  # ImageJ turns "um" into its "µm" (the description is ASCII)
    return unit.encode("ascii", "backslashreplace").decode("ascii").replace("\\x", "\\u00")


def _rational_inverse(scale: float) -> tuple[int, int]:
    """Pixels per unit as a TIFF rational whose inverse is ``scale`` (exactly where possible)."""
    frac = Fraction(scale).limit_denominator(2**31 - 1)
    if frac.numerator == 0 or frac.numerator >= 2**32 or frac.denominator >= 2**32:
        frac = Fraction(1.0 / scale).limit_denominator(2**31 - 1)
        return frac.numerator, frac.denominator
    return frac.denominator, frac.numerator


def imagej_calibration(da: xr.DataArray, /) -> tuple[tuple[tuple[int, int], tuple[int, int]], dict[str, Any]]:
    """ImageJ resolution tags and description entries for the coords of ``da``.

    Returns
    -------
    resolution : ((int, int), (int, int))
        Pixels per unit along X and Y as TIFF rationals (numerator, denominator).
    metadata : dict
        ``unit``, ``spacing``, ``finterval``/``tunit``, ``xorigin``/``yorigin``/``zorigin``
        (in pixels, ImageJ's convention).
    """
    meta: dict[str, Any] = {}
    sx, sy = scale_of(da, "X"), scale_of(da, "Y")
    unit = units_of(da, "X")
    if unit != "pixel":
        meta["unit"] = _ascii_unit(unit)
        if units_of(da, "Y") != unit:
            meta["yunit"] = _ascii_unit(units_of(da, "Y"))
    if "Z" in da.dims:
        meta["spacing"] = scale_of(da, "Z")
        if units_of(da, "Z") not in (unit, "pixel"):
            meta["zunit"] = _ascii_unit(units_of(da, "Z"))
    if "T" in da.dims and units_of(da, "T") != "frame":
        meta["finterval"] = scale_of(da, "T")
        tunit = units_of(da, "T")
        meta["tunit"] = _IJ_TIME_UNITS.get(tunit, _ascii_unit(tunit))
    for d in "XYZ":
        if d in da.dims and da.sizes[d] and da.coords[d].dtype.kind == "f":
            first = float(da.coords[d].values[0])
            if first != 0.0:
                meta[f"{d.lower()}origin"] = -first / scale_of(da, d)
    return (_rational_inverse(sx), _rational_inverse(sy)), meta


def write_labels(
    path: str | os.PathLike[str],
    labels: Any,
    /,
    *,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write a label image as an ImageJ hyperstack TIFF.

    Parameters
    ----------
    path : str or path-like
        Output file (``.tif`` or ``.tiff``, any case); replaced atomically. A path spelt as a folder (``out/``),
        or a name with another suffix (``.png``; ``.ome.tif``: the file is not an OME-TIFF) is refused before
        any work (:class:`~labelfree.errors.OutputError`).
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X (0 = background). The coords give the
        calibration written to the file: pixel size and unit (resolution tags),
        Z spacing, frame interval and time unit, origin.
    provenance : mapping, optional
        Provenance record; default ``labels.attrs["labelfree"]``. Stored as JSON in
        the ImageJ ``Info`` (Image > Show Info) and the ``labelfree`` image property.

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    Axes of one plane (a 1-frame TYX time-lapse, a 1-slice ZYX stack) are recorded in the ``labelfree_dims``
    image property, and :func:`labelfree.io.read_image` reads the file back with them (dims and coords as
    written); Fiji opens the file as it would without it (one frame). :func:`read_labels` leaves them out.

    Written as 16-bit; above 65535 labels as 32-bit float (exact up to 2**24)
    with a ``UserWarning``. A glasbey-style LUT (index 0 black) and a display range are
    stored so that ImageJ shows every object in a colour: 0..255 when the largest label
    is at most 255 (label ``i`` in LUT entry ``i``, as the overlay PNG, the ImageJ bridge's
    label image and its ROI groups colour it), else 0..max label.
    """
    import tifffile

    from labelfree.labels import imagej_label_dtype

    path = check_file_suffix(path, suffixes=LABELS_SUFFIXES, refused=_OME_SUFFIXES, what="label image file",
                             writes="an ImageJ hyperstack TIFF")
    da = as_label_image(labels)
    values = np.asarray(da.data)  # checked by as_label_image: whole numbers >= 0, not empty
    top = float(value_range(values)[1])  # plane by plane: a movie mapped from a file is not made resident at once
    dtype = imagej_label_dtype(int(top))
    shown = 255.0 if top <= 255 else top  # at most 255 labels: label i shows LUT entry i
    resolution, meta = imagej_calibration(da)
    record = provenance if provenance is not None else da.attrs.get("labelfree")
    ij_meta: dict[str, Any] = {
        "axes": "".join(da.dims),
        **meta,
        "min": 0.0,
        "max": shown,
        "LUTs": [glasbey_lut()],
        "Ranges": (0.0, shown),
    }
    if record:
        text = json.dumps(record, default=str, sort_keys=True)
        ij_meta["Info"] = f"labelfree={text}"
        ij_meta["Properties"] = {"labelfree": text}
    kept = one_plane_dims(da)  # ImageJ files keep no axis of one plane: its dims, recorded
    if kept:
        ij_meta["Properties"] = {**ij_meta.get("Properties", {}), **kept}
    # ImageJ applies a single-channel LUT from the TIFF ColorMap tag (768 shorts, as its own
    # TiffEncoder writes for 16-bit and float images); the LUTs entry serves newer readers.
    colormap = (glasbey_lut().astype(np.uint16) * 257).ravel().tolist()
    # labels of another type are converted one plane at a time as they are written, not copied whole (a merged
    # uint32 movie, a uint8 one)
    data = values if values.dtype == dtype else _planes_as(values, dtype)
    with atomic_path(path) as tmp, imagej_file_options(path, values.shape, dtype) as large:
        tifffile.imwrite(
            tmp, data, shape=values.shape, dtype=dtype, imagej=True, resolution=resolution, metadata=ij_meta,
            extratags=[(320, 3, len(colormap), colormap, True)], **large,
        )
    log.info("wrote label image %s (%s, %d labels max)", path, "x".join(map(str, values.shape)), int(top))
    return path


def _planes_as(values: np.ndarray, dtype: np.dtype, /) -> Iterator[np.ndarray]:
    """The (Y, X) planes of ``values``, in file order, each converted to ``dtype``."""
    for index in np.ndindex(values.shape[:-2]):
        yield values[index].astype(dtype)


def read_labels(path: str | os.PathLike[str], /) -> np.ndarray:
    """Read a label image file (TIFF; a grey, 1-bit or palette PNG, BMP, GIF or PGM such as Cellpose's
    ``_masks.png``; a Cellpose GUI annotation ``<stem>_seg.npy``; or an OME-Zarr label image, level 0) as an
    integer array, axes of length one dropped.

    ImageJ float32 label images (more than 65535 labels) are converted to uint32. A JPEG or a colour picture
    is no label image (an InputError; :func:`labelfree.io.raster.label_values`), nor an RGB TIFF (a Fiji RGB
    Color image, a flattened overlay): an InputError that says how to save the label image itself, unless its
    colour samples are all equal (a grey label image saved as RGB: read as its grey values, an alpha channel
    left out, as a grey RGB PNG is). A ``.npy`` file (known by its
    first bytes) is read by :func:`labelfree.io.cellpose_seg.read_cellpose_seg`: the ``masks`` of the Cellpose
    dict, (Y, X), unpickled without running code from the file (any other pickle is refused).

    Raises
    ------
    InputError
        Missing, unreadable or damaged file, or values that are not labels (fractions,
        negative numbers); an RGB TIFF or picture in colours; a ``.npy`` that is not a Cellpose annotation, or
        one of several planes.
    """
    from labelfree.io.cellpose_seg import is_npy_file, read_cellpose_seg
    from labelfree.io.raster import label_values
    from labelfree.io.tiff import read_array

    if is_npy_file(path):  # a Cellpose annotation (<stem>_seg.npy): its masks, checked there
        return read_cellpose_seg(path)
    arr = label_values(path, read_array(path))
    samples = _colour_samples_axis(Path(path), arr.shape)
    if samples is not None:  # an RGB TIFF: its grey values, or no label image
        arr = _grey_of_colour(Path(path), np.moveaxis(arr, samples, -1), axis=samples)
    arr = np.squeeze(arr)
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(np.uint8)
    if kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(np.mod(arr, 1) != 0) or (arr.size and arr.min() < 0):
            finite = arr[np.isfinite(arr)]
            found = f"from {finite.min():g} to {finite.max():g}" if finite.size else "no finite value"
            raise InputError(f"{path} holds non-integer, negative or NaN values ({found}): it is not a label image "
                             "(labels are whole numbers >= 0, 0 = background).")
        return arr.astype(np.uint32)
    if kind not in "ui":
        raise InputError(f"{path} has pixel type {arr.dtype}: it is not a label image (integers, 0 = background).")
    if kind == "i" and arr.size and arr.min() < 0:
        raise InputError(f"{path} holds negative values (from {arr.min()} to {arr.max()}): it is not a label image "
                         "(labels are whole numbers >= 0, 0 = background).")
    return arr


def _colour_samples_axis(path: Path, shape: tuple[int, ...]) -> int | None:
    """The axis of the colour samples (R, G, B and any alpha) in the array of ``shape`` read from the TIFF
    ``path`` (tifffile's S axis of an RGB series); None for another file or one sample per pixel."""
    import tifffile

    from labelfree.io.tiff import _check_file, _series_choice

    if not path.is_file() or _check_file(path) != "TIFF":
        return None
    with tifffile.TiffFile(path) as tif:
        series = tif.series[_series_choice(tif)] if tif.series else None
        if (series is None or series.keyframe.photometric != tifffile.PHOTOMETRIC.RGB or "S" not in series.axes
                or tuple(series.shape) != tuple(shape)):
            return None
        return series.axes.index("S")


def _grey_of_colour(path: Path, colour: np.ndarray, /, *, axis: int) -> np.ndarray:
    """The grey values of an RGB(A) TIFF's samples (last axis of ``colour``; ``axis`` in the file's array) when R,
    G and B are equal in every pixel (the alpha channel left out); else the InputError that says what a label image
    is and how to get one."""
    rgb = colour[..., :3]
    if np.array_equal(rgb, np.broadcast_to(rgb[..., :1], rgb.shape)):
        log.info("%s stores its labels in %d equal colour samples; read as one grey label image.", path.name,
                 colour.shape[-1])
        return rgb[..., 0]
    if rgb.dtype.kind in "ui" and rgb.dtype.itemsize <= 2:  # one number per colour, to count them
        packed = np.zeros(rgb.shape[:-1], np.uint64)
        for k in range(3):
            packed = (packed << np.uint64(16)) | rgb[..., k].astype(np.uint64)
        colours = len(np.unique(packed))
    else:
        colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
    read = f"tifffile.imread({str(path)!r})"
    if axis != colour.ndim - 1:  # colour planes stored apart (planar RGB): samples first
        read = f"np.moveaxis({read}, {axis}, -1)"
    alpha = " and alpha" if colour.shape[-1] > 3 else ""
    raise InputError(
        f"{path} is an RGB colour picture (red, green, blue{alpha} samples per pixel, {colours} colours), not a label "
        "image: a label image is one channel of whole-number object ids (0 = background), 8-, 16- or 32-bit. Ids are "
        "not guessed from colours (objects of one colour would merge; blended edges and outlines would be objects). "
        "If the colours show a label image (its LUT, a flattened overlay, Image > Type > RGB Color), save the label "
        "image itself: in Fiji, select its window (Image > Type: 8-, 16- or 32-bit, not RGB Color; a colour LUT is "
        "fine), then File > Save As > Tiff... (Image > Type > 16-bit on the RGB picture gives its brightness, not "
        "ids). If this picture is all there is and each object has a colour of its own on black, number the colours "
        f"in Python: rgb = {read}[..., :3]; ids = np.unique(rgb.reshape(-1, 3), axis=0, "
        "return_inverse=True)[1].reshape(rgb.shape[:-1]) (black, the smallest colour, becomes 0); then "
        f"labelfree.io.write_labels({str(path.with_name(path.stem + '_ids.tif'))!r}, ids)."
    )


def read_provenance(path: str | os.PathLike[str], /) -> dict[str, Any] | None:
    """The provenance record stored by :func:`write_labels` in a TIFF (None if absent)."""
    import tifffile

    from labelfree._config import record_text
    from labelfree.io.tiff import _check_file

    path = Path(path)
    if _check_file(path) != "TIFF":  # a picture (PNG, JPEG, ...) stores no provenance
        return None
    with tifffile.TiffFile(path) as tif:
        text = record_text(tif.imagej_metadata or {})
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"The provenance stored in {path} is not valid JSON: {exc}") from exc
