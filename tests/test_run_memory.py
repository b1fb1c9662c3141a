"""A Python run (``run_pipeline``: also every command line, batch and Fiji run; and every pipeline's ``segment``) of
an image whose labels cannot fit in the memory left is refused before any work, with what to do; before, the run
started and the system killed the process part way through (the command line chunks such a movie itself, the Python
API did not say how). A movie segmented in chunks whose joined labels have room neither on the scratch folder's disk
nor in memory is refused before its first chunk, not at the merge after every chunk's work."""

from __future__ import annotations

import re

import numpy as np
import pytest

from labelfree.datasets import SAMPLE_MOVIE
from labelfree.errors import InputError
from labelfree.frame_chunks import run_in_chunks
from labelfree.io import read_image
from labelfree.run import run_pipeline


@pytest.fixture(scope="module")
def movie():
    """The sample movie: 12 frames of 192 x 192, whose uint16 labels take 12 * 73728 bytes."""
    return read_image(SAMPLE_MOVIE)


def _memory_left(monkeypatch, n_bytes):
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: n_bytes)


def test_a_movie_whose_labels_exceed_the_memory_left_is_refused_with_the_chunks_to_use(movie, monkeypatch):
    frame = 2 * 192 * 192
    _memory_left(monkeypatch, 12 * frame - 1)
    with pytest.raises(InputError) as refused:
        run_pipeline("threshold", movie)
    said = str(refused.value)
    assert "Threshold holds the labels of the whole image in memory: the image (12 T x 192 Y x 192 X)" in said
    assert "needs 0.8 MiB for them and 0.3 MiB for its work on one plane, but only 0.8 MiB of memory is left" in said
    # a sixteenth of the memory for a chunk's labels, at least 2 frames: the chunks of the command line's choice
    assert "labelfree.frame_chunks.run_in_chunks('threshold', image, chunk_frames=2, folder=...)" in said
    assert "labelfree threshold, chunks such a movie itself" in said

    # the advice works in the same memory: every chunk's labels fit, and Threshold's chunks are its whole run's
    chunked = run_in_chunks("threshold", movie, chunk_frames=2)
    _memory_left(monkeypatch, 16 * frame)  # just enough for the labels and one plane's work (8 bytes a pixel)
    np.testing.assert_array_equal(chunked.values, run_pipeline("threshold", movie).values)


def test_motion_is_refused_before_any_work(movie, monkeypatch):
    """Refused before the pipeline starts (its first step, the automatic grey range, never runs), counting its work on
    one frame (measured: benchmarks/plane_memory.py, part 3)."""
    from labelfree.motion import flow
    from labelfree.motion.spec import SPEC

    def never(*args, **kwargs):
        raise AssertionError("Motion started")

    monkeypatch.setattr(flow, "grey_mapping", never)
    frame, work = 2 * 192 * 192, SPEC.work_bytes(192 * 192)  # Motion's work on a frame: 1150 frames' labels
    longer = movie.isel(T=np.arange(120) % 12)  # 120 frames, whose labels take more than ...
    _memory_left(monkeypatch, work + 40 * frame)  # ... a frame's work and 40 frames' labels: chunks of 39 fit
    with pytest.raises(InputError, match=r"Motion holds the labels .* needs 8.4 MiB for them and 85 MiB for its work "
                                         r"on one plane, .*\.run_in_chunks\('motion', image, chunk_frames=39, "
                                         r"folder=\.\.\.\)"):
        run_pipeline("motion", longer)
    _memory_left(monkeypatch, work + 6 * frame - 1)  # a chunk of five (and one shared) would not fit, of four would
    with pytest.raises(InputError, match=r"Motion holds the labels .*\.run_in_chunks\('motion', image, "
                                         r"chunk_frames=4, folder=\.\.\.\)"):
        run_pipeline("motion", movie)
    _memory_left(monkeypatch, work + 3 * frame - 1)  # not even a chunk of the least length, 2 (and one shared)
    with pytest.raises(InputError, match=r"Motion holds the labels .* Segment a part of it at a time"):
        run_pipeline("motion", movie)
    _memory_left(monkeypatch, work + 12 * frame)  # the whole movie's labels and a frame's work: it runs
    assert run_pipeline("motion", movie.isel(T=slice(0, 3))).sizes["T"] == 3


