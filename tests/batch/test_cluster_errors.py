"""Where a batch run executes, when it goes wrong: an in-process local cluster, scheduler words that are
not addresses, a local cluster that cannot start (a script without a ``__main__`` guard) and memory limits
no worker can run in are one clear error each, before any summary is written."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tifffile

from labelfree.batch import BatchConfig, run_batch
from labelfree.cli import main
from labelfree.errors import ConfigError, InputError

distributed = pytest.importorskip("distributed")


def _movie(path, value=1000):
    img = np.full((2, 40, 40), 10, np.uint16)
    img[:, 5:15, 5:15] = value
    img[:, 22:34, 20:36] = value
    tifffile.imwrite(path, img, imagej=True, metadata={"axes": "TYX"})


@pytest.fixture
def two_movies(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _movie(src / "a.tif")
    _movie(src / "b.tif", value=800)
    return src


def test_an_in_process_local_cluster_gives_the_sequential_labels(two_movies, tmp_path):
    ref = run_batch(two_movies, pipeline="threshold", out_dir=tmp_path / "sync", scheduler="sync", progress=False)
    got = run_batch(two_movies, pipeline="threshold", out_dir=tmp_path / "inproc", progress=False,
                    batch=BatchConfig(processes=False, n_workers=1))
    assert list(got["status"]) == ["ok", "ok"] and list(ref["status"]) == ["ok", "ok"]
    assert list(got["n_objects"]) == list(ref["n_objects"]) == [4, 4]
    for stem in ("a", "b"):
        assert np.array_equal(tifffile.imread(tmp_path / "inproc" / f"{stem}_labels.tif"),
                              tifffile.imread(tmp_path / "sync" / f"{stem}_labels.tif"))


def test_the_in_process_flag_runs(two_movies, tmp_path, capsys):
    code = main(["batch", str(two_movies), "-p", "threshold", "-o", str(tmp_path / "out"), "--in-process",
                 "--workers", "1", "--no-progress"])
    assert code == 0 and "2 input(s): 2 ok" in capsys.readouterr().out


@pytest.mark.parametrize("word", ["local", "threads", "processes", "foo"])
def test_a_scheduler_word_is_one_error_before_anything_is_written(two_movies, tmp_path, capsys, word):
    out = tmp_path / "out"
    code = main(["batch", str(two_movies), "-p", "threshold", "-o", str(out), "--scheduler", word, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"got '{word}'" in err and "'sync'" in err and "tcp://host:port" in err
    assert "--cluster local|slurm|pbs" in err
    assert not out.exists()


@pytest.mark.parametrize("address", ["sync", "tcp://127.0.0.1:8786", "tls://head.example.org:8786", "head:8786",
                                     "tcp://[::1]:8786", None])
def test_scheduler_addresses_are_accepted(address):
    assert BatchConfig(scheduler=address).scheduler == address


def test_connect_turns_a_bad_address_into_the_clear_error():
    """...and leaves no Client that failed as dask's default (later computations in this process would
    wait for it while the error is held, e.g. in a notebook's last exception)."""
    import dask

    from labelfree.batch.cluster import _connect

    for bad in ("local", 8786, "tcp://127.0.0.1:1"):
        with pytest.raises(InputError, match="Cannot connect to the Dask scheduler") as info:
            _connect(distributed, bad, 0.5, "test")
        assert "tcp://host:port" in str(info.value)
        assert dask.config.get("scheduler", None) is None
        with pytest.raises(ValueError, match="No clients found"):
            distributed.default_client()


