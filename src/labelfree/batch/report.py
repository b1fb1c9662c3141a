"""What a batch run tells a person: the end-of-run text, the exit code and ``report.html``.

``report.html`` (beside the summary CSV) shows every input as a row, failures first:
a thumbnail of its first plane with the objects' outlines (:mod:`labelfree.overlay`),
status, object count, frames, time, worker and the error or warnings; above the rows,
the counts by status, the run (:func:`labelfree.batch.report_run.run_section`: pipeline, command, LabelFree
version and git commit, options and each input's automatic values), the run's notes (files of its folders that
are no inputs: a ``.czi`` beside the TIFFs), and two small plots: objects per frame of each input and the
distribution of object areas; a run scored against ground truth adds each input's F1 and the
pooled total (:func:`truth_total`). Thumbnails are PNG files in ``report_files/`` beside the
HTML (reused while drawn from the same label file, input and drift); plots are drawn with matplotlib (Agg)
when it is installed, otherwise the report says how to install it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["format_report", "exit_code", "write_report", "truth_total", "REPORT_NAME", "STATUS_ORDER",
           "THUMBS_FOLDER"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
#: order of the rows of the report: what needs attention first
STATUS_ORDER = ("failed", "cancelled", "ok", "skipped")
#: the folder of the report's thumbnails, beside it
THUMBS_FOLDER = "report_files"
#: the prefix of the note in a row's warnings that names the ground-truth frames a movie was scored on (a SEG folder)
TRUTH_FRAMES_NOTE = "truth frames scored: "
#: where ``labelfree batch --truth DIR`` looks for the ground truth of an input (:func:`labelfree.batch.truth.
#: find_truths`), as the report and its errors say it
TRUTH_LOOKED_FOR = ("DIR/<stem>.tif or <stem>_masks, _mask, _labels, _gt, _seg (.tif, .tiff, .png; Cellpose's "
                    "<stem>_seg.npy); man_segNNN.tif "
                    "for an input tNNN; a Cell Tracking Challenge SEG folder DIR/<stem>_GT/SEG/ or DIR/<stem>/ of "
                    "man_segNNN.tif frames")


def exit_code(summary: pd.DataFrame, /) -> int:
    """0 when every input is ok or skipped, 1 when any failed or its labels could not be scored against its
    ground truth (a run with ``truth``: a missing score is not taken for a pass), 130 when cancelled."""
    status = set(summary["status"])
    if "cancelled" in status:
        return 130
    return 1 if status - {"ok", "skipped"} or len(_not_scored(summary)) else 0


def _not_scored(summary: pd.DataFrame, /) -> pd.DataFrame:
    """The rows with a result and ground truth but no scores (the ground truth could not be scored against)."""
    if "truth" not in summary or "tp" not in summary:
        return summary.iloc[:0]
    has_truth = summary["truth"].map(_text) != ""
    return summary[has_truth & summary["status"].isin(("ok", "skipped")) & summary["tp"].isna()]


def truth_total(summary: pd.DataFrame, /) -> dict[str, Any] | None:
    """The pooled scores of a run's inputs scored against ground truth, as ``labelfree eval`` forms the total of
    two folders (:func:`labelfree.evaluation.folders.pooled_scores`: TP, FP and FN and the pixel counts summed,
    ratios from the sums, mean IoU over all matches); None when no input was scored. The frames of an input scored
    against a SEG folder are those it annotates (``summary.attrs["truth_frames"]``), else the input's."""
    from labelfree.evaluation.folders import pooled_scores

    if "tp" not in summary:
        return None
    scored = summary[summary["tp"].notna()]
    if not len(scored):
        return None
    frames = summary.attrs.get("truth_frames") or {}
    results = [{"tp": int(r["tp"]), "fp": int(r["fp"]), "fn": int(r["fn"]), "mean_iou": float(r["mean_iou"]),
                "seg": float(r["seg"]),
                "n_frames": len(frames[r["stem"]]) if r["stem"] in frames else
                int(r["n_frames"]) if _text(r["n_frames"]) else 1}
               for _, r in scored.iterrows()]
    pixels = [(int(r["pixel_tp"]), int(r["pixel_fp"]), int(r["pixel_fn"])) for _, r in scored.iterrows()]
    return pooled_scores(results, pixels)


