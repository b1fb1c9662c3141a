"""Motion's info lines about a frame say how they count it ("frame 1 (0-based)"), as its warnings do: ImageJ's Log
counts frames from 1, and a bare "frame 1" could be read either way."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from labelfree import motion


def test_a_still_movie_names_its_frames_0_based(caplog):
    rng = np.random.default_rng(0)
    frame = (rng.random((96, 96)) * 200).astype(np.uint8)
    movie = np.stack([frame, frame, frame])  # nothing moves: every pair has no motion
    with caplog.at_level(logging.INFO, logger="labelfree.motion.segment"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion.segment(movie)
    said = [r.getMessage() for r in caplog.records if "no pixel moves" in r.getMessage()]
    assert said, [r.getMessage() for r in caplog.records]
    assert all(m.startswith("Motion: frame ") and " (0-based): no pixel moves " in m for m in said), said
    assert {m.split()[2] for m in said} == {"1", "2"}  # the pairs end at frames 1 and 2
