"""The files of a batch's folders and patterns in microscope formats that LabelFree knows but does not read.

A folder of Zeiss ``.czi`` files beside a few TIFFs gives the TIFFs as inputs; the CZIs are named in one warning
of the run (:func:`unread_files_note`), and in its summary's ``attrs["notes"]``, printed report and report.html,
with how to convert them (:func:`labelfree.io.raster.convert_advice`:
Fiji's Bio-Formats export, ``bfconvert``, ``bioformats2raw``). A folder or pattern that gives no input at all names
them in its error. Hidden files (``.name``, and the AppleDouble ``._name`` files macOS leaves on shared drives)
are passed over without a word.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Iterable

__all__ = ["unread_files_note", "no_inputs_message", "pattern_advice"]


def _listing(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def microscope_files(paths: Iterable[Path], /) -> list[Path]:
    """The files of ``paths`` in a microscope format that LabelFree knows but does not read (a Zeiss CZI, a Nikon
    ND2, ...: :func:`labelfree.io.raster.microscope_format`); hidden files are none of them."""
    from labelfree.io.raster import microscope_format

    return [p for p in paths if not p.name.startswith(".") and microscope_format(p.name) and p.is_file()]


def _text(files: list[Path], /, *, folders: bool = False) -> str:
    """``N file(s) in a microscope format that LabelFree does not read (Zeiss CZI: a.czi, b.czi)``, the first five
    named (``folders``: each with the name of its folder, ``pos1/a.czi``)."""
    from labelfree.io.raster import microscope_format

    kinds = ", ".join(sorted({str(microscope_format(p.name)) for p in files}))
    names = [f"{p.parent.name}/{p.name}" if folders else p.name for p in files]
    return f"{len(files)} file(s) in a microscope format that LabelFree does not read ({kinds}: {_listing(names)})"


def _given(spec: Any, /) -> tuple[list[Path], str]:
    """The microscope files of a folder or pattern given to a batch (:func:`labelfree.batch.collect_inputs`), and
    how a message names the folder or pattern; none for any other input (a file, a manifest, an OME-Zarr image)."""
    from labelfree.io.ngff import is_ngff

    if not isinstance(spec, (str, os.PathLike)):
        return [], ""
    text = str(spec)
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        return microscope_files(Path(p) for p in sorted(glob.glob(str(path), recursive=True))), f"pattern {text!r}"
    if path.is_dir() and not path.name.lower().endswith(".zarr") and not is_ngff(path):
        try:
            return microscope_files(sorted(path.iterdir())), f"folder {path}"
        except OSError:  # the listing of the inputs reports it
            return [], ""
    return [], ""


def unread_files_note(inputs: Any, /) -> str | None:
    """The note of a batch run on the files of its folders and patterns in a microscope format that LabelFree does
    not read, which are not inputs (:func:`labelfree.batch.collect_inputs` logs it as a warning;
    :func:`labelfree.batch.run_batch` puts it, less its ``batch:``, in the summary's ``attrs["notes"]``, the
    ``note:`` line of :func:`~labelfree.batch.format_report` and report.html): how many (each file once), the
    first five by name, and how to convert them; None when there are none.

    Parameters
    ----------
    inputs : path, glob pattern, manifest, BatchInput, or a list of them
        The inputs of the run, as :func:`labelfree.batch.collect_inputs` takes them; only folders and patterns
        are looked into.

    Examples
    --------
    ``"batch: the folder data holds 1 file(s) in a microscope format that LabelFree does not read (Zeiss CZI:
    scan.czi), which are not inputs of this run. Export it as OME-TIFF: ..."``
    """
    from labelfree.io.raster import convert_advice

    specs = [inputs] if isinstance(inputs, (str, os.PathLike)) or not isinstance(inputs, Iterable) else list(inputs)
    files: dict[str, Path] = {}
    wheres: list[str] = []
    for spec in specs:
        found, where = _given(spec)
        new = [p for p in found if os.path.realpath(p) not in files]
        files.update((os.path.realpath(p), p) for p in new)
        if new:
            wheres.append(where)
    if not files:
        return None
    listed = list(files.values())
    where = " and the ".join(wheres[:3]) + (f" and {len(wheres) - 3} more" if len(wheres) > 3 else "")
    return (f"batch: the {where} {'hold' if len(wheres) > 1 else 'holds'} {_text(listed)}, which are not inputs of "
            f"this run. {convert_advice([p.name for p in listed])} Then run the batch again with the converted files "
            "(inputs done already are skipped).")


def pattern_advice(matched: list[Path], /) -> str:
    """For the error of a pattern that matches no image file: the microscope files it matches and how to convert
    them (``" It matches 2 file(s) in a microscope format ..."``); '' when it matches none."""
    from labelfree.io.raster import convert_advice

    found = microscope_files(matched)
    if not found:
        return ""
    return f" It matches {_text(found)}, which are not inputs. {convert_advice([p.name for p in found])}"


def no_inputs_message(path: Path, folders: list[Path], /) -> str:
    """The error of a folder given to a batch that gives no input (no image file, no folder of frames among its
    ``folders``); with its microscope files, and those of its folders one level down, and how to convert them,
    when it holds some."""
    from labelfree.io.outputs import IMAGE_SUFFIXES
    from labelfree.io.raster import convert_advice

    here = microscope_files(sorted(p for p in path.iterdir() if p.is_file()))
    deeper: list[Path] = []
    for folder in folders:
        try:
            deeper += microscope_files(sorted(folder.iterdir()))
        except OSError:
            continue
    if not here and not deeper:
        return (f"The folder {path} holds no image files ({', '.join(IMAGE_SUFFIXES)}) and no folders of frames "
                "(one image file per time point, e.g. t000.tif, t001.tif, ...) one level down. Give the folder that "
                "holds the images, or a pattern (\"data/*/*.tif\", \"data/*/pos*\") for images or folders deeper.")
    held = [_text(here)] if here else []
    if deeper:
        held.append(f"{'its folders hold ' if here else ''}{_text(deeper, folders=True)}")
    return (f"The folder {path} holds no image files that LabelFree reads ({', '.join(IMAGE_SUFFIXES)}) and no "
            f"folders of frames one level down, but {' and '.join(held)}. "
            f"{convert_advice([p.name for p in here + deeper])} Then give labelfree batch the folder of converted "
            "files.")