def test_a_plane_too_large_says_to_segment_a_part_of_it(movie, monkeypatch):
    """One plane (or chunks of the least length) whose labels cannot fit: chunks of frames cannot help."""
    _memory_left(monkeypatch, 2 * 192 * 192 - 1)
    for image in (movie.isel(T=0), movie):  # a 2-D image; a movie whose 2-frame chunks cannot fit either
        with pytest.raises(InputError) as refused:
            run_pipeline("threshold", image)
        said = str(refused.value)
        assert "run_in_chunks" not in said
        assert "Segment a part of it at a time (a crop, or fewer frames or slices: image.isel(...))" in said
    with pytest.raises(InputError, match="Threshold holds the labels of the whole image in memory, also in tiles"):
        run_pipeline("threshold", movie.isel(T=0), tile=64, tile_overlap=16)


def test_a_tiled_movie_is_told_to_go_in_chunks_without_tiles(movie, monkeypatch, tmp_path, capsys):
    """The command line does not chunk a tiled run (--chunk-frames and --tile are refused together): without
    --tile it does; nothing is left in the output folder."""
    from labelfree.cli import main

    _memory_left(monkeypatch, 6 * 2 * 192 * 192)  # a chunk of 2 frames' labels and one plane's work (4 frames' worth)
    with pytest.raises(InputError, match=r"in chunks of frames, without tiles: .*run_in_chunks\('threshold', image, "
                                         r"chunk_frames=2, folder=\.\.\.\)"):
        run_pipeline("threshold", movie, tile=64, tile_overlap=16)
    out = tmp_path / "out"
    assert main(["threshold", str(SAMPLE_MOVIE), "-o", str(out), "--tile", "64", "--tile-overlap", "16", "-q",
                 "--no-progress"]) == 1
    said = capsys.readouterr().err
    assert "(the command line, labelfree threshold without --tile, chunks such a movie itself)" in said
    assert not out.exists() or not any(out.iterdir())
    assert main(["threshold", str(SAMPLE_MOVIE), "-o", str(out), "-q", "--no-progress"]) == 0  # in 6 chunks
    assert (out / "sample_movie_labels.tif").exists()


