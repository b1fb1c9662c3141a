"""Fusion's model files (``--model-file FILE`` or ``CHANNEL=FILE`` pairs) the rest of the way through every entry
point: tiled runs take them; each file of a pairs value is recorded with its sha256, protected from the outputs and
fingerprinted by batch runs; a manifest's pairs are resolved file by file; a batch run repeating a model-file run's
record needs no zoo; the no-zoo message offers model files, in the command line's words and in Fiji's.

The tiny network of tests/fusion/conftest.py is ``a.pt``; a copy with its weights scaled is ``b.pt``. LabelFree's
model cache is empty: no zoo anywhere.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile
from fusion_data import model_files

from labelfree._config import file_sha256
from labelfree.cli import main
from labelfree.errors import InputError

pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture(scope="module")
def files(model, tmp_path_factory):
    """The image img.tif (channels A and B) and the weights files a.pt and b.pt, in one folder."""
    return model_files(tmp_path_factory.mktemp("entry_points"), model)


def _fusion(image, out, *extra):
    return main(["fusion", str(image), "-o", str(out), "--device", "cpu", "--threads", "1", "-q", *extra])


def _record(folder, stem="img"):
    return json.loads((folder / f"{stem}_provenance.json").read_text())


def test_a_tiled_run_takes_model_files_from_the_command_line_and_python(files, tmp_path):
    """Before: "Tiled runs take no per-pixel inputs such as models" (exit 1, no labels)."""
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_pipeline, run_tiled

    pairs = f"A={files['a']},B={files['b']}"
    assert _fusion(files["image"], tmp_path / "out", "--tile", "48", "--tile-overlap", "32", "--set", "diameter=15",
                   "--model-file", pairs) == 0
    record = _record(tmp_path / "out")
    assert record["tiles"] == {"tile": 48, "overlap": 32, "objects_cut": record["tiles"]["objects_cut"]}
    assert record["models"] == {"A": {"file": str(files["a"]), "sha256": file_sha256(files["a"])},
                                "B": {"file": str(files["b"]), "sha256": file_sha256(files["b"])}}
    spec = get_pipeline("fusion")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # objects cut by the tiles' borders are not the point here
        python = run_pipeline("fusion", files["da"], config={"diameter": 15}, tile=48, tile_overlap=32, threads=1,
                              inputs={"model_file": pairs, "device": "cpu"})
        tiled = run_tiled(spec, files["da"], config=spec.config_class.coerce({"diameter": 15}), tile=48, overlap=32,
                          inputs={"models": pairs, "device": "cpu"})
    labels = tifffile.imread(tmp_path / "out" / "img_labels.tif")
    assert labels.max() > 0 and np.array_equal(labels, python.values) and np.array_equal(python.values, tiled.values)
    # Python's channel -> file mapping is no text a tile can be given: said as such (not "does not exist")
    with pytest.raises(InputError, match="Tiled runs hand every tile its inputs as text .*; models was given as a "
                                         "dict. Give each as text .*CHANNEL=FILE pairs"):
        run_pipeline("fusion", files["da"], tile=48, inputs={"models": {"A": str(files["a"]), "B": str(files["b"])}})


def test_inputs_say_which_go_to_tiles_and_which_files_a_value_names():
    from labelfree.pipelines import get_pipeline
    from labelfree.run import input_files

    fusion, cutter = get_pipeline("fusion"), get_pipeline("cutter")
    assert [(i.name, i.in_tiles) for i in fusion.inputs] == [("zoo", True), ("models", True), ("device", True)]
    assert [(i.name, i.in_tiles) for i in cutter.inputs] == [("markers", False), ("model", False),
                                                            ("save_model", False), ("device", True)]
    assert input_files(fusion, {"model_file": "GFP=/m/a.pt,Cy5=/m/b,c.pt", "zoo": "/z", "device": "cpu"}) == {
        "models GFP": "/m/a.pt", "models Cy5": "/m/b,c.pt", "zoo": "/z"}
    assert input_files(fusion, {"models": {"GFP": "/m/a.pt"}}) == {"models GFP": "/m/a.pt"}
    # one file, and Cutter's inputs as before; "detect" (markers not given) names no file
    assert input_files(fusion, {"models": "/m/cells.pt"}) == {"models": "/m/cells.pt"}
    assert input_files(cutter, {"markers": "detect", "model_file": "m.pt", "device": "cpu"}) == {"model": "m.pt"}


def test_the_provenance_records_each_file_of_the_pairs_with_its_sha256(files, tmp_path):
    """Before: one input ``models`` with the path .../A=...,B=... and no sha256."""
    assert _fusion(files["image"], tmp_path / "out", "--model-file", f"A={files['a']},B={files['b']}") == 0
    inputs = _record(tmp_path / "out")["inputs"]
    assert inputs["models A"] == {"path": str(files["a"]), "size": files["a"].stat().st_size,
                                  "sha256": file_sha256(files["a"])}
    assert inputs["models B"] == {"path": str(files["b"]), "size": files["b"].stat().st_size,
                                  "sha256": file_sha256(files["b"])}
    assert "models" not in inputs


def test_an_output_that_would_replace_a_file_of_the_pairs_is_refused(files, tmp_path, capsys):
    """Before: the pairs' files were no inputs of the run: with --overwrite its labels replaced B's weights."""
    out = tmp_path / "out"
    out.mkdir()
    weights = out / "img_labels.tif"  # where the run writes its labels
    shutil.copy(files["b"], weights)
    assert _fusion(files["image"], out, "--overwrite", "--model-file", f"A={files['a']},B={weights}") == 1
    assert f"is the models B of this run ({weights})" in capsys.readouterr().err
    assert file_sha256(weights) == file_sha256(files["b"])


def test_a_batch_run_redoes_an_input_whose_pair_file_changed(files, tmp_path):
    """Before: the fingerprint held the pairs' text alone: a changed file left the input "skipped"."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(files["a"], models / "a.pt")
    shutil.copy(files["b"], models / "b.pt")
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(files["image"], images / "x.tif")
    out = tmp_path / "out"

    def batch(*extra):
        assert main(["batch", str(images), "-p", "fusion", "-o", str(out), "--in-process", "-q", "--threads", "1",
                     "--input", f"model_file=A={models / 'a.pt'},B={models / 'b.pt'}", "--input", "device=cpu",
                     *extra]) == 0
        return pd.read_csv(out / "batch_summary.csv")["status"].tolist()

    assert batch() == ["ok"]
    assert batch() == ["skipped"]  # nothing changed
    shutil.copy(files["a"], models / "b.pt")  # B's weights are another model now
    assert batch("--overwrite") == ["ok"]  # made with other inputs: its earlier result is replaced, as allowed
    assert {c: m["sha256"] for c, m in _record(out, "x")["models"].items()} == {"A": file_sha256(files["a"]),
                                                                                 "B": file_sha256(files["a"])}


