"""The model zoo: a folder of fine-tuned cellpose weights with a JSON index.

Layout::

    <zoo>/index.json          {"version": 1, "models": [entry, ...]}
    <zoo>/<id>.pt             cellpose weights (loadable by cellpose itself)

An entry records: ``id``, ``object`` (nuclei | cyto), ``cell_line``, ``channels`` (the
training channel set), ``starting_model``, ``validation`` (scores on validation images),
``diameter`` (mean training object diameter, pixels), ``nbase``, ``file``, ``sha256`` (of the
file), ``weights_sha256`` (of the weights it holds: :func:`labelfree._model_files.weights_sha256`),
``versions`` (of the software that filed it), ``date`` and, for a model filed from
:func:`labelfree.fusion.finetune`'s result, ``training`` (:attr:`labelfree.fusion.FinetuneResult.training`:
images, labels, every FinetuneConfig setting, versions). Entries written by older versions lack
``weights_sha256``, ``versions`` and ``training``; they load as before. Every write of the index
and of a weights file is atomic.

A model filed from memory is written so that its bytes depend on its weights only: the same
weights make the same file and ``sha256``, whenever and wherever they were trained.

:func:`open_zoo` opens the zoo a run names, or, when none is named, the zoo in LabelFree's
model cache (``<cache>/zoo``, :func:`cache_zoo_dir`).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Any, Iterable

from labelfree._cache import cache_root
from labelfree._config import file_sha256
from labelfree._model_files import software_versions, torch_file_bytes, weights_sha256
from labelfree.errors import ConfigError, InputError, ModelFileError, OutputError
from labelfree.fusion.config import OBJECTS

__all__ = ["ModelZoo", "INDEX_NAME", "cache_zoo_dir", "open_zoo", "MAKE_A_ZOO", "strict_json"]

log = logging.getLogger(__name__)
INDEX_NAME = "index.json"
#: how to make a zoo, for error messages (CLI first)
#: how a run without a zoo can name its models instead (open_zoo's message; the Fiji wording in labelfree.imagej.terms)
NO_ZOO_MODEL_FILES = (
    "Or run without a zoo, on cellpose weights files: --model-file FILE for every channel, or CHANNEL=FILE "
    "pairs (Fiji: the dialog's model_file field; macros: model_file=[FILE]; Python: models= (a file, or "
    "channel -> file))."
)
MAKE_A_ZOO = (
    "Make one with `labelfree fusion train IMG... --labels LAB... --zoo FOLDER` (trains models into it) or "
    "`labelfree zoo add FOLDER WEIGHTS --object cyto --channels NAME...` (files a cellpose weights file); "
    "`labelfree demo --pipeline fusion` trains a tiny demo zoo on synthetic images and prints where it is."
)


def cache_zoo_dir() -> Path:
    """The model zoo in LabelFree's model cache (``<cache>/zoo``): the zoo of a run that names none."""
    return cache_root() / "zoo"


def open_zoo(zoo: Any = None, /) -> "ModelZoo":
    """The zoo a run names (a ModelZoo or a folder), or, for None or an empty text, the cache's zoo.

    Raises
    ------
    ModelFileError
        The folder is not a zoo.
    InputError
        No zoo was named and the cache holds none (the message says how to give or make one).
    """
    if isinstance(zoo, ModelZoo):
        return zoo
    if zoo is not None and str(zoo).strip():
        return ModelZoo(Path(str(zoo)).expanduser())
    default = cache_zoo_dir()
    if not (default / INDEX_NAME).is_file():
        raise InputError(
            "Fusion needs a model zoo: give its folder with --zoo FOLDER (Fiji: the dialog's zoo field; "
            "macros: zoo=[FOLDER]; Python: give zoo= (a folder) or models= (channel -> model)). None was given, "
            f"and LabelFree's model cache holds none ({default}, the zoo used when none is given, has no "
            f"{INDEX_NAME}). {_demo_zoo_note()}{MAKE_A_ZOO} {NO_ZOO_MODEL_FILES}"
        )
    log.info("fusion: no model zoo given; using the zoo of LabelFree's model cache, %s", default)
    return ModelZoo(default)