def test_a_plane_whose_work_cannot_fit_is_told_to_go_in_tiles(monkeypatch, tmp_path, capsys, caplog):
    """Threshold's work on a plane takes 8 bytes a pixel beside the labels (measured: benchmarks/plane_memory.py):
    a plane whose labels fit but whose work does not is refused by ``run_pipeline(tile=None)``, with the largest tile
    size whose work fits; in tiles of that size it runs, and gives the labels of the whole plane. ``run_pipeline``
    with its default ``tile="auto"`` (it refused, before) and the command line with no --tile segment it in those
    tiles themselves, say so and record them, so that a run repeated from its record is tiled alike."""
    import json

    import tifffile

    from labelfree.cli import main
    from labelfree.image import to_dataarray

    rng = np.random.default_rng(3)
    pixels = rng.normal(100, 5, (1200, 1200)).astype(np.uint16)
    yy, xx = np.ogrid[:1200, :1200]
    pixels[((yy % 40) - 20) ** 2 + ((xx % 40) - 20) ** 2 < 80] += 300
    plane = to_dataarray(pixels)
    whole = run_pipeline("threshold", plane)
    labels, work = 2 * pixels.size, 8 * pixels.size
    _memory_left(monkeypatch, labels + work - 1)
    with pytest.raises(InputError) as refused:
        run_pipeline("threshold", plane, tile=None)
    said = str(refused.value)
    assert "needs 2.7 MiB for them and 11 MiB for its work on one plane, but only 14 MiB of memory is left" in said
    # 1024 px tiles and their overlap would not fit: 8 * (1024 + 256) ** 2 bytes beside the labels
    assert "Segment its planes in tiles: run_pipeline('threshold', image, tile=512) (run_pipeline with its default " \
           "tile='auto', the command line, labelfree threshold, a batch run and the Fiji command tile such an image " \
           "themselves; --tile 512 to choose)." in said
    tiled = run_pipeline("threshold", plane, tile=512)
    np.testing.assert_array_equal(tiled.values > 0, whole.values > 0)
    assert tiled.values.max() == whole.values.max()
    with caplog.at_level("INFO", logger="labelfree.run"):
        auto = run_pipeline("threshold", plane)  # tile="auto"
    assert ("the image: its labels (2.7 MiB) and Threshold's work on one whole plane (11 MiB) would take more than "
            "the 14 MiB of memory left: each plane segmented in tiles of 512 px, 128 px of overlap (tile= to "
            "choose)") in caplog.text, caplog.text
    np.testing.assert_array_equal(auto.values, tiled.values)
    assert auto.attrs["labelfree"]["tiles"]["tile"] == 512
    caplog.clear()
    path = tmp_path / "plane.tif"
    tifffile.imwrite(path, pixels)
    with caplog.at_level("INFO", logger="labelfree.cli_core"):
        assert main(["threshold", str(path), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    assert (f"{path}: its labels (2.7 MiB) and Threshold's work on one whole plane (11 MiB) would take more than the "
            "14 MiB of memory left: each plane segmented in tiles of 512 px, 128 px of overlap (--tile PX to "
            "choose)") in caplog.text, caplog.text
    assert "(in tiles of 512 px)" in capsys.readouterr().out
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "plane_labels.tif"), tiled.values)
    record = tmp_path / "out" / "plane_provenance.json"
    made = json.loads(record.read_text())
    assert made["tiles"]["tile"] == 512, made
    _memory_left(monkeypatch, 2**40)  # a run repeated from its record is tiled as it was, whatever the memory
    assert main(["threshold", str(path), "-o", str(tmp_path / "again"), "--config", str(record), "-q",
                 "--no-progress"]) == 0
    assert json.loads((tmp_path / "again" / "plane_provenance.json").read_text())["tiles"]["tile"] == 512
    _memory_left(monkeypatch, labels + work - 1)
    assert main(["threshold", str(path), "-o", str(tmp_path / "given"), "--tile", "1024", "-q", "--no-progress"]) == 0
    assert json.loads((tmp_path / "given" / "plane_provenance.json").read_text())["tiles"]["tile"] == 1024
    _memory_left(monkeypatch, labels + work)  # both fit: not refused
    assert run_pipeline("threshold", plane).values.max() == whole.values.max()


def test_cutter_on_a_movie_learns_from_every_frame_so_no_chunks_are_offered(movie, monkeypatch):
    _memory_left(monkeypatch, 2 * 192 * 192)
    with pytest.raises(InputError) as refused:
        run_pipeline("cutter", movie, inputs={"markers": np.zeros((12, 192, 192), np.uint16)})
    assert "Cutter holds the labels" in str(refused.value)
    assert "run_in_chunks" not in str(refused.value)


