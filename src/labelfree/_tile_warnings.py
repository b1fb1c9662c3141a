"""The warnings of a tiled run, said once per kind for the whole image instead of once per tile.

Each tile's call of the segment function records the warnings it raises (:func:`recording`:
per thread, so that tiles running in threads or on Dask workers keep theirs apart, through the one
warnings hook of :mod:`labelfree._warning_hooks`; threads that do not record are left as they
are), and the records travel with the tile's labels. When the run is stitched, :func:`issue` merges them by
category and message pattern (the message with its numbers left out) and re-issues each kind once,
with its category and from the place that raised it (so ``warnings`` filters, ``pytest.warns`` and
the CLI's warning lines treat it as they treat the pipeline's own), saying in how many tiles it
arose and where (the pixels those tiles read, ``y0:y1, x0:x1``).

A warning of a :class:`labelfree.errors.NoObjectsWarning` category concerns the whole
result: a tile of background holds no object while the other tiles do, which is normal, so such
records are kept only where the stitched result (the plane) is empty (:func:`without_found`), and
said once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from labelfree import _warning_hooks
from labelfree.errors import NoObjectsWarning

__all__ = ["TileWarning", "concerns_whole_result", "issue", "recording", "without_found"]

#: tiles named in a merged warning; more are left as "..."
NAMED_TILES = 3


@dataclasses.dataclass(frozen=True)
class TileWarning:
    """One warning raised while one tile was segmented (picklable: it returns from Dask workers).

    Attributes
    ----------
    category : type
        The warning's class.
    message : str
        Its text.
    filename, lineno : str, int
        Where it was raised.
    module : str or None
        The module it was raised in (``warnings`` filters match it).
    region : ((y0, y1), (x0, x1))
        The pixels the tile read, in image coordinates (set by the tiling).
    plane : str
        The plane of a stack the tile belongs to (``"T=3"``), or ``""``.
    """

    category: type
    message: str
    filename: str = ""
    lineno: int = 0
    module: str | None = None
    region: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    plane: str = ""

    def shifted(self, dy: int, dx: int, /, *, plane: str = "") -> TileWarning:
        """The record with its region moved by ``(dy, dx)`` pixels and its plane named."""
        (y0, y1), (x0, x1) = self.region
        return dataclasses.replace(self, region=((y0 + dy, y1 + dy), (x0 + dx, x1 + dx)), plane=plane or self.plane)


@contextlib.contextmanager
def recording() -> Iterator[list[TileWarning]]:
    """Record the warnings this thread raises inside the block, whatever the filters say (none is shown).

    Safe with other threads recording at the same time (``warnings.catch_warnings`` is not): the
    block is a sink of :mod:`labelfree._warning_hooks` that records every category always, in this
    thread only; threads that do not record show theirs exactly as before (their filters, Python's
    once-per-place filtering, their display). The filters apply when the tiling issues the merged
    warnings.

    Yields
    ------
    list of TileWarning
        Filled when the block ends, each warning once (a warning raised in a loop is one record), in
        the order first raised (region and plane left for the tiling to set).
    """
    raw: dict[tuple, None] = {}

    def receive(message: Any, category: type, filename: str, lineno: int) -> None:
        raw.setdefault((category, str(message), filename, lineno), None)  # each once (one raised in a loop too)

    out: list[TileWarning] = []
    try:
        with _warning_hooks.sink(receive):
            yield out
    finally:
        modules: dict[str, str | None] = {}
        for category, message, filename, lineno in raw:
            if filename not in modules:
                modules[filename] = _module_of(filename)
            out.append(TileWarning(category, message, filename, int(lineno), modules[filename]))


def _module_of(filename: str) -> str | None:
    """The name of the loaded module whose file is ``filename`` (what ``warnings`` filters match), or None."""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == filename:
            return name
    return None


def concerns_whole_result(category: type) -> bool:
    """Whether a warning of ``category`` says the result has no object (:class:`labelfree.errors.NoObjectsWarning`)."""
    return isinstance(category, type) and issubclass(category, NoObjectsWarning)


def without_found(records: Sequence[TileWarning], /, *, found: bool) -> list[TileWarning]:
    """``records`` less the no-object ones when the stitched result (a plane) has objects: a tile of
    background without objects, while other tiles have some, is normal."""
    return [r for r in records if not (found and concerns_whole_result(r.category))]


def _pattern(text: str) -> str:
    """A message with its numbers left out: the same warning of two tiles whose figures differ."""
    return re.sub(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text)


def _place(record: TileWarning) -> str:
    (y0, y1), (x0, x1) = record.region
    return f"{record.plane + ' ' if record.plane else ''}{y0}:{y1}, {x0}:{x1}"


def issue(records: Sequence[TileWarning], /, *, n_tiles: int, n_planes: int = 1) -> None:
    """Issue each kind of warning among ``records`` once (kinds in the order they first arose).

    Parameters
    ----------
    records : sequence of TileWarning
        The tiles' warnings, placed in the image (no-object ones only of empty planes: :func:`without_found`).
    n_tiles : int
        Tiles of the run (all planes).
    n_planes : int
        Planes of the run (a no-object warning names the empty ones when more than one).
    """
    groups: dict[tuple[type, str], list[TileWarning]] = {}
    for record in records:
        groups.setdefault((record.category, _pattern(record.message)), []).append(record)
    for (category, _), group in groups.items():
        first = group[0]
        figures = "" if all(r.message == first.message for r in group) else "; the figures are the first tile's"
        if concerns_whole_result(category):
            planes = sorted({r.plane for r in group}, key=lambda p: [r.plane for r in group].index(p))
            where = f"no object in any of the {n_tiles} tiles" if n_planes == 1 else \
                f"no object in any tile of {len(planes)} of {n_planes} planes: {_first(planes)}"
        else:
            places = [_place(r) for r in group]
            where = f"in {len(group)} of {n_tiles} tiles, the pixels y0:y1, x0:x1 {_first(places, sep='; ')}"
        text = f"{first.message} (tiled run: {where}{figures})"
        warnings.warn_explicit(text, category, first.filename or "labelfree", first.lineno,
                               module=first.module or "labelfree.tiling")


def _first(items: Sequence[str], /, *, sep: str = ", ") -> str:
    shown = sep.join(items[:NAMED_TILES])
    return shown + (f"{sep}..." if len(items) > NAMED_TILES else "")
