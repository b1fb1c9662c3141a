"""The Python API with the arrays a scientist has at hand: byte orders, xarray dims, float labels, stacks,
huge ids."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import xarray as xr

import labelfree.motion
import labelfree.threshold
from labelfree import metrics as M
from labelfree.errors import DimensionError, InputError
from labelfree.image import to_dataarray, validate_image
from labelfree.io import write_outputs
from labelfree.labels import declump, remove_small_objects, track_by_overlap
from labelfree.measure import measure_objects
from labelfree.run import run_pipeline


def _spots() -> np.ndarray:
    img = np.full((40, 40), 100, np.uint16)
    img[5:15, 5:15] = 1000
    img[25:35, 20:38] = 900
    img[::7, ::5] += 3
    return img


def test_a_big_endian_image_is_its_native_type():
    """A '>u2' array (FITS, some TIFF readers) was refused as 'pixel type >u2 ... convert it to uint16'."""
    img = _spots()
    big = img.astype(">u2")
    da = validate_image(big)
    assert da.dtype == np.uint16 and np.array_equal(da.values, img)
    labels = labelfree.threshold.segment(big)
    assert np.array_equal(labels.values, labelfree.threshold.segment(img).values)
    assert int(labels.max()) == 2
    assert big.dtype == np.dtype(">u2")  # the input is left as it was


def test_dataarray_dims_with_other_names_are_named_with_dims():
    """dims= was ignored for a DataArray, and ('time', 'y', 'x') was refused with 'must use each of T, C, Z, Y, X
    at most once; got ['TIME']'."""
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    raw = xr.DataArray(data, dims=("time", "row", "col"), coords={"col": [0.0, 0.5, 1.0, 1.5]}, attrs={"a": 1})
    with pytest.raises(DimensionError, match=r"dims \('time', 'row', 'col'\).*to_dataarray\(data, dims=\.\.\.\)"):
        to_dataarray(raw)
    da = to_dataarray(raw, dims="TYX")
    assert da.dims == ("T", "Y", "X") and np.array_equal(da.values, data)
    assert da.X.attrs["scale"] == 0.5 and list(da.X.values) == [0.0, 0.5, 1.0, 1.5] and da.attrs == {"a": 1}
    # dims are matched to names that say which axis they are (x is X): the X-first array is transposed, as
    # to_dataarray does without dims (they renamed it by position, calling its X axis Y)
    transposed = to_dataarray(xr.DataArray(data[0], dims=("X", "Y")), dims="YX")
    assert transposed.dims == ("Y", "X") and np.array_equal(transposed.values, data[0].T)


def test_array_errors_say_how_to_name_axes():
    wrap = r"no dims= parameter, wrap it with labelfree\.to_dataarray\(array, dims='TYX'\)"
    with pytest.raises(DimensionError, match=wrap):
        labelfree.threshold.segment(np.zeros((2, 8, 8)))
    with pytest.raises(DimensionError, match="is not an image: an image has Y and X axes"):
        to_dataarray(np.arange(5))
    with pytest.raises(InputError, match="scale of X must be a number"):
        to_dataarray(np.zeros((3, 3)), scale={"X": "0.5"})
    with pytest.raises(DimensionError, match="planes must all have one size"):
        to_dataarray([np.zeros((4, 4)), np.zeros((3, 4))], dims="TYX")


def _movie() -> np.ndarray:
    rng = np.random.default_rng(0)
    mov = rng.normal(100, 5, (6, 48, 48)).astype(np.float32)
    for k in range(6):
        mov[k, 8 + k:22 + k, 8:22] += 80
        mov[k, 30:44, 32 - k:46 - k] += 80
    return mov


def test_run_pipeline_takes_a_plain_movie_as_motion_does():
    """run_pipeline('motion', array) asked for dims=..., which run_pipeline has no parameter for."""
    mov = _movie()
    direct = labelfree.motion.segment(mov)
    run = run_pipeline("motion", mov)
    assert run.dims == ("T", "Y", "X") and np.array_equal(run.values, direct.values)
    assert int(run.max()) == 2
    assert np.array_equal(run_pipeline("motion", list(mov)).values, direct.values)


def test_whole_number_float_labels_are_measured_and_written(tmp_path):
    """Float labels (e.g. from a float TIFF or pandas) failed with TypeError in find_objects."""
    lab = np.zeros((10, 12))
    lab[2:5, 2:5] = 1
    lab[6:9, 6:11] = 7
    df = measure_objects(lab)
    assert df["label"].tolist() == [1, 7] and df["area"].tolist() == [9.0, 15.0]
    assert df["bbox_width"].tolist() == [3, 5]
    paths = write_outputs(tmp_path / "out", lab)
    assert np.array_equal(tifffile.imread(paths["labels"]), lab.astype(np.uint16))


