"""Optional dependencies: import on demand, fail with the exact install command."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

from labelfree.errors import MissingDependencyError

__all__ = ["require", "EXTRAS", "TORCH_PIN", "TORCH_CPU_INDEX", "TORCH_CPU", "install_hint", "numba_cache_fallback",
           "prepare_numba_cache", "prepare_matplotlib_config"]

log = logging.getLogger(__name__)

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
    "zarr": ("zarr", "zarr>=3,<3.2"),
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
    top = module.split(".")[0]
    try:
        if top == "matplotlib":
            prepare_matplotlib_config()
        if top in _NUMBA_CACHED and module not in sys.modules:
            prepare_numba_cache(top)
            with _home_for_import():
                return importlib.import_module(module)
        return importlib.import_module(module)
    except ImportError as exc:
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"LabelFree needs the optional package '{top}'{why}, but it is not installed "
            f"({exc}). Install it with: {install_hint(module)}"
        ) from exc


#: packages whose modules ask numba to cache compiled functions (``njit(cache=True)``) when they are imported
_NUMBA_CACHED = ("cellpose",)


def numba_cache_fallback(package_dir: str | os.PathLike[str], /) -> Path | None:
    """The folder ``NUMBA_CACHE_DIR`` must name for numba to cache the functions of the package in ``package_dir``,
    or None when numba needs none.

    numba keeps its cache beside the package's files, else in ``$XDG_CACHE_HOME/numba`` (``~/.cache/numba``), and
    refuses ``cache=True`` when neither can be written ("cannot cache function ...: no locator available": a
    read-only install used with a home folder that cannot be written). Then this is LabelFree's cache
    (:func:`labelfree._cache.writable_cache`: the cache folder, else a folder of the user's own in the temporary
    folder). None too when the user set ``NUMBA_CACHE_DIR``: it is never overridden.
    """
    from labelfree._cache import can_write, home_folder, writable_cache

    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if can_write(Path(package_dir) / "__pycache__"):
        return None
    home = home_folder()
    xdg = os.environ.get("XDG_CACHE_HOME") or (home / ".cache" if home is not None else None)
    if xdg is not None and can_write(Path(xdg) / "numba"):
        return None
    return writable_cache("numba")


def prepare_numba_cache(package: str, /) -> None:
    """Before ``package`` is imported: point ``NUMBA_CACHE_DIR`` at a writable folder where numba could not cache
    the package's compiled functions (:func:`numba_cache_fallback`; logged at INFO)."""
    spec = importlib.util.find_spec(package)
    places = list(spec.submodule_search_locations or []) if spec is not None else []
    if not places:
        return
    folder = numba_cache_fallback(places[0])
    if folder is None:
        return
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:  # numba read its settings when it was imported: read them again
        sys.modules["numba"].core.config.reload_config()
    log.info("numba cannot cache %s's compiled functions beside it (%s) nor in the home folder: NUMBA_CACHE_DIR=%s "
             "(set NUMBA_CACHE_DIR to choose another folder).", package, places[0], folder)


_HOME_SAID: list[bool] = []  # whether _home_for_import has logged (once a process)


@contextlib.contextmanager
def _home_for_import() -> Iterator[None]:
    """``HOME`` set to a folder of the user's own while cellpose is imported where no home folder can be
    determined (containers: no ``HOME``, no passwd entry): cellpose asks for it at import time and fails."""
    from labelfree._cache import home_folder, user_temp_dir

    if home_folder() is not None:
        yield
        return
    os.environ["HOME"] = str(user_temp_dir())
    if not _HOME_SAID:
        _HOME_SAID.append(True)
        log.info("No home folder: importing cellpose with HOME=%s", os.environ["HOME"])
    try:
        yield
    finally:
        os.environ.pop("HOME", None)


def prepare_matplotlib_config() -> None:
    """Before matplotlib is imported: where its settings and font cache folders (``$XDG_CONFIG_HOME/matplotlib``,
    ``$XDG_CACHE_HOME/matplotlib``, under the home folder) cannot be written, point ``MPLCONFIGDIR`` at a
    writable folder (:func:`labelfree._cache.writable_cache`; logged at INFO), so matplotlib does not warn
    ("... is not a writable directory") on every run. A ``MPLCONFIGDIR`` the user set is never overridden,
    and a matplotlib already imported is left as it is."""
    from labelfree._cache import can_write, home_folder, writable_cache

    if os.environ.get("MPLCONFIGDIR") or "matplotlib" in sys.modules:
        return
    home = home_folder()
    bases = [os.environ.get("XDG_CONFIG_HOME") or (home / ".config" if home else None),
             os.environ.get("XDG_CACHE_HOME") or (home / ".cache" if home else None)]
    if all(base is not None and can_write(Path(base) / "matplotlib") for base in bases):
        return
    folder = writable_cache("matplotlib")
    os.environ["MPLCONFIGDIR"] = str(folder)
    log.info("matplotlib's settings folder cannot be written here: MPLCONFIGDIR=%s (set MPLCONFIGDIR to choose "
             "another folder).", folder)
