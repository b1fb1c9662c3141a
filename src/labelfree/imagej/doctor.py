"""``labelfree doctor``: what LabelFree needs on this machine, what is missing, and how to fix it.

Runs without starting Java (it runs ``java -version`` in a subprocess), so it
also works when the JVM is what is broken.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from pathlib import Path

from labelfree.errors import FijiError, JavaError
from labelfree.spec import Check

__all__ = ["Check", "checkup", "format_report", "doctor"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _java_checks(fiji: Path | None) -> list[Check]:
    from labelfree.imagej import _java, jvm

    checks = []
    try:
        exe = jvm.find_java()
        version = jvm.java_version(exe)
        checks.append(Check("Java", True, f"Java {version} at {exe}"))
    except JavaError as exc:
        return [Check("Java", False, "not found", str(exc))]
    javac = _java.find_javac()
    checks.append(Check("Java compiler", javac is not None, str(javac or "javac not found"),
                        "Install a JDK (apt-get install default-jdk-headless) for the ImageJ macro commands.",
                        needed=False))
    if fiji is not None:
        try:
            needed = jvm.required_java_version(fiji)
            checks.append(Check("Fiji", version >= needed, f"{fiji} needs Java {needed}",
                                f"Install Java {needed} and point JAVA_HOME at it." if version < needed else ""))
        except FijiError as exc:
            checks.append(Check("Fiji", False, str(fiji), str(exc)))
    try:
        checks.append(Check("ImageJ 1.x", True, str(jvm.find_ij_jar())))
    except JavaError as exc:
        checks.append(Check("ImageJ 1.x", False, "ij.jar not found", str(exc), needed=fiji is None))
    return checks


#: packages of LabelFree's file formats and extras: (distribution, name, what it gives, extra; None: required)
_OPTIONAL = (
    ("imagecodecs", "imagecodecs", "compressed TIFFs: LZW, zlib, JPEG", None),
    ("zarr", "zarr", "OME-Zarr images in and out", "zarr"),
    ("dask", "dask", "images larger than memory, batch runs on clusters", "dask"),
    ("distributed", "dask.distributed", "batch runs on several workers or machines", "dask"),
    ("dask-jobqueue", "dask-jobqueue", "batch runs on SLURM or PBS", "cluster"),
    ("matplotlib", "matplotlib", "plots in the batch report", "report"),
)


def _package_check(dist: str, name: str, fix: str, *, needed: bool, what: str = "") -> Check:
    """Whether the distribution ``dist`` is installed (its version), with ``fix`` when it is not."""
    version = _version(dist)
    detail = version or "not installed"
    return Check(name, version is not None, f"{detail} ({what})" if what else detail, "" if version else fix,
                 needed=needed)


def _python_checks() -> list[Check]:
    checks = [_package_check(dist, name, f"pip install {dist}", needed=needed)
              for dist, name, needed in (("scyjava", "scyjava", True), ("JPype1", "JPype", True),
                                         ("pyimagej", "pyimagej", False))]
    torch_version = _version("torch")
    if torch_version is None:
        checks.append(Check("torch", False, "not installed", "pip install torch==2.13.0 (Cutter, Fusion)", needed=False))
    else:
        import torch

        gpu = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else (
            "Apple MPS" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "CPU only")
        checks.append(Check("torch", True, f"{torch_version} ({gpu})", needed=False))
    checks += [_package_check(dist, name, f'pip install "labelfree[{extra}]"' if extra else f"pip install {dist}",
                              needed=extra is None, what=what) for dist, name, what, extra in _OPTIONAL]
    from labelfree.pipelines import pipelines
    from labelfree.spec import load

    for spec in pipelines().values():  # what each pipeline needs besides the common packages
        if spec.checks:
            checks.extend(load(spec.checks)())
    return checks


def checkup(*, fiji: str | Path | None = None) -> list[Check]:
    """Run every check (Java, ImageJ/Fiji, Python bridges, torch + GPU, file formats and extras, cellpose,
    display)."""
    import labelfree

    checks = [Check("LabelFree", True, f"{labelfree.__version__} on Python {platform.python_version()} ({sys.executable})")]
    checks += _java_checks(Path(fiji) if fiji else None)
    checks += _python_checks()
    display = sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    checks.append(Check("display", display, os.environ.get("DISPLAY", "none") if sys.platform.startswith("linux") else "yes",
                        "" if display else "The ROI Manager and image windows need one: run under xvfb-run -a, "
                        "or use headless runs that write files.", needed=False))
    return checks


def format_report(checks: list[Check], /) -> str:
    """Plain-words report: one line per check, then what to fix."""
    lines = []
    for c in checks:
        mark = "ok " if c.ok else ("MISSING" if c.needed else "warn")
        lines.append(f"[{mark:>7}] {c.name}: {c.detail}")
    fixes = [f"- {c.name}: {c.fix}" for c in checks if not c.ok and c.fix]
    if fixes:
        lines += ["", "To fix:"] + fixes
    needed = [c.name for c in checks if not c.ok and c.needed]
    lines += ["", "Everything needed is present." if not needed else f"Missing: {', '.join(needed)}."]
    return "\n".join(lines)


def doctor(*, fiji: str | Path | None = None) -> tuple[str, int]:
    """The report text and the exit code (0 when every needed check passes, else 1)."""
    checks = checkup(fiji=fiji)
    return format_report(checks), int(any(not c.ok and c.needed for c in checks))
