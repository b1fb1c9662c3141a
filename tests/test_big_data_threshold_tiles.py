"""Long time-lapses and tiles as a big-data user meets them: the threshold pipeline reads a lazy movie plane by
plane into labels of their final type, a pipeline config object makes a tile function (the docs recipe runs as
written), and a tiled run over a stack says once that objects were cut by a tile border."""
import logging
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from traced_memory import traced_peak

from labelfree import to_dataarray
from labelfree.errors import ConfigError
from labelfree.pipelines import get_pipeline
from labelfree.run import run_tiled
from labelfree.threshold import ThresholdConfig, segment
from labelfree.threshold.segment import threshold_plane, whole_plane_config
from labelfree.tiling import PipelineTileFunction, segment_tiled, tiled_labels

REPO = Path(__file__).resolve().parents[1]


def _msc_frames(msc_dir: Path, n: int) -> np.ndarray:
    files = sorted((msc_dir / "01").glob("t*.tif"))[:n]
    return np.stack([tifffile.imread(f) for f in files])


def _lazy(movie: np.ndarray):
    import dask.array as da

    return to_dataarray(da.from_array(movie, chunks=(1,) + movie.shape[1:]), dims="TYX")


def test_a_lazy_movie_is_read_plane_by_plane_into_uint16_labels(msc_dir):
    """segment() holds one frame and the uint16 labels, not the movie, a uint32 buffer and its uint16 copy (the
    whole-image check of labelfree.image.validate_image included: it goes chunk by chunk)."""
    movie = np.tile(_msc_frames(msc_dir, 3), (8, 1, 1))[:, :400, :400]  # 24 frames, 7.7 MB
    expected = np.stack([threshold_plane(frame, ThresholdConfig()) for frame in movie])
    image = _lazy(movie)
    labels, peak = traced_peak(segment, image)
    assert labels.dtype == np.uint16
    assert np.array_equal(labels.values, expected)
    # old: the movie (7.7 MB) + uint32 labels (15.4 MB) + their uint16 copy (7.7 MB) at once
    assert peak < labels.nbytes + 12 * movie[0].nbytes, (peak, labels.nbytes)


def test_labels_are_the_same_lazy_or_in_memory_and_uint32_past_65535_objects():
    """A plane of more than 65535 objects after one with few makes the labels uint32 (as labels_like chose them
    from the whole uint32 buffer), every plane's ids kept."""
    few = np.zeros((600, 600), np.uint16)
    few[100:200, 100:200] = 1000
    many = np.zeros((600, 600), np.uint16)
    many[::2, ::2] = 1000  # 90000 one-pixel objects
    movie = np.stack([few, many, few])
    cfg = {"threshold": 500, "min_size": 0, "split_touching": False, "fill_holes": False}
    lazy = segment(_lazy(movie), config=cfg)
    eager = segment(to_dataarray(movie, dims="TYX"), config=cfg)
    assert lazy.dtype == eager.dtype == np.uint32
    assert np.array_equal(lazy.values, eager.values)
    assert [int(p.max()) for p in lazy.values] == [1, 90000, 1]
    assert np.array_equal(lazy.values[1], threshold_plane(many, ThresholdConfig.from_dict(cfg)))


