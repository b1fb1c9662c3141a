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
    # measured (benchmarks/plane_memory.py, part 3: one thread, the demo's zoo (widths 8-64) on a mosaic of its
    # channels, one channel, its network one tile at a time as on every CPU; torch and cellpose imported before, as
    # every check imports its libraries): 80 / 91 / 221 / 455 / 802 / 1329 / 4787 MiB beside the labels at 256 / 512
    # / 1024 / 2048 / 3072 / 4096 / 8192 px; below each: 48 MiB that do not grow with the plane (with the demo
    # network's pass over one tile) and 165 bytes a pixel up to 1024 x 1024 px (its diameter measured at several
    # scales), 96 up to 2048 x 2048, 70 above, so that no run that fits is refused. The demo's cells are seen at 0.45
    # x 0.45 by its network (diam_mean / diameter). A wider network, more tiles a pass, or a plane the networks see
    # enlarged are counted once the files are read and the diameter known (labelfree.fusion.segment._network_work)
    plane_bytes=70.0,
    plane_bytes_fixed=48 * 2**20,
    plane_bytes_up_to=((1024 * 1024, 165.0), (2048 * 2048, 96.0)),
    tile_run_config="labelfree.fusion.segment:whole_image_config",
    tile_record="labelfree.fusion.segment:tiled_record",
    record_models="labelfree.fusion.segment:repeat_recorded_models",
    libraries=("torch", "cellpose.models"),
    torch=True,
    checks="labelfree.fusion.models:doctor_checks",
    demo="labelfree.fusion.demo:fusion_demo",
    verbs="labelfree.fusion.cli",
)
