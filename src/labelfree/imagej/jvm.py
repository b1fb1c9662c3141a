"""Start (or reuse) the Java VM with ImageJ 1.x or a Fiji installation.

Two ways in:

* ``start()`` without a Fiji folder starts ImageJ 1.x from ``ij.jar`` (found via
  ``LABELFREE_IJ_JAR``, then ``/usr/share/java/ij.jar``) through scyjava/JPype, and
  registers the LabelFree menu commands so that ``run("LabelFree Threshold", ...)``
  works from the real macro interpreter;
* ``start(FIJI_DIR)`` opens the ImageJ2 gateway of that Fiji with pyimagej.

Java is never downloaded unless ``fetch_java=True``; the Java version is checked
against what the Fiji's jars need before the JVM starts (a JVM cannot be restarted).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from labelfree._deps import require
from labelfree.errors import FijiError, JavaError
from labelfree.imagej.java_env import (  # noqa: F401 - re-exported
    DEFAULT_IJ_JAR,
    _display_available,
    find_ij_jar,
    find_java,
    java_version,
    required_java_version,
)
from labelfree.imagej import _java

__all__ = ["Session", "start", "session", "find_ij_jar", "find_java", "java_version", "required_java_version"]

log = logging.getLogger(__name__)

_SESSION: "Session | None" = None


@dataclasses.dataclass
class Session:
    """What :func:`start` returns: the running ImageJ and how it was started.

    Attributes
    ----------
    mode : {"ij1", "imagej2", "attached"}
        ImageJ 1.x from ij.jar, a Fiji ImageJ2 gateway, or a JVM that was already running.
    headless : bool
        Whether AWT runs headless (no ROI Manager, no windows).
    gateway : object or None
        The pyimagej gateway (``mode == "imagej2"``).
    imagej_version, java_version : str
        As reported by the running JVM.
    commands : list of str
        ImageJ 1.x menu commands registered by LabelFree (e.g. "LabelFree Threshold").
    """

    mode: str
    headless: bool
    gateway: Any = None
    imagej_version: str = ""
    java_version: str = ""
    commands: list[str] = dataclasses.field(default_factory=list)

    def run_macro(self, code: str, /, *, args: str = "") -> str:
        """Run ImageJ macro code; LabelFree command errors are raised as Python exceptions."""
        from labelfree.imagej.macro import run_macro

        return run_macro(code, args=args)


def session() -> Session:
    """The running session; :class:`JavaError` when :func:`start` was not called."""
    if _SESSION is None:
        raise JavaError("ImageJ is not running; call labelfree.imagej.start() first.")
    return _SESSION


def start(
    fiji: str | Path | None = None,
    /,
    *,
    headless: bool | None = None,
    fetch_java: bool = False,
    max_heap: str | None = None,
    register_commands: bool = True,
) -> Session:
    """Start ImageJ in this process (once) and return the :class:`Session`.

    Parameters
    ----------
    fiji : path, optional
        A Fiji.app folder: use pyimagej's ImageJ2 gateway of that Fiji. Without it,
        ImageJ 1.x is started from ij.jar.
    headless : bool, optional
        Run AWT headless (no windows, no ROI Manager; file outputs still work).
        Default: headless when no display is available.
    fetch_java : bool
        Allow scyjava to download a JDK when none fits. Off by default.
    max_heap : str, optional
        Java heap limit such as ``"8g"``.
    register_commands : bool
        Register the "LabelFree ..." ImageJ 1.x commands (ij.jar mode only).

    Returns
    -------
    Session

    Raises
    ------
    JavaError
        No Java, no ij.jar, wrong Java version, or a GUI asked for without a display.
    FijiError
        ``fiji`` is not a usable Fiji installation.
    """
    global _SESSION
    if _SESSION is not None:
        if fiji is not None and _SESSION.mode == "ij1":  # one JVM per process: Fiji can no longer be loaded
            raise FijiError(
                f"ImageJ 1.x (ij.jar) already runs in this process, so Fiji at {fiji} cannot be started: Java loads "
                "once per process. Call labelfree.imagej.start(fiji) first, before anything else uses ImageJ, in a "
                "new Python process."
            )
        return _SESSION
    scyjava = require("scyjava")
    if headless is None:
        headless = not _display_available()
    elif not headless and not _display_available():
        raise JavaError(
            "headless=False needs a display (the ROI Manager and image windows are AWT windows) but "
            "DISPLAY is not set. Run under xvfb-run (xvfb-run -a python ...) or use headless=True "
            "and the file outputs (labels TIFF, ROI zip, CSV)."
        )
    if scyjava.jvm_started():
        _SESSION = _attach(headless=scyjava.is_jvm_headless())
        return _ready(_SESSION)
    scyjava.config.set_java_constraints(fetch="auto" if fetch_java else "never")
    if max_heap:
        scyjava.config.add_option(f"-Xmx{max_heap}")
    if fiji is not None:
        _SESSION = _start_fiji(Path(fiji), headless=headless, fetch_java=fetch_java)
        return _ready(_SESSION)
    jar = find_ij_jar()
    version = java_version() if not fetch_java else 0
    if version and version < 8:
        raise JavaError(f"ImageJ 1.x needs Java 8 or newer; found Java {version}. Install a newer JDK.")
    classes = _java.command_classes(jar) if register_commands else None
    scyjava.config.add_classpath(str(jar))
    if classes is not None:
        scyjava.config.add_classpath(str(classes))
    if headless:
        scyjava.config.add_option("-Djava.awt.headless=true")
    try:
        scyjava.start_jvm()
    except Exception as exc:  # noqa: BLE001 - JPype raises plain OSError/RuntimeError
        raise JavaError(f"The Java VM did not start: {exc}. Run `labelfree doctor` for a check-up.") from exc
    if not headless:
        # Image windows keep non-daemon threads (StackWindow's slice selector) that make the
        # JVM shutdown wait forever ("Python hangs on quit"): close them properly first.
        scyjava.when_jvm_stops(_close_imagej_windows)
    _SESSION = _attach(headless=headless, create_gui=not headless)
    if classes is not None:
        from labelfree.imagej.macro import register_commands as _register

        _SESSION.commands = _register()
    return _ready(_SESSION)


def _ready(session: Session) -> Session:
    """Register what the bridge offers the rest of the package once ImageJ runs (Fiji backends)."""
    from labelfree.imagej.registration import register_backends

    _single_threaded_blas()
    register_backends()
    return session


def _single_threaded_blas() -> None:
    """Keep NumPy's OpenBLAS on one thread while the JVM shares the process.

    Once the JVM runs, a NumPy call that OpenBLAS spreads over its threads (measured:
    ``np.linalg.solve`` of a 6 x 6 system with 1,961 right-hand sides) ended the whole
    process with a segmentation fault (OpenBLAS 0.3.27 from scipy-openblas, OpenJDK 21); with
    one BLAS thread it runs. The pipelines' own threads are not BLAS threads, so they keep
    their parallelism.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it, nothing to limit here
        return
    threadpool_limits(limits=1, user_api="blas")


