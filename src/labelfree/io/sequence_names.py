"""Which numbers in the names of a folder's frame files are the time point and the z plane.

A folder of one file per time point names each file by one number (``t005.tif``). Microscopes that save one
file per plane name each by two: the time point and the z plane (Micro-Manager's
``img_channel000_position000_time000000005_z011.tif``, Micro-Manager 1.4's ``img_000000005_DAPI_011.tif``:
time, channel name, z; ``t005_z011.tif``, ``T0005_Z011.tif``, ``cells_t5_z11.tif``). A number after ``z`` is
the z plane; the other number that varies is the time point. Such a folder is read as T, Z, Y, X (Z, Y, X when
only the z plane varies). Numbers after a channel or position token (``channel000``, ``_w1``, ``_c1``,
``position001``, ``_s2``) are no axis of one image: a folder whose files differ in them is refused, with advice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from labelfree.errors import InputError

__all__ = ["FrameGrid", "frame_grid"]

NUMBER = re.compile(r"\d+")
#: the text before a number that names a channel: ``_w1``, ``_c0``, ``_ch1``, ``_channel000`` (HCS and
#: Micro-Manager exports), ``C1-`` at the start of a name (Fiji's Image > Color > Split Channels)
CHANNEL_TOKEN = re.compile(r"(?:^|[_\-. ])(?:w|c|ch|channel|wavelength)$", re.IGNORECASE)
#: the text before a number that names a time point (``t005``, ``_T0005``, ``_time000000005``, ``_tp3``)
_TIME_TOKEN = re.compile(r"(?:^|[_\-. ])(?:t|tp|time)$", re.IGNORECASE)
#: the text before a number that names a z plane (``_z011``, ``_Z011``)
_Z_TOKEN = re.compile(r"(?:^|[_\-. ])z$", re.IGNORECASE)
#: the text before a number that names a stage position or field (``_position001``, ``_pos1``, ``_s2``, ``_f00``)
_POSITION_TOKEN = re.compile(r"(?:^|[_\-. ])(?:position|pos|p|s|site|f|field|fov|xy)$", re.IGNORECASE)
#: Micro-Manager 1.4's names: ``img_<time>_<channel name>_<z>.tif``
_MM1_NAME = re.compile(r"^img_\d+_.+_\d+\.[a-z]+$", re.IGNORECASE)


@dataclass(frozen=True)
class FrameGrid:
    """The frame files of a folder in reading order: ``axes`` ``"T"`` (one file per time point), ``"Z"`` (one
    file per z plane) or ``"TZ"`` (z planes fastest), of sizes ``shape``."""

    names: tuple[str, ...]
    axes: str
    shape: tuple[int, ...]


def _role(pieces: Sequence[str], index: int, mm1: bool) -> str | None:
    """What the ``index``-th number of a name names, by the text before it: ``"T"``, ``"Z"``, ``"channel"``,
    ``"position"`` or None (not known)."""
    before = pieces[index]
    if _Z_TOKEN.search(before):
        return "Z"
    if _TIME_TOKEN.search(before):
        return "T"
    if CHANNEL_TOKEN.search(before):
        return "channel"
    if _POSITION_TOKEN.search(before):
        return "position"
    if mm1:  # img_<time>_<channel name>_<z>: the first number and the last one
        return "T" if index == 0 else "Z" if index == len(pieces) - 2 else None
    return None


def frame_grid(folder: Path, names: Sequence[str], /) -> FrameGrid:
    """The time points and z planes of the frame files ``names`` of ``folder`` (one name pattern, natural order).

    Raises
    ------
    InputError
        Names that differ in more numbers than a time point and a z plane (channels, positions); a time point and
        z plane named twice, or missing (the first missing one is named).
    """
    if len(names) < 2:
        return FrameGrid(tuple(names), "T", (len(names),))
    pieces = NUMBER.split(names[0])
    digits = [NUMBER.findall(name) for name in names]
    varying = [i for i in range(len(digits[0])) if len({int(row[i]) for row in digits}) > 1]
    mm1 = _MM1_NAME.match(names[0]) is not None
    roles = {i: _role(pieces, i, mm1) for i in varying}
    z_at = [i for i in varying if roles[i] == "Z"]
    others = [i for i in varying if roles[i] != "Z"]
    if len(z_at) == 1 and not others:
        return _grid(folder, names, digits, pieces, None, z_at[0])
    if len(z_at) == 1 and len(others) == 1 and roles[others[0]] in ("T", None):
        return _grid(folder, names, digits, pieces, others[0], z_at[0])
    if len(varying) <= 1:
        return FrameGrid(tuple(names), "T", (len(names),))
    raise InputError(_several_numbers(folder, names, digits, pieces, varying, roles))


def _several_numbers(folder: Path, names: Sequence[str], digits: Sequence[Sequence[str]], pieces: Sequence[str],
                     varying: Sequence[int], roles: dict[int, str | None]) -> str:
    fields = ", ".join(f"after {pieces[i]!r}: {min(int(r[i]) for r in digits)} to {max(int(r[i]) for r in digits)}"
                       for i in varying)
    others = sorted({str(roles[i]) + "s" for i in varying if roles[i] in ("channel", "position")})
    what = (f"they are several {' and '.join(others)}" if others else
            "they are several channels, positions or z planes") + ", not the time points and z planes of one image"
    axes = [i for i in varying if roles[i] in ("T", "Z")]
    if others and axes:  # the files of the first channel and position: their T and Z numbers as *
        stars = list(digits[0])
        for i in axes:
            stars[i] = "*"
        like = "".join(p + (stars[k] if k < len(stars) else "") for k, p in enumerate(pieces))
        move = f"Move the files of one position and channel (like {like}) into a folder of their own"
    else:
        move = "Move the files of one position and channel into a folder of their own"
    # files of z planes are no images of their own: segmenting each (labelfree batch FOLDER) is no advice for them
    each = "" if any(roles[i] == "Z" for i in varying) else (
        f" To segment each image file of the folder on its own, run labelfree batch {folder} --pipeline NAME -o OUT.")
    return (f"The names of the {len(names)} image files in {folder} differ in {len(varying)} numbers ({fields}): "
            f"{what}. A folder is read as one image whose file names differ in the time point (t005; "
            "Micro-Manager's _time000000005) and, for a z-stack at each time point, in the z plane after a 'z' "
            f"(t005_z011; _time000000005_z011). {move}, and give that folder (or a folder of such folders to "
            "labelfree batch, each one input); or open the folder in Fiji (File > Import > Image Sequence or "
            f"Bio-Formats) and save a hyperstack with File > Save As > Tiff.{each}")


def _name_at(pieces: Sequence[str], digits: Sequence[str], values: dict[int, int]) -> str:
    """The name of pattern ``pieces`` with the numbers ``digits``, those at the indices of ``values`` replaced
    (as wide as they were written)."""
    out = []
    for k, piece in enumerate(pieces):
        out.append(piece)
        if k < len(digits):
            out.append(str(values[k]).zfill(len(digits[k])) if k in values else digits[k])
    return "".join(out)


def _grid(folder: Path, names: Sequence[str], digits: Sequence[Sequence[str]], pieces: Sequence[str],
          t_at: int | None, z_at: int) -> FrameGrid:
    """The files ``names`` ordered by time point (the number at ``t_at``; None: one time point) and z plane (at
    ``z_at``); an InputError for a time point and z plane named twice or missing."""
    at: dict[tuple[int, int], str] = {}
    for name, row in zip(names, digits):
        key = (0 if t_at is None else int(row[t_at]), int(row[z_at]))
        if key in at:
            where = f"z plane {key[1]}" if t_at is None else f"time point {key[0]}, z plane {key[1]}"
            raise InputError(f"{at[key]} and {name} in {folder} are both {where} (their numbers are equal): a folder "
                             "of z planes holds one file per plane. Move one of them out of the folder.")
        at[key] = name
    ts = range(min(k[0] for k in at), max(k[0] for k in at) + 1)
    zs = range(min(k[1] for k in at), max(k[1] for k in at) + 1)
    missing = [(t, z) for t in ts for z in zs if (t, z) not in at]
    if missing:
        t, z = missing[0]
        first = _name_at(pieces, digits[0], {z_at: z} if t_at is None else {t_at: t, z_at: z})
        if t_at is None:
            held = f"z planes {zs[0]} to {zs[-1]}"
            which = f"z plane {z} ({first})"
        else:
            held = f"time points {ts[0]} to {ts[-1]} and z planes {zs[0]} to {zs[-1]}"
            which = f"time point {t}, z plane {z} ({first})"
        verb = "is" if len(missing) == 1 else "are"
        raise InputError(
            f"The {len(names)} image files in {folder} are the planes of {held} by their names, but {len(missing)} of "
            f"the {len(ts) * len(zs)} {verb} missing; the first: {which}. Every time point needs every z plane. Copy "
            "the missing files into the folder, or move the incomplete time points (an acquisition stopped early: its "
            "last one) out of it.")
    ordered = tuple(at[key] for key in sorted(at))
    if t_at is None:
        return FrameGrid(ordered, "Z", (len(zs),))
    return FrameGrid(ordered, "TZ", (len(ts), len(zs)))
