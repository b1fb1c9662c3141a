"""Bulk pixel transfer between ImageJ stacks and numpy, one Java bulk copy per plane.

numpy memory is exposed to Java as a direct ``ByteBuffer`` (``jpype.nio``), and
each plane moves with one ``XBuffer.put(x[])`` / ``get(x[])``, i.e. a memcpy on
the Java side: no per-pixel calls and no intermediate Python objects. Virtual
stacks work the same way (each ``getPixels(i)`` reads one plane from disk).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from labelfree.errors import DTypeError

__all__ = ["BIT_DEPTH_DTYPE", "read_planes", "write_planes"]

#: ImageJ bit depth -> numpy dtype of the Java pixel array (24 = RGB packed in int[])
BIT_DEPTH_DTYPE = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: np.dtype(np.float32), 24: np.dtype(np.uint32)}


def _typed_view(buffer: Any, dtype: np.dtype) -> Any:
    from scyjava import jimport

    buffer = buffer.order(jimport("java.nio.ByteOrder").nativeOrder())
    if dtype.itemsize == 1:
        return buffer
    if dtype == np.uint16:
        return buffer.asShortBuffer()
    if dtype == np.float32:
        return buffer.asFloatBuffer()
    return buffer.asIntBuffer()


def _direct_buffer(array: np.ndarray) -> Any:
    import jpype.nio

    return jpype.nio.convertToDirectBuffer(array.reshape(-1).view(np.uint8))


def read_planes(stack: Any, indices: Iterable[int], /, *, bit_depth: int) -> np.ndarray:
    """Copy stack planes (1-based ImageJ indices) into one ``(n, height, width)`` array.

    Parameters
    ----------
    stack : ij.ImageStack (virtual stacks included)
    indices : iterable of int
        1-based stack positions, in the order wanted.
    bit_depth : {8, 16, 24, 32}
        ImagePlus.getBitDepth(); 24 (RGB) gives packed uint32 ``0x00RRGGBB``.
    """
    if bit_depth not in BIT_DEPTH_DTYPE:
        raise DTypeError(f"ImageJ bit depth {bit_depth} is not supported; expected 8, 16, 24 (RGB) or 32.")
    indices = list(indices)
    dtype = BIT_DEPTH_DTYPE[bit_depth]
    out = np.empty((len(indices), int(stack.getHeight()), int(stack.getWidth())), dtype)
    if out.size == 0:
        return out
    view = _typed_view(_direct_buffer(out), dtype)
    for index in indices:
        pixels = stack.getPixels(int(index))
        if pixels is None:
            raise DTypeError(f"Plane {index} of the stack has no pixels (a virtual stack whose file is missing?).")
        view.put(pixels)
    return out


def write_planes(planes: np.ndarray, /) -> list[Any]:
    """Java pixel arrays (byte[], short[], float[] or int[]) for each plane of ``(n, h, w)``."""
    import jpype

    planes = np.asarray(planes)
    dtype = planes.dtype
    jtypes = {
        np.dtype(np.uint8): jpype.JByte,
        np.dtype(np.uint16): jpype.JShort,
        np.dtype(np.float32): jpype.JFloat,
        np.dtype(np.uint32): jpype.JInt,
    }
    if dtype not in jtypes:
        raise DTypeError(f"Cannot hand {dtype} pixels to ImageJ; expected uint8, uint16, float32 or packed RGB.")
    if not planes.flags.c_contiguous or not planes.flags.writeable:
        planes = planes.copy()
    n_pixels = planes.shape[-1] * planes.shape[-2]
    view = _typed_view(_direct_buffer(planes), dtype)
    arrays = []
    for _ in range(planes.shape[0]):
        jarr = jpype.JArray(jtypes[dtype])(n_pixels)
        view.get(jarr)
        arrays.append(jarr)
    return arrays
