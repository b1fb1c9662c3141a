"""Outputs never destroy inputs or mix results; every bad input ends in one clear error (issue 14).

One test (or a few) per numbered case of the issue, on real files, mostly through real
``python -m labelfree`` processes (the ``user_runs`` fixture of ``tests/conftest.py``), with real
SIGKILLs during publication. Each checks that the inputs are byte-identical afterwards, that
no ``.part`` file, staging folder or lock is left, and that a refusal is one typed LabelFree error
line that says what to do, without a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import (
    ConfigError,
    CorruptFileError,
    DimensionError,
    EmptyImageError,
    InputError,
    InputOverwriteError,
    LabelFreeError,
    NoObjectsWarning,
)
from labelfree.io import read_image, read_manifest

SET_SUFFIXES = ("_labels.tif", "_rois.zip", "_table.csv", "_provenance.json")


# -- inputs ----------------------------------------------------------------------------------------------------------

def blob_movie(n_frames: int = 4, size: int = 64, seed: int = 0, flip: bool = False) -> np.ndarray:
    """(T, Y, X) uint16: three bright disks moving down three pixels per frame, on noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = rng.integers(0, 50, (n_frames, size, size)).astype(np.uint16)
    for t in range(n_frames):
        for cy, cx in ((16, 16), (40, 20), (30, 48)):
            out[t][(yy - cy - 3 * t) ** 2 + (xx - cx) ** 2 < 49] += 1000
    return out[:, ::-1].copy() if flip else out


def write_movie(path: Path, data: np.ndarray | None = None, axes: str = "TYX", **meta) -> Path:
    data = blob_movie() if data is None else data
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": axes, **meta})
    return path


@pytest.fixture
def movie(tmp_path) -> Path:
    return write_movie(tmp_path / "x.tif")


@pytest.fixture(scope="module")
def msc_crop(msc_dir, tmp_path_factory) -> Path:
    """A real 4-frame 96 x 96 crop of Fluo-C2DL-MSC/01 as an ImageJ hyperstack."""
    frames = np.stack([tifffile.imread(msc_dir / "01" / f"t{t:03d}.tif")[300:396, 300:396] for t in range(4)])
    path = tmp_path_factory.mktemp("msc") / "msc.tif"
    tifffile.imwrite(path, frames, imagej=True, resolution=(1 / 0.3, 1 / 0.3), metadata={"axes": "TYX", "unit": "um"})
    return path


