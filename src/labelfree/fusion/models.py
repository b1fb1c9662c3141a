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
import math
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
    "parse_model_files",
    "read_model_files",
    "map_model_files",
    "model_files_of",
]

log = logging.getLogger(__name__)

#: the ``starting_model`` value that means random initialisation
SCRATCH = "scratch"
_TORCH_SUFFIXED = ("cyto", "cyto2", "nuclei")  # cellpose stores these as "<name>torch_0"


def cellpose_model_dir() -> Path:
    """Folder where cellpose keeps built-in weights (read now, not at import time); without a home folder
    (containers) ``<tmp>/labelfree-<uid>/.cellpose/models``, where cellpose looks when LabelFree imports it."""
    from labelfree._cache import home_folder, user_temp_dir

    env = os.environ.get("CELLPOSE_LOCAL_MODELS_PATH")
    return Path(env) if env else (home_folder() or user_temp_dir()) / ".cellpose" / "models"


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
        """The channels of the network's input and its 4 levels' feature widths, e.g. ``[2, 32, 64, 128, 256]``."""
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


def _diameter_entry(state: dict, key: str, path: Path, /, *, default: float, positive: bool = True) -> float:
    """The one number (``positive``: finite and > 0) a weights file holds under ``key`` (``diam_mean``: the
    object diameter the network works at; ``diam_labels``: the training objects' mean), ``default`` when absent."""
    value = state.get(key)
    if value is None:
        return default
    shape = tuple(getattr(value, "shape", ()))
    try:
        number = float(value.reshape(-1)[0]) if getattr(value, "numel", lambda: 0)() == 1 else None
    except (TypeError, ValueError, RuntimeError):
        number = None
    if number is None or (positive and not (math.isfinite(number) and number > 0)):
        what = f"shape {shape}" if number is None else f"value {number}"
        raise ModelFileError(f"{path} holds {key} of {what}; a cellpose weights file holds one positive number there "
                             "(a tensor of shape (1,), the diameter in pixels). The file is damaged or was not saved "
                             "by cellpose: give cellpose 3 weights (.pt) saved by cellpose or by labelfree fusion "
                             "train, or save the network again.")
    return number


