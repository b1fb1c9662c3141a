"""Shared fixtures: real data location, the session JVM, tiny synthetic images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Torch picks its CPU kernels by the CPU (AVX2, AVX-512), and the tests' tiny seeded trainings (Fusion's demo
# model, its diameter search) end elsewhere on each, by rounding alone: on an AVX2 machine the Fusion demo
# scored F1 0.814 where it scores 0.85 or more on these kernels. One path on every x86 machine: ATen's
# portable kernels and oneDNN at most AVX2 (set before torch is imported; subprocesses inherit them).
os.environ.setdefault("ATEN_CPU_CAPABILITY", "default")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LABELFREE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data (real microscopy with ground truth); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set LABELFREE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def msc_dir(shared_data: Path) -> Path:
    """The Fluo-C2DL-MSC/01 time-lapse of the Cell Tracking Challenge."""
    path = shared_data / "ctc" / "Fluo-C2DL-MSC"
    if not (path / "01").is_dir():
        pytest.skip(f"{path}/01 is absent")
    return path


def _jvm_unavailable_reason() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (apt-get install default-jre)"
    jar = os.environ.get("LABELFREE_IJ_JAR", "/usr/share/java/ij.jar")
    if not Path(jar).is_file():
        return f"no ImageJ jar at {jar} (apt-get install libij-java)"
    if not os.environ.get("DISPLAY"):
        return "no display: run the JVM tests under Xvfb (xvfb-run -a python -m pytest)"
    return None


@pytest.fixture(scope="session")
def ij():
    """One ImageJ 1.x session for the whole test run (JVM under Xvfb).

    Returns the object given by :func:`labelfree.imagej.start`.
    """
    reason = _jvm_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from labelfree.imagej import start

    return start(headless=False)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A real Dask cluster on 127.0.0.1: ``dask scheduler`` and two ``dask worker`` processes.

    Returns a dict with ``address`` (tcp://127.0.0.1:PORT), ``workers`` (the worker
    processes; their pids are the workers' pids), ``start_worker(prefix=(), name=None,
    pythonpath=None)`` (one more worker, optionally run under a command such as
    ``unshare`` or with another PYTHONPATH) and ``stop_worker(proc)``.
    """
    pytest.importorskip("distributed")
    import socket
    import subprocess
    import sys
    import time

    from distributed import Client

    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        pytest.skip(f"the dask command is absent beside {sys.executable}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask_logs")
    procs, workers = [], []

    def spawn(cmd, name, pythonpath=None):
        env = {**os.environ, "PYTHONPATH": str(pythonpath or REPO / "src")}
        with open(logs / f"{name}.log", "w") as log:
            proc = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(logs))
        procs.append(proc)
        return proc

    def n_workers():
        with Client(address, timeout="10s") as client:
            return len(client.scheduler_info()["workers"])

    def wait_for(count, timeout=60.0):
        deadline = time.time() + timeout
        while True:
            try:
                if n_workers() == count:
                    return
            except (OSError, TimeoutError):
                pass
            if time.time() > deadline:
                raise TimeoutError(f"the test cluster did not reach {count} workers; logs in {logs}")
            time.sleep(0.3)

    def start_worker(prefix=(), name=None, pythonpath=None):
        before = n_workers()
        name = name or f"w{len(workers)}"
        proc = spawn([*prefix, dask_cli, "worker", address, "--nworkers", "1", "--nthreads", "1",
                      "--memory-limit", "0", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard", "--name", name],
                     name, pythonpath)
        workers.append(proc)
        wait_for(before + 1)
        return proc

    def stop_worker(proc):
        before = n_workers()
        proc.terminate()
        proc.wait(timeout=20)
        workers.remove(proc)
        wait_for(before - 1)

    spawn([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", port, "--dashboard-address", ":0", "--no-show"],
          "scheduler")
    try:
        deadline = time.time() + 60
        while True:
            try:
                n_workers()
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        for _ in range(2):
            start_worker()
        yield {"address": address, "workers": workers, "start_worker": start_worker, "stop_worker": stop_worker,
               "logs": logs}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


class UserRuns:
    """The ``labelfree`` command as a user runs it, and what a run may leave behind (output-safety tests).

    ``run(*args, cwd=...)`` starts ``python -m labelfree ARGS`` in a new process with umask 022
    (``script=`` runs that Python file instead of ``-m labelfree``, ``prefix=`` puts a command
    such as ``setpriv ...`` in front); ``digest(folder)`` maps every file below ``folder`` to its
    SHA-256; ``strays(folder)`` lists what no finished run may leave (``.part`` files, staging
    folders, locks); ``assert_one_error(proc, *words)`` checks exit code 1, one ``labelfree: error:``
    line naming ``words`` and no traceback.
    """

    SRC = Path(__file__).resolve().parents[1] / "src"
    STRAY = (".labelfree-staging", ".labelfree.lock")

    def env(self, **extra: str) -> dict:
        paths = [str(self.SRC), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}

    def command(self, *args, script=None, prefix=()) -> list:
        import sys

        head = [sys.executable, str(script)] if script else [sys.executable, "-m", "labelfree"]
        return [*map(str, prefix), *head, *map(str, args)]

    def run(self, *args, cwd, script=None, prefix=(), timeout=600, env=None):
        import subprocess

        return subprocess.run(self.command(*args, script=script, prefix=prefix), cwd=str(cwd), capture_output=True,
                              text=True, timeout=timeout, env=env or self.env(), preexec_fn=lambda: os.umask(0o022))

    def popen(self, *args, cwd, script=None, env=None):
        import subprocess

        return subprocess.Popen(self.command(*args, script=script), cwd=str(cwd), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env or self.env(),
                                preexec_fn=lambda: os.umask(0o022))

    @staticmethod
    def digest(folder: Path) -> dict:
        import hashlib

        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(Path(folder).rglob("*")) if p.is_file()}

    def strays(self, folder: Path) -> list:
        folder = Path(folder)
        if not folder.exists():
            return []
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                      if p.name.endswith(".part") or p.name in self.STRAY)

    @staticmethod
    def assert_one_error(proc, *words: str) -> str:
        """The run failed (exit 1) with one LabelFree error line holding ``words``; return that line."""
        text = proc.stderr
        assert "Traceback" not in text + proc.stdout, text
        errors = [line for line in text.splitlines() if line.startswith("labelfree: error:")]
        assert proc.returncode == 1 and len(errors) == 1, (proc.returncode, text)
        for word in words:
            assert word in errors[0], (word, errors[0])
        return errors[0]


