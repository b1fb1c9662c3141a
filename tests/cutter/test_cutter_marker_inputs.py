"""Markers Cutter is given that are probably not what was meant: said clearly, without training."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cutter_synth import two_channel_cells

from labelfree.cutter.markers import check_markers, markers_from_labels
from labelfree.errors import DimensionError, InputError
from labelfree.image import to_dataarray

CHANNELS = {"cell_channels": ("cell",)}


def _image(seed: int = 0):
    image, _, nuclei, centres = two_channel_cells(seed=seed)
    return to_dataarray(image, dims="CYX", channel_names=["cell", "nucleus"]), nuclei, centres


def _movie():
    frames = [two_channel_cells(seed=s) for s in (0, 1)]
    movie = to_dataarray(np.stack([f[0] for f in frames]), dims="TCYX", channel_names=["cell", "nucleus"])
    return movie, [f[3] for f in frames]


def test_a_marker_image_of_the_wrong_size_is_said_to_be_one():
    """A nucleus label image cropped to 100 x 128 for a 128 x 128 image was refused as points ("Markers
    must be an (N, 2) array of (y, x) positions; got shape (100, 128)")."""
    from labelfree.cutter.segment import prepare

    da, nuclei, _ = _image()
    for wrong in (nuclei[:100], nuclei[:, :64] > 0, nuclei[:100].astype(np.float32)):
        size = " x ".join(map(str, wrong.shape))
        with pytest.raises(DimensionError, match=rf"marker image is {size} but the image is 128 x 128 .*label image "
                                                 r"of the image's Y, X size.*\(N, 2\) \(y, x\) points"):
            prepare(da, markers=wrong, config=CHANNELS)
    movie, _ = _movie()
    with pytest.raises(DimensionError, match=r"marker image is 2 x 100 x 128 but the image is 128 x 128"):
        prepare(movie, markers=np.stack([nuclei[:100]] * 2), config=CHANNELS)
    # points stay points, near misses included: the points message, not the image one
    pts = np.array([[10.0, 12.0], [40.0, 50.0], [70.0, 20.0], [90.0, 90.0], [30.0, 100.0]])
    np.testing.assert_array_equal(check_markers(pts, shape=(128, 128)), pts)
    for near in (pts.T, pts.T.astype(int), np.c_[pts, pts[:, :1]], np.c_[pts, pts].astype(int)[:3]):
        with pytest.raises(InputError, match=r"must be an \(N, 2\) array of \(y, x\) positions"):
            check_markers(near, shape=(128, 128))


def test_y_x_points_for_a_movie_are_used_in_every_frame_with_a_warning():
    """(N, 2) points given for a movie (a markers CSV without a t column) were used in every frame
    without a word: each cell was cut between the markers of the other frames."""
    from labelfree.cutter.prepare import MarkerWarning
    from labelfree.cutter.segment import prepare

    movie, centres = _movie()
    every = np.concatenate(centres)
    with pytest.warns(MarkerWarning, match=r"for a movie of 2 frames: the same points are used in every frame.*"
                                           r"\(t, y, x\) points.*a t column"):
        prepared = prepare(movie, markers=every, config=CHANNELS)
    assert [len(f.ids) for f in prepared.frames] == [len(every)] * 2  # still the documented static field
    per_frame = np.concatenate([np.c_[np.full(len(c), t), c] for t, c in enumerate(centres)])
    da, _, single = _image()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MarkerWarning)
        prepared = prepare(movie, markers=per_frame, config=CHANNELS)  # (t, y, x): no warning
        assert [len(f.ids) for f in prepared.frames] == [len(c) for c in centres]
        prepare(da, markers=single, config=CHANNELS)  # one frame: (y, x) is all it can be
        prepare(movie.isel(T=[0]), markers=centres[0], config=CHANNELS)  # a one-frame movie too


