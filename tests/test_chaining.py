"""Outputs (and Fiji-edited versions of them) chained into the next run as markers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import roifile
import tifffile

from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.io.markers import read_markers
from labelfree.io.rois_raster import rois_to_labels

SHARED = Path(os.environ.get("LABELFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MSC = SHARED / "ctc" / "Fluo-C2DL-MSC"


def _point(xs, ys, *, name: str = "", position: int = 0, t: int = 0) -> roifile.ImagejRoi:
    roi = roifile.ImagejRoi.frompoints(np.c_[xs, ys])
    roi.roitype = roifile.ROI_TYPE.POINT
    roi.name, roi.position, roi.t_position = name, position, t
    return roi


def _zip(path: Path, rois: list[roifile.ImagejRoi]) -> Path:
    roifile.roiwrite(path, rois, mode="w")
    return path


def test_roi_manager_slice_in_name_places_points_on_that_frame(tmp_path):
    """ImageJ's ROI Manager saves a point of a plain stack with position 0 and its slice in its name
    (``0002-0040-0040``, as ImageJ 1.x wrote it here): ImageJ shows it on slice 2 only, so must we."""
    rois = [_point([40], [40], name="0002-0040-0040"),
            _point([10, 60, 90], [10, 60, 90], name="0004-0050-0050")]  # a multi-point selection on slice 4
    movie = to_dataarray(np.zeros((6, 100, 100), np.uint16), dims="TYX")
    labels = read_markers(_zip(tmp_path / "rois.zip", rois), image=movie)
    assert [t for t in range(6) if labels[t].any()] == [1, 3]
    assert np.argwhere(labels[1]).tolist() == [[40, 40]]
    assert np.argwhere(labels[3]).tolist() == [[10, 10], [60, 60], [90, 90]]
    assert sorted(np.unique(labels)[1:].tolist()) == [1, 2, 3, 4]
    # the same names on one plane are only names: the points stay
    assert np.argwhere(rois_to_labels(rois[:1], shape=(100, 100))).tolist() == [[40, 40]]


def test_repeated_points_warn_and_keep_the_first_id(tmp_path, caplog):
    """Two clicks on one pixel are one marker: said, and the ids stay 1..N without a gap."""
    rois = [_point([50.5], [60.5], t=2), _point([50.2], [60.9], t=2), _point([20], [20], t=2)]
    with caplog.at_level(logging.WARNING, logger="labelfree.io.rois_raster"):
        labels = rois_to_labels(rois, shape=(3, 80, 80))
    assert np.unique(labels[1]).tolist() == [0, 1, 2]
    assert labels[1, 60, 50] == 1 and labels[1, 20, 20] == 2
    assert "1 point(s) lie on the pixel of an earlier point" in caplog.text


def test_point_on_a_frame_beyond_the_movie_says_what_to_do(tmp_path):
    path = _zip(tmp_path / "rois.zip", [_point([5], [5], t=20, name="cell")])
    with pytest.raises(InputError) as info:
        read_markers(path, shape=(12, 30, 30))
    text = str(info.value)
    assert "frame 20 (counted from 1), but the image has 12 frame(s)" in text
    assert "z 0" not in text and "ROI Manager" in text


def _tra(folder: Path, planes: np.ndarray, first: int = 0) -> Path:
    folder.mkdir(parents=True)
    for k, plane in enumerate(planes):
        tifffile.imwrite(folder / f"man_track{first + k:03d}.tif", plane)
    return folder


def test_ctc_tra_folder_as_markers_keeps_track_ids(tmp_path):
    planes = np.zeros((3, 20, 30), np.uint16)
    planes[:, 5:8, 5:8] = 7
    planes[1:, 12:15, 20:23] = 12
    folder = _tra(tmp_path / "01_GT" / "TRA", planes)
    labels = read_markers(folder, shape=(3, 20, 30))
    assert labels.shape == (3, 20, 30) and np.array_equal(labels, planes)
    with pytest.raises(InputError, match=r"frames 0\.\.2 \(3 file\(s\)\), but the image has 2 frame"):
        read_markers(folder, shape=(2, 20, 30))
    with pytest.raises(InputError, match="holds no CTC marker files"):
        read_markers(tmp_path, shape=(3, 20, 30))


@pytest.mark.skipif(not (MSC / "01_GT" / "TRA").is_dir(), reason="no Fluo-C2DL-MSC in ../shared/data")
def test_real_tra_folder_gives_one_marker_per_tracked_cell(tmp_path):
    """Three real MSC frames: the markers are the TRA files themselves, track ids kept, on the right frames."""
    pytest.importorskip("imagecodecs")
    real = [tifffile.imread(MSC / "01_GT" / "TRA" / f"man_track{t:03d}.tif")[:200, :300] for t in range(3)]
    folder = _tra(tmp_path / "TRA", np.stack(real))
    labels = read_markers(folder, shape=(3, 200, 300))
    for t in range(3):
        assert np.array_equal(labels[t], real[t])
        assert set(np.unique(labels[t])[1:]) == set(np.unique(real[t])[1:])


def test_the_cli_takes_a_tra_folder_as_markers(tmp_path, capsys):
    """`labelfree cutter movie.tif --markers 01_GT/TRA` was refused as "a folder, not a file" before the reader,
    which takes the folder, saw it. Cutter's cells keep the track ids."""
    from labelfree.cli import main

    movie = np.full((2, 48, 48), 100, np.uint16)
    planes = np.zeros((2, 48, 48), np.uint16)
    for t in range(2):
        movie[t, 8:22, 8:22] = 1000
        movie[t, 28:42, 26:40] = 1000
        planes[t, 14:16, 14:16] = 5
        planes[t, 34:36, 32:34] = 9
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    folder = _tra(tmp_path / "01_GT" / "TRA", planes)
    code = main(["cutter", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "out"), "--markers", str(folder),
                 "--set", "n_steps=2", "--set", "width=4", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    labels = tifffile.imread(tmp_path / "out" / "movie_labels.tif")
    assert [set(np.unique(labels[t])) for t in range(2)] == [{0, 5, 9}] * 2
    assert labels[0, 15, 15] == 5 and labels[1, 35, 33] == 9
