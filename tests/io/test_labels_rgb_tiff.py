"""An RGB TIFF given as a label image: a grey one is its grey values; one in colours is refused with what to do.

Before, ``labelfree eval pred.tif truth_rgb.tif`` said the files had different axes (``C=3``) and to fix them in
Image > Properties, which no axis setting fixes: the file holds colours, not object ids.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.io import read_labels, write_labels


@pytest.fixture
def labels() -> np.ndarray:
    """Three objects, ids 1..3, two of them touching."""
    lab = np.zeros((48, 64), np.uint16)
    lab[4:20, 4:24] = 1
    lab[4:20, 24:40] = 2  # touches object 1
    lab[28:44, 30:60] = 3
    return lab


def _coloured(labels: np.ndarray) -> np.ndarray:
    """The label image as a picture: each object one colour, background black (a flattened glasbey LUT)."""
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 200, 80], [40, 90, 255]], np.uint8)
    return colours[labels]


def _eval(pred, truth, capsys) -> tuple[int, str, str]:
    code = main(["eval", str(pred), str(truth)])
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_refuses_an_rgb_label_tiff_saying_what_a_label_image_is(tmp_path, labels, capsys):
    tifffile.imwrite(tmp_path / "pred.tif", labels)
    tifffile.imwrite(tmp_path / "truth_rgb.tif", _coloured(labels), photometric="rgb")
    code, out, err = _eval(tmp_path / "pred.tif", tmp_path / "truth_rgb.tif", capsys)
    assert code == 1 and out == ""
    assert "truth_rgb.tif is an RGB colour picture (red, green, blue samples per pixel, 4 colours)" in err
    assert "one channel of whole-number object ids (0 = background)" in err
    assert "File > Save As > Tiff..." in err and "not RGB Color" in err
    assert "Image > Properties" not in err and "same axes" not in err  # before: a question of axes


@pytest.mark.parametrize("planar", [False, True])
def test_the_python_recipe_of_the_message_gives_the_ids_exactly(tmp_path, labels, capsys, planar):
    """The message's recipe, run as written, gives a label image that scores F1 1 against the original ids."""
    tifffile.imwrite(tmp_path / "pred.tif", labels)
    picture = np.moveaxis(_coloured(labels), -1, 0) if planar else _coloured(labels)
    tifffile.imwrite(tmp_path / "truth_rgb.tif", picture, photometric="rgb",
                     planarconfig="separate" if planar else "contig")
    with pytest.raises(InputError) as err:
        read_labels(tmp_path / "truth_rgb.tif")
    found = re.search(r"in Python: (.*) \(black, the smallest colour, becomes 0\); then (.*)\.$", str(err.value))
    assert found is not None, str(err.value)
    import labelfree

    exec(f"{found.group(1)}\n{found.group(2)}", {"np": np, "tifffile": tifffile, "labelfree": labelfree})
    ids = read_labels(tmp_path / "truth_rgb_ids.tif")
    assert ids.shape == labels.shape and ids.max() == 3 and np.array_equal(ids == 0, labels == 0)
    code, out, err = _eval(tmp_path / "pred.tif", tmp_path / "truth_rgb_ids.tif", capsys)
    assert code == 0 and re.search(r"object F1\s+1\.0000", out) and "TP / FP / FN             3 /   0 /   0" in out


@pytest.mark.parametrize("how", ["rgba", "imagej", "planar", "16-bit"])
def test_every_kind_of_colour_tiff_is_refused(tmp_path, labels, how):
    picture = _coloured(labels)
    options: dict = {"photometric": "rgb"}
    if how == "rgba":  # a flattened overlay with an opaque alpha channel
        picture = np.dstack([picture, np.full(labels.shape, 255, np.uint8)])
        options["extrasamples"] = ["unassalpha"]
    elif how == "imagej":  # as Fiji saves an RGB Color image
        options["imagej"] = True
    elif how == "planar":
        picture, options["planarconfig"] = np.moveaxis(picture, -1, 0), "separate"
    else:
        picture = picture.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "rgb.tif", picture, **options)
    with pytest.raises(InputError, match=r"rgb\.tif is an RGB colour picture \(red, green, blue"
                                         + (" and alpha" if how == "rgba" else "") + r" samples per pixel, 4 colours"):
        read_labels(tmp_path / "rgb.tif")


@pytest.mark.parametrize("how", ["rgb", "rgba", "planar", "stack"])
def test_a_grey_label_image_saved_as_rgb_is_read_as_its_ids(tmp_path, labels, how):
    """Three equal colour samples (a grey label image exported as RGB) are the ids, as from a grey RGB PNG."""
    grey = np.repeat(labels.astype(np.uint8)[..., None], 3, -1)
    options: dict = {"photometric": "rgb"}
    expected = labels
    if how == "rgba":
        grey = np.dstack([grey, np.zeros(labels.shape, np.uint8)])  # a transparent alpha is left out too
        options["extrasamples"] = ["unassalpha"]
    elif how == "planar":
        grey, options["planarconfig"] = np.moveaxis(grey, -1, 0), "separate"
    elif how == "stack":  # two frames
        grey, expected = np.stack([grey, grey[::-1]]), np.stack([labels, labels[::-1]])
    tifffile.imwrite(tmp_path / "grey_rgb.tif", grey, **options)
    read = read_labels(tmp_path / "grey_rgb.tif")
    assert read.shape == expected.shape and np.array_equal(read, expected)


def test_a_label_image_written_by_labelfree_is_read_unchanged(tmp_path, labels):
    """Its glasbey colour map makes no RGB file: the ids are read as written."""
    write_labels(tmp_path / "labels.tif", labels)
    assert np.array_equal(read_labels(tmp_path / "labels.tif"), labels)


def test_a_folder_pair_with_an_rgb_truth_is_an_error_row_and_the_others_are_scored(tmp_path, labels, capsys):
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    for stem in ("a", "b"):
        tifffile.imwrite(pred / f"{stem}.tif", labels)
    tifffile.imwrite(truth / "a.tif", labels)
    tifffile.imwrite(truth / "b.tif", _coloured(labels), photometric="rgb")
    code, out, err = _eval(pred, truth, capsys)
    assert code == 1
    assert re.search(r"^a\s+3\s+0\s+0\s+1\.0000", out, re.M) and re.search(r"^b\s+not scored", out, re.M)
    assert "labelfree: error: b not scored: " in err and "b.tif is an RGB colour picture" in err
