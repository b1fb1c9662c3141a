"""Where a batch run executes on Dask: the client and, when the run starts one, its cluster.

In order of precedence:

1. a ``distributed.Client`` given by the caller (used as is, never closed);
2. ``BatchConfig.scheduler``: the address of a running scheduler;
3. Dask's own configuration, as cluster users already set it: the ``scheduler-address``
   key (``DASK_SCHEDULER_ADDRESS`` in the environment, or ``scheduler-address:`` in a
   ``~/.config/dask/*.yaml`` file);
4. ``BatchConfig.cluster = "slurm"`` or ``"pbs"``: a dask-jobqueue cluster whose job
   settings (cores, memory, queue, walltime, ...) come from Dask's ``jobqueue.slurm`` /
   ``jobqueue.pbs`` configuration, scaled adaptively between ``min_workers`` and
   ``n_workers`` workers and closed at the end;
5. otherwise a ``LocalCluster`` of ``n_workers`` processes, closed at the end.

Before work is sent, the versions of the client, scheduler and workers are compared
(Dask's own check, plus LabelFree's version on every worker), so a worker with another
installation fails the run at once with a clear message instead of failing inputs one by
one. Dask's INFO log lines are kept quiet unless LabelFree logs at INFO (``-v``); the workers of a local
cluster do not print the traceback of a heartbeat cut short by their own close (:func:`closing_heartbeat_plugin`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import weakref
from typing import Any, Iterator

from labelfree.errors import ConfigError, InputError

__all__ = ["CLUSTER_KINDS", "configured_scheduler", "jobqueue_cluster", "check_versions", "quiet_dask_logs",
           "dask_client", "dashboard_link", "quick_exit_plugin", "closing_heartbeat_plugin"]

log = logging.getLogger(__name__)

#: the ERROR line (with a traceback) of a worker whose heartbeat to the scheduler failed
_HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"


class _ClosingHeartbeat(logging.Filter):
    """Leaves out :data:`_HEARTBEAT_FAILED` of a worker that is closing (or closed): its close shuts the
    connections that a heartbeat still in flight waits on (``Worker.close`` closes its connection pool after
    it has set its status to closing), and the heartbeat logs the closed stream as an error with a traceback.
    A heartbeat that fails while the worker runs is still logged."""

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self._worker = weakref.ref(worker)

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_HEARTBEAT_FAILED):
            return True
        from distributed.core import Status

        worker = self._worker()
        return worker is not None and worker.status not in (Status.closing, Status.closed, Status.failed)


def closing_heartbeat_plugin() -> Any:
    """A Dask worker plugin that leaves out the traceback a worker logs when a heartbeat was in flight as it closed
    ("Failed to communicate with scheduler during heartbeat." ... "Stream is closed"; :class:`_ClosingHeartbeat`):
    at the end of a run, on a busy machine, a local cluster's worker printed it to this terminal after the run's
    own result. The filter stays after the plugin's teardown (a worker removes its plugins before it closes its
    connections); for workers that are threads of this process, :func:`dask_client` takes it off again once the
    cluster has closed. Only for the workers of a local cluster that this run starts and closes."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class QuietClosingHeartbeat(WorkerPlugin):
        name = "labelfree-quiet-closing-heartbeat"

        def setup(self, worker: Any) -> None:
            logging.getLogger("distributed.worker").addFilter(_ClosingHeartbeat(worker))

    return QuietClosingHeartbeat()


def _remove_closing_heartbeat_filters() -> None:
    logger = logging.getLogger("distributed.worker")
    for f in [f for f in logger.filters if isinstance(f, _ClosingHeartbeat)]:
        logger.removeFilter(f)


#: values of ``BatchConfig.cluster``
CLUSTER_KINDS = ("local", "slurm", "pbs")
_SUBMIT = {"slurm": "sbatch", "pbs": "qsub"}
_NOISY = ("distributed", "dask_jobqueue", "bokeh", "tornado")
#: loggers of the file readers, whose levels a local cluster's workers take from the client
#: (``labelfree.io.tiff`` passes tifffile's lines on with the file's path)
_READERS = ("tifffile", "numcodecs", "labelfree.io.tiff")


