"""ROIs of z-stacks segmented from one channel of a hyperstack, ROI groups of large ids and the objects table of a
z-stack as ImageJ shows it: checked with real ImageJ 1.x objects (ImagePlus, ROI Manager, ResultsTable)."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

BRIGHT = 200  # the objects' intensity in the segmented channel (the second); the first channel is dark there


def _hyperstack(dims: str) -> np.ndarray:
    """A CZYX (or TCZYX, 2 frames) uint8 image of 2 channels and 3 slices: squares in channel 2 only, on slice 2 of
    frame 1 and slice 3 of the last frame."""
    n_t = 2 if "T" in dims else 1
    img = np.random.default_rng(0).normal(10, 1, (n_t, 2, 3, 40, 40)).clip(0, 20)
    img[0, 1, 1, 5:15, 5:15] = BRIGHT
    img[n_t - 1, 1, 2, 20:30, 22:32] = BRIGHT
    img = img.astype(np.uint8)
    return img if "T" in dims else img[0]


def _select_each(rm, imp):
    """Select every ROI of ``rm`` on ``imp`` shown at channel 1, slice 1, frame 1, as a click in the ROI Manager
    does: the (channel, slice, frame) shown then and the mean intensity of the ROI there, for each."""
    from scyjava import jimport

    IJ = jimport("ij.IJ")
    seen = []
    for i in range(int(rm.getCount())):
        imp.setPosition(1, 1, 1)
        rm.select(imp, i)
        seen.append((int(imp.getChannel()), int(imp.getSlice()), int(imp.getFrame()),
                     round(float(IJ.getValue(imp, "Mean")), 3)))
    return seen


@pytest.fixture(params=["java", "fallback"])
def builder(request, monkeypatch):
    """The ROIs built by the compiled helper, or by the Python fallback (inside Fiji)."""
    if request.param == "fallback":
        from fiji_class_path import hide_java_helper

        hide_java_helper(monkeypatch)
    else:
        from scyjava import jimport

        assert jimport("labelfree.LabelFreeRois") is not None  # compiled and on the class path
    return request.param


@pytest.mark.parametrize("dims", ["CZYX", "TCZYX"])
def test_selecting_a_roi_of_a_z_stack_shows_the_segmented_channel_its_slice_and_frame(clean, builder, dims):
    """Segmented with channel=2, ROIs had (c=0, z, t) or the stack position z: selecting one kept the channel on
    show (channel 1: Mean 10, the background) instead of the channel of the object (Mean 200). As Analyze Particles
    on a hyperstack, they now carry the channel; on the label image they show their slice and frame."""
    import labelfree.imagej as lij
    from labelfree.imagej.rois import add_labels_to_roimanager, roi_channel

    imp = lij.xarray_to_imageplus(to_dataarray(_hyperstack(dims), dims=dims), title=dims)
    imp.show()
    result = lij.run_command("LabelFree Threshold", imp, options="channel=2 min_size=5 rois=none table=false")
    channel = roi_channel(imp, 1)  # the command's channel=2, 0-based as the pipeline takes it
    assert channel == 2
    names = add_labels_to_roimanager(result.labels, rm=clean, channel=channel)
    last = "t0002-z003-L00001" if "T" in dims else "t0001-z003-L00002"
    assert names == ["t0001-z002-L00001", last]
    rois = list(clean.getRoisAsArray())
    frame = 2 if "T" in dims else 0
    assert [(int(r.getCPosition()), int(r.getZPosition()), int(r.getTPosition())) for r in rois] == [
        (2, 2, 1 if "T" in dims else 0), (2, 3, frame)]
    assert _select_each(clean, imp) == [(2, 2, 1, BRIGHT), (2, 3, max(frame, 1), BRIGHT)]
    label_image = result.label_image  # one channel: the ROIs show their slice and frame there too
    assert [(c, z, t) for c, z, t, _ in _select_each(clean, label_image)] == [(1, 2, 1), (1, 3, max(frame, 1))]
    np.testing.assert_array_equal(  # and they still rasterise back to the labels
        lij.roimanager_to_labels(clean, shape=result.labels.shape, dims="".join(result.labels.dims)),
        result.labels.to_numpy())


def test_the_threshold_command_gives_its_rois_the_segmented_channel(clean):
    """The Fiji command itself (rois=add) gives its ROIs the channel it segmented."""
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(_hyperstack("CZYX"), dims="CZYX"), title="czyx")
    imp.show()
    lij.run_command("LabelFree Threshold", imp, options="channel=2 min_size=5 table=false")
    assert _select_each(clean, imp) == [(2, 2, 1, BRIGHT), (2, 3, 1, BRIGHT)]


def test_without_a_channel_a_z_stack_keeps_the_channel_on_show_and_a_movie_its_stack_position(clean, builder):
    """No channel given: as before (a z stack's ROIs at setPosition(z)). A movie's ROIs keep the stack position even
    with a channel: the plain label movie ignores hyperstack positions (every ROI would be shown on frame 1)."""
    import labelfree.imagej as lij
    from labelfree.imagej.rois import labels_to_javarois

    imp = lij.xarray_to_imageplus(to_dataarray(_hyperstack("CZYX"), dims="CZYX"), title="czyx")
    imp.show()
    labels = np.zeros((3, 40, 40), np.uint16)
    labels[1, 5:15, 5:15] = 1
    lij.labels_to_roimanager(to_dataarray(labels, dims="ZYX"), rm=clean)
    roi = clean.getRoi(0)
    assert (int(roi.getPosition()), roi.hasHyperStackPosition()) == (2, False)
    imp.setPosition(2, 1, 1)
    clean.select(imp, 0)
    assert (int(imp.getChannel()), int(imp.getSlice())) == (2, 2)  # the channel on show stays

    movie = np.zeros((3, 20, 20), np.uint16)
    movie[2, 4:9, 4:9] = 5
    rois = labels_to_javarois(to_dataarray(movie, dims="TYX"), channel=2)
    assert [(int(r.getPosition()), r.hasHyperStackPosition()) for r in rois] == [(3, False)]
    label_movie = lij.labels_to_imageplus(to_dataarray(movie, dims="TYX"))
    label_movie.show()
    clean.reset()
    clean.add(rois[0], -1)
    clean.select(label_movie, 0)
    assert int(label_movie.getCurrentSlice()) == 3


def test_roi_channel_counts_from_one_and_reads_names(clean):
    import labelfree.imagej as lij
    from labelfree.imagej.rois import labels_to_javarois, roi_channel

    named = to_dataarray(np.zeros((3, 2, 8, 8), np.uint8), dims="CZYX", channel_names=["GFP", "DAPI", "RFP"])
    imp = lij.xarray_to_imageplus(named, title="named")
    assert [roi_channel(imp, c) for c in (0, 2, -1, "DAPI", "dapi", "1", None, (0, 1))] == [1, 3, 3, 2, 2, 2, None,
                                                                                          None]
    with pytest.raises(InputError, match="Channel 'YFP' not found"):
        roi_channel(imp, "YFP")
    with pytest.raises(InputError, match=r"Channel 3 \(0-based\) is not a channel of named, which has 3 channels"):
        roi_channel(imp, 3)
    single = lij.xarray_to_imageplus(to_dataarray(np.zeros((2, 8, 8), np.uint8), dims="ZYX"), title="one")
    assert roi_channel(single, 0) is None  # one channel: no channel position
    with pytest.raises(InputError, match=r"channel must be ImageJ's number of a channel \(1 is the first\)"):
        labels_to_javarois(to_dataarray(np.ones((2, 4, 4), np.uint8), dims="ZYX"), channel=0)


def test_roi_groups_cycle_through_imagejs_255_groups(clean, builder):
    """Ids above 255 had no group (the default colour among coloured neighbours); they now cycle, and the
    ``label`` property keeps the id."""
    from labelfree.imagej.rois import labels_to_javarois

    ids = [1, 2, 254, 255, 256, 257, 300, 510, 511, 70000]
    lab = np.zeros((4, 4 * len(ids)), np.uint32)
    for k, label in enumerate(ids):
        lab[1:3, 4 * k + 1:4 * k + 3] = label
    rois = labels_to_javarois(to_dataarray(lab, dims="YX"))
    assert [str(r.getProperty("label")) for r in rois] == [str(i) for i in ids]
    assert [int(r.getGroup()) for r in rois] == [1, 2, 254, 255, 1, 2, 45, 255, 1, 70000 - 274 * 255]
    assert {int(r.getGroup()) for r in labels_to_javarois(to_dataarray(lab, dims="YX"), group=0)} == {0}
    assert {int(r.getGroup()) for r in labels_to_javarois(to_dataarray(lab, dims="YX"), group=None)} == {0}
    assert {int(r.getGroup()) for r in labels_to_javarois(to_dataarray(lab, dims="YX"), group=7)} == {7}
    for wrong in (256, -1, "frame", True):
        with pytest.raises(InputError, match=r"group must be 'label' \(the label id, cycling through ImageJ's 255 "
                                             r"groups\), a group 0..255 \(0: none\) or None; got"):
            labels_to_javarois(to_dataarray(lab, dims="YX"), group=wrong)


def test_the_java_helper_and_the_fallback_give_the_same_channel_positions(ij, monkeypatch):
    from fiji_class_path import hide_java_helper

    from labelfree.imagej.rois import labels_to_javarois

    lab = np.zeros((2, 3, 12, 12), np.uint16)
    lab[0, 1, 2:5, 2:5] = 1
    lab[1, 2, 6:9, 6:9] = 300
    lab[1, 0, 1:3, 8:11] = 2

    def describe(rois):
        return [(str(r.getName()), int(r.getPosition()), int(r.getCPosition()), int(r.getZPosition()),
                 int(r.getTPosition()), int(r.getGroup()), str(r.getProperty("label"))) for r in rois]

    cases = [(to_dataarray(lab, dims="TZYX"), 3), (to_dataarray(lab[1], dims="ZYX"), 2),
             (to_dataarray(np.stack([lab[0, 1], lab[1, 2]]), dims="TYX"), 2), (to_dataarray(lab[1], dims="ZYX"), None)]
    fast = [describe(labels_to_javarois(da, channel=c)) for da, c in cases]
    hide_java_helper(monkeypatch)
    slow = [describe(labels_to_javarois(da, channel=c)) for da, c in cases]
    assert fast == slow
    assert fast[0] == [("t0001-z002-L00001", 0, 3, 2, 1, 1, "1"), ("t0002-z001-L00002", 0, 3, 1, 2, 2, "2"),
                       ("t0002-z003-L00300", 0, 3, 3, 2, 45, "300")]
    assert fast[1] == [("t0001-z001-L00002", 0, 2, 1, 0, 2, "2"), ("t0001-z003-L00300", 0, 2, 3, 0, 45, "300")]
    assert [row[1:5] for row in fast[2]] == [(1, 0, 1, 0), (2, 0, 2, 0)]  # a movie: the stack position (frame)
    assert [row[1:5] for row in fast[3]] == [(1, 0, 1, 0), (3, 0, 3, 0)]  # no channel: setPosition(z), as before


@pytest.mark.parametrize("calibrated", [False, True])
def test_the_z_stack_objects_table_counts_slices_from_one(clean, calibrated):
    """Uncalibrated, centroid_z was the 0-based plane (1.0 for an object on slice 2) beside z_first/z_last from 1
    (2): it now counts slices from 1 too, z_first <= centroid_z <= z_last; a calibrated one stays in µm. The table
    of Python (measure_objects) keeps its values."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.tables import resultstable_to_table
    from labelfree.measure import measure_objects

    img = np.full((4, 30, 30), 5, np.uint8)
    img[1, 2:8, 2:8] = BRIGHT  # object 1: slice 2 only
    img[1:4, 15:25, 15:25] = BRIGHT  # object 2: slices 2 to 4, its centre on slice 3
    img[3, 15:25, 15:20] = 5  # ... with less of it on slice 4: centre below 3
    da = to_dataarray(img, dims="ZYX", **({"scale": {"Z": 2.0, "Y": 0.5, "X": 0.5},
                                           "units": {"Z": "µm", "Y": "µm", "X": "µm"}} if calibrated else {}))
    imp = lij.xarray_to_imageplus(da, title="stack")
    imp.show()
    result = lij.run_command("LabelFree Threshold", imp, options="min_size=5 rois=append table=true")
    python = measure_objects(result.labels)
    step = 2.0 if calibrated else 1.0
    np.testing.assert_allclose(python["centroid_z"], [1 * step, (100 * 1 + 100 * 2 + 50 * 3) / 250 * step])
    assert python["z_first"].tolist() == [1, 1] and python["z_last"].tolist() == [1, 3]
    shown = result.table
    assert shown["z_first"].tolist() == [2, 2] and shown["z_last"].tolist() == [2, 4]
    expected = python["centroid_z"] if calibrated else python["centroid_z"] + 1
    np.testing.assert_allclose(shown["centroid_z"], expected)
    if not calibrated:
        assert (shown["z_first"] <= shown["centroid_z"]).all() and (shown["centroid_z"] <= shown["z_last"]).all()
        assert shown.attrs["units"]["centroid_z"] == "slice" and python.attrs["units"]["centroid_z"] == "pixel"
    window = jimport("ij.WindowManager").getWindow("stack-objects")  # the Results table shown in ImageJ
    back = resultstable_to_table(window.getResultsTable())
    np.testing.assert_allclose(back["centroid_z"], expected)
    assert back["Label"].tolist() == ["t0001-L00001", "t0001-L00002"]
