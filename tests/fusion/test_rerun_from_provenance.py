"""A run repeated from its provenance (``--config OUT/x_provenance.json``) uses the models that run used.

Fusion: the recorded zoo models (by id, checked by sha256) are used even when the zoo now picks
others; a zoo that lacks them is an error naming them and what to do; without ``--zoo`` the zoo
the record names is used; ``--zoo-best`` takes the zoo's pick. A config cannot carry files: a
record of a Cutter run that applied a saved model, or of a Fusion run read outside the command
line or run_pipeline, gets a warning saying which model the run used and how to give it.

The tiny network of tests/fusion/conftest.py is filed in zoos under the channel names A and B;
a copy with its weights scaled is "another model" (filed with a higher F1, so the zoo picks it).
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import tifffile
from fusion_data import other_model, synthetic_pair

from labelfree.cli import main

#: the user's cache takes no part (tests/fusion/conftest.py): without --zoo, no zoo but a recorded one
pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture(scope="module")
def first_run(model, tmp_path_factory):
    """A zoo (zoo1) with a model for A and for B, a run on it, and zoo2 = zoo1 + a better-scored model for A."""
    from labelfree.fusion import ModelZoo

    root = tmp_path_factory.mktemp("rerun")
    image, _ = synthetic_pair(100)
    path = root / "img.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "B"]})
    zoo1 = ModelZoo(root / "zoo1", create=True)
    ids = {c: zoo1.add(model, object="cyto", channels=[c], validation={"f1": 0.5})["id"] for c in "AB"}
    assert main(["fusion", str(path), "--zoo", str(zoo1.root), "-o", str(root / "fu1"), "--device", "cpu",
                 "--threads", "1", "-q"]) == 0
    shutil.copytree(zoo1.root, root / "zoo2")
    zoo2 = ModelZoo(root / "zoo2")
    newer = zoo2.add(other_model(model), object="cyto", channels=["A"], validation={"f1": 0.9})
    assert zoo2.pick(object="cyto", channels=["A"])["id"] == newer["id"] != ids["A"]  # the zoo's pick changed
    return {"root": root, "image": path, "ids": ids, "newer": newer, "zoo1": zoo1.root, "zoo2": zoo2.root,
            "record": root / "fu1" / "img_provenance.json"}


def _labels(folder):
    return tifffile.imread(folder / "img_labels.tif")


def _models(folder):
    record = json.loads((folder / "img_provenance.json").read_text())
    return {c: m["id"] for c, m in record["models"].items()}


def _rerun(run, out, *extra):
    return main(["fusion", str(run["image"]), "--config", str(run["record"]), "-o", str(run["root"] / out),
                 "--device", "cpu", "--threads", "1", *extra])


def test_a_run_from_its_provenance_uses_the_models_it_used_though_the_zoo_now_picks_others(first_run):
    run = first_run
    assert _models(run["root"] / "fu1") == run["ids"]
    # before: the zoo's new best model for A replaced the recorded one without a word
    assert _rerun(run, "fu2", "--zoo", str(run["zoo2"]), "-q") == 0
    assert _models(run["root"] / "fu2") == run["ids"]
    assert np.array_equal(_labels(run["root"] / "fu2"), _labels(run["root"] / "fu1"))
    # `fusion segment` is the same command
    assert main(["fusion", "segment", str(run["image"]), "--config", str(run["record"]), "--zoo", str(run["zoo2"]),
                 "-o", str(run["root"] / "fu3"), "--device", "cpu", "--threads", "1", "-q"]) == 0
    assert _models(run["root"] / "fu3") == run["ids"]


def test_zoo_best_runs_the_recorded_settings_with_the_zoos_pick(first_run, caplog):
    run = first_run
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert _rerun(run, "fu4", "--zoo", str(run["zoo2"]), "--zoo-best", "-q") == 0
    assert _models(run["root"] / "fu4") == {"A": run["newer"]["id"], "B": run["ids"]["B"]}
    assert not [r for r in caplog.records if "a config gives settings" in r.getMessage()]  # the user chose it


def test_a_zoo_without_the_recorded_models_is_an_error_naming_them_and_the_zoo_the_run_used(first_run, model,
                                                                                             capsys):
    from labelfree.fusion import ModelZoo

    run = first_run
    other = ModelZoo(run["root"] / "zoo3", create=True)
    for c in "AB":
        other.add(other_model(model), object="cyto", channels=[c])
    assert _rerun(run, "fu5", "--zoo", str(other.root)) == 1
    err = capsys.readouterr().err
    assert f"Config file {run['record']} names the models its run used, and the zoo {other.root} does not" in err
    assert f"A: {run['ids']['A']} (sha256 " in err and f"B: {run['ids']['B']} (sha256 " in err
    assert f"--zoo {run['zoo1']}, as its record says" in err and "--zoo-best" in err
    assert not (run["root"] / "fu5" / "img_labels.tif").exists()
    # a zoo holding an entry of that id with other weights (the sha256 of its index differs)
    changed = run["root"] / "zoo4"
    shutil.copytree(run["zoo1"], changed)
    index = json.loads((changed / "index.json").read_text())
    index_entries = index["models"] if isinstance(index, dict) else index
    for entry in index_entries:
        if entry["id"] == run["ids"]["B"]:
            entry["sha256"] = "0" * 64
    (changed / "index.json").write_text(json.dumps(index))
    assert _rerun(run, "fu6", "--zoo", str(changed)) == 1
    err = capsys.readouterr().err
    assert f"B: its {run['ids']['B']} has other weights (sha256 000000000000, the run's " in err
    assert f"A: {run['ids']['A']}" not in err  # the model of A is the run's


def test_without_zoo_the_zoo_the_record_names_is_used(first_run, caplog):
    run = first_run
    # before: "Fusion needs a model zoo" (LabelFree's cache holds none)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert _rerun(run, "fu7") == 0
    said = [r.getMessage() for r in caplog.records if "No zoo given" in r.getMessage()]
    assert len(said) == 1 and f"using the zoo {run['zoo1']}, which the run of {run['record']} used" in said[0]
    assert _models(run["root"] / "fu7") == run["ids"]
    assert np.array_equal(_labels(run["root"] / "fu7"), _labels(run["root"] / "fu1"))


def test_a_fusion_record_read_as_a_config_in_python_says_that_its_models_are_not_pinned(first_run, caplog):
    from labelfree._config import provenance_of
    from labelfree.fusion import FusionConfig

    record = json.loads(first_run["record"].read_text())
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        cfg = FusionConfig.coerce(record)
    assert cfg == FusionConfig.from_dict(record["config"])
    assert provenance_of(cfg).record == record  # kept beside the settings, for run_pipeline
    said = [r.getMessage() for r in caplog.records if "gives settings, not models" in r.getMessage()]
    assert len(said) == 1
    assert f"used the models A {first_run['ids']['A']}, B {first_run['ids']['B']}" in said[0]
    assert "labelfree.run.run_pipeline(config=...), which pin them" in said[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labelfree"):  # a reader that applies them says nothing
        FusionConfig.coerce(record, applies_record=True)
        FusionConfig.from_file(first_run["record"], applies_record=True)
    assert not [r for r in caplog.records if "gives settings" in r.getMessage()]


def test_run_pipeline_pins_the_recorded_models_given_the_record_or_its_file(first_run):
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    run = first_run
    image = read_image(run["image"])
    expected = _labels(run["root"] / "fu1")
    for config in (str(run["record"]), json.loads(run["record"].read_text())):
        # before: the zoo's new pick for A (a warning said the models were not pinned)
        labels = run_pipeline("fusion", image, config=config, inputs={"zoo": str(run["zoo2"]), "device": "cpu"})
        assert {c: m["id"] for c, m in labels.attrs["labelfree"]["models"].items()} == run["ids"]
        assert labels.attrs["labelfree"]["threads"] == 1  # the record's
        np.testing.assert_array_equal(labels.values, expected)
    # no zoo given: the record's (before: "Fusion needs a model zoo")
    labels = run_pipeline("fusion", image, config=str(run["record"]), inputs={"device": "cpu"})
    assert {c: m["id"] for c, m in labels.attrs["labelfree"]["models"].items()} == run["ids"]


def test_batch_with_a_record_as_config_pins_the_recorded_models(first_run):
    run = first_run
    out = run["root"] / "batch"
    assert main(["batch", str(run["image"]), "-p", "fusion", "-c", str(run["record"]), "--zoo", str(run["zoo2"]),
                 "--input", "device=cpu", "-o", str(out), "--scheduler", "sync", "--no-progress"]) == 0
    assert _models(out) == run["ids"]
    assert np.array_equal(_labels(out), _labels(run["root"] / "fu1"))


def test_a_cutter_record_of_a_run_that_applied_a_model_says_which_and_how_to_give_it(tmp_path, caplog):
    from labelfree import __version__
    from labelfree.cutter import CutterConfig

    record = {"pipeline": "cutter", "version": __version__, "config": {}, "model_file": "cu1.pt",
              "model_sha256": "ab" * 32}
    path = tmp_path / "nuc_provenance.json"
    path.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert CutterConfig.from_file(path) == CutterConfig()
    said = [r.getMessage() for r in caplog.records if "cu1.pt" in r.getMessage()]
    # before: nothing; the run trained a new model
    assert said == [f"Config file {path} is the provenance of a run that applied the saved model cu1.pt (sha256 "
                    "abababababab); read here as a config it gives settings, not files: this run applies the model "
                    "given to it, else trains a new one on the image. To repeat that run, give that model "
                    "(--model-file cu1.pt; macros: model_file=...; batch: --input model_file=...; Python: "
                    "segment(..., model=...)), or give the record to the command line's --config or to "
                    "labelfree.run.run_pipeline(config=...), which apply it."]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        CutterConfig.coerce({k: v for k, v in record.items() if k not in ("model_file", "model_sha256")})
    assert not caplog.records  # a record of a run that trained says nothing
