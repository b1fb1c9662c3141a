"""Cores counted as the process really has them (affinity, cgroup quota, SLURM) and capped by the user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labelfree import _threads
from labelfree._threads import available_cores, available_memory, cgroup_cpu_limit, cgroup_memory_left, thread_count
from labelfree._threads import threads_for_memory
from labelfree.errors import ConfigError


def test_cgroup_quota_v2_and_v1(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(v2) is None
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path / "v1") == 2.0
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path / "v1") is None
    assert cgroup_cpu_limit(tmp_path / "nothing") is None


def test_cgroup_memory_left_v2_and_v1(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("4294967296\n")
    (v2 / "memory.current").write_text("1073741824\n")
    assert cgroup_memory_left(v2) == 3 * 2**30
    (v2 / "memory.max").write_text("max\n")
    assert cgroup_memory_left(v2) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("2147483648\n")
    (v1 / "memory.usage_in_bytes").write_text("3221225472\n")  # over the limit: nothing left
    assert cgroup_memory_left(tmp_path / "v1") == 0
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "unlimited"
    assert cgroup_memory_left(tmp_path / "v1") is None
    assert cgroup_memory_left(tmp_path / "nothing") is None


def test_cgroup_memory_left_reads_the_process_own_cgroup_and_those_above_it(tmp_path):
    """A SLURM job's limit sits on its own cgroup below the root (cgroup v1 and v2), where the root has none: the
    least that the job's cgroup or any above it has left."""
    v1 = tmp_path / "v1"
    job = v1 / "memory" / "slurm" / "uid_1000" / "job_42"
    job.mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # the root: unlimited
    (job / "memory.limit_in_bytes").write_text(str(4 * 2**30))
    (job / "memory.usage_in_bytes").write_text(str(2**30))
    proc = tmp_path / "cgroup_v1"
    proc.write_text("9:cpu,cpuacct:/slurm/uid_1000/job_42\n4:memory:/slurm/uid_1000/job_42\n0::/\n")
    assert cgroup_memory_left(v1, proc) == 3 * 2**30
    assert cgroup_memory_left(v1) is None  # this process's cgroup is not there: the root's files, no limit
    (v1 / "memory" / "slurm" / "memory.limit_in_bytes").write_text(str(2 * 2**30))  # a parent with less left
    (v1 / "memory" / "slurm" / "memory.usage_in_bytes").write_text(str(2**29))
    assert cgroup_memory_left(v1, proc) == 2 * 2**30 - 2**29
    v2 = tmp_path / "v2"
    own = v2 / "system.slice" / "slurmstepd.scope" / "job_7"
    own.mkdir(parents=True)
    (own / "memory.max").write_text(str(2**30))
    (own / "memory.current").write_text(str(2**28))
    (v2 / "system.slice" / "memory.max").write_text("max\n")
    proc.write_text("0::/system.slice/slurmstepd.scope/job_7\n")
    assert cgroup_memory_left(v2, proc) == 3 * 2**28
    proc.write_text("0::/\n")  # a container: its own cgroup is the root
    assert cgroup_memory_left(v2, proc) is None
    (v2 / "memory.max").write_text(str(2**31))
    assert cgroup_memory_left(v2, proc) == 2**31


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/memory") or os.geteuid() != 0,
                    reason="needs root and a cgroup v1 memory controller")
def test_available_memory_in_a_real_child_cgroup(tmp_path):
    """A process in a memory cgroup made below this one sees that cgroup's limit."""
    own = [line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup") if ":memory:" in line]
    if not own:
        pytest.skip("no v1 memory cgroup in /proc/self/cgroup")
    folder = Path("/sys/fs/cgroup/memory") / own[0].strip("/") / f"labelfree-test-{os.getpid()}"
    try:
        folder.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here ({exc})")
    try:
        try:
            (folder / "memory.limit_in_bytes").write_text(str(512 * 2**20))
        except OSError as exc:
            pytest.skip(f"cannot set a memory limit here ({exc})")
        code = ("import os, sys\n"
                "try:\n    open('%s/cgroup.procs', 'w').write(str(os.getpid()))\n"
                "except OSError:\n    sys.exit(3)\n"
                "from labelfree._threads import available_memory; print(available_memory())" % folder)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if run.returncode == 3:
            pytest.skip("a process cannot join a memory cgroup here")
        assert run.returncode == 0, run.stderr
        assert 100 * 2**20 < int(run.stdout) <= 512 * 2**20
    finally:
        folder.rmdir()


def test_available_memory_is_the_smaller_of_the_system_and_the_cgroup(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:  1000 kB\nMemAvailable:    8000000 kB\n")
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    assert available_memory(meminfo, cgroup) == 8000000 * 1024
    (cgroup / "memory.max").write_text(str(3 * 2**30))
    (cgroup / "memory.current").write_text(str(2**30))
    assert available_memory(meminfo, cgroup) == 2 * 2**30
    assert available_memory(tmp_path / "none", tmp_path / "none") is None
    assert available_memory() is not None  # this machine is Linux


def _elsewhere(monkeypatch, platform, available):
    """``_threads`` on another system (its ``sys.platform`` only), with psutil reading ``available`` bytes (None: no
    psutil)."""
    import types

    monkeypatch.setattr(_threads, "sys", types.SimpleNamespace(platform=platform, modules=sys.modules))
    if available is None:
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
    else:
        import psutil

        monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=available))


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_available_memory_on_macos_and_windows_is_psutils_reading(monkeypatch, platform):
    """Where there is no /proc/meminfo, the memory left is the system's available memory as psutil reads it (before:
    unknown, so no run was checked and nothing went in chunks or tiles by itself there)."""
    _elsewhere(monkeypatch, platform, 3 * 2**30)
    assert available_memory() == 3 * 2**30
    # the checks follow it: a movie whose labels cannot fit is refused, as on Linux
    from labelfree.datasets import SAMPLE_MOVIE
    from labelfree.errors import InputError
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    _elsewhere(monkeypatch, platform, 12 * 2 * 192 * 192 - 1)  # the sample movie's 12 frames of uint16 labels
    with pytest.raises(InputError, match="Threshold holds the labels of the whole image in memory"):
        run_pipeline("threshold", read_image(SAMPLE_MOVIE))


