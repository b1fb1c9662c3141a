"""Fine-tuning cellpose per fluorescence channel (channel-wise) or on a channel subset (multi-channel).

* **Channel-wise (CW)**: one model per channel, trained on that channel of every image.
* **Multi-channel (MC)**: one model trained on each channel of a subset, every channel of
  every image being a separate sample (the model learns what the channels have in common).

Images are multi-channel ``(C, Y, X)`` arrays or DataArrays with a ``C`` axis; each has one
``(Y, X)`` instance-label image (nuclei or whole cells). The validation split is made on
images, before channels are expanded, so that no cell is seen in training and validation.

Each result records what the model was trained on and with (:attr:`FinetuneResult.training`): the
training and validation images and labels (files and checksums), the whole FinetuneConfig, the
device, torch threads, software versions and date; :meth:`labelfree.fusion.ModelZoo.add` files it
with the model.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from labelfree._model_files import input_record, now, software_versions
from labelfree.errors import DimensionError, InputError
from labelfree.fusion.config import FinetuneConfig
from labelfree.fusion.models import SCRATCH, load_model, new_model, resolve_starting_model
from labelfree.fusion.training import TrainingHistory, normalize_image, train_network

__all__ = ["FinetuneResult", "as_channel_images", "channel_samples", "split_validation", "starting_model_from_file",
           "finetune", "finetune_channelwise", "finetune_multichannel"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class FinetuneResult:
    """A trained model with what is needed to file it in the zoo.

    ``training`` records what the model was trained on and with: ``config`` (every FinetuneConfig
    setting), ``channels``, ``images`` / ``labels`` (one record each: ``source`` file and its ``sha256``
    when known, ``content_sha256`` of the data), ``validation`` (the same for the validation images and
    labels), ``epochs_run``, ``best_epoch`` (1-based), ``device``, ``threads`` (torch's), ``versions`` and
    ``date``.
    """

    model: Any
    history: TrainingHistory
    channels: tuple[str, ...]
    starting_model: str
    config: FinetuneConfig
    training: dict[str, Any] = dataclasses.field(default_factory=dict)


def as_channel_images(images: Sequence[Any], /) -> tuple[list[np.ndarray], list[str]]:
    """Turn a list of ``(C, Y, X)`` images (arrays or DataArrays) into arrays + channel names."""
    arrays, names = [], None
    for k, img in enumerate(images):
        if hasattr(img, "dims"):
            from labelfree.image import channel_names, validate_image

            da = validate_image(img, required=("C", "Y", "X"), allowed=("C", "Y", "X"), name=f"image {k}",
                                non_finite="fill")
            these = channel_names(da)
            arr = np.asarray(da.data)
        else:
            arr = np.asarray(img)
            if arr.ndim != 3:
                raise DimensionError(
                    f"image {k} has shape {arr.shape}; expected (C, Y, X) channels first (or a DataArray with C)."
                )
            these = [f"C{c}" for c in range(arr.shape[0])]  # the data model's default names
        if names is not None and these != names:
            raise InputError(f"image {k} has channels {these} but image 0 has {names}; give the same channels.")
        names = these
        arrays.append(arr)
    if not arrays:
        raise InputError("No training images given.")
    return arrays, names or []


def _channel_index(names: list[str], channel: str | int) -> int:
    text = str(channel)
    if text in names:
        return names.index(text)
    if text.lstrip("-").isdigit() and -len(names) <= int(text) < len(names):
        return int(text) % len(names)
    raise InputError(f"Channel {channel!r} not found; the images have channels {names}.")


def channel_samples(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], /, *, channels: Sequence[int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every chosen channel of every image as a separate normalised (image, labels) sample."""
    xs, ys = [], []
    for img, lab in zip(images, labels):
        lab = np.asarray(lab)
        if lab.shape != img.shape[-2:]:
            raise DimensionError(f"labels of shape {lab.shape} do not match an image of shape {img.shape}.")
        for c in channels:
            xs.append(normalize_image(img[c]))
            ys.append(lab.astype(np.int32))
    return xs, ys


def split_validation(n: int, /, *, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) of ``n`` images; at least one of each when n >= 2 and fraction > 0."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _validation_set(validation: Any, used: Sequence[str], names: Sequence[str], /
                    ) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """The validation images, labels and the indices of the training channels ``used`` in them, found by name
    (validation images with their channels in another order are validated on the channels trained on); unnamed
    arrays with as many channels as the training images are taken in the training images' order."""
    images, labels = validation
    if not len(images) and not len(labels):
        return [], [], []
    val_arrays, val_names = as_channel_images(images)
    if len(labels) != len(val_arrays):
        raise InputError(f"{len(val_arrays)} validation images but {len(labels)} validation label images; give one "
                         "label image per validation image.")
    missing = [c for c in used if c not in val_names]
    if missing and val_names == [f"C{k}" for k in range(len(names))]:  # unnamed arrays: the training order
        return val_arrays, [np.asarray(lab) for lab in labels], [list(names).index(c) for c in used]
    if missing:
        raise InputError(f"The validation images have channels {val_names}, without the training channel(s) "
                         f"{missing} (the training images have {list(names)}); give validation images with the "
                         "channels trained on, named as in the training images.")
    return val_arrays, [np.asarray(lab) for lab in labels], [val_names.index(c) for c in used]


