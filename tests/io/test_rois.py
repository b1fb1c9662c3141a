import zipfile

import numpy as np
import pytest
import roifile

from labelfree.errors import DimensionError, InputError
from labelfree.image import to_dataarray
from labelfree.io import labels_to_rois, read_rois, roi_mask, rois_to_labels, write_rois


def test_names_positions_counts_tzyx(tmp_path, calibrated_tzyx):
    path = write_rois(tmp_path / "r.zip", calibrated_tzyx)
    rois = read_rois(path)
    lab = calibrated_tzyx.values
    expected = [(t, z, int(v)) for t in range(3) for z in range(2) for v in np.unique(lab[t, z]) if v]
    assert len(rois) == len(expected) == 11
    for roi, (t, z, v) in zip(rois, expected):
        assert roi.name == f"t{t + 1:04d}-z{z + 1:03d}-L{v:05d}"
        assert (roi.c_position, roi.z_position, roi.t_position) == (0, z + 1, t + 1)
        assert roi.properties["label"] == v
        assert roi.group == (v - 1) % 255 + 1  # 300 -> 45: the groups cycle above 255
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == [r.name + ".roi" for r in rois]


def test_hole_and_parts_are_composite_single_outline_is_traced(calibrated_tzyx):
    rois = {r.name: r for r in labels_to_rois(calibrated_tzyx)}
    assert rois["t0001-z001-L00001"].roitype == roifile.ROI_TYPE.TRACED
    assert rois["t0001-z002-L00007"].composite  # hole
    assert rois["t0003-z001-L00003"].composite  # two parts
    assert len(rois["t0003-z001-L00003"].coordinates(multi=True)) == 2


def test_2d_names_without_z_and_no_positions():
    lab = np.zeros((10, 10), np.uint16)
    lab[2:5, 2:5] = 4
    (roi,) = labels_to_rois(lab)
    assert roi.name == "t0001-L00004"
    assert (roi.position, roi.c_position, roi.z_position, roi.t_position) == (0, 0, 0, 0)
    assert roi.coordinates().min(axis=0).tolist() == [2, 2]
    assert roi.coordinates().max(axis=0).tolist() == [5, 5]  # pixel-edge outline


def test_plain_z_stack_uses_stack_position():
    lab = np.zeros((3, 8, 8), np.uint16)
    lab[1, 2:4, 2:4] = 1
    (roi,) = labels_to_rois(to_dataarray(lab, dims="ZYX"))
    assert roi.name == "t0001-z002-L00001"
    assert (roi.position, roi.t_position) == (2, 0)
    assert np.array_equal(rois_to_labels([roi], shape=lab.shape, dims="ZYX"), lab)


def test_group_options():
    lab = np.zeros((6, 6), np.uint16)
    lab[1:3, 1:3] = 9
    assert labels_to_rois(lab, group=None)[0].group == 0
    assert labels_to_rois(lab, group=3)[0].group == 3
    big = np.zeros((6, 12), np.uint16)
    big[1:3, 1:3], big[1:3, 5:7], big[1:3, 9:11] = 255, 256, 300
    assert [r.group for r in labels_to_rois(big)] == [255, 1, 45]  # above 255 the groups cycle, as in ImageJ
    with pytest.raises(InputError, match="group"):
        labels_to_rois(lab, group=300)
    with pytest.raises(InputError, match="group"):
        labels_to_rois(lab, group="frame")


@pytest.mark.parametrize("seed", range(12))
def test_polygons_refill_to_the_label_mask(tmp_path, make_labels, seed):
    lab = make_labels(seed)
    path = write_rois(tmp_path / "r.zip", lab)
    back = rois_to_labels(read_rois(path), shape=lab.shape)
    assert np.array_equal(back, lab)


def test_movie_round_trip_and_every_object_separately(tmp_path, make_labels):
    lab = np.stack([make_labels(s, (48, 40)) for s in range(4)])
    da = to_dataarray(lab, dims="TYX")
    rois = read_rois(write_rois(tmp_path / "r.zip", da))
    assert len(rois) == sum(len(np.unique(p)) - 1 for p in lab)
    assert np.array_equal(rois_to_labels(rois, shape=lab.shape), lab)
    for roi in rois[:40]:
        t, v = roi.position - 1, roi.properties["label"]  # a movie's frame: ImageJ's stack position
        assert np.array_equal(roi_mask(roi, shape=lab.shape[1:]), lab[t] == v)


