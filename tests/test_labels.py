import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import disk, polygon2mask
from traced_memory import traced_peak

from labelfree import labels as L
from labelfree.errors import DimensionError, DTypeError


def fill_polys(polys, shape):
    """ImageJ's rule: a pixel is inside when its centre is (even-odd for holes)."""
    acc = np.zeros(shape, bool)
    for p in polys:
        acc ^= polygon2mask(shape, np.c_[p[:, 1] - 0.5, p[:, 0] - 0.5])
    return acc


@pytest.mark.parametrize("seed", range(6))
def test_contours_refill_exactly(seed):
    rng = np.random.default_rng(seed)
    mask = ndi.binary_opening(rng.random((48, 48)) > 0.4) if seed % 2 else rng.random((24, 24)) > 0.5
    lab = ndi.label(mask, structure=np.ones((3, 3)) if seed > 2 else None)[0]
    rec = np.zeros_like(lab)
    for i, polys in L.label_contours(lab).items():
        rec[fill_polys(polys, lab.shape)] = i
    np.testing.assert_array_equal(rec, lab)


def test_contour_of_square_is_its_pixel_corners_and_holes_are_signed():
    lab = np.zeros((8, 8), np.uint16)
    lab[2:5, 3:7] = 4
    (poly,) = L.label_contours(lab)[4]
    assert sorted(map(tuple, poly.astype(int).tolist())) == [(3, 2), (3, 5), (7, 2), (7, 5)]
    ring = np.zeros((9, 9), np.uint16)
    ring[1:8, 1:8] = 1
    ring[3:6, 3:6] = 0
    outer, hole = L.label_contours(ring)[1]
    assert L.polygon_area(outer) * L.polygon_area(hole) < 0
    assert abs(L.polygon_area(outer)) == 49 and abs(L.polygon_area(hole)) == 9


def test_relabel_remove_fill():
    lab = np.array([[0, 7, 7, 0], [3, 0, 0, 9]], np.uint16)
    np.testing.assert_array_equal(L.relabel_sequential(lab), [[0, 2, 2, 0], [1, 0, 0, 3]])
    np.testing.assert_array_equal(L.remove_small_objects(lab, min_size=2), [[0, 7, 7, 0], [0, 0, 0, 0]])
    mask = lab > 0
    assert L.remove_small_objects(mask, min_size=2).dtype == bool
    donut = np.zeros((7, 7), np.uint16)
    donut[1:6, 1:6] = 2
    donut[3, 3] = 0
    filled = L.fill_holes(donut)
    assert filled[3, 3] == 2 and donut[3, 3] == 0  # input untouched
    stack = np.stack([donut, donut])
    assert (L.fill_holes(stack)[:, 3, 3] == 2).all()


def test_declump_splits_two_touching_disks():
    mask = np.zeros((60, 90), bool)
    mask[disk((30, 30), 18)] = True
    mask[disk((30, 58), 18)] = True
    assert ndi.label(mask)[1] == 1
    lab = L.declump(mask)
    assert lab.max() == 2
    assert lab[30, 30] != lab[30, 58] and lab[30, 30] and lab[30, 58]
    assert ((lab > 0) == mask).all()



def test_declump_neck_ratio_keeps_a_long_cell_whole_and_touching_disks_apart():
    yy, xx = np.mgrid[0:80, 0:240]
    rod = (np.abs(yy - 40) < 7) & (xx > 15) & (xx < 225)  # one long, thin cell
    assert L.declump(rod).max() > 2  # the plain watershed cuts it into slices
    assert L.declump(rod, neck_ratio=0.6).max() == 1
    two = (np.hypot(yy - 40, xx - 60) < 15) | (np.hypot(yy - 40, xx - 86) < 15)  # neck half-width 7.5 of 15
    lab = L.declump(two, neck_ratio=0.6)
    assert lab.max() == 2 and lab[40, 60] != lab[40, 86]
    assert L.declump(two, neck_ratio=0.45).max() == 1  # a neck wider than 0.45 x the half-width is no neck

def test_track_by_overlap_keeps_ids():
    f0 = np.zeros((20, 20), np.uint16)
    f0[2:8, 2:8] = 1
    f0[12:18, 12:18] = 2
    f1 = np.zeros_like(f0)
    f1[3:9, 3:9] = 5  # moved object 1
    f1[12:18, 12:18] = 1  # object 2 with another id
    f1[2:5, 14:18] = 9  # new object
    out = L.track_by_overlap(np.stack([f0, f1]))
    assert out[1, 5, 5] == 1 and out[1, 15, 15] == 2 and out[1, 3, 15] == 3


def test_to_imagej_labels_switches_to_float_with_warning():
    big = np.arange(70000, dtype=np.uint32).reshape(700, 100)
    with pytest.warns(UserWarning, match="32-bit float"):
        out = L.to_imagej_labels(big)
    assert out.dtype == np.float32 and out.max() == 69999
    assert L.to_imagej_labels(np.ones((2, 2), np.uint32)).dtype == np.uint16


def test_bad_input():
    with pytest.raises(DTypeError, match="negative"):
        L.relabel_sequential(np.array([[-1, 2]]))
    with pytest.raises(DTypeError, match="integer label image"):
        L.fill_holes(np.full((3, 3), 0.5))
    with pytest.raises(DimensionError, match="2-D plane"):
        L.declump(np.zeros((2, 4, 4), bool))
    with pytest.raises(DimensionError, match="stack"):
        L.track_by_overlap(np.zeros((4, 4), np.uint16))


def test_weighted_median_is_the_size_of_the_objects_that_hold_half_the_weight():
    # many specks and one large object: the large object holds most of the area
    assert L.weighted_median([3, 1, 100, 2], [3, 1, 100, 2]) == 100.0
    # in the values' sorted order (2, 5, 9) the weights 1 + 4 reach half of 10 at the value 5
    assert L.weighted_median([5.0, 2.0, 9.0], [4, 1, 5]) == 5.0
    assert L.weighted_median([7], [1]) == 7.0


@pytest.mark.parametrize("name", ["label_contours", "fill_holes"])
def test_huge_sparse_ids_cost_by_object_not_by_id(name):
    """Ids such as frame * 1_000_000 + cell made label_contours and fill_holes build a list as long as the
    largest id (20 million ids: seconds and ~160 MB; ids near 2**32 run out of memory)."""
    lab = np.zeros((30, 30), np.uint32)
    lab[2:9, 2:9] = 20_000_007
    lab[4:6, 4:6] = 0  # a hole
    lab[12:20, 12:20] = 3
    lab[25:28, 2:5] = 4_000_000_000
    lab[25:28, 10:13] = 4_000_000_000  # two parts
    out, peak = traced_peak(getattr(L, name), lab)
    assert peak < 20_000_000
    if name == "fill_holes":
        want = lab.copy()
        want[4:6, 4:6] = 20_000_007
        assert np.array_equal(out, want)
    else:
        assert sorted(out) == [3, 20_000_007, 4_000_000_000]
        assert [len(p) for p in out[20_000_007]] == [4, 4] and [len(p) for p in out[4_000_000_000]] == [4, 4]
        assert out[3][0].min(axis=0).tolist() == [12, 12] and out[3][0].max(axis=0).tolist() == [20, 20]
