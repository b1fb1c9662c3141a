"""``labelfree eval``: score a label image, or a folder of them, against ground truth.

One pair: a label TIFF (PNG, OME-Zarr label image) or T stack against its ground truth, or against a
Cell Tracking Challenge SEG folder (frames paired by number). Two folders: each prediction against the
ground truth of its stem (:mod:`labelfree.evaluation.folders`), one row per image and a pooled total.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import InputError
from labelfree.evaluation.seg_frames import frames_text, pair_seg_frames
from labelfree.evaluation.volumes import mismatch_message, scoring_units, units_text, with_recorded_axes
from labelfree.io import read_labels
from labelfree.io.ctc import seg_frame

__all__ = ["register", "format_metrics", "iou_threshold"]

_METRIC_ROWS = (
    ("pixel_precision", "pixel precision"),
    ("pixel_recall", "pixel recall"),
    ("pixel_f1", "pixel F1"),
    ("pixel_jaccard", "pixel Jaccard"),
    ("precision", "object precision"),
    ("recall", "object recall"),
    ("f1", "object F1"),
    ("mean_iou", "mean IoU (matched)"),
    ("average_precision", "average precision"),
    ("aji", "aggregated Jaccard"),
    ("seg", "CTC SEG"),
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` sub-command to the ``labelfree`` parser."""
    from labelfree.cli import file_argument, path_argument

    p = sub.add_parser(
        "eval", help="score a label image (or a folder of them) against ground truth",
        description="Score a label image against ground truth, or each label image (TIFF, PNG) of a folder against "
                    "its ground truth in another folder (PRED_FOLDER GT_FOLDER): one row per image and a total row. "
                    "Files pair by stem: a prediction <stem>_labels.tif (in a folder holding such files, only those) "
                    "or <stem>.tif; ground truth <stem>_masks.tif, _mask, _labels, _gt or _seg (before a bare "
                    "<stem>.tif beside it, which is then the image) or <stem>.tif (.tiff and .png alike); a Cell "
                    "Tracking Challenge man_segNNN.tif pairs with tNNN (a prediction folder of man_segNNN.tif or "
                    "maskNNN.tif frames is one T stack). The total sums TP, FP and FN over the images and "
                    "takes precision, recall, F1 and average precision from the sums; pixel scores come from the "
                    "summed pixel counts, mean IoU is over all matches and SEG over all ground-truth objects. Files "
                    "without a partner are listed; a pair that cannot be scored (different shapes) is an error row, "
                    "the others are scored and the exit status is 1.")
    p.add_argument("pred", type=path_argument("the prediction path", "a label TIFF"),
                   help="predicted label TIFF, grey PNG (8 or 16 bit) or OME-Zarr label image (2-D or a T stack), or a "
                        "folder of label TIFFs or PNGs (GT then a folder too)")
    p.add_argument(
        "gt", type=path_argument("the ground-truth path", "a label TIFF or a SEG folder"),
        help="ground-truth label TIFF, grey PNG (8 or 16 bit, e.g. Cellpose's _masks.png) or OME-Zarr label "
             "image, or a Cell Tracking Challenge SEG folder: "
             "man_segNNN.tif is scored against "
             "frame NNN of a T-stack prediction (the frames both have; a single-frame prediction takes the one file "
             "of its frame); (Z, Y, X) man_seg files are scored as volumes of 3-D objects; or, with a prediction "
             "folder, the folder of the ground truth of its images. Label files that record a Z axis (ImageJ "
             "hyperstack with slices, OME-TIFF) are scored as volumes of 3-D objects, one per time point; a plain "
             "3-D TIFF without recorded axes is a stack of 2-D frames"
    )
    p.add_argument("--threshold", type=iou_threshold, default=0.5, help="IoU threshold for object matching, in (0, 1]")
    p.add_argument("--only-annotated", action="store_true", help="score only objects that overlap ground truth")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--csv", metavar="FILE", type=file_argument("the table path (--csv)", "a file name, e.g. --csv "
                                                                "scores.csv"),
                   help="also write the table of the images' scores (one row per image, no total) as CSV; not "
                        "inside an input folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.set_defaults(func=_eval)


def iou_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"the IoU threshold must lie in (0, 1]; got {value}")
    return value


def format_metrics(result: dict, /) -> str:
    """The metrics of :func:`labelfree.metrics.evaluate` as an aligned text table."""
    lines = [f"{'metric':<22}{'value':>10}", "-" * 32]
    for key, label in _METRIC_ROWS:
        lines.append(f"{label:<22}{result[key]:>10.4f}")
    lines.append(f"{'TP / FP / FN':<22}{result['tp']:>4d} /{result['fp']:>4d} /{result['fn']:>4d}")
    lines.append(f"(IoU threshold {result['threshold']}, {units_text(result['n_frames'], result)})")
    return "\n".join(lines)


