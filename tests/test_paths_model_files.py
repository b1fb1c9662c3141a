"""Saving a Cutter model never replaces a file of the user's; fusion tables are none of the run's inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch  # a dev install has torch: its absence is an error, not a skip

from labelfree.cli import main
from labelfree.cutter.config import CutterConfig
from labelfree.cutter.model_io import FORMAT, CutterModel, load_model, save_model
from labelfree.cutter.unet import build_unet
from labelfree.errors import OutputError, OutputExistsError


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model(seed: int) -> CutterModel:
    torch.manual_seed(seed)
    config = CutterConfig().replace(width=4)
    return CutterModel(build_unet(2, width=4), config, 1)


def test_saving_a_model_never_replaces_a_json_file_that_is_not_its_sidecar(tmp_path):
    config = tmp_path / "m.pt.json"  # e.g. the config file of the run, named after the model
    config.write_text('{"n_steps": 2}')
    before = _sha(config)
    with pytest.raises(OutputError, match="not a Cutter model sidecar"):
        save_model(tmp_path / "m.pt", _model(0))
    assert _sha(config) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt.json"]  # no model, no temporary file


def test_saving_over_an_earlier_model_replaces_model_and_sidecar_together(tmp_path):
    path = tmp_path / "m.pt"
    first = save_model(path, _model(0))
    with pytest.raises(OutputExistsError, match="m.pt exists"):  # replaced only when allowed
        save_model(path, _model(1))
    assert json.loads((tmp_path / "m.pt.json").read_text())["sha256"] == first
    second = save_model(path, _model(1), overwrite=True)
    assert first != second
    record = json.loads((tmp_path / "m.pt.json").read_text())
    assert record["format"] == FORMAT and record["sha256"] == second == _sha(path)
    loaded = load_model(path)
    assert loaded.n_channels == 1 and loaded.config.width == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]


def test_fusion_tables_are_none_of_the_inputs(tmp_path, capsys):
    image, labels = tmp_path / "mc.tif", tmp_path / "lab.tif"
    tifffile.imwrite(image, np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32), imagej=True,
                     metadata={"axes": "CYX"})
    tifffile.imwrite(labels, (np.arange(32 * 32).reshape(32, 32) % 7 == 0).astype(np.uint16))
    zoo, config = tmp_path / "zoo", tmp_path / "cfg.json"
    zoo.mkdir()
    (zoo / "index.json").write_text('{"models": []}')
    config.write_text("{}")
    before = {p: _sha(p) for p in (zoo / "index.json", config)}
    for verb in ("select", "eval"):
        for csv, words in ((zoo / "index.json", "lies inside the zoo"), (config, "is the config file")):
            capsys.readouterr()
            code = main(["fusion", verb, str(image), "--labels", str(labels), "--zoo",
                         str(zoo), "--config", str(config), "--csv", str(csv), "--overwrite", "-q"])
            err = capsys.readouterr().err
            assert code == 1 and words in err and "never writes" in err, err
    assert {p: _sha(p) for p in before} == before


def test_the_model_sidecar_is_checked_before_training(tmp_path, capsys):
    """--config m.pt.json --save-model-file m.pt trained first and was refused when saving (the sidecar would
    have replaced the config); an existing m.pt.json of another run likewise. Both are refused before any work."""
    from labelfree.run import output_inputs

    assert output_inputs("cutter", {"save_model_file": "m.pt"}) == {
        "save model file": "m.pt", "save model file's .json sidecar": "m.pt.json"}
    image = tmp_path / "one.tif"
    tifffile.imwrite(image, (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    (tmp_path / "m.pt.json").write_text("{}")
    out = tmp_path / "out"
    assert main(["cutter", str(image), "-o", str(out), "--config", str(tmp_path / "m.pt.json"),
                 "--save-model-file", str(tmp_path / "m.pt")]) == 1
    assert "sidecar" in (err := capsys.readouterr().err) and "never writes over its inputs" in err
    assert main(["cutter", str(image), "-o", str(out), "--save-model-file", str(tmp_path / "m.pt")]) == 1
    assert "sidecar" in (err := capsys.readouterr().err) and "m.pt.json exists" in err
    assert not out.exists() and not (tmp_path / "m.pt").exists() and (tmp_path / "m.pt.json").read_text() == "{}"
