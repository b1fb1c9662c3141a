"""A full disk while a command writes its outputs: one line that names the output folder and says what to do, in
every form the error takes (no space left, a used-up quota, a file size limit, numpy's "Not enough free space to
write N bytes" and "N requested and M written", which set no errno), never a traceback."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import labelfree
from labelfree._disk_full import disk_full_reason, free_space_text, noted_paths
from labelfree.cli import _write_error_message, main

SRC = Path(labelfree.__file__).resolve().parents[1]  # the source tree of the labelfree under test


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, (np.random.default_rng(0).random((64, 64)) * 1000).astype(np.uint16))
    return path


#: each form of a full disk, and what the one line says of it
FORMS = {
    "ENOSPC": (lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
               f"{os.strerror(errno.ENOSPC)} (errno 28). Free space on that disk (or raise your quota) or choose an "
               "output (-o) on another disk, then run the command again."),
    "EDQUOT": (lambda: OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)),
               f"{os.strerror(errno.EDQUOT)} (errno {errno.EDQUOT}). Free space on that disk (or raise your quota) or "
               "choose an output (-o) on another disk, then run the command again."),
    "EFBIG": (lambda: OSError(errno.EFBIG, os.strerror(errno.EFBIG)),
              f"{os.strerror(errno.EFBIG)} (errno {errno.EFBIG}). Free space on that disk (or raise your quota) or "
              "choose an output (-o) on another disk; a file this large also needs a file system that takes it (not "
              "FAT32) and a file size limit (ulimit -f) that allows it, then run the command again."),
    "numpy": (lambda: OSError("Not enough free space to write 83886080 bytes"),
              "the disk is full (Not enough free space to write 83886080 bytes). Free space on it or choose an output "
              "(-o) on another disk, then run the command again."),
    "short": (lambda: OSError("1048576 requested and 499504 written"),
              "the disk took only part of the data (1048576 requested and 499504 written); it is probably full. Free "
              "space on it or choose an output (-o) on another disk, then run the command again."),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_of_a_full_disk_is_one_line_naming_the_output(tmp_path, capsys, monkeypatch, image, form):
    import labelfree.io.tables as tables

    make, said = FORMS[form]

    def full(*args, **kwargs):
        raise make()

    monkeypatch.setattr(tables, "write_labels", full)
    out = tmp_path / "out"
    assert main(["threshold", str(image), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err == f"labelfree: error: cannot write the outputs (-o {out}): {said}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.tif"]  # nothing half-written, no folder left


def test_the_message_of_numpy_s_full_disk_names_the_file_it_was_writing(tmp_path):
    exc = OSError("Not enough free space to write 83886080 bytes")
    exc.filename = str(tmp_path / "out" / "big_labels.tif")
    assert _write_error_message(exc, output=str(tmp_path / "out")) == (
        f"cannot write {tmp_path / 'out' / 'big_labels.tif'}: the disk is full (Not enough free space to write "
        "83886080 bytes). Free space on it or choose an output (-o) on another disk, then run the command again.")


def test_other_errors_without_errno_are_no_full_disk():
    assert disk_full_reason(OSError("cannot identify image file")) is None
    assert disk_full_reason(OSError(errno.ENOENT, "No such file or directory")) is None
    assert disk_full_reason(ValueError("Not enough free space to write 3 bytes")) is None  # not an OSError
    wrapped = RuntimeError("writing failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert disk_full_reason(wrapped) == "the disk is full (No space left on device, errno 28)"
    assert disk_full_reason(OSError(errno.EDQUOT, "Disk quota exceeded")) == (
        f"your disk quota is used up (Disk quota exceeded, errno {errno.EDQUOT})")


def test_noted_paths_and_free_space(tmp_path):
    exc = OSError("1 requested and 0 written")
    exc.add_note(f"while writing one of {tmp_path / 'a.tif'}, {tmp_path / 'b.csv'}")
    assert noted_paths(exc) == [tmp_path / "a.tif", tmp_path / "b.csv"]
    assert noted_paths(OSError(errno.ENOSPC, "full", str(tmp_path / "c.zip"))) == [tmp_path / "c.zip"]
    free = shutil.disk_usage(tmp_path).free
    text = free_space_text(tmp_path / "not" / "made" / "yet")  # its nearest existing parent's disk
    number, unit, word = text.split()
    assert word == "free" and unit in ("bytes", "kB", "MB", "GB", "TB")
    scale = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
    assert abs(float(number) * scale - free) <= max(0.1 * scale, 0.01 * free)


@pytest.mark.slow
def test_a_real_full_disk_of_numpy_is_one_line(tmp_path):
    """A 1 MB tmpfs (a private mount namespace: needs root and unshare): numpy's tofile cannot reserve the room for
    labels image of 18 MB or more and says "Not enough free space to write N bytes"."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root to mount a small tmpfs")
    big = tmp_path / "big.tif"  # labels of more than 16 MB: numpy reserves their room first (fallocate)
    data = np.full((3000, 3000), 100, np.uint16)
    for y in range(100, 2900, 400):
        for x in range(100, 2900, 400):
            data[y:y + 150, x:x + 150] = 3000
    tifffile.imwrite(big, data)
    out = tmp_path / "tiny"
    out.mkdir()
    script = f'mount -t tmpfs -o size=1m none "{out}" && exec "$0" "$@"'
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable, "-m",
                           "labelfree", "threshold", str(big), "-o", str(out / "o1"), "-q"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"labelfree: error: cannot write the outputs (-o {out / 'o1'})"), done.stderr
    assert "the disk is full (Not enough free space to write " in done.stderr, done.stderr
    assert done.stderr.rstrip().endswith("then run the command again."), done.stderr
