"""labelfree._jit: compiled loops work where numba cannot keep a cache (read-only installs)."""

from __future__ import annotations

import subprocess
import sys

_NO_CACHE = """
import numba.core.caching as caching
caching.CacheImpl._locator_classes = []  # as where no folder can be written
import numpy as np
from labelfree import motion
from labelfree.motion import farneback
a = (np.random.default_rng(0).random((64, 80)) * 255).astype(np.uint8)
b = np.roll(a, 2, axis=1)
flow = motion.farneback_flow(a, b, config=motion.MotionConfig(flow_blur=0))
print("ok", flow.shape, float(np.median(flow[16:-16, 16:-16, 0])) > 1.5, motion.local_entropy(a).shape,
      farneback._poly_exp._cache.__class__.__name__)
"""


def test_the_motion_loops_compile_without_a_cache_where_none_can_be_written():
    out = subprocess.run([sys.executable, "-c", _NO_CACHE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok (64, 80, 2) True (64, 80) NullCache" in out.stdout


def test_njit_caches_where_it_can():
    from labelfree._jit import njit

    @njit
    def plus_one(x):
        return x + 1

    @njit(nogil=True)
    def twice(x):
        return 2 * x

    assert plus_one(1) == 2 and twice(3) == 6
    assert type(plus_one._cache).__name__ == "FunctionCache"
