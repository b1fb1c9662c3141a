"""The run's tables for a screen: where each input lies (well, field, image name) and one objects table.

A field of an OME-Zarr HCS plate (``plate.zarr/A/1/0``) lies in a well (``A1``: the row's name and the
column's name, as NGFF names them in the well's path ``A/1``) and is a field (``0``, its path in the well);
a position of a multi-position OME-TIFF (or one file of a multi-file OME-TIFF, as Micro-Manager saves
them) has its OME ``Image`` name (``A1_f0``). :func:`input_places` finds them from the inputs' metadata
when the run starts; :func:`write_objects_table` joins every finished input's object table into one
``batch_objects.csv``, one table at a time.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

__all__ = ["PLACE_COLUMNS", "OBJECT_LEAD_COLUMNS", "input_places", "input_place", "write_objects_table"]

log = logging.getLogger(__name__)

#: summary columns that say where an input lies: the HCS well and field, the OME image name (empty otherwise)
PLACE_COLUMNS = ("well", "field", "image_name")
#: the first columns of ``batch_objects.csv``, before the columns of the inputs' object tables
OBJECT_LEAD_COLUMNS = ("stem", "input", "series", *PLACE_COLUMNS)
#: statuses of an input with a result whose table goes into the objects table
_WITH_RESULT = ("ok", "skipped")


def input_place(item: Any, /, *, listed: dict[str, Any] | None = None) -> dict[str, str]:
    """Where one batch input lies: ``{"well": ..., "field": ..., "image_name": ...}``, each ``""`` when none.

    Parameters
    ----------
    item : labelfree.batch.BatchInput
        The input: a field of an HCS plate (its path ``plate.zarr/<row>/<column>/<field>``) gives ``well``
        (``A1``) and ``field`` (``0``); an input that names an image series, or one file of a multi-file
        OME-TIFF (a ``.ome.tif`` whose OME-XML lists positions in other files), gives the series' name
        (:func:`labelfree.io.image_series`). Anything else, or metadata that cannot be read: all empty.
    listed : dict, optional
        The series of each file read so far (path -> list), shared by the inputs of one run so that the
        positions of one file are listed once.
    """
    from labelfree.io.ngff.metadata import _plate_field

    place = dict.fromkeys(PLACE_COLUMNS, "")
    path = Path(item.path)
    try:
        found = _plate_field(path) if path.is_dir() else None
    except OSError:
        found = None
    if found is not None:
        parts = found[1].split("/")
        place["well"], place["field"] = "".join(parts[:-1]), parts[-1]
        return place
    place["image_name"] = _image_name(path, item.series, {} if listed is None else listed)
    return place


def _image_name(path: Path, series: int | None, listed: dict[str, Any], /) -> str:
    """The name of the image series ``series`` of ``path``; with no series, that of the one position a file of
    a multi-file OME-TIFF holds; else ``""``."""
    from labelfree.io.series import image_series

    if series is None and not path.name.lower().endswith((".ome.tif", ".ome.tiff")):
        return ""

    def series_of(own: bool) -> list[Any]:
        key = f"{'own' if own else 'all'}:{os.path.realpath(path)}"
        if key not in listed:
            try:
                listed[key] = image_series(path, own=own)
            except Exception as exc:  # noqa: BLE001 - a name is a courtesy: the input's read says what is wrong
                log.debug("batch: the image series of %s not listed for its name (%s)", path, exc)
                listed[key] = []
        return listed[key]

    if series is not None:
        return next((str(s.name) for s in series_of(False) if s.index == series), "")
    if len(series_of(False)) < 2:  # an OME-TIFF of one image: an ordinary file
        return ""
    own = series_of(True)
    return str(own[0].name) if len(own) == 1 else ""


def input_places(items: Iterable[Any], /) -> dict[str, dict[str, str]]:
    """:func:`input_place` of each input, by stem (the metadata of a file of several positions read once)."""
    listed: dict[str, Any] = {}
    return {item.stem: input_place(item, listed=listed) for item in items}


def _cell(value: Any, /) -> str:
    """A summary cell as CSV text: empty for a missing value, a whole number without ``.0``."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _header(path: Path, /) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def write_objects_table(summary: pd.DataFrame, path: str | os.PathLike[str], /) -> int:
    """Write one table of the objects of every input of ``summary`` with a result, atomically; return its rows.

    Each row is a row of an input's ``<stem>_table.csv``, after the columns :data:`OBJECT_LEAD_COLUMNS`
    (``stem, input, series, well, field, image_name``, from the input's summary row). Inputs ``ok`` or
    ``skipped`` (a rerun's, read from their sets) are taken in the summary's order; the columns are the union of
    the tables' in the order first met (inputs with other channels have other ``mean_<channel>`` columns), empty
    where an input's table has none. The tables' cells are copied as written (an exact copy), one table at a time:
    the memory used does not grow with the run.

    Parameters
    ----------
    summary : pandas.DataFrame
        A batch run's summary (:func:`labelfree.batch.run_batch`), with its ``table`` paths.
    path : path
        The file to write (replaced whole when the table is complete; left as it was on any error).

    Returns
    -------
    int
        The number of object rows written.
    """
    from labelfree.io.atomic import atomic_path

    sources = []
    columns: dict[str, None] = {}
    for row in summary.itertuples(index=False):
        table = _cell(getattr(row, "table", ""))
        if row.status not in _WITH_RESULT or not table:
            continue
        try:
            header = _header(Path(table))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            log.warning("batch: the object table of %s (%s) cannot be read, so its objects are not in %s: %s",
                        row.stem, table, path, exc)
            continue
        lead = [_cell(getattr(row, c, "")) for c in OBJECT_LEAD_COLUMNS]
        sources.append((Path(table), header, lead))
        columns.update(dict.fromkeys(c for c in header if c not in OBJECT_LEAD_COLUMNS))
    names = list(columns)
    n_rows = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*OBJECT_LEAD_COLUMNS, *names])
        for table, header, lead in sources:
            where = {name: i for i, name in enumerate(header)}
            picks = [where.get(name) for name in names]
            with open(table, newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                next(reader, None)
                for cells in reader:
                    writer.writerow([*lead, *(cells[i] if i is not None and i < len(cells) else "" for i in picks)])
                    n_rows += 1
    return n_rows