def test_real_movies_give_the_same_labels_lazy_as_frame_by_frame(msc_dir, shared_data):
    """MSC and SIM+ frames: the lazy movie's labels are each frame's labels, bit for bit, uint16."""
    sim = sorted((shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01").glob("t*.tif"))[:3]
    if not sim:
        pytest.skip("Fluo-N2DH-SIM+/01 is absent")
    for movie in (_msc_frames(msc_dir, 3), np.stack([tifffile.imread(f) for f in sim])):
        labels = segment(_lazy(movie))
        assert labels.dtype == np.uint16
        for frame, got in zip(movie, labels.values):
            assert np.array_equal(got, segment(frame).values)


def _plane() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.normal(100, 5, (128, 160)).astype(np.float32)
    for y, x in [(20, 30), (70, 100), (100, 40), (40, 130)]:
        img[y - 8:y + 8, x - 8:x + 8] += 200
    return img


def test_a_config_object_makes_a_picklable_tile_function():
    """The docs call `PipelineTileFunction("threshold", whole_plane_config(img, ThresholdConfig()))` runs, serial and
    lazy, with the labels of the config's dict; the function keeps a dict (pickles)."""
    img = _plane()
    cfg = whole_plane_config(img, ThresholdConfig())
    fn = PipelineTileFunction("threshold", cfg)
    assert fn.config == cfg.to_dict()
    assert pickle.loads(pickle.dumps(fn)) == fn
    serial = segment_tiled(img, fn, tile=64, overlap=32)
    assert serial.n_objects == 4
    by_dict = segment_tiled(img, PipelineTileFunction("threshold", cfg.to_dict()), tile=64, overlap=32)
    assert np.array_equal(serial.labels, by_dict.labels)
    lazy = tiled_labels(img, fn, tile=64, overlap=32).compute(scheduler="sync")
    assert np.array_equal(lazy, serial.labels)


@pytest.mark.parametrize("config, words", [
    ({"min_size": -1}, "ThresholdConfig.min_size must be a whole number >= 0; got -1."),
    ({"no_such": 1}, "Unknown ThresholdConfig option(s): no_such."),
])
def test_a_bad_config_is_refused_when_the_tile_function_is_built(config, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        PipelineTileFunction("threshold", config)


def test_the_docs_tiles_recipe_runs_as_written(tmp_path, monkeypatch, msc_dir):
    """docs/batch.md "Tiles": the python block, on a real MSC frame stored as big.ome.zarr."""
    pytest.importorskip("zarr")
    from labelfree.io import write_ngff

    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    section = text[text.index("**Tiles.**"):text.index("**Warnings of a tiled run.**")]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    frame = _msc_frames(msc_dir, 1)[0]
    write_ngff(tmp_path / "big.ome.zarr", to_dataarray(frame, dims="YX"))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "batch.md", "exec"), scope)
    expected = segment(frame).values
    assert scope["result"].n_objects == int(expected.max())
    assert np.array_equal(scope["result"].labels, expected)  # one tile: the whole-plane labels
    assert np.array_equal(scope["lazy"].compute(), expected)


def _cut_records(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cut by a tile border" in r.getMessage()]


def test_a_tiled_stack_says_once_that_objects_were_cut_naming_the_planes(caplog):
    """Five frames, a 40-px square across the seams of 32-px tiles with 4 px of overlap: one log line for the run,
    with the total and the first three planes; a direct segment_tiled call on one plane still says it."""
    movie = np.zeros((5, 96, 96), np.uint16)
    movie[:, 28:68, 28:68] = 1000
    movie[1] = 0
    movie[1, 5:9, 5:9] = 1000  # a small object inside one core: no cut in T=1
    image = to_dataarray(movie, dims="TYX")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        labels = run_tiled(get_pipeline("threshold"), image, config=ThresholdConfig(threshold=500), tile=32,
                           overlap=4)
    assert labels.shape == movie.shape
    records = _cut_records(caplog)
    n_cut = labels.attrs["labelfree"]["tiles"]["objects_cut"]
    assert n_cut > 4  # the square, cut in each of 4 planes
    assert records == [f"tiled segmentation: {n_cut} object(s) larger than the overlap (4 px) were cut by a tile "
                       "border in 4 of 5 planes (T=0; T=2; T=3; ...); raise overlap above the largest object "
                       "diameter."]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        segment_tiled(movie[0], PipelineTileFunction("threshold", {"threshold": 500}), tile=32, overlap=4)
    records = _cut_records(caplog)
    assert len(records) == 1 and "planes" not in records[0], records
