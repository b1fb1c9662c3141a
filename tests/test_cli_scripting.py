"""The ``labelfree`` command driven from shell scripts and workflow managers (Snakemake, Nextflow, GNU parallel).

What got in the way before: SIGTERM (how Nextflow and Snakemake stop a job) exited with 130 as Ctrl-C does, not
143; an unexpected exception (a bug) exited with 1, as a refused input does; the written files could only be
learnt by parsing the summary meant for people; two commands writing into one output folder at once (a workflow's
parallel jobs, ``results/{sample}_labels.tif``) were refused for the whole run of the other ("in use by another
LabelFree run"); ``-v`` after the command was an unknown argument.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import labelfree
from labelfree.cli import main
from labelfree.io import read_manifest

SET = ("_labels.tif", "_rois.zip", "_table.csv", "_provenance.json")

# the command with the segmentation held until the file LF_RELEASE exists (LF_STARTED is made when it starts)
GATED = textwrap.dedent('''\
    import os, pathlib, sys, time

    import labelfree.run as run

    _real = run.run_pipeline

    def gated(*args, **kwargs):
        pathlib.Path(os.environ["LF_STARTED"]).touch()
        while not pathlib.Path(os.environ.get("LF_RELEASE", "/nonexistent")).exists():
            time.sleep(0.02)
        return _real(*args, **kwargs)

    run.run_pipeline = gated
    from labelfree.cli import entry_point
    entry_point()
''')

# the command with a bug: the segmentation raises an exception LabelFree does not expect
BROKEN = textwrap.dedent('''\
    import labelfree.run as run

    def broken(*args, **kwargs):
        raise RuntimeError("an unexpected bug")

    run.run_pipeline = broken
    from labelfree.cli import entry_point
    entry_point()
''')


def _movie(path: Path, seed: int = 0) -> Path:
    """(T, Y, X) uint16: three bright disks on noise, four frames."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    data = rng.integers(0, 50, (4, 64, 64)).astype(np.uint16)
    for t in range(4):
        for cy, cx in ((16, 16), (40, 20), (30, 48)):
            data[t][(yy - cy - 3 * t) ** 2 + (xx - cx) ** 2 < 49] += 1000
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX"})
    return path


def _env(**extra: str) -> dict:
    """The environment of a real ``labelfree`` process running the package these tests import."""
    src = str(Path(labelfree.__file__).resolve().parents[1])
    paths = [src, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1", **extra}


def _start(script: Path, *args: object, cwd: Path, **env: str) -> subprocess.Popen:
    # SIGINT as a terminal's Ctrl-C finds it (a shell's background job would start with it ignored)
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(**env),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended first: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("the run did not start its segmentation")
        time.sleep(0.02)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- exit codes ------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_exits_with_its_conventional_code_and_leaves_nothing(tmp_path, signum, code):
    """Was: SIGTERM exited with 130 (Ctrl-C's code), so a workflow's rule for a job its scheduler stopped
    (Nextflow's ``exitStatus in 137..143``) did not see it; now 128 + 15, and the output folder is left empty."""
    movie = _movie(tmp_path / "in" / "m.tif")
    (tmp_path / "gated.py").write_text(GATED)
    started = tmp_path / "started"
    proc = _start(tmp_path / "gated.py", "threshold", movie, "-o", "out", cwd=tmp_path, LF_STARTED=str(started))
    _wait_for(started, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    said = " (SIGTERM)" if signum == signal.SIGTERM else ""  # Ctrl-C is said as before
    assert err.strip() == f"labelfree: interrupted{said}; no partial outputs were left."
    assert out == "" and "Traceback" not in err
    assert _files(tmp_path / "out") == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_a_batch_run_with_143(tmp_path):
    """``labelfree batch`` handles the interruption itself (its summary, the inputs not done ``cancelled``): it
    exited with 130 for SIGTERM too; now with 143, as the pipeline commands. Only its summary files are left."""
    for i in range(2):
        _movie(tmp_path / "in" / f"m{i}.tif", seed=i)
    (tmp_path / "gated.py").write_text(GATED)
    started = tmp_path / "started"
    proc = _start(tmp_path / "gated.py", "batch", "in", "-p", "threshold", "-o", "out", "--scheduler", "sync",
                  "--no-progress", cwd=tmp_path, LF_STARTED=str(started))
    _wait_for(started, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "2 not done (no partial outputs)" in err
    assert not [f for f in _files(tmp_path / "out") if f.startswith(("m0", "m1", ".labelfree"))]


def test_a_bug_exits_70_apart_from_a_refused_input_an_unknown_option_and_an_existing_output(tmp_path):
    """Was: an unexpected exception exited with 1, as a refused input does, so a script could not tell a
    problem of its data (rerunning repeats it) from a crash (worth a report)."""
    movie = _movie(tmp_path / "m.tif")
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "plain.py").write_text("from labelfree.cli import entry_point\nentry_point()\n")

    def run(script: str, *args: object) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(tmp_path / script), *map(str, args)], cwd=str(tmp_path),
                              capture_output=True, text=True, env=_env(), timeout=300)

    crash = run("broken.py", "threshold", movie, "-o", "crashed")
    assert crash.returncode == 70, crash.stderr
    assert "RuntimeError: an unexpected bug" in crash.stderr and "Traceback" in crash.stderr
    assert crash.stderr.strip().splitlines()[-1].startswith("labelfree: internal error (exit code 70): ")
    assert _files(tmp_path / "crashed") == []
    missing = run("plain.py", "threshold", tmp_path / "nothing.tif", "-o", "o1")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr, missing.stderr
    unknown = run("plain.py", "threshold", movie, "-o", "o2", "--no-such-option")
    assert unknown.returncode == 2 and "unrecognized arguments: --no-such-option" in unknown.stderr
    assert run("plain.py", "threshold", movie, "-o", "o3").returncode == 0
    again = run("plain.py", "threshold", movie, "-o", "o3")
    assert again.returncode == 1 and "m_labels.tif exists" in again.stderr and "--overwrite" in again.stderr


