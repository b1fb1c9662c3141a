"""The merge of a movie's overlapping chunks (Motion's: one shared frame) into one label movie, with the merged
movie's type from the re-linked IDs (worked out before the movie is made) against the former rule (the type from
the sum of every chunk's largest ID: uint32 once that sum passes 65535), measured in the same run.

Usage: python benchmarks/merge_relink.py [--frames T] [--size PX] [--cells N] [--chunk-frames K] [--repeat R]

A synthetic movie of N square cells drifting one pixel every other frame, cut into chunks of K frames that
overlap by one (``plan_chunks``); each chunk numbers its cells on its own, from N (as a chunk's own run numbers
the cells it tracks), and is packed as batch tasks hand it over (``PackedLabels``). Columns: the merged movie's
type and MiB, the largest ID, seconds (best of R), and whether both merges give the same IDs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from labelfree.batch import chunks as C


def movie_chunks(n_frames: int, size: int, n_cells: int, chunk_frames: int) -> list:
    rng = np.random.default_rng(0)
    side = max(4, int(size / np.sqrt(n_cells) / 2))
    corners = rng.integers(0, size - side - n_frames // 2 - 1, (n_cells, 2))
    parts = []
    for a, b in C.plan_chunks(n_frames, chunk_frames=chunk_frames, overlap=1):
        lab = np.zeros((b - a, size, size), np.uint16)
        ids = rng.permutation(n_cells) + n_cells + 1
        for t in range(a, b):
            for k, (y, x) in enumerate(corners):
                lab[t - a, y + t // 2: y + t // 2 + side, x: x + side] = ids[k]
        parts.append((a, C.PackedLabels.pack(lab)))
    return parts


def timed(parts: list, dtype, repeat: int) -> tuple[np.ndarray, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        chunks = list(parts)
        t0 = time.perf_counter()
        out = C._merge(chunks, overlap=1, dtype=dtype)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--chunk-frames", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    parts = movie_chunks(args.frames, args.size, args.cells, args.chunk_frames)
    former = np.uint16 if sum(int(p.max()) for _, p in parts) <= 65535 else np.uint32
    rows = [("former: sum of the chunks' largest IDs", *timed(parts, former, args.repeat)),
            ("now: the re-linked IDs", *timed(parts, None, args.repeat))]
    print(f"{args.frames} x {args.size}^2, {args.cells} cells, {len(parts)} chunks of {args.chunk_frames} frames "
          f"(overlap 1); sum of the chunks' largest IDs {sum(int(p.max()) for _, p in parts)}")
    print(f"{'type rule':40s} {'type':>7s} {'MiB':>7s} {'top ID':>7s} {'s':>7s}")
    for name, out, sec in rows:
        print(f"{name:40s} {str(out.dtype):>7s} {out.nbytes / 2**20:7.0f} {int(out.max()):7d} {sec:7.2f}")
    print(f"same IDs: {np.array_equal(rows[0][1], rows[1][1])}; ratio of seconds now / former: "
          f"{rows[1][2] / rows[0][2]:.2f}")


if __name__ == "__main__":
    main()
