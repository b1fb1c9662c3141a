"""Save and load trained Cutter models.

A model is one ``.pt`` file (``torch.save`` of a plain dict: the state dict, the
config as JSON text, the number of image channels and, when it was measured, the
typical cell radius in patch pixels) and a sidecar
``<file>.json`` holding the config, the file's sha256, the sha256 of the weights
(:func:`labelfree._model_files.weights_sha256`) and what the model was trained on and with
(``training``: the image and markers, steps, threads, device, software versions, date). Both are written
atomically (temporary file + rename). The ``.pt`` file holds nothing of the run (no date, path or
version): the same weights and settings make the same bytes, so equal sha256 means an equal model.
Loading checks the hash when the sidecar exists and refuses a file that does not match.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from labelfree._config import file_sha256
from labelfree._deps import require
from labelfree._model_files import input_record, now, software_versions, torch_file_bytes, weights_sha256
from labelfree.cutter.config import CutterConfig
from labelfree.errors import ConfigError, ModelFileError, OutputError

__all__ = ["CutterModel", "resolve_device", "save_model", "load_model", "sidecar_of", "training_inputs", "FORMAT"]

FORMAT = "labelfree-cutter-1"

#: how a user makes a model file, from each entry point
_HOW_TO_SAVE = ("train one and save it first: labelfree cutter IMAGE -o OUT --save-model-file MODEL.pt (Fiji/macro: "
                "save_model_file=MODEL.pt; Python: segment(image, save_model='MODEL.pt'))")


@dataclasses.dataclass
class CutterModel:
    """A trained Cutter network with what is needed to apply it again.

    Attributes
    ----------
    net : torch.nn.Module
        The UNet (on ``device``).
    config : CutterConfig
        The configuration it was trained with.
    n_channels : int
        Number of image channels it expects (without the marker channel).
    history : list of (seconds, loss)
        Wall-clock time since the start and loss of every training step.
    cell_radius : float or None
        Typical cell radius of the training images in patch pixels, when it was
        measured (automatic scale); images are rescaled to it when the model is applied.
    training : dict or None
        What it was trained on (:func:`training_inputs`: the image and markers), recorded in the sidecar
        when the model is saved; a loaded model has the sidecar's record.
    """

    net: Any
    config: CutterConfig
    n_channels: int
    history: list = dataclasses.field(default_factory=list)
    cell_radius: float | None = None
    training: dict | None = None

    def save(self, path: str, *, overwrite: bool = False) -> str:
        """Save weights + config JSON + sha256 (see :func:`save_model`)."""
        return save_model(path, self, overwrite=overwrite)


_DEVICES = "'cpu', 'auto' (a CUDA GPU when there is one, else the CPU), 'cuda', 'cuda:N' (GPU number N) or 'mps'"


def resolve_device(name: Any, /) -> str:
    """Turn a device name into a torch device string, checking that the device exists.

    Parameters
    ----------
    name : str or torch.device
        ``"cpu"``, ``"auto"`` (``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``), ``"cuda"``,
        ``"cuda:N"`` (GPU number ``N``) or ``"mps"`` (Apple GPUs); case and surrounding spaces are ignored.

    Returns
    -------
    str
        The device for ``torch``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Raises
    ------
    ConfigError
        Another name (e.g. ``"gpu"``), or a GPU that this machine or this torch build does not have.
    """
    torch = require("torch", purpose="the Cutter network")
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise ConfigError(f"device={name!r} ({type(name).__name__}) is not a device name: give {_DEVICES}.")
    key = name.strip().lower()
    if key == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if key == "cpu":
        return key
    kind, _, number = key.partition(":")
    if kind in ("gpu", "nvidia") and (not number or number.isdigit()):
        hint = f"cuda:{number}" if number else "cuda"
        raise ConfigError(f"device={name!r} is not a device name: give {_DEVICES}. For a GPU say {hint!r}.")
    if kind == "cuda" and (not number or number.isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={name!r} was asked for but this torch build sees no CUDA GPU on this machine "
                f"(torch {torch.__version__}). Use device='cpu' or 'auto', or install a CUDA build of torch."
            )
        count = torch.cuda.device_count()
        if number and int(number) >= count:
            raise ConfigError(f"device={name!r} was asked for but this machine has {count} CUDA GPU(s), numbered "
                              f"0 to {count - 1}. Use device='cuda:0' ... 'cuda:{count - 1}', 'cuda' or 'auto'.")
        return key
    if key == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device={name!r} (an Apple GPU) was asked for but torch cannot use one on this "
                              f"machine (torch {torch.__version__}). Use device='cpu' or 'auto'.")
        return key
    raise ConfigError(f"device={name!r} is not a device name: give {_DEVICES}.")


def _atomic_write(path: Path, write) -> None:
    from labelfree.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def training_inputs(image: Any, /, markers: Any = None) -> dict[str, Any]:
    """The record of what a model is trained on, for :attr:`CutterModel.training`.

    Parameters
    ----------
    image : DataArray, ndarray or path
        The training image: its file (``attrs["source"]`` of an image read by LabelFree) with the file's
        sha256, and the sha256 of its pixels.
    markers : path, array, table, list or None
        The markers given: a file with its sha256, or the sha256 of the data given; None: detected in the
        image (as the config's ``marker_method`` says).

    Returns
    -------
    dict
        ``{"image": {...}, "markers": {...}}`` (see :func:`labelfree._model_files.input_record`).
    """
    marker_record = {"detected": True} if markers is None else input_record(markers)
    return {"image": input_record(image), "markers": marker_record}


def _training_record(model: Any, torch: Any) -> dict[str, Any]:
    """``model.training`` (the inputs), with how the training ran when it ran in this process."""
    record = dict(getattr(model, "training", None) or {})
    history = list(getattr(model, "history", None) or [])
    if history:  # trained here (a loaded model keeps its sidecar's record)
        record.update(steps=len(history), seconds=round(float(history[-1][0]), 3),
                      last_loss=float(history[-1][1]), threads=int(torch.get_num_threads()),
                      device=str(next(iter(model.net.parameters())).device), versions=software_versions(), date=now())
    return record


def save_model(path: str | os.PathLike, model, /, *, overwrite: bool = False) -> str:
    """Write ``model`` (a :class:`labelfree.cutter.train.CutterModel`) to ``path``.

    An existing ``path`` (or its ``.json`` sidecar) is replaced only with ``overwrite``; otherwise
    :class:`~labelfree.errors.OutputExistsError`, and nothing is written.

    The ``.pt`` file's bytes depend on the weights, config, channel count and cell radius only (the same
    model saved twice, anywhere, has the same sha256); the sidecar also records the sha256 of the weights
    (``weights_sha256``) and ``training`` (what and how the model was trained: :attr:`CutterModel.training`,
    steps, seconds, last loss, torch threads, device, software versions, date).

    Returns
    -------
    str
        The sha256 of the written ``.pt`` file (also in ``<path>.json``).
    """
    from labelfree.io import check_output_file

    torch = require("torch", purpose="saving a Cutter model")
    path = Path(path)
    sidecar_path = sidecar_of(path)
    _check_sidecar_replaceable(sidecar_path, path)  # a .json of that name that is not ours: said so
    for target, what in ((path, "model file"), (sidecar_path, "model sidecar")):
        check_output_file(target, overwrite=overwrite, what=what)
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
    payload = {
        "format": FORMAT,
        "config": model.config.to_json(),
        "n_channels": int(model.n_channels),
        "state_dict": state,
    }
    if getattr(model, "cell_radius", None) is not None:
        payload["cell_radius"] = float(model.cell_radius)
    from labelfree.io.atomic import atomic_path, remove_quietly

    data = torch_file_bytes(payload)  # not torch.save(path): it names the archive after the temporary file
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
        digest = file_sha256(tmp)
        # the earlier model's sidecar goes first: a model without one loads unchecked, while an earlier sidecar
        # beside a new model (an interruption between the two writes) would refuse it as "changed"
        remove_quietly(sidecar_path)
    sidecar = {"format": FORMAT, "sha256": digest, "weights_sha256": weights_sha256(state),
               "n_channels": int(model.n_channels), "config": model.config.to_dict(),
               "cell_radius": payload.get("cell_radius"), "training": _training_record(model, torch)}
    _atomic_write(sidecar_path, lambda fh: fh.write(json.dumps(sidecar, indent=2).encode()))
    return digest


def sidecar_of(path: str | os.PathLike, /) -> Path:
    """The sidecar ``<file>.json`` that :func:`save_model` writes beside a model file."""
    return Path(str(path) + ".json")


def _check_sidecar_replaceable(sidecar: Path, model_path: Path) -> None:
    """OutputError when ``sidecar`` exists (or is a link) and is not a sidecar Cutter wrote: a file of the
    user's (a config file named ``<model>.json``, say) is never replaced by saving a model."""
    if not (sidecar.exists() or sidecar.is_symlink()):
        return
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        ours = isinstance(record, dict) and record.get("format") == FORMAT
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise OutputError(f"Saving the Cutter model {model_path} would replace {sidecar}, which is not a Cutter model "
                          "sidecar (the model is saved with one, named <model file>.json). Move that file, or save "
                          "the model under another name.")


