"""Fiji plugin delegates: exact macro strings, log parsing, and the clear error under ImageJ 1.x."""

import numpy as np
import pytest

from labelfree.errors import ConfigError, FijiError, FijiPluginMissingError
from labelfree.imagej import plugins


def test_correct_3d_drift_options_match_the_recorded_macro():
    options = plugins.correct_3d_drift_options(
        channel=1, xy_only=True, multi_time_scale=True, sub_pixel=True, edge_enhance=True,
        background=0, z_range=(1, 1), max_shift=(10, 10, 10),
    )
    assert options == ("channel=1 correct multi_time_scale sub_pixel edge_enhance only=0 lowest=1 highest=1 "
                       "max_shift_x=10 max_shift_y=10 max_shift_z=10")
    plain = plugins.correct_3d_drift_options(channel=2, background=12.5, z_range=(2, 7), max_shift=(30, 20, 0))
    assert plain == "channel=2 only=12.5 lowest=2 highest=7 max_shift_x=30 max_shift_y=20 max_shift_z=0"
    with pytest.raises(ConfigError, match="1-based"):
        plugins.correct_3d_drift_options(channel=0)


def test_grid_stitching_options_keep_the_padded_order_value():
    options = plugins.grid_stitching_options(
        "/data/tiles", file_names="tile_{i}.tif", grid=(3, 3), overlap=20, subpixel=True,
    )
    assert options == (
        "type=[Grid: row-by-row] order=[Right & Down                ] grid_size_x=3 grid_size_y=3 "
        "tile_overlap=20 first_file_index_i=1 directory=[/data/tiles] file_names=tile_{i}.tif "
        "output_textfile_name=TileConfiguration.txt fusion_method=[Linear Blending] regression_threshold=0.30 "
        "max/avg_displacement_threshold=2.50 absolute_displacement_threshold=3.50 compute_overlap "
        "subpixel_accuracy computation_parameters=[Save memory (but be slower)] image_output=[Fuse and display]"
    )
    assert "order=[Right & Down" + " " * 16 + "]" in options
    snake = plugins.grid_stitching_options("/d", file_names="t {ii}.tif", grid=(2, 4), order="snake-by-columns")
    assert "type=[Grid: snake by columns] order=[Down & Right                ] grid_size_x=4 grid_size_y=2" in snake
    assert "file_names=[t {ii}.tif]" in snake
    with pytest.raises(ConfigError, match="order must be one of"):
        plugins.grid_stitching_options("/d", file_names="a", grid=(1, 2), order="spiral")


def test_positions_from_file_options_match_the_documented_macro():
    options = plugins.positions_stitching_options("/data/tiles", output_directory="/data/out")
    assert options == (
        "type=[Positions from file] order=[Defined by TileConfiguration] directory=[/data/tiles] "
        "layout_file=TileConfiguration.txt fusion_method=[Linear Blending] regression_threshold=0.30 "
        "max/avg_displacement_threshold=2.50 absolute_displacement_threshold=3.50 compute_overlap "
        "computation_parameters=[Save computation time (but use more RAM)] image_output=[Write to disk] "
        "output_directory=[/data/out]"
    )
    with pytest.raises(ConfigError, match="fusion must be one of"):
        plugins.positions_stitching_options("/d", fusion="median")


def test_drift_log_is_parsed_per_frame():
    log = ("Correct_3D_Drift\n  computing drifts...\n  applying shifts...\n"
           "    frame 1 correcting drift 0,0,0\n    frame 2 correcting drift -3.25,4.5,0.0\n"
           "    frame 3 correcting drift 7,-2,1\n")
    drift = plugins.parse_drift_log(log, n_frames=3)
    np.testing.assert_array_equal(drift, [[0, 0, 0], [-3.25, 4.5, 0], [7, -2, 1]])
    with pytest.raises(FijiError, match=r"frame\(s\) \[4\]"):
        plugins.parse_drift_log(log, n_frames=4)


def test_without_a_jvm_nothing_is_installed_and_fiji_is_named():
    # in a fresh process: the test session may already run a JVM
    import subprocess
    import sys

    code = (
        "from labelfree.imagej import plugins\n"
        "from labelfree.errors import FijiPluginMissingError\n"
        "assert not plugins._jvm_running()\n"
        "assert not plugins.plugin_installed(plugins.CORRECT_3D_DRIFT)\n"
        "try:\n"
        "    plugins.require_plugin(plugins.GRID_STITCHING)\n"
        "except FijiPluginMissingError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no ImageJ/Fiji runs in this process" in out.stdout


@pytest.mark.jvm
def test_imagej1_alone_has_neither_plugin(ij):
    from labelfree.image import to_dataarray
    from labelfree.registration import correct_drift, stitch

    assert not plugins.plugin_installed(plugins.CORRECT_3D_DRIFT)
    assert not plugins.plugin_installed(plugins.GRID_STITCHING)
    assert plugins.plugin_installed("Gaussian Blur...")  # the check itself sees ImageJ's commands
    movie = to_dataarray(np.random.default_rng(0).random((3, 32, 32)), dims="TYX")
    with pytest.raises(FijiPluginMissingError, match="has no 'Correct 3D drift' command: the plugin is not installed"):
        correct_drift(movie, backend="fiji")
    with pytest.raises(FijiPluginMissingError, match="Grid/Collection stitching"):
        stitch([np.eye(40)] * 2, (1, 2), backend="fiji")
    corrected, _ = correct_drift(movie, backend="auto")  # falls back to Python
    assert corrected.attrs["drift_correction"]["backend"] == "python"
