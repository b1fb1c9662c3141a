"""The package as a notebook meets it: ``labelfree.motion`` after ``import labelfree`` (imported when first
used, so ``import labelfree`` stays light), a docstring naming the entry points, and a ``py.typed`` marker."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import labelfree

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("motion", "cutter", "fusion", "threshold", "io", "metrics", "measure", "imagej", "registration",
               "batch", "run")


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_import_labelfree_imports_no_pipeline_and_no_network_library():
    loaded = json.loads(_fresh(
        "import sys, json, labelfree\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'cellpose', 'jpype', "
        "'scyjava', 'imagej', 'dask', 'distributed', 'cv2') or m.startswith('labelfree.'))))"))
    heavy = [m for m in loaded if not m.startswith("labelfree.")]
    assert not heavy, heavy
    assert not [m for m in loaded if m.split(".")[1] in SUBPACKAGES], loaded


def test_every_pipeline_is_an_attribute_of_the_package_after_import_labelfree():
    out = _fresh(
        "import labelfree\n"
        f"for name in {SUBPACKAGES!r}:\n"
        "    print(name, getattr(labelfree, name).__name__)\n"
        "print(labelfree.motion.segment.__module__, labelfree.threshold.segment.__module__)\n"
        "print(labelfree.run.run_pipeline.__name__, labelfree.io.read_image.__name__, "
        "labelfree.io.write_outputs.__name__, labelfree.metrics.evaluate.__name__)")
    lines = out.splitlines()
    assert lines[:len(SUBPACKAGES)] == [f"{n} labelfree.{n}" for n in SUBPACKAGES]
    assert lines[-2:] == ["labelfree.motion.segment labelfree.threshold.segment",
                          "run_pipeline read_image write_outputs evaluate"]


def test_an_unknown_attribute_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="module 'labelfree' has no attribute 'segmentt'"):
        labelfree.segmentt  # noqa: B018
    assert not hasattr(labelfree, "nope")


def test_dir_and_help_name_the_pipelines_and_entry_points():
    names = dir(labelfree)
    assert set(SUBPACKAGES) <= set(names)
    assert "__version__" in names and "DIMS" in names
    doc = labelfree.__doc__
    for word in ("labelfree.motion", "labelfree.cutter", "labelfree.fusion", "labelfree.threshold", "segment(image",
                 "run_pipeline", "read_image", "write_outputs", "evaluate", "attrs[\"labelfree\"]", "docs/python.md"):
        assert word in doc, word


def test_the_package_is_marked_typed_and_the_marker_is_packaged():
    marker = Path(labelfree.__file__).with_name("py.typed")
    assert marker.is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["labelfree"]


def test_mypy_reads_the_packages_types(tmp_path):
    """Where mypy is installed: a user's script is checked against LabelFree's own annotations."""
    if importlib.util.find_spec("mypy") is None:  # a development install has it (the dev extra)
        pytest.skip("mypy is not installed")
    script = tmp_path / "user.py"
    script.write_text("from labelfree.threshold import ThresholdConfig\n"
                      "cfg = ThresholdConfig(method='otsu')\n"
                      "reveal_type(cfg.min_size)\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "mypy", "--python-executable", sys.executable,
                          "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"), str(script)],
                         capture_output=True, text=True, timeout=600)
    assert "py.typed" not in out.stdout, out.stdout
    assert re.search(r'Revealed type is "(builtins\.)?int"', out.stdout), out.stdout
