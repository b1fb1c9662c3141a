"""The "Run" section of a batch ``report.html``: what a reader needs to cite and repeat the run.

It names the pipeline, the command (and the folder it ran in), the LabelFree version with the git commit of a
source checkout (and whether its source had uncommitted changes), the options given and the automatic values each
input's run chose, from :func:`run_record` (the run's own, ``summary.attrs["run"]``) and from the provenance
records of the inputs with a result. Results a rerun skipped were made by an earlier run: where that run's
command, version, commit or options differ from this one's, the section says so and names its inputs.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any

import pandas as pd

__all__ = ["run_record", "run_section", "AUTO_SHOWN"]

log = logging.getLogger(__name__)

#: inputs whose automatic values the section lists (then how many more, and where they are)
AUTO_SHOWN = 20
#: the entries of a provenance record that say who made a result
_MADE_BY = ("command", "cwd", "version", "git_commit", "git_dirty")


def run_record(pipeline: str, config: Any, /) -> dict[str, Any]:
    """What a batch run says of itself in its report (``summary.attrs["run"]``): ``pipeline``, ``config`` (the
    options given, as a dict), ``version``, the ``git_commit`` and ``git_dirty`` of a source checkout (as the
    provenance's ``software`` has them), and the ``command`` and ``cwd`` of the ``labelfree`` command running (none
    from Python)."""
    from labelfree import __version__
    from labelfree._reproduce import current_command, software

    fixed = software()
    out: dict[str, Any] = {"pipeline": pipeline, "config": config.to_dict() if hasattr(config, "to_dict") else
                           dict(config or {}), "version": __version__}
    out.update({k: fixed[k] for k in ("git_commit", "git_dirty") if k in fixed})
    out.update(current_command())
    return out


def _records(summary: pd.DataFrame, /) -> dict[str, dict[str, Any]]:
    """The provenance records of the inputs with a result (``ok`` or ``skipped``), by stem; one that cannot be
    read is left out (logged)."""
    out = {}
    if "provenance" not in summary:
        return out
    for _, row in summary.iterrows():
        path = row.get("provenance")
        if row.get("status") not in ("ok", "skipped") or not isinstance(path, str) or not path:
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError) as exc:
            log.info("report: the provenance %s cannot be read (%s); its run is not shown", path, exc)
            continue
        if isinstance(record, dict):
            out[str(row["stem"])] = record
    return out


def _made_by(record: dict[str, Any], /) -> dict[str, Any]:
    """Who made a result, by the entries of :data:`_MADE_BY` (a record's ``software`` holds the git ones)."""
    software = record.get("software") if isinstance(record.get("software"), dict) else {}
    return {k: record.get(k, software.get(k)) for k in _MADE_BY}


def _software_text(made: dict[str, Any], /) -> str:
    """``0.1.0, git commit 33b3390317... + local changes`` (the commit where one is known)."""
    text = str(made.get("version") or "unknown version")
    if made.get("git_commit"):
        text += f", git commit {made['git_commit']}" + (" + local changes" if made.get("git_dirty") else "")
    return text


def _command_html(made: dict[str, Any], /) -> str:
    if not made.get("command"):
        return "<span class='note'>not recorded (run from Python)</span>"
    where = f" <span class='note'>in {html.escape(str(made['cwd']))}</span>" if made.get("cwd") else ""
    return f"<code>{html.escape(str(made['command']))}</code>{where}"


def _options_text(config: Any, /) -> str:
    return json.dumps(config, sort_keys=True, default=str) if isinstance(config, dict) else ""


def _names(stems: list[str], /, limit: int = 5) -> str:
    return ", ".join(stems[:limit]) + (f" and {len(stems) - limit} more" if len(stems) > limit else "")


def run_section(summary: pd.DataFrame, /) -> str:
    """The report's "Run" section (HTML): the run of ``summary.attrs["run"]`` (:func:`run_record`), else, for a
    summary read back from its CSV, the run that made its first result; the automatic values of each input; and
    the earlier runs that made results this run skipped, where they differ from it."""
    records = _records(summary)
    run = summary.attrs.get("run")
    if not isinstance(run, dict):
        first = next(iter(records.values()), None)
        if first is None:
            return ""
        run = {"pipeline": first.get("pipeline"), "config": first.get("config"), **_made_by(first)}
    this = {k: run.get(k) for k in _MADE_BY}
    rows = [("pipeline", html.escape(str(run.get("pipeline") or ""))),
            ("command", _command_html(this)),
            ("LabelFree", html.escape(_software_text(this))),
            ("options", f"<code>{html.escape(_options_text(run.get('config')))}</code>")]
    options = _options_text(run.get("config"))
    others: dict[str, list[str]] = {}  # who made results, where not this run: text -> stems
    for stem, record in records.items():
        made = _made_by(record)
        where = f" (in {made['cwd']})" if made.get("cwd") else ""
        differs = [f"command {made['command'] or 'none (run from Python)'}{where}"
                   if made.get("command") != this.get("command") else "",
                   f"LabelFree {_software_text(made)}" if _software_text(made) != _software_text(this) else "",
                   f"options {_options_text(record.get('config'))}"
                   if _options_text(record.get("config")) != options else ""]
        if any(differs):
            others.setdefault("; ".join(d for d in differs if d), []).append(stem)
    for text, stems in others.items():
        rows.append(("results made by another run", f"{html.escape(_names(stems))}: {html.escape(text)}"))
    auto = [(stem, r["auto"]) for stem, r in records.items() if isinstance(r.get("auto"), dict) and r["auto"]]
    if auto:
        lines = [f"{stem}: " + ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(values.items()))
                 for stem, values in auto[:AUTO_SHOWN]]
        if len(auto) > AUTO_SHOWN:
            lines.append(f"... and {len(auto) - AUTO_SHOWN} more (the auto entry of each <stem>_provenance.json)")
        rows.append(("automatic values", "<br>".join(html.escape(line) for line in lines)))
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<h2>Run</h2><table class='run'>{body}</table>"
