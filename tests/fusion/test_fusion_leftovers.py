"""Fusion leftovers: ``finetune(config=FILE)`` reads the file's ``starting_model`` as ``fusion train -c FILE`` does;
``fusion eval``'s advice names eval's command and options; zoos and run records written by older LabelFree versions
work with this one.

The older formats are built here from their documented fields (docs/fusion.md, the zoo module's docstring): a zoo
index entry with ``id``, ``object``, ``cell_line``, ``channels``, ``starting_model``, ``validation``, ``diameter``,
``nbase``, ``file``, ``sha256`` and ``date`` (no ``weights_sha256``, ``versions`` nor ``training``) beside a weights
file cellpose saved; a run's provenance that names its zoo only under ``inputs`` (no ``zoo``, no ``command``), or
nowhere (the first versions).
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import tifffile
from fusion_data import TINY, synthetic_pair

from labelfree._config import file_sha256
from labelfree.cli import main
from labelfree.errors import ConfigError

#: the user's cache takes no part (tests/fusion/conftest.py): without --zoo, no zoo but a recorded one
pytestmark = pytest.mark.usefixtures("empty_cache")


# -- 1. finetune(config=FILE): starting_model against the file's folder ------------------------------------------------
class _Stop(Exception):
    """Raised by the stand-in of the model loading: the config finetune would start from is what is tested."""


@pytest.fixture
def train_folders(tmp_path, monkeypatch):
    """A config folder ``conf``, the current folder ``run``, and finetune's start replaced by a stand-in that keeps
    the config it was given; returns (root, seen)."""
    import importlib

    ft = importlib.import_module("labelfree.fusion.finetune")  # the module (the package's name is the function)
    (tmp_path / "conf").mkdir()
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    seen: list = []

    def start(cfg, device):
        seen.append(cfg.starting_model)
        raise _Stop

    monkeypatch.setattr(ft, "_start", start)
    return tmp_path, seen


def _images():
    image, labels = synthetic_pair(0, size=64, n_cells=4)
    return [image, image], [labels, labels]


@pytest.mark.parametrize("kind", [str, "path"])
def test_finetune_config_file_reads_starting_model_against_its_folder(train_folders, kind):
    """Was: read against the current folder (``weights/start.pt`` in ``run``: no such file)."""
    from pathlib import Path

    from labelfree.fusion import finetune, finetune_channelwise

    root, seen = train_folders
    conf = root / "conf" / "train.yaml"
    conf.write_text("starting_model: weights/start.pt\nn_epochs: 1\n")
    (root / "conf" / "weights").mkdir()
    (root / "conf" / "weights" / "start.pt").write_bytes(b"w")
    given = str(conf) if kind is str else Path(conf)
    with pytest.raises(_Stop):
        finetune(*_images(), channels=[0], config=given)
    with pytest.raises(_Stop):
        finetune_channelwise(*_images(), channels=["C1"], config=given)
    assert seen == [str(root / "conf" / "weights" / "start.pt")] * 2


def test_finetune_config_file_refuses_a_starting_model_only_the_current_folder_has(train_folders):
    """Was: the current folder's start.pt was trained from, though the config file's folder has none."""
    from labelfree.fusion import finetune

    root, seen = train_folders
    conf = root / "conf" / "train.yaml"
    conf.write_text("starting_model: start.pt\n")
    (root / "run" / "start.pt").write_bytes(b"w")
    with pytest.raises(ConfigError) as info:
        finetune(*_images(), channels=[0], config=str(conf))
    text = " ".join(str(info.value).split())
    assert text.startswith(f"Config file {conf}: starting_model 'start.pt' names nothing relative to the config "
                           f"file's folder ({root / 'conf' / 'start.pt'} does not exist) but names "
                           f"{root / 'run' / 'start.pt'} relative to the current folder")
    assert "write the path relative to the file's folder (../run/start.pt)" in text
    assert seen == []


@pytest.mark.parametrize("name", ["cyto3", "nuclei", "scratch"])
def test_finetune_config_file_keeps_built_in_names(train_folders, name):
    """A folder named like a built-in model, beside the config file or in the current folder, is no model file."""
    from labelfree.fusion import finetune

    root, seen = train_folders
    (root / "conf" / "train.yaml").write_text(f"starting_model: {name}\n")
    (root / "conf" / name).mkdir()
    (root / "run" / name).mkdir()
    with pytest.raises(_Stop):
        finetune(*_images(), channels=[0], config=str(root / "conf" / "train.yaml"))
    assert seen == [name]


def test_finetune_dict_config_stays_relative_to_the_current_folder(train_folders):
    from labelfree.fusion import finetune

    root, seen = train_folders
    (root / "conf" / "start.pt").write_bytes(b"w")
    with pytest.raises(_Stop):
        finetune(*_images(), channels=[0], config={"starting_model": "start.pt"})
    assert seen == ["start.pt"]


def test_finetune_from_a_config_file_trains_from_the_files_starting_model_and_records_it(tmp_path, monkeypatch):
    """A real (tiny) training: the weights beside the config file are loaded, and the result and the zoo entry
    record their absolute path (was: ModelFileError, ``weights/start.pt`` does not exist)."""
    from labelfree.fusion import ModelZoo, finetune, new_model, save_model

    (tmp_path / "conf" / "weights").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    start = tmp_path / "conf" / "weights" / "start.pt"
    save_model(new_model(nbase=TINY["nbase"], diam_mean=TINY["diam_mean"], device="cpu", seed=4), start)
    settings = {**TINY, "n_epochs": 1, "samples_per_epoch": 8, "starting_model": "weights/start.pt"}
    (tmp_path / "conf" / "train.yaml").write_text(json.dumps(settings))
    monkeypatch.chdir(tmp_path / "run")
    result = finetune(*_images(), channels=[0], config=str(tmp_path / "conf" / "train.yaml"), device="cpu")
    assert result.starting_model == str(start) == result.config.starting_model
    entry = ModelZoo(tmp_path / "zoo", create=True).add(result, object="cyto", channels=result.channels,
                                                        starting_model=result.starting_model)
    assert entry["starting_model"] == entry["training"]["config"]["starting_model"] == str(start)


# -- 2. fusion eval's advice names eval --------------------------------------------------------------------------------
def _tiny_net(seed):
    from labelfree.fusion import new_model

    net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=seed)
    net.diam_labels = 12.0
    return net


@pytest.fixture
def eval_files(tmp_path):
    """An image of channels A and C and its labels (one object)."""
    image = np.random.default_rng(1).integers(0, 255, (2, 64, 64)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "img.tif", image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "C"]})
    labels = np.zeros((64, 64), np.uint16)
    labels[20:32, 20:32] = 1
    tifffile.imwrite(tmp_path / "gt.tif", labels)
    return tmp_path


def _eval(root, *extra):
    return main(["fusion", "eval", str(root / "img.tif"), "--labels", str(root / "gt.tif"), "--zoo", str(root / "zoo"),
                 "--device", "cpu", "--threads", "1", "-q", *extra])


def test_eval_names_eval_with_the_option_that_uses_the_zoos_nuclei_models(eval_files, capsys):
    """Was: ``labelfree fusion IMAGE -o OUT --zoo ... --object nuclei`` and "the Fiji dialog's object"."""
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(eval_files / "zoo", create=True)
    zoo.add(_tiny_net(0), object="nuclei", channels=["A"], validation={"f1": 0.3})
    zoo.add(_tiny_net(1), object="nuclei", channels=["C"], validation={"f1": 0.3})
    assert _eval(eval_files) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert ("It holds nuclei models for ['A', 'C']: to use them, run with --object nuclei (`labelfree fusion eval "
            f"IMAGES --labels LABELS --zoo {zoo.root} --object nuclei`; the same as --set object=nuclei; a config "
            "file's object; Python: FusionConfig(object='nuclei')).") in err
    assert "-o OUT" not in err and "Fiji dialog" not in err


def test_eval_names_its_channels_option_for_the_channels_that_have_a_model(eval_files, capsys):
    """Was: ``labelfree fusion --channel A; fusion eval|select --channels A``."""
    from labelfree.fusion import ModelZoo

    ModelZoo(eval_files / "zoo", create=True).add(_tiny_net(0), object="cyto", channels=["A"])
    assert _eval(eval_files) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert ("To use only the channels that have a model: ['A'] (labelfree fusion eval IMAGES --labels LABELS "
            "--channels A; Python: channels=['A']).") in err
    assert "labelfree fusion --channel" not in err


def test_eval_with_a_missing_weights_file_names_evals_channels_option(eval_files, capsys):
    """Was: only ``labelfree fusion --channel`` to leave the model's channel out (eval's option is --channels)."""
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(eval_files / "zoo", create=True)
    for k, channel in enumerate("AC"):
        zoo.add(_tiny_net(k), object="cyto", channels=[channel])
    gone = zoo.entries()[1]
    zoo.path_of(gone).unlink()
    assert _eval(eval_files) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"The zoo entry {gone['id']} points to {zoo.path_of(gone)}, which is missing" in err
    assert ("or leave its channel(s) C out of the run (labelfree fusion --channel with the others; fusion eval|select "
            "--channels with the others; Python: channels=[...]).") in err


def test_eval_warning_about_a_multichannel_pick_names_no_model_file_option(eval_files, caplog):
    """Eval has no --model-file: was "give them as model files with the zoo (--model-file A=...)"."""
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(eval_files / "zoo", create=True)
    both = zoo.add(_tiny_net(0), object="cyto", channels=["A", "C"], validation={"f1": 0.2})
    alone = zoo.add(_tiny_net(1), object="cyto", channels=["A"], validation={"f1": 0.9})
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert _eval(eval_files, "--set", "diameter=12") == 0
    said = [" ".join(r.getMessage().split()) for r in caplog.records if "is used for every channel" in r.getMessage()]
    assert len(said) == 1
    assert f"the zoo's channel-wise models recorded higher validation F1 for A (0.900, {alone['id']})" in said[0]
    assert (f"To compare the channel-wise models instead, run `labelfree fusion eval IMAGES --labels LABELS` with a "
            f"zoo that does not hold {both['id']} (file the channel-wise models in a new one: labelfree zoo add NEWZOO "
            "FILE --object cyto --channels NAME; --zoo NEWZOO)") in said[0]
    assert f"the files being A={zoo.path_of(alone)}." in said[0]
    assert "--model-file" not in said[0]


# -- 3. zoos and records of older versions -----------------------------------------------------------------------------
def _old_weights_file(model, path):
    """A weights file as the older versions wrote it: cellpose's own save (torch.save of the network)."""
    model.net.diam_labels.data[:] = float(model.diam_labels)
    model.net.save_model(str(path))
    return path


