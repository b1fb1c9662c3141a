"""OME-Zarr as a user of large pyramids meets it: label images added to an input leave its batch state alone,
label pyramids follow the image's, one level of a pyramid is an input by its path, and output folders never
make or enter an OME-Zarr image."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from ngff_images import squares

from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.errors import InputError, InputOverwriteError, OutputError
from labelfree.image import scale_of, to_dataarray, units_of
from labelfree.io import OutputFolder, read_image, read_ngff, write_ngff, write_ngff_labels
from labelfree.io.ngff import is_ngff, ngff_fingerprint

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask.array")


def _image(tmp_path, version, *, levels=3, chunks=(32, 32), name="img.ome.zarr"):
    da = to_dataarray(squares(), dims="YX", scale={"Y": 0.5, "X": 0.5}, units={"Y": "µm", "X": "µm"})
    return write_ngff(tmp_path / name, da, version=version, levels=levels, chunks=chunks), da


def _labels(da, dtype=np.uint16):
    values = (da.values > 500).astype(dtype) * np.arange(1, da.size + 1, dtype=dtype).reshape(da.shape) % 60000
    return to_dataarray(values.astype(dtype), dims="YX", scale={"Y": 0.5, "X": 0.5}, units={"Y": "µm", "X": "µm"})


def _level_meta(path):
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    ms = (attrs.get("ome") or attrs)["multiscales"][0]
    return [(d["path"], d["coordinateTransformations"][0]["scale"], tuple(group[d["path"]].shape),
             tuple(group[d["path"]].chunks), group[d["path"]].dtype) for d in ms["datasets"]]


# -- 1. the fingerprint is the image's, not its label images' ------------------------------------------------------

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_image_added_to_an_input_leaves_its_fingerprint(tmp_path, version):
    """ngff_fingerprint walked labels/ too: adding a label image made a batch rerun take the input for changed.
    A store without labels keeps the fingerprint of the old definition (labels=True), so records of earlier runs
    still match."""
    path, da = _image(tmp_path, version)
    before = ngff_fingerprint(path)
    write_ngff_labels(path, _labels(da), name="cells2")
    assert ngff_fingerprint(path) == before
    without = path.with_name("copy.zarr")  # the same store without labels/: the fingerprint of the old definition
    os.rename(path / "labels", without)
    assert ngff_fingerprint(path, labels=True) == before
    os.rename(without, path / "labels")
    assert ngff_fingerprint(path, labels=True) != before  # the old definition saw the label image
    chunk = next(p for p in sorted((path / "0").rglob("*")) if p.is_file() and not p.name.startswith(".")
                 and p.name != "zarr.json")
    st = chunk.stat()
    os.utime(chunk, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a chunk of the image rewritten
    assert ngff_fingerprint(path) != before


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_batch_rerun_skips_an_input_that_got_a_label_image(tmp_path, version):
    """The explorer's run: batch, write_ngff_labels into the input, batch again: it stopped with 'earlier results
    ... that this run would replace: w04 (made with other inputs ...)'."""
    folder, out = tmp_path / "bin3", tmp_path / "out"
    folder.mkdir()
    path, da = _image(folder, version, name="w04.ome.zarr")
    first = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(first["status"]) == ["ok"] and int(first["n_objects"].iloc[0]) == 20
    write_ngff_labels(path, read_image(out / "w04_labels.tif"), name="cells2")
    again = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(again["status"]) == ["skipped"]


# -- 2. label pyramids follow the image's -----------------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_get_the_image_levels_factors_and_chunks(tmp_path, version):
    """write_ngff_labels wrote 1 level of 1024x1024 chunks beside an image of 3 levels and 32x32 chunks."""
    path, da = _image(tmp_path, version)
    labels = _labels(da)
    cells = write_ngff_labels(path, labels, name="cells")
    image_levels, label_levels = _level_meta(path), _level_meta(cells)
    assert [(s, shape, chunks) for _, s, shape, chunks, _ in label_levels] == [
        ([0.5, 0.5], (96, 120), (32, 32)), ([1.0, 1.0], (48, 60), (32, 32)), ([2.0, 2.0], (24, 30), (24, 30))]
    assert [level[1:4] for level in image_levels] == [level[1:4] for level in label_levels]
    for k in range(3):
        back = read_ngff(cells, level=k)
        np.testing.assert_array_equal(back.values, labels.values[::2 ** k, ::2 ** k])
        assert back.dtype == np.uint16 and scale_of(back, "X") == pytest.approx(0.5 * 2 ** k)
        assert units_of(back, "Y") == "µm"


