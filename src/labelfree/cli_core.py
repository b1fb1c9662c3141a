"""Core sub-commands: ``labelfree demo`` and ``labelfree eval``."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from labelfree.errors import InputError

__all__ = ["register", "read_label_stack", "format_metrics"]

SAMPLE_MOVIE = Path(__file__).parent / "data" / "sample_movie.tif"
SAMPLE_TRUTH = Path(__file__).parent / "data" / "sample_truth.tif"
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
    p = sub.add_parser("demo", help="run the Motion pipeline on the bundled sample movie")
    p.add_argument("-o", "--out", type=Path, default=Path("labelfree-demo"), help="output folder (default: %(default)s)")
    p.add_argument("--pipeline", default="motion", help="pipeline to run (default: %(default)s)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("eval", help="score a label image against ground truth")
    p.add_argument("pred", type=Path, help="predicted label TIFF (2-D or a T stack)")
    p.add_argument(
        "gt", type=Path, help="ground-truth label TIFF, or a Cell Tracking Challenge SEG folder (man_segNNN.tif)"
    )
    p.add_argument("--threshold", type=float, default=0.5, help="IoU threshold for object matching")
    p.add_argument("--only-annotated", action="store_true", help="score only objects that overlap ground truth")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_eval)


def read_label_stack(path: Path, /) -> np.ndarray:
    """Read a label TIFF as an integer array (ImageJ float32 labels are converted)."""
    import tifffile

    if not path.is_file():
        raise InputError(f"Label file {path} does not exist.")
    try:
        arr = tifffile.imread(path)
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds
        raise InputError(f"Cannot read {path} as a TIFF label image: {exc}") from exc
    arr = np.squeeze(arr)
    if arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise InputError(f"{path} holds non-integer values: it is not a label image.")
        arr = arr.astype(np.uint32)
    return arr


def _pairs_from_ctc(pred: np.ndarray, seg_dir: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    files = sorted(seg_dir.glob("man_seg*.tif"))
    if not files:
        raise InputError(f"{seg_dir} holds no man_segNNN.tif files (Cell Tracking Challenge SEG layout).")
    frames, preds, gts = [], [], []
    for f in files:
        m = re.fullmatch(r"man_seg(\d+)\.tif", f.name)
        if not m:
            continue
        t = int(m.group(1))
        if pred.ndim == 2:
            if len(files) != 1:
                raise InputError("A 2-D prediction can only be scored against a single ground-truth frame.")
            p = pred
        elif t < pred.shape[0]:
            p = pred[t]
        else:
            raise InputError(f"Ground truth has frame {t} but the prediction has only {pred.shape[0]} frames.")
        frames.append(t)
        preds.append(p)
        gts.append(read_label_stack(f))
    return np.stack(preds), np.stack(gts), frames


def format_metrics(result: dict, /) -> str:
    """The metrics of :func:`labelfree.metrics.evaluate` as an aligned text table."""
    lines = [f"{'metric':<22}{'value':>10}", "-" * 32]
    for key, label in _METRIC_ROWS:
        lines.append(f"{label:<22}{result[key]:>10.4f}")
    lines.append(f"{'TP / FP / FN':<22}{result['tp']:>4d} /{result['fp']:>4d} /{result['fn']:>4d}")
    lines.append(f"(IoU threshold {result['threshold']}, {result['n_frames']} frame(s))")
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from labelfree.metrics import evaluate

    pred = read_label_stack(args.pred)
    if args.gt.is_dir():
        pred, gt, _ = _pairs_from_ctc(pred, args.gt)
    else:
        gt = read_label_stack(args.gt)
    result = evaluate(pred, gt, threshold=args.threshold, only_annotated=args.only_annotated)
    print(json.dumps(result, indent=2) if args.json else format_metrics(result))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from labelfree.io import read_image, write_outputs
    from labelfree.metrics import evaluate
    from labelfree.pipelines import get_pipeline

    pipeline = get_pipeline(args.pipeline)
    movie = read_image(SAMPLE_MOVIE)
    print(f"Sample movie: {SAMPLE_MOVIE.name}, dims {''.join(movie.dims)}, shape {tuple(movie.shape)}")
    start = time.perf_counter()
    labels = pipeline.segment(movie, progress=False)
    seconds = time.perf_counter() - start
    paths = write_outputs(args.out, labels, image=movie, stem="sample_movie")
    truth = read_label_stack(SAMPLE_TRUTH)
    score = evaluate(np.asarray(labels), truth)
    n_obj = sum(len(np.unique(f)) - 1 for f in np.asarray(labels))
    print(f"{pipeline.name}: {n_obj} objects over {labels.sizes.get('T', 1)} frames in {seconds:.1f} s")
    print(f"against the sample's ground truth: pixel F1 {score['pixel_f1']:.3f}, object F1 {score['f1']:.3f}")
    print(f"Outputs written to {Path(args.out).resolve()}:")
    for kind, path in paths.items():
        print(f"  {kind:<11}{path}")
    return 0
