"""Label images, ROI Manager entries and results tables, both ways."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from awt_events import empty_roi_manager

from labelfree.errors import DimensionError, InputError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm


def _tricky_labels() -> np.ndarray:
    """A ring (hole), a two-part object, a diagonal-touching pair and a 1-pixel object."""
    lab = np.zeros((40, 50), np.uint16)
    lab[5:20, 5:20] = 1
    lab[9:14, 9:14] = 0  # hole
    lab[25:30, 5:10] = 2
    lab[25:30, 20:26] = 2  # second part
    lab[2:6, 30:34] = 3
    lab[6:10, 34:38] = 4  # touches 3 only at a corner
    lab[35, 45] = 300  # id above the 255 ROI groups
    return lab


@pytest.fixture
def rm(ij):
    from scyjava import jimport

    manager = jimport("ij.plugin.frame.RoiManager").getRoiManager()
    empty_roi_manager(manager)
    yield manager
    empty_roi_manager(manager)


class _ListChanges:
    """Whether each change of the ROI Manager's Swing list (added, removed) came on the event thread."""

    def __init__(self, rm):
        self.rm, self.added, self.removed = rm, [], []

    def __enter__(self):
        import jpype
        from scyjava import jimport

        queue, added, removed = jimport("java.awt.EventQueue"), self.added, self.removed

        @jpype.JImplements("javax.swing.event.ListDataListener")
        class Watch:
            @jpype.JOverride
            def intervalAdded(self, event):
                added.append(bool(queue.isDispatchThread()))

            @jpype.JOverride
            def intervalRemoved(self, event):
                removed.append(bool(queue.isDispatchThread()))

            @jpype.JOverride
            def contentsChanged(self, event):
                pass

        field = self.rm.getClass().getDeclaredField("listModel")
        field.setAccessible(True)
        self.model, self.watch = field.get(self.rm), Watch()
        self.model.addListDataListener(self.watch)
        return self

    def __exit__(self, *exc):
        self.model.removeListDataListener(self.watch)


def test_a_shown_roi_manager_is_filled_on_the_event_thread(rm):
    """Swing's list model must change on the event thread: filled from another thread, painting
    the manager at the same time threw ArrayIndexOutOfBoundsException now and then."""
    import labelfree.imagej as lij

    assert rm.isVisible()
    with _ListChanges(rm) as changes:
        lab = to_dataarray(np.stack([_tricky_labels(), np.roll(_tricky_labels(), 3, axis=1)]), dims="TYX")
        assert lij.labels_to_roimanager(lab, rm=rm) == 10
        assert lij.labels_to_roimanager(lab, rm=rm, replace=True) == 10  # emptied on the event thread too
    assert changes.added == [True] * 20
    assert changes.removed and all(changes.removed)
    assert int(rm.getCount()) == 10


def test_a_roi_file_opened_into_a_shown_roi_manager_changes_it_on_the_event_thread(rm, tmp_path):
    """Segment File's ROIs (its ROI zip opened into the manager, appended or replacing what it holds): emptied
    and filled on the event thread too (was: from the command's thread, as a macro's roiManager("Open") does)."""
    from labelfree.imagej.files import _open_rois
    from labelfree.io import write_rois

    path = write_rois(tmp_path / "cells_rois.zip", _tricky_labels())
    empty = write_rois(tmp_path / "none_rois.zip", np.zeros((8, 8), np.uint16))
    assert rm.isVisible()
    with _ListChanges(rm) as changes:
        assert _open_rois(path, "append") == 5
        assert _open_rois(path, "append") == 5 and int(rm.getCount()) == 10
        assert _open_rois(path, "replace") == 5 and int(rm.getCount()) == 5
        assert [str(r.getName()) for r in rm.getRoisAsArray()] == [
            "t0001-L00001", "t0001-L00002", "t0001-L00003", "t0001-L00004", "t0001-L00300"]
        assert _open_rois(empty, "replace") == 0 and int(rm.getCount()) == 0
    assert changes.added == [True] * 15
    assert len(changes.removed) >= 2 and all(changes.removed)


