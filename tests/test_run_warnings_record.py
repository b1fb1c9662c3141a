"""A run from Python records the warnings it shows, as a command-line run does, and still shows them as Python
does (:func:`labelfree.run.run_pipeline`); a run repeated from its provenance says which software differs from the
recorded run's (:meth:`labelfree._reproduce.RecordedRun.software_changes`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import types
import warnings

import numpy as np
import pytest
import tifffile

from labelfree import _warning_hooks
from labelfree._reproduce import RecordedRun, software
from labelfree.cli import main
from labelfree.pipelines import get_pipeline
from labelfree.run import run_pipeline
from labelfree.threshold.segment import BackgroundObjectWarning


class RecordCheckWarning(UserWarning):
    """Raised by the fake pipeline of these tests."""


def _dark_cells() -> np.ndarray:
    """Dark disks on a bright field: Threshold's object is the background (a BackgroundObjectWarning)."""
    image = np.full((96, 96), 200, np.uint16)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in [(25, 25), (60, 70), (70, 30)]:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 100] = 20
    return image + np.random.default_rng(0).integers(0, 5, image.shape).astype(np.uint16)


def _blobs() -> np.ndarray:
    plane = np.zeros((64, 64), np.uint16)
    plane[10:20, 10:20] = plane[40:52, 30:44] = 1000
    return plane


@pytest.fixture
def fake(monkeypatch):
    """A Threshold spec whose segmentation warns as ``fake.warn(...)`` says, then thresholds."""
    module = types.ModuleType("_labelfree_record_fake")
    module.warn = lambda: None

    def segment(image, *, config, progress=False):
        module.warn()
        from labelfree.threshold import segment as threshold

        return threshold(image, config=config)

    module.segment = segment
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return types.SimpleNamespace(module=module, spec=dataclasses.replace(get_pipeline("threshold"),
                                                                          segment=f"{module.__name__}:segment"))


def _twice_and_another() -> None:
    for _ in range(2):  # one place: Python shows it once
        warnings.warn("said twice from one place", RecordCheckWarning, stacklevel=1)
    warnings.warn("another one", RecordCheckWarning, stacklevel=1)


# -- part 1: a Python run records its warnings ---------------------------------------------------------------------

def test_a_python_run_records_the_warnings_it_shows_and_they_reach_its_written_provenance(tmp_path):
    from labelfree.io import write_outputs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        labels = run_pipeline("threshold", _dark_cells())
    shown = [w for w in caught if issubclass(w.category, BackgroundObjectWarning)]
    assert len(shown) == 1  # still shown as Python shows it (here: caught by catch_warnings)
    text = f"BackgroundObjectWarning: {shown[0].message}"
    assert labels.attrs["labelfree"]["warnings"] == [text]
    assert list(labels.attrs["labelfree"])[-1] == "warnings"
    write_outputs(tmp_path / "out", labels, stem="dark")
    record = json.loads((tmp_path / "out" / "dark_provenance.json").read_text(encoding="utf-8"))
    assert record["warnings"] == [text]


def test_each_warning_is_recorded_once_sorted_and_again_in_a_second_run(fake):
    fake.module.warn = _twice_and_another
    for _ in range(2):  # the second run records them too, though the first showed them from the same places
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            labels = run_pipeline(fake.spec, _blobs())
        assert [str(w.message) for w in caught] == ["said twice from one place", "another one"]
        assert labels.attrs["labelfree"]["warnings"] == ["RecordCheckWarning: another one",
                                                         "RecordCheckWarning: said twice from one place"]


