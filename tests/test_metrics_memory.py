"""Scoring big label stacks lean: every score equal, bit for bit, to a straightforward dense reference (an
(n_gt, n_pred) intersection table per frame, matched by one assignment over the whole table), on every path
(2-D, T stacks, volumes, DataArrays, masks, huge and float labels); and the memory it needs bounded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment
from traced_memory import traced_peak

from labelfree import metrics as M
from labelfree.evaluation.folders import pixel_counts, score_pair

# ---------------------------------------------------------------------------------------------------------------
# the reference: each frame scored from its full (n_gt, n_pred) table, as the scores are defined


def _ref_table(p: np.ndarray, g: np.ndarray):
    p, g = p.astype(np.int64).ravel(), g.astype(np.int64).ravel()
    gt_ids, pr_ids = np.unique(g[g > 0]), np.unique(p[p > 0])
    ga = np.array([np.count_nonzero(g == i) for i in gt_ids], np.int64)
    pa = np.array([np.count_nonzero(p == i) for i in pr_ids], np.int64)
    inter = np.zeros((len(gt_ids), len(pr_ids)), np.int64)
    for r, i in enumerate(gt_ids):
        under = p[g == i]
        for c, j in enumerate(pr_ids):
            inter[r, c] = np.count_nonzero(under == j)
    union = ga[:, None] + pa[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return gt_ids, pr_ids, ga, pa, inter, iou


def _ref_frame(p: np.ndarray, g: np.ndarray, threshold: float, only_annotated: bool) -> dict:
    p, g = np.asarray(p).astype(np.int64), np.asarray(g).astype(np.int64)
    if only_annotated:
        p = np.where(np.isin(p, p[(g > 0) & (p > 0)]), p, 0)
    gt_ids, pr_ids, ga, pa, inter, iou = _ref_table(p, g)
    tp_px = int(np.count_nonzero((p > 0) & (g > 0)))
    matches: list[float] = []
    if iou.size:
        score = np.where(iou >= threshold, iou, -1.0)
        rows, cols = linear_sum_assignment(-score)
        matches = [float(iou[r, c]) for r, c in zip(rows, cols) if iou[r, c] >= threshold]
    c = u = 0
    used = np.zeros(len(pr_ids), bool)
    for r in range(len(gt_ids)):
        if not len(pr_ids) or iou[r].max() == 0:
            u += int(ga[r])
            continue
        j = int(np.argmax(iou[r]))
        c, u = c + int(inter[r, j]), u + int(ga[r] + pa[j] - inter[r, j])
        used[j] = True
    u += int(pa[~used].sum())
    seg = []
    for r in range(len(gt_ids)):
        j = int(np.argmax(inter[r])) if len(pr_ids) else -1
        seg.append(inter[r, j] / (ga[r] + pa[j] - inter[r, j]) if j >= 0 and inter[r, j] > 0.5 * ga[r] else 0.0)
    return {"px": (tp_px, int(np.count_nonzero(p)) - tp_px, int(np.count_nonzero(g)) - tp_px),
            "ob": (len(matches), len(pr_ids) - len(matches), len(gt_ids) - len(matches)), "ious": matches,
            "aji": (c, u), "seg": seg}


def _ratio(a, b):
    return float(a) / float(b) if b else float("nan")


def _ref_evaluate(frames, threshold=0.5, only_annotated=False) -> dict:
    done = [_ref_frame(p, g, threshold, only_annotated) for p, g in frames]
    tp, fp, fn = (sum(d["ob"][i] for d in done) for i in range(3))
    ptp, pfp, pfn = (sum(d["px"][i] for d in done) for i in range(3))
    ious = [v for d in done for v in d["ious"]]
    seg = [v for d in done for v in d["seg"]]
    return {
        "pixel_precision": _ratio(ptp, ptp + pfp), "pixel_recall": _ratio(ptp, ptp + pfn),
        "pixel_f1": _ratio(2 * ptp, 2 * ptp + pfp + pfn), "pixel_jaccard": _ratio(ptp, ptp + pfp + pfn),
        "tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn), "mean_iou": float(np.mean(ious)) if ious else float("nan"),
        "threshold": threshold, "average_precision": _ratio(tp, tp + fp + fn),
        "aji": _ratio(sum(d["aji"][0] for d in done), sum(d["aji"][1] for d in done)),
        "seg": float(np.mean(seg)) if seg else float("nan"), "n_frames": len(frames),
        "pixels": (ptp, pfp, pfn),
    }


def _same(a, b) -> bool:
    """Equal bit for bit (nan equal to nan), and both integers or both floats."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, float) and isinstance(b, float) and (
            (math.isnan(a) and math.isnan(b)) or np.float64(a).tobytes() == np.float64(b).tobytes())
    return type(a) is type(b) and a == b


