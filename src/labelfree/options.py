"""Config fields as typed options: ImageJ macro keys, dialog fields and the CLI's ``--set`` (pure Python).

Every field of a pipeline's config dataclass becomes a stable snake_case macro
key (the field name), a dialog field and a ``--set KEY=VALUE`` key; its help, group,
level (basic or advanced) and range come from the field's metadata
(:func:`labelfree._config.setting`). The macro syntax is ImageJ's
``key=value key=[value with spaces]``, with one deliberate difference for
booleans: ``key=true`` / ``key=false`` are accepted and recorded, a bare ``key``
means true and an absent key keeps the default. The recorder writes every key,
so a recorded line replays exactly even if a default changes later, and unknown
keys are an error rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Callable, Literal, Sequence

from labelfree._config import AUTO_WORDS, FALSE_WORDS, TRUE_WORDS, choice_text, guess_scalar, near_miss
from labelfree.errors import ConfigError

__all__ = ["Field", "config_fields", "parse_macro_options", "format_macro_options", "coerce_value", "value_text",
           "resolve_macro_variables"]

_TOKEN = re.compile(r"\s*([A-Za-z_][\w.]*)(?:=(\[[^\]]*\]|\S*))?")
_NONE_WORDS = AUTO_WORDS  # the same words as a config file's (labelfree._config.text_value)


@dataclasses.dataclass(frozen=True)
class Field:
    """One macro key / dialog field.

    kind is one of "bool", "int", "float", "choice", "str", "list" or "scalar" (int or
    str, e.g. a channel index or name); ``optional``
    means None is allowed (written ``auto``). ``choices`` are written as a user types
    them (a choice ``False`` is ``"false"``). ``cli`` is empty for a config option
    (``--set KEY=VALUE`` on the command line); a key of the Fiji dialog and macros only
    says there what the command line uses instead (e.g. ``"-o/--out"``).
    """

    key: str
    kind: str
    default: Any
    choices: tuple[str, ...] = ()
    optional: bool = False
    help: str = ""
    values: tuple[Any, ...] = ()  # the Literal's own values, when they are not all strings
    group: str = ""
    basic: bool = True
    range: str = ""  # the allowed range in words, e.g. ">= 0"
    cli: str = ""  # Fiji/macro-only key: the command line's equivalent ("" for a --set option)


def _describe_type(tp: Any) -> tuple[str, tuple[Any, ...], bool]:
    if tp is Any:
        return "scalar", (), False
    tp = getattr(tp, "__supertype__", tp)  # a NewType such as ByteCount is its base type here
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    optional = False
    if origin in (typing.Union, types.UnionType):
        rest = [getattr(a, "__supertype__", a) for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) == 1:
            kind, choices, _ = _describe_type(rest[0])
            return kind, choices, optional
        return ("scalar" if int in rest or float in rest else "str"), (), optional
    if origin is Literal:
        return "choice", tuple(args), False
    if tp is bool:
        return "bool", (), False
    if tp is int:
        return "int", (), False
    if tp is float:
        return "float", (), False
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        return "list", (), False
    return "str", (), False


def config_fields(config_class: type, /) -> list[Field]:
    """The macro keys / dialog fields of a config dataclass, in declaration order."""
    from labelfree._config import field_info

    if not dataclasses.is_dataclass(config_class):
        raise ConfigError(f"{config_class!r} is not a dataclass config.")
    fields = []
    for info in field_info(config_class):
        kind, choices, optional = _describe_type(info.type)
        texts = tuple(choice_text(c) for c in choices)
        fields.append(
            Field(info.name.lower(), kind, info.default, texts, optional or info.default is None, info.help,
                  values=tuple(choices) if any(not isinstance(c, str) for c in choices) else (),
                  group=info.group, basic=info.basic, range=info.range_text())
        )
    return fields


#: one read option: its key, its value (None for a bare key), whether the value was in [brackets], where the
#: value starts in the text (where the key ends, for a bare key)
_Token = tuple[str, "str | None", bool, int]


def _scan(text: str, /) -> tuple[list[_Token], int | None]:
    """The options of ``text`` in order, and where reading them stopped (None: at the end)."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return tokens, pos
        key, value, end = m.group(1).lower(), m.group(2), m.end()
        bracketed = value is not None and value.startswith("[")
        if bracketed:
            end = _closing_bracket(text, m.start(2))
            if end < 0:
                raise ConfigError(f"Cannot read the macro options at {text[m.start(2):m.start(2) + 30]!r}: "
                                  "the '[' has no matching ']'.")
            value, end = text[m.start(2) + 1:end], end + 1
        tokens.append((key, value, bracketed, m.start(2) if value is not None else m.end()))
        pos = end
    return tokens, None


