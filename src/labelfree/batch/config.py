"""Options of a batch run (how and where to execute, not what to segment)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from labelfree._config import PipelineConfig
from labelfree.errors import ConfigError

__all__ = ["BatchConfig", "SYNC"]

#: ``scheduler`` value that runs every input in the calling process, one after another
SYNC = "sync"


@dataclasses.dataclass
class BatchConfig(PipelineConfig):
    """How a batch run executes; JSON/YAML-serialisable like the pipeline configs.

    Attributes
    ----------
    scheduler : str or None
        ``None``: the scheduler named in Dask's configuration (``DASK_SCHEDULER_ADDRESS``
        or ``scheduler-address`` in ``~/.config/dask/*.yaml``) when set, else the cluster
        of ``cluster`` started for this run and closed at the end. ``"sync"``: no Dask,
        inputs run one after another in this process (the reference "sequential run").
        Any other string: the address of a running Dask scheduler (``tcp://host:8786``).
    cluster : {"local", "slurm", "pbs"}
        The cluster to start when no scheduler is given or configured: a
        ``LocalCluster``, or a dask-jobqueue ``SLURMCluster`` / ``PBSCluster`` whose job
        settings come from Dask's ``jobqueue.slurm`` / ``jobqueue.pbs`` configuration,
        scaled adaptively between ``min_workers`` and ``n_workers`` workers.
    n_workers : int
        Workers of the local cluster; the most workers of a jobqueue cluster.
    min_workers : int
        Workers a jobqueue cluster keeps while idle (adaptive minimum).
    threads_per_worker : int
        Threads per local worker (also the number of tasks a worker runs at once).
    processes : bool
        Local workers are separate processes (True) or threads of this process (False).
    memory_limit : str or None
        Memory limit per local worker, e.g. ``"4GB"``; ``"auto"`` shares the machine's
        memory between the workers; None means no limit.
    chunk_frames : int or None
        Split time-lapses longer than this into chunks of this many frames, one task each
        (only for pipelines that allow it, see :data:`labelfree.batch.chunks.FRAME_OVERLAP`).
        None: one task per input file.
    zoo : str or None
        Model zoo folder given to pipelines that take ``zoo=`` (Fusion); a manifest's
        ``zoo`` column overrides it per input.
    drift_correction : bool
        Correct stage drift of each time-lapse before segmentation.
    fiji_dir : str or None
        Fiji installation for the Fiji steps (drift correction through pyimagej headless).
        None: the pure-Python backends.
    fiji_in_worker : bool
        Start the JVM inside the Dask worker itself. By default each Fiji step runs in a
        fresh subprocess, so the JVM never shares a process with torch.
    scheduler_timeout : float
        Seconds to wait for a connection to ``scheduler``.
    io_retries : int
        How many times an input whose file a worker cannot read or write (an I/O error
        on that worker, e.g. a missing mount) is sent to another worker before it is
        reported failed. Errors of the input itself (corrupt file, bad options) are
        never retried.
    force : bool
        Redo inputs that a previous run already finished with the same input, config and
        version (by default they are skipped).
    summary_name : str
        File name of the run's summary table (CSV) in the output folder.
    """

    scheduler: str | None = None
    cluster: Literal["local", "slurm", "pbs"] = "local"
    n_workers: int = 2
    min_workers: int = 0
    threads_per_worker: int = 1
    processes: bool = True
    memory_limit: str | None = "auto"
    chunk_frames: int | None = None
    zoo: str | None = None
    drift_correction: bool = False
    fiji_dir: str | None = None
    fiji_in_worker: bool = False
    scheduler_timeout: float = 30.0
    io_retries: int = 2
    force: bool = False
    summary_name: str = "batch_summary.csv"

    def __post_init__(self) -> None:
        self._check_choices()
        if int(self.min_workers) < 0 or int(self.min_workers) > int(self.n_workers) or int(self.io_retries) < 0:
            raise ConfigError(
                f"min_workers must lie in 0..n_workers and io_retries be >= 0; got min_workers={self.min_workers}, "
                f"n_workers={self.n_workers}, io_retries={self.io_retries}."
            )
        if int(self.n_workers) < 1 or int(self.threads_per_worker) < 1:
            raise ConfigError(
                f"n_workers and threads_per_worker must be >= 1; got {self.n_workers} and "
                f"{self.threads_per_worker}."
            )
        if self.chunk_frames is not None and int(self.chunk_frames) < 2:
            raise ConfigError(f"chunk_frames must be None or >= 2 frames; got {self.chunk_frames}.")
        if not str(self.summary_name).endswith(".csv") or "/" in str(self.summary_name):
            raise ConfigError(f"summary_name must be a plain file name ending in .csv; got {self.summary_name!r}.")
        if self.scheduler is not None and not str(self.scheduler).strip():
            raise ConfigError("scheduler must be None (local cluster), 'sync' or a scheduler address.")
