"""Chunks of a Motion movie (``labelfree batch --chunk-frames``) map grey levels with the whole movie's range."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.batch import run_batch
from labelfree.errors import ConfigError

pytestmark = pytest.mark.slow

#: GOWT1 (8-bit) frames 4-11, top-left 512 x 512: the whole movie spans grey levels 0-236 (frame 6), the second
#: chunk of 4 (frames 3-7 of the movie, overlap included) only 0-215
FIRST, N_FRAMES, CROP, CHUNK = 4, 8, 512, 4


@pytest.fixture(scope="module")
def movie(shared_data: Path, tmp_path_factory) -> Path:
    from labelfree import datasets

    path = shared_data / "ctc" / "Fluo-N2DH-GOWT1"
    if not (path / "01").is_dir():
        pytest.skip(f"{path}/01 is absent")
    data = datasets.load_ctc("Fluo-N2DH-GOWT1", "01", frames=range(FIRST, FIRST + N_FRAMES), root=shared_data)
    frames = np.ascontiguousarray(np.asarray(data.movie.values)[:, :CROP, :CROP])
    out = tmp_path_factory.mktemp("grey_range") / "gowt1.tif"
    tifffile.imwrite(out, frames, imagej=True, metadata={"axes": "TYX"})
    return out


@pytest.fixture(scope="module")
def whole(movie: Path, tmp_path_factory) -> tuple[np.ndarray, dict]:
    out = tmp_path_factory.mktemp("whole")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_batch(str(movie), pipeline="motion", out_dir=out, scheduler="sync", progress=False)
    return tifffile.imread(out / "gowt1_labels.tif"), json.loads((out / "gowt1_provenance.json").read_text())


def _chunked(movie: Path, out: Path, scheduler: object = "sync") -> tuple[np.ndarray, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = run_batch(str(movie), pipeline="motion", out_dir=out, scheduler=scheduler, progress=False,
                            batch={"chunk_frames": CHUNK})
    assert (summary["status"] == "ok").all(), summary["error"].tolist()
    return tifffile.imread(out / "gowt1_labels.tif"), json.loads((out / "gowt1_provenance.json").read_text())


def test_every_chunk_gets_the_whole_movies_grey_range(movie, whole, tmp_path, monkeypatch):
    from labelfree.batch import dispatch
    from labelfree.motion.flow import uint8_range

    frames = tifffile.imread(movie)
    # the chunks differ in range: the second one alone spans fewer grey levels than the whole movie
    assert uint8_range(frames) == (0.0, 236.0)
    assert uint8_range(frames[3:8]) == (0.0, 215.0)
    assert whole[1]["uint8_range"] == [0.0, 236.0]
    used = []  # every chunk's own provenance: the range it mapped its frames with
    segment_chunk = dispatch.segment_chunk_packed

    def spy(*args, **kwargs):
        part = segment_chunk(*args, **kwargs)
        used.append((part[0], part[2]["uint8_range"]))
        return part

    monkeypatch.setattr(dispatch, "segment_chunk_packed", spy)
    labels, record = _chunked(movie, tmp_path)
    assert record["batch"]["chunks"] == [[0, 4], [3, 8]]
    assert used == [(0, [0.0, 236.0]), (3, [0.0, 236.0])]  # the old code: (3, [0.0, 215.0])
    # one range for the run, measured on the whole movie, recorded once
    assert record["batch"]["whole_movie"] == {"grey_range": [0.0, 236.0]}
    assert record["uint8_range"] == [0.0, 236.0]
    assert record["auto"] == whole[1]["auto"]
    # the first chunk is the whole run's start; frame 6 of the second chunk is classified by its own pair's
    # classifier (frames 4 and 5 take the last classifier before them: the whole run's is not the chunk's) and
    # now equals the whole run's (the old code: foreground IoU 0.999)
    np.testing.assert_array_equal(labels[:4], whole[0][:4])
    np.testing.assert_array_equal(labels[6] > 0, whole[0][6] > 0)
    assert len(np.unique(labels[6])) == len(np.unique(whole[0][6]))


def test_chunks_on_dask_workers_read_the_whole_movies_range_from_the_file(movie, tmp_path):
    distributed = pytest.importorskip("distributed")
    sync_labels, sync_record = _chunked(movie, tmp_path / "sync")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None,
                            silence_logs=logging.ERROR) as client:
        labels, record = _chunked(movie, tmp_path / "dask", scheduler=client)
    assert record["batch"]["whole_movie"] == {"grey_range": [0.0, 236.0]}
    np.testing.assert_array_equal(labels, sync_labels)
    assert record["uint8_range"] == sync_record["uint8_range"] == [0.0, 236.0]


def test_segment_takes_a_grey_range_and_checks_it(movie):
    from labelfree import motion
    from labelfree.motion.segment import movie_grey_mapping

    frames = tifffile.imread(movie)[3:6, :128, :128]
    whole = tifffile.imread(movie)
    assert movie_grey_mapping(whole) == {"grey_range": [0.0, 236.0]}  # no frame of another exposure, no bleaching
    assert movie_grey_mapping(whole, config={"drift_correction": "python"}) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = motion.segment(frames).attrs["labelfree"]["uint8_range"]
        given = motion.segment(frames, grey_range=(0, 236)).attrs["labelfree"]["uint8_range"]
    assert own != [0.0, 236.0] and given == [0.0, 236.0]
    # in a constant canvas (segmented as the crop) and enlarged, the range and the gains given are used as they are
    canvas = np.full((3, 192, 192), 50, np.uint8)
    canvas[:, 32:160, 32:160] = frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for movie_, config in ((canvas, None), (frames, {"upsample": 2})):
            record = motion.segment(movie_, config=config, grey_range=(0, 236), frame_gains=[1, 1.25, 1]
                                    ).attrs["labelfree"]
            assert record["uint8_range"] == [0.0, 236.0], config
            assert record["frame_gains"] == [{"frame": 1, "gain": 1.25}], config
    for bad in ((5, 5), (9, 1), (0, float("nan")), "dark"):
        with pytest.raises(ConfigError, match="grey_range must be two finite grey values"):
            motion.segment(frames, grey_range=bad)
    for bad in ([1.0, 1.0], [1.0, 0.0, 1.0]):
        with pytest.raises(ConfigError, match=r"frame_gains must be one positive gain per frame of the movie \(3\)"):
            motion.segment(frames, grey_range=(0, 236), frame_gains=bad)


def test_chunks_of_a_bleaching_movie_get_the_whole_movies_frame_gains(shared_data, tmp_path):
    """A movie fading to a third: the whole run brings every frame back to its brightest ones (bleaching and
    exposure gains); each chunk gets those gains of its frames, not the trend of its own few frames."""
    from labelfree import datasets

    if not (shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01").is_dir():
        pytest.skip("Fluo-N2DH-SIM+/01 is absent")
    data = datasets.load_ctc("Fluo-N2DH-SIM+", "01", frames=range(12), root=shared_data)
    frames = np.asarray(data.movie.values)[:, :320, :320].astype(np.float64)
    faded = (frames * np.linspace(1, 0.3, len(frames))[:, None, None]).astype(np.uint16)
    path = tmp_path / "faded.tif"
    tifffile.imwrite(path, faded, imagej=True, metadata={"axes": "TYX"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_batch(str(path), pipeline="motion", out_dir=tmp_path / "whole", scheduler="sync", progress=False)
        run_batch(str(path), pipeline="motion", out_dir=tmp_path / "chunks", scheduler="sync", progress=False,
                  batch={"chunk_frames": 6})
    whole = tifffile.imread(tmp_path / "whole" / "faded_labels.tif")
    labels = tifffile.imread(tmp_path / "chunks" / "faded_labels.tif")
    ref = json.loads((tmp_path / "whole" / "faded_provenance.json").read_text())
    record = json.loads((tmp_path / "chunks" / "faded_provenance.json").read_text())
    expected = np.asarray(ref["bleaching_gains"]) * [ref.get("exposure_gains", {}).get(str(t), 1.0) for t in range(12)]
    assert np.count_nonzero(expected != 1) >= 6  # the whole run corrects the fading
    handed = record["batch"]["whole_movie"]
    assert handed["grey_range"] == ref["uint8_range"] == record["uint8_range"]
    np.testing.assert_allclose(handed["frame_gains"], expected, rtol=1e-3)
    # every chunk's own frames, at their frames in the movie (the old code: no gains handed, each chunk's own)
    assert [r["frame"] for r in record["frame_gains"]] == [t for t in range(12) if expected[t] != 1]
    np.testing.assert_allclose([r["gain"] for r in record["frame_gains"]], expected[expected != 1], rtol=1e-3)
    np.testing.assert_array_equal(labels[:6], whole[:6])
    later = [np.count_nonzero((labels[t] > 0) & (whole[t] > 0)) / np.count_nonzero((labels[t] > 0) | (whole[t] > 0))
             for t in range(6, 12)]
    assert min(later) > 0.99, later
