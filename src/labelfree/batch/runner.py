"""``run_batch``: plan the inputs, skip finished ones, run the rest, write the summary."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from labelfree._progress import Progress
from labelfree.batch.config import SYNC, BatchConfig
from labelfree.batch.inputs import BatchInput, collect_inputs
from labelfree.batch.state import checksum, clear_staging, input_fingerprint, is_finished, write_text_atomic
from labelfree.batch.task import OUTPUT_KINDS, Job, result_row
from labelfree.errors import Cancelled, ConfigError, InputError

__all__ = ["run_batch", "plan_jobs", "SUMMARY_COLUMNS"]

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "input", "stem", "status", "n_objects", "n_frames", "seconds", "error", "warnings", "worker", *OUTPUT_KINDS,
)


def _fingerprint_extra(item: BatchInput, bcfg: BatchConfig, markers_sha: str | None) -> dict[str, Any]:
    described = item.describe()
    return {
        "channels": described["channels"],
        "dims": described["dims"],
        "markers_sha256": markers_sha,
        "zoo": str(item.zoo or bcfg.zoo or "") or None,
        "drift_correction": bcfg.drift_correction,
        "drift_backend": ("fiji" if bcfg.fiji_dir else "python") if bcfg.drift_correction else None,
        "chunk_frames": bcfg.chunk_frames,
    }


def input_checksum(path: Path | None, /) -> str | None:
    """SHA-256 of an input file; for an OME-Zarr folder, of its metadata and chunk listing
    (names, sizes, mtimes: see :func:`labelfree.io.ngff.ngff_fingerprint`), not its chunks."""
    if path is not None and Path(path).is_dir():
        from labelfree.io.ngff import is_ngff, ngff_fingerprint

        if is_ngff(path):
            return ngff_fingerprint(path)
    return checksum(path)


def plan_jobs(
    items: list[BatchInput], /, *, pipeline: Any, config: Any, out_dir: Path, batch: BatchConfig
) -> tuple[list[Job], dict[str, dict[str, Any]]]:
    """Turn inputs into jobs; inputs already finished or impossible get their row at once.

    Returns
    -------
    jobs : list of Job
        Inputs to run.
    rows : dict
        Summary rows by stem for skipped inputs and inputs that failed before running
        (bad per-file options, unreadable files).
    """
    from labelfree.batch.chunks import frame_overlap

    overlap = frame_overlap(pipeline)
    jobs: list[Job] = []
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        try:
            cfg = config.replace(**item.options) if item.options else config
            sha, markers_sha = input_checksum(item.path), input_checksum(item.markers)
        except (ConfigError, OSError) as exc:
            what = "bad options" if isinstance(exc, ConfigError) else "cannot read the input file"
            rows[item.stem] = result_row(item, status="failed", error=f"{what}: {type(exc).__name__}: {exc}")
            continue
        cfg_dict = cfg.to_dict()
        fp = input_fingerprint(sha, pipeline=pipeline.name, config=cfg_dict,
                               extra=_fingerprint_extra(item, batch, markers_sha))
        state = None if batch.force else is_finished(out_dir, item.stem, fingerprint=fp)
        if state is not None:
            rows[item.stem] = _row_from_state(item, state, out_dir, status="skipped", seconds=0.0)
            continue
        jobs.append(Job(item=item, pipeline=pipeline.name, config=cfg_dict, out_dir=str(out_dir), fingerprint=fp,
                        input_sha256=sha, drift_correction=batch.drift_correction, fiji_dir=batch.fiji_dir,
                        fiji_in_worker=batch.fiji_in_worker, frame_overlap=overlap, zoo=batch.zoo))
    return jobs, rows


def _row_from_state(item: BatchInput, state: dict[str, Any], out_dir: Path, *, status: str,
                    seconds: float | None) -> dict[str, Any]:
    paths = {k: str(out_dir / v) for k, v in state["outputs"].items()}
    paths["state"] = str(out_dir / f"{item.stem}_batch.json")
    return result_row(item, status=status, n_objects=state.get("n_objects"), n_frames=state.get("n_frames"),
                      seconds=seconds, **paths)


def _rows_finished_meanwhile(jobs: list[Job], rows: dict[str, dict[str, Any]], out_dir: Path) -> None:
    """Inputs whose task finished after the interrupt reached us: their state file says so."""
    for job in jobs:
        if job.item.stem not in rows:
            state = is_finished(out_dir, job.item.stem, fingerprint=job.fingerprint)
            if state is not None:
                rows[job.item.stem] = _row_from_state(job.item, state, out_dir, status="ok",
                                                      seconds=state.get("seconds"))


@contextlib.contextmanager
def dask_client(batch: BatchConfig, client: Any = None) -> Iterator[Any]:
    """A ``distributed.Client``: the given one, one connected to ``batch.scheduler``, or a
    fresh LocalCluster's (closed, with its workers, on exit)."""
    from labelfree._deps import require

    distributed = require("distributed", purpose="batch runs on Dask")
    if client is not None:
        yield client
        return
    if batch.scheduler:
        try:
            remote = distributed.Client(batch.scheduler, timeout=f"{float(batch.scheduler_timeout)}s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"Cannot connect to the Dask scheduler at {batch.scheduler!r} ({exc}). Start one "
                "(`dask scheduler`, or a dask-jobqueue cluster) and pass its address, e.g. tcp://host:8786."
            ) from exc
        try:
            yield remote
        finally:
            remote.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=batch.n_workers, threads_per_worker=batch.threads_per_worker, processes=batch.processes,
        memory_limit=batch.memory_limit if batch.memory_limit is not None else 0,
        host="127.0.0.1", dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=logging.ERROR,
    )
    local = distributed.Client(cluster)
    try:
        yield local
    finally:
        local.close()
        cluster.close()


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
) -> pd.DataFrame:
    """Segment many images with one pipeline, on Dask, and write every output.

    Parameters
    ----------
    inputs : folder, glob pattern, CSV/YAML manifest, image file, BatchInput, or a list
        See :func:`labelfree.batch.collect_inputs`.
    pipeline : str
        Pipeline name from :data:`labelfree.pipelines.PIPELINES`.
    out_dir : path
        Output folder: per input ``<stem>_labels.tif``, ``_rois.zip``, ``_table.csv``,
        ``_provenance.json``, ``_batch.json`` (state); plus the run's summary CSV.
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

    Returns
    -------
    pandas.DataFrame
        The summary, one row per input: input, stem, status (ok / skipped / failed /
        cancelled), n_objects (objects summed over frames), n_frames, seconds, error,
        worker and the output paths.

    Raises
    ------
    labelfree.errors.Cancelled
        On Ctrl-C or cancel: running tasks are cancelled, the cluster closed, no partial
        outputs left; finished inputs are kept and skipped by a rerun.
    """
    from labelfree.pipelines import get_pipeline

    bcfg = BatchConfig.coerce(batch)
    client = None
    if scheduler is not None and not isinstance(scheduler, str):
        client = scheduler
    elif scheduler is not None or n_workers is not None:
        bcfg = bcfg.replace(**{k: v for k, v in (("scheduler", scheduler), ("n_workers", n_workers)) if v is not None})
    pipe = get_pipeline(pipeline)
    base = pipe.config_class.coerce(config)
    items = collect_inputs(inputs)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    clear_staging(out)
    jobs, rows = plan_jobs(items, pipeline=pipe, config=base, out_dir=out, batch=bcfg)
    log.info("batch: %d inputs, %d to run, %d done or failed before running", len(items), len(jobs), len(rows))
    started = time.time()
    try:
        with Progress(progress, total=len(items), desc=f"batch {pipe.name}") as bar:
            for stem in rows:
                bar.update(message=f"{stem}: {rows[stem]['status']}")
            if jobs:
                _execute(jobs, rows, bar=bar, batch=bcfg, client=client)
    except (KeyboardInterrupt, Cancelled) as exc:
        clear_staging(out)
        _rows_finished_meanwhile(jobs, rows, out)
        summary = _write_summary(items, rows, out, bcfg, status_left="cancelled")
        n_ok = int((summary["status"] == "ok").sum())
        raise Cancelled(
            f"Batch run interrupted: {n_ok} input(s) finished in this run and kept, "
            f"{int((summary['status'] == 'cancelled').sum())} not done (no partial outputs). "
            "Rerun the same command to finish them; finished inputs are skipped."
        ) from exc
    clear_staging(out)
    summary = _write_summary(items, rows, out, bcfg, status_left="failed")
    log.info("batch finished in %.1f s: %s", time.time() - started, summary["status"].value_counts().to_dict())
    return summary


def _execute(jobs: list[Job], rows: dict[str, dict[str, Any]], *, bar: Progress, batch: BatchConfig, client: Any) -> None:
    from labelfree.batch.dispatch import run_on_dask, run_sequential

    if client is None and batch.scheduler == SYNC:
        run_sequential(jobs, rows, bar=bar, chunk_frames=batch.chunk_frames)
        return
    with dask_client(batch, client) as dask:
        run_on_dask(jobs, rows, bar=bar, client=dask, chunk_frames=batch.chunk_frames)


def _write_summary(items: list[BatchInput], rows: dict[str, dict[str, Any]], out: Path, batch: BatchConfig,
                   *, status_left: str) -> pd.DataFrame:
    records = [rows.get(it.stem) or result_row(it, status=status_left, error="" if status_left == "cancelled"
                                               else "no result came back from the scheduler") for it in items]
    summary = pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))
    path = out / batch.summary_name
    write_text_atomic(path, summary.to_csv(index=False))
    summary.attrs["path"] = str(path)
    return summary
