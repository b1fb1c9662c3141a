"""Batch runs on a real Dask cluster (``dask scheduler`` + ``dask worker`` processes started
by the tests): Dask's configuration honoured, I/O failures retried on another worker,
versions checked, cancellation that leaves the summary agreeing with disk, chunk tasks
that read their own frames, and the jobqueue option."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelfree.batch import BatchConfig, run_batch
from labelfree.errors import Cancelled, ConfigError

pytestmark = pytest.mark.slow


def _worker_pids(summary: pd.DataFrame) -> set[int]:
    return {int(w.rsplit(":", 1)[1]) for w in summary["worker"] if isinstance(w, str) and ":" in w}


def _states(out: Path) -> set[str]:
    """Stems published as complete sets (their manifest, written last, verifies)."""
    from labelfree.io import read_manifest

    stems = {p.name[: -len("_provenance.json")] for p in out.glob("*_provenance.json")}
    return {s for s in stems if read_manifest(out, s) is not None}


@pytest.fixture()
def crops(real_crops, tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted(real_crops["dir"].glob("SIMplus_*.tif")):
        shutil.copy(path, folder / path.name)
    return folder


def test_scheduler_from_dask_configuration_is_used(crops, dask_cluster, tmp_path, monkeypatch, caplog):
    import dask

    cluster_pids = {p.pid for p in dask_cluster["workers"]}
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_cluster["address"])
    with caplog.at_level(logging.INFO, logger="labelfree"):
        summary = run_batch(crops, pipeline="threshold", out_dir=tmp_path / "env", progress=False)
    assert (summary["status"] == "ok").all() and _worker_pids(summary) <= cluster_pids
    assert "Dask dashboard at http://127.0.0.1:" in caplog.text  # the scheduler serves one on a free port
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    with dask.config.set({"scheduler-address": dask_cluster["address"]}):
        again = run_batch(crops, pipeline="threshold", out_dir=tmp_path / "cfg", progress=False)
    assert _worker_pids(again) <= cluster_pids


def test_dask_info_lines_stay_quiet_unless_verbose(crops, dask_cluster, tmp_path, capfd):
    script = textwrap.dedent(f"""
        import logging, sys
        logging.basicConfig(level=logging.INFO if sys.argv[1] == "-v" else logging.WARNING)
        from labelfree.batch import run_batch
        run_batch({str(crops)!r}, pipeline="threshold", out_dir=sys.argv[2], batch={{"n_workers": 1}},
                  progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    quiet = subprocess.run([sys.executable, "-c", script, "-q", str(tmp_path / "q")], capture_output=True, text=True,
                           env=env, timeout=120)
    loud = subprocess.run([sys.executable, "-c", script, "-v", str(tmp_path / "v")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert "INFO" not in quiet.stderr, quiet.stderr
    assert "distributed" in loud.stderr and "Dask dashboard" in loud.stderr


def test_worker_io_failure_is_retried_on_another_worker_but_input_errors_are_not(
        crops, dask_cluster, tmp_path, caplog):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root to hide a folder from one worker")
    (crops / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    # a worker in its own mount namespace sees an empty folder where the inputs are
    blind = dask_cluster["start_worker"](
        prefix=["unshare", "-m", "--propagation", "private", "sh", "-c", f'mount -t tmpfs none "{crops}" && exec "$0" "$@"'],
        name="blind")
    try:
        with caplog.at_level(logging.WARNING, logger="labelfree.batch"):
            summary = run_batch(crops, pipeline="threshold", out_dir=tmp_path / "out", scheduler=dask_cluster["address"],
                                progress=False)
    finally:
        dask_cluster["stop_worker"](blind)
    by_stem = summary.set_index("stem")
    assert by_stem.loc["broken", "status"] == "failed" and "holds no image data" in by_stem.loc["broken", "error"]
    ok = summary[summary["stem"] != "broken"]
    assert (ok["status"] == "ok").all() and blind.pid not in _worker_pids(ok)
    retried = [r for r in caplog.records if "trying again on another worker" in r.getMessage()]
    assert retried and all("does not exist" in r.getMessage() for r in retried)  # only the blind worker's
    # the corrupt input is tried again only if it first landed on the blind worker, never for its own error
    assert len([r for r in retried if "broken" in r.getMessage()]) <= 1


def test_other_labelfree_on_a_worker_stops_the_run_with_a_clear_error(crops, dask_cluster, tmp_path):
    other = tmp_path / "other_src"
    shutil.copytree(Path(__file__).resolve().parents[2] / "src" / "labelfree", other / "labelfree")
    init = other / "labelfree" / "__init__.py"
    text = init.read_text()
    import re

    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "9.9.9"', text))
    stranger = dask_cluster["start_worker"](name="stranger", pythonpath=other)
    try:
        with pytest.raises(ConfigError, match=r"another LabelFree .*9\.9\.9"):
            run_batch(crops, pipeline="threshold", out_dir=tmp_path / "out", scheduler=dask_cluster["address"],
                      progress=False)
    finally:
        dask_cluster["stop_worker"](stranger)
    assert not _states(tmp_path / "out")


def test_cancel_stops_running_tasks_and_the_summary_agrees_with_disk(crops, dask_cluster, tmp_path):
    out = tmp_path / "out"
    calls = []

    def stop_after_first(done, total, message):
        calls.append(message)
        if len(calls) == 1:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        run_batch(crops, pipeline="motion", out_dir=out, scheduler=dask_cluster["address"],
                  progress=stop_after_first)
    at_return = _states(out)
    time.sleep(4)  # anything still running would publish by now
    assert _states(out) == at_return
    summary = pd.read_csv(out / "batch_summary.csv")
    assert set(summary.loc[summary["status"] == "ok", "stem"]) == at_return
    assert (summary["status"] == "cancelled").sum() == len(summary) - len(at_return) > 0
    assert not [p for p in (out / ".labelfree-staging").glob("*")] if (out / ".labelfree-staging").exists() else True


def test_a_stopped_run_waits_for_inputs_being_published(tmp_path, caplog):
    """A task past its last cancellation check has a staging folder: the client that stopped
    the run waits for it to go before it reads the manifests for the summary."""
    import threading
    from types import SimpleNamespace

    from labelfree.batch.runner import _wait_for_publishing
    from labelfree.io.outputs import STAGING_DIR

    jobs = [SimpleNamespace(item=SimpleNamespace(stem=s)) for s in ("exp1", "exp1-b", "exp2")]
    staging = tmp_path / STAGING_DIR / "exp1-host-123-abcd1234"
    staging.mkdir(parents=True)
    threading.Timer(0.6, staging.rmdir).start()  # the task publishes, then removes its staging folder
    started = time.perf_counter()
    _wait_for_publishing(jobs, {"exp2": {}}, tmp_path, timeout=10)
    assert 0.5 < time.perf_counter() - started < 5 and not staging.exists()
    # a staging folder of an input already in the summary is not waited for
    (tmp_path / STAGING_DIR / "exp2-host-1-00000000").mkdir()
    started = time.perf_counter()
    _wait_for_publishing(jobs, {"exp2": {}}, tmp_path, timeout=10)
    assert time.perf_counter() - started < 5  # not the 10 s timeout
    # one that never goes: the wait ends at the timeout, with a warning
    (tmp_path / STAGING_DIR / "exp1-b-host-2-11111111").mkdir()
    with caplog.at_level(logging.WARNING, logger="labelfree.batch.runner"):
        _wait_for_publishing(jobs, {"exp2": {}}, tmp_path, timeout=0.3)
    assert "still being published" in caplog.text


def test_a_killed_client_leaves_no_late_outputs(crops, dask_cluster, tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        from labelfree.batch import run_batch
        run_batch({str(crops)!r}, pipeline="motion", out_dir={str(out)!r}, scheduler={dask_cluster['address']!r},
                  progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 90
    while not _states(out) and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    time.sleep(0.5)
    at_kill = _states(out)
    time.sleep(5)
    assert 0 < len(at_kill) < 8
    assert _states(out) == at_kill  # the tasks that were running when the client died wrote nothing
    summary = pd.read_csv(out / "batch_summary.csv")  # written as results arrived
    assert set(summary.loc[summary["status"] == "ok", "stem"]) <= at_kill
    assert set(summary["status"]) <= {"ok", "pending"}


def test_chunk_tasks_read_their_own_frames_from_tiff_and_ome_zarr(real_crops, dask_cluster, tmp_path):
    from distributed import Client, get_task_stream

    from labelfree.io import read_image, write_ngff

    src = sorted(real_crops["dir"].glob("SIMplus_*.tif"))[0]
    movie = np.concatenate([tifffile.imread(src)] * 4)  # 12 frames
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "long.tif", movie, imagej=True, metadata={"axes": "TYX"}, compression="zlib")
    write_ngff(folder / "long_zarr.zarr", read_image(folder / "long.tif"), version="0.5", chunks=(1, 80, 80))
    whole = run_batch(folder, pipeline="threshold", out_dir=tmp_path / "whole", scheduler="sync", progress=False)
    with Client(dask_cluster["address"]) as client, get_task_stream(client) as stream:
        chunked = run_batch(folder, pipeline="threshold", out_dir=tmp_path / "chunked", scheduler=client,
                            batch={"chunk_frames": 4}, progress=False)
    assert (chunked["status"] == "ok").all() and (whole["status"] == "ok").all() and len(chunked) == 2
    for stem in ("long", "long_zarr"):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "chunked" / f"{stem}_labels.tif"),
                                      tifffile.imread(tmp_path / "whole" / f"{stem}_labels.tif"))
    kinds = {str(t["key"]).split("-")[1] for t in stream.data}
    assert kinds == {"frames", "chunk0", "chunk4", "chunk8", "merge"}  # no task loads the movie for the others


def test_jobqueue_cluster_needs_its_submit_command_and_settings(tmp_path):
    pytest.importorskip("dask_jobqueue")
    import dask

    from labelfree.batch.cluster import dask_client, jobqueue_cluster

    if shutil.which("sbatch") is None:
        with pytest.raises(ConfigError, match="sbatch"):
            with dask_client(BatchConfig(cluster="slurm")):
                pass
    with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}):
        with pytest.raises(ConfigError, match="jobqueue.slurm.cores"):
            jobqueue_cluster("slurm", minimum=0, maximum=2, check_submit=False)
    with dask.config.set({"jobqueue.slurm.cores": 4, "jobqueue.slurm.memory": "16GB",
                          "jobqueue.slurm.walltime": "02:00:00", "jobqueue.slurm.processes": 4,
                          "jobqueue.slurm.scheduler-options": {"host": "127.0.0.1"}}):
        cluster = jobqueue_cluster("slurm", minimum=0, maximum=8, check_submit=False)
        try:
            script = cluster.job_script()
            assert "#SBATCH" in script and "--mem=15G" in script and "-t 02:00:00" in script
            assert "--nworkers 4" in script and cluster._adaptive is not None
        finally:
            cluster.close()
