"""The ``<title>-objects`` table of the LabelFree commands as an ImageJ user reads it: frame and z counted
from 1, each row labelled with the name of its ROI in the ROI Manager, and ROI names unique there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.measure import measure_objects


def _squares(n_t: int, n_z: int, seed: int = 0) -> np.ndarray:
    """(T, Z, Y, X) uint16 planes with 1 + t + z bright 8 x 8 squares each (so every plane has its own count)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (n_t, n_z, 48, 72)).astype(np.uint16)
    for t in range(n_t):
        for z in range(n_z):
            for i in range(1 + t + z):
                y, x = 6 + 14 * (i % 3), 6 + 20 * (i // 3) + 2 * t
                img[t, z, y:y + 8, x:x + 8] += 1000
    return img


# --- without ImageJ -----------------------------------------------------------------------------------------------

def test_run_suffix_is_empty_without_a_clash_and_else_the_first_free_one_for_the_whole_run():
    from labelfree.imagej.rois import run_suffix

    names = ["t0001-L00001", "t0001-L00002", "t0002-L00001"]
    assert run_suffix(names, set()) == ""
    assert run_suffix(names, {"t0003-L00001", "Label 1"}) == ""
    assert run_suffix(names, {"t0002-L00001"}) == "-1"
    assert run_suffix(names, {"t0001-L00002", "t0001-L00002-1", "t0001-L00001-2"}) == "-3"


def test_the_table_shown_in_imagej_counts_from_one_and_names_each_row_by_its_roi():
    lab = to_dataarray(np.zeros((2, 3, 16, 16), np.uint16), dims="TZYX")
    lab.data[1, 2, 5:9, 5:9] = 7
    lab.data[0, 0, 1:3, 1:3] = 3
    lab.data[0, 1, 10:12, 10:12] = 3
    table = measure_objects(lab, per_plane=True)  # the table of planes (a z-stack's volumes: test_measure_volumes)
    from labelfree.imagej.tables import objects_table_for_imagej

    shown = objects_table_for_imagej(table, has_z=True)
    assert list(shown.columns) == ["Label", *table.columns]
    assert shown["Label"].tolist() == ["t0001-z001-L00003", "t0001-z002-L00003", "t0002-z003-L00007"]
    assert shown["frame"].tolist() == [1, 1, 2] and shown["z"].tolist() == [1, 2, 3]
    assert table["frame"].tolist() == [0, 0, 1] and table["z"].tolist() == [0, 1, 2]  # the input is left 0-based
    pd.testing.assert_frame_equal(shown.drop(columns=["Label", "frame", "z"]), table.drop(columns=["frame", "z"]))
    assert shown.attrs["units"] == table.attrs["units"]

    movie = measure_objects(to_dataarray(lab.data[:, 0], dims="TYX"))
    assert objects_table_for_imagej(movie, has_z=False)["Label"].tolist() == ["t0001-L00003"]
    assert objects_table_for_imagej(movie, has_z=False)[["frame", "z"]].values.tolist() == [[1, 1]]
    given = objects_table_for_imagej(movie, has_z=False, names=["t0001-L00003-2"])
    assert given["Label"].tolist() == ["t0001-L00003-2"]
    with pytest.raises(InputError, match=r"row 1 is t0001-L00003 but its name is t0001-L00004"):
        objects_table_for_imagej(movie, has_z=False, names=["t0001-L00004"])
    with pytest.raises(InputError, match=r"2 names for 1 rows"):
        objects_table_for_imagej(movie, has_z=False, names=["t0001-L00003", "t0001-L00004"])
    empty = objects_table_for_imagej(measure_objects(np.zeros((4, 4), np.uint8)), has_z=False)
    assert len(empty) == 0 and list(empty.columns)[:4] == ["Label", "label", "frame", "z"]


# --- in ImageJ ----------------------------------------------------------------------------------------------------

@pytest.fixture
def clean(ij):
    """No image open, an empty ROI Manager; yields the ROI Manager."""
    from scyjava import jimport

    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    rm = jimport("ij.plugin.frame.RoiManager").getRoiManager()
    rm.reset()
    yield rm
    rm.reset()
    _close_imagej_windows()


def _show(image: np.ndarray, title: str, dims: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims=dims), title=title)
    imp.show()
    return imp


def _shown_table(title: str) -> pd.DataFrame:
    """The table ImageJ holds under ``title``, read back as ImageJ has it (row labels as ``Label``)."""
    from scyjava import jimport

    import labelfree.imagej as lij

    rt = jimport("ij.measure.ResultsTable").getResultsTable(title)
    assert rt is not None, f"no table titled {title}"
    labels = [rt.getLabel(i) for i in range(int(rt.size()))]
    assert all(label is not None for label in labels), f"rows of {title} without a row label: {labels}"
    return lij.resultstable_to_table(rt)


def _rois(rm) -> dict[str, object]:
    return {str(r.getName()): r for r in rm.getRoisAsArray()}