# -- stdout: the written paths -----------------------------------------------------------------------------------------

def test_print_paths_prints_the_written_files_alone(tmp_path, monkeypatch, capsys, shared_data):
    """A real frame read through a link whose name has spaces and accents, a relative -o from another folder:
    stdout holds the absolute path of every file written, one per line, in the set's order, and nothing else."""
    frame = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01" / "t000.tif"
    if not frame.is_file():
        pytest.skip(f"{frame} is absent")
    inputs = tmp_path / "raw data é"
    inputs.mkdir()
    (inputs / "frame ü 0.tif").symlink_to(frame)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["threshold", str(Path("..") / "raw data é" / "frame ü 0.tif"), "-o", "res ults", "--print-paths",
                 "--overlay"]) == 0
    out, err = capsys.readouterr()
    folder = work / "res ults"
    assert out.splitlines() == [str(folder / f"frame ü 0{s}") for s in ("_labels.tif", "_rois.zip", "_table.csv",
                                                                        "_overlay.png", "_provenance.json")]
    assert err == ""
    assert _files(folder) == sorted(f"frame ü 0{s}" for s in (*SET, "_overlay.png"))
    assert read_manifest(folder, "frame ü 0") is not None
    assert tifffile.imread(folder / "frame ü 0_labels.tif").max() == 32  # Otsu on the frame: 32 nuclei


