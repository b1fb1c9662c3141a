"""What a provenance records to reproduce a run beyond its config: the software that ran it, the warnings of a
single command-line run, and the command of a batch run (``command``, ``cwd``), as a single run records them."""
from __future__ import annotations

import json
import logging
import os
import pickle
import platform
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"


def _provenance(folder: Path, stem: str) -> dict:
    return json.loads((folder / f"{stem}_provenance.json").read_text(encoding="utf-8"))


# -- software ----------------------------------------------------------------------------------------------------

def test_every_provenance_names_python_platform_libraries_and_kernel_settings(monkeypatch):
    import numpy
    import scipy
    import skimage

    from labelfree._config import provenance

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("LABELFREE_THREADS", "3")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    software = provenance("threshold")["software"]
    assert software["python"] == platform.python_version() and software["platform"] == platform.platform()
    assert (software["numpy"], software["scipy"], software["scikit-image"], software["tifffile"]) == (
        numpy.__version__, scipy.__version__, skimage.__version__, tifffile.__version__)
    assert software["env"]["ATEN_CPU_CAPABILITY"] == "avx2" and software["env"]["LABELFREE_THREADS"] == "3"
    assert "ONEDNN_MAX_CPU_ISA" not in software["env"]  # only the settings that are set
    json.dumps(software)  # a JSON sidecar holds it


def test_software_names_torch_and_cellpose_without_importing_them():
    """A Threshold run must not pay for importing torch to record its version: the installed distributions say
    it (torch's with its build, as ``torch.__version__`` says it: PyPI's CUDA wheel's metadata says 2.13.0, the
    wheel 2.13.0+cu130). torch's own kernel choice is recorded only once torch is imported."""
    from importlib import metadata

    code = ("import sys, json\nfrom labelfree._config import provenance\n"
            "s = provenance('threshold')['software']\n"
            "print(json.dumps([s, 'torch' in sys.modules, 'cellpose' in sys.modules]))\n"
            "import torch\nprint(json.dumps([provenance('threshold')['software'], torch.__version__]))\n")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    first, second = out.stdout.splitlines()
    software, torch_imported, cellpose_imported = json.loads(first)
    after, torch_version = json.loads(second)
    assert not torch_imported and not cellpose_imported
    for name in ("torch", "cellpose"):
        try:
            installed = torch_version if name == "torch" else metadata.version(name)
        except metadata.PackageNotFoundError:
            assert name not in software
        else:
            assert software[name] == installed == after[name]
    assert "torch_cpu_capability" not in software
    if "torch" in software:
        assert after["torch_cpu_capability"] == "DEFAULT"  # ATEN_CPU_CAPABILITY=default, as used


def test_a_version_with_its_build_is_read_from_the_distribution_s_file(tmp_path, monkeypatch):
    """A distribution whose metadata leaves out the build its version file names (PyPI's torch 2.13.0 wheel for
    CUDA 13 says 2.13.0 and is 2.13.0+cu130) is recorded with the build, without being imported; one without the
    file, or whose file names no version, by its metadata."""
    from importlib import metadata

    from labelfree import _reproduce

    for name, line in (("lfbuilt", "__version__ = '3.1.0+cu999'\n"), ("lfplain", "x = 1\n")):
        info = tmp_path / f"{name}-3.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 3.1.0\n")
        (tmp_path / name).mkdir()
        (tmp_path / name / "version.py").write_text(line)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_reproduce, "_BUILD_VERSION_FILES", {
        "built": ("lfbuilt", "lfbuilt/version.py"), "plain": ("lfplain", "lfplain/version.py"),
        "absent": ("lfabsent", "lfabsent/version.py")})
    assert metadata.version("lfbuilt") == "3.1.0"
    assert _reproduce._build_version("built") == "3.1.0+cu999"
    assert _reproduce._build_version("plain") is None and _reproduce._build_version("absent") is None
    assert _reproduce._build_version("numpy") is None  # no file named: its metadata's version is recorded
    assert "lfbuilt" not in sys.modules


