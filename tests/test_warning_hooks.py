"""One hook for the warnings that tiles and batch inputs record (:mod:`labelfree._warning_hooks`): a thread with a
sink open gives it all its warnings, a thread without one sees its warnings exactly as without LabelFree (its
filters, Python's once-per-place registry, ``error``), and a tiled run inside a batch input says its merged
warning to that input, also when another thread records tiles at the same time."""

from __future__ import annotations

import logging
import threading
import warnings

import numpy as np
import pytest

from labelfree import _tile_warnings, _warning_hooks
from labelfree.batch.messages import current_messages, input_messages
from labelfree.tiling import segment_tiled


@pytest.fixture(autouse=True)
def _earlier_garbage_collected():
    """These tests record every warning of their threads: an object an earlier test of the process left behind may
    warn when the collector takes it (an unclosed file's ResourceWarning), in whichever thread runs then."""
    import gc

    gc.collect()


class HookCheckWarning(UserWarning):
    """Raised by the tiles and threads of these tests."""


def _warn_twice() -> None:
    """The same warning twice from one place (a loop): Python's default filter shows it once."""
    for _ in range(2):
        warnings.warn("said twice from one place", HookCheckWarning, stacklevel=1)


def _warn_mean(region: np.ndarray) -> np.ndarray:
    warnings.warn(HookCheckWarning(f"mean {float(region.mean()):.1f}"), stacklevel=2)
    return np.zeros(region.shape[-2:], np.uint8)


class _HeldTile:
    """A segment function whose first tile waits (recording its warning) until released: another thread's tiles
    record while the test does something else."""

    def __init__(self) -> None:
        self.recording, self.release = threading.Event(), threading.Event()
        self.result = None

    def __call__(self, region: np.ndarray) -> np.ndarray:
        warnings.warn("raised by the held tile", HookCheckWarning, stacklevel=2)
        self.recording.set()
        assert self.release.wait(timeout=30)
        return np.zeros(region.shape, np.uint8)

    def run(self) -> None:
        self.result = segment_tiled(np.zeros((40, 40), np.float32), self, tile=40, overlap=0, warn=False)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run)
        thread.start()
        assert self.recording.wait(timeout=30)
        return thread


def _machinery():
    """The display and LabelFree's filters (those a module imported meanwhile adds, as scipy.special does, are
    not LabelFree's)."""
    return warnings.showwarning, [f for f in warnings.filters if type(f[1]).__module__.startswith("labelfree")]


def _in_thread(target) -> None:
    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)


@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_a_thread_without_sink_shows_a_warning_once_per_place_while_another_records_tiles(where):
    """The tiles' "always" filter was process-wide: a thread that records nothing showed both warnings of one
    place."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        before = _machinery()
        held = _HeldTile()
        thread = held.start()
        try:
            _warn_twice() if where == "main thread" else _in_thread(_warn_twice)
        finally:
            held.release.set()
            thread.join(timeout=30)
        assert _machinery() == before
    assert [str(w.message) for w in caught] == ["said twice from one place"]  # was 2
    assert [(r.category, r.message) for r in held.result.warnings] == [(HookCheckWarning, "raised by the held tile")]


def test_an_error_filter_of_a_thread_without_sink_applies_while_another_records_tiles():
    with warnings.catch_warnings():
        warnings.simplefilter("error", HookCheckWarning)
        held = _HeldTile()
        thread = held.start()
        try:
            with pytest.raises(HookCheckWarning, match="said twice"):  # was shown instead of raised
                _warn_twice()
        finally:
            held.release.set()
            thread.join(timeout=30)
    assert [r.message for r in held.result.warnings] == ["raised by the held tile"]  # the tile's: recorded


def test_the_main_thread_keeps_its_filters_while_an_input_is_processed_in_another_thread():
    """The batch's "always" UserWarning filter was process-wide: the main thread (no input's) showed both."""
    opened, done = threading.Event(), threading.Event()
    found: list[str] = []

    def work() -> None:
        with input_messages("a.tif", show=False) as messages:
            warnings.warn("raised for a.tif", HookCheckWarning, stacklevel=1)
            opened.set()
            assert done.wait(timeout=30)
        found.extend(messages)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        before = _machinery()
        thread = threading.Thread(target=work)
        thread.start()
        try:
            assert opened.wait(timeout=30)
            _warn_twice()
        finally:
            done.set()
            thread.join(timeout=30)
        assert _machinery() == before
    assert [str(w.message) for w in caught] == ["said twice from one place"]  # was 2
    assert found == ["HookCheckWarning: raised for a.tif"]


@pytest.mark.parametrize("client", [None, "threads"])
def test_a_tiled_run_inside_an_input_says_its_merged_warning_to_the_input_while_another_thread_records(client,
                                                                                                    caplog):
    """Another thread's tiles recorded when the input began: the input's hook then went over the tiles' one and
    took each tile's warning itself, one line per tile and no tiled-run summary."""
    img = np.arange(80 * 80, dtype=np.float32).reshape(80, 80)
    summary = (f"HookCheckWarning: mean {img[0:48, 0:48].mean():.1f} (tiled run: in 4 of 4 tiles, the pixels "
               "y0:y1, x0:x1 0:48, 0:48; 0:48, 32:80; 32:80, 0:48; ...; the figures are the first tile's)")
    found: dict[str, list[str]] = {}

    def work() -> None:
        with input_messages("in/a.tif") as messages:
            segment_tiled(img, _warn_mean, tile=40, overlap=8, client=client)
            found["during"] = current_messages()
        found["after"] = list(messages)

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("default")
        before = _machinery()
        held = _HeldTile()
        other = held.start()
        try:
            thread = threading.Thread(target=work)
            thread.start()
            thread.join(timeout=60)
        finally:
            held.release.set()
            other.join(timeout=30)
        assert _machinery() == before
    assert found == {"during": [summary], "after": [summary]}
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("labelfree") and r.levelno >= logging.WARNING]
    assert lines == [f"in/a.tif: {summary}"]  # once, named
    assert caught == []  # the tiles' warnings are the input's and its tiled run's, none shown unnamed
    assert [r.message for r in held.result.warnings] == ["raised by the held tile"]


