"""A run repeated from its provenance record reads its image as the first run did.

``labelfree PIPELINE IMAGE --config OUT/x_provenance.json`` (and ``run_pipeline(config=record)``) take the
choices the first run's command line made about its input (``--channel``, ``--channel-names``, ``--dims``,
``--series``, ``--tile``/``--tile-overlap``) unless the rerun gives them (then those win, with a warning
naming what differs). Before, the rerun read the image with its own defaults: all channels, the file's names,
no dims, the first series, no tiles, and so failed or gave other labels without a word.

A plain TIFF whose last axis holds a few channels is offered ``--dims YXC``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import DimensionError
from labelfree.io import read_image
from labelfree.run import run_pipeline


def _channels(n: int = 3, size: int = 64) -> np.ndarray:
    """(n, size, size) uint16: each channel shows other blobs (channel c: squares of side 6 + 3c at its own
    places), so that each channel choice gives other labels."""
    rng = np.random.default_rng(7)
    image = rng.integers(90, 110, (n, size, size)).astype(np.uint16)
    for c in range(n):
        side = 6 + 3 * c
        for k in range(3 + c):
            y, x = 4 + (k * 17 + 11 * c) % (size - side - 8), 4 + (k * 23 + 5 * c) % (size - side - 8)
            image[c, y:y + side, x:x + side] = 900
    return image


def _labels(folder: Path, stem: str) -> np.ndarray:
    return tifffile.imread(folder / f"{stem}_labels.tif")


def _record(folder: Path, stem: str) -> dict:
    return json.loads((folder / f"{stem}_provenance.json").read_text(encoding="utf-8"))


def _run(*argv: object) -> None:
    code = main([str(a) for a in argv])
    assert code == 0


@pytest.fixture
def named(tmp_path):
    """An ImageJ TIFF with the channels nuc, mem, noisy."""
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, _channels(), imagej=True, metadata={"axes": "CYX", "Labels": ["nuc", "mem", "noisy"]})
    return path


def test_threshold_rerun_takes_the_channel_of_its_run(tmp_path, named):
    _run("threshold", named, "-o", tmp_path / "a", "--channel", "mem", "-q")
    # before: "Threshold segments one channel ... has 3" (no --channel given on the rerun)
    _run("threshold", named, "--config", tmp_path / "a" / "img_provenance.json", "-o", tmp_path / "b", "-q")
    first = _labels(tmp_path / "a", "img")
    assert first.max() == 4  # the mem channel's 4 squares
    np.testing.assert_array_equal(_labels(tmp_path / "b", "img"), first)
    assert _record(tmp_path / "a", "img")["input_options"] == {"channels": ["mem"]}
    assert _record(tmp_path / "b", "img")["input_options"] == {"channels": ["mem"]}


def test_the_command_line_wins_and_a_warning_names_the_difference(tmp_path, named):
    _run("threshold", named, "-o", tmp_path / "a", "--channel", "mem", "-q")
    _run("threshold", named, "--config", tmp_path / "a" / "img_provenance.json", "--channel", "0",
         "-o", tmp_path / "b", "-q")
    again = _record(tmp_path / "b", "img")
    assert _labels(tmp_path / "b", "img").max() == 3  # channel 0 (nuc): its 3 squares
    said = [w for w in again.get("warnings", []) if "read its image otherwise" in w]
    assert len(said) == 1 and "--channel 0 given; the run chose --channel mem" in said[0]
    assert again["input_options"] == {"channels": [0]}


def test_dims_channel_names_and_channel_of_a_plain_tiff_are_repeated(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.moveaxis(_channels(2), 0, -1))  # (64, 64, 2): no axes recorded
    _run("threshold", path, "-o", tmp_path / "a", "--dims", "YXC", "--channel-names", "DAPI,GFP",
         "--channel", "GFP", "-q")
    # before: the rerun read the file without dims: a DimensionError
    _run("threshold", path, "--config", tmp_path / "a" / "plain_provenance.json", "-o", tmp_path / "b", "-q")
    first = _labels(tmp_path / "a", "plain")
    assert first.max() == 4
    np.testing.assert_array_equal(_labels(tmp_path / "b", "plain"), first)
    assert _record(tmp_path / "b", "plain")["channels"] == ["GFP"]
    assert _record(tmp_path / "a", "plain")["input_options"] == {
        "channels": ["GFP"], "channel_names": ["DAPI", "GFP"], "dims": "YXC"}


def test_the_series_is_repeated_with_its_output_name(tmp_path):
    path = tmp_path / "two.tif"
    image = _channels(2)
    with tifffile.TiffWriter(path) as tif:  # two series of one plane each
        tif.write(image[0], metadata={"axes": "YX"})
        tif.write(image[1], metadata={"axes": "YX"})
    _run("threshold", path, "-o", tmp_path / "a", "--series", "1", "-q")
    _run("threshold", path, "--config", tmp_path / "a" / "two_series1_provenance.json", "-o", tmp_path / "b", "-q")
    first = _labels(tmp_path / "a", "two_series1")
    assert first.max() == 4  # series 1: the second plane's 4 squares (series 0 has 3)
    np.testing.assert_array_equal(_labels(tmp_path / "b", "two_series1"), first)
    assert _record(tmp_path / "a", "two_series1")["input_options"] == {"series": 1}


def test_the_tiles_of_a_tiled_run_are_repeated(tmp_path):
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, _channels()[2])
    _run("threshold", path, "-o", tmp_path / "a", "--tile", "32", "--tile-overlap", "8", "-q")
    _run("threshold", path, "--config", tmp_path / "a" / "one_provenance.json", "-o", tmp_path / "b", "-q")
    again = _record(tmp_path / "b", "one")
    assert again.get("tiles", {}).get("tile") == 32 and again["tiles"]["overlap"] == 8  # before: a whole-image run
    np.testing.assert_array_equal(_labels(tmp_path / "b", "one"), _labels(tmp_path / "a", "one"))


# the command says it (a log line) when the mask of this toy image holds none of the markers
@pytest.mark.filterwarnings("default::labelfree.cutter.MarkerWarning")
def test_cutter_rerun_takes_the_channels_of_its_run(tmp_path, named):
    options = ["--set", "n_steps=2", "--set", "width=4", "--threads", "1", "--no-progress", "-q"]
    _run("cutter", named, "-o", tmp_path / "a", "--channel", "nuc,noisy", *options)
    _run("cutter", named, "--config", tmp_path / "a" / "img_provenance.json", "-o", tmp_path / "b", "--no-progress",
         "-q")
    again = _record(tmp_path / "b", "img")
    assert again["channels"] == ["nuc", "noisy"]  # before: nuc, mem, noisy
    np.testing.assert_array_equal(_labels(tmp_path / "b", "img"), _labels(tmp_path / "a", "img"))
    assert _record(tmp_path / "a", "img")["input_options"] == {"channels": ["nuc", "noisy"]}


def test_run_pipeline_takes_the_channel_of_a_record_and_names_the_channel_names(tmp_path, caplog):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _channels(2), imagej=True, metadata={"axes": "CYX"})  # channels C0, C1
    _run("threshold", path, "-o", tmp_path / "a", "--channel-names", "DAPI,GFP", "--channel", "GFP", "-q")
    record = _record(tmp_path / "a", "plain")
    first = _labels(tmp_path / "a", "plain")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        labels = run_pipeline("threshold", read_image(path, channel_names=["DAPI", "GFP"]), config=record)
    assert "otherwise" not in caplog.text
    np.testing.assert_array_equal(np.asarray(labels), first)  # before: no channel given, 2 channels: an error
    assert labels.attrs["labelfree"]["input_options"] == {"channels": ["GFP"]}
    # read without the names: the run cannot find GFP, and the warning before says how the run read it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labelfree"), pytest.raises(Exception, match="GFP"):
        run_pipeline("threshold", read_image(path), config=record)
    assert "its channels were named DAPI,GFP (channel_names=), this image's are C0,C1" in caplog.text


def test_run_pipeline_repeats_the_tiles_of_a_tiled_record_and_warns_where_told_not_to(tmp_path, caplog):
    """With its default ``tile="auto"`` a run repeated from a tiled run's record takes its tiles (before: it ran
    whole, warning); told to run whole (``tile=None``) it warns that the labels may differ."""
    image = _channels()[1]
    first = run_pipeline("threshold", image, tile=32, tile_overlap=8)
    record = dict(first.attrs["labelfree"])
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        again = run_pipeline("threshold", image, config=record)
    assert "it ran in tiles" not in caplog.text
    assert again.attrs["labelfree"]["tiles"] == first.attrs["labelfree"]["tiles"]
    np.testing.assert_array_equal(again.values, first.values)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        run_pipeline("threshold", image, config=record, tile=None)
    assert "it ran in tiles of 32 px (tile=32, tile_overlap=8)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        run_pipeline("threshold", image, config=record, tile=16, tile_overlap=8)
    assert "it ran in tiles of 32 px (tile=32, tile_overlap=8), this one in tiles of 16 px" in caplog.text


def test_a_record_of_whole_planes_repeated_in_tiles_warns(monkeypatch, caplog):
    """A run recorded with its planes whole, repeated where a whole plane's work cannot fit in the memory left (so
    in the tiles chosen for it), or in tiles given: the labels may differ on the tiles' borders, and the log says
    so (before: tiled without a word of it)."""
    image = np.tile(_channels()[1][:48, :48], (25, 25))  # 1200 x 1200 px
    record = dict(run_pipeline("threshold", image).attrs["labelfree"])
    assert "tiles" not in record
    labels, work = 2 * image.size, 8 * image.size  # Threshold's work on a plane: 8 bytes a pixel
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: labels + work - 1)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        tiled = run_pipeline("threshold", image, config=record)
    assert tiled.attrs["labelfree"]["tiles"]["tile"] == 512  # 1024 px and the overlaps would not fit
    assert "it segmented each plane whole (tile=None), this one in tiles of 512 px" in caplog.text, caplog.text


def test_an_older_record_gives_the_channels_it_segmented(tmp_path, named):
    """A record written before input_options: its ``channels`` (those it segmented) are handed over."""
    _run("threshold", named, "-o", tmp_path / "a", "--channel", "noisy", "-q")
    path = tmp_path / "a" / "img_provenance.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record.pop("input_options", None)
    assert record["channels"] == ["noisy"]
    old = tmp_path / "old_provenance.json"
    old.write_text(json.dumps(record), encoding="utf-8")
    _run("threshold", named, "--config", old, "-o", tmp_path / "b", "-q")
    np.testing.assert_array_equal(_labels(tmp_path / "b", "img"), _labels(tmp_path / "a", "img"))
    assert _record(tmp_path / "b", "img")["input_options"] == {"channels": ["noisy"]}


@pytest.mark.parametrize("shape, dims", [((64, 48, 2), "YXC"), ((3, 64, 48, 2), "TYXC")])
def test_a_channels_last_tiff_is_offered_its_dims(tmp_path, shape, dims):
    path = tmp_path / "last.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint16))
    with pytest.raises(DimensionError) as caught:
        read_image(path)
    text = str(caught.value)
    assert f"--dims {dims} for {shape[-1]} channels stored last (images of 64x48 pixels)" in text
    assert "for a time-lapse" in text and "for a z-stack" in text  # the other suggestions stay
    assert read_image(path, dims=dims).sizes["C"] == shape[-1]


def test_a_long_last_axis_is_not_offered_channels(tmp_path):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.zeros((5, 64, 48), np.uint16))  # 5 frames (tifffile: QYX), not channels
    with pytest.raises(DimensionError) as caught:
        read_image(path)
    assert "stored last" not in str(caught.value)


def test_batch_and_fiji_take_a_records_settings_but_read_each_image_as_they_say(named, tmp_path, capsys):
    """``labelfree batch -c record``: the record's channel choice is not handed to every input (the table of each
    input is measured on the channels the batch hands over): an input of several channels and no --channels is
    refused as a batch run without a record refuses it, not segmented on the record's channel (a guard: the batch
    declines the record's input choices, ``decline_recorded(..., *INPUT_ENTRIES)``)."""
    _run("threshold", named, "--channel", "mem", "-o", tmp_path / "first", "-q")
    record = tmp_path / "first" / "img_provenance.json"
    code = main(["batch", str(named), "-p", "threshold", "-c", str(record), "-o", str(tmp_path / "b"),
                 "--scheduler", "sync", "--no-progress"])
    said = capsys.readouterr()
    assert code != 0 and not (tmp_path / "b" / "img_labels.tif").exists()
    assert "channel" in (said.out + said.err).lower()
    _run("batch", named, "-p", "threshold", "-c", record, "--channel", "mem", "-o", tmp_path / "c", "--scheduler",
         "sync", "--no-progress")
    assert np.array_equal(_labels(tmp_path / "c", "img"), _labels(tmp_path / "first", "img"))