def test_versions_and_commit_are_looked_up_once_per_process(monkeypatch):
    """A provenance is made per tile and frame chunk: the lookups that cannot change are not repeated."""
    from importlib import metadata

    from labelfree import _reproduce
    from labelfree._config import provenance

    _reproduce._fixed_software.cache_clear()
    calls = []
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: calls.append(name) or real(name))
    first = provenance("threshold")["software"]
    n = len(calls)
    assert n >= 4
    for _ in range(200):
        again = provenance("threshold")["software"]
    assert len(calls) == n and again == first
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # the environment is read each time
    assert provenance("threshold")["software"]["env"]["OMP_NUM_THREADS"] == "7"


def test_the_git_commit_of_a_source_checkout_is_recorded():
    from labelfree._config import provenance

    if not (ROOT / ".git").exists() or not (ROOT / "src" / "labelfree").is_dir():
        pytest.skip("LabelFree does not run from a git checkout here")
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git cannot read the checkout here")
    assert provenance("threshold")["software"]["git_commit"] == head


def _git(root: Path, head: str) -> Path:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head)
    return git


def test_git_commit_reads_a_branch_packed_refs_a_detached_head_and_a_worktree(tmp_path):
    from labelfree._reproduce import git_commit

    branch = tmp_path / "branch"
    git = _git(branch, "ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(COMMIT + "\n")
    assert git_commit(branch) == COMMIT
    packed = tmp_path / "packed"
    git = _git(packed, "ref: refs/heads/dev\n")
    (git / "packed-refs").write_text(f"# pack-refs with: peeled fully-peeled sorted\n{OTHER} refs/heads/dev\n"
                                     f"{COMMIT} refs/heads/main\n")
    assert git_commit(packed) == OTHER
    detached = tmp_path / "detached"
    _git(detached, OTHER + "\n")
    assert git_commit(detached) == OTHER
    # a linked worktree: .git is a file naming its folder, whose branches live in the main repository
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    private = git / "worktrees" / "wt"
    private.mkdir(parents=True)
    (private / "HEAD").write_text("ref: refs/heads/main\n")
    (private / "commondir").write_text("../..\n")
    (worktree / ".git").write_text(f"gitdir: {private}\n")
    assert git_commit(worktree) == COMMIT
    # none, or unreadable: nothing rather than a wrong commit
    assert git_commit(tmp_path / "nowhere") is None and git_commit(None) is None
    broken = tmp_path / "broken"
    _git(broken, "ref: refs/heads/gone\n")
    assert git_commit(broken) is None


# -- a single command-line run records its warnings, as a batch run records an input's ------------------------------

@pytest.fixture
def still_movie(tmp_path: Path) -> Path:
    """A movie without motion: Motion gives 0 objects and a NoMotionWarning."""
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(3)
    still = np.full((5, 48, 48), 100, np.uint16)
    still[:, 10:22, 10:22] = 1000
    path = tmp_path / "in" / "still.tif"
    tifffile.imwrite(path, still + rng.integers(0, 20, still.shape, dtype=np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    return path


def test_a_single_run_records_its_warnings_as_a_batch_run_does(tmp_path, monkeypatch, still_movie, capsys):
    monkeypatch.chdir(tmp_path)
    single = ["motion", "in/still.tif", "-o", "mo1"]
    batch = ["batch", "in", "-p", "motion", "-o", "mo2", "--in-process"]
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as outside pytest (its filters make LabelFree's warnings errors)
        assert main(single) == 0
        assert "labelfree: warning: No cell motion found in 5 of 5 frames" in capsys.readouterr().err  # shown too
        assert main(batch) == 0
    one, many = _provenance(tmp_path / "mo1", "still"), _provenance(tmp_path / "mo2", "still")
    assert len(one["warnings"]) == 1 and one["warnings"][0].startswith("NoMotionWarning: No cell motion found in 5")
    assert one["warnings"] == many["warnings"]
    from labelfree.io import read_provenance

    assert read_provenance(tmp_path / "mo1" / "still_labels.tif")["warnings"] == one["warnings"]  # the TIFF's too


def test_a_batch_run_records_its_command_and_cwd_as_a_single_run_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    plane = np.zeros((64, 64), np.uint16)
    plane[10:20, 10:20] = plane[40:52, 30:44] = 1000
    tifffile.imwrite(tmp_path / "in" / "blobs.tif", plane)
    single = ["threshold", "in/blobs.tif", "-o", "one", "-q"]
    batch = ["batch", "in", "-p", "threshold", "-o", "many", "--in-process", "-q"]
    assert main(single) == 0 and main(batch) == 0
    one, many = _provenance(tmp_path / "one", "blobs"), _provenance(tmp_path / "many", "blobs")
    assert one["command"] == shlex.join(["labelfree", *single]) and one["cwd"] == str(tmp_path)
    assert many["command"] == shlex.join(["labelfree", *batch]) and many["cwd"] == str(tmp_path)
    # run again from its cwd into another folder, as docs/outputs.md says: the same labels
    again = shlex.split(many["command"].replace("-o many", "-o again"))[1:]
    assert main(again) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "again" / "blobs_labels.tif"),
                          tifffile.imread(tmp_path / "many" / "blobs_labels.tif"))


def test_a_run_s_logged_warnings_are_recorded_and_a_run_without_any_records_none(tmp_path, monkeypatch):
    from labelfree import run

    image = tmp_path / "blobs.tif"
    plane = np.zeros((64, 64), np.uint16)
    plane[10:20, 10:20] = plane[40:52, 30:44] = 1000
    tifffile.imwrite(image, plane)
    assert main(["threshold", str(image), "-o", str(tmp_path / "quiet"), "-q"]) == 0
    assert "warnings" not in _provenance(tmp_path / "quiet", "blobs")
    pipeline = run.run_pipeline

    def warning_pipeline(*args, **kwargs):
        logging.getLogger("labelfree.threshold").warning("the image's channels are identical")
        warnings.warn(UserWarning("a warning of the pipeline"), stacklevel=1)
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(run, "run_pipeline", warning_pipeline)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["threshold", str(image), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert _provenance(tmp_path / "out", "blobs")["warnings"] == ["UserWarning: a warning of the pipeline",
                                                                 "the image's channels are identical"]
    assert not [h for h in logging.getLogger("labelfree").handlers if type(h).__name__ == "_NotedWarnings"]


# -- batch jobs carry their command to the worker -----------------------------------------------------------------

def test_a_batch_job_takes_the_command_along_and_a_python_batch_records_none(tmp_path, monkeypatch):
    from labelfree._reproduce import command_line
    from labelfree.batch import run_batch
    from labelfree.batch.inputs import BatchInput
    from labelfree.batch.task import Job

    def job() -> Job:
        return Job(item=BatchInput(path=tmp_path / "a.tif", stem="a"), pipeline="threshold", config={},
                   out_dir=str(tmp_path), fingerprint="f", input_sha256="s")

    monkeypatch.chdir(tmp_path)
    assert job().command == {}
    with command_line(["batch", "in dir", "-o", "out"]):
        made = job()
    assert made.command == {"command": "labelfree batch 'in dir' -o out", "cwd": str(tmp_path)}
    assert pickle.loads(pickle.dumps(made)).command == made.command  # what a Dask worker receives
    assert job().command == {}  # the command's context ended
    (tmp_path / "in").mkdir()
    plane = np.zeros((64, 64), np.uint16)
    plane[10:20, 10:20] = 1000
    tifffile.imwrite(tmp_path / "in" / "b.tif", plane)
    run_batch("in", pipeline="threshold", out_dir="out", progress=False, scheduler="sync")
    record = _provenance(tmp_path / "out", "b")
    assert "command" not in record and "cwd" not in record and record["software"]["python"]
