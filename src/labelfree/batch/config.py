"""Options of a batch run (how and where to execute, not what to segment)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Literal

from labelfree._config import ByteCount, PipelineConfig, setting
from labelfree.errors import ConfigError

__all__ = ["BatchConfig", "SYNC"]

#: ``scheduler`` value that runs every input in the calling process, one after another
SYNC = "sync"
#: the smallest ``memory_limit`` accepted for a worker (bytes): a worker holds ~300 MiB once LabelFree is imported
MIN_WORKER_MEMORY = 512 * 2**20

_RUN = "execution"
_STEPS = "steps"
_OUT = "outputs"


@dataclasses.dataclass
class BatchConfig(PipelineConfig):
    """How a batch run executes; JSON/YAML-serialisable like the pipeline configs.

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(BatchConfig)``).
    """

    scheduler: str | None = setting(
        None, group=_RUN,
        help="null: the scheduler of Dask's configuration (DASK_SCHEDULER_ADDRESS or scheduler-address in "
             "~/.config/dask/*.yaml) when set and 'cluster' is local, else a cluster of the kind 'cluster' started "
             "for this run; 'sync': "
             "no Dask, one input after another in this process; else a running scheduler's address (tcp://host:8786).")
    cluster: Literal["local", "slurm", "pbs"] = setting(
        "local", group=_RUN,
        help="The cluster started when no scheduler is given or configured: a LocalCluster, or a dask-jobqueue "
             "SLURMCluster / PBSCluster (job settings from Dask's jobqueue configuration) scaled adaptively "
             "between min_workers and n_workers.")
    n_workers: int = setting(2, group=_RUN, ge=1, help="Workers of the local cluster; the most workers of a jobqueue cluster.")
    min_workers: int = setting(0, group=_RUN, ge=0, help="Workers a jobqueue cluster keeps while idle (adaptive minimum).")
    threads_per_worker: int = setting(
        1, group=_RUN, ge=1, help="Threads per local worker (also the number of tasks a worker runs at once).")
    task_threads: int | None = setting(
        None, group=_RUN, ge=1,
        help="Threads one input may use; automatic: 1 inside a Dask worker (it already runs a task per "
             "thread), else $LABELFREE_THREADS or the cores this process may use.")
    processes: bool = setting(True, group=_RUN,
                              help="Local workers are separate processes (else threads of this process).")
    memory_limit: str | ByteCount | None = setting(
        "auto", group=_RUN,
        help="Memory limit per local worker, e.g. '4GB'; 'auto' shares the machine's memory; null: no limit.")
    chunk_frames: int | None = setting(
        None, group=_RUN, ge=2,
        help="Split time-lapses longer than this into chunks of this many frames, one task each (pipelines "
             "that allow it); null: automatic (one task per input file, unless a movie's labels would take more "
             "than half the memory one task may use: then chunks whose labels take a sixteenth of it).")
    tile: int | None = setting(
        None, group=_RUN, ge=16,
        help="Segment each plane in overlapping tiles of this many pixels (large images, pipelines that allow "
             "it); memory per task is then bounded by the tile; null: whole planes.")
    tile_overlap: int = setting(128, group=_RUN, ge=0,
                                help="Pixels each tile reads beyond its core: at least the largest object diameter.")
    inputs: dict[str, str] = setting(
        None, group=_STEPS,
        help="Extra inputs for every input file by name (e.g. {'zoo': 'models/'}); a manifest column of the "
             "same name overrides them per file.")
    zoo: str | None = setting(None, group=_STEPS,
                              help="Model zoo folder for pipelines that take one (the same as inputs: {zoo: ...}).")
    drift_correction: bool = setting(False, group=_STEPS,
                                     help="Correct stage drift of each time-lapse before segmentation.")
    fiji_dir: str | None = setting(
        None, group=_STEPS,
        help="Fiji installation for the Fiji steps (drift correction through pyimagej headless); null: Python.")
    fiji_in_worker: bool = setting(
        False, group=_STEPS,
        help="Start the JVM inside the Dask worker (by default each Fiji step runs in a fresh subprocess).")
    scheduler_timeout: float = setting(30.0, group=_RUN, gt=0,
                                       help="Seconds to wait for a connection to the scheduler.")
    io_retries: int = setting(
        2, group=_RUN, ge=0,
        help="How often an input whose file a worker cannot read or write (an I/O error on that worker) is sent "
             "to another worker before it is reported failed; errors of the input itself are never retried.")
    force: bool = setting(False, group=_OUT,
                          help="Redo inputs a previous run already finished (replacing their results).")
    overwrite: bool = setting(
        False, group=_OUT,
        help="Replace earlier results made with other inputs, options or version (default: the run is refused).")
    ome_zarr: bool = setting(
        False, group=_OUT,
        help="Also write each input's labels as <stem>_labels.ome.zarr, an OME-Zarr label image (--ome-zarr); a "
             "rerun adds it to the inputs finished without it (they are made again), and skips the others.")
    summary_name: str = setting("batch_summary.csv", group=_OUT,
                                help="File name of the run's summary table (CSV) in the output folder.")
    objects_name: str | None = setting(
        "batch_objects.csv", group=_OUT,
        help="File name of the run's objects table (CSV) in the output folder: the rows of every finished "
             "input's object table, after the columns stem, input, series, well, field, image_name; written at "
             "the end of the run (also when it is cancelled); null: not written.")

    def __post_init__(self) -> None:
        inputs: Any = self.inputs
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
            raise ConfigError(f"BatchConfig.inputs must map input names to paths; got {inputs!r}.")
        if self.zoo:
            inputs = {"zoo": str(self.zoo), **inputs}
        self.inputs = dict(inputs)
        super().__post_init__()

    @classmethod
    def from_file(cls, path: str | Path, *, applies_record: bool = False) -> "BatchConfig":
        """Read a batch config from a JSON or YAML file (see :meth:`PipelineConfig.from_file`).

        Relative paths in the file (``zoo``, ``fiji_dir``, each file an ``inputs`` value names) are relative
        to the file's folder, as a manifest's are, and the config holds them absolute: the file means the same
        files from any working folder (:func:`labelfree.batch.config_paths.paths_from_file`).

        Raises
        ------
        ConfigError
            The file cannot be read or holds a bad value; or a relative path in it names something relative
            to the current folder (where paths were read before) but not the same thing relative to the file's
            folder: the message names both.
        """
        from labelfree.batch.config_paths import paths_from_file

        return paths_from_file(super().from_file(path, applies_record=applies_record), path)

    def check(self) -> None:
        if self.min_workers > self.n_workers:
            raise ConfigError(f"min_workers ({self.min_workers}) must not exceed n_workers ({self.n_workers}).")
        if not re.fullmatch(r"[^/\\\x00-\x1f]+\.csv", self.summary_name) or self.summary_name.startswith("."):
            raise ConfigError(f"summary_name must be a plain file name ending in .csv; got {self.summary_name!r}.")
        if self.objects_name is not None and (not re.fullmatch(r"[^/\\\x00-\x1f]+\.csv", self.objects_name)
                                              or self.objects_name.startswith(".")):
            raise ConfigError(f"objects_name must be a plain file name ending in .csv, or null (no objects table); "
                              f"got {self.objects_name!r}.")
        if self.objects_name == self.summary_name:
            raise ConfigError(f"objects_name and summary_name are both {self.summary_name!r}: the objects table "
                              "would replace the summary. Give each its own file name.")
        _check_memory_limit(self.memory_limit)
        _check_scheduler(self.scheduler)


def _check_memory_limit(value: str | int | None) -> None:
    """A size a Dask worker can run in: 'auto', None (no limit), or at least :data:`MIN_WORKER_MEMORY` bytes."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return
    allowed = ("a size like '4GB' or '500MiB', 'auto' (share the machine's memory) or 'none' for no limit "
               "(--memory-limit none; null in a batch config file)")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f"memory_limit must be {allowed}; got {value!r}.")
    if isinstance(value, str):
        from dask.utils import parse_bytes

        try:
            size = parse_bytes(value)
        except (ValueError, TypeError):
            raise ConfigError(f"memory_limit must be {allowed}; got {value!r}.") from None
    else:
        size = value
    if size <= 0:
        raise ConfigError(f"memory_limit must be positive: {allowed}; got {value!r}.")
    if size < MIN_WORKER_MEMORY:
        unit = " (a number without a unit counts bytes)" if isinstance(value, int) or value.strip().isdigit() else ""
        raise ConfigError(
            f"memory_limit {value!r} is {size:,} bytes per worker{unit}, below the {MIN_WORKER_MEMORY // 2**20} MiB "
            "a Dask worker needs (a worker uses about 300 MiB once LabelFree is imported; Dask restarts a worker "
            "above 95% of its limit, over and over). Give a size with its unit, e.g. --memory-limit 4GB "
            "(memory_limit: 4GB in a batch config), 'auto' or 'none'."
        )


