"""`labelfree fiji install` into a Fiji folder layout, and `labelfree doctor`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
import yaml

from labelfree.cli import main
from labelfree.errors import ConfigError, FijiError
from labelfree.imagej.install import fiji_environment_yaml, find_environment_file, install_fiji, uninstall_fiji
from labelfree.imagej.scripts import parse_script_parameters, script_files


@pytest.fixture
def fiji_dir(tmp_path):
    root = tmp_path / "Fiji.app"
    (root / "jars").mkdir(parents=True)
    (root / "jars" / "ij-1.54f.jar").write_bytes(b"")
    (root / "config" / "jaunch").mkdir(parents=True)
    (root / "config" / "jaunch" / "fiji.cfg").write_text("jvm-dir=java/linux64\nlaunch-mode=JVM\n")
    return root


def _fiji_options_parse(text: str) -> tuple[list[str], list[str]]:
    """The line rules Fiji's Edit > Options > Python... dialog uses to read environment.yml."""
    conda, pip, in_deps, in_pip = [], [], False, False
    for line in text.splitlines():
        t = line.strip()
        if not t or t.startswith("#"):
            continue
        if t.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and t.startswith("- pip"):
            in_pip = True
            continue
        if in_deps and t.startswith("- ") and not in_pip:
            conda.append(t[2:].strip())
            continue
        if in_pip and t.startswith("- "):
            pip.append(t[2:].strip())
            continue
        in_deps = in_deps and t.startswith("- ")
    return conda, pip


def test_install_writes_scripts_environment_and_python_mode(fiji_dir):
    written = install_fiji(fiji_dir)
    scripts = fiji_dir / "scripts" / "Plugins" / "LabelFree"
    assert sorted(p.name for p in written["scripts"]) == sorted(script_files().values())
    for path in written["scripts"]:
        assert path.parent == scripts
        assert parse_script_parameters(path.read_text())  # valid SciJava headers
    env_text = (fiji_dir / "config" / "environment.yml").read_text()
    source = yaml.safe_load(find_environment_file().read_text())
    conda, pip = _fiji_options_parse(env_text)
    expected_conda = [str(d).split("#")[0].strip() for d in source["dependencies"] if isinstance(d, str) and d != "pip"]
    assert conda == expected_conda
    assert any(p.startswith("-e ") and p.endswith(str(find_environment_file().parent)) for p in pip)
    assert "torch==2.13.0" in pip and "#" not in env_text
    assert yaml.safe_load(env_text)["dependencies"][-1]["pip"] == pip  # still valid conda YAML
    cfg = (fiji_dir / "config" / "jaunch" / "fiji.cfg").read_text().splitlines()
    assert cfg == ["jvm-dir=java/linux64", "launch-mode=PYTHON"]


def test_reinstall_keeps_a_backup_of_a_changed_environment(fiji_dir):
    (fiji_dir / "config" / "environment.yml").write_text("name: mine\ndependencies:\n  - python\n")
    install_fiji(fiji_dir, python_mode=False)
    assert (fiji_dir / "config" / "environment.yml.bak").read_text().startswith("name: mine")
    assert "launch-mode=JVM" in (fiji_dir / "config" / "jaunch" / "fiji.cfg").read_text()


def test_install_refuses_a_folder_that_is_not_fiji(tmp_path):
    with pytest.raises(FijiError, match="not a Fiji installation.*jars/ij-"):
        install_fiji(tmp_path)
    assert main(["fiji", "install", str(tmp_path)]) == 1


def test_install_on_a_file_says_it_is_a_file_not_the_fiji_folder(tmp_path, capsys):
    """Was: "<file> does not exist" for a file that exists."""
    jar = tmp_path / "some.jar"
    jar.write_bytes(b"PK")
    with pytest.raises(FijiError) as caught:
        install_fiji(jar)
    assert str(caught.value).startswith(f"{jar} is a file, not the Fiji folder. Give the Fiji.app folder")
    assert "does not exist" not in str(caught.value)
    assert main(["fiji", "install", str(jar)]) == 1
    assert "is a file, not the Fiji folder" in capsys.readouterr().err
    with pytest.raises(FijiError, match="does not exist"):  # a missing path is still said so
        install_fiji(tmp_path / "nowhere")


