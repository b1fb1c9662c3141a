"""The ``labelfree`` command line.

One shape for every pipeline (``labelfree <pipeline> INPUT -o OUT [--config F] [--set K=V]
[--channel C] [--progress | --no-progress] ...``), generated from the registry
(:mod:`labelfree.pipelines`); area-specific verbs (``fusion train``, ``zoo``, ``drift``,
``stitch``, ``fiji``, ``doctor``, ``eval``, ``demo``, ``batch``) come from their areas'
modules. Heavy packages (torch, cellpose, the JVM) are imported inside handlers only.

Errors a user can cause are :class:`labelfree.errors.LabelFreeError`: they are printed
as one line (``-v`` adds the traceback), as are a full disk or a read-only folder met
while writing the outputs, and warnings (``labelfree: warning: ...``); exit codes are
0 ok, 1 failure (the run refused its input, options or output path, and says why), 2 usage error,
70 internal error (a bug: an unexpected exception, with its traceback), 130 interrupted by Ctrl-C
(SIGINT), 143 stopped by SIGTERM (``kill``, a cluster job cancelled or out of time, a workflow manager
stopping its jobs: handled as a Ctrl-C, so that nothing half-written is left), 141 the reader of the
output left early (SIGPIPE).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from labelfree.errors import ConfigError, LabelFreeError

__all__ = [
    "main",
    "entry_point",
    "build_parser",
    "add_run_options",
    "add_config_options",
    "config_from_args",
    "progress_from_args",
    "parse_set",
    "path_argument",
    "file_argument",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
]

#: exit codes of the ``labelfree`` command (see the module's docstring and docs/cli.md)
EXIT_OK = 0
EXIT_FAILED = 1  # a LabelFreeError: the input, an option's value or the output path was refused; said in one line
EXIT_USAGE = 2  # argparse's: an unknown option, a missing or malformed argument
EXIT_BUG = 70  # sysexits.h's EX_SOFTWARE: an unexpected exception, a bug to report (the traceback is printed)
EXIT_INTERRUPTED = 128 + 2  # SIGINT (Ctrl-C)
EXIT_TERMINATED = 128 + 15  # SIGTERM

#: modules that add sub-commands of their own (besides one command per registered pipeline)
SUBCOMMAND_MODULES = (
    "labelfree.cli_core",
    "labelfree.evaluation.cli",
    "labelfree.registration.cli",
    "labelfree.batch_cli",
    "labelfree.imagej.cli",
)


def parse_set(text: str, /) -> tuple[str, str]:
    """``KEY=VALUE`` of ``--set`` (the value stays text until the config's field types it)."""
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value


def path_argument(what: str, give: str, /) -> Callable[[str], Path]:
    """An argparse ``type`` that refuses an empty path (``-o "$OUT"`` with ``OUT`` unset), which ``Path``
    would read as the current folder; ``what`` names the argument and ``give`` what it takes, for the message."""

    def path(text: str) -> Path:
        if not text:
            raise argparse.ArgumentTypeError(f"{what} is empty: give {give} (an empty argument usually comes "
                                             "from an unset shell variable)")
        return Path(text)

    return path


def file_argument(what: str, give: str, /) -> Callable[[str], Path]:
    """An argparse ``type`` for a file path: ``path_argument``'s, and a path that ends with a separator (a
    folder, as ``-o results/`` says) is refused; ``Path`` would drop the slash and write a file of that name."""
    plain = path_argument(what, give)

    def path(text: str) -> Path:
        if text.endswith(("/", os.sep)) or (os.altsep and text.endswith(os.altsep)):
            raise argparse.ArgumentTypeError(f"{what} {text!r} ends with '/', so it names a folder; give {give} "
                                             f"(for a file in that folder: {text.rstrip('/' + os.sep)}/NAME)")
        return plain(text)

    return path


class _GivenOnce(argparse.Action):
    """An option that may be given once: argparse keeps the last of repeated values without a word."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001 - argparse's signature
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} was given twice ({getattr(namespace, self.dest)}, {values}); give one "
                         "config file, and change single options with --set KEY=VALUE")
        setattr(namespace, self.dest, values)


def add_config_options(p: argparse.ArgumentParser, /) -> None:
    """``--config FILE`` (once) and repeatable ``--set KEY=VALUE``."""
    p.add_argument("--config", "-c", metavar="FILE", action=_GivenOnce,
                   help="config file (JSON or YAML) of the pipeline's options")
    p.add_argument("--set", dest="settings", action="append", type=parse_set, default=[], metavar="KEY=VALUE",
                   help="set one option (repeatable; see docs/options.md or the Fiji dialog for the keys)")


def add_progress_options(p: argparse.ArgumentParser, /, *,
                         progress: str = "show a progress bar (default: when the terminal shows one)",
                         no_progress: str = "no progress bar", quiet: str = "print nothing but errors") -> None:
    """``--progress`` / ``--no-progress`` (default: a bar when stderr is a terminal) and ``-q``; the help
    texts are a command's own where its progress is shown otherwise."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None, help=progress)
    group.add_argument("--no-progress", dest="progress", action="store_false", help=no_progress)
    p.add_argument("-q", "--quiet", action="store_true", help=quiet)


def add_threads_option(p: argparse.ArgumentParser, /) -> None:
    """``--threads N``: N threads, as given (see :func:`labelfree._threads.thread_count`)."""
    p.add_argument("--threads", type=int, metavar="N",
                   help="use N threads, as given even above the cores (torch's sums, so a network's labels, depend "
                        "on the count); default: $LABELFREE_THREADS or the cores this process may use, and for a "
                        "pipeline command given a run's provenance as --config, the count that run recorded")


class _JoinedChannels(argparse.Action):
    """``--channel`` given more than once lists every value, as ``--channel A,B`` does (the last
    one alone was kept)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, values if before in (None, "") else f"{before},{values}")


def add_run_options(p: argparse.ArgumentParser, /, *, channel_help: str) -> None:
    """The options every segmenting command shares (pipelines and batch)."""
    p.add_argument("-o", "--out", type=path_argument("the output folder (-o)", "a folder"), required=True,
                   metavar="DIR",
                   help="output folder")
    add_config_options(p)
    p.add_argument("--channel", metavar="C", action=_JoinedChannels, help=channel_help)
    p.add_argument("--overwrite", action="store_true",
                   help="replace earlier results of the same name (default: refuse)")
    add_threads_option(p)
    add_progress_options(p)


def progress_from_args(args: argparse.Namespace, /) -> bool:
    """Whether to show a progress bar."""
    if getattr(args, "quiet", False):
        return False
    if args.progress is None:
        return sys.stderr.isatty()
    return bool(args.progress)


def config_from_args(config_class: type, args: argparse.Namespace, /) -> Any:
    """The config from ``--config`` and ``--set`` (typed by the fields, validated once)."""
    from labelfree._config import unknown_key_hint
    from labelfree.options import coerce_value, config_fields

    cfg = config_class.coerce(args.config) if getattr(args, "config", None) else config_class()
    settings = getattr(args, "settings", None) or []
    if not settings:
        return cfg
    fields = {f.key: f for f in config_fields(config_class)}
    changes = {}
    for key, text in settings:
        field = fields.get(key.lower())
        if field is None and key.lower() in getattr(config_class, "moved_keys", {}):
            raise ConfigError(f"{key.lower()} is not a setting any more: {config_class.moved_keys[key.lower()]}.")
        if field is None:
            other = _fiji_only_field(config_class, key.lower())
            if other is not None:
                raise ConfigError(f"{other.key!r} is a key of the Fiji dialog and macros, not a --set option; on the "
                                  f"command line: {other.cli}.")
            hint = unknown_key_hint(config_class, key.lower())
            raise ConfigError(f"Unknown option {key!r}{hint} for --set; valid keys are: {', '.join(fields)}.")
        changes[field.key] = coerce_value(field, text)
    return cfg.replace(**changes)


def _fiji_only_field(config_class: type, key: str, /) -> Any:
    """The Fiji/macro-only field ``key`` of the command whose config is ``config_class`` (None: no such key)."""
    from labelfree.imagej.fields import command_fields
    from labelfree.pipelines import pipelines, tools

    for spec in (*pipelines().values(), *tools().values()):
        if spec.config_class is config_class:
            return next((f for f in command_fields(spec.name) if f.key == key and f.cli), None)
    return None


class _Version(argparse.Action):
    """``--version``: ``labelfree 0.1.0``, with the git commit of a source checkout and ``+ local changes``
    (:func:`labelfree._reproduce.version_line`), looked up when asked for, not for every command."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        from labelfree._reproduce import version_line

        parser._print_message(version_line() + "\n", sys.stdout)  # as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelfree",
        description="Cell segmentation without hand-drawn labels: Motion, Cutter and Fusion "
        "pipelines, with outputs Fiji opens unchanged.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the version (and the git commit of a source checkout) and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output and tracebacks (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _mark_parsers(parser)
    _describe_commands(parser)
    _verbose_after_the_command(parser)
    return parser


def _verbose_after_the_command(parser: argparse.ArgumentParser, /) -> None:
    """Let ``-v`` come after the command too (``labelfree threshold x.tif -o out -v``, as a script appends it), not
    only before it: every sub-command takes it (given on both sides, the count after the command is used)."""
    for action in parser._actions:  # argparse offers no public way to the sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "-v" not in child._option_string_actions:
                    child.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                                       help="more log output and tracebacks (-vv: debug), as before the command")
                _verbose_after_the_command(child)


