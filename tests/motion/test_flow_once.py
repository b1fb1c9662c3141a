"""``labelfree motion movie.tif --flow`` computes the optical flow once: the run keeps the speeds it computed and the
flow output writes them (before, the output read the movie again and computed every pair's flow a second time).
The file written is the one the flow of the movie as given makes, byte for byte; where the run's flow is not
that flow (drift corrected, enlarged, frames brought to other brightness, another movie or config) the output
computes it as before."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from labelfree import datasets, motion
from labelfree.cli import main
from labelfree.io import read_image
from labelfree.motion import flow as flow_module
from labelfree.motion import stream as stream_module
from labelfree.motion.flow import write_flow_stack


@pytest.fixture
def flow_calls(monkeypatch):
    """How many frame pairs' optical flow were computed (segment's stream, its flow settings and the flow output)."""
    calls = {"n": 0}
    real = flow_module._flow

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(flow_module, "_flow", counted)
    monkeypatch.setattr(stream_module, "_flow", counted)
    return calls


def _movie(n_frames: int = 5, seed: int = 0) -> np.ndarray:
    movie, _ = datasets.synthetic_movie(n_frames=n_frames, cell_radius=20, shape=(224, 224), seed=seed)
    return np.asarray(movie.values)


def _calibrated(tmp_path, movie: np.ndarray, name: str = "movie.tif"):
    src = tmp_path / name
    tifffile.imwrite(src, movie, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
                     metadata={"axes": "TYX", "unit": "um", "finterval": 5.0, "tunit": "min"})
    return src


def _recording():
    from labelfree.motion.flow_record import FlowRecording

    return FlowRecording()


def test_cli_flow_output_computes_each_pair_once_and_writes_the_same_file(tmp_path, flow_calls):
    movie = _movie(5)
    src = _calibrated(tmp_path, movie)
    assert main(["motion", str(src), "-o", str(tmp_path / "out"), "--flow", "-q", "--threads", "1"]) == 0
    assert flow_calls["n"] == 4  # the 4 pairs of 5 frames, once (before: 8)
    ref = write_flow_stack(tmp_path / "ref.tif", read_image(src))  # the standalone function, on the movie
    assert flow_calls["n"] == 8
    written = tmp_path / "out" / "movie_flow.tif"
    assert written.read_bytes() == ref.read_bytes()  # pixels, calibration and ImageJ metadata
    with tifffile.TiffFile(written) as tif:
        assert tif.imagej_metadata["unit"] == "um" and tif.imagej_metadata["finterval"] == 5.0
        speeds = tif.asarray()
    expected = motion.flow_magnitude_stack(movie).values
    np.testing.assert_array_equal(speeds, expected)
    np.testing.assert_array_equal(speeds[0], speeds[1])  # frame 0 repeats frame 1's speed


def test_cli_labels_are_the_same_with_and_without_the_flow_output(tmp_path):
    src = _calibrated(tmp_path, _movie(4, seed=3))
    assert main(["motion", str(src), "-o", str(tmp_path / "plain"), "-q"]) == 0
    assert main(["motion", str(src), "-o", str(tmp_path / "flow"), "--flow", "-q"]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "flow" / "movie_labels.tif"),
                                  tifffile.imread(tmp_path / "plain" / "movie_labels.tif"))


@pytest.mark.parametrize("threads", [1, 2])
def test_python_route_writes_the_run_speeds(tmp_path, flow_calls, threads):
    movie = _movie(5, seed=1)
    from labelfree.run import run_pipeline

    with _recording() as kept:
        labels = run_pipeline("motion", movie, threads=threads)
        assert flow_calls["n"] == 4
        path = write_flow_stack(tmp_path / "kept.tif", movie, labels=labels, recorded=kept)
    assert flow_calls["n"] == 4  # written from the run's speeds
    assert kept._file is None  # the temporary file went with the block
    np.testing.assert_array_equal(tifffile.imread(path), motion.flow_magnitude_stack(movie).values)
    np.testing.assert_array_equal(labels.values, motion.segment(movie).values)


def test_nothing_is_kept_without_a_recording():
    from labelfree.motion.flow_record import claim_recording

    assert claim_recording() is None
    with _recording() as kept:
        assert claim_recording() is kept
        assert claim_recording() is None  # claimed once: a later or nested run keeps nothing
    assert claim_recording() is None


def _same_as_standalone(tmp_path, movie, flow_calls, *, config=None, run_config=None, pairs: int, why: str = ""):
    """Segment ``movie`` with ``run_config`` inside a recording, write its flow with ``config``: the output
    falls back to computing the flow (``pairs`` more flows) and writes what the standalone function writes."""
    with _recording() as kept:
        labels = motion.segment(movie, config=run_config)
        assert why in kept.why_not
        before = flow_calls["n"]
        path = write_flow_stack(tmp_path / "out.tif", movie, labels=labels, config=config, recorded=kept)
        assert flow_calls["n"] - before == pairs  # computed again: the run's flow was another one
    ref = write_flow_stack(tmp_path / "ref.tif", movie, config=config)
    assert path.read_bytes() == ref.read_bytes()


def test_frame_of_another_exposure_falls_back(tmp_path, flow_calls):
    movie = _movie(6, seed=2).astype(np.uint16) * 40
    movie[3] = movie[3] * 3  # a frame of 3 x the exposure: the run brings it to its neighbours' brightness
    _same_as_standalone(tmp_path, movie, flow_calls, pairs=5, why="exposure")


def test_enlarged_run_falls_back(tmp_path, flow_calls):
    movie = _movie(4, seed=4)
    _same_as_standalone(tmp_path, movie, flow_calls, run_config={"upsample": 2}, config={"upsample": 2}, pairs=3,
                        why="enlarged")


def test_drift_corrected_run_falls_back(tmp_path, flow_calls):
    movie = _movie(4, seed=8)
    _same_as_standalone(tmp_path, movie, flow_calls, run_config={"drift_correction": "python"},
                        config={"drift_correction": "python"}, pairs=3, why="drift")


def test_another_config_falls_back(tmp_path, flow_calls):
    movie = _movie(4, seed=5)
    _same_as_standalone(tmp_path, movie, flow_calls, run_config=None, config={"winsize": 9, "flow_downsample": 1},
                        pairs=3)


def test_another_movie_falls_back(tmp_path, flow_calls):
    movie, other = _movie(4, seed=6), _movie(5, seed=7)
    with _recording() as kept:
        motion.segment(movie)
        motion.segment(other)  # not claimed: the first run keeps its own speeds
        before = flow_calls["n"]
        path = write_flow_stack(tmp_path / "out.tif", other, recorded=kept)
        assert flow_calls["n"] - before == 4
    np.testing.assert_array_equal(tifffile.imread(path), motion.flow_magnitude_stack(other).values)


def test_real_msc_crop_flow_output_is_unchanged(tmp_path, msc_dir, flow_calls):
    frames = [tifffile.imread(msc_dir / "01" / f"t{t:03d}.tif")[:384, :448] for t in range(4)]
    src = _calibrated(tmp_path, np.stack(frames), name="msc.tif")
    assert main(["motion", str(src), "-o", str(tmp_path / "plain"), "-q"]) == 0
    calls = flow_calls["n"]
    assert main(["motion", str(src), "-o", str(tmp_path / "flow"), "--flow", "-q"]) == 0
    assert flow_calls["n"] - calls == calls == 3  # the run's 3 pairs; nothing more for the flow output
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "flow" / "msc_labels.tif"),
                                  tifffile.imread(tmp_path / "plain" / "msc_labels.tif"))
    ref = write_flow_stack(tmp_path / "ref.tif", read_image(src))
    assert (tmp_path / "flow" / "msc_flow.tif").read_bytes() == ref.read_bytes()


def test_grey_range_rounded_in_the_last_bit_still_keeps_the_speeds(tmp_path, flow_calls):
    """A run without exposure or bleaching gains maps frames up to ``lo + (hi - lo) / 1``, which may differ from the
    movie's ``hi`` in the last bit: its frames are the same uint8 frames, so its speeds are kept."""
    from labelfree.motion.flow import uint8_range

    base = _movie(4, seed=9).astype(np.float64)
    rng = np.random.default_rng(0)
    for _ in range(200):  # a measured float movie whose range is such a pair (about 1 in 60 of these)
        movie = base * rng.uniform(0.5, 30) + rng.uniform(0, 4000) + rng.normal(0, 0.01, base.shape)
        lo, hi = uint8_range(movie)
        if lo + (hi - lo) / 1.0 != hi:
            break
    else:
        pytest.fail("no movie with a grey range rounded in the last bit")
    with _recording() as kept:
        labels = motion.segment(movie)
        assert kept.complete, kept.why_not
        path = write_flow_stack(tmp_path / "out.tif", movie, labels=labels, recorded=kept)
    assert flow_calls["n"] == 3
    assert path.read_bytes() == write_flow_stack(tmp_path / "ref.tif", movie).read_bytes()