def configured_scheduler() -> str | None:
    """The scheduler address set in Dask's configuration, or None.

    Reads ``dask.config`` key ``scheduler-address`` (files and ``DASK_*`` variables
    read when dask was imported) and, for a variable set later, ``DASK_SCHEDULER_ADDRESS``.
    """
    import dask

    address = dask.config.get("scheduler-address", None) or os.environ.get("DASK_SCHEDULER_ADDRESS")
    return str(address).strip() or None if address else None


def jobqueue_cluster(kind: str, /, *, minimum: int, maximum: int, check_submit: bool = True) -> Any:
    """A dask-jobqueue cluster for ``kind`` ("slurm" or "pbs"), adapting between limits.

    Parameters
    ----------
    kind : {"slurm", "pbs"}
    minimum, maximum : int
        Workers kept at least / at most (``cluster.adapt(minimum=, maximum=)``).
    check_submit : bool
        Fail at once when the submit command (``sbatch`` / ``qsub``) is not on PATH.

    Job settings come from Dask's configuration (``jobqueue.<kind>.cores``, ``memory``,
    ``queue``, ``walltime``, ``job-extra-directives``, ...; see docs/batch.md).
    """
    from labelfree._deps import require

    if kind not in _SUBMIT:
        raise ConfigError(f"cluster must be one of {CLUSTER_KINDS}; got {kind!r}.")
    jobqueue = require("dask_jobqueue", purpose=f"batch runs on {kind.upper()}")
    if check_submit and shutil.which(_SUBMIT[kind]) is None:
        raise ConfigError(
            f"cluster={kind!r} submits Dask workers as jobs with `{_SUBMIT[kind]}`, which is not on PATH here. "
            f"Run LabelFree on the cluster's login node (or in a job), or use --scheduler ADDRESS."
        )
    cls = {"slurm": jobqueue.SLURMCluster, "pbs": jobqueue.PBSCluster}[kind]
    try:
        cluster = cls()
    except ValueError as exc:
        raise ConfigError(
            f"The {kind.upper()} cluster needs job settings in Dask's configuration ({exc}). Set at least "
            f"jobqueue.{kind}.cores and jobqueue.{kind}.memory in ~/.config/dask/jobqueue.yaml (see docs/batch.md)."
        ) from exc
    cluster.adapt(minimum=int(minimum), maximum=int(maximum))
    return cluster


def _labelfree_version() -> str:
    import labelfree

    return labelfree.__version__


def check_versions(client: Any, /) -> None:
    """Fail with :class:`ConfigError` when scheduler or workers run other versions.

    Dask's check (``client.get_versions(check=True)``: Python, dask, distributed,
    msgpack, cloudpickle, ..., numpy) and LabelFree's ``__version__`` on every worker.
    """
    from labelfree import __version__

    try:
        client.get_versions(check=True, packages=["numpy"])
    except ValueError as exc:
        raise ConfigError(
            "The Dask scheduler or workers run other package versions than this client; install the same "
            f"versions everywhere (one environment on a shared file system).\n{exc}"
        ) from exc
    found = client.run(_labelfree_version, on_error="return")
    bad = {worker: (v if isinstance(v, str) else f"cannot import labelfree ({type(v).__name__}: {v})")
           for worker, v in found.items() if v != __version__}
    if bad:
        listed = "; ".join(f"{w}: {v}" for w, v in sorted(bad.items()))
        raise ConfigError(
            f"Dask worker(s) run another LabelFree than this client ({__version__}): {listed}. Install the same "
            "LabelFree version on every worker (or start the workers from the client's environment)."
        )


