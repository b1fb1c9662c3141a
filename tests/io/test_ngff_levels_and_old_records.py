"""OME-Zarr follow-ups: a level's folder (``big.ome.zarr/s1``) names its outputs after the image and lists as one
series, that level; a batch result recorded when an input's fingerprint still counted its label images is skipped
as finished, not refused as made "with other inputs"."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ngff_images import squares

import labelfree.io.ngff as ngff
from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.errors import InputError, OutputExistsError
from labelfree.image import scale_of, to_dataarray
from labelfree.io import SeriesInfo, image_series, output_stem, read_image, write_ngff, write_ngff_labels
from labelfree.io.ngff import ngff_fingerprint

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask.array")


def _image(folder, version, name="big4096.ome.zarr"):
    da = to_dataarray(squares(), dims="YX", scale={"Y": 0.5, "X": 0.5}, units={"Y": "µm", "X": "µm"})
    return write_ngff(folder / name, da, version=version, levels=3, chunks=(32, 32)), da


def _name_levels(path, version):
    """Rename the level arrays 0, 1, 2 to s0, s1, s2 (as bioformats2raw and ome-zarr-py name them)."""
    meta = path / (".zattrs" if version == "0.4" else "zarr.json")
    record = json.loads(meta.read_text())
    ms = (record.get("attributes", {}).get("ome") or record)["multiscales"][0]
    for dataset in ms["datasets"]:
        (path / dataset["path"]).rename(path / f"s{dataset['path']}")
        dataset["path"] = f"s{dataset['path']}"
    meta.write_text(json.dumps(record))
    return path


# -- the stem of a level's folder --------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_level_folder_gives_the_image_stem_and_the_level(tmp_path, version, monkeypatch):
    """output_stem("big4096.ome.zarr/s1") was "s1" (outputs s1_labels.tif, the same for every image's level)."""
    path = _name_levels(_image(tmp_path, version)[0], version)
    assert output_stem(path) == "big4096" and output_stem(f"{path}/") == "big4096"  # the image itself: as before
    assert [output_stem(path / f"s{k}") for k in range(3)] == ["big4096_s0", "big4096_s1", "big4096_s2"]
    assert output_stem(f"{path / 's1'}/") == "big4096_s1"
    monkeypatch.chdir(path / "s1")
    assert output_stem(".") == "big4096_s1"
    monkeypatch.chdir(tmp_path)
    assert output_stem("big4096.ome.zarr/s1") == "big4096_s1"  # relative
    cells = write_ngff_labels(path, to_dataarray(np.zeros((96, 120), np.uint16), dims="YX"), name="cells")
    assert output_stem(cells) == "cells" and output_stem(cells / "1") == "cells_1"  # a label image's level
    loose = zarr.create_array(str(tmp_path / "loose"), shape=(4, 4), dtype="uint8")
    assert loose.shape == (4, 4) and output_stem(tmp_path / "loose") == "loose"  # no image's level: its name
    assert output_stem(tmp_path / "nothing_here") == "nothing_here"


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_the_command_line_names_a_level_s_outputs_after_the_image(tmp_path, version):
    """labelfree threshold big4096.ome.zarr/s1 -o out wrote out/s1_labels.tif."""
    path = _name_levels(_image(tmp_path, version)[0], version)
    out = tmp_path / "out"
    assert main(["threshold", str(path / "s1"), "-o", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.glob("*_labels.tif")) == ["big4096_s1_labels.tif"]
    labels = read_image(out / "big4096_s1_labels.tif")
    assert labels.shape == (48, 60) and scale_of(labels, "X") == pytest.approx(1.0)
    assert int(labels.values.max()) == 20
    assert main(["threshold", str(path / "s1"), "-o", str(out), "-q", "--stem", "mine"]) == 0  # --stem still rules
    assert (out / "mine_labels.tif").is_file()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_batch_of_a_level_folder_segments_that_level_named_after_the_image(tmp_path, version):
    """labelfree batch big4096.ome.zarr/s1 took the level's folder for a folder of images ("holds no image files"),
    and a level in a batch was named after its folder alone (s1)."""
    path = _name_levels(_image(tmp_path, version)[0], version)
    out = tmp_path / "out"
    assert main(["batch", str(path / "s1"), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "-q"]) == 0
    labels = read_image(out / "big4096_s1_labels.tif")
    assert labels.shape == (48, 60) and int(labels.values.max()) == 20


# -- the series of a level's folder ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_image_series_of_a_level_folder_is_that_level(tmp_path, version):
    """image_series("img.zarr/s1") raised InputError "... is not a zarr group"."""
    path = _name_levels(_image(tmp_path, version)[0], version)
    assert image_series(path) == [SeriesInfo(0, "big4096", "YX", (96, 120))]
    for k, shape in enumerate([(96, 120), (48, 60), (24, 30)]):
        assert image_series(path / f"s{k}") == [SeriesInfo(0, "big4096", "YX", shape)]
    assert image_series(path / "s1", own=True) == [SeriesInfo(0, "big4096", "YX", (48, 60))]
    loose = zarr.create_array(str(tmp_path / "loose"), shape=(4, 4), dtype="uint8")
    assert loose.shape == (4, 4)
    with pytest.raises(InputError, match="no OME-Zarr image above it lists as one of its multiscale levels"):
        image_series(tmp_path / "loose")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_batch_series_missing_from_a_level_folder_fails_before_reading(tmp_path, version):
    """A manifest's series 1 of a level's folder: its one series is listed before the run (the listing failed
    before, and the run failed only when it read the input)."""
    path = _name_levels(_image(tmp_path, version)[0], version)
    manifest = tmp_path / "inputs.csv"
    manifest.write_text(f"path,series\n{path / 's1'},1\n{path / 's1'},0\n")
    summary = run_batch(manifest, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False)
    assert list(summary["status"]) == ["failed", "ok"] and int(summary["n_objects"].iloc[1]) == 20
    assert "has no image series 1 to segment: it holds 1 full-resolution image series" in summary["error"].iloc[0]
    assert "0 'big4096': YX (48, 60)" in summary["error"].iloc[0]


# -- batch records made when labels/ still counted ---------------------------------------------------------------

def _old_definition(monkeypatch):
    """Make batch runs fingerprint OME-Zarr inputs as LabelFree did before labels/ was left out."""
    real = ngff.ngff_fingerprint
    monkeypatch.setattr(ngff, "ngff_fingerprint", lambda path, labels=False: real(path, labels=True))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_result_recorded_with_labels_counted_is_skipped(tmp_path, version, monkeypatch):
    """A store that held a label image when its results were made: the rerun stopped with "earlier results ...
    that this run would replace: w04 (made with other inputs, options or version)"."""
    folder, out = tmp_path / "plate", tmp_path / "out"
    folder.mkdir()
    path, da = _image(folder, version, name="w04.ome.zarr")
    write_ngff_labels(path, to_dataarray((da.values > 500).astype(np.uint16), dims="YX"), name="mask")
    assert ngff_fingerprint(path, labels=True) != ngff_fingerprint(path)
    with monkeypatch.context() as m:
        _old_definition(m)
        first = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert list(first["status"]) == ["ok"] and int(first["n_objects"].iloc[0]) == 20
    record = (out / "w04_provenance.json").read_bytes()
    for _ in range(2):  # the record is left as it is, and the next rerun compares it the same way
        again = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
        assert list(again["status"]) == ["skipped"] and int(again["n_objects"].iloc[0]) == 20
        assert (out / "w04_provenance.json").read_bytes() == record
    forced = run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False,
                       batch={"force": True})
    assert list(forced["status"]) == ["ok"]  # --force redoes it (and records the fingerprint of today)
    assert json.loads((out / "w04_provenance.json").read_text())["batch"]["fingerprint"] != json.loads(record)[
        "batch"]["fingerprint"]
    assert list(run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync",
                          progress=False)["status"]) == ["skipped"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_old_record_of_a_changed_store_is_still_an_earlier_result(tmp_path, version, monkeypatch):
    """The old definition only vouches for the store it saw: a label image added since, or another config, is
    not skipped (refused without --overwrite, as before)."""
    folder, out = tmp_path / "plate", tmp_path / "out"
    folder.mkdir()
    path, da = _image(folder, version, name="w04.ome.zarr")
    mask = to_dataarray((da.values > 500).astype(np.uint16), dims="YX")
    write_ngff_labels(path, mask, name="mask")
    with monkeypatch.context() as m:
        _old_definition(m)
        assert list(run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync",
                              progress=False)["status"]) == ["ok"]
    with pytest.raises(OutputExistsError, match=r"w04 \(made with other inputs, options or version\)"):
        run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False,
                  config={"min_size": 3})
    write_ngff_labels(path, mask, name="again")  # a label image added after the old record: it does not vouch
    with pytest.raises(OutputExistsError, match=r"w04 \(made with other inputs, options or version\)"):
        run_batch(folder, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
