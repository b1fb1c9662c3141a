"""LabelFree as pip installs it from a wheel (no repository beside it): the package data, the metadata, and
`labelfree fiji install`, which reads the repository's environment.yml when there is one."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

import labelfree

REPO = Path(labelfree.__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPO / "pyproject.toml").is_file(), reason="needs the repository to build the wheel"),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from this checkout (with the build backend installed here: no network)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(out), str(REPO)], check=True, capture_output=True, timeout=300)
    (found,) = out.glob("labelfree-*.whl")
    return found


@pytest.fixture(scope="module")
def wheel_site(wheel, tmp_path_factory) -> Path:
    """A folder pip installed the wheel into (without its dependencies, which this environment has)."""
    site = tmp_path_factory.mktemp("wheel-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return site


@pytest.fixture
def fiji_dir(tmp_path):
    root = tmp_path / "Fiji.app"
    (root / "jars").mkdir(parents=True)
    (root / "jars" / "ij-1.54f.jar").write_bytes(b"")
    return root


def test_the_wheel_holds_the_package_data_and_the_metadata(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(whl.read(meta_name))
    for data in ("data/sample_movie.tif", "data/sample_truth.tif", "imagej/java/labelfree/LabelFreeCommand.java",
                 "imagej/java/labelfree/LabelFreeRois.java"):
        assert f"labelfree/{data}" in names, data
    assert meta["Version"] == labelfree.__version__  # what `labelfree --version` prints
    assert set(meta.get_all("Provides-Extra")) >= {"torch", "cellpose", "imagej", "dask", "zarr", "cluster",
                                                   "report", "all", "dev"}


def test_requires_python_admits_only_the_versions_every_extra_installs_on(wheel):
    """Was ">=3.10": zarr 3 (the zarr extra, hence also all and dev) has no release for 3.10, and numpy < 2.1
    (pinned for cellpose 3.1.x) has no wheels for 3.13."""
    with zipfile.ZipFile(wheel) as whl:
        meta = email.message_from_bytes(whl.read(next(n for n in whl.namelist() if n.endswith("/METADATA"))))
    allowed = meta["Requires-Python"]
    requires = " ".join(meta.get_all("Requires-Dist"))
    assert "zarr<3.2,>=3" in requires.replace(" ", "") and "numpy<2.1" in requires.replace(" ", "")
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(allowed)
    assert [v in spec for v in ("3.10.13", "3.11.7", "3.12.1", "3.13.0")] == [False, True, True, False]


def test_fiji_install_from_a_wheel_writes_an_environment_of_its_own(wheel, wheel_site, fiji_dir, tmp_path):
    """Was: "No environment.yml found ... Pass env_file=..." (exit code 1) for every install that is not a
    checkout, after the menu scripts had already been written."""
    purelib = sysconfig.get_paths()["purelib"]  # the dependencies; the editable LabelFree there is not on the path
    code = (f"import sys; sys.path[:0] = [{str(wheel_site)!r}, {purelib!r}]; import labelfree; "
            f"print(labelfree.__file__); from labelfree.cli import main; "
            f"sys.exit(main(['fiji', 'install', {str(fiji_dir)!r}]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-S", "-c", code], check=False, capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(str(wheel_site))  # the wheel's copy ran
    from labelfree.imagej.scripts import script_files

    shipped = sorted(p.name for p in (fiji_dir / "scripts" / "Plugins" / "LabelFree").glob("LabelFree_*.py"))
    assert shipped == sorted(script_files().values()) and "LabelFree_Segment_File.py" in shipped
    spec = yaml.safe_load((fiji_dir / "config" / "environment.yml").read_text())
    conda = spec["dependencies"][:-2]
    pip = spec["dependencies"][-1]["pip"]
    assert spec["dependencies"][-2] == "pip"
    assert conda == [f"python={sys.version_info.major}.{sys.version_info.minor}", "openjdk=21"]
    assert pip[:2] == ["--extra-index-url https://download.pytorch.org/whl/cpu", "torch==2.13.0"]
    assert pip[2] == f"labelfree[all] @ {wheel.resolve().as_uri()}"  # where pip took this copy from
    # the same pins as the repository's environment.yml
    repo_env = yaml.safe_load((REPO / "environment.yml").read_text())
    repo_pip = next(d["pip"] for d in repo_env["dependencies"] if isinstance(d, dict))
    assert set(pip[:2]) <= set(repo_pip) and "openjdk=21" in repo_env["dependencies"]
