"""JVM start: the session, its commands, and clear errors (JVM-option cases in subprocesses)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile

import pytest

from labelfree.errors import FijiError, JavaError
from labelfree.imagej import _java, jvm

_START = "import labelfree.imagej as lij\nlij.start({args})\n"


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def _fake_fiji(tmp_path, major: int):
    jars = tmp_path / "Fiji.app" / "jars"
    jars.mkdir(parents=True)
    header = b"\xca\xfe\xba\xbe" + (0).to_bytes(2, "big") + major.to_bytes(2, "big")
    with zipfile.ZipFile(jars / "ij-1.54f.jar", "w") as zf:
        zf.writestr("ij/IJ.class", header + b"\x00" * 16)
    return tmp_path / "Fiji.app"


def test_required_java_version_is_read_from_the_fiji_jars(tmp_path):
    assert jvm.required_java_version(_fake_fiji(tmp_path, 65)) == 21
    assert _java.class_file_major(tmp_path / "Fiji.app" / "jars" / "ij-1.54f.jar") == 65


def test_a_folder_that_is_not_fiji_is_refused(tmp_path):
    with pytest.raises(FijiError, match="not a Fiji installation"):
        jvm.required_java_version(tmp_path)


def test_java_version_of_this_machine_is_a_number():
    assert jvm.java_version() >= 8


def test_missing_ij_jar_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELFREE_IJ_JAR", str(tmp_path / "nowhere" / "ij.jar"))
    with pytest.raises(JavaError, match="LABELFREE_IJ_JAR=.*nowhere.*libij-java"):
        jvm.find_ij_jar()


def test_missing_ij_jar_in_a_fresh_process():
    out = _run_python(_START.format(args="headless=True"), LABELFREE_IJ_JAR="/nowhere/ij.jar")
    assert out.returncode != 0
    assert "JavaError" in out.stderr and "ij.jar) was not found at LABELFREE_IJ_JAR=/nowhere/ij.jar" in out.stderr


def test_missing_java_in_a_fresh_process(tmp_path):
    env = {"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "nojava")}
    out = _run_python(_START.format(args="headless=True"), **env)
    assert out.returncode != 0
    assert "No Java runtime found" in out.stderr


def test_gui_without_display_says_use_xvfb():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", _START.format(args="headless=False")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert "xvfb-run" in out.stderr and "headless=True" in out.stderr


def test_fiji_needing_newer_java_is_refused_before_the_jvm_starts(tmp_path):
    fiji = _fake_fiji(tmp_path, 99)  # Java 55: newer than any installed
    out = _run_python(_START.format(args=f"{str(fiji)!r}, headless=True"))
    assert out.returncode != 0
    assert "needs Java 55" in out.stderr


@pytest.mark.jvm
def test_headless_session_registers_commands_in_a_fresh_process():
    code = (
        _START.format(args="headless=True").replace("lij.start(", "s = lij.start(")
        + "from scyjava import jimport\n"
        + "print(s.headless, sorted(s.commands))\n"
        + "print(jimport('ij.Menus').getCommands().get('LabelFree Threshold'))\n"
    )
    out = _run_python(code)
    assert out.returncode == 0, out.stderr
    titles = ["LabelFree Cutter", "LabelFree Doctor", "LabelFree Drift", "LabelFree Fusion", "LabelFree Motion",
              "LabelFree Segment File", "LabelFree Stitch", "LabelFree Threshold"]
    assert f"True {titles}" in out.stdout
    assert 'labelfree.LabelFreeCommand("threshold")' in out.stdout


@pytest.mark.jvm
@pytest.mark.parametrize("headless", [True, False])
def test_numpy_blas_keeps_working_once_imagej_runs(headless):
    """A multi-threaded OpenBLAS call ended the process with a segmentation fault once the JVM
    ran; start() keeps NumPy's BLAS on one thread."""
    code = (
        _START.format(args=f"headless={headless}")
        + "import numpy as np\n"
        + "x = np.linalg.solve(np.eye(6) + 0.1, np.ones((6, 1961)))\n"
        + "y = np.ones((600, 600)) @ np.ones((600, 600))\n"
        + "print('ok', x.shape, float(y[0, 0]))\n"
    )
    out = _run_python(code)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    assert "ok (6, 1961) 600.0" in out.stdout


@pytest.mark.jvm
def test_start_returns_one_session_with_the_labelfree_commands(ij):
    import labelfree.imagej as lij

    assert lij.start() is ij
    with pytest.raises(FijiError, match="ImageJ 1.x .* already runs in this process, so Fiji at /no/Fiji.app"):
        lij.start("/no/Fiji.app")  # was: the ij.jar session returned, the Fiji folder ignored
    assert ij.mode == "ij1" and not ij.headless
    assert "LabelFree Threshold" in ij.commands
    from scyjava import jimport

    assert jimport("ij.IJ").getInstance() is not None  # hidden ImageJ instance for menus/recorder
    menu = jimport("ij.Menus").getImageJMenu("Plugins")
    labels = [str(menu.getItem(i).getLabel()) for i in range(menu.getItemCount())]
    assert {"LabelFree Threshold", "LabelFree Motion", "LabelFree Drift"} <= set(labels)


@pytest.mark.jvm
def test_headless_python_api_runs_a_command_and_refuses_the_roi_manager_clearly():
    code = (
        "import numpy as np\nimport labelfree.imagej as lij\nfrom labelfree.image import to_dataarray\n"
        "lij.start(headless=True)\n"
        "movie = np.zeros((2, 40, 40), np.uint16); movie[:, 5:12, 5:12] = 900; movie[1, 20:30, 20:30] = 900\n"
        "imp = lij.xarray_to_imageplus(to_dataarray(movie, dims='TYX'), title='m')\n"
        "r = lij.run_command('threshold', imp, options={'min_size': 5, 'rois': 'none'})\n"
        "print(r.label_image.getTitle(), [int(r.labels[t].max()) for t in range(2)], len(r.table))\n"
        "lij.run_command('threshold', imp, options={'rois': 'append'})\n"
    )
    out = _run_python(code)
    assert "m-labels [1, 2] 3" in out.stdout, out.stderr
    assert out.returncode != 0 and "The ROI Manager is a window and ImageJ runs headless" in out.stderr


@pytest.mark.jvm
def test_a_headless_macro_error_says_the_interpreters_error_not_a_headless_exception():
    """Was: MacroError("The macro failed: java.awt.HeadlessException"): headless, ImageJ's error dialog itself
    throws, and the interpreter's message (what the dialog would have said) was lost."""
    code = (
        "import labelfree.imagej as lij\nfrom labelfree.imagej.macro import MacroError\nlij.start(headless=True)\n"
        "try:\n    lij.run_macro('a = 1;\\nx = 1 + ;\\nprint(\"not reached\");')\n"
        "except MacroError as e:\n    print('RAISED', e)\n"
        "print('alive', lij.run_macro('return \"\" + (2 + 3);'))\n"
    )
    out = _run_python(code, DISPLAY="")
    said = re.search(r"RAISED The macro was aborted: Number or numeric function expected in line (\d+)\.\n", out.stdout)
    assert said is not None and int(said.group(1)) in (2, 3), out.stdout + out.stderr  # as the dialog counts lines
    assert "HeadlessException" not in out.stdout and "alive 5" in out.stdout, out.stdout + out.stderr
