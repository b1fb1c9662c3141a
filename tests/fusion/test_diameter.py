"""Automatic object diameter: a model trained at one object size on objects twice as large."""

import cv2
import numpy as np
import pytest

from labelfree.fusion import segment
from labelfree.fusion.diameter import coverage, estimate_diameter, median_diameter
from labelfree.fusion.evaluation import score_predictions


def _zoom(image, labels, factor):
    """Image (C, Y, X) and labels enlarged by ``factor``: every object ``factor`` times larger."""
    h, w = labels.shape
    size = (round(w * factor), round(h * factor))
    zoomed = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in image])
    return zoomed, cv2.resize(labels.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int32)


@pytest.fixture(scope="module")
def large(synthetic_set):
    """Two held-out images of the training kind with every object twice as large (diameters ~26 px)."""
    images, labels = synthetic_set
    return [_zoom(images[k], labels[k], 2.0) for k in (8, 9)]


@pytest.mark.slow
def test_twice_larger_objects_are_found_only_with_the_automatic_diameter(trained, large):
    model = trained.model  # trained on objects of ~13 px (diam_labels)
    models = {"C0": model, "C1": model}
    images, truths = [i for i, _ in large], [t for _, t in large]
    auto = [segment(img, models=models) for img in images]
    fixed = [segment(img, models=models, config={"diameter": model.diam_labels}) for img in images]
    f1_auto = score_predictions([a.values for a in auto], truths)["f1"]
    f1_fixed = score_predictions([f.values for f in fixed], truths)["f1"]
    assert f1_fixed < 0.6  # at the training diameter the network sees objects twice the size it knows
    assert f1_auto > 0.85 and f1_auto > f1_fixed + 0.3
    for out, truth in zip(auto, truths):
        record = out.attrs["labelfree"]
        assert record["diameter_source"] == "search" and record["config"]["diameter"] == 0
        # the chosen diameter is larger than the training one, on the objects' scale: this tiny model's coverage
        # is nearly flat over a wide range, so where on it the search lands follows the training's rounding (18.5
        # to 52 px for objects of 26-29 px across BLAS kernel paths, F1 0.90-0.97 each time)
        assert 0.5 < record["diameter"] / median_diameter(truth) < 2.1
        assert record["diameter"] > 1.3 * model.diam_labels
        assert len(record["diameter_coverage"]) >= 3
    record = fixed[0].attrs["labelfree"]
    assert record["diameter_source"] == "given" and record["diameter"] == pytest.approx(model.diam_labels, abs=1e-3)
    assert "diameter_coverage" not in record


def test_no_objects_falls_back_to_the_training_diameter(trained):
    blank = np.zeros((96, 96), np.float32)
    model = trained.model
    choice = estimate_diameter([{"C0": blank, "C1": blank}], {"C0": model, "C1": model})
    assert choice.source == "training" and choice.diameter == pytest.approx(model.diam_labels)
    assert choice.scores and not any(choice.scores.values()) and not choice.flows
    assert choice.record()["diameter_source"] == "training"


def test_coverage_is_the_foreground_fraction_under_masks():
    cellprob = np.full((20, 20), -5.0, np.float32)
    cellprob[2:12, 2:18] = 5.0  # 160 foreground pixels
    labels = np.zeros((20, 20), np.uint16)
    labels[2:12, 2:10] = 1  # 80 pixels
    labels[2:7, 10:18] = 7  # 40 pixels
    labels[15:18, 15:18] = 3  # 9 pixels outside the foreground do not count
    assert coverage(labels, cellprob) == pytest.approx(120 / 160)
    assert coverage(labels, cellprob, cellprob_threshold=6.0) == 0.0
    assert median_diameter(np.zeros((4, 4), int)) == 0.0
    assert median_diameter(labels[:12]) == pytest.approx(np.median(2 * np.sqrt(np.array([80, 40]) / np.pi)))
