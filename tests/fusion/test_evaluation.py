import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.fusion import cross_validate, kfold_splits, metrics_table, score_predictions


def _labels(boxes, shape=(30, 30)):
    out = np.zeros(shape, np.int32)
    for k, (y0, y1, x0, x1) in enumerate(boxes, start=1):
        out[y0:y1, x0:x1] = k
    return out


def test_score_predictions_sums_counts_over_images():
    gt1 = _labels([(0, 10, 0, 10), (15, 25, 15, 25)])
    gt2 = _labels([(0, 10, 0, 10)])
    pred1 = _labels([(0, 10, 0, 10)])  # 1 tp, 1 fn
    pred2 = _labels([(0, 10, 0, 10), (20, 28, 0, 8)])  # 1 tp, 1 fp
    s = score_predictions([pred1, pred2], [gt1, gt2])
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3) and s["average_precision"] == pytest.approx(0.5)
    table = metrics_table({"perfect": [gt1, gt2], "partial": [pred1, pred2]}, [gt1, gt2])
    assert table.loc["perfect", "f1"] == 1.0 and table.loc["perfect", "aji"] == 1.0
    assert list(table.columns[:6]) == ["precision", "recall", "f1", "jaccard", "aji", "average_precision"]
    with pytest.raises(InputError, match="as many predictions"):
        score_predictions([pred1], [gt1, gt2])


def test_kfold_splits_partition_the_items():
    splits = kfold_splits(11, k=4, seed=2)
    tests = np.concatenate([te for _, te in splits])
    assert sorted(tests.tolist()) == list(range(11))
    assert all(len(set(tr) & set(te)) == 0 and len(tr) + len(te) == 11 for tr, te in splits)
    assert sorted(len(te) for _, te in splits) == [2, 3, 3, 3]
    with pytest.raises(InputError, match="2 <= k"):
        kfold_splits(3, k=5)


def test_cross_validate_runs_fit_and_predict_per_fold():
    gts = [_labels([(i, i + 8, 2, 10)]) for i in range(6)]
    seen = []

    def fit(images, labels):
        seen.append(len(images))
        return len(images)

    def predict(state, images):
        return {"copy": [img for img in images], "empty": [np.zeros_like(img) for img in images]}

    table = cross_validate(gts, gts, fit=fit, predict=predict, k=3)
    assert seen == [4, 4, 4]
    means = table.groupby("method")["f1"].mean()
    assert means["copy"] == 1.0 and means["empty"] == 0.0