def _checked_pair(pred: np.ndarray, gt: np.ndarray, pred_path: Path, gt_path: Path, *, seg_folder: bool = False
                  ) -> tuple[Any, Any]:
    """A prediction and its ground truth as :func:`evaluate` scores them: shapes checked, the problems of each
    label image printed as warnings; volumes of 3-D objects when a file records a Z axis
    (:func:`~labelfree.evaluation.volumes.with_recorded_axes`) or the ground truth is one 3-D man_segNNN.tif."""
    from labelfree.metrics import label_image_problems

    if pred.shape != gt.shape:  # (the frames of a SEG folder are checked against the prediction's when paired)
        raise InputError(mismatch_message(pred_path, pred.shape, gt_path, gt.shape))
    for name, labels in ((pred_path.name, pred), (gt_path.name, gt)):
        for problem in label_image_problems(labels, name=name):
            print(f"labelfree: warning: {problem}", file=sys.stderr)
    if not seg_folder:  # (a SEG folder's frames are paired by number: (T, Z, Y, X) when they are volumes)
        named = with_recorded_axes(pred, gt, pred_path, gt_path)
        if named[0] is not pred:
            return named
    if not seg_folder and gt.ndim == 3 and seg_frame(gt_path.name) is not None:
        # a CTC man_segNNN.tif holds one frame: a 3-D one is a (Z, Y, X) volume of 3-D objects, not a T stack
        import xarray as xr

        return xr.DataArray(pred, dims=("Z", "Y", "X")), xr.DataArray(gt, dims=("Z", "Y", "X"))
    return pred, gt


def _check_csv(args: argparse.Namespace) -> Path | None:
    """The --csv target, refused before any work when it is an input, inside an input folder, not a .csv name, or
    an existing file without --overwrite."""
    from labelfree.io.atomic import check_file_suffix
    from labelfree.io.outputs import check_output_file
    from labelfree.io.tables import TABLE_SUFFIXES

    if args.csv is None:
        return None
    check_file_suffix(args.csv, suffixes=TABLE_SUFFIXES, what="table file (--csv)",
                      writes="a CSV table (comma-separated)")
    inputs = {f"prediction{' folder' if args.pred.is_dir() else ''}": args.pred,
              f"ground truth{' folder' if args.gt.is_dir() else ''}": args.gt}
    return check_output_file(args.csv, inputs=inputs, overwrite=args.overwrite, what="table file (--csv)")


def _is_folder(path: Path) -> bool:
    from labelfree.io.ngff import is_ngff

    return path.is_dir() and not is_ngff(path)  # an OME-Zarr label image is a folder too


def _eval(args: argparse.Namespace) -> int:
    from labelfree.evaluation.folders import holds_ctc_frames
    from labelfree.metrics import evaluate

    if _is_folder(args.pred) and _is_folder(args.gt) and not holds_ctc_frames(args.pred):
        return _eval_folders(args)  # (a SEG or RES folder of predictions is one T stack, scored whole)
    csv = _check_csv(args)
    pred = read_labels(args.pred)
    scored: list[int] | None = None
    left_out: list[int] = []
    n_pred = pred.shape[0] if pred.ndim == 3 else 1
    if _is_folder(args.gt):
        pred, gt, scored, left_out = pair_seg_frames(pred, args.gt, pred_name=str(args.pred))
    else:
        gt = read_labels(args.gt)
    pred, gt = _checked_pair(pred, gt, args.pred, args.gt, seg_folder=scored is not None)
    result = evaluate(pred, gt, threshold=args.threshold, only_annotated=args.only_annotated)
    result.update(scoring_units(pred))
    if csv is not None:
        _write_scores(csv, [_score_row(args.pred, args.gt, result)])
    if scored is not None:
        result["frames"] = scored
        result["frames_not_scored"] = left_out
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_metrics(result))
    if scored is not None:
        note = (f"ground-truth frames scored: {frames_text(scored)} ({len(scored)} of the "
                f"{len(scored) + len(left_out)} annotated in {args.gt})")
        if left_out:
            note += f"; not scored, beyond the prediction's {n_pred} frames: {frames_text(left_out)}"
        print(note)
    return 0


#: the columns of the --csv table after image, prediction and ground_truth (the metrics of one pair)
_CSV_METRICS = ("tp", "fp", "fn", "precision", "recall", "f1", "mean_iou", "average_precision", "aji", "seg",
                "pixel_precision", "pixel_recall", "pixel_f1", "pixel_jaccard", "n_frames", "threshold")
#: the columns of the table of a folder's scores
_FOLDER_COLUMNS = (("tp", "TP"), ("fp", "FP"), ("fn", "FN"), ("precision", "precision"), ("recall", "recall"),
                   ("f1", "F1"), ("pixel_f1", "pixel F1"), ("mean_iou", "mean IoU"), ("n_frames", "frames"))


def _score_row(pred: Path, gt: Path, result: dict | None, /, *, stem: str | None = None, error: str = "") -> dict:
    """One row of the --csv table: the image, its two files, the metrics (empty where it was not scored), error."""
    from labelfree.evaluation.folders import prediction_stem

    row: dict[str, Any] = {"image": stem or prediction_stem(pred), "prediction": str(pred), "ground_truth": str(gt)}
    row.update({k: None if result is None else result[k] for k in _CSV_METRICS})
    row["error"] = error
    return row