def test_thousands_of_rois_zip(tmp_path):
    lab = np.zeros((200, 300), np.uint16)
    ids = np.arange(1, 2001).reshape(40, 50)
    lab[::5, ::6][:40, :50] = ids  # 2000 one-pixel objects
    rois = read_rois(write_rois(tmp_path / "many.zip", lab))
    assert len(rois) == 2000
    assert np.array_equal(rois_to_labels(rois, shape=lab.shape), lab)


def test_point_rois_become_markers():
    pts = roifile.ImagejRoi.frompoints(np.array([[3.2, 4.7], [10.0, 1.0]]), name="seeds")
    pts.roitype = roifile.ROI_TYPE.POINT
    single = roifile.ImagejRoi.frompoints(np.array([[6, 6]]), name="t0002-L00009", t=1)
    single.roitype = roifile.ROI_TYPE.POINT
    out = rois_to_labels([pts, single], shape=(2, 12, 12))
    assert out[0, 4, 3] == out[1, 4, 3] == 10 and out[0, 1, 10] == 11  # no position: every frame
    assert out[1, 6, 6] == 9 and out[0, 6, 6] == 0
    assert np.count_nonzero(out) == 5


def test_rectangle_oval_and_unlabelled_rois():
    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=1, top=2, right=4, bottom=6)
    oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=10, top=10, right=20, bottom=20)
    out = rois_to_labels([rect, oval], shape=(30, 30))
    assert np.array_equal(out[2:6, 1:4], np.ones((4, 3)))
    assert np.count_nonzero(out == 1) == 12
    disc = out == 2
    assert 70 <= disc.sum() <= 90 and disc[15, 15] and not disc[10, 10]  # ~ pi * 5**2


def test_line_rois_are_skipped(caplog):
    line = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=0, y1=0, x2=5, y2=5, name="line")
    assert not rois_to_labels([line], shape=(8, 8)).any()
    assert "not an area or point ROI" in caplog.text


def test_position_outside_shape():
    roi = labels_to_rois(to_dataarray(np.ones((3, 4, 4), np.uint16), dims="TYX"))[-1]
    with pytest.raises(InputError, match="outside"):
        rois_to_labels([roi], shape=(2, 4, 4))


def test_bad_shape_and_objects():
    with pytest.raises(DimensionError, match="dims"):
        rois_to_labels([], shape=(3, 4, 4), dims="TY")
    with pytest.raises(InputError, match="ImagejRoi"):
        rois_to_labels([object()], shape=(4, 4))


def test_read_rois_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_rois(tmp_path / "none.zip")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a zip"):
        read_rois(bad)
    junk = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("a.roi", b"garbage" * 20)
    with pytest.raises(InputError, match="valid ImageJ ROIs"):
        read_rois(junk)
    other = tmp_path / "a.txt"
    other.write_text("x")
    with pytest.raises(InputError, match=".zip nor a .roi"):
        read_rois(other)


def test_single_roi_file_and_path_input(tmp_path):
    lab = np.zeros((8, 8), np.uint16)
    lab[2:6, 3:5] = 2
    (roi,) = labels_to_rois(lab)
    roi.tofile(tmp_path / "one.roi")
    assert np.array_equal(rois_to_labels(tmp_path / "one.roi", shape=lab.shape), lab)


@pytest.mark.parametrize("seed", range(5))
def test_freehand_float_polygons_fill_by_pixel_centre(seed):
    from skimage.draw import polygon

    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 25))
    radii = rng.uniform(4, 14, 25)
    xy = np.stack([20.3 + radii * np.cos(angles), 18.7 + radii * np.sin(angles)], axis=1)
    roi = roifile.ImagejRoi.frompoints(xy.astype(np.float32))  # freehand, sub-pixel
    got = roi_mask(roi, shape=(40, 45))
    coords = roi.coordinates()
    rr, cc = polygon(coords[:, 1] - 0.5, coords[:, 0] - 0.5, shape=(40, 45))
    want = np.zeros((40, 45), bool)
    want[rr, cc] = True
    assert got.sum() > 100
    assert np.array_equal(got, want)


