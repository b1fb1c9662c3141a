"""An output folder checks its targets against an index of its inputs made once (linear in the inputs for a
run of many sets, not quadratic), with the refusals a check against the inputs themselves gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelfree.errors import InputOverwriteError
from labelfree.io.outputs import InputIndex, InputRecord, OutputFolder, check_not_input, publish_set

_SET = (("labels", "_labels.tif"), ("rois", "_rois.zip"), ("table", "_table.csv"))


def _inputs(folder: Path, n: int) -> dict[str, Path]:
    folder.mkdir()
    paths = {}
    for i in range(n):
        path = folder / f"im{i:04d}.tif"
        path.write_bytes(b"image")
        paths[f"input {i}"] = path
    return paths


def _stage(out: OutputFolder, staging: Path, stem: str) -> dict[str, Path]:
    staged = {}
    for kind, suffix in _SET:
        path = staging / f"{stem}{suffix}"
        path.write_bytes(stem.encode())
        staged[kind] = path
    return staged


def _count_input_looks(monkeypatch, folder: Path) -> list[int]:
    """Count the os.stat calls on files of ``folder`` (Path.stat, exists, is_file, samefile go through it)."""
    looks = [0]
    real_stat = os.stat
    inside = str(folder) + os.sep

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(inside):
            looks[0] += 1
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return looks


def test_plan_and_publish_look_at_each_input_once_for_the_whole_run(tmp_path, monkeypatch):
    """60 inputs, 60 sets planned and published: each input is looked at once (the folder's index), not once per
    target of every set (before: each input looked at for each target of each set: 57,600 looks)."""
    n = 60
    inputs = _inputs(tmp_path / "in", n)
    looks = _count_input_looks(monkeypatch, tmp_path / "in")
    after = []
    with OutputFolder(tmp_path / "out", inputs=inputs) as out:
        opened = looks[0]  # the folder itself checked against each input (by path: it does not exist yet)
        for i in range(n):
            stem = f"im{i:04d}"
            out.plan(stem)
            with out.staging(stem) as staging:
                out.publish(stem, _stage(out, staging, stem), {"stem": stem})
            after.append(looks[0] - opened)
        assert opened <= 3 * n
        # each input looked at (and, the targets being new, resolved) when the index was made; none for each set
        # after it (the old loop: 16 looks at each input for each set, 57,600 in all)
        assert after == [2 * n] * n
        index = out.input_index()
        assert out.input_index() is index  # made once, kept while the inputs stay as they are
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"im{i:04d}{suffix}" for i in range(n) for suffix in (*dict(_SET).values(), "_provenance.json"))


def test_publish_set_looks_at_each_input_once_per_call(tmp_path, monkeypatch):
    """publish_set with a list of inputs makes one index for its targets and the earlier set's files (before: one
    per target); given an InputIndex, it uses what that index looked at."""
    n = 50
    inputs = list(_inputs(tmp_path / "in", n).values())
    out = tmp_path / "out"
    out.mkdir()
    looks = _count_input_looks(monkeypatch, tmp_path / "in")
    per_call = []
    for overwrite in (False, True):  # the second publication replaces the first (its earlier files checked too)
        staging = out / f"staging{overwrite}"
        staging.mkdir()
        staged = {"labels": staging / "a_labels.tif", "overlay": staging / "a_overlay.png"}
        for path in staged.values():
            path.write_bytes(b"x")
        if overwrite:
            staged.pop("overlay")  # the earlier overlay is the earlier set's own: removed, after its check
        publish_set(out, "a", staged, {}, overwrite=overwrite, inputs=inputs)
        per_call.append(looks[0] - sum(per_call))
    # each input looked at once, and resolved once where a target is new (before: a new index for each target
    # and the earlier overlay: 300 and 150 looks)
    assert per_call == [2 * n, n]
    index = InputIndex(inputs)
    looks[0] = 0
    for stem in ("b", "c"):
        staging = out / f"staging{stem}"
        staging.mkdir()
        (staging / f"{stem}_labels.tif").write_bytes(b"x")
        publish_set(out, stem, {"labels": staging / f"{stem}_labels.tif"}, {}, inputs=index)
    assert looks[0] == n  # the inputs resolved once (the targets are new), for both calls
    assert not (out / "a_overlay.png").exists() and (out / "a_labels.tif").read_bytes() == b"x"


def _refusal(call) -> str:
    with pytest.raises(InputOverwriteError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_a_target_linked_to_an_input_after_the_plan_is_refused_at_publication_as_before(tmp_path, link):
    """The index made at plan() still knows the inputs when a target becomes a link of one before the set is
    published; the refusal is the one a check against the inputs themselves gives, word for word."""
    inputs = _inputs(tmp_path / "in", 5)
    with OutputFolder(tmp_path / "out", inputs=inputs, overwrite=True) as out:
        out.plan("a")
        target = out.path / "a_table.csv"
        (os.link if link == "hard" else os.symlink)(inputs["input 3"], target)
        with out.staging("a") as staging:
            message = _refusal(lambda: out.publish("a", _stage(out, staging, "a"), {}))
    assert message == _refusal(lambda: check_not_input(target, inputs))
    assert f"The output {target} is the input 3 of this run ({inputs['input 3']})" in message
    assert (tmp_path / "in" / "im0003.tif").read_bytes() == b"image"  # the input is untouched
    assert not (tmp_path / "out" / "a_labels.tif").exists()


def test_inputs_added_or_changed_after_the_first_plan_are_checked(tmp_path):
    """add_inputs, and a change to the folder's inputs dict, make the index again: the next plan() refuses a
    target that is one of the new inputs, as before the index."""
    inputs = _inputs(tmp_path / "in", 3)
    with OutputFolder(tmp_path / "out", inputs=inputs) as out:
        out.plan("a")
        first = out.input_index()
        later = out.path / "b_labels.tif"
        later.write_bytes(b"made by another program")
        out.add_inputs({"late": later})
        assert out.input_index() is not first
        message = _refusal(lambda: out.plan("b"))
        assert message == (f"The output {later} is the late of this run ({later}); LabelFree never writes over its "
                           "inputs. Choose another output path.")
        other = out.path / "c_rois.zip"
        other.write_bytes(b"x")
        out.inputs["changed"] = InputRecord(other)
        assert f"The output {other} is the changed of this run" in _refusal(lambda: out.plan("c"))
        del out.inputs["changed"]
        other.unlink()
        assert set(out.plan("c")) == {"labels", "rois", "table", "provenance"}


def test_a_missing_input_that_appears_during_the_run_is_looked_at_again(tmp_path):
    """An input missing at the first check (compared by its path) that appears later as a link to the output
    folder is a folder input holding the targets: the next plan() refuses them, as a check against the inputs
    themselves does."""
    inputs = {**_inputs(tmp_path / "in", 3), "zoo": tmp_path / "zoo"}
    with OutputFolder(tmp_path / "out", inputs=inputs) as out:
        out.plan("a")
        (tmp_path / "zoo").symlink_to(out.path, target_is_directory=True)
        message = _refusal(lambda: out.plan("b"))
        assert message == _refusal(lambda: check_not_input(out.path / "b_labels.tif", inputs))
        assert "lies inside the zoo of this run" in message
