"""The up-front check that no output of a batch run is an input looks at each input once (linear in the
number of inputs), and refuses exactly what it refused before."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.errors import InputOverwriteError


class _TooMany(Exception):
    """Raised by the counting wrappers once a run's setup looked at the file system more than its budget."""


class _SetupDone(Exception):
    """Stops run_batch after its up-front checks (no segmentation)."""


def _count_looks(monkeypatch, budget: int) -> list[int]:
    """Count os.stat and os.path.realpath calls (Path.is_dir, samefile and resolve go through them)."""
    calls = [0]
    real_stat, real_realpath = os.stat, os.path.realpath

    def stat(*args, **kwargs):
        calls[0] += 1
        if calls[0] == budget + 1:  # once: the test fails fast, and its report can still look at files
            raise _TooMany(f"more than {budget} looks at the file system")
        return real_stat(*args, **kwargs)

    def realpath(*args, **kwargs):
        calls[0] += 1
        if calls[0] == budget + 1:  # once: the test fails fast, and its report can still look at files
            raise _TooMany(f"more than {budget} looks at the file system")
        return real_realpath(*args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os.path, "realpath", realpath)
    return calls


def test_batch_setup_looks_at_each_input_a_bounded_number_of_times(tmp_path, monkeypatch):
    """200 inputs: the checks that no output is an input make O(N) file-system calls, not O(N^2) (before:
    8 outputs x 200 inputs x 5 calls for each of the 200 inputs, about 1.6 million)."""
    from labelfree.batch import run_batch, runner

    n = 200
    images = tmp_path / "images"
    images.mkdir()
    img = np.zeros((8, 8), np.uint16)
    img[2:5, 2:5] = 100
    for i in range(n):
        tifffile.imwrite(images / f"im{i:03d}.tif", img)

    checked = []

    def stop(items, *args, **kwargs):  # reached after every output of every input was checked
        checked.append(len(items))
        raise _SetupDone

    monkeypatch.setattr(runner, "input_places", stop)
    budget = 150 * n
    calls = _count_looks(monkeypatch, budget)
    with pytest.raises(_SetupDone):  # the old setup: _TooMany
        run_batch(images, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False)
    assert checked == [n]
    assert calls[0] <= budget
    print("file-system calls for", n, "inputs:", calls[0])
    assert not list((tmp_path / "out").glob("*.tif"))  # nothing written


def test_check_item_index_refuses_an_output_that_is_an_input(tmp_path):
    """The index gives the same refusal, with the same text, as a check against the inputs themselves."""
    from types import SimpleNamespace

    from labelfree.batch.runner import _check_item
    from labelfree.io.outputs import InputIndex

    out = tmp_path / "out"
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"x")
    inputs = {f"input {i}": tmp_path / f"in{i}.tif" for i in range(50)}
    inputs["input 50"] = out / "a_labels.tif"
    folder = SimpleNamespace(path=out, inputs=inputs)
    index = InputIndex(inputs)
    with pytest.raises(InputOverwriteError) as err:
        _check_item(folder, SimpleNamespace(stem="a"), index=index)
    assert str(err.value) == (
        f"The output {out / 'a_labels.tif'} is the input 50 of this run ({out / 'a_labels.tif'}); LabelFree never "
        "writes over its inputs. Choose another output path."
    )
    _check_item(folder, SimpleNamespace(stem="b"), index=index)  # no output of b is an input


def _message(target: Path, inputs, index: bool) -> str | None:
    from labelfree.io.outputs import check_not_input

    if index:  # without it: the same answers (this test passes on the code before the index too)
        from labelfree.io.outputs import InputIndex

        inputs = InputIndex(inputs)
    try:
        check_not_input(target, inputs)
    except InputOverwriteError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("index", [False, True])
def test_first_input_named_same_file_before_folder(tmp_path, index):
    """The first input (in the order given) that the target is, or lies in, is named; for one input that is
    both (a folder given as output) 'is the input' wins; links, hard links and spellings with .. are seen."""
    zarr = tmp_path / "plate.zarr"
    (zarr / "A").mkdir(parents=True)
    link = tmp_path / "link.zarr"
    link.symlink_to(zarr, target_is_directory=True)
    f = tmp_path / "f.tif"
    f.write_bytes(b"x")
    hard = tmp_path / "hard.tif"
    os.link(f, hard)
    missing = tmp_path / "gone.tif"

    target = zarr / "A" / "x_labels.tif"
    msg = _message(target, {"other": f, "store": link, "again": zarr}, index)
    assert msg == (f"The output {target} lies inside the store of this run ({link}, a folder); LabelFree never "
                   "writes into its inputs. Choose an output path outside it.")
    msg = _message(target, {"inner": zarr / "A" / "x_labels.tif", "store": zarr}, index)
    assert msg is not None and msg.startswith(f"The output {target} is the inner of this run")  # named as given
    msg = _message(zarr, {"store": link}, index)
    assert msg is not None and msg.startswith(f"The output {zarr} is the store of this run")
    msg = _message(hard, {"a": missing, "b": f}, index)
    assert msg is not None and msg.startswith(f"The output {hard} is the b of this run ({f})")
    spelt = tmp_path / "x" / ".." / "gone.tif"
    msg = _message(spelt, [f, tmp_path / "gone.tif"], index)
    assert msg is not None and msg.startswith(f"The output {spelt} is the input1 of this run")
    assert _message(tmp_path / "new.tif", [f, zarr, missing], index) is None
    assert _message(tmp_path / "new.tif", [], index) is None
