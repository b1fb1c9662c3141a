"""Detected markers gain a marker at each nucleus-sized bright region that holds none.

Automatic marker detection missed GOWT1's dim nuclei, and an unmarked nucleus gets no object: the
:class:`~labelfree.cutter.markers.MissedNucleiWarning` named them, but the cells were lost. Detected markers
(never markers a user gives) now gain one marker per region :func:`labelfree.cutter.markers.unmarked_nuclei`
finds, after the detected ones (logged); the warning says only what is still missed. Frames whose nuclei were
all found keep exactly the markers they had.

A region that is clearly several touching dim nuclei got one marker, so its nuclei became one object (GOWT1 t021:
SEG 15 and its dim neighbour SEG 16 in one object, IoU 0.47 and 0.44). It is now split as "auto" splits touching
nuclei (distance-transform peaks half a nucleus half-width apart, pieces of nucleus size): one marker per nucleus.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

import labelfree.cutter.markers as markers_module  # noqa: E402
from labelfree.cutter import detect_markers, unmarked_nuclei  # noqa: E402
from labelfree.cutter.markers import MissedNucleiWarning, marker_pixels  # noqa: E402
from gowt1_dim_crop import DIM_CROP, GOOD_CROP  # noqa: E402
from gowt1_dim_crop import gowt1 as _gowt1  # noqa: E402


def _found_alone(image: np.ndarray, monkeypatch, **kwargs) -> np.ndarray:
    """The markers the detection itself finds (no region added, none warned of), as before regions were added."""
    with monkeypatch.context() as m:
        m.setattr(markers_module, "_unmarked_nuclei", lambda parts, pts, **_: (np.zeros((0, 2)), 0), raising=False)
        m.setattr(markers_module, "_unmarked_regions", lambda parts, pts, **_: np.zeros((0, 2)))
        return detect_markers(image, **kwargs)


def _quiet_detect(image: np.ndarray, **kwargs) -> tuple[np.ndarray, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pts = detect_markers(image, **kwargs)
    return pts, [w for w in caught if issubclass(w.category, MissedNucleiWarning)]


def test_dim_gowt1_nuclei_get_a_marker_after_the_detected_ones(shared_data, monkeypatch, caplog):
    """Was: 8 markers for the crop's 12 nuclei and a warning. Now 11: SEG 15, 16 (its region split) and 17."""
    image, truth = _gowt1(shared_data, 21)[DIM_CROP], _gowt1(shared_data, 21, truth=True)[DIM_CROP]
    alone = _found_alone(image, monkeypatch)
    assert len(alone) == 8
    with caplog.at_level(logging.INFO, logger="labelfree.cutter.markers"):
        pts, missed = _quiet_detect(image)
    assert len(pts) == 11 and missed == []  # nothing is left unmarked: no warning
    np.testing.assert_array_equal(pts[:8], alone)  # the detected markers first, unchanged
    regions = unmarked_nuclei(image, alone)  # the regions' centroids, brightest first
    assert len(regions) == 2
    np.testing.assert_array_equal(pts[10], regions[1])  # a region of one nucleus: its centroid, as before
    hit = truth[tuple(marker_pixels(pts, truth.shape).T)]
    assert hit[8:].tolist() == [15, 16, 17]  # inside the three dim nuclei, the split region's two first
    assert len(set(hit.tolist()) - {0}) == 11  # 11 nuclei, one marker each
    said = [r.getMessage() for r in caplog.records if "added" in r.getMessage()]
    assert len(said) == 1 and "added 3 marker(s) at bright regions of nucleus size" in said[0], said
    assert "1 region(s) held touching nuclei, one marker each" in said[0]
    assert "marker_method 'auto'" in said[0]
    for y, x in pts[8:]:
        assert f"(y={y:.0f}, x={x:.0f})" in said[0]


def test_a_region_of_two_touching_dim_nuclei_gets_a_marker_in_each(shared_data):
    """Was one added marker for SEG 15 and SEG 16 (one region), in SEG 15; now one in each, where the region's part
    above half its peak splits (its two pieces' centroids), and the region of SEG 17 keeps its one marker."""
    image, truth = _gowt1(shared_data, 21)[DIM_CROP], _gowt1(shared_data, 21, truth=True)[DIM_CROP]
    pts, missed = _quiet_detect(image)
    hit = truth[tuple(marker_pixels(pts, truth.shape).T)].tolist()
    assert missed == [] and len(pts) == 11
    assert [hit.count(nucleus) for nucleus in (15, 16, 17)] == [1, 1, 1]
    a, b = pts[hit.index(15)], pts[hit.index(16)]
    assert np.hypot(*(a - b)) > 40  # a nucleus apart (GOWT1's nuclei: about 28 px in half-width)
    for point, nucleus in ((a, 15), (b, 16)):  # near the middle of its nucleus
        centre = np.argwhere(truth == nucleus).mean(axis=0)
        assert np.hypot(*(point - centre)) < 8, (nucleus, point, centre)


def test_a_crop_whose_nuclei_were_found_keeps_exactly_its_markers(shared_data, monkeypatch):
    image = _gowt1(shared_data, 21)[GOOD_CROP]
    pts, missed = _quiet_detect(image)
    assert len(pts) == 15 and missed == []
    np.testing.assert_array_equal(pts, _found_alone(image, monkeypatch))  # bit for bit


