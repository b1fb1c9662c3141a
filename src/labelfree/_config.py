"""Pipeline configuration objects and provenance records.

Each pipeline has one dataclass config deriving from :class:`PipelineConfig`.
Configs are JSON-serialisable (``to_dict`` / ``from_dict`` / ``to_json`` /
``from_file``), reject unknown keys with a clear message, and are copied into
the output's ``attrs["labelfree"]`` by :func:`provenance`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

from labelfree.errors import ConfigError

__all__ = ["PipelineConfig", "provenance", "file_sha256"]

C = TypeVar("C", bound="PipelineConfig")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


@functools.lru_cache(maxsize=None)
def _literal_fields(cls: type) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """(name, choices) of every field of a config class typed ``Literal[...]``."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, typing.get_args(hints[f.name])) for f in dataclasses.fields(cls)
                 if typing.get_origin(hints.get(f.name)) is Literal)


@dataclasses.dataclass
class PipelineConfig:
    """Base class: dataclass configs that round-trip through JSON."""

    def _check_choices(self) -> None:
        """Raise ConfigError when a ``Literal``-typed field holds a value outside its choices.

        Configs call this from ``__post_init__``; the choices are read from the type hints.
        """
        for name, choices in _literal_fields(type(self)):
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of every field."""
        return _jsonable(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None) -> C:
        """Build a config from a dict; unknown keys raise :class:`ConfigError`."""
        data = dict(data or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown {cls.__name__} option(s): {', '.join(unknown)}. "
                f"Valid options are: {', '.join(sorted(names))}."
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            default = names[key].default
            if isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Invalid {cls.__name__}: {exc}") from exc

    @classmethod
    def from_file(cls: type[C], path: str | Path) -> C:
        """Read a config from a JSON or YAML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read config file {path}: {exc}") from exc
        try:
            if path.suffix.lower() in (".yml", ".yaml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:  # noqa: BLE001 - parser errors vary
            raise ConfigError(f"Config file {path} is not valid JSON/YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"Config file {path} must hold a mapping of option: value.")
        return cls.from_dict(data)

    @classmethod
    def coerce(cls: type[C], config: "C | dict[str, Any] | str | Path | None") -> C:
        """Accept a config object, a dict, a file path or None (defaults)."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if isinstance(config, dict):
            return cls.from_dict(config)
        if isinstance(config, (str, Path)):
            return cls.from_file(config)
        raise ConfigError(
            f"config must be a {cls.__name__}, a dict, a JSON/YAML path or None; "
            f"got {type(config).__name__}."
        )

    def replace(self: C, **changes: Any) -> C:
        """Return a copy with some fields changed (unknown names raise ConfigError)."""
        return type(self).from_dict({**self.to_dict(), **changes})


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def provenance(
    pipeline: str,
    config: PipelineConfig | dict[str, Any] | None = None,
    *,
    model_file: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Provenance record stored in ``attrs["labelfree"]``, TIFF metadata and JSON sidecars."""
    from labelfree import __version__

    record: dict[str, Any] = {
        "pipeline": pipeline,
        "version": __version__,
        "config": config.to_dict() if isinstance(config, PipelineConfig) else _jsonable(config or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if model_file is not None:
        record["model_file"] = str(model_file)
        record["model_sha256"] = file_sha256(model_file)
    if extra:
        record.update(_jsonable(extra))
    return record
