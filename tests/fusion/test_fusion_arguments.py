"""Fusion's arguments as a numpy / scikit-image user gives them: colour channels last, one channel name
or one model as a string, and short channel lists in the errors of many-channel images."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_data import synthetic_pair

from labelfree import to_dataarray
from labelfree.errors import ConfigError, ConstantImageError, InputError, ModelFileError
from labelfree.fusion import segment
from labelfree.fusion.channels import with_channel_axis


@pytest.fixture(scope="module")
def cfg(model):
    return {"diameter": model.diam_labels}


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair(100)


def _f1(labels, truth):
    from labelfree.fusion.evaluation import score_predictions

    return score_predictions([np.asarray(labels)], [truth])["f1"]


@pytest.mark.parametrize("shape, dims, names", [
    ((64, 64, 3), ("C", "Y", "X"), ["R", "G", "B"]),
    ((64, 48, 4), ("C", "Y", "X"), ["R", "G", "B", "A"]),
    ((2, 64, 48, 3), ("T", "C", "Y", "X"), ["R", "G", "B"]),
    ((3, 64, 64), ("C", "Y", "X"), ["C0", "C1", "C2"]),  # channels first, as before
    ((8, 8, 3), ("C", "Y", "X"), ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]),  # too small to be colour
    ((2, 3, 64, 64), ("T", "C", "Y", "X"), ["C0", "C1", "C2"]),
])
def test_plain_arrays_with_colour_channels_last_are_read_as_colour(shape, dims, names):
    arr = np.random.default_rng(0).random(shape, dtype=np.float32)
    da = with_channel_axis(arr)
    assert da.dims == dims and [str(c) for c in da.C.values] == names
    expected = np.moveaxis(arr, -1, -3) if names[0] == "R" else arr
    assert np.array_equal(da.values, expected)


def test_a_colour_array_is_segmented_as_its_channels(model, cfg, pair):
    image, truth = pair
    colour = np.stack([image[0], image[1], image[0]], axis=-1)  # (Y, X, 3), as skimage.io.imread gives it
    nets = {"R": model, "G": model, "B": model}
    out = segment(colour, models=nets, config=cfg)
    # before: read as 96 channels of 96 x 3 pixels, and refused for want of models for C0 ... C95
    named = to_dataarray(np.moveaxis(colour, -1, 0), dims="CYX", channel_names=["R", "G", "B"])
    assert out.dims == ("Y", "X") and out.shape == truth.shape
    assert np.array_equal(out.values, segment(named, models=nets, config=cfg).values)
    assert out.attrs["labelfree"]["channels"] == ["R", "G", "B"]
    assert _f1(out, truth) >= 0.6
    movie = np.stack([colour, colour])  # (T, Y, X, 3)
    both = segment(movie, models=nets, config=cfg)
    assert both.dims == ("T", "Y", "X") and all(np.array_equal(both.values[t], out.values) for t in range(2))


def test_one_channel_name_or_index_is_that_channel(model, cfg, pair):
    image, truth = pair
    da = to_dataarray(image, dims="CYX", channel_names=["GFP", "RFP"])
    listed = segment(da, models={"GFP": model}, channels=["GFP"], config=cfg)
    one = segment(da, models={"GFP": model}, channels="GFP", config=cfg)  # before: "Channel 'G' not found"
    assert np.array_equal(one.values, listed.values) and one.attrs["labelfree"]["channels"] == ["GFP"]
    assert int(listed.max()) > 0
    by_index = segment(da, models={"RFP": model}, channels=1, config=cfg)
    assert np.array_equal(by_index.values, segment(da, models={"RFP": model}, channels=["RFP"], config=cfg).values)
    first = segment(da, models={"GFP": model}, channels=0, config=cfg)  # 0 is channel 0, not "every channel"
    assert first.attrs["labelfree"]["channels"] == ["GFP"] and np.array_equal(first.values, listed.values)


def test_one_model_serves_every_channel(model, cfg, pair, tmp_path):
    from labelfree.fusion import save_model

    image, truth = pair
    da = to_dataarray(image, dims="CYX", channel_names=["GFP", "RFP"])
    path = save_model(model, tmp_path / "cells.pt")
    each = segment(da, models={"GFP": str(path), "RFP": str(path)}, config=cfg)
    one = segment(da, models=str(path), config=cfg)  # before: "models were given for ['.', '/', ...]"
    assert np.array_equal(one.values, each.values) and _f1(one, truth) >= 0.6
    record = one.attrs["labelfree"]["models"]
    assert record == each.attrs["labelfree"]["models"] and set(record) == {"GFP", "RFP"}
    assert record["GFP"]["file"] == str(path) and len(record["GFP"]["sha256"]) == 64
    assert np.array_equal(segment(da, models=path, config=cfg).values, each.values)  # a Path too
    net = segment(da, models=model, config=cfg)  # a network
    assert np.array_equal(net.values, segment(da, models={"GFP": model, "RFP": model}, config=cfg).values)


@pytest.mark.parametrize("models, kind", [(["nofile.pt"], "a list of 1"), (("a.pt", "b.pt"), "a tuple of 2"),
                                          (3, "an int"), ({"GFP"}, "a set of 1")])
def test_models_neither_a_mapping_nor_one_model_are_refused(models, kind, pair):
    da = to_dataarray(pair[0], dims="CYX", channel_names=["GFP", "RFP"])
    with pytest.raises(InputError, match=r"models must map channel names to models, models=\{'GFP': 'gfp\.pt', "
                                         r"'RFP': 'rfp\.pt'\}, or be one model for every channel \(models='cells\.pt'"
                                         rf"\); got {kind}\. The image's channels fused here are \['GFP', 'RFP'\]\."):
        segment(da, models=models)


def _many(n=256, size=24):
    return np.random.default_rng(1).random((n, size, size), dtype=np.float32)  # channels C0 ... C255


def test_short_names():
    from labelfree.image import short_list as short_names

    assert short_names(["GFP", "RFP"]) == "['GFP', 'RFP']"
    assert short_names([f"C{i}" for i in range(8)]) == str([f"C{i}" for i in range(8)])
    many = "['C0', 'C1', 'C2', 'C3', 'C4', 'C5', ..., 'C255'] (256 in all)"
    assert short_names([f"C{i}" for i in range(256)]) == many


def test_channel_lists_in_errors_are_cut_short(model):
    arr = _many()
    short = "['C0', 'C1', 'C2', 'C3', 'C4', 'C5', ..., 'C255'] (256 in all)"
    with pytest.raises(InputError) as err:
        segment(arr, models={"GFP": model})
    assert str(err.value).startswith(f"No model given for channel(s) {short}; models were given for ['GFP'].")
    assert len(str(err.value)) < 300  # before: 2,600 characters
    for wanted in (["GFP"], [300]):
        with pytest.raises(InputError) as err:
            segment(arr, models={"GFP": model}, channels=wanted)
        assert f"not found; the image has channels {short}" in str(err.value) and len(str(err.value)) < 200
    flat = np.broadcast_to(np.arange(40, dtype=np.float32)[:, None, None], (40, 24, 24))  # each channel one value
    with pytest.raises(ConstantImageError, match=r"Every channel chosen for Fusion \(C0, C1, C2, C3, C4, C5, \.\.\., "
                                                 r"C39 \(40 in all\)\) has one value in every pixel"):
        segment(flat, models={"GFP": model})
    with pytest.raises(ConfigError) as err:
        segment(arr, models={f"C{i}": model for i in range(256)}, config={"fusion": "none"})
    assert f"but 256 were chosen: {short}" in str(err.value)


def test_the_zoo_error_for_many_channels_is_short(model, tmp_path):
    from labelfree.fusion import ModelZoo

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    zoo.add(model, object="cyto", channels=["GFP", "RFP"])
    with pytest.raises(ModelFileError) as err:
        segment(_many(), zoo=zoo)
    text = str(err.value)
    assert len(text) < 1500, len(text)  # before: 7,786 characters for a (256, 256, 3) array read as channels
    assert "the image has ['C0', 'C1', 'C2', 'C3', 'C4', 'C5', ..., 'C255'] (256 in all)" in text
    assert "--channel-names NAME0,NAME1,NAME2,NAME3,NAME4,NAME5,...,NAME255 (256 names)" in text
    assert "labelfree.to_dataarray(array, dims='CYX', channel_names=[...])" in text


def test_a_weights_file_given_as_the_zoo_is_said_to_be_one(tmp_path):
    """--zoo cyto3.pt said "is not a LabelFree model zoo (it has no index.json)"; it now names the file as weights
    and how to file it in a zoo."""
    from labelfree.errors import ModelFileError
    from labelfree.fusion.zoo import ModelZoo

    weights = tmp_path / "cyto3.pt"
    weights.write_bytes(b"not read")
    with pytest.raises(ModelFileError, match=r"cyto3.pt is a file, not a LabelFree model zoo .*labelfree zoo add ZOO "):
        ModelZoo(weights)
