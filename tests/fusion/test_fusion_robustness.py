"""Fusion from the outside: zoo folders in batch runs, no zoo, channel names, one-channel images.

The tiny network of tests/fusion/conftest.py (trained once per session) is filed in zoos
under whatever channel names a test needs. LabelFree's cache folder is a fresh temporary
folder in every test, so a zoo in the user's cache never takes part.
"""

from __future__ import annotations

import json
import re
import shlex

import numpy as np
import pandas as pd
import pytest
import tifffile

from fusion_data import synthetic_pair

from labelfree.cli import main
from labelfree.errors import ConfigError, InputError, ModelFileError


#: the user's cache takes no part (tests/fusion/conftest.py)
pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture
def diameter(model):
    """The diameter flag: the model's training diameter (no search, quicker)."""
    return f"diameter={model.diam_labels:.2f}"


def make_zoo(path, model, *channel_sets):
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(path, create=True)
    for channels in channel_sets:
        zoo.add(model, object="cyto", channels=channels)
    return zoo


def write_imagej(path, image, names=None):
    meta = {"axes": "CYX", **({"Labels": list(names)} if names else {})}
    tifffile.imwrite(path, image, imagej=True, metadata=meta)
    return path


def f1(pred, truth):
    from labelfree.metrics import evaluate

    return evaluate(np.asarray(pred), np.asarray(truth))["f1"]


# -- P1: a zoo folder in a batch run ------------------------------------------------------------------------------


def test_batch_fusion_takes_a_zoo_folder_and_redoes_inputs_when_the_zoo_changes(model, diameter, tmp_path, capsys):
    from labelfree.batch.runner import input_checksum
    from labelfree.fusion import segment
    from labelfree.io import read_image

    pairs = {name: synthetic_pair(seed) for name, seed in (("a", 100), ("b", 101))}
    files = [str(write_imagej(tmp_path / f"{name}.tif", image, ["GFP", "RFP"])) for name, (image, _) in pairs.items()]
    zoo = make_zoo(tmp_path / "zoo", model, ["GFP", "RFP"])
    out = tmp_path / "out"
    run = ["batch", *files, "-p", "fusion", "-o", str(out), "--scheduler", "sync", "--no-progress", "--set", diameter]

    assert main([*run, "--zoo", str(zoo.root)]) == 0, capsys.readouterr()
    summary = pd.read_csv(out / "batch_summary.csv")
    assert list(summary["status"]) == ["ok", "ok"]
    for name, (_, truth) in pairs.items():
        labels = tifffile.imread(out / f"{name}_labels.tif")
        assert f1(labels, truth) >= 0.6  # the zoo's model ran
        alone = segment(read_image(tmp_path / f"{name}.tif"), zoo=zoo.root, config={"diameter": model.diam_labels})
        assert np.array_equal(labels, np.asarray(alone))
        prov = json.loads((out / f"{name}_provenance.json").read_text())
        assert prov["inputs"]["zoo"]["path"] == str(zoo.root)
        assert [m["id"] for m in prov["models"].values()] == [zoo.entries()[0]["id"]] * 2

    before = input_checksum(zoo.root)
    assert before == input_checksum(zoo.root) and len(before) == 64
    assert main([*run, "--input", f"zoo={zoo.root}"]) == 0  # the same zoo, the other flag: nothing to redo
    assert list(pd.read_csv(out / "batch_summary.csv")["status"]) == ["skipped", "skipped"]

    zoo.add(model, object="cyto", channels=["GFP"])  # the zoo changed: its results are earlier results now
    assert input_checksum(zoo.root) != before
    capsys.readouterr()
    assert main([*run, "--zoo", str(zoo.root)]) == 1
    assert "2 input(s) have earlier results" in capsys.readouterr().err
    assert main([*run, "--zoo", str(zoo.root), "--overwrite"]) == 0
    assert list(pd.read_csv(out / "batch_summary.csv")["status"]) == ["ok", "ok"]


# -- P3: no zoo -----------------------------------------------------------------------------------------------------


