"""Config files take values as ``labelfree options``, docs/options.md and ``--set`` write them.

``min_size: auto``, ``features: entropy,gradient`` or JSON ``"track": "false"`` mean in a
config file (CLI ``--config``, Python ``config="file.yaml"``, Fiji ``config_file``) what they
mean after ``--set``; values the file format types itself (``null``, ``false``, ``[a, b]``, 3)
keep working as before, and a bad key or value is one error naming the file and the key.
"""
from __future__ import annotations

import argparse
import json
import typing
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree._config import field_info
from labelfree.cli import config_from_args, main
from labelfree.errors import LabelFreeError


def _write(tmp_path: Path, name: str, data: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _from_file(config_class: type, path: Path):
    return config_from_args(config_class, argparse.Namespace(config=str(path), settings=[]))


def _from_set(config_class: type, key: str, text: str):
    return config_from_args(config_class, argparse.Namespace(config=None, settings=[(key, text)]))


def _classes() -> dict[str, type]:
    from labelfree.pipelines import pipelines, tools

    return {spec.name: spec.config_class for spec in (*pipelines().values(), *tools().values())}


@pytest.mark.parametrize("pipeline, name, text, key, expected", [
    ("motion", "auto.yaml", "min_size: auto\n", "min_size", None),
    ("motion", "auto.json", '{"min_size": "auto"}', "min_size", None),
    ("motion", "none.yaml", "min_size: none\n", "min_size", None),
    ("motion", "features.yaml", "features: entropy,gradient\n", "features", ("entropy", "gradient")),
    ("motion", "features.json", '{"features": "entropy, gradient"}', "features", ("entropy", "gradient")),
    ("motion", "track.json", '{"track": "false"}', "track", False),
    ("motion", "track.yaml", 'track: "no"\n', "track", False),
    ("motion", "classifier.yaml", "classifier: Kernel\n", "classifier", "kernel"),
    ("threshold", "threshold.yaml", "threshold: auto\n", "threshold", None),
    ("cutter", "nucleus.yaml", "nucleus_channel: auto\n", "nucleus_channel", None),
    ("cutter", "cells.yaml", "cell_channels: actin\n", "cell_channels", ("actin",)),
    ("cutter", "cells.json", '{"cell_channels": "0,GFP"}', "cell_channels", (0, "GFP")),
])
def test_a_config_file_reads_values_as_set_does(tmp_path, pipeline, name, text, key, expected):
    config_class = _classes()[pipeline]
    path = _write(tmp_path, name, text)
    value = getattr(_from_file(config_class, path), key)
    assert value == expected and type(value) is type(expected)
    # the same as the text after --set (the value a file holds, without its quotes)
    written = json.loads(text)[key] if name.endswith(".json") else text.split(":", 1)[1].strip().strip('"')
    assert getattr(_from_set(config_class, key, written), key) == expected
    # ... and the Python API and the Fiji command read files the same way
    assert getattr(config_class.coerce(str(path)), key) == expected
    from labelfree.imagej.commands import _read_options
    from labelfree.imagej.fields import command_fields
    from labelfree.pipelines import get_pipeline

    values = _read_options(get_pipeline(pipeline), command_fields(pipeline), {"config_file": str(path)})
    assert values[key] == (list(expected) if isinstance(expected, tuple) else expected)


@pytest.mark.parametrize("pipeline, text, key, expected", [
    ("motion", "min_size: null\n", "min_size", None),
    ("motion", "min_size: 30\n", "min_size", 30),
    ("motion", "track: false\n", "track", False),
    ("motion", "features: [entropy, gradient]\n", "features", ("entropy", "gradient")),
    ("motion", "pyr_scale: 1e-1\n", "pyr_scale", 0.1),
    ("cutter", "nucleus_channel: 1\n", "nucleus_channel", 1),
    ("cutter", "nucleus_channel: DAPI\n", "nucleus_channel", "DAPI"),
])
def test_values_a_file_format_types_itself_keep_working(tmp_path, pipeline, text, key, expected):
    value = getattr(_from_file(_classes()[pipeline], _write(tmp_path, "c.yaml", text)), key)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text, key, written", [
    ("min_size: 010\n", "min_size", "010"),  # YAML 1.1 (PyYAML): octal 8
    ("threshold: 12:30\n", "threshold", "12:30"),  # YAML 1.1: base 60, 750
    ("min_size: 0x10\n", "min_size", "0x10"),  # YAML 1.1: hexadecimal 16
    ("threshold: -1.5e-3\n", "threshold", "-1.5e-3"),
    ("min_size: 1_000\n", "min_size", "1_000"),
])
def test_yaml_numbers_are_read_as_set_reads_them(tmp_path, text, key, written):
    """A YAML config's number means what ``--set`` makes of its text, or is the same error; PyYAML's YAML 1.1
    read ``010`` as 8 and ``12:30`` as 750 without a word."""
    from labelfree.threshold import ThresholdConfig

    path = _write(tmp_path, "c.yaml", text)
    try:
        expected = getattr(_from_set(ThresholdConfig, key, written), key)
    except LabelFreeError:
        with pytest.raises(LabelFreeError, match=key):
            _from_file(ThresholdConfig, path)
        return
    value = getattr(_from_file(ThresholdConfig, path), key)
    assert value == expected and type(value) is type(expected)