def _demo_zoo_note() -> str:
    """Where the zoo ``labelfree demo --pipeline fusion`` trained lies, when LabelFree's cache holds one (the
    newest): a sentence for the no-zoo message, else an empty text."""
    try:
        found = [p for p in cache_root().glob("demo-fusion-zoo-*") if (p / INDEX_NAME).is_file()]
    except OSError:
        return ""
    if not found:
        return ""
    newest = max(found, key=lambda p: (p / INDEX_NAME).stat().st_mtime)
    return (f"The demo's zoo is in the cache: --zoo {newest} uses it (one tiny model that `labelfree demo --pipeline "
            "fusion` trained on its synthetic sample, channels named as the sample's; for other images, train or "
            "file models for their channels). ")


#: the system's files, which a folder may hold and still count as empty for a new zoo
_SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _other_files(folder: Path) -> list[str]:
    """The names (sorted) of what ``folder`` holds besides system files and the temporary index an
    interrupted creation left; none for a missing folder."""
    try:
        names = sorted(p.name for p in folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise OutputError(f"Cannot read the folder {folder} for the model zoo: {exc.strerror or exc}. Choose a folder "
                          "you can read and write.") from exc
    temp = re.compile(re.escape(f".{INDEX_NAME}.") + r"[^.]+\.part")
    return [name for name in names if name not in _SYSTEM_FILES and not temp.fullmatch(name)]


def strict_json(value: Any, /) -> Any:
    """``value`` (an index entry, a list of them) with every float that is no number (a validation precision of 0
    of 0 objects: NaN; infinities) as None, so that the JSON written of it is strict JSON (``null``), which every
    tool reads (``jq``, JavaScript, R), not Python's ``NaN``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "any"


def _f1(entry: dict[str, Any]) -> float:
    value = (entry.get("validation") or {}).get("f1")
    return float(value) if isinstance(value, (int, float)) and value == value else -1.0


def _weights_file(model: Any, /) -> tuple[bytes, str]:
    """The bytes of cellpose's weights file of ``model`` (a CellposeNet: its network's state dict, as cellpose
    saves it, with the training diameter), on the CPU and written to a buffer so that they depend on the
    weights only, and the sha256 of the weights."""
    net = model.net
    net.diam_labels.data[:] = float(model.diam_labels)
    state = net.state_dict()
    cpu = type(state)((k, v.detach().cpu()) for k, v in state.items())
    if hasattr(state, "_metadata"):  # the module versions torch's load_state_dict reads
        cpu._metadata = state._metadata
    return torch_file_bytes(cpu), weights_sha256(cpu)


def _file_weights_sha256(path: Path, /) -> str:
    """The sha256 of the weights a cellpose weights file holds."""
    from labelfree._deps import require

    torch = require("torch", purpose="reading a Fusion model")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises many kinds on bad files
        raise ModelFileError(f"{path} is not a readable torch weights file; give cellpose weights (.pt) saved by "
                             "cellpose or by labelfree fusion train.") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} does not hold a state dict of a cellpose network.")
    return weights_sha256(state)


class ModelZoo:
    """A folder of models indexed by object, cell line and training channels.

    Parameters
    ----------
    root : path
        The zoo folder.
    create : bool
        Create the folder and an empty index when absent (otherwise a missing zoo is an error). A folder
        that holds other files but no index is not made a zoo (OutputError): a zoo is a folder of its own.
    """

    def __init__(self, root: str | os.PathLike[str], /, *, create: bool = False) -> None:
        self.root = Path(root)
        self.index_path = self.root / INDEX_NAME
        if not self.index_path.is_file():
            if not create:
                if self.root.is_file():  # a weights file given where the zoo's folder goes
                    raise ModelFileError(
                        f"{self.root} is a file, not a LabelFree model zoo (a folder of models and their "
                        f"{INDEX_NAME}). If it holds cellpose weights, file it in a zoo first: labelfree zoo add ZOO "
                        f"{self.root} --object cyto --channels NAME (Python: ModelZoo(ZOO, create=True).add(...)), "
                        "then give the zoo's folder; or give the weights per channel (Python: "
                        "labelfree.fusion.segment(image, models={'NAME': path})).")
                what = "does not exist" if not self.root.exists() else f"has no {INDEX_NAME}"
                raise ModelFileError(f"{self.root} is not a LabelFree model zoo (it {what}). {MAKE_A_ZOO}")
            if self.root.exists() and not self.root.is_dir():
                raise OutputError(f"The model zoo {self.root} is a file; a zoo is a folder (of models and its "
                                  f"{INDEX_NAME}). Give a folder's path, new or made by fusion train.")
            others = _other_files(self.root)
            if others:
                raise OutputError(
                    f"The model zoo {self.root} would be made in a folder that holds other files "
                    f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}) and no {INDEX_NAME}: it is not a "
                    "LabelFree model zoo, and a zoo is not mixed into other files. Give a new or empty folder for "
                    "the zoo, or the folder of an existing zoo."
                )
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"Cannot create the model zoo {self.root}: {exc.strerror or exc}. Choose a folder "
                                  "you can write to.") from exc
            self._write([])

    def check_writable(self, *, todo: str = "") -> None:
        """Refuse, before any work, a zoo whose folder cannot take a new file: a model is filed by writing its
        weights file and the index beside them (each through a temporary file in the folder).

        Parameters
        ----------
        todo : str
            What to do instead, for the message (default: choose a zoo folder you may write to).

        Raises
        ------
        OutputError
            The folder cannot be written (read-only, not yours, full).
        """
        import tempfile

        try:
            fd, name = tempfile.mkstemp(dir=self.root, prefix=f".{INDEX_NAME}.", suffix=".part")
        except OSError as exc:
            default = ("Choose a zoo folder you may write to (a new folder is made), or copy this zoo into one "
                       "and give that.")
            raise OutputError(f"Cannot write to the model zoo {self.root}: {exc.strerror or exc}"
                              f"{f' (errno {exc.errno})' if exc.errno else ''}; a model is filed there as a "
                              f"weights file and an entry in its {INDEX_NAME}. {todo or default}") from exc
        os.close(fd)
        os.unlink(name)

    # -- index ----------------------------------------------------------------------------
    def _read(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"The zoo index {self.index_path} is unreadable: {exc}. {self._broken_index_todo()}") \
                from exc
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            raise ModelFileError(f"The zoo index {self.index_path} has no 'models' list. {self._broken_index_todo()}")
        for entry in data["models"]:
            if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("id", "file", "object")) \
                    or not isinstance(entry.get("channels"), list):
                raise ModelFileError(
                    f"The zoo index {self.index_path} holds an entry without id, file, object and channels "
                    f"({str(entry)[:80]}); repair or rebuild the index."
                )
        return data["models"]

    def _write(self, entries: list[dict[str, Any]]) -> None:
        from labelfree.io.atomic import atomic_path

        with atomic_path(self.index_path) as tmp:
            tmp.write_text(json.dumps({"version": 1, "models": strict_json(entries)}, indent=2, allow_nan=False),
                           encoding="utf-8")

    def entries(self) -> list[dict[str, Any]]:
        """Every entry of the index."""
        return self._read()

    def get(self, model_id: str, /) -> dict[str, Any]:
        """The entry with this id (ModelFileError when absent)."""
        for entry in self._read():
            if entry["id"] == model_id:
                return entry
        raise ModelFileError(f"No model {model_id!r} in the zoo {self.root}; `labelfree zoo list` shows them.")

    def path_of(self, entry: dict[str, Any] | str, /) -> Path:
        """Absolute path of an entry's weights file, which must be a plain file name inside the zoo.

        An index entry naming ``../x``, an absolute path, or a link leading out of the zoo
        raises :class:`~labelfree.errors.ModelFileError`: zoo operations never touch
        files outside the zoo.
        """
        entry = self.get(entry) if isinstance(entry, str) else entry
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", "..", INDEX_NAME) \
                or "\\" in name:
            raise ModelFileError(
                f"The zoo index {self.index_path} names the weights file {name!r} for {entry.get('id')!r}; "
                "a zoo entry must name a weights file inside the zoo folder. Repair or rebuild the index."
            )
        path = self.root / name
        root = self.root.resolve()
        if path.is_symlink() and root not in path.resolve().parents:
            raise ModelFileError(f"The zoo file {path} is a link leading out of the zoo {self.root}; it is not used.")
        if path.exists() and not path.is_symlink() and not path.is_file():
            raise ModelFileError(
                f"The zoo entry {entry.get('id')!r} names {path}, which is not a weights file (a folder?). Repair or "
                "rebuild the index."
            )
        return path

    # -- add / list / pick / remove ---------------------------------------------------------
    def add(self, model: Any, /, *, object: str, channels: Iterable[str], cell_line: str = "",
            starting_model: str = "scratch", validation: dict[str, float] | None = None) -> dict[str, Any]:
        """File a model (a CellposeNet, a :class:`~labelfree.fusion.FinetuneResult` or a weights file) in the
        zoo; returns its entry.

        Parameters
        ----------
        model : CellposeNet, FinetuneResult or path
            A FinetuneResult's ``training`` record (images, labels, settings, versions) is filed with it.
            A model in memory is written with bytes that depend on its weights only (same weights, same
            ``sha256``); a weights file is copied as it is.
        object : {"nuclei", "cyto"}
        channels : iterable of str
            Channels the model was trained on (one: channel-wise; several: multi-channel).
        cell_line : str
        starting_model : str
            What training started from (built-in name, file or "scratch").
        validation : dict, optional
            Scores on validation images (precision, recall, f1, ...).
        """
        from labelfree.fusion.finetune import FinetuneResult
        from labelfree.fusion.models import load_model

        if object not in OBJECTS:
            raise ConfigError(f"object must be one of {', '.join(OBJECTS)}; got {object!r}.")
        channels = [str(c) for c in channels]
        if not channels:
            raise InputError("Give the channel(s) the model was trained on.")
        training = None
        if isinstance(model, FinetuneResult):
            model, training = model.model, dict(model.training)
        net = load_model(model, device="cpu") if isinstance(model, (str, os.PathLike)) else model
        entries = self._read()  # a damaged index is refused before a weights file is written
        stamp = _dt.datetime.now(_dt.timezone.utc)
        model_id = f"{object}_{_slug(cell_line)}_{_slug('+'.join(channels))}_{stamp:%Y%m%d%H%M%S%f}"
        target = self.root / f"{model_id}.pt"
        from labelfree.io.atomic import atomic_path

        if isinstance(model, (str, os.PathLike)):
            with atomic_path(target) as tmp:
                shutil.copyfile(model, tmp)
        try:
            if isinstance(model, (str, os.PathLike)):
                weights = _file_weights_sha256(target)
            else:
                data, weights = _weights_file(net)
                with atomic_path(target) as tmp:
                    tmp.write_bytes(data)
            entry = {
                "id": model_id, "object": object, "cell_line": cell_line, "channels": channels,
                "starting_model": str(starting_model), "validation": dict(validation or {}),
                "diameter": float(net.diam_labels), "nbase": list(net.nbase), "file": target.name,
                "sha256": file_sha256(target), "weights_sha256": weights,
                "versions": software_versions(), "date": stamp.isoformat(timespec="seconds"),
            }
            if training is not None:
                entry["training"] = training
            entries.append(entry)
            self._write(entries)
        except BaseException:  # no weights file without its entry: the zoo stays as it was
            target.unlink(missing_ok=True)
            raise
        log.info("added %s to the zoo %s", model_id, self.root)
        return entry

    def weights_sha256(self, entry: dict[str, Any] | str, /) -> str:
        """The sha256 of an entry's weights (:func:`labelfree._model_files.weights_sha256`): the one its
        entry records, or, for an entry filed by an older LabelFree version, computed from its file.

        Equal weights give equal hashes whatever file holds them; compare these to tell whether two models
        are the same (the files' ``sha256`` also differ for equal weights saved by older versions or cellpose).
        """
        entry = self.get(entry) if isinstance(entry, str) else entry
        recorded = entry.get("weights_sha256")
        if isinstance(recorded, str) and recorded:
            return recorded
        path = self.path_of(entry)
        if not path.is_file():
            raise ModelFileError(self._damaged_message(entry, path, "missing"))
        return _file_weights_sha256(path)

    def list(self, *, object: str | None = None, cell_line: str | None = None,
             channels: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Entries matching every given criterion (``channels``: exactly that set)."""
        want = None if channels is None else {str(c) for c in channels}
        return [
            e for e in self._read()
            if (object is None or e["object"] == object)
            and (not cell_line or e["cell_line"] == cell_line)
            and (want is None or set(e["channels"]) == want)
        ]

    def pick(self, *, object: str, channels: Iterable[str], cell_line: str = "",
             exact: bool = True) -> dict[str, Any]:
        """The best model (highest validation F1) for an object, cell line and channel set.

        With ``exact=False`` a model trained on a superset of ``channels`` also qualifies
        (smallest superset first).
        """
        want = {str(c) for c in channels}
        pool = [e for e in self.list(object=object, cell_line=cell_line)
                if set(e["channels"]) == want or (not exact and want <= set(e["channels"]))]
        if not pool:
            have = [f"{e['id']} ({e['object']}, {e['cell_line'] or '-'}, {'+'.join(e['channels'])})"
                    for e in self._read()]
            raise ModelFileError(
                f"The zoo {self.root} has no {object} model{' for ' + cell_line if cell_line else ''} "
                f"trained on channels {sorted(want)}. It holds: {', '.join(have) or 'nothing'}. "
                "Train one with `labelfree fusion train`."
            )
        return min(pool, key=lambda e: (len(e["channels"]), -_f1(e), e["id"]))

    def remove(self, model_id: str, /) -> dict[str, Any]:
        """Remove an entry and its weights file; returns the removed entry."""
        entries = self._read()
        keep = [e for e in entries if e["id"] != model_id]
        if len(keep) == len(entries):
            raise ModelFileError(f"No model {model_id!r} in the zoo {self.root}.")
        gone = next(e for e in entries if e["id"] == model_id)
        path = self.path_of(gone)  # checked before anything changes
        self._write(keep)
        if any(e["file"] == gone["file"] for e in keep):
            log.warning("zoo %s: %s is kept; other entries use it too.", self.root, path.name)
        else:
            path.unlink(missing_ok=True)  # a link: the link itself, which lies inside the zoo
        return gone

    def load(self, entry: dict[str, Any] | str, /, *, device: str = "auto") -> Any:
        """Load an entry's model after checking its file hash."""
        from labelfree.fusion.models import load_model

        entry = self.get(entry) if isinstance(entry, str) else entry
        path = self.path_of(entry)
        if not path.is_file():
            raise ModelFileError(self._damaged_message(entry, path, "missing"))
        if file_sha256(path) != entry["sha256"]:
            raise ModelFileError(self._damaged_message(entry, path, "changed"))
        return load_model(path, device=device)

    def file_status(self, entry: dict[str, Any] | str, /) -> str:
        """``"ok"``, ``"missing"`` (no weights file) or ``"changed"`` (a file whose sha256 is not the one
        the index records: changed or corrupt since it was filed) for an entry; what :meth:`load` checks."""
        entry = self.get(entry) if isinstance(entry, str) else entry
        path = self.path_of(entry)
        if not path.is_file():
            return "missing"
        return "ok" if file_sha256(path) == entry.get("sha256") else "changed"

    def _damaged_message(self, entry: dict[str, Any], path: Path, status: str, /) -> str:
        """What is wrong with an entry's weights file (``status``: missing or changed) and what to do."""
        root, ident = shlex.quote(str(self.root)), shlex.quote(str(entry["id"]))
        chans = [str(c) for c in entry.get("channels", [])]
        problem = (f"The zoo entry {entry['id']} points to {path}, which is missing" if status == "missing" else
                   f"{path} (zoo entry {entry['id']}) does not match the hash recorded in the zoo index: it was "
                   "changed or corrupted after it was filed")
        back = "Put the file back (from a backup or the zoo's copy elsewhere)" if status == "missing" else \
            "Put the file as it was filed back (from a backup or the zoo's copy elsewhere)"
        refile = (f"labelfree fusion train ... --zoo {root} --object {entry.get('object', 'cyto')}"
                  + (f" --cell-line {shlex.quote(entry['cell_line'])}" if entry.get("cell_line") else "")
                  + f" --channels {' '.join(shlex.quote(c) for c in chans)}" + (" --mode mc" if len(chans) > 1 else ""))
        return (f"{problem}. {back}; or remove the entry (`labelfree zoo remove {root} {ident}`; `labelfree zoo list "
                f"{root}` marks every such entry) and train that model again (`{refile}`), or file its weights "
                f"again with `labelfree zoo add`; or leave its channel(s) {'+'.join(chans)} out of the run "
                "(labelfree fusion --channel with the others; fusion eval|select --channels with the others; "
                "Python: channels=[...]).")

    def _broken_index_todo(self) -> str:
        """What to do about an index that cannot be read: its weights files are still cellpose weights."""
        files = sorted(p.name for p in self.root.glob("*.pt"))
        held = (f"its {len(files)} weights file(s) ({', '.join(files[:3])}{', ...' if len(files) > 3 else ''}) are "
                "cellpose weights, named <object>_<cell line>_<channels>_<date>.pt" if files else
                "it holds no weights file (*.pt)")
        return (f"Put a good copy of {INDEX_NAME} back (from a backup), or start a new zoo: {held}; file each in a new "
                "folder with `labelfree zoo add NEWZOO FILE --object OBJECT --channels NAME...` (there is no rebuild "
                f"command), then give --zoo NEWZOO.")
