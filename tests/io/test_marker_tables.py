"""Marker tables as users have them: plain points, ImageJ's Results table, LabelFree's own _table.csv."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.io.markers import read_markers

#: a calibrated time-lapse: 0.5 µm pixels, origin (X 10 µm, Y -2 µm)
IMAGE = to_dataarray(np.zeros((3, 60, 80), np.uint16), dims="TYX", scale={"X": 0.5, "Y": 0.5},
                     origin={"X": 10.0, "Y": -2.0}, units={"X": "µm", "Y": "µm"})
PIXELS = [[1, 20, 30], [2, 41, 7]]  # (t, y, x)


def _imagej_rows(frame_column="Frame"):
    """What ImageJ's Analyze > Measure writes for points at PIXELS (X, Y calibrated; frames from 1)."""
    lines = [f" ,Label,Area,Mean,X,Y,{frame_column}"]
    for i, (t, y, x) in enumerate(PIXELS, 1):
        lines.append(f"{i},cells:{t + 1},0.000,0,{10 + 0.5 * x:.3f},{-2 + 0.5 * y:.3f},{t + 1}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("frame_column", ["Frame", "Slice"])
def test_imagej_results_table_is_read_in_its_own_units(frame_column, tmp_path):
    path = tmp_path / "Results.csv"
    path.write_text(_imagej_rows(frame_column))
    np.testing.assert_allclose(read_markers(path, image=IMAGE), PIXELS)


def test_labelfree_table_of_nuclei_gives_their_centroids_in_pixels(tmp_path):
    from labelfree.measure import measure_objects

    labels = np.zeros((3, 60, 80), np.uint16)
    for k, (t, y, x) in enumerate(PIXELS, 1):
        labels[t, y - 2 : y + 3, x - 2 : x + 3] = k
    table = measure_objects(to_dataarray(labels, dims="TYX", scale={"X": 0.5, "Y": 0.5}, origin={"X": 10.0, "Y": -2.0}))
    table.to_csv(tmp_path / "nuclei_table.csv", index=False)
    assert (table["centroid_x"] != [p[2] for p in PIXELS]).all()  # calibrated in the file
    np.testing.assert_allclose(read_markers(tmp_path / "nuclei_table.csv", image=IMAGE), PIXELS)


def test_plain_points_stay_pixels_with_0_based_frames(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("t,y,x\n" + "".join(f"{t},{y},{x}\n" for t, y, x in PIXELS))
    np.testing.assert_allclose(read_markers(path, image=IMAGE), PIXELS)
    path.write_text("X,Y\n30,20\n")  # upper-case X, Y alone: a user's pixel table, not ImageJ's
    np.testing.assert_allclose(read_markers(path, image=IMAGE[0]), [[20, 30]])


def test_imagej_table_that_cannot_say_the_frame_is_a_clear_error(tmp_path):
    path = tmp_path / "Results.csv"
    path.write_text(_imagej_rows("Slice"))
    hyper = to_dataarray(np.zeros((3, 2, 60, 80), np.uint16), dims="TCYX")
    with pytest.raises(InputError, match="Slice column counts the planes of a hyperstack with C.*Stack position"):
        read_markers(path, image=hyper)
    path.write_text(" ,Label,X,Y\n1,cells,25,8\n")
    with pytest.raises(InputError, match="no Frame or Slice column.*time-lapse"):
        read_markers(path, image=IMAGE)
    np.testing.assert_allclose(read_markers(path, image=IMAGE[0]), [[20, 30]])  # one frame: no frame needed
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="needs columns named y and x.*ImageJ's Results table"):
        read_markers(path, image=IMAGE)


def test_a_marker_image_of_another_shape_is_refused_not_reshaped(tmp_path):
    import tifffile

    image = to_dataarray(np.zeros((100, 200), np.uint16), dims="YX")
    turned = np.zeros((200, 100), np.uint16)  # as many pixels as the image, axes the other way
    turned[150:155, 10:15] = 1
    tifffile.imwrite(tmp_path / "turned.tif", turned)
    with pytest.raises(InputError, match=r"shape \(200, 100\); it must match the image, \(100, 200\)"):
        read_markers(tmp_path / "turned.tif", image=image)
    plane = np.zeros((1, 100, 200), np.uint16)  # one plane saved with a leading axis of 1 is that plane
    plane[0, 20:25, 30:35] = 3
    tifffile.imwrite(tmp_path / "plane.tif", plane, imagej=True, metadata={"axes": "ZYX"})
    lab = read_markers(tmp_path / "plane.tif", image=image)
    assert lab.shape == (100, 200) and np.argwhere(lab == 3).min(0).tolist() == [20, 30]


def test_a_plain_label_stack_is_read_as_the_movie_s_frames(tmp_path):
    """A (T, Y, X) nucleus label stack saved by NumPy/tifffile carries no axis names; for a movie
    of that shape its planes are the frames (it was refused with a --dims hint meant for images)."""
    import tifffile

    movie = to_dataarray(np.zeros((5, 40, 60), np.uint16), dims="TYX")
    stack = np.zeros((5, 40, 60), np.uint16)
    for t in range(5):
        stack[t, 10 + t:14 + t, 20:24] = 7
    tifffile.imwrite(tmp_path / "nuclei.tif", stack)
    assert np.array_equal(read_markers(tmp_path / "nuclei.tif", image=movie), stack)
    with pytest.raises(InputError, match=r"shape \(5, 40, 60\); it must match the image, \(4, 40, 60\)"):
        read_markers(tmp_path / "nuclei.tif", image=movie[:4])
    tifffile.imwrite(tmp_path / "four.tif", np.zeros((2, 5, 40, 60), np.uint16))
    with pytest.raises(InputError, match=r"has shape \(2, 5, 40, 60\); it must match the image, \(5, 40, 60\)"):
        read_markers(tmp_path / "four.tif", image=movie)


def test_markers_in_frames_the_image_lacks_are_refused(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("y,x,t\n28,40,0\n30,50,5\n")
    with pytest.raises(InputError, match=r"row 3 is in frame 5 \(0-based\), but the image has 3 frame\(s\) \(0-2\)"):
        read_markers(path, image=IMAGE)
    with pytest.raises(InputError, match=r"row 3 is in frame 5 \(0-based\), but the image has 1 frame"):
        read_markers(path, image=IMAGE[0])  # was: the frame-5 marker used on the single frame
    path.write_text("y,x,t\n28,40,0.5\n")
    with pytest.raises(InputError, match=r"row 2 is in frame 0.5"):
        read_markers(path, image=IMAGE)
    path.write_text(" ,Label,X,Y,Frame\n1,cells,25,8,0\n")  # ImageJ counts frames from 1
    with pytest.raises(InputError, match=r"frame 0 \(counted from 1\).*\(1-3\)"):
        read_markers(path, image=IMAGE)
    path.write_text("y,x,t\n28,40,0\n")  # frame 0 of a single frame is that frame
    np.testing.assert_allclose(read_markers(path, image=IMAGE[0]), [[28, 40]])


def test_a_label_png_of_nuclei_gives_its_exact_labels(tmp_path):
    """Nuclei saved as Cellpose saves masks (16-bit grey PNG, labels above 255) are markers of one plane, value for
    value; a movie needs a label TIFF of its frames, and a JPEG holds no exact labels."""
    from PIL import Image

    labels = np.zeros((60, 80), np.uint16)
    for k, (_, y, x) in enumerate(PIXELS):
        labels[y - 2 : y + 3, x - 2 : x + 3] = 300 + k  # above 8 bits: read exactly
    Image.fromarray(labels).save(tmp_path / "nuclei_masks.png")
    plane = to_dataarray(np.zeros((60, 80), np.uint16), dims="YX")
    markers = read_markers(tmp_path / "nuclei_masks.png", image=plane)
    assert markers.dtype.kind in "iu" and markers.shape == (60, 80)
    np.testing.assert_array_equal(markers, labels)
    with pytest.raises(InputError, match=r"nuclei_masks\.png is one 60 x 80 plane; it must match the image, "
                                         r"\(3, 60, 80\)"):
        read_markers(tmp_path / "nuclei_masks.png", image=IMAGE)
    Image.fromarray((labels > 0).astype(np.uint8) * 255).convert("RGB").save(tmp_path / "nuclei.jpg")
    with pytest.raises(InputError, match=r"Unknown marker file type 'nuclei\.jpg'.*a grey label \.png"):
        read_markers(tmp_path / "nuclei.jpg", image=plane)


def test_a_label_tiff_with_a_colour_palette_gives_its_ids(tmp_path):
    """A nucleus label image saved with a glasbey-like palette (tifffile, scikit-image) keeps its ids as markers;
    read as an image its palette is applied (colours), which are no ids."""
    import tifffile

    labels = np.zeros((40, 60), np.uint8)
    labels[5:12, 5:12], labels[20:30, 30:44] = 1, 2
    colours = np.random.default_rng(0).integers(0, 65535, (3, 256)).astype(np.uint16)
    colours[:, 0] = 0
    tifffile.imwrite(tmp_path / "nuclei.tif", labels, photometric="palette", colormap=colours)
    assert np.array_equal(read_markers(tmp_path / "nuclei.tif", shape=(40, 60)), labels)
