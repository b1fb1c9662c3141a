"""A folder of images the ImageJ way: Process > Batch > Macro (ImageJ's own ``BatchProcessor``, driven through its
dialog) and a macro loop, with the code of docs/fiji.md "A folder of images" run as written, on real crops."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from labelfree.errors import InputError

pytestmark = pytest.mark.jvm

DOCS = Path(__file__).parents[2] / "docs" / "fiji.md"
SIM = ("ctc", "Fluo-N2DH-SIM+", "01")


def _documented(marker: str) -> str:
    """The code block that follows ``<!-- marker -->`` in docs/fiji.md."""
    found = re.search(rf"<!-- {marker} -->\n```\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert found is not None, f"docs/fiji.md has no {marker} example"
    return found.group(1)


def _crop(shared_data: Path, frame: int, size: int = 256) -> np.ndarray:
    import tifffile

    return tifffile.imread(shared_data.joinpath(*SIM, f"t{frame:03d}.tif"))[:size, :size]


def _expected(image: np.ndarray, pipeline: str = "threshold", **config) -> np.ndarray:
    """The labels LabelFree gives ``image`` (YX, or TYX for Motion) from Python, with ``config``."""
    from labelfree.image import to_dataarray
    from labelfree.run import run_pipeline

    dims = "YX" if image.ndim == 2 else "TYX"
    return np.asarray(run_pipeline(pipeline, to_dataarray(image, dims=dims), config=config).values)


def _write(folder: Path, images: dict[str, np.ndarray]) -> None:
    import tifffile

    folder.mkdir()
    for name, image in images.items():
        if image.ndim == 3:
            tifffile.imwrite(folder / name, image, imagej=True, metadata={"axes": "TYX"})
        else:
            tifffile.imwrite(folder / name, image)


def _read(path: Path) -> tuple[np.ndarray, str]:
    """The pixels of a TIFF ImageJ saved and its Info property."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return tif.asarray(), str((tif.imagej_metadata or {}).get("Info", ""))


def _windows() -> set[str]:
    from scyjava import jimport

    return {str(t) for t in (jimport("ij.WindowManager").getNonImageTitles() or [])}


@pytest.fixture
def restored(clean, tmp_path):
    """ImageJ's batch folders (Prefs) and macros folder put back after the test; the macros folder, where the
    batch processor keeps its code (BatchMacro.ijm), is a temporary one meanwhile (a bare ij.jar has none and
    writes ``nullBatchMacro.ijm`` into the working folder)."""
    from scyjava import jimport

    Prefs, Menus = jimport("ij.Prefs"), jimport("ij.Menus")
    field = Menus.class_.getDeclaredField("macrosPath")
    field.setAccessible(True)
    before = (Prefs.get("batch.input", ""), Prefs.get("batch.output", ""), field.get(None))
    macros = tmp_path / "macros"
    macros.mkdir()
    field.set(None, f"{macros}/")
    yield clean
    Prefs.set("batch.input", before[0])
    Prefs.set("batch.output", before[1])
    field.set(None, before[2])


def _batch_threads() -> list:
    from scyjava import jimport

    return [t for t, frames in jimport("java.lang.Thread").getAllStackTraces().items()
            if any(str(f.getClassName()) == "ij.plugin.BatchProcessor" for f in frames)]


def _batch_macro(code: str, inputs: Path | None, outputs: Path, *, output_format: str = "TIFF",
                 menu: str = "Macro... ") -> None:
    """Process > Batch > Macro (``menu``: the command of another item of Process > Batch) as a user runs it: the
    menu command, its dialog filled in (input and output folders, output format, the code), Process pressed;
    returns when the batch is done."""
    from awt_events import on_edt, wait_for_dialog
    from scyjava import jimport

    IJ, Prefs, ActionEvent = jimport("ij.IJ"), jimport("ij.Prefs"), jimport("java.awt.event.ActionEvent")
    Prefs.set("batch.input", str(inputs or ""))  # the dialog's folder fields show the last folders used
    Prefs.set("batch.output", str(outputs))
    IJ.doCommand(menu)  # the menu item (Process > Batch > Macro...), on a thread of its own
    gd = wait_for_dialog("Batch Process")

    def fill():
        gd.getTextArea1().setText(code)
        gd.getChoices().get(0).select(output_format)

    on_edt(fill)
    assert str(gd.getChoices().get(0).getSelectedItem()) == output_format
    process = gd.getButtons()[0]
    assert str(process.getLabel()) == "Process"
    on_edt(lambda: gd.actionPerformed(ActionEvent(process, ActionEvent.ACTION_PERFORMED, "Process")))
    deadline = time.time() + 300
    while (gd.isShowing() or _batch_threads()) and time.time() < deadline:
        time.sleep(0.2)
    assert not _batch_threads(), "Process > Batch > Macro did not finish in 300 s"


