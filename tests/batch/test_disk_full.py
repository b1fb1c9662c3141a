"""A full output disk in a batch run is the run's problem, not one worker's nor one input's: the input is not
retried on another worker (it writes to the same disk), no new input is started, finished ones are kept, the run
ends with one message that names the output folder and says what to do, and a rerun resumes it. The workers of a
local cluster log no traceback for the errors LabelFree reports itself."""

from __future__ import annotations

import errno
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

import labelfree
from labelfree.batch import BatchConfig, run_batch
from labelfree.batch.dispatch import REPORTED_ERRORS, output_disk_full
from labelfree.errors import OutputDiskFullError

SRC = Path(labelfree.__file__).resolve().parents[1]  # the source tree of the labelfree under test
NUMPY_FULL = "Not enough free space to write 83886080 bytes"


def _images(folder: Path, n: int, size: int = 64) -> Path:
    """``n`` images ``img0`` ... of bright squares on a dark background (a few objects each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        data = np.full((size, size), 100, np.uint16)
        step = size // 4
        for y in range(step // 2, size - step // 2, step):
            for x in range(step // 2, size - step // 2, step):
                data[y:y + step // 2, x:x + step // 2] = 2000 + 100 * i
        tifffile.imwrite(folder / f"img{i}.tif", data)
    return folder


def _statuses(out: Path) -> dict[str, str]:
    summary = pd.read_csv(out / "batch_summary.csv")
    return dict(zip(summary["stem"], summary["status"]))


@pytest.fixture
def full_after_first(monkeypatch) -> list[str]:
    """The labels of the first input written are written; then the disk is full (numpy's message, errno None).
    Returns the names of the labels files that writing was asked for."""
    import labelfree.io.tables as tables

    real, calls, lock = tables.write_labels, [], threading.Lock()

    def write(path, *args, **kwargs):
        with lock:
            calls.append(Path(path).name)
            first = len(calls) == 1
        if not first:
            raise OSError(NUMPY_FULL)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tables, "write_labels", write)
    return calls


def _job(out: Path):
    from labelfree.batch.inputs import BatchInput
    from labelfree.batch.task import Job

    return Job(item=BatchInput(Path("/data/img3.tif"), stem="img3"), pipeline="threshold", config={}, out_dir=str(out),
               fingerprint="f", input_sha256="s")


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 OSError(errno.EDQUOT, "Disk quota exceeded"), OSError(errno.EFBIG, "File too large"),
                                 OSError(NUMPY_FULL), OSError("1048576 requested and 499504 written")],
                         ids=["ENOSPC", "EDQUOT", "EFBIG", "numpy", "short"])
def test_every_form_of_a_full_output_disk_is_the_run_s(tmp_path, exc):
    full = output_disk_full(exc, _job(tmp_path / "out"))
    assert isinstance(full, OutputDiskFullError) and full.folder == str(tmp_path / "out") and full.stem == "img3"
    assert str(full).startswith(f"the disk of the output folder ({tmp_path / 'out'}, ")
    assert f"free) has no room for the outputs of img3: {full.reason}" in str(full)
    assert str(exc.args[-1]) in full.reason


def test_a_full_disk_elsewhere_or_another_error_is_not_the_output_s(tmp_path):
    job = _job(tmp_path / "out")
    elsewhere = OSError(errno.ENOSPC, "No space left on device", str(Path(tempfile.gettempdir()) / "w" / "x.npy"))
    assert output_disk_full(elsewhere, job) is None  # a worker's own temporary folder: retried elsewhere
    inside = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "img3_labels.tif"))
    assert output_disk_full(inside, job) is not None
    noted = OSError(NUMPY_FULL)
    noted.add_note(f"while writing {tmp_path / 'out' / '.labelfree-staging' / 'img3' / 'img3_labels.tif'}")
    assert output_disk_full(noted, job) is not None
    assert output_disk_full(OSError(errno.ENOENT, "No such file or directory"), job) is None
    assert output_disk_full(ValueError("bad"), job) is None


def test_sync_run_stops_at_a_full_disk_and_a_rerun_resumes(tmp_path, monkeypatch, full_after_first):
    inputs, out = _images(tmp_path / "in", 5), tmp_path / "out"
    with pytest.raises(OutputDiskFullError) as caught:
        run_batch(inputs, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    message = str(caught.value)
    assert message.startswith(f"Batch run stopped: the disk of the output folder ({out}, "), message
    assert f"has no room for the outputs of img1: the disk is full ({NUMPY_FULL})" in message
    assert "1 input(s) finished in this run and kept, 3 not done (no partial outputs); summary: " in message
    assert message.endswith("Free space on that disk and run the same command again (finished inputs are skipped), "
                            "or choose an output folder (-o) on another disk.")
    assert full_after_first == ["img0_labels.tif", "img1_labels.tif"]  # no input started after the full disk
    assert _statuses(out) == {"img0": "ok", "img1": "failed", "img2": "cancelled", "img3": "cancelled",
                              "img4": "cancelled"}
    assert (caught.value.summary["status"] == "cancelled").sum() == 3
    assert not list(out.glob("img1_*"))  # nothing half-written
    monkeypatch.undo()  # room again
    again = run_batch(inputs, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert dict(zip(again["stem"], again["status"])) == {"img0": "skipped", **{f"img{i}": "ok" for i in range(1, 5)}}


@pytest.mark.slow
def test_an_in_process_dask_run_stops_at_a_full_disk_without_retries(tmp_path, full_after_first, caplog):
    inputs, out = _images(tmp_path / "in", 8), tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="labelfree"), pytest.raises(OutputDiskFullError) as caught:
        run_batch(inputs, pipeline="threshold", out_dir=out, progress=False,
                  batch=BatchConfig(processes=False, n_workers=2, threads_per_worker=1))
    assert "trying again on another worker" not in caplog.text
    assert "finished in this run and kept" in str(caught.value)
    # no input tried twice (no retry on the other worker, same disk), and not every input started
    assert len(set(full_after_first)) == len(full_after_first) < 8, full_after_first
    counts = pd.Series(_statuses(out)).value_counts().to_dict()
    assert counts.get("ok") == 1 and counts.get("failed") == 1 and counts.get("cancelled") == 6, counts


def test_workers_log_no_traceback_for_the_errors_labelfree_reports():
    from labelfree.batch.dispatch import _ReportedFailures

    failed = "Compute Failed\nKey:       %s\nState:     %s\nTask:  %s\nException: %r\nTraceback: %r\n"

    def record(message: str, args: tuple = ()) -> logging.LogRecord:
        return logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, message, args, None)

    quiet = _ReportedFailures()
    for name in REPORTED_ERRORS:
        assert not quiet.filter(record(failed, ("k", "executing", "<Task>", f"{name}('a', 'tcp://1')", "  File")))
    assert quiet.filter(record(failed, ("k", "executing", "<Task>", "ValueError('a bug')", "  File")))  # still logged
    assert quiet.filter(record("other"))
    cancelled = ("Async instruction for <Task cancelled name=\"execute('{}-row-img0-16c872b0')\" coro=<...>> "
                 "ended with CancelledError")
    assert not quiet.filter(record(cancelled.format("labelfree")))  # a task of a stopped run, as its worker closes
    assert quiet.filter(record(cancelled.format("other")))


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))


@pytest.mark.slow
@pytest.mark.parametrize("disk", ["file size limit", "tmpfs"])
def test_a_local_cluster_run_on_a_full_disk_says_it_once_without_tracebacks(tmp_path, disk):
    """``labelfree batch --workers 2`` on a real local cluster of worker processes: a file size limit (``ulimit -f``,
    EFBIG, inherited by the workers), or a 3 MB tmpfs (a private mount namespace: needs root and unshare) that
    holds the outputs of one input (numpy's "N requested and M written")."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    if disk == "tmpfs":
        if shutil.which("unshare") is None or os.geteuid() != 0:
            pytest.skip("needs unshare and root to mount a small tmpfs")
        inputs = _images(tmp_path / "in", 6, size=1024)
        disk_dir = tmp_path / "tiny"
        disk_dir.mkdir()
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                  f'mount -t tmpfs -o size=3m none "{disk_dir}" && exec "$0" "$@"']
        out, limit = disk_dir / "b1", None
    else:
        inputs, out = _images(tmp_path / "in", 6, size=256), tmp_path / "b1"
        prefix, limit = [], _limit_file_size
    command = [sys.executable, "-m", "labelfree", "batch", str(inputs), "-p", "threshold", "-o", str(out),
               "--workers", "2", "-q"]
    done = subprocess.run(prefix + command, capture_output=True, text=True, env=env, timeout=300, preexec_fn=limit)
    err = done.stderr
    assert done.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("labelfree: error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"labelfree: error: Batch run stopped: the disk of the output folder ({out}, "), err
    assert "it is probably full" in errors[0], err  # numpy's "N requested and M written"
    if limit:  # the limit that made the writes fail is named
        assert "or this process's file size limit (ulimit -f, 64000 bytes) was reached" in errors[0], err
    assert "Free space on that disk and run the same command again" in errors[0] and "on another disk" in errors[0]
    assert "Traceback" not in err and "Compute Failed" not in err and "Async instruction" not in err, err
    assert "trying again on another worker" not in err, err
    if disk == "file size limit":  # the folder is still there: every input failed or was not done, a rerun resumes
        statuses = pd.Series(_statuses(out)).value_counts().to_dict()
        assert statuses.get("failed") == 1 and statuses.get("cancelled") == 5, statuses
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert again.returncode == 0, again.stderr
        assert set(_statuses(out).values()) == {"ok"}


def test_a_summary_that_cannot_be_written_either_is_said(tmp_path, monkeypatch, full_after_first):
    import labelfree.io.atomic as atomic

    real = atomic.write_text_atomic

    def write_text(path, *args, **kwargs):
        if len(full_after_first) >= 2 and Path(path).name == "batch_summary.csv":  # once the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "write_text_atomic", write_text)
    inputs, out = _images(tmp_path / "in", 3), tmp_path / "out"
    with pytest.raises(OutputDiskFullError) as caught:
        run_batch(inputs, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert caught.value.summary is None
    assert (f"1 input(s) finished in this run and kept, 1 not done (no partial outputs); the summary could not be "
            f"written either (OSError: [Errno 28] No space left on device: '{out / 'batch_summary.csv'}'). Free "
            "space on that disk") in str(caught.value)
    statuses = _statuses(out)  # the last one written while the run went on (at most every second)
    assert statuses["img1"] == statuses["img2"] == "pending" and statuses["img0"] in ("ok", "pending"), statuses
