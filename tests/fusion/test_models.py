import numpy as np
import pytest

from labelfree.errors import ConfigError, ModelFileError
from labelfree.fusion import FinetuneConfig, finetune, load_model, new_model, resolve_starting_model, save_model


@pytest.fixture
def no_download(monkeypatch):
    """Make every cellpose download path fail loudly, and record any call."""
    import cellpose.models
    import cellpose.utils

    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"download attempted: {args}")

    monkeypatch.setattr(cellpose.utils, "download_url_to_file", forbidden)
    monkeypatch.setattr(cellpose.models, "cache_model_path", forbidden)
    return calls


def test_builtin_name_not_cached_gives_clear_error_and_no_download(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))
    with pytest.raises(ModelFileError, match=r"'cyto3' is not available offline.*never downloads"):
        resolve_starting_model("cyto3")
    with pytest.raises(ModelFileError, match="nucleitorch_0 does not exist"):
        load_model("nuclei")
    assert no_download == []
    assert list(tmp_path.iterdir()) == []


def test_missing_file_stops_finetune_before_any_work(tmp_path, no_download):
    cfg = FinetuneConfig(starting_model=str(tmp_path / "absent.pt"))
    with pytest.raises(ModelFileError, match="absent.pt does not exist"):
        finetune([np.zeros((1, 8, 8))], [np.zeros((8, 8), int)], channels=[0], config=cfg)
    with pytest.raises(ModelFileError, match="neither an existing weights file nor a built-in"):
        resolve_starting_model("my_model_name")
    assert no_download == []


def test_cached_builtin_name_resolves_to_the_cached_file(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))
    save_model(new_model(nbase=(4, 8, 8, 8), device="cpu"), tmp_path / "cyto3")
    assert resolve_starting_model("cyto3") == (tmp_path / "cyto3").resolve()
    assert load_model("cyto3", device="cpu").nbase == [2, 4, 8, 8, 8]
    assert resolve_starting_model("scratch") is None


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    import torch

    model = new_model(nbase=(4, 8, 16, 16), diam_mean=20.0, device="cpu", seed=3)
    model.diam_labels = 12.5
    path = save_model(model, tmp_path / "m.pt")
    again = load_model(path, device="cpu")
    assert (again.diam_mean, again.diam_labels, again.nbase) == (20.0, 12.5, [2, 4, 8, 16, 16])
    x = torch.rand(1, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.net(x)[0], again.net(x)[0])


def test_non_model_file_is_rejected(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable torch weights file"):
        load_model(bad)


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="multiple of 16"):
        FinetuneConfig(crop_size=50)
    with pytest.raises(ConfigError, match="4 positive feature widths"):
        FinetuneConfig(nbase=(8, 16))
    with pytest.raises(ConfigError, match="Unknown FinetuneConfig"):
        FinetuneConfig.from_dict({"epochs": 3})


def test_device_is_an_argument_not_a_setting(capsys):
    from labelfree.cli import main
    from labelfree.fusion import FusionConfig
    from labelfree.pipelines import get_pipeline

    with pytest.raises(ConfigError, match=r"device is not a setting any more: pass --device \(CLI\), device= \(macro\)"):
        FusionConfig.from_dict({"device": "cpu"})
    with pytest.raises(ConfigError, match=r"device is not a setting any more: .*finetune\(device=...\)"):
        FinetuneConfig(n_epochs=1).replace(device="cuda")
    device = get_pipeline("fusion").input("device")
    assert device.kind == "choice" and device.choices[0] == "auto" and device.flag == "--device"
    for verb in (["fusion"], ["fusion", "train"], ["fusion", "select"], ["fusion", "eval"]):
        with pytest.raises(SystemExit):
            main([*verb, "--help"])
        assert "--device {auto,cpu,cuda}" in capsys.readouterr().out
