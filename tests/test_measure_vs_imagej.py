"""LabelFree's per-object table against ImageJ's own Analyze > Measure of the ROI zip LabelFree writes.

What a Fiji user does: open the image, open ``<stem>_rois.zip`` in the ROI Manager and measure every ROI.
ImageJ's Area and Mean equal ``area`` and ``mean_*``; its X/Y put pixel centres at +0.5 (so X is
``centroid_x`` plus half a pixel); its BX/BY/Width/Height are calibrated where ``bbox_*`` are pixels; its
Slice/Frame count from 1 where ``z``/``frame`` count from 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelfree.image import scale_of, to_dataarray
from labelfree.io import write_outputs
from labelfree.measure import measure_objects

pytestmark = pytest.mark.jvm

SCALE, UNITS, ORIGIN = {"X": 0.5, "Y": 0.25}, {"X": "µm", "Y": "µm"}, {"X": 3.0, "Y": -2.0}


def _tricky_labels() -> np.ndarray:
    """A ring (hole), one label in two pieces, objects on the border, two 1-pixel objects, an id above 255."""
    lab = np.zeros((40, 50), np.uint16)
    lab[5:20, 5:20] = 1
    lab[9:14, 9:14] = 0
    lab[25:30, 5:10] = 2
    lab[25:30, 20:26] = 2
    lab[0:4, 46:50] = 3
    lab[39, 0] = 4
    lab[35, 45] = 300
    return lab


@pytest.fixture
def imagej_measure(ij, tmp_path):
    """``measure(labels, image)`` -> (LabelFree's table as written, ImageJ's Results of its ROI zip)."""
    from scyjava import jimport

    import labelfree.imagej as lij

    IJ, Analyzer = jimport("ij.IJ"), jimport("ij.plugin.filter.Analyzer")
    RoiManager, ResultsTable = jimport("ij.plugin.frame.RoiManager"), jimport("ij.measure.ResultsTable")
    settings, precision = int(Analyzer.getMeasurements()), int(Analyzer.getPrecision())
    opened = []

    def measure(labels, image):
        out = write_outputs(tmp_path / f"set{len(opened)}", labels, image=image, stem="cells")
        imp = lij.xarray_to_imageplus(image, title="cells")
        opened.append(imp)
        rm = RoiManager(True)  # a hidden manager: the user's own ROI Manager is left alone
        rm.runCommand("Open", str(out["rois"]))
        IJ.run("Set Measurements...", "area mean centroid bounding stack redirect=None decimal=9")
        rt = ResultsTable.getResultsTable()
        rt.reset()
        for i in range(int(rm.getCount())):
            rm.select(imp, i)
            IJ.run(imp, "Measure", "")
        measured = lij.resultstable_to_table(rt)
        rt.reset()
        rm.reset()
        rm.close()
        table = pd.read_csv(out["table"])
        if labels.sizes.get("Z", 1) > 1:  # the written table of a z-stack is one of 3-D objects; the ROIs are planes
            volumes = table.set_index(["frame", "label"]).volume
            table = measure_objects(labels, image=image, per_plane=True)
            summed = table.groupby(["frame", "label"]).area.sum() * scale_of(labels, "Z")
            pd.testing.assert_series_equal(summed, volumes.loc[summed.index], check_names=False, check_dtype=False)
        return table, measured

    yield measure
    for imp in opened:
        imp.changes = False
        imp.close()
    Analyzer.setMeasurements(settings)
    Analyzer.setPrecision(precision)


def _assert_same_objects(table, measured, *, scale=None, origin=None, mean_column="mean_intensity"):
    scale, origin = scale or {"X": 1.0, "Y": 1.0}, origin or {"X": 0.0, "Y": 0.0}
    sx, sy = scale["X"], scale["Y"]
    assert len(measured) == len(table)
    np.testing.assert_allclose(measured["Area"], table["area"], rtol=1e-5)
    np.testing.assert_allclose(measured["Mean"], table[mean_column], rtol=1e-5)
    np.testing.assert_allclose(measured["X"], table["centroid_x"] + sx / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(measured["Y"], table["centroid_y"] + sy / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(measured["BX"], origin["X"] + sx * table["bbox_x"], atol=1e-9)
    np.testing.assert_allclose(measured["BY"], origin["Y"] + sy * table["bbox_y"], atol=1e-9)
    np.testing.assert_allclose(measured["Width"], sx * table["bbox_width"], atol=1e-9)
    np.testing.assert_allclose(measured["Height"], sy * table["bbox_height"], atol=1e-9)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_calibrated_objects_with_holes_pieces_and_borders_measure_as_in_imagej(imagej_measure, dtype):
    rng = np.random.default_rng(3)
    pixels = (rng.random((40, 50)) * (200 if dtype == np.uint8 else 60000)).astype(dtype)
    labels = to_dataarray(_tricky_labels(), scale=SCALE, units=UNITS, origin=ORIGIN)
    image = to_dataarray(pixels, scale=SCALE, units=UNITS, origin=ORIGIN)
    table, measured = imagej_measure(labels, image)
    assert table["label"].tolist() == [1, 2, 3, 4, 300]
    assert table["area"].tolist() == [200 * 0.125, 55 * 0.125, 16 * 0.125, 0.125, 0.125]
    _assert_same_objects(table, measured, scale=SCALE, origin=ORIGIN)


def test_nan_pixels_are_left_out_of_the_mean_as_imagej_does(imagej_measure):
    """A 32-bit image with NaN pixels (e.g. masked out or registered): the mean of an object that holds
    one was NaN, where ImageJ's Measure gives the mean of its other pixels."""
    rng = np.random.default_rng(4)
    pixels = (rng.random((40, 50)) * 100).astype(np.float32)
    pixels[26, 6] = np.nan  # in object 2
    pixels[39, 0] = np.nan  # object 4, all of it
    table, measured = imagej_measure(to_dataarray(_tricky_labels()), to_dataarray(pixels))
    expected = np.nanmean(pixels[_tricky_labels() == 2])
    assert table["mean_intensity"][1] == pytest.approx(expected, rel=1e-6)
    assert measured["Mean"][1] == pytest.approx(expected, rel=1e-6)
    assert np.isnan(table["mean_intensity"][3]) and np.isnan(measured["Mean"][3])
    keep = [0, 1, 2, 4]
    np.testing.assert_allclose(measured["Mean"][keep], table["mean_intensity"][keep], rtol=1e-5)
    assert table["area"][1] == 55  # the object's area: all its pixels, NaN or not


