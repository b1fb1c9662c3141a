"""The ``labelfree`` command line.

Each area of the package contributes its own sub-commands from a small module
with ``register(subparsers)``; the handlers they register take the parsed
arguments and return an exit code. Heavy packages (torch, cellpose, the JVM)
are imported inside handlers only, so ``labelfree --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from labelfree import __version__
from labelfree.errors import LabelFreeError

__all__ = ["main", "entry_point", "build_parser"]

#: modules that add sub-commands, in the order they appear in --help
SUBCOMMAND_MODULES = (
    "labelfree.cli_core",
    "labelfree.motion.cli",
    "labelfree.cutter.cli",
    "labelfree.fusion.cli",
    "labelfree.registration.cli",
    "labelfree.batch_cli",
    "labelfree.imagej.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelfree",
        description="Cell segmentation without hand-drawn labels: Motion, Cutter and Fusion "
        "pipelines, with outputs Fiji opens unchanged.",
    )
    parser.add_argument("--version", action="version", version=f"labelfree {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that area has no CLI in this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 failure, 2 usage error, 130 cancelled)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("labelfree: interrupted; no partial outputs were left.", file=sys.stderr)
        return 130
    except LabelFreeError as exc:
        print(f"labelfree: error: {exc}", file=sys.stderr)
        return 1


def entry_point() -> None:  # console_scripts
    sys.exit(main())
