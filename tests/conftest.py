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
    processes, so a test can stop one) and ``start_worker()`` (adds one more).
    """
    pytest.importorskip("distributed")
    import socket
    import subprocess
    import sys
    import time

    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        pytest.skip(f"the dask command is absent beside {sys.executable}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask_logs")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    procs = []

    def spawn(args, name):
        log = open(logs / f"{name}.log", "w")
        proc = subprocess.Popen([str(dask_cli), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=str(logs))
        procs.append(proc)
        return proc

    spawn(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0",
           "--no-show"], "scheduler")
    workers = []

    def start_worker():
        proc = spawn(["worker", address, "--nworkers", "1", "--nthreads", "1", "--memory-limit", "0",
                      "--host", "127.0.0.1", "--no-dashboard"], f"worker{len(workers)}")
        workers.append(proc)
        return proc

    for _ in range(2):
        start_worker()
    from distributed import Client

    deadline = time.time() + 60
    try:
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.time()))
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield {"address": address, "workers": workers, "start_worker": start_worker, "logs": logs}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
