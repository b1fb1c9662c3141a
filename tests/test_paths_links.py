"""The files LabelFree keeps in an output folder (its lock file, its staging folder) are never followed
through a link: a link placed there to an input, or to a folder of the user's, is refused with one clear
error, and the linked file or folder is left as it was."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from paths_data import three_disk_movie

from labelfree.cli import main
from labelfree.errors import OutputError
from labelfree.io import OutputFolder, write_outputs
from labelfree.io.outputs import LOCK_FILE, STAGING_DIR


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(argv: list, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a_lock_file_that_is_a_link_to_the_input_is_refused(tmp_path, capsys, link):
    movie = three_disk_movie(tmp_path / "in.tif")
    before = _sha(movie)
    out = tmp_path / "out"
    out.mkdir()
    if link == "symbolic":
        (out / LOCK_FILE).symlink_to(movie)
    else:
        os.link(movie, out / LOCK_FILE)
    code, err = _run(["threshold", movie, "-o", out, "-q"], capsys)
    assert code == 1 and "not the lock file LabelFree makes there" in err, err
    assert f"Remove {out / LOCK_FILE}" in err
    assert _sha(movie) == before
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]


def test_a_staging_folder_that_is_a_link_to_a_folder_of_the_user_is_refused(tmp_path, capsys):
    movie = three_disk_movie(tmp_path / "in.tif")
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "sub" / "notes.txt").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / STAGING_DIR).symlink_to(precious)
    code, err = _run(["threshold", movie, "-o", out, "-q"], capsys)
    assert code == 1 and "is a link, not the folder LabelFree stages its outputs in" in err, err
    assert (precious / "sub" / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in out.iterdir()) == [STAGING_DIR]
    # the API refuses it as well, and stages nothing in the linked folder
    with pytest.raises(OutputError, match="is a link"):
        write_outputs(out, np.ones((8, 8), np.uint16), stem="s")
    assert sorted(p.relative_to(precious).as_posix() for p in precious.rglob("*")) == ["sub", "sub/notes.txt"]


def test_a_plain_lock_file_left_by_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text('{"pid": 1}')
    with OutputFolder(out) as folder:
        folder.plan("s")
    assert list(out.iterdir()) == []


def test_only_labelfree_temporary_files_are_cleaned(tmp_path):
    """A run removes the ``.<name>.<random>.part`` files interrupted writes left, not a user's ``.draft.part``."""
    from labelfree.io.atomic import temp_path

    out = tmp_path / "out"
    out.mkdir()
    (out / ".draft.part").write_text("mine")
    left = temp_path(out / "s_labels.tif")  # as a killed write leaves it
    with OutputFolder(out) as folder:
        folder.plan("s")
    assert not left.exists()
    assert (out / ".draft.part").read_text() == "mine"
