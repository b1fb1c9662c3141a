"""Tests of the synthetic movie generator and the real-data loaders."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree import datasets
from labelfree.errors import InputError


def _centroids(truth2d: np.ndarray, n: int) -> np.ndarray:
    return np.array(ndi.center_of_mass(truth2d > 0, truth2d, range(1, n + 1)))


def test_synthetic_movie_shapes_ids_and_determinism():
    movie, truth = datasets.synthetic_movie(n_frames=5, shape=(96, 120), n_cells=4, seed=3)
    assert movie.dims == truth.dims == ("T", "Y", "X")
    assert movie.shape == truth.shape == (5, 96, 120)
    assert movie.dtype == np.uint8 and truth.dtype == np.uint16
    for t in range(5):  # every cell keeps its ID in every frame
        assert set(np.unique(truth[t].values)) == {0, 1, 2, 3, 4}
    again, truth2 = datasets.synthetic_movie(n_frames=5, shape=(96, 120), n_cells=4, seed=3)
    np.testing.assert_array_equal(movie.values, again.values)
    np.testing.assert_array_equal(truth.values, truth2.values)
    other, _ = datasets.synthetic_movie(n_frames=5, shape=(96, 120), n_cells=4, seed=4)
    assert not np.array_equal(movie.values, other.values)


def test_cells_move_a_few_pixels_and_deform():
    _, truth = datasets.synthetic_movie(n_frames=6, n_cells=5, speed=2.5, n_debris=0, seed=1)
    lab = truth.values
    steps = np.linalg.norm(_centroids(lab[1], 5) - _centroids(lab[0], 5), axis=1)
    assert np.all(steps > 0.8) and np.all(steps < 6.0)
    area0 = np.bincount(lab[0].ravel(), minlength=6)[1:]
    area5 = np.bincount(lab[5].ravel(), minlength=6)[1:]
    # radius ~12 px -> area ~450 px; shapes change between frames
    assert np.all((area0 > 250) & (area0 < 800))
    assert np.any(area0 != area5)


def test_debris_is_static_bright_and_not_in_truth():
    movie, truth = datasets.synthetic_movie(n_frames=3, n_cells=2, n_debris=5, noise=0.0, seed=2)
    m, lab = movie.values.astype(float), truth.values
    bright_bg = (m[0] > 150) & (lab[0] == 0)  # debris is 0.75 of range, cells ~0.45
    n_specks = ndi.label(bright_bg)[1]
    assert 3 <= n_specks <= 5
    np.testing.assert_array_equal(m[0][bright_bg], m[2][bright_bg])  # it does not move


def test_fluorescence_and_phase_contrast_polarity():
    fl, tf = datasets.synthetic_movie(n_frames=2, noise=0.0, n_debris=0, seed=5)
    ph, tp = datasets.synthetic_movie(n_frames=2, noise=0.0, n_debris=0, appearance="phase", seed=5)
    cell, bg = tf[0].values > 0, tf[0].values == 0
    assert fl[0].values[cell].mean() > 3 * fl[0].values[bg].mean()
    assert ph[0].values[cell].mean() < ph[0].values[bg].mean()


def test_uint16_and_touching_cells():
    movie, truth = datasets.synthetic_movie(n_frames=2, n_cells=4, touching=True, dtype="uint16", seed=0)
    assert movie.dtype == np.uint16 and movie.values.max() <= 4095 and movie.values.max() > 1000
    fg = truth[0].values > 0
    assert ndi.label(fg)[1] < 4  # pairs are in contact


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(appearance="dic"), "appearance"),
        (dict(n_frames=0), "n_frames"),
        (dict(dtype="float32"), "dtype"),
        (dict(shape=(20, 20)), "too small"),
    ],
)
def test_synthetic_movie_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        datasets.synthetic_movie(**kwargs)


def _touching(truth: np.ndarray) -> set[int]:
    """Labels that share a border with another cell."""
    out: set[int] = set()
    for a, b in ((truth[1:], truth[:-1]), (truth[:, 1:], truth[:, :-1])):
        meet = (a != b) & (a > 0) & (b > 0)
        out |= set(a[meet].tolist()) | set(b[meet].tolist())
    return out


def test_cells_and_nuclei_touch_hold_their_nucleus_and_are_deterministic():
    image, truth = datasets.synthetic_cells_and_nuclei(seed=3)
    lab = truth.values
    assert image.dims == ("C", "Y", "X") and image.shape == (2, 256, 256) and image.dtype == np.uint16
    assert list(image.coords["C"].values) == ["cells", "nuclei"] and truth.dtype == np.uint16
    n = int(lab.max())
    assert n >= 30 and set(np.unique(lab)) == set(range(n + 1))  # each cell is one connected part
    assert all(ndi.label(lab == i)[1] == 1 for i in range(1, n + 1))
    assert len(_touching(lab)) >= 0.7 * n  # a dense culture: most cells touch a neighbour
    cells, nuclei = (image.values[c].astype(float) for c in range(2))
    bright = nuclei > 0.5 * np.percentile(nuclei, 99.5)
    inside = ndi.label(bright)[0]
    # each bright nucleus blob lies in one cell, and every cell has one
    owners = {i: set(np.unique(lab[inside == i])) - {0} for i in range(1, inside.max() + 1)}
    big = [k for k, v in owners.items() if np.count_nonzero(inside == k) > 50]
    assert all(len(owners[k]) == 1 for k in big) and {next(iter(owners[k])) for k in big} == set(range(1, n + 1))
    assert cells[lab > 0].mean() > 3 * cells[lab == 0].mean()  # cells over background
    again, truth2 = datasets.synthetic_cells_and_nuclei(seed=3)
    np.testing.assert_array_equal(image.values, again.values)
    np.testing.assert_array_equal(lab, truth2.values)


def test_expression_channels_show_each_cell_at_its_own_level():
    image, truth = datasets.synthetic_expression_channels((128, 128), n_cells=12, cell_radius=10, seed=1)
    lab = truth.values
    assert image.dims == ("C", "Y", "X") and image.sizes["C"] == 3 and list(image.coords["C"].values) == [
        "label1", "label2", "label3"]
    ids = np.arange(1, lab.max() + 1)
    means = np.array([ndi.mean(image.values[c].astype(float), lab, ids) for c in range(3)])
    # per-cell levels differ between channels: their rank orders disagree
    ranks = np.argsort(np.argsort(means, axis=1), axis=1)
    assert not np.array_equal(ranks[0], ranks[1]) and not np.array_equal(ranks[1], ranks[2])
    with pytest.raises(InputError, match="positive photon counts"):
        datasets.synthetic_expression_channels(photons=(0.0,))


def test_crop_keeps_coords():
    movie, _ = datasets.synthetic_movie(n_frames=2, seed=0)
    part = datasets.crop(movie, y=(10, 40), x=(20, 70))
    assert part.shape == (2, 30, 50)
    assert float(part.X[0]) == float(movie.X[20])
    np.testing.assert_array_equal(part.values, movie.values[:, 10:40, 20:70])


def test_load_timelapse_c2c12(shared_data):
    movie, labels = datasets.load_timelapse("c2c12", root=shared_data)
    assert movie.shape == labels.shape == (10, 234, 234)
    assert labels.values.max() > 5


def test_load_ctc_msc(msc_dir, shared_data):
    data = datasets.load_ctc("Fluo-C2DL-MSC", "01", root=shared_data)
    assert data.movie.shape == (48, 832, 992)
    assert len(data.seg) == 18


def test_loaders_bad_names(tmp_path):
    with pytest.raises(InputError, match="Unknown time-lapse"):
        datasets.load_timelapse("nope", root=tmp_path)
    with pytest.raises(InputError, match="not found"):
        datasets.load_ctc("Fluo-C2DL-MSC", root=tmp_path / "missing")


def test_doctests_of_the_generators():
    import doctest

    result = doctest.testmod(datasets)
    assert result.attempted >= 4 and result.failed == 0