def test_no_marker_on_the_foreground_is_said():
    """One marker on the background, markers that all miss the cells, or an empty mask gave empty
    labels and no explanation."""
    from labelfree.cutter.prepare import MarkerWarning
    from labelfree.cutter.segment import prepare

    da, _, centres = _image()
    cfg = {**CHANNELS, "downscale": 1, "marker_sigma": 5, "mask_smoothing": 2, "mask_peak_window": 9}
    for markers, why in (([[2.0, 2.0]], r"its one marker lies on the background"),
                         ([[2.0, 2.0], [125.0, 3.0]], r"all its 2 markers lie on the background")):
        with pytest.warns(MarkerWarning, match=rf"no marker lies in the foreground mask \({why}\).*labels are "
                                               r"empty.*markers are on the cells.*nucleus_channel.*mask"):
            prepare(da, markers=np.array(markers), config=cfg)
    with pytest.warns(MarkerWarning, match=r"no marker lies in the foreground mask \(the foreground mask is empty\)"):
        prepare(da, markers=centres, config=cfg, mask=np.zeros((128, 128), bool))
    movie, _ = _movie()
    nuclei = np.stack([two_channel_cells(seed=s)[2] for s in (0, 1)])
    with pytest.warns(MarkerWarning,
                      match=r"foreground mask of frame 1 \(0-based\) \(the foreground mask is empty\)") as said:
        prepare(movie, markers=nuclei, config=cfg, mask=np.stack([np.ones((128, 128), bool),
                                                                  np.zeros((128, 128), bool)]))
    assert len(said) == 1  # frame 0 has its cells
    from labelfree.cutter import segment

    with pytest.warns(MarkerWarning, match="the foreground mask is empty"):  # the whole run: empty labels, said
        labels = segment(da, markers=centres, mask=np.zeros((128, 128), bool),
                         config={**cfg, "n_steps": 1, "width": 4, "crop_size": 32})
    assert labels.shape == (128, 128) and labels.values.max() == 0
    # most on cells: the one on the background is said by itself, with where it is
    with pytest.warns(MarkerWarning, match=rf"1 of {len(centres) + 1} markers lie on the background of the "
                                           r"foreground mask, so no cell is cut there: \(y=2, x=2\)") as said:
        prepare(da, markers=np.concatenate([centres, [[2.0, 2.0]]]), config=cfg)
    assert len(said) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", MarkerWarning)
        prepare(da, markers=centres, config=cfg, mask=np.ones((128, 128), bool))


def test_a_length_1_z_axis_is_the_plane_itself():
    """A CZYX image of one plane (as ImageJ hyperstacks and OME files often carry) was refused with
    'unexpected Z ... pick a plane'; it is the plane itself. Several planes are still refused."""
    import xarray as xr

    from labelfree.cutter import segment

    image, _, nuclei, _ = two_channel_cells(seed=0)
    plane = to_dataarray(image, dims="CYX", channel_names=["cell", "nucleus"])
    config = {"n_steps": 3, "width": 8, "cell_channels": ["cell"], "nucleus_channel": "nucleus"}
    flat = segment(plane, markers=nuclei, config=config)
    one = segment(plane.expand_dims("Z", axis=1), markers=nuclei, config=config)
    assert one.dims == ("Y", "X") and np.array_equal(one.values, flat.values) and flat.values.max() > 0
    with pytest.raises(DimensionError, match="unexpected Z"):
        segment(xr.concat([plane, plane], dim="Z").transpose("C", "Z", "Y", "X"), markers=nuclei, config=config)