def test_words_a_batch_option_gives_its_own_meaning_stay_that_word(tmp_path):
    from labelfree.batch import BatchConfig

    # memory_limit 'auto' shares the machine's memory; null (or 'none', as --memory-limit none) is no limit
    assert BatchConfig.from_file(_write(tmp_path, "a.yaml", "memory_limit: auto\n")).memory_limit == "auto"
    assert BatchConfig.from_file(_write(tmp_path, "b.yaml", "memory_limit: none\n")).memory_limit is None
    assert BatchConfig.from_file(_write(tmp_path, "c.yaml", "memory_limit: 4GB\n")).memory_limit == "4GB"
    # a text option keeps its text: a Fiji folder named auto
    assert BatchConfig.from_file(_write(tmp_path, "d.yaml", "fiji_dir: auto\n")).fiji_dir == "auto"
    batch = BatchConfig.from_file(_write(tmp_path, "e.json", '{"overwrite": "true", "tile": "auto"}'))
    assert batch.overwrite is True and batch.tile is None


_WORDS = ("auto", "none", "null", "", "true", "false", "no", "1", "0", "3", "2.5", "-1", "a,b", "1,2", "x")


def _takes_text(tp) -> bool:
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, type(int | None)) else (tp,)
    return any(a is str or typing.get_origin(a) is dict or a is dict for a in args)


def test_every_option_reads_every_word_in_a_file_as_set_does(tmp_path):
    """Over every option of every pipeline and tool: a file's text gives the value ``--set`` gives, or an error
    where ``--set`` gives one (options that take text keep it as text, tested above)."""
    checked = 0
    for command, config_class in _classes().items():
        for info in field_info(config_class):
            if _takes_text(info.type):
                continue
            words = list(_WORDS)
            if typing.get_origin(info.type) is typing.Literal:
                choices = [("true" if c else "false") if isinstance(c, bool) else str(c)
                           for c in typing.get_args(info.type)]
                words += choices + [choices[-1].upper()]
            for word in words:
                try:
                    expected = getattr(_from_set(config_class, info.name, word), info.name)
                except LabelFreeError:
                    expected = LabelFreeError
                path = _write(tmp_path, "c.json", {info.name: word})
                try:
                    got = getattr(_from_file(config_class, path), info.name)
                except LabelFreeError:
                    got = LabelFreeError
                assert got == expected and type(got) is type(expected), (command, info.name, word, got, expected)
                checked += 1
    assert checked > 1000


def test_a_bad_value_or_key_in_a_file_names_the_file_and_the_key(tmp_path, capsys):
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.zeros((2, 32, 32), np.uint8), imagej=True, metadata={"axes": "TYX"})
    for name, text, words in (("bad.yaml", "min_size: lots\n", ("min_size", "'lots'", "whole number")),
                              ("key.yaml", "bogus: 1\n", ("bogus", "Valid options are")),
                              ("word.json", '{"fill_holes": "maybe"}', ("fill_holes", "true or false"))):
        path = _write(tmp_path, name, text)
        assert main(["threshold", str(movie), "-o", str(tmp_path / "out"), "--config", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"labelfree: error: Config file {path}: ") and err.count("\n") == 1, err
        assert all(w in err for w in words), err
        assert not (tmp_path / "out").exists()


def test_the_command_line_runs_with_a_config_file_of_written_values(tmp_path, capsys):
    movie = tmp_path / "movie.tif"
    frames = np.zeros((2, 48, 48), np.uint8)
    frames[:, 10:20, 10:20] = 200
    tifffile.imwrite(movie, frames, imagej=True, metadata={"axes": "TYX"})
    path = _write(tmp_path, "cfg.yaml", "threshold: auto\nfill_holes: 'false'\nmin_size: '5'\n")
    assert main(["threshold", str(movie), "-o", str(tmp_path / "out"), "--config", str(path), "-q"]) == 0
    record = json.loads((tmp_path / "out" / "movie_provenance.json").read_text())
    assert record["config"]["threshold"] is None and record["config"]["fill_holes"] is False
    assert record["config"]["min_size"] == 5


# -- entropy_size: odd ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [4, 8, 100])
def test_an_even_entropy_window_is_refused_when_the_config_is_made(tmp_path, capsys, size):
    from labelfree.errors import ConfigError
    from labelfree.motion import MotionConfig

    with pytest.raises(ConfigError, match=rf"entropy_size must be an odd number.*got {size}\. Use {size - 1} or"):
        MotionConfig(entropy_size=size)
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.zeros((2, 32, 32), np.uint8), imagej=True, metadata={"axes": "TYX"})
    assert main(["motion", str(movie), "-o", str(tmp_path / "out"), "--set", f"entropy_size={size}"]) == 1
    err = capsys.readouterr().err
    assert "entropy_size must be an odd number" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
    assert MotionConfig(entropy_size=size + 1).entropy_size == size + 1


def test_the_entropy_window_s_help_says_odd():
    from labelfree.motion import MotionConfig
    from labelfree.options import config_fields

    field = next(f for f in config_fields(MotionConfig) if f.key == "entropy_size")
    assert "odd" in field.help


def test_settings_chosen_per_plane_are_said_in_the_log_line():
    """Threshold's automatic level of every frame was left out of the 'automatic settings' line (scalars only)."""
    import labelfree.threshold
    from labelfree._config import describe_automatic
    from labelfree.image import to_dataarray

    frame = np.full((40, 40), 100, np.uint16)
    frame[5:15, 5:15] = 1000
    other = frame + 100
    same = labelfree.threshold.segment(to_dataarray(np.stack([frame] * 4), dims="TYX"))
    assert describe_automatic(same.attrs["labelfree"]) == "threshold 100 (all 4 planes)"
    mixed = labelfree.threshold.segment(to_dataarray(np.stack([frame, other]), dims="TYX"))
    assert describe_automatic(mixed.attrs["labelfree"]) == "threshold 100-200 (2 planes)"
    assert describe_automatic(labelfree.threshold.segment(frame).attrs["labelfree"]) == "threshold 100"
