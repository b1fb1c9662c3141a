"""The Motion pipeline's entry in the registry."""

from labelfree.spec import PipelineSpec

SPEC = PipelineSpec(
    name="motion",
    title="Motion",
    summary="Self-supervised time-lapse segmentation from optical flow (Robitaille et al. 2022)",
    segment="labelfree.motion.segment:segment",
    config="labelfree.motion.config:MotionConfig",
    channels="one",
    needs_time=True,
    frame_overlap=1,
    # measured (benchmarks/plane_memory.py, part 3: one thread, 6 frames of a mosaic of MSC frames): 102 / 132 / 232 /
    # 646 / 1346 / 2301 / 8832 MiB of work on a frame beside the labels at 256 / 512 / 1024 / 2048 / 3072 / 4096 /
    # 8192 px; below each: 80 MiB that do not grow with the frame and 135 bytes a pixel, so that no run that fits is
    # refused
    plane_bytes=135.0,
    plane_bytes_fixed=80 * 2**20,
    chunk_settings=("min_size", "closing_radius", "flow_downsample", "upsample", "declump_landscape"),
    chunk_measure="labelfree.motion.segment:movie_grey_mapping",
    chunk_per_frame=("frame_gains",),
    demo="labelfree.datasets:movie_demo",
    extra_outputs={"flow": ("labelfree.motion.flow:write_flow_stack",
                            "also write <stem>_flow.tif: the flow speed (px/frame) of every frame, "
                            "measured on the movie as given (before any drift_correction)")},
)