def truncate(path: Path, target: Path, fraction: float = 0.6) -> Path:
    data = path.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def run_main(argv, capsys) -> tuple[int, str]:
    """``labelfree ARGV`` in this process: (exit code, stderr); any exception but a typed one fails the test."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: usage error
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def one_error(code: int, err: str, *words: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("labelfree: error:")]
    assert code == 1 and len(lines) == 1, (code, err)
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def assert_complete(folder: Path, stem: str) -> dict:
    record = read_manifest(folder, stem)
    assert record is not None, f"the set {stem} in {folder} does not verify"
    return record


# -- 1. an output path that is an input -----------------------------------------------------------------------------

def test_drift_never_writes_over_its_movie(tmp_path, movie, user_runs, capsys):
    before = user_runs.digest(tmp_path)
    proc = user_runs.run("drift", "x.tif", "-o", "x.tif", cwd=tmp_path)
    user_runs.assert_one_error(proc, "x.tif", "never writes over its inputs", "Choose another output path")
    proc = user_runs.run("-v", "drift", "x.tif", "-o", "y.tif", "--shifts", "x.tif", cwd=tmp_path)
    assert proc.returncode == 1 and "labelfree.errors.InputOverwriteError" in proc.stderr  # -v: the traceback
    (tmp_path / "link.tif").symlink_to(movie)
    code, err = run_main(["drift", tmp_path / "x.tif", "-o", tmp_path / "link.tif"], capsys)
    one_error(code, err, "never writes over its inputs")
    code, err = run_main(["drift", tmp_path / "x.tif", "-o", tmp_path / "y.tif", "--shifts", tmp_path / "y.tif"], capsys)
    one_error(code, err, "same file")
    assert sorted(os.listdir(tmp_path)) == ["link.tif", "x.tif"]  # no y.tif, no .part
    assert user_runs.digest(tmp_path)["x.tif"] == before["x.tif"] and (tmp_path / "link.tif").is_symlink()


def test_stitch_never_writes_over_a_tile(tmp_path, user_runs, capsys):
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    whole = blob_movie(1, 96)[0]
    tifffile.imwrite(tiles / "t1.tif", whole[:, :56])
    tifffile.imwrite(tiles / "t2.tif", whole[:, 40:])
    before = user_runs.digest(tmp_path)
    proc = user_runs.run("stitch", "tiles", "--grid", "1x2", "-o", "tiles/t1.tif", cwd=tmp_path)
    user_runs.assert_one_error(proc, "t1.tif", "never writes over its inputs")
    code, err = run_main(["stitch", tiles, "--grid", "1x2", "-o", tmp_path / "f.tif", "--positions", tiles / "t2.tif"],
                         capsys)
    one_error(code, err, "t2.tif", "never writes over its inputs")
    assert user_runs.digest(tmp_path) == before
    code, err = run_main(["stitch", tiles, "--grid", "1x2", "-o", tmp_path / "f.tif", "-q"], capsys)
    assert code == 0 and read_image(tmp_path / "f.tif").sizes["X"] >= 90
    assert {k: v for k, v in user_runs.digest(tmp_path).items() if k != "f.tif"} == before


def test_cutter_save_model_never_writes_over_an_input(tmp_path, user_runs, monkeypatch):
    image = write_movie(tmp_path / "c.tif", blob_movie(1)[0], axes="YX")
    (tmp_path / "m.csv").write_text("y,x\n16,16\n40,20\n30,48\n")
    before = user_runs.digest(tmp_path)
    args = ("cutter", "c.tif", "--markers", "m.csv", "-o", "out", "--set", "n_steps=500")
    for target in ("c.tif", "m.csv"):  # the image (issue: cutter c.tif --save-model c.tif) and the markers
        proc = user_runs.run(*args, "--save-model-file", target, cwd=tmp_path)
        user_runs.assert_one_error(proc, target, "never writes over its inputs")
    proc = user_runs.run(*args, "--save-model-file", "nowhere/m.pt", cwd=tmp_path)
    user_runs.assert_one_error(proc, "nowhere", "does not exist")
    assert user_runs.digest(tmp_path) == before and not (tmp_path / "out").exists()
    # the API checks it before training too (the image's source file is an input)
    import labelfree.cutter.train as train

    monkeypatch.setattr(train, "train_cutter", lambda *a, **k: pytest.fail("trained before the check"))
    from labelfree.cutter import segment

    with pytest.raises(InputOverwriteError, match="never writes over its inputs"):
        segment(read_image(image), markers=np.array([[16, 16], [40, 20]]), save_model=image)
    assert user_runs.digest(tmp_path) == before


def test_output_set_never_replaces_an_input_file(tmp_path, user_runs, capsys):
    data = tmp_path / "d"
    data.mkdir()
    write_movie(data / "a_labels.tif")
    (data / "a_provenance.json").write_text("{}")  # ... and a config file where a provenance would go
    before = user_runs.digest(tmp_path)
    code, err = run_main(["threshold", data / "a_labels.tif", "-o", data, "--stem", "a"], capsys)
    one_error(code, err, "a_labels.tif", "never writes over its inputs")
    code, err = run_main(["threshold", data / "a_labels.tif", "-o", data / "a_labels.tif"], capsys)
    one_error(code, err, "output folder", "never writes over its inputs")
    code, err = run_main(["threshold", data / "a_labels.tif", "-o", tmp_path / "o", "--stem", "a",
                          "--config", data / "a_provenance.json", "--overwrite"], capsys)
    assert code == 0  # another folder: fine
    code, err = run_main(["threshold", data / "a_labels.tif", "-o", data, "--stem", "b",
                          "--config", data / "a_provenance.json"], capsys)
    assert code == 0
    assert {k: v for k, v in user_runs.digest(tmp_path).items() if k in before} == before
    from labelfree.io import write_outputs

    labels = read_image(tmp_path / "o" / "a_labels.tif")
    with pytest.raises(InputOverwriteError):  # the API: the image's source is an input
        write_outputs(data, labels, image=read_image(data / "a_labels.tif"), stem="a", overwrite=True)
    assert {k: v for k, v in user_runs.digest(tmp_path).items() if k in before} == before
    assert user_runs.strays(tmp_path) == []


@pytest.mark.jvm
def test_fiji_commands_never_write_over_their_image(ij, tmp_path, user_runs):
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.errors import OutputExistsError

    path = write_movie(tmp_path / "c.tif", blob_movie(1)[0], axes="YX")
    before = user_runs.digest(tmp_path)
    imp = jimport("ij.IJ").openImage(str(path))  # its original file is c.tif
    quiet = {"rois": "none", "table": False}
    with pytest.raises(InputOverwriteError, match="never writes over its inputs"):
        lij.run_command("cutter", imp, options={**quiet, "output": str(tmp_path / "out"), "save_model_file": str(path),
                                                "n_steps": 500})
    assert user_runs.digest(tmp_path) == before and not (tmp_path / "out").exists()
    options = {**quiet, "output": str(tmp_path / "out"), "min_size": 5}
    lij.run_command("threshold", imp, options=options)
    first = user_runs.digest(tmp_path / "out")
    with pytest.raises(OutputExistsError, match="overwrite"):
        lij.run_command("threshold", imp, options={**options, "min_size": 500})
    assert user_runs.digest(tmp_path / "out") == first
    with pytest.warns(NoObjectsWarning):  # no object of 500 px: the run still writes its (empty) outputs
        lij.run_command("threshold", imp, options={**options, "min_size": 500, "overwrite": True})
    assert assert_complete(tmp_path / "out", "c")["config"]["min_size"] == 500
    assert user_runs.digest(tmp_path)["c.tif"] == before["c.tif"] and user_runs.strays(tmp_path) == []
    imp.close()


# -- 2. zoo operations stay inside the zoo --------------------------------------------------------------------------

def test_zoo_remove_stays_inside_the_zoo(tmp_path, user_runs, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    zoo = tmp_path / "zoo"
    (zoo / "sub").mkdir(parents=True)
    (zoo / "w.pt").write_bytes(b"weights")
    (zoo / "out.pt").symlink_to(victim)
    entry = {"object": "nuclei", "channels": ["a"], "cell_line": "", "sha256": ""}
    files = {"up": "../victim.txt", "abs": str(victim), "sub": "sub", "index": "index.json", "link": "out.pt",
             "w1": "w.pt", "w2": "w.pt"}
    (zoo / "index.json").write_text(json.dumps({"version": 1, "models": [
        {**entry, "id": k, "file": v} for k, v in files.items()]}))
    index = (zoo / "index.json").read_text()
    proc = user_runs.run("zoo", "remove", "zoo", "up", cwd=tmp_path)
    user_runs.assert_one_error(proc, "../victim.txt", "inside the zoo folder")
    for model_id in ("abs", "sub", "index", "link"):
        code, err = run_main(["zoo", "remove", zoo, model_id], capsys)
        one_error(code, err, "zoo")
        assert (zoo / "index.json").read_text() == index  # refused before anything changed
    assert victim.read_text() == "keep me" and (zoo / "sub").is_dir()
    code, _ = run_main(["zoo", "remove", zoo, "w1"], capsys)
    assert code == 0 and (zoo / "w.pt").is_file()  # w2 still uses it
    code, _ = run_main(["zoo", "remove", zoo, "w2"], capsys)
    assert code == 0 and not (zoo / "w.pt").exists()
    assert victim.read_text() == "keep me" and (zoo / "out.pt").is_symlink()
    assert [e["id"] for e in json.loads((zoo / "index.json").read_text())["models"]] == [
        "up", "abs", "sub", "index", "link"]


# -- 3. whole stems: dotted names keep distinct outputs; provenance records the input ---------------------------

def _dotted_inputs(folder: Path, source: Path) -> tuple[Path, Path]:
    folder.mkdir()
    data = read_image(source).values
    return (write_movie(folder / "exp1.pos1.tif", data), write_movie(folder / "exp1.pos2.tif", data[:, ::-1].copy()))


def test_dotted_names_keep_distinct_outputs_cli(tmp_path, msc_crop, user_runs):
    first, second = _dotted_inputs(tmp_path / "in", msc_crop)
    before = user_runs.digest(tmp_path / "in")
    for path in (first, second):
        proc = user_runs.run("threshold", path, "-o", "out", "-q", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == sorted(f"exp1.pos{i}{s}" for i in (1, 2) for s in SET_SUFFIXES)
    for path in (first, second):
        record = assert_complete(tmp_path / "out", path.name[:-4])
        size = path.stat().st_size
        assert record["inputs"]["image"] == {"path": str(path), "size": size, "sha256": before[path.name]}
    one, two = (read_image(tmp_path / "out" / f"exp1.pos{i}_labels.tif").values > 0 for i in (1, 2))
    assert np.array_equal(one[:, ::-1], two) and not np.array_equal(one, two)  # each set is its own input's result
    assert user_runs.digest(tmp_path / "in") == before and user_runs.strays(tmp_path) == []


def test_dotted_names_keep_distinct_outputs_batch(tmp_path, msc_crop, user_runs):
    first, second = _dotted_inputs(tmp_path / "in", msc_crop)
    before = user_runs.digest(tmp_path / "in")
    proc = user_runs.run("batch", "in", "-p", "threshold", "-o", "out", "--scheduler", "sync", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for path in (first, second):
        record = assert_complete(tmp_path / "out", path.name[:-4])
        size = path.stat().st_size
        assert record["inputs"]["image"] == {"path": str(path), "size": size, "sha256": before[path.name]}
        assert record["batch"]["input_sha256"] == before[path.name]
    assert user_runs.digest(tmp_path / "in") == before and user_runs.strays(tmp_path) == []


# -- 4. a kill between the renames of a publication ------------------------------------------------------------------

KILLER = textwrap.dedent('''\
    """Run the labelfree CLI; SIGKILL this process right after the 2nd file of a set is moved into place."""
    import os, signal, sys

    _replace, _moved = os.replace, [0]

    def replace(src, dst, *args, **kwargs):
        _replace(src, dst, *args, **kwargs)
        if ".labelfree-staging" in str(src) and ".labelfree-staging" not in str(dst):
            _moved[0] += 1
            if _moved[0] == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    from labelfree.cli import main
    sys.exit(main(sys.argv[1:]))
''')


@pytest.fixture
def killer(tmp_path) -> Path:
    path = tmp_path / "killer.py"
    path.write_text(KILLER)
    return path


def _half_published(out: Path, stem: str) -> None:
    """What a kill between the renames leaves: nothing that looks complete."""
    assert read_manifest(out, stem) is None and not (out / f"{stem}_provenance.json").exists()
    assert (out / f"{stem}_labels.tif").exists() and (out / ".labelfree-staging").is_dir()


def test_kill_between_renames_then_rerun(tmp_path, movie, killer, user_runs):
    before = user_runs.digest(tmp_path)
    assert user_runs.run("threshold", "x.tif", "-o", "out", "-q", cwd=tmp_path).returncode == 0
    old = user_runs.digest(tmp_path / "out")
    proc = user_runs.run("threshold", "x.tif", "-o", "out", "-q", "--overwrite", "--set", "min_size=200",
                         cwd=tmp_path, script=killer)
    assert proc.returncode == -signal.SIGKILL
    _half_published(tmp_path / "out", "x")
    now = user_runs.digest(tmp_path / "out")
    assert now["x_labels.tif"] != old["x_labels.tif"] and now["x_table.csv"] == old["x_table.csv"]  # mixed
    proc = user_runs.run("threshold", "x.tif", "-o", "out", "-q", "--set", "min_size=200", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" in proc.stderr  # the rerun says it removed the half set
    record = assert_complete(tmp_path / "out", "x")
    assert record["config"]["min_size"] == 200
    assert sorted(os.listdir(tmp_path / "out")) == [f"x{s}" for s in sorted(SET_SUFFIXES)]
    assert {k: v for k, v in user_runs.digest(tmp_path).items() if k in before} == before


def test_kill_between_renames_batch_rerun_redoes_it(tmp_path, killer, user_runs):
    data = tmp_path / "data"  # the output folder is the input folder, too
    data.mkdir()
    write_movie(data / "a.tif")
    write_movie(data / "b.tif", blob_movie(seed=1, flip=True))
    before = user_runs.digest(data)
    batch = ("batch", "data", "-p", "threshold", "-o", "data", "--scheduler", "sync", "-q")
    assert user_runs.run(*batch, cwd=tmp_path).returncode == 0
    again = (*batch, "--overwrite", "--set", "min_size=200")
    proc = user_runs.run(*again, cwd=tmp_path, script=killer)
    assert proc.returncode == -signal.SIGKILL
    _half_published(data, "a")
    proc = user_runs.run(*again, cwd=tmp_path)  # the same command again
    assert proc.returncode == 0, proc.stderr
    # a is redone, not "skipped"; the half-published a_labels.tif was no input
    assert {row["stem"]: row["status"] for row in _summary(data)} == {"a": "ok", "b": "ok"}
    assert all(assert_complete(data, s)["config"]["min_size"] == 200 for s in "ab")
    proc = user_runs.run(*again, cwd=tmp_path)
    assert proc.returncode == 0 and {row["status"] for row in _summary(data)} == {"skipped"}
    assert {k: v for k, v in user_runs.digest(data).items() if k in before} == before
    assert user_runs.strays(tmp_path) == []


def _summary(folder: Path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(folder / "batch_summary.csv", keep_default_na=False).to_dict("records")


def test_batch_rerun_redoes_damaged_sets_and_cleans_part_files(tmp_path, user_runs):
    data = tmp_path / "data"
    data.mkdir()
    for name, seed in (("a", 0), ("b", 1), ("c", 2)):
        write_movie(data / f"{name}.tif", blob_movie(seed=seed))
    batch = ("batch", "data", "-p", "threshold", "-o", "out", "--scheduler", "sync", "-q")
    assert user_runs.run(*batch, cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    good = user_runs.digest(out)
    labels = read_image(out / "a_labels.tif").values
    (out / "a_labels.tif").write_bytes(b"")  # an empty labels file
    (out / "b_table.csv").write_text("label\n")  # a changed table
    (out / ".c_rois.zip.1234.part").write_bytes(b"half")  # a temporary file of a killed writer
    proc = user_runs.run(*batch, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    status = {row["stem"]: row["status"] for row in _summary(out)}
    assert status == {"a": "ok", "b": "ok", "c": "skipped"}
    now = user_runs.digest(out)
    assert now["b_table.csv"] == good["b_table.csv"] and now["c_labels.tif"] == good["c_labels.tif"]
    assert np.array_equal(read_image(out / "a_labels.tif").values, labels)
    assert all(read_manifest(out, s) is not None for s in "abc") and user_runs.strays(tmp_path) == []


# -- 5. truncated multi-frame TIFFs ----------------------------------------------------------------------------------

def test_truncated_movie_is_a_clear_error_everywhere(tmp_path, msc_crop, user_runs):
    truncate(msc_crop, tmp_path / "cut.tif")
    (tmp_path / "m.csv").write_text("y,x\n40,40\n")
    ome = tmp_path / "ome.tif"
    tifffile.imwrite(ome, read_image(msc_crop).values, ome=True, metadata={"axes": "TYX"})
    truncate(ome, tmp_path / "ome_cut.tif")
    before = user_runs.digest(tmp_path)
    for args in (("cutter", "cut.tif", "--markers", "m.csv", "-o", "o1", "--set", "n_steps=2"),
                 ("motion", "cut.tif", "-o", "o2"), ("threshold", "ome_cut.tif", "-o", "o3")):
        proc = user_runs.run(*args, cwd=tmp_path)
        user_runs.assert_one_error(proc, "truncated", "again")
        assert proc.stderr.strip().count("\n") == 0  # one line: no reader chatter
    proc = user_runs.run("batch", "cut.tif", "ome_cut.tif", "-p", "threshold", "-o", "o4", "--scheduler", "sync", "-q",
                         cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = _summary(tmp_path / "o4")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all(r["error"].startswith("CorruptFileError") and "truncated" in r["error"] for r in rows)
    assert not [n for n in os.listdir(tmp_path / "o4") if n.endswith(SET_SUFFIXES)]
    assert {k: v for k, v in user_runs.digest(tmp_path).items() if k in before} == before
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3)) and user_runs.strays(tmp_path) == []
    with pytest.raises(CorruptFileError):
        read_image(tmp_path / "ome_cut.tif")


# -- 6. one run at a time per output folder; the output folder may be the input folder ---------------------------

GATED = textwrap.dedent('''\
    """Run the labelfree CLI; the segmentation waits until the file named by LF_RELEASE exists."""
    import os, pathlib, sys, time

    import labelfree.run as run

    _real = run.run_pipeline

    def gated(*args, **kwargs):
        pathlib.Path(os.environ["LF_STARTED"]).touch()
        while not pathlib.Path(os.environ["LF_RELEASE"]).exists():
            time.sleep(0.05)
        return _real(*args, **kwargs)

    run.run_pipeline = gated
    from labelfree.cli import main
    sys.exit(main(sys.argv[1:]))
''')


def test_second_batch_run_into_a_held_folder_is_refused(tmp_path, user_runs):
    data = tmp_path / "data"
    data.mkdir()
    write_movie(data / "a.tif")
    gate = tmp_path / "gated.py"
    gate.write_text(GATED)
    started, release = tmp_path / "started", tmp_path / "release"
    first = user_runs.popen("batch", "data", "-p", "threshold", "-o", "out", "--scheduler", "sync", "-q", cwd=tmp_path,
                            script=gate, env=user_runs.env(LF_STARTED=str(started), LF_RELEASE=str(release)))
    try:
        deadline = time.time() + 120
        while not started.exists():  # the first run holds the folder and is segmenting
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        holder = json.loads((tmp_path / "out" / ".labelfree.lock").read_text())
        assert holder["pid"] == first.pid
        proc = user_runs.run("batch", "data", "-p", "threshold", "-o", "out", "--scheduler", "sync", "--overwrite",
                             cwd=tmp_path)
        user_runs.assert_one_error(proc, "in use by another LabelFree run", f"pid {first.pid}", "labelfree batch")
        proc = user_runs.run("threshold", "data/a.tif", "-o", "out", "--stem", "other", cwd=tmp_path)
        user_runs.assert_one_error(proc, "in use", f"pid {first.pid}")
        assert not (tmp_path / "out" / "other_labels.tif").exists()
    finally:
        release.touch()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert_complete(tmp_path / "out", "a")
    assert user_runs.strays(tmp_path) == []


def test_batch_into_its_input_folder_never_segments_its_outputs(tmp_path, user_runs):
    data = tmp_path / "data"
    data.mkdir()
    write_movie(data / "a.tif")
    write_movie(data / "b.ome.tif", blob_movie(seed=3))
    before = user_runs.digest(data)
    for expected in ("ok", "skipped"):
        proc = user_runs.run("batch", "data", "-p", "threshold", "-o", "data", "--scheduler", "sync", "-q", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert {r["stem"]: r["status"] for r in _summary(data)} == {"a": expected, "b": expected}
    names = set(os.listdir(data))
    assert not any("_labels_" in n for n in names)
    assert {f"{s}{x}" for s in "ab" for x in SET_SUFFIXES} <= names
    assert {k: v for k, v in user_runs.digest(data).items() if k in before} == before


# -- 7. config values: type and range, in one place for CLI, config files, Fiji and API ---------------------------

@pytest.mark.parametrize("pipeline, name, text, expected", [
    ("threshold", "min_size.yaml", "min_size: .nan\n", "min_size"),
    ("threshold", "min_size.json", '{"min_size": NaN}\n', "NaN"),
    ("motion", "track.yaml", 'track: "maybe"\n', "true or false"),  # "no" is false, as after --set
    ("motion", "blur.yaml", "flow_blur: -3\n", "in [0, 100]"),
    ("motion", "levels.yaml", "levels: 2.5\n", "whole number"),
])
def test_config_file_values_are_checked(tmp_path, movie, capsys, pipeline, name, text, expected):
    (tmp_path / name).write_text(text)
    code, err = run_main([pipeline, movie, "-o", tmp_path / "out", "--config", tmp_path / name], capsys)
    one_error(code, err, expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("pipeline, setting, expected", [
    ("threshold", "min_size=nan", "min_size"), ("threshold", "min_size=inf", "min_size"),
    ("motion", "track=maybe", "track"), ("motion", "flow_blur=-3", "flow_blur"), ("motion", "levels=2.5", "levels"),
    ("motion", "flow_blur=1e400", "flow_blur"), ("cutter", "seed=a", "seed"), ("cutter", "learning_rate=-1", "learning_rate"),
])
def test_set_values_are_checked(tmp_path, movie, capsys, pipeline, setting, expected):
    code, err = run_main([pipeline, movie, "-o", tmp_path / "out", "--set", setting], capsys)
    one_error(code, err, expected)
    assert not (tmp_path / "out").exists()


def test_macro_and_api_values_share_the_checks():
    from labelfree.imagej.commands import command_fields
    from labelfree.motion import MotionConfig
    from labelfree.options import parse_macro_options
    from labelfree.threshold import ThresholdConfig

    for options in ("min_size=NaN", "threshold=nan", "fill_holes=maybe"):
        with pytest.raises(ConfigError):
            ThresholdConfig.from_dict(parse_macro_options(options, command_fields("threshold")))
    for bad in ({"track": "no"}, {"flow_blur": -3}, {"levels": 2.5}, {"min_size": float("nan")}, {"seed": True}):
        with pytest.raises(ConfigError):
            MotionConfig(**bad)
    assert MotionConfig.from_dict(parse_macro_options("track=no", command_fields("motion"))).track is False


def test_track_no_switches_tracking_off(tmp_path, capsys):
    from labelfree.datasets import SAMPLE_MOVIE

    code, _ = run_main(["motion", SAMPLE_MOVIE, "-o", tmp_path / "out", "-q", "--set", "track=no"], capsys)
    assert code == 0 and assert_complete(tmp_path / "out", "sample_movie")["config"]["track"] is False


def test_eval_threshold_is_checked(tmp_path, movie, capsys):
    code, err = run_main(["eval", movie, movie, "--threshold", "-1"], capsys)
    assert code == 2 and "(0, 1]" in err
    from labelfree.metrics import evaluate

    with pytest.raises(LabelFreeError):
        evaluate(np.ones((4, 4), np.uint8), np.ones((4, 4), np.uint8), threshold=-1)


def test_channels_are_checked_and_recorded(tmp_path, movie, capsys):
    code, err = run_main(["threshold", movie, "-o", tmp_path / "o1", "--channel", "1"], capsys)
    one_error(code, err, "one channel only")
    two = write_movie(tmp_path / "two.tif", np.stack([blob_movie(), blob_movie(seed=1) // 2], 1), axes="TCYX",
                      Labels=["GFP", "DAPI"] * 4)
    code, err = run_main(["threshold", two, "-o", tmp_path / "o2"], capsys)
    one_error(code, err, "has 2", "GFP", "DAPI", "--channel")
    # one channel listed twice (was: two identical channels, merged into a grey image without a word)
    code, err = run_main(["cutter", two, "-o", tmp_path / "o2", "--channel", "0,GFP"], capsys)
    one_error(code, err, "Channel GFP is chosen more than once")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    for channel, name in (("1", "DAPI"), ("GFP", "GFP")):
        out = tmp_path / f"o_{name}"
        code, err = run_main(["threshold", two, "-o", out, "-q", "--channel", channel], capsys)
        assert code == 0, err
        assert assert_complete(out, "two")["channels"] == [name]
    code, err = run_main(["threshold", two, "-o", tmp_path / "o3", "--channel", "5"], capsys)
    one_error(code, err, "out of range")


# -- 8. no raw tracebacks ---------------------------------------------------------------------------------------------

def _damaged_zlib(source: Path, folder: Path) -> tuple[Path, Path]:
    """(bad pixel data, bad directory) copies of a zlib-compressed version of ``source``."""
    packed = folder / "packed.tif"
    tifffile.imwrite(packed, read_image(source).values, imagej=True, metadata={"axes": "TYX"}, compression="zlib")
    with tifffile.TiffFile(packed) as tif:
        page = tif.pages[2]
        offset, count = page.dataoffsets[0], page.databytecounts[0]
        ifd = tif.pages[1].offset
    data = bytearray(packed.read_bytes())
    data[offset:offset + count] = bytes(b ^ 0x5A for b in data[offset:offset + count])
    (folder / "bad_data.tif").write_bytes(bytes(data))
    data = bytearray(packed.read_bytes())
    data[ifd:ifd + 2] = b"\xff\xff"  # the number of tags of the second directory
    (folder / "bad_ifd.tif").write_bytes(bytes(data))
    return folder / "bad_data.tif", folder / "bad_ifd.tif"


def test_corrupt_zlib_tiff_is_one_clear_error(tmp_path, msc_crop, user_runs, capsys):
    bad_data, bad_ifd = _damaged_zlib(msc_crop, tmp_path)
    before = user_runs.digest(tmp_path)
    proc = user_runs.run("threshold", "bad_data.tif", "-o", "out", cwd=tmp_path)
    user_runs.assert_one_error(proc, "damaged")
    for argv in (["threshold", bad_ifd, "-o", tmp_path / "out"], ["drift", bad_data, "-o", tmp_path / "d.tif"],
                 ["drift", bad_ifd, "-o", tmp_path / "d.tif"], ["eval", bad_ifd, msc_crop],
                 ["eval", msc_crop, bad_data]):
        code, err = run_main(argv, capsys)
        one_error(code, err, "damaged")
    assert user_runs.digest(tmp_path) == before and not (tmp_path / "out").exists()


def _unprivileged() -> tuple[str, ...]:
    """A command prefix under which permission bits apply (root ignores them)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    caps = "-dac_override,-dac_read_search"
    return ("setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}")