def test_the_callers_filters_apply_error_raises_and_ignore_records_nothing(fake):
    fake.module.warn = _twice_and_another
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RecordCheckWarning, match="said twice from one place"):
            run_pipeline(fake.spec, _blobs())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        labels = run_pipeline(fake.spec, _blobs())
    assert caught == [] and "warnings" not in labels.attrs["labelfree"]
    with warnings.catch_warnings(record=True) as caught:  # only one category ignored: the other is recorded
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", message="another")
        labels = run_pipeline(fake.spec, _blobs())
    assert [str(w.message) for w in caught] == ["said twice from one place"]
    assert labels.attrs["labelfree"]["warnings"] == ["RecordCheckWarning: said twice from one place"]
    assert _warning_hooks.sinks_in() == () and warnings.showwarning is not _warning_hooks._show


def test_a_warning_of_another_thread_is_shown_but_not_recorded(fake):
    def from_a_thread():
        warnings.warn("from the run's thread", RecordCheckWarning, stacklevel=1)
        worker = threading.Thread(target=lambda: warnings.warn("from another thread", RecordCheckWarning,
                                                               stacklevel=1))
        worker.start()
        worker.join()

    fake.module.warn = from_a_thread
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        labels = run_pipeline(fake.spec, _blobs())
    assert sorted(str(w.message) for w in caught) == ["from another thread", "from the run's thread"]
    assert labels.attrs["labelfree"]["warnings"] == ["RecordCheckWarning: from the run's thread"]


def test_a_batch_input_still_records_every_user_warning_whatever_the_filters(fake):
    from labelfree.batch.messages import input_messages

    fake.module.warn = _twice_and_another
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")  # a batch input records its UserWarnings all the same
            with input_messages("in/x.tif", show=False) as messages:
                labels = run_pipeline(fake.spec, _blobs())
        assert caught == []  # the input's capture takes them, as before
        assert messages == ["RecordCheckWarning: said twice from one place", "RecordCheckWarning: another one"]
        assert labels.attrs["labelfree"]["warnings"] == sorted(messages)