def _closing_dialogs():
    """Close any dialog but the batch processor's while the block runs (one would wait for a user); yields their
    titles."""
    from awt_events import closing_dialogs
    from scyjava import jimport

    Dialog = jimport("java.awt.Dialog")
    return closing_dialogs(lambda w: isinstance(w, Dialog) and str(w.getTitle()) != "Batch Process",
                           lambda w: w.dispose())


def test_batch_macro_saves_each_images_labels(restored, shared_data, tmp_path):
    """The documented Batch Macro code saves every input's labels, bit for bit those of Python, 16-bit, under the
    input's name, and leaves nothing open."""
    from scyjava import jimport

    images = {f"sim t{i:03d}.tif": _crop(shared_data, i) for i in range(4)}
    _write(tmp_path / "in", images)
    (tmp_path / "out").mkdir()
    windows = _windows()
    with _closing_dialogs() as dialogs:
        _batch_macro(_documented("batch-macro"), tmp_path / "in", tmp_path / "out")
    assert dialogs == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(images)
    for name, image in images.items():
        saved, info = _read(tmp_path / "out" / name)
        expected = _expected(image, min_size=30)
        assert saved.dtype == np.uint16 and expected.max() >= 3
        np.testing.assert_array_equal(saved, expected)
        assert info.startswith("labelfree: ") and '"pipeline": "threshold"' in info
    assert int(jimport("ij.WindowManager").getImageCount()) == 0
    assert _windows() - windows <= {"Log"}  # no table of any image
    assert int(restored.getCount()) == 0  # the ROI Manager window (the clean fixture's) got no ROI


@pytest.mark.parametrize("command", ["threshold", "motion"])
def test_batch_macro_saves_nothing_for_an_image_the_command_fails_on(restored, shared_data, tmp_path, command):
    """Was: ImageJ saved the unsegmented input (a constant image; for Motion a single image) under its name, among
    the label images, as if it were its result. Now nothing is saved for it, the Log names it, and the batch goes
    on."""
    from scyjava import jimport

    if command == "threshold":
        images = {"a_first.tif": _crop(shared_data, 0), "b_empty.tif": np.zeros((64, 64), np.uint16),
                  "c_third.tif": _crop(shared_data, 1)}
        code, failing, said = 'run("LabelFree Threshold", "min_size=30 rois=none table=false");', "b_empty.tif", \
            "LabelFree error: b_empty.tif is constant (every pixel is 0)"
    else:
        movie = np.stack([_crop(shared_data, i, 128) for i in range(4)])
        images = {"a_movie.tif": movie, "b_still.tif": _crop(shared_data, 0, 128), "c_movie.tif": movie[::-1]}
        code, failing, said = 'run("LabelFree Motion", "rois=none table=false");', "b_still.tif", \
            "LabelFree error: LabelFree Motion needs a time-lapse (two frames or more); b_still.tif has 1 frame(s)."
    _write(tmp_path / "in", images)
    (tmp_path / "out").mkdir()
    with _closing_dialogs() as dialogs:
        _batch_macro(code, tmp_path / "in", tmp_path / "out")
    assert dialogs == []  # no dialog waits for a user in the middle of a batch
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(set(images) - {failing})
    for name in set(images) - {failing}:
        saved, info = _read(tmp_path / "out" / name)
        np.testing.assert_array_equal(saved, _expected(images[name], command, **(
            {"min_size": 30} if command == "threshold" else {})))
        assert f'"pipeline": "{command}"' in info
    logged = str(jimport("ij.IJ").getLog())
    assert said in logged
    assert (f"Process > Batch > Macro: {failing} failed, so nothing was saved for it (not the unsegmented input); "
            "the batch goes on with the next image.") in logged
    assert int(jimport("ij.WindowManager").getImageCount()) == 0


