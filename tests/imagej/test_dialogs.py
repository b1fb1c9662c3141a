"""The real ImageJ dialogs of every command fit a 720-px-high screen: the first page shows the
basic options, "advanced_options" opens one page per group of the others (each measured too)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from awt_events import on_edt, press, wait_until_modal

from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

MAX_HEIGHT = 720


def _dialogs_showing(prefix: str) -> list:
    from scyjava import jimport

    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    return [w for w in Window.getWindows()
            if isinstance(w, GenericDialog) and w.isShowing() and str(w.getTitle()).startswith(prefix)]


def _next_dialog(prefix: str, seen: set, timeout: float = 30.0):
    """The first showing dialog titled ``prefix...`` whose hash code is not in ``seen``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for w in _dialogs_showing(prefix):
            if int(w.hashCode()) not in seen:
                return w
        time.sleep(0.05)
    return None


def _showing_titles() -> list[str]:
    from scyjava import jimport

    return [str(w.getTitle()) for w in jimport("java.awt.Window").getWindows()
            if w.isShowing() and hasattr(w, "getTitle")]


@pytest.fixture
def stack_imp(ij):
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows, cancel_open_dialogs

    _close_imagej_windows()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 200, (2, 4, 48, 48)).astype(np.uint16)  # T, C, Y, X: every command accepts it
    imp = lij.xarray_to_imageplus(to_dataarray(data, dims="TCYX"), title="dialog-input")
    imp.show()
    jimport("ij.WindowManager").setTempCurrentImage(imp)
    yield imp
    cancel_open_dialogs()  # a failed test leaves its page open: the command's thread would wait on it
    _close_imagej_windows()


@pytest.mark.parametrize("command", ["threshold", "motion", "cutter", "fusion", "drift", "stitch"])
def test_every_dialog_page_fits_720_px(stack_imp, command):
    from scyjava import jimport

    from labelfree.imagej.fields import command_fields, command_spec, split_fields

    spec = command_spec(command)
    title = spec.menu_title
    basic, groups = split_fields(command_fields(command))
    jimport("ij.IJ").doCommand(title)  # the menu path, on ImageJ's own thread
    seen: set = set()
    gd = _next_dialog(title, seen)
    assert gd is not None, f"{title}: no dialog opened"
    heights = {title: int(gd.getHeight())}
    checkboxes = list(gd.getCheckboxes() or [])
    if groups:  # tick "advanced_options" (the last checkbox) and walk through every page
        on_edt(lambda: checkboxes[-1].setState(True))
        pages = sum(-(-len(fields) // 12) for fields in groups.values())
        for _ in range(pages):
            seen.add(int(gd.hashCode()))
            press(gd, 0)  # OK: on to the next page
            nxt = _next_dialog(f"{title}:", seen)
            assert nxt is not None, f"{title}: an advanced page did not open; showing: {_showing_titles()}"
            gd = nxt
            heights[str(gd.getTitle())] = int(gd.getHeight())
    press(gd, 1)  # Cancel: nothing runs
    assert len(heights) == 1 + (sum(-(-len(f) // 12) for f in groups.values()) if groups else 0)
    too_tall = {page: h for page, h in heights.items() if h > MAX_HEIGHT}
    assert not too_tall, f"dialog pages taller than {MAX_HEIGHT} px: {too_tall}"
    assert heights[title] >= 100  # it was laid out, not an empty frame


def test_an_open_dialog_is_cancelled_when_the_session_ends(stack_imp):
    """A dialog still open when Java stops (the hook _close_imagej_windows) is cancelled as its
    Cancel button would: the command's thread ends and nothing runs (else the JVM's shutdown
    waits on that thread for ever)."""
    from scyjava import jimport

    from labelfree.imagej.fields import command_spec
    from labelfree.imagej.jvm import _close_imagej_windows

    WindowManager = jimport("ij.WindowManager")
    title = command_spec("threshold").menu_title
    before = set(WindowManager.getIDList() or [])
    jimport("ij.IJ").doCommand(title)  # ImageJ's Executer thread, named after the command
    gd = _next_dialog(title, set())
    assert gd is not None, f"{title}: no dialog opened"
    wait_until_modal()
    threads = [t for t in jimport("java.lang.Thread").getAllStackTraces().keySet() if str(t.getName()) == title]
    assert len(threads) == 1
    thread = threads[0]
    _close_imagej_windows()
    assert not gd.isShowing() and gd.wasCanceled()
    thread.join(30_000)
    assert not thread.isAlive(), "the command's thread still waits on its dialog"
    assert set(WindowManager.getIDList() or []) <= before  # cancelled: no label image was made
