"""The Fusion pipeline's entry point: segment a multi-channel image with per-channel models.

For each frame: run the chosen channels' models, then fuse by Flow Averaging (one flow
integration of the averaged flows) or by one of the instance-level baselines.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import xarray as xr

from labelfree import errors
from labelfree._config import file_sha256, provenance
from labelfree._label_memory import label_bytes, memory_left, memory_text, require_label_memory, run_bytes
from labelfree._progress import Progress
from labelfree._warn_place import user_stacklevel
from labelfree.errors import ConfigError, ConstantImageError, InputError
from labelfree.fusion.baselines import fuse_instances
from labelfree.fusion.channels import SEGMENT_COMMAND, with_channel_axis
from labelfree.fusion.config import FusionConfig
from labelfree.fusion.diameter import choose_diameter
from labelfree.fusion.flows import (
    batch_for,
    default_niter,
    flow_average,
    integrate_flows,
    network_zoom,
    pass_bytes,
    predict_flows,
    zoomed_bytes,
)
from labelfree.fusion.spec import SPEC
from labelfree.image import channel_by_name, channel_names, labels_like, short_list

__all__ = ["BlankChannelWarning", "NoObjectsWarning", "choose_models", "check_inputs", "fuse_channels", "segment",
           "recorded_models", "repeat_recorded_models"]

log = logging.getLogger(__name__)


class BlankChannelWarning(errors.LabelFreeWarning):
    """A channel chosen for Fusion has one value in every pixel of the image: it holds no cells and
    is left out of the fusion (its model's empty prediction would dilute the others')."""


class NoObjectsWarning(errors.NoObjectsWarning):
    """Fusion found no object in any frame of an image whose channels have contrast: the models do not see
    these cells at this diameter (an untrained or unsuitable model, a diameter far from the cells' size, or
    channels that do not show the cells). A tiled run says it once, when no tile found an object."""


def _warn_no_objects(chans: Sequence[str], n_frames: int, choice: Any, cfg: FusionConfig, chosen: Mapping) -> None:
    """A :class:`NoObjectsWarning` that says what to check: the models, the diameter and the channels."""
    how = {"search": "measured on the image",
           "training": "the models' training diameter: the search found no objects at any size"}
    models = sorted({str(chosen[c][1].get("file") or chosen[c][1].get("id") or "a network") for c in chans})
    frames = "the image" if n_frames == 1 else f"any of the {n_frames} frames"
    warnings.warn(NoObjectsWarning(
        f"Fusion found no object in {frames} (channels {_joined(list(chans))}; models: {_joined(models)}; "
        f"diameter {choice.diameter:.1f} px, {how.get(choice.source, choice.source)}). Check the models: an "
        "untrained or undertrained model, or one trained on other cells or channels, finds none (give a model "
        "trained for these cells: models=..., or a zoo entry for this object and cell line); the diameter: the "
        "cells' size in pixels (--set diameter=N); the channels: those that show the cells (--channel; Python "
        f"channels=[...]); and cellprob_threshold, now {cfg.cellprob_threshold:g} (lower finds more)."),
        stacklevel=user_stacklevel())


def _without_blank(chans: list[str], blank: Sequence[str]) -> list[str]:
    """``chans`` less the ``blank`` ones, with a :class:`BlankChannelWarning`; every channel blank: one error."""
    blank = [c for c in chans if c in set(blank)]
    if not blank:
        return chans
    kept = [c for c in chans if c not in blank]
    if not kept:
        raise ConstantImageError(
            f"Every channel chosen for Fusion ({_joined(chans)}) has one value in every pixel: there are no "
            "cells to segment. Check that the image was read with its channels, or choose others.")
    warnings.warn(BlankChannelWarning(
        f"Channel(s) {_joined(blank)} have one value in every pixel (blank) and are left out of the fusion; "
        f"fusing {_joined(kept)}."), stacklevel=user_stacklevel())
    return kept


def _joined(names: Sequence[str], limit: int = 8) -> str:
    """Names for a message, comma-separated; the first few, the last and a count when more than ``limit``."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[: limit - 2])}, ..., {names[-1]} ({len(names)} in all)"


def _constant(values: Any) -> bool:
    return bool(np.min(values) == np.max(values))


#: the models a run must use (see :func:`recorded_models`): channel -> a provenance's model entry, the record's
#: name for messages, and what to do when the zoo does not hold them
_RECORDED: contextvars.ContextVar[tuple[Mapping[str, dict], str, str] | None] = contextvars.ContextVar(
    "labelfree_fusion_recorded_models", default=None)


@contextlib.contextmanager
def recorded_models(models: Mapping[str, Mapping[str, Any]], /, *, source: str, todo: str = "") -> Iterator[None]:
    """Within this block, Fusion serves each channel of ``models`` by the model a run's provenance names.

    ``models`` is a provenance record's ``"models"`` (channel -> ``{"id", "file", "sha256"}``): a zoo
    entry by its id, checked by its sha256, or a weights file given to that run (no id), checked by its
    hash. :func:`choose_models` (and every Fusion run it serves: whole images, tiled runs and their
    record) then uses those models instead of the zoo's pick; a channel the record does not name is
    picked from the zoo as usual. A run given a Fusion run's provenance as its config (``labelfree fusion
    --config OUT/x_provenance.json``, :func:`labelfree.run.run_pipeline`) runs in this block.

    Parameters
    ----------
    models : mapping
        Channel name -> the recorded model (``id`` and ``sha256``, or ``file`` and ``sha256``).
    source : str
        The record in messages, e.g. ``"Config file out/x_provenance.json"``.
    todo : str
        What to do when the zoo does not hold the models (said after the list of those missing).
    """
    token = _RECORDED.set(({str(c): dict(m) for c, m in models.items() if isinstance(m, Mapping)}, source, todo))
    try:
        yield
    finally:
        _RECORDED.reset(token)


