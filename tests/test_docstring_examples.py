"""Every ``>>>`` example in the package's docstrings runs and shows what it says (a user who learns the library
from ``help()`` copies them); the examples that read ``../shared/data`` (skipped by doctest) run on that data."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
import re
import tempfile

import pytest

import labelfree

#: ``python -m labelfree`` runs the command line when imported
_NOT_IMPORTED = ("labelfree.__main__",)


def _modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(labelfree.__path__, "labelfree.")
                  if info.name not in _NOT_IMPORTED)


MODULES = ["labelfree", *_modules()]


def _import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # an optional dependency this install lacks: its examples cannot run here
        pytest.skip(f"{module} does not import here ({exc})")


def _doctests(module: str) -> list[doctest.DocTest]:
    mod = _import(module)
    try:
        return [test for test in doctest.DocTestFinder().find(mod) if test.examples]
    except ValueError as exc:  # a docstring doctest cannot read (e.g. "\n" in a docstring that is not raw)
        pytest.fail(f"an example of {module} cannot be parsed: {exc}")


def _run(tests: list[doctest.DocTest]) -> tuple[doctest.TestResults, str]:
    runner = doctest.DocTestRunner(verbose=False)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    return runner.summarize(verbose=False), report.getvalue()


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run_and_show_what_they_say(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write a file write it here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # and their tempfile.mkdtemp() folders, not in /tmp
    result, report = _run(_doctests(module))
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} fail:\n{report}"


def test_the_collector_finds_the_examples(tmp_path, monkeypatch):
    """The test above cannot pass by finding nothing: the modules known to hold examples are found, and run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    attempted = {}
    for module in MODULES:
        try:
            tests = [t for t in doctest.DocTestFinder().find(importlib.import_module(module)) if t.examples]
        except (ImportError, ValueError):
            continue
        attempted[module] = _run(tests)[0].attempted if tests else 0
    for module in ("labelfree.image", "labelfree.labels", "labelfree.metrics", "labelfree.measure",
                   "labelfree.tiling", "labelfree.overlay", "labelfree.io.series", "labelfree.cutter.scale",
                   "labelfree.threshold", "labelfree.threshold.config", "labelfree.motion", "labelfree.io.tiff"):
        assert attempted.get(module, 0) > 0, f"no docstring example of {module} was run"
    assert sum(attempted.values()) >= 80
    made = {p.name for p in tmp_path.glob("*/*")}  # the examples' tempfile.mkdtemp() folders, here and not in /tmp
    assert {"a.txt", "o.png", "plate.ome.tif", "t000.tif"} <= made, sorted(made)


def _shared_data_examples() -> list[tuple[str, str, str]]:
    """(module, object name, docstring) of each docstring whose skipped examples read ``../shared/data``."""
    found = []
    for module in MODULES:
        try:
            tests = doctest.DocTestFinder().find(importlib.import_module(module))
        except (ImportError, ValueError):
            continue
        found += [(module, t.name, t.docstring) for t in tests
                  if any("shared/data" in example.source for example in t.examples)]
    return found


