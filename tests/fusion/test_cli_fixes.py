"""``labelfree fusion eval|select|train`` and ``labelfree zoo add`` from the outside: the diameter of eval
and select, select's models, zoos left by failed commands, the --csv check, warnings, hashes of weights files.

The tiny network of tests/fusion/conftest.py (trained once per session) is filed in zoos under the
channel names a test needs; LabelFree's cache folder is empty in every test.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from fusion_data import synthetic_pair
from scipy import ndimage

from labelfree.cli import main


#: the user's cache takes no part (tests/fusion/conftest.py)
pytestmark = pytest.mark.usefixtures("empty_cache")


def make_zoo(path, model, *channel_sets, f1=None):
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(path, create=True)
    return zoo, [zoo.add(model, object="cyto", channels=c, validation={} if f1 is None else {"f1": f1})["id"]
                 for c in channel_sets]


def write_pair(folder, seed=100, *, zoom=1.0, names=("A", "B")):
    """An ImageJ CYX image with named channels and its truth; ``zoom`` makes the cells larger than in training."""
    image, truth = synthetic_pair(seed)
    if zoom != 1.0:
        image = np.stack([ndimage.zoom(c, zoom, order=1) for c in image]).astype(np.float32)
        truth = ndimage.zoom(truth, zoom, order=0)
    path, gt = folder / f"img{seed}.tif", folder / f"gt{seed}.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "CYX", "Labels": list(names)})
    tifffile.imwrite(gt, truth.astype(np.uint16))
    return path, gt


def test_eval_scores_every_row_at_the_diameter_segment_measures(model, tmp_path, capsys):
    from labelfree.fusion import segment
    from labelfree.io import read_image

    zoo, _ = make_zoo(tmp_path / "zoo", model, ["A"], ["B"])
    path, gt = write_pair(tmp_path, zoom=1.4)
    csv = tmp_path / "t.csv"
    assert main(["fusion", "eval", str(path), "--labels", str(gt), "--zoo", str(zoo.root), "--device", "cpu",
                 "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    seg = segment(read_image(path), zoo=zoo.root, device="cpu").attrs["labelfree"]
    assert seg["diameter_source"] == "search"
    table = pd.read_csv(csv)
    assert list(table["diameter"]) == pytest.approx([seg["diameter"]] * len(table), abs=1e-3)  # segment's, every row
    assert set(table["diameter_source"]) == {"search"}
    assert f"diameter {seg['diameter']:.2f} px (measured on the images" in out
    assert abs(seg["diameter"] - model.diam_labels) > 1  # measured, not the training diameter


def test_select_uses_the_best_model_of_each_channel_set_names_it_and_measures_the_diameter(model, tmp_path, capsys):
    zoo, (good, bad, b) = make_zoo(tmp_path / "zoo", model, ["A"], ["A"], ["B"])
    entries = zoo.entries()  # the second A model is filed last, with a lower F1
    entries[0]["validation"], entries[1]["validation"] = {"f1": 0.9}, {"f1": 0.1}
    zoo._write(entries)
    assert zoo.pick(object="cyto", channels=["A"])["id"] == good
    path, gt = write_pair(tmp_path)
    csv = tmp_path / "s.csv"
    assert main(["fusion", "select", str(path), "--labels", str(gt), "--zoo", str(zoo.root), "--device", "cpu",
                 "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(csv)
    models = dict(zip(table["train"] + " " + table["evaluate"], table["model"]))
    assert models["A A"] == good and models["B B"] == b and models["CW A+B"] == f"{good}+{b}"
    assert bad not in out
    assert set(table["diameter_source"]) == {"search"} and "diameter " in out


def test_select_searches_only_the_models_of_the_chosen_channels(model, tmp_path):
    zoo, _ = make_zoo(tmp_path / "zoo", model, ["A"], ["B"], ["A", "B"])
    path, gt = write_pair(tmp_path)
    csv = tmp_path / "s.csv"
    assert main(["fusion", "select", str(path), "--labels", str(gt), "--zoo", str(zoo.root), "--device", "cpu",
                 "--channels", "A", "--set", f"diameter={model.diam_labels:.2f}", "--csv", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert list(table["train"]) == ["A"] and list(table["evaluate"]) == ["A"]
    assert set(table["diameter_source"]) == {"given"}


def test_a_failed_zoo_add_or_train_leaves_no_zoo_it_created(model, tmp_path, capsys):
    from labelfree.fusion import ModelZoo
    from labelfree.fusion.models import save_model

    garbage = tmp_path / "bad.pt"
    garbage.write_text("garbage")
    assert main(["zoo", "add", str(tmp_path / "z1"), str(garbage), "--object", "cyto", "--channels", "A"]) == 1
    assert not (tmp_path / "z1").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made: kept, without an index
    assert main(["zoo", "add", str(tmp_path / "mine"), str(garbage), "--object", "cyto", "--channels", "A"]) == 1
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())
    zoo, ids = make_zoo(tmp_path / "z2", model, ["A"])  # a zoo that holds a model is left as it was
    assert main(["zoo", "add", str(zoo.root), str(garbage), "--object", "cyto", "--channels", "B"]) == 1
    assert [e["id"] for e in zoo.entries()] == ids
    path, gt = write_pair(tmp_path)
    assert main(["fusion", "train", str(path), "--labels", str(gt), "--zoo", str(tmp_path / "z3"), "--channels",
                 "DAPI", "--epochs", "1", "--device", "cpu"]) == 1
    assert not (tmp_path / "z3").exists()
    capsys.readouterr()
    weights = save_model(model, tmp_path / "good.pt")
    assert main(["zoo", "add", str(tmp_path / "z4"), str(weights), "--object", "cyto", "--channels", "A"]) == 0
    assert len(ModelZoo(tmp_path / "z4").entries()) == 1


@pytest.mark.parametrize("verb", ["eval", "select"])
def test_an_existing_csv_is_refused_before_any_model_is_loaded(verb, tmp_path, capsys, monkeypatch):
    from labelfree.fusion import ModelZoo

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(ModelZoo, "load", no_loading)
    path, gt = write_pair(tmp_path)
    csv = tmp_path / "t.csv"
    csv.write_text("x")
    assert main(["fusion", verb, str(path), "--labels", str(gt), "--zoo", str(tmp_path / "none"),
                 "--device", "cpu", "--csv", str(csv)]) == 1
    err = capsys.readouterr().err
    assert "t.csv exists" in err and "--overwrite" in err
    assert csv.read_text() == "x"


@pytest.mark.parametrize("f1", ["nan", "inf", "1.5"])
def test_zoo_add_refuses_an_f1_that_is_no_f1(f1, model, tmp_path, capsys):
    from labelfree.fusion.models import save_model

    weights = save_model(model, tmp_path / "good.pt")
    assert main(["zoo", "add", str(tmp_path / "z"), str(weights), "--object", "cyto", "--channels", "A",
                 "--f1", f1]) == 1
    assert "--f1 must be a validation F1 between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_segment_records_the_hash_of_a_weights_file_given_as_model(model, tmp_path):
    from labelfree._config import file_sha256
    from labelfree.fusion import segment
    from labelfree.fusion.models import save_model
    from labelfree.image import to_dataarray

    weights = save_model(model, tmp_path / "w.pt")
    image, _ = synthetic_pair(100)
    da = to_dataarray(image, dims="CYX", channel_names=["A", "B"])
    out = segment(da, models={"A": str(weights)}, channels=["A"], config={"diameter": model.diam_labels},
                  device="cpu")
    record = out.attrs["labelfree"]["models"]["A"]
    assert record == {"file": str(weights), "sha256": file_sha256(weights)}
    json.dumps(out.attrs["labelfree"], allow_nan=False)


def test_eval_and_select_take_threads_progress_and_quiet_as_the_pipeline_commands_do(model, tmp_path, capsys):
    import torch

    zoo, _ = make_zoo(tmp_path / "zoo", model, ["A"], ["B"])
    path, gt = write_pair(tmp_path)
    before = torch.get_num_threads()
    common = [str(path), "--labels", str(gt), "--zoo", str(zoo.root), "--device", "cpu"]
    assert main(["fusion", "eval", *common, "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "flow_average" in captured.out and "[1/1] image 1 of 1" in captured.err  # a line per image scored
    assert torch.get_num_threads() == before  # the limit ends with the command
    csv = tmp_path / "t.csv"
    assert main(["fusion", "eval", *common, "-q", "--csv", str(csv)]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")  # nothing but errors, and the table in its file
    assert "flow_average" in set(pd.read_csv(csv)["method"])
    assert main(["fusion", "select", *common, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "best: train" in captured.out and "[1/" not in captured.err
    assert main(["fusion", "select", *common, "--threads", "0"]) == 1
    assert "threads must be a whole number >= 1" in capsys.readouterr().err