def test_the_command_line_record_is_the_commands_shown_warnings(tmp_path, capsys):
    image = tmp_path / "dark.tif"
    tifffile.imwrite(image, _dark_cells())
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert main(["threshold", str(image), "-o", str(tmp_path / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("labelfree: warning: In the image, one object covers 100% of the plane") == 1
    record = json.loads((tmp_path / "out" / "dark_provenance.json").read_text(encoding="utf-8"))
    assert len(record["warnings"]) == 1 and record["warnings"][0].startswith("BackgroundObjectWarning: In the image")


# -- part 2: a repeated run says what software differs -------------------------------------------------------------

def _software_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "labelfree._reproduce" and r.levelno == logging.WARNING]


def test_a_run_repeated_with_other_software_says_once_what_differs(caplog):
    record = run_pipeline("threshold", _blobs()).attrs["labelfree"]
    now = record["software"]
    old = {**record, "version": "0.0.1",
           "software": {**now, "numpy": "1.0.0", "git_commit": "0123456789abcdef0123456789abcdef01234567",
                        "torch": "0.1"}}  # torch: not a package Threshold uses
    caplog.set_level(logging.WARNING)
    labels = run_pipeline("threshold", _blobs(), config=old)
    (said,) = _software_warnings(caplog)
    assert said.startswith("The provenance record given as config= is the provenance of a run with other software "
                           "than this one (recorded -> now): LabelFree: 0.0.1 -> ")
    assert f"numpy: 1.0.0 -> {now['numpy']}" in said
    commit = f"git commit: 0123456789ab -> {now['git_commit'][:12]}" if now.get("git_commit") else \
        "git commit: 0123456789ab -> none"
    assert commit in said and "torch" not in said
    assert said.endswith("The results may differ from that run's; the same versions and settings repeat them.")
    assert np.array_equal(labels, run_pipeline("threshold", _blobs()))
    # the version is said in that one warning, not again by the config reader
    assert not [r for r in caplog.records if "is the provenance of a run of LabelFree" in r.getMessage()]


def test_the_same_software_or_an_old_record_without_software_says_nothing(caplog):
    record = run_pipeline("threshold", _blobs()).attrs["labelfree"]
    caplog.set_level(logging.WARNING)
    run_pipeline("threshold", _blobs(), config=record)
    run_pipeline("threshold", _blobs(), config={k: v for k, v in record.items() if k != "software"})
    assert _software_warnings(caplog) == []


def test_the_software_compared_follows_the_pipeline_and_the_recorded_threads():
    now = {"python": "3.12.0", "platform": "elsewhere", "numpy": "2.0.2", "scipy": "1.17.1",
           "scikit-image": "0.26.0", "tifffile": "2026.3.3", "torch": "2.13.0", "cellpose": "3.1.1",
           "opencv": "5.0.0", "env": {"OMP_NUM_THREADS": "4", "ATEN_CPU_CAPABILITY": "default"},
           "torch_cpu_capability": "DEFAULT"}
    then = {**now, "python": "3.11.7", "platform": "here", "tifffile": "2020.1.1", "torch": "2.1.0",
            "opencv": "4.9.0", "env": {"OMP_NUM_THREADS": "1"}, "torch_cpu_capability": "AVX2"}
    run = RecordedRun({"pipeline": "fusion", "version": "0.1.0", "config": {}, "software": then})
    assert run.software_changes(torch=False, now=now, version="0.1.0") == [
        "opencv: 4.9.0 -> 5.0.0", "OMP_NUM_THREADS: 1 -> 4"]
    assert run.software_changes(torch=True, now=now, version="0.1.0") == [
        "opencv: 4.9.0 -> 5.0.0", "torch: 2.1.0 -> 2.13.0", "torch_cpu_capability: AVX2 -> DEFAULT",
        "OMP_NUM_THREADS: 1 -> 4", "ATEN_CPU_CAPABILITY: none -> default"]
    threaded = RecordedRun({**run.record, "threads": 2})  # the run takes the recorded count: the settings don't count
    assert threaded.software_changes(torch=False, now=now, version="0.1.0", threads=2) == ["opencv: 4.9.0 -> 5.0.0"]
    assert threaded.software_changes(torch=False, now=now, version="0.1.0", threads=8) == [
        "opencv: 4.9.0 -> 5.0.0", "threads: 2 -> 8"]
    assert RecordedRun({**run.record, "software": now}).software_changes(torch=True, now=now, version="0.1.0") == []
    assert RecordedRun({k: v for k, v in run.record.items() if k != "software"}).software_changes(torch=True) == []
    assert RecordedRun({**run.record, "software": software()}).software_changes(
        torch=False, version=run.record["version"]) == []


def test_the_command_line_says_it_and_records_it_in_the_repeated_runs_provenance(tmp_path, caplog):
    image = tmp_path / "blobs.tif"
    tifffile.imwrite(image, _blobs())
    assert main(["threshold", str(image), "-o", str(tmp_path / "one"), "-q"]) == 0
    record = json.loads((tmp_path / "one" / "blobs_provenance.json").read_text(encoding="utf-8"))
    record["software"]["scipy"] = "0.9.0"
    for entry in ("outputs", "complete"):
        record.pop(entry, None)
    (tmp_path / "old_provenance.json").write_text(json.dumps(record), encoding="utf-8")
    caplog.set_level(logging.WARNING)
    assert main(["threshold", str(image), "--config", str(tmp_path / "old_provenance.json"),
                 "-o", str(tmp_path / "two"), "-q"]) == 0
    said = (f"Config file {tmp_path / 'old_provenance.json'} is the provenance of a run with other software than "
            f"this one (recorded -> now): scipy: 0.9.0 -> {software()['scipy']}. The results may differ from that "
            "run's; the same versions and settings repeat them.")
    assert _software_warnings(caplog) == [said]
    again = json.loads((tmp_path / "two" / "blobs_provenance.json").read_text(encoding="utf-8"))
    assert again["warnings"] == [said]  # the command records the warnings it showed
    assert np.array_equal(tifffile.imread(tmp_path / "two" / "blobs_labels.tif"),
                          tifffile.imread(tmp_path / "one" / "blobs_labels.tif"))