def test_the_examples_on_shared_data_run_on_it(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    found = _shared_data_examples()
    assert any(name.endswith("read_ctc") for _, name, _ in found), "the read_ctc example lost its real data"
    for module, name, docstring in found:
        text = re.sub(r"\s*# doctest: \+SKIP", "", docstring).replace("../shared/data", str(shared_data))
        globs = dict(vars(importlib.import_module(module)))
        test = doctest.DocTestParser().get_doctest(text, globs, name, None, 0)
        result, report = _run([test])
        assert result.attempted > 0 and result.failed == 0, f"the example of {name} on {shared_data} fails:\n{report}"


# ---- what the docstrings promise about parameters, exceptions and results ------------------------------------------

_PUBLIC = ("labelfree", "labelfree.motion", "labelfree.cutter", "labelfree.fusion", "labelfree.threshold",
           "labelfree.io", "labelfree.batch", "labelfree.registration", "labelfree.run", "labelfree.metrics",
           "labelfree.measure", "labelfree.labels", "labelfree.image", "labelfree.datasets", "labelfree.overlay",
           "labelfree.tiling")


def _section(doc: str, title: str) -> list[str]:
    """The lines of a numpydoc section (empty when the docstring has none)."""
    found = re.search(rf"^{title}\n-{{{len(title)}}}\n(.*?)(?=^\S[^\n]*\n-{{3,}}\n|\Z)", doc, flags=re.S | re.M)
    return found.group(1).rstrip().splitlines() if found else []


def _entries(lines: list[str]) -> list[str]:
    """The names an indented numpydoc section lists (``a, b : type`` gives a and b)."""
    return [name.strip().lstrip("*") for line in lines if line and not line[0].isspace()
            for name in line.split(" :")[0].split(",") if name.strip()]


def test_parameters_sections_name_the_parameters_of_the_signature():
    import inspect

    wrong = []
    for module in _PUBLIC:
        mod = _import(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if not inspect.isfunction(obj):
                continue
            listed = _entries(_section(inspect.getdoc(obj) or "", "Parameters"))
            if not listed:
                continue
            params = [p.name for p in inspect.signature(obj).parameters.values()
                      if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if set(listed) != set(params):
                wrong.append(f"{module}.{name}: listed {sorted(set(listed) - set(params))} "
                             f"not listed {sorted(set(params) - set(listed))}")
    assert not wrong, "\n".join(wrong)


def _raises_named(func) -> tuple[type, ...]:
    import inspect

    from labelfree import errors

    names = [n.strip().rsplit(".", 1)[-1] for n in ", ".join(_entries(_section(inspect.getdoc(func), "Raises")))
             .split(",")]
    return tuple(getattr(errors, n, None) or getattr(__builtins__, n, None) or pytest.fail(f"unknown {n}")
                 for n in names if n)


def _bad_calls(tmp_path):
    """(function, call that gives it an input its Raises section names)."""
    import numpy as np
    import xarray as xr

    from labelfree import image, metrics, overlay
    from labelfree.io import read_image, write_ngff, write_ngff_labels
    from labelfree.motion import as_movie
    from labelfree.registration import correct_drift

    noise = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    nan_flat = np.ones((3, 8, 8), np.float32)
    nan_flat[0, 0, 0] = np.nan
    labels = np.zeros((8, 8), np.uint16)
    store = write_ngff(tmp_path / "image.zarr", xr.DataArray(noise[0], dims=("Y", "X")))
    return [
        (correct_drift, lambda: correct_drift(xr.DataArray(noise, dims=("T", "Y", "X")), backend="fiji")),
        (correct_drift, lambda: correct_drift(xr.DataArray(noise[:1], dims=("T", "Y", "X")), backend="python")),
        (as_movie, lambda: as_movie(np.zeros((3, 0, 8), np.uint8))),
        (as_movie, lambda: as_movie(noise[:1])),
        (as_movie, lambda: as_movie(nan_flat)),
        (as_movie, lambda: as_movie(noise.astype(complex))),
        (image.validate_image, lambda: image.validate_image(np.ones((4, 4)))),
        (image.parse_channel, lambda: image.parse_channel(1.5)),
        (read_image, lambda: read_image(tmp_path / "absent.tif")),
        (metrics.evaluate, lambda: metrics.evaluate(labels, labels[:, :7])),
        (overlay.overlay_rgb, lambda: overlay.overlay_rgb(noise[0], labels, max_size=0)),
        (overlay.overlay_rgb, lambda: overlay.overlay_rgb(noise[0], labels - 0.5)),
        (write_ngff_labels, lambda: write_ngff_labels(store, xr.DataArray(labels[:4], dims=("Y", "X")))),
    ]


def test_raises_sections_name_the_exception_raised(tmp_path):
    """``except`` with a type the docstring names catches what the function raises on that input."""
    import warnings

    for func, call in _bad_calls(tmp_path):
        named = _raises_named(func)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is what is checked
                call()
        assert isinstance(caught.value, named), (
            f"{func.__module__}.{func.__name__} raised {type(caught.value).__name__} ({caught.value}); its "
            f"Raises section names {[t.__name__ for t in named]}")


def test_evaluate_docstring_names_every_score_it_returns():
    import inspect

    import numpy as np

    from labelfree.metrics import evaluate

    a = np.zeros((8, 8), np.uint16)
    a[2:5, 2:5] = 1
    returns = "\n".join(_section(inspect.getdoc(evaluate), "Returns"))
    assert [key for key in evaluate(a, a) if f"``{key}``" not in returns] == []


@pytest.mark.parametrize("where", ["motion.MotionConfig", "cutter.CutterConfig", "fusion.FusionConfig",
                                   "fusion.FinetuneConfig", "threshold.ThresholdConfig", "registration.DriftConfig",
                                   "registration.StitchConfig", "batch.BatchConfig"])
def test_help_of_a_config_lists_every_option_with_its_default_and_help(where):
    """Was: ``help(Config)`` showed no option's help (it is dataclass metadata, shown by the Fiji dialog, ``--help``
    and docs/options.md): the docstring now lists each one under "Options", and names ``config_fields``."""
    import pydoc

    from labelfree.options import config_fields, value_text

    module, name = where.split(".")
    cls = getattr(_import(f"labelfree.{module}"), name)
    assert f"``labelfree.options.config_fields({name})``" in cls.__doc__
    shown = " ".join(pydoc.render_doc(cls, renderer=pydoc.plaintext).replace("|", " ").split())
    options = shown[shown.index("Options -------"):]
    fields = config_fields(cls)
    assert fields and all(f.help for f in fields)
    for f in fields:
        default = "None (automatic)" if f.default is None else repr(f.default)
        assert f"{f.key} : default {default}{', ' + f.range if f.range else ''} {f.help}" in options, \
            (f.key, value_text(f, f.default))
