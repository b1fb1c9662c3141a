"""A batch run scored against ground truth (``labelfree batch ... --truth DIR``, ``run_batch(truth=)``).

Each input's published labels are scored against the ground truth of its stem (:func:`find_truths`) as
``labelfree eval LABELS TRUTH`` scores them, with its IoU threshold and ``--only-annotated``
(:class:`TruthOptions`); the scores are columns of the run's summary (:data:`TRUTH_COLUMNS`) and the report adds
their pooled total (:func:`labelfree.batch.report.truth_total`). A movie is scored against a Cell Tracking
Challenge SEG folder frame by frame, on the annotated frames only, as eval scores it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelfree.batch.inputs import BatchInput
from labelfree.batch.report import TRUTH_FRAMES_NOTE as FRAMES_NOTE
from labelfree.batch.report import TRUTH_LOOKED_FOR as LOOKED_FOR

__all__ = ["TRUTH_COLUMNS", "TRUTH_COUNTS", "TruthOptions", "truth_folder", "truth_options", "find_truths",
           "score_against_truth"]

#: the columns a run with ground truth (``truth=``) adds after :data:`labelfree.batch.runner.SUMMARY_COLUMNS`:
#: the ground-truth file (or SEG folder) and the scores ``labelfree eval LABELS TRUTH`` gives, with the pixel
#: counts the pooled total sums
TRUTH_COLUMNS = ("truth", "tp", "fp", "fn", "precision", "recall", "f1", "mean_iou", "average_precision", "aji",
                 "seg", "pixel_precision", "pixel_recall", "pixel_f1", "pixel_jaccard", "pixel_tp", "pixel_fp",
                 "pixel_fn")
#: the whole numbers among :data:`TRUTH_COLUMNS` (``Int64``: empty for an input not scored)
TRUTH_COUNTS = ("tp", "fp", "fn", "pixel_tp", "pixel_fp", "pixel_fn")


@dataclass(frozen=True)
class TruthOptions:
    """How labels are scored against ground truth: ``labelfree eval``'s ``--threshold`` (IoU for a match, in
    (0, 1]) and ``--only-annotated`` (predicted objects that overlap no ground-truth object are left out, for
    ground truth that annotates some cells only)."""

    threshold: float = 0.5
    only_annotated: bool = False


def truth_options(truth: Any, threshold: Any, only_annotated: Any, /) -> TruthOptions:
    """The scoring options of a run, checked before any work: a threshold in (0, 1], and no option that changes
    the scores of a run without ground truth (it would be ignored)."""
    from labelfree.errors import ConfigError

    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value <= 1:
        raise ConfigError(f"The IoU threshold of the scores against ground truth (--truth-threshold, "
                          f"truth_threshold=) must lie in (0, 1]; got {threshold!r}. Give e.g. 0.5 (the default).")
    options = TruthOptions(value, bool(only_annotated))
    if truth is None and options != TruthOptions():
        raise ConfigError("--truth-threshold and --only-annotated (truth_threshold=, only_annotated=) set how the "
                          "labels are scored against ground truth, but no ground truth is given: add --truth DIR "
                          "(truth=), or leave them out.")
    return options


def truth_folder(truth: str | Path | None, out: Path, /) -> Path | None:
    """The ground-truth folder, checked before the output folder is made: an existing folder, not in the output
    folder's staging (whose leftovers a run removes)."""
    from labelfree.errors import InputError
    from labelfree.io.outputs import STAGING_DIR

    if truth is None:
        return None
    path = Path(truth).expanduser().absolute()
    if not path.is_dir():
        raise InputError(f"The ground truth (--truth) {truth} is not a folder: give the folder of the inputs' "
                         "ground-truth label images (<stem>.tif, <stem>_masks.png, ...) or a Cell Tracking "
                         "Challenge dataset folder (holding <stem>_GT/SEG/).")
    if Path(os.path.realpath(path)).is_relative_to(os.path.realpath(out / STAGING_DIR)):
        raise InputError(f"The ground truth (--truth) {truth} lies in the staging folder of the output folder {out}, "
                         "whose contents a run removes: move the ground truth elsewhere and give that folder.")
    return path


def _holds_seg_frames(folder: Path, /) -> bool:
    """Whether ``folder`` holds Cell Tracking Challenge SEG files (``man_seg*.tif``): it is ground truth, not a
    folder of images such as a dataset's ``01/``."""
    return any(f.name.startswith("man_seg") and f.name.lower().endswith((".tif", ".tiff")) for f in folder.iterdir())


