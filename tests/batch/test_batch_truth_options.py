"""``labelfree batch --truth`` as complete as ``labelfree eval``: ``--truth-threshold``, ``--only-annotated`` and
movies scored against Cell Tracking Challenge SEG folders (sparse frames), on real Fluo-N2DH-SIM+ crops."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import tifffile

from labelfree.batch import run_batch
from labelfree.cli import main
from labelfree.errors import ConfigError, InputError

#: the sequences of the small dataset copy: first frame in SIM+ 01, and the frames its SEG folder annotates
SEQUENCES = {"01": (0, (0, 2, 5)), "02": (6, (1, 4))}
FRAMES, BOX = 6, (slice(100, 356), slice(100, 356))
RUN = ("-p", "motion", "--scheduler", "sync", "--no-progress")
#: the scores of one pair in both tables (``labelfree eval --json`` and the batch summary)
SCORES = ("tp", "fp", "fn", "precision", "recall", "f1", "mean_iou", "average_precision", "aji", "seg",
          "pixel_precision", "pixel_recall", "pixel_f1", "pixel_jaccard")


@pytest.fixture(scope="module")
def dataset(shared_data, tmp_path_factory):
    """A Cell Tracking Challenge dataset folder ``Fluo-N2DH-SIM+/`` with two 6-frame sequences ``01/`` and ``02/``
    (256 x 256 crops of SIM+ 01, frames 0-5 and 6-11) and sparse SEG ground truth ``01_GT/SEG/`` (frames 0, 2, 5)
    and ``02_GT/SEG/`` (frames 1, 4), as the challenge ships them; and the run's labels (``out/``)."""
    src = shared_data / "ctc" / "Fluo-N2DH-SIM+"
    if not (src / "01_GT" / "SEG").is_dir():
        pytest.skip(f"{src}/01_GT/SEG is absent")
    root = tmp_path_factory.mktemp("ctc_truth")
    ds = root / "Fluo-N2DH-SIM+"
    for seq, (t0, annotated) in SEQUENCES.items():
        (ds / seq).mkdir(parents=True)
        (ds / f"{seq}_GT" / "SEG").mkdir(parents=True)
        for t in range(FRAMES):
            tifffile.imwrite(ds / seq / f"t{t:03d}.tif", tifffile.imread(src / "01" / f"t{t0 + t:03d}.tif")[BOX])
        for t in annotated:
            gt = tifffile.imread(src / "01_GT" / "SEG" / f"man_seg{t0 + t:03d}.tif")[BOX]
            tifffile.imwrite(ds / f"{seq}_GT" / "SEG" / f"man_seg{t:03d}.tif", gt)
    out = root / "out"
    assert main(["batch", str(ds), *RUN, "-o", str(out)]) == 0  # the labels, made once; each test scores a copy
    return ds, out


def _movie(ds, seq) -> str:
    """The sequence folder ``seq`` of ``ds`` as a glob pattern that matches it alone: one movie input."""
    return str(ds / f"[{seq[0]}]{seq[1:]}")


