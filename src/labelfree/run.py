"""Running a registered pipeline as every entry point does (CLI, batch, Fiji, Python).

:func:`run_pipeline` takes a pipeline name or spec, an image, the pipeline's config,
the channel choice and the extra inputs (markers, zoo, ...), checks them all before
the work starts, runs the segmentation and records the choices in the provenance.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np
import xarray as xr

from labelfree import _warning_hooks
from labelfree._config import provenance_of
from labelfree._label_memory import memory_text, require_label_memory
from labelfree._reproduce import RecordedRun, input_options
from labelfree._threads import limited_threads
from labelfree.errors import ConfigError, InputError, MemoryLeftError
from labelfree.image import channel_names, one_channel, parse_channels, select_channels, to_dataarray
from labelfree.spec import PipelineSpec

__all__ = ["prepare_image", "prepare_inputs", "input_files", "output_inputs", "check_output_inputs", "coerce_config",
           "run_pipeline", "run_tiling_as_needed", "resolve", "check_tiles"]

log = logging.getLogger(__name__)


def resolve(pipeline: str | PipelineSpec, /) -> PipelineSpec:
    """The spec of a pipeline given by name or spec."""
    if isinstance(pipeline, PipelineSpec):
        return pipeline
    from labelfree.pipelines import get_pipeline

    return get_pipeline(pipeline)


def check_tiles(spec: PipelineSpec, /) -> None:
    """ConfigError when the pipeline cannot run in tiles (a tiled run and a tiled batch refuse alike)."""
    if spec.tiles:
        return
    from labelfree.pipelines import pipelines

    able = ", ".join(name for name, other in pipelines().items() if other.tiles)
    raise ConfigError(f"The {spec.name} pipeline cannot run in tiles (it learns from or links whole frames); "
                      f"pipelines that can: {able}. Segment the image whole (without --tile; batch config: tile: null).")


def prepare_image(pipeline: str | PipelineSpec, image: Any, /, *, channel: Any = None) -> xr.DataArray:
    """The image as the pipeline takes it: one channel, or the chosen channels.

    Parameters
    ----------
    pipeline : name or PipelineSpec
    image : DataArray or array
    channel : index, name, list of them, or None
        One-channel pipelines: the channel to segment (needed when the image has several).
        Many-channel pipelines: the channels to hand over (None: all).
    """
    spec = resolve(pipeline)
    da = _as_dataarray(spec, image)
    if spec.channels == "one":
        if isinstance(channel, (list, tuple)):
            if len(channel) != 1:
                raise InputError(f"{spec.title} segments one channel; got {len(channel)} channels {list(channel)}.")
            channel = channel[0]
        return one_channel(da, channel, what=spec.title)
    return select_channels(da, channel)


def _as_dataarray(spec: PipelineSpec, image: Any, /) -> xr.DataArray:
    """``image`` as a DataArray; a plain 3-D array is (T, Y, X) for a pipeline that needs a time-lapse,
    as its own ``segment`` takes it."""
    if not isinstance(image, xr.DataArray) and spec.needs_time:
        if isinstance(image, (list, tuple)):  # frames of one size
            image = np.asarray(image) if len({np.shape(f) for f in image}) == 1 else image
        if getattr(image, "ndim", None) == 3:
            return to_dataarray(image, dims="TYX")
    from labelfree._axes import z_stacks_note
    from labelfree.image import refuse_without_dims

    refuse_without_dims(image, note=z_stacks_note)  # which pipelines take a z-stack, as their segment says
    return to_dataarray(image)


def prepare_inputs(pipeline: str | PipelineSpec, inputs: Mapping[str, Any] | None, /, *, image: Any = None) -> dict[str, Any]:
    """Read the extra inputs (files are read by the spec's readers); unknown names are an InputError."""
    spec = resolve(pipeline)
    given = {k: v for k, v in (inputs or {}).items() if v is not None and not (isinstance(v, str) and not v)}
    unknown = sorted(k for k in given if spec.input(k) is None)
    if unknown:
        known = ", ".join(i.name for i in spec.inputs) or "none"
        raise InputError(f"The {spec.name} pipeline takes no {' or '.join(unknown)} (its extra inputs: {known}).")
    out = {}
    for name, value in given.items():
        inp = spec.input(name)
        read = inp.read(value, image=image)
        if read is not None:
            out[inp.name] = read
    return out


def output_inputs(pipeline: str | PipelineSpec, inputs: Mapping[str, Any] | None, /) -> dict[str, Any]:
    """The files the run writes besides its output set (``kind="output"`` inputs, e.g. a model to
    save), as ``{what: path}`` for :meth:`labelfree.io.OutputFolder.check_files`; inputs by name or key."""
    spec = resolve(pipeline)
    out = {}
    for key, value in (inputs or {}).items():
        inp = spec.input(key)
        if inp is not None and inp.kind == "output" and inp.given(value):
            what = inp.macro_key.replace("_", " ")
            out[what] = value
            for suffix in inp.companions:  # written beside it: a model's sidecar <file>.json
                out[f"{what}'s {suffix} sidecar"] = f"{os.fspath(value)}{suffix}"
    return out


def input_files(pipeline: str | PipelineSpec, inputs: Mapping[str, Any] | None, /) -> dict[str, str]:
    """The files the extra inputs name (inputs by name or key), as ``{role: path}``: each file of a value naming
    several (Fusion's ``CHANNEL=FILE`` pairs: ``"models GFP"``) on its own, as the input's ``files`` hook lists
    them (:meth:`labelfree.spec.Input.paths`); for the provenance's ``inputs`` and the outputs' checks."""
    spec = resolve(pipeline)
    out = {}
    for key, value in (inputs or {}).items():
        inp = spec.input(key)
        if inp is None:
            continue
        for label, path in inp.paths(value).items():
            out[f"{inp.name} {label}" if label else inp.name] = path
    return out


def check_output_inputs(pipeline: str | PipelineSpec, inputs: Mapping[str, Any] | None, /, *, image: Any = None,
                        overwrite: bool = True) -> None:
    """Check the files the run writes besides its output set before any work: none is the image or an
    input file of the run, each lies in a writable folder, and an existing one only with ``overwrite``."""
    from labelfree.io import check_output_file

    spec = resolve(pipeline)
    targets = output_inputs(spec, inputs)
    if not targets:
        return
    sources = {"image": getattr(image, "attrs", {}).get("source"), **input_files(spec, inputs)}
    for what, path in targets.items():
        check_output_file(path, inputs={k: v for k, v in sources.items() if v}, overwrite=overwrite, what=what)


def coerce_config(pipeline: str | PipelineSpec, config: Any = None, /, *, changes: Mapping[str, Any] | None = None) -> Any:
    """The pipeline's config from an object, dict, file or None, with ``changes`` applied (all validated)."""
    spec = resolve(pipeline)
    cfg = spec.config_class.coerce(config)
    return cfg.replace(**dict(changes)) if changes else cfg


def run_pipeline(
    pipeline: str | PipelineSpec,
    image: Any,
    /,
    *,
    config: Any = None,
    channel: Any = None,
    inputs: Mapping[str, Any] | None = None,
    progress: Any = False,
    tile: int | Literal["auto"] | None = "auto",
    tile_overlap: int = 128,
    threads: int | None = None,
    overwrite: bool = True,
    segment_keywords: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Run a registered pipeline on ``image`` with every check an entry point makes.

    Parameters
    ----------
    pipeline : name or PipelineSpec
    image : DataArray or array
        Dims from T, C, Z, Y, X (see :func:`labelfree.io.read_image`). A plain array is (Y, X), or
        (T, Y, X) for a pipeline that needs a time-lapse (Motion); wrap others with
        :func:`labelfree.image.to_dataarray` and ``dims=``.
    config : config object, dict, JSON/YAML path or None
    channel : see :func:`prepare_image`
    inputs : mapping
        Extra inputs by name or macro key (``markers``, ``zoo``, ...): values or files to
        read, choices, and files to write (``kind="output"``, checked before any work).
    progress : bool, tqdm-like or callable
    tile : int, "auto" or None
        Segment each plane in overlapping tiles of this core size (pixels), for images too
        large to segment whole (pipelines whose spec allows it; see :mod:`labelfree.tiling`).
        ``"auto"`` (the default), as the command line, a batch run and the Fiji commands: each plane
        whole, unless the pipeline takes tiles and its work on a whole plane cannot fit beside the
        labels in the memory left; then the largest of 4096, 2048, 1024 and 512 px that fits, logged,
        and smaller again where the run, once it has read its networks and diameter, finds that it
        cannot fit (:func:`run_tiling_as_needed`). A provenance record given as ``config`` that ran in
        tiles gives its tiles. None: each plane whole (a plane that cannot fit is refused, naming the
        tile that fits).
    tile_overlap : int
        Pixels each tile reads beyond its core: at least the largest object diameter.
    threads : int, optional
        Threads the pipeline uses (OpenCV, torch, its own pools), as given even above the cores;
        default: a provenance record's ``threads`` (see ``config``), else ``LABELFREE_THREADS``
        or the cores this process may use (see :mod:`labelfree._threads`).
    overwrite : bool
        An output file among the extra inputs (e.g. a model to save) may replace an existing file.
    segment_keywords : mapping, optional
        More keywords of the pipeline's segment function, none of them a setting: a chunk of a movie that a
        batch run splits gets what was measured on the whole movie (Motion's ``grey_range`` and
        ``frame_gains``, :func:`labelfree.frame_chunks.measure_whole_movie`). Not with ``tile``.

    Returns
    -------
    labels : DataArray; ``attrs["labelfree"]`` holds the provenance, with ``channels``
        (the channels segmented) and ``threads`` (the thread count used, unless the pipeline
        recorded its own) added, ``tiles`` for a tiled run, and ``warnings`` when the run showed any.

    Notes
    -----
    The Python warnings the run shows in the calling thread are recorded as its ``warnings`` (sorted, each
    once, ``Category: message``, as a command-line run records its own) and still shown as Python shows them:
    your filters apply, so under ``warnings.simplefilter("error")`` the first one raises, and one that a filter
    ignores is neither shown nor recorded. Under Python's default filter each run shows (and records) a warning
    once per place in the code, also one that an earlier run showed (:func:`labelfree._warning_hooks.recording`).
    Warnings of other threads and the warnings LabelFree logs (``logging``) are not recorded here; the command
    line records those it shows.

    A run's provenance record given as ``config`` (its ``_provenance.json``, the record itself, or
    a config read from it: :func:`labelfree._config.provenance_of`) repeats that run: its settings;
    its ``threads`` when none are given; the saved model a Cutter run applied, when no model is given
    (nor one to save): the file, checked by its sha256 (missing or changed: a ModelFileError); the
    models the run used, as the pipeline's ``record_models`` hook says (Fusion: by zoo id and sha256,
    from the zoo the run used when no ``zoo`` is given); the channels it was handed (its ``input_options``),
    unless ``channel`` is given: then a warning names what differs
    (:meth:`labelfree._reproduce.RecordedRun.input_choices`). How that run read its image (channel names,
    series) and its tiles are the caller's to give; a warning names those that differ. The record of every
    run holds ``input_options`` (the channels given) and, for a run whose models came from a model zoo,
    ``zoo`` (its folder: the zoo of LabelFree's cache when none was given). It compares the record's
    ``software`` with this one and logs one warning naming what differs
    (:meth:`labelfree._reproduce.RecordedRun.software_changes`).
    """
    spec = resolve(pipeline)
    if isinstance(tile, (str, bool)):
        if tile != "auto":
            raise InputError(f"tile={tile!r}: give a tile size in pixels (an int), 'auto' (each plane whole unless its "
                             "work cannot fit in the memory left) or None (each plane whole).")
        return _run_tiles_auto(spec, image, config=config, channel=channel, inputs=inputs, progress=progress,
                               tile_overlap=tile_overlap, threads=threads, overwrite=overwrite,
                               segment_keywords=segment_keywords)
    with _warning_hooks.recording() as shown:
        labels = _run(spec, image, config=config, channel=channel, inputs=inputs, progress=progress, tile=tile,
                      tile_overlap=tile_overlap, threads=threads, overwrite=overwrite,
                      segment_keywords=dict(segment_keywords or {}))
    if shown:  # last, as a command's record has them; with any the pipeline recorded itself
        record = dict(labels.attrs["labelfree"])
        record["warnings"] = sorted({*(record.pop("warnings", None) or []), *shown})
        labels.attrs["labelfree"] = record
    return labels


def _run(spec: PipelineSpec, image: Any, /, *, config: Any, channel: Any, inputs: Mapping[str, Any] | None,
         progress: Any, tile: int | None, tile_overlap: int, threads: int | None, overwrite: bool,
         segment_keywords: dict[str, Any]) -> xr.DataArray:
    """:func:`run_pipeline` but for the warnings it records."""
    cfg = spec.config_class.coerce(config, applies_record=True)
    recorded = provenance_of(cfg)
    if recorded is not None:  # the channels handed over as the recorded run chose them, unless given
        chosen = recorded.input_choices({"channels": _channels_given(channel)})
        if channel is None or (isinstance(channel, str) and not channel.strip()):
            channel = chosen["channels"]
        _warn_unrepeated(recorded, image, tile)
        _warn_other_image(recorded, image)
    inputs, pinned = _recorded_inputs(spec, recorded, inputs)
    if threads is None and recorded is not None:
        threads = recorded.threads  # torch's sums, so the labels, depend on it
    full = _as_dataarray(spec, image)
    if channel is None and recorded is not None:  # an older record: the channels it segmented
        channel = recorded.older_channels(channel_names(full))
    da = prepare_image(spec, full, channel=channel)
    # before any work, the extra inputs read included: labels (and a plane's work) that cannot fit are refused, saying
    # what fits; a tiled run holds the labels too (the pipelines' segment functions check again, for direct calls)
    require_label_memory(dict(da.sizes), spec, tiled=tile is not None)
    check_output_inputs(spec, inputs, image=full, overwrite=overwrite)
    kwargs = prepare_inputs(spec, inputs, image=da)
    # files the pipeline writes (a model to save), checked just above: it replaces them as allowed there
    writes = {"overwrite": overwrite} if output_inputs(spec, inputs) else {}
    # torch's pool (and its count from OMP/MKL_NUM_THREADS) for pipelines that run networks only: the count of
    # a Motion or Threshold run does not depend on whether torch happens to be imported
    with limited_threads(threads, torch=spec.torch) as n_threads, pinned:
        if recorded is not None:  # torch imported by now (a network's pipeline): its kernel level is known
            recorded.warn_software(torch=spec.torch, threads=n_threads)
        if tile is not None and segment_keywords:
            raise InputError(f"A tiled run takes no segment keywords ({', '.join(segment_keywords)}): segment the "
                             "image whole, or leave them out.")
        if tile is not None:  # tile=0 is refused by run_tiled, not taken as "no tiles"
            spatial = [k for k in kwargs if not spec.input(k).in_tiles]
            if spatial:
                raise InputError(f"Tiled runs take no per-pixel inputs such as {', '.join(spatial)}; segment the "
                                 "image whole, or leave them out.")
            objects = {k: type(v).__name__ for k, v in kwargs.items() if not isinstance(v, (str, os.PathLike))}
            if objects:  # every tile gets them as text (a worker process may run it)
                raise InputError(f"Tiled runs hand every tile its inputs as text (a file, a folder, a choice); "
                                 f"{', '.join(f'{k} was given as a {t}' for k, t in objects.items())}. Give each as "
                                 "text (Fusion's models: one file, or CHANNEL=FILE pairs such as "
                                 "'GFP=gfp.pt,Cy5=cy5.pt'), or segment the image whole.")
            labels = run_tiled(spec, da, config=cfg, tile=tile, overlap=tile_overlap, progress=progress,
                               inputs=kwargs)
        else:
            labels = spec.segment_function(da, config=cfg, progress=progress, **kwargs, **writes, **segment_keywords)
    used = channel_names(da) or ([str(da.coords["C"].values)] if "C" in da.coords else [])
    record = dict(labels.attrs.get("labelfree") or {})
    if channel_names(full) or "C" in full.coords:  # named channels, or the name of a one-channel image
        record.setdefault("channels", used)  # Fusion records the ones it fused (a subset, blank ones left out)
    record.setdefault("threads", n_threads)  # torch's sums (Cutter, Fusion) depend on it: the labels can too
    # the channels handed over, as given (a command line records how it read the image too)
    record.setdefault("input_options", input_options(channels=_channels_given(channel)))
    zoo = _zoo_used(spec, inputs, record)
    if zoo:  # the zoo that served the models (the cache's when none was given), where a repeated run looks
        record.setdefault("zoo", zoo)
    labels.attrs["labelfree"] = record
    return labels


def _run_tiles_auto(spec: PipelineSpec, image: Any, /, *, config: Any, segment_keywords: Mapping[str, Any] | None,
                    inputs: Mapping[str, Any] | None, tile_overlap: int, **kwargs: Any) -> xr.DataArray:
    """:func:`run_pipeline` with ``tile="auto"``: the tiles of a record given as ``config``, else those
    :func:`labelfree._label_memory.auto_tile` chooses for the memory left (None: each plane whole), chosen again
    smaller where the run refuses them (:func:`run_tiling_as_needed`). A run that cannot go in tiles (the
    pipeline's, segment keywords, inputs that are neither text nor handed to every tile) is made whole."""
    from labelfree._label_memory import auto_tile, memory_left, tiles_chosen_text

    # read once (a record's file, a YAML): the runs below take the config object, which keeps its record
    config = spec.config_class.coerce(config, applies_record=True)
    recorded = provenance_of(config)
    tiles = recorded.tile_options if recorded is not None else None
    if tiles:  # the recorded run's tiles repeat its labels
        return run_pipeline(spec, image, config=config, inputs=inputs, segment_keywords=segment_keywords,
                            tile=int(tiles["tile"]), tile_overlap=int(tiles.get("tile_overlap", 128)), **kwargs)
    given = {k: v for k, v in (inputs or {}).items() if v is not None}
    tiles_take = spec.tiles and not segment_keywords and all(
        isinstance(v, (str, os.PathLike)) and getattr(spec.input(k), "in_tiles", False) for k, v in given.items())
    tile = None
    if tiles_take:
        sizes = dict(_as_dataarray(spec, image).sizes)
        memory = memory_left(spec)
        tile = auto_tile(sizes, spec, memory)
        if tile:
            log.info("%s", tiles_chosen_text("the image", sizes, spec, memory, tile, room="of memory left",
                                             choose="tile= to choose"))
    return run_tiling_as_needed(spec, image, tile=tile, chosen=tiles_take, choose="tile= to choose", config=config,
                                inputs=inputs, segment_keywords=segment_keywords, tile_overlap=tile_overlap, **kwargs)


def _channels_given(channel: Any, /) -> tuple[int | str, ...] | None:
    """The channels of a run's ``channel`` as a record holds them (a tuple of indices and names; None: all, or
    a choice given in a form a record cannot hold)."""
    try:
        return parse_channels(channel)
    except InputError:
        return None


def _warn_unrepeated(recorded: RecordedRun, image: Any, tile: int | None, /) -> None:
    """Warn where ``image`` was read otherwise than the recorded run read its own (other channel names, another
    series), or the run was cut into tiles and this one is not or in other tiles, or the other way round (a plane
    that fitted whole there but not in the memory left here): those are the caller's to give (the command line's
    ``--config`` takes them itself), and the labels may differ without them."""
    options = recorded.input_options
    said = []
    names = options.get("channel_names")
    if isinstance(image, xr.DataArray) and isinstance(names, list) and names:
        now = channel_names(image) or ([str(image.coords["C"].values)] if "C" in image.coords else [])
        if now != [str(n) for n in names]:
            said.append(f"its channels were named {','.join(map(str, names))} (channel_names=), this image's are "
                        f"{','.join(now) or 'none'}")
    series = options.get("series")
    if isinstance(image, xr.DataArray) and series is not None and image.attrs.get("series") != series:
        said.append(f"it read series {series} of its file (series=)")
    tiles = recorded.tile_options
    if tiles and (tile is None or int(tile) != tiles["tile"]):
        said.append(f"it ran in tiles of {tiles['tile']} px (tile={tiles['tile']}, tile_overlap="
                    f"{tiles.get('tile_overlap', 128)})" + ("" if tile is None else f", this one in tiles of {tile} px"))
    elif not tiles and tile is not None:  # also where too little memory is left for a whole plane here
        said.append(f"it segmented each plane whole (tile=None), this one in tiles of {tile} px, so objects on the "
                    "tiles' borders may differ")
    if said:
        log.warning("%s is the provenance of a run that read or cut its image otherwise than this one: %s. Give "
                    "the same (read_image(..., channel_names=, series=, dims=) as its input_options say; "
                    "run_pipeline(..., tile=, tile_overlap=)) to repeat its labels.", recorded.source,
                    "; ".join(said))


def _warn_other_image(recorded: RecordedRun, image: Any, /) -> None:
    """Warn once when ``image`` was read from a file (its ``attrs["source"]``) that is not the one the recorded run
    read (:meth:`labelfree._reproduce.RecordedRun.warn_input`: by SHA-256, so the same bytes under another name
    are the same image); the file is hashed only for a record that names its image's sha256."""
    source = image.attrs.get("source") if isinstance(image, xr.DataArray) else None
    if isinstance(source, (str, os.PathLike)) and recorded.recorded_image:
        from labelfree._config import file_sha256

        recorded.warn_input(source, sha256=lambda: file_sha256(source))


def _zoo_used(spec: PipelineSpec, inputs: Mapping[str, Any], record: Mapping[str, Any], /) -> str | None:
    """The folder of the model zoo that served a run's models (a pipeline with a ``zoo`` input whose record
    names a zoo model, by ``id``): the zoo given, else the one its segment module's ``check_inputs`` fills in
    (Fusion: the zoo of LabelFree's model cache); None when no zoo model served it."""
    import importlib

    zoo_input = spec.input("zoo")
    models = record.get("models")
    if zoo_input is None or not isinstance(models, dict) \
            or not any(isinstance(m, dict) and m.get("id") for m in models.values()):
        return None
    zoo = next((inputs[k] for k in (zoo_input.name, zoo_input.macro_key) if zoo_input.given(inputs.get(k))), None)
    if zoo is None:
        check = getattr(importlib.import_module(spec.segment.partition(":")[0]), "check_inputs", None)
        try:
            zoo = (check({}) or {}).get(zoo_input.name) if check is not None else None
        except (InputError, OSError):  # the cache's zoo gone since: nothing to name
            return None
    zoo = getattr(zoo, "root", zoo)  # a ModelZoo object
    return str(Path(zoo).expanduser().resolve()) if isinstance(zoo, (str, os.PathLike)) and str(zoo) else None


def _recorded_inputs(spec: PipelineSpec, recorded: RecordedRun | None, inputs: Mapping[str, Any] | None,
                     /) -> tuple[dict[str, Any], contextlib.AbstractContextManager]:
    """The extra inputs of a run repeated from ``recorded`` (a provenance record given as config) and the
    context the run takes place in: the saved model the recorded run applied (Cutter's ``model_file``), when
    none is given (nor one to save), checked by its sha256; the models the run used, as the spec's
    ``record_models`` hook uses them (Fusion: pinned, from the recorded zoo when no zoo is given).

    Raises
    ------
    ModelFileError
        The recorded model file is missing or has changed.
    """
    out = dict(inputs or {})
    if recorded is None:
        return out, contextlib.nullcontext()

    def given(inp: Any) -> bool:
        return any(inp.given(out.get(key)) for key in {inp.name, inp.macro_key})

    model = next((i for i in spec.inputs if i.macro_key == "model_file"), None)  # the key provenance() records
    saves = [i for i in spec.inputs if i.kind == "output" and given(i)]
    if recorded.model_file and model is not None and not given(model) and not saves:
        out[model.name] = str(_recorded_model_file(recorded, model.flag))
    if not recorded.models or not spec.record_models:
        return out, contextlib.nullcontext()
    from labelfree.spec import load

    return load(spec.record_models)(recorded, out, given)


def _recorded_model_file(recorded: RecordedRun, flag: str, /) -> Path:
    """The saved model a recorded run applied, found where it was and checked by its sha256."""
    from labelfree._config import file_sha256
    from labelfree.errors import ModelFileError

    path = recorded.path(recorded.model_file)
    sha = recorded.model_sha256
    what = (f"{recorded.source} is the provenance of a run that applied the saved model {recorded.model_file}"
            f"{f' (sha256 {sha[:12]})' if sha else ''}")
    todo = (f"To repeat that run, give that model ({flag} FILE; Python: inputs={{'model': FILE}}); to run the "
            f"record's settings with another model, give it ({flag}); to train a new one, give a config of the "
            "settings alone (the record's \"config\" entry; Python: config=record['config']).")
    if not path.is_file():
        raise ModelFileError(f"{what}, and that file is missing ({path}). {todo}")
    if sha and file_sha256(path) != sha:
        raise ModelFileError(f"{what}, and that file has changed since (sha256 now {file_sha256(path)[:12]}). {todo}")
    log.info("%s: applying the saved model %s, as its run did", recorded.source, path)
    return path


def run_tiling_as_needed(pipeline: str | PipelineSpec, image: Any, /, *, tile: int | None, chosen: bool,
                         choose: str, say: Callable[[str], Any] = log.info, **kwargs: Any) -> xr.DataArray:
    """:func:`run_pipeline` (``kwargs``: its other keywords) with ``tile`` (None: the planes whole); where that tile
    was chosen for the run (``chosen``: none was given; the command line, a batch run and the Fiji commands choose
    one from the pipeline's spec before the run, :func:`labelfree._label_memory.auto_tile`) and the run's own check,
    which knows more once it has read what it runs (Fusion's networks, and the scale they see the plane at once it
    knows the diameter), refuses it for want of memory while a smaller tile fits, the run again in that tile, said
    through ``say`` (``choose``: how to choose a tile there). A given tile is kept: the refusal is the run's.

    Raises
    ------
    MemoryLeftError
        Where no smaller tile fits, or the tile was given.
    """
    while True:
        try:
            return run_pipeline(pipeline, image, tile=tile, **kwargs)
        except MemoryLeftError as refused:
            smaller = refused.tile
            if not chosen or not smaller or (tile is not None and smaller >= tile):
                raise
            where = f"a tile of {tile} px" if tile else "a whole plane"
            why = f" ({refused.note})" if refused.note else ""
            say(f"{refused.title or resolve(pipeline).title}: its work on {where} takes {memory_text(refused.work)}"
                f"{why}, and {memory_text(refused.left)} of memory is left: segmented in tiles of {smaller} px "
                f"({choose}).")
            tile = smaller
            if kwargs.get("tile_overlap") is None:
                kwargs["tile_overlap"] = 128


def run_tiled(spec: PipelineSpec, image: xr.DataArray, /, *, config: Any, tile: int, overlap: int,
              progress: Any = False, inputs: Mapping[str, Any] | None = None) -> xr.DataArray:
    """Segment every plane (each T and Z) of ``image`` in overlapping tiles; one id per object per plane, or per
    3-D object of a z-stack that the pipeline segments as volumes.

    Only pipelines whose spec allows tiles; whole-image and whole-plane statistics are fixed
    first by the spec's ``tile_run_config`` and ``tile_config`` hooks, so that every tile uses
    the same values, recorded under ``auto`` in the provenance. ``inputs`` (those whose
    :attr:`labelfree.spec.Input.in_tiles` holds: Fusion's ``zoo``, ``device`` and model files) go to every
    tile unchanged.

    A pipeline that segments a z-stack as volumes (the spec's ``tile_volume_config``: the threshold
    pipeline) gets each volume's settings fixed once, before its planes are cut (one automatic threshold
    per time point, recorded per volume under ``auto``, and ``volumes`` recorded), and its ``tile_finish``
    hook completes the assembled labels (sizes in voxels, one id per 3-D object).

    The warnings the tiles raise are said once per kind for the whole run when it ends, with the
    number of tiles (and planes) where they arose and the first tiles' pixels (``y0:y1, x0:x1``);
    a no-object warning only for planes where no tile found an object (:mod:`labelfree._tile_warnings`).
    Objects cut by a tile border (``overlap`` below their size) are logged once, with their number in
    all planes and the first planes where they were cut.
    """
    import numpy as np

    from labelfree import _tile_warnings
    from labelfree._config import provenance
    from labelfree.image import labels_like, scale_of
    from labelfree.spec import load
    from labelfree.tiling import (
        VOLUME_PLANE,
        PipelineTileFunction,
        hand_to_tiles,
        log_cut,
        plane_labels_out,
        segment_tiled,
        store_plane,
    )

    check_tiles(spec)
    def whole(value: Any) -> bool:
        try:
            return not isinstance(value, (bool, np.bool_)) and float(value) == int(value)
        except (TypeError, ValueError):
            return False

    if not whole(tile) or not whole(overlap) or int(tile) < 16 or int(overlap) < 0:
        raise InputError(f"tile must be at least 16 pixels and the overlap >= 0, both whole numbers; got {tile!r} "
                         f"and {overlap!r}.")
    lead = [d for d in image.dims if d in ("T", "Z")]
    # a z-stack that the pipeline segments as volumes (tile_volume_config): one per time point, Z the fastest
    as_volumes = bool(spec.tile_volume_config) and image.sizes.get("Z", 1) > 1
    if as_volumes:
        lead = [d for d in lead if d != "Z"] + ["Z"]
    plane_dims = [d for d in image.dims if d not in lead]
    sizes = [image.sizes[d] for d in lead]
    out = plane_labels_out((*sizes, image.sizes["Y"], image.sizes["X"]))  # uint16 until a plane needs more
    hook = load(spec.tile_config) if spec.tile_config else None
    box_hook = load(spec.tile_box) if spec.tile_box else None
    scale = {d: scale_of(image, d) for d in ("Y", "X")}
    n_cut = 0
    cut_planes: list[str] = []
    n_tiles = 0
    caught: list = []
    given = config.to_dict()
    # settings fixed for the whole image (Fusion's diameter), then per plane (an automatic threshold)
    # recorded exactly as used: a rounded value given back (--set) would not give the same labels
    run_config = load(spec.tile_run_config)(image, config, dict(inputs or {})) if spec.tile_run_config else config
    fixed = {k: [v] for k, v in run_config.to_dict().items() if v != given.get(k)}
    run_values = run_config.to_dict()
    volume_configs: list = []  # per volume (time point) of a z-stack segmented as volumes, its config
    for index in np.ndindex(*sizes):
        plane = image.isel(dict(zip(lead, index))) if lead else image
        base = run_config
        if as_volumes:
            if index[-1] == 0:  # the volume's setting (its automatic threshold), fixed before its planes are cut
                volume = image.isel(dict(zip(lead[:-1], index[:-1]))).transpose("Z", *plane_dims)
                volume_configs.append(load(spec.tile_volume_config)(volume, run_config, dict(inputs or {})))
            base = volume_configs[-1]
        cfg = hook(plane, base, dict(inputs or {})) if hook and not as_volumes else base  # a volume: its own
        base_values = base.to_dict()
        for key, value in cfg.to_dict().items():
            if value != base_values.get(key):
                fixed.setdefault(key, []).append(value)
        fn = PipelineTileFunction(spec.name, cfg.to_dict(), dims="".join(plane_dims), scale=scale,
                                  inputs={k: str(v) for k, v in (inputs or {}).items()},
                                  channel_names=tuple(channel_names(plane)) if "C" in plane.dims else ())
        # the part of the plane with objects (the threshold pipeline: inside a canvas's padding)
        ys, xs = box_hook(plane, run_config, dict(inputs or {})) if box_hook else (slice(None), slice(None))
        if as_volumes:
            hand_to_tiles(VOLUME_PLANE, int(index[-1]))
        result = segment_tiled(plane.isel(Y=ys, X=xs), fn, tile=int(tile), overlap=int(overlap), progress=progress,
                               warn=False)
        out = store_plane(out, tuple(index) + (ys, xs), result)
        n_cut += max(result.n_cut, 0)
        n_tiles += len(result.tiles)
        # the tiles' warnings placed in the plane (the box's offset) and named by their plane
        dy, dx = ys.indices(image.sizes["Y"])[0], xs.indices(image.sizes["X"])[0]
        name = " ".join(f"{d}={i}" for d, i in zip(lead, index))
        caught.extend(w.shifted(dy, dx, plane=name) for w in result.warnings)
        if result.n_cut > 0:
            cut_planes.append(name)
    n_planes = int(np.prod(sizes, dtype=np.int64))
    _tile_warnings.issue(caught, n_tiles=n_tiles, n_planes=n_planes)
    log_cut(n_cut, int(overlap), planes=cut_planes, n_planes=n_planes)  # once for the run, naming the planes
    extra: dict[str, Any] = {}
    if as_volumes:  # one value per volume of what a volume fixed (a volume's threshold: None when all constant)
        volume_values = [c.to_dict() for c in volume_configs]
        for key in [k for k in run_values if any(v[k] != run_values[k] for v in volume_values)]:
            fixed[key] = [v[key] for v in volume_values]
        if spec.tile_finish:
            out = load(spec.tile_finish)(out, run_config, image.transpose(*lead, *plane_dims), volume_configs)
        extra["volumes"] = len(volume_configs)
    if spec.tile_record:
        extra.update(load(spec.tile_record)(image, run_config, dict(inputs or {})))
    extra["tiles"] = {"tile": int(tile), "overlap": int(overlap), "objects_cut": n_cut}
    if fixed:  # one value per plane (a single plane: its value)
        extra["auto"] = {k: v[0] if len(v) == 1 else v for k, v in fixed.items()}
    record = provenance(spec.name, config, extra=extra)
    return labels_like(out, image, dims=(*lead, "Y", "X"), attrs={"labelfree": record})
