"""Drift correction and stitching in the registry (image -> image tools)."""

from labelfree.spec import ToolSpec

TOOLS = (
    ToolSpec(
        name="drift",
        title="Drift",
        summary="Correct stage drift (a translation per frame)",
        function="labelfree.registration.drift:correct_drift",
        config="labelfree.registration.drift:DriftConfig",
        takes="movie",
        result_suffix="drift-corrected",
        table_name="shifts",
    ),
    ToolSpec(
        name="stitch",
        title="Stitch",
        summary="Stitch the planes of a stack, taken as grid tiles",
        function="labelfree.registration.stitch:stitch",
        config="labelfree.registration.stitch:StitchConfig",
        takes="tiles",
        result_suffix="stitched",
        table_name="positions",
    ),
)