def _check_rows_name_their_rois(table: pd.DataFrame, rm, *, hyperstack: bool) -> None:
    """Every row's label names one ROI of the manager, of the row's label id, on the row's frame (and z)."""
    rois = _rois(rm)
    assert len(rois) == int(rm.getCount()), "ROI names are not unique in the ROI Manager"
    for name, label, frame, z in table[["Label", "label", "frame", "z"]].itertuples(index=False):
        roi = rois[name]
        assert int(rm.getIndex(name)) >= 0 and str(roi.getProperty("label")) == str(int(label))
        if hyperstack:
            assert (int(roi.getTPosition()), int(roi.getZPosition())) == (frame, z), name
        elif table["z"].max() > 1:  # a z stack: the ROI's stack position is its z plane
            assert (int(roi.getPosition()), frame) == (z, 1), name
        else:  # a movie: the ROI's stack position is its frame
            assert (int(roi.getPosition()), z) == (frame, 1), name


@pytest.mark.jvm
def test_a_macro_finds_each_rows_roi_and_frame_from_the_table(clean):
    """Was: frame and z from 0 (``Stack.setFrame(Table.get("frame", i))`` one frame early) and no row
    labels, so no row could be matched to its ROI."""
    import labelfree.imagej as lij

    movie = _squares(3, 1)[:, 0]
    _show(movie, "movie", "TYX")
    result = lij.run_command("LabelFree Threshold", None, options="method=otsu min_size=5 rois=replace")
    table = _shown_table("movie-objects")
    assert len(table) == 1 + 2 + 3 and table["frame"].tolist() == [1, 2, 2, 3, 3, 3]
    assert table["z"].tolist() == [1] * 6
    assert table["Label"].tolist() == ["t0001-L00001", "t0002-L00001", "t0002-L00002",
                                       "t0003-L00001", "t0003-L00002", "t0003-L00003"]
    _check_rows_name_their_rois(table, clean, hyperstack=False)
    # CommandResult.table is the table as ImageJ shows it, exactly
    assert list(result.table.columns) == list(table.columns)
    pd.testing.assert_frame_equal(result.table.reset_index(drop=True), table, check_dtype=False)
    # what a macro does with it: select the row's ROI by its name, go to the row's frame, read the label there
    out = lij.run_macro(
        'selectImage("movie-labels"); t = "movie-objects"; out = "";'
        'if (indexOf(Table.headings(t), "Label") < 0) out = "no Label column";'
        'else for (i = 0; i < Table.size(t); i++) {'
        '  index = RoiManager.getIndex(Table.getString("Label", i, t));'
        '  if (index < 0) out = out + "no ROI for row " + i + ";";'
        '  else {'
        '    roiManager("select", index); Stack.getPosition(c, z, f); on = f;'
        '    Stack.setFrame(Table.get("frame", i, t)); Stack.getPosition(c, z, f);'
        '    out = out + on + "/" + f + "=" + getValue("Max") + ";";'
        '  }'
        '}'
        'return out;')
    expected = "".join(f"{f:.0f}/{f:.0f}={lab:.0f};" for f, lab in table[["frame", "label"]].itertuples(index=False))
    assert out == expected


@pytest.mark.jvm
@pytest.mark.parametrize("dims", ["ZYX", "TZYX"])
def test_z_stack_rows_are_labelled_with_their_rois_names_and_planes(clean, dims):
    import labelfree.imagej as lij

    image = _squares(2, 3)
    image = image[0] if dims == "ZYX" else image
    _show(image, "stack", dims)
    result = lij.run_command("LabelFree Threshold", None, options="method=otsu min_size=5 rois=replace")
    table = _shown_table("stack-objects")  # one row per 3-D object: square i of a frame t lies in planes i - t ...
    counts = [(t, z, 1 + t + z) for t in range(image.shape[0] if dims == "TZYX" else 1) for z in range(3)]
    rois = [f"t{t + 1:04d}-z{z + 1:03d}-L{k:05d}" for t, z, n in counts for k in range(1, n + 1)]
    objects = [(t, k) for t in range(image.shape[0] if dims == "TZYX" else 1) for k in range(1, 4 + t)]
    assert table["Label"].tolist() == [f"t{t + 1:04d}-L{k:05d}" for t, k in objects]
    assert table["frame"].tolist() == [t + 1 for t, _ in objects] and table["z_last"].tolist() == [3] * len(objects)
    assert sorted(table["z_first"].tolist()) == sorted(max(1, k - t) for t, k in objects)
    assert sorted(_rois(clean)) == sorted(rois) and result.n_rois == len(rois)
    for name, label, first, last in table[["Label", "label", "z_first", "z_last"]].itertuples(index=False):
        planes = [r for r in rois if r[:5] == name[:5] and r.endswith(name[5:])]  # the row's ROIs: its planes
        assert [int(r[7:10]) for r in planes] == list(range(int(first), int(last) + 1)), name
        assert {str(_rois(clean)[r].getProperty("label")) for r in planes} == {str(int(label))}


