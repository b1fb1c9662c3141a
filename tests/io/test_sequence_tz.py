"""A folder of one file per time point and z plane (Micro-Manager's "separate image files") read as T, Z, Y, X:
read_image, read_array, the CLI and batch. Before, such a folder was refused (its names differ in two numbers)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.errors import DimensionError, InputError
from labelfree.io import read_image, read_labels
from labelfree.io.tiff import read_array

T, Z = 3, 12  # 12 planes: z10 and z11 sort after z9 only by number


@pytest.fixture(scope="module")
def planes(shared_data) -> np.ndarray:
    """(T, Z, 64, 64) uint16: 36 consecutive real frames of Fluo-N2DH-SIM+ 01 (cropped), frame k = t * Z + z."""
    seq = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01"
    if not seq.is_dir():
        pytest.skip(f"{seq} is absent")
    frames = [tifffile.imread(seq / f"t{k:03d}.tif")[300:364, 250:314] for k in range(T * Z)]
    return np.stack(frames).reshape(T, Z, 64, 64)


def _write(folder: Path, planes: np.ndarray, name: str, *, skip=(), **kwargs) -> Path:
    """One file per (t, z) named ``name.format(t=t, z=z)``, written in reverse order."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in reversed(range(planes.shape[0])):
        for z in reversed(range(planes.shape[1])):
            if (t, z) not in skip:
                tifffile.imwrite(folder / name.format(t=t, z=z), planes[t, z], **kwargs)
    return folder


MM2 = "img_channel000_position000_time{t:09d}_z{z:03d}.tif"


@pytest.mark.parametrize("name", [MM2, "img_{t:09d}_DAPI_{z:03d}.tif", "img_{t:09d}_Cy5_{z:03d}.tif",
                                  "t{t:03d}_z{z:03d}.tif", "T{t:04d}_Z{z:03d}.tif", "cells_t{t}_z{z}.tif",
                                  "movie_{t:04d}_z{z:02d}.tif"])
def test_time_and_z_names_read_as_tzyx(planes, tmp_path, name):
    folder = _write(tmp_path / "mm", planes, name)
    (folder / "metadata.txt").write_text("not JSON")  # Micro-Manager's sidecar: not a frame, no z step
    image = read_image(folder)
    assert image.dims == ("T", "Z", "Y", "X") and image.shape == (T, Z, 64, 64)
    np.testing.assert_array_equal(image.values, planes)
    assert image.coords["Z"].attrs == {"units": "pixel", "scale": 1.0}
    assert image.coords["T"].attrs["units"] == "frame"
    np.testing.assert_array_equal(read_array(folder), planes)
    lazy = read_image(folder, lazy=True)
    assert lazy.data.chunks[:2] == ((1,) * T, (1,) * Z)  # one read per file
    np.testing.assert_array_equal(lazy.isel(T=2, Z=11).values, planes[2, 11])
    np.testing.assert_array_equal(read_image(folder, dims="TZYX").values, planes)


def test_z_names_alone_read_as_zyx(planes, tmp_path):
    folder = _write(tmp_path / "stack", planes[:1], "cells_z{z:02d}.tif")
    image = read_image(folder)
    assert image.dims == ("Z", "Y", "X")
    np.testing.assert_array_equal(image.values, planes[0])
    np.testing.assert_array_equal(read_array(folder), planes[0])
    assert read_image(folder, dims="ZYX").dims == ("Z", "Y", "X")  # Z: the files, as T is for a movie's
    with pytest.raises(DimensionError, match="Z is the folder's planes and comes first after T"):
        read_image(folder, dims="YZX")
    one_time = _write(tmp_path / "mm1", planes[:1], "img_{t:09d}_GFP_{z:03d}.tif")  # Micro-Manager 1.4, t 0 only
    assert read_image(one_time).dims == ("Z", "Y", "X")
    times = _write(tmp_path / "times", planes[:, :1], MM2)  # z000 only: the time points of a movie, as before
    assert read_image(times).dims == ("T", "Y", "X")


