"""The zoo's index and ``labelfree zoo list/pick --json`` are strict JSON: a score that is no number is null."""

from __future__ import annotations

import json

from labelfree.cli import main
from labelfree.fusion import ModelZoo, new_model


def _strict(text: str):
    def refuse(word):
        raise ValueError(f"not strict JSON: {word}")

    return json.loads(text, parse_constant=refuse)  # NaN, Infinity: what jq and JavaScript refuse


def test_an_undefined_precision_is_null_in_the_index_and_the_json_listings(tmp_path, capsys):
    """Was: ``"precision": NaN`` (a channel's validation that found no object) in index.json and in
    ``labelfree zoo list --json``, which jq and other strict JSON readers refuse."""
    net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=0)
    net.diam_labels = 12.0
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    zoo.add(net, object="cyto", channels=["GFP"], validation={"precision": float("nan"), "recall": 0.0,
                                                              "f1": 0.0, "inf": float("inf")})
    index = _strict((tmp_path / "zoo" / "index.json").read_text(encoding="utf-8"))
    assert index["models"][0]["validation"] == {"precision": None, "recall": 0.0, "f1": 0.0, "inf": None}
    assert main(["zoo", "list", str(tmp_path / "zoo"), "--json"]) == 0
    listed = _strict(capsys.readouterr().out)
    assert listed[0]["validation"]["precision"] is None and listed[0]["id"] == index["models"][0]["id"]
    assert main(["zoo", "pick", str(tmp_path / "zoo"), "--object", "cyto", "--channels", "GFP"]) == 0
    assert _strict(capsys.readouterr().out)["validation"]["precision"] is None
    assert ModelZoo(tmp_path / "zoo").pick(object="cyto", channels=["GFP"])["id"] == index["models"][0]["id"]


def test_an_index_written_with_nan_is_read_and_listed_as_strict_json(tmp_path, capsys):
    net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=0)
    net.diam_labels = 12.0
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    entry = zoo.add(net, object="cyto", channels=["GFP"], validation={"f1": 0.5})
    index = tmp_path / "zoo" / "index.json"
    text = index.read_text(encoding="utf-8").replace('"f1": 0.5', '"f1": 0.5, "precision": NaN')
    index.write_text(text, encoding="utf-8")  # as older versions wrote it
    assert main(["zoo", "list", str(tmp_path / "zoo"), "--json"]) == 0
    assert _strict(capsys.readouterr().out)[0]["validation"] == {"f1": 0.5, "precision": None}
    assert ModelZoo(tmp_path / "zoo").pick(object="cyto", channels=["GFP"])["id"] == entry["id"]
