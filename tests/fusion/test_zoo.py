import json

import pytest

from labelfree.cli import main
from labelfree.errors import ConfigError, ModelFileError
from labelfree.fusion import ModelZoo, new_model, save_model


def _model(seed, diam=12.0):
    m = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=seed)
    m.diam_labels = diam
    return m


def test_zoo_round_trip(tmp_path):
    import torch

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    a = zoo.add(_model(1), object="nuclei", channels=["DAPI"], cell_line="HeLa", validation={"f1": 0.7})
    b = zoo.add(_model(2), object="nuclei", channels=["DAPI"], cell_line="HeLa", validation={"f1": 0.8})
    c = zoo.add(_model(3, 20.0), object="cyto", channels=["GFP", "RFP"], starting_model="cyto3")
    again = ModelZoo(tmp_path / "zoo")  # re-read from disk
    assert [e["id"] for e in again.entries()] == [a["id"], b["id"], c["id"]]
    assert again.pick(object="nuclei", cell_line="HeLa", channels=["DAPI"])["id"] == b["id"]
    assert again.pick(object="cyto", channels=["GFP"], exact=False)["id"] == c["id"]
    assert [e["id"] for e in again.list(object="cyto")] == [c["id"]]
    assert c["starting_model"] == "cyto3" and c["nbase"] == [2, 4, 8, 8, 8] and c["diameter"] == 20.0
    loaded = again.load(b["id"], device="cpu")
    x = torch.rand(1, 2, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.net(x)[0], _model(2).net.eval()(x)[0])
    assert again.remove(a["id"])["id"] == a["id"]
    assert not (tmp_path / "zoo" / a["file"]).exists()
    assert len(ModelZoo(tmp_path / "zoo").entries()) == 2
    index = json.loads((tmp_path / "zoo" / "index.json").read_text())
    assert {"id", "object", "cell_line", "channels", "starting_model", "validation", "sha256", "date", "file"} <= set(
        index["models"][0])


def test_zoo_errors(tmp_path):
    with pytest.raises(ModelFileError, match="not a LabelFree model zoo"):
        ModelZoo(tmp_path / "none")
    zoo = ModelZoo(tmp_path / "z", create=True)
    entry = zoo.add(_model(1), object="cyto", channels=["A"])
    with pytest.raises(ModelFileError, match=r"no nuclei model trained on channels \['A'\].*It holds: cyto"):
        zoo.pick(object="nuclei", channels=["A"])
    with pytest.raises(ConfigError, match="object must be one of"):
        zoo.add(_model(1), object="cells", channels=["A"])
    (tmp_path / "z" / entry["file"]).write_bytes(b"changed")
    with pytest.raises(ModelFileError, match="does not match the hash"):
        zoo.load(entry)
    with pytest.raises(ModelFileError, match="No model 'x'"):
        zoo.remove("x")


def test_zoo_cli(tmp_path, capsys):
    weights = save_model(_model(5), tmp_path / "w.pt")
    zoo_dir = tmp_path / "zoo"
    assert main(["zoo", "add", str(zoo_dir), str(weights), "--object", "nuclei", "--channels", "H2B",
                 "--f1", "0.66"]) == 0
    model_id = capsys.readouterr().out.strip()
    assert main(["zoo", "list", str(zoo_dir)]) == 0
    listing = capsys.readouterr().out
    assert model_id in listing and "F1=0.660" in listing
    assert main(["zoo", "pick", str(zoo_dir), "--object", "nuclei", "--channels", "H2B"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == model_id
    assert main(["zoo", "pick", str(zoo_dir), "--object", "cyto", "--channels", "H2B"]) == 1
    assert "no cyto model" in capsys.readouterr().err
    assert main(["zoo", "remove", str(zoo_dir), model_id]) == 0
    assert ModelZoo(zoo_dir).entries() == []


def test_a_zoo_path_that_is_a_file_is_said_to_be_one(tmp_path):
    """``fusion train ... --zoo x.tif`` (an existing file) said "Cannot create the model zoo x.tif: File exists.
    Choose a folder you can write to"."""
    from labelfree.errors import OutputError

    (tmp_path / "x.tif").write_bytes(b"II*\x00")
    with pytest.raises(OutputError, match=r"x.tif is a file; a zoo is a folder"):
        ModelZoo(tmp_path / "x.tif", create=True)
    assert (tmp_path / "x.tif").read_bytes() == b"II*\x00"