def test_installing_again_never_loses_the_users_environment_file(fiji_dir, tmp_path):
    """Was: each install rewrote environment.yml.bak, so a second install with another environment
    replaced the user's own file (kept by the first) by LabelFree's."""
    config = fiji_dir / "config"
    mine = "name: mine\ndependencies:\n  - python\n"
    (config / "environment.yml").write_text(mine)
    first_env, other_env = tmp_path / "first.yml", tmp_path / "other.yml"
    first_env.write_text("name: labelfree\ndependencies:\n  - scipy\n")
    other_env.write_text("name: other\ndependencies:\n  - numpy\n")
    first = install_fiji(fiji_dir, env_file=first_env, python_mode=False)
    assert (config / "environment.yml.bak").read_text() == mine
    ours = (config / "environment.yml").read_text()
    second = install_fiji(fiji_dir, env_file=other_env, python_mode=False)  # e.g. after an upgrade
    assert (config / "environment.yml.bak").read_text() == mine  # the user's file is kept
    assert (config / "environment.yml.bak.1").read_text() == ours  # and so is the one it replaced
    assert config / "environment.yml.bak" in first["environment"]  # the backups are listed as written
    assert config / "environment.yml.bak.1" in second["environment"]
    install_fiji(fiji_dir, env_file=other_env, python_mode=False)  # unchanged: no new backup
    install_fiji(fiji_dir, env_file=first_env, python_mode=False)  # back: the one it replaces is kept too
    assert sorted(p.name for p in config.glob("environment.yml*")) == [
        "environment.yml", "environment.yml.bak", "environment.yml.bak.1", "environment.yml.bak.2"]
    assert (config / "environment.yml.bak").read_text() == mine


def test_environment_without_dependencies_is_a_clear_error(tmp_path):
    bad = tmp_path / "env.yml"
    bad.write_text("name: x\n")
    with pytest.raises(Exception, match="no 'dependencies:' list"):
        fiji_environment_yaml(bad)


def test_cli_install_and_doctor(fiji_dir, capsys):
    assert main(["fiji", "install", str(fiji_dir)]) == 0
    assert "LabelFree_Motion.py" in capsys.readouterr().out
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0 and "[    ok ] Java: Java" in out and "Everything needed is present." in out


