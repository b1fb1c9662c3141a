"""Reading images and writing the outputs Fiji opens unchanged.

* :func:`read_image`: TIFF / ImageJ hyperstack / OME-TIFF -> DataArray with calibration;
* :func:`image_series`: the image series of a multi-position file (metadata only);
* :func:`read_ngff` / :func:`write_ngff` / :func:`write_ngff_labels`: OME-Zarr (NGFF 0.4, 0.5);
* :func:`read_ctc`: Cell Tracking Challenge folders (frames, SEG, TRA, lineage);
* :func:`write_labels`: ImageJ hyperstack label TIFF (calibration, glasbey LUT, provenance);
* :func:`write_rois` / :func:`read_rois` / :func:`rois_to_labels`: ImageJ ROI zips;
* :func:`read_cellpose_seg`: the masks of a Cellpose GUI annotation (``<stem>_seg.npy``), read without
  running code from the file (:func:`read_labels` reads such files too);
* :func:`read_markers`: cell markers from a points CSV, a label TIFF (or grey PNG) or a ROI zip;
* :func:`write_table`, :func:`write_outputs`: CSV tables and the output set;
* :class:`OutputFolder`: the output layer every entry point uses (no input is ever
  written over, earlier results are replaced only when asked, sets are published whole).

Every writer is atomic (temporary file + rename).
"""

from labelfree.io.cellpose_seg import read_cellpose_seg
from labelfree.io.ctc import CTCDataset, read_ctc
from labelfree.io.labels_tiff import as_label_image, read_labels, read_provenance, write_labels
from labelfree.io.lut import glasbey_lut
from labelfree.io.markers import read_markers
from labelfree.io.ngff import read_ngff, write_ngff, write_ngff_labels
from labelfree.io.outputs import OutputFolder, check_output_file, output_stem, read_manifest, write_output_file
from labelfree.io.rois import labels_to_rois, read_rois, roi_name, write_rois
from labelfree.io.rois_raster import roi_mask, rois_to_labels
from labelfree.io.series import SeriesInfo, image_series
from labelfree.io.tables import OUTPUT_SUFFIXES, stage_outputs, write_outputs, write_table
from labelfree.io.tiff import read_image

__all__ = [
    "read_image",
    "image_series",
    "SeriesInfo",
    "read_ctc",
    "read_ngff",
    "write_ngff",
    "write_ngff_labels",
    "CTCDataset",
    "write_labels",
    "read_provenance",
    "read_labels",
    "read_cellpose_seg",
    "as_label_image",
    "glasbey_lut",
    "labels_to_rois",
    "write_rois",
    "read_rois",
    "roi_name",
    "roi_mask",
    "rois_to_labels",
    "write_table",
    "write_outputs",
    "stage_outputs",
    "OUTPUT_SUFFIXES",
    "OutputFolder",
    "output_stem",
    "read_manifest",
    "check_output_file",
    "write_output_file",
    "read_markers",
]
