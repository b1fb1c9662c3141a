"""CSV tables and the set of outputs every LabelFree entry point writes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from labelfree.errors import InputError
from labelfree.io._atomic import AtomicGroup, atomic_path
from labelfree.io.labels_tiff import as_label_image, write_labels
from labelfree.io.rois import write_rois

__all__ = ["write_table", "write_outputs", "OUTPUT_SUFFIXES"]

log = logging.getLogger(__name__)

#: file name of each output: ``<stem><suffix>``
OUTPUT_SUFFIXES = {
    "labels": "_labels.tif",
    "rois": "_rois.zip",
    "table": "_table.csv",
    "provenance": "_provenance.json",
}


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    table.to_csv(path, index=False, float_format="%.6g", encoding="utf-8", lineterminator="\n")


def write_table(path: str | os.PathLike[str], table: Any, /) -> Path:
    """Write a table (e.g. from :func:`labelfree.measure.measure_objects`) as CSV, atomically.

    Parameters
    ----------
    path : str or path-like
        Output ``.csv`` file.
    table : pandas.DataFrame or mapping of column -> values
        Written without the index, floats with 6 significant digits, UTF-8.

    Returns
    -------
    pathlib.Path
    """
    if not isinstance(table, pd.DataFrame):
        try:
            table = pd.DataFrame(table)
        except (TypeError, ValueError) as exc:
            raise InputError(f"table must be a pandas DataFrame or a mapping of columns; got {type(table).__name__}.") from exc
    path = Path(path)
    with atomic_path(path) as tmp:
        _write_csv(tmp, table)
    return path


def _provenance_record(labels: Any, table: pd.DataFrame) -> dict[str, Any]:
    from labelfree import __version__

    record = dict(labels.attrs.get("labelfree") or {})
    record.setdefault("pipeline", None)
    record.setdefault("version", __version__)
    if labels.attrs.get("source"):
        record.setdefault("source", str(labels.attrs["source"]))
    record["table_units"] = dict(table.attrs.get("units", {}))
    return record


def write_outputs(
    out_dir: str | os.PathLike[str],
    labels: Any,
    /,
    *,
    image: Any = None,
    stem: str = "labels",
) -> dict[str, Path]:
    """Write the four outputs of a segmentation into ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder; created when missing.
    labels : xarray.DataArray or 2-D array
        Label image (dims from T, Z, Y, X); its ``attrs["labelfree"]`` is the provenance.
    image : xarray.DataArray or array, optional
        The segmented image, for mean intensities in the table.
    stem : str
        File name prefix.

    Returns
    -------
    dict
        ``labels`` (``<stem>_labels.tif``, ImageJ hyperstack with calibration, LUT and
        provenance), ``rois`` (``<stem>_rois.zip``), ``table`` (``<stem>_table.csv``, see
        :func:`labelfree.measure.measure_objects`) and ``provenance``
        (``<stem>_provenance.json``) -> path. The four files appear together: each is
        written to a temporary file first and all are renamed at the end, so a failure
        leaves none of them (earlier outputs of the same name stay as they were).
    """
    from labelfree.measure import measure_objects

    if not stem or any(ch in stem for ch in "/\\") or stem in (".", ".."):
        raise InputError(f"stem must be a plain file name prefix; got {stem!r}.")
    da = as_label_image(labels)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"Output folder {out} exists and is not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / f"{stem}{suffix}" for key, suffix in OUTPUT_SUFFIXES.items()}
    table = measure_objects(da, image=image)
    record = _provenance_record(da, table)
    with AtomicGroup() as group:
        write_labels(group.path(paths["labels"]), da, provenance=record)
        write_rois(group.path(paths["rois"]), da)
        _write_csv(group.path(paths["table"]), table)
        group.path(paths["provenance"]).write_text(
            json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