_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}/?")


def _check_scheduler(value: str | None) -> None:
    """None, 'sync' or a scheduler address (``tcp://host:port``); refused at once, before anything is written."""
    if value is None or value == SYNC or (isinstance(value, str) and value.startswith("inproc://")):
        return
    if isinstance(value, str) and _ADDRESS.fullmatch(value.strip()):
        return
    word = value.strip().lower() if isinstance(value, str) else ""
    hint = ""
    if word in ("local", "slurm", "pbs"):
        hint = f" To start a {word} cluster for the run, leave --scheduler out and give --cluster {word}."
    elif word in ("threads", "threading"):
        hint = " For local workers that are threads of this process, leave --scheduler out and give --in-process."
    elif word in ("processes", "multiprocessing"):
        hint = " Local worker processes are the default: leave --scheduler out."
    elif word in ("synchronous", "single-threaded"):
        hint = " For one input after another without Dask, give --scheduler sync."
    raise ConfigError(
        f"scheduler (--scheduler) must be 'sync' (no Dask: one input after another in this process) or the "
        f"address of a running "
        f"Dask scheduler, tcp://host:port (e.g. tcp://head:8786); got {value!r}. Leave it out (null) to use Dask's "
        f"configured scheduler, else a cluster started for the run, chosen with --cluster local|slurm|pbs "
        f"(BatchConfig.cluster).{hint}"
    )