@pytest.fixture(scope="module")
def old_zoo(model, tmp_path_factory):
    """A zoo as older versions wrote it: the tiny trained model for A and for B (their ``validation`` with a NaN
    precision, ``nbase`` with the input channels first), an image of channels A and B, and a run's outputs made
    with the same models given as files (the labels the old zoo must give again)."""
    root = tmp_path_factory.mktemp("oldzoo")
    image, labels = synthetic_pair(100)
    tifffile.imwrite(root / "img.tif", image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "B"]})
    tifffile.imwrite(root / "gt.tif", labels.astype(np.uint16))
    zoo = root / "zoo"
    zoo.mkdir()
    entries = []
    for k, channel in enumerate("AB"):
        ident = f"cyto_any_{channel}_2026112112000{k}000000"
        path = _old_weights_file(model, zoo / f"{ident}.pt")
        entries.append({"id": ident, "object": "cyto", "cell_line": "", "channels": [channel],
                        "starting_model": "scratch",
                        "validation": {"precision": math.nan, "recall": 0.5, "f1": 0.5, "n_images": 1.0},
                        "diameter": float(model.diam_labels), "nbase": [2, *TINY["nbase"]], "file": path.name,
                        "sha256": file_sha256(path), "date": "2026-11-21T12:00:00+00:00"})
    (zoo / "index.json").write_text(json.dumps({"version": 1, "models": entries}, indent=2))  # NaN as json wrote it
    files = ",".join(f"{c}={zoo / e['file']}" for c, e in zip("AB", entries))
    assert main(["fusion", str(root / "img.tif"), "--model-file", files, "-o", str(root / "ref"), "--device", "cpu",
                 "--threads", "1", "-q"]) == 0
    return {"root": root, "zoo": zoo, "entries": entries, "ref": tifffile.imread(root / "ref" / "img_labels.tif")}


