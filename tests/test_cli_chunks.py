"""``labelfree motion MOVIE`` (and threshold) on a movie whose labels would not fit in memory: segmented in chunks
of frames with no option, their labels joined on a scratch file of the output folder, as a batch run does. Before,
a single run held the whole movie's labels in memory (a movie chunked only under ``labelfree batch``), and a run in
a job's memory limit was killed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.datasets import SAMPLE_MOVIE


def _outputs(out, stem="sample_movie"):
    labels = tifffile.imread(out / f"{stem}_labels.tif")
    record = json.loads((out / f"{stem}_provenance.json").read_text())
    return labels, record, (out / f"{stem}_table.csv").read_text()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The sample movie (12 frames) segmented whole by Motion."""
    out = tmp_path_factory.mktemp("whole")
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(out), "-q", "--no-progress"]) == 0
    return _outputs(out)


def test_chunks_given_give_the_labels_of_the_whole_movie(tmp_path, whole, capsys):
    """The first chunk's automatic settings and the grey range of the whole movie serve every chunk; the IDs carry
    across chunks through the frame they share."""
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path), "--chunk-frames", "5", "--no-progress"]) == 0
    assert "(in 3 chunks of frames)" in capsys.readouterr().out
    labels, record, table = _outputs(tmp_path)
    np.testing.assert_array_equal(labels, whole[0])
    assert table == whole[2]
    assert record["chunks"]["frames"] == [[0, 5], [4, 10], [9, 12]]
    assert record["chunks"]["frame_overlap"] == 1
    assert "grey_range" in record["chunks"]["whole_movie"]  # measured once on the whole movie, for every chunk
    assert record["auto"] == whole[1]["auto"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sample_movie_labels.tif", "sample_movie_provenance.json", "sample_movie_rois.zip", "sample_movie_table.csv"]


def test_a_movie_too_large_for_the_memory_left_is_chunked_with_no_option(tmp_path, whole, monkeypatch, capsys,
                                                                         caplog, labels_alone_in_memory_check):
    """The memory this process has left decides (:func:`labelfree._threads.available_memory`): labels of more than
    half of it are split into chunks whose labels take a sixteenth of it (at least 2 frames), joined on a scratch
    file of the output folder (a memory-mapped file with no name there, gone with the run)."""
    from labelfree import frame_chunks as chunks

    frame = 2 * 192 * 192  # bytes of one frame's uint16 labels
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 20 * frame)  # 12 frames: over half
    monkeypatch.setattr(chunks, "MERGE_IN_MEMORY_BYTES", 0)  # the merged movie on a scratch file, as a large one
    made = []
    merged_array = chunks.merged_array

    def watched(*args, **kwargs):
        made.append(merged_array(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(chunks, "merged_array", watched)
    with caplog.at_level("INFO", logger="labelfree.cli_core"):
        assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path), "--no-progress"]) == 0
    assert "would take more than 50 % of the 1 MiB of memory left: segmented in chunks of 2 frames" in caplog.text
    assert "(in 6 chunks of frames)" in capsys.readouterr().out
    assert isinstance(made[0], np.memmap)
    labels, record, table = _outputs(tmp_path)
    np.testing.assert_array_equal(labels, whole[0])
    assert table == whole[2]
    assert record["chunks"]["frames"][:2] == [[0, 2], [1, 4]]
    assert len(list(tmp_path.iterdir())) == 4  # no scratch file left

    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 24 * frame + 1)  # just over twice
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "fits"), "--no-progress"]) == 0
    assert "chunks" not in capsys.readouterr().out
    assert "chunks" not in _outputs(tmp_path / "fits")[1]


def test_a_run_repeated_from_its_record_is_chunked_as_it_was(tmp_path, whole, capsys):
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "a"), "--chunk-frames", "7", "-q",
                 "--no-progress"]) == 0
    record = tmp_path / "a" / "sample_movie_provenance.json"
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "b"), "--config", str(record),
                 "--no-progress"]) == 0
    assert "(in 2 chunks of frames)" in capsys.readouterr().out
    labels, repeated, _ = _outputs(tmp_path / "b")
    assert repeated["chunks"]["frames"] == [[0, 7], [6, 12]]
    np.testing.assert_array_equal(labels, whole[0])


