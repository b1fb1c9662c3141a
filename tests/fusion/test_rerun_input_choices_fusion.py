"""Fusion run again from its provenance record: the channels it fused, and the zoo it took its models from.

``labelfree fusion IMG --zoo Z --channel A,B`` then ``labelfree fusion IMG --config X_provenance.json`` fused
every channel of the image before (another diameter, other labels, or no model for a channel); a run that took
its models from the zoo of LabelFree's cache (no ``--zoo``) did not record that zoo, so a rerun with another
cache found none ("Fusion needs a model zoo"). The record now names the zoo (``zoo``) and the input choices
(``input_options``), and the rerun gives the same labels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from fusion_data import synthetic_pair

from labelfree.cli import main

pytestmark = pytest.mark.usefixtures("empty_cache")

_RUN = ["--device", "cpu", "--threads", "1", "--no-progress", "-q"]


def _record(folder):
    return json.loads((folder / "img_provenance.json").read_text(encoding="utf-8"))


def _labels(folder):
    return tifffile.imread(folder / "img_labels.tif")


def test_rerun_fuses_the_channels_its_run_chose(model, tmp_path):
    from labelfree.fusion import ModelZoo

    image, _ = synthetic_pair(100)
    noise = np.random.default_rng(3).normal(0, 0.3, image.shape[1:]).astype(np.float32)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, np.concatenate([image, noise[None]]), imagej=True,
                     metadata={"axes": "CYX", "Labels": ["A", "B", "N"]})
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    for c in "AB":
        zoo.add(model, object="cyto", channels=[c], validation={"f1": 0.5})
    assert main(["fusion", str(path), "--zoo", str(zoo.root), "--channel", "A,B", "-o", str(tmp_path / "a"),
                 *_RUN]) == 0
    first = _labels(tmp_path / "a")
    assert first.max() > 3
    # before: all of A, B, N fused (N has no model in the zoo: the run failed)
    assert main(["fusion", str(path), "--config", str(tmp_path / "a" / "img_provenance.json"),
                 "-o", str(tmp_path / "b"), "--no-progress", "-q"]) == 0
    np.testing.assert_array_equal(_labels(tmp_path / "b"), first)
    again = _record(tmp_path / "b")
    assert again["channels"] == ["A", "B"] and again["input_options"] == {"channels": ["A", "B"]}
    assert again["zoo"] == str(zoo.root.resolve())


def test_the_cache_zoo_a_run_used_is_recorded_and_used_again(model, tmp_path, monkeypatch):
    from labelfree.fusion import ModelZoo

    image, _ = synthetic_pair(101)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "B"]})
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache1"))
    zoo = ModelZoo(tmp_path / "cache1" / "zoo", create=True)
    for c in "AB":
        zoo.add(model, object="cyto", channels=[c], validation={"f1": 0.5})
    assert main(["fusion", str(path), "-o", str(tmp_path / "a"), *_RUN]) == 0  # no --zoo: the cache's
    record = _record(tmp_path / "a")
    assert record.get("zoo") == str(zoo.root.resolve())  # before: only the image among the inputs
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache2"))  # another cache, without a zoo
    assert main(["fusion", str(path), "--config", str(tmp_path / "a" / "img_provenance.json"),
                 "-o", str(tmp_path / "b"), "--no-progress", "-q"]) == 0
    np.testing.assert_array_equal(_labels(tmp_path / "b"), _labels(tmp_path / "a"))
    assert _record(tmp_path / "b")["models"] == record["models"]