def _assert_same(result: dict, expected: dict) -> None:
    expected = {k: v for k, v in expected.items() if k != "pixels"}
    assert set(result) == set(expected)
    wrong = {k: (result[k], expected[k]) for k in expected if not _same(result[k], expected[k])}
    assert not wrong, wrong


# ---------------------------------------------------------------------------------------------------------------
# inputs: Voronoi cells with gaps, predictions shifted, merged, split, missed and added


def _cells(shape, n, rng) -> np.ndarray:
    seeds = tuple(rng.integers(0, s, n) for s in shape)
    lab = np.zeros(shape, np.int64)
    lab[seeds] = np.arange(1, n + 1)
    _, ind = ndi.distance_transform_edt(lab == 0, return_indices=True)
    out = lab[tuple(ind)]
    out[ndi.maximum_filter(out, 3) != ndi.minimum_filter(out, 3)] = 0
    out[..., :4, :] = 0  # a band of background (where _predicted puts a false positive)
    return out


def _predicted(gt: np.ndarray, rng, shift: int) -> np.ndarray:
    pred = np.roll(gt, (shift, -shift), axis=(-2, -1)).copy()
    ids = np.unique(gt[gt > 0])
    if len(ids) > 4:
        a, b, c, d = rng.choice(ids, 4, replace=False)
        pred[pred == b] = a  # merged
        pred[pred == c] = 0  # missed
        half = (pred == d) & (np.indices(pred.shape)[-1] % 2 == 0)
        pred[half] = ids.max() + 7  # split in two interleaved halves
    pred[..., :3, :3] = ids.max() + 11 if len(ids) else 5  # a false positive
    return pred


def _pairs(seed: int):
    """(name, pred, gt) label images of varied shapes (2-D, T stacks, T-Z stacks)."""
    rng = np.random.default_rng(seed)
    g2 = _cells((40, 52), 14, rng)
    yield "2-D", _predicted(g2, rng, 2), g2
    g3 = np.stack([_cells((30, 36), 9, rng) for _ in range(3)])
    g3[1] = 0  # a frame without annotation
    yield "TYX", _predicted(g3, rng, 3), g3
    g4 = _cells((2, 4, 24, 28), 10, rng)
    yield "TZYX", _predicted(g4, rng, 1), g4


def _exact_half() -> tuple[np.ndarray, np.ndarray]:
    """A ground-truth object split into two predicted halves: both have IoU exactly 0.5 (a tie at 0.5), and a
    predicted object that is two ground-truth halves."""
    gt = np.zeros((12, 20), np.uint16)
    gt[1:5, 1:9] = 1
    gt[6:10, 1:5], gt[6:10, 5:9] = 2, 3
    pred = np.zeros_like(gt)
    pred[1:5, 1:5], pred[1:5, 5:9] = 4, 5
    pred[6:10, 1:9] = 6
    pred[1:11, 12:18] = 7  # a false positive
    return pred, gt


