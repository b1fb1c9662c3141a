"""A Cutter movie keeps each cell's id over time: markers without ids (detected, points) are linked by overlap,
as Motion's objects are; the ids of a marker label image stay; a single frame is left as it was."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk

from labelfree.cutter import CutterConfig, segment
from labelfree.cutter.segment import apply_model, fit, prepare
from labelfree.image import to_dataarray

#: a tiny network and few steps (tests/cutter/test_cutter_segment.py's FAST), the scale fixed so that a model
#: applied to the movie cuts the patches the preparation below cuts
CONFIG = CutterConfig(width=8, crop_size=48, marker_sigma=11.0, n_steps=40, cell_channels=("cell",),
                      nucleus_channel="nucleus", cell_fraction=0.24, downscale=1.0, marker_min_sigma=3.0,
                      marker_max_sigma=6.0, marker_threshold=0.2)
#: four cells on a 2 x 2 grid of a 112 px frame
CENTRES = [(28 + 56 * i, 28 + 56 * j) for i in range(2) for j in range(2)]


def _movie():
    """(movie TCYX [cell, nucleus], truth (T, Y, X), nucleus centres per frame): the cells of a row move up and
    down by 8 px in turn, so that their markers' raster order (the detected markers' numbering) swaps from frame
    to frame; cell 1 leaves after frame 1."""
    rng = np.random.default_rng(0)
    images, truths, centres = [], [], []
    for t in range(3):
        truth = np.zeros((112, 112), np.int32)
        nuclei = np.zeros(truth.shape)
        here = []
        for k, (cy, cx) in enumerate(CENTRES):
            if t == 2 and k == 0:
                continue
            cy += 4 if (k + t) % 2 else -4
            truth[disk((cy, cx), 16, shape=truth.shape)] = k + 1
            nuclei[disk((cy, cx), 5, shape=truth.shape)] = 1
            here.append((cy, cx))
        cell = (truth > 0) * 0.8 + rng.normal(0, 0.1, truth.shape)
        images.append(np.stack([cell, nuclei + rng.normal(0, 0.1, truth.shape)]).astype(np.float32))
        truths.append(truth)
        centres.append(np.array(here, float))
    movie = to_dataarray(np.stack(images), dims="TCYX", channel_names=["cell", "nucleus"])
    return movie, np.stack(truths), centres


@pytest.fixture(scope="module")
def trained():
    movie, truth, centres = _movie()
    model = fit(movie, config=CONFIG)
    unlinked = apply_model(model, prepare(movie, config=CONFIG).frames)  # each frame's ids: its markers' order
    return movie, truth, centres, model, unlinked


def _ids_of_cells(labels: np.ndarray, truth: np.ndarray) -> dict[int, list[int]]:
    """Per true cell, the label id at its centre pixel in each frame it is in."""
    out: dict[int, list[int]] = {}
    for t in range(len(truth)):
        for k, (cy, cx) in enumerate(CENTRES):
            cell = truth[t] == k + 1
            if cell.any():
                ys, xs = np.nonzero(cell)
                out.setdefault(k + 1, []).append(int(labels[t][int(round(ys.mean())), int(round(xs.mean()))]))
    return out


def _same_objects(a: np.ndarray, b: np.ndarray) -> None:
    """``a`` and ``b`` hold the same objects in each frame, up to a one-to-one change of ids."""
    for t in range(len(a)):
        assert np.array_equal(a[t] > 0, b[t] > 0)
        pairs = np.unique(np.stack([a[t][a[t] > 0], b[t][b[t] > 0]]), axis=1)
        assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def test_detected_markers_give_each_cell_one_id_over_time(trained):
    """Detected markers were numbered afresh in each frame: a cell's id changed when the markers' raster order
    did (frame 1 swapped cells 1-2 and 3-4; frame 2, without cell 1, renumbered the others 1-3)."""
    movie, truth, _, model, unlinked = trained
    assert _ids_of_cells(unlinked, truth) == {1: [1, 2], 2: [2, 1, 1], 3: [3, 4, 2], 4: [4, 3, 3]}  # the old ids
    labels = segment(movie, model=model, config=CONFIG)
    assert _ids_of_cells(labels.values, truth) == {1: [1, 1], 2: [2, 2, 2], 3: [3, 3, 3], 4: [4, 4, 4]}
    _same_objects(labels.values, unlinked)  # only the ids changed
    assert labels.attrs["labelfree"]["ids_over_time"] == {
        "from": "overlap", "rule": "labelfree.labels.track_by_overlap", "min_iou": 0.3, "max_gap": 2, "max_shift": 2.0}


def test_points_without_ids_are_linked_too(trained):
    """(t, y, x) points, listed in another order in each frame, gave ids in that order."""
    movie, truth, centres, model, _ = trained
    rows = np.concatenate([np.c_[np.full(len(c), t), c[::-1] if t == 1 else c] for t, c in enumerate(centres)])
    labels = segment(movie, markers=rows, model=model, config=CONFIG)
    assert _ids_of_cells(labels.values, truth) == {1: [1, 1], 2: [2, 2, 2], 3: [3, 3, 3], 4: [4, 4, 4]}
    assert labels.attrs["labelfree"]["ids_over_time"]["from"] == "overlap"


def test_the_ids_of_a_marker_label_image_stay_as_given(trained):
    """A nucleus label image's ids are the user's (e.g. TRA track ids): kept, even where they are no tracks."""
    movie, truth, centres, model, _ = trained
    given = np.zeros(truth.shape, np.int32)
    for t, frame in enumerate(centres):
        for k, (cy, cx) in enumerate(frame):
            given[t][disk((cy, cx), 4, shape=given.shape[1:])] = 10 * (t + 1) + k  # new ids in every frame
    labels = segment(movie, markers=given, model=model, config=CONFIG)
    for t in range(len(truth)):
        assert sorted(np.unique(labels.values[t][given[t] > 0]).tolist()) == sorted(np.unique(given[t])[1:].tolist())
        assert np.array_equal(labels.values[t][given[t] > 0], given[t][given[t] > 0])
    assert labels.attrs["labelfree"]["ids_over_time"] == {"from": "markers", "rule": "the given markers' ids, kept"}


def test_a_single_frame_keeps_its_markers_order(trained):
    """One frame (YX or a one-frame movie) has nothing to link: its labels are those of its markers' order."""
    movie, _, _, model, _ = trained
    for image in (movie.isel(T=1), movie.isel(T=[1])):
        unlinked = apply_model(model, prepare(image, config=CONFIG).frames)[0]  # its markers' order: 2, 1, 4, 3
        labels = segment(image, model=model, config=CONFIG)
        assert np.array_equal(labels.values.reshape(unlinked.shape), unlinked)
        assert np.unique(unlinked).tolist() == [0, 1, 2, 3, 4]
        assert "ids_over_time" not in labels.attrs["labelfree"]