def repeat_recorded_models(recorded: Any, inputs: dict[str, Any], given: Any, /) -> tuple[dict[str, Any], Any]:
    """The ``record_models`` hook of Fusion's spec: a run given a Fusion run's provenance as its config
    uses the models that run used (:func:`recorded_models`), from the zoo that run used when no zoo is
    given (the record's ``zoo``, else the ``--zoo`` of its ``command``, else, in a record of an older version,
    which holds neither, its ``inputs``' zoo ``path``).

    Parameters
    ----------
    recorded : labelfree._reproduce.RecordedRun
        The record.
    inputs : dict
        The run's extra inputs (a copy, completed here).
    given : callable
        ``given(input)``: whether the user gave that input.

    Returns
    -------
    (dict, context manager)
        The inputs and the context the run takes place in.
    """
    import shlex

    from labelfree.fusion.zoo import INDEX_NAME

    zoo_input = SPEC.input("zoo")
    named = recorded.record.get("zoo") or recorded.option(zoo_input.flag) or _input_path(recorded.record, "zoo")
    zoo = recorded.path(named) if isinstance(named, str) and named.strip() else None
    if not given(zoo_input) and zoo is not None and (zoo / INDEX_NAME).is_file():
        inputs[zoo_input.name] = str(zoo)
        log.warning("No zoo given: using the zoo %s, which the run of %s used, for its models (give a zoo, %s, to "
                    "look for them in another; --zoo-best for the zoo's pick).", zoo,
                    recorded.file or "the record given as config", zoo_input.flag)
    where = f"{zoo_input.flag} {shlex.quote(str(zoo))}, as its record says" if zoo else f"{zoo_input.flag} FOLDER"
    # weights files the run was given (no zoo id): found where they were (a relative path from the run's folder)
    models = {c: {**m, "file": str(recorded.path(m["file"]))} if m.get("file") and not m.get("id") else m
              for c, m in recorded.models.items()}
    todo = []
    if any(m.get("id") for m in models.values()):
        todo.append(f"give the zoo that run used ({where}; Python: inputs={{'zoo': ...}}), or run its settings with "
                    "the zoo's own pick of models (--zoo-best; Python: config=record['config'])")
    if any(not m.get("id") for m in models.values()):
        files = SPEC.input("models")
        todo.append(f"put that run's model files back as they were, or run its settings with the files given now "
                    f"({files.flag} FILE or CHANNEL=FILE,...; macros: {files.macro_key}=[...]; Python: inputs="
                    f"{{'{files.name}': ...}})")
    text = " Or ".join(todo)
    return inputs, recorded_models(models, source=recorded.source, todo=text[:1].upper() + text[1:] + ".")


def _input_path(record: Mapping[str, Any], name: str, /) -> str | None:
    """The path a record's ``inputs`` give for the input ``name`` (``{"inputs": {"zoo": {"path": ...}}}``), None
    when they give none."""
    inputs = record.get("inputs")
    given = inputs.get(name) if isinstance(inputs, Mapping) else None
    path = given.get("path") if isinstance(given, Mapping) else None
    return path if isinstance(path, str) and path.strip() else None


def choose_models(zoo: Any, channels: Sequence[str], /, *, config: FusionConfig, device: str = "auto",
                  image_channels: Sequence[str] | None = None, command: str = SEGMENT_COMMAND
                  ) -> dict[str, tuple[Any, dict]]:
    """Pick a model for each channel from the zoo and load it on ``device``: channel -> (model, zoo entry).

    A multi-channel model trained on exactly ``channels`` serves every channel; otherwise
    each channel (one alone too) gets its channel-wise model, or failing that the best
    model whose training channels include it. A model serving several channels is loaded once.
    Inside :func:`recorded_models` (a run given a provenance as its config), the channels the
    record names get the models it names instead.

    Parameters
    ----------
    zoo : ModelZoo, folder, or None (the zoo of LabelFree's model cache, :func:`labelfree.fusion.zoo.open_zoo`)
    channels : channel names to serve
    config : FusionConfig (``object``, ``cell_line``)
    device : {"auto", "cpu", "cuda"}
    image_channels : every channel name of the image, for the error message (default: ``channels``)
    command : the command whose options the messages name: a segmentation's (the default) or
        :data:`labelfree.fusion.channels.EVAL_COMMAND` (:func:`labelfree.fusion.tasks.compare_fusions`)

    Raises
    ------
    ModelFileError
        A channel no model serves (the message lists the image's and the zoo's channel
        names and how to make them match), the zoo is no zoo, or a model a provenance
        names is not in the zoo (or has other weights).
    InputError
        No zoo given, and none in LabelFree's model cache.
    """
    from labelfree.fusion.models import load_model
    from labelfree.fusion.zoo import open_zoo

    entries = pick_entries(zoo, channels, config=config, image_channels=image_channels, command=command)
    if any(e.get("id") for e in entries.values()):  # weights files a record names need no zoo
        zoo = open_zoo(zoo)
    loaded: dict[str, Any] = {}
    out: dict[str, tuple[Any, dict]] = {}
    for c, entry in entries.items():
        key = entry.get("id") or f"file:{entry['file']}"
        if key not in loaded:  # a recorded weights file (no zoo id) was checked by its hash in pick_entries
            loaded[key] = (zoo.load(entry, device=device) if entry.get("id")
                           else load_model(entry["file"], device=device))
        if entry.get("channels", [c]) != [c] and sorted(entry["channels"]) != sorted(entries):  # not the image's own
            log.info("fusion: channel %s uses %s, trained on %s", c, entry["id"], "+".join(entry["channels"]))
        out[c] = (loaded[key], entry)
    return out