def test_a_frame_whose_work_alone_cannot_fit_is_refused(movie, monkeypatch):
    """Motion's, Cutter's and Fusion's work on one plane (measured: benchmarks/plane_memory.py, part 3) is counted
    beside the labels: a run whose labels fit but whose work on a frame would not is refused, and chunks cannot help
    it."""
    from labelfree._label_memory import memory_text
    from labelfree.cutter.spec import SPEC as CUTTER
    from labelfree.fusion.spec import SPEC as FUSION
    from labelfree.motion.spec import SPEC as MOTION

    markers = np.zeros((192, 192), np.uint16)
    markers[90:95, 90:95] = 1
    frame = 2 * 192 * 192
    for pipeline, spec, image, extra, labels in (
            ("motion", MOTION, movie, {}, 3 * frame),  # the least chunk, 2 frames and the one it shares
            ("cutter", CUTTER, movie.isel(T=0), {"inputs": {"markers": markers}}, frame),
            ("fusion", FUSION, movie.isel(T=0), {}, frame)):  # (a plane smaller than any tile offered)
        work = spec.work_bytes(192 * 192)
        assert work > 30 * frame  # more than 30 frames' labels
        _memory_left(monkeypatch, labels + work - 1)
        with pytest.raises(InputError) as refused:
            run_pipeline(pipeline, image, **extra)
        said = str(refused.value)
        assert f"and {memory_text(work)} for its work on one plane" in said, said
        assert "Segment a part of it at a time" in said and "run_in_chunks" not in said, said


def test_cutter_counts_its_whole_plane_graph_up_to_where_it_cuts_in_tiles(monkeypatch):
    """Cutter's foreground is one graph up to 2048 x 2048 px (measured: 1354 MiB beside the labels at 2048 px, torch
    imported) and cut in tiles above (935 MiB at 3072 px): a 2048 px plane is counted at the first figure (96 MiB and
    250 bytes a pixel), so a run that would need 1.3 GiB is refused where only 1 GiB is left (it counted 0.3 GiB and
    was killed part way)."""
    from labelfree.cutter.graphcut import TILE_ABOVE_PIXELS
    from labelfree.cutter.spec import SPEC

    assert SPEC.plane_bytes_up_to == ((TILE_ABOVE_PIXELS, 250.0),) and SPEC.plane_bytes_fixed == 96 * 2**20
    assert SPEC.work_bytes(TILE_ABOVE_PIXELS) == 96 * 2**20 + 250 * TILE_ABOVE_PIXELS
    assert SPEC.work_bytes(TILE_ABOVE_PIXELS + 1) == 96 * 2**20 + int(64.0 * (TILE_ABOVE_PIXELS + 1))
    _memory_left(monkeypatch, 2**30)
    image = np.zeros((2048, 2048), np.uint8)  # refused before any work: nothing is computed on it
    with pytest.raises(InputError) as refused:
        run_pipeline("cutter", image, inputs={"markers": np.zeros((2048, 2048), np.uint16)})
    assert "needs 8.0 MiB for them and 1.1 GiB for its work on one plane, but only 1.0 GiB of memory is left" in \
        str(refused.value), str(refused.value)


def test_memory_not_known_runs_as_before(movie, monkeypatch):
    _memory_left(monkeypatch, None)  # not Linux
    assert run_pipeline("threshold", movie.isel(T=slice(0, 2))).sizes["T"] == 2


@pytest.mark.parametrize("pipeline", ["motion", "threshold", "cutter", "fusion"])
def test_every_pipelines_own_segment_function_refuses_too(pipeline, movie, monkeypatch):
    """``labelfree.motion.segment(movie)`` and the others, called directly, check as run_pipeline does."""
    import importlib

    segment = importlib.import_module(f"labelfree.{pipeline}").segment
    _memory_left(monkeypatch, 3 * 2 * 192 * 192)
    with pytest.raises(InputError, match=f"{pipeline.capitalize()} holds the labels of the whole image"):
        segment(movie)