@pytest.mark.parametrize("kind", ["blank frame", "0..1 floats", "NaN pixels"])
def test_kept_speeds_of_converted_and_blank_movies_are_the_standalone_ones(tmp_path, flow_calls, kind):
    """A blank frame (its pairs' flow is written, not learnt from), a 0..1 float copy (segmented as its 8-bit
    values) and NaN pixels (filled once, by the run): the kept speeds are those the flow of the movie gives."""
    movie = _movie(5, seed=10)
    if kind == "blank frame":
        movie[2] = 0
    elif kind == "0..1 floats":
        movie = movie / 255.0
    else:
        movie = movie.astype(np.float32)
        movie[1, :20, :30] = np.nan
    with _recording() as kept, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BlankFrameWarning, MissingPixelsWarning: said by their own tests
        labels = motion.segment(movie)
        assert kept.complete, kept.why_not
        path = write_flow_stack(tmp_path / "out.tif", movie, labels=labels, recorded=kept)
    assert flow_calls["n"] == 4
    assert path.read_bytes() == write_flow_stack(tmp_path / "ref.tif", movie, labels=labels).read_bytes()


def test_a_large_flow_output_is_computed_into_its_file_frame_by_frame(tmp_path, monkeypatch):
    """Speeds of more than FLOW_IN_MEMORY_BYTES that the writer computes (a run in chunks keeps none) go into the
    TIFF itself, memory-mapped, not into a movie-sized array first: the same file as the one made in memory,
    pixels and ImageJ calibration."""
    from labelfree.image import to_dataarray

    movie = to_dataarray(_movie(4), dims="TYX", scale={"Y": 0.5, "X": 0.5}, units="µm")
    write_flow_stack(tmp_path / "memory.tif", movie)
    made = []
    empty = np.empty

    def watched(shape, *args, **kwargs):
        made.append(tuple(shape) if isinstance(shape, tuple) else shape)
        return empty(shape, *args, **kwargs)

    monkeypatch.setattr(flow_module, "FLOW_IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(flow_module.np, "empty", watched)
    write_flow_stack(tmp_path / "in_place.tif", movie)
    monkeypatch.undo()
    assert (4, 224, 224) not in made  # no array of the whole stack
    with tifffile.TiffFile(tmp_path / "memory.tif") as a, tifffile.TiffFile(tmp_path / "in_place.tif") as b:
        np.testing.assert_array_equal(a.asarray(), b.asarray())
        assert a.imagej_metadata == b.imagej_metadata and a.series[0].axes == b.series[0].axes == "TYX"
        assert a.pages[0].tags["XResolution"].value == b.pages[0].tags["XResolution"].value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in_place.tif", "memory.tif"]
    in_place, memory = read_image(tmp_path / "in_place.tif"), read_image(tmp_path / "memory.tif")
    assert {**in_place.attrs, "source": ""} == {**memory.attrs, "source": ""}
    assert in_place.coords["X"].values.tolist() == memory.coords["X"].values.tolist()
