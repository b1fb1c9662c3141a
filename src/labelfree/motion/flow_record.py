"""The flow speed of every frame as a Motion run computes it, kept for the run's flow output.

``labelfree motion movie.tif --flow`` writes the flow speed of every frame
(:func:`labelfree.motion.flow.write_flow_stack`). The run computed that flow already, pair by
pair; a :class:`FlowRecording` entered around the run keeps each pair's speed as the run
computes it (float32, one frame at a time, in an unnamed temporary file: no memory held), and the
writer writes those speeds instead of reading the movie and computing its flow a second time.
Nothing is kept unless a recording is entered, and it is kept only where the run's flow is the
flow :func:`labelfree.motion.flow.flow_magnitude_stack` measures on the movie as given (no drift
correction, no zero-filled edges filled in, no constant canvas left out, not enlarged, every frame
mapped to the same grey values); otherwise the writer computes it as before.
"""

from __future__ import annotations

import contextvars
import logging
import shutil
import tempfile
from typing import Any

import numpy as np
import xarray as xr

from labelfree._label_memory import memory_text
from labelfree.motion.config import MotionConfig

__all__ = ["FlowRecording", "claim_recording"]

log = logging.getLogger(__name__)

_ACTIVE: contextvars.ContextVar["FlowRecording | None"] = contextvars.ContextVar("labelfree_flow_recording",
                                                                                 default=None)


class FlowRecording:
    """Keeps the flow speed of every frame that the next Motion run (in this thread) computes.

    Use it as a context manager around the run, then hand it to the writer::

        with FlowRecording() as kept:
            labels = motion.segment(movie)
            write_flow_stack("flow.tif", movie, labels=labels, recorded=kept)

    The first :func:`labelfree.motion.segment` call inside the block claims it (a later call, or one
    nested in it, does not); the speeds go to an unnamed temporary file (``TMPDIR``), removed when the
    block ends. :meth:`speeds` gives them only when the run completed and its flow is the one
    :func:`labelfree.motion.flow.flow_magnitude_stack` computes for the movie and config given.
    """

    def __init__(self) -> None:
        self._token: contextvars.Token | None = None
        self._file: Any = None
        self.claimed = False
        self.complete = False
        self.shape: tuple[int, int, int] | None = None
        self.config: MotionConfig | None = None
        self.why_not = "no Motion run kept its flow"  #: why :meth:`speeds` gives nothing (for the log)
        self._dims: tuple = ()
        self._coords: Any = None
        self._next = 0

    def __enter__(self) -> "FlowRecording":
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        self.discard("the recording ended")

    def start(self, movie: xr.DataArray, config: MotionConfig, /) -> bool:
        """Begin keeping the speeds of the TYX ``movie`` that the run segments with ``config``; False (nothing
        kept) when the temporary folder has not room for them (the writer then computes them)."""
        n, h, w = (movie.sizes[d] for d in ("T", "Y", "X"))
        need = 4 * n * h * w
        folder = tempfile.gettempdir()
        free = shutil.disk_usage(folder).free
        if need > free // 2:
            self.why_not = (f"its {memory_text(need)} of flow speeds would not fit in {folder} "
                            f"({memory_text(free)} free)")
            return False
        self._file = tempfile.TemporaryFile(prefix="labelfree_flow_")
        self.shape, self.config, self._next = (n, h, w), config, 0
        self._dims, self._coords = movie.dims, movie.coords
        return True

    @property
    def keeping(self) -> bool:
        """Whether speeds are being kept (started, and not discarded since)."""
        return self._file is not None and not self.complete

    def add(self, t: int, speed: np.ndarray, /) -> None:
        """Keep the (Y, X) flow speed of the pair (t-1, t); frames come in order from t = 1 (frame 0 repeats
        frame 1's speed, as :func:`labelfree.motion.flow.flow_magnitude_stack` gives it)."""
        if not self.keeping:
            return
        expected = 1 if self._next == 0 else self._next
        if t != expected or self.shape is None or speed.shape != self.shape[1:]:
            self.discard(f"pair {t} came out of order or of another size")
            return
        data = np.ascontiguousarray(speed, dtype=np.float32).data
        try:
            for _ in range(2 if t == 1 else 1):
                self._file.write(data)
        except OSError as exc:  # a full temporary folder: the writer computes the flow as before
            self.discard(f"the temporary file could not be written ({exc})")
            return
        self._next = t + 1

    def finish(self) -> None:
        """Mark the speeds complete (every pair of the movie was kept)."""
        if self.keeping and self.shape is not None and self._next == self.shape[0]:
            self._file.flush()
            self.complete = True
        elif self.keeping:
            self.discard(f"only {self._next} of {self.shape and self.shape[0]} frames were kept")

    def discard(self, why: str) -> None:
        """Give up the speeds kept (the temporary file goes); ``why``: said in the log when the writer asks."""
        self.complete = False
        self.why_not = why
        if self._file is not None:
            self._file.close()
            self._file = None

    def speeds(self, movie: Any, /, *, config: MotionConfig | dict | None = None) -> xr.DataArray | None:
        """The kept speeds as a TYX float32 DataArray (memory-mapped, with the movie's coords), as
        :func:`labelfree.motion.flow.flow_magnitude_stack` gives them for ``movie`` and ``config``; None when
        the run kept none or kept those of another movie or config."""
        if not self.complete or self._file is None:
            log.info("Motion: the flow output computes the flow again: %s", self.why_not)
            return None
        size = tuple(movie.sizes[d] for d in ("T", "Y", "X") if d in movie.dims) if isinstance(movie, xr.DataArray) \
            else tuple(np.shape(movie))
        if size != self.shape or MotionConfig.coerce(config) != self.config:
            log.info("Motion: the flow output computes the flow again: the run segmented another movie or config")
            return None
        data = np.memmap(self._file, dtype=np.float32, mode="r", shape=self.shape)
        out = xr.DataArray(data, dims=self._dims, coords=self._coords, name="flow_magnitude")
        out.attrs["units"] = "pixel/frame"
        return out


def claim_recording() -> FlowRecording | None:
    """The :class:`FlowRecording` entered around this run, when no earlier run (or an enclosing one) claimed it;
    None otherwise (nothing is kept)."""
    kept = _ACTIVE.get()
    if kept is None or kept.claimed:
        return None
    kept.claimed = True
    return kept
