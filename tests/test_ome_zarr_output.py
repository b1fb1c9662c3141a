"""The labels as OME-Zarr, an output of the set: ``labelfree <pipeline> IMAGE -o OUT --ome-zarr`` writes
``<stem>_labels.ome.zarr`` (a standalone label image), published whole with the set and listed in its manifest."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import tifffile
import xarray as xr
from ngff_images import squares
from traced_memory import traced_peak

from labelfree.cli import main
from labelfree.errors import OutputError
from labelfree.image import scale_of, to_dataarray, units_of
from labelfree.io import read_image, read_manifest, write_ngff, write_outputs
from labelfree.io.ngff.label_image import pyramid_levels, write_label_image

zarr = pytest.importorskip("zarr")


def _cells(path, *, pixel=0.5):
    """The squares image as a calibrated ImageJ TIFF (``pixel`` µm)."""
    tifffile.imwrite(path, squares(), imagej=True, resolution=(1 / pixel, 1 / pixel), metadata={"unit": "um"})
    return path


def output_digest(path):
    """:func:`labelfree.io.outputs.output_digest`, imported when a test runs."""
    from labelfree.io.outputs import output_digest as digest

    return digest(path)


def _attrs(store):
    return json.loads((store / ".zattrs").read_text())


def test_cli_writes_the_labels_as_ome_zarr_that_read_back_exactly(tmp_path, capsys):
    image = _cells(tmp_path / "cells.tif")
    out = tmp_path / "out"
    assert main(["threshold", str(image), "-o", str(out), "--ome-zarr", "-q"]) == 0
    store = out / "cells_labels.ome.zarr"
    tiff = read_image(out / "cells_labels.tif")
    back = read_image(store)
    assert back.dims == ("Y", "X") and back.dtype == np.uint16
    assert np.array_equal(np.asarray(back), np.asarray(tiff))
    assert len(np.unique(np.asarray(back))) == 21  # 20 squares and the background
    assert scale_of(back, "X") == scale_of(tiff, "X") == 0.5 and scale_of(back, "Y") == 0.5
    assert units_of(back, "X") == "µm"
    attrs = _attrs(store)
    assert attrs["image-label"] == {"version": "0.4"}  # ome-zarr tooling takes it for labels
    assert attrs["multiscales"][0]["version"] == "0.4" and len(attrs["multiscales"][0]["datasets"]) == 1
    assert attrs["labelfree"]["pipeline"] == "threshold"
    manifest = read_manifest(out, "cells")  # every output verifies, the folder too
    assert manifest is not None
    size, sha = output_digest(store)
    assert manifest["outputs"]["ome_zarr"] == {"file": "cells_labels.ome.zarr", "bytes": size, "sha256": sha}
    assert not (out / ".labelfree-staging").exists()
    # labelfree eval takes it where it takes a label TIFF
    assert main(["eval", str(store), str(out / "cells_labels.tif"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == 1.0


def test_a_change_inside_the_store_makes_the_set_incomplete(tmp_path):
    out = tmp_path / "out"
    assert main(["threshold", str(_cells(tmp_path / "cells.tif")), "-o", str(out), "--ome-zarr", "-q"]) == 0
    assert read_manifest(out, "cells") is not None
    chunk = next(p for p in (out / "cells_labels.ome.zarr" / "0").rglob("*") if p.is_file() and p.name != ".zarray")
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    chunk.write_bytes(bytes(data))
    assert read_manifest(out, "cells", verify=False) is not None  # sizes agree
    assert read_manifest(out, "cells") is None


def test_rerun_refuses_then_replaces_with_overwrite_and_drops_it_when_not_asked(tmp_path, capsys):
    image = _cells(tmp_path / "cells.tif")
    out = tmp_path / "out"
    assert main(["threshold", str(image), "-o", str(out), "-q"]) == 0
    # asking for it on a finished set: refused, as --overlay is, nothing changed
    assert main(["threshold", str(image), "-o", str(out), "--ome-zarr", "-q"]) == 1
    assert "cells_labels.tif exists (a complete earlier result)" in capsys.readouterr().err
    assert not (out / "cells_labels.ome.zarr").exists()
    assert main(["threshold", str(image), "-o", str(out), "--ome-zarr", "--overwrite", "-q"]) == 0
    assert "ome_zarr" in read_manifest(out, "cells")["outputs"]
    assert main(["threshold", str(image), "-o", str(out), "--ome-zarr", "-q"]) == 1  # an existing store too
    assert "exists" in capsys.readouterr().err
    # a set replaces the earlier one whole: the store it no longer writes goes
    assert main(["threshold", str(image), "-o", str(out), "--overwrite", "-q"]) == 0
    assert not (out / "cells_labels.ome.zarr").exists()
    assert "ome_zarr" not in read_manifest(out, "cells")["outputs"]


def test_overwrite_never_replaces_a_folder_that_is_no_zarr_store(tmp_path, capsys):
    image = _cells(tmp_path / "cells.tif")
    out = tmp_path / "out"
    mine = out / "cells_labels.ome.zarr"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    assert main(["threshold", str(image), "-o", str(out), "--ome-zarr", "--overwrite", "-q"]) == 1
    assert "LabelFree replaces only an earlier OME-Zarr store there" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "mine" and not (out / "cells_labels.tif").exists()


def test_a_failed_publication_puts_the_earlier_store_back(tmp_path, monkeypatch):
    import labelfree.io.outputs as outputs

    labels = to_dataarray(np.kron(np.arange(1, 7).reshape(2, 3), np.ones((8, 8), int)).astype(np.uint16), dims="YX")
    writer = {"ome_zarr": lambda path: write_label_image(path, labels)}
    write_outputs(tmp_path, labels, stem="x", extras=writer)
    store = tmp_path / "x_labels.ome.zarr"
    before = output_digest(store)

    write_text = outputs.write_text_atomic

    def broken(path, text):
        if path.name.endswith("_provenance.json"):
            raise OSError(28, "No space left on device")
        write_text(path, text)

    monkeypatch.setattr(outputs, "write_text_atomic", broken)  # the manifest, written last, fails
    with pytest.raises(OutputError, match="Cannot publish the outputs of x"):
        write_outputs(tmp_path, labels * 2, stem="x", extras=writer, overwrite=True)
    monkeypatch.undo()
    assert output_digest(store) == before
    assert read_manifest(tmp_path, "x") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_labels.ome.zarr", "x_labels.tif", "x_provenance.json",
                                                         "x_rois.zip", "x_table.csv"]


def test_pyramid_of_a_big_image_keeps_the_ids(tmp_path):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 70000, (3, 100, 70)).astype(np.uint32)  # ids above 65535: uint32, as they are
    labels = to_dataarray(xr.DataArray(ids, dims=list("TYX")), scale={"T": 5.0, "Y": 0.25, "X": 0.25},
                          units={"T": "s", "Y": "µm", "X": "µm"})
    assert pyramid_levels(labels, size=100) == 1 and pyramid_levels(labels, size=30) == 3
    store = write_label_image(tmp_path / "x_labels.ome.zarr", labels, pyramid_size=30, chunks=(1, 16, 16))
    group = zarr.open_group(str(store), mode="r")
    datasets = _attrs(store)["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"] for d in datasets] == [[5.0, 0.25, 0.25], [5.0, 0.5, 0.5],
                                                                            [5.0, 1.0, 1.0]]
    for k in range(3):
        level = np.asarray(group[str(k)][...])
        assert level.dtype == np.uint32 and group[str(k)].chunks == (1, 16, 16)[:1] + tuple(
            min(16, n) for n in level.shape[1:])
        assert np.array_equal(level, ids[:, :: 2 ** k, :: 2 ** k])  # every 2**k-th label: never a new id
    back = read_image(store)
    assert back.dims == ("T", "Y", "X") and np.array_equal(np.asarray(back), ids)
    assert scale_of(back, "T") == 5.0 and scale_of(back, "Y") == 0.25


def test_writing_holds_no_copy_of_the_labels(tmp_path):
    labels = to_dataarray((np.arange(4096 * 4096, dtype=np.uint32).reshape(4096, 4096) // 97) % 60000, dims="YX")
    write_label_image(tmp_path / "warm.ome.zarr", labels[:64, :64])  # imports and caches before measuring
    _, peak = traced_peak(write_label_image, tmp_path / "x.ome.zarr", labels, pyramid_size=512)
    assert peak < labels.nbytes / 4  # the labels: 64 MiB as uint32; a uint16 copy of them would be 32 MiB
    assert np.array_equal(np.asarray(read_image(tmp_path / "x.ome.zarr")), np.asarray(labels))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_tooling_opens_it_as_labels(tmp_path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    labels = to_dataarray(np.kron(np.arange(12).reshape(3, 4), np.ones((10, 10), int)).astype(np.uint16), dims="YX")
    store = write_label_image(tmp_path / "x_labels.ome.zarr", labels, version=version, levels=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        node = list(Reader(parse_url(str(store)))())[0]
    assert any(isinstance(spec, Label) for spec in node.specs)
    assert np.array_equal(np.asarray(node.data[1]), np.asarray(labels)[::2, ::2])
    models = pytest.importorskip("ome_zarr_models")
    assert type(models.open_ome_zarr(zarr.open_group(str(store), mode="r"))).__name__ == "ImageLabel"


def test_tiled_run_of_an_ome_zarr_image(tmp_path):
    """The big-data path: an OME-Zarr input read lazily, segmented in tiles; its labels as OME-Zarr keep its
    pixel sizes, and a small pyramid threshold is not needed to check the levels (covered above)."""
    image = to_dataarray(np.tile(squares(), (2, 2)), dims="YX", scale={"Y": 0.4, "X": 0.4},
                         units={"Y": "µm", "X": "µm"})
    src = write_ngff(tmp_path / "big.ome.zarr", image, chunks=(64, 64))
    out = tmp_path / "out"
    assert main(["threshold", str(src), "-o", str(out), "--tile", "96", "--tile-overlap", "16", "--ome-zarr",
                 "-q"]) == 0
    back = read_image(out / "big_labels.ome.zarr")
    assert np.array_equal(np.asarray(back), np.asarray(read_image(out / "big_labels.tif")))
    assert len(np.unique(np.asarray(back))) == 81
    assert scale_of(back, "X") == pytest.approx(0.4) and units_of(back, "Y") == "µm"
    assert read_manifest(out, "big")["outputs"]["ome_zarr"]["file"] == "big_labels.ome.zarr"


def test_what_is_no_label_image_is_refused_before_any_store(tmp_path):
    from labelfree.errors import DimensionError, DTypeError

    with pytest.raises(DTypeError, match="a label image holds integer ids >= 0"):
        write_label_image(tmp_path / "a.ome.zarr", np.array([[0, -1], [2, 3]]))
    with pytest.raises(DimensionError, match="no C axis"):
        write_label_image(tmp_path / "b.ome.zarr", to_dataarray(np.zeros((2, 8, 8), np.uint16), dims="CYX"))
    assert list(tmp_path.iterdir()) == []


def test_the_labels_store_is_taken_as_markers_as_the_label_tiff_is(tmp_path):
    """A run's ``<stem>_labels.ome.zarr`` given as Cutter's markers (``--markers out/x_labels.ome.zarr``) is read as
    the label image it holds (it was taken for a Cell Tracking Challenge TRA folder: "holds no CTC marker files")."""
    from labelfree.io.markers import read_markers

    image = _cells(tmp_path / "cells.tif")
    assert main(["threshold", str(image), "-o", str(tmp_path / "out"), "--ome-zarr", "-q"]) == 0
    truth = tifffile.imread(tmp_path / "out" / "cells_labels.tif")
    markers = read_markers(tmp_path / "out" / "cells_labels.ome.zarr", shape=truth.shape)
    assert markers.shape == truth.shape and np.array_equal(markers, truth) and markers.max() > 1
    with pytest.raises(Exception, match=r"must match the image, \(2, 5, 5\)"):
        read_markers(tmp_path / "out" / "cells_labels.ome.zarr", shape=(2, 5, 5))
