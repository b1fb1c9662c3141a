"""Messages said in ImageJ terms: the Python and command-line advice of LabelFree's errors and
warnings (``numpy.nan_to_num``, ``markers=``, ``--zoo``, ``--set KEY=VALUE``, ``(Python: ...)``,
``ThresholdConfig.min_size``, 0-based numbers) as an ImageJ user finds it (menus, macro keys, planes
and frames counted from 1). Used for the errors of the commands and for the warnings written to the Log."""

from __future__ import annotations

import re

__all__ = ["in_imagej_terms", "warning_line", "note_line", "at_image_positions"]


def _from_one(match: re.Match, one: str, many: str, where: str) -> str:
    numbers = [int(k) + 1 for k in re.findall(r"\d+", match.group(1))]
    return f"{one if len(numbers) == 1 else many} {', '.join(map(str, numbers))} ({where}, counted from 1)"


def _frames_from_one(match: re.Match) -> str:
    """``frames [0, 2] (0-based)`` -> the frames as ImageJ counts them."""
    return _from_one(match, "frame", "frames", "the stack's frames")


def _listed_frames_from_one(match: re.Match) -> str:
    """``frames (0, 3, ...; 0-based)`` (Cutter's frames without a marker on the foreground) -> as ImageJ counts."""
    numbers = ", ".join(str(int(k) + 1) for k in re.findall(r"\d+", match.group(1)))
    return f"frames ({numbers}{match.group(2) or ''}; counted from 1)"


def _stack_planes_from_one(match: re.Match) -> str:
    """``plane 2 (0-based)`` (Threshold's planes of a stack) -> the plane as ImageJ counts it."""
    return _from_one(match, "plane", "planes", "the stack's planes")


def _overlap_as_fraction(match: re.Match) -> str:
    """Stitch's ``overlap`` out of [0, 1): a percent (Fiji's Grid/Collection stitching takes one) is said as
    the fraction it stands for."""
    given = float(match.group(1))
    if 1 <= given < 100:
        return (f"overlap is a fraction in [0, 1): {given:g} % is overlap={given / 100:g} (Fiji's Grid/Collection "
                f"stitching takes percent; LabelFree Stitch takes the fraction); got {given:g}.")
    return f"overlap must be a fraction in [0, 1); got {given:g}."


#: the axes of an image as ImageJ names them, in ImageJ's order (Image > Properties: channels, slices, frames)
_AXIS_WORDS = {"C": "channel", "Z": "slice", "T": "frame"}


