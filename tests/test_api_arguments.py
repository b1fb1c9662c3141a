"""The arguments a Python user gives besides the image: progress=, device=, markers= in the forms of scikit-image
and napari, run_batch of arrays, and a result's provenance as config=."""

from __future__ import annotations

import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest

import labelfree.motion
import labelfree.threshold
from labelfree import datasets
from labelfree._progress import Progress
from labelfree.errors import ConfigError, InputError
from labelfree.image import to_dataarray


def _spots() -> np.ndarray:
    img = np.full((40, 40), 100, np.uint16)
    img[5:15, 5:15] = 1000
    img[25:35, 20:38] = 900
    img[::7, ::5] += 3
    return img


def _stack() -> np.ndarray:
    """Three planes, so that threshold's progress has three steps."""
    return np.stack([_spots()] * 3)


# --- progress= ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 0, np.True_, np.False_, np.int64(1), np.uint8(0)])
def test_bool_likes_are_bools(value):
    """progress=1 / 0 raised AttributeError ('int' object has no attribute 'update') after the first plane's work;
    np.True_ was not True."""
    stack = to_dataarray(_stack(), dims="ZYX")
    expected = labelfree.threshold.segment(stack)
    with Progress(value, total=3, desc="x") as bar:
        assert (bar._sink is not None) == bool(value)  # a tqdm bar for the true ones, nothing for the false
        for _ in range(3):
            bar.update()
    labels = labelfree.threshold.segment(stack, progress=value)
    assert np.array_equal(labels.values, expected.values)


def test_a_tqdm_like_class_gives_a_bar_of_that_class():
    """progress=tqdm (the class) raised AttributeError inside tqdm; a class is now made into a bar, and closed."""
    from tqdm import tqdm

    made = []

    class Bar:
        def __init__(self, total=None, desc="", leave=True):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            made.append(self)

        def update(self, n=1):
            self.n += n

        def close(self):
            self.closed = True

    stack = to_dataarray(_stack(), dims="ZYX")
    labelfree.threshold.segment(stack, progress=Bar)
    assert len(made) == 1 and made[0].total == 3 and made[0].n == 3 and made[0].closed
    assert made[0].desc == "threshold"
    labels = labelfree.threshold.segment(stack, progress=tqdm)
    assert np.array_equal(labels.values, labelfree.threshold.segment(stack).values)


@pytest.mark.parametrize("value, kind", [("yes", "str"), (2, None), (3.5, "float"), ([1], "list")])
def test_other_values_are_refused_before_any_work(value, kind):
    """'yes' raised AttributeError from _progress.py after the first frame's work: now one InputError when the
    progress is made, saying what progress= takes."""
    with pytest.raises(InputError, match=r"progress=.* is not understood: progress= takes True or False \(or None\), "
                                         r"an object with an update\(n\) method .*f\(done, total, message\)"):
        Progress(value, total=3)
    with pytest.raises(InputError, match="progress= takes"):
        labelfree.threshold.segment(_spots(), progress=value)


def test_a_callable_of_the_wrong_arity_is_refused():
    """progress=lambda: None raised a TypeError about arguments from inside the run."""
    with pytest.raises(InputError, match=r"progress=<lambda> cannot be called as f\(done, total, message\): its "
                                         r"signature is <lambda>\(\)\..*lambda done, total, message"):
        Progress(lambda: None, total=2)

    def two(done, total):
        return None

    with pytest.raises(InputError, match=r"progress=two cannot be called .*two\(done, total\)"):
        labelfree.threshold.segment(_spots(), progress=two)
    seen = []
    stack = to_dataarray(_stack(), dims="ZYX")
    labelfree.threshold.segment(stack, progress=lambda *args: seen.append(args[:2]))  # *args takes three
    labelfree.threshold.segment(stack, progress=lambda d, t, m="": seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)] * 2


# --- device= ----------------------------------------------------------------------------------------------------------


