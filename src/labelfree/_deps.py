"""Optional dependencies: import on demand, fail with the exact install command."""

from __future__ import annotations

import importlib
from types import ModuleType

from labelfree.errors import MissingDependencyError

__all__ = ["require", "EXTRAS", "TORCH_PIN", "TORCH_CPU_INDEX", "TORCH_CPU", "install_hint"]

#: module name -> (pip extra, pip package spec) that provides it
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch==2.13.0"),
    "cellpose": ("cellpose", "cellpose>=3.1.1,<4"),
    "scyjava": ("imagej", "scyjava"),
    "jpype": ("imagej", "JPype1"),
    "imagej": ("imagej", "pyimagej"),
    "dask": ("dask", "dask[distributed]"),
    "distributed": ("dask", "dask[distributed]"),
    "tqdm": ("dev", "tqdm"),
    "zarr": ("zarr", "zarr>=3"),
    "dask_jobqueue": ("cluster", "dask-jobqueue>=0.9"),
    "matplotlib": ("report", "matplotlib>=3.7"),
}


#: torch as docs/install.md installs it: the CPU build of the pinned version (PyPI's torch on Linux is the
#: multi-GB CUDA build, and the ``torch`` and ``cellpose`` extras take torch from PyPI)
TORCH_PIN = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CPU = f"pip install {TORCH_PIN} --index-url {TORCH_CPU_INDEX}"


def install_hint(module: str) -> str:
    """Return the pip command that installs ``module`` for LabelFree (for torch and cellpose: torch's CPU
    build first)."""
    top = module.split(".")[0]
    extra, spec = EXTRAS.get(top, (None, top))
    if top == "torch":
        return f"{TORCH_CPU}  (the CPU build; PyPI's torch on Linux is the multi-GB CUDA one; for a GPU see " \
               "docs/install.md)"
    hint = f'pip install "{spec}"' if extra is None else f'pip install "labelfree[{extra}]"  (or: pip install "{spec}")'
    return f"{TORCH_CPU}, then {hint}" if top == "cellpose" else hint


def require(module: str, *, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` with the install command.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"torch"`` or ``"cellpose.models"``.
    purpose : str, optional
        What the module is needed for, quoted in the error message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"LabelFree needs the optional package '{top}'{why}, but it is not installed "
            f"({exc}). Install it with: {install_hint(module)}"
        ) from exc
