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
        Input("device", "Where the networks run: auto (a CUDA GPU when there is one), cpu or cuda.",
              kind="choice", choices=("auto", "cpu", "cuda"), basic=False),
    ),
    tiles=True,
    tile_run_config="labelfree.fusion.segment:whole_image_config",
    tile_record="labelfree.fusion.segment:tiled_record",
    record_models="labelfree.fusion.segment:repeat_recorded_models",
    torch=True,
    checks="labelfree.fusion.models:doctor_checks",
    demo="labelfree.fusion.demo:fusion_demo",
    verbs="labelfree.fusion.cli",
)
