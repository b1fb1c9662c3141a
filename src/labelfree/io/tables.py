"""CSV tables and the set of outputs every LabelFree entry point writes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from labelfree.errors import InputError
from labelfree.io.atomic import atomic_path, check_file_suffix
from labelfree.io.labels_tiff import as_label_image, write_labels
from labelfree.io.outputs import OUTPUT_SUFFIXES
from labelfree.io.rois import write_rois

__all__ = ["write_table", "write_outputs", "stage_outputs", "OUTPUT_SUFFIXES", "TABLE_SUFFIXES"]

log = logging.getLogger(__name__)

#: the file name suffix of the CSV :func:`write_table` writes (any case)
TABLE_SUFFIXES = (".csv",)


def _number(value: float) -> str:
    """6 significant digits, or 3 decimals where that keeps more (centroids of large images, big intensities).

    >>> [_number(v) for v in (1 / 3, 2e-7, 123456.78, 28505.4651, 200.0, -1500.0)]
    ['0.333333', '2e-07', '123456.78', '28505.465', '200', '-1500']
    """
    if -1000.0 < value < 1000.0 or value != value or abs(value) == float("inf"):
        return "%.6g" % value
    return ("%.3f" % value).rstrip("0").rstrip(".")


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    table.to_csv(path, index=False, float_format=_number, encoding="utf-8", lineterminator="\n")


def write_table(path: str | os.PathLike[str], table: Any, /) -> Path:
    """Write a table (e.g. from :func:`labelfree.measure.measure_objects`) as CSV, atomically.

    Parameters
    ----------
    path : str or path-like
        Output ``.csv`` file (any case). A path spelt as a folder (``out/``), or a name with another suffix
        (``.xls``, ``.tsv``: other formats) is refused before any work (:class:`~labelfree.errors.OutputError`).
    table : pandas.DataFrame or mapping of column -> values
        Written without the index, floats with 6 significant digits or 3 decimals, whichever
        keeps more (a centroid at 123456.78 stays 123456.78), UTF-8.

    Returns
    -------
    pathlib.Path
    """
    path = check_file_suffix(path, suffixes=TABLE_SUFFIXES, what="table file",
                             writes="a CSV table (comma-separated)")
    if not isinstance(table, pd.DataFrame):
        try:
            table = pd.DataFrame(table)
        except (TypeError, ValueError) as exc:
            raise InputError(f"table must be a pandas DataFrame or a mapping of columns of one length; got a "
                             f"{type(table).__name__} that pandas cannot make a table of ({exc}).") from exc
    with atomic_path(path) as tmp:
        _write_csv(tmp, table)
    return path


def _provenance_record(labels: Any, table: pd.DataFrame, inputs: Any) -> dict[str, Any]:
    from labelfree import __version__
    from labelfree.io.outputs import describe_inputs

    record = dict(labels.attrs.get("labelfree") or {})
    record.setdefault("pipeline", None)
    record.setdefault("version", __version__)
    described = describe_inputs(inputs)
    source = labels.attrs.get("source")
    if "image" not in described and source and Path(str(source)).exists():  # a file, or a folder of frames
        described = {"image": describe_inputs({"image": source})["image"], **described}
    if described:
        record["inputs"] = {**dict(record.get("inputs") or {}), **described}
    record["table_units"] = dict(table.attrs.get("units", {}))
    return record


def stage_outputs(
    staging: Path,
    stem: str,
    labels: Any,
    /,
    *,
    image: Any = None,
    inputs: Any = None,
    extras: Mapping[str, Callable[[Path], Any]] | None = None,
    record: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write labels TIFF, ROI zip, table and any ``extras`` into ``staging``; return (files, provenance).

    ``extras`` maps an output kind of :data:`labelfree.io.outputs.EXTRA_SUFFIXES` to a
    function that writes that file to the path it is given. ``record`` adds entries to
    the provenance (e.g. a batch run's fingerprint). An OSError met while writing into the staging folder of
    an output folder (``<folder>/.labelfree-staging/<name>``, :func:`labelfree.io.outputs.staging_folder`)
    names the output file it was for, ``<folder>/<file>``, not the staged file the user never sees.
    """
    from labelfree.io.outputs import EXTRA_SUFFIXES, STAGING_DIR
    from labelfree.measure import measure_objects

    da = as_label_image(labels)
    table = measure_objects(da, image=image)
    prov = {**_provenance_record(da, table, inputs), **dict(record or {})}
    staged = {kind: staging / f"{stem}{suffix}" for kind, suffix in OUTPUT_SUFFIXES.items() if kind != "provenance"}
    try:
        write_labels(staged["labels"], da, provenance=prov)
        write_rois(staged["rois"], da)
        _write_csv(staged["table"], table)
        for kind, writer in (extras or {}).items():
            staged[kind] = staging / f"{stem}{EXTRA_SUFFIXES[kind]}"
            writer(staged[kind])
    except OSError as exc:
        if staging.parent.name == STAGING_DIR:  # a batch task stages here too, without write_outputs' renaming
            _name_published(exc, staging, staging.parent.parent)
        raise
    return staged, prov


