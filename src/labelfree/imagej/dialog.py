"""ImageJ 1.x dialogs built from :class:`~labelfree.options.Field` lists, the status-bar progress sink, and
LabelFree's logged warnings relayed to the Log window while a command runs.

A command's first dialog shows its *basic* fields only (at most a dozen) and an
"advanced options" checkbox; ticking it opens one page per group of the other
fields. Every page has a Help button listing what each field means. Dialog labels are
the macro keys themselves, so the keys a user sees, records and types in a macro are
the same words; channels are shown and read as a macro gives them, counted from 1. A field
that holds a file or folder path has ImageJ's Browse button next to its text box.
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
from typing import Any, Collection, Iterator, Sequence

from labelfree.errors import ConfigError
from labelfree.imagej.fields import ADVANCED_KEY, split_fields
from labelfree.options import Field, coerce_value, value_text

__all__ = ["show_dialog", "build_page", "read_page", "DialogValues", "ImageJProgress", "relay_log_warnings",
           "MAX_PAGE_FIELDS"]

log = logging.getLogger(__name__)

#: fields on one dialog page (a page stays well under 720 px high)
MAX_PAGE_FIELDS = 12

#: the items of a boolean option that may be automatic (None), shown as a choice
_AUTO_BOOL = ("auto", "true", "false")


def _is_channel_field(field: Field, channels: Sequence[str]) -> bool:
    return len(channels) > 1 and (field.key == "channel" or field.key.endswith("_channel")) and field.kind in (
        "int",
        "scalar",
    )


def _is_numeric_field(field: Field, value: Any) -> bool:
    """A number box: a number that cannot be automatic (an optional one is a text box, where ``auto`` can be typed)."""
    return field.kind in ("int", "float") and value is not None and not field.optional


def _control(field: Field, value: Any, channels: Sequence[str], /) -> str:
    """The kind of control that shows ``field``: ``choice``, ``checkbox``, ``number`` or ``text``."""
    if _is_channel_field(field, channels) or field.kind == "choice" or (field.kind == "bool" and field.optional):
        return "choice"  # an optional boolean: auto is a value too, which a checkbox cannot show
    if field.kind == "bool":
        return "checkbox"
    return "number" if _is_numeric_field(field, value) else "text"


def _channel_text(field: Field, value: Any, names: Sequence[str], named: bool, /) -> str:
    """A channel text field's text (a list of channels, or one channel of a one-channel image): ``value`` (counted
    from 0, as a config file and the pipelines count) as a macro gives it, counted from 1 (names stay)."""
    from labelfree.imagej.fields import channel_keys, channels_from_config, channels_to_imagej

    keys = channel_keys([field])
    read = channels_from_config({field.key: value}, keys, list(names), named=named)
    return value_text(field, channels_to_imagej(read, keys)[field.key])


def _typed_channels(field: Field, text: str, names: Sequence[str], named: bool, /) -> Any:
    """The channels typed in a channel text field, read as a macro reads them (from 1; names stay): 0-based."""
    from labelfree.imagej.fields import channel_keys, channels_from_imagej

    keys = channel_keys([field])
    return channels_from_imagej({field.key: coerce_value(field, text)}, keys, list(names), named=named)[field.key]


def _choice_label(index: int, name: str, /) -> str:
    """A channel's item in a dialog's choice, counted from 1 as ImageJ's C slider counts: ``2: GFP``, or ``2`` for
    a channel with the default name ``C1`` (0-based, as the pipelines name unnamed channels)."""
    return str(index + 1) if name == f"C{index}" else f"{index + 1}: {name}"


def _channel_item(field: Field, value: Any, channels: Sequence[str], items: Sequence[str], /) -> str:
    """The item of a channel choice that ``value`` selects: None the first item, else the channel of that
    index or name, as the pipelines read it (:func:`labelfree.image.channel_index`: names exact, indices
    from 0, negative ones from the end); the items count from 1, as ImageJ does (:func:`_choice_label`).

    Raises
    ------
    ConfigError
        ``value`` is no channel of the image: the dialog would otherwise show (and return) another one.
    """
    from labelfree.errors import InputError
    from labelfree.image import parse_channel

    if value is None:
        return items[0]
    try:
        channel = parse_channel(value)
    except InputError:
        channel = None
    if isinstance(channel, str) and channel in channels:
        index = list(channels).index(channel)
        return _choice_label(index, channels[index])
    if isinstance(channel, int) and -len(channels) <= channel < len(channels):
        index = channel % len(channels)
        return _choice_label(index, channels[index])
    listed = ", ".join(f"{i}: {name}" for i, name in enumerate(channels))  # indices as the value was given
    raise ConfigError(f"{field.key}={value!r} is no channel of this image; give the index or the name of one of "
                      f"its channels ({listed}){', or auto' if items[0] == 'auto' else ''}.")


def help_html(title: str, summary: str, fields: Sequence[Field], /) -> str:
    """The Help button's page: every field with its meaning, default and range."""
    rows = []
    for f in fields:
        default = value_text(f, f.default)
        extra = f" ({f.range})" if f.range else ""
        rows.append(f"<tr><td><b>{html.escape(f.key)}</b></td><td>{html.escape(f.help)}{html.escape(extra)} "
                    f"<i>Default: {html.escape(str(default))}.</i></td></tr>")
    return (f"<html><h3>{html.escape(title)}</h3><p>{html.escape(summary)}</p>"
            "<p>Every key below also works in a macro: run(\"" + html.escape(title) + "\", \"key=value ...\").</p>"
            f"<table>{''.join(rows)}</table></html>")


