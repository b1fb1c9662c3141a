"""A folder of TIFF frames (one file per time point) read as a movie: read_image, read_array and the CLI."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.errors import DimensionError, InputError
from labelfree.io import read_ctc, read_image
from labelfree.io.outputs import output_stem
from labelfree.io.tiff import read_array


def _frames(folder: Path, names, *, shape=(6, 7), dtype=np.uint16, **kwargs) -> Path:
    """One plane per name, every pixel of frame k = k + 1 (the order in which the names are given)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        tifffile.imwrite(folder / name, np.full(shape, k + 1, dtype), **kwargs)
    return folder


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def sim_folder(shared_data):
    path = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def test_a_ctc_sequence_folder_is_read_ctc_s_movie(sim_folder):
    movie = read_image(sim_folder)
    ctc = read_ctc(sim_folder.parent).movie
    assert movie.dims == ("T", "Y", "X") and movie.shape == (65, 690, 628) and movie.dtype == np.uint16
    np.testing.assert_array_equal(movie.values, ctc.values)
    np.testing.assert_array_equal(movie.coords["T"].values, ctc.coords["T"].values)  # 0..64, frames
    assert movie.coords["T"].attrs["units"] == "frame"
    # the first frame's calibration: XResolution 4294967295/53173 px per cm
    assert movie.coords["X"].attrs["scale"] == pytest.approx(1e4 * 53173 / 4294967295) and \
        movie.coords["X"].attrs["units"] == "µm"
    assert movie.attrs["source"] == str(sim_folder)
    np.testing.assert_array_equal(read_array(sim_folder), ctc.values)
    lazy = read_image(sim_folder, lazy=True)
    assert lazy.data.chunks[0] == (1,) * 65  # one read per file
    np.testing.assert_array_equal(lazy.isel(T=40).values, ctc.values[40])
    with pytest.raises(InputError, match="Fluo-N2DH-SIM\\+ holds no files and the folder\\(s\\) 01, 01_GT"):
        read_image(sim_folder.parent)


def test_natural_order_and_only_the_frames(tmp_path):
    names = [f"t{k}.tif" for k in range(1, 13)]
    folder = _frames(tmp_path / "movie", names[::-1])  # written in reverse: values 12, 11, ..., 1 by name
    (folder / "metadata.txt").write_text("Micro-Manager summary")
    (folder / "t1_provenance.json").write_text("{}")
    (folder / "t1_overlay.png").write_bytes(b"\x89PNG\r\n")
    tifffile.imwrite(folder / ".t99.tif", np.zeros((6, 7), np.uint16))  # hidden
    _frames(folder / "01_GT", ["man_seg000.tif"])  # a sub-folder
    movie = read_image(folder)
    assert [int(v) for v in movie.values[:, 0, 0]] == list(range(12, 0, -1))  # t1, t2, ..., t10, t11, t12
    assert movie.sizes == {"T": 12, "Y": 6, "X": 7}
    np.testing.assert_array_equal(read_array(folder), movie.values)


def test_frames_of_another_size_or_type_name_the_first_odd_file(tmp_path):
    folder = _frames(tmp_path / "a", ["img_0001.tif", "img_0002.tif"])
    _frames(folder, ["img_0003.tif", "img_0004.tif"], shape=(6, 8))
    with pytest.raises(InputError, match=r"img_0003.tif is 6 x 8 uint16, but img_0001.tif, the first frame .* is "
                                         r"6 x 7 uint16"):
        read_image(folder)
    with pytest.raises(InputError, match="img_0003.tif is 6 x 8"):
        read_array(folder)
    folder = _frames(tmp_path / "b", ["img_0001.tif", "img_0002.tif"])
    _frames(folder, ["img_0003.tif"], dtype=np.uint8)
    with pytest.raises(InputError, match="img_0003.tif is 6 x 7 uint8, but img_0001.tif"):
        read_image(folder, lazy=True)


def test_ctc_movie_of_frames_of_another_size_names_the_file(tmp_path):
    """np.stack's bare ValueError ("all input arrays must have the same shape") before."""
    _frames(tmp_path / "ds" / "01", ["t000.tif", "t001.tif"])
    _frames(tmp_path / "ds" / "01", ["t002.tif"], shape=(5, 7))
    with pytest.raises(InputError, match="t002.tif is 5 x 7 uint16, but t000.tif"):
        read_ctc(tmp_path / "ds").movie


def test_micro_manager_names(tmp_path):
    one = [f"img_channel000_position003_time{t:09d}_z000.tif" for t in range(3)]
    movie = read_image(_frames(tmp_path / "one", one))
    assert [int(v) for v in movie.values[:, 0, 0]] == [1, 2, 3]
    several = [f"img_channel{c:03d}_position000_time{t:09d}_z000.tif" for c in range(2) for t in range(3)]
    with pytest.raises(InputError, match=r"differ in 2 numbers \(after 'img_channel': 0 to 1, after '_time': "
                                         r"0 to 2\)") as err:
        read_image(_frames(tmp_path / "several", several))
    assert "run labelfree batch" in str(err.value)