def pick_entries(zoo: Any, channels: Sequence[str], /, *, config: FusionConfig,
                 image_channels: Sequence[str] | None = None, command: str = SEGMENT_COMMAND) -> dict[str, dict]:
    """The zoo entry serving each channel, as :func:`choose_models` picks them (nothing loaded); ``command``: the
    command whose options the messages name."""
    from labelfree.errors import ModelFileError
    from labelfree.fusion.channels import unmatched_channels_message
    from labelfree.fusion.zoo import open_zoo

    channels = [str(c) for c in channels]
    pinned = _recorded_entries(zoo, channels)  # weights files a record names: no zoo needed for them
    channels = [c for c in channels if c not in pinned]
    if not channels:
        return pinned
    zoo = open_zoo(zoo)
    kw = {"object": config.object, "cell_line": config.cell_line}
    if zoo.list(channels=channels, **kw):
        entry = zoo.pick(channels=channels, **kw)
        if len(channels) > 1:
            _log_exact_pick(zoo, entry, channels, kw, command)
        else:
            log.info("fusion: channel %s uses %s (%s; validation F1 %s): its channel-wise model, the best by "
                     "validation F1", channels[0], entry["id"], channels[0], _f1_text(entry))
        return {**pinned, **dict.fromkeys(channels, entry)}
    entries: dict[str, dict] = {}
    for c in channels:
        try:
            entries[c] = zoo.pick(channels=[c], exact=False, **kw)
        except ModelFileError:
            pass
    missing = [c for c in channels if c not in entries]
    if missing:
        raise ModelFileError(unmatched_channels_message(zoo, missing, image_channels=image_channels or channels,
                                                        command=command, **kw))
    for c, e in entries.items():
        log.info("fusion: channel %s uses %s (%s; validation F1 %s): %s", c, e["id"], "+".join(e["channels"]),
                 _f1_text(e), "its channel-wise model, the best by validation F1" if e["channels"] == [c] else
                 "no channel-wise model; the smallest channel set holding it, then the best by validation F1")
    return {**pinned, **entries}


#: the picks :func:`_log_exact_pick` warned about already: (zoo, model id, channels)
_WARNED_PICKS: set[tuple] = set()


def _f1_text(entry: Mapping) -> str:
    f1 = (entry.get("validation") or {}).get("f1")
    return f"{f1:.3f}" if isinstance(f1, (int, float)) else "not recorded"


def _log_exact_pick(zoo: Any, entry: dict, channels: Sequence[str], kw: Mapping[str, str],
                    command: str = SEGMENT_COMMAND, /) -> None:
    """Say why the model trained on exactly ``channels`` serves them all (it comes first, whatever its validation
    F1), and warn when models trained on single channels among them recorded a higher validation F1, with what
    ``command`` (a segmentation or ``labelfree fusion eval``) can do about it."""
    log.info("fusion: channels %s use %s, trained on exactly these channels (validation F1 %s): a model of the "
             "chosen channels comes before channel-wise models", "+".join(channels), entry["id"], _f1_text(entry))
    own = (entry.get("validation") or {}).get("f1")
    if not isinstance(own, (int, float)):
        return
    better = {}
    for c in channels:
        alone = [e for e in zoo.list(channels=[c], **kw) if isinstance((e.get("validation") or {}).get("f1"),
                                                                       (int, float))]
        top = max(alone, key=lambda e: e["validation"]["f1"], default=None)
        if top is not None and top["validation"]["f1"] > own:
            better[c] = top
    key = (str(zoo.root), entry["id"], tuple(channels))
    if better and key not in _WARNED_PICKS:  # once per process: a tiled or batch run picks it again and again
        _WARNED_PICKS.add(key)
        from labelfree.errors import ModelFileError

        try:
            pairs = ",".join(f"{c}={zoo.path_of(e)}" for c, e in better.items())
        except ModelFileError:  # an entry naming no good file: the advice alone, the run goes on
            pairs = ",".join(f"{c}=FILE" for c in better)
        if command == SEGMENT_COMMAND:
            todo = (f"To fuse the channel-wise models instead, give them as model files with the zoo (--model-file "
                    f"{pairs}) or remove {entry['id']} from the zoo (labelfree zoo remove).")
        else:  # fusion eval takes no model files: a zoo without the model, or compare_fusions(models=...)
            todo = (f"To compare the channel-wise models instead, run `{command}` with a zoo that does not hold "
                    f"{entry['id']} (file the channel-wise models in a new one: labelfree zoo add NEWZOO FILE "
                    f"--object {kw['object']}{' --cell-line ' + kw['cell_line'] if kw['cell_line'] else ''} "
                    "--channels NAME; --zoo NEWZOO), or in Python give them as "
                    "labelfree.fusion.tasks.compare_fusions(..., models={channel: load_model(file)}), the files "
                    f"being {pairs}.")
        log.warning("fusion: %s (trained on %s, validation F1 %.3f) is used for every channel, as the model "
                    "trained on exactly the chosen channels; the zoo's channel-wise models recorded higher "
                    "validation F1 for %s. %s", entry["id"], "+".join(channels), own,
                    ", ".join(f"{c} ({e['validation']['f1']:.3f}, {e['id']})" for c, e in better.items()), todo)