def _scoring_words(summary: pd.DataFrame, /) -> str:
    """How the scores were made (:class:`labelfree.batch.truth.TruthOptions`), from the summary's attrs; a summary
    without them (read back from its CSV) is said to be scored with the defaults of ``labelfree batch --truth``."""
    text = f"IoU threshold {float(summary.attrs.get('truth_threshold', 0.5)):g}"
    return text + ("; only predicted objects that overlap ground truth" if summary.attrs.get("only_annotated") else "")


def _frames_lines(summary: pd.DataFrame, /, *, limit: int = 20) -> list[str]:
    """The inputs scored against a SEG folder, each with the ground-truth frames it was scored on."""
    said = []
    for _, row in summary.iterrows():
        notes = [w[len(TRUTH_FRAMES_NOTE):] for w in _text(row.get("warnings")).split(" | ")
                 if w.startswith(TRUTH_FRAMES_NOTE)]
        if notes and _text(row.get("tp")):
            said.append(f"{row['stem']}: {notes[0]}")
    if not said:
        return []
    shown = "; ".join(said[:limit]) + (f"; ... ({len(said)} in all)" if len(said) > limit else "")
    return [f"scored on the annotated frames of a SEG folder: {shown}"]


def _truth_lines(summary: pd.DataFrame, /) -> list[str]:
    """What a run scored against ground truth says: the pooled total and how it was scored, the movies scored on
    annotated frames, the inputs without ground truth, and the inputs whose ground truth could not be scored
    against, with why."""
    if "truth" not in summary:
        return []
    where = f" in {summary.attrs['truth']}" if "truth" in summary.attrs else ""
    total = summary.attrs.get("truth_total") or truth_total(summary)
    lines = []
    if total is not None:
        lines.append(f"ground truth, total of {total['n_images']} scored input(s): TP {total['tp']}, FP {total['fp']}, "
                     f"FN {total['fn']}; precision {total['precision']:.4f}, recall {total['recall']:.4f}, "
                     f"F1 {total['f1']:.4f}; pixel F1 {total['pixel_f1']:.4f}; mean IoU {total['mean_iou']:.4f} "
                     f"({_scoring_words(summary)}; counts summed, ratios from the sums, as labelfree eval's total)")
    else:
        lines.append(f"ground truth: no input scored ({_scoring_words(summary)})")
    lines += _frames_lines(summary)
    missing = summary[summary["truth"].map(_text) == ""]
    if len(missing):
        names = list(missing["stem"])
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        lines.append(f"no ground truth{where} (not scored): {shown} (looked for {TRUTH_LOOKED_FOR})")
    for _, row in _not_scored(summary).iterrows():
        why = [w[len("not scored "):] for w in _text(row.get("warnings")).split(" | ") if w.startswith("not scored")]
        lines.append(f"NOT SCORED {_input_name(row)} {why[0] if why else ': see its warnings'}")
    return lines


def _warning_lines(summary: pd.DataFrame, /, *, limit: int) -> list[str]:
    """One line for each input with warnings (those of its segmentation; the notes of its scoring against ground
    truth have lines of their own), naming the input."""
    lines = []
    for _, row in summary.iterrows():
        texts = [w for w in _text(row.get("warnings")).split(" | ")
                 if w and not w.startswith((TRUTH_FRAMES_NOTE, "not scored against "))]
        if texts:
            lines.append(f"WARNING {_input_name(row)}: {' | '.join(texts)}")
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more input(s) with warnings; see the summary table "
                                 "(its warnings column)"]
    return lines


