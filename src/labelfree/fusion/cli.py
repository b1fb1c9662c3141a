"""Fusion's own verbs: ``labelfree fusion train|select|eval`` and ``labelfree zoo add|list|pick|remove``.

``labelfree fusion IMAGE -o OUT`` (segmentation) has the shape of every pipeline
command (:mod:`labelfree.cli_core`); ``labelfree fusion segment IMAGE ...`` is
kept as another name for it. Given a Fusion run's provenance as ``--config``, both use the
models that run used (:func:`labelfree.run.run_pipeline`); ``--zoo-best``: the zoo's pick.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterator

from labelfree.errors import InputError

__all__ = ["VERBS", "register_verbs", "register"]

#: ``labelfree fusion <verb>``
VERBS = ("train", "select", "eval", "segment")

#: how the eval and select tables print a score that is not defined (precision of a channel that found no object:
#: 0 of 0; the --csv file leaves it empty)
NOT_DEFINED = "-"


def _report(done: int, total: int, message: str) -> None:
    """Progress on stderr (one line per step)."""
    print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)


def _progress(args: argparse.Namespace) -> Any:
    """The progress of train, select and eval: a line per step on stderr (these runs are long, and the lines
    read as well in a job's log as in a terminal), none with --no-progress or -q."""
    return False if args.quiet or args.progress is False else _report


def _say(args: argparse.Namespace, text: str) -> None:
    """Print a result line, unless -q."""
    if not args.quiet:
        print(text)


def _threaded(func: Any) -> Any:
    """``func(args)`` run with at most ``--threads`` threads (torch's and OpenCV's pools)."""
    def run(args: argparse.Namespace) -> int:
        from labelfree._threads import limited_threads

        with limited_threads(args.threads, torch=True):
            return int(func(args) or 0)

    run.__doc__ = func.__doc__
    return run


def _config(args: argparse.Namespace, cls: Any, **overrides: Any) -> Any:
    from labelfree.cli import config_from_args

    base = config_from_args(cls, args)
    changes = {k: v for k, v in overrides.items() if v is not None}
    return base.replace(**changes) if changes else base


def _paired_inputs(args: argparse.Namespace) -> None:
    """``args.images`` and ``args.labels`` as two lists of files: as given; a folder's images with their
    ``<stem>_masks`` files (:func:`labelfree.evaluation.folders.pair_annotated_images`); or the images of a folder
    with the label images of the same stems in the ``--labels`` folder
    (:func:`labelfree.evaluation.folders.pair_image_folders`); sorted by stem."""
    from labelfree.evaluation.folders import pair_annotated_images, pair_image_folders
    from labelfree.io.ngff import is_ngff

    def listed(paths: list[Path], limit: int = 20) -> str:
        names = [p.name for p in paths]
        return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")

    folders = [p for p in args.images if p.is_dir() and not is_ngff(p)]
    label_dirs = [p for p in args.labels or [] if p.is_dir() and not is_ngff(p)]
    if not folders:
        if not args.labels:
            raise InputError("No --labels given: give one label image per image (--labels LAB...), or a folder "
                             "holding each image beside its <stem>_masks.png or .tif file instead of the images.")
        if label_dirs:
            raise InputError(f"--labels {label_dirs[0]} is a folder, given with image files: give both as folders "
                             "(IMAGES_FOLDER --labels LABELS_FOLDER, paired by name) or both as files (one label "
                             "image per image, in the images' order).")
        return
    if len(args.images) > 1:
        raise InputError(f"{folders[0]} is a folder, given with {len(args.images) - 1} other input(s): give one "
                         "folder (each image beside its <stem>_masks file), or image files with --labels (or one "
                         "folder of images with --labels LABELS_FOLDER).")
    folder = folders[0]
    if args.labels and (len(args.labels) > 1 or not label_dirs):
        raise InputError(f"--labels is given with the folder {folder} as {len(args.labels)} path(s) "
                         f"({', '.join(p.name for p in args.labels[:3])}): give both as folders (IMAGES_FOLDER "
                         "--labels LABELS_FOLDER, paired by name), the folder alone (each image beside its "
                         "<stem>_masks file), or both as files.")
    if args.labels and label_dirs[0].resolve() != folder.resolve():
        pairs, unpaired, unused = pair_image_folders(folder, label_dirs[0])
        missing = f"no label image in {label_dirs[0]}"
    else:  # the folder alone, or given as its own --labels: a Cellpose training folder
        (pairs, unpaired), unused = pair_annotated_images(folder), []
        missing = "no masks file (<stem>_masks.png or .tif)"
    if not args.quiet:
        if unpaired:
            print(f"{len(unpaired)} of the {len(pairs) + len(unpaired)} images in {folder} have {missing} and are "
                  f"left out: {listed(unpaired)}", file=sys.stderr)
        if unused:
            print(f"{len(unused)} of the {len(pairs) + len(unused)} label images in {label_dirs[0]} have no image "
                  f"in {folder} and are left out: {listed(unused)}", file=sys.stderr)
    args.images, args.labels = [p[1] for p in pairs], [p[2] for p in pairs]


def _read_images(paths: list[Path], dims: str | None, names: Any = None) -> list[Any]:
    """The images with a C axis: a YX file is one channel, named as ``names`` or the file names it, else C0."""
    from labelfree.fusion.channels import with_channel_axis
    from labelfree.image import channel_names
    from labelfree.io import read_image

    images = [read_image(p, dims=dims, channel_names=names) for p in paths]
    for p, img in zip(paths, images):
        if any(d not in "CYX" for d in img.dims):
            raise InputError(f"{p} has dims {''.join(img.dims)}; training, selection and evaluation take (C, Y, X) "
                             "images, one channel or several (give --dims, e.g. CYX, for a plain TIFF).")
    images = [with_channel_axis(img) for img in images]
    first = channel_names(images[0])
    for p, img in zip(paths[1:], images[1:]):
        if channel_names(img) != first:
            raise InputError(f"{p} has the channels {channel_names(img)} but {paths[0]} has {first}; training, "
                             "selection and evaluation take images of the same channels. Save the grey and the "
                             "colour pictures among them as one kind, or give the images of one kind only.")
    return images


def _read_labels(paths: list[Path], images: list[Any], image_paths: list[Path]) -> list[Any]:
    """The label image of each image, each checked to have its image's (Y, X) size before any model runs."""
    from labelfree.fusion.tasks import _check_labels
    from labelfree.io import read_labels

    if len(paths) != len(images):
        raise InputError(f"{len(images)} images but {len(paths)} label files; give one label image per image.")
    labels = [read_labels(p) for p in paths]
    _check_labels(images, labels, paths=list(zip(paths, image_paths)))
    return labels


@contextlib.contextmanager
def _zoo_to_file_in(path: Path, *, todo: str = "") -> Iterator[Any]:
    """The zoo at ``path``, created when absent, and checked to be writable before the command's work
    (:meth:`~labelfree.fusion.ModelZoo.check_writable`, ``todo`` its advice). When the command fails (or is
    interrupted) before it files a model there, a zoo it created is removed again: an empty zoo left behind
    would later read as "no model for these channels" instead of "not a zoo"."""
    from labelfree.errors import LabelFreeError
    from labelfree.fusion import ModelZoo
    from labelfree.fusion.zoo import INDEX_NAME

    made_folder, made_index = not path.exists(), not (path / INDEX_NAME).is_file()
    zoo = ModelZoo(path, create=True)
    try:
        zoo.check_writable(todo=todo)
        yield zoo
    except BaseException:
        if made_index:
            with contextlib.suppress(OSError, LabelFreeError):
                if not zoo.entries():
                    zoo.index_path.unlink()
                    if made_folder and not any(path.iterdir()):
                        path.rmdir()
        raise


def _check_csv(args: argparse.Namespace) -> None:
    """Refuse a ``--csv`` target that cannot be written (or exists, without --overwrite) before any work."""
    from labelfree.io import check_output_file

    if args.csv:
        check_output_file(args.csv, inputs=_csv_inputs(args), overwrite=args.overwrite, what="table")


def _diameter_line(choice: Any) -> str:
    from labelfree.fusion.tasks import DIAMETER_SOURCES

    return f"diameter {choice.diameter:.2f} px ({DIAMETER_SOURCES[choice.source]}; the same for every row)"


def _common(p: argparse.ArgumentParser, *, labels: bool) -> None:
    from labelfree.cli import add_config_options, add_progress_options, add_threads_option
    from labelfree.cli_core import channel_names_argument

    p.add_argument("images", nargs="+", type=Path, metavar="IMAGES",
                   help="images (C, Y, X; TIFF, PNG, JPEG, ...), or one folder holding each image beside its label "
                        "image <stem>_masks.png (or .tif; _mask, _labels, _gt, _seg), as a Cellpose training folder, "
                        "or a folder of images with --labels LABELS_FOLDER")
    if labels:
        p.add_argument("--labels", nargs="+", type=Path, default=None,
                       help="instance label image (TIFF, PNG) per image, in the images' order; with a folder of "
                            "images, a folder of label images named as the images (<stem>.tif, or <stem>_masks, _mask, "
                            "_labels, _gt, _seg; .tif or .png)")
    p.add_argument("--dims", default=None, help="axes of plain TIFFs, e.g. CYX")
    p.add_argument("--channel-names", metavar="NAMES", type=channel_names_argument,
                   help="names for the images' channels, comma-separated in their order (e.g. DAPI,GFP): models "
                        "are filed and matched under them (default: the files' names, else C0, C1, ...)")
    p.add_argument("--channels", nargs="+", default=None, help="channel names or indices (default: all)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the networks run (default: %(default)s: a CUDA GPU when there is one)")
    add_config_options(p)
    add_threads_option(p)
    add_progress_options(p, progress="a line per step on stderr (the default)", no_progress="no progress lines",
                         quiet="print nothing but errors (the --csv file is written)")


def register_verbs(sub: argparse._SubParsersAction) -> None:
    """``labelfree fusion train|select|eval|segment``."""
    from labelfree.cli import file_argument
    from labelfree.cli_core import add_pipeline_arguments, run_command
    from labelfree.pipelines import get_pipeline

    p = sub.add_parser("train", help="fine-tune models (channel-wise or multi-channel) into a zoo")
    _common(p, labels=True)
    p.add_argument("--zoo", type=Path, required=True, help="model zoo folder (created when absent)")
    p.add_argument("--mode", choices=("cw", "mc"), default="cw", help="channel-wise or multi-channel")
    p.add_argument("--object", choices=("nuclei", "cyto"), default="cyto")
    p.add_argument("--cell-line", default="")
    p.add_argument("--starting-model", default=None, help="weights file, cached built-in name or 'scratch'")
    p.add_argument("--epochs", type=int, default=None)
    p.set_defaults(func=_threaded(_train), output_option=("--zoo", "zoo", "a zoo (--zoo)"))

    p = sub.add_parser("segment", help="segment an image (the same as `labelfree fusion IMAGE ...`)")
    add_pipeline_arguments(p, get_pipeline("fusion"))
    _add_segment_options(p)
    p.set_defaults(func=run_command, pipeline="fusion")

    p = sub.add_parser("select", help="powerset search of training x evaluation channel subsets")
    _common(p, labels=True)
    p.add_argument("--zoo", type=Path, required=True)
    _add_kind_options(p)
    p.add_argument("--csv", type=file_argument("the table path (--csv)", "a file name, e.g. --csv table.csv"),
                   default=None, help="write the whole table here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.set_defaults(func=_threaded(_select))

    p = sub.add_parser("eval", help="F1 etc. of each channel, flow averaging and each baseline")
    _common(p, labels=True)
    p.add_argument("--zoo", type=Path, required=True)
    _add_kind_options(p)
    p.add_argument("--csv", type=file_argument("the table path (--csv)", "a file name, e.g. --csv table.csv"),
                   default=None, help="write the whole table here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.set_defaults(func=_threaded(_eval))


def register(sub: argparse._SubParsersAction) -> None:
    """``labelfree zoo add|list|pick|remove``, and Fusion's own option of ``labelfree fusion IMAGE``
    (:func:`_add_segment_options`; the command made by :mod:`labelfree.cli_core` just before)."""
    fusion = sub.choices.get("fusion")
    if fusion is not None:
        _add_segment_options(fusion)
    zoo = sub.add_parser("zoo", help="manage the Fusion model zoo")
    zsub = zoo.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    p = zsub.add_parser("add", help="file a weights file in the zoo")
    p.add_argument("zoo", type=Path, help="model zoo folder (created when absent)")
    p.add_argument("model", type=Path, help="cellpose weights file (.pt) to copy into the zoo")
    p.add_argument("--object", choices=("nuclei", "cyto"), required=True,
                   help="what it segments: nuclei or whole cells (cyto)")
    p.add_argument("--channels", nargs="+", required=True, metavar="NAME",
                   help="image channel names it was trained on (one: channel-wise; several: multi-channel); "
                        "Fusion picks models by these names")
    p.add_argument("--cell-line", default="",
                   help="cell line of the training images (optional; list and pick filter on it)")
    p.add_argument("--starting-model", default="scratch",
                   help="what training started from (built-in name, file or 'scratch'; recorded only)")
    p.add_argument("--f1", type=float, default=None, help="validation F1, if known")
    p.set_defaults(func=_zoo_add)
    p = zsub.add_parser("list", help="list the zoo's models")
    p.add_argument("zoo", type=Path)
    p.add_argument("--object", choices=("nuclei", "cyto"), default=None)
    p.add_argument("--cell-line", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_zoo_list)
    p = zsub.add_parser("pick", help="show the best model for an object and channel set")
    p.add_argument("zoo", type=Path)
    p.add_argument("--object", choices=("nuclei", "cyto"), required=True)
    p.add_argument("--channels", nargs="+", required=True)
    p.add_argument("--cell-line", default="")
    p.set_defaults(func=_zoo_pick)
    p = zsub.add_parser("remove", help="remove a model from the zoo")
    p.add_argument("zoo", type=Path)
    p.add_argument("id")
    p.set_defaults(func=_zoo_remove)


class _SetAlias(argparse.Action):
    """``--object nuclei`` as ``--set object=nuclei``: appends ``(key, value)`` to ``--set``'s list, in the
    order given on the command line (the last of them wins, as for repeated ``--set``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        settings = list(getattr(namespace, "settings", None) or [])
        settings.append((self.const, values))
        namespace.settings = settings


def _add_kind_options(p: argparse.ArgumentParser) -> None:
    """``--object`` and ``--cell-line`` of ``fusion select|eval``: the settings ``object`` and ``cell_line`` (as
    ``--set`` and a ``--config`` file give them; the last given wins), which pick the zoo's models."""
    p.add_argument("--object", dest="settings", action=_SetAlias, const="object", choices=("nuclei", "cyto"),
                   help="nuclei or cyto: which of the zoo's models to use (the same as --set object=...; default: "
                        "the config's, cyto)")
    p.add_argument("--cell-line", dest="settings", action=_SetAlias, const="cell_line", metavar="NAME",
                   help="use the zoo's models of this cell line (the same as --set cell_line=...)")


def _add_segment_options(p: argparse.ArgumentParser) -> None:
    """The options of ``labelfree fusion IMAGE`` beyond every pipeline's: ``--zoo-best`` declines the models of a
    Fusion run's provenance given as ``--config`` (:func:`labelfree.cli_core.run_command` reads it); ``--object``
    and ``--cell-line``, the names ``fusion train|select|eval`` give them, for ``--set object=`` and
    ``--set cell_line=``."""
    p.add_argument("--zoo-best", dest="record_declined", action="append_const", const="models",
                   help="pick each channel's model from the zoo as a run without --config does, also when --config "
                        "is a Fusion run's provenance, whose models are used otherwise: the model trained on exactly "
                        "the chosen channels when the zoo has one (whatever its validation F1), else each channel's "
                        "channel-wise model, else the model of the smallest channel set holding it; among models of "
                        "the same channels, the highest validation F1 (labelfree -v logs each pick and why)")
    p.add_argument("--object", dest="settings", action=_SetAlias, const="object", choices=("nuclei", "cyto"),
                   help="nuclei or cyto: which of the zoo's models to use (the same as --set object=...; default: "
                        "the config's, cyto)")
    p.add_argument("--cell-line", dest="settings", action=_SetAlias, const="cell_line", metavar="NAME",
                   help="use the zoo's models of this cell line (the same as --set cell_line=...)")


def _train(args: argparse.Namespace) -> int:
    from labelfree.fusion import FinetuneConfig, finetune
    from labelfree.fusion.finetune import as_channel_images, split_validation
    from labelfree.fusion.segment import _resolve_channels
    from labelfree.fusion.tasks import validation_scores

    _paired_inputs(args)
    cfg = _starting_model_from_file(args, _config(args, FinetuneConfig, starting_model=args.starting_model,
                                                  n_epochs=args.epochs))
    images = _read_images(args.images, args.dims, args.channel_names)
    labels = _read_labels(args.labels, images, args.images)
    arrays, names = as_channel_images(images)
    chans = _resolve_channels(names, args.channels or names)  # names, each once: a channel given twice trains once
    tr, va = split_validation(len(images), fraction=cfg.validation_fraction, seed=cfg.seed)
    train = ([images[i] for i in tr], [labels[i] for i in tr])
    val = ([images[i] for i in va], [labels[i] for i in va])
    same = _same_pixels(arrays, names, chans) if args.mode == "cw" else {}
    if same and not args.quiet:
        print(f"Channel(s) {', '.join(same)} hold the pixels of {', '.join(sorted(set(same.values())))} in every "
              "image (a grey image saved as colour): each model is trained once and filed under each name.",
              file=sys.stderr)
    subsets = [[c] for c in chans if c not in same] if args.mode == "cw" else [chans]
    todo = ("Give --zoo a folder you may write to (a new folder is made), or copy this zoo into one and give "
            "that; nothing was trained.")
    with _zoo_to_file_in(args.zoo, todo=todo) as zoo:
        for subset in subsets:
            result = finetune(*train, channels=subset, validation=val if va.size else None, config=cfg,
                              progress=_progress(args), device=args.device)
            scores = validation_scores(result.model, *val, channels=result.channels) if va.size else {}
            for filed in [result.channels, *([c] for c, first in same.items() if [first] == subset)]:
                entry = zoo.add(result, object=args.object, channels=filed, cell_line=args.cell_line,
                                starting_model=cfg.starting_model, validation=scores)
                _say(args, f"{entry['id']}: {result.history.epochs_run} epochs (best "
                           f"{result.history.best_epoch + 1}), validation F1 {scores.get('f1', float('nan')):.3f}")
    return 0


def _starting_model_from_file(args: argparse.Namespace, cfg: Any) -> Any:
    """``cfg`` with the ``starting_model`` that the ``--config`` file gives read against the file's folder, as a batch
    config file's paths are and as ``finetune(config=FILE)`` reads it
    (:func:`labelfree.fusion.finetune.starting_model_from_file`: a path that names something only relative to the
    current folder is refused; ``scratch`` and built-in names stay as written). A value of ``--starting-model`` or
    ``--set`` stays relative to the current folder. (``starting_model`` is the one path among
    :class:`FinetuneConfig`'s settings.)"""
    from labelfree.fusion.finetune import starting_model_from_file

    given = args.starting_model is not None or any(k.lower() == "starting_model" for k, _ in args.settings or [])
    if not getattr(args, "config", None) or given:
        return cfg
    return starting_model_from_file(cfg, args.config)


def _same_pixels(arrays: list[Any], names: list[str], chans: list[str]) -> dict[str, str]:
    """Each of ``chans`` whose pixels equal those of an earlier one in every image -> that earlier channel: its
    channel-wise model would be trained on the same pixels, and come out the same."""
    import numpy as np

    same: dict[str, str] = {}
    for k, c in enumerate(chans):
        for first in chans[:k]:
            if first not in same and all(np.array_equal(a[names.index(first)], a[names.index(c)]) for a in arrays):
                same[c] = first
                break
    return same


def _select(args: argparse.Namespace) -> int:
    from labelfree.errors import ModelFileError
    from labelfree.fusion import FusionConfig, ModelZoo, select_channels
    from labelfree.fusion.finetune import as_channel_images
    from labelfree.fusion.segment import _resolve_channels, pick_entries
    from labelfree.fusion.selection import CHANNELWISE
    from labelfree.fusion.tasks import measure_diameter

    _paired_inputs(args)
    _check_csv(args)
    cfg = _config(args, FusionConfig)
    images = _read_images(args.images, args.dims, args.channel_names)
    labels = _read_labels(args.labels, images, args.images)
    arrays, names = as_channel_images(images)
    chans = _resolve_channels(names, args.channels or names)
    zoo = ModelZoo(args.zoo)
    sets = {frozenset(e["channels"]) for e in zoo.list(object=cfg.object, cell_line=cfg.cell_line)
            if set(e["channels"]) <= set(chans)}  # models of the chosen channels only
    picked = [zoo.pick(object=cfg.object, channels=s, cell_line=cfg.cell_line) for s in sets]  # best of each set
    picked.sort(key=lambda e: (len(e["channels"]), [chans.index(c) for c in e["channels"]]))
    nets: dict[str, Any] = {}

    def load(entry: dict) -> Any:  # each model loaded once, for the rows and the diameter
        if entry["id"] not in nets:
            nets[entry["id"]] = zoo.load(entry, device=args.device)
        return nets[entry["id"]]

    models = {tuple(e["channels"]): load(e) for e in picked}
    ids = {frozenset(e["channels"]): e["id"] for e in picked}
    if not models:
        raise ModelFileError(_no_models_message(zoo, chans, cfg))
    idx = [names.index(c) for c in chans]
    arrays = [a[idx] for a in arrays]
    try:  # one diameter for every row: measured as `labelfree fusion --channel <these channels>` measures it
        serving = pick_entries(zoo, chans, config=cfg)
    except ModelFileError:  # a channel no model serves: measure on the channels some model serves
        serving = {c: e for e in picked for c in e["channels"]}
    measure = {c: load(e) for c, e in serving.items()}
    choice = measure_diameter(arrays, chans, measure, config=cfg)
    best, table = select_channels(arrays, labels, models=models, channels=chans,
                                  config=cfg.replace(diameter=choice.diameter), progress=_progress(args))

    def used(row: Any) -> str:
        if row["train"] == CHANNELWISE:
            return "+".join(ids[frozenset([c])] for c in row["evaluate"].split("+"))
        return ids[frozenset(row["train"].split("+"))]

    table.insert(2, "model", table.apply(used, axis=1))
    table["diameter"], table["diameter_source"] = round(choice.diameter, 3), choice.source
    _say(args, table.drop(columns=["diameter", "diameter_source"]).to_string(float_format=lambda v: f"{v:.3f}",
                                                                             na_rep=NOT_DEFINED))
    _say(args, f"best: train {best['train']}, evaluate {best['evaluate']}, F1 {best['f1']:.3f}")
    _say(args, _diameter_line(choice))
    _say(args, "segment with it: " + _best_command(args, zoo, cfg, best, ids))
    if args.csv:
        _write_csv(args, table)
    return 0


def _no_models_message(zoo: Any, chans: list[str], cfg: Any) -> str:
    """Why ``fusion select`` finds no model of the chosen channels ``chans``, with the options that use the zoo's
    models of another object or cell line (:func:`labelfree.fusion.channels.other_kind_hint`) when it has some."""
    from labelfree.fusion.channels import other_kind_hint

    line = f" of the cell line {cfg.cell_line!r}" if cfg.cell_line else ""
    among = [e for e in zoo.entries() if set(e["channels"]) <= set(chans)]  # those select would evaluate
    hint = other_kind_hint(among, chans, root=zoo.root, object=cfg.object, cell_line=cfg.cell_line,
                           command="labelfree fusion select IMAGES --labels LABELS")
    return (f"The zoo {zoo.root} has no {cfg.object} model{line} trained on channels among {chans}; `labelfree zoo "
            f"list {zoo.root}` shows what it holds. {hint}").rstrip()


def _best_command(args: argparse.Namespace, zoo: Any, cfg: Any, best: Any, ids: dict) -> str:
    """The ``labelfree fusion`` command that segments with the models of ``best`` (a row of the selection
    table): ``--channel`` and the zoo when a run picks exactly those models, else their files as ``--model-file``."""
    import shlex

    from labelfree.errors import ModelFileError
    from labelfree.fusion.segment import pick_entries
    from labelfree.fusion.selection import CHANNELWISE

    evaluate = best["evaluate"].split("+")
    if best["train"] == CHANNELWISE:
        want = {c: ids[frozenset([c])] for c in evaluate}
    else:
        want = dict.fromkeys(evaluate, ids[frozenset(best["train"].split("+"))])
    try:
        picked = {c: e["id"] for c, e in pick_entries(zoo, evaluate, config=cfg).items()}
    except ModelFileError:
        picked = {}
    words = ["labelfree", "fusion", "IMAGE", "-o", "OUT", "--zoo", str(args.zoo), "--object", cfg.object]
    words += ["--cell-line", cfg.cell_line] if cfg.cell_line else []
    words += ["--dims", args.dims] if args.dims else []
    words += ["--channel-names", ",".join(args.channel_names)] if args.channel_names else []
    words += ["--channel", ",".join(evaluate)]
    if picked != want:  # a run would pick others (e.g. the model of exactly these channels): name the files
        words += ["--model-file", ",".join(f"{c}={zoo.path_of(i)}" for c, i in want.items())]
    return " ".join(shlex.quote(w) for w in words)


def _eval(args: argparse.Namespace) -> int:
    from labelfree.fusion import FusionConfig
    from labelfree.fusion.diameter import DiameterChoice
    from labelfree.fusion.tasks import compare_fusions

    _paired_inputs(args)
    _check_csv(args)
    cfg = _config(args, FusionConfig)
    images = _read_images(args.images, args.dims, args.channel_names)
    labels = _read_labels(args.labels, images, args.images)
    table = compare_fusions(images, labels, zoo=args.zoo, channels=args.channels, config=cfg, device=args.device,
                            progress=_progress(args))
    record = table.attrs["labelfree"]
    _say(args, table.to_string(float_format=lambda v: f"{v:.3f}", na_rep=NOT_DEFINED))
    _say(args, _diameter_line(DiameterChoice(record["diameter"], record["diameter_source"])))
    if args.csv:
        _write_csv(args, table.reset_index().assign(**record))
    return 0


def _zoo_add(args: argparse.Namespace) -> int:
    if args.f1 is not None and not (math.isfinite(args.f1) and 0 <= args.f1 <= 1):
        raise InputError(f"--f1 must be a validation F1 between 0 and 1; got {args.f1}. Leave it out when "
                         "the F1 is not known.")
    with _zoo_to_file_in(args.zoo) as zoo:
        entry = zoo.add(args.model, object=args.object, channels=args.channels, cell_line=args.cell_line,
                        starting_model=args.starting_model,
                        validation={} if args.f1 is None else {"f1": args.f1})
    print(entry["id"])
    return 0


def _zoo_list(args: argparse.Namespace) -> int:
    from labelfree.fusion import ModelZoo
    from labelfree.fusion.zoo import strict_json

    zoo = ModelZoo(args.zoo)
    entries = zoo.list(object=args.object, cell_line=args.cell_line)
    if args.json:
        print(json.dumps(strict_json(entries), indent=2))
        return 0
    if not entries:  # said on stderr: the listing itself (stdout) stays empty for scripts
        wanted = [f"{k} {v}" for k, v in (("object", args.object), ("cell line", args.cell_line)) if v]
        print(f"The zoo {args.zoo} holds no model{' of ' + ', '.join(wanted) if wanted else ''}; "
              "'labelfree zoo list ZOO' lists all of them, 'labelfree fusion train' adds one.", file=sys.stderr)
    damaged = []
    for e in entries:
        f1 = (e.get("validation") or {}).get("f1")
        status = _file_status(zoo, e)
        if status != "ok":
            damaged.append(e["id"])
        print(f"{e['id']}\t{e['object']}\t{e['cell_line'] or '-'}\t{'+'.join(e['channels'])}\t"
              f"F1={'-' if f1 is None else f'{f1:.3f}'}\t{e.get('date', '-')}"
              + ("" if status == "ok" else f"\t{status.upper()}"))
    if damaged:
        print(f"{len(damaged)} of the {len(entries)} models listed cannot be used: their weights file is MISSING or "
              "CHANGED (its sha256 is not the one the index records); runs that pick them stop. Put the files back, "
              f"or remove each entry (`labelfree zoo remove {args.zoo} {damaged[0]}`) and train or file it again.",
              file=sys.stderr)
    return 0


def _file_status(zoo: Any, entry: dict) -> str:
    """``ok``, ``missing`` or ``changed`` (:meth:`~labelfree.fusion.ModelZoo.file_status`), or ``bad file name``
    for an entry whose file name :meth:`~labelfree.fusion.ModelZoo.path_of` refuses."""
    from labelfree.errors import ModelFileError

    try:
        return zoo.file_status(entry)
    except ModelFileError:
        return "bad file name"


def _zoo_pick(args: argparse.Namespace) -> int:
    from labelfree.fusion import ModelZoo
    from labelfree.fusion.zoo import strict_json

    entry = ModelZoo(args.zoo).pick(object=args.object, channels=args.channels, cell_line=args.cell_line)
    print(json.dumps(strict_json(entry), indent=2))
    return 0


def _zoo_remove(args: argparse.Namespace) -> int:
    from labelfree.fusion import ModelZoo

    print(f"removed {ModelZoo(args.zoo).remove(args.id)['id']}")
    return 0


def _csv_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """Every input of select and eval: the --csv table may be none of them, nor lie inside the zoo."""
    inputs: dict[str, Any] = {f"image{i}": p for i, p in enumerate(args.images)}
    inputs.update({f"labels{i}": p for i, p in enumerate(args.labels)})
    inputs.update({"config file": getattr(args, "config", None), "zoo": args.zoo})
    return inputs


def _write_csv(args: argparse.Namespace, table: Any) -> None:
    from labelfree.io import write_output_file

    write_output_file(args.csv, lambda tmp: table.to_csv(tmp, index=False), inputs=_csv_inputs(args),
                      overwrite=args.overwrite, what="table")
