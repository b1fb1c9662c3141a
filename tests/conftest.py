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
