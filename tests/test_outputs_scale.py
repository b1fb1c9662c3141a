"""Results of long movies and odd shapes: ROI zips that ImageJ places on the right plane and fills exactly,
label TIFFs ImageJ opens with the right type, and ROI writing whose memory does not grow with the movie."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from traced_memory import traced_peak

from labelfree.image import to_dataarray
from labelfree.io import read_rois, rois_to_labels, write_outputs, write_rois


def _grid(n_side: int = 6, cell: int = 8) -> np.ndarray:
    """A plane of ``n_side**2`` square objects, ids 1..n_side**2."""
    plane = np.zeros((n_side * cell, n_side * cell), np.uint16)
    for k in range(n_side * n_side):
        r, c = divmod(k, n_side)
        plane[r * cell:r * cell + cell - 2, c * cell:c * cell + cell - 2] = k + 1
    return plane


def _odd_plane() -> np.ndarray:
    """Objects that are hard to outline: ids above 255 and 65535, holes, parts, 1-pixel and 1-pixel-wide
    objects, objects on every border, diagonal-only connections, an island inside a hole."""
    a = np.zeros((40, 50), np.uint32)
    a[0, 0] = 1  # one pixel, in a corner
    a[5, 3:20] = 2  # one pixel wide
    a[10:20, 10:20] = 3
    a[13:16, 13:16] = 0  # a hole
    a[25:28, 2:5] = 4
    a[30:33, 8:11] = 4  # two parts
    a[22, 22] = a[23, 23] = a[24, 24] = 5  # diagonal only
    a[30:36, 20:26] = 7 * (np.add.outer(np.arange(6), np.arange(6)) % 2 == 0)  # a checkerboard: 18 corners
    a[10:20, 30:40] = 300
    a[12:18, 32:38] = 0
    a[14:16, 34:36] = 300  # an island inside the hole of the same object
    a[0:3, 47:50] = 65535  # on the top and right borders
    a[35:40, 45:50] = 70000  # beyond 16 bits, on the bottom and right borders
    a[39, 0:6] = 9  # along the bottom border
    return a


def _stacks() -> dict[str, tuple[np.ndarray, str]]:
    plane = _grid(3, 6)
    shifted = [np.roll(plane, k, axis=1) * np.uint16(k + 1) for k in range(6)]
    return {
        "movie": (np.stack(shifted[:4]), "TYX"),
        "z stack": (np.stack(shifted[:3]), "ZYX"),
        "hyperstack": (np.stack(shifted).reshape(2, 3, *plane.shape), "TZYX"),
        "one frame of z planes": (np.stack(shifted[:3])[None], "TZYX"),
        "frames of one z plane": (np.stack(shifted[:3])[:, None], "TZYX"),
    }


@pytest.mark.parametrize("case", list(_stacks()))
def test_rois_carry_the_position_imagej_finds_their_plane_by(tmp_path, case):
    """A movie's ROIs had only hyperstack positions (c, z, t); ImageJ opens a movie's label image as a plain
    stack, where its ROI Manager moves to a ROI's plane by the stack position only: every ROI stayed on
    frame 1. Plain stacks now get the stack position, hyperstacks (T and Z) the hyperstack positions."""
    lab, dims = _stacks()[case]
    rois = read_rois(write_rois(tmp_path / "r.zip", to_dataarray(lab, dims=dims)))
    n_t, n_z = (lab.shape[0], 1) if dims == "TYX" else (1, lab.shape[0]) if dims == "ZYX" else lab.shape[:2]
    planes = lab.reshape(n_t * n_z, *lab.shape[-2:])
    expected = [(i, int(v)) for i in range(len(planes)) for v in np.unique(planes[i]) if v]
    assert len(rois) == len(expected)
    for roi, (i, v) in zip(rois, expected):
        t, z = divmod(i, n_z)
        assert roi.properties["label"] == v
        if n_t > 1 and n_z > 1:
            assert (roi.position, roi.c_position, roi.z_position, roi.t_position) == (0, 0, z + 1, t + 1)
        else:
            assert (roi.position, roi.c_position, roi.z_position, roi.t_position) == (i + 1, 0, 0, 0)
    assert np.array_equal(rois_to_labels(rois, shape=lab.shape, dims=dims), lab)


def test_roi_zip_memory_follows_one_frame_not_the_movie(tmp_path):
    """Every ROI of a movie was built before the first was written (about 2.3 kB each held at once: GBs for
    hundreds of frames of thousands of cells); ROIs are now written as each plane is outlined."""
    plane = _grid()
    write_rois(tmp_path / "warm.zip", to_dataarray(np.stack([plane] * 2), dims="TYX"))  # imports, caches

    def peak(n_frames: int) -> int:
        labels = to_dataarray(np.stack([plane] * n_frames), dims="TYX")
        return traced_peak(write_rois, tmp_path / f"r{n_frames}.zip", labels)[1]

    small, large = peak(5), peak(50)
    per_roi = (large - small) / (45 * 36)
    assert len(read_rois(tmp_path / "r50.zip")) == 50 * 36
    assert per_roi < 1000, f"{per_roi:.0f} bytes more per ROI of the movie"  # the zip's own index: ~350 bytes


def _fill_in_imagej(roi, shape) -> np.ndarray:
    import jpype

    ip = jpype.JClass("ij.process.ByteProcessor")(shape[1], shape[0])
    ip.setColor(255)
    ip.fill(roi)
    return np.asarray(ip.getPixels(), np.int8).reshape(shape) != 0


@pytest.mark.jvm
def test_imagej_roi_manager_moves_to_each_movie_roi_frame(tmp_path, ij):
    """Selecting a ROI of a movie in ImageJ's ROI Manager showed frame 1 (or whatever was on show), so its
    outline sat on another frame's cells and Measure measured that frame."""
    import jpype

    lab = _stacks()["movie"][0]
    paths = write_outputs(tmp_path, to_dataarray(lab, dims="TYX"), stem="movie")
    imp = jpype.JClass("ij.IJ").openImage(str(paths["labels"]))
    rm = jpype.JClass("ij.plugin.frame.RoiManager")(False)
    try:
        rm.runCommand("Open", str(paths["rois"]))
        rois = list(rm.getRoisAsArray())
        assert len(rois) == sum(len(np.unique(f)) - 1 for f in lab) and imp.getNFrames() == len(lab)
        for index, roi in enumerate(rois):
            frame = int(str(roi.getName())[1:5])
            imp.setSlice(len(lab) + 1 - frame)  # the mirror frame on show, never its own
            rm.select(imp, index)
            stats = imp.getStatistics()  # of the pixels inside the selected ROI, on the frame on show
            label = int(str(roi.getName()).split("-L")[1])
            assert imp.getCurrentSlice() == frame, roi.getName()
            assert (stats.min, stats.max) == (label, label), roi.getName()
    finally:
        rm.reset()
        rm.close()
        imp.close()


