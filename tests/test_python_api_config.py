"""A config object changed after it was built (``cfg.min_size = -3`` in a notebook) is checked again when it
enters a pipeline: the constructor's ConfigError, its conversions, and the record it was read from kept."""

from __future__ import annotations

import numpy as np
import pytest

import labelfree.motion as M
import labelfree.threshold as T
from labelfree import datasets
from labelfree._config import provenance_of
from labelfree.errors import ConfigError
from labelfree.pipelines import pipelines, tools


def _movie():
    return datasets.synthetic_movie(n_frames=3, shape=(64, 64), n_cells=2, cell_radius=8, seed=2)[0]


def _image():
    img = np.zeros((40, 40), np.uint16)
    img[5:15, 5:15] = 900
    img[25:35, 20:32] = 700
    return img + np.random.default_rng(0).integers(0, 50, img.shape).astype(np.uint16)


def _constructor_message(cls, field, value):
    with pytest.raises(ConfigError) as exc:
        cls(**{field: value})
    return str(exc.value)


@pytest.mark.parametrize("field, value", [("min_size", -3), ("winsize", -1), ("levels", "three"),
                                          ("flow_reference", "blck")])
def test_a_motion_config_changed_after_it_was_built_gets_the_constructors_error(field, value):
    cfg = M.MotionConfig()
    setattr(cfg, field, value)
    with pytest.raises(ConfigError) as exc:
        M.segment(_movie(), config=cfg)
    assert str(exc.value) == _constructor_message(M.MotionConfig, field, value)
    assert str(exc.value).startswith(f"MotionConfig.{field} must be ")


def test_a_threshold_config_changed_after_it_was_built_names_the_config_and_the_choices():
    cfg = T.ThresholdConfig()
    cfg.method = "otsuu"
    with pytest.raises(ConfigError) as exc:
        T.segment(_image(), config=cfg)
    assert str(exc.value) == _constructor_message(T.ThresholdConfig, "method", "otsuu")
    assert "ThresholdConfig.method must be one of 'otsu', 'li', 'triangle'; got 'otsuu'." in str(exc.value)


def _configs():
    seen = {}
    for spec in (*pipelines().values(), *tools().values()):
        seen.setdefault(spec.config_class.__name__, spec.config_class)
    return sorted(seen.items())


@pytest.mark.parametrize("name, cls", _configs())
def test_every_config_class_checks_a_changed_whole_number_again(name, cls):
    """Each pipeline's and tool's config: a whole-number field with a lower bound set below it after building."""
    from labelfree._config import field_info

    info = next((i for i in field_info(cls) if i.type is int and (i.bounds[0] is not None or i.bounds[1] is not None)),
                None)
    if info is None:
        pytest.skip(f"{name} has no bounded whole-number field")
    ge, gt = info.bounds[0], info.bounds[1]
    bad = int(ge) - 1 if ge is not None else int(gt)
    cfg = cls()
    setattr(cfg, info.name, bad)
    with pytest.raises(ConfigError) as exc:
        cls.coerce(cfg)
    assert str(exc.value) == _constructor_message(cls, info.name, bad)


def test_a_changed_value_is_converted_as_the_constructor_converts_it_and_the_users_object_is_left_alone():
    cfg = T.ThresholdConfig()
    cfg.min_size = 12.0  # a whole float, as a slider gives it
    labels = T.segment(_image(), config=cfg)
    recorded = labels.attrs["labelfree"]["config"]["min_size"]
    assert recorded == 12 and type(recorded) is int
    assert type(cfg.min_size) is float  # the user's object: not changed behind their back


def test_a_config_read_from_a_record_and_then_changed_keeps_its_record():
    first = T.segment(_image())
    cfg = T.ThresholdConfig.coerce(first.attrs["labelfree"])
    record = provenance_of(cfg)
    assert record is not None
    cfg.min_size = 5
    again = T.ThresholdConfig.coerce(cfg)
    assert again is not cfg and again.min_size == 5
    assert provenance_of(again) is record
    cfg.min_size = -1
    with pytest.raises(ConfigError, match=r"ThresholdConfig\.min_size must be a whole number .*; got -1\."):
        T.ThresholdConfig.coerce(cfg)
