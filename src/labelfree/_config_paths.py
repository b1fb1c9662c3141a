"""A relative path in a config file is read against the file's folder.

The rule of batch config files (:mod:`labelfree.batch.config_paths`) and of ``labelfree fusion train -c FILE``'s
``starting_model``: a path written in a config file means the same file from any working folder. A path that
names something relative to the current folder (where it was read before) but not the same thing relative to
the file's folder is refused with both named.
"""

from __future__ import annotations

import os
from pathlib import Path

from labelfree.errors import ConfigError

__all__ = ["path_from_file"]


def path_from_file(text: str, base: Path, what: str, where: str, /) -> str:
    """``text``, a path a config file in ``base`` gives for ``what``, as an absolute path.

    Raises
    ------
    ConfigError
        ``text`` names something relative to the current folder but not the same thing relative to ``base``.
    """
    path = Path(text).expanduser()
    if not text.strip():
        return text
    if path.is_absolute():  # ~/Fiji.app too
        return str(path)
    here = Path(os.path.normpath(base / path))
    try:
        there: Path | None = Path(os.path.normpath(Path.cwd() / path))
    except OSError:  # the current folder was removed: nothing is read relative to it
        there = None
    if there is not None and there.exists() and not (here.exists() and here.resolve() == there.resolve()):
        rule = ("Relative paths in a config file are read relative to the file's folder (as a manifest's), no longer "
                "relative to the current folder")
        if not here.exists():
            raise ConfigError(
                f"{where}: {what} {text!r} names nothing relative to the config file's folder ({here} does not "
                f"exist) but names {there} relative to the current folder. {rule}: write the path relative to the "
                f"file's folder ({os.path.relpath(there, base)}) or absolute ({there}).")
        raise ConfigError(
            f"{where}: {what} {text!r} names {here} relative to the config file's folder and another file or "
            f"folder, {there}, relative to the current folder. {rule}: write the one you mean as an absolute path.")
    bare = not here.exists() and os.sep not in text and "/" not in text and not path.suffix
    return text if bare else str(here)
