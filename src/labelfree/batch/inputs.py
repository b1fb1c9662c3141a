"""What a batch run reads: folders, glob patterns and manifests (CSV/YAML).

A manifest lists one input per row (CSV) or entry (YAML) with

* ``path`` (required; relative paths are relative to the manifest's folder),
* ``name`` (optional output stem; default: the file name without extension),
* ``channels`` (optional; channel names or 0-based indices, ``"0;2"`` in CSV),
* ``dims`` (optional; axis letters for files without axis metadata, e.g. ``TYX``),
* ``series`` (optional; the image series to read, counted from 0, of a multi-position file;
  empty: every full-resolution series of the file, each an input of its own),
* ``channel_names`` (optional; a name for each channel in order, ``"DAPI;GFP"`` in CSV: they
  replace the file's, for ``channels``, the channel options and a zoo's models),
* the pipeline's extra inputs by name (optional; e.g. a ``markers`` file or a ``zoo`` folder,
  see the pipeline's spec), relative to the manifest's folder,
* per-file pipeline options: further CSV columns, or an ``options:`` mapping in YAML.

A ``name`` must be a plain file-name prefix: outputs stay inside the output folder.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from labelfree.batch.summary_rows import shown_path
from labelfree.errors import ConfigError, InputError
from labelfree.evaluation.folders import TRUTH_SUFFIXES
from labelfree.io.outputs import IMAGE_SUFFIXES  # the inputs a folder or a pattern contributes: their names

__all__ = ["BatchInput", "collect_inputs", "read_manifest", "refuse_in_memory", "IMAGE_SUFFIXES"]

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".csv", ".yaml", ".yml")
_RESERVED = ("path", "name", "channels", "dims", "channel_names", "series", "options")


@dataclasses.dataclass(frozen=True)
class BatchInput:
    """One input of a batch run.

    Attributes
    ----------
    path : pathlib.Path
        Image file.
    stem : str
        Output file stem: ``<stem>_labels.tif``, ``<stem>_rois.zip``, ...
    channels : tuple or None
        Channels to keep (names or 0-based indices); None keeps the image as read.
    dims : str or None
        Axis letters used to read files without axis metadata.
    channel_names : tuple of str or None
        Names given to the image's channels in order (they replace the file's); None keeps them.
    inputs : dict
        The pipeline's extra inputs for this file, by name (paths).
    options : dict
        Pipeline options that override the run's config for this input.
    series : int or None
        The image series (position) of the file to read, counted from 0 as
        ``read_image(path, series=N)`` counts them; None reads the file's one image.
    """

    path: Path
    stem: str = ""
    channels: tuple[str | int, ...] | None = None
    dims: str | None = None
    channel_names: tuple[str, ...] | None = None
    inputs: dict[str, Path] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    series: int | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable record of everything that defines this input's result."""
        return {
            "path": str(self.path),
            "channels": list(self.channels) if self.channels is not None else None,
            "dims": self.dims,
            "channel_names": list(self.channel_names) if self.channel_names is not None else None,
            "inputs": {k: str(v) for k, v in sorted(self.inputs.items())},
            "options": dict(self.options),
            "series": self.series,
        }


def _strip_suffix(name: str) -> str:
    from labelfree.io.outputs import output_stem

    return output_stem(name)


def _is_image(path: Path) -> bool:
    return path.name.lower().endswith(IMAGE_SUFFIXES) and not path.name.startswith(".")


def _parse_value(text: str) -> Any:
    text = text.strip()
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def _parse_channels(value: Any) -> tuple[str | int, ...] | None:
    from labelfree.image import parse_channels

    try:
        return parse_channels(value)
    except InputError as exc:
        raise ConfigError(f"channels: {exc}") from None


def series_option(value: Any, /) -> int | None:
    """``series`` of a manifest entry or a batch run: the index of an image series (a whole number from 0),
    or None (nothing given: every full-resolution series of the file)."""
    from labelfree.image import series_index

    if value is None or value == "":
        return None
    index = series_index(value)
    if index is None and isinstance(value, str) and value.strip().isdigit():
        index = int(value)
    if index is None or index < 0:
        raise ConfigError(f"series: expected the index of an image series, a whole number from 0 (the first series "
                          f"is 0), or nothing for every series of the file; got {value!r}.")
    return index


