"""Scoring a folder of predictions against a folder of ground truth (``labelfree eval PRED_FOLDER GT_FOLDER``).

Files are paired by stem (:func:`pair_folders`); each pair is scored as one pair is
(:func:`labelfree.metrics.evaluate`), and :func:`pooled_scores` forms the totals as
:func:`~labelfree.metrics.evaluate` forms those of the frames of one stack: counts summed,
ratios taken from the sums.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from labelfree.errors import InputError
from labelfree.io.ctc import seg_frame

__all__ = ["FolderPairs", "holds_ctc_frames", "pair_folders", "pair_annotated_images", "pair_image_folders",
           "prediction_stem", "truth_files", "score_pair", "pixel_counts", "pooled_scores", "PREDICTION_SUFFIX",
           "TRUTH_SUFFIXES"]

log = logging.getLogger(__name__)

#: the suffix of a LabelFree label image; a prediction ``<stem>_labels.tif`` is the prediction of ``<stem>``
PREDICTION_SUFFIX = "_labels"
#: suffixes of annotation files (Cellpose ``_masks``, ``_mask``, ``_labels``, ``_gt``, ``_seg``), any case
TRUTH_SUFFIXES = ("_masks", "_mask", "_labels", "_gt", "_seg")
#: the stem of a Cell Tracking Challenge frame (``t000.tif``): its number pairs it with ``man_seg000.tif``
_CTC_FRAME = re.compile(r"^t(\d+)$")
#: a Cell Tracking Challenge result file (``mask000.tif``, a frame of a RES folder)
_CTC_RESULT = re.compile(r"^mask\d+\.tiff?$")
#: the files of label images in a folder: TIFF, and PNG (8- or 16-bit grey, as Cellpose's ``_masks.png``)
_LABEL_FILES = (".tif", ".tiff", ".png")
#: a NumPy file: ground truth (an annotation) when named with a suffix of :data:`TRUTH_SUFFIXES`, as the Cellpose
#: GUI's ``<stem>_seg.npy`` (:mod:`labelfree.io.cellpose_seg`); never an image, never a prediction
_NPY = ".npy"


@dataclass(frozen=True)
class FolderPairs:
    """The files of a prediction folder and a ground-truth folder, paired by stem.

    ``pairs`` holds ``(stem, prediction, ground truth)`` sorted by stem; ``truth_only`` the ground-truth
    files without a prediction and ``predictions_only`` the predictions without ground truth.
    """

    pairs: list[tuple[str, Path, Path]]
    truth_only: list[Path]
    predictions_only: list[Path]


def _label_files(folder: Path, suffixes: tuple[str, ...] = _LABEL_FILES) -> list[Path]:
    """The files of ``folder`` named with one of ``suffixes`` (any case; default: TIFF and PNG, the label images),
    not hidden ones (the temporary files of a write in progress), sorted."""
    return sorted(f for f in folder.iterdir()
                  if f.name.lower().endswith(suffixes) and not f.name.startswith(".") and f.is_file())


def _annotation_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that can be ground truth: its label images (TIFF, PNG) and its ``.npy`` files named
    as annotations (``<stem>_seg.npy``, as the Cellpose GUI saves them; ``_masks``, ... alike), sorted."""
    npy = [f for f in _label_files(folder, (_NPY,)) if _strip(_base(f), TRUTH_SUFFIXES)[1]]
    return sorted(_label_files(folder) + npy)


def _label_images_first(groups: dict[str, list[Path]], folder: Path) -> dict[str, list[Path]]:
    """``groups`` (files of each stem) where a stem's ``.npy`` annotation is left out when a label image (TIFF,
    PNG) of that stem is there too: the Cellpose GUI saves ``<stem>_seg.npy`` at every save and
    ``<stem>_masks.png`` only when asked to, so the label image is the one exported on purpose (logged)."""
    out = {}
    for stem, fs in groups.items():
        images = [f for f in fs if not f.name.lower().endswith(_NPY)]
        if images and len(images) < len(fs):
            log.info("%s: %s used as the annotation of %r; %s beside it left out (a label image comes before a "
                     ".npy annotation).", folder, ", ".join(f.name for f in images), stem,
                     ", ".join(f.name for f in fs if f not in images))
            fs = images
        out[stem] = fs
    return out


