"""What a batch summary keeps across reruns, and how it writes its paths.

A rerun skips the inputs it finds finished; their rows (status ``skipped``) keep the ``seconds`` and ``worker`` of
the run that made their results (:class:`EarlierRows`, read from the summary that run wrote), so that a rerun
that skipped everything does not lose the first run's timings. The paths of a summary are written without
``..`` (:func:`shown_path`): ``-o ../out`` run from ``/tmp/x/bin`` gives ``/tmp/x/out/...``, not
``/tmp/x/bin/../out/...``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["EarlierRows", "shown_path", "shown_paths", "PATH_COLUMNS"]

log = logging.getLogger(__name__)

#: the columns of a summary row that hold paths (besides the output kinds' own)
PATH_COLUMNS = ("input",)


def shown_path(path: str | os.PathLike[str], /) -> str:
    """``path`` without ``..``: the part up to its last ``..`` resolved (``/tmp/x/bin/../out/a.tif`` ->
    ``/tmp/x/out/a.tif``; a link before the ``..`` is followed, as the system does), the rest as given; a path
    without ``..`` (or empty) as it is."""
    text = os.fspath(path)
    parts = Path(text).parts
    if not text or ".." not in parts:
        return text
    last = len(parts) - 1 - parts[::-1].index("..")
    try:
        head = Path(*parts[: last + 1]).resolve()
    except (OSError, RuntimeError):  # a link loop: as typed, less nothing
        return os.path.normpath(text)
    return str(head.joinpath(*parts[last + 1:]))


def shown_paths(row: dict[str, Any], columns: tuple[str, ...], /) -> dict[str, Any]:
    """``row`` with the text in ``columns`` (those it has) written by :func:`shown_path`."""
    return {k: shown_path(v) if k in columns and isinstance(v, str) and v else v for k, v in row.items()}


class EarlierRows:
    """The rows of the summary an earlier run wrote into the output folder (read once, when first asked).

    Parameters
    ----------
    path : path
        The summary CSV (``<out>/batch_summary.csv``); absent or unreadable: nothing is known.
    """

    def __init__(self, path: str | os.PathLike[str], /) -> None:
        self.path = Path(path)
        self._rows: dict[str, dict[str, str]] | None = None
        self._written = 0.0

    def _read(self) -> dict[str, dict[str, str]]:
        if self._rows is None:
            self._rows = {}
            try:
                self._written = self.path.stat().st_mtime
                with open(self.path, newline="", encoding="utf-8") as fh:
                    for row in csv.DictReader(fh):
                        if row.get("stem"):
                            self._rows[row["stem"]] = row
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                if not isinstance(exc, FileNotFoundError):
                    log.info("batch: the earlier summary %s cannot be read (%s): skipped inputs show no seconds",
                             self.path, exc)
                self._rows = {}
        return self._rows

    def made_by(self, stem: str, provenance: str | os.PathLike[str], /) -> dict[str, Any]:
        """``seconds`` and ``worker`` of the run that made ``stem``'s result, whose provenance file is
        ``provenance``: those of the earlier summary's row of ``stem`` (``ok``, or ``skipped`` with seconds
        kept) when that summary was written after the result (a result made again since, by a command of its
        own, is not the one that row timed); else ``seconds`` None and ``worker`` "" (not known)."""
        row = self._read().get(stem)
        unknown = {"seconds": None, "worker": ""}
        if row is None or row.get("status") not in ("ok", "skipped"):
            return unknown
        try:
            seconds = float(row.get("seconds") or "nan")
            # a skipped row of 0.0 s: written before skipped rows kept the seconds (none known)
            if not math.isfinite(seconds) or (row["status"] == "skipped" and seconds == 0.0) \
                    or Path(provenance).stat().st_mtime > self._written:
                return unknown
        except (OSError, ValueError):
            return unknown
        return {"seconds": seconds, "worker": row.get("worker") or ""}
