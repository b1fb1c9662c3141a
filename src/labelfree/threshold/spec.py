"""The threshold pipeline's entry in the registry."""

from labelfree.spec import PipelineSpec

SPEC = PipelineSpec(
    name="threshold",
    title="Threshold",
    summary="Global threshold + connected components (the classical baseline)",
    segment="labelfree.threshold.segment:segment",
    config="labelfree.threshold.config:ThresholdConfig",
    channels="one",
    takes_z=True,
    frame_overlap=0,
    chunk_auto_per_plane=("threshold",),
    tiles=True,
    # measured (benchmarks/plane_memory.py): 8.0 bytes a pixel beside the labels for one 2-D plane, 10.4 for each
    # plane of a movie and for a volume; the smaller, so that no run that fits is refused
    plane_bytes=8.0,
    tile_config="labelfree.threshold.segment:whole_plane_config",
    tile_run_config="labelfree.threshold.segment:whole_image_config",
    tile_box="labelfree.threshold.segment:tile_box",
    tile_constant="labelfree.threshold.segment:constant_region_labels",
    tile_volume_config="labelfree.threshold.volume_tiles:whole_volume_config",
    tile_finish="labelfree.threshold.volume_tiles:finish_volume_tiles",
    demo="labelfree.datasets:movie_demo",
)
