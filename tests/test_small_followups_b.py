"""Small follow-ups: Cutter's messages name the command-line options too (and ImageJ's keep only the macro keys), an
ImageJ table's X, Y named among the marker checks; ``labelfree fusion train -c FILE`` reads the file's
``starting_model`` against the file's folder; ``fusion select`` with a zoo of another object names the option that
uses it, and ``fusion select|eval`` honour ``--set object=`` / ``cell_line=`` (and a config file's).
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.imagej.terms import in_imagej_terms


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """LabelFree's cache folder, empty: the user's cache takes no part."""
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path / "cache"))


# -- 1. Cutter's messages ---------------------------------------------------------------------------------------------
def _auto_warning(image) -> str:
    from labelfree.cutter import detect_markers
    from labelfree.cutter.markers import AutoMarkerWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detect_markers(image)
    said = [str(w.message) for w in caught if issubclass(w.category, AutoMarkerWarning)]
    assert len(said) == 1, said
    return said[0]


def _assert_both_routes(text: str) -> None:
    """The command line's options in the library's text; ImageJ's rewording keeps none of them."""
    assert "(CLI --markers FILE)" in text and "give markers= (points or a nucleus label image)" in text
    imagej = in_imagej_terms(text)
    assert "CLI" not in imagej and "--" not in imagej
    assert "give markers (markers=roi_manager with point selections" in imagej


def test_whole_cells_warning_names_the_command_line_options(shared_data):
    path = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t005.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    text = _auto_warning(tifffile.imread(path))
    assert "seems to show whole cells" in text
    assert "Give the nucleus channel (nucleus_channel; CLI --set nucleus_channel=NAME)" in text
    _assert_both_routes(text)
    assert "Give the nucleus channel (nucleus_channel), or give markers (" in in_imagej_terms(text)


def test_noise_warning_names_the_command_line_options():
    text = _auto_warning(np.random.default_rng(0).normal(1000, 30, (256, 256)).astype(np.uint16))
    assert "only noise" in text and "(nucleus_channel; CLI --set nucleus_channel=NAME)" in text
    _assert_both_routes(text)


def test_a_models_nucleus_channel_the_image_lacks_names_the_command_line_options():
    from labelfree.cutter import CutterConfig
    from labelfree.cutter.segment import _model_bound
    from labelfree.errors import ConfigError

    model = types.SimpleNamespace(config=CutterConfig(nucleus_channel="DAPI", cell_channels=("GFP", "Cy5")))
    with pytest.raises(ConfigError) as caught:
        _model_bound(CutterConfig(cell_channels=("A", "B")), model, "model m.pt", ["A", "B"])
    text = str(caught.value)
    assert text.endswith("Set nucleus_channel to one of them (names or 0-based indices; CLI --set "
                         "nucleus_channel=NAME), or give markers= (points or a nucleus label image) (CLI --markers "
                         "FILE).")
    _assert_both_routes(text)
    with pytest.raises(ConfigError) as caught:
        _model_bound(CutterConfig(nucleus_channel="A"), model, "model m.pt", ["A", "B"])
    assert "Set cell_channels to 2 of them (names or 0-based indices; CLI --set cell_channels=NAME,NAME)" \
        in str(caught.value)
    said = in_imagej_terms(str(caught.value))  # ImageJ counts channels from 1 (cell_channels=1,2)
    assert "Set cell_channels to 2 of them (names or numbers counted from 1), the channels that show" in said
    assert "0-based" not in said


def test_markers_on_the_background_say_imagej_tables_are_calibrated():
    from labelfree.cutter.markers import MarkerWarning
    from labelfree.cutter.prepare import _warn_if_nothing_marked

    mask = np.zeros((32, 32), bool)
    mask[:8, :8] = True
    with pytest.warns(MarkerWarning) as record:
        _warn_if_nothing_marked(mask, np.array([[20.0, 20.0]]), None)
    text = str(record[0].message)
    assert "its one marker lies on the background" in text
    assert ("((y, x) pixels of this image; the X, Y of an ImageJ Results table are calibrated positions, turned "
            "into pixels with the image's pixel size and origin: name the columns x, y for pixels)") in text


# -- 2. labelfree fusion train -c FILE: starting_model against the file's folder --------------------------------------
class _Stop(Exception):
    """Raised by the stand-in of finetune: the config it was given is what is tested."""


@pytest.fixture
def train_files(tmp_path, monkeypatch, own_cache):
    """A two-channel image and its labels in ``tmp_path``, a config folder ``tmp_path/conf``, the current folder
    ``tmp_path/run``, and finetune replaced by a stand-in that keeps its config; returns (run, seen)."""
    import labelfree.fusion

    image = np.random.default_rng(1).integers(0, 255, (2, 64, 64)).astype(np.uint8)
    labels = np.zeros((64, 64), np.uint16)
    labels[10:20, 10:20], labels[40:50, 30:40] = 1, 2
    tifffile.imwrite(tmp_path / "img.tif", image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "B"]})
    tifffile.imwrite(tmp_path / "gt.tif", labels)
    (tmp_path / "conf").mkdir()
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    seen: list = []

    def finetune(*args, config=None, **kwargs):
        seen.append(config.starting_model)
        raise _Stop

    monkeypatch.setattr(labelfree.fusion, "finetune", finetune)
    return tmp_path, seen