def test_labels_follow_an_image_pyramid_of_factor_3_and_keep_their_dtype(tmp_path):
    """Another tool's pyramid (factor 3, floor sizes): the labels' levels have its factors and shapes."""
    img = to_dataarray(squares(100, 121), dims="YX", scale={"Y": 0.5, "X": 0.5}, units={"Y": "µm", "X": "µm"})
    path = write_ngff(tmp_path / "f3.zarr", img, chunks=(40, 40))
    group = zarr.open_group(str(path), mode="r+")
    group.create_array("1", shape=(33, 40), dtype=img.dtype, chunks=(40, 40),
                       chunk_key_encoding={"name": "v2", "separator": "/"})[...] = img.values[:99:3, :120:3]
    attrs = dict(group.attrs)
    attrs["multiscales"][0]["datasets"].append({"path": "1", "coordinateTransformations": [
        {"type": "scale", "scale": [1.5, 1.5]}]})
    group.attrs.update(attrs)
    labels = _labels(img, np.uint32)
    cells = write_ngff_labels(path, labels, name="cells")
    assert [(s, shape, chunks, dtype) for _, s, shape, chunks, dtype in _level_meta(cells)] == [
        ([0.5, 0.5], (100, 121), (40, 40), np.uint32), ([1.5, 1.5], (33, 40), (33, 40), np.uint32)]
    np.testing.assert_array_equal(read_ngff(cells, level=1).values, labels.values[:99:3, :120:3])


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_levels_and_chunks_given_override_the_image(tmp_path, version):
    path, da = _image(tmp_path, version)
    labels = _labels(da)
    one = write_ngff_labels(path, labels, name="one", levels=1, chunks=(64, 16))
    assert [(s, shape, chunks) for _, s, shape, chunks, _ in _level_meta(one)] == [([0.5, 0.5], (96, 120), (64, 16))]
    more = write_ngff_labels(path, labels, name="more", levels=4)  # beyond the image's 3: halved again
    assert [(s, shape) for _, s, shape, _, _ in _level_meta(more)] == [
        ([0.5, 0.5], (96, 120)), ([1.0, 1.0], (48, 60)), ([2.0, 2.0], (24, 30)), ([4.0, 4.0], (12, 15))]
    np.testing.assert_array_equal(read_ngff(more, level=3).values, labels.values[::8, ::8])
    with pytest.raises(InputError, match="chunks must give one size >= 1 per axis"):
        write_ngff_labels(path, labels, name="bad", chunks=(8,))
    assert not (path / "labels" / "bad").exists()


# -- 3. one level of a pyramid, by its path ---------------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_level_path_reads_that_level_with_its_scale(tmp_path, version):
    """read_image("img.zarr/1") failed: 'not a zarr group (ContainsArrayError ...)' (0.5) or was not taken for
    OME-Zarr at all (0.4: an array folder has only .zarray)."""
    path, da = _image(tmp_path, version)
    for k in range(3):
        assert is_ngff(path / str(k))
        back = read_image(path / str(k))
        np.testing.assert_array_equal(back.values, da.values[::2 ** k, ::2 ** k])
        assert scale_of(back, "X") == pytest.approx(0.5 * 2 ** k) and units_of(back, "X") == "µm"
        assert back.attrs["ngff"]["level"] == k and back.attrs["source"] == str(path / str(k))
    assert read_ngff(path / "2", level=2).shape == (24, 30)
    with pytest.raises(InputError, match=r"is level 1 of the OME-Zarr image .* give the image's folder with level=2"):
        read_ngff(path / "1", level=2)
    cells = write_ngff_labels(path, _labels(da), name="cells")
    assert read_image(cells / "1").shape == (48, 60)
    fp = ngff_fingerprint(path / "1")
    meta = path / (".zattrs" if version == "0.4" else "zarr.json")
    record = json.loads(meta.read_text())
    ms = (record.get("attributes", {}).get("ome") or record)["multiscales"][0]
    ms["datasets"][1]["coordinateTransformations"][0]["scale"] = [1.25, 1.25]  # the level's scale, in the image
    meta.write_text(json.dumps(record))
    assert scale_of(read_image(path / "1"), "X") == pytest.approx(1.25)
    assert ngff_fingerprint(path / "1") != fp
    loose = zarr.create_array(str(tmp_path / "loose"), shape=(4, 4), dtype="uint8")
    assert loose.shape == (4, 4)
    with pytest.raises(InputError, match="no OME-Zarr image above it lists as one of its multiscale levels"):
        read_ngff(tmp_path / "loose")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_the_command_line_segments_a_lower_level(tmp_path, version, capsys):
    path, _ = _image(tmp_path, version)
    assert main(["threshold", str(path / "1"), "-o", str(tmp_path / "X"), "-q"]) == 0
    labels = read_image(tmp_path / "X" / "img_1_labels.tif")  # the image and its level
    assert labels.shape == (48, 60) and scale_of(labels, "X") == pytest.approx(1.0)
    assert int(labels.values.max()) == 20


# -- 4./5. output folders neither enter nor make an OME-Zarr image ------------------------------------------------

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_output_folder_inside_another_ome_zarr_image_is_refused(tmp_path, version, capsys):
    a, _ = _image(tmp_path, version, name="a.ome.zarr")
    b, _ = _image(tmp_path, version, name="b.ome.zarr")
    listing = sorted(p.relative_to(b).as_posix() for p in b.rglob("*"))
    for target in (b / "newdir", b / "0" / "deep" / "er", b):
        with pytest.raises(InputOverwriteError, match=r"lies inside the OME-Zarr image .*b\.ome\.zarr: the TIFF"):
            OutputFolder(target).open()
    capsys.readouterr()
    assert main(["threshold", str(a), "-o", str(b / "newdir")]) == 1
    err = capsys.readouterr().err
    assert "lies inside the OME-Zarr image" in err and "write_ngff_labels" in err
    assert sorted(p.relative_to(b).as_posix() for p in b.rglob("*")) == listing


def test_a_new_output_folder_named_zarr_is_refused_and_nothing_is_made(tmp_path, capsys):
    a, _ = _image(tmp_path, "0.5", name="x.ome.zarr")
    for target in (tmp_path / "out" / "labels.ome.zarr", tmp_path / "new.ZARR" / "sub"):
        with pytest.raises(OutputError, match=r"holds TIFF, CSV, ZIP and JSON files, not an OME-Zarr image.*"
                                              r"write_ngff_labels.*docs/outputs\.md"):
            OutputFolder(target).open()
    capsys.readouterr()
    assert main(["threshold", str(a), "-o", str(tmp_path / "out" / "labels.ome.zarr")]) == 1
    assert "(CLI -o, " in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "new.ZARR").exists()
    old = tmp_path / "old.zarr"  # an existing folder of earlier outputs keeps working
    old.mkdir()
    with OutputFolder(old) as out:
        assert out.plan("x")["labels"] == old / "x_labels.tif"
