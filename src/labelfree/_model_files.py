"""What a saved model records: file bytes that depend on the weights only, a hash of the weights, and what
the model was trained on and with.

``torch.save`` to a file *path* names the folder inside its zip archive after the file; a model written
to a temporary file and renamed (every LabelFree save is atomic) then held the temporary file's random
name, so the same weights saved twice made files of different sha256. :func:`torch_file_bytes` saves to a
buffer (the folder is always ``archive``): the same weights make the same bytes, in any process.
:func:`weights_sha256` hashes the weights themselves, to compare models across files written differently
(by an older LabelFree version, by cellpose, on another device).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from labelfree._config import file_sha256
from labelfree._deps import require

__all__ = ["torch_file_bytes", "weights_sha256", "software_versions", "input_record", "content_sha256", "now"]


def torch_file_bytes(obj: Any, /) -> bytes:
    """The bytes ``torch.save(obj)`` writes, the same for the same ``obj`` whatever file they go to.

    Tensors should be on the CPU: the device is recorded in the file.
    """
    torch = require("torch", purpose="saving a model")
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def weights_sha256(state: Mapping[str, Any], /) -> str:
    """SHA-256 over a state dict's tensors in order: for each, its name, dtype, shape and values (CPU bytes).

    Equal for equal weights whatever file holds them (and whatever device they were on).
    """
    torch = require("torch", purpose="hashing model weights")
    h = hashlib.sha256()
    for name, tensor in state.items():
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{list(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def software_versions() -> dict[str, Any]:
    """LabelFree's version and the software of this process, as a run's provenance records it
    (:func:`labelfree._reproduce.software`: Python, platform, library versions, kernel and thread settings,
    the git commit of a source checkout)."""
    from labelfree import __version__
    from labelfree._reproduce import software

    return {"labelfree": __version__, **software()}


def now() -> str:
    """The UTC date and time, to the second (ISO 8601)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def content_sha256(data: Any, /) -> str:
    """SHA-256 of data held in memory: an array (dtype, shape, values), a table (its CSV text), or a list of
    them (ragged lists: each in turn)."""
    h = hashlib.sha256()
    if hasattr(data, "to_csv") and hasattr(data, "columns"):  # a pandas table
        h.update(b"table\0" + data.to_csv(index=False).encode())
    elif isinstance(data, (list, tuple)) and any(np.ndim(x) > 0 or isinstance(x, (list, tuple)) for x in data):
        h.update(f"list{len(data)}\0".encode())
        for part in data:
            h.update(content_sha256(part).encode())
    else:
        arr = np.asarray(getattr(data, "data", data))
        if arr.dtype == object:
            h.update(b"object\0" + json.dumps(arr.tolist(), default=str).encode())
        else:
            arr = np.ascontiguousarray(arr)
            h.update(f"{arr.dtype.str}\0{list(arr.shape)}\0".encode())
            h.update(arr.tobytes())
    return h.hexdigest()


def input_record(data: Any, /) -> dict[str, Any]:
    """What identifies a training input: its file (``source``: a path given, or a DataArray's
    ``attrs["source"]``) with the file's ``sha256``, and for data in memory ``content_sha256`` (and ``shape``)."""
    if isinstance(data, (str, bytes, os.PathLike)):
        path = Path(os.fsdecode(data))
        record: dict[str, Any] = {"source": str(path)}
        if path.is_file():
            record["sha256"] = file_sha256(path)
        return record
    record = {}
    source = (getattr(data, "attrs", None) or {}).get("source")
    if isinstance(source, (str, os.PathLike)) and str(source):
        record["source"] = os.fsdecode(source)
        if Path(record["source"]).is_file():
            record["sha256"] = file_sha256(record["source"])
    if hasattr(data, "shape") and not hasattr(data, "columns"):
        record["shape"] = [int(n) for n in data.shape]
    record["content_sha256"] = content_sha256(data)
    return record
