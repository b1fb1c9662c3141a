"""Every LabelFree warning names the line of the Python caller's call, however deep in the package it is given.

The warnings were given with a fixed ``stacklevel`` counted from the pipeline's own ``segment()``: called through
:func:`labelfree.run.run_pipeline`, a tiled run, :func:`labelfree.io.write_labels` or Cutter's ``prepare``, they
named a line of LabelFree instead (``labelfree/run.py`` line 292 or 237, ``labelfree/tiling.py`` line 920,
``labelfree/io/labels_tiff.py`` line 180, ``labelfree/cutter/segment.py`` line 322 or 331), so the ``file:line``
shown, and ``-W``/``filterwarnings`` by module, pointed at the package instead of the user's code. Each case gives
exactly one warning of its kind, naming the line of its call (the case's ``lambda``).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from labelfree import fusion, metrics, threshold
from labelfree.cutter.markers import (
    AutoMarkerWarning,
    MarkerWarning,
    detect_markers,
    drop_repeated_points,
)
from labelfree.cutter.segment import prepare
from labelfree.errors import EmptyTruthWarning, FloatLabelsWarning, MissingPixelsWarning, NoObjectsWarning
from labelfree.fusion import BlankChannelWarning
from labelfree.frame_chunks import run_in_chunks
from labelfree.fusion.segment import NoObjectsWarning as FusionNoObjects
from labelfree.image import to_dataarray
from labelfree.io import write_labels
from labelfree.labels import to_imagej_labels
from labelfree.motion import NoMotionWarning
from labelfree.run import run_pipeline
from labelfree.threshold.segment import BackgroundObjectWarning

#: the shared real data (as tests/conftest.py finds it)
SHARED_DATA = Path(os.environ.get("LABELFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CPU = {"device": "cpu"}


class _Inputs:
    """What the cases read, each made on first use (the real crop's cases skip when the data is absent)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    @functools.cached_property
    def gowt1(self) -> np.ndarray:
        """GOWT1/01 t000, the 256 x 256 px at (256, 256): nuclei on a dark background (uint8)."""
        tifffile = pytest.importorskip("tifffile")
        path = SHARED_DATA / "ctc" / "Fluo-N2DH-GOWT1" / "01" / "t000.tif"
        if not path.is_file():
            pytest.skip(f"{path} is absent (set LABELFREE_SHARED_DATA)")
        return tifffile.imread(path)[256:512, 256:512]

    @property
    def crop(self) -> np.ndarray:
        return self.gowt1[:128, :128]

    @functools.cached_property
    def dark_cells(self) -> np.ndarray:
        """A bright field with three dark disks (brightfield): thresholded for bright objects, the background
        is the one object."""
        yy, xx = np.mgrid[:96, :96]
        image = np.full((96, 96), 200, np.uint8)
        for y, x in ((25, 25), (65, 60), (30, 70)):
            image[(yy - y) ** 2 + (xx - x) ** 2 < 64] = 40
        return image + np.random.default_rng(0).integers(0, 10, image.shape).astype(np.uint8)

    @property
    def dark_field(self) -> np.ndarray:
        return np.tile(self.dark_cells, (2, 2))

    @staticmethod
    def stack(plane: np.ndarray, n: int = 4):
        return to_dataarray(np.stack([plane] * n), dims="ZYX")

    @functools.cached_property
    def still_movie(self) -> np.ndarray:
        from labelfree import datasets

        movie, _ = datasets.synthetic_movie(n_frames=1, seed=0)
        return np.repeat(movie.values, 4, axis=0)

    @functools.cached_property
    def blank_end(self) -> np.ndarray:
        """A movie of 6 frames with a bright square, its last 2 frames blank (one value in every pixel)."""
        movie = np.random.default_rng(0).normal(100, 5, (6, 64, 64))
        movie[:, 10:20, 10:20] += 500
        movie[4:] = 100
        return movie.astype(np.uint16)

    @property
    def big_ids(self) -> np.ndarray:
        labels = np.zeros((8, 8), np.uint32)
        labels[0, 0] = 70000
        return labels

    @functools.cached_property
    def _cells(self) -> list:
        from cutter_synth import two_channel_cells

        return [two_channel_cells(seed=s) for s in (0, 1)]  # (image, truth, nucleus labels, centres) each

    @property
    def image(self):
        return to_dataarray(self._cells[0][0], dims="CYX", channel_names=["cell", "nucleus"])

    @property
    def movie(self):
        return to_dataarray(np.stack([f[0] for f in self._cells]), dims="TCYX", channel_names=["cell", "nucleus"])

    @property
    def centres(self) -> np.ndarray:
        return self._cells[0][3]

    @property
    def points_yx(self) -> np.ndarray:
        """Both frames' cell centres as (y, x) points (no frame)."""
        return np.concatenate([f[3] for f in self._cells])

    @property
    def one_off(self) -> np.ndarray:
        return np.concatenate([self.centres, [[2.0, 2.0]]])

    @property
    def nuclei(self) -> np.ndarray:
        return np.stack([f[2] for f in self._cells])

    @property
    def second_empty(self) -> np.ndarray:
        return np.stack([np.ones((128, 128), bool), np.zeros((128, 128), bool)])

    @property
    def dense(self) -> np.ndarray:
        return np.random.default_rng(0).uniform(0, 511, (5000, 2))

    @functools.cached_property
    def noise(self) -> np.ndarray:
        return np.random.default_rng(0).normal(1000, 30, (256, 256)).astype(np.uint16)

    @property
    def noise_channels(self):
        return to_dataarray(np.stack([self.noise, self.noise]), dims="CYX", channel_names=["cell", "nucleus"])

    @property
    def noise_movie(self):
        noise = np.random.default_rng(0).normal(1000, 30, (2, 2, 256, 256)).astype(np.uint16)
        return to_dataarray(noise, dims="TCYX", channel_names=["cell", "nucleus"])

    @property
    def holed(self):
        """The Cutter image as float32 with 16 NaN pixels in its cell channel."""
        image = self.image
        out = image.copy(data=image.values.astype(np.float32))
        out.values[0, :4, :4] = np.nan
        return out

    @functools.cached_property
    def two_channels(self):
        from fusion_data import synthetic_pair

        return to_dataarray(synthetic_pair(0)[0], dims="CYX", channel_names=["actin", "tubulin"])

    @property
    def blank(self):
        out = self.two_channels.copy()
        out.loc[{"C": "tubulin"}] = 0
        return out

    @functools.cached_property
    def untrained(self):
        """A tiny randomly initialised Fusion model: it finds no object."""
        pytest.importorskip("cellpose")
        return fusion.new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="cpu")


