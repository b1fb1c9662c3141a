"""The ImageJ/Fiji bridge: JVM start, ImagePlus <-> DataArray, labels -> ImagePlus / ROI Manager /
ResultsTable, the "LabelFree ..." menu and macro commands, the Fiji installer and the doctor.

Importing this package does not start Java; :func:`start` does. Everything else
needs a started session.

>>> import labelfree.imagej as lij            # doctest: +SKIP
>>> lij.start()                               # ImageJ 1.x from ij.jar  # doctest: +SKIP
>>> imp = lij.xarray_to_imageplus(movie)      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "start",
    "session",
    "Session",
    "imageplus_to_xarray",
    "xarray_to_imageplus",
    "labels_to_imageplus",
    "labels_to_roimanager",
    "add_labels_to_roimanager",
    "roimanager_to_labels",
    "table_to_resultstable",
    "resultstable_to_table",
    "objects_table_for_imagej",
    "run_command",
    "run_macro",
    "register_commands",
    "install_fiji",
    "uninstall_fiji",
    "doctor",
]

_WHERE = {
    "start": "jvm",
    "session": "jvm",
    "Session": "jvm",
    "imageplus_to_xarray": "convert",
    "xarray_to_imageplus": "convert",
    "labels_to_imageplus": "labels",
    "labels_to_roimanager": "rois",
    "add_labels_to_roimanager": "rois",
    "roimanager_to_labels": "roi_labels",
    "table_to_resultstable": "tables",
    "resultstable_to_table": "tables",
    "objects_table_for_imagej": "tables",
    "run_command": "commands",
    "run_macro": "macro",
    "register_commands": "macro",
    "install_fiji": "install",
    "uninstall_fiji": "install",
    "doctor": "doctor",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"labelfree.imagej.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'labelfree.imagej' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
