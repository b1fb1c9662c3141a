"""Image -> image commands: "LabelFree Drift" (drift correction) and "LabelFree Stitch".

They use :mod:`labelfree.registration` (Fiji's own plugins when running inside a
Fiji that has them, the pure-Python implementations otherwise) and return a new
ImagePlus (``<title>-drift-corrected``, ``-1``, ... on reruns) plus a table of shifts or
tile positions. With Fiji's Correct 3D Drift the plugin runs on the ImagePlus itself: the
movie is never converted. The drift command's handling of selections and RGB is in
:func:`labelfree.imagej.registration.correct_drift_window`.
"""

from __future__ import annotations

from typing import Any

from labelfree.errors import Cancelled, DimensionError

__all__ = ["keep_value_calibration", "run_tool"]


def _tiles(da: Any) -> list[Any]:
    axis = next((d for d in ("T", "Z") if d in da.dims), None)
    if axis is None:
        raise DimensionError(
            f"LabelFree Stitch needs a stack whose planes are the tiles (T or Z axis); the image has dims "
            f"{''.join(da.dims)}. Make a stack of the tiles first (Image > Stacks > Images to Stack)."
        )
    return [da.isel({axis: i}) for i in range(da.sizes[axis])]


def _grid(rows: int, cols: int, n: int) -> Any:
    """The layout of Stitch's rows= and cols= for a stack of ``n`` tiles: both 0 finds the grid from the tiles
    ("auto"); one 0 is what the other leaves."""
    if rows < 0 or cols < 0:
        raise DimensionError(f"rows={rows} and cols={cols}: give the grid's rows and columns (at least 1 each), or "
                             "rows=0 cols=0 to find the grid from the tiles.")
    if rows == cols == 0:
        return "auto"
    if rows == 0 or cols == 0:
        given, key = (cols, "cols") if rows == 0 else (rows, "rows")
        if n % given:
            raise DimensionError(f"{key}={given}, but the stack's {n} planes do not fill whole {key}; give both rows= "
                                 "and cols= (rows x cols = planes), or rows=0 cols=0 to find the grid from the tiles.")
        rows, cols = (n // cols, cols) if rows == 0 else (rows, n // rows)
    if rows * cols != n:
        raise DimensionError(
            f"rows={rows} x cols={cols} = {rows * cols} tiles, but the stack has {n} planes; give a grid that "
            "matches, or rows=0 cols=0 to find the grid from the tiles."
        )
    return (rows, cols)


def _grid_note(auto: dict) -> str:
    """The Log's line about a grid found from the tiles."""
    words = f"grid found from the tiles: rows={auto['rows']} cols={auto['cols']} order={auto['order']} (mean overlap "
    words += f"NCC {auto['score']:.2f}"
    if auto.get("runner_up"):
        words += f"; next best {auto['runner_up']} {auto['runner_up_score']:.2f}, margin {auto['margin']:.2f}"
    return words + "); give rows= and cols= to set it"


def keep_value_calibration(result: Any, source: Any, /) -> None:
    """Give ``result`` the value calibration of ``source`` (signed 16-bit, *Analyze > Calibrate*): its pixels
    are ``source``'s values, moved, so they read as they did (nothing is done when the types differ)."""
    src = source.getCalibration()
    if not src.calibrated() or int(result.getBitDepth()) != int(source.getBitDepth()):
        return
    cal = result.getCalibration()
    if int(src.getFunction()) == int(src.CUSTOM):
        cal.setCTable(src.getCTable(), src.getValueUnit())
    else:
        cal.setFunction(src.getFunction(), src.getCoefficients(), src.getValueUnit(), src.zeroClip())
    result.setCalibration(cal)


def run_tool(spec: Any, imp: Any, config: Any, values: dict, /, *, options: str) -> Any:
    """Run drift correction or stitching on ``imp`` and show the result; see :func:`run_command`.

    ``options`` is the macro options string that replays the run (the result's ``options``).
    """
    from labelfree.imagej.convert import imageplus_to_xarray, xarray_to_imageplus
    from labelfree.imagej.dialog import ImageJProgress, relay_log_warnings
    from labelfree.imagej.fields import CommandResult
    from labelfree.imagej.labels import show_image
    from labelfree.imagej.registration import correct_drift_window
    from labelfree.imagej.seen import image_bytes, log_notes, require_memory, unique_title

    sink = ImageJProgress(spec.menu_title)
    notes: list[str] = []
    try:
        if spec.takes == "movie":
            with relay_log_warnings(spec.menu_title):
                out, result_imp, table, notes = correct_drift_window(imp, config, progress=sink)
        else:
            require_memory(imp, what=spec.menu_title, made="the mosaic and ImageJ's copy of it at least",
                           more=image_bytes(imp) // 2,
                           advice="Stitch the tiles from their files with Fiji's Plugins > Stitching > "
                                  "Grid/Collection stitching, which can write the fused image to disk.")
            tiles = _tiles(imageplus_to_xarray(imp))
            layout = _grid(int(values["rows"]), int(values["cols"]), len(tiles))
            with relay_log_warnings(spec.menu_title):
                out, table = spec.tool_function(tiles, layout, config=config, progress=sink)
            result_imp = xarray_to_imageplus(out)
            if imp.getRoi() is not None and imp.getRoi().isArea():
                notes = ["the selection was not used: every tile is stitched whole"]
            if out.attrs.get("stitching", {}).get("auto"):
                notes.append(_grid_note(out.attrs["stitching"]["auto"]))
    except Cancelled:
        sink.finish("cancelled")
        raise
    sink.finish("done")
    log_notes(spec.menu_title, imp, notes)
    result_title = unique_title(f"{imp.getTitle()}-{spec.result_suffix}")  # a rerun: <title>-drift-corrected-1
    suffix = result_title[len(f"{imp.getTitle()}-{spec.result_suffix}"):]
    result_imp.setTitle(result_title)
    keep_value_calibration(result_imp, imp)
    show_image(result_imp)
    if values.get("table"):  # frames and tiles counted from 1, as the stack slider and the Log count them
        from labelfree.imagej.tables import counted_from_one, table_to_resultstable

        table = counted_from_one(table, ("frame", "tile"))
        table_to_resultstable(table, title=f"{imp.getTitle()}-{spec.table_name}{suffix}", show=True)
    return CommandResult(out, result_imp, 0, table if values.get("table") else None, options)