@pytest.fixture
def labels_alone_in_memory_check(monkeypatch) -> None:
    """The memory check before a run counts the labels alone: for tests that scale a long movie's labels down to
    small frames, where a pipeline's measured work on one frame (Motion: 138 bytes a pixel, 69 frames' labels) would
    not fit in the memory they set."""
    from labelfree import _label_memory

    counted = _label_memory.run_bytes
    monkeypatch.setattr(_label_memory, "run_bytes", lambda *a, **k: (counted(*a, **k)[0], 0))


@pytest.fixture(scope="session")
def user_runs() -> UserRuns:
    """See :class:`UserRuns`."""
    return UserRuns()


# ---- test processes -----------------------------------------------------------------------------------------------

#: memory one test process may need at once (the largest tests hold about 1.5 GB: merges, memory-mapped movies)
_BYTES_PER_TEST_PROCESS = 3 * 2**30


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one test process per core this process may use (affinity, cgroup quota,
    SLURM; not the machine's count, which a container's quota does not lower), at most 4 and as many as the free
    memory holds at 3 GiB each. On 2 cores the suite takes about half the time of one process."""
    from labelfree._threads import available_cores, available_memory

    workers = min(4, available_cores())
    free = available_memory()
    if free is not None:
        workers = min(workers, free // _BYTES_PER_TEST_PROCESS)
    return max(1, int(workers))


# ---- the JVM beside Dask's threads --------------------------------------------------------------------------------

def pytest_runtest_teardown(item, nextitem):
    """Once a test has started the JVM in this process, Python's garbage collections no longer call Java's: JPype
    adds a callback (``_jpype._collect``) to :data:`gc.callbacks` that does, and a test process whose JVM ran the
    ImageJ tests then ran an in-process Dask batch hung for good (seen once, in a run of the suite on 2 workers: every
    Python and Java thread waiting on a lock, one of them in a garbage collection inside a Dask thread). The JVM's own
    collector still runs as Java needs it."""
    import gc
    import sys

    jpype_module = sys.modules.get("_jpype")
    collect = getattr(jpype_module, "_collect", None)
    if collect is not None and any(c is collect for c in gc.callbacks):
        gc.callbacks[:] = [c for c in gc.callbacks if c is not collect]


# ---- the end of the test process ---------------------------------------------------------------------------------

def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


_EXIT_STATUS = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """After the last report, a session that started the JVM ends its process with the session's exit status,
    without Python's teardown of the interpreter: there JPype shuts the JVM down, with the AWT windows, dialogs
    and event threads of the ImageJ tests, and that teardown crashed the process (a segmentation fault after every
    test had passed, exit status 139) in 2 of 3 full runs of the suite. Users' processes do not shut a JVM
    down this way after hundreds of dialogs; the test process need not either."""
    import sys

    jpype = sys.modules.get("jpype")
    if jpype is None or not jpype.isJVMStarted() or _EXIT_STATUS not in config.stash:
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(config.stash[_EXIT_STATUS])