def _add_text_field(gd: Any, field: Field, text: str, /) -> None:
    """A text box showing ``text``; one of a file or folder path (:func:`labelfree.imagej.fields.path_kind`) with
    ImageJ's Browse button. The box, its label (the macro key) and what it reads and records are a text field's.

    ``addDirectoryField`` shows a folder with a separator added (``/data/run`` as ``/data/run/``); the box shows
    ``text`` as given, so that a page left as shown reads (and records) the value it was given."""
    from labelfree.imagej.fields import path_kind

    kind = path_kind(field)
    add = {"file": gd.addFileField, "folder": gd.addDirectoryField}.get(kind, gd.addStringField)
    add(field.key, text, 20)
    boxes = gd.getStringFields()
    if kind and boxes is not None and str(boxes.lastElement().getText()) != text:
        boxes.lastElement().setText(text)
        gd.setDefaultString(boxes.size() - 1, text)


def build_page(title: str, fields: Sequence[Field], /, *, values: dict[str, Any], channels: Sequence[str] = (),
               names: Sequence[str] | None = None, named: bool = False, message: str = "", help_page: str = "",
               advanced: bool | None = None, plain: Collection[str] = ()) -> Any:
    """A GenericDialog with one control per field (not shown yet); ``advanced`` adds the checkbox.

    Channel fields show channels as ImageJ counts them, from 1: ``channel`` / ``*_channel`` fields of an image
    of several channels as a choice (``channels``, its channel names), lists of channels (``cell_channels``,
    Fusion's ``channels``) and the channel of a one-channel image as text, ``names`` (default ``channels``;
    an RGB image's are R, G and B) and ``named`` saying how a macro reads them
    (:func:`labelfree.imagej.fields.channels_from_imagej`). A field holding a file or folder path (``output``,
    ``config_file``, ``model_file``, ``zoo``, ...) is a text box with ImageJ's Browse button. The keys in
    ``plain`` are text boxes shown and read as typed, also those that name channels (the channel of an image the
    dialog itself names: LabelFree Segment File's, read once the image is known).
    """
    from scyjava import jimport

    from labelfree.imagej.fields import channel_keys

    GenericDialog = jimport("ij.gui.GenericDialog")
    jstr = jimport("java.lang.String")
    gd = GenericDialog(title)
    if message:
        gd.addMessage(message)
    names = channels if names is None else names
    channel_fields = {k: v for k, v in channel_keys(list(fields)).items() if k not in plain}
    for f in fields:
        value = values.get(f.key, f.default)
        control = _control(f, value, channels)
        if _is_channel_field(f, channels):
            items = (["auto"] if f.optional and f.key != "channel" else []) + [
                _choice_label(i, name) for i, name in enumerate(channels)]
            gd.addChoice(f.key, [jstr(s) for s in items], _channel_item(f, value, channels, items))
        elif control == "choice":
            choices = _AUTO_BOOL if f.kind == "bool" else f.choices
            gd.addChoice(f.key, [jstr(c) for c in choices], value_text(f, value))
        elif control == "checkbox":
            gd.addCheckbox(f.key, bool(value))
        elif control == "number":
            gd.addNumericField(f.key, float(value), 0 if f.kind == "int" else 3)
        elif f.key in channel_fields:
            gd.addStringField(f.key, _channel_text(f, value, names, named), 20)
        else:
            _add_text_field(gd, f, value_text(f, value))
    if advanced is not None:
        gd.addCheckbox(ADVANCED_KEY, bool(advanced))
    if help_page:
        gd.addHelp(help_page)
    return gd