def _as(a: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """``a`` (labels) in another dtype: huge label values, float, signed, a mask."""
    if kind == "huge":  # label values far beyond 2**24 and 2**32
        values = np.random.default_rng(seed).choice(2**52, int(a.max()) + 1, replace=False).astype(np.uint64) + 1
        values[0] = 0
        return values[a]
    if kind == "mask":
        return a > 0
    return a.astype(kind)


KINDS = ["uint8", "uint16", "uint32", "int32", "int64", "uint64", "float32", "float64", "huge", "mask"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_score_of_evaluate_equals_the_dense_reference(kind, seed):
    for name, pred, gt in _pairs(seed):
        p, g = _as(pred, kind, seed), _as(gt, kind, seed)
        frames = list(zip(p, g)) if p.ndim > 2 else [(p, g)]
        for threshold in (0.3, 0.5, 0.75):
            for only_annotated in (False, True):
                r = M.evaluate(p, g, threshold=threshold, only_annotated=only_annotated)
                _assert_same(r, _ref_evaluate(frames, threshold, only_annotated))


def test_low_thresholds_match_as_one_assignment_over_the_whole_table():
    """Objects that overlap several others: at low thresholds groups of candidate pairs compete."""
    rng = np.random.default_rng(5)
    gt = _cells((60, 60), 40, rng)
    pred = np.roll(_cells((60, 60), 55, rng), 1, axis=0)
    for threshold in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
        r = M.evaluate(pred, gt, threshold=threshold)
        _assert_same(r, _ref_evaluate([(pred, gt)], threshold))
        s = M.object_scores(pred, gt, threshold=threshold)
        assert all(_same(s[k], r[k]) for k in ("tp", "fp", "fn", "precision", "recall", "f1", "mean_iou"))


def test_ties_at_exactly_half_score_as_the_reference():
    pred, gt = _exact_half()
    for threshold in (0.25, 0.5, 0.6):
        r = M.evaluate(pred, gt, threshold=threshold)
        _assert_same(r, _ref_evaluate([(pred, gt)], threshold))
    r = M.evaluate(pred, gt)
    assert (r["tp"], r["fp"], r["fn"], r["mean_iou"]) == (2, 2, 1, 0.5)


def test_dataarray_volumes_and_axis_orders_score_as_the_reference():
    rng = np.random.default_rng(3)
    gt = _cells((2, 5, 22, 26), 12, rng).astype(np.uint16)
    pred = _predicted(gt, rng, 1).astype(np.uint16)
    # (T, Z, Y, X) DataArrays: one volume per time point
    r = M.evaluate(xr.DataArray(pred, dims=("T", "Z", "Y", "X")), xr.DataArray(gt, dims=("T", "Z", "Y", "X")))
    _assert_same(r, _ref_evaluate(list(zip(pred, gt))))
    # a (Z, Y, X) volume given with its axes in another order (a non-contiguous view), beside an array
    vol_p, vol_g = pred[1], gt[1]
    yxz = xr.DataArray(vol_p.transpose(1, 2, 0), dims=("Y", "X", "Z"))
    r = M.evaluate(yxz, xr.DataArray(vol_g, dims=("Z", "Y", "X")), threshold=0.3, only_annotated=True)
    _assert_same(r, _ref_evaluate([(vol_p, vol_g)], 0.3, True))
    r = M.evaluate(yxz, xr.DataArray(vol_g, dims=("Z", "Y", "X")), threshold=0.3)
    _assert_same(r, _ref_evaluate([(vol_p, vol_g)], 0.3, False))
    assert M.aggregated_jaccard_index(yxz, xr.DataArray(vol_g, dims=("Z", "Y", "X"))) == r["aji"]
    assert M.seg_score(yxz, xr.DataArray(vol_g, dims=("Z", "Y", "X"))) == r["seg"]
    # a T stack with frames last (X, Y, T): frames are scored in T order
    txy = xr.DataArray(pred[:, 2].transpose(2, 1, 0), dims=("X", "Y", "T"))
    r = M.evaluate(txy, xr.DataArray(gt[:, 2], dims=("T", "Y", "X")))
    _assert_same(r, _ref_evaluate(list(zip(pred[:, 2], gt[:, 2]))))


@pytest.mark.parametrize("block", [1, 7, 100, 1 << 22])
def test_frames_read_in_blocks_of_any_size_score_the_same(monkeypatch, block):
    """A frame is read in blocks of rows (non-contiguous views a block of rows at a time): the blocks' boundaries
    cut runs of pixels and objects, and change nothing."""
    monkeypatch.setattr(M, "_BLOCK", block, raising=False)
    rng = np.random.default_rng(9)
    gt = _cells((3, 30, 34), 12, rng).astype(np.uint32)
    pred = _predicted(gt, rng, 2).astype(np.uint32)
    expected = _ref_evaluate(list(zip(pred, gt)), 0.5, True)
    _assert_same(M.evaluate(pred, gt, only_annotated=True), expected)
    wide = np.zeros((3, 30, 68), np.uint32)  # every other column: a non-contiguous view of each frame
    wide[..., ::2] = pred
    _assert_same(M.evaluate(wide[..., ::2], gt, only_annotated=True), expected)


def test_iou_matrix_match_objects_and_single_scores_equal_the_reference():
    rng = np.random.default_rng(11)
    gt = _cells((36, 40), 12, rng)
    pred = _predicted(gt, rng, 2)
    for kind in ("uint16", "huge", "float32"):
        p, g = _as(pred, kind), _as(gt, kind)
        gt_ids, pr_ids, _, _, _, iou = _ref_table(p, g)
        got, got_g, got_p = M.iou_matrix(p, g)
        assert got.tobytes() == iou.tobytes() and got_g.tolist() == gt_ids.tolist() and got_p.tolist() == \
            pr_ids.tolist()
        assert got_g.dtype == got_p.dtype == np.int64
        ref = _ref_evaluate([(p, g)])
        matches = M.match_objects(p, g)
        assert len(matches) == ref["tp"] and [m[2] for m in matches] == _ref_frame(p, g, 0.5, False)["ious"]
        assert M.aggregated_jaccard_index(p, g) == ref["aji"] and M.seg_score(p, g) == ref["seg"]
        assert M.average_precision(p, g) == ref["average_precision"]
        pixels = M.pixel_scores(p, g)
        assert [pixels[k] for k in ("precision", "recall", "f1", "jaccard")] == \
            [ref[f"pixel_{k}"] for k in ("precision", "recall", "f1", "jaccard")]


def test_a_folder_pairs_scores_and_pixel_counts_come_from_one_pass():
    rng = np.random.default_rng(2)
    gt = _cells((4, 28, 30), 8, rng).astype(np.uint16)
    pred = _predicted(gt, rng, 2).astype(np.uint16)
    for only_annotated in (False, True):
        expected = _ref_evaluate(list(zip(pred, gt)), 0.5, only_annotated)
        result, counts, messages = score_pair(pred, gt, only_annotated=only_annotated)
        _assert_same(result, expected)
        assert counts == pixel_counts(pred, gt, only_annotated=only_annotated) == expected["pixels"]
        assert messages == []
    _, counts, messages = score_pair(pred, np.zeros_like(gt))
    assert counts == (0, int(np.count_nonzero(pred)), 0) and "no objects in the 4 scored frames" in messages[0]


def test_label_values_that_are_not_labels_are_refused_as_before():
    gt = np.zeros((6, 6), np.int32)
    gt[1:3, 1:3] = 1
    with pytest.raises(M.InputError, match="holds label values from -2 to 1"):
        M.evaluate(gt - 2 * (gt == 0), gt)
    with pytest.raises(M.DTypeError, match="ground truth must be an integer label image"):
        M.evaluate(gt, gt + 0.5)
    with pytest.raises(M.InputError, match="label values from 0 to 18446744073709551615"):
        M.evaluate(np.where(gt > 0, np.uint64(2**64 - 1), np.uint64(0)), gt)


# ---------------------------------------------------------------------------------------------------------------
# memory


def _peak(fn, *args, **kwargs) -> int:
    return traced_peak(fn, *args, **kwargs)[1]


#: the most memory scoring may take beyond the two label images, as a multiple of their size (the version
#: before took 4 to 9 times it: int64 copies of both, tables, masks and one (n_gt, n_pred) table per score)
PEAK_OF_DATA = 0.5


@pytest.fixture(scope="module")
def big_stack():
    rng = np.random.default_rng(0)
    gt = np.stack([_cells((256, 256), 150, rng) for _ in range(12)]).astype(np.uint16)
    return _predicted(gt, rng, 2).astype(np.uint16), gt


def test_scoring_a_stack_takes_a_fraction_of_the_label_images_memory(big_stack):
    pred, gt = big_stack
    data = pred.nbytes + gt.nbytes
    for only_annotated in (False, True):
        peak = _peak(M.evaluate, pred, gt, only_annotated=only_annotated)
        assert peak < PEAK_OF_DATA * data, f"evaluate took {peak / data:.2f} times the data"
    peak = _peak(score_pair, pred, gt)
    assert peak < PEAK_OF_DATA * data, f"score_pair took {peak / data:.2f} times the data"
    for score in (M.object_scores, M.aggregated_jaccard_index, M.seg_score):
        peak = _peak(score, pred, gt)
        assert peak < PEAK_OF_DATA * data, f"{score.__name__} took {peak / data:.2f} times the data"


def test_scoring_one_big_image_takes_a_fraction_of_its_memory():
    rng = np.random.default_rng(1)
    gt = _cells((2048, 2048), 2000, rng).astype(np.uint32)
    pred = _predicted(gt, rng, 3).astype(np.uint32)
    data = pred.nbytes + gt.nbytes
    peak = _peak(M.evaluate, pred, gt)
    assert peak < PEAK_OF_DATA * data, f"evaluate took {peak / data:.2f} times the data"
    peak = _peak(M.label_image_problems, gt)
    assert peak < 0.75 * gt.nbytes, f"label_image_problems took {peak / gt.nbytes:.2f} times the image"


def test_checking_a_stack_for_label_problems_takes_a_fraction_of_its_memory(big_stack):
    pred, _ = big_stack
    assert M.label_image_problems(pred) == []
    peak = _peak(M.label_image_problems, pred)
    assert peak < 0.25 * pred.nbytes, f"label_image_problems took {peak / pred.nbytes:.2f} times the stack"


@pytest.mark.parametrize("block", [5, 1 << 20])
def test_label_problems_count_the_values_of_every_plane(monkeypatch, block):
    """The values are gathered plane by plane (block by block), not by sorting a copy of the stack: the sentences
    name the same range and number of values as np.unique of the whole stack."""
    monkeypatch.setattr(M, "_BLOCK", block, raising=False)
    rng = np.random.default_rng(4)
    grey = rng.integers(3, 5000, (3, 20, 30)).astype(np.uint16)  # an intensity image: no background
    values = np.unique(grey)
    problems = M.label_image_problems(grey, name="img.tif")
    assert f"(values {values[0]}..{values[-1]}, {len(values)} different)" in problems[0]
    labels = _cells((3, 40, 50), 12, rng).astype(np.uint16)
    grey = np.where(labels > 0, rng.integers(1, 200, labels.shape), 0).astype(np.uint16)  # with some background
    assert f"({len(np.unique(grey))} different values)" in M.label_image_problems(grey)[0]
    assert M.label_image_problems(labels) == []


def test_consecutive_annotated_frames_of_a_seg_folder_are_a_view_of_the_prediction(tmp_path):
    """Scoring against a SEG folder that annotates a run of frames takes no copy of the prediction's frames."""
    import tifffile

    from labelfree.evaluation.seg_frames import pair_seg_frames

    rng = np.random.default_rng(6)
    pred = _cells((6, 20, 24), 5, rng).astype(np.uint16)
    for t in (2, 3, 4):
        tifffile.imwrite(tmp_path / f"man_seg{t:03d}.tif", pred[t])
    picked, gt, scored, left_out = pair_seg_frames(pred, tmp_path)
    assert scored == [2, 3, 4] and left_out == [] and np.shares_memory(picked, pred)
    assert np.array_equal(picked, pred[2:5]) and np.array_equal(gt, pred[2:5])
    (tmp_path / "man_seg003.tif").unlink()  # frames 2 and 4: picked (a copy)
    picked, gt, scored, _ = pair_seg_frames(pred, tmp_path)
    assert scored == [2, 4] and np.array_equal(picked, pred[[2, 4]]) and np.array_equal(gt, pred[[2, 4]])
