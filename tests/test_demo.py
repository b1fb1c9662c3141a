"""`labelfree demo` on the bundled sample: files that tifffile, roifile and ImageJ 1.x read back."""

import json

import numpy as np
import pandas as pd
import pytest
import roifile
import tifffile

from labelfree.cli import main
from labelfree.io import glasbey_lut


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "-o", str(out)]) == 0
    return out


def test_demo_prints_where_and_scores(demo_out, capsys):
    assert main(["demo", "-o", str(demo_out / "again")]) == 0
    text = capsys.readouterr().out
    assert "Outputs written to" in text and "sample_movie_labels.tif" in text
    f1 = float(text.split("pixel F1 ")[1].split(",")[0])
    assert f1 > 0.6  # the Motion pipeline on the synthetic sample, against its exact truth


def test_demo_label_tiff_has_calibration_lut_and_provenance(demo_out):
    with tifffile.TiffFile(demo_out / "sample_movie_labels.tif") as tif:
        meta = tif.imagej_metadata
        labels = tif.asarray()
        page = tif.pages[0]
        xres = page.tags["XResolution"].value
        colormap = page.tags["ColorMap"].value
    assert labels.shape == (12, 192, 192) and labels.dtype == np.uint16 and labels.max() > 0
    assert xres[1] / xres[0] == pytest.approx(0.65)  # µm per pixel of the sample movie
    assert meta["unit"] == "um" and meta["finterval"] == 300.0
    assert np.array_equal(np.asarray(colormap) >> 8, glasbey_lut())
    prov = json.loads((demo_out / "sample_movie_provenance.json").read_text())
    assert prov["pipeline"] == "motion" and "config" in prov


def test_demo_rois_and_table_match_the_labels(demo_out):
    labels = tifffile.imread(demo_out / "sample_movie_labels.tif")
    rois = roifile.roiread(demo_out / "sample_movie_rois.zip")
    expected = {(t, int(i)) for t in range(labels.shape[0]) for i in np.unique(labels[t]) if i}
    got = {(r.t_position - 1, int(r.name.split("-L")[1])) for r in rois}
    assert got == expected and len(rois) == len(expected)
    table = pd.read_csv(demo_out / "sample_movie_table.csv")
    assert set(zip(table["frame"], table["label"])) == expected


@pytest.mark.jvm
def test_imagej_opens_the_demo_outputs(demo_out, ij):
    import jpype

    IJ = jpype.JClass("ij.IJ")
    imp = IJ.openImage(str(demo_out / "sample_movie_labels.tif"))
    labels = tifffile.imread(demo_out / "sample_movie_labels.tif")
    try:
        assert imp.getNFrames() == 12 and imp.getBitDepth() == 16
        cal = imp.getCalibration()
        assert cal.pixelWidth == pytest.approx(0.65) and cal.frameInterval == 300.0
        assert imp.getProcessor().isColorLut()
    finally:
        imp.close()
    rm = jpype.JClass("ij.plugin.frame.RoiManager")(False)
    rm.runCommand("Open", str(demo_out / "sample_movie_rois.zip"))
    n = sum(len(np.unique(f)) - 1 for f in labels)
    assert rm.getCount() == n
    first = rm.getRoi(0)
    t = first.getTPosition()
    label = int(str(first.getName()).split("-L")[1])
    mask = np.zeros(labels.shape[1:], bool)
    bounds = first.getBounds()
    ij_mask = first.getMask()
    if ij_mask is None:  # a rectangular ROI has no mask
        m = np.ones((bounds.height, bounds.width), bool)
    else:
        m = np.asarray(ij_mask.getPixels(), np.int8).reshape(bounds.height, bounds.width) != 0
    mask[bounds.y:bounds.y + bounds.height, bounds.x:bounds.x + bounds.width] = m
    assert np.array_equal(mask, labels[t - 1] == label)
    rm.reset()
    rm.close()
