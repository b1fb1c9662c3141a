import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.fusion import ModelZoo, powerset, select_channels


def test_powerset_lists_every_nonempty_subset():
    assert powerset(["a", "b", "c"]) == [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")]


@pytest.mark.slow
def test_selection_table_covers_train_x_eval_subsets(trained, synthetic_set):
    images, labels = synthetic_set
    models = {("A", "B"): trained.model, ("A",): trained.model, ("B",): trained.model}
    best, table = select_channels(images[8:], labels[8:], models=models, channels=["A", "B"])
    assert len(table) == 4 * 3  # (A+B, A, B, CW) x (A, B, A+B)
    assert set(table["train"]) == {"A+B", "A", "B", "CW"} and set(table["evaluate"]) == {"A", "B", "A+B"}
    assert best["f1"] == table["f1"].max()
    assert best["evaluate"] == "A+B"  # fusing both partial channels wins
    with pytest.raises(InputError, match="at least one trained model"):
        select_channels(images[8:], labels[8:], models={}, channels=["A", "B"])


@pytest.mark.slow
def test_segment_and_cli_with_a_zoo(trained, synthetic_set, tmp_path, capsys):
    import tifffile

    from labelfree.cli import main
    from labelfree.fusion import segment

    images, labels = synthetic_set
    zoo = ModelZoo(tmp_path / "zoo", create=True)
    zoo.add(trained.model, object="nuclei", channels=list(trained.channels), cell_line="synthetic", validation={"f1": 0.9})
    out = segment(images[8], zoo=tmp_path / "zoo", config={"object": "nuclei"})
    assert out.dims == ("Y", "X") and out.max() >= 5
    assert list(out.attrs["labelfree"]["models"]["C0"]) == ["id", "file", "sha256"]
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, images[8])
    lab_path = tmp_path / "lab.tif"
    tifffile.imwrite(lab_path, labels[8].astype(np.uint16))
    rc = main(["fusion", "segment", str(path), "--zoo", str(tmp_path / "zoo"), "--dims", "CYX",
               "--set", "object=nuclei", "--out", str(tmp_path / "out")])
    assert rc == 0
    written = tifffile.imread(tmp_path / "out" / "img_labels.tif")
    assert np.array_equal(np.squeeze(written), out.values)
    rc = main(["fusion", "eval", str(path), "--labels", str(lab_path), "--zoo", str(tmp_path / "zoo"),
               "--dims", "CYX", "--object", "nuclei"])
    text = capsys.readouterr().out
    assert rc == 0 and "flow_average" in text and "staple" in text and "channel C1" in text
    named = ModelZoo(tmp_path / "named", create=True)  # the same model filed under real channel names
    named.add(trained.model, object="nuclei", channels=["DAPI", "GFP"], cell_line="synthetic")
    rc = main(["fusion", "eval", str(path), "--labels", str(lab_path), "--zoo", str(named.root),
               "--dims", "CYX", "--channel-names", "DAPI,GFP", "--object", "nuclei"])
    renamed = capsys.readouterr().out
    assert rc == 0 and "channel GFP" in renamed and "channel C1" not in renamed
    table = text[text.index("precision"):]  # the same figures under the new names
    assert renamed.replace("DAPI", "C0").replace("GFP", "C1").split() == table.split()
