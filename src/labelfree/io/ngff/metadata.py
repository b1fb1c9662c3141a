"""What an OME-Zarr store holds, from its metadata: the NGFF attributes of a group, its axes and transforms,
the series of a bioformats2raw container, the levels of a multiscale image and the kind of a folder.

Shared by the readers (:mod:`labelfree.io.ngff.read`), the writers (:mod:`labelfree.io.ngff.write`,
:mod:`labelfree.io.ngff.labels`) and :mod:`labelfree.io.ngff.fingerprint`; no pixel data is read here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from labelfree.errors import DimensionError, InputError

__all__ = ["is_ngff", "NGFF_VERSIONS"]

NGFF_VERSIONS = ("0.4", "0.5")
_TO_NGFF_UNIT = {
    "µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter", "m": "meter",
    "Å": "angstrom", "pm": "picometer", "s": "second", "ms": "millisecond", "µs": "microsecond",
    "min": "minute", "h": "hour", "ns": "nanosecond", "km": "kilometer", "inch": "inch", "ft": "foot",
    "day": "day", "ks": "kilosecond",
}
_FROM_NGFF_UNIT = {v: k for k, v in _TO_NGFF_UNIT.items()}
_AXIS_TYPE = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
_ZARR_METADATA = ("zarr.json", ".zgroup", ".zattrs", ".zarray")


def _zarr() -> Any:
    from labelfree._deps import require

    return require("zarr", purpose="OME-Zarr images")


def is_ngff(path: str | os.PathLike[str], /) -> bool:
    """Whether ``path`` is a zarr group or array (``.zattrs``/``.zgroup``/``.zarray`` or ``zarr.json``: e.g. one
    level of a multiscale image, ``image.zarr/1``) or a folder whose name ends in ``.zarr``."""
    p = Path(path)
    return p.is_dir() and (p.suffix.lower() == ".zarr" or any((p / name).is_file() for name in _ZARR_METADATA))


def _ome_attrs(group: Any) -> tuple[dict[str, Any], str]:
    """The NGFF attributes of a group and their version (0.5 nests them under ``ome``)."""
    attrs = dict(group.attrs)
    if "ome" in attrs:
        ome = dict(attrs["ome"])
        return ome, str(ome.get("version", "0.5"))
    ms = attrs.get("multiscales") or [{}]
    return attrs, str(ms[0].get("version", "0.4"))


def _transforms(items: Sequence[dict[str, Any]] | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    scale, shift = np.ones(n), np.zeros(n)
    for tr in items or ():
        kind = tr.get("type")
        if kind == "scale" and "scale" in tr:
            scale = scale * np.asarray(tr["scale"], float)
            shift = shift * np.asarray(tr["scale"], float)
        elif kind == "translation" and "translation" in tr:
            shift = shift + np.asarray(tr["translation"], float)
        elif kind not in (None, "identity") and ("path" in tr or kind not in ("scale", "translation")):
            raise InputError(f"NGFF coordinate transformation {tr!r} is not supported (only scale and translation "
                             "given inline).")
    return scale, shift


def _dims_of(axes: Sequence[Any], path: Path) -> list[str]:
    dims = []
    for ax in axes:
        name, kind = (ax.get("name", ""), ax.get("type")) if isinstance(ax, dict) else (str(ax), None)
        letter = {"time": "T", "channel": "C"}.get(kind or "", str(name).upper())
        if letter not in _AXIS_TYPE:
            raise DimensionError(f"{path}: NGFF axis {name!r} (type {kind!r}) is not one of t, c, z, y, x.")
        dims.append(letter)
    return dims


def _names(items: Any, key: str) -> list[str]:
    """The ``key`` entries (paths, names) of a list of NGFF metadata items, in order."""
    out = []
    for item in items if isinstance(items, list) else []:
        value = item.get(key) if isinstance(item, dict) else item
        if isinstance(value, (str, int)) and str(value):
            out.append(str(value))
    return out


def _listing(names: Sequence[str], most: int = 6) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _series_of(group: Any) -> list[str]:
    """Image series of a bioformats2raw container: ``OME/`` lists them (``series``), else ``0, 1, ...``."""
    try:
        listed, _ = _ome_attrs(group["OME"])
        series = _names(listed.get("series"), "path")
    except Exception:  # noqa: BLE001 - no OME/ group or unreadable metadata: fall back to the numbered groups
        series = []
    if series:
        return series
    while True:
        try:
            group[str(len(series))]
        except Exception:  # noqa: BLE001 - zarr raises KeyError or its own error for a missing member
            return series
        series.append(str(len(series)))


def _is_zarr_array(path: Path) -> bool:
    """Whether ``path`` is a zarr array (v2 ``.zarray``, v3 ``zarr.json`` of node type ``array``)."""
    if (path / ".zarray").is_file():
        return True
    try:
        return json.loads((path / "zarr.json").read_text()).get("node_type") == "array"
    except (OSError, ValueError, AttributeError):
        return False


def _image_attrs(path: Path) -> dict[str, Any] | None:
    """The NGFF attributes (``ome`` of 0.5 unnested) of the group at ``path``, read from its metadata file; None
    when it has none."""
    for name in (".zattrs", "zarr.json"):
        try:
            meta = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        attrs = meta.get("attributes", meta) if name == "zarr.json" and isinstance(meta, dict) else meta
        if isinstance(attrs, dict):
            return {**attrs, **attrs["ome"]} if isinstance(attrs.get("ome"), dict) else attrs
    return None


def _dataset_paths(attrs: dict[str, Any] | None) -> list[str]:
    """The array paths of the first ``multiscales`` entry (level 0 first)."""
    ms = (attrs or {}).get("multiscales")
    first = ms[0] if isinstance(ms, list) and ms and isinstance(ms[0], dict) else {}
    return [str(d.get("path", "")).strip("/") for d in first.get("datasets") or [] if isinstance(d, dict)]


def _level_of(path: Path) -> tuple[Path, int] | None:
    """For the array of one level of a multiscale image (``image.zarr/1``, ``image.zarr/labels/cells/0``): the
    image's folder and the level; else None."""
    for image in list(path.absolute().parents)[:8]:
        paths = _dataset_paths(_image_attrs(image))
        rel = path.absolute().relative_to(image).as_posix()
        if rel in paths:
            return image, paths.index(rel)
    return None


