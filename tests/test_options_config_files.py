"""How a user's settings reach a config: keys given twice, files of other formats, booleans written
on/off, and unknown keys that are a near miss or another command's option.

Each case goes through the command line's own reader (``--config`` / ``--set``), so what is checked
is what a user of ``labelfree <pipeline>`` gets.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from labelfree.batch.config import BatchConfig
from labelfree.batch.inputs import read_manifest
from labelfree.cli import config_from_args
from labelfree.errors import ConfigError
from labelfree.imagej.fields import command_fields
from labelfree.motion.config import MotionConfig
from labelfree.options import parse_macro_options
from labelfree.threshold import ThresholdConfig


def _from_file(config_class: type, path: Path):
    return config_from_args(config_class, argparse.Namespace(config=str(path), settings=[]))


def _from_set(config_class: type, *settings: str):
    pairs = [tuple(s.split("=", 1)) for s in settings]
    return config_from_args(config_class, argparse.Namespace(config=None, settings=pairs))


@pytest.mark.parametrize("name, text, said", [
    ("twice.json", '{"min_size": 5, "dark_objects": true, "min_size": 7}', "the key 'min_size' twice (5, then 7)"),
    ("twice.yaml", "min_size: 5\ndark_objects: true\nmin_size: 7\n", "the key 'min_size' twice (lines 1 and 3)"),
    ("quoted.yaml", "min_size: 5\n'min_size': 7\n", "the key 'min_size' twice (lines 1 and 2)"),
])
def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path, name, text, said):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _from_file(ThresholdConfig, path)
    assert str(err.value) == f"Config file {path} gives {said}; give each option once."


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("threshold: 3.5\n<<: {min_size: 5, dark_objects: true}\nmin_size: 9\n", encoding="utf-8")
    cfg = _from_file(ThresholdConfig, path)
    assert (cfg.min_size, cfg.dark_objects, cfg.threshold) == (9, True, 3.5)


def test_a_key_given_twice_in_a_yaml_manifest_is_a_manifest_error(tmp_path):
    manifest = tmp_path / "inputs.yaml"
    manifest.write_text("- path: a.tif\n  path: b.tif\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"Manifest .* is not valid YAML: .*the key 'path' twice \(lines 1 and 2\)"):
        read_manifest(manifest)


@pytest.mark.parametrize("name", ["settings.toml", "settings.txt", "settings"])
def test_a_config_file_of_another_format_names_the_formats_and_the_suffix_rule(tmp_path, name):
    path = tmp_path / name
    path.write_text("min_size: 5\n", encoding="utf-8")  # YAML, but not named *.yaml
    with pytest.raises(ConfigError) as err:
        _from_file(ThresholdConfig, path)
    suffix = f"the suffix {path.suffix}" if path.suffix else "no suffix"
    assert str(err.value) == (
        f"Config file {path} is not valid JSON: Expecting value: line 1 column 1 (char 0). Config files are JSON, "
        f"or YAML named *.yaml or *.yml: the suffix says which, and a file with {suffix} is read as JSON.")


def test_a_bad_json_file_named_json_says_json_only(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{min_size: 5}", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _from_file(ThresholdConfig, path)
    assert str(err.value).startswith(f"Config file {path} is not valid JSON: Expecting property name")
    assert "suffix" not in str(err.value)


@pytest.mark.parametrize("word, value", [("on", True), ("ON", True), ("off", False), ("Off", False)])
def test_on_and_off_are_booleans_everywhere_as_in_yaml(tmp_path, word, value):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(f"dark_objects: {word}\n", encoding="utf-8")
    json_file = tmp_path / "c.json"
    json_file.write_text(f'{{"dark_objects": "{word}"}}', encoding="utf-8")
    assert _from_file(ThresholdConfig, yaml_file).dark_objects is value  # YAML read on/off before
    assert _from_file(ThresholdConfig, json_file).dark_objects is value
    assert _from_set(ThresholdConfig, f"dark_objects={word}").dark_objects is value
    macro = parse_macro_options(f"dark_objects={word} fill_holes={word}", command_fields("threshold"))
    assert macro == {"dark_objects": value, "fill_holes": value}


def test_other_words_are_still_no_booleans():
    with pytest.raises(ConfigError, match=r"dark_objects='y' is not valid; expected true or false\."):
        _from_set(ThresholdConfig, "dark_objects=y")


def test_a_near_miss_key_in_a_config_file_says_which_was_meant(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("fill_hole: false\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _from_file(ThresholdConfig, path)
    assert str(err.value) == (
        f"Config file {path}: Unknown ThresholdConfig option(s): fill_hole (did you mean fill_holes?). "
        "Valid options are: dark_objects, fill_holes, method, min_size, split_touching, threshold.")


def test_another_commands_keys_in_a_config_file_name_their_owner(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("winsize: 21\nzzz: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _from_file(ThresholdConfig, path)
    assert str(err.value).startswith(
        f"Config file {path}: Unknown ThresholdConfig option(s): winsize (an option of labelfree motion), zzz. "
        "Valid options are: ")


def test_a_pipeline_option_in_a_batch_config_names_the_pipelines():
    with pytest.raises(ConfigError) as err:
        BatchConfig.from_dict({"min_size": 3})
    assert str(err.value).startswith(
        "Unknown BatchConfig option(s): min_size (an option of labelfree threshold, labelfree motion, "
        "labelfree fusion). Valid options are: ")


def test_valid_config_files_read_as_before(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("min_size: 010\ndark_objects: yes\nthreshold: auto\nmethod: Li\n", encoding="utf-8")
    cfg = _from_file(ThresholdConfig, path)
    assert cfg == ThresholdConfig(method="li", dark_objects=True, min_size=10, threshold=None)
    assert MotionConfig.from_dict({"min_size": 50}).min_size == 50


@pytest.mark.parametrize("word", ["no", "off", "0", "No", "OFF", "false"])
def test_the_choice_false_takes_the_words_of_false_everywhere(tmp_path, word):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(f"drift_correction: '{word}'\n", encoding="utf-8")
    json_file = tmp_path / "c.json"
    json_file.write_text(f'{{"drift_correction": "{word}"}}', encoding="utf-8")
    assert _from_file(MotionConfig, yaml_file).drift_correction is False
    assert _from_file(MotionConfig, json_file).drift_correction is False
    assert _from_set(MotionConfig, f"drift_correction={word}").drift_correction is False
    macro = parse_macro_options(f"drift_correction={word}", command_fields("motion"))
    assert macro == {"drift_correction": False}


def test_the_other_choices_stay_as_they_were():
    assert _from_set(MotionConfig, "drift_correction=Fiji").drift_correction == "fiji"
    assert _from_set(MotionConfig, "drift_correction=auto").drift_correction == "auto"
    with pytest.raises(ConfigError, match=r"drift_correction='yes' is not valid; expected one of false, python, "
                                          r"fiji, auto\."):
        _from_set(MotionConfig, "drift_correction=yes")


@pytest.mark.parametrize("config_class, name, text, section, keys, command", [
    (MotionConfig, "c.yaml", "motion:\n  min_size: 5\n  track: false\n", "motion", "min_size, track",
     "labelfree motion"),
    (ThresholdConfig, "c.json", '{"threshold": {"min_size": 5}}', "threshold", "min_size", "labelfree threshold"),
    (BatchConfig, "c.yaml", "cutter:\n  min_size: 5\n", "cutter", "min_size", "BatchConfig"),
])
def test_options_under_a_section_are_refused_with_that_advice(tmp_path, config_class, name, text, section, keys,
                                                              command):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config_class.from_file(path)
    assert str(err.value) == (
        f"Config file {path} holds options under a section {section!r} (keys: {keys}); a config file holds the "
        f"options of one command ({command}) at its top level, without sections: move them out of {section!r}.")


def test_a_mapping_option_that_is_no_section_still_reads(tmp_path):
    path = tmp_path / "batch.yaml"
    path.write_text("inputs:\n  zoo: models\nn_workers: 3\n", encoding="utf-8")
    cfg = BatchConfig.from_file(path)
    assert (cfg.inputs, cfg.n_workers) == ({"zoo": "models"}, 3)


def test_a_near_miss_macro_key_says_which_was_meant():
    fields = command_fields("threshold")
    keys = ", ".join(f.key for f in fields)
    with pytest.raises(ConfigError) as err:
        parse_macro_options("min_sise=5", fields)
    assert str(err.value) == f"Unknown option 'min_sise' (did you mean min_size?); valid keys are: {keys}."
    with pytest.raises(ConfigError) as err:
        parse_macro_options("zzz=5", fields)
    assert str(err.value) == f"Unknown option 'zzz'; valid keys are: {keys}."
