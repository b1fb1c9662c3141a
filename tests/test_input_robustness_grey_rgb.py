"""A grey image saved as 8-bit RGB (three identical channels) is one grey channel.

Cutter's nucleus-channel guess used to refuse it ("no channel of this image clearly shows
nuclei (R: ... G: ... B: ...)") and Motion and threshold asked for ``channel=``; all now
take the grey image, through :func:`labelfree.image.merge_identical_channels`, and log it once.
Channels that differ keep the old behaviour and messages.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.cutter.markers import guess_nucleus_channel
from labelfree.errors import DimensionError, InputError
from labelfree.image import identical_channels, merge_identical_channels, to_dataarray
from labelfree.io import read_image
from labelfree.run import prepare_image

MERGED = "are identical (a grey image saved as colour)"


def _to8(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return np.round((a - a.min()) / (a.max() - a.min()) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dsb8(shared_data) -> np.ndarray:
    """A 256 x 256 crop of the DSB 2018 nuclei image, stretched to 8 bits."""
    path = shared_data / "misc" / "stardist_dsb2018" / "img2d.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return _to8(tifffile.imread(path)[:256, :256])


def _merged_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if MERGED in r.getMessage()]


def test_cutter_guess_takes_identical_channels_as_one_grey_image(dsb8, caplog):
    rgb = np.repeat(dsb8[None], 3, 0)
    with caplog.at_level(logging.WARNING, logger="labelfree.image"):
        index, record = guess_nucleus_channel(rgb, names=["R", "G", "B"])  # before: InputError
    assert index == 0 and "identical" in record["rule"]
    assert len(_merged_logs(caplog)) == 1 and "['R', 'G', 'B']" in _merged_logs(caplog)[0]


def test_cutter_guess_on_channels_that_differ_is_unchanged(dsb8):
    rgb = np.stack([dsb8, np.roll(dsb8, 60, axis=1), dsb8 // 2])  # three channels of nuclei, all different
    with pytest.raises(InputError, match=r"no channel of this image clearly shows nuclei \(.*R: foreground"):
        guess_nucleus_channel(rgb, names=["R", "G", "B"])


@pytest.mark.parametrize("pipeline", ["threshold", "motion"])
def test_one_channel_pipelines_take_the_grey_image(tmp_path, dsb8, pipeline, caplog):
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, np.repeat(dsb8[..., None], 3, -1), photometric="rgb")
    image = read_image(path)
    assert image.dims == ("C", "Y", "X")
    with caplog.at_level(logging.WARNING, logger="labelfree.image"):
        first = prepare_image(pipeline, image)  # before: "segments one channel, but the image has 3"
        second = prepare_image(pipeline, image)  # the CLI prepares the image twice: logged once
    assert first.dims == second.dims == ("Y", "X")
    np.testing.assert_array_equal(first.values, dsb8)
    assert len(_merged_logs(caplog)) == 1


def test_threshold_cli_on_a_grey_rgb_export_equals_the_grey_image(tmp_path, dsb8):
    tifffile.imwrite(tmp_path / "rgb.tif", np.repeat(dsb8[..., None], 3, -1), photometric="rgb")
    tifffile.imwrite(tmp_path / "grey.tif", dsb8)
    for name in ("rgb", "grey"):
        assert main(["threshold", str(tmp_path / f"{name}.tif"), "-o", str(tmp_path / name), "-q", "--no-progress"]) == 0
    rgb, grey = (tifffile.imread(tmp_path / n / f"{n}_labels.tif") for n in ("rgb", "grey"))
    assert grey.max() > 10
    np.testing.assert_array_equal(rgb, grey)


def test_channels_that_differ_still_ask_for_a_channel():
    rng = np.random.default_rng(0)
    image = to_dataarray(rng.integers(0, 255, (3, 32, 32), dtype=np.uint8), dims="CYX", channel_names=list("RGB"))
    with pytest.raises(DimensionError, match=r"the image has 3: \['R', 'G', 'B'\]. Choose one: channel=") as err:
        prepare_image("threshold", image)
    assert "--dims" not in str(err.value)  # not the RGB planes of a plain TIFF: no frames hint
    almost = np.repeat(rng.integers(0, 255, (1, 64, 64), dtype=np.uint8), 3, 0)
    almost[2, 37, 41] ^= 1  # one pixel off the coarse grid differs
    assert not identical_channels(almost)
    assert merge_identical_channels(to_dataarray(almost, dims="CYX")).sizes["C"] == 3


def test_identical_channels_of_a_time_lapse_and_a_dask_image():
    da = pytest.importorskip("dask.array")
    movie = np.random.default_rng(1).integers(0, 4000, (4, 1, 40, 40), dtype=np.uint16)
    tcyx = np.repeat(movie, 2, axis=1)
    assert identical_channels(tcyx, axis=1)
    merged = merge_identical_channels(to_dataarray(tcyx, dims="TCYX"))
    assert merged.dims == ("T", "Y", "X")
    assert identical_channels(da.from_array(tcyx, chunks=(1, 1, 20, 20)), axis=1)
    assert not identical_channels(np.zeros((1, 8, 8)), axis=0)
