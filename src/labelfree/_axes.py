"""What the registry says about the axes the pipelines take, in words for messages.

Which pipelines segment z-stacks is declared once, by each pipeline's spec (``PipelineSpec.takes_z``);
the sentences here are made from the registry when an error needs them, so that no message lists the
pipelines by hand.
"""

from __future__ import annotations

__all__ = ["z_stacks_note"]


def _names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def z_stacks_note() -> str:
    """Which pipelines segment z-stacks and which take 2-D planes, as one sentence from the registry.

    Examples
    --------
    >>> print(z_stacks_note().replace("; ", ";\\n"))
    Of the pipelines, threshold segments z-stacks;
    motion, cutter and fusion take 2-D planes (project a z-stack first).
    """
    from labelfree.pipelines import pipelines

    volumes = [name for name, spec in pipelines().items() if spec.takes_z]
    planes = [name for name, spec in pipelines().items() if not spec.takes_z]
    parts = []
    if volumes:
        parts.append(f"{_names(volumes)} segment{'s' if len(volumes) == 1 else ''} z-stacks")
    if planes:
        parts.append(f"{_names(planes)} take{'s' if len(planes) == 1 else ''} 2-D planes (project a z-stack first)")
    return "Of the pipelines, " + "; ".join(parts) + "."
