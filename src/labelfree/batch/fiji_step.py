"""Drift correction inside a batch run, keeping the JVM away from torch.

By default a Fiji step (``fiji_dir`` given) runs in a fresh Python subprocess that
imports only ``labelfree.registration`` and pyimagej, so a Dask worker that also
runs torch-based pipelines never hosts a JVM. ``in_worker=True`` runs the step in
the worker process itself (one JVM per worker, started on the first Fiji step).
Without ``fiji_dir`` the pure-Python backend runs in the worker.

Run as ``python -m labelfree.batch.fiji_step IN.pkl OUT.pkl FIJI_DIR``: reads the
pickled DataArray written by the worker, corrects drift with the Fiji backend and
writes the result the same way.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import xarray as xr

from labelfree.errors import FijiError

__all__ = ["correct_stage_drift", "main"]

log = logging.getLogger(__name__)


#: batch drift correction keeps the field seen in every frame: no zero-filled borders, which
#: would bias intensity thresholds and features; the coords keep the offset to the first frame
CANVAS = "crop"


def _correct_drift(image: xr.DataArray, *, fiji_dir: str | None) -> xr.DataArray:
    from labelfree.registration import correct_drift

    if fiji_dir is None:
        corrected, shifts = correct_drift(image, backend="python", canvas=CANVAS)
    else:
        from labelfree.imagej import start

        start(fiji_dir, headless=True)  # once per process; the JVM lives as long as the process
        corrected, shifts = correct_drift(image, backend="fiji", canvas=CANVAS)
    corrected.attrs["drift_shifts"] = shifts.to_dict(orient="list")
    return corrected


def correct_stage_drift(image: xr.DataArray, /, *, fiji_dir: str | None = None, in_worker: bool = False) -> xr.DataArray:
    """Correct stage drift of a time-lapse before segmentation.

    Parameters
    ----------
    image : xarray.DataArray, dims T(C)(Z)YX
        The movie; pixel sizes in the coords.
    fiji_dir : str or None
        Fiji installation: use Fiji's *Correct 3D Drift* through pyimagej headless.
        None: the pure-Python backend, in this process.
    in_worker : bool
        Start the JVM in this process instead of a subprocess.

    Returns
    -------
    xarray.DataArray
        Same dims, every frame shifted onto the first one and cut to the field seen in
        all frames (coords: positions in the first frame's calibrated space);
        ``attrs["drift_shifts"]`` holds the measured shifts (columns of
        :func:`labelfree.registration.correct_drift`'s table).
    """
    if fiji_dir is None or in_worker:
        return _correct_drift(image, fiji_dir=fiji_dir)
    with tempfile.TemporaryDirectory(prefix="labelfree-fiji-") as tmp:
        src, dst = Path(tmp) / "in.pkl", Path(tmp) / "out.pkl"
        with open(src, "wb") as fh:
            pickle.dump(image, fh, protocol=pickle.HIGHEST_PROTOCOL)
        cmd = [sys.executable, "-m", "labelfree.batch.fiji_step", str(src), str(dst), str(fiji_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not dst.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise FijiError(f"The Fiji drift-correction subprocess failed (exit {done.returncode}): {tail}")
        with open(dst, "rb") as fh:  # written just now by our own subprocess
            return pickle.load(fh)


def main(argv: Sequence[str] | None = None) -> int:
    """Subprocess entry point: ``IN.pkl OUT.pkl FIJI_DIR``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        sys.stderr.write("usage: python -m labelfree.batch.fiji_step IN.pkl OUT.pkl FIJI_DIR\n")
        return 2
    src, dst, fiji_dir = args
    with open(src, "rb") as fh:
        image = pickle.load(fh)
    try:
        out = _correct_drift(image, fiji_dir=fiji_dir)
    except Exception as exc:  # noqa: BLE001 - reported to the parent through stderr
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    from labelfree.io.atomic import write_bytes_atomic

    write_bytes_atomic(dst, pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
