"""report.html: every input listed, failures first, outline thumbnails, plots; and the
summary CSV written while results arrive."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from labelfree.batch import format_report, run_batch
from labelfree.batch.report import write_report
from labelfree.overlay import overlay_rgb


@pytest.fixture()
def few_inputs(real_crops, tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted(real_crops["dir"].glob("*.tif"))[:4]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    return folder


def test_report_lists_every_input_failures_first_with_thumbnails(few_inputs, tmp_path, monkeypatch):
    monkeypatch.setattr("labelfree.batch.runner.SUMMARY_EVERY", 0.0)  # every result, not once a second
    out = tmp_path / "out"
    seen = []
    summary = run_batch(few_inputs, pipeline="threshold", out_dir=out, scheduler="sync",
                        progress=lambda done, total, msg: seen.append(pd.read_csv(out / "batch_summary.csv")))
    report = out / "report.html"
    assert summary.attrs["report"] == str(report) and "report: " in format_report(summary)
    page = report.read_text(encoding="utf-8")
    stems = list(summary["stem"])
    positions = {s: page.index(f"<b>{s}</b>") for s in stems}
    assert sorted(positions, key=positions.get)[0] == "broken"  # failures first
    assert "holds no image data" in page
    thumbs = re.findall(r"<img class='thumb' alt='([^']+)' src='([^']+)'>", page)
    assert {a for a, _ in thumbs} == set(stems) - {"broken"}
    for stem, src in thumbs:
        pic = Image.open(out / src)
        assert pic.format == "PNG" and pic.size == (160, 160)  # the crops are 160 x 160
        expected = overlay_rgb(tifffile.imread(few_inputs / f"{stem}.tif")[0],
                               tifffile.imread(out / f"{stem}_labels.tif")[0])
        np.testing.assert_array_equal(np.asarray(pic.convert("RGB")), expected)  # image + outlines of frame 0
    plots = re.search(r"<img class='plots'[^>]*src='data:image/png;base64,([^']+)'", page)
    assert plots is not None
    Image.open(__import__("io").BytesIO(base64.b64decode(plots.group(1)))).verify()
    # the summary on disk existed from the start and filled in as results arrived
    pending = [int((s["status"] == "pending").sum()) for s in seen]
    assert len(seen) == len(stems) and pending == list(range(len(stems), 0, -1))
    assert "pending" not in set(pd.read_csv(out / "batch_summary.csv")["status"])


def test_report_of_a_summary_without_outputs(tmp_path):
    summary = pd.DataFrame({"input": ["/x/a.tif", "/x/b.tif"], "stem": ["a", "b"], "status": ["ok", "cancelled"],
                            "n_objects": [3, None], "n_frames": [1, None], "seconds": [1.5, None],
                            "error": ["", ""], "warnings": ["", ""], "worker": ["", ""], "labels": ["", ""],
                            "table": ["", ""]})
    page = write_report(summary, tmp_path).read_text(encoding="utf-8")
    assert page.index("<b>b</b>") < page.index("<b>a</b>") and "no picture" in page


def test_the_size_plot_does_not_pool_calibrated_and_pixel_areas(tmp_path):
    """Areas in µm² (a calibrated input) and in pixel² (an uncalibrated one) were pooled in one
    histogram labelled 'calibrated units'; now one unit is plotted, the others counted apart."""
    from labelfree.batch.report import _areas, _tables

    folder = tmp_path / "in"
    folder.mkdir()
    img = np.full((60, 60), 10, np.uint16)
    img[5:15, 5:15] = img[30:40, 30:50] = 1000
    tifffile.imwrite(folder / "plain.tif", img)
    tifffile.imwrite(folder / "calibrated.tif", img, imagej=True, resolution=(2.0, 2.0),
                     metadata={"unit": "micron", "axes": "YX"})  # 0.5 µm pixels
    tifffile.imwrite(folder / "plain2.tif", img)
    summary = run_batch(folder, pipeline="threshold", out_dir=tmp_path / "out", batch={"scheduler": "sync"},
                        config={"min_size": 10})
    tables = _tables(summary)
    assert tables["calibrated"].attrs["area_unit"] == "µm²" and tables["plain"].attrs["area_unit"] == "pixel²"
    areas, unit, left_out = _areas(tables)
    assert unit == "pixel²" and sorted(areas.tolist()) == [100, 100, 200, 200] and left_out == 2
    assert "<img class='plots'" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_a_thumbnail_is_reused_only_when_drawn_from_the_same_labels_input_and_size(tmp_path):
    """Thumbnails were reused while newer than the labels: one drawn black by an older version,
    or at another size, stayed. Each PNG now stores what it was drawn from."""
    from labelfree.batch.report import _thumbnail

    img = np.zeros((40, 40), np.uint16)
    img[10:30, 10:30] = 500
    tifffile.imwrite(tmp_path / "a.tif", img)
    labels = (img > 0).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a_labels.tif", labels)
    row = {"stem": "a", "labels": str(tmp_path / "a_labels.tif"), "input": str(tmp_path / "a.tif"), "drift": ""}
    out = tmp_path / "out"
    out.mkdir()
    target = out / _thumbnail(row, out, 256)
    expected = overlay_rgb(img, labels)
    np.testing.assert_array_equal(np.asarray(Image.open(target).convert("RGB")), expected)
    # a stale picture (black, drawn before the key was stored), newer than the labels: drawn again
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(target)
    _thumbnail(row, out, 256)
    np.testing.assert_array_equal(np.asarray(Image.open(target).convert("RGB")), expected)
    # the same key: reused as it is (not drawn again)
    before = target.stat().st_mtime_ns
    _thumbnail(row, out, 256)
    assert target.stat().st_mtime_ns == before
    # another size: drawn again at that size
    _thumbnail(row, out, 20)
    assert Image.open(target).size == (20, 20)


def test_the_report_removes_the_thumbnails_it_no_longer_shows(tmp_path):
    """A rerun into the same folder with fewer inputs left the earlier inputs' thumbnails behind."""
    img = np.zeros((40, 40), np.uint16)
    img[10:30, 10:30] = 500
    rows = []
    for stem in ("a", "b"):
        tifffile.imwrite(tmp_path / f"{stem}.tif", img)
        tifffile.imwrite(tmp_path / f"{stem}_labels.tif", (img > 0).astype(np.uint16))
        rows.append({"input": str(tmp_path / f"{stem}.tif"), "stem": stem, "status": "ok", "n_objects": 1,
                     "n_frames": 1, "seconds": 1.0, "error": "", "warnings": "", "worker": "",
                     "labels": str(tmp_path / f"{stem}_labels.tif"), "table": ""})
    out = tmp_path / "out"
    out.mkdir()
    (out / "report_files").mkdir()
    mine = out / "report_files" / "notes.png"  # a picture the report did not draw stays
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(mine)
    write_report(pd.DataFrame(rows), out)
    assert sorted(p.name for p in (out / "report_files").glob("*.png")) == ["a.png", "b.png", "notes.png"]
    write_report(pd.DataFrame(rows[:1]), out)
    assert sorted(p.name for p in (out / "report_files").glob("*.png")) == ["a.png", "notes.png"]