@pytest.mark.jvm
def test_without_rois_the_rows_get_the_names_the_rois_would_have(clean):
    import labelfree.imagej as lij

    _show(_squares(2, 1)[:, 0], "movie", "TYX")
    result = lij.run_command("LabelFree Threshold", None, options="method=otsu min_size=5 rois=none")
    assert result.n_rois == 0 and int(clean.getCount()) == 0
    table = _shown_table("movie-objects")
    assert table["Label"].tolist() == ["t0001-L00001", "t0002-L00001", "t0002-L00002"]
    assert table["frame"].tolist() == [1, 2, 2]
    lij.run_macro('selectImage("movie"); run("LabelFree Threshold", "method=otsu min_size=5 rois=append");')
    assert _shown_table("movie-objects-1")["Label"].tolist() == table["Label"].tolist()
    _check_rows_name_their_rois(_shown_table("movie-objects-1"), clean, hyperstack=False)


@pytest.mark.jvm
def test_appending_twice_to_the_roi_manager_gives_unique_names_that_the_tables_carry(clean):
    """Was: two runs with rois=append (two images of one title) gave every ROI name twice in the ROI Manager,
    so RoiManager.getIndex(name) found the first run's ROI only."""
    from scyjava import jimport

    import labelfree.imagej as lij

    first = _show(_squares(2, 1, seed=1)[:, 0], "same", "TYX")
    second = _show(_squares(2, 1, seed=2)[:, 0], "same", "TYX")
    assert int(jimport("ij.WindowManager").getImageCount()) == 2
    clean.addRoi(jimport("ij.gui.Roi")(1, 1, 5, 5))  # the user's own ROI stays
    own = str(clean.getName(0))
    runs = [lij.run_command("LabelFree Threshold", imp, options="method=otsu min_size=5 rois=append")
            for imp in (first, second, first)]
    assert [r.n_rois for r in runs] == [3, 3, 3] and int(clean.getCount()) == 1 + 9
    names = [str(clean.getName(i)) for i in range(int(clean.getCount()))]
    assert len(set(names)) == len(names), names
    plain = ["t0001-L00001", "t0002-L00001", "t0002-L00002"]
    assert names == [own, *plain, *(f"{n}-1" for n in plain), *(f"{n}-2" for n in plain)]
    for title, run, suffix in zip(["same-objects", "same-objects-1", "same-objects-2"], runs, ["", "-1", "-2"]):
        table = _shown_table(title)
        assert table["Label"].tolist() == [f"{n}{suffix}" for n in plain], title
        assert run.table["Label"].tolist() == table["Label"].tolist()
        _check_rows_name_their_rois(table, clean, hyperstack=False)
    lij.run_command("LabelFree Threshold", second, options="method=otsu min_size=5 rois=replace")
    assert [str(clean.getName(i)) for i in range(int(clean.getCount()))] == plain  # replaced: no suffix
    assert _shown_table("same-objects-3")["Label"].tolist() == plain


@pytest.mark.jvm
def test_files_written_by_output_stay_counted_from_zero(clean, tmp_path):
    import labelfree.imagej as lij

    _show(_squares(2, 1)[:, 0], "movie", "TYX")
    result = lij.run_command("LabelFree Threshold", None,
                             options=f"method=otsu min_size=5 rois=replace output=[{tmp_path}]")
    written = pd.read_csv(result.files["table"])
    assert written["frame"].tolist() == [0, 1, 1] and "Label" not in written.columns
    assert result.table["frame"].tolist() == [1, 2, 2]
    assert _shown_table("movie-objects")["frame"].tolist() == [1, 2, 2]


@pytest.mark.jvm
def test_inside_fiji_without_the_java_helper_appended_names_are_unique_too(clean, monkeypatch):
    """Fiji's class path lacks LabelFree's compiled helper: ROIs are then added one by one, with the same names."""
    from fiji_class_path import hide_java_helper

    from labelfree.imagej.rois import add_labels_to_roimanager

    hide_java_helper(monkeypatch)
    lab = to_dataarray(np.zeros((2, 8, 8), np.uint16), dims="TYX")
    lab.data[0, 1:3, 1:3], lab.data[1, 4:6, 4:6] = 2, 5
    assert add_labels_to_roimanager(lab, rm=clean) == ["t0001-L00002", "t0002-L00005"]
    assert add_labels_to_roimanager(lab, rm=clean) == ["t0001-L00002-1", "t0002-L00005-1"]
    assert [str(clean.getName(i)) for i in range(int(clean.getCount()))] == [
        "t0001-L00002", "t0002-L00005", "t0001-L00002-1", "t0002-L00005-1"]
    assert [int(r.getPosition()) for r in clean.getRoisAsArray()] == [1, 2, 1, 2]
    assert add_labels_to_roimanager(lab, rm=clean, replace=True) == ["t0001-L00002", "t0002-L00005"]
    assert int(clean.getCount()) == 2