def _image_files(folder: Path) -> list[Path]:
    """The TIFF files and pictures (PNG, JPEG, ...: :mod:`labelfree.io.raster`) of ``folder``, sorted."""
    from labelfree.io.raster import PICTURE_SUFFIXES

    return _label_files(folder, (*_LABEL_FILES, *PICTURE_SUFFIXES))


def _one_each(groups: dict[str, list[Path]], folder: Path, what: str) -> dict[str, Path]:
    """The file of each stem of ``groups``; two files of one stem are an InputError naming them."""
    twice = sorted((stem, fs) for stem, fs in groups.items() if len(fs) > 1)
    if twice:
        stem, fs = twice[0]
        raise InputError(f"{folder} holds {len(fs)} {what} of {stem!r} ({', '.join(f.name for f in fs)}), so "
                         "which one to use is unknown. Keep one of them in the folder (move the others "
                         "elsewhere) and run again.")
    return {stem: fs[0] for stem, fs in groups.items()}


def _base(path: Path) -> str:
    """The name without its ``.tif`` / ``.tiff`` / ``.png`` / ``.npy`` suffix (any case)."""
    name = path.name
    return name[: name.rfind(".")] if name.lower().endswith((*_LABEL_FILES, _NPY)) else name


def prediction_stem(path: Path, /) -> str:
    """The stem of a prediction file: ``a_labels.tif`` -> ``a``, ``a.tif`` -> ``a``."""
    return _strip(_base(Path(path)), (PREDICTION_SUFFIX,))[0]


def _strip(base: str, suffixes: tuple[str, ...]) -> tuple[str, bool]:
    """``base`` without the first of ``suffixes`` it ends with (any case), and whether it had one."""
    low = base.lower()
    for s in suffixes:
        if low.endswith(s) and len(base) > len(s):
            return base[: -len(s)], True
    return base, False


def _by_stem(files: list[Path], suffixes: tuple[str, ...], what: str, folder: Path) -> dict[str, Path]:
    """The file of each stem, a name with one of ``suffixes`` before a bare ``<stem>.tif`` (which is then the
    image itself, as in a Cellpose folder, and left out); two suffixed files of one stem are an error."""
    suffixed: dict[str, list[Path]] = {}
    bare: dict[str, Path] = {}
    for f in files:
        stem, has = _strip(_base(f), suffixes)
        if has:
            suffixed.setdefault(stem, []).append(f)
        else:
            bare[stem] = f
    suffixed = _label_images_first(suffixed, folder)
    twice = {stem: fs for stem, fs in suffixed.items() if len(fs) > 1}
    if twice:
        stem, fs = next(iter(sorted(twice.items())))
        raise InputError(f"{folder} holds {len(fs)} {what} files of the image {stem!r} "
                         f"({', '.join(f.name for f in fs)}), so which one to score is unknown. Keep one of them in "
                         "the folder (move the others elsewhere) and score again.")
    chosen = {stem: fs[0] for stem, fs in suffixed.items()}
    chosen.update({stem: f for stem, f in bare.items() if stem not in chosen})
    return chosen


def _truth_key(stem: str) -> str:
    """The stem a ground-truth stem pairs with: ``man_segNNN`` -> ``#NNN`` (frame number, any digit count)."""
    t = seg_frame(stem + ".tif")
    return stem if t is None else f"#{t}"


def _prediction_key(stem: str) -> str:
    """The key of a prediction stem: ``tNNN`` -> ``#NNN`` when the ground truth is a SEG folder."""
    m = _CTC_FRAME.match(stem)
    return f"#{int(m.group(1))}" if m else stem


def holds_ctc_frames(folder: Path, /) -> bool:
    """Whether ``folder`` holds the frames of a Cell Tracking Challenge SEG or RES folder (``man_segNNN.tif``,
    ``maskNNN.tif``): such a prediction folder is one T stack, scored as a whole, not file by file."""
    return any(seg_frame(f.name) is not None or _CTC_RESULT.match(f.name) for f in folder.iterdir())


