"""Info messages a pipeline marks as notes of its run: what the run did that its result alone does not show
(Cutter's markers added at dim nuclei, Motion's frames split at another cell size). Python logs them at INFO level,
shown only when asked; ImageJ's Log shows them (:func:`labelfree.imagej.dialog.relay_log_warnings`).

A pipeline module registers its notes when it is imported (:func:`register_note`, with its logger's name), so that
the bridge needs no pipeline's name.
"""

from __future__ import annotations

import re

__all__ = ["register_note", "log_notes", "is_log_note"]

_NOTES: dict[str, list[re.Pattern]] = {}


def register_note(logger: str, pattern: str, /) -> None:
    """Mark the info messages of the logger ``logger`` that match ``pattern`` (a regular expression searched in the
    message) as notes of the run."""
    compiled = re.compile(pattern)
    known = _NOTES.setdefault(logger, [])
    if all(p.pattern != compiled.pattern for p in known):
        known.append(compiled)


def log_notes() -> tuple[str, ...]:
    """The names of the loggers that have notes registered."""
    return tuple(_NOTES)


def is_log_note(logger: str, message: str, /) -> bool:
    """Whether the info ``message`` of the logger ``logger`` is a registered note (:func:`register_note`)."""
    return any(p.search(message) for p in _NOTES.get(logger, ()))
