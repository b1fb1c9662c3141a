"""Fusion's command line as a new user meets it: messages that say what to do, and no training wasted.

A zoo of nuclei models met by a plain (cyto) run, ``--object``/``--cell-line`` on ``labelfree fusion``, a zoo
that cannot be written checked before training, damaged zoos (remedies; ``zoo list`` marks them), the pick of
a model trained on exactly the chosen channels explained, a weights file with a malformed ``diam_mean``, the
command ``fusion select`` prints, undefined precision printed as ``-``, the no-zoo message after the demo.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from fusion_data import synthetic_pair

from labelfree.cli import main
from labelfree.errors import InputError, ModelFileError

pytestmark = pytest.mark.usefixtures("empty_cache")


def _net(seed, diam=12.0):
    from labelfree.fusion import new_model

    net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=seed)
    net.diam_labels = diam
    return net


def _zoo(path, *filed):
    """A zoo holding a tiny untrained model for each ``(object, channels, cell_line, f1)``; the zoo and the ids."""
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(path, create=True)
    ids = [zoo.add(_net(k), object=obj, channels=chans, cell_line=line,
                   validation={} if f1 is None else {"f1": f1})["id"]
           for k, (obj, chans, line, f1) in enumerate(filed)]
    return zoo, ids


def _image(folder, seed=100, names=("A", "B")):
    image, truth = synthetic_pair(seed)
    path, gt = folder / f"img{seed}.tif", folder / f"gt{seed}.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "CYX", "Labels": list(names)})
    tifffile.imwrite(gt, truth.astype(np.uint16))
    return path, gt


# -- 1. a zoo of nuclei models, a run that asks for cyto ------------------------------------------------------------
def test_a_zoo_of_nuclei_models_is_named_with_the_option_that_uses_them(tmp_path, capsys):
    zoo, _ = _zoo(tmp_path / "zoo", ("nuclei", ["A"], "GOWT1", 0.2), ("nuclei", ["B"], "GOWT1", 0.5))
    image, _ = _image(tmp_path)
    assert main(["fusion", str(image), "--zoo", str(zoo.root), "-o", str(tmp_path / "out")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "has no cyto model for the image's channel(s) ['A', 'B']" in err
    assert "It holds nuclei models for ['A', 'B']: to use them, run with --object nuclei" in err
    assert "the same as --set object=nuclei" in err
    assert "Or train a cyto model with `labelfree fusion train ... --object cyto" in err
    # asked for another cell line: the option that selects the zoo's
    assert main(["fusion", str(image), "--zoo", str(zoo.root), "-o", str(tmp_path / "out"),
                 "--object", "nuclei", "--cell-line", "HeLa"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "has no nuclei model for cell line 'HeLa'" in err
    assert "It holds nuclei models of the cell line 'GOWT1' for ['A', 'B']: to use them, run with --cell-line GOWT1" \
        in err


def test_object_and_cell_line_options_are_the_settings_of_set():
    from labelfree.cli import _verb_parser, build_parser, config_from_args
    from labelfree.fusion import FusionConfig

    segment, rest = _verb_parser(["fusion", "segment", "img.tif", "-o", "out", "--object", "nuclei",
                                  "--cell-line", "HeLa"])
    parser = build_parser()
    for args in (parser.parse_args(["fusion", "img.tif", "-o", "out", "--object", "nuclei", "--cell-line", "HeLa"]),
                 segment.parse_args(rest)):
        cfg = config_from_args(FusionConfig, args)
        assert (cfg.object, cfg.cell_line) == ("nuclei", "HeLa")
    # in the order given, as repeated --set: the last one wins
    args = parser.parse_args(["fusion", "img.tif", "-o", "out", "--set", "object=nuclei", "--object", "cyto"])
    assert config_from_args(FusionConfig, args).object == "cyto"
    args = parser.parse_args(["fusion", "img.tif", "-o", "out", "--object", "cyto", "--set", "object=nuclei"])
    assert config_from_args(FusionConfig, args).object == "nuclei"
    with pytest.raises(SystemExit):
        parser.parse_args(["fusion", "img.tif", "-o", "out", "--object", "cells"])


@pytest.mark.filterwarnings("ignore::labelfree.fusion.segment.NoObjectsWarning")  # untrained models find nothing
def test_object_option_runs_with_the_zoos_nuclei_models(tmp_path):
    zoo, ids = _zoo(tmp_path / "zoo", ("nuclei", ["A"], "", None), ("nuclei", ["B"], "", None))
    image, _ = _image(tmp_path)
    out = tmp_path / "out"
    assert main(["fusion", str(image), "--zoo", str(zoo.root), "-o", str(out), "--object", "nuclei",
                 "--set", "diameter=12", "--device", "cpu", "-q"]) == 0
    record = json.loads((out / "img100_provenance.json").read_text())
    assert record["config"]["object"] == "nuclei"
    assert [record["models"][c]["id"] for c in ("A", "B")] == ids


# -- 2. a zoo that cannot be written --------------------------------------------------------------------------------
def test_train_into_a_zoo_it_cannot_write_stops_before_training(tmp_path, monkeypatch, capsys):
    import labelfree.fusion
    from foreign_user import refuse_as_kernel

    zoo, _ = _zoo(tmp_path / "zoo", ("cyto", ["A"], "", None))
    image, gt = _image(tmp_path)
    image2, gt2 = _image(tmp_path, seed=101)

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the zoo cannot be written")

    monkeypatch.setattr(labelfree.fusion, "finetune", no_training)
    os.chmod(zoo.root, 0o555)
    try:
        refuse_as_kernel(monkeypatch, os.getuid(), 0o200)  # root is never refused: refuse as the kernel would
        code = main(["fusion", "train", str(image), str(image2), "--labels", str(gt), str(gt2), "--zoo",
                     str(zoo.root), "--epochs", "1", "--device", "cpu", "-q"])
    finally:
        monkeypatch.undo()
        os.chmod(zoo.root, 0o755)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    assert f"Cannot write to the model zoo {zoo.root}: Permission denied (errno 13)" in err
    assert "Give --zoo a folder you may write to" in err and "nothing was trained" in err
    assert sorted(p.name for p in zoo.root.iterdir()) == sorted(["index.json", *(e["file"] for e in zoo.entries())])


def test_a_write_error_of_train_names_its_zoo_not_an_output(tmp_path, monkeypatch, capsys):
    import labelfree.fusion.cli as fusion_cli

    target = tmp_path / "zoo" / "m.pt"

    def refused(args):
        raise PermissionError(errno.EACCES, "Permission denied", str(target))

    monkeypatch.setattr(fusion_cli, "_train", refused)
    image, gt = _image(tmp_path)
    assert main(["fusion", "train", str(image), "--labels", str(gt), "--zoo", str(tmp_path / "zoo")]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {target}: Permission denied (errno 13). Choose a zoo (--zoo) in a folder you may write " \
           "to, then run the command again." in err
    assert "(-o" not in err and "-o " not in err.replace(str(tmp_path), "")  # train has no -o (paths may hold "-o")


# -- 3. damaged zoos ------------------------------------------------------------------------------------------------
def test_damaged_zoo_errors_say_what_to_do_and_zoo_list_marks_the_entries(tmp_path, capsys):
    zoo, (a, b, c) = _zoo(tmp_path / "zoo", ("cyto", ["A"], "", 0.4), ("cyto", ["B"], "", 0.5),
                          ("cyto", ["C"], "", 0.6))
    (zoo.root / f"{a}.pt").unlink()
    (zoo.root / f"{b}.pt").write_bytes(b"changed")
    with pytest.raises(ModelFileError) as missing:
        zoo.load(a)
    text = str(missing.value)
    assert f"The zoo entry {a} points to {zoo.root / (a + '.pt')}, which is missing. Put the file back" in text
    assert f"`labelfree zoo remove {zoo.root} {a}`" in text
    assert f"labelfree fusion train ... --zoo {zoo.root} --object cyto --channels A`" in text
    assert "leave its channel(s) A out of the run (labelfree fusion --channel" in text
    with pytest.raises(ModelFileError) as changed:
        zoo.load(b)
    text = str(changed.value)
    assert "does not match the hash recorded in the zoo index: it was changed or corrupted" in text
    assert f"`labelfree zoo remove {zoo.root} {b}`" in text
    assert main(["zoo", "list", str(zoo.root)]) == 0
    out, err = capsys.readouterr()
    rows = {line.split("\t")[0]: line.split("\t")[6:] for line in out.splitlines()}
    assert rows == {a: ["MISSING"], b: ["CHANGED"], c: []}
    assert "2 of the 3 models listed cannot be used" in err and f"labelfree zoo remove {zoo.root} {a}" in err
    assert [zoo.file_status(e) for e in (a, b, c)] == ["missing", "changed", "ok"]


def test_an_unreadable_index_says_how_to_start_again(tmp_path):
    from labelfree.fusion import ModelZoo

    zoo, (a,) = _zoo(tmp_path / "zoo", ("nuclei", ["A"], "", None))
    zoo.index_path.write_text('{"version": 1, "models": [', encoding="utf-8")
    with pytest.raises(ModelFileError) as broken:
        ModelZoo(zoo.root).entries()
    text = str(broken.value)
    assert "is unreadable" in text and f"its 1 weights file(s) ({a}.pt) are cellpose weights" in text
    assert "labelfree zoo add NEWZOO FILE --object OBJECT --channels NAME..." in text
    zoo.index_path.write_text('{"version": 1}', encoding="utf-8")
    with pytest.raises(ModelFileError, match="has no 'models' list. Put a good copy of index.json back"):
        ModelZoo(zoo.root).entries()


# -- 4. the model of exactly the chosen channels ----------------------------------------------------------------------
def test_the_pick_of_the_exact_channel_model_is_explained_and_warned_about(tmp_path, caplog):
    from labelfree.fusion import FusionConfig
    from labelfree.fusion.segment import pick_entries

    zoo, (a, b, ab) = _zoo(tmp_path / "zoo", ("cyto", ["A"], "", 0.18), ("cyto", ["B"], "", 0.5),
                           ("cyto", ["A", "B"], "", 0.0))
    with caplog.at_level(logging.INFO, logger="labelfree.fusion.segment"):
        picked = pick_entries(zoo, ["A", "B"], config=FusionConfig())
    assert {c: e["id"] for c, e in picked.items()} == {"A": ab, "B": ab}  # the pick itself is as before
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(f"channels A+B use {ab}, trained on exactly these channels (validation F1 0.000)" in m for m in infos)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"higher validation F1 for A (0.180, {a}), B (0.500, {b})" in warnings[0]
    assert f"--model-file A={zoo.root / (a + '.pt')},B={zoo.root / (b + '.pt')}" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelfree.fusion.segment"):
        pick_entries(zoo, ["A", "B"], config=FusionConfig())  # a tiled or batch run picks again: warned once
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelfree.fusion.segment"):
        picked = pick_entries(zoo, ["B"], config=FusionConfig())
    assert picked["B"]["id"] == b
    assert any(f"channel B uses {b} (B; validation F1 0.500): its channel-wise model" in r.getMessage()
               for r in caplog.records)


def test_zoo_best_help_says_how_models_are_picked(capsys):
    with pytest.raises(SystemExit):
        main(["fusion", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the model trained on exactly the chosen channels when the zoo has one (whatever its validation F1)" \
        in text


# -- 5. small things ------------------------------------------------------------------------------------------------
def test_a_weights_file_with_a_malformed_diam_mean_is_a_model_file_error(tmp_path):
    import torch

    from labelfree.fusion.models import load_model, save_model

    path = save_model(_net(1), tmp_path / "w.pt")
    state = torch.load(path, weights_only=True)
    state["diam_mean"] = torch.ones(3, 3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match=r"bad.pt holds diam_mean of shape \(3, 3\); a cellpose weights file "
                                             r"holds one positive number there"):
        load_model(tmp_path / "bad.pt", device="cpu")
    state["diam_mean"] = torch.zeros(1)
    torch.save(state, tmp_path / "zero.pt")
    with pytest.raises(ModelFileError, match=r"zero.pt holds diam_mean of value 0.0"):
        load_model(tmp_path / "zero.pt", device="cpu")
    assert load_model(path, device="cpu").diam_labels == 12.0


def test_select_prints_the_command_of_its_best_and_undefined_precision_as_a_dash(tmp_path, capsys):
    from labelfree.fusion.cli import _best_command
    from labelfree.fusion.config import FusionConfig

    zoo, (a, b, ab) = _zoo(tmp_path / "zoo", ("cyto", ["A"], "", 0.3), ("cyto", ["B"], "", 0.2),
                           ("cyto", ["A", "B"], "", 0.1))
    image, gt = _image(tmp_path)
    assert main(["fusion", "select", str(image), "--labels", str(gt), "--zoo", str(zoo.root), "--device", "cpu",
                 "--set", "diameter=12", "--no-progress"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[-1].startswith(f"segment with it: labelfree fusion IMAGE -o OUT --zoo {zoo.root} --object cyto")
    assert "nan" not in out.lower()
    ids = {frozenset(["A"]): a, frozenset(["B"]): b, frozenset(["A", "B"]): ab}

    args = SimpleNamespace(zoo=zoo.root, dims=None, channel_names=None)
    # the channel-wise models of A and B: a plain run would take the model of exactly A+B, so the files are named
    cmd = _best_command(args, zoo, FusionConfig(), {"train": "CW", "evaluate": "A+B"}, ids)
    assert cmd.endswith(f"--channel A,B --model-file A={zoo.root / (a + '.pt')},B={zoo.root / (b + '.pt')}")
    cmd = _best_command(args, zoo, FusionConfig(cell_line=""), {"train": "A+B", "evaluate": "A+B"}, ids)
    assert cmd == f"labelfree fusion IMAGE -o OUT --zoo {zoo.root} --object cyto --channel A,B"
    cmd = _best_command(args, zoo, FusionConfig(), {"train": "A", "evaluate": "A"}, ids)
    assert cmd.endswith("--object cyto --channel A")


def test_eval_prints_undefined_precision_as_a_dash(tmp_path, capsys):
    zoo, _ = _zoo(tmp_path / "zoo", ("cyto", ["A"], "", None), ("cyto", ["B"], "", None))
    image, gt = _image(tmp_path)
    csv = tmp_path / "t.csv"
    assert main(["fusion", "eval", str(image), "--labels", str(gt), "--zoo", str(zoo.root), "--device", "cpu",
                 "--set", "diameter=12", "--no-progress", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    import pandas as pd

    table = pd.read_csv(csv)
    undefined = table[table["tp"] + table["fp"] == 0]
    assert len(undefined) and undefined["precision"].isna().all()  # the file leaves it empty
    for method in undefined["method"]:
        row = next(line for line in out.splitlines() if line.startswith(method + " "))
        assert row.split()[len(method.split())] == "-"
    assert "NaN" not in out


def test_no_model_for_a_channel_names_the_channels_that_have_one(tmp_path):
    from labelfree.fusion import segment
    from labelfree.fusion.models import save_model
    from labelfree.image import to_dataarray

    weights = save_model(_net(1), tmp_path / "a.pt")
    image, _ = synthetic_pair(100)
    da = to_dataarray(np.stack([image[0], image[1], image[0]]), dims="CYX", channel_names=["nuc", "mem", "noisy"])
    with pytest.raises(InputError) as err:
        segment(da, models={"nuc": str(weights), "mem": str(weights)}, device="cpu")
    assert "fuse only the channels that have one (--channel nuc,mem; macros: channels=[...]; Python: " \
           "channels=['nuc', 'mem'])" in str(err.value)


def test_no_zoo_points_to_the_demos_zoo(empty_cache):
    from labelfree.fusion.zoo import open_zoo

    with pytest.raises(InputError) as none:
        open_zoo()
    assert "demo's zoo" not in str(none.value)
    demo = empty_cache / "demo-fusion-zoo-abc"
    demo.mkdir(parents=True)
    (demo / "index.json").write_text('{"version": 1, "models": []}', encoding="utf-8")
    with pytest.raises(InputError) as found:
        open_zoo()
    assert f"The demo's zoo is in the cache: --zoo {demo} uses it" in str(found.value)