def _describe_commands(parser: argparse.ArgumentParser, /) -> None:
    """Give every sub-command without a description of its own its line of the parent's command list, so that
    ``labelfree demo --help`` (``doctor``, ``fiji install``, ...) starts by saying what the command does."""
    for action in parser._actions:  # argparse offers no public way to the sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            lines = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                line = str(lines.get(name) or "").strip()
                if not child.description and line:
                    child.description = line[0].upper() + line[1:] + ("" if line.endswith(".") else ".")
                _describe_commands(child)


def _mark_parsers(parser: argparse.ArgumentParser, /) -> None:
    """Let every (sub-)command's parser put itself into the arguments it parses (as ``_parser``), so
    that an error found after parsing (unrecognized arguments) shows that command's usage."""
    parser.set_defaults(_parser=parser)
    for action in parser._actions:  # argparse offers no public way to the sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _mark_parsers(child)


def _parse(parser: argparse.ArgumentParser, argv: list[str], /) -> argparse.Namespace:
    """Parse ``argv``; arguments the command does not know are a usage error of that command (its usage
    line, exit code 2), not of ``labelfree`` as a whole (argparse's own parse_args reports them so)."""
    args, unknown = parser.parse_known_args(argv)
    chosen = vars(args).pop("_parser", parser)
    explain = vars(args).pop("explain_extra_words", None)
    if unknown:
        words = [a for a in unknown if not a.startswith("-")]
        if explain is not None and words and len(words) == len(unknown):  # an unknown option is named as such
            chosen.error(explain(args, words))
        chosen.error(f"unrecognized arguments: {' '.join(unknown)}")
    for action in chosen._actions:  # a positional of text (batch's INPUT): '' would mean the current folder
        value = getattr(args, action.dest, None) if not action.option_strings else None
        if value == "" or (isinstance(value, list) and "" in value):
            label = action.metavar or action.dest
            chosen.error(f"argument {label}: the {label} is empty (expected: {action.help}); an empty argument "
                         "usually comes from an unset shell variable")
    return args


