"""A provenance record of an older LabelFree whose config holds a setting that is an argument now."""

import json
import logging

import pytest

from labelfree.cutter import CutterConfig
from labelfree.errors import ConfigError
from labelfree.fusion import FusionConfig


def _record(tmp_path, pipeline, config):
    path = tmp_path / f"{pipeline}_provenance.json"
    path.write_text(json.dumps({"pipeline": pipeline, "version": "0.1.0", "created": "2026-12-01T10:00:00+00:00",
                                "config": config}), encoding="utf-8")
    return path


def test_an_older_records_device_and_model_file_are_left_out_with_a_warning_each(tmp_path, caplog):
    """Was: ConfigError "device is not a setting any more", which no option could get past: every Cutter and
    Fusion record written before device became an argument could not be repeated."""
    config = {**CutterConfig().to_dict(), "n_steps": 7, "device": "cpu", "model_file": "/models/cells.pt"}
    path = _record(tmp_path, "cutter", config)
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        cfg = CutterConfig.coerce(path)
    assert cfg.n_steps == 7  # the record's settings are read
    said = [r.getMessage() for r in caplog.records if "an argument of this one" in r.getMessage()]
    assert len(said) == 2 and "device='cpu'" in said[0] and "pass --device (CLI)" in said[0], said
    assert "model_file='/models/cells.pt'" in said[1] and "pass --model-file (CLI)" in said[1], said
    fusion = _record(tmp_path, "fusion", {**FusionConfig().to_dict(), "device": "cuda"})
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert FusionConfig.coerce(fusion) == FusionConfig()
    assert any("device='cuda'" in r.getMessage() for r in caplog.records)


def test_a_config_file_that_is_no_record_still_refuses_a_moved_setting(tmp_path):
    path = tmp_path / "cutter.json"
    path.write_text(json.dumps({"device": "cpu"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="device is not a setting any more"):
        CutterConfig.coerce(path)