def test_unwritable_output_locations_are_one_clear_error(tmp_path, movie, user_runs, capsys):
    (tmp_path / "m.csv").write_text("y,x\n16,16\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "file.txt").write_text("a file")
    os.chmod(locked, 0o555)
    before = user_runs.digest(tmp_path)
    try:
        cases = [
            (("threshold", "x.tif", "-o", "locked"), "not writable"),
            (("threshold", "x.tif", "-o", "locked/sub"), "Permission denied"),
            (("drift", "x.tif", "-o", "locked/d.tif"), "not writable"),
            (("cutter", "x.tif", "--markers", "m.csv", "-o", "o", "--save-model-file", "locked/m.pt"),
             "not writable"),
            (("batch", "x.tif", "-p", "threshold", "--scheduler", "sync", "-o", "locked"), "not writable"),
            (("zoo", "add", "locked/zoo", "x.tif", "--object", "nuclei", "--channels", "a"), "locked/zoo"),
        ]
        for args, words in cases:
            proc = user_runs.run(*args, cwd=tmp_path, prefix=_unprivileged())
            user_runs.assert_one_error(proc, words)
    finally:
        os.chmod(locked, 0o755)
    below = tmp_path / "file.txt"  # an output path below a file
    for argv in (["threshold", movie, "-o", below / "out"], ["drift", movie, "-o", below / "d.tif"],
                 ["cutter", movie, "--markers", tmp_path / "m.csv", "-o", tmp_path / "o", "--save-model-file",
                  below / "m.pt"],
                 ["batch", movie, "-p", "threshold", "--scheduler", "sync", "-o", below / "out"]):
        code, err = run_main(argv, capsys)
        one_error(code, err, "is a file")
    assert user_runs.digest(tmp_path) == before and os.listdir(locked) == [] and not (tmp_path / "o").exists()


def test_bad_extra_inputs_and_options_are_one_clear_error(tmp_path, movie, user_runs, capsys):
    image = write_movie(tmp_path / "c.tif", np.stack([blob_movie(1)[0]] * 2), axes="CYX", Labels=["cell", "nuc"])
    (tmp_path / "text.csv").write_text("y,x\n16,16\nabc,20\n")
    proc = user_runs.run("cutter", "c.tif", "--markers", "text.csv", "-o", "o1", cwd=tmp_path)
    user_runs.assert_one_error(proc, "text.csv", "row 3")
    code, err = run_main(["cutter", image, "-o", tmp_path / "o2", "--set", "nucleus_channel=DAPI",
                          "--set", "n_steps=1"], capsys)
    one_error(code, err, "'DAPI' not found", "cell", "nuc")
    code, err = run_main(["batch", movie, "-p", "threshold", "-o", tmp_path / "o3", "--memory-limit", "lots"], capsys)
    one_error(code, err, "memory_limit", "4GB")
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3))