def test_z_step_and_pixel_size_from_the_files(planes, tmp_path, caplog):
    imagej = _write(tmp_path / "ij", planes, MM2, imagej=True, resolution=(2.0, 2.0),
                    metadata={"spacing": 1.5, "unit": "um"})
    image = read_image(imagej)
    assert image.coords["Z"].attrs == {"units": "µm", "scale": 1.5} and float(image.coords["Z"][11]) == 16.5
    assert image.coords["X"].attrs == {"units": "µm", "scale": 0.5}
    tag = [(51123, "s", 0, json.dumps({"Summary": {"z-step_um": 0.75}, "ZPositionUm": 3.0}), True)]
    micro = _write(tmp_path / "tag", planes, MM2, extratags=tag)
    assert read_image(micro).coords["Z"].attrs == {"units": "µm", "scale": 0.75}
    sidecar = _write(tmp_path / "sidecar", planes, MM2)
    (sidecar / "metadata.txt").write_text(json.dumps({"Summary": {"z-step_um": 2.0, "Slices": Z}}))
    with caplog.at_level(logging.INFO, logger="labelfree"):
        assert read_image(sidecar).coords["Z"].attrs == {"units": "µm", "scale": 2.0}
    assert "the z step (2.0 µm) is Micro-Manager's, from metadata.txt" in caplog.text


def test_missing_and_repeated_planes_are_named(planes, tmp_path):
    folder = _write(tmp_path / "holes", planes, MM2, skip={(1, 5), (2, 0)})
    message = (r"The 34 image files in .*holes are the planes of time points 0 to 2 and z planes 0 to 11 by their "
               r"names, but 2 of the 36 are missing; the first: time point 1, z plane 5 "
               r"\(img_channel000_position000_time000000001_z005.tif\)")
    with pytest.raises(InputError, match=message):
        read_image(folder)
    with pytest.raises(InputError, match=message):
        read_array(folder)
    stopped = _write(tmp_path / "stopped", planes, "t{t}_z{z}.tif", skip={(2, z) for z in range(6, Z)})
    with pytest.raises(InputError, match=r"the first: time point 2, z plane 6 \(t2_z6.tif\)\. Every time point"):
        read_image(stopped)
    stack = _write(tmp_path / "stack", planes[:1], "s_z{z:02d}.tif", skip={(0, 3)})
    with pytest.raises(InputError, match=r"z planes 0 to 11 by their names, but 1 of the 12 is missing; the first: "
                                         r"z plane 3 \(s_z03.tif\)"):
        read_image(stack)
    twice = _write(tmp_path / "twice", planes[:, :2], "t{t}_z{z}.tif")
    tifffile.imwrite(twice / "t01_z1.tif", planes[1, 1])
    with pytest.raises(InputError, match=r"t01_z1.tif and t1_z1.tif in .*twice are both time point 1, z plane 1"):
        read_image(twice)


def test_channels_and_positions_are_refused_with_advice_for_t_and_z(planes, tmp_path):
    folder = tmp_path / "channels"
    for c in range(2):
        _write(folder, planes[:2, :3], f"img_channel{c:03d}_position000_time{{t:09d}}_z{{z:03d}}.tif")
    with pytest.raises(InputError, match=r"differ in 3 numbers \(after 'img_channel': 0 to 1, after '_time': 0 to 1, "
                                         r"after '_z': 0 to 2\): they are several channels, not the time points and "
                                         r"z planes") as err:
        read_image(folder)
    assert ("Move the files of one position and channel (like img_channel000_position000_time*_z*.tif) into a folder "
            "of their own, and give that folder") in str(err.value)
    assert "labelfree batch" in str(err.value) and f"labelfree batch {folder}" not in str(err.value)  # not: 12 planes
    positions = tmp_path / "positions"
    for p in range(2):
        _write(positions, planes[:2, :3], f"img_channel000_position{p:03d}_time{{t:09d}}_z{{z:03d}}.tif")
    with pytest.raises(InputError, match="they are several positions, not the time points"):
        read_image(positions)
    wells = tmp_path / "wells"
    for w in (1, 2):
        _write(wells, planes[:2, :3], f"A01_w{w}_t{{t}}_z{{z}}.tif")
    with pytest.raises(InputError, match=r"several channels.*\(like A01_w1_t\*_z\*.tif\)"):
        read_image(wells)
    mm1 = tmp_path / "mm1"
    for channel in ("DAPI", "GFP"):
        _write(mm1, planes[:2, :3], f"img_{{t:09d}}_{channel}_{{z:03d}}.tif")
    with pytest.raises(InputError, match=r"2 name patterns .*differ only in the frame number \(and the z plane: "
                                         r"t005_z011\)\. Move the frames of the movie \(of one channel and position\)"):
        read_image(mm1)


