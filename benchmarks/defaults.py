"""Every pipeline with NO parameters on every set of ../shared/data it applies to, beside its classical baseline.

One table: pipeline, set, method, pixel F1, object F1 at IoU 0.5, mean matched IoU, seconds.
The baselines are the ones a user would otherwise reach for: Otsu (with Motion's own clean-up)
for Motion, the marker-controlled watershed on the same markers and the same mask for Cutter,
the best single channel for Fusion. Each pipeline's rows come from its own benchmark script,
which documents its sets and scoring (annotated objects only where the ground truth is sparse):

* Motion: ``benchmarks/motion_accuracy.py`` (every time-lapse; annotated objects);
* Cutter: ``benchmarks/cutter_defaults.py`` (MSC, GOWT1, SIM+, DSB2018, HeLa with their markers);
* Fusion: ``benchmarks/fusion_accuracy.py`` (channels built from SIM+; models trained here).

Usage: python3 benchmarks/defaults.py [--pipelines motion,cutter,fusion] [--json out.json]
(about 25 minutes on one CPU core; set OMP_NUM_THREADS=1 on a shared machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _motion_row(row: dict) -> dict:
    """Motion's figures on annotated objects (the fair ones where the ground truth is sparse)."""
    method = "motion (no parameters)" if row["method"] == "motion" else "Otsu + Motion's clean-up"
    return {**row, "method": method, "pixel_f1": row["pixel_f1_annotated"], "f1": row["object_f1_annotated"],
            "mean_iou": row["mean_iou_annotated"]}


def rows_for(pipeline: str) -> list[dict]:
    """The rows of one pipeline (its no-parameter run and its baseline on every set)."""
    module = {"motion": "motion_accuracy", "cutter": "cutter_defaults", "fusion": "fusion_accuracy"}[pipeline]
    rows = _module(module).run()
    if pipeline == "motion":
        rows = [_motion_row(r) for r in rows]
    return [{"pipeline": pipeline, **row} for row in rows]


def format_table(rows: list[dict]) -> str:
    head = f"{'pipeline':<9}{'set':<22}{'method':<40}{'pixel F1':>9}{'F1@0.5':>8}{'mIoU':>7}{'s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        def num(key: str) -> str:
            value = r.get(key)
            return "-" if value is None or value != value else f"{value:.3f}"

        lines.append(f"{r['pipeline']:<9}{str(r['set'])[:21]:<22}{str(r['method'])[:39]:<40}"
                     f"{num('pixel_f1'):>9}{num('f1'):>8}{num('mean_iou'):>7}{r.get('seconds', float('nan')):>8.1f}")
    return "\n".join(lines)


def software_line() -> str:
    """The packages the rows were computed with (a row with a trained network moves with them: docs/benchmarks.md,
    the defaults table's re-run of 2026-12-07), and LabelFree's commit."""
    from labelfree._reproduce import software

    found = software()
    names = ("numpy", "scipy", "scikit-image", "opencv", "torch", "cellpose", "torch_cpu_capability")
    line = "software: " + ", ".join(f"{k} {found[k]}" for k in names if k in found)
    if "git_commit" in found:
        changed = " with changes under src/" if found.get("git_dirty") else ""
        line += f"; LabelFree {found['git_commit'][:7]}{changed}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default="motion,cutter,fusion")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    for name in args.pipelines.split(","):
        rows += rows_for(name.strip())
        print(format_table([r for r in rows if r["pipeline"] == name.strip()]), flush=True)
        print(flush=True)
    print(format_table(rows))
    print(software_line())
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
