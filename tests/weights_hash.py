"""The weights hash of a model as docs/cutter.md and docs/fusion.md define it, computed independently of
LabelFree (imported by the model-record tests of Cutter and Fusion)."""

from __future__ import annotations

import hashlib

import torch


def tensor_hash(state) -> str:
    """SHA-256 over a state dict's tensors in order: name, dtype, shape and the CPU bytes of each."""
    h = hashlib.sha256()
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{list(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
