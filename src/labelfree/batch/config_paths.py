"""Relative paths in a batch config file are relative to that file's folder.

A batch config file (``--batch-config batch.yaml``, ``run_batch(batch="batch.yaml")``) names
files and folders: ``zoo``, ``fiji_dir`` and the extra inputs under ``inputs:`` (``markers``,
``model_file``, ``save_model_file``, a Fusion ``CHANNEL=FILE`` list). As a manifest's paths are
relative to the manifest, the relative ones are read against the file's folder, so the file
means the same files whatever folder the run starts in (a cluster job, a Fiji macro). Paths
given on the command line or in Python stay relative to the current folder.

A path that names something relative to the current folder, where LabelFree looked before,
and not the same thing relative to the file's folder is refused with both named: a user who
relied on the old reading never gets another folder without a word. A bare name that names
nothing in either place (``cyto3``, a built-in Cellpose model) stays as written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from labelfree._config_paths import path_from_file as _from_file

__all__ = ["paths_from_file"]

log = logging.getLogger(__name__)


def paths_from_file(config: Any, path: str | Path, /) -> Any:
    """``config``, read from the batch config file ``path``, with its relative paths made absolute against
    the file's folder (``fiji_dir``, ``zoo`` and each file an ``inputs`` value names).

    Parameters
    ----------
    config : BatchConfig
        The config as the file wrote it.
    path : str or Path
        The file it was read from.

    Returns
    -------
    BatchConfig
        A copy holding absolute paths (``config`` itself when it held none to change).

    Raises
    ------
    ConfigError
        A relative path names something relative to the current folder but not the same thing relative
        to the file's folder; the message names both.
    """
    base = Path(path).expanduser().absolute().parent.resolve()
    where = f"Config file {path}"
    changes: dict[str, Any] = {}
    if config.fiji_dir:
        fiji_dir = _from_file(config.fiji_dir, base, "fiji_dir", where)
        if fiji_dir != config.fiji_dir:
            changes["fiji_dir"] = fiji_dir
    specs = _input_specs()
    inputs = {key: _input_from_file(key, value, base, where, specs.get(key, ()))
              for key, value in config.inputs.items()}
    if inputs != config.inputs:
        changes["inputs"], changes["zoo"] = inputs, None  # the zoo is inputs["zoo"] already
    if not changes:
        return config
    log.debug("%s: paths read relative to %s: %s", where, base, changes)
    return config.replace(**changes)


def _input_specs() -> dict[str, list[Any]]:
    """Every pipeline's extra inputs (:class:`labelfree.spec.Input`) by name and macro key: a batch config
    is read before the pipeline of the run is known."""
    from labelfree.pipelines import pipelines

    specs: dict[str, list[Any]] = {}
    for spec in pipelines().values():
        for inp in spec.inputs:
            for key in {inp.name, inp.macro_key} - {""}:
                specs.setdefault(key, []).append(inp)
    return specs


def _input_from_file(key: str, value: str, base: Path, where: str, specs: Any, /) -> str:
    """An ``inputs`` value with each file it names read against ``base``; a choice (``device``), a value that
    gives no file (``markers: detect``) and a name no pipeline takes stay as written."""
    files = [inp for inp in specs if inp.kind != "choice"]
    if not files:
        return value
    if any(inp.kind == "output" for inp in files):  # a file to write (save_model_file): it need not exist yet
        return _from_file(value, base, key, where)
    inp = next((i for i in files if i.files), files[0])
    whole = Path(value.strip()).expanduser()
    if inp.files and ((base / whole).is_file() or whole.is_file()):  # one file whose name holds '=' or ','
        return _from_file(value, base, key, where)
    return inp.map_files(value, lambda file, label: _from_file(file, base, f"{key} {label}".strip(), where))