CUTTER = {"cell_channels": ("cell",), "downscale": 1, "marker_sigma": 5, "mask_smoothing": 2,
          "mask_peak_window": 9}
AUTO = {"cell_channels": ("cell",), "nucleus_channel": "nucleus"}
TILED = {"tile": 128, "tile_overlap": 16}
BIG = {"min_size": 10**7}  # every object below it
run = run_pipeline

# (category, the call); "before": where the warning pointed with the old fixed stacklevels, when not at the call
CASES = [
    # Threshold itself
    pytest.param(NoObjectsWarning, lambda d: threshold.segment(d.crop, config=BIG), id="threshold: below min_size"),
    pytest.param(NoObjectsWarning, lambda d: threshold.segment(d.crop, config={"threshold": 1000}),
                 id="threshold: fixed threshold above every value"),
    pytest.param(BackgroundObjectWarning, lambda d: threshold.segment(d.dark_cells),
                 id="threshold: the background as an object"),
    pytest.param(NoObjectsWarning, lambda d: threshold.segment(d.stack(d.crop), config=BIG),
                 id="threshold: z-stack, 3-D objects below min_size"),
    pytest.param(BackgroundObjectWarning, lambda d: threshold.segment(d.stack(d.dark_cells)),
                 id="threshold: z-stack, the background as an object"),
    # ... through run_pipeline (before: labelfree/run.py line 292)
    pytest.param(NoObjectsWarning, lambda d: run("threshold", d.crop, config=BIG), id="run threshold: min_size"),
    pytest.param(NoObjectsWarning, lambda d: run("threshold", d.crop, config={"threshold": 1000}),
                 id="run threshold: fixed threshold"),
    pytest.param(BackgroundObjectWarning, lambda d: run("threshold", d.dark_cells), id="run threshold: background"),
    pytest.param(NoObjectsWarning, lambda d: run("threshold", d.stack(d.crop), config=BIG), id="run threshold: z"),
    # ... tiled, said once for the run (before: labelfree/tiling.py line 920; run.py line 237 for volume tiles)
    pytest.param(NoObjectsWarning, lambda d: run("threshold", d.gowt1, config=BIG, **TILED),
                 id="tiled threshold: objects below min_size"),
    pytest.param(NoObjectsWarning, lambda d: run("threshold", d.stack(d.gowt1), config=BIG, **TILED),
                 id="tiled threshold: volume tiles, 3-D objects below min_size"),
    pytest.param(BackgroundObjectWarning, lambda d: run("threshold", d.stack(d.dark_field), **TILED),
                 id="tiled threshold: volume tiles, the background as an object"),
    # Motion through run_pipeline (before: run.py line 292; its own calls: tests/motion/test_warning_places.py)
    pytest.param(NoMotionWarning, lambda d: run("motion", d.still_movie, config={"upsample": 2}),
                 id="run motion: a still movie enlarged"),
    # a movie in chunks of frames, one of them blank (a fixed stacklevel named labelfree/frame_chunks.py once the
    # chunk was segmented one call deeper)
    pytest.param(UserWarning, lambda d: run_in_chunks("threshold", d.blank_end, chunk_frames=2),
                 id="run_in_chunks: a chunk of blank frames"),
    # metrics, labels, io
    pytest.param(EmptyTruthWarning, lambda d: metrics.evaluate(d.big_ids, np.zeros((8, 8), np.uint16)),
                 id="evaluate: empty ground truth"),
    pytest.param(FloatLabelsWarning, lambda d: to_imagej_labels(d.big_ids), id="to_imagej_labels: ids above 16 bit"),
    pytest.param(FloatLabelsWarning, lambda d: write_labels(d.tmp_path / "big_labels.tif", d.big_ids),
                 id="write_labels: ids above 16 bit"),  # before: labelfree/io/labels_tiff.py line 180
    # Cutter's checks, before any training
    pytest.param(MarkerWarning, lambda d: prepare(d.movie, markers=d.points_yx, config=CUTTER),
                 id="cutter prepare: (y, x) points for a movie"),
    pytest.param(MarkerWarning, lambda d: prepare(d.image, markers=np.array([[2.0, 2.0]]), config=CUTTER),
                 id="cutter prepare: no marker on the foreground"),
    pytest.param(MarkerWarning, lambda d: prepare(d.image, markers=d.one_off, config=CUTTER),
                 id="cutter prepare: a marker on the background"),
    pytest.param(MarkerWarning, lambda d: prepare(d.movie, markers=d.nuclei, config=CUTTER, mask=d.second_empty),
                 id="cutter prepare: a movie frame without a marked cell"),  # before: cutter/segment.py line 322
    pytest.param(MarkerWarning, lambda d: drop_repeated_points(d.dense), id="cutter: markers denser than cells"),
    pytest.param(AutoMarkerWarning, lambda d: detect_markers(d.noise), id="cutter detect_markers: noise"),
    pytest.param(AutoMarkerWarning, lambda d: prepare(d.noise_channels, config=AUTO),
                 id="cutter prepare: automatic markers on noise"),  # before: cutter/segment.py line 322
    pytest.param(AutoMarkerWarning, lambda d: prepare(d.noise_movie, config=AUTO),  # said on leaving a `with`
                 id="cutter prepare: automatic markers on a noise movie"),  # before: cutter/segment.py line 322
    pytest.param(MissingPixelsWarning, lambda d: prepare(d.holed, markers=d.centres, config=CUTTER),
                 id="cutter prepare: NaN pixels"),  # before: cutter/segment.py line 331
    # Fusion, a tiny untrained model
    pytest.param(BlankChannelWarning, lambda d: fusion.segment(d.blank, models=d.untrained, device="cpu"),
                 id="fusion: a blank channel"),
    pytest.param(FusionNoObjects, lambda d: fusion.segment(d.two_channels, models=d.untrained, device="cpu"),
                 id="fusion: no object found"),
    pytest.param(BlankChannelWarning, lambda d: run("fusion", d.blank, inputs={"models": d.untrained, **CPU}),
                 id="run fusion: a blank channel"),  # before: run.py line 292
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> _Inputs:
    return _Inputs(tmp_path_factory.mktemp("warned"))


@pytest.mark.parametrize(("category", "call"), CASES)
def test_the_warning_names_the_line_of_the_call(inputs, category, call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(inputs)
    said = [w for w in caught if issubclass(w.category, category)]
    assert len(said) == 1, [str(w.message) for w in said]
    assert (said[0].filename, said[0].lineno) == (__file__, call.__code__.co_firstlineno), str(said[0].message)


@pytest.mark.parametrize("call", [
    pytest.param(lambda d: detect_markers(d.image.values[1]), id="detect_markers"),
    pytest.param(lambda d: prepare(d.image, config=AUTO), id="prepare"),  # before: cutter/segment.py line 322
    pytest.param(lambda d: prepare(d.movie, config=AUTO), id="prepare a movie"),  # before: the same
])
def test_nuclei_left_unmarked_are_warned_of_at_the_line_of_the_call(inputs, monkeypatch, call):
    """No real crop of these leaves a nucleus unmarked once the detection adds markers at dim nuclei
    (tests/cutter/test_missed_nuclei_markers.py): the rule that finds them reports one region here."""
    from labelfree.cutter import markers
    from labelfree.cutter.markers import MissedNucleiWarning

    def one_region(parts, pts, **_):
        return np.array([[100.0, 100.0]])

    monkeypatch.setattr(markers, "_unmarked_nuclei", lambda parts, pts, **_: (one_region(parts, pts), 0))
    monkeypatch.setattr(markers, "_unmarked_regions", one_region)
    test_the_warning_names_the_line_of_the_call(inputs, MissedNucleiWarning, call)


def test_a_call_with_no_user_frame_names_labelfree_s_outermost_frame(inputs):
    """A pipeline handed to a thread pool itself (no line of the user's in that thread): the warning names the
    function the pool called, ``labelfree.threshold.segment`` (so filters on LabelFree's modules apply), not the
    pool's own file (before: concurrent/futures/thread.py). A lambda handed to it is the user's line."""
    from concurrent.futures import ThreadPoolExecutor

    crop = inputs.crop
    inside = str(Path("labelfree", "threshold", "segment.py"))
    for call, where in ((lambda: pool.submit(threshold.segment, crop, config=BIG).result(), inside),
                        (lambda: pool.submit(lambda: threshold.segment(crop, config=BIG)).result(), __file__)):
        with ThreadPoolExecutor(1) as pool, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        said = [w for w in caught if issubclass(w.category, NoObjectsWarning)]
        assert len(said) == 1, [str(w.message) for w in said]
        assert said[0].filename.endswith(where), said[0].filename
