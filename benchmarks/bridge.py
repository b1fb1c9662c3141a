"""Speed of the ImageJ bridge: pixel transfer and ROI Manager filling.

Run (needs Java, ij.jar and a display)::

    xvfb-run -a python benchmarks/bridge.py

Prints two tables:

1. ImagePlus -> numpy and numpy -> ImagePlus for a 512 x 512 x 200 16-bit stack,
   as a fraction of a plain numpy copy of the same 100 MiB measured in the same run
   (target >= 0.25);
2. 5,000 ROIs over 50 frames into a visible ROI Manager (target <= 5 s), split into
   outline tracing (numpy), Java ROI creation and adding, with the naive way
   (``rm.addRoi`` on the visible list) as reference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def bench_transfer(repeat: int) -> list[tuple[str, float, float, float]]:
    """Interleaved rounds (copy, to ImageJ, from ImageJ) so that CPU contention hits all alike."""
    import gc
    import statistics

    import labelfree.imagej as lij
    from labelfree.image import to_dataarray

    stack = np.random.default_rng(0).integers(0, 65535, (200, 512, 512), dtype=np.uint16)
    da = to_dataarray(stack, dims="ZYX")
    imp = lij.xarray_to_imageplus(da)
    assert np.array_equal(lij.imageplus_to_xarray(imp).values, stack)
    times: dict[str, list[float]] = {"copy": [], "to": [], "from": []}
    for _ in range(repeat):
        for key, fn in (("copy", stack.copy), ("to", lambda: lij.xarray_to_imageplus(da)),
                        ("from", lambda: lij.imageplus_to_xarray(imp))):
            gc.collect()
            t0 = time.perf_counter()
            result = fn()
            times[key].append(time.perf_counter() - t0)
            del result
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    return [
        ("numpy copy (reference)", med["copy"], 1.0, 1.0),
        ("numpy -> ImagePlus", med["to"], med["copy"] / med["to"], best["copy"] / best["to"]),
        ("ImagePlus -> numpy", med["from"], med["copy"] / med["from"], best["copy"] / best["from"]),
    ]


def _roi_labels(n_frames: int = 50, per_frame: int = 100) -> np.ndarray:
    """TYX labels: a 10 x 10 grid of discs (radius 9) per frame, shifted a little per frame."""
    yy, xx = np.mgrid[:512, :512]
    out = np.zeros((n_frames, 512, 512), np.uint16)
    side = int(np.sqrt(per_frame))
    for t in range(n_frames):
        for i in range(per_frame):
            cy, cx = 25 + 50 * (i // side) + t % 5, 25 + 50 * (i % side) + t % 3
            out[t][(yy - cy) ** 2 + (xx - cx) ** 2 <= 81] = i + 1
    return out


def bench_rois(repeat: int) -> list[tuple[str, float, int]]:
    """Median of ``repeat`` rounds for each step; the manager stays visible."""
    import statistics

    import jpype
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.image import to_dataarray
    from labelfree.imagej.rois import labels_to_javarois
    from labelfree.labels import label_contours

    @jpype.JImplements("java.lang.Runnable")
    class Job:
        def __init__(self, work):
            self.work = work

        @jpype.JOverride
        def run(self):
            self.work()

    queue = jimport("java.awt.EventQueue")

    def on_edt(work):
        """Run ``work()`` on the event thread, as ``labels_to_roimanager`` changes a shown manager."""
        queue.invokeAndWait(Job(work))

    labels = to_dataarray(_roi_labels(), dims="TYX")
    rm = jimport("ij.plugin.frame.RoiManager").getRoiManager()
    on_edt(rm.reset)
    rm.setVisible(True)
    labels_to_javarois(labels.isel(T=slice(0, 1)))  # warm-up: JPype resolves the overloads once
    times: dict[str, list[float]] = {"trace": [], "build": [], "total": [], "naive": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in range(labels.sizes["T"]):
            label_contours(np.asarray(labels.values[t]))
        times["trace"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rois = labels_to_javarois(labels)
        times["build"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = lij.labels_to_roimanager(labels, rm=rm, replace=True)
        times["total"].append(time.perf_counter() - t0)
        assert n == 5000 and rm.getCount() == 5000
        on_edt(rm.reset)
        t0 = time.perf_counter()
        on_edt(lambda: [rm.addRoi(roi) for roi in rois])
        times["naive"].append(time.perf_counter() - t0)
        on_edt(rm.reset)
    med = {k: statistics.median(v) for k, v in times.items()}
    return [
        ("trace outlines (numpy)", med["trace"], 5000),
        ("trace + make Java ROIs (name, position, group, property)", med["build"], 5000),
        ("labels_to_roimanager total, visible manager (target <= 5 s)", med["total"], 5000),
        ("reference: rm.addRoi of ready ROIs, one by one on the event thread (add only)", med["naive"], 5000),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import labelfree.imagej as lij

    session = lij.start(headless=False)
    print(f"ImageJ {session.imagej_version}, Java {session.java_version}")
    print(f"\n| transfer 512x512x200 uint16 (100 MiB), {args.repeat} interleaved rounds | median s "
          "| fraction of copy speed (medians) | (best rounds) |")
    print("|---|---|---|---|")
    for name, seconds, ratio, best in bench_transfer(args.repeat):
        print(f"| {name} | {seconds:.3f} | {ratio:.2f} | {best:.2f} |")
    n_roi_rounds = max(1, min(3, args.repeat))
    print(f"\n| 5,000 ROIs over 50 frames, median of {n_roi_rounds} rounds | s | ROIs |")
    print("|---|---|---|")
    for name, seconds, n in bench_rois(n_roi_rounds):
        print(f"| {name} | {seconds:.2f} | {n} |")


if __name__ == "__main__":
    main()
