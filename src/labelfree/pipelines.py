"""The registry: every pipeline and tool of LabelFree, one line each.

Each line names a package's ``spec`` module, which declares the pipeline's
:class:`labelfree.spec.PipelineSpec` as ``SPEC`` (tools: ``TOOLS``). The CLI, batch
runs, the Fiji commands, the shipped Fiji scripts and the documentation's option
tables are all generated from what these modules declare. Adding a pipeline is one
package plus one line here.
"""

from __future__ import annotations

import functools
import importlib

from labelfree.errors import InputError
from labelfree.spec import PipelineSpec, ToolSpec

__all__ = ["DEFAULT_DEMO", "PIPELINE_MODULES", "TOOL_MODULES", "pipelines", "tools", "get_pipeline", "get_tool", "get_command"]

#: spec modules of the pipelines, in menu order
PIPELINE_MODULES = (
    "labelfree.threshold.spec",
    "labelfree.motion.spec",
    "labelfree.cutter.spec",
    "labelfree.fusion.spec",
)
#: the pipeline ``labelfree demo`` runs when none is named
DEFAULT_DEMO = "motion"
#: spec modules of the image -> image tools (each holds ``TOOLS``, a tuple of ToolSpec)
TOOL_MODULES = ("labelfree.registration.spec",)


@functools.lru_cache(maxsize=None)
def pipelines() -> dict[str, PipelineSpec]:
    """Name -> spec of every registered pipeline, in menu order."""
    specs = [importlib.import_module(m).SPEC for m in PIPELINE_MODULES]
    return {s.name: s for s in specs}


@functools.lru_cache(maxsize=None)
def tools() -> dict[str, ToolSpec]:
    """Name -> spec of every registered tool (drift correction, stitching)."""
    return {t.name: t for m in TOOL_MODULES for t in importlib.import_module(m).TOOLS}


def get_pipeline(name: str, /) -> PipelineSpec:
    """The spec of pipeline ``name`` (case-insensitive), or an InputError listing the pipelines."""
    key = str(name).strip().lower()
    found = pipelines().get(key)
    if found is None:
        raise InputError(f"Unknown pipeline {name!r}; choose one of: {', '.join(pipelines())}.")
    return found


def get_tool(name: str, /) -> ToolSpec:
    """The spec of tool ``name``, or an InputError listing the tools."""
    found = tools().get(str(name).strip().lower())
    if found is None:
        raise InputError(f"Unknown tool {name!r}; choose one of: {', '.join(tools())}.")
    return found


def get_command(name: str, /) -> PipelineSpec | ToolSpec:
    """A pipeline or a tool by name or menu title ("motion", "LabelFree Motion")."""
    key = str(name).strip()
    key = key[len("labelfree"):].strip() if key.lower().startswith("labelfree") else key
    key = key.lower()
    found = pipelines().get(key) or tools().get(key)
    if found is None:
        names = [*pipelines(), *tools()]
        raise InputError(f"Unknown LabelFree command {name!r}; available: {', '.join(names)} (or their Fiji menu "
                         f"titles, e.g. {pipelines()[names[0]].menu_title!r}).")
    return found