def test_two_name_patterns_are_listed(tmp_path):
    folder = _frames(tmp_path / "mixed", ["t000.tif", "t001.tif", "t002.tif", "t000_labels.tif"])
    with pytest.raises(InputError, match=r"2 name patterns \(3 like t000.tif; 1 like t000_labels.tif\)") as err:
        read_image(folder)
    assert f"each image of the folder on its own, run labelfree batch {folder} --pipeline NAME" in str(err.value)


def test_a_folder_without_tiff_frames(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty is a folder, not an image file; .* holds no files"):
        read_image(tmp_path / "empty")
    (tmp_path / "nd2").mkdir()
    (tmp_path / "nd2" / "a0.nd2").write_bytes(b"\xda\xce\xbe\x0a")
    with pytest.raises(InputError, match=r"holds 1 other file\(s\) \(.nd2\)\. It is a microscope file \(Nikon ND2: "
                                         r"a0\.nd2\).*File > Import > Bio-Formats"):
        read_image(tmp_path / "nd2")


def test_a_folder_of_png_frames(tmp_path):
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for k in (1, 2, 10):
        Image.fromarray(np.full((5, 6), k, np.uint8)).save(folder / f"frame{k}.png")
    movie = read_image(folder)
    assert movie.dims == ("T", "Y", "X") and [int(v) for v in movie.values[:, 0, 0]] == [1, 2, 10]
    np.testing.assert_array_equal(read_array(folder)[:, 0, 0], [1, 2, 10])
    Image.fromarray(np.full((5, 7), 3, np.uint8)).save(folder / "frame3.png")
    with pytest.raises(InputError, match="frame3.png is 5 x 7 uint8, but frame1.png"):
        read_image(folder)


def test_channel_and_z_stack_frames(tmp_path):
    folder = tmp_path / "channels"
    folder.mkdir()
    for t in range(3):
        data = np.stack([np.full((5, 6), 10 * t + c, np.uint16) for c in range(2)])
        tifffile.imwrite(folder / f"f{t}.tif", data, imagej=True, metadata={"axes": "CYX"})
    movie = read_image(folder, channel_names=["DAPI", "GFP"])
    assert movie.dims == ("T", "C", "Y", "X") and list(movie.coords["C"].values) == ["DAPI", "GFP"]
    assert [int(v) for v in movie.values[:, 1, 0, 0]] == [1, 11, 21]
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for t in range(2):
        data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6) + t
        tifffile.imwrite(stacks / f"f{t}.tif", data, imagej=True, resolution=(2.0, 2.0),
                         metadata={"axes": "ZYX", "spacing": 1.5, "unit": "um"})
    movie = read_image(stacks)
    assert movie.dims == ("T", "Z", "Y", "X") and movie.shape == (2, 4, 5, 6)
    assert movie.coords["Z"].attrs["scale"] == 1.5 and movie.coords["X"].attrs["scale"] == 0.5
    assert int(movie.values[1, 3, 4, 5]) == 4 * 5 * 6 - 1 + 1
    plain = _frames(tmp_path / "plain", ["p0.tif", "p1.tif"], shape=(3, 5, 6), photometric="minisblack")
    with pytest.raises(DimensionError, match="dims names the axes of each file"):
        read_image(plain)
    for dims in ("ZYX", "TZYX"):  # the axes of each file, or with the sequence's T first
        assert read_image(plain, dims=dims).dims == ("T", "Z", "Y", "X")
    with pytest.raises(DimensionError, match="T is the folder's sequence of files and comes first"):
        read_image(plain, dims="ZTY")


