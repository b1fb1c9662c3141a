"""Motion gives the same labels for the same values, whatever the movie's pixel type or 0..1 float scale."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from labelfree import motion
from labelfree.motion.flow import integer_movie, integer_scale, uint8_range


@pytest.fixture(scope="module")
def c2c12(c2c12_movie):
    """The real C2C12 phase-contrast movie (10 x 234 x 234 uint8, laptrack)."""
    return c2c12_movie[0]


def _labels(movie: np.ndarray) -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return motion.segment(movie)


def test_the_same_real_movie_gives_the_same_labels_in_every_pixel_type(c2c12):
    """Before, float copies (float32, float32 / 255 as napari and skimage's img_as_float give them) were
    clipped at the percentiles and not enlarged (object F1 0.524 -> 0.086), int64 got the float rule in its
    enlarged pass (0.348). A uint16 movie stays 16-bit data, dim or not (a camera's counts: the percentile
    range measured on the real 16-bit sets), so uint16 of the same values is not among the copies."""
    as8 = _labels(c2c12)
    assert as8.attrs["labelfree"]["auto"]["upsample"] == 2  # small cells: the enlarged pass is compared too
    assert "integer_values" not in as8.attrs["labelfree"]
    copies = {
        "int64": c2c12.astype(np.int64),
        "float32": c2c12.astype(np.float32),
        "float32 / 255": c2c12.astype(np.float32) / np.float32(255),
        "img_as_float (float64 / 255)": c2c12 / 255.0,
        "img_as_uint (uint16 x 257)": c2c12.astype(np.uint16) * 257,
        "float32 x 0.37": c2c12.astype(np.float32) * np.float32(0.37),
        "float64 x 1e300": c2c12 * 1e300,
    }
    assert "integer_values" not in _labels(c2c12.astype(np.uint16)).attrs["labelfree"]  # 16-bit data as given
    for name, movie in copies.items():
        labels = _labels(movie)
        assert np.array_equal(labels.values, as8.values), name
        record = labels.attrs["labelfree"]
        assert record["integer_values"]["to"] == "uint8", name
        assert record["integer_values"]["from"] == str(movie.dtype), name
        assert record["integer_values"]["times"] == pytest.approx(np.max(c2c12) / np.max(movie)), name
        assert record["uint8_range"] == as8.attrs["labelfree"]["uint8_range"], name


def test_the_range_of_a_float_copy_is_that_of_its_8_bit_values(c2c12):
    """The public grey range: a 0..1 float copy of an 8-bit movie is spread from its smallest to its largest
    value, as the 8-bit movie, not clipped at its percentiles (before: 0.1098 .. 0.4757)."""
    lo8, hi8 = uint8_range(c2c12)
    lo, hi = uint8_range(c2c12.astype(np.float32) / np.float32(255))
    assert (lo, hi) == pytest.approx((lo8 / 255, hi8 / 255), abs=1e-6)
    assert uint8_range(c2c12.astype(np.float64)) == (lo8, hi8)
    assert uint8_range(c2c12.astype(np.uint16) * 257) == (lo8 * 257, hi8 * 257)


def test_real_integer_movies_are_segmented_as_they_are(msc_dir):
    """Real uint16 movies keep their values and their percentile range: MSC is an 8-bit camera's movie
    shifted by 8 bits (multiples of 256), and its benchmark rows come from those percentiles."""
    import tifffile

    frames = np.stack([tifffile.imread(msc_dir / "01" / f"t{t:03d}.tif") for t in range(4)])
    assert frames.dtype == np.uint16 and not np.any(frames % 256)
    da = motion.as_movie(frames)
    same, record = integer_movie(da)
    assert same is da and record is None
    sample = frames[:, ::4, ::4].astype(np.float32)
    assert uint8_range(frames) == tuple(float(v) for v in np.percentile(sample, [0.5, 99.8]))
    # its int64 and float copies are segmented as the uint16 movie: the same range and the same values
    for copy in (frames.astype(np.int64), frames.astype(np.float32), frames / 65535.0):
        converted, record = integer_movie(motion.as_movie(copy))
        assert converted.dtype == np.uint16 and np.array_equal(converted.values, frames)
        assert record["to"] == "uint16"
    uint8 = motion.as_movie((frames[:, :64, :64] // 256).astype(np.uint8))
    assert integer_movie(uint8)[0] is uint8


def test_integer_values_of_float_movies():
    """Whole numbers are found within the float type's rounding only; measured floats stay as they are."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4096, size=(3, 32, 32)).astype(np.uint16)
    assert integer_scale(counts.astype(np.float32)) == 1.0
    assert integer_scale(counts.astype(np.float32) / np.float32(65535)) == 65535.0
    assert integer_scale((counts // 16).astype(np.float64) / 255) == 255.0
    assert integer_scale(counts.astype(np.int32) - 5) is None  # negative values: no unsigned type holds them
    assert integer_scale(counts * 1.0001) is None  # measured floats
    assert integer_scale(counts.astype(np.float32) + np.float32(0.5)) is None
    eight = (counts // 16).astype(np.float64)  # 8-bit values at any scale: one step, at most 255 steps apart
    assert integer_scale(eight * 1e-300) == pytest.approx(1e300)
    assert integer_scale(eight * 0.37) == pytest.approx(1 / 0.37)
    assert integer_scale(eight * 0.37 + 500) is None  # an offset: where its 0 lies is not known
    assert integer_scale(counts * 0.37) is None  # 4096 values: more than 8 bits, at no known scale
    assert integer_scale((counts // 16).astype(np.uint16) * 257) == 1 / 257  # img_as_uint of 8 bits
    measured = motion.as_movie(counts * 0.37 + 0.1)
    assert integer_movie(measured)[0] is measured
    back, record = integer_movie(motion.as_movie(counts.astype(np.float32) / np.float32(65535)))
    assert back.dtype == np.uint16 and np.array_equal(back.values, counts)
    assert record == {"from": "float32", "times": 65535.0, "to": "uint16"}


def test_a_large_integer_movie_stays_integer_when_enlarged(c2c12):
    """An int64 movie beyond 16 bits (an offset of 100000) is enlarged as integers: its enlarged pass has the
    range rule of an integer movie (spread, never clipped), as before the enlargement, not a float's."""
    offset = _labels(c2c12.astype(np.int64) + 100_000)
    record = offset.attrs["labelfree"]
    assert record["working_scale"]["upsample"] == 2
    lo, hi = record["uint8_range"]
    assert hi - lo < 256 and lo >= 100_000 and lo == int(lo) and hi == int(hi)


def test_the_flow_speeds_of_a_float_copy_are_those_of_the_8_bit_movie(c2c12):
    """``flow_magnitude_stack`` maps the frames to 8 bits as ``segment`` does: the same speeds for a 0..1 copy."""
    as8 = motion.flow_magnitude_stack(c2c12[:3])
    np.testing.assert_array_equal(motion.flow_magnitude_stack(c2c12[:3] / 255.0).values, as8.values)


def test_a_copy_larger_than_memory_allows_is_not_made(monkeypatch, caplog):
    """A memory-mapped float movie larger than memory stays streamed: segmented as given, and the log says so."""
    movie = motion.as_movie(np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16) % 200)
    monkeypatch.setattr("labelfree._threads.available_memory", lambda: 100)
    with caplog.at_level("WARNING", logger="labelfree.motion.flow"):
        same, record = integer_movie(movie)
    assert same is movie and record is None
    assert "its uint8 copy needs" in caplog.text and "segmented as given" in caplog.text


def test_a_movie_is_not_enlarged_beyond_the_memory_left(c2c12, monkeypatch, caplog):
    """C2C12's small cells are segmented enlarged 2 x 2 (above); where the enlarged frames and labels would take more
    than half the memory left, Motion segments at the input's size and says so in the log. The
    memory is read when the run decides (before, the reading was bound when the module was first imported: a run kept
    whatever the memory reading was then). 40 frames: enough that their enlarged copy, not one frame's work, is what
    does not fit."""
    long = np.concatenate([np.asarray(c2c12)] * 4)
    enlarged = long.size * 2 * 2 * (4 + 2)  # 8-bit frames enlarged as 32-bit floats, and their labels: 50 MiB
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 2 * enlarged - 2)
    with caplog.at_level("WARNING", logger="labelfree"):
        labels = _labels(long)
    record = labels.attrs["labelfree"]
    assert labels.shape == long.shape and "working_scale" not in record and record["auto"].get("upsample") is None
    said = ("would be segmented enlarged 2 x 2, but that needs 50 MiB for the enlarged frames and labels and 108 MiB "
            "for the work on one enlarged frame, and 100 MiB are free; segmenting at the input's size")
    assert said in caplog.text
    assert labels.values.max() > 0


def test_a_short_movie_is_not_enlarged_where_one_enlarged_frames_work_cannot_fit(c2c12, monkeypatch, caplog):
    """10 frames: their enlarged copy (13 MiB) fits in half of 100 MiB, but Motion's work on one enlarged frame
    (108 MiB: 80 MiB and 135 bytes a pixel of 468 x 468) does not fit beside it, where the input's (87 MiB) did: the
    movie is segmented at its input's size (before, enlarged; a large frame would have been killed there)."""
    from labelfree.motion.spec import SPEC

    short = np.asarray(c2c12)
    assert SPEC.work_bytes(468 * 468) > 100 * 2**20 > SPEC.work_bytes(234 * 234) + 2 * short.size
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 100 * 2**20)
    with caplog.at_level("WARNING", logger="labelfree"):
        labels = _labels(short)
    assert "working_scale" not in labels.attrs["labelfree"] and labels.values.max() > 0
    assert "and 108 MiB for the work on one enlarged frame, and 100 MiB are free" in caplog.text
