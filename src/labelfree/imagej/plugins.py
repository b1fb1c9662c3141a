"""Delegates to Fiji plugins: "Correct 3D drift" and "Grid/Collection stitching".

The option strings are the exact macro keys of the plugins (built from their
dialog labels; the padded ``order=[Right & Down                ]`` value included).
The run functions need a started session (:func:`labelfree.imagej.start`) of a
Fiji that has the plugin; with plain ImageJ 1.x they raise
:class:`~labelfree.errors.FijiPluginMissingError`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from labelfree.errors import ConfigError, FijiError, FijiPluginMissingError

__all__ = [
    "CORRECT_3D_DRIFT",
    "GRID_STITCHING",
    "GRID_TYPES",
    "FUSION_METHODS",
    "plugin_installed",
    "require_plugin",
    "correct_3d_drift_options",
    "grid_stitching_options",
    "positions_stitching_options",
    "parse_drift_log",
    "run_correct_3d_drift",
    "run_grid_stitching",
]

log = logging.getLogger(__name__)

CORRECT_3D_DRIFT = "Correct 3D drift"
GRID_STITCHING = "Grid/Collection stitching"
_WHERE = {
    CORRECT_3D_DRIFT: "Plugins > Registration > Correct 3D drift (Fiji's Correct_3D_Drift, shipped with Fiji)",
    GRID_STITCHING: "Plugins > Stitching > Grid/Collection stitching (Fiji's Stitching plugin, shipped with Fiji)",
}
#: grid order -> (Fiji type, Fiji order choice); the padding is part of Fiji's choice string
GRID_TYPES = {
    "row-by-row": ("Grid: row-by-row", "Right & Down                "),
    "column-by-column": ("Grid: column-by-column", "Down & Right                "),
    "snake-by-rows": ("Grid: snake by rows", "Right & Down                "),
    "snake-by-columns": ("Grid: snake by columns", "Down & Right                "),
}
FUSION_METHODS = {"linear": "Linear Blending", "average": "Average", "max": "Max. Intensity"}
_MEMORY = "Save memory (but be slower)"
_SPEED = "Save computation time (but use more RAM)"


def _java(name: str) -> Any:
    from scyjava import jimport

    return jimport(name)


def _jvm_running() -> bool:
    import sys

    jpype = sys.modules.get("jpype")
    return bool(jpype is not None and jpype.isJVMStarted())


def plugin_installed(command: str, /) -> bool:
    """True when the running ImageJ has the menu command ``command`` (never starts Java)."""
    if not _jvm_running():
        return False
    try:
        commands = _java("ij.Menus").getCommands()
    except Exception:  # noqa: BLE001 - ImageJ classes absent from the running JVM
        return False
    return commands is not None and commands.get(command) is not None


def require_plugin(command: str, /) -> None:
    """Raise :class:`FijiPluginMissingError` unless the running ImageJ has ``command``."""
    where = _WHERE.get(command, command)
    if not _jvm_running():
        raise FijiPluginMissingError(
            f"backend='fiji' needs the Fiji plugin {where}, but no ImageJ/Fiji runs in this process. "
            "Start one first with labelfree.imagej.start('/path/to/Fiji.app') (CLI: --fiji DIR), "
            "or use backend='python' (or 'auto')."
        )
    if not plugin_installed(command):
        try:
            version = str(_java("ij.IJ").getFullVersion())
        except Exception:  # noqa: BLE001
            version = "unknown version"
        raise FijiPluginMissingError(
            f"The running ImageJ ({version}) has no {command!r} command: the plugin is not installed. "
            f"It is part of Fiji: {where}. Start LabelFree with a Fiji installation "
            "(labelfree.imagej.start('/path/to/Fiji.app') or --fiji DIR), or use backend='python'."
        )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def correct_3d_drift_options(
    *,
    channel: int = 1,
    xy_only: bool = False,
    multi_time_scale: bool = False,
    sub_pixel: bool = False,
    edge_enhance: bool = False,
    background: float = 0,
    z_range: tuple[int, int] = (1, 1),
    max_shift: Sequence[float] = (10, 10, 10),
) -> str:
    """Macro options of "Correct 3D drift" (1-based channel and z planes; max shift x, y, z in px).

    The "Only compute drift vectors" and "use virtualstack" flags are never set: they
    open file dialogs and the first one shares the key ``only`` with the background value.
    """
    if channel < 1 or z_range[0] < 1 or z_range[1] < z_range[0]:
        raise ConfigError(f"channel and z planes are 1-based (lowest <= highest); got {channel}, {z_range}.")
    parts = [f"channel={int(channel)}"]
    parts += [flag for flag, on in (("correct", xy_only), ("multi_time_scale", multi_time_scale),
                                    ("sub_pixel", sub_pixel), ("edge_enhance", edge_enhance)) if on]
    parts += [f"only={_num(background)}", f"lowest={int(z_range[0])}", f"highest={int(z_range[1])}"]
    parts += [f"max_shift_{ax}={_num(v)}" for ax, v in zip("xyz", max_shift)]
    return " ".join(parts)


def _bracket(value: str) -> str:
    return f"[{value}]" if " " in value else value


def _common_tail(fusion: str, thresholds: Sequence[float], subpixel: bool, output_directory: Any) -> list[str]:
    if fusion not in FUSION_METHODS:
        raise ConfigError(f"fusion must be one of {', '.join(FUSION_METHODS)}; got {fusion!r}.")
    reg, rel, absolute = thresholds
    parts = [f"fusion_method=[{FUSION_METHODS[fusion]}]", f"regression_threshold={reg:.2f}",
             f"max/avg_displacement_threshold={rel:.2f}", f"absolute_displacement_threshold={absolute:.2f}",
             "compute_overlap"]
    if subpixel:
        parts.append("subpixel_accuracy")
    if output_directory is None:
        parts += [f"computation_parameters=[{_MEMORY}]", "image_output=[Fuse and display]"]
    else:
        parts += [f"computation_parameters=[{_SPEED}]", "image_output=[Write to disk]",
                  f"output_directory=[{output_directory}]"]
    return parts


def grid_stitching_options(
    directory: str | Path,
    /,
    *,
    file_names: str,
    grid: tuple[int, int],
    overlap: float = 20,
    order: str = "row-by-row",
    fusion: str = "linear",
    thresholds: Sequence[float] = (0.30, 2.50, 3.50),
    subpixel: bool = False,
    output_directory: str | Path | None = None,
) -> str:
    """Macro options of "Grid/Collection stitching" for a regular grid of files.

    ``grid`` is (rows, cols); ``overlap`` in percent; ``file_names`` a Fiji pattern such
    as ``tile_{iii}.tif``; ``thresholds`` are (regression, max/avg, absolute).
    """
    if order not in GRID_TYPES:
        raise ConfigError(f"order must be one of {', '.join(GRID_TYPES)}; got {order!r}.")
    grid_type, grid_order = GRID_TYPES[order]
    rows, cols = grid
    parts = [f"type=[{grid_type}]", f"order=[{grid_order}]", f"grid_size_x={int(cols)}",
             f"grid_size_y={int(rows)}", f"tile_overlap={_num(overlap)}", "first_file_index_i=1",
             f"directory=[{directory}]", f"file_names={_bracket(file_names)}",
             "output_textfile_name=TileConfiguration.txt"]
    return " ".join(parts + _common_tail(fusion, thresholds, subpixel, output_directory))


def positions_stitching_options(
    directory: str | Path,
    /,
    *,
    layout_file: str = "TileConfiguration.txt",
    fusion: str = "linear",
    thresholds: Sequence[float] = (0.30, 2.50, 3.50),
    subpixel: bool = False,
    output_directory: str | Path | None = None,
) -> str:
    """Macro options of "Grid/Collection stitching" with positions from a TileConfiguration file."""
    parts = ["type=[Positions from file]", "order=[Defined by TileConfiguration]",
             f"directory=[{directory}]", f"layout_file={_bracket(layout_file)}"]
    return " ".join(parts + _common_tail(fusion, thresholds, subpixel, output_directory))


_DRIFT_LINE = re.compile(r"frame\s+(\d+)\s+correcting drift\s+(-?[\d.eE+-]+),(-?[\d.eE+-]+),(-?[\d.eE+-]+)")


def parse_drift_log(text: str, /, *, n_frames: int) -> np.ndarray:
    """Per-frame drift ``(x, y, z)`` in pixels from Correct 3D drift's log lines.

    The plugin logs ``frame N correcting drift X,Y,Z`` for every frame; X, Y, Z are
    the measured drift of frame N relative to frame 1 (the correction is its negative).
    """
    drift = np.full((n_frames, 3), np.nan)
    for m in _DRIFT_LINE.finditer(text):
        frame = int(m.group(1))
        if 1 <= frame <= n_frames:
            drift[frame - 1] = [float(m.group(i)) for i in (2, 3, 4)]
    if np.isnan(drift).any():
        missing = np.flatnonzero(np.isnan(drift[:, 0])) + 1
        raise FijiError(
            f"Correct 3D drift did not log the drift of frame(s) {missing.tolist()[:10]}; "
            "cannot read its shifts (is the ImageJ Log available in this session?)."
        )
    return drift


def run_correct_3d_drift(imp: Any, options: str, /) -> tuple[Any, np.ndarray]:
    """Run "Correct 3D drift" on an ImagePlus; return ("registered time points", drift (T, 3) x, y, z)."""
    require_plugin(CORRECT_3D_DRIFT)
    IJ, WindowManager = _java("ij.IJ"), _java("ij.WindowManager")
    n_frames = int(imp.getNFrames())
    if n_frames < 2:
        raise FijiError("Correct 3D drift needs an ImagePlus with more than one frame (check Image > Properties).")
    before = str(IJ.getLog() or "")
    WindowManager.setTempCurrentImage(imp)
    IJ.run(imp, CORRECT_3D_DRIFT, options)
    registered = WindowManager.getImage("registered time points")
    if registered is None:
        raise FijiError("Correct 3D drift produced no 'registered time points' image; see the ImageJ Log.")
    text = str(IJ.getLog() or "")
    drift = parse_drift_log(text[len(before):] if text.startswith(before) else text, n_frames=n_frames)
    return registered, drift


def run_grid_stitching(options: str, /, *, directory: str | Path, layout_file: str) -> tuple[Any, Path]:
    """Run "Grid/Collection stitching"; return the "Fused" ImagePlus and the registered layout file."""
    require_plugin(GRID_STITCHING)
    IJ, WindowManager = _java("ij.IJ"), _java("ij.WindowManager")
    IJ.run(GRID_STITCHING, options)
    fused = WindowManager.getImage("Fused")
    stem = layout_file[:-4] if layout_file.endswith(".txt") else layout_file
    registered = Path(directory) / f"{stem}.registered.txt"
    if fused is None or not registered.is_file():
        raise FijiError(
            "Grid/Collection stitching produced no 'Fused' image or no registered TileConfiguration; "
            "see the ImageJ Log."
        )
    return fused, registered
