"""Sub-commands ``labelfree fiji install FIJI_DIR``, ``labelfree fiji uninstall FIJI_DIR`` and ``labelfree doctor``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fiji`` and ``doctor`` sub-commands to the ``labelfree`` parser."""
    fiji = sub.add_parser("fiji", help="Fiji integration (install or uninstall the LabelFree menu commands)")
    fiji_sub = fiji.add_subparsers(dest="fiji_command", metavar="ACTION")
    install = fiji_sub.add_parser(
        "install",
        help="copy the LabelFree scripts to FIJI_DIR/scripts/Plugins/LabelFree and set up Python mode",
    )
    install.add_argument("fiji_dir", type=Path, metavar="FIJI_DIR", help="the Fiji.app folder")
    install.add_argument("--env-file", type=Path, default=None,
                         help="conda environment file (default: the repository's environment.yml; installed from a "
                              "wheel or an index: one made from the installed package)")
    install.add_argument("--no-python-mode", action="store_true",
                         help="do not switch Fiji's launcher to Python mode")
    install.set_defaults(func=_install)
    uninstall = fiji_sub.add_parser(
        "uninstall",
        help="remove what 'fiji install' wrote into FIJI_DIR and put back the environment file and launch mode "
             "it replaced (files changed since are kept)",
    )
    uninstall.add_argument("fiji_dir", type=Path, metavar="FIJI_DIR", help="the Fiji.app folder")
    uninstall.set_defaults(func=_uninstall)
    fiji.set_defaults(func=lambda args: (fiji.print_help(), 2)[1])

    doc = sub.add_parser("doctor", help="check Java, ImageJ/Fiji, pyimagej, torch/GPU, file formats and cellpose; "
                                        "say what to fix")
    doc.add_argument("--fiji", type=Path, default=None, help="also check this Fiji.app (its Java version)")
    doc.set_defaults(func=_doctor)


def _install(args: argparse.Namespace) -> int:
    from labelfree.imagej.install import install_fiji

    written = install_fiji(args.fiji_dir, env_file=args.env_file, python_mode=not args.no_python_mode)
    for kind, paths in written.items():
        for path in paths:
            print(f"{kind:12s} {path}")
    print("Restart Fiji; the commands are under Plugins > LabelFree. If the Python environment is not built yet, "
          "use Edit > Options > Python... > Build Python environment.")
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from labelfree.imagej.install import uninstall_fiji

    done = uninstall_fiji(args.fiji_dir)
    for kind, paths in done.items():
        for path in paths:
            print(f"{kind:12s} {path}")
    if done["kept"]:
        print("Kept: changed since the install (or not recorded by it); remove or edit them by hand if you wish.")
    print("Restart Fiji; Plugins > LabelFree is gone.")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from labelfree.imagej.doctor import doctor

    report, code = doctor(fiji=args.fiji)
    print(report)
    return code
