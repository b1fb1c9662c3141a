"""Cellpose models: starting-model resolution (never downloading), build, load, save.

cellpose 3.1.x silently falls back to downloading ``cyto3`` when a ``pretrained_model``
path does not exist, and downloads a built-in model whenever its file is missing. LabelFree
never lets cellpose resolve names: it finds the weights file itself (a path, or a built-in
name in ``$CELLPOSE_LOCAL_MODELS_PATH`` / ``~/.cellpose/models``), raises
:class:`~labelfree.errors.ModelFileError` when there is none, builds the network itself and
loads the file itself. Models are :class:`CellposeNet` records around a cellpose ``CPnet`` of
any width (tiny ones for tests, cellpose's own for real use); the files are cellpose's format.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from labelfree._deps import require
from labelfree.errors import ConfigError, ModelFileError

__all__ = [
    "SCRATCH",
    "CellposeNet",
    "cellpose_model_dir",
    "resolve_starting_model",
    "torch_device",
    "new_model",
    "load_model",
    "save_model",
    "model_nbase",
]

log = logging.getLogger(__name__)

#: the ``starting_model`` value that means random initialisation
SCRATCH = "scratch"
_TORCH_SUFFIXED = ("cyto", "cyto2", "nuclei")  # cellpose stores these as "<name>torch_0"


def cellpose_model_dir() -> Path:
    """Folder where cellpose keeps built-in weights (read now, not at import time)."""
    env = os.environ.get("CELLPOSE_LOCAL_MODELS_PATH")
    return Path(env) if env else Path.home() / ".cellpose" / "models"


def doctor_checks() -> list:
    """``labelfree doctor`` lines for the Fusion pipeline: cellpose and its local weights."""
    import importlib.metadata

    from labelfree.spec import Check

    try:
        version = importlib.metadata.version("cellpose")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is None:  # without cellpose its weights mean nothing
        from labelfree._deps import install_hint

        return [Check("cellpose", False, "not installed", f"{install_hint('cellpose')} (Fusion)", needed=False)]
    models_dir = cellpose_model_dir()
    models = sorted(p.name for p in models_dir.glob("*") if p.is_file()) if models_dir.is_dir() else []
    return [
        Check("cellpose", True, version, needed=False),
        Check("cellpose models", bool(models),
              f"{len(models)} in {models_dir}" + (f": {', '.join(models[:6])}" if models else ""),
              "" if models else "Fusion runs from a model zoo without them (labelfree fusion train; labelfree demo "
              "--pipeline fusion trains one); the built-in starting models (cyto3, nuclei, ...) are fetched once "
              "with network access, e.g. python -c \"from cellpose import models; "
              f"models.CellposeModel(model_type='cyto3')\", or copied to {models_dir} (or set "
              "CELLPOSE_LOCAL_MODELS_PATH).", needed=False),
    ]


def _builtin_names() -> list[str]:
    models = require("cellpose.models", purpose="the Fusion pipeline")
    return list(models.MODEL_NAMES)


def resolve_starting_model(name: str | os.PathLike[str] | None, /) -> Path | None:
    """Find the weights file of a starting model without any download.

    Parameters
    ----------
    name : str, path or None
        ``None``/``""``/``"scratch"`` (random initialisation: returns None), a path to a
        weights file, or a built-in cellpose name (``"cyto3"``, ``"nuclei"``...) whose file
        is already in :func:`cellpose_model_dir`.

    Returns
    -------
    pathlib.Path or None
        Absolute path of an existing weights file.

    Raises
    ------
    ModelFileError
        The file does not exist, or the built-in model is not cached; the message says
        where to put the file. No download is ever attempted.
    """
    if name is None or str(name).strip().lower() in ("", SCRATCH, "none", "false"):
        return None
    text = str(name)
    path = Path(text).expanduser()
    if path.is_file():
        return path.resolve()
    if text in _builtin_names():
        basename = f"{text}torch_0" if text in _TORCH_SUFFIXED else text
        cached = cellpose_model_dir() / basename
        if cached.is_file():
            return cached.resolve()
        raise ModelFileError(
            f"The built-in cellpose model {text!r} is not available offline: {cached} does not "
            "exist, and LabelFree never downloads weights. Copy the file there (or set "
            "CELLPOSE_LOCAL_MODELS_PATH to the folder that holds it), give a weights file path, "
            "or use starting_model='scratch' to train from random weights."
        )
    if path.suffix or os.sep in text or path.parent != Path("."):
        raise ModelFileError(
            f"Model file {path} does not exist. Give the path of a cellpose weights file "
            "(e.g. one from `labelfree zoo list`) or starting_model='scratch'."
        )
    raise ModelFileError(
        f"{text!r} is neither an existing weights file nor a built-in cellpose model name "
        f"({', '.join(_builtin_names()[:6])}, ...). Give a file path, a cached built-in name "
        "or 'scratch'."
    )


def torch_device(name: str = "auto", /) -> Any:
    """``torch.device`` for ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``."""
    torch = require("torch", purpose="the Fusion pipeline")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'.")
    return torch.device(name)


@dataclasses.dataclass
class CellposeNet:
    """A cellpose network with the sizes it works at.

    Attributes
    ----------
    net : cellpose.resnet_torch.CPnet
        The network (input: grey + empty channel; output: dY, dX, cell-probability logit).
    diam_mean : float
        Object diameter (pixels) the network works at; images are rescaled to it.
    diam_labels : float
        Mean object diameter (pixels) of the training images; the default diameter.
    device : torch.device
    source : str
        Weights file it was loaded from, or "scratch".
    """

    net: Any
    diam_mean: float
    diam_labels: float
    device: Any
    source: str = SCRATCH

    @property
    def nbase(self) -> list[int]:
        return list(self.net.nbase)


def _wrap(net: Any, device: Any, source: str = SCRATCH) -> CellposeNet:
    net = net.to(device)
    net.eval()
    return CellposeNet(net, float(net.diam_mean.data.cpu().numpy()[0]),
                       float(net.diam_labels.data.cpu().numpy()[0]), device, source)


def new_model(*, nbase: tuple[int, ...] = (32, 64, 128, 256), diam_mean: float = 30.0,
              device: str = "auto", seed: int | None = 0) -> CellposeNet:
    """A randomly initialised cellpose network (2 input channels: grey + empty).

    Parameters
    ----------
    nbase : tuple of 4 int
        Feature widths of the network levels (cellpose's: 32, 64, 128, 256).
    diam_mean : float
        Object diameter in pixels the network works at.
    device : {"auto", "cpu", "cuda"}
    seed : int or None
        Seed of the initial weights.
    """
    torch = require("torch", purpose="the Fusion pipeline")
    resnet = require("cellpose.resnet_torch", purpose="the Fusion pipeline")
    if seed is not None:
        torch.manual_seed(int(seed))
    net = resnet.CPnet([2, *map(int, nbase)], 3, sz=3, mkldnn=False, max_pool=True, diam_mean=float(diam_mean))
    return _wrap(net, torch_device(device))


def model_nbase(state_dict: dict[str, Any]) -> list[int]:
    """Network widths ``[nchan, n1, n2, n3, n4]`` read from a CPnet state dict."""
    widths = []
    for i in range(4):
        key = f"downsample.down.res_down_{i}.proj.1.weight"
        if key not in state_dict:
            raise ModelFileError(
                "The file is not a cellpose 3 CPnet state dict (no " + key + "); cellpose 4 (SAM) "
                "and other networks are not supported."
            )
        shape = tuple(state_dict[key].shape)
        if i == 0:
            widths.append(int(shape[1]))
        widths.append(int(shape[0]))
    return widths


def load_model(model: str | os.PathLike[str], /, *, device: str = "auto") -> CellposeNet:
    """Load cellpose weights (a file or a cached built-in name); nothing is ever downloaded.

    Raises
    ------
    ModelFileError
        Missing file (nothing is downloaded) or not a cellpose 3 network.
    """
    torch = require("torch", purpose="the Fusion pipeline")
    resnet = require("cellpose.resnet_torch", purpose="the Fusion pipeline")
    path = resolve_starting_model(model)
    if path is None:
        raise ModelFileError("load_model needs a weights file or a cached built-in name, not 'scratch'.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on bad files
        # torch's own text suggests weights_only=False, which would run code from the file: never pass it on
        raise ModelFileError(f"{path} is not a readable torch weights file ({type(exc).__name__}); give cellpose "
                             "weights (.pt) saved by cellpose or by labelfree fusion train.") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} does not hold a state dict of a cellpose network.")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    nbase = model_nbase(state)
    diam_mean = 17.0 if path.name == "nucleitorch_0" else float(state.get("diam_mean", torch.ones(1) * 30)[0])
    net = resnet.CPnet(nbase, 3, sz=3, mkldnn=False, max_pool=True, diam_mean=diam_mean)
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelFileError(f"{path} does not match a cellpose network of widths {nbase}: {exc}") from exc
    missing = [k for k in result.missing_keys if not k.startswith("diam")]
    if missing:
        raise ModelFileError(f"{path} lacks {len(missing)} weights of a cellpose network (e.g. {missing[0]}).")
    if path.name == "nucleitorch_0":
        net.diam_mean.data[:] = 17.0
    out = _wrap(net, torch_device(device), str(path))
    log.info("loaded %s (widths %s, diam_mean %.1f, diam_labels %.1f)", path, nbase, out.diam_mean, out.diam_labels)
    return out


def save_model(model: CellposeNet, path: str | os.PathLike[str], /) -> Path:
    """Save a model's weights (cellpose's file format) atomically; returns the path."""
    from labelfree.io.atomic import atomic_path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    net = model.net
    net.diam_labels.data[:] = float(model.diam_labels)
    with atomic_path(target) as tmp:
        net.save_model(str(tmp))
    return target
