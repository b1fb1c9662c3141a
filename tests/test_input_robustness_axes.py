"""Files whose leading axis is ambiguous: plain-tifffile movies of 2-4 frames, RGB movies, z-stacks.

``tifffile.imwrite(f, movie)`` stores a (3, Y, X) or (4, Y, X) array as RGB(A) with separate
colour planes (photometric RGB in the file's tags, with a DeprecationWarning), so the file
itself declares colour; the errors must then say how to read the planes as frames (CLI
``--dims TYX``, Python ``dims=``, Fiji Image > Properties). An ``S`` in ``dims`` names the
colour samples of an RGB file, read as channels.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import ConstantImageError, DimensionError
from labelfree.image import channel_names, to_dataarray, validate_image
from labelfree.io import read_image
from labelfree.run import prepare_image

WAYS_OUT = ("--dims TYX", "dims='TYX'", "Image > Properties")


def _movie(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    """n frames of a few bright discs drifting over a noisy background (uint16)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    frames = []
    for t in range(n):
        frame = rng.normal(100, 5, (size, size))
        for cy, cx in ((25, 30), (60, 65), (30, 70)):
            frame[(yy - cy - 2 * t) ** 2 + (xx - cx - t) ** 2 < 100] += 400
        frames.append(frame)
    return np.clip(np.stack(frames), 0, None).astype(np.uint16)


def _plain_write(path, data) -> None:
    with warnings.catch_warnings():  # tifffile: such data "are stored as RGB with separate component planes"
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, data)


@pytest.mark.parametrize("n", [3, 4])
def test_plain_tifffile_movie_of_3_or_4_frames_names_every_way_out(tmp_path, n, caplog):
    path = tmp_path / "movie.tif"
    _plain_write(path, _movie(n))
    with tifffile.TiffFile(path) as tif:  # the file's own tags say colour: RGB, planes stored separately
        page = tif.series[0].keyframe
        assert (tif.series[0].axes, int(page.photometric), int(page.planarconfig)) == ("SYX", 2, 2)
    image = read_image(path)
    assert image.dims == ("C", "Y", "X") and channel_names(image) == ["R", "G", "B", "A"][:n]
    assert image.attrs["planar_rgb"] is True
    with pytest.raises(DimensionError, match="Choose one: channel=") as err:
        prepare_image("motion", image)
    assert all(way in str(err.value) for way in WAYS_OUT), err.value  # before: only channel=
    assert f"Frames {n}" in str(err.value)
    with caplog.at_level(logging.WARNING, logger="labelfree.image"):  # the old advice, followed
        prepare_image("motion", image, channel=0)
        prepare_image("motion", image, channel=0)  # each entry point prepares twice: one warning
    warned = [r for r in caplog.records if "--dims TYX" in r.getMessage()]
    assert len(warned) == 1
    movie = read_image(path, dims="TYX")
    assert movie.dims == ("T", "Y", "X") and movie.sizes["T"] == n and "planar_rgb" not in movie.attrs


def test_following_the_advice_segments_the_movie(tmp_path, capsys):
    path = tmp_path / "movie.tif"
    _plain_write(path, _movie(3))
    assert main(["motion", str(path), "-o", str(tmp_path / "a"), "--no-progress", "-q"]) == 1
    assert "--dims TYX" in capsys.readouterr().err
    # choosing one colour plane leaves one frame: that error says how to read the planes as frames
    assert main(["motion", str(path), "-o", str(tmp_path / "c"), "--channel", "0", "--no-progress", "-q"]) == 1
    assert "got one frame" in (err := capsys.readouterr().err) and "--dims TYX" in err.split("got one frame")[1]
    assert main(["motion", str(path), "-o", str(tmp_path / "b"), "--dims", "TYX", "--no-progress", "-q"]) == 0
    assert tifffile.imread(tmp_path / "b" / "movie_labels.tif").shape == (3, 96, 96)


@pytest.mark.parametrize("n", [2, 3])
def test_untagged_stack_error_names_the_cli_flag_python_and_fiji(tmp_path, n):
    path = tmp_path / "frames.tif"
    tifffile.imwrite(path, _movie(n), photometric="minisblack")  # separate pages, not RGB: never colour
    with pytest.raises(DimensionError) as err:
        read_image(path)
    text = str(err.value)
    assert all(way in text for way in WAYS_OUT) and "--dims ZYX" in text, text  # before: only read_image(...)
    assert read_image(path, dims="TYX").sizes["T"] == n


def test_plain_rgb_movie_is_read_with_an_s_axis(tmp_path):
    movie = np.repeat(_movie(3)[..., None] // 4, 3, -1).astype(np.uint8)  # (T, Y, X, 3), plain tifffile
    movie[..., 1] //= 2  # colours that differ
    path = tmp_path / "rgb_movie.tif"
    tifffile.imwrite(path, movie, photometric="rgb")
    with pytest.raises(DimensionError, match=r"--dims TYXS .*dims='TYXS'"):  # before: suggested 'TYX'
        read_image(path)
    da = read_image(path, dims="TYXS")  # before: "dims 'TYXS' must use each of T, C, Z, Y, X"
    assert da.dims == ("T", "C", "Y", "X") and channel_names(da) == ["R", "G", "B"]
    np.testing.assert_array_equal(da.values, movie.transpose(0, 3, 1, 2))
    assert read_image(path, dims="tyxs").dims == ("T", "C", "Y", "X")
    with pytest.raises(DimensionError, match="both C and S"):
        read_image(path, dims="CYXS")
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, movie[0], photometric="rgb")
    assert read_image(rgb, dims="YXS").dims == ("C", "Y", "X")
    assert channel_names(read_image(rgb, dims="YXS")) == ["R", "G", "B"]
    assert "planar_rgb" not in read_image(rgb).attrs  # contiguous RGB: colour, nothing ambiguous


def test_grey_rgb_movie_runs_from_the_command_line_with_tyxs(tmp_path):
    movie = np.repeat((_movie(3) // 4).astype(np.uint8)[..., None], 3, -1)
    path = tmp_path / "grey_rgb_movie.tif"
    tifffile.imwrite(path, movie, photometric="rgb")
    out = tmp_path / "o"
    assert main(["threshold", str(path), "-o", str(out), "--dims", "TYXS", "--no-progress", "-q"]) == 0
    labels = tifffile.imread(out / "grey_rgb_movie_labels.tif")
    assert labels.shape == (3, 96, 96) and all(labels[t].max() == 3 for t in range(3))


def test_z_stack_error_says_how_to_get_one_plane():
    stack = to_dataarray(_movie(3), dims="ZYX")
    with pytest.raises(DimensionError, match="unexpected Z") as err:
        validate_image(stack, allowed=("T", "C", "Y", "X"), name="Cutter input")
    text = str(err.value)
    assert "isel(Z=" in text and "Z Project" in text and "--dims TYX" in text, text


def test_constant_image_message_shows_a_plain_number():
    with pytest.raises(ConstantImageError, match=r"every pixel is 1000\)") as err:
        validate_image(np.full((8, 8), 1000, np.uint16))
    assert "np." not in str(err.value)  # before: np.uint16(1000)
    with pytest.raises(ConstantImageError, match=r"every pixel is 0.1\)"):
        validate_image(np.full((8, 8), 0.1, np.float32))
