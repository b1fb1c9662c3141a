"""A network's run depends on the thread count it records, not on the environment it runs in.

``OMP_NUM_THREADS`` sets the thread count of every BLAS library (NumPy's, SciPy's, OpenCV's OpenBLAS) when it is
loaded; a Cutter or Fusion run (``limited_threads(torch=True)``) keeps them on one thread for its duration, so a run
repeated from its provenance record in another shell does the same sums. Each check runs in a fresh process, as
the variable is read when the libraries load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("threadpoolctl")

#: prints the BLAS and torch thread counts before, inside and after a network's run of 2 threads
_POOLS = """
import json
import cv2, numpy, scipy.linalg, torch
from threadpoolctl import threadpool_info
from labelfree._threads import limited_threads

def pools():
    return {"blas": sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}),
            "torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()}

before = pools()
with limited_threads(2, torch=True):
    inside = pools()
after = pools()
print(json.dumps({"before": before, "inside": inside, "after": after}))
"""

#: a seeded Cutter training of a few steps on a tiny synthetic image of three cells, at 2 threads; saves the labels
_CUTTER = """
import sys
import numpy as np
from labelfree._threads import limited_threads
from labelfree.cutter import segment

rng = np.random.default_rng(3)
yy, xx = np.mgrid[:96, :96]
image = np.zeros((96, 96), np.float32)
markers = [(24, 26), (60, 30), (44, 70)]
for y, x in markers:
    image += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 9.0 ** 2))
image += rng.normal(0, 0.05, image.shape).astype(np.float32)
config = {"n_steps": 3, "stop_at_plateau": False, "crop_size": 32, "area_size": 64, "width": 4, "downscale": 1.0,
          "marker_sigma": 8.0, "seed": 0}
with limited_threads(2, torch=True):
    labels = segment(image, markers=np.array(markers), config=config)
np.save(sys.argv[1], np.asarray(labels))
"""


def _run(code: str, omp: str | None, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                            "OPENBLAS_NUM_THREADS", "LABELFREE_THREADS")}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_network_run_keeps_blas_on_one_thread_whatever_omp_num_threads():
    pools = json.loads(_run(_POOLS, "2").strip().splitlines()[-1])
    if pools["before"]["blas"] != [2]:  # OpenBLAS takes the variable's count, capped at the cores
        pytest.skip(f"OpenBLAS started on {pools['before']['blas']} thread(s), not 2 (one core?)")
    assert pools["inside"] == {"blas": [1], "torch": 2, "opencv": 2}
    assert pools["after"] == pools["before"]  # the counts the process had come back


def test_blas_threads_nest_and_restore_each_library():
    from threadpoolctl import threadpool_info

    from labelfree._threads import blas_threads

    def counts():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = counts()
    if not before:
        pytest.skip("no BLAS library is loaded in this process")
    with blas_threads(1):
        assert set(counts()) == {1}
        with blas_threads(2):
            assert set(counts()) == {2}
        assert set(counts()) == {1}  # the outer block's count while it is still held
    assert counts() == before


def test_cutter_run_gives_the_same_labels_under_two_environments(tmp_path):
    one, three = tmp_path / "omp1.npy", tmp_path / "omp3.npy"
    _run(_CUTTER, "1", str(one))
    _run(_CUTTER, "3", str(three))
    a, b = np.load(one), np.load(three)
    assert a.shape == (96, 96)
    assert set(np.unique(a)) == {0, 1, 2, 3}  # three cells were found: the comparison is not of empty images
    np.testing.assert_array_equal(a, b)