def test_a_file_of_several_frames_is_refused(tmp_path):
    folder = tmp_path / "movies"
    folder.mkdir()
    for k in range(2):
        tifffile.imwrite(folder / f"m{k}.tif", np.zeros((3, 5, 6), np.uint8), imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(DimensionError, match="m0.tif holds 3 frames"):
        read_image(folder)


def test_the_first_frame_s_calibration_and_a_warning_when_frames_disagree(tmp_path, caplog):
    folder = _frames(tmp_path / "cal", ["t0.tif", "t1.tif"], resolution=(4.0, 4.0), resolutionunit="MICROMETER")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert read_image(folder).coords["X"].attrs["scale"] == 0.25
    assert not caplog.records
    _frames(folder, ["t2.tif"], resolution=(2.0, 2.0), resolutionunit="MICROMETER")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        movie = read_image(folder)
    assert movie.coords["X"].attrs["scale"] == 0.25
    assert any("t2.tif differs from t0.tif" in r.getMessage() for r in caplog.records)


def test_lazy_reads_each_file_when_its_frame_is_used(tmp_path):
    folder = _frames(tmp_path / "long", [f"t{k:03d}.tif" for k in range(8)])
    movie = read_image(folder, lazy=True)
    assert movie.data.chunks[0] == (1,) * 8
    (folder / "t005.tif").unlink()  # a file read only when its frame is computed
    assert int(movie.isel(T=4).values[0, 0]) == 5
    np.testing.assert_array_equal(movie.isel(T=slice(0, 5)).values[:, 0, 0], [1, 2, 3, 4, 5])
    with pytest.raises(InputError, match="t005.tif does not exist"):
        movie.isel(T=5).values
    tifffile.imwrite(folder / "t005.tif", np.zeros((6, 8), np.uint16))  # changed after the folder was read
    with pytest.raises(InputError, match=r"t005.tif is 6 x 8 uint16, but t000.tif, the first frame .* is 6 x 7 uint16"):
        movie.isel(T=5).values


def test_output_stem_of_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    folder.mkdir()
    assert output_stem(folder) == output_stem(f"{folder}{os.sep}") == "frames"
    monkeypatch.chdir(folder)
    assert output_stem(".") == "frames" and output_stem("sub/..") == "frames"


def test_cli_motion_on_a_folder_of_sim_frames_equals_the_same_frames_as_one_tiff(sim_folder, tmp_path, capsys):
    from labelfree.cli import main

    folder = tmp_path / "frames"
    folder.mkdir()
    planes = []
    for t in range(6):
        plane = tifffile.imread(sim_folder / f"t{t:03d}.tif")[200:456, 150:406]
        tifffile.imwrite(folder / f"t{t:03d}.tif", plane)
        planes.append(plane)
    tifffile.imwrite(tmp_path / "movie.tif", np.stack(planes), imagej=True, metadata={"axes": "TYX"})
    before = _digest(folder)
    assert main(["motion", str(folder), "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main(["motion", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "b"), "-q"]) == 0
    from_folder = tifffile.imread(tmp_path / "a" / "frames_labels.tif")  # the stem: the folder's name
    from_file = tifffile.imread(tmp_path / "b" / "movie_labels.tif")
    assert from_folder.shape == (6, 256, 256)
    assert [len(np.unique(f)) - 1 for f in from_folder] == [5, 5, 5, 5, 4, 4]
    np.testing.assert_array_equal(from_folder, from_file)
    capsys.readouterr()
    for out in (folder, folder / "results"):  # never into the input folder
        assert main(["motion", str(folder), "-o", str(out), "-q"]) == 1
        assert "never writes" in capsys.readouterr().err
    assert _digest(folder) == before and sorted(p.name for p in folder.iterdir()) == sorted(before)


def test_provenance_records_the_frames_of_a_folder(tmp_path):
    """A folder input is recorded by its frames (count, first, last, a digest of every frame's name and content),
    from the command line and from Python; replacing one frame changes the digest; a folder of models (not frames)
    is recorded by its path only."""
    import json

    from labelfree.cli import main
    from labelfree.io import write_outputs
    from labelfree.io.outputs import describe_inputs
    from labelfree.run import run_pipeline

    folder = tmp_path / "movie"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for t in (0, 1, 10):
        frame = (rng.random((48, 48)) * 20).astype(np.uint8)
        frame[10:20, 10 + t:20 + t] = 200
        tifffile.imwrite(folder / f"t{t}.tif", frame)

    def digest(names: list[str]) -> str:
        h = hashlib.sha256()
        for name in names:
            h.update(f"{name}\0{hashlib.sha256((folder / name).read_bytes()).hexdigest()}\n".encode())
        return h.hexdigest()

    expected = {"path": str(folder), "frames": 3, "first": "t0.tif", "last": "t10.tif",
                "frames_sha256": digest(["t0.tif", "t1.tif", "t10.tif"])}
    sizes = {name: (folder / name).stat().st_size for name in ("t0.tif", "t1.tif", "t10.tif")}
    listing = {name: [size, hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]]
               for name, size in sizes.items()}
    assert main(["threshold", str(folder), "-o", str(tmp_path / "out"), "-q"]) == 0
    record = json.loads((tmp_path / "out" / "movie_provenance.json").read_text(encoding="utf-8"))
    assert {k: record["inputs"]["image"][k] for k in expected} == expected
    assert record["inputs"]["image"]["listing"] == listing  # and its files (labelfree._input_digest)
    assert record["inputs"]["image"]["suffixes"] == [".btf", ".tif", ".tiff"]
    image = read_image(folder)  # Python: the image's source names the folder, and write_outputs records it
    write_outputs(tmp_path / "py", run_pipeline("threshold", image), image=image)
    again = json.loads((tmp_path / "py" / "movie_provenance.json").read_text(encoding="utf-8"))
    assert again["inputs"]["image"] == record["inputs"]["image"]
    tifffile.imwrite(folder / "t1.tif", np.zeros((48, 48), np.uint8))
    assert describe_inputs({"image": folder})["image"]["frames_sha256"] != expected["frames_sha256"]
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "index.json").write_text("{}", encoding="utf-8")
    assert describe_inputs({"zoo": zoo}) == {"zoo": {"path": str(zoo)}}
