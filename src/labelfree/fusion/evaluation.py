"""Scores of the Fusion pipeline: the paper's metrics table and a k-fold helper.

Object metrics come from :mod:`labelfree.metrics`: precision, recall and F1 at IoU 0.5,
pixel Jaccard, the aggregated Jaccard index (AJI) and average precision
(``tp / (tp + fp + fn)`` at IoU 0.5). Over several images, object counts are summed before
the ratios are taken; pixel Jaccard and AJI are averaged over images.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from labelfree.errors import InputError
from labelfree.metrics import evaluate

__all__ = ["METRICS", "score_predictions", "metrics_table", "kfold_splits", "cross_validate"]

#: columns of every metrics table, in the paper's order
METRICS = ("precision", "recall", "f1", "jaccard", "aji", "average_precision")


def score_predictions(
    predictions: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], /, *, threshold: float = 0.5
) -> dict[str, float]:
    """The paper's metrics of predicted instance labels against ground truth over several images.

    Parameters
    ----------
    predictions, ground_truth : sequences of (Y, X) integer label images, pairwise same shape
    threshold : float
        IoU at which a predicted object matches a true one.

    Returns
    -------
    dict with ``precision``, ``recall``, ``f1``, ``jaccard`` (pixel), ``aji``,
    ``average_precision``, ``tp``, ``fp``, ``fn``, ``n_images``.
    """
    if len(predictions) != len(ground_truth) or not predictions:
        raise InputError(f"Give as many predictions as ground-truth images (got {len(predictions)} "
                         f"and {len(ground_truth)}), at least one.")
    tp = fp = fn = 0
    jac, aji = [], []
    for pred, gt in zip(predictions, ground_truth):
        s = evaluate(np.asarray(pred), np.asarray(gt), threshold=threshold)
        tp, fp, fn = tp + s["tp"], fp + s["fp"], fn + s["fn"]
        jac.append(s["pixel_jaccard"])
        aji.append(s["aji"])

    def ratio(a: float, b: float) -> float:
        return float(a) / b if b else float("nan")

    return {
        "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "jaccard": float(np.nanmean(jac)), "aji": float(np.nanmean(aji)),
        "average_precision": ratio(tp, tp + fp + fn), "tp": tp, "fp": fp, "fn": fn,
        "n_images": len(predictions),
    }


def metrics_table(
    results: Mapping[str, Sequence[np.ndarray]], ground_truth: Sequence[np.ndarray], /, *, threshold: float = 0.5
) -> Any:
    """One row per method (name -> its predictions of the images), the paper's metrics as columns.

    Returns
    -------
    pandas.DataFrame indexed by method.
    """
    import pandas as pd

    rows = {name: score_predictions(preds, ground_truth, threshold=threshold) for name, preds in results.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table[[*METRICS, "tp", "fp", "fn", "n_images"]]


def kfold_splits(n: int, /, *, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled k-fold split of ``n`` items: a list of ``(train indices, test indices)``.

    Every item is in exactly one test fold; fold sizes differ by at most one.
    """
    if k < 2 or k > n:
        raise InputError(f"k-fold cross-validation needs 2 <= k <= number of images ({n}); got k={k}.")
    order = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(order, k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1:])), np.sort(f)) for i, f in enumerate(folds)]


def cross_validate(
    images: Sequence[Any],
    labels: Sequence[np.ndarray],
    /,
    *,
    fit: Callable[[list[Any], list[np.ndarray]], Any],
    predict: Callable[[Any, list[Any]], Mapping[str, Sequence[np.ndarray]]],
    k: int = 5,
    seed: int = 0,
) -> Any:
    """k-fold cross-validation of a train-then-segment procedure.

    Parameters
    ----------
    images, labels : sequences of images and their (Y, X) instance labels
    fit : callable(train_images, train_labels) -> state (e.g. trained models)
    predict : callable(state, test_images) -> {method name: predictions of the test images}
    k, seed : folds and shuffling seed

    Returns
    -------
    pandas.DataFrame with one row per (fold, method) and the metrics; the mean over folds
    is ``table.groupby("method").mean()``.
    """
    import pandas as pd

    rows = []
    for fold, (tr, te) in enumerate(kfold_splits(len(images), k=k, seed=seed)):
        state = fit([images[i] for i in tr], [labels[i] for i in tr])
        gts = [labels[i] for i in te]
        for method, preds in predict(state, [images[i] for i in te]).items():
            rows.append({"fold": fold, "method": method, **score_predictions(list(preds), gts)})
    return pd.DataFrame(rows)
