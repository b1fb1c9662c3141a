"""LabelFree commands in real ImageJ 1.x macros behave as ImageJ's own: ``&variables``, the table of each run, the
dialog's ``advanced_options`` key, titles without brackets, and a macro's syntax error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from channel_images import disks

from labelfree.errors import ConfigError, NoObjectsWarning
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

#: centres of the four bright disks (radius 10 px, 300 px each) of :func:`_cells`
CENTRES = [(20, 20), (20, 70), (70, 20), (70, 70)]


def _cells(seed: int = 0) -> np.ndarray:
    """A 96 x 96 uint8 image: four bright disks on a dark, noisy background."""
    return disks(CENTRES, seed, radius=10)


def _show(image: np.ndarray, title: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims="YX"), title=title)
    imp.show()
    return imp


def _objects(title: str) -> int:
    """The number of objects of the label image ``title``."""
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return int(lij.imageplus_to_xarray(imp).values.max())


def _table_rows(title: str) -> int:
    from scyjava import jimport

    window = jimport("ij.WindowManager").getWindow(title)
    assert window is not None, f"no table titled {title}"
    return int(window.getResultsTable().size())


def _pressing_ok_on_macro_errors():
    """Press OK on ImageJ's "Macro Error" dialogs while the block runs (they would wait for a user); yields the
    list of their titles."""
    from awt_events import closing_dialogs
    from scyjava import jimport

    from labelfree.imagej.jvm import cancel_open_dialogs

    GenericDialog = jimport("ij.gui.GenericDialog")
    return closing_dialogs(lambda w: isinstance(w, GenericDialog) and str(w.getTitle()) == "Macro Error",
                           lambda w: cancel_open_dialogs())


@pytest.fixture
def tables(clean):
    """Closes the table windows a test opened (the clean fixture closes images only)."""
    from scyjava import jimport

    WindowManager = jimport("ij.WindowManager")
    before = {str(t) for t in (WindowManager.getNonImageTitles() or [])}
    yield clean
    for title in {str(t) for t in (WindowManager.getNonImageTitles() or [])} - before:
        window = WindowManager.getWindow(title)
        if window is not None and hasattr(window, "getResultsTable"):
            window.close(False)


def test_macro_variables_give_values_as_in_imagejs_own_dialogs(clean):
    """Was: min_size='&sz' is not valid; expected an integer (ImageJ's Gaussian Blur reads sigma=&w)."""
    import labelfree.imagej as lij

    _show(_cells(), "my cells.tif")
    _show(np.zeros((96, 96), np.uint8), "other")  # the current image: the variable names the input
    with pytest.warns(NoObjectsWarning):  # min_size 400: no object in the first run
        out = lij.run_macro('sz = 400; m = "li"; t = "my cells.tif";'
                            'run("LabelFree Threshold", "image=[&t] method=&m min_size=&sz rois=none table=false");'
                            'big = getTitle(); sz = 100;'
                            'run("LabelFree Threshold", "image=&t min_size=&sz rois=none table=false");'
                            'return big + "|" + getTitle();')
    assert out == "my cells.tif-labels|my cells.tif-labels-1"
    assert _objects("my cells.tif-labels") == 0  # min_size 400 > the disks' 300 px
    assert _objects("my cells.tif-labels-1") == 4


def test_an_undefined_macro_variable_is_named(clean):
    import labelfree.imagej as lij

    _show(_cells(), "cells")
    with pytest.raises(ConfigError, match=r"min_size=&nope names the macro variable 'nope', which the running macro "
                                          r"does not define"):
        lij.run_macro('run("LabelFree Threshold", "min_size=&nope rois=none table=false");')
    assert "LabelFree error: min_size=&nope" in str(__import__("scyjava").jimport("ij.IJ").getLog())


def test_a_variable_outside_a_macro_is_refused(clean):
    import labelfree.imagej as lij

    imp = _show(_cells(), "cells")
    with pytest.raises(ConfigError, match=r"&sz names a macro variable, but no ImageJ macro is running"):
        lij.run_command("LabelFree Threshold", imp, options="min_size=&sz rois=none table=false")


def test_the_dialogs_advanced_options_key_is_accepted_in_a_macro(clean):
    """Was: Unknown option 'advanced_options' (the dialog's checkbox); a macro gives every key directly."""
    import labelfree.imagej as lij

    _show(_cells(), "cells")
    with pytest.warns(NoObjectsWarning):  # no object of 400 px in the first run
        out = lij.run_macro('run("LabelFree Threshold", "advanced_options min_size=400 rois=none table=false");'
                            'a = getTitle(); selectImage("cells");'
                            'run("LabelFree Threshold", "advanced_options=false min_size=20 rois=none table=false");'
                            'return a + "|" + getTitle();')
    assert out == "cells-labels|cells-labels-1"
    assert (_objects("cells-labels"), _objects("cells-labels-1")) == (0, 4)


@pytest.mark.parametrize("options, said", [
    ("image=my cells.tif rois=none", "Unknown option 'cells.tif' (did you mean image=[my cells.tif]?"),
    ("image=my cells 2.tif rois=none", "Cannot read the macro options at ' 2.tif rois=none' (did you mean "
                                        "image=[my cells 2.tif]?"),
])
def test_a_title_with_spaces_without_brackets_says_where_they_go(clean, options, said):
    import labelfree.imagej as lij

    _show(_cells(), "my cells.tif")
    with pytest.raises(ConfigError) as caught:
        lij.run_macro(f'run("LabelFree Threshold", "{options}");')
    assert said in str(caught.value)
    assert "A title or path with spaces goes in [brackets]" in str(caught.value)


def test_a_rerun_replaces_the_table_of_a_closed_label_image(tables):
    """The table takes its label image's title (<title>-labels-1: <title>-objects-1); after close("<title>-labels")
    a rerun makes <title>-labels again and replaces <title>-objects, as ImageJ replaces a table shown under the same
    title, rows and window alike (documents the rule of docs/fiji.md "Macros")."""
    from scyjava import jimport

    import labelfree.imagej as lij

    _show(_cells(), "pair")
    first = lij.run_macro('selectImage("pair"); run("LabelFree Threshold", "min_size=20 rois=none");'
                          'title = getTitle(); close(); return title;')
    assert first == "pair-labels" and _table_rows("pair-objects") == 4
    with pytest.warns(NoObjectsWarning):  # no object of 400 px
        second = lij.run_macro('selectImage("pair"); run("LabelFree Threshold", "min_size=400 rois=none");'
                               'return getTitle() + " " + Table.size("pair-objects");')
    assert second == "pair-labels 0" and _table_rows("pair-objects") == 0
    shown = jimport("ij.WindowManager").getWindow("pair-objects").getTextPanel()
    assert int(shown.getLineCount()) == 0  # the window lists what the table holds: no row of the first run
    third = lij.run_macro('selectImage("pair"); run("LabelFree Threshold", "min_size=20 rois=none");'
                          'return getTitle();')
    assert third == "pair-labels-1" and _table_rows("pair-objects-1") == 4 and int(shown.getLineCount()) == 0


def test_a_syntax_error_of_a_macro_is_in_the_macro_error(clean):
    """Was: MacroError("The macro was aborted (see the Log window):") with an empty Log: the error was lost."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.macro import MacroError

    with _pressing_ok_on_macro_errors() as shown:
        code = 'a = 1;\nx = 1/;\nprint("not reached");'
        with pytest.raises(MacroError) as caught:
            lij.run_macro(code)
    said = str(caught.value)
    found = re.fullmatch(r"The macro was aborted: (\S.*) in line (\d+)\.", said)
    assert found is not None, said
    assert found.group(1) == "Number or numeric function expected" and int(found.group(2)) in (2, 3)
    assert shown == ["Macro Error"]  # ImageJ's own dialog, as for any macro run from the menu
    assert "not reached" not in str(jimport("ij.IJ").getLog() or "")


def test_the_documented_macro_reads_the_objects_table(tables):
    """The worked example at the top of docs/fiji.md "Macros" runs, and reads the rows it says."""
    from pathlib import Path

    from scyjava import jimport

    import labelfree.imagej as lij

    docs = (Path(__file__).parents[2] / "docs" / "fiji.md").read_text(encoding="utf-8")
    example = re.search(r"<!-- macro-example -->\n```\n(.*?)```", docs, re.S)
    assert example is not None, "docs/fiji.md has no worked macro example"
    _show(_cells(), "blobs.tif")
    code = example.group(1).replace('open(path);', 'selectImage("blobs.tif");')
    with _pressing_ok_on_macro_errors():
        out = lij.run_macro(code + "\nreturn \"\" + n + \" \" + total;")
    n, total = out.split()
    assert int(n) == 4 and float(total) == pytest.approx(4 * 300, rel=0.1)
    assert jimport("ij.WindowManager").getWindow("blobs.tif-objects") is None  # closed by close(t)
    assert "t0001-L00004: area 305 at 70, 70, frame 1" in str(jimport("ij.IJ").getLog())
