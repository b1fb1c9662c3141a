"""A batch run scored against ground truth (``labelfree batch ... --truth DIR``, ``run_batch(truth=)``).

Each input's published labels are scored against the ground truth of its stem
(:func:`labelfree.evaluation.folders.truth_files`) as ``labelfree eval LABELS TRUTH`` scores them; the scores
are columns of the run's summary (:data:`TRUTH_COLUMNS`) and the report adds their pooled total
(:func:`labelfree.batch.report.truth_total`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labelfree.batch.inputs import BatchInput

__all__ = ["TRUTH_COLUMNS", "TRUTH_COUNTS", "truth_folder", "score_against_truth"]

#: the columns a run with ground truth (``truth=``) adds after :data:`labelfree.batch.runner.SUMMARY_COLUMNS`:
#: the ground-truth file and the scores ``labelfree eval LABELS TRUTH`` gives (IoU threshold 0.5), with the pixel
#: counts the pooled total sums
TRUTH_COLUMNS = ("truth", "tp", "fp", "fn", "precision", "recall", "f1", "mean_iou", "average_precision", "aji",
                 "seg", "pixel_precision", "pixel_recall", "pixel_f1", "pixel_jaccard", "pixel_tp", "pixel_fp",
                 "pixel_fn")
#: the whole numbers among :data:`TRUTH_COLUMNS` (``Int64``: empty for an input not scored)
TRUTH_COUNTS = ("tp", "fp", "fn", "pixel_tp", "pixel_fp", "pixel_fn")


def truth_folder(truth: str | Path | None, out: Path, /) -> Path | None:
    """The ground-truth folder, checked before the output folder is made: an existing folder, not in the output
    folder's staging (whose leftovers a run removes)."""
    import os

    from labelfree.errors import InputError
    from labelfree.io.outputs import STAGING_DIR

    if truth is None:
        return None
    path = Path(truth).expanduser().absolute()
    if not path.is_dir():
        raise InputError(f"The ground truth (--truth) {truth} is not a folder: give the folder of the inputs' "
                         "ground-truth label images (<stem>.tif, <stem>_masks.png, ...).")
    if Path(os.path.realpath(path)).is_relative_to(os.path.realpath(out / STAGING_DIR)):
        raise InputError(f"The ground truth (--truth) {truth} lies in the staging folder of the output folder {out}, "
                         "whose contents a run removes: move the ground truth elsewhere and give that folder.")
    return path


def score_against_truth(items: list[BatchInput], rows: dict[str, dict[str, Any]], truths: dict[str, Path],
                         /) -> None:
    """Each input's labels scored against its ground truth as ``labelfree eval LABELS TRUTH`` scores them; the
    scores go into its row. A pair that cannot be scored (another shape, an unreadable file) has empty scores
    and says why in the row's warnings; the warnings of the scores are added there too."""
    from labelfree.errors import LabelFreeError
    from labelfree.evaluation.folders import score_pair
    from labelfree.io import read_labels

    for item in items:
        row, gt = rows.get(item.stem), truths.get(item.stem)
        if row is None or gt is None:
            continue
        row["truth"] = str(gt)
        if row["status"] not in ("ok", "skipped") or not row.get("labels"):
            continue
        notes = []
        try:
            pred, ref = read_labels(row["labels"]), read_labels(gt)
            if pred.shape != ref.shape:
                raise ValueError(f"the labels have shape {pred.shape} but the ground truth {gt.name} {ref.shape}; "
                                 "they must match: is it the ground truth of this image, uncropped and unscaled?")
            result, counts, messages = score_pair(pred, ref)
            notes = [f"scores: {m}" for m in messages]
        except (LabelFreeError, OSError, ValueError) as exc:
            row["warnings"] = " | ".join(filter(None, [row.get("warnings"), f"not scored against {gt}: {exc}"]))
            continue
        row.update({k: result[k] for k in TRUTH_COLUMNS[1:] if k in result})
        row.update(zip(("pixel_tp", "pixel_fp", "pixel_fn"), counts))
        if notes:
            row["warnings"] = " | ".join(filter(None, [row.get("warnings"), *notes]))