def test_rois_rasterise_back_to_exactly_the_labels(rm):
    import labelfree.imagej as lij

    lab = np.stack([_tricky_labels(), np.roll(_tricky_labels(), 3, axis=1)])
    da = to_dataarray(lab, dims="TYX")
    assert lij.labels_to_roimanager(da, rm=rm) == 10
    rois = list(rm.getRoisAsArray())
    assert [str(r.getName()) for r in rois[:5]] == ["t0001-L00001", "t0001-L00002", "t0001-L00003",
                                                    "t0001-L00004", "t0001-L00300"]
    assert [int(r.getGroup()) for r in rois[:5]] == [1, 2, 3, 4, 45]
    assert [int(r.getPosition()) for r in rois[4:6]] == [1, 2]  # a movie's frame: ImageJ's stack position
    back = lij.roimanager_to_labels(rm, shape=lab.shape)
    np.testing.assert_array_equal(back, lab)


def test_a_movies_rois_are_shown_and_measured_on_their_own_frame(rm):
    """ImageJ 1.x takes a movie without Z or C for a plain stack, where the ROI Manager ignores hyperstack
    positions: every ROI of a Motion movie was shown and measured on frame 1 (Mean 0 for this one)."""
    from scyjava import jimport

    import labelfree.imagej as lij

    lab = np.zeros((3, 20, 20), np.uint16)
    lab[0, 2:5, 2:6] = 1
    lab[2, 10:15, 10:12] = 2
    movie = lab * 10
    imp = lij.xarray_to_imageplus(to_dataarray(movie, dims="TYX"), title="movie")
    assert not imp.isHyperStack()
    lij.labels_to_roimanager(to_dataarray(lab, dims="TYX"), rm=rm)
    IJ = jimport("ij.IJ")
    seen = []
    for i in range(int(rm.getCount())):
        rm.select(imp, i)
        seen.append((int(imp.getCurrentSlice()), float(IJ.getValue(imp, "Mean"))))
    assert seen == [(1, 10.0), (3, 20.0)]
    channels = np.stack([movie, movie + 1], axis=1)  # the same ROIs on the movie with two channels (a hyperstack)
    hyper = lij.xarray_to_imageplus(to_dataarray(channels, dims="TCYX"), title="channels")
    assert hyper.isHyperStack()
    rm.select(hyper, 1)
    assert (int(hyper.getChannel()), int(hyper.getFrame())) == (1, 3)


def test_z_stack_rois_use_the_plain_stack_position(rm):
    import labelfree.imagej as lij

    lab = np.zeros((3, 20, 20), np.uint16)
    lab[1, 4:9, 4:9] = 7
    lab[2, 10:15, 2:6] = 8
    lij.labels_to_roimanager(to_dataarray(lab, dims="ZYX"), rm=rm)
    rois = list(rm.getRoisAsArray())
    assert [(str(r.getName()), int(r.getPosition())) for r in rois] == [("t0001-z002-L00007", 2),
                                                                        ("t0001-z003-L00008", 3)]
    np.testing.assert_array_equal(lij.roimanager_to_labels(rm, shape=lab.shape, dims="ZYX"), lab)


def test_hyperstack_rois_carry_z_and_t(rm):
    import labelfree.imagej as lij

    lab = np.zeros((2, 2, 12, 12), np.uint16)
    lab[1, 0, 2:5, 2:5] = 1
    lab[0, 1, 6:9, 6:9] = 2
    lij.labels_to_roimanager(to_dataarray(lab, dims="TZYX"), rm=rm)
    positions = [(int(r.getCPosition()), int(r.getZPosition()), int(r.getTPosition())) for r in rm.getRoisAsArray()]
    assert positions == [(0, 2, 1), (0, 1, 2)]
    np.testing.assert_array_equal(lij.roimanager_to_labels(rm, shape=lab.shape), lab)


