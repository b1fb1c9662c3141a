"""The Fusion pipeline's entry in the registry."""

from labelfree.spec import Input, PipelineSpec

SPEC = PipelineSpec(
    name="fusion",
    title="Fusion",
    summary="Cellpose per fluorescence channel, fused by flow averaging (Zyss et al. 2023)",
    segment="labelfree.fusion.segment:segment",
    config="labelfree.fusion.config:FusionConfig",
    channels="many",
    inputs=(
        Input("zoo", "Model zoo folder (empty: LabelFree's model cache).", kind="folder"),
        Input("models", "Cellpose weights file (.pt) to run every channel through instead of the zoo's models, "
                        "or CHANNEL=FILE pairs separated by commas (GFP=gfp.pt,Cy5=cy5.pt: channels named as the "
                        "image names them); a path that exists is one file, even with ',' or '=' in it. A file "
                        "wins over the zoo for the channels it serves; with pairs, the others come from the zoo "
                        "given, and without one every channel fused needs a file (empty: the zoo's models).",
              kind="file", key="model_file", reader="labelfree.fusion.models:read_model_files", basic=False,
              tiles=True, files="labelfree.fusion.models:map_model_files",
              channel_keys="labelfree.fusion.models:map_model_channels"),
        Input("device", "Where the networks run: auto (a CUDA GPU when there is one), cpu or cuda.",
              kind="choice", choices=("auto", "cpu", "cuda"), basic=False),
    ),
    tiles=True,
    # measured (benchmarks/plane_memory.py, part 3: one thread, the demo's zoo on a mosaic of its channels): 79 bytes a
    # pixel beside the labels for one channel at 8192 px, 102 for three; 100 to 173 at 2048 and 4096 px; the least, so
    # that no run that fits is refused
    plane_bytes=79.0,
    tile_run_config="labelfree.fusion.segment:whole_image_config",
    tile_record="labelfree.fusion.segment:tiled_record",
    record_models="labelfree.fusion.segment:repeat_recorded_models",
    torch=True,
    checks="labelfree.fusion.models:doctor_checks",
    demo="labelfree.fusion.demo:fusion_demo",
    verbs="labelfree.fusion.cli",
)
