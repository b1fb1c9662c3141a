"""Headless batch runs over many images, sequentially or on a Dask cluster.

>>> from labelfree.batch import run_batch                          # doctest: +SKIP
>>> summary = run_batch("movies/", pipeline="motion", out_dir="out/")  # doctest: +SKIP

Each input gets the outputs of every entry point (label TIFF, ROI zip, CSV table,
provenance JSON); the provenance JSON, written last, is the state a rerun checks. The run
writes one summary CSV. A rerun skips inputs finished with the same input file, config and
LabelFree version.
"""

from labelfree.batch.config import SYNC, BatchConfig
from labelfree.batch.inputs import BatchInput, collect_inputs, read_manifest
from labelfree.batch.report import exit_code, format_report
from labelfree.batch.runner import SUMMARY_COLUMNS, run_batch

__all__ = [
    "run_batch",
    "BatchConfig",
    "BatchInput",
    "collect_inputs",
    "read_manifest",
    "format_report",
    "exit_code",
    "SUMMARY_COLUMNS",
    "SYNC",
]
