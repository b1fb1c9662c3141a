"""Touching round nuclei whose contact the smoothed grey level fills: split by their shape.

Motion splits a clump of a fluorescence movie along its smoothed grey level (the intensity landscape,
smoothed at a quarter of the cell radius). Two nuclei 80 px across that touch over 8 px (Fluo-N3DH-CHO,
projected) leave no dip there once smoothed at 9.6 px: the pair stayed one object in every frame (25
of 195 nuclei merged, object F1@0.5 0.895). An object over twice the typical cell area that the grey
level leaves whole is now split at its neck by its shape when every piece is convex (solidity 0.9 or
more); cells that spread (MSC: the candidates' solidity 0.53-0.74) stay whole.
"""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.motion.instances import InstanceTracker, _solidity, split_cells

RADIUS = 40
CELL_AREA = 4000.0  # the typical cell: a little under these discs' 5027 px (CHO: 4676 typical, its pair 5253 + 4836)


def _discs(distance: float, *, size: tuple[int, int] = (120, 220)) -> np.ndarray:
    """Two discs of radius 40 px whose centres are ``distance`` px apart (79: they meet over 8 px)."""
    yy, xx = np.mgrid[: size[0], : size[1]]
    cy, cx = size[0] / 2, (size[1] - distance) / 2
    return ((yy - cy) ** 2 + (xx - cx) ** 2 < RADIUS**2) | ((yy - cy) ** 2 + (xx - cx - distance) ** 2 < RADIUS**2)


def _split(obj: np.ndarray, *, height: np.ndarray | None = None, cell_area: float = CELL_AREA,
           neck_ratio: float | None = 0.8) -> np.ndarray:
    flat = np.full(obj.shape, 50.0, np.float32) if height is None else height  # no grey-level dip anywhere
    return split_cells(obj, height=flat, cell_area=cell_area, dip_ratio=0.7, neck_ratio=neck_ratio,
                       min_size=int(cell_area / 4))


def test_two_round_nuclei_touching_at_a_narrow_contact_are_split_by_their_shape():
    obj = _discs(79)
    parts = _split(obj)
    assert parts.max() == 2
    areas = sorted(np.count_nonzero(parts == k) for k in (1, 2))
    assert abs(areas[0] - areas[1]) < 0.05 * areas[1] and sum(areas) == np.count_nonzero(obj)
    left, right = parts[60, 40], parts[60, 180]
    assert left != right and left > 0 and right > 0


def test_an_object_of_at_most_twice_the_cell_area_is_left_whole():
    obj = _discs(79)
    assert _split(obj, cell_area=np.count_nonzero(obj) / 2).max() == 1
    assert _split(obj, cell_area=np.count_nonzero(obj) / 2.1).max() == 2


def test_pieces_that_are_not_convex_are_left_whole():
    """A round body joined at a neck to a crescent (a cell spreading around another's edge): the crescent's
    solidity is far under 0.9, so the grey level's verdict (whole) stands."""
    yy, xx = np.mgrid[:160, :260]
    body = (yy - 80) ** 2 + (xx - 60) ** 2 < RADIUS**2
    ring = ((yy - 80) ** 2 + (xx - 175) ** 2 < 60**2) & ((yy - 80) ** 2 + (xx - 175) ** 2 > 42**2) & (xx < 185)
    neck = (abs(yy - 80) < 5) & (xx >= 95) & (xx <= 120)
    obj = body | ring | neck
    assert np.count_nonzero(obj) > 2 * CELL_AREA
    shape_only = split_cells(obj, height=None, cell_area=CELL_AREA, dip_ratio=0.7, neck_ratio=0.8,
                             min_size=int(CELL_AREA / 4))
    assert shape_only.max() >= 2  # the shape alone would cut it
    assert min(_solidity(shape_only == k) for k in range(1, shape_only.max() + 1)) < 0.9
    assert _split(obj).max() == 1


def test_no_neck_rule_means_no_split_by_shape():
    assert _split(_discs(79), neck_ratio=None).max() == 1


def test_a_grey_level_dip_still_splits_as_before():
    """Where the grey level dips between them, the nuclei are split along it (the rule above is not needed)."""
    obj = _discs(79)
    yy, xx = np.mgrid[: obj.shape[0], : obj.shape[1]]
    height = np.where(obj, 100.0 - 90.0 * np.exp(-((xx - 110) ** 2) / 50.0), 0).astype(np.float32)
    parts = _split(obj, height=height)
    assert parts.max() == 2


@pytest.mark.parametrize("distance, pieces", [(79, 2), (40, 1)])
def test_the_tracker_splits_a_first_frame_pair_by_its_shape(distance, pieces):
    """Two bright discs with a brighter spot where they meet (CHO's pair has bright rims there): smoothed, the
    spot is a peak, and the grey level between the discs never dips. Meeting over 8 px, they are two cells;
    overlapping far (centres 40 px apart: no neck by the neck rule), one."""
    mask = _discs(distance)
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    contact = (yy - mask.shape[0] / 2) ** 2 + (xx - mask.shape[1] / 2) ** 2 < 12**2
    frame = np.where(mask, 100.0, 10.0) + np.where(mask & contact, 150.0, 0.0)
    tracker = InstanceTracker(cell_area=CELL_AREA, landscape="intensity", neck_ratio=0.8, min_size=int(CELL_AREA / 8))
    assert np.count_nonzero(mask) > 2 * CELL_AREA
    assert tracker.step(mask, frame.astype(np.float32)).max() == pieces


def test_solidity():
    square = np.zeros((20, 20), bool)
    square[5:15, 5:15] = True
    assert _solidity(square) == 1.0
    ell = square.copy()
    ell[5:10, 10:15] = False  # an L: three quarters of its hull's square, plus the hull's diagonal half
    assert 0.7 < _solidity(ell) < 0.9
    assert _solidity(np.zeros((5, 5), bool)) == 0.0
