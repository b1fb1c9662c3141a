"""Scoring a movie against a Cell Tracking Challenge SEG folder: its annotated frames (``man_segNNN.tif``) paired
with the movie's frames by number, as ``labelfree eval LABELS SEG_FOLDER`` and ``labelfree batch --truth`` score it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelfree.errors import InputError
from labelfree.image import number_runs
from labelfree.io import read_labels
from labelfree.io.ctc import seg_frame

__all__ = ["frames_text", "pair_seg_frames"]


def frames_text(frames: list[int], /, *, limit: int = 12) -> str:
    """``[0, 1, 2, 3, 5, 7]`` -> ``"0-3, 5, 7"`` (at most ``limit`` items, then the count)."""
    items = number_runs(frames)
    if len(items) > limit:
        items = items[:limit] + [f"... ({len(frames)} frames)"]
    return ", ".join(items)


def _seg_files(seg_dir: Path) -> dict[int, Path]:
    files = {}
    for f in seg_dir.iterdir():
        t = seg_frame(f.name)
        if t is not None and f.is_file():
            files[t] = f
    if not files:
        slices = sorted(seg_dir.glob("man_seg*_*.tif*"))
        hint = (" It holds only annotated slices of 3-D data (man_seg_TTT_ZZZ.tif), which eval does not score."
                if slices else "")
        raise InputError(f"{seg_dir} holds no man_segNNN.tif files (Cell Tracking Challenge SEG layout).{hint}")
    return dict(sorted(files.items()))


def _refuse_planes_as_frames(shape: tuple[int, ...], pred_name: str, pred_path: Path | str | None, seg_dir: Path,
                             numbers: list[int], first_name: str, first_shape: tuple[int, ...], /) -> None:
    """Raise InputError when the prediction's file records its first axis (the one taken as frames) as Z."""
    from labelfree.evaluation.volumes import label_axes

    if pred_path is None:
        pred_path = Path(pred_name)
        if not pred_path.is_file():
            return
    axes = label_axes(Path(pred_path), tuple(shape))
    if not axes or next(iter(axes)) != "Z":
        return
    said = ", ".join(f"{d}={n}" for d, n in axes.items())
    raise InputError(
        f"{pred_name} is a z-stack (its file records the axes {said}), but {seg_dir} holds {len(numbers)} 2-D "
        f"annotated frame(s) ({frames_text(numbers)}; {first_name} has shape {first_shape}), one per time point: "
        "the prediction's Z planes would be scored as time points. "
        "Give a SEG folder of (Z, Y, X) volumes (man_segTTT.tif, one per time point) to score the z-stack as "
        "volumes, or a 2-D prediction of the annotated plane (Fiji: Image > Duplicate... with one slice; "
        "Python: read_image(path).isel(Z=k))."
    )


def pair_seg_frames(pred: np.ndarray, seg_dir: Path, /, *, pred_name: str = "the prediction",
                    pred_path: Path | str | None = None) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """The prediction's frames and the ground truth of a CTC SEG folder, paired by frame number.

    Frame t of a (T, Y, X) prediction is scored against ``man_segTTT.tif``; annotated
    frames beyond the prediction's last are left out. A single-frame prediction needs a
    folder with one annotated frame (else: pass that frame's file). Shapes are checked
    first, so a prediction of another dataset is a shape error, not a frame-count one.
    A prediction whose file records Z planes where frames are taken (a (Z, Y, X) z-stack against a
    folder of 2-D frames) is refused: its planes are not time points. ``pred_path`` is the
    prediction's file, read for its recorded axes; without it, ``pred_name`` is taken as that
    file when it names one.

    Returns
    -------
    pred, gt : (N, Y, X) stacks of the scored frames
    scored, left_out : the ground-truth frame numbers scored, and those beyond the prediction
    """
    files = _seg_files(seg_dir)
    numbers = list(files)
    first = read_labels(files[numbers[0]])
    if pred.ndim == first.ndim + 1:
        _refuse_planes_as_frames(pred.shape, pred_name, pred_path, seg_dir, numbers, files[numbers[0]].name,
                                 first.shape)
    single = pred.ndim == first.ndim
    frame_shape = pred.shape if single else pred.shape[1:]
    if pred.ndim not in (first.ndim, first.ndim + 1) or frame_shape != first.shape:
        raise InputError(
            f"The prediction has {'shape' if single else 'frames of shape'} {frame_shape} but the ground truth "
            f"{files[numbers[0]].name} in {seg_dir} has shape {first.shape}; they must match. Is it the same "
            "dataset and sequence?"
        )
    if single:
        if len(files) != 1:
            raise InputError(
                f"{pred_name} is a single frame, but {seg_dir} holds {len(files)} annotated frames "
                f"({frames_text(numbers)}), so which one it shows is unknown. Pass that frame's file, e.g. "
                f"labelfree eval {pred_name} {files[numbers[0]]}, or give the prediction of the whole sequence as "
                "a T stack (its frame t is scored against man_segTTT.tif)."
            )
        return pred[None], first[None], numbers, []
    n = pred.shape[0]
    scored = [t for t in numbers if t < n]
    left_out = [t for t in numbers if t >= n]
    if not scored:
        raise InputError(
            f"None of the annotated frames of {seg_dir} ({frames_text(numbers)}) lies within the {n} frames of "
            f"{pred_name} (0-{n - 1}; a stack's frame t is scored against man_segTTT.tif). Give the prediction of "
            f"the whole sequence (at least {numbers[0] + 1} frames), or score one frame: save it alone and pass its "
            f"file, e.g. {files[numbers[0]]}."
        )
    gts = []
    for t in scored:
        gt = first if t == numbers[0] else read_labels(files[t])
        if gt.shape != first.shape:
            raise InputError(f"{files[t]} has shape {gt.shape} but {files[numbers[0]].name} {first.shape}; the "
                             "frames of one SEG folder must have one shape.")
        gts.append(gt)
    run = scored == list(range(scored[0], scored[-1] + 1))  # consecutive frames: a view, not a copy of them
    return (pred[scored[0]:scored[-1] + 1] if run else pred[scored]), np.stack(gts), scored, left_out