def test_user_markers_and_scribbles_become_labels(rm):
    import jpype
    from scyjava import jimport

    import labelfree.imagej as lij

    PointRoi, OvalRoi = jimport("ij.gui.PointRoi"), jimport("ij.gui.OvalRoi")
    points = PointRoi(jpype.JArray(jpype.JFloat)([3.0, 10.0]), jpype.JArray(jpype.JFloat)([4.0, 2.0]), 2)
    rm.addRoi(points)
    oval = OvalRoi(10, 10, 6, 6)
    oval.setPosition(2)
    rm.addRoi(oval)
    out = lij.roimanager_to_labels(rm, shape=(3, 20, 20), dims="TYX")
    assert out[:, 4, 3].tolist() == [2, 2, 2] and out[:, 2, 10].tolist() == [3, 3, 3]  # no position: all frames
    assert out[0, 13, 13] == 0 and out[1, 13, 13] == 1 and out[2, 13, 13] == 0
    assert (out[1] == 1).sum() == int(oval.getContainedPoints().length)
    with pytest.raises(DimensionError, match="dims"):
        lij.roimanager_to_labels(rm, shape=(3, 20, 20), dims="YXT")


def _clicked_points(imp, clicks):
    """A multi-point ROI made as the multi-point tool makes it: each click on the plane on show
    (``(c, z, t)``), which the ROI keeps as that point's stack index."""
    from scyjava import jimport

    (c, z, t, x, y), *rest = clicks
    imp.setPosition(c, z, t)
    roi = jimport("ij.gui.PointRoi")(int(x), int(y), imp)
    for c, z, t, x, y in rest:
        imp.setPosition(c, z, t)
        roi.addUserPoint(imp, float(x), float(y))
    imp.setPosition(1, 1, 1)
    return roi


def test_each_point_of_a_multi_point_roi_goes_to_the_plane_it_was_clicked_on(rm):
    """Was: a multi-point ROI clicked on several frames marked every point in every frame."""
    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    movie = lij.xarray_to_imageplus(to_dataarray(np.zeros((3, 20, 30), np.uint8), dims="TYX"), title="movie")
    rm.addRoi(_clicked_points(movie, [(1, 1, 1, 3, 4), (1, 1, 2, 10, 5), (1, 1, 3, 20, 6)]))
    out = lij.roimanager_to_labels(None, shape=(3, 20, 30), dims="TYX")
    assert [list(zip(*np.nonzero(out[t]))) for t in range(3)] == [[(4, 3)], [(5, 10)], [(6, 20)]]
    rm.reset()
    # a hyperstack: the stored stack index counts the channels too
    imp = lij.xarray_to_imageplus(to_dataarray(np.zeros((3, 2, 20, 30), np.uint8), dims="TCYX"), title="ct")
    imp.show()
    # frame 1 (channel 1), frame 2 (channel 2: stack index 4), frame 3 (channel 1: stack index 5)
    roi = _clicked_points(imp, [(1, 1, 1, 3, 4), (2, 1, 2, 10, 5), (1, 1, 3, 20, 6)])
    assert [int(roi.getPointPosition(i)) for i in range(3)] == [1, 4, 5]
    imp.setRoi(roi)
    assert lij.run_macro('selectImage("ct"); roiManager("add"); return "" + roiManager("count");') == "1"
    out = lij.roimanager_to_labels(None, shape=(3, 20, 30), dims="TYX", channels=int(imp.getNChannels()))
    assert [list(zip(*np.nonzero(out[t]))) for t in range(3)] == [[(4, 3)], [(5, 10)], [(6, 20)]]
    assert [int(out[t].max()) for t in range(3)] == [1, 2, 3]
    with pytest.raises(InputError, match=r"Point 2 of the ROI .* lies on stack position 4, but the image has 3 "
                                         r"planes \(1 channel, 1 slice, 3 frames\)"):
        lij.roimanager_to_labels(None, shape=(3, 20, 30), dims="TYX")  # drawn on another image: said so
    imp.changes = False
    imp.close()