def test_doctor_fails_and_says_what_to_fix_without_java(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "none")}
    out = subprocess.run([sys.executable, "-m", "labelfree", "doctor"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 1
    assert "[MISSING] Java: not found" in out.stdout and "apt-get install default-jdk-headless" in out.stdout
    assert "Missing: Java." in out.stdout


def test_doctor_checks_the_file_format_packages_and_extras(monkeypatch):
    """zarr (OME-Zarr), imagecodecs (compressed TIFFs), dask and matplotlib were not checked: a missing one
    showed only as an error on the first OME-Zarr image or batch report."""
    from labelfree.imagej import doctor as doc

    checks = {c.name: c for c in doc.checkup()}
    for name in ("imagecodecs", "Pillow", "zarr", "dask", "matplotlib"):
        assert name in checks and checks[name].ok, name
    assert checks["imagecodecs"].needed and checks["Pillow"].needed and not checks["zarr"].needed
    monkeypatch.setattr(doc, "_OPTIONAL", (("labelfree-no-such-dist", "zarr", "OME-Zarr images in and out", "zarr"),))
    report, code = doc.doctor()
    assert code == 0  # an extra is not needed
    assert "[   warn] zarr: not installed (OME-Zarr images in and out)" in report
    assert '- zarr: pip install "labelfree[zarr]"' in report


def test_install_with_an_environment_it_cannot_read_leaves_the_fiji_untouched(fiji_dir, tmp_path, capsys):
    """Was: the menu scripts were written first, then the environment file was read and refused: a
    half-done install behind the error."""
    before = sorted(p.relative_to(fiji_dir) for p in fiji_dir.rglob("*"))
    with pytest.raises(ConfigError, match="Cannot read"):
        install_fiji(fiji_dir, env_file=tmp_path / "missing.yml")
    not_conda = tmp_path / "not-conda.yml"
    not_conda.write_text("name: x\n")
    assert main(["fiji", "install", str(fiji_dir), "--env-file", str(not_conda)]) == 1
    assert "no 'dependencies:' list" in capsys.readouterr().err
    assert sorted(p.relative_to(fiji_dir) for p in fiji_dir.rglob("*")) == before
    assert not (fiji_dir / "scripts").exists()


def test_doctor_names_a_missing_fiji_folder_as_fiji_install_does(tmp_path):
    """Was: "nowhere is not a Fiji installation (it has no jars/ folder)" for a path that does not exist."""
    from labelfree.imagej.doctor import doctor

    report, code = doctor(fiji=tmp_path / "nowhere")
    assert code == 1
    assert f"- Fiji: {tmp_path / 'nowhere'} does not exist. Give the Fiji folder" in report
    jar = tmp_path / "Fiji.jar"
    jar.write_bytes(b"PK")
    report, code = doctor(fiji=jar)
    assert code == 1 and f"- Fiji: {jar} is a file, not the Fiji folder" in report


@pytest.mark.parametrize("argv, says", [
    (["doctor"], "Check Java, ImageJ/Fiji"),
    (["fiji"], "Fiji integration"),
    (["fiji", "install"], "Copy the LabelFree scripts to FIJI_DIR/scripts/Plugins/LabelFree"),
    (["demo"], "Run a pipeline on its bundled sample and score it"),
])
def test_each_command_help_says_what_the_command_does(argv, says, capsys):
    """Was: `labelfree doctor --help` (demo, fiji, fiji install) showed the usage and the options only."""
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith(f"usage: labelfree {' '.join(argv)}")
    assert " ".join(rest.split()).startswith(says)  # the description, right below the usage


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_uninstall_puts_the_fiji_back_as_it_was(fiji_dir, capsys):
    """`labelfree fiji uninstall` removes the scripts and the environment file it wrote and sets the
    launch mode back: the Fiji folder is byte for byte what it was (there was no way back but by hand)."""
    import labelfree.imagej as lij

    assert lij.uninstall_fiji is uninstall_fiji  # beside install_fiji in the bridge's API
    before = _tree(fiji_dir)
    assert main(["fiji", "install", str(fiji_dir)]) == 0
    assert (fiji_dir / "scripts" / "Plugins" / "LabelFree").is_dir()
    capsys.readouterr()
    assert main(["fiji", "uninstall", str(fiji_dir)]) == 0
    out = capsys.readouterr().out
    assert _tree(fiji_dir) == before
    assert not (fiji_dir / "scripts" / "Plugins" / "LabelFree").exists()
    assert f"removed      {fiji_dir / 'config' / 'environment.yml'}" in out
    assert f"restored     {fiji_dir / 'config' / 'jaunch' / 'fiji.cfg'}" in out
    with pytest.raises(FijiError, match="holds no LabelFree install"):  # once more: nothing to remove, said so
        uninstall_fiji(fiji_dir)
    assert main(["fiji", "uninstall", str(fiji_dir)]) == 1


def test_uninstall_after_several_installs_restores_the_users_own_environment(fiji_dir, tmp_path):
    config = fiji_dir / "config"
    mine = "name: mine\ndependencies:\n  - python\n"
    (config / "environment.yml").write_text(mine)
    other = tmp_path / "other.yml"
    other.write_text("name: other\ndependencies:\n  - numpy\n")
    install_fiji(fiji_dir)
    install_fiji(fiji_dir, env_file=other)  # an upgrade: LabelFree's first file is kept as .bak.1
    done = uninstall_fiji(fiji_dir)
    assert (config / "environment.yml").read_text() == mine  # the file before the first install, not .bak.1
    assert config / "environment.yml" in done["restored"]
    assert (config / "jaunch" / "fiji.cfg").read_text() == "jvm-dir=java/linux64\nlaunch-mode=JVM\n"
    assert (config / "environment.yml.bak").read_text() == mine  # backups are never removed
    assert not (config / "labelfree-install.json").exists()


def test_uninstall_keeps_what_the_user_changed_since_the_install(fiji_dir):
    install_fiji(fiji_dir)
    scripts = fiji_dir / "scripts" / "Plugins" / "LabelFree"
    edited = scripts / script_files()["motion"]
    edited.write_text(edited.read_text() + "# my change\n")
    (fiji_dir / "config" / "environment.yml").write_text("name: rebuilt\ndependencies:\n  - python\n")
    cfg = fiji_dir / "config" / "jaunch" / "fiji.cfg"
    cfg.write_text("jvm-dir=java/linux64\nlaunch-mode=JVM\n")  # switched back in Fiji's options
    done = uninstall_fiji(fiji_dir)
    assert sorted(done["kept"]) == sorted([edited, fiji_dir / "config" / "environment.yml", cfg])
    assert [p.name for p in scripts.iterdir()] == [edited.name]  # every other script is gone
    assert (fiji_dir / "config" / "environment.yml").read_text().startswith("name: rebuilt")
    assert cfg.read_text() == "jvm-dir=java/linux64\nlaunch-mode=JVM\n"


def test_reinstall_removes_the_scripts_of_commands_it_no_longer_has(fiji_dir):
    """A command renamed between versions left its old menu entry behind after an upgrade."""
    import json

    install_fiji(fiji_dir)
    scripts = fiji_dir / "scripts" / "Plugins" / "LabelFree"
    old = scripts / "LabelFree_Old_Name.py"
    old.write_text("#@ ImagePlus imp\n")
    mine = scripts / "My_Own_Script.py"  # not written by LabelFree: never touched
    mine.write_text("print('mine')\n")
    record_path = fiji_dir / "config" / "labelfree-install.json"
    record = json.loads(record_path.read_text())
    old_sha = hashlib.sha256(b"#@ ImagePlus imp\n").hexdigest()
    record["scripts"]["scripts/Plugins/LabelFree/LabelFree_Old_Name.py"] = old_sha  # as an earlier version wrote it
    record_path.write_text(json.dumps(record))
    install_fiji(fiji_dir)
    assert not old.exists() and mine.exists()
    assert sorted(p.name for p in scripts.iterdir()) == sorted([*script_files().values(), mine.name])
    uninstall_fiji(fiji_dir)
    assert [p.name for p in scripts.iterdir()] == [mine.name]


def test_uninstall_of_an_install_without_a_record_removes_the_scripts_by_name(fiji_dir):
    install_fiji(fiji_dir)
    (fiji_dir / "config" / "labelfree-install.json").unlink()  # as an install by a LabelFree that kept none
    done = uninstall_fiji(fiji_dir)
    assert not (fiji_dir / "scripts" / "Plugins" / "LabelFree").exists()
    assert sorted(done["kept"]) == sorted([fiji_dir / "config" / "environment.yml",
                                           fiji_dir / "config" / "jaunch" / "fiji.cfg"])