def test_a_manifest_resolves_each_file_of_its_pairs_against_its_folder(files, tmp_path):
    """Before: the whole value was one path: ``<manifest folder>/A=a.pt,B=b.pt``."""
    from labelfree.batch.inputs import collect_inputs
    from labelfree.pipelines import get_pipeline

    inp = get_pipeline("fusion").input("model_file")
    names = {"zoo": get_pipeline("fusion").input("zoo"), "models": inp, "model_file": inp}
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(files["image"], data / "x.tif")
    shutil.copy(files["image"], data / "y.tif")
    shutil.copy(files["a"], data / "lr=0.1.pt")  # a file whose name holds '=': one file, found in the folder
    (data / "list.csv").write_text(f"path,model_file\nx.tif,\"A=a.pt,B={files['b']}\"\ny.tif,lr=0.1.pt\n")
    items = {it.path.name: it.inputs for it in collect_inputs(data / "list.csv", input_names=names)}
    assert items["x.tif"] == {"model_file": f"A={data / 'a.pt'},B={files['b']}"}
    assert {k: str(v) for k, v in items["y.tif"].items()} == {"model_file": str(data / "lr=0.1.pt")}
    # names alone (no inputs): one path each, as before
    plain = {it.path.name: it.inputs for it in collect_inputs(data / "list.csv", input_names=list(names))}
    assert str(plain["x.tif"]["model_file"]) == str(data / f"A=a.pt,B={files['b']}")