def channel_names_option(value: Any, /) -> tuple[str, ...] | None:
    """``channel_names`` of a manifest entry or a batch run (:func:`labelfree.image.parse_channel_names`)."""
    from labelfree.image import parse_channel_names

    try:
        return parse_channel_names(value)
    except InputError as exc:
        raise ConfigError(f"channel_names: {exc}") from None


def _resolve(value: Any, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _by_name(input_names: Iterable[str] | Mapping[str, Any], /) -> dict[str, Any]:
    """The pipeline's extra inputs by manifest column: ``{name: Input or None}`` from names, or a mapping of
    names to :class:`labelfree.spec.Input` (whose ``files`` hook resolves a value naming several files)."""
    if isinstance(input_names, Mapping):
        return dict(input_names)
    return dict.fromkeys(input_names)


def _resolve_input(value: Any, base: Path, inp: Any) -> Any:
    """A manifest's extra input relative to the manifest's folder: the value as one path when that is a file
    there; else each file it names (``GFP=a.pt,Cy5=b.pt``: ``GFP=<base>/a.pt,Cy5=<base>/b.pt``) when the
    input's ``files`` hook reads it (:meth:`labelfree.spec.Input.map_files`); else the value as one path."""
    whole = _resolve(value, base)
    if whole is None or inp is None or not getattr(inp, "files", "") or whole.is_file():
        return whole
    return inp.map_files(str(value).strip(), lambda file, label: str(_resolve(file, base)))


def _in_entry(where: str, parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _entry(raw: dict[str, Any], base: Path, where: str, input_names: Mapping[str, Any]) -> BatchInput:
    from labelfree.io.outputs import check_stem

    if not raw.get("path"):
        raise ConfigError(f"{where}: every entry needs a 'path' (the image file).")
    path = _resolve(raw["path"], base)
    name = str(raw.get("name") or "")
    if name:
        try:
            check_stem(name)
        except InputError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    options = dict(raw.get("options") or {})
    extra = {k: v for k, v in raw.items() if k not in _RESERVED and k not in input_names}
    if extra and isinstance(raw.get("options"), dict):
        raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}; put pipeline options under 'options:'.")
    options.update(extra)
    inputs = {k: _resolve_input(raw[k], base, inp) for k, inp in input_names.items() if raw.get(k)}
    return BatchInput(
        path=path,
        stem=name,
        channels=_parse_channels(raw.get("channels")),
        dims=str(raw["dims"]).upper() if raw.get("dims") else None,
        channel_names=_in_entry(where, channel_names_option, raw.get("channel_names")),
        series=_in_entry(where, series_option, raw.get("series")),
        inputs={k: v for k, v in inputs.items() if v is not None},
        options=options,
    )


def read_manifest(path: str | Path, /, *, input_names: Iterable[str] | Mapping[str, Any] = ()) -> list[BatchInput]:
    """Read a CSV or YAML manifest into :class:`BatchInput` entries.

    ``input_names``: the pipeline's extra inputs, whose columns are files read relative to the manifest
    (as :func:`collect_inputs` takes them); the other columns are options.

    Raises
    ------
    ConfigError
        The manifest cannot be read or an entry has no ``path``.
    """
    path = Path(path)
    base = path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"Cannot read manifest {path}: {exc}") from exc
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or "path" not in rows[0]:
            raise ConfigError(f"Manifest {path} needs a header row with a 'path' column (and rows below it).")
        raw = [{k.strip(): _parse_value(v) for k, v in row.items() if k and v not in (None, "")} for row in rows]
        for row in raw:  # paths and names stay text even when they look like numbers
            for key in ("path", "name"):
                if key in row:
                    row[key] = str(row[key])
    else:
        import yaml

        from labelfree._config import yaml_load

        try:
            data = yaml_load(text)  # numbers as --set and config files read them (010 is 10)
        except yaml.YAMLError as exc:
            raise ConfigError(f"Manifest {path} is not valid YAML: {exc}") from exc
        data = data.get("inputs") if isinstance(data, dict) else data
        if not isinstance(data, list):
            raise ConfigError(f"Manifest {path} must be a list of entries (or a mapping with 'inputs:').")
        raw = [{"path": d} if isinstance(d, str) else d for d in data]
        if not all(isinstance(d, dict) for d in raw):
            raise ConfigError(f"Manifest {path}: each entry must be a path or a mapping with 'path'.")
    names = _by_name(input_names)
    return [_entry(row, base, f"{path} entry {i + 1}", names) for i, row in enumerate(raw)]


