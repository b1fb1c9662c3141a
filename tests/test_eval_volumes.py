"""``labelfree eval`` scores label files that record a Z axis (ImageJ hyperstack, OME-TIFF) as volumes of 3-D
objects, one volume per time point; a plain 3-D TIFF (no axes recorded) stays a stack of 2-D frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import xarray as xr

from labelfree.cli import main
from labelfree.io import write_labels


def _zstack() -> tuple[np.ndarray, np.ndarray]:
    """Ground truth: 3 objects over 5 planes (a 4x4 box in planes 0-3, a 3x3 box in 1-4, a 2x2 box in 2-3);
    the prediction lacks the first box's plane 0 (IoU 48/64 = 0.75 in 3-D) and has the others exactly."""
    gt = np.zeros((5, 16, 16), np.uint16)
    gt[0:4, 1:5, 1:5] = 1
    gt[1:5, 8:11, 8:11] = 2
    gt[2:4, 12:14, 2:4] = 3
    pred = gt.copy()
    pred[0] = 0
    return pred, gt


#: CTC SEG of the 3-D objects: the first box 48/64, the others 1
VOLUME_SEG = (0.75 + 1 + 1) / 3
#: object-planes of the ground truth (4 + 4 + 2), as per-plane scoring counts them
PLANE_OBJECTS = 10


def _eval_json(capsys, *args: str) -> dict:
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_zyx_hyperstack_is_scored_as_one_volume(tmp_path, capsys):
    pred, gt = _zstack()
    write_labels(tmp_path / "x_labels.tif", xr.DataArray(pred, dims=("Z", "Y", "X")))
    write_labels(tmp_path / "gt.tif", xr.DataArray(gt, dims=("Z", "Y", "X")))

    r = _eval_json(capsys, str(tmp_path / "x_labels.tif"), str(tmp_path / "gt.tif"))
    assert (r["tp"], r["fp"], r["fn"], r["n_frames"]) == (3, 0, 0, 1)
    assert (r["scored_as"], r["z_planes"]) == ("volumes", 5)
    assert r["seg"] == pytest.approx(VOLUME_SEG) and r["mean_iou"] == pytest.approx(VOLUME_SEG)

    # the stack against itself: TP is the object count, not the object-planes
    assert main(["eval", str(tmp_path / "gt.tif"), str(tmp_path / "gt.tif")]) == 0
    text = capsys.readouterr().out
    assert "TP / FP / FN             3 /   0 /   0" in text
    assert "(IoU threshold 0.5, 1 volume(s) of 5 planes (objects in 3-D))" in text


def test_an_ome_tiff_ground_truth_gives_its_axes_to_a_plain_prediction(tmp_path, capsys):
    pred, gt = _zstack()
    tifffile.imwrite(tmp_path / "gt.ome.tif", gt, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "pred.tif", pred, photometric="minisblack")  # no axes recorded
    r = _eval_json(capsys, str(tmp_path / "pred.tif"), str(tmp_path / "gt.ome.tif"))
    assert (r["tp"], r["fn"], r["n_frames"]) == (3, 0, 1)
    assert r["seg"] == pytest.approx(VOLUME_SEG)
    assert r["scored_as"] == "volumes"