def _same(a: Path, b: Path, /) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _seg_folders(gt_dir: Path, item: BatchInput, /) -> list[Path]:
    """The Cell Tracking Challenge SEG folders of an input in ``gt_dir``: ``<name>_GT/SEG`` of a dataset folder
    (``<name>`` the stem, or the name of an input folder of frames in ``gt_dir``), a folder ``<stem>/`` of
    ``man_seg`` files, and ``gt_dir`` itself when it is ``<stem>_GT`` or its ``SEG`` folder."""
    names = [item.stem]
    if item.path.is_dir() and _same(item.path.parent, gt_dir) and item.path.name != item.stem:
        names.append(item.path.name)  # the dataset's own sequence folder 01/, whatever its output stem
    found = [gt_dir / f"{name}_GT" / "SEG" for name in names if (gt_dir / f"{name}_GT" / "SEG").is_dir()]
    own = gt_dir / item.stem
    if own.is_dir() and not _same(own, item.path) and _holds_seg_frames(own):
        found.append(own)
    if gt_dir.name == f"{item.stem}_GT" and (gt_dir / "SEG").is_dir():
        found.append(gt_dir / "SEG")
    if gt_dir.name == "SEG" and gt_dir.parent.name == f"{item.stem}_GT":
        found.append(gt_dir)
    return found


def find_truths(gt_dir: Path, items: list[BatchInput], /) -> dict[str, Path]:
    """The ground truth in ``gt_dir`` of each input, by stem: a label image found by the rule of
    :func:`labelfree.evaluation.folders.truth_files` (``<stem>.tif``, ``<stem>_masks.png``, ``man_segNNN.tif``
    for ``tNNN``, ...) or a Cell Tracking Challenge SEG folder (:func:`_seg_folders`), scored as ``labelfree eval
    LABELS SEG_FOLDER`` scores it. Inputs without ground truth are left out.

    Raises
    ------
    InputError
        Two ground truths of one input, or none for any input (the folder is not what was expected).
    """
    from labelfree.errors import InputError
    from labelfree.evaluation.folders import truth_files

    own = {it.stem: _file_stem(it) for it in items}
    files = truth_files(gt_dir, sorted({*own, *filter(None, own.values())}))
    truths = {}
    for item in items:
        # an input renamed to keep stems apart (a.png and a.tif: a_png, a_tif) has the ground truth of its file's stem
        key = item.stem if item.stem in files else own[item.stem]
        found = list(dict.fromkeys([*([files[key]] if key in files else []), *_seg_folders(gt_dir, item)]))
        if len(found) > 1:
            raise InputError(f"The input {item.stem} has {len(found)} ground truths in {gt_dir}: "
                             f"{', '.join(str(f) for f in found)}, so which one to score against is unknown. Keep "
                             "one of them (move the others elsewhere) and run again.")
        if found:
            truths[item.stem] = found[0]
    if items and not truths:
        raise InputError(_nothing_found(gt_dir, items))
    return truths


def _file_stem(item: BatchInput, /) -> str | None:
    """The stem of an input's file (``a`` of ``a.png``) when the run renamed the input to keep stems apart
    (``a_png``); None for an input named after its file, and for a position of a multi-position file
    (``plate_series1``: the file's ground truth is no position's). A folder's stem is its path's (a field of an HCS
    plate, ``plate.zarr/A/1/0``: ``plate_A_1_0``, not ``0``; a level of a pyramid: ``big_s1``)."""
    from labelfree.io.outputs import output_stem

    own = output_stem(item.path if item.path.is_dir() else item.path.name)
    return own if item.series is None and own != item.stem else None