def _notes(summary: pd.DataFrame, /) -> list[str]:
    """The notes of the run as a whole (``summary.attrs["notes"]``, :func:`labelfree.batch.run_batch`: the files of
    its folders that are no inputs); none for a summary without them (one read back from its CSV)."""
    notes = summary.attrs.get("notes") or []
    return [notes] if isinstance(notes, str) else [str(n) for n in notes if n]


def format_report(summary: pd.DataFrame, /, *, max_errors: int = 20, max_warnings: int = 20) -> str:
    """Plain-text report: counts by status, objects, time, each failure with its error, each input with
    warnings with their texts (at most ``max_errors`` and ``max_warnings`` lines, then how many more), and the
    run's notes (``summary.attrs["notes"]``: the files of its folders that are no inputs, a ``note: ...`` line
    each) before the paths of the summary and report."""
    counts = summary["status"].value_counts()
    parts = [f"{int(counts.get(s, 0))} {s}" for s in ("ok", "skipped", "failed", "cancelled") if counts.get(s, 0)]
    ok = summary[summary["status"] == "ok"]
    lines = [f"{len(summary)} input(s): {', '.join(parts) or 'nothing to do'}"]
    if len(ok):
        lines.append(f"objects: {int(ok['n_objects'].fillna(0).sum())} in {len(ok)} new result(s); "
                     f"{float(ok['seconds'].fillna(0).sum()):.1f} s of work")
    failed = summary[summary["status"] == "failed"]
    for _, row in failed.head(max_errors).iterrows():
        lines.append(f"FAILED {_input_name(row)}: {row['error']}")
    if len(failed) > max_errors:
        lines.append(f"... and {len(failed) - max_errors} more failure(s); see the summary table")
    lines += _warning_lines(summary, limit=max_warnings)
    lines += _truth_lines(summary)
    lines += [f"note: {note}" for note in _notes(summary)]
    if "path" in summary.attrs:
        lines.append(f"summary: {summary.attrs['path']}")
    if "objects" in summary.attrs:
        lines.append(f"objects table: {summary.attrs['objects']} ({summary.attrs.get('object_rows', '?')} rows)")
    if "report" in summary.attrs:
        lines.append(f"report: {summary.attrs['report']}")
    return "\n".join(lines)


def _sorted_rows(summary: pd.DataFrame) -> pd.DataFrame:
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    key = summary["status"].map(lambda s: rank.get(s, len(rank)))
    return summary.assign(_rank=key).sort_values(["_rank", "stem"], kind="stable").drop(columns="_rank")