def test_threshold_chunks_are_joined_frame_by_frame(tmp_path):
    movie = tmp_path / "movie.tif"
    rng = np.random.default_rng(1)
    frames = rng.normal(100, 5, (9, 48, 48))
    frames[:, 10:20, 10:20] += 500
    frames[4:, 30:40, 25:45] += 500
    tifffile.imwrite(movie, frames.astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    assert main(["threshold", str(movie), "-o", str(tmp_path / "whole"), "-q", "--no-progress"]) == 0
    assert main(["threshold", str(movie), "-o", str(tmp_path / "chunks"), "-q", "--no-progress",
                 "--chunk-frames", "2"]) == 0
    whole, chunked = _outputs(tmp_path / "whole", "movie"), _outputs(tmp_path / "chunks", "movie")
    np.testing.assert_array_equal(chunked[0], whole[0])
    assert chunked[2] == whole[2]
    assert chunked[1]["chunks"]["frames"] == [[0, 2], [2, 4], [4, 6], [6, 8], [8, 9]]
    assert len(whole[1]["auto"]["threshold"]) == 9
    assert chunked[1]["auto"] == whole[1]["auto"]  # every frame's threshold, not the first chunk's alone


@pytest.mark.parametrize("argv, expected", [
    (["motion", "{movie}", "--chunk-frames", "1"], "--chunk-frames 1: a chunk needs more frames than the 1 it "
                                                    "shares with the previous one; give 2 or more."),
    (["threshold", "{movie}", "--chunk-frames", "4", "--tile", "64"], "--chunk-frames and --tile together"),
    (["threshold", "{picture}", "--chunk-frames", "4"], "--chunk-frames 4: this image has no time axis (dims YX)"),
])
def test_chunks_that_cannot_be_are_refused_before_any_work(tmp_path, capsys, argv, expected):
    picture = tmp_path / "picture.tif"
    tifffile.imwrite(picture, np.zeros((32, 32), np.uint16))
    argv = [a.format(movie=SAMPLE_MOVIE, picture=picture) for a in argv]
    assert main([*argv, "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_pipeline_that_learns_from_the_whole_movie_has_no_chunk_option(capsys):
    with pytest.raises(SystemExit):
        main(["cutter", "x.tif", "-o", "out", "--chunk-frames", "4"])
    assert "unrecognized arguments: --chunk-frames" in capsys.readouterr().err


def test_a_compressed_movie_in_chunks_is_read_chunk_by_chunk(tmp_path, whole, monkeypatch):
    """A compressed TIFF cannot be memory-mapped: it was read whole into memory before any chunk; in chunks it is
    now read lazily, each chunk its own frames (segmented whole, it is read once, into memory, as before)."""
    from labelfree import frame_chunks

    movie = tmp_path / "sample_movie.tif"
    tifffile.imwrite(movie, tifffile.imread(SAMPLE_MOVIE), imagej=True, metadata={"axes": "TYX"},
                     compression="zlib")
    handed = []
    run_in_chunks = frame_chunks.run_in_chunks

    def watched(pipeline, image, /, **kwargs):
        handed.append(type(image.data).__module__.split(".")[0])
        return run_in_chunks(pipeline, image, **kwargs)

    monkeypatch.setattr(frame_chunks, "run_in_chunks", watched)
    assert main(["motion", str(movie), "-o", str(tmp_path / "chunks"), "--chunk-frames", "5", "-q",
                 "--no-progress"]) == 0
    assert handed == ["dask"]  # not read yet: each chunk reads its frames
    assert main(["motion", str(movie), "-o", str(tmp_path / "whole"), "-q", "--no-progress"]) == 0
    assert handed == ["dask"]
    chunked, at_once = _outputs(tmp_path / "chunks"), _outputs(tmp_path / "whole")
    np.testing.assert_array_equal(chunked[0], whole[0])
    np.testing.assert_array_equal(at_once[0], whole[0])
    assert chunked[2] == at_once[2]  # (the copy has no pixel size: its table is in pixels)


def test_run_in_chunks_from_python_takes_a_time_lapse_and_refuses_what_is_none():
    from labelfree.errors import InputError
    from labelfree.frame_chunks import run_in_chunks

    movie = tifffile.imread(SAMPLE_MOVIE)
    labels = run_in_chunks("threshold", movie, chunk_frames=5)  # a (T, Y, X) array
    assert labels.dims == ("T", "Y", "X") and labels.attrs["labelfree"]["chunks"]["frames"] == [[0, 5], [5, 10],
                                                                                              [10, 12]]
    with pytest.raises(InputError, match=r"a DataArray with a T axis, or a \(T, Y, X\) array; got ndarray of shape "
                                         r"\(192, 192\)"):
        run_in_chunks("threshold", movie[0], chunk_frames=5)
    with pytest.raises(InputError, match="learns from the whole movie at once"):
        run_in_chunks("cutter", movie, chunk_frames=5)


def test_an_interrupt_between_chunks_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Ctrl-C (or SIGTERM) while the second chunk is segmented: exit 130, no output folder, no scratch file beside
    it (the merged labels' file has no name), the input as it was."""
    import labelfree.run

    run_pipeline = labelfree.run.run_pipeline
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return run_pipeline(*args, **kwargs)

    monkeypatch.setattr(labelfree.run, "run_pipeline", interrupted)
    before = SAMPLE_MOVIE.read_bytes()
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "out"), "--chunk-frames", "5",
                 "--no-progress"]) == 130
    assert "interrupted; no partial outputs were left" in capsys.readouterr().err
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    assert SAMPLE_MOVIE.read_bytes() == before


def _blank_ends(path, n_frames=8, blank_from=4):
    rng = np.random.default_rng(0)
    frames = rng.normal(100, 5, (n_frames, 64, 64))
    frames[:, 10:20, 10:20] += 500
    frames[blank_from:] = 100  # the microscope's blank frames at the end
    tifffile.imwrite(path, frames.astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    return path


@pytest.mark.filterwarnings("default::UserWarning")  # the whole run's warning for its blank frames, shown
def test_a_chunk_of_blank_frames_is_left_empty_as_in_a_whole_run(tmp_path, capsys):
    """A chunk whose every pixel holds one value was refused ('image is constant') and failed the run, where the
    whole movie's run leaves those frames empty with a warning; a wholly blank movie is still refused."""
    movie = _blank_ends(tmp_path / "movie.tif")
    assert main(["threshold", str(movie), "-o", str(tmp_path / "whole"), "-q", "--no-progress"]) == 0
    assert main(["threshold", str(movie), "-o", str(tmp_path / "chunks"), "--chunk-frames", "2", "-q",
                 "--no-progress"]) == 0
    assert "Frames 4-5 (0-based) hold one value in every pixel: no objects there" in capsys.readouterr().err
    whole, chunked = _outputs(tmp_path / "whole", "movie"), _outputs(tmp_path / "chunks", "movie")
    np.testing.assert_array_equal(chunked[0], whole[0])
    assert chunked[2] == whole[2]
    assert chunked[1]["auto"] == whole[1]["auto"]  # the blank frames' thresholds: none, as in the whole run
    assert chunked[1]["pipeline"] == "threshold" and chunked[1]["config"] == whole[1]["config"]
    assert any("Frames 6-7" in w for w in chunked[1]["warnings"])
    blank = _blank_ends(tmp_path / "blank.tif", blank_from=0)
    assert main(["threshold", str(blank), "-o", str(tmp_path / "blank"), "--chunk-frames", "2", "-q",
                 "--no-progress"]) == 1
    assert "is constant" in capsys.readouterr().err
    assert not (tmp_path / "blank").exists()


@pytest.mark.filterwarnings("default::UserWarning")
@pytest.mark.parametrize("pipeline", ["threshold", "motion"])
def test_a_batch_chunk_of_blank_frames_is_left_empty(tmp_path, pipeline):
    from labelfree.batch import run_batch

    movie = _blank_ends(tmp_path / "movie.tif", n_frames=12, blank_from=7)  # the last chunk: frames 7-11 or 8-11
    table = run_batch(movie, pipeline=pipeline, out_dir=tmp_path / "out", scheduler="sync", progress=False,
                      batch={"chunk_frames": 4})
    assert table["status"].tolist() == ["ok"], table["error"].tolist()
    assert "hold one value in every pixel: no objects there" in table["warnings"][0]
    labels = tifffile.imread(tmp_path / "out" / "movie_labels.tif")
    assert labels[:7].any(axis=(1, 2)).all() and not labels[7:].any()
    blank = _blank_ends(tmp_path / "blank.tif", n_frames=12, blank_from=0)
    table = run_batch(blank, pipeline=pipeline, out_dir=tmp_path / "blank", scheduler="sync", progress=False,
                      batch={"chunk_frames": 4})
    assert table["status"].tolist() == ["failed"]
    assert any(said in table["error"][0] for said in ("one value in every pixel", "uniform", "constant"))


def test_the_flow_output_of_a_run_in_chunks_is_the_whole_run_s(tmp_path, monkeypatch):
    """A run in chunks keeps no flow for --flow-out: the writer computes it, into its file frame by frame when
    large (here: always), and it is the file of a run of the whole movie (which hands over the speeds it kept)."""
    from labelfree.motion import flow

    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "whole"), "--flow-out", "-q",
                 "--no-progress"]) == 0
    monkeypatch.setattr(flow, "FLOW_IN_MEMORY_BYTES", 0)
    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "chunks"), "--flow-out", "--chunk-frames", "5",
                 "-q", "--no-progress"]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "chunks" / "sample_movie_flow.tif"),
                                  tifffile.imread(tmp_path / "whole" / "sample_movie_flow.tif"))


