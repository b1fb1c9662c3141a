"""Cellpose GUI annotations (``<stem>_seg.npy``) as ground truth, training labels and markers, read safely."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelfree.cli import main
from labelfree.errors import CorruptFileError, DimensionError, DTypeError, InputError
from labelfree.io import read_image, read_labels, read_markers

#: the corners of the three 128 x 128 crops of the DSB 2018 image
CORNERS = ((0, 0), (256, 128), (384, 384))


@pytest.fixture(scope="module")
def crops(shared_data):
    """Three 128 x 128 crops of the DSB 2018 nuclei image (8-bit values) and their ground truth (uint16)."""
    from skimage.segmentation import relabel_sequential

    folder = shared_data / "misc" / "stardist_dsb2018"
    if not (folder / "img2d.tif").is_file():
        pytest.skip(f"{folder}/img2d.tif is absent")
    image, mask = tifffile.imread(folder / "img2d.tif"), tifffile.imread(folder / "mask2d.tif")
    out = []
    for y, x in CORNERS:
        lab = relabel_sequential(mask[y:y + 128, x:x + 128])[0].astype(np.uint16)
        out.append((image[y:y + 128, x:x + 128].astype(np.uint8), lab))
    assert all(lab.max() >= 5 for _, lab in out)
    return out


@pytest.fixture(scope="module")
def gui_folder(crops, tmp_path_factory):
    """A Cellpose GUI folder: ``imgK.png`` beside the ``imgK_seg.npy`` Cellpose's own saving function writes."""
    cp_io = pytest.importorskip("cellpose.io")
    folder = tmp_path_factory.mktemp("cellpose_gui")
    for k, (image, lab) in enumerate(crops):
        png = folder / f"img{k}.png"
        Image.fromarray(image).save(png)
        flows = [np.zeros((128, 128, 3), np.uint8), np.zeros((2, 128, 128), np.float32),
                 np.zeros((128, 128), np.float32)]
        cp_io.masks_flows_to_seg(image, lab, flows, str(png), diams=17.0, channels=[0, 0])
        assert (folder / f"img{k}_seg.npy").is_file()
    return folder


def _evil_file(path, payload):
    """A ``.npy`` whose pickled dict, when loaded with numpy.load(allow_pickle=True), calls ``payload``."""
    np.save(path, {"masks": np.ones((8, 8), np.uint16), "outlines": payload}, allow_pickle=True)


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _RunsExec:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_read_labels_gives_the_masks_cellpose_saved_without_a_general_unpickle(gui_folder, crops):
    from labelfree.io.cellpose_seg import read_cellpose_seg

    seg = gui_folder / "img0_seg.npy"
    with pytest.raises(ValueError, match="allow_pickle"):  # a genuine pickle: only the restricted reader reads it
        np.load(seg, allow_pickle=False)
    for reader in (read_labels, read_cellpose_seg):
        got = reader(seg)
        assert got.dtype == np.uint16 and got.shape == (128, 128)
        np.testing.assert_array_equal(got, crops[0][1])