def test_drift_on_a_five_d_stack(tmp_path, capsys):
    stack = np.stack([np.stack([blob_movie(3, 32, seed=s)] * 2, 1) for s in (0, 1)], 2)  # T C Z Y X
    source = write_movie(tmp_path / "five.tif", stack.transpose(0, 2, 1, 3, 4).copy(), axes="TZCYX")
    code, err = run_main(["drift", source, "-o", tmp_path / "d.tif", "-q", "--canvas", "same"], capsys)
    assert code == 0, err
    before, after = read_image(source), read_image(tmp_path / "d.tif")
    assert after.dims == before.dims == ("T", "C", "Z", "Y", "X") and after.shape == before.shape


@pytest.mark.parametrize("pipeline", ["threshold", "motion", "cutter", "fusion"])
def test_api_degenerate_images_are_typed_errors(pipeline, tmp_path):
    from labelfree.image import to_dataarray
    from labelfree.run import run_pipeline

    inputs = {"cutter": {"markers": np.array([[0, 0, 0]])}}.get(pipeline, {})
    config = {"cutter": {"n_steps": 1}}.get(pipeline, {})
    dims = "CYX" if pipeline == "fusion" else "TYX"
    rng = np.random.default_rng(0)
    image = to_dataarray(rng.random((3, 1, 1)).astype(np.float32), dims=dims)
    try:  # 1 x 1 frames: a typed error or labels (with a warning when they hold no object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert run_pipeline(pipeline, image, config=config, inputs=inputs).shape[-2:] == (1, 1)
    except LabelFreeError:
        pass
    for shape, error in (((0, 8, 8), LabelFreeError), ((3, 0, 8), EmptyImageError), ((3, 8, 0), EmptyImageError)):
        image = to_dataarray(rng.random(shape).astype(np.float32), dims=dims)
        with pytest.raises(error):
            run_pipeline(pipeline, image, config=config, inputs=inputs)