def test_device_names_are_checked():
    """device='gpu' went to torch's module.to, which raised RuntimeError 'Expected one of cpu, cuda, ipu, ...'."""
    torch = pytest.importorskip("torch")
    from labelfree.cutter.model_io import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device(" CPU ") == "cpu"
    assert resolve_device(torch.device("cpu")) == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    for name, hint in (("gpu", "'cuda'"), ("GPU:1", "'cuda:1'")):
        with pytest.raises(ConfigError, match=rf"device='{name}' is not a device name: give 'cpu', 'auto' .*'cuda', "
                                              rf"'cuda:N' \(GPU number N\) or 'mps'\. For a GPU say {hint}\."):
            resolve_device(name)
    for name in ("xpu", "cuda:x", None, 0):
        with pytest.raises(ConfigError, match="is not a device name: give 'cpu', 'auto'"):
            resolve_device(name)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no CUDA GPU on this machine"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(ConfigError, match=rf"has {torch.cuda.device_count()} CUDA GPU\(s\)"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_a_wrong_device_is_said_before_a_model_file_is_read(tmp_path):
    pytest.importorskip("torch")
    from labelfree.cutter import load_model

    with pytest.raises(ConfigError, match="device='gpu' is not a device name"):
        load_model(tmp_path / "missing.pt", device="gpu")


def test_cutter_segment_with_device_gpu_is_a_config_error():
    pytest.importorskip("torch")
    from labelfree.cutter import segment

    image, _, centres = _cells()
    with pytest.raises(ConfigError, match="device='gpu' is not a device name.*For a GPU say 'cuda'"):
        segment(image, markers=centres, config=_CUTTER, device="gpu")


# --- markers= ---------------------------------------------------------------------------------------------------------

_CUTTER = {"width": 8, "crop_size": 32, "marker_sigma": 6.0, "n_steps": 2, "downscale": 1}