def is_labelfree_output(path: Path, /) -> bool:
    """True for an output of LabelFree (a file of a set that has a manifest beside it)."""
    from labelfree.io.outputs import EXTRA_SUFFIXES, OUTPUT_SUFFIXES

    name = path.name
    for suffix in (*OUTPUT_SUFFIXES.values(), *EXTRA_SUFFIXES.values()):
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return (path.parent / f"{stem}{OUTPUT_SUFFIXES['provenance']}").is_file()
    return False


#: name endings (before the image suffix, any case) of annotations saved beside their image: Cellpose's own
#: outputs, and the ground truth ``labelfree eval`` pairs (``labelfree.evaluation.folders.TRUTH_SUFFIXES``)
_ANNOTATION_SUFFIXES = ("_cp_masks", "_cp_output", "_flows", "_flows_0", "_flows_1", "_flows_2", "_cellprob",
                       *TRUTH_SUFFIXES)


def _annotations(found: list[Path], /) -> list[Path]:
    """The files of ``found`` that annotate another file of ``found`` in their folder: ``<stem><suffix>.<ext>``,
    a suffix of :data:`_ANNOTATION_SUFFIXES`, beside ``<stem>.<any image ext>`` (Cellpose's ``img001_masks.png``
    beside ``img001.png``). A mask without its image beside it is an image of its own."""
    stems = {(p.parent, _strip_suffix(p.name).lower()) for p in found}
    notes = []
    for p in found:
        base = _strip_suffix(p.name).lower()
        if any(base.endswith(s) and (p.parent, base[: -len(s)]) in stems for s in _ANNOTATION_SUFFIXES
               if len(base) > len(s)):
            notes.append(p)
    return notes


def _without_annotations(found: list[Path], where: str, /) -> list[Path]:
    notes = _annotations(found)
    if not notes:
        return found
    log.info("batch: %d file(s) of %s are annotations beside their images (like %s), not inputs: a file "
             "<stem>_masks, _mask, _cp_masks, _flows, _labels, ... beside <stem>.<ext>. Name them (a pattern such "
             "as *_masks.png, or the files) to segment them.", len(notes), where, notes[0].name)
    drop = set(notes)
    return [p for p in found if p not in drop]


def _not_a_movie(folder: Path, /) -> str | None:
    """None when ``folder`` is a folder of frames that a batch takes as one movie (:func:`labelfree.io.sequence.
    sequence_files`, two frames or more, none of them a LabelFree output); otherwise why not."""
    from labelfree.batch.report import REPORT_NAME, THUMBS_FOLDER
    from labelfree.io.sequence import sequence_files

    if folder.name == THUMBS_FOLDER and (folder.parent / REPORT_NAME).is_file():
        return "the thumbnails of a batch report"
    try:
        frames = sequence_files(folder)
    except InputError as exc:
        try:
            images = any(_is_image(p) and p.is_file() for p in folder.iterdir())
        except OSError:
            images = True  # the message says why the folder cannot be read
        return str(exc) if images else "no image files"
    if len(frames) < 2:
        return f"one image file, {frames[0].name} (name it, or a pattern that matches it, to segment it)"
    if any(is_labelfree_output(f) for f in frames):
        return "LabelFree outputs"
    return None


def _movie_folders(folders: list[Path], where: str, /) -> list[Path]:
    """The folders of ``folders`` that are movies (:func:`_not_a_movie`); the others are noted at INFO level."""
    movies, empty = [], []
    for folder in folders:
        why = _not_a_movie(folder)
        if why is None:
            movies.append(folder)
        elif why == "no image files":
            empty.append(folder.name)
        else:
            log.info("batch: the folder %s is not an input: %s", folder, why)
    if empty:
        log.info("batch: %d folder(s) of %s hold no image files and are not inputs: %s", len(empty), where,
                 ", ".join(empty[:10]) + (", ..." if len(empty) > 10 else ""))
    return movies


