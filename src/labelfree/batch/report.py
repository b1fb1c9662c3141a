"""The end-of-run report and exit code of a batch run."""

from __future__ import annotations

import pandas as pd

__all__ = ["format_report", "exit_code"]


def exit_code(summary: pd.DataFrame, /) -> int:
    """0 when every input is ok or skipped, 1 when any failed, 130 when cancelled."""
    status = set(summary["status"])
    if "cancelled" in status:
        return 130
    return 1 if status - {"ok", "skipped"} else 0


def format_report(summary: pd.DataFrame, /, *, max_errors: int = 20) -> str:
    """Plain-text report: counts by status, objects, time, and each failure with its error."""
    counts = summary["status"].value_counts()
    parts = [f"{int(counts.get(s, 0))} {s}" for s in ("ok", "skipped", "failed", "cancelled") if counts.get(s, 0)]
    ok = summary[summary["status"] == "ok"]
    lines = [f"{len(summary)} input(s): {', '.join(parts) or 'nothing to do'}"]
    if len(ok):
        lines.append(f"objects: {int(ok['n_objects'].fillna(0).sum())} in {len(ok)} new result(s); "
                     f"{float(ok['seconds'].fillna(0).sum()):.1f} s of work")
    failed = summary[summary["status"] == "failed"]
    for _, row in failed.head(max_errors).iterrows():
        lines.append(f"FAILED {row['input']}: {row['error']}")
    if len(failed) > max_errors:
        lines.append(f"... and {len(failed) - max_errors} more failure(s); see the summary table")
    if "path" in summary.attrs:
        lines.append(f"summary: {summary.attrs['path']}")
    return "\n".join(lines)
