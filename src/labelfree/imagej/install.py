"""``labelfree fiji install FIJI_DIR``: menu scripts, Python-mode environment and launch mode.

What is written (each file atomically):

* ``FIJI_DIR/scripts/Plugins/LabelFree/LabelFree_<Command>.py``: the SciJava Python
  scripts, rendered from the installed pipelines' configs (menu Plugins › LabelFree);
* ``FIJI_DIR/config/environment.yml``: Fiji's Python-mode environment (read by Edit ›
  Options › Python..., built by its "Build Python environment" button), from the
  repository's ``environment.yml``, rewritten in the layout Fiji's options dialog
  parses (conda packages, then ``pip`` and the ``pip:`` list; no inline comments),
  with LabelFree itself as a pip requirement (an install without the repository, from a wheel
  or an index, has no ``environment.yml``: it writes one made from its own metadata, see
  :func:`installed_environment_yaml`); an existing file is kept as ``.bak`` (a later
  install that replaces a different file keeps it as ``.bak.1``, ``.bak.2``, ...: no backup is
  ever overwritten);
* ``FIJI_DIR/config/jaunch/fiji.cfg``: ``launch-mode=PYTHON`` (what "Launch in Python
  mode" stores), only for a Fiji with the Jaunch launcher (``config/jaunch/`` exists);
* ``FIJI_DIR/config/labelfree-install.json``: the record of what was written, and of what the
  environment file and launch mode were before the first install, which
  ``labelfree fiji uninstall FIJI_DIR`` (:func:`uninstall_fiji`) reads to put the Fiji back. An
  install over an earlier one removes the earlier scripts it no longer writes (a renamed command).
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path

from labelfree.errors import ConfigError, FijiError

__all__ = ["install_fiji", "uninstall_fiji", "find_environment_file", "fiji_environment_yaml",
           "installed_environment_yaml", "check_fiji_dir"]

#: the record of an install, relative to the Fiji folder
RECORD = "config/labelfree-install.json"
_SCRIPTS = "scripts/Plugins/LabelFree"
_ENVIRONMENT = "config/environment.yml"
_LAUNCH = "config/jaunch/fiji.cfg"

log = logging.getLogger(__name__)


def _write_atomic(path: Path, text: str) -> Path:
    from labelfree.io.atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, text)


def check_fiji_dir(fiji: str | Path, /) -> Path:
    """Return the Fiji folder, or raise :class:`FijiError` when it is not a Fiji installation."""
    root = Path(fiji).expanduser()
    if root.exists() and not root.is_dir():
        raise FijiError(f"{root} is a file, not the Fiji folder. Give the Fiji.app folder (the one holding "
                        "jars/, plugins/ and the Fiji launcher), e.g. ~/Fiji.app.")
    if not root.is_dir():
        raise FijiError(f"{root} does not exist. Give the Fiji folder (Fiji.app), e.g. ~/Fiji.app.")
    jars = root / "jars"
    if not jars.is_dir() or not (any(jars.glob("ij-*.jar")) or any(jars.glob("ij.jar"))):
        raise FijiError(
            f"{root} is not a Fiji installation: it has no jars/ij-*.jar. Give the Fiji.app folder "
            "(the one holding jars/, plugins/ and the Fiji launcher)."
        )
    return root.resolve()


def _repo_root() -> Path | None:
    import labelfree

    root = Path(labelfree.__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def find_environment_file() -> Path:
    """The repository's environment.yml (or one shipped in the package data)."""
    import labelfree

    candidates = [Path(labelfree.__file__).parent / "data" / "environment.yml"]
    if _repo_root() is not None:
        candidates.insert(0, _repo_root() / "environment.yml")
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "No environment.yml found (looked in " + ", ".join(map(str, candidates)) + "). "
        "Pass env_file=... (CLI: --env-file) with the environment to install."
    )