def test_the_same_rois_give_the_same_file(tmp_path):
    """Each zip entry carried the time of writing, so two runs with identical ROIs wrote different files (and
    different SHA-256 in the provenance)."""
    import hashlib
    import time

    labels = np.zeros((20, 30), np.uint16)
    labels[2:8, 3:9], labels[10:18, 12:25] = 1, 2
    first = write_rois(tmp_path / "a.zip", labels)
    time.sleep(2.1)  # a zip entry's time has a resolution of 2 s
    second = write_rois(tmp_path / "b.zip", labels)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    assert [r.name for r in read_rois(second)] == [r.name for r in read_rois(first)] and len(read_rois(first)) == 2


def _cubic_circle_path(cx, cy, r):
    """A circle as ImageJ stores an ellipse in a composite ROI: MOVETO, four CUBICTO, CLOSE."""
    k = 4 / 3 * (np.sqrt(2) - 1) * r
    pts = [(cx + r, cy), (cx + r, cy + k), (cx + k, cy + r), (cx, cy + r), (cx - k, cy + r), (cx - r, cy + k),
           (cx - r, cy), (cx - r, cy - k), (cx - k, cy - r), (cx, cy - r), (cx + k, cy - r), (cx + r, cy - k),
           (cx + r, cy)]
    path = [0, *pts[0]]
    for i in range(1, 13, 3):
        path += [3, *pts[i], *pts[i + 1], *pts[i + 2]]
    return path + [4]


def test_composite_roi_with_curves_is_filled():
    """Curve segments (QUADTO, CUBICTO) in a composite ROI raised roifile's NotImplementedError."""
    path = _cubic_circle_path(20.0, 18.0, 12.0) + _cubic_circle_path(20.0, 18.0, 5.0)  # a ring: even-odd hole
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=8, top=6, right=32, bottom=30, name="ring-L00004")
    roi.multi_coordinates = np.asarray(path, np.float32)
    roi.shape_roi_size = len(path)
    out = rois_to_labels([roi], shape=(40, 45))
    yy, xx = np.mgrid[:40, :45]
    d = np.hypot(xx + 0.5 - 20, yy + 0.5 - 18)
    clear = (np.abs(d - 12) > 0.01) & (np.abs(d - 5) > 0.01)  # pixel centres not on the outlines
    assert np.array_equal((out == 4)[clear], ((d < 12) & (d > 5))[clear])
    assert set(np.unique(out)) == {0, 4}


def test_damaged_composite_path_is_one_clear_error():
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=0, top=0, right=9, bottom=9, name="broken")
    roi.multi_coordinates = np.asarray([0, 1, 1, 1, 8, 1, 3, 8, 8], np.float32)  # a CUBICTO cut short
    roi.shape_roi_size = 9
    with pytest.raises(InputError, match="'broken' has a damaged shape path"):
        rois_to_labels([roi], shape=(10, 10))


def test_rounded_rectangle_keeps_its_corners_out():
    """A rectangle with rounded corners (Fiji's rounded-rectangle tool) was filled as a plain rectangle."""
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=2, top=3, right=22, bottom=15)
    roi.rounded_rect_arc_size = 8  # corner diameter: quarter circles of radius 4
    mask = roi_mask(roi, shape=(20, 25))
    yy, xx = np.mgrid[:20, :25] + 0.5
    cx, cy = np.clip(xx, 6, 18), np.clip(yy, 7, 11)  # nearest point of the inner rectangle
    want = (np.hypot(xx - cx, yy - cy) < 4) & (xx > 2) & (xx < 22) & (yy > 3) & (yy < 15)
    assert np.array_equal(mask, want)
    assert not mask[3, 2] and mask[3, 12] and mask[9, 2]


def test_points_keep_their_own_planes():
    """Each point of a multi-point ROI with per-point stack positions goes on its own plane only."""
    pts = roifile.ImagejRoi.frompoints(np.array([[1.0, 2.0], [5.0, 6.0], [7.0, 3.0]]), name="seeds")
    pts.roitype = roifile.ROI_TYPE.POINT
    pts.counters = np.zeros(3, np.uint8)
    pts.counter_positions = np.array([2, 0, 3], np.uint32)  # 0: the point has no plane of its own
    out = rois_to_labels([pts], shape=(3, 8, 8), dims="TYX")
    assert out[1, 2, 1] == 1 and out[2, 3, 7] == 3 and all(out[t, 6, 5] == 2 for t in range(3))
    assert np.count_nonzero(out) == 5