def test_object_scores_of_a_stack_are_frame_by_frame():
    """object_scores & co. took a (T, Y, X) stack as one volume: a prediction with new ids per frame against
    tracked ground truth scored F1 0.5 where evaluate (and the module docstring) say frame by frame: 1.0."""
    gt = np.zeros((2, 12, 12), np.uint16)
    gt[:, 1:5, 1:5] = 1
    gt[:, 7:11, 7:11] = 2
    pred = gt.copy()
    pred[1][gt[1] == 1] = 3  # the same objects; frame 1 numbered anew
    pred[1][gt[1] == 2] = 4
    s = M.object_scores(pred, gt)
    assert (s["tp"], s["fp"], s["fn"], s["f1"]) == (4, 0, 0, 1.0)
    assert M.average_precision(pred, gt) == 1.0
    assert M.aggregated_jaccard_index(pred, gt) == 1.0
    assert M.seg_score(pred, gt) == 1.0
    r = M.evaluate(pred, gt)
    assert (r["tp"], r["f1"], r["aji"], r["seg"]) == (4, 1.0, 1.0, 1.0)
    vol = xr.DataArray(pred, dims=("Z", "Y", "X"))  # a ZYX DataArray stays one volume
    v = M.object_scores(vol, xr.DataArray(gt, dims=("Z", "Y", "X")))  # each half volume: IoU 0.5
    assert (v["tp"], v["fp"], v["fn"]) == (2, 2, 0)


def test_label_tools_take_huge_ids():
    """Tracker ids such as frame * 10**12 + cell: remove_small_objects and track_by_overlap asked for
    terabytes (MemoryError); declump's markers wrapped to 0 in 32 bits (all background)."""
    big = np.zeros((2, 6, 6), np.int64)
    big[:, 0:3, 0:3] = 10**12
    big[:, 4:6, 4] = 3 * 10**12
    kept = remove_small_objects(big[0], min_size=3)
    assert set(np.unique(kept)) == {0, 10**12} and kept.dtype == np.int64
    tracked = track_by_overlap(big)
    assert np.array_equal(tracked[0], tracked[1]) and set(np.unique(tracked)) == {0, 1, 2}
    mask = np.ones((5, 8), bool)
    markers = np.zeros((5, 8), np.int64)
    markers[2, 1] = 2**40
    markers[2, 6] = 2**41
    out = declump(mask, markers=markers)
    assert out[2, 0] == 1 and out[2, 7] == 2 and np.count_nonzero(out) == 40
    with pytest.raises(Exception, match="markers has negative values"):
        declump(mask, markers=-markers)


def test_float_labels_keep_ids_beyond_32_bits():
    """Whole-number float labels above 2**32 were cast to uint32: id 2**33 became 0 (background)."""
    from labelfree.labels import relabel_sequential

    assert relabel_sequential(np.array([[0.0, 2.0**33, 5.0]])).tolist() == [[0, 2, 1]]


def test_overlay_refuses_values_that_are_not_labels():
    """NaN, fractional or negative 'labels' gave a picture without outlines (or cut 0.5 to 0), without a word."""
    from labelfree.errors import DTypeError
    from labelfree.overlay import overlay_rgb

    lab = np.zeros((10, 10))
    lab[2:5, 2:5] = 1
    with pytest.raises(DTypeError, match="with fractions, NaN or inf"):
        overlay_rgb(None, np.where(lab > 0, np.nan, 0))
    with pytest.raises(DTypeError, match="with fractions, NaN or inf"):
        overlay_rgb(None, lab + 0.5)
    with pytest.raises(DTypeError, match="negative values"):
        overlay_rgb(None, -lab)
    rgb = overlay_rgb(None, lab)
    assert np.count_nonzero(rgb.any(axis=-1)) == 8  # the 3 x 3 object's outline: its 8 edge pixels


def test_dataarray_coords_keep_their_unit_and_take_a_given_origin():
    """to_dataarray(da, origin=...) was ignored for a DataArray with coords, and scale=... reset its unit
    (µm) to 'pixel'."""
    da = to_dataarray(np.zeros((3, 4)), scale=0.5, units="µm")
    moved = to_dataarray(da, origin=10.0)
    assert moved.X.values.tolist() == [10.0, 10.5, 11.0, 11.5] and moved.X.attrs == {"units": "µm", "scale": 0.5}
    finer = to_dataarray(da, scale={"X": 0.25})
    assert finer.X.values.tolist() == [0.0, 0.25, 0.5, 0.75] and finer.X.attrs == {"units": "µm", "scale": 0.25}


