"""Motion on small crops whose background is flat: the still pixels without entropy are background labels.

The paper's background labels are the still pixels with flow and entropy. After the uint8 mapping of a crop
of a few nuclei on a dark background, that background is one grey level (entropy 0 in 80-98 % of the pixels
of 128 px HeLa crops): the pair had no background label (or a few dozen), no classifier, and every frame of
the crop came out empty (a NoMotionWarning), or the pair's classifier was refused for calling most of the frame
cell. A run that segmented no frame and had a pair with no background label now runs again, and its pairs with
no background label take every still pixel with flow as background (``self_label(..., flat_background=True)``;
benchmarks/motion_crops.py --size 128, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from labelfree import motion
from labelfree.metrics import evaluate
from labelfree.motion import NoMotionWarning
from labelfree.motion.selflabel import self_label

#: HeLa frames 0-5, 128 px at (0, 770): 3-4 nuclei on a flat dark background (84 % of the pixels without entropy)
HELA_BOX = (slice(0, 6), slice(0, 128), slice(770, 898))
#: ... and at (220, 880): its first pair had no background label, the others 43-179 (min_size 1208 px), and their
#: classifiers, calling 85-91 % of the frame cell, were refused: 0 objects. Now the first pair's classifier (its
#: flat background labelled) classifies the frames whose own classifier is refused
HELA_REFUSED_BOX = (slice(0, 6), slice(220, 348), slice(880, 1008))
#: the speeds that are motion and stillness in the synthetic pairs (the automatic rules need a real flow)
_GIVEN = motion.MotionConfig(cell_threshold=1.0, background_threshold=0.1)


def _count(labels: np.ndarray) -> list[int]:
    return [int(np.unique(frame[frame > 0]).size) for frame in np.asarray(labels)]


def _moving_disk(entropy_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Flow speed and entropy of a pair: a disk moving at 5 px/frame, the rest still (0.01 px/frame); entropy
    inside the disk and in the top ``entropy_rows`` rows only (the rest a flat background)."""
    yy, xx = np.mgrid[:96, :96]
    disk = (yy - 60) ** 2 + (xx - 48) ** 2 <= 12**2
    magnitude = np.where(disk, 5.0, 0.01).astype(np.float32)
    entropy = np.zeros((96, 96), np.float32)
    entropy[disk] = 3.0
    entropy[:entropy_rows] = 2.0
    return magnitude, entropy


def test_a_flat_still_background_gives_background_labels():
    magnitude, entropy = _moving_disk(entropy_rows=0)
    paper = self_label(magnitude, entropy, min_size=100, config=_GIVEN)
    assert paper.cell.any() and not paper.background.any()  # no still pixel with entropy: no label
    sl = self_label(magnitude, entropy, min_size=100, config=_GIVEN, flat_background=True)
    np.testing.assert_array_equal(sl.cell, paper.cell)
    # every still pixel with flow outside the moving mask and its closing: far from the disk, all of them
    assert sl.background[:20].all() and sl.background[:, :20].all()
    assert not (sl.background & sl.cell).any()
    assert int(sl.background.sum()) > 5000
    binned = self_label(magnitude, entropy, min_size=100, config=_GIVEN, flat_background=True, binning=2)
    assert binned.background[:20].all() and not (binned.background & binned.cell).any()


def test_still_pixels_with_entropy_keep_the_paper_labels():
    magnitude, entropy = _moving_disk(entropy_rows=4)  # 4 x 96 = 384 still pixels with entropy
    sl = self_label(magnitude, entropy, min_size=100, config=_GIVEN)
    assert int(sl.background.sum()) == 384
    assert sl.background[:4].all() and not sl.background[4:].any()


def test_hela_crop_with_a_flat_background_is_segmented(hela, caplog):
    movie, gt = hela
    crop, truth = movie[HELA_BOX], gt[HELA_BOX]
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="labelfree.motion"):
        warnings.simplefilter("error", NoMotionWarning)  # before: no self-labelled motion in 6 of 6 frames
        labels = np.asarray(motion.segment(crop).values)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert ("no frame segmented, and 2 pair(s) had no background label: run again with the still pixels without "
            "entropy (a flat background) as background labels") in text
    assert _count(truth) == [3, 3, 3, 4, 4, 4]
    assert _count(labels) == [3, 3, 3, 3, 3, 3]  # before: [0, 0, 0, 0, 0, 0]
    assert evaluate(labels, truth)["f1"] > 0.85  # 0.872 (the Otsu baseline of benchmarks/motion_crops.py: 0.727)


def test_hela_crop_whose_pairs_had_a_few_background_labels_is_segmented(hela):
    movie, gt = hela
    crop, truth = movie[HELA_REFUSED_BOX], gt[HELA_REFUSED_BOX]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoMotionWarning)  # before: no cell motion in 6 of 6 frames
        labels = np.asarray(motion.segment(crop).values)
    assert _count(truth) == [3, 3, 4, 4, 5, 5]
    assert _count(labels) == [4, 3, 3, 3, 4, 4]  # before: [0, 0, 0, 0, 0, 0]
    assert evaluate(labels, truth)["f1"] > 0.78  # 0.800 (the Otsu baseline of benchmarks/motion_crops.py: 0.857)


def test_a_still_movie_on_a_flat_background_stays_empty():
    """A bright square that never moves, on a flat background with little noise: one pair moves within the flow's
    precision (no motion), the other has no background label. The run again with the flat background as background
    labels segmented the square (1 object, a few-objects warning); a movie where a pair showed no motion at all is
    not run again: no frame holds cell motion."""
    rng = np.random.default_rng(3)
    still = np.full((5, 48, 48), 100, np.uint16)
    still[:, 10:22, 10:22] = 1000
    still = still + rng.integers(0, 20, still.shape, dtype=np.uint16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = motion.segment(still[1:4])  # frames 1-3 (a chunk of tests/test_batch_messages.py's movie)
    assert int(labels.values.max()) == 0
    assert [w.category for w in caught] == [NoMotionWarning]