def _text(value: Any) -> str:
    """A summary cell as text: empty for a missing value (None, NaN, or pandas' NA of an integer column)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _input_plane(path: Path, series: int | None = None, z: int = 0) -> np.ndarray | None:
    """First plane of an input (of its image series ``series`` when it names one; Z plane ``z`` of a z-stack),
    reading as little as possible (one page / one zarr chunk row)."""
    from labelfree.overlay import first_plane

    if path.is_dir() or series is not None or z or not path.name.lower().endswith((".tif", ".tiff", ".btf")):
        # an OME-Zarr image or a folder of frames (lazy: one chunk, one frame file), a position of a
        # multi-position file (its own first plane, from its own file), a picture (PNG, JPEG: read whole),
        # a plane of a z-stack (the one the labels show)
        from labelfree.io import read_image

        return first_plane(read_image(path, lazy=True, series=series), z=z)
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return first_plane(tif.pages[0].asarray())


def _drift_corrected_plane(path: Path, shifts: Path, series: int | None = None, z: int = 0) -> np.ndarray:
    """First plane of the drift-corrected movie a batch run segmented (its labels' image; its Z plane ``z``).

    The batch corrects drift on the canvas :data:`labelfree.batch.fiji_step.CANVAS`: the
    input's first frame, placed on that canvas with its recorded shift, is that movie's
    first frame. Only the plane shown is read (page 0, or the Z plane kept).
    """
    from labelfree.batch.fiji_step import CANVAS
    from labelfree.registration import read_shifts
    from labelfree.registration._shift import canvas_window, shift_frame

    drift, axes = read_shifts(shifts)
    if "Z" not in axes:
        plane = _input_plane(path, series, z)
        window = canvas_window(drift, plane.shape, CANVAS)
        return shift_frame(plane, drift[0], window, subpixel=True)
    from labelfree.io import read_image
    from labelfree.overlay import first_plane

    movie = read_image(path, lazy=True, series=series)
    frame = movie.isel(T=0, **({"C": 0} if "C" in movie.dims else {})).transpose("Z", "Y", "X")
    window = canvas_window(drift, [frame.sizes[ax] for ax in axes], CANVAS)
    first = window[0][0] + round(float(drift[0, 0]))  # the input's Z plane that is the corrected movie's first
    plane = first_plane(frame.isel(Z=min(first + z, frame.sizes["Z"] - 1)), dims=("Y", "X"))
    return shift_frame(plane, drift[0, 1:], window[1:], subpixel=True)


#: a thumbnail is reused only when the PNG says it was drawn from the same labels file (path, time
#: and size), input, drift and thumbnail size, by this way of drawing (raise the version when it changes)
_THUMB_KEY = "labelfree-thumbnail"
_THUMB_VERSION = 3


def _thumbnail_key(path: Path, /) -> str | None:
    """The key a thumbnail PNG was drawn for (None: no such file, or drawn before the key was stored)."""
    if not path.is_file():
        return None
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return picture.text.get(_THUMB_KEY)
    except Exception:  # noqa: BLE001 - an unreadable picture is drawn again
        return None


def _remove_unshown_thumbnails(thumbs: Path, shown: set[str | None], /) -> None:
    """Remove the thumbnails this module drew (their PNG holds its key) that the report does not
    show: those of inputs of an earlier run into the folder, or of an input that failed this time."""
    if not thumbs.is_dir():
        return
    for picture in thumbs.glob("*.png"):
        if f"{THUMBS_FOLDER}/{picture.name}" not in shown and _thumbnail_key(picture) is not None:
            picture.unlink(missing_ok=True)


def _thumbnail(row: Any, folder: Path, size: int) -> str | None:
    """Relative path of the row's thumbnail PNG (made or reused), or None."""
    labels_path = Path(_text(row.get("labels"))) if _text(row.get("labels")) else None
    if labels_path is None or not labels_path.is_file():
        return None
    target = folder / THUMBS_FOLDER / f"{row['stem']}.png"
    shifts = _text(row.get("drift"))  # drift-corrected input: the labels belong to the corrected movie
    stat = labels_path.stat()
    series = _series(row)
    key = json.dumps({"version": _THUMB_VERSION, "labels": [str(labels_path), stat.st_mtime_ns, stat.st_size],
                      "input": _text(row.get("input")), "drift": shifts, "size": int(size),
                      **({"series": series} if series is not None else {})})
    if _thumbnail_key(target) == key:
        return f"{THUMBS_FOLDER}/{target.name}"
    from labelfree.overlay import overlay_png

    try:
        z, labels = _shown_labels(labels_path)
        try:
            source = Path(_text(row.get("input")))
            image = (_drift_corrected_plane(source, Path(shifts), series, z) if shifts
                     else _input_plane(source, series, z))
            if image is not None and image.shape != labels.shape[-2:]:
                raise ValueError(f"its first plane is {image.shape[0]}x{image.shape[1]} pixels, "
                                 f"the labels' {labels.shape[-2]}x{labels.shape[-1]}")
        except Exception as exc:  # noqa: BLE001 - the picture is shown without the image
            log.info("report: input of %s not shown (%s)", row["stem"], exc)
            image = None
        target.parent.mkdir(exist_ok=True)
        overlay_png(image, labels, target, max_size=size, text={_THUMB_KEY: key})
    except Exception as exc:  # noqa: BLE001 - a report never fails the run
        log.warning("report: no thumbnail for %s: %s: %s", row["stem"], type(exc).__name__, exc)
        return None
    return f"{THUMBS_FOLDER}/{target.name}"


def _shown_labels(path: Path, /) -> tuple[int, np.ndarray]:
    """The Z plane an overlay of a label file shows (of a z-stack, the plane with the most labelled pixels of the
    first frame: :func:`labelfree.overlay.shown_plane`; else 0) and that plane, read alone; a label file without
    axis metadata (not LabelFree's) shows its first page."""
    from labelfree.errors import DimensionError
    from labelfree.io import read_image
    from labelfree.overlay import first_plane, shown_plane

    try:
        lazy = read_image(path, lazy=True)
    except DimensionError:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return 0, tif.pages[0].asarray()
    z = shown_plane(lazy).get("Z", 0)
    return z, first_plane(lazy, z=z)


def _series(row: Any) -> int | None:
    """The image series a summary row read (None: a file of one image, or a summary without the column)."""
    text = _text(row.get("series")).split(".")[0]
    return int(text) if text.isdigit() else None


def _place(row: Any) -> str:
    """Where the row's input lies, for a person: ``well A1, field 0`` (a field of an HCS plate), ``image A1_f0``
    (a named position of an OME-TIFF), or ``""`` (an ordinary file, or a summary without these columns)."""
    well, field, name = (_text(row.get(c)) for c in ("well", "field", "image_name"))
    parts = [f"well {well}" if well else "", f"field {field.split('.')[0]}" if field else "",
             f"image {name}" if name else ""]
    return ", ".join(p for p in parts if p)


def _input_name(row: Any) -> str:
    """The row's input file, with the image series read when it names one."""
    series = _series(row)
    return _text(row.get("input")) + (f" (series {series})" if series is not None else "")


def _size_unit(row: Any, column: str = "area") -> str:
    """The unit of the ``area`` (or ``volume``) column of a row's table (its provenance's ``table_units``; pixel²
    (pixel³) when unknown)."""
    path = _text(getattr(row, "provenance", ""))
    try:
        return str(json.loads(Path(path).read_text(encoding="utf-8"))["table_units"][column])
    except Exception:  # noqa: BLE001 - no provenance (an older run): sizes in pixels, as tables without calibration
        return "pixel³" if column == "volume" else "pixel²"


def _tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each finished input's object table (frame, and area, or volume for a z-stack's table of 3-D objects), with
    the unit of its sizes in ``attrs["area_unit"]`` (``attrs["volume_unit"]``)."""
    out = {}
    for row in summary.itertuples():
        path = _text(getattr(row, "table", ""))
        if row.status in ("ok", "skipped") and path and Path(path).is_file():
            try:
                out[row.stem] = pd.read_csv(path, usecols=lambda c: c in ("frame", "area", "volume"))
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                log.info("report: table of %s not read (%s)", row.stem, exc)
                continue
            for column in ("area", "volume"):
                if column in out[row.stem]:
                    out[row.stem].attrs[f"{column}_unit"] = _size_unit(row, column)
    return out


def _sizes(tables: dict[str, pd.DataFrame]) -> tuple[np.ndarray, str, str, int]:
    """The object sizes of one kind and unit (areas or volumes, the pair most objects are measured in: calibrated
    and uncalibrated inputs, and areas and volumes, are not pooled), that kind ("area" or "volume"), that unit,
    and how many objects measured otherwise are left out."""
    by_unit: dict[tuple[str, str], list[np.ndarray]] = {}
    for t in tables.values():
        for kind in ("area", "volume"):
            if kind in t:
                unit = t.attrs.get(f"{kind}_unit", "pixel³" if kind == "volume" else "pixel²")
                by_unit.setdefault((kind, unit), []).append(t[kind].to_numpy(float))
    if not by_unit:
        return np.zeros(0), "area", "pixel²", 0
    sized = {key: np.concatenate(parts) for key, parts in by_unit.items()}
    sized = {key: a[np.isfinite(a) & (a > 0)] for key, a in sized.items()}
    key = max(sized, key=lambda k: sized[k].size)
    return sized[key], key[0], key[1], sum(a.size for k, a in sized.items() if k != key)


def _areas(tables: dict[str, pd.DataFrame]) -> tuple[np.ndarray, str, int]:
    """:func:`_sizes` without the kind: the sizes, their unit, how many objects are left out."""
    sizes, _, unit, left_out = _sizes(tables)
    return sizes, unit, left_out


#: longest input name shown in the plot's legend (a long file name would squeeze the plots to nothing)
LEGEND_CHARS = 32


def _legend_label(stem: str, /) -> str:
    """``stem`` cut to :data:`LEGEND_CHARS` characters for the legend (the table below shows it whole)."""
    return stem if len(stem) <= LEGEND_CHARS else stem[: LEGEND_CHARS - 1] + "\u2026"


def _plots(tables: dict[str, pd.DataFrame]) -> str:
    """HTML with the two plots as inline PNG images (or a note)."""
    if not tables:
        return "<p class='note'>No object tables to plot yet.</p>"
    from labelfree._deps import prepare_matplotlib_config

    prepare_matplotlib_config()  # a settings folder it can write (no warning on a read-only home folder)
    try:
        import matplotlib  # noqa: F401 - the Figure below draws with Agg, no GUI backend

        from matplotlib.figure import Figure
    except ImportError:
        from labelfree._deps import install_hint

        return f"<p class='note'>Plots need matplotlib: {html.escape(install_hint('matplotlib'))}</p>"
    fig = Figure(figsize=(9.0, 3.0), dpi=90)
    ax1, ax2 = fig.subplots(1, 2)
    counts = {stem: t.groupby("frame").size() for stem, t in tables.items() if "frame" in t}
    if len(counts) <= 20:
        for stem, series in counts.items():
            ax1.plot(series.index, series.values, marker=".", linewidth=1, label=_legend_label(stem))
        if 1 < len(counts) <= 8:
            ax1.legend(fontsize=6)
    elif counts:
        frame = pd.DataFrame(counts)
        ax1.fill_between(frame.index, frame.quantile(0.1, axis=1), frame.quantile(0.9, axis=1), alpha=0.3,
                         label="10-90 %")
        ax1.plot(frame.index, frame.median(axis=1), label="median")
        ax1.legend(fontsize=6)
    ax1.set_xlabel("frame")
    ax1.set_ylabel("objects")
    ax1.set_title("objects per frame", fontsize=9)
    areas, kind, unit, left_out = _sizes(tables)
    if areas.size:
        bins = np.logspace(np.log10(areas.min()), np.log10(areas.max() * 1.001), 40)
        ax2.hist(areas, bins=bins, color="tab:gray")
        ax2.set_xscale("log")
    ax2.set_xlabel(f"object {kind} ({unit})")
    ax2.set_ylabel("objects")
    title = f"object sizes ({areas.size} objects)"
    if left_out:
        title += f"\n{left_out} measured in other units not shown"
    ax2.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img class='plots' alt='objects per frame and object sizes' src='data:image/png;base64,{data}'>"


_CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
tr.failed td{background:#fde8e8}tr.cancelled td{background:#fff4d6}
td.err{font-family:monospace;font-size:12px;max-width:40em;white-space:pre-wrap}
img.thumb{max-width:256px;image-rendering:pixelated}.note{color:#666}
p.runnote{background:#fff4d6;padding:6px 8px;max-width:60em}
table.run{margin-bottom:1em}table.run th{white-space:nowrap}table.run code{white-space:pre-wrap;word-break:break-all}
"""


