"""The user guide as a new user reads it: what a first run meets is what the pages say.

Each test holds one page's claim against what LabelFree does now (session 40, task H9): the README's
`Use` lines need the environment's `python`, outputs.md quotes the drift command's error, motion.md's
steps name functions that exist, and fusion.md's demo figures name the settings they were measured with.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from labelfree.cli import main

REPO = Path(__file__).resolve().parents[1]


def _text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_readme_use_section_says_to_activate_the_environment_its_cp_lines_need(tmp_path):
    """The `cp "$(python -c ...)"` lines call a bare `python`, which is the environment's only once it is active:
    the system's has no LabelFree (`cp: cannot stat ''`). The Use section says so before them."""
    use = _text("README.md").split("## Use", 1)[1]
    before_cp = use.split('cp "$(python -c', 1)[0]
    assert ". .venv/bin/activate" in before_cp
    # what the note warns of: with a python that has no LabelFree the cp line fails; with the environment's it copies
    line = next(s for s in use.splitlines() if s.startswith('cp "$(python -c'))
    for flags, copied in (("-S", False), ("", True)):  # -S: no site-packages, as the system's python
        bin_dir = tmp_path / f"bin{flags}"
        bin_dir.mkdir()
        (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" {flags} "$@"\n', encoding="utf-8")
        (bin_dir / "python").chmod(0o755)
        (tmp_path / "movie.tif").unlink(missing_ok=True)
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              check=False, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)})
        assert (done.returncode == 0) is copied and (tmp_path / "movie.tif").is_file() is copied, done.stderr
        if not copied:
            assert "cannot stat ''" in done.stderr and "No module named 'labelfree'" in done.stderr


def test_outputs_md_quotes_the_drift_suffix_error_as_printed(tmp_path, capsys, monkeypatch):
    """outputs.md, "A file is named as the format it holds": the quoted message of `labelfree drift movie.tif -o
    out.png` is what the command prints (it once wrote a TIFF named out.png), and nothing is written."""
    from labelfree import datasets

    text = _flat(_text("docs/outputs.md"))
    quote = re.search(r"`labelfree drift movie\.tif -o out\.png` stops at once with \"([^\"]+)\"", text)
    assert quote, "outputs.md does not quote the error of `labelfree drift movie.tif -o out.png`"
    monkeypatch.chdir(tmp_path)
    Path("movie.tif").write_bytes(Path(datasets.SAMPLE_MOVIE).read_bytes())
    capsys.readouterr()
    assert main(["drift", "movie.tif", "-o", "out.png"]) == 1  # as the page writes it
    err = _flat(capsys.readouterr().err)
    pieces = [p.strip() for p in quote.group(1).split("...")]
    assert len(pieces) == 2 and all(p in err for p in pieces), (pieces, err)
    assert not (tmp_path / "out.png").exists()


def test_motion_md_steps_name_functions_of_labelfree_motion():
    """motion.md, "Steps (module `labelfree.motion`)": each call in the function column resolves in
    labelfree.motion, a sub-module's written with it (`selflabel.resolve_closing_radius`, `flow.exposure_gains`)."""
    import labelfree.motion as motion

    table = _text("docs/motion.md").split("## Steps (module `labelfree.motion`)", 1)[1].split("\n\n", 2)[1]
    names = []
    for row in table.splitlines()[2:]:
        names += re.findall(r"`([A-Za-z_][\w.]*)\(", row.split("|")[2])
    assert len(names) >= 25
    missing = []
    for name in names:
        obj = motion
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            missing.append(name)
    assert not missing, f"docs/motion.md names {missing}, which labelfree.motion does not hold"


def test_fusion_md_demo_names_the_kernel_settings_and_the_sample_sizes():
    """fusion.md, "Demo": its figures are measured with the test suite's torch settings, so the page names every
    variable tests/conftest.py sets (ATEN_CPU_CAPABILITY alone gave object F1 0.140 on an AVX-512 machine, not
    the 0.974 quoted), and its size ratio is the demo's: median diameter 30 px against 24 px."""
    from labelfree.datasets import synthetic_expression_channels
    from labelfree.fusion.demo import SAMPLE, TRAINING

    demo = _flat(_text("docs/fusion.md").split("## Demo", 1)[1].split("\n## ", 1)[0])
    for variable in re.findall(r"os\.environ\.setdefault\(\"(\w+)\", \"(\w+)\"\)", _text("tests/conftest.py")):
        assert "=".join(variable) in demo, f"fusion.md's demo figures do not name {'='.join(variable)}"

    def median_diameter(shape, n_cells, cell_radius, seed):
        _, truth = synthetic_expression_channels(shape, n_cells=n_cells, cell_radius=cell_radius, seed=seed)
        areas = np.bincount(np.asarray(truth).ravel())[1:]
        return float(np.median(2 * np.sqrt(areas[areas > 0] / np.pi)))

    sample = median_diameter(SAMPLE["shape"], SAMPLE["n_cells"], SAMPLE["cell_radius"], SAMPLE["seed"])
    training = median_diameter(TRAINING["shape"], TRAINING["n_cells"], TRAINING["cell_radius"], TRAINING["seeds"][0])
    ratio, *said = re.search(r"cells are ([\d.]+)x larger than the training cells \(median diameter (\d+) px "
                             r"against (\d+) px", demo).groups()
    assert (round(sample), round(training)) == tuple(int(s) for s in said) == (30, 24)
    assert float(ratio) == pytest.approx(sample / training, abs=0.005)


def test_fusion_md_says_a_given_diameter_that_finds_nothing_is_warned_of():
    """fusion.md, "What it does" 4: an empty result is warned of with the diameter measured or given (it said a
    given diameter was not warned of)."""
    from labelfree.datasets import synthetic_expression_channels
    from labelfree.fusion import NoObjectsWarning, new_model, segment

    text = _flat(_text("docs/fusion.md"))
    assert "not warned of" not in text and "the diameter (measured or given)" in text
    image, _ = synthetic_expression_channels((96, 96), n_cells=5, cell_radius=12.0, seed=1)
    untrained = new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", NoObjectsWarning)
        with pytest.warns(NoObjectsWarning, match=r"diameter 12\.0 px, given"):
            labels = segment(image, models=untrained, config={"diameter": 12}, device="cpu")
    assert int(labels.max()) == 0


def test_docs_name_no_file_outside_the_repository():
    """The pages are read in a clone of the repository: the developers' notes beside it
    (``../shared/reference/...``) are not there (the data folder is: ``LABELFREE_SHARED_DATA``)."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    notes = re.compile(r"\.\./shared/reference\S*|ALGORITHMS\.md\S*")
    outside = [f"{page.name}: {hit}" for page in pages for hit in notes.findall(page.read_text(encoding="utf-8"))]
    assert not outside, f"pages name files outside the repository: {outside}"


def test_citation_file_matches_the_package_and_the_citing_page():
    """CITATION.cff's version is the package's, and each method it references has its DOI on docs/citing.md."""
    import yaml

    import labelfree

    cff = yaml.safe_load(_text("CITATION.cff"))
    assert cff["cff-version"] == "1.2.0" and cff["version"] == labelfree.__version__
    citing = _text("docs/citing.md")
    dois = [ref["doi"] for ref in cff["references"]]
    assert len(dois) == 4 and all(f"doi:{doi}" in citing for doi in dois), dois
    for pipeline in ("Motion", "Cutter", "Fusion"):
        assert re.search(rf"^\| {pipeline} \|.*doi:10\.", citing, re.M), pipeline
