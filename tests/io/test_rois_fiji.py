"""ROIs drawn in ImageJ 1.x (saved by its ROI Manager) painted back by rois_to_labels exactly as ImageJ fills them."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.io import read_rois, rois_to_labels

pytestmark = pytest.mark.jvm

H, W = 60, 70


def _imagej_rois():
    """Name -> ImageJ ROI: rounded rectangles, shapes with curves, ovals and sub-pixel polygons."""
    import jpype

    J = jpype.JClass
    Roi, OvalRoi, ShapeRoi, PolygonRoi = (J(f"ij.gui.{n}") for n in ("Roi", "OvalRoi", "ShapeRoi", "PolygonRoi"))
    rois = {}
    for diameter in (3, 10, 17, 40, 90):  # 90: wider than the rectangle, Java clamps the arc
        rounded = Roi(7, 9, 33, 27)
        rounded.setCornerDiameter(diameter)
        rois[f"rounded{diameter}"] = rounded
        band = Roi(4, 6, 41, 29)
        band.setCornerDiameter(diameter)
        rois[f"rounded{diameter}-xor-oval"] = ShapeRoi(band).xor(ShapeRoi(OvalRoi(15, 15, 12, 9)))
    rois["ring-of-ovals"] = ShapeRoi(OvalRoi(5, 5, 30, 30)).xor(ShapeRoi(OvalRoi(15, 15, 10, 10)))
    rois["oval-outside"] = OvalRoi(-5, -7, 20, 25)
    polygon = J("ij.process.FloatPolygon")()
    for x, y in [(5.2, 3.7), (40.6, 8.1), (33.3, 45.9), (8.8, 30.2)]:
        polygon.addPoint(x, y)
    rois["subpixel-polygon"] = PolygonRoi(polygon, Roi.POLYGON)
    return rois


def _imagej_fill(roi) -> np.ndarray:
    import jpype

    ip = jpype.JClass("ij.process.ByteProcessor")(W, H)
    ip.setColor(255)
    ip.fill(roi)
    return np.asarray(ip.getPixels(), np.int8).reshape(H, W) != 0


def test_rounded_and_curved_rois_fill_as_imagej_fills_them(ij, tmp_path):
    """Composite ROIs with curve segments (a rounded rectangle combined with another ROI in Fiji) raised
    NotImplementedError from roifile, and rounded rectangles were filled as plain rectangles (corners included)."""
    import jpype

    rm = jpype.JClass("ij.plugin.frame.RoiManager")(False)
    try:
        made = _imagej_rois()
        for name, roi in made.items():
            roi.setName(name)
            rm.addRoi(roi)
        rm.runCommand("Save", str(tmp_path / "drawn.zip"))
        saved = {r.name: r for r in read_rois(tmp_path / "drawn.zip")}
        assert set(saved) == set(made)
        assert sum(3 in np.asarray(r.multi_coordinates) for r in saved.values() if r.composite) >= 5  # curves
        for index, roi in enumerate(rm.getRoisAsArray()):
            name = str(roi.getName())
            want = _imagej_fill(roi)
            got = rois_to_labels([saved[name]], shape=(H, W)) > 0
            assert want.sum() > 100, name
            assert np.array_equal(got, want), f"{name}: {int((got != want).sum())} pixels differ from ImageJ's"
        rounded = rois_to_labels([saved["rounded40"]], shape=(H, W))
        assert rounded[9, 7] == 0 and rounded[9 + 13, 7] == 1  # a corner is cut, the middle of a side is not
    finally:
        rm.reset()
        rm.close()


def test_points_clicked_on_several_planes_land_on_their_planes(ij, tmp_path):
    """A multi-point ROI clicked on slices 1, 2 and 3 of a stack stores each point's slice; every point
    was painted on every plane (3 markers per plane instead of one)."""
    import jpype

    J = jpype.JClass
    imp = J("ij.IJ").createImage("cells", "8-bit black", 30, 25, 3)
    rm = J("ij.plugin.frame.RoiManager")(False)
    try:
        points = J("ij.gui.PointRoi")()
        clicks = [(1, 5, 4), (2, 10, 12), (3, 20, 21)]  # slice, x, y
        for z, x, y in clicks:
            imp.setSlice(z)
            points.addPoint(imp, float(x), float(y))
        rm.addRoi(points)
        rm.runCommand("Save", str(tmp_path / "points.zip"))
        rois = read_rois(tmp_path / "points.zip")
        for dims in ("ZYX", "TYX"):
            markers = rois_to_labels(rois, shape=(3, 25, 30), dims=dims)
            for z, x, y in clicks:
                assert np.flatnonzero(markers[z - 1]).tolist() == [y * 30 + x], (dims, z)
            assert sorted(np.unique(markers).tolist()) == [0, 1, 2, 3]
        movie = rois_to_labels(rois, shape=(2, 2, 25, 30), dims="TZYX")  # stack index 3 = frame 2, z 1
        assert np.count_nonzero(movie) == 3 and movie[1, 0, 21, 20] == 3 and movie[0, 1, 12, 10] == 2
        with pytest.raises(InputError, match="stack position 3"):
            rois_to_labels(rois, shape=(2, 25, 30), dims="ZYX")
    finally:
        imp.close()
        rm.reset()
        rm.close()


def test_an_outline_past_60535_px_is_where_imagej_reads_it(ij, tmp_path):
    """The ROI header holds 16-bit coordinates, which ImageJ's RoiDecoder reads as unsigned below -5000 and as signed
    above: an object of a mosaic at x = 61,000 came back at -4,536 and one at 69,000 at 3,464, silently (ImageJ 1.53t's
    own RoiEncoder writes the first so too). Such an outline now goes in floats as well, which ImageJ's RoiDecoder
    and ``rois_to_labels`` read. A composite ROI (an object with a hole) was right already: its path is in floats."""
    import zipfile

    import jpype

    from labelfree.io import write_rois

    lab = np.zeros((30, 70000), np.uint16)
    lab[5:15, 69000:69010] = 1
    lab[2:28, 69100:69126] = 2
    lab[10:18, 69110:69118] = 0  # a hole: a composite ROI
    lab[3:8, 100:120] = 3  # near the origin: written as before, integers only
    lab[5:15, 61000:61010] = 4  # read back signed from the header
    lab[2:28, 61100:61126] = 5
    lab[10:18, 61110:61118] = 0
    lab[5:15, 60500:60530] = 6  # up to 60,535: integers still
    path = write_rois(tmp_path / "mosaic_rois.zip", lab)
    decoder = jpype.JClass("ij.io.RoiDecoder")
    with zipfile.ZipFile(path) as zipped:
        bounds = {}
        for name in zipped.namelist():
            roi = decoder(zipped.read(name), name).getRoi()
            box = roi.getBounds()
            bounds[name] = (box.x, box.y, box.width, box.height, bool(roi.subPixelResolution()),
                            len(roi.getContainedPoints()))
    assert bounds["t0001-L00001.roi"] == (69000, 5, 10, 10, True, 100)
    assert bounds["t0001-L00002.roi"][:4] == (69100, 2, 26, 26)
    assert bounds["t0001-L00003.roi"] == (100, 3, 20, 5, False, 100)
    assert bounds["t0001-L00004.roi"] == (61000, 5, 10, 10, True, 100)
    assert bounds["t0001-L00005.roi"][:4] == (61100, 2, 26, 26)
    assert bounds["t0001-L00006.roi"] == (60500, 5, 30, 10, False, 300)
    np.testing.assert_array_equal(rois_to_labels(read_rois(path), shape=lab.shape), lab)
