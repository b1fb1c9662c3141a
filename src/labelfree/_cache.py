"""LabelFree's cache folder (compiled Fiji command classes, demo and default model zoos)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """LabelFree's cache folder: ``$LABELFREE_CACHE_DIR``, else ``$XDG_CACHE_HOME/labelfree`` or ``~/.cache/labelfree``."""
    env = os.environ.get("LABELFREE_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labelfree"
