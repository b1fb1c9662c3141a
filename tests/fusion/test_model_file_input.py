"""A fine-tuned cellpose weights file is an input of Fusion at every entry point, with no zoo.

``--model-file cells.pt`` (macro key ``model_file``, batch column ``model_file`` or ``models``) runs every
chosen channel through one file; ``--model-file A=a.pt,B=b.pt`` maps channels to files. The provenance
records each file and its sha256, and a run given that provenance as ``--config`` repeats with the same
files (a changed file is refused). Before, only Python's ``segment(models=...)`` took a file: the command
line, batch runs and Fiji needed a zoo.

The tiny network of tests/fusion/conftest.py is ``a.pt``; a copy with its weights scaled is ``b.pt``
(another model, whose labels differ). LabelFree's model cache is empty: no zoo anywhere.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import tifffile
from fusion_data import model_files

from labelfree._config import file_sha256
from labelfree.cli import main
from labelfree.errors import InputError, InputOverwriteError, ModelFileError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture(scope="module")
def files(model, tmp_path_factory):
    """The image img.tif (channels A and B) and the weights files a.pt and b.pt, in one folder."""
    return model_files(tmp_path_factory.mktemp("model_file"), model)


def _fusion(image, out, *extra):
    return main(["fusion", str(image), "-o", str(out), "--device", "cpu", "--threads", "1", "-q", *extra])


def _labels(folder):
    return tifffile.imread(folder / "img_labels.tif")


def _record(folder):
    return json.loads((folder / "img_provenance.json").read_text())


def _python(da, models, **kw):
    from labelfree.fusion import segment

    return segment(da, models=models, device="cpu", **kw).values


def test_one_model_file_runs_every_channel_with_no_zoo_anywhere(files, tmp_path):
    # before: "unrecognized arguments: --model-file" (a zoo was needed)
    assert _fusion(files["image"], tmp_path / "out", "--model-file", str(files["a"])) == 0
    labels = _labels(tmp_path / "out")
    assert labels.max() > 0 and np.array_equal(labels, _python(files["da"], str(files["a"])))
    sha = file_sha256(files["a"])
    assert _record(tmp_path / "out")["models"] == {c: {"file": str(files["a"]), "sha256": sha} for c in "AB"}
    assert _record(tmp_path / "out")["device"] == "cpu"


def test_channel_file_pairs_map_each_channel_to_its_file(files, tmp_path):
    a, b = files["a"], files["b"]
    assert _fusion(files["image"], tmp_path / "pairs", "--model-file", f"A={a},b={b}") == 0  # b: B in any case
    labels = _labels(tmp_path / "pairs")
    assert np.array_equal(labels, _python(files["da"], {"A": str(a), "B": str(b)}))
    assert not np.array_equal(labels, _python(files["da"], str(a)))  # B's file took part
    assert _record(tmp_path / "pairs")["models"] == {"A": {"file": str(a), "sha256": file_sha256(a)},
                                                     "B": {"file": str(b), "sha256": file_sha256(b)}}
    # --channel A: only A is fused, so a pair for A alone serves it
    assert _fusion(files["image"], tmp_path / "a", "--channel", "A", "--model-file", f"A={a}",
                   "--set", "fusion=none") == 0
    assert list(_record(tmp_path / "a")["models"]) == ["A"]


def test_a_path_with_commas_and_equals_signs_is_one_file_when_it_exists(files, tmp_path, monkeypatch):
    import shutil

    from labelfree.fusion.models import parse_model_files

    odd = tmp_path / "lr=0.1,B=v2.pt"
    shutil.copy(files["a"], odd)
    assert parse_model_files(str(odd), channels=["A", "B"]) == str(odd)
    monkeypatch.chdir(tmp_path)
    shutil.copy(files["a"], tmp_path / "a,1.pt")
    shutil.copy(files["b"], tmp_path / "lr=0.1.pt")
    # not a file: pairs, a piece without '=' continuing the file before it; the channel is before the first '='
    assert parse_model_files("A=a,1.pt,b=lr=0.1.pt", channels=["A", "B"]) == {"A": "a,1.pt", "B": "lr=0.1.pt"}
    assert _fusion(files["image"], tmp_path / "odd", "--model-file", odd.name) == 0
    assert np.array_equal(_labels(tmp_path / "odd"), _python(files["da"], str(files["a"])))


@pytest.mark.parametrize("value, error, words", [
    ("A={a},RFP={b}", InputError, "name the channel 'RFP', which the image does not have (its channels: ['A', 'B']"),
    ("A={a},1={b}", InputError, "by name, not by index"),
    ("A={a}", InputError, "No model given for channel(s) ['B']; models were given for ['A']"),
    ("A={a},a={b}", InputError, "give the channel A twice"),
    ("{a},B={b}", InputError, "names no channel"),
    ("{root}/missing.pt", ModelFileError, "missing.pt does not exist. Give the path of a cellpose weights file"),
    ("A={a},B={root}/missing.pt", ModelFileError, "(read from 'A="),
    ("{root}", ModelFileError, "is a folder; give the weights file itself"),
    ("{root}/img.tif", ModelFileError, "img.tif is not a readable torch weights file"),
    ("{root}/other.pt", ModelFileError, "other.pt: The file is not a cellpose 3 CPnet state dict"),
])
def test_wrong_model_files_are_one_typed_error_saying_what_to_give(files, value, error, words):
    import torch

    from labelfree.run import run_pipeline

    torch.save({"weight": torch.zeros(2)}, files["root"] / "other.pt")  # torch weights, not a cellpose network
    value = value.format(a=files["a"], b=files["b"], root=files["root"])
    with pytest.raises(error) as caught:
        run_pipeline("fusion", files["da"], inputs={"model_file": value, "device": "cpu"})
    assert words in str(caught.value)


def test_a_model_file_wins_over_the_zoo_for_the_channels_it_serves(files, tmp_path):
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    ids = {c: zoo.add(files["a"], object="cyto", channels=[c])["id"] for c in "AB"}
    copy = tmp_path / "copy of a.pt"
    copy.write_bytes(files["a"].read_bytes())
    assert _fusion(files["image"], tmp_path / "one", "--zoo", str(zoo.root), "--model-file", str(copy)) == 0
    assert {m.get("file") for m in _record(tmp_path / "one")["models"].values()} == {str(copy)}
    # before: models given for some channels were an error, the zoo not asked for the others
    assert _fusion(files["image"], tmp_path / "mixed", "--zoo", str(zoo.root), "--model-file", f"B={files['b']}") == 0
    record = _record(tmp_path / "mixed")["models"]
    assert record["A"]["id"] == ids["A"] and record["B"] == {"file": str(files["b"]), "sha256": file_sha256(files["b"])}
    assert np.array_equal(_labels(tmp_path / "mixed"), _python(files["da"], {"A": str(files["a"]),
                                                                               "B": str(files["b"])}))
    # Python takes the same: models for some channels, the zoo for the others
    assert np.array_equal(_python(files["da"], {"B": str(files["b"])}, zoo=zoo.root), _labels(tmp_path / "mixed"))


def test_a_run_from_its_provenance_uses_the_same_files_and_refuses_a_changed_one(files, tmp_path, monkeypatch,
                                                                                  capsys):
    import shutil

    first = tmp_path / "first"
    first.mkdir()
    for name in ("a.pt", "b.pt"):
        shutil.copy(files["root"] / name, first / name)
    monkeypatch.chdir(first)  # relative paths, as a user types them
    assert _fusion(files["image"], tmp_path / "run1", "--model-file", "A=a.pt,B=b.pt") == 0
    record = tmp_path / "run1" / "img_provenance.json"
    monkeypatch.chdir(tmp_path)  # elsewhere, with no zoo anywhere: the record's files, found from its folder
    assert _fusion(files["image"], tmp_path / "run2", "--config", str(record)) == 0
    assert np.array_equal(_labels(tmp_path / "run2"), _labels(tmp_path / "run1"))
    sha = {c: m["sha256"] for c, m in _record(tmp_path / "run2")["models"].items()}
    assert sha == {"A": file_sha256(files["a"]), "B": file_sha256(files["b"])}
    # a file given now wins for its channel; the record's file serves the other (no zoo needed)
    assert _fusion(files["image"], tmp_path / "run2b", "--config", str(record), "--model-file", f"B={files['a']}") == 0
    assert {c: m["file"] for c, m in _record(tmp_path / "run2b")["models"].items()} == {"A": str(first / "a.pt"),
                                                                                      "B": str(files["a"])}
    shutil.copy(files["a"], first / "b.pt")  # B's file changed since
    capsys.readouterr()
    assert _fusion(files["image"], tmp_path / "run3", "--config", str(record)) == 1
    err = capsys.readouterr().err
    assert f"names the models its run used, and not all of them are at hand: B: the weights file {first / 'b.pt'} " \
           f"has changed (sha256 {file_sha256(files['a'])[:12]}, the run's {file_sha256(files['b'])[:12]})" in err
    assert "Put that run's model files back as they were, or run its settings with the files given now " \
           "(--model-file FILE or CHANNEL=FILE,...;" in err
    assert not (tmp_path / "run3" / "img_labels.tif").exists()


def test_an_output_folder_that_is_the_model_file_is_refused(files, tmp_path, capsys):
    import shutil

    model = tmp_path / "cells.pt"
    shutil.copy(files["a"], model)
    before = file_sha256(model)
    assert _fusion(files["image"], model, "--model-file", str(model)) == 1
    assert f"The output folder {model} is the models of this run" in capsys.readouterr().err
    assert file_sha256(model) == before
    with pytest.raises(InputOverwriteError, match="is the models of this run"):
        from labelfree.io import OutputFolder

        OutputFolder(model, inputs={"models": model}).open()


def test_batch_takes_a_manifest_column_per_input_and_one_file_for_all(files, tmp_path):
    from labelfree.fusion.segment import check_inputs

    images = tmp_path / "images"
    images.mkdir()
    for stem in ("x", "y"):
        (images / f"{stem}.tif").write_bytes(files["image"].read_bytes())
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path,model_file\nimages/x.tif,{files['b']}\nimages/y.tif,{files['a']}\n")
    assert main(["batch", str(manifest), "-p", "fusion", "-o", str(tmp_path / "b1"), "--in-process", "-q",
                 "--threads", "1"]) == 0
    for stem, key in (("x", "b"), ("y", "a")):
        record = json.loads((tmp_path / "b1" / f"{stem}_provenance.json").read_text())
        assert {m["file"] for m in record["models"].values()} == {str(files[key])}
    assert np.array_equal(tifffile.imread(tmp_path / "b1" / "y_labels.tif"), _python(files["da"], str(files["a"])))
    # one for all, as pairs; before: "The fusion pipeline takes no model_file"
    assert main(["batch", str(images), "-p", "fusion", "-o", str(tmp_path / "b2"), "--in-process", "-q",
                 "--threads", "1", "--input", f"model_file=A={files['a']},B={files['b']}"]) == 0
    record = json.loads((tmp_path / "b2" / "x_provenance.json").read_text())
    assert {c: m["file"] for c, m in record["models"].items()} == {"A": str(files["a"]), "B": str(files["b"])}
    # the run's check: model files need no zoo (the cache holds none); a bad one is one error for the run
    assert check_inputs({"models": str(files["a"])}) == {"models": str(files["a"])}
    with pytest.raises(ModelFileError, match="img.tif is not a readable torch weights file"):
        check_inputs({"models": str(files["image"])})


def test_a_tiled_run_records_its_model_files_and_device(files):
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_tiled

    spec = get_pipeline("fusion")
    config = spec.config_class.coerce({"diameter": 15})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # objects cut by the tiles' borders are not the point here
        tiled = run_tiled(spec, files["da"], config=config, tile=48, overlap=32,
                          inputs={"models": f"A={files['a']},B={files['b']}", "device": "cpu"})
    record = tiled.attrs["labelfree"]
    assert record["models"] == {"A": {"file": str(files["a"]), "sha256": file_sha256(files["a"])},
                                "B": {"file": str(files["b"]), "sha256": file_sha256(files["b"])}}
    assert record["device"] == "cpu" and tiled.values.max() > 0


def test_a_tiled_run_on_a_zoo_records_its_device(files, model, tmp_path):
    """Before: a tiled run recorded no device (a whole-image run did)."""
    from labelfree.fusion import ModelZoo
    from labelfree.pipelines import get_pipeline
    from labelfree.run import run_tiled

    spec = get_pipeline("fusion")
    config = spec.config_class.coerce({"diameter": 15})
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    zoo.add(model, object="cyto", channels=["A", "B"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tiled = run_tiled(spec, files["da"], config=config, tile=48, overlap=32,
                          inputs={"zoo": str(zoo.root), "device": "cpu"})
    assert tiled.attrs["labelfree"]["device"] == "cpu"


def test_the_fiji_field_and_macro_key_round_trip(files):
    from labelfree.imagej import commands
    from labelfree.imagej.fields import command_fields, split_fields
    from labelfree.options import format_macro_options, parse_macro_options
    from labelfree.pipelines import get_pipeline

    fields = command_fields("fusion")
    basic, groups = split_fields(fields)
    assert "model_file" not in [f.key for f in basic] and "model_file" in [f.key for f in groups["inputs"]]
    given = "model_file=[/data/my models/A=a.pt,B=b.pt] device=cpu"
    values = parse_macro_options(given, fields)
    assert values["model_file"] == "/data/my models/A=a.pt,B=b.pt"
    assert parse_macro_options(format_macro_options(values, fields), fields) == values
    inputs = commands._input_values(get_pipeline("fusion"), values, None)
    assert inputs == {"models": "/data/my models/A=a.pt,B=b.pt", "device": "cpu"}  # segment's keywords


def test_options_table_and_help_name_the_flag():
    from labelfree.pipelines import get_pipeline

    inp = get_pipeline("fusion").input("model_file")
    assert (inp.name, inp.flag, inp.kind, inp.basic) == ("models", "--model-file", "file", False)
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "options.md").read_text(encoding="utf-8")
    assert "| `model_file` | `empty` | str |  | inputs | **Fiji/macro key**; command line: `--model-file FILE`." in doc


@pytest.fixture
def imagej_windows_closed(ij):
    """No image or dialog open before and after (the ImageJ of tests/conftest.py)."""
    from labelfree.imagej.jvm import _close_imagej_windows, cancel_open_dialogs

    _close_imagej_windows()
    yield
    cancel_open_dialogs()
    _close_imagej_windows()


@pytest.mark.jvm
def test_fiji_runs_a_model_file_and_records_its_macro_line(imagej_windows_closed, files):
    """The menu path: the model file typed on the dialog's inputs page (no zoo anywhere); the recorded line
    holds model_file= and replays to the same labels."""
    from awt_events import on_edt, press, recorded_line, wait_for_dialog
    from scyjava import jimport

    import labelfree.imagej as lij

    IJ, Recorder = jimport("ij.IJ"), jimport("ij.plugin.frame.Recorder")
    Label, Checkbox = jimport("java.awt.Label"), jimport("java.awt.Checkbox")
    imp = lij.xarray_to_imageplus(files["da"], title="cells")
    imp.show()

    def control(gd, key):
        parts = list(gd.getComponents())
        for i, c in enumerate(parts):
            if isinstance(c, Checkbox) and str(c.getLabel()).strip() in (key, key.replace("_", " ")):
                return c
            if isinstance(c, Label) and str(c.getText()).strip() in (key, key.replace("_", " ")):
                box = parts[i + 1]  # a path field is a panel: its text box and ImageJ's Browse button
                return box if hasattr(box, "setText") else next(k for k in box.getComponents() if hasattr(k, "setText"))
        raise AssertionError(f"no field {key}")

    recorder = Recorder(False)
    try:
        IJ.doCommand("LabelFree Fusion")
        first = wait_for_dialog("LabelFree Fusion")
        on_edt(lambda: control(first, "table").setState(False))
        on_edt(lambda: control(first, "advanced_options").setState(True))
        press(first, 0)
        for page in ("fusion", "flow integration", "run"):
            press(wait_for_dialog(f"LabelFree Fusion: {page}"), 0)
        page = wait_for_dialog("LabelFree Fusion: inputs")
        on_edt(lambda: control(page, "model_file").setText(str(files["a"])))
        press(page, 0)
        press(wait_for_dialog("LabelFree Fusion: outputs"), 0)
        line = recorded_line(recorder, timeout=120)
    finally:
        recorder.close()
    assert f"model_file={files['a']}" in line or f"model_file=[{files['a']}]" in line, line
    labels = lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage("cells-labels")).values
    assert labels.max() > 0
    lij.run_macro('selectImage("cells"); ' + line)
    again = lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage("cells-labels-1")).values
    assert np.array_equal(again, labels)


@pytest.mark.jvm
def test_fiji_reads_the_channels_of_model_file_pairs_as_imagej_counts_them(imagej_windows_closed, files):
    """On an image without channel names, ``model_file=[C2=a.pt,C3=b.pt]`` named the channels as the command line
    does (C0, C1, ...): ImageJ's channel 3 was refused ("C3, which the image does not have") and C1 meant the second
    channel. Now the keys count from 1 as every channel key of a macro does (C1..Cn, or 1..n); the recorded line
    keeps them as typed."""
    from scyjava import jimport

    import labelfree.imagej as lij

    image = np.concatenate([files["da"].values, files["da"].values[:1]], axis=0)  # 3 channels, no names
    imp = lij.xarray_to_imageplus(to_dataarray(image, dims="CYX"), title="three")
    imp.show()
    base = "diameter=15 device=cpu rois=none table=false"
    lij.run_macro(f'selectImage("three"); run("LabelFree Fusion", "channels=C2,C3 model_file=[C2={files["a"]},'
                  f'C3={files["b"]}] {base}");')
    labels = jimport("ij.WindowManager").getImage("three-labels")
    record = json.loads(str(labels.getProperty("Info"))[len("labelfree: "):])
    assert {c: m["sha256"] for c, m in record["models"].items()} == {"C1": file_sha256(files["a"]),
                                                                     "C2": file_sha256(files["b"])}
    labels.close()
    with pytest.raises(Exception, match=r"model_file channel=C4 is out of range: this image has 3 channel"):
        lij.run_macro(f'selectImage("three"); run("LabelFree Fusion", "channels=C2,C3 model_file=[C2={files["a"]},'
                      f'C4={files["b"]}] {base}");')