def test_chunks_whose_joined_labels_fit_neither_disk_nor_memory_are_refused_before_the_first(movie, monkeypatch,
                                                                                             tmp_path, capsys):
    """The labels of a chunked movie are joined in a scratch file of ``folder`` (or in memory without one): where
    neither has room the run would end killed at the merge, after every chunk's work."""
    import shutil
    from collections import namedtuple

    from labelfree import frame_chunks

    whole = run_pipeline("threshold", movie)
    monkeypatch.setattr(frame_chunks, "MERGE_IN_MEMORY_BYTES", 0)  # joined in the folder, as a large movie's
    started = []
    monkeypatch.setattr(frame_chunks, "measure_whole_movie", lambda *a, **k: started.append(1) or {})
    _memory_left(monkeypatch, 6 * 2 * 192 * 192)  # a chunk of 2 frames and one plane's work fit
    with pytest.raises(InputError, match=r"The labels of the movie \(12 T x 192 Y x 192 X\) take 0.8 MiB once its "
                                         r"chunks are joined, .* no folder was given for them \(folder=\)"):
        run_in_chunks("threshold", movie, chunk_frames=2)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6, 1000))
    with pytest.raises(InputError, match=f"the folder {tmp_path} has 0.0 MiB free"):
        run_in_chunks("threshold", movie, chunk_frames=2, folder=tmp_path)
    from labelfree.cli import main  # the command line joins them in (the folder above) its output folder

    assert main(["threshold", str(SAMPLE_MOVIE), "-o", str(tmp_path / "cli"), "-q", "--no-progress"]) == 1
    assert f"once its chunks are joined, but only 0.4 MiB of memory is left and the folder {tmp_path} has 0.0 MiB " \
           "free" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()
    assert not started  # refused before any chunk
    monkeypatch.undo()
    monkeypatch.setattr(frame_chunks, "MERGE_IN_MEMORY_BYTES", 0)
    _memory_left(monkeypatch, 6 * 2 * 192 * 192)
    labels = run_in_chunks("threshold", movie, chunk_frames=2, folder=tmp_path)  # room on this disk: joined there
    np.testing.assert_array_equal(labels.values, whole.values)


@pytest.mark.parametrize("scheduler, drift", [("sync", False), ("dask", False), ("dask", True)])
def test_a_batch_refuses_such_an_input_before_its_first_chunk(scheduler, drift, monkeypatch, tmp_path):
    """Its row fails with the message; no chunk is segmented, no output is left for it: in a sequential run, and
    on Dask (the task that reads the input's metadata, or that makes its drift-corrected movie, checks)."""
    import contextlib
    import logging
    import shutil
    from collections import namedtuple

    from labelfree import frame_chunks
    from labelfree.batch import chunks as batch_chunks
    from labelfree.batch import dispatch, run_batch

    segmented = []
    for module, name in ((batch_chunks, "segment_chunk"), (dispatch, "segment_chunk_of_input"),
                         (dispatch, "segment_chunk_packed")):
        monkeypatch.setattr(module, name, lambda *a, **k: segmented.append(a))
    monkeypatch.setattr(frame_chunks, "MERGE_IN_MEMORY_BYTES", 0)
    _memory_left(monkeypatch, 3 * 2 * 192 * 192)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6, 1000))
    if scheduler == "dask":
        distributed = pytest.importorskip("distributed")
        client = distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None,
                                    silence_logs=logging.ERROR)
    with client if scheduler == "dask" else contextlib.nullcontext():
        table = run_batch(SAMPLE_MOVIE, pipeline="threshold", out_dir=tmp_path / "out", progress=False,
                          scheduler=client if scheduler == "dask" else scheduler,
                          batch={"chunk_frames": 4, "drift_correction": drift})
    assert table["status"].tolist() == ["failed"]
    # a drift-corrected movie is cropped to the part every frame holds
    assert re.search(r"The labels of sample_movie \(12 T x 1\d\d Y x 1\d\d X\) take 0.8 MiB once its chunks are "
                     r"joined", table["error"][0])
    assert not segmented
    assert not list((tmp_path / "out").glob("sample_movie_*"))