def starting_model_from_file(cfg: FinetuneConfig, config_file: str | os.PathLike[str], /) -> FinetuneConfig:
    """``cfg``, read from ``config_file``, with its ``starting_model`` read against the file's folder.

    A relative path in a config file means the same file from any working folder, as a batch config file's paths
    do (:func:`labelfree._config_paths.path_from_file`): ``finetune(..., config="dir/train.yaml")`` and
    ``labelfree fusion train -c dir/train.yaml`` read it alike. ``scratch`` and a bare name that is no file in the
    file's folder nor in the current one (a built-in cellpose model: ``cyto3``, ``nuclei``; a folder of that name
    does not count) stay as written.

    Raises
    ------
    ConfigError
        The path names a file only relative to the current folder (where it was read before), or another file
        there than relative to the config file's folder; the message names both.
    """
    from labelfree._config_paths import path_from_file

    text = str(cfg.starting_model)
    if text.strip().lower() in ("", SCRATCH, "none", "false"):
        return cfg
    base = Path(config_file).expanduser().absolute().parent.resolve()
    path = Path(text).expanduser()
    if (os.sep not in text and "/" not in text and not path.suffix and not (base / path).is_file()
            and not path.is_file()):
        return cfg  # a built-in name (or a name resolve_starting_model refuses, saying why)
    found = path_from_file(text, base, "starting_model", f"Config file {config_file}")
    return cfg if found == text else cfg.replace(starting_model=found)


def _start(cfg: FinetuneConfig, device: str) -> Any:
    path = resolve_starting_model(cfg.starting_model)  # ModelFileError before any work
    if path is None:
        return new_model(nbase=cfg.nbase, diam_mean=cfg.diam_mean, device=device, seed=cfg.seed)
    return load_model(path, device=device)


