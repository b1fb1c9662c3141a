"""Shared fixtures: real data location, the session JVM, tiny synthetic images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
