"""``labelfree batch --ome-zarr``: every input's labels also as ``<stem>_labels.ome.zarr``; a rerun skips the inputs
that have it and makes again those finished without it."""

from __future__ import annotations

import numpy as np

from batch_data import tiny_movie

from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.io import read_image, read_manifest


def _inputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        tiny_movie(src / f"m{i}.tif", seed=i)
    return src


def _run(src, out, **batch):
    return run_batch(src, pipeline="threshold", out_dir=out, scheduler="sync", progress=False, batch=batch)


def test_batch_ome_zarr_is_added_by_a_rerun_and_then_skipped(tmp_path):
    src, out = _inputs(tmp_path), tmp_path / "out"
    first = _run(src, out)
    assert list(first["status"]) == ["ok", "ok"] and list(first["ome_zarr"]) == ["", ""]
    assert not list(out.glob("*.ome.zarr"))
    # asked for on inputs finished without it: made again, with it (their own results: no --overwrite)
    second = _run(src, out, ome_zarr=True)
    assert list(second["status"]) == ["ok", "ok"]
    for stem in ("m0", "m1"):
        store = out / f"{stem}_labels.ome.zarr"
        assert second.set_index("stem").loc[stem, "ome_zarr"] == str(store)
        manifest = read_manifest(out, stem)
        assert manifest["outputs"]["ome_zarr"]["file"] == store.name
        back = read_image(store)
        assert back.dims == ("T", "Y", "X")
        assert np.array_equal(np.asarray(back), np.asarray(read_image(out / f"{stem}_labels.tif")))
    made = {stem: read_manifest(out, stem)["created"] for stem in ("m0", "m1")}
    # finished with it: skipped, whether asked for or not; the store stays listed in the summary
    for again in (_run(src, out, ome_zarr=True), _run(src, out)):
        assert list(again["status"]) == ["skipped", "skipped"]
        assert list(again["ome_zarr"]) == [str(out / "m0_labels.ome.zarr"), str(out / "m1_labels.ome.zarr")]
    assert {stem: read_manifest(out, stem)["created"] for stem in ("m0", "m1")} == made


def test_batch_cli_ome_zarr_option(tmp_path):
    src, out = _inputs(tmp_path), tmp_path / "out"
    assert main(["batch", str(src), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--ome-zarr",
                 "-q"]) == 0
    assert sorted(p.name for p in out.glob("*.ome.zarr")) == ["m0_labels.ome.zarr", "m1_labels.ome.zarr"]
    assert all(read_manifest(out, stem) is not None for stem in ("m0", "m1"))


def test_outputs_in_the_input_folder_are_no_inputs(tmp_path):
    src = _inputs(tmp_path)
    assert list(_run(src, src, ome_zarr=True)["status"]) == ["ok", "ok"]
    rerun = _run(src, src, ome_zarr=True)
    assert list(rerun["stem"]) == ["m0", "m1"] and list(rerun["status"]) == ["skipped", "skipped"]
