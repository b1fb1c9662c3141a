"""Batch runs over OME-Zarr HCS plates and wells: one input per field, ``<plate>_<row>_<col>_<field>``, fields the
metadata lists but the disk lacks and empty wells named in a warning; multi-file OME-TIFFs without false warnings."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelfree.batch import collect_inputs, run_batch
from labelfree.cli import main
from labelfree.errors import InputError

from test_hcs_plates import VERSIONS, field_image, write_multi_file, write_plate

#: wells of the test plate: A/2 lists a field 1 that is not on disk, B/1 lists no field
WELLS = {"A/1": ["0", "1"], "A/2": ["0", "1"], "B/1": []}
MISSING = ("A/2/1",)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("labelfree")]


def _run(inputs, out, **kwargs):
    return run_batch(inputs, pipeline="threshold", out_dir=out, scheduler="sync", progress=False, **kwargs)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_plate_is_one_input_per_field_named_after_plate_row_column_and_field(tmp_path, version, caplog):
    """``labelfree batch plate.zarr`` failed ("is an HCS plate of 2 well(s) ... give one field"): every field on
    disk is an input, ``plate_A_1_0`` ..., each segmented; the field listed but absent and the empty well are
    named in one warning each; a rerun skips the fields done."""
    plate = tmp_path / "plate.zarr"
    counts = write_plate(plate, version, WELLS, missing=MISSING)
    with caplog.at_level(logging.WARNING):
        items = collect_inputs(plate)
    assert [(it.stem, it.path.relative_to(plate).as_posix(), it.series) for it in items] == [
        ("plate_A_1_0", "A/1/0", None), ("plate_A_1_1", "A/1/1", None), ("plate_A_2_0", "A/2/0", None)]
    said = _warnings(caplog)
    assert len(said) == 2, said
    assert f"the HCS plate {plate} lists 1 field(s) that are not on disk, which are left out: A/2/1." in said[0]
    assert f"1 well(s) of the HCS plate {plate} list no fields" in said[1] and said[1].endswith("no inputs: B/1.")

    out = tmp_path / "out"
    summary = _run(plate, out)
    assert {r.stem: (r.status, int(r.n_objects)) for r in summary.itertuples()} == {
        f"plate_{f.replace('/', '_')}": ("ok", n) for f, n in counts.items()}
    for field, n in counts.items():
        labels = tifffile.imread(out / f"plate_{field.replace('/', '_')}_labels.tif")
        assert len(np.unique(labels)) - 1 == n and labels.shape == (48, 48)
    assert set(_run(plate, out)["status"]) == {"skipped"}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_well_is_one_input_per_field_and_a_field_keeps_its_stem_whatever_else_the_run_reads(tmp_path, version,
                                                                                               caplog):
    """A well (``plate.zarr/A/2``) failed as the plate did; and a field's stem hung on the other inputs of the run
    (``0`` alone, ``A_1_0`` beside field 0 of well A/2, which was ``2_0``)."""
    plate = tmp_path / "plate.zarr"
    write_plate(plate, version, WELLS, missing=MISSING)
    with caplog.at_level(logging.WARNING):
        assert [it.stem for it in collect_inputs(plate / "A" / "2")] == ["plate_A_2_0"]
    said = _warnings(caplog)
    assert len(said) == 1 and f"the HCS well {plate / 'A' / '2'} lists 1 field(s) that are not on disk, which are " \
                              "left out: 1." in said[0], said
    caplog.clear()
    with caplog.at_level(logging.WARNING), \
            pytest.raises(InputError, match=r"No inputs: the HCS plates or wells given .* hold no fields on disk"):
        collect_inputs(plate / "B" / "1")
    assert _warnings(caplog) == [f"batch: the HCS well {plate / 'B' / '1'} lists no fields (its 'well' metadata has "
                                 "no images): no input."]
    field = plate / "A" / "1" / "0"
    assert [it.stem for it in collect_inputs(field)] == ["plate_A_1_0"]
    assert [it.stem for it in collect_inputs([field, plate / "A" / "2" / "0"])] == ["plate_A_1_0", "plate_A_2_0"]
    # a plate and one of its wells: each field once
    assert [it.stem for it in collect_inputs([plate, plate / "A" / "1"])] == ["plate_A_1_0", "plate_A_1_1",
                                                                              "plate_A_2_0"]


@pytest.mark.parametrize("version", VERSIONS)
def test_plate_fields_beside_files_and_plates_of_one_name_in_two_folders(tmp_path, version):
    """Files keep their stems beside a plate; two plates of one name (two runs of a screen) are told apart by
    their folders (``run1_plate_A_1_0``), not by the fields' own folders (``0_plate_A_1_0``); a manifest name
    for a plate is followed by the field's path."""
    for run in ("run1", "run2"):
        (tmp_path / run).mkdir()
        write_plate(tmp_path / run / "plate.zarr", version, {"A/1": ["0"]})
    tifffile.imwrite(tmp_path / "run1" / "cells.tif", field_image(2))
    stems = [it.stem for it in collect_inputs([tmp_path / "run1", tmp_path / "run2" / "plate.zarr"])]
    assert stems == ["cells", "run1_plate_A_1_0", "run2_plate_A_1_0"]
    (tmp_path / "plates.csv").write_text("path,name\nrun1/plate.zarr,screen1\nrun2/plate.zarr/A/1,screen2\n",
                                         encoding="utf-8")
    assert [it.stem for it in collect_inputs(tmp_path / "plates.csv")] == ["screen1_A_1_0", "screen2_0"]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_command_on_one_field_and_the_batch_fill_one_folder(tmp_path, version, capsys):
    """A field segmented by the command, then the whole plate by a batch into the same folder: the batch's
    outputs of that field are the command's (one name, ``plate_A_1_1``: the batch asks before it replaces
    them), not a second set beside them."""
    plate = tmp_path / "plate.zarr"
    write_plate(plate, version, {"A/1": ["0", "1"]})
    out = tmp_path / "out"
    assert main(["threshold", str(plate / "A" / "1" / "1"), "-o", str(out), "-q"]) == 0
    first = tifffile.imread(out / "plate_A_1_1_labels.tif")
    batch = ["batch", str(plate), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress", "-q"]
    capsys.readouterr()
    assert main(batch) != 0
    assert "earlier results in" in capsys.readouterr().err
    assert main([*batch, "--overwrite"]) == 0
    summary = pd.read_csv(out / "batch_summary.csv")
    assert dict(zip(summary["stem"], summary["status"])) == {"plate_A_1_0": "ok", "plate_A_1_1": "ok"}
    assert sorted(p.name for p in out.glob("*_labels.tif")) == ["plate_A_1_0_labels.tif", "plate_A_1_1_labels.tif"]
    np.testing.assert_array_equal(tifffile.imread(out / "plate_A_1_1_labels.tif"), first)


def test_the_files_of_a_multi_file_ome_tiff_run_without_false_warnings(tmp_path, caplog):
    """``labelfree batch data_mf`` read each file's own position but warned for each "holds 3 images ... reads
    only image 2 ... and ignores the others": no warning, each file its own position."""
    positions = [np.stack([field_image(k + 1), field_image(k + 1) // 2]) for k in range(3)]
    names = write_multi_file(tmp_path, positions)
    with caplog.at_level(logging.WARNING):
        summary = _run(tmp_path, tmp_path / "out", channels=["DAPI"])
    assert _warnings(caplog) == []
    assert {r.stem: (r.status, int(r.n_objects)) for r in summary.itertuples()} == {
        name.removesuffix(".ome.tif"): ("ok", k + 1) for k, name in enumerate(names)}
    assert (summary["warnings"].fillna("") == "").all(), list(summary["warnings"])


def test_the_ground_truth_of_a_field_is_its_own_not_that_of_every_field_of_its_number(tmp_path):
    """Every field 0 of a plate was matched to a ground truth ``0.tif`` (its folder's name): a field's ground truth
    is that of its own stem (``plate_A_1_0.tif``) only."""
    from labelfree.batch.truth import find_truths

    plate = tmp_path / "plate.zarr"
    write_plate(plate, VERSIONS[0], WELLS, missing=MISSING)
    truth = tmp_path / "truth"
    truth.mkdir()
    for name in ("0.tif", "plate_A_1_0.tif"):
        tifffile.imwrite(truth / name, np.zeros((48, 48), np.uint16))
    found = find_truths(truth, collect_inputs(plate))
    assert {stem: path.name for stem, path in found.items()} == {"plate_A_1_0": "plate_A_1_0.tif"}


def test_a_set_a_single_command_made_is_named_as_such_when_batch_will_not_replace_it(tmp_path):
    """The refusal said "made with other inputs, options or version" of a set that the command made with the same
    ones: it is a single run's set (no batch record), which batch does not replace without --overwrite."""
    from labelfree.errors import OutputExistsError

    plate = tmp_path / "plate.zarr"
    write_plate(plate, VERSIONS[0], WELLS, missing=MISSING)
    out = tmp_path / "out"
    assert main(["threshold", str(plate / "A" / "1" / "0"), "-o", str(out), "-q"]) == 0
    with pytest.raises(OutputExistsError, match=r"plate_A_1_0 \(written by a single run \(labelfree threshold, "
                                                r"Fiji or Python\), not by batch\)"):
        _run(plate, out)
    assert set(_run(plate, out, batch={"overwrite": True})["status"]) == {"ok"}
    assert set(_run(plate, out)["status"]) == {"skipped"}