def pair_folders(pred_dir: Path, gt_dir: Path, /) -> FolderPairs:
    """Pair the label images (TIFF, PNG) of two folders by stem.

    The rule:

    * prediction: ``<stem>_labels.tif`` (what LabelFree writes; in a folder holding such files only those are
      predictions, the flows and other TIFFs beside them are not) or ``<stem>.tif``;
    * ground truth: ``<stem>_masks.tif``, ``_mask``, ``_labels``, ``_gt``, ``_seg`` (any case) or
      ``<stem>.tif``; a suffixed file comes before the bare ``<stem>.tif`` beside it (which is then the image);
    * Cell Tracking Challenge: ``man_segNNN.tif`` pairs with ``tNNN`` (the name of the frame's image), by frame
      number.

    ``.tiff`` and ``.png`` count as ``.tif``, in any case (a PNG is read as grey labels: Cellpose's
    ``<stem>_masks.png``). Ground truth may also be a Cellpose GUI annotation, ``<stem>_seg.npy`` (a ``.npy``
    named with one of the suffixes above; :func:`labelfree.io.cellpose_seg.read_cellpose_seg`); a label image
    of the same stem beside it comes first. A ``.npy`` is never a prediction. Two files of one stem in one
    folder (``a_masks.tif`` and ``a_mask.tif``) are an :class:`InputError`, and so is a pair of folders
    without one pair.
    """
    pred_files = _label_files(pred_dir)
    labels = [f for f in pred_files if _strip(_base(f), (PREDICTION_SUFFIX,))[1]]
    preds = _by_stem(labels or pred_files, (PREDICTION_SUFFIX,), "prediction", pred_dir)
    truths = _by_stem(_annotation_files(gt_dir), TRUTH_SUFFIXES, "ground-truth", gt_dir)
    ctc = any(_truth_key(s).startswith("#") for s in truths)
    pred_keys = {(_prediction_key(s) if ctc else s): s for s in sorted(preds)}
    pairs, truth_only = [], []
    for stem, gt in sorted(truths.items()):
        p_stem = pred_keys.get(_truth_key(stem))
        if p_stem is None:
            truth_only.append(gt)
        else:
            pairs.append((p_stem, preds[p_stem], gt))
    if not pairs:
        raise InputError(_none_paired(pred_dir, gt_dir, sorted(preds), sorted(truths), ctc))
    paired = {p for _, p, _ in pairs}
    return FolderPairs(sorted(pairs), sorted(truth_only), sorted(p for p in preds.values() if p not in paired))


def truth_files(gt_dir: Path, stems: Iterable[str], /) -> dict[str, Path]:
    """The ground-truth file in ``gt_dir`` of each of ``stems`` (the stems of images), by the rule of
    :func:`pair_folders` for ground truth; stems without one are left out. Two ground-truth files of one stem
    in the folder are an :class:`InputError`, as they are to :func:`pair_folders`."""
    truths = _by_stem(_annotation_files(Path(gt_dir)), TRUTH_SUFFIXES, "ground-truth", Path(gt_dir))
    ctc = any(_truth_key(s).startswith("#") for s in truths)
    by_key = {_truth_key(s): f for s, f in truths.items()}
    found = {stem: by_key.get(_prediction_key(stem) if ctc else stem) for stem in stems}
    return {stem: f for stem, f in found.items() if f is not None}