def _old_record(run, where, *, zoo_in_inputs):
    """A run's provenance as older versions wrote it: no ``zoo``, no ``command``, no ``cwd``; the zoo's folder under
    ``inputs`` (or, the first versions, nowhere)."""
    record = {
        "pipeline": "fusion", "version": "0.1.0", "created": "2026-12-01T12:00:00+00:00", "channels": ["A", "B"],
        "config": {"average_space": "logits", "batch_size": 8, "cell_line": "", "cellprob_threshold": 0.0,
                   "channels": [], "diameter": 0.0, "flow_threshold": 0.4, "fusion": "flow_average", "min_iou": 0.5,
                   "min_size": 15, "niter": 0, "object": "cyto"},
        "models": {e["channels"][0]: {"file": e["file"], "id": e["id"], "sha256": e["sha256"]}
                   for e in run["entries"]},
    }
    if zoo_in_inputs:
        record["inputs"] = {"image": {"path": str(run["root"] / "img.tif"), "sha256": file_sha256(run["root"] /
                                                                                                  "img.tif")},
                            "zoo": {"path": str(run["zoo"])}}
    where.write_text(json.dumps(record, indent=2))
    return where


def _run(run, out, *extra):
    return main(["fusion", str(run["root"] / "img.tif"), "-o", str(run["root"] / out), "--device", "cpu",
                 "--threads", "1", "-q", *extra])