def test_batch_virtual_stack_saves_each_slices_labels(restored, shared_data, tmp_path):
    """Was: Process > Batch > Virtual Stack saved every slice unchanged (it saves the slice image it gives the
    code, and the labels are a new image); now each slice's labels, and nothing for a slice that fails."""
    import labelfree.imagej as lij
    from labelfree.image import to_dataarray
    from scyjava import jimport

    # 8-bit slices: the slice image saved becomes the 16-bit labels
    planes = [(_crop(shared_data, k, 128) // 2).astype(np.uint8) for k in (0, 1)]
    planes.insert(1, np.zeros((128, 128), np.uint8))
    stack = lij.xarray_to_imageplus(to_dataarray(np.stack(planes), dims="ZYX"), title="planes")
    stack.show()
    (tmp_path / "out").mkdir()
    with _closing_dialogs() as dialogs:
        _batch_macro(_documented("batch-macro"), None, tmp_path / "out", menu="Virtual Stack...")
    assert dialogs == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00001.tif", "00003.tif"]
    for name, plane in (("00001.tif", planes[0]), ("00003.tif", planes[2])):
        saved, info = _read(tmp_path / "out" / name)
        expected = _expected(plane, min_size=30)
        assert saved.dtype == np.uint16 and expected.max() >= 2
        np.testing.assert_array_equal(saved, expected)
        assert '"pipeline": "threshold"' in info
    np.testing.assert_array_equal(lij.imageplus_to_xarray(stack).values, np.stack(planes))  # the stack is kept
    assert ("Process > Batch > Virtual Stack: 2/3 failed, so nothing was saved for it (not the unsegmented input); "
            "the batch goes on with the next image. The output stack lacks that slice.") in str(
        jimport("ij.IJ").getLog())


def _loop(inputs: Path, outputs: Path, *, batch_mode: bool) -> str:
    """The documented macro loop, its two folder choosers replaced by ``inputs`` and ``outputs``."""
    code = _documented("folder-loop")
    for asked, folder in (('getDirectory("Choose a folder of images")', inputs),
                          ('getDirectory("Choose an empty folder for the results")', outputs)):
        assert asked in code
        code = code.replace(asked, f'"{folder}/"')
    if not batch_mode:
        assert code.count("setBatchMode(true);") == 1
        code = code.replace("setBatchMode(true);", "setBatchMode(false);")
    return code


@pytest.mark.parametrize("batch_mode", [True, False], ids=["batch", "windows"])
def test_the_documented_macro_loop_saves_each_images_labels_rois_and_table(restored, shared_data, tmp_path,
                                                                            batch_mode):
    import labelfree.imagej as lij
    from scyjava import jimport

    from labelfree.io import read_rois

    restored.close()  # no ROI Manager window, as when ImageJ starts: batch mode's ROIs go to a hidden one
    images = {f"sim t{i:03d}.tif": _crop(shared_data, i) for i in range(3)}
    _write(tmp_path / "in", images)
    (tmp_path / "in" / "sub").mkdir()  # a subfolder is passed over
    (tmp_path / "out").mkdir()
    windows = _windows()
    lij.run_macro(_loop(tmp_path / "in", tmp_path / "out", batch_mode=batch_mode))
    stems = [name[:-4] for name in images]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{s}{suffix}" for s in stems for suffix in ("_labels.tif", "_rois.zip", "_objects.csv"))
    last = 0
    for stem, image in zip(stems, images.values()):
        expected = _expected(image, min_size=30)
        saved, info = _read(tmp_path / "out" / f"{stem}_labels.tif")
        assert saved.dtype == np.uint16 and '"pipeline": "threshold"' in info
        np.testing.assert_array_equal(saved, expected)
        n = int(expected.max())
        names = [f"t0001-L{k:05d}" for k in range(1, n + 1)]
        assert [r.name for r in read_rois(tmp_path / "out" / f"{stem}_rois.zip")] == names  # this image's only
        rows = (tmp_path / "out" / f"{stem}_objects.csv").read_text().splitlines()
        assert rows[0].startswith("Label,label,frame,z,area") and [r.split(",")[0] for r in rows[1:]] == names
        last = n
    assert int(jimport("ij.WindowManager").getImageCount()) == 0
    assert _windows() - windows <= {"Log", "ROI Manager"}  # no table of any image stays
    manager = jimport("ij.plugin.frame.RoiManager").getInstance()
    assert (0 if manager is None else int(manager.getCount())) == (0 if batch_mode else last)


def test_a_macro_loop_stops_at_an_image_the_command_fails_on(restored, shared_data, tmp_path):
    """The loop stops with the file named; the results of the images before it are written."""
    import labelfree.imagej as lij
    from scyjava import jimport

    _write(tmp_path / "in", {"a_first.tif": _crop(shared_data, 0), "b_empty.tif": np.zeros((64, 64), np.uint16),
                             "c_third.tif": _crop(shared_data, 1)})
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match=r"^b_empty\.tif is constant \(every pixel is 0\)"):
        lij.run_macro(_loop(tmp_path / "in", tmp_path / "out", batch_mode=True))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a_first_labels.tif", "a_first_objects.csv", "a_first_rois.zip"]
    assert "LabelFree error: b_empty.tif is constant" in str(jimport("ij.IJ").getLog())
    assert int(jimport("ij.WindowManager").getImageCount()) == 0  # batch mode's images go with the macro
