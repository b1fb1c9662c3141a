"""The per-frame work of Motion that needs no earlier result, computed ahead in worker threads.

For each frame t, ``segment`` needs the frame as uint8, its local entropy and static
features, and the optical flow of the pair (t-1, t) with its speed. None of these
depends on an earlier frame's classification, so :func:`frame_stream` computes them
for a few frames ahead in a thread pool (OpenCV and NumPy release the GIL) while the
caller uses them in order (and may put its own per-frame work on the same threads,
:meth:`FrameStream.run`). The results are the same arrays as a serial run's, whatever
the number of threads; at most ``workers + 1`` frames are in flight, which bounds the
memory.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

import numpy as np
import xarray as xr

from labelfree._threads import opencv_threads
from labelfree.motion.config import MotionConfig
from labelfree.motion.features import compute_features, local_entropy
from labelfree.motion.farneback import BufferPool
from labelfree.motion.flow import _flow, _flow_input, flow_magnitude, frame_high, motion_uint8
from labelfree.motion.movie import _frame

__all__ = ["FrameWork", "FrameStream", "frame_stream"]


@dataclasses.dataclass
class FrameWork:
    """What ``segment`` needs of frame ``t`` before classifying it.

    ``features``, ``flow`` and ``magnitude`` are None for frame 0 (no pair ends there);
    ``flow`` is the (Y, X, 2) flow of the pair (t-1, t) on frame t's grid; ``hot_pixels``, how many
    hot or cold pixels of the uint8 frame were repaired (:func:`labelfree.motion.repair_hot_pixels`).
    """

    t: int
    frame: np.ndarray
    entropy: np.ndarray
    features: np.ndarray | None = None
    flow: np.ndarray | None = None
    magnitude: np.ndarray | None = None
    hot_pixels: int = 0


class FrameStream:
    """The :class:`FrameWork` of frames 0..T-1 in order; :meth:`run` puts more per-frame work
    on the same threads (``segment`` classifies and cleans up frames there once nothing
    depends on an earlier frame's result)."""

    def __init__(self, items: Iterator[FrameWork], pool: ThreadPoolExecutor | None) -> None:
        self._items = items
        self._pool = pool

    def __iter__(self) -> "FrameStream":
        return self

    def __next__(self) -> FrameWork:
        return next(self._items)

    @property
    def threaded(self) -> bool:
        """Whether frames are computed ahead on worker threads (more than one worker)."""
        return self._pool is not None

    def run(self, fn: Callable, /, *args) -> Future:
        """``fn(*args)`` on a worker thread (a :attr:`threaded` stream only)."""
        if self._pool is None:
            raise RuntimeError("FrameStream.run needs worker threads; this stream computes frames when asked.")
        return self._pool.submit(fn, *args)


def _opencv_threads(n: int) -> contextlib.AbstractContextManager[None]:
    """OpenCV's pool at ``n`` threads for a block; the user's count comes back when the last such block of the
    process ends, also when Motion runs on several threads at once (:func:`labelfree._threads.opencv_threads`)."""
    return opencv_threads(n)


@contextlib.contextmanager
def frame_stream(
    da: xr.DataArray,
    cfg: MotionConfig,
    /,
    *,
    low: float,
    high: float | Sequence[float],
    workers: int = 1,
    flows: dict[int, np.ndarray] | None = None,
) -> Iterator[FrameStream]:
    """Yield a :class:`FrameStream`: the :class:`FrameWork` of frames 0..T-1 of ``da``, in order.

    Parameters
    ----------
    da : TYX DataArray
        The movie (``labelfree.motion.as_movie``).
    cfg : MotionConfig
        Its flow settings are those of every pair's flow.
    low, high : float
        The movie's uint8 range (:func:`labelfree.motion.uint8_range`); ``high`` may be one value per
        frame (a frame of another exposure: :func:`labelfree.motion.flow.exposure_gains`).
    workers : int
        Threads computing frames ahead; 1 computes each frame when it is asked for.
        With more, OpenCV's own pool is set to one thread meanwhile (the frames are
        the parallel work) and at most ``workers + 1`` frames are in flight.
    flows : dict, optional
        Flows already computed, by pair (its frame t), used instead of computing them.
    """
    n = da.sizes["T"]
    flows = dict(flows or {})
    cached = frozenset(flows)
    buffers = BufferPool()  # the frames' expansions, reused
    black = None
    if cfg.flow_reference != "previous":  # every pair's reference is the same black frame
        black = _flow_input(np.zeros((da.sizes["Y"], da.sizes["X"]), np.uint8), cfg, buffers)
    prepared: dict[int, Future] = {}  # frame t as the flow sees it (blurred, binned), for pairs t and t+1

    def work(t: int, raw: np.ndarray) -> FrameWork:
        cur, hot = motion_uint8(raw, low=low, high=frame_high(high, t))
        ready = prepared[t]
        try:  # the next pair's task may be waiting for this frame
            needed = (0 < t and t not in cached) or (black is None and t + 1 < n and t + 1 not in cached)
            ready.set_result(_flow_input(cur, cfg, buffers) if needed else None)
        except BaseException as exc:
            ready.set_exception(exc)
            raise
        ent = local_entropy(cur, size=cfg.entropy_size, bins=cfg.entropy_bins)
        item = FrameWork(t, cur, ent, hot_pixels=hot)
        if t == 0:
            return item
        item.features = compute_features(cur, config=cfg, cache={"entropy": ent})
        if t in flows:
            item.flow = flows.pop(t)
        else:  # frame t's grid; frame t-1 was submitted first, so its task is running or done
            ref = black if black is not None else prepared[t - 1].result()
            item.flow = _flow(ready.result(), ref, cur.shape, cfg)
        item.magnitude = flow_magnitude(item.flow)
        return item

    def submit(t: int, run: Callable) -> Future:
        prepared[t] = Future()
        prepared[t].set_running_or_notify_cancel()
        return run(work, t, _frame(da, t))  # frames are read here, in the calling thread

    def serial() -> Iterator[FrameWork]:
        for t in range(n):
            item = submit(t, lambda f, *args: f(*args))
            prepared.pop(t - 1, None)
            yield item
            del item  # not held while the next frame is computed: its features and flow are the caller's

    def parallel(pool: ThreadPoolExecutor) -> Iterator[FrameWork]:
        window: collections.deque[Future] = collections.deque()
        ahead = 0
        for t in range(n):
            while ahead < n and ahead <= t + workers:
                window.append(submit(ahead, pool.submit))
                ahead += 1
            item = window.popleft().result()
            prepared.pop(t - 1, None)
            yield item
            del item

    if workers <= 1:
        yield FrameStream(serial(), None)
        return
    with _opencv_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="labelfree-motion") as pool:
        try:
            yield FrameStream(parallel(pool), pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