def test_api_bad_cutter_arguments_are_typed_errors():
    from labelfree.cutter import segment

    image = blob_movie(1)[0].astype(np.float32)
    markers = np.array([[16, 16], [40, 20]])
    for config, match in (({"seed": "a"}, "seed"), ({"learning_rate": -1}, "learning_rate"),
                          ({"crop_size": 17}, "crop_size")):
        with pytest.raises(ConfigError, match=match):
            segment(image, markers=markers, config=config)
    for model in (123, object()):
        with pytest.raises(InputError, match="trained Cutter model"):
            segment(image, markers=markers, model=model)
    with pytest.raises(DimensionError):
        segment(np.zeros((2, 2, 2, 2, 2)), markers=markers)


# -- 9. manifest names stay inside; files are world-readable -------------------------------------------------------

@pytest.mark.parametrize("kind", ["csv", "yaml"])
def test_manifest_names_never_create_folders_outside(tmp_path, movie, user_runs, capsys, kind):
    outside = tmp_path / "outside"
    names = ["../x", str(outside / "x")]
    for i, name in enumerate(names):
        manifest = tmp_path / f"m{i}.{kind}"
        if kind == "csv":
            manifest.write_text(f"path,name\nx.tif,{name}\n")
        else:
            manifest.write_text(json.dumps({"inputs": [{"path": "x.tif", "name": name}]}))
        before = sorted(p.name for p in tmp_path.parent.iterdir()), sorted(os.listdir(tmp_path))
        if i == 0:
            proc = user_runs.run("batch", manifest.name, "-p", "threshold", "-o", "out/sub", "--scheduler", "sync",
                                 cwd=tmp_path)
            user_runs.assert_one_error(proc, "not a plain file-name prefix", "inside the output folder")
        else:
            code, err = run_main(["batch", manifest, "-p", "threshold", "-o", tmp_path / "out" / "sub",
                                  "--scheduler", "sync"], capsys)
            one_error(code, err, "not a plain file-name prefix", "inside the output folder")
        assert (sorted(p.name for p in tmp_path.parent.iterdir()), sorted(os.listdir(tmp_path))) == before
    assert not outside.exists() and not (tmp_path / "out").exists()


