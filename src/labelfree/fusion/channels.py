"""Image channels as Fusion sees them: one-channel images, and matching channels to zoo models by name.

Zoo models are filed under the names of the channels they were trained on, and a channel of
an image gets a model by its name. Names come from the file (ImageJ slice labels or its
``channel_names`` property, OME-TIFF ``Channel Name``); a file without names has ``C0``,
``C1``, ... . A YX (or TYX) image is one channel: readers drop a C axis of length one, so
:func:`with_channel_axis` puts it back under the name the file gives it, else ``C0``.
"""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from labelfree._axes import z_stacks_note
from labelfree._pil import is_pil_image
from labelfree.image import looks_channel_last, short_list, to_dataarray, validate_image

__all__ = ["with_channel_axis", "file_channel_name", "unmatched_channels_message", "other_kind_hint",
           "SEGMENT_COMMAND", "EVAL_COMMAND"]

log = logging.getLogger(__name__)

#: the command a message's example runs: a segmentation (the default), or ``labelfree fusion eval``
#: (:func:`labelfree.fusion.tasks.compare_fusions`), which takes label images and has no Fiji dialog
SEGMENT_COMMAND = "labelfree fusion IMAGE -o OUT"
EVAL_COMMAND = "labelfree fusion eval IMAGES --labels LABELS"

_TIFF_SUFFIXES = (".tif", ".tiff", ".btf")

#: the names of channel-last colour channels, as the readers name a colour file's (labelfree.io)
_COLOUR_NAMES = ("R", "G", "B", "A")


def _words(names: Sequence[str], sep: str, /, *, limit: int = 8) -> str:
    """Names joined for a command line (quoted for the shell); when more than ``limit``, the first few,
    ``...`` and the last, with how many in all (such a command is a pattern to follow, not to paste)."""
    quoted = [shlex.quote(str(n)) for n in names]
    if len(quoted) <= limit:
        return sep.join(quoted)
    return f"{sep.join(quoted[: limit - 2])}{sep}...{sep}{quoted[-1]} ({len(quoted)} names)"


def _channel_last_dims(image: Any) -> str | None:
    """"YXC" or "TYXC" for a plain array with colour channels last (skimage.io.imread, PIL: a last axis of
    3 or 4, :func:`labelfree.image.looks_channel_last`), else None. Read as (C, Y, X) such an array would be
    hundreds of channels of planes 3 or 4 pixels wide."""
    shape = tuple(np.shape(image))
    if looks_channel_last(shape, channels=(3, 4)):
        return "YXC" if len(shape) == 3 else "TYXC"
    return None


def file_channel_name(source: Any, /, *, series: int | None = None) -> str | None:
    """The name a one-channel TIFF gives its channel, or None.

    ImageJ: the ``channel_names`` property, else the slice label when every plane has the
    same one (a time-lapse's per-frame labels name frames, not the channel). OME-TIFF: the
    ``Name`` of its only ``Channel``, in the image series ``series`` (the index
    :func:`labelfree.io.read_image` was given, ``attrs["series"]``), else in the series it reads
    by default. Only the file's metadata is read.
    """
    import tifffile

    from labelfree.io.tiff import _is, _ome_pixels, _series_choice

    path = Path(str(source)) if source else None
    if path is None or not path.name.lower().endswith(_TIFF_SUFFIXES) or not path.is_file():
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            if tif.is_imagej:
                meta = tif.imagej_metadata or {}
                props = meta.get("Properties")
                if isinstance(props, dict) and props.get("channel_names"):
                    names = [n.strip() for n in str(props["channel_names"]).split(",")]
                    return names[0] if len(names) == 1 and names[0] else None
                labels = meta.get("Labels")
                labels = [labels] if isinstance(labels, str) else list(labels or [])
                firsts = {str(lbl).split("\n")[0].strip() for lbl in labels}
                return firsts.pop() if len(firsts) == 1 and "" not in firsts else None
            if tif.is_ome:
                index = _series_choice(tif) if series is None else int(series)
                pixels = _ome_pixels(tif, index)  # the read image's, not every image's
                channels = [ch for ch in (pixels if pixels is not None else ()) if _is(ch, "Channel")]
                names = [str(ch.get("Name") or "") for ch in channels]
                return (names[0].strip() or None) if len(names) == 1 else None
    except Exception as exc:  # noqa: BLE001 - a name is a nicety; the image itself was read already
        log.debug("no channel name read from %s: %s", path, exc)
    return None