def _cells(n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 96 x 96 image of ``n`` bright disks, their labels and their (y, x) centres."""
    from skimage.draw import disk

    labels = np.zeros((96, 96), np.int32)
    centres = np.array([(24.0, 26.0), (26.0, 70.0), (70.0, 22.0), (72.0, 68.0)][:n])
    for k, (y, x) in enumerate(centres, 1):
        labels[disk((y, x), 12, shape=labels.shape)] = k
    rng = np.random.default_rng(0)
    image = (labels > 0) * 1.0 + rng.normal(0, 0.05, labels.shape)
    return image.astype(np.float32), labels, centres


def _prepared_markers(image, markers):
    from labelfree.cutter.segment import prepare

    prepared = prepare(image, markers=markers, config=_CUTTER)
    return [np.asarray(f.markers) for f in prepared.frames], [np.asarray(f.ids) for f in prepared.frames]


def test_a_dict_of_columns_is_a_table():
    """markers={"y": [...], "x": [...]} raised TypeError "float() argument must be ... not 'dict'" from
    cutter/prepare.py frame_markers."""
    image, _, centres = _cells()
    expected, _ = _prepared_markers(image, centres)
    for table in ({"y": centres[:, 0].tolist(), "x": centres[:, 1].tolist()},
                  {"x": centres[:, 1], "y": centres[:, 0]}):
        got, ids = _prepared_markers(image, table)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(ids[0], [1, 2, 3, 4])


def test_scikit_image_regionprops_table_is_read():
    """regionprops_table's centroid-0 / centroid-1 (as a dict or a DataFrame) were refused: 'needs columns named y
    and x'."""
    from skimage.measure import regionprops_table

    from labelfree.io.markers import points_from_table

    image, labels, centres = _cells()
    props = regionprops_table(labels, properties=("label", "centroid"))
    expected = np.c_[props["centroid-0"], props["centroid-1"]]
    np.testing.assert_allclose(expected, centres, atol=0.01)  # rows, columns = (y, x)
    for table in (props, pd.DataFrame(props)):
        np.testing.assert_array_equal(points_from_table(table, shape=labels.shape), expected)
        got, _ = _prepared_markers(image, table)
        np.testing.assert_array_equal(got[0], expected)


def test_napari_points_csv_is_read(tmp_path):
    """A napari points layer saved as CSV (index, axis-0, axis-1; axis-0 = t for a 3-D layer) was refused."""
    from labelfree.io import read_markers

    _, _, centres = _cells()
    path = tmp_path / "points.csv"
    pd.DataFrame({"index": range(4), "axis-0": centres[:, 0], "axis-1": centres[:, 1]}).to_csv(path, index=False)
    np.testing.assert_array_equal(read_markers(path, shape=(96, 96)), centres)
    path3 = tmp_path / "points3.csv"
    frames = np.array([0, 0, 1, 2])
    pd.DataFrame({"index": range(4), "axis-0": frames, "axis-1": centres[:, 0],
                  "axis-2": centres[:, 1]}).to_csv(path3, index=False)
    np.testing.assert_array_equal(read_markers(path3, shape=(3, 96, 96)), np.c_[frames, centres])
    with pytest.raises(InputError, match=r"row 5 is in frame 2 \(0-based\), but the image has 2 frame\(s\)"):
        read_markers(path3, shape=(2, 96, 96))
    # a 3-D napari layer of a single image: every point in frame 0
    pd.DataFrame({"axis-0": [0.0] * 4, "axis-1": centres[:, 0], "axis-2": centres[:, 1]}).to_csv(path3, index=False)
    np.testing.assert_array_equal(read_markers(path3, shape=(96, 96)), centres)


def test_a_movie_s_dict_of_t_y_x_is_split_by_frame_and_checked():
    image, _, centres = _cells()
    movie = to_dataarray(np.stack([image, image]), dims="TYX")
    table = {"t": [0, 0, 1, 1, 1], "y": [*centres[:2, 0], *centres[1:, 0]], "x": [*centres[:2, 1], *centres[1:, 1]]}
    got, ids = _prepared_markers(movie, table)
    np.testing.assert_array_equal(got[0], centres[:2])
    np.testing.assert_array_equal(got[1], centres[1:])
    assert [list(i) for i in ids] == [[1, 2], [1, 2, 3]]
    with pytest.raises(InputError, match=r"row 4 is in frame 5 \(0-based\), but the image has 2 frame\(s\) \(0-1\)"):
        _prepared_markers(movie, {**table, "t": [0, 0, 5, 1, 1]})
    with pytest.raises(InputError, match="columns of different lengths"):
        _prepared_markers(movie, {"y": [1, 2], "x": [3]})


def test_other_marker_types_are_refused_with_what_markers_take():
    from labelfree.cutter.markers import check_markers

    for value in ({"y": [1.0], "x": [2.0]}, object()):
        with pytest.raises(InputError, match=r"give an \(N, 2\) array or list of \(y, x\) pixel points .*dict of "
                                             r"columns: y and x, scikit-image's centroid-0 and centroid-1, napari's "
                                             r"axis-0 and axis-1\), a label image"):
            check_markers(value, shape=(96, 96))
    image, _, _ = _cells()
    with pytest.raises(InputError, match="Markers given as object are not numbers"):
        _prepared_markers(image, object())


def test_points_in_x_y_order_are_said_to_be_maybe_swapped():
    """The MarkerWarning for (x, y) points said only that markers lie on the background."""
    from skimage.draw import disk

    from labelfree.cutter.markers import check_markers
    from labelfree.cutter.prepare import MarkerWarning, _warn_if_nothing_marked, warn_markers_on_background

    mask = np.zeros((100, 100), bool)
    yx = np.array([(20.0, 60.0), (30.0, 80.0), (70.0, 70.0)])  # the cells' centres
    for centre in yx:
        mask[disk(centre, 8, shape=mask.shape)] = True
    xy = yx[:, ::-1]  # the first two on the background as (y, x); the third on its cell either way
    with pytest.warns(MarkerWarning, match=r"2 of 3 markers lie on the background of the foreground mask, so no cell "
                                           r"is cut there: \(y=60, x=20\), \(y=80, x=30\)\. "
                                           r"The markers may be in \(x, y\) order: read as \(x, y\) more of them lie "
                                           r"on cells\. Give them as \(y, x\) \(rows, columns\)"):
        warn_markers_on_background([types.SimpleNamespace(mask=mask, markers=xy)], stacked=False)
    with warnings.catch_warnings(record=True) as caught:  # (y, x) markers with one astray: no word of an order
        warnings.simplefilter("always")
        warn_markers_on_background([types.SimpleNamespace(mask=mask, markers=np.r_[yx, [[2.0, 2.0]]])],
                                   stacked=False)
    assert len(caught) == 1 and "1 of 4 markers" in str(caught[0].message)
    assert "(x, y) order" not in str(caught[0].message)
    with pytest.warns(MarkerWarning, match=r"no marker lies in the foreground mask \(all its 2 markers lie on the "
                                           r"background\).*The markers may be in \(x, y\) order"):
        _warn_if_nothing_marked(mask, xy[:2], None)
    with pytest.warns(MarkerWarning) as record:  # on the background either way round
        _warn_if_nothing_marked(mask, np.array([[2.0, 5.0]]), None)
    assert "(x, y) order" not in str(record[0].message)
    # an (x, y) point past the 60 rows of a wide image, inside read the other way round
    with pytest.raises(InputError, match=r"lie outside the 60 x 200 image.*They would all lie inside in \(x, y\) "
                                         r"order: the points may be \(x, y\); give them as \(y, x\)"):
        check_markers(np.array([[150.0, 20.0]]), shape=(60, 200))
    with pytest.raises(InputError, match=r"lie outside the 60 x 200 image.*scaling\.$"):  # outside either way
        check_markers(np.array([[150.0, 120.0]]), shape=(60, 200))


# --- run_batch of arrays --------------------------------------------------------------------------------------------


def test_run_batch_refuses_arrays_in_memory(tmp_path):
    """run_batch([m, m]) said 'No image files ... match the pattern' with the whole array printed as the pattern."""
    from labelfree.batch import BatchConfig, collect_inputs, run_batch

    movie, _ = datasets.synthetic_movie(n_frames=3, seed=0)
    arr = np.asarray(movie.values)
    for inputs, kind in (([arr, arr], r"numpy\.ndarray"), (movie, r"xarray\.DataArray"), (arr, r"numpy\.ndarray")):
        shape = " x ".join(map(str, arr.shape))
        with pytest.raises(InputError, match=rf"run_batch reads image files, but it was given an image in memory "
                                             rf"\({kind} of shape {shape}\)\. For images in memory call the "
                                             r"pipeline's segment\(\).*save them first"):
            collect_inputs(inputs)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="run_batch reads image files"):
        run_batch([arr], pipeline="motion", out_dir=out, batch=BatchConfig(n_workers=1, processes=False))
    assert not out.exists() or not any(out.iterdir())