def _train(root, *extra):
    return main(["fusion", "train", str(root / "img.tif"), "--labels", str(root / "gt.tif"), "--zoo",
                 str(root / "zoo"), "-c", str(root / "conf" / "train.yaml"), "--device", "cpu", "-q", *extra])


def test_train_config_file_reads_starting_model_against_its_folder(train_files):
    root, seen = train_files
    (root / "conf" / "train.yaml").write_text("starting_model: weights/start.pt\nn_epochs: 1\n")
    (root / "conf" / "weights").mkdir()
    (root / "conf" / "weights" / "start.pt").write_bytes(b"w")
    with pytest.raises(_Stop):
        _train(root)
    assert seen == [str(root / "conf" / "weights" / "start.pt")]


def test_train_config_file_refuses_a_starting_model_only_the_current_folder_has(train_files, capsys):
    root, seen = train_files
    (root / "conf" / "train.yaml").write_text("starting_model: start.pt\n")
    (root / "run" / "start.pt").write_bytes(b"w")
    assert _train(root) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"Config file {root / 'conf' / 'train.yaml'}: starting_model 'start.pt' names nothing relative to the " \
           f"config file's folder ({root / 'conf' / 'start.pt'} does not exist) but names " \
           f"{root / 'run' / 'start.pt'} relative to the current folder" in err
    assert "write the path relative to the file's folder (../run/start.pt)" in err
    assert seen == []


@pytest.mark.parametrize("name", ["cyto3", "nuclei", "scratch"])
def test_train_config_file_keeps_built_in_names(train_files, name):
    root, seen = train_files
    (root / "conf" / "train.yaml").write_text(f"starting_model: {name}\n")
    (root / "run" / name).mkdir()  # a folder of that name here (data, a cluster's scratch) is no model file
    with pytest.raises(_Stop):
        _train(root)
    assert seen == [name]


def test_train_starting_model_given_on_the_command_line_stays_relative_to_the_current_folder(train_files):
    root, seen = train_files
    (root / "conf" / "train.yaml").write_text("starting_model: start.pt\n")
    (root / "conf" / "start.pt").write_bytes(b"w")
    for extra in (["--starting-model", "mine.pt"], ["--set", "starting_model=mine.pt"]):
        with pytest.raises(_Stop):
            _train(root, *extra)
    assert seen == ["mine.pt", "mine.pt"]


# -- 3. fusion select|eval: the zoo's models of another object or cell line -------------------------------------------
@pytest.fixture
def nuclei_zoo(tmp_path, own_cache):
    """A zoo of two tiny nuclei models (cell line GOWT1) for channels A and B, an image of those channels and its
    labels."""
    from labelfree.fusion import ModelZoo, new_model

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    for k, channel in enumerate("AB"):
        net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=k)
        net.diam_labels = 12.0
        zoo.add(net, object="nuclei", channels=[channel], cell_line="GOWT1", validation={"f1": 0.3})
    image = np.random.default_rng(1).integers(0, 255, (2, 64, 64)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "img.tif", image, imagej=True, metadata={"axes": "CYX", "Labels": ["A", "B"]})
    tifffile.imwrite(tmp_path / "gt.tif", np.zeros((64, 64), np.uint16))
    return tmp_path


def _verb(root, verb, *extra):
    return main(["fusion", verb, str(root / "img.tif"), "--labels", str(root / "gt.tif"), "--zoo", str(root / "zoo"),
                 "--device", "cpu", "-q", *extra])


def test_select_names_the_option_that_uses_the_zoos_nuclei_models(nuclei_zoo, capsys):
    assert _verb(nuclei_zoo, "select") == 1
    err = " ".join(capsys.readouterr().err.split())
    zoo = nuclei_zoo / "zoo"
    assert f"The zoo {zoo} has no cyto model trained on channels among ['A', 'B']" in err
    assert ("It holds nuclei models for ['A', 'B']: to use them, run with --object nuclei (`labelfree fusion select "
            f"IMAGES --labels LABELS --zoo {zoo} --object nuclei`; the same as --set object=nuclei; a config file's "
            "object; Python: FusionConfig(object='nuclei')).") in err
    assert "Fiji" not in err


@pytest.mark.parametrize("verb", ["select", "eval"])
@pytest.mark.parametrize("how", ["set", "config", "option"])
def test_select_and_eval_take_object_and_cell_line_as_every_route_gives_them(nuclei_zoo, capsys, verb, how):
    """Were: --set object= and a config file's object were overridden by --object's default (cyto)."""
    if how == "set":
        extra = ["--set", "object=nuclei", "--set", "cell_line=HeLa"]
    elif how == "config":
        (nuclei_zoo / "fusion.yaml").write_text("object: nuclei\ncell_line: HeLa\n")
        extra = ["-c", str(nuclei_zoo / "fusion.yaml")]
    else:
        extra = ["--set", "object=cyto", "--object", "nuclei", "--cell-line", "HeLa"]  # the last given wins
    assert _verb(nuclei_zoo, verb, *extra) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "has no nuclei model" in err and "cell line 'HeLa'" in err and "no cyto model" not in err
    assert "It holds nuclei models of the cell line 'GOWT1' for ['A', 'B']: to use them, run with --cell-line GOWT1" \
        in err