def _bracket_hint(text: str, tokens: list[_Token], at: int, by_key: dict[str, Field], /) -> str:
    """`` (did you mean image=[my cells.tif]? ...)`` when the option before ``tokens[at]`` (a word that is no key,
    or where reading stopped: ``at == len(tokens)``), past the words that are no keys, gave a title or path without
    brackets, so that its value ended at a space; else ""."""
    before = at - 1
    while before >= 0 and tokens[before][1] is None and tokens[before][0] not in by_key:
        before -= 1
    if before < 0:
        return ""
    key, value, bracketed, start = tokens[before]
    if bracketed or not value or key not in by_key or by_key[key].kind != "str":
        return ""
    end = len(text)
    for m in re.finditer(r"\s+([A-Za-z_][\w.]*)(?=[=\s]|$)", text[start:]):
        word = m.group(1).lower()
        if word in by_key and (text[start + m.end():start + m.end() + 1] == "=" or by_key[word].kind == "bool"):
            end = start + m.start()
            break
    whole = text[start:end].strip()
    return (f" (did you mean {key}=[{whole}]? A title or path with spaces goes in [brackets], as ImageJ writes "
            "it)") if whole != value else ""


def _resolve_variable(key: str, raw: str, variables: Callable[[str], str | None], /) -> str:
    """``raw`` itself, or, when it is ``&name``, the value of the running macro's variable ``name`` (as ImageJ's
    GenericDialog reads ``sigma=&w``)."""
    m = re.fullmatch(r"\s*&([A-Za-z_]\w*)\s*", raw)
    if m is None:
        return raw
    value = variables(m.group(1))
    if value is None:
        raise ConfigError(f"{key}=&{m.group(1)} names the macro variable {m.group(1)!r}, which the running macro "
                          f"does not define; set it before the run(...) line ({m.group(1)} = ...;) or give the "
                          "value itself.")
    return value


def resolve_macro_variables(options: str, variables: Callable[[str], str | None], /) -> str:
    """``options`` (``key=value ...``) with each ``key=&name`` replaced by ``key=[value]``, the running macro's
    variable ``name`` (``variables``, as :func:`parse_macro_options` takes it): for options handed on inside another
    command's option (``options=[min_size=&n]``), which are read later, where the macro's variables are gone.

    Options it cannot read are returned as they are (their reader says what is wrong).

    Raises
    ------
    ConfigError
        ``&name`` of a variable the macro does not define.
    """
    try:
        tokens, stuck = _scan(options or "")
    except ConfigError:
        return options
    if stuck is not None or not any(raw is not None and raw.lstrip().startswith("&") for _, raw, _, _ in tokens):
        return options
    words = []
    for key, raw, bracketed, _ in tokens:
        if raw is None:
            words.append(key)
            continue
        value = _resolve_variable(key, raw, variables)
        words.append(f"{key}=[{value}]" if bracketed or value != raw else f"{key}={value}")
    return " ".join(words)


def _closing_bracket(text: str, start: int) -> int:
    """Index of the ``]`` closing the ``[`` at ``start``, counting nested pairs as ImageJ's
    ``Macro.getValue`` does (``image=[cells [1].tif]`` is ``cells [1].tif``); -1 when none."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"[": 1, "]": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


#: what a value of each field kind is, in an error message
_EXPECTED = {"bool": "true or false", "int": "an integer (a whole number)", "float": "a number",
             "scalar": "a number or a text", "list": "a comma-separated list"}


def coerce_value(field: Field, value: Any, /) -> Any:
    """Convert a macro/dialog/script value to the field's Python type (ConfigError if impossible)."""
    is_none_word = isinstance(value, str) and value.strip().lower() in _NONE_WORDS
    if is_none_word and (field.kind == "str" or value.strip().lower() in (c.lower() for c in field.choices)):
        is_none_word = False
    if is_none_word and field.kind == "list" and not field.optional and not str(value).strip():
        return () if isinstance(field.default, tuple) else []
    if value is None or is_none_word:
        if field.optional:
            return None
        if field.kind == "bool" and value is None:
            return True
        raise ConfigError(f"{field.key} needs a value (default {field.default!r}); got {value!r}.")
    try:
        if field.kind == "bool":
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in TRUE_WORDS + FALSE_WORDS:
                    raise ValueError(value)
                return low in TRUE_WORDS
            return bool(value)
        if field.kind == "int":
            number = float(value)
            if number != int(number):
                raise ValueError(value)
            return int(number)
        if field.kind == "float":
            return float(value)
        if field.kind == "choice":
            text = str(value)
            if text not in field.choices:  # any case; the choice False also as no/off/0, as booleans are written
                low = text.strip().lower()
                text = next((c for c in field.choices if c.lower() == low), text)
                words = {"true": TRUE_WORDS, "false": FALSE_WORDS}
                text = next((c for c in field.choices if c in words and low in words[c]), text)
            if text not in field.choices:
                raise ValueError(value)
            index = field.choices.index(text)
            return field.values[index] if field.values else text
        if field.kind == "scalar":
            return _guess_scalar(value)
        if field.kind == "list":
            items = value if isinstance(value, (list, tuple)) else [v for v in str(value).split(",") if v.strip()]
            typed = [_guess_scalar(v) for v in items]
            return tuple(typed) if isinstance(field.default, tuple) or field.default is None else typed
        return str(value)
    except (TypeError, ValueError, OverflowError):  # int("inf") overflows
        expect = f"one of {', '.join(field.choices)}" if field.kind == "choice" else _EXPECTED.get(field.kind, "a text")
        raise ConfigError(f"{field.key}={value!r} is not valid; expected {expect}.") from None


