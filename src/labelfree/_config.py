"""Pipeline configuration objects, their self-describing fields, and provenance records.

Each pipeline has one dataclass config deriving from :class:`PipelineConfig`. Every
field is declared with :func:`setting`, which carries its metadata: a help sentence,
a dialog group, whether it is a *basic* field (shown in the first Fiji dialog) and its
allowed range. One validation, :meth:`PipelineConfig.validate`, reads the type hints
and that metadata, so the API, JSON/YAML config files, the CLI's ``--set`` and the
Fiji dialogs and macros all get the same checks: booleans are booleans, numbers are
finite and in range, whole numbers are whole, choices are among the choices.

Configs are JSON-serialisable (``to_dict`` / ``from_dict`` / ``to_json`` /
``from_file``), reject unknown keys with a clear message, and are copied into the
output's ``attrs["labelfree"]`` by :func:`provenance`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import inspect
import json
import logging
import math
import numbers
import types
import typing
from pathlib import Path
from typing import Any, Literal, Sequence, TypeVar

from labelfree._reproduce import RecordedRun
from labelfree.errors import ConfigError

__all__ = ["PipelineConfig", "setting", "field_info", "FieldInfo", "provenance", "file_sha256", "ByteCount",
           "text_value", "guess_scalar", "choice_text", "unknown_key_hint", "near_miss", "AUTO_WORDS", "TRUE_WORDS",
           "FALSE_WORDS", "RecordedRun", "provenance_of", "recorded_threads", "decline_recorded"]

C = TypeVar("C", bound="PipelineConfig")

log = logging.getLogger(__name__)

#: a whole number of bytes: an int without the C-int size limit of other whole-number options
ByteCount = typing.NewType("ByteCount", int)

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    /,
    *,
    help: str,
    group: str = "",
    basic: bool = False,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """Declare a config field with its own help, dialog group, level and range.

    Parameters
    ----------
    default : value
        The default (lists become tuples; None means "automatic" for optional fields).
    help : str
        One or two plain sentences: shown in the Fiji dialog's help, ``--help`` of the
        CLI and the generated option tables.
    group : str
        Heading under which the field appears among the advanced options.
    basic : bool
        Shown in the first Fiji dialog (at most a dozen per pipeline); the others are
        behind "advanced options" and in config files. Macros accept every key.
    ge, gt, le, lt : float, optional
        Bounds of numeric values (of each element for tuples of numbers).
    """
    if not help or not help.strip():
        raise ValueError("every setting needs a help text")
    meta = {"help": " ".join(help.split()), "group": group, "basic": basic, "bounds": (ge, gt, le, lt)}
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What the metadata of one config field says (see :func:`setting`)."""

    name: str
    type: Any
    default: Any
    help: str
    group: str
    basic: bool
    bounds: tuple[float | None, float | None, float | None, float | None]

    def range_text(self) -> str:
        """The bounds in words, e.g. ``">= 0"`` or ``"in (0, 1)"``; empty without bounds."""
        ge, gt, le, lt = self.bounds
        low = f"[{ge:g}" if ge is not None else f"({gt:g}" if gt is not None else None
        high = f"{le:g}]" if le is not None else f"{lt:g})" if lt is not None else None
        if low and high:
            return f"in {low}, {high}"
        if low:
            return (">= " if ge is not None else "> ") + low[1:]
        if high:
            return ("<= " if le is not None else "< ") + high[:-1]
        return ""


