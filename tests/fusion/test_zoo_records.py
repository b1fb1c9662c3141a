"""Zoo entries say what their model was trained on; the same weights make the same file (and sha256)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from weights_hash import tensor_hash
from fusion_data import TINY, synthetic_pair

from labelfree._config import file_sha256
from labelfree.fusion import FinetuneConfig, ModelZoo, finetune, new_model


def _model(seed, diam=12.0):
    m = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=seed)
    m.diam_labels = diam
    return m


def _old_style_file(model, path):
    """A weights file as LabelFree <= 0.1 wrote it: cellpose's torch.save to a temporary file's path (the zip
    archive inside is named after that file), renamed."""
    tmp = path.with_name(f".{path.name}.x7k2q9.part")
    model.net.diam_labels.data[:] = float(model.diam_labels)
    model.net.save_model(str(tmp))
    tmp.rename(path)
    return path


def test_the_same_weights_filed_twice_make_the_same_file(tmp_path):
    """Filed twice (as two entries, in two zoos), one model makes byte-identical files: equal sha256, and an
    equal weights hash that is the hash of the tensors the file holds. Formerly the sha256 differed."""
    model = _model(1)
    first = ModelZoo(tmp_path / "a", create=True).add(model, object="nuclei", channels=["DAPI"])
    other = ModelZoo(tmp_path / "b", create=True)
    other.add(_model(2), object="nuclei", channels=["DAPI"])
    second = other.add(model, object="nuclei", channels=["DAPI"])
    a, b = tmp_path / "a" / first["file"], tmp_path / "b" / second["file"]
    assert a.read_bytes() == b.read_bytes()
    assert first["sha256"] == second["sha256"] == file_sha256(a)
    state = torch.load(a, map_location="cpu", weights_only=True)
    assert first["weights_sha256"] == second["weights_sha256"] == tensor_hash(state)
    assert first["weights_sha256"] != other.entries()[0]["weights_sha256"]
    # still cellpose's format: cellpose's own network loads it, with the training diameter
    from cellpose.resnet_torch import CPnet

    net = CPnet([2, 4, 8, 8, 8], 3, sz=3, mkldnn=False, max_pool=True, diam_mean=30.0)
    net.load_model(str(a), device=torch.device("cpu"))
    assert float(net.diam_labels) == 12.0
    for key, value in model.net.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert first["versions"]["torch"] == torch.__version__ and first["versions"]["labelfree"]


def test_a_zoo_written_by_the_former_version_still_loads_and_its_weights_hash_compares(tmp_path):
    """An index entry without the new keys and a weights file written the former way load as before; the
    zoo computes the weights hash of such an entry from its file, equal to that of the same weights filed
    now (while the files' sha256 differ)."""
    root = tmp_path / "old"
    root.mkdir()
    model = _model(3)
    path = _old_style_file(model, root / "nuclei_any_DAPI_1.pt")
    entry = {"id": "nuclei_any_DAPI_1", "object": "nuclei", "cell_line": "", "channels": ["DAPI"],
             "starting_model": "scratch", "validation": {}, "diameter": 12.0, "nbase": [2, 4, 8, 8, 8],
             "file": path.name, "sha256": file_sha256(path), "date": "2025-01-01T00:00:00+00:00"}
    (root / "index.json").write_text(json.dumps({"version": 1, "models": [entry]}))
    zoo = ModelZoo(root)
    loaded = zoo.load("nuclei_any_DAPI_1", device="cpu")
    x = torch.rand(1, 2, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.net(x)[0], model.net.eval()(x)[0])
    new = zoo.add(model, object="nuclei", channels=["DAPI"])
    assert new["sha256"] != entry["sha256"]  # the former file holds its temporary name
    assert zoo.weights_sha256("nuclei_any_DAPI_1") == zoo.weights_sha256(new["id"]) == new["weights_sha256"]
    # filed from that old file (copied as it is), its entry records the same weights hash
    copied = zoo.add(path, object="nuclei", channels=["DAPI"])
    assert copied["sha256"] == entry["sha256"] and copied["weights_sha256"] == new["weights_sha256"]


@pytest.fixture(scope="module")
def two_trainings(tmp_path_factory):
    """The same tiny training run twice, the images given as files read by LabelFree."""
    import tifffile

    from labelfree.io import read_image

    folder = tmp_path_factory.mktemp("train")
    pairs = [synthetic_pair(s, size=64, n_cells=5) for s in range(3)]
    images = []
    for k, (image, _) in enumerate(pairs):
        tifffile.imwrite(folder / f"img{k}.tif", image)
        images.append(read_image(folder / f"img{k}.tif", dims="CYX", channel_names=["A", "B"]))
    labels = [lab for _, lab in pairs]
    cfg = dict(TINY, n_epochs=2, patience=5, samples_per_epoch=8, validation_fraction=0.34, seed=3)
    runs = [finetune(images, labels, channels=["A"], config=cfg, device="cpu") for _ in range(2)]
    return folder, labels, cfg, runs


def test_the_same_training_twice_files_identical_models(two_trainings, tmp_path):
    """Two runs of one training give equal weights; filed in a zoo, equal files (equal sha256)."""
    _, _, _, runs = two_trainings
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    first, second = (zoo.add(r.model, object="cyto", channels=["A"]) for r in runs)
    assert first["sha256"] == second["sha256"]
    assert first["weights_sha256"] == second["weights_sha256"]
    assert (tmp_path / "zoo" / first["file"]).read_bytes() == (tmp_path / "zoo" / second["file"]).read_bytes()


def test_a_finetuned_model_is_filed_with_what_it_was_trained_on(two_trainings, tmp_path):
    """The entry holds the training images (files + sha256) and labels (sha256 of the data), which were
    held out for validation, every FinetuneConfig setting, threads, device and versions."""
    folder, labels, cfg, runs = two_trainings
    entry = ModelZoo(tmp_path / "zoo", create=True).add(runs[0], object="cyto", channels=["A"])
    record = json.loads((tmp_path / "zoo" / "index.json").read_text())["models"][0]["training"]
    assert record == json.loads(json.dumps(entry["training"]))
    assert record["config"] == FinetuneConfig.coerce(cfg).to_dict()
    assert record["config"]["seed"] == 3 and record["config"]["crop_size"] == 64
    assert record["channels"] == ["A"]
    assert len(record["images"]) == 2 and len(record["validation"]["images"]) == 1  # 3 images, 1/3 held out
    used = sorted([r["source"] for r in record["images"]] + [r["source"] for r in record["validation"]["images"]])
    assert used == [str(folder / f"img{k}.tif") for k in range(3)]
    for r in record["images"] + record["validation"]["images"]:
        assert r["sha256"] == file_sha256(r["source"])
        assert r["shape"] == [2, 64, 64]
    trained_on = [int(r["source"][-5]) for r in record["images"]]
    lab = np.ascontiguousarray(labels[trained_on[0]])
    expected = hashlib.sha256(f"{lab.dtype.str}\0{list(lab.shape)}\0".encode() + lab.tobytes()).hexdigest()
    assert record["labels"][0]["content_sha256"] == expected
    assert len(record["labels"]) == 2 and len(record["validation"]["labels"]) == 1
    assert record["epochs_run"] == runs[0].history.epochs_run == 2
    assert record["device"] == "cpu" and record["threads"] == torch.get_num_threads()
    assert record["versions"]["torch"] == torch.__version__ and "cellpose" in record["versions"]


def test_copying_a_zoo_keeps_its_hashes(tmp_path):
    """A zoo copied elsewhere loads (its files' sha256 do not depend on where they were written)."""
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    entry = zoo.add(_model(4), object="nuclei", channels=["DAPI"])
    shutil.copytree(tmp_path / "zoo", tmp_path / "copy")
    copy = ModelZoo(tmp_path / "copy")
    assert copy.weights_sha256(entry["id"]) == entry["weights_sha256"]
    assert copy.load(entry["id"], device="cpu").diam_labels == 12.0
