import json
import os

import numpy as np
import pandas as pd
import pytest

from labelfree.errors import DimensionError, InputError, OutputError
from labelfree.io import read_image, read_provenance, read_rois, rois_to_labels, write_outputs, write_table
from labelfree.io import tables as tables_module


def test_write_outputs_four_files_consistent(tmp_path, calibrated_tzyx):
    image = calibrated_tzyx.astype(np.float32) * 10 + 1
    paths = write_outputs(tmp_path / "out" / "deep", calibrated_tzyx, image=image, stem="cells")
    assert {k: p.name for k, p in paths.items()} == {
        "labels": "cells_labels.tif", "rois": "cells_rois.zip",
        "table": "cells_table.csv", "provenance": "cells_provenance.json",
    }
    assert sorted(os.listdir(paths["labels"].parent)) == sorted(p.name for p in paths.values())
    labels = read_image(paths["labels"])
    assert np.array_equal(labels.values, calibrated_tzyx.values)
    rois = read_rois(paths["rois"])
    table = pd.read_csv(paths["table"])
    assert len(rois) == 11 and len(table) == 8  # ROIs per plane, the table of a z-stack per 3-D object
    assert np.array_equal(rois_to_labels(rois, shape=labels.shape, dims="TZYX"), labels.values)
    row = table[(table.label == 7) & (table.frame == 0)].iloc[0]
    assert row["volume"] == pytest.approx((15 * 20 - 25) * 0.65**2 * 2.0, rel=1e-5)
    assert (row["z_first"], row["z_last"], row["mean_intensity"]) == (1, 1, pytest.approx(71.0))
    record = json.loads(paths["provenance"].read_text())
    assert record["pipeline"] == "threshold" and record["config"] == {"min_size": 20}
    assert record["table_units"]["volume"] == "µm³"
    # the sidecar is the manifest: the provenance embedded in the TIFF, plus every other file's hash
    manifest = {k: v for k, v in record.items() if k not in ("outputs", "complete")}
    assert read_provenance(paths["labels"]) == manifest and record["complete"] is True
    assert {k: v["file"] for k, v in record["outputs"].items()} == {
        "labels": "cells_labels.tif", "rois": "cells_rois.zip", "table": "cells_table.csv"}


def test_write_table_atomic_csv(tmp_path):
    path = write_table(tmp_path / "t.csv", {"label": [1, 2], "area": [1.5, 1 / 3]})
    assert path.read_text() == "label,area\n1,1.5\n2,0.333333\n"
    with pytest.raises(InputError, match="DataFrame"):
        write_table(tmp_path / "u.csv", 5)
    assert sorted(os.listdir(tmp_path)) == ["t.csv"]


def test_failure_leaves_no_output_and_no_temp(tmp_path, calibrated_tzyx, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "cells_table.csv").write_text("old\n")

    def broken(path, table):
        with open(path, "w") as fh:
            fh.write("label,ar")  # half a table ...
        raise OSError("disk full")  # ... after labels and ROIs were written

    monkeypatch.setattr(tables_module, "_write_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(out, calibrated_tzyx, stem="cells", overwrite=True)
    assert os.listdir(out) == ["cells_table.csv"]
    assert (out / "cells_table.csv").read_text() == "old\n"


def test_write_outputs_bad_input(tmp_path):
    with pytest.raises(InputError, match="not a plain file-name prefix"):
        write_outputs(tmp_path, np.zeros((3, 3), np.uint8), stem="a/b")
    with pytest.raises(DimensionError, match="to_dataarray"):
        write_outputs(tmp_path, np.zeros((2, 3, 3), np.uint8))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_outputs(blocker, np.zeros((3, 3), np.uint8))
    with pytest.raises(DimensionError, match="image"):
        write_outputs(tmp_path / "o", np.zeros((3, 3), np.uint8), image=np.zeros((4, 4)))
    assert not (tmp_path / "o").exists() or os.listdir(tmp_path / "o") == []


def test_an_odd_input_name_gives_a_plain_stem_and_a_given_stem_must_be_plain(tmp_path, capsys):
    """A file named ' lead.tif' (or '.hidden.tif') was refused by the single-image command and by
    write_outputs, as if the user had given that stem; batch runs already made such names plain."""
    import tifffile

    from labelfree.cli import main

    image = np.zeros((32, 32), np.uint16)
    image[8:20, 8:20] = 1000
    for name, stem in ((" lead.tif", "lead"), (".hidden.tif", "hidden"), ("scan .tif", "scan")):
        path = tmp_path / name
        tifffile.imwrite(path, image)
        assert main(["threshold", str(path), "-o", str(tmp_path / "cli" / stem), "-q"]) == 0, capsys.readouterr().err
        assert (tmp_path / "cli" / stem / f"{stem}_labels.tif").is_file()
        paths = write_outputs(tmp_path / "api" / stem, (read_image(path) > 0).astype(np.uint8), image=read_image(path))
        assert paths["labels"].name == f"{stem}_labels.tif"
    assert main(["threshold", str(tmp_path / " lead.tif"), "-o", str(tmp_path / "given"), "--stem", " lead"]) == 1
    assert "not a plain file-name prefix" in capsys.readouterr().err  # what the user chose is not changed
    assert not (tmp_path / "given").exists()
