import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.fusion import BASELINES, fuse_instances, match_instances, simple_fusion
from labelfree.metrics import match_objects


def _box(seg, label, y0, y1, x0, x1):
    seg[y0:y1, x0:x1] = label


@pytest.fixture
def three_inputs():
    """Object A in all 3 inputs (shifted), B in 2, C in 1; A and D touch in every input."""
    segs = [np.zeros((60, 60), np.int32) for _ in range(3)]
    for i, s in enumerate(segs):
        _box(s, 10 + i, 5 + i, 25 + i, 5, 25)  # A, slightly shifted, different IDs per input
        _box(s, 20 + i, 5, 25, 25, 45)  # D touches A
    _box(segs[0], 7, 35, 55, 5, 25)  # B in inputs 0 and 1
    _box(segs[1], 3, 36, 55, 5, 25)
    _box(segs[2], 9, 35, 55, 35, 55)  # C only in input 2
    truth = np.zeros((60, 60), np.int32)
    _box(truth, 1, 6, 26, 5, 25)
    _box(truth, 2, 5, 25, 25, 45)
    _box(truth, 3, 35, 55, 5, 25)
    return segs, truth


def test_match_instances_groups_the_same_objects(three_inputs):
    segs, _ = three_inputs
    groups = match_instances(segs)
    assert [(0, 10), (1, 11), (2, 12)] in groups
    assert [(0, 7), (1, 3)] in groups
    assert [(2, 9)] in groups
    assert len(groups) == 4


@pytest.mark.parametrize("method", BASELINES)
def test_baselines_keep_majority_objects_and_separate_touching_cells(three_inputs, method):
    segs, truth = three_inputs
    before = [s.copy() for s in segs]
    fused = fuse_instances(segs, method=method)
    assert all(np.array_equal(a, b) for a, b in zip(before, segs))
    matches = match_objects(fused, truth, threshold=0.8)
    assert len(matches) == 3, method  # A, D (touching, kept apart) and B; C (1 of 3) dropped
    assert fused.max() == 3 and fused.dtype == np.uint16


def test_pixel_vote_takes_the_majority_shape():
    segs = [np.zeros((10, 10), np.int32) for _ in range(3)]
    segs[0][2:6, 2:6] = 1
    segs[1][2:6, 2:7] = 1
    segs[2][2:6, 2:8] = 1
    fused = fuse_instances(segs, method="pixel_vote", min_size=1)
    expected = np.zeros((10, 10), bool)
    expected[2:6, 2:7] = True
    assert np.array_equal(fused > 0, expected)


def test_simple_beats_majority_vote_when_bad_raters_outnumber_good_ones():
    rng = np.random.default_rng(0)
    target = np.zeros((40, 40), bool)
    target[10:30, 10:30] = True
    crops = np.stack([target, target] + [rng.random((40, 40)) < 0.5 for _ in range(3)])
    majority_err = ((crops.mean(axis=0) > 0.5) != target).mean()
    simple_err = ((simple_fusion(crops) > 0) != target).mean()
    assert majority_err > 0.1
    assert simple_err < 0.01


def test_fuse_instances_rejects_bad_input():
    with pytest.raises(InputError, match="at least one"):
        fuse_instances([])
    with pytest.raises(InputError, match="one shape"):
        fuse_instances([np.zeros((4, 4), int), np.zeros((5, 4), int)])
    with pytest.raises(InputError, match="Unknown fusion baseline"):
        fuse_instances([np.zeros((4, 4), int)], method="average")
