"""Reading the annotations the Cellpose GUI saves beside an image (``<stem>_seg.npy``) without running code from them.

A ``_seg.npy`` is a NumPy file holding one pickled dict (``masks``, ``outlines``, ``flows``, ``filename``,
``diameter``, ``ismanual``, ...). ``numpy.load(..., allow_pickle=True)`` would run whatever the pickle asks for, so
:func:`read_cellpose_seg` unpickles it with :class:`_ArraysOnly`, which builds dicts, lists, strings, numbers and
NumPy arrays and refuses every other class or function the file names: a file that asks for one is refused as
not a Cellpose annotation, and nothing of it runs.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from labelfree.errors import CorruptFileError, DimensionError, DTypeError, InputError

__all__ = ["read_cellpose_seg", "is_npy_file"]

#: the first bytes of every NumPy ``.npy`` file
_NPY_MAGIC = b"\x93NUMPY"
#: the (module, name) pairs a pickle of a dict of NumPy arrays, lists, strings and numbers names: array
#: reconstruction, ndarray, dtype and NumPy scalars, under NumPy 1's ``numpy.core`` and NumPy 2's ``numpy._core``
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
_WHAT_TO_DO = ("Save the annotation again from the Cellpose GUI (File > Save masks and image (as *_seg.npy), or "
               "File > Save masks as PNG/tif, which LabelFree also reads), or give a label TIFF or PNG.")


def is_npy_file(path: str | os.PathLike[str], /) -> bool:
    """Whether ``path`` is a file that starts as a NumPy ``.npy`` file does (whatever its name)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_NPY_MAGIC)) == _NPY_MAGIC
    except OSError:
        return False


def _multiarray() -> Any:
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    return multiarray


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, tuples, strings, numbers and NumPy arrays and scalars."""

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(io.BytesIO(data))
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise InputError(
                f"{self._path} is not a Cellpose annotation: its pickled contents ask for {module}.{name}, which "
                "a Cellpose _seg.npy (a dict of arrays, lists, strings and numbers) never holds, so it was refused "
                f"unread (nothing in it was run). {_WHAT_TO_DO}")
        if module == "numpy":
            return np.ndarray if name == "ndarray" else np.dtype
        return getattr(_multiarray(), name)

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self._path} is not a Cellpose annotation: its pickle refers to outside objects. "
                         f"{_WHAT_TO_DO}")


def _header(fh: Any, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, Fortran order and dtype of a ``.npy`` file (parsed as data, never run)."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(fh)
        if version == (1, 0):
            return npy.read_array_header_1_0(fh)
        if version == (2, 0):
            return npy.read_array_header_2_0(fh)
    except ValueError as exc:
        raise CorruptFileError(f"{path} is a damaged NumPy file: its header cannot be read ({exc}).") from exc
    raise InputError(f"{path} is a NumPy file of format version {version[0]}.{version[1]}, which LabelFree does not "
                     f"read (Cellpose writes 1.0). {_WHAT_TO_DO}")


def _masks_of(path: Path) -> tuple[Any, str]:
    """The label array of a ``.npy`` file and what it was (``"the masks of ..."``): a Cellpose dict's ``masks``,
    or a plain array saved with ``numpy.save`` (read without pickle)."""
    with open(path, "rb") as fh:
        shape, fortran, dtype = _header(fh, path)
        if not dtype.hasobject:  # a plain array: np.load without pickles reads it as data
            fh.seek(0)
            try:
                return np.load(fh, allow_pickle=False), f"the array in {path}"
            except ValueError as exc:
                raise CorruptFileError(f"{path} is a damaged or truncated NumPy file ({exc}).") from exc
        data = fh.read()
    try:
        obj = _ArraysOnly(data, path).load()
    except InputError:
        raise
    except Exception as exc:  # a truncated or damaged pickle: the errors of pickle and of numpy's builders vary
        raise CorruptFileError(f"{path} is a damaged or truncated NumPy file: its pickled contents cannot be read "
                               f"({type(exc).__name__}: {exc}). {_WHAT_TO_DO}") from exc
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise InputError(f"{path} is not a Cellpose annotation: it holds a {type(obj).__name__} of Python objects, "
                         f"not the dict (masks, outlines, flows, ...) that Cellpose saves as _seg.npy. {_WHAT_TO_DO}")
    if "masks" not in obj:
        keys = ", ".join(sorted(map(str, obj))[:12]) or "none"
        raise InputError(f"{path} is not a Cellpose annotation: its dict has no 'masks' entry (keys: {keys}). "
                         f"{_WHAT_TO_DO}")
    return obj["masks"], f"the masks of the Cellpose annotation {path}"


def read_cellpose_seg(path: str | os.PathLike[str], /) -> np.ndarray:
    """The label image of a Cellpose annotation (``<stem>_seg.npy``, saved by the Cellpose GUI or by
    ``cellpose.io.masks_flows_to_seg``): its ``masks`` entry, read without running code from the file.

    The pickled dict is rebuilt from dicts, lists, strings, numbers and NumPy arrays only; a file whose pickle
    names any other class or function is refused and nothing of it runs. A ``.npy`` holding a plain integer
    array (``numpy.save(path, labels)``) is read as that label image.

    Parameters
    ----------
    path : str or path-like
        The ``.npy`` file.

    Returns
    -------
    numpy.ndarray
        (Y, X) integer labels, 0 = background (a Z axis of one plane dropped).

    Raises
    ------
    InputError
        A file that is not a Cellpose annotation (another pickle, no ``masks``), masks that are not (Y, X)
        (a 3-D annotation of several planes), or not integer labels (:class:`DimensionError`,
        :class:`DTypeError`); :class:`CorruptFileError` for a damaged or truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file; check the path.")
    if not is_npy_file(path):
        raise InputError(f"{path} is not a NumPy .npy file (a Cellpose annotation <stem>_seg.npy is one). "
                         f"{_WHAT_TO_DO}")
    masks, what = _masks_of(path)
    if not isinstance(masks, np.ndarray):
        raise InputError(f"{what} is a {type(masks).__name__}, not an array of labels. {_WHAT_TO_DO}")
    arr = np.squeeze(masks) if masks.ndim > 2 else masks
    if arr.ndim != 2:
        plane = (" It is a 3-D annotation of several planes (Z, Y, X), which LabelFree does not read from a "
                 "_seg.npy: save the masks as a TIFF stack (Python: tifffile.imwrite('masks.tif', masks)) and give "
                 "that file.") if arr.ndim == 3 else ""
        raise DimensionError(f"{what} has shape {masks.shape}; LabelFree reads (Y, X) label images from a .npy file."
                             f"{plane}")
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(np.uint8)
    if kind not in "ui":
        raise DTypeError(f"{what} has dtype {arr.dtype}, not integer labels (0 = background). {_WHAT_TO_DO}")
    if kind == "i" and arr.size and arr.min() < 0:
        raise DTypeError(f"{what} holds negative values (from {arr.min()} to {arr.max()}): labels are whole numbers "
                         ">= 0 (0 = background).")
    return np.ascontiguousarray(arr)
