"""How many threads LabelFree may use: the cores this process really has, capped by the user.

``os.cpu_count()`` counts the machine's cores, not the ones a process may run on. The
cores counted here are the smallest of:

* the CPU affinity of the process (``os.sched_getaffinity``: ``taskset``, cpusets, SLURM's
  binding);
* the cgroup CPU quota (containers, SLURM's cgroup plugin): ``cpu.max`` (cgroup v2) or
  ``cpu.cfs_quota_us / cpu.cfs_period_us`` (v1), rounded up;
* SLURM's ``SLURM_CPUS_PER_TASK`` when set;

then ``LABELFREE_THREADS`` caps it. Inside a Dask worker task the default is one thread: the worker
already runs one task per thread, and more would oversubscribe. For torch's pool (Cutter, Fusion:
``limited_threads(torch=True)``) the variables torch itself reads, ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS``, cap the automatic count too (after ``LABELFREE_THREADS``), so that a command-line
run and a Python call in the same environment use the same count.

A count asked for explicitly (the ``threads`` argument: ``--threads``, ``run_pipeline(threads=)``, a
provenance record's ``threads``) is used as asked, even above the cores: torch's sums depend on the
count, so a run recorded on a 16-core node is repeated on a laptop with 16 threads (slower, same
labels). Such a request is logged once. Only the automatic count is capped at the cores.
A network called from Python outside such a run takes its count from :func:`network_threads`.
Work whose memory grows with its threads (Motion's frames in flight) also asks
:func:`threads_for_memory` how many threads the memory this process may still use allows
(``MemAvailable`` and the cgroup's memory limit on Linux, psutil's reading on macOS and Windows).
Inside :func:`limited_threads` (every pipeline run by :func:`labelfree.run.run_pipeline`), the
count it chose is what :func:`thread_count` returns to the code it runs, so one setting reaches
the pipelines' own thread pools (Motion's frames in flight).
A network's run (``limited_threads(torch=True)``) also keeps the BLAS libraries that NumPy, SciPy and
OpenCV load on one thread each (:func:`blas_threads`, through threadpoolctl), so that its labels depend
only on the count it records, not on ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from labelfree.errors import ConfigError

__all__ = ["available_cores", "thread_count", "cgroup_cpu_limit", "limited_threads", "in_dask_worker",
           "cgroup_memory_left", "available_memory", "threads_for_memory", "network_threads", "torch_limit",
           "torch_threads_set_by_user", "opencv_threads", "blas_threads"]

log = logging.getLogger(__name__)

ENV = "LABELFREE_THREADS"

#: the variables torch reads for its pool's own default, in the order it reads them (the last one set wins)
TORCH_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: the count chosen by the innermost active limited_threads() of this thread (context), else None
_chosen: contextvars.ContextVar[int | None] = contextvars.ContextVar("labelfree_threads", default=None)
#: (asked, cores) pairs already logged by _said_above_cores: each is said once per process
_said: set[tuple[int, int]] = set()
_said_memory: set[str] = set()  # why the memory left is unknown, said once each


def cgroup_cpu_limit(root: str | os.PathLike[str] = "/sys/fs/cgroup", /) -> float | None:
    """The CPU quota of this process's cgroup in cores (e.g. 1.5), or None when unlimited or unknown."""
    root = Path(root)
    try:
        text = (root / "cpu.max").read_text().split()  # cgroup v2: "max 100000" or "150000 100000"
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    for base in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota = int((base / "cpu.cfs_quota_us").read_text())
            period = int((base / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None


def available_cores() -> int:
    """The cores this process may use (affinity, cgroup quota, SLURM), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(1, cores)


#: a cgroup v1 memory limit this large means no limit (the kernel's "unlimited" is near 2**63)
_NO_LIMIT = 2**60


def cgroup_memory_left(root: str | os.PathLike[str] = "/sys/fs/cgroup", /,
                       proc_cgroup: str | os.PathLike[str] = "/proc/self/cgroup") -> int | None:
    """Bytes this process's cgroup may still use (its memory limit less its usage), or None when
    it has no limit or none is known: ``memory.max`` / ``memory.current`` (cgroup v2) or
    ``memory.limit_in_bytes`` / ``memory.usage_in_bytes`` (v1; containers, SLURM's cgroup plugin).

    The process's own cgroup is the one ``proc_cgroup`` names (a SLURM job's, e.g.
    ``/slurm/uid_1000/job_42``, below the root of ``root``), and every cgroup above it up to ``root`` limits it
    too: the least any of them has left. Where that cgroup is not found under ``root`` (a container, which sees
    its own cgroup as the root), the root's files are read.
    """
    root = Path(root)
    lefts = [left for folder in _own_cgroup_folders(root, proc_cgroup)
             if (left := _cgroup_left(folder)) is not None]
    return min(lefts) if lefts else None


def _own_cgroup_folders(root: Path, proc_cgroup: str | os.PathLike[str]) -> list[Path]:
    """The memory cgroup folders of this process under ``root``, its own first and its parents up to the root
    (v2's unified tree, v1's ``memory`` controller); the root alone when ``proc_cgroup`` names none found."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        relative = path.strip().strip("/")
        if not relative:
            continue
        if number == "0" and controllers == "":
            base = root  # v2: one tree
        elif "memory" in controllers.split(","):
            base = root / "memory" if (root / "memory").is_dir() else root
        else:
            continue
        own = base / relative
        if own.is_dir() and own != base:
            folders = [own]
            while folders[-1] != base and base in folders[-1].parents:
                folders.append(folders[-1].parent)
            return folders
    return [root]


def _cgroup_left(folder: Path, /) -> int | None:
    """Memory the cgroup ``folder`` (or the v1 ``memory`` controller below it) has left; None: no limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
                                   ("memory.limit_in_bytes", "memory.usage_in_bytes")):
        try:
            text = (folder / limit_file).read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit() or int(text) >= _NO_LIMIT:
            return None
        try:
            used = int((folder / usage_file).read_text().strip())
        except (OSError, ValueError):
            used = 0
        return max(0, int(text) - used)
    return None


def available_memory(meminfo: str | os.PathLike[str] = "/proc/meminfo",
                     cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup", /) -> int | None:
    """Bytes this process can still allocate without swapping: on Linux the system's ``MemAvailable``, capped by
    what its cgroup has left (:func:`cgroup_memory_left`); on macOS and Windows the system's available memory
    (:func:`system_available_memory`); None when none of these is known."""
    if sys.platform != "linux":
        return system_available_memory()
    values = []
    try:
        with open(meminfo) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    values.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    left = cgroup_memory_left(cgroup_root)
    if left is not None:
        values.append(left)
    return min(values) if values else None


def system_available_memory() -> int | None:
    """The system's available memory in bytes as ``psutil`` reads it, for systems without ``/proc/meminfo``:
    on Windows the physical memory not in use (``GlobalMemoryStatusEx``), on macOS the free and inactive pages
    (``host_statistics64``); None where psutil is missing (a dependency of LabelFree there) or cannot read it.
    The memory checks, the automatic chunks and tiles and the thread caps need it; without it they are skipped
    (said once in the log)."""
    try:
        import psutil
    except ImportError:
        _say_memory_unknown("psutil is not installed (pip install psutil)")
        return None
    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError, AttributeError) as err:
        _say_memory_unknown(f"psutil could not read it ({err})")
        return None


def _say_memory_unknown(why: str, /) -> None:
    """Log once per process that the memory left is unknown, and what that turns off."""
    if why not in _said_memory:
        _said_memory.add(why)
        log.warning("The memory left is unknown on this system: %s. Runs are not checked against it, and long "
                    "movies and large planes are cut into chunks or tiles only where asked (--chunk-frames, --tile; "
                    "tile= in Python).", why)


def threads_for_memory(threads: int, /, *, per_thread: int, reserve: int = 0, what: str = "work") -> int:
    """``threads`` capped so that ``threads * per_thread`` bytes fit in :func:`available_memory`
    after ``reserve`` bytes (e.g. an output still to be filled); at least 1. A cap is logged."""
    if threads <= 1 or per_thread <= 0:
        return max(1, threads)
    free = available_memory()
    if free is None:
        return threads
    fits = max(1, int((free - reserve) // per_thread))
    if fits < threads:
        log.info("%s: %d thread(s) instead of %d: %.0f MiB of memory left, about %.0f MiB per thread",
                 what, fits, threads, free / 2**20, per_thread / 2**20)
        return fits
    return threads


def in_dask_worker() -> bool:
    """True inside a task of a Dask worker."""
    import sys

    if "distributed" not in sys.modules:
        return False
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def _said_above_cores(n: int, cores: int, /) -> None:
    """Log once per process that ``n`` threads were asked for where the process may use ``cores``."""
    if n > cores and (n, cores) not in _said:
        _said.add((n, cores))
        log.info("%d threads as asked, on %d core(s): the same sums as a run on %d threads elsewhere, but slower "
                 "than %d thread(s) would be", n, cores, n, cores)


def _env_count(name: str, /) -> int | None:
    """A positive thread count in environment variable ``name`` (OpenMP's ``4,2`` form: its first number),
    else None (unset, empty or not a number, as torch and OpenMP then ignore it)."""
    text = os.environ.get(name, "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def torch_limit() -> int | None:
    """The thread count torch's pool takes from the environment (``MKL_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, as torch reads them), or None when neither is set."""
    found = None
    for name in TORCH_ENV:  # torch reads OMP_NUM_THREADS, then lets MKL_NUM_THREADS replace it
        found = _env_count(name) or found
    return found


def thread_count(threads: int | None = None, /, *, torch: bool = False) -> int:
    """Threads to use.

    ``threads`` when given (as asked, even above the cores: logged once); else the count of the
    enclosing :func:`limited_threads`; else ``LABELFREE_THREADS``; else one inside a Dask worker
    task; else, for torch's pool (``torch=True``), ``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS``
    (:func:`torch_limit`); else the available cores. The automatic counts are capped at the cores.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be a whole number >= 1 (or automatic); got {threads!r}.")
        _said_above_cores(threads, available_cores())
        return threads
    if _chosen.get() is not None:
        return _chosen.get()
    cores = available_cores()
    text = os.environ.get(ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"{ENV} must be a whole number >= 1; got {text!r}.")
        return max(1, min(cores, int(text)))
    if in_dask_worker():
        return 1
    limit = torch_limit() if torch else None
    return max(1, min(cores, limit or cores))


def _torch_default_threads() -> int:
    """The count torch's pool starts with in this process when nobody sets it: :func:`torch_limit`, else
    the physical cores among those this process may run on (torch counts a core's hyper-threads once)."""
    limit = torch_limit()
    if limit is not None:
        return limit
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            cores.add((package, (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def torch_threads_set_by_user() -> int | None:
    """torch's pool size when this process set it itself (``torch.set_num_threads``) to another count than
    torch starts with (:func:`_torch_default_threads`); None when torch is not imported or keeps its own count.

    A count set to exactly torch's own default cannot be told from it: then None.
    """
    if "torch" not in sys.modules:
        return None
    import torch

    n = int(torch.get_num_threads())
    return n if n != _torch_default_threads() else None


def network_threads(recorded: int | None = None, /) -> tuple[int, str]:
    """The torch thread count for a network that Python code runs outside a pipeline run, and what chose it.

    In order: the enclosing :func:`limited_threads` (``run_pipeline``, the command line, batch: "the run");
    ``recorded``, the ``threads`` of a provenance record given to repeat a run ("the provenance record",
    as recorded, even above the cores); the count the user set with ``torch.set_num_threads``
    (:func:`torch_threads_set_by_user`: "torch.set_num_threads"); else the command line's default,
    :func:`thread_count` with ``torch=True`` ("the default": ``LABELFREE_THREADS``, one inside a Dask
    worker, ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, the cores).
    """
    if _chosen.get() is not None:
        return _chosen.get(), "the run"
    if recorded is not None:
        return thread_count(recorded), "the provenance record"
    user = torch_threads_set_by_user()
    if user is not None:
        return user, "torch.set_num_threads"
    return thread_count(torch=True), "the default"


class _SharedSetting:
    """A process-wide thread setting (OpenCV's pool, torch's intra-op pool) that several limits may hold at once:
    nested ones (a Motion run's frame workers inside :func:`limited_threads`) and concurrent ones (two pipeline
    calls on two threads of a notebook or a napari plugin).

    The first limit to start saves the value the user had; while limits are held, the setting is the count of
    the limit that started last among those still held; when the last one ends, the saved value comes back,
    whatever order they end in. (Restoring each limit's own "previous" value instead leaves the count of
    a limit that ended earlier when limits overlap on threads.)
    """

    def __init__(self, read: Callable[[], Any], write: Callable[[Any], None], /) -> None:
        self._read, self._write = read, write  # write takes a count, or what read returned (the user's setting)
        self._lock = threading.Lock()
        self._held: list[tuple[object, int]] = []
        self._saved: Any = 0

    @contextlib.contextmanager
    def limit(self, n: int, /) -> Iterator[None]:
        token = object()
        with self._lock:
            if not self._held:
                self._saved = self._read()
            self._held.append((token, n))
            self._write(n)
        try:
            yield
        finally:
            with self._lock:
                self._held = [held for held in self._held if held[0] is not token]
                self._write(self._held[-1][1] if self._held else self._saved)


@functools.cache
def _opencv_setting() -> _SharedSetting:
    import cv2

    return _SharedSetting(cv2.getNumThreads, cv2.setNumThreads)


@functools.cache
def _torch_setting() -> _SharedSetting:
    import torch

    return _SharedSetting(torch.get_num_threads, torch.set_num_threads)


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (NumPy's, SciPy's, OpenCV's
    OpenBLAS, MKL); none without threadpoolctl (scikit-learn, a dependency, brings it)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return []
    return list(ThreadpoolController().select(user_api="blas").lib_controllers)


def _read_blas() -> tuple[tuple[Any, int], ...]:
    return tuple((lib, int(lib.num_threads)) for lib in _blas_libraries())


def _write_blas(value: int | tuple[tuple[Any, int], ...]) -> None:
    pairs = [(lib, value) for lib in _blas_libraries()] if isinstance(value, int) else value
    for lib, n in pairs:
        lib.set_num_threads(n)


_BLAS = _SharedSetting(_read_blas, _write_blas)


def blas_threads(n: int, /) -> contextlib.AbstractContextManager[None]:
    """Run a block with every BLAS library loaded in this process (threadpoolctl's ``user_api="blas"``) on ``n``
    threads; their counts before come back when the last such block of the process ends (blocks may nest and
    overlap on several threads). Without threadpoolctl, nothing is changed.

    OpenBLAS splits some sums by its thread count, which ``OMP_NUM_THREADS`` sets at import: a pipeline that keeps
    BLAS on a count of its own gives the same labels whatever the environment says.
    """
    return _BLAS.limit(n)


def opencv_threads(n: int, /) -> contextlib.AbstractContextManager[None]:
    """Run a block with OpenCV's thread pool set to ``n`` threads; the user's setting comes back when the last
    such block of the process ends (blocks may nest and overlap on several threads)."""
    return _opencv_setting().limit(n)


@contextlib.contextmanager
def limited_threads(threads: int | None = None, /, *, torch: bool = False) -> Iterator[int]:
    """Run a block with OpenCV's (and, if asked, torch's) thread pools set to :func:`thread_count`
    (with ``torch``: its automatic count also follows ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, and the BLAS
    libraries run on one thread, :func:`blas_threads`: the labels of a network's run then depend on the count
    it records and not on the environment; their heavy sums run in torch, whose pool keeps the count).

    Inside the block, :func:`thread_count` without an argument returns the same count (in
    this thread). Yields the count. The pools' sizes are process-wide: blocks may nest and run at
    once on several threads (two pipeline calls from a notebook's threads); the settings the user
    had come back when the last block ends, whatever order they end in. Without ``torch``, NumPy's BLAS
    pools are not changed; numba's never are (LabelFree's numba loops are not ``parallel``). torch's inter-op pool
    is not set (torch allows that once per process, before its first use; the pipelines run no inter-op work).
    """
    n = thread_count(threads, torch=torch)
    if torch:
        from labelfree._deps import require

        require("torch", purpose="this pipeline (Cutter and Fusion run neural networks)")
    token = _chosen.set(n)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(opencv_threads(n))
            if torch:
                stack.enter_context(_torch_setting().limit(n))
                stack.enter_context(blas_threads(1))
            yield n
    finally:
        _chosen.reset(token)
