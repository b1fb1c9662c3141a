"""The errors and Log warnings of the "LabelFree ..." commands name the image by its title, as ImageJ names it
(not by a Python name: "image", "movie", "The movie", "Cutter input"), and Stitch's tiles counted from 1, as the
stack's planes and the positions table count them."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import NonFiniteError
from labelfree.image import to_dataarray

CENTRES = [(25, 25), (25, 70), (70, 25), (70, 70)]


def _cells(seed: int = 0) -> np.ndarray:
    """A 96 x 96 float32 image: four bright disks on a dark, noisy background."""
    img = np.random.default_rng(seed).normal(10, 2, (96, 96)).clip(0)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in CENTRES:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 10**2] += 100
    return img.astype(np.float32)


def _imageplus(image: np.ndarray, title: str, dims: str = "YX"):
    import labelfree.imagej as lij

    return lij.xarray_to_imageplus(to_dataarray(image, dims=dims), title=title)


# --- the naming alone (no Java) ---------------------------------------------------------------------------------


def test_the_input_is_named_by_the_title_and_a_tile_counted_from_1():
    from labelfree.imagej.commands import name_the_input

    assert name_the_input("image holds no value: all its 4 pixels are NaN/inf", "tnan") == \
        "tnan holds no value: all its 4 pixels are NaN/inf"
    assert name_the_input("The movie contains 3 NaN/inf pixel(s): read as missing data", "m.tif") == \
        "m.tif contains 3 NaN/inf pixel(s): read as missing data"
    assert name_the_input("Cutter input contains 15360 NaN/inf pixel(s)", "a b") == \
        "a b contains 15360 NaN/inf pixel(s)"
    assert name_the_input("tile 0 contains 25 NaN/inf pixel(s)", "tiles") == \
        "tile 1 (plane 1 of tiles) contains 25 NaN/inf pixel(s)"
    # other messages, and a name inside a message, are left as they are
    assert name_the_input("No objects found; the image holds 3", "t") == "No objects found; the image holds 3"
    assert name_the_input("images holds", "t") == "images holds"
    assert name_the_input("image holds no value", "") == "image holds no value"


# --- real ImageJ 1.x commands on ImagePlus objects ---------------------------------------------------------------


@pytest.mark.jvm
def test_threshold_on_an_all_nan_image_names_it_by_its_title(clean):
    import labelfree.imagej as lij

    imp = _imageplus(np.full((40, 40), np.nan, np.float32), "tnan")
    with pytest.raises(NonFiniteError) as err:
        lij.run_command("threshold", imp, options="rois=none table=false")
    assert str(err.value).startswith("tnan holds no value: all its 1600 pixels are NaN/inf"), err.value


@pytest.mark.jvm
def test_drift_on_a_nan_movie_names_it_by_its_title_and_counts_frames_from_1(clean):
    import labelfree.imagej as lij

    movie = np.stack([_cells(seed)[:64, :64] for seed in range(3)])
    movie[1, :10, :10] = np.nan
    imp = _imageplus(movie, "tnan", dims="TYX")
    with pytest.raises(NonFiniteError) as err:
        lij.run_command("drift", imp, options="table=false backend=python")
    said = str(err.value)
    assert said.startswith("tnan contains 100 NaN/inf pixel(s) in frame 2 (the stack's frames, counted from 1)"), said
    assert "movie contains" not in said


@pytest.mark.jvm
def test_stitch_names_a_nan_tile_counted_from_1_with_the_stacks_title(clean):
    import labelfree.imagej as lij

    tiles = np.stack([_cells(0)[:, :60], _cells(0)[:, 36:]])
    tiles[1, :5, :5] = np.nan
    imp = _imageplus(tiles, "tnan", dims="ZYX")
    with pytest.raises(NonFiniteError) as err:
        lij.run_command("stitch", imp, options="rows=1 cols=2 table=false backend=python")
    said = str(err.value)
    assert said.startswith("tile 2 (plane 2 of tnan) contains 25 NaN/inf pixel(s)"), said


@pytest.mark.jvm
def test_cutters_log_warning_names_the_image_by_its_title(clean):
    from scyjava import jimport

    import labelfree.imagej as lij

    img = _cells()
    img[:5, :5] = np.nan
    imp = _imageplus(img, "tnan")
    with pytest.warns(Warning):
        lij.run_command("cutter", imp, options="n_steps=5 crop_size=32 area_size=96 rois=none table=false")
    logged = str(jimport("ij.IJ").getLog())
    assert "LabelFree Cutter warning: tnan contains 25 NaN/inf pixel(s): read as missing data" in logged, logged
    assert "Cutter input contains" not in logged


@pytest.mark.jvm
def test_motion_on_a_movie_without_values_names_it_by_its_title(clean):
    import labelfree.imagej as lij

    imp = _imageplus(np.full((3, 40, 40), np.nan, np.float32), "tnan", dims="TYX")
    with pytest.raises(NonFiniteError) as err:
        lij.run_command("motion", imp, options="rois=none table=false")
    said = str(err.value)
    assert said.startswith("tnan holds no value: all its 4800 pixels are NaN/inf"), said