@pytest.mark.slow
def test_cutter_takes_each_clicked_point_in_its_own_frame(rm):
    """Cutter with markers=roi_manager on a movie: one point clicked in frame 1, another in frame 2;
    each frame gets one cell, not both."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    yy, xx = np.mgrid[:64, :64]
    frame = np.full((64, 64), 10.0)
    for cy, cx in ((20, 20), (44, 44)):
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < 9**2] = 200
    imp = lij.xarray_to_imageplus(to_dataarray(np.stack([frame, frame]).astype(np.uint8), dims="TYX"), title="two")
    imp.show()
    roi = _clicked_points(imp, [(1, 1, 1, 20, 20), (1, 1, 2, 44, 44)])
    rm.addRoi(roi)
    imp.deleteRoi()
    lij.run_macro('selectImage("two"); run("LabelFree Cutter", "n_steps=5 crop_size=32 area_size=64 '
                  'stop_at_plateau=false markers=roi_manager rois=none table=false");')
    labels = lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage("two-labels")).values
    assert labels.shape == (2, 64, 64)
    assert [int(labels[0, 20, 20]), int(labels[0, 44, 44])] == [1, 0]  # frame 1: the cell clicked there only
    assert [int(labels[1, 20, 20]), int(labels[1, 44, 44])] == [0, 2]  # frame 2: the other one
    imp.changes = False
    imp.close()


def test_labels_to_imageplus_has_lut_calibration_and_title(ij):
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.io.lut import glasbey_lut

    source = lij.xarray_to_imageplus(
        to_dataarray(np.ones((2, 40, 50), np.uint8), dims="TYX", scale={"X": 0.2, "Y": 0.2}, units={"X": "µm", "Y": "µm"}),
        title="cells")
    lab = to_dataarray(np.stack([_tricky_labels()] * 2), dims="TYX", attrs={"labelfree": {"pipeline": "x"}})
    imp = lij.labels_to_imageplus(lab, like=source)
    assert str(imp.getTitle()) == "cells-labels" and imp.getBitDepth() == 16
    assert imp.getCalibration().pixelWidth == 0.2 and str(imp.getCalibration().getUnit()) == "µm"
    lut = imp.getProcessor().getLut()
    Integer = jimport("java.lang.Integer")
    rgb = glasbey_lut(256)
    for i in (0, 1, 4, 200):
        assert int(lut.getRGB(Integer(i).intValue())) & 0xFFFFFF == (int(rgb[0, i]) << 16) | (int(rgb[1, i]) << 8) | int(rgb[2, i])
    assert '"pipeline": "x"' in str(imp.getProperty("Info"))
    np.testing.assert_array_equal(lij.imageplus_to_xarray(imp).values, lab.values)


def test_more_than_65535_labels_become_float_with_a_warning(ij):
    import labelfree.imagej as lij

    lab = np.arange(1, 300 * 300 + 1, dtype=np.uint32).reshape(300, 300)
    with pytest.warns(UserWarning, match="exceeds 16-bit"):
        imp = lij.labels_to_imageplus(lab)
    assert imp.getBitDepth() == 32
    assert imp.getProcessor().getPixelValue(299, 299) == 90000.0


def test_table_round_trip(ij):
    import labelfree.imagej as lij

    df = pd.DataFrame({"label": [1, 2, 3], "area": [10.5, 3.25, 7.0], "flag": [True, False, True],
                       "name": ["a", "b c", "d"]})
    rt = lij.table_to_resultstable(df)
    assert int(rt.size()) == 3 and rt.getValue("area", 1) == 3.25
    back = lij.resultstable_to_table(rt)
    assert list(back.columns) == ["label", "area", "flag", "name"]
    np.testing.assert_array_equal(back["area"], df["area"])
    np.testing.assert_array_equal(back["flag"], [1.0, 0.0, 1.0])
    assert list(back["name"]) == ["a", "b c", "d"]


def test_python_fallback_builds_the_same_rois_as_the_java_helper(ij, monkeypatch):
    """Inside Fiji the compiled helper is not on the class path: the fallback must match it."""
    from fiji_class_path import hide_java_helper

    from labelfree.imagej.rois import labels_to_javarois

    da = to_dataarray(np.stack([_tricky_labels(), np.roll(_tricky_labels(), 5, axis=0)]), dims="TYX")
    fast = labels_to_javarois(da)
    hide_java_helper(monkeypatch)
    slow = labels_to_javarois(da)
    assert len(fast) == len(slow) == 10

    def describe(r):
        return (str(r.getName()), str(r.getTypeAsString()), int(r.getTPosition()), int(r.getGroup()),
                str(r.getProperty("label")), sorted((int(p.x), int(p.y)) for p in r.getContainedPoints()))

    assert [describe(r) for r in fast] == [describe(r) for r in slow]
