"""The Fusion demo: a tiny model zoo trained on the fly, then a three-channel sample segmented with it.

Fusion needs models, and LabelFree ships no weights (and never downloads any). The demo
therefore trains one tiny cellpose network (widths 8-16-32-64) from scratch on synthetic
images of the sample's kind, with their ground truth, in under a minute on one CPU core,
files it in a model zoo in LabelFree's cache folder (``$LABELFREE_CACHE_DIR``, else
``$XDG_CACHE_HOME/labelfree`` or ``~/.cache/labelfree``) and hands that zoo to the
pipeline. A later demo finds the zoo there and skips the training. The sample itself is
not among the training images, and its cells are larger than theirs, so the run also
shows the automatic diameter at work (the value chosen is in the provenance).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fusion_demo", "demo_zoo", "TRAINING", "SAMPLE"]

log = logging.getLogger(__name__)

#: the training images: synthetic_expression_channels(shape, n_cells, cell_radius, seed) for each seed
TRAINING = {"shape": (160, 160), "n_cells": 14, "cell_radius": 12.0, "seeds": tuple(range(1, 13))}
#: the demo sample: cells 1.3 times larger than in the training images
SAMPLE = {"shape": (256, 256), "n_cells": 40, "cell_radius": 15.5, "seed": 0}
#: tiny network, 64 px crops, 60 epochs: about half a minute of training on one CPU core. The recipe is chosen
#: so that the score does not hang on the CPU's torch kernels (they differ by rounding, and the tiny training
#: amplifies it): with the former 8 images, learning rate 0.01 and 40 epochs, object F1 ranged from 0.14 to 0.97
#: with ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA; with 12 images, 0.005 and 60 epochs it is 1.0 under all six
#: settings measured (docs/fusion.md, "Demo")
FINETUNE = {"nbase": (8, 16, 32, 64), "diam_mean": 15.0, "crop_size": 64, "batch_size": 8, "samples_per_epoch": 16,
            "learning_rate": 0.005, "n_epochs": 60, "patience": 60, "seed": 0}
# change when the training recipe changes, so that cached zoos are not reused (2: one thread; 3: a recipe whose
# score holds under every CPU kernel setting measured)
_VERSION = 3


def _recipe_key() -> str:
    recipe = json.dumps({"version": _VERSION, "training": TRAINING, "finetune": FINETUNE}, sort_keys=True)
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def _usable(zoo_dir: Path) -> bool:
    from labelfree.errors import ModelFileError
    from labelfree.fusion.zoo import ModelZoo

    try:
        zoo = ModelZoo(zoo_dir)
        return any(zoo.path_of(e).is_file() for e in zoo.entries())
    except (ModelFileError, OSError):
        return False


def _train_into(folder: Path, /, *, nbase: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Train the demo's model by its recipe into a new model zoo in ``folder``; ``nbase``: other network widths
    than the recipe's (``benchmarks/plane_memory.py --rss-widths``). Returns the seconds, epochs and entry id."""
    from labelfree._threads import limited_threads
    from labelfree.datasets import synthetic_expression_channels
    from labelfree.fusion.finetune import finetune
    from labelfree.fusion.zoo import ModelZoo

    pairs = [synthetic_expression_channels(TRAINING["shape"], n_cells=TRAINING["n_cells"],
                                           cell_radius=TRAINING["cell_radius"], seed=s) for s in TRAINING["seeds"]]
    images, labels = [p[0] for p in pairs], [np.asarray(p[1]) for p in pairs]
    names = list(images[0].coords["C"].values)
    started = time.perf_counter()
    # one torch thread: the tiny network trains no faster on more, and torch's reductions differ with
    # the thread count, so the demo model (and its scores) would differ from machine to machine
    with limited_threads(1, torch=True):
        result = finetune(images, labels, channels=names,
                          config=FINETUNE if nbase is None else {**FINETUNE, "nbase": tuple(nbase)})
    seconds = time.perf_counter() - started
    zoo = ModelZoo(folder, create=True)
    losses = result.history.val_losses
    entry = zoo.add(result, object="cyto", channels=names, cell_line="synthetic", starting_model="scratch",
                    validation={"loss": float(min(losses))} if losses else None)
    log.info("trained the demo model in %.0f s (%d epochs)", seconds, result.history.epochs_run)
    return {"seconds": seconds, "epochs": result.history.epochs_run, "id": entry["id"]}


def _as_made_by_mkdir(folder: Path) -> None:
    """Give ``folder`` the permissions ``mkdir`` gives a new folder (0777 less the umask, read without changing it:
    another thread creating a file meanwhile never meets a umask of 0)."""
    from labelfree.io.atomic import current_umask

    os.chmod(folder, 0o777 & ~current_umask())


def demo_zoo(*, retrain: bool = False) -> tuple[Path, str]:
    """The demo's model zoo folder, trained now when the cache holds none; and what happened.

    Parameters
    ----------
    retrain : bool
        Train again even when the cache holds a zoo of this recipe.

    Returns
    -------
    path : pathlib.Path
        A model zoo folder (:class:`labelfree.fusion.zoo.ModelZoo`) with one tiny model.
    how : str
        One sentence for the demo's note (trained now, in how long; or found in the cache).
    """
    from labelfree._cache import cache_root

    target = cache_root() / f"demo-fusion-zoo-{_recipe_key()}"
    if not retrain and _usable(target):
        return target, f"model zoo found in the cache: {target}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".training-", dir=target.parent))
        _as_made_by_mkdir(work)  # the cache's zoo: readable by whoever may read the cache (mkdtemp makes it 0700)
    except OSError as exc:  # an unwritable cache: train into a temporary folder instead
        log.info("cache folder %s is not writable (%s); training into a temporary folder", target.parent, exc)
        target = Path(tempfile.mkdtemp(prefix="labelfree-demo-zoo-"))
        work = target
    try:
        done = _train_into(work)
    except BaseException:  # failed or interrupted: leave no half-made zoo folder behind in the cache
        shutil.rmtree(work, ignore_errors=True)
        raise
    if work != target:
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(work, target)
        except OSError:  # another demo filled the cache meanwhile: use ours where it lies
            target = work
    return target, (f"tiny model trained from scratch in {done['seconds']:.0f} s ({done['epochs']} epochs) on "
                    f"{len(TRAINING['seeds'])} synthetic images, filed in the model zoo {target}")


def fusion_demo() -> Any:
    """A three-channel synthetic sample with whole-cell truth and a model zoo trained for it, as a Demo.

    Raises :class:`~labelfree.errors.MissingDependencyError`, naming the ``pip install`` command, before
    anything is trained when torch or cellpose is not installed.
    """
    from labelfree._deps import require
    from labelfree.datasets import synthetic_expression_channels
    from labelfree.spec import Demo

    for module in ("torch", "cellpose"):
        require(module, purpose="the Fusion demo (labelfree demo --pipeline fusion)")
    zoo, how = demo_zoo()
    image, truth = synthetic_expression_channels(SAMPLE["shape"], n_cells=SAMPLE["n_cells"],
                                                 cell_radius=SAMPLE["cell_radius"], seed=SAMPLE["seed"])
    note = ("synthetic touching cells seen through 3 non-structural labels (each cell at its own level per "
            f"channel, patchy, 30/60/120 photons); {how}; cells 1.3x larger than in the training images, "
            "so the diameter is measured on the image")
    return Demo(image=image, truth=truth, name="sample_fusion", inputs={"zoo": str(zoo)}, note=note)