def test_a_configured_scheduler_that_is_no_address_leaves_no_pending_summary(two_movies, tmp_path, monkeypatch):
    """Dask's configuration is not a BatchConfig field: its address is checked when connecting; the run
    stops there with the clear error and writes no summary (no rows left 'pending')."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "local")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="Cannot connect to the Dask scheduler at 'local'"):
        run_batch(two_movies, pipeline="threshold", out_dir=out, progress=False)
    assert not (out / "batch_summary.csv").exists() and not out.exists()


def test_a_script_without_a_main_guard_gets_an_error_that_says_so(two_movies, tmp_path, monkeypatch):
    """Worker processes import the calling script (spawn); without ``if __name__ == "__main__":`` they start
    the run again and Dask reports 'Nanny failed to start'."""
    def nanny_fails(*args, **kwargs):
        raise RuntimeError("Cluster failed to start: Nanny failed to start.") from RuntimeError(
            "Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", nanny_fails)
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)  # an existing folder: kept, and no summary appears in it
    with pytest.raises(InputError) as info:
        run_batch(two_movies, pipeline="threshold", out_dir=out, progress=False, batch=BatchConfig(n_workers=1))
    text = str(info.value)
    assert 'if __name__ == "__main__":' in text and "Nanny failed to start" in text
    assert "processes=False" in text and "--in-process" in text
    assert sorted(p.name for p in out.iterdir()) == ["old"]


def test_a_local_cluster_that_does_not_start_is_one_error(two_movies, tmp_path, monkeypatch, capsys):
    def fails(*args, **kwargs):
        raise RuntimeError("Cluster failed to start: Scheduler failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", fails)
    code = main(["batch", str(two_movies), "-p", "threshold", "-o", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "local Dask cluster did not start" in err and "Scheduler failed to start" in err
    assert "--scheduler sync" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value, said", [("10", "10 bytes"), (10, "10 bytes"), ("100MB", "100,000,000 bytes")])
def test_a_memory_limit_no_worker_can_run_in_is_refused(value, said):
    with pytest.raises(ConfigError) as info:
        BatchConfig(memory_limit=value)
    text = str(info.value)
    assert said in text and "512 MiB" in text and "--memory-limit 4GB" in text


@pytest.mark.parametrize("value", ["1GB", "512MiB", "auto", None, 2**30, 2**31, 64 * 2**30])
def test_usable_memory_limits_are_accepted(value):
    assert BatchConfig(memory_limit=value).memory_limit == value


def test_a_memory_limit_in_bytes_beyond_a_c_int_is_read_from_a_config_file(tmp_path):
    path = tmp_path / "batch.yml"
    path.write_text("memory_limit: 4000000000\n")
    assert BatchConfig.from_file(path).memory_limit == 4_000_000_000
    with pytest.raises(ConfigError, match="whole number of bytes"):
        BatchConfig(memory_limit=2.5e9 + 0.5)


def test_memory_limit_words_are_the_ones_the_cli_takes(two_movies, tmp_path, capsys):
    code = main(["batch", str(two_movies), "-p", "threshold", "-o", str(tmp_path / "out"), "--memory-limit", "null",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "got 'null'" in err and "'none'" in err and "--memory-limit none" in err
    code = main(["batch", str(two_movies), "-p", "threshold", "-o", str(tmp_path / "out"), "--memory-limit", "10",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "10 bytes" in err and "--memory-limit 4GB" in err
    assert not (tmp_path / "out").exists()


def test_a_killed_worker_row_says_to_give_more_memory(tmp_path):
    """Dask's KilledWorker (a task whose workers died, mostly out of memory) named no way out."""
    from labelfree.batch.inputs import BatchInput
    from labelfree.batch.task import Job, failed_row

    class KilledWorker(Exception):  # distributed.scheduler.KilledWorker, as the client raises it
        pass

    job = Job(item=BatchInput(path=str(tmp_path / "a.tif"), stem="a"), pipeline="threshold", config={},
              out_dir=str(tmp_path), fingerprint="", input_sha256="")
    row = failed_row(job, KilledWorker("Attempted to run task ... on 3 different workers"))
    assert row["status"] == "failed" and "--memory-limit" in row["error"] and "--workers" in row["error"]
    assert "--chunk-frames" not in row["error"]  # a pipeline that does not allow chunks
    row = failed_row(dataclasses.replace(job, frame_overlap=0), KilledWorker("Attempted to run task ..."))
    assert row["error"].endswith("or run fewer workers (--workers), or segment a long movie in chunks of frames "
                                 "(--chunk-frames N, e.g. 50, or a smaller N))")