def _verb_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]] | None:
    """A pipeline's own verbs (``labelfree fusion train ...``): their parser and argv, or None."""
    words = [a for a in argv if not a.startswith("-")]
    if len(words) < 2:
        return None
    from labelfree.pipelines import pipelines

    spec = pipelines().get(words[0])
    if spec is None or not spec.verbs:
        return None
    module = importlib.import_module(spec.verbs)
    if words[1] not in module.VERBS:
        return None
    parser = argparse.ArgumentParser(prog=f"labelfree {spec.name}", description=spec.summary)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output and tracebacks")
    module.register_verbs(parser.add_subparsers(dest="verb", metavar="VERB", required=True))
    _mark_parsers(parser)
    _describe_commands(parser)
    rest = list(argv)
    rest.remove(words[0])
    return parser, rest


class _LogLines(logging.Formatter):
    """Log records as the command line prints its messages: a warning is ``labelfree: warning: ...``,
    as Python warnings are; with ``-v`` every record names its level and logger."""

    def __init__(self, verbose: int) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.WARNING and not self.verbose:
            return f"labelfree: warning: {record.getMessage()}"
        return super().format(record)


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_LogLines(verbose))
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)], handlers=[handler])
    if verbose < 2:  # readers' and schedulers' own chatter about files LabelFree reports itself
        for name in ("tifffile", "distributed", "numcodecs"):
            logging.getLogger(name).setLevel(logging.ERROR if verbose == 0 else logging.WARNING)
        if verbose == 0:  # a damaged file is one LabelFree error (CorruptFileError), not also tifffile's lines
            logging.getLogger("tifffile").setLevel(logging.CRITICAL)