def read_page(gd: Any, fields: Sequence[Field], /, *, values: dict[str, Any], channels: Sequence[str] = (),
              names: Sequence[str] | None = None, named: bool = False,
              advanced: bool = False, plain: Collection[str] = ()) -> tuple[dict[str, Any], bool]:
    """The typed values of a shown page (and the advanced checkbox), in field order.

    Channels are read as a macro reads them (counted from 1; :func:`build_page` says which ``names``), and
    returned counted from 0, as the pipelines take them; a channel text field left as shown keeps its value. The
    keys in ``plain`` are read as typed (:func:`build_page`).
    """
    from labelfree.imagej.fields import channel_keys

    names = channels if names is None else names
    channel_fields = {k: v for k, v in channel_keys(list(fields)).items() if k not in plain}
    out: dict[str, Any] = {}
    boxes = iter(gd.getNumericFields() or [])
    for f in fields:
        value = values.get(f.key, f.default)
        control = _control(f, value, channels)
        if _is_channel_field(f, channels):
            picked = str(gd.getNextChoice())
            out[f.key] = None if picked == "auto" else int(picked.split(":")[0]) - 1  # items count from 1
        elif control == "choice":
            out[f.key] = coerce_value(f, str(gd.getNextChoice()))
        elif control == "checkbox":
            out[f.key] = bool(gd.getNextBoolean())
        elif control == "number":
            number, box = float(gd.getNextNumber()), next(boxes, None)
            if math.isnan(number):  # GenericDialog reads text that is no number as NaN
                typed = repr(str(box.getText()).strip()) if box is not None else "a text"
                raise ConfigError(f"{f.key}={typed} is not valid; expected "
                                  f"{'an integer (a whole number)' if f.kind == 'int' else 'a number'}.")
            out[f.key] = coerce_value(f, number)
        elif f.key in channel_fields:
            typed = str(gd.getNextString())
            shown = _channel_text(f, value, names, named)
            out[f.key] = value if typed.strip() == shown.strip() else _typed_channels(f, typed, names, named)
        else:
            out[f.key] = coerce_value(f, str(gd.getNextString()))
    more = bool(gd.getNextBoolean()) if advanced else False
    return out, more


class DialogValues(dict):
    """The values of a command's dialog by key (a dict), and ``changed``: the keys of the fields whose control
    the user changed (typed in, ticked, picked), whatever the value they now show."""

    def __init__(self, values: dict[str, Any], changed: Sequence[str] = ()) -> None:
        super().__init__(values)
        self.changed = frozenset(changed)


def _control_states(gd: Any, fields: Sequence[Field], /, *, values: dict[str, Any],
                    channels: Sequence[str]) -> dict[str, str]:
    """What each field's control of page ``gd`` shows now (its text, picked item or tick), by key."""
    controls = {"number": gd.getNumericFields(), "text": gd.getStringFields(), "choice": gd.getChoices(),
                "checkbox": gd.getCheckboxes()}
    used = dict.fromkeys(controls, 0)
    states = {}
    for f in fields:
        kind = _control(f, values.get(f.key, f.default), channels)
        control = controls[kind].get(used[kind])
        used[kind] += 1
        state = control.getState() if kind == "checkbox" else (
            control.getSelectedItem() if kind == "choice" else control.getText())
        states[f.key] = str(state)
    return states


