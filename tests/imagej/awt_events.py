"""Clicks on ImageJ dialogs from a test, delivered as a user's would be: on AWT's event thread."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator


def on_edt(fn) -> None:
    """Run ``fn()`` on AWT's event thread and wait for it, after the events already queued (a
    dialog that was just shown is then done showing)."""
    import jpype
    from scyjava import jimport

    @jpype.JImplements("java.lang.Runnable")
    class _Run:
        @jpype.JOverride
        def run(self):
            fn()

    jimport("java.awt.EventQueue").invokeAndWait(_Run())


def empty_roi_manager(rm) -> None:
    """Empty the ROI Manager as LabelFree does (on the event thread while it is shown: Swing painting its list
    while another thread empties it prints an ArrayIndexOutOfBoundsException now and then)."""
    from scyjava import jimport

    jimport("labelfree.LabelFreeRois").open(rm, None, True)


def wait_until_modal(timeout: float = 30.0) -> None:
    """Wait until a thread blocks in a modal dialog's event loop (``WaitDispatchSupport.enter``).

    A modal dialog shown off AWT's thread is showing a moment before its ``show`` enters that
    loop. Hidden in that moment (a click no user is fast enough for), the dialog closes but
    ``show`` never returns: the command's thread then waits for ever, and so does the JVM's
    shutdown. A test therefore presses a button only once the loop is entered.
    """
    import time

    from scyjava import jimport

    Thread, State = jimport("java.lang.Thread"), jimport("java.lang.Thread$State")
    deadline = time.time() + timeout
    while time.time() < deadline:
        for thread, frames in Thread.getAllStackTraces().items():
            if thread.getState() in (State.WAITING, State.TIMED_WAITING) and any(
                    str(f.getClassName()) == "java.awt.WaitDispatchSupport" and str(f.getMethodName()) == "enter"
                    for f in frames):
                return
        time.sleep(0.02)
    raise TimeoutError("no thread entered a modal dialog's event loop")


def press(gd, which: int) -> None:
    """Press button ``which`` (0 = OK, 1 = Cancel) of a shown GenericDialog."""
    from scyjava import jimport

    if gd.isModal():
        wait_until_modal()
    ActionEvent = jimport("java.awt.event.ActionEvent")
    button = gd.getButtons()[which]
    on_edt(lambda: gd.actionPerformed(ActionEvent(button, ActionEvent.ACTION_PERFORMED, str(button.getLabel()))))


def recorded_line(recorder, timeout: float = 30.0) -> str:
    """The macro line the ImageJ ``recorder`` (a ``Recorder`` window) records for a command that is
    running on another thread, once it is there (the recorder's whole text after ``timeout``)."""
    import time

    deadline = time.time() + timeout
    while "run(" not in str(recorder.getText()) and time.time() < deadline:
        time.sleep(0.05)
    return str(recorder.getText()).strip()


def wait_for_dialog(title: str, timeout: float = 30.0):
    """The GenericDialog titled ``title`` once it shows (AssertionError after ``timeout`` seconds)."""
    import time

    from scyjava import jimport

    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    deadline = time.time() + timeout
    while time.time() < deadline:
        for w in Window.getWindows():
            if isinstance(w, GenericDialog) and w.isShowing() and str(w.getTitle()) == title:
                return w
        time.sleep(0.05)
    raise AssertionError(f"dialog {title!r} did not open")


def in_macro_thread(fn, options: str, *, timeout: float = 120.0):
    """``fn()``'s result, run as ImageJ runs a macro's command: on a thread named ``Run$_...`` with the macro's
    ``options`` readable with ``Macro.getOptions()``; what it raises is raised here."""
    import threading

    from scyjava import jimport

    out: dict = {}

    def body():
        Thread, Macro = jimport("java.lang.Thread"), jimport("ij.Macro")
        Thread.currentThread().setName("Run$_labelfree-test")
        Macro.setOptions(options)
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            out["error"] = exc
        finally:
            Macro.setOptions(None)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout)
    if "error" in out:
        raise out["error"]
    return out["result"]


@contextlib.contextmanager
def closing_dialogs(matches: Callable[[object], bool], close: Callable[[object], None]) -> Iterator[list[str]]:
    """While the block runs, close every showing window for which ``matches(window)`` holds with ``close(window)``
    (a dialog would wait for a user), looking every 0.2 s from a thread of its own; yields the list of their
    titles."""
    from scyjava import jimport

    Window = jimport("java.awt.Window")
    done, shown = threading.Event(), []

    def watch():
        import jpype

        jpype.java.lang.Thread.attach()
        while not done.is_set():
            for w in Window.getWindows():
                if w.isShowing() and matches(w):
                    shown.append(str(w.getTitle()))
                    close(w)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield shown
    finally:
        done.set()
        watcher.join(10)