class _NotedWarnings(logging.Handler):
    """On the ``labelfree`` logger while a command runs: the text of each warning it logs, kept in ``noted``."""

    def __init__(self, noted: dict[str, None]) -> None:
        super().__init__(logging.WARNING)
        self.noted = noted

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a message that cannot be formatted is the logger's to report
            self.noted.setdefault(record.getMessage(), None)


@contextlib.contextmanager
def _warnings_as_lines(verbose: int, noted: dict[str, None] | None = None) -> Iterator[None]:
    """Show warnings as ``labelfree: warning: <message>`` lines (as ``eval`` prints its own), not with
    Python's file, line and source; ``-v`` adds where it was raised. The previous display is restored.

    ``noted`` (an ordered set) receives the text of every warning shown, as a batch run records an input's
    (:mod:`labelfree.batch.messages`): ``Category: message`` for a Python warning, the message for one that
    LabelFree logs; a command's run records them in its provenance (``warnings``)."""
    from labelfree._warning_hooks import warning_text

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if noted is not None:
            noted.setdefault(warning_text(message, category), None)
        where = f" ({category.__name__}, {filename}:{lineno})" if verbose else ""
        with contextlib.suppress(OSError, ValueError):  # stderr gone: a warning is not worth a failure
            print(f"labelfree: warning: {message}{where}", file=sys.stderr if file is None else file)

    previous = warnings.showwarning
    warnings.showwarning = show
    handler = _NotedWarnings(noted) if noted is not None else None
    if handler is not None:
        logging.getLogger("labelfree").addHandler(handler)
    try:
        yield
    finally:
        warnings.showwarning = previous
        if handler is not None:
            logging.getLogger("labelfree").removeHandler(handler)


#: errors of the disk or of permissions met while writing outputs: one line, not a traceback
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM}