def _recorded_entries(zoo: Any, channels: Sequence[str], /) -> dict[str, dict]:
    """The entries of the models a provenance names for ``channels`` (inside :func:`recorded_models`; else
    none): a zoo entry by id whose sha256 is the recorded one, or a recorded weights file of that hash.

    Raises
    ------
    ModelFileError
        Naming every recorded model the zoo lacks or holds with other weights, and what to do.
    """
    from pathlib import Path

    from labelfree.errors import ModelFileError
    from labelfree.fusion.zoo import open_zoo

    state = _RECORDED.get()
    if state is None:
        return {}
    models, source, todo = state
    if any((models.get(c) or {}).get("id") for c in channels):
        try:
            zoo = open_zoo(zoo)
        except InputError as exc:  # no zoo given, none recorded (an older record), none in the cache
            ids = sorted({str(models[c]["id"]) for c in channels if (models.get(c) or {}).get("id")})
            raise InputError(f"{source} names the zoo models its run used ({', '.join(ids)}), and no zoo is at hand: "
                             "none was given, the record names none that exists (a record of an older version names "
                             f"none), and LabelFree's cache holds none. {todo or str(exc)}") from exc
        by_id = {e.get("id"): e for e in zoo.entries()}
    out: dict[str, dict] = {}
    problems: list[str] = []
    for c in channels:
        want = models.get(c)
        if not want:
            continue
        sha = str(want.get("sha256") or "")
        short = f" (sha256 {sha[:12]})" if sha else ""
        if want.get("id"):
            entry = by_id.get(want["id"])
            if entry is None:
                problems.append(f"{c}: {want['id']}{short} is not in it")
            elif sha and entry.get("sha256") != sha:
                problems.append(f"{c}: its {want['id']} has other weights (sha256 {str(entry.get('sha256'))[:12]}, "
                                f"the run's {sha[:12]})")
            else:
                out[c] = entry
        elif want.get("file"):
            path = Path(str(want["file"]))
            if not path.is_file():
                problems.append(f"{c}: the weights file {path} is missing")
            elif sha and file_sha256(path) != sha:
                problems.append(f"{c}: the weights file {path} has changed (sha256 {file_sha256(path)[:12]}, the "
                                f"run's {sha[:12]})")
            else:
                out[c] = {"file": str(path), "sha256": sha or file_sha256(path)}
    if problems:
        files = any(not (models.get(c) or {}).get("id") for c in channels if models.get(c))
        where = "not all of them are at hand" if files else f"the zoo {zoo.root} does not hold them all"
        raise ModelFileError(f"{source} names the models its run used, and {where}: {'; '.join(problems)}."
                             f"{' ' + todo if todo else ''}")
    for c, entry in out.items():
        log.info("fusion: channel %s uses %s, as %s records", c, entry.get("id") or entry["file"], source)
    return out


def _channels_to_fuse(da: xr.DataArray, cfg: FusionConfig) -> tuple[list[str], list[str]]:
    """The image's channel names and those a tiled run fuses (``cfg.channels``, else all), as :func:`segment`
    chooses them given no ``channels``."""
    names = channel_names(da)
    return names, _resolve_channels(names, cfg.channels or names)


def _model_record(entries: Mapping[str, dict]) -> dict[str, dict]:
    return {c: {k: e.get(k) for k in ("id", "file", "sha256") if e.get(k)} for c, e in entries.items()}


#: the automatic diameter of a tiled run is measured on the planes' centres, at most this many pixels a side
TILED_DIAMETER_CROP = 1024


