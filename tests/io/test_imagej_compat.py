"""ImageJ 1.x itself opens what write_outputs writes (JVM under Xvfb)."""

import numpy as np
import pandas as pd
import pytest

from labelfree.image import to_dataarray
from labelfree.io import glasbey_lut, write_outputs

pytestmark = pytest.mark.jvm


@pytest.fixture
def written(tmp_path, make_labels, ij):
    planes = [[make_labels(3 * t + z, (48, 56)) for z in range(2)] for t in range(3)]
    lab = np.array(planes, dtype=np.uint16)
    lab[1, 0][lab[1, 0] == 2] = 300  # an id above ImageJ's 255 ROI groups
    da = to_dataarray(
        lab, dims="TZYX",
        scale={"X": 0.65, "Y": 0.65, "Z": 2.0, "T": 5.0},
        units={"X": "µm", "Y": "µm", "Z": "µm", "T": "min"},
        origin={"X": 6.5, "Y": -1.3},
    )
    da.attrs["labelfree"] = {"pipeline": "threshold", "config": {"min_size": 5}}
    return da, write_outputs(tmp_path, da, stem="cells")


def test_imagej_opens_label_tiff(written):
    import jpype

    da, paths = written
    IJ = jpype.JClass("ij.IJ")
    imp = IJ.openImage(str(paths["labels"]))
    assert imp is not None, "ImageJ could not open the label TIFF"
    try:
        assert (imp.getNChannels(), imp.getNSlices(), imp.getNFrames()) == (1, 2, 3)
        assert (imp.getWidth(), imp.getHeight()) == (56, 48)
        assert imp.getBitDepth() == 16 and imp.isHyperStack()
        cal = imp.getCalibration()
        assert cal.pixelWidth == pytest.approx(0.65) and cal.pixelHeight == pytest.approx(0.65)
        assert cal.pixelDepth == 2.0
        assert str(cal.getUnit()) == "µm"
        assert cal.frameInterval == 5.0 and str(cal.getTimeUnit()) == "min"
        assert cal.getX(0) == pytest.approx(6.5) and cal.getY(0) == pytest.approx(-1.3)
        assert imp.getDisplayRangeMin() == 0 and imp.getDisplayRangeMax() == float(da.max())  # 300: above 255
        ip = imp.getProcessor()
        assert ip.isColorLut()
        lut = ip.getLut()
        reds, greens, blues = (jpype.JArray(jpype.JByte)(256) for _ in range(3))
        lut.getReds(reds), lut.getGreens(greens), lut.getBlues(blues)
        ij_lut = np.array([np.asarray(c, np.int8).view(np.uint8) for c in (reds, greens, blues)])
        assert np.array_equal(ij_lut, glasbey_lut())
        assert "labelfree=" in str(imp.getInfoProperty()) and '"pipeline": "threshold"' in str(imp.getInfoProperty())
        # pixel values of one plane (t=2, z=1 -> stack index (t-1)*nZ + z, 1-based)
        plane = imp.getStack().getProcessor(1 * 2 + 2)
        pix = np.asarray(plane.getPixels(), np.int16).view(np.uint16).reshape(48, 56)
        assert np.array_equal(pix, da.values[1, 1])
    finally:
        imp.close()