def test_eval_scores_a_prediction_against_a_seg_npy_file_and_folder(gui_folder, crops, tmp_path, capsys):
    res, ann = tmp_path / "res", tmp_path / "annotated"
    res.mkdir()
    ann.mkdir()
    removed = []
    for k, (_, lab) in enumerate(crops):
        pred = lab.copy()
        pred[pred == 1] = 0  # one object missed in each prediction
        removed.append(int(lab.max()))
        tifffile.imwrite(res / f"img{k}_labels.tif", pred)
        shutil.copy(gui_folder / f"img{k}_seg.npy", ann)
    assert main(["eval", str(res / "img0_labels.tif"), str(ann / "img0_seg.npy"), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert (one["tp"], one["fp"], one["fn"]) == (removed[0] - 1, 0, 1)
    assert main(["eval", str(res), str(ann), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in scores["images"]] == ["img0", "img1", "img2"]
    assert [r["ground_truth"] for r in scores["images"]] == [str(ann / f"img{k}_seg.npy") for k in range(3)]
    total = scores["total"]
    assert (total["tp"], total["fp"], total["fn"], total["n_images"]) == (sum(removed) - 3, 0, 3, 3)


def test_a_cellpose_gui_folder_pairs_its_images_with_their_seg_npy(gui_folder, tmp_path, crops):
    from labelfree.evaluation.folders import pair_annotated_images, pair_image_folders

    folder = tmp_path / "gui"
    shutil.copytree(gui_folder, folder)
    exported = np.where(crops[2][1] > 0, 1, 0).astype(np.uint16)  # the masks exported on purpose come first
    Image.fromarray(exported).save(folder / "img2_masks.png")
    np.save(folder / "flows.npy", np.zeros((4, 4), np.float32))  # a .npy without an annotation suffix: no image
    pairs, unpaired = pair_annotated_images(folder)
    assert [(s, i.name, m.name) for s, i, m in pairs] == [("img0", "img0.png", "img0_seg.npy"),
                                                         ("img1", "img1.png", "img1_seg.npy"),
                                                         ("img2", "img2.png", "img2_masks.png")]
    assert unpaired == []
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for k in range(2):
        shutil.copy(folder / f"img{k}.png", imgs)
    shutil.copy(folder / "img0_seg.npy", imgs / "stray_seg.npy")  # never an image to segment
    pairs, unpaired, unused = pair_image_folders(imgs, folder)
    assert [(s, i.name, m.name) for s, i, m in pairs] == [("img0", "img0.png", "img0_seg.npy"),
                                                         ("img1", "img1.png", "img1_seg.npy")]
    assert unpaired == [] and [f.name for f in unused] == ["img2_masks.png"]


def test_fusion_train_takes_a_cellpose_gui_folder(gui_folder, crops, tmp_path):
    pytest.importorskip("torch")
    tiny = ["--set", "nbase=8,16,32,64", "--set", "crop_size=64", "--set", "samples_per_epoch=8", "--set",
            "diam_mean=15", "--set", "seed=3", "--epochs", "1", "--starting-model", "scratch", "--device", "cpu", "-q"]
    zoo = tmp_path / "zoo"
    assert main(["fusion", "train", str(gui_folder), "--zoo", str(zoo), *tiny]) == 0
    (entry,) = json.loads((zoo / "index.json").read_text())["models"]
    assert entry["channels"] == ["C0"]
    held_out = entry["validation"]  # scored against the masks of one _seg.npy: all its objects counted
    assert held_out["n_images"] == 1
    assert held_out["tp"] + held_out["fn"] in {int(lab.max()) for _, lab in crops}


def test_batch_truth_reads_the_seg_npy_beside_the_images(gui_folder, tmp_path, capsys):
    from labelfree.batch import run_batch

    out = tmp_path / "res"
    summary = run_batch(gui_folder, pipeline="threshold", out_dir=out, batch={"scheduler": "sync"}, progress=False,
                        truth=gui_folder)
    assert sorted(summary["stem"]) == ["img0", "img1", "img2"]  # the .npy files are no inputs
    assert all(str(p).endswith(".png") for p in summary["input"])
    for _, row in summary.iterrows():
        assert row["truth"] == str(gui_folder / f"{row['stem']}_seg.npy")
        capsys.readouterr()
        assert main(["eval", row["labels"], row["truth"], "--json"]) == 0
        want = json.loads(capsys.readouterr().out)
        assert [int(row[k]) for k in ("tp", "fp", "fn")] == [want["tp"], want["fp"], want["fn"]]
    assert int(summary["tp"].sum()) > 0


def test_markers_from_a_seg_npy(gui_folder, crops):
    got = read_markers(gui_folder / "img1_seg.npy", shape=(128, 128))
    np.testing.assert_array_equal(got, crops[1][1])
    with pytest.raises(InputError, match="must match the image"):
        read_markers(gui_folder / "img1_seg.npy", shape=(64, 128))


@pytest.mark.parametrize("payload", [_RunsShell, _RunsExec], ids=["os.system", "exec"])
def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(payload, tmp_path, capsys):
    marker = tmp_path / "ran"
    seg = tmp_path / "evil_seg.npy"
    _evil_file(seg, payload(marker))
    with pytest.raises(InputError, match=r"is not a Cellpose annotation: its pickled contents ask for "
                                         r"(posix\.system|nt\.system|builtins\.exec)"):
        read_labels(seg)
    assert main(["eval", str(seg), str(seg)]) != 0
    assert "is not a Cellpose annotation" in capsys.readouterr().err
    with pytest.raises(InputError, match="is not a Cellpose annotation"):
        read_markers(seg, shape=(8, 8))
    assert not marker.exists()  # nothing of the file was run


def _npy_of_pickle(path, data: bytes):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        fh.write(data)


def test_files_of_numpy_1_are_read_and_other_numpy_functions_refused(tmp_path):
    lab = np.arange(12, dtype=np.int32).reshape(3, 4)
    dat = np.empty((), dtype=object)
    dat[()] = {"masks": lab, "diameter": np.float64(17.5), "ismanual": np.ones(11, bool), "filename": "a.png"}
    data = pickle.dumps(dat, protocol=3)  # GLOBAL opcodes spell module names as text
    assert b"numpy._core.multiarray\n" in data or b"numpy.core.multiarray\n" in data
    old = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")  # as NumPy 1.x writes them
    _npy_of_pickle(tmp_path / "old_seg.npy", old)
    np.testing.assert_array_equal(read_labels(tmp_path / "old_seg.npy"), lab)
    other = old.replace(b"numpy.core.multiarray\n_reconstruct\n", b"numpy.core.multiarray\nnormalize_axis_index\n")
    _npy_of_pickle(tmp_path / "other_seg.npy", other)
    with pytest.raises(InputError, match="ask for numpy.core.multiarray.normalize_axis_index"):
        read_labels(tmp_path / "other_seg.npy")


def test_masks_that_are_no_2d_labels_are_refused_clearly(tmp_path):
    def seg(name, **entries):
        path = tmp_path / f"{name}_seg.npy"
        np.save(path, entries, allow_pickle=True)
        return path

    stack = np.zeros((3, 16, 16), np.uint16)
    with pytest.raises(DimensionError, match=r"shape \(3, 16, 16\).*3-D annotation of several planes"):
        read_labels(seg("zyx", masks=stack))
    one_plane = np.zeros((1, 16, 16), np.uint16)
    one_plane[0, 2:5, 2:5] = 4
    np.testing.assert_array_equal(read_labels(seg("z1", masks=one_plane)), one_plane[0])
    with pytest.raises(DTypeError, match="dtype float32, not integer labels"):
        read_labels(seg("float", masks=np.zeros((4, 4), np.float32)))
    with pytest.raises(DTypeError, match="negative values"):
        read_labels(seg("negative", masks=-np.ones((4, 4), np.int16)))
    with pytest.raises(InputError, match=r"no 'masks' entry \(keys: filename, outlines\)"):
        read_labels(seg("nomasks", outlines=np.zeros((4, 4), np.uint16), filename="a.png"))
    np.save(tmp_path / "list.npy", np.array([{"masks": 1}, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="holds a ndarray of Python objects, not the dict"):
        read_labels(tmp_path / "list.npy")
    plain = np.arange(20, dtype=np.uint32).reshape(4, 5)  # numpy.save(labels): read without pickle
    np.save(tmp_path / "plain.npy", plain)
    got = read_labels(tmp_path / "plain.npy")
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, plain)
    whole = (tmp_path / "z1_seg.npy").read_bytes()
    (tmp_path / "cut_seg.npy").write_bytes(whole[: len(whole) - 40])
    with pytest.raises(CorruptFileError, match="damaged or truncated"):
        read_labels(tmp_path / "cut_seg.npy")


def test_a_npy_file_is_no_image(tmp_path):
    path = tmp_path / "img_seg.npy"
    np.save(path, {"masks": np.zeros((4, 4), np.uint16)}, allow_pickle=True)
    with pytest.raises(InputError, match="is a NumPy .npy file, not an image"):
        read_image(path)


def test_eval_names_the_axes_of_a_seg_npy_of_another_size(gui_folder, tmp_path, capsys):
    pred = tmp_path / "img0_labels.tif"
    tifffile.imwrite(pred, np.zeros((64, 128), np.uint16))
    assert main(["eval", str(pred), str(gui_folder / "img0_seg.npy")]) != 0
    err = capsys.readouterr().err
    assert "img0_seg.npy has axes Y=128, X=128" in err and "no axes recorded" not in err