def test_fusion_without_a_zoo_says_in_cli_words_how_to_give_or_make_one(tmp_path, empty_cache, capsys):
    image = write_imagej(tmp_path / "a.tif", synthetic_pair(100)[0], ["GFP", "RFP"])
    assert main(["fusion", str(image), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Fusion needs a model zoo: give its folder with --zoo FOLDER" in err
    assert "labelfree zoo add FOLDER WEIGHTS" in err and "labelfree demo --pipeline fusion" in err
    assert str(empty_cache / "zoo") in err and "segment needs models" not in err


def test_batch_fusion_without_a_usable_zoo_stops_before_any_input(tmp_path, capsys):
    files = [str(write_imagej(tmp_path / f"{n}.tif", synthetic_pair(s)[0], ["GFP", "RFP"])) for n, s in (("a", 1), ("b", 2))]
    out = tmp_path / "out"
    assert main(["batch", *files, "-p", "fusion", "-o", str(out), "--scheduler", "sync", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("Fusion needs a model zoo") == 1 and "--zoo FOLDER" in err and "FAILED" not in err
    assert not (out / "batch_summary.csv").exists()
    assert main(["batch", *files, "-p", "fusion", "--zoo", str(tmp_path / "none"), "-o", str(out),
                 "--scheduler", "sync", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("is not a LabelFree model zoo (it does not exist)") == 1 and "labelfree zoo add" in err
    assert not (out / "batch_summary.csv").exists()


def test_an_empty_zoo_option_uses_the_zoo_in_labelfree_s_model_cache(model, diameter, tmp_path, empty_cache):
    from labelfree.pipelines import get_pipeline

    assert "empty: LabelFree's model cache" in get_pipeline("fusion").input("zoo").help  # what this makes true
    zoo = make_zoo(empty_cache / "zoo", model, ["GFP", "RFP"])
    image, truth = synthetic_pair(100)
    path = write_imagej(tmp_path / "a.tif", image, ["GFP", "RFP"])
    assert main(["fusion", str(path), "-o", str(tmp_path / "one"), "--set", diameter]) == 0
    prov = json.loads((tmp_path / "one" / "a_provenance.json").read_text())
    assert {m["id"] for m in prov["models"].values()} == {zoo.entries()[0]["id"]}
    assert f1(tifffile.imread(tmp_path / "one" / "a_labels.tif"), truth) >= 0.6
    out = tmp_path / "batch"
    assert main(["batch", str(path), "-p", "fusion", "-o", str(out), "--scheduler", "sync", "--no-progress",
                 "--set", diameter]) == 0
    prov = json.loads((out / "a_provenance.json").read_text())
    assert prov["inputs"]["zoo"]["path"] == str(empty_cache / "zoo")  # handed to the workers, and fingerprinted
    assert np.array_equal(tifffile.imread(out / "a_labels.tif"), tifffile.imread(tmp_path / "one" / "a_labels.tif"))


# -- P2: channel names ----------------------------------------------------------------------------------------------


def test_unmatched_channel_names_are_listed_with_a_fix_that_works(model, diameter, tmp_path, capsys):
    image, truth = synthetic_pair(100)
    zoo = make_zoo(tmp_path / "zoo", model, ["GFP", "RFP"])
    plain = write_imagej(tmp_path / "plain.tif", image)  # channels C0, C1
    named = write_imagej(tmp_path / "named.tif", image, ["GFP", "RFP"])
    run = ["--zoo", str(zoo.root), "--set", diameter]
    assert main(["fusion", str(plain), "-o", str(tmp_path / "p"), *run]) == 1
    err = capsys.readouterr().err
    assert "no cyto model for the image's channel(s) ['C0', 'C1']" in err
    assert "the image has ['C0', 'C1'] (default names: the file names none)" in err
    assert "the zoo's cyto models were trained on ['GFP', 'RFP']" in err and "slice labels" in err
    command = re.search(r"`(labelfree zoo add [^`]*)`", err).group(1)
    assert command.endswith("--channels C0 C1")
    assert main(shlex.split(command)[1:]) == 0  # file the model under the image's names, as the message says
    capsys.readouterr()
    assert main(["fusion", str(plain), "-o", str(tmp_path / "p"), *run]) == 0
    assert main(["fusion", str(named), "-o", str(tmp_path / "n"), *run]) == 0
    labels = tifffile.imread(tmp_path / "p" / "plain_labels.tif")
    assert f1(labels, truth) >= 0.6
    assert np.array_equal(labels, tifffile.imread(tmp_path / "n" / "named_labels.tif"))


def test_channel_names_given_on_the_command_line_match_a_plain_tiff_to_the_zoo(model, diameter, tmp_path, capsys):
    image, truth = synthetic_pair(100)
    zoo = make_zoo(tmp_path / "zoo", model, ["GFP", "RFP"])
    plain = write_imagej(tmp_path / "plain.tif", image)  # channels C0, C1
    run = ["--zoo", str(zoo.root), "--set", diameter]
    assert main(["fusion", str(plain), "-o", str(tmp_path / "p"), *run]) == 1
    err = capsys.readouterr().err
    flag = re.search(r"--channel-names (\S+), one name per channel", err).group(1)
    assert flag == "GFP,RFP"  # the message offers the zoo's names when the counts agree
    assert main(["fusion", str(plain), "-o", str(tmp_path / "p"), "--channel-names", flag, *run]) == 0
    labels = tifffile.imread(tmp_path / "p" / "plain_labels.tif")
    assert f1(labels, truth) >= 0.6
    prov = json.loads((tmp_path / "p" / "plain_provenance.json").read_text())
    assert prov["channels"] == ["GFP", "RFP"]
    # a channel picked by its new name
    assert main(["fusion", str(plain), "-o", str(tmp_path / "g"), "--channel-names", "GFP,RFP", "--channel", "RFP",
                 *run]) == 0
    assert json.loads((tmp_path / "g" / "plain_provenance.json").read_text())["channels"] == ["RFP"]
    # one name for a one-channel file names that channel
    tifffile.imwrite(tmp_path / "one.tif", image[1])
    one_zoo = make_zoo(tmp_path / "zoo1", model, ["RFP"])
    assert main(["fusion", str(tmp_path / "one.tif"), "-o", str(tmp_path / "one"), "--channel-names", "RFP",
                 "--zoo", str(one_zoo.root), "--set", diameter]) == 0
    assert json.loads((tmp_path / "one" / "one_provenance.json").read_text())["channels"] == ["RFP"]


@pytest.mark.parametrize(("names", "expected"), [
    ("GFP", "1 channel names given for 2 channels"),
    ("A,B,C", "3 channel names given for 2 channels"),
])
def test_channel_names_of_another_count_are_one_clear_error_and_write_nothing(names, expected, model, tmp_path, capsys):
    image, _ = synthetic_pair(64)
    plain = write_imagej(tmp_path / "plain.tif", image)
    zoo = make_zoo(tmp_path / "zoo", model, ["GFP", "RFP"])
    assert main(["fusion", str(plain), "-o", str(tmp_path / "o"), "--channel-names", names,
                 "--zoo", str(zoo.root)]) == 1
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("names", ["GFP,GFP", "GFP,", " , "])
def test_repeated_or_empty_channel_names_are_refused_by_the_parser(names, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fusion", str(tmp_path / "any.tif"), "-o", str(tmp_path / "o"), "--channel-names", names])
    assert exit_.value.code == 2
    assert "one different, non-empty name per channel" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_one_channel_gets_the_model_trained_on_channels_that_include_it(model, diameter, tmp_path):
    from labelfree.fusion import FusionConfig, segment
    from labelfree.fusion.segment import choose_models
    from labelfree.image import to_dataarray

    image, truth = synthetic_pair(100)
    da = to_dataarray(image, dims="CYX", channel_names=["GFP", "RFP"])
    zoo = make_zoo(tmp_path / "zoo", model, ["GFP", "RFP", "DAPI"])
    mc = zoo.entries()[0]["id"]
    cfg = {"diameter": model.diam_labels}
    for channels in (["GFP"], ["GFP", "RFP"]):
        chosen = choose_models(zoo, channels, config=FusionConfig(), device="cpu")
        assert [e["id"] for _, e in chosen.values()] == [mc] * len(channels)
        assert len({id(m) for m, _ in chosen.values()}) == 1  # loaded once
    one = segment(da, zoo=zoo.root, channels=["GFP"], config=cfg)
    assert one.attrs["labelfree"]["models"]["GFP"]["id"] == mc
    assert np.array_equal(one, segment(da, models={"GFP": model}, channels=["GFP"], config=cfg))
    assert f1(one, truth) >= 0.4  # one channel of two (measured 0.55; the two fused: 1.0)
    path = write_imagej(tmp_path / "a.tif", image, ["GFP", "RFP"])
    assert main(["fusion", str(path), "--zoo", str(zoo.root), "--channel", "GFP", "-o", str(tmp_path / "o"),
                 "--set", diameter]) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "o" / "a_labels.tif"), one)
    with pytest.raises(ModelFileError, match=r"channel\(s\) \['C1'\].*trained on \['GFP', 'RFP', 'DAPI'\]"):
        segment(to_dataarray(image, dims="CYX"), zoo=zoo.root, channels=["C1"], config=cfg)


# -- P4: one-channel images -----------------------------------------------------------------------------------------


def _write_one_channel(kind, path, plane):
    if kind == "plain 2-D TIFF":
        tifffile.imwrite(path, plane)
        return "C0"
    if kind == "ImageJ CYX, C=1":
        tifffile.imwrite(path, plane[None], imagej=True, metadata={"axes": "CYX", "Labels": ["GFP"]})
        return "GFP"
    tifffile.imwrite(path, plane[None], ome=True, metadata={"axes": "CYX", "Channel": {"Name": ["RFP"]}})
    return "RFP"


@pytest.mark.parametrize("kind", ["plain 2-D TIFF", "ImageJ CYX, C=1", "OME-TIFF, C=1"])
def test_one_channel_images_go_through_fusion_named_as_their_file_names_them(kind, model, diameter, tmp_path):
    from labelfree.fusion import segment
    from labelfree.io import read_image

    image, truth = synthetic_pair(100)
    path = tmp_path / ("one.ome.tif" if kind.startswith("OME") else "one.tif")
    name = _write_one_channel(kind, path, image[0])
    assert read_image(path).dims == ("Y", "X")  # the reader drops the C axis of length one
    zoo = make_zoo(tmp_path / "zoo", model, [name])
    assert main(["fusion", str(path), "--zoo", str(zoo.root), "--set", "fusion=none", "--set", diameter,
                 "-o", str(tmp_path / "o")]) == 0
    prov = json.loads((tmp_path / "o" / "one_provenance.json").read_text())
    assert prov["channels"] == [name] and prov["config"]["fusion"] == "none"
    labels = tifffile.imread(tmp_path / "o" / "one_labels.tif")
    cfg = {"diameter": model.diam_labels, "fusion": "none"}
    assert np.array_equal(labels, segment(image[:1], models={"C0": model}, config=cfg))  # the (1, Y, X) array
    assert np.array_equal(labels, segment(image[0], models={"C0": model}, config=cfg))  # a 2-D array: channel C0
    assert f1(labels, truth) >= 0.4  # one channel of two (measured 0.55; the two fused: 1.0)


def test_fusion_none_with_several_channels_is_refused_before_any_model_is_loaded(monkeypatch):
    import importlib

    from labelfree.fusion import segment

    fusion_segment = importlib.import_module("labelfree.fusion.segment")  # the module, not the function
    from labelfree.image import to_dataarray

    def no_models(*args, **kwargs):
        raise AssertionError("models were loaded")

    original = fusion_segment.choose_models
    monkeypatch.setattr(fusion_segment, "choose_models", no_models)
    image = to_dataarray(synthetic_pair(100)[0], dims="CYX", channel_names=["GFP", "RFP"])
    with pytest.raises(ConfigError, match=r"fusion=none segments one channel, but 2 were chosen.*--channel NAME"):
        segment(image, zoo="any", config={"fusion": "none"})
    monkeypatch.setattr(fusion_segment, "choose_models", original)
    with pytest.raises(InputError, match="Fusion needs a model zoo"):  # one channel: it goes on to the zoo
        segment(image, channels=["GFP"], config={"fusion": "none"})