def _holds_one_time_point(path: Path, /) -> bool:
    """True when the image file ``path`` holds one time point by its metadata (:func:`labelfree.io.image_series`,
    no pixels read): no axis of more than one plane but Y, X, its channels, Z and the colour samples of each
    pixel, as a frame of a folder is read (:mod:`labelfree.io.sequence`). False for a movie (T), for planes of no
    known axis (a plain 3-D TIFF) and for 3 or 4 planes stored as RGB (frames or colours: ``dims`` tells), and
    when its metadata cannot be read (the run reports it)."""
    from labelfree.io.series import image_series

    try:
        found = image_series(path, own=True)
    except Exception as exc:  # noqa: BLE001 - only chooses the inputs; reading the file reports its errors
        log.info("batch: the axes of %s could not be read (%s: %s).", path, type(exc).__name__, exc)
        return False
    if len(found) != 1:
        return False
    axes, shape = found[0].axes, found[0].shape
    if "S" in axes[:-1]:  # samples stored as planes: tifffile writes any (3 or 4, Y, X) array so
        return False
    return all(a in "YXCSZ" or n == 1 for a, n in zip(axes, shape))


def _z_planes(folder: Path, /) -> bool:
    """True when the image files of ``folder``, a folder given itself, are the planes of one z-stack or time-lapse of
    z-stacks by their names (``t005_z011.tif``, Micro-Manager's ``_time000000005_z011``:
    :func:`labelfree.io.sequence.sequence_grid`), which is one input (logged), not one input per plane."""
    from labelfree.io.sequence import sequence_grid

    if _not_a_movie(folder) is not None:
        return False
    try:
        _, axes, sizes = sequence_grid(folder)
    except InputError:
        return False
    if "Z" not in axes:
        return False
    what = "time-lapse of z-stacks" if axes == "TZ" else "z-stack"
    log.info("batch: the image files of %s are the planes of one %s by their names (%s), one input.", folder, what,
             " x ".join(f"{n} {a}" for a, n in zip(axes, sizes)))
    return True


def _one_movie(folder: Path, found: list[Path], /) -> bool:
    """For a pipeline that segments time-lapses only: True when the image files ``found`` of ``folder``, a folder
    given itself, are the frames of one movie, :func:`_not_a_movie` as for a dataset's folders, and its first
    frame holds one time point (:func:`_holds_one_time_point`; a folder of movies ``movie1.tif``, ``movie2.tif``
    keeps them as its inputs). Frames that are no movie are noted with io.sequence's reason (a WARNING)."""
    from labelfree.io.sequence import sequence_files

    why = _not_a_movie(folder)
    if why is None:
        if not _holds_one_time_point(sequence_files(folder)[0]):
            return False
        log.info("batch: the image files of %s are the frames of one movie, one input (the pipeline segments "
                 "time-lapses only).", folder)
        return True
    if len(found) > 1 and _holds_one_time_point(found[0]):
        log.warning("batch: the pipeline segments time-lapses only, but the image files of %s are not the frames of "
                    "one movie, so each is an input of its own: %s", folder, why)
    return False


