"""Per-input state files: what a finished input looked like, so a rerun can skip it.

Each finished input leaves ``<stem>_batch.json`` next to its outputs, written last and
atomically. It holds a fingerprint: the SHA-256 of the input file (and of the markers
file), the pipeline name, the LabelFree version, the full effective config and the
preprocessing options. A rerun skips an input only when the fingerprint is the same and
every output listed in the state file still exists.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from labelfree._config import file_sha256

__all__ = [
    "STATE_SUFFIX",
    "STAGING_DIR",
    "input_fingerprint",
    "state_path",
    "read_state",
    "is_finished",
    "write_json_atomic",
    "write_text_atomic",
    "new_staging_dir",
    "publish_outputs",
    "clear_staging",
    "checksum",
]

STATE_SUFFIX = "_batch.json"
STAGING_DIR = ".labelfree-staging"


def input_fingerprint(
    input_sha256: str, /, *, pipeline: str, config: dict[str, Any], extra: dict[str, Any]
) -> str:
    """SHA-256 of everything that determines an input's result.

    Parameters
    ----------
    input_sha256 : str
        Checksum of the input file.
    pipeline : str
        Pipeline name.
    config : dict
        The effective pipeline config (run config + per-file overrides, defaults included).
    extra : dict
        Input description (channels, dims, markers checksum) and preprocessing options.
    """
    from labelfree import __version__

    record = {
        "input_sha256": input_sha256,
        "pipeline": pipeline,
        "version": __version__,
        "config": config,
        "extra": extra,
    }
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum(path: str | Path | None, /) -> str | None:
    """SHA-256 of a file, or None for no file."""
    return None if path is None else file_sha256(path)


def state_path(out_dir: str | Path, stem: str, /) -> Path:
    """Path of the state file of the input with output stem ``stem``."""
    return Path(out_dir) / f"{stem}{STATE_SUFFIX}"


def read_state(out_dir: str | Path, stem: str, /) -> dict[str, Any] | None:
    """The state record of ``stem``, or None when absent or unreadable."""
    try:
        return json.loads(state_path(out_dir, stem).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_finished(out_dir: str | Path, stem: str, /, *, fingerprint: str) -> dict[str, Any] | None:
    """The state record when ``stem`` was finished with ``fingerprint`` and its outputs exist."""
    state = read_state(out_dir, stem)
    if not state or state.get("fingerprint") != fingerprint or state.get("status") != "ok":
        return None
    outputs = state.get("outputs") or {}
    if not outputs or not all((Path(out_dir) / name).is_file() for name in outputs.values()):
        return None
    return state


def write_text_atomic(path: str | Path, text: str, /) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, data: dict[str, Any], /) -> Path:
    """Write ``data`` as JSON to ``path`` through a temp file and a rename."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=str))


def new_staging_dir(out_dir: str | Path, stem: str, /) -> Path:
    """A fresh private folder inside ``out_dir`` where one input's outputs are written."""
    path = Path(out_dir) / STAGING_DIR / f"{stem}-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def publish_outputs(staged: dict[str, str | Path], out_dir: str | Path, /) -> dict[str, str]:
    """Move staged output files into ``out_dir`` (same file system: atomic renames).

    Returns the output file names (relative to ``out_dir``) by kind.
    """
    names: dict[str, str] = {}
    for kind, src in staged.items():
        src = Path(src)
        os.replace(src, Path(out_dir) / src.name)
        names[kind] = src.name
    return names


def clear_staging(out_dir: str | Path, /, *, stem: str | None = None) -> None:
    """Remove leftovers of interrupted runs (all of them, or those of one stem)."""
    root = Path(out_dir) / STAGING_DIR
    if not root.is_dir():
        return
    if stem is None:
        shutil.rmtree(root, ignore_errors=True)
        return
    for path in root.glob(f"{glob.escape(stem)}-*"):
        shutil.rmtree(path, ignore_errors=True)