def finetune(
    images: Sequence[Any],
    labels: Sequence[np.ndarray],
    /,
    *,
    channels: Sequence[str | int],
    validation: tuple[Sequence[Any], Sequence[np.ndarray]] | None = None,
    config: FinetuneConfig | dict[str, Any] | str | None = None,
    progress: Any = False,
    device: str = "auto",
) -> FinetuneResult:
    """Fine-tune one model on the given channels of the images (MC; CW when one channel).

    Parameters
    ----------
    images : sequence of (C, Y, X) arrays or DataArrays with a C axis
        Training images (pixels, any intensity unit; normalised per image and channel).
    labels : sequence of (Y, X) integer arrays
        Instance labels of each image (0 = background).
    channels : sequence of channel names or indices
        The channels this model learns from (each a separate sample).
    validation : (images, labels), optional
        Held-out images for early stopping, one label image each; their channels are found
        by name (unnamed arrays: in the training images' order). Default:
        ``config.validation_fraction`` of the images.
    config : FinetuneConfig, dict, path or None
        A JSON/YAML file's relative ``starting_model`` path is read against the file's folder, as
        ``labelfree fusion train -c FILE`` reads it (:func:`starting_model_from_file`); a dict's against
        the current folder.
    progress : bool, tqdm-like or callable
    device : {"auto", "cpu", "cuda"}
        Where training runs ("auto": a CUDA GPU when there is one).

    Returns
    -------
    FinetuneResult
    """
    cfg = FinetuneConfig.coerce(config)
    if isinstance(config, (str, os.PathLike)):
        cfg = starting_model_from_file(cfg, config)
    model = _start(cfg, device)
    images = list(images)  # read twice: for training and for the record of what was trained on
    arrays, names = as_channel_images(images)
    if len(labels) != len(arrays):
        raise InputError(f"{len(arrays)} images but {len(labels)} label images; give one label image per image.")
    chans = list(dict.fromkeys(_channel_index(names, c) for c in channels))  # a channel named twice: once
    if not chans:
        raise InputError("Give at least one channel to train on.")
    used = tuple(names[c] for c in chans)
    records = {"images": [input_record(img) for img in images], "labels": [input_record(lab) for lab in labels]}
    labels = [np.asarray(lab) for lab in labels]
    if validation is None:
        tr, va = split_validation(len(arrays), fraction=cfg.validation_fraction, seed=cfg.seed)
        val_arrays, val_labels = [arrays[i] for i in va], [labels[i] for i in va]
        arrays, labels = [arrays[i] for i in tr], [labels[i] for i in tr]
        val_chans = chans
        held_out = {k: [v[i] for i in va] for k, v in records.items()}
        records = {k: [v[i] for i in tr] for k, v in records.items()}
    else:
        val_arrays, val_labels, val_chans = _validation_set(validation, used, names)
        held_out = {"images": [input_record(img) for img in validation[0]],
                    "labels": [input_record(lab) for lab in validation[1]]}
    train = channel_samples(arrays, labels, channels=chans)
    val = channel_samples(val_arrays, val_labels, channels=val_chans) if val_arrays else None
    log.info("training on channels %s: %d samples, %d validation", used, len(train[0]), len(val[0]) if val else 0)
    history = train_network(model, train, validation=val, config=cfg, progress=progress)
    return FinetuneResult(model, history, used, str(cfg.starting_model), cfg,
                          _training_record(cfg, used, records, held_out, history, model))


def _training_record(cfg: FinetuneConfig, channels: tuple[str, ...], records: dict[str, list], held_out: dict,
                     history: TrainingHistory, model: Any) -> dict[str, Any]:
    """What :attr:`FinetuneResult.training` records."""
    from labelfree._deps import require

    torch = require("torch", purpose="recording the training threads")
    return {"config": cfg.to_dict(), "channels": list(channels), **records, "validation": held_out,
            "epochs_run": int(history.epochs_run), "best_epoch": int(history.best_epoch) + 1,
            "device": str(model.device), "threads": int(torch.get_num_threads()),
            "versions": software_versions(), "date": now()}


def finetune_channelwise(
    images: Sequence[Any],
    labels: Sequence[np.ndarray],
    /,
    *,
    channels: Sequence[str | int] | None = None,
    validation: tuple[Sequence[Any], Sequence[np.ndarray]] | None = None,
    config: FinetuneConfig | dict[str, Any] | str | None = None,
    progress: Any = False,
    device: str = "auto",
) -> dict[str, FinetuneResult]:
    """Fine-tune one model per channel (CW): :func:`finetune` on each channel in turn.

    The parameters are those of :func:`finetune`, but ``channels`` (names or indices) defaults to every
    channel of the images. Returns channel name -> :class:`FinetuneResult`.
    """
    _, names = as_channel_images(images)
    chosen = list(channels) if channels is not None else names
    return {
        names[_channel_index(names, c)]: finetune(
            images, labels, channels=[c], validation=validation, config=config, progress=progress, device=device)
        for c in chosen
    }


def finetune_multichannel(
    images: Sequence[Any],
    labels: Sequence[np.ndarray],
    /,
    *,
    channels: Sequence[str | int],
    validation: tuple[Sequence[Any], Sequence[np.ndarray]] | None = None,
    config: FinetuneConfig | dict[str, Any] | str | None = None,
    progress: Any = False,
    device: str = "auto",
) -> FinetuneResult:
    """Fine-tune one model on every channel of a subset, each channel a separate sample (MC).

    :func:`finetune` with the same parameters (at least two ``channels``; one is channel-wise training).
    Returns its :class:`FinetuneResult`.
    """
    if len(list(channels)) < 2:
        log.info("multi-channel training on a single channel is channel-wise training")
    return finetune(images, labels, channels=channels, validation=validation, config=config, progress=progress,
                    device=device)
