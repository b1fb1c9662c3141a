"""What a provenance record holds, beyond the config, to reproduce a run: the software, the command line, and
what the run used besides its settings (:class:`RecordedRun`).

:func:`software` is the ``software`` entry of every provenance record
(:func:`labelfree._config.provenance`): Python, the platform, the versions of the libraries whose
results a run depends on (those installed), the environment settings that choose CPU kernels and
thread counts (those set), and the git commit of the LabelFree source when it runs from a git
checkout. It is cheap: a provenance is made for every frame chunk and tile, so what cannot change
within a process (versions, platform, commit) is looked up once per process; the environment
settings, and torch's kernel level once torch is imported, are read each time.

:func:`command_line` marks the command line of a ``labelfree`` command (:func:`labelfree.cli.main`),
so that the runs it starts record it as ``command`` and ``cwd`` (:func:`current_command`), a batch
run's inputs too: a batch job takes it along to the worker that writes its provenance.

:class:`RecordedRun` is a record given back as a config (``--config out/x_provenance.json``): the
thread count, saved model and zoo models of its run, and how it read its image (its ``input_options``:
channels, channel names, dims, series; its tiles), which :func:`labelfree.run.run_pipeline` and the command line
repeat (:func:`labelfree._config.provenance_of` gives it for a config read from a record), and the
software that ran it, which :func:`labelfree.run.run_pipeline` compares with its own
(:meth:`RecordedRun.software_changes`), and the image it read (:meth:`RecordedRun.input_change`): a file by its size and
SHA-256, a folder of frames or an OME-Zarr image by its files (:mod:`labelfree._input_digest`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as _dt
import functools
import logging
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from labelfree.errors import ConfigError

__all__ = ["software", "git_commit", "git_changes", "version_line", "command_line", "current_command",
           "command_entries", "RecordedRun",
           "LIBRARIES", "ENV_SETTINGS", "COMPARED", "TORCH_COMPARED", "INPUT_OPTIONS", "INPUT_ENTRIES", "input_options",
           "SOFTWARE_RECORDED_SINCE"]

log = logging.getLogger(__name__)

#: libraries whose results a run depends on: name recorded -> (module, distributions that install it)
LIBRARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "numpy": ("numpy", ("numpy",)),
    "scipy": ("scipy", ("scipy",)),
    "scikit-image": ("skimage", ("scikit-image",)),
    "tifffile": ("tifffile", ("tifffile",)),
    "torch": ("torch", ("torch",)),
    "cellpose": ("cellpose", ("cellpose",)),
    "opencv": ("cv2", ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
                       "opencv-contrib-python", "opencv")),
}
#: environment settings that change results (CPU kernels: docs/fusion.md) or thread counts, recorded when set
ENV_SETTINGS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS", "LABELFREE_THREADS")

#: the entries of ``software`` a repeated run compares with its own (:meth:`RecordedRun.software_changes`), for
#: every pipeline: the libraries every pipeline computes with (OpenCV: labels and flows), and the thread settings
#: (read only where the record has no ``threads``: else the run takes the recorded count)
COMPARED = ("numpy", "scipy", "scikit-image", "opencv")
#: ... and for the pipelines that run networks (``spec.torch``): torch's, cellpose's and the CPU kernels torch uses
TORCH_COMPARED = ("torch", "cellpose", "torch_cpu_capability")
#: the settings of ``env`` compared: for every pipeline, and for ``spec.torch`` ones
_ENV_COMPARED = ("OMP_NUM_THREADS", "LABELFREE_THREADS")
_TORCH_ENV_COMPARED = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")

_HEX = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
#: when LabelFree began to record a run's ``software`` (commit fc7fe81): an older record cannot tell its code
SOFTWARE_RECORDED_SINCE = "2026-12-05T00:59:15+00:00"

#: what a run chose about reading and handing over its image, recorded as its ``input_options`` (a batch input's
#: as ``batch.input_options``), by key -> the command line's option: a run repeated from the record reads the
#: image the same way (:meth:`RecordedRun.input_choices`)
INPUT_OPTIONS = {"channels": "--channel", "channel_names": "--channel-names", "dims": "--dims", "series": "--series"}
#: ... and how it cut the image into tiles, recorded as ``tiles`` (``tile``, ``overlap``)
_TILE_OPTIONS = {"tile": "--tile", "tile_overlap": "--tile-overlap"}
#: the entries of a record :meth:`RecordedRun.input_choices` reads: a caller that took them declines them
#: (:func:`labelfree._config.decline_recorded`), so that :func:`labelfree.run.run_pipeline` takes them once
INPUT_ENTRIES = ("input_options", "tiles", "batch")


def software() -> dict[str, Any]:
    """The ``software`` entry of a provenance record.

    Returns
    -------
    dict
        ``python`` (version), ``platform`` (``platform.platform()``), the version of each library of
        :data:`LIBRARIES` that is installed (its distribution's, read without importing it; else an
        imported module's own ``__version__``), ``git_commit`` of the LabelFree source when it
        runs from a git checkout, with ``git_dirty`` (whether tracked files under ``src/`` had uncommitted
        changes, when git can tell: :func:`git_changes`) and, when they had, ``git_changes_sha256`` (of those
        changes), ``env`` (the settings of :data:`ENV_SETTINGS` that are set) and
        ``torch_cpu_capability`` (the CPU kernels torch chose, e.g. ``AVX2``) once torch is imported.
    """
    record = dict(_fixed_software())
    for name, (module, _) in LIBRARIES.items():  # no distribution found (a conda build): an imported module's own
        if name not in record and module in sys.modules:
            version = getattr(sys.modules[module], "__version__", None)
            if isinstance(version, str) and version:
                record[name] = version
    env = {name: os.environ[name] for name in ENV_SETTINGS if name in os.environ}
    if env:
        record["env"] = env
    capability = _torch_cpu_capability()
    if capability:
        record["torch_cpu_capability"] = capability
    return record


@functools.lru_cache(maxsize=1)
def _fixed_software() -> tuple[tuple[str, Any], ...]:
    """What cannot change within a process (looked up once): Python, platform, library versions, git commit."""
    out: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for name, (_, distributions) in LIBRARIES.items():
        version = _build_version(name) or _distribution_version(distributions)
        if version:
            out[name] = version
    root = _source_checkout()
    commit = git_commit(root)
    if commit:
        out["git_commit"] = commit
        changes = git_changes(root)
        if changes is not None:
            out["git_dirty"] = bool(changes)
            if changes:
                out["git_changes_sha256"] = changes
    return tuple(out.items())


def _distribution_version(distributions: Sequence[str], /) -> str | None:
    """The version of the first of ``distributions`` that is installed (read from its metadata, not imported)."""
    from importlib import metadata

    for name in distributions:
        try:
            return metadata.version(name)
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


#: libraries whose version string with its build (torch's "2.13.0+cu130" of PyPI's CUDA wheel, whose metadata says
#: "2.13.0") is in a file of the distribution: name -> (distribution, file); read without importing the library
_BUILD_VERSION_FILES = {"torch": ("torch", "torch/version.py")}
_VERSION_LINE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def _build_version(name: str, /) -> str | None:
    """The version ``name`` gives itself (its ``__version__``, with the build it was made for), read from the file of
    :data:`_BUILD_VERSION_FILES` without importing it; None where there is no such file or it names no version."""
    from importlib import metadata

    if name not in _BUILD_VERSION_FILES:
        return None
    distribution, file = _BUILD_VERSION_FILES[name]
    try:
        text = Path(metadata.distribution(distribution).locate_file(file)).read_text(encoding="utf-8")
    except (metadata.PackageNotFoundError, ValueError, OSError, UnicodeDecodeError):
        return None
    found = _VERSION_LINE.search(text)
    return found.group(1) if found else None


def _torch_cpu_capability() -> str | None:
    """The CPU kernel level torch uses (``ATEN_CPU_CAPABILITY`` or its own choice), when torch is imported."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - a torch without it (old, or half imported) records nothing
        return None


def _source_checkout() -> Path | None:
    """The root of the git checkout LabelFree runs from (``<root>/src/labelfree``), or None when it is
    installed (site-packages inside some other repository is no checkout of LabelFree)."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    if package.parent.name != "src" or not (root / "pyproject.toml").is_file() or not (root / ".git").exists():
        return None
    return root


def git_commit(root: str | os.PathLike[str] | None, /) -> str | None:
    """The commit checked out in the git working tree at ``root``, read from ``.git`` (HEAD, the ref it
    names, packed refs; a ``.git`` file of a linked worktree or submodule is followed); None when there is
    none or it cannot be read. Uncommitted changes are not seen here: :func:`git_changes`."""
    if root is None:
        return None
    try:
        git = Path(root) / ".git"
        if git.is_file():  # "gitdir: <path>" (a linked worktree, a submodule)
            text = git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                return None
            git = (Path(root) / text[len("gitdir:"):].strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if _HEX.fullmatch(head):  # a detached HEAD
            return head
        if not head.startswith("ref:"):
            return None
        ref = head[len("ref:"):].strip()
        common = git
        if (git / "commondir").is_file():  # a linked worktree keeps its branches in the main repository
            common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
        for base in dict.fromkeys((git, common)):
            path = base / ref
            if path.is_file():
                value = path.read_text(encoding="utf-8").strip()
                return value if _HEX.fullmatch(value) else None
        for base in dict.fromkeys((git, common)):
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref and _HEX.fullmatch(parts[0]):
                        return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None


def git_changes(root: str | os.PathLike[str] | None, /) -> str | None:
    """The uncommitted changes to the tracked files under ``src/`` of the git checkout at ``root`` (staged or
    not), as the sha256 of their diff against its commit (``git diff HEAD --binary -- src``): "" when there are
    none; None when there is no checkout or git cannot tell (not installed, the checkout unreadable).

    Two runs with the same commit and the same changes ran the same code; the hash names the changes, it does
    not hold them (``git diff`` in the checkout shows them). Untracked files are not counted.
    """
    import hashlib
    import shutil
    import subprocess

    exe = shutil.which("git") if root is not None else None
    if exe is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # the checkout at root, not another
    try:
        done = subprocess.run([exe, "--no-optional-locks", "-C", os.fspath(root), "diff", "HEAD", "--binary",
                               "--no-color", "--no-ext-diff", "--no-textconv", "--", "src"],
                              capture_output=True, timeout=30, check=False, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return hashlib.sha256(done.stdout).hexdigest() if done.stdout.strip() else ""


def version_line() -> str:
    """What ``labelfree --version`` prints: ``labelfree 0.1.0``, and when LabelFree runs from a git checkout the
    commit of its provenance's ``git_commit`` (``labelfree 0.1.0 (git commit 77e5...)``), with ``+ local
    changes`` when tracked files under ``src/`` have uncommitted changes (its ``git_dirty``)."""
    from labelfree import __version__

    fixed = dict(_fixed_software())
    commit = fixed.get("git_commit")
    if not commit:
        return f"labelfree {__version__}"
    return f"labelfree {__version__} (git commit {commit}{' + local changes' if fixed.get('git_dirty') else ''})"


#: the ``command``/``cwd`` entries of the labelfree command running in this context (none outside one)
_COMMAND: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("labelfree_command", default=None)


def command_entries(argv: Sequence[Any], /) -> dict[str, str]:
    """``command`` (``labelfree`` and ``argv``, quoted for a POSIX shell) and ``cwd`` (the folder its relative
    paths start from): how the provenance of a command-line run says how to run it again."""
    import shlex

    return {"command": shlex.join(["labelfree", *map(str, argv)]), "cwd": os.getcwd()}


@contextlib.contextmanager
def command_line(argv: Sequence[Any], /) -> Iterator[dict[str, str]]:
    """Mark the block as the run of the command ``labelfree <argv>``: :func:`current_command` gives its entries."""
    entries = command_entries(argv)
    token = _COMMAND.set(entries)
    try:
        yield entries
    finally:
        _COMMAND.reset(token)


def current_command() -> dict[str, str]:
    """The ``command`` and ``cwd`` of the labelfree command running (:func:`command_line`); empty outside one
    (a run from Python, Fiji or a worker process)."""
    entries = _COMMAND.get()
    return dict(entries) if entries else {}


def _plain(value: Any, /) -> Any:
    """A choice as a record holds it (JSON): a tuple as a list, a numpy integer as an int."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def input_options(**chosen: Any) -> dict[str, Any]:
    """The provenance entry ``input_options`` of a run: the choices of :data:`INPUT_OPTIONS` it was given
    (``channels``, ``channel_names``, ``dims``, ``series``; None: not given, left out), as JSON values."""
    unknown = sorted(set(chosen) - set(INPUT_OPTIONS))
    if unknown:
        raise TypeError(f"input_options takes {', '.join(INPUT_OPTIONS)}; got {', '.join(unknown)}")
    return {key: _plain(value) for key, value in chosen.items() if value is not None}


def _shown(key: str, value: Any, /) -> str:
    """A choice as its command-line option: ``--channel nuc,mem``; ``no --channel`` for none."""
    flag = {**INPUT_OPTIONS, **_TILE_OPTIONS}[key]
    if value is None:
        return f"no {flag}"
    return f"{flag} {','.join(map(str, value)) if isinstance(value, list) else value}"


def _local_changes(software: dict[str, Any], /) -> str | None:
    """The uncommitted changes to LabelFree's source a ``software`` entry records, as :meth:`RecordedRun.
    software_changes` names them: ``yes (sha256 0123456789ab)``, ``no``, None when it does not say."""
    dirty = software.get("git_dirty")
    if dirty is True:
        sha = software.get("git_changes_sha256")
        return f"yes (sha256 {str(sha)[:12]})" if sha else "yes"
    return "no" if dirty is False else None


@dataclasses.dataclass(frozen=True, eq=False)
class RecordedRun:
    """A run's provenance record given as a config: what that run used besides its settings.

    :func:`labelfree.run.run_pipeline` (every entry point) repeats it: the ``threads`` when none are
    given, the saved model a Cutter run applied (``model_file``, checked by ``model_sha256``) when no
    model is given, the zoo models of a Fusion run (``models``). :func:`labelfree._config.provenance_of`
    gives it for a config read from a record.

    Attributes
    ----------
    record : dict
        The provenance record (``<stem>_provenance.json``, ``labels.attrs["labelfree"]``).
    file : str, optional
        The file it was read from (None: given as a dict).
    inputs_taken : bool
        The caller took the run's input choices already (:meth:`input_choices`, :meth:`older_channels`): they
        give nothing more (a command line that read the image as the run did hands the run on so).
    """

    record: dict[str, Any]
    file: str | None = None
    inputs_taken: bool = False

    @property
    def source(self) -> str:
        """The record in messages: ``"Config file out/x_provenance.json"``."""
        return f"Config file {self.file}" if self.file else "The provenance record given as config="

    @property
    def threads(self) -> int | None:
        """The thread count the run used (None: not recorded); a count that is none is a ConfigError."""
        value = self.record.get("threads")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{self.source} holds threads={value!r}; a thread count is a whole number >= 1. Give "
                              "the count the run used, or remove threads to use the default count.")
        return value

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        """The zoo models (or weights files) a Fusion run used, channel -> ``{"id", "file", "sha256"}``."""
        models = self.record.get("models")
        if not isinstance(models, dict):
            return {}
        return {str(c): dict(m) for c, m in models.items() if isinstance(m, dict) and (m.get("id") or m.get("file"))}

    @property
    def model_file(self) -> str | None:
        """The saved model the run applied (a Cutter run given ``--model-file``), as recorded; None for a run
        that trained its model (and perhaps saved it there: ``training_steps`` above 0)."""
        model_file = self.record.get("model_file")
        if not isinstance(model_file, str) or not model_file or self.record.get("training_steps"):
            return None
        return model_file

    @property
    def model_sha256(self) -> str:
        """The recorded sha256 of :attr:`model_file` ("" when none)."""
        return str(self.record.get("model_sha256") or "")

    @property
    def input_options(self) -> dict[str, Any]:
        """What the run chose about reading its image (:data:`INPUT_OPTIONS`): those it was given, from the
        record's ``input_options``, else a batch input's ``batch.input_options``; empty for an older record."""
        options = None if self.inputs_taken else self.record.get("input_options")
        if not isinstance(options, dict) and not self.inputs_taken:
            batch = self.record.get("batch")
            options = batch.get("input_options") if isinstance(batch, dict) else None
        if not isinstance(options, dict):
            return {}
        return {key: _plain(options[key]) for key in INPUT_OPTIONS if options.get(key) is not None}

    def older_channels(self, names: Sequence[str], /) -> list[str] | None:
        """The channels a run recorded before ``input_options`` were (its ``channels``: those it segmented), for
        an image with the channels ``names``: those, when the record has no ``input_options`` and they are some
        of ``names`` (not all); else None. Those taken are logged (INFO)."""
        channels = self.record.get("channels")
        batch = self.record.get("batch")
        if self.inputs_taken or "input_options" in self.record or (isinstance(batch, dict) and "input_options"
                                                                    in batch) or not isinstance(channels, list):
            return None
        names = [str(n) for n in names]
        if not channels or not all(isinstance(c, str) and c in names for c in channels) \
                or set(channels) == set(names):
            return None
        log.info("%s: handing over the channels %s, as its run did (the record's channels)", self.source,
                 ",".join(channels))
        return list(channels)

    @property
    def tile_options(self) -> dict[str, int]:
        """The tiles the run cut the image into (its ``tiles``): ``tile`` and ``tile_overlap``; empty for a run of
        the whole image."""
        tiles = self.record.get("tiles")
        if not isinstance(tiles, dict) or not isinstance(tiles.get("tile"), int):
            return {}
        out = {"tile": tiles["tile"]}
        if isinstance(tiles.get("overlap"), int):
            out["tile_overlap"] = tiles["overlap"]
        return out

    def input_choices(self, given: dict[str, Any], /, *, tiles: bool = False) -> dict[str, Any]:
        """``given`` (the run's choices about its input, by the keys of :data:`INPUT_OPTIONS`, ``tile`` and
        ``tile_overlap``; None: not given) with what the recorded run chose for those not given, so that a run
        repeated from the record reads its image as that run did.

        A choice given that differs from the recorded one wins; one warning names each (``--channel 0 given;
        the run chose --channel nuc,mem``). Those taken from the record are logged (INFO).

        Parameters
        ----------
        given : dict
            This run's choices; only its keys are looked at (a caller that takes the channels alone gives
            ``{"channels": ...}``).
        tiles : bool
            The pipeline can run in tiles: the recorded ``tile`` (and its overlap, unless one is given) is
            taken when none is given.

        Returns
        -------
        dict
            ``given`` completed.
        """
        out = dict(given)
        if self.inputs_taken:
            return out
        recorded: dict[str, Any] = dict(self.input_options)
        if tiles:
            recorded.update(self.tile_options)
        # the choices a run left at their defaults are known where the record has its input_options (a run of this
        # version: a whole-image run's has no tiles), not for an older record or one whose choices were taken
        batch = self.record.get("batch")
        known = [*INPUT_OPTIONS, *(("tile",) if tiles else ())] if "input_options" in self.record or (
            isinstance(batch, dict) and "input_options" in batch) else []
        taken, differ = [], []
        for key in [k for k in dict.fromkeys([*recorded, *known]) if k in given]:
            before, now = recorded.get(key), _plain(out.get(key))
            if now is None and before is not None:
                out[key] = before
                taken.append(_shown(key, before))
            elif now is not None and now != before:
                differ.append(f"{_shown(key, now)} given; the run chose {_shown(key, before)}")
        if taken:
            log.info("%s: reading the image as its run did: %s", self.source, ", ".join(taken))
        if differ:
            log.warning("%s is the provenance of a run that read its image otherwise: %s. This run uses the "
                        "options given, so its labels may differ from that run's; leave them out to repeat it.",
                        self.source, "; ".join(differ))
        return out

    @property
    def recorded_image(self) -> dict[str, Any]:
        """The image the run read, as its record's ``inputs`` name it: a file by its ``path`` and ``sha256`` (and
        ``size``, bytes, where recorded), a folder of frames or an OME-Zarr image by its ``path`` and its files'
        digest (``files_sha256``: :func:`labelfree._input_digest.folder_record`; a folder of frames recorded before
        it, by its ``frames_sha256``); empty for a record that names none so (one kept in the labels' attrs, an
        OME-Zarr image recorded before, by its path alone) or whose input choices a caller took
        (:attr:`inputs_taken`: it checked its image)."""
        inputs = None if self.inputs_taken else self.record.get("inputs")
        image = inputs.get("image") if isinstance(inputs, dict) else None
        if not isinstance(image, dict) or not isinstance(image.get("path"), str):
            return {}
        if not any(isinstance(image.get(key), str) and image[key]
                   for key in ("sha256", "files_sha256", "frames_sha256")):
            return {}
        return dict(image)

    def input_change(self, path: str | os.PathLike[str], /, *,
                     sha256: str | Callable[[], str | None] | None = None) -> str | None:
        """What differs between the image ``path`` a run reads and the one the recorded run read
        (:attr:`recorded_image`), as a warning says it; None when they hold the same bytes (under any name), or
        either is not known (no recorded image, no ``path``, no ``sha256`` for a file).

        A file is compared by its size (where recorded), then by its SHA-256; a folder of frames or an OME-Zarr
        image by its files' names and sizes, then their contents (:func:`labelfree._input_digest.folder_changes`,
        which names the files added, missing or changed). A file recorded and a folder read (or the other way)
        differ.

        Parameters
        ----------
        path : path-like
            The image file (or folder) this run reads.
        sha256 : str or callable, optional
            The file's SHA-256 (hex), or a function that gives it (called only when the sizes cannot tell: a
            recorded ``size`` that differs from the file's says it without reading the file); not used for a
            folder.

        Returns
        -------
        str or None
        """
        then = self.recorded_image
        now = Path(path).expanduser().absolute()
        if not then or not now.exists():
            return None
        what = self._folder_change(then, now) if not then.get("sha256") else (
            "a file then, a folder now" if now.is_dir() else self._file_change(then, now, sha256))
        if not what:
            return None
        before = Path(then["path"])
        same = before == now
        with contextlib.suppress(OSError):
            same = same or (before.exists() and before.samefile(now))
        if same:
            return (f"{self.source} is the provenance of a run of {now}, which has changed since that run read it "
                    f"({what}): its settings are applied to the image as it is now, so the labels may differ from "
                    "that run's.")
        return (f"{self.source} is the provenance of a run of another image: that run read {before}, this run "
                f"reads {now} ({what}). Its settings are applied to this image, so the labels are not that run's; "
                "give that image to repeat them.")

    @staticmethod
    def _file_change(then: dict[str, Any], now: Path,
                     sha256: str | Callable[[], str | None] | None, /) -> str | None:
        """:meth:`input_change`'s words for a recorded file: its size first, then its SHA-256."""
        size = then.get("size")
        if isinstance(size, int) and not isinstance(size, bool) and size != now.stat().st_size:
            return f"size then {size} bytes, now {now.stat().st_size}"
        digest = sha256() if callable(sha256) else sha256
        if not digest or digest == then["sha256"]:
            return None
        return f"sha256 then {then['sha256'][:12]}, now {digest[:12]}"

    @staticmethod
    def _folder_change(then: dict[str, Any], now: Path, /) -> str | None:
        """:meth:`input_change`'s words for a recorded folder (of frames, an OME-Zarr image): the files that
        differ, or a file read now."""
        from labelfree._input_digest import folder_changes, frames_changes

        if not now.is_dir():
            return "a folder then, a file now"
        try:
            if then.get("files_sha256"):
                return folder_changes(then, now)
            return frames_changes(then, now)
        except OSError as exc:  # a file of it cannot be read: the run that reads it says so
            log.debug("cannot compare %s with its record: %s", now, exc)
            return None

    def warn_input(self, path: str | os.PathLike[str], /, *,
                   sha256: str | Callable[[], str | None] | None = None) -> bool:
        """Log one warning when the image file ``path`` is not the one the recorded run read
        (:meth:`input_change`); whether one was logged."""
        said = self.input_change(path, sha256=sha256)
        if said:
            log.warning("%s", said)
        return bool(said)

    def path(self, value: str | Path, /) -> Path:
        """A path the record names: a relative one from the folder the run started in (its ``cwd``) when it
        is there, else from this one."""
        path = Path(value).expanduser()
        cwd = self.record.get("cwd")
        if not path.is_absolute() and isinstance(cwd, str) and (Path(cwd) / path).exists():
            return Path(cwd) / path
        return path

    def option(self, flag: str, /) -> str | None:
        """The value the run's command line gave ``flag`` (``"--zoo"``), None when it gave none (or was run
        from Python)."""
        import shlex

        command = self.record.get("command")
        if not isinstance(command, str):
            return None
        try:
            words = shlex.split(command)
        except ValueError:
            return None
        found = None
        for word, after in zip(words, [*words[1:], None]):
            if word == flag and after is not None:
                found = after
            elif word.startswith(f"{flag}="):
                found = word.partition("=")[2]
        return found or None

    def software_changes(self, *, torch: bool, threads: int | None = None, now: dict[str, Any] | None = None,
                         version: str | None = None) -> list[str]:
        """What differs between the software of the recorded run and this one, as ``name: recorded -> now``.

        Parameters
        ----------
        torch : bool
            The pipeline runs networks (``spec.torch``): torch's and cellpose's versions and the CPU kernels
            torch uses (``torch_cpu_capability``, ``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``) count too.
        threads : int, optional
            The thread count this run uses, compared with the recorded ``threads``; the settings that choose a
            count (``OMP_NUM_THREADS``, ``LABELFREE_THREADS``) count only where the record has no ``threads``.
        now : dict, optional
            This run's software (default: :func:`software`).
        version : str, optional
            This LabelFree's version (default: ``labelfree.__version__``).

        Returns
        -------
        list of str
            Empty when the record has no ``software`` (an older record) or all of these are equal: LabelFree's
            ``version`` and ``git_commit``, its uncommitted changes (``git_dirty``, ``git_changes_sha256``: where
            either side had some, ``local changes: yes (sha256 0123456789ab) -> no``), :data:`COMPARED` (and
            with ``torch`` :data:`TORCH_COMPARED`), and those
            settings of ``env``. An entry one side lacks reads ``none``. Python's version and the platform are
            not compared: they name the machine; the libraries and settings above make the numbers.
        """
        recorded = self.record.get("software")
        if not isinstance(recorded, dict):
            return []
        if now is None:
            now = software()
        if version is None:
            from labelfree import __version__ as version
        out = []

        def compare(name: str, before: Any, after: Any, /) -> None:
            if before != after:
                out.append(f"{name}: {'none' if before is None else before} -> {'none' if after is None else after}")

        compare("LabelFree", self.record.get("version"), version)
        commits = [recorded.get("git_commit"), now.get("git_commit")]
        if any(commits):
            compare("git commit", *(str(c)[:12] if c else None for c in commits))
        if recorded.get("git_dirty") is True or now.get("git_dirty") is True:  # the code besides its commit
            compare("local changes", *map(_local_changes, (recorded, now)))
        for name in (*COMPARED, *(TORCH_COMPARED if torch else ())):
            compare(name, recorded.get(name), now.get(name))
        names = [*(_ENV_COMPARED if self.record.get("threads") is None else ()),
                 *(_TORCH_ENV_COMPARED if torch else ())]
        env_before, env_after = recorded.get("env"), now.get("env")
        env_before = env_before if isinstance(env_before, dict) else {}
        env_after = env_after if isinstance(env_after, dict) else {}
        for name in names:
            compare(name, env_before.get(name), env_after.get(name))
        recorded_threads = self.record.get("threads")
        if threads is not None and isinstance(recorded_threads, int) and not isinstance(recorded_threads, bool):
            compare("threads", recorded_threads, threads)
        return out

    def warn_software(self, *, torch: bool, threads: int | None = None) -> None:
        """Log one warning naming what differs between the recorded run's software and this one
        (:meth:`software_changes`); nothing when none does. A record without ``git_dirty`` (written before it
        existed) of this checkout's ``git_commit`` adds that it cannot tell local edits. A record created before
        LabelFree recorded a run's software (:data:`SOFTWARE_RECORDED_SINCE`; its code changed under the same version
        number) says that this run cannot tell its software, and how to repeat it (:meth:`unrecorded_software`)."""
        recorded = self.record.get("software")
        if not isinstance(recorded, dict):
            said = self.unrecorded_software()
            if said:
                log.warning("%s", said)
            return
        now = software()
        changes = self.software_changes(torch=torch, threads=threads, now=now)
        dirty = ""
        if isinstance(recorded, dict) and recorded.get("git_dirty") is True \
                and any(c.startswith("local changes:") for c in changes):
            dirty = (" The recorded run's LabelFree had uncommitted changes to its source (its software's git_dirty): "
                     "no commit holds that code, so its commit alone does not repeat it; the changes (git diff in "
                     "its checkout) do, and their git_changes_sha256 tells them.")
        elif isinstance(recorded, dict) and "git_dirty" not in recorded and now.get("git_commit") \
                and recorded.get("git_commit") == now.get("git_commit"):
            dirty = (" The record was written before git_dirty was recorded, so it cannot tell whether its run's "
                     "checkout of this git commit had local edits to its source.")
        if changes:
            log.warning("%s is the provenance of a run with other software than this one (recorded -> now): %s. "
                        "The results may differ from that run's; the same versions and settings repeat them.%s",
                        self.source, ", ".join(changes), dirty)

    def unrecorded_software(self) -> str | None:
        """What a warning says of a record without ``software`` created before LabelFree recorded it
        (:data:`SOFTWARE_RECORDED_SINCE`); None for one that has it, or was created since (its software left out on
        purpose), or whose ``created`` is no time."""
        created = self.record.get("created")
        if isinstance(self.record.get("software"), dict) or not isinstance(created, str):
            return None
        try:
            when = _dt.datetime.fromisoformat(created)
        except ValueError:
            return None
        since = _dt.datetime.fromisoformat(SOFTWARE_RECORDED_SINCE)
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        if when >= since:
            return None
        return (f"{self.source} is the provenance of a run whose software was not recorded (created {created} by "
                f"LabelFree {self.record.get('version')}, before LabelFree recorded a run's git commit and library "
                f"versions, on {SOFTWARE_RECORDED_SINCE[:10]}): this run cannot tell whether it runs that run's code, "
                "which changed under the same version number, so its labels may differ from that run's. To repeat "
                f"them, run the LabelFree of that run's date (its commit: git log -1 --until={created} in a "
                "LabelFree checkout); this run's own record holds its software.")

    def without(self, *entries: str) -> "RecordedRun":
        """This record less ``entries`` (``"models"``: a run that takes the zoo's pick); one of
        :data:`INPUT_ENTRIES` among them marks it :attr:`inputs_taken` (a caller took the run's input choices)."""
        taken = self.inputs_taken or any(e in INPUT_ENTRIES for e in entries)
        return RecordedRun({k: v for k, v in self.record.items() if k not in entries}, file=self.file,
                           inputs_taken=taken)

    def notes(self) -> list[str]:
        """What a reader that takes the settings alone leaves out: the saved model (Cutter) or the models
        (Fusion) the run used, each with how to give it."""
        out = []
        if self.model_file:
            sha = self.model_sha256[:12]
            out.append(
                f"{self.source} is the provenance of a run that applied the saved model {self.model_file}"
                f"{f' (sha256 {sha})' if sha else ''}; read here as a config it gives settings, not files: this "
                "run applies the model given to it, else trains a new one on the image. To repeat that run, give "
                f"that model (--model-file {self.model_file}; macros: model_file=...; batch: --input "
                "model_file=...; Python: segment(..., model=...)), or give the record to the command line's "
                "--config or to labelfree.run.run_pipeline(config=...), which apply it.")
        if self.models:
            named = ", ".join(f"{c} {m.get('id') or m.get('file')}" for c, m in self.models.items())
            out.append(
                f"{self.source} is the provenance of a run that used the models {named}; read here as a config it "
                "gives settings, not models: this run picks each channel's model from the zoo it is given, which "
                "may now pick others. To repeat that run with its models, give the record to the command line's "
                "--config or to labelfree.run.run_pipeline(config=...), which pin them, or give them as models= "
                "(Python: segment(..., models={channel: ModelZoo(zoo).path_of(id)})).")
        return out
