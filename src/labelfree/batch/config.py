"""Options of a batch run (how and where to execute, not what to segment)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from labelfree._config import PipelineConfig, setting
from labelfree.errors import ConfigError

__all__ = ["BatchConfig", "SYNC"]

#: ``scheduler`` value that runs every input in the calling process, one after another
SYNC = "sync"

_RUN = "execution"
_STEPS = "steps"
_OUT = "outputs"


@dataclasses.dataclass
class BatchConfig(PipelineConfig):
    """How a batch run executes; JSON/YAML-serialisable like the pipeline configs (see each field's help)."""

    scheduler: str | None = setting(
        None, group=_RUN,
        help="null: the scheduler of Dask's configuration (DASK_SCHEDULER_ADDRESS or scheduler-address in "
             "~/.config/dask/*.yaml) when set, else a cluster of the kind 'cluster' started for this run; 'sync': "
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
    memory_limit: str | int | None = setting(
        "auto", group=_RUN,
        help="Memory limit per local worker, e.g. '4GB'; 'auto' shares the machine's memory; null: no limit.")
    chunk_frames: int | None = setting(
        None, group=_RUN, ge=2,
        help="Split time-lapses longer than this into chunks of this many frames, one task each (pipelines "
             "that allow it); null: one task per input file.")
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
    summary_name: str = setting("batch_summary.csv", group=_OUT,
                                help="File name of the run's summary table (CSV) in the output folder.")

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

    def check(self) -> None:
        if self.min_workers > self.n_workers:
            raise ConfigError(f"min_workers ({self.min_workers}) must not exceed n_workers ({self.n_workers}).")
        if not re.fullmatch(r"[^/\\\x00-\x1f]+\.csv", self.summary_name) or self.summary_name.startswith("."):
            raise ConfigError(f"summary_name must be a plain file name ending in .csv; got {self.summary_name!r}.")
        if isinstance(self.memory_limit, str) and self.memory_limit.strip().lower() != "auto":
            from dask.utils import parse_bytes

            try:
                parse_bytes(self.memory_limit)
            except (ValueError, TypeError):
                raise ConfigError(
                    f"memory_limit must be a size like '4GB' or '500MiB', 'auto' or null; got {self.memory_limit!r}."
                ) from None
        if isinstance(self.memory_limit, int) and self.memory_limit <= 0:
            raise ConfigError(f"memory_limit must be positive; got {self.memory_limit}.")
        if self.scheduler is not None and not self.scheduler.strip():
            raise ConfigError("scheduler must be null (local cluster), 'sync' or a scheduler address.")