def show_dialog(
    title: str, fields: Sequence[Field], /, *, defaults: dict[str, Any], channels: Sequence[str] = (), help: str = "",
    advanced_only: bool = False, names: Sequence[str] | None = None, named: bool = False,
    plain: Collection[str] = (),
) -> DialogValues | None:
    """Show the command's dialog pages; return the typed values of every field, or None when cancelled.

    Parameters
    ----------
    title : str
        Window title (the menu command).
    fields : sequence of Field
        The command's fields; the basic ones form the first page, the others one page
        per group (at most :data:`MAX_PAGE_FIELDS` each) when "advanced options" is ticked.
    defaults : dict
        Initial values by key (channels counted from 0, as a config file counts them).
    channels : sequence of str
        Channel names of the input image: ``channel`` / ``*_channel`` fields of an image of several
        channels become choices, their items counted from 1.
    help : str
        One-line description shown at the top of the first page.
    advanced_only : bool
        Skip the first page (its fields were asked elsewhere) and show the advanced pages.
    names : sequence of str, optional
        The channels as a macro names them (default ``channels``; an RGB image's are R, G and B), for the
        channel text fields (``cell_channels=1,2``, the channel of a one-channel image): they show the
        channels counted from 1, and what is typed there is read as a macro reads it.
    named : bool
        ``names`` are the channels' own names (not ImageJ's C1..Cn).
    plain : collection of str
        Keys shown and read as typed text, also those that name channels (:func:`build_page`).

    Returns
    -------
    DialogValues or None
        Every field's value (channels counted from 0, as the pipelines take them; a channel text field left
        as shown keeps its value as given); ``changed`` lists the fields the user changed.
    """
    values = dict(defaults)
    basic, groups = split_fields(list(fields))
    page_help = help_html(title, help, [f for f in fields if f.key != "image"])
    pages = [(title, basic, help, True)]
    for group, members in groups.items():
        n_pages = -(-len(members) // MAX_PAGE_FIELDS)
        for k, start in enumerate(range(0, len(members), MAX_PAGE_FIELDS), start=1):
            name = f"{title}: {group}" + (f" ({k}/{n_pages})" if n_pages > 1 else "")
            pages.append((name, members[start:start + MAX_PAGE_FIELDS], "", None))
    if advanced_only:
        values[ADVANCED_KEY] = True
    changed: set[str] = set()
    for number, (page_title, members, message, with_checkbox) in enumerate(pages):
        if number == 0 and advanced_only:
            continue
        if number == 1 and not values.pop(ADVANCED_KEY, False):
            break
        gd = build_page(page_title, members, values=values, channels=channels, names=names, named=named,
                        message=message, help_page=page_help, advanced=False if with_checkbox else None,
                        plain=plain)
        before = _control_states(gd, members, values=values, channels=channels)
        gd.showDialog()
        if gd.wasCanceled():
            return None
        after = _control_states(gd, members, values=values, channels=channels)
        changed.update(key for key, state in after.items() if before[key] != state)
        read, more = read_page(gd, members, values=values, channels=channels, names=names, named=named,
                               advanced=bool(with_checkbox), plain=plain)
        values.update(read)
        if with_checkbox:
            values[ADVANCED_KEY] = more
    values.pop(ADVANCED_KEY, None)
    return DialogValues(values, changed)


class ImageJProgress:
    """Progress sink for :class:`labelfree._progress.Progress`: ImageJ status bar + Esc to cancel.

    Called as ``sink(done, total, message)``; ``cancelled`` is True once the user
    pressed Esc (IJ.escapePressed()).
    """

    def __init__(self, title: str) -> None:
        from scyjava import jimport

        self.title = title
        self._IJ = jimport("ij.IJ")
        self._IJ.resetEscape()

    def __call__(self, done: int, total: int, message: str) -> None:
        self._IJ.showProgress(int(done), int(max(total, 1)))
        self._IJ.showStatus(f"{self.title}: {message} ({done}/{total}); Esc cancels")

    @property
    def cancelled(self) -> bool:
        return bool(self._IJ.escapePressed())

    def finish(self, message: str) -> None:
        self._IJ.showProgress(1.0)
        self._IJ.showStatus(f"{self.title}: {message}")


@contextlib.contextmanager
def relay_log_warnings(title: str, /, *, image: str = "", origin: tuple[int, int] = (0, 0)) -> Iterator[None]:
    """Write LabelFree's logged warnings (e.g. drift's weak matches) to ImageJ's Log window while a command runs,
    their command-line advice said in ImageJ terms (:func:`labelfree.imagej.terms.in_imagej_terms`), the command
    named once (:func:`labelfree.imagej.terms.warning_line`); and the info messages the Log shows as notes of the
    run (:func:`labelfree._log_notes.register_note`: Cutter's markers added at dim nuclei, Motion's frames split at
    another cell size), each once, as ``"<title> on <image>: ..."`` (:func:`labelfree.imagej.terms.note_line`).
    ``origin`` (x, y) is that of the selection the command segmented inside: the pixel positions the messages name
    are said in the image (:func:`labelfree.imagej.terms.at_image_positions`).

    Python's own logging is left as it was: a note below the level its logger passes reaches ImageJ's Log only
    (the logger lets it through for the Log, and no further)."""
    from labelfree._log_notes import is_log_note, log_notes
    from labelfree.imagej.terms import at_image_positions, in_imagej_terms, note_line, warning_line

    said: set[str] = set()  # Cutter detects its markers twice (for the automatic scale, for the run): one note

    def to_imagej(record: logging.LogRecord) -> None:
        from scyjava import jimport

        message = at_image_positions(record.getMessage(), origin)
        if record.levelno >= logging.WARNING:
            line = warning_line(title, in_imagej_terms(message))
        elif is_log_note(record.name, message):
            line = note_line(title, image, message)
            if line in said:
                return
            said.add(line)
        else:
            return
        jimport("ij.IJ").log(line)

    class _ToImageJ(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            to_imagej(record)

    class _NotesOnly(logging.Filter):
        """On a logger of notes, raised to INFO for the run: its records below its former level go to the Log
        only."""

        def __init__(self, below: int) -> None:
            super().__init__()
            self.below = below

        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= self.below:
                return True
            to_imagej(record)
            return False

    handler = _ToImageJ(level=logging.INFO)
    root = logging.getLogger("labelfree")
    raised = []  # (logger, its level, its filter) of the loggers of notes raised to INFO for the run
    for name in log_notes():
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            raised.append((logger, logger.level, _NotesOnly(logger.getEffectiveLevel())))
            logger.addFilter(raised[-1][2])
            logger.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, level, notes_only in raised:
            logger.setLevel(level)
            logger.removeFilter(notes_only)
