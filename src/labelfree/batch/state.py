"""What a finished input looks like, so a rerun can skip it.

Each input's outputs are published as one set whose manifest, ``<stem>_provenance.json``
(written last, see :mod:`labelfree.io.outputs`), holds the SHA-256 of every file of the
set and, under ``batch``, the input's fingerprint: the SHA-256 of the input file (and of
the markers file), the pipeline name, the LabelFree version, the full effective config
and the preprocessing options. A rerun skips an input only when its manifest verifies
(every file present with the recorded hash) and the fingerprint is the same.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from labelfree._config import file_sha256
from labelfree.io.outputs import OUTPUT_SUFFIXES, read_manifest

__all__ = ["input_fingerprint", "finished_state", "manifest_path", "checksum", "earlier_result"]


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


def manifest_path(out_dir: str | Path, stem: str, /) -> Path:
    """Path of the manifest (provenance JSON) of the input with output stem ``stem``."""
    return Path(out_dir) / f"{stem}{OUTPUT_SUFFIXES['provenance']}"


def finished_state(out_dir: str | Path, stem: str, /, *, fingerprint: str) -> dict[str, Any] | None:
    """The manifest when ``stem`` was finished with ``fingerprint`` and every output verifies; else None."""
    manifest = read_manifest(out_dir, stem, verify=True)
    batch = (manifest or {}).get("batch") or {}
    if not manifest or batch.get("fingerprint") != fingerprint:
        return None
    return manifest


def earlier_result(out_dir: str | Path, stem: str, /) -> str | None:
    """What sits where ``stem``'s outputs would go: None (nothing), ``"complete"`` (an earlier
    LabelFree result whose manifest verifies), ``"damaged"`` (a LabelFree manifest whose
    files are missing or changed) or ``"foreign"`` (files without a LabelFree manifest)."""
    out_dir = Path(out_dir)
    names = [f"{stem}{suffix}" for suffix in OUTPUT_SUFFIXES.values()]
    if not any((out_dir / n).exists() for n in names):
        return None
    if read_manifest(out_dir, stem, verify=True) is not None:
        return "complete"
    try:
        record = json.loads(manifest_path(out_dir, stem).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return "foreign"
    return "damaged" if isinstance(record, dict) and "outputs" in record and "version" in record else "foreign"
