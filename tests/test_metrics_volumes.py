"""Scoring 3-D (Z, Y, X) label images as volumes, and refusing values that are not labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import xarray as xr

from labelfree.cli import main
from labelfree.errors import DimensionError, InputError
from labelfree.metrics import evaluate


def _volumes() -> tuple[np.ndarray, np.ndarray]:
    """Ground truth: a 4x4x3 box (48 voxels) and a 2x2x2 cube (8 voxels); the prediction misses the box's
    first slice (32 of its 48 voxels) and has the cube exactly."""
    gt = np.zeros((3, 10, 10), np.uint16)
    gt[:, 2:6, 2:6] = 1
    gt[1:, 7:9, 7:9] = 2
    pred = gt.copy()
    pred[0] = 0
    return pred, gt


#: CTC SEG of the volumes: mean of the box's 32/48 and the cube's 1
VOLUME_SEG = (32 / 48 + 1) / 2


def test_a_zyx_dataarray_is_one_volume_of_3d_objects():
    pred, gt = _volumes()
    r = evaluate(xr.DataArray(pred, dims=("Z", "Y", "X")), xr.DataArray(gt, dims=("Z", "Y", "X")))
    assert r["seg"] == pytest.approx(VOLUME_SEG)
    assert (r["tp"], r["fp"], r["fn"], r["n_frames"]) == (2, 0, 0, 1)
    assert r["mean_iou"] == pytest.approx(VOLUME_SEG)
    # axes in another order, or a plain array beside the DataArray, score the same
    yxz = xr.DataArray(pred.transpose(1, 2, 0), dims=("Y", "X", "Z"))
    assert evaluate(yxz, xr.DataArray(gt, dims=("Z", "Y", "X")))["seg"] == pytest.approx(VOLUME_SEG)
    assert evaluate(xr.DataArray(pred, dims=("Z", "Y", "X")), gt)["seg"] == pytest.approx(VOLUME_SEG)


def test_a_plain_3d_array_stays_a_stack_of_2d_frames():
    pred, gt = _volumes()
    r = evaluate(pred, gt)  # 5 objects in 3 frames: the box's slice 0 is missed
    assert (r["tp"], r["fn"], r["n_frames"]) == (4, 1, 3)
    assert r["seg"] == pytest.approx(4 / 5)


def test_a_tzyx_stack_is_scored_volume_by_volume():
    pred, gt = _volumes()
    r = evaluate(np.stack([pred, gt]), np.stack([gt, gt]))
    assert (r["tp"], r["fp"], r["fn"], r["n_frames"]) == (4, 0, 0, 2)
    assert r["seg"] == pytest.approx((VOLUME_SEG * 2 + 2) / 4)
    with pytest.raises(DimensionError, match=r"\(T, Z, Y, X\)"):
        evaluate(np.zeros((1, 1, 1, 2, 2), np.uint8), np.zeros((1, 1, 1, 2, 2), np.uint8))
    with pytest.raises(DimensionError, match="differ"):
        evaluate(xr.DataArray(pred, dims=("Z", "Y", "X")), xr.DataArray(gt, dims=("T", "Y", "X")))


@pytest.mark.parametrize("bad", [np.array([[-1, 0], [1, 1]], np.int16), np.full((2, 2), 2**63 + 5, np.uint64)])
def test_values_that_are_not_labels_are_one_clear_error(bad):
    ok = np.array([[1, 0], [1, 1]], np.uint8)
    with pytest.raises(InputError, match="prediction holds label values from .* Relabel it first"):
        evaluate(bad, ok)
    with pytest.raises(InputError, match="ground truth holds label values"):
        evaluate(ok, bad)


def test_cli_scores_3d_ctc_ground_truth_as_volumes(tmp_path, capsys):
    pred, gt = _volumes()
    seg = tmp_path / "01_GT" / "SEG"
    seg.mkdir(parents=True)
    tifffile.imwrite(seg / "man_seg000.tif", gt, photometric="minisblack")
    tifffile.imwrite(seg / "man_seg001.tif", gt, photometric="minisblack")
    tifffile.imwrite(tmp_path / "movie.tif", np.stack([pred, gt]), photometric="minisblack")  # (T, Z, Y, X)
    tifffile.imwrite(tmp_path / "one.tif", pred, photometric="minisblack")  # (Z, Y, X)

    assert main(["eval", str(tmp_path / "movie.tif"), str(seg), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["tp"], r["fn"], r["n_frames"], r["frames"]) == (4, 0, 2, [0, 1])
    assert r["seg"] == pytest.approx((VOLUME_SEG * 2 + 2) / 4)

    # one man_segNNN.tif of 3-D data is a volume too
    assert main(["eval", str(tmp_path / "one.tif"), str(seg / "man_seg000.tif"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["tp"], r["fn"], r["n_frames"]) == (2, 0, 1)
    assert r["seg"] == pytest.approx(VOLUME_SEG)