def _nothing_found(gt_dir: Path, items: list[BatchInput], /) -> str:
    stems = [it.stem for it in items]
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in gt_dir.iterdir() if not p.name.startswith("."))
    shown = ", ".join(entries[:8]) + (f", ... ({len(entries)} in all)" if len(entries) > 8 else "") or "nothing"
    text = (f"No input has ground truth in {gt_dir} (--truth): looked for {LOOKED_FOR}. Inputs: "
            f"{', '.join(stems[:8])}{', ...' if len(stems) > 8 else ''}; the folder holds: {shown}.")
    if (gt_dir / "SEG").is_dir():
        text += (f" It is the ground truth of a Cell Tracking Challenge sequence: give the dataset folder above it, "
                 f"--truth {gt_dir.parent}, whose <stem>_GT/SEG/ is found for the input of that stem.")
    elif gt_dir.name == "SEG" and gt_dir.parent.name.endswith("_GT"):
        text += (f" It is the SEG folder of the sequence {gt_dir.parent.name[:-3]}: its man_segNNN.tif frames pair "
                 f"with the movie of that stem, or with single-frame inputs tNNN. Give the dataset folder, --truth "
                 f"{gt_dir.parent.parent}, to score each sequence's movie against its own <stem>_GT/SEG/.")
    elif _holds_seg_frames(gt_dir):
        text += (" It holds man_segNNN.tif frames, which pair with single-frame inputs tNNN; to score a movie "
                 "against them, put them in a folder named as the movie's stem (<stem>/ or <stem>_GT/SEG/) and give "
                 "the folder above it.")
    else:
        text += " Give the folder that holds them, or rename the files so that their stems match the inputs'."
    return text


def _score_one(labels: str, gt: Path, options: TruthOptions, /) -> tuple[dict[str, Any], tuple[int, int, int],
                                                                           list[str], list[int] | None]:
    """One input's labels scored as ``labelfree eval LABELS GT`` scores them: against a label image of the same
    shape, or against a SEG folder on the frames it annotates. Returns the scores, the pixel counts, the notes
    for the row's warnings and the scored frames (None for a label image)."""
    from labelfree.evaluation.folders import score_pair
    from labelfree.evaluation.seg_frames import frames_text, pair_seg_frames
    from labelfree.io import read_labels

    pred = read_labels(labels)
    notes, frames = [], None
    if gt.is_dir():
        n_pred = pred.shape[0] if pred.ndim == 3 else 1
        # a z-stack's labels against a folder of 2-D frames are refused (its planes are no time points)
        pred, ref, frames, left_out = pair_seg_frames(pred, gt, pred_name=labels, pred_path=labels)
        note = f"{FRAMES_NOTE}{frames_text(frames)} ({len(frames)} of {len(frames) + len(left_out)} annotated)"
        if left_out:
            note += f"; beyond the labels' {n_pred} frames: {frames_text(left_out)}"
        notes.append(note)
    else:
        ref = read_labels(gt)
        if pred.shape != ref.shape:
            raise ValueError(f"the labels have shape {pred.shape} but the ground truth {gt.name} {ref.shape}; "
                             "they must match: is it the ground truth of this image, uncropped and unscaled?")
        # a z-stack's labels (and a ground truth that records Z) are scored as volumes, as labelfree eval does
        from labelfree.evaluation.volumes import with_recorded_axes

        pred, ref = with_recorded_axes(pred, ref, Path(labels), gt)
    result, counts, messages = score_pair(pred, ref, threshold=options.threshold,
                                          only_annotated=options.only_annotated)
    return result, counts, [*notes, *(f"scores: {m}" for m in messages)], frames


def score_against_truth(items: list[BatchInput], rows: dict[str, dict[str, Any]], truths: dict[str, Path],
                        /, *, options: TruthOptions = TruthOptions()) -> dict[str, list[int]]:
    """Each input's labels scored against its ground truth as ``labelfree eval LABELS TRUTH`` scores them (with
    ``options``); the scores go into its row. A pair that cannot be scored (another shape, an unreadable file,
    no annotated frame within the movie) has empty scores and says why in the row's warnings; the frames a
    movie was scored on (SEG folder) and the warnings of the scores are added there too. Returns the scored
    frames of each input scored against a SEG folder."""
    from labelfree.errors import LabelFreeError

    scored_frames = {}
    for item in items:
        row, gt = rows.get(item.stem), truths.get(item.stem)
        if row is None or gt is None:
            continue
        row["truth"] = str(gt)
        if row["status"] not in ("ok", "skipped") or not row.get("labels"):
            continue
        try:
            result, counts, notes, frames = _score_one(row["labels"], gt, options)
        except (LabelFreeError, OSError, ValueError) as exc:
            row["warnings"] = " | ".join(filter(None, [row.get("warnings"), f"not scored against {gt}: {exc}"]))
            continue
        row.update({k: result[k] for k in TRUTH_COLUMNS[1:] if k in result})
        row.update(zip(("pixel_tp", "pixel_fp", "pixel_fn"), counts))
        if frames is not None:
            scored_frames[item.stem] = frames
        if notes:
            row["warnings"] = " | ".join(filter(None, [row.get("warnings"), *notes]))
    return scored_frames
