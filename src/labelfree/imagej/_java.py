"""Small Java helpers that need no running JVM: class-file versions, compiling our command class."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path


__all__ = ["class_file_major", "command_source", "command_classes", "find_javac"]

log = logging.getLogger(__name__)

JAVA_SOURCE_DIR = Path(__file__).with_name("java")
COMMAND_SOURCE = JAVA_SOURCE_DIR / "labelfree" / "LabelFreeCommand.java"
SOURCES = (COMMAND_SOURCE, JAVA_SOURCE_DIR / "labelfree" / "LabelFreeRois.java")


def class_file_major(jar: str | Path, /) -> int:
    """Class-file major version of the first class in ``jar`` (52 = Java 8, 65 = Java 21); 0 if none."""
    try:
        with zipfile.ZipFile(jar) as zf:
            for name in zf.namelist():
                if name.endswith(".class") and not name.startswith("META-INF/"):
                    head = zf.open(name).read(8)
                    if head[:4] == b"\xca\xfe\xba\xbe":
                        return int.from_bytes(head[6:8], "big")
    except (OSError, zipfile.BadZipFile):
        return 0
    return 0


def find_javac() -> Path | None:
    """The ``javac`` compiler next to JAVA_HOME's java or on PATH (None when only a JRE is present)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "javac").is_file():
        return Path(home) / "bin" / "javac"
    found = shutil.which("javac")
    return Path(found) if found else None


def command_source() -> str:
    """All Java sources, concatenated (their hash names the cache folder)."""
    return "\n".join(path.read_text(encoding="utf-8") for path in SOURCES)


def _has_classes(folder: Path) -> bool:
    """Whether ``folder`` holds every compiled helper class, readable by this user."""
    return all(os.access(folder / "labelfree" / (p.stem + ".class"), os.R_OK) for p in SOURCES)


def command_classes(ij_jar: str | Path, /) -> Path | None:
    """Compile the Java helpers (``LabelFreeCommand``, ``LabelFreeRois``) once into a cache folder keyed by their hash.

    Returns the class folder to put on the class path, or None (with a logged
    reason) when no ``javac`` is available or the classes cannot be written anywhere;
    ImageJ then starts without the LabelFree menu commands. The folder is
    ``<cache>/java/<hash>``, readable as the umask allows (a group cache is shared);
    where the cache cannot be written (read-only, no home folder) or holds another
    user's unreadable copy, a folder of the user's own in the temporary folder.
    """
    from labelfree._cache import cache_root, user_temp_dir
    from labelfree.io.atomic import current_umask

    source = command_source().encode("utf-8")
    key = hashlib.sha256(source).hexdigest()[:16]
    shared = cache_root() / "java" / key
    if _has_classes(shared):
        return shared
    javac = find_javac()
    if javac is None:
        log.warning(
            "No Java compiler (javac) found: the 'LabelFree ...' ImageJ macro commands are not "
            "registered. Install a JDK (apt-get install default-jdk-headless) to enable them."
        )
        return None
    for target in (shared, None):
        try:
            target = target or user_temp_dir() / "java" / key
            if _has_classes(target):
                return target
            if target.exists():  # another user's copy this user cannot read (a finished copy appears whole)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
        except OSError as exc:
            log.info("Cannot write the compiled ImageJ commands there (%s)", exc)
            continue
        break
    else:
        log.warning("The LabelFree ImageJ commands cannot be compiled: neither %s nor the temporary folder can be "
                    "written; commands not registered. Set LABELFREE_CACHE_DIR to a folder you may write to.",
                    shared.parent)
        return None
    cmd = [str(javac), "-nowarn", "--release", "8", "-cp", str(ij_jar), "-d", str(tmp), *map(str, SOURCES)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:  # old javac without --release
        cmd = [str(javac), "-nowarn", "-source", "8", "-target", "8", *cmd[4:]]
        out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("Compiling the LabelFree ImageJ command failed; commands not registered:\n%s", out.stderr)
        return None
    with contextlib.suppress(OSError):  # mkdtemp made it 0700: readable as a plain mkdir would have made it
        os.chmod(tmp, 0o777 & ~current_umask())
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        if not _has_classes(target):  # another user's, made meanwhile, that this user cannot read
            log.warning("%s cannot be read (another user made it meanwhile); the LabelFree ImageJ commands are not "
                        "registered this time.", target)
            return None
    return target