@contextlib.contextmanager
def quiet_dask_logs(verbose: bool | None = None) -> Iterator[None]:
    """Raise Dask's loggers to WARNING for the duration (unless ``verbose``).

    ``verbose=None`` follows LabelFree's own logging: quiet unless ``labelfree`` logs at
    INFO (the CLI's ``-v``).
    """
    if verbose is None:
        verbose = logging.getLogger("labelfree").isEnabledFor(logging.INFO)
    loggers = [logging.getLogger(name) for name in _NOISY]
    levels = [lg.level for lg in loggers]
    if not verbose:
        for lg in loggers:
            lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _set_log_levels(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if name.startswith("labelfree") and not logger.handlers and not logging.getLogger().handlers:
            # a worker process has no handler: Python's last resort prints WARNING lines only, and the
            # INFO lines that `labelfree -v` asks for would be lost
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.propagate = False


def reader_log_plugin() -> Any:
    """A Dask worker plugin that gives every worker (also those started later) this process's
    effective levels of the file readers' loggers (``tifffile``, ``numcodecs``, ``labelfree.io.tiff``)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class ReaderLogLevels(WorkerPlugin):
        name = "labelfree-reader-log-levels"

        def __init__(self, levels: dict[str, int]) -> None:
            self.levels = levels

        def setup(self, worker: Any) -> None:
            _set_log_levels(self.levels)

    return ReaderLogLevels({name: logging.getLogger(name).getEffectiveLevel() for name in _READERS})


def quick_exit_plugin() -> Any:
    """A Dask worker plugin that, when its worker closes, freezes Python's garbage collector (``gc.freeze``).

    A worker process that has run LabelFree holds many objects (numba, scikit-image, OpenCV, the
    pipeline's modules). After the worker has closed, the process ends with Python's finalisation,
    whose garbage collections go over all of them: most of a worker's exit (py-spy on Motion
    workers: about 0.9 s in ``gc_collect_main``; 1.0 to 1.9 s in all under a load of 4 to 8 on two
    cores). The nanny kills a worker that has not exited 4 seconds after it was asked to close, with
    "Worker process still alive after 4.0 seconds, killing" (distributed.nanny, WARNING): on a busy
    machine at the end of good runs. Frozen objects are left out of those collections; the process
    ends in under 0.2 s, and its memory goes back to the system as the process ends. Only for
    worker processes that this run started and closes (never threads of this process, nor the
    workers of a running scheduler, which may live on).
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class QuickExit(WorkerPlugin):
        name = "labelfree-quick-exit"

        def teardown(self, worker: Any) -> None:
            import gc

            gc.freeze()  # the worker has closed: its objects stay until the process ends, unvisited

    return QuickExit()


def dashboard_link(client: Any, /) -> str | None:
    """The client's dashboard URL, or None when the scheduler serves none."""
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - no dashboard (bokeh missing, or disabled)
        return None
    return str(link) if link else None


def _default_client(distributed: Any) -> Any:
    try:
        return distributed.default_client()
    except ValueError:
        return None


def _connect(distributed: Any, address: str, timeout: float, where: str) -> Any:
    before = _default_client(distributed)
    try:
        return distributed.Client(address, timeout=f"{float(timeout)}s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:  # a bad address is a ValueError or TypeError
        failed = _default_client(distributed)
        if failed is not None and failed is not before:
            # the Client that failed made itself dask's default and would stay it until garbage-collected:
            # every later dask computation in this process would wait for it
            with contextlib.suppress(Exception):
                failed.close()
        raise InputError(
            f"Cannot connect to the Dask scheduler at {address!r} ({where}; {type(exc).__name__}: {exc}). Give the "
            "address of a running scheduler, tcp://host:port (start one with `dask scheduler`, or a dask-jobqueue "
            "cluster), e.g. tcp://host:8786; or 'sync' to run without Dask."
        ) from exc


def _local_cluster(distributed: Any, batch: Any) -> Any:
    """A LocalCluster for ``batch``; a cluster that does not start is one :class:`InputError` that says what to do."""
    # Dask's in-process transport (processes=False) takes no host; worker processes listen on this machine only
    host = {"host": "127.0.0.1"} if batch.processes else {}
    try:
        return distributed.LocalCluster(
            n_workers=batch.n_workers, threads_per_worker=batch.threads_per_worker, processes=batch.processes,
            memory_limit=batch.memory_limit if batch.memory_limit is not None else 0, dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.WARNING, **host,
        )
    except Exception as exc:  # Dask raises RuntimeError (and others) when a cluster cannot start
        causes, cause = [], exc
        while cause is not None and len(causes) < 5:
            causes.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__ or cause.__context__
        found = "; ".join(dict.fromkeys(causes))
        if batch.processes and "Nanny failed to start" in found:
            raise InputError(
                f"The local Dask cluster could not start its worker processes ({found}). Each worker process "
                "starts by importing the script that called run_batch (multiprocessing 'spawn'), so a script that "
                "calls run_batch at its top level starts the run again in every worker. Put the call under "
                "`if __name__ == \"__main__\":` (see docs/batch.md, Python API); or run without worker processes: "
                "BatchConfig(processes=False) (CLI --in-process) or scheduler='sync'."
            ) from exc
        raise InputError(
            f"The local Dask cluster did not start ({found}). Try fewer workers (--workers), threads instead of "
            "worker processes (--in-process, BatchConfig(processes=False)), or no Dask (--scheduler sync); "
            "`labelfree -v batch ...` shows Dask's log."
        ) from exc


def _dask_scheduler_setting() -> tuple[bool, Any]:
    """Whether Dask's configuration sets a ``scheduler``, and its value (a Client made sets it to its own)."""
    import dask

    return "scheduler" in dask.config.config, dask.config.config.get("scheduler")


def _restore_dask_scheduler(setting: tuple[bool, Any], /) -> None:
    """Put Dask's ``scheduler`` setting back as :func:`_dask_scheduler_setting` found it. A Client puts it back when it
    closes, but not when its close is cut short (a run stopped while in-process workers were still busy), which
    left ``dask.distributed`` set without a Client: every later ``compute`` of this process then failed."""
    import dask

    had, value = setting
    if (had, value) == _dask_scheduler_setting():
        return
    if had:
        dask.config.config["scheduler"] = value
    else:
        dask.config.config.pop("scheduler", None)


@contextlib.contextmanager
def dask_client(batch: Any, client: Any = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``batch`` (a BatchConfig); see the module docstring.

    Versions are checked before it is yielded; what this function started (client,
    cluster, its workers or jobs) is closed on exit.
    """
    from labelfree._deps import require

    distributed = require("distributed", purpose="batch runs on Dask")
    with quiet_dask_logs(), contextlib.ExitStack() as stack:
        if client is None:  # the Client made here becomes Dask's default scheduler; it is put back on exit, last
            stack.callback(_restore_dask_scheduler, _dask_scheduler_setting())
            address, where = batch.scheduler, "BatchConfig.scheduler"
            if not address and batch.cluster == "local":
                address, where = configured_scheduler(), "Dask configuration 'scheduler-address'"
            if address:
                client = stack.enter_context(_connect(distributed, address, batch.scheduler_timeout, where))
                log.info("batch: using the Dask scheduler at %s (%s)", address, where)
            elif batch.cluster in _SUBMIT:
                cluster = stack.enter_context(jobqueue_cluster(batch.cluster, minimum=batch.min_workers,
                                                               maximum=batch.n_workers))
                client = stack.enter_context(distributed.Client(cluster))
                log.info("batch: %s cluster, %d to %d workers (adaptive)", batch.cluster.upper(), batch.min_workers,
                         batch.n_workers)
            else:  # (in-process workers filter this process's log: taken off after the cluster has closed)
                stack.callback(_remove_closing_heartbeat_filters)
                cluster = stack.enter_context(_local_cluster(distributed, batch))
                client = stack.enter_context(distributed.Client(cluster))
                client.register_plugin(closing_heartbeat_plugin())
                if batch.processes:  # its workers print to this terminal: they log as this process does
                    client.register_plugin(reader_log_plugin())
                    client.register_plugin(quick_exit_plugin())  # and end without a kill when they close
        check_versions(client)
        link = dashboard_link(client)
        if link:
            log.info("batch: Dask dashboard at %s", link)
        yield client