def _expand(spec: str | Path | BatchInput, input_names: Mapping[str, Any], needs_time: bool) -> list[BatchInput]:
    if isinstance(spec, BatchInput):
        return [spec]
    text = str(spec)
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        matched = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
        found = [p for p in matched if _is_image(p) and not is_labelfree_output(p)]
        # a folder matched beside files of its own (dir/** matches both) is not a movie too: its files are inputs
        parents = {p.parent for p in found}
        folders = _movie_folders([p for p in matched if not _is_image(p) and p not in parents and p.is_dir()],
                                 f"the pattern {text!r}")
        order = {p: i for i, p in enumerate(matched)}
        found = sorted([*_without_annotations(found, f"the pattern {text!r}"), *folders], key=order.__getitem__)
        if not found:
            from labelfree.batch.unread import pattern_advice

            raise InputError(f"No image files ({', '.join(IMAGE_SUFFIXES)}) or folders of frames match the pattern "
                             f"{text!r}.{pattern_advice(matched)}")
        return [BatchInput(p) for p in found]
    from labelfree.io.ngff import is_ngff

    # an OME-Zarr folder is one image, and so is a level of one (image.zarr/s1, as the commands read it)
    if path.is_dir() and not path.name.lower().endswith(".zarr") and not is_ngff(path):
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        found = [p for p in entries if _is_image(p) and not is_labelfree_output(p)]
        folders = [p for p in entries if not _is_image(p) and p.is_dir()]
        if found and needs_time and _one_movie(path, found):
            return [BatchInput(path)]  # as a dataset's folder of frames is
        if found and _z_planes(path):
            return [BatchInput(path)]  # the planes of one z-stack (or time-lapse of z-stacks), as the commands read it
        if found:
            movies = [p.name for p in folders if _not_a_movie(p) is None]  # not inputs: named, not explained
            if movies:
                log.info("batch: %s holds image files, which are its inputs; its folder(s) of frames %s are not "
                         "(give them by a pattern, %s, or in a manifest, to segment each as a movie).", path,
                         ", ".join(movies[:10]) + (", ..." if len(movies) > 10 else ""), path / "*")
            return [BatchInput(p) for p in _without_annotations(found, str(path))]
        found = _movie_folders(folders, str(path))
        if not found:
            from labelfree.batch.unread import no_inputs_message

            raise InputError(no_inputs_message(path, folders))
        return [BatchInput(p) for p in found]
    if path.suffix.lower() in MANIFEST_SUFFIXES:
        if not path.is_file():
            raise InputError(f"Manifest {path} does not exist.")
        return read_manifest(path, input_names=input_names)
    return [BatchInput(path)]  # a single file; a missing one is reported by the run


def _full_series(path: Path, /) -> list[int]:
    """Indices of the full-resolution series whose planes ``path`` holds (:func:`labelfree.io.image_series`);
    none for a path that cannot be listed (missing, damaged, not an image: the run reports it)."""
    from labelfree.io.ngff import is_ngff
    from labelfree.io.raster import PICTURE_SUFFIXES
    from labelfree.io.series import image_series

    if not (path.is_file() or is_ngff(path)) or path.name.lower().endswith(PICTURE_SUFFIXES):
        return []  # (a picture holds one image: listing it would decode it once more than its run does)
    try:
        return [s.index for s in image_series(path, own=True)]
    except Exception as exc:  # noqa: BLE001 - listing only chooses the inputs; reading the file reports errors
        log.info("batch: the image series of %s could not be listed (%s: %s); it is one input.", path,
                 type(exc).__name__, exc)
        return []


def _listing(names: list[str], most: int = 10) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _plate_fields(it: BatchInput) -> list[BatchInput] | None:
    """For an input that is an HCS plate (``plate.zarr``) or a well of one (``plate.zarr/A/1``), by its NGFF
    metadata: one input per field on disk (``plate.zarr/A/1/0``, named ``plate_A_1_0`` by
    :func:`labelfree.io.output_stem`; a name given for the plate or well gets the field's path, ``name_A_1_0``).
    Fields that the metadata lists but the disk lacks, and wells that list no field, are named in one
    warning each. None for any other input."""
    from labelfree.io.ngff import is_ngff
    from labelfree.io.ngff.metadata import _hcs_fields

    if not (it.path.is_dir() and is_ngff(it.path)):
        return None
    found = _hcs_fields(it.path)
    if found is None:
        return None
    kind, fields, absent, empty = found
    if absent:
        log.warning("batch: the HCS %s %s lists %d field(s) that are not on disk, which are left out: %s. Copy or "
                    "export the %s again if they should be there.", kind, it.path, len(absent), _listing(absent), kind)
    if kind == "well" and empty:
        log.warning("batch: the HCS well %s lists no fields (its 'well' metadata has no images): no input.", it.path)
    elif empty:
        log.warning("batch: %d well(s) of the HCS plate %s list no fields (their 'well' metadata has no images), "
                    "no inputs: %s.", len(empty), it.path, _listing(empty))
    if fields:
        log.info("batch: %s is an HCS %s of %d field(s) (%s); each is an input.", it.path, kind, len(fields),
                 _listing(fields))
    return [dataclasses.replace(it, path=it.path / f, stem=f"{it.stem}_{f.replace('/', '_')}" if it.stem else "")
            for f in fields]