def test_a_fusion_plane_whose_work_cannot_fit_is_told_the_tile_that_does(monkeypatch):
    from labelfree.fusion.spec import SPEC

    plane = np.random.default_rng(0).integers(100, 200, (1024, 1024), dtype=np.uint16)
    labels = 2 * plane.size
    _memory_left(monkeypatch, labels + SPEC.work_bytes(800 * 800))  # a 512 px tile and its 128 px overlaps
    with pytest.raises(InputError) as refused:
        run_pipeline("fusion", plane, tile=None)
    said = str(refused.value)
    assert "Fusion holds the labels of the whole image in memory: the image (1024 Y x 1024 X) needs 2.0 MiB for " \
           f"them and {SPEC.work_bytes(2**20) / 2**20:.0f} MiB for its work on one plane" in said, said
    assert "run_pipeline('fusion', image, tile=512) (run_pipeline with its default tile='auto', the command line, " \
           "labelfree fusion, a batch run and the Fiji command tile such an image themselves; --tile 512 to " \
           "choose)" in said, said


def test_a_network_pass_that_does_not_grow_with_the_plane_is_counted_for_tiles_too(monkeypatch):
    """Fusion's work on a plane holds a network's pass over its tiles whatever the plane's size (measured, torch and
    cellpose imported: 80 MiB at 256 px with the demo's network one tile at a time; benchmarks/plane_memory.py, part
    3), counted as a part that does not grow with the plane: a small plane is counted it (before: 79 bytes a pixel
    alone, 5 MiB for 256 x 256 px), and a tiled run, whose tiles are small, is counted it alone for its work, refused
    without being offered tiles again."""
    from labelfree._label_memory import run_bytes
    from labelfree.fusion.spec import SPEC

    assert SPEC.plane_bytes_fixed == 48 * 2**20 and SPEC.work_bytes(256 * 256) == 48 * 2**20 + 165 * 256 * 256
    sizes = {"C": 2, "Y": 1024, "X": 1024}
    assert run_bytes(sizes, SPEC, tiled=True) == (2 * 2**20, 48 * 2**20)
    assert run_bytes(sizes, SPEC) == (2 * 2**20, 48 * 2**20 + 165 * 2**20)
    plane = np.random.default_rng(0).integers(100, 200, (1024, 1024), dtype=np.uint16)
    _memory_left(monkeypatch, 2 * plane.size + 48 * 2**20 - 1)
    with pytest.raises(InputError) as refused:
        run_pipeline("fusion", plane, tile=512)
    said = str(refused.value)
    assert "Fusion holds the labels of the whole image in memory, also in tiles: the image (1024 Y x 1024 X) needs " \
           "2.0 MiB for them and 48 MiB for its work on each tile, but only 50 MiB of memory is left. Segment a " \
           "part" in said, said
    assert "tile=" not in said, said


def test_the_memory_left_is_measured_with_the_pipelines_libraries_loaded(tmp_path, monkeypatch):
    """Every check, and the tiles a run chooses, measure the memory left after the libraries the run imports once it
    starts (torch and cellpose: about 370 MiB): measured before them, a Fusion run of the command line in 545 MiB
    chose no tiles and its own check, after them, then refused it, telling it to use the tiles the command line
    chooses itself. A library that is not installed is left to the run."""
    import dataclasses
    import sys

    from labelfree._label_memory import load_libraries, require_label_memory
    from labelfree.cutter.spec import SPEC as CUTTER
    from labelfree.fusion.spec import SPEC as FUSION

    assert FUSION.libraries == ("torch", "cellpose.models") and CUTTER.libraries == ("torch",)
    (tmp_path / "lf_probe_library.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lf_probe_library", raising=False)
    spec = dataclasses.replace(FUSION, libraries=("lf_probe_library", "lf_no_such_library"))
    seen = []
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: seen.append(
        "lf_probe_library" in sys.modules) or 2**40)
    require_label_memory({"Y": 64, "X": 64}, spec)
    assert seen == [True]
    monkeypatch.delitem(sys.modules, "lf_probe_library")
    load_libraries(spec)
    assert sys.modules["lf_probe_library"].LOADED
