"""pandas.DataFrame <-> ImageJ ResultsTable (numeric columns in bulk, text cell by cell), and the objects
table as ImageJ shows it (:func:`objects_table_for_imagej`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelfree.errors import InputError

__all__ = ["table_to_resultstable", "resultstable_to_table", "objects_table_for_imagej", "counted_from_one"]


def counted_from_one(table: pd.DataFrame, columns: Sequence[str], /) -> pd.DataFrame:
    """A copy of ``table`` whose ``columns`` (those it has) count from 1, as ImageJ counts frames, z planes and
    tiles (the stack slider, ``Stack.getPosition``, the Log); the 0-based table is unchanged.

    >>> counted_from_one(pd.DataFrame({"frame": [0, 1], "dy": [0.5, 1.0]}), ("frame", "tile"))["frame"].tolist()
    [1, 2]
    """
    shown = table.copy()
    for column in columns:
        if column in shown:
            shown[column] = table[column] + 1
    shown.attrs = dict(table.attrs)
    return shown


def objects_table_for_imagej(table: pd.DataFrame, /, *, has_z: bool,
                             names: Sequence[str] | None = None) -> pd.DataFrame:
    """The objects table as ImageJ shows it: each row labelled with its ROI's name, frame and z from 1.

    Parameters
    ----------
    table : pandas.DataFrame
        A table of :func:`labelfree.measure.measure_objects` (``label``, ``frame`` and ``z`` from 0, ...),
        or its table of a z-stack (one row per 3-D object: ``z_first`` and ``z_last``, no ``z``).
    has_z : bool
        Whether the labels have a Z axis (their ROI names then name the z plane: ``t0003-z002-L00042``).
    names : sequence of str, optional
        The names the ROIs of the rows got in the ROI Manager (from
        :func:`labelfree.imagej.rois.add_labels_to_roimanager`, in the rows' order); default the names
        :func:`labelfree.io.roi_name` gives (for a run that added no ROIs). For a table of 3-D objects: the
        names of the ROIs of their planes (any order), whose run suffix (``-1``) the rows' labels take.

    Returns
    -------
    pandas.DataFrame
        A copy with a first column ``Label`` (ImageJ's row labels, as Analyze Particles' "Display label"
        makes them: ``Table.getString("Label", i)``) and ``frame`` and ``z`` counted from 1, as the stack
        slider, ``Stack.getPosition`` and the ROI names count (1 without that axis). A row of a 3-D object is
        labelled with the name of its ROIs without their plane (``t0003-L00042``: its ROIs are
        ``t0003-z001-L00042``, ``t0003-z002-L00042``, ...), and its ``z_first`` and ``z_last`` count from 1;
        so does its ``centroid_z`` where Z is uncalibrated (in pixels, by ``table.attrs["units"]``): the mean
        slice number, ``z_first <= centroid_z <= z_last``, which the stack slider shows rounded (the table of
        Python and of the files keeps the 0-based plane index, as ImageJ's status bar shows ``z=``). A
        calibrated ``centroid_z`` stays a position in the calibrated unit (slice 1 at the z origin, as
        *Image > Properties* places it).

    Raises
    ------
    InputError
        ``names`` does not name the rows' objects one by one.
    """
    from labelfree.io.rois import roi_name

    if "z" not in table and "z_first" in table:  # one row per 3-D object (a z-stack's table)
        return _volumes_for_imagej(table, names)
    rows = zip(table["frame"].to_numpy(), table["z"].to_numpy(), table["label"].to_numpy())
    plain = [roi_name(int(t), int(label), z=int(z) if has_z else None) for t, z, label in rows]
    if names is None:
        given = plain
    else:
        given = [str(n) for n in names]
        wrong = next((i for i, (n, p) in enumerate(zip(given, plain)) if n != p and not n.startswith(f"{p}-")),
                     None)
        if len(given) != len(plain) or wrong is not None:
            said = f"row {wrong + 1} is {plain[wrong]} but its name is {given[wrong]}" if wrong is not None else (
                f"{len(given)} names for {len(plain)} rows")
            raise InputError(f"The ROI names do not match the objects table ({said}); give the names "
                             "add_labels_to_roimanager returned for the labels the table measures, in their order.")
    shown = counted_from_one(table, ("frame", "z"))
    shown.insert(0, "Label", given)
    return shown


def _volumes_for_imagej(table: pd.DataFrame, names: Sequence[str] | None, /) -> pd.DataFrame:
    """:func:`objects_table_for_imagej` of a table of 3-D objects (``z_first``/``z_last``, no ``z``)."""
    import re

    from labelfree.io.rois import roi_name

    objects = list(zip(table["frame"].to_numpy().tolist(), table["label"].to_numpy().tolist()))
    suffixes = dict.fromkeys(objects, "")
    if names is not None:  # the ROIs of the objects' planes: t0001-z002-L00005, plus the run's suffix
        found = {}
        for name in map(str, names):
            parts = re.fullmatch(r"t(\d{4,})-z\d{3,}-L(\d{5,})(-\d+)?", name)
            if parts is None:
                raise InputError(f"The ROI name {name} names no plane of an object (t0001-z001-L00001); give the "
                                 "names add_labels_to_roimanager returned for the labels the table measures.")
            found[(int(parts[1]) - 1, int(parts[2]))] = parts[3] or ""
        if set(found) != set(suffixes):
            said = min(set(found) ^ set(suffixes))
            which = "has no ROI" if said in suffixes else "is not in the table"
            raise InputError(f"The ROI names do not match the objects table (object {roi_name(*said)} {which}); "
                             "give the names add_labels_to_roimanager returned for the labels the table measures.")
        suffixes = found
    slices = ("centroid_z",) if _in_slices(table, "centroid_z") else ()
    shown = counted_from_one(table, ("frame", "z_first", "z_last", *slices))
    if slices:
        shown.attrs["units"] = {**table.attrs.get("units", {}), "centroid_z": "slice"}
    shown.insert(0, "Label", [roi_name(t, label) + suffixes[(t, label)] for t, label in objects])
    return shown


def _in_slices(table: pd.DataFrame, column: str, /) -> bool:
    """Whether ``column`` of a table of :func:`labelfree.measure.measure_objects` is in pixels (an uncalibrated Z:
    a plane index), by its ``attrs["units"]``; a table without units (read from a CSV) is left as it is."""
    return column in table and table.attrs.get("units", {}).get(column) in ("pixel", "pixels")


def table_to_resultstable(table: pd.DataFrame, /, *, title: str | None = None, show: bool = False) -> Any:
    """Copy a DataFrame into a new ImageJ ResultsTable.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per object; numeric columns (numbers, booleans) are copied as
        doubles in one call each, other columns as text; a ``Label`` column becomes
        the row labels (as Measure's "Display label" makes them). A table without
        rows keeps its column headings.
    title : str, optional
        Window title when shown (default "Results").
    show : bool
        Show the table window (not possible headless: the table is then only returned).

    Returns
    -------
    ij.measure.ResultsTable
    """
    import jpype
    from scyjava import jimport

    if not isinstance(table, pd.DataFrame):
        raise InputError(f"Expected a pandas DataFrame, got {type(table).__name__}.")
    ResultsTable = jimport("ij.measure.ResultsTable")
    rt = ResultsTable(jimport("java.lang.Integer")(len(table)))
    for name in table.columns:
        column = table[name]
        if len(table) == 0:  # no row: the heading alone (setValues of nothing adds no column)
            rt.setColumn(str(name), jpype.JArray(jimport("ij.macro.Variable"))(0))
        elif str(name) == "Label":  # ImageJ's row labels (Measure's "Display label"), not a text column
            for row, value in enumerate(column.astype(str)):
                rt.setLabel(value, row)
        elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            values = np.ascontiguousarray(column.to_numpy(dtype=np.float64, na_value=np.nan))
            rt.setValues(str(name), jpype.JArray(jpype.JDouble)(values))
        else:
            for row, value in enumerate(column.astype(str)):
                rt.setValue(str(name), row, value)
    if show and not jimport("java.awt.GraphicsEnvironment").isHeadless():
        rt.show(title or "Results")
    return rt


def resultstable_to_table(rt: Any, /) -> pd.DataFrame:
    """Copy an ImageJ ResultsTable into a DataFrame (numeric columns as float64, row labels as "Label")."""
    headings = [str(h) for h in rt.getHeadings()]
    data: dict[str, Any] = {}
    n = int(rt.size())
    for name in headings:
        if name in (" ", ""):
            continue
        if name == "Label":
            labels = [rt.getLabel(i) for i in range(n)]
            if all(label is not None for label in labels):  # row labels; else a text column of that name
                data["Label"] = [str(label) for label in labels]
                continue
        index = int(rt.getColumnIndex(name))
        if n == 0:
            data[name] = np.zeros(0, np.float64)
            continue
        numbers = np.asarray(rt.getColumnAsDoubles(index), dtype=np.float64)
        if np.isnan(numbers).any():
            texts = [str(s) for s in rt.getColumnAsStrings(name)]
            if any(t not in ("NaN", "") for t, v in zip(texts, numbers) if np.isnan(v)):
                data[name] = texts
                continue
        data[name] = numbers
    return pd.DataFrame(data)
