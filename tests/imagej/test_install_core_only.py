"""A core-only install (`pip install labelfree`, no extras): `labelfree doctor` and the demos that need an extra.

The install is real: a site folder holding this environment's packages except the distributions of the
extras (torch, cellpose, the ImageJ bridge, dask, zarr, matplotlib, tqdm, ome-zarr), read by a Python
started without its own site-packages (``-S``).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import labelfree

#: the distributions that only extras install
EXTRA_DISTRIBUTIONS = ("torch", "cellpose", "scyjava", "JPype1", "pyimagej", "dask", "distributed", "zarr",
                       "dask-jobqueue", "matplotlib", "tqdm", "ome-zarr")


def _top_level_entries(dist: str) -> set[str]:
    """The names a distribution puts into site-packages (packages, modules, its .dist-info)."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return set()
    return {f.parts[0] for f in files if f.parts and f.parts[0] != ".."}


@pytest.fixture(scope="module")
def core_only(tmp_path_factory):
    """A function running ``python -c CODE`` on a core-only install; returns the CompletedProcess."""
    site = tmp_path_factory.mktemp("core-only-site")
    hidden = set().union(*(_top_level_entries(d) for d in EXTRA_DISTRIBUTIONS))
    assert "torch" in hidden and "cellpose" in hidden  # this environment has the extras to leave out
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name not in hidden and entry.suffix != ".pth":
            (site / entry.name).symlink_to(entry)
    source = Path(labelfree.__file__).resolve().parents[1]  # the package under test, as imported here

    def run(code: str, *, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
        head = f"import sys; sys.path[:0] = [{str(source)!r}, {str(site)!r}]; "
        environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PYTHONPATH"}
        return subprocess.run([sys.executable, "-S", "-c", head + code], check=False, capture_output=True,
                              text=True, cwd=cwd, env=environ, timeout=300)

    probe = run("import importlib.util as u; print([bool(u.find_spec(m)) for m in ('torch', 'scyjava', 'numpy')])",
                cwd=site)
    assert probe.stdout.strip() == "[False, False, True]", probe.stderr
    return run


CLI = "from labelfree.cli import main; sys.exit(main({argv!r}))"


def test_doctor_on_a_core_install_without_java_needs_nothing_more(core_only, tmp_path):
    """Was: "Missing: Java, scyjava, JPype." and exit code 1 on the documented core install, whose pipelines,
    CLI and Python API never start Java; and the torch fix was `pip install torch==2.13.0`, which on Linux
    fetches the multi-GB CUDA build the install guide warns against."""
    no_java = {"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "none")}
    out = core_only(CLI.format(argv=["doctor"]), cwd=tmp_path, env=no_java)
    assert out.returncode == 0, out.stdout + out.stderr
    report = out.stdout
    assert "Everything needed is present." in report and "MISSING" not in report
    assert "[   warn] Java: not found" in report
    for name in ("scyjava", "JPype", "pyimagej"):
        assert f"[   warn] {name}: not installed (the ImageJ/Fiji bridge)" in report
        assert f'- {name}: pip install "labelfree[imagej]"' in report
    torch_fix = next(line for line in report.splitlines() if line.startswith("- torch: "))
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in torch_fix
    cellpose_fix = next(line for line in report.splitlines() if line.startswith("- cellpose: "))
    assert cellpose_fix.startswith("- cellpose: pip install torch==2.13.0 --index-url")  # the CPU build first
    assert "cellpose models" not in report  # without cellpose its weights were still looked for


@pytest.mark.parametrize("pipeline, name", [("cutter", "Cutter"), ("fusion", "Fusion")])
def test_demo_needing_torch_on_a_core_install_is_one_clear_error(core_only, tmp_path, pipeline, name):
    """Was: a ModuleNotFoundError traceback from deep inside the run (the thread limits), after the demo
    had printed its heading; the Fusion demo would have tried to train its model first."""
    cache = tmp_path / "cache"  # an empty cache: the Fusion demo finds no zoo and would train one
    out = core_only(CLI.format(argv=["demo", "--pipeline", pipeline, "-o", "out"]), cwd=tmp_path,
                    env={"LABELFREE_CACHE_DIR": str(cache)})
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"labelfree: error: LabelFree needs the optional package 'torch' for the {name} demo")
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in lines[0]  # the CPU build
    assert not (tmp_path / "out").exists()  # nothing written, nothing trained
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.slow
def test_the_motion_demo_runs_on_a_core_install(core_only, tmp_path):
    """The default demo (the first command the README runs) needs no extra."""
    out = core_only(CLI.format(argv=["demo", "-o", "out", "-q"]), cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sample_movie_labels.tif", "sample_movie_provenance.json", "sample_movie_rois.zip", "sample_movie_table.csv"]


def test_cutter_on_a_core_install_is_one_clear_error_and_writes_nothing(core_only, tmp_path):
    """Was: a ModuleNotFoundError traceback from the thread limits (`import torch`) once the image was read."""
    import numpy as np
    import tifffile

    image = np.zeros((64, 64), np.uint16)
    image[20:40, 20:40] = 1000
    tifffile.imwrite(tmp_path / "cells.tif", image)
    out = core_only(CLI.format(argv=["cutter", "cells.tif", "-o", "out"]), cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("labelfree: error: LabelFree needs the optional package 'torch'")
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
