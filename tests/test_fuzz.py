"""Fuzz: random bad files and option values against every command (issue 14).

A fixed seed draws a few hundred runs of ``labelfree.cli.main`` (and a few real processes):
each command gets valid, damaged (truncated, bit-flipped, empty, text, wrong magic) and odd
(zero-size axes, NaN/inf pixels, huge declared sizes, one-pixel frames, 5-D, constant) files,
and random bad option values (wrong types, NaN, inf, negatives, text, huge numbers). Every
run must end in a typed error or a success: exit code 0, 1 or 2, no traceback, the inputs
byte-identical, and the output location holding nothing but complete sets whose manifests
verify (exit 0 only with its outputs complete).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.io import read_image, read_manifest

SEED = 14
SET_SUFFIXES = ("_labels.tif", "_rois.zip", "_table.csv", "_provenance.json", "_overlay.png", "_flow.tif",
                "_labels.ome.zarr")
BATCH_FILES = ("batch_summary.csv", "batch_objects.csv", "report.html", "report_files")
#: option values that are wrong for most fields: types, NaN, inf, negatives, text, huge numbers
BAD_VALUES = ("nan", "NaN", "inf", "-inf", "-1", "-3.5", "0", "1e400", "-1e308", "99999999999999999999", "100000",
              "2147483647", "abc", "",
              "true", "none", "[1, 2]", "1,2", "2.5", "DAPI", "../x", "\x00")
#: fields of each command's config that the fuzz sets to bad values
FIELDS = {
    "threshold": ("min_size", "threshold", "method", "dark_objects", "fill_holes"),
    "motion": ("levels", "flow_blur", "track", "min_size", "winsize", "seed", "pyr_scale"),
    "cutter": ("n_steps", "seed", "learning_rate", "crop_size", "nucleus_channel", "cell_channels", "downscale",
               "probability_threshold", "mask_prior", "width"),
    "fusion": ("diameter", "min_size", "niter", "flow_threshold", "channels", "fusion", "batch_size"),
    "drift": ("max_shift", "upsample", "channel", "low_sigma", "taper", "canvas"),
    "stitch": ("overlap", "order", "subpixel"),
}
CUTTER_FAST = ("n_steps=2", "width=4", "crop_size=32", "area_size=32", "marker_sigma=5")


# -- files ---------------------------------------------------------------------------------------------------------

def _movie(rng: np.random.Generator, n: int = 4, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    out = rng.integers(0, 40, (n, size, size)).astype(np.uint16)
    for t in range(n):
        for cy, cx in ((8, 8), (20, 12), (14, 24)):
            out[t][(yy - cy - 2 * t) ** 2 + (xx - cx) ** 2 < 16] += 800
    return out


def _patch_tag(data: bytes, path: Path, code: int, value: int) -> bytes:
    """``data`` (a little-endian classic TIFF written by tifffile) with tag ``code`` of page 0 set to ``value``."""
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags[code]
        at, kind = tag.valueoffset, tag.dtype
    out = bytearray(data)
    out[at:at + (2 if kind == 3 else 4)] = struct.pack("<H" if kind == 3 else "<I", value)
    return bytes(out)


def make_files(folder: Path, rng: np.random.Generator) -> dict[str, list[Path]]:
    """Input files by kind: valid ones and many damaged or odd ones."""
    folder.mkdir()
    files: dict[str, list[Path]] = {}

    def add(kind: str, name: str, data=None, raw: bytes | None = None, **kw) -> Path:
        path = folder / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            tifffile.imwrite(path, data, **kw)
        files.setdefault(kind, []).append(path)
        return path

    movie = _movie(rng)
    good = add("movie", "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    add("movie", "movie.ome.tif", movie, ome=True, metadata={"axes": "TYX"})
    add("movie", "exp1.pos1.tif", movie[:, ::-1].copy(), imagej=True, metadata={"axes": "TYX"})
    add("image", "plane.tif", movie[0], imagej=True, metadata={"axes": "YX"})
    two = np.stack([movie, movie // 2 + 5], 1)
    add("channels", "two.tif", two, imagej=True, metadata={"axes": "TCYX", "Labels": ["GFP", "DAPI"] * 4})
    add("channels", "two2d.tif", two[0], imagej=True, metadata={"axes": "CYX", "Labels": ["GFP", "DAPI"]})
    add("labels", "labels.tif", (movie > 400).astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    packed = add("movie", "packed.tif", movie, imagej=True, metadata={"axes": "TYX"}, compression="zlib")
    for source in (good, packed):  # damaged copies
        data = source.read_bytes()
        for i in range(3):
            cut = int(rng.integers(8, len(data) - 1))
            add("damaged", f"{source.stem}_cut{i}.tif", raw=data[:cut])
            flipped = bytearray(data)
            for at in rng.integers(0, len(data), int(rng.integers(1, 40))):
                flipped[at] ^= int(rng.integers(1, 256))
            add("damaged", f"{source.stem}_flip{i}.tif", raw=bytes(flipped))
        add("damaged", f"{source.stem}_magic.tif", raw=b"PK\x03\x04" + data[4:])
        add("damaged", f"{source.stem}_huge.tif", raw=_patch_tag(data, source, 256, 2**31 - 1))
        add("damaged", f"{source.stem}_zero.tif", raw=_patch_tag(data, source, 257, 0))
        add("damaged", f"{source.stem}_tall.tif", raw=_patch_tag(data, source, 257, 65535))
    add("damaged", "empty.tif", raw=b"")
    add("damaged", "text.tif", raw=b"y,x\n1,2\nthis is not an image\n")
    add("damaged", "header_only.tif", raw=b"II*\x00\x08\x00\x00\x00")
    add("damaged", "imagej_lies.tif", raw=good.read_bytes().replace(b"images=4", b"images=9"))
    nan = movie.astype(np.float32)
    nan[1, 3:9, 3:9] = np.nan
    add("odd", "nan.tif", nan, imagej=True, metadata={"axes": "TYX"})
    add("odd", "allnan.tif", np.full((3, 16, 16), np.nan, np.float32), imagej=True, metadata={"axes": "TYX"})
    add("odd", "inf.tif", np.where(movie > 400, np.inf, 0).astype(np.float32), imagej=True, metadata={"axes": "TYX"})
    add("odd", "constant.tif", np.full((3, 16, 16), 7, np.uint16), imagej=True, metadata={"axes": "TYX"})
    add("odd", "pixel.tif", movie[:, :1, :1].copy(), imagej=True, metadata={"axes": "TYX"})
    add("odd", "line.tif", movie[:, :1, :].copy(), imagej=True, metadata={"axes": "TYX"})
    add("odd", "oneframe.tif", movie[:1], imagej=True, metadata={"axes": "TYX"})
    add("odd", "five.tif", np.stack([two[:2]] * 2, 1), imagej=True, metadata={"axes": "TZCYX"})
    add("odd", "plain3d.tif", movie, photometric="minisblack")
    add("odd", "float64.tif", movie.astype(np.float64) * 1e300, photometric="minisblack")
    add("odd", "bool.tif", movie > 400, photometric="minisblack")
    add("odd", "int8.tif", (movie // 10 - 50).astype(np.int8), photometric="minisblack", metadata={"axes": "TYX"})
    add("odd", "rgb.tif", np.stack([movie[0]] * 3, -1).astype(np.uint8), photometric="rgb")
    tiles = folder / "tiles"
    tiles.mkdir()
    whole = _movie(rng, 1, 64)[0]
    tifffile.imwrite(tiles / "t1.tif", whole[:, :40])
    tifffile.imwrite(tiles / "t2.tif", whole[:, 28:])
    (tiles / "TileConfiguration.txt").write_text("dim = 2\nt1.tif; ; (0.0, 0.0)\nt2.tif; ; (27.0, 1.0)\n")
    files["tiles"] = [tiles, tiles / "TileConfiguration.txt"]
    (folder / "markers.csv").write_text("y,x\n8,8\n20,12\n14,24\n")
    (folder / "junk.csv").write_text("y,x\n8,8\nabc,1e999\n,\n")
    (folder / "wide.csv").write_text("y,x,t\n-5,40,0\n1e9,2,9\n")
    (folder / "shifts.csv").write_text("dy,dx\n0,0\n1,1\nnan,2\n3,inf\n")
    (folder / "tile_config.txt").write_text("dim = 2\nt1.tif; ; (0.0, 0.0)\n../t2.tif; ; (abc, 1)\n")
    files["csv"] = [folder / n for n in ("markers.csv", "junk.csv", "wide.csv", "shifts.csv", "tile_config.txt")]
    manifest = folder / "manifest.csv"
    manifest.write_text("path,name,min_size\nmovie.tif,a,5\nplane.tif,b,nan\ntext.tif,c,3\nmissing.tif,d,1\n")
    files["manifest"] = [manifest]
    return files


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """A model zoo with one tiny, randomly initialised two-channel Fusion model (GFP + DAPI)."""
    from labelfree.fusion import ModelZoo, new_model

    root = tmp_path_factory.mktemp("zoo") / "zoo"
    ModelZoo(root, create=True).add(new_model(nbase=(2, 4, 4, 4), diam_mean=10.0, device="cpu"), object="cyto",
                                    channels=["GFP", "DAPI"])
    return root


# -- one run -----------------------------------------------------------------------------------------------------------

class Outcome:
    def __init__(self, argv: list[str], code: int, err: str, seconds: float) -> None:
        self.argv, self.code, self.err, self.seconds = argv, code, err, seconds

    def __repr__(self) -> str:
        return f"labelfree {' '.join(self.argv)} -> {self.code}: {self.err.strip()[-300:]}"


def run_main(argv: list) -> Outcome:
    """``labelfree ARGV`` in this process; an exception escaping ``main`` fails the fuzz."""
    argv = [str(a) for a in argv]
    err, out = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")  # a command line shows warnings; they are not failures
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: a usage error
            code = exc.code
        except BaseException as exc:  # noqa: BLE001 - what the fuzz is looking for
            raise AssertionError(f"labelfree {' '.join(argv)} raised {type(exc).__name__}: {exc}") from exc
    return Outcome(argv, code, err.getvalue() + out.getvalue(), time.perf_counter() - started)


def check_outputs(outcome: Outcome, location: Path, *, kind: str, user_runs) -> None:
    """Only complete, verifying sets (or a complete single output file) in ``location``; nothing stray."""
    assert outcome.code in (0, 1, 2), outcome
    assert "Traceback" not in outcome.err, outcome
    if outcome.code == 1:
        assert "labelfree: error:" in outcome.err or "FAILED" in outcome.err, outcome
    assert user_runs.strays(location.parent) == [], outcome
    if kind == "file":  # drift / stitch: one image (and a table)
        if outcome.code == 0:
            assert read_image(location).size > 0, outcome
        else:
            assert not location.exists(), outcome
        return
    if not location.exists():
        assert outcome.code != 0 or kind == "none", outcome
        return
    names = os.listdir(location)
    stems = {n[: -len(s)] for n in names for s in SET_SUFFIXES if n.endswith(s)}
    for stem in stems:
        assert read_manifest(location, stem) is not None, (outcome, stem, names)
    for name in names:
        assert name.endswith(SET_SUFFIXES) or name in BATCH_FILES, (outcome, name)
    if outcome.code == 0 and kind == "set":
        assert stems, outcome


# -- the fuzz ----------------------------------------------------------------------------------------------------------

def _bad_setting(rng: np.random.Generator, command: str) -> list[str]:
    field = str(rng.choice(FIELDS[command]))
    return ["--set", f"{field}={rng.choice(BAD_VALUES)}"]


def _pick(rng: np.random.Generator, files: dict, *kinds: str) -> Path:
    pool = [p for k in kinds for p in files[k]]
    return pool[int(rng.integers(len(pool)))]


def _trial(rng: np.random.Generator, command: str, files: dict, out: Path, zoo: Path) -> tuple[list, Path, str]:
    """The arguments of one random run of ``command``, its output location and what a success writes."""
    image_kinds = IMAGE_KINDS.get(command, ("movie", "image", "channels", "damaged", "odd"))
    bad = rng.random() < 0.5
    extra = _bad_setting(rng, command) if bad and command in FIELDS else []
    folder = files["movie"][0].parent
    if command in ("threshold", "motion", "fusion", "cutter"):
        args = [command, _pick(rng, files, *image_kinds), "-o", out, "--no-progress"]
        if command == "threshold" and rng.random() < 0.3:
            args += ["--channel", str(rng.choice(["0", "1", "GFP", "DAPI", "-1", "9", "x", ""]))]
        if command == "cutter":
            args += ["--markers", rng.choice([folder / "markers.csv", *files["csv"][1:3]])]
            args += [a for s in CUTTER_FAST for a in ("--set", s)]
        if command == "fusion":
            args += ["--zoo", zoo if rng.random() < 0.9 else folder]
        if rng.random() < 0.2:
            args += ["--overlay"]
        if rng.random() < 0.2:
            args += ["--ome-zarr"]
        return args + extra, out, "set"
    if command == "drift":
        args = ["drift", _pick(rng, files, *image_kinds), "-o", out.with_suffix(".tif")]
        if rng.random() < 0.3:
            args += ["--shifts", out.with_suffix(".csv")]
        if rng.random() < 0.2:
            args += ["--apply", folder / "shifts.csv"]
        if rng.random() < 0.3:
            args += ["--max-shift", str(rng.choice(BAD_VALUES[:8]))]
        return args + extra, out.with_suffix(".tif"), "file"
    if command == "stitch":
        source = rng.choice([*files["tiles"], *files["tiles"], folder / "tile_config.txt", folder])
        args = ["stitch", source, "-o", out.with_suffix(".tif"),
                "--grid", str(rng.choice(["1x2", "1x2", "1x2", "2x1", "0x0", "1x1", "x", "99999x99999"]))]
        if rng.random() < 0.3:
            args += ["--overlap", str(rng.choice(BAD_VALUES[:8]))]
        return args + extra, out.with_suffix(".tif"), "file"
    if command == "batch":
        inputs = [_pick(rng, files, "movie", "damaged", "odd", "manifest") for _ in range(int(rng.integers(1, 4)))]
        args = ["batch", *dict.fromkeys(inputs), "-p", "threshold", "-o", out, "--scheduler", "sync", "-q"]
        flags = (("--chunk-frames", ("-1", "0", "2", "abc")), ("--memory-limit", ("lots", "-1GB", "4GB")),
                 ("--workers", ("0", "-2", "1")), ("--tile", ("5", "16", "-1")), ("--channel", ("0", "DAPI", "7")))
        if bad:
            flag, values = flags[int(rng.integers(len(flags)))]
            args += [flag, str(rng.choice(values))]
        if rng.random() < 0.3:
            args += _bad_setting(rng, "threshold")
        return args, out, "batch"
    assert command == "eval"
    pred = _pick(rng, files, "labels", "movie", "damaged", "odd")
    truth = _pick(rng, files, "labels", "labels", "damaged", "odd")
    args = ["eval", pred, truth]
    if rng.random() < 0.4:
        args += ["--threshold", str(rng.choice(BAD_VALUES[:10]))]
    return args, out, "none"


#: the kinds of files each command gets (valid ones more often where few others would get far)
IMAGE_KINDS = {
    "motion": ("movie", "movie", "damaged", "odd"),
    "cutter": ("image", "image", "channels", "movie", "damaged", "odd"),
    "fusion": ("channels", "channels", "channels", "movie", "damaged", "odd"),
    "drift": ("movie", "movie", "channels", "damaged", "odd"),
}
#: runs per command (about 40 s on one core in all)
RUNS = {"threshold": 150, "motion": 50, "cutter": 30, "fusion": 30, "drift": 70, "stitch": 50, "batch": 50, "eval": 60}


@pytest.mark.slow
def test_fuzz_every_command(tmp_path, zoo, user_runs):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(SEED)
        files = make_files(tmp_path / "in", rng)
        inputs = user_runs.digest(tmp_path / "in")
        (tmp_path / "out").mkdir()
        zoo_before = user_runs.digest(zoo)
        plan = [c for c, n in RUNS.items() for _ in range(n)]
        rng.shuffle(plan)
        outcomes = []
        for i, command in enumerate(plan):
            out = tmp_path / "out" / f"run{i:03d}"
            argv, location, kind = _trial(rng, command, files, out, zoo)
            outcome = run_main(argv)
            check_outputs(outcome, location, kind=kind, user_runs=user_runs)
            assert user_runs.digest(tmp_path / "in") == inputs, outcome
            outcomes.append(outcome)
            if os.environ.get("LABELFREE_FUZZ_LOG"):
                with open(os.environ["LABELFREE_FUZZ_LOG"], "a") as log:
                    log.write(f"{outcome!r}\n".replace(str(tmp_path), "~"))
    finally:
        torch.set_num_threads(threads)
    assert user_runs.digest(zoo) == zoo_before
    codes = {code: sum(o.code == code for o in outcomes) for code in (0, 1, 2)}
    assert codes[0] >= 20 and codes[1] >= 100  # the fuzz reaches both successes and refusals
    slowest = max(outcomes, key=lambda o: o.seconds)
    # a guard against an input that sends a command into a near-endless run, not a speed test
    # (speed is measured in benchmarks/): the runs take 0.1-10 s, 27 s on a loaded machine
    assert slowest.seconds < 120, slowest


@pytest.mark.slow
def test_fuzz_in_real_processes(tmp_path, user_runs):
    """A few fuzzed runs as a user starts them: the same guarantees in a new process."""
    rng = np.random.default_rng(SEED + 1)
    files = make_files(tmp_path / "in", rng)
    inputs = user_runs.digest(tmp_path / "in")
    runs = [
        (["threshold", _pick(rng, files, "damaged"), "-o", "o1", "--set", "min_size=nan"], "o1", "set"),
        (["drift", _pick(rng, files, "damaged"), "-o", "o2.tif", "--set", "upsample=-1"], "o2.tif", "file"),
        (["batch", files["manifest"][0], _pick(rng, files, "damaged"), "-p", "threshold", "-o", "o3",
          "--scheduler", "sync", "-q"], "o3", "batch"),
    ]
    for argv, location, kind in runs:
        proc = user_runs.run(*argv, cwd=tmp_path)
        outcome = Outcome([str(a) for a in argv], proc.returncode, proc.stderr + proc.stdout, 0.0)
        assert proc.returncode in (1, 2), outcome
        check_outputs(outcome, tmp_path / location, kind=kind, user_runs=user_runs)
        assert user_runs.digest(tmp_path / "in") == inputs, outcome
    rows = json.loads(json.dumps(_rows(tmp_path / "o3")))
    assert {r["stem"]: r["status"] for r in rows}.get("a") == "ok"


def _rows(folder: Path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(folder / "batch_summary.csv", keep_default_na=False).to_dict("records")