@pytest.mark.parametrize("method", ["blob", "threshold"])
def test_every_method_adds_markers_in_its_own_form(shared_data, monkeypatch, method):
    """Blob markers are whole pixels, and so are the ones added to them; threshold's are centroids."""
    image = _gowt1(shared_data, 21)[DIM_CROP]
    alone = _found_alone(image, monkeypatch, method=method)
    pts, _ = _quiet_detect(image, method=method)
    added = pts[len(alone):]
    np.testing.assert_array_equal(pts[:len(alone)], alone)
    assert len(added) == {"blob": 5, "threshold": 5}[method]  # 4 regions, one of them two nuclei
    assert np.array_equal(added, np.rint(added)) == (method == "blob")


def test_regions_still_unmarked_are_warned_of_beside_those_added(shared_data, monkeypatch):
    """Where the rule still finds regions after the additions, the warning names them (and says how many
    markers were added)."""
    image = _gowt1(shared_data, 21)[GOOD_CROP]
    calls = []

    def always_one(parts, pts, **_):
        calls.append(len(pts))
        return np.array([[100.0, 200.0]])

    monkeypatch.setattr(markers_module, "_unmarked_nuclei", lambda parts, pts, **_: (always_one(parts, pts), 0))
    monkeypatch.setattr(markers_module, "_unmarked_regions", always_one)
    pts, missed = _quiet_detect(image)
    assert calls == [15, 16] and len(pts) == 16
    assert len(missed) == 1
    text = str(missed[0].message)
    assert ("left 1 bright region(s) of nucleus size without a marker, beside the 16 marker(s) it found and added "
            "(1 added at such regions): (y=100, x=200)") in text, text
    assert missed[0].message.n_markers == 16


def test_cutter_gives_the_dim_nuclei_an_object(shared_data):
    """End to end: the crop's dim nuclei had no object (8 objects); each is now covered by the object of its
    added marker (ids 9 to 11, after the detected ones): SEG 17 matched (IoU 0.84), SEG 15 and its touching dim
    neighbour SEG 16 each by an object of its own (IoU 0.91, 0.91; was one object for both, IoU 0.47, 0.44)."""
    from labelfree.cutter import segment

    image, truth = _gowt1(shared_data, 21)[DIM_CROP], _gowt1(shared_data, 21, truth=True)[DIM_CROP]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = segment(image, config={"n_steps": 40}).values
    assert not [w for w in caught if issubclass(w.category, MissedNucleiWarning)]
    assert labels.max() == 11
    for nucleus, object_id, least_iou in ((15, 9, 0.8), (16, 10, 0.8), (17, 11, 0.8)):
        inside, cut = truth == nucleus, labels == object_id
        assert (inside & cut).sum() >= 0.95 * inside.sum(), nucleus  # the nucleus lies in its marker's object
        assert (inside & cut).sum() / (inside | cut).sum() > least_iou, nucleus


def test_markers_a_user_gives_are_never_added_to(shared_data, monkeypatch):
    from labelfree.cutter.segment import prepare

    image = _gowt1(shared_data, 21)[DIM_CROP]
    given = _found_alone(image, monkeypatch)  # the 8 the detection finds, given as points
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(image, markers=given)
    assert len(prepared.frames[0].ids) == 8
    np.testing.assert_array_equal(prepared.frames[0].markers, given)


def test_a_movie_adds_markers_frame_by_frame(shared_data, monkeypatch):
    """Frames 21 and 24 (SEG 15, 16 and 17 dim in both; 15 and 16 in one region) gain 3 markers each; frame 75
    keeps its markers."""
    from labelfree.cutter.segment import prepare
    from labelfree.image import to_dataarray

    box = (slice(600, 900), slice(600, 1000))
    movie = np.stack([_gowt1(shared_data, t)[box] for t in (21, 24, 75)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare(to_dataarray(movie, dims="TYX"))
    assert not [w for w in caught if issubclass(w.category, MissedNucleiWarning)]
    for k, frame in enumerate(prepared.frames):
        alone = _found_alone(movie[k].astype(np.float64), monkeypatch)
        assert len(frame.ids) == len(alone) + (3, 3, 0)[k], k
        np.testing.assert_array_equal(frame.markers[:len(alone)], alone)


@pytest.mark.jvm
def test_fiji_cutter_marks_the_dim_nuclei_and_says_no_missed_nuclei(ij, shared_data):
    """In Fiji (LabelFree Cutter on the crop, no markers): was "markers 8 detected" and a warning naming the two
    dim regions; now 11 markers (one region is two nuclei), no warning, and the additions as a note of the run
    (tests/imagej/test_fiji_today.py checks its words)."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.image import to_dataarray
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    log = jimport("ij.IJ")
    log.log("\\Clear")
    try:
        imp = lij.xarray_to_imageplus(to_dataarray(_gowt1(shared_data, 21)[DIM_CROP], dims="YX"), title="gowt1")
        imp.show()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lij.run_macro('selectImage("gowt1"); run("LabelFree Cutter", "n_steps=20 rois=none table=false");')
        said = str(log.getLog() or "")
        assert ("LabelFree Cutter on gowt1: automatic settings markers 11 (8 detected, 3 added at dim nuclei) in the "
                "image") in said, said
        assert "without a marker" not in said and "LabelFree Cutter warning: Marker detection" not in said, said
    finally:
        _close_imagej_windows()
