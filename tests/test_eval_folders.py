"""``labelfree eval PRED_FOLDER GT_FOLDER``: files paired by stem, each scored as one pair is, pooled totals."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main

CROPS = {"crop0": (0, 0), "crop1": (0, 256), "crop2": (256, 0), "crop3": (256, 256)}


def _eval_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["eval", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def dsb(shared_data, tmp_path_factory):
    """Predictions of ``labelfree threshold`` on DSB 2018 crops (``res/<stem>_labels.tif``, and a 2-frame T stack
    ``stack_labels.tif`` of two of them) and their ground truth in ``truth/`` under the names users have:
    ``crop0.tif``, ``crop1_masks.tif`` beside the image ``crop1.tif`` (Cellpose), ``crop2_mask.tiff``,
    ``stack_gt.tif``."""
    folder = shared_data / "misc" / "stardist_dsb2018"
    if not (folder / "img2d.tif").is_file():
        pytest.skip(f"{folder}/img2d.tif is absent")
    img, mask = tifffile.imread(folder / "img2d.tif"), tifffile.imread(folder / "mask2d.tif")
    root = tmp_path_factory.mktemp("dsb")
    imgs, res, truth = root / "imgs", root / "res", root / "truth"
    imgs.mkdir()
    truth.mkdir()
    for stem, (y, x) in CROPS.items():
        tifffile.imwrite(imgs / f"{stem}.tif", img[y:y + 256, x:x + 256])
        assert main(["threshold", str(imgs / f"{stem}.tif"), "-o", str(res)]) == 0
    gt = {stem: mask[y:y + 256, x:x + 256] for stem, (y, x) in CROPS.items()}
    tifffile.imwrite(truth / "crop0.tif", gt["crop0"])
    tifffile.imwrite(truth / "crop1.tif", img[:256, 256:512])  # the image beside its Cellpose masks
    tifffile.imwrite(truth / "crop1_masks.tif", gt["crop1"])
    tifffile.imwrite(truth / "crop2_mask.tiff", gt["crop2"])
    stack = np.stack([tifffile.imread(res / "crop2_labels.tif"), tifffile.imread(res / "crop3_labels.tif")])
    tifffile.imwrite(res / "stack_labels.tif", stack, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(truth / "stack_gt.tif", np.stack([gt["crop2"], gt["crop3"]]), imagej=True,
                     metadata={"axes": "TYX"})
    (res / "crop3_labels.tif").rename(root / "crop3_labels.tif")  # no ground truth: not in res
    tifffile.imwrite(truth / "crop9.tif", gt["crop3"])  # ground truth without a prediction
    return root


def _pixels(pred: np.ndarray, gt: np.ndarray, only_annotated: bool) -> tuple[int, int, int]:
    """Foreground pixel TP, FP, FN counted frame by frame (only_annotated: predictions that touch ground truth)."""
    tp = fp = fn = 0
    for p, g in zip(pred.reshape(-1, *pred.shape[-2:]), gt.reshape(-1, *gt.shape[-2:])):
        if only_annotated:
            p = np.where(np.isin(p, np.unique(p[(p > 0) & (g > 0)])), p, 0)
        tp += int(np.sum((p > 0) & (g > 0)))
        fp += int(np.sum((p > 0) & (g == 0)))
        fn += int(np.sum((p == 0) & (g > 0)))
    return tp, fp, fn


@pytest.mark.parametrize("only_annotated", [False, True])
def test_each_row_is_the_single_pair_eval_and_the_total_pools_the_counts(dsb, capsys, only_annotated):
    extra = ["--only-annotated"] if only_annotated else []
    out = _eval_json(capsys, dsb / "res", dsb / "truth", *extra)
    pairs = {"crop0": "crop0.tif", "crop1": "crop1_masks.tif", "crop2": "crop2_mask.tiff", "stack": "stack_gt.tif"}
    assert [r["image"] for r in out["images"]] == sorted(pairs)
    pixels = []
    for row in out["images"]:
        pred, gt = dsb / "res" / f"{row['image']}_labels.tif", dsb / "truth" / pairs[row["image"]]
        assert (row["prediction"], row["ground_truth"]) == (str(pred), str(gt))
        single = _eval_json(capsys, pred, gt, *extra)
        assert {k: row[k] for k in single} == single  # the same numbers, to the last bit
        pixels.append(_pixels(tifffile.imread(pred), tifffile.imread(gt), only_annotated))
    assert out["images"][-1]["n_frames"] == 2 and out["images"][0]["tp"] > 10  # the T stack scored frame by frame
    rows, total = out["images"], out["total"]
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    assert (total["tp"], total["fp"], total["fn"]) == (tp, fp, fn) and total["n_images"] == 4
    assert total["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    assert total["precision"] == pytest.approx(tp / (tp + fp), abs=1e-12)
    assert total["mean_iou"] == pytest.approx(sum(r["mean_iou"] * r["tp"] for r in rows) / tp, abs=1e-12)
    ptp, pfp, pfn = (sum(c[i] for c in pixels) for i in range(3))
    assert total["pixel_f1"] == pytest.approx(2 * ptp / (2 * ptp + pfp + pfn), abs=1e-12)
    assert (total["n_frames"], total["threshold"]) == (5, 0.5)
    if only_annotated:  # predictions that touch no annotation are dropped: fewer false positive pixels
        assert pfp < sum(_pixels(tifffile.imread(dsb / "res" / f"{r['image']}_labels.tif"),
                                 tifffile.imread(dsb / "truth" / pairs[r["image"]]), False)[1] for r in rows)
    assert out["ground_truth_without_prediction"] == [str(dsb / "truth" / "crop9.tif")]
    assert out["predictions_without_ground_truth"] == []


def test_table_rows_total_and_the_files_left_out(dsb, capsys):
    (dsb / "crop3_labels.tif").rename(dsb / "res" / "crop3_labels.tif")
    try:
        numbers = _eval_json(capsys, dsb / "res", dsb / "truth", "--threshold", "0.6")
        assert main(["eval", str(dsb / "res"), str(dsb / "truth"), "--threshold", "0.6"]) == 0
    finally:
        (dsb / "res" / "crop3_labels.tif").rename(dsb / "crop3_labels.tif")
    lines = capsys.readouterr().out.splitlines()
    table = {line.split()[0]: line.split()[1:] for line in lines if line.split()[0] in ("crop0", "stack", "total")}
    for name, r in (("crop0", numbers["images"][0]), ("stack", numbers["images"][3]), ("total", numbers["total"])):
        assert table[name] == [str(r["tp"]), str(r["fp"]), str(r["fn"]), *(f"{r[k]:.4f}" for k in
                               ("precision", "recall", "f1", "pixel_f1", "mean_iou")), str(r["n_frames"])]
    assert numbers["total"]["threshold"] == 0.6
    assert f"not scored, ground truth in {dsb / 'truth'} without a prediction in {dsb / 'res'}: crop9.tif" in lines
    assert f"not scored, predictions in {dsb / 'res'} without ground truth in {dsb / 'truth'}: crop3_labels.tif" \
        in lines
    assert numbers["predictions_without_ground_truth"] == [str(dsb / "res" / "crop3_labels.tif")]


def test_csv_holds_the_rows_of_the_json_and_is_refused_where_it_would_harm(dsb, capsys, tmp_path):
    table = tmp_path / "scores.csv"
    numbers = _eval_json(capsys, dsb / "res", dsb / "truth", "--csv", table)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == [r["image"] for r in numbers["images"]]  # no total row
    for row, r in zip(rows, numbers["images"]):
        assert (row["prediction"], row["ground_truth"], row["error"]) == (r["prediction"], r["ground_truth"], "")
        assert [int(row[k]) for k in ("tp", "fp", "fn", "n_frames")] == [r[k] for k in ("tp", "fp", "fn", "n_frames")]
        for k in ("precision", "recall", "f1", "mean_iou", "average_precision", "aji", "seg", "pixel_f1"):
            assert float(row[k]) == pytest.approx(r[k], rel=1e-5)
    before = table.read_bytes()
    assert main(["eval", str(dsb / "res"), str(dsb / "truth"), "--csv", str(table)]) == 1
    assert "exists" in capsys.readouterr().err and table.read_bytes() == before
    assert main(["eval", str(dsb / "res"), str(dsb / "truth"), "--csv", str(table), "--overwrite", "--only-annotated"]
                ) == 0
    assert table.read_bytes() != before
    inside = dsb / "res" / "scores.csv"
    assert main(["eval", str(dsb / "res"), str(dsb / "truth"), "--csv", str(inside)]) == 1
    err = capsys.readouterr().err
    assert "inside the prediction folder" in err and "never writes into its inputs" in err and not inside.exists()
    assert main(["eval", str(dsb / "res"), str(dsb / "truth"), "--csv", str(tmp_path / "scores.tsv")]) == 1
    assert "Give a name ending with .csv" in capsys.readouterr().err and not (tmp_path / "scores.tsv").exists()


def test_single_pair_csv_is_one_row_of_its_json(dsb, capsys, tmp_path):
    pred, gt = dsb / "res" / "crop0_labels.tif", dsb / "truth" / "crop0.tif"
    single = _eval_json(capsys, pred, gt, "--csv", tmp_path / "one.csv")
    with open(tmp_path / "one.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["image"], row["prediction"], int(row["tp"])) == ("crop0", str(pred), single["tp"])
    assert float(row["f1"]) == pytest.approx(single["f1"], rel=1e-5)


def test_a_pair_of_other_shapes_is_an_error_row_and_the_others_are_scored(dsb, capsys, tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    tifffile.imwrite(truth / "crop0.tif", tifffile.imread(dsb / "truth" / "crop0.tif"))
    tifffile.imwrite(truth / "crop1.tif", tifffile.imread(dsb / "truth" / "crop1_masks.tif")[:200])  # cropped
    capsys.readouterr()
    assert main(["eval", str(dsb / "res"), str(truth), "--json", "--csv", str(tmp_path / "s.csv")]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    bad = out["images"][1]
    assert bad["image"] == "crop1" and "tp" not in bad
    assert "must have the same axes of the same sizes" in bad["error"] and "Y=200" in bad["error"]
    assert "labelfree: error: crop1 not scored: The prediction and the ground truth" in captured.err
    single = _eval_json(capsys, dsb / "res" / "crop0_labels.tif", truth / "crop0.tif")
    assert out["total"]["tp"] == single["tp"] and out["total"]["f1"] == pytest.approx(single["f1"], abs=1e-12)
    assert out["total"]["n_images"] == 1
    with open(tmp_path / "s.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["tp"] == "" and "Y=200" in rows[1]["error"]


def test_folders_without_one_pair_are_an_error_naming_both(dsb, capsys, tmp_path):
    (tmp_path / "other").mkdir()
    tifffile.imwrite(tmp_path / "other" / "cells_01.tif", np.ones((8, 8), np.uint16))
    assert main(["eval", str(dsb / "res"), str(tmp_path / "other")]) == 1
    err = capsys.readouterr().err
    assert f"No prediction in {dsb / 'res'} has ground truth in {tmp_path / 'other'}" in err
    assert "<stem>_masks.tif" in err and "crop0, crop1, crop2, stack" in err and "cells_01" in err


def test_two_annotations_of_one_image_are_an_error(dsb, capsys, tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    for name in ("crop0_masks.tif", "crop0_mask.tif"):
        tifffile.imwrite(truth / name, tifffile.imread(dsb / "truth" / "crop0.tif"))
    assert main(["eval", str(dsb / "res"), str(truth)]) == 1
    err = capsys.readouterr().err
    assert "2 ground-truth files of the image 'crop0' (crop0_mask.tif, crop0_masks.tif)" in err


def test_ctc_frames_pair_with_man_seg_by_number(shared_data, capsys, tmp_path):
    """Frames tNNN.tif segmented one by one (``tNNN_labels.tif``) against the SEG folder of the sequence."""
    seq = shared_data / "ctc" / "Fluo-N2DH-SIM+"
    if not (seq / "01_GT" / "SEG" / "man_seg001.tif").is_file():
        pytest.skip(f"{seq}/01_GT/SEG is absent")
    seg = seq / "01_GT" / "SEG"
    for t in ("000", "001"):
        assert main(["threshold", str(seq / "01" / f"t{t}.tif"), "-o", str(tmp_path / "res")]) == 0
    out = _eval_json(capsys, tmp_path / "res", seg)
    assert [(r["image"], Path(r["ground_truth"]).name) for r in out["images"]] == [
        ("t000", "man_seg000.tif"), ("t001", "man_seg001.tif")]
    for row in out["images"]:
        single = _eval_json(capsys, row["prediction"], row["ground_truth"])
        assert {k: row[k] for k in single} == single and single["f1"] > 0.8
    assert out["total"]["tp"] == sum(r["tp"] for r in out["images"])
    assert len(out["ground_truth_without_prediction"]) == len(list(seg.glob("man_seg*.tif"))) - 2
    assert not math.isnan(out["total"]["seg"])


@pytest.mark.parametrize("name", ["mask{t:03d}.tif", "man_seg{t:03d}.tif"])
def test_a_ctc_res_or_seg_folder_of_predictions_is_one_stack_as_before(shared_data, capsys, tmp_path, name):
    """A prediction folder of CTC frames (a RES folder's maskNNN.tif, or man_segNNN.tif) is read as one T stack
    and scored against the SEG folder frame by frame, as eval did before it took folders."""
    seg = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01_GT" / "SEG"
    if not (seg / "man_seg002.tif").is_file():
        pytest.skip(f"{seg} is absent")
    for t in range(3):
        shutil.copy(seg / f"man_seg{t:03d}.tif", tmp_path / name.format(t=t))
    out = _eval_json(capsys, tmp_path, seg)
    assert out["frames"] == [0, 1, 2] and out["n_frames"] == 3 and out["f1"] == 1.0 and out["seg"] == 1.0
    assert len(out["frames_not_scored"]) == len(list(seg.glob("man_seg*.tif"))) - 3


def test_an_empty_ground_truth_warns_with_its_image_and_is_scored(dsb, capsys, tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    tifffile.imwrite(truth / "crop0.tif", np.zeros((256, 256), np.uint16))
    tifffile.imwrite(truth / "crop1.tif", tifffile.imread(dsb / "truth" / "crop1_masks.tif"))
    capsys.readouterr()
    assert main(["eval", str(dsb / "res"), str(truth), "--json"]) == 0
    captured = capsys.readouterr()
    assert "labelfree: warning: crop0: the ground truth has no objects in the 1 scored frame" in captured.err
    out = json.loads(captured.out)
    n_objects = len(np.unique(tifffile.imread(dsb / "res" / "crop0_labels.tif"))) - 1
    assert (out["images"][0]["tp"], out["images"][0]["fp"]) == (0, n_objects)
    assert out["total"]["fp"] == n_objects + out["images"][1]["fp"]


def test_cellpose_png_masks_pair_with_tiff_predictions(dsb, capsys, tmp_path):
    """Ground truth saved as Cellpose saves it (``<stem>.png`` image beside ``<stem>_masks.png``, 16-bit grey):
    each PNG is paired by its stem and scored exactly as its TIFF copy is."""
    from PIL import Image

    truth = tmp_path / "truth_png"
    truth.mkdir()
    for name, stem in (("crop0.tif", "crop0"), ("crop1_masks.tif", "crop1")):
        labels = tifffile.imread(dsb / "truth" / name)
        Image.fromarray(labels.astype(np.uint16)).save(truth / f"{stem}_masks.png")
        Image.fromarray((labels > 0).astype(np.uint8) * 255).save(truth / f"{stem}.png")  # the image beside it
    png = _eval_json(capsys, dsb / "res", truth)
    tif = _eval_json(capsys, dsb / "res", dsb / "truth")
    assert [r["image"] for r in png["images"]] == ["crop0", "crop1"]
    assert [Path(r["ground_truth"]).name for r in png["images"]] == ["crop0_masks.png", "crop1_masks.png"]
    for row in png["images"]:
        same = next(r for r in tif["images"] if r["image"] == row["image"])
        assert {k: row[k] for k in ("tp", "fp", "fn", "mean_iou", "pixel_f1")} == \
            {k: same[k] for k in ("tp", "fp", "fn", "mean_iou", "pixel_f1")}
    assert png["total"]["tp"] == sum(r["tp"] for r in png["images"]) > 20
