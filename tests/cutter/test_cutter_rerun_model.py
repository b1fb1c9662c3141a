"""A Cutter run repeated from its provenance record applies the saved model that run applied.

The record of a run given ``--model-file`` names the file and its sha256; given as ``--config`` (or as
``run_pipeline(config=...)``) the rerun applies that file when no model is given, instead of training a
new model on the image. A missing or changed file stops the run with one error saying so and what to do;
a model given wins; a record of a run that trained (and saved) its model trains again.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from cutter_synth import two_channel_cells

from labelfree.cli import main
from labelfree.errors import ModelFileError

#: a tiny network and a short training: a model in about a second
TINY = {"width": 8, "crop_size": 32, "n_steps": 6, "cell_fraction": 0.24, "mask_signal": "intensity"}


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """An image file, two saved models (m1, m2), and a command-line run that applied m1 (out1)."""
    from labelfree.cutter import segment
    from labelfree.image import to_dataarray

    root = tmp_path_factory.mktemp("cutter_rerun")
    image, _, _, _ = two_channel_cells(seed=2)
    named = to_dataarray(image, dims="CYX", channel_names=["cell", "nucleus"])
    for seed, name in ((0, "m1.pt"), (1, "m2.pt")):
        segment(named, config={**TINY, "seed": seed}, save_model=root / name)
    path = root / "cells.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "CYX", "Labels": ["cell", "nucleus"]})
    assert main(["cutter", str(path), "--model-file", str(root / "m1.pt"), "-o", str(root / "out1"),
                 "--threads", "1", "-q"]) == 0
    record = json.loads((root / "out1" / "cells_provenance.json").read_text())
    assert record["model_file"] == str(root / "m1.pt") and record["training_steps"] == 0
    return {"root": root, "image": path, "record": root / "out1" / "cells_provenance.json"}


def _record(folder):
    return json.loads((folder / "cells_provenance.json").read_text())


def _labels(folder):
    return tifffile.imread(folder / "cells_labels.tif")


def test_the_command_line_applies_the_model_the_recorded_run_applied(applied, caplog):
    run = applied
    out = run["root"] / "out2"
    with caplog.at_level("WARNING", logger="labelfree"):
        assert main(["cutter", str(run["image"]), "--config", str(run["record"]), "-o", str(out), "-q"]) == 0
    record = _record(out)
    # before: a new model trained on the image (training_steps 6, no model_file), with a warning
    assert record["model_file"] == str(run["root"] / "m1.pt")
    assert record["training_steps"] == 0
    assert record["model_sha256"] == _record(run["root"] / "out1")["model_sha256"]
    np.testing.assert_array_equal(_labels(out), _labels(run["root"] / "out1"))
    assert not [r for r in caplog.records if "gives settings, not files" in r.getMessage()]


def test_run_pipeline_applies_the_recorded_model_from_the_file_or_the_record(applied):
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    run = applied
    image = read_image(run["image"])
    expected = _labels(run["root"] / "out1")
    for config in (str(run["record"]), json.loads(run["record"].read_text())):
        labels = run_pipeline("cutter", image, config=config)
        assert labels.attrs["labelfree"]["model_file"] == str(run["root"] / "m1.pt")
        assert labels.attrs["labelfree"]["training_steps"] == 0
        np.testing.assert_array_equal(labels.values, expected)
    # a model given wins over the record's
    other = run_pipeline("cutter", image, config=str(run["record"]), inputs={"model": str(run["root"] / "m2.pt")})
    assert other.attrs["labelfree"]["model_file"] == str(run["root"] / "m2.pt")


def test_a_model_file_given_on_the_command_line_wins(applied):
    run = applied
    out = run["root"] / "out3"
    assert main(["cutter", str(run["image"]), "--config", str(run["record"]), "--model-file",
                 str(run["root"] / "m2.pt"), "-o", str(out), "-q"]) == 0
    assert _record(out)["model_file"] == str(run["root"] / "m2.pt")


def test_a_missing_or_changed_recorded_model_is_one_error_saying_what_to_do(applied, tmp_path, capsys):
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    run = applied
    model = tmp_path / "m.pt"
    shutil.copy(run["root"] / "m1.pt", model)
    shutil.copy(run["root"] / "m1.pt.json", tmp_path / "m.pt.json")
    record = {**_record(run["root"] / "out1"), "model_file": str(model)}
    path = tmp_path / "cells_provenance.json"
    path.write_text(json.dumps(record))
    model.unlink()
    assert main(["cutter", str(run["image"]), "--config", str(path), "-o", str(tmp_path / "o1")]) == 1
    err = capsys.readouterr().err
    sha = record["model_sha256"][:12]
    assert (f"Config file {path} is the provenance of a run that applied the saved model {model} (sha256 {sha}), "
            f"and that file is missing ({model}). To repeat that run, give that model (--model-file FILE") in err
    assert "give a config of the settings alone" in err
    assert not (tmp_path / "o1" / "cells_labels.tif").exists()
    # another model in its place (before: a new model trained without a word about it)
    shutil.copy(run["root"] / "m2.pt", model)
    with pytest.raises(ModelFileError, match=r"and that file has changed since \(sha256 now [0-9a-f]{12}\)\. To "
                                             r"repeat that run"):
        run_pipeline("cutter", read_image(run["image"]), config=str(path))


def test_a_record_of_a_run_that_trained_and_saved_its_model_trains_again(applied, tmp_path):
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    run = applied
    image = read_image(run["image"])
    first = run_pipeline("cutter", image, config=TINY, inputs={"save_model": str(tmp_path / "new.pt")})
    record = first.attrs["labelfree"]
    assert record["model_file"] == str(tmp_path / "new.pt") and record["training_steps"] == 6
    again = run_pipeline("cutter", image, config=record)
    assert again.attrs["labelfree"]["training_steps"] == 6 and "model_file" not in again.attrs["labelfree"]


def test_the_command_line_takes_the_recorded_threads(applied, tmp_path, monkeypatch):
    """A Cutter record's ``threads`` given as --config (before: the default count, here 1)."""
    monkeypatch.setenv("LABELFREE_THREADS", "1")
    run = applied
    record = {**_record(run["root"] / "out1"), "threads": 3}
    path = tmp_path / "cells_provenance.json"
    path.write_text(json.dumps(record))
    assert main(["cutter", str(run["image"]), "--config", str(path), "-o", str(tmp_path / "o"), "-q"]) == 0
    assert _record(tmp_path / "o")["threads"] == 3
    # --threads given wins
    assert main(["cutter", str(run["image"]), "--config", str(path), "--threads", "2", "-o", str(tmp_path / "o2"),
                 "-q"]) == 0
    assert _record(tmp_path / "o2")["threads"] == 2