def test_a_batch_check_needs_no_zoo_when_the_record_names_every_channels_file(files, tmp_path):
    """Before: "Fusion needs a model zoo" (the cache holds none) before the record's files were used."""
    from labelfree.batch.config import BatchConfig
    from labelfree.batch.inputs import BatchInput
    from labelfree.batch.runner import _check_run_inputs
    from labelfree.pipelines import get_pipeline

    assert _fusion(files["image"], tmp_path / "run1", "--model-file", f"A={files['a']},B={files['b']}") == 0
    record = tmp_path / "run1" / "img_provenance.json"
    spec, bcfg, items = get_pipeline("fusion"), BatchConfig(), [BatchInput(files["image"])]
    assert _check_run_inputs(items, spec, bcfg, config=str(record)) == bcfg
    with pytest.raises(InputError, match="Fusion needs a model zoo"):  # a config of settings alone needs one
        _check_run_inputs(items, spec, bcfg, config=_record(tmp_path / "run1")["config"])


def test_without_a_zoo_the_message_offers_model_files_in_cli_and_fiji_words(files, tmp_path, capsys):
    from labelfree.fusion.zoo import open_zoo
    from labelfree.imagej.terms import in_imagej_terms

    assert _fusion(files["image"], tmp_path / "out") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert ("Or run without a zoo, on cellpose weights files: --model-file FILE for every channel, or CHANNEL=FILE "
            "pairs (Fiji: the dialog's model_file field; macros: model_file=[FILE];") in err
    with pytest.raises(InputError) as caught:
        open_zoo(None)
    fiji = in_imagej_terms(str(caught.value))
    assert fiji.startswith("Fusion needs a model zoo: give its folder with zoo=[FOLDER] (in the dialog: the zoo "
                           "field). None was given")
    assert ("Or run without a zoo, on cellpose weights files: model_file=[FILE] for every channel, or CHANNEL=FILE "
            "pairs (model_file=[GFP=gfp.pt,Cy5=cy5.pt]; in the dialog: tick advanced_options, then the model_file "
            "field on the inputs page).") in fiji
    assert "--model-file" not in fiji and "Python:" not in fiji and "--zoo FOLDER (" not in fiji


def test_labelfree_batch_takes_pairs_from_a_manifest_and_repeats_a_record_without_a_zoo(files, tmp_path):
    """From the command line: a manifest's ``model_file`` pairs name files beside the manifest (they were read as
    one path, ``<folder>/A=a.pt,B=b.pt``), and ``--config <record>`` of a model-file run needs no zoo (it was
    refused: "Fusion needs a model zoo"); each pair's file is an input of the run, recorded with its sha256."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(files["image"], data / "x.tif")
    shutil.copy(files["a"], data / "a.pt")
    shutil.copy(files["b"], data / "b.pt")
    (data / "list.csv").write_text("path,model_file\nx.tif,\"A=a.pt,B=b.pt\"\n")
    out = tmp_path / "out"
    assert main(["batch", str(data / "list.csv"), "-p", "fusion", "-o", str(out), "--in-process", "-q",
                 "--threads", "1", "--input", "device=cpu"]) == 0
    assert pd.read_csv(out / "batch_summary.csv")["status"].tolist() == ["ok"]
    record = _record(out, "x")
    assert {c: m["sha256"] for c, m in record["models"].items()} == {"A": file_sha256(files["a"]),
                                                                     "B": file_sha256(files["b"])}
    assert {k: v["sha256"] for k, v in record["inputs"].items() if k.startswith("models")} == {
        "models A": file_sha256(files["a"]), "models B": file_sha256(files["b"])}
    again = tmp_path / "again"
    assert main(["batch", str(data / "x.tif"), "-p", "fusion", "-o", str(again), "--in-process", "-q",
                 "--config", str(out / "x_provenance.json"), "--input", "device=cpu"]) == 0
    assert pd.read_csv(again / "batch_summary.csv")["status"].tolist() == ["ok"]
    assert np.array_equal(tifffile.imread(again / "x_labels.tif"), tifffile.imread(out / "x_labels.tif"))
