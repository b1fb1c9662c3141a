"""The Cutter pipeline's entry in the registry."""

from labelfree.spec import Input, PipelineSpec

SPEC = PipelineSpec(
    name="cutter",
    title="Cutter",
    summary="Unsupervised marker-controlled CNN, one patch per cell marker (Din & Yu 2021)",
    segment="labelfree.cutter.segment:segment",
    config="labelfree.cutter.config:CutterConfig",
    channels="many",
    inputs=(
        Input("markers", "One marker per cell: a points CSV (y, x[, t]), a label TIFF or an ImageJ ROI zip; "
                         "default: detected in the nucleus channel.",
              kind="file", reader="labelfree.io.markers:read_markers", absent="detect", roi_manager=True),
    ),
    frame_overlap=None,
    torch=True,
    demo="labelfree.datasets:cutter_demo",
)
