"""ImagePlus <-> xarray.DataArray, with calibration and channel names, both ways.

ImageJ stores planes in XYCZT order (stack index = ``(t*nZ + z)*nC + c + 1``);
LabelFree uses dims from ``T C Z Y X``. Axes of length 1 are dropped on the way
in, unless the ImagePlus carries the ``labelfree.dims`` property (set by
:func:`xarray_to_imageplus`), so DataArray -> ImagePlus -> DataArray keeps them.

Calibration: pixelWidth/Height/Depth and their units, frameInterval + timeUnit
(an unset interval gives T in "frame"; a size or interval that is not a positive number,
which ImageJ keeps as it is given, gives that axis in pixels or frames, with a warning),
xOrigin/yOrigin/zOrigin (ImageJ keeps
origins in pixels; coords are ``-origin * scale + i * scale``).

Channel names travel as the slice labels of each channel's planes (what ImageJ
shows in the window title bar and keeps in TIFF files) and as the
``labelfree.channel_names`` property. Channels without names of their own (LabelFree's ``C0``, ``C1``, ...,
counted from 0) get no slice label, as in ImageJ's own hyperstacks, whose C slider and title bar count them
from 1. RGB images become a C axis of 3 uint8 channels named R, G, B, and such a DataArray goes back to an
RGB ImagePlus.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import xarray as xr

from labelfree._warn_place import user_stacklevel
from labelfree.errors import DimensionError, DTypeError, InputError, PixelTypeWarning
from labelfree.image import channel_names, scale_of, to_dataarray, units_of, usable_scales
from labelfree.imagej._pixels import read_planes, write_planes

__all__ = ["imageplus_to_xarray", "xarray_to_imageplus", "imageplus_channel_names"]

log = logging.getLogger(__name__)

_TO_IJ_TIME = {"s": "sec", "h": "hour"}
_RGB = ("R", "G", "B")


def _unit(text: Any, default: str = "pixel") -> str:
    from labelfree.io.tiff import normalise_unit

    return normalise_unit(None if text is None else str(text), default=default)


def _check_imageplus(imp: Any) -> None:
    try:
        from scyjava import jimport

        ImagePlus = jimport("ij.ImagePlus")
    except Exception:  # noqa: BLE001
        ImagePlus = None
    if imp is None or (ImagePlus is not None and not isinstance(imp, ImagePlus)):
        raise InputError(
            f"Expected an ImageJ ImagePlus (an image window), got {type(imp).__name__}. "
            "Select an image window (not a table, log or ROI Manager) and try again."
        )


def _channel_names_of(imp: Any, stack: Any, nc: int) -> list[str] | None:
    prop = imp.getProperty("labelfree.channel_names")
    if prop is not None:
        names = str(prop).split("\n")
        if len(names) == nc:
            return names
    labels = [stack.getSliceLabel(c + 1) for c in range(nc)]
    names = [str(s).split("\n")[0].strip() if s is not None else "" for s in labels]
    if all(names) and len(set(names)) == nc:
        return names
    return None


def imageplus_channel_names(imp: Any, /) -> list[str]:
    """The channel names of an ImagePlus (``C0``, ``C1``, ... when it has none), without reading pixels."""
    nc = int(imp.getNChannels())
    return _channel_names_of(imp, imp.getStack(), nc) or [f"C{i}" for i in range(nc)]


def imageplus_to_xarray(imp: Any, /) -> xr.DataArray:
    """Convert an ImagePlus (8/16/32-bit or RGB; stack, hyperstack or virtual) to a DataArray.

    Parameters
    ----------
    imp : ij.ImagePlus
        Any ImageJ 1.x image. Pixels are copied plane by plane in bulk.

    Returns
    -------
    xarray.DataArray
        dims from ``T C Z Y X`` (length-1 axes dropped unless recorded in the
        ``labelfree.dims`` property), uint8 / uint16 / float32 pixels (RGB: C of 3
        uint8 channels R, G, B; signed 16-bit: int16, the values ImageJ shows and
        measures), coords in calibrated units.
    """
    _check_imageplus(imp)
    stack = imp.getStack()
    n = int(stack.getSize())
    nc, nz, nt = int(imp.getNChannels()), int(imp.getNSlices()), int(imp.getNFrames())
    if nc * nz * nt != n:  # inconsistent dimensions: a plain stack
        nc, nz, nt = 1, n, 1
    bit_depth = int(imp.getBitDepth())
    planes = read_planes(stack, range(1, n + 1), bit_depth=bit_depth)
    if bit_depth == 16 and imp.getCalibration().isSigned16Bit():  # ImageJ's signed 16-bit: the values it shows
        from labelfree.io.tiff import signed_from_imagej

        planes = signed_from_imagej(planes)
    h, w = planes.shape[1:]
    data = planes.reshape(nt, nz, nc, h, w).transpose(0, 2, 1, 3, 4)  # T C Z Y X
    names = _channel_names_of(imp, stack, nc) if nc > 1 else None
    if bit_depth == 24:
        if nc > 1:
            raise DTypeError("RGB hyperstacks with channels are not supported; use Image > Color > Split Channels.")
        rgb = np.stack([(data[:, 0] >> s) & 0xFF for s in (16, 8, 0)], axis=1)
        data, nc, names = rgb.astype(np.uint8), 3, list(_RGB)
    keep = {"T": nt > 1, "C": nc > 1, "Z": nz > 1, "Y": True, "X": True}
    recorded = imp.getProperty("labelfree.dims")
    if recorded is not None:
        for d in str(recorded):
            if d in keep:
                keep[d] = True
    axes = [i for i, d in enumerate("TCZYX") if not keep[d]]
    data = np.ascontiguousarray(data.squeeze(axis=tuple(axes)) if axes else data)
    dims = "".join(d for d in "TCZYX" if keep[d])
    cal = imp.getCalibration()
    scale = {"X": float(cal.pixelWidth), "Y": float(cal.pixelHeight), "Z": float(cal.pixelDepth)}
    units = {"X": _unit(cal.getXUnit()), "Y": _unit(cal.getYUnit()), "Z": _unit(cal.getZUnit())}
    if float(cal.frameInterval) != 0:  # 0: ImageJ's "no interval", T in frames
        scale["T"], units["T"] = float(cal.frameInterval), _unit(cal.getTimeUnit(), default="s")
    scale, units = usable_scales({d: v for d, v in scale.items() if d in dims}, units,
                                 source=f"ImageJ image {str(imp.getTitle())!r}")
    origin = {d: -float(getattr(cal, f"{d.lower()}Origin")) * scale.get(d, 1.0) for d in "XYZ"}
    origin = {d: (0.0 if v == 0 else v) for d, v in origin.items()}
    return to_dataarray(
        data, dims=dims, scale=scale, units=units, origin=origin,
        channel_names=names if "C" in dims else None, attrs={"imagej_title": str(imp.getTitle())},
    )


def _imagej_pixels(values: np.ndarray) -> np.ndarray:
    """uint8/uint16/float32 pixels ImageJ can hold, converting other types when exact."""
    dt = values.dtype
    if dt in (np.uint8, np.uint16, np.float32):
        return values
    if dt == np.int16:  # ImageJ's signed 16-bit: stored as value + 32768, shown through the signed calibration
        return signed_to_imagej(values)
    if dt == bool:
        return values.astype(np.uint8) * np.uint8(255)
    if dt.kind in "iu" and (values.size == 0 or (values.min() >= 0 and values.max() <= 65535)):
        return values.astype(np.uint16)
    out = values.astype(np.float32)
    if not np.array_equal(out.astype(dt), values):
        warnings.warn(
            f"{dt} pixels do not fit ImageJ's 8/16/32-bit types exactly; converted to 32-bit float "
            "(values rounded).",
            PixelTypeWarning,
            stacklevel=user_stacklevel(),
        )
    return out


def signed_to_imagej(values: np.ndarray, /) -> np.ndarray:
    """The unsigned pixels ImageJ stores for int16 values (value + 32768, read back through its calibration)."""
    return np.asarray(values, np.int16).view(np.uint16) ^ np.uint16(0x8000)


def _own_channel_names(da: xr.DataArray) -> list[str]:
    """The channel names of ``da`` when they are its own; ``[]`` without a C axis or for the names LabelFree gives
    channels that have none (``C0``, ``C1``, ...: counted from 0, where ImageJ counts channels from 1)."""
    names = channel_names(da)
    return [] if names == [f"C{i}" for i in range(len(names))] else names


def _is_rgb(da: xr.DataArray) -> bool:
    return "C" in da.dims and tuple(channel_names(da)) == _RGB and da.dtype == np.uint8


def _origin_pixels(da: xr.DataArray, d: str) -> float:
    if d not in da.dims or da.coords[d].dtype.kind != "f":
        return 0.0
    value = -float(da.coords[d].values[0]) / scale_of(da, d)
    nearest = round(value)
    return float(nearest) if abs(value - nearest) < 1e-9 * max(1.0, abs(value)) else value


def _set_calibration(imp: Any, da: xr.DataArray) -> None:
    cal = imp.getCalibration()
    cal.pixelWidth, cal.pixelHeight = scale_of(da, "X"), scale_of(da, "Y")
    cal.setXUnit(units_of(da, "X"))
    cal.setYUnit(units_of(da, "Y"))
    cal.xOrigin, cal.yOrigin = _origin_pixels(da, "X"), _origin_pixels(da, "Y")
    if "Z" in da.dims:
        cal.pixelDepth = scale_of(da, "Z")
        cal.setZUnit(units_of(da, "Z"))
        cal.zOrigin = _origin_pixels(da, "Z")
    if "T" in da.dims and units_of(da, "T") != "frame":
        cal.frameInterval = scale_of(da, "T")
        cal.setTimeUnit(_TO_IJ_TIME.get(units_of(da, "T"), units_of(da, "T")))
    imp.setCalibration(cal)


def xarray_to_imageplus(image: Any, /, *, title: str = "image") -> Any:
    """Convert a DataArray (or a YX array) to a new ImagePlus.

    Parameters
    ----------
    image : xarray.DataArray or 2-D array
        dims from ``T C Z Y X``. uint8, uint16 and float32 are kept; int16 becomes
        ImageJ's signed 16-bit (the same values, as ImageJ shows and measures them); bool becomes
        8-bit 0/255; other integers become 16-bit when they fit, else 32-bit float
        (a warning when values change). A C axis of 3 uint8 channels named R, G, B
        gives an RGB image.
    title : str
        Window title.

    Returns
    -------
    ij.ImagePlus
        A hyperstack (CompositeImage when C > 1) with the calibration and the channel names as the slice labels
        of each channel's planes (none for channels without names of their own, as in ImageJ).
    """
    from scyjava import jimport

    da = to_dataarray(image)
    if "Y" not in da.dims or "X" not in da.dims:
        raise DimensionError(f"An ImagePlus needs Y and X axes; the image has dims {''.join(da.dims)}.")
    ImagePlus, ImageStack = jimport("ij.ImagePlus"), jimport("ij.ImageStack")
    rgb = _is_rgb(da)
    values = np.asarray(da.transpose(*[d for d in "TZCYX" if d in da.dims]).data)
    nt, nz = da.sizes.get("T", 1), da.sizes.get("Z", 1)
    nc = 1 if rgb else da.sizes.get("C", 1)
    h, w = da.sizes["Y"], da.sizes["X"]
    if rgb:
        v = values.reshape(nt * nz, 3, h, w).astype(np.uint32)
        planes = (v[:, 0] << 16) | (v[:, 1] << 8) | v[:, 2]
    else:
        planes = _imagej_pixels(values.reshape(nt * nz * nc, h, w))
    names = [] if rgb else _own_channel_names(da)
    stack = ImageStack(int(w), int(h))
    for i, jarr in enumerate(write_planes(planes)):
        stack.addSlice(names[i % nc] if names else None, jarr)
    imp = ImagePlus(title, stack)
    imp.setDimensions(int(nc), int(nz), int(nt))
    if sum(n > 1 for n in (nc, nz, nt)) > 1 or nc > 1:
        imp.setOpenAsHyperStack(True)
    if nc > 1:
        CompositeImage = jimport("ij.CompositeImage")
        imp = CompositeImage(imp, CompositeImage.COMPOSITE)
    _set_calibration(imp, da)
    if planes.dtype == np.uint16 and values.dtype == np.int16:
        imp.getCalibration().setSigned16BitCalibration()
    if names:
        imp.setProperty("labelfree.channel_names", "\n".join(names))
    imp.setProperty("labelfree.dims", "".join(da.dims))
    if planes.dtype != np.uint8 or rgb:
        imp.resetDisplayRange()
    return imp
