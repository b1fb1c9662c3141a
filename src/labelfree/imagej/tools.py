"""Image -> image commands: "LabelFree Drift" (drift correction) and "LabelFree Stitch".

They use :mod:`labelfree.registration` (Fiji's own plugins when running inside a
Fiji that has them, the pure-Python implementations otherwise) and return a new
ImagePlus plus a table of shifts or tile positions. With Fiji's Correct 3D Drift the
plugin runs on the ImagePlus itself: the movie is never converted.
"""

from __future__ import annotations

from typing import Any

from labelfree.errors import Cancelled, DimensionError

__all__ = ["run_tool"]


def _tiles(da: Any) -> list[Any]:
    axis = next((d for d in ("T", "Z") if d in da.dims), None)
    if axis is None:
        raise DimensionError(
            f"LabelFree Stitch needs a stack whose planes are the tiles (T or Z axis); the image has dims "
            f"{''.join(da.dims)}. Make a stack of the tiles first (Image > Stacks > Images to Stack)."
        )
    return [da.isel({axis: i}) for i in range(da.sizes[axis])]


def _run_drift(spec: Any, imp: Any, config: Any, sink: Any) -> tuple[Any, Any, Any]:
    from labelfree.registration._backend import choose_backend

    if int(imp.getNFrames()) < 2:
        raise DimensionError(
            f"LabelFree Drift needs a time-lapse (more than one frame); {imp.getTitle()} has "
            f"{imp.getNFrames()} frame(s). If the frames are stored as slices, use Image > Hyperstacks > "
            "Re-order Hyperstack."
        )
    if choose_backend(config.backend, "drift", task_name="drift correction") == "fiji":
        from labelfree.imagej.registration import correct_drift_imageplus

        result_imp, table = correct_drift_imageplus(imp, config)
        return None, result_imp, table
    from labelfree.imagej.convert import imageplus_to_xarray, xarray_to_imageplus

    out, table = spec.tool_function(imageplus_to_xarray(imp), config=config.replace(backend="python"), progress=sink)
    return out, xarray_to_imageplus(out), table


def run_tool(spec: Any, imp: Any, config: Any, values: dict, fields: list) -> Any:
    """Run drift correction or stitching on ``imp`` and show the result; see :func:`run_command`."""
    from labelfree.imagej.convert import imageplus_to_xarray, xarray_to_imageplus
    from labelfree.imagej.dialog import ImageJProgress
    from labelfree.imagej.fields import CommandResult
    from labelfree.imagej.labels import show_image
    from labelfree.options import format_macro_options

    sink = ImageJProgress(spec.menu_title)
    try:
        if spec.takes == "movie":
            out, result_imp, table = _run_drift(spec, imp, config, sink)
        else:
            tiles = _tiles(imageplus_to_xarray(imp))
            layout = (int(values["rows"]), int(values["cols"]))
            if layout[0] * layout[1] != len(tiles):
                raise DimensionError(
                    f"rows={layout[0]} x cols={layout[1]} = {layout[0] * layout[1]} tiles, but the stack has "
                    f"{len(tiles)} planes; give a grid that matches."
                )
            out, table = spec.tool_function(tiles, layout, config=config, progress=sink)
            result_imp = xarray_to_imageplus(out)
    except Cancelled:
        sink.finish("cancelled")
        raise
    sink.finish("done")
    result_imp.setTitle(f"{imp.getTitle()}-{spec.result_suffix}")
    show_image(result_imp)
    if values.get("table"):
        from labelfree.imagej.tables import table_to_resultstable

        table_to_resultstable(table, title=f"{imp.getTitle()}-{spec.table_name}", show=True)
    from labelfree.imagej.fields import recordable

    return CommandResult(out, result_imp, 0, table if values.get("table") else None,
                         format_macro_options(recordable(values), fields))
