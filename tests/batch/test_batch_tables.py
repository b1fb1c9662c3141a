"""The run's tables for a screener: ``batch_objects.csv`` (every object of the run in one table), the summary's
``well``, ``field`` and ``image_name`` (where a field or position lies) and ``objects_per_frame``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelfree.batch import BatchConfig, run_batch
from labelfree.batch.objects import OBJECT_LEAD_COLUMNS, write_objects_table
from labelfree.batch.report import format_report
from labelfree.errors import Cancelled, ConfigError

from test_hcs_plates import field_image, write_multi_file, write_plate

LEAD = ["stem", "input", "series", "well", "field", "image_name"]


def _run(inputs, out, **kwargs):
    kwargs.setdefault("progress", False)
    return run_batch(inputs, pipeline="threshold", out_dir=out, scheduler="sync", **kwargs)


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _positions_file(path: Path, names: list[str]) -> None:
    """A multi-position OME-TIFF whose position k (named ``names[k]``) holds k + 1 squares."""
    with tifffile.TiffWriter(path, ome=True) as tw:
        for k, name in enumerate(names):
            tw.write(field_image(k + 1), metadata={"axes": "YX", "Name": name}, photometric="minisblack")


def _check_objects_table(out: Path, summary: pd.DataFrame, stems: list[str]) -> list[list[str]]:
    """``batch_objects.csv`` holds, for each stem in order, its table's rows cell for cell after the summary's
    stem, input, series, well, field and image_name; returns its rows."""
    rows = _rows(out / "batch_objects.csv")
    header, body = rows[0], rows[1:]
    assert header[:6] == LEAD
    at = 0
    for stem in stems:
        table = _rows(out / f"{stem}_table.csv")
        mine = [r for r in body if r[0] == stem]
        assert body[at:at + len(mine)] == mine  # one block per input, in the summary's order
        at += len(mine)
        row = summary.set_index("stem").loc[stem]
        lead = [stem, str(row["input"]), "" if pd.isna(row["series"]) else str(int(row["series"])),
                row["well"], row["field"], row["image_name"]]
        picks = [table[0].index(c) if c in table[0] else None for c in header[6:]]
        expected = [lead + [t[i] if i is not None else "" for i in picks] for t in table[1:]]
        assert mine == expected, stem
        assert len(mine) == int(row["n_objects"])  # 2-D inputs: a row per object
    assert at == len(body)
    return rows


def test_plate_fields_and_positions_are_named_in_the_summary_and_the_run_has_one_objects_table(tmp_path):
    """The summary said nothing of where a field lies (a user parsed ``plate_B_03_1`` back into a well) and each
    input's objects were in a table of its own with no column naming the input: the summary has ``well`` and
    ``field`` of a plate's field, ``image_name`` of a position of an OME-TIFF, and ``batch_objects.csv`` holds
    every object of the run after stem, input, series, well, field and image_name."""
    plate = tmp_path / "plate.zarr"
    counts = write_plate(plate, "0.4", {"A/1": ["0", "1"], "B/03": ["0"]})
    _positions_file(tmp_path / "stage.ome.tif", ["A1_f0", "C2_f5"])
    tifffile.imwrite(tmp_path / "plain.tif", field_image(4))
    out = tmp_path / "out"
    summary = _run([plate, tmp_path / "stage.ome.tif", tmp_path / "plain.tif"], out)
    got = {r.stem: (r.well, r.field, r.image_name, r.status, int(r.n_objects)) for r in summary.itertuples()}
    assert got == {
        "plate_A_1_0": ("A1", "0", "", "ok", counts["A/1/0"]), "plate_A_1_1": ("A1", "1", "", "ok", counts["A/1/1"]),
        "plate_B_03_0": ("B03", "0", "", "ok", counts["B/03/0"]),
        "stage_series0": ("", "", "A1_f0", "ok", 1), "stage_series1": ("", "", "C2_f5", "ok", 2),
        "plain": ("", "", "", "ok", 4)}
    written = pd.read_csv(out / "batch_summary.csv", dtype={"well": str, "field": str, "image_name": str},
                          keep_default_na=False)
    assert list(written.columns[:7]) == ["input", "series", "stem", "well", "field", "image_name", "status"]
    assert written.loc[written.stem == "plate_B_03_0", ["well", "field"]].values.tolist() == [["B03", "0"]]
    assert written.loc[written.stem == "stage_series1", "image_name"].tolist() == ["C2_f5"]

    rows = _check_objects_table(out, summary, list(summary["stem"]))
    assert len(rows) - 1 == sum(counts.values()) + 1 + 2 + 4
    objects = pd.read_csv(out / "batch_objects.csv", dtype={"well": str, "field": str})
    assert objects.groupby("well").size().to_dict() == {"A1": counts["A/1/0"] + counts["A/1/1"],
                                                       "B03": counts["B/03/0"]}
    assert summary.attrs["objects"] == str(out / "batch_objects.csv") and summary.attrs["object_rows"] == len(rows) - 1
    assert f"objects table: {out / 'batch_objects.csv'} ({len(rows) - 1} rows)" in format_report(summary)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "well B03, field 0" in page and "image C2_f5" in page


def test_a_file_of_a_multi_file_ome_tiff_is_named_by_its_own_position(tmp_path):
    """Micro-Manager saves each position in a file of its own (``MMStack_Pos1.ome.tif``), whose OME-XML lists
    every position: the file's ``image_name`` is its own position's name; a plain OME-TIFF of one image has none."""
    positions = [np.stack([field_image(k + 1), field_image(k + 1) // 2]) for k in range(3)]
    names = write_multi_file(tmp_path, positions)
    tifffile.imwrite(tmp_path / "single.ome.tif", field_image(2), ome=True)
    summary = _run([tmp_path / n for n in names] + [tmp_path / "single.ome.tif"], tmp_path / "out", channels=0)
    assert dict(zip(summary["stem"], summary["image_name"])) == {
        "MMStack_Pos0": "Pos0", "MMStack_Pos1": "Pos1", "MMStack_Pos2": "Pos2", "single": ""}
    assert list(summary["n_objects"]) == [1, 2, 3, 2]


def test_objects_per_frame_of_a_time_lapse_beside_n_objects_summed_over_frames(tmp_path):
    """``n_objects`` of a 5-frame movie of 2 cells says 10 (objects summed over frames) and nothing said how many
    cells a frame holds: ``objects_per_frame`` is the mean, 1 decimal (a still image's: its objects)."""
    movie = np.stack([field_image(2)] * 4 + [field_image(3)])  # 2, 2, 2, 2, 3 squares
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "still.tif", field_image(5))
    out = tmp_path / "out"
    summary = _run(tmp_path, out)
    got = {r.stem: (int(r.n_objects), int(r.n_frames), float(r.objects_per_frame)) for r in summary.itertuples()}
    assert got == {"movie": (11, 5, 2.2), "still": (5, 1, 5.0)}
    written = _rows(out / "batch_summary.csv")
    col = written[0].index("objects_per_frame")
    assert written[0][col - 2:col + 1] == ["n_objects", "n_frames", "objects_per_frame"]
    assert sorted(r[col] for r in written[1:]) == ["2.2", "5.0"]
    objects = pd.read_csv(out / "batch_objects.csv")
    assert objects[objects.stem == "movie"].groupby("frame").size().tolist() == [2, 2, 2, 2, 3]


