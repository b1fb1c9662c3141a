"""Cell identities across frames: OverlapLinker / track_by_overlap on the cases a live-cell user meets."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import DimensionError, InputError
from labelfree.labels import OverlapLinker, track_by_overlap


def disk(shape, centre, radius, value=1):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.where(np.hypot(yy - centre[0], xx - centre[1]) < radius, value, 0).astype(np.uint16)


def test_ids_survive_an_empty_frame():
    cells = disk((60, 90), (20, 20), 8, 1) + disk((60, 90), (40, 60), 8, 2)
    moved = disk((60, 90), (22, 21), 8, 7) + disk((60, 90), (41, 62), 8, 3)  # other ids, same cells
    out = track_by_overlap(np.stack([cells, np.zeros_like(cells), moved]))
    assert out[1].max() == 0
    assert out[2, 22, 21] == out[0, 20, 20] == 1 and out[2, 41, 62] == out[0, 40, 60] == 2
    assert set(np.unique(out[2])) == {0, 1, 2}  # no new ids


def test_a_cell_missed_in_one_frame_keeps_its_id_and_gaps_are_bounded():
    a, b = disk((60, 90), (20, 20), 8, 1), disk((60, 90), (40, 60), 8, 2)
    out = track_by_overlap(np.stack([a + b, a, a + b]))
    assert out[2, 40, 60] == out[0, 40, 60] == 2 and out[2].max() == 2
    # missed in three frames, more than max_gap=2: a new id
    out = track_by_overlap(np.stack([a + b, a, a, a, a + b]))
    assert out[4, 40, 60] == 3
    assert track_by_overlap(np.stack([a + b, a, a + b]), max_gap=0)[2, 40, 60] == 3  # gap closing off


def test_a_fast_cell_keeps_its_id_a_far_new_cell_does_not_take_it():
    shape = (60, 120)
    steps = [disk(shape, (30, 20 + 11 * t), 8, 5) for t in range(4)]  # 11 px a frame: IoU about 0.16
    out = track_by_overlap(np.stack(steps))
    assert [out[t, 30, 20 + 11 * t] for t in range(4)] == [1, 1, 1, 1]
    assert [track_by_overlap(np.stack(steps), max_shift=0)[t, 30, 20 + 11 * t] for t in range(4)] == [1, 2, 3, 4]
    # the cell is gone and another one appears three diameters away: a new cell
    far = track_by_overlap(np.stack([steps[0], disk(shape, (30, 70), 8, 5)]))
    assert far[1, 30, 70] == 2
    # nor does a much larger object near it take its id
    big = track_by_overlap(np.stack([steps[0], disk(shape, (30, 31), 16, 5)]))
    assert big[1, 30, 31] == 2


def test_a_cell_cut_in_two_for_a_frame_takes_its_own_id_again():
    def box(x0, x1):
        f = np.zeros((40, 60), np.uint16)
        f[10:30, x0:x1] = 1
        return f

    t0 = box(10, 40)
    t1 = box(14, 44)
    t1[:, 28:44][t1[:, 28:44] > 0] = 2  # cut in two; the right piece is the new id
    t2 = box(18, 48)  # whole again, moved on: it overlaps the right piece more
    out = track_by_overlap(np.stack([t0, t1, t2]))
    assert out[1, 20, 20] == 1 and out[1, 20, 40] == 2
    assert set(np.unique(out[2])) == {0, 1}


def test_division_gives_one_daughter_the_parent_id_and_keeps_the_daughters_apart():
    shape = (60, 90)
    parent = disk(shape, (30, 45), 10, 1)
    d1, d2 = disk(shape, (30, 40), 8, 1), disk(shape, (30, 50), 8, 2)
    e1, e2 = disk(shape, (30, 36), 8, 4), disk(shape, (30, 54), 8, 3)
    out = track_by_overlap(np.stack([parent, d1 + d2, e1 + e2, e1 + e2]))
    ids1 = {out[1, 30, 40], out[1, 30, 50]}
    assert 1 in ids1 and len(ids1) == 2
    assert out[2, 30, 36] == out[1, 30, 40] and out[2, 30, 54] == out[1, 30, 50]
    assert out[3, 30, 36] == out[2, 30, 36] and out[3, 30, 54] == out[2, 30, 54]


def test_linker_rejects_bad_settings():
    with pytest.raises(InputError, match="max_gap is a number of frames"):
        OverlapLinker(max_gap=-1)
    with pytest.raises(InputError, match="max_shift is a distance"):
        OverlapLinker(max_shift=float("nan"))
    with pytest.raises(InputError, match="max_shift is a distance"):
        track_by_overlap(np.zeros((2, 4, 4), np.uint16), max_shift=-1)


def test_linker_rejects_a_changed_frame_size():
    """A frame of another size was linked pixel by pixel against the flattened previous one."""
    linker = OverlapLinker()
    linker.link(disk((40, 40), (20, 20), 8))
    with pytest.raises(DimensionError, match=r"shape of the first, \(40, 40\); got \(30, 40\)"):
        linker.link(disk((30, 40), (10, 20), 8))


def _sim_markers(frames: int) -> np.ndarray:
    from labelfree import datasets

    try:
        ds = datasets.load_ctc("Fluo-N2DH-SIM+")
    except InputError as exc:
        pytest.skip(f"real data not available: {exc}")
    return np.stack([np.asarray(ds.tra[t]) for t in range(frames)])


def test_real_nuclei_keep_their_ids_across_a_dropped_frame():
    """SIM+ ground-truth masks (ids = track ids), renumbered in every frame, with frame 4 dropped."""
    truth = _sim_markers(9)
    rng = np.random.default_rng(1)
    stack = np.zeros_like(truth)
    for t, frame in enumerate(truth):
        lut = np.zeros(int(frame.max()) + 1, np.uint16)
        lut[1:] = rng.permutation(int(frame.max())) + 1
        stack[t] = lut[frame]
    stack[4] = 0
    out = track_by_overlap(stack)
    both = sorted(set(np.unique(truth[3])) & set(np.unique(truth[5])) - {0})
    assert len(both) >= 10
    kept = [np.bincount(out[3][truth[3] == k]).argmax() == np.bincount(out[5][truth[5] == k]).argmax()
            for k in both]
    assert all(kept), f"{kept.count(False)} of {len(both)} cells changed id across the dropped frame"