def _write_scores(path: Path, rows: list[dict], /) -> None:
    import pandas as pd

    from labelfree.io.tables import write_table

    write_table(path, pd.DataFrame(rows, columns=["image", "prediction", "ground_truth", *_CSV_METRICS, "error"]))


def _score_pair(pred_path: Path, gt_path: Path, stem: str, args: argparse.Namespace
                ) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """One pair of a folder scored as ``labelfree eval PRED GT`` scores it, and its pixel counts; the warnings
    of the scores are printed with the image's name."""
    from labelfree.evaluation.folders import score_pair

    pred, gt = _checked_pair(read_labels(pred_path), read_labels(gt_path), pred_path, gt_path)
    result, counts, messages = score_pair(pred, gt, threshold=args.threshold, only_annotated=args.only_annotated)
    result.update(scoring_units(pred))
    for message in messages:
        print(f"labelfree: warning: {stem}: {message}", file=sys.stderr)
    return result, counts


def _listed(paths: list[Path], /, *, limit: int = 20) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _folder_table(images: list[dict[str, Any]], total: dict[str, Any], /) -> str:
    """The scores of a folder's images as an aligned text table, one row per image and the total row."""
    w = max(len("image"), *(len(r["image"]) for r in images)) + 2
    counts = ("tp", "fp", "fn", "n_frames")
    widths = {k: max(len(label) + 2, 6 if k in counts else 10) for k, label in _FOLDER_COLUMNS}

    def cells(r: dict[str, Any]) -> str:
        return "".join(f"{r[k]:>{widths[k]}{'d' if k in counts else '.4f'}}" for k, _ in _FOLDER_COLUMNS)

    head = f"{'image':<{w}}" + "".join(f"{label:>{widths[k]}}" for k, label in _FOLDER_COLUMNS)
    lines = [head, "-" * len(head)]
    for r in images:
        lines.append(f"{r['image']:<{w}}" + ("  not scored: see the error below" if "error" in r else cells(r)))
    lines += ["-" * len(head), f"{'total':<{w}}{cells(total)}"]
    return "\n".join(lines)


def _units_total(results: list[dict[str, Any]], /) -> str:
    """The frames and volumes the images of a folder were scored in, in words (``3 frame(s) and 2 volume(s)
    (objects in 3-D)``)."""
    volumes = sum(int(r["n_frames"]) for r in results if r.get("scored_as") == "volumes")
    frames = sum(int(r["n_frames"]) for r in results) - volumes
    parts = [f"{frames} frame(s)"] * bool(frames or not volumes) + [f"{volumes} volume(s)"] * bool(volumes)
    return " and ".join(parts) + (" (objects in 3-D)" if volumes else "")


def _eval_folders(args: argparse.Namespace) -> int:
    """``labelfree eval PRED_FOLDER GT_FOLDER``: every pair of files scored, a row each, and the pooled total."""
    from labelfree.evaluation.folders import pair_folders, pooled_scores

    csv = _check_csv(args)
    found = pair_folders(args.pred, args.gt)
    images: list[dict[str, Any]] = []
    results, pixels, rows = [], [], []
    for stem, pred_path, gt_path in found.pairs:
        named = {"image": stem, "prediction": str(pred_path), "ground_truth": str(gt_path)}
        try:
            result, counts = _score_pair(pred_path, gt_path, stem, args)
        except InputError as exc:  # this pair cannot be scored; the others can
            images.append({**named, "error": str(exc)})
            rows.append(_score_row(pred_path, gt_path, None, stem=stem, error=str(exc)))
            continue
        images.append({**named, **result})
        results.append(result)
        pixels.append(counts)
        rows.append(_score_row(pred_path, gt_path, result, stem=stem))
    total = {**pooled_scores(results, pixels), "threshold": args.threshold}
    if csv is not None:
        _write_scores(csv, rows)
    failed = [r for r in images if "error" in r]
    if args.json:
        print(json.dumps({"images": images, "total": total,
                          "ground_truth_without_prediction": [str(p) for p in found.truth_only],
                          "predictions_without_ground_truth": [str(p) for p in found.predictions_only]}, indent=2))
    else:
        print(_folder_table(images, total))
        print(f"(IoU threshold {args.threshold}; total of the {total['n_images']} scored image(s), "
              f"{_units_total(results)}: TP, FP and FN summed and\n precision, recall and F1 from the sums; pixel "
              f"F1 from the summed pixel counts; mean IoU over all {total['tp']} matches)")
        if found.truth_only:
            print(f"not scored, ground truth in {args.gt} without a prediction in {args.pred}: "
                  f"{_listed(found.truth_only)}")
        if found.predictions_only:
            print(f"not scored, predictions in {args.pred} without ground truth in {args.gt}: "
                  f"{_listed(found.predictions_only)}")
    for r in failed:
        print(f"labelfree: error: {r['image']} not scored: {r['error']}", file=sys.stderr)
    return 1 if failed else 0

