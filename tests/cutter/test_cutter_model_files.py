"""Saved Cutter models applied to other images: channels found by name, provenance that reruns, damaged files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch  # a dev install has torch: its absence is an error, not a skip
from cutter_synth import two_channel_cells

from labelfree.cutter import load_model, segment
from labelfree.cutter.segment import prepare
from labelfree.errors import InputError, ModelFileError
from labelfree.image import to_dataarray
from labelfree.metrics import evaluate

#: a tiny network, automatic scale; no channel settings: the nucleus channel is guessed
TINY = {"width": 8, "crop_size": 32, "n_steps": 40, "cell_fraction": 0.24, "mask_signal": "intensity"}


def _named(image: np.ndarray, names=("cell", "nucleus")):
    return to_dataarray(image, dims="CYX", channel_names=list(names))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained on a cells + nuclei image with named channels, no markers (nucleus channel guessed)."""
    image, truth, _, _ = two_channel_cells(seed=2)
    path = tmp_path_factory.mktemp("model") / "m.pt"
    labels = segment(_named(image), config=TINY, save_model=path)
    assert labels.attrs["labelfree"]["markers"]["nucleus_channel_guessed"]["name"] == "nucleus"
    return image, truth, labels, path


def test_a_guessed_nucleus_channel_is_found_by_name_in_an_image_of_another_channel_order(trained):
    """The guessed nucleus channel was saved as its index (1): applied to the same stains in the order
    (nucleus, cell), names given, the model detected the markers in the cell channel and cut the nuclei."""
    image, truth, _, path = trained
    same = segment(_named(image), model=path)
    swapped = segment(_named(image[::-1], names=("nucleus", "cell")), model=path)
    assert evaluate(same.values, truth)["f1"] == 1.0
    np.testing.assert_array_equal(swapped.values, same.values)
    assert load_model(path).config.nucleus_channel == "nucleus"
    # channels without names of their own (C0, C1) are still recorded by index
    plain = to_dataarray(image, dims="CYX")
    assert prepare(plain, config=TINY).config.nucleus_channel == 1


def test_the_provenance_of_a_model_applied_at_another_scale_reruns_it(trained):
    """Applied to a 2x magnified image, the model rescales it (downscale automatic), but the provenance
    recorded the model's downscale: its config, given again, applied the model at the training scale."""
    image, truth, _, path = trained
    big = _named(np.kron(image, np.ones((1, 2, 2), image.dtype)))
    big_truth = np.kron(truth, np.ones((2, 2), truth.dtype))
    applied = segment(big, model=path)
    record = applied.attrs["labelfree"]
    trained_at = load_model(path).config.downscale
    assert record["auto"]["downscale"] == pytest.approx(2 * trained_at, rel=0.15)
    assert record["config"]["downscale"] is None
    again = segment(big, config=record["config"], model=path)
    assert again.attrs["labelfree"]["auto"]["downscale"] == record["auto"]["downscale"]
    np.testing.assert_array_equal(again.values, applied.values)
    assert evaluate(applied.values, big_truth)["f1"] == 1.0


def test_a_damaged_model_record_is_one_clear_error(trained, tmp_path):
    """A sidecar that is not a JSON object, or a file with Cutter's format record whose contents are
    missing, do not fit its network, or hold settings this version lacks, ended in a traceback
    (AttributeError, KeyError, RuntimeError) or a config error that did not name the model file."""
    _, _, _, path = trained
    payload = torch.load(path, weights_only=True)
    config = json.loads(payload["config"])
    damaged = {
        "no_channels": ({k: v for k, v in payload.items() if k != "n_channels"}, r"no 'n_channels' entry"),
        "wrong_channels": ({**payload, "n_channels": 3}, r"weights do not fit the width-8 network of 3 channel"),
        "wrong_width": ({**payload, "config": json.dumps({**config, "width": 16})}, r"width-16 network"),
        "newer": ({**payload, "config": json.dumps({**config, "a_newer_setting": 1})},
                  r"Unknown CutterConfig option\(s\): a_newer_setting\)"),
    }
    for name, (content, said) in damaged.items():
        target = tmp_path / f"{name}.pt"
        torch.save(content, target)
        with pytest.raises(ModelFileError, match=rf"{name}\.pt has the 'labelfree-cutter-1' record .*\(.*{said}.*"
                                                 "train and save the model again"):
            load_model(target)
    copy = tmp_path / "sidecar.pt"
    copy.write_bytes(path.read_bytes())
    (tmp_path / "sidecar.pt.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match=r"sidecar .*sidecar\.pt\.json is not the record Cutter writes .*a list"):
        load_model(copy)


def test_a_model_given_another_number_of_channels_says_which_before_any_frame_is_prepared(trained):
    """The mismatch was found only when the patches reached the network, after every frame had been prepared,
    and the message named no channel."""
    image, truth, _, path = trained
    three = to_dataarray(np.stack([image[0], image[1], image[0] // 2]), dims="CYX",
                         channel_names=["cell", "nucleus", "membrane"])
    with pytest.raises(InputError, match=r"trained on 1 image channel\(s\), but this image would give it 2 of its "
                                         r"channels \['cell', 'nucleus', 'membrane'\]: \['cell', 'membrane'\]\. Set "
                                         r"cell_channels"):
        segment(three, model=path)
    chosen = segment(three, model=path, config={"cell_channels": ["cell"]})  # the advice works
    assert evaluate(chosen.values, truth)["f1"] == 1.0


def test_an_existing_model_file_is_not_replaced_without_overwrite(trained, tmp_path):
    """segment(save_model=) and CutterModel.save replaced an existing file without a word (a model trained
    for an hour, or any file of that name); the CLI and Fiji refused it. Now one OutputExistsError, before the
    training, and nothing is written; overwrite=True replaces it, run_pipeline passes its overwrite on."""
    from labelfree.errors import OutputExistsError
    from labelfree.run import run_pipeline

    image, _, _, path = trained
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="mine.pt exists"):
        segment(_named(image), config={**TINY, "n_steps": 1}, save_model=mine)
    assert mine.read_bytes() == b"mine" and not (tmp_path / "mine.pt.json").exists()
    model = load_model(path)
    with pytest.raises(OutputExistsError, match="mine.pt exists"):
        model.save(mine)
    assert mine.read_bytes() == b"mine"
    model.save(mine, overwrite=True)
    assert load_model(mine).n_channels == model.n_channels
    (tmp_path / "other.pt.json").write_bytes(path.with_name("m.pt.json").read_bytes())  # a model's sidecar left
    with pytest.raises(OutputExistsError, match="sidecar"):  # the sidecar is a file of the set too
        model.save(tmp_path / "other.pt")
    assert not (tmp_path / "other.pt").exists()
    segment(_named(image), config={**TINY, "n_steps": 1}, save_model=mine, overwrite=True)
    run_pipeline("cutter", _named(image), config={**TINY, "n_steps": 1}, inputs={"save_model": mine})  # default True
    with pytest.raises(OutputExistsError):
        run_pipeline("cutter", _named(image), config={**TINY, "n_steps": 1}, inputs={"save_model": mine},
                      overwrite=False)
    with pytest.raises(InputError, match="Tiled runs take no per-pixel inputs such as save_model"):
        run_pipeline("cutter", _named(image), inputs={"save_model": mine}, tile=32)  # not an AttributeError
