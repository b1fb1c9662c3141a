"""What a provenance record holds, beyond the config, to reproduce a run: the software and the command line.

:func:`software` is the ``software`` entry of every provenance record
(:func:`labelfree._config.provenance`): Python, the platform, the versions of the libraries whose
results a run depends on (those installed), the environment settings that choose CPU kernels and
thread counts (those set), and the git commit of the LabelFree source when it runs from a git
checkout. It is cheap: a provenance is made for every frame chunk and tile, so what cannot change
within a process (versions, platform, commit) is looked up once per process; the environment
settings, and torch's kernel level once torch is imported, are read each time.

:func:`command_line` marks the command line of a ``labelfree`` command (:func:`labelfree.cli.main`),
so that the runs it starts record it as ``command`` and ``cwd`` (:func:`current_command`), a batch
run's inputs too: a batch job takes it along to the worker that writes its provenance.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["software", "git_commit", "command_line", "current_command", "command_entries", "LIBRARIES",
           "ENV_SETTINGS"]

#: libraries whose results a run depends on: name recorded -> (module, distributions that install it)
LIBRARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "numpy": ("numpy", ("numpy",)),
    "scipy": ("scipy", ("scipy",)),
    "scikit-image": ("skimage", ("scikit-image",)),
    "tifffile": ("tifffile", ("tifffile",)),
    "torch": ("torch", ("torch",)),
    "cellpose": ("cellpose", ("cellpose",)),
    "opencv": ("cv2", ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
                       "opencv-contrib-python", "opencv")),
}
#: environment settings that change results (CPU kernels: docs/fusion.md) or thread counts, recorded when set
ENV_SETTINGS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS", "LABELFREE_THREADS")

_HEX = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def software() -> dict[str, Any]:
    """The ``software`` entry of a provenance record.

    Returns
    -------
    dict
        ``python`` (version), ``platform`` (``platform.platform()``), the version of each library of
        :data:`LIBRARIES` that is installed (its distribution's, read without importing it; else an
        imported module's own ``__version__``), ``git_commit`` of the LabelFree source when it
        runs from a git checkout, ``env`` (the settings of :data:`ENV_SETTINGS` that are set) and
        ``torch_cpu_capability`` (the CPU kernels torch chose, e.g. ``AVX2``) once torch is imported.
    """
    record = dict(_fixed_software())
    for name, (module, _) in LIBRARIES.items():  # no distribution found (a conda build): an imported module's own
        if name not in record and module in sys.modules:
            version = getattr(sys.modules[module], "__version__", None)
            if isinstance(version, str) and version:
                record[name] = version
    env = {name: os.environ[name] for name in ENV_SETTINGS if name in os.environ}
    if env:
        record["env"] = env
    capability = _torch_cpu_capability()
    if capability:
        record["torch_cpu_capability"] = capability
    return record


@functools.lru_cache(maxsize=1)
def _fixed_software() -> tuple[tuple[str, Any], ...]:
    """What cannot change within a process (looked up once): Python, platform, library versions, git commit."""
    out: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for name, (_, distributions) in LIBRARIES.items():
        version = _distribution_version(distributions)
        if version:
            out[name] = version
    commit = git_commit(_source_checkout())
    if commit:
        out["git_commit"] = commit
    return tuple(out.items())


def _distribution_version(distributions: Sequence[str], /) -> str | None:
    """The version of the first of ``distributions`` that is installed (read from its metadata, not imported)."""
    from importlib import metadata

    for name in distributions:
        try:
            return metadata.version(name)
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


def _torch_cpu_capability() -> str | None:
    """The CPU kernel level torch uses (``ATEN_CPU_CAPABILITY`` or its own choice), when torch is imported."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - a torch without it (old, or half imported) records nothing
        return None


def _source_checkout() -> Path | None:
    """The root of the git checkout LabelFree runs from (``<root>/src/labelfree``), or None when it is
    installed (site-packages inside some other repository is no checkout of LabelFree)."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    if package.parent.name != "src" or not (root / "pyproject.toml").is_file() or not (root / ".git").exists():
        return None
    return root


def git_commit(root: str | os.PathLike[str] | None, /) -> str | None:
    """The commit checked out in the git working tree at ``root``, read from ``.git`` (HEAD, the ref it
    names, packed refs; a ``.git`` file of a linked worktree or submodule is followed); None when there is
    none or it cannot be read. Uncommitted changes are not seen."""
    if root is None:
        return None
    try:
        git = Path(root) / ".git"
        if git.is_file():  # "gitdir: <path>" (a linked worktree, a submodule)
            text = git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                return None
            git = (Path(root) / text[len("gitdir:"):].strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if _HEX.fullmatch(head):  # a detached HEAD
            return head
        if not head.startswith("ref:"):
            return None
        ref = head[len("ref:"):].strip()
        common = git
        if (git / "commondir").is_file():  # a linked worktree keeps its branches in the main repository
            common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
        for base in dict.fromkeys((git, common)):
            path = base / ref
            if path.is_file():
                value = path.read_text(encoding="utf-8").strip()
                return value if _HEX.fullmatch(value) else None
        for base in dict.fromkeys((git, common)):
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref and _HEX.fullmatch(parts[0]):
                        return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None


#: the ``command``/``cwd`` entries of the labelfree command running in this context (none outside one)
_COMMAND: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("labelfree_command", default=None)


def command_entries(argv: Sequence[Any], /) -> dict[str, str]:
    """``command`` (``labelfree`` and ``argv``, quoted for a POSIX shell) and ``cwd`` (the folder its relative
    paths start from): how the provenance of a command-line run says how to run it again."""
    import shlex

    return {"command": shlex.join(["labelfree", *map(str, argv)]), "cwd": os.getcwd()}


@contextlib.contextmanager
def command_line(argv: Sequence[Any], /) -> Iterator[dict[str, str]]:
    """Mark the block as the run of the command ``labelfree <argv>``: :func:`current_command` gives its entries."""
    entries = command_entries(argv)
    token = _COMMAND.set(entries)
    try:
        yield entries
    finally:
        _COMMAND.reset(token)


def current_command() -> dict[str, str]:
    """The ``command`` and ``cwd`` of the labelfree command running (:func:`command_line`); empty outside one
    (a run from Python, Fiji or a worker process)."""
    entries = _COMMAND.get()
    return dict(entries) if entries else {}
