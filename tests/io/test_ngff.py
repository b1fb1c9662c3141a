"""OME-Zarr (NGFF 0.4 / 0.5): round trips with calibration, lazy reads, label groups
that ome-zarr-py reads back, and images written by ome-zarr-py read by us."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from labelfree.errors import InputError, OutputExistsError
from labelfree.image import scale_of, to_dataarray, units_of
from labelfree.io import read_image, read_ngff, write_ngff, write_ngff_labels

zarr = pytest.importorskip("zarr")
dask_array = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def movie(shared_data):
    """4 real MSC frames (crop 200 x 240), 2 channels (the frame and its inverse), calibrated."""
    seq = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01"
    if not seq.is_dir():
        pytest.skip(f"{seq} is absent")
    frames = np.stack([tifffile.imread(seq / f"t{t:03d}.tif")[300:500, 200:440] for t in range(4)])
    data = np.stack([frames, frames.max() - frames], axis=1)
    return to_dataarray(data, dims="TCYX", scale={"T": 20.0, "Y": 0.3, "X": 0.3},
                        units={"T": "min", "Y": "µm", "X": "µm"}, origin={"Y": 90.0, "X": 60.0},
                        channel_names=["cells", "inverse"])


def test_every_unit_spelling_the_tiff_writer_takes_is_kept(tmp_path, caplog):
    """'um', 'micron', 'sec' were written without a unit (read back as pixel / frame, silently); a
    unit OME-Zarr cannot name is said."""
    x = np.zeros((2, 8, 8), np.uint16)
    for (space, time), (want_space, want_time) in {("um", "sec"): ("µm", "s"), ("micron", "s"): ("µm", "s"),
                                                   ("nm", "ms"): ("nm", "ms"), ("inch", "day"): ("inch", "day")}.items():
        da = to_dataarray(x, dims="TYX", scale={"T": 2.0, "Y": 0.5, "X": 0.5},
                          units={"T": time, "Y": space, "X": space})
        back = read_ngff(write_ngff(tmp_path / f"{space}.zarr", da))
        assert (units_of(back, "X"), units_of(back, "T")) == (want_space, want_time)
        assert scale_of(back, "X") == 0.5
    odd = to_dataarray(x, dims="TYX", units={"T": "frame", "Y": "furlong", "X": "furlong"})
    with caplog.at_level("WARNING", logger="labelfree.io.ngff"):
        back = read_ngff(write_ngff(tmp_path / "odd.zarr", odd))
    assert "the unit 'furlong' of axis Y is not one of the units OME-Zarr names" in caplog.text
    assert units_of(back, "X") == "pixel" and units_of(back, "T") == "frame"


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_round_trip_keeps_pixels_calibration_and_channels(movie, tmp_path, version):
    path = write_ngff(tmp_path / "movie.zarr", movie, version=version, chunks=(1, 1, 64, 64), levels=2)
    meta = (path / (".zattrs" if version == "0.4" else "zarr.json")).read_text()
    assert ("\"ome\"" in meta) == (version == "0.5")
    back = read_ngff(path)
    assert back.dims == ("T", "C", "Y", "X") and isinstance(back.data, dask_array.Array)
    assert back.data.chunks[-1][0] == 64  # read chunk by chunk as written
    np.testing.assert_array_equal(back.values, movie.values)
    for d in "TYX":
        assert scale_of(back, d) == pytest.approx(scale_of(movie, d))
        assert units_of(back, d) == units_of(movie, d)
        np.testing.assert_allclose(back.coords[d].values, movie.coords[d].values)
    assert list(back.coords["C"].values) == ["cells", "inverse"]
    assert back.attrs["ngff"]["version"] == version
    level1 = read_ngff(path, level=1)
    assert level1.shape[-2:] == (100, 120) and scale_of(level1, "X") == pytest.approx(0.6)
    same = read_image(path)  # the generic reader dispatches on the folder
    np.testing.assert_array_equal(same.values, movie.values)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_group_beside_the_image_reads_back_with_ome_zarr_py(movie, tmp_path, version):
    from labelfree.threshold import segment as threshold_segment

    labels = threshold_segment(movie.isel(C=0))
    image_path = write_ngff(tmp_path / "movie.zarr", movie, version=version)
    first = write_ngff_labels(image_path, labels, name="cells")
    write_ngff_labels(image_path, labels, name="again")
    assert first == image_path / "labels" / "cells"
    mine = read_ngff(first)
    np.testing.assert_array_equal(mine.values, labels.values)
    assert scale_of(mine, "X") == pytest.approx(0.3) and units_of(mine, "T") == "min"
    group = zarr.open_group(str(image_path / "labels"), mode="r")
    listed = group.attrs["ome"]["labels"] if version == "0.5" else group.attrs["labels"]
    assert listed == ["cells", "again"]
    with pytest.raises(OutputExistsError, match="already exists"):
        write_ngff_labels(image_path, labels, name="cells")

    ome_zarr_io = pytest.importorskip("ome_zarr.io")
    from ome_zarr.reader import Reader

    nodes = list(Reader(ome_zarr_io.parse_url(str(image_path)))())
    label_nodes = [n for n in nodes if any(type(s).__name__ == "Label" for s in n.specs)]
    assert {n.metadata["name"] for n in label_nodes} == {"cells", "again"}
    node = next(n for n in label_nodes if n.metadata["name"] == "cells")
    np.testing.assert_array_equal(np.asarray(node.data[0]), labels.values)
    assert [a["name"] for a in node.metadata["axes"]] == ["t", "y", "x"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_reads_images_written_by_ome_zarr_py(tmp_path, version):
    writer = pytest.importorskip("ome_zarr.writer")
    from ome_zarr.format import FormatV04, FormatV05

    fmt = FormatV04() if version == "0.4" else FormatV05()
    data = np.random.default_rng(0).integers(0, 4000, (2, 3, 50, 60), dtype=np.uint16)
    path = tmp_path / "theirs.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    writer.write_image(data, root, axes="czyx", fmt=fmt, scale={"c": 1.0, "z": 2.0, "y": 0.25, "x": 0.25},
                       axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
                       scale_factors=[{"y": 2, "x": 2}])
    back = read_image(path)
    assert back.dims == ("C", "Z", "Y", "X")
    np.testing.assert_array_equal(back.values, data)
    assert scale_of(back, "Z") == 2.0 and scale_of(back, "X") == 0.25 and units_of(back, "Y") == "µm"
    assert read_ngff(path, level=1).shape == (2, 3, 25, 30) and scale_of(read_ngff(path, level=1), "X") == 0.5


def test_lazy_read_touches_only_the_chunks_asked_for(tmp_path):
    img = to_dataarray(np.arange(400 * 400, dtype=np.uint16).reshape(400, 400))
    path = write_ngff(tmp_path / "big.zarr", img, chunks=(100, 100))
    back = read_image(path)
    chunk_files = sorted(p for p in (path / "0").rglob("*") if p.is_file() and not p.name.startswith("."))
    assert len(chunk_files) == 16 and chunk_files[0].relative_to(path / "0").as_posix() == "0/0"
    for f in chunk_files[1:]:  # only the first chunk stays readable
        f.write_bytes(b"broken")
    with pytest.raises(Exception):
        back[300:, 300:].values
    np.testing.assert_array_equal(back[:100, :100].values, img.values[:100, :100])


def test_bad_stores_give_clear_errors(tmp_path):
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(InputError, match="no NGFF 'multiscales'"):
        read_image(tmp_path / "plain.zarr")
    with pytest.raises(InputError, match="does not exist"):
        read_ngff(tmp_path / "missing.zarr")
    img = to_dataarray(np.zeros((10, 10), np.uint8))
    write_ngff(tmp_path / "a.zarr", img)
    with pytest.raises(OutputExistsError, match="already exists"):
        write_ngff(tmp_path / "a.zarr", img)
    with pytest.raises(InputError, match="version"):
        write_ngff(tmp_path / "b.zarr", img, version="0.3")
    for level in (1, "1", 0.0, True):  # a level given as text was a TypeError
        with pytest.raises(InputError, match=r"1 multiscale level\(s\), 0 to 0 .*level .* does not exist"):
            read_ngff(tmp_path / "a.zarr", level=level)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr", "plain.zarr"]  # nothing half-written


def test_provenance_travels_in_the_attributes(tmp_path):
    labels = to_dataarray(np.ones((5, 5), np.uint16), attrs={"labelfree": {"pipeline": "threshold"}})
    path = write_ngff(tmp_path / "l.zarr", labels, version="0.5")
    assert json.loads((path / "zarr.json").read_text())["attributes"]["ome"]["labelfree"]["pipeline"] == "threshold"


def test_missing_zarr_names_the_install_command():
    from labelfree._deps import install_hint

    assert install_hint("zarr") == 'pip install "labelfree[zarr]"  (or: pip install "zarr>=3,<3.2")'


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_eval_scores_ome_zarr_label_images(tmp_path, capsys, version):
    """`labelfree eval` of an OME-Zarr label image said it was 'not an OME-Zarr image (it has no multiscales
    metadata)', and an OME-Zarr ground truth was taken for a Cell Tracking Challenge folder."""
    from labelfree.cli import main

    truth = np.zeros((2, 20, 24), np.uint16)
    truth[:, 2:8, 3:9] = 1
    truth[1, 12:18, 14:20] = 2
    pred = truth.copy()
    pred[1, 12:18, 14:20] = 0  # one object missed
    image = to_dataarray(np.zeros((2, 20, 24), np.uint8), dims="TYX")
    write_ngff(tmp_path / "img.zarr", image, version=version)
    labels = write_ngff_labels(tmp_path / "img.zarr", to_dataarray(pred, dims="TYX"), name="cells")
    gt = write_ngff(tmp_path / "gt.ome.zarr", to_dataarray(truth, dims="TYX"), version=version)
    tifffile.imwrite(tmp_path / "gt.tif", truth, imagej=True, metadata={"axes": "TYX"})
    assert main(["eval", str(labels), str(tmp_path / "gt.tif"), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["tp"], first["fp"], first["fn"]) == (2, 0, 1)
    assert main(["eval", str(labels), str(gt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