def whole_image_config(image: Any, config: Any, inputs: Mapping[str, Any], /) -> FusionConfig:
    """The config with an automatic diameter measured once for the whole image, so that every tile
    of every frame of a tiled run uses it, as a whole-image run uses one diameter for all frames.

    It is measured as :func:`segment` measures it, on the first, middle and last planes, but on
    their centres only (at most :data:`TILED_DIAMETER_CROP` pixels a side, fewer where the memory left cannot hold
    the work of that much: :func:`_centre_side`). A given diameter is kept. The networks' automatic batch is chosen
    here too, once for every tile, on the device they run on.
    """
    cfg = FusionConfig.coerce(config)
    da = with_channel_axis(image)
    names, chans = _channels_to_fuse(da, cfg)
    fused = _without_blank(chans, _blank_channels(da, chans))
    if fused != chans:  # decided once for the whole image: a tile where a channel happens to be flat keeps it
        cfg, chans = cfg.replace(channels=tuple(fused)), fused
    if not cfg.batch_size:  # the automatic batch on the device every tile runs on, recorded as the run's
        from labelfree.fusion.models import torch_device

        cfg = cfg.replace(batch_size=batch_for(torch_device(str(inputs.get("device") or "auto"))))
    if cfg.diameter and cfg.diameter > 0:
        return cfg
    chosen = _serve(inputs.get("models"), inputs.get("zoo") or None, chans, config=cfg,
                    device=str(inputs.get("device") or "auto"), image_channels=names)
    centre = _centre(da, _centre_side(da, [chosen[c][0] for c in chans], cfg.batch_size))
    lead = [d for d in centre.dims if d in ("T", "Z")]
    planes = list(np.ndindex(*[centre.sizes[d] for d in lead]))
    sample = [planes[i] for i in sorted({0, len(planes) // 2, len(planes) - 1})]
    frames = []
    for index in sample:
        plane = centre.isel(dict(zip(lead, index)))
        frames.append({c: np.asarray(plane.sel(C=c).values) for c in chans})
    choice = choose_diameter(frames, {c: chosen[c][0] for c in chans}, config=cfg)
    log.info("fusion: object diameter %.1f px for every tile (%s, on the centres of %d plane(s))", choice.diameter,
             choice.source, len(frames))
    return cfg.replace(diameter=round(float(choice.diameter), 2))


#: the pass of a network over its tiles that Fusion's spec counts in the work that does not grow with the plane:
#: that of the network its work was measured with (the demo's, widths 8-64), one tile at a time (``pass_bytes``)
_PASS_COUNTED = 28 * 2**20


def _network_work(nets: Sequence[Any], batch_size: int, /, *, zoom: float = 1.0) -> Callable[..., int]:
    """Fusion's work on a plane of so many pixels (``plane``: its (Y, X) px; else a square), its networks read: the
    larger of the spec's count and two phases that the spec's measures did not hold. Their pass over a batch of tiles:
    the spec's part that does not grow with the plane less the pass it holds (:data:`_PASS_COUNTED`), the largest of
    their passes (:func:`labelfree.fusion.flows.pass_bytes`: the channels run one after the other) and the least bytes
    a pixel of the plane's own arrays. Their run over the plane enlarged ``zoom`` x ``zoom`` (``diam_mean /
    diameter`` above 1; the spec was measured with the demo's network at 0.45): its tiles and outputs at the
    networks' scale (:func:`labelfree.fusion.flows.zoomed_bytes`) and the passes beyond the one counted. A run's peak
    is the largest phase, not their sum."""

    def work(pixels: int, plane: tuple[int, int] | None = None) -> int:
        counted = SPEC.work_bytes(int(pixels))
        if not nets:
            return counted
        side = max(1, math.isqrt(int(pixels)))
        passes = max(pass_bytes(n, batch_size, plane=plane or (side, side)) for n in nets) - _PASS_COUNTED
        phase = SPEC.plane_bytes_fixed + passes + int(SPEC.plane_bytes * pixels)
        enlarged = zoomed_bytes(pixels, zoom) + passes if zoom > 1 else 0
        return max(counted, phase, enlarged)

    return work


def _network_extra(nets: Sequence[Any], batch_size: int, plane: tuple[int, int], /, *, zoom: float = 1.0) -> int:
    """The work of the networks on a plane of ``plane`` (Y, X) px beyond what Fusion's spec counts for it (0: none
    beyond; :func:`_network_work`)."""
    pixels = int(plane[0]) * int(plane[1])
    return _network_work(nets, batch_size, zoom=zoom)(pixels, (int(plane[0]), int(plane[1]))) - SPEC.work_bytes(pixels)


#: the sides of the centre a tiled run may measure its diameter on, largest first (:func:`_centre_side`)
_CENTRE_SIDES = (TILED_DIAMETER_CROP, 768, 512, 384, 256)


def _centre_side(da: xr.DataArray, nets: Sequence[Any], batch_size: int, /) -> int:
    """The side of the planes' centre a tiled run measures its diameter on: :data:`TILED_DIAMETER_CROP`, or where
    the work of a plane that large (Fusion's spec, and the networks' pass beyond it: :func:`_require_network_memory`)
    does not fit the memory left beside the image's labels, the largest of :data:`_CENTRE_SIDES` that does (the
    smallest where none does: the tiles' own checks refuse then). A run tiled for want of memory measured it on a
    1024 px centre whatever its tiles: more work than a tile's, and the system killed it (a 1024 px plane in 450 MiB,
    tiles of 512 px chosen). With the memory to spare the centre is as before, and so is the diameter."""
    left = memory_left(SPEC)
    if left is None:
        return TILED_DIAMETER_CROP
    left -= label_bytes(dict(da.sizes))  # the run's labels: allocated, not yet written
    for side in _CENTRE_SIDES:
        plane = (min(side, int(da.sizes["Y"])), min(side, int(da.sizes["X"])))
        if _network_work(nets, batch_size)(plane[0] * plane[1], plane) <= left:
            break
    if side < TILED_DIAMETER_CROP:
        log.info("fusion: the diameter measured on the planes' centres of %d px (the work of %d px would not fit "
                 "the %s of memory left)", side, TILED_DIAMETER_CROP, memory_text(left))
    return side


def _centre(da: xr.DataArray, side: int = TILED_DIAMETER_CROP) -> xr.DataArray:
    """The centre of the planes, at most ``side`` pixels a side."""
    y0, x0 = max(0, (da.sizes["Y"] - side) // 2), max(0, (da.sizes["X"] - side) // 2)
    return da.isel(Y=slice(y0, y0 + side), X=slice(x0, x0 + side))


def _blank_channels(da: xr.DataArray, chans: Sequence[str]) -> list[str]:
    """The channels of ``chans`` that have one value in the whole image. A channel with contrast on the
    first plane's centre is rejected from that sample alone; the others are read whole (lazily)."""
    first = _centre(da.isel({d: 0 for d in da.dims if d in ("T", "Z")}))
    maybe = [c for c in chans if _constant(first.sel(C=c).values)]
    return [c for c in maybe if float(da.sel(C=c).min()) == float(da.sel(C=c).max())]


def tiled_record(image: Any, config: Any, inputs: Mapping[str, Any], /) -> dict[str, Any]:
    """What a tiled run's provenance records beside the tiles: the channels fused, the models that served
    them (the model files given, else the zoo's; file and hash) and the device the networks ran on, as a
    whole-image run records them."""
    from labelfree.fusion.models import torch_device

    cfg = FusionConfig.coerce(config)  # the run's: whole_image_config left blank channels out of its channels
    names, chans = _channels_to_fuse(with_channel_axis(image), cfg)
    entries = _entries(inputs.get("models"), inputs.get("zoo") or None, chans, config=cfg, image_channels=names)
    # every tile loads its models on this device ("auto" resolved, as segment records it)
    return {"channels": chans, "models": _model_record(entries),
            "device": str(torch_device(str(inputs.get("device") or "auto")))}


def check_inputs(inputs: Mapping[str, Any], /) -> dict[str, Any]:
    """Check the extra inputs of a run before any image is read (a batch run calls it once for the run).

    The model files given (``models``, the macro key ``model_file``) must be cellpose weights; the
    model zoo must be one; none given, and no model files, means the zoo of LabelFree's model cache.
    The channels model files name are checked against each image when it runs.

    Returns
    -------
    dict
        ``inputs`` with the zoo's folder filled in when neither a zoo nor model files were given,
        so that a batch run hands every worker the same zoo and fingerprints it.

    Raises
    ------
    ModelFileError, InputError
        A model file is missing or no cellpose weights; the zoo is no zoo, or none was given
        (nor model files) and the cache holds none; the message says how to give or make one.
    """
    from labelfree.fusion.models import load_model, parse_model_files
    from labelfree.fusion.zoo import open_zoo

    files = inputs.get("models") or inputs.get("model_file")
    if files:
        parsed = parse_model_files(files)
        for path in dict.fromkeys(parsed.values() if isinstance(parsed, dict) else [parsed]):
            load_model(path, device="cpu")  # cellpose weights, read once for the whole run
        if not inputs.get("zoo"):  # a zoo serves channels without a file only when one is given
            return dict(inputs)
    zoo = open_zoo(inputs.get("zoo"))
    zoo.entries()  # a readable index
    return {**inputs, "zoo": str(zoo.root)}


def fuse_channels(
    planes: Mapping[str, np.ndarray],
    models: Mapping[str, Any],
    /,
    *,
    config: FusionConfig,
    diameter: float | None = None,
    flows: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Segment one 2-D multi-channel plane: each channel by its model, then fuse.

    Parameters
    ----------
    planes : channel -> (Y, X) image
    models : channel -> CellposeNet (same keys as ``planes``)
    config : FusionConfig (fusion rule, diameter, thresholds)
    diameter : float, optional
        Object diameter (px) to run the models at; default ``config.diameter``, or
        measured on this plane when that is 0 (:func:`labelfree.fusion.diameter.estimate_diameter`).
    flows : sequence of (dP, cellprob), optional
        The channels' network outputs at ``diameter``, in the order of ``planes``, when
        already computed.

    Returns
    -------
    (Y, X) uint16 instance labels.

    Notes
    -----
    Flow integration runs where the models are.
    """
    if set(planes) != set(models):
        raise InputError(f"Channels {sorted(planes)} and models {sorted(models)} do not correspond.")
    chans = list(planes)
    if diameter is None:
        choice = choose_diameter([planes], {c: models[c] for c in chans}, config=config)
        diameter, flows = choice.diameter, choice.flows.get(0)
    niter = config.niter or default_niter([models[c] for c in chans], diameter=diameter)
    if flows is None:
        flows = [predict_flows(models[c], planes[c], diameter=diameter, batch_size=config.batch_size) for c in chans]
    kw = dict(niter=niter, cellprob_threshold=config.cellprob_threshold, flow_threshold=config.flow_threshold,
              min_size=config.min_size, device=getattr(models[chans[0]], "device", None))
    if config.fusion == "none":
        if len(chans) != 1:
            raise ConfigError(f"fusion='none' segments one channel; {len(chans)} were chosen.")
        return integrate_flows(*flows[0], **kw)
    if config.fusion == "flow_average":
        return integrate_flows(*flow_average(flows, space=config.average_space), **kw)
    segs = [integrate_flows(*f, **kw) for f in flows]
    return fuse_instances(segs, method=config.fusion, min_iou=config.min_iou, min_size=config.min_size)


def _resolve_channels(names: list[str], wanted: Sequence[str | int] | str | int) -> list[str]:
    """The channel names ``wanted`` (names or 0-based indices; one name or index alone is one channel)
    picks from ``names``, each once."""
    if isinstance(wanted, (str, int, np.integer)):  # channels="GFP" is the channel GFP, not G, F and P
        wanted = [wanted]
    out = []
    for w in wanted:
        text = str(w)
        if text in names:
            out.append(text)
        elif text.lstrip("-").isdigit():
            if not -len(names) <= int(text) < len(names):
                raise InputError(f"Channel {w!r} not found; the image has channels {short_list(names)} (indices 0 "
                                 f"to {len(names) - 1}).")
            out.append(names[int(text)])
        elif len(names) > 8 and not any(n.casefold() == text.casefold() for n in names):
            raise InputError(f"Channel {w!r} not found; the image has channels {short_list(names)} (names or "
                             "0-based indices).")
        else:  # a name in another case (gfp for GFP), or an error suggesting a near one
            out.append(names[channel_by_name(names, text)])
    return list(dict.fromkeys(out))


def _models_per_channel(models: Any, chans: Sequence[str], /, *, names: Sequence[str] | None = None,
                        zoo_given: bool = False, others: Sequence[str] = ()) -> dict[str, Any]:
    """``models`` as channel -> model for the channels of ``chans`` it serves: a mapping as given, one model
    (weights file, built-in name or network) for every channel, or the text of the entry points' model files
    (:func:`labelfree.fusion.models.parse_model_files`, its channels among ``names``, the image's); anything
    else is refused. A mapping must serve every channel of ``chans`` but ``others`` (served by a record's
    models) unless a zoo is given for the others."""
    if isinstance(models, (str, os.PathLike)):
        from labelfree.fusion.models import parse_model_files

        models = parse_model_files(models, channels=names)  # one file, or channel -> file
    if isinstance(models, Mapping):
        missing = [c for c in chans if c not in models and c not in others]
        if missing and not zoo_given:
            served = [c for c in chans if c in models or c in others]
            only = (f"fuse only the channels that have one (--channel {','.join(served)}; macros: channels=[...]; "
                    f"Python: channels={served!r})" if served else "choose the channels")
            raise InputError(f"No model given for channel(s) {short_list(missing)}; models were given for "
                             f"{short_list(sorted(map(str, models)))}. Give a model for each channel fused "
                             f"(--model-file CH=FILE,...; macros: model_file=[...]; Python: models={{...}}), {only}, "
                             "or give a zoo for the others (--zoo).")
        return {c: models[c] for c in chans if c in models}
    if isinstance(models, (str, os.PathLike)) or hasattr(models, "net"):  # a CellposeNet
        return dict.fromkeys(chans, models)  # one model serves every channel (loaded once)
    kind = (f"a {type(models).__name__} of {len(models)}" if isinstance(models, (list, tuple, set))
            else f"{'an' if type(models).__name__[0] in 'aeiou' else 'a'} {type(models).__name__}")
    raise InputError(
        f"models must map channel names to models, models={{'GFP': 'gfp.pt', 'RFP': 'rfp.pt'}}, or be one model "
        f"for every channel (models='cells.pt'); got {kind}. The image's channels fused here are "
        f"{short_list(chans)}."
    )


def _serve(models: Any, zoo: Any, chans: Sequence[str], /, *, config: FusionConfig, device: str,
           image_channels: Sequence[str]) -> dict[str, tuple[Any, dict]]:
    """The model of each channel of ``chans`` and its provenance entry: channel -> (model, entry).

    ``models`` (as :func:`segment` takes them, or the entry points' model file text) serve the channels they
    name, each file loaded once; the zoo the others (and every channel when no models are given): the zoo
    given, else LabelFree's model cache's, or an error saying how to give or make one.
    """
    from labelfree.fusion.models import load_model

    if models is None:
        return choose_models(zoo, chans, config=config, device=device, image_channels=image_channels)
    given = _models_per_channel(models, chans, names=image_channels, zoo_given=zoo is not None,
                                others=_pinned_channels())
    loaded: dict[str, tuple[Any, dict]] = {}  # a file serving several channels is loaded once
    chosen: dict[str, tuple[Any, dict]] = {}
    for c, m in given.items():
        if isinstance(m, (str, os.PathLike)):
            key = os.fspath(m)
            if key not in loaded:
                net = load_model(m, device=device)  # a built-in name is hashed as the cached file it names
                loaded[key] = (net, {"file": str(m), "sha256": file_sha256(getattr(net, "source", m))})
            chosen[c] = loaded[key]
        else:
            chosen[c] = (m, {"file": getattr(m, "source", "")})
    rest = [c for c in chans if c not in chosen]
    if rest:  # a zoo was given for the channels the models leave
        log.info("fusion: channel(s) %s from the zoo, the others from the models given", ", ".join(rest))
        chosen.update(choose_models(zoo, rest, config=config, device=device, image_channels=image_channels))
    return chosen


def _pinned_channels() -> list[str]:
    """The channels whose models a record pins (inside :func:`recorded_models`; else none)."""
    state = _RECORDED.get()
    return list(state[0]) if state else []


def _entries(models: Any, zoo: Any, chans: Sequence[str], /, *, config: FusionConfig,
             image_channels: Sequence[str]) -> dict[str, dict]:
    """The provenance entry of each channel's model as :func:`_serve` chooses them, nothing loaded: a weights
    file (and its sha256) for the channels model files serve, the zoo's entries for the others."""
    from labelfree.fusion.models import resolve_starting_model

    if models is None:
        return pick_entries(zoo, chans, config=config, image_channels=image_channels)
    given = _models_per_channel(models, chans, names=image_channels, zoo_given=zoo is not None,
                                others=_pinned_channels())
    out: dict[str, dict] = {}
    for c, m in given.items():
        if isinstance(m, (str, os.PathLike)):
            out[c] = {"file": str(m), "sha256": file_sha256(resolve_starting_model(m) or m)}
        else:
            out[c] = {"file": getattr(m, "source", "")}
    rest = [c for c in chans if c not in out]
    if rest:
        out.update(pick_entries(zoo, rest, config=config, image_channels=image_channels))
    return {c: out[c] for c in chans}


def _require_network_memory(sizes: dict[str, int], nets: Sequence[Any], batch_size: int, /, *,
                             diameter: float = 0.0) -> None:
    """The memory check of :func:`segment`'s start again, now that the networks are read (and, with ``diameter``,
    the scale they see the plane at): their work beyond what the spec counts (:func:`_network_work`). A network of
    cellpose's widths is counted 98 MiB for one tile (the spec holds 28), 608 MiB in batches of 8 (``batch_size`` 8
    on the CPU); a plane enlarged 2 x 2 for the networks (objects of 15 px, a network trained at 30) 52 bytes a pixel
    of the enlarged plane. Where the batch given does not fit and one tile at a time would, the message says so; else
    :func:`labelfree._label_memory.require_label_memory` refuses as at the start (tiles that fit, chunks, a part at a
    time), saying why where the enlarged plane is what does not fit.

    Raises
    ------
    InputError
    """
    plane = (int(sizes["Y"]), int(sizes["X"]))
    pixels = plane[0] * plane[1]
    zoom = network_zoom(nets, diameter)
    count = _network_work(nets, batch_size, zoom=zoom)
    need = count(pixels, plane)
    labels, work = run_bytes(sizes, SPEC)
    if need <= work:  # nothing beyond the spec's count, which the start checked
        return
    left = memory_left(SPEC)
    if left is None or labels + need <= left:
        return
    batch = max(batch_for(n.device, batch_size) for n in nets)
    if batch > 1 and labels + _network_work(nets, 1, zoom=zoom)(pixels, plane) <= left:
        passes = max(pass_bytes(n, batch_size, plane=plane) for n in nets)
        raise InputError(  # not a MemoryLeftError, which a tiled run's tile rephrases (labelfree.tiling): as it is
            f"Fusion's networks take {memory_text(passes)} for their pass over a batch of {batch} tiles: with the "
            f"labels ({memory_text(labels)}) and the rest of the work on one plane, more than the {memory_text(left)} "
            "of memory left. Run them one tile at a time, which fits and is faster on the CPU: batch_size=1 "
            "(config={'batch_size': 1}; --set batch_size=1 on the command line; batch_size=1 in a Fiji macro, or on "
            "the dialog's advanced options), or 0, the default: one tile on the CPU.")
    note = ""
    if zoom > 1 and _network_work(nets, batch_size)(pixels, plane) < need:
        note = (f"the networks see the plane enlarged {zoom:.1f} x {zoom:.1f}: objects of {diameter:.1f} px, "
                f"networks trained at {max(float(n.diam_mean) for n in nets):.0f}")
    require_label_memory(sizes, SPEC, work=count, note=note)


def segment(
    image: Any,
    /,
    *,
    zoo: Any = None,
    channels: Sequence[str | int] | str | int | None = None,
    models: Mapping[str, Any] | str | os.PathLike[str] | Any = None,
    config: FusionConfig | dict[str, Any] | str | None = None,
    progress: Any = False,
    device: str = "auto",
) -> xr.DataArray:
    """Segment cells in a multi-channel image by fusing per-channel cellpose models.

    Parameters
    ----------
    image : DataArray with dims (C, Y, X) or (T, C, Y, X), or a 3-D/4-D array in that order
        Fluorescence channels (any intensity unit); frames are segmented one by one. A
        (Y, X) or (T, Y, X) image is one channel, named as its file names it, else ``C0``
        (:func:`labelfree.fusion.channels.with_channel_axis`). A colour array with its 3 or 4
        channels last, (Y, X, C) or (T, Y, X, C) as skimage.io.imread gives it, has channels R, G, B (A).
    zoo : ModelZoo or path, optional
        Where models are picked (by ``config.object``, ``config.cell_line`` and channel
        names); default: the zoo of LabelFree's model cache (``<cache>/zoo``), when there is one.
    channels : sequence of channel names or indices, or one name or index, optional
        Channels to fuse; default ``config.channels`` or, if empty, every channel. One name
        (``channels="GFP"``) is that one channel.
    models : mapping channel -> CellposeNet or weights file, or one of them, optional
        Models to use instead of the zoo: a model for each channel fused, or one model (a weights
        file, a cached built-in name or a network) for every channel; with a ``zoo`` given too, a
        mapping may leave channels to the zoo. A text with ``=`` that names no file is read as the
        command line's ``--model-file`` takes it, ``CHANNEL=FILE`` pairs separated by commas
        (:func:`labelfree.fusion.models.parse_model_files`).
    config : FusionConfig, dict, path or None
    progress : bool, tqdm-like or callable
    device : {"auto", "cpu", "cuda"}
        Where the networks run (models loaded here; "auto": a CUDA GPU when there is one).

    Returns
    -------
    labels : DataArray (Y, X) or (T, Y, X), uint16, the image's coords; provenance in
        ``attrs["labelfree"]`` (config, models and their hashes).

    Warns
    -----
    BlankChannelWarning
        A chosen channel is blank (one value everywhere): it is left out.
    NoObjectsWarning
        No object in any frame: the message says what to check (the models, the diameter, the
        channels, ``cellprob_threshold``).
    """
    cfg = FusionConfig.coerce(config)
    da = with_channel_axis(image)
    require_label_memory(dict(da.sizes), SPEC)  # before any work: labels that cannot fit are refused, saying how
    names = channel_names(da)
    if isinstance(channels, (str, int, np.integer)) and channels != "":
        channels = [channels]  # one name or index: that channel (channels=0 too)
    chans = _resolve_channels(names, channels if channels else (cfg.channels or names))
    if cfg.fusion == "none" and len(chans) != 1:
        raise ConfigError(
            f"fusion=none segments one channel, but {len(chans)} were chosen: {short_list(chans)}. Choose one (CLI "
            "--channel NAME, Python channels=[NAME], the channels setting), or a fusion rule such as flow_average."
        )
    values = da.transpose(*(("T",) if "T" in da.dims else ()), "C", "Y", "X").values
    frames = values if "T" in da.dims else values[None]
    chans = _without_blank(chans, [c for c in chans if _constant(frames[:, names.index(c)])])
    chosen = _serve(models, zoo, chans, config=cfg, device=device, image_channels=names)
    nets = {c: chosen[c][0] for c in chans}
    # now that the networks are read (and the scale they see the planes at, where the diameter is given)
    _require_network_memory(dict(da.sizes), list(nets.values()), cfg.batch_size, diameter=cfg.diameter)
    out = np.zeros((len(frames), *frames.shape[-2:]), np.uint16)
    index = {c: names.index(c) for c in chans}
    with Progress(progress, total=len(frames), desc="fusion") as bar:
        sample = sorted({0, len(frames) // 2, len(frames) - 1})  # one diameter for every frame
        choice = choose_diameter([{c: frames[t][index[c]] for c in chans} for t in sample], nets, config=cfg,
                                 progress=bar)
        log.info("fusion: object diameter %.1f px (%s)", choice.diameter,
                 {"given": "given", "search": "measured on the image",
                  "training": "the models' training diameter: no objects found"}[choice.source])
        if choice.source != "given":  # the scale the networks see the planes at, now known
            _require_network_memory(dict(da.sizes), list(nets.values()), cfg.batch_size, diameter=choice.diameter)
        reuse = {sample[i]: f for i, f in choice.flows.items()}
        for t, frame in enumerate(frames):
            planes = {c: frame[index[c]] for c in chans}
            out[t] = fuse_channels(planes, nets, config=cfg, diameter=choice.diameter, flows=reuse.pop(t, None))
            bar.update(message=f"frame {t + 1}/{len(frames)}")
    if not out.any():  # (a tiled run merges its tiles' warnings: said once when no tile found an object)
        _warn_no_objects(chans, len(frames), choice, cfg, chosen)
    labels = out if "T" in da.dims else out[0]
    record = provenance("fusion", cfg, extra={
        "channels": chans,
        "models": _model_record({c: chosen[c][1] for c in chans}),
        # where the networks ran ("auto" resolved), as Cutter records it: torch's sums differ between devices
        "device": ", ".join(sorted({str(getattr(nets[c], "device", "unknown")) for c in chans})),
        **choice.record(),
        "auto": {**({"diameter": round(choice.diameter, 2)} if not cfg.diameter else {}),
                 **({"batch_size": batch_for(nets[chans[0]].device)} if not cfg.batch_size and chans else {})},
    })
    dims = ("T", "Y", "X") if "T" in da.dims else ("Y", "X")
    return labels_like(labels, da, dims=dims, attrs={"labelfree": record})