def pair_annotated_images(folder: Path, /) -> tuple[list[tuple[str, Path, Path]], list[Path]]:
    """Pair the images of one folder with their annotations beside them, as in a Cellpose training folder.

    An annotation is a label image named ``<stem>_masks`` (or ``_mask``, ``_labels``, ``_gt``, ``_seg``, any
    case; ``.tif``, ``.tiff`` or ``.png``, as :func:`pair_folders` reads ground truth), or the Cellpose GUI's
    ``<stem>_seg.npy`` (used when no label image of the stem is there); every other TIFF or picture (PNG, JPEG,
    ...: :mod:`labelfree.io.raster`) is an image, ``<stem>.png`` beside ``<stem>_masks.png``; a ``.npy`` is never
    an image. Returns ``(stem, image, annotation)`` sorted by stem and the images without an
    annotation. Two images or two annotations of one stem, and a folder without one pair, are an
    :class:`InputError`.
    """
    kinds: dict[bool, dict[str, list[Path]]] = {True: {}, False: {}}
    npy = [f for f in _annotation_files(folder) if f.name.lower().endswith(_NPY)]  # never images
    for f in sorted(_image_files(folder) + npy):
        base = f.name[: f.name.rfind(".")]
        stem, is_mask = _strip(base, TRUTH_SUFFIXES)
        is_mask = is_mask and f.name.lower().endswith((*_LABEL_FILES, _NPY))  # a_masks.jpg is no label image
        kinds[is_mask].setdefault(stem if is_mask else base, []).append(f)
    kinds[True] = _label_images_first(kinds[True], folder)
    images, masks = (_one_each(kinds[k], folder, what) for k, what in ((False, "images"), (True, "masks files")))
    pairs = [(stem, images[stem], masks[stem]) for stem in sorted(images) if stem in masks]
    if not pairs:
        raise InputError(f"No image in {folder} has a masks file beside it: images are paired with annotations by "
                         "name, <stem>.png (or .tif, .jpg, ...) with <stem>_masks.png (or _mask, _labels, _gt, _seg; "
                         f".png, .tif or .tiff) or the Cellpose GUI's <stem>_seg.npy, as in a Cellpose training "
                         "folder. Images found: "
                         f"{_names(sorted(images))}; masks files found: {_names(sorted(masks))}. Rename the files "
                         "so that their stems match, or give the image files and their --labels files.")
    return pairs, [images[stem] for stem in sorted(images) if stem not in masks]


def pair_image_folders(image_dir: Path, truth_dir: Path, /) -> tuple[list[tuple[str, Path, Path]], list[Path],
                                                                     list[Path]]:
    """Pair the images of one folder with the ground truth of another, by stem (StarDist's ``images/`` and
    ``masks/``, the Data Science Bowl's exports).

    Every TIFF or picture (PNG, JPEG, ...: :mod:`labelfree.io.raster`) of ``image_dir`` is an image; its ground
    truth in ``truth_dir`` is found by the rule of :func:`pair_folders`: ``<stem>.tif`` (the same name),
    ``<stem>_masks``, ``_mask``, ``_labels``, ``_gt`` or ``_seg`` (any case; ``.tif``, ``.tiff`` or ``.png``;
    ``<stem>_seg.npy``, a Cellpose GUI annotation), and ``man_segNNN.tif`` for the image ``tNNN``. Returns
    ``(stem, image, ground truth)`` sorted by stem, the images without ground truth and the ground-truth files
    without an image. Two images or two ground-truth
    files of one stem, and two folders without one pair, are an :class:`InputError`.
    """
    image_dir, truth_dir = Path(image_dir), Path(truth_dir)
    found: dict[str, list[Path]] = {}
    for f in _image_files(image_dir):
        found.setdefault(f.name[: f.name.rfind(".")], []).append(f)
    images = _one_each(found, image_dir, "images")
    truths = _by_stem(_annotation_files(truth_dir), TRUTH_SUFFIXES, "ground-truth", truth_dir)
    match = truth_files(truth_dir, sorted(images))
    pairs = [(stem, images[stem], match[stem]) for stem in sorted(images) if stem in match]
    if not pairs:
        raise InputError(f"No image in {image_dir} has a label image in {truth_dir}: images are paired with label "
                         "images by name, <stem>.png (or .tif, .jpg, ...) with <stem>.tif, <stem>_masks.tif, _mask, "
                         "_labels, _gt or _seg (.tif, .tiff or .png; Cellpose's <stem>_seg.npy; Cell Tracking "
                         "Challenge tNNN with man_segNNN). "
                         f"Image stems found: {_names(sorted(images))}; label stems found: {_names(sorted(truths))}. "
                         "Rename the files so that their stems match, or give the image files and their --labels "
                         "files.")
    used = {gt for _, _, gt in pairs}
    return (pairs, [images[stem] for stem in sorted(images) if stem not in match],
            [f for _, f in sorted(truths.items()) if f not in used])


def _names(stems: list[str], *, limit: int = 6) -> str:
    if not stems:
        return "none"
    shown = ", ".join(stems[:limit])
    return shown + (f", ... ({len(stems)} in all)" if len(stems) > limit else "")