def with_channel_axis(image: Any, /) -> xr.DataArray:
    """The image with dims (C, Y, X) or (T, C, Y, X); a YX or TYX image becomes one channel.

    Parameters
    ----------
    image : DataArray with dims from T, C, Y, X, or an array: 2-D is (Y, X), 3-D (C, Y, X), 4-D (T, C, Y, X),
        except a colour array with its channels last, (Y, X, C) or (T, Y, X, C) with C of 3 or 4 and Y
        and X of at least 16 pixels (as skimage.io.imread and PIL give them): its channels are named R, G,
        B (and A), as the readers name a colour file's.

    Returns
    -------
    DataArray with a C axis. A one-channel image's channel keeps the name of a scalar
    ``C`` coordinate (a channel picked with ``isel(C=k)``), else is named as its file
    (``attrs["source"]``) names it (:func:`file_channel_name`), else ``C0``.
    """
    if is_pil_image(image):  # Image.open("cells.png"): as labelfree.io.read_image reads the file (R, G, B, A)
        image = to_dataarray(image)
    dims = None if hasattr(image, "dims") else {2: "YX", 3: "CYX", 4: "TCYX"}.get(np.ndim(image))
    colour = None if hasattr(image, "dims") else _channel_last_dims(image)
    if colour:
        names = list(_COLOUR_NAMES[: np.shape(image)[-1]])
        log.info("fusion: the %s array is read as colour channels last (%s), channels %s; to read it otherwise "
                 "give labelfree.to_dataarray(array, dims=...)", tuple(np.shape(image)), colour, ", ".join(names))
        image, dims = to_dataarray(image, dims=colour, channel_names=names), None
    da = validate_image(image, required=("Y", "X"), allowed=("T", "C", "Y", "X"), name="Fusion input", dims=dims,
                        no_dims_note=z_stacks_note, non_finite="fill")
    if "C" in da.dims:
        return da
    coords = getattr(image, "coords", {})
    kept = str(coords["C"].values) if "C" in coords and coords["C"].ndim == 0 else None  # da.isel(C=k)
    name = kept or file_channel_name(da.attrs.get("source"), series=da.attrs.get("series")) or "C0"
    log.info("fusion: a one-channel image; its channel is %r", name)
    out = da.expand_dims(C=1, axis=da.dims.index("Y"))
    return to_dataarray(out, channel_names=[name])


def other_kind_hint(entries: Sequence[dict], missing: Sequence[str], /, *, root: Any, object: str,
                    cell_line: str, command: str = SEGMENT_COMMAND) -> str:
    """How to use the zoo's models of another object or cell line that are named for the ``missing`` channels
    (the names match, the run asks for another kind of model); an empty text when there are none. ``command``:
    the command the example runs (``labelfree fusion select IMAGES --labels LABELS`` has no Fiji dialog)."""
    groups: dict[tuple, set[str]] = {}  # the settings that select an entry -> the missing channels they serve
    for e in entries:
        wanted = [("object", e["object"])] if e["object"] != object else []
        if cell_line and e["cell_line"] != cell_line:
            wanted.append(("cell_line", e["cell_line"]))
        if wanted:
            groups.setdefault(tuple(wanted), set()).update(c for c in missing if c in e["channels"])
    if not any(groups.values()):
        return ""
    changes, chosen = max(groups.items(), key=lambda kv: len(kv[1]))  # the first of the most served
    served = [c for c in missing if c in chosen]
    what = dict(changes)
    kind = (f"{what.get('object', object)} model{'s' if len(served) > 1 else ''}"
            + (f" of the cell line {what['cell_line']!r}" if "cell_line" in what else ""))
    flags = " ".join(f"--{k.replace('_', '-')} {shlex.quote(v)}" for k, v in changes)
    sets = " ".join(f"--set {k}={shlex.quote(v)}" for k, v in changes)
    keys = " and ".join(k for k, _ in changes)
    python = ", ".join(f"{k}={v!r}" for k, v in changes)
    them = "them" if len(served) > 1 else "it"
    where = "a config file's or the Fiji dialog's" if command == SEGMENT_COMMAND else "a config file's"
    return (f"It holds {kind} for {short_list(served)}: to use {them}, run with {flags} "
            f"(`{command} --zoo {shlex.quote(str(root))} {flags}`; the same as "
            f"{sets}; {where} {keys}; Python: FusionConfig({python})). ")