def load_model(path: str | os.PathLike, /, *, device: str = "cpu"):
    """Load a model written by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        The ``.pt`` file.
    device : str
        ``"cpu"``, ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see :func:`resolve_device`).

    Returns
    -------
    CutterModel
        In eval mode, on ``device``.

    Raises
    ------
    ModelFileError
        Missing or unreadable file, not a Cutter model, or a sha256 that differs
        from the one recorded in the sidecar.
    """
    torch = require("torch", purpose="loading a Cutter model")
    from labelfree.cutter.unet import build_unet

    device = resolve_device(device)  # a wrong name is said before the file is read
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Cutter model file {path} does not exist. Check the path, or {_HOW_TO_SAVE}.")
    sidecar = sidecar_of(path)
    training = None
    if sidecar.is_file():
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"Cannot read the model sidecar {sidecar}: {exc}") from exc
        if not isinstance(record, dict):
            raise ModelFileError(f"The model sidecar {sidecar} is not the record Cutter writes (a JSON object with the "
                                 f"model's sha256; it holds a {type(record).__name__}). Remove it, or copy the model "
                                 "and its sidecar again.")
        expected = record.get("sha256")
        if expected and expected != file_sha256(path):
            raise ModelFileError(
                f"{path} does not match the sha256 recorded in {sidecar}: the file was changed or "
                "truncated. Re-train or copy the model again."
            )
        training = record.get("training") if isinstance(record.get("training"), dict) else None  # older: none
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for bad files
        # torch's own text suggests weights_only=False, which would run code from the file: never pass it on
        raise ModelFileError(
            f"{path} is not a LabelFree Cutter model: torch cannot read it as a file of saved weights "
            f"({type(exc).__name__}). Give a .pt file that LabelFree Cutter saved, or {_HOW_TO_SAVE}."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a LabelFree Cutter model: a torch file without the {FORMAT!r} record "
                             "that Cutter writes (another program's model, e.g. cellpose weights?). Give a .pt file "
                             f"that LabelFree Cutter saved, or {_HOW_TO_SAVE}.")
    try:
        stored = json.loads(payload["config"])
        for key in CutterConfig.moved_keys:  # run choices recorded by older versions, not part of the model
            stored.pop(key, None)
        config = CutterConfig.from_dict(stored)
        n_channels = int(payload["n_channels"])
        net = build_unet(n_channels + 1, width=config.width)
        net.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, ConfigError) as exc:
        # a damaged record, or one written by a LabelFree version with other settings or another network
        if isinstance(exc, KeyError):
            what = f"no {exc.args[0]!r} entry"
        elif isinstance(exc, RuntimeError):
            what = f"its weights do not fit the width-{config.width} network of {n_channels} channel(s) it records"
        else:
            what = str(exc).split(". ")[0].rstrip(".")
        raise ModelFileError(
            f"{path} has the {FORMAT!r} record but its contents do not make a Cutter model of this LabelFree version "
            f"({what}). It was damaged, or saved by another LabelFree version: train and save the model again with "
            "this one."
        ) from None
    net.to(device).eval()
    radius = payload.get("cell_radius")
    return CutterModel(net, config, n_channels, cell_radius=None if radius is None else float(radius),
                       training=training)
