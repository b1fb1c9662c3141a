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

from labelfree._deps import install_hint
from labelfree.errors import FijiError, JavaError
from labelfree.spec import Check

__all__ = ["Check", "checkup", "format_report", "doctor", "bridge_wanted"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _fiji_check(fiji: Path, java: int | None) -> Check:
    """Whether ``fiji`` is a Fiji installation (the same rules and messages as ``labelfree fiji install``) and
    whether the Java found (``java``: its version, None when none was found) runs it."""
    from labelfree.imagej import jvm
    from labelfree.imagej.install import check_fiji_dir

    try:
        root = check_fiji_dir(fiji)
        needed = jvm.required_java_version(root)
    except FijiError as exc:
        return Check("Fiji", False, str(fiji), str(exc))
    runs = java is not None and java >= needed
    return Check("Fiji", runs, f"{root} needs Java {needed}",
                 "" if runs else f"Install Java {needed} and point JAVA_HOME at it.")


def _java_checks(fiji: Path | None, *, needed: bool = True) -> list[Check]:
    """Java, javac, the Fiji's Java and ij.jar; ``needed``: whether the ImageJ/Fiji bridge is wanted here (the
    pipelines themselves never start Java)."""
    from labelfree.imagej import _java, jvm

    checks = []
    try:
        exe = jvm.find_java()
        version = jvm.java_version(exe)
        checks.append(Check("Java", True, f"Java {version} at {exe}"))
    except JavaError as exc:
        return [Check("Java", False, "not found", str(exc), needed=needed)] + (
            [_fiji_check(fiji, None)] if fiji is not None else [])
    javac = _java.find_javac()
    checks.append(Check("Java compiler", javac is not None, str(javac or "javac not found"),
                        "Install a JDK (apt-get install default-jdk-headless) for the ImageJ macro commands.",
                        needed=False))
    if fiji is not None:
        checks.append(_fiji_check(fiji, version))
    try:
        checks.append(Check("ImageJ 1.x", True, str(jvm.find_ij_jar())))
    except JavaError as exc:
        checks.append(Check("ImageJ 1.x", False, "ij.jar not found", str(exc), needed=needed and fiji is None))
    return checks


#: the ImageJ/Fiji bridge, all three from ``pip install "labelfree[imagej]"``: (distribution, name)
_BRIDGE = (("scyjava", "scyjava"), ("JPype1", "JPype"), ("pyimagej", "pyimagej"))
_BRIDGE_FIX = 'pip install "labelfree[imagej]"'


def bridge_wanted(*, fiji: str | Path | None = None) -> bool:
    """Whether this install uses the ImageJ/Fiji bridge: a Fiji was named, or a package of
    ``labelfree[imagej]`` is installed. Only then are Java, ij.jar, scyjava and JPype needed."""
    return fiji is not None or any(_version(dist) is not None for dist, _ in _BRIDGE)


#: packages of LabelFree's file formats and extras: (distribution, name, what it gives, extra; None: required)
_OPTIONAL = (
    ("imagecodecs", "imagecodecs", "compressed TIFFs: LZW, zlib, JPEG", None),
    ("pillow", "Pillow", "PNG, JPEG, BMP, GIF inputs; PNG overlays", None),
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


def _python_checks(*, bridge: bool = True) -> list[Check]:
    checks = [_package_check(dist, name, _BRIDGE_FIX, needed=bridge and name != "pyimagej",
                             what="the ImageJ/Fiji bridge") for dist, name in _BRIDGE]
    torch_version = _version("torch")
    if torch_version is None:
        checks.append(Check("torch", False, "not installed", f"{install_hint('torch')} (Cutter, Fusion)",
                            needed=False))
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


def _cache_check() -> Check:
    """Whether LabelFree's cache folder can be written; a read-only one (a facility's shared cache) is fine when it
    holds the model zoo Fusion needs: what each user compiles then goes to a folder of their own."""
    from labelfree._cache import can_write, cache_root, home_folder

    root = cache_root()
    where = "" if os.environ.get("LABELFREE_CACHE_DIR") or home_folder() else " (no home folder: a temporary one)"
    if can_write(root):
        return Check("cache", True, f"{root}{where}, writable", needed=False)
    zoo = root / "zoo"
    try:
        has_zoo = zoo.is_dir() and any(zoo.iterdir())
    except OSError:
        has_zoo = False
    if has_zoo:
        return Check("cache", True, f"{root}, read-only, with a model zoo ({zoo}): fine for a shared install; "
                     "compiled code and settings go to a folder of each user's own in the temporary folder",
                     needed=False)
    return Check("cache", False, f"{root}{where} cannot be written and holds no model zoo",
                 "Set LABELFREE_CACHE_DIR to a folder you may write to, or have an admin put a model zoo into "
                 f"{zoo} (a shared read-only cache is fine then).", needed=False)


def checkup(*, fiji: str | Path | None = None) -> list[Check]:
    """Run every check (Java, ImageJ/Fiji, Python bridges, torch + GPU, file formats and extras, cellpose,
    display).

    Java, ij.jar, scyjava and JPype are needed (their absence makes the exit code 1) only where the
    ImageJ/Fiji bridge is wanted (:func:`bridge_wanted`); on a core install they are warnings, as the
    pipelines, the CLI and the Python API never start Java.
    """
    import labelfree

    checks = [Check("LabelFree", True,
                    f"{labelfree.__version__} on Python {platform.python_version()} ({sys.executable})")]
    bridge = bridge_wanted(fiji=fiji or None)
    checks += _java_checks(Path(fiji) if fiji else None, needed=bridge)
    checks += _python_checks(bridge=bridge)
    checks.append(_cache_check())
    display = sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY")
                                                          or os.environ.get("WAYLAND_DISPLAY"))
    checks.append(Check("display", display,
                        os.environ.get("DISPLAY", "none") if sys.platform.startswith("linux") else "yes",
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
