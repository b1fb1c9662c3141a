"""Cutter model files say what they were trained on; the same weights make the same file bytes."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import torch
from weights_hash import tensor_hash
from cutter_synth import two_channel_cells

from labelfree import __version__
from labelfree._config import file_sha256
from labelfree.cutter import load_model, segment
from labelfree.cutter.config import CutterConfig
from labelfree.cutter.model_io import FORMAT, CutterModel, save_model, sidecar_of
from labelfree.cutter.unet import build_unet
from labelfree.image import to_dataarray

TINY = {"width": 8, "crop_size": 32, "n_steps": 6, "cell_fraction": 0.24, "mask_signal": "intensity"}


def _model(seed=0, **extra):
    torch.manual_seed(seed)
    return CutterModel(build_unet(3, width=4), CutterConfig(width=4), 2, cell_radius=7.5, **extra)


@pytest.fixture
def inputs(tmp_path):
    """A training image read from a file and a marker file."""
    import tifffile

    from labelfree.io import read_image

    image, _, _, centres = two_channel_cells(seed=1, size=64, n_cells=4)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    markers = tmp_path / "markers.csv"
    markers.write_text("y,x\n" + "".join(f"{y:.1f},{x:.1f}\n" for y, x in centres))
    return read_image(tmp_path / "cells.tif", dims="CYX"), markers


def test_the_sidecar_records_the_training_image_markers_steps_threads_and_versions(tmp_path, inputs):
    from labelfree.cutter.model_io import training_inputs

    image, markers = inputs
    model = _model(history=[(0.5, 0.9), (1.25, 0.4), (2.0, 0.25)])
    model.training = training_inputs(image, markers)
    digest = model.save(tmp_path / "m.pt")
    record = json.loads(sidecar_of(tmp_path / "m.pt").read_text())
    assert record["sha256"] == digest == file_sha256(tmp_path / "m.pt")
    assert record["weights_sha256"] == tensor_hash(model.net.state_dict())
    training = record["training"]
    assert training["image"]["source"] == str(tmp_path / "cells.tif")
    assert training["image"]["sha256"] == file_sha256(tmp_path / "cells.tif")
    assert training["image"]["shape"] == [2, 64, 64]
    pixels = np.ascontiguousarray(image.values)
    assert training["image"]["content_sha256"] == hashlib.sha256(
        f"{pixels.dtype.str}\0{list(pixels.shape)}\0".encode() + pixels.tobytes()).hexdigest()
    assert training["markers"] == {"source": str(markers), "sha256": file_sha256(markers)}
    assert training["steps"] == 3 and training["seconds"] == 2.0 and training["last_loss"] == 0.25
    assert training["threads"] == torch.get_num_threads() and training["device"] == "cpu"
    assert training["versions"]["labelfree"] == __version__ and training["versions"]["torch"] == torch.__version__
    assert training["date"][:2] == "20"
    # markers detected in the image, or given as data: said so / the data's hash
    assert training_inputs(image)["markers"] == {"detected": True}
    given = np.array([[10.0, 12.0], [30.0, 40.0]])
    assert training_inputs(image, given)["markers"]["content_sha256"] == training_inputs(image, given.copy())[
        "markers"]["content_sha256"] != training_inputs(image, given + 1)["markers"]["content_sha256"]


def test_the_same_model_saved_twice_anywhere_has_the_same_bytes_and_a_loaded_model_keeps_its_record(tmp_path):
    """The .pt file holds nothing of the run (date, path, version): two saves, to two names, give equal
    bytes; the loaded model carries the sidecar's training record, and saved again keeps it."""
    model = _model(history=[(1.0, 0.5)], training={"image": {"source": "x.tif"}})
    (tmp_path / "b").mkdir()
    first = save_model(tmp_path / "a.pt", model)
    second = save_model(tmp_path / "b" / "other.pt", _model(history=[(3.0, 0.1)]))
    assert first == second
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "other.pt").read_bytes()
    loaded = load_model(tmp_path / "a.pt")
    assert loaded.training["image"] == {"source": "x.tif"} and loaded.training["steps"] == 1
    assert save_model(tmp_path / "again.pt", loaded) == first
    again = json.loads(sidecar_of(tmp_path / "again.pt").read_text())
    assert again["training"] == json.loads(sidecar_of(tmp_path / "a.pt").read_text())["training"]
    assert save_model(tmp_path / "c.pt", _model(seed=1)) != first


def test_a_model_saved_by_the_former_version_still_loads(tmp_path):
    """A file written the former way (torch.save to the temporary file's path, a sidecar without the training
    record or weights hash) loads, without a training record; its weights hash equals the new file's."""
    model = _model()
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
    payload = {"format": FORMAT, "config": model.config.to_json(), "n_channels": 2, "state_dict": state,
               "cell_radius": 7.5}
    tmp = tmp_path / ".old.pt.a8f3k2.part"
    torch.save(payload, tmp)
    tmp.rename(tmp_path / "old.pt")
    sidecar = {"format": FORMAT, "sha256": file_sha256(tmp_path / "old.pt"), "n_channels": 2,
               "config": model.config.to_dict(), "cell_radius": 7.5}
    sidecar_of(tmp_path / "old.pt").write_text(json.dumps(sidecar))
    loaded = load_model(tmp_path / "old.pt")
    assert loaded.training is None and loaded.cell_radius == 7.5
    for key, value in state.items():
        assert torch.equal(loaded.net.state_dict()[key], value), key
    save_model(tmp_path / "new.pt", loaded)
    record = json.loads(sidecar_of(tmp_path / "new.pt").read_text())
    assert record["weights_sha256"] == tensor_hash(state) and record["training"] == {}
    assert torch.load(io.BytesIO((tmp_path / "new.pt").read_bytes()), weights_only=True)["format"] == FORMAT


def test_a_model_trained_and_saved_by_segment_records_its_steps(tmp_path):
    """Through segment(save_model=...): the sidecar says how many steps were taken, with how many threads."""
    image, _, _, _ = two_channel_cells(seed=2)
    named = to_dataarray(image, dims="CYX", channel_names=["cell", "nucleus"])
    segment(named, config=TINY, save_model=tmp_path / "m.pt")
    record = json.loads(sidecar_of(tmp_path / "m.pt").read_text())
    assert record["training"]["steps"] == TINY["n_steps"]
    assert record["training"]["threads"] == torch.get_num_threads()
    assert record["weights_sha256"] == tensor_hash(load_model(tmp_path / "m.pt").net.state_dict())


def test_a_model_saved_by_segment_and_fit_names_the_image_and_markers_it_was_trained_on(tmp_path, inputs):
    """segment(save_model=...) and fit() fill the record themselves: the user does not call training_inputs."""
    from labelfree.cutter import fit

    image, markers = inputs
    segment(image, markers=markers, config=TINY, save_model=tmp_path / "seg.pt")
    fit(image, markers=markers, config=TINY).save(tmp_path / "fit.pt")
    for name in ("seg.pt", "fit.pt"):
        training = json.loads(sidecar_of(tmp_path / name).read_text())["training"]
        assert training["image"]["source"] == str(tmp_path / "cells.tif"), name
        assert training["image"]["sha256"] == file_sha256(tmp_path / "cells.tif"), name
        assert training["markers"] == {"source": str(markers), "sha256": file_sha256(markers)}, name
        assert training["steps"] == TINY["n_steps"], name
