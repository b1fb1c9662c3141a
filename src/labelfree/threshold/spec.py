"""The threshold pipeline's entry in the registry."""

from labelfree.spec import PipelineSpec

SPEC = PipelineSpec(
    name="threshold",
    title="Threshold",
    summary="Global threshold + connected components (the classical baseline)",
    segment="labelfree.threshold.segment:segment",
    config="labelfree.threshold.config:ThresholdConfig",
    channels="one",
    frame_overlap=0,
    tiles=True,
    tile_config="labelfree.threshold.segment:whole_plane_config",
    tile_run_config="labelfree.threshold.segment:whole_image_config",
    tile_box="labelfree.threshold.segment:tile_box",
    tile_constant="labelfree.threshold.segment:constant_region_labels",
    demo="labelfree.datasets:movie_demo",
)