def test_frames_and_z_planes_are_imagej_frames_and_slices_minus_one(imagej_measure):
    labels = np.zeros((2, 3, 20, 20), np.uint16)
    labels[0, 1, 2:5, 2:6] = 1
    labels[1, 2, 10:15, 10:12] = 2
    labels[1, 0, 0, 0] = 3
    labels[1, 1, 5:9, 5:9] = 1
    pixels = np.random.default_rng(5).random(labels.shape).astype(np.float32)
    table, measured = imagej_measure(to_dataarray(labels, dims="TZYX"), to_dataarray(pixels, dims="TZYX"))
    assert table[["label", "frame", "z"]].values.tolist() == [[1, 0, 1], [3, 1, 0], [1, 1, 1], [2, 1, 2]]
    assert (measured["Frame"] - 1).tolist() == table["frame"].tolist()
    assert (measured["Slice"] - 1).tolist() == table["z"].tolist()
    _assert_same_objects(table, measured)


def test_time_lapse_rois_are_measured_on_their_own_frame(imagej_measure):
    """A time-lapse without Z or C is a plain stack to ImageJ: its ROIs must carry the stack position, else
    ImageJ measures every one of them on the frame shown."""
    labels = np.zeros((3, 20, 20), np.uint16)
    labels[0, 2:5, 2:6] = 1
    labels[1, 0, 0] = 3
    labels[2, 10:15, 10:12] = 2
    pixels = np.random.default_rng(7).random(labels.shape).astype(np.float32)
    table, measured = imagej_measure(to_dataarray(labels, dims="TYX"), to_dataarray(pixels, dims="TYX"))
    np.testing.assert_allclose(measured["Mean"], table["mean_intensity"], rtol=1e-5)


def test_real_cell_crop_measures_as_in_imagej(imagej_measure, msc_dir):
    """Cells of a real fluorescence frame (Fluo-C2DL-MSC, manual masks), cut at the crop's border."""
    from labelfree.io import read_ctc

    ds = read_ctc(msc_dir)
    t = ds.seg_frames[0]
    seg, frame = np.asarray(ds.seg[t]), np.asarray(ds.frame(t))
    crop = (slice(540, 800), slice(150, 450))  # three cells, two of them cut by the crop
    scale, origin = {"X": 0.3, "Y": 0.3}, {"X": 0.0, "Y": 0.0}
    labels = to_dataarray(seg[crop], scale=scale, units=UNITS)
    table, measured = imagej_measure(labels, to_dataarray(frame[crop], scale=scale, units=UNITS))
    assert len(table) >= 3
    assert table["label"].tolist() == np.unique(seg[crop])[1:].tolist()
    _assert_same_objects(table, measured, scale=scale, origin=origin)



def test_results_table_keeps_row_labels_and_the_columns_of_an_empty_table(ij):
    """A "Label" column became a text column of that name that read back as "None" in every row, and a table
    without rows (an image without objects) became a ResultsTable without columns."""
    from labelfree.imagej.tables import resultstable_to_table, table_to_resultstable

    table = pd.DataFrame({"Label": ["cells:t0001-L00001", "cells:t0001-L00300"], "label": [1, 300],
                          "area": [25.0, 0.125], "mean_intensity": [47.5, np.nan]})
    rt = table_to_resultstable(table)
    assert [str(rt.getLabel(i)) for i in range(2)] == table["Label"].tolist()  # ImageJ's own row labels
    back = resultstable_to_table(rt)
    assert back["Label"].tolist() == table["Label"].tolist()
    pd.testing.assert_frame_equal(back.drop(columns="Label"), table.drop(columns="Label").astype(np.float64))

    empty = measure_objects(np.zeros((4, 4), np.uint8), image=np.ones((4, 4), np.float32))
    rt = table_to_resultstable(empty)
    assert int(rt.size()) == 0
    assert [str(h) for h in rt.getHeadings()] == list(empty.columns)
    assert resultstable_to_table(rt).columns.tolist() == list(empty.columns)