def _positions(items: list[BatchInput], series: int | None) -> list[BatchInput]:
    """Each input whose ``series`` is not chosen (by its manifest entry, else by ``series`` for every input)
    and whose file holds several full-resolution images (a multi-position OME-TIFF, a bioformats2raw
    container) becomes one input per image: as Fiji's Bio-Formats "open all series" does. A name given
    for the file gets ``_seriesN``; reduced-resolution previews are not inputs; a file of one image
    stays one input as it was (its one series is read without choosing it). An HCS plate or well
    (OME-Zarr) becomes one input per field (:func:`_plate_fields`), each an image of its own."""
    listed: dict[str, list[int]] = {}
    out: list[BatchInput] = []
    expanded: list[tuple[BatchInput, bool]] = []  # (input, whether it is a field of a plate: one image)
    for it in items:
        fields = _plate_fields(it)
        expanded.extend([(it, False)] if fields is None else [(f, True) for f in fields])
    for it, field in expanded:
        if it.series is None and series is not None:
            it = dataclasses.replace(it, series=series)
        if it.series is not None or field:  # (a field is an OME-Zarr image: one series, not listed)
            out.append(it)
            continue
        key = os.path.realpath(it.path)
        if key not in listed:
            listed[key] = _full_series(it.path)
        found = listed[key]
        if len(found) < 2:
            out.append(it)
            continue
        log.info("batch: %s holds %d images (series %s); each is an input.", it.path, len(found),
                 ", ".join(map(str, found)))
        out.extend(dataclasses.replace(it, series=k, stem=f"{it.stem}_series{k}" if it.stem else "") for k in found)
    return out


def _drop_repeats(items: list[BatchInput]) -> list[BatchInput]:
    """The same input listed twice with the same settings (a folder and a pattern that both hold it, a file
    named twice) runs once; the same file listed with other settings needs a ``name`` for each entry."""
    kept: dict[tuple[str, str, int | None], BatchInput] = {}
    for it in items:
        key = (os.path.realpath(it.path), it.stem, it.series)
        first = kept.get(key)
        if first is None:
            kept[key] = it
        elif first.describe() | {"path": ""} != it.describe() | {"path": ""}:
            raise InputError(
                f"{it.path} is listed twice with different settings (channels, dims, extra inputs or options): "
                "give each entry its own 'name' in the manifest, so that each writes its own outputs."
            )
        else:
            log.info("batch: %s is listed more than once; it is run once.", it.path)
    return list(kept.values())


def _fit_stem(head: str, tail: str = "", /) -> str:
    """``plain_stem(head + tail)``, with ``head`` cut short instead of ``tail`` where the stem would be too long:
    the tail (``_tif`` of ``cells.tif`` beside ``cells.zarr``) is what tells two inputs apart."""
    from labelfree.io.outputs import plain_stem

    stem = plain_stem(head + tail)
    if not tail or stem.endswith(tail):
        return stem
    if not plain_stem(tail).endswith(tail):  # a tail too long to fit at all
        return stem
    low, high = 0, len(head)  # head[:low] + tail keeps the tail, head[:high] + tail does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if plain_stem(head[:mid] + tail).endswith(tail) else (low, mid)
    return plain_stem(head[:low] + tail)


def _name_stem(path: Path, /) -> str:
    """What an input's outputs are named after: its name without the image suffix; for the folder of one level
    of an OME-Zarr image (``big.ome.zarr/s1``), the image's stem and the level (``big_s1``), as the commands name it."""
    from labelfree.io.ngff import is_ngff
    from labelfree.io.outputs import output_stem

    if path.is_dir() and not path.name.lower().endswith(".zarr") and is_ngff(path):
        return output_stem(path)
    return _strip_suffix(path.name)


def _named_path(path: Path, /) -> Path:
    """The path whose folders tell apart two inputs of one stem: the plate of a field of an HCS plate (its stem,
    ``plate_A_1_0``, holds the field's path in the plate already), else ``path``."""
    from labelfree.io.ngff.metadata import _plate_field

    field = _plate_field(path) if path.is_dir() else None
    return path if field is None else field[0]