def _write_error_message(exc: OSError, /, *, output: Any = None, option: str = "-o",
                         choose: str = "an output (-o)") -> str | None:
    """The one-line message of an OSError met while writing (a full disk, a read-only or forbidden folder,
    numpy's "Not enough free space to write N bytes", numpy's or tifffile's "N requested and M written"); None
    for any other OSError (a bug: keep its traceback).
    ``output`` is the command's ``-o``: the advice to choose another ``-o`` is given only for a path in it (or for
    an error that names no file where the temporary folder is on the same disk); a path elsewhere is named with
    what it is (the temporary folder, LabelFree's cache) and the setting that moves it. A command whose output is
    given otherwise (``fusion train --zoo``) names its own ``option`` and what to ``choose``."""
    from labelfree._disk_full import disk_full_reason

    # a full disk that sets no errno: numpy's and tifffile's own messages (see labelfree._disk_full)
    short = disk_full_reason(exc) if exc.errno is None else None
    if exc.errno not in _WRITE_ERRNOS and not short:
        return None
    from labelfree.io.atomic import PART_SUFFIX

    full = "Free space on that disk (or raise your quota)"
    if exc.filename is not None:  # the temporary ".<target>.<random>.part" an atomic write was writing: the target
        path = Path(os.fsdecode(exc.filename))
        if path.name.startswith(".") and path.name.endswith(PART_SUFFIX) and path.name.count(".") >= 3:
            path = path.with_name(path.name[1:].rsplit(".", 2)[0])
        what, place = f"cannot write {path}", _write_place(path, output)
    else:
        what, place = _unnamed_write_place(output, option=option)
    if place is None:
        move = f"choose {choose} on another disk"
        todo = f"Choose {choose} in a folder you may write to"
    elif place == ("either", "TMPDIR"):
        move = f"choose {choose} or a TMPDIR on another disk"
        todo = f"Choose {choose} and a TMPDIR in folders you may write to"
    elif place:
        what = f"{what} ({place[0]})"
        move = f"set {place[1]} to a folder on another disk"
        todo = f"Set {place[1]} to a folder you may write to"
    else:
        move, todo = "make room there", f"Check that you may write to {path.parent}"
    if short:
        return f"{what}: {short}. Free space on it or {move}, then run the command again."
    if exc.errno == errno.EFBIG:  # also a file system's largest file (FAT32: 4 GB) or the shell's `ulimit -f`
        todo = (f"{full} or {move}; a file this large also needs a file system that takes it (not FAT32) and a "
                "file size limit (ulimit -f) that allows it")
    elif exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        todo = f"{full} or {move}"
    return f"{what}: {exc.strerror or exc} (errno {exc.errno}). {todo}, then run the command again."


def _write_place(path: Path, output: Any) -> tuple[str, str] | tuple[()] | None:
    """Where ``path`` lies: None in the output folder ``output`` (or when there is none), ``(what, setting)``
    in the temporary folder or LabelFree's cache, ``()`` elsewhere."""
    import tempfile

    from labelfree._cache import cache_root

    def inside(folder: Any) -> bool:
        try:
            base = Path(folder).expanduser().absolute()
            return path.absolute() == base or base in path.absolute().parents
        except (OSError, ValueError, RuntimeError):
            return False

    if output is None or inside(output):
        return None
    if inside(cache_root()):
        return ("LabelFree's cache, LABELFREE_CACHE_DIR", "LABELFREE_CACHE_DIR")
    if inside(tempfile.gettempdir()):
        return ("the temporary folder, TMPDIR", "TMPDIR")
    return ()


def _unnamed_write_place(output: Any, *, option: str = "-o") -> tuple[str, tuple[str, str] | None]:
    """The message's start and place (see :func:`_write_place`) for an error that names no file: the outputs,
    unless the temporary folder is on another disk than them (then either may be the one that failed)."""
    import tempfile

    if output is None:
        return "cannot write the outputs", None
    tmp = tempfile.gettempdir()
    folder = Path(output).expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        same = os.stat(folder).st_dev == os.stat(tmp).st_dev
    except OSError:
        same = True
    if same:
        return f"cannot write the outputs ({option} {output})", None
    return f"cannot write the outputs ({option} {output}) or a temporary file in {tmp} (TMPDIR)", ("either", "TMPDIR")


