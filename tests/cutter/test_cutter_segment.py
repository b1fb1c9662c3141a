"""End-to-end Cutter: training accuracy, save/load/apply, time-lapses, errors, CLI."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import tifffile
from cutter_synth import two_channel_cells

import torch  # noqa: F401 - a dev install has torch: its absence is an error, not a skip

from labelfree.cutter import CutterConfig, MarkerWarning, load_model, segment  # noqa: E402
from labelfree.errors import (  # noqa: E402
    Cancelled,
    ConfigError,
    ConstantImageError,
    DimensionError,
    InputError,
    ModelFileError,
)
from labelfree.image import to_dataarray  # noqa: E402
from labelfree.metrics import evaluate  # noqa: E402

#: a small UNet (width 8) and 48 px patches: ~0.1 s per step on one CPU thread
#: cell_fraction 0.24 = the cell area of these images (the default triangle estimate is meant for
#: sparse fluorescence and overestimates dense images like these: 0.28)
FAST = dict(width=8, crop_size=48, marker_sigma=11.0, n_steps=60, cell_channels=("cell",), nucleus_channel="nucleus",
            cell_fraction=0.24)


def _image(seed=0):
    image, truth, nuclei, centres = two_channel_cells(seed=seed)
    return to_dataarray(image, dims="CYX", channel_names=["cell", "nucleus"]), truth, nuclei, centres


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    da, truth, nuclei, _ = _image()
    path = tmp_path_factory.mktemp("model") / "cutter.pt"
    labels = segment(da, markers=nuclei, config=CutterConfig(**FAST), save_model=path)
    return da, truth, nuclei, labels, path


@pytest.mark.slow
def test_training_reaches_ground_truth_iou(trained):
    # 9 cells of 300-600 px, noise sigma 0.15 against brightness 0.6-1: the graph-cut mask alone
    # reaches pixel Jaccard ~0.93, so a network that learnt to split the mask per marker must give
    # every cell at IoU > 0.5 and a mean IoU near that of the mask; 0.85 leaves room for the
    # one-pixel boundary disagreements of a 60-step training.
    da, truth, nuclei, labels, _ = trained
    scores = evaluate(labels.values, truth)
    assert scores["recall"] == 1.0 and scores["precision"] == 1.0
    assert scores["mean_iou"] >= 0.85
    # output ids are the marker label ids, coords and provenance travel
    assert set(np.unique(labels.values)) - {0} == set(np.unique(nuclei)) - {0}
    assert labels.dims == ("Y", "X") and labels.dtype == np.uint16
    prov = labels.attrs["labelfree"]
    assert prov["pipeline"] == "cutter" and prov["config"]["width"] == 8 and len(prov["model_sha256"]) == 64


@pytest.mark.slow
def test_save_load_apply_gives_identical_labels(trained):
    da, truth, nuclei, labels, path = trained
    # the foreground mask (used again by the clean-up) is computed with the same settings
    again = segment(da, markers=nuclei, config=CutterConfig(cell_channels=("cell",), cell_fraction=0.24), model=str(path))
    np.testing.assert_array_equal(again.values, labels.values)
    assert again.attrs["labelfree"]["training_steps"] == 0
    model = load_model(path)
    assert model.n_channels == 1 and model.config.width == 8
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["sha256"] == labels.attrs["labelfree"]["model_sha256"]
    # a new image of the same kind, no retraining
    da2, truth2, nuclei2, _ = _image(seed=5)
    other = segment(da2, markers=nuclei2, config=CutterConfig(cell_channels=("cell",), cell_fraction=0.24), model=path)
    assert evaluate(other.values, truth2)["mean_iou"] > 0.8


def test_model_file_errors(tmp_path, trained):
    path = trained[-1]
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:-10])
    bad.with_name("bad.pt.json").write_text(path.with_name(path.name + ".json").read_text())
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(bad)
    da, _, nuclei, _ = _image()
    three = to_dataarray(np.concatenate([da.values, da.values[:1]]), dims="CYX")
    with pytest.raises(InputError, match="trained on 1 image channel"):
        segment(three, markers=nuclei, config=CutterConfig(cell_channels=(0, 2)), model=path)


def test_a_model_s_channels_are_checked_against_the_image(trained, caplog):
    """The channels a model was trained on (cell 'cell', nucleus 'nucleus') are used when the config
    leaves them unset. On a one-channel image they do not apply: the image is its own cell and
    nucleus image (was: 'nucleus_channel was set but the image has no C axis', a setting the user
    never made). An image that lacks them is refused, naming the model's setting and the image's
    channels."""
    da, truth, nuclei, _, path = trained
    cells = da.sel(C="cell").drop_vars("C")
    with caplog.at_level("INFO", logger="labelfree.cutter.segment"):
        labels = segment(cells, config={"cell_fraction": 0.24, "marker_method": "threshold"}, model=path)
    assert "the model was trained with nucleus_channel nucleus; this image has one channel" in caplog.text
    assert labels.dims == ("Y", "X") and int(labels.max()) > 0
    renamed = da.assign_coords(C=["a", "b"])
    with pytest.raises(ConfigError, match=r"trained with cell_channels=\('cell',\) \(model .*cutter\.pt\), which this "
                                          r"image lacks: it has the channels \['a', 'b'\]"):
        segment(renamed, markers=nuclei, model=path)


def test_the_image_is_checked_once_with_a_model_and_without(trained, monkeypatch):
    """Checking the image passes over every pixel (finite, not constant): once per call. With a
    model it was done twice (for the model's channels, then for the frames)."""
    import importlib

    module = importlib.import_module("labelfree.cutter.segment")  # the module, not the function
    da, _, nuclei, _, path = trained
    checked = []
    check = module.validate_image
    monkeypatch.setattr(module, "validate_image", lambda image, **kw: checked.append(kw["name"]) or check(image, **kw))
    segment(da, markers=nuclei, config={"cell_fraction": 0.24}, model=path)
    assert checked == ["Cutter input"]
    with pytest.raises(ConstantImageError, match="Cutter input is constant"):  # still checked before the model is used
        segment(da * 0, markers=nuclei, model=path)


def test_model_bound_fields_raise_on_conflict(tmp_path, trained):
    da, _, nuclei, _, path = trained  # trained with width 8, crop_size 48, marker_sigma 11
    with pytest.raises(ConfigError, match=r"crop_size=32, but the model was trained with crop_size=48") as err:
        segment(da, markers=nuclei, config=CutterConfig(crop_size=32, cell_channels=("cell",)), model=path)
    assert "drop the setting of crop_size" in str(err.value) and "train a new model" in str(err.value)
    with pytest.raises(ConfigError, match=r"marker_sigma=5\.0, but .*marker_sigma=11\.0; width=32, but .*width=8"):
        segment(da, markers=nuclei, config={"marker_sigma": 5.0, "width": 32, "cell_channels": ["cell"]},
                model=load_model(path))
    # the model's own values (or the defaults) are fine: taken from the model
    ok = segment(da, markers=nuclei, config=CutterConfig(width=8, crop_size=48, cell_channels=("cell",),
                                                         cell_fraction=0.24), model=path)
    assert ok.attrs["labelfree"]["config"]["crop_size"] == 48 and ok.attrs["labelfree"]["training_steps"] == 0
    # save_model with a model to apply: nothing would be trained
    with pytest.raises(InputError, match="save_model"):
        segment(da, markers=nuclei, model=path, save_model=tmp_path / "again.pt")


def test_run_choices_are_arguments_not_settings(tmp_path, trained, capsys):
    from labelfree.cli import main
    from labelfree.cutter.model_io import FORMAT

    for key, hint in (("model_file", "segment(model=...)"), ("save_model_file", "--save-model-file"),
                      ("device", "segment(device=...)")):
        with pytest.raises(ConfigError, match=rf"{key} is not a setting any more: pass .*{re.escape(hint)}"):
            CutterConfig.from_dict({key: "x"})
        with pytest.raises(ConfigError, match=f"{key} is not a setting any more"):
            segment(np.zeros((64, 64)), markers=[[20, 20]], config={key: "cpu"})
    config = tmp_path / "old.json"
    config.write_text(json.dumps({"n_steps": 2, "save_model_file": "m.pt"}))
    assert main(["cutter", str(tmp_path / "x.tif"), "-o", str(tmp_path / "o"), "--config", str(config)]) != 0
    err = capsys.readouterr().err
    assert "save_model_file is not a setting any more" in err and "--save-model-file" in err
    assert main(["cutter", str(tmp_path / "x.tif"), "-o", str(tmp_path / "o"), "--set", "device=cuda"]) != 0
    assert "device is not a setting any more: pass --device (CLI)" in capsys.readouterr().err
    # a model saved by an older version records device and model files in its config: still loads
    path = trained[-1]
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT
    payload["config"] = json.dumps({**json.loads(payload["config"]), "device": "cpu", "model_file": "",
                                    "save_model_file": str(path)})
    torch.save(payload, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").config.width == 8


@pytest.mark.slow
def test_time_lapse_markers_detected_from_nucleus_channel():
    frames = [_image(seed=s) for s in (0, 1)]
    movie = to_dataarray(np.stack([f[0].values for f in frames]), dims="TCYX", channel_names=["cell", "nucleus"])
    cfg = CutterConfig(**{**FAST, "n_steps": 80}, marker_min_sigma=3.0, marker_max_sigma=6.0, marker_threshold=0.2)
    labels = segment(movie, config=cfg)
    assert labels.dims == ("T", "Y", "X")
    for t, f in enumerate(frames):
        scores = evaluate(labels.values[t], f[1])
        assert scores["f1"] == 1.0 and scores["mean_iou"] > 0.8


def test_the_nucleus_channel_is_guessed_when_not_given():
    """A cells + nuclei image, no markers, no channel settings: the nuclei give the markers, the cells the input."""
    da, truth, _, _ = _image(seed=2)
    cfg = {k: v for k, v in FAST.items() if k not in ("cell_channels", "nucleus_channel")}
    labels = segment(da, config=cfg)
    scores = evaluate(labels.values, truth)
    assert scores["f1"] == 1.0 and scores["mean_iou"] > 0.8
    record = labels.attrs["labelfree"]["markers"]
    assert record["detected_in"] == "channel 1 (nucleus, guessed: its objects lie inside a larger channel's)"
    assert record["nucleus_channel_guessed"]["name"] == "nucleus"
    assert labels.attrs["labelfree"]["config"]["nucleus_channel"] is None  # what the user asked for


def test_a_blank_channel_is_left_out_of_the_automatic_cell_channels(caplog):
    """An RGB file of cells (R) and nuclei (G) has a blank B plane: with no channel settings it
    is not a cell channel (the foreground mask of a constant plane failed the whole run), and
    the result is that of the two-channel image. A blank channel set as a cell channel is refused
    by name."""
    da, truth, _, _ = _image(seed=2)
    rgb = to_dataarray(np.concatenate([da.values, np.zeros((1, 128, 128), np.float32)]), dims="CYX",
                       channel_names=["R", "G", "B"])
    cfg = {k: v for k, v in FAST.items() if k not in ("cell_channels", "nucleus_channel")}
    with caplog.at_level("INFO", logger="labelfree.cutter.segment"):
        labels = segment(rgb, config=cfg)
    assert "channel B (every pixel 0.0) is blank and left out of the cell channels (cell channels: R)" in caplog.text
    assert np.array_equal(labels.values, segment(da, config=cfg).values)
    assert evaluate(labels.values, truth)["f1"] == 1.0
    with pytest.raises(ConstantImageError, match=r"cell channel B \(every pixel 0.0\) is constant.*among the channels "
                                                 r"with contrast \(R, G\)"):
        segment(rgb, config={**cfg, "cell_channels": ("R", "B"), "nucleus_channel": "G"})


def test_errors_on_bad_input():
    da, truth, nuclei, centres = _image()
    cell_only = da.sel(C="cell")
    twins = da.copy(data=np.stack([da.values[1], np.roll(da.values[1], 40, axis=1)]))  # two nucleus channels
    with pytest.raises(InputError, match=r"no channel of this image clearly shows nuclei.*Set nucleus_channel"):
        segment(twins, config=CutterConfig(**{**FAST, "nucleus_channel": None, "cell_channels": ()}))
    with pytest.raises(DimensionError, match="leave nucleus_channel empty"):
        segment(cell_only, config=CutterConfig(**FAST))
    with pytest.raises(InputError, match="No markers"):
        segment(cell_only, markers=np.zeros((0, 2)), config=CutterConfig(n_steps=1))
    with pytest.raises(InputError, match="outside the 128 x 128 image"):
        segment(cell_only, markers=[[10, 10], [10, 300]], config=CutterConfig(n_steps=1))
    flat = da.copy(data=np.stack([da.values[0], np.full((128, 128), 3.0, np.float32)]))
    with pytest.raises(ConstantImageError, match="nucleus image is constant"):
        segment(flat, config=CutterConfig(**FAST))
    with pytest.raises(InputError, match="smaller than one 64 x 64 patch"), warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkerWarning)  # (5, 5) is on the background: said before the error
        segment(cell_only[:40], markers=[[5, 5]], config=CutterConfig(n_steps=1))
    with pytest.raises(ConfigError, match="loss_preset"):
        CutterConfig(loss_preset="fast")


def test_cancel_stops_training():
    da, _, nuclei, _ = _image()

    def cancel_at_third(done, total, message):
        if done >= 3:
            raise Cancelled("stop")

    calls = []
    with pytest.raises(Cancelled):
        segment(da, markers=nuclei, config=CutterConfig(**FAST), progress=lambda d, t, m: (calls.append(d), cancel_at_third(d, t, m)))
    assert calls[-1] == 3


@pytest.mark.slow
def test_cli_writes_four_outputs(tmp_path, trained):
    from labelfree.cli import main

    da, truth, nuclei, labels, path = trained
    image_path = tmp_path / "cells.tif"
    tifffile.imwrite(image_path, da.values, imagej=True, metadata={"axes": "CYX"})
    tifffile.imwrite(tmp_path / "nuclei.tif", nuclei.astype(np.uint16))
    out = tmp_path / "out"
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"cell_fraction": 0.24}))  # the same foreground mask as in training
    code = main(["cutter", str(image_path), "-o", str(out), "--markers", str(tmp_path / "nuclei.tif"),
                 "--set", "cell_channels=0", "--model-file", str(path), "--config", str(config)])
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cells_labels.tif", "cells_provenance.json", "cells_rois.zip", "cells_table.csv"]
    np.testing.assert_array_equal(tifffile.imread(out / "cells_labels.tif"), labels.values)
    import pandas as pd

    assert len(pd.read_csv(out / "cells_table.csv")) == 9
    # points CSV as markers gives the same cells (ids 1..N in CSV order)
    csv = tmp_path / "markers.csv"
    from labelfree.cutter.markers import markers_from_labels

    centres, ids = markers_from_labels(nuclei)
    pd.DataFrame({"y": centres[:, 0], "x": centres[:, 1]}).to_csv(csv, index=False)
    assert main(["cutter", str(image_path), "-o", str(tmp_path / "o2"), "--markers", str(csv),
                 "--set", "cell_channels=0", "--model-file", str(path), "--config", str(config)]) == 0
    again = tifffile.imread(tmp_path / "o2" / "cells_labels.tif")
    assert evaluate(again, labels.values)["mean_iou"] == 1.0