def test_roi_manager_opens_roi_zip(written):
    import jpype

    da, paths = written
    RoiManager = jpype.JClass("ij.plugin.frame.RoiManager")
    from labelfree.measure import measure_objects

    table = measure_objects(da, per_plane=True)  # one row per ROI (the written table: one per 3-D object)
    assert len(pd.read_csv(paths["table"])) < len(table)
    rm = RoiManager(False)
    try:
        rm.runCommand("Open", str(paths["rois"]))
        assert rm.getCount() == len(table) > 20
        rois = list(rm.getRoisAsArray())
        names = [str(r.getName()) for r in rois]
        expected = [f"t{f + 1:04d}-z{z + 1:03d}-L{v:05d}" for f, z, v in zip(table.frame, table.z, table.label)]
        assert names == expected
        assert [r.getTPosition() for r in rois] == (table.frame + 1).tolist()
        assert [r.getZPosition() for r in rois] == (table.z + 1).tolist()
        assert all(r.getCPosition() == 0 for r in rois)
        assert [r.getGroup() for r in rois] == [(v - 1) % 255 + 1 for v in table.label]
        n_composite = 0
        for roi, f, z, v in zip(rois, table.frame, table.z, table.label):
            box = roi.getBounds()
            mask = roi.getMask()
            got = np.asarray(mask.getPixels(), np.int8).reshape(box.height, box.width) != 0
            want = da.values[f, z] == v
            ys, xs = np.nonzero(want)
            assert (box.x, box.y) == (xs.min(), ys.min()), roi.getName()
            assert np.array_equal(got, want[box.y : box.y + box.height, box.x : box.x + box.width]), roi.getName()
            assert want.sum() == got.sum()
            n_composite += str(roi.getTypeAsString()) == "Composite"
        assert n_composite > 0  # holes and multi-part objects were exercised
        # selecting a ROI on the opened label image moves it to the ROI's frame and z plane
        imp = jpype.JClass("ij.IJ").openImage(str(paths["labels"]))
        try:
            for index in (0, len(rois) // 2, len(rois) - 1):
                rm.select(imp, index)
                f, z, v = table.frame[index], table.z[index], table.label[index]
                assert (imp.getT(), imp.getZ()) == (f + 1, z + 1)
                stats = imp.getStatistics()  # of the pixels inside the selected ROI
                assert (stats.min, stats.max) == (v, v)
        finally:
            imp.close()
    finally:
        rm.reset()
        rm.close()


def _measure_points(imp, points, frame, path):
    """ImageJ's own Results table of a point selection on ``frame`` (1-based), saved as CSV."""
    import jpype

    IJ = jpype.JClass("ij.IJ")
    roi = jpype.JClass("ij.gui.PointRoi")(float(points[0][1]), float(points[0][0]))
    for y, x in points[1:]:
        roi.addPoint(float(x), float(y))
    imp.setT(frame) if imp.isHyperStack() else imp.setSlice(frame)
    roi.setPosition(imp.getCurrentSlice()) if not imp.isHyperStack() else roi.setPosition(0, 0, frame)
    imp.setRoi(roi)
    rt = jpype.JClass("ij.measure.ResultsTable").getResultsTable()
    rt.reset()
    IJ.run("Set Measurements...", "area mean centroid stack display redirect=None decimal=3")
    IJ.run(imp, "Measure", "")
    rt.save(str(path))
    rt.reset()


@pytest.mark.parametrize("hyperstack", [False, True])
def test_imagej_results_table_of_points_reads_back_as_their_pixels(hyperstack, tmp_path, ij):
    """Analyze > Measure on points of a calibrated stack with an origin: X, Y in µm, frames from 1."""
    import jpype

    from labelfree.io import read_image
    from labelfree.io.markers import read_markers

    IJ = jpype.JClass("ij.IJ")
    imp = IJ.createImage("cells", "16-bit black", 120, 80, 1, 1, 4)  # a plain stack of 4 slices
    if hyperstack:
        imp.setDimensions(1, 1, 4)
        imp.setOpenAsHyperStack(True)
    cal = imp.getCalibration()
    cal.pixelWidth = cal.pixelHeight = 0.65
    cal.setUnit("micron")
    cal.xOrigin, cal.yOrigin = 10.0, -4.0
    IJ.saveAsTiff(imp, str(tmp_path / "cells.tif"))
    points = [(20, 30), (55, 101)]  # (y, x) pixels
    _measure_points(imp, points, 3, tmp_path / "results.csv")
    imp.close()
    table = pd.read_csv(tmp_path / "results.csv")
    assert table["X"].tolist() != [30, 101]  # calibrated, as ImageJ writes them
    image = read_image(tmp_path / "cells.tif")
    assert image.dims == ("T", "Y", "X") if hyperstack else image.dims[0] in "TZ"
    if image.dims[0] == "Z":  # a plain stack is read as Z: the user gives dims, the markers follow
        image = read_image(tmp_path / "cells.tif", dims="TYX")
    markers = read_markers(tmp_path / "results.csv", image=image)
    np.testing.assert_allclose(markers, [[2, 20, 30], [2, 55, 101]], atol=0.01)  # 3 decimals of µm


def test_imagej_shows_each_of_up_to_255_labels_in_its_own_lut_colour(tmp_path, ij):
    """Was: the display range 0..max label, so label i showed LUT entry i * 255 / max, not the colour of its
    outline in the overlay PNG and of its ROI group; with a range 0..255, label i shows entry i."""
    import jpype

    from labelfree.io import write_labels

    lab = np.zeros((20, 40), np.uint16)
    for i in range(1, 8):
        lab[5:15, 5 * i - 4:5 * i] = i
    path = write_labels(tmp_path / "seven_labels.tif", lab)
    imp = jpype.JClass("ij.IJ").openImage(str(path))
    try:
        assert (imp.getDisplayRangeMin(), imp.getDisplayRangeMax()) == (0.0, 255.0)
        flat = imp.flatten().getProcessor()  # the colours ImageJ shows
        lut = glasbey_lut()
        for i in range(1, 8):
            c = int(flat.getPixel(5 * i - 2, 10))
            assert ((c >> 16) & 255, (c >> 8) & 255, c & 255) == tuple(int(v) for v in lut[:, i]), i
    finally:
        imp.close()


def test_a_label_file_past_a_classic_tiffs_size_is_written_as_imagej_writes_one(tmp_path, make_labels, monkeypatch,
                                                                                  ij, caplog):
    """A label movie over 4 GiB whose planes fit: ImageJ's own layout for such a file (the planes one after another,
    described by the first plane's tags; before, tifffile wrote tags up to 4 GiB and warned that it truncated the
    file). One plane over 4 GiB: a BigTIFF (before: a struct error after the run's work). The 4 GiB is lowered here;
    measured at full size (33 x 8192 x 8192 and 47000 x 47000 px of uint16): docs/outputs.md, *Label image*."""
    import warnings

    import jpype
    import tifffile

    from labelfree.io import labels_tiff, read_labels, write_labels
    from labelfree.io.labels_tiff import read_provenance

    monkeypatch.setattr(labels_tiff, "CLASSIC_TIFF_BYTES", 10_000)
    movie = to_dataarray(np.array([make_labels(t, (48, 56)) for t in range(5)], np.uint16), dims="TYX")
    movie.attrs["labelfree"] = {"pipeline": "threshold"}  # 5 planes of 5376 bytes
    with warnings.catch_warnings(), caplog.at_level("INFO", logger="labelfree.io.labels_tiff"):
        warnings.simplefilter("error")  # tifffile's truncation warning no more
        path = write_labels(tmp_path / "movie_labels.tif", movie)
    assert "movie_labels.tif: 0.0 GiB, more than a classic TIFF's 4 GiB: written in ImageJ's layout" in caplog.text
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1 and not tif.is_bigtiff and tif.is_imagej
    np.testing.assert_array_equal(read_labels(path), movie.values)
    assert read_provenance(path)["pipeline"] == "threshold"
    imp = jpype.JClass("ij.IJ").openImage(str(path))
    try:
        assert imp.getNFrames() == 5
        pix = np.asarray(imp.getStack().getProcessor(5).getPixels(), np.int16).view(np.uint16).reshape(48, 56)
        np.testing.assert_array_equal(pix, movie.values[4])
    finally:
        imp.close()

    plane = to_dataarray(make_labels(9, (80, 96)).astype(np.uint16))  # 15360 bytes in one plane
    with warnings.catch_warnings(), caplog.at_level("WARNING", logger="labelfree.io.labels_tiff"):
        warnings.simplefilter("error")
        path = write_labels(tmp_path / "mosaic_labels.tif", plane)
    assert ("mosaic_labels.tif: one plane takes 0.0 GiB, more than a classic TIFF holds (4 GiB): written as a "
            "BigTIFF, which Fiji opens with File > Import > Bio-Formats") in caplog.text
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and tif.is_imagej
    np.testing.assert_array_equal(read_labels(path), plane.values)
