"""One progress from 0 to the number of frames when Motion restarts enlarged for small cells (automatic upsample)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from labelfree import motion


@pytest.fixture(scope="module")
def blank_then_c2c12(shared_data):
    """A blank frame, then 4 frames of the real C2C12 movie (cell radius about 8 px, segmented enlarged 2 x 2).

    The blank frame 0 is reported done before frame 1, the first classified frame, measures the cells and
    restarts the run enlarged: the first pass has reported a frame when the second starts."""
    path = shared_data / "misc" / "laptrack_c2c12" / "data_small.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with np.load(path) as data:
        frames = np.asarray(data["images"])[:4]
    return np.concatenate([np.zeros_like(frames[:1]), frames])


def _segment(movie, progress):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the blank frame's BlankFrameWarning
        return motion.segment(movie, progress=progress)


def test_a_callback_sees_each_frame_once_when_the_run_restarts_enlarged(blank_then_c2c12):
    """Before, the callback saw (1, 5) twice: the first pass's frame, then the enlarged pass from 1 again."""
    calls = []
    labels = _segment(blank_then_c2c12, lambda done, total, message: calls.append((done, total, message)))
    assert labels.attrs["labelfree"]["auto"]["upsample"] == 2  # the run did restart enlarged
    assert [(done, total) for done, total, _ in calls] == [(t, 5) for t in range(1, 6)]
    assert calls[0][2] == "frame 1/5"  # reported by the first pass
    assert [m for _, _, m in calls[1:]] == [f"frame {t}/5 (enlarged 2 x 2)" for t in range(2, 6)]
    assert [len(np.unique(f)) - 1 for f in labels.values] == [0, 12, 12, 10, 11]  # the labels of a run without


class _Bar:
    """A tqdm-like bar class: how many were made, and each one's count."""

    made: list["_Bar"] = []

    def __init__(self, total=None, desc="", leave=True):
        self.total, self.n, self.closed = total, 0, False
        _Bar.made.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def close(self):
        self.closed = True


def test_one_bar_is_filled_to_its_total_when_the_run_restarts_enlarged(blank_then_c2c12):
    """Before, a bar class made two bars (one left at 1 of 5, then a full one), and a bar given was filled to
    6 of 5."""
    _Bar.made = []
    _segment(blank_then_c2c12, _Bar)
    assert [(b.total, b.n, b.closed) for b in _Bar.made] == [(5, 5, True)]
    assert _Bar.made[0].postfix == "frame 5/5 (enlarged 2 x 2)"
    given = _Bar(total=5)
    _segment(blank_then_c2c12, given)
    assert (given.n, given.total, given.closed) == (5, 5, False)  # a bar the user made is left open


def test_cancelling_while_the_enlarged_pass_repeats_reported_frames(blank_then_c2c12):
    """The frame the first pass reported is not reported again, but a cancel asked meanwhile (here: when the
    enlarged pass starts) stops the run at that frame, not one frame later."""
    import logging

    from labelfree.errors import Cancelled

    class Button:
        cancelled = False

        def __init__(self):
            self.n = 0

        def update(self, n):
            self.n += n

    class ClickOnRestart(logging.Handler):
        def emit(self, record):
            if "segmenting the movie enlarged" in record.getMessage():
                button.cancelled = True

    button, handler = Button(), ClickOnRestart(level=logging.INFO)
    logger = logging.getLogger("labelfree.motion.segment")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(Cancelled, match="Cancelled by the user"):
            _segment(blank_then_c2c12, button)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert button.cancelled and button.n == 1  # frame 1 of the first pass only