def _is_zarr_store(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in _ZARR_METADATA)


def _ngff_kind(path: Path) -> str | None:
    """What ``path`` holds: ``"image"`` (a multiscale image; NGFF 0.4 ``.zattrs`` or 0.5 ``zarr.json``),
    ``"container"`` (an HCS plate or well, a bioformats2raw container of series) or ``None``."""
    for name in (".zattrs", "zarr.json"):
        try:
            meta = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        attrs = meta.get("attributes", meta) if name == "zarr.json" else meta
        if not isinstance(attrs, dict):
            continue
        keys = set(attrs) | set(attrs.get("ome") or {})
        if "multiscales" in keys:
            return "image"
        if keys & {"plate", "well", "bioformats2raw.layout"}:
            return "container"
    return None


def _plain_path(text: str) -> bool:
    """Whether ``text``, a path of NGFF plate or well metadata (``A/1``, ``0``), names a folder inside its group."""
    parts = text.split("/")
    return all(part and part not in (".", "..") and "\\" not in part for part in parts)


def _hcs_fields(path: Path) -> tuple[str, list[str], list[str], list[str]] | None:
    """The fields of an HCS plate (``plate.zarr``) or of one of its wells (``plate.zarr/A/1``), from the NGFF
    ``plate`` metadata (``wells``, each with a ``path``, ``row/column``) and each well's ``well`` metadata
    (``images``, each with a ``path``), as NGFF 0.4 and 0.5 write them; None for any other folder.

    Returns ``(kind, fields, absent, empty)``: ``"plate"`` or ``"well"``; the paths (relative to ``path``,
    ``A/1/0`` of a plate, ``0`` of a well) of the fields listed and on disk, in the metadata's order; those listed
    but not on disk (a well listed but not on disk: its path, ``A/3``); the wells whose metadata lists no field
    (``A/3``; of a well given itself, ``.``)."""
    attrs = _image_attrs(path)
    if not isinstance(attrs, dict) or attrs.get("multiscales"):
        return None
    if isinstance(attrs.get("plate"), dict):
        kind, wells = "plate", [w for w in _names(attrs["plate"].get("wells"), "path") if _plain_path(w)]
    elif isinstance(attrs.get("well"), dict):
        kind, wells = "well", ["."]
    else:
        return None
    fields: list[str] = []
    absent: list[str] = []
    empty: list[str] = []
    for well in wells:
        folder = path / well
        well_attrs = (attrs if well == "." else _image_attrs(folder)) or {}
        if not folder.is_dir():
            absent.append(well)
            continue
        listed = [f for f in _names((well_attrs.get("well") or {}).get("images"), "path") if _plain_path(f)]
        if not listed:
            empty.append(well)
        for field in listed:
            rel = field if well == "." else f"{well}/{field}"
            (fields if (folder / field).is_dir() else absent).append(rel)
    return kind, fields, absent, empty


def _plate_field(path: Path) -> tuple[Path, str] | None:
    """For a field of an HCS plate (``plate.zarr/A/1/0``: an image whose folder's parent has NGFF ``well`` metadata
    and lies two folders below a group with ``plate`` metadata, the NGFF layout plate/row/column/field): the plate's
    folder and the field's path in it (``A/1/0``); None for any other path."""
    field = Path(os.path.abspath(path))
    well = field.parent
    plate = well.parent.parent
    if plate == well.parent or not isinstance((_image_attrs(well) or {}).get("well"), dict):
        return None
    if not isinstance((_image_attrs(plate) or {}).get("plate"), dict):
        return None
    return plate, field.relative_to(plate).as_posix()