def _unique_stems(items: list[BatchInput]) -> list[BatchInput]:
    """Give every input a distinct output stem (parent folders are added to break ties)."""
    from labelfree.io.outputs import plain_stem

    stems = [it.stem or plain_stem(_name_stem(it.path)) for it in items]
    tails = [""] * len(items)  # the format, where one folder holds one name in two formats
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (it, s) in enumerate(zip(items, stems)):
        if not it.stem:
            groups.setdefault((str(it.path.parent), s), []).append(i)
    for idxs in groups.values():  # one folder, one name, two formats (cells.tif, cells.zarr): the format tells
        if len({items[i].path.name for i in idxs}) > 1:  # (the positions of one file are told by their series)
            for i in idxs:
                name = items[i].path.name
                suffix = name[len(_strip_suffix(name)):].strip(".").replace(".", "_").lower()
                tails[i] = f"_{plain_stem(suffix)}" if suffix else ""
                stems[i] = _fit_stem(stems[i], tails[i])
    for i, it in enumerate(items):  # a position of a file: <stem>_seriesN, the stem rule of the commands' --series
        if not it.stem and it.series is not None:
            tails[i] += f"_series{it.series}"
            stems[i] = _fit_stem(plain_stem(_name_stem(it.path)), tails[i])
    depth = [0] * len(items)
    for _ in range(8):
        seen: dict[str, list[int]] = {}
        for i, s in enumerate(stems):
            seen.setdefault(s, []).append(i)
        clashes = [idx for idxs in seen.values() if len(idxs) > 1 for idx in idxs if not items[idx].stem]
        if not clashes:
            break
        for i in clashes:
            depth[i] += 1
            parents = [p.name for p in _named_path(items[i].path).parents][: depth[i]]
            stems[i] = _fit_stem("_".join([*reversed(parents), _name_stem(items[i].path)]), tails[i])
    seen_final: dict[str, int] = {}
    for i, s in enumerate(stems):
        if s in seen_final:
            raise InputError(
                f"Two inputs would write the same outputs '{s}': {items[seen_final[s]].path} and "
                f"{items[i].path}. Give them distinct 'name' values in a manifest."
            )
        seen_final[s] = i
    return [dataclasses.replace(it, stem=s) for it, s in zip(items, stems)]


def _is_in_memory(value: Any) -> bool:
    """Whether ``value`` is an image in memory (numpy or dask array, xarray DataArray, tensor), not a path."""
    return (not isinstance(value, (str, bytes, os.PathLike, BatchInput)) and hasattr(value, "shape")
            and hasattr(value, "dtype"))


def refuse_in_memory(inputs: Any, /) -> None:
    """Refuse images in memory given as batch inputs: a batch reads files (a numpy array would otherwise be
    taken for a list of rows, or its text for a file name pattern).

    Raises
    ------
    InputError
        ``inputs`` is an array or DataArray, saying to segment it with the pipeline's ``segment`` or to save
        it first.
    """
    if not _is_in_memory(inputs):
        return
    kind = f"{type(inputs).__module__.split('.')[0]}.{type(inputs).__name__}"
    shape = " x ".join(map(str, getattr(inputs, "shape", ())))
    raise InputError(
        f"run_batch reads image files, but it was given an image in memory ({kind} of shape {shape}). For images "
        "in memory call the pipeline's segment() on each (e.g. labelfree.motion.segment(image), "
        "labelfree.cutter.segment(image, markers=...)), or save them first (e.g. tifffile.imwrite('image1.tif', "
        "image)) and give run_batch their folder, a pattern or a list of their paths."
    )


