"""Fusion as a new user meets it: validation images given separately, a zoo that serves some of the
image's channels, a channel named twice for training, a mistyped zoo filter, an interrupted demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from fusion_data import TINY, synthetic_pair

from labelfree.cli import main
from labelfree.errors import InputError, ModelFileError, NoObjectsWarning
from labelfree.image import to_dataarray

pytestmark = pytest.mark.usefixtures("empty_cache")


def _named(image, names):
    return to_dataarray(np.ascontiguousarray(image), dims="CYX", channel_names=list(names))


def _val_loss(images, labels, validation):
    from labelfree.fusion import finetune

    result = finetune(images, labels, channels=["RFP"], validation=validation,
                      config=dict(TINY, n_epochs=1, samples_per_epoch=8), device="cpu")
    return result.history.val_losses


def test_validation_images_are_matched_to_the_training_channels_by_name():
    pairs = [synthetic_pair(s, size=64, n_cells=4) for s in range(3)]
    images = [_named(p[0], ["GFP", "RFP"]) for p in pairs[:2]]
    labels = [p[1] for p in pairs[:2]]
    val_image, val_labels = pairs[2]
    same = _val_loss(images, labels, ([_named(val_image, ["GFP", "RFP"])], [val_labels]))
    # the same validation image with its channels stored in the other order: validated on RFP all the same
    swapped = _val_loss(images, labels, ([_named(val_image[::-1], ["RFP", "GFP"])], [val_labels]))
    assert swapped == same
    # unnamed arrays with the training images' channel count are in the training images' order
    assert _val_loss(images, labels, ([val_image], [val_labels])) == same
    with pytest.raises(InputError, match=r"validation images have channels \['DAPI'\], without .*\['RFP'\]"):
        _val_loss(images, labels, ([_named(val_image[:1], ["DAPI"])], [val_labels]))
    with pytest.raises(InputError, match="2 validation images but 1 validation label images"):
        _val_loss(images, labels, ([_named(val_image, ["GFP", "RFP"])] * 2, [val_labels]))


def test_a_zoo_serving_some_channels_says_which_and_does_not_offer_names_that_swap_models(tmp_path):
    from labelfree.fusion import ModelZoo, new_model, segment

    zoo = ModelZoo(tmp_path / "zoo", create=True)
    for seed, channel in enumerate(["GFP", "Cy5"]):
        net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=seed)
        net.diam_labels = 12.0
        zoo.add(net, object="cyto", channels=[channel])
    image = _named(synthetic_pair(1, size=48, n_cells=3)[0], ["DAPI", "GFP"])
    with pytest.raises(ModelFileError) as err:
        segment(image, zoo=zoo, config={"diameter": 12}, device="cpu")
    text = str(err.value)
    assert "the image's channel(s) ['DAPI']" in text
    assert "use only the channels that have a model: ['GFP']" in text
    assert "--channel GFP;" in text and "channels=['GFP']" in text
    # renaming DAPI,GFP to the zoo's GFP,Cy5 would run the GFP model on DAPI and the Cy5 model on GFP
    assert "--channel-names GFP,Cy5" not in text and "--channel-names NAME0,NAME1" in text
    with pytest.warns(NoObjectsWarning):  # untrained models: the run goes through and finds nothing
        labels = segment(image, zoo=zoo, channels=["GFP"], config={"diameter": 12}, device="cpu")  # the advice works
    assert labels.attrs["labelfree"]["channels"] == ["GFP"]


def test_train_with_a_channel_given_by_name_and_by_index_trains_it_once(tmp_path, capsys):
    paths, labels = [], []
    for seed in range(2):
        image, lab = synthetic_pair(seed, size=64, n_cells=4)
        paths.append(tmp_path / f"im{seed}.tif")
        tifffile.imwrite(paths[-1], image, imagej=True, metadata={"axes": "CYX", "Labels": ["GFP", "RFP"]})
        labels.append(tmp_path / f"lab{seed}.tif")
        tifffile.imwrite(labels[-1], lab.astype(np.uint16))
    zoo = tmp_path / "zoo"
    tiny = ["--set", "nbase=8,16,32,64", "--set", "crop_size=64", "--set", "samples_per_epoch=8",
            "--set", "diam_mean=15"]
    assert main(["fusion", "train", *map(str, paths), "--labels", *map(str, labels), "--zoo", str(zoo),
                 "--channels", "RFP", "1", "--epochs", "1", "--starting-model", "scratch", "--device", "cpu",
                 *tiny]) == 0
    from labelfree.fusion import ModelZoo

    assert [e["channels"] for e in ModelZoo(zoo).entries()] == [["RFP"]]
    assert main(["fusion", "train", *map(str, paths), "--labels", *map(str, labels), "--zoo", str(zoo),
                 "--channels", "RFP", "5", "--epochs", "1", "--starting-model", "scratch", *tiny]) == 1
    assert "Channel '5' not found; the image has channels ['GFP', 'RFP']" in capsys.readouterr().err
    assert len(ModelZoo(zoo).entries()) == 1


def test_zoo_list_refuses_an_object_it_does_not_know(tmp_path, capsys):
    from labelfree.fusion import ModelZoo

    ModelZoo(tmp_path / "zoo", create=True)
    with pytest.raises(SystemExit) as exit_:
        main(["zoo", "list", str(tmp_path / "zoo"), "--object", "nucleus"])  # a typo listed nothing before
    assert exit_.value.code == 2
    assert "invalid choice: 'nucleus'" in capsys.readouterr().err


def test_zoo_list_of_an_empty_zoo_says_so(tmp_path, capsys):
    """An empty zoo, or one without a model of the object asked for, printed nothing at all."""
    from labelfree.fusion import ModelZoo

    ModelZoo(tmp_path / "zoo", create=True)
    assert main(["zoo", "list", str(tmp_path / "zoo")]) == 0
    out = capsys.readouterr()
    assert out.out == "" and f"The zoo {tmp_path / 'zoo'} holds no model;" in out.err
    assert main(["zoo", "list", str(tmp_path / "zoo"), "--object", "cyto", "--cell-line", "HeLa"]) == 0
    assert "holds no model of object cyto, cell line HeLa;" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_an_interrupted_demo_leaves_no_training_folder_in_the_cache(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "LABELFREE_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "labelfree", "demo", "--pipeline", "fusion", "-o",
                             str(tmp_path / "out")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(cache.glob(".training-*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(cache.glob(".training-*")), "the demo did not start training"
        time.sleep(1.0)  # inside the training
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and b"interrupted" in err
    assert not list(cache.glob(".training-*"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _corrupt_zoo(path):
    """A zoo whose only model (channel GFP) has a weights file that changed after filing: loading it fails."""
    from labelfree.fusion import ModelZoo, new_model

    zoo = ModelZoo(path, create=True)
    net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=0)
    net.diam_labels = 12.0
    entry = zoo.add(net, object="cyto", channels=["GFP"])
    (path / entry["file"]).write_bytes(b"changed")
    return zoo


@pytest.mark.parametrize("verb", ["eval", "select"])
def test_eval_and_select_check_label_sizes_before_any_model_and_name_the_file(verb, tmp_path, capsys):
    image, labels = synthetic_pair(2, size=64, n_cells=4)
    tifffile.imwrite(tmp_path / "im.tif", image, imagej=True, metadata={"axes": "CYX", "Labels": ["GFP", "RFP"]})
    tifffile.imwrite(tmp_path / "small.tif", labels[:40, :50].astype(np.uint16))
    zoo = _corrupt_zoo(tmp_path / "zoo")
    assert main(["fusion", verb, str(tmp_path / "im.tif"), "--labels", str(tmp_path / "small.tif"),
                 "--zoo", str(zoo.root), "--channels", "GFP", "--set", "diameter=12", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"The label image {tmp_path / 'small.tif'} has shape (40, 50), but its image {tmp_path / 'im.tif'} " \
           "is 64 x 64 pixels" in err
    assert "does not match the hash" not in err  # no model was loaded


def test_compare_fusions_checks_labels_and_models_before_running_them(tmp_path):
    from labelfree.fusion.tasks import compare_fusions

    image, labels = synthetic_pair(3, size=64, n_cells=4)
    image = _named(image, ["GFP", "RFP"])
    zoo = _corrupt_zoo(tmp_path / "zoo")
    with pytest.raises(InputError, match=r"Label image 0 has shape \(40, 50\), but image 0 is 64 x 64 pixels"):
        compare_fusions([image], [labels[:40, :50]], zoo=zoo, channels=["GFP"], config={"diameter": 12})
    with pytest.raises(InputError, match="1 images but 2 label images"):
        compare_fusions([image], [labels, labels], zoo=zoo, channels=["GFP"], config={"diameter": 12})
    from labelfree.fusion import new_model

    net = new_model(nbase=(4, 8, 8, 8), device="cpu", seed=0)
    with pytest.raises(InputError, match=r"No model given for channel\(s\) \['RFP'\]; models were given for \['GFP'\]"):
        compare_fusions([image], [labels], models={"GFP": net}, config={"diameter": 12})