def write_outputs(
    out_dir: str | os.PathLike[str],
    labels: Any,
    /,
    *,
    image: Any = None,
    stem: str | None = None,
    inputs: Any = None,
    overwrite: bool = False,
    extras: Mapping[str, Callable[[Path], Any]] | None = None,
    record: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the outputs of a segmentation into ``out_dir``, as one complete set.

    Parameters
    ----------
    out_dir : str, path-like or OutputFolder
        Output folder; created when missing. Held for the time of the write (a second
        LabelFree run writing there is refused). An :class:`~labelfree.io.OutputFolder`
        the caller holds is used as it is (its inputs and overwrite setting apply).
    labels : xarray.DataArray or 2-D array
        Label image (dims from T, Z, Y, X); its ``attrs["labelfree"]`` is the provenance.
    image : xarray.DataArray or array, optional
        The segmented image, for mean intensities in the table; its ``attrs["source"]``
        (set by :func:`labelfree.io.read_image`) is recorded as the input.
    stem : str, optional
        File name prefix; default: the whole name of the image's source file without its
        image suffix (``exp1.pos1.tif`` -> ``exp1.pos1``), made plain as
        :func:`~labelfree.io.outputs.plain_stem` does (``" lead.tif"`` -> ``lead``), else
        ``"image"`` (``image_labels.tif``, ...).
    inputs : mapping role -> path, optional
        The run's input files (image, markers, config, ...): never written over, recorded
        with their SHA-256 in the provenance.
    overwrite : bool
        Replace an earlier result of the same stem (default: refuse with
        :class:`~labelfree.errors.OutputExistsError`).
    extras : mapping kind -> writer, optional
        More files of the set (``"overlay"``, ``"flow"``, ``"drift"``, ``"ome_zarr"``: a folder), each written by
        ``writer(path)``.
    record : mapping, optional
        Entries added to the provenance.

    Returns
    -------
    dict
        ``labels`` (``<stem>_labels.tif``, ImageJ hyperstack with calibration, LUT and
        provenance), ``rois`` (``<stem>_rois.zip``), ``table`` (``<stem>_table.csv``, see
        :func:`labelfree.measure.measure_objects`), any extras, and ``provenance``
        (``<stem>_provenance.json``, the manifest: written last, it holds the SHA-256 of
        every other file) -> path. The files are written into a staging folder and
        published together; a failure leaves no new file behind.
    """
    from labelfree.io.outputs import OutputFolder, output_stem, plain_stem

    if isinstance(out_dir, OutputFolder):  # a folder the caller holds (checked before its computation)
        folder = out_dir
        stem = stem or "image"
        if stem not in folder.planned:
            folder.plan(stem, extras=tuple(extras or ()))
        return _write_set(folder, stem, labels, image=image, extras=extras, record=record)
    source = getattr(image, "attrs", {}).get("source") if image is not None else None
    if isinstance(inputs, Mapping):
        all_inputs = dict(inputs or {})
    else:
        all_inputs = {f"input{i}": p for i, p in enumerate(inputs or ())}
    if source and "image" not in all_inputs:
        all_inputs["image"] = source
    if stem is None:
        stem = plain_stem(output_stem(source)) if source else "image"  # not "labels": labels_labels.tif
    with OutputFolder(out_dir, inputs=all_inputs, overwrite=overwrite, purpose="write_outputs") as folder:
        folder.plan(stem, extras=tuple(extras or ()))
        return _write_set(folder, stem, labels, image=image, extras=extras, record=record)


def _write_set(folder: Any, stem: str, labels: Any, /, *, image: Any, extras: Any, record: Any) -> dict[str, Path]:
    with folder.staging(stem) as staging:
        try:
            staged, prov = stage_outputs(staging, stem, labels, image=image, inputs=folder.inputs, extras=extras,
                                         record=record)
            return folder.publish(stem, staged, prov)
        except OSError as exc:
            _name_published(exc, staging, folder.path)
            raise


def _name_published(exc: OSError, staging: Path, folder: Path) -> None:
    """Make an error met while staging a set name the output file it was for (``<folder>/<name>``), not
    the file of that name in the private staging folder, which the user never sees."""
    inside = str(staging)

    def published(text: str) -> str:
        return text.replace(inside, str(folder))

    for attr in ("filename", "filename2"):
        name = getattr(exc, attr, None)
        if name is not None and os.fsdecode(name).startswith(inside + os.sep):
            setattr(exc, attr, published(os.fsdecode(name)))
    if getattr(exc, "__notes__", None):
        exc.__notes__ = [published(note) if isinstance(note, str) else note for note in exc.__notes__]
    if exc.errno is None and exc.args and all(isinstance(a, str) for a in exc.args):  # a LabelFree message
        exc.args = tuple(published(a) for a in exc.args)