def _close_imagej_windows() -> None:
    """Close image windows without save prompts, and cancel dialogs still open, so that the JVM
    can shut down.

    A dialog left open (a command's dialog when the session ends) blocks the command's thread in
    ``showDialog`` and keeps AWT alive: the JVM's shutdown then waits for ever. Pressing its
    Cancel lets the command end as a cancelled one.
    """
    from scyjava import jimport

    WindowManager = jimport("ij.WindowManager")
    for image_id in list(WindowManager.getIDList() or []):
        imp = WindowManager.getImage(image_id)
        if imp is not None:
            imp.changes = False
            imp.close()
    cancel_open_dialogs()


def cancel_open_dialogs() -> int:
    """Cancel every ImageJ dialog that is showing (as its Cancel button would); returns how many."""
    from scyjava import jimport

    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    ActionEvent = jimport("java.awt.event.ActionEvent")
    cancelled = 0
    for window in list(Window.getWindows()):
        if not (isinstance(window, GenericDialog) and window.isShowing()):
            continue
        buttons = list(window.getButtons() or [])
        if len(buttons) > 1 and buttons[1] is not None:  # (OK, Cancel, ...): a user's Cancel
            window.actionPerformed(ActionEvent(buttons[1], ActionEvent.ACTION_PERFORMED, "Cancel"))
        else:
            window.dispose()
        cancelled += 1
    return cancelled


def _attach(*, headless: bool, create_gui: bool = False) -> Session:
    """Describe the running JVM; create a hidden ImageJ 1.x instance for GUI use."""
    from scyjava import jimport

    try:
        IJ = jimport("ij.IJ")
    except Exception as exc:  # noqa: BLE001
        raise JavaError(
            "A Java VM is already running in this process but ImageJ (ij.IJ) is not on its class path; "
            "start LabelFree's ImageJ before anything else starts Java."
        ) from exc
    if create_gui and IJ.getInstance() is None:
        ImageJ = jimport("ij.ImageJ")
        ImageJ(ImageJ.NO_SHOW)
    System = jimport("java.lang.System")
    mode = "attached" if _SESSION is None and not create_gui and not headless else "ij1"
    return Session(
        mode=mode,
        headless=bool(headless),
        imagej_version=str(IJ.getFullVersion()),
        java_version=str(System.getProperty("java.version")),
    )


def _start_fiji(fiji: Path, *, headless: bool, fetch_java: bool) -> Session:
    if not fiji.is_dir():
        raise FijiError(f"Fiji folder {fiji} does not exist. Give the path of Fiji.app.")
    needed = required_java_version(fiji)
    if not fetch_java:
        have = java_version()
        if have < needed:
            raise JavaError(
                f"This Fiji ({fiji}) needs Java {needed} but the Java found ({find_java()}) is Java {have}. "
                f"Install Java {needed} (e.g. conda install -c conda-forge openjdk={needed}) and set "
                "JAVA_HOME, or pass fetch_java=True to let scyjava download one."
            )
    else:
        import scyjava

        scyjava.config.set_java_constraints(fetch="auto", version=str(needed))
    imagej = require("imagej")
    try:
        gateway = imagej.init(str(fiji), mode="headless" if headless else "interactive")
    except Exception as exc:  # noqa: BLE001
        raise FijiError(f"pyimagej could not start the Fiji at {fiji}: {exc}") from exc
    from scyjava import jimport

    System = jimport("java.lang.System")
    return Session(
        mode="imagej2",
        headless=headless,
        gateway=gateway,
        imagej_version=str(gateway.getVersion()),
        java_version=str(System.getProperty("java.version")),
    )