def test_verbose_after_the_command_and_help_lists_it(tmp_path, capsys, monkeypatch):
    """Was: ``labelfree threshold x.tif -o out -v`` was a usage error (-v was only taken before the command)."""
    import labelfree.cli as cli

    levels = []
    monkeypatch.setattr(cli, "_configure_logging", levels.append)
    movie = _movie(tmp_path / "m.tif")
    assert main(["threshold", str(movie), "-o", str(tmp_path / "out"), "-q", "-vv"]) == 0
    assert main(["-v", "threshold", str(movie), "-o", str(tmp_path / "out2"), "-q"]) == 0
    assert main(["threshold", str(movie), "-o", str(tmp_path / "out3"), "-q"]) == 0
    assert levels == [2, 1, 0]
    with pytest.raises(SystemExit) as done:
        main(["threshold", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--print-paths" in text and "-v, --verbose" in text


def test_help_of_every_command_imports_no_network_or_java_library(tmp_path):
    """``labelfree COMMAND --help`` in a workflow's dry run: argparse's help, without torch, cellpose or the JVM."""
    code = textwrap.dedent('''\
        import sys
        from labelfree.cli import main
        for argv in (["--help"], ["threshold", "--help"], ["motion", "--help"], ["cutter", "--help"],
                     ["fusion", "--help"], ["fusion", "train", "--help"], ["batch", "--help"], ["eval", "--help"],
                     ["drift", "--help"], ["stitch", "--help"], ["demo", "--help"], ["zoo", "--help"],
                     ["fiji", "install", "--help"], ["doctor", "--help"], ["options", "--help"]):
            try:
                main(argv)
            except SystemExit as exc:
                assert exc.code == 0, (argv, exc.code)
            else:
                raise AssertionError(argv)
        print(sorted(m for m in ("torch", "cellpose", "jpype", "scyjava", "imagej", "dask") if m in sys.modules))
    ''')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=str(tmp_path),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# -- several commands into one output folder ---------------------------------------------------------------------------

def test_commands_on_other_inputs_write_into_one_folder_at_once(tmp_path, capsys):
    """Was: while one command segmented, a second one into the same folder was refused ("in use by another
    LabelFree run"), so a workflow's parallel jobs could not share a results folder. Now each holds the folder
    only while it checks and while it writes: both sets are complete."""
    first, second = _movie(tmp_path / "in" / "a.tif"), _movie(tmp_path / "in" / "b.tif", seed=1)
    (tmp_path / "gated.py").write_text(GATED)
    started, release = tmp_path / "started", tmp_path / "release"
    proc = _start(tmp_path / "gated.py", "threshold", first, "-o", "out", "-q", cwd=tmp_path,
                  LF_STARTED=str(started), LF_RELEASE=str(release))
    try:
        _wait_for(started, proc)  # the first command is segmenting
        assert main(["threshold", str(second), "-o", str(tmp_path / "out"), "-q"]) == 0, capsys.readouterr().err
    finally:
        release.touch()
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    for stem in ("a", "b"):
        assert read_manifest(tmp_path / "out", stem) is not None
    assert _files(tmp_path / "out") == sorted(f"{s}{x}" for s in "ab" for x in SET)


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_same_input_twice_at_once(tmp_path, capsys, overwrite):
    """The same command twice at once: the one that writes second is refused (exit 1, the set named as a
    complete earlier result), or with --overwrite replaces it whole; the set is complete either way."""
    movie = _movie(tmp_path / "m.tif")
    (tmp_path / "gated.py").write_text(GATED)
    started, release = tmp_path / "started", tmp_path / "release"
    more = ["--overwrite"] if overwrite else []
    proc = _start(tmp_path / "gated.py", "threshold", movie, "-o", "out", "-q", *more, cwd=tmp_path,
                  LF_STARTED=str(started), LF_RELEASE=str(release))
    try:
        _wait_for(started, proc)
        assert main(["threshold", str(movie), "-o", str(tmp_path / "out"), "-q", *more]) == 0
    finally:
        release.touch()
        _, err = proc.communicate(timeout=300)
    if overwrite:
        assert proc.returncode == 0, err
    else:
        assert proc.returncode == 1, err
        assert err.strip().splitlines() == [
            f"labelfree: error: {tmp_path / 'out' / 'm_labels.tif'} exists (a complete earlier result); LabelFree "
            "does not replace earlier results silently. Use another output folder or name, or allow it (CLI "
            "--overwrite, API overwrite=True)."]
    assert read_manifest(tmp_path / "out", "m") is not None
    assert _files(tmp_path / "out") == sorted(f"m{x}" for x in SET)


def test_a_brief_hold_is_waited_for_and_a_batch_run_refused_at_once(tmp_path, capsys):
    """Another command's brief hold (checking or writing its outputs) is waited for; a folder held for a
    whole run (a batch run's) is refused at once, naming its holder."""
    from labelfree.io import OutputFolder

    movie = _movie(tmp_path / "m.tif")
    out = tmp_path / "out"
    held = OutputFolder(out, purpose="labelfree threshold other.tif: writing its outputs")
    held.open()
    timer = threading.Timer(0.5, held.close)
    timer.start()
    try:
        assert main(["threshold", str(movie), "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    finally:
        timer.join()
    assert read_manifest(out, "m") is not None
    with OutputFolder(out, purpose="labelfree batch plate -p threshold"):
        assert main(["threshold", str(movie), "-o", str(out), "-q", "--stem", "other"]) == 1
    err = capsys.readouterr().err
    assert "is in use by another LabelFree run" in err and "'labelfree batch plate -p threshold'" in err
    assert not (out / "other_labels.tif").exists()
