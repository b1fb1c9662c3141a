"""Frame chunks of long movies: planning and re-linking IDs across chunks."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.batch.chunks import merge_chunks, plan_chunks
from labelfree.errors import InputError
from labelfree.labels import relabel_sequential


def test_plan_chunks_cover_every_frame_once_plus_overlap():
    assert plan_chunks(10, chunk_frames=4, overlap=1) == [(0, 4), (3, 8), (7, 10)]
    assert plan_chunks(10, chunk_frames=5, overlap=0) == [(0, 5), (5, 10)]
    assert plan_chunks(3, chunk_frames=5, overlap=1) == [(0, 3)]
    with pytest.raises(InputError, match="must exceed the frame overlap"):
        plan_chunks(10, chunk_frames=1, overlap=1)


def _tracked_movie(rng: np.random.Generator, n_frames: int = 9) -> np.ndarray:
    """Squares moving one pixel per frame; cells 3 and 5 appear late, 2 disappears."""
    movie = np.zeros((n_frames, 40, 40), np.uint16)
    for t in range(n_frames):
        for cell, (y, x) in {1: (2, 2), 2: (2, 25), 3: (25, 2), 4: (25, 25), 5: (14, 14)}.items():
            if (cell == 2 and t > 5) or (cell == 3 and t < 4) or (cell == 5 and t < 7):
                continue
            movie[t, y + t // 3: y + t // 3 + 8, x + t % 3: x + t % 3 + 8] = cell
    return movie


def _first_appearance_ids(labels: np.ndarray) -> np.ndarray:
    """Renumber IDs by order of first appearance (frame, then raster order)."""
    order = []
    for frame in labels:
        for v in frame.ravel():
            if v and v not in order:
                order.append(v)
    lut = np.zeros(int(labels.max()) + 1, np.uint32)
    lut[order] = np.arange(1, len(order) + 1)
    return lut[labels]


def test_merge_relinks_ids_across_chunks_exactly():
    rng = np.random.default_rng(0)
    movie = _tracked_movie(rng)
    parts = []
    for a, b in plan_chunks(len(movie), chunk_frames=3, overlap=1):
        chunk = movie[a:b]
        perm = np.concatenate([[0], rng.permutation(np.arange(1, 20)) + 30])  # each chunk numbers on its own
        parts.append((a, perm[chunk]))
    merged = merge_chunks(parts, overlap=1)
    assert merged.shape == movie.shape
    np.testing.assert_array_equal(_first_appearance_ids(merged), _first_appearance_ids(movie))
    assert len(np.unique(merged)) - 1 == 5  # one ID per cell over the whole movie


def test_merge_without_overlap_concatenates_per_frame_labels():
    movie = np.stack([relabel_sequential(f) for f in _tracked_movie(np.random.default_rng(1))])
    parts = [(a, movie[a:b]) for a, b in plan_chunks(len(movie), chunk_frames=4, overlap=0)]
    np.testing.assert_array_equal(merge_chunks(parts, overlap=0), movie)


def test_chunks_of_a_motion_movie_share_the_first_chunk_s_scale(tmp_path):
    """A 60-frame movie in chunks of 20: each chunk measured its own cell size, and on frames
    19-39 alone Motion took cells 5 x too large (area 4172 px against 828), so min_size 1043
    merged every cell of that chunk into one object, and the provenance showed chunk 0's values
    only. Every chunk now uses the first chunk's automatic settings, and the provenance holds
    every chunk's frames."""
    import tifffile

    from labelfree.batch import run_batch
    from labelfree.datasets import synthetic_movie
    from labelfree.io.labels_tiff import read_provenance

    movie, _ = synthetic_movie(n_frames=60, shape=(128, 128), n_cells=6, seed=3)
    tifffile.imwrite(tmp_path / "movie60.tif", movie.values, imagej=True, metadata={"axes": "TYX"})
    counts, records = {}, {}
    for name, chunks in (("whole", None), ("chunked", 20)):
        out = tmp_path / name
        summary = run_batch(tmp_path / "movie60.tif", pipeline="motion", out_dir=out, progress=False,
                            batch={"scheduler": "sync", "chunk_frames": chunks})
        assert list(summary["status"]) == ["ok"]
        labels = tifffile.imread(out / "movie60_labels.tif")
        counts[name] = [len(np.unique(frame)) - 1 for frame in labels]
        records[name] = read_provenance(out / "movie60_labels.tif")
    assert min(counts["chunked"][20:40]) >= 4  # before: 1 object in frames 20-38, none in 39
    assert sum(counts["chunked"]) == pytest.approx(sum(counts["whole"]), rel=0.05)  # 335 and 339 measured
    assert records["chunked"]["auto"]["min_size"] == pytest.approx(records["whole"]["auto"]["min_size"], rel=0.05)
    assert [r["frame"] for r in records["chunked"]["thresholds"]] == list(range(1, 60))
