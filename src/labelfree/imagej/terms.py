"""Messages said in ImageJ terms: the Python and command-line advice of LabelFree's errors and
warnings (``numpy.nan_to_num``, ``markers=``, ``--zoo``, ``--grid``, 0-based numbers) as an ImageJ
user finds it (menus, macro keys, planes and frames counted from 1). Used for the errors of the
commands and for the warnings written to the Log."""

from __future__ import annotations

import re

__all__ = ["in_imagej_terms"]


def _from_one(match: re.Match, one: str, many: str, where: str) -> str:
    numbers = [int(k) + 1 for k in re.findall(r"\d+", match.group(1))]
    return f"{one if len(numbers) == 1 else many} {', '.join(map(str, numbers))} ({where}, counted from 1)"


def _planes_from_one(match: re.Match) -> str:
    """``tiles [0, 2] (0-based, in the order given)`` -> the stack's planes as ImageJ counts them."""
    return _from_one(match, "tile", "tiles", "the planes of the stack")


def _frames_from_one(match: re.Match) -> str:
    """``frames [0, 2] (0-based)`` -> the frames as ImageJ counts them."""
    return _from_one(match, "frame", "frames", "the stack's frames")


#: advice written for Python (and the command line), said the way an ImageJ user does it
_IMAGEJ_TERMS = (
    (re.compile(r"replace them \((?:e\.g\. )?numpy\.nan_to_num\) first\."),
     "replace them first (Process > Math > Remove NaNs..., or select them and Edit > Fill)."),
    (re.compile(r"give markers= \(points or a nucleus label image\)"),
     "give markers (markers=roi_manager with point selections or nucleus outlines in the ROI Manager, or a "
     "points CSV, label TIFF or ROI zip file)"),
    # LabelFree Stitch: its keys are order=, overlap=, rows= and cols=; the tiles are the stack's planes
    (re.compile(r"tiles? \[([0-9, ]*)\] \(0-based, in the order given\)"), _planes_from_one),
    # drift, Motion's blank frames, Cutter's frames without a marker on the foreground: frames as ImageJ counts them
    (re.compile(r"frames \[([0-9, ]*)\] \(0-based\)"), _frames_from_one),
    (re.compile(r"frame (\d+) \(0-based\)"), _frames_from_one),
    # Cutter's markers on the background: (t=0-based frame, y=, x=) -> the frame as ImageJ counts it
    (re.compile(r"\(t=(\d+), y="), lambda m: f"(frame {int(m.group(1)) + 1}, y="),
    (re.compile(r" \(t: the 0-based frame\)"), " (frames counted from 1)"),
    (re.compile(r"the tile order \(order= / --order\), the overlap \(overlap= / --overlap\) and the grid size "
                r"\(--grid\)"),
     "the tile order (order=), the overlap (overlap=) and the grid size (rows= and cols=)"),
    # LabelFree Fusion without a model zoo: the macro key first; zoos are made on the command line
    (re.compile(r"give its folder with --zoo FOLDER \(Fiji: [^;]*; macros: zoo=\[FOLDER\]; "
                r"Python: (?:[^()]|\([^()]*\))*\)"),
     "give its folder with zoo=[FOLDER] (in the dialog: the zoo field)"),
    (re.compile(r"Make one with (`labelfree fusion train)"),
     r"Make one outside ImageJ, with LabelFree's command line in a terminal: \1"),
    (re.compile(r"Train one with `labelfree fusion train`\."),
     "Train one outside ImageJ, with LabelFree's command line in a terminal: `labelfree fusion train`."),
    # an earlier result in the output folder (or a saved model file): the command's overwrite key
    (re.compile(r"\(CLI --overwrite, API overwrite=True\)"),
     "(overwrite=true; in the dialog: tick advanced_options, then overwrite on the outputs page)"),
)


def in_imagej_terms(message: str, /) -> str:
    """``message`` with its Python and command-line advice (``numpy.nan_to_num``, ``markers=``,
    ``--zoo``, ``--grid``, 0-based tile and frame numbers) said in ImageJ's menus, macro keys and counting."""
    for pattern, said in _IMAGEJ_TERMS:
        message = pattern.sub(said, message)
    return message