def load_model(model: str | os.PathLike[str], /, *, device: str = "auto") -> CellposeNet:
    """Load cellpose weights (a file or a cached built-in name); nothing is ever downloaded.

    ``model`` is a weights file (``.pt`` saved by cellpose or ``labelfree fusion train``) or the name of a
    built-in model already in the cache (:func:`resolve_starting_model`); ``device`` is where the network
    runs (``"auto"``: a CUDA GPU when there is one, ``"cpu"``, ``"cuda"``).

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
    try:
        nbase = model_nbase(state)
    except ModelFileError as exc:  # the file in the message: a run may name several
        raise ModelFileError(f"{path}: {exc} Give cellpose 3 weights (.pt) saved by cellpose or by labelfree "
                             "fusion train.") from None
    diam_mean = 17.0 if path.name == "nucleitorch_0" else _diameter_entry(state, "diam_mean", path, default=30.0)
    if "diam_labels" in state:
        _diameter_entry(state, "diam_labels", path, default=diam_mean, positive=False)
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


#: how the entry points name model files, for messages
MODEL_FILES_FORMS = (
    "one cellpose weights file for every channel (--model-file cells.pt; macros: model_file=[cells.pt]; Python: "
    "models='cells.pt'), or CHANNEL=FILE pairs separated by commas (--model-file GFP=gfp.pt,Cy5=cy5.pt; macros: "
    "model_file=[GFP=gfp.pt,Cy5=cy5.pt]; Python: models={'GFP': 'gfp.pt', 'Cy5': 'cy5.pt'})"
)


def _weights_file(text: str, /, *, given: str) -> str:
    """``text`` when it names an existing weights file (or a cached built-in cellpose name); else a
    ModelFileError saying what ``given`` (the user's whole value) was read as and how to name files."""
    path = Path(text).expanduser()
    if path.is_file():
        return text
    read_as = "" if text == given else f" (read from {given!r} as CHANNEL=FILE pairs)"
    if path.is_dir():
        raise ModelFileError(f"The model file {text}{read_as} is a folder; give the weights file itself (a zoo "
                             f"folder is given with --zoo). Model files are {MODEL_FILES_FORMS}.")
    if os.sep not in text and "/" not in text and not path.suffix and text in _builtin_names():
        resolve_starting_model(text)  # a cached built-in name; its error says where the file goes
        return text
    raise ModelFileError(f"The model file {text}{read_as} does not exist. Give the path of a cellpose weights file "
                         f"(from labelfree fusion train, cellpose's GUI or CLI, or `labelfree zoo list`): "
                         f"{MODEL_FILES_FORMS}.")


def parse_model_files(value: str | os.PathLike[str], /, *,
                      channels: Any = None) -> str | dict[str, str]:
    """The model file(s) an entry point names: one file for every channel, or channel -> file.

    ``value`` is one weights file when a file of that path exists, whatever characters its path
    holds (``,`` and ``=`` too) and when it has no ``=``; otherwise it is ``CHANNEL=FILE`` pairs
    separated by commas. A pair's channel is the text before its first ``=`` (a file path may hold
    ``=``); a piece without ``=`` belongs to the file before it (``GFP=a,b.pt`` is GFP's file ``a,b.pt``).
    A cached built-in cellpose name (``cyto3``) stands for its file.

    Parameters
    ----------
    value : str or path
        As given to ``--model-file``, the macro key ``model_file`` or a batch manifest's column.
    channels : sequence of str, optional
        The image's channel names: each pair's channel must name one (exactly, else ignoring case,
        as ``--channel`` takes names); returned under the image's spelling.

    Returns
    -------
    str or dict
        The one file, or channel -> file.

    Raises
    ------
    ModelFileError
        A file is missing or a folder.
    InputError
        A pair names no channel of the image, names one twice, or has no channel or file.
    """
    from labelfree.errors import InputError
    from labelfree.image import channel_by_name, short_list

    given = os.fspath(value)
    if not given.strip():
        raise ModelFileError(f"No model file given (an empty value); give {MODEL_FILES_FORMS}.")
    pairs = _pairs(given)
    if pairs is None:
        return _weights_file(given, given=given)
    names = None if channels is None else [str(c) for c in channels]
    out: dict[str, str] = {}
    for key, file in pairs:
        if not key or not file:
            lacks = "channel" if not key else "file"
            raise InputError(f"Model files {given!r}: the pair {key}={file} lacks its {lacks}. Give "
                             f"{MODEL_FILES_FORMS}.")
        channel = key
        if names is not None:
            try:
                channel = names[channel_by_name(names, key)]
            except InputError as exc:
                near = str(exc).partition(" Did you mean ")[2]
                raise InputError(
                    f"Model files {given!r} (read as CHANNEL=FILE pairs: no file of that name exists) name the "
                    f"channel {key!r}, which the image does not have (its channels: {short_list(names)}"
                    f"{'; did you mean ' + near if near else ''}). Name the channels as the image does, by name, "
                    "not by index (a file without channel names has C0, C1, ...; --channel-names renames them); "
                    "with --channel, only the channels chosen.") from None
        if channel in out:
            raise InputError(f"Model files {given!r} give the channel {channel} twice; give each channel one file.")
        out[channel] = _weights_file(file, given=given)
    return out


def _pairs(given: str, /) -> list[tuple[str, str]] | None:
    """``given`` read as ``CHANNEL=FILE`` pairs (each stripped), or None when it is one file (a file of that
    path exists, or it has no ``=``): :func:`parse_model_files`'s reading, without its checks of the files."""
    from labelfree.errors import InputError

    if Path(given).expanduser().is_file() or "=" not in given:
        return None
    pairs: list[list[str]] = []
    for piece in given.split(","):
        if "=" in piece:
            pairs.append(piece.split("=", 1))
        elif pairs:
            pairs[-1][1] += "," + piece  # a comma inside a file's path
        else:
            raise InputError(f"Model files {given!r}: no file {given} exists, and read as CHANNEL=FILE pairs its "
                             f"first part {piece!r} names no channel. Give {MODEL_FILES_FORMS}.")
    return [(k.strip(), f.strip()) for k, f in pairs]


def map_model_files(value: Any, change: Any, /) -> Any:
    """The ``files`` hook of Fusion's ``model_file`` input (:attr:`labelfree.spec.Input.files`): ``value`` with
    each weights file it names replaced by ``change(file, label)``.

    A value that is one file (see :func:`parse_model_files`) is ``change(value, "")``; ``CHANNEL=FILE`` pairs
    give each file with its channel as the label and are joined again (``GFP=<changed>,Cy5=<changed>``); a
    channel -> file mapping (Python's ``models=``) gives each path with its channel (other values, such as
    loaded models, are kept). A cached built-in cellpose name (``cyto3``) stands for its file in the cellpose
    folder when that file is there, else it is kept as it is. Nothing else is checked here: a missing file
    is :func:`parse_model_files`'s error when the run reads the value.

    Examples
    --------
    >>> map_model_files("GFP=a.pt,Cy5=b.pt", lambda file, label: f"/data/{file}")
    'GFP=/data/a.pt,Cy5=/data/b.pt'
    """
    from labelfree.errors import InputError

    def one(file: Any, label: str) -> Any:
        if not (isinstance(file, str) or hasattr(file, "__fspath__")) or not os.fspath(file).strip():
            return file
        return change(_builtin_file(os.fspath(file)), label)

    if isinstance(value, dict):
        return {channel: one(file, str(channel)) for channel, file in value.items()}
    if not (isinstance(value, str) or hasattr(value, "__fspath__")):
        return value
    given = os.fspath(value)
    try:
        pairs = _pairs(given)
    except InputError:  # said when the run reads the value
        pairs = None
    if pairs is None:
        return one(given, "")
    return ",".join(f"{channel}={one(file, channel)}" for channel, file in pairs)


def map_model_channels(value: Any, rename: Any, /) -> Any:
    """The ``channel_keys`` hook of Fusion's ``model_file`` input (:attr:`labelfree.spec.Input.channel_keys`):
    ``CHANNEL=FILE`` pairs with each channel replaced by ``rename(channel)``; a value that is one file (or no
    text) is returned as it is.

    Examples
    --------
    >>> map_model_channels("C1=a.pt,C2=b.pt", lambda c: "C" + str(int(c[1:]) - 1))
    'C0=a.pt,C1=b.pt'
    """
    from labelfree.errors import InputError

    if not (isinstance(value, str) or hasattr(value, "__fspath__")):
        return value
    try:
        pairs = _pairs(os.fspath(value))
    except InputError:  # said when the run reads the value
        return value
    if pairs is None:
        return value
    return ",".join(f"{rename(channel)}={file}" for channel, file in pairs)


def model_files_of(value: Any, /) -> list[str]:
    """The weights files a ``model_file`` value names (one file, the files of ``CHANNEL=FILE`` pairs, or of a
    channel -> file mapping), in order, each once; see :func:`map_model_files`."""
    found: list[str] = []
    map_model_files(value, lambda file, label: found.append(file) or file)
    return list(dict.fromkeys(found))


def _builtin_file(text: str, /) -> str:
    """The cached file of a built-in cellpose name (``cyto3``), when there is one and no file ``text`` exists;
    else ``text``. cellpose is not imported for a text that is a path (has a folder or a suffix)."""
    path = Path(text).expanduser()
    if path.exists() or os.sep in text or "/" in text or path.suffix:
        return text
    try:
        found = resolve_starting_model(text)
    except (ModelFileError, ImportError):
        return text
    return text if found is None else str(found)


def read_model_files(value: str | os.PathLike[str], /, *, image: Any = None) -> str:
    """The reader of Fusion's ``model_file`` input (:class:`labelfree.spec.Input`): checks the value
    (:func:`parse_model_files`, against the image's channels) and hands it on as given, a text
    every tile of a tiled run can be given too; :func:`labelfree.fusion.segment.segment` reads it.

    Raises
    ------
    ModelFileError, InputError
        As :func:`parse_model_files`.
    """
    names = None
    if image is not None and hasattr(image, "dims"):
        names = _channel_names_of(image)
    parse_model_files(value, channels=names)
    return os.fspath(value)


def _channel_names_of(image: Any, /) -> list[str]:
    """The channel names Fusion gives ``image`` (:func:`labelfree.fusion.channels.with_channel_axis`), read
    from its metadata alone: a one-channel image's is its scalar ``C``, else the file's name for it, else C0."""
    from labelfree.fusion.channels import file_channel_name
    from labelfree.image import channel_names

    if "C" in image.dims:
        return channel_names(image)
    coords = getattr(image, "coords", {})
    if "C" in coords and coords["C"].ndim == 0:
        return [str(coords["C"].values)]
    attrs = getattr(image, "attrs", {}) or {}
    return [file_channel_name(attrs.get("source"), series=attrs.get("series")) or "C0"]
