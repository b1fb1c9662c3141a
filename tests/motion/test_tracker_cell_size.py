"""The declumping tracker splits at the cell size the run settled on, not at the size of its first frame.

On a crop whose first classified frame is flooded (over half cell), that frame is segmented at the
flow-only (or provisional) size and the :class:`InstanceTracker` was built with its cell area. The first
frame that is not flooded checks the size and may lower it; the tracker kept the old, larger cell area, so
touching cells stayed merged for the rest of the run (benchmarks/motion_short_crops.py, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from labelfree import motion
from labelfree.errors import ConfigError
from labelfree.metrics import evaluate
from labelfree.motion.instances import InstanceTracker

#: HeLa frames 0-5, 128 px at (384, 320): frame 0 is flooded; its 4 nuclei (2 of them touching) in frames 1-5
HELA_BOX = (slice(0, 6), slice(384, 512), slice(320, 448))


def _count(labels: np.ndarray) -> list[int]:
    return [int(np.unique(frame[frame > 0]).size) for frame in np.asarray(labels)]


def _two_touching_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """Two touching disks of radius 14 (613 px each) and their grey levels: two bright bodies, a dim contact."""
    yy, xx = np.mgrid[:80, :120]
    mask = np.zeros((80, 120), bool)
    frame = np.zeros((80, 120))
    for cy, cx in ((40, 45), (40, 71)):
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 14**2
        frame += 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0**2))
    return mask, frame.astype(np.float32)


def test_rescale_looks_again_at_a_clump_kept_whole_at_the_larger_size():
    mask, frame = _two_touching_nuclei()
    assert InstanceTracker(cell_area=600, min_size=75).step(mask, frame).max() == 2  # at their own size: apart
    tracker = InstanceTracker(cell_area=3000, min_size=150)
    assert [int(tracker.step(mask, frame).max()) for _ in range(2)] == [1, 1]  # one whole cell at 3000 px
    tracker.rescale(cell_area=600, min_size=75)
    assert (tracker.cell_area, tracker.min_size) == (600.0, 75)
    assert [int(tracker.step(mask, frame).max()) for _ in range(3)] == [2, 2, 2]


def test_rescale_keeps_cells_seen_apart_apart():
    """Two disks apart, then overlapping with no grey-level dip and no neck (centres 16 px apart, radius 14: a
    fresh tracker's shape split would not cut them either): split along the cells seen apart, before and after
    a rescale (identities kept); a tracker that forgot them (reset, or built anew) gives one object."""
    yy, xx = np.mgrid[:80, :120]

    def disks(dx):
        return ((yy - 40) ** 2 + (xx - 40 - dx) ** 2 <= 14**2) | ((yy - 40) ** 2 + (xx - 76 + dx) ** 2 <= 14**2)

    apart, touching = disks(0), disks(10)
    flat = touching.astype(np.float32) * 100
    tracker = InstanceTracker(cell_area=600, min_size=75)
    assert [int(tracker.step(m, m.astype(np.float32) * 100).max()) for m in (apart, touching)] == [2, 2]
    tracker.rescale(cell_area=500, min_size=60)
    assert [int(tracker.step(touching, flat).max()) for _ in range(3)] == [2, 2, 2]
    tracker.reset()
    assert int(tracker.step(touching, flat).max()) == 1
    assert int(InstanceTracker(cell_area=500, min_size=60).step(touching, flat).max()) == 1


def test_rescale_refuses_a_cell_area_that_is_not_positive():
    tracker = InstanceTracker(cell_area=600)
    for bad in (0, -5.0, float("nan")):
        with pytest.raises(ConfigError, match=r"InstanceTracker.rescale needs a positive cell_area \(px\)"):
            tracker.rescale(cell_area=bad, min_size=10)
    assert tracker.cell_area == 600.0


@pytest.fixture(scope="module")
def hela_crop(hela):
    movie, truth = hela  # the first 6 frames (tests/motion/conftest.py)
    return movie[HELA_BOX], truth[HELA_BOX]


def test_hela_crop_flooded_first_frame_declumps_at_the_settled_size(hela_crop, monkeypatch, caplog):
    """benchmarks/motion_short_crops.py, HeLa 128 px at (384, 320): frame 0 is flooded, frame 1 lowers min_size
    from the flow-only 1489 px to 284 (308 while frame 1's cells were measured with the classifier's halo). Before:
    the tracker kept the cell area of frame 0 (5956 px), and two touching nuclei stayed one object: 2, 3, 3, 2, 2,
    3 objects, object F1 0.39. Now it splits at 1136 px: 4 objects in frames 1-5 (the ground truth's 4 nuclei),
    object F1 0.75."""
    movie, truth = hela_crop
    areas = []
    segment_module = sys.modules["labelfree.motion.segment"]

    class Recording(InstanceTracker):
        def step(self, mask, frame, /, *, flow=None):
            areas.append(self.cell_area)
            return super().step(mask, frame, flow=flow)

    monkeypatch.setattr(segment_module, "InstanceTracker", Recording)
    with caplog.at_level(logging.INFO, logger="labelfree.motion"):
        out = motion.segment(movie)
    min_size = out.attrs["labelfree"]["min_size"]
    assert min_size == 284
    assert areas == [5956.0] + [min_size / motion.MotionConfig().min_size_fraction] * 5
    labels = np.asarray(out.values)
    assert _count(truth)[1:5] == [4] * 4 and _count(labels)[1:] == [4] * 5
    assert evaluate(labels, truth)["f1"] >= 0.74
    text = " ".join(r.getMessage() for r in caplog.records)
    assert ("touching cells split at a typical cell area of 1136 px from frame 1 (0-based) on; the frames before it "
            "at 5956 px") in text
