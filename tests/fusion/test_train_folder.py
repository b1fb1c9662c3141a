"""``labelfree fusion train|select|eval FOLDER``: a Cellpose training folder (``img001.png`` beside
``img001_masks.png``) paired by stem, trained on as the same files given as lists; colour and
grey-as-colour PNGs. Real data: two crops of the StarDist DSB2018 nuclei image; tiny networks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.segmentation import relabel_sequential

from labelfree.cli import main
from labelfree.errors import InputError

#: the user's cache takes no part (tests/fusion/conftest.py)
pytestmark = pytest.mark.usefixtures("empty_cache")

#: a tiny network, one epoch, seeded: seconds on one CPU thread
TINY = ["--set", "nbase=8,16,32,64", "--set", "crop_size=64", "--set", "samples_per_epoch=8", "--set",
        "diam_mean=15", "--set", "seed=3", "--epochs", "1", "--starting-model", "scratch", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def dsb_crops():
    """Two 128 x 128 crops of the DSB2018 nuclei image (8-bit values) and their labels."""
    root = Path(os.environ.get("LABELFREE_SHARED_DATA", "/work/shared/data")) / "misc" / "stardist_dsb2018"
    if not (root / "img2d.tif").is_file():
        pytest.skip(f"the DSB2018 sample is not in {root} (set LABELFREE_SHARED_DATA)")
    image, mask = tifffile.imread(root / "img2d.tif"), tifffile.imread(root / "mask2d.tif")
    assert image.max() < 256  # stored as uint16, values of an 8-bit picture: PNG holds them exactly
    crops = []
    for y, x in ((0, 0), (256, 128), (384, 384)):
        lab = relabel_sequential(mask[y:y + 128, x:x + 128])[0].astype(np.uint16)
        crops.append((image[y:y + 128, x:x + 128].astype(np.uint8), lab))
    assert all(lab.max() >= 5 for _, lab in crops)
    return crops


def _png(path, array):
    Image.fromarray(array).save(path)
    return path


def _zoo(path):
    return json.loads((path / "index.json").read_text())["models"]


def _weights(zoo, entry):
    import torch

    return torch.load(zoo / entry["file"], map_location="cpu", weights_only=False)


def _state(weights):
    return weights["state_dict"] if "state_dict" in weights else weights


def test_a_cellpose_folder_trains_the_zoo_its_files_train_as_lists(dsb_crops, tmp_path, capsys):
    folder = tmp_path / "train"
    folder.mkdir()
    images, masks = [], []
    for k, (image, lab) in enumerate(dsb_crops[:2]):  # written b before a: the order is the stems', not the disk's
        stem = ("img_b", "img_a")[k]
        images.append(_png(folder / f"{stem}.png", image))
        masks.append(_png(folder / f"{stem}_masks.png", lab))
    _png(folder / "unlabelled.png", dsb_crops[2][0])  # an image without masks: left out, said on stderr
    (folder / "img_a_seg.npy").write_bytes(b"")  # Cellpose's other files are no images
    assert main(["fusion", "train", str(folder), "--zoo", str(tmp_path / "zf"), *TINY[:-1]]) == 0
    err = capsys.readouterr().err
    assert f"1 of the 3 images in {folder} have no masks file" in err and "left out: unlabelled.png" in err
    assert main(["fusion", "train", str(images[1]), str(images[0]), "--labels", str(masks[1]), str(masks[0]),
                 "--zoo", str(tmp_path / "zl"), *TINY]) == 0
    by_folder, by_lists = _zoo(tmp_path / "zf"), _zoo(tmp_path / "zl")
    assert [e["channels"] for e in by_folder] == [e["channels"] for e in by_lists] == [["C0"]]
    assert by_folder[0]["diameter"] == by_lists[0]["diameter"]
    a, b = _weights(tmp_path / "zf", by_folder[0]), _weights(tmp_path / "zl", by_lists[0])
    state_a, state_b = _state(a), _state(b)
    assert state_a.keys() == state_b.keys()
    assert all(np.array_equal(state_a[k].numpy(), state_b[k].numpy()) for k in state_a)
    # the same folder is the test set of eval: both images scored (a --labels beside it is refused)
    assert main(["fusion", "eval", str(folder), "--zoo", str(tmp_path / "zf"), "--device", "cpu", "-q",
                 "--labels", str(masks[0])]) == 1
    assert "--labels is given with the folder" in capsys.readouterr().err
    csv = tmp_path / "scores.csv"
    assert main(["fusion", "eval", str(folder), "--zoo", str(tmp_path / "zf"), "--device", "cpu", "-q", "--csv",
                 str(csv), "--set", "diameter=15"]) == 0
    import pandas as pd

    table = pd.read_csv(csv)
    truth = sum(int(lab.max()) for _, lab in dsb_crops[:2])
    assert set(table["tp"] + table["fn"]) == {truth}  # every row scored against the two masks files


def test_colour_pngs_train_on_their_r_g_b_channels_named_or_renamed(dsb_crops, tmp_path, capsys):
    folder = tmp_path / "cyto"
    folder.mkdir()
    for k, (image, lab) in enumerate(dsb_crops[:2]):  # nuclei in G, their inverse in R, B empty (Cellpose's cyto)
        rgb = np.stack([255 - image, image, np.zeros_like(image)], axis=-1)
        _png(folder / f"im{k}.png", rgb)
        _png(folder / f"im{k}_masks.png", lab)
    assert main(["fusion", "train", str(folder), "--zoo", str(tmp_path / "z"), "--channels", "G", *TINY]) == 0
    assert main(["fusion", "train", str(folder), "--zoo", str(tmp_path / "z"), "--channel-names", "cyto,nuclei,empty",
                 "--channels", "nuclei", "cyto", "--mode", "mc", *TINY]) == 0
    assert [e["channels"] for e in _zoo(tmp_path / "z")] == [["G"], ["nuclei", "cyto"]]
    assert main(["fusion", "train", str(folder), "--zoo", str(tmp_path / "z"), "--channels", "Y", *TINY]) == 1
    assert "Channel 'Y' not found; the image has channels ['R', 'G', 'B']" in capsys.readouterr().err


def test_grey_pngs_saved_as_colour_train_each_model_once(dsb_crops, tmp_path, capsys, monkeypatch):
    import labelfree.fusion as fusion

    calls = []
    real = fusion.finetune
    monkeypatch.setattr(fusion, "finetune", lambda *a, **k: calls.append(k["channels"]) or real(*a, **k))
    folder = tmp_path / "grey"
    folder.mkdir()
    for k, (image, lab) in enumerate(dsb_crops[:2]):
        _png(folder / f"g{k}.png", np.stack([image] * 3, axis=-1))
        _png(folder / f"g{k}_masks.png", lab)
    files = [*(str(folder / f"g{k}.png") for k in range(2)), "--labels", *(str(folder / f"g{k}_masks.png")
                                                                          for k in range(2))]
    assert main(["fusion", "train", *files, "--zoo", str(tmp_path / "z"), *TINY[:-1]]) == 0
    assert "Channel(s) G, B hold the pixels of R in every image" in capsys.readouterr().err
    assert calls == [["R"]]  # one training, not three on the same pixels
    entries = _zoo(tmp_path / "z")
    assert [e["channels"] for e in entries] == [["R"], ["G"], ["B"]]  # each channel of such an image has its model
    states = [_state(_weights(tmp_path / "z", e)) for e in entries]
    # what a training on G alone files: the same weights
    assert main(["fusion", "train", *files, "--zoo", str(tmp_path / "g"), "--channels", "G", *TINY]) == 0
    assert calls == [["R"], ["G"]]
    on_g = _state(_weights(tmp_path / "g", _zoo(tmp_path / "g")[0]))
    for state in (*states[1:], on_g):
        assert state.keys() == states[0].keys()
        assert all(np.array_equal(state[k].cpu().numpy(), states[0][k].cpu().numpy()) for k in state)


def test_grey_and_colour_images_together_are_refused_by_their_file_names(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lab = np.zeros((32, 32), np.uint8)
    lab[4:12, 4:12], lab[18:28, 16:26] = 1, 2
    colour = _png(tmp_path / "a.png", rng.integers(0, 255, (32, 32, 3)).astype(np.uint8))
    grey = _png(tmp_path / "b.png", rng.integers(0, 255, (32, 32)).astype(np.uint8))
    masks = [str(_png(tmp_path / f"{s}_masks.png", lab)) for s in "ab"]
    assert main(["fusion", "train", str(colour), str(grey), "--labels", *masks, "--zoo", str(tmp_path / "z")]) == 1
    err = capsys.readouterr().err
    assert f"{grey} has the channels ['C0'] but {colour} has ['R', 'G', 'B']" in err
    assert main(["fusion", "train", str(tmp_path), "--zoo", str(tmp_path / "z")]) == 1  # the folder: the same
    assert f"{grey} has the channels ['C0'] but {colour} has ['R', 'G', 'B']" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_a_folder_pairs_images_with_their_masks_by_stem(tmp_path):
    from labelfree.evaluation.folders import pair_annotated_images

    for name in ("b.tif", "b_masks.tif", "a.png", "a_Masks.png", "c_gt.tif", "c.jpg", "d.png", "e_masks.jpg",
                 ".f.png", "f_masks.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    pairs, unpaired = pair_annotated_images(tmp_path)
    assert [(s, i.name, m.name) for s, i, m in pairs] == [("a", "a.png", "a_Masks.png"), ("b", "b.tif", "b_masks.tif"),
                                                          ("c", "c.jpg", "c_gt.tif")]
    assert [p.name for p in unpaired] == ["d.png", "e_masks.jpg"]  # a JPEG is no label image: an image named so
    (tmp_path / "a_mask.tif").write_bytes(b"")
    with pytest.raises(InputError, match=r"holds 2 masks files of 'a' \(a_Masks.png, a_mask.tif\)"):
        pair_annotated_images(tmp_path)
    (tmp_path / "a_mask.tif").unlink()
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"holds 2 images of 'b' \(b.png, b.tif\)"):
        pair_annotated_images(tmp_path)


@pytest.mark.parametrize("verb", ["train", "select", "eval"])
def test_a_folder_without_pairs_or_given_with_files_is_refused_before_any_work(tmp_path, capsys, verb):
    folder = tmp_path / "data"
    folder.mkdir()
    _png(folder / "img001.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    _png(folder / "img001_cp_masks.png", np.ones((8, 8), np.uint8))  # Cellpose's output, not img001's masks
    zoo = tmp_path / "zoo"
    assert main(["fusion", verb, str(folder), "--zoo", str(zoo)]) == 1
    err = capsys.readouterr().err
    assert f"No image in {folder} has a masks file beside it" in err and "<stem>_masks.png" in err
    assert "Images found: img001; masks files found: img001_cp." in err
    assert main(["fusion", verb, str(folder), str(folder / "img001.png"), "--zoo", str(zoo)]) == 1
    assert "give one folder (each image beside its <stem>_masks file), or image files with --labels" in (
        capsys.readouterr().err)
    assert main(["fusion", verb, str(folder / "img001.png"), "--zoo", str(zoo)]) == 1
    assert "No --labels given" in capsys.readouterr().err
    assert not zoo.exists()
