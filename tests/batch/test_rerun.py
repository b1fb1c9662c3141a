"""Interrupted runs: a killed or Ctrl-C'd run leaves no partial outputs, and a rerun
finishes only what is missing; the fingerprint decides what counts as finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from batch_data import tiny_movie

from labelfree.batch import run_batch
from labelfree.errors import OutputExistsError

OUTPUT_SUFFIXES = ("_labels.tif", "_rois.zip", "_table.csv", "_provenance.json")


def _start_cli(inputs: Path, out: Path, *extra: str, pipeline: str = "threshold") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "labelfree", "batch", str(inputs), "--pipeline", pipeline,
           "--out", str(out), "--no-progress", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_states(proc: subprocess.Popen, out: Path, n: int, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while len(list(out.glob("*_provenance.json"))) < n:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {n} inputs were done: {proc.communicate()[1].decode()[-2000:]}")
        if time.monotonic() > end:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"fewer than {n} inputs finished within {timeout} s")
        time.sleep(0.005)


def _stopped(proc: subprocess.Popen, send, code: int = 130) -> bytes:
    """``send()`` a signal, wait for the run to end, check that it exits with 130; its stderr."""
    send()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, err.decode()[-2000:]
    return err


def _complete_stems(out: Path) -> set[str]:
    """Stems whose manifest (written last) verifies: every file of the set present and unchanged."""
    from labelfree.io import read_manifest

    stems = {p.name[: -len("_provenance.json")] for p in out.glob("*_provenance.json")}
    return {s for s in stems if read_manifest(out, s) is not None}


@pytest.mark.slow
def test_killed_run_then_rerun_finishes_only_missing_inputs(real_crops, tmp_path):
    out = tmp_path / "out"
    proc = _start_cli(real_crops["dir"], out, "--scheduler", "sync")
    _wait_for_states(proc, out, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: no clean-up code runs
    proc.wait(timeout=30)
    done = _complete_stems(out)
    assert 3 <= len(done) < 20
    for stem in done:  # every finished input has its full set of outputs
        assert all((out / f"{stem}{s}").is_file() for s in OUTPUT_SUFFIXES)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}

    summary = run_batch(real_crops["dir"], pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    status = dict(zip(summary["stem"], summary["status"]))
    assert {s for s, v in status.items() if v == "skipped"} == done
    assert {s for s, v in status.items() if v == "ok"} == set(status) - done
    for name, stamp in stamps.items():  # finished outputs were not rewritten
        if any(name == f"{s}{suf}" for s in done for suf in OUTPUT_SUFFIXES):
            assert (out / name).stat().st_mtime_ns == stamp, name
    assert len(_complete_stems(out)) == 20
    assert not (out / ".labelfree-staging").exists() and not list(out.glob(".*.part"))


@pytest.mark.slow
def test_ctrl_c_on_local_cluster_exits_130_and_keeps_finished_inputs(real_crops, tmp_path):
    out = tmp_path / "out"
    proc = _start_cli(real_crops["dir"], out, "--workers", "2")
    _wait_for_states(proc, out, 2)
    err = _stopped(proc, lambda: os.killpg(proc.pid, signal.SIGINT))  # Ctrl-C in a terminal: the foreground group
    assert "interrupted" in err.decode() and "Rerun" in err.decode()
    assert not (out / ".labelfree-staging").exists()
    summary = pd.read_csv(out / "batch_summary.csv")
    done = _complete_stems(out)
    assert set(summary.loc[summary["status"] == "ok", "stem"]) <= done
    assert (summary["status"] == "cancelled").sum() == 20 - len(done)
    for stem in done:
        assert all((out / f"{stem}{s}").is_file() for s in OUTPUT_SUFFIXES)
    rerun = run_batch(real_crops["dir"], pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert (rerun["status"] == "skipped").sum() == len(done) and (rerun["status"] == "ok").sum() == 20 - len(done)


def test_sigterm_stops_a_batch_run_as_ctrl_c_does(real_crops, tmp_path):
    """SIGTERM (scancel, a SLURM time limit, kill) ended the process at once: the summary kept ``pending`` rows,
    the lock and an empty staging folder stayed behind. It is now handled as a Ctrl-C."""
    # Motion takes about 60 ms an input here: on a loaded machine all 20 can be done before the signal lands, and the
    # run then rightly ends 0 with every input done; that is tried again (a run that ignored the signal would end so
    # every time, and fail below)
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        proc = _start_cli(real_crops["dir"], out, "--scheduler", "sync", pipeline="motion")
        _wait_for_states(proc, out, 1)
        # the command only, as kill and a scheduler's first signal
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if not (proc.returncode == 0 and len(_complete_stems(out)) == 20):
            break
    # 143 (128 + SIGTERM), as a workflow's retry rules expect
    assert proc.returncode == 143, err.decode()[-2000:]
    assert not (out / ".labelfree-staging").exists() and not list(out.glob(".labelfree.lock*"))
    summary = pd.read_csv(out / "batch_summary.csv")
    done = _complete_stems(out)
    assert set(summary["status"]) <= {"ok", "cancelled"}
    assert set(summary.loc[summary["status"] == "ok", "stem"]) == done
    assert (summary["status"] == "cancelled").sum() == 20 - len(done) > 0


def test_fingerprint_decides_what_is_redone(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        tiny_movie(src / f"m{i}.tif", i)
    out = tmp_path / "out"

    def statuses(**kw):
        s = run_batch(src, pipeline="threshold", out_dir=out, scheduler="sync", progress=False, **kw)
        return list(s["status"])

    assert statuses() == ["ok"] * 3
    assert statuses() == ["skipped"] * 3
    with pytest.raises(OutputExistsError, match="3 input"):  # a config change would replace every result
        statuses(config={"min_size": 5})
    assert statuses(config={"min_size": 5}, batch={"overwrite": True}) == ["ok"] * 3
    assert statuses(config={"min_size": 5}) == ["skipped"] * 3
    (out / "m2_rois.zip").unlink()  # an output went missing: the damaged set is made again
    assert statuses(config={"min_size": 5}) == ["skipped", "skipped", "ok"]
    (out / "m2_table.csv").write_text("label\n")  # an output was changed: made again too
    assert statuses(config={"min_size": 5}) == ["skipped", "skipped", "ok"]
    tiny_movie(src / "m1.tif", 99)  # the input file changed: an earlier result of another input
    with pytest.raises(OutputExistsError, match="m1"):
        statuses(config={"min_size": 5})
    assert statuses(config={"min_size": 5}, batch={"overwrite": True}) == ["skipped", "ok", "skipped"]
    prov = json.loads((out / "m0_provenance.json").read_text())
    (out / "m0_provenance.json").write_text(json.dumps({**prov, "batch": {**prov["batch"], "fingerprint": "0" * 64}}))
    assert statuses(config={"min_size": 5}, batch={"overwrite": True}) == ["ok", "skipped", "skipped"]
    assert statuses(config={"min_size": 5}, batch={"force": True}) == ["ok"] * 3
    prov = json.loads((out / "m0_provenance.json").read_text())
    assert prov["config"]["min_size"] == 5 and prov["batch"]["input_sha256"] == prov["inputs"]["image"]["sha256"]
    # --force redoes this run's own results only: others' need --overwrite (it replaced them silently)
    with pytest.raises(OutputExistsError, match="3 input"):
        statuses(config={"min_size": 7}, batch={"force": True})
    (out / "m0_table.csv").unlink()
    (out / "m0_table.csv").write_text("my notes\n")  # then m0's set holds a file LabelFree did not write
    for name in ("m0_labels.tif", "m0_rois.zip", "m0_provenance.json"):
        (out / name).unlink()
    with pytest.raises(OutputExistsError, match="m0 \\(files not written by LabelFree\\)"):
        statuses(config={"min_size": 5}, batch={"force": True})
    assert (out / "m0_table.csv").read_text() == "my notes\n"


def test_per_file_options_and_bad_options_in_manifest(tmp_path):
    for i in range(2):
        tiny_movie(tmp_path / f"m{i}.tif", i)
    (tmp_path / "plan.csv").write_text("path,min_size,method\nm0.tif,500,\nm1.tif,,nonsense\n")
    summary = run_batch(tmp_path / "plan.csv", pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync",
                        progress=False)
    assert list(summary["status"]) == ["ok", "failed"]
    assert "nonsense" in summary["error"][1]
    assert json.loads((tmp_path / "out" / "m0_provenance.json").read_text())["config"]["min_size"] == 500
    # the 12x12 square (144 px) falls below min_size=500; the 12x20 one (240 px) too
    assert summary["n_objects"][0] == 0


def test_files_written_besides_the_sets_are_checked_before_any_work(tmp_path):
    from labelfree.errors import ConfigError, InputOverwriteError

    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        tiny_movie(src / f"m{i}.tif", seed=i)
    out = tmp_path / "out"
    fast = {"n_steps": 1, "width": 4, "crop_size": 32, "area_size": 32}
    with pytest.raises(ConfigError, match="would be written for .* and for .*each input would replace it"):
        run_batch(src, pipeline="cutter", out_dir=out, config=fast, scheduler="sync", progress=False,
                  batch={"inputs": {"save_model_file": str(tmp_path / "m.pt")}})
    with pytest.raises(InputOverwriteError, match="never writes over its inputs"):
        run_batch(src / "m0.tif", pipeline="cutter", out_dir=out, config=fast, scheduler="sync", progress=False,
                  batch={"inputs": {"save_model": str(src / "m0.tif")}})
    with pytest.raises(ConfigError, match="device is not a setting any more"):
        run_batch(src / "m0.tif", pipeline="cutter", out_dir=out, scheduler="sync", progress=False,
                  config={**fast, "device": "cpu"})
    assert not (tmp_path / "m.pt").exists() and not list(out.glob("*_labels.tif"))