def _none_paired(pred_dir: Path, gt_dir: Path, preds: list[str], truths: list[str], ctc: bool) -> str:
    text = (f"No prediction in {pred_dir} has ground truth in {gt_dir}: eval pairs files by stem, a prediction "
            f"<stem>_labels.tif or <stem>.tif with ground truth <stem>.tif, <stem>_masks.tif, _mask, _labels, _gt or "
            f"_seg (.tif, .tiff or .png; Cellpose's <stem>_seg.npy; Cell Tracking Challenge man_segNNN.tif with "
            f"tNNN). Prediction stems found: {_names(preds)}; ground-truth stems found: {_names(truths)}.")
    if ctc:
        text += (" To score a T-stack prediction against a SEG folder, give the prediction's file: labelfree eval "
                 f"{pred_dir / (preds[0] + PREDICTION_SUFFIX + '.tif') if preds else 'PRED.tif'} {gt_dir}.")
    else:
        text += " Rename the files so that their stems match, or give one pair of files."
    return text


def score_pair(pred: Any, gt: Any, /, *, threshold: float = 0.5, only_annotated: bool = False
               ) -> tuple[dict[str, Any], tuple[int, int, int], list[str]]:
    """One pair scored as ``labelfree eval PRED GT`` scores it (:func:`labelfree.metrics.evaluate`), its pixel
    counts (as :func:`pixel_counts` counts them, for a pooled total; from the same pass over the frames) and the
    messages of the warnings the scores gave (an empty ground truth, ...), held back for the caller to say with
    the image's name."""
    import warnings

    from labelfree.metrics import _evaluate_counts

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, counts = _evaluate_counts(pred, gt, threshold=threshold, only_annotated=only_annotated)
    return result, counts, [str(w.message) for w in caught]


def pixel_counts(pred: Any, gt: Any, /, *, only_annotated: bool = False) -> tuple[int, int, int]:
    """Foreground pixel TP, FP and FN of ``pred`` against ``gt``, summed over the frames
    :func:`labelfree.metrics.evaluate` scores (``only_annotated``: as it counts them)."""
    from labelfree.metrics import _pixel_totals

    return _pixel_totals(pred, gt, only_annotated=only_annotated)


def pooled_scores(results: list[dict[str, Any]], pixels: list[tuple[int, int, int]], /) -> dict[str, Any]:
    """The totals of several images' :func:`~labelfree.metrics.evaluate` results, as it forms those of a stack.

    Object TP, FP and FN are summed over the images, and precision, recall, F1 and average precision
    (TP / (TP + FP + FN)) taken from the sums; the pixel scores come from the pixel counts (``pixels``, one
    ``(tp, fp, fn)`` per image, from :func:`pixel_counts`) summed; mean IoU is the mean over all matches
    (each image's mean weighted by its TP) and SEG the mean over all ground-truth objects (weighted by
    TP + FN). The aggregated Jaccard index is left out: it needs each image's intersections and unions.
    """
    from labelfree.metrics import _object_from_counts, _pixel_from_counts, _ratio

    tp, fp, fn = (sum(int(r[k]) for r in results) for k in ("tp", "fp", "fn"))
    ptp, pfp, pfn = (sum(c[i] for c in pixels) for i in range(3))
    matched = [(r["mean_iou"], r["tp"]) for r in results if r["tp"]]
    objects = [(r["seg"], r["tp"] + r["fn"]) for r in results if r["tp"] + r["fn"]]
    return {
        **{f"pixel_{k}": v for k, v in _pixel_from_counts(ptp, pfp, pfn).items()},
        **_object_from_counts(tp, fp, fn, []),
        "mean_iou": _ratio(sum(v * n for v, n in matched), sum(n for _, n in matched)),
        "average_precision": _ratio(tp, tp + fp + fn),
        "seg": _ratio(sum(v * n for v, n in objects), sum(n for _, n in objects)),
        "pixel_tp": ptp,
        "pixel_fp": pfp,
        "pixel_fn": pfn,
        "n_images": len(results),
        "n_frames": sum(int(r["n_frames"]) for r in results),
    }
