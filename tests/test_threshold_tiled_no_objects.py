"""A tiled Threshold run that finds no object says so once, as the untiled run does: its tiles got the plane's
automatic threshold as a fixed one, and a fixed threshold was the caller's to judge, so the run ended without
objects and without a word; and a blank image was refused untiled but gave empty labels tiled."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from labelfree.errors import ConstantImageError, NoObjectsWarning
from labelfree.image import to_dataarray
from labelfree.run import run_pipeline
from labelfree.threshold import segment as threshold_segment
from labelfree.threshold.segment import NoObjectsWarning as ThresholdNoObjects
from labelfree.threshold.segment import whole_plane_config
from labelfree.tiling import PipelineTileFunction, segment_tiled

TILED = {"tile": 64, "tile_overlap": 16}
TAIL = "(tiled run: no object in any of the 16 tiles; the figures are the first tile's)"


def _background(seed: int = 0) -> np.ndarray:
    """256 x 256 px of noise with 2 x 2 px specks (smaller than min_size): background only, no object."""
    img = np.random.default_rng(seed).normal(100, 2, (256, 256)).astype(np.float32)
    for y in range(16, 256, 64):
        for x in range(16, 256, 64):
            img[y:y + 2, x:x + 2] = 200
    return img


def _with_cell(img: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[:256, :256]
    out = img.copy()
    out[(yy - 100) ** 2 + (xx - 100) ** 2 < 100] = 220
    return out


def _no_objects(call, *args, **kw):
    """``call``'s result and the no-object warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kw)
    return result, [w for w in caught if issubclass(w.category, NoObjectsWarning)]


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_a_tiled_run_without_objects_warns_once_as_the_untiled_run_does(dtype):
    img = (_background() * (1 if dtype == np.float32 else 10)).astype(dtype)
    whole, said_whole = _no_objects(run_pipeline, "threshold", img)
    tiled, said_tiled = _no_objects(run_pipeline, "threshold", img, **TILED)
    assert int(whole.max()) == 0 and int(tiled.max()) == 0
    assert len(said_whole) == 1 and len(said_tiled) == 1, [str(w.message) for w in said_tiled]  # was 1 and 0
    assert said_tiled[0].category is ThresholdNoObjects is said_whole[0].category
    thr = whole.attrs["labelfree"]["auto"]["threshold"]
    assert tiled.attrs["labelfree"]["auto"]["threshold"] == thr  # the same automatic threshold, whole and tiled
    text = str(said_tiled[0].message)
    assert text.startswith(f"No objects found: at the plane's automatic otsu threshold {thr:g}, which all its tiles "
                           "use, ")
    assert "none of them in an object of min_size=20 px or more" in text
    assert text.endswith(TAIL)


def test_a_tiled_run_with_an_object_in_one_tile_does_not_warn():
    tiled, said = _no_objects(run_pipeline, "threshold", _with_cell(_background()), **TILED)
    assert int(tiled.max()) == 1 and said == []


def test_a_fixed_threshold_of_the_user_warns_neither_whole_nor_tiled():
    img = _background()
    whole, _ = _no_objects(run_pipeline, "threshold", img)
    thr = float(whole.attrs["labelfree"]["auto"]["threshold"])
    _no_objects(run_pipeline, "threshold", img, **TILED)  # the process has fixed this value for the tiles of a run
    for tile in ({}, TILED):  # the user's threshold, even the same value: no word, untiled as before
        labels, said = _no_objects(run_pipeline, "threshold", img, config={"threshold": 150.0}, **tile)
        assert int(labels.max()) == 0 and said == []
    _, said = _no_objects(threshold_segment, img, config={"threshold": thr})
    assert said == []  # outside a tile the value is the user's
    user = PipelineTileFunction("threshold", {"threshold": thr})
    for call in (lambda: user(img[:64, :64]), lambda: segment_tiled(img, user, tile=64, overlap=16)):
        _, said = _no_objects(call)  # the same value as the automatic one of the tiled run before, given by the user
        assert said == []


def test_a_value_handed_to_tiles_goes_to_the_next_tiled_call_only():
    img = _background()
    auto = whole_plane_config(img, {})
    fn = PipelineTileFunction("threshold", auto.to_dict())
    _, said = _no_objects(segment_tiled, img, fn, tile=64, overlap=16)
    assert len(said) == 1
    _, said = _no_objects(segment_tiled, img, fn, tile=64, overlap=16)  # not handed again: the user's value
    assert said == []


def test_a_blank_image_is_refused_tiled_as_it_is_untiled():
    blank = np.zeros((256, 256), np.uint16)
    with pytest.raises(ConstantImageError) as whole:
        run_pipeline("threshold", blank)
    with pytest.raises(ConstantImageError) as tiled:  # was: empty labels, no word
        run_pipeline("threshold", blank, **TILED)
    assert str(tiled.value) == str(whole.value)
    assert str(tiled.value).startswith("image is constant (every pixel is 0); there is nothing to segment.")


def test_a_stack_with_a_blank_plane_and_an_empty_plane_warns_once_naming_both():
    stack = to_dataarray(np.stack([np.full((256, 256), 100, np.float32), _background(1), _with_cell(_background(2))]),
                         dims="TYX")
    whole, said_whole = _no_objects(run_pipeline, "threshold", stack)
    tiled, said_tiled = _no_objects(run_pipeline, "threshold", stack, **TILED)
    assert [int(p.max()) for p in tiled] == [int(p.max()) for p in whole] == [0, 0, 1]
    assert len(said_whole) == 1 and len(said_tiled) == 1
    assert str(said_tiled[0].message).endswith("(tiled run: no object in any tile of 2 of 3 planes: T=0, T=1; the "
                                               "figures are the first tile's)")


def test_constant_tiles_inside_an_empty_plane_do_not_make_a_second_warning():
    img = _background()
    img[60:200, 60:200] = 100  # tiles of one value (the tile function's constant-region path) among noisy ones
    tiled, said = _no_objects(run_pipeline, "threshold", img, **TILED)
    assert int(tiled.max()) == 0 and len(said) == 1 and str(said[0].message).endswith(TAIL)


@pytest.mark.parametrize("client", [None, "threads", "processes"])
def test_segment_tiled_with_the_whole_plane_threshold_warns_once(client):
    img = _background()
    fn = PipelineTileFunction("threshold", whole_plane_config(img, {}).to_dict())
    result, said = _no_objects(segment_tiled, img, fn, tile=64, overlap=16, client=client)
    assert result.n_objects == 0 and len(said) == 1 and str(said[0].message).endswith(TAIL)


def test_cli_says_it_once_tiled_and_untiled_and_refuses_a_blank_image_alike(tmp_path, capfd):
    from labelfree.cli import main

    tifffile.imwrite(tmp_path / "empty.tif", _background())
    tifffile.imwrite(tmp_path / "blank.tif", np.zeros((256, 256), np.uint16))
    for name, tile in (("whole", []), ("tiled", ["--tile", "64", "--tile-overlap", "16"])):
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # as outside pytest (its filters make LabelFree's warnings errors)
            assert main(["threshold", str(tmp_path / "empty.tif"), "-o", str(tmp_path / name), *tile]) == 0
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("labelfree: warning: No objects found")]
        assert len(lines) == 1, err  # tiled: was none
        assert main(["threshold", str(tmp_path / "blank.tif"), "-o", str(tmp_path / f"{name}_blank"), *tile]) != 0
        err = capfd.readouterr().err
        assert "labelfree: error: image is constant (every pixel is 0); there is nothing to segment." in err, err
