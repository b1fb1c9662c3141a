"""Label images as ImageJ ImagePlus: 16-bit (32-bit float above 65535), glasbey LUT, calibration.

The LUT is set directly on the processor and stack (no ``IJ.run``), so the macro
recorder stays clean. With at most 255 objects the display range is 0..255 and
label *i* is drawn in glasbey colour *i*, the same colour ImageJ gives ROI group
*i*; with more objects the range is 0..max label.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["labels_to_imageplus", "glasbey_imagej_lut", "show_image"]


def glasbey_imagej_lut() -> Any:
    """An ``ij.process.LUT`` with LabelFree's glasbey-style colours (index 0 black)."""
    import jpype
    from scyjava import jimport

    from labelfree.io.lut import glasbey_lut

    rgb = glasbey_lut(256)
    LUT = jimport("ij.process.LUT")
    rows = [jpype.JArray(jpype.JByte)(row.astype(np.int8)) for row in rgb]
    return LUT(*rows)


def labels_to_imageplus(labels: Any, /, *, like: Any = None, title: str | None = None) -> Any:
    """Wrap a label image as an ImageJ ImagePlus ready to display.

    Parameters
    ----------
    labels : xarray.DataArray or 2-D array
        Labels with dims from T, Z, Y, X (0 = background, non-negative integers).
    like : ij.ImagePlus, optional
        Source image: its spatial and time calibration is copied (not a value calibration such as
        signed 16-bit or *Analyze > Calibrate*: label ids are the pixel values) and the title becomes
        ``"<title>-labels"``. Without it the calibration comes from the coords of ``labels``.
    title : str, optional
        Window title (overrides the one derived from ``like``).

    Returns
    -------
    ij.ImagePlus
        16-bit (32-bit float, with a warning, above 65535 labels), glasbey LUT,
        the provenance in the "Info" property.

    Warns
    -----
    UserWarning
        More than 65535 labels: stored as 32-bit float (exact up to 2**24).
    """
    from labelfree.imagej.convert import xarray_to_imageplus
    from labelfree.io.labels_tiff import as_label_image
    from labelfree.labels import to_imagej_labels

    da = as_label_image(labels)
    values = to_imagej_labels(np.asarray(da.data))
    name = title or (f"{like.getTitle()}-labels" if like is not None else "labels")
    imp = xarray_to_imageplus(da.copy(data=values), title=name)
    if like is not None:
        cal = like.getCalibration().copy()
        cal.disableDensityCalibration()  # the input's value calibration (signed 16-bit, OD, ...) is not the labels'
        imp.setCalibration(cal)
    lut = glasbey_imagej_lut()
    imp.getProcessor().setLut(lut)
    imp.getStack().setColorModel(lut)
    top = float(values.max()) if values.size else 0.0
    imp.setDisplayRange(0.0, 255.0 if top <= 255 else top)
    provenance = da.attrs.get("labelfree")
    if provenance:
        imp.setProperty("Info", "labelfree: " + json.dumps(provenance))
    imp.setProperty("labelfree.labels", "true")
    return imp


def show_image(imp: Any, /) -> None:
    """Show an ImagePlus and make it the current image, also where no window can open.

    With a display this is ``imp.show()`` (which also registers the image with batch-mode
    macros). Headless, the image is registered with the batch-mode macro (if one runs) and
    made the current image of this thread, so ``getTitle()``, ``selectImage`` and the next
    command of the macro reach it.
    """
    from scyjava import jimport

    if not jimport("java.awt.GraphicsEnvironment").isHeadless():
        imp.show()
        return
    Interpreter = jimport("ij.macro.Interpreter")
    if Interpreter.isBatchMode():
        Interpreter.addBatchModeImage(imp)
    jimport("ij.WindowManager").setTempCurrentImage(imp)
