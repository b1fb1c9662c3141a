"""Batch runs on multi-position files: a file of several full-resolution images (a multi-position OME-TIFF, a
bioformats2raw OME-Zarr container) is one input per image, ``<stem>_seriesN``, each with its own summary row,
report entry, provenance and rerun state; ``--series N`` and a manifest ``series`` column choose one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelfree.batch import BatchConfig, collect_inputs, run_batch
from labelfree.cli import main
from labelfree.errors import ConfigError
from labelfree.image import scale_of
from labelfree.io import image_series, read_image

#: the positions of the test plate: (name, pixel size in µm, shape Y X, squares); position k has k + 1 squares
POSITIONS = [("A1", 0.1, (48, 56)), ("B2", 0.2, (56, 48)), ("C3", 0.3, (64, 64))]
SQUARES = [(4, 4), (30, 30), (4, 30)]


def _position(k: int, frames: int = 2) -> np.ndarray:
    """Position ``k``: ``frames`` frames of k + 1 bright 12 x 12 squares on a dim background."""
    _, _, shape = POSITIONS[k]
    img = np.full((frames, *shape), 50, np.uint16)
    for y, x in SQUARES[: k + 1]:
        img[:, y:y + 12, x:x + 12] = 900 + 100 * k
    return img


def _plate(path, frames: int = 2) -> list[np.ndarray]:
    """A 3-position OME-TIFF (one file, one OME Image per position, each its own shape and pixel size)."""
    arrays = [_position(k, frames) for k in range(len(POSITIONS))]
    with tifffile.TiffWriter(path, ome=True) as tw:
        for array, (name, pixel, _) in zip(arrays, POSITIONS):
            tw.write(array, metadata={"axes": "TYX", "Name": name, "PhysicalSizeX": pixel, "PhysicalSizeY": pixel})
    return arrays


def _square_labels(labels: np.ndarray, k: int) -> None:
    """The labels of position ``k``: each of its k + 1 squares is one object in every frame, nothing else."""
    assert labels.shape[-2:] == POSITIONS[k][2], (k, labels.shape)
    for frame in labels.reshape(-1, *labels.shape[-2:]):
        assert len(np.unique(frame)) - 1 == k + 1, k
        for y, x in SQUARES[: k + 1]:
            inside = frame[y:y + 12, x:x + 12]
            assert inside.min() > 0 and len(np.unique(inside)) == 1, (k, y, x)


def _rows(summary: pd.DataFrame) -> dict[str, tuple]:
    return {r.stem: (None if pd.isna(r.series) else int(r.series), r.status, int(r.n_objects))
            for r in summary.itertuples()}


def test_a_multi_position_file_is_one_input_per_position_with_its_own_outputs_and_rerun_state(tmp_path):
    """A batch over a 3-position OME-TIFF segmented only its first position (with a warning in the log): each
    position is an input, plate_seriesN, read with its own calibration; a file of one image and one whose other
    image is a reduced-resolution preview stay one input with the names they had. A rerun skips the positions
    done, redoes one whose outputs are gone, and --force redoes them all."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    _plate(folder / "plate.ome.tif")
    tifffile.imwrite(folder / "single.tif", _position(1), imagej=True, metadata={"axes": "TYX"})
    with tifffile.TiffWriter(folder / "preview.tif") as tw:  # a thumbnail stored before the image
        tw.write(_position(2)[0, ::4, ::4], subfiletype=1, photometric="minisblack")
        tw.write(_position(2)[0], photometric="minisblack")
    assert [(s.index, s.name, s.axes, s.shape) for s in image_series(folder / "plate.ome.tif")] == [
        (0, "A1", "TYX", (2, 48, 56)), (1, "B2", "TYX", (2, 56, 48)), (2, "C3", "TYX", (2, 64, 64))]
    assert [s.index for s in image_series(folder / "preview.tif")] == [1]
    assert [(it.stem, it.series) for it in collect_inputs(folder)] == [
        ("plate_series0", 0), ("plate_series1", 1), ("plate_series2", 2), ("preview", None), ("single", None)]

    summary = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert _rows(summary) == {"plate_series0": (0, "ok", 2), "plate_series1": (1, "ok", 4),
                              "plate_series2": (2, "ok", 6), "preview": (None, "ok", 3), "single": (None, "ok", 4)}
    for k, (_, pixel, _) in enumerate(POSITIONS):
        labels = read_image(out / f"plate_series{k}_labels.tif")
        _square_labels(labels.values, k)
        assert scale_of(labels, "X") == pytest.approx(pixel)
        record = json.loads((out / f"plate_series{k}_provenance.json").read_text(encoding="utf-8"))
        assert record["batch"]["series"] == k and record["batch"]["input_options"]["series"] == k
    assert "series" not in json.loads((out / "single_provenance.json").read_text(encoding="utf-8"))["batch"]
    written = pd.read_csv(out / "batch_summary.csv")
    assert list(written.columns[:3]) == ["input", "series", "stem"]
    assert sorted(written["series"].dropna().astype(int)) == [0, 1, 2]
    report = (out / "report.html").read_text(encoding="utf-8")
    for k in range(3):
        assert f"plate.ome.tif (series {k})" in report and f"report_files/plate_series{k}.png" in report

    again = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert set(again["status"]) == {"skipped"} and _rows(again)["plate_series2"] == (2, "skipped", 6)
    for path in out.glob("plate_series1_*"):
        path.unlink()
    third = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert dict(zip(third["stem"], third["status"])) == {
        "plate_series0": "skipped", "plate_series1": "ok", "plate_series2": "skipped", "preview": "skipped",
        "single": "skipped"}
    _square_labels(tifffile.imread(out / "plate_series1_labels.tif"), 1)
    forced = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False,
                       batch={"force": True})
    assert set(forced["status"]) == {"ok"} and _rows(forced)["plate_series2"] == (2, "ok", 6)