def _own_requirement(*, extras: str = "") -> str:
    """The pip requirement of this LabelFree: ``-e <checkout>`` for a repository, else where pip took it from
    (``direct_url.json``: a local wheel or folder, a git commit), else ``labelfree[extras]==<version>``."""
    import importlib.metadata
    import json
    from urllib.parse import unquote, urlparse

    import labelfree

    repo = _repo_root()
    if repo is not None:
        return f"-e {repo}"
    name = f"labelfree[{extras}]" if extras else "labelfree"
    try:
        origin = json.loads(importlib.metadata.distribution("labelfree").read_text("direct_url.json") or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        origin = {}
    url = str(origin.get("url", ""))
    vcs = origin.get("vcs_info") or {}
    if url.startswith("file:") and not Path(unquote(urlparse(url).path)).exists():
        url = ""  # a wheel or folder that is gone since: ask the index for this version
    if url and vcs.get("vcs") and vcs.get("commit_id"):
        return f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    if url and (origin.get("dir_info") or {}).get("editable"):
        return f"-e {unquote(urlparse(url).path)}" + (f"[{extras}]" if extras else "")
    if url:
        return f"{name} @ {url}"
    return f"{name}=={labelfree.__version__}"


def _environment_text(name: str, channels: list[str], conda: list[str], pip: list[str]) -> str:
    lines = [f"name: {name}", "channels:"] + [f"  - {c}" for c in channels]
    lines += ["dependencies:"] + [f"  - {c}" for c in conda] + ["  - pip", "  - pip:"] + [f"    - {p}" for p in pip]
    return "\n".join(lines) + "\n"


def fiji_environment_yaml(env_file: str | Path, /) -> str:
    """environment.yml text in the layout Fiji's Python options parse, LabelFree as a pip requirement."""
    import yaml

    try:
        spec = yaml.safe_load(Path(env_file).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read {env_file}: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("dependencies"), list):
        raise ConfigError(f"{env_file} has no 'dependencies:' list; it is not a conda environment file.")
    conda, pip = [], []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(str(p) for p in dep.get("pip", []))
        elif str(dep).strip() != "pip":
            conda.append(str(dep).strip())
    repo = _repo_root()
    own = _own_requirement()
    pip = [own if p.strip() in ("-e .", ".", "labelfree") else p for p in pip]
    if not any(p.startswith(("-e ", "labelfree")) and ("labelfree" in p or str(repo) in p) for p in pip):
        pip.append(own)
    return _environment_text(str(spec.get("name", "labelfree")), list(spec.get("channels", ["conda-forge"])),
                             conda, pip)


#: what the installed environment adds to LabelFree's own requirements (as environment.yml does)
_JAVA_PIN = "openjdk=21"


def installed_environment_yaml() -> str:
    """Fiji's Python-mode environment for a LabelFree installed without its repository (a wheel, an index).

    The same environment as the repository's ``environment.yml``, said through this package's own
    metadata: the running Python's version and Java 21 from conda-forge, the CPU build of
    torch 2.13.0 from PyTorch's CPU index, then LabelFree with every extra (``labelfree[all]``),
    from where pip took this copy when that is known, else at this version.
    """
    from labelfree._deps import TORCH_CPU_INDEX, TORCH_PIN

    python = ".".join(platform.python_version_tuple()[:2])
    pip = [f"--extra-index-url {TORCH_CPU_INDEX}", TORCH_PIN, _own_requirement(extras="all")]
    return _environment_text("labelfree", ["conda-forge"], [f"python={python}", _JAVA_PIN], pip)


def environment_yaml(env_file: str | Path | None = None, /) -> str:
    """The text ``labelfree fiji install`` writes to ``config/environment.yml``: ``env_file`` rewritten for
    Fiji, else the repository's ``environment.yml``, else :func:`installed_environment_yaml`."""
    if env_file is not None:
        return fiji_environment_yaml(env_file)
    try:
        found = find_environment_file()
    except ConfigError:  # no repository and no packaged file: LabelFree installed from a wheel or an index
        return installed_environment_yaml()
    return fiji_environment_yaml(found)


def _backup(path: Path, new_text: str) -> tuple[Path | None, bool]:
    """Keep ``path`` before it is replaced by ``new_text``; never overwrite an earlier backup.

    The first backup is ``<name>.bak``; when it exists (the user's own file, kept by an earlier
    install), the file is kept as ``<name>.bak.1``, ``.bak.2``, ... A file equal to the new text
    or to an existing backup needs none. Returns the backup that holds the file as it was (None:
    no file, or one equal to the new text) and whether it was written now.
    """
    if not path.is_file():
        return None, False
    old = path.read_text(encoding="utf-8")
    if old == new_text:
        return None, False
    first = path.with_name(path.name + ".bak")
    numbered = sorted(path.parent.glob(path.name + ".bak.*"))
    for existing in [first, *numbered]:
        if existing.is_file() and existing.read_text(encoding="utf-8") == old:
            return existing, False
    target, n = first, 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bak.{n}")
    return _write_atomic(target, old), True


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_sha(path: Path) -> str | None:
    """SHA-256 of a text file's content; None when it is absent or unreadable as text."""
    try:
        return _sha(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _read_record(root: Path) -> dict | None:
    """The record of the last install into ``root`` (None: none, or one this version cannot read)."""
    import json

    try:
        data = json.loads((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("scripts"), dict) else None


def _launch_line(cfg: Path) -> str | None:
    """The last ``launch-mode=`` line of Jaunch's fiji.cfg (None: no such line or no file)."""
    lines = cfg.read_text(encoding="utf-8").splitlines() if cfg.is_file() else []
    found = [ln.strip() for ln in lines if ln.strip().startswith("launch-mode=")]
    return found[-1] if found else None


def _set_launch_mode(cfg: Path) -> Path:
    lines = cfg.read_text(encoding="utf-8").splitlines() if cfg.is_file() else []
    lines = [ln for ln in lines if not ln.strip().startswith("launch-mode=")] + ["launch-mode=PYTHON"]
    return _write_atomic(cfg, "\n".join(lines) + "\n")


def install_fiji(
    fiji: str | Path, /, *, env_file: str | Path | None = None, python_mode: bool = True
) -> dict[str, list[Path]]:
    """Install the LabelFree menu scripts and Python-mode environment into a Fiji.

    Parameters
    ----------
    fiji : path
        The Fiji.app folder.
    env_file : path, optional
        Conda environment file (default: the repository's environment.yml; without a repository,
        one made from the installed package, :func:`installed_environment_yaml`).
    python_mode : bool
        Also switch the Jaunch launcher to Python mode (``launch-mode=PYTHON``).

    Returns
    -------
    dict
        ``scripts``, ``environment`` and ``config`` -> lists of the files written.

    Raises
    ------
    FijiError
        ``fiji`` is not a Fiji installation.
    ConfigError
        ``env_file`` cannot be read or is no conda environment file (nothing is written then).
    """
    import json

    import labelfree
    from labelfree.imagej.scripts import write_scripts

    root = check_fiji_dir(fiji)
    env_text = environment_yaml(env_file)  # before anything is written: a bad env_file leaves the Fiji as it was
    earlier = _read_record(root)
    written: dict[str, list[Path]] = {"scripts": [], "environment": [], "config": []}
    written["scripts"] = write_scripts(root / _SCRIPTS)
    scripts = {path.relative_to(root).as_posix(): _file_sha(path) for path in written["scripts"]}
    for name, sha in (earlier or {}).get("scripts", {}).items():  # an earlier install's scripts not written now
        old = root / name
        if name not in scripts and Path(name).parent.as_posix() == _SCRIPTS and _file_sha(old) == sha:
            old.unlink()
            log.info("removed %s, written by an earlier install and no longer a LabelFree command", old)
    env_path = root / _ENVIRONMENT
    before_env = (earlier or {}).get("environment")
    if not before_env or _file_sha(env_path) != before_env.get("sha256"):  # not the file the last install wrote
        before_env = None
    backup, new_backup = _backup(env_path, env_text)
    if backup is not None:
        log.info("kept the previous %s as %s", env_path.name, backup)
        if new_backup:
            written["environment"].append(backup)
    written["environment"].append(_write_atomic(env_path, env_text))
    # what uninstall puts back: the file as it was before the first of consecutive installs
    environment = {"sha256": _sha(env_text), "before": before_env["before"] if before_env else
                   (None if backup is None else backup.relative_to(root).as_posix())}
    launch = (earlier or {}).get("launch_mode")
    jaunch = root / "config" / "jaunch"
    if python_mode and jaunch.is_dir():
        cfg = root / _LAUNCH
        if not launch or _launch_line(cfg) != "launch-mode=PYTHON":
            launch = {"before": _launch_line(cfg), "file_created": not cfg.is_file()}
        written["config"].append(_set_launch_mode(cfg))
    elif python_mode:
        log.warning("%s has no config/jaunch folder (an older Fiji launcher), so LabelFree could not switch it to "
                    "Python mode: in Fiji, switch on Edit > Options > Python... > 'Launch in Python mode' by hand "
                    "and restart Fiji.", root)
    record = {"labelfree": labelfree.__version__, "scripts": scripts, "environment": environment,
              "launch_mode": launch}
    written["config"].append(_write_atomic(root / RECORD, json.dumps(record, indent=2) + "\n"))
    return written


def uninstall_fiji(fiji: str | Path, /) -> dict[str, list[Path]]:
    """Remove what :func:`install_fiji` wrote into a Fiji, and put back what it replaced.

    From the install's record (``config/labelfree-install.json``): the LabelFree scripts are
    removed (and their folder, once empty); ``config/environment.yml`` becomes again the file it
    was before the first install (from its ``.bak``), or is removed when there was none; the
    launcher's launch mode is set back. A file changed since the install (a script or the
    environment edited by hand, the launch mode switched in Fiji) is left as it is and listed under
    ``kept``; backups are never removed. An install by a LabelFree that kept no record loses
    its scripts (LabelFree's by their names); its environment and launch mode are left as they
    are (listed under ``kept``).

    Returns
    -------
    dict
        ``removed``, ``restored`` and ``kept`` -> lists of paths.

    Raises
    ------
    FijiError
        ``fiji`` is not a Fiji installation, or holds no LabelFree install.
    """
    from labelfree.imagej.scripts import script_files

    root = check_fiji_dir(fiji)
    record = _read_record(root)
    done: dict[str, list[Path]] = {"removed": [], "restored": [], "kept": []}
    folder = root / _SCRIPTS
    if record is None:
        names = [folder / name for name in script_files().values() if (folder / name).is_file()]
        if not names:
            raise FijiError(f"{root} holds no LabelFree install (no {RECORD}, no scripts in {_SCRIPTS}); nothing to "
                            "remove. Give the Fiji.app folder LabelFree was installed into.")
        for path in names:  # an install from before the record: its scripts are LabelFree's by name
            path.unlink()
            done["removed"].append(path)
        done["kept"] += [p for p in (root / _ENVIRONMENT, root / _LAUNCH) if p.is_file()]
    else:
        for name, sha in record["scripts"].items():
            path = root / name
            if Path(name).parent.as_posix() != _SCRIPTS or not path.is_file():
                continue
            if _file_sha(path) == sha:
                path.unlink()
                done["removed"].append(path)
            else:
                done["kept"].append(path)
        _restore_environment(root, record.get("environment"), done)
        _restore_launch_mode(root, record.get("launch_mode"), done)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if (root / RECORD).is_file():
        (root / RECORD).unlink()
        done["removed"].append(root / RECORD)
    return done


def _restore_environment(root: Path, environment: dict | None, done: dict[str, list[Path]]) -> None:
    """Put back ``config/environment.yml`` as it was before the install, unless it changed since."""
    path = root / _ENVIRONMENT
    if not isinstance(environment, dict) or not path.is_file():
        return
    if _file_sha(path) != environment.get("sha256"):  # edited or replaced since: the user's now
        done["kept"].append(path)
        return
    before = environment.get("before")
    if before is None:  # there was none
        path.unlink()
        done["removed"].append(path)
        return
    source = root / str(before)
    if Path(str(before)).parent.as_posix() != "config" or not source.is_file():
        log.warning("the environment file %s was kept by the install as %s, which is gone: %s is left as it is",
                    path.name, source, path)
        done["kept"].append(path)
        return
    _write_atomic(path, source.read_text(encoding="utf-8"))
    done["restored"].append(path)


def _restore_launch_mode(root: Path, launch: dict | None, done: dict[str, list[Path]]) -> None:
    """Set Jaunch's launch mode back, unless it was switched since the install."""
    cfg = root / _LAUNCH
    if not isinstance(launch, dict) or not cfg.is_file():
        return
    if _launch_line(cfg) != "launch-mode=PYTHON":  # switched in Fiji since: the user's choice
        done["kept"].append(cfg)
        return
    lines = [ln for ln in cfg.read_text(encoding="utf-8").splitlines() if not ln.strip().startswith("launch-mode=")]
    if launch.get("before"):
        lines.append(str(launch["before"]))
    if not lines and launch.get("file_created"):
        cfg.unlink()
        done["removed"].append(cfg)
        return
    _write_atomic(cfg, "\n".join(lines) + "\n")
    done["restored"].append(cfg)