def _counted(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _listed(words: list[str], last: str = "and") -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _dims_in_words(match: re.Match) -> str:
    """An image's dims and shape with what a function takes (``tile 0 has dims ZYX (shape (6, 40, 40)): unexpected
    Z. Expected dims containing YX drawn from CYX.``) said as ImageJ counts an image: its channels, slices and
    frames, its width x height in pixels, and which of them the command takes."""
    dims = match.group("dims")
    sizes = dict(zip(dims, (int(k) for k in re.findall(r"\d+", match.group("shape")))))
    counts = [_counted(sizes[d], _AXIS_WORDS[d]) for d in "CZT" if d in sizes]
    plane = f"{sizes.get('X', '?')}x{sizes.get('Y', '?')} pixels"
    shape = f"{' x '.join(counts)} of {plane}" if counts else plane
    takes = [_AXIS_WORDS[d] + "s" for d in "CZT" if d in match.group("allowed")]
    said = f"{match.group('name')} has {shape}: the command takes " + (
        f"2-D planes with {_listed(takes)}" if takes else "one 2-D plane")
    refused = [_AXIS_WORDS[d] + "s" for d in "CZT" if d in (match.group("unexpected") or "")]
    if refused:
        said += f", not {_listed(refused, 'or')}"
    missing = [_AXIS_WORDS[d] + "s" for d in "CZT" if d in (match.group("missing") or "")]
    if missing:
        said += f", and needs {_listed(missing)}"
    return said + "."


#: an advice for Python or the command line inside parentheses: "Python: ...", "CLI --flag", "API ...",
#: "labelfree.module...", "the commands ...: --flag", or one naming a --flag
_NOT_IMAGEJ = re.compile(r"^(?:Python\b|CLI\b|API\b|command line\b|labelfree[. ]|the commands? [^:]*:)|(?:^|\s)--[a-z]")
#: how an ImageJ way is introduced among the others ("Fiji: Image > ..."): the prefix goes
_IMAGEJ_WAY = re.compile(r"^(?:in )?(?:Fiji|ImageJ|ImageJ/Fiji): ")


def _split_top(text: str, sep: str = ";") -> list[str]:
    """``text`` split at ``sep`` outside parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for k, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if char == sep and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    return [*parts, text[start:]]


def _only_imagej_ways(match: re.Match) -> str:
    """A parenthesised list of ways (``(Python: ...; Fiji: ...; CLI --x)``) with the Python and
    command-line ones left out; gone altogether when no ImageJ way is left."""
    inner = match.group(2)
    parts = [part.strip() for part in _split_top(inner)]
    kept = [_IMAGEJ_WAY.sub("", part) for part in parts if not _NOT_IMAGEJ.search(part)]
    if len(kept) == len(parts):  # nothing for Python here: its own parentheses may hold some
        return f"{match.group(1)}({_PARENTHESES.sub(_only_imagej_ways, inner)})"
    return f"{match.group(1)}({'; '.join(kept)})" if kept else ""


#: a parenthesised text (two levels of parentheses inside it at most) and the space before it
_PARENTHESES = re.compile(r"(\s?)\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)")


#: advice written for Python (and the command line), said the way an ImageJ user does it
_IMAGEJ_TERMS = (
    # an image's dims and shape (labelfree.image.validate_image): its channels, slices and frames, as ImageJ counts
    (re.compile(r"(?P<name>\S[^.;:]*?) has dims (?P<dims>[TCZYX]+) \(shape \((?P<shape>[0-9, ]+)\)\): "
                r"(?:missing (?P<missing>[TCZYX, ]+))?(?:; )?(?:unexpected (?P<unexpected>[TCZYX, ]+))?\. "
                r"Expected dims containing [TCZYX]+ drawn from (?P<allowed>[TCZYX]+)\."), _dims_in_words),
    (re.compile(r"replace them \((?:e\.g\. )?numpy\.nan_to_num\) first\."),
     "replace them first (Process > Math > Remove NaNs..., or select them and Edit > Fill)."),
    # the markers key takes detect or roi_manager only: the command line's files reach it through the ROI Manager
    (re.compile(r"give markers= \(points or a nucleus label image\)"),
     "give markers (markers=roi_manager with point selections or nucleus outlines in the ROI Manager; File > Open "
     "puts a ROI zip file's ROIs there)"),
    # Motion's blank frames, more than it names: "frames [0, 1, ..., 19] ... (0-based)"
    (re.compile(r"frames \[([0-9, ]*)\] \.\.\. \(0-based\)"),
     lambda m: _frames_from_one(m).replace(" (the stack's", ", ... (the stack's", 1)),
    # drift, Motion's blank frames, Cutter's frames without a marker on the foreground: frames as ImageJ counts them
    (re.compile(r"frames \[([0-9, ]*)\] \(0-based\)"), _frames_from_one),
    (re.compile(r"frames \(([0-9, ]+?)(, \.\.\.)?; 0-based\)"), _listed_frames_from_one),
    # Threshold's volumes of a hyperstack are its frames
    (re.compile(r"in volume (\d+) \(0-based\)"),
     lambda m: f"in volume {int(m.group(1)) + 1} (the stack's frames, counted from 1)"),
    (re.compile(r"frame (\d+) \(0-based\)"), _frames_from_one),
    # Cutter's markers on the background: (t=0-based frame, y=, x=) -> the frame as ImageJ counts it
    (re.compile(r"\(t=(\d+), y="), lambda m: f"(frame {int(m.group(1)) + 1}, y="),
    (re.compile(r" \(t: the 0-based frame\)"), " (frames counted from 1)"),
    (re.compile(r"the tile order \(order= / --order\), the overlap \(overlap= / --overlap\) and the grid size "
                r"\(--grid\)"),
     "the tile order (order=), the overlap (overlap=) and the grid size (rows= and cols=)"),
    # a grid that cannot be found from the tiles (labelfree.registration.tiles.find_grid): the keys that give it
    (re.compile(r"give the grid: stitch\(tiles, \(rows, cols\)\) \(and the order: config=\{'order': \.\.\.\}\)"),
     "give the grid with rows= and cols= (and the order with order=)"),
    (re.compile(r"give each tile's position: stitch\(tiles, yx\) \(yx: (?:[^()]|\([^()]*\))*\)"),
     "give each tile's position in a TileConfiguration.txt (Plugins > Stitching > Grid/Collection stitching, "
     "Type: Positions from file)"),
    # a found grid with a tile likely missing (LabelFree Stitch has no layout key): Fiji's stitching takes positions
    (re.compile(r"give each tile's position \(layout / TileConfiguration\.txt\)"),
     "give each tile's position in a TileConfiguration.txt (Plugins > Stitching > Grid/Collection stitching, "
     "Type: Positions from file)"),
    (re.compile(r", counted from 1 in the order given,"), ", the stack's planes counted from 1,"),
    # LabelFree Stitch's tiles without a link and groups of tiles (counted from 1): the tiles are the stack's planes
    (re.compile(r"\(tiles counted from 1 in the order given\)"), "(tiles: the stack's planes, counted from 1)"),
    # LabelFree Fusion without a model zoo: the macro key first; zoos are made on the command line
    (re.compile(r"give its folder with --zoo FOLDER \(Fiji: [^;]*; macros: zoo=\[FOLDER\]; "
                r"Python: (?:[^()]|\([^()]*\))*\)"),
     "give its folder with zoo=[FOLDER] (in the dialog: the zoo field)"),
    (re.compile(r"--model-file FILE for every channel, or CHANNEL=FILE pairs \(Fiji: [^;]*; "
                r"macros: model_file=\[FILE\]; Python: (?:[^()]|\([^()]*\))*\)"),
     "model_file=[FILE] for every channel, or CHANNEL=FILE pairs (model_file=[GFP=gfp.pt,Cy5=cy5.pt]; in the "
     "dialog: tick advanced_options, then the model_file field on the inputs page)"),
    (re.compile(r"Make one with (`labelfree fusion train)"),
     r"Make one outside ImageJ, with LabelFree's command line in a terminal: \1"),
    (re.compile(r"Train one with `labelfree fusion train`\."),
     "Train one outside ImageJ, with LabelFree's command line in a terminal: `labelfree fusion train`."),
    # an earlier result in the output folder (or a saved model file): the command's overwrite key
    (re.compile(r"\(CLI --overwrite, API overwrite=True\)"),
     "(overwrite=true; in the dialog: tick advanced_options, then overwrite on the outputs page)"),
    # Threshold's planes of a stack, counted from 1 as ImageJ's stack slider counts them
    (re.compile(r"plane (\d+) \(0-based\)"), _stack_planes_from_one),
    (re.compile(r"Frame (\d+) of the movie \(0-based: the frame at position \d+\)"),
     lambda m: f"Frame {int(m.group(1)) + 1} of the movie (counted from 1)"),
    (re.compile(r"the markers are on frame\(s\) ([0-9, ]+)"),
     lambda m: "the markers are on frame(s) " + ", ".join(str(int(k) + 1) for k in re.findall(r"\d+", m.group(1)))
     + " (counted from 1)" + (" " if m.group(1).endswith(" ") else "")),
    (re.compile(r"give \(t, y, x\) points \(t the 0-based frame; in a markers CSV, a t column\)"),
     "add each frame's point selections with that frame shown (point selections whose position is their frame)"),
    # Stitch: Fiji's Grid/Collection stitching takes the overlap in percent, LabelFree Stitch as a fraction
    (re.compile(r"(?:StitchConfig\.)?overlap must be a finite number in \[0, 1\); got ([-+0-9.eE]+)\."),
     _overlap_as_fraction),
    # a config check names the option as its dataclass field (ThresholdConfig.min_size): the macro key
    (re.compile(r"\b[A-Z][A-Za-z]*Config\.([a-z_][a-z0-9_]*)\b"), r"\1"),
    # command-line options: --set KEY=VALUE is the macro key KEY=VALUE; as the way of giving a key's values ("(CLI
    # --set marker_method=threshold)", "('auto', 'blob'; CLI --set marker_method=NAME)") the macro key stays
    (re.compile(r"\(((?:'[^'()]*', )*'[^'()]*'; )?CLI --set ([a-z_][a-z0-9_]*=[^\s();]*)\)"), r"(\1\2)"),
    (re.compile(r"--set ([a-z_][a-z0-9_]*)="), r"\1="),
    # another pipeline named by its command-line command: its ImageJ command ("Motion (a time-lapse; labelfree
    # motion)" -> "LabelFree Motion (a time-lapse)")
    (re.compile(r"\b(Motion|Threshold|Cutter|Fusion|Drift|Stitch) \(((?:[^()]*?)(?:; )?)labelfree (motion|threshold|"
                r"cutter|fusion|drift|stitch)\)"),
     lambda m: (f"LabelFree {m.group(1)}" + (f" ({m.group(2).removesuffix('; ')})" if m.group(2) else ""))
     if m.group(1).lower() == m.group(3) else m.group(0)),
    # Motion's automatic size: a run's automatic settings are in the Log (its provenance only with output=)
    (re.compile(r"set ([a-z_][a-z0-9_]*): the '\1' in the provenance of a run on "),
     r"""set \1 (\1=N): the \1 that the Log's "automatic settings" line gives for a run on """),
    # a Z-stack given to a 2-D command: ImageJ's menus make the plane or the projection
    (re.compile(r"pick a plane \(Python: [^()]*(?:\([^()]*\))?\) or make a projection \(Python: [^;]*; Fiji: "
                r"[^()]*\) and save it as TIFF first\."),
     ("pick a plane (Image > Duplicate... with one slice) or make a projection (Image > Stacks > Z Project...), "
      "then run the command on that image.")),
    (re.compile(r"(?:read (?:the file|it) with (?:--dims TYX \(Python: dims='TYX'\)|dims='TYX' \(CLI --dims TYX; "
                r"Fiji: Image > Properties, Frames instead of Slices\)|--dims, naming that axis T instead of Z "
                r"\((?:Python: (?:[^()]|\([^()]*\))*; )?Fiji: Image > Properties, Frames instead of Slices\)))"),
     "set Image > Properties (Frames instead of Slices)"),
    (re.compile(r"read the file with --dims [A-Z]+ \(Python: dims='[A-Z]+'; Fiji: Image > Properties, Channels instead "
                r"of Slices\)"),
     "set Image > Properties (Channels instead of Slices)"),
    # one channel of several: the command's channel key, or ImageJ's own way
    (re.compile(r"\((?:labelfree\.image\.select_channel; CLI --channel|CLI --channel; Python "
                r"labelfree\.image\.select_channel)\)"),
     "(the channel key, or Image > Duplicate... with one channel)"),
    # channels given by name or number: ImageJ counts them from 1 (channel=1, cell_channels=1,2)
    (re.compile(r"\bnames or 0-based indices\b"), "names or numbers counted from 1"),
    # a Fiji plugin the running ImageJ lacks: start from Fiji; the backend as its macro key
    (re.compile(r"Start LabelFree with a Fiji installation \(labelfree\.imagej\.start\('/path/to/Fiji\.app'\) or "
                r"--fiji DIR\), or use backend='python'"),
     "Run the command in a Fiji that has it (or install the plugin into this ImageJ), or use backend=python"),
    # a model file: the macro key that saves one
    (re.compile(r"labelfree cutter IMAGE -o OUT --save-model-file MODEL\.pt \(Fiji/macro: (save_model_file=MODEL\.pt); "
                r"Python: [^()]*\([^()]*\)\)"),
     r"run LabelFree Cutter with \1"),
    # a pixel position, said (y=, x=) in the order of the array's axes: x first, as ImageJ shows a position
    (re.compile(r"\((frame \d+, )?y=(-?\d+(?:\.\d+)?), x=(-?\d+(?:\.\d+)?)\)"), r"(\1x=\3, y=\2)"),
    # any other advice for Python or the command line in parentheses: only the ImageJ ways stay
    (_PARENTHESES, _only_imagej_ways),
)