def test_a_movie_whose_labels_fit_but_not_beside_a_frames_work_is_chunked(tmp_path, monkeypatch, caplog):
    """Labels under half the memory left, but with Motion's work on one frame (measured: 80 MiB and 135 bytes a
    pixel) over all of it: chunked, each chunk's labels beside one frame's work (before: refused, "segment a part of
    it")."""
    from labelfree.motion.spec import SPEC

    assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "given"), "--chunk-frames", "5", "-q",
                 "--no-progress"]) == 0
    frame, work = 2 * 192 * 192, SPEC.work_bytes(192 * 192)
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: work + 6 * frame)  # 12 frames' labels
    with caplog.at_level("INFO", logger="labelfree.cli_core"):
        assert main(["motion", str(SAMPLE_MOVIE), "-o", str(tmp_path / "auto"), "-q", "--no-progress"]) == 0
    assert ("its 12 frames of labels (1 MiB) and its work on one frame (85 MiB) would take more than the 85 MiB of "
            "memory left: segmented in chunks of 5 frames") in caplog.text
    labels, record, _ = _outputs(tmp_path / "auto")
    want, want_record, _ = _outputs(tmp_path / "given")
    np.testing.assert_array_equal(labels, want)
    assert record["chunks"] == want_record["chunks"] and record["chunks"]["frames"][0] == [0, 5]