def collect_inputs(
    inputs: str | Path | BatchInput | Iterable[str | Path | BatchInput],
    /,
    *,
    input_names: Iterable[str] | Mapping[str, Any] = (),
    series: int | None = None,
    needs_time: bool = False,
    notes: list[str] | None = None,
) -> list[BatchInput]:
    """Expand folders, glob patterns, manifests and files into a list of inputs.

    Parameters
    ----------
    inputs : path, glob pattern, manifest, BatchInput, or a list of them
        A folder contributes its image files (not recursive; use ``dir/**/*.tif`` for
        that) except LabelFree's own outputs and annotations beside their images (``<stem>_masks.png``
        beside ``<stem>.png``), or, when it holds none, its folders of frames one level down (a movie
        each, :mod:`labelfree.io.sequence`; with ``needs_time``, a folder of frames is itself one movie); a
        pattern the image files and folders of frames it matches,
        a ``.csv``/``.yaml`` manifest its entries, an OME-Zarr HCS plate (``plate.zarr``) or well
        (``plate.zarr/A/1``) one input per field on disk, named ``plate_A_1_0`` (fields listed but absent
        and wells without fields are named in a warning), any other path itself (a missing file is
        reported by the run). The files of a folder or pattern in a microscope format that LabelFree does not read
        (``.czi``, ``.nd2``, ``.lif``, ...) are named in one warning with how to convert them
        (:func:`labelfree.batch.unread.unread_files_note`), or in the error of a folder or pattern that gives no
        input; hidden files (``.name``, macOS's ``._name``) are passed over.

    input_names : iterable of str, or mapping of str to Input
        Names of the pipeline's extra inputs: manifest columns of these names are files
        (resolved relative to the manifest), not options. A mapping to the inputs
        (:class:`labelfree.spec.Input`) resolves each file of a value that names several, as the input's
        ``files`` hook reads it (Fusion's ``model_file`` pairs ``GFP=a.pt,Cy5=b.pt``).
    series : int, optional
        The image series to read of every input whose manifest entry names none. Without it, a
        file of several full-resolution images (a multi-position OME-TIFF, a bioformats2raw
        OME-Zarr container) gives one input per image, each with ``series`` set and the stem
        ``<stem>_seriesN`` (listing the series reads the file's metadata only).
    needs_time : bool
        The pipeline segments time-lapses only (:attr:`labelfree.spec.PipelineSpec.needs_time`, Motion): a
        folder given itself whose image files are the frames of one movie (as a dataset's folders of frames
        are, and its first file one time point by its metadata) is that movie, one input named after the
        folder, not one input per frame. A folder of movies (``movie1.tif``, ``movie2.tif``) keeps its files.
    notes : list, optional
        Receives the run's notes on its inputs (the files of its folders and patterns in a microscope format
        that LabelFree does not read, as the warning says them, without its ``batch:``), for the summary and
        report of a run.

    Returns
    -------
    list of BatchInput, in the given order, each with a distinct ``stem``.

    Raises
    ------
    InputError
        No inputs, nothing found (or only HCS plates and wells without fields on disk), or an image in
        memory (an array or DataArray) instead of a path (:func:`refuse_in_memory`).
    """
    refuse_in_memory(inputs)
    specs = [inputs] if isinstance(inputs, (str, Path, BatchInput)) else list(inputs)
    for spec in specs:
        refuse_in_memory(spec)
    if not specs:
        raise InputError("No inputs given: pass a folder, a glob pattern, a manifest or image files.")
    names = _by_name(input_names)
    items = [item for spec in specs for item in _expand(spec, names, bool(needs_time))]
    from labelfree.batch.unread import unread_files_note

    unread = unread_files_note(specs)  # once for the run, after every folder and pattern gave inputs
    if unread:
        log.warning("%s", unread)
        if notes is not None:
            notes.append(unread.removeprefix("batch: "))
    # absolute (workers may have another cwd) and without ``..``, as the summary shows it: the provenance's
    # batch.input and the log lines say /tmp/x/in/a.tif, not /tmp/x/bin/../in/a.tif
    items = [dataclasses.replace(it, path=Path(shown_path(it.path.absolute()))) for it in items]
    items = _positions(items, series_option(series))
    if not items:  # only HCS plates or wells without fields on disk (each named in a warning)
        given = ", ".join(str(getattr(spec, "path", spec)) for spec in specs[:3])
        raise InputError(f"No inputs: the HCS plates or wells given ({given}) hold no "
                         "fields on disk (the warnings above name the fields and wells their metadata lists). Give "
                         "a plate whose fields are on disk, or the fields' folders (plate.zarr/A/1/0).")
    return _unique_stems(_drop_repeats(items))
