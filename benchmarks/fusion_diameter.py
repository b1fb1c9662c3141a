"""Fusion's automatic diameter on objects smaller and larger than the model was trained on.

Channels are **built** from the Cell Tracking Challenge Fluo-N2DH-SIM+ sequence 01 as in
``fusion_accuracy.py`` (3 channels: real frame x per-nucleus expression level x patchy
texture + noise), at several zooms of the original frames. One multi-channel network
(widths 8-16-32-64, 64 px crops at diam_mean 15) is trained from scratch on frames 0, 4,
..., 44 at zoom 0.5 (nuclei ~24 px, as in ``fusion_accuracy.py``), with early stopping on
frames 2, 14, 26, 38; the test frames (48, 52, 56, 60) are built at zooms 0.25 to 1.0, so
their nuclei are 0.5 to 2 times the training size. The texture grain follows the zoom.

Per zoom, object F1@0.5 (counts pooled over the test frames) of Flow Averaging with:

* ``training``: the models' training diameter (the default before the diameter became automatic);
* ``right``: the mean equivalent diameter of the frame's ground truth (an oracle);
* ``first pass``: segment at the training diameter, take the median mask diameter, and
  segment again at it when it differs by more than 25 % (cellpose's second step);
* ``auto``: ``diameter=0``, LabelFree's scale search (:mod:`labelfree.fusion.diameter`),
  which scores each diameter by the foreground coverage of the kept masks;
* ``auto, n x coverage``: the same search scoring by the number of kept masks times their
  coverage (a score that was dropped: see the second table).

A second table runs the same rules on the Fusion demo's synthetic touching cells (3
non-structural labels, cells 1.26x the training size, the demo's tiny model trained on
8 synthetic images of the same kind; ``labelfree.fusion.demo``).

Run: ``python3 benchmarks/fusion_diameter.py`` (``--model FILE`` reuses a trained network,
``--save-model FILE`` keeps the one trained).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from fusion_accuracy import DATA, TRAIN, VAL, build_channels

TEST = [48, 52, 56, 60]


def load(frames: list[int], *, zoom: float, k: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    import cv2
    import tifffile

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for t in frames:
        frame = tifffile.imread(DATA / f"t{t:03d}.tif")
        lab = tifffile.imread(DATA.parent / "01_GT" / "SEG" / f"man_seg{t:03d}.tif")
        size = (round(frame.shape[1] * zoom), round(frame.shape[0] * zoom))
        frame = cv2.resize(frame.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        lab = cv2.resize(lab.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int32)
        images.append(build_channels(frame, lab, k=k, rng=rng, grain=3.0 * zoom / 0.5))
        labels.append(lab)
    return images, labels


def mean_diameter(labels: np.ndarray) -> float:
    ids, counts = np.unique(labels, return_counts=True)
    return float(np.mean(2 * np.sqrt(counts[ids > 0] / np.pi)))


def compare(images, truths, models, d0) -> tuple[dict[str, float], list[float], float, float]:
    """F1 of every rule, auto diameter / right diameter per image, mean seconds fixed / auto."""
    import labelfree.fusion.diameter as diameter
    from labelfree.fusion import segment
    from labelfree.fusion.diameter import median_diameter
    from labelfree.fusion.evaluation import score_predictions

    original = diameter.coverage

    def count_times_coverage(labels, cellprob, *, cellprob_threshold=0.0):
        return len(np.unique(labels[labels > 0])) * original(labels, cellprob, cellprob_threshold=cellprob_threshold)

    preds: dict[str, list[np.ndarray]] = {k: [] for k in ("training", "right", "first pass", "auto", "auto n x cov")}
    ratios, t_fixed, t_auto = [], [], []
    for img, truth in zip(images, truths):
        right = mean_diameter(truth)
        t = time.perf_counter()
        at_training = segment(img, models=models, config={"diameter": d0}).values
        t_fixed.append(time.perf_counter() - t)
        preds["training"].append(at_training)
        preds["right"].append(segment(img, models=models, config={"diameter": right}).values)
        measured = median_diameter(at_training) or d0
        again = abs(math.log(measured / d0)) > math.log(1.25)
        preds["first pass"].append(segment(img, models=models, config={"diameter": measured}).values if again
                                   else at_training)
        t = time.perf_counter()
        auto = segment(img, models=models)
        t_auto.append(time.perf_counter() - t)
        preds["auto"].append(auto.values)
        ratios.append(auto.attrs["labelfree"]["diameter"] / right)
        diameter.coverage = count_times_coverage  # the dropped score, in the same search
        try:
            preds["auto n x cov"].append(segment(img, models=models).values)
        finally:
            diameter.coverage = original
    f1 = {k: score_predictions(v, truths)["f1"] for k, v in preds.items()}
    return f1, ratios, float(np.mean(t_fixed)), float(np.mean(t_auto))


HEAD = ("| F1 training diameter | F1 right diameter | F1 first pass | F1 auto | F1 auto, n x coverage "
        "| auto diameter / right | s per image fixed / auto |")


def row(f1, ratios, t_fixed, t_auto) -> str:
    return (f"| {f1['training']:.3f} | {f1['right']:.3f} | {f1['first pass']:.3f} | **{f1['auto']:.3f}** "
            f"| {f1['auto n x cov']:.3f} | {np.min(ratios):.2f}-{np.max(ratios):.2f} | {t_fixed:.1f} / {t_auto:.1f} |")


def main(argv: list[str] | None = None) -> int:
    import torch

    from labelfree.fusion import finetune, load_model, save_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zooms", type=float, nargs="+", default=[0.25, 0.35, 0.5, 0.75, 1.0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--model", type=Path, help="reuse this trained network instead of training")
    parser.add_argument("--save-model", type=Path, help="save the trained network here")
    parser.add_argument("--no-demo", action="store_true", help="skip the table of the Fusion demo's sample")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return 0
    torch.set_num_threads(1)
    if args.model:
        model = load_model(args.model, device="cpu")
    else:
        cfg = dict(nbase=(8, 16, 32, 64), diam_mean=15.0, crop_size=64, batch_size=8, samples_per_epoch=16,
                   learning_rate=0.01, n_epochs=args.epochs, patience=50, seed=0)
        t0 = time.perf_counter()
        result = finetune(*load(TRAIN, zoom=0.5, k=3, seed=0), channels=[0, 1, 2],
                          validation=load(VAL, zoom=0.5, k=3, seed=1), config=cfg, device="cpu")
        print(f"trained in {time.perf_counter() - t0:.0f} s ({result.history.epochs_run} epochs)")
        model = result.model
        if args.save_model:
            save_model(model, args.save_model)
    d0 = model.diam_labels
    models = {f"C{c}": model for c in range(3)}
    print(f"training diameter {d0:.1f} px; test frames {TEST}\n")
    print("| zoom | nuclei vs training " + HEAD)
    print("|---" * 9 + "|")
    for zoom in args.zooms:
        images, truths = load(TEST, zoom=zoom, k=3, seed=2)
        size = np.mean([mean_diameter(t) for t in truths]) / d0
        print(f"| {zoom} | {size:.2f}x " + row(*compare(images, truths, models, d0)), flush=True)
    if not args.no_demo:
        from labelfree.fusion.demo import fusion_demo
        from labelfree.fusion.zoo import ModelZoo

        demo = fusion_demo()
        zoo = ModelZoo(demo.inputs["zoo"])
        net = zoo.load(zoo.entries()[0], device="cpu")
        names = list(demo.image.coords["C"].values)
        truth = np.asarray(demo.truth)
        print(f"\nFusion demo sample: {int(truth.max())} touching cells, "
              f"{mean_diameter(truth) / net.diam_labels:.2f}x the training size\n")
        print(HEAD + "\n" + "|---" * 7 + "|")
        print(row(*compare([demo.image], [truth], {c: net for c in names}, net.diam_labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