# --- config= a result's provenance ----------------------------------------------------------------------------------


def test_a_result_s_provenance_is_a_config(tmp_path):
    """config=labels.attrs['labelfree'] was refused: 'Unknown ThresholdConfig option(s): auto, config, created, ...'
    while the same record saved as _provenance.json was accepted."""
    img = _spots()
    first = labelfree.threshold.segment(img, config={"min_size": 150, "method": "triangle"})
    record = first.attrs["labelfree"]
    again = labelfree.threshold.segment(img, config=record)
    assert np.array_equal(again.values, first.values)
    assert again.attrs["labelfree"]["config"] == record["config"]
    assert again.attrs["labelfree"]["config"]["min_size"] == 150
    path = tmp_path / "x_provenance.json"
    path.write_text(json.dumps(record))
    assert labelfree.threshold.ThresholdConfig.coerce(record) == labelfree.threshold.ThresholdConfig.coerce(path)
    movie, _ = datasets.synthetic_movie(n_frames=3, seed=0)
    with pytest.raises(ConfigError, match=r"The provenance record given as config= is the provenance of a threshold "
                                          r"run; its config holds threshold options, not MotionConfig ones\. Give the "
                                          r"provenance of a motion run, or a dict of MotionConfig options\."):
        labelfree.motion.segment(movie, config=record)
    with pytest.raises(ConfigError, match="Unknown ThresholdConfig option"):  # a plain dict is read as before
        labelfree.threshold.segment(img, config={"pipeline": "threshold", "min_sise": 3})


def test_a_dict_of_columns_is_read_as_its_dataframe_is():
    """A dict of columns goes the DataFrame's way (repeated points dropped, calibrated columns read alike)."""
    image, _, centres = _cells()
    rows = np.vstack([centres, centres[:1]])  # the first point twice
    table = {"y": rows[:, 0], "x": rows[:, 1]}
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        by_frame, by_dict = _prepared_markers(image, pd.DataFrame(table)), _prepared_markers(image, table)
    np.testing.assert_array_equal(by_dict[0][0], by_frame[0][0])
    np.testing.assert_array_equal(by_dict[1][0], by_frame[1][0])


def test_a_wrong_device_is_said_before_the_markers_are_prepared():
    pytest.importorskip("torch")
    from labelfree.cutter import fit, segment

    image, _, centres = _cells()
    for call in (segment, fit):
        with pytest.raises(ConfigError, match="device='gpu' is not a device name"):
            call(image, markers=np.full((1, 2), 500.0), config=_CUTTER, device="gpu")  # the point is outside


# --- tile= ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tile", ["big", "Auto", True])
def test_a_tile_that_is_neither_pixels_auto_nor_none_is_refused(tile):
    from labelfree.run import run_pipeline

    with pytest.raises(InputError, match=r"give a tile size in pixels \(an int\), 'auto' .* or None"):
        run_pipeline("threshold", _spots(), tile=tile)


def test_tile_auto_runs_a_plane_that_fits_whole_as_tile_none():
    from labelfree.run import run_pipeline

    auto = run_pipeline("threshold", _spots())
    assert "tiles" not in auto.attrs["labelfree"]
    np.testing.assert_array_equal(auto.values, run_pipeline("threshold", _spots(), tile=None).values)
