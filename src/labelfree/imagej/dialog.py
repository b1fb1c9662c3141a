"""ImageJ 1.x GenericDialog built from :class:`~labelfree.imagej.options.Field` lists, and the
status-bar progress sink.

Dialog labels are the macro keys themselves, so the keys a user sees, records
and types in a macro are the same words.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from labelfree.imagej.options import Field, coerce_value

__all__ = ["show_dialog", "ImageJProgress"]

log = logging.getLogger(__name__)


def _is_channel_field(field: Field, channels: Sequence[str]) -> bool:
    return len(channels) > 1 and (field.key == "channel" or field.key.endswith("_channel")) and field.kind in (
        "int",
        "scalar",
    )


def show_dialog(
    title: str, fields: Sequence[Field], /, *, defaults: dict[str, Any], channels: Sequence[str] = (), help: str = ""
) -> dict[str, Any] | None:
    """Show a modal GenericDialog; return the typed values, or None when cancelled.

    Parameters
    ----------
    title : str
        Window title (the menu command).
    fields : sequence of Field
        One dialog field per entry, labelled with its macro key.
    defaults : dict
        Initial values by key.
    channels : sequence of str
        Channel names of the input image: ``channel`` / ``*_channel`` fields become choices.
    help : str
        One-line description shown at the top.
    """
    from scyjava import jimport

    GenericDialog = jimport("ij.gui.GenericDialog")
    jstr = jimport("java.lang.String")
    gd = GenericDialog(title)
    if help:
        gd.addMessage(help)
    for f in fields:
        value = defaults.get(f.key, f.default)
        if _is_channel_field(f, channels):
            items = (["auto"] if f.optional else []) + [f"{i}: {name}" for i, name in enumerate(channels)]
            current = "auto" if value is None else next((s for s in items if s.split(":")[0] == str(value)), items[0])
            gd.addChoice(f.key, [jstr(s) for s in items], current)
        elif f.kind == "bool":
            gd.addCheckbox(f.key, bool(value))
        elif f.kind in ("int", "float") and value is not None:
            gd.addNumericField(f.key, float(value), 0 if f.kind == "int" else 3)
        elif f.kind == "choice":
            gd.addChoice(f.key, [jstr(c) for c in f.choices], str(value))
        else:
            text = "auto" if value is None else ",".join(map(str, value)) if f.kind == "list" else str(value)
            gd.addStringField(f.key, text, 20)
    gd.showDialog()
    if gd.wasCanceled():
        return None
    out: dict[str, Any] = {}
    for f in fields:
        value = defaults.get(f.key, f.default)
        if _is_channel_field(f, channels):
            picked = str(gd.getNextChoice())
            out[f.key] = None if picked == "auto" else int(picked.split(":")[0])
        elif f.kind == "bool":
            out[f.key] = bool(gd.getNextBoolean())
        elif f.kind in ("int", "float") and value is not None:
            out[f.key] = coerce_value(f, float(gd.getNextNumber()))
        elif f.kind == "choice":
            out[f.key] = str(gd.getNextChoice())
        else:
            out[f.key] = coerce_value(f, str(gd.getNextString()))
    return out


class ImageJProgress:
    """Progress sink for :class:`labelfree._progress.Progress`: ImageJ status bar + Esc to cancel.

    Called as ``sink(done, total, message)``; ``cancelled`` is True once the user
    pressed Esc (IJ.escapePressed()).
    """

    def __init__(self, title: str) -> None:
        from scyjava import jimport

        self.title = title
        self._IJ = jimport("ij.IJ")
        self._IJ.resetEscape()

    def __call__(self, done: int, total: int, message: str) -> None:
        self._IJ.showProgress(int(done), int(max(total, 1)))
        self._IJ.showStatus(f"{self.title}: {message} ({done}/{total}); Esc cancels")

    @property
    def cancelled(self) -> bool:
        return bool(self._IJ.escapePressed())

    def finish(self, message: str) -> None:
        self._IJ.showProgress(1.0)
        self._IJ.showStatus(f"{self.title}: {message}")