def test_a_tzyx_hyperstack_is_scored_volume_by_volume(tmp_path, capsys):
    pred, gt = _zstack()
    write_labels(tmp_path / "p.tif", xr.DataArray(np.stack([pred, gt]), dims=("T", "Z", "Y", "X")))
    write_labels(tmp_path / "g.tif", xr.DataArray(np.stack([gt, gt]), dims=("T", "Z", "Y", "X")))
    r = _eval_json(capsys, str(tmp_path / "p.tif"), str(tmp_path / "g.tif"))
    assert (r["tp"], r["fp"], r["fn"], r["n_frames"]) == (6, 0, 0, 2)
    assert r["seg"] == pytest.approx((VOLUME_SEG * 3 + 3) / 6)
    assert main(["eval", str(tmp_path / "p.tif"), str(tmp_path / "g.tif")]) == 0
    assert "2 volume(s) of 5 planes (objects in 3-D)" in capsys.readouterr().out

    # one time point of a TZYX stack: read without its T axis of one, still a volume (not 5 frames)
    write_labels(tmp_path / "p1.tif", xr.DataArray(pred[None], dims=("T", "Z", "Y", "X")))
    write_labels(tmp_path / "g1.tif", xr.DataArray(gt[None], dims=("T", "Z", "Y", "X")))
    r = _eval_json(capsys, str(tmp_path / "p1.tif"), str(tmp_path / "g1.tif"))
    assert (r["tp"], r["fn"], r["n_frames"]) == (3, 0, 1)
    assert (r["scored_as"], r["z_planes"]) == ("volumes", 5)


def test_a_plain_3d_tiff_stays_a_stack_of_frames(tmp_path, capsys):
    pred, gt = _zstack()
    tifffile.imwrite(tmp_path / "p.tif", pred, photometric="minisblack")
    tifffile.imwrite(tmp_path / "g.tif", gt, photometric="minisblack")
    r = _eval_json(capsys, str(tmp_path / "p.tif"), str(tmp_path / "g.tif"))
    # per plane: the first box's plane 0 is missed, the other 9 object-planes match
    assert (r["tp"], r["fn"], r["n_frames"]) == (PLANE_OBJECTS - 1, 1, 5)
    assert main(["eval", str(tmp_path / "g.tif"), str(tmp_path / "g.tif")]) == 0
    text = capsys.readouterr().out
    assert f"TP / FP / FN            {PLANE_OBJECTS} /   0 /   0" in text
    assert "(IoU threshold 0.5, 5 frame(s))" in text
    assert "scored_as" not in _eval_json(capsys, str(tmp_path / "p.tif"), str(tmp_path / "g.tif"))


def test_files_recording_z_and_t_for_the_same_axis_are_refused(tmp_path, capsys):
    pred, gt = _zstack()
    write_labels(tmp_path / "p.tif", xr.DataArray(pred, dims=("T", "Y", "X")))
    write_labels(tmp_path / "g.tif", xr.DataArray(gt, dims=("Z", "Y", "X")))
    assert main(["eval", str(tmp_path / "p.tif"), str(tmp_path / "g.tif")]) != 0
    err = capsys.readouterr().err
    assert ("The prediction and the ground truth record different axes: p.tif has axes T=5, Y=16, X=16, but g.tif "
            "has axes Z=5, Y=16, X=16.") in err
    assert "Image > Properties" in err


def test_folder_eval_scores_z_stacks_as_volumes(tmp_path, capsys):
    pred, gt = _zstack()
    res, truth = tmp_path / "res", tmp_path / "truth"
    res.mkdir()
    truth.mkdir()
    write_labels(res / "stack_labels.tif", xr.DataArray(pred, dims=("Z", "Y", "X")))
    write_labels(truth / "stack_masks.tif", xr.DataArray(gt, dims=("Z", "Y", "X")))
    write_labels(res / "flat_labels.tif", xr.DataArray(gt[2], dims=("Y", "X")))
    write_labels(truth / "flat_masks.tif", xr.DataArray(gt[2], dims=("Y", "X")))

    out = _eval_json(capsys, str(res), str(truth))
    rows = {r["image"]: r for r in out["images"]}
    assert (rows["stack"]["tp"], rows["stack"]["fn"], rows["stack"]["n_frames"]) == (3, 0, 1)
    assert (rows["flat"]["tp"], out["total"]["tp"], out["total"]["fn"]) == (3, 6, 0)
    assert rows["stack"]["scored_as"] == "volumes" and "scored_as" not in rows["flat"]

    assert main(["eval", str(res), str(truth)]) == 0
    assert "total of the 2 scored image(s), 1 frame(s) and 1 volume(s) (objects in 3-D)" in capsys.readouterr().out