def test_a_rerun_s_objects_table_holds_the_skipped_inputs_and_no_failed_one(tmp_path):
    """The objects table covers every input with a result: a rerun that skips them all writes the same table, read
    from their sets; an input that failed has no rows."""
    src = tmp_path / "src"
    src.mkdir()
    for k in (1, 3):
        tifffile.imwrite(src / f"f{k}.tif", field_image(k))
    (src / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    out = tmp_path / "out"
    first = _run(src, out)
    assert dict(zip(first["stem"], first["status"])) == {"broken": "failed", "f1": "ok", "f3": "ok"}
    table = (out / "batch_objects.csv").read_bytes()
    _check_objects_table(out, first, ["f1", "f3"])
    (out / "batch_objects.csv").unlink()
    again = _run(src, out)
    assert set(again.loc[again.stem != "broken", "status"]) == {"skipped"}
    assert (out / "batch_objects.csv").read_bytes() == table
    assert again.attrs["object_rows"] == 1 + 3


def test_a_cancelled_run_writes_the_objects_of_the_inputs_it_finished(tmp_path):
    """A run stopped after two inputs: ``batch_objects.csv`` holds those two inputs' objects."""
    src = tmp_path / "src"
    src.mkdir()
    for k in range(1, 5):
        tifffile.imwrite(src / f"f{k}.tif", field_image(k))

    def stop_after_two(done, total, message):
        if done >= 2:
            raise Cancelled("stop")

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        _run(src, out, progress=stop_after_two)
    summary = pd.read_csv(out / "batch_summary.csv", keep_default_na=False)
    done = list(summary.loc[summary.status == "ok", "stem"])
    assert done == ["f1", "f2"] and set(summary.loc[summary.status != "ok", "status"]) == {"cancelled"}
    rows = _rows(out / "batch_objects.csv")
    assert [r[0] for r in rows[1:]] == ["f1"] + ["f2"] * 2


def test_the_objects_table_is_the_union_of_the_tables_columns_copied_cell_for_cell(tmp_path):
    """Inputs with other channels have other ``mean_<channel>`` columns: the table has their union, in the order
    first met, empty where an input has none; cells are copied as written (no 1 -> 1.0, no rounding); inputs
    without a result are left out; the memory used is one table's row at a time (streamed)."""
    a, b, c = tmp_path / "a_table.csv", tmp_path / "b_table.csv", tmp_path / "c_table.csv"
    a.write_text("label,frame,area,mean_DAPI,mean_GFP\n1,0,12.5,100.123456789,7\n2,0,3,1e-05,8\n", encoding="utf-8")
    b.write_text("label,frame,area,mean_intensity\n1,0,0.1,55\n", encoding="utf-8")
    c.write_text("label,frame,area,mean_GFP,mean_RFP\n", encoding="utf-8")  # no objects: no rows, its columns kept
    summary = pd.DataFrame({
        "input": ["/d/a.ome.tif", "/d/b, with comma.tif", "/d/c.tif", "/d/x.tif"],
        "series": pd.array([3, None, None, None], dtype="Int64"), "stem": ["a", "b", "c", "x"],
        "well": ["B2", "", "", ""], "field": ["1", "", "", ""], "image_name": ["", "", "", ""],
        "status": ["ok", "skipped", "ok", "failed"], "table": [str(a), str(b), str(c), ""]})
    n = write_objects_table(summary, tmp_path / "objects.csv")
    assert n == 3
    assert (tmp_path / "objects.csv").read_text(encoding="utf-8") == (
        "stem,input,series,well,field,image_name,label,frame,area,mean_DAPI,mean_GFP,mean_intensity,mean_RFP\n"
        "a,/d/a.ome.tif,3,B2,1,,1,0,12.5,100.123456789,7,,\n"
        "a,/d/a.ome.tif,3,B2,1,,2,0,3,1e-05,8,,\n"
        'b,"/d/b, with comma.tif",,,,,1,0,0.1,,,55,\n')
    assert tuple(OBJECT_LEAD_COLUMNS) == tuple(LEAD)


def test_objects_name_renames_or_leaves_out_the_objects_table(tmp_path):
    """``objects_name`` (a batch config key): another file name, or null for none; a name that is no plain
    ``.csv`` file name, or the summary's own, is refused before anything is written."""
    tifffile.imwrite(tmp_path / "f.tif", field_image(2))
    summary = _run(tmp_path / "f.tif", tmp_path / "out", batch={"objects_name": None})
    assert not (tmp_path / "out" / "batch_objects.csv").exists() and "objects" not in summary.attrs
    _run(tmp_path / "f.tif", tmp_path / "out2", batch={"objects_name": "cells.csv"})
    assert len(_rows(tmp_path / "out2" / "cells.csv")) == 3
    with pytest.raises(ConfigError, match=r"objects_name must be a plain file name ending in \.csv, or null"):
        BatchConfig(objects_name="sub/objects.csv")
    with pytest.raises(ConfigError, match=r"objects_name and summary_name are both 'batch_summary.csv'"):
        BatchConfig(objects_name="batch_summary.csv")
    with pytest.raises(ConfigError, match="objects_name"):
        _run(tmp_path / "f.tif", tmp_path / "out3", batch={"objects_name": "objects.txt"})
    assert not (tmp_path / "out3").exists()