def test_a_z_stack_per_file_in_a_z_numbered_folder_is_refused(planes, tmp_path):
    folder = tmp_path / "stacks"
    folder.mkdir()
    for z in range(2):
        tifffile.imwrite(folder / f"t0_z{z}.tif", planes[0, :3], imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(DimensionError, match=r"t0_z0.tif holds 3 z planes, but the names of the files of .*stacks "
                                             r"number z planes"):
        read_image(folder)


def _labels(path: Path) -> np.ndarray:
    return np.asarray(read_labels(path))


def test_cli_threshold_and_batch_of_a_micro_manager_folder_equal_the_hyperstack(planes, tmp_path):
    from labelfree.cli import main

    folder = _write(tmp_path / "parent" / "mm", planes, MM2, imagej=True, resolution=(4.0, 4.0),
                    metadata={"spacing": 0.5, "unit": "um"})
    tifffile.imwrite(tmp_path / "hyper.tif", planes, imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "TZYX", "spacing": 0.5, "unit": "um"})
    assert main(["threshold", str(folder), "-o", str(tmp_path / "o"), "-q"]) == 0
    assert main(["threshold", str(tmp_path / "hyper.tif"), "-o", str(tmp_path / "h"), "-q"]) == 0
    labels = _labels(tmp_path / "o" / "mm_labels.tif")
    assert labels.shape == (T, Z, 64, 64) and labels.max() > 0
    np.testing.assert_array_equal(labels, _labels(tmp_path / "h" / "hyper_labels.tif"))
    record = json.loads((tmp_path / "o" / "mm_provenance.json").read_text(encoding="utf-8"))["inputs"]["image"]
    assert {k: record[k] for k in ("frames", "axes", "shape", "first", "last")} == {
        "frames": T * Z, "axes": "TZ", "shape": [T, Z], "first": MM2.format(t=0, z=0), "last": MM2.format(t=2, z=11)}
    assert main(["batch", str(tmp_path / "parent"), "-p", "threshold", "-o", str(tmp_path / "b"), "--scheduler",
                 "sync", "--no-progress", "-q"]) == 0
    summary = (tmp_path / "b" / "batch_summary.csv").read_text(encoding="utf-8").splitlines()
    assert len(summary) == 2 and summary[1].startswith(f"{folder},")  # one input: the folder
    np.testing.assert_array_equal(_labels(tmp_path / "b" / "mm_labels.tif"), labels)
    assert main(["eval", str(tmp_path / "o" / "mm_labels.tif"), str(tmp_path / "h" / "hyper_labels.tif")]) == 0


def test_batch_of_a_folder_of_z_planes_is_one_input(tmp_path):
    """`labelfree batch mm` on the folder of planes itself (not its parent) takes it as one z-stack input, not one
    input per plane."""
    from labelfree.batch.inputs import collect_inputs

    folder = tmp_path / "mm"
    folder.mkdir()
    for t in range(2):
        for z in range(3):
            tifffile.imwrite(folder / f"img_channel000_position000_time{t:09d}_z{z:03d}.tif",
                             np.full((8, 8), 10 * t + z, np.uint16))
    assert [it.path for it in collect_inputs(folder)] == [folder.absolute()]
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        tifffile.imwrite(flat / f"cells{i}.tif", np.full((8, 8), i, np.uint16))
    assert len(collect_inputs(flat)) == 3  # plain images: each an input, as before
