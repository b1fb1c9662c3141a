"""``labelfree batch ... --truth DIR``: each input's labels scored against its ground truth, as ``labelfree eval``."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelfree.batch import run_batch
from labelfree.batch.runner import SUMMARY_COLUMNS
from labelfree.cli import main
from labelfree.errors import InputError, InputOverwriteError

CROPS = {"crop0": (0, 0), "crop1": (0, 256), "crop2": (256, 0)}
#: the scores of one pair in both tables (``labelfree eval --json`` and the batch summary)
SCORES = ("tp", "fp", "fn", "precision", "recall", "f1", "mean_iou", "average_precision", "aji", "seg",
          "pixel_precision", "pixel_recall", "pixel_f1", "pixel_jaccard")
#: the columns a run with ground truth adds, after the usual ones
TRUTH_COLUMNS = ("truth", *SCORES, "pixel_tp", "pixel_fp", "pixel_fn")
#: the frames of the time-lapse of the chunked run
MOVIE = ("crop0", "crop1", "crop2", "crop1")
RUN = ("-p", "threshold", "--scheduler", "sync", "--no-progress")


@pytest.fixture(scope="module")
def dsb(shared_data, tmp_path_factory):
    """Three DSB 2018 crops ``imgs/cropN.tif`` with Cellpose-style ground truth ``truth/cropN_masks.png``
    (16-bit), and ``imgs/extra.tif`` (the fourth crop) without ground truth."""
    folder = shared_data / "misc" / "stardist_dsb2018"
    if not (folder / "img2d.tif").is_file():
        pytest.skip(f"{folder}/img2d.tif is absent")
    img, mask = tifffile.imread(folder / "img2d.tif"), tifffile.imread(folder / "mask2d.tif")
    root = tmp_path_factory.mktemp("dsb_batch")
    imgs, truth = root / "imgs", root / "truth"
    imgs.mkdir()
    truth.mkdir()
    for stem, (y, x) in CROPS.items():
        tifffile.imwrite(imgs / f"{stem}.tif", img[y:y + 256, x:x + 256])
        Image.fromarray(mask[y:y + 256, x:x + 256].astype(np.uint16)).save(truth / f"{stem}_masks.png")
    tifffile.imwrite(imgs / "extra.tif", img[256:, 256:])
    return root


def _eval_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["eval", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _rows(out) -> dict[str, dict[str, str]]:
    with open(out / "batch_summary.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [*SUMMARY_COLUMNS, *TRUTH_COLUMNS]  # the run's columns first, in their order
        return {r["stem"]: r for r in reader}


def test_batch_scores_equal_eval_and_pooled_total(dsb, tmp_path, capsys):
    imgs, truth, out = dsb / "imgs", dsb / "truth", tmp_path / "res"
    before = _digests(truth)
    capsys.readouterr()
    assert main(["batch", str(imgs), *RUN, "-o", str(out), "--truth", str(truth)]) == 0
    text = capsys.readouterr().out
    rows = _rows(out)
    assert set(rows) == {*CROPS, "extra"} and {r["status"] for r in rows.values()} == {"ok"}
    for stem in CROPS:
        want = _eval_json(capsys, out / f"{stem}_labels.tif", truth / f"{stem}_masks.png")
        assert rows[stem]["truth"] == str(truth / f"{stem}_masks.png")
        for key in SCORES:
            assert math.isclose(float(rows[stem][key]), want[key], rel_tol=1e-12, abs_tol=1e-12), (stem, key)
        assert want["tp"] > 10 and want["fp"] + want["fn"] > 0  # real scores, not a trivial match
    assert all(rows["extra"][k] == "" for k in TRUTH_COLUMNS)  # no ground truth: empty cells
    # the pooled total is labelfree eval's total of the two folders (extra has no ground truth there either)
    total = _eval_json(capsys, out, truth)["total"]
    assert total["n_images"] == 3
    line = (f"ground truth, total of 3 scored input(s): TP {total['tp']}, FP {total['fp']}, FN {total['fn']}; "
            f"precision {total['precision']:.4f}, recall {total['recall']:.4f}, F1 {total['f1']:.4f}; "
            f"pixel F1 {total['pixel_f1']:.4f}; mean IoU {total['mean_iou']:.4f}")
    assert line in text
    assert f"no ground truth in {truth} (not scored): extra" in text
    report = (out / "report.html").read_text(encoding="utf-8")
    assert line in report and "F1 / pixel F1" in report
    assert _digests(truth) == before  # an input: never written

    # a rerun skips every input and scores them all the same, from the labels on disk
    summary = run_batch(imgs, pipeline="threshold", out_dir=out, batch={"scheduler": "sync"}, progress=False,
                        truth=truth)
    assert list(summary["status"]) == ["skipped"] * 4
    scored = summary.set_index("stem")
    for stem in CROPS:
        assert int(scored.loc[stem, "tp"]) == int(rows[stem]["tp"])
        assert float(scored.loc[stem, "f1"]) == pytest.approx(float(rows[stem]["f1"]), abs=1e-12)
    assert str(scored.loc["extra", "tp"]) == "<NA>" and scored.loc["extra", "truth"] == ""
    pooled = summary.attrs["truth_total"]
    for key in ("tp", "fp", "fn", "pixel_tp", "pixel_fp", "pixel_fn"):
        assert pooled[key] == total[key], key
    for key in ("precision", "recall", "f1", "average_precision", "mean_iou", "seg", "pixel_f1", "pixel_jaccard"):
        assert pooled[key] == pytest.approx(total[key], abs=1e-12), key


def test_tiled_run_is_scored_as_eval_scores_its_labels(dsb, tmp_path, capsys):
    imgs, truth, out = tmp_path / "imgs", dsb / "truth", tmp_path / "res"
    imgs.mkdir()
    shutil.copy(dsb / "imgs" / "crop1.tif", imgs)
    summary = run_batch(imgs, pipeline="threshold", out_dir=out, batch={"scheduler": "sync", "tile": 128,
                                                                        "tile_overlap": 32},
                        progress=False, truth=truth)
    assert list(summary["status"]) == ["ok"]
    want = _eval_json(capsys, out / "crop1_labels.tif", truth / "crop1_masks.png")
    row = summary.iloc[0]
    assert [int(row[k]) for k in ("tp", "fp", "fn")] == [want["tp"], want["fp"], want["fn"]] and want["tp"] > 10
    assert float(row["pixel_f1"]) == pytest.approx(want["pixel_f1"], abs=1e-12)


def test_chunked_time_lapse_is_scored_frame_by_frame_as_eval(dsb, tmp_path, capsys):
    """A 4-frame T stack run in chunks of two frames, against a T-stack ground truth ``movie_gt.tif``."""
    imgs, truth, out = tmp_path / "imgs", tmp_path / "truth", tmp_path / "res"
    imgs.mkdir()
    truth.mkdir()
    frames = [tifffile.imread(dsb / "imgs" / f"{s}.tif") for s in MOVIE]
    tifffile.imwrite(imgs / "movie.tif", np.stack(frames), imagej=True, metadata={"axes": "TYX"})
    gt = np.stack([np.asarray(Image.open(dsb / "truth" / f"{s}_masks.png")) for s in MOVIE])
    tifffile.imwrite(truth / "movie_gt.tif", gt, imagej=True, metadata={"axes": "TYX"})
    summary = run_batch(imgs, pipeline="threshold", out_dir=out, batch={"scheduler": "sync", "chunk_frames": 2},
                        progress=False, truth=truth)
    row = summary.iloc[0]
    assert row["status"] == "ok" and int(row["n_frames"]) == 4
    assert len(json.loads((out / "movie_provenance.json").read_text())["batch"]["chunks"]) >= 2  # run in chunks
    want = _eval_json(capsys, out / "movie_labels.tif", truth / "movie_gt.tif")
    assert want["n_frames"] == 4 and want["tp"] > 40
    assert [int(row[k]) for k in ("tp", "fp", "fn")] == [want["tp"], want["fp"], want["fn"]]
    for key in SCORES[3:]:
        assert float(row[key]) == pytest.approx(want[key], abs=1e-12), key


def test_ground_truth_of_another_shape_is_not_scored(dsb, tmp_path, capsys):
    truth = tmp_path / "truth"
    shutil.copytree(dsb / "truth", truth)
    small = np.asarray(Image.open(truth / "crop0_masks.png"))[:128]
    Image.fromarray(small).save(truth / "crop0_masks.png")
    out = tmp_path / "res"
    capsys.readouterr()
    code = main(["batch", str(dsb / "imgs"), *RUN, "-o", str(out), "--truth", str(truth)])
    text = capsys.readouterr().out
    assert code == 1  # every input segmented, but a score asked for is missing
    rows = _rows(out)
    assert {r["status"] for r in rows.values()} == {"ok"} and (out / "crop0_labels.tif").is_file()
    assert rows["crop0"]["truth"] == str(truth / "crop0_masks.png")
    assert all(rows["crop0"][k] == "" for k in TRUTH_COLUMNS[1:])
    assert "not scored against" in rows["crop0"]["warnings"] and "(256, 256)" in rows["crop0"]["warnings"]
    assert "(128, 256)" in rows["crop0"]["warnings"]
    assert rows["crop1"]["tp"] != "" and rows["crop2"]["tp"] != ""  # the others are scored
    said = f"NOT SCORED {dsb / 'imgs' / 'crop0.tif'} against {truth / 'crop0_masks.png'}: the labels have shape"
    assert said in text
    assert "total of 2 scored input(s)" in text


def test_truth_folder_is_an_input(dsb, tmp_path):
    imgs = dsb / "imgs"
    truth = tmp_path / "both"
    shutil.copytree(dsb / "truth", truth)
    before = _digests(truth)
    with pytest.raises(InputOverwriteError, match="ground truth folder"):  # outputs would go into it
        run_batch(imgs, pipeline="threshold", out_dir=truth, batch={"scheduler": "sync"}, progress=False,
                  truth=truth)
    with pytest.raises(InputOverwriteError, match="ground truth folder"):  # the output folder inside it
        run_batch(imgs, pipeline="threshold", out_dir=truth / "res", batch={"scheduler": "sync"}, progress=False,
                  truth=truth)
    assert _digests(truth) == before and not (truth / "res").exists()
    out = tmp_path / "res"
    staged = out / ".labelfree-staging" / "gt"
    shutil.copytree(dsb / "truth", staged)
    with pytest.raises(InputError, match="staging folder"):
        run_batch(imgs, pipeline="threshold", out_dir=out, batch={"scheduler": "sync"}, progress=False,
                  truth=staged)
    assert _digests(staged) == _digests(dsb / "truth")  # not removed as a leftover of a run
    with pytest.raises(InputError, match="is not a folder"):
        run_batch(imgs, pipeline="threshold", out_dir=out, batch={"scheduler": "sync"}, progress=False,
                  truth=truth / "crop0_masks.png")


def test_inputs_renamed_apart_keep_the_ground_truth_of_their_file(dsb, tmp_path, capsys):
    """crop0.tif and crop0.png in one run become crop0_tif and crop0_png; both were 'without ground truth' though
    truth/crop0_masks.png is there. Each is scored against it now, as eval scores its labels."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    shutil.copy(dsb / "imgs" / "crop0.tif", imgs)
    Image.fromarray(tifffile.imread(dsb / "imgs" / "crop0.tif")).save(imgs / "crop0.png")
    out = tmp_path / "res"
    assert main(["batch", str(imgs), *RUN, "-o", str(out), "--truth", str(dsb / "truth"), "-q"]) == 0
    with open(out / "batch_summary.csv", newline="") as fh:
        rows = {r["stem"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == ["crop0_png", "crop0_tif"]
    for stem in rows:
        assert rows[stem]["truth"] == str(dsb / "truth" / "crop0_masks.png")
        want = _eval_json(capsys, out / f"{stem}_labels.tif", dsb / "truth" / "crop0_masks.png")
        assert (int(rows[stem]["tp"]), int(rows[stem]["fp"]), int(rows[stem]["fn"])) == (want["tp"], want["fp"],
                                                                                          want["fn"])