@functools.lru_cache(maxsize=None)
def field_info(cls: type) -> tuple[FieldInfo, ...]:
    """The :class:`FieldInfo` of every init field of a config class, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        meta = f.metadata or {}
        default = f.default if f.default is not _MISSING else (
            f.default_factory() if f.default_factory is not _MISSING else None)  # type: ignore[misc]
        out.append(FieldInfo(f.name, hints.get(f.name, Any), default, meta.get("help", ""), meta.get("group", ""),
                             bool(meta.get("basic", False)), tuple(meta.get("bounds", (None,) * 4))))
    return tuple(out)


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


# -- validation by type hint -------------------------------------------------------------------------------------

#: the largest whole number an option may hold (a 32-bit C int: OpenCV, torch and the samplers take them)
_INT_LIMIT = 2**31 - 1


class _Invalid(Exception):
    """Internal: the value does not fit; the message says what was expected."""


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is ByteCount:
        return "a whole number of bytes"
    if tp is float:
        return "a finite number"
    if tp is str:
        return "a text"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null (automatic)" if a is type(None) else _describe(a) for a in args)
    if origin in (tuple, list) or tp in (tuple, list):
        inner = args[0] if args else Any
        return "a list" + ("" if inner is Any else f" of {_describe(inner).removeprefix('a ')}s")
    return getattr(tp, "__name__", str(tp))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise _Invalid
    if isinstance(value, str):  # YAML reads 1e-3 as text; accept written numbers, never words
        try:
            value = float(value.strip())
        except ValueError:
            raise _Invalid from None
    number = float(value)
    if not math.isfinite(number):
        raise _Invalid
    return number


def _convert(value: Any, tp: Any) -> Any:
    """``value`` as type ``tp`` (lists to tuples, integral floats to int); _Invalid when it does not fit."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if tp is bool:
        if type(value).__name__ == "bool_":  # numpy bool
            return bool(value)
        if not isinstance(value, bool):
            raise _Invalid
        return value
    if tp is int:
        number = _number(value)
        if number != int(number):
            raise _Invalid
        if abs(number) > _INT_LIMIT:  # the libraries behind the options take C ints
            raise _Invalid(f"at most {_INT_LIMIT} in size")
        return int(number)
    if tp is ByteCount:  # sizes in bytes pass 2**31 (a 4 GB memory limit); Python ints hold them
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        number = _number(value)
        if number != int(number):
            raise _Invalid
        return int(number)
    if tp is float:
        return _number(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Invalid
        return value
    if origin is Literal:
        for choice in args:
            if type(value) is type(choice) and value == choice:
                return choice
        raise _Invalid
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        # bool before numbers, numbers before text: "2" for int | str stays the text "2"
        for option in sorted((a for a in args if a is not type(None)), key=lambda a: (a is not bool, a is str)):
            try:
                if option is str and not isinstance(value, str):
                    continue
                if option in (int, float, ByteCount) and isinstance(value, str) and str in args:
                    continue
                return _convert(value, option)
            except _Invalid:
                continue
        raise _Invalid
    if origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _Invalid
        inner = args[0] if args else Any
        return tuple(_convert(v, inner) for v in value)
    return value


#: words that mean "automatic" (null) in a value written as text: ``--set``, macros, dialogs and config files
AUTO_WORDS = ("", "none", "auto", "null")
#: words for a boolean written as text (YAML reads on/off as booleans too, so --set and macros take them as well)
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _bool_words(value: bool, /) -> tuple[str, ...]:
    """The words that write ``value``: a choice ``False`` is written ``no`` or ``off`` as a boolean option is."""
    return TRUE_WORDS if value else FALSE_WORDS


def choice_text(choice: Any) -> str:
    """A choice as a user types it: booleans as ``true``/``false``, None as ``auto``."""
    if isinstance(choice, bool):
        return "true" if choice else "false"
    return "auto" if choice is None else str(choice)


def guess_scalar(text: str) -> Any:
    """One item of a comma-separated list: a whole number, a number, else the text."""
    text = text.strip()
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def text_value(info: FieldInfo, text: str, /) -> Any:
    """A config file's text value, read as ``--set KEY=VALUE`` reads it (:func:`labelfree.options.coerce_value`).

    ``auto``, ``none``, ``null`` (or nothing) is null (automatic) where the field may be
    automatic; ``true``/``false`` (also ``yes``/``no``, ``on``/``off``, ``1``/``0``) are booleans; a
    comma-separated text is a list; a choice may be written in any case. Text the field takes
    as it is stays that text: a text option's value (``fiji_dir: auto``), a choice or default
    that is itself such a word (``memory_limit: auto``), and any text a field that takes text
    accepts as it is. Anything else is returned unchanged, for :meth:`PipelineConfig.validate`
    to say what was expected.

    Raises
    ------
    ConfigError
        ``auto`` (or ``none``, ``null``, nothing) for a field that is never automatic, as ``--set`` says.
    """
    tp = getattr(info.type, "__supertype__", info.type)
    args = typing.get_args(tp)
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    members = [getattr(a, "__supertype__", a) for a in (args if union else (tp,)) if a is not type(None)]
    optional = (union and len(members) < len(args)) or info.default is None
    choices = [c for m in members if typing.get_origin(m) is Literal for c in typing.get_args(m)]
    lists = any(typing.get_origin(m) in (tuple, list) or m in (tuple, list) for m in members)
    numbers = any(m in (bool, int, float) for m in members)
    own_words = {choice_text(c).lower() for c in choices}
    if isinstance(info.default, str):
        own_words.add(info.default.lower())
    word = text.strip().lower()
    if word in AUTO_WORDS and word not in own_words and (numbers or lists or choices):
        if lists and not optional and not word:
            return ()
        if optional:
            return None
        raise ConfigError(f"{info.name} needs a value ({_describe(info.type)}; default {info.default!r}), it is never "
                          f"automatic; got {text!r}.")
    try:
        _convert(text, info.type)
        return text  # the field takes this text as it is
    except _Invalid:
        pass
    if bool in members and word in TRUE_WORDS + FALSE_WORDS:
        return word in TRUE_WORDS
    for choice in choices:
        if choice_text(choice).lower() == word or (isinstance(choice, bool) and word in _bool_words(choice)):
            return choice
    if lists or (numbers and "," in text):
        return tuple(guess_scalar(item) for item in text.split(",") if item.strip())
    return text


def unknown_key_hint(cls: type, key: str, /) -> str:
    """What an unknown option ``key`` of config class ``cls`` may have meant, in parentheses ("" when nothing):
    the other commands whose option it is, else a near miss of one of ``cls``'s own options (``fill_hole``)."""
    from labelfree.pipelines import pipelines, tools

    owners = [f"labelfree {spec.name}" for spec in (*pipelines().values(), *tools().values())
              if spec.config_class is not cls and any(info.name == key for info in field_info(spec.config_class))]
    if owners:
        return f" (an option of {', '.join(owners)})"
    return near_miss(key, [info.name for info in field_info(cls)])


def near_miss(key: str, keys: Sequence[str], /) -> str:
    """`` (did you mean min_size?)`` when ``key`` is a near miss of one of ``keys`` (a typo); else ""."""
    import difflib

    close = difflib.get_close_matches(str(key).lower(), list(keys), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_bounds(info: FieldInfo, value: Any) -> None:
    ge, gt, le, lt = info.bounds
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if (ge is not None and v < ge) or (gt is not None and v <= gt) or (le is not None and v > le) or (
                lt is not None and v >= lt):
            raise _Invalid


def _with_settings(doc: str | None, namespace: typing.Mapping[str, Any], /) -> str | None:
    """A config class's docstring with an "Options" section that lists the fields its body declares with
    :func:`setting` (name, default, range, help), so that ``help(Config)`` shows what the Fiji dialog, ``--help``
    and docs/options.md show; the docstring as it is when the body declares none."""
    import textwrap

    entries = []
    for name, value in namespace.items():
        if (not isinstance(value, dataclasses.Field) or "help" not in (value.metadata or {}) or not value.init
                or name.startswith("_")):  # as field_info lists them
            continue
        meta = value.metadata
        default = value.default if value.default is not _MISSING else (
            value.default_factory() if value.default_factory is not _MISSING else _MISSING)
        info = FieldInfo(name, None, default, meta["help"], meta["group"], meta["basic"], meta["bounds"])
        head = f"{name} : default {'None (automatic)' if default is None else repr(default)}"
        head += f", {info.range_text()}" if info.range_text() else ""
        entries.append(head + "\n" + textwrap.fill(info.help, 104, initial_indent="    ", subsequent_indent="    "))
    if not entries:
        return doc
    section = "Options\n-------\n" + "\n".join(entries) + "\n"
    doc = inspect.cleandoc(doc or "")
    at = doc.find("\nExamples\n--------\n")  # numpydoc's order: the options before the examples
    return (doc + "\n\n" + section) if at < 0 else (doc[:at + 1] + section + doc[at:])


@dataclasses.dataclass
class PipelineConfig:
    """Base class: dataclass configs that validate themselves and round-trip through JSON.

    Subclasses declare fields with :func:`setting`; checks that involve several fields
    go into :meth:`check`. ``moved_keys`` names former settings that became arguments of
    the pipeline's functions (old key -> where it goes now): a config that still holds
    one is refused with that hint instead of "unknown option".
    """

    moved_keys = {}  # type: dict[str, str]  (a class attribute, not a field)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__doc__ = _with_settings(cls.__doc__, vars(cls))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Convert and check every field by its type hint and range; then :meth:`check`.

        Raises
        ------
        ConfigError
            Naming the field, what was expected and what was given.
        """
        name = type(self).__name__
        for info in field_info(type(self)):
            given = getattr(self, info.name)
            try:
                value = _convert(given, info.type)
                _check_bounds(info, value)
            except _Invalid as exc:
                expected = _describe(info.type)
                bounds = info.range_text()
                limit = f" and {exc}" if str(exc) else ""
                raise ConfigError(
                    f"{name}.{info.name} must be {expected}{f' {bounds}' if bounds else ''}{limit}; got {given!r}."
                    + (f" ({info.help})" if info.help else "")
                ) from None
            object.__setattr__(self, info.name, value)
        self.check()

    def check(self) -> None:
        """Checks that involve several fields (subclasses); raise ConfigError."""

    def _check_choices(self) -> None:
        """For subclasses that define ``__post_init__`` without calling ``super()``: :meth:`validate`."""
        self.validate()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of every field."""
        return _jsonable(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None) -> C:
        """Build a config from a dict; unknown keys raise :class:`ConfigError`."""
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"A {cls.__name__} is a mapping of option: value; got {type(data).__name__}.")
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(str(k) for k in set(data) - names)
        moved = [k for k in unknown if k in cls.moved_keys]
        if moved:
            raise ConfigError(" ".join(f"{k} is not a setting any more: {cls.moved_keys[k]}." for k in moved))
        if unknown:
            raise ConfigError(
                f"Unknown {cls.__name__} option(s): {', '.join(k + unknown_key_hint(cls, k) for k in unknown)}. "
                f"Valid options are: {', '.join(sorted(names))}."
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"Invalid {cls.__name__}: {exc}") from exc

    @classmethod
    def from_file(cls: type[C], path: str | Path, *, applies_record: bool = False) -> C:
        """Read a config from a JSON or YAML file.

        Values the format types (``true``, ``3``, ``[a, b]``, ``null``) are taken as they are;
        text values are read as ``--set`` reads them (:func:`text_value`): ``auto`` for
        automatic, ``false``, ``entropy,gradient`` for a list, as ``labelfree options`` and
        docs/options.md write them. Errors name the file.

        A run's provenance (``<stem>_provenance.json``) is a config file too: its ``config``
        (the config as that run was given it) is read, so ``--config out/x_provenance.json``
        repeats the run's settings. The provenance of another pipeline's run is an error. The config
        read from a record keeps it (:func:`provenance_of`): :func:`labelfree.run.run_pipeline` repeats
        its models, model file and thread count too. A label image LabelFree wrote (``<stem>_labels.tif``)
        gives the same: the record it stores (:func:`labelfree.io.read_provenance`) is read as its
        ``<stem>_provenance.json`` is. ``applies_record``: the caller repeats what the record names (no
        warning that a config gives settings only).
        """
        path = Path(path)
        stored = _stored_record(path)  # a label image: the record it stores, read as its provenance file
        try:
            text = "" if stored is not None else path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"Cannot read config file {path}: it is no text file ({exc}). A config file is "
                              "JSON, or YAML named *.yaml or *.yml; a run's <stem>_provenance.json and the label "
                              "image it wrote (<stem>_labels.tif) are read as its config too.") from exc
        except OSError as exc:
            raise ConfigError(f"Cannot read config file {path}: {exc}") from exc
        yaml_file = path.suffix.lower() in (".yml", ".yaml")
        try:
            if stored is not None:
                data = stored
            elif yaml_file:
                data = yaml_load(text)
                if data is None:  # empty, or comments only: every option at its default
                    data = {}
            else:
                data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        except Exception as exc:  # noqa: BLE001 - parser errors vary
            if isinstance(exc, DuplicateKeyError):
                raise ConfigError(f"Config file {path} gives {getattr(exc, 'problem', None) or exc}; give each "
                                  "option once.") from None
            kind = "YAML" if yaml_file else "JSON"
            hint = "" if yaml_file or path.suffix.lower() == ".json" else (
                " Config files are JSON, or YAML named *.yaml or *.yml: the suffix says which, and a file with "
                f"{f'the suffix {path.suffix}' if path.suffix else 'no suffix'} is read as JSON.")
            raise ConfigError(f"Config file {path} is not valid {kind}: {exc}.{hint}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"Config file {path} must hold a mapping of option: value.")
        recorded = None
        if _is_provenance(data):
            recorded = RecordedRun(data, file=str(path))
            data = _provenance_config(cls, recorded, notes=not applies_record)
        _refuse_sections(cls, data, path)
        fields = {info.name: info for info in field_info(cls)}
        try:
            data = {key: text_value(fields[key], value) if isinstance(value, str) and key in fields else value
                    for key, value in data.items()}
            return _with_record(cls.from_dict(data), recorded)
        except ConfigError as exc:
            raise ConfigError(f"Config file {path}: {exc}") from exc

    @classmethod
    def coerce(cls: type[C], config: "C | dict[str, Any] | str | Path | None", *,
               applies_record: bool = False) -> C:
        """Accept a config object, a dict, a file path or None (defaults).

        A config object gives a copy checked again as its constructor checks it: a field changed after it
        was built (``cfg.min_size = -3``) is refused with the constructor's :class:`ConfigError`, and the
        copy keeps the record the object was read from.

        A dict that is a run's provenance record (``labels.attrs["labelfree"]`` of a result, as its
        ``<stem>_provenance.json`` holds it) gives its ``config``, as that file does
        (:meth:`from_file`): ``segment(image, config=labels.attrs["labelfree"])`` repeats the run's
        settings. The record of another pipeline's run is a :class:`ConfigError`. The config keeps the
        record it came from (:func:`provenance_of`); ``applies_record``: the caller repeats what the
        record names besides its settings (:func:`labelfree.run.run_pipeline`), so no warning says
        that a config gives settings only.
        """
        if config is None:
            return cls()
        if isinstance(config, cls):
            return _checked_again(config)
        if isinstance(config, dict):
            if _is_provenance(config):
                recorded = RecordedRun(dict(config))
                return _with_record(cls.from_dict(_provenance_config(cls, recorded, notes=not applies_record)),
                                    recorded)
            return cls.from_dict(config)
        if isinstance(config, (str, Path)):
            return cls.from_file(config, applies_record=applies_record)
        raise ConfigError(
            f"config must be a {cls.__name__}, a dict, a JSON/YAML path or None; "
            f"got {type(config).__name__}."
        )

    def replace(self: C, **changes: Any) -> C:
        """Return a copy with some fields changed (unknown names raise ConfigError); a config read from a
        provenance record keeps it (``--set`` changes the settings of a run repeated from its record)."""
        return _with_record(type(self).from_dict({**self.to_dict(), **changes}), provenance_of(self))


#: YAML 1.2 numbers, as ``--set`` reads them (Python's int and float): decimal only, no sexagesimal
_YAML_INT = r"^[-+]?[0-9][0-9_]*$"
_YAML_FLOAT = (r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")


@functools.cache
def _yaml_loader() -> type:
    """PyYAML's safe loader with YAML 1.2 numbers: PyYAML reads YAML 1.1, where ``010`` is 8 (octal),
    ``0x10`` 16 and ``12:30`` 750 (base 60), none of which ``--set`` (nor a person) means."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    number_tags = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in number_tags]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(number_tags[0], re.compile(_YAML_INT), list("-+0123456789"))
    Loader.add_implicit_resolver(number_tags[1], re.compile(_YAML_FLOAT), list("-+0123456789."))
    Loader.add_constructor(number_tags[0], lambda loader, node: int(loader.construct_scalar(node).replace("_", "")))
    Loader.add_constructor(number_tags[1], yaml.SafeLoader.construct_yaml_float)  # .inf, .nan; no base 60 left

    class DuplicateKey(yaml.constructor.ConstructorError, DuplicateKeyError):
        """A key written twice in one mapping (a YAMLError, as a manifest's reader expects of bad YAML)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        # PyYAML keeps the last of a key written twice without a word; YAML itself wants unique keys.
        # A key merged in with ``<<`` may be overridden.
        seen: dict[str, Any] = {}
        for key_node, _ in getattr(node, "value", ()):
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                raise DuplicateKey(None, None, f"the key {key_node.value!r} twice (lines "
                                   f"{seen[key_node.value].line + 1} and {key_node.start_mark.line + 1})",
                                   key_node.start_mark)
            seen[key_node.value] = key_node.start_mark
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.construct_mapping = construct_mapping  # type: ignore[method-assign]
    return Loader


def yaml_load(text: str, /) -> Any:
    """A YAML document's data, numbers read as YAML 1.2 and ``--set`` read them (``010`` is 10)."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: no Python objects


def _is_provenance(data: dict[str, Any], /) -> bool:
    """Whether a config file's mapping is a LabelFree provenance record (``<stem>_provenance.json``)."""
    return isinstance(data.get("pipeline"), str) and isinstance(data.get("config"), dict) and "version" in data


def record_text(meta: dict[str, Any], /) -> str | None:
    """The JSON text of the provenance record that :func:`labelfree.io.write_labels` stores in a TIFF's ImageJ
    metadata ``meta`` (its ``Properties`` entry ``labelfree``, else an ``Info`` line ``labelfree=...``); None."""
    props = meta.get("Properties")
    text = props.get("labelfree") if isinstance(props, dict) else None
    if text is None:
        lines = str(meta.get("Info", "")).splitlines()
        text = next((line[len("labelfree="):] for line in lines if line.startswith("labelfree=")), None)
    return text


#: the first bytes of a TIFF file (little- and big-endian; classic and BigTIFF)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _stored_record(path: Path, /) -> dict[str, Any] | None:
    """The provenance record a TIFF at ``path`` stores (a label image LabelFree wrote:
    :func:`labelfree.io.read_provenance`), as its ``<stem>_provenance.json`` holds it less the list of the set's
    files; None for a file that is no TIFF (a config file: its reader says what is wrong with it).

    Raises
    ------
    ConfigError
        A TIFF that stores no LabelFree provenance record, or one that cannot be read: what to give instead.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    if head not in _TIFF_MAGIC:
        return None
    import tifffile

    try:  # where labelfree.io.write_labels stores it (labelfree.io.read_provenance reads it so too)
        with tifffile.TiffFile(path) as tif:
            text = record_text(tif.imagej_metadata or {})
        record = None if text is None else json.loads(text)
    except Exception as exc:  # noqa: BLE001 - a damaged TIFF or record: said as a config that cannot be read
        raise ConfigError(f"Cannot read config file {path}: it is a TIFF image whose stored LabelFree provenance "
                          f"cannot be read ({type(exc).__name__}: {exc}). Give the run's <stem>_provenance.json "
                          "(beside its labels), or a JSON or YAML config file.") from exc
    if not isinstance(record, dict) or not _is_provenance(record):
        raise ConfigError(f"Config file {path} is a TIFF image that stores no LabelFree provenance record (a label "
                          "image LabelFree wrote stores its run's; one saved again elsewhere, e.g. by Fiji, may not). "
                          "Give the run's <stem>_provenance.json, or a JSON or YAML config file.")
    return record


def _provenance_config(cls: type, recorded: "RecordedRun", /, *, notes: bool = True) -> dict[str, Any]:
    """The ``config`` of a provenance record given as a config of ``cls``; another pipeline's is an error.

    A config gives settings; what else the record's run used (a saved model, zoo models) is repeated by
    :func:`labelfree.run.run_pipeline` (the command line's ``--config``). With ``notes``, a reader that
    does not repeat them (a pipeline's own ``segment``, a batch run, Fiji) warns which they are and how
    to give them (:meth:`RecordedRun.notes`). A setting of an older version that is an argument now (the
    class's ``moved_keys``: Fusion's and Cutter's ``device``, Cutter's ``model_file``) is left out, with a warning
    naming its recorded value and how to give it.
    """
    from labelfree import __version__
    from labelfree.pipelines import pipelines, tools

    data, source = recorded.record, recorded.source
    names = [spec.name for spec in (*pipelines().values(), *tools().values()) if spec.config_class is cls]
    if names and data["pipeline"] not in names:
        what = "a config file" if source.startswith("Config file") else "a dict"
        raise ConfigError(f"{source} is the provenance of a {data['pipeline']} run; its config holds "
                          f"{data['pipeline']} options, not {cls.__name__} ones. Give the provenance of a "
                          f"{' or '.join(names)} run, or {what} of {cls.__name__} options.")
    if notes and data["version"] != __version__:  # a run that repeats the record names every difference itself
        log.warning("%s is the provenance of a run of LabelFree %s; this is %s, whose results may differ.",
                    source, data["version"], __version__)
    if notes:
        for message in recorded.notes():
            log.warning("%s", message)
    config = dict(data["config"])
    moved = {k: config.pop(k) for k in list(config) if k in getattr(cls, "moved_keys", {})}
    for key, value in moved.items():  # an older version's setting, now an argument: that run's choice, said once
        log.warning("%s records %s=%r, a setting of the LabelFree that wrote it and an argument of this one: it is "
                    "left out; to repeat that choice, %s.", source, key, value, cls.moved_keys[key])
    return config


def _checked_again(config: C, /) -> C:
    """A copy of a config object built again by its constructor, so that fields changed after it was built
    (``cfg.min_size = -3``) get the checks and conversions of the constructor, its message included. The copy
    keeps what the object holds besides its fields (the record it was read from); the object itself is left
    as it is.

    Raises
    ------
    ConfigError
        A field holds a value the constructor refuses (the message the constructor gives).
    """
    fields = dataclasses.fields(config)
    fresh = type(config)(**{f.name: getattr(config, f.name) for f in fields if f.init})
    names = {f.name for f in fields}
    for key, value in vars(config).items():
        if key not in names:
            object.__setattr__(fresh, key, value)
    return fresh


def _with_record(config: C, recorded: RecordedRun | None, /) -> C:
    """``config`` keeping the record it was read from (not a field: a config's fields are its settings)."""
    if recorded is not None:
        object.__setattr__(config, "_recorded", recorded)
    return config


def provenance_of(config: Any, /) -> RecordedRun | None:
    """The provenance record ``config`` is or came from, else None.

    ``config`` is a config object read from a record (``--config out/x_provenance.json``,
    ``coerce(labels.attrs["labelfree"])``; ``replace`` keeps it), a record (dict) or the path of a
    record file (or of a label image that stores one); a config of settings, a file that is none or cannot be
    read give None.
    """
    if isinstance(config, PipelineConfig):
        return getattr(config, "_recorded", None)
    if isinstance(config, dict):
        return RecordedRun(dict(config)) if _is_provenance(config) else None
    if isinstance(config, (str, Path)) or hasattr(config, "__fspath__"):
        import os

        path = os.fsdecode(config)
        try:
            data = _stored_record(Path(path))  # a label image: the record it stores
            if data is None:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                data = yaml_load(text) if path.lower().endswith((".yml", ".yaml")) else json.loads(text)
        except Exception:  # noqa: BLE001 - not readable as a record: the config reader says what is wrong
            return None
        return RecordedRun(data, file=path) if isinstance(data, dict) and _is_provenance(data) else None
    return None


def recorded_threads(config: Any, /) -> int | None:
    """The ``threads`` of the provenance record ``config`` is or came from (:func:`provenance_of`), else None.

    Giving a run's record repeats that run: its thread count too, as torch's sums depend on it.

    Raises
    ------
    ConfigError
        The record holds a thread count that is not a whole number >= 1.
    """
    recorded = provenance_of(config)
    return None if recorded is None else recorded.threads


def decline_recorded(config: C, /, *entries: str) -> C:
    """``config`` whose record no longer names ``entries`` (``"models"``: ``labelfree fusion --zoo-best``, the
    zoo's pick); a config not read from a record is returned as it is."""
    recorded = provenance_of(config)
    if recorded is None or not entries:
        return config
    copy = type(config).from_dict(config.to_dict())
    return _with_record(copy, recorded.without(*entries))


class DuplicateKeyError(ValueError):
    """A mapping of a config file (or manifest) gives one key twice; the message names it and where."""


def _unique_keys(pairs: list[tuple[str, Any]], /) -> dict[str, Any]:
    """A JSON object's mapping; a key given twice is an error (json keeps the last one without a word)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(f"the key {key!r} twice ({out[key]!r}, then {value!r})")
        out[key] = value
    return out


def _refuse_sections(cls: type, data: dict[str, Any], path: Path, /) -> None:
    """A config file holds its options at the top level: a mapping under a command's name (``motion:``) is
    refused with that advice, not read as an unknown option or as the value of an option of that name."""
    from labelfree.pipelines import pipelines, tools

    commands = {spec.name: spec for spec in (*pipelines().values(), *tools().values())}
    sections = [key for key, value in data.items() if isinstance(value, dict) and str(key).lower() in commands]
    if not sections:
        return
    key = sections[0]
    mine = " or ".join(f"labelfree {name}" for name, spec in commands.items() if spec.config_class is cls)
    keys = ", ".join(str(k) for k in data[key]) or "none"
    raise ConfigError(f"Config file {path} holds options under a section {key!r} (keys: {keys}); a config file holds "
                      f"the options of one command ({mine or cls.__name__}) at its top level, without sections: "
                      f"move them out of {key!r}.")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a config may hold")


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def automatic_values(record: dict[str, Any], /) -> dict[str, Any]:
    """The settings a run chose from the data: ``record["auto"]`` restricted to config fields with one value.

    Every pipeline writes the value it chose for each automatic setting (``None`` or ``"auto"``
    in its config) under the provenance key ``"auto"``, beside details of the measurement.
    """
    auto = record.get("auto") or {}
    fields = record.get("config") or {}
    return {k: v for k, v in auto.items() if k in fields and isinstance(v, (bool, int, float, str))}


def _per_frame_values(record: dict[str, Any], /) -> dict[str, str]:
    """The automatic settings a run chose per frame or plane (a list of numbers under ``record["auto"]``, e.g.
    Threshold's level of every plane), each said in a few words: ``"27 (all 8 planes)"``, ``"21-35 (8 planes)"``;
    a run over the volumes of z-stacks (its record's ``volumes``) chose one per volume: ``"21-35 (5 volumes)"``."""
    auto, fields = record.get("auto") or {}, record.get("config") or {}
    unit = "volumes" if record.get("volumes") else "planes"
    out = {}
    for key, values in auto.items():
        if key not in fields or not isinstance(values, (list, tuple)) or not values:
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            continue
        low, high = min(values), max(values)
        n = len(values)
        out[key] = (f"{low:.4g} (all {n} {unit})" if low == high else f"{low:.4g}-{high:.4g} ({n} {unit})")
    return out


def describe_automatic(record: dict[str, Any], /) -> str:
    """``"downscale 4, marker_sigma 3.2"``: the automatic settings of a run, for a log line ("" when none).
    A setting chosen per plane (frame) is said by its range: ``"threshold 21-35 (8 planes)"``.

    Markers the run detected itself (a record's ``"markers"`` entry with ``"detected_in"``)
    come first: ``"markers 101 detected in the image"``; with those detection added at dim nuclei (the entry's
    ``"added"``), ``"markers 11 (8 detected, 3 added at dim nuclei) in the image"`` (a movie of up to 3 frames
    per frame, ``"11/12 (8/9 detected, 3/3 added ...)"``; a longer one in total, with the frames that had some).
    """
    parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in automatic_values(record).items()]
    parts += [f"{k} {text}" for k, text in _per_frame_values(record).items()]
    detected = record.get("markers")
    if isinstance(detected, dict) and detected.get("detected_in"):
        counts = record.get("n_markers") or []
        n = "/".join(str(c) for c in counts) if len(counts) <= 3 else f"{sum(counts)} (over {len(counts)} frames)"
        where = detected["detected_in"]
        if n and detected.get("added"):
            parts.insert(0, f"markers {_markers_added(detected, counts)} in {where}")
        else:
            parts.insert(0, f"markers {n} detected in {where}" if n else f"markers detected in {where}")
    return ", ".join(parts)


def _markers_added(entry: dict[str, Any], counts: list[int], /) -> str:
    """``"11 (8 detected, 3 added at dim nuclei)"``: the markers of a run (``counts``, per frame) and how many of
    them detection added at dim nuclei (the provenance's ``"markers"`` ``entry``; :func:`describe_automatic`)."""
    added = entry.get("added_per_frame") or [int(entry["added"])]
    found = entry.get("found_per_frame") or [int(entry.get("found", sum(counts) - int(entry["added"])))]
    if len(counts) <= 3 and len(added) == len(counts):
        return (f"{'/'.join(map(str, counts))} ({'/'.join(map(str, found))} detected, "
                f"{'/'.join(map(str, added))} added at dim nuclei)")
    frames = sum(1 for a in added if a)
    return (f"{sum(counts)} (over {len(counts)} frames: {sum(found)} detected, {sum(added)} added at dim nuclei in "
            f"{frames} frame{'s' if frames != 1 else ''})")


def provenance(
    pipeline: str,
    config: PipelineConfig | dict[str, Any] | None = None,
    *,
    model_file: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Provenance record stored in ``attrs["labelfree"]``, TIFF metadata and JSON sidecars.

    It holds the pipeline, LabelFree's ``version``, the ``config``, the time (``created``) and the
    ``software`` that ran it (:func:`labelfree._reproduce.software`: Python, platform, library
    versions, the kernel and thread settings of the environment, the git commit of a source checkout).
    """
    from labelfree import __version__
    from labelfree._reproduce import software

    record: dict[str, Any] = {
        "pipeline": pipeline,
        "version": __version__,
        "config": config.to_dict() if isinstance(config, PipelineConfig) else _jsonable(config or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "software": software(),
    }
    if model_file is not None:
        record["model_file"] = str(model_file)
        record["model_sha256"] = file_sha256(model_file)
    if extra:
        record.update(_jsonable(extra))
    return record