def _guess_scalar(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if "," in value:
        return [guess_scalar(v) for v in value.split(",") if v.strip()]
    return guess_scalar(value)


def parse_macro_options(options: str, fields: Sequence[Field], /, *, ignore: Sequence[str] = (),
                        variables: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """Read ``key=value ...`` into typed values (only the keys present).

    Keys listed in ``ignore`` are skipped (e.g. a script's own controls). A key given twice
    takes its first value, as ImageJ's ``Macro.getValue`` (and so a script's parameters) reads it.

    Parameters
    ----------
    options : str
        The macro options, ``key=value key=[value with spaces]``.
    fields : sequence of Field
        The keys it may give.
    ignore : sequence of str
        Keys that are read over.
    variables : callable, optional
        The value (as text) of a variable of the running macro by name, None when it has none of that name: a
        value ``&name`` is then that variable's value (``min_size=&sz``), as ImageJ's own dialogs read it.

    Raises
    ------
    ConfigError
        An unknown key (the message lists the valid ones, and says where a title or path with spaces lacks its
        [brackets]), a value of the wrong type, or ``&name`` of a variable the macro does not define.
    """
    by_key = {f.key: f for f in fields}
    skip = {k.lower() for k in ignore}
    text = (options or "").strip()
    tokens, stuck = _scan(text)
    if stuck is not None:
        raise ConfigError(f"Cannot read the macro options at {text[stuck:stuck + 30]!r}"
                          f"{_bracket_hint(text, tokens, len(tokens), by_key)}; use key=value or key=[a b].")
    values: dict[str, Any] = {}
    for i, (key, raw, _, _) in enumerate(tokens):
        if key in skip:
            continue
        if key not in by_key:
            hint = _bracket_hint(text, tokens, i, by_key) or near_miss(key, by_key)
            raise ConfigError(f"Unknown option {key!r}{hint}; valid keys are: {', '.join(by_key)}.")
        if key in values:  # a key given twice: the first value, as ImageJ's Macro.getValue reads it
            continue
        if variables is not None and raw is not None:
            raw = _resolve_variable(key, raw, variables)
        values[key] = coerce_value(by_key[key], raw)
    return values


def value_text(field: Field, value: Any, /) -> str:
    """``value`` as a user types it for ``field`` (macro, dialog, ``--set``): ``auto`` for None,
    ``true``/``false``, lists comma-separated, a choice as written in ``field.choices``."""
    if field.kind == "choice" and field.values:
        index = next((i for i, v in enumerate(field.values) if v == value and type(v) is type(value)), None)
        if index is not None:
            return field.choices[index]
    if value is None:
        return "auto"
    if field.kind == "bool":
        return "true" if value else "false"
    if field.kind == "list" or (field.kind == "scalar" and isinstance(value, (list, tuple))):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value == int(value) and field.kind == "float":
        return repr(value)
    return str(value)


def format_macro_options(values: dict[str, Any], fields: Sequence[Field], /) -> str:
    """Write typed values as a macro options string (every key given, in field order)."""
    parts = []
    for f in fields:
        if f.key not in values:
            continue
        text = value_text(f, values[f.key])
        if text == "" or re.search(r"[\s\]\[]", text):
            text = f"[{text}]"
        parts.append(f"{f.key}={text}")
    return " ".join(parts)