def test_labels_like_refuses_ids_beyond_32_bits():
    """Ids above 2**32 - 1 were cast to uint32: 2**32 + 5 became label 5, merging it with another object."""
    from labelfree.errors import DTypeError
    from labelfree.image import labels_like

    like = to_dataarray(np.zeros((2, 2)))
    with pytest.raises(DTypeError, match="does not fit the 32-bit label images"):
        labels_like(np.array([[0, 5], [2**32 + 5, 0]], np.int64), like)
    assert labels_like(np.array([[0, 5], [70000, 0]]), like).dtype == np.uint32


def test_a_masked_array_is_refused_not_unmasked():
    """The mask of a numpy masked array was dropped: its masked pixels were segmented with their values."""
    img = _spots()
    masked = np.ma.masked_array(img, img > 950)
    with pytest.raises(InputError, match=r"masked array with 100 masked pixel\(s\).*array\.filled\(value\)"):
        labelfree.threshold.segment(masked)
    assert np.array_equal(to_dataarray(np.ma.masked_array(img)).values, img)  # nothing masked: the array


def test_a_fractional_tile_size_is_refused():
    """tile=16.7 was cut to 16 without a word (and recorded as 16)."""
    img = np.zeros((64, 64))
    img[10:30, 10:30] = 1.0
    with pytest.raises(InputError, match=r"both whole numbers; got 16\.7 and 128"):
        run_pipeline("threshold", img, tile=16.7)
    with pytest.raises(InputError, match=r"both whole numbers; got 32 and 8\.5"):
        run_pipeline("threshold", img, tile=32, tile_overlap=8.5)
    labels = run_pipeline("threshold", img, tile=32.0, tile_overlap=8)
    assert int(labels.max()) == 1 and labels.attrs["labelfree"]["tiles"]["tile"] == 32


def test_write_table_says_why_a_mapping_is_no_table(tmp_path):
    """A dict of columns of different lengths was refused as 'must be ... a mapping of columns; got dict'."""
    from labelfree.io.tables import write_table

    with pytest.raises(InputError, match=r"columns of one length; got a dict .*All arrays must be of the same length"):
        write_table(tmp_path / "t.csv", {"a": [1, 2], "b": [1]})
    assert not (tmp_path / "t.csv").exists()
    write_table(tmp_path / "t.csv", {"a": [1, 2], "b": [0.5, 3]})
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,0.5\n2,3\n"


def test_a_path_instead_of_an_image_says_to_read_it():
    """run_pipeline('threshold', 'movie.tif') answered 'A 0-D array needs dims=...'."""
    with pytest.raises(InputError, match=r"Got the path 'movie\.tif', not an image: read it first with "
                                         r"labelfree\.io\.read_image\(path\)"):
        run_pipeline("threshold", "movie.tif")
    with pytest.raises(InputError, match=r"got str \(a file: read it first with labelfree\.io\.read_image"):
        labelfree.threshold.segment("movie.tif")


def test_track_by_overlap_never_links_objects_that_do_not_overlap():
    """With min_iou=0 a new cell took the id of a cell that had vanished elsewhere in the frame (IoU 0 >= 0)."""
    a = np.zeros((2, 10, 20), np.uint16)
    a[0, 1:4, 1:4] = 1
    a[0, 1:4, 15:18] = 2
    a[1, 1:4, 2:5] = 1  # the first cell, moved by one pixel
    a[1, 7:9, 8:10] = 2  # a new cell, far from the second one
    tracked = track_by_overlap(a, min_iou=0)
    assert tracked[1, 2, 3] == 1 and tracked[1, 8, 8] == 3
    with pytest.raises(InputError, match=r"min_iou is an IoU from 0 to 1 .*got 1\.5"):
        track_by_overlap(a, min_iou=1.5)


def test_overlay_png_stores_numbers_as_text(tmp_path):
    """overlay_png(..., text={'threshold': 0.5}) failed with AttributeError: 'float' object has no attribute
    'encode'."""
    from PIL import Image

    from labelfree.overlay import overlay_png

    lab = np.zeros((10, 10), np.uint16)
    lab[2:5, 2:5] = 1
    path = overlay_png(lab, lab, tmp_path / "o.png", text={"threshold": 0.5, "objects": 1})
    assert Image.open(path).text == {"threshold": "0.5", "objects": "1"}


def test_a_number_given_as_units_is_refused():
    """to_dataarray(array, units=0.65) (meant: scale) kept the scale 1 and named the unit 0.65, without a word."""
    with pytest.raises(InputError, match=r"units of Z must be a name such as 'µm' or 's'; got 0\.65 .*scale="):
        to_dataarray(np.zeros((3, 3)), units=0.65)
    with pytest.raises(InputError, match=r"scale of X must be a number"):
        to_dataarray(np.zeros((3, 3)), scale={"X": "0.5"})
    assert to_dataarray(np.zeros((3, 3)), units="µm", scale=0.65).X.attrs == {"units": "µm", "scale": 0.65}
