"""Typed exceptions of LabelFree.

Every message says what failed, what was expected and what to do.  The
classes also derive from the matching built-in exception, so callers that
catch ``ValueError`` or ``FileNotFoundError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "LabelFreeError",
    "InputError",
    "DimensionError",
    "DTypeError",
    "EmptyImageError",
    "ConstantImageError",
    "NonFiniteError",
    "ConfigError",
    "CorruptFileError",
    "MemoryLeftError",
    "OutputError",
    "OutputDiskFullError",
    "OutputExistsError",
    "InputOverwriteError",
    "FolderInUseError",
    "ModelFileError",
    "MissingDependencyError",
    "JavaError",
    "FijiError",
    "FijiPluginMissingError",
    "Cancelled",
    "LabelFreeWarning",
    "MissingPixelsWarning",
    "FloatLabelsWarning",
    "PixelTypeWarning",
    "EmptyTruthWarning",
    "NoObjectsWarning",
]


class LabelFreeError(Exception):
    """Base class of every error raised on purpose by LabelFree."""


class InputError(LabelFreeError, ValueError):
    """An input (image, markers, file, option) is not what was expected."""


class DimensionError(InputError):
    """The image has the wrong dimensions for the requested operation."""


class DTypeError(InputError, TypeError):
    """The image has a pixel type that cannot be processed."""


class EmptyImageError(InputError):
    """The image has no pixels (a zero-length axis)."""


class ConstantImageError(InputError):
    """Every pixel of the image has the same value: nothing can be segmented."""


class NonFiniteError(InputError):
    """The image contains NaN or infinite values."""


class ConfigError(InputError):
    """A configuration value or file is invalid."""


class CorruptFileError(InputError):
    """An input file is truncated or damaged (its data cannot be read in full)."""


class MemoryLeftError(InputError):
    """An image, or a tile of a tiled run, whose labels and the pipeline's work on one plane (or tile) cannot fit in
    the memory left: refused before any work, saying what fits. ``title``: the pipeline's; ``labels``, ``work`` and
    ``left``: the bytes counted and those left; ``tile``: the largest tile size (px) whose work would fit beside the
    labels, or None (the pipeline takes no tiles, or none fits); ``note``: why the work is what it is, where the run
    says (Fusion: "the networks see the plane enlarged ...")."""

    def __init__(self, message: str, /, *, title: str = "", labels: int = 0, work: int = 0, left: int = 0,
                 tile: int | None = None, note: str = "") -> None:
        super().__init__(message)
        self.title, self.labels, self.work, self.left, self.tile, self.note = title, labels, work, left, tile, note


class OutputError(LabelFreeError, OSError):
    """An output cannot be written where it was asked for (folder, permissions, disk)."""


class OutputDiskFullError(OutputError):
    """The disk of a batch run's output folder has no room left: the run stops, and a rerun resumes it.

    Raised by a task for its input (``folder`` is the output folder, ``stem`` the input, ``row`` its failed
    summary row) and then by :func:`labelfree.batch.run_batch` for the run, with what to do (its ``summary``: the
    run's summary, None when it could not be written either).
    """

    def __init__(self, message: str, /, *, folder: str = "", stem: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.folder, self.stem, self.reason = folder, stem, reason
        self.row: dict | None = None
        self.summary = None


class OutputExistsError(OutputError, FileExistsError):
    """An earlier result would be replaced; LabelFree replaces results only when told to (overwrite)."""


class InputOverwriteError(OutputError):
    """An output path is, or would overwrite, one of the run's inputs."""


class FolderInUseError(OutputError):
    """Another LabelFree run is writing into the same output folder."""


class ModelFileError(LabelFreeError, FileNotFoundError):
    """A model file is missing, unreadable or of the wrong kind."""


class MissingDependencyError(LabelFreeError, ImportError):
    """An optional dependency is not installed; the message names the install command."""


class JavaError(LabelFreeError, RuntimeError):
    """Java or ImageJ cannot be started (no JVM, no ij.jar, wrong Java version)."""


class FijiError(LabelFreeError, RuntimeError):
    """A Fiji installation is needed but absent or unusable."""


class FijiPluginMissingError(FijiError):
    """A Fiji plugin (e.g. Correct 3D drift) is not installed in the running ImageJ."""


class Cancelled(LabelFreeError):
    """The user cancelled a running operation; nothing was written."""


class LabelFreeWarning(UserWarning):
    """Base class of every warning LabelFree gives: something about a result to check (no objects, pixels filled,
    markers that miss nuclei, ...). Each names the line of the user's call; silence them all with
    ``warnings.filterwarnings("ignore", category=LabelFreeWarning)``, or turn them into errors with ``"error"``."""


class MissingPixelsWarning(LabelFreeWarning):
    """NaN/inf pixels of an image were filled before a pipeline that needs a value in every pixel ran (the warning
    says how many, where and with what)."""


class FloatLabelsWarning(LabelFreeWarning):
    """Label ids above 65535 do not fit ImageJ's 16-bit labels: the label image is written as 32-bit float (ids
    exact up to 16,777,216)."""


class PixelTypeWarning(LabelFreeWarning):
    """Pixels of a type ImageJ has not (64-bit integers or floats beyond float32) were converted to 32-bit float,
    rounding some values."""


class EmptyTruthWarning(LabelFreeWarning):
    """The ground truth given to a score holds no object in any scored frame: the scores say nothing about the
    segmentation."""


class NoObjectsWarning(LabelFreeWarning):
    """A pipeline's result holds no object. Each pipeline that says so derives its own warning from this one
    (``labelfree.threshold.segment.NoObjectsWarning``, ``labelfree.fusion.segment.NoObjectsWarning``); a tiled
    run says it once for the whole image, only when no tile found an object."""
