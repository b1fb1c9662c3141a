"""Image -> image commands: "LabelFree Drift" (drift correction) and "LabelFree Stitch".

They use :mod:`labelfree.registration` (Fiji's own plugins when running inside a
Fiji that has them, the pure-Python implementations otherwise) and return a new
ImagePlus plus a table of shifts or tile positions.
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


def run_tool(key: str, title: str, tool: Any, imp: Any, da: Any, config: Any, values: dict, fields: list) -> Any:
    """Run drift correction or stitching on ``da`` and show the result; see :func:`run_command`."""
    from labelfree.imagej.commands import CommandResult
    from labelfree.imagej.convert import xarray_to_imageplus
    from labelfree.imagej.dialog import ImageJProgress
    from labelfree.imagej.labels import show_image
    from labelfree.imagej.options import format_macro_options

    sink = ImageJProgress(title)
    try:
        if key == "drift":
            if "T" not in da.dims:
                raise DimensionError(
                    f"LabelFree Drift needs a time-lapse (T axis); the image has dims {''.join(da.dims)}. "
                    "If the frames are stored as slices, use Image > Hyperstacks > Re-order Hyperstack."
                )
            out, table = tool.segment(da, config=config, progress=sink)
            suffix = "drift-corrected"
        else:
            tiles = _tiles(da)
            layout = (int(values["rows"]), int(values["cols"]))
            if layout[0] * layout[1] != len(tiles):
                raise DimensionError(
                    f"rows={layout[0]} x cols={layout[1]} = {layout[0] * layout[1]} tiles, but the stack has "
                    f"{len(tiles)} planes; give a grid that matches."
                )
            out, table = tool.segment(tiles, layout, config=config, progress=sink)
            suffix = "stitched"
    except Cancelled:
        sink.finish("cancelled")
        raise
    sink.finish("done")
    result_imp = xarray_to_imageplus(out, title=f"{imp.getTitle()}-{suffix}")
    show_image(result_imp)
    if values.get("table"):
        from labelfree.imagej.tables import table_to_resultstable

        table_to_resultstable(table, title=f"{imp.getTitle()}-{'shifts' if key == 'drift' else 'positions'}", show=True)
    recorded = {k: v for k, v in values.items() if k != "image"}
    return CommandResult(out, result_imp, 0, table if values.get("table") else None,
                         format_macro_options(recorded, fields))
