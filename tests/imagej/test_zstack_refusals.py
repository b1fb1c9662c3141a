"""A z-stack given to a LabelFree command whose pipeline segments 2-D planes (Motion, Cutter, Fusion) is refused
before any dialog, as a still image given to Motion is: with an empty option string a macro used to wait on the
dialog, and the refusal came only after OK."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from labelfree.errors import DimensionError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

#: what ImageJ's menus make of a z-stack (the end of every refusal; the pipelines' own words, in ImageJ's terms)
MENUS = ("Segment one plane or a projection: pick a plane (Image > Duplicate... with one slice) or make a projection "
         "(Image > Stacks > Z Project...), then run the command on that image.")


def _spheres(n_t: int) -> np.ndarray:
    """``n_t`` frames of a 5-plane z-stack (32 x 32 px) with a bright ball in planes 1 to 3."""
    zz, yy, xx = np.mgrid[:5, :32, :32]
    ball = ((zz - 2) * 4) ** 2 + (yy - 16) ** 2 + (xx - 16) ** 2 < 64
    stack = np.where(ball, 200, 10).astype(np.uint8)
    return np.stack([stack] * n_t)


def _macro_without_dialog(macro: str, title: str) -> tuple[dict, int]:
    """Run ``macro`` in a thread; cancel (and count) any dialog titled ``title`` that opens meanwhile."""
    from scyjava import jimport

    import labelfree.imagej as lij

    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    outcome: dict = {}

    def go():
        try:
            outcome["value"] = lij.run_macro(macro)
        except BaseException as exc:  # noqa: BLE001 - asserted in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    deadline, dialogs = time.time() + 120, 0
    while thread.is_alive() and time.time() < deadline:
        for w in Window.getWindows():
            if isinstance(w, GenericDialog) and w.isShowing() and str(w.getTitle()) == title:
                from labelfree.imagej.jvm import cancel_open_dialogs

                dialogs += cancel_open_dialogs()
        time.sleep(0.05)
    thread.join(5)
    assert not thread.is_alive(), "the macro did not end"
    return outcome, dialogs


@pytest.mark.parametrize(("command", "n_t", "said"), [
    ("Motion", 3, "LabelFree Motion segments 2-D planes (one per frame); zstack is a z-stack of 5 slices x 3 frames. "
                  "LabelFree Threshold segments z-stacks."),
    ("Cutter", 1, "LabelFree Cutter segments 2-D planes (one per frame); zstack is a z-stack of 5 slices. "
                  "LabelFree Threshold segments z-stacks."),
])
def test_a_z_stack_is_refused_before_the_dialog_with_imagejs_menus(clean, command, n_t, said):
    """Was: the dialog opened (a macro with "" options waited on it) and the stack was refused only after OK."""
    from scyjava import jimport

    import labelfree.imagej as lij

    dims = "TZYX" if n_t > 1 else "ZYX"
    stack = _spheres(n_t) if n_t > 1 else _spheres(1)[0]
    lij.xarray_to_imageplus(to_dataarray(stack, dims=dims), title="zstack").show()
    outcome, dialogs = _macro_without_dialog(f'selectImage("zstack"); run("LabelFree {command}", "");',
                                             f"LabelFree {command}")
    assert dialogs == 0, f"the {command} dialog opened before the refusal"
    assert isinstance(outcome.get("error"), DimensionError), outcome
    text = str(outcome["error"])
    assert text.startswith(said + " " + MENUS), text
    if n_t == 1:  # planes that are time points: ImageJ's Properties make them frames
        assert "If the planes are really time points, set Image > Properties (Frames instead of Slices)." in text
    assert "Python" not in text and "--dims" not in text
    assert f"LabelFree error: {text}" in str(jimport("ij.IJ").getLog())
    assert jimport("ij.WindowManager").getImage("zstack-labels") is None  # nothing ran


def test_threshold_says_in_the_log_that_a_plain_stack_was_one_volume(clean):
    """An image sequence opens as slices; Threshold segments slices as one volume, and said only "threshold 19":
    the Log now says it was one volume and how to make the slices frames if they are time points."""
    from scyjava import jimport

    import labelfree.imagej as lij

    IJ = jimport("ij.IJ")
    IJ.log("\\Clear")
    lij.xarray_to_imageplus(to_dataarray(_spheres(1)[0], dims="ZYX"), title="seq").show()
    lij.run_macro('selectImage("seq"); run("LabelFree Threshold", "rois=none table=false");')
    log = str(IJ.getLog())
    assert "LabelFree Threshold on seq: segmented as one volume of 5 slices" in log
    assert "set Image > Properties (Slices 1, Frames 5)" in log