def test_a_plain_tiff_movie_read_as_rgb_is_told_how_to_read_its_planes_as_frames(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    from labelfree.cli import main

    # three frames of the same nuclei, written as tifffile writes any (3, Y, X) array: RGB planes
    yy, xx = np.mgrid[:96, :96]
    frames = np.stack([sum(((yy - y) ** 2 + (xx - x - t) ** 2 <= 36) for y, x in ((20, 20), (50, 60), (75, 25)))
                       for t in range(3)]).astype(np.uint8) * 200
    tifffile.imwrite(tmp_path / "movie.tif", frames)
    assert main(["cutter", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    # before: only "Set nucleus_channel to ... ['R', 'G', 'B']", which would take one frame as the nuclei
    assert "no channel of this image clearly shows nuclei" in err and "--dims TYX" in err and "Traceback" not in err


def test_a_movie_frame_without_markers_is_named():
    """Markers for frames 0 only of a 2-frame movie said "The marker label image is empty (all zero)" (points:
    "No markers were given"), which names no frame, though the marker image was not empty."""
    from labelfree.cutter.segment import prepare

    movie, centres = _movie()
    points = np.c_[np.zeros(len(centres[0])), centres[0]]  # (t, y, x), all in frame 0
    with pytest.raises(InputError, match=r"Frame 1 of the movie \(0-based: the frame at position 2\) has no marker; "
                                         r"in the \(t, y, x\) markers, the markers are on frame\(s\) 0 only\."):
        prepare(movie, markers=points, config=CHANNELS)
    image = np.zeros((2, *movie.shape[-2:]), np.uint16)
    for k, (y, x) in enumerate(np.rint(centres[1]).astype(int), start=1):
        image[1, y, x] = k
    with pytest.raises(InputError, match=r"Frame 0 of the movie .* has no marker; in the marker image, the markers "
                                         r"are on frame\(s\) 1 only\."):
        prepare(movie, markers=image, config=CHANNELS)


def test_an_intensity_image_given_as_marker_labels_is_refused(tmp_path, capsys):
    """The nucleus channel itself given as the marker label image was read as one marker per grey level
    (124 scattered "nuclei" on a GOWT1 frame), with no more than a warning about markers on the background."""
    tifffile = pytest.importorskip("tifffile")
    from labelfree.cli import main

    da, nuclei, centres = _image()
    grey = da.sel(C="nucleus").values
    grey = np.round(grey / grey.max() * 4000).astype(np.uint16)  # as a camera gives it
    with pytest.raises(InputError, match=r"does not look like a label image: its \d+ values lie in \d+ separate "
                                         r"pieces.*Give a label image \(0 = background, one value per nucleus\)"):
        prepare_markers(da, grey)
    tifffile.imwrite(tmp_path / "cells.tif", da.values.astype(np.float32), imagej=True, metadata={"axes": "CYX"})
    tifffile.imwrite(tmp_path / "grey.tif", grey)
    out = tmp_path / "out"
    assert main(["cutter", str(tmp_path / "cells.tif"), "-o", str(out), "--markers", str(tmp_path / "grey.tif"),
                 "--channel-names", "cell,nucleus", "--set", "cell_channels=cell"]) == 1
    err = capsys.readouterr().err
    assert "does not look like a label image" in err and "Traceback" not in err and not out.exists()
    # label images stay label images, touching labels included
    pts, ids = markers_from_labels(nuclei)
    assert len(pts) == len(centres) == len(ids)
    tiles = np.arange(1, 17).reshape(4, 4).repeat(3, axis=0).repeat(3, axis=1)  # 16 touching 3 x 3 labels
    assert len(markers_from_labels(tiles)[0]) == 16


def prepare_markers(da, markers):
    from labelfree.cutter.segment import prepare

    return prepare(da, markers=markers, config=CHANNELS)


def test_frames_without_a_marked_cell_are_said_in_one_warning():
    """Each frame of a movie with no marker on its foreground gave its own 400-character warning (eight lines in
    the ImageJ Log for an eight-frame movie); now one warning names the frames."""
    from labelfree.cutter.prepare import MarkerWarning
    from labelfree.cutter.segment import prepare

    frames = [two_channel_cells(seed=s) for s in (0, 1, 2, 3)]
    movie = to_dataarray(np.stack([f[0] for f in frames]), dims="TCYX", channel_names=["cell", "nucleus"])
    nuclei = np.stack([f[2] for f in frames])
    cfg = {**CHANNELS, "downscale": 1, "marker_sigma": 5, "mask_smoothing": 2, "mask_peak_window": 9}
    empty = np.stack([np.ones((128, 128), bool)] + [np.zeros((128, 128), bool)] * 3)
    with pytest.warns(MarkerWarning, match=r"no marker lies in the foreground mask of 3 of the 4 frames \(1, 2, 3; "
                                           r"0-based\) \(mask empty\).*their labels are empty") as said:
        prepare(movie, markers=nuclei, config=cfg, mask=empty)
    assert len([w for w in said if "no marker lies" in str(w.message)]) == 1


def test_the_prepared_frames_keep_a_marker_label_image_for_the_cells_cores():
    """Markers given as a label image keep their blobs (every frame its own; a binary mask split into its blobs,
    numbered as the markers' ids; a padded image's in the input's pixels); points and detected markers have none.
    The blobs' pixels then stay in their cells (labelfree.cutter.refine.redraw_boundaries)."""
    from labelfree.cutter.segment import prepare

    image, nuclei, centres = _image()
    frames = prepare(image, markers=nuclei, config=CHANNELS).frames
    assert np.array_equal(frames[0].blobs, nuclei) and set(frames[0].ids) == set(np.unique(nuclei)) - {0}
    assert prepare(image, markers=centres, config=CHANNELS).frames[0].blobs is None
    binary = prepare(image, markers=(nuclei > 0).astype(np.uint8), config=CHANNELS).frames[0]
    assert binary.blobs.max() == len(binary.ids) == len(centres) and np.array_equal(binary.blobs > 0, nuclei > 0)
    for k, (y, x) in zip(binary.ids, np.rint(binary.markers).astype(int)):
        assert binary.blobs[y, x] == k  # each marker lies in its own blob
    movie, _ = _movie()
    stack = np.stack([two_channel_cells(seed=s)[2] for s in (0, 1)])
    assert [np.array_equal(f.blobs, b) for f, b in zip(prepare(movie, markers=stack, config=CHANNELS).frames,
                                                          stack)] == [True, True]
    canvas = np.zeros((2, 200, 220), np.float32)
    canvas[:, 30:158, 50:178] = image.values
    padded = np.zeros((200, 220), nuclei.dtype)
    padded[30:158, 50:178] = nuclei
    placed = prepare(to_dataarray(canvas, dims="CYX", channel_names=["cell", "nucleus"]), markers=padded,
                     config=CHANNELS)
    assert placed.box is not None and np.array_equal(placed.frames[0].blobs, padded)