def _out(dataset, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(dataset[1], out)
    return out


def _eval_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["eval", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _rows(out) -> dict[str, dict[str, str]]:
    with open(out / "batch_summary.csv", newline="") as fh:
        return {r["stem"]: r for r in csv.DictReader(fh)}


def _assert_row_is_eval(row: dict, want: dict) -> None:
    for key in SCORES:
        assert float(row[key]) == pytest.approx(want[key], abs=1e-12), key


def _pixel_counts(labels: np.ndarray, truth: np.ndarray, *, only_annotated: bool = False) -> tuple[int, int, int]:
    """Foreground pixel TP, FP, FN counted by hand (``only_annotated``: predicted objects touching no ground truth
    left out)."""
    if only_annotated:
        labels = labels.copy()
        for f in range(len(labels)):
            touching = np.unique(labels[f][truth[f] > 0])
            labels[f][~np.isin(labels[f], touching)] = 0
    p, g = labels > 0, truth > 0
    return int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum())


def _sparse_truth(ds, root):
    """A copy of the dataset's ground truth that annotates every other cell only (odd labels removed), as the
    Cell Tracking Challenge annotates some cells only in GOWT1 and MSC."""
    for seq in SEQUENCES:
        (root / f"{seq}_GT" / "SEG").mkdir(parents=True)
        for f in sorted((ds / f"{seq}_GT" / "SEG").iterdir()):
            labels = tifffile.imread(f)
            labels[labels % 2 == 1] = 0
            tifffile.imwrite(root / f"{seq}_GT" / "SEG" / f.name, labels)
    return root


def _by_hand(ds, out, capsys, *options, only_annotated=False):
    """``labelfree eval OUT/<stem>_labels.tif DS/<stem>_GT/SEG`` of each sequence, its pixel counts, and the
    pooled total formed from them by hand: counts summed, ratios from the sums, mean IoU over all matches."""
    evals, pixels = {}, {}
    for seq, (_, annotated) in SEQUENCES.items():
        want = _eval_json(capsys, out / f"{seq}_labels.tif", ds / f"{seq}_GT" / "SEG", *options)
        assert want["frames"] == list(annotated) and want["n_frames"] == len(annotated)
        evals[seq] = want
        labels = tifffile.imread(out / f"{seq}_labels.tif")[list(annotated)]
        truth = np.stack([tifffile.imread(ds / f"{seq}_GT" / "SEG" / f"man_seg{t:03d}.tif") for t in annotated])
        pixels[seq] = _pixel_counts(labels, truth, only_annotated=only_annotated)
    tp, fp, fn = (sum(e[k] for e in evals.values()) for k in ("tp", "fp", "fn"))
    ptp, pfp, pfn = (sum(c[i] for c in pixels.values()) for i in range(3))
    total = {"tp": tp, "fp": fp, "fn": fn, "f1": 2 * tp / (2 * tp + fp + fn),
             "pixel_f1": 2 * ptp / (2 * ptp + pfp + pfn), "pixel_tp": ptp, "pixel_fp": pfp, "pixel_fn": pfn,
             "mean_iou": sum(e["mean_iou"] * e["tp"] for e in evals.values()) / tp}
    return evals, pixels, total


def test_dataset_folder_as_truth_scores_each_movie_on_its_annotated_frames(dataset, tmp_path, capsys):
    ds, out = dataset[0], _out(dataset, tmp_path)
    capsys.readouterr()
    assert main(["batch", str(ds), *RUN, "-o", str(out), "--truth", str(ds)]) == 0
    text = capsys.readouterr().out
    rows = _rows(out)
    assert {r["status"] for r in rows.values()} == {"skipped"}  # the labels of the first run, scored again
    evals, pixels, total = _by_hand(ds, out, capsys)
    for seq, (_, annotated) in SEQUENCES.items():
        row = rows[seq]
        assert row["truth"] == str(ds / f"{seq}_GT" / "SEG")
        _assert_row_is_eval(row, evals[seq])
        assert tuple(int(row[k]) for k in ("pixel_tp", "pixel_fp", "pixel_fn")) == pixels[seq]
        frames = ", ".join(map(str, annotated))
        assert f"truth frames scored: {frames} ({len(annotated)} of {len(annotated)} annotated)" in row["warnings"]
        assert row["n_frames"] == str(FRAMES)  # the movie's frames; the scored ones are named in the warnings
    assert total["tp"] > 5 and total["fp"] + total["fn"] > 0  # real scores, not a trivial match
    line = (f"ground truth, total of 2 scored input(s): TP {total['tp']}, FP {total['fp']}, FN {total['fn']}; "
            f"precision {total['tp'] / (total['tp'] + total['fp']):.4f}, recall "
            f"{total['tp'] / (total['tp'] + total['fn']):.4f}, F1 {total['f1']:.4f}; pixel F1 {total['pixel_f1']:.4f}; "
            f"mean IoU {total['mean_iou']:.4f} (IoU threshold 0.5; counts summed")
    assert line in text
    assert "scored on the annotated frames of a SEG folder: 01: 0, 2, 5 (3 of 3 annotated); 02: 1, 4 (2 of 2" in text
    assert line in (out / "report.html").read_text(encoding="utf-8")

    summary = run_batch(ds, pipeline="motion", out_dir=out, batch={"scheduler": "sync"}, progress=False, truth=ds)
    pooled = summary.attrs["truth_total"]
    for key in ("tp", "fp", "fn", "pixel_tp", "pixel_fp", "pixel_fn"):
        assert pooled[key] == total[key], key
    for key in ("f1", "pixel_f1", "mean_iou"):
        assert pooled[key] == pytest.approx(total[key], abs=1e-12), key
    assert pooled["n_frames"] == 5  # the annotated frames scored, not the 12 segmented
    assert summary.attrs["truth_frames"] == {"01": [0, 2, 5], "02": [1, 4]}
    assert summary.attrs["truth_threshold"] == 0.5 and summary.attrs["only_annotated"] is False


@pytest.mark.parametrize(("batch_options", "eval_options", "only_annotated"), [
    (("--truth-threshold", "0.8"), ("--threshold", "0.8"), False),
    (("--only-annotated",), ("--only-annotated",), True),
    (("--truth-threshold", "0.8", "--only-annotated"), ("--threshold", "0.8", "--only-annotated"), True),
])
def test_truth_options_score_as_eval_options(dataset, tmp_path, capsys, batch_options, eval_options, only_annotated):
    """Against sparse ground truth (some cells and some frames annotated), given as the dataset folder."""
    ds, out = dataset[0], _out(dataset, tmp_path)
    truth = _sparse_truth(ds, tmp_path / "sparse")
    capsys.readouterr()
    assert main(["batch", str(ds), *RUN, "-o", str(out), "--truth", str(truth), *batch_options]) == 0
    text = capsys.readouterr().out
    rows = _rows(out)
    evals, pixels, total = _by_hand(truth, out, capsys, *eval_options, only_annotated=only_annotated)
    default = _by_hand(truth, out, capsys)[2]
    # the option changes the scores: a run that ignored it would not pass
    assert (total["tp"], total["fp"]) != (default["tp"], default["fp"])
    for seq in SEQUENCES:
        _assert_row_is_eval(rows[seq], evals[seq])
        assert tuple(int(rows[seq][k]) for k in ("pixel_tp", "pixel_fp", "pixel_fn")) == pixels[seq]
    said = f"TP {total['tp']}, FP {total['fp']}, FN {total['fn']};"
    assert said in text and f"mean IoU {total['mean_iou']:.4f}" in text and f"pixel F1 {total['pixel_f1']:.4f}" in text
    how = ("IoU threshold 0.8" if "0.8" in batch_options else "IoU threshold 0.5") + (
        "; only predicted objects that overlap ground truth" if only_annotated else "")
    assert f"({how}; counts summed" in text  # the report says how the scores were made
    assert f"({how}; counts summed" in (out / "report.html").read_text(encoding="utf-8")


def test_python_keywords_equal_eval(dataset, tmp_path, capsys):
    ds, out = dataset[0], _out(dataset, tmp_path)
    summary = run_batch(_movie(ds, "01"), pipeline="motion", out_dir=out, batch={"scheduler": "sync"}, progress=False,
                        truth=ds / "01_GT" / "SEG", truth_threshold=0.3, only_annotated=True)
    want = _eval_json(capsys, out / "01_labels.tif", ds / "01_GT" / "SEG", "--threshold", "0.3", "--only-annotated")
    row = summary.set_index("stem").loc["01"]
    assert [int(row[k]) for k in ("tp", "fp", "fn")] == [want["tp"], want["fp"], want["fn"]]
    assert float(row["pixel_f1"]) == pytest.approx(want["pixel_f1"], abs=1e-12)
    assert float(row["mean_iou"]) == pytest.approx(want["mean_iou"], abs=1e-12)
    assert summary.attrs["truth_threshold"] == 0.3 and summary.attrs["only_annotated"] is True
    assert row["truth"] == str(ds / "01_GT" / "SEG")  # the SEG folder of 01, given itself
    # the ground truth of one sequence (01_GT) is found for its input too
    again = run_batch(_movie(ds, "01"), pipeline="motion", out_dir=out, batch={"scheduler": "sync"}, progress=False,
                      truth=ds / "01_GT", truth_threshold=0.3, only_annotated=True)
    assert int(again.iloc[0]["tp"]) == want["tp"] and again.iloc[0]["truth"] == str(ds / "01_GT" / "SEG")


def test_movie_truth_as_label_stack_or_folder_of_its_stem(dataset, tmp_path, capsys):
    """``DIR/01.tif`` (a label stack of every frame) and ``DIR/02/`` (man_segNNN.tif frames) beside each other."""
    ds, out = dataset[0], _out(dataset, tmp_path)
    truth = tmp_path / "truth"
    shutil.copytree(ds / "02_GT" / "SEG", truth / "02")
    full = tifffile.imread(out / "01_labels.tif").shape
    dense = np.zeros(full, np.uint16)
    seg = ds / "01_GT" / "SEG"
    for t in SEQUENCES["01"][1]:
        dense[t] = tifffile.imread(seg / f"man_seg{t:03d}.tif")
    tifffile.imwrite(truth / "01.tif", dense, imagej=True, metadata={"axes": "TYX"})
    capsys.readouterr()
    assert main(["batch", str(ds), *RUN, "-o", str(out), "--truth", str(truth), "--only-annotated"]) == 0
    rows = _rows(out)
    assert rows["01"]["truth"] == str(truth / "01.tif") and rows["02"]["truth"] == str(truth / "02")
    _assert_row_is_eval(rows["01"], _eval_json(capsys, out / "01_labels.tif", truth / "01.tif", "--only-annotated"))
    want = _eval_json(capsys, out / "02_labels.tif", truth / "02", "--only-annotated")
    _assert_row_is_eval(rows["02"], want)
    assert want["frames"] == [1, 4] and "truth frames scored: 1, 4 (2 of 2 annotated)" in rows["02"]["warnings"]
    assert "truth frames" not in rows["01"]["warnings"]  # a label stack: every frame scored, as eval scores it


def test_truth_folder_without_ground_truth_of_some_or_any_input(dataset, tmp_path, capsys):
    ds, out = dataset[0], _out(dataset, tmp_path)
    # the SEG folder of 01 given: 01 is scored, 02 has none and the report says where it was looked for
    capsys.readouterr()
    assert main(["batch", str(ds), *RUN, "-o", str(out), "--truth", str(ds / "01_GT" / "SEG")]) == 0
    text = capsys.readouterr().out
    rows = _rows(out)
    assert rows["01"]["tp"] != "" and rows["02"]["truth"] == "" and rows["02"]["tp"] == ""
    assert (f"no ground truth in {ds / '01_GT' / 'SEG'} (not scored): 02 (looked for DIR/<stem>.tif or "
            "<stem>_masks") in text and "DIR/<stem>_GT/SEG/" in text and "<stem>_seg.npy" in text
    # a folder with nothing for any input is refused before any work, saying what it holds and what to give
    other = tmp_path / "other"
    with pytest.raises(InputError, match="No input has ground truth in") as err:
        run_batch(ds, pipeline="motion", out_dir=tmp_path / "res", batch={"scheduler": "sync"}, progress=False,
                  truth=ds / "01")
    assert "the folder holds: t000.tif, t001.tif" in str(err.value) and "Inputs: 01, 02" in str(err.value)
    assert not list((tmp_path / "res").glob("*_labels.tif"))  # nothing segmented
    shutil.copytree(ds / "01_GT", other / "01_GT")  # the ground truth of a sequence, given for another sequence
    with pytest.raises(InputError, match=r"give the dataset folder above it, --truth "):
        run_batch(_movie(ds, "02"), pipeline="motion", out_dir=tmp_path / "res", batch={"scheduler": "sync"},
                  progress=False, truth=other / "01_GT")
    with pytest.raises(InputError, match=r"It is the SEG folder of the sequence 01: .* Give the dataset folder, "
                                         rf"--truth {other}, to score each sequence"):
        run_batch(_movie(ds, "02"), pipeline="motion", out_dir=tmp_path / "res", batch={"scheduler": "sync"},
                  progress=False, truth=other / "01_GT" / "SEG")
    assert not list((tmp_path / "res").glob("*_labels.tif"))


def test_seg_folder_with_no_frame_of_the_movie_is_not_scored(dataset, tmp_path, capsys):
    ds, out = dataset[0], _out(dataset, tmp_path)
    truth = tmp_path / "Fluo-N2DH-SIM+"
    shutil.copytree(ds / "01_GT", truth / "01_GT")
    shutil.copytree(ds / "02_GT", truth / "02_GT")
    seg = truth / "01_GT" / "SEG"
    for f in list(seg.iterdir()):
        f.unlink()
    shutil.copy(ds / "01_GT" / "SEG" / "man_seg005.tif", seg / "man_seg009.tif")  # beyond the 6 frames
    capsys.readouterr()
    assert main(["batch", str(ds), *RUN, "-o", str(out), "--truth", str(truth)]) == 1  # a score asked for is missing
    text = capsys.readouterr().out
    rows = _rows(out)
    assert rows["01"]["tp"] == "" and rows["02"]["tp"] != ""
    assert f"not scored against {seg}: None of the annotated frames of {seg} (9) lies within the 6 frames" in \
        rows["01"]["warnings"]
    assert f"NOT SCORED {ds / '01'} against {seg}: None of the annotated frames" in text
    assert "total of 1 scored input(s)" in text


def test_two_ground_truths_of_one_input_and_bad_options_are_refused(dataset, tmp_path, capsys):
    ds = dataset[0]
    truth = tmp_path / "truth"
    shutil.copytree(ds / "01_GT", truth / "01_GT")
    shutil.copy(ds / "01_GT" / "SEG" / "man_seg000.tif", truth / "01_masks.tif")
    res = tmp_path / "res"
    with pytest.raises(InputError, match=r"The input 01 has 2 ground truths in .*01_masks\.tif, .*01_GT/SEG"):
        run_batch(_movie(ds, "01"), pipeline="motion", out_dir=res, batch={"scheduler": "sync"}, progress=False,
                  truth=truth)
    with pytest.raises(ConfigError, match=r"must lie in \(0, 1\]; got 1.5"):
        run_batch(_movie(ds, "01"), pipeline="motion", out_dir=res, progress=False, truth=ds, truth_threshold=1.5)
    with pytest.raises(ConfigError, match="but no ground truth is given: add --truth DIR"):
        run_batch(_movie(ds, "01"), pipeline="motion", out_dir=res, progress=False, only_annotated=True)
    assert not res.exists() or not list(res.glob("*_labels.tif"))
    capsys.readouterr()
    assert main(["batch", _movie(ds, "01"), *RUN, "-o", str(res), "--truth-threshold", "0.4"]) == 1
    assert "but no ground truth is given: add --truth DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # a usage error, as labelfree eval --threshold 0 is
        main(["batch", _movie(ds, "01"), *RUN, "-o", str(res), "--truth", str(ds), "--truth-threshold", "0"])
    assert stop.value.code == 2
    assert "argument --truth-threshold: the IoU threshold must lie in (0, 1]; got 0.0" in capsys.readouterr().err
