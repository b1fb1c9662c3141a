"""``run_batch``: plan the inputs, skip finished ones, run the rest, write the summary."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from labelfree._config import decline_recorded
from labelfree._progress import Progress
from labelfree._reproduce import INPUT_ENTRIES
from labelfree.batch.config import SYNC, BatchConfig
from labelfree.batch.inputs import BatchInput, channel_names_option, collect_inputs, refuse_in_memory, series_option
from labelfree.batch.messages import join_messages
from labelfree.batch.objects import PLACE_COLUMNS, input_places, write_objects_table
from labelfree.batch.state import checksum, input_fingerprint
from labelfree.batch.summary_rows import PATH_COLUMNS, EarlierRows, shown_path, shown_paths
from labelfree.batch.task import OUTPUT_KINDS, Job, result_row
from labelfree.batch.truth import (TRUTH_COLUMNS, TRUTH_COUNTS, TruthOptions, find_truths, score_against_truth,
                                   truth_folder, truth_options)
from labelfree.errors import Cancelled, ConfigError, OutputExistsError
from labelfree.run import input_files

__all__ = ["run_batch", "plan_jobs", "input_checksum", "folder_fingerprint", "SUMMARY_COLUMNS", "TRUTH_COLUMNS",
           "PENDING"]

log = logging.getLogger(__name__)

#: status of an input not finished yet, in the summary written while the run goes on
PENDING = "pending"
#: seconds between two writes of the summary while results arrive
SUMMARY_EVERY = 1.0

SUMMARY_COLUMNS = (
    "input", "series", "stem", *PLACE_COLUMNS, "status", "n_objects", "n_frames", "objects_per_frame", "seconds",
    "error", "warnings", "worker", *OUTPUT_KINDS,
)
#: summary columns of whole numbers: empty (pandas NA) for an input without one (no result; a file of one image)
COUNT_COLUMNS = ("series", "n_objects", "n_frames")


def _fingerprint_extra(item: BatchInput, bcfg: BatchConfig, input_shas: dict[str, str | None]) -> dict[str, Any]:
    described = item.describe()
    # the series only where one is read: a file of one image keeps the fingerprint (and the results) it had
    series = {"series": item.series} if item.series is not None else {}
    return {
        **series,
        "channels": described["channels"],
        "dims": described["dims"],
        "channel_names": described["channel_names"],
        "inputs_sha256": input_shas,
        "drift_correction": bcfg.drift_correction,
        "drift_backend": ("fiji" if bcfg.fiji_dir else "python") if bcfg.drift_correction else None,
        "chunk_frames": bcfg.chunk_frames,
        "tile": [bcfg.tile, bcfg.tile_overlap] if bcfg.tile else None,
    }


def input_checksum(path: Path | None, /) -> str | None:
    """SHA-256 of an input file; for an OME-Zarr folder, of its metadata and chunk listing
    (names, sizes, mtimes: see :func:`labelfree.io.ngff.ngff_fingerprint`), not its chunks;
    for any other folder (e.g. a model zoo), of its file listing (:func:`folder_fingerprint`)."""
    if path is not None and Path(path).is_dir():
        from labelfree.io.ngff import is_ngff, ngff_fingerprint

        if is_ngff(path):
            return ngff_fingerprint(path)
        return folder_fingerprint(path)
    return checksum(path)


def folder_fingerprint(path: str | Path, /) -> str:
    """SHA-256 of a folder's file listing: every file's relative name, size and modification time.

    Hidden files and folders (names starting with ``.``, e.g. a write in progress) are left
    out. Adding, removing, replacing or rewriting a file changes it (a model zoo's
    ``index.json`` is rewritten by every ``zoo add`` and ``zoo remove``); a copy of the
    folder elsewhere has new modification times, so its inputs are redone once.
    """
    import hashlib
    import os

    root = Path(path)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(f for f in filenames if not f.startswith(".")):
            f = Path(dirpath) / name
            st = f.stat()
            h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _input_paths(item: BatchInput, pipeline: Any, bcfg: BatchConfig) -> dict[str, str]:
    """The extra inputs of an input (manifest columns, else the run's defaults) by name: files to
    read, choices, and files to write (absolute); a name or a macro key (``model_file``) is accepted."""
    paths = {}
    for inp in pipeline.inputs:
        value = (item.inputs.get(inp.name) or item.inputs.get(inp.macro_key) or bcfg.inputs.get(inp.name)
                 or bcfg.inputs.get(inp.macro_key))
        if value:
            paths[inp.name] = str(Path(value).expanduser().absolute()) if inp.kind == "output" else str(value)
    return paths


def _absolute_run_inputs(bcfg: BatchConfig, pipeline: Any, /) -> BatchConfig:
    """``bcfg`` with the files its extra inputs name (``--input NAME=PATH``, a batch config's ``inputs:``, a zoo)
    made absolute against the current folder as the run starts, and so is ``fiji_dir``: Dask workers and a
    cluster's jobs may run in another folder, and the provenance records the absolute path. A manifest's columns
    are resolved against the manifest's folder already (:func:`labelfree.batch.inputs.read_manifest`); choices
    stay as they are, and so does a bare name that is no file here (a built-in cellpose model's, ``cyto3``)."""
    by_key = {key: inp for inp in pipeline.inputs for key in (inp.name, inp.macro_key)}

    def absolute(file: str, label: str) -> str:
        path = Path(file).expanduser()
        if path.exists() or "/" in file or os.sep in file or path.suffix:
            return str(path.absolute())
        return file

    inputs = {key: by_key[key].map_files(value, absolute) if key in by_key else value
              for key, value in bcfg.inputs.items()}
    changes: dict[str, Any] = {"inputs": inputs, "zoo": None} if inputs != bcfg.inputs else {}
    if bcfg.fiji_dir:  # the Fiji subprocess of a worker may start in another folder
        fiji_dir = str(Path(bcfg.fiji_dir).expanduser().absolute())
        changes.update({"fiji_dir": fiji_dir} if fiji_dir != bcfg.fiji_dir else {})
    return bcfg.replace(**changes) if changes else bcfg


def batch_input_names(pipeline: Any, /) -> dict[str, Any]:
    """Manifest columns that name a file of the pipeline's extra inputs (names and macro keys), each with its
    :class:`labelfree.spec.Input` (a manifest resolves each file a value names: Fusion's ``CHANNEL=FILE`` pairs)."""
    return {n: i for i in pipeline.inputs if i.kind != "choice" for n in (i.name, i.macro_key)}


def plan_jobs(
    items: list[BatchInput], /, *, pipeline: Any, config: Any, out_dir: Path, batch: BatchConfig
) -> tuple[list[Job], dict[str, dict[str, Any]]]:
    """Turn inputs into jobs; inputs already finished or impossible get their row at once.

    An input whose outputs exist but were made differently (another config, input or
    version) is an earlier result: unless ``batch.overwrite`` allows
    replacing it, the whole run is refused before any work starts (``force`` redoes only results
    this very run finished before: same input, options and version). A damaged set of
    LabelFree outputs (files missing or changed) is redone, and so is a finished one that lacks an output
    the run asks for (``batch.ome_zarr``).

    Returns
    -------
    jobs : list of Job
        Inputs to run.
    rows : dict
        Summary rows by stem for skipped inputs and inputs that failed before running
        (bad per-file options, unreadable files).

    Raises
    ------
    OutputExistsError
        Earlier results would be replaced and ``overwrite`` is off.
    """
    from labelfree.batch.state import earlier_result, finished_state

    overlap = pipeline.frame_overlap
    jobs: list[Job] = []
    rows: dict[str, dict[str, Any]] = {}
    conflicts: list[str] = []
    from labelfree._config import provenance_of

    recorded = provenance_of(config)
    record = None if recorded is None else recorded.record
    replace = batch.overwrite  # --force redoes a finished result of this run's own; it replaces nothing else
    # files shared by many inputs (a zoo; the positions of one file) are fingerprinted once
    known: dict[str, str | None] = {}
    labels_counted: dict[str, str | None] = {}
    listed: dict[Path, Any] = {}
    earlier_rows = EarlierRows(out_dir / batch.summary_name)  # a skipped input keeps the seconds of its run

    def checksum_once(path: str | Path, *, absent: bool = False) -> str | None:
        """:func:`input_checksum` of ``path``, once per run; ``absent``: None for a path that does not exist."""
        key = str(path)
        if key not in known:
            known[key] = None if absent and not Path(path).exists() else input_checksum(path)
        return known[key]

    for item in items:
        inputs = _input_paths(item, pipeline, batch)
        missing = _missing_series(item, listed)
        if missing:
            rows[item.stem] = result_row(item, status="failed", error=f"InputError: {missing}")
            continue
        try:
            cfg = config.replace(**item.options) if item.options else config
            sha = checksum_once(item.path)
            # each file a value names (Fusion's CHANNEL=FILE pairs: "models GFP"), a value of one file by its name
            shas = {f"{name} {label}" if label else name: checksum_once(path, absent=True)
                    for name, value in inputs.items() if pipeline.input(name).is_path
                    for label, path in (pipeline.input(name).paths(value) or {"": value}).items()}
        except (ConfigError, OSError) as exc:
            what = "bad options" if isinstance(exc, ConfigError) else "cannot read the input file"
            rows[item.stem] = result_row(item, status="failed", error=f"{what}: {type(exc).__name__}: {exc}")
            continue
        cfg_dict = cfg.to_dict()
        extra = _fingerprint_extra(item, batch, shas)
        if record is not None:  # what a record given as config repeats besides its settings
            extra["record"] = {k: record.get(k) for k in ("models", "model_file", "model_sha256", "threads")}
        others = {name: value for name, value in inputs.items() if not pipeline.input(name).is_path}
        if others:  # choices and files written (a model to save): their values, not their contents
            extra["inputs"] = others
        fp = input_fingerprint(sha, pipeline=pipeline.name, config=cfg_dict, extra=extra)
        state = finished_state(out_dir, item.stem, fingerprint=fp)
        if state is None:  # a result recorded when an OME-Zarr input's fingerprint still counted its labels/
            state = _finished_with_labels_counted(item, out_dir, fp, pipeline=pipeline.name, config=cfg_dict,
                                                  extra=extra, known=labels_counted)
        if state is not None and not batch.force and not _lacks_asked_outputs(state, batch, item.stem):
            made_by = earlier_rows.made_by(item.stem, out_dir / f"{item.stem}_provenance.json")
            rows[item.stem] = _row_from_state(item, state, out_dir, status="skipped", **made_by)
            continue
        own = state is not None  # this very result, finished earlier: --force makes it again
        earlier = None if own else earlier_result(out_dir, item.stem)
        if earlier in ("complete", "foreign") and not replace:
            conflicts.append(f"{item.stem} ({_earlier_kind(out_dir, item.stem, earlier)})")
            continue
        if earlier == "damaged":
            log.warning("batch: the outputs of %s are incomplete or changed; they are made again.", item.stem)
        jobs.append(Job(item=item, pipeline=pipeline.name, config=cfg_dict, record=record, out_dir=str(out_dir),
                        fingerprint=fp, input_sha256=sha, drift_correction=batch.drift_correction,
                        fiji_dir=batch.fiji_dir, fiji_in_worker=batch.fiji_in_worker, frame_overlap=overlap,
                        inputs=inputs, overwrite=replace or own or earlier == "damaged", tile=batch.tile,
                        tile_overlap=batch.tile_overlap, threads=batch.task_threads, ome_zarr=batch.ome_zarr))
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise OutputExistsError(
            f"{len(conflicts)} input(s) have earlier results in {out_dir} that this run would replace: {shown}. "
            "LabelFree does not replace earlier results silently: use another output folder, or allow it "
            "(CLI --overwrite, API batch={'overwrite': True})."
        )
    return jobs, rows


def _earlier_kind(out_dir: Path, stem: str, earlier: str, /) -> str:
    """What the earlier result in the way of ``stem`` is, for the refusal: a set a pipeline command (or Fiji, or
    Python) wrote, which holds no batch fingerprint; a batch run's made with other inputs, options or version;
    or files that LabelFree did not write."""
    from labelfree.io.outputs import read_manifest

    if earlier != "complete":
        return "files not written by LabelFree"
    record = read_manifest(out_dir, stem, verify=False) or {}
    if not (record.get("batch") or {}).get("fingerprint"):
        pipeline = record.get("pipeline") or "PIPELINE"
        return f"written by a single run (labelfree {pipeline}, Fiji or Python), not by batch"
    return "made with other inputs, options or version"


def _lacks_asked_outputs(state: dict[str, Any], batch: BatchConfig, stem: str, /) -> bool:
    """Whether the finished set ``state`` (its manifest) lacks an output this run asks for (``--ome-zarr``): the
    input is then made again, its set replaced whole by one that holds it, as the run's own result (no
    ``--overwrite`` needed: the same input, options and version). An output the run does not ask for is kept."""
    if batch.ome_zarr and "ome_zarr" not in (state.get("outputs") or {}):
        log.info("batch: %s was finished without its OME-Zarr labels (--ome-zarr); it is made again with them.",
                 stem)
        return True
    return False


def _finished_with_labels_counted(item: BatchInput, out_dir: Path, fingerprint: str, /, *, pipeline: str,
                                  config: dict[str, Any], extra: dict[str, Any],
                                  known: dict[str, str | None]) -> dict[str, Any] | None:
    """The manifest of an OME-Zarr input's result made when its fingerprint still counted the label images in
    its ``labels/`` group (``ngff_fingerprint(path, labels=True)``, LabelFree before they were left out), when
    that definition matches the record and every output verifies; else None (also for any other input).

    ``fingerprint`` is the input's fingerprint now, ``pipeline``, ``config`` and ``extra`` what it was made
    of (:func:`~labelfree.batch.state.input_fingerprint`); ``known`` keeps each store's old checksum for the
    other inputs of the run (the series of one container). The record is left as it is: the next rerun
    compares it the same way.
    """
    from labelfree.batch.state import finished_state
    from labelfree.io.outputs import read_manifest

    path = Path(item.path) if item.path is not None else None
    if path is None or not path.is_dir():
        return None
    recorded = ((read_manifest(out_dir, item.stem, verify=False) or {}).get("batch") or {}).get("fingerprint")
    if not recorded or recorded == fingerprint:  # no record, or this input's whose outputs do not verify
        return None
    key = str(path)
    if key not in known:
        from labelfree.io.ngff import is_ngff, ngff_fingerprint

        known[key] = ngff_fingerprint(path, labels=True) if is_ngff(path) else None
    old = known[key]
    if old is None or input_fingerprint(old, pipeline=pipeline, config=config, extra=extra) != recorded:
        return None
    log.info("batch: %s was finished when the fingerprint of %s counted its label images (labels/); the record "
             "matches that definition, so the input is skipped as finished.", item.stem, path)
    return finished_state(out_dir, item.stem, fingerprint=recorded)


def _missing_series(item: BatchInput, listed: dict[Path, Any], /) -> str | None:
    """Why the series ``item`` names cannot be read (the file holds no full-resolution series of that index),
    from the file's metadata before any work; None when it can, or when the file cannot be listed (its
    read reports why). ``listed`` keeps each file's series for the other inputs of the run."""
    from labelfree.io.series import describe_series, image_series

    if item.series is None:
        return None
    if item.path not in listed:
        try:
            listed[item.path] = image_series(item.path)
        except Exception:  # noqa: BLE001 - a file that cannot be listed fails where it is read, with its error
            listed[item.path] = None
    found = listed[item.path]
    if found is None or any(s.index == item.series for s in found):
        return None
    return (f"{item.path} has no image series {item.series} to segment: it holds {len(found)} full-resolution "
            f"image series, counted from 0 (index, name: axes, shape): {describe_series(found)} (reduced-resolution "
            "previews are not images to segment). Give one of these indices: --series N for every input, or a "
            "manifest 'series' column for this file (empty: every series of the file).")


def _row_from_state(item: BatchInput, state: dict[str, Any], out_dir: Path, *, status: str,
                    seconds: float | None, worker: str = "") -> dict[str, Any]:
    paths = {k: str(out_dir / v["file"]) for k, v in state["outputs"].items()}
    paths["provenance"] = str(out_dir / f"{item.stem}_provenance.json")
    batch = state.get("batch") or {}
    # the warnings of the run that made the result: a rerun's summary still says what to look at
    return result_row(item, status=status, n_objects=batch.get("n_objects"), n_frames=batch.get("n_frames"),
                      seconds=seconds, worker=worker, warnings=join_messages(state.get("warnings") or []), **paths)


def _wait_for_publishing(jobs: list[Job], rows: dict[str, dict[str, Any]], out_dir: Path, *,
                         timeout: float) -> None:
    """Wait until no task of this run is between its last cancellation check and its publication.

    A task checks that the run still wants it once its staging folder exists
    (:func:`labelfree.batch.task.write_result`); a staging folder of an unfinished input
    means that task is publishing now.
    """
    from labelfree.io.outputs import staging_folders

    open_stems = [job.item.stem for job in jobs if job.item.stem not in rows]
    deadline = time.time() + timeout
    while staging_folders(out_dir, open_stems):
        if time.time() >= deadline:
            log.warning("batch: outputs were still being published %.0f s after the stop; the summary may miss them "
                        "(a rerun finds them)", timeout)
            return
        time.sleep(0.1)


def _rows_finished_meanwhile(jobs: list[Job], rows: dict[str, dict[str, Any]], out_dir: Path) -> None:
    """Inputs whose task finished after the interrupt reached us: their manifest says so."""
    from labelfree.batch.state import finished_state

    for job in jobs:
        if job.item.stem not in rows:
            state = finished_state(out_dir, job.item.stem, fingerprint=job.fingerprint)
            if state is not None:
                rows[job.item.stem] = _row_from_state(job.item, state, out_dir, status="ok", seconds=None)


def _stopped_by_full_disk(exc: Any, jobs: list[Job], rows: dict[str, dict[str, Any]], items: list[BatchInput],
                          out: Path, batch: BatchConfig, places: dict[str, dict[str, str]], *,
                          notes: Iterable[str] = ()) -> Exception:
    """The error that ends a run whose output disk is full (``exc``, an
    :class:`~labelfree.errors.OutputDiskFullError` of one input): once the tasks that were publishing are
    done, the summary (unfinished inputs ``cancelled``; the run's ``notes`` in its attrs), objects table and
    report are written where there is room still, and the error says what was kept, what was not done and what
    to do. Its ``summary`` is the summary (None when it could not be written either)."""
    from labelfree.batch.dispatch import CANCEL_GRACE
    from labelfree.errors import OutputDiskFullError

    _wait_for_publishing(jobs, rows, out, timeout=CANCEL_GRACE)
    _rows_finished_meanwhile(jobs, rows, out)
    summary, written = None, f"summary: {out / batch.summary_name}"
    try:
        summary = _despite_ctrl_c("the summary", lambda: _write_summary(items, rows, out, batch, places,
                                                                      status_left="cancelled", notes=notes))
    except OSError as write_exc:  # the same full disk, most often
        written = f"the summary could not be written either ({type(write_exc).__name__}: {write_exc})"
        log.warning("batch: %s", written)
    if summary is not None:
        _write_objects(summary, out, batch)
        _write_report(summary, out)
    run_stems = {job.item.stem for job in jobs}
    n_ok = sum(1 for stem, row in rows.items() if stem in run_stems and row.get("status") == "ok")
    n_left = sum(1 for stem in run_stems if stem not in rows)
    stopped = OutputDiskFullError(
        f"Batch run stopped: {exc}. {n_ok} input(s) finished in this run and kept, {n_left} not done (no partial "
        f"outputs); {written}. Free space on that disk and run the same command again (finished inputs are "
        "skipped), or choose an output folder (-o) on another disk.",
        folder=getattr(exc, "folder", str(out)), stem=getattr(exc, "stem", ""), reason=getattr(exc, "reason", ""))
    stopped.summary = summary
    return stopped


def run_batch(
    inputs: str | Path | BatchInput | Iterable[str | Path | BatchInput],
    /,
    *,
    pipeline: str,
    out_dir: str | Path,
    config: Any = None,
    batch: BatchConfig | dict[str, Any] | str | Path | None = None,
    scheduler: Any = None,
    n_workers: int | None = None,
    progress: Any = True,
    channels: Any = None,
    channel_names: Any = None,
    dims: str | None = None,
    config_file: str | Path | None = None,
    series: int | None = None,
    truth: str | Path | None = None,
    truth_threshold: float = 0.5,
    only_annotated: bool = False,
) -> pd.DataFrame:
    """Segment many images with one pipeline, on Dask, and write every output.

    Parameters
    ----------
    inputs : folder, glob pattern, CSV/YAML manifest, image file, BatchInput, or a list
        See :func:`labelfree.batch.collect_inputs`.
    pipeline : str
        A registered pipeline's name (:func:`labelfree.pipelines.pipelines`).
    out_dir : path
        Output folder: per input ``<stem>_labels.tif``, ``_rois.zip``, ``_table.csv`` and
        ``_provenance.json`` (the manifest, written last; it records the input's fingerprint);
        plus the run's summary CSV, its objects table (``batch_objects.csv``: every finished input's
        table in one, see :func:`labelfree.batch.objects.write_objects_table`; ``batch.objects_name``)
        and ``report.html``. The folder is held for the run: a second run into it is refused.
    config : pipeline config, dict, JSON/YAML path or None
        Options of the pipeline for every input (manifests may override per file).
    batch : BatchConfig, dict, JSON/YAML path or None
        How to execute (workers, scheduler, chunks, drift correction, ...).
    scheduler : str or distributed.Client, optional
        Shortcut for ``batch.scheduler``; a Client object is used as is (and not closed).
    n_workers : int, optional
        Shortcut for ``batch.n_workers`` of the local cluster.
    progress : bool, tqdm-like or callable
        Progress over inputs (with ETA); a sink that raises Cancelled stops the run.
    channels : index, name or list, optional
        Channel(s) to segment in every input (a manifest's ``channels`` overrides it).
    channel_names : list of str or text like ``"DAPI,GFP"``, optional
        Names for every input's channels, in order (a manifest's ``channel_names`` overrides
        it): they replace the files' names for ``channels``, the channel options and a zoo.
    dims : str, optional
        Axis letters for every input without axis metadata (a manifest's ``dims`` overrides it).
    config_file : path, optional
        The file ``config`` was read from, when it was read by the caller (recorded as
        an input, never written over).
    series : int, optional
        The image series (position) to read of every input, counted from 0 (a manifest's
        ``series`` overrides it); its outputs are ``<stem>_seriesN_*``. An input that holds no
        such full-resolution series fails (its row lists the file's series). Without it, a
        file of several full-resolution images is one input per image (``<stem>_seriesN``).
    truth : folder, optional
        Ground truth to score each input's labels against, as ``labelfree eval LABELS TRUTH`` scores them
        (:func:`labelfree.batch.truth.find_truths`): the label image of the input's stem, ``<stem>.tif`` or
        ``<stem>_masks.tif`` (``_mask``, ``_labels``, ``_gt``, ``_seg``; TIFF or PNG), as
        :func:`labelfree.evaluation.folders.truth_files` finds it, or a Cell Tracking Challenge SEG folder:
        ``<stem>_GT/SEG/`` of a dataset folder (the input ``01/`` of the dataset folder itself: ``truth`` may be
        that folder) or ``<stem>/`` of ``man_segNNN.tif`` files, against which a movie is scored on its
        annotated frames only (named in the row's warnings). An input of the run; it may not be the output
        folder. A folder with ground truth for no input is refused before any work.
    truth_threshold : float
        The IoU threshold of an object match in the scores against ``truth``, in (0, 1] (``labelfree eval
        --threshold``).
    only_annotated : bool
        Score only the predicted objects that overlap a ground-truth object (``labelfree eval
        --only-annotated``): for ground truth that annotates some cells only (the Cell Tracking Challenge's
        GOWT1 and MSC), where the others would count as false positives.

    Returns
    -------
    pandas.DataFrame
        The summary, one row per input: input, series (the image series read, NA for a file
        of one image), stem, well and field (of a field of an HCS plate: ``A1``, ``0``) and image_name (the
        OME image name of a position of an OME-TIFF), each ``""`` otherwise, status (ok / skipped / failed /
        cancelled), n_objects (objects summed over frames: a 5-frame movie of 2 cells counts 10) and n_frames
        (integers, pandas ``Int64``: NA for an input without a result), objects_per_frame (n_objects /
        n_frames, 1 decimal; a still image's is its n_objects), seconds (a skipped input's: those of the run that
        made its result, from the summary that run wrote, with its worker; else empty), error, warnings (the texts
        of the warnings raised while the input was read, segmented and written, separated by `` | ``; each was
        also logged once, naming the input, and a skipped input's are those of its result's provenance),
        worker and the output paths; with ``truth``, then :data:`TRUTH_COLUMNS` (empty for an input without
        ground truth or without labels; an input whose ground truth cannot be scored, e.g. of another shape,
        says why in its ``warnings``), and the pooled total (:func:`labelfree.batch.report.truth_total`) in
        ``attrs["truth_total"]``, the scoring options in ``attrs["truth_threshold"]`` and
        ``attrs["only_annotated"]``, and the frames scored against a SEG folder by stem in ``attrs["truth_frames"]``.
        The objects table's path is in ``attrs["objects"]`` and its number of rows in ``attrs["object_rows"]``
        (absent when it is not written). ``attrs["notes"]`` lists what a person should know of the run as a
        whole (also in :func:`~labelfree.batch.format_report` and report.html, and in the summary of a cancelled
        run): the files of its folders and patterns in a microscope format that LabelFree does not read (a
        ``.czi`` beside the TIFFs), which are no inputs, with how to convert them; [] when there is nothing.

    Raises
    ------
    labelfree.errors.Cancelled
        On Ctrl-C or cancel: running tasks are cancelled, the cluster closed, no partial
        outputs left; finished inputs are kept and skipped by a rerun.
    labelfree.errors.OutputDiskFullError
        The disk of ``out_dir`` has no room left (no space, a used-up quota, a file size limit): the run stops
        at the first input that cannot be written, as on Ctrl-C (that input ``failed``, the unfinished ones
        ``cancelled`` in the summary, its ``summary`` attribute), and a rerun resumes it.
    """
    from labelfree.image import parse_channels
    from labelfree.io.outputs import OutputFolder
    from labelfree.pipelines import get_pipeline

    bcfg = BatchConfig.coerce(batch)
    client = None
    if scheduler is not None and not isinstance(scheduler, str):
        client = scheduler
    elif scheduler is not None or n_workers is not None:
        bcfg = bcfg.replace(**{k: v for k, v in (("scheduler", scheduler), ("n_workers", n_workers)) if v is not None})
    pipe = get_pipeline(pipeline)
    bcfg = _absolute_run_inputs(bcfg, pipe)  # before any check or job: workers may have another working folder
    if bcfg.tile:  # refused once, before any work, not as one failure per input
        from labelfree.run import check_tiles

        check_tiles(pipe)
    # a record given as the config gives its settings: each input's channels, dims and tiles are the batch's own
    base = decline_recorded(pipe.config_class.coerce(config, applies_record=True), *INPUT_ENTRIES)
    from labelfree.batch.report_run import run_record

    run = run_record(pipe.name, base)  # what the report says of the run: pipeline, command, version, options
    every = {"channels": parse_channels(channels),
             "channel_names": channel_names_option(channel_names), "dims": dims.upper() if dims else None}
    every = {k: v for k, v in every.items() if v is not None}
    series = series_option(series)  # a bad value is refused before the output folder is made
    refuse_in_memory(inputs)  # before the output folder is made
    out = Path(shown_path(Path(out_dir).expanduser().absolute()))  # /tmp/x/out, not /tmp/x/bin/../out
    config_files = {"config": p for p in (config if isinstance(config, (str, Path)) else None, config_file) if p}
    truth_dir = truth_folder(truth, out)
    scoring = truth_options(truth_dir, truth_threshold, only_annotated)
    if truth_dir is not None:
        config_files["ground truth folder (--truth)"] = truth_dir
    with OutputFolder(out, inputs=config_files, overwrite=bcfg.overwrite,
                      purpose=f"labelfree batch --pipeline {pipe.name}") as folder:
        # listed once the folder is held and the leftovers of an interrupted run are gone: a set whose
        # publication was cut short in a folder that is also the input folder is not taken as an input
        notes: list[str] = []  # the files left out (a .czi beside the TIFFs): in the summary and report
        items = collect_inputs(inputs, input_names=batch_input_names(pipe), series=series, needs_time=pipe.needs_time,
                               notes=notes)
        items = [dataclasses.replace(it, **{k: v for k, v in every.items() if getattr(it, k) is None}) for it in items]
        bcfg = _check_run_inputs(items, pipe, bcfg, config=base)
        files = {f"input {i}": it.path for i, it in enumerate(items)}
        # each file an input's value names (Fusion's CHANNEL=FILE pairs: each pair's file)
        files.update({f"{name} of input {i}": p for i, it in enumerate(items)
                      for name, p in input_files(pipe, it.inputs).items()})
        files.update({f"{name} (every input)": p for name, p in input_files(pipe, bcfg.inputs).items()})
        folder.add_inputs(files)
        from labelfree.io.outputs import InputIndex, check_not_input

        index = InputIndex(folder.inputs)  # every input looked at once: the checks are linear in the inputs
        for item in items:  # every path stays inside the folder, none is an input
            _check_item(folder, item, index=index)
        _check_output_files(folder, items, pipe, bcfg)
        check_not_input(folder.path / bcfg.summary_name, index, what="summary table")
        if bcfg.objects_name:
            check_not_input(folder.path / bcfg.objects_name, index, what="objects table")
        places = input_places(items)  # the well and field, or image name, of each input: from its metadata
        truths = None
        if truth_dir is not None:  # two ground truths of one input, or none for any, are refused before any work
            truths = find_truths(truth_dir, items)
        jobs, rows = plan_jobs(items, pipeline=pipe, config=base, out_dir=out, batch=bcfg)
        log.info("batch: %d inputs, %d to run, %d done or failed before running", len(items), len(jobs), len(rows))
        started = time.time()
        progress_summary = _summary_writer(items, rows, out, bcfg, places)
        from labelfree.errors import OutputDiskFullError

        try:
            with Progress(progress, total=len(items), desc=f"batch {pipe.name}") as bar:
                def ready() -> None:
                    """The inputs can run (the cluster is up): the first summary, then the inputs done before
                    running. A cluster that cannot start thus leaves no summary with every input pending."""
                    progress_summary(force=True)
                    for stem in list(rows):
                        bar.update(message=f"{stem}: {rows[stem]['status']}")

                if jobs:
                    _execute(jobs, rows, bar=bar, batch=bcfg, client=client, on_row=progress_summary, ready=ready)
                else:
                    ready()
        except OutputDiskFullError as exc:  # the run stops as a cancelled one does, and says what to do
            raise _stopped_by_full_disk(exc, jobs, rows, items, out, bcfg, places, notes=notes) from exc
        except (KeyboardInterrupt, Cancelled) as exc:
            from labelfree.batch.dispatch import CANCEL_GRACE

            _wait_for_publishing(jobs, rows, out, timeout=CANCEL_GRACE)
            _rows_finished_meanwhile(jobs, rows, out)
            summary = _despite_ctrl_c("the summary", lambda: _write_summary(items, rows, out, bcfg, places,
                                                                          status_left="cancelled", notes=notes,
                                                                          run=run))
            _write_objects(summary, out, bcfg)
            _write_report(summary, out)
            n_ok = int((summary["status"] == "ok").sum())
            raise Cancelled(
                f"Batch run interrupted: {n_ok} input(s) finished in this run and kept, "
                f"{int((summary['status'] == 'cancelled').sum())} not done (no partial outputs). "
                "Rerun the same command to finish them; finished inputs are skipped."
            ) from exc
        # every input has finished: a Ctrl-C now stops no work, so the summary and the report are still
        # written (a second Ctrl-C stops them) and the run ends with what its inputs did
        frames: dict[str, list[int]] = {}
        if truths is not None:  # the labels are published (or were, for a skipped input): read from the folder
            frames = score_against_truth(items, rows, truths, options=scoring)
        summary = _despite_ctrl_c("the summary", lambda: _write_summary(items, rows, out, bcfg, places,
                                                                      status_left="failed", truth=truth_dir,
                                                                      scoring=scoring, frames=frames, notes=notes,
                                                                      run=run))
        _write_objects(summary, out, bcfg)
        _write_report(summary, out)
    log.info("batch finished in %.1f s: %s", time.time() - started, summary["status"].value_counts().to_dict())
    return summary


def _check_item(folder: Any, item: BatchInput, *, index: Any = None) -> None:
    """A manifest's ``name`` must be a plain file name and no output may be an input (checked up front).

    ``index``: an :class:`~labelfree.io.outputs.InputIndex` of ``folder.inputs`` made once for the run (without
    it, every call looks at every input again).
    """
    from labelfree.io.outputs import OUTPUT_SUFFIXES, InputIndex, check_not_input, check_stem

    check_stem(item.stem)
    inputs = index if index is not None else InputIndex(folder.inputs)
    for suffix in OUTPUT_SUFFIXES.values():
        check_not_input(folder.path / f"{item.stem}{suffix}", inputs)


def _check_run_inputs(items: list[BatchInput], pipeline: Any, bcfg: BatchConfig, *,
                      config: Any = None) -> BatchConfig:
    """The extra inputs given for the whole run (``--zoo``, ``--input NAME=PATH``, or none), checked once
    before any work by the pipeline's ``check_inputs(inputs) -> inputs`` when its segment module has one
    (Fusion: a usable model zoo, by default the one in LabelFree's model cache, unless model files are given),
    so that a missing zoo is one error, not one failure per input. Returns the batch config with the defaults
    it filled in (so every worker gets them and the fingerprint holds them). Inputs whose manifest row names
    its own extra inputs are checked when they run (a failure of that input). A provenance record given as
    ``config`` whose run used weights files for all its channels (none from a zoo) needs no zoo: its files
    are used, and checked by their sha256, as each input runs."""
    import importlib

    from labelfree.errors import InputError

    check = getattr(importlib.import_module(pipeline.segment.partition(":")[0]), "check_inputs", None)
    if check is None or all(item.inputs for item in items):
        return bcfg
    given = _input_paths(BatchInput(Path()), pipeline, bcfg)
    try:
        checked = check(given) or {}
    except InputError:  # no zoo (ModelFileError, a bad file given, is no InputError)
        if not _record_pins_files(config):
            raise
        log.info("batch: no model zoo needed: the record given as config names the weights file of every channel")
        return bcfg
    added = {k: str(v) for k, v in checked.items() if k not in given and v is not None}
    return bcfg.replace(inputs={**bcfg.inputs, **added}) if added else bcfg


def _record_pins_files(config: Any, /) -> bool:
    """Whether ``config`` is (read from) a provenance record whose run used weights files alone, for every
    channel it segmented (no model of a zoo): a run repeating it needs no zoo."""
    from labelfree._config import provenance_of

    recorded = provenance_of(config) if config is not None else None
    models = recorded.models if recorded is not None else {}
    return bool(models) and all(m.get("file") and not m.get("id") for m in models.values())


def _check_output_files(folder: Any, items: list[BatchInput], pipeline: Any, bcfg: BatchConfig) -> None:
    """Files the run writes besides the sets (``kind="output"`` inputs, e.g. a model to save): never an
    input, in a writable folder, and not one file for several inputs (each would replace the one before).
    Nor is an annotation of one image (an input the ROI Manager may give: Cutter's markers) named once for
    several inputs (each would be cut by another image's markers)."""
    from labelfree.io.outputs import check_output_file
    from labelfree.run import output_inputs

    for inp in (i for i in pipeline.inputs if i.roi_manager):
        shared = bcfg.inputs.get(inp.name) or bcfg.inputs.get(inp.macro_key)
        users = [it.stem for it in items if not (it.inputs.get(inp.name) or it.inputs.get(inp.macro_key))]
        if shared and str(shared) not in (inp.absent, "roi_manager") and len(users) > 1:
            raise ConfigError(
                f"The {inp.name} file {shared} was given for every input (--input {inp.name}=FILE, or a batch "
                f"config's inputs:), but it marks the cells of one image, and {len(users)} inputs would use it "
                f"({', '.join(users[:3])}{', ...' if len(users) > 3 else ''}). Give each input its own file in a "
                f"manifest's {inp.name} column (docs/batch.md, Manifests: a CSV with the columns path,{inp.name}), "
                "or run one input."
            )
    written_by: dict[Path, Path] = {}
    for item in items:
        for what, path in output_inputs(pipeline, _input_paths(item, pipeline, bcfg)).items():
            target = check_output_file(path, inputs=folder.inputs, overwrite=True, what=what)
            if target in written_by:
                raise ConfigError(
                    f"The {what} {path} would be written for {written_by[target]} and for {item.path}; each input "
                    "would replace it. Give every input its own file (a manifest column), or run one input."
                )
            written_by[target] = item.path


def _summary_writer(items: list[BatchInput], rows: dict[str, dict[str, Any]], out: Path,
                    batch: BatchConfig, places: dict[str, dict[str, str]]) -> Callable[..., None]:
    """A callback that rewrites the summary (unfinished inputs ``pending``), at most every second."""
    last = [0.0]

    def write(force: bool = False) -> None:
        now = time.monotonic()
        if force or now - last[0] >= SUMMARY_EVERY or len(rows) == len(items):
            last[0] = now
            try:
                _write_summary(items, rows, out, batch, places, status_left=PENDING)
            except OSError as exc:  # the final summary is written at the end anyway
                log.warning("batch: could not update the summary while running: %s", exc)

    return write


def _despite_ctrl_c(what: str, write: Callable[[], Any], /) -> Any:
    """``write()``, done again when a Ctrl-C (KeyboardInterrupt) cut it short: the last files of a run whose
    inputs have all finished (or were cancelled) are still written. A second Ctrl-C is let through."""
    try:
        return write()
    except KeyboardInterrupt:
        log.warning("batch: Ctrl-C while writing %s, after the inputs were done or stopped: writing it anyway "
                    "(Ctrl-C again stops it).", what)
    return write()


def _write_objects(summary: pd.DataFrame, out: Path, batch: BatchConfig) -> None:
    """The run's objects table (``batch.objects_name``, :func:`labelfree.batch.objects.write_objects_table`) beside
    the summary, its path in ``summary.attrs["objects"]`` and its rows in ``attrs["object_rows"]``; none when
    ``objects_name`` is null. A table that cannot be written is logged (the earlier one is left as it was) and
    never fails the run: the summary names every input's own table. A Ctrl-C while it is written writes it anyway
    (a second one stops it)."""
    if not batch.objects_name:
        return
    path = out / batch.objects_name
    try:
        n_rows = _despite_ctrl_c(batch.objects_name, lambda: write_objects_table(summary, path))
    except KeyboardInterrupt:
        log.warning("batch: %s not written (Ctrl-C); `labelfree.batch.objects.write_objects_table` writes it from "
                    "%s.", path, summary.attrs.get("path", "the summary"))
        return
    except Exception as exc:  # noqa: BLE001 - the summary and each input's table are the record; this joins them
        log.warning("batch: %s not written: %s: %s. Each input's objects are in its own table (the summary's "
                    "'table' column); free space in %s and rerun the command to write it (finished inputs are "
                    "skipped).", path, type(exc).__name__, exc, out)
        return
    summary.attrs["objects"] = str(path)
    summary.attrs["object_rows"] = n_rows


def _write_report(summary: pd.DataFrame, out: Path) -> None:
    """``report.html`` beside the summary; a report that cannot be made never fails the run.

    A Ctrl-C while it is written (the inputs are all done, or cancelled already) does not stop the run:
    the report is written all the same; a second Ctrl-C leaves the previous report as it was (the
    report is written atomically) and the run still ends with what its inputs did.
    """
    from labelfree.batch.report import write_report

    try:
        summary.attrs["report"] = str(_despite_ctrl_c("report.html", lambda: write_report(summary, out)))
    except KeyboardInterrupt:
        from labelfree.batch.report import REPORT_NAME

        kept = "the earlier report.html is left as it was" if (out / REPORT_NAME).is_file() else "there is none"
        log.warning("batch: report.html not written (Ctrl-C); %s. `labelfree.batch.report.write_report` writes it "
                    "from %s.", kept, summary.attrs.get("path", "the summary"))
    except Exception as exc:  # noqa: BLE001 - the summary CSV is the record; the report is a view
        log.warning("batch: report.html not written: %s: %s", type(exc).__name__, exc)


def _execute(jobs: list[Job], rows: dict[str, dict[str, Any]], *, bar: Progress, batch: BatchConfig, client: Any,
             on_row: Callable[..., None], ready: Callable[[], None]) -> None:
    from labelfree.batch.cluster import dask_client
    from labelfree.batch.dispatch import run_on_dask, run_sequential

    if client is None and batch.scheduler == SYNC:
        ready()
        run_sequential(jobs, rows, bar=bar, chunk_frames=batch.chunk_frames, on_row=on_row)
        return
    with dask_client(batch, client) as dask:
        ready()
        run_on_dask(jobs, rows, bar=bar, client=dask, chunk_frames=batch.chunk_frames, io_retries=batch.io_retries,
                    on_row=on_row)


def _write_summary(items: list[BatchInput], rows: dict[str, dict[str, Any]], out: Path, batch: BatchConfig,
                   places: dict[str, dict[str, str]], *, status_left: str, truth: Path | None = None,
                   scoring: TruthOptions = TruthOptions(), frames: dict[str, list[int]] | None = None,
                   notes: Iterable[str] = (), run: dict[str, Any] | None = None) -> pd.DataFrame:
    """Write the summary CSV and return it: its path in ``attrs["path"]``, the run's ``notes`` (what a person
    should know of the run as a whole: the files of its folders that are not inputs) in ``attrs["notes"]``, the
    ``run`` (:func:`labelfree.batch.report_run.run_record`, for the report) in ``attrs["run"]``, and with
    ``truth`` the scoring attrs. Its paths are written without ``..`` (:func:`~labelfree.batch.summary_rows.
    shown_path`)."""
    from labelfree.io.atomic import write_text_atomic

    error = "" if status_left in ("cancelled", PENDING) else "no result came back from the scheduler"
    records = [{**(rows.get(it.stem) or result_row(it, status=status_left, error=error)), **places.get(it.stem, {})}
               for it in items]
    records = [shown_paths(r, (*PATH_COLUMNS, *OUTPUT_KINDS)) for r in records]  # no /tmp/x/bin/../in/a.tif
    columns = [*SUMMARY_COLUMNS, *(TRUTH_COLUMNS if truth is not None else ())]
    summary = pd.DataFrame.from_records(records, columns=columns)
    # counts stay whole numbers when some inputs have none (failed, pending): not 8.0 beside an empty cell
    counts = (*COUNT_COLUMNS, *(TRUTH_COUNTS if truth is not None else ()))
    summary = summary.astype(dict.fromkeys(counts, "Int64"))
    # the mean objects of a frame (a still image's: its objects), 1 decimal; empty without a result
    summary["objects_per_frame"] = (summary["n_objects"] / summary["n_frames"].where(summary["n_frames"] > 0)).round(1)
    summary[list(PLACE_COLUMNS)] = summary[list(PLACE_COLUMNS)].fillna("")
    if truth is not None:
        from labelfree.batch.report import truth_total

        summary["truth"] = summary["truth"].astype(object).fillna("")  # (all empty: a float column of NaN)
        summary.attrs["truth"] = str(truth)
        summary.attrs["truth_threshold"] = scoring.threshold
        summary.attrs["only_annotated"] = scoring.only_annotated
        summary.attrs["truth_frames"] = dict(frames or {})
        summary.attrs["truth_total"] = truth_total(summary)
    path = out / batch.summary_name
    write_text_atomic(path, summary.to_csv(index=False))
    summary.attrs["path"] = str(path)
    summary.attrs["notes"] = list(notes)
    if run is not None:
        summary.attrs["run"] = run
    return summary
