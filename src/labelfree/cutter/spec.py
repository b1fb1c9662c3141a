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
        Input("markers", "One marker per cell: a points CSV (y, x[, t]; or ImageJ's Results table of a point "
                         "selection, or LabelFree's _table.csv), a label TIFF (or grey PNG), an ImageJ ROI zip or a "
                         "Cell Tracking Challenge TRA folder; default: detected in the nucleus channel (in the image "
                         "itself when it has one channel).",
              kind="file", reader="labelfree.io.markers:read_markers", absent="detect", roi_manager=True,
              folders=True,
              fiji_help="One marker per cell: detect (found in the nucleus channel; in the image itself when it "
                        "has one channel) or roi_manager (the ROI Manager's point selections, one marker per "
                        "point, or nucleus outlines, one marker each; a ROI without a frame position marks "
                        "every frame)."),
        Input("model", "Apply this trained Cutter model (.pt) instead of training (empty: train on the image).",
              kind="file", key="model_file", basic=False),
        Input("save_model", "Save the trained model to this file (.pt, with a .json sidecar; empty: don't).",
              kind="output", key="save_model_file", basic=False, companions=(".json",)),
        Input("device", "Where the network runs: cpu, auto (a CUDA GPU when there is one) or cuda.",
              kind="choice", choices=("cpu", "auto", "cuda"), basic=False),
    ),
    frame_overlap=None,
    # measured (benchmarks/plane_memory.py, part 3: one thread, a mosaic of MSC frames with their markers; torch
    # imported before, as every check imports its libraries): 935 / 1389 / 4426 MiB beside the labels at 3072 /
    # 4096 / 8192 px, where the foreground's graph cut goes in tiles (above 2048 x 2048,
    # labelfree.cutter.graphcut.TILE_ABOVE_PIXELS); 161 / 185 / 367 / 1354 MiB at 256 / 512 / 1024 / 2048 px, one
    # graph for the whole plane; below each: 96 MiB that do not grow with the plane (the network's training) and 64
    # bytes a pixel, 250 up to 2048 x 2048 px, so that no run that fits is refused
    plane_bytes=64.0,
    plane_bytes_up_to=((2048 * 2048, 250.0),),
    plane_bytes_fixed=96 * 2**20,
    libraries=("torch",),
    torch=True,
    demo="labelfree.datasets:cutter_demo",
)