def test_series_option_reads_that_position_of_every_input_and_fails_an_input_without_it(tmp_path, capsys):
    """``labelfree batch --series N`` was an unknown option: it reads position N of every input into
    <stem>_seriesN (a file of one image too, as the pipeline commands' --series); an input without that
    position is a failed row listing the file's series, found before the input is read or hashed."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    _plate(folder / "plate.ome.tif")
    tifffile.imwrite(folder / "single.tif", _position(0), imagej=True, metadata={"axes": "TYX"})
    assert main(["batch", str(folder), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress",
                 "--series", "2"]) == 1
    printed = capsys.readouterr().out
    summary = pd.read_csv(out / "batch_summary.csv")
    rows = {r.stem: r for r in summary.itertuples()}
    assert set(rows) == {"plate_series2", "single_series2"}
    assert rows["plate_series2"].status == "ok" and rows["plate_series2"].n_objects == 6
    _square_labels(tifffile.imread(out / "plate_series2_labels.tif"), 2)
    failed = rows["single_series2"]
    assert failed.status == "failed" and pd.isna(failed.seconds)
    assert "has no image series 2 to segment: it holds 1 full-resolution image series, counted from 0 (index, " \
           "name: axes, shape): 0: TYX (2, 48, 56)" in failed.error, failed.error
    assert "single.tif (series 2)" in printed, printed
    assert not list(out.glob("plate_series0_*")) and not list(out.glob("single_series2_*"))
    assert main(["batch", str(folder / "single.tif"), "-p", "threshold", "-o", str(tmp_path / "o0"),
                 "--scheduler", "sync", "--no-progress", "-q", "--series", "0"]) == 0
    _square_labels(tifffile.imread(tmp_path / "o0" / "single_series0_labels.tif"), 0)


def test_a_manifest_series_column_chooses_per_file(tmp_path):
    """A manifest's ``series`` picks one position of a file (empty: every position, a ``name`` followed by
    _seriesN); a position that is not a whole number from 0 is refused with the entry named."""
    _plate(tmp_path / "plate.ome.tif")
    (tmp_path / "m.csv").write_text("path,name,series\nplate.ome.tif,,1\nplate.ome.tif,all,\n", encoding="utf-8")
    items = collect_inputs(tmp_path / "m.csv")
    assert [(it.stem, it.series) for it in items] == [
        ("plate_series1", 1), ("all_series0", 0), ("all_series1", 1), ("all_series2", 2)]
    # the manifest's series wins over the run's; the run's fills an entry without one
    (tmp_path / "n.yaml").write_text("- {path: plate.ome.tif, series: 0}\n- {path: plate.ome.tif, name: b}\n",
                                     encoding="utf-8")
    assert [(it.stem, it.series) for it in collect_inputs(tmp_path / "n.yaml", series=2)] == [
        ("plate_series0", 0), ("b", 2)]
    summary = run_batch(tmp_path / "m.csv", pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync",
                        progress=False)
    assert _rows(summary) == {"plate_series1": (1, "ok", 4), "all_series0": (0, "ok", 2),
                              "all_series1": (1, "ok", 4), "all_series2": (2, "ok", 6)}
    for value in ("-1", "1.5", "two"):
        (tmp_path / "bad.csv").write_text(f"path,series\nplate.ome.tif,{value}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"bad\.csv entry 1: series: expected the index of an image series"):
            collect_inputs(tmp_path / "bad.csv")


def test_the_positions_of_a_multi_file_ome_tiff_are_each_file_once(tmp_path):
    """One file per position (Micro-Manager), each with the OME metadata of all: each file is one input, its
    own position, as before (not every position of the acquisition once per file)."""
    from test_readers_series import _movie, _write_multi_file

    first, second = _movie(3, 0), _movie(3, 1, 2000)
    _write_multi_file(tmp_path, {"Pos0.ome.tif": first, "Pos1.ome.tif": second},
                      [("Pos0", 3, 0.1, [("Pos0.ome.tif", 0, 3)]), ("Pos1", 3, 0.2, [("Pos1.ome.tif", 0, 3)])])
    assert [s.index for s in image_series(tmp_path / "Pos1.ome.tif")] == [0, 1]
    assert [s.index for s in image_series(tmp_path / "Pos1.ome.tif", own=True)] == [1]
    assert [(it.stem, it.series) for it in collect_inputs(tmp_path)] == [("Pos0", None), ("Pos1", None)]


def _container(path, arrays) -> None:
    """A bioformats2raw container (``bioformats2raw.layout``, ``OME/`` listing the series) of one image per
    array, written as NGFF 0.4 images ``0``, ``1``, ... with their pixel sizes."""
    zarr = pytest.importorskip("zarr")
    from labelfree.image import to_dataarray
    from labelfree.io import write_ngff

    path.mkdir()
    for k, array in enumerate(arrays):
        write_ngff(path / str(k), to_dataarray(array, dims="TYX", scale={"X": POSITIONS[k][1], "Y": POSITIONS[k][1]}),
                   version="0.4")
    root = zarr.open_group(str(path), mode="a", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    root.require_group("OME").attrs["series"] = [str(k) for k in range(len(arrays))]


def test_a_bioformats2raw_container_is_one_input_per_series(tmp_path):
    """A batch over a bioformats2raw container of 3 series failed as one input ("give one series"): each series
    is an input, scan_seriesN, with its own pixel size; --series 1 reads series 1."""
    scan = tmp_path / "scan.ome.zarr"
    _container(scan, [_position(k) for k in range(3)])
    assert [(s.index, s.axes, s.shape) for s in image_series(scan)] == [
        (0, "TYX", (2, 48, 56)), (1, "TYX", (2, 56, 48)), (2, "TYX", (2, 64, 64))]
    out = tmp_path / "out"
    summary = run_batch(tmp_path, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert _rows(summary) == {"scan_series0": (0, "ok", 2), "scan_series1": (1, "ok", 4),
                              "scan_series2": (2, "ok", 6)}
    for k in range(3):
        labels = read_image(out / f"scan_series{k}_labels.tif")
        _square_labels(labels.values, k)
        assert scale_of(labels, "X") == pytest.approx(POSITIONS[k][1])
    one = run_batch(scan, pipeline="threshold", out_dir=tmp_path / "one", scheduler="sync", progress=False, series=1)
    assert _rows(one) == {"scan_series1": (1, "ok", 4)}


@pytest.mark.slow
def test_dask_chunked_and_tiled_runs_read_only_their_position(tmp_path, monkeypatch):
    """On an in-process Dask cluster, with frame chunks (each chunk task reads its frames) and with tiles, every
    read of the plate names the position of its input, and every position gives the labels of the sequential
    run."""
    pytest.importorskip("distributed")
    import labelfree.io

    folder = tmp_path / "in"
    folder.mkdir()
    _plate(folder / "plate.ome.tif", frames=5)
    reads = []
    real = labelfree.io.read_image

    def spy(path, /, **kwargs):
        if str(path).endswith("plate.ome.tif"):  # the input's reads (the report reads the label files too)
            reads.append(kwargs.get("series"))
        return real(path, **kwargs)

    monkeypatch.setattr(labelfree.io, "read_image", spy)
    sequential = run_batch(folder, pipeline="threshold", out_dir=tmp_path / "seq", scheduler="sync", progress=False)
    assert sorted(reads) == [0, 0, 1, 1, 2, 2]  # each position: its read, and its first plane for the report
    for how, batch in (("chunks", {"chunk_frames": 2}), ("tiles", {"tile": 32, "tile_overlap": 16})):
        reads.clear()
        out = tmp_path / how
        summary = run_batch(folder, pipeline="threshold", out_dir=out, progress=False,
                            batch=BatchConfig(processes=False, n_workers=1, **batch))
        assert _rows(summary) == _rows(sequential), how
        assert None not in reads and set(reads) == {0, 1, 2}, (how, reads)
        if how == "chunks":  # position 2: its frame count, its 3 chunks and its merge read it, each by its index
            assert reads.count(2) == 6, reads  # and the report's thumbnail
        else:
            record = json.loads((out / "plate_series2_provenance.json").read_text(encoding="utf-8"))
            assert record["tiles"]["tile"] == 32 and record["batch"]["series"] == 2
        for k in range(3):
            _square_labels(tifffile.imread(out / f"plate_series{k}_labels.tif"), k)