def write_report(summary: pd.DataFrame, out_dir: str | os.PathLike[str], /, *, name: str = REPORT_NAME,
                 thumb_size: int = 256) -> Path:
    """Write ``report.html`` for a batch summary and return its path.

    Parameters
    ----------
    summary : pandas.DataFrame
        The run's summary (:data:`labelfree.batch.SUMMARY_COLUMNS`); its ``attrs["notes"]`` (the files of the
        run's folders that are no inputs) are shown as paragraphs above the rows, and its ``attrs["run"]``
        (:func:`labelfree.batch.report_run.run_record`) with the inputs' provenance records as the Run section
        (for a summary read back from its CSV: the run that made its first result).
    out_dir : path
        The run's output folder (the report and ``report_files/`` go there).
    name : str
        File name of the report.
    thumb_size : int
        Longest side of each thumbnail in pixels.
    """
    from labelfree.batch.report_run import run_section
    from labelfree.io.atomic import atomic_path

    folder = Path(out_dir)
    rows = _sorted_rows(summary)
    counts = summary["status"].value_counts()
    head = ", ".join(f"{int(counts[s])} {s}" for s in STATUS_ORDER if counts.get(s, 0))
    body, shown = [], set()
    scored = "truth" in summary
    truth = "".join(f"<p>{html.escape(line)}</p>" for line in _truth_lines(summary))
    notes = "".join(f"<p class='runnote'>Note: {html.escape(note)}</p>" for note in _notes(summary))
    for _, row in rows.iterrows():
        thumb = _thumbnail(row, folder, thumb_size)
        shown.add(thumb)
        picture = (f"<img class='thumb' alt='{html.escape(row['stem'])}' src='{html.escape(thumb)}'>" if thumb
                   else "<span class='note'>no picture</span>")
        seconds = _text(row.get("seconds"))
        note = _text(row.get("error")) or _text(row.get("warnings"))
        n_obj = _text(row.get("n_objects"))
        place = _place(row)
        place = f"<br><span class='note'>{html.escape(place)}</span>" if place else ""
        scores = ""
        if scored:
            scores = (f"<td>{float(row['f1']):.3f} / {float(row['pixel_f1']):.3f}</td>" if _text(row.get("tp"))
                      else "<td class='note'>not scored</td>")
        body.append(
            f"<tr class='{html.escape(row['status'])}'><td>{picture}</td>"
            f"<td><b>{html.escape(row['stem'])}</b>{place}<br>"
            f"<span class='note'>{html.escape(_input_name(row))}</span></td>"
            f"<td>{html.escape(row['status'])}</td><td>{html.escape(n_obj.split('.')[0])}</td>"
            f"<td>{html.escape(_text(row.get('n_frames')).split('.')[0])}</td>"
            f"<td>{html.escape(f'{float(seconds):.1f} s' if seconds else '')}</td>"
            f"<td>{html.escape(_text(row.get('worker')))}</td>{scores}<td class='err'>{html.escape(note)}</td></tr>")
    _remove_unshown_thumbnails(folder / THUMBS_FOLDER, shown)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>LabelFree batch report</title>"
        f"<style>{_CSS}</style></head><body><h1>LabelFree batch report</h1>"
        f"<p>{len(summary)} input(s): {html.escape(head or 'nothing to do')}. "
        f"Written {html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}.</p>{notes}{truth}{run_section(summary)}"
        f"{_plots(_tables(summary))}"
        "<table><thead><tr><th>picture</th><th>input</th><th>status</th><th>objects</th><th>frames</th>"
        f"<th>time</th><th>worker</th>{'<th>F1 / pixel F1</th>' if scored else ''}<th>error / warnings</th></tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
        "</body></html>")
    path = folder / name
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