def test_a_worker_thread_of_the_only_input_running_gives_it_its_warnings_each_time():
    """A pipeline's own worker thread (no sink) warns for the one input running: the input gets it, for each input
    (not once per place); while two inputs run, such a thread shows its warnings as without a batch run."""

    def worker() -> None:
        warnings.warn("from a worker thread", HookCheckWarning, stacklevel=1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        firsts = []
        for name in ("a.tif", "b.tif"):
            with input_messages(name, show=False) as messages:
                _in_thread(worker)
            firsts.append(list(messages))
        assert caught == []
        assert firsts == [["HookCheckWarning: from a worker thread"]] * 2

        second_open, done = threading.Event(), threading.Event()

        def other_input() -> None:
            with input_messages("c.tif", show=False):
                second_open.set()
                assert done.wait(timeout=30)

        other = threading.Thread(target=other_input)
        with input_messages("d.tif", show=False) as messages:
            other.start()
            assert second_open.wait(timeout=30)
            _in_thread(worker)
            _in_thread(worker)
            done.set()
            other.join(timeout=30)
        assert messages == []
    assert [str(w.message) for w in caught] == ["from a worker thread"]  # as without LabelFree: once per place


def test_sinks_nest_per_thread_and_the_machinery_is_put_back():
    """The innermost sink of a thread gets its warnings; a tile's record of a warning that the filters ignore."""
    received: list[tuple[str, str]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        before = _machinery()
        with _warning_hooks.sink(lambda m, c, f, n: received.append(("outer", str(m))), always=UserWarning):
            warnings.warn("to the outer sink", HookCheckWarning, stacklevel=1)
            warnings.warn("ignored: not always", DeprecationWarning, stacklevel=1)
            with _tile_warnings.recording() as records:
                for _ in range(3):
                    warnings.warn("to the tile", DeprecationWarning, stacklevel=1)
            assert _warning_hooks.sinks_in()[0] is not None and len(_warning_hooks.sinks_in()) == 1
        assert _machinery() == before
        assert _warning_hooks.sinks_in() == ()
    assert received == [("outer", "to the outer sink")]
    assert [(r.category, r.message) for r in records] == [(DeprecationWarning, "to the tile")]
    assert caught == []


def test_a_warning_shown_before_an_input_began_is_the_inputs_when_raised_again():
    """Python skips a warning its once-per-place registry has shown before it asks any filter: an input forgets
    those, so the summary of an input does not lack a warning the session showed earlier."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        _warn_twice()
        with input_messages("a.tif", show=False) as messages:
            _warn_twice()
        _warn_twice()  # shown again: the registry forgot it, as at any change of the filters
    assert messages == ["HookCheckWarning: said twice from one place"]
    assert [str(w.message) for w in caught] == ["said twice from one place"] * 2


def test_a_handler_of_the_labelfree_logger_sees_the_named_line_and_stays():
    logger = logging.getLogger("labelfree")
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        before = (list(logger.handlers), logger.propagate)
        with warnings.catch_warnings(record=True):
            with input_messages("in/a.tif"):
                warnings.warn("raised for a.tif", HookCheckWarning, stacklevel=1)
                logging.getLogger("labelfree.image").warning("logged for a.tif")
        assert (list(logger.handlers), logger.propagate) == before
    finally:
        logger.removeHandler(handler)
    assert seen == ["in/a.tif: HookCheckWarning: raised for a.tif", "in/a.tif: logged for a.tif"]