def in_imagej_terms(message: str, /) -> str:
    """``message`` with its Python and command-line advice (``numpy.nan_to_num``, ``markers=``,
    ``--zoo``, ``--grid``, 0-based tile and frame numbers) said in ImageJ's menus, macro keys and counting."""
    for pattern, said in _IMAGEJ_TERMS:
        message = pattern.sub(said, message)
    return message


def warning_line(title: str, message: str, /) -> str:
    """The line of ImageJ's Log that shows a warning of the command ``title`` (``"LabelFree Motion"``):
    ``"<title> warning: <message>"``, the command named once. A message that starts with the name of its
    pipeline or tool (``"Motion: ..."``, ``"drift: ..."``, ``"Cutter automatic scale: ..."``, as Python's
    warnings and the command line say it) is written without it.

    >>> warning_line("LabelFree Drift", "drift: a weak match (NCC < 0.2) at frame 4; check that shift.")
    'LabelFree Drift warning: a weak match (NCC < 0.2) at frame 4; check that shift.'
    >>> warning_line("LabelFree Cutter", "Cutter automatic scale: no cells found. Using the model's scale.")
    "LabelFree Cutter warning: automatic scale: no cells found. Using the model's scale."
    """
    return f"{title} warning: {_without_name(title, message)}"


def _without_name(title: str, message: str, /) -> str:
    """``message`` without the name of the pipeline or tool of the command ``title`` in front (``"Motion: "``)."""
    name = title.removeprefix("LabelFree ").strip()
    if name:
        message = re.sub(rf"^{re.escape(name)}(?:: +| (?=automatic scale: ))", "", message, count=1,
                         flags=re.IGNORECASE)
    return message