@contextlib.contextmanager
def _sigterm_as_ctrl_c(received: list[int] | None = None) -> Iterator[None]:
    """SIGTERM (``kill``, ``scancel``, a batch job's time limit) stops the command as a Ctrl-C does, so
    that it cleans up: no half-written outputs, and a batch run writes its summary with the
    unfinished inputs ``cancelled`` (Python's default for SIGTERM ends the process at once).
    ``received`` gets the signal's number, for the exit code (:func:`_stop_code`)."""

    def interrupt(signum: int, frame: Any) -> None:
        if received is not None:
            received.append(signum)
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = None
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
        previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_code(received: list[int], /) -> int:
    """The exit code of a command stopped by a signal: 128 + its number, as a shell reports a process the signal
    ended (143 for SIGTERM, which a workflow manager's retry rules look for); 130 for Ctrl-C."""
    return 128 + received[0] if received else EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 failure, 2 usage error, 130 interrupted by Ctrl-C, 143 stopped
    by SIGTERM, 141 the reader of stdout left). An unexpected exception (a bug) is raised to the caller; the
    ``labelfree`` command (:func:`entry_point`) exits with 70 for it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs = _verb_parser([a for a in argv if a not in ("-v", "-vv", "--verbose")])
    if verbs is not None:
        parser, rest = verbs
        head = [a for a in argv if a in ("-v", "-vv", "--verbose")]
        args = _parse(parser, head + rest)
    else:
        parser = build_parser()
        args = _parse(parser, argv)
    verbose = int(getattr(args, "verbose", 0) or 0)
    _configure_logging(verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from labelfree._reproduce import command_line

    args.argv = argv  # the command line, for the provenance of a run (batch jobs: command_line's)
    args.warnings_shown = {}  # the warnings the command showed, for the provenance of a run
    received: list[int] = []  # SIGTERM, when it stopped the command
    try:
        with _sigterm_as_ctrl_c(received), _warnings_as_lines(verbose, args.warnings_shown), command_line(argv):
            code = int(args.func(args) or 0)
        # a command that handles the interruption itself (batch: its summary, then 130) was stopped by SIGTERM
        return _stop_code(received) if received and code == EXIT_INTERRUPTED else code
    except KeyboardInterrupt:
        how = f" ({signal.Signals(received[0]).name})" if received else ""
        with contextlib.suppress(OSError, ValueError):  # stderr gone: the exit code still says it
            print(f"labelfree: interrupted{how}; no partial outputs were left.", file=sys.stderr)
        return _stop_code(received)
    except BrokenPipeError:  # the reader left early (labelfree options | head): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
        os.close(devnull)
        return 141  # 128 + SIGPIPE
    except LabelFreeError as exc:
        from labelfree.errors import Cancelled

        if verbose:
            traceback.print_exc()
        print(f"labelfree: {'' if isinstance(exc, Cancelled) else 'error: '}{exc}", file=sys.stderr)
        return _stop_code(received) if isinstance(exc, Cancelled) else EXIT_FAILED
    except MemoryError:
        if verbose:
            traceback.print_exc()
        print("labelfree: error: not enough memory for this image with these options. Check options that size "
              "buffers (windows, sigmas, upsampling), process it in tiles (--tile, where a pipeline allows it) or use "
              "a machine with more memory.", file=sys.stderr)
        return 1
    except OSError as exc:  # after LabelFreeError: OutputError is an OSError that says what to do itself
        named = getattr(args, "output_option", None)  # (option, its dest, what to choose): an output not -o
        message = (_write_error_message(exc, output=getattr(args, named[1], None), option=named[0], choose=named[2])
                   if named else
                   _write_error_message(exc, output=getattr(args, "output", None) or getattr(args, "out", None)))
        if message is None:
            raise
        if verbose:
            traceback.print_exc()
        print(f"labelfree: error: {message}", file=sys.stderr)
        return 1


def entry_point() -> None:
    """The ``labelfree`` command (console_scripts, ``python -m labelfree``): :func:`main`'s exit code, and 70 for an
    unexpected exception (a bug), after its traceback: a workflow can tell it from a refused input (1), which a
    rerun with the same input repeats, while a crash is worth a report."""
    try:
        code = main()
    except Exception:  # noqa: BLE001 - any escaping exception is a bug: traceback, then its own exit code
        with contextlib.suppress(OSError, ValueError):  # stderr gone: the exit code still says it
            traceback.print_exc()
            print(f"labelfree: internal error (exit code {EXIT_BUG}): the traceback above is a bug in LabelFree, "
                  "not a problem of your input; please report it with the command line and that traceback "
                  "(`labelfree --version` names the version).", file=sys.stderr)
        code = EXIT_BUG
    sys.exit(code)
