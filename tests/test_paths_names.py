"""Output paths however they are spelt: one file under two spellings, names near the file system's limit.

Two outputs of one run that are the same file under different spellings (``d/../d/a.tif``) are refused
before any work, as two identical spellings are; names whose UTF-8 form is long (non-ASCII letters take
2 to 4 bytes) give outputs the file system takes, or one clear error, never a bare ``OSError``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from paths_data import three_disk_movie

from labelfree.cli import main
from labelfree.errors import InputError, OutputError
from labelfree.io import OutputFolder, read_manifest
from labelfree.io.atomic import write_text_atomic
from labelfree.io.outputs import check_output_file, check_stem, plain_stem


def _run(argv: list, capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_drift_outputs_that_are_one_file_under_two_spellings_are_refused(tmp_path, capsys):
    movie = three_disk_movie(tmp_path / "x.tif")
    (tmp_path / "d").mkdir()
    code, err = _run(["drift", movie, "-o", tmp_path / "d" / "c.tif", "--shifts", tmp_path / "d" / ".." / "d" / "c.tif",
                      "-q"], capsys)
    assert code == 1
    assert "are the same file; give two names" in err and "Traceback" not in err
    assert _listing(tmp_path / "d") == []  # nothing computed, nothing written


def test_stitch_outputs_through_a_link_are_refused(tmp_path, capsys):
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i in range(2):
        tifffile.imwrite(tiles / f"t{i}.tif", np.zeros((32, 32), np.uint16))
    out = tmp_path / "out"
    out.mkdir()
    (out / "link.csv").symlink_to("fused.tif")  # a dangling link: either name writes fused.tif
    code, err = _run(["stitch", tiles, "--grid", "1x2", "-o", out / "fused.tif", "--positions", out / "link.csv",
                      "--overwrite", "-q"], capsys)
    assert code == 1 and "are the same file; give two names" in err, err
    assert _listing(out) == ["link.csv"]


def test_a_file_to_save_that_is_an_output_of_the_set_under_another_spelling_is_refused(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, overwrite=True) as folder:  # a dangling link counts as an existing file
        folder.plan("one")
        with pytest.raises(InputError, match="also an output of the set"):
            folder.check_files({"save model file": out / ".." / "out" / "one_labels.tif"})
        (out / "model.pt").symlink_to("one_provenance.json")
        with pytest.raises(InputError, match="also an output of the set"):
            folder.check_files({"save model file": out / "model.pt"})


def test_a_long_non_ascii_input_name_gives_outputs_the_file_system_takes(tmp_path, capsys):
    name = "細胞" * 40  # 240 bytes in UTF-8: the input's name fits, <name>_provenance.json would not
    movie = three_disk_movie(tmp_path / f"{name}.tif")
    code, err = _run(["threshold", movie, "-o", tmp_path / "out", "-q"], capsys)
    assert code == 0, err
    stem = plain_stem(name)
    assert len(stem.encode()) <= 200 and name.startswith(stem) and len(stem) == 66
    assert _listing(tmp_path / "out") == sorted(f"{stem}{s}" for s in ("_labels.tif", "_provenance.json",
                                                                       "_rois.zip", "_table.csv"))
    assert read_manifest(tmp_path / "out", stem) is not None


def test_stems_are_limited_in_bytes(tmp_path, capsys):
    assert check_stem("é" * 100) == "é" * 100  # 200 bytes
    with pytest.raises(InputError, match="201 bytes long in UTF-8"):
        check_stem("é" * 100 + "a")
    assert plain_stem("é" * 150) == "é" * 100
    assert plain_stem("a" * 250) == "a" * 200
    movie = three_disk_movie(tmp_path / "x.tif")
    code, err = _run(["threshold", movie, "-o", tmp_path / "out", "--stem", "é" * 150, "-q"], capsys)
    assert code == 1 and "300 bytes long in UTF-8" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_output_names_longer_than_the_file_system_takes_are_one_clear_error(tmp_path, capsys):
    long = "a" * 300
    with pytest.raises(OutputError, match="a name of 304 bytes"):
        check_output_file(tmp_path / f"{long}.tif")
    with pytest.raises(OutputError, match="a name of 300 bytes"):
        OutputFolder(tmp_path / long / "b").open()
    code, err = _run(["drift", three_disk_movie(tmp_path / "x.tif"), "-o", tmp_path / f"{long}.tif", "-q"], capsys)
    assert code == 1 and "at most 255 bytes per file or folder name" in err and "Traceback" not in err, err
    assert _listing(tmp_path) == ["x.tif"]


def test_a_target_whose_name_nearly_fills_the_limit_is_written(tmp_path, capsys):
    target = tmp_path / ("b" * 250)
    write_text_atomic(target, "done")
    assert target.read_text() == "done" and _listing(tmp_path) == [target.name]
    name = "c" * 245 + ".tif"
    code, err = _run(["drift", three_disk_movie(tmp_path / "x.tif"), "-o", tmp_path / "d" / name, "-q"], capsys)
    assert code == 0, err
    assert _listing(tmp_path / "d") == [name]
    assert tifffile.imread(tmp_path / "d" / name).shape == (3, 68, 64)  # grown canvas: disks move 2 px a frame


@pytest.mark.parametrize("command", ["drift", "stitch"])
def test_an_interruption_while_writing_leaves_no_output_of_the_two(tmp_path, capsys, monkeypatch, command):
    """Ctrl-C (or SIGTERM) just as the table is written: neither the image nor the table is left."""
    import labelfree.io

    real = labelfree.io.write_table

    def interrupted(path, table):
        real(path, table)
        raise KeyboardInterrupt

    monkeypatch.setattr(labelfree.io, "write_table", interrupted)
    out = tmp_path / "out"
    if command == "drift":
        argv = ["drift", three_disk_movie(tmp_path / "x.tif"), "-o", out / "c.tif", "--shifts", out / "s.csv", "-q"]
    else:
        (tmp_path / "tiles").mkdir()
        image = np.random.default_rng(1).integers(0, 1000, (64, 100)).astype(np.uint16)
        tifffile.imwrite(tmp_path / "tiles" / "t0.tif", image[:, :60])
        tifffile.imwrite(tmp_path / "tiles" / "t1.tif", image[:, 40:])
        argv = ["stitch", tmp_path / "tiles", "--grid", "1x2", "-o", out / "f.tif", "--positions", out / "p.csv", "-q"]
    code, err = _run(argv, capsys)
    assert code == 130, err
    assert not out.exists()  # the folder the run made is gone with its (temporary) files


@pytest.mark.parametrize("argv", [["drift", "{movie}", "-o", "{out}/"],
                                  ["drift", "{movie}", "-o", "{out}/c.tif", "--shifts", "{out}/"],
                                  ["fusion", "eval", "{movie}", "--labels", "{movie}", "--zoo", "{zoo}",
                                   "--csv", "{out}/"]])
def test_a_file_output_that_ends_with_a_slash_is_refused(tmp_path, capsys, argv):
    """``-o results/`` names a folder: refused, not written as a file named ``results``."""
    movie = three_disk_movie(tmp_path / "x.tif")
    words = [w.format(movie=movie, out=tmp_path / "results", zoo=tmp_path / "zoo") for w in argv]
    code, err = _run(words, capsys)
    assert code == 2 and "ends with '/', so it names a folder" in err, err
    assert _listing(tmp_path) == ["x.tif"]


def test_a_drift_output_inside_its_ome_zarr_movie_is_named_as_given(tmp_path, capsys):
    from labelfree.io import read_image
    from labelfree.io.ngff import write_ngff

    store = write_ngff(tmp_path / "z.ome.zarr", read_image(three_disk_movie(tmp_path / "x.tif")))
    before = sorted(p.relative_to(store).as_posix() for p in store.rglob("*"))
    code, err = _run(["drift", store, "-o", store / "c.tif", "-q"], capsys)
    assert code == 1, err
    assert f"The corrected movie {store / 'c.tif'} lies inside the movie of this run" in err
    assert sorted(p.relative_to(store).as_posix() for p in store.rglob("*")) == before
