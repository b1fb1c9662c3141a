"""``labelfree fusion train|select|eval IMAGES_FOLDER --labels LABELS_FOLDER``: images and label images in two
folders (StarDist's ``train/images`` and ``train/masks``) paired by stem as ``labelfree eval`` pairs ground truth,
trained on as the same files given as lists. Real data: crops of the StarDist DSB2018 nuclei image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from test_train_folder import TINY, _png, _state, _weights, _zoo, dsb_crops  # noqa: F401 (dsb_crops: a fixture)

from labelfree.cli import main
from labelfree.errors import InputError

#: the user's cache takes no part (tests/fusion/conftest.py)
pytestmark = pytest.mark.usefixtures("empty_cache")


def test_two_folders_train_the_zoo_their_files_train_as_lists(dsb_crops, tmp_path, capsys):  # noqa: F811
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for stem, (image, _) in zip(("img_b", "img_a", "img_c"), dsb_crops):  # img_c has no label image
        tifffile.imwrite(images / f"{stem}.tif", image)
    tifffile.imwrite(masks / "img_a.tif", dsb_crops[1][1])  # the same name (StarDist)
    _png(masks / "img_b_masks.png", dsb_crops[0][1])  # Cellpose's name, a PNG
    tifffile.imwrite(masks / "img_z.tif", dsb_crops[2][1])  # a label image without an image
    assert main(["fusion", "train", str(images), "--labels", str(masks), "--zoo", str(tmp_path / "zf"),
                 *TINY[:-1]]) == 0
    err = capsys.readouterr().err
    assert f"1 of the 3 images in {images} have no label image in {masks} and are left out: img_c.tif" in err
    assert f"1 of the 3 label images in {masks} have no image in {images} and are left out: img_z.tif" in err
    assert main(["fusion", "train", str(images / "img_a.tif"), str(images / "img_b.tif"), "--labels",
                 str(masks / "img_a.tif"), str(masks / "img_b_masks.png"), "--zoo", str(tmp_path / "zl"), *TINY]) == 0
    by_folders, by_lists = _zoo(tmp_path / "zf"), _zoo(tmp_path / "zl")
    assert [e["channels"] for e in by_folders] == [e["channels"] for e in by_lists] == [["C0"]]
    assert by_folders[0]["diameter"] == by_lists[0]["diameter"]
    state_a, state_b = (_state(_weights(tmp_path / z, e[0])) for z, e in (("zf", by_folders), ("zl", by_lists)))
    assert state_a.keys() == state_b.keys()
    assert all(np.array_equal(state_a[k].numpy(), state_b[k].numpy()) for k in state_a)
    # the two folders as eval's test set: both pairs scored against their own label images, nothing said on -q
    csv = tmp_path / "scores.csv"
    assert main(["fusion", "eval", str(images), "--labels", str(masks), "--zoo", str(tmp_path / "zf"), "--device",
                 "cpu", "-q", "--csv", str(csv), "--set", "diameter=15"]) == 0
    assert capsys.readouterr().err == ""
    truth = int(dsb_crops[0][1].max()) + int(dsb_crops[1][1].max())
    assert set(pd.read_csv(csv).eval("tp + fn")) == {truth}


def test_images_pair_with_the_label_images_of_their_stems_in_another_folder(tmp_path):
    from labelfree.evaluation.folders import pair_image_folders

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name in ("b.png", "a.tif", "c.jpg", "d.tiff", "notes.txt", ".e.tif"):
        (images / name).write_bytes(b"")
    for name in ("a.tif", "b_masks.png", "c_GT.tif", "e.tif", "f_labels.TIF", "c.jpg", "notes.txt"):
        (masks / name).write_bytes(b"")
    pairs, no_labels, no_image = pair_image_folders(images, masks)
    assert [(s, i.name, m.name) for s, i, m in pairs] == [("a", "a.tif", "a.tif"), ("b", "b.png", "b_masks.png"),
                                                          ("c", "c.jpg", "c_GT.tif")]
    assert [p.name for p in no_labels] == ["d.tiff"]
    assert [p.name for p in no_image] == ["e.tif", "f_labels.TIF"]  # a hidden image pairs with nothing
    (masks / "b_mask.tif").write_bytes(b"")
    with pytest.raises(InputError, match=r"holds 2 ground-truth files of the image 'b' \(b_mask.tif, b_masks.png\)"):
        pair_image_folders(images, masks)
    (masks / "b_mask.tif").unlink()
    (images / "a.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"holds 2 images of 'a' \(a.png, a.tif\)"):
        pair_image_folders(images, masks)
    # Cell Tracking Challenge: the frames t000.tif ... with the SEG folder's man_seg001.tif
    ctc, seg = tmp_path / "01", tmp_path / "SEG"
    ctc.mkdir()
    seg.mkdir()
    for name in ("t000.tif", "t001.tif"):
        (ctc / name).write_bytes(b"")
    (seg / "man_seg001.tif").write_bytes(b"")
    pairs, no_labels, no_image = pair_image_folders(ctc, seg)
    assert [(s, i.name, m.name) for s, i, m in pairs] == [("t001", "t001.tif", "man_seg001.tif")]
    assert [p.name for p in no_labels] == ["t000.tif"] and no_image == []


@pytest.mark.parametrize("verb", ["train", "select", "eval"])
def test_two_folders_without_a_pair_or_a_folder_with_files_are_refused_before_any_work(tmp_path, capsys, verb):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    image = _png(images / "img001.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    label = _png(masks / "img001_cp_masks.png", np.ones((8, 8), np.uint8))  # Cellpose's output: stem img001_cp
    zoo = tmp_path / "zoo"
    assert main(["fusion", verb, str(images), "--labels", str(masks), "--zoo", str(zoo)]) == 1
    err = capsys.readouterr().err
    assert f"No image in {images} has a label image in {masks}" in err and "<stem>_masks.tif" in err
    assert "Image stems found: img001; label stems found: img001_cp." in err
    assert main(["fusion", verb, str(images), "--labels", str(label), "--zoo", str(zoo)]) == 1
    err = capsys.readouterr().err
    assert f"--labels is given with the folder {images} as 1 path(s) (img001_cp_masks.png)" in err
    assert "give both as folders (IMAGES_FOLDER --labels LABELS_FOLDER, paired by name)" in err
    assert main(["fusion", verb, str(image), "--labels", str(masks), "--zoo", str(zoo)]) == 1
    assert (f"--labels {masks} is a folder, given with image files: give both as folders (IMAGES_FOLDER --labels "
            "LABELS_FOLDER, paired by name) or both as files") in capsys.readouterr().err
    assert not zoo.exists()