MODES = textwrap.dedent('''\
    """Write a Fusion model, file it in a zoo and install the Fiji scripts; print every file's mode."""
    import json, pathlib, stat, sys

    from labelfree.fusion import ModelZoo, new_model, save_model
    from labelfree.imagej.install import install_fiji

    root = pathlib.Path(sys.argv[1])
    weights = save_model(new_model(nbase=(2, 4, 4, 4), device="cpu"), root / "w.pt")
    zoo = ModelZoo(root / "zoo", create=True)
    entry = zoo.add(weights, object="nuclei", channels=["a"])
    (root / "Fiji.app" / "jars").mkdir(parents=True)
    (root / "Fiji.app" / "jars" / "ij-1.54f.jar").write_bytes(b"")
    written = install_fiji(root / "Fiji.app", python_mode=False)
    files = [weights, zoo.path_of(entry), zoo.index_path, *written["scripts"], *written["environment"]]
    print(json.dumps({str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}))
''')


def test_written_files_are_world_readable(tmp_path, movie, user_runs):
    write_movie(tmp_path / "c.tif", blob_movie(1)[0], axes="YX")
    (tmp_path / "m.csv").write_text("y,x\n16,16\n40,20\n30,48\n")
    proc = user_runs.run("cutter", "c.tif", "--markers", "m.csv", "-o", "out", "-q", "--save-model-file", "m.pt",
                         "--set", "n_steps=2", "--set", "width=4", "--set", "crop_size=32", "--set", "area_size=32",
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = user_runs.run("drift", "x.tif", "-o", "d.tif", "--shifts", "d.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "modes.py"
    script.write_text(MODES)
    proc = user_runs.run(tmp_path, cwd=tmp_path, script=script)
    assert proc.returncode == 0, proc.stderr
    modes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(modes) >= 6
    for path in (tmp_path / "m.pt", tmp_path / "m.pt.json", tmp_path / "d.tif", tmp_path / "d.csv",
                 *(tmp_path / "out").iterdir()):
        modes[str(path)] = oct(stat.S_IMODE(path.stat().st_mode))
    assert set(modes.values()) == {"0o644"}, modes
    assert user_runs.strays(tmp_path) == []


# -- an output inside a folder input; names of a one-channel image; wording of type errors -------------------------

def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_outputs_inside_a_folder_input_are_refused(tmp_path, capsys):
    import xarray as xr

    from labelfree.io import check_output_file, write_ngff, write_outputs

    store = write_ngff(tmp_path / "z.ome.zarr", xr.DataArray(blob_movie(3), dims=("T", "Y", "X")))
    before = _listing(tmp_path)
    for out in (store / "0", store / "0" / "sub", store / "labels"):  # was: z_labels.tif etc. inside the array
        code, err = run_main(["threshold", store, "-o", out], capsys)
        one_error(code, err, str(out), "inside the image of this run", "never writes into its inputs",
                  "outside it")
    with pytest.raises(InputOverwriteError, match="inside the image of this run"):  # the API: the image's source
        write_outputs(store / "0", np.ones((3, 64, 64), np.uint16), image=read_image(store), stem="z")
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    with pytest.raises(InputOverwriteError, match="inside the tiles of this run"):  # an output file, a tile folder
        check_output_file(tiles / "new.tif", inputs={"tiles": tiles})
    (tmp_path / "link").symlink_to(store)
    code, err = run_main(["threshold", store, "-o", tmp_path / "link" / "0"], capsys)  # through a link
    one_error(code, err, "inside the image of this run")
    assert _listing(tmp_path) == sorted([*before, "link", "tiles"])  # nothing written, the store unchanged
    code, err = run_main(["threshold", store, "-o", tmp_path / "out", "-q"], capsys)  # beside it: fine
    assert code == 0, err
    assert_complete(tmp_path / "out", "z")


def test_a_one_channel_image_takes_its_name(tmp_path, movie, capsys):
    from labelfree.image import select_channel, select_channels, to_dataarray

    for channel in ("DAPI", "0"):  # was: "the image has one channel only (no C axis)"
        out = tmp_path / f"o_{channel}"
        code, err = run_main(["threshold", movie, "-o", out, "-q", "--channel-names", "DAPI", "--channel", channel],
                             capsys)
        assert code == 0, err
        assert assert_complete(out, "x")["channels"] == ["DAPI"]
    code, err = run_main(["threshold", movie, "-o", tmp_path / "bad", "--channel-names", "DAPI", "--channel", "GFP"],
                         capsys)
    one_error(code, err, "'GFP' not found", "DAPI")
    code, err = run_main(["threshold", movie, "-o", tmp_path / "bad", "--channel", "DAPI"], capsys)
    one_error(code, err, "one channel only")  # an unnamed one-channel image has no channel DAPI
    assert not (tmp_path / "bad").exists()
    named = to_dataarray(blob_movie(2), dims="TYX", channel_names=["DAPI"])
    assert select_channel(named, "DAPI") is named and select_channels(named, "DAPI") is named
    with pytest.raises(InputError, match="chosen more than once"):
        select_channels(named, "DAPI,0")


def test_type_errors_use_the_right_article(tmp_path, movie, capsys):
    from labelfree.imagej.commands import command_fields
    from labelfree.options import parse_macro_options

    code, err = run_main(["threshold", movie, "-o", tmp_path / "out", "--set", "min_size=abc"], capsys)
    line = one_error(code, err, "min_size='abc'", "expected an integer")
    assert " a int" not in line  # was: "expected a int"
    assert not (tmp_path / "out").exists()
    for options, expected in (("min_size=1.5", "expected an integer"), ("fill_holes=maybe", "true or false")):
        with pytest.raises(ConfigError, match=expected):
            parse_macro_options(options, command_fields("threshold"))


# -- 10. replacing a set replaces the whole set ----------------------------------------------------------------------

class FileDigest:
    """SHA-256 of every file below a folder (or of the given files)."""

    @staticmethod
    def of(folder: Path, *files: Path) -> dict:
        import hashlib

        paths = files or sorted(p for p in Path(folder).rglob("*") if p.is_file())
        return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def _labels2d() -> np.ndarray:
    labels = np.zeros((32, 32), np.uint16)
    labels[4:12, 4:12], labels[18:28, 10:30] = 1, 2
    return labels


def _extra(text: str):
    return lambda path: Path(path).write_text(text)


def test_overwrite_without_overlay_removes_the_earlier_overlay(tmp_path, movie, capsys):
    out = tmp_path / "out"
    code, err = run_main(["threshold", movie, "-o", out, "--overlay", "-q"], capsys)
    assert code == 0, err
    assert "overlay" in assert_complete(out, "x")["outputs"]
    (out / "notes.txt").write_text("the user's")  # other files of the folder are none of the set's business
    (out / "x_drift.csv").write_text("the user's")  # a set's name, but no earlier set listed it
    inputs = FileDigest.of(tmp_path, movie)
    code, err = run_main(["threshold", movie, "-o", out, "--overwrite", "--set", "method=li", "-q"], capsys)
    assert code == 0, err
    record = assert_complete(out, "x")
    assert sorted(record["outputs"]) == ["labels", "rois", "table"] and record["config"]["method"] == "li"
    assert sorted(os.listdir(out)) == sorted([f"x{s}" for s in SET_SUFFIXES] + ["notes.txt", "x_drift.csv"])
    assert (out / "x_drift.csv").read_text() == "the user's" and FileDigest.of(tmp_path, movie) == inputs


@pytest.mark.filterwarnings("ignore::UserWarning")  # a small movie: little motion found
def test_motion_overwrite_without_flow_out_removes_the_earlier_flow(tmp_path, movie, capsys):
    out = tmp_path / "out"
    code, err = run_main(["motion", movie, "-o", out, "--flow-out", "-q"], capsys)
    assert code == 0, err
    assert (out / "x_flow.tif").is_file() and "flow" in assert_complete(out, "x")["outputs"]
    code, err = run_main(["motion", movie, "-o", out, "--overwrite", "-q"], capsys)
    assert code == 0, err
    assert "flow" not in assert_complete(out, "x")["outputs"]
    assert sorted(os.listdir(out)) == sorted(f"x{s}" for s in SET_SUFFIXES)


def test_overwrite_keeps_earlier_files_changed_since_or_used_as_inputs(tmp_path):
    from labelfree.io import write_outputs

    out = tmp_path / "out"
    write_outputs(out, _labels2d(), stem="s", extras={"flow": _extra("flow"), "overlay": _extra("png"),
                                                      "drift": _extra("dx,dy\n")})
    (out / "s_overlay.png").write_text("edited by hand")  # no longer what LabelFree wrote: the user's now
    write_outputs(out, _labels2d(), stem="s", overwrite=True, inputs={"shifts": out / "s_drift.csv"})
    assert sorted(assert_complete(out, "s")["outputs"]) == ["labels", "rois", "table"]
    assert not (out / "s_flow.tif").exists()  # the earlier set's, unchanged: removed
    assert (out / "s_overlay.png").read_text() == "edited by hand"  # changed since: kept
    assert (out / "s_drift.csv").read_text() == "dx,dy\n"  # an input of the new run: kept


@pytest.mark.parametrize("failure", ["ctrl-c moving the 2nd file", "disk full writing the manifest"])
def test_a_failed_replacement_puts_the_earlier_set_back(tmp_path, monkeypatch, failure):
    from labelfree.errors import OutputError
    from labelfree.io import outputs as outputs_module
    from labelfree.io import write_outputs

    out = tmp_path / "out"
    write_outputs(out, _labels2d(), stem="s", extras={"flow": _extra("flow"), "overlay": _extra("png")})
    old = FileDigest.of(out)
    if failure.startswith("ctrl-c"):
        real, moved = os.replace, []

        def replace(src, dst, *args, **kwargs):
            moving_in = ".labelfree-staging" in str(src) and ".labelfree-staging" not in str(dst)
            if moving_in and ".replaced" not in str(src):
                moved.append(dst)
                if len(moved) == 2:
                    raise KeyboardInterrupt
            return real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)
        expected = KeyboardInterrupt
    else:
        real_write = outputs_module.write_text_atomic

        def write(path, text, **kwargs):
            if Path(path).name == "s_provenance.json":
                raise OSError(28, "No space left on device")
            return real_write(path, text, **kwargs)

        monkeypatch.setattr(outputs_module, "write_text_atomic", write)
        expected = OutputError
    with pytest.raises(expected):
        write_outputs(out, _labels2d() * 0, stem="s", overwrite=True)
    monkeypatch.undo()
    assert FileDigest.of(out) == old  # the earlier set, whole, flow and overlay included
    assert sorted(assert_complete(out, "s")["outputs"]) == ["flow", "labels", "overlay", "rois", "table"]


def test_kill_while_replacing_a_set_with_an_overlay_then_rerun(tmp_path, movie, killer, user_runs):
    assert user_runs.run("threshold", "x.tif", "-o", "out", "--overlay", "-q", cwd=tmp_path).returncode == 0
    proc = user_runs.run("threshold", "x.tif", "-o", "out", "-q", "--overwrite", "--set", "min_size=200",
                         cwd=tmp_path, script=killer)
    assert proc.returncode == -signal.SIGKILL
    _half_published(tmp_path / "out", "x")
    proc = user_runs.run("threshold", "x.tif", "-o", "out", "-q", "--set", "min_size=200", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" in proc.stderr  # the rerun removed the half set: the earlier overlay with it
    assert assert_complete(tmp_path / "out", "x")["config"]["min_size"] == 200
    assert sorted(os.listdir(tmp_path / "out")) == [f"x{s}" for s in sorted(SET_SUFFIXES)]


def test_batch_overwrite_replaces_the_whole_earlier_set(tmp_path, movie, capsys):
    from labelfree.batch import run_batch

    out = tmp_path / "out"
    code, err = run_main(["threshold", movie, "-o", out, "--overlay", "-q"], capsys)
    assert code == 0, err
    summary = run_batch([movie], pipeline="threshold", out_dir=out, scheduler="sync", progress=False,
                        batch={"overwrite": True})
    assert list(summary["status"]) == ["ok"]
    assert sorted(assert_complete(out, "x")["outputs"]) == ["labels", "rois", "table"]
    assert not (out / "x_overlay.png").exists()