def test_available_memory_without_psutil_off_linux_is_unknown_and_said_once(monkeypatch, caplog):
    monkeypatch.setattr(_threads, "_said_memory", set())
    _elsewhere(monkeypatch, "darwin", None)
    with caplog.at_level("WARNING", logger=_threads.log.name):
        assert available_memory() is None
        assert available_memory() is None
    said = [r.getMessage() for r in caplog.records if "memory left is unknown" in r.getMessage()]
    assert len(said) == 1, said
    assert "psutil is not installed (pip install psutil)" in said[0] and "--tile" in said[0]


def test_threads_for_memory(monkeypatch):
    monkeypatch.setattr(_threads, "available_memory", lambda: 1000)
    assert threads_for_memory(8, per_thread=100, reserve=350) == 6
    assert threads_for_memory(4, per_thread=100, reserve=350) == 4
    assert threads_for_memory(8, per_thread=100, reserve=2000) == 1  # never fewer than one
    monkeypatch.setattr(_threads, "available_memory", lambda: None)
    assert threads_for_memory(8, per_thread=10**12) == 8


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is not installed")
def test_affinity_restricted_to_one_core_counts_one():
    code = "from labelfree._threads import available_cores, thread_count; print(available_cores(), thread_count())"
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "LABELFREE_THREADS": ""}, check=True).stdout.split()
    assert out == ["1", "1"]


def test_the_user_caps_the_count_and_bad_values_are_errors(monkeypatch):
    cores = available_cores()
    monkeypatch.setenv("LABELFREE_THREADS", "1")
    assert thread_count() == 1
    monkeypatch.setenv("LABELFREE_THREADS", "999")
    assert thread_count() == cores  # never more than the process has
    assert thread_count(1) == 1  # an explicit argument wins over the environment
    monkeypatch.setenv("LABELFREE_THREADS", "lots")
    with pytest.raises(ConfigError, match="LABELFREE_THREADS must be a whole number"):
        thread_count()
    monkeypatch.delenv("LABELFREE_THREADS")
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="threads must be"):
            thread_count(bad)


def test_slurm_allocation_limits_the_count(monkeypatch):
    monkeypatch.delenv("LABELFREE_THREADS", raising=False)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert available_cores() == 1 and thread_count() == 1


def test_code_run_inside_limited_threads_sees_its_count(monkeypatch):
    """run_pipeline(threads=n) wraps the pipeline in limited_threads(n): the pipeline's own pools
    read the same n from thread_count(), whatever LABELFREE_THREADS says."""
    import threading

    from labelfree._threads import limited_threads

    monkeypatch.setattr("labelfree._threads.available_cores", lambda: 8)
    monkeypatch.setenv("LABELFREE_THREADS", "6")
    assert thread_count() == 6
    with limited_threads(3) as n:
        assert n == 3 and thread_count() == 3
        with limited_threads(1):
            assert thread_count() == 1
        assert thread_count() == 3
        seen = []
        other = threading.Thread(target=lambda: seen.append(thread_count()))
        other.start()
        other.join()
        assert seen == [6]  # another thread is not inside this block
    assert thread_count() == 6


def test_torch_pipelines_get_the_thread_cap_before_they_import_torch(tmp_path):
    """A pipeline whose spec says ``torch=True`` runs with torch's CPU pool capped by ``threads``,
    even when torch is first imported inside its segment function (as Cutter and Fusion do)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores: torch's own count is then 2, which a cap of one must change")
    (tmp_path / "probe_pipeline.py").write_text(
        "import numpy as np\n"
        "import xarray as xr\n"
        "SEEN = []\n"
        "def segment(image, *, config, progress):\n"
        "    import torch\n"
        "    SEEN.append(torch.get_num_threads())\n"
        "    return xr.DataArray(np.zeros(image.shape, np.uint16), dims=image.dims, attrs={'labelfree': {}})\n"
    )
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import probe_pipeline\n"
        "from labelfree.run import run_pipeline\n"
        "from labelfree.spec import PipelineSpec\n"
        "spec = PipelineSpec(name='probe', title='Probe', summary='probe', segment='probe_pipeline:segment',\n"
        "                    config='labelfree.threshold.config:ThresholdConfig', torch=True)\n"
        "assert 'torch' not in sys.modules\n"
        "run_pipeline(spec, np.zeros((8, 8), np.uint8), threads=1)\n"
        "import torch\n"
        "print(probe_pipeline.SEEN[0], torch.get_num_threads())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    env.pop("LABELFREE_THREADS", None)
    # torch's own count is 2 (the suite may run with 1 in OMP_/MKL_NUM_THREADS): the cap must change it
    env.update(OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    inside, after = map(int, done.stdout.split())
    assert inside == 1 and after == 2  # capped inside the run, torch's own count restored after it