@pytest.mark.jvm
def test_imagej_fills_every_odd_object_roi_exactly_and_opens_the_32bit_labels(tmp_path, ij):
    import jpype

    plane = _odd_plane()
    lab = np.stack([plane, np.roll(plane, 1, axis=0), np.roll(plane, -1, axis=1)])  # pieces wrap around
    da = to_dataarray(lab, dims="TYX", scale={"X": 0.5, "Y": 0.5, "T": 2.0},
                      units={"X": "µm", "Y": "µm", "T": "s"})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The largest label id", UserWarning)  # 70000: written as 32-bit
        paths = write_outputs(tmp_path, da, stem="odd")
    rm = jpype.JClass("ij.plugin.frame.RoiManager")(False)
    imp = jpype.JClass("ij.IJ").openImage(str(paths["labels"]))
    try:
        rm.runCommand("Open", str(paths["rois"]))
        rois = list(rm.getRoisAsArray())
        expected = [(t, int(v)) for t in range(len(lab)) for v in np.unique(lab[t]) if v]
        assert [str(r.getName()) for r in rois] == [f"t{t + 1:04d}-L{v:05d}" for t, v in expected]
        for roi, (t, v) in zip(rois, expected):
            want = lab[t] == v
            got = _fill_in_imagej(roi, plane.shape)
            assert np.array_equal(got, want), f"{roi.getName()}: {int((got != want).sum())} pixels differ"
            assert roi.getPosition() == t + 1 and roi.getGroup() == (v - 1) % 255 + 1
        assert imp.getBitDepth() == 32 and imp.getNFrames() == 3 and imp.getNSlices() == 1
        cal = imp.getCalibration()
        assert cal.pixelWidth == 0.5 and cal.frameInterval == 2.0 and str(cal.getTimeUnit()) == "sec"
        assert imp.getProcessor().isColorLut() and imp.getDisplayRangeMax() == 70000
        frame3 = np.asarray(imp.getStack().getProcessor(3).getPixels(), np.float32).reshape(plane.shape)
        assert np.array_equal(frame3, lab[2])
    finally:
        rm.reset()
        rm.close()
        imp.close()


def test_thick_overlay_outlines_use_no_deprecated_call():
    """``thickness`` above 1 called ``skimage.morphology.square`` (a FutureWarning in scikit-image 0.25 and
    0.26, to be removed in 0.27, where every overlay would fail at its import); scipy draws the same picture."""
    from labelfree.io import glasbey_lut
    from labelfree.overlay import overlay_rgb

    lab = np.zeros((10, 10), np.uint16)
    lab[3:7, 3:7] = 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thin, thick = overlay_rgb(None, lab, thickness=1), overlay_rgb(None, lab, thickness=2)
    ring = np.zeros((10, 10), bool)
    ring[3:7, 3:7] = True
    ring[4:6, 4:6] = False
    grown = np.zeros((10, 10), bool)  # the ring and its pixels one up, one left, one up-left
    grown[2:7, 2:7] = True
    grown[4, 4] = False
    assert np.array_equal(thin.any(axis=-1), ring) and np.array_equal(thick.any(axis=-1), grown)
    assert (thick[grown] == glasbey_lut()[:, 5]).all()
