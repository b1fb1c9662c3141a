"""Where Java and ImageJ are on this machine, and which Java a Fiji needs (no JVM started)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from labelfree.errors import FijiError, JavaError
from labelfree.imagej import _java

__all__ = ["DEFAULT_IJ_JAR", "find_ij_jar", "find_java", "java_version", "required_java_version"]

DEFAULT_IJ_JAR = "/usr/share/java/ij.jar"


def find_ij_jar() -> Path:
    """Locate ij.jar: ``LABELFREE_IJ_JAR``, then /usr/share/java/ij.jar."""
    env = os.environ.get("LABELFREE_IJ_JAR")
    candidates = [Path(env)] if env else [Path(DEFAULT_IJ_JAR)]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    where = f"LABELFREE_IJ_JAR={env}" if env else DEFAULT_IJ_JAR
    raise JavaError(
        f"ImageJ 1.x (ij.jar) was not found at {where}. Install it (Debian/Ubuntu: "
        "apt-get install libij-java), point LABELFREE_IJ_JAR at an ij.jar, or pass a Fiji folder: "
        "labelfree.imagej.start('/path/to/Fiji.app')."
    )


def find_java() -> Path:
    """The ``java`` executable: ``$JAVA_HOME/bin/java``, then ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = Path(home) / "bin" / ("java.exe" if sys.platform == "win32" else "java")
        if exe.is_file():
            return exe
    found = shutil.which("java")
    if found:
        return Path(found)
    raise JavaError(
        "No Java runtime found (JAVA_HOME is unset or wrong and `java` is not on PATH). Install a "
        "JDK, e.g. `apt-get install default-jdk-headless` or `conda install -c conda-forge openjdk=21`, "
        "or set JAVA_HOME. LabelFree never downloads Java unless you pass fetch_java=True."
    )


def java_version(java: str | Path | None = None) -> int:
    """Feature version (8, 11, 17, 21, ...) of a ``java`` executable."""
    exe = str(java or find_java())
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaError(f"Cannot run {exe} -version: {exc}. Check the Java installation.") from exc
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        raise JavaError(f"Cannot read the Java version from `{exe} -version`: {out.stderr.strip()!r}.")
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def required_java_version(fiji: str | Path, /) -> int:
    """Java feature version needed by a Fiji installation, read from its jars' class files."""
    jars_dir = Path(fiji) / "jars"
    if not jars_dir.is_dir():
        raise FijiError(
            f"{fiji} is not a Fiji installation (it has no jars/ folder). Give the Fiji.app folder."
        )
    needed = 8
    core = sorted(jars_dir.glob("ij-*.jar")) + sorted(jars_dir.glob("imagej-common-*.jar"))
    core += sorted(jars_dir.glob("scijava-common-*.jar")) + sorted(jars_dir.glob("imagej-legacy-*.jar"))
    for jar in core:
        major = _java.class_file_major(jar)
        if major:
            needed = max(needed, major - 44)
    return needed


def _display_available() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
