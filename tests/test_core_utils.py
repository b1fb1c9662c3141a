import dataclasses
import json
from typing import Literal

import pytest

from labelfree._config import PipelineConfig, file_sha256, provenance
from labelfree._deps import require
from labelfree._progress import Progress
from labelfree.errors import Cancelled, ConfigError, MissingDependencyError


@dataclasses.dataclass
class DemoConfig(PipelineConfig):
    radius: int = 5
    sizes: tuple = (1, 2)
    name: str = "x"


def test_config_round_trip_and_files(tmp_path):
    cfg = DemoConfig(radius=3)
    assert DemoConfig.from_dict(json.loads(cfg.to_json())) == cfg
    (tmp_path / "c.json").write_text('{"radius": 9}')
    (tmp_path / "c.yaml").write_text("name: y\nsizes: [3, 4]\n")
    assert DemoConfig.coerce(tmp_path / "c.json").radius == 9
    assert DemoConfig.coerce(str(tmp_path / "c.yaml")).sizes == (3, 4)
    assert cfg.replace(name="z").name == "z"


def test_a_yaml_config_of_comments_only_gives_the_defaults(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "notes.yml").write_text("# radius: 9 (kept for later)\n")
    assert DemoConfig.from_file(tmp_path / "empty.yaml") == DemoConfig()
    assert DemoConfig.from_file(tmp_path / "notes.yml") == DemoConfig()
    (tmp_path / "list.yaml").write_text("- radius\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        DemoConfig.from_file(tmp_path / "list.yaml")


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="Unknown DemoConfig option\\(s\\): radus.*Valid options are"):
        DemoConfig.from_dict({"radus": 1})
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ConfigError, match="not valid JSON"):
        DemoConfig.from_file(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="Cannot read"):
        DemoConfig.from_file(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="must be a DemoConfig"):
        DemoConfig.coerce(42)


@dataclasses.dataclass
class ChoiceConfig(PipelineConfig):
    mode: Literal["fast", "exact"] = "fast"
    switch: Literal[False, "on"] = False
    label: str = "any"

    def __post_init__(self) -> None:
        self._check_choices()


def test_literal_fields_are_checked_from_the_type_hints():
    assert ChoiceConfig(mode="exact", switch="on", label="free text").mode == "exact"
    with pytest.raises(ConfigError, match="mode must be one of 'fast', 'exact'; got 'slow'"):
        ChoiceConfig(mode="slow")
    with pytest.raises(ConfigError, match="switch must be one of False, 'on'; got 'off'"):
        ChoiceConfig.from_dict({"switch": "off"})


def test_provenance_records_config_and_model_hash(tmp_path):
    model = tmp_path / "m.bin"
    model.write_bytes(b"abc")
    rec = provenance("demo", DemoConfig(), model_file=model)
    assert rec["pipeline"] == "demo" and rec["config"]["radius"] == 5
    assert rec["model_sha256"] == file_sha256(model)
    assert rec["model_sha256"].startswith("ba7816bf")  # sha256("abc")
    json.dumps(rec)


def test_progress_callback_and_cancel():
    seen = []
    with Progress(lambda d, t, m: seen.append((d, t)), total=3) as bar:
        for _ in range(3):
            bar.update()
    assert seen == [(1, 3), (2, 3), (3, 3)]

    class Sink:
        def __init__(self):
            self.n = 0
            self.cancelled = False

        def update(self, n):
            self.n += n
            self.cancelled = self.n >= 2

    sink = Sink()
    with pytest.raises(Cancelled, match="Cancelled"):
        with Progress(sink, total=5) as bar:
            for _ in range(5):
                bar.update()
    assert sink.n == 2


def test_missing_dependency_names_install_command():
    with pytest.raises(MissingDependencyError, match='pip install "no_such_pkg_xyz"'):
        require("no_such_pkg_xyz")
    cpu_build = r"pip install torch==2\.13\.0 --index-url https://download\.pytorch\.org/whl/cpu"
    with pytest.raises(ImportError, match=cpu_build):  # the CPU build: PyPI's Linux torch is the CUDA one
        require("torch.no_such_submodule")
    with pytest.raises(ImportError, match=cpu_build + r", then pip install \"labelfree\[cellpose\]\""):
        require("cellpose.no_such_submodule")


def test_progress_with_real_tqdm_bar():
    import tqdm
    import io

    bar = tqdm.tqdm(total=None, file=io.StringIO())
    with Progress(bar, total=4, desc="x") as p:
        for _ in range(4):
            p.update()
    assert bar.n == 4 and bar.total == 4
    with Progress(True, total=2, desc="own bar") as p:
        p.update(2)
    assert p.done == 2
