"""evaluate() pairs two DataArrays by their coordinates (frames T, field of view Y/X), as xarray does: the
ground truth's frames are selected from the prediction, and coordinates that do not overlap are refused;
NumPy arrays keep pairing by position."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree import to_dataarray
from labelfree.errors import DimensionError
from labelfree.metrics import aggregated_jaccard_index, evaluate, object_scores


def _movie_labels(n_frames=10, size=64):
    """A (T, Y, X) label movie whose frames differ: frame t holds one square at column 4 + 5 t."""
    labels = np.zeros((n_frames, size, size), np.uint16)
    for t in range(n_frames):
        labels[t, 10:20, 4 + 5 * t:14 + 5 * t] = 1
        labels[t, 40:50, 40:50] = 2
    return labels


def _pred_and_truth(frames=(5, 7, 9)):
    pred = to_dataarray(_movie_labels(), dims="TYX")  # T coordinates 0..9
    truth = pred.sel(T=list(frames))  # T coordinates 5, 7, 9, as read_ctc(...).seg_labels() gives
    return pred, truth


def test_prediction_frames_are_selected_at_the_truths_T():
    pred, truth = _pred_and_truth()
    expected = evaluate(np.asarray(pred)[[5, 7, 9]], np.asarray(truth))
    assert expected["f1"] == 1.0 and expected["tp"] == 6
    # the whole prediction (10 frames) against 3 annotated frames: refused before, now scored on those frames
    result = evaluate(pred, truth)
    assert result == expected
    assert result["n_frames"] == 3
    assert object_scores(pred, truth)["tp"] == 6
    assert aggregated_jaccard_index(pred, truth) == 1.0


def test_frames_that_do_not_overlap_are_refused_with_both_ranges():
    pred, truth = _pred_and_truth()
    # frames 0, 1, 2 against frames 5, 7, 9: scored against each other before (F1 0.5 here)
    assert evaluate(np.asarray(pred[:3]), np.asarray(truth))["f1"] == 0.5
    with pytest.raises(DimensionError) as info:
        evaluate(pred[:3], truth)
    text = str(info.value)
    assert "T coordinates (0 to 2: 3 values, step 1)" in text
    assert "the ground truth's (5 to 9: 3 values, step 2) do not overlap" in text
    assert "pred.sel(T=gt['T'])" in text and "np.asarray" in text


def test_frames_that_overlap_partly_are_refused():
    pred, truth = _pred_and_truth()
    with pytest.raises(DimensionError, match=r"overlap in 1 of the ground truth's 3 values only"):
        evaluate(pred[:6], truth)  # frames 0..5 hold frame 5 only


def test_a_shifted_crop_is_refused_and_a_wider_prediction_is_cropped():
    pred, truth = _pred_and_truth()
    pred = pred.sel(T=truth["T"])
    # the same shape, 20 rows apart: scored pixel against pixel before
    with pytest.raises(DimensionError) as info:
        evaluate(pred[:, 0:40], truth[:, 20:60])
    text = str(info.value)
    assert "Y coordinates (0 to 39: 40 values, step 1)" in text
    assert "(20 to 59: 40 values, step 1) overlap in 20 of the ground truth's 40 values only" in text
    assert "isel(Y=slice(start, stop))" in text
    # the whole prediction against a crop of the ground truth: scored on the crop
    assert evaluate(pred, truth[:, 20:60]) == evaluate(np.asarray(pred)[:, 20:60], np.asarray(truth)[:, 20:60])
    assert evaluate(pred[:, :, 30:], truth[:, :, 35:])["f1"] == 1.0


def test_other_pixel_sizes_are_refused():
    labels = _movie_labels(3)
    pred = to_dataarray(labels, dims="TYX", scale=0.5, units="µm")
    truth = to_dataarray(labels, dims="TYX", scale=0.65, units="µm")
    with pytest.raises(DimensionError, match=r"Y coordinates \(0 to 31\.5: 64 values, step 0\.5\) and the ground "
                                             r"truth's \(0 to 40\.95: 64 values, step 0\.65\) differ in spacing"):
        evaluate(pred, truth)


def test_positional_pairing_is_kept_where_coordinates_do_not_compare():
    labels = _movie_labels(3)
    truth = labels[::-1].copy()
    plain = evaluate(labels, truth)
    assert plain["f1"] < 1.0
    # NumPy against NumPy, NumPy beside a DataArray, DataArrays without coordinates, other units
    assert evaluate(to_dataarray(labels, dims="TYX"), truth) == plain
    assert evaluate(labels, to_dataarray(truth, dims="TYX")) == plain
    import xarray as xr

    assert evaluate(xr.DataArray(labels, dims=("T", "Y", "X")), xr.DataArray(truth, dims=("T", "Y", "X"))) == plain
    pred = to_dataarray(labels, dims="TYX", scale=0.5, units="µm")
    assert evaluate(pred, to_dataarray(truth, dims="TYX")) == plain  # µm against pixels: by position


def test_numpy_shape_error_says_what_to_do():
    labels = _movie_labels(10)
    with pytest.raises(DimensionError, match=r"differs from ground-truth shape \(3, 64, 64\)\. .*pred\.sel\(T=gt"):
        evaluate(labels, labels[:3])


def test_real_seg_frames_are_scored_at_their_T(shared_data):
    from labelfree.io import read_ctc

    ds = read_ctc(shared_data / "ctc" / "Fluo-C2DL-MSC", sequence="01", frames=range(10))
    truth = ds.seg_labels()[:, :256, :256]
    assert truth["T"].values.tolist() == [5.0, 7.0, 9.0]
    pred = truth.reindex(T=np.arange(10.0), fill_value=0)  # the annotated frames, and empty ones beside
    assert evaluate(pred, truth)["f1"] == 1.0
    with pytest.raises(DimensionError, match="do not overlap"):
        evaluate(pred[:3], truth)


def test_spacing_is_read_from_the_coordinates_not_a_stale_scale_attribute():
    """Labels of a subsampled image (``img[:, ::2, ::2]`` keeps the ``scale`` attribute of ``img``) against ground
    truth of that pixel size: the coordinates' spacing is the calibration, as ``labelfree.image.scale_of`` reads it
    (the stale attribute made the two look like other pixel sizes)."""
    labels = _movie_labels(3)
    fine = to_dataarray(np.repeat(np.repeat(labels, 2, axis=1), 2, axis=2), dims="TYX", scale=0.5, units="µm")
    pred = fine[:, ::2, ::2]  # coordinates 0, 1, 2, ...: step 1 µm, attribute still 0.5
    assert pred["Y"].attrs["scale"] == 0.5
    truth = to_dataarray(labels, dims="TYX", scale=1.0, units="µm")[:, 8:, 4:]
    expected = evaluate(np.asarray(pred)[:, 8:, 4:], np.asarray(truth))
    assert expected["f1"] == 1.0
    assert evaluate(pred, truth) == expected