def unmatched_channels_message(zoo: Any, missing: Sequence[str], /, *, image_channels: Sequence[str],
                               object: str, cell_line: str = "", command: str = SEGMENT_COMMAND) -> str:
    """Why no zoo model serves ``missing`` (channels of the image), and how to make names match; ``command``:
    the command whose options the advice names (:data:`SEGMENT_COMMAND` or :data:`EVAL_COMMAND`)."""
    entries = zoo.entries()
    usable = [e for e in entries if e["object"] == object and (not cell_line or e["cell_line"] == cell_line)]
    known = list(dict.fromkeys(c for e in usable for c in e["channels"]))
    kind = f"{object} model{' for cell line ' + repr(cell_line) if cell_line else ''}"
    have = [f"{e['id']} ({e['object']}, {e['cell_line'] or '-'}, {'+'.join(e['channels'])})" for e in entries]
    image_channels = [str(c) for c in image_channels]
    unnamed = all(re.fullmatch(r"C\d+", c) for c in image_channels)
    held = ", ".join(have[:8]) + (f", ... ({len(have)} models in all)" if len(have) > 8 else "")
    text = (f"The zoo {zoo.root} has no {kind} for the image's channel(s) {short_list(missing)}. Models are matched "
            f"to channels by name: the image has {short_list(image_channels)}"
            f"{' (default names: the file names none)' if unnamed else ''}, the zoo's {object} models were trained on "
            f"{short_list(known) if known else 'none'} (it holds: {held or 'nothing'}). ")
    other = other_kind_hint(entries, missing, root=zoo.root, object=object, cell_line=cell_line, command=command)
    if not known:
        train = f"a {object} model with `labelfree fusion train ... --object {object} --zoo {zoo.root}`."
        return text + (f"{other}Or train {train}" if other else f"Train {train}")
    wanted = list(missing) if len(missing) > 1 or len(image_channels) == 1 else image_channels
    refile = max(usable, key=lambda e: len(e["channels"]))
    if len(refile["channels"]) == len(wanted) or len(wanted) == 1:
        line = f" --cell-line {shlex.quote(refile['cell_line'])}" if refile["cell_line"] else ""
        example = (f"labelfree zoo add {shlex.quote(str(zoo.root))} {shlex.quote(str(zoo.path_of(refile)))} "
                   f"--object {object}{line} --channels {_words(wanted, ' ')}")
    else:
        example = f"labelfree zoo add ZOO WEIGHTS --object {object} --channels {_words(wanted, ' ')}"
    served = [c for c in image_channels if c in known]
    # the zoo's names replace the image's only when none of the image's names is a model's already: renaming
    # channels that match (e.g. DAPI,GFP to GFP,Cy5) would hand each channel another channel's model
    names = known if len(known) == len(image_channels) and not served \
        else [f"NAME{i}" for i in range(len(image_channels))]
    subset = ""
    if served:
        how = (f"{command} --channels {_words(served, ' ')}" if command != SEGMENT_COMMAND else
               f"labelfree fusion --channel {_words(served, ',')}; fusion eval|select --channels {_words(served, ' ')}")
        subset = (f"To use only the channels that have a model: {short_list(served)} ({how}"
                  f"; Python: channels={served!r}). " if len(served) <= 8 else
                  f"{len(served)} of the image's channels have a model: {short_list(served)}. ")
    return text + other + subset + (
        f"To match them, name the image's channels as the models' (command line and batch: --channel-names "
        f"{_words(names, ',')}, one name per channel in order; ImageJ/Fiji: slice labels; OME-TIFF: Channel Name; "
        "Python: read_image(path, channel_names=[...]), or for an array in memory labelfree.to_dataarray(array, "
        "dims='CYX', channel_names=[...]), dims='YXC' for colour last), or file a model under the image's names: "
        f"`{example}` (a model trained on several channels serves each of them), or train one with "
        "`labelfree fusion train`."
    )