def _labels(run, out):
    return tifffile.imread(run["root"] / out / "img_labels.tif")


def test_an_old_zoo_lists_picks_and_segments_as_its_files_do(old_zoo, capsys):
    run = old_zoo
    assert main(["zoo", "list", str(run["zoo"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:5] for line in lines] == [[e["id"], "cyto", "-", c, "F1=0.500"]
                                                        for e, c in zip(run["entries"], "AB")]
    assert main(["zoo", "pick", str(run["zoo"]), "--object", "cyto", "--channels", "B"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == run["entries"][1]["id"]
    assert _run(run, "plain", "--zoo", str(run["zoo"])) == 0
    assert run["ref"].max() > 0 and np.array_equal(_labels(run, "plain"), run["ref"])
    record = json.loads((run["root"] / "plain" / "img_provenance.json").read_text())
    assert {c: m["id"] for c, m in record["models"].items()} == {"A": run["entries"][0]["id"],
                                                                 "B": run["entries"][1]["id"]}


def test_an_old_record_that_names_its_zoo_under_inputs_repeats_its_run_without_zoo(old_zoo, caplog):
    """Was: "Fusion needs a model zoo" (the zoo was looked for under the record's ``zoo`` and ``command`` only)."""
    run = old_zoo
    record = _old_record(run, run["root"] / "old_provenance.json", zoo_in_inputs=True)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert _run(run, "again", "--config", str(record)) == 0
    said = [r.getMessage() for r in caplog.records if "No zoo given" in r.getMessage()]
    assert len(said) == 1 and f"using the zoo {run['zoo']}, which the run of {record} used" in said[0]
    assert np.array_equal(_labels(run, "again"), run["ref"])
    assert _run(run, "best", "--config", str(record), "--zoo", str(run["zoo"]), "--zoo-best") == 0
    assert np.array_equal(_labels(run, "best"), run["ref"])


def test_an_old_record_that_names_no_zoo_says_to_give_the_zoo_its_run_used(old_zoo, capsys):
    """Was: "Fusion needs a model zoo: ... None was given, and LabelFree's model cache holds none", which reads as
    if the record's models did not matter."""
    run = old_zoo
    record = _old_record(run, run["root"] / "oldest_provenance.json", zoo_in_inputs=False)
    assert _run(run, "none", "--config", str(record)) == 1
    err = " ".join(capsys.readouterr().err.split())
    ids = ", ".join(sorted(e["id"] for e in run["entries"]))
    assert (f"Config file {record} names the zoo models its run used ({ids}), and no zoo is at hand: none was "
            "given, the record names none that exists (a record of an older version names none), and LabelFree's "
            "cache holds none. Give the zoo that run used (--zoo FOLDER; Python: inputs={'zoo': ...}), or run its "
            "settings with the zoo's own pick of models (--zoo-best") in err
    assert _run(run, "given", "--config", str(record), "--zoo", str(run["zoo"])) == 0
    assert np.array_equal(_labels(run, "given"), run["ref"])


def test_select_and_eval_score_an_old_zoos_models(old_zoo, capsys):
    run = old_zoo
    args = [str(run["root"] / "img.tif"), "--labels", str(run["root"] / "gt.tif"), "--zoo", str(run["zoo"]),
            "--device", "cpu", "--threads", "1", "--no-progress", "--set", "diameter=15"]
    assert main(["fusion", "eval", *args]) == 0
    table = capsys.readouterr().out
    assert "flow_average" in table and "channel A" in table
    assert main(["fusion", "select", *args]) == 0
    out = capsys.readouterr().out
    assert f"--zoo {run['zoo']} --object cyto" in out and "segment with it: labelfree fusion IMAGE -o OUT" in out
