import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree import metrics as M
from labelfree.errors import DimensionError, DTypeError


def two_squares():
    gt = np.zeros((10, 10), np.uint16)
    gt[1:5, 1:5] = 1  # 16 px
    gt[6:9, 6:9] = 2  # 9 px
    return gt


def test_pixel_scores_hand_computed():
    gt = two_squares()
    pred = gt.copy()
    pred[1:5, 1:3] = 0  # lose 8 px of object 1
    pred[0, 0] = 7  # one false positive pixel
    s = M.pixel_scores(pred, gt)
    # tp = 17, fp = 1, fn = 8
    assert s["precision"] == pytest.approx(17 / 18)
    assert s["recall"] == pytest.approx(17 / 25)
    assert s["f1"] == pytest.approx(34 / (34 + 9))
    assert s["jaccard"] == pytest.approx(17 / 26)


def test_iou_matrix_and_matching_hand_computed():
    gt = two_squares()
    pred = np.zeros_like(gt)
    pred[1:5, 1:3] = 5  # IoU with gt1 = 8/16
    pred[6:9, 6:10] = 3  # IoU with gt2 = 9/12
    iou, gid, pid = M.iou_matrix(pred, gt)
    assert gid.tolist() == [1, 2] and pid.tolist() == [3, 5]
    np.testing.assert_allclose(iou, [[0, 0.5], [0.75, 0]])
    assert M.match_objects(pred, gt) == [(1, 5, 0.5), (2, 3, 0.75)]
    assert M.match_objects(pred, gt, threshold=0.6) == [(2, 3, 0.75)]


def test_object_scores_ap_aji_seg_hand_computed():
    gt = two_squares()
    pred = np.zeros_like(gt)
    pred[1:5, 1:3] = 5
    pred[6:9, 6:10] = 3
    pred[0, 8:10] = 9  # unmatched prediction
    s = M.object_scores(pred, gt)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 0)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 5)
    assert s["mean_iou"] == pytest.approx((0.5 + 0.75) / 2)
    s7 = M.object_scores(pred, gt, threshold=0.7)
    assert (s7["tp"], s7["fp"], s7["fn"]) == (1, 2, 1)
    assert M.average_precision(pred, gt) == pytest.approx(2 / 3)
    # AJI: C = 8 + 9, U = 16 + 12 + unused pred (2 px)
    assert M.aggregated_jaccard_index(pred, gt) == pytest.approx(17 / 30)
    # SEG: gt1 covered by exactly half (not more) -> 0; gt2 -> 0.75
    assert M.seg_score(pred, gt) == pytest.approx(0.375)


def test_evaluate_stack_sums_counts():
    gt = np.stack([two_squares(), two_squares()])
    pred = gt.copy()
    pred[1][pred[1] == 2] = 0
    r = M.evaluate(pred, gt)
    assert (r["tp"], r["fp"], r["fn"], r["n_frames"]) == (3, 0, 1, 2)
    assert r["pixel_recall"] == pytest.approx(41 / 50)


def test_only_annotated_ignores_unannotated_predictions():
    gt = np.zeros((20, 20), np.uint16)
    gt[2:8, 2:8] = 1
    pred = np.zeros_like(gt)
    pred[2:8, 2:8] = 1
    pred[12:18, 12:18] = 2  # a real cell that was not annotated
    assert M.evaluate(pred, gt)["precision"] == pytest.approx(0.5)
    r = M.evaluate(pred, gt, only_annotated=True)
    assert r["precision"] == 1.0 and r["pixel_precision"] == 1.0


def test_metrics_match_independent_computation_on_real_frame(msc_dir):
    import tifffile

    gt = tifffile.imread(msc_dir / "01_GT" / "SEG" / "man_seg005.tif")
    assert M.seg_score(gt, gt) == pytest.approx(1.0)
    assert M.evaluate(gt, gt)["f1"] == 1.0
    eroded = np.zeros_like(gt)
    for i in np.unique(gt)[1:]:
        eroded[ndi.binary_erosion(gt == i, iterations=3)] = i
    seg = M.seg_score(eroded, gt)
    assert 0.5 < seg < 1.0
    # independent SEG: plain loops over objects
    vals = []
    for i in np.unique(gt)[1:]:
        g = gt == i
        ids, counts = np.unique(eroded[g], return_counts=True)
        best = ids[np.argmax(counts)]
        if best and counts.max() > 0.5 * g.sum():
            p = eroded == best
            vals.append((g & p).sum() / (g | p).sum())
        else:
            vals.append(0.0)
    assert seg == pytest.approx(np.mean(vals))


def test_bad_input_errors():
    with pytest.raises(DimensionError, match="differs"):
        M.pixel_scores(np.zeros((3, 3)), np.zeros((4, 4)))
    with pytest.raises(DTypeError, match="integer label image"):
        M.object_scores(np.full((3, 3), 0.5), np.zeros((3, 3), int))
    with pytest.raises(DimensionError, match=r"\(Y, X\) images or .*\(T, Z, Y, X\) stacks"):
        M.evaluate(np.zeros((2, 1, 2, 2, 2), int), np.zeros((2, 1, 2, 2, 2), int))


def test_evaluate_warns_when_the_ground_truth_has_no_objects():
    """Empty ground truth in every scored frame gave F1 0 (all FP), or all nan with only_annotated,
    without a word."""
    pred = np.zeros((2, 10, 10), np.uint16)
    pred[:, 1:5, 1:5] = 1
    gt = np.zeros_like(pred)
    with pytest.warns(UserWarning, match="the ground truth has no objects in the 2 scored frames"):
        r = M.evaluate(pred, gt)
    assert r["fp"] == 2 and r["tp"] == 0
    with pytest.warns(UserWarning, match="every metric is nan"):
        r = M.evaluate(pred, gt, only_annotated=True)
    assert np.isnan(r["f1"])
    gt[1, 6:9, 6:9] = 3  # one annotated frame is enough: no warning
    M.evaluate(pred, gt)


@pytest.mark.filterwarnings("default::UserWarning")
def test_eval_cli_warns_when_the_ground_truth_has_no_objects(tmp_path, capsys):
    import tifffile

    from labelfree.cli import main

    pred = np.zeros((10, 10), np.uint16)
    pred[1:5, 1:5] = 1
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    tifffile.imwrite(tmp_path / "gt.tif", np.zeros_like(pred))
    assert main(["eval", str(tmp_path / "pred.tif"), str(tmp_path / "gt.tif"), "--only-annotated"]) == 0
    err = capsys.readouterr().err
    assert "labelfree: warning: the ground truth has no objects in the 1 scored frame (every pixel is 0)" in err


def test_an_intensity_image_with_zeros_is_said_to_be_one(shared_data):
    """DSB 2018's nucleus image given as the prediction (it holds zeros) was scored as 233 objects without a word."""
    import tifffile

    from labelfree.metrics import label_image_problems

    path = shared_data / "misc" / "stardist_dsb2018" / "img2d.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    image = tifffile.imread(path)
    assert (image == 0).any()
    (said,) = label_image_problems(image, name="img2d.tif")
    assert said.startswith("img2d.tif looks like an intensity image, not a label image")
    assert label_image_problems(tifffile.imread(path.with_name("mask2d.tif"))) == []
    blocks = (np.arange(64 * 64).reshape(64, 64) // 4 % 16 + 1).astype(np.uint16)  # objects 4 px wide, all touching
    blocks[0] = 0  # a row of background
    assert label_image_problems(blocks) == []
