"""docs/python.md runs as written: its ```python blocks, in order, in one namespace, in an empty folder (napari
stood in by a recording viewer where it is not installed); what they print is what the page says."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python.md"


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.S | re.M)


class _Viewer:
    """What a napari.Viewer receives: each layer's data, scale and metadata by name."""

    def __init__(self, show: bool = True) -> None:
        self.layers: dict[str, types.SimpleNamespace] = {}

    def _add(self, data, *, scale=None, name=None, metadata=None):
        self.layers[name] = types.SimpleNamespace(data=data, scale=scale, metadata=metadata or {})
        return self.layers[name]

    def add_image(self, data, **kwargs):
        return self._add(data, **kwargs)

    def add_labels(self, data, **kwargs):
        assert np.issubdtype(np.asarray(data).dtype, np.integer)
        return self._add(data, **kwargs)


@pytest.fixture
def napari_or_stand_in(monkeypatch):
    try:
        import napari  # noqa: F401

        yield False
    except ImportError:
        monkeypatch.setitem(sys.modules, "napari", types.SimpleNamespace(Viewer=_Viewer))
        yield True


def test_the_page_is_linked_from_the_readme_and_concepts():
    assert "docs/python.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(python.md)" in (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8")


def test_every_python_example_of_the_page_runs_and_prints_what_it_says(tmp_path, monkeypatch, napari_or_stand_in):
    blocks = _blocks()
    assert len(blocks) >= 9, "docs/python.md lost its examples"
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "python_md"}
    said = {}  # what each block printed, by a name the block defines
    for i, block in enumerate(blocks):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(block, f"docs/python.md block {i + 1}", "exec"), scope)  # noqa: S102
            except Exception as exc:  # noqa: BLE001 - said with the block
                pytest.fail(f"docs/python.md block {i + 1} fails: {type(exc).__name__}: {exc}\n{block}")
        key = next((name for name in ("scores", "back", "record", "kept", "paths", "cfg", "again", "steps", "chunked",
                                      "viewer")
                    if re.search(rf"^{name} = ", block, flags=re.M)), f"block {i + 1}")
        said[key] = printed.getvalue().splitlines()
    assert said["scores"][0].startswith("('T', 'Y', 'X') uint16 ")
    assert said["back"] == ["('T', 'Y', 'X')", "('time', 'y', 'x')"]
    assert said["record"] == ["threshold True"]
    assert said["paths"][1] == "True"
    assert said["cfg"][0].startswith("ThresholdConfig.min_size must be a whole number") and "got -3." in said["cfg"][0]
    assert said["again"][0] == "True"
    assert said["steps"][-1] == "Cancelled by the user; no output was written."
    done, total = scope["steps"][-1]
    assert done == total > 1
    assert said["kept"] == ["movie1_edited_labels.tif"]
    assert said["chunked"] == ["[[0, 2], [2, 4]]", "True"]
    assert (tmp_path / "results" / "movie1_labels.tif").is_file()
    if napari_or_stand_in:
        viewer = scope["viewer"]
        assert viewer.layers["labels"].scale == viewer.layers["movie"].scale == (1.0, 1.0, 1.0)
        assert viewer.layers["labels"].metadata["labelfree"]["pipeline"] == "threshold"
        assert said["viewer"] == []


def test_the_napari_scale_comes_from_the_coordinates(napari_or_stand_in):
    """The page's layer_scale on a calibrated movie: the steps of its coordinates (0.5 µm, 300 s)."""
    from labelfree import to_dataarray

    scope: dict = {}
    block = next(b for b in _blocks() if "def layer_scale" in b)
    exec(block.split("viewer = ")[0], scope)  # noqa: S102 - the function only
    movie = to_dataarray(np.zeros((3, 8, 10), np.uint8), dims="TYX", scale={"T": 300.0, "Y": 0.5, "X": 0.5})
    assert scope["layer_scale"](movie) == (300.0, 0.5, 0.5)
    assert scope["layer_scale"](movie[:, ::2, ::2]) == (300.0, 1.0, 1.0)
    assert scope["layer_scale"](movie[:1]) == (300.0, 0.5, 0.5)