def note_line(title: str, image: str, message: str, /) -> str:
    """The line of ImageJ's Log that shows a note of the command ``title`` run on the image titled ``image``
    (``"LabelFree Motion on hela: touching cells split ... from frame 2 (the stack's frames, counted from 1) on;
    ..."``): said as the run's automatic settings are, in ImageJ's terms, the command named once.

    >>> note_line("LabelFree Motion", "hela", "Motion: frame 0 (0-based): its 81 objects")
    "LabelFree Motion on hela: frame 1 (the stack's frames, counted from 1): its 81 objects"
    """
    said = _without_name(title, in_imagej_terms(message))
    return f"{title} on {image}: {said}" if image else f"{title}: {said}"


#: a pixel position in a message, (y, x) as the pipelines say it or (x, y) as ImageJ's Log says it
#: (:func:`in_imagej_terms`), with its frame where it has one (in ImageJ's terms)
_POSITION = re.compile(r"\((frame \d+, )?(?:y=(-?\d+), x=(-?\d+)|x=(-?\d+), y=(-?\d+))\)")


def _moved(m: re.Match, x0: int, y0: int) -> str:
    frame = m.group(1) or ""
    if m.group(2) is not None:
        return f"({frame}y={int(m.group(2)) + y0}, x={int(m.group(3)) + x0})"
    return f"({frame}x={int(m.group(4)) + x0}, y={int(m.group(5)) + y0})"


def at_image_positions(message: str, origin: tuple[int, int], /) -> str:
    """``message`` with its pixel positions (``(y=171, x=460)``, ``(frame 2, y=..., x=...)``, or said x first as
    ImageJ's Log says them), which a command run inside a selection gives in the selection's box, as positions in
    the image: the box's ``origin`` (x, y), as ImageJ gives a selection's, added.

    >>> at_image_positions("at (y=171, x=460), (frame 2, y=5, x=0)", (40, 30))
    'at (y=201, x=500), (frame 2, y=35, x=40)'
    >>> at_image_positions("at (x=460, y=171)", (40, 30))
    'at (x=500, y=201)'
    """
    x0, y0 = origin
    if not (x0 or y0):
        return message
    return _POSITION.sub(lambda m: _moved(m, x0, y0), message)
